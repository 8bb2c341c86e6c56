/** Unit tests of the pieces under the engine: state replay invariants, sealing, operators, receipts. */
import { strict as assert } from 'node:assert';
import { RecordType, DecodedRecord } from '../../storage/record';
import { InvariantError, isPosError } from '../../common/errors';
import { deriveState } from '../../runtime/terminal-state';
import { rec, RecordInput } from '../../runtime/records';
import { seal, unseal } from '../../runtime/device-key';
import { seededRandom } from '../../runtime/random';
import { allowed, OPERATORS_MAX, PASSWORD_ATTEMPTS_MAX, passwordWeak, requirePermission } from '../../runtime/operators';
import { Store } from '../../runtime/store';
import { receiptJob, settlementReportJob, eReceiptUrl } from '../../runtime/receipt';
import { yuan } from '../../common/money';
import { TxnView } from '../../runtime/txn/engine';
import { checkKeyedPan, checkRefundDetails, expiryProblem, mmyyToYymm, originalDate, panProblem } from '../../runtime/txn/entry-checks';
import { rig, withOperators, ADMIN, SUPERVISOR } from './harness';

function records(inputs: RecordInput[]): DecodedRecord[] {
  return inputs.map((r, i) => ({ type: RecordType[r.type], seq: i + 1, timeMs: 0, payload: r.payload } as unknown as DecodedRecord));
}

const begin = (stan: number) => rec.txnBegin({ kind: 'sale', stan, batch: 1, amountFen: 100, panMasked: '622202*********0123', panEnc: Buffer.alloc(40), panTag: Buffer.alloc(8), entryMode: '022', processingCode: '000000', conditionCode: '00', type60: '22', operator: '001' });
const pending = (stan: number) => rec.reversalPending({ stan, batch: 1, reason: '98', kind: 'sale', amountFen: 100, panEnc: Buffer.alloc(40), panMasked: '622202*********0123', processingCode: '000000', entryMode: '022', conditionCode: '00', type60: '22' });

describe('terminal state replay', () => {
  it('derives STAN, batch, transaction status and pending reversal from records', () => {
    const s = deriveState(records([rec.stan(5), begin(5), pending(5), rec.txnResult({ stan: 5, outcome: 'approved', responseCode: '00', rrn: '000000000001', authCode: '000001' }), rec.reversalCleared({ stan: 5, cause: 'approved', responseCode: '00', tries: 0 })]));
    assert.equal(s.stanLast, 5);
    assert.equal(s.txns.get(5)?.status, 'approved');
    assert.equal(s.pendingReversal, undefined);
  });
  it('a result for a STAN never begun is a broken invariant (recovery mode)', () => {
    assert.throws(() => deriveState(records([rec.txnResult({ stan: 9, outcome: 'declined', responseCode: '05' })])), InvariantError);
  });
  it('a second reversal pending beside another is a broken invariant', () => {
    assert.throws(() => deriveState(records([begin(1), pending(1), pending(2)])), InvariantError);
  });
  it('a transaction pending without its reversal is a broken invariant', () => {
    assert.throws(() => deriveState(records([begin(1)])), InvariantError);
  });
  it('a batch closed out of order is a broken invariant', () => {
    assert.throws(() => deriveState(records([rec.batchClosed({ batch: 3, nextBatch: 4, totals: { saleAmountFen: 0, saleCount: 0, refundAmountFen: 0, refundCount: 0 }, verdict: 'balanced' })])), InvariantError);
  });
  it('builders refuse what must never be written: a clear PAN as panMasked, a bad STAN', () => {
    assert.throws(() => rec.txnBegin({ ...(begin(1).payload as unknown as Parameters<typeof rec.txnBegin>[0]), panMasked: '6222021234567890123' }), InvariantError);
    assert.throws(() => rec.stan(0), InvariantError);
  });
});

describe('device-key sealing', () => {
  const key = Buffer.alloc(32, 1);
  it('round-trips, and fails under another key or another label (E-KEY-02)', () => {
    const sealed = seal(key, Buffer.from('6222021234567890123'), 'pan/12345678', seededRandom(1));
    assert.equal(unseal(key, sealed, 'pan/12345678').toString(), '6222021234567890123');
    assert.throws(() => unseal(Buffer.alloc(32, 2), sealed, 'pan/12345678'), (e: unknown) => isPosError(e) && e.code === 'E-KEY-02');
    assert.throws(() => unseal(key, sealed, 'mak/12345678'), (e: unknown) => isPosError(e) && e.code === 'E-KEY-02');
    assert.equal(sealed.indexOf(Buffer.from('6222021234567890123')), -1);
  });
});

describe('operators', function () {
  this.timeout(20_000);
  it('roles: void/refund/settlement need a supervisor, recovery and factory reset an administrator', () => {
    assert.equal(allowed('cashier', 'sale'), true);
    assert.equal(allowed('cashier', 'void'), false);
    assert.equal(allowed('supervisor', 'settlement'), true);
    assert.equal(allowed('supervisor', 'recovery'), false);
    assert.equal(allowed('administrator', 'factoryReset'), true);
    assert.throws(() => requirePermission({ operator: '001', role: 'cashier' }, 'refund'), (e: unknown) => isPosError(e) && e.code === 'E-OPR-04');
  });
  it('wrong passwords are counted in the journal, survive a reboot, lock at the limit; a supervisor unlocks', async () => {
    const r = await rig();
    try {
      await withOperators(r);
      for (let i = 1; i < PASSWORD_ATTEMPTS_MAX - 1; i++) await assert.rejects(r.terminal.operators.login('001', '0000'), (e: unknown) => isPosError(e) && e.code === 'E-OPR-02');
      await r.reboot();
      assert.equal(r.terminal.operators.get('001')?.failedAttempts, PASSWORD_ATTEMPTS_MAX - 2);
      await assert.rejects(r.terminal.operators.login('001', '0000'), (e: unknown) => isPosError(e) && (e.detail.attemptsLeft === 1));
      await assert.rejects(r.terminal.operators.login('001', '0000'), (e: unknown) => isPosError(e) && e.code === 'E-OPR-03');
      await assert.rejects(r.terminal.operators.login('001', '1111'), (e: unknown) => isPosError(e) && e.code === 'E-OPR-03');
      await assert.rejects(r.terminal.operators.login('777', '1111'), (e: unknown) => isPosError(e) && e.code === 'E-OPR-05');
      await assert.rejects(r.terminal.operators.unlock('099', SUPERVISOR), (e: unknown) => isPosError(e) && e.code === 'E-OPR-04');
      await r.terminal.operators.unlock('001', SUPERVISOR);
      assert.deepEqual(await r.terminal.operators.login('001', '1111'), { operator: '001', role: 'cashier' });
      const stored = [...r.journal.records()].filter((x) => x.type === RecordType.operator);
      assert.ok(stored.every((x) => !JSON.stringify(x.payload).includes('1111')), 'a password in the clear');
      await assert.rejects(r.terminal.operators.create('005', 'cashier', '5555', { operator: '001', role: 'cashier' }), (e: unknown) => isPosError(e, 'permission'));
      await r.terminal.operators.create('005', 'cashier', '5555', ADMIN);
    } finally { await r.close(); }
  });
});

describe('receipts', () => {
  const txn: TxnView = {
    kind: 'sale', stan: 12, batch: 1, amountFen: 123456, panMasked: '622202*********0123', entryMode: '022', status: 'approved',
    responseCode: '00', rrn: '000000000042', authCode: '000042', hostDate: '1121', hostTime: '103015', operator: '001', atMs: Date.UTC(2026, 10, 21), printed: [], hasSignature: false,
  };
  const text = (job: ReturnType<typeof receiptJob>): string => job.blocks.map((b) => (b.kind === 'text' ? b.text : b.kind === 'qr' ? `QR:${b.data}` : b.kind)).join('\n');
  it('yuan from fen is exact', () => {
    assert.equal(yuan(123456), '1234.56');
    assert.equal(yuan(5), '0.05');
    assert.equal(yuan(-100), '-1.00');
  });
  it('zh merchant copy: masked PAN, amount, batch/trace, RRN, auth code, date, QR e-receipt without card data', () => {
    const base = 'https://receipts.example.com/r';
    const t = text(receiptJob(txn, { lang: 'zh', copy: 'merchant', reprint: false, merchantName: '测试商户', tid: '12345678', mid: '123456789012345', printedAtMs: 0, eReceiptBase: base }));
    for (const want of ['商户存根', '622202*********0123', 'RMB 1234.56', '批次号: 000001', '凭证号: 000012', '参考号: 000000000042', '授权码: 000042', '2026/11/21 10:30:15', '持卡人签名']) assert.ok(t.includes(want), `missing ${want}`);
    assert.ok(t.includes(`QR:${eReceiptUrl(txn, '12345678', base)}`));
    assert.equal(eReceiptUrl(txn, '12345678', base), 'https://receipts.example.com/r?tid=12345678&b=000001&s=000012&rrn=000000000042&amt=123456');
    assert.ok(!t.includes('重打印'));
  });
  it('no e-receipt address from the host (DF1A): no QR code and no scan note on the slip', () => {
    const job = receiptJob(txn, { lang: 'zh', copy: 'merchant', reprint: false, merchantName: '测试商户', tid: '12345678', mid: '123456789012345', printedAtMs: 0 });
    assert.equal(job.blocks.filter((b) => b.kind === 'qr').length, 0);
    assert.ok(!text(job).includes('扫码查看电子签购单'));
  });
  it('en reprint of the customer copy is marked DUPLICATE at both ends and has no signature line', () => {
    const job = receiptJob(txn, { lang: 'en', copy: 'customer', reprint: true, merchantName: 'TEST', tid: '12345678', mid: '123456789012345', printedAtMs: 0 });
    assert.equal(job.blocks.filter((b) => b.kind === 'text' && b.text.includes('DUPLICATE')).length, 2);
    assert.ok(!text(job).includes('SIGNATURE'));
    assert.match(job.label, /reprint/);
  });
  it('settlement report carries counts and totals and the verdict', () => {
    const job = settlementReportJob({ batch: 3, totals: { saleAmountFen: 30000, saleCount: 3, refundAmountFen: 500, refundCount: 1 }, verdict: 'unbalanced', atMs: 0, tid: '12345678', mid: '123456789012345', merchantName: 'M', reprint: false, lang: 'zh' });
    const t = text(job as ReturnType<typeof receiptJob>);
    for (const want of ['结算单', '批次号: 000003', '笔数: 3', '300.00', '笔数: 1', '5.00', '对账不平']) assert.ok(t.includes(want), `missing ${want}`);
  });
});

describe('card reading: track 2 length', () => {
  it('aTrackLongerThanIso7813IsUnreadableNotCut', async () => {
    const { cardFromTrack2 } = await import('../../runtime/txn/card');
    assert.equal(cardFromTrack2('6222021234567890123=30122010000012345').track2?.length, 37);
    assert.throws(() => cardFromTrack2('6222021234567890123=30122010000012345678'), /E-RDR-02 track 2 of 40 characters/);
  });
});

describe('keyed entry and refund detail checks (runtime/txn/entry-checks.ts)', () => {
  // 2026-11-21 10:00 in China.
  const NOW = Date.UTC(2026, 10, 21, 2);

  it('card number: 13..19 digits, Luhn at the keypad only; expiry YYMM valid to the end of its month', () => {
    assert.equal(panProblem('6222020000000015'), undefined);
    assert.equal(panProblem('6222020000000016'), 'luhn');
    assert.equal(panProblem('6222020000000016', { luhn: false }), undefined);
    assert.equal(panProblem('622202000000'), 'length');
    assert.equal(panProblem('62220200000000150000'), 'length');
    assert.equal(mmyyToYymm('1228'), '2812');
    assert.equal(expiryProblem('2611', NOW), undefined, 'this month still valid');
    assert.equal(expiryProblem('2610', NOW), 'expired');
    assert.equal(expiryProblem('2613', NOW), 'format');
    assert.equal(expiryProblem('2600', NOW), 'format');
    assert.throws(() => checkKeyedPan('6222020000000016'), (e: unknown) => isPosError(e) && e.code === 'E-OPR-16' && !e.message.includes('6222020000000016'));
  });

  it('refund date MMDD: the latest such day not after today, real, at most 180 days ago; 29 February only when the year it falls in is a leap year', () => {
    assert.equal(originalDate('1121', NOW).problem, undefined);
    assert.equal(originalDate('0526', NOW).problem, undefined, '179 days ago');
    assert.equal(originalDate('0501', NOW).problem, 'too-old');
    assert.equal(originalDate('1122', NOW).problem, 'future');
    assert.equal(originalDate('0431', NOW).problem, 'format');
    assert.equal(originalDate('0229', NOW).problem, 'format', '2026 is no leap year');
    assert.equal(originalDate('1220', Date.UTC(2027, 0, 10, 2)).problem, undefined, 'a December sale refunded in January');
    assert.equal(originalDate('0229', Date.UTC(2028, 2, 10, 2)).problem, undefined, 'leap year 2028');
    assert.throws(() => checkRefundDetails('12345678901', '1121', NOW), (e: unknown) => isPosError(e) && e.code === 'E-OPR-18');
    assert.throws(() => checkRefundDetails('123456789012', '1122', NOW), (e: unknown) => isPosError(e) && e.code === 'E-OPR-19');
  });

  it('refund date on a board west of China: a sale of this evening, dated tomorrow by the host (UTC+8), is not in the future; the day after is', () => {
    const eveningInNewYork = Date.UTC(2026, 10, 22, 1, 30); // 21 Nov 20:30 at UTC-5, 22 Nov 09:30 in China
    assert.equal(originalDate('1122', eveningInNewYork, -300).problem, undefined);
    assert.equal(originalDate('1121', eveningInNewYork, -300).problem, undefined);
    assert.equal(originalDate('1123', eveningInNewYork, -300).problem, 'future');
    // East of China the terminal's own date is the later one.
    assert.equal(originalDate('1122', Date.UTC(2026, 10, 21, 13), 14 * 60).problem, undefined, 'Kiritimati, 22 Nov 03:00');
  });

  it('operators: only an administrator resets a password; a reset unlocks; the change checks the shape before the old password', async () => {
    const r = await rig();
    try {
      await withOperators(r);
      const ops = r.terminal.operators;
      await assert.rejects(ops.resetPassword('001', '5555', '5555', SUPERVISOR), (e: unknown) => isPosError(e) && e.code === 'E-OPR-04');
      for (let i = 0; i < PASSWORD_ATTEMPTS_MAX; i++) await ops.login('001', '0000').catch(() => undefined);
      assert.equal(ops.get('001')?.locked, true);
      await assert.rejects(ops.resetPassword('001', '5555', '5555', ADMIN), (e: unknown) => isPosError(e) && e.code === 'E-OPR-25');
      assert.equal(ops.get('001')?.locked, true, 'a refused reset changes nothing');
      await ops.resetPassword('001', '5185', '5185', ADMIN);
      assert.equal(ops.get('001')?.locked, false);
      assert.equal((await ops.login('001', '5185')).operator, '001');
      // A refused shape or a weak one costs no attempt, even with a wrong old password.
      await assert.rejects(ops.changePassword('001', '0000', '12', '12'), (e: unknown) => isPosError(e) && e.code === 'E-OPR-13');
      await assert.rejects(ops.changePassword('001', '0000', '9876', '9876'), (e: unknown) => isPosError(e) && e.code === 'E-OPR-25');
      assert.equal(ops.get('001')?.failedAttempts, 0);
      await ops.changePassword('001', '5185', '6626', '6626');
      assert.equal((await ops.login('001', '6626')).role, 'cashier');
    } finally {
      await r.close();
    }
  });

  it('weak passwords: one digit repeated or a run up or down by one; anything else of 4..12 digits is not', () => {
    for (const weak of ['0000', '1111', '888888', '1234', '4321', '0123456789', '987654', '23456']) assert.ok(passwordWeak(weak), weak);
    for (const ok of ['1357', '2580', '1123', '1212', '0987', '13579', '5185', '20461', '123456780']) assert.ok(!passwordWeak(ok), ok);
  });

  it('operators added and deleted on the terminal: number 001..099 not in use, a role, the password twice; never the manager, the one logged in or the last administrator; journaled and replayed', async () => {
    const r = await rig();
    try {
      await withOperators(r); // 099 administrator, 001 cashier, 002 supervisor
      const ops = r.terminal.operators;
      const code = (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (e: unknown) => (isPosError(e) ? e.code : String(e)));
      assert.equal(await code(ops.add('005', 'cashier', '2580', '2580', SUPERVISOR)), 'E-OPR-04');
      assert.equal(await code(ops.add('000', 'cashier', '2580', '2580', ADMIN)), 'E-OPR-29', '000 is the service administrator\'s');
      assert.equal(await code(ops.add('100', 'cashier', '2580', '2580', ADMIN)), 'E-OPR-29');
      assert.equal(await code(ops.add('5', 'cashier', '2580', '2580', ADMIN)), 'E-OPR-29');
      assert.equal(await code(ops.add('001', 'cashier', '2580', '2580', ADMIN)), 'E-OPR-24');
      assert.equal(await code(ops.add('005', 'cashier', '258', '258', ADMIN)), 'E-OPR-13');
      assert.equal(await code(ops.add('005', 'cashier', '2580', '2850', ADMIN)), 'E-OPR-15');
      assert.equal(await code(ops.add('005', 'cashier', '3333', '3333', ADMIN)), 'E-OPR-25');
      assert.equal(ops.get('005'), undefined, 'nothing written for a refusal');
      await ops.add('005', 'supervisor', '2580', '2580', ADMIN);
      assert.equal((await ops.login('005', '2580')).role, 'supervisor', 'hashed as the login checks it');
      await ops.add('098', 'administrator', '7391', '7391', ADMIN);

      assert.equal(await code(ops.remove('005', SUPERVISOR)), 'E-OPR-04');
      assert.equal(await code(ops.remove('055', ADMIN)), 'E-OPR-05');
      assert.equal(await code(ops.remove('099', ADMIN)), 'E-OPR-26', 'not yourself');
      assert.equal(await code(ops.remove('001', ADMIN, ['001'])), 'E-OPR-26', 'not the operator logged in');
      await ops.remove('099', { operator: '098', role: 'administrator' });
      assert.equal(await code(ops.remove('098', { operator: '097', role: 'administrator' })), 'E-OPR-27', 'not the last administrator');
      await ops.remove('005', { operator: '098', role: 'administrator' });
      assert.equal(await code(ops.login('005', '2580')), 'E-OPR-05');
      // The number is free again; the list is what replay gives.
      await ops.add('005', 'cashier', '3141', '3141', { operator: '098', role: 'administrator' });
      const replayed = Store.load(r.journal).state.operators;
      assert.deepEqual([...replayed.values()].map((o) => `${o.number}:${o.role}`).sort(), ['001:cashier', '002:supervisor', '005:cashier', '098:administrator']);
      const payloads = JSON.stringify([...r.journal.records()].filter((x) => x.type === RecordType.operator).map((x) => x.payload));
      for (const secret of ['2580', '7391', '3141']) assert.ok(!payloads.includes(secret), `password ${secret} in the journal`);

      // The list is full at OPERATORS_MAX (reachable where 000 is in the journal, as on the simulator board).
      await ops.create('000', 'administrator', '9999', ADMIN);
      for (let n = 1; n <= 98; n++) if (!ops.get(String(n).padStart(3, '0'))) await ops.add(String(n).padStart(3, '0'), 'cashier', '2580', '2580', ADMIN);
      assert.equal(ops.list().length, OPERATORS_MAX);
      assert.equal(await code(ops.add('099', 'cashier', '2580', '2580', ADMIN)), 'E-OPR-28');
    } finally {
      await r.close();
    }
  });
});
