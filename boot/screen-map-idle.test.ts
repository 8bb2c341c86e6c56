/**
 * The idle screen's title: the merchant's name as the acquirer downloaded it (what the receipts
 * print), drawn whole on the 128×64 display in both languages, its characters outside the LCD's
 * subset taken from GB2312's glyph file; the terminal's own title before any download, and on a
 * character display when the name is not ASCII (its ROM has no Chinese).
 */
import { strict as assert } from 'node:assert';
import type { DisplayCapabilities } from '../hal/display';
import type { MachineView } from '../runtime/machine';
import { screenFor } from '../ui-lcd/screens';
import { renderScreen, Txt } from '../ui-lcd/screen';
import { resolve } from '../ui-lcd/strings';
import { GLYPHS } from '../ui-lcd/font/unifont-subset';
import { chooseScreen, EMPTY_UI, Env } from './screen-map';

const PIXELS: DisplayCapabilities = { kind: 'pixels', width: 128, height: 64 };
const LCD_20X4: DisplayCapabilities = { kind: 'text', cols: 20, rows: 4 };
const OWN_TITLE: Txt = { en: 'DEMO SHOP', zh: '演示商户' };

function idleView(merchantName?: string): MachineView {
  return { state: 'idle', data: { battery: 'ok', amountFen: 0, pendingReceipts: [], reportPending: false, signedOn: true, reversalPending: false, ...(merchantName !== undefined ? { merchantName } : {}) } };
}

function envFor(asciiOnly: boolean): Env {
  return { nowMs: Date.UTC(2026, 0, 2, 3, 4), tzOffsetMinutes: 480, merchantName: OWN_TITLE, asciiOnly, status: {}, bootStep: 'ready', bootStepIndex: 0, bootStepCount: 1 };
}

function idleTitle(merchantName: string | undefined, asciiOnly: boolean): Txt {
  const choice = chooseScreen(idleView(merchantName), EMPTY_UI, envFor(asciiOnly));
  assert.equal(choice.name, 'idle');
  return screenFor(choice.name, choice.data).title!;
}

describe('boot/screen-map: the idle title', () => {
  it('isTheMerchantNameTheAcquirerDownloadedInBothLanguages', () => {
    const title = idleTitle('模拟商户', false);
    assert.equal(resolve(title, 'zh-CN'), '模拟商户');
    assert.equal(resolve(title, 'en'), '模拟商户');
  });

  it('isDrawnWholeOnThePixelDisplayFromTheGlyphFileWhereTheSubsetLacksACharacter', () => {
    // 拟 is in none of the terminal's own strings: the subset does not hold it.
    assert.equal(GLYPHS['62DF'], undefined);
    for (const name of ['模拟商户', '北京朝阳区张三便利店', 'SHOP 24']) {
      const screen = screenFor('idle', chooseScreen(idleView(name), EMPTY_UI, envFor(false)).data);
      for (const locale of ['zh-CN', 'en'] as const) {
        const r = renderScreen(screen, locale, PIXELS);
        assert.equal(r.kind, 'pixels');
        if (r.kind === 'pixels') assert.deepEqual(r.missingGlyphs, [], `${name} (${locale})`);
      }
    }
  });

  it('isTheTerminalsOwnTitleBeforeAnyDownload', () => {
    assert.deepEqual(idleTitle(undefined, false), OWN_TITLE);
    assert.deepEqual(idleTitle('   ', false), OWN_TITLE);
  });

  it('staysTheTerminalsOwnOnACharacterDisplayWhenTheNameIsNotAscii', () => {
    assert.deepEqual(idleTitle('模拟商户', true), OWN_TITLE);
    assert.equal(idleTitle('SHOP 24', true), 'SHOP 24');
    const r = renderScreen(screenFor('idle', chooseScreen(idleView('模拟商户'), EMPTY_UI, envFor(true)).data), 'en', LCD_20X4);
    assert.equal(r.kind, 'text');
    if (r.kind === 'text') {
      assert.match(r.rows[0], /^DEMO SHOP/);
      assert.ok(!r.rows.join('').includes('?'), r.rows.join('|'));
    }
  });
});
