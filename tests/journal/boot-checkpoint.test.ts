/**
 * The boot checkpoint (storage/boot-open.ts, storage/checkpoint.ts; issue 14 goal 2): a boot with
 * an intact checkpoint verifies only the records after it, in-process; a tampered, stale or
 * foreign checkpoint, or a boot that died opening, sends it through the child's full verify;
 * damage before the checkpoint, which such a boot does not see, is found by the background verify,
 * which withdraws the checkpoint so that the next boot stops in recovery as before checkpoints.
 * And the state snapshot it carries replays to exactly the state a full replay gives.
 */
import { strict as assert } from 'node:assert';
import { renameSync, writeFileSync, readFileSync, existsSync, copyFileSync, unlinkSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Journal } from '../../storage/journal';
import { openForBoot, verifyInBackground } from '../../storage/boot-open';
import { CHECKPOINT_FILE, OPENING_MARKER_FILE, checkpointKey, markOpening, readCheckpoint, writeCheckpoint } from '../../storage/checkpoint';
import { flipByte, removeDir, tempDir } from '../../storage/testing';
import { silentLogger } from '../../common/log';
import { isPosError } from '../../common/errors';
import { AcquirerSimulator, TEST_TERMINAL } from '../../sim/host/simulator';
import { seededRandom } from '../../runtime/random';
import { openTerminal } from '../../runtime/terminal';
import { fixedDeviceKey } from '../../runtime/device-key';
import { CUP_PROFILE } from '../../runtime/host/fields';
import { cardFromTrack2 } from '../../runtime/txn/card';
import { TEST_CARDS } from '../../sim/test-cards';
import { settle } from '../../runtime/txn/settlement';
import { Store } from '../../runtime/store';
import { STATE_FORMAT, decodeState, encodeState } from '../../runtime/state-snapshot';
import { deserialize, serialize } from 'node:v8';
import { emptyState } from '../../runtime/terminal-state';

const ID = 'CKPT-0001';
const KEY = checkpointKey(Buffer.alloc(32, 0x11));
const RECORDS = 40;

/** A journal of RECORDS test records with a checkpoint at `at`, then `after` more records. */
async function journalWithCheckpoint(dir: string, at: number, after: number): Promise<void> {
  const j = await Journal.open({ dir, identity: ID });
  for (let i = j.lastSeq; i < at; i++) await j.append('test', { i, note: 'before the checkpoint' });
  writeCheckpoint(dir, KEY, { identity: ID, seq: j.lastSeq, digest: j.lastDigest, writtenAtMs: 0 });
  for (let i = 0; i < after; i++) await j.append('test', { i, note: 'after the checkpoint' });
  await j.close();
}

async function boot(dir: string, key: Buffer | undefined = KEY): Promise<Awaited<ReturnType<typeof openForBoot>>> {
  return openForBoot({ dir, identity: ID, logger: silentLogger, checkpointKey: key });
}

describe('journal: the boot checkpoint', function () {
  this.timeout(120_000);
  let root: string;
  let n = 0;
  const fresh = (): string => join(root, `j${n++}`);
  before(() => { root = tempDir('ckpt-'); });
  after(() => removeDir(root));

  it('withAnIntactCheckpointBootVerifiesOnlyTheRecordsAfterItInProcess', async () => {
    const dir = fresh();
    await journalWithCheckpoint(dir, 30, 10);
    const b = await boot(dir);
    assert.equal(b.path, 'checkpoint');
    assert.equal(b.checkpoint?.seq, 30);
    assert.equal(b.verifiedRecords, 10);
    assert.equal(b.journal.openReport.goodCount, 40);
    assert.equal(b.journal.lastSeq, 40);
    // The marker stays until the caller's replay is done.
    assert.ok(existsSync(join(dir, OPENING_MARKER_FILE)));
    b.done();
    assert.ok(!existsSync(join(dir, OPENING_MARKER_FILE)));
    await b.journal.append('test', { after: 'boot' });
    await b.journal.close();
  });

  it('damageBeforeTheCheckpointIsNotSeenAtBootButFoundInTheBackgroundAndTheNextBootStopsInRecovery', async () => {
    const dir = fresh();
    await journalWithCheckpoint(dir, 30, 5);
    await flipByte(dir, 12, 70); // a payload byte of record 12: its payload checksum fails
    const b = await boot(dir);
    assert.equal(b.path, 'checkpoint', 'only the tail is verified at boot');
    b.done();
    const bg = await verifyInBackground(dir, ID);
    assert.ok(bg.damage, 'the background verify finds it');
    assert.equal(bg.damage.code, 'E-STO-05');
    assert.equal(bg.damage.detail.seq, 12);
    assert.match(bg.damage.message, /record 12/);
    assert.ok(!existsSync(join(dir, CHECKPOINT_FILE)), 'and withdraws the checkpoint');
    await b.journal.close();
    await assert.rejects(boot(dir), (e: unknown) => isPosError(e) && e.code === 'E-STO-05' && e.detail.seq === 12, 'the next boot verifies all and stops at record 12');
  });

  it('damageAfterTheCheckpointIsFoundByTheBootItself', async () => {
    const dir = fresh();
    await journalWithCheckpoint(dir, 20, 10);
    await flipByte(dir, 25, 70);
    await assert.rejects(boot(dir), (e: unknown) => isPosError(e) && e.code === 'E-STO-05' && e.detail.seq === 25);
    assert.ok(!existsSync(join(dir, OPENING_MARKER_FILE)), 'a boot that reported damage leaves no marker');
  });

  it('aBadLastRecordAfterTheCheckpointIsDamageTheBootFindsNotATornTail', async () => {
    const dir = fresh();
    await journalWithCheckpoint(dir, 20, 5);
    await flipByte(dir, 25, 70);
    // LMDB's records are never torn by a cut (storage/verify.ts stop): the last one too is damage.
    await assert.rejects(boot(dir), (e: unknown) => isPosError(e) && e.code === 'E-STO-05' && e.detail.seq === 25);
  });

  it('aTamperedStaleOrForeignCheckpointOrAMarkerLeftByADeadBootMeansTheFullVerifyInAChild', async () => {
    const cases: Array<{ what: string; spoil: (dir: string) => void | Promise<void>; reason: RegExp; key?: Buffer }> = [
      { what: 'a byte of the checkpoint flipped', spoil: (d) => { const f = join(d, CHECKPOINT_FILE); const b = readFileSync(f); b[20] ^= 1; writeFileSync(f, b); }, reason: /MAC/ },
      { what: 'the checkpoint cut short', spoil: (d) => { const f = join(d, CHECKPOINT_FILE); writeFileSync(f, readFileSync(f).subarray(0, 30)); }, reason: /torn|malformed/ },
      { what: 'another device key', spoil: () => undefined, reason: /MAC/, key: checkpointKey(Buffer.alloc(32, 0x22)) },
      { what: 'a checkpoint whose digest is not record 30\'s', spoil: (d) => writeCheckpoint(d, KEY, { identity: ID, seq: 30, digest: Buffer.alloc(32, 7), writtenAtMs: 0 }), reason: /checkpoint mismatch: record 30/ },
      { what: 'a checkpoint beyond the end of the journal', spoil: (d) => writeCheckpoint(d, KEY, { identity: ID, seq: 99, digest: Buffer.alloc(32, 7), writtenAtMs: 0 }), reason: /checkpoint mismatch: the journal ends/ },
      { what: 'another identity', spoil: (d) => writeCheckpoint(d, KEY, { identity: 'OTHER-1', seq: 30, digest: Buffer.alloc(32), writtenAtMs: 0 }), reason: /not "CKPT-0001"/ },
      { what: 'data.mdb replaced by a copy (another file)', spoil: (d) => { copyFileSync(join(d, 'data.mdb'), join(d, 'copy.mdb')); renameSync(join(d, 'copy.mdb'), join(d, 'data.mdb')); }, reason: /another inode/ },
      { what: 'the opening marker of a boot that died', spoil: (d) => markOpening(d, 0), reason: /died while opening/ },
      { what: 'no checkpoint', spoil: (d) => unlinkSync(join(d, CHECKPOINT_FILE)), reason: /no checkpoint/ },
    ];
    for (const c of cases) {
      const dir = fresh();
      await journalWithCheckpoint(dir, 30, 10);
      await c.spoil(dir);
      const b = await boot(dir, c.key ?? KEY);
      assert.equal(b.path, 'child', c.what);
      assert.match(b.reason ?? '', c.reason, c.what);
      assert.equal(b.verifiedRecords, 40, `${c.what}: every record verified`);
      assert.equal(b.journal.state, 'ok', c.what);
      b.done();
      await b.journal.close();
    }
  });

  it('aCheckpointIsOnlyReadWhenItsMacAndFingerprintHold', async () => {
    const dir = fresh();
    await journalWithCheckpoint(dir, 10, 0);
    const r = readCheckpoint(dir, KEY, ID);
    assert.ok('checkpoint' in r);
    const j = await Journal.open({ dir, identity: ID, readOnly: true });
    assert.ok(r.checkpoint.digest.equals(j.get(10)?.digest ?? Buffer.alloc(0)));
    assert.equal(r.checkpoint.seq, 10);
    await j.close();
  });

  it('aFolderInPlaceOfTheCheckpointIsReplacedByTheNextOneNotKeptForEver', async () => {
    const dir = fresh();
    await journalWithCheckpoint(dir, 10, 0);
    rmSync(join(dir, CHECKPOINT_FILE));
    mkdirSync(join(dir, CHECKPOINT_FILE));
    writeFileSync(join(dir, CHECKPOINT_FILE, 'x'), 'y');
    assert.ok('problem' in readCheckpoint(dir, KEY, ID), 'no checkpoint read from a folder');
    const j = await Journal.open({ dir, identity: ID, readOnly: true });
    writeCheckpoint(dir, KEY, { identity: ID, seq: j.lastSeq, digest: j.lastDigest, writtenAtMs: 0 });
    await j.close();
    assert.ok('checkpoint' in readCheckpoint(dir, KEY, ID), 'the next checkpoint is written where the folder was');
  });

  it('aSnapshotIsUsedByOtherSoftwareOfItsStateFormatAndRefusedByAnotherFormat', () => {
    const state = emptyState();
    state.stanLast = 4321;
    const envelope = deserialize(encodeState(state)) as Record<string, unknown>;
    const rewritten = (o: Record<string, unknown>): Buffer => serialize({ ...envelope, ...o });
    // An update that left the reducer as it was: no full replay of a year of records at its first boot.
    const updated = decodeState(rewritten({ software: '9.9.9', v8: '99.0.0' }));
    assert.ok('state' in updated, 'problem' in updated ? updated.problem : '');
    assert.equal(updated.state.stanLast, 4321);
    // A reducer that derives the state differently: the older state is never trusted.
    for (const format of [STATE_FORMAT - 1, STATE_FORMAT + 1, undefined]) {
      const d = decodeState(rewritten({ format }));
      assert.ok('problem' in d && /format/.test(d.problem), `format ${String(format)} refused`);
    }
    assert.ok('problem' in decodeState(Buffer.from('not a snapshot')));
  });

  it('theStateSnapshotPlusTheRecordsAfterItReplaysToExactlyTheFullReplay', async () => {
    const dir = fresh();
    const journal = await Journal.open({ dir, identity: ID, clock: () => T0 });
    const sim = new AcquirerSimulator({ randomBytes: seededRandom(7), clock: () => T0 });
    const host = { exchange: async (req: Buffer) => { const h = sim.handle(req); if (!h) throw new Error('host refused'); return h.bytes; } };
    const t = openTerminal({ journal, host, config: CONFIG, deviceKey: fixedDeviceKey(Buffer.alloc(32, 0x5a)), random: seededRandom(1), clock: () => T0 });
    await t.engine.signOn(SUP);
    const card = cardFromTrack2(TEST_CARDS.magDebit.track2);
    const snapshots: Buffer[] = [];
    const sale = async (i: number): Promise<void> => {
      const r = await t.engine.sale({ amountFen: 100 + i, card, session: SUP });
      assert.equal(r.outcome, 'approved');
      await t.engine.markPrinted(r.txn.stan, 'merchant', false);
    };
    for (let i = 0; i < 4; i++) await sale(i);
    snapshots.push(encodeState(t.store.state)); // mid-batch
    await settle(t.engine, SUP);
    snapshots.push(encodeState(t.store.state)); // right after a settlement
    for (let i = 0; i < 3; i++) await sale(10 + i);
    snapshots.push(encodeState(t.store.state)); // at the end
    await journal.close();
    await sim.close();
    const reopened = await Journal.open({ dir, identity: ID, clock: () => T0 });
    const full = Store.load(reopened).state;
    for (const [i, bytes] of snapshots.entries()) {
      const d = decodeState(bytes);
      assert.ok('state' in d, `snapshot ${i}: ${'problem' in d ? d.problem : ''}`);
      const replayed = Store.load(reopened, d.state).state;
      assert.deepStrictEqual(replayed, full, `snapshot ${i} at record ${d.state.lastSeq}`);
    }
    await reopened.close();
  });
});

const T0 = Date.UTC(2026, 10, 21, 2, 0, 0);
const CONFIG = { ids: { tid: TEST_TERMINAL.tid, mid: TEST_TERMINAL.mid }, profile: CUP_PROFILE, tmk: () => Buffer.from(TEST_TERMINAL.tmk) };
const SUP = { operator: '002', role: 'supervisor' as const };
