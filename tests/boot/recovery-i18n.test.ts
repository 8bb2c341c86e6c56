/**
 * The recovery menu's reports in both languages: every line a recovery action shows comes from
 * ui-lcd/recovery-strings.ts as { en, zh }, is resolved for the current locale at render time
 * (the 128x64 graphic display shows Chinese, with a glyph for every character; a character LCD
 * shows English), error codes are kept as they are, and `Report.lines` (the CLI's) is English.
 */
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { tempDir, removeDir, flipByte } from '../../storage/testing';
import { Recovery, Report } from '../../boot/recovery';
import { RecoveryMenu, errorText, runtimeVersion } from '../../boot/recovery-menu';
import { Journal } from '../../storage/journal';
import { VERSION_FLAGS_KIND } from '../../runtime/records';
import { RECOVERY_STRINGS, REPORT_LINE_EN_CHARS_MAX, REPORT_LINE_ZH_CELLS_MAX, rt } from '../../ui-lcd/recovery-strings';
import { PosError } from '../../common/errors';
import { silentLogger } from '../../common/log';
import { layout, cells } from '../../ui-lcd/layout';
import { pixelGrid } from '../../ui-lcd/render-pixels';
import { textGrid } from '../../ui-lcd/render-text';
import { renderScreen } from '../../ui-lcd/screen';
import type { Locale, Screen } from '../../ui-lcd/screen';
import { cellsOf } from '../../ui-lcd/font';
import { GLYPHS } from '../../ui-lcd/font/unifont-subset';
import { ADMIN, IDENTITY, Rig, rig, withOperators, CASHIER, magCard } from '../runtime/harness';

const PIXELS = { kind: 'pixels', width: 128, height: 64 } as const;
const LCD_20X4 = { kind: 'text', cols: 20, rows: 4 } as const;
const LCD_16X2 = { kind: 'text', cols: 16, rows: 2 } as const;

/** Every page's body rows of a screen, as the display would show them. */
function shown(screen: Screen, locale: Locale, caps: typeof PIXELS | typeof LCD_20X4 | typeof LCD_16X2): string {
  const grid = caps.kind === 'pixels' ? pixelGrid(caps) : textGrid(caps);
  const pages = renderScreen(screen, locale, caps).pageCount;
  const out: string[] = [];
  for (let page = 0; page < pages; page++) {
    for (const row of layout({ ...screen, page }, locale, grid).rows) if (row.kind === 'body') out.push(row.text.trim());
  }
  return out.join(' ');
}

describe('boot/recovery: report lines in zh-CN and en', function () {
  this.timeout(60_000);

  it('everyLineFitsTwoDisplayRowsBeforeItsValuesIsAsciiInEnglishAndHasAGlyphInChinese', () => {
    const problems: string[] = [];
    for (const [key, v] of Object.entries(RECOVERY_STRINGS)) {
      const en = v.en.replace(/\{\w+\}/g, '');
      const zh = v.zh.replace(/\{\w+\}/g, '');
      if (en.length > REPORT_LINE_EN_CHARS_MAX) problems.push(`${key} en ${en.length} > ${REPORT_LINE_EN_CHARS_MAX}`);
      if (cells(zh, { cellsOf }) > REPORT_LINE_ZH_CELLS_MAX) problems.push(`${key} zh ${cells(zh, { cellsOf })} cells > ${REPORT_LINE_ZH_CELLS_MAX}`);
      if (!/^[\x20-\x5b\x5d-\x7d]*$/.test(v.en)) problems.push(`${key} en is not HD44780-printable ASCII`);
      for (const ch of zh) if (!GLYPHS[ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')]) problems.push(`${key} zh: no glyph for ${ch} (npm run gen:font)`);
      const names = (x: string): string => [...x.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort().join(',');
      if (names(v.en) !== names(v.zh)) problems.push(`${key}: placeholders differ between en and zh`);
    }
    assert.deepEqual(problems, []);
  });

  describe('on a journal', () => {
    let r: Rig;
    let work: string;

    beforeEach(async () => {
      work = tempDir('posrec-i18n-');
      r = await rig();
      await withOperators(r);
      await r.terminal.engine.signOn(CASHIER);
      assert.equal((await r.terminal.engine.sale({ amountFen: 1200, card: magCard(), session: CASHIER })).outcome, 'approved');
      await r.journal.close();
    });
    afterEach(async () => { await r.close(); removeDir(work); });

    const recovery = (): Recovery => new Recovery({ journalDir: r.dir, backupDir: join(work, 'backup'), identity: IDENTITY, clock: () => r.clock.ms });

    /** The report as the recovery menu shows it (its own screen, code line first). */
    async function menuScreen(run: (rc: Recovery, menu: RecoveryMenu) => Promise<Report>, action: Report['action']): Promise<{ screen: Screen; report: Report }> {
      const rc = recovery();
      let changed: () => void = () => undefined;
      const menu = new RecoveryMenu({
        recovery: () => rc, session: () => ADMIN, backupDir: join(work, 'backup'), usbDirs: [], netInterface: 'lo', host: { host: '127.0.0.1', port: 1 },
        reason: () => ({}), clock: () => r.clock.ms, pages: (sc) => renderScreen(sc, 'zh-CN', PIXELS).pageCount,
        changed: () => changed(), openDiagnostics: () => undefined, logger: silentLogger,
      });
      const done = new Promise<void>((resolve) => { changed = () => { if (menu.report()) resolve(); }; });
      menu.run(() => run(rc, menu), action);
      await done;
      const report = menu.report()!;
      const screen = menu.screen();
      await rc.close();
      return { screen, report };
    }

    it('verifyReportIsChineseOnTheGraphicDisplayAndEnglishOnCharacterLcdsAndTheCli', async () => {
      const { screen, report } = await menuScreen((rc) => rc.verifyJournal(), 'verify');
      assert.equal(report.ok, true);
      const records = (report.detail?.verdict as { records: number }).records;
      assert.deepEqual(report.text, [rt('verify.ok', { records }), rt('verify.noBackup')]);
      assert.deepEqual(report.lines, [`journal ok: ${records} records`, 'no backup found'], 'the CLI prints English');

      const zh = shown(screen, 'zh-CN', PIXELS).replace(/\s/g, '');
      assert.equal(zh, `流水正常：共${records}条未找到备份`);
      assert.deepEqual((renderScreen(screen, 'zh-CN', PIXELS) as { missingGlyphs: string[] }).missingGlyphs, []);
      assert.equal(shown(screen, 'en', PIXELS), `journal ok: ${records} records no backup found`);
      // Character LCDs (HD44780 ROM) show English whatever the locale.
      assert.match(shown(screen, 'zh-CN', LCD_20X4), /journal ok: \d+ records/);
      assert.match(shown(screen, 'zh-CN', LCD_16X2), /journal ok:/);
    });

    it('damageIsNamedWithItsCodeKeptAsIsInBothLanguages', async () => {
      await flipByte(r.dir, 3, 70, 0xff);
      const { screen, report } = await menuScreen((rc) => rc.verifyJournal(), 'verify');
      assert.equal(report.ok, false);
      assert.equal(report.code, 'E-STO-05');
      // Chinese wraps between any two characters: compared without the row breaks.
      const zh = shown(screen, 'zh-CN', PIXELS).replace(/\s/g, '');
      // The code once, on its own line first (not again in the line that names the record).
      assert.ok(zh.startsWith('E-STO-05第3条记录损坏记录数据校验错误'), zh);
      assert.equal(zh.split('E-STO-05').length, 2, zh);
      assert.ok(zh.includes('之前2条记录完好'), zh);
      assert.ok(shown(screen, 'en', PIXELS).startsWith('E-STO-05 damaged at record 3'));
      assert.equal(shown(screen, 'en', PIXELS).split('E-STO-05').length, 2);
    });

    it('theVersionItemSaysTheRunningVersionIsFlaggedBad_E-UPD-08WithTheConsolesReason', async () => {
      // The version item's report (menu item 5), run as choosing it runs it.
      const versionItem = (_rc: Recovery, menu: RecoveryMenu): Promise<Report> => (menu as unknown as { versionReport(): Promise<Report> }).versionReport();
      const before = await menuScreen(versionItem, 'version');
      assert.equal(before.report.ok, true);
      assert.equal(before.report.code, undefined);
      assert.ok(!before.report.lines.some((l) => l.includes('E-UPD-08')), before.report.lines.join(' / '));
      // The console flags the running version (docs/MANAGEMENT.md flag-version): journaled whole.
      const j = await Journal.open({ dir: r.dir, identity: IDENTITY });
      await j.append('settings', { kind: VERSION_FLAGS_KIND, flags: [{ version: '9.9.9', reason: '', commandId: 'c-0' }, { version: runtimeVersion(), reason: 'crashes at settlement', commandId: 'c-1' }] });
      await j.close();
      const { screen, report } = await menuScreen(versionItem, 'version');
      assert.equal(report.ok, false);
      assert.equal(report.code, 'E-UPD-08');
      assert.ok(report.lines.includes('E-UPD-08 This version is flagged bad: crashes at settlement'), report.lines.join(' / '));
      assert.ok(report.lines.includes('- Call support'), report.lines.join(' / '));
      const zh = shown(screen, 'zh-CN', PIXELS).replace(/\s/g, '');
      assert.ok(zh.includes('本版本已被标记有故障:crashesatsettlement'), zh);
      assert.equal(zh.split('E-UPD-08').length, 2, `the code once: ${zh}`);
      assert.deepEqual((renderScreen(screen, 'zh-CN', PIXELS) as { missingGlyphs: string[] }).missingGlyphs, []);
    });

    it('exportResetPlanAndRebootReportsFollowTheLocale', async () => {
      mkdirSync(join(work, 'usb'));
      const exp = (await menuScreen((rc) => rc.exportTo(join(work, 'usb'), 'pass1234', ADMIN), 'export')).report;
      assert.equal(exp.ok, true);
      assert.match(exp.text![0].zh, /^已导出\d+条记录（加密）$/);
      assert.match(exp.lines[0], /^exported \d+ records \(encrypted\)$/);
      assert.equal(exp.text![1].zh, exp.text![1].en, 'a file name is the same in both');

      const rc = recovery();
      const plan = await rc.factoryResetPlan();
      assert.match(plan.erasesText[0].zh, /^批次\d+交易\d+笔（未结算）$/);
      assert.match(plan.erases[0], /NOT SETTLED/);
      await rc.close();
    });

    it('aFailedActionShowsTheErrorCausesAndStepsInChineseAndTheMessageInEnglish', async () => {
      const { screen, report } = await menuScreen((rc) => rc.exportTo(join(work, 'no-usb'), 'pass1234', ADMIN), 'export');
      assert.equal(report.code, 'E-STO-09');
      const zh = shown(screen, 'zh-CN', PIXELS);
      assert.ok(zh.startsWith('E-STO-09'), zh);
      assert.ok(!/[a-z]{4,}/.test(zh.replace(/E-STO-09/g, '')), `no English words on the Chinese display: ${zh}`);
      assert.ok(shown(screen, 'en', PIXELS).includes('no-usb'), 'English names the target');
      assert.deepEqual(errorText(new Error('boom')), [rt('error.unknown', { message: 'boom' })]);
      assert.equal(errorText(new PosError('NET_DNS', 'x')).length, 3, 'cause and the two steps of E-NET-04');
    });

    it('networkTestLinesNameEachStepInChinese', async () => {
      const rc = new Recovery({ journalDir: r.dir, backupDir: join(work, 'backup'), identity: IDENTITY, clock: () => r.clock.ms, net: { connect: async () => ({ result: 'refused', detail: 'ECONNREFUSED' }) } });
      const rep = await rc.testNetwork({ interface: 'lo', mode: 'static', address: '127.0.0.1', prefixLength: 8, host: '127.0.0.1', port: 9 });
      await rc.close();
      assert.equal(rep.code, 'E-NET-05');
      assert.deepEqual(rep.text!.map((l) => l.zh), [
        '正常 网口：lo已连接', '正常 地址：已有地址127.0.0.1', '正常 网关：未设网关（主机在本地网络）', '正常 域名解析：主机为IP地址，无需解析',
        '失败 连接主机 E-NET-05：127.0.0.1:9拒绝连接（ECONNREFUSED）：检查端口',
      ]);
      assert.equal(rep.lines[4], 'FAIL connect E-NET-05: 127.0.0.1:9 refused (ECONNREFUSED): check port');
    });
  });
});
