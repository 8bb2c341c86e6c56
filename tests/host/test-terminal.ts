/**
 * Just enough of a terminal to drive the simulator in tests: builders, transport and parsers
 * wired together, with the STAN and batch kept in memory (the real terminal keeps them in the
 * journal and runs a state machine; this is neither).
 */
import { HostTransport } from '../../runtime/host/transport';
import { WorkingKeys } from '../../runtime/host/crypto';
import {
  EntryMode, FinancialResult, Request, ResponseBase, ReversalReason, ReversalResult, SettlementResult, SettlementTotals,
  SignOnResult, buildBalance, buildBatchUploadEnd, buildBatchUploadRecord, buildRefund, buildReversal, buildSale,
  buildSettlement, buildSignOn, buildSignatureUpload, buildVoid, encodeRequest, parseAckResponse, parseFinancialResponse,
  parseReversalResponse, parseSettlementResponse, parseSignOnResponse, reversalInputOf,
} from '../../runtime/host/messages';
import { IDS, PAN, TMK, TRACK2, profile } from './fixtures';

export class TestTerminal {
  stan = 0;
  batch = 1;
  keys: WorkingKeys | undefined;
  readonly transport: HostTransport;

  constructor(port: number, readonly tmk = TMK, readonly ids = IDS, responseTimeoutMs = 2000) {
    this.transport = new HostTransport({ host: '127.0.0.1', port, profile, connectTimeoutMs: 2000, responseTimeoutMs });
  }

  nextStan(): number {
    this.stan = this.stan >= 999_999 ? 1 : this.stan + 1;
    return this.stan;
  }

  async send(req: Request): Promise<Buffer> {
    return this.transport.exchange(encodeRequest(profile, req, { mak: this.keys?.mak }));
  }

  async signOn(): Promise<SignOnResult> {
    const req = buildSignOn(profile, { ids: this.ids, stan: this.nextStan(), batch: this.batch, operator: '001' });
    const r = parseSignOnResponse(profile, req, await this.send(req), this.tmk);
    if (r.keys) this.keys = r.keys;
    return r;
  }

  saleRequest(amountFen: number, entryMode: EntryMode = '022'): Request {
    return buildSale(profile, { ids: this.ids, stan: this.nextStan(), batch: this.batch, pan: PAN, amountFen, expiry: '2512', entryMode, track2: TRACK2 });
  }

  async financial(req: Request): Promise<FinancialResult> {
    return parseFinancialResponse(profile, req, await this.send(req), { mak: this.keys?.mak });
  }

  async sale(amountFen: number): Promise<{ req: Request; res: FinancialResult }> {
    const req = this.saleRequest(amountFen);
    return { req, res: await this.financial(req) };
  }

  async voidOf(sale: { req: Request; res: FinancialResult }, amountFen: number): Promise<{ req: Request; res: FinancialResult }> {
    const original = { batch: this.batch, stan: Number(sale.req.message.fields.get(11)), rrn: sale.res.rrn, authCode: sale.res.authCode ?? '' };
    const req = buildVoid(profile, { ids: this.ids, stan: this.nextStan(), batch: this.batch, pan: PAN, entryMode: '022', amountFen, original });
    return { req, res: await this.financial(req) };
  }

  /** A refund by the sale's reference number and host date; batch and STAN 000000 unless given. */
  async refundOf(sale: { rrn: string; hostDate?: string }, amountFen: number, batchStan: { batch: number; stan: number } = { batch: 0, stan: 0 }): Promise<FinancialResult> {
    const original = { ...batchStan, rrn: sale.rrn, dateMmdd: sale.hostDate ?? '0101' };
    const req = buildRefund(profile, { ids: this.ids, stan: this.nextStan(), batch: this.batch, pan: PAN, entryMode: '022', amountFen, original });
    return this.financial(req);
  }

  async balance(pinBlock: Buffer): Promise<FinancialResult> {
    return this.financial(buildBalance(profile, { ids: this.ids, stan: this.nextStan(), batch: this.batch, pan: PAN, entryMode: '021', pinBlock }));
  }

  async reverse(original: Request, reason: ReversalReason = '98', authCode?: string): Promise<ReversalResult> {
    const req = buildReversal(profile, reversalInputOf(original, this.ids, reason, authCode));
    return parseReversalResponse(profile, req, await this.send(req), { mak: this.keys?.mak });
  }

  async settle(totals: SettlementTotals): Promise<SettlementResult> {
    const req = buildSettlement(profile, { ids: this.ids, stan: this.nextStan(), batch: this.batch, operator: '001', totals });
    return parseSettlementResponse(profile, req, await this.send(req));
  }

  async uploadRecord(sale: { req: Request; res: FinancialResult }): Promise<ResponseBase> {
    const f = sale.req.message.fields;
    const req = buildBatchUploadRecord(profile, {
      ids: this.ids, stan: this.nextStan(), batch: this.batch, pan: PAN, processingCode: f.get(3) as string,
      amountFen: Number(f.get(4)), entryMode: f.get(22) as EntryMode, rrn: sale.res.rrn, authCode: sale.res.authCode ?? '',
    });
    return parseAckResponse(profile, req, await this.send(req));
  }

  async uploadEnd(count: number): Promise<ResponseBase> {
    const req = buildBatchUploadEnd(profile, { ids: this.ids, stan: this.nextStan(), batch: this.batch, count });
    return parseAckResponse(profile, req, await this.send(req));
  }

  async signature(rrn: string): Promise<ResponseBase> {
    const req = buildSignatureUpload(profile, { ids: this.ids, stan: this.nextStan(), batch: this.batch, settlementDateMmdd: '0101', rrn, image: Buffer.alloc(500, 7) });
    return parseAckResponse(profile, req, await this.send(req));
  }
}
