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
 *   partition with the slot's journal code, QEMU SIGKILLed right after its 60th acknowledgement;
 *   after the reboot the journal opens (verified) and holds every acknowledged record. Both boots
 *   are without the terminal (`systemd.mask=` on the kernel command line): the workload is alone.
 * - positive control: the same with `unsafeNoSync` must lose acknowledged records; if it did not,
 *   the rig would not be cutting power and the two tests above would prove nothing.
 * One cut each, not many: each costs two guest boots (a minute or more under TCG).
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

  async function workloadCut(noSync: boolean, run: string): Promise<{ acked: number; kept: number }> {
    const disk = freshDisk(bench, run);
    // Without the terminal (masked for the boot): the workload is alone on the data partition, and
    // the terminal's start (some 14 s of the guest's one TCG CPU) is not paid for twice per test.
    const guest = await bootGuest(bench, disk, `${run}-1`, WITHOUT_TERMINAL);
    g = guest;
    await waitMounts(guest);
    for (const [name, js] of Object.entries(workloadScripts())) {
      await guest.sh(`mkdir -p /var/lib/pos/wl && echo ${Buffer.from(js).toString('base64')} | base64 -d > /var/lib/pos/wl/${name}`);
    }
    await guest.sh(`cd /var/lib/pos/wl && (setsid /opt/pos/slotA/node/bin/node workload-journal.js /var/lib/pos/wl/journal 100000 --interval-ms=20 ${noSync ? '--unsafe-no-sync' : ''} >/dev/ttyS3 2>&1 &)`);
    const ackLine = /^ACK (\d+):(\d+)$/;
    await guest.waitLine((l) => { const m = ackLine.exec(l); return m !== null && Number(m[2]) >= 60; }, 180_000, `the workload's 60th acknowledgement (lines: ${guest.lines.slice(-5).join(' | ')})`);
    await guest.powerCut();
    const acked = Math.max(...guest.lines.map((l) => Number(ackLine.exec(l)?.[2] ?? 0)));
    const back = await bootGuest(bench, disk, `${run}-2`, WITHOUT_TERMINAL);
    g = back;
    await waitMounts(back);
    assert.equal((await back.run('systemctl is-active pos-terminal.service')).out.trim(), 'inactive', 'the terminal is masked for this boot');
    // Opened as the terminal opens it (verify on open: checksums and hash chain), then the highest n.
    const check = "const {Journal}=require('/opt/pos/slotA/dist/storage/journal'); const {RecordType}=require('/opt/pos/slotA/dist/storage/record'); Journal.open({dir:'/var/lib/pos/wl/journal',identity:'POWERCUT-0001'}).then(async (j)=>{let n=0; for (const r of j.records()) if (r.type===RecordType.test) n=Math.max(n, r.payload.n); console.log('KEPT '+n); await j.close();}).catch((e)=>{console.log('ERR '+e.message); process.exit(1)})";
    const out = await back.sh(`cd /var/lib/pos/wl && /opt/pos/slotA/node/bin/node -e "${check.replace(/"/g, '\\"')}"`);
    const kept = Number(/KEPT (\d+)/.exec(out)?.[1] ?? -1);
    return { acked, kept };
  }

  it('everyAcknowledgedJournalRecordSurvivesTheCut', async () => {
    const { acked, kept } = await workloadCut(false, 'sync');
    process.stderr.write(`      guest power cut: ${acked} acknowledged, ${kept} in the journal after reboot\n`);
    assert.ok(kept >= acked, `acknowledged ${acked}, journal holds ${kept}`);
  });

  it('positiveControlAJournalWithoutSyncLosesAcknowledgedRecords', async () => {
    const { acked, kept } = await workloadCut(true, 'nosync');
    process.stderr.write(`      guest power cut, unsafeNoSync: ${acked} acknowledged, ${kept} in the journal after reboot\n`);
    assert.ok(kept < acked, `the cut must lose unsynced records (acknowledged ${acked}, kept ${kept}); otherwise it is no power cut`);
  });
});
