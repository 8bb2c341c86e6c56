import { strict as assert } from 'node:assert';
import { readFileSync, writeFileSync, mkdirSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { Journal } from './journal';
import { BACKUP_FILE_SUFFIX, backupFileName, backupFilePrefix, backupSeqOf, exportBytes, exportToFile, exportToFileSliced, importFromFile, parseBackup, PeriodicBackup, pruneBackups } from './backup';
import { salvage, scanRecords } from './salvage';
import { removeDir, tempDir, zeroPage, pageCount } from './testing';
import { isPosError } from '../common/errors';
import { main as pos } from '../boot/pos';
import { verifyInChild } from './verify-child';
import { cutWithRecordsInTheLog, flipLogBit, lastCommitOf } from './testing-wal';
import { WAL_COMMIT_HEADER_BYTES, walPath } from './wal';

const ID = 'SIM-0001';

async function filled(dir: string, count: number): Promise<Journal> {
  const j = await Journal.open({ dir, identity: ID });
  for (let i = 2; i <= count; i++) await j.append('test', { i, text: `record number ${i}` });
  return j;
}

function expectCode(fn: () => unknown, code: string): void {
  try { fn(); } catch (e) { assert.ok(isPosError(e), String(e)); assert.equal(e.code, code, e.message); return; }
  assert.fail(`expected ${code}`);
}

describe('journal backup: export and import', () => {
  let root: string;
  beforeEach(() => { root = tempDir(); });
  afterEach(() => removeDir(root));

  it('exportThenImportOnFreshStorageRestoresTheVerifiedChain', async () => {
    const j = await filled(join(root, 'a'), 50);
    const digest = j.lastDigest;
    exportToFile(j, join(root, 'b.posbak'), { clear: true });
    await j.close();
    const r = await importFromFile(join(root, 'b.posbak'), join(root, 'fresh'));
    assert.equal(r.manifest.count, 50);
    const k = await Journal.open({ dir: join(root, 'fresh'), identity: ID });
    assert.equal(k.state, 'ok');
    assert.equal(k.lastSeq, 50);
    assert.ok(k.lastDigest.equals(digest));
    assert.equal(k.get(50)?.payload.text, 'record number 50');
    await k.close();
  });

  it('aBackupWithoutASecretIsRefusedUnlessAskedForInClear', async () => {
    const j = await filled(join(root, 'a'), 3);
    expectCode(() => exportToFile(j, join(root, 'b.posbak')), 'E-STO-08');
    assert.equal(existsSync(join(root, 'b.posbak')), false, 'nothing written');
    assert.equal(parseBackup(exportBytes(j, { clear: true })).manifest.encrypted, false);
    await j.close();
  });

  it('encryptedBackupNeedsTheRightPassphrase', async () => {
    const j = await filled(join(root, 'a'), 5);
    const bytes = exportBytes(j, { passphrase: 'correct horse' });
    await j.close();
    assert.equal(bytes.includes(Buffer.from('record number')), false, 'body is encrypted');
    assert.equal(parseBackup(bytes, 'correct horse').entries.length, 5);
    expectCode(() => parseBackup(bytes, 'wrong'), 'E-STO-08');
    expectCode(() => parseBackup(bytes), 'E-STO-08');
  });

  it('truncatedOrFlippedBackupIsRefusedBeforeAnythingIsWritten', async () => {
    const j = await filled(join(root, 'a'), 5);
    const bytes = exportBytes(j, { clear: true });
    await j.close();
    expectCode(() => parseBackup(bytes.subarray(0, bytes.length - 10)), 'E-STO-08');
    for (const at of [3, 20, Math.floor(bytes.length / 2), bytes.length - 40]) {
      const bad = Buffer.from(bytes);
      bad[at] ^= 0x40;
      expectCode(() => parseBackup(bad), 'E-STO-08');
    }
    writeFileSync(join(root, 'bad.posbak'), bytes.subarray(0, 100));
    await assert.rejects(importFromFile(join(root, 'bad.posbak'), join(root, 'target')), /E-STO-08/);
    assert.equal(existsSync(join(root, 'target')), false);
  });

  it('importMovesTheOldJournalAsideNeverDeletesIt', async () => {
    const j = await filled(join(root, 'a'), 3);
    exportToFile(j, join(root, 'b.posbak'), { clear: true });
    await j.close();
    const other = await filled(join(root, 'live'), 7);
    await other.close();
    const r = await importFromFile(join(root, 'b.posbak'), join(root, 'live'), undefined, () => 42);
    assert.equal(r.movedAside, join(root, 'live') + '.replaced-42');
    const old = await Journal.open({ dir: r.movedAside!, identity: ID });
    assert.equal(old.lastSeq, 7);
    await old.close();
  });

  it('periodicBackupRollsAndRefusesAMissingTarget', async () => {
    const j = await filled(join(root, 'a'), 3);
    const usb = join(root, 'usb');
    const deviceKey = (): Buffer => Buffer.alloc(32, 7);
    const p = new PeriodicBackup(j, { backupDir: usb, everyRecords: 5, keepCountMax: 2, deviceKey });
    assert.throws(() => p.backupNow(), /E-STO-09/);
    mkdirSync(usb);
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 5; i++) await j.append('test', { round, i });
      assert.ok(p.maybeBackup());
      assert.equal(p.maybeBackup(), undefined, 'not due again until more records');
    }
    const files = readdirSync(usb);
    assert.equal(files.length, 2);
    assert.equal(parseBackup(readFileSync(join(usb, files.sort()[1])), { deviceKey }).manifest.lastSeq, 23);
    await j.close();
  });
});

describe('journal backup: written in slices (the scheduled backup: storage/scheduled-backup.ts)', () => {
  let root: string;
  beforeEach(() => { root = tempDir(); });
  afterEach(() => removeDir(root));
  const deviceKey = (): Buffer => Buffer.alloc(32, 9);

  it('aSlicedExportGivesTheEventLoopBackBetweenSlicesAndImportsAsTheWholeJournal', async () => {
    const j = await filled(join(root, 'a'), 3_000);
    let gives = 0;
    // A slice of 0 ms: the writer gives the loop back at every pause point it reaches.
    const r = await exportToFileSliced(j, join(root, 'b.posbak'), { deviceKey }, { sliceMs: 0, between: async () => { gives++; await new Promise((res) => setImmediate(res)); } });
    // Records appended while a backup is written are not in it: its range was fixed when it began.
    assert.ok(gives >= 3_000 / 64 - 1, `gave the loop back ${gives} times`);
    assert.equal(r.manifest.lastSeq, 3_000);
    assert.equal(r.bytes, readFileSync(join(root, 'b.posbak')).length);
    assert.ok(!readdirSync(root).some((f) => f.endsWith('.tmp')), 'no temp file left');
    const k = await importFromFile(join(root, 'b.posbak'), join(root, 'restored'), { deviceKey });
    assert.equal(k.manifest.count, 3_000);
    assert.equal(k.manifest.lastDigest, j.lastDigest.toString('hex'));
    await j.close();
  });

  it('recordsAppendedWhileItWaitsAreNotInItAndAnAbortLeavesNoFile', async () => {
    const j = await filled(join(root, 'a'), 1_000);
    let appended = false;
    const r = await exportToFileSliced(j, join(root, 'b.posbak'), { deviceKey }, {
      sliceMs: 0,
      between: async () => { if (!appended) { appended = true; await j.append('test', { late: true }); } },
    });
    assert.equal(r.manifest.lastSeq, 1_000);
    assert.equal(j.lastSeq, 1_001);
    assert.equal(parseBackup(readFileSync(join(root, 'b.posbak')), { deviceKey }).entries.length, 1_000);
    const abort = new AbortController();
    let waits = 0;
    await assert.rejects(exportToFileSliced(j, join(root, 'c.posbak'), { deviceKey }, { sliceMs: 0, signal: abort.signal, between: async () => { if (++waits === 3) abort.abort(); } }), /E-STO-09.*stopped before it was complete/);
    assert.deepEqual(readdirSync(root).filter((f) => f.includes('c.posbak')), [], 'neither the file nor its temp file');
    await assert.rejects(exportToFileSliced(j, join(root, 'd.posbak'), {}), /E-STO-08/, 'unsealed refused');
    await j.close();
  });

  it('pruneKeepsTheNewestByRecordNumberAndTouchesOnlyTheFilesItIsGiven', () => {
    const dir = join(root, 'backups');
    mkdirSync(dir);
    const names = [backupFileName(ID, 9, 'auto-b000001'), backupFileName(ID, 100, 'auto-b000002'), backupFileName(ID, 20, 'auto-b000003'), backupFileName(ID, 5, 'reset'), backupFileName('OTHER', 1, 'auto-b000001')];
    for (const n of names) writeFileSync(join(dir, n), 'x');
    const gone = pruneBackups(dir, ID, (f) => f.includes('-auto-'), 1);
    // By the number in the name (100 is the newest), not by the name's sort: 0000000009 < 0000000020 < 0000000100 anyway, and the tags differ.
    assert.deepEqual(gone.sort(), [names[0], names[2]].sort());
    assert.deepEqual(readdirSync(dir).sort(), [names[1], names[3], names[4]].sort());
  });
});

describe('journal backup: streamed export and import (a year of records in bounded memory)', () => {
  let root: string;
  let j: Journal;
  let file: string;
  // More records than one import batch (8,192) and more bytes than one read chunk (1 MiB), so
  // records span chunks and batches are written before the file has been read to its end.
  const RECORDS = 9_000;
  before(async () => {
    root = tempDir();
    j = await Journal.open({ dir: join(root, 'a'), identity: ID });
    for (let done = 1; done < RECORDS;) {
      const n = Math.min(1_000, RECORDS - done);
      await j.appendMany(Array.from({ length: n }, (_, k) => ({ type: 'test', payload: { i: done + k, text: 'x'.repeat(90 + ((done + k) % 37)) } })));
      done += n;
    }
    file = join(root, 'big.posbak');
    exportToFile(j, file, { passphrase: 'correct horse' });
  });
  after(async () => { await j.close(); removeDir(root); });

  it('aBackupOfManyChunksAndBatchesImportsEveryRecordInOrder', async () => {
    assert.ok(readFileSync(file).length > 1024 * 1024, 'the body spans more than one read chunk');
    const r = await importFromFile(file, join(root, 'restored'), 'correct horse');
    assert.equal(r.manifest.count, RECORDS);
    const k = await Journal.open({ dir: join(root, 'restored'), identity: ID, readOnly: true });
    assert.equal(k.state, 'ok');
    assert.equal(k.lastSeq, RECORDS);
    assert.ok(k.lastDigest.equals(j.lastDigest));
    assert.equal(k.get(8_500)?.payload.i, 8_499);
    await k.close();
    assert.deepEqual(readdirSync(root).filter((f) => f.includes('.importing-')), [], 'no scratch left');
  });

  it('theStreamedExportIsTheSameFileAsTheInMemoryOne', () => {
    const a = parseBackup(exportBytes(j, { clear: true, clock: () => 7 }));
    exportToFile(j, join(root, 'clear.posbak'), { clear: true, clock: () => 7 });
    assert.ok(readFileSync(join(root, 'clear.posbak')).equals(exportBytes(j, { clear: true, clock: () => 7 })));
    assert.equal(a.entries.length, RECORDS);
  });

  it('damageNearTheEndRemovesTheWrittenBatchesAndLeavesNoTarget', async () => {
    const bytes = readFileSync(file);
    const bad = Buffer.from(bytes);
    bad[bytes.length - 100] ^= 0x01; // in the last chunk: the first batch is already in the scratch journal
    writeFileSync(join(root, 'bad.posbak'), bad);
    await assert.rejects(importFromFile(join(root, 'bad.posbak'), join(root, 'sub', 'target'), 'correct horse', () => 5), /E-STO-08.*trailer digest/);
    assert.equal(existsSync(join(root, 'sub')), false, 'the scratch and the folder made for it are gone');
  });

  it('aWrongPassphraseIsNamedAsSuchNotAsADamagedRecord', async () => {
    await assert.rejects(importFromFile(file, join(root, 'target'), 'wrong horse'), /wrong passphrase/);
    assert.equal(existsSync(join(root, 'target')), false);
  });

  it('aRecordDamagedInsideASealedBackupIsRefusedByTheTag', async () => {
    // The trailer is recomputed so that only the authentication tag can tell: a forged file.
    const bytes = readFileSync(file);
    const bad = Buffer.from(bytes.subarray(0, bytes.length - 32));
    bad[Math.floor(bad.length / 2)] ^= 0x80;
    const forged = Buffer.concat([bad, createHash('sha256').update(bad).digest()]);
    writeFileSync(join(root, 'forged.posbak'), forged);
    await assert.rejects(importFromFile(join(root, 'forged.posbak'), join(root, 'target'), 'correct horse'), /authentication failed/);
    assert.equal(existsSync(join(root, 'target')), false);
  });
});

describe('journal salvage', () => {
  let root: string;
  beforeEach(() => { root = tempDir(); });
  afterEach(() => removeDir(root));

  it('salvageRecoversEveryRecordFromAnIntactFile', async () => {
    const j = await filled(join(root, 'a'), 300);
    const digest = j.lastDigest;
    await j.close();
    const r = await salvage(join(root, 'a'), join(root, 'out'));
    assert.equal(r.recoveredCount, 300);
    assert.equal(r.orphanCount, 0);
    const k = await Journal.open({ dir: join(root, 'out'), identity: ID });
    assert.ok(k.lastDigest.equals(digest));
    await k.close();
  });

  it('salvageAfterAZeroedPageRecoversTheIntactPrefixAndReportsTheRest', async () => {
    const j = await filled(join(root, 'a'), 400);
    await j.close();
    const dir = join(root, 'a');
    const raw = readFileSync(join(dir, 'data.mdb'));
    const before = scanRecords(raw);
    // Zero the page holding record 200 (wherever LMDB put it).
    const at = raw.indexOf(before.get(200)![0]);
    zeroPage(dir, Math.floor(at / 4096));
    const after = scanRecords(readFileSync(join(dir, 'data.mdb')));
    const lost = [...before.keys()].filter((s) => !after.has(s));
    assert.ok(lost.includes(200));
    const r = await salvage(dir, join(root, 'out'));
    assert.equal(r.recoveredCount, Math.min(...lost) - 1);
    assert.equal(r.firstMissingSeq, Math.min(...lost));
    const expectedOrphans = [...after.keys()].filter((s) => s > r.recoveredCount).length;
    assert.equal(r.orphanCount, expectedOrphans, 'every intact record after the gap is kept as an orphan');
    assert.ok(r.orphansFile && existsSync(r.orphansFile));
  });

  it('salvageOfAFileWithNoIntactRecordIsRefused', async () => {
    const dir = join(root, 'z');
    mkdirSync(dir);
    writeFileSync(join(dir, 'data.mdb'), Buffer.alloc(64 * 1024, 0));
    await assert.rejects(salvage(dir, join(root, 'out'), ID), /E-STO-10/);
  });

  it('zeroedPagesAreDetectedOrSalvagedNeverSilentlyLost', async function () {
    this.timeout(120_000);
    const j = await filled(join(root, 'a'), 400);
    await j.close();
    const original = readFileSync(join(root, 'a', 'data.mdb'));
    const pages = pageCount(join(root, 'a'));
    const dirs: string[] = [];
    for (let page = 0; page < pages; page++) {
      const dir = join(root, `p${page}`);
      mkdirSync(dir);
      writeFileSync(join(dir, 'data.mdb'), original);
      zeroPage(dir, page);
      dirs.push(dir);
    }
    // LMDB may crash the process on garbage pages: verify each state in a child process.
    const verdicts = await verifyInChild(dirs, ID);
    assert.equal(verdicts.length, pages);
    const counts: Record<string, number> = {};
    for (const [page, v] of verdicts.entries()) {
      counts[v.status] = (counts[v.status] ?? 0) + 1;
      const intact = v.status === 'ok' && v.lastGoodSeq === 400;
      if (intact) continue;
      assert.notEqual(v.status, 'ok', `page ${page}: a damaged file must not verify as ok with records missing`);
      const r = await salvage(v.dir, join(root, `s${page}`), ID);
      const expected = scanRecords(readFileSync(join(v.dir, 'data.mdb')));
      assert.equal(r.recoveredCount + r.orphanCount, [...expected.values()].reduce((n, c) => n + c.length, 0), `page ${page}: every intact record accounted for`);
    }
    process.stderr.write(`      zeroed-page sweep over ${pages} pages: ${JSON.stringify(counts)}\n`);
  });
});

describe('pos journal (command line)', function () {
  // verify and dump open the journal in a child process first (a damaged file may crash LMDB).
  this.timeout(60_000);
  let root: string;
  const run = async (...argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await pos(argv, (l) => { out.push(l); }, (l) => { err.push(l); });
    return { code, out: out.join('\n'), err: err.join('\n') };
  };
  beforeEach(() => { root = tempDir(); });
  afterEach(() => removeDir(root));

  it('verifyDumpExportImportSalvageWorkEndToEnd', async () => {
    const j = await filled(join(root, 'j'), 10);
    await j.close();
    const v = await run('journal', 'verify', '--dir', join(root, 'j'));
    assert.equal(v.code, 0, v.err);
    assert.match(v.out, /10 records verified/);
    const d = await run('journal', 'dump', '--dir', join(root, 'j'), '--from', '9');
    assert.match(d.out, /record number 10/);
    assert.equal(d.out.split('\n').length, 2);
    writeFileSync(join(root, 'pass'), 'secret words\n');
    const e = await run('journal', 'export', '--dir', join(root, 'j'), '--out', join(root, 'b.posbak'), '--passphrase-file', join(root, 'pass'));
    assert.match(e.out, /exported 10 records .*encrypted/);
    const i = await run('journal', 'import', '--in', join(root, 'b.posbak'), '--dir', join(root, 'k'), '--passphrase-file', join(root, 'pass'));
    assert.equal(i.code, 0, i.err);
    const bad = await run('journal', 'import', '--in', join(root, 'b.posbak'), '--dir', join(root, 'l'), '--passphrase', 'nope');
    assert.equal(bad.code, 2);
    assert.match(bad.err, /E-STO-08/);
    const s = await run('journal', 'salvage', '--dir', join(root, 'k'), '--out', join(root, 's'));
    // The import appended its STAN continuation (a recovery record: docs/PROTOCOL.md, STAN after a
    // restore) to the 10 records it restored, so the salvage finds 11.
    assert.match(s.out, /salvaged 11 records/);
  });

  it('verifyExitCodeSaysDamagedAndNamesTheRecord', async () => {
    const j = await filled(join(root, 'j'), 10);
    await j.close();
    const { flipByte } = await import('./testing');
    await flipByte(join(root, 'j'), 4, 70);
    const v = await run('journal', 'verify', '--dir', join(root, 'j'));
    assert.equal(v.code, 4);
    assert.match(v.out, /damaged at record 4/);
  });

  it('verifySaysDamagedForABitFlippedInTheLogsLastCommitAndTornForATornOne', async () => {
    const dir = join(root, 'j');
    await cutWithRecordsInTheLog(dir, ID, 4); // records 2..5 in journal.wal, a commit each
    const last = lastCommitOf(dir);
    const pristine = readFileSync(walPath(dir));
    const at = last.offset + WAL_COMMIT_HEADER_BYTES + 70;
    flipLogBit(dir, at, 0x04);
    const v = await run('journal', 'verify', '--dir', dir);
    assert.equal(v.code, 4, v.out);
    assert.match(v.out, new RegExp(`E-STO-05 damaged at record 5: journal\\.wal: a bit of an acknowledged commit changed \\(byte ${at}, mask 0x04`));
    assert.match(v.out, /4 records verified \(1\.\.4\)/);
    // Salvage keeps the records before it (record 5's frame is the damaged one), as for other damage.
    const s = await run('journal', 'salvage', '--dir', dir, '--out', join(root, 's'));
    assert.equal(s.code, 0, s.err);
    assert.match(s.out, /salvaged 4 records \(1\.\.4\)/);
    // Nothing intact follows record 5, and it is named lost all the same, with why and what to do.
    assert.match(s.out, /record 5 could not be recovered \(damaged: journal\.wal: a bit of an acknowledged commit changed[^\n]*: check its transaction with the acquirer/);
    // A bit of the commit header: its frames are intact, so salvage keeps record 5 too.
    writeFileSync(walPath(dir), pristine);
    flipLogBit(dir, last.offset + 11, 0x01);
    const h = await run('journal', 'verify', '--dir', dir);
    assert.equal(h.code, 4, h.out);
    assert.match(h.out, /E-STO-05 damaged at record 5: journal\.wal: a bit of an acknowledged commit changed/);
    const hs = await run('journal', 'salvage', '--dir', dir, '--out', join(root, 'hs'));
    assert.match(hs.out, /salvaged 5 records \(1\.\.5\)/);
    assert.doesNotMatch(hs.out, /could not be recovered/, 'record 5 was kept: nothing lost');
    // A torn commit (part of it never written: zeros) is the torn tail, as before.
    const torn = Buffer.from(pristine);
    torn.fill(0, at, last.end);
    writeFileSync(walPath(dir), torn);
    const t = await run('journal', 'verify', '--dir', dir);
    assert.equal(t.code, 3, t.out);
    assert.match(t.out, /torn last record 5 \(journal\.wal at byte \d+: the last commit is incomplete/);
  });

  it('unknownCommandIsAClearError', async () => {
    const r = await run('journal', 'frobnicate');
    assert.equal(r.code, 64);
    assert.match(r.err, /unknown command/);
  });
});

describe('backup file names', () => {
  it('carryTheLastRecordNumberBackUnderAnyTag', () => {
    assert.equal(backupFileName('T1-M1', 42), 'journal-T1-M1-0000000042.posbak');
    for (const tag of [undefined, 'reset', '2026-12-06T10-00-00-000Z']) {
      const name = backupFileName('T1-M1', 1_234_567, tag);
      assert.ok(name.startsWith(backupFilePrefix('T1-M1')) && name.endsWith(BACKUP_FILE_SUFFIX), name);
      assert.equal(backupSeqOf(name, 'T1-M1'), 1_234_567, name);
      assert.equal(backupSeqOf(name, undefined), 1_234_567, `${name} without the identity`);
    }
  });

  it('aNameWithoutTheNumberHasNone', () => {
    assert.equal(backupSeqOf('journal-T1-M1-copy.posbak', 'T1-M1'), undefined);
    assert.equal(backupSeqOf('journal-T1-M1-12345.posbak', 'T1-M1'), undefined, 'fewer than 10 digits');
    assert.equal(backupSeqOf('journal-T1-M1-00000000421.posbak', 'T1-M1'), undefined, 'more than 10 digits');
  });
});
