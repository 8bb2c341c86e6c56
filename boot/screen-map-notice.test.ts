/**
 * Which one notice idle and login show when more than one applies (boot/screen-map.ts idleNotice,
 * loginNotice), with the card reader's fault among them: storage first at idle, then what boot
 * found, a selling lock, the reader, the batch's anomalies, old records to export; at login what
 * boot found, a power cut's outcome, the reader, old records. The reader's notice is its error's
 * code, cause and first step (boot/terminal-app.ts readerNotice), until the reader answers again.
 */
import { strict as assert } from 'node:assert';
import { PosError } from '../common/errors';
import { errorView, type MachineView } from '../runtime/machine';
import { ReaderHealth } from '../runtime/txn/reader-health';
import { SwipeFailures } from '../runtime/txn/swipe-failures';
import type { Txt } from '../ui-lcd/screen';
import { resolve } from '../ui-lcd/strings';
import { chooseScreen, EMPTY_UI, Env } from './screen-map';
import { archiveNotice, readerNotice } from './terminal-app';

const STORAGE: Txt = { en: 'E-STO-02 Storage nearly full: Settle now', zh: 'E-STO-02 存储将满：请立即结算' };
const BOOT: Txt = 'E-PRN-04';
const READER: Txt = { en: 'E-RDR-03 Card reader not answering: Restart the terminal', zh: 'E-RDR-03 读卡器无响应：重启终端' };

function view(state: string, data: Partial<MachineView['data']> = {}): MachineView {
  return { state, data: { battery: 'ok', amountFen: 0, pendingReceipts: [], reportPending: false, signedOn: true, reversalPending: false, ...data } };
}

function env(notices: Partial<Pick<Env, 'storageNotice' | 'bootNotice' | 'readerNotice' | 'archiveNotice'>>): Env {
  return { nowMs: 0, merchantName: 'SHOP', status: {}, bootStep: 'ready', bootStepIndex: 0, bootStepCount: 1, ...notices };
}

const noticeOf = (v: MachineView, e: Env): string | undefined => {
  const n = chooseScreen(v, EMPTY_UI, e).notice;
  return n === undefined ? undefined : resolve(n, 'en');
};
const en = (x: Txt): string => resolve(x, 'en');

describe('boot/screen-map: the one notice idle and login show, the card reader\'s among them', () => {
  it('theReadersNoticeIsItsCodeCauseAndFirstStepWhileItsFaultStands', () => {
    const swipes = new SwipeFailures(() => 0);
    const health = new ReaderHealth(() => 0, swipes);
    assert.equal(readerNotice(health), undefined);
    health.noteFailure(new PosError('RDR_TIMEOUT', 'no response to 0x01'));
    const n = readerNotice(health);
    // Whole in both languages (a row too narrow for it shows it in turns: tests/ui/notice-turns.test.ts).
    assert.deepEqual(n && { en: resolve(n, 'en'), zh: resolve(n, 'zh-CN') }, READER);
    health.noteAnswered();
    assert.equal(readerNotice(health), undefined);
    health.noteFailure(new PosError('RDR_DISCONNECTED', 'card reader port lost'));
    assert.equal(en(readerNotice(health) ?? ''), 'E-RDR-04 Card reader disconnected: Reseat the reader cable');
  });

  it('idleShowsTheReaderAloneAndAfterStorageBootAndTheSellingLock', () => {
    assert.equal(noticeOf(view('idle'), env({ readerNotice: READER })), en(READER));
    assert.equal(noticeOf(view('idle'), env({ readerNotice: READER, storageNotice: STORAGE })), en(STORAGE), 'storage stays first');
    assert.equal(noticeOf(view('idle'), env({ readerNotice: READER, bootNotice: BOOT })), BOOT);
    assert.equal(noticeOf(view('idle', { sellingLocked: true }), env({ readerNotice: READER })), 'E-MGT-10 Selling locked by the acquirer: Call the acquirer\'s service line');
  });

  it('idleShowsTheReaderBeforeTheBatchsAnomaliesAndOldRecordsToExport', () => {
    const anomalies = { count: 2, codes: 'A1 A3' };
    assert.equal(noticeOf(view('idle', { anomalies }), env({ readerNotice: READER, archiveNotice: archiveNotice() })), en(READER));
    assert.match(noticeOf(view('idle', { anomalies }), env({ archiveNotice: archiveNotice() })) ?? '', /anomal/);
    assert.match(noticeOf(view('idle'), env({ archiveNotice: archiveNotice() })) ?? '', /^E-STO-15/);
  });

  it('loginShowsTheReaderAfterWhatBootFoundAndAPowerCutsOutcomeAndBeforeOldRecords', () => {
    assert.equal(noticeOf(view('login'), env({ readerNotice: READER })), en(READER));
    assert.equal(noticeOf(view('login'), env({ readerNotice: READER, bootNotice: BOOT })), BOOT);
    assert.equal(noticeOf(view('login', { notice: 'reversal-pending' }), env({ readerNotice: READER })), 'Reversal owed', 'shown until someone logs in: it comes first');
    assert.equal(noticeOf(view('login'), env({ readerNotice: READER, archiveNotice: archiveNotice() })), en(READER));
    assert.match(noticeOf(view('login'), env({ archiveNotice: archiveNotice() })) ?? '', /^E-STO-15/);
  });

  it('aWrongPasswordsAttemptsLeftTheRecoveryLoginAndTheSupervisorPromptDoNotShowIt', () => {
    const wrong = view('login', { error: errorView(new PosError('OPR_PASSWORD', 'wrong password', { attemptsLeft: 2 })) });
    assert.equal(noticeOf(wrong, env({ readerNotice: READER })), undefined, 'the attempts left take the row');
    assert.equal(chooseScreen(wrong, EMPTY_UI, env({ readerNotice: READER })).data.attemptsLeft, 2);
    assert.equal(noticeOf(view('recovery.locked'), env({ readerNotice: READER })), undefined, 'recovery is about the journal');
    const supervisor = chooseScreen(view('void.authorize.ask'), EMPTY_UI, env({ readerNotice: READER }));
    assert.equal(supervisor.data.mode, 'supervisor');
    assert.equal(supervisor.notice, undefined);
  });
});
