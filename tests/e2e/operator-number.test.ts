/**
 * Operator numbers as people type and read them: "01" at the login prints as 01 on the receipt
 * (the journal and field 63 hold 001), and `pos recovery ... --operator 00`, as the README gives
 * the administrator, is taken (every command with --operator shares adminCredentials).
 */
import { strict as assert } from 'node:assert';
import { receiptJob } from '../../runtime/receipt';
import type { TxnView } from '../../runtime/txn/engine';
import { operatorNumber, operatorShown } from '../../runtime/operators';
import { adminCredentials } from '../../boot/recovery-cli';
import { UsageError } from '../../boot/cli';

const SALE: TxnView = {
  kind: 'sale', stan: 42, batch: 1, amountFen: 1234, panMasked: '622202*********0128', entryMode: '021', status: 'approved',
  rrn: '123456789012', authCode: '654321', operator: '001', atMs: Date.UTC(2030, 0, 2, 3, 4, 5), printed: [], hasSignature: false,
};

function receiptText(lang: 'zh' | 'en'): string {
  const job = receiptJob(SALE, { lang, copy: 'merchant', reprint: false, merchantName: 'DEMO', tid: '12345678', mid: '123456789012345', printedAtMs: SALE.atMs });
  return job.blocks.flatMap((b) => (b.kind === 'text' ? [b.text] : [])).join('\n');
}

function ctx(flags: Record<string, string>): Parameters<typeof adminCredentials>[0] {
  return { args: [], flags: new Map(Object.entries(flags)), out: () => undefined, err: () => undefined };
}

describe('e2e: operator numbers as typed at the login', () => {
  it('operatorZeroOnePrintsAs01OnTheReceiptInBothLanguages', () => {
    assert.match(receiptText('en'), /OPERATOR: 01(\s|$)/);
    assert.match(receiptText('zh'), /操作员: 01(\s|$)/);
    assert.ok(!/OPERATOR: 001/.test(receiptText('en')));
  });

  it('theCliTakesOperator00AsTheReadmeGivesItAndEveryOtherTypedForm', () => {
    process.env.POS_ADMIN_PASSWORD = '123456';
    try {
      assert.equal(adminCredentials(ctx({ operator: '00' })).operator, '000');
      assert.equal(adminCredentials(ctx({ operator: '000' })).operator, '000');
      assert.equal(adminCredentials(ctx({ operator: '1' })).operator, '001');
      assert.equal(adminCredentials(ctx({ operator: '99' })).operator, '099');
      for (const bad of ['0x1', '1234', 'admin']) {
        assert.throws(() => adminCredentials(ctx({ operator: bad })), (e: unknown) => e instanceof UsageError && e.message.includes('1 to 3 digits'), bad);
      }
    } finally {
      delete process.env.POS_ADMIN_PASSWORD;
    }
  });

  it('typedAndShownNumbersRoundTrip', () => {
    for (const typed of ['00', '01', '99']) assert.equal(operatorShown(operatorNumber(typed) ?? ''), typed);
    assert.equal(operatorShown('123'), '123');
  });
});
