/**
 * The simulated operator (and customer, and service technician): looks at what the screen shows
 * (the machine's view) and picks the next key presses, drawn from the seed. It knows only what a
 * person at the counter knows: the screen, the receipts' trace numbers (from the terminal's own
 * list), the passwords.
 */
import { MachineEvent, MachineView } from '../runtime/machine';
import { Terminal } from '../runtime/terminal';
import { PASSWORD_ATTEMPTS_MAX } from '../runtime/operators';
import { Rng } from './simulate-world';
import { Presentation, SimCardReader } from './simulate-devices';
import { SIM_PIN } from './simulate-invariants';

export const OPERATORS = [
  // 000, as the simulator board's first administrator: the recovery menu admits only the service administrator.
  { number: '000', role: 'administrator' as const, password: '9999' },
  { number: '001', role: 'cashier' as const, password: '1111' },
  { number: '002', role: 'supervisor' as const, password: '2222' },
];
const WRONG_PIN = '864200';
/** Amounts stay below the simulated PIN's value so the PIN never appears innocently. */
export const AMOUNT_FEN_MAX_SIM = 499_999;

export type OperatorKind = 'login' | 'login-wrong' | 'sale' | 'void' | 'refund' | 'balance' | 'reprint' | 'settle' | 'sign-off' | 'logout' | 'recovery-login' | 'recovery-export'
  | 'pre-auth' | 'completion' | 'pre-auth-void' | 'completion-void' | 'qr' | 'qr-void' | 'qr-refund' | 'other';

export type Action =
  | { readonly kind: 'events'; readonly events: MachineEvent[]; readonly label: string; readonly op?: OperatorKind; readonly wrongPin?: boolean; readonly fixPrinter?: boolean }
  | { readonly kind: 'service'; readonly what: 'fix-storage' | 'repair-journal' | 'charge' | 'unlock'; readonly label: string };

export interface OperatorRates {
  readonly wrongPassword: number;
  readonly wrongPin: number;
  readonly garbledReader: number;
}

export interface OperatorContext {
  readonly rng: Rng;
  readonly view: MachineView;
  readonly terminal: Terminal | undefined;
  readonly reader: SimCardReader;
  readonly closing: boolean;
  readonly rates: OperatorRates;
  /** Settlement attempts made today (the operator gives up for the day after a few). */
  readonly settleTries: number;
  /** Log in to recovery mode through the state machine (reproduces finding 1). */
  readonly recoveryViaMachine?: boolean;
  lastSale?: { amountFen: number };
}

const TRADING_WEIGHTS = {
  sale: 60, void: 8, refund: 6, balance: 6, reprint: 6, settle: 1, logout: 2, signOff: 1,
  // Version 2 (issue 10): the pre-authorization family and QR payments.
  preAuth: 4, completion: 3, preAuthVoid: 1, completionVoid: 1, qr: 6, qrVoid: 1, qrRefund: 1,
} as const;
/**
 * Payment codes the simulated customers show: the acquirer simulator pays these at once (its rule:
 * not starting 99, not ending in a decline code); one in ten starts 99 and waits for a query.
 */
const QR_CODES = ['134512345678901234', '281234567890123456', '622012345678901234', '991234567890123456'] as const;
export const SETTLE_TRIES_MAX = 6;

function ev(label: string, op: OperatorKind | undefined, ...events: MachineEvent[]): Action {
  return { kind: 'events', events, label, op };
}

function presentation(c: OperatorContext): Presentation {
  const how = c.rng.weighted({ swipe: 35, insert: 30, tap: 25, keyed: 10 });
  if (how === 'swipe' && c.rng.chance(c.rates.garbledReader)) return 'garbled-swipe';
  if ((how === 'insert' || how === 'tap') && c.rng.chance(c.rates.garbledReader)) return 'garbled-chip';
  return how;
}

function present(c: OperatorContext, allowKeyed = true): void {
  let how = presentation(c);
  if (!allowKeyed && how === 'keyed') how = 'swipe';
  c.reader.next = how;
  c.reader.presentAfterMs = c.rng.range(1_500, 9_000);
}

function amount(c: OperatorContext): number {
  if (c.lastSale && c.rng.chance(0.05)) return c.lastSale.amountFen; // same card, same amount: the duplicate guard
  if (c.rng.chance(0.08)) return c.rng.range(100_001, AMOUNT_FEN_MAX_SIM); // asks for confirmation
  return c.rng.range(1, 30_000);
}

function login(c: OperatorContext, who: typeof OPERATORS[number]): Action {
  const op = c.terminal?.operators.get(who.number);
  if (op?.locked) return { kind: 'service', what: 'unlock', label: `unlock ${who.number}` };
  const roomForError = (op?.failedAttempts ?? 0) < PASSWORD_ATTEMPTS_MAX - 2;
  if (roomForError && c.rng.chance(c.rates.wrongPassword)) return ev(`login ${who.number} wrong password`, 'login-wrong', { type: 'LOGIN', operator: who.number, password: '0000' });
  return ev(`login ${who.number}`, 'login', { type: 'LOGIN', operator: who.number, password: who.password });
}

function approvedSales(c: OperatorContext) {
  return (c.terminal?.engine.transactions() ?? []).filter((t) => t.kind === 'sale' && t.status === 'approved');
}

function idle(c: OperatorContext): Action {
  const s = c.terminal?.engine.state;
  if (c.closing) {
    const open = s !== undefined && (s.txns.size > 0 || s.settlement !== undefined);
    if (open && c.settleTries < SETTLE_TRIES_MAX) return ev('settle (day end)', 'settle', { type: 'SETTLE' });
    return ev('sign off (day end)', 'sign-off', { type: 'SIGN_OFF' });
  }
  const what = c.rng.weighted(TRADING_WEIGHTS);
  switch (what) {
    case 'sale': return ev('sale', 'sale', { type: 'SALE' });
    case 'void': return ev('void', 'void', { type: 'VOID' });
    case 'refund': return ev('refund', 'refund', { type: 'REFUND' });
    case 'balance': present(c, false); return ev(`balance (${c.reader.next})`, 'balance', { type: 'BALANCE' });
    case 'reprint': return ev('reprint', 'reprint', { type: 'REPRINT' });
    case 'settle': return ev('settle (mid-day)', 'settle', { type: 'SETTLE' });
    case 'logout': return ev('log out', 'logout', { type: 'LOGOUT' });
    case 'preAuth': return ev('pre-authorization', 'pre-auth', { type: 'PRE_AUTH' });
    case 'completion': return ev('completion', 'completion', { type: 'COMPLETION' });
    case 'preAuthVoid': return ev('pre-authorization void', 'pre-auth-void', { type: 'PRE_AUTH_VOID' });
    case 'completionVoid': return ev('completion void', 'completion-void', { type: 'COMPLETION_VOID' });
    case 'qr': return ev('QR payment', 'qr', { type: 'QR_SALE' });
    case 'qrVoid': return ev('QR void', 'qr-void', { type: 'QR_VOID' });
    case 'qrRefund': return ev('QR refund', 'qr-refund', { type: 'QR_REFUND' });
    default: return ev('sign off', 'sign-off', { type: 'SIGN_OFF' });
  }
}

function openHolds(c: OperatorContext) {
  return c.terminal?.engine.openPreAuths() ?? [];
}

function ofKind(c: OperatorContext, kind: string) {
  return (c.terminal?.engine.transactions() ?? []).filter((t) => t.kind === kind && t.status === 'approved');
}

function pin(c: OperatorContext): Action {
  const wrong = c.rng.chance(c.rates.wrongPin);
  return { kind: 'events', events: [{ type: 'PIN', pin: Buffer.from(wrong ? WRONG_PIN : SIM_PIN, 'ascii') }], label: wrong ? 'PIN (wrong)' : 'PIN', wrongPin: wrong };
}

function supervisor(c: OperatorContext): Action {
  const wrong = c.rng.chance(c.rates.wrongPassword);
  return ev(wrong ? 'supervisor (wrong password)' : 'supervisor', undefined, { type: 'SUPERVISOR', operator: '002', password: wrong ? '0000' : '2222' });
}

/** The next action for what the screen shows. */
export function nextAction(c: OperatorContext): Action {
  const st = c.view.state;
  const leaf = st.split('.').pop() as string;
  if (st === 'login') return login(c, c.closing || c.rng.chance(0.3) ? OPERATORS[2] : OPERATORS[1]);
  if (st === 'idle') return idle(c);
  // By default the technician repairs through the recovery menu (boot/recovery.ts); with
  // recoveryViaMachine the machine's own recovery login and export (SIMULATION.md, finding 1).
  if (st === 'recovery.locked' && !c.recoveryViaMachine) return { kind: 'service', what: 'repair-journal', label: 'technician restores the journal (recovery menu)' };
  if (st === 'recovery.locked') return ev('administrator login (recovery)', 'recovery-login', { type: 'LOGIN', operator: '000', password: '9999' });
  if (st === 'recovery.menu') return c.view.data.exportedTo ? { kind: 'service', what: 'repair-journal', label: 'technician restores the journal' } : ev('export journal', 'recovery-export', { type: 'EXPORT' });
  if (st === 'storageFailure') return { kind: 'service', what: 'fix-storage', label: 'technician fixes the storage' };
  if (st === 'off') return { kind: 'service', what: 'charge', label: 'battery charged' };
  if (st === 'paperOut') return c.rng.chance(0.9) ? { kind: 'events', events: [{ type: 'PAPER_LOADED' }], label: 'paper loaded, cover shut', fixPrinter: true } : ev('cancel (paper)', undefined, { type: 'CANCEL' });
  if (st === 'hostUnreachable') return c.rng.chance(0.8) ? ev('retry sign-on', undefined, { type: 'RETRY' }) : ev('cancel sign-on', undefined, { type: 'CANCEL' });
  if (st === 'lowBattery') return c.rng.chance(0.3) ? ev('settle (low battery)', 'settle', { type: 'SETTLE' }) : ev('ok (low battery)', undefined, { type: 'OK' });
  if (st === 'offerReprint') return c.rng.chance(0.7) ? ev('reprint pending', undefined, { type: 'YES' }) : ev('skip pending', undefined, { type: 'NO' });
  if (st === 'offerCustomerCopy') return c.rng.chance(0.5) ? ev('print the customer copy offered', undefined, { type: 'YES' }) : ev('skip the customer copy offered', undefined, { type: 'NO' });
  if (st === 'reprint.copy') return c.rng.chance(0.7) ? ev('reprint merchant copy', undefined, { type: 'REPRINT_COPY', copy: 'merchant' }) : ev('reprint customer copy', undefined, { type: 'REPRINT_COPY', copy: 'customer' });
  if (leaf === 'ask') return supervisor(c);
  if (leaf === 'result') return ev('ok', undefined, { type: 'OK' });
  if (leaf === 'cardError') {
    if (c.rng.chance(0.15)) return ev('cancel (card)', undefined, { type: 'CANCEL' });
    present(c, !st.startsWith('balance'));
    return ev(`retry card (${c.reader.next})`, undefined, { type: 'RETRY' });
  }
  if (leaf === 'askCustomerCopy') return c.rng.chance(0.5) ? ev('customer copy', undefined, { type: 'YES' }) : ev('no customer copy', undefined, { type: 'NO' });
  if (leaf === 'pin') return pin(c);
  switch (st) {
    case 'sale.amount': {
      if (c.rng.chance(0.02)) return ev('amount 0 (invalid)', undefined, { type: 'AMOUNT', amountFen: 0 });
      const amountFen = amount(c);
      c.lastSale = { amountFen };
      present(c);
      return ev(`amount ${amountFen} (${c.reader.next})`, undefined, { type: 'AMOUNT', amountFen });
    }
    case 'sale.confirm': return ev('confirm amount', undefined, { type: 'OK' });
    case 'sale.duplicateWarning': return c.rng.chance(0.5) ? ev('continue (duplicate)', undefined, { type: 'CONTINUE' }) : ev('cancel (duplicate)', undefined, { type: 'CANCEL' });
    case 'sale.signature':
      if (c.rng.chance(0.5)) return ev('skip signature', undefined, { type: 'SKIP' });
      return ev('signature', undefined, { type: 'SIGNATURE', image: signature(c) });
    case 'void.trace': {
      const sales = approvedSales(c);
      if (sales.length === 0) return ev('cancel void (nothing to void)', undefined, { type: 'CANCEL' });
      if (c.rng.chance(0.05)) return ev('trace (wrong)', undefined, { type: 'TRACE', stan: 999_998 });
      const stan = c.rng.pick(sales).stan;
      return ev(`trace ${stan}`, undefined, { type: 'TRACE', stan });
    }
    case 'void.confirm': return ev('confirm void', undefined, { type: 'OK' });
    case 'settlement.confirm': return ev('confirm settlement totals', undefined, { type: 'OK' });
    case 'preAuth.amount': {
      const amountFen = c.rng.range(1, 30_000);
      present(c);
      return ev(`pre-auth amount ${amountFen} (${c.reader.next})`, undefined, { type: 'AMOUNT', amountFen });
    }
    case 'completion.original':
    case 'preAuthVoid.original': {
      const holds = openHolds(c);
      if (holds.length === 0) return ev(`cancel (${st}: no open hold)`, undefined, { type: 'CANCEL' });
      const stan = c.rng.pick(holds).stan;
      return ev(`hold ${stan}`, undefined, { type: 'TRACE', stan });
    }
    case 'completion.amount': {
      const hold = c.view.data.preAuthHold;
      // Now and then above the 115% ceiling: refused on the screen, then a good amount.
      const max = hold?.completionFenMax ?? 30_000;
      const amountFen = c.rng.chance(0.1) ? max + 1 : c.rng.range(1, max);
      return ev(`completion amount ${amountFen}`, undefined, { type: 'AMOUNT', amountFen });
    }
    case 'preAuthVoid.confirm':
    case 'completionVoid.confirm':
    case 'qrVoid.confirm': return ev(`confirm (${st})`, undefined, { type: 'OK' });
    case 'completionVoid.trace': {
      const done = ofKind(c, 'completion');
      if (done.length === 0) return ev('cancel (no completion)', undefined, { type: 'CANCEL' });
      const stan = c.rng.pick(done).stan;
      return ev(`completion ${stan}`, undefined, { type: 'TRACE', stan });
    }
    case 'qr.amount': {
      const amountFen = c.rng.range(1, 30_000);
      return ev(`QR amount ${amountFen}`, undefined, { type: 'AMOUNT', amountFen });
    }
    case 'qr.mode': return ev('scan the customer\'s code', undefined, { type: 'QR_SCAN' });
    case 'qr.scan':
    case 'qr.scanError': {
      const code = c.rng.chance(0.1) ? QR_CODES[3] : c.rng.pick(QR_CODES.slice(0, 3));
      return ev(`key payment code …${code.slice(-4)}`, undefined, { type: 'QR_CODE', code });
    }
    case 'qrVoid.trace':
    case 'qrRefund.trace': {
      const paid = ofKind(c, 'qrSale');
      if (paid.length === 0) return ev(`cancel (${st}: no QR payment)`, undefined, { type: 'CANCEL' });
      const stan = c.rng.pick(paid).stan;
      return ev(`QR payment ${stan}`, undefined, { type: 'TRACE', stan });
    }
    case 'qrRefund.amount': {
      // The screen does not show the payment's amount; a refused amount names the most allowed
      // (a payment of 0.02 yuan refused every guess up to 1 yuan: seed 8 looped 41 steps). A
      // cashier told "at most X" either types X or less, or gives up.
      const most = c.view.data.error?.detail?.amountFenMax;
      if (c.view.data.error && (typeof most !== 'number' || c.rng.chance(0.3))) return ev('cancel QR refund (amount refused)', undefined, { type: 'CANCEL' });
      const max = typeof most === 'number' ? most : Math.max(1, c.view.data.amountFen || 100);
      return ev('QR refund amount', undefined, { type: 'AMOUNT', amountFen: c.rng.range(1, max) });
    }
    // Offline sales the host has not taken: usually send them again; sometimes the supervisor gives them up.
    case 'settlement.offlinePending': return c.rng.chance(0.8) ? ev('send offline sales again', undefined, { type: 'RETRY' }) : ev('give offline sales up', undefined, { type: 'GIVE_UP' });
    case 'refund.details': {
      // A refund is keyed from the original slip's RRN and host date: an offline sale the host has
      // not taken yet has neither, so an operator does not pick it (soak seed 200008 day 3 kept
      // keying one, E-OPR-08 every time, until the never-stuck check stopped the day).
      const sales = approvedSales(c).filter((s) => s.rrn !== undefined && s.hostDate !== undefined);
      if (sales.length === 0) return ev('cancel refund (no sale)', undefined, { type: 'CANCEL' });
      const sale = c.rng.pick(sales);
      present(c);
      const amountFen = c.rng.range(1, sale.amountFen);
      return ev(`refund ${amountFen} of ${sale.stan} (${c.reader.next})`, undefined, { type: 'REFUND_DETAILS', rrn: sale.rrn as string, dateMmdd: sale.hostDate as string, amountFen });
    }
    case 'reprint.choose': {
      const txns = c.terminal?.engine.transactions() ?? [];
      if (c.view.data.error && c.rng.chance(0.5)) return ev('cancel reprint', undefined, { type: 'CANCEL' });
      const pick = c.rng.weighted({ last: 5, stan: 4, report: 2 });
      if (pick === 'stan' && txns.length > 0) { const stan = c.rng.pick(txns).stan; return ev(`reprint ${stan}`, undefined, { type: 'REPRINT_STAN', stan }); }
      if (pick === 'report') return ev('reprint report', undefined, { type: 'REPRINT_REPORT' });
      return ev('reprint last', undefined, { type: 'REPRINT_LAST' });
    }
    default: return ev(`cancel (${st})`, undefined, { type: 'CANCEL' });
  }
}

/** A small signature: a few strokes, well under the 999 bytes field 62 holds. */
function signature(c: OperatorContext) {
  const width = 96, height = 24;
  const pixels = new Uint8Array(width * height);
  const y = c.rng.int(height);
  pixels.fill(1, y * width + c.rng.int(20), y * width + 40 + c.rng.int(50));
  return { width, height, pixels };
}
