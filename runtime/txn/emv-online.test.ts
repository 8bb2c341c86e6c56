/**
 * The online half of the chip kernel (emv-online.ts) against the card models (sim/emv-card.ts)
 * and the acquirer simulator's issuer (sim/host/chip-issuer.ts): issuer authentication both ways
 * (EXTERNAL AUTHENTICATE, 91 in the CDOL2), the final GENERATE AC, scripts 71/72 with their DF31,
 * and the cards that misbehave (wrong ARPC, decline at the final GENERATE AC, failing scripts,
 * pulled before the final GENERATE AC). The crypto under it has outside known answers in
 * emv-issuer-auth.test.ts and sim/host/chip-issuer.test.ts.
 */
import { strict as assert } from 'node:assert';
import { PosError } from '../../common/errors';
import { CardRequest, field55Of } from './emv';
import { Transmit, runKernel } from './emv-kernel';
import {
  FirstPass, HostAnswer, ISSUER_SCRIPTS_MAX, SCRIPT_DONE, SCRIPT_FAILED, SCRIPT_NOT_PERFORMED, TSI_ISSUER_AUTH_PERFORMED, TSI_SCRIPT_PERFORMED,
  completeOnline, noticeField55, noticeValues, parseIssuerResponse, readScriptResults,
} from './emv-online';
import { encodeTlv, parseTlv, primitives } from './emv';
import { TVR, hasTvrBit } from './emv-tvr';
import { EmvCardModel, EmvCardSpec } from '../../sim/emv-card';
import { SIM_ISSUER_MASTER_KEY, issuerField55, verifyArqc } from '../../sim/host/chip-issuer';
import { ScriptFault, parseFaultSpec } from '../../sim/host/faults';
import { testAids, testCaPublicKeys } from '../../sim/host/emv-params-host';

const hex = (h: string): Buffer => Buffer.from(h, 'hex');
const REQ: CardRequest = {
  txnType: 'sale', amountFen: 12345, dateYymmdd: '261204', unpredictable: hex('A1B2C3D4'), ifdSerial: '12345678',
  params: { caKeys: testCaPublicKeys(), aids: testAids() },
};
const script = (s: string): ScriptFault => parseFaultSpec(`issuer-script:${s}`).script as ScriptFault;

interface Setup { model: EmvCardModel; tx: Transmit; first: FirstPass; commands: Buffer[]; host(opts?: { code?: string; wrongArpc?: boolean; scripts?: ScriptFault[] }): HostAnswer }

async function setUp(over: Partial<EmvCardSpec> = {}): Promise<Setup> {
  const model = new EmvCardModel({ kind: 'ic', name: 't', pan: '6222021234567890128', expiry: '301231', psn: 1, atc: 'counter', ...over });
  const commands: Buffer[] = [];
  const tx: Transmit = async (apdu) => {
    commands.push(Buffer.from(apdu));
    if (model.pullsOn(apdu)) throw new PosError('RDR_CARD_REMOVED', 'card pulled');
    return model.respond(apdu);
  };
  const k = await runKernel(tx, false, REQ);
  const first: FirstPass = { aip: k.options.aip, card: k.card, terminal: k.terminal, ac: k.ac };
  // What the terminal sends in the 0200 (card.ts field55Part), and what the simulator's issuer answers.
  const sent = field55Of(new Map([[0x82, k.options.aip], [0x84, k.app.aid], ...k.ac, ...k.terminal]));
  const check = verifyArqc(SIM_ISSUER_MASTER_KEY, '6222021234567890128', '001', sent);
  assert.equal(check.ok, true, 'the card model\'s ARQC verifies at the simulator');
  commands.length = 0;
  return {
    model, tx, first, commands,
    host: (o = {}) => {
      const code = o.code ?? '00';
      return { approved: code === '00', responseCode: code, field55: check.ok ? issuerField55(check, code, { wrongArpc: o.wrongArpc, scripts: o.scripts }) : undefined };
    },
  };
}

const ins = (cmds: Buffer[]): string[] => cmds.map((c) => c.subarray(0, 2).toString('hex').toUpperCase());

describe('EMV online half (emv-online): issuer authentication, final GENERATE AC, scripts', () => {
  it('approved with a good ARPC: EXTERNAL AUTHENTICATE passes, the final GENERATE AC asks for and gets a TC; TSI says so', async () => {
    const s = await setUp();
    const o = await completeOnline(s.tx, s.first, s.host());
    assert.deepEqual(ins(s.commands), ['0082', '80AE']);
    assert.equal(s.commands[1][2], 0x40, 'P1 asks for a TC');
    assert.equal(o.issuerAuth, 'ok');
    assert.equal(o.asked, 'TC');
    assert.equal(o.cryptogram, 'TC');
    assert.equal(o.error, undefined);
    assert.equal(o.scriptResults.length, 0, 'no scripts, no DF31');
    assert.equal(o.tsi[0] & TSI_ISSUER_AUTH_PERFORMED, TSI_ISSUER_AUTH_PERFORMED);
    assert.equal(hasTvrBit(o.tvr, TVR.issuerAuthenticationFailed), false);
    assert.notDeepEqual(o.ac.get(0x9f26), s.first.ac.get(0x9f26), 'the TC is a new cryptogram');
    assert.deepEqual(o.ac.get(0x9f36), s.first.ac.get(0x9f36), 'over the same ATC');
  });

  it('a wrong ARPC: the card answers 6300, TVR "issuer authentication failed", the terminal asks for an AAC and gets one', async () => {
    const s = await setUp();
    const o = await completeOnline(s.tx, s.first, s.host({ wrongArpc: true }));
    assert.equal(o.issuerAuth, 'failed');
    assert.ok(hasTvrBit(o.tvr, TVR.issuerAuthenticationFailed));
    assert.equal(o.asked, 'AAC');
    assert.equal(s.commands[1][2], 0x00, 'P1 asks for an AAC');
    assert.equal(o.cryptogram, 'AAC');
  });

  it('a card without EXTERNAL AUTHENTICATE (AIP bit 3 clear) takes 91 in its CDOL2 and judges it: TC when right, AAC when wrong', async () => {
    const good = await setUp({ issuerAuth: 'cdol2' });
    assert.equal(good.first.aip[0] & 0x04, 0);
    const o = await completeOnline(good.tx, good.first, good.host());
    assert.deepEqual(ins(good.commands), ['80AE'], 'no EXTERNAL AUTHENTICATE');
    assert.equal(o.issuerAuth, 'in-cdol2');
    assert.equal(o.cryptogram, 'TC');
    const bad = await setUp({ issuerAuth: 'cdol2' });
    const b = await completeOnline(bad.tx, bad.first, bad.host({ wrongArpc: true }));
    assert.equal(b.asked, 'TC', 'the terminal cannot tell: it asks for the TC');
    assert.equal(b.cryptogram, 'AAC', 'the card declines');
  });

  it('a card that declines at the final GENERATE AC after the host approved: AAC', async () => {
    const s = await setUp({ faults: ['decline-second-ac'] });
    const o = await completeOnline(s.tx, s.first, s.host());
    assert.equal(o.issuerAuth, 'ok');
    assert.equal(o.asked, 'TC');
    assert.equal(o.cryptogram, 'AAC');
  });

  it('the host declined (51): the terminal asks for an AAC with ARC "51"', async () => {
    const s = await setUp();
    const o = await completeOnline(s.tx, s.first, s.host({ code: '51' }));
    assert.equal(o.asked, 'AAC');
    assert.equal(o.cryptogram, 'AAC');
    assert.equal(s.commands[1].subarray(5, 7).toString('ascii'), '51', 'the CDOL2 data starts with the ARC (8A)');
  });

  it('no answer from the host: no issuer data, the terminal asks for an AAC with ARC Z3', async () => {
    const s = await setUp();
    const o = await completeOnline(s.tx, s.first, { approved: false });
    assert.deepEqual(ins(s.commands), ['80AE']);
    assert.equal(s.commands[0].subarray(5, 7).toString('ascii'), 'Z3');
    assert.equal(o.cryptogram, 'AAC');
  });

  it('scripts: 71 PIN unblock before the final GENERATE AC, 72 APPLICATION BLOCK after; DF31 says done for both; the card did them', async () => {
    const s = await setUp({ pinTries: 3 });
    // The card's PIN tries are used up (as if the PIN was wrong 3 times elsewhere): the script resets them.
    (s.model as unknown as { pinTries: number }).pinTries = 0; // why: no APDU in the model lowers it; the script's effect is what is tested
    const o = await completeOnline(s.tx, s.first, s.host({ scripts: [script('71-pin-unblock'), script('72-block')] }));
    assert.deepEqual(ins(s.commands), ['8424', '0082', '80AE', '841E'], 'Book 3 order: 71, issuer authentication, final AC, 72');
    assert.equal(o.cryptogram, 'TC');
    assert.deepEqual(readScriptResults(o.scriptResults), [
      { result: SCRIPT_DONE, command: 0, id: '00000001' }, { result: SCRIPT_DONE, command: 0, id: '00000002' },
    ]);
    assert.equal(o.scriptFailed, false);
    assert.equal(o.tsi[0] & TSI_SCRIPT_PERFORMED, TSI_SCRIPT_PERFORMED);
    assert.equal(s.model.pinTryCounter, 3);
    assert.equal(s.model.applicationBlocked, true);
    // The blocked card: the next transaction finds no application (SELECT 6283, E-RDR-07).
    await assert.rejects(runKernel(s.tx, false, REQ), (e: unknown) => e instanceof PosError && e.id === 'RDR_NO_APPLICATION');
  });

  it('PUT DATA in 72 writes the object the card then gives to GET DATA', async () => {
    const s = await setUp();
    const o = await completeOnline(s.tx, s.first, s.host({ scripts: [script('72-put-data')] }));
    assert.equal(readScriptResults(o.scriptResults)[0].result, SCRIPT_DONE);
    assert.deepEqual(s.model.dataObject(0x9f58), hex('05'));
  });

  it('a script command with a wrong MAC fails (6988): DF31 "failed at command 1", TVR "script failed before final AC"; the sale goes on', async () => {
    const s = await setUp();
    const o = await completeOnline(s.tx, s.first, s.host({ scripts: [script('71-bad-mac')] }));
    assert.deepEqual(readScriptResults(o.scriptResults), [{ result: SCRIPT_FAILED, command: 1, id: '00000001' }]);
    assert.ok(hasTvrBit(o.tvr, TVR.scriptFailedBeforeFinalAc));
    assert.equal(o.scriptFailed, true);
    assert.equal(o.cryptogram, 'TC');
  });

  it('a card whose script commands fail (6581) after the final AC: DF31 failed, TVR "script failed after final AC"', async () => {
    const s = await setUp({ faults: ['script-fails'] });
    const o = await completeOnline(s.tx, s.first, s.host({ scripts: [script('72-block')] }));
    assert.equal(readScriptResults(o.scriptResults)[0].result, SCRIPT_FAILED);
    assert.ok(hasTvrBit(o.tvr, TVR.scriptFailedAfterFinalAc));
    assert.equal(s.model.applicationBlocked, false);
  });

  it('a card pulled before the final GENERATE AC: no cryptogram, E-RDR-05, the 72 script not performed (71 done)', async () => {
    const s = await setUp({ pullAt: 'second-generate-ac' });
    const o = await completeOnline(s.tx, s.first, s.host({ scripts: [script('71-put-data'), script('72-block')] }));
    assert.equal(o.cryptogram, 'none');
    assert.equal(o.error?.id, 'RDR_CARD_REMOVED');
    assert.deepEqual(readScriptResults(o.scriptResults).map((r) => r.result), [SCRIPT_DONE, SCRIPT_NOT_PERFORMED]);
  });

  it('the 0620\'s 55: the profile\'s tags from the final cryptogram and TVR, DF31 in the profile\'s place (after 82, before 9F1A 9A)', async () => {
    const s = await setUp();
    const o = await completeOnline(s.tx, s.first, s.host({ scripts: [script('71-bad-mac')] }));
    const values = noticeValues(s.first, o);
    assert.deepEqual([...values.keys()], [0x9f33, 0x95, 0x9f37, 0x9f1e, 0x9f10, 0x9f26, 0x9f36, 0x82, 0x9f1a, 0x9a]);
    assert.deepEqual(values.get(0x9f26), o.ac.get(0x9f26));
    assert.deepEqual(values.get(0x95), o.tvr);
    const f55 = noticeField55(field55Of(values), o.scriptResults);
    // The profile's 0620 row: 55 (`9F33 95 9F37 9F1E 9F10 9F26 9F36 82 DF31 9F1A 9A`).
    assert.deepEqual(parseTlv(f55).map((t) => t.tag), [0x9f33, 0x95, 0x9f37, 0x9f1e, 0x9f10, 0x9f26, 0x9f36, 0x82, 0xdf31, 0x9f1a, 0x9a]);
    assert.deepEqual(primitives(f55).get(0xdf31), o.scriptResults);
  });

  describe('reading the host\'s 55', () => {
    it('91 and 71/72 in order; unknown tags ignored; not TLV: nothing', () => {
      const cmd = hex('841E000004AABBCCDD');
      const f55 = Buffer.concat([encodeTlv(0x8a, hex('3030')), encodeTlv(0x91, hex('00112233445566773030')), encodeTlv(0x72, encodeTlv(0x86, cmd)), encodeTlv(0x71, Buffer.concat([encodeTlv(0x9f18, hex('01020304')), encodeTlv(0x86, cmd)]))]);
      const r = parseIssuerResponse(f55);
      assert.deepEqual(r.authData, hex('00112233445566773030'));
      assert.deepEqual(r.scripts.map((x) => [x.template, x.id.toString('hex')]), [[0x72, '00000000'], [0x71, '01020304']]);
      assert.deepEqual(parseIssuerResponse(hex('9F')), { scripts: [] });
    });

    it('a script without commands, with a 3-byte command, or beyond the limits is malformed: reported failed, never sent', async () => {
      const r = parseIssuerResponse(Buffer.concat([encodeTlv(0x71, encodeTlv(0x9f18, hex('00000001'))), encodeTlv(0x72, encodeTlv(0x86, hex('841E00')))]));
      assert.deepEqual(r.scripts.map((x) => x.malformed), [true, true]);
      const many = Buffer.concat(Array.from({ length: ISSUER_SCRIPTS_MAX + 1 }, () => encodeTlv(0x72, encodeTlv(0x86, hex('841E0000')))));
      assert.deepEqual(parseIssuerResponse(many).scripts.map((x) => x.malformed === true), [...Array(ISSUER_SCRIPTS_MAX).fill(false), true]);
      const s = await setUp();
      const o = await completeOnline(s.tx, s.first, { approved: true, responseCode: '00', field55: encodeTlv(0x72, encodeTlv(0x86, hex('841E00'))) });
      assert.deepEqual(readScriptResults(o.scriptResults), [{ result: SCRIPT_FAILED, command: 0, id: '00000000' }]);
      assert.deepEqual(ins(s.commands), ['80AE'], 'nothing of the malformed script reached the card');
      assert.equal(o.issuerAuth, 'not-performed', 'no 91: not performed');
    });
  });
});
