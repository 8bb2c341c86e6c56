/**
 * SerialTriggerScanner (hal/drivers/scan-engine.ts) against the virtual scan engine
 * (sim/virtual-scanner.ts), in-process over the in-memory serial pair: the bytes on the wire are
 * the protocol of hal/drivers/SCAN_ENGINE_PROTOCOL.md. Timeouts are shortened so each test runs
 * in well under a second; none depends on the date or on another test.
 */
import assert from 'node:assert/strict';
import pino from 'pino';
import { PosError, isPosError } from '../../common/errors';
import { SerialTriggerScanner, SerialTriggerScannerOptions, TRIGGER, UNTRIGGER } from '../../hal/drivers/scan-engine';
import { maskCode } from '../../hal/scanner';
import { SerialPair, openSerialPair } from '../../sim/serial-pair';
import { VirtualScanner, VirtualScannerOptions } from '../../sim/virtual-scanner';

const CODE = '134512345678901234';
const OTHER = '284599998888777766';

interface Rig { pair: SerialPair; scanner: SerialTriggerScanner; engine: VirtualScanner; wire: Buffer[]; logs: string[] }

async function rig(driver: SerialTriggerScannerOptions = {}, engine: VirtualScannerOptions = {}): Promise<Rig> {
  const pair = await openSerialPair({ label: 'scanner0' });
  const wire: Buffer[] = [];
  pair.device.onData((chunk) => wire.push(chunk));
  const logs: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => { logs.push(line); } });
  const readTimeoutMs = driver.readTimeoutMs ?? 300;
  const e = new VirtualScanner(pair.device, { readTimeoutMs, decodeMs: 5, ...engine });
  const scanner = new SerialTriggerScanner(pair.host, { readTimeoutMs, answerGraceMsMax: 150, settleMs: 20, logger, ...driver });
  return { pair, scanner, engine: e, wire, logs };
}

async function rejection(promise: Promise<unknown>): Promise<PosError> {
  try { await promise; } catch (error) { assert.ok(isPosError(error), String(error)); return error; }
  assert.fail('expected a rejection');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('SerialTriggerScanner (hal/drivers/scan-engine.ts) on the virtual scan engine', () => {
  let r: Rig | undefined;
  afterEach(async () => { await r?.scanner.close().catch(() => undefined); r = undefined; });

  it('codeHeldBeforeTheScanIsReadAtTheTriggerAndTheEngineGoesDark', async () => {
    r = await rig();
    assert.equal(r.engine.present(CODE), false, 'no scan yet: the code is held');
    assert.equal(await r.scanner.scan(2000), CODE);
    assert.equal(Buffer.concat(r.wire).toString('hex'), TRIGGER.toString('hex'), 'one SYN T CR and nothing else on the wire');
    assert.equal(r.engine.illuminated, false, 'the engine stops by itself after a read');
    assert.equal(r.scanner.diagnostics().codes, 1);
  });

  it('codeShownDuringARunningScanIsDeliveredAtOnce', async () => {
    r = await rig();
    const scan = r.scanner.scan(2000);
    await r.engine.triggered();
    assert.equal(r.engine.present(OTHER), true);
    assert.equal(await scan, OTHER);
  });

  it('nothingShownWithinTheCallersLimitIsNoCodeAndTheEngineIsStopped', async () => {
    r = await rig({ readTimeoutMs: 5000 });
    const e = await rejection(r.scanner.scan(120));
    assert.equal(e.id, 'SCN_NO_CODE');
    assert.equal(e.kind, 'timeout');
    assert.equal(r.engine.illuminated, false);
    assert.equal(r.engine.stats.untriggers, 1);
    assert.equal(Buffer.concat(r.wire).toString('hex'), Buffer.concat([TRIGGER, UNTRIGGER]).toString('hex'));
  });

  it('engineNoReadRetriggersItUntilTheCallersLimitAndALaterCodeIsRead', async () => {
    r = await rig({ readTimeoutMs: 80 });
    const scan = r.scanner.scan(3000);
    await sleep(200); // at least two "NR" answers and re-triggers by now
    r.engine.present(CODE);
    assert.equal(await scan, CODE);
    assert.ok(r.scanner.diagnostics().noReads >= 2, JSON.stringify(r.scanner.diagnostics()));
    assert.equal(r.engine.stats.triggers, r.scanner.diagnostics().noReads + 1, 'one trigger per no-read, plus the first');
  });

  it('silentEngineIsScannerTimeoutNotNoCode', async () => {
    r = await rig({ readTimeoutMs: 100 });
    r.engine.goSilent();
    const started = Date.now();
    const e = await rejection(r.scanner.scan(10_000));
    assert.equal(e.id, 'SCN_TIMEOUT');
    assert.ok(Date.now() - started < 2000, 'found at the engine read time-out plus grace, not the caller limit');
    assert.equal(r.scanner.diagnostics().timeouts, 1);
  });

  it('cancelStopsTheIlluminationBeforeTheCallerHearsCancelled', async () => {
    r = await rig({ readTimeoutMs: 5000 });
    const abort = new AbortController();
    const scan = r.scanner.scan(5000, abort.signal);
    await r.engine.triggered();
    assert.equal(r.engine.illuminated, true);
    abort.abort();
    const e = await rejection(scan);
    assert.equal(e.id, 'OPR_CANCELLED');
    assert.equal(r.engine.illuminated, false, 'SYN U CR reached the engine before the rejection');
  });

  it('lateCodeAfterCancelIsDroppedNotDeliveredToTheNextScan', async () => {
    r = await rig({ readTimeoutMs: 5000 });
    const abort = new AbortController();
    const first = r.scanner.scan(5000, abort.signal);
    await r.engine.triggered();
    abort.abort();
    await rejection(first);
    r.engine.sendLate(CODE); // decoded as the stop crossed it on the wire
    const second = r.scanner.scan(2000);
    await r.engine.triggered();
    r.engine.present(OTHER);
    assert.equal(await second, OTHER, 'the next scan gets its own code, never the late one');
    assert.equal(r.scanner.diagnostics().linesDropped, 1);
  });

  it('droppedCodeIsLoggedMaskedNeverWhole', async () => {
    r = await rig();
    r.engine.sendLate(CODE);
    await sleep(30);
    assert.equal(r.scanner.diagnostics().linesDropped, 1);
    const text = r.logs.join('');
    assert.ok(text.includes(maskCode(CODE)), 'the masked code is logged');
    assert.ok(!text.includes(CODE.slice(0, 8)), `no run of the code's first digits in the log: ${text}`);
  });

  it('unsolicitedCodeWithNoScanIsNeverDeliveredToALaterScan', async () => {
    r = await rig({ readTimeoutMs: 5000 });
    r.engine.sendLate(CODE);
    await sleep(30);
    const scan = r.scanner.scan(300);
    assert.equal((await rejection(scan)).id, 'SCN_NO_CODE', 'the stale code did not answer the new scan');
    assert.equal(maskCode(CODE), '**************1234');
  });

  it('garbageBytesInALineFailTheScanAsGarbled', async () => {
    r = await rig();
    r.engine.garbleNext('noise');
    r.engine.present(CODE);
    const e = await rejection(r.scanner.scan(2000));
    assert.equal(e.id, 'SCN_GARBLED');
    assert.equal(e.kind, 'reader-fault');
    assert.equal(e.detail.reason, 'bytes');
    assert.ok(!e.message.includes(CODE), 'the error message does not carry the code');
  });

  it('overlongLineIsGarbledAndTheNextScanStillReads', async () => {
    r = await rig();
    r.engine.garbleNext('overlong');
    r.engine.present(CODE);
    const e = await rejection(r.scanner.scan(2000));
    assert.equal(e.id, 'SCN_GARBLED');
    assert.equal(e.detail.reason, 'overlong');
    assert.equal(e.detail.lineBytesMax, 512);
    r.engine.present(OTHER);
    assert.equal(await r.scanner.scan(2000), OTHER, 'resynchronised on the next line end');
  });

  it('lineCutOffMidwayIsGarbledAfterTheInterByteTimeout', async () => {
    r = await rig();
    r.engine.garbleNext('truncated');
    r.engine.present(CODE);
    const e = await rejection(r.scanner.scan(2000));
    assert.equal(e.id, 'SCN_GARBLED');
    assert.equal(e.detail.reason, 'truncated');
  });

  it('crLfSuffixAndPrefixAreStrippedAndAMissingPrefixIsGarbled', async () => {
    r = await rig({ suffix: 'CRLF', prefix: 'QR:' }, { suffix: 'CRLF', prefix: 'QR:' });
    r.engine.present(CODE);
    assert.equal(await r.scanner.scan(2000), CODE);
    await r.scanner.close();
    r = await rig({ prefix: 'QR:' }, {});
    r.engine.present(CODE);
    const e = await rejection(r.scanner.scan(2000));
    assert.equal(e.detail.reason, 'prefix');
  });

  it('crLfSentToACrOnlyBoardStillReadsAndALfOnlyEngineOnACrLfBoardIsGarbled', async () => {
    r = await rig({ suffix: 'CR' }, { suffix: 'CRLF' });
    r.engine.present(CODE);
    assert.equal(await r.scanner.scan(2000), CODE);
    r.engine.present(OTHER);
    assert.equal(await r.scanner.scan(2000), OTHER, 'the LF after CR did not start a bogus line');
    await r.scanner.close();
    r = await rig({ suffix: 'CRLF' }, { suffix: 'LF' });
    r.engine.present(CODE);
    assert.equal((await rejection(r.scanner.scan(2000))).detail.reason, 'suffix');
  });

  it('powerLossRejectsTheScanDisconnectedAndEveryLaterScanToo', async () => {
    r = await rig({ readTimeoutMs: 5000 });
    const scan = r.scanner.scan(5000);
    await r.engine.triggered();
    r.pair.disconnect('scanner power lost');
    const e = await rejection(scan);
    assert.equal(e.id, 'SCN_DISCONNECTED');
    assert.equal(e.kind, 'device-absent');
    assert.equal(r.engine.illuminated, false, 'no power, no light');
    assert.equal((await rejection(r.scanner.scan(1000))).id, 'SCN_DISCONNECTED');
  });

  it('closeDuringAScanStopsTheEngineAndAScanAfterCloseIsDisconnected', async () => {
    r = await rig({ readTimeoutMs: 5000 });
    const scan = r.scanner.scan(5000);
    await r.engine.triggered();
    await r.scanner.close();
    assert.equal((await rejection(scan)).id, 'OPR_CANCELLED');
    assert.equal(r.engine.stats.untriggers, 1, 'the stop went out before the port closed');
    assert.equal((await rejection(r.scanner.scan(1000))).id, 'SCN_DISCONNECTED');
  });

  it('aSecondScanWhileOneRunsIsAnInvariantErrorAndTheFirstGoesOn', async () => {
    r = await rig();
    const first = r.scanner.scan(2000);
    assert.equal((await rejection(r.scanner.scan(2000))).id, 'SYS_INVARIANT');
    await r.engine.triggered();
    r.engine.present(CODE);
    assert.equal(await first, CODE);
  });

  it('anAlreadyAbortedSignalSendsNothing', async () => {
    r = await rig();
    const abort = new AbortController();
    abort.abort();
    assert.equal((await rejection(r.scanner.scan(1000, abort.signal))).id, 'OPR_CANCELLED');
    await sleep(20);
    assert.equal(r.wire.length, 0);
  });
});
