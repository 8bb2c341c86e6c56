import * as assert from 'node:assert/strict';
import { STRINGS, StringKey, t, tr, formatAmount, maskPan, LocaleSetting, resolve } from '../../ui-lcd/strings';
import { cellsOf } from '../../ui-lcd/font';
import { cells } from '../../ui-lcd/layout';
import { uiTexts } from '../../ui-lcd/font/charset';

const zhCells = (s: string): number => cells(s, { cellsOf });

/** Widest slot each kind of string gets: [en characters, zh cells] (see strings.ts). */
const LIMITS: ReadonlyArray<[prefix: string, en: number, zhCells: number]> = [
  ['title.', 16, 12],
  ['menu.', 13, 14],
  ['footer.', 16, 16],
  ['label.', 16, 16],
];

describe('ui-lcd strings', () => {
  it('noTitleMenuFooterOrLabelOverflowsTheSmallestDisplayItIsShownOn', () => {
    const over: string[] = [];
    for (const [key, v] of Object.entries(STRINGS)) {
      const limit = LIMITS.find(([p]) => key.startsWith(p));
      if (!limit) continue;
      if (v.en.length > limit[1]) over.push(`${key} en ${JSON.stringify(v.en)} > ${limit[1]}`);
      if (zhCells(v.zh) > limit[2]) over.push(`${key} zh ${JSON.stringify(v.zh)} > ${limit[2]} cells`);
    }
    assert.deepEqual(over, []);
  });

  it('everyEnglishTextIsPrintableAsciiTheHd44780RomShows', () => {
    const bad = uiTexts().filter((x) => x.where.endsWith('(en)') && !/^[\x20-\x5b\x5d-\x7d]*$/.test(x.text));
    assert.deepEqual(bad, []);
  });

  it('placeholdersAreFilledInBothLanguages', () => {
    assert.deepEqual(t('msg.echoOk', { ms: 42 }), { en: 'Host answers (42 ms)', zh: '主机有应答(42毫秒)' });
    assert.equal(tr('notice.attemptsLeft', 'zh-CN', { n: 1 }), '错误，剩1次');
    assert.equal(t('msg.inFlight', { txn: t('txn.sale') }).zh, '断电时的消费');
  });

  it('amountsAreFormattedFromFenWithIntegerArithmetic', () => {
    assert.equal(formatAmount(1234, 'en'), '¥12.34');
    assert.equal(formatAmount(1234, 'zh-CN'), '12.34元');
    assert.equal(formatAmount(1234, 'zh-CN', true), 'RMB 12.34');
    assert.equal(formatAmount(5, 'en'), '¥0.05');
    assert.equal(formatAmount(0, 'zh-CN'), '0.00元');
    assert.equal(formatAmount(-1250, 'en'), '-¥12.50');
    assert.equal(formatAmount(999_999_999_99, 'en'), '¥999999999.99');
    assert.throws(() => formatAmount(0.5, 'en'), RangeError);
    assert.equal(resolve({ parts: [t('label.amount'), ' ', { amountFen: 100 }] }, 'zh-CN'), '金额 1.00元');
  });

  it('panIsMaskedFirstSixLastFourAndMaskingIsIdempotent', () => {
    assert.equal(maskPan('6228480402564890018'), '622848*********0018');
    assert.equal(maskPan('6228 4804 0256 4890'), '622848******4890');
    assert.equal(maskPan(maskPan('6228480402564890018')), '622848*********0018');
    assert.equal(maskPan('12345'), '*****');
  });

  it('localeIsSwitchableAtRunTimeAndTellsListeners', () => {
    const l = new LocaleSetting('zh-CN');
    const seen: string[] = [];
    const off = l.onChange((x) => seen.push(x));
    l.set('en');
    l.set('en');
    off();
    l.set('zh-CN');
    assert.deepEqual(seen, ['en']);
    assert.equal(l.get(), 'zh-CN');
  });

  it('everyKeyHasBothLanguages', () => {
    for (const k of Object.keys(STRINGS) as StringKey[]) {
      assert.ok(STRINGS[k].en.length > 0 && STRINGS[k].zh.length > 0, k);
    }
  });
});
