import { strict as assert } from 'node:assert';
import { AssertionError } from 'node:assert';
import assertLazyModule = require('./assert-lazy');

const assertLazy: typeof import('node:assert') = assertLazyModule;

describe('common/assert-lazy: the bundle\'s assert for sonic-boom and thread-stream', () => {
  it('passesATruthyValueAndThrowsNodesAssertionErrorWithTheMessageForAFalsyOne', () => {
    assertLazy(1, 'not thrown');
    assert.throws(() => assertLazy(typeof 'x' === 'number', 'sonic.fd must be a number'), (e: unknown) => e instanceof AssertionError && e.message === 'sonic.fd must be a number');
    const own = new RangeError('own error');
    assert.throws(() => assertLazy(0, own), (e: unknown) => e === own);
  });

  it('everyOtherMemberIsNodesOwn', () => {
    assertLazy.strictEqual(2, 2);
    assert.throws(() => assertLazy.strictEqual(1, 2), AssertionError);
    assert.equal(assertLazy.AssertionError, AssertionError);
    assert.throws(() => assertLazy.ok(false), AssertionError);
  });
});
