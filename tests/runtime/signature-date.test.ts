/**
 * Field 15 of the signature upload (0820, 60.3 = 800) when the sale has no settlement date and no
 * host date (Known difference 4, fixed): the date is the host's, China (UTC+8; the profile: fields
 * 12/13/15 are China time), never the terminal's configured zone. Checked around midnight with
 * terminals in UTC and UTC+9, where the two calendars disagree, at the wire.
 *
 * An answered sale always has a host date (13 is required in every 0210); a sale without one is
 * written into the journal here as an earlier version (or another acquirer) could have left it.
 */
import { strict as assert } from 'node:assert';
import { CUP_PROFILE } from '../../runtime/host/fields';
import { IsoMessage, textField, unpackFrame } from '../../runtime/host/packager';
import { HostExchange } from '../../runtime/txn/engine';
import { rec } from '../../runtime/records';
import { CASHIER, Rig, rig } from './harness';

const PAN_MASKED = '622202*********0123';

/** An approved sale with an RRN and no host date (no 12/13/15), the way the journal could hold one. */
async function saleWithoutHostDate(r: Rig, amountFen: number): Promise<number> {
  const stan = r.terminal.engine.state.stanLast + 1;
  const common = {
    stan, batch: r.terminal.engine.state.batch, amountFen, panMasked: PAN_MASKED, panEnc: Buffer.alloc(48, 1), processingCode: '000000', entryMode: '021' as const,
    conditionCode: '00', type60: '22',
  };
  await r.terminal.engine.store.commit([
    rec.stan(stan),
    rec.txnBegin({ ...common, kind: 'sale', panTag: Buffer.alloc(8, 2), operator: CASHIER.operator }),
    rec.reversalPending({ ...common, kind: 'sale', reason: '98' }),
  ]);
  await r.terminal.engine.store.commit([
    rec.txnResult({ stan, outcome: 'approved', responseCode: '00', rrn: '000000000777', authCode: '777777' }),
    rec.reversalCleared({ stan, cause: 'approved', responseCode: '00', tries: 0 }),
  ]);
  return stan;
}

const SIGNATURE = { width: 32, height: 8, pixels: Uint8Array.from({ length: 256 }, (_, i) => (i % 33 === 0 ? 1 : 0)) };

describe('signature upload: field 15 without a host date is the host\'s date (UTC+8), not the terminal\'s', function () {
  this.timeout(20_000);
  const cases = [
    // 16:30 UTC on 20 November is 00:30 on the 21st in China: a UTC terminal is still on the 20th.
    { zone: 'UTC', tzOffsetMinutes: 0, atMs: Date.UTC(2026, 10, 20, 16, 30), terminalDate: '1120', hostDate: '1121' },
    // 15:30 UTC on 21 November is 23:30 on the 21st in China and already the 22nd in UTC+9.
    { zone: 'UTC+9', tzOffsetMinutes: 540, atMs: Date.UTC(2026, 10, 21, 15, 30), terminalDate: '1122', hostDate: '1121' },
  ];
  for (const c of cases) {
    it(`a terminal in ${c.zone} at ${new Date(c.atMs).toISOString()} sends 15 = ${c.hostDate} (its own date is ${c.terminalDate})`, async () => {
      const wire: IsoMessage[] = [];
      const wired = (t: HostExchange): HostExchange => ({
        exchange: (request, signal) => { wire.push(unpackFrame(CUP_PROFILE, Buffer.from(request)).message); return t.exchange(request, signal); },
      });
      const r = await rig({ host: wired, config: { tzOffsetMinutes: c.tzOffsetMinutes } });
      try {
        r.clock.ms = c.atMs;
        await r.terminal.engine.signOn(CASHIER);
        const stan = await saleWithoutHostDate(r, 4_200);
        assert.equal(r.terminal.engine.txn(stan)?.hostDate, undefined, 'the sale has no host date');
        await r.terminal.engine.saveSignature(stan, SIGNATURE);
        assert.equal(await r.terminal.engine.uploadSignatures(), 1);
        const upload = wire.filter((m) => m.mti === '0820' && textField(m, 60)?.startsWith('07')).at(-1);
        assert.ok(upload, 'a signature upload was sent');
        assert.equal(textField(upload, 37), '000000000777');
        assert.equal(textField(upload, 15), c.hostDate);
      } finally {
        await r.close();
      }
    });
  }
});
