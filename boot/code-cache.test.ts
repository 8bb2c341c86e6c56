import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { codeCacheFile, readCodeCache, writeCodeCache } from './code-cache';
import { removeDir, tempDir } from '../storage/testing';
import { workerScriptFor } from '../common/spawn';

/** boot/code-cache as a child loads it: dist/'s JavaScript when current, else the source under ts-node (common/spawn.ts). */
const CODE_CACHE_MODULE = workerScriptFor(join(__dirname, 'code-cache'));

/**
 * Runs a fresh node process that installs the cache over `dir`, then requires `dir/mod.js` and
 * prints what it exported beside the cache's figures once the cache had its chance to be written:
 * at the hold's end (the terminal never at idle), or, with `idle`, once the process told it the
 * terminal reached idle (after running `beforeIdle`, the code a login would run).
 */
function bootOnce(dir: string, main?: string, modulesRoot?: string, o: { idle?: boolean; beforeIdle?: string; env?: NodeJS.ProcessEnv } = {}): { value: unknown; hits: number; misses: number; rejected: number; written?: number; writtenAtIdle?: boolean; mainAsBytes?: boolean; mainMapped?: boolean; fileMapped?: boolean; resolveHits: number; resolveMisses: number } {
  const script = `
    const { installCodeCache, installedCodeCacheControl } = require(${JSON.stringify(CODE_CACHE_MODULE.file)});
    const stats = installCodeCache({ dir: ${JSON.stringify(join(dir, 'cache'))}, holdMsMax: ${o.idle ? 60_000 : 1}, writeAfterIdleMs: 1, main: ${JSON.stringify(main)}, modulesRoot: ${JSON.stringify(modulesRoot)} });
    const value = require(${JSON.stringify(join(dir, 'mod.js'))});
    ${o.beforeIdle ?? ''}
    if (${o.idle === true}) { const c = installedCodeCacheControl(); c.state('login'); c.state('idle'); }
    setTimeout(() => process.stdout.write(JSON.stringify({ value, ...stats })), 100);
  `;
  const r = spawnSync(process.execPath, [...CODE_CACHE_MODULE.execArgv, '-e', script], { encoding: 'utf8', env: { ...process.env, POS_CODE_CACHE: '1', ...o.env } });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as ReturnType<typeof bootOnce>;
}

describe('boot/code-cache: V8 code cache for the terminal process', () => {
  let dir: string;
  beforeEach(() => { dir = tempDir('code-cache-'); });
  afterEach(() => removeDir(dir));

  it('the first boot compiles and writes the cache, the next runs from it with the same result, changed code is compiled again', () => {
    writeFileSync(join(dir, 'helper.js'), 'module.exports = (x) => x * 2;\n');
    writeFileSync(join(dir, 'mod.js'), "const double = require('./helper');\nmodule.exports = { n: double(21), file: __filename, resolved: require.resolve('./helper') };\n");
    const first = bootOnce(dir);
    assert.deepEqual(first.value, { n: 42, file: join(dir, 'mod.js'), resolved: join(dir, 'helper.js') });
    assert.ok(first.misses >= 2 && first.hits === 0, JSON.stringify(first));
    assert.ok((first.written ?? 0) >= 2, 'the cache was written');

    const second = bootOnce(dir);
    assert.deepEqual(second.value, first.value);
    assert.equal(second.misses, 0, JSON.stringify(second));
    assert.equal(second.rejected, 0);
    assert.ok(second.hits >= 2);
    assert.equal(second.written, undefined, 'nothing new: not written again');

    writeFileSync(join(dir, 'helper.js'), 'module.exports = (x) => x * 3;\n');
    const third = bootOnce(dir);
    assert.equal((third.value as { n: number }).n, 63, 'the changed module runs its new code, not the cached one');
    assert.equal(third.misses, 1);
  });

  it('a torn or foreign cache file is an empty cache, never an error', () => {
    const file = codeCacheFile(join(dir, 'cache'));
    writeCodeCache(file, new Map([['a', Buffer.from('xyz')], ['b', Buffer.alloc(0)]]));
    assert.deepEqual([...readCodeCache(file)].map(([k, v]) => [k, v.toString()]), [['a', 'xyz'], ['b', '']]);
    const whole = readFileSync(file);
    writeFileSync(file, whole.subarray(0, whole.length - 5));
    assert.equal(readCodeCache(file).size, 0);
    writeFileSync(file, Buffer.from('not a cache'));
    assert.equal(readCodeCache(file).size, 0);
    assert.equal(readCodeCache(join(dir, 'absent.bin')).size, 0);
  });

  it('anEntryWithFlippedBitsIsLeftOutBeforeV8SeesItAndTheBootRunsTheRightCodeThenRewritesTheFile', () => {
    writeFileSync(join(dir, 'helper.js'), `module.exports = (x) => x * 2 + ${JSON.stringify('k'.repeat(400))}.length;\n`);
    writeFileSync(join(dir, 'mod.js'), "const f = require('./helper');\nmodule.exports = { n: f(21) };\n");
    const first = bootOnce(dir);
    assert.deepEqual(first.value, { n: 442 });
    const file = codeCacheFile(join(dir, 'cache'));
    const whole = readFileSync(file);
    // Flash wear: bits flipped inside the entries' data (past the header and the first key).
    for (const at of [200, 260, whole.length - 40]) whole[at] ^= 0x5a;
    writeFileSync(file, whole);
    const counts = { damaged: 0 };
    const left = readCodeCache(file, counts);
    assert.ok(counts.damaged >= 1 && left.size + counts.damaged >= 2, `damaged ${counts.damaged}, kept ${left.size}`);
    const second = bootOnce(dir) as ReturnType<typeof bootOnce> & { damaged: number };
    assert.deepEqual(second.value, { n: 442 }, 'the damaged module compiled from source');
    assert.ok(second.damaged >= 1 && (second.written ?? 0) >= 2, JSON.stringify(second));
    const third = bootOnce(dir) as ReturnType<typeof bootOnce> & { damaged: number };
    assert.equal(third.damaged, 0, 'the rewritten file is whole');
    assert.equal(third.misses, 0);
  });

  it('theMainBundleLoadsMappedAndHitsTheCacheNextBootWhetherMappedOrReadWhileANonAsciiMainLoadsAsNodeLoadsIt', () => {
    const main = join(dir, 'mod.js');
    writeFileSync(join(dir, 'helper.js'), 'module.exports = (x) => x * 2;\n');
    writeFileSync(main, "const double = require('./helper');\nmodule.exports = { n: double(21), file: __filename, dir: __dirname, s: '\\u00a5', main: require.main === module };\n");
    const first = bootOnce(dir, main);
    assert.deepEqual(first.value, { n: 42, file: main, dir, s: '\u00a5', main: false });
    assert.equal(first.misses, 2, JSON.stringify(first));
    assert.equal(first.mainMapped, true, 'native/mapped_file.c is built by npm install: the main source is mapped');
    assert.equal(first.fileMapped, undefined, 'no cache file yet');
    const second = bootOnce(dir, main);
    assert.deepEqual(second.value, first.value);
    assert.equal(second.hits, 2, 'both the main file (mapped) and the helper from the cache');
    assert.equal(second.misses, 0, JSON.stringify(second));
    assert.equal(second.fileMapped, true, 'the cache file mapped');
    // Read instead of mapped (no addon): the same key, so the same entry.
    const read = bootOnce(dir, main, undefined, { env: { POS_MAPPED_FILE: '0' } });
    assert.deepEqual(read.value, first.value);
    assert.equal(read.mainAsBytes, true);
    assert.equal(read.mainMapped, undefined);
    assert.equal(read.fileMapped, undefined);
    assert.deepEqual([read.hits, read.misses], [2, 0], JSON.stringify(read));
    // Same length, one byte changed: the key is the bytes' digest, so the new code runs.
    writeFileSync(main, readFileSync(main, 'latin1').replace('double(21)', 'double(22)'));
    assert.equal((bootOnce(dir, main).value as { n: number }).n, 44);
    // A main file with non-ASCII bytes (UTF-8) goes through Node's own reading and decodes right.
    writeFileSync(main, "module.exports = { s: '\u5143\u00a5', n: 1 };\n");
    const utf8 = bootOnce(dir, main);
    assert.deepEqual(utf8.value, { s: '\u5143\u00a5', n: 1 });
    assert.equal(utf8.mainAsBytes, undefined, 'not ASCII: read by Node');
    assert.equal(utf8.mainMapped, undefined, 'not ASCII: not mapped');
    assert.deepEqual(bootOnce(dir, main).value, { s: '\u5143\u00a5', n: 1 });
  });

  it('theLastBootsResolutionsOfPackagesAreReusedWhileNodeModulesIsUnchangedAndResolvedAgainWhenItChangesOrTheFileIsGone', () => {
    // A package with an exports map (the costly kind) and a relative require inside it, under a root of its own.
    const pkg = join(dir, 'node_modules', 'pkg');
    mkdirSync(join(pkg, 'lib'), { recursive: true });
    writeFileSync(join(dir, 'node_modules', '.package-lock.json'), '{"v":1}');
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'pkg', exports: './lib/a.js' }));
    writeFileSync(join(pkg, 'lib', 'a.js'), "module.exports = 'a' + require('./c');\n");
    writeFileSync(join(pkg, 'lib', 'b.js'), "module.exports = 'b' + require('./c');\n");
    writeFileSync(join(pkg, 'lib', 'c.js'), 'module.exports = 1;\n');
    writeFileSync(join(dir, 'helper.js'), 'module.exports = 2;\n');
    writeFileSync(join(dir, 'mod.js'), "module.exports = { pkg: require('pkg'), helper: require('./helper') };\n");
    const first = bootOnce(dir, undefined, dir);
    assert.deepEqual(first.value, { pkg: 'a1', helper: 2 });
    assert.equal(first.resolveMisses, 2, `pkg and ./c in it; ./helper is not in node_modules: ${JSON.stringify(first)}`);
    assert.equal(first.resolveHits, 0);
    const second = bootOnce(dir, undefined, dir);
    assert.deepEqual(second.value, first.value);
    assert.equal(second.resolveHits, 2, JSON.stringify(second));
    assert.equal(second.resolveMisses, 0);
    assert.equal(second.written, undefined, 'nothing new: not written again');
    // npm changed node_modules (its hidden lock file with it): the exports now name b.js, a.js is
    // still there, and the memo must not answer with it.
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'pkg', exports: './lib/b.js' }));
    writeFileSync(join(dir, 'node_modules', '.package-lock.json'), '{"v":2}');
    const third = bootOnce(dir, undefined, dir);
    assert.deepEqual(third.value, { pkg: 'b1', helper: 2 });
    assert.equal(third.resolveHits, 0, 'another node_modules: nothing reused');
    assert.ok((third.written ?? 0) > 0);
    assert.equal(bootOnce(dir, undefined, dir).resolveHits, 2);
    // A file the memo names is gone (the fingerprint unchanged): resolved afresh, not an error.
    renameSync(join(pkg, 'lib', 'c.js'), join(pkg, 'lib', 'c.cjs'));
    mkdirSync(join(pkg, 'lib', 'c'));
    writeFileSync(join(pkg, 'lib', 'c', 'index.js'), 'module.exports = 3;\n');
    const moved = bootOnce(dir, undefined, dir);
    assert.deepEqual(moved.value, { pkg: 'b3', helper: 2 });
    assert.equal(moved.resolveMisses, 1, JSON.stringify(moved));
  });
  it('isWrittenAtTheFirstIdleWithTheFunctionsTheLoginRanAndRewrittenAtIdleWhenTheLastFileWasWrittenBeforeAnyIdle', () => {
    // A function the boot does not run (the login's code): compiled lazily at its first call.
    const body = Array.from({ length: 60 }, (_, i) => `  s += (x * ${i + 1}) % 7;`).join('\n');
    writeFileSync(join(dir, 'mod.js'), `module.exports = { login(x) { let s = 0;\n${body}\n  return s; } };\n`);
    const entryBytes = (): number => [...readCodeCache(codeCacheFile(join(dir, 'cache')))].filter(([k]) => !k.startsWith('\0')).reduce((n, [, v]) => n + v.length, 0);
    // Never at idle (recovery mode, the login screen left alone): written at the hold's end, without the login's code.
    const notIdle = bootOnce(dir);
    assert.ok((notIdle.written ?? 0) >= 1 && notIdle.writtenAtIdle === undefined, JSON.stringify(notIdle));
    const withoutLogin = entryBytes();
    // The next boot misses nothing, but the file was written before any idle: rewritten at idle,
    // now holding the function the login ran.
    const atIdle = bootOnce(dir, undefined, undefined, { idle: true, beforeIdle: 'value.login(3);' });
    assert.equal(atIdle.misses, 0, JSON.stringify(atIdle));
    assert.equal(atIdle.writtenAtIdle, true, JSON.stringify(atIdle));
    const withLogin = entryBytes();
    assert.ok(withLogin > withoutLogin, `the login's function in the cache: ${withLogin} bytes against ${withoutLogin}`);
    // A boot of a file written at idle, nothing missing: not written again, at idle or at the hold's end.
    const written = statSync(codeCacheFile(join(dir, 'cache'))).mtimeMs;
    const again = bootOnce(dir, undefined, undefined, { idle: true, beforeIdle: 'value.login(3);' });
    assert.equal(again.written, undefined, JSON.stringify(again));
    assert.equal(bootOnce(dir).written, undefined);
    assert.equal(statSync(codeCacheFile(join(dir, 'cache'))).mtimeMs, written);
  });

  it('letsGoOfItsBytesAtTheFirstIdleOrAtTheHoldsEndAndLeavingIdleBeforeTheWriteWaitsForTheNextIdle', () => {
    writeFileSync(join(dir, 'mod.js'), 'module.exports = 1;\n');
    const script = `
      const { installCodeCache, installedCodeCacheControl } = require(${JSON.stringify(CODE_CACHE_MODULE.file)});
      const stats = installCodeCache({ dir: ${JSON.stringify(join(dir, 'cache'))}, holdMsMax: 60000, writeAfterIdleMs: 30 });
      require(${JSON.stringify(join(dir, 'mod.js'))});
      const c = installedCodeCacheControl();
      const seen = [c.held];
      c.state('idle'); c.state('sale.amount');
      setTimeout(() => { seen.push(c.held, stats.written === undefined); c.state('idle'); c.state('idle');
        setTimeout(() => { seen.push(c.held, stats.writtenAtIdle); process.stdout.write(JSON.stringify(seen)); }, 80);
      }, 80);
    `;
    const r = spawnSync(process.execPath, [...CODE_CACHE_MODULE.execArgv, '-e', script], { encoding: 'utf8', env: { ...process.env, POS_CODE_CACHE: '1' } });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), [true, true, true, false, true], 'held until idle lasted writeAfterIdleMs; a stay cut short wrote nothing');
  });
});
