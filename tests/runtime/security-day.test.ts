/**
 * Security over a full trading day on the simulator board (real printer and card-reader drivers
 * over simulated serial cables, the acquirer simulator on loopback, the state machine driving it
 * all): every output is grepped for the test cards' full PANs (ASCII and BCD), their track data
 * and the PIN blocks the day produced. None may appear in the logs, the printed receipts, the
 * journal file's bytes (where each chip sale's field 55 is stored with its reversal record), the
 * field 55 bytes sent, or the machine snapshots a screen would render.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createActor, waitFor } from 'xstate';
import { createLogger } from '../../common/log';
import { createSimBoard, SimBoard } from '../../sim/board-sim';
import { AcquirerSimulator, TEST_TERMINAL } from '../../sim/host/simulator';
import { TEST_CARDS } from '../../sim/test-cards';
import { seededRandom } from '../../runtime/random';
import { createTerminalMachine, statePath, viewOf, MachineEvent } from '../../runtime/machine';
import { readCard } from '../../runtime/txn/card';
import { pinBlockFormat0 } from '../../runtime/host/crypto';
import { Rig, rig, withOperators, journalDiskBytes } from './harness';

describe('security: a full trading day leaves no PAN, track data or PIN block in any output', function () {
  this.timeout(60_000);
  let sim: SimBoard;
  let r: Rig;
  const logChunks: string[] = [];
  const previousLevel = process.env.LOG_LEVEL;

  before(async () => {
    process.env.LOG_LEVEL = 'trace';
    const logger = createLogger('security-day', new Writable({ write(chunk, _enc, cb) { logChunks.push(String(chunk)); cb(); } }));
    // The host reads the terminal's own (pinned) clock: a real-clock host dated the original sale
    // after the terminal's today once the calendar moved on, and the refund was refused (E-OPR-19).
    const host = new AcquirerSimulator({ randomBytes: seededRandom(7), logger, clock: () => r.clock.ms });
    await host.listen(0);
    r = await rig({ sim: host });
    (r.terminal.engine as unknown as { log: unknown }).log = logger.child({ component: 'engine' });
    sim = await createSimBoard();
  });
  after(async () => {
    // Assigning undefined to process.env stores the string "undefined": delete instead.
    if (previousLevel === undefined) delete process.env.LOG_LEVEL;
    else process.env.LOG_LEVEL = previousLevel;
    await sim?.close();
    await r?.close();
    await r?.sim.close();
  });

  it('sales by swipe, chip and tap with PINs, balance, void, refund, reprint, settlement, sign-off: nothing sensitive anywhere', async () => {
    await withOperators(r);
    const board = sim.board;
    const machine = createTerminalMachine({
      open: async () => r.terminal, selfTest: async () => undefined, printer: board.printer(), readCard: (request) => readCard(board.reader(), ['swipe', 'insert', 'tap'], 10_000, request),
      clock: () => r.clock.ms, lang: 'zh', recoveryLogin: (op, pw) => r.terminal.operators.login(op, pw),
    });
    const views: string[] = [];
    const actor = createActor(machine);
    actor.subscribe((s) => views.push(JSON.stringify(viewOf(s))));
    actor.start();
    const until = (p: string) => waitFor(actor, (s) => statePath(s.value) === p, { timeout: 15_000 }).catch((e: unknown) => { throw new Error(`waiting for ${p}: at ${statePath(actor.getSnapshot().value)} ${JSON.stringify(actor.getSnapshot().context.error)} (${String(e)})`); });
    const send = (e: MachineEvent) => actor.send(e);
    const pins: Buffer[] = [];
    const pin = (): Buffer => { const b = Buffer.from('246810', 'ascii'); pins.push(Buffer.from(b)); return b; };
    const present = async (how: 'swipe' | 'insert' | 'tap'): Promise<void> => {
      await sim.reader().detectionStarted();
      if (how === 'swipe') sim.reader().swipe(TEST_CARDS.magDebit);
      if (how === 'insert') sim.reader().insert(TEST_CARDS.icDebit);
      if (how === 'tap') sim.reader().tap(TEST_CARDS.contactless);
    };
    const pinBlocks: Buffer[] = [];
    const notePinBlock = (pan: string): void => {
      const keys = r.sim.workingKeys(TEST_TERMINAL.tid);
      if (keys) pinBlocks.push(pinBlockFormat0(pan, Buffer.from('246810', 'ascii'), keys.pik));
    };

    await until('login');
    send({ type: 'LOGIN', operator: '002', password: '2222' });
    await until('idle');
    for (const [how, amountFen] of [['swipe', 1200], ['insert', 3400], ['tap', 5600]] as const) {
      send({ type: 'SALE' }); send({ type: 'AMOUNT', amountFen });
      await present(how);
      if (how !== 'swipe') {
        await until('sale.pin');
        notePinBlock(how === 'insert' ? TEST_CARDS.icDebit.pan : TEST_CARDS.contactless.pan);
        send({ type: 'PIN', pin: pin() });
      }
      await until('sale.askCustomerCopy');
      send({ type: 'YES' });
      await until('sale.signature');
      send({ type: 'SIGNATURE', image: { width: 96, height: 24, pixels: new Uint8Array(96 * 24).fill(1, 960, 1056) } });
      await until('idle');
      if (how === 'insert') sim.reader().removeCard();
    }
    send({ type: 'BALANCE' });
    await present('swipe');
    await until('balance.pin');
    notePinBlock(TEST_CARDS.magDebit.track2.split('=')[0]);
    send({ type: 'PIN', pin: pin() });
    await until('balance.result'); send({ type: 'OK' }); await until('idle');
    const first = r.terminal.engine.transactions()[0];
    send({ type: 'VOID' }); await until('void.trace'); send({ type: 'TRACE', stan: first.stan }); send({ type: 'OK' });
    await until('void.askCustomerCopy'); send({ type: 'YES' }); await until('idle');
    const second = r.terminal.engine.transactions()[1];
    send({ type: 'REFUND' }); await until('refund.details');
    send({ type: 'REFUND_DETAILS', rrn: second.rrn as string, dateMmdd: second.hostDate as string, amountFen: 400 });
    await present('tap');
    await until('refund.askCustomerCopy'); send({ type: 'NO' }); await until('idle');
    send({ type: 'REPRINT' }); send({ type: 'REPRINT_STAN', stan: second.stan }); await until('reprint.copy'); send({ type: 'REPRINT_COPY', copy: 'customer' }); await until('idle');
    send({ type: 'SETTLE' }); await until('settlement.confirm'); send({ type: 'OK' }); await until('settlement.result'); send({ type: 'OK' }); await until('idle');
    send({ type: 'SIGN_OFF' }); await until('login');
    actor.stop();

    const receipts = sim.printer().receipts().map((x) => x.lines.join('\n')).join('\n');
    assert.match(receipts, /622202\*+0128/, 'receipts carry the masked PAN');
    assert.match(receipts, /重打印/, 'the reprint is marked');
    const journalBytes = journalDiskBytes(r.dir);
    const logs = logChunks.join('');
    assert.ok(logs.length > 1000, 'the day was logged');
    // Field 55 of the chip and tap sales, as the host received them: stored with each sale's
    // reversal-pending record (positive control: the scan below sees them in the journal file),
    // and scanned itself like every other output.
    const field55s = r.sim.requests().filter((q) => q.type === 'sale' && q.field55 !== undefined).map((q) => q.field55 as Buffer);
    assert.equal(field55s.length, 2, 'the chip and the tap sale carried field 55');
    for (const f of field55s) assert.notEqual(journalBytes.indexOf(f), -1, 'field 55 is in the journal file (the scan sees it)');
    const outputs: Array<[string, Buffer]> = [['logs', Buffer.from(logs)], ['receipts', Buffer.from(receipts)], ['snapshots', Buffer.from(views.join('\n'))], ['journal file', journalBytes], ['field 55 sent', Buffer.concat(field55s)]];
    const pans = [TEST_CARDS.magDebit.track2.split('=')[0], TEST_CARDS.icDebit.pan, TEST_CARDS.contactless.pan];
    const secrets: Array<[string, Buffer]> = [
      ...pans.map((p): [string, Buffer] => [`PAN ${p.slice(0, 6)}…`, Buffer.from(p)]),
      ...pans.map((p): [string, Buffer] => [`BCD PAN ${p.slice(0, 6)}…`, Buffer.from(p.length % 2 ? `${p}F` : p, 'hex')]),
      ['track 2 (mag)', Buffer.from(TEST_CARDS.magDebit.track2.split('=')[1])],
      ['track 3 (mag)', Buffer.from(TEST_CARDS.magDebit.track3 as string)],
      ...pinBlocks.map((b, i): [string, Buffer] => [`PIN block ${i}`, b]),
      ['clear PIN as sent', Buffer.from('246810')],
    ];
    assert.ok(pinBlocks.length >= 3);
    for (const [where, bytes] of outputs) {
      for (const [what, secret] of secrets) {
        assert.equal(bytes.indexOf(secret), -1, `${what} found in ${where}`);
      }
    }
  });
});
