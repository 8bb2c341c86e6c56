/**
 * One time zone and one clock (issue 13, items 2 and 3): the terminal's calendar is its board's
 * zone (default UTC+8) whatever the process's TZ, and the host's time at sign-on corrects its
 * clock, durably. Every expectation here is computed from fixed instants: none reads the real
 * clock or the process's zone, so this file also runs under libfaketime (calendar-moved.test.ts).
 */
import { strict as assert } from 'node:assert';
import { createActor, waitFor } from 'xstate';
import { civil, formatDateTime, hostInstant, isoInZone, parseTimeZone, formatTimeZone, TZ_OFFSET_MINUTES_DEFAULT, AdjustableClock } from '../../common/time';
import { receiptJob, settlementReportJob } from '../../runtime/receipt';
import { TxnView } from '../../runtime/txn/engine';
import { validateBoard } from '../../hal/board-schema';
import { readFileSync } from 'node:fs';
import { asset } from '../../common/assets';
import { AcquirerSimulator } from '../../sim/host/simulator';
import { seededRandom } from '../../runtime/random';
import { rig, withOperators, magCard, Rig, SUPERVISOR, T0_MS } from '../runtime/harness';
import { createTerminalMachine, statePath, viewOf } from '../../runtime/machine';
import { CardQueue, FakePrinter } from '../runtime/fakes';
import { RecordType } from '../../storage/record';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

if (process.env.POS_CALENDAR_MOVED === '1') process.stderr.write(`POS_FAKE_YEAR=${new Date().getUTCFullYear()}\n`);

function txn(over: Partial<TxnView> = {}): TxnView {
  return {
    kind: 'sale', stan: 7, batch: 1, amountFen: 100, panMasked: '622202******0123', entryMode: '021', status: 'approved',
    responseCode: '00', rrn: '000000000007', authCode: '000007', operator: '01', atMs: 0, printed: [], hasSignature: false, ...over,
  } as TxnView;
}

function receiptText(t: TxnView, tz?: number): string {
  const job = receiptJob(t, { lang: 'en', copy: 'merchant', reprint: false, merchantName: 'M', tid: '12345678', mid: '123456789012345', printedAtMs: t.atMs, tzOffsetMinutes: tz });
  return job.blocks.map((b) => (b.kind === 'text' ? b.text : '')).join('\n');
}

describe('time zone: one calendar for screen, receipt and reports', () => {
  it('zoneOffsetsParseAndRefuseNames', () => {
    assert.equal(parseTimeZone('UTC+08:00'), 480);
    assert.equal(parseTimeZone('UTC+8'), 480);
    assert.equal(parseTimeZone('UTC-05:30'), -330);
    assert.equal(parseTimeZone('UTC'), 0);
    assert.equal(parseTimeZone('Asia/Shanghai'), undefined);
    assert.equal(parseTimeZone('UTC+15'), undefined);
    assert.equal(parseTimeZone('UTC+08:75'), undefined);
    assert.equal(formatTimeZone(-330), 'UTC-05:30');
  });

  it('calendarDayIsTheTerminalsNotTheProcesss: 2031-02-28 23:30 UTC is 1 March in UTC+8', () => {
    const ms = Date.UTC(2031, 1, 28, 23, 30);
    assert.deepEqual(civil(ms), { year: 2031, month: 3, day: 1, hour: 7, minute: 30, second: 0 });
    assert.equal(formatDateTime(ms), '2031-03-01 07:30');
    assert.equal(formatDateTime(ms, 0), '2031-02-28 23:30');
    assert.equal(isoInZone(ms), '2031-03-01T07:30:00.000+08:00');
  });

  it('receiptPrintsTheTerminalsZone: no host date, the record time in UTC+8 (not the process TZ)', () => {
    const t = txn({ atMs: Date.UTC(2031, 1, 28, 23, 30, 5), hostDate: undefined, hostTime: undefined });
    assert.match(receiptText(t), /2031\/03\/01 07:30:05/);
    assert.match(receiptText(t, 0), /2031\/02\/28 23:30:05/);
  });

  it('receiptYearFollowsTheHostDate: a 1231 answer recorded on 1 January (terminal zone) is last year', () => {
    // The host said 31 Dec 23:59:58 (UTC+8); the terminal recorded the result 3 s later, 1 Jan.
    const t = txn({ atMs: Date.UTC(2038, 11, 31, 16, 0, 1), hostDate: '1231', hostTime: '235958' });
    assert.match(receiptText(t), /2038\/12\/31 23:59:58/);
  });

  it('settlementReportUsesTheZone', () => {
    const job = settlementReportJob({
      batch: 1, totals: { saleAmountFen: 0, saleCount: 0, refundAmountFen: 0, refundCount: 0 }, verdict: 'balanced', atMs: Date.UTC(2031, 1, 28, 23, 30),
      tid: '12345678', mid: '123456789012345', merchantName: 'M', reprint: false, lang: 'en', tzOffsetMinutes: 480,
    });
    assert.match(job.blocks.map((b) => (b.kind === 'text' ? b.text : '')).join('\n'), /2031\/03\/01 07:30/);
  });

  it('boardFileTimeZoneIsValidated: offsets taken, names refused with the field named', () => {
    const sim = JSON.parse(readFileSync(asset('board-configs', 'sim.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(validateBoard(sim, 'sim.json').tzOffsetMinutes, TZ_OFFSET_MINUTES_DEFAULT);
    assert.equal(validateBoard({ ...sim, timeZone: 'UTC+07:00' }, 'sim.json').tzOffsetMinutes, 420);
    assert.throws(() => validateBoard({ ...sim, timeZone: 'Asia/Shanghai' }, 'sim.json'), /field "timeZone" must be a UTC offset/);
  });

  it('hostInstantTakesTheNearestYearAndRefusesUnrealDates', () => {
    const near = Date.UTC(2039, 0, 1, 0, 0); // 1 Jan 2039 08:00 in UTC+8
    assert.equal(hostInstant('235959', '1231', near), Date.UTC(2038, 11, 31, 15, 59, 59));
    assert.equal(hostInstant('120000', '0229', Date.UTC(2030, 1, 28)), undefined, '29 Feb in 2029..2031: none is a leap year');
    assert.equal(hostInstant('120000', '0229', Date.UTC(2028, 1, 28)), Date.UTC(2028, 1, 29, 4));
    assert.equal(hostInstant('246000', '0101', near), undefined);
  });

  it('adjustableClockAddsItsOffset', () => {
    let base = 1000;
    const c = new AdjustableClock(() => base);
    c.setOffsetMs(500);
    base = 2000;
    assert.equal(c.now(), 2500);
    assert.throws(() => c.setOffsetMs(Number.NaN));
  });
});

describe('host time at sign-on sets the terminal clock (durably) and the refund date check uses it', function () {
  this.timeout(30_000);
  let r: Rig | undefined;
  let host: AcquirerSimulator | undefined;
  afterEach(async () => { await r?.close(); await host?.close(); r = undefined; host = undefined; });

  /** A rig whose host is `aheadMs` ahead of the terminal's own clock. */
  async function skewed(aheadMs: number): Promise<Rig> {
    // The host reads the rig's own clock (made by rig(), read lazily) plus the skew.
    host = new AcquirerSimulator({ randomBytes: seededRandom(7), clock: () => (r?.clock.ms ?? T0_MS) + aheadMs });
    await host.listen(0);
    r = await rig({ sim: host });
    return r;
  }

  it('signOnTakesTheHostTimeAndKeepsItAfterAReboot', async () => {
    const rr = await skewed(DAY_MS - HOUR_MS);
    await withOperators(rr);
    assert.equal(rr.terminal.engine.now(), T0_MS);
    await rr.terminal.engine.signOn(SUPERVISOR);
    const drift = Math.abs(rr.terminal.engine.now() - (T0_MS + DAY_MS - HOUR_MS));
    assert.ok(drift < 2000, `the clock follows the host (within the 12/13 second): off by ${drift} ms`);
    const signOn = [...rr.journal.records()].reverse().find((x) => x.type === RecordType.signOn);
    assert.ok(signOn && typeof signOn.payload.clockOffsetMs === 'number', 'the correction is journaled with the sign-on');
    await rr.reboot();
    assert.ok(Math.abs(rr.terminal.engine.now() - (T0_MS + DAY_MS - HOUR_MS)) < 2000, 'the correction survives a reboot');
  });

  it('smallSkewLeavesTheClockAlone (60 s or less)', async () => {
    const rr = await skewed(30_000);
    await withOperators(rr);
    await rr.terminal.engine.signOn(SUPERVISOR);
    assert.equal(rr.terminal.engine.now(), T0_MS);
  });

  it('hostBatchHigherIsTakenNeverLower', async () => {
    const rr = await skewed(0);
    await withOperators(rr);
    for (let b = 1; b <= 4; b++) (host as AcquirerSimulator).ledger.batch('12345678', b).closed = true;
    await rr.terminal.engine.signOn(SUPERVISOR);
    assert.equal(rr.terminal.engine.state.batch, 5, 'the 0810 said batch 5');
    await rr.reboot();
    assert.equal(rr.terminal.engine.state.batch, 5, 'durably');
  });

  it('refundOfTodaysHostDateIsAcceptedWhenTheTerminalClockWasBehind (E-OPR-19 before)', async () => {
    // The terminal's clock says 21 Nov 10:00 (UTC+8); the host's says 22 Nov 09:00: the sale is
    // dated 1122 by the host. Before the host's time set the clock, 1122 was "in the future".
    const rr = await skewed(DAY_MS - HOUR_MS);
    await withOperators(rr);
    const printer = new FakePrinter();
    const cards = new CardQueue();
    const machine = createTerminalMachine({
      open: async () => rr.terminal, selfTest: async () => undefined, printer, readCard: cards.read, clock: () => rr.clock.ms,
      recoveryLogin: (op, pw) => rr.terminal.operators.login(op, pw),
    });
    const actor = createActor(machine).start();
    const until = (p: string) => waitFor(actor, (s) => statePath(s.value) === p, { timeout: 8000 });
    try {
      await until('login');
      actor.send({ type: 'LOGIN', operator: '002', password: '2222' });
      await until('idle');
      cards.push(magCard(), magCard());
      actor.send({ type: 'SALE' }); actor.send({ type: 'AMOUNT', amountFen: 3000 });
      await until('sale.askCustomerCopy'); actor.send({ type: 'NO' }); await until('sale.signature'); actor.send({ type: 'SKIP' }); await until('idle');
      const sale = rr.terminal.engine.lastReceipt();
      assert.equal(sale?.hostDate, '1122');
      actor.send({ type: 'REFUND' });
      await until('refund.details');
      actor.send({ type: 'REFUND_DETAILS', rrn: sale?.rrn as string, dateMmdd: '1122', amountFen: 1000 });
      assert.equal(viewOf(actor.getSnapshot()).data.error?.code, undefined, 'the host date is today, not the future');
      await until('refund.askCustomerCopy');
    } finally {
      actor.stop();
    }
  });
});

describe('journal dump prints times in the terminal zone', function () {
  this.timeout(30_000);
  it('dumpTimesCarryTheBoardZoneOffsetNotTheProcessZone', async () => {
    const { Journal } = await import('../../storage/journal');
    const { tempDir, removeDir } = await import('../../storage/testing');
    const { main } = await import('../../boot/pos');
    const dir = tempDir('zone-dump-');
    try {
      const at = Date.UTC(2031, 1, 28, 23, 30);
      const j = await Journal.open({ dir, identity: 'SIM-0001', clock: () => at });
      await j.append('stan', { stan: 1 });
      await j.close();
      const out: string[] = [];
      const code = await main(['journal', 'dump', '--dir', dir, '--board', 'sim'], (l) => out.push(l), () => undefined);
      assert.equal(code, 0);
      assert.ok(out.some((l) => l.includes('2031-03-01T07:30:00.000+08:00')), `dump lines: ${out.join('\n')}`);
    } finally {
      removeDir(dir);
    }
  });
});
