/**
 * A seeded simulation of whole trading days (issue 7): the terminal's real state machine, engine,
 * journal (LMDB behind its write-ahead log journal.wal, as the terminal runs it) and host
 * transport, against the acquirer simulator in this process, driven by
 * a simulated operator on virtual time, with faults drawn from the seed, and the invariants of
 * simulate-invariants.ts checked after every step. The same seed replays the same run exactly:
 * the report's `digest` is a hash of every event line.
 *
 *   const report = await simulateDays({ seed: 7, days: 20 });
 *   if (report.failure) console.log(formatFailure(report.failure));
 *
 * Parts: simulate-world.ts (virtual clock, PRNG, pump), simulate-host.ts (in-memory sockets to
 * the acquirer simulator), simulate-storage.ts (journal instrumentation, power-cut disk model,
 * bit flips), simulate-devices.ts (the real reader and printer drivers over in-memory serial cables to
 * the virtual reader and printer; or stand-ins), simulate-operator.ts (who presses what),
 * simulate-invariants.ts (what must hold).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createActor, Actor } from 'xstate';
import { AcquirerSimulator, TEST_TERMINAL } from './host/simulator';
import { FaultSpec } from './host/faults';
import { Journal } from '../storage/journal';
import { WAL_FILE } from '../storage/wal';
import { tempDir, removeDir } from '../storage/testing';
import { createLogger, Logger } from '../common/log';
import { PosError } from '../common/errors';
import { HostTransport, RESPONSE_TIMEOUT_MS_DEFAULT } from '../runtime/host/transport';
import { CUP_PROFILE } from '../runtime/host/fields';
import { pinBlockFormat0 } from '../runtime/host/crypto';
import { fixedDeviceKey } from '../runtime/device-key';
import { seededRandom } from '../runtime/random';
import { openTerminal, Terminal } from '../runtime/terminal';
import { Recovery } from '../boot/recovery';
import { Session } from '../runtime/operators';
import { createTerminalMachine, viewOf, MachineEvent, MachineView, TerminalMachine } from '../runtime/machine';
import { readCard } from '../runtime/txn/card';
import { rec } from '../runtime/records';
import { IoGate, Rng, VirtualClock, pump } from './simulate-world';
import { SimLink } from './simulate-host';
import { SimDisk } from './simulate-storage';
import { BootWires, DeviceHooks, DeviceMode, SimCardReader, SimKeypad, SimPrinter, SimPrinterDevice, StandInCardReader, WireCardReader, WirePrinter, SIM_PANS, MISBEHAVING_CHIP_CARDS, MISBEHAVING_TAP_CARDS } from './simulate-devices';
import { ChipCard, TEST_CARDS } from './test-cards';
import { InvariantChecker, InvariantFailure, InvariantName, SIM_PIN } from './simulate-invariants';
import { Action, OPERATORS, OperatorContext, OperatorKind, SETTLE_TRIES_MAX, nextAction } from './simulate-operator';

export { InvariantFailure, SIM_PIN };

/** Probabilities per opportunity (see each field). All 0 = a fault-free run. */
export interface FaultRates {
  /** Per step: the power is cut at a random point of the step (mid-commit, mid-exchange, at rest). */
  readonly powerCut: number;
  /** Per power cut: the last acknowledged, not yet acted-on commit was a lying flush and is lost. */
  readonly lyingFlush: number;
  /** Per power cut: a bit flips in a stored record while the terminal is off. */
  readonly bitFlip: number;
  /**
   * Per power cut: the storage is rebuilt page by page as a disk would hold it (the power-cut
   * simulator's disk model) instead of the all-or-nothing commit rule; the cut then falls at the
   * next commit or checkpoint from its drawn point on (WRITE_POINTS), or for a share of them
   * (TWO_PAGE_CUTS_SHARE) as the log writes its next commit over two pages. Drawn from
   * a second stream of the seed, so the other faults of a seed stay where they were.
   */
  readonly diskModelCut: number;
  /**
   * Per checkpoint the terminal asks for (after a settlement's close) with no cut drawn: the power
   * is cut during it, the disk rebuilt page by page (its LMDB transaction and the log's header
   * write stopped in any order state). Drawn from the disk-model stream.
   */
  readonly checkpointCut: number;
  /** Per journal commit: EIO from then until the next boot. */
  readonly storageEio: number;
  /** Per journal commit: the disk is full from then until the next boot. */
  readonly storageFull: number;
  /** Per step, each: a host fault armed for the next request. */
  readonly hostDelay: number;
  readonly hostDrop: number;
  readonly hostMidClose: number;
  readonly hostGarbage: number;
  readonly badMac: number;
  readonly decline: number;
  /**
   * Per step, each (issue 11, drawn from their own seed stream so the other draws stay as they were):
   * the next sale's approval carries a wrong ARPC (a chip card then declines it: reversed 06), or an
   * issuer script in 71 or 72 (PIN unblock, PUT DATA, or one whose MAC is wrong: the card fails it).
   */
  readonly wrongArpc: number;
  readonly issuerScript: number;
  /**
   * Per chip card inserted or tapped (issue 11, its own seed stream too): a misbehaving card model
   * instead of icDebit (sim/simulate-devices.ts MISBEHAVING_CHIP_CARDS: declines at the final
   * GENERATE AC, pulled before it or at the first, scripts fail, ODA or CDA failed) or the QuickPass
   * card (MISBEHAVING_TAP_CARDS: fDDA failed). Wire devices only.
   */
  readonly misbehavingCard: number;
  /** Per connection: the network is down (connection refused, nothing sent). */
  readonly networkDown: number;
  /** Per settlement: the host reports the batch unbalanced. */
  readonly unbalanced: number;
  /** Per PIN entry: the customer types a wrong PIN (the host answers 55). */
  readonly wrongPin: number;
  /** Per login: a wrong password. */
  readonly wrongPassword: number;
  /** Per print job. */
  readonly paperOut: number;
  readonly coverOpen: number;
  /**
   * Per card presented: reader frames garbled on the wire, in a burst of 1..5 transmissions (up to
   * 3 the reader's resends recover; more lose the frame). Stand-in devices: beyond the retries.
   */
  readonly garbledReader: number;
  /** Per key press: it bounces (sent twice) / sticks (sent 3..6 times). */
  readonly keyBounce: number;
  readonly keyStuck: number;
  /** Per step: the battery falls to low; per step at low: it falls to critical. */
  readonly batteryLow: number;
  readonly batteryCritical: number;
}

export const DEFAULT_RATES: FaultRates = {
  powerCut: 0.03, lyingFlush: 0.2, bitFlip: 0.05, diskModelCut: 0.25, checkpointCut: 0.05, storageEio: 0.002, storageFull: 0.002,
  hostDelay: 0.02, hostDrop: 0.015, hostMidClose: 0.01, hostGarbage: 0.01, badMac: 0.01, decline: 0.04, wrongArpc: 0.01, issuerScript: 0.02, misbehavingCard: 0.1, networkDown: 0.01,
  unbalanced: 0.1, wrongPin: 0.05, wrongPassword: 0.05, paperOut: 0.02, coverOpen: 0.01, garbledReader: 0.04,
  keyBounce: 0.02, keyStuck: 0.005, batteryLow: 0.005, batteryCritical: 0.05,
};

export const NO_FAULTS: FaultRates = Object.fromEntries(Object.keys(DEFAULT_RATES).map((k) => [k, 0])) as unknown as FaultRates;

/**
 * A deliberately broken terminal (or disk), for the positive controls. 'lying-flush-after-request':
 * the disk loses the last acknowledged commit even when a request left after it, the case the
 * lying-flush fault never draws because it loses money by construction. 'drop-acknowledged-advice':
 * an offline sale whose advice the host accepted is journaled as given up instead of sent.
 */
export type InjectedBug = 'drop-reversal' | 'double-sale' | 'lying-flush-after-request' | 'drop-acknowledged-advice';

export interface SimulateOptions {
  readonly seed: number;
  readonly days: number;
  readonly rates?: Partial<FaultRates>;
  /** Operator transactions per day (sales, voids, refunds, balances, reprints). */
  readonly opsPerDayMin?: number;
  readonly opsPerDayMax?: number;
  /** Where the journal lives (default: a new directory under /dev/shm or the temp dir, removed after). */
  readonly dir?: string;
  readonly bug?: InjectedBug;
  /** The technician logs in to recovery mode through the state machine (SIMULATION.md finding 1). */
  readonly recoveryViaMachine?: boolean;
  /** Every event line, as it happens. */
  readonly onEvent?: (line: string) => void;
  /** Stop at the first failure (default) or keep the report of the first and stop anyway. */
  readonly lastEventsKept?: number;
  /**
   * 'wire' (default): the real card reader and printer drivers over in-memory serial cables to the
   * virtual reader and printer. 'stand-in': the first version's in-process stand-ins, no bytes.
   */
  readonly devices?: DeviceMode;
}

export interface SimFailure {
  readonly seed: number;
  readonly day: number;
  readonly step: number;
  readonly invariant: InvariantName | 'crash';
  readonly message: string;
  readonly lastEvents: readonly string[];
}

export interface SimulationReport {
  readonly seed: number;
  readonly days: number;
  readonly daysCompleted: number;
  readonly steps: number;
  /** Operator actions by kind (sale, void, refund, balance, reprint, settle, login, ...). */
  readonly operations: Record<string, number>;
  /** Faults injected, by kind. */
  readonly faults: Record<string, number>;
  readonly invariantChecks: number;
  readonly boots: number;
  readonly batchesClosed: number;
  readonly hostApprovedSales: number;
  /** Offline sales whose advice the host took (approved by the terminal while the host was unreachable). */
  readonly hostOfflineSales: number;
  /** Offline sales given up after sends with no answer that the host had booked (closed batches): unbalanced by design. */
  readonly givenUpBookedSales: number;
  readonly virtualMs: number;
  /** sha256 of every event line: equal digests = identical runs. */
  readonly digest: string;
  readonly eventCount: number;
  readonly failure?: SimFailure;
  readonly devices: DeviceMode;
  /**
   * What crossed the device wires ('wire' devices): frames garbled and frames the reader driver
   * rejected, NAKs, resends, timeouts; printer jobs, lines and bytes; presentations by kind.
   */
  readonly wire: Record<string, number>;
}

const T0_MS = Date.UTC(2026, 0, 5, 0, 0, 0); // 08:00 in Beijing
const DAY_MS = 86_400_000;
const IDENTITY = 'SIM-DAYS-0001';
const DEVICE_KEY = Buffer.alloc(32, 0x5a);

/** Virtual time one step may take before the terminal counts as stuck (reversal tries included). */
export const STEP_VIRTUAL_MS_MAX = 30 * 60_000;
/** Steps after which the terminal must have been at idle, login, a fault screen or recovery. */
export const STEPS_TO_REST_MAX = 40;
/** Steps one day may take (a runaway guard; a day has tens of operations). */
export const DAY_STEPS_MAX = 3_000;
/** Points of a step among which a power cut falls (commits, acknowledgements, timers). */
const CUT_POINTS_SPAN = 14;
/**
 * Where a disk-model cut falls: with writes in flight (a commit to the log, a checkpoint), the
 * states the page model is for; at rest or at a timer it would rebuild nothing. It waits for one
 * across steps while the terminal runs; a power-off or a boot into recovery (whose journal
 * access writes outside the instrumented journal) drops it.
 */
const WRITE_POINTS: ReadonlySet<string> = new Set(['commit-start', 'checkpoint-start']);
/**
 * Disk-model cuts that wait for a log commit over two pages instead: the only commits the page
 * model can tear (a few in a hundred of the days' commits cross a page boundary), so torn tails
 * of the log are met in every run and not once in a thousand cuts.
 */
const TWO_PAGE_CUTS_SHARE = 0.5;
const LAST_EVENTS_DEFAULT = 40;
const SCRYPT_N_SIM = 1 << 10;
const REST_STATES = new Set(['idle', 'login', 'recovery.locked', 'recovery.menu', 'storageFailure', 'paperOut', 'hostUnreachable', 'off', 'lowBattery', 'offerReprint']);
const DECLINE_CODES = ['51', '05', '14', '54', '61', '91'];

function simDir(): string {
  // tmpfs: the simulation tests logic, not flash speed (bench/ measures that); LMDB still syncs.
  return existsSync('/dev/shm') ? mkdtempSync('/dev/shm/possim-') : tempDir('possim-');
}

type Machine = Actor<TerminalMachine>;

class Simulation {
  readonly rng: Rng;
  /** Disk-model cuts draw here, not from `rng`: adding them left every other fault of a seed in place. */
  private readonly diskRng: Rng;
  readonly clock = new VirtualClock(T0_MS);
  readonly io = new IoGate();
  readonly rates: FaultRates;
  readonly dir: string;
  readonly sim: AcquirerSimulator;
  readonly link: SimLink;
  readonly disk: SimDisk;
  readonly printer: SimPrinterDevice;
  readonly reader: SimCardReader;
  /** The device layer's own seed stream: wire faults' details leave the other faults of a seed in place. */
  private readonly deviceRng: Rng;
  /** The chip issuer faults' own stream (wrong ARPC, issuer scripts): added without moving the others. */
  private readonly chipRng: Rng;
  /** The misbehaving chip cards' own stream: added without moving the others either. */
  private readonly cardRng: Rng;
  /** The tapped cards' own stream: drawing them leaves the inserted cards' draws where they were. */
  private readonly tapRng: Rng;
  private readonly deviceHooks: DeviceHooks;
  /** 'wire' devices: the real drivers' wrappers, and this boot's cables (undefined while off). */
  readonly wireDevices: { readonly reader: WireCardReader; readonly printer: WirePrinter; readonly keypad: SimKeypad } | undefined;
  private wires: BootWires | undefined;
  readonly checker = new InvariantChecker();
  readonly logger: Logger;
  private readonly logChunks: string[] = [];
  private readonly hash = createHash('sha256');
  private readonly lastEvents: string[] = [];
  eventCount = 0;
  readonly operations: Record<string, number> = {};
  readonly faults: Record<string, number> = {};
  readonly unbalancedBatches = new Set<number>();
  terminal: Terminal | undefined;
  actor: Machine | undefined;
  /** The recovery menu's own journal access, opened by a recovery login, closed at power off. */
  private recovery: Recovery | undefined;
  damaged = false;
  /** A reopened journal that does not hold what the disk model kept (stops the run after the boot). */
  private modelMismatch: string | undefined;
  boots = 0;
  day = 0;
  step = 0;
  private points = 0;
  private cutAt = -1;
  /** The cut drawn rebuilds the disk: it falls at the first commit or checkpoint from `cutAt` on, in this step or a later one. */
  private cutAtWrite = false;
  /** ... or, for a share of them, as the log writes its next commit over two pages (SimDisk.waitForTwoPageCommit). */
  private cutAtTwoPages = false;
  private cutNow = false;
  private stepsSinceRest = 0;
  private battery: 'ok' | 'low' | 'critical' = 'ok';
  settleTries = 0;
  closing = false;
  private opCtx: { lastSale?: { amountFen: number } } = {};

  constructor(readonly o: SimulateOptions) {
    this.rng = new Rng(o.seed);
    this.diskRng = new Rng((o.seed ^ 0x0d15c0de) >>> 0);
    this.rates = { ...DEFAULT_RATES, ...o.rates };
    this.dir = o.dir ?? simDir();
    this.logger = createLogger('sim', new Writable({ write: (chunk, _enc, cb) => { this.logChunks.push(String(chunk)); cb(); } }));
    this.logger.level = 'debug';
    this.sim = new AcquirerSimulator({ randomBytes: seededRandom(o.seed ^ 0x5eed), clock: () => this.clock.nowMs, logger: this.logger });
    this.disk = new SimDisk(this.dir, this.io, this.rng);
    this.deviceRng = new Rng((o.seed ^ 0x0de71ce5) >>> 0);
    this.chipRng = new Rng((o.seed ^ 0x0c41b0a7) >>> 0);
    this.cardRng = new Rng((o.seed ^ 0x0ca4d5ee) >>> 0);
    this.tapRng = new Rng((o.seed ^ 0x07a9ca4d) >>> 0);
    this.deviceHooks = { clock: this.clock, io: this.io, rng: this.deviceRng, logger: this.logger, fault: (kind) => { this.fault(kind, true); },
      chipCard: () => this.misbehaving(this.cardRng, TEST_CARDS.icDebit, MISBEHAVING_CHIP_CARDS),
      tapCard: () => this.misbehaving(this.tapRng, TEST_CARDS.contactless, MISBEHAVING_TAP_CARDS) };
    if ((o.devices ?? 'wire') === 'wire') {
      const reader = new WireCardReader(this.deviceHooks), printer = new WirePrinter(this.deviceHooks);
      this.wireDevices = { reader, printer, keypad: new SimKeypad(this.deviceRng) };
      this.reader = reader;
      this.printer = printer;
    } else {
      this.wireDevices = undefined;
      this.reader = new StandInCardReader(this.clock);
      this.printer = new SimPrinter();
    }
    this.link = new SimLink(this.sim, this.clock, this.rng, {
      onRequest: () => this.disk.externalEffect(),
      refuseNext: () => this.fault('network-down', this.rng.chance(this.rates.networkDown)),
    });
    this.printer.beforeJob = () => {
      this.disk.externalEffect();
      const paperOut = this.fault('paper-out', this.rng.chance(this.rates.paperOut));
      const coverOpen = this.fault('cover-open', this.rng.chance(this.rates.coverOpen));
      const p = this.printer;
      if (p instanceof SimPrinter) {
        if (paperOut) p.paperOut = true;
        if (coverOpen) p.coverOpen = true;
        return;
      }
      const wp = p as WirePrinter;
      // On the wire: an empty roll is refused before the first byte; a roll that ends mid-receipt
      // stops the job at the block the printer reached (the driver's status poll finds it).
      if (paperOut && this.deviceRng.chance(0.5)) { wp.paperRunsOut(); this.event('paper: the roll ends within the job'); }
      else if (paperOut) wp.paperOut();
      if (coverOpen) wp.openCover();
    };
  }

  /** Power on for the devices: new cables, new drivers (the paper and cover are as they were). */
  private devicesOn(): void {
    this.devicesOff();
    if (!this.wireDevices) return;
    this.wires = new BootWires(this.deviceHooks);
    this.wireDevices.reader.connect(this.wires);
    this.wireDevices.printer.connect(this.wires);
  }

  /** The devices lose power: whatever was on the wires or waiting on a timer is gone. */
  private devicesOff(): void {
    if (!this.wireDevices) { this.reader.cancel(); return; }
    if (!this.wires) return;
    this.wires.kill();
    this.wires = undefined;
    this.wireDevices.reader.disconnect();
    this.wireDevices.printer.disconnect();
  }

  devicesOffAfterFailure(): void { this.devicesOff(); this.clock.clearAll(); }

  /** The wire figures for the report. */
  wireStats(): Record<string, number> {
    if (!this.wireDevices) return {};
    const { reader, printer, keypad } = this.wireDevices;
    const presented = Object.fromEntries(Object.entries(reader.presented).map(([k, v]) => [`presented-${k}`, v]));
    return sortKeys({ ...reader.stats(), ...printer.stats(), ...keypad.counts, ...presented });
  }

  // ------------------------------------------------------------ events and counts

  event(what: string): void {
    const line = `d${this.day} s${this.step} t${this.clock.nowMs - T0_MS} ${what}`;
    this.hash.update(line).update('\n');
    this.eventCount++;
    this.lastEvents.push(line);
    if (this.lastEvents.length > (this.o.lastEventsKept ?? LAST_EVENTS_DEFAULT)) this.lastEvents.shift();
    this.o.onEvent?.(line);
  }

  /** Counts a fault when `happened`; returns `happened`. */
  fault(kind: string, happened: boolean): boolean {
    if (!happened) return false;
    this.faults[kind] = (this.faults[kind] ?? 0) + 1;
    this.event(`FAULT ${kind}`);
    return true;
  }

  get digest(): string { return this.hash.copy().digest('hex'); }
  get recentEvents(): string[] { return [...this.lastEvents]; }

  // ------------------------------------------------------------ the terminal's parts

  private transport(): HostTransport {
    return new HostTransport({ host: 'acquirer.sim', port: 5000, profile: CUP_PROFILE, socketFactory: this.link.socketFactory, clock: this.clock });
  }

  private config() {
    return { ids: { tid: TEST_TERMINAL.tid, mid: TEST_TERMINAL.mid }, profile: CUP_PROFILE, tmk: () => Buffer.from(TEST_TERMINAL.tmk) };
  }

  /** What boot does: open the journal (damaged: recovery mode), replay, build the engine. */
  private async openFromDisk(): Promise<Terminal> {
    const journal = await Journal.open({ dir: this.dir, identity: IDENTITY, clock: this.clock.now, logger: this.logger, walObserver: this.disk.walObserver });
    this.noteReopened(journal);
    if (journal.state === 'damaged') {
      await journal.close();
      throw new PosError('STO_DAMAGED', `journal damaged at record ${journal.damage?.seq}: ${journal.damage?.reason}`, { seq: journal.damage?.seq });
    }
    this.disk.instrument(journal, {
      point: (where) => this.point(where),
      checkpointCut: () => this.checkpointCut(),
      storageFault: () => {
        if (this.fault('storage-eio', this.rng.chance(this.rates.storageEio))) return 'eio';
        if (this.fault('storage-full', this.rng.chance(this.rates.storageFull))) return 'full';
        return undefined;
      },
      onAck: () => undefined,
    });
    const t = openTerminal({
      journal, host: this.transport(), config: this.config(), deviceKey: fixedDeviceKey(DEVICE_KEY), random: seededRandom((this.o.seed * 31 + this.boots) >>> 0),
      clock: this.clock.now, logger: this.logger, scryptN: SCRYPT_N_SIM,
    });
    const login = t.operators.login.bind(t.operators);
    t.operators.login = (n, p) => this.io.track(login(n, p), 'cpu');
    if (this.o.bug && this.o.bug !== 'lying-flush-after-request') injectBug(this.o.bug, t);
    this.terminal = t;
    return t;
  }

  /** Provisioning at the factory: the journal and the three operators. */
  async provision(): Promise<void> {
    const journal = await Journal.open({ dir: this.dir, identity: IDENTITY, clock: this.clock.now, logger: this.logger, walObserver: this.disk.walObserver });
    const t = openTerminal({ journal, host: this.transport(), config: this.config(), deviceKey: fixedDeviceKey(DEVICE_KEY), random: seededRandom(this.o.seed >>> 0), clock: this.clock.now, scryptN: SCRYPT_N_SIM });
    const admin = { operator: '099', role: 'administrator' as const };
    for (const op of OPERATORS) await t.operators.create(op.number, op.role, op.password, op.role === 'administrator' ? undefined : admin);
    await journal.close();
  }

  private machine(): TerminalMachine {
    return createTerminalMachine({
      open: () => this.io.track(this.openFromDisk()),
      selfTest: async () => undefined,
      printer: this.printer,
      readCard: (request, sources) => readCard(this.reader, sources, undefined, request),
      clock: this.clock.now,
      // The QR wait's pauses run on the virtual clock (a CANCEL aborts them like the real ones).
      qrSleep: (ms, signal) => new Promise<void>((resolve, reject) => {
        const handle = this.clock.setTimeout(resolve, ms);
        signal?.addEventListener('abort', () => { this.clock.clearTimeout(handle); reject(signal.reason ?? new Error('aborted')); }, { once: true });
      }),
      lang: this.rng.chance(0.5) ? 'zh' : 'en',
      allowKeyed: true,
      exportJournal: async () => '/media/usb0/journal-export',
      shutdown: async () => undefined,
      recoveryLogin: (operator, password) => this.io.track(this.recoveryLogin(operator, password), 'cpu'),
    });
  }

  /** As boot/terminal-app.ts: Recovery.authenticate reads the operators of a damaged journal. */
  private async recoveryLogin(operator: string, password: string): Promise<Session> {
    const rec = this.recovery ?? (this.recovery = new Recovery({ journalDir: this.dir, backupDir: join(this.dir, 'no-backups'), identity: IDENTITY, clock: this.clock.now, logger: this.logger }));
    const session = await rec.authenticate(operator, password);
    await rec.admit(session).catch(() => undefined);
    return session;
  }

  // ------------------------------------------------------------ power

  async powerOn(): Promise<void> {
    this.boots++;
    this.disk.boot();
    this.terminal = undefined;
    this.cutNow = false;
    this.battery = 'ok';
    this.devicesOn();
    const actor = createActor(this.machine());
    this.actor = actor;
    this.reader.onKeyed = () => { this.disk.externalEffect(); actor.send({ type: 'KEYED', pan: SIM_PANS[1], expiry: '3012' }); };
    actor.start();
    this.event(`power on (boot ${this.boots})`);
    await this.settle('boot');
    const mismatch = this.modelMismatch;
    this.modelMismatch = undefined;
    if (mismatch) throw new Error(`disk model: ${mismatch}`);
    if (!this.terminal) this.dropDiskModelCut();
    const err = this.view.data.error;
    this.event(`booted -> ${this.view.state}${err ? ` [${err.code} ${err.message}]` : ''}`);
  }

  /** The power is cut now: whatever was in flight is abandoned. */
  async powerCut(): Promise<void> {
    this.cutAt = -1;
    this.cutAtWrite = false;
    this.cutAtTwoPages = false;
    const lying = this.disk.cut(this.rng.chance(this.rates.lyingFlush), this.o.bug === 'lying-flush-after-request');
    if (lying) this.fault('lying-flush', true);
    const arrived = this.link.powerCut();
    this.actor?.stop();
    this.devicesOff();
    this.clock.clearAll();
    while (this.io.diskInFlight > 0) await new Promise((r) => setImmediate(r));
    this.io.forgetCpu();
    await this.terminal?.store.journal.close();
    this.diskModelCut();
    const lost = await this.disk.applyCut();
    this.event(`POWER CUT at point ${this.points}: ${arrived} request(s) on the wire reached the host, ${lost} record(s) lost`);
    if (this.fault('bit-flip', this.rng.chance(this.rates.bitFlip))) {
      const flip = await this.disk.flipAtRest();
      if (flip) { this.damaged = true; this.event(`bit flip at rest: record ${flip.seq} byte ${flip.offset} mask ${flip.mask}`); }
    }
    this.terminal = undefined;
    this.clock.advance(this.rng.range(5_000, 20 * 60_000));
    await this.powerOn();
  }

  /** Under an armed disk-model cut: the journal's files rebuilt as a disk holds them (sim/simulate-storage.ts). */
  private diskModelCut(): void {
    const cut = this.disk.rebuildAsDisk(this.diskRng);
    if (!cut || cut.writes === 0 || !this.fault('disk-model-cut', true)) return;
    const log = cut.logCommit;
    const checkpoint = cut.checkpoint;
    this.event(`disk rebuilt as after a real power cut: crash after ${cut.crashAt} of ${cut.events} writes and flushes in flight (unsynced pages torn), last write ${cut.landed ? 'on disk' : 'absent'}`
      + (checkpoint ? `; checkpoint: LMDB transaction ${checkpoint.lmdb ? 'on disk' : 'absent'}, log header ${checkpoint.header ? 'new' : 'old'}` : '')
      + (log ? `; log commit of records ${log.first}..${log.last} (${log.pages} page(s)) ${log.outcome}` : ''));
    this.fault(cut.landed ? 'disk-model-commit-on-disk' : 'disk-model-commit-absent', true);
    if (checkpoint) this.fault('disk-model-checkpoint-cut', true);
    if (checkpoint?.lmdb && !checkpoint.header) this.fault('disk-model-checkpoint-between', true); // in LMDB, the log's header old
    if (log) this.fault(`disk-model-log-commit-${log.outcome}`, true);
  }

  /** A disk-model cut still waiting for a write is not made (see WRITE_POINTS). */
  private dropDiskModelCut(): void {
    if (!this.cutAtWrite) return;
    this.cutAt = -1;
    this.cutAtWrite = false;
    this.cutAtTwoPages = false;
    this.disk.disarmDiskModel();
  }

  /** Right after the journal reopened: it holds what the disk kept of a log commit cut in flight. */
  private noteReopened(journal: Journal): void {
    const r = this.disk.reopened(journal);
    if (!r) return;
    this.event(r.line);
    for (const c of r.counts) this.fault(c, true);
    if (r.mismatch) this.modelMismatch = r.mismatch;
  }

  /** Clean power-off (night, or the technician's reboot): the machine is at rest. */
  async powerOff(): Promise<void> {
    this.dropDiskModelCut();
    this.actor?.stop();
    this.devicesOff();
    this.clock.clearAll();
    while (this.io.diskInFlight > 0) await new Promise((r) => setImmediate(r));
    this.io.forgetCpu();
    await this.terminal?.store.journal.close();
    this.terminal = undefined;
    await this.recovery?.close();
    this.recovery = undefined;
    this.event('power off');
  }

  /** The log writes the commit over two pages a disk-model cut waited for: the power is cut now. */
  private twoPageCut(): void {
    this.cutAt = -1;
    this.cutNow = true;
    this.event('cut point log commit over two pages (disk model)');
  }

  /** A checkpoint cut (rate checkpointCut), unless a cut is drawn already. */
  private checkpointCut(): boolean {
    if (this.cutAt >= 0 || !this.fault('checkpoint-cut', this.diskRng.chance(this.rates.checkpointCut))) return false;
    this.cutNow = true;
    this.event('cut point checkpoint-start (disk model)');
    return true;
  }

  private point(where: string): boolean {
    this.points++;
    if (this.cutAt < 0 || this.points < this.cutAt) return false;
    if (this.cutAtWrite && (this.cutAtTwoPages || !WRITE_POINTS.has(where))) return false;
    this.cutAt = -1;
    this.cutNow = true;
    this.event(`cut point ${where}`);
    return true;
  }

  // ------------------------------------------------------------ steps

  get view(): MachineView {
    return viewOf((this.actor as Machine).getSnapshot());
  }

  private atRest(): boolean {
    const snap = (this.actor as Machine).getSnapshot();
    return snap.status !== 'active' || Object.keys(snap.children).length === 0;
  }

  /** Lets the terminal run to rest; a cut or a stuck terminal ends it. */
  private async settle(what: string): Promise<void> {
    const outcome = await pump({
      clock: this.clock, io: this.io, virtualMsMax: STEP_VIRTUAL_MS_MAX,
      atRest: () => this.atRest(), cut: () => this.cutNow, beforeTimer: () => this.point('timer'),
    });
    if (outcome === 'cut') { await this.powerCut(); return; }
    if (outcome !== 'rest') throw new InvariantFailure('never-stuck', `${what}: ${outcome} at ${this.view.state} after ${STEP_VIRTUAL_MS_MAX / 60_000} virtual minutes`);
    if (this.cutAt >= 0 && !this.cutAtWrite) { this.cutNow = true; this.cutAt = -1; this.event('cut at rest'); await this.powerCut(); }
  }

  async runStep(): Promise<void> {
    this.step++;
    const before = this.view.state;
    // A disk-model cut still waiting for its write is not replaced by a new one.
    if (this.fault('power-cut', this.rng.chance(this.rates.powerCut) && !this.cutAtWrite)) {
      this.cutAt = this.points + 1 + this.rng.int(CUT_POINTS_SPAN);
      this.cutAtWrite = this.diskRng.chance(this.rates.diskModelCut);
      this.cutAtTwoPages = this.cutAtWrite && this.diskRng.chance(TWO_PAGE_CUTS_SHARE);
      if (this.cutAtWrite) this.disk.armDiskModel();
      if (this.cutAtTwoPages) this.disk.waitForTwoPageCommit(() => this.twoPageCut());
    }
    this.battery_();
    const ctx = this.operatorContext();
    const action = nextAction(ctx);
    this.opCtx.lastSale = ctx.lastSale;
    if (action.kind === 'service') await this.service(action.what, action.label);
    else await this.press(action);
    // A disk-model cut waits for the next commit or checkpoint, in a later step if need be, unless
    // a commit overlapping another disarmed the disk model.
    if (!this.cutAtWrite || !this.disk.armed) {
      this.cutAtWrite = false;
      this.cutAtTwoPages = false;
      this.cutAt = -1;
      this.disk.disarmDiskModel();
    }
    this.check(before);
  }

  private operatorContext(): OperatorContext {
    return {
      rng: this.rng, view: this.view, terminal: this.terminal, reader: this.reader, closing: this.closing, settleTries: this.settleTries,
      rates: { wrongPassword: this.rates.wrongPassword, wrongPin: this.rates.wrongPin, garbledReader: this.rates.garbledReader },
      lastSale: this.opCtx.lastSale, recoveryViaMachine: this.o.recoveryViaMachine,
    };
  }

  private battery_(): void {
    if (!this.actor) return;
    if (this.battery === 'ok' && this.fault('battery-low', this.rng.chance(this.rates.batteryLow))) this.battery = 'low';
    else if (this.battery === 'low' && this.fault('battery-critical', this.rng.chance(this.rates.batteryCritical))) this.battery = 'critical';
    else if (this.battery === 'low' && this.rng.chance(0.1)) this.battery = 'ok'; // the charger is plugged in
    else return;
    this.actor.send({ type: 'BATTERY', level: this.battery });
    this.event(`battery ${this.battery}`);
  }

  /** The card a customer inserts or taps: the usual one, or at the misbehavingCard rate one that misbehaves (inserted and tapped on streams of their own). */
  private misbehaving(rng: Rng, usual: ChipCard, cards: ReadonlyArray<keyof typeof TEST_CARDS>): ChipCard {
    if (!rng.chance(this.rates.misbehavingCard)) return usual;
    const name = rng.pick(cards);
    this.fault(`card-${name}`, true);
    return TEST_CARDS[name] as ChipCard;
  }

  private armHostFaults(action: Action & { kind: 'events' }): void {
    const r = this.rates;
    const arm = (kind: string, spec: FaultSpec): void => { this.sim.setFault(spec); this.fault(kind, true); };
    if (this.sim.activeFaults().length >= 2) return;
    if (this.rng.chance(r.hostDelay)) arm('host-delay', { kind: 'delay', delayMs: RESPONSE_TIMEOUT_MS_DEFAULT + this.rng.range(1_000, 30_000) });
    if (this.rng.chance(r.hostDrop)) arm('host-drop', { kind: 'close-before-response' });
    if (this.rng.chance(r.hostMidClose)) arm('host-mid-close', { kind: 'close-mid-response' });
    if (this.rng.chance(r.hostGarbage)) arm('host-garbage', { kind: 'garbage' });
    if (this.rng.chance(r.badMac)) arm('bad-mac', { kind: 'bad-mac' });
    if (this.chipRng.chance(r.wrongArpc)) arm('wrong-arpc', { kind: 'wrong-arpc', type: 'sale' });
    if (this.chipRng.chance(r.issuerScript)) {
      // Not APPLICATION BLOCK: the day's test cards are shared, a blocked one would refuse every later chip sale.
      const script = { template: this.chipRng.pick([0x71, 0x72] as const), command: this.chipRng.pick(['pin-unblock', 'put-data', 'bad-mac'] as const) };
      arm('issuer-script', { kind: 'issuer-script', type: 'sale', script });
    }
    if (this.rng.chance(r.decline)) arm('decline', { kind: 'response-code', code: this.rng.pick(DECLINE_CODES), type: this.rng.pick(['sale', 'refund', 'void'] as const) });
    if (action.wrongPin) arm('wrong-pin', { kind: 'response-code', code: '55', type: this.view.state.startsWith('balance') ? 'balance' : 'sale' });
    if (action.op === 'settle' && this.terminal && this.rng.chance(r.unbalanced)) {
      arm('unbalanced-settlement', { kind: 'unbalanced-settlement', type: 'settlement' });
      this.unbalancedBatches.add(this.terminal.engine.state.batch);
    }
  }

  private async press(action: Action & { kind: 'events' }): Promise<void> {
    const actor = this.actor as Machine;
    if (action.op) this.operations[action.op] = (this.operations[action.op] ?? 0) + 1;
    if (action.op === 'settle') this.settleTries++;
    if (action.fixPrinter) this.printer.fix();
    this.armHostFaults(action);
    this.notePinBlocks(action.events);
    let events = action.events;
    const last = events[events.length - 1];
    if (this.wireDevices) {
      // The key that sends the event (OK, or CANCEL) bounces or sticks on the keypad: the real
      // driver, scanning simulated GPIO lines, decides how many presses the machine gets.
      const fault = this.fault('key-bounce', this.rng.chance(this.rates.keyBounce)) ? 'bounce'
        : this.fault('key-stuck', this.rng.chance(this.rates.keyStuck)) ? 'stuck' : undefined;
      if (fault) {
        const key = last.type === 'CANCEL' ? 'CANCEL' : 'OK';
        const r = await this.wireDevices.keypad.press(key, fault, this.clock.nowMs);
        this.clock.advance(r.elapsedMs);
        this.event(`keypad: ${key} ${fault === 'bounce' ? 'bounced' : 'stuck'} for ${r.elapsedMs} ms, the driver saw ${r.downs} press(es)${r.stuckReported ? ', reported KBD_STUCK' : ''}`);
        events = [...events.slice(0, -1), ...Array<MachineEvent>(r.downs).fill(last)];
      }
    } else if (this.fault('key-bounce', this.rng.chance(this.rates.keyBounce))) events = [...events, last];
    else if (this.fault('key-stuck', this.rng.chance(this.rates.keyStuck))) events = [...events, ...Array<MachineEvent>(this.rng.range(2, 5)).fill(last)];
    const before = this.view.state;
    for (const e of events) actor.send(e);
    await this.settle(action.label);
    const err = this.view.data.error;
    this.event(`${before}: ${action.label} -> ${this.view.state}${err ? ` [${err.code}${err.kind === 'invariant' ? ` ${err.message}` : ''}]` : ''} seq=${this.terminal?.store.journal.lastSeq ?? '-'} host=${this.sim.ledger.size}`);
  }

  private notePinBlocks(events: readonly MachineEvent[]): void {
    const keys = this.sim.workingKeys(TEST_TERMINAL.tid);
    for (const e of events) {
      if (e.type !== 'PIN' || !keys) continue;
      for (const pan of SIM_PANS) this.checker.notePinBlock(pinBlockFormat0(pan, Buffer.from(e.pin), keys.pik));
    }
  }

  private async service(what: 'fix-storage' | 'repair-journal' | 'charge' | 'unlock', label: string): Promise<void> {
    this.event(`service: ${label}`);
    this.operations[`service-${what}`] = (this.operations[`service-${what}`] ?? 0) + 1;
    if (what === 'unlock') {
      const t = this.terminal as Terminal;
      for (const op of OPERATORS) if (t.operators.get(op.number)?.locked) await this.io.track(t.operators.unlock(op.number, { operator: '099', role: 'administrator' }));
      return;
    }
    if (what !== 'charge') await this.powerOff();
    if (what === 'repair-journal') { await this.disk.repair(); this.damaged = false; }
    this.clock.advance(this.rng.range(10 * 60_000, 60 * 60_000));
    await this.powerOn();
  }

  // ------------------------------------------------------------ invariants

  private check(before: string): void {
    const view = this.view;
    this.stepsSinceRest = REST_STATES.has(view.state) ? 0 : this.stepsSinceRest + 1;
    if (this.stepsSinceRest > STEPS_TO_REST_MAX) throw new InvariantFailure('never-stuck', `${this.stepsSinceRest} steps without reaching idle, login, a fault screen or recovery (at ${view.state}, from ${before})`);
    // Idle sells: it must never be reached with nobody logged in (finding 2, fixed in machine.ts).
    if (view.state === 'idle' && !view.data.operator) throw new InvariantFailure('never-stuck', `idle with nobody logged in (from ${before})`);
    this.checker.check({
      // Off: the shutdown closed the journal; there is nothing to read until the next boot.
      terminal: view.state === 'off' ? undefined : this.terminal, view, sim: this.sim, damaged: this.damaged, newLogs: this.logChunks.splice(0).join(''),
      newReceipts: this.printer.unscanned.splice(0), stepId: this.step, unbalancedBatches: this.unbalancedBatches,
    });
  }

  /** Scans the whole journal's files (once a day: the per-step check covers new records); the log keeps a cycle's records after its checkpoint. */
  scanJournalFile(): void {
    for (const name of ['data.mdb', WAL_FILE]) {
      const file = join(this.dir, name);
      if (existsSync(file)) this.checker.noSecrets(`journal file ${name}`, readFileSync(file));
    }
  }

  // ------------------------------------------------------------ a day

  async runDay(day: number): Promise<void> {
    this.day = day;
    this.closing = false;
    this.settleTries = 0;
    this.clock.nowMs = Math.max(this.clock.nowMs, T0_MS + day * DAY_MS);
    this.opCtx = {};
    await this.powerOn();
    this.check('boot');
    const ops = this.rng.range(this.o.opsPerDayMin ?? 15, this.o.opsPerDayMax ?? 45);
    const startOps = this.tradingOps();
    for (let n = 0; n < DAY_STEPS_MAX; n++) {
      if (!this.closing && this.tradingOps() - startOps >= ops) { this.closing = true; this.event('day end: settle and sign off'); }
      if (this.closing && this.dayDone()) break;
      await this.runStep();
      this.clock.advance(this.rng.range(2_000, this.closing ? 30_000 : 12 * 60_000));
    }
    if (!this.dayDone()) throw new InvariantFailure('never-stuck', `day ${day} did not end within ${DAY_STEPS_MAX} steps (at ${this.view.state})`);
    await this.powerOff();
    this.scanJournalFile();
  }

  private tradingOps(): number {
    let n = 0;
    for (const k of ['sale', 'void', 'refund', 'balance', 'reprint'] as OperatorKind[]) n += this.operations[k] ?? 0;
    return n;
  }

  /** Signed off at the login screen (settled, or given up for today), or a fault the night fixes. */
  private dayDone(): boolean {
    const st = this.view.state;
    const s = this.terminal?.engine.state;
    const settled = s !== undefined && s.txns.size === 0 && s.settlement === undefined;
    return st === 'login' && (settled || this.settleTries >= SETTLE_TRIES_MAX) && !(s?.signedOn ?? false);
  }
}

/** Positive controls: a terminal with a bug the invariants must catch. */
function injectBug(bug: Exclude<InjectedBug, 'lying-flush-after-request'>, t: Terminal): void {
  const engine = t.engine;
  if (bug === 'drop-reversal') {
    // Clears the pending reversal in the journal without ever sending it.
    engine.flushReversal = async () => {
      const pr = engine.state.pendingReversal;
      if (!pr) return 'none';
      await engine.store.commit([rec.reversalCleared({ stan: pr.stan, cause: 'reversed', responseCode: '00', tries: 1 })], { reserve: true });
      return 'cleared';
    };
  } else if (bug === 'drop-acknowledged-advice') {
    // The host's acceptance of an advice (00/94) is journaled as a supervisor's give-up: the sale drops out of the totals.
    const commit = engine.store.commit.bind(engine.store);
    const supervisor = OPERATORS.find((o) => o.role === 'supervisor')?.number ?? '002';
    engine.store.commit = (records, options) => commit(records.map((r) => (r.type === 'adviceResult' && r.payload.state === 'sent'
      ? rec.adviceResult({ stan: r.payload.stan as number, state: 'abandoned', responseCode: '--', by: supervisor }) : r)), options);
  } else {
    // Sends every approved sale a second time.
    const sale = engine.sale.bind(engine);
    engine.sale = async (input) => {
      const pin = input.pin && Buffer.from(input.pin);
      const first = await sale(input);
      if (first.outcome === 'approved') await sale({ ...input, pin });
      return first;
    };
  }
}

export async function simulateDays(o: SimulateOptions): Promise<SimulationReport> {
  if (!Number.isSafeInteger(o.seed) || o.days < 1) throw new Error('simulateDays needs an integer seed and days >= 1');
  const s = new Simulation(o);
  let failure: SimFailure | undefined;
  let daysCompleted = 0;
  try {
    await s.provision();
    for (let d = 0; d < o.days; d++) {
      await s.runDay(d);
      daysCompleted++;
    }
  } catch (e) {
    const invariant = e instanceof InvariantFailure ? e.invariant : 'crash';
    const message = e instanceof InvariantFailure ? e.message : e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e);
    s.event(`FAILED ${invariant}: ${message.split('\n')[0]}`);
    failure = { seed: o.seed, day: s.day, step: s.step, invariant, message, lastEvents: s.recentEvents };
    s.actor?.stop();
    s.devicesOffAfterFailure();
    while (s.io.diskInFlight > 0) await new Promise((r) => setImmediate(r));
    await s.terminal?.store.journal.close().catch(() => undefined);
  } finally {
    if (!o.dir) removeDir(s.dir);
  }
  const hostApprovedSales = s.sim.ledger.entries({ tid: TEST_TERMINAL.tid }).filter((e) => e.type === 'sale' && e.status === 'approved').length;
  const hostOfflineSales = s.sim.ledger.entries({ tid: TEST_TERMINAL.tid }).filter((e) => e.type === 'sale' && e.status === 'approved' && e.offline === true).length;
  let batchesClosed = 0;
  for (let b = 1; s.sim.ledger.batchState(TEST_TERMINAL.tid, b)?.closed; b++) batchesClosed++;
  return {
    seed: o.seed, days: o.days, daysCompleted, steps: s.step, operations: sortKeys(s.operations), faults: sortKeys(s.faults),
    invariantChecks: s.checker.checks, boots: s.boots, batchesClosed, hostApprovedSales, hostOfflineSales, givenUpBookedSales: s.checker.givenUpBooked, virtualMs: s.clock.nowMs - T0_MS,
    digest: s.digest, eventCount: s.eventCount, failure, devices: o.devices ?? 'wire', wire: s.wireStats(),
  };
}

function sortKeys(r: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(r).sort(([a], [b]) => a.localeCompare(b)));
}

/** The failure as a person reads it: seed, step, invariant, the last events, how to replay. */
export function formatFailure(f: SimFailure): string {
  return [
    `SIMULATION FAILED  seed=${f.seed}  day=${f.day}  step=${f.step}  invariant=${f.invariant}`,
    `  ${f.message}`,
    '  last events:',
    ...f.lastEvents.map((e) => `    ${e}`),
    `  replay: pos simulate --seed ${f.seed} --days ${f.day + 1}`,
  ].join('\n');
}
