/**
 * Operators: numbers (3 digits, field 63), roles, passwords as salted scrypt hashes in `operator`
 * journal records, failed attempts counted in the journal (a power cut does not reset the count),
 * lockout at `passwordAttemptsMax`, and permission checks by role.
 *
 * Roles are ranked: cashier < supervisor < administrator; a higher role may do everything a lower
 * one may. Void, refund and settlement need a supervisor; recovery and factory reset an
 * administrator (FIELD-FAULTS.md "permissions badly assigned").
 *
 * An administrator manages the operators on the terminal (Settings > Operators, 操作员管理): adds
 * one (number 01..99, a role, a new password typed twice), deletes one (never the one managing or
 * the one logged in, never the last administrator), resets a password, unlocks. A password chosen
 * on the terminal (added, changed, reset) is 4..12 digits and not trivially guessed (E-OPR-25);
 * the factory's and the simulator's first operators are checked for shape only.
 *
 * The recovery menu (the reset button at power-on) is the service technician's: the machine admits
 * only the service administrator, RECOVERY_OPERATOR (boot/README.md, "Who opens the recovery menu").
 */
import { timingSafeEqual } from 'node:crypto';
import { scryptKey } from './password-kdf';
import { PosError, invariant } from '../common/errors';
import { RandomBytes } from './device-key';
import { OperatorDeletedPayload, OperatorPayload, Role, rec } from './records';
import { Store } from './store';
import { OperatorRecord } from './terminal-state';

export const PASSWORD_ATTEMPTS_MAX = 5;
export const PASSWORD_CHARS_MIN = 4;
export const PASSWORD_CHARS_MAX = 12;
export const OPERATORS_MAX = 99;
/** Numbers an administrator may add on the terminal: 01..99 as typed (000 is the service administrator's). */
export const ADDED_NUMBER_MIN = 1;
export const ADDED_NUMBER_MAX = 99;
/** The service administrator (boot/service-admin.ts; on the simulator board its first administrator): the only one the recovery menu admits. */
export const RECOVERY_OPERATOR = '000';
export const SALT_BYTES = 16;
export const HASH_BYTES = 32;
/** scrypt cost: 2^14, a 16 MB table (runtime/password-kdf.ts); tests may pass a smaller one. */
export const SCRYPT_N_DEFAULT = 1 << 14;

export type Permission =
  | 'sale' | 'balance' | 'reprint' | 'signOn' | 'signOff'
  | 'void' | 'refund' | 'settlement' | 'unlockOperator'
  | 'recovery' | 'factoryReset' | 'manageOperators';

const RANK: Readonly<Record<Role, number>> = { cashier: 0, supervisor: 1, administrator: 2 };

/**
 * An operator number as a person types it (the keypad and the README say "01", "99", "00"; a
 * shell user may type "1" or "001") as the 3 digits the journal and field 63 hold; undefined when
 * it is not 1 to 3 digits. Every entry point (keypad, `pos ... --operator N`) goes through this.
 */
export function operatorNumber(typed: string): string | undefined {
  return /^\d{1,3}$/.test(typed) ? typed.padStart(3, '0') : undefined;
}

/** The number as the person typed it at login, for screens and receipts: "001" prints as "01". */
export function operatorShown(number: string): string {
  return /^0\d\d$/.test(number) ? number.slice(1) : number;
}

export const PERMISSION_ROLE: Readonly<Record<Permission, Role>> = {
  sale: 'cashier', balance: 'cashier', reprint: 'cashier', signOn: 'cashier', signOff: 'cashier',
  void: 'supervisor', refund: 'supervisor', settlement: 'supervisor', unlockOperator: 'supervisor',
  recovery: 'administrator', factoryReset: 'administrator', manageOperators: 'administrator',
};

export interface Session {
  readonly operator: string;
  readonly role: Role;
}

export function allowed(role: Role, permission: Permission): boolean {
  return RANK[role] >= RANK[PERMISSION_ROLE[permission]];
}

/** Throws OPR_PERMISSION naming the role needed. */
export function requirePermission(session: Session | undefined, permission: Permission): void {
  if (session && allowed(session.role, permission)) return;
  const needed = PERMISSION_ROLE[permission];
  throw new PosError('OPR_PERMISSION', `${permission} needs a ${needed} (operator ${session?.operator ?? 'none'} is ${session?.role ?? 'not logged in'})`, { permission, needed });
}

/** scrypt(password, salt, N, r 8, p 1): runtime/password-kdf.ts (on a table touched ahead when the screen asked for it). */
export function hashPassword(password: string, salt: Buffer, n: number): Promise<Buffer> {
  return scryptKey(password, salt, HASH_BYTES, n);
}

/** A password's shape (4..12 digits): OPR_INPUT otherwise. Also the factory's check of the merchant's first administrator. */
export function checkPassword(password: string): void {
  if (!/^\d+$/.test(password) || password.length < PASSWORD_CHARS_MIN || password.length > PASSWORD_CHARS_MAX) {
    throw new PosError('OPR_INPUT', `a password is ${PASSWORD_CHARS_MIN}..${PASSWORD_CHARS_MAX} digits`);
  }
}

/**
 * Trivially guessed: one digit repeated (0000, 888888) or a run up or down by one (1234, 98765),
 * the first guesses of anyone holding the terminal.
 */
export function passwordWeak(password: string): boolean {
  const d = [...password].map(Number);
  const steps = new Set(d.slice(1).map((x, i) => x - d[i]));
  return steps.size === 1 && [0, 1, -1].includes([...steps][0]);
}

/** A new password chosen on the terminal: the shape first (E-OPR-13), the second typing (E-OPR-15), then not weak (E-OPR-25). */
export function checkNewPassword(password: string, repeated: string): void {
  if (!/^\d+$/.test(password) || password.length < PASSWORD_CHARS_MIN || password.length > PASSWORD_CHARS_MAX) {
    throw new PosError('OPR_PASSWORD_LENGTH', `a password is ${PASSWORD_CHARS_MIN}..${PASSWORD_CHARS_MAX} digits`);
  }
  if (password !== repeated) throw new PosError('OPR_PASSWORD_MISMATCH', 'the new password was typed differently the second time');
  if (passwordWeak(password)) throw new PosError('OPR_PASSWORD_WEAK', 'the new password is one digit repeated or a run of digits');
}

/** The recovery menu is the service technician's: the service administrator only (merchants' administrators are refused). */
export function mayOpenRecovery(session: Session): boolean {
  return session.operator === RECOVERY_OPERATOR && allowed(session.role, 'recovery');
}

export class Operators {
  constructor(private readonly store: Store, private readonly random: RandomBytes, private readonly scryptN = SCRYPT_N_DEFAULT) {}

  list(): OperatorRecord[] {
    return [...this.store.state.operators.values()];
  }

  get(number: string): OperatorRecord | undefined {
    return this.store.state.operators.get(number);
  }

  /** Creates (or resets) an operator. The first operator of a new terminal needs no session. */
  async create(number: string, role: Role, password: string, by?: Session): Promise<void> {
    if (this.store.state.operators.size > 0) requirePermission(by, 'manageOperators');
    invariant(this.store.state.operators.size < OPERATORS_MAX || this.store.state.operators.has(number), 'too many operators');
    if (!/^\d{3}$/.test(number)) throw new PosError('OPR_INPUT', 'an operator number is 3 digits');
    checkPassword(password);
    const salt = this.random(SALT_BYTES);
    const passwordHash = await hashPassword(password, salt, this.scryptN);
    await this.write({ number, role, passwordHash, salt, scryptN: this.scryptN, failedAttempts: 0, locked: false, event: 'created' });
  }

  /**
   * Checks a password. Wrong: the attempt is journaled before the answer (a power cut cannot
   * give an attacker free tries) and OPR_PASSWORD says how many are left; the last one locks.
   */
  async login(number: string, password: string): Promise<Session> {
    const op = this.get(number);
    if (!op) throw new PosError('OPR_UNKNOWN', `operator ${number} does not exist`, { operator: number });
    if (op.locked) throw new PosError('OPR_LOCKED', `operator ${number} is locked`, { operator: number });
    const hash = await hashPassword(password, op.salt, op.scryptN);
    if (timingSafeEqual(hash, op.passwordHash)) {
      if (op.failedAttempts > 0) await this.write({ ...op, failedAttempts: 0, locked: false, event: 'login-ok' });
      return { operator: number, role: op.role };
    }
    const failedAttempts = op.failedAttempts + 1;
    const locked = failedAttempts >= PASSWORD_ATTEMPTS_MAX;
    await this.write({ ...op, failedAttempts, locked, event: locked ? 'locked' : 'login-failed' });
    if (locked) throw new PosError('OPR_LOCKED', `operator ${number} locked after ${failedAttempts} wrong passwords`, { operator: number, attemptsLeft: 0 });
    throw new PosError('OPR_PASSWORD', `wrong password for operator ${number}`, { operator: number, attemptsLeft: PASSWORD_ATTEMPTS_MAX - failedAttempts });
  }

  /**
   * An operator changes their own password: the new one must differ from the old one, be 4..12
   * digits, typed the same twice and not weak (checked first: no hashing for a refused one); then the
   * old password is checked like a login (a wrong one is counted and journaled, and can lock).
   * The change is an `operator` record with event 'password-changed' (a new salt and hash);
   * nothing of either password is logged.
   */
  async changePassword(number: string, oldPassword: string, newPassword: string, repeated: string): Promise<void> {
    if (newPassword === oldPassword) throw new PosError('OPR_PASSWORD_SAME', `operator ${number}: the new password is the old one`, { operator: number });
    checkNewPassword(newPassword, repeated);
    await this.login(number, oldPassword);
    const op = this.get(number);
    invariant(op !== undefined, 'operator vanished during a password change', { operator: number });
    await this.writePassword(op, newPassword, 'password-changed');
  }

  /**
   * An administrator sets another operator's password (a forgotten one): it also unlocks them.
   * Journaled as 'password-reset' with the administrator's number.
   */
  async resetPassword(number: string, newPassword: string, repeated: string, by: Session): Promise<void> {
    requirePermission(by, 'manageOperators');
    const op = this.get(number);
    if (!op) throw new PosError('OPR_UNKNOWN', `operator ${number} does not exist`, { operator: number });
    checkNewPassword(newPassword, repeated);
    await this.writePassword(op, newPassword, 'password-reset', by.operator);
  }

  private async writePassword(op: OperatorRecord, password: string, event: 'password-changed' | 'password-reset', by?: string): Promise<void> {
    const salt = this.random(SALT_BYTES);
    const passwordHash = await hashPassword(password, salt, this.scryptN);
    await this.write({ number: op.number, role: op.role, passwordHash, salt, scryptN: this.scryptN, failedAttempts: 0, locked: false, event, ...(by ? { by } : {}) });
  }

  /**
   * An administrator adds an operator (Settings > Operators > Add): a number 01..99 not in use, a
   * role, a new password typed twice. Journaled as 'created' with the administrator's number; the
   * password only as its salted hash, as the login checks it.
   */
  async add(number: string, role: Role, password: string, repeated: string, by: Session): Promise<void> {
    requirePermission(by, 'manageOperators');
    const n = /^\d{3}$/.test(number) ? Number(number) : NaN;
    if (!(n >= ADDED_NUMBER_MIN && n <= ADDED_NUMBER_MAX)) throw new PosError('OPR_NUMBER_RANGE', `operator ${number}: an operator added on the terminal is 001..099`, { operator: number });
    if (this.get(number)) throw new PosError('OPR_NUMBER_TAKEN', `operator ${number} already exists`, { operator: number });
    if (this.store.state.operators.size >= OPERATORS_MAX) throw new PosError('OPR_OPERATORS_FULL', `${OPERATORS_MAX} operators already`, { count: this.store.state.operators.size });
    checkNewPassword(password, repeated);
    const salt = this.random(SALT_BYTES);
    const passwordHash = await hashPassword(password, salt, this.scryptN);
    // The hash took a while: another add of the same number may have been written meanwhile.
    if (this.get(number)) throw new PosError('OPR_NUMBER_TAKEN', `operator ${number} already exists`, { operator: number });
    await this.write({ number, role, passwordHash, salt, scryptN: this.scryptN, failedAttempts: 0, locked: false, event: 'created', by: by.operator });
  }

  /**
   * An administrator deletes an operator (Settings > Operators > Delete). Refused: the one doing it
   * or anyone in `inUse` (the operator logged in), E-OPR-26; the last administrator, E-OPR-27.
   */
  async remove(number: string, by: Session, inUse: readonly string[] = []): Promise<void> {
    requirePermission(by, 'manageOperators');
    const op = this.get(number);
    if (!op) throw new PosError('OPR_UNKNOWN', `operator ${number} does not exist`, { operator: number });
    if (number === by.operator || inUse.includes(number)) throw new PosError('OPR_DELETE_IN_USE', `operator ${number} is in use (${number === by.operator ? 'the administrator deleting' : 'logged in'})`, { operator: number });
    const admins = this.list().filter((o) => o.role === 'administrator').length;
    if (op.role === 'administrator' && admins <= 1) throw new PosError('OPR_LAST_ADMIN', `operator ${number} is the last administrator`, { operator: number });
    const p: OperatorDeletedPayload = { number, role: op.role, event: 'deleted', by: by.operator };
    await this.store.commit([rec.operatorDeleted(p)], { reserve: true });
    invariant(this.get(number) === undefined, 'operator still there after its deletion', { operator: number });
  }

  async unlock(number: string, by: Session): Promise<void> {
    requirePermission(by, 'unlockOperator');
    const op = this.get(number);
    if (!op) throw new PosError('OPR_UNKNOWN', `operator ${number} does not exist`, { operator: number });
    // A supervisor may not unlock an administrator.
    if (RANK[op.role] > RANK[by.role]) requirePermission(by, 'manageOperators');
    await this.write({ ...op, failedAttempts: 0, locked: false, event: 'unlocked', by: by.operator });
  }

  private write(p: OperatorPayload): Promise<void> {
    return this.store.commit([rec.operator(p)], { reserve: true });
  }
}
