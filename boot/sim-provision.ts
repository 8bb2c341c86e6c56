/**
 * Identity and operators of a terminal at boot.
 *
 * Simulator board, first boot: the journal gets the terminal-identity record with the acquirer
 * simulator's test identities (TID 12345678, MID 123456789012345, the profile's test TMK,
 * testKeys: true) and the default operators, so that a newcomer can log in at once:
 *
 *   01 / 0000     cashier        (sales, balance, reprint)
 *   99 / 9999     supervisor     (void, refund, settlement, unlock)
 *   00 / 123456   administrator  (recovery menu, operators)
 *
 * (typed as 2 digits on the keypad; field 63 carries 3: 001, 099, 000.)
 *
 * Any other board: the identity must have been written by the factory station; test identities
 * or test keys are refused with E-KEY-03 (a test key on a real terminal would let anyone forge
 * its MACs).
 */
import type { Board } from '../hal/board';
import { PosError } from '../common/errors';
import { rec, RecordInput } from '../runtime/records';
import type { Terminal } from '../runtime/terminal';
import type { Journal } from '../storage/journal';
import { RecordType } from '../storage/record';
import { TEST_TERMINAL } from '../common/test-terminal';
import { DeviceKeyProvider, deviceKeyCheckRecord } from '../runtime/device-key';

/** The journal identity (serial) of the simulator board. */
export const SIM_IDENTITY = 'SIM-00000001';

export interface DefaultOperator {
  readonly typed: string;
  readonly number: string;
  readonly role: 'cashier' | 'supervisor' | 'administrator';
  readonly password: string;
}

/** Simulator board only. The administrator is created first (it needs no session). */
export const SIM_OPERATORS: readonly DefaultOperator[] = [
  { typed: '00', number: '000', role: 'administrator', password: '123456' },
  { typed: '01', number: '001', role: 'cashier', password: '0000' },
  { typed: '99', number: '099', role: 'supervisor', password: '9999' },
];

export interface Identity {
  readonly tid: string;
  readonly mid: string;
  readonly testKeys: boolean;
}

/** Identity records come first in a journal; only the first few records are read. */
const IDENTITY_SCAN_RECORDS_MAX = 16;

/** The terminal-identity record, read before the engine is built (its keys are sealed to the TID). */
export function identityOf(journal: Journal): Identity | undefined {
  let n = 0;
  for (const r of journal.records()) {
    if (r.type === RecordType.terminalIdentity) return { tid: String(r.payload.tid), mid: String(r.payload.mid), testKeys: r.payload.testKeys === true };
    if (++n >= IDENTITY_SCAN_RECORDS_MAX) break;
  }
  return undefined;
}

/**
 * Simulator: the records a new journal gets in the same commit as record 1 (Journal.open
 * `genesis`): the test identity and the device key's check value. Creating the journal and its
 * identity is then all-or-nothing: a power cut leaves neither or both (issue 13 item 5).
 */
export function simulatorGenesis(board: Board, identity: string, deviceKey?: DeviceKeyProvider): Array<{ type: RecordInput['type']; payload: RecordInput['payload'] }> {
  if (board.config.simulator !== true) throw new PosError('KEY_TEST_ON_REAL', `${board.file}: test identities are for the simulator board only`, { board: board.file });
  const r = rec.terminalIdentity({ serial: identity, tid: TEST_TERMINAL.tid, mid: TEST_TERMINAL.mid, board: board.config.board, locale: 'zh-CN', testKeys: true });
  return [{ type: r.type, payload: r.payload }, ...(deviceKey ? [deviceKeyCheckRecord(deviceKey.deviceKey(), identity)] : [])];
}

/**
 * Simulator: writes the test identity on first boot (a journal created before identities came
 * with record 1: see simulatorGenesis), with the device key's check value in the
 * same commit (checked at every later boot); returns it and the test TMK. Refused on a real board.
 */
export async function simulatorIdentity(board: Board, journal: Journal, deviceKey?: DeviceKeyProvider): Promise<{ identity: Identity; tmk: () => Buffer }> {
  if (board.config.simulator !== true) throw new PosError('KEY_TEST_ON_REAL', `${board.file}: test identities are for the simulator board only`, { board: board.file });
  let identity = identityOf(journal);
  if (!identity) {
    await journal.appendMany(simulatorGenesis(board, journal.identity, deviceKey));
    identity = { tid: TEST_TERMINAL.tid, mid: TEST_TERMINAL.mid, testKeys: true };
  }
  return { identity, tmk: () => Buffer.from(TEST_TERMINAL.tmk) };
}

/** Simulator: the default operators on first boot (the administrator first: it needs no session). */
export async function simulatorOperators(terminal: Terminal): Promise<void> {
  if (terminal.operators.list().length > 0) return;
  const [admin, ...rest] = SIM_OPERATORS;
  await terminal.operators.create(admin.number, admin.role, admin.password);
  const session = { operator: admin.number, role: admin.role };
  for (const op of rest) await terminal.operators.create(op.number, op.role, op.password, session);
}

/** A real board: the factory's identity, never a test one. */
export function realIdentity(board: Board, journal: Journal, tmk: (() => Buffer) | undefined): { identity: Identity; tmk: () => Buffer } {
  const identity = identityOf(journal);
  if (!identity) throw new PosError('STO_IDENTITY', `${board.file}: this terminal has no identity record: provision it at the factory station`, { board: board.file });
  if (identity.testKeys || identity.tid === TEST_TERMINAL.tid || identity.mid === TEST_TERMINAL.mid) {
    throw new PosError('KEY_TEST_ON_REAL', `${board.file}: test identity ${identity.tid} on a real board`, { board: board.file, tid: identity.tid });
  }
  return { identity, tmk: tmk ?? (() => { throw new PosError('KEY_MISSING', 'no terminal master key on this board: re-provision at the factory station'); }) };
}
