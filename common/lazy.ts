/**
 * A module loaded on its first use instead of at start (issue 14 goal 6: start to idle on a slow
 * CPU). Idle does not need the recovery menu, diagnostics, TLS or the child-process helpers, and
 * every module run at start costs the boot its top-level code and its compile (docs/BENCHMARKS.md, "Start, keys and the password check").
 *
 *   const recoveryMenu = lazy(() => require('./recovery-menu') as typeof import('./recovery-menu'));
 *   ... new (recoveryMenu().RecoveryMenu)(...)
 *
 * The `require` is written at the call site with a literal path, so tsc and the bundler
 * (scripts/image/bundle.ts; esbuild wraps a required module in a function run on the first call)
 * see it and the module stays in the bundle and in a release image. Types come from
 * `import type`, which loads nothing. A load that throws is not remembered: the next call tries
 * again (a missing optional part is reported where it is used, each time).
 */
export type Lazy<T> = (() => T) & {
  /** The module if a call has loaded it, without loading it (e.g. an `instanceof` on every screen). */
  readonly ifLoaded: () => T | undefined;
};

export function lazy<T>(load: () => T): Lazy<T> {
  let loaded: { readonly value: T } | undefined;
  const get = (): T => {
    loaded ??= { value: load() };
    return loaded.value;
  };
  return Object.assign(get, { ifLoaded: (): T | undefined => loaded?.value });
}

/** node:child_process, for the modules the terminal loads at start that run a tool only later. */
export const childProcess = lazy(() => require('node:child_process') as typeof import('node:child_process'));
