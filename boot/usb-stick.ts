/**
 * Where the terminal's exports go: a USB stick only, i.e. one of the USB mount points (--usb-dir,
 * $POS_USB_DIRS) with a file system mounted on it. The terminal's own backup folder is no place
 * for them: the export is what rescues the journal when that disk fails (FIELD-FAULTS: "storage
 * failing: export to USB"). A mount point with nothing mounted is a plain folder on the data
 * partition, so it does not count either: writing there fills the failing disk and leaves the
 * technician with nothing in hand.
 *
 * The simulator board has no USB port: its --usb-dir is a plain folder standing for the stick
 * (`takenAsMounted`, set for a board file with "simulator": true); a real board needs a mount.
 * Loaded on first use (boot/terminal-app.ts, boot/recovery-menu.ts), not at the terminal's start.
 */
import { realpathSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { PosError } from '../common/errors';
import { MOUNTINFO_FILE, readMounts } from './mountinfo';


/**
 * Whether `dir` is a directory with a file system mounted on it: its device differs from its
 * parent's, or, for a bind mount or a second mount of the parent's device (same device number),
 * the kernel's mount table lists it.
 */
export function isMountPoint(dir: string, mountinfoFile: string = MOUNTINFO_FILE): boolean {
  let real: string;
  try {
    real = realpathSync(dir);
    if (!statSync(real).isDirectory()) return false;
  } catch {
    return false;
  }
  try {
    if (statSync(real).dev !== statSync(dirname(real)).dev) return true;
  } catch { /* the parent cannot be read: the mount table decides */ }
  try { return readMounts(mountinfoFile).some((m) => m.mountPoint === real); } catch { return false; }
}

function isDirectory(dir: string): boolean {
  try { return statSync(dir).isDirectory(); } catch { return false; }
}

/**
 * The first of `dirs` with a USB stick in it; none: E-STO-09 (insert a USB stick), naming the
 * mount points looked at. `takenAsMounted`: the simulator's folders count once they exist.
 */
export function mountedStick(dirs: readonly string[], takenAsMounted = false): string {
  const stick = dirs.find((d) => (takenAsMounted ? isDirectory(d) : isMountPoint(d)));
  if (stick !== undefined) return stick;
  throw new PosError('STO_EXPORT_TARGET', dirs.length > 0
    ? `no USB stick mounted at ${dirs.join(', ')}: insert a USB stick`
    : 'no USB port set up for exports (--usb-dir, $POS_USB_DIRS): insert a USB stick', { dirs: [...dirs] });
}

/** Whether `path` is `dir` or inside it. */
function within(path: string, dir: string): boolean {
  const d = dir.replace(/\/+$/, '');
  return path === d || path.startsWith(`${d}/`);
}

/**
 * A failed export as a technician can act on it. A system call on the stick (a write, its fsync,
 * a file made there: an I/O error, a full or pulled stick) is E-STO-14, use another stick; one on
 * the terminal's own storage (a path outside the stick: the archives' scratch folder beside the
 * journal), or an error of no system call (the journal read back), is E-STO-03, the terminal's
 * storage. An operating error passes as it is. Either way nothing on the terminal was changed.
 */
export function exportWriteError(e: unknown, stick: string): PosError {
  if (e instanceof PosError) return e;
  const x = (e ?? {}) as NodeJS.ErrnoException & { dest?: unknown };
  const why = typeof x.code === 'string' ? x.code : e instanceof Error ? e.message : String(e);
  const paths = [x.path, x.dest].filter((p): p is string => typeof p === 'string');
  const onStick = paths.length > 0 ? paths.some((p) => within(p, stick)) : typeof x.syscall === 'string';
  if (onStick) return new PosError('STO_EXPORT_WRITE', `${stick}: writing the export failed (${why}): use another USB stick`, { stick, errno: why }, { cause: e });
  return new PosError('STO_IO', `the terminal's storage failed while exporting (${why}${paths.length ? ` at ${paths[0]}` : ''})`, { errno: why }, { cause: e });
}
