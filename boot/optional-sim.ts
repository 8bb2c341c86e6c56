/**
 * The simulator's modules for the parts of boot/ that need them only on a simulator board or in a
 * simulator command. Required on use, never at load: a release image built without --with-sim
 * keeps only the sim/ modules its entry points require at load (scripts/image/build-image.ts), so
 * a device's `pos` and terminal must start, and say what is missing, without the rest of sim/.
 */
import { PosError } from '../common/errors';

/**
 * Whether `e` is Node's "cannot find module" for `id` itself or for a sim/ module it requires (boot/
 * factory-station.ts is the simulated station: its simulator board goes with sim/). Any other
 * missing module is a broken build and is thrown as it is.
 */
function isMissing(e: unknown, id: string): boolean {
  const err = e as NodeJS.ErrnoException;
  if (err?.code !== 'MODULE_NOT_FOUND' || typeof err.message !== 'string') return false;
  const name = /Cannot find module '([^']+)'/.exec(err.message)?.[1];
  return name !== undefined && (name === id || /(^|\/)sim\//.test(name));
}

/**
 * The module `id` (relative to boot/), or undefined when this build has no simulator. `load`
 * requires it with a literal path (`() => require('../sim/board-sim')`) so that the bundle
 * (scripts/image/bundle.ts) carries it: a require by a variable is not bundled, and a compiled
 * copy of sim/ loaded beside the bundle would bring second copies of hal/ and common/ (whose
 * classes `instanceof` would not recognise).
 */
export function optionalSim<M>(id: string, load: () => unknown = () => require(id)): M | undefined {
  try {
    return load() as M;
  } catch (e) {
    if (isMissing(e, id)) return undefined;
    throw e;
  }
}

/** The module `id` (relative to boot/); a clear error when this build has no simulator. */
export function requireSim<M>(id: string, what: string, load?: () => unknown): M {
  const m = optionalSim<M>(id, load);
  if (m === undefined) throw new PosError('BRD_INVALID', `${what} needs the simulator, which this build does not carry (a release image built without --with-sim)`, { module: id });
  return m;
}
