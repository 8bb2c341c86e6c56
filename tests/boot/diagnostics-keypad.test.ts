/**
 * Diagnostics' keypad test (boot/diagnostics.ts) shows which keys work (FIELD-FAULTS "keypad key
 * broken or stuck": "which key; keypad test in diagnostics"): a key stuck at boot is not waited
 * for, the test runs over the others and fails E-KBD-01 naming the stuck key beside the keys that
 * worked; keys never pressed are named too. The keypad is the simulator board's real matrix driver.
 */
import { strict as assert } from 'node:assert';
import { Diagnostics, DiagResult } from '../../boot/diagnostics';
import { openDiagnostics as openOver } from './diag-network-check';
import { SimBoard, createSimBoard } from '../../sim/board-sim';
import { DIAG_CHECKS } from '../../ui-lcd/screens';
import type { KeyName } from '../../hal/keypad';
import type { KeypadConfig } from '../../hal/board-schema';


/** Diagnostics open over the simulator board (tests/boot/diag-network-check.ts). */
const openDiagnostics = (sim: SimBoard): Promise<Diagnostics> => openOver(sim.board);

async function keypadResult(diag: Diagnostics): Promise<DiagResult> {
  for (let i = 0; i < 200; i++) {
    const r = diag.snapshot().find((x) => x.check === 'keypad');
    if (r && r.state !== 'running') return r;
    await new Promise((res) => setTimeout(res, 10));
  }
  throw new Error('the keypad check did not finish');
}

describe('diagnostics: the keypad test shows which keys work', function () {
  this.timeout(30_000);
  let sim: SimBoard | undefined;
  let diag: Diagnostics | undefined;
  afterEach(async () => { diag?.close(); await sim?.close(); sim = undefined; diag = undefined; });

  const allKeys = (s: SimBoard): KeyName[] => (s.board.config.devices.keypad0 as KeypadConfig).keymap.flat().filter((k): k is KeyName => k !== null);

  it('aKeyStuckAtBootIsNotWaitedForAndTheTestFailsE-KBD-01NamingItBesideTheKeysThatWork', async () => {
    sim = await createSimBoard({ beforeBoot: (s) => s.keypad().press('5') });
    await sim.board.keypad().start();
    assert.deepEqual(sim.board.keypad().stuck(), ['5']);
    diag = await openDiagnostics(sim);
    diag.press(String(DIAG_CHECKS.indexOf('keypad') + 1) as KeyName);
    for (const k of allKeys(sim).filter((x) => x !== '5')) diag.press(k);
    const r = await keypadResult(diag);
    assert.equal(r.state, 'fail');
    assert.equal(r.code, 'E-KBD-01');
    assert.equal(r.lines[0], 'stuck: 5');
    assert.equal(r.lines[1], `17/18 work: ${allKeys(sim).filter((x) => x !== '5').join(' ')}`);
    assert.ok(r.text?.some((l) => l.zh === '卡住：5'), 'the Chinese half');
  });

  it('aKeyNeverPressedIsNamedAndTheOthersAreListedAsWorking', async () => {
    sim = await createSimBoard();
    await sim.board.keypad().start();
    diag = await openDiagnostics(sim);
    diag.press(String(DIAG_CHECKS.indexOf('keypad') + 1) as KeyName);
    for (const k of ['1', '2', 'CANCEL', 'CANCEL'] as const) diag.press(k);
    const r = await keypadResult(diag);
    assert.equal(r.state, 'fail');
    assert.equal(r.code, 'E-OPR-07', 'the second CANCEL stops the test');
    assert.match(r.lines[0], /^not seen: MENU UP DOWN FUNC 3 4 5/);
    assert.equal(r.lines[1], '3/18 work: 1 2 CANCEL');
  });

  it('everyKeyPressedPassesAsBefore', async () => {
    sim = await createSimBoard();
    await sim.board.keypad().start();
    diag = await openDiagnostics(sim);
    diag.press(String(DIAG_CHECKS.indexOf('keypad') + 1) as KeyName);
    for (const k of allKeys(sim)) diag.press(k);
    const r = await keypadResult(diag);
    assert.equal(r.state, 'ok');
    assert.deepEqual(r.lines, ['all 18 keys seen']);
  });
});
