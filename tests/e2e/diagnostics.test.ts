/**
 * The diagnostics menu (issue 5) on the simulator board, driven only through the control
 * interface of the terminal child process: from idle (MENU 8) and from the recovery menu (6).
 * Opening it runs the checks that need nobody (battery, storage, printer status, network,
 * loopback, host, a sign-on, last errors) and prints nothing; the technician then chooses the
 * others by number: card reader (a test card presented at the virtual reader), keypad (every key
 * pressed; CANCEL twice leaves it), display (the pattern confirmed with OK), and the printer's test
 * page with a QR code (OK in the printer's detail). Then faults set through the control interface (paper out, a printer
 * fault, a silent reader, an unplugged fuel gauge or display) show their specific codes, on the
 * list, on each check's detail screen, and in "last errors".
 */
import { strict as assert } from 'node:assert';
import { readBoardFile } from '../../hal/board';
import type { DiagResult } from '../../boot/diagnostics';
import { LANGUAGE_ITEMS } from '../../ui-lcd/screens';
import { Driver, terminalPerTest } from './driver';

const CHECKS = ['battery', 'storage', 'printer', 'reader', 'keypad', 'display', 'network', 'host', 'log'] as const;
type Check = (typeof CHECKS)[number];

/** The simulator board's I2C addresses (board-configs/sim.json). */
const SIM = readBoardFile('sim').config.devices;
const i2cOf = (role: string): { bus: number; address: number } => {
  const dc = SIM[role];
  if (dc?.type === 'ssd1306') return { bus: dc.i2cBus, address: dc.address };
  if (dc?.type === 'battery' && dc.gauge) return { bus: dc.gauge.i2cBus, address: dc.gauge.address };
  throw new Error(`no I2C chip for ${role}`);
};

/** Every key of the simulator's keypad, in brackets for the control interface's `keys`. */
const ALL_KEYS = (() => {
  const dc = SIM.keypad0;
  if (dc?.type !== 'matrix-keypad') throw new Error('sim board has no matrix keypad');
  return dc.keymap.flat().filter((k): k is NonNullable<typeof k> => k !== null).map((k) => `[${k}]`).join('');
})();

describe('e2e: diagnostics menu (idle MENU 8, recovery 6), each check with its code, faults', function () {
  this.timeout(60_000);
  // A terminal, acquirer simulator and storage directory per test (tests/e2e/driver.ts).
  const bench = terminalPerTest('pos-e2e-diag-');
  let d: Driver;
  beforeEach(() => { ({ d } = bench); });

  async function loginToIdle(): Promise<void> {
    await d.powerOn();
    await d.signIn();
  }

  /** Waits for the diagnostics overlay's results (the probe) until `done` holds. */
  async function results(done: (r: readonly DiagResult[], complete: boolean) => boolean, timeoutMs = 30_000): Promise<DiagResult[]> {
    const deadline = Date.now() + timeoutMs;
    let last: readonly DiagResult[] = [];
    while (Date.now() < deadline) {
      const o = (await d.snapshot()).overlay;
      if (o?.name === 'diagnostics' && o.results) {
        last = o.results;
        if (done(last, o.complete === true)) return [...last];
      }
      await new Promise((r) => setTimeout(r, 40));
    }
    throw new Error(`diagnostics: waited ${timeoutMs} ms; results ${JSON.stringify(last.map((r) => [r.check, r.state, r.code]))}`);
  }

  const stateOf = (rs: readonly DiagResult[], c: Check): DiagResult => rs.find((r) => r.check === c)!;

  /**
   * Answers the interactive checks as a technician does: a test card at the reader prompt (when the
   * reader got that far), every key at the keypad prompt, OK at the display pattern (when it shows).
   * Returns the final results.
   */
  async function answerPrompts(o: { card?: boolean } = {}): Promise<DiagResult[]> {
    const auto = await results((_rs, complete) => complete);
    for (const c of ['reader', 'keypad', 'display'] as const) assert.equal(stateOf(auto, c).state, 'pending', `${c} ran unasked`);
    await d.keys(String(CHECKS.indexOf('reader') + 1));
    if ((await prompted('reader', 'diagnostics:reader')) && o.card !== false) await d.cmd('swipe', { card: 'magDebit' });
    await results((_rs, complete) => complete);
    await d.keys(String(CHECKS.indexOf('keypad') + 1));
    if (await prompted('keypad', 'diagnostics:keypad')) {
      const kp = (await d.snapshot()).screen.text;
      assert.match(kp.join(' '), /18 left: \S|剩18个：\S/, `the count, then the keys left: ${kp.join('|')}`);
      // Never paged: UP and DOWN are keys under test here, and count as pressed.
      assert.ok(!/\d\/\d/.test(kp[0] ?? ''), `paged: ${kp[0]}`);
      await d.keys('[UP][DOWN]');
      const deadline = Date.now() + 5_000;
      while (!/16 left|剩16个/.test((await d.snapshot()).screen.text.join(' '))) {
        if (Date.now() > deadline) throw new Error(`UP/DOWN not counted: ${(await d.snapshot()).screen.text.join('|')}`);
        await new Promise((res) => setTimeout(res, 40));
      }
      await d.keys(ALL_KEYS);
    }
    await results((_rs, complete) => complete);
    await d.keys(String(CHECKS.indexOf('display') + 1));
    if (await prompted('display', 'diagnostics:display')) await d.keys('OK');
    return results((_rs, complete) => complete);
  }

  /** The printer's test page, asked for in its detail (OK there). */
  async function printTestPage(): Promise<void> {
    await d.keys(String(CHECKS.indexOf('printer') + 1));
    await d.screen('diagnostics:printer');
    await d.keys('OK');
    await results((rs, complete) => complete && stateOf(rs, 'printer').state !== 'running');
  }

  /** True once the check shows its prompt; false when it ended without one (it failed first). */
  async function prompted(c: Check, screen: string, timeoutMs = 30_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const s = await d.snapshot();
      if (s.screen.name === screen) return true;
      const r = s.overlay?.results?.find((x) => x.check === c);
      if (r && r.state !== 'running' && r.state !== 'pending') return false;
      await new Promise((res) => setTimeout(res, 40));
    }
    throw new Error(`diagnostics: no ${screen} prompt and no ${c} result in ${timeoutMs} ms`);
  }

  /** The check's detail screen (its number on the finished list), every page as one line; back to the list (BACK: OK would run the check's action). */
  async function detail(c: Check): Promise<string> {
    await d.keys(String(CHECKS.indexOf(c) + 1));
    const rows = await d.pages(`diagnostics:${c}`);
    await d.keys('BACK');
    await d.screen('diagnostics');
    return body(rows);
  }

  /** A paged screen's body as one line: the title rows ("Storage 2/3") and footers dropped. */
  function body(rows: readonly string[]): string {
    const paged = rows.some((l) => /^.+ \d+\/\d+$/.test(l.trim()));
    return rows.filter((l, i) => (paged ? !/^.+ \d+\/\d+$/.test(l.trim()) : i > 0) && !/UP\/DOWN|OK: back|OK=test|上下键翻页|确认键返回|确认键打印测试页|确认键再测一次/.test(l.trim())).join(' ').replace(/\s+/g, ' ').trim();
  }

  /** The list row of a check as drawn (scrolled to with DOWN): "4 E-RDR-03 Card r". */
  async function listRow(c: Check): Promise<string> {
    const n = CHECKS.indexOf(c) + 1;
    for (let i = 0; i <= CHECKS.length; i++) {
      const rows = await d.screen('diagnostics');
      const row = rows.slice(1).find((l) => new RegExp(`^\\W*${n} `).test(l));
      if (row) return row;
      await d.keys('DOWN');
    }
    throw new Error(`list row of ${c} not shown: ${JSON.stringify(await d.screen('diagnostics'))}`);
  }

  function assertResult(rs: readonly DiagResult[], c: Check, state: 'ok' | 'fail', code?: string): void {
    const r = stateOf(rs, c);
    assert.equal(r.state, state, `${c}: ${r.state} ${r.code ?? ''} ${r.lines.join(' / ')}`);
    if (code) assert.equal(r.code, code, `${c}: ${r.lines.join(' / ')}`);
  }

  /** MENU 8 from idle, every prompt answered: every check passes. */
  async function allChecksPassFromIdle(): Promise<DiagResult[]> {
    await d.keys('MENU');
    await d.screen('mainMenu');
    await d.keys('8');
    await d.screen('diagnostics');
    const rs = await answerPrompts();
    for (const c of CHECKS) assertResult(rs, c, 'ok');
    return rs;
  }

  it('from idle (MENU 8): every check passes; the test page with its QR is printed only when asked; each detail shows OK', async () => {
    await loginToIdle();
    const before = (await d.receipts()).length;
    await allChecksPassFromIdle();
    assert.equal((await d.receipts()).length, before, 'a test page printed unasked');
    await printTestPage();

    await d.receiptsAtLeast(before + 1);
    const page = (await d.receiptsWithImages()).slice(before);
    assert.equal(page.length, 1, 'one test page printed');
    const text = page[0].lines.join('\n');
    assert.ok(text.includes('PRINTER TEST'), text);
    const qr = page[0].images;
    assert.equal(qr.length, 1, `the test page carries one image, the QR code: ${JSON.stringify(qr)}`);
    // The stripe is as wide as the paper's left margin plus the code (centring is baked into the bitmap).
    assert.ok(qr[0].height >= 100 && qr[0].width >= qr[0].height && qr[0].width <= 384, `a QR code's square, centred: ${JSON.stringify(qr[0])}`);

    const expect: Record<Check, RegExp> = {
      battery: /\d+% \d+ mV/, storage: /journal ok: \d+ records.*free [\d.]+ of [\d.]+ MB.*RAM:\s+terminal\s+[\d.]+.*CPU\s+load\s+[\d.]+/, printer: /test page with QR printed/,
      reader: /test card: swiped/, keypad: /all 18 keys seen/, display: /pixels display: pattern confirmed/,
      network: /lo up.*connect/i, host: /echo: 00 \(\d+ ms\).*signed on as 001/, log: /no errors logged|E-[A-Z]+-\d\d/,
    };
    for (const c of CHECKS) {
      const shown = await detail(c);
      // The last errors are a list, not a check: their page is the list, with no "OK" above it.
      if (c === 'log') assert.ok(!shown.startsWith('OK '), `log detail is its list: ${shown}`);
      else assert.ok(shown.startsWith('OK '), `${c} detail says OK: ${shown}`);
      assert.ok(expect[c].test(shown), `${c} detail: ${shown}`);
    }
    assert.ok((await listRow('host')).includes('OK'));
    await d.keys('CANCEL');
    await d.until('idle', (s) => s.screen.name === 'idle');
    assert.equal((await d.snapshot()).overlay, undefined, 'diagnostics closed');
  });

  it('theTestPageBelowThePrintThresholdIsRefusedWithEPwr03AndNothingPrints', async () => {
    await loginToIdle();
    const before = (await d.receipts()).length;
    // 8 %: above critical (the terminal stays on), below battery0.printMinPercent (10 %).
    await d.cmd('battery', { percent: 8 });
    await d.keys('MENU8');
    await d.screen('diagnostics');
    await results((_rs, complete) => complete);
    await printTestPage();
    const rs = await results((_rs, complete) => complete);
    assertResult(rs, 'printer', 'fail', 'E-PWR-03');
    assert.equal((await d.receipts()).length, before, 'a test page printed below the print threshold');
    await d.keys('CANCEL');
    await d.until('idle', (s) => s.overlay === undefined);
  });

  it('the keypad test counts CANCEL as a key and a second CANCEL leaves it; diagnostics then closes with CANCEL', async () => {
    await loginToIdle();
    await d.keys('MENU8');
    await results((_rs, complete) => complete);
    await d.keys(String(CHECKS.indexOf('keypad') + 1));
    assert.ok(await prompted('keypad', 'diagnostics:keypad'));
    assert.ok((await d.snapshot()).screen.text.some((l) => l.includes('CANCEL 2x')), 'the footer says how to leave');
    await d.keys('[CANCEL]');
    const deadline = Date.now() + 5_000;
    while (!/17 left/.test((await d.snapshot()).screen.text.join(' '))) {
      if (Date.now() > deadline) throw new Error(`CANCEL not counted: ${(await d.snapshot()).screen.text.join('|')}`);
      await new Promise((res) => setTimeout(res, 40));
    }
    await d.keys('[CANCEL]');
    const rs = await results((r, complete) => complete && stateOf(r, 'keypad').state === 'fail');
    assert.equal(stateOf(rs, 'keypad').code, 'E-OPR-07');
    await d.screen('diagnostics');
    await d.keys('CANCEL');
    await d.until('idle', (s) => s.overlay === undefined);
  });

  it('in Chinese (settings, language): each detail in Chinese, codes and figures kept', async () => {
    await loginToIdle();
    await d.keys('MENU9');
    await d.screen('settings');
    await d.keys('1');
    await d.screen('language');
    await d.keys(String(LANGUAGE_ITEMS.findIndex((i) => i.value === 'zh-CN') + 1));
    await d.until('idle', (s) => s.screen.name === 'idle');
    const rs = await allChecksPassFromIdle();
    assert.match(stateOf(rs, 'storage').lines.join(' '), /journal ok/, 'the results (logs, probe) stay English');
    const zh: Record<'battery' | 'storage' | 'printer' | 'reader' | 'keypad' | 'display' | 'host', RegExp> = {
      battery: /\d+%\d+mV(充电中|未充电)电量正常/, storage: /^正常流水正常：\d+条记录可用[\d.]+\/[\d.]+MB尚无备份内存：终端[\d.]+(\/[\d.]+)?MB内存可用[\d.]+\/[\d.]+MBCPU负载[\d.]+(内存不足：请重启终端)?$/, printer: /纸正常/,
      reader: /自检正常.*测试卡：刷卡/, keypad: /18个键全部按到/, display: /点阵显示屏：图案正常/, host: /回响:00.*已签到，操作员001/,
    };
    for (const [c, re] of Object.entries(zh) as Array<[Check, RegExp]>) {
      // Chinese lines wrap anywhere: compare without the spaces the pages put between rows.
      const shown = (await detail(c)).replace(/\s+/g, '');
      assert.match(shown, re, `${c} detail: ${shown}`);
    }
  });

  it('from the recovery menu (6): the checks run over the journal recovery holds; the host check is not tried (E-KEY-02)', async () => {
    await d.powerOn({ holdReset: true });
    await d.adminSignIn();
    await d.screen('recovery');
    await d.keys('6');
    await d.screen('diagnostics');
    const rs = await answerPrompts();
    for (const c of CHECKS.filter((x) => x !== 'host')) assertResult(rs, c, 'ok');
    assertResult(rs, 'host', 'fail', 'E-KEY-02');
    const host = await detail('host');
    assert.ok(host.includes('FAIL E-KEY-02') && host.includes('not tried'), host);
    assert.ok((await listRow('host')).includes('E-KEY-02'));
    // CANCEL: back to the recovery menu, which still works.
    await d.keys('CANCEL');
    await d.screen('recovery');
    await d.keys('1');
    const verify = await d.screen('recoveryReport:verify', 30_000);
    assert.ok(verify.join(' ').includes('journal ok'), verify.join('|'));
  });

  it('faults: paper out (E-PRN-01), silent reader (E-RDR-03), no fuel gauge (E-BRD-02); then a printer fault (E-PRN-03) and no display (E-DSP-01); last errors lists them', async () => {
    await loginToIdle();
    const before = (await d.receipts()).length;
    await d.cmd('paper', { state: 'out' });
    await d.cmd('reader-silent', { silent: true });
    const withGauge = await d.snapshot();
    assert.match(withGauge.screen.text.join(' '), /\d+%/, `idle shows the battery: ${withGauge.screen.text.join('|')}`);
    await d.cmd('absent', { ...i2cOf('battery0'), absent: true });
    // Two failed reads of the gauge (2 s apart): idle no longer shows the figure it last read.
    await d.until('idle', (s) => !/\d+%/.test(s.screen.text.join(' ')), 15_000);
    await d.keys('MENU8');
    await d.screen('diagnostics');
    let rs = await answerPrompts();
    assertResult(rs, 'battery', 'fail', 'E-BRD-02');
    assertResult(rs, 'printer', 'fail', 'E-PRN-01');
    // A reader that does not answer fails its self-test: no acknowledgement of the frame (E-RDR-03).
    const reader = stateOf(rs, 'reader');
    assertResult(rs, 'reader', 'fail', 'E-RDR-03');
    assert.ok(reader.lines.join(' ').includes('did not acknowledge'), reader.lines.join(' / '));
    for (const c of ['storage', 'keypad', 'display', 'network', 'host'] as const) assertResult(rs, c, 'ok');
    assert.equal((await d.receipts()).length, before, 'no test page without paper');

    assert.ok((await detail('printer')).includes('FAIL E-PRN-01'));
    assert.ok((await detail('battery')).includes('FAIL E-BRD-02'));
    assert.ok((await detail('reader')).includes(`FAIL ${reader.code}`));
    // The list leads a failed row with its code, so a 16-column display shows it whole.
    assert.ok((await listRow('printer')).includes('E-PRN-01'));
    assert.ok((await listRow('reader')).includes('E-RDR-03'));
    const log = await detail('log');
    for (const code of ['E-BRD-02', 'E-PRN-01', reader.code!]) assert.ok(log.includes(code), `last errors list ${code}: ${log}`);

    // Second round: paper back, a cutter fault; the reader awake; the gauge back, the display unplugged.
    await d.keys('CANCEL');
    await d.until('idle', (s) => s.overlay === undefined);
    await d.cmd('paper', { state: 'loaded' });
    await d.cmd('printer-fault', { fault: 'cutter' });
    await d.cmd('reader-silent', { silent: false });
    await d.cmd('absent', { ...i2cOf('battery0'), absent: false });
    await d.cmd('absent', { ...i2cOf('display0'), absent: true });
    await d.keys('MENU8');
    // The display does not answer: the screen is read from the terminal's own account of it.
    await d.screen('diagnostics');
    rs = await answerPrompts();
    assertResult(rs, 'printer', 'fail', 'E-PRN-03');
    assertResult(rs, 'battery', 'ok');
    assertResult(rs, 'reader', 'ok');
    const display = stateOf(rs, 'display');
    assert.equal(display.state, 'fail', `display: ${display.lines.join(' / ')}`);
    // The display driver names the part (E-DSP-01) and keeps the bus's own finding (E-BRD-02, no ACK) in the text.
    assert.equal(display.code, 'E-DSP-01', `display: ${display.code} ${display.lines.join(' / ')}`);
    const shownDisplay = await detail('display');
    assert.ok(shownDisplay.startsWith('FAIL E-DSP-01') && shownDisplay.includes('no ACK'), shownDisplay);
    assert.ok((await detail('printer')).includes('FAIL E-PRN-03'));
    await d.cmd('absent', { ...i2cOf('display0'), absent: false });
    await d.cmd('printer-fault', { fault: null });
    await d.keys('CANCEL');
    await d.until('idle', (s) => s.overlay === undefined);
  });
});
