import { strict as assert } from 'node:assert';
import { elfInterpreter, libcForNativeAddons, libcOfInterpreter, libcOfThisNode } from './libc';

/** A minimal ELF header and one program header table with PT_INTERP naming `interp` (and a PT_LOAD before it). */
function elf(o: { is64: boolean; little: boolean; interp?: string; interpAt?: number }): Buffer {
  const b = Buffer.alloc(8192);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = o.is64 ? 2 : 1;
  b[5] = o.little ? 1 : 2;
  const w16 = (v: number, at: number): void => { if (o.little) b.writeUInt16LE(v, at); else b.writeUInt16BE(v, at); };
  const w32 = (v: number, at: number): void => { if (o.little) b.writeUInt32LE(v, at); else b.writeUInt32BE(v, at); };
  const wWord = (v: number, at: number): void => { if (o.is64) { w32(0, at + (o.little ? 4 : 0)); w32(v, at + (o.little ? 0 : 4)); } else w32(v, at); };
  const phoff = o.is64 ? 64 : 52;
  const phentsize = o.is64 ? 56 : 32;
  wWord(phoff, o.is64 ? 32 : 28);
  w16(phentsize, o.is64 ? 54 : 42);
  w16(o.interp === undefined ? 1 : 2, o.is64 ? 56 : 44);
  w32(1, phoff); // PT_LOAD
  if (o.interp !== undefined) {
    const at = phoff + phentsize;
    const where = o.interpAt ?? 0x200;
    w32(3, at);
    wWord(where, at + (o.is64 ? 8 : 4));
    wWord(o.interp.length + 1, at + (o.is64 ? 32 : 16));
    b.write(`${o.interp}\0`, where, 'latin1');
  }
  return b;
}

const headOf = (file: Buffer, bytes = 4096): [Buffer, (offset: number, length: number) => Buffer] => [file.subarray(0, bytes), (offset, length) => file.subarray(offset, offset + length)];

describe('common/libc: the C library from the node binary\'s ELF interpreter', () => {
  it('readsThePtInterpOf32And64BitElfInEitherByteOrder', () => {
    const cases: Array<[boolean, boolean, string, 'glibc' | 'musl']> = [
      [true, true, '/lib64/ld-linux-x86-64.so.2', 'glibc'],
      [true, true, '/lib/ld-linux-aarch64.so.1', 'glibc'],
      [false, true, '/lib/ld-linux-armhf.so.3', 'glibc'],
      [false, true, '/lib/ld-musl-armhf.so.1', 'musl'],
      [true, false, '/lib/ld-musl-mips64.so.1', 'musl'],
      [false, false, '/lib/ld-linux.so.3', 'glibc'],
    ];
    for (const [is64, little, interp, family] of cases) {
      const [head, readAt] = headOf(elf({ is64, little, interp }));
      assert.equal(elfInterpreter(head, readAt), interp, `${is64 ? 64 : 32}-bit ${little ? 'LE' : 'BE'}`);
      assert.equal(libcOfInterpreter(elfInterpreter(head, readAt)), family, interp);
    }
  });

  it('anInterpreterPathPastTheHeadIsReadWhereItIs', () => {
    const [head, readAt] = headOf(elf({ is64: true, little: true, interp: '/lib/ld-musl-x86_64.so.1', interpAt: 6000 }));
    assert.equal(elfInterpreter(head, readAt), '/lib/ld-musl-x86_64.so.1');
  });

  it('whatSaysNothingClearLeavesTheAnswerUndefined', () => {
    const whole = elf({ is64: true, little: true, interp: '/lib64/ld-linux-x86-64.so.2' });
    const undefinedFor = (b: Buffer, what: string): void => assert.equal(libcOfInterpreter(elfInterpreter(...headOf(b))), undefined, what);
    undefinedFor(Buffer.from('#!/bin/sh\necho not elf\n'), 'a script');
    undefinedFor(whole.subarray(0, 40), 'a truncated header');
    undefinedFor(elf({ is64: true, little: true }), 'a static binary (no PT_INTERP)');
    undefinedFor(elf({ is64: false, little: true, interp: '/lib/ld-uClibc.so.0' }), 'another C library');
    const badClass = Buffer.from(whole); badClass[4] = 3;
    undefinedFor(badClass, 'an unknown ELF class');
    const farTable = Buffer.from(whole); farTable.writeUInt32LE(0x7fff0000, 32);
    undefinedFor(farTable, 'a program header table outside the file');
    const hugeOffset = Buffer.from(whole); hugeOffset.writeUInt32LE(1, 36);
    undefinedFor(hugeOffset, 'a 64-bit offset past 4 GiB');
    const longInterp = elf({ is64: true, little: true, interp: `/lib/${'x'.repeat(300)}/ld-linux.so.2` });
    undefinedFor(longInterp, 'an interpreter path too long to be one');
  });

  it('theRunningNodeAgreesWithDetectLibc', function () {
    if (process.platform !== 'linux') this.skip();
    // detect-libc is what lmdb-js's node-gyp-build asks when LIBC is not set (a dependency of it).
    const { familySync } = require('detect-libc') as { familySync(): string | null };
    assert.equal(libcOfThisNode(), familySync());
    assert.equal(libcOfThisNode('/nonexistent/node'), undefined);
  });

  it('libcForNativeAddonsKeepsAValueAlreadySet', () => {
    const set: NodeJS.ProcessEnv = { LIBC: 'musl' };
    libcForNativeAddons(set);
    assert.equal(set.LIBC, 'musl');
    const unset: NodeJS.ProcessEnv = {};
    libcForNativeAddons(unset);
    assert.equal(unset.LIBC, libcOfThisNode());
  });
});
