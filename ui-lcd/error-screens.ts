/**
 * A screen for every operating error in common/errors.ts: the code in the title, the cause in a
 * few words, optional details (which key, which record, attempts left), then the numbered steps
 * service staff take (FIELD-FAULTS.md). Steps that do not fit are paged: UP/DOWN, the footer says
 * so on every page but the last (2-row LCDs: the page tag "1/3" in the title says so).
 */
import { ERRORS, ErrorDef, ErrorId, PosError, errorByCode } from '../common/errors';
import type { Screen, StatusLine, Txt } from './screen';
import { t } from './strings';

export interface ErrorScreenData {
  /** Page of the cause/steps to show (the state's step index; UP/DOWN change it). */
  readonly page?: number;
  /** Extra lines between cause and steps: what failed ("Key: OK"), attempts left. */
  readonly details?: readonly Txt[];
  readonly notice?: Txt;
  readonly status?: StatusLine;
  /** The next key; default "OK: back". */
  readonly footer?: Txt;
}

/** Code of the screen shown for an unknown code (a newer runtime than this UI): the internal error. */
const UNKNOWN_FALLBACK: ErrorId = 'SYS_INVARIANT';

export function errorDefinition(idOrCode: ErrorId | string): ErrorDef {
  if (idOrCode in ERRORS) return ERRORS[idOrCode as ErrorId];
  return errorByCode(idOrCode) ?? ERRORS[UNKNOWN_FALLBACK];
}

export function errorScreen(idOrCode: ErrorId | string, data: ErrorScreenData = {}): Screen {
  const def = errorDefinition(idOrCode);
  // An unknown code is still shown as given, so the operator can quote it to support.
  const code = def === ERRORS[UNKNOWN_FALLBACK] && idOrCode !== UNKNOWN_FALLBACK && idOrCode !== def.code ? idOrCode : def.code;
  return {
    id: `error:${code}`,
    title: code,
    error: { code, cause: { en: def.en.cause, zh: def.zh.cause }, steps: { en: def.en.steps, zh: def.zh.steps } },
    ...(data.details ? { lines: data.details } : {}),
    footer: data.footer ?? t('footer.back'),
    page: data.page ?? 0,
    ...(data.notice !== undefined ? { notice: data.notice } : {}),
    ...(data.status ? { status: data.status } : {}),
  };
}

/** The screen for a PosError, with the detail a person can act on (the key, the role). */
export function screenForPosError(e: PosError, page = 0): Screen {
  const details: Txt[] = [];
  const d = e.detail;
  if (typeof d.key === 'string') details.push(t('msg.detail', { detail: String(d.key) }));
  else if (typeof d.role === 'string') details.push(t('msg.detail', { detail: String(d.role) }));
  else if (typeof d.display === 'string') details.push(t('msg.detail', { detail: String(d.display) }));
  if (typeof d.attemptsLeft === 'number') details.push(t('notice.attemptsLeft', { n: d.attemptsLeft }));
  return errorScreen(e.id, { page, details });
}

/** Every error's screen, for tests and the front panel's gallery. */
export function allErrorScreens(): Array<{ readonly id: ErrorId; readonly screen: Screen }> {
  return (Object.keys(ERRORS) as ErrorId[]).map((id) => ({ id, screen: errorScreen(id) }));
}
