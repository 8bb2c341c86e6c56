/**
 * One terminal of the multi-board factory station, in its own process (started by
 * boot/factory-station-boards.ts): opens the terminal's board file, provisions it when the job
 * carries an identity, runs the hardware test and sends the report back. A board that hangs or
 * crashes takes only this process with it; the station kills it at its time limit.
 *
 * Boards:
 *   - a real board (`simulator: false`): buses through the Linux backends (hal/board-linux.ts);
 *     prompts that need a person go to the station's console over IPC (or are skipped unattended);
 *   - a simulator board: everything simulated in this process, the operator scripted;
 *   - a bench rig (`simulator: true, benchRig: true`): the simulator's GPIO and I2C chip models
 *     (keypad, display, battery, button, LEDs; the operator scripted on them) with the printer and
 *     card reader on real Linux ttys.
 *
 * IPC, parent to child: {type:'job'}, {type:'answer', id, value}; child to parent:
 * {type:'progress', text, step?}, {type:'prompt', id, kind:'press'|'confirm', text},
 * {type:'report', report}. The child exits when the IPC channel closes (the station died).
 */
import { join } from 'node:path';
import { PosError, isPosError } from '../common/errors';
import { deviceKeyProviderFor } from '../runtime/device-key-provider';
import { Board, BusFactories, buildBoard, loadBoard, readBoardFile } from '../hal/board';
import { linuxFactories } from '../hal/board-linux';
import type { SimBoard } from '../sim/board-sim';
import { requireSim } from './optional-sim';
import { KeyComponent, Prompts, TestReport, factoryTest, provision, provisionRecord, unattendedPrompts } from './factory';

export interface ChildJob {
  readonly type: 'job';
  readonly serial: string;
  /** Provisioning identity; absent: test only. */
  readonly identity?: { readonly tid: string; readonly mid: string; readonly components: readonly KeyComponent[]; readonly locale?: 'zh-CN' | 'en' };
  readonly boardFile: string;
  readonly workDir: string;
  readonly reportDir: string;
  readonly registryFile: string;
  readonly keyPressTimeoutMs?: number;
  readonly unattended: boolean;
  /** Ask a person even where the simulator could script the answer (tests of the console path). */
  readonly personPrompts?: boolean;
  /** scrypt cost of the service password (tests lower it). */
  readonly scryptN?: number;
}

export type ChildMessage =
  | { readonly type: 'progress'; readonly text: string; readonly step?: string }
  | { readonly type: 'prompt'; readonly id: number; readonly kind: 'press' | 'confirm'; readonly text: string }
  | {
    readonly type: 'report'; readonly report: TestReport & { readonly provision?: Record<string, unknown> };
    /** The service administrator's password, beside the report (never in it): the station shows it once. */
    readonly servicePassword?: string;
  };

export type ParentMessage = ChildJob | { readonly type: 'answer'; readonly id: number; readonly value: boolean };

interface Opened { readonly board: Board; readonly sim?: SimBoard; close(): Promise<void> }

/** Opens the board file as the file says: real, simulated, or a bench rig. */
export async function openStationBoard(file: string): Promise<Opened> {
  const { config } = readBoardFile(file);
  if (!config.simulator) {
    const board = await loadBoard(file, linuxFactories());
    return { board, close: () => board.close() };
  }
  // Loaded on use: a release image without the simulator still runs the station on real boards.
  const { SimBoard, createSimBoard, simFactories } = requireSim<typeof import('../sim/board-sim')>('../sim/board-sim', `${file}: a simulator board`);
  if (!config.benchRig) {
    const sim = await createSimBoard({ board: file });
    return { board: sim.board, sim, close: () => sim.close() };
  }
  // Bench rig: chip models for everything that is not on a serial port, real ttys for the rest.
  const sim = new SimBoard(readBoardFile(file).file, config, {});
  for (const [role, dc] of Object.entries(config.devices)) {
    if (dc.type !== 'escpos-serial' && dc.type !== 'framed-card-reader') await sim.attach(role, dc);
  }
  const simBuses = simFactories(sim), linux = linuxFactories();
  const factories: BusFactories = { i2c: simBuses.i2c, gpio: simBuses.gpio, serial: linux.serial, wpaCli: simBuses.wpaCli };
  sim.board = await buildBoard(sim.file, config, factories);
  return { board: sim.board, sim, close: () => sim.close() };
}

/** The simulator board's scripted operator (./factory-station, loaded on use like the board). */
function simulatedPrompts(sim: SimBoard): Prompts {
  return requireSim<typeof import('./factory-station')>('./factory-station', 'a simulator board').simPrompts(sim);
}

function send(m: ChildMessage): Promise<void> {
  return new Promise((resolve) => { if (!process.send?.(m, () => resolve())) resolve(); });
}

let promptId = 0;
const answers = new Map<number, (value: boolean) => void>();

/** Prompts answered through the station's console (the parent names this terminal). */
function consolePrompts(): Prompts {
  const ask = (kind: 'press' | 'confirm', text: string): Promise<boolean> => new Promise((resolve) => {
    const id = ++promptId;
    answers.set(id, resolve);
    void send({ type: 'prompt', id, kind, text });
  });
  return {
    pressKey: async (key) => { await ask('press', `press ${key}`); },
    confirm: (question) => ask('confirm', question),
  };
}

async function runJob(job: ChildJob): Promise<void> {
  const progress = (text: string, step?: string): void => void send({ type: 'progress', text, ...(step ? { step } : {}) });
  const startedAt = new Date().toISOString();
  progress('opening board', 'board');
  let opened: Opened;
  try {
    opened = await openStationBoard(job.boardFile);
  } catch (e) {
    if (!isPosError(e)) throw e;
    const now = new Date().toISOString();
    await send({ type: 'report', report: { serial: job.serial, board: job.boardFile, startedAt, finishedAt: now, pass: false, tests: [{ name: 'board', pass: false, values: { message: e.message }, codes: [e.code], ms: 0 }] } });
    return;
  }
  try {
    const { board, sim } = opened;
    let prov: Record<string, unknown> | undefined;
    let servicePassword: string | undefined;
    if (job.identity) {
      progress('provisioning', 'provisioning');
      const dir = join(job.workDir, job.serial);
      try {
        const r = await provision({
          serial: job.serial, tid: job.identity.tid, mid: job.identity.mid, components: job.identity.components, board: board.config,
          locale: job.identity.locale ?? 'zh-CN', journalDir: join(dir, 'journal'), registryFile: job.registryFile,
          deviceKey: deviceKeyProviderFor(board, dir, { create: true }), printer: board.printer(), labelPngFile: join(job.reportDir, `${job.serial}-label.png`),
          ...(job.scryptN ? { scryptN: job.scryptN } : {}),
        });
        servicePassword = r.servicePassword;
        prov = { pass: r.label.printed, ...provisionRecord(r) };
      } catch (e) {
        if (!isPosError(e)) throw e;
        prov = { pass: false, codes: [e.code], message: e.message };
      }
    }
    const prompts = job.unattended && (!sim || job.personPrompts) ? unattendedPrompts : sim && !job.personPrompts ? simulatedPrompts(sim) : consolePrompts();
    const report = await factoryTest(board, {
      serial: job.serial, prompts, keyPressTimeoutMs: job.keyPressTimeoutMs,
      onTest: (name) => progress(`testing: ${name}`, name),
    });
    await send({ type: 'report', report: prov ? { ...report, pass: report.pass && prov.pass === true, provision: prov } : report, ...(servicePassword ? { servicePassword } : {}) });
  } finally {
    progress('closing board', 'close');
    await opened.close().catch(() => undefined);
  }
}

function main(): void {
  let finished = false;
  // The channel closed: after our report, a normal end; before it, the station is gone.
  process.on('disconnect', () => process.exit(finished ? (process.exitCode ?? 0) : 3));
  process.on('message', (m: ParentMessage) => {
    if (m.type === 'answer') { answers.get(m.id)?.(m.value); answers.delete(m.id); return; }
    if (m.type !== 'job') return;
    runJob(m).then(
      () => { finished = true; process.disconnect?.(); },
      (e: unknown) => {
        process.stderr.write(`station child: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
        finished = true;
        process.exitCode = 1;
        process.disconnect?.();
      },
    );
  });
}

if (require.main === module) main();
