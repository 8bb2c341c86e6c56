/**
 * Processing restrictions, EMV 4.3 Book 3 §10.4: application version number, application usage
 * control, effective and expiration dates. A pure function of the card's data objects and the
 * transaction; it returns the TVR bits it sets (byte 2), nothing else: whether a restriction
 * declines the sale is terminal action analysis' decision (emv-taa.ts).
 */
import { invariant } from '../../common/errors';
import { TVR, TvrBit } from './emv-tvr';

/** AUC (9F07) byte 1 and byte 2 bits, Book 3 Annex C2. */
const AUC = Object.freeze({
  domesticCash: [0, 0x80], internationalCash: [0, 0x40], domesticGoods: [0, 0x20], internationalGoods: [0, 0x10],
  domesticServices: [0, 0x08], internationalServices: [0, 0x04], atm: [0, 0x02], notAtm: [0, 0x01],
  domesticCashback: [1, 0x80], internationalCashback: [1, 0x40],
} as const);

export interface RestrictionsInput {
  /** 9F08 application version number (card), absent on many cards. */
  readonly cardAppVersion?: Buffer;
  /** 9F09 application version number (terminal). */
  readonly terminalAppVersion: Buffer;
  /** 9F07 application usage control. */
  readonly usageControl?: Buffer;
  /** 5F28 issuer country code. */
  readonly issuerCountry?: Buffer;
  /** 9F1A terminal country code. */
  readonly terminalCountry: Buffer;
  /** 5F25 application effective date, YYMMDD (BCD). */
  readonly effectiveDate?: Buffer;
  /** 5F24 application expiration date, YYMMDD (BCD). */
  readonly expirationDate?: Buffer;
  readonly service: 'cash' | 'goods' | 'services' | 'cashback';
  readonly atm: boolean;
  /** Transaction date (9A), YYMMDD from the injected clock. */
  readonly todayYymmdd: string;
}

/** YYMMDD as a sortable number with EMV's two-digit years (00–49 → 20YY, 50–99 → 19YY). */
function dateKey(yymmdd: string): number {
  const yy = Number(yymmdd.slice(0, 2));
  return (yy < 50 ? 2000 + yy : 1900 + yy) * 10_000 + Number(yymmdd.slice(2));
}

function has(auc: Buffer, bit: readonly [number, number]): boolean {
  return (auc[bit[0]] & bit[1]) !== 0;
}

/** Book 3 §10.4.2: is the service allowed by the AUC, here (domestic) or abroad? */
function usageAllowed(auc: Buffer, input: RestrictionsInput): boolean {
  if (!has(auc, input.atm ? AUC.atm : AUC.notAtm)) return false;
  if (input.issuerCountry === undefined) return true;
  const domestic = input.issuerCountry.equals(input.terminalCountry);
  switch (input.service) {
    case 'cash': return has(auc, domestic ? AUC.domesticCash : AUC.internationalCash);
    case 'goods': return has(auc, domestic ? AUC.domesticGoods : AUC.internationalGoods);
    case 'services': return has(auc, domestic ? AUC.domesticServices : AUC.internationalServices);
    case 'cashback': return has(auc, domestic ? AUC.domesticCashback : AUC.internationalCashback);
  }
}

/**
 * Book 3 §10.4: versions differ (9F08 present and not 9F09), service not allowed by the AUC
 * (checked only when 9F07 is present; the country test only when 5F28 is), application not yet
 * effective (5F25 after today), expired (5F24 before today; the card is good on its expiry day).
 */
export function processingRestrictions(input: RestrictionsInput): TvrBit[] {
  invariant(/^\d{6}$/.test(input.todayYymmdd), 'today is YYMMDD');
  const bits: TvrBit[] = [];
  if (input.cardAppVersion !== undefined && !input.cardAppVersion.equals(input.terminalAppVersion)) bits.push(TVR.appVersionsDiffer);
  if (input.usageControl !== undefined && (input.usageControl.length !== 2 || !usageAllowed(input.usageControl, input))) bits.push(TVR.serviceNotAllowed);
  const today = dateKey(input.todayYymmdd);
  const effective = input.effectiveDate?.toString('hex');
  if (effective !== undefined && /^\d{6}$/.test(effective) && dateKey(effective) > today) bits.push(TVR.applicationNotYetEffective);
  const expiry = input.expirationDate?.toString('hex');
  // An expiry that is not a BCD date is treated as expired: the card cannot show it is valid.
  if (expiry !== undefined && (!/^\d{6}$/.test(expiry) || dateKey(expiry) < today)) bits.push(TVR.expiredApplication);
  return bits;
}
