import { strict as assert } from 'node:assert';
import { parseCommand, receiptDocument, topicsFor, statusKey, StatusInput } from './protocol';
import type { TxnView } from '../txn/engine';
import { checkParamsPatch } from './params';
import { Outbox } from './outbox';
import { checkMgmtConfig } from './client';
import { isPosError } from '../../common/errors';

const code = (f: () => unknown): string | undefined => {
  try { f(); } catch (e) { return isPosError(e) ? e.code : `not a PosError: ${String(e)}`; }
  return undefined;
};

describe('runtime/mgmt: commands, parameters, offline queue, configuration', () => {
  it('parseCommandReadsAGoodCommandAndRefusesEveryBadShapeWithoutThrowing', () => {
    const ok = parseCommand(Buffer.from('{"id":"c-1","cmd":"set-params","args":{"reversalTries":3},"expiresAtMs":5}'));
    assert.ok(ok.ok);
    assert.deepEqual(ok.command, { id: 'c-1', cmd: 'set-params', args: { reversalTries: 3 }, expiresAtMs: 5 });
    const cases: [string, string, string | null][] = [
      ['{', 'E-MGT-01', null], ['"x"', 'E-MGT-01', null], ['{"cmd":"status"}', 'E-MGT-01', null],
      ['{"id":"x","cmd":7}', 'E-MGT-01', 'x'], ['{"id":"x","cmd":"fly"}', 'E-MGT-02', 'x'],
      ['{"id":"x","cmd":"status","args":"a"}', 'E-MGT-01', 'x'], ['{"id":"x","cmd":"status","expiresAtMs":"soon"}', 'E-MGT-01', 'x'],
      [`{"id":"${'a'.repeat(65)}","cmd":"status"}`, 'E-MGT-01', null],
    ];
    for (const [text, want, id] of cases) {
      const p = parseCommand(Buffer.from(text));
      assert.ok(!p.ok, text);
      assert.equal(p.error.code, want, text);
      assert.equal(p.id, id, text);
    }
    assert.ok(!parseCommand(Buffer.alloc(16 * 1024 + 1, 0x20)).ok);
  });

  it('checkParamsPatchUsesTheDownloadRangesAndNamesTheBadKey', () => {
    assert.deepEqual(checkParamsPatch({ responseTimeoutS: 10, offlineAllowed: false, merchantName: ' 小店 ' }), { responseTimeoutS: 10, offlineAllowed: false, merchantName: '小店' });
    // A 4-byte GB18030 character (U+20000) is text GB18030 holds; a lone surrogate is not.
    assert.deepEqual(checkParamsPatch({ merchantName: '\u{20000}店' }), { merchantName: '\u{20000}店' });
    for (const bad of [{}, { responseTimeoutS: 9 }, { responseTimeoutS: 121 }, { reversalTries: 1.5 }, { amountFenMax: 0 }, { qrAllowed: 'yes' }, { merchantName: '店'.repeat(21) }, { merchantName: 'a\nb' }, { merchantName: 'a\ud800' }, { colour: 'red' }]) {
      assert.equal(code(() => checkParamsPatch(bad)), 'E-MGT-03', JSON.stringify(bad));
    }
    assert.match(String((() => { try { checkParamsPatch({ colour: 1 }); } catch (e) { return e; } })()), /colour/);
  });

  it('outboxDropsTheOldestByCountAndByBytesAndCountsThem', () => {
    const o = new Outbox({ messagesMax: 3, bytesMax: 9 });
    const m = (p: string) => ({ topic: 't', payload: p, qos: 1 as const, what: p });
    assert.deepEqual(o.push(m('aa')), []);
    o.push(m('bb')); o.push(m('cc'));
    assert.deepEqual(o.push(m('dd')).map((x) => x.what), ['aa']);
    assert.deepEqual(o.push(m('eeeeee')).map((x) => x.what), ['bb', 'cc']); // 4 > 3 messages, then 10 > 9 bytes
    assert.equal(o.dropped, 3);
    assert.deepEqual(o.drain().map((x) => x.what), ['dd', 'eeeeee']);
    assert.equal(o.length, 0);
  });

  it('statusKeyIgnoresUptimeOnly', () => {
    const s: StatusInput = { version: '1', batteryPercent: 50, storageFreeKiB: 1, network: {}, lastErrors: [], anomalies: [], sellingLocked: false, versionFlagged: false, flaggedVersions: [], state: 'idle', uptimeS: 1 };
    const q = (droppedMessages: number, receiptsQueued?: number): { droppedMessages: number; receiptsQueued?: number } => ({ droppedMessages, ...(receiptsQueued !== undefined ? { receiptsQueued } : {}) });
    assert.equal(statusKey(s, q(0)), statusKey({ ...s, uptimeS: 99 }, q(0)));
    assert.notEqual(statusKey(s, q(0)), statusKey({ ...s, batteryPercent: 49 }, q(0)));
    assert.notEqual(statusKey(s, q(0)), statusKey(s, q(1)));
    assert.notEqual(statusKey(s, q(0, 0)), statusKey(s, q(0, 1)), 'an e-receipt queued or sent is a change');
  });

  it('configurationIsRefusedNamingTheFieldWhenItCouldNotWorkOrWouldNotBeSafe', () => {
    const good = { url: 'mqtts://mgmt.example.com:8883', serial: 'SN-0001', username: 'SN-0001', password: 'p', caPem: 'PEM' };
    assert.equal(code(() => checkMgmtConfig(good)), undefined);
    assert.equal(code(() => checkMgmtConfig({ ...good, caPem: undefined })), 'E-BRD-01');
    assert.equal(code(() => checkMgmtConfig({ ...good, url: 'mqtt://127.0.0.1:1883' })), 'E-BRD-01');
    assert.equal(code(() => checkMgmtConfig({ ...good, url: 'mqtt://127.0.0.1:1883', allowPlain: true })), undefined);
    assert.equal(code(() => checkMgmtConfig({ ...good, url: 'http://x' })), 'E-BRD-01');
    assert.equal(code(() => checkMgmtConfig({ ...good, serial: 'a/b' })), 'E-BRD-01');
    assert.equal(code(() => checkMgmtConfig({ ...good, certPem: 'C' })), 'E-BRD-01');
    assert.equal(code(() => checkMgmtConfig({ ...good, heartbeatMs: 0 })), 'E-BRD-01');
    assert.equal(code(() => topicsFor('SN/#')), 'E-BRD-01');
    assert.equal(topicsFor('SN-0001').cmd, 'pos/SN-0001/cmd');
  });

  it('receiptDocumentCarriesWhatTheSlipPrintsAndRefusesAnUnmaskedCard', () => {
    const t: TxnView = {
      kind: 'sale', stan: 12, batch: 1, amountFen: 123456, panMasked: '622202*********0123', entryMode: '021', status: 'approved', responseCode: '00',
      rrn: '000000000042', authCode: '000042', hostDate: '1121', hostTime: '103015', operator: '01', atMs: 5, printed: [], hasSignature: false,
    };
    const doc = receiptDocument(t, { tid: '12345678', mid: '123456789012345', merchantName: 'M', url: 'https://r.example.com/r?tid=12345678' });
    assert.deepEqual(doc, {
      v: 1, id: '12345678-000001-000012', tid: '12345678', mid: '123456789012345', merchantName: 'M', kind: 'sale', amountFen: 123456, currency: 'CNY', batch: 1, stan: 12,
      rrn: '000000000042', authCode: '000042', hostDate: '1121', hostTime: '103015', atMs: 5, panMasked: '622202*********0123', entryMode: '021',
      url: 'https://r.example.com/r?tid=12345678',
    });
    assert.equal(code(() => receiptDocument({ ...t, panMasked: '6222021234567890123' }, { tid: '1', mid: '2', merchantName: 'M' })), 'E-SYS-99');
    const qr = receiptDocument({ ...t, kind: 'qrSale', panMasked: '', qr: { wallet: 'WX', orderNo: 'O1', payerMasked: '138****0000', codeLast4: '1234' } }, { tid: '1', mid: '2', merchantName: 'M' });
    assert.deepEqual(qr.qr, { wallet: 'WX', orderNo: 'O1', payerMasked: '138****0000' }, 'the payment code\'s digits stay on the slip only');
    assert.equal(qr.panMasked, undefined);
    assert.equal(topicsFor('SN-0001').receipt, 'pos/SN-0001/receipt');
  });
});
