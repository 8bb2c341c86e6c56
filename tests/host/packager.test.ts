import { strict as assert } from 'node:assert';
import { PosError, isPosError } from '../../common/errors';
import { CUP_FIELDS, FieldDef, REQUEST_TYPES, classifyRequest, isBinaryField } from '../../runtime/host/fields';
import { FieldValue, IsoMessage, packFrame, swapTpdu, textField, unpackFrame } from '../../runtime/host/packager';
import { encodeRequest } from '../../runtime/host/messages';
import { FIXED_KEYS, everyRequest, hex, profile, toHex } from './fixtures';

function frameOf(fields: Array<[number, FieldValue]>, mti = '0210'): Buffer {
  return packFrame(profile, { tpdu: swapTpdu(profile.tpdu), header: profile.header, message: { mti, fields: new Map(fields) } });
}

/** A short valid response frame: 0210 with 11, 39, 41 (offsets below refer to it). */
const SMALL = (): Buffer => frameOf([[11, '000123'], [39, '00'], [41, '12345678']]);
// length 2 | TPDU 5 | header 6 | MTI 2 | bitmap 8 => field 11 starts at offset 23.
const FIELD_11_AT = 23;

function expectMalformed(bytes: Buffer, pattern: RegExp, where: { field?: number; offset?: number } = {}): void {
  assert.throws(() => unpackFrame(profile, bytes), (e: unknown) => {
    assert.ok(isPosError(e, 'host-malformed'), `expected HOST_MALFORMED, got ${String(e)}`);
    assert.equal((e as PosError).id, 'HOST_MALFORMED');
    assert.match((e as PosError).message, pattern);
    if (where.field !== undefined) assert.equal((e as PosError).detail.field, where.field);
    if (where.offset !== undefined) assert.equal((e as PosError).detail.offset, where.offset);
    return true;
  });
}

/** The largest value a field may hold (used to prove max-size messages round-trip). */
function maxValue(def: FieldDef): FieldValue {
  const f = def.format;
  if (isBinaryField(def)) return Buffer.alloc(f.kind === 'b' ? f.bytes : (f as { lengthMax: number }).lengthMax, 0xab);
  if (f.kind === 'n') return '7'.repeat(f.digits);
  if (f.kind === 'an') return 'Z'.repeat(f.chars);
  if (f.kind === 'var' && f.content === 'track') return '1234567890='.repeat(20).slice(0, f.lengthMax);
  if (f.kind === 'var' && f.content === 'ascii') return 'a~ '.repeat(400).slice(0, f.lengthMax);
  return '9'.repeat((f as { lengthMax: number }).lengthMax);
}

describe('host packager', () => {
  describe('round trips', () => {
    for (const type of REQUEST_TYPES) {
      it(`${type}RequestRoundTripsFieldForField`, () => {
        const req = everyRequest()[type];
        const bytes = encodeRequest(profile, req, { mak: FIXED_KEYS.mak });
        assert.equal(bytes.readUInt16BE(0), bytes.length - 2);
        const back = unpackFrame(profile, bytes);
        assert.deepEqual(back.tpdu, profile.tpdu);
        assert.deepEqual(back.header, profile.header);
        assert.equal(back.message.mti, req.message.mti);
        const expected = new Map(req.message.fields);
        if (profile.messages[type].mac) expected.set(64, back.message.fields.get(64) as Buffer);
        assert.deepEqual(back.message.fields, expected);
        assert.equal(classifyRequest(profile, back.message.mti, textField(back.message, 3), textField(back.message, 60), textField(back.message, 22)), type);
      });
    }

    it('everyFieldAtItsMaximumRoundTripsWithinTheFrameLimit', () => {
      // Without 62 (999 bytes): 62 at max alone is tested below, together they exceed 2048 by design.
      const fields = CUP_FIELDS.filter((d) => d.number !== 62).map((d): [number, FieldValue] => [d.number, maxValue(d)]);
      const bytes = frameOf(fields);
      assert.ok(bytes.length <= profile.frameLengthBytesMax, `${bytes.length} bytes`);
      assert.deepEqual(unpackFrame(profile, bytes).message.fields, new Map(fields));
      const with62 = frameOf([[11, '000001'], [62, Buffer.alloc(999, 1)]]);
      assert.equal((unpackFrame(profile, with62).message.fields.get(62) as Buffer).length, 999);
    });

    it('oddFixedNumericIsLeftPaddedAndVarNumericAndTrackAreRightPadded', () => {
      const bytes = frameOf([[2, '123'], [22, '021'], [35, '12=3']]);
      const body = toHex(bytes.subarray(23));
      assert.equal(body, '031230' + '0021' + '0412D3');
    });

    it('lengthPrefixesAreBcdOneByteForLlAndTwoForLll', () => {
      const bytes = frameOf([[44, 'x'.repeat(25)], [63, 'y'.repeat(123)]]);
      assert.equal(bytes[23], 0x25);
      assert.equal(bytes.readUInt16BE(23 + 1 + 25), 0x0123);
    });

    it('bitmapHasOneBitPerFieldAndNoSecondaryBitmap', () => {
      const bytes = frameOf([[2, '1'], [64, Buffer.alloc(8)]]);
      assert.equal(toHex(bytes.subarray(15, 23)), '4000000000000001');
    });
  });

  describe('packing refuses values that do not fit', () => {
    const cases: Array<[string, Array<[number, FieldValue]>]> = [
      ['panOver19Digits', [[2, '1'.repeat(20)]]],
      ['lettersInNumeric', [[11, '00012A']]],
      ['shortFixedNumeric', [[11, '123']]],
      ['asciiTooLong', [[41, '123456789']]],
      ['nonPrintableAscii', [[41, '1234\n678']]],
      ['textInBinaryField', [[52, 'abcdefgh']]],
      ['wrongBinaryLength', [[52, Buffer.alloc(7)]]],
      ['fieldNotInProfile', [[5, '000000000001']]],
      ['trackWithLetter', [[35, '1234A=1']]],
    ];
    for (const [name, fields] of cases) {
      it(`${name}IsRefusedAsRequestInvalid`, () => {
        assert.throws(() => frameOf(fields), (e) => isPosError(e, 'operator-input') && e.id === 'HOST_REQUEST_INVALID');
      });
    }
  });

  describe('unpacking rejects malformed frames with HOST_MALFORMED naming where', () => {
    it('smallFrameIsValid', () => {
      assert.equal(unpackFrame(profile, SMALL()).message.fields.get(11), '000123');
    });

    it('frameWithoutLengthPrefixIsTruncated', () => expectMalformed(Buffer.from([0x00]), /truncated/, { offset: 0 }));

    it('frameShorterThanItsLengthIsTruncated', () => expectMalformed(SMALL().subarray(0, 30), /truncated: length says/));

    it('fieldCutOffIsTruncatedAtThatField', () => {
      const f = SMALL();
      const cut = f.subarray(0, FIELD_11_AT + 2);
      cut.writeUInt16BE(cut.length - 2, 0);
      expectMalformed(cut, /truncated: value needs 3 bytes, 2 left/, { field: 11, offset: FIELD_11_AT });
    });

    it('bytesAfterTheDeclaredLengthAreTrailingGarbage', () => expectMalformed(Buffer.concat([SMALL(), Buffer.from([0])]), /trailing garbage/));

    it('bytesAfterTheLastFieldAreTrailingGarbage', () => {
      const f = Buffer.concat([SMALL(), Buffer.from([0x30, 0x30])]);
      f.writeUInt16BE(f.length - 2, 0);
      expectMalformed(f, /trailing garbage: 2 bytes after the last field/, { offset: f.length - 2 });
    });

    it('frameOverTheLimitIsOversizedBeforeAnythingIsRead', () => {
      const f = Buffer.alloc(profile.frameLengthBytesMax + 1);
      f.writeUInt16BE(f.length - 2, 0);
      expectMalformed(f, /over max 2048/, { offset: 0 });
      const prefixOnly = Buffer.from([0xff, 0xff]);
      expectMalformed(prefixOnly, /frame length 65537 over max 2048/);
    });

    it('frameUnderTheMinimumIsRejected', () => expectMalformed(Buffer.from([0x00, 0x03, 0x60, 0, 0]), /under min/));

    it('wrongTpduIdIsRejected', () => {
      const f = SMALL();
      f[2] = 0x68;
      expectMalformed(f, /TPDU id 0x68/, { offset: 2 });
    });

    it('wrongHeaderIsRejectedButHostStatusBytesAreNot', () => {
      const f = SMALL();
      f[8] = 0x22;
      expectMalformed(f, /header byte 1 is 0x22/, { offset: 8 });
      const g = SMALL();
      g[10] = 0x10; // processing-requirement nibble: a host may set it
      assert.equal(unpackFrame(profile, g).header[3], 0x10);
    });

    it('nonBcdMtiIsRejected', () => {
      const f = SMALL();
      f[13] = 0x0a;
      expectMalformed(f, /MTI is not BCD/, { offset: 13 });
    });

    it('secondaryBitmapIsRejected', () => {
      const f = SMALL();
      f[15] |= 0x80;
      expectMalformed(f, /secondary bitmap/, { field: 1 });
    });

    it('unknownFieldIsRejected', () => {
      const f = SMALL();
      f[15] |= 0x08; // field 5
      expectMalformed(f, /field not in the profile/, { field: 5, offset: 15 });
    });

    it('badBcdDigitInFixedNumericIsRejected', () => {
      const f = SMALL();
      f[FIELD_11_AT + 1] = 0x1f;
      expectMalformed(f, /bad BCD digit/, { field: 11, offset: FIELD_11_AT + 1 });
    });

    it('nonZeroLeftPadOfOddFixedNumericIsRejected', () => {
      const f = frameOf([[22, '021']]);
      f[23] = 0x10;
      expectMalformed(f, /bad BCD digit or padding/, { field: 22, offset: 23 });
    });

    it('nonBcdLengthPrefixIsRejected', () => {
      const f = frameOf([[2, '6222021234567890123']]);
      f[23] = 0x1a;
      expectMalformed(f, /length prefix is not BCD/, { field: 2 });
    });

    it('lengthOverTheFieldMaximumIsRejected', () => {
      const f = frameOf([[2, '6222021234567890123']]);
      f[23] = 0x20;
      expectMalformed(f, /length 20 over max 19/, { field: 2, offset: 23 });
      const g = frameOf([[62, Buffer.alloc(3)]]);
      g.writeUInt16BE(0x1000, 23); // LLL 1000 > 999
      expectMalformed(g, /length 1000 over max 999/, { field: 62 });
    });

    it('nonZeroRightPadOfOddVarNumericIsRejected', () => {
      const f = frameOf([[2, '123']]);
      f[25] = 0x31;
      expectMalformed(f, /padding/, { field: 2, offset: 25 });
    });

    it('trackNibbleOtherThanDigitOrSeparatorIsRejected', () => {
      const f = frameOf([[35, '12=3']]);
      f[24] = 0x1b;
      expectMalformed(f, /bad track nibble/, { field: 35, offset: 24 });
    });

    it('nonPrintableByteInAsciiFieldIsRejected', () => {
      const f = SMALL();
      f[f.length - 1] = 0x07;
      expectMalformed(f, /non-printable/, { field: 41 });
    });

    it('varFieldLongerThanTheFrameIsTruncated', () => {
      const f = frameOf([[63, 'abc']]);
      f.writeUInt16BE(0x0099, 23);
      expectMalformed(f, /truncated: value needs 99 bytes/, { field: 63 });
    });
  });

  it('parsedMessageIsPlainData', () => {
    const m: IsoMessage = unpackFrame(profile, SMALL()).message;
    assert.deepEqual([...m.fields.keys()], [11, 39, 41]);
    assert.equal(toHex(hex('6031')), '6031');
  });
});
