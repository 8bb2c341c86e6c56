/**
 * A running version the management console flagged bad (docs/MANAGEMENT.md `flag-version`), as
 * the merchant sees it at the terminal (boot/terminal-app.ts noteVersionFlag): E-UPD-08 with the
 * version and "Call support" on the login and idle notice, from the moment the console flags it,
 * after a restart (the flag is journaled) and until the console takes it back (FIELD-FAULTS.md,
 * sign-on fails: "version and contact support when the running version is flagged bad"). A flag
 * on another version shows nothing. The commands go through the management wiring the MQTT
 * client calls (boot/mgmt-wiring.ts managedTerminal); the broker's side is tests/mgmt/.
 */
import { strict as assert } from 'node:assert';
import { NoticeRig } from './notice-watch';
import { managedTerminal } from '../../boot/mgmt-wiring';
import { runtimeVersion } from '../../boot/recovery-menu';
import { Store } from '../../runtime/store';
import { VERSION_FLAGS_MAX } from '../../runtime/records';
import { isPosError } from '../../common/errors';
import type { Journal } from '../../storage/journal';

const VERSION = runtimeVersion();
/** E-UPD-08's notice row on the 128x64 panel's 16 cells, turn by turn. */
const FLAGGED_TURNS = ['E-UPD-08', `Version ${VERSION}`, 'flagged bad', 'Call support'];

describe('terminal: the running version flagged bad by the console is on the idle and login notice (E-UPD-08)', function () {
  this.timeout(90_000);
  const rig = new NoticeRig('posversionflag-');
  rig.hooks();
  const w = rig.w;
  // The private accessor the management channel is started with: the same wiring as the broker's commands.
  const managed = () => managedTerminal(rig.app['managedApp']());

  it('flaggedAtLoginTheNoticeShowsAtOnce_holdsOverARestart_andEndsWhenTakenBack', async () => {
    assert.match(VERSION, /^\d+\.\d+\.\d+$/, 'package.json\'s version is what the console names');
    await rig.boot();
    await w.assertNoNotice(FLAGGED_TURNS);
    await managed().setVersionFlag(VERSION, true, 'crashes at settlement', 'f-1');
    assert.equal(managed().status().versionFlagged, true);
    // Redrawn when the flag is journaled, not at the next restart.
    await w.until('the notice', (s) => s.state === 'login' && FLAGGED_TURNS.includes(s.screen.text.at(-1) ?? ''));
    await w.assertNoticeIs('login', FLAGGED_TURNS);

    await rig.stop();
    await rig.boot();
    await w.assertNoticeIs('login', FLAGGED_TURNS);
    await rig.logIn();
    await w.assertNoticeIs('idle', FLAGGED_TURNS);

    await managed().setVersionFlag(VERSION, false, '', 'f-2');
    await w.until('the notice gone', (s) => s.state === 'idle' && !FLAGGED_TURNS.includes(s.screen.text.at(-1) ?? ''));
    await w.assertNoNotice(FLAGGED_TURNS);
    assert.deepEqual(managed().status().flaggedVersions, []);
  });

  it('theListIsJournaledWhole_aSecondFlagReplacesTheReason_aFullListIsRefused', async () => {
    await rig.boot();
    const t = managed();
    const journal = (): Journal => rig.app['managedApp']().terminal()?.store.journal ?? assert.fail('no journal open');
    await t.setVersionFlag('1.2.3', true, 'crashes at settlement', 'f-1');
    await t.setVersionFlag('2.0.0', true, '', 'f-2');
    await t.setVersionFlag('1.2.3', true, 'prints blank slips', 'f-3');
    assert.deepEqual(t.flaggedVersions(), ['2.0.0', '1.2.3']);
    // One record of the whole list: an archive carries the latest settings record of each kind.
    assert.deepEqual(Store.load(journal()).state.versionFlags, [{ version: '2.0.0', reason: '', commandId: 'f-2' }, { version: '1.2.3', reason: 'prints blank slips', commandId: 'f-3' }]);
    await t.setVersionFlag('1.2.3', false, '', 'f-4');
    assert.deepEqual(t.flaggedVersions(), ['2.0.0']);
    for (let i = 0; t.flaggedVersions().length < VERSION_FLAGS_MAX; i++) await t.setVersionFlag(`3.0.${i}`, true, '', `f-x${i}`);
    const before = journal().lastSeq;
    await assert.rejects(t.setVersionFlag('4.0.0', true, '', 'f-y'), (e: unknown) => isPosError(e) && e.code === 'E-MGT-03');
    assert.equal(journal().lastSeq, before, 'a full list: refused, nothing written');
    await t.setVersionFlag('2.0.0', true, 'replaced', 'f-z');
    assert.equal(t.flaggedVersions().length, VERSION_FLAGS_MAX, 'flagging a flagged version again is no new entry');
  });

  it('aFlagOnAnotherVersionShowsNothingButIsKept', async () => {
    await rig.boot();
    await managed().setVersionFlag('99.0.0', true, '', 'f-3');
    await w.assertNoNotice(FLAGGED_TURNS);
    const status = managed().status();
    assert.equal(status.versionFlagged, false);
    assert.deepEqual(status.flaggedVersions, ['99.0.0']);
    assert.deepEqual(Store.load(rig.app['managedApp']().terminal()?.store.journal ?? assert.fail('no journal open')).state.versionFlags, [{ version: '99.0.0', reason: '', commandId: 'f-3' }]);
  });
});
