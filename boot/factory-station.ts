/**
 * Station mode: provisions and tests several simulated terminals at once in this process (one
 * simulator board each), one progress line per terminal, one report per serial number. Each
 * terminal runs under its own timeout: a hung or failed terminal is reported and never blocks
 * the others (Promise.allSettled over independent pipelines).
 */
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { PosError, isPosError } from '../common/errors';
import { deviceKeyProviderFor } from '../runtime/device-key-provider';
import { createSimBoard, SimBoard, SimBoardOptions } from '../sim/board-sim';
import { FrameBuffer } from '../hal/display';
import { KeyName } from '../hal/keypad';
import { KeyComponent, Prompts, StationFault, TERMINAL_TIMEOUT_MS_DEFAULT, TestReport, factoryTest, kcvOf, provision, provisionRecord, writeReport } from './factory';
import { outcome } from './factory-station-boards';

export interface StationTerminal {
  readonly serial: string;
  readonly tid: string;
  readonly mid: string;
  readonly components: readonly KeyComponent[];
  /** Faults injected on this simulated terminal (tests, demos). */
  readonly faults?: readonly StationFault[];
}

export interface StationOptions {
  readonly terminals: readonly StationTerminal[];
  readonly workDir: string;
  readonly reportDir: string;
  readonly registryFile: string;
  readonly timeoutMs?: number;
  readonly keyPressTimeoutMs?: number;
  readonly onProgress?: (serial: string, status: string) => void;
}

export type StationReport = TestReport & {
  readonly provision?: Record<string, unknown>;
  readonly reportFile: string;
  /** The service administrator's password: in memory only, for the station's console to show once; never in the report file. */
  readonly servicePassword?: string;
};

/** Simulated terminals with distinct serials, TIDs and key components (as a key ceremony hands out). */
export function simulatedTerminals(count: number, prefix = 'SIM'): StationTerminal[] {
  return Array.from({ length: count }, (_, i) => {
    const n = String(i + 1).padStart(4, '0');
    const comp = (k: number): KeyComponent => {
      const key = createHash('sha256').update(`${prefix}-${n}-${k}`).digest().subarray(0, 16);
      return { keyHex: key.toString('hex'), kcvHex: kcvOf(key) };
    };
    return { serial: `${prefix}${n}`, tid: `9${String(i + 1).padStart(7, '0')}`, mid: `8${String(i + 1).padStart(14, '0')}`, components: [comp(1), comp(2)] };
  });
}

/** Scripted operator for a simulator board: presses keys on the model, reads the display back. */
export function simPrompts(sim: SimBoard): Prompts {
  return {
    // Holds the key until the driver reports it down (debounce under load takes a while), then
    // releases it and waits for the up (SimBoard.typeKey).
    pressKey: async (key: KeyName) => {
      if (sim.keypad().isClosed(key)) return; // a stuck key stays closed: the driver reports it
      await sim.typeKey(key, 0);
    },
    confirm: async () => true,
    // The operator holds the printed test page's QR code in front of the scan engine.
    showToScanner: async (code) => { sim.scanner().present(code); },
    // The operator's line across the pad, edge to edge (its pixels: the board file's width x height).
    drawAcrossPad: async () => {
      const dc = sim.config.devices.signature0;
      const width = dc?.type === 'tsc2007' ? dc.width : 320;
      const y = dc?.type === 'tsc2007' ? Math.floor(dc.height / 2) : 60;
      await sim.sign([Array.from({ length: 16 }, (_, i) => [Math.round((i * (width - 1)) / 15), y])]);
    },
    readBackDisplay: (pattern) => {
      if (pattern instanceof FrameBuffer) {
        const m = sim.oled();
        for (let y = 0; y < pattern.height; y++) for (let x = 0; x < pattern.width; x++) if (m.pixel(x, y) !== pattern.get(x, y)) return false;
        return true;
      }
      return sim.lcd().text().every((row, i) => row === pattern[i]);
    },
  };
}

async function oneTerminal(t: StationTerminal, o: StationOptions): Promise<StationReport> {
  const progress = (s: string): void => o.onProgress?.(t.serial, s);
  const simOptions: SimBoardOptions = t.faults?.includes('stuck-key') ? { beforeBoot: (s) => s.keypad().press('5') } : {};
  progress('booting simulator board');
  const sim = await createSimBoard(simOptions);
  try {
    if (t.faults?.includes('printer')) sim.printer().setFault('unrecoverable');
    // The 4G module hung; the Wi-Fi radio deaf (every access point out of its range).
    if (t.faults?.includes('modem-silent')) sim.modem().goSilent();
    if (t.faults?.includes('no-wifi')) for (const ap of sim.wifi().accessPoints) sim.wifi().setInRange(ap.ssid, false);
    progress('provisioning');
    let prov: Record<string, unknown>;
    let servicePassword: string | undefined;
    try {
      const r = await provision({
        serial: t.serial, tid: t.tid, mid: t.mid, components: t.components, board: sim.config, locale: 'zh-CN',
        journalDir: join(o.workDir, t.serial, 'journal'), registryFile: o.registryFile, // A random key file beside the journal, as on the terminal: a key derived from the serial
        // would let anyone who knows the serial open the sealed TMK.
        deviceKey: deviceKeyProviderFor(sim.board, join(o.workDir, t.serial), { create: true }),
        printer: sim.board.printer(), labelPngFile: join(o.reportDir, `${t.serial}-label.png`),
      });
      servicePassword = r.servicePassword;
      prov = { pass: r.label.printed, ...provisionRecord(r) };
    } catch (e) {
      if (!isPosError(e)) throw e;
      prov = { pass: false, codes: [e.code], message: e.message };
    }
    progress('testing hardware');
    const report = await factoryTest(sim.board, { serial: t.serial, prompts: simPrompts(sim), keyPressTimeoutMs: o.keyPressTimeoutMs });
    const full = { ...report, pass: report.pass && prov.pass === true, provision: prov };
    const reportFile = writeReport(o.reportDir, full);
    progress(full.pass ? 'PASS' : `FAIL ${failedCodes(full).join(' ')}`);
    return { ...full, reportFile, ...(servicePassword ? { servicePassword } : {}) };
  } finally {
    await sim.close();
  }
}

/**
 * A failed terminal's codes: its tests' and its provisioning's (a serial provisioned already,
 * E-OPR-12, failed with no code on the console), as the board station reports them.
 */
export function failedCodes(r: TestReport): string[] {
  return outcome(r).codes;
}

/** A terminal that did not finish in time still gets a report (and its code). */
function timedOut(t: StationTerminal, o: StationOptions, e: unknown): StationReport {
  const err = isPosError(e) ? e : new PosError('BRD_DEVICE_ABSENT', `station: ${String(e)}`);
  const now = new Date().toISOString();
  const report: TestReport = { serial: t.serial, board: 'sim', startedAt: now, finishedAt: now, pass: false, tests: [{ name: 'station', pass: false, values: { message: err.message }, codes: [err.code], ms: 0 }] };
  const reportFile = writeReport(o.reportDir, report);
  o.onProgress?.(t.serial, `FAIL ${err.code} ${err.message}`);
  return { ...report, reportFile };
}

export async function runStation(o: StationOptions): Promise<StationReport[]> {
  const timeoutMs = o.timeoutMs ?? TERMINAL_TIMEOUT_MS_DEFAULT;
  return Promise.all(o.terminals.map(async (t) => {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_r, reject) => { timer = setTimeout(() => reject(new PosError('BRD_DEVICE_ABSENT', `terminal ${t.serial} did not finish within ${timeoutMs} ms`)), timeoutMs); });
    try {
      return await Promise.race([oneTerminal(t, o), limit]);
    } catch (e) {
      return timedOut(t, o, e);
    } finally {
      clearTimeout(timer);
    }
  }));
}
