/**
 * A journal rebuilt from less than everything the terminal wrote (issue 13 item 9; the profile's
 * "Clarifications"): after a salvage, a backup restored or a factory reset, the next STAN is at
 * least the highest one ever persisted + 1,000, so the acquirer never sees a STAN twice (an outside
 * acquirer answered 94); the jump is a journal record (it survives a reboot), and the next
 * settlement reconciles the batch with the host (uploads it whatever the verdict).
 */
import { strict as assert } from 'node:assert';
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Recovery } from '../../boot/recovery';
import { fixedDeviceKey } from '../../runtime/device-key';
import { addStan, stanAfter, highestPersisted, STAN_GAP_AFTER_REBUILD } from '../../runtime/rebuild';
import { FlowResult, TxnView } from '../../runtime/txn/engine';
import { settle } from '../../runtime/txn/settlement';
import { exportToFile } from '../../storage/backup';
import { Journal } from '../../storage/journal';
import { main as pos } from '../../boot/pos';
import { RecordType, DecodedRecord } from '../../storage/record';
import { rec as records } from '../../runtime/records';
import { tempDir, removeDir } from '../../storage/testing';
import { ADMIN, CASHIER, DEVICE_KEY, IDENTITY, SUPERVISOR, Rig, magCard, rig } from './harness';

function approved(r: FlowResult): TxnView {
  if (r.outcome !== 'approved') throw new Error(`not approved: ${JSON.stringify(r.outcome === 'failed' ? r.error.code : r.txn.responseCode)}`);
  return r.txn;
}

/**
 * STANs the host received twice: financial requests (sale, void, refund) sent more than once with
 * one STAN, and every request of any kind the host answered 94 because its STAN was used before, in
 * this batch or an earlier one (the acquirer keeps a terminal's STANs across batches, as the outside
 * acquirer did: sim/host/stan-window.ts).
 */
function duplicateStans(r: Rig): number[] {
  const seen = new Map<number, number>();
  for (const q of r.sim.requests()) if (q.type === 'sale' || q.type === 'void' || q.type === 'refund') seen.set(q.stan, (seen.get(q.stan) ?? 0) + 1);
  const reused = r.sim.stanReuses().list.map((x) => x.stan);
  return [...new Set([...[...seen].filter(([, n]) => n > 1).map(([s]) => s), ...reused])];
}

/** Breaks the payload CRC of every stored copy of record `seq` in data.mdb: salvage's chain stops there. */
function damageRecord(r: Rig, seq: number, stored: Buffer): void {
  const file = join(r.dir, 'data.mdb');
  const bytes = readFileSync(file);
  let hits = 0;
  for (let at = bytes.indexOf(stored); at >= 0; at = bytes.indexOf(stored, at + 1)) { bytes[at + stored.length - 1] ^= 0xff; hits++; }
  assert.ok(hits > 0, `record ${seq} found in data.mdb`);
  writeFileSync(file, bytes);
}

describe('after a salvage, restore or reset the STAN continues past every one the host may have', function () {
  this.timeout(90_000);
  let r: Rig;
  let side: string;
  beforeEach(async () => {
    r = await rig({ dir: tempDir('h-money-rebuild-') });
    side = tempDir('h-money-side-');
    await r.terminal.engine.signOn(CASHIER);
  });
  afterEach(async () => {
    await r.close();
    removeDir(r.dir);
    removeDir(side);
    // What the rebuilds moved aside sits beside the journal: <dir>.damaged-..., .replaced-..., .reset-...
    for (const f of readdirSync(dirname(r.dir))) if (f.startsWith(`${basename(r.dir)}.`)) removeDir(join(dirname(r.dir), f));
  });

  const sale = async (amountFen: number): Promise<TxnView> => approved(await r.terminal.engine.sale({ amountFen, card: magCard(), session: CASHIER }));
  const recovery = (): Recovery => new Recovery({ journalDir: r.dir, backupDir: join(side, 'backups'), identity: IDENTITY, clock: () => r.clock.ms, deviceKey: fixedDeviceKey(DEVICE_KEY) });

  it('salvage that loses the last sales: the next sale is approved with a STAN >= the highest + 1000, no STAN reaches the host twice, and settlement uploads the batch', async () => {
    const sales: TxnView[] = [];
    for (let i = 1; i <= 5; i++) sales.push(await sale(1_000 * i));
    const highest = r.terminal.engine.state.stanLast;
    // Damage the txn-begin of the third sale: the chain (and the salvaged journal) ends before it;
    // sales 3..5 are at the host, their records intact but unchained (orphans).
    const begin3 = [...r.journal.records()].find((x) => x.type === RecordType.txnBegin && x.payload.stan === sales[2].stan) as DecodedRecord;
    const stored = [...r.journal.raw(begin3.seq, begin3.seq)][0].stored;
    await r.journal.close();
    damageRecord(r, begin3.seq, stored);
    const rep = await recovery().salvage(ADMIN);
    assert.equal(rep.ok, true, rep.lines.join('\n'));
    await r.reboot();
    assert.equal(r.terminal.engine.state.txns.size, 2, 'the salvaged journal holds sales 1 and 2 only');

    const next = await sale(777);
    assert.ok(!stanAfter(highest, next.stan) && next.stan >= highest + STAN_GAP_AFTER_REBUILD, `next STAN ${next.stan} >= ${highest} + ${STAN_GAP_AFTER_REBUILD}`);
    assert.deepEqual(duplicateStans(r), []);

    // The jump is a journal record: a reboot keeps it.
    await r.reboot();
    const after = await sale(778);
    assert.equal(after.stan, next.stan + 1);

    // The host has sales 3..5 the terminal lost: the settlement reconciles by uploading the batch.
    const s = await settle(r.terminal.engine, SUPERVISOR);
    assert.equal(s.verdict, 'unbalanced');
    assert.equal(s.uploadedCount, 4, 'sales 1, 2 and the two after the salvage uploaded');
    assert.equal(r.sim.ledger.batchState(r.sim.ledger.entries()[0].tid, s.batch)?.uploadEndCount, 4);
    assert.deepEqual(duplicateStans(r), []);
  });

  it('salvage that lost no money: the host balances, and the settlement still uploads the batch (the reconciliation after a rebuild)', async () => {
    await sale(1_100);
    await sale(1_200);
    await r.terminal.engine.markPrinted(r.terminal.engine.state.stanLast, 'merchant', false);
    // Damage only the last record (the receipt-printed): every sale is kept.
    const last = [...r.journal.raw(r.journal.lastSeq, r.journal.lastSeq)][0];
    await r.journal.close();
    damageRecord(r, last.key, last.stored);
    const rep = await recovery().salvage(ADMIN);
    assert.equal(rep.ok, true, rep.lines.join('\n'));
    await r.reboot();
    const s = await settle(r.terminal.engine, SUPERVISOR);
    assert.equal(s.verdict, 'balanced');
    assert.equal(s.uploadedCount, 2, 'uploaded although balanced');
  });

  it('salvage that sets aside an owed reversal says so by STAN and amount, in both languages and on the shell', async () => {
    await sale(1_000);
    // The host never answers: the sale fails and its reversal stays owed (every try refused too).
    r.sim.setFault({ kind: 'close-before-response', count: Infinity });
    const failed = await r.terminal.engine.sale({ amountFen: 2_345, card: magCard(), session: CASHIER });
    assert.equal(failed.outcome, 'failed');
    const owedStan = r.terminal.engine.state.pendingReversal?.stan;
    assert.ok(owedStan !== undefined, 'a reversal is owed');
    // Damage that sale's txn-begin: its reversal-pending (same commit, after it) is intact but unchained.
    const begin = [...r.journal.records()].find((x) => x.type === RecordType.txnBegin && x.payload.stan === owedStan) as DecodedRecord;
    const stored = [...r.journal.raw(begin.seq, begin.seq)][0].stored;
    await r.journal.close();
    damageRecord(r, begin.seq, stored);
    const copy = join(side, 'copy');
    cpSync(r.dir, copy, { recursive: true });
    const rep = await recovery().salvage(ADMIN);
    assert.equal(rep.ok, true, rep.lines.join('\n'));
    const stan6 = String(owedStan).padStart(6, '0');
    assert.ok(rep.lines.some((l) => l.includes(`reversal STAN ${stan6} ¥23.45: owed, not sent`)), rep.lines.join('\n'));
    assert.ok(rep.lines.some((l) => l.includes('set aside: check with acquirer')), rep.lines.join('\n'));
    assert.ok(rep.text?.some((t) => t.zh.includes(`冲正 流水号${stan6} ¥23.45`)), 'the Chinese screen names it too');
    // The technician's shell tool says the same.
    const lines: string[] = [];
    assert.equal(await pos(['journal', 'salvage', '--out', join(side, 'out'), '--dir', copy, '--identity', IDENTITY], (l) => lines.push(l), (l) => lines.push(l)), 0, lines.join('\n'));
    assert.ok(lines.some((l) => l.includes(`reversal STAN ${stan6} ¥23.45: owed, not sent`)), lines.join('\n'));
    r.sim.clearFaults();
  });

  it('pos journal salvage (the technician\'s tool) writes the continuation into the salvaged journal too', async () => {
    const sales: TxnView[] = [];
    for (let i = 1; i <= 4; i++) sales.push(await sale(500 * i));
    const highest = r.terminal.engine.state.stanLast;
    const begin3 = [...r.journal.records()].find((x) => x.type === RecordType.txnBegin && x.payload.stan === sales[2].stan) as DecodedRecord;
    const stored = [...r.journal.raw(begin3.seq, begin3.seq)][0].stored;
    await r.journal.close();
    damageRecord(r, begin3.seq, stored);
    const out = join(side, 'salvaged');
    const lines: string[] = [];
    assert.equal(await pos(['journal', 'salvage', '--out', out, '--dir', r.dir, '--identity', IDENTITY], (l) => lines.push(l), (l) => lines.push(l)), 0, lines.join('\n'));
    const j = await Journal.open({ dir: out, identity: IDENTITY, readOnly: true });
    try {
      const last = j.get(j.lastSeq) as DecodedRecord;
      assert.equal(last.type, RecordType.recovery);
      assert.equal(last.payload.stanHighest, highest);
      assert.equal(last.payload.stanLast, addStan(highest, STAN_GAP_AFTER_REBUILD - 1));
    } finally {
      await j.close();
    }
  });

  it('a backup restored after more sales: the next sale is approved with a STAN >= the highest + 1000', async () => {
    await sale(1_000);
    await sale(2_000);
    const file = join(side, 'older.posbak');
    exportToFile(r.journal, file, { passphrase: 'pass-1234' });
    await sale(3_000);
    await sale(4_000);
    const highest = r.terminal.engine.state.stanLast;
    await r.journal.close();
    const rep = await recovery().importBackup(file, 'pass-1234', ADMIN);
    assert.equal(rep.ok, true, rep.lines.join('\n'));
    await r.reboot();
    const next = await sale(555);
    assert.ok(next.stan >= highest + STAN_GAP_AFTER_REBUILD, `next STAN ${next.stan} >= ${highest} + ${STAN_GAP_AFTER_REBUILD}`);
    assert.deepEqual(duplicateStans(r), []);
    const s = await settle(r.terminal.engine, SUPERVISOR);
    assert.ok(s.uploadedCount >= 3, 'the batch is uploaded after a restore');
  });

  it('a backup from before a settlement: the terminal continues in the batch the host has open, not the settled one', async () => {
    await sale(1_000);
    const file = join(side, 'before-settlement.posbak');
    exportToFile(r.journal, file, { passphrase: 'pass-1234' });
    const settled = await settle(r.terminal.engine, SUPERVISOR);
    await sale(2_000);
    const open = r.terminal.engine.state.batch;
    assert.notEqual(open, settled.batch);
    await r.journal.close();
    const rep = await recovery().importBackup(file, 'pass-1234', ADMIN);
    assert.equal(rep.ok, true, rep.lines.join('\n'));
    await r.reboot();
    assert.equal(r.terminal.engine.state.batch, open, 'the batch the host has open');
    assert.equal(r.terminal.engine.state.txns.size, 0, 'the settled batch\'s sale is not in the open batch');
    approved(await r.terminal.engine.sale({ amountFen: 3_000, card: magCard(), session: CASHIER }));
    const s = await settle(r.terminal.engine, SUPERVISOR);
    assert.equal(s.batch, open);
    assert.equal(s.uploadedCount, 1, 'the batch is uploaded: the host also has the sale the restore lost');
    assert.deepEqual(duplicateStans(r), []);
  });

  it('a factory reset does not start the STAN again at 1', async () => {
    await sale(1_000);
    await settle(r.terminal.engine, SUPERVISOR);
    await sale(2_000);
    const highest = r.terminal.engine.state.stanLast;
    await r.journal.close();
    const rep = await recovery().factoryReset({ confirmations: 2, passphrase: 'pass-1234' }, ADMIN);
    assert.equal(rep.ok, true, rep.lines.join('\n'));
    await r.reboot();
    await r.terminal.engine.signOn(CASHIER);
    const next = await sale(333);
    assert.ok(next.stan >= highest + STAN_GAP_AFTER_REBUILD, `next STAN ${next.stan} >= ${highest} + ${STAN_GAP_AFTER_REBUILD}`);
    assert.deepEqual(duplicateStans(r), []);
  });
});

describe('no STAN reaches the host twice across settlements and reboots (the host keeps them across batches)', function () {
  this.timeout(60_000);
  let r: Rig;
  beforeEach(async () => {
    r = await rig({ dir: tempDir('h-money-stan-batches-') });
    await r.terminal.engine.signOn(CASHIER);
  });
  afterEach(async () => { await r.close(); removeDir(r.dir); });
  const sale = async (amountFen: number): Promise<TxnView> => approved(await r.terminal.engine.sale({ amountFen, card: magCard(), session: CASHIER }));

  it('three batches, each settled and followed by a reboot and a sign-on: every sale approved, no STAN used again', async () => {
    for (let batch = 0; batch < 3; batch++) {
      await sale(1_000 + batch);
      await sale(2_000 + batch);
      const s = await settle(r.terminal.engine, SUPERVISOR);
      assert.equal(s.verdict, 'balanced');
      await r.reboot();
      await r.terminal.engine.signOn(CASHIER);
    }
    assert.equal(r.sim.ledger.entries().filter((e) => e.type === 'sale').length, 6);
    assert.deepEqual(duplicateStans(r), []);
  });

  it('positive control: a terminal whose STAN went back after a settlement is answered 94 and the check names the STAN', async () => {
    const first = await sale(1_000);
    await settle(r.terminal.engine, SUPERVISOR);
    // What a terminal that lost its STAN (a journal rebuilt without the gap) would do.
    await r.terminal.engine.store.commit([records.stan(first.stan - 1)], { reserve: true });
    const again = await r.terminal.engine.sale({ amountFen: 2_000, card: magCard(), session: CASHIER });
    assert.equal(again.outcome, 'declined');
    assert.equal(again.outcome === 'declined' ? again.txn.responseCode : '', '94');
    assert.deepEqual(duplicateStans(r), [first.stan]);
  });
});

describe('the STAN circle after a rebuild', () => {
  it('wraps 999999 -> 000001 and counts the most recent STAN as the highest', () => {
    assert.equal(addStan(999_500, STAN_GAP_AFTER_REBUILD), 501);
    assert.equal(addStan(1, STAN_GAP_AFTER_REBUILD), 1_001);
    assert.equal(addStan(999_999, 1), 1);
    assert.ok(stanAfter(5, 999_990), 'after a wrap 000005 is more recent than 999990');
    assert.ok(!stanAfter(999_990, 5));
    const rec = (type: number, payload: Record<string, unknown>, seq: number) => ({ type, payload, seq }) as unknown as DecodedRecord;
    assert.deepEqual(highestPersisted([rec(RecordType.stan, { stan: 999_990 }, 1), rec(RecordType.stan, { stan: 5 }, 2), rec(RecordType.batchClosed, { nextBatch: 7 }, 3)]), { stan: 5, batch: 7 });
  });
});
