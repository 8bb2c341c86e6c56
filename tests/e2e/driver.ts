/**
 * Drives a terminal process on the simulator board the way the front panel does: only through
 * the control interface (sim/control-server.ts), with the acquirer simulator in this process.
 * The terminal is the real child (boot/terminal-main.ts, started as `npm start` starts it), on
 * a journal directory of the test's own.
 */
import { strict as assert } from 'node:assert';
import { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { asset } from '../../common/assets';
import { startTerminal } from '../../boot/start';
import { ControlClient, Reply } from '../../sim/control-client';
import { HOST_SIM_LINE_PREFIX } from '../../sim/control-server';
import { controlLine } from '../../sim/host/cli';
import { AcquirerSimulator, TEST_TERMINAL } from '../../sim/host/simulator';
import { Journal } from '../../storage/journal';
import { DecodedRecord, RecordType } from '../../storage/record';
import { deriveState, TerminalState, batchTotals } from '../../runtime/terminal-state';
import { removeDir, tempDir } from '../../storage/testing';
import type { ProbeSnapshot } from '../../boot/terminal-app';
import { TestTimings, testTimingsFlag } from '../../boot/test-timings';

export const STATE_WAIT_MS_MAX = 20_000;

/** The operators the simulator board creates at its first boot (README, "Operators created at the first boot"). */
export const SIM_OPERATORS = {
  cashier: { no: '01', password: '0000' },
  supervisor: { no: '99', password: '9999' },
  admin: { no: '00', password: '123456' },
} as const;
export type OperatorRole = keyof typeof SIM_OPERATORS;
export const POLL_MS = 40;
/**
 * The reset button's hold that opens recovery on the boards these tests power on with the reset
 * held: the board file's least resetHoldMs (hal/board-schema.ts), not the simulator board's 3 s,
 * which every such boot waited in real time. The hold, its release and recovery are the same code
 * whatever the board file says (boot/terminal-app.ts resetAtBoot, boot/terminal-main.ts
 * holdResetUntilSeen); npm start --hold-reset (tests/e2e/control-port.test.ts) holds the simulator board's own 3 s.
 */
export const TEST_RESET_HOLD_MS = 500;

/**
 * The terminal child's tests-only timings (`--test-timings`, boot/test-timings.ts; refused on a real
 * board): the product's are waits no test here looks at, paid in real time at every key and battery
 * read. A key: held until the driver reports it, on a 5 ms debounce (the product's 30 ms hold on a
 * 20 ms debounce made a key 60 ms, most of the e2e tests' time); the battery read every 200 ms (2 s).
 * A test that reads a notice's turns adds NOTICE_TEST_TIMINGS; one of a product timing itself
 * powers on with `testTimings` undefined.
 */
export const E2E_TEST_TIMINGS: TestTimings = { 'key-hold': 0, 'key-debounce': 5, 'battery-poll': 200 };
/** A notice part 500 ms (the product's 3 s), the main loop that redraws the next one every 100 ms (500 ms). */
export const NOTICE_TEST_TIMINGS: TestTimings = { 'notice-turn': 500, 'tick': 100 };

export interface TerminalRun {
  readonly child: ChildProcess;
  readonly client: ControlClient;
  readonly controlPort: number;
  readonly log: string[];
}

export class Driver {
  run: TerminalRun | undefined;
  /** The board the terminal boots (`--board`): a name or a board file's path. */
  board = 'sim';
  /** The USB stick's mount point (`--usb-dir`): on the simulator board a plain folder, a stick while it exists. */
  usbDir: string | undefined;
  /**
   * Between two questions while waiting for a state, a screen or receipts. Each question is work
   * for the terminal: a guest's terminal on one TCG CPU (tests/guest/support.ts) asks for less.
   */
  pollMs = POLL_MS;
  /** The terminal child's tests-only timings (`--test-timings`); undefined: the product's own. */
  testTimings: TestTimings | undefined = E2E_TEST_TIMINGS;

  constructor(readonly host: AcquirerSimulator, readonly dir: string, private readonly locale: 'en' | 'zh-CN' = 'en') {}

  /**
   * The board file a power-on with the reset held boots: the simulator board with TEST_RESET_HOLD_MS
   * (a copy beside the storage directory, written once); any other board as it is.
   */
  private boardHeld(): string {
    if (this.board !== 'sim') return this.board;
    const file = join(this.dir, 'sim-reset-hold.json');
    if (!existsSync(file)) {
      const board = JSON.parse(readFileSync(asset('board-configs', 'sim.json'), 'utf8')) as { devices: Record<string, Record<string, unknown>> };
      board.devices.reset0 = { ...board.devices.reset0, resetHoldMs: TEST_RESET_HOLD_MS };
      writeFileSync(file, JSON.stringify(board, null, 2));
    }
    return file;
  }

  /** Powers the terminal on (a fresh process on the same storage). */
  async powerOn(options: { holdReset?: boolean; signOnAtLogin?: boolean } = {}): Promise<TerminalRun> {
    const log: string[] = [];
    const args = [
      '--board', options.holdReset ? this.boardHeld() : this.board, '--host-port', String(this.host.port), '--journal-dir', join(this.dir, 'journal'), '--backup-dir', join(this.dir, 'backup'), '--locale', this.locale,
      ...(options.holdReset ? ['--hold-reset'] : []), ...(options.signOnAtLogin ? ['--sign-on-at-login'] : []),
      ...(this.usbDir !== undefined ? ['--usb-dir', this.usbDir] : []),
      ...(this.testTimings !== undefined && Object.keys(this.testTimings).length > 0 ? ['--test-timings', testTimingsFlag(this.testTimings)] : []),
    ];
    const { child, controlPort } = await startTerminal(args, (line) => {
      // The terminal's `qr-pay`: the customer pays at this process's acquirer simulator (as npm start does).
      if (line.startsWith(HOST_SIM_LINE_PREFIX)) { controlLine(this.host, line.slice(HOST_SIM_LINE_PREFIX.length), (l) => log.push(l)); return; }
      log.push(line); if (log.length > 500) log.shift();
    });
    const client = await ControlClient.connect(controlPort);
    this.run = { child, client, controlPort, log };
    return this.run;
  }

  /** Pulls the battery: SIGKILL, no chance to close anything. */
  async pullBattery(): Promise<void> {
    const run = this.need();
    run.client.close();
    const exited = new Promise((r) => run.child.once('exit', r));
    run.child.kill('SIGKILL');
    await exited;
    this.run = undefined;
  }

  /** Clean shutdown (SIGTERM): the journal is closed. */
  async powerOff(): Promise<number | null> {
    const run = this.run;
    if (!run) return null;
    run.client.close();
    const exited = new Promise<number | null>((r) => run.child.once('exit', (code) => r(code)));
    run.child.kill('SIGTERM');
    this.run = undefined;
    return exited;
  }

  async cmd(cmd: string, args: Record<string, unknown> = {}): Promise<Reply> {
    const r = await this.need().client.request(cmd, args);
    assert.ok(r.ok, `${cmd} failed: ${r.error}`);
    return r;
  }

  async keys(keys: string): Promise<void> {
    await this.cmd('keys', { keys });
  }

  /** Types an operator's number and password at a login prompt, as a person does: number OK password OK. */
  async typeLogin(who: OperatorRole = 'cashier'): Promise<void> {
    const o = SIM_OPERATORS[who];
    await this.keys(`${o.no}OK${o.password}OK`);
  }

  /**
   * From power-on to selling: waits for the login screen, signs the operator in (the terminal
   * signs on to the acquirer) and waits for idle, which it returns.
   */
  async signIn(who: OperatorRole = 'cashier'): Promise<ProbeSnapshot> {
    await this.until('login');
    await this.typeLogin(who);
    return this.until('idle');
  }

  /** The recovery menu's login (reset held, or a damaged journal): the administrator in, the menu up. */
  async adminSignIn(): Promise<ProbeSnapshot> {
    await this.until('recovery.locked');
    await this.typeLogin('admin');
    return this.until('recovery.menu');
  }

  /** One swipe sale from idle, as a cashier does it: no customer copy, signature confirmed. */
  async sale(amount: number | string, card = 'magDebit'): Promise<void> {
    await this.keys(`${amount}OK`);
    await this.until('sale.card');
    await this.cmd('swipe', { card });
    await this.until('sale.askCustomerCopy');
    await this.keys('2');
    await this.until('sale.signature');
    await this.keys('OK');
    await this.until('idle');
  }

  /** At the customer-copy question after an approval: no copy, then the signature step when the sale asks for one, to idle. */
  async declineCopyToIdle(): Promise<void> {
    await this.keys('2');
    for (;;) {
      const s = await this.snapshot();
      if (s.state === 'idle') return;
      if (s.state === 'sale.signature') { await this.keys('OK'); await this.until('idle'); return; }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async snapshot(): Promise<ProbeSnapshot> {
    const r = await this.cmd('state');
    return r.state as ProbeSnapshot;
  }

  /** Waits until the machine is in `path` (and `also` holds); names where it was on timeout. */
  async until(path: string, also: (s: ProbeSnapshot) => boolean = () => true, timeoutMs = STATE_WAIT_MS_MAX): Promise<ProbeSnapshot> {
    const deadline = Date.now() + timeoutMs;
    let last: ProbeSnapshot | undefined;
    while (Date.now() < deadline) {
      last = await this.snapshot().catch(() => undefined);
      if (last && last.state === path && also(last)) return last;
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
    throw new Error(`waited ${timeoutMs} ms for ${path}; at ${last?.state} showing ${last?.screen.name} ${JSON.stringify(last?.screen.text)} error ${JSON.stringify(last?.data.error?.code)}`);
  }

  /** Waits for a screen by ui-lcd name; returns its text. */
  async screen(name: string, timeoutMs = STATE_WAIT_MS_MAX): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    let last: Reply | undefined;
    while (Date.now() < deadline) {
      last = await this.need().client.request('screen');
      if (last.ok && last.name === name) return last.text as string[];
      await new Promise((r) => setTimeout(r, this.pollMs));
    }
    throw new Error(`waited ${timeoutMs} ms for screen ${name}; showing ${String(last?.name)} ${JSON.stringify(last?.text)}`);
  }

  /**
   * Every page of a paged screen (a report, an error, a diagnostics detail): the first line's
   * "k/n" tag says how many; DOWN turns the page and wraps back to the first after the last.
   * Returns the pages' rows in order (the page tag line included on each). A screen whose pages
   * change while they are read (lines added, as the modem's on the sign-on failure screen) is
   * read again from its first page, until the timeout.
   */
  async pages(name: string, timeoutMs = STATE_WAIT_MS_MAX): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (let rewind = false; ; rewind = true) {
      const read = await this.readPages(name, timeoutMs, rewind);
      if (read.pages) return read.pages;
      if (Date.now() > deadline) throw new Error(`the pages of ${name} kept changing while read: ${JSON.stringify(read.last)}`);
    }
  }

  /**
   * One reading of every page from the one shown, which is the first unless `rewind` (a reading
   * cut short left another: DOWN wraps round to the first). `pages` is undefined when the page
   * count changed meanwhile.
   */
  private async readPages(name: string, timeoutMs: number, rewind: boolean): Promise<{ pages?: string[]; last: string[] }> {
    const tag = (text: string[]): { page: number; of: number } => {
      const m = /\b(\d+)\/(\d+)\b/.exec(text[0] ?? '');
      return m && Number(m[2]) >= 2 && Number(m[1]) >= 1 && Number(m[1]) <= Number(m[2]) ? { page: Number(m[1]), of: Number(m[2]) } : { page: 1, of: 1 };
    };
    let first = await this.screen(name, timeoutMs);
    for (let turns = 0; rewind && tag(first).page !== 1 && turns <= tag(first).of; turns++) {
      await this.keys('DOWN');
      first = await this.screen(name, timeoutMs);
    }
    // The first page's "1/n" tag says how many (a line without one is a screen of one page).
    const n = Number(/\b1\/(\d+)\b/.exec(first[0] ?? '')?.[1] ?? 1);
    const out = [...first];
    const turnTo = async (page: number): Promise<string[] | undefined> => {
      await this.keys('DOWN');
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const text = await this.screen(name, timeoutMs);
        if (tag(text).of !== n) return undefined;
        if (text[0]?.includes(`${page}/${n}`)) return text;
        if (Date.now() > deadline) throw new Error(`page ${page}/${n} of ${name} not shown: ${JSON.stringify(text)}`);
        await new Promise((r) => setTimeout(r, this.pollMs));
      }
    };
    for (let page = 2; page <= n; page++) {
      const text = await turnTo(page);
      if (!text) return { last: out };
      out.push(...text);
    }
    if (n > 1 && !(await turnTo(1))) return { last: out };
    return { pages: out, last: out };
  }

  /** Printed receipts with the raster images on them (QR codes, signatures): where and how big, in dots. */
  async receiptsWithImages(): Promise<Array<{ lines: string[]; images: Array<{ x: number; width: number; height: number }> }>> {
    const r = await this.cmd('receipts');
    return (r.receipts as Array<{ lines: string[]; images?: Array<{ x: number; width: number; height: number }> }>).map((x) => ({ lines: x.lines, images: x.images ?? [] }));
  }

  async receipts(): Promise<string[][]> {
    const r = await this.cmd('receipts');
    return (r.receipts as Array<{ lines: string[] }>).map((x) => x.lines);
  }

  /** Receipts once at least `count` have come out of the virtual printer (it decodes as bytes arrive). */
  async receiptsAtLeast(count: number, timeoutMs = 5_000): Promise<string[][]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.receipts();
      if (r.length >= count || Date.now() > deadline) return r;
      await new Promise((res) => setTimeout(res, this.pollMs));
    }
  }

  private need(): TerminalRun {
    if (!this.run) throw new Error('the terminal is off');
    return this.run;
  }
}

/**
 * The journal as the terminal left it (opened read-only, replayed). `beforeSettlement`: replayed
 * up to the first batch close, i.e. the day's transactions as the settlement saw them.
 */
export async function journalState(dir: string, beforeSettlement = false): Promise<TerminalState> {
  const journal = await Journal.open({ dir: join(dir, 'journal'), readOnly: true });
  try {
    function* upToClose(): Generator<DecodedRecord> {
      for (const r of journal.records()) {
        if (beforeSettlement && r.type === RecordType.batchClosed) return;
        yield r;
      }
    }
    return deriveState(upToClose());
  } finally {
    await journal.close();
  }
}

/** The host's ledger and the terminal's journal agree on every approved transaction and the totals. */
export function assertLedgerAgrees(host: AcquirerSimulator, s: TerminalState, batch: number): void {
  const hostApproved = host.ledger.entries({ tid: TEST_TERMINAL.tid, batch }).filter((e) => e.status === 'approved');
  const mine = [...s.txns.values()].filter((t) => t.batch === batch && t.status === 'approved');
  for (const e of hostApproved) {
    const t = s.txns.get(e.stan);
    assert.ok(t, `host approved ${e.type} STAN ${e.stan} that the journal does not have`);
    assert.equal(t.status, 'approved', `STAN ${e.stan}: host approved, journal ${t.status}`);
    assert.equal(t.rrn, e.rrn);
    assert.equal(t.amountFen, e.amountFen);
  }
  for (const t of mine) assert.ok(hostApproved.some((e) => e.stan === t.stan), `journal approved ${t.kind} STAN ${t.stan} that the host does not`);
  assert.deepEqual(batchTotals(s), host.ledger.totals(TEST_TERMINAL.tid, batch), 'totals differ');
}

export interface Bench {
  host: AcquirerSimulator;
  dir: string;
  d: Driver;
}

/**
 * Mocha hooks giving each test its own acquirer simulator, storage directory and terminal driver
 * (a host per test: each test's terminal starts a fresh journal at STAN 1 on the same TID, which a
 * shared host would take for duplicate transmissions, response 94). Read the fields inside tests.
 */
export function terminalPerTest(prefix: string, locale: 'en' | 'zh-CN' = 'en'): Bench {
  const bench = {} as Bench;
  beforeEach(async () => {
    bench.host = new AcquirerSimulator({ clock: Date.now });
    await bench.host.listen(0);
    bench.dir = tempDir(prefix);
    bench.d = new Driver(bench.host, bench.dir, locale);
  });
  afterEach(async () => {
    await bench.d?.powerOff().catch(() => undefined);
    await bench.host?.close();
    if (bench.dir) removeDir(bench.dir);
  });
  return bench;
}
