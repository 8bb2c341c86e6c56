/**
 * The recovery menu as a technician sees it, on every display (16x2, 20x4, 128x64) in both
 * languages: every screen the menu can show, and every line of ui-lcd/recovery-strings.ts with
 * realistic values, is rendered and checked for text cut inside a word (titles, menu items,
 * footers and notices are cut to their cells, never wrapped), codes shown twice and absolute
 * paths; the login says it is recovery's; the reason stays why recovery opened; lockout advice
 * names who can act; file choices are told apart; an entry's hint is reachable with UP/DOWN.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyName } from '../../hal/keypad';
import type { DisplayCapabilities } from '../../hal/display';
import { RecoveryMenu, fileLabels, reportLines, updateLabels } from '../../boot/recovery-menu';
import type { Recovery, Report, ResetPlan } from '../../boot/recovery';
import { chooseScreen, EMPTY_UI, Env } from '../../boot/screen-map';
import type { MachineView } from '../../runtime/machine';
import { ERRORS } from '../../common/errors';
import { silentLogger } from '../../common/log';
import { RECOVERY_STRINGS, RecoveryStringKey, rt } from '../../ui-lcd/recovery-strings';
import { screenFor } from '../../ui-lcd/screens';
import { errorScreen } from '../../ui-lcd/error-screens';
import { renderScreen, LOCALES, Locale, Screen, Txt } from '../../ui-lcd/screen';
import { layout, Grid } from '../../ui-lcd/layout';
import { resolve } from '../../ui-lcd/strings';
import { pixelGrid } from '../../ui-lcd/render-pixels';
import { textGrid } from '../../ui-lcd/render-text';
import { tempDir, removeDir } from '../../storage/testing';
import { ADMIN } from '../runtime/harness';

const DISPLAYS: ReadonlyArray<{ name: string; caps: DisplayCapabilities }> = [
  { name: '16x2', caps: { kind: 'text', cols: 16, rows: 2 } },
  { name: '20x4', caps: { kind: 'text', cols: 20, rows: 4 } },
  { name: '128x64', caps: { kind: 'pixels', width: 128, height: 64 } },
];
const LCD_16X2 = DISPLAYS[0].caps;
const PIXELS = DISPLAYS[2].caps;

/** Characters after which the layout may break a word too long for a row (ui-lcd/layout.ts). */
const BREAK_AFTER = /[/\-.:_]$/;
const CJK = /[\u3000-\u9fff\uff00-\uffef]/;

function gridOf(caps: DisplayCapabilities): Grid {
  return caps.kind === 'pixels' ? pixelGrid(caps) : textGrid(caps);
}

/** The non-CJK words of a resolved line (what must never be cut inside). */
function words(line: string): string[] {
  return line.split(/\s+/).flatMap((w) => w.split(CJK)).filter((w) => w.length > 0);
}

/** A word is whole when one row holds it, or rows broken after '/', '-', '.', ':', '_' do. */
function wholeIn(word: string, rows: readonly string[]): boolean {
  for (let i = 0; i < rows.length; i++) {
    if (rows[i].includes(word)) return true;
    let joined = rows[i].trim();
    for (let j = i + 1; j < rows.length && BREAK_AFTER.test(joined); j++) {
      joined += rows[j].trim();
      if (joined.includes(word)) return true;
    }
  }
  return false;
}

/**
 * What is cut on this screen on this display: slots (title, footer/notice, menu item, field
 * label) that do not show their whole text, and body words not shown whole on any page. Body
 * lines a menu screen has no row for at all are left out by design (16x2), not cut.
 */
function cuts(screen: Screen, locale: Locale, caps: DisplayCapabilities): string[] {
  const grid = gridOf(caps);
  const text = (x: Txt): string => resolve(x, locale, grid.ascii);
  const out: string[] = [];
  const where = `${screen.id} ${locale} ${caps.kind === 'text' ? `${caps.cols}x${caps.rows}` : '128x64'}`;
  const pages = renderScreen(screen, locale, caps).pageCount;
  const bodyRows: string[] = [];
  const selections = screen.menu ? screen.menu.items.map((_i, n) => n) : [screen.menu === undefined ? 0 : 0];
  for (let page = 0; page < pages; page++) {
    for (const selected of selections) {
      const s: Screen = { ...screen, page, ...(screen.menu ? { menu: { ...screen.menu, selected } } : {}) };
      const rows = layout(s, locale, grid).rows;
      const title = rows[0];
      if (title.kind === 'title') {
        const want = text(screen.notice !== undefined && grid.rows < 4 ? screen.notice : screen.title);
        if (title.text.trim() !== want) out.push(`${where}: title ${JSON.stringify(title.text)} of ${JSON.stringify(want)}`);
      }
      const last = rows[rows.length - 1];
      if (grid.rows >= 4 && last.kind === 'footer' && last.text.trim() !== '') {
        const candidates = [screen.notice, screen.footer, { en: 'UP/DOWN: more', zh: '上下键翻页' }].filter((x): x is Txt => x !== undefined).map(text);
        if (!candidates.includes(last.text.trim())) out.push(`${where}: footer ${JSON.stringify(last.text)} is cut`);
      }
      for (const row of rows.filter((r) => r.kind === 'menu')) {
        const shown = row.text.replace(/^[> ]/, '').trim();
        const item = screen.menu!.items.find((i) => shown.startsWith(`${i.shortcut ?? ' '} `.trim()));
        const want = item ? `${item.shortcut ?? ''} ${text(item.label)}`.trim() : '';
        if (item && shown !== want) out.push(`${where}: menu item ${JSON.stringify(shown)} of ${JSON.stringify(want)}`);
      }
      if (screen.input) {
        const label = text(screen.input.label);
        for (const row of rows.filter((r) => r.kind === 'input')) {
          const t = row.text.trim();
          if (t !== '' && label.startsWith(t) && t !== label) out.push(`${where}: field label ${JSON.stringify(t)} of ${JSON.stringify(label)}`);
        }
      }
      if (selected === 0) bodyRows.push(...rows.filter((r) => r.kind === 'body').map((r) => r.text));
    }
  }
  const lines = [...(screen.lines ?? [])].map(text);
  if (screen.error) lines.unshift(screen.error.cause[grid.ascii || locale === 'en' ? 'en' : 'zh'], ...screen.error.steps[grid.ascii || locale === 'en' ? 'en' : 'zh']);
  for (const line of lines) {
    const ws = words(line);
    const missing = ws.filter((w) => !wholeIn(w, bodyRows));
    const partlyShown = missing.length > 0 && missing.length < ws.length;
    const notShownAtAll = missing.length === ws.length && ws.length > 0;
    // A paged screen must show every line; a menu or entry screen may leave a line out whole where
    // it has no row for it (its hint is then paged by UP/DOWN: see the hint test), never show part.
    if (partlyShown || (notShownAtAll && !screen.menu && !screen.input && pages > 0)) out.push(`${where}: ${JSON.stringify(line)} shown as ${JSON.stringify(bodyRows)} (${missing.join(', ')} cut or missing)`);
  }
  return out;
}

function everywhere(screen: Screen): string[] {
  return LOCALES.flatMap((locale) => DISPLAYS.flatMap((d) => cuts(screen, locale, d.caps)));
}

/** Values the recovery strings are filled with, as long as the terminal really produces them. */
const SAMPLE_ARGS: Readonly<Record<string, string | number>> = {
  records: 123456, seq: 123457, code: 'E-STO-05', message: 'journal record 1234 header checksum mismatch', signal: 'SIGBUS',
  file: 'journal-SIM-0000123456.posbak', path: '/var/lib/pos/journal.damaged-1795226400000', name: 'journal.damaged-1795226400000',
  count: 123456, from: 123400, to: 123456, n: 12, last: 123456, ranges: '100-120,130-140', reason: 'header checksum mismatch',
  status: 'damaged', batch: '000012', verdict: 'balanced', result: 'cleared', stan: '000123', address: '192.168.100.200',
  prefix: 24, host: '192.168.100.1', port: 65535, interface: 'eth0', backend: 'networkd', commands: 'networkctl reload', label: 'Gateway',
  value: '300168001001', step: 'connect', detail: 'connected', gateway: '192.168.100.1', version: '1.12.3', slot: 'B', tries: 2,
  what: 'working keys', suffix: '.posbak',
};

/** A stand-in for Recovery with what the menu's screens ask of it before any action runs. */
function stubRecovery(plan: ResetPlan, repair: RepairStub = { restores: false, calls: [] }): Recovery {
  const stub = {
    backups: () => ['/var/lib/pos/backup/journal-SIM-0000000012.posbak'],
    repairRestores: async () => repair.restores,
    repair: async (_s: unknown, passphrase?: string): Promise<Report> => {
      repair.calls.push(passphrase);
      return { action: 'repair', ok: true, lines: ['nothing to repair'], journaled: true };
    },
    networkSettings: async () => ({ interface: 'eth0', mode: 'static', address: '192.168.100.200', prefixLength: 24, gateway: '192.168.100.1', dns: ['192.168.100.1'], host: '192.168.100.1', port: 5000 }),
    factoryResetPlan: async () => plan,
    needsPassphrase: () => true,
    // As Recovery.note reports an action done outside it (the software update), without a journal.
    note: async (action: string, _s: unknown, ok: boolean, lines: ReadonlyArray<string | { en: string; zh: string }>, detail?: Record<string, unknown>, code?: string): Promise<Report> =>
      ({ action, ok, lines: [], text: lines.map((l) => (typeof l === 'string' ? { en: l, zh: l } : l)), journaled: false, ...(detail ? { detail } : {}), ...(code ? { code } : {}) } as unknown as Report),
  };
  // The menu only calls the methods above on these screens; the rest of Recovery is not needed.
  return stub as unknown as Recovery;
}

/** What the stand-in's repair answers and the passphrases it was called with. */
interface RepairStub { restores: boolean; calls: Array<string | undefined> }

interface MenuRig {
  menu: RecoveryMenu;
  keys(...k: KeyName[]): Promise<void>;
}

function menuRig(o: { backupDir: string; usbDirs?: string[]; usbTakenAsMounted?: boolean; caps?: DisplayCapabilities; locale?: Locale; plan?: ResetPlan; reason?: { resetHeld?: boolean; reasonCode?: string }; repair?: RepairStub }): MenuRig {
  const plan: ResetPlan = o.plan ?? {
    settled: false, confirmationsNeeded: 2, erases: [], keeps: [],
    erasesText: [rt('reset.txnsUnsettled', { n: 12, batch: '000012' }), rt('reset.reversal', { stan: '000123' }), rt('reset.keys'), rt('reset.settings')],
    keepsText: [rt('reset.keepIdentity'), rt('reset.keepOperators'), rt('reset.keepJournal'), rt('reset.keepBackup')],
  };
  const rec = stubRecovery(plan, o.repair);
  const menu = new RecoveryMenu({
    recovery: () => rec, session: () => ADMIN, backupDir: o.backupDir, usbDirs: o.usbDirs ?? [], ...(o.usbTakenAsMounted ? { usbTakenAsMounted: true } : {}), netInterface: 'eth0', host: { host: '192.168.100.1', port: 5000 },
    reason: () => o.reason ?? {}, clock: () => 0, tzOffsetMinutes: 480, pages: (s) => renderScreen(s, o.locale ?? 'en', o.caps ?? PIXELS).pageCount,
    changed: () => undefined, openDiagnostics: () => undefined, logger: silentLogger,
  });
  return {
    menu,
    async keys(...k: KeyName[]) {
      for (const key of k) { menu.press(key); await new Promise((r) => setImmediate(r)); }
    },
  };
}

describe('boot/recovery-menu: what a technician sees', function () {
  this.timeout(60_000);
  let work: string;
  beforeEach(() => { work = tempDir('h-recovery-screens-'); });
  afterEach(() => removeDir(work));

  it('everyRecoveryStringWithRealisticValuesIsShownWithNoWordCutOnEveryDisplayInBothLanguages', () => {
    const problems: string[] = [];
    for (const key of Object.keys(RECOVERY_STRINGS) as RecoveryStringKey[]) {
      const report: Report = { action: 'verify', ok: false, code: 'E-STO-09', lines: [], text: [rt(key, SAMPLE_ARGS)], journaled: false };
      const lines = reportLines(report, [{ dir: '/var/lib/pos/backup', name: rt('place.backup') }]);
      problems.push(...everywhere({ id: `report:${key}`, title: { en: 'Failed', zh: '失败' }, lines, footer: { en: 'UP/DOWN: more', zh: '上下键翻页' } }));
    }
    assert.deepEqual(problems, []);
  });

  it('everyScreenOfTheMenuShowsItsTitleItemsLabelsAndFootersWhole', async () => {
    mkdirSync(join(work, 'backup'));
    for (const n of [24, 26]) writeFileSync(join(work, 'backup', `journal-SIM-00000000${n}.posbak`), 'x');
    const screens: Screen[] = [];
    for (const reason of [{ resetHeld: true }, { reasonCode: 'E-STO-05' }, { reasonCode: 'E-SYS-99' }]) screens.push(menuRig({ backupDir: join(work, 'backup'), reason }).menu.screen());
    const walks: KeyName[][] = [['2'], ['3'], ['3', '2'], ['5'], ['5', 'OK'], ['8'], ['9'], ['9', '1'], ['9', '1', '2'], ['9', '1', '2', '1', '9', '2', '1', '6', '8', '1', '0', '0', '2', '0', '0', 'OK'], ['9', '5']];
    // A stick in the port (the simulator's folder): export goes on to its passphrase screens.
    mkdirSync(join(work, 'usb'));
    for (const walk of walks) {
      const r = menuRig({ backupDir: join(work, 'backup'), usbDirs: [join(work, 'usb')], usbTakenAsMounted: true });
      await r.keys(...walk);
      screens.push(r.menu.screen());
    }
    screens.push(screenFor('login', { field: 'operator', operator: '', passwordLength: 0, mode: 'recovery' }));
    screens.push(screenFor('login', { field: 'password', operator: '00', passwordLength: 3, mode: 'recovery', attemptsLeft: 2 }));
    screens.push(screenFor('login', { field: 'operator', operator: '', passwordLength: 0, mode: 'recovery', attemptsLeft: 12 }));
    screens.push(errorScreen('E-OPR-21'), errorScreen('E-OPR-03'));
    const problems = screens.flatMap(everywhere);
    assert.deepEqual(problems, []);
  });

  it('theRecoveryLoginSaysItIsRecoverysAndForAnAdministrator', () => {
    const view = (state: string): MachineView => ({ state, data: { battery: 'ok', amountFen: 0, pendingReceipts: [], reportPending: false, signedOn: false, reversalPending: false } });
    const env = { nowMs: 0, merchantName: 'DEMO', status: {}, bootStep: 'ready', bootStepIndex: 0, bootStepCount: 1 } as Env;
    const choice = chooseScreen(view('recovery.locked'), EMPTY_UI, env);
    const s = screenFor(choice.name, choice.data);
    assert.equal(resolve(s.title, 'en'), 'Recovery - admin');
    assert.equal(resolve(s.title, 'zh-CN'), '恢复模式-管理员');
    assert.equal(resolve(s.input!.label, 'en'), 'Admin no.');
    // A cashier's right password is refused with a reason on the screen, not a silent restart.
    const refused = chooseScreen({ ...view('recovery.locked'), data: { ...view('recovery.locked').data, notice: 'administrator-required' } }, EMPTY_UI, env);
    assert.deepEqual(refused.notice, { en: 'Admins only', zh: '仅限管理员' });
    assert.deepEqual(everywhere({ ...screenFor(refused.name, refused.data), notice: refused.notice! }), []);
    // A merchant's administrator: the menu is the service administrator's, and the screen says so.
    const merchant = chooseScreen({ ...view('recovery.locked'), data: { ...view('recovery.locked').data, notice: 'service-required' } }, EMPTY_UI, env);
    assert.deepEqual(merchant.notice, { en: 'Service only', zh: '仅限维护管理员' });
    assert.deepEqual(everywhere({ ...screenFor(merchant.name, merchant.data), notice: merchant.notice! }), []);
    const cashier = screenFor(chooseScreen(view('login'), EMPTY_UI, env).name, chooseScreen(view('login'), EMPTY_UI, env).data);
    assert.notEqual(resolve(cashier.title, 'en'), resolve(s.title, 'en'), "the cashier's login looks different");
  });

  it('theMenusReasonIsWhyRecoveryOpenedNotTheLoginsLastWrongPassword', () => {
    const typo = { code: 'E-OPR-02', kind: 'auth-failed', message: 'E-OPR-02 wrong password', en: ERRORS.OPR_PASSWORD.en, zh: ERRORS.OPR_PASSWORD.zh, detail: { attemptsLeft: 2 } };
    const env = { nowMs: 0, merchantName: 'DEMO', status: {}, bootStep: 'ready', bootStepIndex: 0, bootStepCount: 1 } as Env;
    const shown = (recoveryReason: { resetHeld: true } | { code: string }): string[] => {
      const v = { state: 'recovery.menu', data: { battery: 'ok', amountFen: 0, pendingReceipts: [], reportPending: false, signedOn: false, reversalPending: false, error: typo, recoveryReason } } as unknown as MachineView;
      const c = chooseScreen(v, EMPTY_UI, env);
      const s = screenFor(c.name, c.data);
      return LOCALES.map((l) => (s.lines ?? []).map((x) => resolve(x, l)).join(' '));
    };
    assert.deepEqual(shown({ resetHeld: true }), ['按住复位键进入', 'Reset key held']);
    assert.deepEqual(shown({ code: 'E-STO-05' }), ['流水数据损坏', 'Journal damaged']);
    assert.deepEqual(shown({ code: 'E-SYS-99' }), ['内部校验失败', 'Reason: E-SYS-99'], 'a cause too long for a row: the code');
  });

  it('anExportsNoticeFitsItsRowInsteadOfTheFilesFullPath', () => {
    const env = { nowMs: 0, merchantName: 'DEMO', status: {}, bootStep: 'ready', bootStepIndex: 0, bootStepCount: 1 } as Env;
    for (const state of ['recovery.menu', 'storageFailure']) {
      const v = { state, data: { battery: 'ok', amountFen: 0, pendingReceipts: [], reportPending: false, signedOn: false, reversalPending: false, exportedTo: '/media/usb0/journal-SIM-0000000024.posbak' } } as unknown as MachineView;
      const c = chooseScreen(v, EMPTY_UI, env);
      const s = { ...screenFor(c.name, c.data), ...(c.notice !== undefined ? { notice: c.notice } : {}) };
      for (const locale of LOCALES) assert.ok(!resolve(s.notice!, locale).includes('/'), `${state}: ${resolve(s.notice!, locale)}`);
      // The notice takes the title row on 16x2 (beside the menu's tag) and the footer row elsewhere.
      const notices = LOCALES.flatMap((locale) => DISPLAYS.flatMap((d) => cuts(s, locale, d.caps).filter((p) => p.includes(resolve(s.notice!, locale)))));
      assert.deepEqual(notices, []);
    }
  });

  it('lockoutAdviceNamesWhoCanUnlockAndRecoverysLockSaysPowerOffAndOn', () => {
    const advice = (id: 'OPR_LOCKED' | 'OPR_RECOVERY_LOCKED'): string => [...ERRORS[id].en.steps, ...ERRORS[id].zh.steps].join(' | ');
    // Only an administrator reaches Settings > Operators (runtime/machine.ts operators.authorize).
    assert.match(advice('OPR_LOCKED'), /administrator.*管理员/);
    assert.doesNotMatch(advice('OPR_LOCKED'), /supervisor|主管/);
    // The recovery menu's limit is per boot (boot/recovery.ts): power cycling is what works.
    assert.match(advice('OPR_RECOVERY_LOCKED'), /Power off and on.*关机再开机/);
    assert.doesNotMatch(advice('OPR_RECOVERY_LOCKED'), /supervisor|主管/);
  });

  it('theAttemptsNoticeFitsARowWithTheCountWhole', () => {
    for (const n of [1, 2, 12]) {
      const s = screenFor('login', { field: 'operator', operator: '', passwordLength: 0, mode: 'recovery', attemptsLeft: n });
      for (const locale of LOCALES) {
        for (const d of DISPLAYS) {
          const rows = layout(s, locale, gridOf(d.caps)).rows;
          const notice = resolve(s.notice!, locale, gridOf(d.caps).ascii);
          assert.ok(rows.some((r) => r.text.trim() === notice), `${locale} ${d.name}: ${JSON.stringify(notice)} whole in ${JSON.stringify(rows.map((r) => r.text))}`);
          assert.ok(notice.includes(String(n)));
        }
      }
    }
  });

  it('thePassphraseHintIsReachedWithUpDownOnADisplayWithNoRowForIt', async () => {
    mkdirSync(join(work, 'usb'));
    const r = menuRig({ backupDir: join(work, 'backup'), usbDirs: [join(work, 'usb')], usbTakenAsMounted: true, caps: LCD_16X2 });
    await r.keys('2');
    const shownNow = (): string => layout(r.menu.screen(), 'en', gridOf(LCD_16X2)).rows.map((x) => x.text).join(' ');
    assert.equal(r.menu.screen().id, 'passphrase');
    const seen: string[] = [shownNow()];
    for (let i = 0; i < 4; i++) { await r.keys('DOWN'); seen.push(shownNow()); }
    const all = seen.join(' ');
    for (const w of ['6-12', 'digits;', 'note', 'them', 'down']) assert.ok(all.includes(w), `${w} reached: ${JSON.stringify(seen)}`);
    // Past the hint's last page: back at the field, and digits go into it.
    await r.keys('UP', '1', '2');
    assert.equal(r.menu.screen().input?.digits, '**');
  });

  it('anExportsPassphraseIsTypedTwiceAndTwoThatDifferAreAskedAgain', async () => {
    mkdirSync(join(work, 'usb'));
    const r = menuRig({ backupDir: join(work, 'backup'), usbDirs: [join(work, 'usb')], usbTakenAsMounted: true });
    await r.keys('2');
    assert.equal(r.menu.screen().id, 'passphrase');
    await r.keys('1', '2', '3', '4', '5', '6', 'OK');
    assert.equal(r.menu.screen().id, 'passphraseAgain');
    await r.keys('1', '2', '3', '4', '5', '7', 'OK');
    const retry = r.menu.screen();
    assert.equal(retry.id, 'passphrase', 'a second entry that differs starts over');
    assert.match(JSON.stringify(retry.lines), /Did not match/);
  });

  it('salvageAsksFirstAndCancelLeavesTheJournalAsItWas', async () => {
    const r = menuRig({ backupDir: join(work, 'backup') });
    await r.keys('4');
    assert.equal(r.menu.screen().id, 'recoveryConfirm:salvage');
    assert.match(JSON.stringify(r.menu.screen().lines), /kept aside/);
    await r.keys('CANCEL');
    assert.equal(r.menu.screen().id, 'recovery', 'back at the menu, nothing salvaged');
  });

  it('repairAsksABackupsPassphraseOnlyWhenItWillRestoreOne', async () => {
    const healthy: RepairStub = { restores: false, calls: [] };
    const r = menuRig({ backupDir: join(work, 'backup'), repair: healthy });
    await r.keys('3', '1');
    await new Promise((res) => setImmediate(res));
    assert.notEqual(r.menu.screen().id, 'passphrase', 'a journal repaired in place asks nothing');
    assert.deepEqual(healthy.calls, [undefined]);
    const damaged: RepairStub = { restores: true, calls: [] };
    const d = menuRig({ backupDir: join(work, 'backup'), repair: damaged });
    await d.keys('3', '1');
    assert.equal(d.menu.screen().id, 'passphrase');
    assert.match(JSON.stringify(d.menu.screen().lines), /backup's passphrase/);
    await d.keys('1', '2', '3', '4', '5', '6', 'OK');
    await new Promise((res) => setImmediate(res));
    assert.deepEqual(damaged.calls, ['123456']);
  });

  it('backupFilesOfTheSameTerminalAreToldApartByTheirTimeInTheTerminalsZone', async () => {
    const dir = join(work, 'backup');
    mkdirSync(dir);
    // 2031-02-28 23:59:10 and 23:59:40 UTC are 03-01 07:59 in UTC+8; a third file the day before.
    const at = [Date.UTC(2031, 1, 28, 23, 59, 10), Date.UTC(2031, 1, 28, 23, 59, 40), Date.UTC(2031, 1, 27, 10, 0, 0)];
    const names = ['journal-SIM-0000000024.posbak', 'journal-SIM-0000000026.posbak', 'journal-SIM-0000000012.posbak'];
    names.forEach((n, i) => { writeFileSync(join(dir, n), 'x'); utimesSync(join(dir, n), at[i] / 1000, at[i] / 1000); });
    const r = menuRig({ backupDir: dir });
    await r.keys('3', '2');
    const s = r.menu.screen();
    assert.equal(s.id, 'recoveryFiles');
    const labels = s.menu!.items.map((i) => resolve(i.label, 'en'));
    assert.deepEqual(labels, ['07:59:40', '07:59:10', '02-27 18:00']);
    assert.equal(new Set(labels).size, labels.length);
    for (const d of DISPLAYS) for (const locale of LOCALES) assert.deepEqual(cuts(s, locale, d.caps), []);
    // Same second: the name's distinguishing part (the record count) is added.
    const same = fileLabels([{ file: '/m/journal-SIM-0000000024.posbak', mtimeMs: at[0] }, { file: '/m/journal-SIM-0000000026.posbak', mtimeMs: at[0] }], 480);
    assert.deepEqual(same, ['07:59 24', '07:59 26']);
    assert.deepEqual(fileLabels([{ file: '/m/a.posbak', mtimeMs: at[0] }], -300), ['02-28 18:59'], "the terminal's zone, not the process's");
  });

  it('updatePackagesAreListedByTheirVersionsAndByTimeWhenTheNamesDoNotTellThemApart', () => {
    const byTime = ['21:42', '21:43'];
    assert.deepEqual(updateLabels(['/m/good-0.3.0.posupd', '/m/otherkey-0.2.0.posupd'], byTime), ['0.3.0', '0.2.0']);
    assert.deepEqual(updateLabels(['/m/a-0.3.0.posupd', '/m/b-0.3.0.posupd'], byTime), byTime, 'the same version twice: by time');
    assert.deepEqual(updateLabels(['/m/a-0.3.0.posupd', '/m/latest.posupd'], byTime), byTime, 'a name without a version: by time');
  });

  it('applyingAnUpdateOnABoardWithNoUpdateSectionSaysUpdatesAreNotSetUpNotInvalidInput', async () => {
    const dir = join(work, 'backup');
    mkdirSync(dir);
    writeFileSync(join(dir, 'pos-0.2.0-sim.posupd'), 'x');
    const r = menuRig({ backupDir: dir });
    await r.keys('9');
    const item = r.menu.screen().menu?.items.findIndex((i) => /update/i.test(resolve(i.label, 'en')) && !/version/i.test(resolve(i.label, 'en')));
    assert.ok(item !== undefined && item >= 0, 'the system menu offers the update');
    await r.keys(String(item + 1) as KeyName);
    assert.equal(r.menu.screen().id, 'recoveryFiles');
    await r.keys('1');
    while (!r.menu.report()) await new Promise((res) => setImmediate(res));
    const en = (r.menu.screen().lines ?? []).map((l) => resolve(l, 'en')).join(' | ');
    assert.match(en, /E-UPD-06/, en);
    assert.doesNotMatch(en, /E-OPR-08/);
  });

  it('aReportOnOnePageSaysOkGoesBackAndOneOnSeveralPagesSaysUpDownUntilItsLast', async () => {
    const r = menuRig({ backupDir: '/var/lib/pos/backup' });
    r.menu.run(() => ({ action: 'version', ok: true, lines: [], text: [rt('version.runtime', { version: '1.2.3' })], journaled: false }), 'version');
    while (!r.menu.report()) await new Promise((res) => setImmediate(res));
    const one = renderScreen(r.menu.screen(), 'en', PIXELS);
    assert.equal(one.pageCount, 1);
    assert.equal(layout(r.menu.screen(), 'en', gridOf(PIXELS)).rows.at(-1)?.text.trim(), 'OK: back');
    const many = Array.from({ length: 12 }, (_x, i) => ({ en: `line ${i + 1}`, zh: `第${i + 1}行` }));
    r.menu.run(() => ({ action: 'verify', ok: true, lines: [], text: many, journaled: false }), 'verify');
    while (r.menu.report()?.action !== 'verify') await new Promise((res) => setImmediate(res));
    const n = renderScreen(r.menu.screen(), 'en', PIXELS).pageCount;
    assert.ok(n > 1, `${n} pages`);
    const footers = Array.from({ length: n }, (_x, page) => layout({ ...r.menu.screen(), page }, 'en', gridOf(PIXELS)).rows.at(-1)?.text.trim());
    assert.deepEqual(footers, [...Array.from({ length: n - 1 }, () => 'UP/DOWN: more'), 'OK: back']);
  });

  it('exportWithNothingMountedOnTheUsbMountPointAsksForAStickBeforeAnyPassphrase', async () => {
    // A real board's mount point with no stick in it: a folder on the terminal's own disk.
    const usb0 = join(work, 'usb0');
    mkdirSync(usb0);
    const r = menuRig({ backupDir: join(work, 'backup'), usbDirs: [usb0] });
    await r.keys('2');
    const report = r.menu.report();
    assert.equal(report?.code, 'E-STO-09', JSON.stringify(report));
    assert.match(report?.lines.join(' ') ?? '', /insert a USB stick/i);
    assert.equal(r.menu.screen().id, 'recoveryReport:export', 'no passphrase asked');
    assert.equal(existsSync(join(work, 'backup')), false, 'the backup folder is not the fallback');
    assert.deepEqual(readdirSync(usb0), []);
  });

  it('anUntypedIoErrorOfAnActionIsShownAsTheStorageErrorNotTheUnknownOne', async () => {
    const r = menuRig({ backupDir: join(work, 'backup') });
    r.menu.run(() => { throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO', errno: -5, syscall: 'write' }); }, 'export');
    while (!r.menu.report()) await new Promise((res) => setImmediate(res));
    assert.equal(r.menu.report()?.code, 'E-STO-03');
    r.menu.run(() => { throw new Error('something else'); }, 'verify');
    while (r.menu.report()?.action !== 'verify') await new Promise((res) => setImmediate(res));
    assert.equal(r.menu.report()?.code, 'E-SYS-99', 'control: an error of no system call stays unknown');
  });

  it('aReportShowsItsCodeOnceAndNoAbsolutePath', async () => {
    const r = menuRig({ backupDir: '/var/lib/pos/backup', usbDirs: ['/media/usb0'] });
    const report: Report = {
      action: 'verify', ok: false, code: 'E-STO-05', journaled: false, lines: [],
      text: [rt('verify.damagedAt', { code: 'E-STO-05', seq: 3 }), rt('repair.keptAt', { path: '/var/lib/pos/journal.damaged-1795226400000' }), rt('file.none', { suffix: '.posupd' }), { en: '/var/lib/pos/backup', zh: '/var/lib/pos/backup' }, { en: 'E-STO-09 /media/usb0: writing failed', zh: '/media/usb0：写入失败' }],
    };
    let done = false;
    r.menu.run(() => { done = true; return report; }, 'verify');
    while (!r.menu.report()) await new Promise((res) => setImmediate(res));
    assert.ok(done);
    const s = r.menu.screen();
    for (const locale of LOCALES) {
      const all = (s.lines ?? []).map((l) => resolve(l, locale)).join(' | ');
      assert.equal(all.split('E-STO-05').length - 1, 1, `E-STO-05 once: ${all}`);
      assert.ok(!/(^|[\s(:：])\//.test(all), `no absolute path: ${all}`);
    }
    const en = (s.lines ?? []).map((l) => resolve(l, 'en'));
    assert.deepEqual(en, ['E-STO-05', 'damaged at record 3', 'damaged journal kept at journal.damaged-1795226400000', 'no .posupd file in', 'backup folder', 'E-STO-09 USB stick usb0: writing failed']);
  });
});
