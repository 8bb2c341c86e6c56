/**
 * The notices of idle and login on every display in both languages, each read whole:
 * - the error notices (boot/terminal-app.ts: the card reader's readerNotice, the journal's
 *   storageNotice, E-STO-01 and E-STO-02, and archiveNotice, E-STO-15: old records to export, and
 *   where; boot/screen-map.ts: idle's selling lock, E-MGT-10): each is its code, cause and first
 *   step, which one row cannot hold anywhere (a 16x2 LCD read "E-RDR-03 Card", "E-STO-02
 *   Storage", "E-STO-15 Old", "Selling locked" and lost the rest), so the row shows it in turns
 *   (ui-lcd/layout.ts noticeParts), and over its turns the code, the whole cause and the whole
 *   first step are read, none of them cut. A notice that fits its row is shown as before, in one turn;
 * - the self-test's and the keypad's faults (boot/terminal-app.ts faultNotice: the bare code
 *   "E-PRN-04" was all they said), the stuck keys (stuckKeysNotice: "Keys CANCEL" on 16 cells for
 *   three keys stuck) and the batch's anomalies (boot/screen-map.ts: "! 2 anomalies:" and no code),
 *   every variant of each: every turn fits its row, and the turns together hold the code, the
 *   cause (the keys, the part) and the first step, or the count and every anomaly code;
 * - English turns hold as many whole words as fit the row (a word is split only when it alone is
 *   wider than the row); Chinese breaks between characters, a Latin word kept with the character
 *   written onto it ("U盘", "FUNC卡住").
 */
import * as assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ERRORS, ErrorDef, ErrorId, PosError } from '../../common/errors';
import { archiveNotice, faultNotice, partOf, readerNotice, storageNotice, stuckKeysNotice } from '../../boot/terminal-app';
import { readBoardFile } from '../../hal/board';
import { KEY_NAMES } from '../../hal/keypad';
import { ANOMALY_RULES, FLAGS_COUNT_MAX } from '../../runtime/anomaly';
import { chooseScreen, EMPTY_UI, Env } from '../../boot/screen-map';
import type { MachineView } from '../../runtime/machine';
import type { Terminal } from '../../runtime/terminal';
import type { Usage } from '../../storage/journal';
import { ReaderHealth } from '../../runtime/txn/reader-health';
import { READER_SWIPE_FAILURES_MAX, SwipeFailures } from '../../runtime/txn/swipe-failures';
import { cellsOf, hasGlyph } from '../../ui-lcd/font';
import { cells, layout, Grid } from '../../ui-lcd/layout';
import { pixelGrid } from '../../ui-lcd/render-pixels';
import { textGrid } from '../../ui-lcd/render-text';
import { LOCALES, Locale, LocalText, Screen, Txt, noticeTurnCount } from '../../ui-lcd/screen';
import { screenFor } from '../../ui-lcd/screens';
import { resolve, t } from '../../ui-lcd/strings';
import { DISPLAYS, NOW_MS } from './fixtures';
import { checkedRender } from './render-check';

/** The reader's notice after a card wait ended in `error` (or, with none, past the unreadable swipes in a row). */
function noticeAfter(error?: PosError): Txt {
  const swipes = new SwipeFailures(() => NOW_MS);
  const health = new ReaderHealth(() => NOW_MS, swipes);
  if (error) health.noteFailure(error);
  else for (let i = 0; i <= READER_SWIPE_FAILURES_MAX; i++) swipes.noteUnreadable(new PosError('RDR_UNREADABLE', 'swipe not readable', { source: 'swipe' }), 1);
  const n = readerNotice(health);
  assert.ok(n !== undefined, 'a notice');
  return n;
}

/** The storage notice of a terminal whose journal's usage says `state` (the rest of Usage is not read). */
function storageNoticeWhen(state: Pick<Usage, 'nearlyFull' | 'salesRefused'>): Txt {
  const terminal = { store: { journal: { usage: () => state } } } as unknown as Terminal;
  const n = storageNotice(terminal);
  assert.ok(n !== undefined, 'a notice');
  return n;
}

/** Idle's notice while the management console has selling locked (boot/screen-map.ts idleNotice). */
function sellingLockNotice(): Txt {
  const view = { state: 'idle', data: { battery: 'ok', amountFen: 0, pendingReceipts: [], reportPending: false, signedOn: true, reversalPending: false, sellingLocked: true } } as unknown as MachineView;
  const env: Env = { nowMs: NOW_MS, merchantName: 'SHOP', status: {}, bootStep: 'ready', bootStepIndex: 0, bootStepCount: 1 };
  const n = chooseScreen(view, EMPTY_UI, env).notice;
  assert.ok(n !== undefined, 'a notice');
  return n;
}

const FAULTS: ReadonlyArray<{ readonly name: string; readonly def: ErrorDef; readonly notice: () => Txt }> = [
  { name: 'readerNotice silent', def: ERRORS.RDR_TIMEOUT, notice: () => noticeAfter(new PosError('RDR_TIMEOUT', 'no response to 0x02')) },
  { name: 'readerNotice gone', def: ERRORS.RDR_DISCONNECTED, notice: () => noticeAfter(new PosError('RDR_DISCONNECTED', 'card reader port lost')) },
  { name: 'readerNotice garbled', def: ERRORS.RDR_FAULT, notice: () => noticeAfter(new PosError('RDR_FAULT', 'bad frames')) },
  { name: 'readerNotice head', def: ERRORS.RDR_FAULT, notice: () => noticeAfter() },
  { name: 'storageNotice nearly full', def: ERRORS.STO_NEARLY_FULL, notice: () => storageNoticeWhen({ nearlyFull: true, salesRefused: false }) },
  { name: 'storageNotice full for sales', def: ERRORS.STO_FULL, notice: () => storageNoticeWhen({ nearlyFull: true, salesRefused: true }) },
  { name: 'archiveNotice', def: ERRORS.STO_ARCHIVE_EXPORT, notice: () => archiveNotice() },
  { name: 'idle\'s selling lock', def: ERRORS.MGT_SELLING_LOCKED, notice: sellingLockNotice },
];

/** The screens that show it: idle (a status screen) and the operator's login (an entry screen). */
function screensWith(notice: Txt): ReadonlyArray<{ readonly name: string; readonly screen: Screen }> {
  return [
    { name: 'idle', screen: { ...screenFor('idle', { merchantName: { en: 'ZHANG SAN STORE', zh: '张三便利店' }, nowMs: NOW_MS, status: { batteryPercent: 85, network: 'up', host: 'online', paper: 'ok' } }), notice } },
    { name: 'login', screen: { ...screenFor('login', { field: 'operator', operator: '0' }), notice } },
  ];
}

function gridOf(d: (typeof DISPLAYS)[number]): Grid {
  return d.caps.kind === 'text' ? textGrid(d.caps) : pixelGrid(d.caps);
}

/** The notice's row (the title on 2 rows, else the last), turn by turn. */
function noticeRows(screen: Screen, locale: Locale, grid: Grid): string[] {
  const turns = layout(screen, locale, grid).noticeTurns;
  const row = grid.rows < 4 ? 0 : grid.rows - 1;
  return Array.from({ length: turns }, (_, turn) => layout({ ...screen, noticeTurn: turn }, locale, grid).rows[row].text);
}

const squeeze = (s: string): string => s.replace(/\s+/g, '');

/**
 * `turn` is a piece of one of `phrases` that starts and ends where a row may break: at a space,
 * the phrase's ends, or after a Chinese character; never inside a word, nor between a Latin word
 * and the Chinese character written onto it ("U" / "盘导出": where to export, lost).
 */
function wholePiece(turn: string, phrases: readonly string[]): boolean {
  const breaksAfter = (ch: string | undefined): boolean => ch === undefined || /\s/.test(ch) || cellsOf(ch) === 2;
  return phrases.some((p) => {
    for (let i = p.indexOf(turn); i >= 0; i = p.indexOf(turn, i + 1)) {
      const before = i === 0 || breaksAfter(p[i - 1]);
      const end = i + turn.length;
      if (before && (end === p.length || /\s/.test(p[end]) || breaksAfter([...turn].at(-1)))) return true;
    }
    return false;
  });
}

describe('ui-lcd: the error notices of idle and login (card reader, storage, archive, selling lock), read whole in turns on every display', () => {
  for (const f of FAULTS) {
    it(`${f.name} (${f.def.code}): theCodeTheWholeCauseAndTheFirstStepOverTheNoticeRowsTurns`, () => {
      for (const { name, screen } of screensWith(f.notice())) {
        for (const d of DISPLAYS) {
          for (const locale of LOCALES) {
            const where = `${f.def.code} ${name} ${d.name} ${locale}`;
            const grid = gridOf(d);
            const rows = noticeRows(screen, locale, grid);
            assert.ok(rows.length > 1, `${where}: one turn: ${JSON.stringify(layout(screen, locale, grid).rows.map((r) => r.text))}`);
            assert.equal(rows[0], f.def.code, `${where}: the code first, on its own`);
            // A character LCD shows English (no Chinese in the HD44780 ROM).
            const want = d.caps.kind === 'text' || locale === 'en' ? f.def.en : f.def.zh;
            const read = squeeze(rows.join(' '));
            assert.equal(read, squeeze(`${f.def.code} ${want.cause} ${want.steps[0]}`), `${where}: ${JSON.stringify(rows)}`);
            // Each turn is whole words of one phrase: no row ends inside a word the next one goes on with.
            for (const r of rows) assert.ok(wholePiece(r, [f.def.code, want.cause, want.steps[0]]), `${where}: ${JSON.stringify(r)} is not a whole piece of the notice: ${JSON.stringify(rows)}`);
            for (let turn = 0; turn < rows.length; turn++) checkedRender({ ...screen, noticeTurn: turn }, `${where} turn ${turn}`, [d]);
            assert.equal(noticeTurnCount(screen, locale, d.caps), rows.length, `${where}: the turns the app counts`);
          }
        }
      }
    });
  }

  it('theTurnGoesRoundAndANoticeThatFitsItsRowIsShownAsBeforeInOneTurn', () => {
    const grid = textGrid({ kind: 'text', cols: 16, rows: 2 });
    const login = screensWith(FAULTS[0].notice())[1].screen;
    const rows = noticeRows(login, 'en', grid);
    assert.equal(layout({ ...login, noticeTurn: rows.length + 1 }, 'en', grid).rows[0].text, rows[1], 'modulo the turns');
    // "Reversal owed" (a power cut's outcome at login) fits: one turn, whatever the turn says.
    const short = { ...login, notice: t('notice.cutReversalOwed'), noticeTurn: 3 };
    assert.equal(layout(short, 'en', grid).noticeTurns, 1);
    assert.equal(layout(short, 'en', grid).rows[0].text, 'Reversal owed');
    // A plain notice too long for the row is cut at a word as before (it has no turns to show).
    const plain = { ...login, notice: 'E-RDR-03 Card reader not answering' };
    assert.equal(layout(plain, 'en', grid).noticeTurns, 1);
    assert.equal(layout(plain, 'en', grid).rows[0].text, 'E-RDR-03 Card');
  });
});

// ---------------------------------------------------------------- every variant, read whole

/** A notice and what its turns must hold: its phrases in order, per language (code, cause, step; or the anomalies' one). */
interface Variant {
  readonly name: string;
  readonly notice: Txt;
  /** The notice's code, the first turn on its own; absent for the anomalies (a hint, not an error). */
  readonly code?: string;
  readonly phrases: (lang: 'en' | 'zh') => readonly string[];
  /** Words each read whole in one turn (the anomalies' codes), beside the phrases. */
  readonly words?: readonly string[];
}

type Kind = 'text' | 'pixels';

const idleScreen = (): Screen => screenFor('idle', { merchantName: { en: 'ZHANG SAN STORE', zh: '张三便利店' }, nowMs: NOW_MS, status: { batteryPercent: 85, network: 'up', host: 'online', paper: 'ok' } });
const loginScreen = (): Screen => screenFor('login', { field: 'operator', operator: '0' });

/** An error notice's phrases: its code, `cause` (the error's own unless given), its first step. */
function errorPhrases(d: ErrorDef, cause?: LocalText): Variant['phrases'] {
  return (lang) => [d.code, cause ? cause[lang] : d[lang].cause, d[lang].steps[0]];
}

/** Idle's notice for a batch with these anomaly flags (boot/screen-map.ts, the path the terminal takes). */
function anomaliesNotice(count: number, codes: string): Txt {
  const view = { state: 'idle', data: { battery: 'ok', amountFen: 0, pendingReceipts: [], reportPending: false, signedOn: true, reversalPending: false, anomalies: { count, codes } } } as unknown as MachineView;
  const env: Env = { nowMs: NOW_MS, merchantName: 'SHOP', status: {}, bootStep: 'ready', bootStepIndex: 0, bootStepCount: 1 };
  const n = chooseScreen(view, EMPTY_UI, env).notice;
  assert.ok(n !== undefined, 'a notice');
  return n;
}

/** Every set of rules a batch can raise (in rule order, as anomalyCodes lists them), with as many flags as rules and with the most. */
const ANOMALY_VARIANTS: readonly Variant[] = Array.from({ length: (1 << ANOMALY_RULES.length) - 1 }, (_, i) => ANOMALY_RULES.filter((_r, bit) => ((i + 1) & (1 << bit)) !== 0).map((r) => r.code))
  .flatMap((codes) => [codes.length, FLAGS_COUNT_MAX].map((n): Variant => ({
    name: `${n} anomalies ${codes.join('+')}`,
    notice: anomaliesNotice(n, codes.join('+')),
    phrases: (lang) => [(n === 1 ? t('notice.anomaly', { codes: codes.join(' ') }) : t('notice.anomalies', { n, codes: codes.join(' ') }))[lang]],
    words: [...codes, String(n)],
  })));

/** One key, every two keys, every key at once (18: each named in turns). */
const STUCK_KEY_SETS: ReadonlyArray<readonly string[]> = [
  ...KEY_NAMES.map((k) => [k]),
  ...KEY_NAMES.flatMap((a, i) => KEY_NAMES.slice(i + 1).map((b) => [a, b])),
  [...KEY_NAMES],
];
const STUCK_VARIANTS: readonly Variant[] = STUCK_KEY_SETS.map((keys) => ({
  name: `stuck ${keys.join(' ')}`,
  notice: stuckKeysNotice(keys),
  code: ERRORS.KBD_STUCK.code,
  phrases: errorPhrases(ERRORS.KBD_STUCK, t(keys.length === 1 ? 'notice.keyStuck' : 'notice.keysStuck', { keys: keys.join(' ') })),
}));

/** The groups of the parts a self-test checks (printer, power, keypad, display, board and buses, scanner, network and modem). */
const SELF_TEST_GROUPS = ['E-PRN-', 'E-PWR-', 'E-KBD-', 'E-DSP-', 'E-BRD-', 'E-SCN-', 'E-NET-'];
/** Every role of every board file, with the part the notice names for it. */
const BOARD_PARTS: ReadonlyArray<{ readonly where: string; readonly part: LocalText | undefined }> = readdirSync(join(__dirname, '..', '..', 'board-configs'))
  .filter((f) => f.endsWith('.json'))
  .flatMap((f) => {
    const config = readBoardFile(f.replace(/\.json$/, '')).config;
    return Object.keys(config.devices).map((role) => ({ where: `${f} ${role}`, part: partOf({ config }, role) }));
  });
const SELF_TEST_VARIANTS: readonly Variant[] = (Object.keys(ERRORS) as ErrorId[])
  .filter((id) => SELF_TEST_GROUPS.some((g) => ERRORS[id].code.startsWith(g)))
  .flatMap((id) => {
    const d = ERRORS[id];
    const generic = d.code === ERRORS.BRD_DEVICE_ABSENT.code || d.code === ERRORS.BRD_BUS.code;
    // A cause that names no part is read with the part before it, for every part a board has.
    if (!generic) return [{ name: `self-test ${d.code}`, notice: faultNotice(new PosError(id)), code: d.code, phrases: errorPhrases(d) }];
    return BOARD_PARTS.map(({ where, part }): Variant => {
      assert.ok(part !== undefined, where);
      const cause = t('notice.partFault', { part, cause: { en: d.en.cause, zh: d.zh.cause } });
      return { name: `self-test ${d.code} ${where}`, notice: faultNotice(new PosError(id), part), code: d.code, phrases: errorPhrases(d, cause) };
    });
  });

/** `turn` holds `word` whole: between spaces, full-width characters or the turn's ends. */
function holdsWord(turn: string, word: string): boolean {
  const edge = (ch: string | undefined): boolean => ch === undefined || ch === ' ' || cellsOf(ch) === 2;
  for (let i = turn.indexOf(word); i >= 0; i = turn.indexOf(word, i + 1)) {
    if (edge(turn[i - 1]) && edge(turn[i + word.length])) return true;
  }
  return false;
}

/** The notice row's text and width (a page tag beside it on a 2-row display takes its cells), turn by turn. */
function noticeTurnRows(screen: Screen, locale: Locale, grid: Grid): Array<{ readonly text: string; readonly width: number }> {
  const turns = layout(screen, locale, grid).noticeTurns;
  const at = grid.rows < 4 ? 0 : grid.rows - 1;
  return Array.from({ length: turns }, (_, turn) => {
    const row = layout({ ...screen, noticeTurn: turn }, locale, grid).rows[at];
    return { text: row.text, width: grid.cols - (row.right !== undefined ? cells(row.right, grid) + 1 : 0) };
  });
}

/**
 * The turns, phrase by phrase: each phrase's turns read in order make it (spaces aside). Fails
 * when a turn holds the end of one phrase and the start of the next, or a phrase is not read.
 */
function turnsByPhrase(turns: readonly string[], phrases: readonly string[], where: string): string[][] {
  const out: string[][] = [];
  let i = 0;
  for (const p of phrases) {
    const group: string[] = [];
    while (i < turns.length && squeeze(group.join('')) !== squeeze(p)) group.push(turns[i++]);
    assert.equal(squeeze(group.join('')), squeeze(p), `${where}: ${JSON.stringify(p)} not read whole over ${JSON.stringify(turns)}`);
    out.push(group);
  }
  assert.equal(i, turns.length, `${where}: turns beyond the notice: ${JSON.stringify(turns)}`);
  return out;
}

/**
 * Every variant on every display of `kind`, in both languages, on `screens` (the anomalies: idle
 * only): every turn fits its row, is a whole piece of one phrase, and the turns read in order hold
 * every phrase whole (code first on its own); English turns hold as many whole words as fit; the
 * pixel panel has a glyph for every character.
 */
function assertReadWhole(variants: readonly Variant[], kind: Kind, screens: ReadonlyArray<() => Screen>): void {
  const glyphless = new Set<string>();
  for (const v of variants) {
    for (const base of screens) {
      const screen: Screen = { ...base(), notice: v.notice };
      for (const d of DISPLAYS.filter((x) => x.caps.kind === kind)) {
        const grid = gridOf(d);
        for (const locale of LOCALES) {
          const where = `${v.name} ${screen.id} ${d.name} ${locale}`;
          const lang = d.caps.kind === 'text' || locale === 'en' ? 'en' : 'zh';
          const phrases = v.phrases(lang);
          const rows = noticeTurnRows(screen, locale, grid);
          const turns = rows.map((r) => r.text);
          for (const r of rows) assert.ok(r.text !== '' && cells(r.text, grid) <= r.width, `${where}: ${JSON.stringify(r.text)} does not fit its ${r.width} cells`);
          assert.equal(noticeTurnCount(screen, locale, d.caps), rows.length, `${where}: the turns the app counts`);
          for (const w of v.words ?? []) assert.ok(turns.some((x) => holdsWord(x, w)), `${where}: ${JSON.stringify(w)} not read whole in ${JSON.stringify(turns)}`);
          if (kind === 'pixels') for (const ch of turns.join('')) if (!hasGlyph(ch)) glyphless.add(ch);
          if (rows.length === 1) {
            // It fits its row: read whole at once, as before turns.
            assert.equal(turns[0], resolve(v.notice, locale, grid.ascii), `${where}: one turn`);
            continue;
          }
          if (v.code !== undefined) assert.equal(turns[0], v.code, `${where}: the code first, on its own: ${JSON.stringify(turns)}`);
          for (const x of turns) assert.ok(wholePiece(x, phrases), `${where}: ${JSON.stringify(x)} is not a whole piece of the notice: ${JSON.stringify(turns)}`);
          const groups = turnsByPhrase(turns, phrases, where);
          if (lang === 'en') {
            // Greedy: the next turn of the same phrase starts with a word that did not fit after this one.
            for (const g of groups) {
              for (let i = 0; i + 1 < g.length; i++) {
                const next = g[i + 1].split(' ')[0];
                assert.ok(cells(`${g[i]} ${next}`, grid) > rows[0].width, `${where}: ${JSON.stringify(next)} fits after ${JSON.stringify(g[i])}: ${JSON.stringify(turns)}`);
              }
            }
          }
        }
      }
    }
  }
  assert.deepEqual([...glyphless], [], 'characters the font subset lacks (npm run gen:font)');
}

describe('ui-lcd: every variant of the self-test, stuck keys and anomalies notices, read whole in turns', () => {
  for (const kind of ['text', 'pixels'] as const) {
    const on = kind === 'text' ? 'OnTheCharacterGrid' : 'OnThePixelPanel';
    it(`everyAnomaliesNoticeIsReadWholeInTurns${on}`, () => {
      assertReadWhole(ANOMALY_VARIANTS, kind, [idleScreen]);
    });
    it(`everyStuckKeysNoticeIsItsCodeTheKeysAndTheFirstStepReadWholeInTurns${on}`, () => {
      assertReadWhole(STUCK_VARIANTS, kind, [idleScreen, loginScreen]);
    });
    it(`everySelfTestNoticeIsItsCodeCauseAndFirstStepReadWholeInTurns${on}`, () => {
      assertReadWhole(SELF_TEST_VARIANTS, kind, [idleScreen, loginScreen]);
    });
  }

  it('theErrorNoticesOfIdleAndLoginFillEachEnglishTurnWithAsManyWholeWordsAsFit', () => {
    // The reader's, storage's, the archives' and the selling lock's notices, greedy as the rest.
    const variants = FAULTS.map((f): Variant => ({ name: f.name, notice: f.notice(), code: f.def.code, phrases: errorPhrases(f.def) }));
    for (const kind of ['text', 'pixels'] as const) assertReadWhole(variants, kind, [idleScreen, loginScreen]);
    // E-STO-15's step on 16 cells: each turn as full as whole words make it ("the recovery menu"
    // is 17 cells, "menu with a USB stick" 21).
    const grid = textGrid({ kind: 'text', cols: 16, rows: 2 });
    assert.deepEqual(noticeRows({ ...loginScreen(), notice: archiveNotice() }, 'en', grid).slice(3), ['Export them in', 'the recovery', 'menu with a USB', 'stick']);
  });

  it('chineseTurnsBreakBetweenCharactersAndKeepALatinWordWithTheCharacterWrittenOntoIt', () => {
    const grid = pixelGrid({ kind: 'pixels', width: 128, height: 64 });
    const keys = noticeRows({ ...idleScreen(), notice: stuckKeysNotice(['CANCEL', 'CLEAR', 'FUNC']) }, 'zh-CN', grid);
    assert.deepEqual(keys, ['E-KBD-01', '按键CANCEL CLEAR', 'FUNC卡住', '按下松开卡住的键']);
    assert.deepEqual(noticeRows({ ...idleScreen(), notice: archiveNotice() }, 'zh-CN', grid), ['E-STO-15', '旧流水需要导出', '在恢复菜单中用', 'U盘导出']);
    // Six anomaly codes: the count and the full-width colon, then the codes, a row each pair.
    assert.deepEqual(noticeRows({ ...idleScreen(), notice: anomaliesNotice(FLAGS_COUNT_MAX, ANOMALY_RULES.map((r) => r.code).join('+')) }, 'zh-CN', grid),
      ['！64条异常：', 'BURST AMOUNT', 'DECLRUN DECLCARD', 'REPEAT DOUBLE']);
  });
});
