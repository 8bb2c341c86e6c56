/**
 * Nothing sensitive at rest (DESIGN.md rule 8; issue 2): a realistic sale flow goes through the
 * journal while the test tries to slip a test card's track 2, its full PAN and a PIN block into
 * every field name the journal refuses (and into innocent names, as values). Every such append
 * must be refused with E-STO-06 before anything reaches the disk; then the raw bytes of every
 * file in the journal directory, and of an exported backup, are scanned for the track, the PAN
 * and the PIN block in ASCII (both hex cases) and in packed BCD/binary: none may be found.
 * A positive control proves the scan sees record bytes: the masked PAN and the encrypted PAN
 * blob written by the same flow are found.
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Journal } from '../../storage/journal';
import { exportBytes } from '../../storage/backup';
import { luhnValid, Payload, RecordTypeName } from '../../storage/record';
import { removeDir, tempDir } from '../../storage/testing';
import { InvariantError, isPosError } from '../../common/errors';
import { encodeTlv, sanitizeField55 } from '../../runtime/txn/emv';
import { rec } from '../../runtime/records';

const ID = 'SIM-0001';
const PAN = '6222021234567890128'; // Luhn-valid test PAN (19 digits)
const TRACK2 = `${PAN}=30122010000012345678`;
const PIN_BLOCK = '0412AC89ABCDEF67'; // ISO 9564 format 0, hex
const PAN_MASKED = `${PAN.slice(0, 6)}*********${PAN.slice(-4)}`;
/** The field names storage/record.ts refuses at any depth (JOURNAL_FORMAT.md, "Never written"). */
const REFUSED_NAMES = ['track', 'track1', 'track2', 'track3', 'cvv', 'cvv2', 'cvc', 'cvn', 'pin', 'pinBlock', 'pinblock', 'PINBLOCK', 'field35', 'field36', 'field52', 'pan', 'PAN'];

/** Packed BCD of a digit string (odd length padded with F, as ISO 8583 does); '=' becomes 'D'. */
function bcd(s: string, pad = 'F'): Buffer {
  const nibbles = s.replace(/=/g, 'D');
  return Buffer.from(nibbles.length % 2 ? nibbles + pad : nibbles, 'hex');
}

/**
 * What a chip card could hand the terminal beside its cryptogram: the PAN (5A), track 2
 * equivalent (57), the name (5F20), then the ARQC (9F26), CID (9F27) and ATC (9F36). The bytes
 * that reach the journal are what runtime/txn/emv.ts's allow-list keeps of it (the journal does
 * not scan byte strings, so the allow-list is the guarantee).
 */
const ARQC = Buffer.from('1A2B3C4D5E6F7081', 'hex');
const CARD_TLV = Buffer.concat([
  encodeTlv(0x5a, bcd(PAN)), encodeTlv(0x57, bcd(TRACK2)), encodeTlv(0x5f20, Buffer.from('TEST/CARDHOLDER')),
  encodeTlv(0x9f26, ARQC), encodeTlv(0x9f27, Buffer.from([0x80])), encodeTlv(0x9f36, Buffer.from([0x00, 0x2a])),
]);

function needles(): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  for (const [name, s] of [['track 2', TRACK2], ['full PAN', PAN], ['PIN block', PIN_BLOCK], ['PIN block (lower case)', PIN_BLOCK.toLowerCase()]] as const) {
    out.push([`${name} (ASCII)`, Buffer.from(s, 'latin1')]);
  }
  out.push(['track 2 (BCD, = as D)', bcd(TRACK2)], ['track 2 (BCD, 0-padded)', bcd(TRACK2, '0')]);
  out.push(['full PAN (BCD, F-padded)', bcd(PAN)], ['full PAN (BCD, 0-padded)', bcd(PAN, '0')], ['full PAN (BCD, left 0-padded)', bcd(`0${PAN}`)]);
  out.push(['PIN block (binary)', Buffer.from(PIN_BLOCK, 'hex')]);
  // The PAN's digits without the check digit and the track's discretionary data, in case a
  // writer split them: long enough that a random hit is impossible.
  out.push(['PAN body (ASCII)', Buffer.from(PAN.slice(0, 18))], ['track 2 tail (ASCII)', Buffer.from(TRACK2.slice(PAN.length))]);
  return out;
}

describe('journal: nothing sensitive at rest (raw scan after a sale flow)', function () {
  this.timeout(60_000);
  let dir: string;
  before(() => { dir = tempDir('sensitive-'); });
  after(() => removeDir(dir));

  it('sensitiveFieldsAreRefusedAndNeverFoundInTheRawFileOrBackup', async () => {
    assert.ok(luhnValid(PAN), 'the test PAN is Luhn-valid, as a real one');
    const j = await Journal.open({ dir, identity: ID });
    const refused: string[] = [];
    const accepted: number[] = [];
    const panEnc = randomBytes(24); // stands for the PAN encrypted under the TDK
    const attempt = async (type: RecordTypeName, payload: Payload, mustRefuse: boolean, what: string): Promise<void> => {
      const lastSeq = j.lastSeq;
      try {
        const a = await j.append(type, payload);
        assert.ok(!mustRefuse, `${what}: accepted (seq ${a.seq}) but must be refused`);
        accepted.push(a.seq);
      } catch (e) {
        assert.ok(mustRefuse, `${what}: refused but is legitimate: ${String(e)}`);
        assert.ok(isPosError(e) && e.code === 'E-STO-06', `${what}: refused with ${isPosError(e) ? e.code : String(e)}, not E-STO-06`);
        assert.equal(j.lastSeq, lastSeq, `${what}: nothing appended`);
        assert.equal(j.state, 'ok', `${what}: a refusal does not fail the journal`);
        refused.push(what);
      }
    };
    const slip = async (type: RecordTypeName, base: Payload): Promise<void> => {
      for (const name of REFUSED_NAMES) {
        for (const [label, value] of [['track 2', TRACK2], ['PAN', PAN], ['PIN block', PIN_BLOCK]] as const) {
          await attempt(type, { ...base, [name]: value }, true, `${type}.${name} = ${label}`);
          await attempt(type, { ...base, emv: { tags: [{ [name]: value }] } }, true, `${type}.emv.tags[0].${name} = ${label}`);
        }
      }
      // Sensitive values under innocent names: the track pattern and the clear Luhn-valid PAN are refused too.
      await attempt(type, { ...base, memo: TRACK2 }, true, `${type}.memo = track 2`);
      await attempt(type, { ...base, note: ['ok', `swiped ${TRACK2.replace('=', 'D')}`] }, true, `${type}.note[1] = track 2 (D separator)`);
      await attempt(type, { ...base, panMasked: PAN }, true, `${type}.panMasked = full PAN`);
      await attempt(type, { ...base, cardholder: `card ${PAN} ok` }, true, `${type}.cardholder contains the full PAN`);
    };

    // A sale: sign-on, STAN reserved, txn begin (masked + encrypted PAN), host result, receipt,
    // then a second sale whose response timed out: reversal pending, then cleared.
    const begin = { kind: 'sale', stan: '000101', batch: '000001', amountFen: 12_345, panMasked: PAN_MASKED, panEnc, expiry: '3012', entryMode: 'swipe', operator: '01' };
    await attempt('signOn', { stan: '000100', batch: '000001', operator: '01', kcvPik: 'A1B2C3' }, false, 'sign-on');
    await attempt('stan', { stan: '000101' }, false, 'stan');
    await slip('txnBegin', begin);
    await attempt('txnBegin', begin, false, 'txn-begin');
    const result = { stan: '000101', outcome: 'approved', responseCode: '00', rrn: '240602101530', authCode: '654321', hostDate: '0602', hostTime: '101530' };
    await slip('txnResult', result);
    await attempt('txnResult', result, false, 'txn-result');
    await slip('receiptPrinted', { stan: '000101', copy: 'merchant', reprint: false });
    await attempt('receiptPrinted', { stan: '000101', copy: 'merchant', reprint: false }, false, 'receipt merchant');
    await attempt('receiptPrinted', { stan: '000101', copy: 'customer', reprint: false }, false, 'receipt customer');
    await attempt('stan', { stan: '000102' }, false, 'stan 2');
    await attempt('txnBegin', { ...begin, stan: '000102', amountFen: 500 }, false, 'txn-begin 2');
    // The chip sale's field 55, as the reversal-pending record keeps it: through the allow-list.
    const field55 = sanitizeField55(CARD_TLV);
    assert.throws(() => rec.reversalPending({
      stan: 102, batch: 1, reason: '98', kind: 'sale', amountFen: 500, panEnc, panMasked: PAN_MASKED, processingCode: '000000', entryMode: '051',
      conditionCode: '00', type60: '22', field55: CARD_TLV,
    }), InvariantError, 'the record builder refuses field 55 bytes the allow-list would not keep');
    const reversal = { stan: '000102', reason: '98', amountFen: 500, panMasked: PAN_MASKED, panEnc, field55 };
    await slip('reversalPending', reversal);
    await attempt('reversalPending', reversal, false, 'reversal pending');
    await slip('reversalCleared', { stan: '000102', responseCode: '00', tries: 1 });
    await attempt('reversalCleared', { stan: '000102', responseCode: '00', tries: 1 }, false, 'reversal cleared');

    const backup = exportBytes(j, { clear: true }); // the clear form: what must hold nothing sensitive anyway
    await j.close();
    const expectedRefusals = 5 * (REFUSED_NAMES.length * 3 * 2 + 4);
    assert.equal(refused.length, expectedRefusals, 'every slipped field was refused');
    assert.equal(accepted.length, 10);

    const files = readdirSync(dir).map((f) => [f, readFileSync(join(dir, f))] as const);
    assert.ok(files.some(([f]) => f === 'data.mdb'));
    const blobs: Array<readonly [string, Buffer]> = [...files, ['backup export', backup] as const];
    // Positive control: the scan sees record payloads (masked PAN, the encrypted PAN blob).
    const raw = files.find(([f]) => f === 'data.mdb')![1];
    assert.ok(raw.includes(Buffer.from(PAN_MASKED)), 'control: masked PAN found in data.mdb');
    assert.ok(raw.includes(panEnc), 'control: encrypted PAN blob found in data.mdb');
    assert.ok(backup.includes(panEnc), 'control: encrypted PAN blob found in the backup');
    assert.ok(raw.includes(field55) && raw.includes(ARQC), 'control: the stored field 55 (with its ARQC) found in data.mdb');
    let scanned = 0;
    for (const [file, bytes] of blobs) {
      for (const [what, needle] of needles()) {
        assert.equal(bytes.indexOf(needle), -1, `${what} found in ${file}`);
        scanned++;
      }
    }
    process.stderr.write(`      ${accepted.length} records written, ${refused.length} sensitive appends refused with E-STO-06; ${needles().length} encodings scanned in ${blobs.length} files (${blobs.map(([f, b]) => `${f} ${b.length} B`).join(', ')}): none found (${scanned} scans)\n`);
  });
});
