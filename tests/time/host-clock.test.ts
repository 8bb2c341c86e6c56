/**
 * The terminal's clock against the host's time (runtime/txn/engine.ts, common/time.ts), wired as
 * boot/terminal-app.ts wires it: one AdjustableClock for the journal and the engine. A device clock
 * that was never set (a dead RTC: 1970, 2000) takes the host's date in the first year after what
 * the terminal knows (never 1969, which the journal cannot hold); a correction journaled at sign-on
 * survives a reboot while the device clock is still wrong, and is dropped once it was set right.
 */
import { strict as assert } from 'node:assert';
import { Journal } from '../../storage/journal';
import { tempDir, removeDirAndAsides } from '../../storage/testing';
import { AcquirerSimulator } from '../../sim/host/simulator';
import { HostTransport } from '../../runtime/host/transport';
import { CUP_PROFILE } from '../../runtime/host/fields';
import { fixedDeviceKey } from '../../runtime/device-key';
import { seededRandom } from '../../runtime/random';
import { openTerminal, Terminal } from '../../runtime/terminal';
import { AdjustableClock, CLOCK_FLOOR_MS, hostInstantFrom, instantOf } from '../../common/time';
import { checkRefundDetails } from '../../runtime/txn/entry-checks';
import { config, magCard, DEVICE_KEY, IDENTITY, SUPERVISOR, CASHIER } from '../runtime/harness';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

interface Rig {
  open(): Promise<{ journal: Journal; terminal: Terminal }>;
  close(): Promise<void>;
}

/** A terminal whose device clock is `device.ms`, against a host whose clock is `host.ms`. */
async function rig(device: { ms: number }, host: { ms: number }): Promise<Rig> {
  const dir = tempDir('host-clock-');
  const sim = new AcquirerSimulator({ randomBytes: seededRandom(7), clock: () => host.ms });
  await sim.listen(0);
  const transport = new HostTransport({ host: '127.0.0.1', port: sim.port, profile: CUP_PROFILE, connectTimeoutMs: 1000, responseTimeoutMs: 2000 });
  const journals: Journal[] = [];
  return {
    async open() {
      const clock = new AdjustableClock(() => device.ms);
      const journal = await Journal.open({ dir, identity: IDENTITY, clock: clock.now });
      journals.push(journal);
      const terminal = openTerminal({ journal, host: transport, config: config(), deviceKey: fixedDeviceKey(DEVICE_KEY), random: seededRandom(11 + journal.lastSeq), clock: clock.now, clockControl: clock, scryptN: 1 << 10 });
      return { journal, terminal };
    },
    async close() {
      for (const j of journals) await j.close().catch(() => undefined);
      transport.close();
      await sim.close();
      removeDirAndAsides(dir);
    },
  };
}

async function withOperators(t: Terminal): Promise<void> {
  await t.operators.create('099', 'administrator', '9999');
  await t.operators.create('001', 'cashier', '1111', { operator: '099', role: 'administrator' });
  await t.operators.create('002', 'supervisor', '2222', { operator: '099', role: 'administrator' });
}

describe('time: the terminal clock and the host\'s', function () {
  this.timeout(30_000);
  const HOST_MS = Date.UTC(2026, 10, 21, 2, 0, 0); // 2026-11-21 10:00 in China

  for (const [name, deviceMs] of [['1970 (a dead RTC)', 0], ['2000-01-01', Date.UTC(2000, 0, 1)]] as const) {
    it(`aDeviceClockAt${name.replace(/\W/g, '')}TakesTheHostsDateInTheRightYearSellsAndKeepsItAcrossAReboot`, async () => {
      const device = { ms: deviceMs }, host = { ms: HOST_MS };
      const r = await rig(device, host);
      try {
        let { journal, terminal } = await r.open();
        await withOperators(terminal);
        await terminal.engine.signOn(SUPERVISOR);
        assert.ok(Math.abs(terminal.engine.now() - HOST_MS) < 5_000, `terminal at ${new Date(terminal.engine.now()).toISOString()}`);
        const sale = await terminal.engine.sale({ amountFen: 1000, card: magCard(), session: CASHIER });
        assert.equal(sale.outcome, 'approved');
        // Power off for an hour; the dead RTC starts again where it started.
        await journal.close();
        host.ms += HOUR_MS;
        device.ms = deviceMs + 1_000;
        ({ journal, terminal } = await r.open());
        assert.ok(terminal.engine.signedOn, 'the keys are kept');
        assert.ok(terminal.engine.now() >= HOST_MS, 'the correction is kept: the device clock is still not set');
        await terminal.engine.signOn(SUPERVISOR);
        assert.ok(Math.abs(terminal.engine.now() - host.ms) < 5_000, `after the next sign-on ${new Date(terminal.engine.now()).toISOString()}`);
        assert.equal((await terminal.engine.sale({ amountFen: 500, card: magCard(), session: CASHIER })).outcome, 'approved');
      } finally {
        await r.close();
      }
    });
  }

  it('aDeviceClockSetRightSinceTheSignOnDropsTheOldCorrectionAtBootAndARefundOfTodaysSaleIsNotInTheFuture', async () => {
    const truth = Date.UTC(2026, 10, 20, 22, 50); // 06:50 in China
    const device = { ms: truth + 8 * HOUR_MS }, host = { ms: truth };
    const r = await rig(device, host);
    try {
      let { journal, terminal } = await r.open();
      await withOperators(terminal);
      await terminal.engine.signOn(SUPERVISOR); // corrects the fast clock by -8 h
      assert.ok(Math.abs(terminal.engine.now() - truth) < 5_000);
      await terminal.engine.sale({ amountFen: 1000, card: magCard(), session: CASHIER });
      await journal.close();
      // NTP sets the device clock right; 20 minutes later the terminal boots again.
      host.ms = truth + 20 * 60_000;
      device.ms = host.ms;
      ({ journal, terminal } = await r.open());
      assert.ok(Math.abs(terminal.engine.now() - host.ms) < 5_000, `terminal at ${new Date(terminal.engine.now()).toISOString()}, 8 h behind with the old correction`);
      const sale = await terminal.engine.sale({ amountFen: 1000, card: magCard(), session: CASHIER });
      assert.equal(sale.outcome, 'approved');
      const last = terminal.engine.lastReceipt();
      assert.doesNotThrow(() => checkRefundDetails(last?.rrn ?? '', last?.hostDate ?? '', terminal.engine.now(), 480));
    } finally {
      await r.close();
    }
  });

  it('aDeviceClockStillFastAfterARebootKeepsTheCorrection', async () => {
    const truth = Date.UTC(2026, 10, 20, 22, 50);
    const device = { ms: truth + 8 * HOUR_MS }, host = { ms: truth };
    const r = await rig(device, host);
    try {
      let { journal, terminal } = await r.open();
      await withOperators(terminal);
      await terminal.engine.signOn(SUPERVISOR);
      await journal.close();
      host.ms += 20 * 60_000;
      device.ms += 20 * 60_000;
      ({ journal, terminal } = await r.open());
      assert.ok(Math.abs(terminal.engine.now() - host.ms) < 5_000, `terminal at ${new Date(terminal.engine.now()).toISOString()}`);
    } finally {
      await r.close();
    }
  });

  it('theFirstDateAfterAFloorIsInTheFloorsYearOrLaterNeverBefore', () => {
    const floor = CLOCK_FLOOR_MS; // 2026-01-01 00:00 in China
    assert.equal(hostInstantFrom('100000', '1121', floor), instantOf({ year: 2026, month: 11, day: 21, hour: 10, minute: 0, second: 0 }));
    // A leap day after the floor is the next one that exists.
    assert.equal(hostInstantFrom('000000', '0229', floor), instantOf({ year: 2028, month: 2, day: 29, hour: 0, minute: 0, second: 0 }));
    // The floor's own day, earlier in it: next year's.
    const late = floor + 12 * HOUR_MS;
    assert.equal(hostInstantFrom('080000', '0101', late), instantOf({ year: 2027, month: 1, day: 1, hour: 8, minute: 0, second: 0 }));
    assert.equal(hostInstantFrom('250000', '0101', floor), undefined);
    assert.ok(floor > 0 && floor < Date.UTC(2026, 0, 1) && Date.UTC(2026, 0, 1) - floor === 8 * HOUR_MS);
    assert.ok(DAY_MS > 0);
  });
});
