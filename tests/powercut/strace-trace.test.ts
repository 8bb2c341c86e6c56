import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { needTool } from '../support/tools';
import { DiskModel } from '../../sim/disk-model';
import {
  parseSyscalls, parseStraceTrace, splitArgs, decodeStraceString, parseFdArg, readLinesSync, readTraceFile, runUnderStrace,
  StraceParseError, type WriteEvent, type BarrierEvent, type AckEvent, type OpenEvent,
} from './strace-trace';

/** strace -xx escaping */
const x = (s: string): string => [...Buffer.from(s)].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('');
/** fd with its -y annotation */
const fd = (n: number, p: string): string => `${n}<${x(p)}>`;
/** strace -e write=all dump lines of `data` */
function dump(data: Buffer): string[] {
  const lines: string[] = [];
  for (let off = 0; off < data.length; off += 16) {
    const chunk = [...data.subarray(off, off + 16)];
    const hex = chunk.map((b) => b.toString(16).padStart(2, '0'));
    const left = hex.slice(0, 8).join(' ');
    const right = hex.slice(8).join(' ');
    const area = (right ? `${left}  ${right}` : left).padEnd(48, ' ');
    const ascii = chunk.map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : '.')).join('').padEnd(16, ' ');
    lines.push(` | ${off.toString(16).padStart(5, '0')}  ${area}  ${ascii} |`);
  }
  return lines;
}
const DB = '/tmp/pc/db/data.mdb';
const page = (byte: number, n = 4096): Buffer => Buffer.alloc(n, byte);

describe('powercut/strace-trace: parsing strace output', () => {
  it('splits arguments at top level only', () => {
    assert.deepEqual(splitArgs('18<\\x2f>, F_SETLK, {l_type=F_WRLCK, l_len=1}'), ['18<\\x2f>', 'F_SETLK', '{l_type=F_WRLCK, l_len=1}']);
    assert.deepEqual(splitArgs('AT_FDCWD, "\\x61\\x2c\\x20", O_RDONLY'), ['AT_FDCWD', '"\\x61\\x2c\\x20"', 'O_RDONLY']);
    assert.deepEqual(splitArgs(''), []);
  });

  it('decodes -xx strings and -y fd annotations', () => {
    assert.equal(decodeStraceString('\\x64\\x62\\x2f').toString(), 'db/');
    assert.equal(decodeStraceString('a\\nb\\\\\\"\\101').toString(), 'a\nb\\"A');
    assert.deepEqual(parseFdArg(fd(19, DB)), { fd: 19, path: DB });
    assert.deepEqual(parseFdArg('7'), { fd: 7, path: null });
    assert.deepEqual(parseFdArg(`AT_FDCWD<${x('/tmp')}>`), { fd: -100, path: '/tmp' });
  });

  it('parses complete lines with padded results, errors, and hex dumps', () => {
    const data = Buffer.from('hello, world: 0123456789abcdef!');
    const text = [
      `100  openat(AT_FDCWD<${x('/tmp/pc')}>, "${x('db/data.mdb')}", O_RDWR|O_CREAT, 0664) = ${fd(19, DB)}`,
      `100  fcntl(3, F_SETFD, FD_CLOEXEC)     = -1 EBADF (Bad file descriptor)`,
      `100  pwrite64(${fd(19, DB)}, ""..., ${data.length}, 8192) = ${data.length}`,
      ...dump(data),
      `100  fcntl(${fd(0, '/dev/null')}, F_GETFL) = 0x8000 (flags O_RDONLY|O_LARGEFILE)`,
      `100  +++ exited with 0 +++`,
    ].join('\n');
    const recs = parseSyscalls(text);
    assert.deepEqual(recs.map((r) => r.name), ['openat', 'fcntl', 'pwrite64', 'fcntl']);
    assert.equal(recs[0].retval, 19);
    assert.equal(recs[0].retPath, DB);
    assert.equal(recs[1].retval, -1);
    assert.equal(recs[1].errno, 'EBADF');
    assert.deepEqual(recs[2].data, data);
    assert.equal(recs[3].retval, 0x8000);
  });

  it('joins <unfinished ...> / <... resumed> splits and orders by completion', () => {
    const a = page(1, 100);
    const text = [
      `5309  pwrite64(${fd(3, DB)}, ""..., 100, 20000 <unfinished ...>`,
      `5308  fdatasync(${fd(3, DB)} <unfinished ...>`,
      `5310  write(${fd(1, 'pipe:[7]')}, ""..., 6) = 6`,
      ...dump(Buffer.from('ACK 1\n')),
      `5308  <... fdatasync resumed>)          = 0`,
      `5309  <... pwrite64 resumed>)           = 100`,
      ...dump(a),
    ].join('\n');
    const recs = parseSyscalls(text);
    assert.deepEqual(recs.map((r) => r.name), ['write', 'fdatasync', 'pwrite64']);
    const pw = recs[2];
    assert.equal(pw.tid, 5309);
    assert.deepEqual(pw.args.slice(2), ['100', '20000']);
    assert.deepEqual(pw.data, a);
    assert.ok(pw.entrySeq < recs[0].exitSeq, 'entered before the write completed');

    const events = parseStraceTrace(text);
    assert.deepEqual(events.map((e) => e.kind), ['ack', 'barrier', 'write']);
    const barrier = events[1] as BarrierEvent;
    // entered before anything completed: makes durable nothing the trace wrote
    assert.equal(barrier.startedAt, 0);
    assert.equal(barrier.index, 1);
    const w = events[2] as WriteEvent;
    assert.equal(w.offset, 20000);
    assert.equal(w.startedAt, 0);
    assert.equal(w.index, 2);
  });

  it('tracks O_DSYNC descriptors, lseek + writev positions, dup and close', () => {
    const b0 = page(0xaa);
    const b1 = page(0xbb);
    const meta = page(0xcc, 128);
    const text = [
      `1  openat(AT_FDCWD, "${x('db/data.mdb')}", O_RDWR|O_CREAT, 0664) = 19`,
      `1  openat(AT_FDCWD, "${x('db/data.mdb')}", O_WRONLY|O_DSYNC|O_CLOEXEC) = 20`,
      `2  lseek(19, 8192, SEEK_SET) = 8192`,
      `2  writev(19, [...], 2) = 8192`,
      ` * 4096 bytes in buffer 0`, ...dump(b0),
      ` * 4096 bytes in buffer 1`, ...dump(b1),
      `2  write(19, ""..., 128) = 128`,
      ...dump(meta),
      `2  fdatasync(19) = 0`,
      `2  pwrite64(20, ""..., 128, 2088) = 128`,
      ...dump(meta),
      `3  dup(20) = 21`,
      `3  close(20) = 0`,
      `3  pwrite64(21, ""..., 128, 40) = 128`,
      ...dump(meta),
      `3  close(21) = 0`,
    ].join('\n');
    const events = parseStraceTrace(text, { cwd: '/tmp/pc' });
    const opens = events.filter((e): e is OpenEvent => e.kind === 'open');
    assert.deepEqual(opens.map((o) => [o.path, o.sync]), [[DB, false], [DB, true]]);
    const writes = events.filter((e): e is WriteEvent => e.kind === 'write');
    assert.deepEqual(writes.map((w) => [w.call, w.offset, w.data.length, w.sync]), [
      ['writev', 8192, 8192, false],
      ['write', 16384, 128, false],
      ['pwrite64', 2088, 128, true],
      ['pwrite64', 40, 128, true],
    ]);
    assert.deepEqual(writes[0].data, Buffer.concat([b0, b1]));
    assert.equal(events.filter((e) => e.kind === 'barrier').length, 1);
    assert.equal(events.filter((e) => e.kind === 'close').length, 2);
  });

  it('O_APPEND writes land at the end of the file', () => {
    const text = [
      `1  openat(AT_FDCWD, "${x('/d/log')}", O_WRONLY|O_CREAT|O_APPEND, 0644) = 5`,
      `1  write(5, ""..., 3) = 3`, ...dump(Buffer.from('abc')),
      `1  lseek(5, 0, SEEK_SET) = 0`,
      `1  write(5, ""..., 2) = 2`, ...dump(Buffer.from('de')),
    ].join('\n');
    const writes = parseStraceTrace(text, { initialSizes: new Map([['/d/log', 10]]) }).filter((e): e is WriteEvent => e.kind === 'write');
    assert.deepEqual(writes.map((w) => w.offset), [10, 13]);
  });

  it('acknowledgements: one event per ACK line on fd 1, lines split across writes', () => {
    const text = [
      `1  write(1, ""..., 12) = 12`, ...dump(Buffer.from('ACK 1\nACK 2\n')),
      `1  write(1, ""..., 3) = 3`, ...dump(Buffer.from('AC\n')),
      `1  write(2, ""..., 6) = 6`, ...dump(Buffer.from('ACK 9\n')),
      `1  write(1, ""..., 5) = 5`, ...dump(Buffer.from('ACK 3')),
      `1  write(1, ""..., 1) = 1`, ...dump(Buffer.from('\n')),
    ];
    const acks = parseStraceTrace(text.join('\n')).filter((e): e is AckEvent => e.kind === 'ack');
    assert.deepEqual(acks.map((a) => a.id), ['1', '2', '3']);
    assert.deepEqual(acks.map((a) => a.index), [0, 1, 2]);
  });

  it('refuses a write whose dump does not match its result', () => {
    const text = [`1  pwrite64(${fd(19, DB)}, ""..., 32, 0) = 32`, ...dump(page(1, 16))].join('\n');
    assert.throws(() => parseSyscalls(text), StraceParseError);
    const noDump = `1  pwrite64(${fd(19, DB)}, ""..., 32, 0) = 32`;
    assert.throws(() => parseStraceTrace(noDump), /dumped/);
  });

  it('a write to a file at an unknown position is an error, not a guess', () => {
    assert.throws(() => parseStraceTrace([`1  write(${fd(9, DB)}, ""..., 1) = 1`, ...dump(Buffer.from('z'))].join('\n')), /unknown position/);
  });

  it('failed flushes are not barriers; a never-resumed call is ignored', () => {
    const text = [
      `1  fdatasync(${fd(19, DB)}) = -1 EIO (Input/output error)`,
      `2  fsync(${fd(19, DB)} <unfinished ...>`,
      `1  fsync(${fd(19, DB)}) = 0`,
    ].join('\n');
    const events = parseStraceTrace(text);
    assert.deepEqual(events.map((e) => [e.kind, e.tid]), [['barrier', 1]]);
  });

  it('renames, unlinks and msync are reported', () => {
    const text = [
      `1  renameat2(AT_FDCWD<${x('/d')}>, "${x('a')}", AT_FDCWD<${x('/d')}>, "${x('b')}", RENAME_NOREPLACE) = 0`,
      `1  msync(0x7f0000000000, 4096, MS_SYNC) = 0`,
    ].join('\n');
    const events = parseStraceTrace(text);
    assert.equal(events[0].kind, 'namespace');
    assert.deepEqual(events[0].kind === 'namespace' && events[0].paths, ['/d/a', '/d/b']);
    assert.equal(events[1].kind, 'msync');
  });

  it('reads a trace file line by line across chunk boundaries', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'powercut-lines-'));
    try {
      const file = path.join(dir, 't.txt');
      const lines = Array.from({ length: 50 }, (_, i) => `line ${i} ${'x'.repeat(i)}`);
      fs.writeFileSync(file, lines.join('\n') + '\n');
      assert.deepEqual([...readLinesSync(file, 7)], lines);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('powercut/strace-trace: a real strace run', function () {
  this.timeout(30_000);
  before(function () { needTool(this, 'strace'); });

  it('records opens (O_DSYNC), positioned and sequential writes, fdatasync and ACKs with their bytes', async () => {
    const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'powercut-real-')));
    try {
      const file = path.join(dir, 'f.bin');
      const script = `
        const fs = require('fs');
        const fd = fs.openSync(${JSON.stringify(file)}, 'w+');
        fs.writeSync(fd, Buffer.alloc(5000, 1));            // write(2): moves the position
        fs.writeSync(fd, Buffer.from('pp'), 0, 2, 10);      // pwrite64: does not
        fs.writeSync(fd, Buffer.from('tail'));              // so this lands at 5000
        fs.fdatasyncSync(fd);
        process.stdout.write('ACK a\\n');
        const sfd = fs.openSync(${JSON.stringify(file)}, fs.constants.O_WRONLY | fs.constants.O_DSYNC);
        fs.writeSync(sfd, Buffer.from('meta'), 0, 4, 100);
        process.stdout.write('ACK b\\n');
        fs.closeSync(sfd); fs.closeSync(fd);`;
      const traceFile = path.join(dir, 'trace.txt');
      const r = await runUnderStrace({ command: process.execPath, args: ['-e', script], traceFile });
      assert.equal(r.exitCode, 0, r.stderr);
      assert.equal(r.stdout, 'ACK a\nACK b\n');
      const events = readTraceFile(traceFile).filter((e) => e.kind === 'ack' || ('path' in e && e.path === file));
      const summary = events.map((e) => e.kind === 'write' ? `write@${e.offset}+${e.data.length}${e.sync ? ' sync' : ''}`
        : e.kind === 'open' ? `open${e.sync ? ' sync' : ''}${e.truncate ? ' trunc' : ''}` : e.kind === 'ack' ? `ack ${e.id}` : e.kind);
      assert.deepEqual(summary, ['open trunc', 'truncate', 'write@0+5000', 'write@10+2', 'write@5000+4', 'barrier', 'ack a', 'open sync', 'write@100+4 sync', 'ack b', 'close', 'close']);
      const w = events.find((e): e is WriteEvent => e.kind === 'write' && e.offset === 5000)!;
      assert.equal(w.data.toString(), 'tail');
      // replaying every write gives the file the run left
      const all = readTraceFile(traceFile);
      const replayed = new DiskModel(all, { include: (p) => p === file }).filesAt(all.length, { mode: 'keep' });
      assert.deepEqual(replayed.get(file), fs.readFileSync(file));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
