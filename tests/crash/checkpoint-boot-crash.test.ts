/**
 * The checkpoint boot opens the journal in-process, without the child's full verify (issue 14
 * goal 2). LMDB crashes natively on some damaged files, so this proves the guarantee still holds:
 * every page of a checkpointed journal zeroed in turn, booted as the terminal boots
 * (first-boot-child.ts: storage/boot-open.ts openForBoot, then the replay's reads), in child
 * processes. A boot may die by a signal only on the in-process path, and then it leaves the
 * durable "opening" marker; the boot after it must take the child path and report the damage
 * (recovery), never die again. A boot that opens cleanly did not read the zeroed page: the
 * background verify (verifyInBackground) must find it, or the page held nothing of the journal.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { cpSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { nodeArgsFor } from '../../common/spawn';
import { removeDir, tempDir, zeroPage, pageCount } from '../../storage/testing';
import { Journal } from '../../storage/journal';
import { OPENING_MARKER_FILE, checkpointKey, writeCheckpoint } from '../../storage/checkpoint';
import { damageOf } from '../../storage/boot-open';
import { verifyInChild } from '../../storage/verify-child';

const ID = 'SIM-00000001';
const KEY = checkpointKey(Buffer.alloc(32, 0x33));
const RECORDS = 400;
const CHECKPOINT_AT = 380;

interface Outcome { dir: string; signal?: string; state?: string; path?: string; recovery?: string; error?: string }

function runChild(dirs: readonly string[]): Promise<{ lines: Outcome[]; signal: string | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeArgsFor(join(__dirname, 'first-boot-child')), ID, ...dirs], {
      stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, POS_CHECKPOINT_KEY: KEY.toString('hex') },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString('utf8'); });
    child.on('error', reject);
    child.on('close', (_code, signal) => resolve({ lines: out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Outcome), signal }));
  });
}

/** Boots each directory once; a child killed by a signal is restarted for the directories after it. */
async function bootEach(dirs: readonly string[]): Promise<Map<string, Outcome>> {
  const out = new Map<string, Outcome>();
  let rest = [...dirs];
  while (rest.length > 0) {
    const r = await runChild(rest);
    for (const l of r.lines) out.set(l.dir, l);
    rest = rest.slice(r.lines.length);
    if (rest.length > 0) {
      out.set(rest[0], { dir: rest[0], signal: r.signal ?? 'exit' });
      rest = rest.slice(1);
    }
  }
  return out;
}

describe('journal: a checkpointed boot on a file that crashes LMDB', function () {
  this.timeout(600_000);
  let root: string;
  before(() => { root = tempDir('ckpt-crash-'); });
  after(() => removeDir(root));

  it('everyZeroedPageIsReportedByTheBootTheBootAfterADeadOneOrTheBackgroundVerify', async () => {
    const model = join(root, 'model');
    const j = await Journal.open({ dir: model, identity: ID });
    for (let i = 1; i < RECORDS; i++) {
      await j.append('test', { i, text: 'x'.repeat(200) });
      if (j.lastSeq === CHECKPOINT_AT) writeCheckpoint(model, KEY, { identity: ID, seq: j.lastSeq, digest: j.lastDigest, writtenAtMs: 0 });
    }
    await j.close();
    const pages = pageCount(model);
    const dirs: string[] = [];
    // Pages 0 and 1 are the meta pages (the pre-map checks refuse them: the corpus test covers them).
    for (let p = 2; p < pages; p++) {
      const dir = join(root, `p${p}`);
      cpSync(model, dir, { recursive: true });
      zeroPage(dir, p);
      dirs.push(dir);
    }
    // The copies are other files (other inodes): seal a checkpoint for each as the boot would have.
    const intact = await Journal.open({ dir: model, identity: ID, readOnly: true });
    const digest = intact.get(CHECKPOINT_AT)?.digest ?? assert.fail('no record at the checkpoint');
    await intact.close();
    for (const dir of dirs) writeCheckpoint(dir, KEY, { identity: ID, seq: CHECKPOINT_AT, digest, writtenAtMs: 0 });

    const first = await bootEach(dirs);
    const died = dirs.filter((d) => first.get(d)?.signal !== undefined);
    for (const dir of died) assert.ok(existsSync(join(dir, OPENING_MARKER_FILE)), `${dir}: a boot that died leaves the opening marker`);
    const second = await bootEach(died);
    for (const dir of died) {
      const o = second.get(dir);
      assert.equal(o?.signal, undefined, `${dir}: the boot after a dead one died again (${o?.signal})`);
      assert.ok(o?.recovery !== undefined, `${dir}: the boot after a dead one reports damage: ${JSON.stringify(o)}`);
    }
    const booted: string[] = [];
    for (const dir of dirs.filter((d) => !died.includes(d))) {
      const o = first.get(dir);
      assert.equal(o?.error, undefined, `${dir}: ${o?.error}`);
      if (o?.recovery !== undefined) continue; // found at boot (the tail, or the pre-map checks)
      assert.equal(o?.path, 'checkpoint', `${dir}: booted on the checkpoint`);
      booted.push(dir);
    }
    // The background verify: the same child verify verifyInBackground runs, all at once here.
    const verdicts = await verifyInChild(booted, ID);
    const foundInBackground = verdicts.filter((v) => v.status !== 'torn-tail' && damageOf(v) !== undefined).length;
    // The prefix (most of the pages) is not read by the checkpoint boot: its damage is the
    // background verify's to find. That it finds some proves the split; the rest held free pages.
    assert.ok(foundInBackground > 0, 'the background verify found damage the checkpoint boot did not read');
    console.log(`      ${dirs.length} pages zeroed: ${died.length} killed the in-process boot (reported by the next one), ${dirs.filter((d) => first.get(d)?.recovery !== undefined).length} reported at boot, ${foundInBackground} by the background verify`);
  });
});
