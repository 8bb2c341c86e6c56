/**
 * A software update that failed, as the merchant sees it at the terminal (boot/terminal-app.ts
 * noteUpdateResult): the slots' state (boot/update-slots.ts) says the last update was rolled back
 * (its first boot failed or never confirmed: E-UPD-04) or its state file was found damaged
 * (E-UPD-07); the login and idle notice read the code, cause and first step in turns. It was only
 * logged and printed by `pos update status`: the old version ran on and nobody at the counter knew
 * (FIELD-FAULTS.md, sign-on fails: "version and contact support when the running version is
 * flagged bad"). A confirmed update, and a board without update slots, show nothing.
 */
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { initSlots, readState, writeState, STATE_FILE } from '../../boot/update-slots';
import { NoticeRig } from './notice-watch';
import { UPDATE_NOTICE_MS_MAX } from '../../boot/terminal-app';

/** E-UPD-04's notice row on the 128x64 panel's 16 cells, turn by turn. */
const ROLLED_BACK_TURNS = ['E-UPD-04', 'Update rolled', 'back: first boot', 'failed', 'The previous', 'version runs'];
/** E-UPD-07's. */
const DAMAGED_TURNS = ['E-UPD-07', 'Update state', 'file damaged', 'The version that', 'checks out runs'];
/** Any key: the terminal does not check it here (the slots are only read). */
const PUBLIC_KEY_HEX = '00'.repeat(32);
/** A fixed time for the state's records: nothing reads it as today. */
/** When the state says the roll-back was: an hour before the test's clock (shown for UPDATE_NOTICE_MS_MAX after it). */
const atMsBefore = (ms: number): number => Date.now() - ms;
const HOUR_MS = 3_600_000;

describe('terminal: a failed software update is on the idle and login notice (E-UPD-04, E-UPD-07)', function () {
  this.timeout(90_000);
  const rig = new NoticeRig('posupdatenotice-');
  rig.hooks();
  const w = rig.w;
  let updateRoot: string;
  beforeEach(() => { updateRoot = join(rig.root, 'slots'); });

  const boot = (withSlots = true): Promise<void> => rig.boot({
    app: (sim) => (withSlots ? { update: { root: updateRoot, publicKeyHex: PUBLIC_KEY_HEX, board: sim.config.board } } : {}),
  });
  const logIn = (): Promise<void> => rig.logIn();

  /** Slots with 1.0.0 active and `last` as given (what the selector or the updater wrote). */
  function slotsWithLast(last: NonNullable<ReturnType<typeof readState>['last']>): void {
    const s = initSlots(updateRoot, '1.0.0');
    writeState(updateRoot, { ...s, versions: { A: '1.0.0', B: last.version }, last });
  }

  it('anUpdateRolledBackIsE-UPD-04InTurnsAtLoginAndIdle', async () => {
    slotsWithLast({ result: 'rolled-back', version: '1.1.0', atMs: atMsBefore(HOUR_MS), reason: 'trial boot not confirmed within 300000 ms' });
    await boot();
    await w.assertNoticeIs('login', ROLLED_BACK_TURNS);
    await logIn();
    await w.assertNoticeIs('idle', ROLLED_BACK_TURNS);
  });

  it('aStateFileTheSelectorFoundDamagedIsE-UPD-07', async () => {
    // bootWithoutState writes the damage as a roll-back whose reason leads with its code.
    slotsWithLast({ result: 'rolled-back', version: '1.1.0', atMs: atMsBefore(HOUR_MS), reason: 'E-UPD-07 state.json: not valid JSON (3 bytes): booting slot A' });
    await boot();
    await w.assertNoticeIs('login', DAMAGED_TURNS);
  });

  it('aStateFileDamagedSinceTheSelectorRanIsE-UPD-07AndTheTerminalStillBoots', async () => {
    initSlots(updateRoot, '1.0.0');
    writeFileSync(join(updateRoot, STATE_FILE), '{no');
    await boot();
    await w.assertNoticeIs('login', DAMAGED_TURNS);
    await logIn();
  });

  it('aRollBackOlderThanItsDaysIsNoLongerOnTheNotice', async () => {
    slotsWithLast({ result: 'rolled-back', version: '1.1.0', atMs: atMsBefore(UPDATE_NOTICE_MS_MAX + HOUR_MS), reason: 'trial boot not confirmed within 300000 ms' });
    await boot();
    await w.assertNoNotice(ROLLED_BACK_TURNS);
  });

  it('aConfirmedUpdateAndABoardWithoutSlotsShowNothing', async () => {
    slotsWithLast({ result: 'confirmed', version: '1.1.0', atMs: atMsBefore(HOUR_MS) });
    await boot();
    await w.assertNoNotice([...ROLLED_BACK_TURNS, ...DAMAGED_TURNS]);
    await rig.stop();
    await boot(false);
    await w.assertNoNotice([...ROLLED_BACK_TURNS, ...DAMAGED_TURNS]);
  });
});
