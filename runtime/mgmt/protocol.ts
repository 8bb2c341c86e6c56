/**
 * The terminal-management channel's wire contract (docs/MANAGEMENT.md): topic names, the command
 * a console sends, the acknowledgement the terminal answers, and the status it keeps retained.
 * Pure functions only; the MQTT session is client.ts. Anything that arrives from the broker is
 * untrusted: `parseCommand` never throws, it returns a refusal that names what was wrong.
 */
import { ErrorId, PosError, invariant, isPosError } from '../../common/errors';
import type { TxnView } from '../txn/engine';
import { VERSION_RE } from '../records';

/** Version of every JSON document on the channel; a console refuses a major it does not know. */
export const MGMT_SCHEMA_VERSION = 1;
export const TOPIC_PREFIX_DEFAULT = 'pos';
/** A command payload larger than this is refused unread (a broker allows up to 256 MB). */
export const COMMAND_BYTES_MAX = 16 * 1024;
export const COMMAND_ID_CHARS_MAX = 64;
/** A serial as the factory station writes it (boot/factory.ts): it is also the topic level. */
export const SERIAL_RE = /^[A-Z0-9-]{4,32}$/;
const COMMAND_ID_RE = /^[A-Za-z0-9._:-]{1,64}$/;

/** Commands the terminal knows; anything else is refused with E-MGT-02. */
export const COMMANDS = ['status', 'set-params', 'diagnostics', 'upload-logs', 'reboot', 'lock', 'unlock', 'update', 'flag-version', 'unflag-version'] as const;
export type CommandName = (typeof COMMANDS)[number];

export interface MgmtTopics {
  /** Retained, QoS 1: `{online}`; the broker's last-will sets it to offline on an abrupt loss. */
  readonly presence: string;
  /** Retained, QoS 1: the status document, republished on change and on every heartbeat. */
  readonly status: string;
  /** Subscribed, QoS 1: commands from the console. */
  readonly cmd: string;
  /** QoS 1, not retained: one acknowledgement per step of a command. */
  readonly ack: string;
  /** QoS 1, not retained: events the terminal reports on its own (queued while offline). */
  readonly event: string;
  /**
   * QoS 1, not retained: one document per approved transaction, for the acquirer's e-receipt
   * service (queued while offline, like events).
   */
  readonly receipt: string;
}

export function topicsFor(serial: string, prefix = TOPIC_PREFIX_DEFAULT): MgmtTopics {
  if (!SERIAL_RE.test(serial)) throw new PosError('BRD_INVALID', `management serial "${serial}": 4..32 of A-Z 0-9 -`);
  const base = `${prefix}/${serial}`;
  return { presence: `${base}/presence`, status: `${base}/status`, cmd: `${base}/cmd`, ack: `${base}/ack`, event: `${base}/event`, receipt: `${base}/receipt` };
}

export interface Command {
  readonly id: string;
  readonly cmd: CommandName;
  readonly args: Readonly<Record<string, unknown>>;
  /** The console's deadline (ms since the epoch, the terminal's clock): later, it is refused E-MGT-06. */
  readonly expiresAtMs?: number;
}

export type AckResult = 'accepted' | 'done' | 'refused';

export interface Ack {
  readonly v: number;
  /** The command's id, or null when the payload had none that could be read. */
  readonly id: string | null;
  readonly cmd: string | null;
  readonly result: AckResult;
  /** E-XXX-nn from common/errors.ts on a refusal; null otherwise. */
  readonly code: string | null;
  readonly message: string;
  readonly atMs: number;
  /** What a `done` returns (the diagnostics report, the logs, the parameters in force). */
  readonly data?: unknown;
}

export type ParsedCommand = { readonly ok: true; readonly command: Command } | { readonly ok: false; readonly id: string | null; readonly cmd: string | null; readonly error: PosError };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads a command payload; every way it can be wrong is a refusal, never an exception. */
export function parseCommand(payload: Buffer): ParsedCommand {
  const refuse = (id: ErrorId, message: string, got: { id?: unknown; cmd?: unknown } = {}): ParsedCommand => ({
    ok: false,
    id: typeof got.id === 'string' && COMMAND_ID_RE.test(got.id) ? got.id : null,
    cmd: typeof got.cmd === 'string' ? got.cmd.slice(0, 32) : null,
    error: new PosError(id, message),
  });
  if (payload.length > COMMAND_BYTES_MAX) return refuse('MGT_MALFORMED', `command of ${payload.length} bytes (at most ${COMMAND_BYTES_MAX})`);
  let doc: unknown;
  try { doc = JSON.parse(payload.toString('utf8')); } catch { return refuse('MGT_MALFORMED', 'payload is not JSON'); }
  if (!isRecord(doc)) return refuse('MGT_MALFORMED', 'payload is not a JSON object');
  if (typeof doc.id !== 'string' || !COMMAND_ID_RE.test(doc.id)) return refuse('MGT_MALFORMED', `id must be 1..${COMMAND_ID_CHARS_MAX} of A-Z a-z 0-9 . _ : -`, doc);
  if (typeof doc.cmd !== 'string') return refuse('MGT_MALFORMED', 'cmd must be a string', doc);
  if (!(COMMANDS as readonly string[]).includes(doc.cmd)) return refuse('MGT_UNKNOWN', `unknown command "${doc.cmd.slice(0, 32)}" (known: ${COMMANDS.join(', ')})`, doc);
  if (doc.args !== undefined && !isRecord(doc.args)) return refuse('MGT_MALFORMED', 'args must be a JSON object', doc);
  if (doc.expiresAtMs !== undefined && !(typeof doc.expiresAtMs === 'number' && Number.isSafeInteger(doc.expiresAtMs))) return refuse('MGT_MALFORMED', 'expiresAtMs must be an integer (ms since the epoch)', doc);
  return {
    ok: true,
    command: { id: doc.id, cmd: doc.cmd as CommandName, args: doc.args ?? {}, ...(doc.expiresAtMs !== undefined ? { expiresAtMs: doc.expiresAtMs } : {}) },
  };
}

export function ack(c: { id: string | null; cmd: string | null }, result: AckResult, atMs: number, extra: { code?: string | null; message?: string; data?: unknown } = {}): Ack {
  return { v: MGMT_SCHEMA_VERSION, id: c.id, cmd: c.cmd, result, code: extra.code ?? null, message: extra.message ?? '', atMs, ...(extra.data !== undefined ? { data: extra.data } : {}) };
}

/** A refusal from any error: a PosError keeps its code, anything else (a handler's bug or an OS error) is E-MGT-09. */
export function refusal(c: { id: string | null; cmd: string | null }, e: unknown, atMs: number): Ack {
  const err = isPosError(e) ? e : new PosError('MGT_FAILED', e instanceof Error ? e.message : String(e));
  return ack(c, 'refused', atMs, { code: err.code, message: err.message });
}

/** What the terminal reports about itself (the 0820/362 status upload's figures and more). */
export interface StatusInput {
  readonly version: string;
  readonly batteryPercent: number;
  readonly charging?: boolean;
  /** Journal space left before it refuses sales (KiB), as DF03 of the status upload. */
  readonly storageFreeKiB: number;
  /** The network the terminal uses now, e.g. `{ link: 'eth0', up: true }` (issue 12 items 1-3 fill it in). */
  readonly network: Readonly<Record<string, string | number | boolean>>;
  /** The last error codes shown, newest first (bounded by the caller's ring). */
  readonly lastErrors: readonly string[];
  /** DF06 of the status upload: the anomaly rules the batch raised (two hex digits), when any. */
  readonly anomalyDigest?: string;
  /** The same rules by name (docs/ANOMALY.md). */
  readonly anomalies: readonly string[];
  readonly sellingLocked: boolean;
  /** The running version is one the console flagged bad (`flag-version`): E-UPD-08 on its idle and login notice. */
  readonly versionFlagged: boolean;
  /** Every version the terminal holds flagged (its journal's list), oldest flag first. */
  readonly flaggedVersions: readonly string[];
  /** The machine's state (`idle`, `sale.amount`, ...). */
  readonly state: string;
  readonly uptimeS: number;
}

export interface StatusDocument extends StatusInput {
  readonly v: number;
  readonly serial: string;
  /** Counts every publication since start: a console sees heartbeats go by. */
  readonly seq: number;
  readonly atMs: number;
  /** Outgoing messages dropped from the offline queue since start (oldest first). */
  readonly droppedMessages: number;
  /** E-receipts waiting on disk for the broker (receipt-queue.ts); absent without the durable queue. */
  readonly receiptsQueued?: number;
  /** E-receipts the durable queue dropped (oldest first) to keep its bound, over the terminal's life. */
  readonly receiptsDropped?: number;
}

/** The queue figures a status carries besides the terminal's own. */
export interface QueueFigures { readonly droppedMessages: number; readonly receiptsQueued?: number; readonly receiptsDropped?: number }

/** The part of a status whose change is worth a publication (uptime ticks every second). */
export function statusKey(s: StatusInput, q: QueueFigures): string {
  const { uptimeS: _uptime, ...rest } = s;
  return JSON.stringify({ ...rest, ...q });
}

/** A software update offered by the console (docs/MANAGEMENT.md, "Software update offer"). */
export interface UpdateOffer {
  /** https:// only; fetched with the management CA pinned. */
  readonly url: string;
  /** SHA-256 of the package file, 64 hex digits. */
  readonly sha256: string;
  readonly version: string;
  readonly sizeBytes: number;
  /** Apply with transactions still in the batch (default: only once the batch is settled). */
  readonly allowOpenBatch: boolean;
}

/** The updater's own package limit (boot/update.ts PACKAGE_BYTES_MAX). */
export const UPDATE_BYTES_MAX = 256 * 1024 * 1024;

/** Reads an `update` command's args; throws E-MGT-01 naming the bad field. */
export function checkUpdateOffer(args: Readonly<Record<string, unknown>>): UpdateOffer {
  const bad = (field: string, why: string): never => { throw new PosError('MGT_MALFORMED', `${field}: ${why}`, { field }); };
  const { url, sha256, version, sizeBytes, allowOpenBatch } = args;
  if (typeof url !== 'string' || !/^https:\/\/[^\s/]+\/\S*$/.test(url) || url.length > 2048) bad('url', 'an https:// address');
  if (typeof sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(sha256)) bad('sha256', '64 hex digits');
  if (typeof version !== 'string' || !VERSION_RE.test(version)) bad('version', 'MAJOR.MINOR.PATCH');
  if (typeof sizeBytes !== 'number' || !Number.isSafeInteger(sizeBytes) || sizeBytes < 1 || sizeBytes > UPDATE_BYTES_MAX) bad('sizeBytes', `a whole number in 1..${UPDATE_BYTES_MAX}`);
  if (allowOpenBatch !== undefined && typeof allowOpenBatch !== 'boolean') bad('allowOpenBatch', 'true or false');
  return { url: url as string, sha256: (sha256 as string).toLowerCase(), version: version as string, sizeBytes: sizeBytes as number, allowOpenBatch: allowOpenBatch === true };
}

// ---------------------------------------------------------------- e-receipts

/** The slip's data for the acquirer's e-receipt service (docs/MANAGEMENT.md, topic `receipt`). */
export interface ReceiptDocument {
  readonly v: number;
  /**
   * What the e-receipt service dedupes on (delivery is at least once: a receipt queued on disk is
   * sent again after a restart that came before the broker's acknowledgement): `TID-BATCH-TRACE`,
   * e.g. `12345678-000001-000007`, one per transaction of a terminal.
   */
  readonly id: string;
  readonly tid: string;
  readonly mid: string;
  readonly merchantName: string;
  readonly kind: TxnView['kind'];
  readonly amountFen: number;
  /** ISO 4217: the profile's field 49 is always 156. */
  readonly currency: 'CNY';
  readonly batch: number;
  readonly stan: number;
  readonly rrn?: string;
  readonly authCode?: string;
  /** The host's MMDD and hhmmss (fields 13 and 12), as the slip prints them. */
  readonly hostDate?: string;
  readonly hostTime?: string;
  /** The terminal's clock when the transaction began (ms since the epoch). */
  readonly atMs: number;
  /** The card as the slip shows it (first 6, last 4); absent for a QR payment. */
  readonly panMasked?: string;
  readonly entryMode: string;
  /** A QR payment: wallet, the host's order number, the payer as the host masked it. */
  readonly qr?: { readonly wallet?: string; readonly orderNo?: string; readonly payerMasked?: string };
  /** Approved by the terminal offline (离线): the advice may still be refused by the host. */
  readonly offline?: boolean;
  /** The address the slip's QR code holds (the host's DF1A), when it set one. */
  readonly url?: string;
}

/** A masked card number as the slip prints it: at most 6 digits, stars, at most 4 digits. */
const PAN_MASKED_RE = /^[0-9]{0,6}\*+[0-9]{0,4}$/;
const RECEIPT_ID_RE = /^[0-9A-Za-z]{1,16}-\d{6}-\d{6}$/;

/** The e-receipt id of a transaction: TID, batch and trace (ReceiptDocument.id). */
export function receiptId(tid: string, batch: number, stan: number): string {
  return `${tid}-${String(batch).padStart(6, '0')}-${String(stan).padStart(6, '0')}`;
}

/**
 * Checks a receipt document before it is queued or sent and when it is read back from the queue:
 * its id, and that its card number (if any) is masked. Throws (an invariant) otherwise.
 */
export function checkReceiptDocument(d: ReceiptDocument): void {
  invariant(typeof d === 'object' && d !== null && typeof d.id === 'string' && RECEIPT_ID_RE.test(d.id), 'e-receipt: the document has no id', {});
  invariant(d.panMasked === undefined || (typeof d.panMasked === 'string' && PAN_MASKED_RE.test(d.panMasked)), 'e-receipt: the card number is not masked', { id: d.id });
}

/**
 * The e-receipt document of an approved transaction. Throws (an invariant) if the masked card
 * number is not masked: nothing beyond what the slip prints may leave the terminal.
 */
export function receiptDocument(t: TxnView, o: { readonly tid: string; readonly mid: string; readonly merchantName: string; readonly url?: string }): ReceiptDocument {
  invariant(t.panMasked === '' || PAN_MASKED_RE.test(t.panMasked), 'e-receipt: the card number is not masked', { stan: t.stan });
  const qr = t.qr ? { ...(t.qr.wallet ? { wallet: t.qr.wallet } : {}), ...(t.qr.orderNo ? { orderNo: t.qr.orderNo } : {}), ...(t.qr.payerMasked ? { payerMasked: t.qr.payerMasked } : {}) } : undefined;
  return {
    v: MGMT_SCHEMA_VERSION, id: receiptId(o.tid, t.batch, t.stan), tid: o.tid, mid: o.mid, merchantName: o.merchantName, kind: t.kind, amountFen: t.amountFen, currency: 'CNY',
    batch: t.batch, stan: t.stan, ...(t.rrn ? { rrn: t.rrn } : {}), ...(t.authCode ? { authCode: t.authCode } : {}),
    ...(t.hostDate ? { hostDate: t.hostDate } : {}), ...(t.hostTime ? { hostTime: t.hostTime } : {}), atMs: t.atMs,
    ...(t.panMasked !== '' ? { panMasked: t.panMasked } : {}), entryMode: t.entryMode, ...(qr ? { qr } : {}),
    ...(t.offline ? { offline: true } : {}), ...(o.url ? { url: o.url } : {}),
  };
}
