/**
 * `assert` for the packages bundled into the terminal (scripts/image/bundle.ts resolves their
 * `require('assert')` here). sonic-boom, pino's destination, requires node:assert when it loads,
 * for one argument check; loading node:assert ran its AssertionError's colour set-up, which
 * creates process.stderr: 9 ms of the boot's CPU here, ~55 ms under the slow-CPU quota
 * (docs/BENCHMARKS.md, "Start"). The call form checks its value itself and loads the real module
 * only to throw its error; any other member (assert.strictEqual, ...) loads it on first use.
 */
type AssertModule = typeof import('node:assert');

let real: AssertModule | undefined;
const load = (): AssertModule => (real ??= require('node:assert') as AssertModule);

function assertLazy(value: unknown, message?: string | Error): void {
  if (value) return;
  const nodeAssert: AssertModule = load();
  nodeAssert(value, message);
}

export = new Proxy(assertLazy, {
  get: (target, prop) => (prop in target ? Reflect.get(target, prop) : Reflect.get(load(), prop)),
}) as unknown as AssertModule;
