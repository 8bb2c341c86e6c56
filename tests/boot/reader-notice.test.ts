/**
 * The card reader's notice on the terminal in this process (boot/terminal-app.ts), over the
 * simulator board's real reader driver and its virtual reader, and an acquirer simulator. The
 * board's 128x64 panel holds 16 cells a row: the notice (code, cause, first step) is read there in
 * turns, one every NOTICE_TURN_MS of the terminal's clock (tests/ui/notice-turns.test.ts has
 * every display); the clock here runs ahead on demand to move the turns on.
 *
 * A reader that fails the boot's self-test has that notice too, and it ends as any reader fault
 * does, when the reader answers again (runtime/txn/reader-health.ts): it was the self-test's bare
 * "E-RDR-03", which stood until the next restart whatever the reader did.
 */
import { strict as assert } from 'node:assert';
import { NoticeRig } from './notice-watch';
import type { KeyName } from '../../hal/keypad';
import type { SimBoard } from '../../sim/board-sim';

/** E-RDR-03's notice row on 16 cells, turn by turn. */
const SILENT_TURNS = ['E-RDR-03', 'Card reader not', 'answering', 'Restart the', 'terminal'];

describe('terminal: the card reader\'s notice, read whole in turns', function () {
  this.timeout(90_000);
  const rig = new NoticeRig('posreadernotice-');
  rig.hooks();
  const w = rig.w;
  const type = (keys: readonly KeyName[]): void => rig.type(keys);
  const boot = (o: { readerSilent?: boolean } = {}): Promise<void> => rig.boot({ board: o.readerSilent ? { beforeBoot: (s: SimBoard) => s.reader().goSilent() } : {} });
  const signIn = async (): Promise<void> => {
    await w.until('the operator field', (s) => s.state === 'login');
    await rig.logIn();
  };

  it('aReaderFallingSilentInASaleIsReadAtIdleCodeCauseAndStepInTurnsAsTheClockMovesOn', async () => {
    await boot();
    await signIn();
    type(['3', 'OK']);
    await w.until('the card wait', (s) => s.state === 'sale.card');
    rig.sim.reader().goSilent();
    await w.until('E-RDR-03', (s) => s.state === 'sale.cardError' && s.data.error?.code === 'E-RDR-03');
    type(['CANCEL']);
    await w.until('idle', (s) => s.state === 'idle' && s.screen.name === 'idle');
    const seen = await w.turnsRead('idle', SILENT_TURNS);
    for (const w of SILENT_TURNS) assert.ok(seen.includes(w), `${JSON.stringify(w)} never shown: ${JSON.stringify(seen)}`);
    for (const r of seen) assert.ok(SILENT_TURNS.includes(r), `${JSON.stringify(r)} is not a turn of the notice: ${JSON.stringify(seen)}`);
  });

  it('aReaderSilentAtTheBootSelfTestHasTheSameNoticeAsAnyReaderFaultAndItsAnswerLaterEndsIt', async () => {
    await boot({ readerSilent: true });
    // At login: the reader's notice (code, cause, step), not the self-test's bare code.
    const seen = await w.turnsRead('login', SILENT_TURNS);
    for (const w of SILENT_TURNS) assert.ok(seen.includes(w), `${JSON.stringify(w)} never shown: ${JSON.stringify(seen)}`);
    for (const r of seen) assert.ok(SILENT_TURNS.includes(r), `${JSON.stringify(r)} is not a turn of the notice: ${JSON.stringify(seen)}`);

    // Awake, but nothing asks the reader at idle: the notice stands.
    rig.sim.reader().wake();
    await signIn();
    assert.ok(SILENT_TURNS.includes(w.noticeRow()), `still the reader's notice at idle: ${JSON.stringify(w.latest?.screen.text)}`);

    // The next sale's card wait: the reader answers its detection and the fault is over.
    type(['3', 'OK']);
    await w.until('the card wait', (s) => s.state === 'sale.card');
    type(['CANCEL']);
    await w.until('idle without the notice', (s) => s.state === 'idle' && s.screen.name === 'idle' && !SILENT_TURNS.includes(w.noticeRow(s)));
    // Gone, not between two turns: the next turns show none of it either.
    await w.assertNoNotice(SILENT_TURNS, 2);
  });
});
