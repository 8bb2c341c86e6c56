/**
 * The A/B software slots and their state file (boot/UPDATE_FORMAT.md, "Slots"). Node built-ins
 * only, so the boot selector can run before anything else of the product is trusted.
 *
 *   <root>/slotA/  <root>/slotB/   each a complete software tree plus manifest.json / manifest.sig
 *   <root>/state.json              { active, pending?, tries, versions, last? }
 *   <root>/boot-slot               "A\n" or "B\n": the unit's shell boots that slot without a
 *                                  selector process (present only when nothing is pending)
 *
 * Invariants (checked by `checkConsistent`, relied on by every step):
 *   I1  the active slot is never written while it is active;
 *   I2  `pending`, when set, names the OTHER slot and that slot is complete (every file of its
 *       manifest present with its SHA-256): a slot is renamed into place whole, and `pending` is
 *       written only after the rename is durable;
 *   I3  state.json is replaced atomically (temp file, fsync, rename, fsync of the directory),
 *       so after a power cut it is the old state or the new one, never a mix;
 *   I4  `active` changes only in `confirm` (the health check on a trial boot passed);
 *   I5  boot-slot, when present, names the active slot of a state with nothing pending: it is
 *       removed durably before any state that differs from it is written, and written (atomically,
 *       as I3) only after a state with nothing pending is durable. So the unit's shell, which
 *       boots the slot it names and runs the selector (`pos update boot`) only without it, starts
 *       a second node process only on the boots that decide something: a trial, a rollback.
 * A power cut at any step therefore leaves the running version untouched: at worst a half
 * staged directory (.staging-*, .old-*), which `cleanLeftovers` removes.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fsyncDir } from '../common/fsync';
import { PosError } from '../common/errors';

export type SlotName = 'A' | 'B';

export interface SlotState {
  readonly format: 1;
  readonly active: SlotName;
  /** Installed and verified, waiting for its first boot and health check. */
  readonly pending?: SlotName;
  /** Boots tried from `pending` so far. */
  readonly tries: number;
  /** When the first trial boot from `pending` began (the confirmation deadline runs from here). */
  readonly trialStartedMs?: number;
  /**
   * The current trial boot on the kernel's boot-time clock: within that boot the deadline is
   * timed on it, since the wall clock may be stepped by hours meanwhile (NTP after a dead RTC).
   */
  readonly trialBoot?: { readonly bootId: string; readonly uptimeMs: number };
  readonly versions: Partial<Record<SlotName, string>>;
  readonly last?: { readonly result: 'installed' | 'confirmed' | 'rolled-back'; readonly version: string; readonly atMs: number; readonly reason?: string };
}

/** Boots from a pending slot before it is rolled back: its first boot either confirms or fails. */
/** This module's file: the flashing station keys its kept image on the code that writes slot state (boot/flash/golden-cache.ts). */
export const UPDATE_SLOTS_SOURCE_FILE = __filename;
export const BOOT_TRIES_MAX_DEFAULT = 1;
/** A trial boot that neither confirms nor fails within this is rolled back (rollbackIfOverdue). */
export const CONFIRM_WITHIN_MS_DEFAULT = 5 * 60_000;
export const STATE_FILE = 'state.json';
/** The normal boot's decision for the unit's shell (I5; boot/pos-terminal.service reads it). */
export const BOOT_SLOT_FILE = 'boot-slot';
const STATE_BYTES_MAX = 64 * 1024;

export function slotDir(root: string, slot: SlotName): string {
  return join(root, `slot${slot}`);
}

export function otherSlot(slot: SlotName): SlotName {
  return slot === 'A' ? 'B' : 'A';
}

/** Writes a file durably: temp file in the same directory, fsync, rename, fsync the directory. */
export function writeFileAtomic(file: string, bytes: Buffer | string, dir: string, mode = 0o644): void {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  fsyncDir(dir);
}

/** state.json damaged (E-UPD-07): not JSON, the wrong shape, too large. */
export class SlotStateError extends PosError {
  constructor(message: string) { super('UPD_STATE_DAMAGED', message); }
}

export function readState(root: string): SlotState {
  const file = join(root, STATE_FILE);
  // Never set up (not damaged): the technician's next step is `pos update init` (E-UPD-06).
  if (!existsSync(file)) throw new PosError('UPD_NOT_SET_UP', `${file}: no slot state (run "pos update init")`);
  let text: string;
  try {
    // The size before the bytes: a file grown huge must not cost the boot its memory.
    if (statSync(file).size > STATE_BYTES_MAX) throw new SlotStateError(`${file}: too large`);
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof SlotStateError) throw e;
    throw new SlotStateError(`${file}: unreadable (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  let s: SlotState;
  try {
    s = JSON.parse(text) as SlotState;
  } catch {
    throw new SlotStateError(`${file}: not valid JSON (${text.length} bytes)`);
  }
  if (!isSlotState(s)) throw new SlotStateError(`${file}: not a valid slot state`);
  return s;
}

/** Every field the selector and the status read, of the type they read it as. */
function isSlotState(s: unknown): s is SlotState {
  const slots: readonly unknown[] = ['A', 'B'];
  if (typeof s !== 'object' || s === null) return false;
  const o = s as Record<string, unknown>;
  const versions = o.versions as Record<string, unknown> | undefined;
  return o.format === 1 && slots.includes(o.active) && (o.pending === undefined || (slots.includes(o.pending) && o.pending !== o.active))
    && Number.isSafeInteger(o.tries) && (o.tries as number) >= 0
    && (o.trialStartedMs === undefined || typeof o.trialStartedMs === 'number')
    && typeof versions === 'object' && versions !== null && Object.values(versions).every((v) => v === undefined || typeof v === 'string')
    && (o.last === undefined || (typeof o.last === 'object' && o.last !== null && typeof (o.last as Record<string, unknown>).version === 'string' && typeof (o.last as Record<string, unknown>).atMs === 'number'));
}

/**
 * Writes the state (I3) and keeps boot-slot true to it (I5): a boot-slot that would disagree
 * with the new state is gone from the disk before the state is written, and the new one is
 * written only once the state is durable. A power cut between the steps leaves no boot-slot,
 * and the next boot runs the selector, which writes it again.
 */
export function writeState(root: string, s: SlotState): void {
  const bootSlot = join(root, BOOT_SLOT_FILE);
  const wanted = s.pending ? undefined : s.active;
  const onDisk = readBootSlot(root);
  if (onDisk !== undefined && onDisk !== wanted) {
    rmSync(bootSlot, { force: true });
    fsyncDir(root);
  }
  writeFileAtomic(join(root, STATE_FILE), JSON.stringify(s, null, 1) + '\n', root);
  if (wanted !== undefined && readBootSlot(root) !== wanted) writeFileAtomic(bootSlot, `${wanted}\n`, root);
}

/**
 * The slot boot-slot names, read as the unit's shell reads it (`read -r s < boot-slot`, then
 * exactly A or B); undefined when absent or anything else (the shell then runs the selector).
 */
export function readBootSlot(root: string): SlotName | undefined {
  let text: string;
  try { text = readFileSync(join(root, BOOT_SLOT_FILE), 'utf8'); } catch { return undefined; }
  const first = text.split('\n', 1)[0];
  return first === 'A' || first === 'B' ? first : undefined;
}

/** Creates the layout with `version` in slot A (first install), unless it exists. */
export function initSlots(root: string, version: string): SlotState {
  if (existsSync(join(root, STATE_FILE))) return readState(root);
  mkdirSync(slotDir(root, 'A'), { recursive: true });
  const s: SlotState = { format: 1, active: 'A', tries: 0, versions: { A: version } };
  writeState(root, s);
  return s;
}

/** Removes what an interrupted install left: staging and set-aside directories (never a slot). */
export function cleanLeftovers(root: string): string[] {
  const removed: string[] = [];
  for (const name of readdirSync(root)) {
    if (name.startsWith('.staging-') || name.startsWith('.old-') || name === `${STATE_FILE}.tmp` || name === `${BOOT_SLOT_FILE}.tmp`) {
      rmSync(join(root, name), { recursive: true, force: true });
      removed.push(name);
    }
  }
  return removed;
}

export interface SlotFileEntry { readonly path: string; readonly size: number; readonly sha256: string }

/** Checks a slot's files against the manifest it carries; returns the first problem or undefined. */
export function slotProblem(dir: string): string | undefined {
  const manifestFile = join(dir, 'manifest.json');
  if (!existsSync(manifestFile)) return `${dir}: no manifest.json`;
  let files: SlotFileEntry[];
  try {
    files = (JSON.parse(readFileSync(manifestFile, 'utf8')) as { files: SlotFileEntry[] }).files;
  } catch {
    return `${dir}: manifest.json unreadable`;
  }
  const entry = (f: unknown): f is SlotFileEntry => typeof f === 'object' && f !== null && typeof (f as SlotFileEntry).path === 'string'
    && !(f as SlotFileEntry).path.split(/[\\/]/).includes('..') && Number.isSafeInteger((f as SlotFileEntry).size) && typeof (f as SlotFileEntry).sha256 === 'string';
  if (!Array.isArray(files) || !files.every(entry)) return `${dir}: manifest.json is not a list of files`;
  for (const f of files) {
    const p = join(dir, f.path);
    if (!existsSync(p)) return `${f.path} missing`;
    const data = readFileSync(p);
    if (data.length !== f.size || createHash('sha256').update(data).digest('hex') !== f.sha256) return `${f.path} differs from the manifest`;
  }
  return undefined;
}

export interface BootChoice {
  readonly slot: SlotName;
  readonly dir: string;
  readonly version: string | undefined;
  /** First boot of a new version: the runtime must confirm after its health check. */
  readonly trial: boolean;
  /** Set when this selection rolled a pending update back. */
  readonly rolledBack?: { readonly version: string | undefined; readonly reason: string };
}

export interface BootOptions {
  readonly triesMax?: number;
  readonly clock?: () => number;
  readonly machine?: BootClock;
}

/** The kernel's clock since boot and the boot's id: a time that no step of the wall clock moves. */
export interface BootClock {
  readonly bootId: () => string | undefined;
  /** Since boot, suspend included (/proc/uptime is CLOCK_BOOTTIME). */
  readonly uptimeMs: () => number | undefined;
}

export const LINUX_BOOT_CLOCK: BootClock = {
  bootId: () => { try { return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined; } catch { return undefined; } },
  uptimeMs: () => {
    try {
      const s = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
      return Number.isFinite(s) ? Math.round(s * 1000) : undefined;
    } catch { return undefined; }
  },
};

function trialBootNow(machine: BootClock): SlotState['trialBoot'] {
  const bootId = machine.bootId(), uptimeMs = machine.uptimeMs();
  return bootId !== undefined && uptimeMs !== undefined ? { bootId, uptimeMs } : undefined;
}

/**
 * Chooses the slot to boot (called once per boot, before the runtime starts). A pending slot is
 * tried `triesMax` times; a boot after that means every trial failed (crashed, killed by the
 * watchdog, or power lost before confirming): roll back to the active slot.
 */
export function selectBootSlot(root: string, options: BootOptions = {}): BootChoice {
  cleanLeftovers(root);
  const now = (options.clock ?? Date.now)();
  let s: SlotState;
  try {
    s = readState(root);
  } catch (e) {
    if (!(e instanceof SlotStateError)) throw e;
    return bootWithoutState(root, e, now);
  }
  const active = (): BootChoice => ({ slot: s.active, dir: slotDir(root, s.active), version: s.versions[s.active], trial: false });
  if (!s.pending) {
    // A tree from before boot-slot, or one a power cut left without it: the next boot needs no selector (I5).
    if (readBootSlot(root) !== s.active) writeState(root, s);
    return active();
  }
  const pending = s.pending;
  const problem = slotProblem(slotDir(root, pending));
  const triesMax = options.triesMax ?? BOOT_TRIES_MAX_DEFAULT;
  const reason = problem ? `slot ${pending} damaged: ${problem}` : s.tries >= triesMax ? `first boot of ${s.versions[pending]} did not confirm (${s.tries} tries)` : undefined;
  if (reason) {
    rollback(root, s, reason, now);
    return { ...active(), rolledBack: { version: s.versions[pending], reason } };
  }
  const trialBoot = trialBootNow(options.machine ?? LINUX_BOOT_CLOCK);
  writeState(root, { ...s, tries: s.tries + 1, trialStartedMs: s.trialStartedMs ?? now, ...(trialBoot ? { trialBoot } : {}) });
  return { slot: pending, dir: slotDir(root, pending), version: s.versions[pending], trial: true };
}

/**
 * state.json is damaged: the terminal must still boot (the unit restarts a failed selector for
 * ever, with nothing on the screen). A slot whose files match its manifest boots; of two, the
 * older version (the one an update replaced: proven, and what a failed trial would roll back to).
 * The state is written again naming that slot active, with the damage as the last result.
 */
function bootWithoutState(root: string, damage: SlotStateError, now: number): BootChoice {
  // A slot that matches its manifest, or the first install's tree (pos update init: no manifest).
  const usable = (['A', 'B'] as const).filter((slot) => {
    const dir = slotDir(root, slot);
    return slotProblem(dir) === undefined || (!existsSync(join(dir, 'manifest.json')) && existsSync(dir) && readdirSync(dir).length > 0);
  });
  const versions: Partial<Record<SlotName, string>> = {};
  for (const slot of ['A', 'B'] as const) { const v = slotVersion(slotDir(root, slot)); if (v) versions[slot] = v; }
  // The oldest first; a tree with no manifest (the first install) is older than any update.
  const older = usable.slice().sort((a, b) => compareVersions(versions[a] ?? '0.0.0', versions[b] ?? '0.0.0'))[0];
  const slot: SlotName = older ?? 'A';
  // The damage's message leads with its code (E-UPD-07).
  const reason = `${damage.message}: booting slot ${slot}${usable.length ? '' : ' (no slot matches its manifest)'}`;
  try {
    writeState(root, { format: 1, active: slot, tries: 0, versions, last: { result: 'rolled-back', version: versions[otherSlot(slot)] ?? '?', atMs: now, reason } });
  } catch {
    // A read-only or failing disk: this boot goes on; the next one decides again.
  }
  return { slot, dir: slotDir(root, slot), version: versions[slot], trial: false, rolledBack: { version: versions[otherSlot(slot)], reason } };
}

/** The version a slot's manifest names, else its tree's package.json (the first install has no manifest). */
function slotVersion(dir: string): string | undefined {
  for (const name of ['manifest.json', 'package.json']) {
    try {
      const v = (JSON.parse(readFileSync(join(dir, name), 'utf8')) as { version?: unknown }).version;
      if (typeof v === 'string' && SLOT_VERSION_PATTERN.test(v)) return v;
    } catch {
      // Not there or not JSON: the next source, or no version known.
    }
  }
  return undefined;
}

const SLOT_VERSION_PATTERN = /^(\d{1,6})\.(\d{1,6})\.(\d{1,6})$/;

/** -1, 0, 1 as a < b, a = b, a > b (MAJOR.MINOR.PATCH, numeric). */
export function compareVersions(a: string, b: string): number {
  const pa = SLOT_VERSION_PATTERN.exec(a), pb = SLOT_VERSION_PATTERN.exec(b);
  if (!pa || !pb) throw new PosError('UPD_CORRUPT', `cannot compare versions "${a}" and "${b}"`);
  for (let i = 1; i <= 3; i++) {
    const d = Number(pa[i]) - Number(pb[i]);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

function rollback(root: string, s: SlotState, reason: string, now: number): void {
  const version = s.pending ? s.versions[s.pending] ?? '?' : '?';
  writeState(root, { format: 1, active: s.active, tries: 0, versions: s.versions, last: { result: 'rolled-back', version, atMs: now, reason } });
}

/** The health check on the trial boot passed: the pending slot becomes the active one (I4). */
export function confirmSlot(root: string, clock: () => number = Date.now): { confirmed: boolean; version?: string; reason?: string } {
  const s = readState(root);
  if (!s.pending) return { confirmed: false, reason: 'no update is pending' };
  if (s.tries < 1) return { confirmed: false, reason: `slot ${s.pending} has not been booted yet: reboot into it first` };
  const version = s.versions[s.pending] ?? '?';
  writeState(root, { format: 1, active: s.pending, tries: 0, versions: s.versions, last: { result: 'confirmed', version, atMs: clock() } });
  return { confirmed: true, version };
}

/** The trial boot failed its health check (or hung past the deadline): roll back now. */
export function failTrial(root: string, reason: string, clock: () => number = Date.now): boolean {
  const s = readState(root);
  if (!s.pending) return false;
  rollback(root, s, reason, clock());
  return true;
}

/** Rolls back a trial boot that has not confirmed within `confirmWithinMs` (the runtime polls it). */
export function rollbackIfOverdue(root: string, confirmWithinMs = CONFIRM_WITHIN_MS_DEFAULT, clock: () => number = Date.now, machine: BootClock = LINUX_BOOT_CLOCK): boolean {
  const s = readState(root);
  if (!s.pending || s.tries < 1 || s.trialStartedMs === undefined) return false;
  // Within the boot the selector stamped, the boot-time clock; else (no /proc, a selector that
  // did not run this boot) the wall clock from the first trial boot.
  const now = trialBootNow(machine);
  const elapsedMs = s.trialBoot && now && now.bootId === s.trialBoot.bootId ? now.uptimeMs - s.trialBoot.uptimeMs : clock() - s.trialStartedMs;
  if (elapsedMs < confirmWithinMs) return false;
  return failTrial(root, `not confirmed within ${confirmWithinMs} ms of the first boot`, clock);
}

/** Every invariant of the file header, checked (tests call it after each simulated crash). */
export function checkConsistent(root: string): string | undefined {
  let s: SlotState;
  try { s = readState(root); } catch (e) { return String(e); }
  const bootSlot = readBootSlot(root);
  if (bootSlot !== undefined && (s.pending !== undefined || bootSlot !== s.active)) return `${BOOT_SLOT_FILE} names slot ${bootSlot} while the state has active ${s.active}${s.pending ? `, pending ${s.pending}` : ''}`;
  if (s.pending) {
    if (s.pending === s.active) return 'pending names the active slot';
    const p = slotProblem(slotDir(root, s.pending));
    if (p) return `pending slot incomplete: ${p}`;
  }
  return undefined;
}
