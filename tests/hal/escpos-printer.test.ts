/**
 * EscPosPrinter against the virtual printer, in-process over the in-memory serial pair: the
 * driver's real bytes are decoded by an independent ESC/POS implementation.
 */
import assert from 'node:assert/strict';
import sinon from 'sinon';
import type { Logger } from 'pino';
import { PosError, isPosError } from '../../common/errors';
import { PrinterRig, printerRig, receiptLines, saleReceipt } from './printer-fixtures';

async function rejection(promise: Promise<unknown>): Promise<PosError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isPosError(error), `expected a PosError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the promise to reject');
}

/** Calls `action` once the virtual printer has printed `lines` text lines. */
function whenLinesPrinted(rig: PrinterRig, lines: number, action: () => void): void {
  let done = false;
  rig.pair.device.onData(() => {
    if (!done && rig.device.lines.length >= lines) { done = true; action(); }
  });
}

describe('EscPosPrinter (hal/drivers/escpos-printer.ts) on the virtual printer', () => {
  let rig: PrinterRig;
  afterEach(async () => { await rig?.printer.close().catch(() => undefined); });

  it('receiptPrintsAndDecodedTextMatchesEveryLine', async () => {
    rig = await printerRig();
    const result = await rig.printer.print(saleReceipt());
    assert.equal(result.blocksPrinted, 7);
    const [receipt, ...rest] = rig.device.receipts();
    assert.equal(rest.length, 0);
    assert.equal(receipt.cut, true);
    assert.deepEqual(receipt.lines.filter((l) => l !== ''), ['POS SALE SLIP', ...receiptLines(), 'CUSTOMER COPY']);
    const title = receipt.items.find((i) => i.kind === 'text' && i.text === 'POS SALE SLIP');
    assert.ok(title && title.kind === 'text');
    assert.deepEqual({ align: title.align, bold: title.runs[0].bold, width: title.runs[0].width, height: title.runs[0].height },
      { align: 'center', bold: true, width: 2, height: 2 });
    assert.equal(receipt.items.filter((i) => i.kind === 'image').length, 2, 'QR code and signature');
    assert.equal(rig.device.machine.unknownCommands, 0);
    assert.equal(rig.device.machine.bytesLost, 0);
  });

  it('chineseTextIsSentAsGb18030AndDecodedBack', async () => {
    rig = await printerRig();
    await rig.printer.print({ label: 'zh', blocks: [{ kind: 'text', text: '商户名称：测试咖啡店\n金额：128.50元 𠀀' }] });
    assert.deepEqual(rig.device.lines, ['商户名称：测试咖啡店', '金额：128.50元 𠀀']);
  });

  it('chineseLineWrapsAtSixteenWideCharacters', async () => {
    rig = await printerRig();
    await rig.printer.print({ label: 'zh', blocks: [{ kind: 'text', text: '一二三四五六七八九十一二三四五六七八' }] });
    assert.deepEqual(rig.device.lines, ['一二三四五六七八九十一二三四五六', '七八']);
  });

  it('printerWithoutChineseFontGetsQuestionMarks', async () => {
    rig = await printerRig({ gb18030: false }, { gb18030: false });
    await rig.printer.print({ label: 'en', blocks: [{ kind: 'text', text: '金额 AMOUNT' }] });
    assert.deepEqual(rig.device.lines, ['?? AMOUNT']);
  });

  it('controlCharactersInTextCannotInjectCommands', async () => {
    rig = await printerRig();
    await rig.printer.print({ label: 'inj', blocks: [{ kind: 'text', text: 'SHOP\x1dV\x41\x00\x1b@X' }] });
    assert.deepEqual(rig.device.lines, ['SHOP?VA??@X']);
    assert.equal(rig.device.receipts()[0].cut, false, 'no cut was injected');
  });

  it('paperOutMidJobRejectsNamingTheJobAndBlock', async () => {
    rig = await printerRig({}, { paperLengthMm: 60 }); // the title and a few body lines fit
    const error = await rejection(rig.printer.print(saleReceipt('customer copy')));
    assert.equal(error.id, 'PRN_PAPER_OUT');
    assert.equal(error.kind, 'paper-out');
    assert.deepEqual({ job: error.detail.job, blockIndex: error.detail.blockIndex, blockLabel: error.detail.blockLabel, blocksPrinted: error.detail.blocksPrinted },
      { job: 'customer copy', blockIndex: 1, blockLabel: 'body', blocksPrinted: 1 });
    assert.ok(rig.device.machine.clears >= 1, 'the printer buffer was cleared');
    const printed = rig.device.lines.length;
    rig.device.loadPaper();
    assert.equal(rig.device.lines.length, printed, 'nothing prints late after paper is loaded');
    await rig.printer.print(saleReceipt('customer copy (reprint)'));
    assert.ok(rig.device.lines.includes('CUSTOMER COPY (REPRINT)'));
  });

  it('paperOutDuringQrCodeNamesTheQrBlock', async () => {
    rig = await printerRig({}, { paperLengthMm: 190 });
    const error = await rejection(rig.printer.print(saleReceipt()));
    assert.equal(error.id, 'PRN_PAPER_OUT');
    assert.equal(error.detail.blockLabel, 'qr');
    assert.equal(error.detail.blocksPrinted, 2);
  });

  it('paperOutBeforeJobRejectsWithNothingPrinted', async () => {
    rig = await printerRig({}, { paperLengthMm: 0 });
    const error = await rejection(rig.printer.print(saleReceipt()));
    assert.equal(error.id, 'PRN_PAPER_OUT');
    assert.equal(error.detail.blocksPrinted, 0);
    assert.equal(rig.device.machine.bytesReceived, 12, 'only the status query was sent');
  });

  it('coverOpenedMidJobRejectsWithCoverOpen', async () => {
    rig = await printerRig();
    whenLinesPrinted(rig, 3, () => rig.device.openCover());
    const error = await rejection(rig.printer.print(saleReceipt()));
    assert.equal(error.id, 'PRN_COVER_OPEN');
    assert.equal(error.kind, 'cover-open');
    assert.ok(typeof error.detail.blockIndex === 'number' && error.detail.blockIndex >= 1);
  });

  it('coverOpenIsReportedByStatus', async () => {
    rig = await printerRig();
    rig.device.openCover();
    const status = await rig.printer.status();
    assert.deepEqual(status, { online: false, coverOpen: true, paperOut: false, paperNearEnd: false, fault: false });
  });

  it('cutterFaultRejectsAtTheCutBlock', async () => {
    rig = await printerRig();
    rig.device.setFault('cutter');
    const error = await rejection(rig.printer.print(saleReceipt()));
    assert.equal(error.id, 'PRN_FAULT');
    assert.equal(error.detail.blocksPrinted, 0, 'refused before printing');
  });

  it('paperNearEndIsReportedButThePrintCompletes', async () => {
    rig = await printerRig({}, { paperLengthMm: 5000, nearEndMm: 4990 });
    const result = await rig.printer.print(saleReceipt());
    assert.equal(result.paperNearEnd, true);
  });

  it('serialPortLostMidJobRejectsWithDisconnectedAndBlock', async () => {
    rig = await printerRig();
    whenLinesPrinted(rig, 5, () => rig.pair.disconnect('usb unplugged'));
    const error = await rejection(rig.printer.print(saleReceipt()));
    assert.equal(error.id, 'PRN_DISCONNECTED');
    assert.equal(error.kind, 'device-absent');
    assert.equal(error.detail.blockIndex, 1);
    const again = await rejection(rig.printer.print(saleReceipt()));
    assert.equal(again.id, 'PRN_DISCONNECTED');
  });

  it('silentPrinterTimesOutWithItsErrorKind', async () => {
    const clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date', 'performance'] });
    try {
      rig = await printerRig({ statusTimeoutMsMax: 500 });
      rig.device.powerOff();
      const pending = rejection(rig.printer.print(saleReceipt()));
      await clock.tickAsync(600);
      const error = await pending;
      assert.equal(error.id, 'PRN_TIMEOUT');
      assert.equal(error.kind, 'timeout');
    } finally {
      clock.restore();
    }
  });

  it('selfTestAsksAgainWhileAPrinterPoweringUpWithTheBoardDoesNotAnswerThenGivesUpWithE-PRN-04', async () => {
    const asked: number[] = [];
    const logger = { info: (o: { attempt: number }) => { asked.push(o.attempt); }, warn: () => undefined, debug: () => undefined, error: () => undefined } as unknown as Logger; // only info is used
    rig = await printerRig({ statusTimeoutMsMax: 100, stallPollMs: 20, powerUpMsMax: 60_000, logger });
    rig.device.powerOff();
    let answered = false;
    const late = rig.printer.selfTest().then((s) => { answered = true; return s; });
    while (asked.length < 2) await new Promise((r) => setTimeout(r, 20));
    assert.equal(answered, false, 'nothing answered while the printer is off: still asking');
    rig.device.powerOn(); // its firmware is up: a later query is answered
    assert.equal((await late).online, true);
    // status() during trading keeps its one timeout; the self-test gives up after powerUpMsMax.
    rig.device.powerOff();
    assert.equal((await rejection(rig.printer.status())).id, 'PRN_TIMEOUT');
    await rig.printer.close().catch(() => undefined);
    asked.length = 0;
    rig = await printerRig({ statusTimeoutMsMax: 100, stallPollMs: 20, powerUpMsMax: 250, logger });
    rig.device.powerOff();
    const error = await rejection(rig.printer.selfTest());
    assert.equal(error.code, 'E-PRN-04');
    assert.ok(asked.length >= 1, 'asked again before giving up');
  });

  it('onAnswerIsToldOfEachStatusAndPrintAnsweredAndOfNothingWhileThePrinterIsSilent', async () => {
    rig = await printerRig({ statusTimeoutMsMax: 100 });
    let answers = 0;
    const off = rig.printer.onAnswer(() => { answers++; });
    rig.device.powerOff();
    assert.equal((await rejection(rig.printer.status())).id, 'PRN_TIMEOUT');
    assert.equal(answers, 0, 'a silent printer answers nothing');
    rig.device.powerOn();
    await rig.printer.status();
    assert.equal(answers, 1, 'one status answered: once');
    await rig.printer.print({ label: 'one line', blocks: [{ kind: 'text', text: 'OK' }] });
    assert.ok(answers > 1, 'a job\'s confirmations are answers');
    off();
    const before = answers;
    await rig.printer.status();
    assert.equal(answers, before, 'unsubscribed');
  });

  it('cancelRejectsRunningAndQueuedJobs', async () => {
    rig = await printerRig();
    const first = rejection(rig.printer.print(saleReceipt('one')));
    const second = rejection(rig.printer.print(saleReceipt('two')));
    whenLinesPrinted(rig, 2, () => rig.printer.cancel());
    assert.equal((await first).id, 'OPR_CANCELLED');
    assert.equal((await second).id, 'OPR_CANCELLED');
    const ok = await rig.printer.print(saleReceipt('three'));
    assert.equal(ok.blocksPrinted, 7);
  });

  it('queueBeyondItsMaximumIsRefused', async () => {
    rig = await printerRig({ queuedJobsMax: 2 });
    const jobs = [rig.printer.print(saleReceipt('a')), rig.printer.print(saleReceipt('b'))];
    const error = await rejection(rig.printer.print(saleReceipt('c')));
    assert.equal(error.detail.reason, 'queue-full');
    await Promise.all(jobs);
  });

  it('unconfirmedBytesStayWithinThePrinterBuffer', async () => {
    rig = await printerRig({ unconfirmedBytesMax: 1024 }, { inputBufferBytesMax: 1100 });
    await rig.printer.print(saleReceipt());
    assert.equal(rig.device.machine.bytesLost, 0);
  });
});
