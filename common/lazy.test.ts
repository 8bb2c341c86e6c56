import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { lazy } from './lazy';

describe('common/lazy', () => {
  it('loadsOnTheFirstCallOnlyAndReturnsTheSameModuleAfter', () => {
    let loads = 0;
    const get = lazy(() => { loads++; return { n: loads }; });
    assert.equal(loads, 0, 'nothing loaded before the first use');
    assert.equal(get.ifLoaded(), undefined);
    assert.equal(loads, 0, 'ifLoaded loads nothing');
    const first = get();
    assert.equal(get.ifLoaded(), first);
    assert.equal(get(), first);
    assert.equal(loads, 1);
  });

  it('triesAgainAfterALoadThatThrew', () => {
    let tries = 0;
    const get = lazy(() => { tries++; if (tries === 1) throw new Error('not there yet'); return tries; });
    assert.throws(get, /not there yet/);
    assert.equal(get(), 2);
    assert.equal(get(), 2);
  });

  it('aRequireInsideItLoadsTheModuleOnlyWhenCalled', () => {
    // In a process of its own: whether node:child_process is loaded before and after the call.
    const lazyJs = join(__dirname, 'lazy');
    const script = `require('ts-node').register({ transpileOnly: true });
      const { lazy } = require(${JSON.stringify(lazyJs)});
      const loaded = () => process.moduleLoadList.some((m) => m === 'NativeModule zlib');
      const zlib = lazy(() => require('node:zlib'));
      const before = loaded(); zlib().gzipSync('x'); process.stdout.write(JSON.stringify([before, loaded()]));`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), [false, true]);
  });
});
