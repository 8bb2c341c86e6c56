/**
 * Issue 13 item 5: a power cut during the very first boot, while the journal is being created and
 * before anything was acknowledged, must not leave a terminal that boots into "journal damaged"
 * forever. The states such a cut leaves on a real file system (the file created but its data not
 * yet on disk, the first commit's data page written but not the meta page that commits it, meta
 * pages partly written) are built from a real journal's creation and booted as the terminal boots
 * (tests/crash/first-boot-child.ts, in a child process, through storage/boot-open.ts as the terminal
 * boots): each must open as a new journal with record 1 for the terminal's identity and the
 * identity record beside it (one commit), never go to recovery and never die by a signal.
 * (The power-cut simulator, tests/powercut, checks the same window from a traced run; these are the
 * states it does not produce, such as a 0-byte data.mdb from delayed allocation.)
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeDir, tempDir, PAGE_BYTES } from '../../storage/testing';
import { metaTxnId, openEnv, recordsClaimedByMeta } from '../../storage/lmdb-env';
import { RecordType } from '../../storage/record';
import { genesisFor } from './first-boot-child';
import { Journal } from '../../storage/journal';
import { nodeArgsFor } from '../../common/spawn';

const ID = 'SIM-00000001';

function bootInChild(dirs: readonly string[]): Promise<{ out: string; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgsFor(join(__dirname, 'first-boot-child')), ID, ...dirs], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString('utf8'); });
    child.on('error', reject);
    child.on('close', (_code, signal) => resolve({ out, signal }));
  });
}

describe('journal: a power cut during the very first boot', function () {
  this.timeout(120_000);
  let root: string;
  before(() => { root = tempDir('firstboot-'); });
  after(() => removeDir(root));

  it('everyStateACutDuringCreationLeavesBootsAsANewJournalNeverAsDamaged', async () => {
    // An environment as LMDB initialises it (both meta pages, transaction 0, no record) ...
    const emptyDir = join(root, 'empty');
    mkdirSync(emptyDir);
    const env = openEnv(emptyDir);
    await env.close();
    const empty = readFileSync(join(emptyDir, 'data.mdb'));
    // ... and after the first commit (record 1, journal-created, with the identity: one commit).
    const firstDir = join(root, 'first');
    const j = await Journal.open({ dir: firstDir, identity: ID, genesis: genesisFor(ID) });
    await j.close();
    const first = readFileSync(join(firstDir, 'data.mdb'));
    const metaOneUncommitted = Buffer.from(first);
    metaOneUncommitted.set(empty.subarray(PAGE_BYTES, 2 * PAGE_BYTES), PAGE_BYTES);
    const zeroMetas = Buffer.from(first);
    zeroMetas.fill(0, 0, 2 * PAGE_BYTES);
    const states: Record<string, Buffer> = {
      'data.mdb created, nothing on disk (0 bytes)': Buffer.alloc(0),
      'one meta page written': empty.subarray(0, PAGE_BYTES),
      'meta pages not written (zeros)': Buffer.alloc(2 * PAGE_BYTES),
      'environment initialised, no record': empty,
      'record 1 and the identity on their page, its meta page not written': metaOneUncommitted,
      'record 1 and the identity on their page, no meta page on disk': zeroMetas,
    };
    const cases = Object.entries(states).map(([what, bytes], i) => {
      const dir = join(root, `s${i}`);
      mkdirSync(dir);
      writeFileSync(join(dir, 'data.mdb'), bytes);
      return { what, dir };
    });
    const run = await bootInChild(cases.map((c) => c.dir));
    assert.equal(run.signal, null, `boot killed by ${run.signal}: ${run.out}`);
    const byDir = new Map(run.out.trim().split('\n').map((l) => JSON.parse(l) as { dir: string; state?: string; lastSeq?: number; identity?: string; types?: number[]; recovery?: string; error?: string }).map((v) => [v.dir, v]));
    for (const { what, dir } of cases) {
      const v = byDir.get(dir) ?? assert.fail(`${what}: no result in ${run.out}`);
      assert.equal(v.recovery, undefined, `${what}: boot went to recovery: ${v.recovery}`);
      assert.equal(v.error, undefined, `${what}: ${v.error}`);
      assert.equal(v.state, 'ok', what);
      assert.equal(v.identity, ID, `${what}: record 1 written for the terminal`);
      assert.ok((v.lastSeq ?? 0) >= 1, what);
      // Issue 13 item 5: never a journal without its identity after a cut at creation.
      assert.deepEqual(v.types?.slice(0, 2), [RecordType.journalCreated, RecordType.terminalIdentity], `${what}: record 1 and the identity together`);
    }
  });

  it('createsTheJournalAndItsIdentityInOneCommitSoNoCutLeavesRecord1Alone', async () => {
    const bare = join(root, 'bare-env');
    mkdirSync(bare);
    await openEnv(bare).close();
    const dir = join(root, 'one-commit');
    const j = await Journal.open({ dir, identity: ID, genesis: genesisFor(ID) });
    assert.equal(j.lastSeq, 2);
    await j.close();
    // One LMDB transaction after the environment's own holds both records: there was no commit
    // in between that a power cut could have left as the last one (record 1 without identity).
    assert.equal(metaTxnId(dir), (metaTxnId(bare) ?? 0n) + 1n);
    assert.equal(recordsClaimedByMeta(dir), 2);
  });
});
