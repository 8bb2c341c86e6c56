/**
 * The kernel's list of this process's mounts (proc(5) /proc/self/mountinfo), read for the USB
 * stick's mount point (boot/usb-stick.ts) and the flashing station's disks in use
 * (boot/flash/block-device.ts).
 */
import { readFileSync } from 'node:fs';

export const MOUNTINFO_FILE = '/proc/self/mountinfo';

export interface Mount {
  /** The mounted device as "major:minor" (field 3). */
  readonly dev: string;
  /** Where it is mounted (field 5), its octal escapes undone. */
  readonly mountPoint: string;
}

/** Every mount the file lists; throws the file system's error when it cannot be read. */
export function readMounts(file: string = MOUNTINFO_FILE): Mount[] {
  return readFileSync(file, 'utf8').split('\n').filter((line) => line !== '').map((line) => {
    const f = line.split(' ');
    return { dev: f[2] ?? '', mountPoint: unescapeMount(f[4] ?? '?') };
  });
}

/** mountinfo escapes space, tab, newline and backslash as three octal digits. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}
