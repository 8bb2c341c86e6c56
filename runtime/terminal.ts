/**
 * Wiring for the boot layer: opens the store from a journal and builds the engine and the
 * operator list. boot/ calls `openTerminal`; tests and the simulation call it with seeded parts.
 *
 *   const journal = await Journal.open({ dir, identity, clock });
 *   const t = openTerminal({ journal, host: new HostTransport({...}), config, deviceKey, random, clock });
 *   t.engine.sale(...), settle(t.engine, session), t.operators.login(...)
 */
import { Journal } from '../storage/journal';
import { Logger } from '../common/log';
import { DeviceKeyProvider, RandomBytes } from './device-key';
import { Operators, SCRYPT_N_DEFAULT } from './operators';
import { Store } from './store';
import type { TerminalState } from './terminal-state';
import { HostExchange, TerminalConfig, TerminalEngine } from './txn/engine';
import { Request } from './host/messages';
import type { AdjustableClock } from '../common/time';

export interface OpenTerminalOptions {
  readonly journal: Journal;
  readonly host: HostExchange;
  readonly config: TerminalConfig;
  readonly deviceKey: DeviceKeyProvider;
  readonly random: RandomBytes;
  readonly clock: () => number;
  /** The clock the host's time corrects (its `now` should be `clock`): see EngineDeps. */
  readonly clockControl?: AdjustableClock;
  readonly logger?: Logger;
  readonly scryptN?: number;
  readonly onSend?: (type: Request['type'], stan: number) => void;
  /** The state at an earlier record (the boot checkpoint's snapshot): only the records after it are replayed. */
  readonly from?: TerminalState;
}

export interface Terminal {
  readonly store: Store;
  readonly engine: TerminalEngine;
  readonly operators: Operators;
}

/** Replays the journal (InvariantError: recovery mode) and builds the engine over it. */
export function openTerminal(o: OpenTerminalOptions): Terminal {
  const store = Store.load(o.journal, o.from);
  const engine = new TerminalEngine({ store, host: o.host, config: o.config, deviceKey: o.deviceKey, random: o.random, clock: o.clock, clockControl: o.clockControl, logger: o.logger, onSend: o.onSend });
  return { store, engine, operators: new Operators(store, o.random, o.scryptN ?? SCRYPT_N_DEFAULT) };
}
