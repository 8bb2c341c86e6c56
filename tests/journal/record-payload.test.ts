/**
 * The record encoder's fast payload writer (storage/record-payload.ts) against the former
 * encoder: for every payload, encodeRecord's bytes equal a record built the former way (cbor-x
 * with the journal's options, the header of JOURNAL_FORMAT.md with zlib's CRC-32), and
 * encodeRecords' bytes and digests equal encodeRecord's one by one; a payload the sensitive-field
 * rule refuses is refused with the same E-STO-06 message refuseSensitive gives (the writer
 * checks strings only when they hold a run of 12 digits: the cases below sit around that line).
 * Payloads are fixed cases and seeded random ones (mulberry32: a failure names a payload that
 * comes back; no clock, no order dependence).
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { nodeCommandFor } from '../powercut/compile';
import { DIGEST_BYTES, Payload, SealAddon, encodeRecord, encodeRecords, loadSealAddon, recordDigest, useNativeSeal } from '../../storage/record';
import { refuseSensitive } from '../../storage/sensitive';
import { scratch } from '../../storage/record-payload';
import { isPosError } from '../../common/errors';
import { mulberry32 as rng } from '../../sim/disk-model';
import { referenceRecord } from './reference-record';

const PREV = Buffer.alloc(DIGEST_BYTES, 0x5a);
const TIME_MS = 1_733_000_000_123;

const CHAR_POOLS = ['0123456789', 'abcXYZ-_ *', '收银员签到结算', '\u00e9\u00df\u07ff\u0800\uffff', '\ud83d\ude00', '\ud800', '\udc00', '=D'];

function randomString(r: () => number): string {
  const n = r() < 0.6 ? Math.floor(r() * 24) : Math.floor(r() * 300);
  let s = '';
  for (let i = 0; i < n; i++) {
    const pool = CHAR_POOLS[Math.floor(r() * CHAR_POOLS.length)];
    s += pool[Math.floor(r() * pool.length)];
  }
  return s;
}

const NUMBERS = [0, -0, 1, 23, 24, 255, 256, 65535, 65536, 0xffffffff, 0x100000000, -1, -24, -25, -256, -257, -65536, -65537,
  -0x80000000, -0x80000001, -0xffffffff, -0x100000000, -0x100000001, 1.5, -2.25, 1e300, Number.MAX_SAFE_INTEGER, 1_733_000_000_123,
  Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0.1];

function randomValue(r: () => number, depth: number): unknown {
  const k = Math.floor(r() * (depth > 4 ? 6 : 9));
  switch (k) {
    case 0: return randomString(r);
    case 1: return NUMBERS[Math.floor(r() * NUMBERS.length)];
    case 2: return Math.floor(r() * 2 ** 40) - 2 ** 39;
    case 3: return [true, false, null, undefined][Math.floor(r() * 4)];
    case 4: return Buffer.from(randomString(r), 'utf8');
    case 5: return String(Math.floor(r() * 1e15)).padStart(Math.floor(r() * 20), '0');
    case 6: return Array.from({ length: Math.floor(r() * (r() < 0.9 ? 5 : 30)) }, () => randomValue(r, depth + 1));
    default: return randomPayload(r, depth + 1);
  }
}

function randomPayload(r: () => number, depth = 0): Payload {
  const out: Payload = {};
  const keys = Math.floor(r() * (r() < 0.9 ? 8 : 30));
  for (let i = 0; i < keys; i++) out[r() < 0.1 ? String(Math.floor(r() * 100)) : `${randomString(r).slice(0, 12)}k${i}`] = randomValue(r, depth);
  return out;
}

/** The error refuseSensitive throws for a payload (E-STO-06, or the depth invariant), or undefined when it takes it. */
function refusal(payload: Payload, type: number): string | undefined {
  try {
    refuseSensitive(payload, type === 10 ? 'txnBegin' : `unknown-${type}`);
    return undefined;
  } catch (e) {
    assert.ok(isPosError(e), `refuseSensitive threw ${String(e)}`);
    return `${e.code} ${e.message}`;
  }
}

function encodeOrRefusal(payload: Payload, type: number): Buffer | string {
  try {
    return encodeRecord({ type, seq: 7, timeMs: TIME_MS, prevDigest: PREV, payload });
  } catch (e) {
    assert.ok(isPosError(e), `encodeRecord threw ${String(e)}`);
    return `${e.code} ${e.message}`;
  }
}

/** The encoder agrees with the former one on `payload`: same bytes, or the same refusal. */
function assertSame(payload: Payload, what: string, type = 10): void {
  const refused = refusal(payload, type);
  const got = encodeOrRefusal(payload, type);
  if (refused !== undefined) {
    assert.equal(got, refused, `${what}: refused as refuseSensitive refuses it`);
    return;
  }
  assert.ok(Buffer.isBuffer(got), `${what}: refused (${String(got)}) though refuseSensitive takes it`);
  assert.ok(got.equals(referenceRecord(type, 7, TIME_MS, PREV, payload)), `${what}: bytes differ from the former encoder's`);
}

const LUHN_PAN = '6222021234567890128';
const CASES: Array<[string, Payload]> = [
  ['empty', {}],
  ['sale', { kind: 'sale', stan: '000123', amountFen: 1000, panMasked: '622202******0128', panEnc: Buffer.alloc(16, 9), rrn: '240602120001' }],
  ['24 keys and more', Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`k${i}`, i]))],
  ['long array', { a: Array.from({ length: 30_000 }, (_, i) => i % 3) }],
  ['strings at the head-size edges', { a: 'x'.repeat(23), b: 'x'.repeat(24), c: 'x'.repeat(31), d: 'x'.repeat(32), e: 'x'.repeat(63), f: 'x'.repeat(64), g: 'x'.repeat(255), h: 'x'.repeat(256), i: '\u00e9'.repeat(12), j: '\u00e9'.repeat(130) }],
  ['lone surrogates below and above 64 characters', { a: 'a\ud800b', b: `${'a'.repeat(70)}\ud800`, c: '\udc00\ud800', d: `\ud83d\ude00${'b'.repeat(80)}` }],
  ['integer keys', { 2: 'two', 1: 'one', b: 'b' }],
  ['numbers', Object.fromEntries(NUMBERS.map((n, i) => [`n${i}`, n]))],
  ['nested to the depth allowed', (() => { let p: Payload = { leaf: 'x' }; for (let i = 0; i < 15; i++) p = { p }; return p; })()],
  ['nested one too deep', (() => { let p: Payload = { leaf: 'x' }; for (let i = 0; i < 16; i++) p = { p }; return p; })()],
  ['a Date, a Map, a Uint8Array, a bigint: cbor-x writes them', { d: new Date(0), m: new Map([['a', 1]]), u: new Uint8Array([1, 2]), b: 10n ** 20n }],
  ['null prototype object', { o: Object.assign(Object.create(null) as object, { a: 1 }) }],
  ['field61 of 16 digits (not a PAN by construction)', { field61: '0000010001231204' }],
  ['orderNo all digits', { orderNo: '4111111111111111' }],
  // The archive's record: hex SHA-256s and the file named after the last digest, which hold a
  // Luhn-valid digit run now and then (archiving was refused at random).
  ['SHA-256 hex with a Luhn-valid run (archive record)', { archiveSha256: `ab${'4111111111111111'}${'c'.repeat(46)}`, digest: `${'4111111111111111'}${'0f'.repeat(24)}`, archive: `T0001-0000000042-4111111111111111.posarc` }],
  ['11 digits, then more', { a: '12345678901x12345678901' }],
  ['15 digits passing Luhn, no separator after', { a: '622202123456780', b: '622202123456780x1234' }],
  ['12 digits then = but only 3 after', { a: '622202123456=301' }],
  ['11 digits then = and 4', { a: '62220212345=3012' }],
];
const REFUSED: Array<[string, Payload]> = [
  ['a clear PAN in a short string', { note: LUHN_PAN }],
  ['a clear PAN in a string of 64 characters or more', { note: `${'x'.repeat(70)} ${LUHN_PAN} ${'y'.repeat(10)}` }],
  ['a clear PAN in an array', { list: ['a', LUHN_PAN] }],
  ['a clear PAN deep down', { a: { b: [{ c: `card ${LUHN_PAN}` }] } }],
  ['track data', { t: `${LUHN_PAN}=30122010000012345678` }],
  ['track data with D', { t: `${LUHN_PAN}D3012201` }],
  ['track data of a 12-digit PAN in a short string', { t: '622202123456=3012' }],
  ['track data of a 14-digit PAN with D, after other digits', { t: '12 62220212345678D30121' }],
  ['track data in a string of 64 characters or more', { t: `${'n'.repeat(60)}622202123456=3012` }],
  ['a 16-digit Luhn-valid PAN (the shortest run)', { a: 'x4111111111111111' }],
  ['track data under field61', { field61: `${LUHN_PAN}=3012` }],
  ['track data under orderNo', { orderNo: '622202123456=3012' }],
  ['a PAN under field61 of the wrong shape', { field61: `x${LUHN_PAN}` }],
  ['a PAN under digest of the wrong shape', { digest: LUHN_PAN }],
  ['a PAN under archiveSha256 in upper-case hex (not how it is written)', { archiveSha256: `AB${'4111111111111111'}${'C'.repeat(46)}` }],
  ['a SHA-256 hex with a Luhn-valid run under another key', { note: `ab${'4111111111111111'}${'c'.repeat(46)}` }],
  ['a PAN in an archive name of another shape', { archive: `card ${LUHN_PAN}.posarc` }],
  ['forbidden key', { PinBlock: 'ab' }],
  ['forbidden key in an array of maps', { list: [{ ok: 1 }, { Track2: 'x' }] }],
  ['forbidden key beside a Date (the former path)', { when: new Date(0), cvv: '123' }],
  ['a PAN beside a Map (the former path)', { m: new Map(), s: LUHN_PAN }],
  ['a PAN as a number is not a string: taken', { n: 6222021234567890 }],
];

// Both encoders: the addon (native/journal_seal.c, headers and digests) and JavaScript alone.
for (const encoder of ['native seal', 'JavaScript'] as const) describe(`journal: the record encoder (${encoder}) writes the former encoder's bytes`, () => {
  before(function () {
    const native = useNativeSeal(encoder === 'native seal');
    // CI builds the addon (npm install runs node-gyp): its absence is a failure there, not a skip.
    if (encoder === 'native seal' && !native) {
      if (process.env.CI) assert.fail('build/Release/journal_seal.node is not built or does not load');
      console.log('      SKIPPED: journal_seal.node not built (npm install runs node-gyp)');
      this.skip();
    }
  });
  after(() => { useNativeSeal(true); });

  it('fixedPayloadsEncodeToTheFormerBytes', () => {
    for (const [what, payload] of CASES) assertSame(payload, what);
  });

  it('payloadsTheRuleRefusesAreRefusedWithTheSameMessage', () => {
    let refusedCount = 0;
    for (const [what, payload] of REFUSED) {
      assertSame(payload, what);
      if (refusal(payload, 10) !== undefined) refusedCount++;
    }
    assert.equal(refusedCount, REFUSED.length - 1, 'every case but the number is refused (the cases test something)');
  });

  it('seededRandomPayloadsEncodeToTheFormerBytes', () => {
    const r = rng(20261205);
    for (let i = 0; i < 2000; i++) {
      const payload = randomPayload(r);
      if (r() < 0.05) payload[r() < 0.5 ? 'pan' : 'x'] = r() < 0.5 ? LUHN_PAN : `${LUHN_PAN}=3012`;
      assertSame(payload, `random payload ${i}: ${JSON.stringify(payload, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)).slice(0, 300)}`);
    }
  });

  it('aBatchIsTheSingleRecordsChained', () => {
    const r = rng(7);
    const payloads = Array.from({ length: 80 }, () => randomPayload(r)).filter((p) => refusal(p, 10) === undefined).slice(0, 50);
    assert.equal(payloads.length, 50);
    const records = payloads.map((payload, i) => ({ type: 10 + (i % 3), payload }));
    const batch = encodeRecords(records, 41, TIME_MS, PREV);
    let prev: Buffer = PREV;
    for (const [i, rec] of records.entries()) {
      const single = encodeRecord({ type: rec.type, seq: 41 + i, timeMs: TIME_MS, prevDigest: prev, payload: rec.payload });
      assert.ok(batch.stored[i].equals(single), `record ${i} of the batch`);
      assert.ok(batch.digests[i].equals(recordDigest(single)), `digest ${i} of the batch`);
      prev = recordDigest(single);
    }
  });

  it('aRefusedRecordInABatchThrowsAndTheNextBatchIsWhole', () => {
    const ok = { type: 10, payload: { a: 'b' } };
    assert.throws(() => encodeRecords([ok, { type: 10, payload: { note: LUHN_PAN } }, ok], 1, TIME_MS, PREV), (e: unknown) => isPosError(e) && e.code === 'E-STO-06');
    const again = encodeRecords([ok], 1, TIME_MS, PREV);
    assert.ok(again.stored[0].equals(referenceRecord(10, 1, TIME_MS, PREV, ok.payload)));
  });

  it('aPayloadOverTheLimitIsRefusedAndTheScratchDoesNotKeepIt', () => {
    assert.throws(() => encodeRecord({ type: 10, seq: 1, timeMs: TIME_MS, prevDigest: PREV, payload: { big: Buffer.alloc(70_000) } }), /exceeds 65536/);
    assert.throws(() => encodeRecord({ type: 10, seq: 1, timeMs: TIME_MS, prevDigest: PREV, payload: { big: 'x'.repeat(66_000) } }), /exceeds 65536/);
    const small = encodeRecord({ type: 10, seq: 1, timeMs: TIME_MS, prevDigest: PREV, payload: { a: 1 } });
    assert.ok(small.equals(referenceRecord(10, 1, TIME_MS, PREV, { a: 1 })));
    // A batch of megabytes grows the scratch buffer; it is not kept after the batch.
    const big = encodeRecords(Array.from({ length: 100 }, () => ({ type: 10, payload: { b: Buffer.alloc(30_000, 1) } })), 1, TIME_MS, PREV);
    assert.equal(big.stored.length, 100);
    assert.ok(scratch().length <= 256 * 1024, `scratch kept at ${scratch().length} bytes`);
  });
});

describe('journal: the seal addon\'s contract (native/journal_seal.c)', () => {
  let addon: SealAddon | null = null;
  before(function () {
    addon = loadSealAddon();
    if (!addon) {
      if (process.env.CI) assert.fail('build/Release/journal_seal.node is not built or does not load');
      console.log('      SKIPPED: journal_seal.node not built (npm install runs node-gyp)');
      this.skip();
    }
  });

  it('theCompiledCopiesTheCrashTestsAndBenchmarkRunFindTheAddonToo', function () {
    this.timeout(120_000);
    const r = spawnSync(process.execPath, nodeCommandFor('tests/journal/seal-probe.ts'), { encoding: 'utf8' });
    assert.equal(r.stdout.trim(), 'native seal true', r.stderr);
  });

  it('theLargestSeqAndTimeAreWrittenAsTheFormatSays', () => {
    useNativeSeal(true);
    const biggest = { type: 255, seq: 0xffffffff, timeMs: Number.MAX_SAFE_INTEGER, prevDigest: PREV, payload: { a: 1 } };
    assert.ok(encodeRecord(biggest).equals(referenceRecord(255, 0xffffffff, Number.MAX_SAFE_INTEGER, PREV, { a: 1 })));
    const zeroTime = { type: 1, seq: 1, timeMs: 0, prevDigest: PREV, payload: {} };
    assert.ok(encodeRecord(zeroTime).equals(referenceRecord(1, 1, 0, PREV, {})));
  });

  it('argumentsOutOfContractThrowAndLeaveTheBufferAsItWas', () => {
    const seal = (addon as SealAddon).seal.bind(addon);
    const buf = Buffer.alloc(200, 0xee);
    const digests = Buffer.alloc(64, 0xdd);
    const cases: Array<[string, () => void, RegExp]> = [
      ['end inside the header', () => seal(buf, Uint32Array.of(67), Uint8Array.of(1), 1, 0, PREV, digests), /header/],
      ['end past the buffer', () => seal(buf, Uint32Array.of(100, 201), Uint8Array.of(1, 1), 1, 0, PREV, digests), /past the buffer/],
      ['type 0', () => seal(buf, Uint32Array.of(100), Uint8Array.of(0), 1, 0, PREV, digests), /type/],
      ['seq 0', () => seal(buf, Uint32Array.of(100), Uint8Array.of(1), 0, 0, PREV, digests), /seq/],
      ['seq past 2^32 - 1', () => seal(buf, Uint32Array.of(100, 200), Uint8Array.of(1, 1), 0xffffffff, 0, PREV, digests), /seq/],
      ['fractional seq', () => seal(buf, Uint32Array.of(100), Uint8Array.of(1), 1.5, 0, PREV, digests), /seq/],
      ['negative time', () => seal(buf, Uint32Array.of(100), Uint8Array.of(1), 1, -1, PREV, digests), /timeMs/],
      ['time past 2^53', () => seal(buf, Uint32Array.of(100), Uint8Array.of(1), 1, 2 ** 53, PREV, digests), /timeMs/],
      ['NaN time', () => seal(buf, Uint32Array.of(100), Uint8Array.of(1), 1, Number.NaN, PREV, digests), /timeMs/],
      ['short prev digest', () => seal(buf, Uint32Array.of(100), Uint8Array.of(1), 1, 0, Buffer.alloc(31), digests), /prevDigest/],
      ['short digests', () => seal(buf, Uint32Array.of(100, 200), Uint8Array.of(1, 1), 1, 0, PREV, Buffer.alloc(63)), /digests/],
      ['types shorter than ends', () => seal(buf, Uint32Array.of(100, 200), Uint8Array.of(1), 1, 0, PREV, digests), /length/],
      ['ends not a Uint32Array', () => seal(buf, [100] as unknown as Uint32Array, Uint8Array.of(1), 1, 0, PREV, digests), /Uint32Array/],
    ];
    for (const [name, call, message] of cases) {
      assert.throws(call, message, name);
      assert.ok(buf.equals(Buffer.alloc(200, 0xee)) && digests.equals(Buffer.alloc(64, 0xdd)), `${name}: nothing written`);
    }
  });
});
