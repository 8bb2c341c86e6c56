/**
 * Anomaly flags over one batch (docs/ANOMALY.md): card testing, split sales, amounts far from
 * the merchant's usual, runs of declines, the same card charged again and again. A flag is a
 * hint for the supervisor, the day report and the status upload; it never blocks a sale (the
 * host decides on fraud, the terminal only sees its own batch).
 *
 * Pure: no I/O, no clock, no engine. The caller maps its transactions to `AnomalyTxn` (the
 * journal's times, not the wall clock, so a replayed day gives the same flags) and keeps the
 * history of approved sale amounts the profile is built from.
 */
import { yuan } from '../common/money';

/** Where the caller's status comes from: runtime/terminal-state.ts `statusOf` (voided included). */
export type AnomalyTxnStatus = 'pending' | 'approved' | 'declined' | 'failed' | 'reversed' | 'voided';

/** The little of a transaction the rules read. */
export interface AnomalyTxn {
  /** What the flags name the transaction by (the batch's STAN). */
  readonly stan: number;
  /** runtime/records.ts TxnKind; only 'sale' counts as a sale here (see docs/ANOMALY.md). */
  readonly kind: string;
  readonly amountFen: number;
  readonly status: AnomalyTxnStatus;
  /** The host's field 39 when it answered ('00' approved). */
  readonly responseCode?: string;
  /** Keyed hash of the PAN (TxnBeginPayload.panTag): equal tags, same card. Absent for QR payments. */
  readonly panTag?: Uint8Array;
  /** When it happened: the journal time of its txn-begin record (never Date.now()). */
  readonly atMs: number;
}

export type AnomalyRuleId = 'ANM-BURST' | 'ANM-AMOUNT' | 'ANM-DECLINES' | 'ANM-DECLINE-CARD' | 'ANM-REPEAT-CARD' | 'ANM-DOUBLE';
export type AnomalySeverity = 'info' | 'warn' | 'alert';

export interface AnomalyRule {
  readonly id: AnomalyRuleId;
  /** At most ANOMALY_CODE_CHARS_MAX ASCII characters: logs, the day report's code column. */
  readonly code: string;
  /** Its bit in `anomalyDigest`: stable, never reused (a host decodes old terminals' digests). */
  readonly bit: number;
  readonly severity: AnomalySeverity;
}

/** The rules in the order flags of the same time are listed (and their digest bits). */
export const ANOMALY_RULES: readonly AnomalyRule[] = [
  { id: 'ANM-BURST', code: 'BURST', bit: 0, severity: 'alert' },
  { id: 'ANM-AMOUNT', code: 'AMOUNT', bit: 1, severity: 'warn' },
  { id: 'ANM-DECLINES', code: 'DECLRUN', bit: 2, severity: 'warn' },
  { id: 'ANM-DECLINE-CARD', code: 'DECLCARD', bit: 3, severity: 'alert' },
  { id: 'ANM-REPEAT-CARD', code: 'REPEAT', bit: 4, severity: 'warn' },
  { id: 'ANM-DOUBLE', code: 'DOUBLE', bit: 5, severity: 'alert' },
];

export const ANOMALY_CODE_CHARS_MAX = 8;

export interface AnomalyFlag {
  readonly rule: AnomalyRuleId;
  readonly severity: AnomalySeverity;
  /** STANs of the transactions that raised it, oldest first; at most FLAG_STANS_COUNT_MAX. */
  readonly stans: readonly number[];
  /** How many transactions raised it (stans may be cut). */
  readonly txnCount: number;
  readonly firstAtMs: number;
  readonly lastAtMs: number;
  /** One line for the supervisor screen and the day report (zh: only characters the LCD font already has). */
  readonly text: { readonly zh: string; readonly en: string };
}

// ---------------------------------------------------------------- thresholds (docs/ANOMALY.md)

/** ANM-BURST: a sale below this is "small" (card testing uses cents; ¥1.00 is below any real basket). */
export const BURST_AMOUNT_FEN_MAX = 100;
/** ANM-BURST: this many small approved sales... */
export const BURST_COUNT_MIN = 5;
/** ...with the first and the last at most this far apart. */
export const BURST_WINDOW_MS = 10 * 60_000;

/** ANM-AMOUNT: the profile speaks only after this many approved sales of earlier batches. */
export const PROFILE_SAMPLES_MIN = 50;
/** The profile keeps the most recent this many amounts (~a month of a small shop): bounded memory. */
export const PROFILE_SAMPLES_MAX = 2000;
/** ANM-AMOUNT: a sale above median + this × IQR is far from the usual. */
export const AMOUNT_IQR_FACTOR = 5;
/** The IQR used is at least this share of the median (per cent): a shop of one price has IQR 0. */
export const AMOUNT_IQR_FLOOR_PERCENT = 25;
/** ANM-AMOUNT never speaks below this: a ¥30 sale at a ¥3 kiosk is not worth a supervisor's look. */
export const AMOUNT_THRESHOLD_FEN_MIN = 100_00;

/** ANM-DECLINES: this many declined financial messages in a row (no approval between). */
export const DECLINE_RUN_COUNT_MIN = 5;
/** ANM-DECLINE-CARD: this many declines of one card in the batch: more than the 3 PIN tries an issuer allows. */
export const CARD_DECLINE_COUNT_MIN = 4;

/** ANM-REPEAT-CARD: one card approved for this many sales... */
export const REPEAT_CARD_COUNT_MIN = 3;
/** ...within this window (first to last). */
export const REPEAT_CARD_WINDOW_MS = 30 * 60_000;
/** ANM-DOUBLE: the same card and amount approved twice at most this far apart. */
export const DOUBLE_CHARGE_WINDOW_MS = 10 * 60_000;

/** A flag lists at most this many STANs (the screen and the report show a count beyond). */
export const FLAG_STANS_COUNT_MAX = 32;
/** At most this many flags per batch: a pathological day does not flood the report. */
export const FLAGS_COUNT_MAX = 64;

// ---------------------------------------------------------------- the merchant's profile

export interface AmountProfile {
  /** Approved sale amounts the profile was built from (after trimming to PROFILE_SAMPLES_MAX). */
  readonly sampleCount: number;
  readonly medianFen: number;
  readonly q1Fen: number;
  readonly q3Fen: number;
  /** Sales above this raise ANM-AMOUNT; undefined while sampleCount < PROFILE_SAMPLES_MIN. */
  readonly thresholdFen?: number;
}

/**
 * Appends a settled batch's approved sale amounts to the history and keeps the newest
 * PROFILE_SAMPLES_MAX (oldest first). The caller stores the result; the current batch is never
 * in its own profile (a burst of large sales would otherwise raise its own bar).
 */
export function appendHistory(historyFen: readonly number[], batchFen: readonly number[]): number[] {
  const all = [...historyFen, ...batchFen.filter(validAmount)];
  return all.slice(Math.max(0, all.length - PROFILE_SAMPLES_MAX));
}

/** Builds the profile from past approved sale amounts (oldest first; only the newest PROFILE_SAMPLES_MAX count). */
export function buildProfile(historyFen: readonly number[]): AmountProfile {
  const recent = historyFen.filter(validAmount);
  const sorted = recent.slice(Math.max(0, recent.length - PROFILE_SAMPLES_MAX)).sort((a, b) => a - b);
  if (sorted.length === 0) return { sampleCount: 0, medianFen: 0, q1Fen: 0, q3Fen: 0 };
  const q1Fen = quantile(sorted, 1, 4);
  const medianFen = quantile(sorted, 2, 4);
  const q3Fen = quantile(sorted, 3, 4);
  const base = { sampleCount: sorted.length, medianFen, q1Fen, q3Fen };
  if (sorted.length < PROFILE_SAMPLES_MIN) return base;
  const iqrFen = Math.max(q3Fen - q1Fen, Math.ceil((medianFen * AMOUNT_IQR_FLOOR_PERCENT) / 100));
  return { ...base, thresholdFen: Math.max(AMOUNT_THRESHOLD_FEN_MIN, medianFen + AMOUNT_IQR_FACTOR * iqrFen) };
}

function validAmount(fen: number): boolean {
  return Number.isSafeInteger(fen) && fen > 0;
}

/**
 * The (num/den) quantile of sorted integers, interpolated between neighbours and rounded to the
 * fen: exact integer arithmetic, so the same history gives the same threshold on every device.
 */
function quantile(sorted: readonly number[], num: number, den: number): number {
  const scaled = (sorted.length - 1) * num; // position × den
  const lo = Math.floor(scaled / den);
  const rem = scaled - lo * den;
  if (rem === 0 || lo + 1 >= sorted.length) return sorted[lo];
  return Math.round(sorted[lo] + ((sorted[lo + 1] - sorted[lo]) * rem) / den);
}

// ---------------------------------------------------------------- the rules

interface Indexed {
  readonly t: AnomalyTxn;
  /** Position in the caller's list: breaks ties between equal times (a STAN may wrap). */
  readonly index: number;
}

/** Flags raised by a batch's transactions, ordered by first time, then rule, then first STAN. */
export function detectAnomalies(txns: readonly AnomalyTxn[], profile: AmountProfile): AnomalyFlag[] {
  const ordered = txns.map((t, index): Indexed => ({ t, index })).sort((a, b) => a.t.atMs - b.t.atMs || a.index - b.index);
  const flags = [...bursts(ordered), ...farAmounts(ordered, profile), ...declineRuns(ordered), ...cardDeclines(ordered), ...repeatCards(ordered), ...doubleCharges(ordered)];
  const rank = (id: AnomalyRuleId): number => ANOMALY_RULES.findIndex((r) => r.id === id);
  flags.sort((a, b) => a.firstAtMs - b.firstAtMs || rank(a.rule) - rank(b.rule) || a.stans[0] - b.stans[0]);
  return flags.slice(0, FLAGS_COUNT_MAX);
}

/** Approved and still standing (a voided or reversed sale charged nobody). */
function isApprovedSale(t: AnomalyTxn): boolean {
  return t.kind === 'sale' && t.status === 'approved';
}

/** What the host said: declined, approved (later voided or reversed too), or nothing known. */
function hostOutcome(t: AnomalyTxn): 'declined' | 'approved' | undefined {
  if (t.status === 'declined') return 'declined';
  if (t.status === 'approved' || t.status === 'voided' || (t.status === 'reversed' && t.responseCode === '00')) return 'approved';
  // failed (never sent), pending (no answer), reversed without an answer: the host's verdict is unknown.
  return undefined;
}

function tagKey(t: AnomalyTxn): string | undefined {
  return t.panTag && t.panTag.length > 0 ? Buffer.from(t.panTag).toString('hex') : undefined;
}

function flagOf(rule: AnomalyRuleId, group: readonly Indexed[], text: { zh: string; en: string }): AnomalyFlag {
  const r = ANOMALY_RULES.find((x) => x.id === rule)!;
  return {
    rule, severity: r.severity, stans: group.slice(0, FLAG_STANS_COUNT_MAX).map((g) => g.t.stan), txnCount: group.length,
    firstAtMs: group[0].t.atMs, lastAtMs: group[group.length - 1].t.atMs, text,
  };
}

function minutes(ms: number): number {
  return Math.round(ms / 60_000);
}

/**
 * Members of every window of at least `countMin` items whose first and last are at most
 * `windowMs` apart, as groups: overlapping windows merge into one group (one burst, one flag).
 */
function windows(items: readonly Indexed[], countMin: number, windowMs: number): Indexed[][] {
  const marked = new Array<boolean>(items.length).fill(false);
  const windowEnd = new Array<number>(items.length).fill(-1); // for each start: the last member of its window
  let lo = 0;
  for (let hi = 0; hi < items.length; hi++) {
    while (items[hi].t.atMs - items[lo].t.atMs > windowMs) lo++;
    if (hi - lo + 1 >= countMin) {
      for (let k = lo; k <= hi; k++) marked[k] = true;
      windowEnd[lo] = hi;
    }
  }
  const groups: Indexed[][] = [];
  let current: Indexed[] = [];
  let reach = -1; // the furthest member the current group's windows cover
  for (let k = 0; k < items.length; k++) {
    if (!marked[k]) continue;
    if (current.length > 0 && k > reach) { groups.push(current); current = []; }
    current.push(items[k]);
    reach = Math.max(reach, windowEnd[k], k);
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

function bursts(ordered: readonly Indexed[]): AnomalyFlag[] {
  const small = ordered.filter((x) => isApprovedSale(x.t) && x.t.amountFen < BURST_AMOUNT_FEN_MAX);
  return windows(small, BURST_COUNT_MIN, BURST_WINDOW_MS).map((g) => {
    const span = minutes(g[g.length - 1].t.atMs - g[0].t.atMs);
    return flagOf('ANM-BURST', g, {
      zh: `${span}分内小额消费${g.length}笔`,
      en: `${g.length} small sales in ${span} min`,
    });
  });
}

function farAmounts(ordered: readonly Indexed[], profile: AmountProfile): AnomalyFlag[] {
  const limit = profile.thresholdFen;
  if (limit === undefined) return []; // too little history: the rule stays silent
  return ordered.filter((x) => isApprovedSale(x.t) && x.t.amountFen > limit).map((x) => flagOf('ANM-AMOUNT', [x], {
    zh: `大额消费${yuan(x.t.amountFen)}元，超过${yuan(limit)}元`,
    en: `Sale ${yuan(x.t.amountFen)} above usual ${yuan(limit)}`,
  }));
}

function declineRuns(ordered: readonly Indexed[]): AnomalyFlag[] {
  const out: AnomalyFlag[] = [];
  let run: Indexed[] = [];
  const close = (): void => {
    if (run.length >= DECLINE_RUN_COUNT_MIN) {
      out.push(flagOf('ANM-DECLINES', run, { zh: `连续${run.length}笔交易被拒`, en: `${run.length} declines in a row` }));
    }
    run = [];
  };
  for (const x of ordered) {
    const o = hostOutcome(x.t);
    if (o === 'declined') run.push(x);
    else if (o === 'approved') close();
    // unknown outcomes neither extend nor break the run
  }
  close();
  return out;
}

function byCard(items: readonly Indexed[]): Indexed[][] {
  const groups = new Map<string, Indexed[]>();
  for (const x of items) {
    const key = tagKey(x.t);
    if (key === undefined) continue;
    const g = groups.get(key);
    if (g) g.push(x);
    else groups.set(key, [x]);
  }
  return [...groups.values()];
}

function cardDeclines(ordered: readonly Indexed[]): AnomalyFlag[] {
  return byCard(ordered.filter((x) => hostOutcome(x.t) === 'declined'))
    .filter((g) => g.length >= CARD_DECLINE_COUNT_MIN)
    .map((g) => flagOf('ANM-DECLINE-CARD', g, { zh: `同一卡被拒${g.length}次`, en: `One card declined ${g.length} times` }));
}

function repeatCards(ordered: readonly Indexed[]): AnomalyFlag[] {
  return byCard(ordered.filter((x) => isApprovedSale(x.t)))
    .flatMap((g) => windows(g, REPEAT_CARD_COUNT_MIN, REPEAT_CARD_WINDOW_MS))
    .map((g) => {
      const span = minutes(g[g.length - 1].t.atMs - g[0].t.atMs);
      return flagOf('ANM-REPEAT-CARD', g, { zh: `同一卡${span}分内消费${g.length}笔`, en: `One card: ${g.length} sales in ${span} min` });
    });
}

/** Consecutive approved sales of one card with one amount, at most the window apart: one flag per pair. */
function doubleCharges(ordered: readonly Indexed[]): AnomalyFlag[] {
  const out: AnomalyFlag[] = [];
  for (const g of byCard(ordered.filter((x) => isApprovedSale(x.t)))) {
    const lastByAmount = new Map<number, Indexed>();
    for (const x of g) {
      const prev = lastByAmount.get(x.t.amountFen);
      if (prev && x.t.atMs - prev.t.atMs <= DOUBLE_CHARGE_WINDOW_MS) {
        out.push(flagOf('ANM-DOUBLE', [prev, x], {
          zh: `可能重复扣款${yuan(x.t.amountFen)}元`,
          en: `Possible double charge ${yuan(x.t.amountFen)}`,
        }));
      }
      lastByAmount.set(x.t.amountFen, x);
    }
  }
  return out;
}

// ---------------------------------------------------------------- status upload

/**
 * The rules that raised a flag, as a bitmask in two hex digits ('00': none; bit = ANOMALY_RULES
 * bit): fixed width and tiny for the status upload; the host decodes it with the same table.
 */
export function anomalyDigest(flags: ReadonlyArray<{ readonly rule: string }>): string {
  let mask = 0;
  // A rule id this version does not know (a journal written by a newer one) sets no bit.
  for (const f of flags) { const bit = ANOMALY_RULES.find((r) => r.id === f.rule)?.bit; if (bit !== undefined) mask |= 1 << bit; }
  return mask.toString(16).toUpperCase().padStart(2, '0');
}

/** The short codes of the rules that raised a flag, in rule order, joined by '+' ('' when none): logs, the day report. */
export function anomalyCodes(flags: readonly AnomalyFlag[]): string {
  const raised = new Set(flags.map((f) => f.rule));
  return ANOMALY_RULES.filter((r) => raised.has(r.id)).map((r) => r.code).join('+');
}
