/**
 * Update install and switch against POWER CUTS, not only SIGKILL (tests/boot/update.test.ts):
 * one run of "apply a package, boot its trial, confirm it" is traced under strace in a child
 * process (tests/boot/update-powercut-workload.ts), and the A/B tree is rebuilt as a disk could
 * hold it after the power failed at every point where the run touched the tree, in 'drop',
 * 'keep' and seeded 'torn' modes. The power-cut simulator (tests/powercut/) models file content
 * page by page but refuses renames, which an A/B install is made of; tests/boot/fs-crash-model.ts
 * adds the namespace (create/rename/unlink durable at a directory fsync, ordered metadata).
 *
 * At every rebuilt state, boot-slot (what the unit's shell boots without the selector), when
 * present, must name what the selector picks, never skip a trial or a rollback; and the boot
 * selector (selectBootSlot) must pick a bootable slot: slot A
 * byte for byte as before, or slot B complete (every file as its manifest says) with version
 * 2.0.0; state.json must parse and satisfy checkConsistent; and what was acknowledged holds:
 * after "installed" the next boot tries 2.0.0 (or, when the power failed during that trial boot
 * after its try was counted, rolls back: a failed trial, by design), after "confirmed" 2.0.0 is
 * the active version.
 * Positive control: a naive installer (files straight into the slot, state.json rewritten in
 * place without fsync) must fail the same check.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { tempDir, removeDir } from '../../storage/testing';
import { buildPackage, generateUpdateKeys } from '../../boot/update';
import { checkConsistent, initSlots, readBootSlot, readState, selectBootSlot, slotDir, slotProblem } from '../../boot/update-slots';
import { runUnderStrace, readTraceFile, nodeCommandFor } from '../powercut';
import type { TraceEvent, CrashMode } from '../powercut';
import { needTool } from '../support/tools';
import { FsCrashModel } from './fs-crash-model';

const BOARD = 'sim';
const REPO = join(__dirname, '..', '..');
const WORKLOAD = 'tests/boot/update-powercut-workload.ts';
const TORN_SEEDS = [1, 2, 3];

function snapshot(root: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p); else if (e.isFile()) out.set(p, readFileSync(p));
    }
  };
  walk(root);
  return out;
}

function slotHash(files: ReadonlyMap<string, Buffer>, slot: 'A' | 'B'): string {
  const h = createHash('sha256');
  for (const p of [...files.keys()].filter((x) => x.startsWith(`slot${slot}${sep}`)).sort()) h.update(p).update(files.get(p)!);
  return h.digest('hex');
}

interface Run { events: TraceEvent[]; model: FsCrashModel; acks: Array<{ id: string; index: number }>; points: number[]; finalFiles: Map<string, Buffer>; root: string; initialA: string }

interface Outcome { problems: string[]; chosen: string }

describe('boot/update: install and switch survive a power cut at every step (strace disk model)', function () {
  this.timeout(120_000);
  const keys = generateUpdateKeys();
  let work: string;
  let pkgFile: string;
  let runs = 0;

  before(function () {
    needTool(this, 'strace');
    work = realpathSync(tempDir('posupd-powercut-'));
    const src = join(work, 'src');
    mkdirSync(join(src, 'dist', 'boot'), { recursive: true });
    writeFileSync(join(src, 'dist', 'boot', 'terminal-main.js'), "console.log('runtime 2.0.0');\n");
    // Several pages per file, so a torn state can hold a file half old, half new.
    for (let i = 0; i < 3; i++) writeFileSync(join(src, `data-${i}.bin`), Buffer.alloc(9_000 + i, 0x41 + i));
    pkgFile = join(work, 'pos-2.0.0.posupd');
    writeFileSync(pkgFile, buildPackage(src, keys.privateKeyPem, { version: '2.0.0', board: BOARD }));
  });
  after(() => { if (work) removeDir(work); });

  /** A fresh A/B layout with 1.0.0 in slot A, traced through one run of the workload. */
  async function record(mode: 'safe' | 'unsafe'): Promise<Run> {
    const root = join(work, `root-${mode}-${++runs}`);
    initSlots(root, '1.0.0');
    writeFileSync(join(slotDir(root, 'A'), 'terminal-main.js'), "console.log('runtime 1.0.0');\n");
    writeFileSync(join(slotDir(root, 'A'), 'data.bin'), Buffer.alloc(6_000, 0x31));
    const initial = snapshot(root);
    const traceFile = join(work, `trace-${mode}.txt`);
    const r = await runUnderStrace({
      command: process.execPath, args: [...nodeCommandFor(WORKLOAD), mode, root, pkgFile, keys.publicKeyHex, BOARD],
      traceFile, cwd: REPO, timeoutMs: 60_000,
    });
    assert.equal(r.exitCode, 0, `workload ${mode} failed: ${r.stderr.slice(-2000)}`);
    const events = readTraceFile(traceFile, { cwd: REPO });
    const model = new FsCrashModel(events, root, initial);
    const acks = events.flatMap((e) => (e.kind === 'ack' ? [{ id: e.id, index: e.index }] : []));
    // Crash points: just before and just after every event that touched the tree, and every ack.
    const touches = (e: TraceEvent): boolean => {
      const p = e.kind === 'namespace' ? e.paths[0] : 'path' in e ? e.path : null;
      return typeof p === 'string' && (p === root || p.startsWith(root + sep));
    };
    const points = new Set<number>([0, events.length]);
    for (const e of events) if (touches(e) || e.kind === 'ack') { points.add(e.index); points.add(e.index + 1); }
    const initialA = slotHash(new Map([...initial].map(([p, d]) => [relative(root, p), d])), 'A');
    return { events, model, acks, points: [...points].filter((i) => i <= events.length).sort((a, b) => a - b), finalFiles: snapshot(root), root, initialA };
  }

  /** The checks of the file header, on one rebuilt state. */
  function check(run: Run, files: Map<string, Buffer>, acked: ReadonlySet<string>, stateDir: string): Outcome {
    const problems: string[] = [];
    if (slotHash(files, 'A') !== run.initialA) problems.push('slot A (the running version) changed');
    rmSync(stateDir, { recursive: true, force: true });
    for (const [rel, data] of files) {
      mkdirSync(dirname(join(stateDir, rel)), { recursive: true });
      writeFileSync(join(stateDir, rel), data);
    }
    let before: ReturnType<typeof readState>;
    try { before = readState(stateDir); } catch (e) { return { problems: [...problems, `no valid slot state: ${String(e)}`], chosen: 'none' }; }
    const inconsistent = checkConsistent(stateDir);
    if (inconsistent) problems.push(`state inconsistent: ${inconsistent}`);
    let chosen: string;
    // What the unit's shell boots without the selector (boot-slot, I5): only what the selector would.
    const shellSlot = readBootSlot(stateDir);
    try {
      const c = selectBootSlot(stateDir, { clock: () => 10_000 });
      chosen = `${c.slot} ${c.version}${c.trial ? ' trial' : ''}${c.rolledBack ? ' rolled-back' : ''}`;
      if (shellSlot !== undefined && (shellSlot !== c.slot || c.trial || c.rolledBack)) problems.push(`boot-slot says ${shellSlot}, the selector ${chosen}`);
      if (c.slot === 'B') {
        const problem = slotProblem(slotDir(stateDir, 'B'));
        if (problem) problems.push(`boots a half-written slot B: ${problem}`);
        const version = (JSON.parse(readFileSync(join(slotDir(stateDir, 'B'), 'manifest.json'), 'utf8')) as { version: string }).version;
        if (version !== '2.0.0' || c.version !== '2.0.0') problems.push(`slot B holds ${version}, state says ${c.version}`);
      } else if (c.version !== '1.0.0') problems.push(`slot A chosen as version ${c.version}`);
      if (acked.has('confirmed')) {
        if (c.slot !== 'B' || c.trial) problems.push(`confirmed 2.0.0 lost: boots ${chosen}`);
      } else if (acked.has('trial')) {
        if (!((c.slot === 'A' && c.rolledBack) || (c.slot === 'B' && !c.trial))) problems.push(`after an unconfirmed trial: boots ${chosen}`);
      } else if (acked.has('installed')) {
        // Installed: the next boot tries 2.0.0. A power cut during that trial boot, once its
        // try is counted (tries >= 1 durable), is a failed trial: rolled back, by design.
        const trialCounted = before.pending === 'B' && before.tries >= 1;
        const ok = before.active === 'B' ? c.slot === 'B' && !c.trial : before.pending !== 'B' ? false : trialCounted ? c.slot === 'A' && c.rolledBack !== undefined : c.slot === 'B' && c.trial;
        if (!ok) problems.push(`installed 2.0.0 lost: state ${JSON.stringify({ active: before.active, pending: before.pending, tries: before.tries })}, boots ${chosen}`);
      }
    } catch (e) {
      return { problems: [...problems, `no bootable slot: ${String(e)}`], chosen: 'none' };
    }
    return { problems, chosen };
  }

  function checkAll(run: Run): { states: number; failures: string[]; chosen: Map<string, number>; partialNamespaces: number } {
    const failures: string[] = [];
    const chosen = new Map<string, number>();
    let states = 0;
    let partialNamespaces = 0;
    const stateDir = join(work, 'state');
    for (const index of run.points) {
      const acked = new Set(run.acks.filter((a) => a.index < index).map((a) => a.id));
      const modes: Array<{ mode: CrashMode; seed?: number }> = [{ mode: 'drop' }, { mode: 'keep' }, ...TORN_SEEDS.map((seed) => ({ mode: 'torn' as const, seed: seed * 1_000 + index }))];
      for (const m of modes) {
        const s = run.model.stateAt(index, m);
        if (s.nsApplied < s.nsCompleted) partialNamespaces++;
        const o = check(run, s.files, acked, stateDir);
        states++;
        chosen.set(o.chosen.split(' ').slice(0, 3).join(' '), (chosen.get(o.chosen.split(' ').slice(0, 3).join(' ')) ?? 0) + 1);
        if (o.problems.length) failures.push(`crash at event ${index} (${m.mode}${m.seed ? ` seed ${m.seed}` : ''}, acked ${[...acked].join(',') || '-'}): ${o.problems.join('; ')}`);
      }
    }
    rmSync(stateDir, { recursive: true, force: true });
    return { states, failures, chosen, partialNamespaces };
  }

  it('theTraceReplaysIntoTheTreeTheRunLeft', async () => {
    const run = await record('safe');
    const replayed = run.model.stateAt(run.events.length, { mode: 'keep' }).files;
    const onDisk = new Map([...run.finalFiles].map(([p, d]) => [relative(run.root, p), d]));
    assert.deepEqual([...replayed.keys()].sort(), [...onDisk.keys()].sort());
    for (const [p, d] of onDisk) assert.ok(replayed.get(p)!.equals(d), `${p} replays differently`);
    assert.deepEqual(run.acks.map((a) => a.id), ['installed', 'trial', 'confirmed']);
    assert.ok(run.model.operationCount >= 10, `renames/creates/unlinks traced: ${run.model.operationCount}`);
  });

  it('everyCrashStateBootsTheOldVersionOrTheCompleteNewOneAndKeepsWhatWasAcknowledged', async () => {
    const run = await record('safe');
    const r = checkAll(run);
    assert.deepEqual(r.failures.slice(0, 10), [], `${r.failures.length} of ${r.states} crash states failed`);
    assert.ok(r.states >= 300, `${r.states} crash states checked`);
    assert.ok(r.partialNamespaces > 0, 'some states lost namespace operations that were not yet durable');
    // Every outcome of the selector was exercised: the old version, the trial of the new one,
    // a rollback of an unconfirmed trial, and the confirmed new version.
    for (const k of ['A 1.0.0', 'B 2.0.0 trial', 'A 1.0.0 rolled-back', 'B 2.0.0']) assert.ok((r.chosen.get(k) ?? 0) > 0, `outcome "${k}" seen: ${JSON.stringify([...r.chosen])}`);
  });

  it('positiveControlANaiveInPlaceInstallFailsTheSameCheck', async () => {
    const run = await record('unsafe');
    const r = checkAll(run);
    assert.ok(r.failures.length > 0, `the naive installer passed all ${r.states} states: the check cannot see a power cut`);
    assert.ok(r.failures.some((f) => /no valid slot state|installed 2\.0\.0 lost/.test(f)), r.failures.slice(0, 5).join('\n'));
  });
});
