/**
 * The factory test's scanner (boot/factory.ts scannerTest) on the simulator board's scan engine
 * behind its real serial-trigger driver: the QR code of the test page the printer printed is read
 * back exactly; another code (a wrong sheet, a misread) is E-SCN-03; an engine that does not answer
 * fails with its code.
 */
import { strict as assert } from 'node:assert';
import { type Prompts, testPageCode } from '../../boot/factory';
import { simPrompts } from '../../boot/factory-station';
import type { SimBoard } from '../../sim/board-sim';
import { FactoryTestRig } from './factory-one-test';

const NAME = 'scanner reads the test page';

describe('factory test: the scanner reads the test page', function () {
  this.timeout(60_000);
  const rig = new FactoryTestRig();
  afterEach(() => rig.close());
  const scanResult = (prompts: (s: SimBoard) => Prompts, before?: (s: SimBoard) => void): ReturnType<FactoryTestRig['result']> => rig.result(NAME, 'SCAN-1', prompts, before);

  it('theTestPagesQrCodeIsReadBackExactly', async () => {
    const t = await scanResult(simPrompts);
    assert.equal(t.pass, true, JSON.stringify(t));
    assert.equal(t.values.length, testPageCode('SCAN-1').length);
  });

  it('anotherCodeShownIsE_SCN_03WithoutTheCodeInTheReport', async () => {
    const t = await scanResult((s) => ({ ...simPrompts(s), showToScanner: async () => { s.scanner().present('6212345678901234567'); } }));
    assert.deepEqual(t.codes, ['E-SCN-03']);
    assert.doesNotMatch(JSON.stringify(t), /62123456789/, 'a payment-code-like read is never written whole');
  });

  it('anEngineThatDoesNotAnswerFailsWithItsCode', async () => {
    const t = await scanResult(simPrompts, (s) => s.scanner().goSilent());
    assert.equal(t.pass, false);
    assert.ok(t.codes.length === 1 && /^E-SCN-0[24]$/.test(t.codes[0]), JSON.stringify(t));
  });
});
