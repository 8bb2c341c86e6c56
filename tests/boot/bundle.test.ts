/**
 * The terminal's bundle (scripts/image/bundle.ts): built from the sources into a folder of its own,
 * it boots the terminal on the simulator board to the login screen and on to idle, started through
 * its loader as the unit starts it, and writes and then uses the V8 code cache. Without the
 * simulator it leaves sim/ out and a simulator board is refused with its reason.
 *
 * The bundle's `__dirname`s point into the compiled tree (dist/, from `npm test`'s tsc): the
 * verify child and worker stay compiled modules there.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { AcquirerSimulator } from '../../sim/host/simulator';
import { Driver, TerminalRun } from '../e2e/driver';
import { startTerminal } from '../../boot/start';
import { ControlClient } from '../../sim/control-client';
import { HOST_SIM_LINE_PREFIX } from '../../sim/control-server';
import { controlLine } from '../../sim/host/cli';
import { removeDir, tempDir } from '../../storage/testing';
import { BUNDLE_FILE, BUNDLE_LOADER_FILE, buildBundle, BundleResult } from '../../scripts/image/bundle';
import { codeCacheFile, readCodeCache } from '../../boot/code-cache';
import { IDLE_GC_AFTER_BUSY_MS } from '../../boot/idle-gc';

const REPO = resolve(__dirname, '..', '..');
const DIST = join(REPO, 'dist');
/** The packages left outside the bundle (native addons) are found here from a bundle in a temporary folder. */
const NODE_MODULES = join(REPO, 'node_modules');

/** A driver whose terminal is `node --expose-gc <bundle loader>`, as the unit starts it. */
class BundleDriver extends Driver {
  constructor(host: AcquirerSimulator, dir: string, private readonly main: string, private readonly env: NodeJS.ProcessEnv) { super(host, dir, 'en'); }

  override async powerOn(): Promise<TerminalRun> {
    const log: string[] = [];
    const args = ['--board', 'sim', '--host-port', String(this.host.port), '--journal-dir', join(this.dir, 'journal'), '--backup-dir', join(this.dir, 'backup'), '--locale', 'en'];
    const { child, controlPort } = await startTerminal(args, (line) => {
      if (line.startsWith(HOST_SIM_LINE_PREFIX)) { controlLine(this.host, line.slice(HOST_SIM_LINE_PREFIX.length), (l) => log.push(l)); return; }
      log.push(line); if (log.length > 500) log.shift();
    }, undefined, { nodeArgs: ['--expose-gc', this.main], env: this.env });
    this.run = { child, client: await ControlClient.connect(controlPort), controlPort, log };
    return this.run;
  }
}

describe('the terminal bundle (esbuild)', function () {
  this.timeout(180_000);
  let work: string;
  let withSim: BundleResult;

  before(async function () {
    if (!existsSync(join(DIST, 'storage', 'verify-child-main.js'))) throw new Error('compile first: npx tsc -p tsconfig.json (the bundle points into dist/)');
    work = tempDir('pos-bundle-');
    withSim = await buildBundle({ root: REPO, outDir: join(work, 'sim', 'bundle'), codeRoot: DIST, withSim: true });
  });
  after(() => { if (work) removeDir(work); });

  it('is one file with its map (sources named relative to it) and its loader', () => {
    assert.equal(withSim.file, join(work, 'sim', 'bundle', BUNDLE_FILE));
    assert.ok(existsSync(withSim.loader) && withSim.loader.endsWith(BUNDLE_LOADER_FILE));
    // Hundreds of modules in one file: the boot path's ~220 and what loads on use.
    assert.ok(withSim.inputs > 200, `${withSim.inputs} modules`);
    const text = readFileSync(withSim.file, 'utf8');
    assert.ok(text.endsWith(`//# sourceMappingURL=${BUNDLE_FILE}.map\n`));
    const map = JSON.parse(readFileSync(`${withSim.file}.map`, 'utf8')) as { sources: string[] };
    assert.ok(map.sources.some((s) => s.endsWith('boot/terminal-main.ts')));
    assert.deepEqual(map.sources.filter((s) => s.startsWith('/')), [], 'absolute paths in the map');
    // Native addons load from node_modules/ as before.
    assert.match(text, /require\("lmdb"\)/);
    // Latin-1 only: V8 keeps such a source one byte per character in the heap all day; one character
    // above U+00FF (esbuild escapes strings, not regular expressions) doubles it (boot/README.md, "Memory").
    const wide = /[^\x00-\xff]/.exec(text);
    assert.equal(wide, null, `the bundle has a character above U+00FF: ...${wide ? text.slice(Math.max(0, wide.index - 60), wide.index + 20) : ''}`);
    // Packages' node:assert goes through common/assert-lazy.ts: one require of it left, the shim's own.
    assert.equal(text.match(/require\("(node:)?assert"\)/g)?.length, 1);
    assert.ok(map.sources.some((s) => s.endsWith('common/assert-lazy.ts')));
  });

  it('boots the terminal on the simulator board to the login screen and to idle, collects garbage once idle, and its second boot uses the code cache', async () => {
    const host = new AcquirerSimulator({ clock: Date.now });
    await host.listen(0);
    const cacheDir = join(work, 'code-cache');
    const env = { ...process.env, LOG_LEVEL: 'debug', NODE_PATH: NODE_MODULES, POS_CODE_CACHE: '1', POS_CODE_CACHE_DIR: cacheDir };
    const d = new BundleDriver(host, join(work, 'run'), withSim.loader, env);
    try {
      const run = await d.powerOn();
      await d.until('login');
      await d.signIn();
      assert.equal((await d.snapshot()).state, 'idle');
      // Settled at idle after the sign-on: memory given back once (boot/idle-gc.ts), through the
      // runtime's addon found from the bundle (boot/mem-reclaim.ts: __dirname mapped to dist/boot).
      const gcDeadline = Date.now() + IDLE_GC_AFTER_BUSY_MS + 10_000;
      while (!run.log.some((l) => l.includes('idle: memory given back')) && Date.now() < gcDeadline) await new Promise((r) => setTimeout(r, 100));
      const gcLine = run.log.find((l) => l.includes('idle: memory given back'));
      assert.ok(gcLine, 'no collection at idle after the sign-on');
      const gc = JSON.parse(gcLine) as { after: string; kind?: string };
      assert.equal(gc.after, 'signOn');
      assert.equal(gc.kind, 'low-memory+trim', 'the bundle gave memory back through native/mem_reclaim.cc');
      await d.sale(1234);
      const cmdline = readFileSync(`/proc/${run.child.pid}/cmdline`, 'utf8').split('\0');
      assert.ok(cmdline.includes(withSim.loader), cmdline.join(' '));
      // The cache file holds the bundle's entry, written once the terminal settled at idle after
      // the login (boot/code-cache.ts): before the collection above, which waits for it.
      assert.ok(existsSync(codeCacheFile(cacheDir)), 'no code cache written at the first idle');
      const writtenLine = run.log.flatMap((l) => l.split('\n')).find((l) => l.includes('"V8 code cache written"'));
      assert.ok(writtenLine, 'the write is logged');
      assert.equal((JSON.parse(writtenLine) as { atIdle?: boolean }).atIdle, true, writtenLine);
      assert.ok(readCodeCache(codeCacheFile(cacheDir)).size >= 1, 'a code cache was written');
      await d.powerOff();
      const written = statSync(codeCacheFile(cacheDir)).mtimeMs;
      const again = await d.powerOn();
      await d.until('login');
      await d.signIn();
      // The cache is rewritten only when an entry was missing or refused (or the file was written
      // before any idle): the second boot found the bundle's, and let it be at its own idle.
      await new Promise((r) => setTimeout(r, 2_000));
      assert.equal(statSync(codeCacheFile(cacheDir)).mtimeMs, written, 'the second boot rewrote the cache (its entry missing or refused)');
      const log = again.log.join('\n');
      assert.doesNotMatch(log, /"level":[56]0/, 'no error at the second boot');
      // The bundle and the cache file were mapped (boot/code-cache.ts, native/mapped_file.c) and the bundle ran from the cache.
      const cacheLine = again.log.flatMap((l) => l.split('\n')).find((l) => l.includes('"V8 code cache"'));
      const stats = cacheLine ? (JSON.parse(cacheLine) as { codeCache: { mainAsBytes?: boolean; mainMapped?: boolean; fileMapped?: boolean; hits: number } }).codeCache : undefined;
      assert.equal(stats?.mainAsBytes, true, cacheLine ?? 'no code cache line at debug');
      assert.equal(stats?.mainMapped, true, cacheLine);
      assert.equal(stats?.fileMapped, true, cacheLine);
      assert.ok((stats?.hits ?? 0) >= 1, cacheLine);
    } finally {
      await d.powerOff().catch(() => undefined);
      await host.close();
    }
  });

  it('leaves the simulator out without it: a simulator board is refused with its reason', async () => {
    const without = await buildBundle({ root: REPO, outDir: join(work, 'nosim', 'bundle'), codeRoot: DIST, withSim: false });
    assert.ok(without.bytes < withSim.bytes, `${without.bytes} bytes without the simulator, ${withSim.bytes} with`);
    assert.match(readFileSync(without.file, 'utf8'), /require\("\.\.\/sim\/board-sim"\)/);
    const r = spawnSync(process.execPath, [without.loader, '--board', join(REPO, 'board-configs', 'sim.json'), '--journal-dir', join(work, 'nosim-journal')], { encoding: 'utf8', env: { ...process.env, NODE_PATH: NODE_MODULES, POS_CODE_CACHE: '0' }, timeout: 60_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /E-BRD-01.*needs the simulator, which this build does not carry/s);
  });
});
