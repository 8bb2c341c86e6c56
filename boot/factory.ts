/**
 * The factory station: provision a terminal's identity and master key, test its hardware, and
 * do both for several terminals at once.
 *
 * provision(): serial, TID, MID, board, locale, and the TMK from 2 or 3 key components (each
 * with its check value, XORed: no one person holds the key). Writes journal records
 * terminalIdentity and settings{kind:"tmk"} (the TMK sealed under the device key: DESIGN.md rule
 * 8) and an adminAction; refuses duplicates (journal already provisioned, or the station
 * registry already has the serial or TID: E-OPR-12) and the simulator's test TID/MID/TMK on a
 * real board (E-KEY-03); prints a label with the serial as a QR code and writes it as PNG.
 *
 * factoryTest(): board self-test per role, printer status + test page with a QR code, reader
 * self-test, battery read, display pattern (read back on the simulator, confirmed by the
 * operator on a real board), every key pressed (scripted on the simulator). Report per test:
 * pass/fail, measured values, error codes; a test that needs a person on an unattended station
 * is `skipped` (pass false, no code: see NeedsPerson).
 *
 * Station modes: factory-station.ts (simulated terminals in this process) and
 * factory-station-boards.ts (board files, one process per terminal).
 */
import { SERVICE_OPERATOR, createServiceAdmin, serviceAdminFile } from './service-admin';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type * as Qr from 'qrcode';
import type * as Pngjs from 'pngjs';
import { Journal } from '../storage/journal';
import { RecordType } from '../storage/record';
import { PosError, invariant, isPosError } from '../common/errors';
import { DeviceKeyProvider, RandomBytes, deviceKeyCheckRecord, seal, unseal } from '../runtime/device-key';
import { keyCheckValue } from '../runtime/host/crypto';
import { rec, RecordInput } from '../runtime/records';
import { SALT_BYTES, SCRYPT_N_DEFAULT, checkPassword, hashPassword, operatorNumber } from '../runtime/operators';
import { Board, BoardConfig, keypadKeys } from '../hal/board';
import { PrintJob, Printer } from '../hal/printer';
import { FrameBuffer, isPixelDisplay } from '../hal/display';
import { KeyName } from '../hal/keypad';
import { maskCode } from '../hal/scanner';
import { CapturedSignature, isSignatureAborted } from '../hal/signature-pad';
import { TOUCH_ACROSS_RATIO_MIN, TOUCH_DRAW_MS_MAX, TOUCH_QUIET_MS, acrossPct, touchCapture, touchPoints } from './touch-check';
import { writeFileAtomic } from './update-slots';
import { isoInZone } from '../common/time';
import { Logger, createLogger } from '../common/log';
import { acquireRegistryLock } from './registry-lock';
import { FirstBootRequest, writeFirstBootRequest } from './first-boot-request';

export const TMK_BYTES = 16;
export const KCV_HEX_CHARS = 6;
export const COMPONENTS_MIN = 2;
export const COMPONENTS_MAX = 3;
export const LOCALES = ['zh-CN', 'en'] as const;
/** How long the station waits for one key press before the key counts as dead. */
export const KEY_PRESS_TIMEOUT_MS_DEFAULT = 10_000;
/** A station never waits longer than this for one terminal: the others go on. */
export const TERMINAL_TIMEOUT_MS_DEFAULT = 120_000;
const LABEL_MODULE_PX = 6;
const LABEL_QUIET_MODULES = 4;

/**
 * The acquirer simulator's test terminal (sim/host/simulator.ts TEST_TERMINAL), kept here as
 * values so the station does not load the simulator: refused on a real board.
 */
export const TEST_IDS = { tid: '12345678', mid: '123456789012345', tmkHex: '0123456789ABCDEFFEDCBA9876543210' } as const;

export interface KeyComponent {
  /** 32 hex digits (a double-length 3DES component). */
  readonly keyHex: string;
  /** The component's check value: first 6 hex digits of 3DES(component, zeros). */
  readonly kcvHex: string;
}

export interface ProvisionInput {
  readonly serial: string;
  readonly tid: string;
  readonly mid: string;
  readonly components: readonly KeyComponent[];
  readonly board: BoardConfig;
  readonly locale: (typeof LOCALES)[number];
  readonly journalDir: string;
  /** The station's registry of provisioned serials and TIDs (shared by every terminal it does). */
  readonly registryFile: string;
  /**
   * The device key the TMK is sealed under; or, for a board whose TPM the station cannot reach
   * (the flashing station), `{ sealAtFirstBoot: FILE }`: no journal is made here, the request FILE
   * is written instead and the terminal makes the journal under a key its TPM seals at its first
   * boot (boot/first-boot-seal.ts).
   */
  readonly deviceKey: DeviceKeyProvider | { readonly sealAtFirstBoot: string };
  readonly random?: RandomBytes;
  readonly clock?: () => number;
  /** Prints the label; without it only the PNG is written. */
  readonly printer?: Printer;
  readonly labelPngFile?: string;
  readonly operator?: string;
  /** Where the service administrator goes (default: service-admin.json beside the journal folder). */
  readonly serviceAdminFile?: string;
  /** scrypt cost of the service password and the merchant administrator's (tests lower it). */
  readonly scryptN?: number;
  /** The merchant's first administrator, made in the journal with the identity (see MerchantAdminInput). */
  readonly merchantAdmin?: MerchantAdminInput;
}

/**
 * The merchant's first administrator (the shop's supervisor, as terminal makers set one up at
 * installation): a real board creates no operator at its first boot, and the service
 * administrator (000, service-admin.json) opens only the recovery menu, never selling. With this
 * the station writes one `operator` record, role administrator (sells, voids, refunds, settles,
 * resets and unlocks operators), in the journal's first commit beside the identity, its password
 * hashed exactly as the terminal's login checks it (runtime/operators.ts: scrypt, a random salt).
 * The password comes from the station's input (a file or its console), never argv, and is not
 * printed or reported; the merchant changes it at the terminal (Settings > 2).
 */
export interface MerchantAdminInput {
  /** As typed at the login screen: 1..3 digits (stored as 3); never 000, the service administrator's. */
  readonly number: string;
  /** 4..12 digits, as every operator password. */
  readonly password: string;
}

/** Checks the merchant administrator before anything is written; the 3-digit number. */
export function checkMerchantAdmin(m: MerchantAdminInput): string {
  const number = operatorNumber(m.number);
  if (!number) throw new PosError('OPR_INPUT', `merchant administrator number "${m.number}": 1 to 3 digits`);
  if (number === SERVICE_OPERATOR) throw new PosError('OPR_INPUT', `merchant administrator number ${number} is the service administrator's: choose another (e.g. 99)`);
  checkPassword(m.password);
  return number;
}

export interface ProvisionReport {
  readonly serial: string;
  readonly tid: string;
  readonly kcvTmk: string;
  readonly testKeys: boolean;
  readonly label: { readonly printed: boolean; readonly code?: string; readonly png?: string };
  /** The service administrator's password (operator 000), shown once here and stored only hashed. */
  readonly servicePassword: string;
  /** The merchant's first administrator's number when one was made (never its password). */
  readonly merchantAdmin?: { readonly operator: string; readonly role: 'administrator' };
}

/** What a written report says of the service password instead of it. */
export const SERVICE_PASSWORD_NOT_STORED = 'shown once on the station console; stored only as a scrypt hash on the terminal';

/**
 * A provisioning as a report file keeps it: everything but the service password, which a report
 * on the station's disk must never hold (it opens the recovery menu of that terminal).
 */
export function provisionRecord(r: ProvisionReport): Omit<ProvisionReport, 'servicePassword'> & { readonly serviceAdmin: { readonly operator: string; readonly password: string } } {
  const { servicePassword: _shownOnce, ...kept } = r;
  return { ...kept, serviceAdmin: { operator: SERVICE_OPERATOR, password: SERVICE_PASSWORD_NOT_STORED } };
}

// ---------------------------------------------------------------- key components

/** XORs the components after checking each one's KCV. Returns the TMK and its KCV. */
export function combineComponents(components: readonly KeyComponent[]): { tmk: Buffer; kcvHex: string } {
  if (components.length < COMPONENTS_MIN || components.length > COMPONENTS_MAX) {
    throw new PosError('OPR_INPUT', `the TMK needs ${COMPONENTS_MIN} or ${COMPONENTS_MAX} components (got ${components.length})`);
  }
  const tmk = Buffer.alloc(TMK_BYTES);
  components.forEach((c, i) => {
    if (!/^[0-9a-fA-F]{32}$/.test(c.keyHex)) throw new PosError('OPR_INPUT', `component ${i + 1} must be 32 hex digits`);
    const key = Buffer.from(c.keyHex, 'hex');
    const kcv = kcvOf(key);
    if (kcv !== c.kcvHex.toUpperCase()) throw new PosError('KEY_CHECK', `component ${i + 1}: check value ${kcv} does not match ${c.kcvHex.toUpperCase()}: re-enter it`, { component: i + 1 });
    for (let b = 0; b < TMK_BYTES; b++) tmk[b] ^= key[b];
    key.fill(0);
  });
  return { tmk, kcvHex: kcvOf(tmk) };
}

export function kcvOf(key: Buffer): string {
  return keyCheckValue(key).toString('hex').toUpperCase().slice(0, KCV_HEX_CHARS);
}

const aadTmk = (tid: string): string => `tmk/${tid}`;

/** The runtime's TerminalConfig.tmk: the TMK unsealed from the provisioning record. */
export function readProvisionedTmk(journal: Journal, deviceKey: DeviceKeyProvider): Buffer {
  let tmkRecord: Record<string, unknown> | undefined;
  let tid: string | undefined;
  for (const r of journal.records()) {
    if (r.type === RecordType.settings && r.payload.kind === 'tmk') tmkRecord = r.payload;
    if (r.type === RecordType.terminalIdentity) tid = String(r.payload.tid);
  }
  if (!tmkRecord || !tid) throw new PosError('KEY_MISSING', 'terminal not provisioned: no master key record (factory station)');
  const tmk = unseal(deviceKey.deviceKey(), tmkRecord.tmkEnc as Uint8Array, aadTmk(tid));
  if (kcvOf(tmk) !== tmkRecord.kcvTmk) throw new PosError('KEY_CHECK', 'master key check value differs from the one provisioned');
  return tmk;
}

// ---------------------------------------------------------------- the station registry

export interface Registry { readonly serials: Record<string, { tid: string; atMs: number }>; readonly tids: Record<string, string> }

let registryChain: Promise<unknown> = Promise.resolve();

/**
 * Runs `fn` holding the registry: one at a time in this process, and a lock file across processes
 * and worker threads (boot/registry-lock.ts: a killed holder's lock is broken, loudly logged).
 */
export function withRegistry<T>(file: string, fn: (r: Registry) => Promise<{ result: T; next?: Registry }>, o: { logger?: Logger; lockWaitMs?: number } = {}): Promise<T> {
  const run = async (): Promise<T> => {
    mkdirSync(dirname(file), { recursive: true });
    const release = await acquireRegistryLock(`${file}.lock`, { logger: o.logger ?? createLogger('factory-registry'), ...(o.lockWaitMs ? { waitMs: o.lockWaitMs } : {}) });
    try {
      const current: Registry = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Registry) : { serials: {}, tids: {} };
      const { result, next } = await fn(current);
      if (next) writeFileAtomic(file, JSON.stringify(next, null, 1) + '\n', dirname(file));
      return result;
    } finally {
      release();
    }
  };
  const p = registryChain.then(run, run);
  registryChain = p.catch(() => undefined);
  return p;
}

// ---------------------------------------------------------------- provision

function checkIds(i: ProvisionInput): void {
  if (!/^[A-Z0-9-]{4,32}$/.test(i.serial)) throw new PosError('OPR_INPUT', `serial "${i.serial}": 4..32 of A-Z 0-9 -`);
  if (!/^[\x21-\x7e]{8}$/.test(i.tid)) throw new PosError('OPR_INPUT', `TID "${i.tid}" must be 8 printable characters`);
  if (!/^[\x21-\x7e]{15}$/.test(i.mid)) throw new PosError('OPR_INPUT', `MID "${i.mid}" must be 15 printable characters`);
  if (!(LOCALES as readonly string[]).includes(i.locale)) throw new PosError('OPR_INPUT', `locale must be ${LOCALES.join(' or ')}`);
}

/** Provisions one terminal; see the file header. Nothing is written when a check fails. */
export async function provision(i: ProvisionInput): Promise<ProvisionReport> {
  checkIds(i);
  const merchantNumber = i.merchantAdmin ? checkMerchantAdmin(i.merchantAdmin) : undefined;
  const { tmk, kcvHex } = combineComponents(i.components);
  const testKeys = tmk.equals(Buffer.from(TEST_IDS.tmkHex, 'hex')) || i.tid === TEST_IDS.tid || i.mid === TEST_IDS.mid;
  if (testKeys && !i.board.simulator) {
    tmk.fill(0);
    throw new PosError('KEY_TEST_ON_REAL', `board "${i.board.board}" is not a simulator: the test TID/MID/TMK are refused`, { serial: i.serial });
  }
  const clock = i.clock ?? Date.now;
  await withRegistry(i.registryFile, async (reg) => {
    if (reg.serials[i.serial]) throw new PosError('OPR_PROVISIONED', `serial ${i.serial} was provisioned already (TID ${reg.serials[i.serial].tid})`, { serial: i.serial });
    if (reg.tids[i.tid]) throw new PosError('OPR_PROVISIONED', `TID ${i.tid} is already used by ${reg.tids[i.tid]}`, { tid: i.tid });
    const admin = i.merchantAdmin && merchantNumber ? await merchantAdminRecord(i.merchantAdmin, merchantNumber, i) : undefined;
    if ('sealAtFirstBoot' in i.deviceKey) {
      writeFirstBootRequest(i.deviceKey.sealAtFirstBoot, firstBootRequestOf(i, tmk, kcvHex, testKeys, admin));
    } else {
      await writeIdentity({ ...i, boardName: i.board.board, deviceKey: i.deviceKey }, tmk, kcvHex, testKeys, clock, admin);
    }
    return { result: undefined, next: { serials: { ...reg.serials, [i.serial]: { tid: i.tid, atMs: clock() } }, tids: { ...reg.tids, [i.tid]: i.serial } } };
  });
  tmk.fill(0);
  const servicePassword = await createServiceAdmin(i.serviceAdminFile ?? serviceAdminFile(i.journalDir), { random: i.random, clock, scryptN: i.scryptN });
  const label = await printLabel(i);
  return { serial: i.serial, tid: i.tid, kcvTmk: kcvHex, testKeys, label, servicePassword, ...(merchantNumber ? { merchantAdmin: { operator: merchantNumber, role: 'administrator' as const } } : {}) };
}

function firstBootRequestOf(i: ProvisionInput, tmk: Buffer, kcvHex: string, testKeys: boolean, admin: RecordInput | undefined): FirstBootRequest {
  const op = admin?.payload as { number: string; salt: Buffer; passwordHash: Buffer; scryptN: number } | undefined;
  return {
    serial: i.serial, tid: i.tid, mid: i.mid, boardName: i.board.board, locale: i.locale, operator: i.operator ?? 'station', testKeys,
    tmkHex: tmk.toString('hex').toUpperCase(), kcvTmk: kcvHex,
    ...(op ? { merchantAdmin: { number: op.number, saltHex: Buffer.from(op.salt).toString('hex'), passwordHashHex: Buffer.from(op.passwordHash).toString('hex'), scryptN: op.scryptN } } : {}),
  };
}

/** The merchant administrator's `operator` record, as Operators.create writes one (`number` from checkMerchantAdmin). */
export async function merchantAdminRecord(m: MerchantAdminInput, number: string, o: { random?: RandomBytes; scryptN?: number } = {}): Promise<RecordInput> {
  const salt = (o.random ?? randomBytes)(SALT_BYTES);
  const scryptN = o.scryptN ?? SCRYPT_N_DEFAULT;
  const passwordHash = await hashPassword(m.password, salt, scryptN);
  return rec.operator({ number, role: 'administrator', passwordHash, salt, scryptN, failedAttempts: 0, locked: false, event: 'created' });
}

/** What a journal's first commit is made from: at the station (provision), or at a TPM board's first boot (boot/tpm-provision.ts). */
export interface IdentityInput {
  readonly serial: string;
  readonly tid: string;
  readonly mid: string;
  readonly boardName: string;
  readonly locale: string;
  readonly journalDir: string;
  readonly deviceKey: DeviceKeyProvider;
  readonly random?: RandomBytes;
  readonly operator?: string;
}

/** The journal created with identity, sealed TMK, device key check and the provisioning's admin action in one commit. */
export async function writeIdentity(i: IdentityInput, tmk: Buffer, kcvHex: string, testKeys: boolean, clock: () => number, merchantAdmin?: RecordInput): Promise<void> {
  const tmkEnc = seal(i.deviceKey.deviceKey(), tmk, aadTmk(i.tid), i.random ?? randomBytes);
  type Genesis = { type: RecordInput['type']; payload: RecordInput['payload'] };
  const records = (identity: string): Genesis[] => ([
    rec.terminalIdentity({ serial: i.serial, tid: i.tid, mid: i.mid, board: i.boardName, locale: i.locale as (typeof LOCALES)[number], testKeys }),
    { type: 'settings', payload: { kind: 'tmk', tmkEnc, kcvTmk: kcvHex } },
    // Checked at every boot: the device key that sealed the TMK is the one the terminal has.
    deviceKeyCheckRecord(i.deviceKey.deviceKey(), identity),
    rec.adminAction({ action: 'factory:provision', operator: i.operator ?? 'station', result: `ok kcv ${kcvHex}${testKeys ? ' TEST KEYS' : ''}` }),
    ...(merchantAdmin ? [merchantAdmin] : []),
  ] as Genesis[]).map((r) => ({ type: r.type, payload: r.payload }));
  // A blank terminal: the journal is created with its identity in one commit (Journal.open
  // `genesis`, used only when the journal holds no record yet), as boot creates the simulator's,
  // so a cut at provisioning leaves no journal or a provisioned one, never a journal with record 1
  // alone (issue 13 item 5).
  const j = await Journal.open({ dir: i.journalDir, identity: i.serial, clock, genesis: records(i.serial) }).catch((e: unknown) => {
    // The storage already holds another terminal's journal: that terminal was provisioned.
    if (isPosError(e) && e.id === 'STO_IDENTITY') throw new PosError('OPR_PROVISIONED', `${i.journalDir}: holds another terminal's journal (${e.message})`, { serial: i.serial });
    throw e;
  });
  try {
    if (j.openReport.lastGoodSeq === 0) return; // created just now, identity included
    // A journal that exists already (created by an earlier boot, or restored): provisioned once only.
    for (const r of j.records()) {
      if (r.type === RecordType.terminalIdentity) throw new PosError('OPR_PROVISIONED', `${i.journalDir}: terminal ${j.identity} is provisioned already`, { serial: j.identity });
    }
    await j.appendMany(records(j.identity));
  } finally {
    await j.close();
  }
}

export function labelJob(serial: string, tid: string): PrintJob {
  return {
    label: `label ${serial}`,
    blocks: [
      { kind: 'text', text: `SN ${serial}`, align: 'center', bold: true, label: 'serial' },
      { kind: 'qr', data: serial, errorCorrection: 'M', align: 'center', label: 'serial QR' },
      { kind: 'text', text: `TID ${tid}`, align: 'center', label: 'tid' },
      { kind: 'feed', lines: 2 },
      { kind: 'cut', label: 'cut' },
    ],
  };
}

/** The label: printed when a printer is given (a printer fault is reported, not thrown) and as PNG. */
async function printLabel(i: ProvisionInput): Promise<ProvisionReport['label']> {
  let png: string | undefined;
  if (i.labelPngFile) {
    mkdirSync(dirname(i.labelPngFile), { recursive: true });
    writeFileSync(i.labelPngFile, qrPng(i.serial));
    png = i.labelPngFile;
  }
  if (!i.printer) return { printed: false, ...(png ? { png } : {}) };
  try {
    await printChecked(i.printer, labelJob(i.serial, i.tid));
    return { printed: true, ...(png ? { png } : {}) };
  } catch (e) {
    if (!isPosError(e)) throw e;
    return { printed: false, code: e.code, ...(png ? { png } : {}) };
  }
}

/** A QR code of `data` as a PNG (black modules on white, quiet zone included). */
export function qrPng(data: string): Buffer {
  // Loaded here, not at import: the terminal imports this file for readProvisionedTmk at every
  // boot, and the QR encoder and pngjs are for the factory's label only (issue 14: start time).
  const QRCode = require('qrcode/lib/core/qrcode') as Pick<typeof Qr, 'create'>;
  const { PNG } = require('pngjs') as typeof Pngjs;
  const qr = QRCode.create(data, { errorCorrectionLevel: 'M' });
  const n = qr.modules.size;
  const side = (n + 2 * LABEL_QUIET_MODULES) * LABEL_MODULE_PX;
  const png = new PNG({ width: side, height: side });
  png.data.fill(255);
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      if (!qr.modules.get(y, x)) continue;
      for (let dy = 0; dy < LABEL_MODULE_PX; dy++) {
        for (let dx = 0; dx < LABEL_MODULE_PX; dx++) {
          const at = (((y + LABEL_QUIET_MODULES) * LABEL_MODULE_PX + dy) * side + (x + LABEL_QUIET_MODULES) * LABEL_MODULE_PX + dx) * 4;
          png.data[at] = png.data[at + 1] = png.data[at + 2] = 0;
        }
      }
    }
  }
  return PNG.sync.write(png);
}

/** Status first (a faulted printer is named by its status, not by a timed-out job), then print. */
async function printChecked(printer: Printer, job: PrintJob): Promise<Record<string, unknown>> {
  const st = await printer.status();
  if (st.fault) throw new PosError('PRN_FAULT', 'printer reports a fault (cutter, head or unrecoverable)');
  if (st.coverOpen) throw new PosError('PRN_COVER_OPEN', 'printer cover open');
  if (st.paperOut) throw new PosError('PRN_PAPER_OUT', 'printer out of paper');
  const r = await printer.print(job);
  return { ...st, blocksPrinted: r.blocksPrinted, bytesSent: r.bytesSent };
}

// ---------------------------------------------------------------- hardware test

/**
 * Thrown by Prompts that cannot reach a person (an unattended station): the test that asked is
 * reported `skipped`, not passed and not failed, and the next test runs.
 */
export class NeedsPerson extends Error {
  constructor(readonly what: string) {
    super(`needs a person: ${what} (unattended)`);
    this.name = 'NeedsPerson';
  }
}

/** Prompts for an unattended station: every question needs a person, so every one is skipped. */
export const unattendedPrompts: Prompts = {
  pressKey: async (key) => { throw new NeedsPerson(`press ${key}`); },
  confirm: async (question) => { throw new NeedsPerson(question); },
};

/** What the test cannot do alone: on a real board an operator answers; the simulator scripts it. */
export interface Prompts {
  /** Asks for `key` to be pressed (the simulator presses it). */
  pressKey(key: KeyName): Promise<void>;
  /** A yes/no question (display pattern shown?). */
  confirm(question: string): Promise<boolean>;
  /** Reads the display back (simulator only): true when the pattern is exactly on the panel. */
  readBackDisplay?(pattern: FrameBuffer | string[]): boolean;
  /** Draws a line across the signature pad, edge to edge (simulator only); else the operator is asked to (confirm). */
  drawAcrossPad?(): Promise<void>;
  /** Holds `code` in front of the scan engine (simulator only); else the operator is asked to show the test page's QR (confirm). */
  showToScanner?(code: string): Promise<void>;
}

export interface TestResult {
  readonly name: string;
  /** False for a failed test and for a skipped one: a skipped test is never a pass. */
  readonly pass: boolean;
  /** Set when the test needed a person and the station ran unattended (`codes` is then empty). */
  readonly skipped?: true;
  readonly values: Record<string, unknown>;
  readonly codes: string[];
  readonly ms: number;
}

export interface TestReport {
  readonly serial: string;
  readonly board: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly pass: boolean;
  readonly tests: TestResult[];
}

export interface FactoryTestOptions {
  readonly serial: string;
  readonly prompts: Prompts;
  readonly keyPressTimeoutMs?: number;
  readonly clock?: () => number;
  /** Called with each test's name before it runs (station progress, time-limit reports). */
  readonly onTest?: (name: string) => void;
}

type Measure = () => Promise<Record<string, unknown>>;

async function measure(name: string, fn: Measure): Promise<TestResult> {
  const t0 = performance.now();
  try {
    const values = await fn();
    return { name, pass: true, values, codes: [], ms: Math.round(performance.now() - t0) };
  } catch (e) {
    if (e instanceof NeedsPerson) return { name, pass: false, skipped: true, values: { reason: e.message }, codes: [], ms: Math.round(performance.now() - t0) };
    if (!isPosError(e)) throw e;
    return { name, pass: false, values: { ...e.detail, message: e.message }, codes: [e.code], ms: Math.round(performance.now() - t0) };
  }
}

/** Runs every test (a failed one never stops the next) and returns the report. */
export async function factoryTest(board: Board, o: FactoryTestOptions): Promise<TestReport> {
  const clock = o.clock ?? Date.now;
  // The report's times carry the board's zone offset: read beside the terminal's own screen and slips.
  const zone = board.config.tzOffsetMinutes;
  const startedAt = isoInZone(clock(), zone);
  const tests: TestResult[] = [];
  const t0 = performance.now();
  const measureNamed = (name: string, fn: Measure): Promise<TestResult> => { o.onTest?.(name); return measure(name, fn); };
  o.onTest?.('self-test');
  for (const r of await board.selfTest()) {
    tests.push({ name: `self-test ${r.role}`, pass: r.ok, values: r.error ? { message: r.error.message } : {}, codes: r.error ? [r.error.code] : [], ms: 0 });
  }
  tests[0] && (tests[0] = { ...tests[0], ms: Math.round(performance.now() - t0) });
  tests.push(await measureNamed('printer test page', () => printChecked(board.printer(), testPage(o.serial))));
  tests.push(await measureNamed('reader', async () => ({ ...(await board.reader().selfTest()) })));
  tests.push(await measureNamed('battery', async () => {
    const s = await board.battery().read();
    if (s.fault) throw s.fault;
    return { percent: s.percent, voltageMv: s.voltageMv, charging: s.charging, level: s.level };
  }));
  // The radios, where the board has them: read without a person (the display and keys need one).
  for (const role of rolesOfType(board, 'quectel-modem')) tests.push(await measureNamed(`modem ${role}`, () => modemTest(board, role)));
  for (const role of rolesOfType(board, 'wpa-supplicant')) tests.push(await measureNamed(`wifi scan ${role}`, () => wifiTest(board, role)));
  tests.push(await measureNamed('display pattern', () => displayTest(board, o.prompts)));
  if (board.signaturePad()) tests.push(await measureNamed('touch panel', () => touchTest(board, o.prompts)));
  if (board.scanner()) tests.push(await measureNamed('scanner reads the test page', () => scannerTest(board, o.prompts, o.serial)));
  tests.push(await measureNamed('keypad every key', () => keypadTest(board, o.prompts, o.keyPressTimeoutMs ?? KEY_PRESS_TIMEOUT_MS_DEFAULT)));
  return { serial: o.serial, board: board.config.board, startedAt, finishedAt: isoInZone(clock(), zone), pass: tests.every((t) => t.pass), tests };
}

function rolesOfType(board: Board, type: string): string[] {
  return Object.entries(board.config.devices).filter(([, dc]) => dc?.type === type).map(([role]) => role);
}

/**
 * The 4G module answers (its identity: the IMEI goes into the report beside the serial, for the
 * records the operator is asked for) and says its SIM, signal and registration. The module is what
 * the line tests: a SIM is often fitted later (the acquirer's), so its state is reported, not failed.
 */
async function modemTest(board: Board, role: string): Promise<Record<string, unknown>> {
  const modem = board.modem(role);
  if (!modem) throw new PosError('NET_MODEM', `${role}: no modem on this board`, { role });
  const id = await modem.identity();
  const s = await modem.status();
  return { imei: id.imei, model: id.model, firmware: id.firmware, sim: s.sim, ...(s.iccid ? { iccid: s.iccid } : {}), csq: s.signal.csq, bars: s.signal.bars, registration: s.registration };
}

/**
 * The Wi-Fi radio hears something: at least one network (a factory floor always has one; a station
 * may set up its own reference access point). None heard is E-NET-30 (antenna, radio module).
 */
async function wifiTest(board: Board, role: string): Promise<Record<string, unknown>> {
  const wifi = board.wifi(role);
  if (!wifi) throw new PosError('NET_WIFI_CTRL', `${role}: no Wi-Fi on this board`, { role });
  const heard = await wifi.scan();
  if (heard.length === 0) throw new PosError('NET_WIFI_NOT_FOUND', `${role}: the scan heard no Wi-Fi network: check the antenna and the radio module`, { role, heard: 0 });
  const best = heard[0];
  return { heard: heard.length, strongest: best.ssid, signalDbm: best.signalDbm, frequencyMhz: best.frequencyMhz };
}

/**
 * The signature pad's touch panel (boot/touch-check.ts, as diagnostics checks it): the pad answers;
 * nothing is read while nobody touches it for TOUCH_QUIET_MS (else E-BRD-06: a dirty or damaged
 * panel); a line the operator draws across it is read over TOUCH_ACROSS_RATIO_MIN of its width
 * (else E-BRD-06; nothing read: E-BRD-05).
 */
async function touchTest(board: Board, prompts: Prompts): Promise<Record<string, unknown>> {
  const pad = board.signaturePad();
  if (!pad) throw new PosError('BRD_SIGNATURE_PAD', 'no signature pad on this board');
  // The pad's own failures are E-BRD-05, as diagnostics names them (the bus's code is in the message).
  const padFault = (e: unknown): PosError => (isSignatureAborted(e) ? e : new PosError('BRD_SIGNATURE_PAD', `signature pad: ${e instanceof Error ? e.message : String(e)}`, {}, { cause: e }));
  try { await pad.check(); } catch (e) { throw padFault(e); }
  let quietPoints = 0;
  const quiet = await touchCapture(pad, TOUCH_QUIET_MS, (strokes) => { quietPoints = touchPoints(strokes); }).then(() => undefined, (e: unknown) => e);
  if (!isSignatureAborted(quiet) || quiet.reason !== 'timeout') throw padFault(quiet);
  if (quietPoints > 0) throw new PosError('BRD_TOUCH', `${quietPoints} touch points read with nobody touching the pad`, { points: quietPoints });
  let drawnPoints = 0;
  const drawn = touchCapture(pad, TOUCH_DRAW_MS_MAX, (strokes) => { drawnPoints = touchPoints(strokes); });
  drawn.catch(() => undefined); // judged below; a cancel after NeedsPerson is not an unhandled rejection
  try {
    const done = prompts.drawAcrossPad ? (await prompts.drawAcrossPad(), true)
      : await prompts.confirm('Draw a line across the signature pad from edge to edge, then answer y');
    if (!done) throw new PosError('BRD_TOUCH', 'the operator could not draw a line across the pad', { points: drawnPoints });
    pad.confirm();
  } catch (e) {
    pad.cancel();
    throw e;
  }
  let captured: CapturedSignature;
  try {
    captured = await drawn;
  } catch (e) {
    if (isSignatureAborted(e) && e.reason === 'empty') throw new PosError('BRD_SIGNATURE_PAD', 'nothing drawn was read');
    throw padFault(e);
  }
  const pct = acrossPct(captured.strokes, pad.area.width);
  if (pct < 100 * TOUCH_ACROSS_RATIO_MIN) throw new PosError('BRD_TOUCH', `a line across the pad read over ${pct}% of its width`, { pct });
  return { acrossPct: pct, points: touchPoints(captured.strokes) };
}

/** The test page's QR code: what the scanner test expects the engine to read back. */
export function testPageCode(serial: string): string {
  return `pos-factory-test:${serial}`;
}

/** How long the scanner test waits for the test page's QR (as diagnostics' scanner test). */
export const FACTORY_SCAN_MS_MAX = 20_000;

/**
 * The 2D scan engine (boards with scanner0) reads the QR code of the test page the printer just
 * printed: the port answers, the code is read within FACTORY_SCAN_MS_MAX and is exactly the page's
 * (another code, or a garbled one: E-SCN-03; none: E-SCN-01). The printer and the engine checked
 * by one sheet, as a line worker holds it up.
 */
async function scannerTest(board: Board, prompts: Prompts, serial: string): Promise<Record<string, unknown>> {
  const sc = board.scanner();
  if (!sc) throw new PosError('SCN_DISCONNECTED', 'no scan engine on this board');
  await sc.check();
  const want = testPageCode(serial);
  const stop = new AbortController();
  const read = sc.scan(FACTORY_SCAN_MS_MAX, stop.signal);
  read.catch(() => undefined); // judged below; stopped after NeedsPerson is not an unhandled rejection
  try {
    const shown = prompts.showToScanner ? (await prompts.showToScanner(want), true)
      : await prompts.confirm('Hold the test page\'s QR code in front of the scanner, then answer y');
    if (!shown) throw new PosError('SCN_NO_CODE', 'the operator could not show the test page to the scanner');
  } catch (e) {
    stop.abort();
    throw e;
  }
  const code = await read;
  if (code !== want) throw new PosError('SCN_GARBLED', `the scanner read a ${code.length}-character code ending ${maskCode(code).slice(-4)}, not the test page's`, { length: code.length });
  return { length: code.length };
}

function testPage(serial: string): PrintJob {
  return {
    label: 'factory test page',
    blocks: [
      { kind: 'text', text: 'FACTORY TEST 工厂测试', align: 'center', bold: true },
      { kind: 'text', text: `SN ${serial}\n0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ` },
      { kind: 'qr', data: testPageCode(serial), align: 'center', label: 'test QR' },
      { kind: 'feed', lines: 2 }, { kind: 'cut' },
    ],
  };
}

async function displayTest(board: Board, prompts: Prompts): Promise<Record<string, unknown>> {
  const d = board.display();
  await d.init();
  let pattern: FrameBuffer | string[];
  if (isPixelDisplay(d)) {
    const fb = new FrameBuffer(d.capabilities.width, d.capabilities.height);
    for (let y = 0; y < fb.height; y++) for (let x = 0; x < fb.width; x++) fb.set(x, y, ((x >> 3) + (y >> 3)) % 2 === 0);
    await d.drawFrame(fb);
    pattern = fb;
  } else {
    const rows = Array.from({ length: d.capabilities.rows }, (_, r) => (r % 2 ? '#-' : '-#').repeat(d.capabilities.cols).slice(0, d.capabilities.cols));
    for (const [r, text] of rows.entries()) await d.writeText(r, 0, text);
    pattern = rows;
  }
  const how = prompts.readBackDisplay ? 'read back' : 'operator';
  const ok = prompts.readBackDisplay ? prompts.readBackDisplay(pattern) : await prompts.confirm('Is a checkerboard shown on the whole display?');
  await d.clear();
  if (!ok) throw new PosError('DSP_FAULT', `display pattern not shown (${how})`, { how });
  return { kind: d.capabilities.kind, how };
}

async function keypadTest(board: Board, prompts: Prompts, timeoutMs: number): Promise<Record<string, unknown>> {
  const keypad = board.keypad();
  const stuck = keypad.stuck();
  if (stuck.length) throw new PosError('KBD_STUCK', `keys stuck: ${stuck.join(' ')}`, { stuck });
  // Every key the board has, an evdev keypad's too (its keymap names them all).
  const keys = keypadKeys(board.config.devices.keypad0);
  const seen = new Set<KeyName>();
  const waiters = new Map<KeyName, () => void>();
  const off = keypad.onKey((e) => { if (e.type === 'down') { seen.add(e.key); waiters.get(e.key)?.(); } });
  try {
    for (const key of keys) {
      // The wait starts once the prompt is out (a station's console may be busy with another
      // terminal before that); a press that comes sooner is caught all the same.
      let pressed!: (down: boolean) => void;
      const down = new Promise<boolean>((resolve) => { pressed = resolve; });
      waiters.set(key, () => pressed(true));
      await prompts.pressKey(key);
      const timer = setTimeout(() => pressed(false), timeoutMs);
      const ok = seen.has(key) || (await down);
      clearTimeout(timer);
      if (!ok) throw new PosError('KBD_DEAD', `key ${key} not detected within ${timeoutMs} ms`, { key, detected: seen.size, keys: keys.length });
      waiters.delete(key);
      if (keypad.stuck().length) throw new PosError('KBD_STUCK', `key stuck: ${keypad.stuck().join(' ')}`, { stuck: keypad.stuck() });
    }
  } finally {
    off();
  }
  return { keys: keys.length, detected: seen.size };
}

/** The faults the simulated station can give a terminal (`pos factory station --faults N:KIND`). */
export const STATION_FAULT_KINDS = ['printer', 'stuck-key', 'modem-silent', 'no-wifi'] as const;
export type StationFault = typeof STATION_FAULT_KINDS[number];

/**
 * Writes a report as `<dir>/<serial>.json`, durably. A `servicePassword` anywhere in it is left
 * out: the station keeps it in memory for its console, and a caller that passes the whole
 * provisioning result must not put it on disk.
 */
export function writeReport(dir: string, report: TestReport): string {
  mkdirSync(dir, { recursive: true });
  // A serial refused as provisioned already (E-OPR-12, a station run again) is reported beside
  // the terminal's own report, never over it: that one says how the terminal passed.
  const refused = (report as { provision?: { codes?: unknown } }).provision?.codes;
  const again = Array.isArray(refused) && refused.includes('E-OPR-12');
  const file = join(dir, `${report.serial}${again ? '.refused' : ''}.json`);
  writeFileAtomic(file, JSON.stringify(report, (key, value: unknown) => (key === 'servicePassword' ? undefined : value), 1) + '\n', dir);
  return file;
}
