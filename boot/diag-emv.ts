/**
 * The chip kernel's downloaded parameters as diagnostics shows them under the host check (issue 11
 * item 1: "shown in diagnostics"), in zh-CN and en: each CA public key (RID, index, expiry, the
 * SHA-1 check value's status on the terminal's date) and each AID (its UnionPay name, the contact
 * floor limit, the contactless floor, transaction and CVM limits, and random selection's
 * percentages when the host sent them). A technician reads here why a chip card fails ODA (no key
 * for its index, an expired key) or goes online every time.
 *
 * Nothing here is secret: CA public keys and AID parameters are the acquirer's public data. Lists
 * are bounded by the download's own maxima (CA_KEYS_MAX, AIDS_MAX).
 */
import type { AidParams } from '../runtime/host/emv-params';
import { CaPublicKey, caKeyProblem } from '../runtime/txn/emv-rsa';
import type { LocalText } from '../ui-lcd/screen';
import { StringKey, formatYuan, t } from '../ui-lcd/strings';

export interface EmvParamsView {
  /** Every stored CA key (the expired ones too: diagnostics says they are). */
  readonly caKeys: readonly CaPublicKey[];
  /** Undefined: none downloaded (the kernel's built-in AIDs apply). */
  readonly aids?: readonly AidParams[];
  /** The terminal's date, YYYYMMDD in its own zone. */
  readonly todayYyyymmdd: string;
}

/** UnionPay's application identifiers by their PIX (RID A000000333), as the AID list names them. */
const UNIONPAY_RID = 'A000000333';
const UNIONPAY_LABELS: Readonly<Record<string, StringKey>> = {
  '010101': 'diag.aid.debit', '010102': 'diag.aid.credit', '010103': 'diag.aid.quasiCredit', '010106': 'diag.aid.eCash',
};

export function aidLabel(aid: Buffer): LocalText {
  const h = aid.toString('hex').toUpperCase();
  const key = h.startsWith(UNIONPAY_RID) ? UNIONPAY_LABELS[h.slice(UNIONPAY_RID.length, UNIONPAY_RID.length + 6)] : undefined;
  return t(key ?? 'diag.aid.other');
}

function dashed(yyyymmdd: string | undefined): string {
  return yyyymmdd === undefined ? '-' : `${yyyymmdd.slice(0, 4)}-${yyyymmdd.slice(4, 6)}-${yyyymmdd.slice(6, 8)}`;
}

/** The check value's status: ok, expired on today's date, or the check that fails. */
export function caKeyStatus(key: CaPublicKey, todayYyyymmdd: string): LocalText {
  const problem = caKeyProblem(key, todayYyyymmdd);
  if (problem === undefined) return t('diag.caKey.ok');
  if (problem === 'expired') return t('diag.caKey.expired');
  return t('diag.caKey.bad', { problem });
}

function caKeyLines(v: EmvParamsView): LocalText[] {
  if (v.caKeys.length === 0) return [t('diag.caKeys.none')];
  return [t('diag.caKeys', { n: v.caKeys.length }), ...v.caKeys.map((k) => t('diag.caKey', {
    rid: k.rid.toString('hex').toUpperCase(), index: k.index.toString(16).toUpperCase().padStart(2, '0'),
    expiry: dashed(k.expiryYyyymmdd), status: caKeyStatus(k, v.todayYyyymmdd),
  }))];
}

function aidLines(v: EmvParamsView): LocalText[] {
  if (v.aids === undefined) return [t('diag.aids.builtIn')];
  const out: LocalText[] = [t('diag.aids', { n: v.aids.length })];
  for (const a of v.aids) {
    out.push(t('diag.aid', { aid: a.aid.toString('hex').toUpperCase(), label: aidLabel(a.aid) }));
    out.push(t('diag.aid.limits', { floor: formatYuan(a.floorLimitFen), clFloor: formatYuan(a.clFloorLimitFen), clTxn: formatYuan(a.clTxnLimitFen), cvm: formatYuan(a.cvmRequiredLimitFen) }));
    if (a.random !== undefined) {
      out.push(t('diag.aid.random', { target: a.random.targetPercent, max: a.random.maxTargetPercent, threshold: formatYuan(a.random.thresholdFen) }));
    }
  }
  return out;
}

/** The lines diagnostics shows for the chip kernel's parameters. */
export function emvParamLines(v: EmvParamsView): LocalText[] {
  return [...caKeyLines(v), ...aidLines(v)];
}
