/** The last-errors page's lines (boot/diagnostics.ts clipAtWord): whole words, bounded. */
import { strict as assert } from 'node:assert';
import { MEMORY_AVAILABLE_BYTES_MIN, clipAtWord, memoryLines } from './diagnostics';

describe('boot/diagnostics: a logged error\'s line on the last-errors page', () => {
  it('aTlsCauseFitsWholeWhereEightyCharactersCutItInsideAWord', () => {
    const line = '14:02:11 E-MGT-07 mqtts://127.0.0.1:18884: self-signed certificate in certificate chain';
    assert.ok(line.length > 80);
    assert.equal(clipAtWord(line, 160), line);
  });

  it('aLongerLineIsCutAtAWordWithDotsAndNeverPastItsMaximum', () => {
    const line = `E-STO-09 ${'writing the export failed because the stick is full '.repeat(5)}`;
    const clipped = clipAtWord(line, 160);
    assert.ok(clipped.length <= 160, `${clipped.length}`);
    assert.ok(clipped.endsWith('...'));
    const body = clipped.slice(0, -3);
    assert.ok(line.startsWith(body) && line[body.length] === ' ', `cut at a space: "${clipped}"`);
  });

  it('oneWordLongerThanTheMaximumIsCutInsideIt', () => {
    const clipped = clipAtWord('x'.repeat(200), 160);
    assert.equal(clipped, `${'x'.repeat(157)}...`);
  });
});

describe('boot/diagnostics: the memory and CPU lines under the storage check', () => {
  const MB = 1024 * 1024;
  const en = (lines: ReturnType<typeof memoryLines>): string[] => lines.map((l) => l.en);

  it('theTerminalsMemoryWhatIsAvailableAndTheLoad', () => {
    assert.deepEqual(en(memoryLines({ rssBytes: 57.8 * MB, availableBytes: 120 * MB, totalBytes: 488 * MB, load1: 0.4213 })),
      ['RAM: terminal 57.8 MB', 'RAM free 120.0 of 488.0 MB', 'CPU load 0.42']);
  });

  it('aUnitLimitIsShownBesideTheTerminalsMemory', () => {
    const lines = memoryLines({ rssBytes: 60 * MB, availableBytes: 200 * MB, totalBytes: 488 * MB, limitBytes: 96 * MB, load1: 1 });
    assert.equal(lines[0].en, 'RAM: terminal 60.0 of 96.0 MB');
    assert.equal(lines[0].zh, '内存：终端60.0/96.0 MB');
  });

  it('littleMemoryAvailableAddsTheRestartStep_andOnlyThen', () => {
    const low = memoryLines({ rssBytes: 60 * MB, availableBytes: MEMORY_AVAILABLE_BYTES_MIN - 1, totalBytes: 256 * MB, load1: 3.5 });
    assert.equal(low.at(-1)?.en, 'Memory low: restart the terminal');
    const enough = memoryLines({ rssBytes: 60 * MB, availableBytes: MEMORY_AVAILABLE_BYTES_MIN, totalBytes: 256 * MB, load1: 3.5 });
    assert.ok(!en(enough).some((l) => l.startsWith('Memory low')));
  });
});
