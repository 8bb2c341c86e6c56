/**
 * The password check's scrypt (RFC 7914), through native/password_kdf.c when it is built, with
 * its 16 MB table touched while the person types (issue 14 goal 6).
 *
 * Why: a check on node's crypto.scrypt maps the table afresh inside OpenSSL and pays the first
 * touch of its 4,096 pages after the operator's OK: 77-79 ms of a 25-ms hash on the 2-core VM,
 * about 0.3 s of the login under the slow-CPU quota. `expectPasswordCheck()` (called by the input
 * controller on each key of a password-bearing screen) maps the table and touches it a few pages
 * per turn of the event loop, so keys stay answered; the check then runs on touched pages and
 * unmaps them at its end (they hold values derived from the password). Nobody typing for
 * SCRATCH_HOLD_MS gives the table back unchecked: the login screen may stand for hours, and idle
 * must not hold 16 MB (goal 1).
 *
 * Same bytes as crypto.scrypt (the tests compare them, with RFC 7914's vectors). Without the
 * addon (not built, another ABI, POS_PASSWORD_KDF=node) every check is node's crypto.scrypt and
 * expectPasswordCheck does nothing.
 */
import { scrypt } from 'node:crypto';
import { loadOwnAddon, ownAddonCandidates } from '../common/own-addon';
import { scryptParamsProblem } from '../common/scrypt-params';

interface PasswordKdfAddon {
  scrypt(password: Buffer, salt: Buffer, n: number, r: number, p: number, keyBytes: number, done: (e: Error | null, key?: Buffer) => void): void;
  reserve(bytes: number): boolean;
  touch(pagesMax: number): number;
  release(): void;
  state(): { bytes: number; touchedBytes: number; busy: boolean };
}

/** scrypt's block size parameter, as every hash the terminal stores was made with. */
export const SCRYPT_R = 8;
const SCRYPT_P = 1;
/** The table of one check: N x r x 128 bytes. */
export function scryptTableBytes(n: number): number {
  return n * SCRYPT_R * 128;
}
/**
 * Pages touched per turn of the event loop: 64 pages are ~0.8 ms here (12 µs a fault on the VM),
 * ~4.5 ms under the slow-CPU quota, so a key pressed meanwhile waits at most that. Where the kernel
 * gives the table huge pages (native/password_kdf.c asks for them) one turn in eight faults in a
 * 2 MiB page and the rest cost nothing: the whole table ~2 ms of CPU instead of ~50 ms.
 */
const SCRATCH_TOUCH_PAGES_PER_STEP = 64;
/** A prepared table nobody checked a password on for this long is given back. */
export const SCRATCH_HOLD_MS = 60_000;
/** The largest table node's crypto.scrypt is let allocate (its maxmem), as before the addon. */
const SCRYPT_MEMORY_BYTES_MAX = 64 * 1024 * 1024;

/** undefined: not looked for yet; null: not built, not loadable, or turned off. */
let loaded: PasswordKdfAddon | null | undefined;
/** The touching loop's turn: a new loop (or a check, or a release) ends the one before. */
let touchTurn = 0;
let holdTimer: NodeJS.Timeout | undefined;

/** The addon from its candidates (POS_PASSWORD_KDF_ADDON, else build/Release), or null. */
export function loadPasswordKdf(candidates: readonly string[] = ownAddonCandidates('password_kdf.node', 'POS_PASSWORD_KDF_ADDON')): PasswordKdfAddon | null {
  return loadOwnAddon<PasswordKdfAddon>(candidates, (e) => typeof e.scrypt === 'function' && typeof e.touch === 'function');
}

function addon(): PasswordKdfAddon | null {
  if (loaded === undefined) loaded = process.env.POS_PASSWORD_KDF === 'node' ? null : loadPasswordKdf();
  return loaded;
}

/** Which scrypt checks passwords: the addon (true, when it loads) or node's (false). For tests and benchmarks. */
export function usePasswordKdfAddon(on: boolean): boolean {
  releasePasswordScratch();
  loaded = on ? loadPasswordKdf() : null;
  return loaded !== null;
}

/** The scratch as the addon holds it (all zero without the addon). For tests and diagnostics. */
export function passwordScratchState(): { bytes: number; touchedBytes: number; busy: boolean } {
  return addon()?.state() ?? { bytes: 0, touchedBytes: 0, busy: false };
}

/** scrypt(password, salt, N, r = 8, p = 1) of `keyBytes` bytes: the addon's, on the scratch when prepared, else node's. */
export function scryptKey(password: string, salt: Buffer, keyBytes: number, n: number): Promise<Buffer> {
  // Refused here, never handed to node (common/scrypt-params.ts: node's own refusal breaks the
  // process's next crypto call). An operator record with a damaged N must not do that to the terminal.
  const problem = scryptParamsProblem(n, SCRYPT_R, SCRYPT_P, SCRYPT_MEMORY_BYTES_MAX);
  if (problem !== undefined) return Promise.reject(new RangeError(`scrypt: ${problem}`));
  const a = addon();
  if (!a) {
    return new Promise((resolve, reject) => {
      scrypt(password, salt, keyBytes, { N: n, r: SCRYPT_R, p: SCRYPT_P, maxmem: SCRYPT_MEMORY_BYTES_MAX }, (e, key) => (e ? reject(e) : resolve(key)));
    });
  }
  // The check takes the scratch (touching stops: the addon answers 0 while it is busy) and
  // unmaps it at its end; the hold timer has nothing left to give back.
  touchTurn++;
  clearHold();
  return new Promise((resolve, reject) => {
    a.scrypt(Buffer.from(password, 'utf8'), salt, n, SCRYPT_R, SCRYPT_P, keyBytes, (e, key) => (e || !key ? reject(e ?? new Error('password_kdf: no key')) : resolve(key)));
  });
}

/**
 * A password check is coming (a key on a screen that asks for one): the table for N is mapped
 * and touched a few pages per turn of the event loop, and kept SCRATCH_HOLD_MS after the last
 * call. Cheap when already prepared; nothing without the addon or while a check runs.
 */
export function expectPasswordCheck(n: number, holdMs = SCRATCH_HOLD_MS): void {
  const a = addon();
  if (!a || scryptTableBytes(n) > SCRYPT_MEMORY_BYTES_MAX || !a.reserve(scryptTableBytes(n))) return;
  clearHold();
  holdTimer = setTimeout(releasePasswordScratch, holdMs);
  holdTimer.unref();
  const turn = ++touchTurn;
  const step = (): void => {
    if (turn === touchTurn && a.touch(SCRATCH_TOUCH_PAGES_PER_STEP) > 0) setImmediate(step);
  };
  setImmediate(step);
}

/** Gives the table back now (a check running on it gives it back at its end). */
export function releasePasswordScratch(): void {
  touchTurn++;
  clearHold();
  loaded?.release();
}

function clearHold(): void {
  if (holdTimer) clearTimeout(holdTimer);
  holdTimer = undefined;
}
