/**
 * The card reader's field faults (FIELD-FAULTS.md "magnetic stripe reader fault": swipe again /
 * insert the card instead / reader fault) in the terminal process on the simulator board, with the
 * virtual reader's controls: `swipe-bad` (a swipe the head cannot decode) and `reader-silent` (the
 * reader stops answering).
 *
 * Three unreadable swipes in one sale: E-RDR-02 twice, then E-RDR-14 and a card screen asking for
 * the chip or a tap only; the chip sale goes through. Diagnostics' reader check shows the swipes in
 * a row and the last one's outcome. The next sale asks for a swipe again; one that reads resets
 * the count. A reader that falls silent during the card wait is E-RDR-03, not E-RDR-06 (no card
 * presented: the customer's), and long before the 60 s card wait would end. Back at idle the
 * fault is the idle screen's notice (the merchant learns it before the next sale waits for a
 * card; read in turns on the panel's row: code, cause, first step); nothing polls the reader at
 * idle, so it stays until something asks the reader anyway: the next sale's card wait, whose
 * detection the awake reader answers, ends it.
 */
import { strict as assert } from 'node:assert';
import type { DiagResult } from '../../boot/diagnostics';
import { E2E_TEST_TIMINGS, NOTICE_TEST_TIMINGS, terminalPerTest } from './driver';

/** The notice's turns in this file's terminal (tests only, NOTICE_TEST_TIMINGS: the product's are 3 s). */
const NOTICE_TURN_MS = NOTICE_TEST_TIMINGS['notice-turn']!;
/**
 * The reader's INFO poll during a card wait in this file's terminal (tests only: the driver's is
 * 2 s): a silent reader is told within it plus the link's retries, which the tests below wait for.
 */
const LIVENESS_POLL_MS = 300;

/** E-RDR-03's idle notice on the simulator board's 16-cell panel row, in turns (ui-lcd/layout.ts noticeParts). */
const SILENT_TURNS = ['E-RDR-03', 'Card reader not', 'answering', 'Restart the', 'terminal'];

describe('e2e: card reader faults (terminal process, simulator board)', function () {
  this.timeout(180_000);
  const bench = terminalPerTest('pos-e2e-reader-');

  /** To idle after an approval: no customer copy, then the signature step when one is asked. */
  async function finish(): Promise<void> {
    await bench.d.until('sale.askCustomerCopy');
    await bench.d.declineCopyToIdle();
  }

  /** A swipe the head cannot read, on the card screen: the error screen's rows. */
  async function badSwipe(): Promise<string> {
    const { d } = bench;
    await d.until('sale.card');
    await d.cmd('swipe-bad');
    await d.until('sale.cardError');
    return (await d.screen('error')).join(' ');
  }

  it('threeBadSwipesAskForTheChipOrATapAGoodSwipeResetsTheCountAndDiagnosticsShowsIt', async () => {
    const { d } = bench;
    await d.powerOn();
    await d.signIn();

    await d.keys('100OK');
    assert.match(await badSwipe(), /E-RDR-02/);
    await d.keys('OK');
    assert.match(await badSwipe(), /E-RDR-02/);
    await d.keys('OK');
    const third = await badSwipe();
    assert.match(third, /E-RDR-14/, 'the third unreadable swipe: insert or tap the card instead');
    assert.match(third, /stripe/i);
    await d.keys('OK');
    await d.until('sale.card');
    const card = (await d.screen('presentCard')).join(' ');
    assert.match(card, /Insert\/tap card/, card);
    assert.doesNotMatch(card, /Swipe/, card);
    await d.cmd('insert', { card: 'icDebit' });
    await d.until('sale.pin');
    await d.keys('1234OK');
    await finish();
    await d.cmd('remove');

    // Diagnostics' reader check: three unreadable swipes in a row, the last one unreadable.
    await d.keys('MENU8');
    await d.screen('diagnostics');
    const reader = async (done: (r: DiagResult) => boolean): Promise<DiagResult> => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const o = (await d.snapshot()).overlay;
        const r = o?.results?.find((x) => x.check === 'reader');
        if (o?.complete === true && r && done(r)) return r;
        if (Date.now() > deadline) throw new Error(`reader check: ${JSON.stringify(r)}`);
        await new Promise((res) => setTimeout(res, 40));
      }
    };
    await reader((r) => r.state === 'pending');
    await d.keys('4');
    await d.screen('diagnostics:reader');
    await d.cmd('insert', { card: 'icDebit' });
    const checked = await reader((r) => r.state === 'ok' || r.state === 'fail');
    const lines = checked.lines.join(' / ');
    assert.equal(checked.state, 'ok', lines);
    assert.match(lines, /bad swipes in a row: 3 \(fault over 10\)/, lines);
    assert.match(lines, /last swipe: unreadable/, lines);
    await d.keys('CANCEL');
    await d.until('idle', (s) => s.overlay === undefined);
    await d.cmd('remove');

    // The next sale asks for a swipe again: its unreadable swipe is its first; then one reads.
    await d.keys('200OK');
    assert.match(await badSwipe(), /E-RDR-02/);
    await d.keys('OK');
    await d.until('sale.card');
    assert.match((await d.screen('presentCard')).join(' '), /Swipe\/insert\/tap/);
    await d.cmd('swipe', { card: 'magDebit' });
    await finish();

    await d.keys('MENU8');
    await reader((r) => r.state === 'pending');
    await d.keys('4');
    await d.screen('diagnostics:reader');
    await d.cmd('swipe', { card: 'magDebit' });
    const after = (await reader((r) => r.state === 'ok' || r.state === 'fail')).lines.join(' / ');
    assert.match(after, /bad swipes in a row: 0/, after);
    assert.match(after, /last swipe: read/, after);
  });

  it('aReaderFallingSilentDuringTheCardWaitIsReaderNotAnsweringNotNoCard', async () => {
    const { d } = bench;
    d.testTimings = { ...E2E_TEST_TIMINGS, 'reader-liveness': LIVENESS_POLL_MS };
    await d.powerOn();
    await d.signIn();
    await d.keys('300OK');
    await d.until('sale.card');
    const started = Date.now();
    await d.cmd('reader-silent', { silent: true });
    const s = await d.until('sale.cardError', () => true, 15_000);
    assert.equal(s.data.error?.code, 'E-RDR-03', `not E-RDR-06: ${JSON.stringify(s.data.error)}`);
    assert.ok(Date.now() - started < 15_000, 'told well before the 60 s card wait ends');
    const text = (await d.screen('error')).join(' ');
    assert.match(text, /E-RDR-03/);
    assert.match(text, /not answering/);
    // Awake again, the sale goes on with a swipe.
    await d.cmd('reader-silent', { silent: false });
    await d.keys('OK');
    await d.until('sale.card');
    await d.cmd('swipe', { card: 'magDebit' });
    await finish();
  });

  it('aReaderFaultIsTheIdleNoticeUntilTheReaderAnswersAgain', async () => {
    const { d } = bench;
    /** The panel's notice row (its last) at idle: one of E-RDR-03's turns while the fault stands. */
    const noticeRow = async (): Promise<string> => (await d.screen('idle')).at(-1) ?? '';
    d.testTimings = { ...E2E_TEST_TIMINGS, ...NOTICE_TEST_TIMINGS, 'reader-liveness': LIVENESS_POLL_MS };
    await d.powerOn();
    await d.signIn();
    assert.ok(!SILENT_TURNS.includes(await noticeRow()), 'a reader that works: no notice');

    await d.keys('400OK');
    await d.until('sale.card');
    await d.cmd('reader-silent', { silent: true });
    await d.until('sale.cardError', (s) => s.data.error?.code === 'E-RDR-03', 15_000);
    await d.keys('CANCEL');
    await d.until('idle', (s) => s.screen.name === 'idle');
    // The notice goes round its turns: the code comes round within one round of them.
    await d.until('idle', (s) => s.screen.text.at(-1) === 'E-RDR-03', SILENT_TURNS.length * NOTICE_TURN_MS + 5_000);

    // Awake again, but nobody asks it at idle (its liveness poll runs only during a card wait):
    // past that poll's period the notice still stands.
    await d.cmd('reader-silent', { silent: false });
    await new Promise((r) => setTimeout(r, LIVENESS_POLL_MS + 500));
    assert.ok(SILENT_TURNS.includes(await noticeRow()), 'not polled at idle');

    // The next sale's card wait: the reader answers its detection and the fault is over.
    await d.keys('500OK');
    await d.until('sale.card');
    await d.keys('CANCEL');
    await d.until('idle', (s) => s.screen.name === 'idle');
    // Gone, not between two turns: still gone a turn later (read now and a turn on; the loop used to
    // wait a third turn after its last read, which it never read).
    for (let turn = 0; turn < 2; turn++) {
      if (turn > 0) await new Promise((r) => setTimeout(r, NOTICE_TURN_MS));
      assert.ok(!SILENT_TURNS.includes(await noticeRow()), 'the notice is gone once the reader answered');
    }
  });
});
