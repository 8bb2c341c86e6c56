/**
 * The day simulation in CI (issue 7): a fixed set of seeds covering more than 130 trading days
 * with every fault kind on, each checked against the invariants after every step; a replay test
 * (same seed, identical event log); and positive controls (a terminal that drops a reversal or
 * sends a sale twice must FAIL, with its seed printed). `npm run soak` runs 10,000 days.
 */
import { strict as assert } from 'node:assert';
import { simulateDays, formatFailure, SimulationReport } from '../../sim/simulate';
import { MISBEHAVING_CHIP_CARDS, MISBEHAVING_TAP_CARDS } from '../../sim/simulate-devices';

/**
 * Seeds x days run in CI: 11 x 12 = 132 trading days with faults (220 until session 18: CI time;
 * 12 days still inject every fault kind and reach every wire counter below, and `npm run soak`
 * runs 10,000 days).
 */
export const CI_SEEDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
export const CI_DAYS_PER_SEED = 12;
/** Seeds the soak found, with the days that reach the failure (SIMULATION.md "Findings"). */
/**
 * Seeds run with a power cut in one step of five, every one a disk-model rebuild (at the next
 * commit or checkpoint), and half the settlements' checkpoints cut: between them they must drop
 * log commits and tear a log's tail (a change of the draws may need another seed: see the test
 * 'the disk-model cuts reach the write-ahead log').
 */
export const DISK_MODEL_SEEDS = [21, 22];
export const DISK_MODEL_DAYS = 6;
const DISK_MODEL_RATES = { powerCut: 0.2, diskModelCut: 1, checkpointCut: 0.5 };
export const SOAK_REGRESSIONS: ReadonlyArray<readonly [number, number]> = [[100135, 1], [100403, 6]];
/*
 * Regression seeds (SIMULATION.md "Findings"), found with the stand-in devices at the days below
 * (the wire devices, the default since, take other paths from these seeds, so CI's days no longer
 * replay them, and 4 and 7 are past CI's 12 days; the checks that caught them stay on):
 *   1 (day 9)  battery critical closed the journal under the checks (simulation bug)
 *   4 (day 17) a millisecond timestamp held the PIN's digits (false alarm, simulation bug)
 *   7 (day 16) a login cut by the power held the I/O gate forever (simulation bug); the same run
 *              reached idle with nobody logged in (finding 2, runtime/machine.ts: fixed; the
 *              simulation now checks that idle always has an operator)
 *   11 (day 9) a lying flush dropped a commit whose request was on the wire (simulation bug)
 * and, from the soak, 100072 (20 days, ~10 s, not in CI): an unbalanced-settlement fault armed for a
 * settlement that sent no 0500 carried over to the next batch (simulation accounting, fixed).
 */

function summary(reports: readonly SimulationReport[]): string {
  const add = (into: Record<string, number>, from: Record<string, number>): void => { for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v; };
  const faults: Record<string, number> = {}, ops: Record<string, number> = {};
  for (const r of reports) { add(faults, r.faults); add(ops, r.operations); }
  const days = reports.reduce((n, r) => n + r.daysCompleted, 0);
  const checks = reports.reduce((n, r) => n + r.invariantChecks, 0);
  return `${days} days, ${reports.reduce((n, r) => n + r.steps, 0)} steps, ${checks} invariant checks\n      operations ${JSON.stringify(ops)}\n      faults ${JSON.stringify(faults)}`;
}

describe('simulation: seeded trading days with faults, invariants after every step', function () {
  this.timeout(600_000);
  const reports: SimulationReport[] = [];
  const diskModelReports: SimulationReport[] = [];
  after(() => { if (reports.length) console.log(`      [simulation] ${summary(reports)}`); });

  for (const seed of CI_SEEDS) {
    it(`seed ${seed}: ${CI_DAYS_PER_SEED} days hold every invariant`, async () => {
      const r = await simulateDays({ seed, days: CI_DAYS_PER_SEED });
      reports.push(r);
      assert.equal(r.failure, undefined, r.failure && formatFailure(r.failure));
      assert.equal(r.daysCompleted, CI_DAYS_PER_SEED);
      assert.ok(r.batchesClosed >= CI_DAYS_PER_SEED / 2, `only ${r.batchesClosed} batches closed`);
      // Positive controls: the days drew the version 2 flows the invariants are meant to cover.
      for (const op of ['pre-auth', 'completion', 'qr'] as const) assert.ok((r.operations[op] ?? 0) > 0, `seed ${seed} drew no ${op}`);
    });
  }

  // Positive control for offline sales: the days' network-down faults make the terminal approve some
  // sales offline under the simulator's parameters, and their advices reach the host later. Not
  // every seed draws one in 12 days; this one does (a change of the draws may need another seed:
  // seed 9 stopped when the first sign-on began downloading the CA keys and AIDs; seed 1 when chip
  // pre-authorizations began taking the wrong-ARPC and script faults a sale took before; seed 2
  // when tapped cards began to misbehave; seed 7 when the days began running behind the journal's
  // write-ahead log with disk-model cuts on it: seed 6 has 1, seeds 1-3, 5, 8-11 have some; seed 6
  // when the reprint menu began asking which copy and the customer-copy offer was drawn: seed 1
  // has 3, seed 2 has 1, seeds 3 and 5 none).
  // Seed 1's CI run above is the run this reads (the same seed and days replay exactly: the replay
  // test below); run again only when that test did not run (--grep).
  // Seed 2: seed 1's days stopped drawing an offline sale once the reader driver polled the reader
  // during card waits (its INFO frames moved the wire's timing and the garbling's draws); 2, 3 and 4 draw one.
  it('seed 2: offline sales happen and their advices reach the host (positive control)', async () => {
    const r = reports.find((x) => x.seed === 2 && x.days === CI_DAYS_PER_SEED) ?? await simulateDays({ seed: 2, days: CI_DAYS_PER_SEED });
    assert.equal(r.failure, undefined, r.failure && formatFailure(r.failure));
    assert.ok(r.hostOfflineSales > 0, 'no offline sale reached the host');
  });

  // From the first 10,000-day soak: a journal failing under the supervisor prompt (EIO) kept the
  // terminal at the prompt; it now goes to the storage failure screen. Found with the stand-in
  // devices: the wire devices take other paths from the same seed, so these replay with the stand-ins.
  for (const [seed, days] of SOAK_REGRESSIONS) {
    it(`soak regression seed ${seed}: ${days} days hold every invariant (stand-in devices, as found)`, async () => {
      const r = await simulateDays({ seed, days, devices: 'stand-in' });
      assert.equal(r.failure, undefined, r.failure && formatFailure(r.failure));
      assert.equal(r.daysCompleted, days);
    });
  }

  // A share of the cuts rebuilds the disk page by page (the power-cut simulator's model); at the
  // default rates the CI seeds meet a few of them, so two seeds run with every cut rebuilt.
  for (const seed of DISK_MODEL_SEEDS) {
    it(`seed ${seed}: ${DISK_MODEL_DAYS} days with frequent power cuts, each storage rebuilt as a disk holds it`, async () => {
      const r = await simulateDays({ seed, days: DISK_MODEL_DAYS, rates: DISK_MODEL_RATES });
      reports.push(r);
      diskModelReports.push(r);
      assert.equal(r.failure, undefined, r.failure && formatFailure(r.failure));
      // How many cuts land inside a commit depends on the seed's path; both outcomes (commit on
      // disk, commit absent) are required across all seeds by the "every kind" check below.
      assert.ok((r.faults['disk-model-cut'] ?? 0) >= 1, 'no cut hit a commit in flight');
    });
  }

  // Last session's lesson: with the log on, a cut model on data.mdb alone never met a commit in
  // flight and lost nothing, and every test passed. These counts show the cuts reach journal.wal:
  // commits in flight dropped from it and the journal reopened without them (checked after every
  // such boot: sim/simulate-storage.ts `reopened`), torn tails cut and journaled as recovery
  // tail-cut records, checkpoints stopped between their LMDB transaction and their header write.
  it('the disk-model cuts reach the write-ahead log: commits dropped and reopened without, torn tails journaled, checkpoints cut', function () {
    if (diskModelReports.length < DISK_MODEL_SEEDS.length) this.skip();
    const count = (k: string): number => diskModelReports.reduce((n, r) => n + (r.faults[k] ?? 0), 0);
    const kinds = ['disk-model-cut', 'disk-model-log-commit-kept-after-boot', 'disk-model-log-commit-gone-after-boot', 'disk-model-log-commit-torn-tail', 'disk-model-log-tail-cut-journaled', 'disk-model-checkpoint-cut', 'lying-flush-commit-gone-after-boot'];
    // Printed, not required: a checkpoint stopped with its LMDB transaction on disk and the log's
    // header old is one in six checkpoint cuts (every order state: sim/simulate-storage.test.ts).
    const shown = [...kinds, 'disk-model-checkpoint-between'];
    console.log(`      [simulation] disk-model seeds ${DISK_MODEL_SEEDS.join(', ')}: ${shown.map((k) => `${k} ${count(k)}`).join(', ')}`);
    for (const k of kinds) assert.ok(count(k) > 0, `${k}: none over seeds ${DISK_MODEL_SEEDS.join(', ')} x ${DISK_MODEL_DAYS} days`);
  });

  it('faults of every kind were injected across the CI seeds', function () {
    if (reports.length < CI_SEEDS.length) this.skip();
    const seen = new Set(reports.flatMap((r) => Object.keys(r.faults)));
    const expected = ['power-cut', 'disk-model-cut', 'disk-model-commit-on-disk', 'disk-model-commit-absent', 'checkpoint-cut', 'disk-model-checkpoint-cut', 'disk-model-log-commit-dropped', 'disk-model-log-commit-kept', 'lying-flush', 'lying-flush-commit-gone-after-boot', 'bit-flip', 'storage-eio', 'storage-full', 'host-delay', 'host-drop', 'host-mid-close', 'host-garbage',
      'bad-mac', 'decline', 'wrong-arpc', 'issuer-script', 'network-down', 'unbalanced-settlement', 'wrong-pin', 'paper-out', 'cover-open', 'garbled-reader', 'key-bounce', 'key-stuck', 'battery-low', 'battery-critical',
      ...[...MISBEHAVING_CHIP_CARDS, ...MISBEHAVING_TAP_CARDS].map((n) => `card-${n}`)];
    assert.deepEqual(expected.filter((k) => !seen.has(k)), []);
  });

  // The default devices are the real drivers on in-memory serial cables (sim/simulate-devices.ts).
  it('the real reader and printer drivers were on the wire: garbled frames rejected, printer faults reported', function () {
    if (reports.length < CI_SEEDS.length) this.skip();
    const wire: Record<string, number> = {};
    for (const r of reports) for (const [k, v] of Object.entries(r.wire)) wire[k] = (wire[k] ?? 0) + v;
    console.log(`      [simulation] wire ${JSON.stringify(wire)}`);
    for (const r of reports) assert.equal(r.devices, 'wire');
    for (const k of ['presented-swipe', 'presented-insert', 'presented-tap', 'presented-keyed', 'presented-garbled-swipe', 'presented-garbled-chip', 'printer-jobs-printed', 'printer-lines']) {
      assert.ok((wire[k] ?? 0) > 0, `${k}: none`);
    }
    assert.ok(wire['reader-frames-rejected'] >= wire['reader-frames-garbled'] / 2, `the driver rejected ${wire['reader-frames-rejected']} of ${wire['reader-frames-garbled']} garbled frames`);
    // Paper out and cover open are found by the driver's status queries: jobs fail.
    assert.ok(wire['printer-jobs-failed'] > 0, 'no print job failed');
    // A burst longer than the reader's resends loses a frame: the driver reports it (timeouts, unreadable chips).
    assert.ok(wire['reader-timeouts'] > 0, 'no garbled burst outlasted the resends');
    // Key faults go through the matrix keypad driver on simulated GPIO lines: most bounces are
    // debounced away, a few last longer than the debounce; every stuck key is reported.
    assert.ok(wire['keypad-bounces'] > 0 && wire['keypad-stuck-keys'] > 0, 'no key faults on the keypad');
    assert.ok((wire['keypad-bounce-extra-presses'] ?? 0) < wire['keypad-bounces'], 'the driver did not debounce');
    assert.equal(wire['keypad-stuck-reported'], wire['keypad-stuck-keys'], 'a stuck key went unreported');
  });
});

describe('simulation: replay and positive controls', function () {
  this.timeout(120_000);

  // Issue 11: every chip card inserted or tapped is one that misbehaves (declines after the host
  // approved, pulled before the final GENERATE AC or at the first, scripts that fail, ODA, CDA or
  // fDDA failed): the approvals the cards did not confirm are reversed, nothing is charged twice or lost.
  it('every chip card misbehaving: 3 days hold every invariant, and the cards were drawn', async () => {
    const r = await simulateDays({ seed: 11, days: 3, rates: { misbehavingCard: 1, issuerScript: 0.2 } });
    assert.equal(r.failure, undefined, r.failure && formatFailure(r.failure));
    assert.equal(r.daysCompleted, 3);
    const drawn = MISBEHAVING_CHIP_CARDS.filter((n) => (r.faults[`card-${n}`] ?? 0) > 0);
    assert.ok(drawn.length >= 4, `only ${drawn.join(', ')} drawn`);
    assert.ok(drawn.includes('icDeclinesLate') || drawn.includes('icPulledLate'), 'a late misbehaving card');
  });

  it('the same seed replays exactly: identical event logs and digests', async () => {
    const a: string[] = [], b: string[] = [];
    const ra = await simulateDays({ seed: 4242, days: 3, onEvent: (l) => a.push(l) });
    const rb = await simulateDays({ seed: 4242, days: 3, onEvent: (l) => b.push(l) });
    assert.equal(ra.failure, undefined, ra.failure && formatFailure(ra.failure));
    assert.ok(a.length > 100, `only ${a.length} events`);
    assert.deepEqual(b, a);
    assert.equal(rb.digest, ra.digest);
    const other = await simulateDays({ seed: 4243, days: 1 });
    assert.notEqual(other.digest, ra.digest);
  });

  it('the stand-in devices (no wire) still run, on a flag, and replay', async () => {
    const a = await simulateDays({ seed: 4242, days: 2, devices: 'stand-in' });
    assert.equal(a.failure, undefined, a.failure && formatFailure(a.failure));
    assert.equal(a.devices, 'stand-in');
    assert.deepEqual(a.wire, {});
    const b = await simulateDays({ seed: 4242, days: 2, devices: 'stand-in' });
    assert.equal(b.digest, a.digest);
  });

  // A disk that loses an acknowledged commit after the terminal acted on it (the reversal record
  // of a request that reached the host) loses money by construction: the checks must see it.
  it('positive control: a lying flush after a request left fails ledger-journal, seed printed', async () => {
    const r = await simulateDays({ seed: 1, days: 10, bug: 'lying-flush-after-request', rates: { powerCut: 0.1, lyingFlush: 1 } });
    assert.ok(r.failure, 'a lost acknowledged commit went unnoticed');
    assert.match(formatFailure(r.failure), /invariant=(ledger-journal|charged-once|stan-unique)/);
    // The commits were lost from journal.wal, where the terminal's commits go (the journal reopened without them).
    assert.ok((r.faults['lying-flush-commit-gone-after-boot'] ?? 0) > 0, 'no lying flush took a commit out of the write-ahead log');
    // The same seed and rates with the fault as drawn (only when nothing left since) hold.
    const fair = await simulateDays({ seed: 1, days: r.failure.day + 1, rates: { powerCut: 0.1, lyingFlush: 1 } });
    assert.equal(fair.failure, undefined, fair.failure && formatFailure(fair.failure));
    assert.ok((fair.faults['lying-flush'] ?? 0) > 0, 'lying flushes were drawn');
  });

  // docs/PROTOCOL.md "Offline sales given up after they were sent": with the host's answers lost
  // often, the supervisor gives up advices the host had booked; each such batch settles unbalanced
  // by exactly those sales and is uploaded, and every invariant holds (seed 12 gives up 1 in 2 days;
  // a change of the draws may need another seed: seed 8 stopped when a refused connect's send was taken back).
  const LOSSY_HOST = { networkDown: 0.3, hostDelay: 0.4, hostMidClose: 0.2, badMac: 0.2 };
  it('offline sales given up after sends the host had booked: unbalanced by exactly them, every invariant holds', async () => {
    // Seed 12: seed 6 stopped drawing one when the simulated operator stopped keying refunds of
    // offline sales (they have no RRN); seeds 18, 20, 22 and 27-29 draw one too.
    const r = await simulateDays({ seed: 12, days: 2, rates: LOSSY_HOST });
    assert.equal(r.failure, undefined, r.failure && formatFailure(r.failure));
    assert.ok(r.givenUpBookedSales >= 1, `only ${r.givenUpBookedSales} given-up sales the host had booked`);
  });

  // An offline sale whose advice the host accepted, and whose answer the terminal had, journaled as
  // given up: an acknowledged sale dropped from the totals. The given-up rule must not hide it.
  it('positive control: a terminal that gives up acknowledged offline sales fails ledger-journal or batch-balanced', async () => {
    // Seed 6 has offline sales the host accepts (the control above); the first is dropped on day 1.
    const r = await simulateDays({ seed: 6, days: 20, bug: 'drop-acknowledged-advice' });
    assert.ok(r.failure, 'a dropped acknowledged offline sale went unnoticed');
    assert.match(formatFailure(r.failure), /invariant=(ledger-journal|batch-balanced)/);
    assert.match(r.failure.message, /acceptance reached the terminal: an acknowledged sale dropped/);
  });

  for (const bug of ['drop-reversal', 'double-sale'] as const) {
    it(`positive control: a terminal that ${bug === 'drop-reversal' ? 'clears reversals without sending them' : 'sends every approved sale twice'} fails an invariant, seed printed`, async () => {
      const r = await simulateDays({ seed: 1, days: 10, bug });
      assert.ok(r.failure, `the ${bug} bug went unnoticed`);
      const text = formatFailure(r.failure);
      assert.match(text, /seed=1 {2}day=\d+ {2}step=\d+ {2}invariant=(ledger-journal|charged-once)/);
      assert.match(text, /last events:/);
      const again = await simulateDays({ seed: 1, days: 10, bug });
      assert.deepEqual(again.failure, r.failure, 'the failure replays at the same step');
    });
  }

  // Finding 1 (SIMULATION.md): with a damaged journal the machine's recovery login had no
  // terminal to check the password against and replaced E-STO-05 with E-SYS-99. Fixed: the
  // machine's recovery login is always the journal-independent one (deps.recoveryLogin).
  // The seed is one whose draws damage the journal (a bit flip) within 2 days; any change to the
  // operator's flow moves the draws (seed 1 stopped drawing one when settlement gained its
  // confirmation screen; seed 5 stopped when the acquirer simulator began answering the version 2
  // parameter download, seed 7 when the operator began drawing pre-authorizations and QR payments,
  // which brought seed 5 back, and seed 5 stopped again when the first sign-on began downloading
  // the CA keys and AIDs: seed 1), and the 'damages the journal' assertion says when to choose another.
  it('finding 1: an administrator can log in to recovery mode through the machine (seed 1, 2 days)', async () => {
    const r = await simulateDays({ seed: 1, days: 2, recoveryViaMachine: true });
    assert.equal(r.failure, undefined, r.failure && formatFailure(r.failure));
    assert.ok((r.faults['bit-flip'] ?? 0) > 0, 'the seed damages the journal');
    assert.ok((r.operations['recovery-login'] ?? 0) > 0, 'the administrator logged in through the machine');
    assert.ok((r.operations['recovery-export'] ?? 0) > 0, 'the recovery menu was reached (export)');
  });
});
