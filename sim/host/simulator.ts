/**
 * The acquirer host simulator: a TCP server on loopback that speaks the "cup" profile
 * (docs/PROTOCOL.md) with the same packager and crypto as the terminal, keeps its
 * own ledger, and can be told to misbehave (faults.ts).
 *
 * What a host does, modelled here: sign-on issues fresh working keys under the terminal's TMK;
 * MACed requests with a bad or missing MAC are answered A0 and not processed; sales are
 * recorded with the RRN and auth code issued; a void or reversal marks what it cancels;
 * settlement compares the terminal's totals with the ledger's and closes the batch; batch
 * upload and signature upload are accepted. When a response is delayed or lost by a fault, the
 * host has still done the work: that is exactly the case reversals exist for.
 *
 * Chip sales: a sale with entry mode 05x (contact IC) or 07x (contactless) must carry field 55
 * (BER-TLV) with the cryptogram (9F26, 8 bytes) and the card's counter (9F36, 2 bytes); without
 * them, or with 55 that is not TLV, it is declined 12 (invalid transaction: the profile's code
 * for a request the host will not process) and nothing is recorded. The cryptogram itself is
 * not verified (the host has no issuer keys). Every request's field 55 is kept in `requests()`
 * so a test can compare a reversal's 55 with its sale's, byte for byte.
 *
 * Logs carry masked PANs only (`panMasked`; the logger redacts any `pan` key anyway).
 */
import * as net from 'node:net';
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { Logger, maskPan, silentLogger } from '../../common/log';
import { CUP_PROFILE, HostProfile, MessageDef, RequestType, classifyRequest } from '../../runtime/host/fields';
import { FieldValue, IsoMessage, bytesField, macData, packFrame, swapTpdu, textField, unpackFrame } from '../../runtime/host/packager';
import { WorkingKeys, ecbMac, verifyMac, wrapWorkingKeys } from '../../runtime/host/crypto';
import { SettlementTotals, parseTotals, totalsDigits } from '../../runtime/host/messages';
import { primitives } from '../../runtime/txn/emv';
import { Ledger, LedgerEntry, TxnKey } from './ledger';
import { FaultPlan, FaultSpec } from './faults';
import { hhmmssIn, mmddIn, TZ_OFFSET_MINUTES_DEFAULT } from '../../common/time';

/** The host's zone for fields 12, 13 and 15: China, UTC+8 (the profile). */
const HOST_TZ_OFFSET_MINUTES = TZ_OFFSET_MINUTES_DEFAULT;

export interface SimTerminal {
  readonly tid: string;
  readonly mid: string;
  /** 16 bytes, double-length 3DES. */
  readonly tmk: Buffer;
}

/** The profile's test identities (simulator board only). */
export const TEST_TERMINAL: SimTerminal = {
  tid: '12345678',
  mid: '123456789012345',
  tmk: Buffer.from('0123456789ABCDEFFEDCBA9876543210', 'hex'),
};

export interface AcquirerSimulatorOptions {
  readonly profile?: HostProfile;
  /** Default: the test identities. */
  readonly terminals?: readonly SimTerminal[];
  readonly logger?: Logger;
  /**
   * The host's clock, ms since the epoch. Required: a simulator that read the real clock while the
   * terminal's is pinned made refunds' original dates lie in the future when the calendar moved on.
   * `npm start` and `pos host-sim` pass Date.now; tests pass the terminal's own clock.
   */
  readonly clock: () => number;
  /** Source of working keys; inject a seeded one for reproducible runs. */
  readonly randomBytes?: (count: number) => Buffer;
  /** 'one-shot' (profile default): close after each response. */
  readonly connectionMode?: 'one-shot' | 'keep-alive';
  /** Answer to a balance inquiry. */
  readonly balanceFen?: number;
  readonly idleTimeoutMs?: number;
}

export const CONNECTIONS_MAX = 64;
export const IDLE_TIMEOUT_MS_DEFAULT = 30_000;
/** Bytes a connection may have buffered before the host gives up on it. */
const PENDING_FRAMES_MAX = 4;
const RRN_DIGITS = 12;
const AUTH_DIGITS = 6;
const GARBAGE_BYTES = 40;

/** A non-approval code a host gives a terminal it does not know. */
const CODE_UNKNOWN_TERMINAL = '03';
/** A chip sale without usable IC card data (field 55): "invalid transaction". */
export const CODE_BAD_CHIP_DATA = '12';

/** One request as answered (`requests()`). */
export interface HostRequestRecord {
  readonly tid: string;
  readonly type: RequestType | undefined;
  readonly stan: number;
  /** 39 of the answer. */
  readonly code: string;
  /** 39 of the request (a reversal's reason). */
  readonly requestCode?: string;
  /** 55 of the request, as received (a copy made when it arrived; do not write to it). */
  readonly field55?: Buffer;
  /** 61 of the request (a void's, refund's or reversal's original), as received. */
  readonly field61?: string;
}

interface TerminalState {
  readonly terminal: SimTerminal;
  keys?: WorkingKeys;
}

interface Answer {
  readonly code: string;
  readonly fields?: ReadonlyArray<readonly [number, FieldValue]>;
}

interface Handled {
  readonly bytes: Buffer;
  readonly faults: readonly FaultSpec[];
  readonly hasMac: boolean;
}

/** One request as the host sees it. */
interface Incoming {
  readonly m: IsoMessage;
  readonly macData?: Buffer;
  readonly def: MessageDef | undefined;
  readonly tid: string;
  readonly batch: number;
  readonly stan: number;
  readonly state: TerminalState | undefined;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

export class AcquirerSimulator {
  readonly profile: HostProfile;
  readonly ledger = new Ledger();
  private readonly terminals = new Map<string, TerminalState>();
  private readonly faults = new FaultPlan();
  private readonly log: Logger;
  private readonly clock: () => number;
  private readonly randomBytes: (count: number) => Buffer;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private rrnSeq = 1;
  private authSeq = 1;
  private garbageSeed = 0x9e3779b9;
  private readonly history: HostRequestRecord[] = [];

  constructor(private readonly options: AcquirerSimulatorOptions) {
    this.profile = options.profile ?? CUP_PROFILE;
    this.log = (options.logger ?? silentLogger).child({ component: 'host-sim' });
    this.clock = options.clock;
    this.randomBytes = options.randomBytes ?? cryptoRandomBytes;
    for (const t of options.terminals ?? [TEST_TERMINAL]) this.addTerminal(t);
    this.server = net.createServer((s) => this.onConnection(s));
  }

  // ------------------------------------------------------------ control API

  addTerminal(t: SimTerminal): void {
    if (!/^[\x20-\x7e]{8}$/.test(t.tid) || !/^[\x20-\x7e]{15}$/.test(t.mid) || t.tmk.length !== 16) {
      throw new Error('terminal needs an 8-character TID, 15-character MID and 16-byte TMK');
    }
    this.terminals.set(t.tid, { terminal: t });
  }

  /** Adds a fault for the next matching requests (see faults.ts). */
  setFault(spec: FaultSpec): void {
    this.faults.add(spec);
    this.log.info({ fault: spec }, 'fault set');
  }

  clearFaults(): void {
    this.faults.clear();
  }

  activeFaults(): FaultSpec[] {
    return this.faults.list();
  }

  /** The clear working keys last issued to a terminal (tests MAC requests with them). */
  workingKeys(tid: string): WorkingKeys | undefined {
    const k = this.terminals.get(tid)?.keys;
    return k === undefined ? undefined : { pik: Buffer.from(k.pik), mak: Buffer.from(k.mak), tdk: Buffer.from(k.tdk) };
  }

  /** Every request answered, in order: TID, type, STAN, the 39 sent, the request's own 39 (a reversal's reason) and its 55. */
  requests(): ReadonlyArray<HostRequestRecord> {
    return [...this.history];
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => { this.server.off('error', reject); resolve(); });
    });
    const bound = this.port;
    this.log.info({ host, port: bound }, 'host simulator listening');
    return bound;
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a !== null ? a.port : 0;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const s of this.sockets) s.destroy();
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ------------------------------------------------------------ connections

  private onConnection(socket: net.Socket): void {
    if (this.sockets.size >= CONNECTIONS_MAX) { socket.destroy(); return; }
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', (e) => this.log.debug({ err: e.message }, 'connection error'));
    socket.setTimeout(this.options.idleTimeoutMs ?? IDLE_TIMEOUT_MS_DEFAULT, () => socket.destroy());
    let pending = Buffer.alloc(0);
    let queue = Promise.resolve();
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      if (pending.length > PENDING_FRAMES_MAX * this.profile.frameLengthBytesMax) { socket.destroy(); return; }
      while (pending.length >= 2) {
        const total = 2 + pending.readUInt16BE(0);
        if (total > this.profile.frameLengthBytesMax) {
          this.log.warn({ frameBytes: total }, 'request frame over the limit: closing');
          socket.destroy();
          return;
        }
        if (pending.length < total) break;
        const frame = pending.subarray(0, total);
        pending = pending.subarray(total);
        queue = queue.then(() => this.serve(socket, frame)).catch((e) => {
          this.log.error({ err: String(e) }, 'host simulator failed a request');
          socket.destroy();
        });
      }
    });
  }

  private async serve(socket: net.Socket, frame: Buffer): Promise<void> {
    if (socket.destroyed) return;
    const handled = this.handle(frame);
    if (handled === undefined) { socket.destroy(); return; }
    const kinds = new Set(handled.faults.map((f) => f.kind));
    for (const f of handled.faults) if (f.kind === 'delay') await this.sleep(f.delayMs ?? 0);
    if (socket.destroyed) return;
    if (kinds.has('close-before-response')) { socket.destroy(); return; }
    let bytes = handled.bytes;
    if (kinds.has('bad-mac') && handled.hasMac) bytes = corruptMac(bytes);
    if (kinds.has('garbage')) bytes = this.garbageFrame();
    if (kinds.has('close-mid-response')) { socket.end(bytes.subarray(0, bytes.length >> 1)); return; }
    socket.write(bytes);
    if ((this.options.connectionMode ?? 'one-shot') === 'one-shot') socket.end();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.timers.delete(t); resolve(); }, ms);
      this.timers.add(t);
    });
  }

  /** A frame with a valid length and nonsense inside (the TPDU id alone is already wrong). */
  private garbageFrame(): Buffer {
    const out = Buffer.alloc(2 + GARBAGE_BYTES);
    out.writeUInt16BE(GARBAGE_BYTES, 0);
    for (let i = 2; i < out.length; i++) {
      this.garbageSeed ^= this.garbageSeed << 13; this.garbageSeed ^= this.garbageSeed >>> 17; this.garbageSeed ^= this.garbageSeed << 5;
      out[i] = this.garbageSeed & 0xff;
    }
    out[2] = 0xee;
    return out;
  }

  // ------------------------------------------------------------ protocol

  /** Request frame in, response frame out; undefined = the host cannot answer (closes). */
  handle(frame: Buffer): Handled | undefined {
    let unpacked;
    try {
      unpacked = unpackFrame(this.profile, frame);
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'unparseable request: closing');
      return undefined;
    }
    const m = unpacked.message;
    const type = classifyRequest(this.profile, m.mti, textField(m, 3), textField(m, 60), textField(m, 22));
    const def = type === undefined ? undefined : this.profile.messages[type];
    if (def === undefined && m.mti[2] !== '0' && m.mti[2] !== '2') return undefined; // not a request MTI
    const tid = textField(m, 41) ?? '';
    const f60 = textField(m, 60) ?? '';
    const incoming: Incoming = {
      m, macData: unpacked.macData, def, tid, batch: Number(f60.slice(2, 8)), stan: Number(textField(m, 11) ?? 0), state: this.terminals.get(tid),
    };
    const faults = this.faults.take(m.mti, type, def?.mac ?? false);
    const answer = this.answer(incoming, faults);
    const message = this.responseMessage(incoming, answer);
    const hasMac = message.fields.has(64);
    const requestCode = textField(m, 39);
    const field55 = bytesField(m, 55);
    const field61 = textField(m, 61);
    this.history.push({
      tid, type, stan: incoming.stan, code: answer.code, ...(requestCode !== undefined ? { requestCode } : {}), ...(field55 !== undefined ? { field55: Buffer.from(field55) } : {}),
      ...(field61 !== undefined ? { field61 } : {}),
    });
    this.log.info({ tid, type, stan: incoming.stan, code: answer.code, panMasked: maskOrUndefined(textField(m, 2)), faults: faults.map((f) => f.kind) }, 'request answered');
    return { bytes: packFrame(this.profile, { tpdu: swapTpdu(unpacked.tpdu), header: this.profile.header, message }), faults, hasMac };
  }

  private answer(r: Incoming, faults: readonly FaultSpec[]): Answer {
    if (r.def === undefined) return { code: '12' };
    if (r.state === undefined || textField(r.m, 42) !== r.state.terminal.mid) return { code: CODE_UNKNOWN_TERMINAL };
    if (r.def.mac && !this.macOk(r)) return { code: 'A0' };
    const forced = faults.find((f) => f.kind === 'response-code')?.code ?? (faults.some((f) => f.kind === 'duplicate') ? '94' : undefined);
    if (forced !== undefined && forced !== '00') return { code: forced };
    const unbalanced = faults.some((f) => f.kind === 'unbalanced-settlement');
    return this.process(r.def.type, r, unbalanced);
  }

  private macOk(r: Incoming): boolean {
    const mac = bytesField(r.m, 64);
    const keys = r.state?.keys;
    return keys !== undefined && mac !== undefined && r.macData !== undefined && verifyMac(keys.mak, r.macData, mac);
  }

  private process(type: RequestType, r: Incoming, unbalanced: boolean): Answer {
    switch (type) {
      case 'signOn': return this.signOn(r);
      case 'signOff': (r.state as TerminalState).keys = undefined; return { code: '00' };
      case 'sale': return this.sale(r);
      case 'void': return this.voidSale(r);
      case 'refund': return this.refund(r);
      case 'balance': return { code: '00', fields: [[54, `1002156C${pad(this.options.balanceFen ?? 1_000_000, 12)}`]] };
      case 'reversal': return this.reversal(r);
      case 'settlement': return this.settle(r, unbalanced);
      case 'batchUploadRecord': return this.batchUploadRecord(r);
      case 'batchUploadEnd': this.ledger.batch(r.tid, r.batch).uploadEndCount = Number(textField(r.m, 48)); return { code: '00' };
      case 'signatureUpload': this.ledger.batch(r.tid, r.batch).signatures++; return { code: '00' };
      // Version 2 messages this simulator does not speak yet: what the profile says a host that
      // does not know them answers.
      default: return { code: '12' };
    }
  }

  private signOn(r: Incoming): Answer {
    const state = r.state as TerminalState;
    const keys: WorkingKeys = { pik: this.randomBytes(16), mak: this.randomBytes(16), tdk: this.randomBytes(16) };
    state.keys = keys;
    // 60.2 of the 0810 is the batch the host expects (docs/PROTOCOL.md, "Host time and parameters from
    // sign-on"): the terminal's own when it is at or past the host's, else the host's. 12/13 carry
    // the host's time (responseMessage).
    const f60 = textField(r.m, 60) ?? '00000000004';
    const expected = Math.max(r.batch, this.ledger.expectedBatch(r.tid));
    return { code: '00', fields: [[62, wrapWorkingKeys(state.terminal.tmk, keys)], [60, f60.slice(0, 2) + pad(expected, 6) + f60.slice(8)]] };
  }

  private newEntry(r: Incoming, type: LedgerEntry['type'], original?: TxnKey): LedgerEntry {
    const now = this.clock();
    return {
      tid: r.tid, batch: r.batch, stan: r.stan, type, amountFen: Number(textField(r.m, 4)), panMasked: maskPan(textField(r.m, 2) ?? ''),
      rrn: pad(this.rrnSeq++, RRN_DIGITS), authCode: pad(this.authSeq++, AUTH_DIGITS), hostDate: mmdd(now), hostTime: hhmmss(now),
      status: 'approved', refundedFen: 0, original,
    };
  }

  private approved(e: LedgerEntry): Answer {
    this.ledger.add(e);
    return { code: '00', fields: [[37, e.rrn], [38, e.authCode]] };
  }

  /** Money can only move in an open batch, once per (TID, batch, STAN). */
  private refuseFinancial(r: Incoming): Answer | undefined {
    if (this.ledger.batch(r.tid, r.batch).closed) return { code: '12' };
    if (this.ledger.find(r.tid, r.batch, r.stan) !== undefined) return { code: '94' };
    return undefined;
  }

  private sale(r: Incoming): Answer {
    return this.refuseFinancial(r) ?? this.refuseChipData(r) ?? this.approved(this.newEntry(r, 'sale'));
  }

  /** A contact or contactless sale needs 55 with 9F26 (8 bytes) and 9F36 (2 bytes). */
  private refuseChipData(r: Incoming): Answer | undefined {
    const mode = textField(r.m, 22) ?? '';
    if (!/^0[57]/.test(mode)) return undefined;
    const f55 = bytesField(r.m, 55);
    let tags: Map<number, Buffer>;
    try {
      tags = f55 === undefined ? new Map() : primitives(f55);
    } catch {
      tags = new Map();
    }
    if (tags.get(0x9f26)?.length === 8 && tags.get(0x9f36)?.length === 2) return undefined;
    this.log.warn({ tid: r.tid, stan: r.stan, entryMode: mode, field55Bytes: f55?.length ?? 0 }, 'chip sale without cryptogram in field 55: declined');
    return { code: CODE_BAD_CHIP_DATA };
  }

  private voidSale(r: Incoming): Answer {
    const refused = this.refuseFinancial(r);
    if (refused) return refused;
    const f61 = textField(r.m, 61) ?? '';
    const sale = this.ledger.find(r.tid, Number(f61.slice(0, 6)), Number(f61.slice(6, 12)));
    if (sale === undefined || sale.type !== 'sale' || sale.status !== 'approved' || sale.rrn !== textField(r.m, 37)) return { code: '25' };
    if (sale.voidedBy !== undefined || sale.batch !== r.batch || sale.amountFen !== Number(textField(r.m, 4)) || sale.refundedFen > 0) return { code: '12' };
    const entry = this.newEntry(r, 'void', sale);
    sale.voidedBy = entry;
    return this.approved(entry);
  }

  private refund(r: Incoming): Answer {
    const refused = this.refuseFinancial(r);
    if (refused) return refused;
    const sale = this.ledger.findSaleByRrn(r.tid, textField(r.m, 37) ?? '');
    if (sale === undefined || sale.status !== 'approved' || !originalMatches(textField(r.m, 61) ?? '', sale)) return { code: '25' };
    const amountFen = Number(textField(r.m, 4));
    if (sale.voidedBy !== undefined || amountFen > sale.amountFen - sale.refundedFen) return { code: '12' };
    sale.refundedFen += amountFen;
    return this.approved(this.newEntry(r, 'refund', sale));
  }

  /** Unknown original: 25. Already reversed: 00 again (the terminal only needs it gone). */
  private reversal(r: Incoming): Answer {
    const e = this.ledger.find(r.tid, r.batch, r.stan);
    if (e === undefined) return { code: '25' };
    if (e.status === 'reversed') return { code: '00' };
    if (this.ledger.batch(r.tid, r.batch).closed || e.amountFen !== Number(textField(r.m, 4))) return { code: '12' };
    e.status = 'reversed';
    const original = e.original && this.ledger.find(e.original.tid, e.original.batch, e.original.stan);
    if (e.type === 'void' && original) original.voidedBy = undefined;
    if (e.type === 'refund' && original) original.refundedFen -= e.amountFen;
    return { code: '00' };
  }

  /** Compares the terminal's totals with the ledger's; the batch is closed either way. */
  private settle(r: Incoming, unbalanced: boolean): Answer {
    const f48 = textField(r.m, 48) ?? '';
    const batch = this.ledger.batch(r.tid, r.batch);
    let terminalTotals: SettlementTotals;
    try {
      terminalTotals = parseTotals(f48).totals;
    } catch {
      return { code: '12' };
    }
    const hostTotals = this.ledger.totals(r.tid, r.batch);
    const equal = JSON.stringify(hostTotals) === JSON.stringify(terminalTotals);
    // A settlement repeated after a lost 0510 gets the same verdict again.
    const verdict = batch.settlement?.verdict ?? (equal && !unbalanced ? 'balanced' : 'unbalanced');
    batch.settlement ??= { verdict, terminalTotals, hostTotals };
    batch.closed = true;
    const code = verdict === 'balanced' ? '1' : '2';
    const foreign = f48.length >= 62 ? f48.slice(31, 61) + '1' : totalsDigits({ saleAmountFen: 0, saleCount: 0, refundAmountFen: 0, refundCount: 0 }, '1');
    return { code: '00', fields: [[48, totalsDigits(hostTotals, code) + foreign]] };
  }

  private batchUploadRecord(r: Incoming): Answer {
    this.ledger.batch(r.tid, r.batch).uploads.push({
      stan: r.stan, rrn: textField(r.m, 37) ?? '', amountFen: Number(textField(r.m, 4)), processingCode: textField(r.m, 3) ?? '',
    });
    return { code: '00' };
  }

  private responseMessage(r: Incoming, answer: Answer): IsoMessage {
    const now = this.clock();
    const fields = new Map<number, FieldValue>();
    for (const n of [2, 3, 4, 11, 25, 41, 42, 49, 60]) {
      const v = r.m.fields.get(n);
      if (v !== undefined) fields.set(n, v);
    }
    fields.set(12, hhmmss(now));
    fields.set(13, mmdd(now));
    if (r.def?.type === 'settlement') fields.set(15, mmdd(now));
    fields.set(39, answer.code);
    for (const [n, v] of answer.fields ?? []) fields.set(n, v);
    // Declined financial answers carry an RRN too (the profile requires 37 on every one).
    if (r.def?.financial && !fields.has(37)) fields.set(37, pad(this.rrnSeq++, RRN_DIGITS));
    const mti = (parseInt(r.m.mti, 16) + 0x10).toString(16).padStart(4, '0');
    const keys = r.state?.keys;
    if (r.def?.mac && keys !== undefined) {
      fields.set(64, ecbMac(keys.mak, macData(this.profile, { mti, fields })));
    }
    return { mti, fields };
  }
}

/**
 * Field 61 of a refund against the sale its RRN names (docs/PROTOCOL.md, Clarifications): 16 digits;
 * batch + STAN either the sale's own or 000000000000 (a sale the terminal does not hold); the
 * date the sale's host date.
 */
function originalMatches(f61: string, sale: LedgerEntry): boolean {
  if (!/^\d{16}$/.test(f61) || f61.slice(12) !== sale.hostDate) return false;
  return f61.slice(0, 12) === '000000000000' || f61.slice(0, 12) === pad(sale.batch, 6) + pad(sale.stan, 6);
}

function maskOrUndefined(pan: string | undefined): string | undefined {
  return pan === undefined ? undefined : maskPan(pan);
}

/** Fields 12/13 are the host's local time in China (UTC+8), whatever the process's zone. */
function hhmmss(ms: number): string {
  return hhmmssIn(ms, HOST_TZ_OFFSET_MINUTES);
}

function mmdd(ms: number): string {
  return mmddIn(ms, HOST_TZ_OFFSET_MINUTES);
}

/** Changes the last MAC character to another hex digit: still well-formed, no longer valid. */
function corruptMac(frame: Buffer): Buffer {
  const out = Buffer.from(frame);
  const last = out.length - 1;
  out[last] = out[last] === 0x30 ? 0x31 : 0x30;
  return out;
}
