/**
 * FIELD-FAULTS "Receipt lost or not printed: power too low for the print head", through the real
 * terminal process on the simulator board: the battery falls below the board's print threshold
 * (battery0.printMinPercent, default PRINT_BATTERY_MIN_PCT: 10 %) during a sale. The sale stays
 * approved (no reversal: the money flow does not depend on the slip), no print job starts, the
 * paper-out screen shows E-PWR-03 with its first step, and once charged the slip prints, as the
 * original it is (a first print is never marked DUPLICATE).
 */
import { strict as assert } from 'node:assert';
import { Driver, E2E_TEST_TIMINGS, journalState, terminalPerTest } from './driver';
import { PRINT_BATTERY_MIN_PCT } from '../../hal/battery';

/** Under the print threshold and the sale threshold (15 %), over the critical one (5 %): no shutdown. */
const BELOW_PRINT_PCT = PRINT_BATTERY_MIN_PCT - 2;
const CHARGED_PCT = 80;
/** The paper sensor's poll in this file's terminal (tests only, --test-timings: the product's is 1 s). */
const PAPER_POLL_MS = 200;
/** Several paper polls (each a print the low battery must refuse): three and a half. */
const SEVERAL_POLLS_MS = 3.5 * PAPER_POLL_MS;

describe('e2e: battery too low to print (E-PWR-03)', function () {
  this.timeout(120_000);
  const bench = terminalPerTest('pos-e2e-printbat-');
  let d: Driver;
  beforeEach(() => { d = bench.d; d.testTimings = { ...E2E_TEST_TIMINGS, 'paper-poll': PAPER_POLL_MS }; });

  /** Signs in at a full battery, types a sale and has the battery fall before the card is read. */
  async function approvedAtLowBattery(): Promise<void> {
    await d.powerOn();
    await d.signIn();
    await d.keys('1234OK');
    await d.until('sale.card');
    await d.cmd('battery', { percent: BELOW_PRINT_PCT, charging: false });
    await d.cmd('swipe', { card: 'magDebit' });
  }

  it('aSaleApprovedAtLowBatteryKeepsItsSlipWaitingShowsE-PWR-03AndPrintsItOnceAsTheOriginalWhenCharged', async () => {
    await approvedAtLowBattery();
    const waiting = await d.until('paperOut', (s) => s.data.error?.code === 'E-PWR-03');
    assert.equal(waiting.data.result?.outcome, 'approved', 'the sale stays approved');
    const text = waiting.screen.text.join(' ');
    assert.match(text, /^E-PWR-03 /, 'the code as the title, as on its error screen');
    assert.match(text, /Battery too low to print/, 'the cause whole (as the title it was cut to "Battery too")');
    assert.match((await d.pages('paperOut')).join(' '), /Charge the terminal/, 'its first step');
    // Several paper polls at low battery: still nothing printed, still waiting.
    await new Promise((r) => setTimeout(r, SEVERAL_POLLS_MS));
    assert.equal((await d.snapshot()).state, 'paperOut');
    assert.deepEqual(await d.receipts(), [], 'no print job started');

    await d.cmd('battery', { percent: CHARGED_PCT, charging: true });
    await d.until('sale.askCustomerCopy');
    const slips = await d.receiptsAtLeast(1);
    assert.equal(slips.length, 1, 'one slip');
    const slip = slips[0].join('\n');
    assert.match(slip, /MERCHANT COPY/);
    assert.match(slip, /12\.34/);
    assert.doesNotMatch(slip, /DUPLICATE/, 'its first print is not a reprint');
    await d.keys('2');
    await d.until('sale.signature');
    await d.keys('OK');
    await d.until('idle');
    await d.powerOff();

    const s = await journalState(bench.dir);
    const sales = [...s.txns.values()].filter((t) => t.kind === 'sale');
    assert.equal(sales.length, 1);
    assert.equal(sales[0].status, 'approved', 'not reversed because its slip waited');
    assert.equal(s.pendingReversal, undefined);
    assert.ok(sales[0].printed.has('merchant'));
  });

  it('leftWaitingTheSlipPrintsAtIdleOnceChargedAndTheCustomerCopyIsOffered', async () => {
    await approvedAtLowBattery();
    await d.until('paperOut', (s) => s.data.error?.code === 'E-PWR-03');
    await d.keys('CANCEL');
    await d.until('sale.signature');
    await d.keys('OK');
    await d.until('idle');
    await new Promise((r) => setTimeout(r, SEVERAL_POLLS_MS));
    assert.deepEqual(await d.receipts(), [], 'nothing printed at idle while the battery is low');

    await d.cmd('battery', { percent: CHARGED_PCT, charging: true });
    await d.until('offerCustomerCopy');
    await d.keys('OK');
    await d.until('idle');
    const slips = await d.receiptsAtLeast(2);
    assert.equal(slips.length, 2);
    assert.match(slips[0].join('\n'), /MERCHANT COPY/);
    assert.match(slips[1].join('\n'), /CUSTOMER COPY/);
    for (const slip of slips) assert.doesNotMatch(slip.join('\n'), /DUPLICATE/, 'first prints are not reprints');
  });
});
