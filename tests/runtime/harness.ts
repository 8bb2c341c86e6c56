/**
 * A terminal core wired to a fresh journal and the acquirer simulator on loopback, with seeded
 * randomness and a settable clock; plus the reconciliation every money test ends with.
 */
import type { Logger } from '../../common/log';
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Journal } from '../../storage/journal';
import { walPath } from '../../storage/wal';
import { tempDir, removeDirAndAsides } from '../../storage/testing';
import { AcquirerSimulator, TEST_TERMINAL } from '../../sim/host/simulator';
import { HostTransport } from '../../runtime/host/transport';
import { CUP_PROFILE } from '../../runtime/host/fields';
import { fixedDeviceKey } from '../../runtime/device-key';
import { seededRandom } from '../../runtime/random';
import { openTerminal, Terminal } from '../../runtime/terminal';
import { HostExchange, TerminalConfig } from '../../runtime/txn/engine';
import { Session } from '../../runtime/operators';
import { batchTotals, statusOf } from '../../runtime/terminal-state';
import { cardFromTrack2, CardInput, EmvTxnType, readCard } from '../../runtime/txn/card';
import { ChipCard, TEST_CARDS } from '../../sim/test-cards';
import { ChipCardReader } from './fakes';
import { Request } from '../../runtime/host/messages';
import { IsoMessage, unpackFrame } from '../../runtime/host/packager';

export const IDENTITY = 'SIM-0001';
export const DEVICE_KEY = Buffer.alloc(32, 0x5a);
export const CASHIER: Session = { operator: '001', role: 'cashier' };
export const SUPERVISOR: Session = { operator: '002', role: 'supervisor' };
export const ADMIN: Session = { operator: '099', role: 'administrator' };
export const T0_MS = Date.UTC(2026, 10, 21, 2, 0, 0);

export function config(overrides: Partial<TerminalConfig> = {}): TerminalConfig {
  return { ids: { tid: TEST_TERMINAL.tid, mid: TEST_TERMINAL.mid }, profile: CUP_PROFILE, tmk: () => Buffer.from(TEST_TERMINAL.tmk), ...overrides };
}

export function magCard(): CardInput {
  return cardFromTrack2(TEST_CARDS.magDebit.track2, TEST_CARDS.magDebit.track3);
}

export function shortCard(): CardInput {
  return cardFromTrack2(TEST_CARDS.magShort.track2);
}

/**
 * A chip card (default the IC test card; TEST_CARDS.contactless for a tap) read for real through
 * runtime/txn/card.ts for a transaction of the rig's engine: GENERATE AC over the engine's
 * request, field 55 in the result.
 */
export function chipCardFor(r: Rig, amountFen: number, card: ChipCard = TEST_CARDS.icDebit, txnType: EmvTxnType = 'sale'): Promise<CardInput> {
  return readCard(new ChipCardReader(card), ['insert', 'tap'], 1000, r.terminal.engine.cardRequest(txnType, amountFen));
}

/** Records every request frame the rig's acquirer simulator receives, unpacked, from now on. */
export function captureFrames(r: Rig): IsoMessage[] {
  const seen: IsoMessage[] = [];
  const handle = r.sim.handle.bind(r.sim);
  r.sim.handle = (frame: Buffer) => { seen.push(unpackFrame(CUP_PROFILE, Buffer.from(frame)).message); return handle(frame); };
  return seen;
}

export interface Rig {
  readonly dir: string;
  journal: Journal;
  terminal: Terminal;
  readonly sim: AcquirerSimulator;
  readonly transport: HostTransport;
  readonly clock: { ms: number };
  readonly sent: Array<{ type: Request['type']; stan: number }>;
  /** Reopens the journal (as after a reboot) and rebuilds the terminal from it. */
  reboot(): Promise<void>;
  /**
   * A power cut, then a reboot: the journal reopens with only what was durable (every commit is
   * flushed before it resolves, so data.mdb and journal.wal as they are now; deferred records,
   * which a clean close would write, are lost).
   */
  powerCut(): Promise<void>;
  close(): Promise<void>;
}

export interface RigOptions {
  readonly responseTimeoutMs?: number;
  readonly dir?: string;
  readonly sim?: AcquirerSimulator;
  readonly config?: Partial<TerminalConfig>;
  readonly host?: (t: HostTransport) => HostExchange;
  /** The terminal's logger (default: none). */
  readonly logger?: Logger;
}

export async function rig(options: RigOptions = {}): Promise<Rig> {
  const dir = options.dir ?? tempDir('posrt-');
  const clock = { ms: T0_MS };
  const sim = options.sim ?? new AcquirerSimulator({ randomBytes: seededRandom(7), clock: () => clock.ms });
  if (!options.sim) await sim.listen(0);
  const transport = new HostTransport({ host: '127.0.0.1', port: sim.port, profile: CUP_PROFILE, connectTimeoutMs: 1000, responseTimeoutMs: options.responseTimeoutMs ?? 400 });
  const sent: Rig['sent'] = [];
  const build = async (): Promise<{ journal: Journal; terminal: Terminal }> => {
    const journal = await Journal.open({ dir, identity: IDENTITY, clock: () => clock.ms });
    const terminal = openTerminal({
      journal, host: options.host ? options.host(transport) : transport, config: config(options.config), deviceKey: fixedDeviceKey(DEVICE_KEY),
      random: seededRandom(11 + journal.lastSeq), clock: () => clock.ms, scryptN: 1 << 10, onSend: (type, stan) => sent.push({ type, stan }),
      ...(options.logger ? { logger: options.logger } : {}),
    });
    return { journal, terminal };
  };
  const first = await build();
  const r: Rig = {
    dir, journal: first.journal, terminal: first.terminal, sim, transport, clock, sent,
    async reboot() {
      const session = r.terminal.engine.lastSession;
      await r.journal.close();
      const next = await build();
      r.journal = next.journal;
      r.terminal = next.terminal;
      r.terminal.engine.lastSession = session;
    },
    async powerCut() {
      const session = r.terminal.engine.lastSession;
      // Every commit is flushed before it resolves, so the files as they are now are what the
      // disk holds: LMDB's and the write-ahead log's (a close would checkpoint the log).
      const durable = durableJournalFiles(dir);
      await r.journal.close();
      for (const [file, bytes] of durable) writeFileSync(file, bytes);
      const next = await build();
      r.journal = next.journal;
      r.terminal = next.terminal;
      r.terminal.engine.lastSession = session;
    },
    async close() {
      transport.close();
      await r.journal.close();
      if (!options.sim) await sim.close();
      if (!options.dir) removeDirAndAsides(dir);
    },
  };
  return r;
}

/** Operators 001 cashier, 002 supervisor, 099 administrator (passwords 1111, 2222, 9999). */
export async function withOperators(r: Rig): Promise<void> {
  const ops = r.terminal.operators;
  await ops.create('099', 'administrator', '9999');
  await ops.create('001', 'cashier', '1111', ADMIN);
  await ops.create('002', 'supervisor', '2222', ADMIN);
}

/**
 * The host's ledger and the terminal's journal agree: every approved, unreversed transaction of
 * the batch on either side is on the other with the same RRN and amount; nothing is charged
 * twice; the totals match.
 */
export function assertReconciled(r: Rig, batch = r.terminal.engine.state.batch): void {
  const s = r.terminal.engine.state;
  const host = r.sim.ledger.entries({ tid: TEST_TERMINAL.tid, batch }).filter((e) => e.status === 'approved');
  const mine = [...s.txns.values()].filter((t) => t.status === 'approved');
  for (const e of host) {
    const t = s.txns.get(e.stan);
    assert.ok(t, `host approved ${e.type} STAN ${e.stan} (${e.amountFen} fen) that the terminal does not have`);
    assert.equal(t.status, 'approved', `host approved STAN ${e.stan}, terminal says ${t.status}`);
    assert.equal(t.rrn, e.rrn);
    assert.equal(t.amountFen, e.amountFen);
  }
  for (const t of mine) {
    const e = host.find((h) => h.stan === t.stan);
    assert.ok(e, `terminal approved ${t.kind} STAN ${t.stan} that the host does not have as approved`);
  }
  assert.deepEqual(batchTotals(s), r.sim.ledger.totals(TEST_TERMINAL.tid, batch), 'totals differ');
  const rrns = host.map((e) => e.rrn);
  assert.equal(new Set(rrns).size, rrns.length, 'an RRN twice');
  void statusOf;
}

/** The journal's files as they are now (data.mdb, and journal.wal when the log exists), by path. */
export function durableJournalFiles(dir: string): Array<[string, Buffer]> {
  return [join(dir, 'data.mdb'), walPath(dir)].filter((f) => existsSync(f)).map((f) => [f, readFileSync(f)]);
}

/**
 * Every byte the journal keeps on disk, LMDB's file then the write-ahead log's: records live in
 * journal.wal until a checkpoint (storage/JOURNAL_FORMAT.md), so a scan of data.mdb alone misses them.
 */
export function journalDiskBytes(dir: string): Buffer {
  return Buffer.concat(durableJournalFiles(dir).map(([, b]) => b));
}
