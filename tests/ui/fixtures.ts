/**
 * Displays every UI test renders on, and sample data for every state of ui-lcd/screens.ts.
 */
import type { DisplayCapabilities } from '../../hal/display';
import type { StateName, ScreenData } from '../../ui-lcd/screens';

export const DISPLAYS: ReadonlyArray<{ readonly name: string; readonly caps: DisplayCapabilities }> = [
  { name: '16x2', caps: { kind: 'text', cols: 16, rows: 2 } },
  { name: '20x4', caps: { kind: 'text', cols: 20, rows: 4 } },
  { name: '128x64', caps: { kind: 'pixels', width: 128, height: 64 } },
];

/** 2025-11-21 10:30 in China (UTC+8). */
export const NOW_MS = Date.UTC(2025, 10, 21, 2, 30);
export const PAN = '6228480402564890018';

type Sample<K extends StateName> = { readonly variant: string; readonly data: Partial<ScreenData[K]> };
export type Samples = { readonly [K in StateName]: ReadonlyArray<Sample<K>> };

export const SAMPLES: Samples = {
  boot: [{ variant: 'journal', data: { step: 'journal', stepIndex: 2, stepCount: 5 } }],
  recovery: [
    { variant: 'reason', data: { selected: 1, reasonCode: 'E-STO-05' } },
    { variant: 'reset-held', data: { selected: 0, resetHeld: true } },
  ],
  restored: [
    { variant: 'reversed', data: { transaction: 'sale', outcome: 'reversed' } },
    { variant: 'settlementNotFinished', data: { transaction: 'settlement', outcome: 'notFinished' } },
    { variant: 'qrVoided', data: { transaction: 'qr', outcome: 'qrVoided' } },
  ],
  login: [
    { variant: 'operator', data: { field: 'operator', operator: '0' } },
    { variant: 'password-wrong', data: { field: 'password', operator: '01', passwordLength: 3, attemptsLeft: 2 } },
    { variant: 'recovery-administrator', data: { field: 'operator', operator: '', mode: 'recovery' } },
  ],
  signOn: [{ variant: 'attempt2', data: { attempt: 2, attemptMax: 3 } }],
  idle: [
    { variant: 'online', data: { merchantName: { en: 'ZHANG SAN STORE', zh: '张三便利店' }, nowMs: NOW_MS, status: { batteryPercent: 85, network: 'up', host: 'online', paper: 'ok' } } },
    { variant: 'offline-charging', data: { merchantName: { en: 'DEMO MERCHANT', zh: '演示商户' }, nowMs: NOW_MS, status: { batteryPercent: 12, charging: true, network: 'down', paper: 'out' } } },
  ],
  mainMenu: [{ variant: 'settlement', data: { selected: 5 } }],
  saleAmount: [
    { variant: '12.34', data: { amountFen: 1234 } },
    { variant: 'refused-max', data: { amountFen: 9_999_999, refused: 'max' } },
  ],
  refundAmount: [{ variant: '5.00', data: { amountFen: 500 } }],
  refundTrace: [
    { variant: 'partial', data: { digits: '42' } },
    { variant: 'not-found', data: { digits: '000042', refused: 'not-found' } },
  ],
  refundReference: [
    { variant: 'partial', data: { digits: '123456' } },
    { variant: 'from-journal', data: { digits: '123456789012', fromJournal: true } },
  ],
  refundDate: [
    { variant: 'from-journal', data: { digits: '1121', fromJournal: true } },
    { variant: 'future', data: { digits: '1231', refused: 'date-future' } },
  ],
  keyedCard: [
    { variant: 'pan-typing', data: { stage: 'pan', digits: '62220212345678901', amountFen: 1234, transaction: 'sale' } },
    { variant: 'pan-luhn', data: { stage: 'pan', digits: '6222020000000016', transaction: 'sale', refused: 'luhn' } },
    { variant: 'expiry', data: { stage: 'expiry', digits: '12', pan: PAN, amountFen: 1234, transaction: 'sale' } },
    { variant: 'expired', data: { stage: 'expiry', digits: '0124', pan: PAN, transaction: 'refund', refused: 'expired' } },
  ],
  password: [
    { variant: 'change-old', data: { mode: 'change', stage: 'old', length: 4 } },
    { variant: 'change-repeat', data: { mode: 'change', stage: 'repeat', length: 2 } },
    { variant: 'reset-new-working', data: { mode: 'reset', stage: 'repeat', length: 6, operator: '01', working: true } },
    { variant: 'add-new', data: { mode: 'add', stage: 'new', length: 3, operator: '05', role: 'supervisor' } },
  ],
  operators: [{ variant: 'unlock', data: { selected: 1 } }],
  operatorNumber: [
    { variant: 'reset', data: { action: 'reset', digits: '0' } },
    { variant: 'unlock-too-short', data: { action: 'unlock', digits: '', refused: 'too-short' } },
    { variant: 'add-in-use', data: { action: 'add', digits: '01', refused: 'in-use' } },
    { variant: 'add-range', data: { action: 'add', digits: '00', refused: 'range' } },
    { variant: 'delete-unknown', data: { action: 'delete', digits: '42', refused: 'unknown' } },
  ],
  operatorRole: [{ variant: 'supervisor', data: { operator: '05', selected: 1 } }],
  operatorConfirm: [{ variant: 'cashier', data: { operator: '05', role: 'cashier' } }],
  operatorList: [{ variant: 'four', data: { entries: [
    { operator: '00', role: 'administrator', locked: false }, { operator: '01', role: 'cashier', locked: false },
    { operator: '05', role: 'cashier', locked: true }, { operator: '99', role: 'supervisor', locked: false },
  ] } }],
  operatorDone: [
    { variant: 'added', data: { action: 'added', operator: '05' } },
    { variant: 'deleted', data: { action: 'deleted', operator: '05' } },
    { variant: 'changed', data: { action: 'changed', operator: '01' } },
    { variant: 'reset', data: { action: 'reset', operator: '01' } },
    { variant: 'unlocked', data: { action: 'unlocked', operator: '99' } },
  ],
  presentCard: [
    { variant: 'all', data: { transaction: 'sale', amountFen: 1234 } },
    { variant: 'insert', data: { transaction: 'sale', amountFen: 1234, methods: ['insert'] } },
    // The stripe given up after unreadable swipes (runtime/txn/swipe-failures.ts): chip or tap.
    { variant: 'insert-or-tap', data: { transaction: 'sale', amountFen: 1234, methods: ['insert', 'tap'] } },
    { variant: 'keyed-allowed', data: { transaction: 'refund', amountFen: 500, keyed: true } },
  ],
  pin: [{ variant: '4digits', data: { amountFen: 1234, pan: PAN, pinLength: 4 } }],
  processing: [{ variant: 'receiving', data: { transaction: 'sale', step: 'receiving' } }],
  approved: [
    { variant: 'sale', data: { transaction: 'sale', amountFen: 1234, authCode: '123456', trace: '000042' } },
    { variant: 'offline', data: { transaction: 'sale', amountFen: 15000, authCode: 'OF0042', trace: '000042', offline: true } },
    { variant: 'link-4g', data: { transaction: 'sale', amountFen: 1234, authCode: '123456', trace: '000042', link: 'modem0' } },
  ],
  declined: [
    { variant: '51', data: { transaction: 'sale', responseCode: '51' } },
    { variant: 'unknown-Q1', data: { transaction: 'sale', responseCode: 'Q1' } },
  ],
  printing: [{ variant: 'customer', data: { copy: 'customer' } }],
  customerCopy: [{ variant: 'yes', data: { selected: 0 } }],
  signature: [
    { variant: 'plain', data: {} },
    { variant: 'pad', data: { pad: true } },
    { variant: 'pad-signed', data: { pad: true, strokes: 3 } },
  ],
  duplicateWarning: [{ variant: 'card', data: { amountFen: 12_000, trace: '000123', pan: '6222021234567890123' } }],
  voidTrace: [{ variant: 'partial', data: { digits: '42' } }],
  voidConfirm: [
    { variant: 'sale', data: { trace: '000042', amountFen: 1234, pan: PAN } },
    { variant: 'preAuthVoid', data: { trace: '000017', amountFen: 50000, pan: PAN, transaction: 'preAuthVoid' } },
    { variant: 'completionVoid', data: { trace: '000018', amountFen: 57500, pan: PAN, transaction: 'completionVoid' } },
  ],
  txnAmount: [
    { variant: 'preAuth', data: { transaction: 'preAuth', amountFen: 50000, amountFenMax: 5_000_000 } },
    { variant: 'completionOver115', data: { transaction: 'completion', amountFen: 57600, amountFenMax: 5_000_000, maxFen: 57500, refused: 'max' } },
  ],
  preAuthOriginal: [
    { variant: 'trace', data: { transaction: 'completion', stage: 'trace', digits: '17', amountFen: 0 } },
    { variant: 'authCode', data: { transaction: 'preAuthVoid', stage: 'authCode', digits: '1234', amountFen: 0 } },
    { variant: 'dateRefused', data: { transaction: 'completion', stage: 'date', digits: '1345', amountFen: 0, refused: 'date' } },
    { variant: 'amount', data: { transaction: 'preAuthVoid', stage: 'amount', digits: '', amountFen: 50000 } },
    { variant: 'completionVoidTrace', data: { transaction: 'completionVoid', stage: 'trace', digits: '', amountFen: 0 } },
  ],
  preAuthMenu: [{ variant: 'first', data: { selected: 0 } }, { variant: 'last', data: { selected: 3 } }],
  qrMenu: [{ variant: 'first', data: { selected: 0 } }],
  qrMode: [{ variant: 'scan', data: { selected: 0, amountFen: 12_345 } }, { variant: 'show', data: { selected: 1, amountFen: 500 } }],
  qrScan: [
    { variant: 'scanning', data: { amountFen: 12_345 } },
    { variant: 'keyed', data: { amountFen: 12_345, keyed: true, digits: '6212345678901234' } },
    { variant: 'keyed-short', data: { amountFen: 100, keyed: true, digits: '621234', refused: 'too-short' } },
  ],
  qrWait: [
    { variant: 'scan', data: { transaction: 'qr', amountFen: 12_345, secondsLeft: 57 } },
    { variant: 'order', data: { transaction: 'qr', amountFen: 2_500, secondsLeft: 45, content: 'https://qr.sim/SIMQR000000000001' } },
    { variant: 'printed', data: { transaction: 'qr', amountFen: 2_500, secondsLeft: 60, content: 'https://qr.sim/SIMQR000000000001', printed: true } },
  ],
  hostTask: [
    { variant: 'running', data: { task: 'params', state: 'running' } },
    { variant: 'paramsOk', data: { task: 'params', state: 'ok', code: '00' } },
    { variant: 'statusRefused', data: { task: 'status', state: 'refused', code: '30' } },
    { variant: 'echoOk', data: { task: 'echo', state: 'ok', code: '00', roundTripMs: 42 } },
    { variant: 'echoFailed', data: { task: 'echo', state: 'failed', code: 'E-NET-05' } },
  ],
  offlinePending: [{ variant: 'two', data: { count: 2, selected: 0 } }, { variant: 'giveUp', data: { count: 11, selected: 1 } }, { variant: 'sentNoAnswer', data: { count: 2, selected: 1, unknown: 1 } }],
  amountConfirm: [{ variant: 'large-sale', data: { transaction: 'sale', amountFen: 150_000 } }],
  balanceResult: [{ variant: 'balance', data: { balanceFen: 123456 } }],
  reprint: [{ variant: 'last', data: { selected: 0 } }],
  reprintTrace: [{ variant: 'too-short', data: { digits: '', refused: 'too-short' } }],
  reprintCopy: [
    { variant: 'open-batch', data: { selected: 0, trace: '000123', batch: '000001', customerPrinted: true } },
    { variant: 'customer-never-printed', data: { selected: 1, trace: '000123', batch: '000001', customerPrinted: false } },
    { variant: 'settled-batch', data: { selected: 0, trace: '000042', batch: '000001', settled: true, customerPrinted: false } },
  ],
  customerCopyOffer: [{ variant: 'one', data: { trace: '000123' } }, { variant: 'more', data: { trace: '000123', more: 2 } }],
  settlement: [{ variant: 'upload', data: { step: 'upload', stepIndex: 1, stepCount: 4 } }],
  settlementConfirm: [
    { variant: 'sales-and-refund', data: { saleCount: 15, saleFen: 123400, refundCount: 1, refundFen: 1250 } },
    { variant: 'empty', data: { saleCount: 0, saleFen: 0, refundCount: 0, refundFen: 0 } },
  ],
  settlementResult: [{ variant: 'balanced', data: { balanced: true, batch: '000007', saleCount: 15, saleFen: 123400, refundCount: 1, refundFen: 1250 } }],
  signOff: [{ variant: 'done', data: { done: true } }],
  lowBattery: [
    { variant: 'low', data: { percent: 12, charging: false, critical: false } },
    { variant: 'critical', data: { percent: 4, charging: false, critical: true } },
  ],
  paperOut: [
    { variant: 'customer', data: { copy: 'customer' } },
    { variant: 'eReceipt', data: { copy: 'customer', eReceipt: 'https://receipts.example.com/r?tid=12345678&b=000001&s=000007&rrn=000000000007&amt=1234' } },
    // Another error than paper out: its code as the title, its cause read whole in the body.
    { variant: 'batteryTooLowToPrint', data: { copy: 'merchant', code: 'E-PWR-03' } },
  ],
  storageFailure: [{ variant: 'io', data: { code: 'E-STO-03', selected: 0 } }],
  hostUnreachable: [
    { variant: 'timeout', data: { reason: 'timeout', network: true, cause: { en: 'Host did not answer', zh: '主机无应答' }, step: { en: 'Check the network', zh: '检查网络' }, reversalKept: true } },
    {
      variant: 'keys',
      data: { reason: 'no-answer', network: false, cause: { en: 'Key check values do not match', zh: '密钥校验值不符' }, step: { en: 'Keys invalid', zh: '密钥无效' } },
    },
    {
      variant: 'refused03',
      data: { reason: 'no-answer', network: false, cause: { en: 'Sign-on refused', zh: '签到被拒绝' }, hostCode: { en: '03 Invalid merchant', zh: '03 无效商户' }, step: { en: 'Check terminal/merchant id', zh: '检查终端号和商户号' } },
    },
    {
      variant: 'modem-sim-pin',
      data: { reason: 'no-answer', network: true, modem: { sim: 'pin-required', pinAttemptsLeft: 3, rssiDbm: -75, bars: 4, tech: 'LTE', registration: 'not-registered', apn: 'cmnet', fault: 'E-NET-09' } },
    },
    {
      variant: 'modem-ok',
      data: { reason: 'timeout', network: true, modem: { sim: 'ready', rssiDbm: -75, bars: 4, tech: 'LTE', registration: 'home', operator: 'CHINA MOBILE', apn: 'cmnet' } },
    },
  ],
  simPin: [
    { variant: 'typing', data: { digits: 4, attemptsLeft: 3 } },
    { variant: 'refused', data: { digits: 0, attemptsLeft: 2, refused: 'E-NET-09' } },
  ],
  diagnostics: [{
    variant: 'results',
    data: { selected: 2, results: [{ check: 'battery', state: 'ok' }, { check: 'storage', state: 'ok' }, { check: 'printer', state: 'fail', code: 'E-PRN-01' }, { check: 'reader', state: 'running' }] },
  }],
  settings: [{ variant: 'language', data: { selected: 0 } }],
  language: [{ variant: 'zh', data: { selected: 0, current: 'zh-CN' } }],
  factoryTest: [
    { variant: 'display', data: { test: 'display' } },
    { variant: 'keypad', data: { test: 'keypad', keysLeft: ['7', 'OK', 'FUNC'] } },
    { variant: 'keypad-many', data: { test: 'keypad', keysLeft: ['1', '2', '3', '4', '5', '6', '7', '8', '9', '0', 'UP', 'DOWN', 'MENU', 'FUNC', 'OK', 'CANCEL', 'CLEAR', 'BACK'] } },
  ],
  error: [
    { variant: 'paper-out', data: { code: 'E-PRN-01', page: 0 } },
    { variant: 'sto-io-page1', data: { code: 'E-STO-03', page: 1 } },
  ],
};
