/**
 * CA public key (370/371) and AID (380/381) downloads (issue 11 item 1; docs/PROTOCOL.md, "CA key
 * and AID download"). Each download asks for the list, then for each item, then sends the end
 * message; the set in force is replaced by ONE journal record, and only when the end message was
 * answered 00 and every item passed its checks (the profile: all-or-nothing). A CA key whose
 * SHA-1 check value, algorithm or RSA key is wrong refuses the whole set (HOST_PARAMS, the old
 * set kept); a key already expired on the terminal's date is dropped from the new set and
 * counted, as is every stored key once its date passes (caKeysInForce).
 *
 * STANs: the list's is reserved first; the items' and the end message's in one block once the
 * list's length is known (a download never reuses a STAN, like every other message).
 */
import { PosError, isStopError } from '../../common/errors';
import { civil } from '../../common/time';
import { buildAidDownload, buildCaKeyDownload, buildDownloadEnd } from '../host/messages-v2';
import { Request, parseAckResponse } from '../host/messages';
import { bytesField } from '../host/packager';
import { AidParams, parseAid, parseAidList, parseCaKey, parseCaKeyList } from '../host/emv-params';
import { rec } from '../records';
import { CaPublicKey, caKeyProblem } from './emv-rsa';
import { STAN_BLOCK_MAX, TerminalEngine } from './engine';

export type DownloadOutcome =
  | { readonly outcome: 'applied'; readonly count: number; readonly expiredDropped: number }
  | { readonly outcome: 'declined' | 'unsupported'; readonly responseCode: string };

/** The terminal's date as YYYYMMDD in its own zone (never the machine's). */
export function todayYyyymmdd(nowMs: number, tzOffsetMinutes: number): string {
  const c = civil(nowMs, tzOffsetMinutes);
  return `${c.year}${String(c.month).padStart(2, '0')}${String(c.day).padStart(2, '0')}`;
}

/** The stored CA keys usable today: the expired ones left out (they stay in the record until the next download). */
export function caKeysInForce(keys: readonly CaPublicKey[], today: string): CaPublicKey[] {
  return keys.filter((k) => k.expiryYyyymmdd === undefined || k.expiryYyyymmdd >= today);
}

async function exchange(engine: TerminalEngine, req: Request, stan: number): Promise<{ code: string; approved: boolean; f62?: Buffer }> {
  const res = parseAckResponse(engine.config.profile, req, await engine.sendRaw(req, stan));
  return { code: res.responseCode, approved: res.approved, f62: bytesField(res.frame.message, 62) };
}

async function oneStan(engine: TerminalEngine): Promise<number> {
  const { stans, record } = engine.reserveStans(1);
  await engine.store.commit([record], { reserve: true });
  return stans[0];
}

async function stanBlock(engine: TerminalEngine, count: number): Promise<number[]> {
  const out: number[] = [];
  while (out.length < count) {
    const { stans, record } = engine.reserveStans(Math.min(STAN_BLOCK_MAX, count - out.length));
    await engine.store.commit([record], { reserve: true });
    out.push(...stans);
  }
  return out;
}

/** Downloads the CA public keys; see the file header. */
export async function downloadCaKeys(engine: TerminalEngine): Promise<DownloadOutcome> {
  const c = { ids: engine.config.ids, batch: engine.state.batch };
  const listStan = await oneStan(engine);
  const listReq = buildCaKeyDownload(engine.config.profile, { ...c, stan: listStan });
  const list = await exchange(engine, listReq, listStan);
  if (!list.approved) return unanswered(engine, 'caKeys', listReq, list.code);
  const ids = parseCaKeyList(list.f62);
  const stans = await stanBlock(engine, ids.length + 1);
  const today = todayYyyymmdd(engine.now(), engine.tzOffsetMinutes);
  const keys: CaPublicKey[] = [];
  let expiredDropped = 0;
  for (const [i, id] of ids.entries()) {
    const req = buildCaKeyDownload(engine.config.profile, { ...c, stan: stans[i], rid: id.rid, index: id.index });
    const r = await exchange(engine, req, stans[i]);
    const name = `${id.rid.toString('hex').toUpperCase()}/${id.index.toString(16).toUpperCase().padStart(2, '0')}`;
    if (!r.approved) return { outcome: 'declined', responseCode: r.code };
    const key = parseCaKey(r.f62);
    if (!key.rid.equals(id.rid) || key.index !== id.index) throw new PosError('HOST_PARAMS', `EMV parameter download refused: asked for CA key ${name}, got another`, { key: name });
    const problem = caKeyProblem(key, today);
    if (problem === 'expired') { expiredDropped++; continue; }
    if (problem !== undefined) throw new PosError('HOST_PARAMS', `EMV parameter download refused: CA key ${name} ${problem} (CA keys in force kept)`, { key: name, problem });
    keys.push(key);
  }
  const endReq = buildDownloadEnd(engine.config.profile, 'caKeyDownloadEnd', { ...c, stan: stans[ids.length] });
  const end = await exchange(engine, endReq, stans[ids.length]);
  if (!end.approved) return { outcome: 'declined', responseCode: end.code };
  await engine.store.commit([rec.caKeys({ keys })], { reserve: true });
  engine.logger.info({ keys: keys.length, expiredDropped }, 'CA public keys replaced');
  return { outcome: 'applied', count: keys.length, expiredDropped };
}

/** Downloads the AID parameters; see the file header. */
export async function downloadAids(engine: TerminalEngine): Promise<DownloadOutcome> {
  const c = { ids: engine.config.ids, batch: engine.state.batch };
  const listStan = await oneStan(engine);
  const listReq = buildAidDownload(engine.config.profile, { ...c, stan: listStan });
  const list = await exchange(engine, listReq, listStan);
  if (!list.approved) return unanswered(engine, 'aids', listReq, list.code);
  const wanted = parseAidList(list.f62);
  const stans = await stanBlock(engine, wanted.length + 1);
  const aids: AidParams[] = [];
  for (const [i, aid] of wanted.entries()) {
    const req = buildAidDownload(engine.config.profile, { ...c, stan: stans[i], aid });
    const r = await exchange(engine, req, stans[i]);
    if (!r.approved) return { outcome: 'declined', responseCode: r.code };
    const p = parseAid(r.f62);
    if (!p.aid.equals(aid)) throw new PosError('HOST_PARAMS', `EMV parameter download refused: asked for AID ${aid.toString('hex').toUpperCase()}, got another`);
    aids.push(p);
  }
  const endReq = buildDownloadEnd(engine.config.profile, 'aidDownloadEnd', { ...c, stan: stans[wanted.length] });
  const end = await exchange(engine, endReq, stans[wanted.length]);
  if (!end.approved) return { outcome: 'declined', responseCode: end.code };
  await engine.store.commit([rec.aidParams({ aids })], { reserve: true });
  engine.logger.info({ aids: aids.length }, 'AID parameters replaced');
  return { outcome: 'applied', count: aids.length, expiredDropped: 0 };
}

function unanswered(engine: TerminalEngine, f: 'caKeys' | 'aids', req: Request, code: string): DownloadOutcome {
  return { outcome: engine.hostAnswered(f, req.type, code) ? 'unsupported' : 'declined', responseCode: code };
}

/**
 * After a sign-on: the downloads a terminal without a set (first sign-on, or a download that never
 * completed) still needs. A failure is logged and never undoes the sign-on: magnetic-stripe and
 * QR sales do not need these sets, and the chip kernel refuses what it cannot check.
 */
export async function downloadMissingEmvParameters(engine: TerminalEngine): Promise<void> {
  const s = engine.state;
  const steps: Array<['caKeys' | 'aids', () => Promise<DownloadOutcome>]> = [];
  if (s.caKeys === undefined && engine.featureAvailable('caKeys')) steps.push(['caKeys', () => downloadCaKeys(engine)]);
  if (s.aids === undefined && engine.featureAvailable('aids')) steps.push(['aids', () => downloadAids(engine)]);
  for (const [what, run] of steps) {
    try {
      const r = await run();
      if (r.outcome !== 'applied') engine.logger.warn({ what, code: r.responseCode, outcome: r.outcome }, 'EMV parameter download not applied');
    } catch (e) {
      if (isStopError(e)) throw e;
      engine.logger.warn({ what, err: String(e) }, 'EMV parameter download failed: the set in force is kept');
    }
  }
}

/**
 * The settings menu's parameter download (参数下载): the host parameters (360), then the CA keys
 * and the AIDs, as a terminal's technician expects one menu item to refresh everything the host
 * sets. The first answer that is not 00 is the result; a refused set (HOST_PARAMS) throws.
 */
export async function downloadAllParameters(engine: TerminalEngine): Promise<{ readonly responseCode: string }> {
  const p = await engine.downloadParameters();
  if (p.outcome !== 'applied') return { responseCode: p.responseCode };
  const steps: Array<['caKeys' | 'aids', (e: TerminalEngine) => Promise<DownloadOutcome>]> = [['caKeys', downloadCaKeys], ['aids', downloadAids]];
  for (const [what, run] of steps) {
    if (!engine.featureAvailable(what)) continue;
    const r = await run(engine);
    if (r.outcome === 'declined') return { responseCode: r.responseCode };
  }
  return { responseCode: '00' };
}
