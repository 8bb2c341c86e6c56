/**
 * Receipts and the settlement report as printer jobs (hal/printer.ts), in zh-CN or en.
 *
 * What a slip carries: merchant name, TID/MID, the copy (merchant / customer), transaction kind,
 * masked PAN (6 + 4: the engine never hands out more), amount in yuan, batch, STAN (trace), RRN,
 * auth code, date and time, a QR code for the e-receipt (no card data in it), the signature
 * image when one was captured (merchant copy), and a reprint marking 重打印 / DUPLICATE.
 *
 * Printing is a separate step from the transaction: a failed print (paper out) leaves the
 * receipt pending (no receipt-printed record), and the machine offers a reprint when paper is
 * back. A reprint never contacts the host: it is built from the journal alone.
 */
import { PrintBlock, PrintJob, Printer, MonoImage } from '../hal/printer';
import { SettlementTotals, SettlementVerdict } from './host/messages';
import { TxnView, TerminalEngine } from './txn/engine';
import type { AnomalyNote, OfflineNotTaken } from './records';
import { operatorShown } from './operators';
import { linkName } from './host/link-name';
import { TZ_OFFSET_MINUTES_DEFAULT, formatDateTime, hostInstant } from '../common/time';
import { yuan } from '../common/money';

export type Lang = 'zh' | 'en';
export type Copy = 'merchant' | 'customer';

const T = {
  zh: {
    title: 'POS签购单', merchantCopy: '商户存根', customerCopy: '持卡人存根', merchant: '商户名称', tid: '终端号', mid: '商户号',
    card: '卡号', kind: { sale: '消费', void: '消费撤销', refund: '退货', preAuth: '预授权', preAuthVoid: '预授权撤销', completion: '预授权完成', completionVoid: '预授权完成撤销', qrSale: '扫码消费', qrVoid: '扫码撤销', qrRefund: '扫码退货' }, amount: '金额', batch: '批次号', stan: '凭证号',
    rrn: '参考号', auth: '授权码', date: '日期时间', operator: '操作员', reprint: '重打印', sign: '持卡人签名', eReceipt: '扫码查看电子签购单',
    noSignature: '免签', report: '结算单', sales: '消费', refunds: '退货', count: '笔数', total: '金额', verdict: { balanced: '对账平', unbalanced: '对账不平', error: '对账错误' },
    agree: '本人确认以上交易，同意将其记入本卡账户',
    anomalies: '异常提示', offline: '离线', link: '线路', offlineNotTaken: '离线交易未被受理', rejected: '拒绝', abandoned: '放弃', abandonedTitle: '放弃上送的离线交易',
    unknown: (n: number) => `放弃，结果未知（已上送${n}次）`, hostMayHave: '主机可能已入账：请向收单机构核实',
  },
  en: {
    title: 'POS SALES SLIP', merchantCopy: 'MERCHANT COPY', customerCopy: 'CUSTOMER COPY', merchant: 'MERCHANT', tid: 'TID', mid: 'MID',
    card: 'CARD', kind: { sale: 'SALE', void: 'VOID', refund: 'REFUND', preAuth: 'PRE-AUTH', preAuthVoid: 'PRE-AUTH VOID', completion: 'AUTH COMPLETION', completionVoid: 'COMPLETION VOID', qrSale: 'QR SALE', qrVoid: 'QR VOID', qrRefund: 'QR REFUND' }, amount: 'AMOUNT', batch: 'BATCH', stan: 'TRACE',
    rrn: 'RRN', auth: 'AUTH', date: 'DATE/TIME', operator: 'OPERATOR', reprint: 'DUPLICATE', sign: 'CARDHOLDER SIGNATURE', eReceipt: 'Scan for the e-receipt',
    noSignature: 'NO SIGNATURE REQUIRED', report: 'SETTLEMENT REPORT', sales: 'SALES', refunds: 'REFUNDS', count: 'COUNT', total: 'TOTAL', verdict: { balanced: 'BALANCED', unbalanced: 'UNBALANCED', error: 'ERROR' },
    agree: 'I agree to the transaction above',
    anomalies: 'ANOMALIES', offline: 'OFFLINE', link: 'LINK', offlineNotTaken: 'OFFLINE SALES NOT TAKEN', rejected: 'REJECTED', abandoned: 'GIVEN UP', abandonedTitle: 'OFFLINE SALES GIVEN UP',
    unknown: (n: number) => `GIVEN UP, OUTCOME UNKNOWN (SENT ${n} TIMES)`, hostMayHave: 'HOST MAY HAVE IT: CHECK WITH THE ACQUIRER',
  },
} as const;

export interface ReceiptOptions {
  readonly lang: Lang;
  readonly copy: Copy;
  readonly reprint: boolean;
  readonly merchantName: string;
  readonly tid: string;
  readonly mid: string;
  readonly printedAtMs: number;
  /** The terminal's zone, minutes east of UTC (default UTC+8). */
  readonly tzOffsetMinutes?: number;
  readonly signature?: MonoImage;
  /**
   * The acquirer's e-receipt service (parameter download DF1A): the slip's QR code points there.
   * Unset: no QR code (a code that leads nowhere would only mislead the customer).
   */
  readonly eReceiptBase?: string;
}

function pad6(n: number): string {
  return String(n).padStart(6, '0');
}

/**
 * The transaction's time in the terminal's zone: the host's (fields 12/13, UTC+8, the year nearest
 * the terminal's record of it) when it answered, else the terminal's own. Never the process's zone:
 * a server in UTC once printed yesterday's date on a slip whose screen said today.
 */
function when(t: TxnView, atMs: number, tzOffsetMinutes: number): string {
  const own = t.atMs || atMs;
  const host = t.hostDate !== undefined && t.hostTime !== undefined ? hostInstant(t.hostTime, t.hostDate, own) : undefined;
  return formatDateTime(host ?? own, tzOffsetMinutes, { sep: '/', seconds: true });
}

/** The e-receipt link: identifies the slip by terminal, batch, trace and RRN; never the card. */
export function eReceiptUrl(t: TxnView, tid: string, base: string): string {
  return `${base}?tid=${tid}&b=${pad6(t.batch)}&s=${pad6(t.stan)}&rrn=${t.rrn ?? ''}&amt=${t.amountFen}`;
}

const QR_T = {
  zh: { wallet: '支付方式', order: '订单号', payer: '付款人', code: '付款码尾号', wallets: { UP: '银联云闪付', WX: '微信支付', AL: '支付宝', OT: '其他钱包' } },
  en: { wallet: 'WALLET', order: 'ORDER', payer: 'PAYER', code: 'CODE ENDS', wallets: { UP: 'UnionPay', WX: 'WeChat Pay', AL: 'Alipay', OT: 'Other wallet' } },
} as const;

/** A QR payment's lines instead of the card number: wallet, order number, masked payer (never the payment code). */
export function qrLines(t: TxnView, lang: Lang): string[] {
  const q = QR_T[lang];
  const qr = t.qr ?? {};
  const wallet = qr.wallet !== undefined && qr.wallet in q.wallets ? q.wallets[qr.wallet as keyof typeof q.wallets] : qr.wallet;
  return [
    ...(wallet !== undefined ? [`${q.wallet}: ${wallet}`] : []),
    ...(qr.orderNo !== undefined ? [`${q.order}: ${qr.orderNo}`] : []),
    ...(qr.payerMasked !== undefined ? [`${q.payer}: ${qr.payerMasked}`] : []),
    ...(qr.codeLast4 !== undefined ? [`${q.code}: ${qr.codeLast4}`] : []),
  ];
}

export function receiptJob(t: TxnView, o: ReceiptOptions): PrintJob {
  const s = T[o.lang];
  const label = `${o.copy} copy ${pad6(t.stan)}${o.reprint ? ' (reprint)' : ''}`;
  const blocks: PrintBlock[] = [];
  if (o.reprint) blocks.push({ kind: 'text', text: `*** ${s.reprint} ***`, align: 'center', bold: true, label: 'reprint mark' });
  blocks.push({ kind: 'text', text: s.title, align: 'center', bold: true, size: { width: 1, height: 2 }, label: 'title' });
  // Approved by the terminal, not the host (docs/PROTOCOL.md offline sale): said at the top, in both places a clerk looks.
  if (t.offline) blocks.push({ kind: 'text', text: `*** ${s.offline} ***`, align: 'center', bold: true, label: 'offline mark' });
  blocks.push({ kind: 'text', text: o.copy === 'merchant' ? s.merchantCopy : s.customerCopy, align: 'center', label: 'copy' });
  blocks.push({
    kind: 'text', label: 'details', text: [
      `${s.merchant}: ${o.merchantName}`, `${s.mid}: ${o.mid}`, `${s.tid}: ${o.tid}  ${s.operator}: ${operatorShown(t.operator)}`,
      ...(t.qr ? qrLines(t, o.lang) : [`${s.card}: ${t.panMasked}`]), `${s.kind[t.kind]}${t.offline ? ` (${s.offline})` : ''}`, `${s.batch}: ${pad6(t.batch)}  ${s.stan}: ${pad6(t.stan)}`,
      `${s.rrn}: ${t.rrn ?? ''}`, `${s.auth}: ${t.authCode ?? ''}`, `${s.date}: ${when(t, o.printedAtMs, o.tzOffsetMinutes ?? TZ_OFFSET_MINUTES_DEFAULT)}`,
      // Which way out carried the answer (boards with several links only: the journal has it then),
      // for the merchant's records and the technician chasing a slow or failing Wi-Fi.
      ...(o.copy === 'merchant' && t.link !== undefined ? [`${s.link}: ${linkName(t.link)[o.lang]}`] : []),
    ].join('\n'),
  });
  // Money back to the card prints negative; a pre-authorization (a hold) and its void print as the held amount.
  const signed = t.kind === 'void' || t.kind === 'refund' || t.kind === 'completionVoid' || t.kind === 'qrVoid' || t.kind === 'qrRefund' ? -t.amountFen : t.amountFen;
  blocks.push({ kind: 'text', text: `${s.amount}: RMB ${yuan(signed)}`, bold: true, size: { width: 1, height: 2 }, label: 'amount' });
  // A QR payment is confirmed on the payer's phone: no cardholder signature.
  if (o.copy === 'merchant' && !t.qr) {
    if (o.signature) {
      blocks.push({ kind: 'text', text: `${s.sign}:`, label: 'signature title' });
      blocks.push({ kind: 'image', image: o.signature, align: 'center', label: 'signature' });
    } else {
      blocks.push({ kind: 'text', text: `${s.sign}:\n\n\n`, label: 'signature line' });
    }
    blocks.push({ kind: 'text', text: s.agree, label: 'agreement' });
  }
  if (t.rrn && o.eReceiptBase !== undefined) {
    blocks.push({ kind: 'qr', data: eReceiptUrl(t, o.tid, o.eReceiptBase), errorCorrection: 'M', align: 'center', label: 'e-receipt QR' });
    blocks.push({ kind: 'text', text: s.eReceipt, align: 'center', label: 'e-receipt note' });
  }
  if (o.reprint) blocks.push({ kind: 'text', text: `*** ${s.reprint} ***`, align: 'center', bold: true, label: 'reprint mark (end)' });
  blocks.push({ kind: 'feed', lines: 3 }, { kind: 'cut', label: 'cut' });
  return { label, blocks };
}

export interface ReportInput {
  /** Offline sales of the batch the host refused or a supervisor gave up (listed, not in the totals). */
  readonly offlineNotTaken?: readonly OfflineNotTaken[];
  /** The batch's anomaly flags (docs/ANOMALY.md): hints for the supervisor, printed as lines. */
  readonly anomalies?: readonly AnomalyNote[];
  readonly batch: number;
  readonly totals: SettlementTotals;
  readonly verdict: SettlementVerdict;
  readonly hostTotals?: SettlementTotals;
  readonly atMs: number;
  readonly tid: string;
  readonly mid: string;
  readonly merchantName: string;
  readonly reprint: boolean;
  readonly lang: Lang;
  /** The terminal's zone, minutes east of UTC (default UTC+8). */
  readonly tzOffsetMinutes?: number;
}

export function settlementReportJob(r: ReportInput): PrintJob {
  const s = T[r.lang];
  const date = formatDateTime(r.atMs, r.tzOffsetMinutes ?? TZ_OFFSET_MINUTES_DEFAULT, { sep: '/' });
  const blocks: PrintBlock[] = [];
  if (r.reprint) blocks.push({ kind: 'text', text: `*** ${s.reprint} ***`, align: 'center', bold: true, label: 'reprint mark' });
  blocks.push({ kind: 'text', text: s.report, align: 'center', bold: true, size: { width: 1, height: 2 }, label: 'title' });
  blocks.push({
    kind: 'text', label: 'totals', text: [
      `${s.merchant}: ${r.merchantName}`, `${s.mid}: ${r.mid}`, `${s.tid}: ${r.tid}`, `${s.batch}: ${pad6(r.batch)}`, `${s.date}: ${date}`,
      `${s.sales}  ${s.count}: ${r.totals.saleCount}  ${s.total}: ${yuan(r.totals.saleAmountFen)}`,
      `${s.refunds}  ${s.count}: ${r.totals.refundCount}  ${s.total}: ${yuan(r.totals.refundAmountFen)}`,
      `${s.verdict[r.verdict]}`,
    ].join('\n'),
  });
  if (r.anomalies && r.anomalies.length > 0) {
    blocks.push({ kind: 'text', label: 'anomalies', text: [s.anomalies, ...r.anomalies.map((a) => `- ${r.lang === 'zh' ? a.zh : a.en}`)].join('\n') });
  }
  if (r.offlineNotTaken && r.offlineNotTaken.length > 0) blocks.push({ kind: 'text', label: 'offline not taken', text: offlineLines(s, s.offlineNotTaken, r.offlineNotTaken) });
  blocks.push({ kind: 'feed', lines: 3 }, { kind: 'cut', label: 'cut' });
  return { label: `settlement ${pad6(r.batch)}${r.reprint ? ' (reprint)' : ''}`, blocks };
}

type Strings = (typeof T)[Lang];

function offlineLines(s: Strings, title: string, list: readonly OfflineNotTaken[]): string {
  return [title, ...list.map((o) => `${s.stan} ${pad6(o.stan)} ${o.panMasked}\n  RMB ${yuan(o.amountFen)} ${notTakenWhy(s, o)}`)].join('\n');
}

/** Refused (with the code), given up, or given up after sends with no answer: the host may have booked that one. */
function notTakenWhy(s: Strings, o: OfflineNotTaken): string {
  if (o.state === 'rejected') return `${s.rejected} ${o.responseCode}`;
  return o.sends === undefined ? s.abandoned : `${s.unknown(o.sends)}\n  ${s.hostMayHave}`;
}

/** The list a supervisor's give-up prints (docs/PROTOCOL.md: "which prints a list"). */
export function offlineAbandonedJob(list: readonly OfflineNotTaken[], o: { lang: Lang; tid: string; mid: string; merchantName: string; atMs: number; tzOffsetMinutes?: number }): PrintJob {
  const s = T[o.lang];
  return {
    label: 'offline sales given up',
    blocks: [
      { kind: 'text', text: s.abandonedTitle, align: 'center', bold: true, label: 'title' },
      { kind: 'text', label: 'header', text: [`${s.merchant}: ${o.merchantName}`, `${s.mid}: ${o.mid}`, `${s.tid}: ${o.tid}`, `${s.date}: ${formatDateTime(o.atMs, o.tzOffsetMinutes ?? TZ_OFFSET_MINUTES_DEFAULT, { sep: '/' })}`].join('\n') },
      { kind: 'text', label: 'list', text: offlineLines(s, s.abandonedTitle, list).split('\n').slice(1).join('\n') },
      { kind: 'feed', lines: 3 }, { kind: 'cut', label: 'cut' },
    ],
  };
}

export interface PrintContext {
  readonly printer: Printer;
  readonly engine: TerminalEngine;
  readonly lang: Lang;
  readonly merchantName: string;
  readonly clock: () => number;
}

/** How a copy is printed outside the plain first print of its flow. */
export interface CopyOptions {
  /**
   * The copy may have printed before although no receipt-printed record says so: its transaction's
   * copies were pending at boot, and a power cut loses a deferred mark (storage/JOURNAL_FORMAT.md,
   * Durability). Printed marked 重打印/DUPLICATE, as documented.
   */
  readonly mayHavePrinted?: boolean;
  /** Journal the mark in a commit of its own (engine.markPrinted): a copy printed outside its flow. */
  readonly durable?: boolean;
}

/**
 * Prints one copy of a transaction's receipt and journals it; resolves with whether the slip was
 * marked as a reprint. The mark (重打印/DUPLICATE) says the copy printed before: its receipt-printed
 * record, or `mayHavePrinted`. A copy printed for the first time never carries it, whichever menu
 * asked for it. A transaction of a settled batch (no longer in memory; rebuilt from the journal,
 * Engine.settledTxn) is always printed as a reprint: its copies were handed out at the time.
 * Rejects with the printer's error (the receipt stays pending).
 */
export async function printReceipt(ctx: PrintContext, stan: number, copy: Copy, o: CopyOptions = {}): Promise<boolean> {
  const open = ctx.engine.txn(stan);
  const settled = open ? undefined : ctx.engine.settledTxn(stan);
  const t = open ?? settled?.txn;
  if (!t) throw new Error(`no transaction ${stan}`);
  const reprint = o.mayHavePrinted === true || settled !== undefined || t.printed.includes(copy);
  const ids = ctx.engine.config.ids;
  const job = receiptJob(t, {
    lang: ctx.lang, copy, reprint, merchantName: ctx.engine.merchantName ?? ctx.merchantName, tid: ids.tid, mid: ids.mid, printedAtMs: ctx.engine.now(), tzOffsetMinutes: ctx.engine.tzOffsetMinutes,
    signature: copy === 'merchant' ? (open ? ctx.engine.signatureImage(stan) : settled?.signature) : undefined,
    ...(ctx.engine.eReceiptBase !== undefined ? { eReceiptBase: ctx.engine.eReceiptBase } : {}),
  });
  await ctx.printer.print(job);
  await ctx.engine.markPrinted(stan, copy, reprint, o.durable === true);
  return reprint;
}

/** Prints the report of the last closed batch and journals it. */
export async function printSettlementReport(ctx: PrintContext, reprintAsked = false): Promise<void> {
  const closed = ctx.engine.state.lastClosed;
  if (!closed) throw new Error('no closed batch');
  const ids = ctx.engine.config.ids;
  const reprint = reprintAsked || closed.reportPrinted;
  await ctx.printer.print(settlementReportJob({
    batch: closed.batch, totals: closed.totals, verdict: closed.verdict, atMs: closed.closedAtMs, tid: ids.tid, mid: ids.mid, offlineNotTaken: closed.offlineNotTaken, anomalies: closed.anomalies,
    merchantName: ctx.engine.merchantName ?? ctx.merchantName, reprint, lang: ctx.lang, tzOffsetMinutes: ctx.engine.tzOffsetMinutes,
  }));
  await ctx.engine.markReportPrinted(closed.batch, reprint);
}
