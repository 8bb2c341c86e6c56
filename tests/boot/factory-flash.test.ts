/**
 * `pos factory flash` without QEMU (boot/factory-flash.ts, boot/flash/target.ts): a small signed
 * release package and a stand-in base OS written onto disk image files with 8 MiB partitions.
 *
 * - Three targets, two at once: every step passes, the target reads as committed, its partitions
 *   hash as the image's, slot A holds every file of the signed manifest, the data partition holds
 *   the provisioned journal (identity of that serial) and the device key; one report per serial.
 * - The station SIGKILLed at every hold point (before and after each durable step, half the image
 *   written among them): the target never reads as committed with anything missing (before the
 *   commit: no protective MBR, so no partition table for Linux or a bootloader), and the station
 *   flashes it again to a complete, checked target, reusing the serial's provisioning.
 * - A byte changed on the target between its write and its read-back: E-FLS-02, the target is
 *   not committed (no partition table) and the next run flashes it whole.
 * - inspectTarget's states; a package signed by another key, or built for another board, is
 *   refused before any target is touched.
 * The boot and the self-test in QEMU: tests/guest/factory-flash.full.ts; onto block devices (loop
 * devices): tests/boot/factory-flash-blockdev.test.ts. Shared fixture: tests/boot/flash-fixture.ts.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { needTool } from '../support/tools';
import { buildPackage, generateUpdateKeys } from '../../boot/update';
import { FLASH_SUMMARY_FILE, FlashReport, FlashStationOptions, FlashSummary, HOLD_POINTS, TPM_FIRST_BOOT, flashStation } from '../../boot/factory-flash';
import { FIRST_BOOT_REQUEST_FILE, readFirstBootRequest } from '../../boot/first-boot-request';
import { hashRange, inspectTarget } from '../../boot/flash/target';
import { partitionLayout } from '../../boot/flash/disk-image';
import { main } from '../../boot/pos';
import { hashPassword } from '../../runtime/operators';
import { BOARD, Fixture, REPO, SIZES, component, everyFileText, fixture, journalOperators, journalSerial, manifestFile, partOffset, slotAProblem, station } from './flash-fixture';

describe('pos factory flash (no QEMU): targets written, checked, committed last; a killed station flashes again', function () {
  this.timeout(10 * 60_000);
  let f: Fixture;
  before(function () {
    for (const t of ['sfdisk', 'mke2fs', 'debugfs']) needTool(this, t);
    if (process.getuid?.() !== 0) {
      const message = 'pos factory flash tests need root (file owners in the staged trees, as boot/flash/disk-image.test.ts)';
      if (process.env.POS_REQUIRE_TOOLS === '1') throw new Error(message);
      process.stderr.write(`\n*** SKIPPED: ${message} ***\n\n`);
      this.skip();
    }
    f = fixture();
  });
  after(() => { if (f?.dir) rmSync(f.dir, { recursive: true, force: true }); });

  const options = (name: string, serials: readonly string[], extra: Partial<FlashStationOptions> = {}): FlashStationOptions => ({
    image: f.image, boardFile: BOARD, publicKeyHex: f.publicKeyHex, rootfs: f.rootfs, sizes: SIZES,
    targets: serials.map((serial, i) => ({ serial, target: join(f.dir, name, `${serial}.img`), identity: { tid: `FT${String(i + 1).padStart(6, '0')}`, mid: `89812345670000${i + 1}`, components: [component(), component()].map((c) => ({ keyHex: c.split('/')[0], kcvHex: c.split('/')[1] })) } })),
    workDir: join(f.dir, name, 'work'), reportDir: join(f.dir, name, 'reports'), scryptN: 1024, ...extra,
  });

  it('three targets, two at once: each committed, its partitions, slot A and data read back, one report per serial', async () => {
    mkdirSync(join(f.dir, 'three'), { recursive: true });
    const steps: string[] = [];
    const reports = await flashStation(options('three', ['FL-0001', 'FL-0002', 'FL-0003'], { concurrency: 2, onProgress: (s, step) => steps.push(`${s} ${step}`) }));
    assert.deepEqual(reports.map((r) => r.pass), [true, true, true], JSON.stringify(reports.map((r) => r.errors)));
    for (const r of reports) {
      assert.deepEqual(r.steps.map((s) => s.name), ['provision', 'erase', 'write', 'data', 'readback', 'commit', 'boot']);
      assert.equal(r.steps.find((s) => s.name === 'boot')?.skipped !== undefined, true, 'no kernel given: the boot is skipped, and says so');
      assert.equal(r.before.state, 'blank');
      assert.equal(r.after?.state, 'complete');
      assert.equal(inspectTarget(r.target).state, 'complete');
      assert.deepEqual(r.hashes.partitions.map((p) => p.label), ['gpt-primary', 'posroot', 'pos', 'gpt-backup', 'protective-mbr']);
      assert.ok((r.hashes.slotA?.files ?? 0) >= 4 && r.hashes.selector?.files === r.hashes.slotA?.files);
      assert.equal(slotAProblem(r.target, join(f.dir, 'three', `slot-${r.serial}`)), undefined);
      assert.equal(await journalSerial(r.target, join(f.dir, 'three', `data-${r.serial}`)), r.serial);
      const written = JSON.parse(readFileSync(join(f.dir, 'three', 'reports', `${r.serial}.flash.json`), 'utf8')) as FlashReport;
      assert.equal(written.pass, true);
      assert.equal(written.servicePassword, undefined, 'the service password is never written');
      assert.ok(r.servicePassword && r.servicePassword.length > 0, 'the station has it for its console');
    }
    const summary = JSON.parse(readFileSync(join(f.dir, 'three', 'reports', FLASH_SUMMARY_FILE), 'utf8')) as FlashSummary;
    assert.deepEqual([summary.passed, summary.failed, summary.concurrency], [['FL-0001', 'FL-0002', 'FL-0003'], [], 2]);
    assert.equal(summary.diskImage.reused, false, 'a new work folder: the image built');
    // The pool: at most two targets between their start (their worker thread made) and their end at any time.
    let inFlight = 0;
    let peak = 0;
    for (const s of steps) {
      if (s.endsWith(' start')) peak = Math.max(peak, ++inFlight);
      if (s.endsWith(' done: pass')) inFlight--;
    }
    assert.equal(peak, 2);
  });

  it('--merchant-admin N --merchant-password-file F (or a manifest row\'s own): each target\'s journal has that administrator; the password is in no output or file', async () => {
    const dir = join(f.dir, 'merchant');
    mkdirSync(dir, { recursive: true });
    const [flagPassword, rowPassword] = ['24681357', '97531864'];
    writeFileSync(join(dir, 'pw-flag.txt'), `${flagPassword}\n`);
    writeFileSync(join(dir, 'pw-row.txt'), `${rowPassword}\n`);
    const manifest = join(dir, 'manifest.csv');
    writeFileSync(manifest, ['serial,tid,mid,components,merchantAdmin,merchantPasswordFile',
      `FL-0501,FM000001,898123456700051,${component()};${component()},,`,
      `FL-0502,FM000002,898123456700052,${component()};${component()},77,pw-row.txt`].join('\n') + '\n');
    const targets = ['FL-0501', 'FL-0502'].map((s) => join(dir, `${s}.img`));
    const args = ['factory', 'flash', '--image', f.image, '--rootfs', f.rootfs, '--board', BOARD, '--public-key', f.publicKeyHex, '--sizes', '8,8,8',
      '--targets', targets.join(','), '--manifest', manifest, '--report-dir', join(dir, 'reports'), '--work-dir', join(dir, 'work')];
    const lines: string[] = [];
    // A password that is not 4..12 digits: refused before any target is touched.
    writeFileSync(join(dir, 'pw-bad.txt'), 'abc\n');
    assert.notEqual(await main([...args, '--merchant-admin', '88', '--merchant-password-file', join(dir, 'pw-bad.txt')], (l) => lines.push(l), (l) => lines.push(l)), 0);
    assert.match(lines.join('\n'), /E-OPR-08.*password is 4\.\.12 digits/);
    assert.deepEqual(targets.map((t) => existsSync(t)), [false, false], 'nothing written');
    lines.length = 0;
    const code = await main([...args, '--merchant-admin', '88', '--merchant-password-file', join(dir, 'pw-flag.txt')], (l) => lines.push(l), (l) => lines.push(l));
    assert.equal(code, 0, lines.join('\n'));
    for (const [i, [number, password]] of [['088', flagPassword], ['077', rowPassword]].entries()) {
      const ops = await journalOperators(targets[i], join(dir, `data-${i}`));
      assert.equal(ops.length, 1, `target ${i + 1}: one operator`);
      const op = ops[0] as { number: string; role: string; salt: Uint8Array; scryptN: number; passwordHash: Uint8Array; event: string };
      assert.deepEqual([op.number, op.role, op.event], [number, 'administrator', 'created']);
      assert.ok(Buffer.from(await hashPassword(password, Buffer.from(op.salt), op.scryptN)).equals(Buffer.from(op.passwordHash)), 'hashed as the login checks it');
      const report = JSON.parse(readFileSync(join(dir, 'reports', `FL-050${i + 1}.flash.json`), 'utf8')) as FlashReport;
      assert.deepEqual(report.provisioning?.merchantAdmin, { operator: number, role: 'administrator' });
    }
    const everything = `${lines.join('\n')}\n${everyFileText(join(dir, 'reports'))}\n${everyFileText(join(dir, 'work'))}`;
    for (const secret of [flagPassword, rowPassword]) assert.ok(!everything.includes(secret), 'no password in the console, a report or the station\'s files');
  });

  it('a re-flash that reuses a staged provisioning made without an administrator adds the one asked for now', async () => {
    const first = options('readmin', ['FL-0701']);
    mkdirSync(join(f.dir, 'readmin'), { recursive: true });
    const [without] = await flashStation(first);
    assert.equal(without.pass, true, JSON.stringify(without.errors));
    assert.deepEqual(await journalOperators(without.target, join(f.dir, 'readmin', 'data-1')), []);
    const again = { ...first, targets: first.targets.map((t) => ({ ...t, merchantAdmin: { number: '88', password: '24681357' } })) };
    const [withAdmin] = await flashStation(again);
    assert.equal(withAdmin.pass, true, JSON.stringify(withAdmin.errors));
    assert.equal((withAdmin.steps[0].detail as { reused?: boolean } | undefined)?.reused, true, 'the staged provisioning is reused');
    assert.deepEqual(withAdmin.provisioning?.merchantAdmin, { operator: '088', role: 'administrator' });
    assert.deepEqual((await journalOperators(withAdmin.target, join(f.dir, 'readmin', 'data-2'))).map((o) => [o.number, o.role]), [['088', 'administrator']]);
  });

  it('a serial whose flash committed goes onto that disk again, never onto another (E-OPR-12, nothing written), even one swapped in at its path', async () => {
    const dir = join(f.dir, 'once');
    mkdirSync(dir, { recursive: true });
    const base = options('once', ['FL-0801', 'FL-0802']);
    const onto = (serial: string, target: string): FlashStationOptions => ({ ...base, targets: base.targets.filter((t) => t.serial === serial).map((t) => ({ ...t, target: join(dir, target) })) });
    const [first] = await flashStation(onto('FL-0801', 'a.img'));
    assert.equal(first.pass, true, JSON.stringify(first.errors));
    const [again] = await flashStation(onto('FL-0801', 'a.img'));
    assert.equal(again.pass, true, `the same disk again (a manifest run again): ${JSON.stringify(again.errors)}`);
    const [second] = await flashStation(onto('FL-0801', 'b.img'));
    assert.equal(second.pass, false);
    assert.deepEqual(second.errors.map((e) => e.code), ['E-OPR-12']);
    assert.match(second.errors[0].message, /FL-0801 was flashed onto .*a\.img/);
    assert.equal(existsSync(join(dir, 'b.img')), false, 'nothing written to the second disk');
    // Another terminal's finished disk put where the first one was: not that disk either.
    const [other] = await flashStation(onto('FL-0802', 'c.img'));
    assert.equal(other.pass, true, JSON.stringify(other.errors));
    execFileSync('cp', [join(dir, 'c.img'), join(dir, 'a.img')]);
    const [swapped] = await flashStation(onto('FL-0801', 'a.img'));
    assert.deepEqual(swapped.errors.map((e) => e.code), ['E-OPR-12']);
    assert.equal(await journalSerial(join(dir, 'a.img'), join(dir, 'data-swapped')), 'FL-0802', 'the swapped-in disk keeps its own terminal');
  });

  it('a TPM board: the station writes the first-boot request onto the data partition, no key and no journal (the board\'s TPM seals at first boot)', async () => {
    const dir = join(f.dir, 'tpm');
    mkdirSync(dir, { recursive: true });
    const board = JSON.parse(readFileSync(join(REPO, 'board-configs', `${BOARD}.json`), 'utf8')) as Record<string, unknown>;
    const boardFile = join(dir, 'qemu-x86-tpm.json');
    writeFileSync(boardFile, JSON.stringify({ ...board, deviceKey: { provider: 'tpm2', tcti: 'device:/dev/tpmrm0' } }));
    const [r] = await flashStation(options('tpm', ['FL-0601'], { boardFile }));
    assert.equal(r.pass, true, JSON.stringify(r.errors));
    assert.equal(r.provisioning?.deviceKey, TPM_FIRST_BOOT);
    const data = partitionLayout(SIZES).parts.find((p) => p.label === 'posdata')!;
    const into = join(dir, 'data');
    mkdirSync(into, { recursive: true });
    execFileSync('debugfs', ['-R', `rdump / ${into}`, `${r.target}?offset=${data.startBytes}`], { stdio: 'ignore' });
    const files = readdirSync(into).filter((n) => n !== 'lost+found').sort();
    assert.deepEqual(files, [FIRST_BOOT_REQUEST_FILE, 'service-admin.json'], 'the request and the service administrator; no device key, no journal');
    assert.equal(readFirstBootRequest(join(into, FIRST_BOOT_REQUEST_FILE))?.serial, 'FL-0601');
    // Flashed again (a stopped run): the staged request is reused, not a second provisioning.
    const [again] = await flashStation(options('tpm', ['FL-0601'], { boardFile }));
    assert.equal(again.pass, true, JSON.stringify(again.errors));
    assert.equal((again.steps[0].detail as { reused?: boolean } | undefined)?.reused, true);
  });

  it('a byte changed on the target before its read-back: E-FLS-02, never committed (no partition table), the next run flashes it', async () => {
    mkdirSync(join(f.dir, 'bitflip'), { recursive: true });
    const pos = partitionLayout(SIZES).parts.find((p) => p.label === 'pos')!;
    const o = options('bitflip', ['FL-0301'], {
      // The write is done and fsynced when the read-back starts: one byte of the pos partition flips, as a bad cell would.
      onProgress: (serial, step) => {
        if (step !== 'readback') return;
        const fd = openSync(join(f.dir, 'bitflip', `${serial}.img`), 'r+');
        try { writeSync(fd, Buffer.from([0x5a]), 0, 1, pos.startBytes + pos.sizeBytes / 2); } finally { closeSync(fd); }
      },
    });
    const [bad] = await flashStation(o);
    assert.equal(bad.pass, false);
    assert.deepEqual(bad.errors.map((e) => [e.step, e.code]), [['readback', 'E-FLS-02']]);
    assert.deepEqual(bad.steps.map((s) => s.name), ['provision', 'erase', 'write', 'data', 'readback']);
    assert.equal(inspectTarget(bad.target).state, 'incomplete', 'not committed: no partition table');
    const summary = JSON.parse(readFileSync(join(f.dir, 'bitflip', 'reports', FLASH_SUMMARY_FILE), 'utf8')) as FlashSummary;
    assert.deepEqual(summary.failed.map((x) => [x.serial, x.step, x.code]), [['FL-0301', 'readback', 'E-FLS-02']], 'the summary names the failed serial and its step');
    const [good] = await flashStation({ ...o, onProgress: undefined });
    assert.equal(good.pass, true, JSON.stringify(good.errors));
    assert.equal(good.before.state, 'incomplete');
    assert.equal(inspectTarget(good.target).state, 'complete');
  });

  it('inspectTarget: a missing or zeroed file is blank, a disk with another (MBR) partition table is foreign', () => {
    const dir = join(f.dir, 'inspect');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'dos.img');
    const fd = openSync(file, 'w');
    try { writeSync(fd, Buffer.alloc(1), 0, 1, 16 * 1024 * 1024 - 1); } finally { closeSync(fd); }
    assert.equal(inspectTarget(file).state, 'blank');
    execFileSync('sfdisk', ['-q', file], { input: 'label: dos\nstart=2048, size=8192, type=83\n' });
    assert.equal(inspectTarget(file).state, 'foreign');
    assert.equal(inspectTarget(join(dir, 'none.img')).state, 'blank');
  });

  it('a package signed by another key or built for another board is refused before any target is touched', async () => {
    mkdirSync(join(f.dir, 'refused'), { recursive: true });
    const other = generateUpdateKeys();
    await assert.rejects(flashStation(options('refused', ['FL-0101'], { publicKeyHex: other.publicKeyHex })), /E-UPD-01|signature/);
    const sim = join(f.dir, 'refused', 'sim.posupd');
    writeFileSync(sim, buildPackage(join(f.dir, 'release'), f.privateKeyPem, { version: '1.0.0', board: 'sim' }));
    await assert.rejects(flashStation(options('refused', ['FL-0101'], { image: sim })), (e: Error & { code?: string }) => e.code === 'E-UPD-05');
    assert.equal(existsSync(join(f.dir, 'refused', 'FL-0101.img')), false);
  });

  it('the disk image is kept for the next run with the same inputs; changed on the station\'s disk or with another board file, it is built again', async () => {
    const name = 'kept';
    mkdirSync(join(f.dir, name), { recursive: true });
    const images: Array<{ reused: boolean }> = [];
    const flash = async (serial: string, extra: Partial<FlashStationOptions> = {}): Promise<FlashReport> => {
      const o = options(name, [serial], { onImage: (i) => images.push(i), ...extra });
      // One registry per work folder: each serial its own TID and MID.
      const targets = o.targets.map((t) => ({ ...t, identity: { ...t.identity, tid: `FT05${serial.slice(-4)}`, mid: `8981234567005${serial.slice(-2)}` } }));
      const [r] = await flashStation({ ...o, targets });
      assert.equal(r.pass, true, `${serial}: ${JSON.stringify(r.errors)}`);
      assert.equal(inspectTarget(r.target).state, 'complete');
      assert.equal(slotAProblem(r.target, join(f.dir, name, `slot-${serial}`)), undefined);
      assert.equal(await journalSerial(r.target, join(f.dir, name, `data-${serial}`)), serial);
      return r;
    };
    const first = await flash('FL-0501');
    await flash('FL-0502');
    const summary = JSON.parse(readFileSync(join(f.dir, name, 'reports', FLASH_SUMMARY_FILE), 'utf8')) as FlashSummary;
    assert.equal(summary.diskImage.reused, true, 'the summary says the image was reused');
    // A byte of posroot changed in the kept image (a bad sector on the station's disk): built again.
    const kept = join(f.dir, name, 'work', 'golden', 'image.img');
    const fd = openSync(kept, 'r+');
    writeSync(fd, Buffer.from('X'), 0, 1, partOffset('posroot') + 4096 * 3 + 17);
    closeSync(fd);
    const posroot = first.hashes.partitions.find((p) => p.label === 'posroot');
    assert.ok(posroot);
    const damaged = hashRange(kept, posroot.startBytes, posroot.sizeBytes);
    assert.notEqual(damaged, posroot.sha256);
    const third = await flash('FL-0503');
    assert.notEqual(third.hashes.partitions.find((p) => p.label === 'posroot')?.sha256, damaged, 'the damaged posroot was never written to a target');
    // Another board file (same board, another text) is another image.
    const board2 = join(f.dir, name, 'board2.json');
    writeFileSync(board2, readFileSync(join(REPO, 'board-configs', `${BOARD}.json`), 'utf8').replace(/\n$/, '\n\n'));
    await flash('FL-0504', { boardFile: board2 });
    await flash('FL-0505', { boardFile: board2 });
    assert.deepEqual(images.map((i) => i.reused), [false, true, false, false, true]);
  });

  it('the station SIGKILLed at every hold point: never a committed half image; the next run flashes it whole', async () => {
    const dir = join(f.dir, 'killed');
    mkdirSync(dir, { recursive: true });
    const target = join(dir, 'FL-0201.img');
    const args = [
      '--image', f.image, '--rootfs', f.rootfs, '--board', BOARD, '--public-key', f.publicKeyHex, '--sizes', '8,8,8',
      `--targets=${target}`, `--manifest=${manifestFile(dir, ['FL-0201'])}`, '--report-dir', join(dir, 'reports'), '--work-dir', join(dir, 'work'),
    ];
    for (const point of HOLD_POINTS) {
      const killed = await station(args, point);
      assert.equal(killed.signal, 'SIGKILL', `killed at ${point}:\n${killed.out}`);
      assert.match(killed.out, new RegExp(`HOLD FL-0201 ${point}`));
      const state = inspectTarget(target).state;
      if (point === 'committed') {
        assert.equal(state, 'complete', 'killed after its commit: a whole image');
        assert.equal(slotAProblem(target, join(dir, 'slot')), undefined);
        assert.equal(await journalSerial(target, join(dir, 'data')), 'FL-0201');
      } else if (point === 'provisioned') {
        // Nothing written yet: the target is as the previous run left it (none, or whole).
        assert.ok(state === 'blank' || state === 'complete', `${point}: ${state}`);
      } else {
        assert.equal(state, point === 'erased' ? 'blank' : 'incomplete', `killed at ${point}: no partition table, nothing boots`);
      }
      const again = await station(args);
      assert.equal(again.code, 0, `re-flash after a kill at ${point}:\n${again.out}`);
      assert.match(again.out, /disk image: the one an earlier run built/, 'the killed run\'s kept image is reused');
      const report = JSON.parse(readFileSync(join(dir, 'reports', 'FL-0201.flash.json'), 'utf8')) as FlashReport;
      assert.equal(report.pass, true);
      assert.equal(report.before.state, state, 'the report says what the station found');
      assert.equal((report.steps[0].detail as { reused?: boolean } | undefined)?.reused, true, 'the provisioning of the killed run is reused');
      assert.equal(inspectTarget(target).state, 'complete');
      assert.equal(slotAProblem(target, join(dir, 'slot')), undefined);
      assert.equal(await journalSerial(target, join(dir, 'data')), 'FL-0201');
    }
  });

  it('eight targets at once, the station SIGKILLed mid-way: each target committed and whole, or without a partition table; the next run flashes all eight', async () => {
    const dir = join(f.dir, 'eight');
    mkdirSync(dir, { recursive: true });
    const serials = Array.from({ length: 8 }, (_, i) => `FL-04${String(i + 1).padStart(2, '0')}`);
    const targets = serials.map((s) => join(dir, `${s}.img`));
    const args = [
      '--image', f.image, '--rootfs', f.rootfs, '--board', BOARD, '--public-key', f.publicKeyHex, '--sizes', '8,8,8', '--concurrency', '8',
      `--targets=${targets.join(',')}`, `--manifest=${manifestFile(dir, serials)}`, '--report-dir', join(dir, 'reports'), '--work-dir', join(dir, 'work'),
    ];
    // Killed when the second target starts its commit: by then the eight are spread over their
    // steps (some writing or reading back, maybe one committed), as a power cut finds a station.
    const killed = await station(args, undefined, (out) => (out.match(/^FL-04\d\d {2}commit$/gm) ?? []).length >= 2);
    assert.equal(killed.signal, 'SIGKILL', killed.out);
    const found = new Map<string, string>();
    for (const [i, target] of targets.entries()) {
      const state = inspectTarget(target).state;
      found.set(serials[i], state);
      if (state === 'complete') {
        assert.equal(slotAProblem(target, join(dir, 'slot')), undefined, `${serials[i]} committed: slot A whole`);
        assert.equal(await journalSerial(target, join(dir, 'data')), serials[i], `${serials[i]} committed: its own provisioning`);
      } else {
        assert.ok(state === 'incomplete' || state === 'blank', `${serials[i]}: ${state}: not committed, so no partition table`);
      }
    }
    process.stderr.write(`      killed with 8 running: ${[...found].map(([s, st]) => `${s} ${st}`).join(', ')}\n`);
    assert.ok([...found.values()].some((st) => st !== 'complete'), 'the kill found targets mid-way');
    const again = await station(args);
    assert.equal(again.code, 0, again.out);
    for (const [i, target] of targets.entries()) {
      const report = JSON.parse(readFileSync(join(dir, 'reports', `${serials[i]}.flash.json`), 'utf8')) as FlashReport;
      assert.equal(report.pass, true, serials[i]);
      assert.equal(report.before.state, found.get(serials[i]), 'the report says what the station found');
      assert.equal(inspectTarget(target).state, 'complete');
      assert.equal(await journalSerial(target, join(dir, 'data')), serials[i]);
    }
    const summary = JSON.parse(readFileSync(join(dir, 'reports', FLASH_SUMMARY_FILE), 'utf8')) as FlashSummary;
    assert.deepEqual([summary.passed, summary.failed], [serials, []]);
  });
});
