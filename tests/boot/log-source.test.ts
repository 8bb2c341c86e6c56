/**
 * Where `upload-logs` reads the terminal's recent logs (boot/log-source.ts): the in-process ring's
 * bound and its time filter, journald's JSON read back (journalctl injected: the lines, the byte
 * arrays journald gives for non-UTF-8 messages, the arguments), the last-line-of-defence masking,
 * and that a trading session's logs hold no card data to begin with (a swiped and a chip sale with
 * a PIN through the engine, every line at trace level into the ring, checked before any masking).
 */
import { strict as assert } from 'node:assert';
import pino from 'pino';
import { JOURNALD_UNIT_DEFAULT, LOG_LINE_BYTES_MAX, LogRing, journaldLogs, logSourceFor, maskCardNumbers, newestWithin } from '../../boot/log-source';
import { TEST_CARDS } from '../../sim/test-cards';
import { CASHIER, chipCardFor, magCard, rig } from '../runtime/harness';

describe('recent logs for upload-logs (boot/log-source.ts)', () => {
  it('the ring keeps the newest lines within its bound; a reader gets the newest within its own', () => {
    const ring = new LogRing(1000);
    for (let i = 0; i < 100; i++) ring.add(`{"time":${i},"msg":"line ${i}"}`);
    const all = ring.recent(10_000).text.trim().split('\n');
    assert.ok(Buffer.byteLength(all.join('\n')) <= 1000);
    assert.equal(all.at(-1), '{"time":99,"msg":"line 99"}');
    const some = ring.recent(100);
    assert.ok(Buffer.byteLength(some.text) <= 100 && some.truncated);
    assert.ok(some.text.endsWith('"line 99"}\n'));
    assert.deepEqual(ring.recent(10_000, 98).text, '{"time":98,"msg":"line 98"}\n{"time":99,"msg":"line 99"}\n');
    ring.add('x'.repeat(LOG_LINE_BYTES_MAX * 2));
    assert.ok(Buffer.byteLength(ring.recent(100_000).text.split('\n').at(-2) ?? '') <= LOG_LINE_BYTES_MAX + 3, 'an over-long line is cut');
  });

  it('newestWithin keeps whole lines, newest last', () => {
    assert.deepEqual(newestWithin(['aaaa', 'bb', 'c'], 5), { text: 'bb\nc\n', truncated: true });
    assert.deepEqual(newestWithin(['a'], 5), { text: 'a\n', truncated: false });
  });

  it('journald: the unit\'s MESSAGE fields (text or bytes), newest within the bound, asked with -u, -o json and --since', async () => {
    let asked: readonly string[] = [];
    const entries = [
      { MESSAGE: '{"level":30,"msg":"first"}', _SYSTEMD_UNIT: 'pos-terminal.service' },
      { MESSAGE: [...Buffer.from('{"level":40,"msg":"bytes é"}')], _SYSTEMD_UNIT: 'pos-terminal.service' },
      { MESSAGE: '{"level":30,"msg":"last"}' },
    ];
    const run = async (args: readonly string[]): Promise<string> => { asked = args; return `${entries.map((e) => JSON.stringify(e)).join('\n')}\nnot json\n`; };
    const r = await journaldLogs({ maxBytes: 1000, sinceMs: 1_764_806_400_123, run });
    assert.equal(r.text, '{"level":30,"msg":"first"}\n{"level":40,"msg":"bytes é"}\n{"level":30,"msg":"last"}\n');
    assert.deepEqual(asked.slice(0, 4), ['-u', JOURNALD_UNIT_DEFAULT, '-o', 'json']);
    assert.deepEqual(asked.slice(-2), ['--since', '@1764806400']);
    assert.equal((await journaldLogs({ maxBytes: 30, run })).text, '{"level":30,"msg":"last"}\n');
  });

  it('journald under systemd (INVOCATION_ID), the ring on the simulator board or outside a unit', () => {
    assert.equal(logSourceFor(false, { INVOCATION_ID: 'abc' }), 'journald');
    assert.equal(logSourceFor(false, {}), 'memory');
    assert.equal(logSourceFor(true, { INVOCATION_ID: 'abc' }), 'memory');
  });

  it('masks a Luhn-valid card number anywhere in the text, leaves RRNs, TIDs and other digit runs', () => {
    assert.equal(maskCardNumbers('pan 6222021234567890128 x'), 'pan 622202*********0128 x');
    assert.equal(maskCardNumbers('{"rrn":"000000000042","tid":"12345678","n":1234567890123}'), '{"rrn":"000000000042","tid":"12345678","n":1234567890123}');
    assert.equal(maskCardNumbers('a62220212345678901281'), 'a62220212345678901281', 'a longer run is not a card number');
    // pino's 13-digit ms time stays a number, Luhn-valid or not (1796392005833 passes).
    assert.equal(maskCardNumbers('{"level":30,"time":1796392005833}'), '{"level":30,"time":1796392005833}');
  });

  it('a trading session logs no card data: a swiped sale and a chip sale with a PIN, every line at trace level', async function () {
    this.timeout(30_000);
    const ring = new LogRing();
    const logger = pino({ level: 'trace' }, pino.multistream([{ level: 'trace', stream: ring.stream() as unknown as pino.DestinationStream }]));
    const r = await rig({ logger });
    try {
      await r.terminal.engine.signOn(CASHIER);
      const swiped = magCard();
      assert.equal((await r.terminal.engine.sale({ amountFen: 1234, card: swiped, session: CASHIER })).outcome, 'approved');
      const chip = await chipCardFor(r, 4200);
      assert.equal((await r.terminal.engine.sale({ amountFen: 4200, card: chip, pin: Buffer.from('1234'), session: CASHIER })).outcome, 'approved');
      const text = ring.recent(1_000_000).text;
      // The engine logs each answer with the masked card: the check below looks at real card lines.
      assert.ok(text.includes('"panMasked":"622202'), `the session logged its answers: ${text}`);
      const secrets = [swiped.pan, TEST_CARDS.icDebit.pan, swiped.track2 ?? '', swiped.track3 ?? '', (swiped.track2 ?? '').replace('=', 'D')].filter((x) => x.length > 0);
      for (const s of secrets) assert.ok(!text.includes(s), `a log line holds ${s.slice(0, 6)}…`);
      assert.equal(maskCardNumbers(text), text, 'no Luhn-valid card number in the raw lines either');
    } finally {
      await r.close();
    }
  });
});
