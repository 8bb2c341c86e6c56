import { strict as assert } from 'node:assert';
import { brailleRows, fitColumns, renderPanel } from './front-panel-render';

describe('front panel rendering', () => {
  it('brailleCellsCarryTheExactPixelsTwoByFour', () => {
    const ascii = ['#.', '.#', '..', '##'].join('\n');
    // dots 1 (0,0), 5 (1,1), 7 (0,3), 8 (1,3) -> 0x01 | 0x10 | 0x40 | 0x80
    assert.deepEqual(brailleRows(ascii), [String.fromCharCode(0x2800 | 0x01 | 0x10 | 0x40 | 0x80)]);
  });

  it('wideChineseCharactersTakeTwoColumnsSoFramesStayAligned', () => {
    assert.equal(fitColumns('金额: RMB 12.34', 20), '金额: RMB 12.34     ');
    assert.equal(fitColumns('本人确认以上交易', 9), '本人确认 ');
  });

  it('everyPanelLineOfAFramedBlockHasTheSameWidth', () => {
    const lines = renderPanel({
      screen: { kind: 'text', lines: ['SALE', 'RMB 12.34'] }, state: 'idle', leds: { ledPower0: true }, batteryPercent: 80,
      charging: false, paper: 'loaded', coverOpen: false, paperLines: ['商户名称: DEMO SHOP', 'plain line'], message: '', hostPort: 1, controlPort: 2,
    });
    const roll = lines.filter((l) => l.startsWith('│') && (l.includes('DEMO') || l.includes('plain')));
    const width = (s: string): number => [...s].reduce((n, ch) => n + (/[\u2e80-\ua4cf\uff00-\uff60]/.test(ch) ? 2 : 1), 0);
    assert.equal(width(roll[0]), width(roll[1]));
  });
});
