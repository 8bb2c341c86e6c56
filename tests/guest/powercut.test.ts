/**
 * A REAL power cut: QEMU SIGKILLed while the guest's terminal sells, so the guest's page cache is
 * gone and the disk image holds what the guest's ext4 had written (QEMU's cache=writeback: what
 * the guest flushed reached the host file). The disk is booted again: ext4 replays its journal,
 * systemd starts the terminal, which verifies its journal and resumes pending work.
 *
 * - mid-sale: the cut comes while the acquirer simulator holds its answer to an approved sale
 *   (the terminal has journaled the pending reversal durably before sending); after the reboot
 *   the reversal goes out before login and the host's ledger and the journal agree.
 *   The two sales acknowledged before (idle after each) are in the journal read off the disk.
 * - acknowledged records: tests/powercut's journal workload run in the guest on the data
 *   partition with the slot's journal code, QEMU SIGKILLed once it has printed its 60th
 *   acknowledgement; after the reboot the journal opens (verified) and holds every acknowledged
 *   record. Both boots are without the terminal (`systemd.mask=` on the kernel command line).
 * - positive control: the same workload with `unsafeNoSync` must lose acknowledged records; if it
 *   did not, the rig would not be cutting power and the two tests above would prove nothing. It
 *   runs beside the first, in the same boot and cut, on another file system (/opt/pos: its own
 *   ext4 journal, which the first workload's commits do not flush).
 * One cut each, not many: a cut costs two guest boots (a minute or more under TCG); the two
 * workloads share theirs.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import * as ts from 'typescript';
import { join } from 'node:path';
import { Guest } from './qemu';
import { REPO } from './guest-disk';
import { bootGuest, freshDisk, guestBench, guestDriver, guestSale, guestSignIn, guestWaitFor, reportFailuresAtOnce, waitUnitActive, GuestBench, GUEST_STEP_MS_MAX } from './support';
import { partitionLayout, PARTITION_SIZES_DEFAULT } from '../../boot/flash/disk-image';
import { journalState, assertLedgerAgrees } from '../e2e/driver';

/** The journal folder copied off the data partition with debugfs (the guest powered off cleanly first). */
function journalFromDisk(bench: GuestBench, disk: string, name: string): string {
  const out = join(bench.dir, name);
  mkdirSync(out, { recursive: true });
  const data = partitionLayout(PARTITION_SIZES_DEFAULT).parts[2].startBytes;
  execFileSync('debugfs', ['-R', `rdump /journal ${out}`, `${disk}?offset=${data}`], { stdio: 'ignore' });
  return out;
}

/** tests/powercut/workload-journal.ts and what it imports from tests/, as JavaScript for the guest's node. */
function workloadScripts(): Record<string, string> {
  const emit = (src: string): string => ts.transpileModule(readFileSync(join(REPO, src), 'utf8'), { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } }).outputText
    // The journal itself is the slot's compiled one (the code the terminal runs).
    .replace(/require\("\.\.\/\.\.\/storage\//g, 'require("/opt/pos/slotA/dist/storage/');
  return { 'workload-journal.js': emit('tests/powercut/workload-journal.ts'), 'journal-values.js': emit('tests/powercut/journal-values.ts') };
}

/** Kernel command line for a boot without the terminal (systemd-debug-generator masks the unit for that boot). */
const WITHOUT_TERMINAL = 'systemd.mask=pos-terminal.service';

/** The agent starts before the mounts (sysinit): waits for the data and slot partitions. */
function waitMounts(guest: Guest): Promise<void> {
  return guestWaitFor(guest, 'mountpoint -q /var/lib/pos && mountpoint -q /opt/pos', 120_000, 'findmnt');
}

describe('guest: power cut (QEMU SIGKILLed) on the flashed disk', function () {
  this.timeout(20 * 60_000);
  const bench = guestBench('pos-guest-powercut-');
  reportFailuresAtOnce();
  let g: Guest | undefined;
  afterEach(async () => { if (g?.running) await g.powerCut(); g = undefined; });

  async function bootToIdle(disk: string, run: string): Promise<{ g: Guest; d: Awaited<ReturnType<typeof guestDriver>> }> {
    const guest = await bootGuest(bench, disk, run);
    g = guest;
    await waitUnitActive(guest);
    const d = await guestDriver(bench, guest);
    return { g: guest, d };
  }

  async function cleanPowerOff(guest: Guest): Promise<void> {
    await guest.run('systemctl poweroff').catch(() => undefined);
    assert.equal(await guest.waitExit(180_000), 0);
  }

  it('cutMidSaleThenRebootResumesTheReversalAndLosesNothingAcknowledged', async () => {
    const disk = freshDisk(bench, 'midsale');
    let { g: guest, d } = await bootToIdle(disk, 'midsale-1');
    await guestSignIn(d);
    await guestSale(d, '2500');
    await guestSale(d, '3100');
    const acknowledged = bench.host.ledger.entries({}).filter((e) => e.type === 'sale' && e.status === 'approved').map((e) => e.stan);
    bench.host.setFault({ kind: 'delay', delayMs: 600_000, type: 'sale' });
    await d.keys('8800OK');
    await d.until('sale.card', () => true, GUEST_STEP_MS_MAX);
    await d.cmd('swipe', { card: 'magDebit' });
    await d.until('sale.online', () => true, GUEST_STEP_MS_MAX);
    const deadline = Date.now() + 60_000;
    while (bench.host.ledger.entries({}).filter((e) => e.type === 'sale').length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const inFlight = bench.host.ledger.entries({}).find((e) => e.type === 'sale' && !acknowledged.includes(e.stan));
    assert.equal(inFlight?.status, 'approved', 'the host approved the third sale; the terminal does not know yet');
    d.run?.client.close();
    await guest.powerCut();
    bench.host.clearFaults();

    ({ g: guest, d } = await bootToIdle(disk, 'midsale-2'));
    const back = await d.until('login', (s) => s.data.notice !== undefined, 180_000);
    assert.equal(back.data.notice, 'reversal-sent', 'pending work at boot: the reversal went out before login');
    assert.equal(bench.host.ledger.entries({}).find((e) => e.stan === inFlight?.stan)?.status, 'reversed');
    d.run?.client.close();
    await cleanPowerOff(guest);
    // journalState opens <dir>/journal: rdump put the data partition's journal folder there.
    const state = await journalState(journalFromDisk(bench, disk, 'midsale-journal'));
    for (const stan of acknowledged) assert.equal(state.txns.get(stan)?.status, 'approved', `acknowledged sale STAN ${stan} is in the journal after the cut`);
    assertLedgerAgrees(bench.host, state, state.batch);
  });

  /**
   * Where each workload writes: the journal that syncs on the data partition (where the terminal's
   * journal lives), the positive control without sync on /opt/pos, a file system of its own (its
   * own ext4 journal: the synced workload's commits flush nothing of it, and with the terminal
   * masked nothing else writes there).
   */
  const WORKLOADS = { sync: { dir: '/var/lib/pos/wl', flags: '' }, nosync: { dir: '/opt/pos/wl-nosync', flags: '--unsafe-no-sync' } } as const;
  type WorkloadResults = Record<keyof typeof WORKLOADS, { acked: number; kept: number }>;
  let cut: Promise<WorkloadResults> | undefined;

  /**
   * Both workloads in one boot and one cut (each guest boot is a minute of TCG), QEMU SIGKILLed once
   * each has printed its 60th acknowledgement; then one boot to read both journals back.
   */
  async function workloadsCut(): Promise<WorkloadResults> {
    const disk = freshDisk(bench, 'workloads');
    // Without the terminal (masked for the boot): the workloads are alone on their partitions, and
    // the terminal's start (some 14 s of the guest's one TCG CPU) is not paid for.
    const guest = await bootGuest(bench, disk, 'workloads-1', WITHOUT_TERMINAL);
    g = guest;
    await waitMounts(guest);
    const scripts = Object.entries(workloadScripts());
    for (const [tag, w] of Object.entries(WORKLOADS)) {
      for (const [name, js] of scripts) {
        await guest.sh(`mkdir -p ${w.dir} && echo ${Buffer.from(js).toString('base64')} | base64 -d > ${w.dir}/${name}`);
      }
      await guest.sh(`cd ${w.dir} && (setsid /opt/pos/slotA/node/bin/node workload-journal.js ${w.dir}/journal 100000 --interval-ms=20 --tag=${tag} ${w.flags} >/dev/ttyS3 2>&1 &)`);
    }
    const ackOf = (tag: string, line: string): number => Number(new RegExp(`^ACK ${tag} (\\d+):(\\d+)$`).exec(line)?.[2] ?? 0);
    for (const tag of Object.keys(WORKLOADS)) {
      await guest.waitLine((l) => ackOf(tag, l) >= 60, 180_000, `the ${tag} workload's 60th acknowledgement (lines: ${guest.lines.slice(-5).join(' | ')})`);
    }
    await guest.powerCut();
    const acked = (tag: string): number => Math.max(...guest.lines.map((l) => ackOf(tag, l)));
    const back = await bootGuest(bench, disk, 'workloads-2', WITHOUT_TERMINAL);
    g = back;
    await waitMounts(back);
    assert.equal((await back.run('systemctl is-active pos-terminal.service')).out.trim(), 'inactive', 'the terminal is masked for this boot');
    const results = {} as WorkloadResults;
    for (const [tag, w] of Object.entries(WORKLOADS) as Array<[keyof typeof WORKLOADS, (typeof WORKLOADS)[keyof typeof WORKLOADS]]>) {
      // Opened as the terminal opens it (verify on open: checksums and hash chain), then the highest n.
      const check = `const {Journal}=require('/opt/pos/slotA/dist/storage/journal'); const {RecordType}=require('/opt/pos/slotA/dist/storage/record'); Journal.open({dir:'${w.dir}/journal',identity:'POWERCUT-0001'}).then(async (j)=>{let n=0; for (const r of j.records()) if (r.type===RecordType.test) n=Math.max(n, r.payload.n); console.log('KEPT '+n); await j.close();}).catch((e)=>{console.log('ERR '+e.message); process.exit(1)})`;
      const out = await back.sh(`cd ${w.dir} && /opt/pos/slotA/node/bin/node -e "${check.replace(/"/g, '\\"')}"`);
      results[tag] = { acked: acked(tag), kept: Number(/KEPT (\d+)/.exec(out)?.[1] ?? -1) };
    }
    await back.powerCut();
    return results;
  }

  it('everyAcknowledgedJournalRecordSurvivesTheCut', async () => {
    const { acked, kept } = (await (cut ??= workloadsCut())).sync;
    process.stderr.write(`      guest power cut: ${acked} acknowledged, ${kept} in the journal after reboot\n`);
    assert.ok(acked >= 60, `the workload acknowledged ${acked} records before the cut`);
    assert.ok(kept >= acked, `acknowledged ${acked}, journal holds ${kept}`);
  });

  it('positiveControlAJournalWithoutSyncLosesAcknowledgedRecords', async () => {
    const { acked, kept } = (await (cut ??= workloadsCut())).nosync;
    process.stderr.write(`      guest power cut, unsafeNoSync: ${acked} acknowledged, ${kept} in the journal after reboot\n`);
    assert.ok(acked >= 60, `the workload acknowledged ${acked} records before the cut`);
    assert.ok(kept < acked, `the cut must lose unsynced records (acknowledged ${acked}, kept ${kept}); otherwise it is no power cut`);
  });
});
