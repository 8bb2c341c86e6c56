/**
 * What the terminal's start loads (issue 14 goal 6): loading boot/terminal-main and everything it
 * imports (what runs before main) must not load the parts idle does not need, which load on their
 * first use instead (common/lazy.ts): the recovery menu and its network test, diagnostics, the
 * Wi-Fi and SIM PIN menus, the OS network settings, TLS (node:tls and the client credentials) and
 * iconv-lite, node:child_process (and detect-libc, which loads it); and never the optional native
 * decoders the journal does not use (cbor-extract, msgpackr-extract). In a process of its own
 * (ts-node, as the tests run the sources), so that nothing this test process loaded counts; main
 * does not run (the module is not the main module).
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

const REPO = join(__dirname, '..', '..');
const DEFERRED = ['boot/recovery.ts', 'boot/recovery-menu.ts', 'boot/recovery-net.ts', 'boot/diagnostics.ts', 'boot/link-check.ts', 'boot/net-apply.ts', 'boot/wifi-menu.ts', 'boot/sim-pin.ts', 'runtime/host/tls-credentials.ts'];

interface Loaded { modules: string[]; builtins: string[] }

function loadedByStart(): Loaded {
  const script = `require('ts-node').register({ transpileOnly: true });
    require(${JSON.stringify(join(REPO, 'boot', 'terminal-main'))});
    process.stdout.write(JSON.stringify({ modules: Object.keys(require.cache), builtins: process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice(13)) }));`;
  const r = spawnSync(process.execPath, ['-e', script], { cwd: REPO, encoding: 'utf8', env: { ...process.env, POS_CODE_CACHE: '0' } });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Loaded;
}

describe('the terminal start loads only what idle needs', function () {
  this.timeout(120_000);

  it('deferredModulesAndTlsAreNotLoadedBeforeTheirFirstUse', () => {
    const loaded = loadedByStart();
    const rel = loaded.modules.map((m) => m.slice(REPO.length + 1));
    assert.ok(rel.includes('boot/terminal-app.ts') && rel.includes('boot/error-ring.ts'), 'the start loaded the terminal itself');
    assert.deepEqual(DEFERRED.filter((m) => rel.includes(m)), [], 'modules idle does not need');
    assert.deepEqual(loaded.builtins.filter((m) => m === 'tls' || m === '_tls_wrap'), [], 'node:tls');
    // No child process before idle: common/spawn.ts loads it on the first spawn, and lmdb-js's addon
    // lookup does not load detect-libc (common/libc.ts).
    assert.deepEqual(loaded.builtins.filter((m) => m === 'child_process'), [], 'node:child_process');
    assert.equal(rel.some((m) => m.includes('node_modules/detect-libc/')), false, 'detect-libc');
    assert.equal(rel.some((m) => m.includes('node_modules/iconv-lite/')), false, 'iconv-lite');
    // The optional native decoders of cbor-x and msgpackr (storage/cbor.ts, storage/lmdb-env.ts).
    assert.ok(rel.some((m) => m.includes('node_modules/cbor-x/')) && rel.some((m) => m.includes('node_modules/lmdb/')), 'the start loaded cbor-x and lmdb');
    assert.deepEqual(rel.filter((m) => /node_modules\/(cbor-extract|msgpackr-extract)\//.test(m)), [], 'cbor-extract and msgpackr-extract');
  });
});
