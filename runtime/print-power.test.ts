import { strict as assert } from 'node:assert';
import { isPosError } from '../common/errors';
import type { BatteryState } from '../hal/battery';
import type { PrintJob, Printer } from '../hal/printer';
import { checkPrintPower, powerCheckedPrinter, printPowerOk } from './print-power';

const MIN_PERCENT = 10;
const JOB: PrintJob = { label: 'merchant copy', blocks: [{ kind: 'text', text: 'SALE' }] };

function battery(percent: number | null, level: BatteryState['level'] = 'ok'): { read: () => Promise<BatteryState> } {
  return { read: async () => ({ percent, voltageMv: null, charging: false, lowLine: false, level }) };
}

/** A printer that counts the jobs it was sent. */
function countingPrinter(): Printer & { jobs: string[] } {
  const jobs: string[] = [];
  const status = { online: true, paperOut: false, paperNearEnd: false, coverOpen: false, fault: false };
  return {
    jobs, paperWidthDots: 384, columns: 32,
    status: async () => status, selfTest: async () => status, cancel: () => undefined, close: async () => undefined,
    print: async (job) => { jobs.push(job.label); return { job: job.label, blocksPrinted: job.blocks.length, bytesSent: 1, paperNearEnd: false }; },
  };
}

describe('print power: no print job starts below the battery threshold (E-PWR-03)', () => {
  it('aJobBelowTheThresholdIsRefusedWithE-PWR-03BeforeAnyByteReachesThePrinter', async () => {
    const printer = countingPrinter();
    const guarded = powerCheckedPrinter(printer, { battery: battery(9.9, 'low'), minPercent: MIN_PERCENT });
    await assert.rejects(guarded.print(JOB), (e) => isPosError(e) && e.code === 'E-PWR-03' && e.kind === 'battery-low' && e.detail.percent === 9.9 && e.detail.minPercent === MIN_PERCENT);
    assert.deepEqual(printer.jobs, [], 'nothing sent to the printer');
  });

  it('atOrAboveTheThresholdTheJobPrints', async () => {
    for (const percent of [MIN_PERCENT, 10.1, 80]) {
      const printer = countingPrinter();
      await powerCheckedPrinter(printer, { battery: battery(percent), minPercent: MIN_PERCENT }).print(JOB);
      assert.deepEqual(printer.jobs, ['merchant copy'], `${percent}%`);
    }
  });

  it('theBatteryIsReadForEveryJobSoAChargeBetweenTwoJobsLetsTheSecondPrint', async () => {
    let percent = 8;
    const printer = countingPrinter();
    const guarded = powerCheckedPrinter(printer, { battery: { read: async () => (await battery(percent).read()) }, minPercent: MIN_PERCENT });
    await assert.rejects(guarded.print(JOB));
    assert.equal(await printPowerOk({ battery: battery(percent), minPercent: MIN_PERCENT }), false);
    percent = 40;
    await guarded.print(JOB);
    assert.deepEqual(printer.jobs, ['merchant copy']);
  });

  it('aBatteryWithoutAFigureOrThatCannotBeReadDoesNotStopPrinting', async () => {
    await checkPrintPower({ battery: battery(null, 'low'), minPercent: MIN_PERCENT });
    await checkPrintPower({ battery: { read: () => Promise.reject(new Error('gauge gone')) }, minPercent: MIN_PERCENT });
    assert.equal(await printPowerOk({ battery: battery(null), minPercent: MIN_PERCENT }), true);
  });

  it('thePrintersAnswersReachTheTerminalThroughTheCheckAndAPrinterWithoutThemHasNone', () => {
    // The terminal ends a printer's self-test fault when it answers (boot/terminal-app.ts watchPrinters).
    const listeners: Array<() => void> = [];
    const printer: Printer = { ...countingPrinter(), onAnswer: (l) => { listeners.push(l); return () => undefined; } };
    let heard = 0;
    powerCheckedPrinter(printer, { battery: battery(80), minPercent: MIN_PERCENT }).onAnswer?.(() => { heard++; });
    for (const l of listeners) l();
    assert.equal(heard, 1);
    assert.equal(powerCheckedPrinter(countingPrinter(), { battery: battery(80), minPercent: MIN_PERCENT }).onAnswer, undefined);
  });
});
