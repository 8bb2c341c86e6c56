/**
 * No print job starts on a battery too low for the print head (FIELD-FAULTS "Receipt lost or not
 * printed": power too low for the print head). A thermal head draws amps while it burns a line;
 * a nearly flat battery sags under that and browns the board out mid-slip, so the battery is
 * read before every job and a job below the board's threshold (`battery0.printMinPercent`,
 * default PRINT_BATTERY_MIN_PCT) is refused with PWR_PRINT_LOW (E-PWR-03) before a byte is sent.
 *
 * The refusal is a printer failure like paper out (runtime/machine.ts printerFailed): the copy
 * waits (a merchant copy until printed, a customer copy as receipt-pending), the paper-out screen
 * shows E-PWR-03 and its steps, and the copy prints once the printer is ready again, which
 * includes the battery (boot/terminal-app.ts printerReady). Nothing of the transaction changes:
 * an approved sale stays approved, and no reversal is sent because its slip did not print.
 */
import { PosError } from '../common/errors';
import { Battery, BatteryState, batteryAllowsPrinting } from '../hal/battery';
import { PrintJob, PrintResult, Printer, PrinterStatus } from '../hal/printer';
import type { Board } from '../hal/board';

export interface PrintPower {
  readonly battery: Pick<Battery, 'read'>;
  /** The board's printMinPercent. */
  readonly minPercent: number;
}

/**
 * Resolves when the battery allows printing; rejects with PWR_PRINT_LOW when its figure is below
 * the threshold. A battery that cannot be read at all does not stop the job (its own fault is
 * reported by the self-test and diagnostics; refusing every slip for it would lose more).
 */
export async function checkPrintPower(p: PrintPower): Promise<void> {
  let state: BatteryState;
  try {
    state = await p.battery.read();
  } catch {
    return;
  }
  if (batteryAllowsPrinting(state, p.minPercent)) return;
  throw new PosError('PWR_PRINT_LOW', `battery ${state.percent}% is below ${p.minPercent}%: print job not started`, { percent: state.percent, minPercent: p.minPercent });
}

/** Whether the battery allows printing now (false only for a figure below the threshold). */
export async function printPowerOk(p: PrintPower): Promise<boolean> {
  return checkPrintPower(p).then(() => true, () => false);
}

/** The printer with the battery checked before each job; everything else passes through. */
export function powerCheckedPrinter(printer: Printer, p: PrintPower): Printer {
  return {
    get paperWidthDots() { return printer.paperWidthDots; },
    get columns() { return printer.columns; },
    status: (): Promise<PrinterStatus> => printer.status(),
    print: async (job: PrintJob): Promise<PrintResult> => {
      await checkPrintPower(p);
      return printer.print(job);
    },
    selfTest: (): Promise<PrinterStatus> => printer.selfTest(),
    ...(printer.onAnswer ? { onAnswer: printer.onAnswer.bind(printer) } : {}),
    cancel: (): void => printer.cancel(),
    close: (): Promise<void> => printer.close(),
  };
}

/** The board's battery and its print threshold (battery0.printMinPercent), on a board that has a battery. */
export function boardPrintPower(board: Pick<Board, 'config' | 'battery'>): PrintPower | undefined {
  const dc = board.config.devices.battery0;
  return dc?.type === 'battery' ? { battery: board.battery(), minPercent: dc.printMinPercent } : undefined;
}

/**
 * The printer everything on the terminal prints on (the machine, recovery, diagnostics' test page):
 * no job starts below the print threshold (E-PWR-03).
 */
export function boardPrinter(board: Pick<Board, 'config' | 'battery' | 'printer'>): Printer {
  const power = boardPrintPower(board);
  return power ? powerCheckedPrinter(board.printer(), power) : board.printer();
}
