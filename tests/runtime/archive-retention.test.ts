/**
 * The archives' budget (runtime/archive.ts enforceArchiveBudget, storage/JOURNAL_FORMAT.md
 * "Archive retention"): over the budget, the oldest archives that the recovery export wrote to a
 * USB stick are removed (never the newest), each leaving an account that `pos journal archives
 * --verify` follows the chain through; archives never exported are kept and E-STO-15 says so; a
 * power cut between the removal's steps leaves the archive or its account, and the next boot
 * finishes the removal.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { main as pos } from '../../boot/pos';
import { nodeArgsFor } from '../../common/spawn';
import {
  ARCHIVE_EXPORTED_SUFFIX, ARCHIVE_REMOVED_SUFFIX, ArchiveResult, RemovalStep, archiveBudget, archiveDirFor, archiveJournal, enforceArchiveBudget, exportArchives, readRemovalAccounts,
} from '../../runtime/archive';
import { settle } from '../../runtime/txn/settlement';
import { removeDir, tempDir } from '../../storage/testing';
import { CASHIER, DEVICE_KEY, Rig, SUPERVISOR, magCard, rig, withOperators } from './harness';

const deviceKey = (): Buffer => DEVICE_KEY;
const CHILD = join(__dirname, 'archive-retention-child');
const CHILD_MS_MAX = 60_000;
/** A passphrase's scrypt is slow on purpose; the export's is not what is tested here. */
const PASSPHRASE = 'correct horse';

describe('runtime/archive: the archives kept within their budget', function () {
  this.timeout(180_000);
  let r: Rig;
  let base = '';
  let usb = '';
  beforeEach(async () => {
    base = tempDir('retention-');
    usb = tempDir('retention-usb-');
    writeFileSync(join(base, 'device.key'), DEVICE_KEY);
    r = await rig({ dir: join(base, 'journal') });
    await withOperators(r);
    await r.terminal.engine.signOn(CASHIER);
  });
  afterEach(async () => {
    await r.close().catch(() => undefined);
    removeDir(usb);
    removeDir(base);
  });

  /** A day's sale, its settlement, the archive of the journal, the reboot on the new one. */
  async function archivedDays(n: number): Promise<ArchiveResult[]> {
    const out: ArchiveResult[] = [];
    for (let i = 0; i < n; i++) {
      const e = r.terminal.engine;
      if (i > 0) await e.signOn(CASHIER);
      const s = await e.sale({ amountFen: 1_000 + i, card: magCard(), session: CASHIER });
      if (s.outcome === 'approved') await e.markPrinted(s.txn.stan, 'merchant', false);
      await settle(e, SUPERVISOR);
      out.push(await archiveJournal({ journal: r.journal, state: r.terminal.store.state, journalDir: r.dir, archiveDir: archiveDirFor(r.dir), deviceKey, clock: () => r.clock.ms }));
      r.clock.ms += 1_000;
      await r.reboot();
    }
    return out;
  }

  async function cli(...args: string[]): Promise<{ code: number; lines: string[] }> {
    const lines: string[] = [];
    const code = await pos(['journal', 'archives', '--dir', r.dir, ...args], (l) => lines.push(l), (l) => lines.push(l));
    return { code, lines };
  }

  const line = (lines: string[], file: string): string => lines.find((l) => l.startsWith(basename(file))) ?? `(no line for ${basename(file)} in:\n${lines.join('\n')})`;

  it('overBudgetWithTheOldestExported_theyAreRemovedTheNewestKept_theAccountsLetVerifyFollowTheChain', async () => {
    const [a1, a2, a3] = await archivedDays(3);
    await exportArchives(r.dir, usb, PASSPHRASE, deviceKey, () => r.clock.ms);
    assert.ok(existsSync(`${a1.file}${ARCHIVE_EXPORTED_SUFFIX}`), 'the export left its proof beside each archive');
    const listed = await cli();
    assert.equal(listed.code, 0, listed.lines.join('\n'));
    assert.match(line(listed.lines, a1.file), new RegExp(`  ${statSync(a1.file).size} bytes  .*  exported$`));

    const budget = statSync(a3.file).size + 1;
    const b = enforceArchiveBudget(r.dir, { bytesMax: budget, clock: () => r.clock.ms });
    assert.deepEqual(b.removed.map((a) => a.archive), [basename(a1.file), basename(a2.file)]);
    assert.deepEqual(b.needsExport, []);
    assert.equal(existsSync(a1.file), false);
    assert.equal(existsSync(a2.file), false);
    assert.equal(existsSync(a3.file), true, 'the newest is kept');
    assert.equal(existsSync(`${a1.file}${ARCHIVE_EXPORTED_SUFFIX}`), false, 'its proof went with it');
    const accounts = readRemovalAccounts(r.dir);
    const first = accounts.get(basename(a1.file));
    assert.equal(first?.sha256, a1.sha256);
    assert.equal(first?.firstRecord, 1);
    assert.equal(first?.lastRecord, a1.count);
    assert.equal(accounts.get(basename(a2.file))?.firstRecord, a1.count + 1);
    assert.equal(accounts.get(basename(a2.file))?.lastRecord, a1.count + a2.count);

    const v = await cli('--verify');
    assert.equal(v.code, 0, v.lines.join('\n'));
    assert.ok(line(v.lines, a1.file).includes('  linked  removed after export'), v.lines.join('\n'));
    assert.ok(line(v.lines, a2.file).includes('  linked  removed after export'), v.lines.join('\n'));
    assert.ok(line(v.lines, a3.file).endsWith('  verified'), v.lines.join('\n'));
    assert.ok(v.lines.includes('every linked archive verified'), v.lines.join('\n'));

    // An account that does not name what the link names (changed): exit 4, naming it.
    const accountFile = join(archiveDirFor(r.dir), `${basename(a2.file)}${ARCHIVE_REMOVED_SUFFIX}`);
    const saved = readFileSync(accountFile, 'utf8');
    writeFileSync(accountFile, saved.replace(a2.sha256, a1.sha256));
    const changed = await cli('--verify');
    assert.equal(changed.code, 4, changed.lines.join('\n'));
    assert.ok(line(changed.lines, a2.file).includes('not what the journal after it names'), changed.lines.join('\n'));
    // Without its account the removed archive is missing: exit 4, naming it.
    writeFileSync(accountFile, saved);
    removeDir(accountFile);
    const missing = await cli('--verify');
    assert.equal(missing.code, 4, missing.lines.join('\n'));
    assert.ok(line(missing.lines, a2.file).endsWith('  missing'), missing.lines.join('\n'));
  });

  it('overBudgetWithTheOldestNotExported_nothingIsRemoved_andE-STO-15IsDue', async () => {
    const [a1, a2] = await archivedDays(2);
    const b = enforceArchiveBudget(r.dir, { bytesMax: 1 });
    assert.deepEqual(b.removed, []);
    assert.deepEqual(b.needsExport, [basename(a1.file)]);
    assert.equal(existsSync(a1.file), true);
    assert.equal(existsSync(a2.file), true);
    assert.deepEqual(archiveBudget(r.dir, 1).needsExport, [basename(a1.file)], 'diagnostics read the same');
    const listed = await cli();
    assert.ok(line(listed.lines, a1.file).endsWith('  not exported'), listed.lines.join('\n'));
    // A file changed after its export is not taken as exported.
    await exportArchives(r.dir, usb, PASSPHRASE, deviceKey, () => r.clock.ms);
    const bytes = readFileSync(a1.file);
    bytes[bytes.length - 40] ^= 0x01;
    writeFileSync(a1.file, bytes);
    const again = enforceArchiveBudget(r.dir, { bytesMax: 1 });
    assert.deepEqual(again.removed, []);
    assert.deepEqual(again.needsExport, [basename(a1.file)]);
  });

  it('theNewestArchiveIsNeverRemovedEvenAlonePastTheBudget', async () => {
    const [a1, a2] = await archivedDays(2);
    await exportArchives(r.dir, usb, PASSPHRASE, deviceKey, () => r.clock.ms);
    const b = enforceArchiveBudget(r.dir, { bytesMax: 1 });
    assert.deepEqual(b.removed.map((a) => a.archive), [basename(a1.file)]);
    assert.equal(existsSync(a2.file), true);
    assert.deepEqual(b.needsExport, [], 'nothing an export would free: no notice');
    assert.equal(enforceArchiveBudget(r.dir, { bytesMax: 1 }).removed.length, 0);
    assert.equal(existsSync(a2.file), true);
  });

  const STEPS: RemovalStep[] = ['account-written', 'archive-removed', 'mark-removed'];
  it(`aPowerCutAfterEachRemovalStep_leavesTheArchiveOrItsAccount_andTheNextBootFinishes (${STEPS.join(', ')})`, async () => {
    const [a1, a2] = await archivedDays(2);
    await exportArchives(r.dir, usb, PASSPHRASE, deviceKey, () => r.clock.ms);
    const dir = archiveDirFor(r.dir);
    const snapshot = new Map(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f))]));
    for (const step of STEPS) {
      // Every cut starts from the same folder: both archives exported, nothing removed.
      for (const f of readdirSync(dir)) if (!snapshot.has(f)) removeDir(join(dir, f));
      for (const [f, b] of snapshot) writeFileSync(join(dir, f), b);
      const child = spawnSync(process.execPath, [...nodeArgsFor(CHILD), r.dir, '1', step], { encoding: 'utf8', timeout: CHILD_MS_MAX });
      assert.equal(child.signal, 'SIGKILL', `${step}: the child was cut (${child.stdout}${child.stderr})`);
      const account = existsSync(join(dir, `${basename(a1.file)}${ARCHIVE_REMOVED_SUFFIX}`));
      assert.ok(account, `${step}: the account is written before anything is removed`);
      assert.equal(existsSync(a1.file), step === 'account-written', `${step}: the archive`);
      // The next boot.
      const b = enforceArchiveBudget(r.dir, { bytesMax: 1 });
      assert.equal(existsSync(a1.file), false, step);
      assert.equal(existsSync(`${a1.file}${ARCHIVE_EXPORTED_SUFFIX}`), false, step);
      assert.equal(existsSync(a2.file), true, step);
      assert.deepEqual(b.needsExport, [], step);
      const v = await cli('--verify');
      assert.equal(v.code, 0, `${step}\n${v.lines.join('\n')}`);
      assert.ok(line(v.lines, a1.file).includes('removed after export'), v.lines.join('\n'));
    }
  });
});
