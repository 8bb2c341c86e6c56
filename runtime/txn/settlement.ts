/**
 * Settlement (结算), resumable at every step after a power cut (FIELD-FAULTS.md "settlement data
 * fails to store"). Each step is a `settlement-step` record; on boot the state says where it was:
 *
 *   (none)    -> commit begun {totals frozen from the journal}; sales now refused
 *   begun     -> STAN reserved; 0500 sent; 0510's verdict journaled   -> verdict
 *                (lost 0510: sent again with a new STAN; the host repeats its verdict)
 *   verdict   -> balanced: close. unbalanced / error: batch upload
 *   upload    -> 0320 per transaction the totals count: before each one, its STAN and the count
 *                acknowledged so far are one commit, so after a power cut only the record in
 *                flight is sent again; a host that answers it 94 (duplicate transmission) has
 *                filed it already, which counts as acknowledged
 *   uploaded  -> close
 *   close     -> batch-closed {totals, verdict, nextBatch}: the batch number advances, then
 *                the journal's write-ahead log is checkpointed into LMDB (the terminal has time)
 * The report is printed after the close (receipt-printed copy 'settlement'); an unprinted report
 * is offered again at boot.
 */
import { PosError, invariant, isStopError } from '../../common/errors';
import {
  SettlementTotals, SettlementVerdict, BATCH_MAX, BATCH_UPLOAD_COUNT_MAX, buildBatchUploadEnd, buildBatchUploadRecord, buildSettlement,
  parseAckResponse, parseSettlementResponse,
} from '../host/messages';
import { rec } from '../records';
import { Session, requirePermission } from '../operators';
import { batchTotals, pendingAdvices, uploadable } from '../terminal-state';
import { OfflineNotTaken } from '../records';
import { TerminalEngine } from './engine';
import { resolveQrBeforeSettlement } from './qr';

/**
 * 0320 records per commit of upload progress. One: a power cut re-sends at most the record in
 * flight, which an independent host may otherwise answer 94 or count twice; a full batch of 999
 * costs 999 commits (about half a second more: bench:core).
 */
export const UPLOAD_CHUNK_RECORDS = 1;
/** A batch-upload record the host already filed (sent again after a power cut). */
const DUPLICATE_TRANSMISSION = '94';

export interface SettlementReport {
  readonly batch: number;
  readonly totals: SettlementTotals;
  readonly verdict: SettlementVerdict;
  readonly hostTotals?: SettlementTotals;
  readonly uploadedCount: number;
  readonly resumedFrom?: string;
}

/** Runs (or resumes) the settlement of the open batch. `session` undefined: resuming at boot. */
export async function settle(engine: TerminalEngine, session: Session | undefined): Promise<SettlementReport> {
  const s = engine.state;
  const resumedFrom = s.settlement?.step;
  if (!resumedFrom) requirePermission(session, 'settlement');
  if (await engine.flushReversal() === 'pending') throw new PosError('HOST_REVERSAL_PENDING', 'settle after the pending reversal is sent');
  // Like a pending reversal: a QR payment whose outcome is unknown is resolved first (by query), else no settlement (E-HOST-11).
  await resolveQrBeforeSettlement(engine);
  if (!resumedFrom && pendingAdvices(s).length > 0) {
    // Offline sales go to the host before the batch is counted (profile): sent, or given up by a supervisor.
    const waiting = await engine.flushAdvices().catch((e: unknown) => {
      if (isStopError(e)) throw e;
      return pendingAdvices(s).length;
    });
    if (waiting > 0) throw new PosError('OPR_OFFLINE_PENDING', `${waiting} offline sales not sent: send them again, or a supervisor gives them up`, { count: waiting });
  }
  if (!resumedFrom) {
    // Issuer script notices (0620) the host has not taken yet go first, best effort: they name their
    // own batch, so a settlement does not wait for them (docs/PROTOCOL.md, Chip cards).
    if (s.pendingScriptNotices.size > 0) await engine.flushScriptNotices().catch((e: unknown) => { if (isStopError(e)) throw e; engine.logger.warn({ err: String(e) }, 'script notices not sent before settlement'); });
    await engine.uploadSignatures().catch((e: unknown) => engine.logger.warn({ err: String(e) }, 'signatures not uploaded before settlement'));
    await engine.store.commit([rec.settlementStep({ batch: s.batch, step: 'begun', totals: batchTotals(s) })], { reserve: true });
  }
  const operator = session?.operator ?? engine.lastSession?.operator ?? '000';
  let uploadedCount = 0;
  let hostTotals: SettlementTotals | undefined;
  for (let guard = 0; guard < 8; guard++) {
    const st = s.settlement;
    if (!st) break;
    uploadedCount = st.uploadedCount;
    hostTotals = st.hostTotals;
    if (st.step === 'begun') await sendSettlement(engine, operator);
    // After a rebuild the host may hold transactions the journal lost: the batch is uploaded
    // even when the totals balance (a reconciliation; an unbalanced verdict is expected then).
    else if (st.step === 'verdict' && st.verdict === 'balanced' && !s.reconcileBatch) await close(engine);
    else if (st.step === 'verdict' || st.step === 'upload') await upload(engine);
    else await close(engine);
  }
  const closed = s.lastClosed;
  if (!closed) throw new PosError('HOST_SETTLE', 'settlement did not close the batch');
  await checkpointAfterClose(engine);
  return { batch: closed.batch, totals: closed.totals, verdict: closed.verdict, hostTotals, uploadedCount, resumedFrom };
}

/**
 * After a close the terminal has time: the journal's records go from the write-ahead log into
 * LMDB (storage/JOURNAL_FORMAT.md, "Write-ahead log", checkpoint), so the next day starts with an
 * empty log and data.mdb alone holds the closed batch. Here and not on a sale's path, whose cost is
 * the log's one flush. A failure does not undo the close (batch-closed is durable in the log); the
 * journal moves to failed and refuses later appends with its typed error, so it is only logged here.
 */
async function checkpointAfterClose(engine: TerminalEngine): Promise<void> {
  await engine.store.journal.checkpoint().catch((e: unknown) => {
    engine.logger.warn({ err: String(e) }, 'journal: checkpoint after the settlement failed (its records stay in the write-ahead log)');
  });
}

async function sendSettlement(engine: TerminalEngine, operator: string): Promise<void> {
  const s = engine.state;
  const st = s.settlement as NonNullable<typeof s.settlement>;
  const { stans, record } = engine.reserveStans(1);
  await engine.store.commit([record], { reserve: true });
  const req = buildSettlement(engine.config.profile, { ids: engine.config.ids, stan: stans[0], batch: s.batch, operator, totals: st.totals });
  const res = parseSettlementResponse(engine.config.profile, req, await engine.sendRaw(req, stans[0]));
  if (!res.approved || !res.verdict) throw new PosError('HOST_SETTLE', `settlement answered ${res.responseCode} ${res.text.en}`, { responseCode: res.responseCode });
  await engine.store.commit([rec.settlementStep({ batch: s.batch, step: 'verdict', verdict: res.verdict, hostTotals: res.hostTotals })], { reserve: true });
}

async function upload(engine: TerminalEngine): Promise<void> {
  const s = engine.state;
  const txns = uploadable(s);
  let done = s.settlement?.uploadedCount ?? 0;
  while (done < txns.length) {
    const chunk = txns.slice(done, done + UPLOAD_CHUNK_RECORDS);
    const { stans, record } = engine.reserveStans(chunk.length);
    await engine.store.commit([record, rec.settlementStep({ batch: s.batch, step: 'upload', uploadedCount: done })], { reserve: true });
    for (const [i, t] of chunk.entries()) {
      const req = buildBatchUploadRecord(engine.config.profile, {
        ids: engine.config.ids, stan: stans[i], batch: s.batch, pan: engine.panOf(t.panEnc), processingCode: t.processingCode,
        amountFen: t.amountFen, entryMode: t.entryMode, rrn: t.rrn as string, authCode: t.authCode ?? '',
      });
      const res = parseAckResponse(engine.config.profile, req, await engine.sendRaw(req, stans[i]));
      // The profile: upload, "then the batch is closed all the same". A record the host refuses is
      // its reconciliation's to settle; stopping here would leave the terminal unable to sell.
      if (!res.approved && res.responseCode !== DUPLICATE_TRANSMISSION) engine.logger.warn({ stan: t.stan, code: res.responseCode }, 'batch upload record refused by the host: the batch closes all the same');
    }
    done += chunk.length;
  }
  const { stans, record } = engine.reserveStans(1);
  await engine.store.commit([record, rec.settlementStep({ batch: s.batch, step: 'upload', uploadedCount: done })], { reserve: true });
  invariant(done <= BATCH_UPLOAD_COUNT_MAX, 'batch upload count over the profile maximum', { done });
  const req = buildBatchUploadEnd(engine.config.profile, { ids: engine.config.ids, stan: stans[0], batch: s.batch, count: done });
  const res = parseAckResponse(engine.config.profile, req, await engine.sendRaw(req, stans[0]));
  if (!res.approved) engine.logger.warn({ code: res.responseCode, count: done }, 'batch upload end refused by the host: the batch closes all the same');
  await engine.store.commit([rec.settlementStep({ batch: s.batch, step: 'uploaded', uploadedCount: done })], { reserve: true });
}

async function close(engine: TerminalEngine): Promise<void> {
  const s = engine.state;
  const st = s.settlement as NonNullable<typeof s.settlement>;
  const nextBatch = s.batch >= BATCH_MAX ? 1 : s.batch + 1;
  const offlineNotTaken: OfflineNotTaken[] = [];
  for (const t of s.txns.values()) {
    if (t.offline?.state === 'rejected' || t.offline?.state === 'abandoned') {
      // A given-up advice that went out keeps its send count: the report says the host may have it.
      const sends = t.offline.state === 'abandoned' ? t.offline.sends : undefined;
      offlineNotTaken.push({ stan: t.stan, amountFen: t.amountFen, panMasked: t.panMasked, state: t.offline.state, responseCode: t.offline.responseCode ?? '--', ...(sends !== undefined ? { sends } : {}) });
    }
  }
  // The batch's anomaly flags go with its close: the day report prints them after the batch is gone.
  const anomalies = engine.anomalies().map((f) => ({ rule: f.rule, zh: f.text.zh, en: f.text.en }));
  await engine.store.commit([rec.batchClosed({
    batch: s.batch, nextBatch, totals: st.totals, verdict: st.verdict ?? 'error', ...(offlineNotTaken.length > 0 ? { offlineNotTaken } : {}),
    ...(anomalies.length > 0 ? { anomalies } : {}),
  })], { reserve: true });
  engine.logger.info({ batch: st.batch, nextBatch, verdict: st.verdict }, 'batch closed');
}
