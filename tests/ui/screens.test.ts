import * as assert from 'node:assert/strict';
import { STATE_NAMES, StateName, screenFor, DEFAULTS } from '../../ui-lcd/screens';
import { renderScreen } from '../../ui-lcd/screen';
import { formatYuan } from '../../ui-lcd/strings';
import { SAMPLES } from './fixtures';
import { checkedRender } from './render-check';
import { matchSnapshot } from './snapshot';

describe('ui-lcd screens: snapshots of every state, both languages, 16x2 / 20x4 / 128x64', () => {
  for (const state of STATE_NAMES) {
    it(`${state}MatchesItsSnapshotAndFitsEveryDisplay`, () => {
      const samples = SAMPLES[state] as ReadonlyArray<{ variant: string; data: Record<string, unknown> }>;
      assert.ok(samples.length > 0, `tests/ui/fixtures.ts has no sample for ${state}`);
      const text = samples.map((s) => `#### ${state} ${s.variant}\n${checkedRender(screenFor(state, s.data), `${state}/${s.variant}`)}`).join('\n');
      matchSnapshot(`screen-${state}`, text);
    });
  }

  it('everyStateRendersFromItsDefaultsAlone', () => {
    for (const state of Object.keys(DEFAULTS) as StateName[]) checkedRender(screenFor(state), `${state}/defaults`);
  });

  it('anUnknownStateNameShowsTheInternalErrorNamingTheState', () => {
    const s = screenFor('someNewState', {});
    assert.equal(s.title, 'E-SYS-99');
    const r = renderScreen({ ...s, page: 0 }, 'en', { kind: 'text', cols: 20, rows: 4 });
    assert.ok(r.kind === 'text' && r.rows[0].startsWith('E-SYS-99'));
    assert.deepEqual(s.lines, ['state someNewState']);
  });

  it('pinScreenShowsTheMaskedPanAndStarsNeverDigits', () => {
    const s = screenFor('pin', { pan: '6228480402564890018', pinLength: 4, amountFen: 1234 });
    assert.ok(JSON.stringify(s).includes('622848*********0018'));
    assert.ok(!JSON.stringify(s).includes('0402564890'));
    assert.equal(s.input?.digits, '****');
  });

  it('settlementAmountsAreTheSharedYuanFormat', () => {
    // One formatter (ui-lcd/strings.ts formatYuan) for every screen amount without a currency sign;
    // the screens' own copy printed a negative amount as "-2.-50".
    for (const [saleFen, refundFen] of [[5, 0], [123_456, 99_999_999], [-250, -5]]) {
      const lines = screenFor('settlementResult', { saleCount: 1, saleFen, refundCount: 1, refundFen }).lines ?? [];
      const en = lines.map((l) => (typeof l === 'string' ? l : 'en' in l ? l.en : ''));
      assert.ok(en.some((l) => l.includes(formatYuan(saleFen)) && !l.includes('.-')), `${saleFen}: ${en.join(' | ')}`);
      assert.ok(en.some((l) => l.includes(formatYuan(refundFen)) && !l.includes('.-')), `${refundFen}: ${en.join(' | ')}`);
    }
    assert.deepEqual([formatYuan(5), formatYuan(-250), formatYuan(99_999_999)], ['0.05', '-2.50', '999999.99']);
  });

  it('settlementAndBootProgressFillTheBarInProportion', () => {
    const half = renderScreen(screenFor('boot', { stepIndex: 2, stepCount: 4 }), 'en', { kind: 'text', cols: 20, rows: 4 });
    assert.ok(half.kind === 'text');
    assert.equal(half.rows[2], '[#######       ] 2/4');
  });
});
