/**
 * The invariants the day simulation checks after every step. Each failure names its invariant;
 * simulate.ts adds the seed, the step and the last events.
 *
 *   ledger-journal   every approved, unreversed transaction of the open batch in the host's ledger
 *                    is approved (or voided) in the journal with the same RRN and amount, or is
 *                    the one in flight with its reversal pending, or an offline sale whose advice
 *                    the host took while its answer was lost (pending in the journal); and vice
 *                    versa, except offline sales the host has not taken (pending, rejected, given
 *                    up); totals agree. An offline sale given up after its advice was sent and never
 *                    answered has an unknown outcome (docs/PROTOCOL.md): the host may hold it while
 *                    the journal leaves it out, but only if none of the host's 00/94 answers to it
 *                    reached a terminal that kept running (then it was acknowledged, and dropping it fails)
 *   charged-once     no operator sale attempt left more than one approved sale at the host; RRNs unique
 *   batch-balanced   each closed batch: closed at the host too, the same verdict; balanced means the
 *                    host's and the terminal's totals agree; unbalanced only when the host was told
 *                    to say so or the difference is exactly the given-up sales of unknown outcome the
 *                    host booked, and then the batch was uploaded (0320 ... 0320 end)
 *   stan-unique      no STAN is used twice for a new message (a reversal repeats its original's by
 *                    design); the open batch is never one the host already closed
 *   journal-verifies every record written verifies (frame, checksums, chain) - or the journal was
 *                    damaged on purpose and the terminal is in recovery mode showing E-STO-05;
 *                    recovery mode without injected damage is itself a failure
 *   no-secrets       no full PAN (ASCII or BCD), track data, clear PIN or PIN block in the logs,
 *                    receipts, screens or journal bytes
 *   never-stuck      (checked by simulate.ts) every step comes to rest within its virtual time, and
 *                    idle, the login screen, a fault screen or recovery mode is reached within a
 *                    bounded number of steps
 */
import { TEST_TERMINAL, AcquirerSimulator } from './host/simulator';
import { Terminal } from '../runtime/terminal';
import { MachineView } from '../runtime/machine';
import { Txn, batchTotals, outcomeUnknown, statusOf } from '../runtime/terminal-state';
import { ADVICE_ACCEPTED_CODES } from '../runtime/host/messages-v2';
import { OfflineNotTaken } from '../runtime/records';
import { STAN_MAX, SettlementTotals } from '../runtime/host/messages';
import { checkFrame, recordDigest, genesisDigest } from '../storage/record';
import { TEST_CARDS } from './test-cards';
import { SIM_PANS } from './simulate-devices';

export type InvariantName = 'ledger-journal' | 'charged-once' | 'batch-balanced' | 'stan-unique' | 'journal-verifies' | 'no-secrets' | 'never-stuck';

export class InvariantFailure extends Error {
  constructor(readonly invariant: InvariantName, message: string) { super(`${invariant}: ${message}`); }
}

function fail(name: InvariantName, message: string): never { throw new InvariantFailure(name, message); }

/** The clear PIN every simulated customer types: above any amount the simulation draws, so it cannot appear innocently. */
export const SIM_PIN = '975319';

const PIN_BYTES = Buffer.from(SIM_PIN);

const isDigit = (b: number | undefined): boolean => b !== undefined && b >= 0x30 && b <= 0x39;

/**
 * The PIN's digits not inside a longer run of digits: a millisecond timestamp may contain any six
 * digits (a false alarm seen with seed 4), a PIN on its own may not.
 */
function hasStandalone(bytes: Buffer, digits: Buffer): boolean {
  for (let at = bytes.indexOf(digits); at >= 0; at = bytes.indexOf(digits, at + 1)) {
    if (!isDigit(bytes[at - 1]) && !isDigit(bytes[at + digits.length])) return true;
  }
  return false;
}

/** PIN blocks the checks keep looking for (the day's first ones). */
const PIN_BLOCKS_MAX = 256;
/** Patterns shorter than this are looked for one `includes` each (a pass keys on 4-byte heads). */
const HEAD_BYTES = 4;
/** Slots of a PatternSet's filter of heads (a power of two). */
const HEAD_FILTER_SLOTS = 1 << 16;

/**
 * Byte patterns looked for together: `firstIn(bytes)` gives the index of the first pattern (in
 * the order added) found in `bytes`, the answer `patterns.findIndex((p) => bytes.includes(p))`
 * gives, in one pass over the bytes instead of one per pattern. Each byte updates a rolling
 * 4-byte head, and a filter of the patterns' heads rules most positions out before a lookup.
 * The checks scan every output of every step for the day's PIN blocks (up to 256) and the test
 * cards' numbers: one `includes` per pattern was a tenth of a simulated day's CPU.
 */
export class PatternSet {
  private readonly patterns: Buffer[] = [];
  private readonly short: number[] = [];
  private readonly byHead = new Map<number, number[]>();
  private readonly filter = new Uint8Array(HEAD_FILTER_SLOTS);

  get size(): number { return this.patterns.length; }

  add(pattern: Buffer): void {
    const i = this.patterns.length;
    this.patterns.push(pattern);
    if (pattern.length < HEAD_BYTES) { this.short.push(i); return; }
    const head = pattern.readUInt32BE(0);
    const list = this.byHead.get(head);
    if (list) list.push(i); else this.byHead.set(head, [i]);
    this.filter[slotOf(head)] = 1;
  }

  firstIn(bytes: Buffer): number {
    let found = -1;
    for (const i of this.short) if (bytes.includes(this.patterns[i])) { found = i; break; }
    let head = 0;
    for (let at = 0; at < bytes.length; at++) {
      head = ((head << 8) | bytes[at]) >>> 0;
      if (at < HEAD_BYTES - 1 || this.filter[slotOf(head)] === 0) continue;
      const candidates = this.byHead.get(head);
      if (!candidates) continue;
      const start = at - (HEAD_BYTES - 1);
      for (const i of candidates) {
        const p = this.patterns[i];
        if ((found < 0 || i < found) && start + p.length <= bytes.length && bytes.compare(p, 0, p.length, start, start + p.length) === 0) found = i;
      }
    }
    return found;
  }
}

function slotOf(head: number): number {
  return Math.imul(head, 0x9e3779b1) >>> 16;
}

export interface CheckInput {
  readonly terminal: Terminal | undefined;
  readonly view: MachineView;
  readonly sim: AcquirerSimulator;
  /** Damage was injected into the journal and not yet repaired. */
  readonly damaged: boolean;
  /** Output produced since the last check. */
  readonly newLogs: string;
  /** Printed output: decoded text, or the raw bytes sent to the printer. */
  readonly newReceipts: ReadonlyArray<string | Buffer>;
  /** The step id that caused new host sale entries (charged-once). */
  readonly stepId: number;
  /** Settlements the host was told to answer unbalanced, by batch. */
  readonly unbalancedBatches: ReadonlySet<number>;
}

export class InvariantChecker {
  checks = 0;
  private readonly secrets: Array<[string, Buffer]>;
  /** The secrets, then each PIN block noted: every output is scanned for all of them in one pass. */
  private readonly wanted = new PatternSet();
  private hostRequestsSeen = 0;
  private readonly stansUsed = new Set<number>();
  /** STANs of messages sent again by design (advices, QR voids and refunds), with their type. */
  private readonly resentStans = new Map<number, string>();
  private readonly saleStep = new Map<string, number>();
  private ledgerSeen = 0;
  private verifiedSeq = 0;
  private verifiedDigest: Buffer | undefined;
  private journalSeen: unknown;
  private lastClosedChecked = 0;
  /** Offline sales (by STAN) whose 00/94 answer reached a terminal that kept running: acknowledged. */
  private readonly advicesAcked = new Set<number>();
  private adviceAnswersSeen = 0;
  private lastTerminal: Terminal | undefined;
  /** Given-up sales of unknown outcome the host had booked, over the closed batches checked. */
  givenUpBooked = 0;

  constructor() {
    this.secrets = [
      ...SIM_PANS.map((p): [string, Buffer] => [`PAN ${p.slice(0, 6)}...`, Buffer.from(p)]),
      ...SIM_PANS.map((p): [string, Buffer] => [`BCD PAN ${p.slice(0, 6)}...`, Buffer.from(p.length % 2 ? `${p}F` : p, 'hex')]),
      ['track 2 (mag)', Buffer.from(TEST_CARDS.magDebit.track2.split('=')[1])],
      ['track 3 (mag)', Buffer.from(TEST_CARDS.magDebit.track3 as string)],
    ];
    for (const [, secret] of this.secrets) this.wanted.add(secret);
  }

  /** A PIN block the terminal sent (computed by the simulation with the host's keys). */
  notePinBlock(b: Buffer): void { if (this.wanted.size < this.secrets.length + PIN_BLOCKS_MAX) this.wanted.add(b); }

  check(c: CheckInput): void {
    this.checks++;
    this.noSecrets('logs', Buffer.from(c.newLogs));
    for (const r of c.newReceipts) this.noSecrets(typeof r === 'string' ? 'receipts' : 'printer wire', typeof r === 'string' ? Buffer.from(r) : r);
    this.noSecrets('screen', Buffer.from(JSON.stringify(c.view)));
    this.stanUnique(c);
    this.noteAdviceAnswers(c);
    this.recoveryHonest(c);
    const t = c.terminal;
    if (!t || c.damaged || c.view.state.startsWith('recovery')) return;
    this.journalVerifies(t);
    this.ledgerJournal(t, c);
    this.chargedOnce(c);
    this.batchBalanced(t, c);
  }

  /** Scans one output for every secret. */
  noSecrets(where: string, bytes: Buffer): void {
    if (bytes.length === 0) return;
    const i = this.wanted.firstIn(bytes);
    if (i >= 0 && i < this.secrets.length) fail('no-secrets', `${this.secrets[i][0]} found in ${where}`);
    if (hasStandalone(bytes, PIN_BYTES)) fail('no-secrets', `clear PIN found in ${where}`);
    if (i >= 0) fail('no-secrets', `PIN block ${i - this.secrets.length} found in ${where}`);
  }

  private recoveryHonest(c: CheckInput): void {
    const inRecovery = c.view.state.startsWith('recovery');
    if (c.damaged && c.view.state !== 'boot' && c.view.state !== 'off') {
      if (!inRecovery) fail('journal-verifies', `journal damaged on purpose but the terminal is at ${c.view.state}`);
      if (c.view.data.error?.code !== 'E-STO-05') fail('journal-verifies', `recovery mode without saying why: error ${c.view.data.error?.code ?? 'none'}`);
    }
    if (!c.damaged && inRecovery) fail('journal-verifies', `recovery mode without injected damage: ${c.view.data.error?.code} ${c.view.data.error?.message}`);
  }

  /** Verifies the records written since the last check: frame, checksums and chain. */
  private journalVerifies(t: Terminal): void {
    const j = t.store.journal;
    if (this.journalSeen !== j) {
      // A reopened journal was verified whole by Journal.open: continue the chain from its end.
      this.journalSeen = j;
      this.verifiedSeq = j.openReport.lastGoodSeq;
      this.verifiedDigest = j.openReport.lastGoodSeq === 0 ? genesisDigest(j.identity) : j.openReport.lastGoodDigest;
      if (j.state === 'damaged') fail('journal-verifies', `journal opened damaged at ${j.damage?.seq}: ${j.damage?.reason}`);
    }
    for (const { key, stored } of j.raw(this.verifiedSeq + 1)) {
      const frame = checkFrame(stored);
      if ('fault' in frame) fail('journal-verifies', `record ${key}: ${frame.fault.reason}`);
      if (frame.header.seq !== key || key !== this.verifiedSeq + 1) fail('journal-verifies', `record ${key} out of sequence after ${this.verifiedSeq}`);
      if (this.verifiedDigest && !frame.header.prevDigest.equals(this.verifiedDigest)) fail('journal-verifies', `record ${key} does not chain to ${this.verifiedSeq}`);
      this.noSecrets(`journal record ${key}`, stored);
      this.verifiedSeq = key;
      this.verifiedDigest = recordDigest(stored);
    }
  }

  /**
   * An advice's acceptance the host wrote whole to a terminal that was still the same one at this
   * check (no power cut in the step: a cut can lose the answer before it is journaled) was received.
   */
  private noteAdviceAnswers(c: CheckInput): void {
    const reqs = c.sim.requests();
    const kept = c.terminal !== undefined && c.terminal === this.lastTerminal;
    for (const r of reqs.slice(this.adviceAnswersSeen)) {
      if (kept && r.type === 'offlineAdvice' && ADVICE_ACCEPTED_CODES.includes(r.code) && c.sim.answerDelivered(r)) this.advicesAcked.add(r.stan);
    }
    this.adviceAnswersSeen = reqs.length;
    this.lastTerminal = c.terminal;
  }

  /** Given up after sends with no answer the terminal had: the host may hold it. One it had is a dropped sale. */
  private givenUpUnknown(stan: number, sends: number | undefined, invariant: InvariantName): boolean {
    if ((sends ?? 0) === 0) return false;
    if (this.advicesAcked.has(stan)) fail(invariant, `offline sale STAN ${stan} was given up (sent ${sends} times) though the host's acceptance reached the terminal: an acknowledged sale dropped`);
    return true;
  }

  private ledgerJournal(t: Terminal, c: CheckInput): void {
    const s = t.engine.state;
    const host = c.sim.ledger.entries({ tid: TEST_TERMINAL.tid, batch: s.batch }).filter((e) => e.status === 'approved');
    const pendingStan = s.pendingReversal?.stan;
    // A QR payment whose outcome is unknown is in flight too: a query settles it (never a 0400).
    const qrPendingStan = s.pendingQrQuery?.stan;
    for (const e of host) {
      const txn = s.txns.get(e.stan);
      if (e.stan === pendingStan || e.stan === qrPendingStan) continue; // in flight: its reversal or query will settle it
      if (!txn) fail('ledger-journal', `host approved ${e.type} STAN ${e.stan} (${e.amountFen} fen, batch ${s.batch}) that the journal does not have`);
      const st = statusOf(s, txn);
      if (st !== 'approved' && st !== 'voided') fail('ledger-journal', `host approved ${e.type} STAN ${e.stan}, journal says ${st}`);
      // An advice the host filed whose 0230 was lost: the journal learns its RRN when it is resent (94).
      if (e.offline && txn.offline?.state === 'pending') continue;
      // Given up after it was sent and never answered: the outcome is unknown, the host may have it.
      if (e.offline && outcomeUnknown(txn) && this.givenUpUnknown(txn.stan, txn.offline?.sends, 'ledger-journal')) continue;
      if (e.offline && txn.offline?.state !== 'sent') fail('ledger-journal', `host took offline sale STAN ${e.stan} that the journal says is ${txn.offline?.state ?? 'online'}`);
      if (txn.rrn !== e.rrn || txn.amountFen !== e.amountFen) fail('ledger-journal', `STAN ${e.stan}: host RRN ${e.rrn} ${e.amountFen} fen, journal ${txn.rrn} ${txn.amountFen} fen`);
    }
    for (const txn of s.txns.values()) {
      const st = statusOf(s, txn);
      if (st !== 'approved' && st !== 'voided') continue;
      if (txn.stan === pendingStan || txn.stan === qrPendingStan) continue;
      if (txn.offline !== undefined && txn.offline.state !== 'sent') continue; // not at the host (yet, or ever)
      if (!host.some((e) => e.stan === txn.stan && e.rrn === txn.rrn)) fail('ledger-journal', `journal has ${txn.kind} STAN ${txn.stan} ${st} that the host does not have approved`);
    }
    // Totals agree once nothing is in flight: no reversal, no advice whose answer may have been lost.
    if (pendingStan === undefined && qrPendingStan === undefined && !s.settlement && t.engine.pendingAdvices().length === 0) {
      const unknown = host.filter((e) => e.offline && isGivenUpUnknown(s.txns.get(e.stan)));
      const mine = withSales(batchTotals(s), unknown), theirs = c.sim.ledger.totals(TEST_TERMINAL.tid, s.batch);
      if (JSON.stringify(mine) !== JSON.stringify(theirs)) fail('ledger-journal', `batch ${s.batch} totals differ: journal ${JSON.stringify(mine)}, host ${JSON.stringify(theirs)}`);
    }
  }

  private chargedOnce(c: CheckInput): void {
    const all = c.sim.ledger.entries({ tid: TEST_TERMINAL.tid });
    for (const e of all.slice(this.ledgerSeen)) if (e.type === 'sale') this.saleStep.set(`${e.batch}/${e.stan}`, c.stepId);
    this.ledgerSeen = all.length;
    const perStep = new Map<number, number>();
    const rrns = new Set<string>();
    for (const e of all) {
      if (e.status !== 'approved') continue;
      if (rrns.has(e.rrn)) fail('charged-once', `RRN ${e.rrn} issued twice`);
      rrns.add(e.rrn);
      // An offline sale reaches the host as an advice, at a later step than the attempt that made it.
      if (e.type !== 'sale' || e.offline) continue;
      const step = this.saleStep.get(`${e.batch}/${e.stan}`) as number;
      const n = (perStep.get(step) ?? 0) + 1;
      if (n > 1) fail('charged-once', `one sale attempt (step ${step}) left ${n} approved sales at the host (latest STAN ${e.stan})`);
      perStep.set(step, n);
    }
  }

  private batchBalanced(t: Terminal, c: CheckInput): void {
    const closed = t.engine.state.lastClosed;
    if (!closed || closed.batch === this.lastClosedChecked) return;
    this.lastClosedChecked = closed.batch;
    const hb = c.sim.ledger.batchState(TEST_TERMINAL.tid, closed.batch);
    if (!hb?.closed || !hb.settlement) fail('batch-balanced', `batch ${closed.batch} closed at the terminal, not at the host`);
    if (hb.settlement.verdict !== closed.verdict) fail('batch-balanced', `batch ${closed.batch}: terminal ${closed.verdict}, host ${hb.settlement.verdict}`);
    const ledger = c.sim.ledger.totals(TEST_TERMINAL.tid, closed.batch);
    // Given up after sends with no answer and booked by the host: the terminal's totals leave them out.
    const unknown = this.bookedGivenUp(c, closed.batch, closed.offlineNotTaken);
    this.givenUpBooked += unknown.length;
    if (closed.verdict === 'balanced') {
      if (JSON.stringify(hb.settlement.hostTotals) !== JSON.stringify(hb.settlement.terminalTotals)) fail('batch-balanced', `batch ${closed.batch} balanced with different totals`);
      if (JSON.stringify(ledger) !== JSON.stringify(closed.totals)) fail('batch-balanced', `batch ${closed.batch}: ledger ${JSON.stringify(ledger)}, closed ${JSON.stringify(closed.totals)}`);
      return;
    }
    // The simulator says unbalanced when told to (a fault armed for a settlement that then sent no
    // 0500 carries over to the next batch: seed 100072) or when the totals differ: that is a bug.
    const { hostTotals, terminalTotals } = hb.settlement;
    if (JSON.stringify(hostTotals) !== JSON.stringify(withSales(terminalTotals, unknown))) {
      fail('batch-balanced', `batch ${closed.batch} settled ${closed.verdict}: the books disagree, host ${JSON.stringify(hostTotals)}, terminal ${JSON.stringify(terminalTotals)}${c.unbalancedBatches.has(closed.batch) ? '' : ' (no fault armed for it)'}`);
    }
    // A QR payment has no PAN for a 0320 (the profile's batch-upload row carries 2): it counts in the
    // totals but is not uploaded (runtime/txn/settlement.ts).
    const qrCounted = c.sim.ledger.entries({ tid: TEST_TERMINAL.tid, batch: closed.batch })
      .filter((e) => e.status === 'approved' && ((e.type === 'qrSale' && e.voidedBy === undefined) || e.type === 'qrRefund')).length;
    const expected = ledger.saleCount + ledger.refundCount - qrCounted - unknown.length;
    if (hb.uploadEndCount !== expected) fail('batch-balanced', `batch ${closed.batch} ${closed.verdict}: upload ended with ${hb.uploadEndCount ?? 'nothing'}, ${expected} transactions`);
  }

  /** The host's approved offline sales of a closed batch that the terminal gave up after sends with no answer. */
  private bookedGivenUp(c: CheckInput, batch: number, notTaken: readonly OfflineNotTaken[]): Array<{ amountFen: number }> {
    const entries = c.sim.ledger.entries({ tid: TEST_TERMINAL.tid, batch }).filter((e) => e.status === 'approved' && e.offline);
    return entries.filter((e) => {
      const o = notTaken.find((n) => n.stan === e.stan && n.state === 'abandoned');
      return o !== undefined && this.givenUpUnknown(o.stan, o.sends, 'batch-balanced');
    });
  }

  private stanUnique(c: CheckInput): void {
    const reqs = c.sim.requests();
    for (const r of reqs.slice(this.hostRequestsSeen)) {
      if (r.tid !== TEST_TERMINAL.tid || r.type === 'reversal' || r.type === undefined) continue;
      // An offline advice, a QR void or refund whose answer was lost, and an issuer script notice
      // (0620, up to the reversal's tries) are sent again under their own STAN (the host tells a
      // resend by TID + batch + STAN): a repeat of the same message is by design, a STAN something
      // else used is not.
      const resendable = r.type === 'offlineAdvice' || r.type === 'qrVoid' || r.type === 'qrRefund' || r.type === 'scriptNotice';
      if (resendable && this.resentStans.get(r.stan) === r.type) continue;
      if (this.stansUsed.has(r.stan)) fail('stan-unique', `STAN ${r.stan} used again by a ${r.type}`);
      if (resendable) this.resentStans.set(r.stan, r.type);
      this.stansUsed.add(r.stan);
      // STAN wrap (docs/PROTOCOL.md): after 999999 comes 1; a simulation run never gets that far.
      if (this.stansUsed.size >= STAN_MAX) { this.stansUsed.clear(); this.resentStans.clear(); }
    }
    this.hostRequestsSeen = reqs.length;
    const s = c.terminal?.engine.state;
    if (s && !c.damaged) {
      const hb = c.sim.ledger.batchState(TEST_TERMINAL.tid, s.batch);
      const settling = s.settlement !== undefined && s.settlement.batch === s.batch;
      if (hb?.closed && !settling) fail('stan-unique', `open batch ${s.batch} was already closed at the host: a batch number repeats`);
    }
  }
}

function isGivenUpUnknown(t: Txn | undefined): boolean {
  return t !== undefined && outcomeUnknown(t);
}

/** Totals with these sales added: what the host counts when it booked offline sales the terminal gave up. */
function withSales(t: SettlementTotals, sales: ReadonlyArray<{ amountFen: number }>): SettlementTotals {
  return { ...t, saleCount: t.saleCount + sales.length, saleAmountFen: t.saleAmountFen + sales.reduce((sum, e) => sum + e.amountFen, 0) };
}
