import { strict as assert } from 'node:assert';
import { createPrivateKey, generateKeyPairSync, scryptSync } from 'node:crypto';
import { scryptParamsProblem } from './scrypt-params';

const MAXMEM_BYTES = 64 * 1024 * 1024;

describe('common/scrypt-params: parameters checked before node sees them', () => {
  it('whatNodeTakesIsTakenAndWhatItRefusesIsNamedFirst', () => {
    for (const [n, r, p] of [[2, 1, 1], [1 << 14, 8, 1], [1 << 15, 8, 1], [1 << 10, 16, 4]]) {
      assert.equal(scryptParamsProblem(n, r, p, MAXMEM_BYTES), undefined, `${n} ${r} ${p}`);
      assert.equal(scryptSync('x', 's', 8, { N: n, r, p, maxmem: MAXMEM_BYTES }).length, 8);
    }
    for (const [n, r, p] of [[1 << 16, 8, 1], [1000, 8, 1], [1, 8, 1], [1.5, 8, 1], [Number.NaN, 8, 1], [1 << 20, 16, 4]]) {
      const problem = scryptParamsProblem(n, r, p, MAXMEM_BYTES);
      assert.ok(problem, `${n} ${r} ${p} taken`);
      assert.throws(() => scryptSync('x', 's', 8, { N: n, r, p, maxmem: MAXMEM_BYTES }), `node took ${n} ${r} ${p}: the check refuses more than it must`);
    }
    // Stricter than node where node would fill in its default (0 is N 2^14, r 8, p 1 to node): a stored 0 is damage.
    for (const [n, r, p] of [[0, 8, 1], [1 << 14, 0, 1], [1 << 14, 8, 0]]) assert.ok(scryptParamsProblem(n, r, p, MAXMEM_BYTES), `${n} ${r} ${p}`);
  });

  it('nodesOwnRefusalBreaksTheNextCryptoCallWhichIsWhyTheCheckComesFirst', () => {
    // The reason for this module, kept as a test: when node fixes it, the note can go.
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' });
    assert.throws(() => scryptSync('x', 's', 8, { N: 1 << 20, r: 8, p: 1, maxmem: MAXMEM_BYTES }));
    let broken = false;
    try { createPrivateKey(pem); } catch { broken = true; }
    // Either way the next call works again (the error was taken off the queue by the failure).
    assert.equal(createPrivateKey(pem).asymmetricKeyType, 'ec');
    if (!broken) console.warn('    NOTE: this node no longer leaves scrypt\'s error queued (common/scrypt-params.ts can say so)');
  });
});
