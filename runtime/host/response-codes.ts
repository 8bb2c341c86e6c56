/**
 * Field 39 response codes the terminal must explain on screen (docs/PROTOCOL.md), in zh-CN and en.
 * Any other code is shown as "declined (code XX)" so the operator can still quote it.
 */

export interface ResponseCodeText {
  readonly code: string;
  readonly approved: boolean;
  readonly en: string;
  readonly zh: string;
}

const KNOWN: Readonly<Record<string, { en: string; zh: string }>> = {
  '00': { en: 'Approved', zh: '交易成功' },
  '05': { en: 'Do not honour', zh: '不予承兑' },
  '12': { en: 'Invalid transaction', zh: '无效交易' },
  '14': { en: 'Invalid card number', zh: '无效卡号' },
  '25': { en: 'Original transaction not found', zh: '找不到原交易' },
  '51': { en: 'Insufficient funds', zh: '余额不足' },
  '54': { en: 'Expired card', zh: '卡已过期' },
  '55': { en: 'Wrong PIN', zh: '密码错误' },
  '75': { en: 'PIN tries exceeded', zh: '密码错误次数超限' },
  '94': { en: 'Duplicate transmission', zh: '重复交易' },
  '96': { en: 'System malfunction', zh: '系统故障' },
  'A0': { en: 'MAC error: sign on again', zh: 'MAC校验错，请重新签到' },
};

export const APPROVED = '00';
/** The host could not verify the request's MAC: the terminal signs on again (the profile's table). */
export const MAC_ERROR_RESPONSE_CODE = 'A0';

export function explainResponseCode(code: string): ResponseCodeText {
  const known = KNOWN[code];
  if (known) return { code, approved: code === APPROVED, ...known };
  return { code, approved: false, en: `Declined (code ${code})`, zh: `交易失败（应答码${code}）` };
}

/** Codes of the table, for tests and the simulator's command line. */
export const EXPLAINED_CODES: readonly string[] = Object.keys(KNOWN);
