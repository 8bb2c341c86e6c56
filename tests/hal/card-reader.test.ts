/**
 * FramedCardReader against the virtual card reader, in-process over the in-memory serial pair.
 */
import assert from 'node:assert/strict';
import sinon from 'sinon';
import { crc16, encodeAck, encodeFrame } from '../../hal/drivers/card-reader-frame';
import { FramedCardReader, FramedCardReaderOptions } from '../../hal/drivers/card-reader';
import { PosError, isPosError } from '../../common/errors';
import { SerialPair, openSerialPair } from '../../sim/serial-pair';
import { TEST_CARDS } from '../../sim/test-cards';
import { VirtualCardReader } from '../../sim/virtual-card-reader';

interface Rig { pair: SerialPair; reader: FramedCardReader; sim: VirtualCardReader }

async function rig(options: FramedCardReaderOptions = {}): Promise<Rig> {
  const pair = await openSerialPair({ label: 'reader0' });
  const sim = new VirtualCardReader(pair.device);
  const reader = new FramedCardReader(pair.host, options);
  return { pair, reader, sim };
}

async function rejection(promise: Promise<unknown>): Promise<PosError> {
  try { await promise; } catch (error) { assert.ok(isPosError(error), String(error)); return error; }
  assert.fail('expected a rejection');
}

/** Minimal BER-TLV search (test-side, independent of the simulator's builder). */
function findTag(data: Buffer, tag: number): Buffer | undefined {
  let at = 0;
  while (at < data.length) {
    let t = data[at++];
    if ((t & 0x1f) === 0x1f) t = (t << 8) | data[at++];
    let len = data[at++];
    if (len === 0x81) len = data[at++];
    const value = data.subarray(at, at + len);
    if (t === tag) return value;
    if (t & (t > 0xff ? 0x2000 : 0x20)) { const inner = findTag(value, tag); if (inner) return inner; }
    at += len;
  }
  return undefined;
}

describe('FramedCardReader (hal/drivers/card-reader.ts) on the virtual reader', () => {
  let r: Rig;
  afterEach(async () => { await r?.reader.close().catch(() => undefined); });

  it('frameMatchesTheKnownAnswerInTheProtocolDocument', () => {
    assert.equal(crc16(Buffer.from('123456789')), 0x29b1);
    assert.equal(encodeFrame(0x01, 0x00).toString('hex'), '0200020100' + crc16(Buffer.from([0, 2, 1, 0])).toString(16).padStart(4, '0') + '03');
    assert.equal(encodeFrame(0x02, 0x05, Buffer.from([0x07])).toString('hex'), '0200030205076ba203');
  });

  it('selfTestReturnsFirmwareAndSources', async () => {
    r = await rig();
    assert.deepEqual(await r.reader.selfTest(), { firmware: 'VCR-1.0', sources: ['swipe', 'insert', 'tap'] });
  });

  it('swipedCardDeliversTrack2AndTrack3', async () => {
    r = await rig();
    const card = r.reader.waitForCard(['swipe'], 5000);
    await r.sim.detectionStarted();
    r.sim.swipe(TEST_CARDS.magDebit);
    assert.deepEqual(await card, { type: 'swiped', track2: TEST_CARDS.magDebit.track2, track3: TEST_CARDS.magDebit.track3 });
  });

  it('badSwipeIsReadFailedAndCounted', async () => {
    r = await rig();
    const card = r.reader.waitForCard(['swipe'], 5000);
    await r.sim.detectionStarted();
    r.sim.swipeBad();
    const event = await card;
    assert.equal(event.type, 'read-failed');
    assert.equal(event.type === 'read-failed' && event.error.kind, 'card-unreadable');
    assert.equal(r.reader.diagnostics().unreadableSwipes, 1);
  });

  it('insertedChipIsPoweredAndEmvRecordGivesTrack2PanExpiryAndPsn', async () => {
    r = await rig();
    const card = r.reader.waitForCard(['insert'], 5000);
    await r.sim.detectionStarted();
    r.sim.insert(TEST_CARDS.icDebit);
    const event = await card;
    assert.deepEqual(event, { type: 'inserted', atr: TEST_CARDS.icDebit.atr });
    const apdu = (hex: string) => r.reader.transmit('contact', Buffer.from(hex, 'hex'));
    const fci = await apdu('00A404000E325041592E5359532E444446303100');
    const aid = findTag(fci, 0x4f);
    assert.equal(aid?.toString('hex'), 'a000000333010101');
    assert.equal((await apdu(`00A4040008${aid?.toString('hex')}00`)).subarray(-2).toString('hex'), '9000');
    // The card model's PDOL (9F38) asks for 9F1A (2) and 9F37 (4): GPO carries 83 06 and them.
    assert.equal(findTag(await apdu(`00A4040008${aid?.toString('hex')}00`), 0x9f38)?.toString('hex'), '9f1a029f3704');
    assert.equal((await apdu('80A8000002830000')).subarray(-2).toString('hex'), '6700', 'GPO without the PDOL data is refused');
    const gpo = await apdu('80A80000088306' + '0156A1B2C3D4' + '00');
    assert.equal(findTag(gpo, 0x94)?.toString('hex'), '0801010110010300', 'AFL: SFI 1 record 1 (for ODA), SFI 2 records 1-3');
    const record = await apdu('00B2010C00');
    assert.equal(findTag(record, 0x5a)?.toString('hex').toUpperCase(), '6222021234567890128F');
    assert.equal(findTag(record, 0x5f24)?.toString('hex'), '301231');
    assert.equal(findTag(record, 0x5f34)?.toString('hex'), '01');
    const record21 = await apdu('00B2011400');
    assert.equal(findTag(record21, 0x57)?.toString('hex').toUpperCase(), '6222021234567890128D30122010000012345F');
    await r.reader.release('contact');
  });

  it('muteChipIsReadFailedNotAHang', async () => {
    r = await rig();
    const card = r.reader.waitForCard(['insert'], 5000);
    await r.sim.detectionStarted();
    r.sim.insert(TEST_CARDS.icMute);
    const event = await card;
    assert.equal(event.type, 'read-failed');
    assert.equal(r.reader.diagnostics().unreadableChips, 1);
  });

  it('cardPulledMidApduRejectsWithCardRemovedAndEmitsRemoved', async () => {
    r = await rig();
    const removed = new Promise((resolve) => r.reader.onEvent((e) => { if (e.type === 'removed') resolve(e); }));
    const card = r.reader.waitForCard(['insert'], 5000);
    await r.sim.detectionStarted();
    r.sim.insert(TEST_CARDS.icDebit);
    await card;
    r.sim.removeDuringNextApdu();
    const error = await rejection(r.reader.transmit('contact', Buffer.from('00B2010C00', 'hex')));
    assert.equal(error.id, 'RDR_CARD_REMOVED');
    assert.deepEqual(await removed, { type: 'removed', slot: 'contact' });
  });

  it('aCardModelPulledAtGenerateAcRejectsWithCardRemovedOverTheWire', async () => {
    r = await rig();
    const removed = new Promise((resolve) => r.reader.onEvent((e) => { if (e.type === 'removed') resolve(e); }));
    const card = r.reader.waitForCard(['insert'], 5000);
    await r.sim.detectionStarted();
    r.sim.insert(TEST_CARDS.icPulled);
    await card;
    const select = await r.reader.transmit('contact', Buffer.from('00A4040008A00000033301010100', 'hex'));
    assert.equal(select.subarray(-2).toString('hex'), '9000', 'the card answers until the cryptogram is asked for');
    const error = await rejection(r.reader.transmit('contact', Buffer.from(`80AE80001D${'00'.repeat(29)}00`, 'hex')));
    assert.equal(error.id, 'RDR_CARD_REMOVED');
    assert.deepEqual(await removed, { type: 'removed', slot: 'contact' });
  });

  it('tappedCardGivesUidAtsAndAnswersApdus', async () => {
    r = await rig();
    const card = r.reader.waitForCard(['tap'], 5000);
    await r.sim.detectionStarted();
    r.sim.tap(TEST_CARDS.contactless);
    assert.deepEqual(await card, { type: 'tapped', uid: TEST_CARDS.contactless.uid, ats: TEST_CARDS.contactless.ats });
    const record = await r.reader.transmit('contactless', Buffer.from('00B2010C00', 'hex'));
    assert.equal(findTag(record, 0x5a)?.toString('hex'), '6222029876543214');
  });

  for (const how of ['crc', 'truncate', 'noise', 'length'] as const) {
    it(`garbledFrameIsNakedAndCountedAndNextFrameReadsFine (${how})`, async () => {
      r = await rig();
      r.sim.garbleNextFrame(how);
      const info = await r.reader.selfTest();
      assert.equal(info.firmware, 'VCR-1.0');
      const d = r.reader.diagnostics();
      assert.ok(d.framesRejected >= 1 || how === 'noise', `rejected ${d.framesRejected}`);
      if (how !== 'noise') assert.equal(d.naksSent, d.framesRejected);
      if (how === 'noise') assert.ok(d.bytesDiscarded >= 1 || d.framesRejected >= 1);
      // and the link keeps working
      const card = r.reader.waitForCard(['swipe'], 5000);
      await r.sim.detectionStarted();
      r.sim.swipe(TEST_CARDS.magShort);
      assert.equal((await card).type, 'swiped');
    });
  }

  it('silentReaderTimesOutWithTimeoutKindAfterBoundedRetries', async () => {
    const clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
    try {
      r = await rig({ ackTimeoutMsMax: 200, retryCountMax: 3 });
      r.sim.goSilent();
      const pending = rejection(r.reader.selfTest());
      await clock.tickAsync(200 * 4 + 10);
      const error = await pending;
      assert.equal(error.id, 'RDR_TIMEOUT');
      assert.equal(error.kind, 'timeout');
      assert.equal(r.reader.diagnostics().retransmits, 3);
      assert.equal(r.sim.stats.framesReceived, 0);
    } finally {
      clock.restore();
    }
  });

  it('noCardPresentedIsRdrNoCardAfterTheCallersLimit', async () => {
    const clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
    try {
      r = await rig();
      const pending = rejection(r.reader.waitForCard(['swipe', 'insert', 'tap'], 30_000));
      await clock.tickAsync(30_001);
      const error = await pending;
      assert.equal(error.id, 'RDR_NO_CARD');
    } finally {
      clock.restore();
    }
  });

  it('readerFallingSilentDuringTheCardWaitIsRdrTimeoutNotNoCard', async () => {
    r = await rig({ livenessPollMs: 100, ackTimeoutMsMax: 50 });
    const started = Date.now();
    const card = rejection(r.reader.waitForCard(['swipe', 'insert', 'tap'], 20_000));
    await r.sim.detectionStarted();
    r.sim.goSilent();
    const error = await card;
    assert.equal(error.id, 'RDR_TIMEOUT', error.message);
    assert.equal(error.code, 'E-RDR-03');
    assert.ok(Date.now() - started < 5_000, `told after ${Date.now() - started} ms, not at the 20 s limit`);
  });

  it('readerSilentAtTheCallersLimitIsRdrTimeoutEvenBeforeAnyPoll', async () => {
    r = await rig({ livenessPollMs: 60_000, ackTimeoutMsMax: 50 });
    const card = rejection(r.reader.waitForCard(['swipe'], 300));
    await r.sim.detectionStarted();
    r.sim.goSilent();
    assert.equal((await card).id, 'RDR_TIMEOUT');
  });

  it('readerPortLostDuringTheCardWaitIsRdrDisconnected', async () => {
    r = await rig();
    const card = rejection(r.reader.waitForCard(['swipe'], 20_000));
    await r.sim.detectionStarted();
    r.pair.disconnect('reader cable pulled');
    const error = await card;
    assert.equal(error.id, 'RDR_DISCONNECTED');
    assert.equal(error.code, 'E-RDR-04');
  });

  it('aLiveReaderIsPolledDuringTheWaitAndNoCardStaysRdrNoCard', async () => {
    r = await rig({ livenessPollMs: 50 });
    const card = rejection(r.reader.waitForCard(['swipe', 'insert', 'tap'], 600));
    await r.sim.detectionStarted();
    assert.equal((await card).id, 'RDR_NO_CARD');
    const infos = r.sim.stats.commands.filter((c) => c === 0x01).length;
    assert.ok(infos >= 3, `polled ${infos} times in 600 ms`);
    // Polling stops with the wait: nothing more is sent once it ended.
    const sent = r.sim.stats.commands.length;
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(r.sim.stats.commands.length, sent);
  });

  it('onAnswerTellsEachWholeFrameTheReaderSendsAndNothingFromASilentOne', async () => {
    r = await rig({ livenessPollMs: 50, ackTimeoutMsMax: 50 });
    let answers = 0;
    const off = r.reader.onAnswer(() => { answers++; });
    await r.reader.selfTest();
    assert.equal(answers, 1, 'the INFO response');
    // The card wait's detection and its liveness poll answer too: how a recovered reader is told.
    const card = rejection(r.reader.waitForCard(['swipe'], 400));
    await r.sim.detectionStarted();
    assert.equal((await card).id, 'RDR_NO_CARD');
    assert.ok(answers >= 4, `${answers}: DETECT_START, INFO polls, DETECT_STOP`);
    // Our ACK of the last answer reaches the reader first (silent, it would send it again at wake).
    await new Promise((resolve) => setTimeout(resolve, 20));
    r.sim.goSilent();
    const before = answers;
    await rejection(r.reader.selfTest());
    assert.equal(answers, before, 'a silent reader sends nothing');
    r.sim.wake();
    await r.reader.selfTest();
    assert.equal(answers, before + 1);
    off();
    await r.reader.selfTest();
    assert.equal(answers, before + 1, 'unsubscribed');
  });

  it('aSwipeBetweenPollsIsDelivered', async () => {
    r = await rig({ livenessPollMs: 20 });
    const card = r.reader.waitForCard(['swipe'], 5_000);
    await r.sim.detectionStarted();
    await new Promise((resolve) => setTimeout(resolve, 150));
    r.sim.swipe(TEST_CARDS.magShort);
    const ev = await card;
    assert.equal(ev.type, 'swiped');
    assert.ok(r.sim.stats.commands.filter((c) => c === 0x01).length >= 2, 'the reader was polled before the swipe');
  });

  it('portLostRejectsPendingCommandWithDisconnected', async () => {
    r = await rig();
    r.sim.goSilent();
    const pending = rejection(r.reader.selfTest());
    setImmediate(() => r.pair.disconnect('cable pulled'));
    const error = await pending;
    assert.equal(error.id, 'RDR_DISCONNECTED');
    assert.equal(error.kind, 'device-absent');
  });

  it('cancelRejectsWaitForCard', async () => {
    r = await rig();
    const card = rejection(r.reader.waitForCard(['swipe'], 5000));
    await r.sim.detectionStarted();
    r.reader.cancel();
    assert.equal((await card).id, 'OPR_CANCELLED');
  });
});

/**
 * The virtual reader's own link layer (sim/virtual-card-reader.ts), seen from a bare host end of
 * the wire: what it sends, byte for byte, around a silence.
 */
describe('VirtualCardReader: a silence and the frames waiting for their ACK', () => {
  /** Long enough that no resend happens by its timer during a test: only wake() may send again. */
  const ACK_TIMEOUT_MS = 60_000;
  const WAIT_MS_MAX = 2_000;
  let pair: SerialPair;
  let sim: VirtualCardReader;
  let received: Buffer;
  beforeEach(async () => {
    pair = await openSerialPair({ label: 'reader0' });
    sim = new VirtualCardReader(pair.device, { ackTimeoutMs: ACK_TIMEOUT_MS });
    received = Buffer.alloc(0);
    pair.host.onData((chunk) => { received = Buffer.concat([received, chunk]); });
  });
  afterEach(() => pair.disconnect('test over'));

  /** Waits until `bytes` have arrived at the host since the last take, and takes them. */
  async function take(bytes: number): Promise<Buffer> {
    const deadline = Date.now() + WAIT_MS_MAX;
    while (received.length < bytes) {
      if (Date.now() > deadline) assert.fail(`${received.length} of ${bytes} bytes in ${WAIT_MS_MAX} ms: ${received.toString('hex')}`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const got = received.subarray(0, bytes);
    received = received.subarray(bytes);
    return got;
  }

  /** The INFO command's answer, not acknowledged: the ACK of our command, then the answer frame. */
  async function infoAnswer(seq: number): Promise<Buffer> {
    await pair.host.write(encodeFrame(0x01, seq));
    assert.deepEqual(await take(2), encodeAck(seq));
    const head = await take(3);
    const rest = await take(((head[1] << 8) | head[2]) + 3);
    return Buffer.concat([head, rest]);
  }

  it('anAnswerAwaitingItsAckWhenTheReaderFellSilentIsSentAgainAtWakeAndTheLinkGoesOn', async () => {
    const answer = await infoAnswer(0);
    assert.equal(answer[3], 0x81, 'the INFO answer');
    sim.goSilent();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(received.length, 0, 'silent: nothing sent');
    sim.wake();
    assert.deepEqual(await take(answer.length), answer, 'the same frame again, its ACK still owed');
    assert.equal(sim.stats.retransmits, 1);
    await pair.host.write(encodeAck(answer[4]));
    // Acknowledged: the next command's answer goes out as before (nothing stuck behind it).
    const next = await infoAnswer(1);
    assert.equal(next[3], 0x81);
    assert.equal(next[4], (answer[4] + 1) & 0xff);
  });

  it('aFrameQueuedWhileSilentGoesOutAtWake', async () => {
    sim.insert(TEST_CARDS.icDebit);
    sim.goSilent();
    sim.removeCard();
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(received.length, 0, 'silent: nothing sent');
    sim.wake();
    const head = await take(5);
    assert.equal(head[3], 0x42, 'the card-removed event');
  });
});
