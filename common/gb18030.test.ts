import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import * as iconv from 'iconv-lite';
import { decodeGb18030, encodeGb18030 } from './gb18030';

/** Code points of a string, for messages. */
const cps = (s: string): string => [...s].map((c) => c.codePointAt(0)!.toString(16)).join(',');

describe('common/gb18030: host text decoded through ICU, as iconv-lite decodes it', () => {
  it('everyTwoByteCodeAndEveryBmpFourByteCodeDecodesAsIconvLiteDoes', () => {
    let checked = 0;
    const agree = (b: Buffer): void => {
      const want = iconv.decode(b, 'gb18030');
      // Past the BMP's 4-byte range (0x8431A530..) iconv-lite makes characters of its own arithmetic; see below.
      if (want.codePointAt(0)! > 0xffff && b.length === 4) return;
      assert.equal(decodeGb18030(b), want, `${b.toString('hex')}: ${cps(decodeGb18030(b))} against ${cps(want)}`);
      checked++;
    };
    for (let hi = 0x81; hi <= 0xfe; hi++) for (let lo = 0x40; lo <= 0xfe; lo++) if (lo !== 0x7f) agree(Buffer.from([hi, lo]));
    for (let b1 = 0x81; b1 <= 0x84; b1++) for (let b2 = 0x30; b2 <= 0x39; b2++) for (let b3 = 0x81; b3 <= 0xfe; b3++) for (let b4 = 0x30; b4 <= 0x39; b4++) agree(Buffer.from([b1, b2, b3, b4]));
    assert.ok(checked > 23_000 + 39_000, `${checked} codes`);
  });

  it('theCodesGb18030Of2022MovedDecodeToThePrivateUseCharactersThePrinterEncodingUses', () => {
    for (const hex of ['a6d9', 'a6df', 'a6ec', 'a6ed', 'a6f3', 'fe59', 'fea0']) {
      const b = Buffer.from(`41${hex}42`, 'hex');
      const text = decodeGb18030(b);
      assert.equal(text, iconv.decode(b, 'gb18030'), hex);
      assert.ok(iconv.encode(text, 'gb18030').equals(b), `${hex} encodes back to its bytes`);
    }
  });

  it('supplementaryCharactersDecodeAndCodesPastTheStandardsRangesAreReplacementCharacters', () => {
    // U+20000 (a CJK Extension B character) is 0x95328236.
    assert.equal(decodeGb18030(Buffer.from('95328236', 'hex')), '\u{20000}');
    assert.equal(decodeGb18030(Buffer.from('8431a530', 'hex')), '\ufffd');
    assert.equal(decodeGb18030(Buffer.from('e3329d30', 'hex')), '\ufffd');
    // A lead byte without its trail, a byte that is no lead.
    assert.ok(decodeGb18030(Buffer.from('41d6', 'hex')).includes('\ufffd'));
    assert.ok(decodeGb18030(Buffer.from('ff', 'hex')).includes('\ufffd'));
  });

  it('aViewIntoALargerBufferDecodesOnlyItsOwnBytes', () => {
    const whole = Buffer.concat([Buffer.from('XX'), iconv.encode('中国银联', 'gb18030'), Buffer.from('YY')]);
    assert.equal(decodeGb18030(whole.subarray(2, whole.length - 2)), '中国银联');
  });

  it('aMerchantNameDoesNotLoadIconvLiteAndAMovedCodeDoes', () => {
    const script = `
      const { decodeGb18030 } = require(${JSON.stringify(require.resolve('./gb18030'))});
      const loaded = () => Object.keys(require.cache).some((k) => k.includes('/iconv-lite/'));
      const name = decodeGb18030(Buffer.from('c9cfbaa3b2e2cad4c9ccbba7', 'hex'));
      const before = loaded();
      decodeGb18030(Buffer.from('a6d9', 'hex'));
      process.stdout.write(JSON.stringify({ name, before, after: loaded() }));`;
    const r = spawnSync(process.execPath, ['-r', require.resolve('ts-node/register/transpile-only'), '-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { name: '上海测试商户', before: false, after: true });
  });
  it('everyBmpCharacterEncodesAsIconvLiteEncodesIt', () => {
    let differ = 0;
    const examples: string[] = [];
    for (let cp = 0; cp <= 0xffff; cp++) {
      if (cp >= 0xd800 && cp <= 0xdfff) continue;
      const ch = String.fromCodePoint(cp);
      const got = encodeGb18030(ch);
      const want = iconv.encode(ch, 'gb18030');
      if (!got.equals(want)) { differ++; if (examples.length < 5) examples.push(`${cp.toString(16)}: ${got.toString('hex')} against ${want.toString('hex')}`); }
    }
    assert.equal(differ, 0, examples.join('; '));
  });

  it('receiptTextEncodesAsIconvLiteWithRareCharactersAndPairsHandedToIt', () => {
    for (const text of ['商户名称: 上海测试商户', 'RMB 12.34 金额', '', 'U盘 SIM卡 €', `\u{20000}字`, '\ud83d\ude00 ok', 'lone \ud800 surrogate', '\ufe10\u9fb4\ue78d', '\u0080x']) {
      assert.ok(encodeGb18030(text).equals(iconv.encode(text, 'gb18030')), JSON.stringify(text));
    }
  });

  it('aReceiptOfChineseTextDoesNotLoadIconvLite', () => {
    const script = `
      const { encodeGb18030 } = require(${JSON.stringify(require.resolve('./gb18030'))});
      const loaded = () => Object.keys(require.cache).some((k) => k.includes('/iconv-lite/'));
      const bytes = encodeGb18030('商户名称: 上海测试商户 RMB 12.34').toString('hex');
      const before = loaded();
      encodeGb18030('\u{20000}');
      process.stdout.write(JSON.stringify({ bytes, before, after: loaded() }));`;
    const r = spawnSync(process.execPath, ['-r', require.resolve('ts-node/register/transpile-only'), '-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { bytes: string; before: boolean; after: boolean };
    assert.equal(out.bytes, iconv.encode('商户名称: 上海测试商户 RMB 12.34', 'gb18030').toString('hex'));
    assert.deepEqual([out.before, out.after], [false, true]);
  });
});
