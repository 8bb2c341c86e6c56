/**
 * Which C library the running node binary uses, read from its ELF program interpreter
 * (/proc/self/exe's PT_INTERP: `ld-linux-*` is glibc's loader, `ld-musl-*` musl's), the way
 * detect-libc looks first, for 32- and 64-bit ELF of either byte order.
 *
 * Why: lmdb-js finds its prebuilt addon with node-gyp-build-optional-packages, which asks
 * detect-libc unless LIBC is set, and detect-libc loads node:child_process when it loads: about
 * 10 ms of CPU of the terminal's start on a 2-core x86 VM (five times that on the slow CPU of issue
 * 14 goal 6) for an answer the binary's own header gives. `libcForNativeAddons` sets LIBC from it
 * before lmdb-js loads (storage/lmdb-env.ts); a value already set is kept, and where the header
 * says nothing clear LIBC stays unset (the packages ask detect-libc as before).
 */
import { closeSync, openSync, readSync } from 'node:fs';

export type LibcFamily = 'glibc' | 'musl';

/** The ELF header and program headers of any node binary lie within this (they follow the 52/64-byte header). */
const ELF_HEAD_BYTES = 4096;
/** An interpreter path longer than this is not one. */
const INTERP_BYTES_MAX = 256;
const PT_INTERP = 3;

/**
 * The program interpreter named by an ELF file, or undefined (not ELF, no PT_INTERP, or out of
 * bounds). `head` is the file's first bytes; `readAt(offset, length)` reads elsewhere in it.
 */
export function elfInterpreter(head: Buffer, readAt: (offset: number, length: number) => Buffer): string | undefined {
  if (head.length < 52 || head.readUInt32BE(0) !== 0x7f454c46) return undefined;
  const is64 = head[4] === 2;
  const little = head[5] === 1;
  if ((head[4] !== 1 && !is64) || (head[5] !== 1 && head[5] !== 2)) return undefined;
  const u16 = (at: number): number => (little ? head.readUInt16LE(at) : head.readUInt16BE(at));
  const u32 = (at: number): number => (little ? head.readUInt32LE(at) : head.readUInt32BE(at));
  // 64-bit offsets past 4 GiB are not in a node binary's first pages: the high word must be 0.
  const word = (at: number): number | undefined => (is64 ? (u32(at + (little ? 4 : 0)) === 0 ? u32(at + (little ? 0 : 4)) : undefined) : u32(at));
  if (is64 && head.length < 64) return undefined;
  const phoff = word(is64 ? 32 : 28);
  const phentsize = u16(is64 ? 54 : 42);
  const phnum = u16(is64 ? 56 : 44);
  if (phoff === undefined || phentsize < (is64 ? 56 : 32)) return undefined;
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + phentsize > head.length) return undefined;
    if (u32(at) !== PT_INTERP) continue;
    const offset = word(at + (is64 ? 8 : 4));
    const size = word(at + (is64 ? 32 : 16));
    if (offset === undefined || size === undefined || size === 0 || size > INTERP_BYTES_MAX) return undefined;
    const bytes = offset + size <= head.length ? head.subarray(offset, offset + size) : readAt(offset, size);
    const nul = bytes.indexOf(0);
    return bytes.toString('latin1', 0, nul < 0 ? bytes.length : nul);
  }
  return undefined;
}

/** glibc or musl from an interpreter path; undefined for anything else. */
export function libcOfInterpreter(path: string | undefined): LibcFamily | undefined {
  if (path === undefined) return undefined;
  if (/\/ld-musl-/.test(path)) return 'musl';
  if (/\/ld-linux[-.]/.test(path)) return 'glibc';
  return undefined;
}

/** The running node binary's C library, or undefined when its header does not say (or cannot be read). */
export function libcOfThisNode(exe = '/proc/self/exe'): LibcFamily | undefined {
  if (process.platform !== 'linux') return undefined;
  let fd: number | undefined;
  try {
    fd = openSync(exe, 'r');
    const file = fd;
    const read = (offset: number, length: number): Buffer => {
      const b = Buffer.alloc(length);
      return b.subarray(0, readSync(file, b, 0, length, offset));
    };
    return libcOfInterpreter(elfInterpreter(read(0, ELF_HEAD_BYTES), read));
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Sets LIBC for node-gyp-build's prebuilt lookups (see above); a value already set is kept. */
export function libcForNativeAddons(env: NodeJS.ProcessEnv = process.env): void {
  if (env.LIBC !== undefined) return;
  const family = libcOfThisNode();
  if (family !== undefined) env.LIBC = family;
}
