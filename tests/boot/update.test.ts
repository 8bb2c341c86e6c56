/**
 * Signed updates into the A/B slots: every refused package leaves the running version untouched;
 * a trial boot that fails (or never confirms) is rolled back; a SIGKILL after every durable step
 * of an install leaves the slots consistent and the active slot byte-for-byte the same.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, removeDir } from '../../storage/testing';
import { applyUpdate, buildPackage, generateUpdateKeys, rolledBackError, updateStatus } from '../../boot/update';
import { BOOT_SLOT_FILE, BootClock, checkConsistent, confirmSlot, failTrial, initSlots, readBootSlot, readState, rollbackIfOverdue, selectBootSlot, slotDir } from '../../boot/update-slots';
import { spawnModule } from '../../common/spawn';
import { PosError } from '../../common/errors';

const BOARD = 'sim';

function treeHash(dir: string): string {
  const h = createHash('sha256');
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, e.name);
      h.update(p.slice(dir.length));
      if (e.isDirectory()) walk(p); else h.update(readFileSync(p));
    }
  };
  walk(dir);
  return h.digest('hex');
}

function code(fn: () => unknown): string {
  try { fn(); } catch (e) { if (e instanceof PosError) return e.code; throw e; }
  return 'no error';
}

describe('boot/update: signed packages into A/B slots', function () {
  this.timeout(90_000);
  const keys = generateUpdateKeys();
  const otherKeys = generateUpdateKeys();
  let work: string;
  let root: string;
  let activeHash: string;

  function pkg(version: string, o: { key?: string; board?: string; files?: number } = {}): string {
    const src = join(work, `src-${version}-${Math.random().toString(36).slice(2)}`);
    mkdirSync(join(src, 'dist', 'boot'), { recursive: true });
    writeFileSync(join(src, 'dist', 'boot', 'terminal-main.js'), `console.log('runtime ${version}');\n`);
    for (let i = 0; i < (o.files ?? 2); i++) writeFileSync(join(src, `data-${i}.bin`), Buffer.alloc(5000 + i, i + 1));
    const file = join(work, `pos-${version}-${Math.random().toString(36).slice(2)}.posupd`);
    writeFileSync(file, buildPackage(src, o.key ?? keys.privateKeyPem, { version, board: o.board ?? BOARD }));
    return file;
  }

  const apply = (file: string, extra: Partial<Parameters<typeof applyUpdate>[0]> = {}) => applyUpdate({ root, file, publicKeyHex: keys.publicKeyHex, board: BOARD, ...extra });

  function assertRunningUntouched(): void {
    const s = readState(root);
    assert.equal(s.active, 'A');
    assert.equal(s.versions.A, '1.0.0');
    assert.equal(treeHash(slotDir(root, 'A')), activeHash, 'active slot changed');
    assert.equal(checkConsistent(root), undefined);
  }

  beforeEach(() => {
    work = tempDir('posupd-');
    root = join(work, 'slots');
    mkdirSync(root);
    initSlots(root, '1.0.0');
    writeFileSync(join(slotDir(root, 'A'), 'app.js'), 'v1');
    activeHash = treeHash(slotDir(root, 'A'));
  });
  afterEach(() => removeDir(work));

  it('installsIntoTheInactiveSlotAndSwitchesOnlyAfterTheTrialBootConfirms', () => {
    const r = apply(pkg('1.1.0'));
    assert.equal(r.slot, 'B');
    assertRunningUntouched();
    assert.deepEqual(updateStatus(root).pending, { slot: 'B', version: '1.1.0', tries: 0 });
    assert.equal(confirmSlot(root).confirmed, false, 'no confirm before the trial boot');
    const boot = selectBootSlot(root);
    assert.deepEqual([boot.slot, boot.trial, boot.version], ['B', true, '1.1.0']);
    assert.equal(readState(root).active, 'A', 'not switched before the health check');
    assert.equal(confirmSlot(root).confirmed, true);
    assert.deepEqual([readState(root).active, updateStatus(root).runningVersion], ['B', '1.1.0']);
    assert.equal(selectBootSlot(root).slot, 'B');
  });

  it('aDamagedStateFileStillBootsTheOlderSlotThatChecksOutWritesTheStateAgainAndSaysE_UPD_07', () => {
    const damages: Array<[string, string | Buffer]> = [
      ['empty', ''], ['truncated', '{"format":1,"active":"A","pen'], ['garbage', Buffer.from([0x00, 0xff, 0x13, 0x37])],
      ['no versions', '{"format":1,"active":"A","tries":0}'], ['tries a string', '{"format":1,"active":"A","tries":"1","versions":{}}'],
    ];
    for (const [name, bytes] of damages) {
      apply(pkg('1.1.0')); // pending in slot B, boot-slot removed: the selector decides
      writeFileSync(join(root, 'state.json'), bytes);
      const c = selectBootSlot(root);
      assert.equal(c.slot, 'A', `${name}: the first install, not the untried update`);
      assert.equal(c.trial, false);
      assert.match(c.rolledBack?.reason ?? '', /E-UPD-07 .*state\.json/, name);
      assert.doesNotMatch(c.rolledBack?.reason ?? '', /E-UPD-07 E-UPD-07/, `${name}: the code once`);
      const s = readState(root);
      assert.deepEqual([s.active, s.pending, s.last?.result], ['A', undefined, 'rolled-back'], name);
      assert.equal(readBootSlot(root), 'A', `${name}: the next boot needs no selector`);
      assert.equal(treeHash(slotDir(root, 'A')), activeHash, 'active slot changed');
      assert.equal(checkConsistent(root), undefined);
    }
    // Too large: refused before it is read, with its code.
    // The first install's version comes back from its tree when it says it (package.json).
    apply(pkg('1.1.0'));
    writeFileSync(join(slotDir(root, 'A'), 'package.json'), '{"version":"1.0.0"}');
    writeFileSync(join(root, 'state.json'), 'x');
    assert.equal(selectBootSlot(root).version, '1.0.0');
    assert.deepEqual(readState(root).versions, { A: '1.0.0', B: '1.1.0' });
    writeFileSync(join(root, 'state.json'), Buffer.alloc(300 * 1024, 0x20));
    assert.throws(() => readState(root), (e: unknown) => e instanceof PosError && e.code === 'E-UPD-07' && /too large/.test(e.message));
  });

  it('aPendingSlotsManifestOfTheWrongShapeIsADamagedSlotRolledBackNeverAnError', () => {
    for (const manifest of ['{}', '{"files":[null]}', '{"files":[{"path":5,"size":1,"sha256":"x"}]}', '{"files":[{"path":"../../etc/passwd","size":1,"sha256":"x"}]}']) {
      apply(pkg('1.1.0'));
      writeFileSync(join(slotDir(root, 'B'), 'manifest.json'), manifest);
      const c = selectBootSlot(root);
      assert.equal(c.slot, 'A', manifest);
      assert.match(c.rolledBack?.reason ?? '', /damaged/, manifest);
      assertRunningUntouched();
    }
  });

  it('bootSlotNamesTheActiveSlotOnlyWhileNothingIsPending', () => {
    // boot-slot is the unit's shell's decision without the selector process (I5): it must never
    // name a slot while a trial or a rollback is due, or the shell would skip them.
    assert.equal(readBootSlot(root), 'A', 'written by init');
    apply(pkg('1.1.0'));
    assert.equal(readBootSlot(root), undefined, 'an install removes it: the next boot is the trial');
    assert.equal(selectBootSlot(root).trial, true);
    assert.equal(readBootSlot(root), undefined, 'still pending during the trial boot');
    confirmSlot(root);
    assert.equal(readBootSlot(root), 'B', 'confirmed: the next boot needs no selector');
    apply(pkg('1.2.0'));
    selectBootSlot(root); // the trial of 1.2.0 in slot A crashes
    assert.equal(readBootSlot(root), undefined);
    assert.equal(selectBootSlot(root).rolledBack !== undefined, true);
    assert.equal(readBootSlot(root), 'B', 'rolled back: boot-slot names the slot still active');
    // A tree from before boot-slot (or a power cut between the state and boot-slot): the selector writes it.
    rmSync(join(root, BOOT_SLOT_FILE));
    assert.equal(selectBootSlot(root).slot, 'B');
    assert.equal(readBootSlot(root), 'B');
    // One that disagrees with the state is an inconsistency checkConsistent names.
    writeFileSync(join(root, BOOT_SLOT_FILE), 'A\n');
    assert.match(checkConsistent(root) ?? '', /boot-slot names slot A while the state has active B/);
  });

  it('refusesABadSignatureWithE-UPD-01AndTouchesNothing', () => {
    assert.equal(code(() => apply(pkg('1.1.0', { key: otherKeys.privateKeyPem }))), 'E-UPD-01');
    const file = pkg('1.1.0');
    const bytes = readFileSync(file);
    bytes[20] ^= 0x01; // inside the signed manifest
    writeFileSync(file, bytes);
    assert.equal(code(() => apply(file)), 'E-UPD-01');
    assertRunningUntouched();
    assert.equal(existsSync(slotDir(root, 'B')), false);
    assert.equal(readState(root).pending, undefined);
  });

  it('refusesAnOlderOrEqualVersionWithE-UPD-02UnlessAnAdministratorForcesIt', () => {
    assert.equal(code(() => apply(pkg('0.9.0'))), 'E-UPD-02');
    assert.equal(code(() => apply(pkg('1.0.0'))), 'E-UPD-02');
    assert.equal(code(() => apply(pkg('0.9.0'), { force: { operator: '001', role: 'cashier' } })), 'E-OPR-04');
    assertRunningUntouched();
    const r = apply(pkg('0.9.0'), { force: { operator: '099', role: 'administrator' } });
    assert.equal(r.forced, true);
    assert.equal(readState(root).pending, 'B');
    assertRunningUntouched();
  });

  it('refusesATruncatedOrAlteredPackageWithE-UPD-03', () => {
    const file = pkg('1.1.0');
    const full = readFileSync(file);
    for (const cut of [1, 3000, full.length - 40]) {
      writeFileSync(file, full.subarray(0, full.length - cut));
      assert.equal(code(() => apply(file)), 'E-UPD-03', `cut ${cut} bytes`);
    }
    const altered = Buffer.from(full);
    altered[altered.length - 10] ^= 0xff; // payload: signature still fine, file hash not
    writeFileSync(file, altered);
    assert.equal(code(() => apply(file)), 'E-UPD-03');
    assertRunningUntouched();
    assert.equal(readState(root).pending, undefined);
  });

  it('refusesAPackageForAnotherBoardWithE-UPD-05', () => {
    assert.equal(code(() => apply(pkg('1.1.0', { board: 'handheld' }))), 'E-UPD-05');
    assertRunningUntouched();
  });

  it('rollsBackWhenTheFirstBootFailsAndReportsE-UPD-04', () => {
    apply(pkg('1.1.0'));
    assert.equal(selectBootSlot(root).trial, true); // the trial boot crashes before confirming
    const next = selectBootSlot(root);
    assert.equal(next.slot, 'A');
    assert.match(next.rolledBack?.reason ?? '', /did not confirm/);
    assertRunningUntouched();
    assert.equal(readState(root).pending, undefined);
    assert.equal(rolledBackError(root)?.code, 'E-UPD-04');
    assert.equal(confirmSlot(root).confirmed, false, 'a rolled-back version cannot be confirmed later');
  });

  it('rollsBackOnAFailedHealthCheckAnUnconfirmedTrialPastItsDeadlineAndADamagedPendingSlot', () => {
    apply(pkg('1.1.0'));
    selectBootSlot(root);
    assert.equal(failTrial(root, 'health check: journal did not open'), true);
    assertRunningUntouched();

    const now = 1_000_000;
    apply(pkg('1.1.1'));
    // No boot-time clock (no /proc): the wall clock from the first trial boot.
    const noBootClock: BootClock = { bootId: () => undefined, uptimeMs: () => undefined };
    selectBootSlot(root, { clock: () => now, machine: noBootClock });
    assert.equal(rollbackIfOverdue(root, 60_000, () => now + 59_000, noBootClock), false);
    assert.equal(rollbackIfOverdue(root, 60_000, () => now + 60_000, noBootClock), true);
    assertRunningUntouched();

    // Within the boot the selector stamped, the boot-time clock: NTP stepping the wall clock from
    // a dead RTC's 1970 to today is no overdue trial, and a trial that hangs is one all the same.
    apply(pkg('1.1.3'));
    const machine = { uptimeMs: 12_000 };
    const thisBoot: BootClock = { bootId: () => 'boot-1', uptimeMs: () => machine.uptimeMs };
    selectBootSlot(root, { clock: () => 0, machine: thisBoot });
    machine.uptimeMs += 3_000;
    assert.equal(rollbackIfOverdue(root, 60_000, () => Date.UTC(2026, 10, 21), thisBoot), false, 'the wall clock stepped 56 years');
    machine.uptimeMs += 57_000;
    assert.equal(rollbackIfOverdue(root, 60_000, () => 1_000, thisBoot), true, 'a minute of this boot, whatever the wall clock says');
    assertRunningUntouched();

    apply(pkg('1.1.2'));
    writeFileSync(join(slotDir(root, 'B'), 'data-0.bin'), 'rot');
    const c = selectBootSlot(root);
    assert.equal(c.slot, 'A');
    assert.match(c.rolledBack?.reason ?? '', /damaged/);
    assertRunningUntouched();
  });

  it('survivesASigkillAfterEveryDurableStepOfAnInstall', async function () {
    this.timeout(120_000);
    const file = pkg('1.1.0', { files: 3 });
    const run = (killAt: number): Promise<{ out: string; signal: NodeJS.Signals | null }> => new Promise((resolve, reject) => {
      const child = spawnModule(join(__dirname, 'update-apply-child'), [root, file, keys.publicKeyHex, BOARD, String(killAt)]);
      let out = '';
      child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
      child.on('error', reject);
      child.on('close', (_c, signal) => resolve({ out, signal }));
    });
    // A previous install pending in B first, so the "pending-cleared" step is exercised too.
    apply(pkg('1.0.5'));
    const killedAt: string[] = [];
    for (let k = 1; k < 40; k++) {
      const r = await run(k);
      if (r.out.includes('done')) { assert.equal(r.signal, null); break; }
      assert.equal(r.signal, 'SIGKILL', r.out);
      killedAt.push(r.out.trim().split('\n').pop() ?? '');
      assertRunningUntouched();
      const s = readState(root);
      if (s.pending) assert.ok(['1.0.5', '1.1.0'].includes(s.versions.B ?? ''), `pending ${s.versions.B}`);
      // After the crash, booting must choose a consistent slot: the old one or a complete new one.
      const boot = selectBootSlot(root, { triesMax: 99 });
      if (boot.trial) assert.equal(checkConsistent(root), undefined);
      failTrial(root, 'test: back to A before the next kill');
      assertRunningUntouched();
      apply(pkg('1.0.5'));
    }
    assert.ok(killedAt.length >= 7, `killed at ${killedAt.length} steps: ${killedAt.join(' | ')}`);
    assert.ok(killedAt.some((l) => l.includes('slot-in-place')) && killedAt.some((l) => l.includes('state-written')));
    assert.equal(readState(root).pending, 'B');
    assert.equal(readState(root).versions.B, '1.1.0');
    assert.equal(selectBootSlot(root).version, '1.1.0');
    assert.equal(confirmSlot(root).confirmed, true);
  });
});
