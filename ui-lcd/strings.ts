/**
 * Every UI string, in zh-CN and en, by key. Error causes and steps live in common/errors.ts and
 * response-code texts in runtime/host/response-codes.ts; everything else a screen says is here.
 *
 * Width rules (checked by tests/ui/strings.test.ts, so a new string cannot overflow):
 * - `title.*`: en ≤ 16 characters, zh ≤ 6 characters (a page tag or status icons share the row).
 * - `menu.*`: en ≤ 13 characters (">1 " prefix on a 16-column LCD), zh ≤ 7 characters.
 * - `footer.*`: en ≤ 16 characters (128-px row of 8-px glyphs), zh ≤ 8 characters.
 * - body strings (`msg.*`) wrap and page, but en must be printable ASCII without '\' (HD44780 ROM
 *   A00 has ¥ there), and every zh character must be in the generated font subset.
 * `{name}` placeholders are filled by `t(key, args)`.
 *
 * The locale is not global state here: screens resolve text at render time for the locale they
 * are given (`LocaleSetting` holds the operator's choice and tells listeners when it changes).
 */
import type { Amount, InTurns, Joined, LocalText, Locale, Txt } from './screen';
import { yuan } from '../common/money';

function s(en: string, zh: string): LocalText {
  return { en, zh };
}

export const STRINGS = {
  // ---- titles
  'title.boot': s('Starting', '正在启动'),
  'title.recovery': s('Recovery', '恢复模式'),
  'title.login': s('Operator login', '操作员登录'),
  'title.supervisorApproval': s('Supervisor auth', '主管授权'),
  'title.signOn': s('Sign-on', '签到'),
  'title.menu': s('Main menu', '主菜单'),
  'title.sale': s('Sale', '消费'),
  'title.void': s('Void', '撤销'),
  'title.refund': s('Refund', '退货'),
  'title.balance': s('Balance', '余额查询'),
  'title.preAuth': s('Pre-auth', '预授权'),
  'title.preAuthVoid': s('Pre-auth void', '预授权撤销'),
  'title.completion': s('Completion', '预授权完成'),
  'title.completionVoid': s('Compl. void', '完成撤销'),
  'title.qr': s('QR payment', '扫码收款'),
  'title.qrVoid': s('QR void', '扫码撤销'),
  'title.qrRefund': s('QR refund', '扫码退货'),
  'title.reprint': s('Reprint', '重打印'),
  'title.settlement': s('Settlement', '结算'),
  'title.signOff': s('Sign-off', '签退'),
  'title.pin': s('Enter PIN', '请输入密码'),
  'title.processing': s('Processing', '处理中'),
  'title.approved': s('Approved', '交易成功'),
  'title.declined': s('Declined', '交易失败'),
  'title.printing': s('Printing', '正在打印'),
  'title.customerCopy': s('Customer copy?', '打印客户联?'),
  'title.reprintCopy': s('Which copy?', '重打哪一联'),
  'title.copyNotPrinted': s('No customer copy', '客户联未打印'),
  'title.signature': s('Signature', '持卡人签名'),
  'title.lowBattery': s('Battery low', '电量不足'),
  'title.batteryCritical': s('Battery empty', '电量严重不足'),
  'title.paperOut': s('Paper out', '打印机缺纸'),
  'title.storage': s('Storage fault', '存储故障'),
  'title.hostUnreachable': s('Host down', '主机无应答'),
  'title.signOnFailed': s('Sign-on failed', '签到失败'),
  'title.diagnostics': s('Diagnostics', '自检诊断'),
  'title.settings': s('Settings', '设置'),
  'title.language': s('Language', '语言'),
  'title.factory': s('Factory test', '工厂测试'),
  'title.displayTest': s('Display test', '显示测试'),
  'title.keypadTest': s('Keypad test', '按键测试'),
  'title.restored': s('Power back', '断电恢复'),
  'title.duplicate': s('Duplicate?', '重复交易？'),
  'title.passphrase': s('Passphrase', '备份口令'),
  'title.passphraseAgain': s('Passphrase again', '再次输入口令'),
  'title.confirm': s('Confirm', '请确认'),
  'title.result': s('Result', '结果'),
  'title.failed': s('Failed', '失败'),
  'title.restore': s('Restore', '恢复数据'),
  'title.pendingWork': s('Pending work', '未完成业务'),
  'title.system': s('System', '系统'),
  'title.network': s('Network', '网络设置'),
  'title.chooseFile': s('Pick a file', '选择文件'),
  'title.readerTest': s('Reader test', '读卡测试'),
  'title.touchTest': s('Touch test', '触摸测试'),
  'title.scannerTest': s('Scanner test', '读码器测试'),
  'title.password': s('Change password', '修改密码'),
  'title.resetPassword': s('Reset password', '重置密码'),
  'title.operators': s('Operators', '操作员管理'),
  'title.unlock': s('Unlock operator', '解锁操作员'),
  'title.addOperator': s('Add operator', '增加操作员'),
  'title.deleteOperator': s('Delete operator', '删除操作员'),
  'title.operatorList': s('Operator list', '操作员查询'),
  'title.keyed': s('Key in card', '手输卡号'),
  'title.confirmAmount': s('Check amount', '请核对金额'),
  'title.settleConfirm': s('Settle now?', '现在结算？'),

  // ---- menu items
  'menu.sale': s('Sale', '消费'),
  'menu.void': s('Void', '撤销'),
  'menu.refund': s('Refund', '退货'),
  'menu.balance': s('Balance', '余额查询'),
  'menu.preAuthFamily': s('Pre-auth', '预授权类'),
  'menu.preAuth': s('Pre-auth', '预授权'),
  'menu.preAuthVoid': s('Pre-auth void', '预授权撤销'),
  'menu.completion': s('Completion', '预授权完成'),
  'menu.completionVoid': s('Compl. void', '完成撤销'),
  'menu.qrFamily': s('QR pay', '扫码支付'),
  'menu.qrSale': s('QR payment', '扫码收款'),
  'menu.qrVoid': s('QR void', '扫码撤销'),
  'menu.qrRefund': s('QR refund', '扫码退货'),
  'menu.qrScan': s('Scan payer', '扫客户码'),
  'menu.qrShow': s('Show my code', '出示收款码'),
  'menu.reprint': s('Reprint', '重打印'),
  'menu.settlement': s('Settlement', '结算'),
  'menu.signOff': s('Sign-off', '签退'),
  'menu.diagnostics': s('Diagnostics', '自检诊断'),
  'menu.settings': s('Settings', '设置'),
  'menu.language': s('Language', '语言'),
  'menu.verifyJournal': s('Check journal', '校验流水'),
  'menu.exportJournal': s('Export data', '导出流水'),
  'menu.restoreBackup': s('Load backup', '从备份恢复'),
  'menu.salvage': s('Salvage data', '抢救数据'),
  'menu.factoryReset': s('Factory reset', '恢复出厂'),
  'menu.restart': s('Restart', '重启终端'),
  'menu.lastReceipt': s('Last receipt', '最后一笔'),
  'menu.byTrace': s('By trace no.', '按凭证号'),
  'menu.merchantCopy': s('Merchant copy', '商户联'),
  'menu.customerCopy': s('Customer copy', '客户联'),
  'menu.yes': s('Yes', '是'),
  'menu.no': s('No', '否'),
  'menu.chinese': s('Chinese', '中文'),
  'menu.english': s('English', 'English'),
  'menu.retry': s('Retry', '重试'),
  'menu.cancel': s('Cancel', '取消'),
  'menu.pendingWork': s('Pending work', '未完成业务'),
  'menu.system': s('System', '系统'),
  'menu.repair': s('Repair', '修复流水'),
  'menu.importBackup': s('Import backup', '导入备份'),
  'menu.resend': s('Resend', '重发未完成'),
  'menu.lastReport': s('Last report', '最后结算单'),
  'menu.network': s('Network', '网络设置'),
  'menu.networkTest': s('Test network', '网络测试'),
  'menu.version': s('Version', '软件版本'),
  'menu.applyUpdate': s('Apply update', '软件升级'),
  'menu.powerOff': s('Power off', '关机'),
  'menu.dhcp': s('DHCP', '自动获取'),
  'menu.staticIp': s('Static IP', '固定地址'),
  'menu.hostAddress': s('Host address', '主机地址'),
  'menu.password': s('Password', '修改密码'),
  'menu.operators': s('Operators', '操作员管理'),
  'menu.resetPassword': s('Set password', '重置密码'),
  'menu.unlock': s('Unlock', '解锁操作员'),
  'menu.addOperator': s('Add', '增加操作员'),
  'menu.deleteOperator': s('Delete', '删除操作员'),
  'menu.listOperators': s('List', '操作员查询'),
  'menu.myPassword': s('My password', '修改本人密码'),
  'role.cashier': s('Cashier', '操作员'),
  'role.supervisor': s('Supervisor', '主管'),
  'role.administrator': s('Administrator', '管理员'),

  // ---- footers: the next key to press
  'footer.ok': s('OK: confirm', '确认键继续'),
  'footer.okCancel': s('OK=go CANCEL=no', '确认/取消'),
  'footer.cancel': s('CANCEL: stop', '取消键退出'),
  'footer.menu': s('MENU: menu', '菜单键进入'),
  'footer.choose': s('Number or OK', '按数字或确认'),
  'footer.paged': s('UP/DOWN: more', '上下键翻页'),
  'footer.back': s('OK: back', '确认键返回'),
  'footer.retry': s('OK=retry CANCEL', '确认键重试'),
  'footer.wait': s('Please wait', '请稍候'),
  'footer.anyKey': s('Press each key', '请逐个按键'),
  'footer.keyed': s('FUNC=key in card', '功能键:手输卡号'),
  'footer.qrKeyed': s('FUNC=key code', '功能键:手输'),
  'footer.signPad': s('OK=done CLR=redo', '确认/清除=重签'),
  'footer.testPage': s('OK=test page', '确认键打印测试页'),
  'footer.testAgain': s('OK=test again', '确认键再测一次'),
  'footer.keypadStop': s('CANCEL 2x: stop', '按两次取消退出'),

  // ---- input labels
  'label.amount': s('Amount', '金额'),
  'label.operator': s('Operator no.', '操作员号'),
  'label.password': s('Password', '密码'),
  'label.pin': s('PIN', '密码'),
  'label.trace': s('Trace no.', '凭证号'),
  'label.paymentCode': s('Payment code', '付款码'),
  'label.reference': s('Reference no.', '参考号'),
  'label.passphrase': s('Digits', '数字'),
  'label.ipAddress': s('IP (12 digits)', 'IP(12位)'),
  'label.prefix': s('Prefix', '前缀'),
  'label.port': s('Port', '端口'),
  'label.oldPassword': s('Old password', '原密码'),
  'label.newPassword': s('New password', '新密码'),
  'label.repeatPassword': s('New again', '再输新密码'),
  'label.cardNumber': s('Card no.', '卡号'),
  'label.expiry': s('Expiry MMYY', '有效期MMYY'),
  'label.date': s('Date MMDD', '原交易日期MMDD'),

  // ---- notices (transient)
  'notice.amountMax': s('Max {max}', '最大{max}'),
  'notice.amountZero': s('Enter an amount', '请输入金额'),
  'notice.tooShort': s('Too short', '位数不足'),
  'notice.attemptsLeft': s('Wrong: {n} left', '错误，剩{n}次'),
  'notice.panLength': s('13 to 19 digits', '卡号13至19位'),
  'notice.luhn': s('Card no. wrong', '卡号校验错'),
  'notice.expiry': s('Not a MMYY date', '有效期格式错'),
  'notice.expired': s('Card expired', '卡已过期'),
  'notice.date': s('Not a date', '日期无效'),
  'notice.dateFuture': s('Date in future', '日期晚于今天'),
  'notice.dateOld': s('Over 180 days', '超过180天'),
  'notice.notFound': s('Not in journal', '本机无此交易'),
  // Operator numbers refused as they are typed (the machine refuses them too, with the same code).
  'notice.operatorInUse': s('E-OPR-24 in use', 'E-OPR-24 已存在'),
  'notice.operatorRange': s('E-OPR-29 01 to 99', 'E-OPR-29 应为01-99'),
  'notice.operatorUnknown': s('E-OPR-05 no such no.', 'E-OPR-05 无此号码'),
  'notice.serviceOnly': s('Service only', '仅限维护管理员'),

  // ---- body messages
  'msg.bootStep': s('{step}', '{step}'),
  'boot.selfTest': s('Self-test', '硬件自检'),
  'boot.journal': s('Checking journal', '校验流水'),
  'boot.pending': s('Pending work', '处理未完成交易'),
  'boot.network': s('Network', '连接网络'),
  'boot.ready': s('Ready', '就绪'),
  'msg.recoveryReason': s('Reason: {code}', '原因：{code}'),
  'msg.connecting': s('Connecting to host', '正在连接主机'),
  'msg.attempt': s('Attempt {n}/{max}', '第{n}/{max}次'),
  'msg.presentCard': s('Swipe/insert/tap', '请刷卡/插卡/挥卡'),
  'msg.touchQuiet': s('Do not touch the pad', '请勿触碰签名板'),
  'msg.touchDraw': s('Draw a line across the pad, then OK', '在签名板上从左到右划一条线，然后按确认'),
  'msg.touchPoints': s('{n} points read', '已读到{n}个点'),
  'msg.scannerShow': s('Show a QR code or barcode to the scanner', '请对读码器出示二维码或条码'),
  'msg.swipe': s('Swipe card', '请刷卡'),
  'msg.insert': s('Insert card', '请插卡'),
  'msg.tap': s('Tap card', '请挥卡'),
  'msg.insertOrTap': s('Insert/tap card', '请插卡或挥卡'),
  'msg.card': s('Card {pan}', '卡号{pan}'),
  'msg.step.connecting': s('Connecting', '正在连接'),
  'msg.step.sending': s('Sending', '正在发送'),
  'msg.step.receiving': s('Receiving', '正在接收'),
  'msg.auth': s('Auth code {code}', '授权码{code}'),
  'msg.trace': s('Trace {trace}', '凭证号{trace}'),
  'msg.link': s('Link: {link}', '线路 {link}'),
  'msg.responseCode': s('Code {code}', '应答码{code}'),
  'msg.copy.merchant': s('Merchant copy', '商户存根'),
  'msg.copy.customer': s('Customer copy', '持卡人存根'),
  'msg.copy.report': s('Settlement report', '结算单'),
  'msg.copy.duplicate': s('Duplicate copy', '重打印凭证'),
  'msg.signHere': s('Ask the cardholder to sign the receipt', '请持卡人在小票上签名'),
  'msg.signPad': s('Sign on the pad', '请在签名板上签名'),
  'msg.signStrokes': s('{n} strokes', '已签{n}笔'),
  'msg.signPadCancel': s('CANCEL=on paper', '取消键:纸上签名'),
  'msg.confirmVoid': s('Void this sale?', '确认撤销此交易？'),
  'msg.qrScan': s('Scan the payment code', '请扫描客户付款码'),
  'msg.qrWaiting': s('Waiting for payment', '等待客户付款'),
  'msg.qrSecondsLeft': s('{s}s left', '剩余{s}秒'),
  'msg.qrPrinted': s('QR code printed: customer scans it', '收款码已打印，请客户扫码'),
  'msg.qrScanToPay': s('Scan to pay', '请扫码付款'),
  // Paper out: the customer's copy as an e-receipt beside its QR code (ten cells a row on 128x64).
  'msg.eReceiptFor': s('Customer:', '持卡人联:'),
  'msg.eReceiptScan': s('scan for', '扫码获取'),
  'msg.eReceiptSlip': s('e-receipt', '电子签购单'),
  'wallet.UP': s('UnionPay', '云闪付'),
  'wallet.WX': s('WeChat', '微信'),
  'wallet.AL': s('Alipay', '支付宝'),
  'msg.largeAmount': s('Large amount', '大额交易'),
  'msg.duplicate': s('Same card and amount approved', '该卡该金额已成功'),
  'msg.balance': s('Balance {amount}', '余额{amount}'),
  'msg.settle.totals': s('Totals', '统计交易'),
  'msg.settle.upload': s('Uploading batch', '上送批次'),
  'msg.settle.closing': s('Closing batch', '关闭批次'),
  'msg.settle.printing': s('Printing report', '打印结算单'),
  'msg.settle.balanced': s('Balanced', '对账平'),
  'msg.settle.unbalanced': s('Not balanced', '对账不平'),
  'msg.settle.batch': s('Batch {batch}', '批次{batch}'),
  'msg.settle.sales': s('Sales {n} {amount}', '消费{n}笔{amount}'),
  'msg.settle.refunds': s('Refunds {n} {amount}', '退货{n}笔{amount}'),
  'msg.signingOff': s('Signing off', '正在签退'),
  'msg.signedOff': s('Signed off', '已签退'),
  'msg.battery': s('Battery {percent}%', '电量{percent}%'),
  'msg.charging': s('Charging', '正在充电'),
  'msg.chargeNow': s('Charge the terminal now', '请立即充电'),
  'msg.shuttingDown': s('Saving, shutting down', '正在保存并关机'),
  'msg.loadPaper': s('Load paper; the receipt will print', '请装纸，装纸后自动打印'),
  'msg.printWhenFixed': s('Then OK: the receipt prints', '排除后按确认键打印'),
  'msg.storageStop': s('Selling stopped; data kept', '已停止交易，数据已保留'),
  'msg.doNotPowerOff': s('Do not power off', '请勿关机'),
  'msg.reversalKept': s('Reversal kept', '已保存冲正'),
  // A failed transaction's reversal as the state says it is now (boot/screen-map.ts: the error screen's detail).
  'msg.reversalOwed': s('Reversal kept: sent before the next transaction', '已保存冲正，下笔交易前上送'),
  'msg.reversedNotCharged': s('Reversed by the host: customer not charged', '主机已冲正，客户未扣款'),
  // The reprint menu's copy choice and the customer-copy offer.
  'msg.reprintTrace': s('Trace {stan}', '凭证号{stan}'),
  'msg.settledBatch': s('Settled batch {batch}', '已结算批次{batch}'),
  'msg.customerNotPrinted': s('No customer copy yet', '客户联尚未打印'),
  'msg.offerMore': s('and {n} more', '另有{n}笔'),
  'msg.printItNow': s('Print it now?', '现在打印吗?'),
  // The sign-on failure screen's 4G lines (ui-lcd/screens.ts modemLines) and the SIM PIN screen.
  'msg.simPinKey': s('2: enter SIM PIN', '按2输入SIM卡PIN码'),
  'msg.simPinChecking': s('Checking PIN...', '正在验证PIN码...'),
  'msg.simPinRefused': s('Wrong PIN: {code}', 'PIN码错误:{code}'),
  'title.simPin': s('SIM PIN', 'SIM卡PIN码'),
  'msg.echoHint': s('1: echo test', '按1回响测试'),
  'msg.echoRunning': s('Echo test...', '回响测试中...'),
  'msg.echoOk': s('Host answers ({ms} ms)', '主机有应答({ms}毫秒)'),
  'msg.echoFailed': s('Echo failed: {code}', '回响失败:{code}'),
  'msg.refused': s('Connection refused', '连接被拒绝'),
  'msg.timedOut': s('Connection timed out', '连接超时'),
  'msg.languageNow': s('Now: {lang}', '当前：{lang}'),
  'msg.textLcdEnglish': s('Text LCD shows English', '字符屏仅显示英文'),
  'msg.allKeysOk': s('All keys OK', '按键全部正常'),
  'msg.restored': s('{what}: {outcome}', '{what}：{outcome}'),
  'msg.networkDown': s('Network down', '网络断开'),
  'msg.hostOffline': s('Host offline', '主机离线'),
  'msg.paperOutShort': s('Paper out', '缺纸'),
  'msg.online': s('Online', '已联网'),
  'msg.inFlight': s('Last {txn} at power loss', '断电时的{txn}'),
  'outcome.reversed': s('reversed, not charged', '已冲正，未扣款'),
  'outcome.completed': s('completed', '已完成'),
  'outcome.resumed': s('resumed', '已继续'),
  'outcome.reversalPending': s('reversal owed', '冲正待发送'),
  'outcome.qrVoided': s('paid, then voided', '已付款，已撤销'),
  'outcome.unknown': s('result unknown', '结果未知'),
  'outcome.notFinished': s('not finished', '未完成'),
  'msg.detail': s('Detail: {detail}', '详情：{detail}'),
  'msg.testCard': s('Read a test card', '请读测试卡'),
  'msg.passphraseHint': s('6-12 digits; note them down', '6至12位数字，请记下'),
  'msg.passphraseAgainHint': s('The same digits again', '请再输入一次相同数字'),
  'msg.passphraseMismatch': s('Did not match: type it again', '两次不一致，请重新输入'),
  'msg.passphraseOfBackup': s("The backup's passphrase", '输入备份时设置的口令'),
  'msg.salvageAsk': s('Rebuild the journal from its intact records? The current one is kept aside', '用完好记录重建流水？原流水另行保留'),
  'msg.eraseAsk': s('OK erases; CANCEL keeps all', '确认键清除，取消键保留'),
  'msg.notSettled': s('NOT SETTLED: press OK again', '未结算！请再按确认'),
  'msg.working': s('Please wait', '请稍候'),
  'msg.noFile': s('No file found', '未找到文件'),
  'msg.patternCheck': s('OK if even, else CANCEL', '均匀按确认，否则取消'),
  'msg.readerSelfTest': s('Reader self-test', '读卡器自检'),
  'msg.powerOffAsk': s('Power off now?', '现在关机？'),
  'msg.ipField': s('{field}', '{field}'),
  'msg.passwordChanged': s('Password changed', '密码已修改'),
  'msg.passwordReset': s('Operator {op}: password set', '{op}号密码已重置'),
  'msg.unlocked': s('Operator {op} unlocked', '操作员{op}已解锁'),
  'msg.operatorOf': s('Operator {op}', '操作员{op}'),
  'msg.operatorRole': s('{op} {role}', '{op} {role}'),
  'msg.operatorLocked': s('{op} {role} locked', '{op} {role} 已锁定'),
  'msg.operatorCount': s('{n} operators', '共{n}个操作员'),
  'msg.deleteAsk': s('OK deletes it', '按确认键删除'),
  'msg.operatorAdded': s('Operator {op} added', '操作员{op}已增加'),
  'msg.operatorDeleted': s('Operator {op} deleted', '操作员{op}已删除'),
  'msg.fromJournal': s('From journal', '取自本机流水'),
  'msg.traceOrOk': s('OK alone=ref no.', '空按确认输参考号'),
  'msg.traceOrKeyed': s('OK alone=auth no.', '空按确认输授权码'),
  'msg.completionMax': s('Max {max}', '最多{max}元'),
  'msg.confirmPreAuthVoid': s('Release hold?', '确认撤销预授权？'),
  'msg.confirmCompletionVoid': s('Void completion?', '确认撤销完成？'),
  'label.authCode': s('Auth code', '授权码'),
  'msg.offline': s('OFFLINE', '离线交易'),
  // The batch's anomaly flags at idle (boot/screen-map.ts anomalyNotice): {codes} spaced, words a row
  // breaks between. The full-width colon may end a row, and no code starts one glued to it.
  'notice.anomaly': s('! 1 anomaly: {codes}', '！1条异常：{codes}'),
  'notice.anomalies': s('! {n} anomalies: {codes}', '！{n}条异常：{codes}'),
  // The keypad reports keys stuck (E-KBD-01, boot/terminal-app.ts showStuckKeys): which ones, as
  // the cause of E-KBD-01's notice (its code and first step in turns around it).
  'notice.keyStuck': s('Key {keys} stuck', '按键{keys}卡住'),
  'notice.keysStuck': s('Keys {keys} stuck', '按键{keys}卡住'),
  // A self-test fault whose cause names no part (E-BRD-02 "Device not answering", E-BRD-03): the
  // part that failed, before it, as FIELD-FAULTS asks and the first step ("Check the part named") needs.
  'notice.partFault': s('{part}: {cause}', '{part}：{cause}'),
  'notice.cutReversed': s('Cut txn reversed', '断电交易已冲正'),
  'notice.cutReversalOwed': s('Reversal owed', '冲正待发送'),
  'notice.cutQrVoided': s('QR paid: voided', '扫码已付已撤销'),
  'notice.cutQrUnknown': s('QR pay unknown', '扫码结果未知'),
  'notice.cutSettled': s('Settlement done', '结算已完成'),
  'notice.cutSettleOpen': s('Settle not done', '结算未完成'),
  'menu.hostParams': s('Host params', '参数下载'),
  'menu.statusUpload': s('Send status', '状态上送'),
  'menu.echoTest': s('Echo test', '回响测试'),
  'menu.wifi': s('Wi-Fi', 'Wi-Fi设置'),
  // Settings > Wi-Fi (boot/wifi-menu.ts).
  'title.wifi': s('Wi-Fi', 'Wi-Fi'),
  'msg.wifiScanning': s('Searching...', '正在搜索网络...'),
  'msg.wifiNone': s('No network found', '未找到网络'),
  'msg.wifiPassphrase': s('Password ({mode}, FUNC)', '密码（{mode}，功能键切换）'),
  'msg.wifiJoining': s('Connecting...', '正在连接...'),
  'msg.wifiJoined': s('Connected {address}', '已连接 {address}'),
  'msg.wifiSaved': s('Saved; not connected yet', '已保存，尚未连接'),
  'msg.wifiFailed': s('Failed: {code}', '失败:{code}'),
  'msg.hostTaskOk': s('Done (code {code})', '成功(应答码{code})'),
  'msg.hostTaskRefused': s('Refused: code {code}', '失败:应答码{code}'),
  'msg.hostTaskError': s('Failed: {code}', '失败:{code}'),
  'title.offlinePending': s('Offline sales', '离线交易'),
  'msg.offlineWaiting': s('{n} not sent yet', '{n}笔未上送'),
  // Sent with no answer (fits 20 columns, and 128x64 in zh-CN): giving them up does not undo them (docs/PROTOCOL.md).
  'msg.offlineUnknown': s('{n} may be at host', '{n}笔可能已入账'),
  'menu.sendAgain': s('Send again', '重新上送'),
  'menu.giveUp': s('Give up+print', '放弃并打印'),
  'msg.keysLeftCount': s('{n} left: {keys}', '剩{n}个：{keys}'),

  // ---- diagnostics checks and results
  'part.led': s('Status light', '指示灯'),
  'part.scanner': s('Scanner', '扫码器'),
  'part.button': s('Reset button', '复位键'),
  'diag.battery': s('Battery', '电池'),
  'diag.storage': s('Storage', '存储'),
  'diag.printer': s('Printer', '打印机'),
  'diag.reader': s('Card reader', '读卡器'),
  'diag.keypad': s('Keypad', '键盘'),
  'diag.touch': s('Touch', '触摸'),
  'diag.scanner': s('Scanner', '读码器'),
  'diag.display': s('Display', '显示屏'),
  'diag.network': s('Network', '网络'),
  'diag.host': s('Host', '主机'),
  'diag.log': s('Last errors', '最近错误'),
  'diag.ok': s('OK', '正常'),
  'diag.fail': s('FAIL', '故障'),
  'diag.running': s('...', '检测中'),
  'diag.pending': s('-', '待测'),
  // The last-errors row: a count, not a pass ("Last errors 3").
  'diag.noErrorsShort': s('none', '无'),
  'diag.errorCount': s('{n}', '{n}条'),
  // Detail lines of each check (boot/diagnostics.ts); the English ones are also what is logged.
  'diag.batteryLevel': s('{pct}% {mv} mV', '{pct}% {mv} mV'),
  'diag.charging': s('charging', '充电中'),
  'diag.notCharging': s('not charging', '未充电'),
  'diag.level': s('level {level}{low}', '电量{level}{low}'),
  'diag.level.ok': s('ok', '正常'),
  'diag.level.low': s('low', '低'),
  'diag.level.critical': s('critical', '严重不足'),
  'diag.lowLine': s(', low line set', '，低电报警'),
  'diag.journal': s('journal {status}: {n} records', '流水{status}：{n}条记录'),
  'diag.journal.ok': s('ok', '正常'),
  'diag.journal.torn-tail': s('torn-tail', '末条不完整'),
  'diag.noJournal': s('no journal yet', '尚无流水'),
  'diag.damagedAt': s('damaged at record {n}', '第{n}条记录损坏'),
  'diag.journalState': s('journal {status}', '流水{status}'),
  'diag.free': s('free {free} of {total} MB', '可用{free}/{total} MB'),
  'diag.archives': s('{n} archives {used}/{max} MB', '归档{n}个 {used}/{max} MB'),
  'diag.memory': s('RAM: terminal {rss} MB', '内存：终端{rss} MB'),
  'diag.memoryLimit': s('RAM: terminal {rss} of {limit} MB', '内存：终端{rss}/{limit} MB'),
  'diag.memoryFree': s('RAM free {free} of {total} MB', '内存可用{free}/{total} MB'),
  'diag.cpuLoad': s('CPU load {load}', 'CPU负载{load}'),
  'diag.memoryLow': s('Memory low: restart the terminal', '内存不足：请重启终端'),
  'diag.backup': s('backup batch {batch}, {n} kept', '备份批次{batch}，保留{n}份'),
  'diag.backupNone': s('no backup yet', '尚无备份'),
  'diag.backupOff': s('backups off (board file)', '备份已关闭（板卡文件）'),
  'diag.printerStatus': s('online {online} paper {paper} cover {cover}', '联机{online} 纸{paper} 盖{cover}'),
  'diag.yes': s('true', '是'),
  'diag.no': s('false', '否'),
  'diag.paper.ok': s('ok', '正常'),
  'diag.paper.out': s('OUT', '缺纸'),
  'diag.paper.nearEnd': s('near end', '将尽'),
  'diag.cover.closed': s('closed', '关'),
  'diag.cover.open': s('OPEN', '开'),
  'diag.testPage': s('test page with QR printed', '已打印测试页(含二维码)'),
  'diag.readerSelfTest': s('self-test ok {info}', '自检正常 {info}'),
  'diag.testCard': s('test card: {how}', '测试卡：{how}'),
  'diag.card.swiped': s('swiped', '刷卡'),
  'diag.card.inserted': s('inserted', '插卡'),
  'diag.card.tapped': s('tapped', '挥卡'),
  'diag.card.read-failed': s('read-failed', '读卡失败'),
  // Unreadable swipes in a row across transactions (runtime/txn/swipe-failures.ts), and the last swipe.
  'diag.swipesInARow': s('bad swipes in a row: {n} (fault over {max})', '连续刷卡失败：{n}次（超过{max}次为故障）'),
  'diag.lastSwipe': s('last swipe: {outcome} {time}', '上次刷卡：{outcome} {time}'),
  'diag.lastSwipe.none': s('last swipe: none since start', '上次刷卡：开机后无'),
  'diag.swipe.read': s('read', '成功'),
  'diag.swipe.unreadable': s('unreadable', '失败'),
  // The reader's own faults (runtime/txn/reader-health.ts), and its state without a test card (remote diagnostics).
  'diag.readerLastFault': s('last reader fault: {code} {time}', '上次读卡器故障：{code} {time}'),
  'diag.readerFaultOver': s('answered since: fault over', '之后已应答：故障已消除'),
  'diag.readerLastAnswer': s('last answered: {time}', '上次应答：{time}'),
  'diag.readerLastAnswer.none': s('no answer since start', '开机后无应答'),
  'diag.readerNoTestCard': s('no test card: nobody at the terminal', '未用测试卡：终端前无人'),
  'diag.stuck': s('stuck: {keys}', '卡住：{keys}'),
  'diag.notSeen': s('not seen: {keys}', '未按到：{keys}'),
  'diag.keysSeen': s('all {n} keys seen', '{n}个键全部按到'),
  'diag.touchAnswers': s('pad answers ({w}x{h})', '签名板应答（{w}x{h}）'),
  'diag.touchPhantom': s('{n} touches with nobody touching', '无人触碰时读到{n}个触点'),
  'diag.touchAcross': s('line across {pct}% of the pad, {points} points', '划线占签名板宽度{pct}%，{points}个点'),
  'diag.touchPart': s('line across only {pct}% of the pad', '划线只读到签名板宽度的{pct}%'),
  'diag.touchNothing': s('nothing drawn was read', '未读到划线'),
  'diag.scannerRead': s('code read: {n} characters, ends {tail}', '读到{n}位码，尾号{tail}'),
  'diag.scannerCounts': s('since start: {noReads} no reads, {garbled} not understood, {timeouts} silent', '开机后：未读到{noReads}次，数据错误{garbled}次，无响应{timeouts}次'),
  'diag.keysWork': s('{n}/{of} work: {keys}', '{n}/{of}个正常：{keys}'),
  'diag.pattern': s('{kind} display: pattern confirmed', '{kind}显示屏：图案正常'),
  'diag.kind.pixels': s('pixels', '点阵'),
  'diag.kind.characters': s('characters', '字符'),
  'diag.patternUneven': s('operator: pattern not even', '操作员：图案不均'),
  'diag.signedOnAs': s('signed on as {op}', '已签到，操作员{op}'),
  'diag.hostNotTried': s('no terminal open: not tried', '终端未打开：未测试'),
  'diag.echoAnswered': s('echo: {code} ({ms} ms)', '回响:{code}({ms}毫秒)'),
  'diag.signOnRefused': s('sign-on: {code}', '签到:{code}'),
  'diag.noErrors': s('no errors logged', '无错误记录'),
  // The link the host was reached over (runtime/host/failover.ts), boards with `links` only.
  'diag.hostLink': s('via {link} {interface} {address}', '经{link} {interface} {address}'),
  // The remote-management link under the network check (lines: it never fails the check).
  'diag.mgmtConnected': s('Management: connected {host}', '远程管理：已连接 {host}'),
  'diag.mgmtDown': s('Management: not connected {code} {host}', '远程管理：未连接 {code} {host}'),
  'diag.mgmtQueued': s('{n} messages waiting to be sent', '{n}条消息待发送'),
  'diag.mgmtDropped': s('{n} messages dropped (queue full)', '{n}条消息已丢弃（队列满）'),
  'diag.hostLinkFailed': s('{link} failed: {code}', '{link}不通：{code}'),
  // The network check link by link (boot/link-check.ts), on boards with `links`.
  'diag.linkOk': s('{n} {name} {iface}: OK {address}', '{n} {name} {iface}：正常 {address}'),
  'diag.linkFail': s('{n} {name} {iface}: {code}', '{n} {name} {iface}：{code}'),
  'diag.link.noInterface': s('No interface {iface}', '无网卡{iface}'),
  'diag.link.down': s('{iface} is {state}', '{iface}未连接({state})'),
  'diag.link.noAddress': s('No IP address on {iface}', '{iface}未获取IP地址'),
  'diag.link.noRoute': s('No route to {host}', '无到{host}的路由'),
  'diag.link.otherDevice': s('Leaves by {dev}, not {iface}', '数据经{dev}而非{iface}发出'),
  'diag.link.routeUnchecked': s('Route not checked (no ip tool)', '未检查路由(无ip工具)'),
  'diag.link.refused': s('Host {host}:{port} refused', '主机{host}:{port}拒绝连接'),
  'diag.link.timeout': s('Host {host}:{port} no answer', '主机{host}:{port}无应答'),
  'diag.link.dns': s('{host} not resolved ({reason})', '{host}解析失败({reason})'),
  'diag.linkUses': s('Sales use {name}', '交易使用{name}'),
  'diag.linkNone': s('No link reaches the host', '所有线路均无法连接主机'),
  'diag.tlsCertDays': s('terminal cert: {n} days left', '终端证书剩余{n}天'),
  'diag.tlsCertRenew': s('renew the terminal cert soon', '请尽快更新终端证书'),
  // The chip kernel's downloaded parameters under the host check (boot/diag-emv.ts).
  'diag.caKeys': s('CA public keys: {n}', 'CA公钥：{n}个'),
  'diag.caKeys.none': s('CA public keys: none', 'CA公钥：无'),
  'diag.caKey': s('{rid}/{index} to {expiry} {status}', '{rid}/{index} 至{expiry} {status}'),
  'diag.caKey.ok': s('SHA-1 ok', '校验正确'),
  'diag.caKey.expired': s('expired', '已过期'),
  'diag.caKey.bad': s('BAD ({problem})', '错误({problem})'),
  'diag.aids': s('AIDs: {n}', 'AID参数：{n}个'),
  'diag.aids.builtIn': s('AIDs: built-in, not downloaded', 'AID参数：内置，未下载'),
  'diag.aid': s('{aid} {label}', '{aid} {label}'),
  'diag.aid.limits': s('floor {floor} tap {clFloor}/{clTxn} CVM {cvm}', '限额{floor} 非接{clFloor}/{clTxn} CVM{cvm}'),
  'diag.aid.random': s('random {target}-{max}% from {threshold}', '随机选择{target}-{max}% 阈值{threshold}'),
  'diag.aid.debit': s('UnionPay debit', '银联借记'),
  'diag.aid.credit': s('UnionPay credit', '银联贷记'),
  'diag.aid.quasiCredit': s('UnionPay quasi-credit', '银联准贷记'),
  'diag.aid.eCash': s('UnionPay e-cash', '银联电子现金'),
  'diag.aid.other': s('other', '其他'),
  // The 4G modem in the network check (boot/diagnostics.ts modemLines).
  'diag.modemSim': s('4G SIM: {state}', '4G SIM卡：{state}'),
  'diag.sim.ready': s('ready', '正常'),
  'diag.sim.absent': s('none', '未插入'),
  'diag.sim.pin-required': s('PIN required', '需输入PIN码'),
  'diag.sim.puk-locked': s('locked (PUK)', '已锁(需PUK码)'),
  'diag.sim.busy': s('starting', '初始化中'),
  'diag.sim.failure': s('unreadable', '无法读取'),
  'diag.pinAttempts': s('{n} PIN attempts left', 'PIN码还可试{n}次'),
  'diag.modemSignal': s('signal {dbm} dBm {bars}/4 {tech}', '信号{dbm}dBm {bars}/4格 {tech}'),
  'diag.modemNoSignal': s('signal: none', '信号：无'),
  'diag.modemReg': s('network: {state} {operator}', '网络：{state} {operator}'),
  'diag.reg.home': s('registered', '已注册'),
  'diag.reg.roaming': s('roaming', '漫游'),
  'diag.reg.searching': s('searching', '搜索中'),
  'diag.reg.denied': s('refused', '被拒绝'),
  'diag.reg.not-registered': s('not registered', '未注册'),
  'diag.reg.unknown': s('unknown', '未知'),
  'diag.modemApn': s('APN {apn}', 'APN {apn}'),
  'diag.modemApnWant': s('APN {apn}, board says {want}', 'APN {apn}，应为{want}'),
  'diag.modemNone': s('(none)', '(未设置)'),
  // The Wi-Fi in the network check (boot/diagnostics.ts wifiLines), boards with wifi0.
  'diag.wifiJoined': s('Wi-Fi: joined {ssid} {address}', 'Wi-Fi：已连接 {ssid} {address}'),
  'diag.wifiJoinedNoAddress': s('Wi-Fi: joined {ssid}, no IP address yet', 'Wi-Fi：已连接 {ssid}，尚未获取IP地址'),
  'diag.wifiNotJoined': s('Wi-Fi: not connected ({state})', 'Wi-Fi：未连接({state})'),
  'diag.wifiNoneSaved': s('no network saved', '未保存任何网络'),
  'diag.wifiSaved': s('saved: {ssids}', '已保存：{ssids}'),
  'diag.wifiRefused': s('{ssid}: password refused', '{ssid}：密码被拒绝'),
  'diag.wifiNoService': s('Wi-Fi: wpa_supplicant not reachable', 'Wi-Fi：wpa_supplicant无响应'),
  'diag.wifiSignal': s('signal {dbm} dBm {bars}/4 {band}', '信号{dbm}dBm {bars}/4格 {band}'),
  'diag.wifiSignalWeak': s('signal {dbm} dBm {bars}/4 {band}: weak', '信号{dbm}dBm {bars}/4格 {band}：弱'),
  'diag.wifiNoSignal': s('signal: not reported by the driver', '信号：驱动未报告'),

  // ---- transaction names (for processing/approved screens)
  'txn.sale': s('Sale', '消费'),
  'txn.void': s('Void', '撤销'),
  'txn.refund': s('Refund', '退货'),
  'txn.balance': s('Balance', '余额查询'),
  'txn.preAuth': s('Pre-auth', '预授权'),
  'txn.preAuthVoid': s('Pre-auth void', '预授权撤销'),
  'txn.completion': s('Completion', '预授权完成'),
  'txn.completionVoid': s('Compl. void', '完成撤销'),
  'txn.qr': s('QR payment', '扫码收款'),
  'txn.qrVoid': s('QR void', '扫码撤销'),
  'txn.qrRefund': s('QR refund', '扫码退货'),
  'txn.signOn': s('Sign-on', '签到'),
  'txn.settlement': s('Settlement', '结算'),
} as const satisfies Record<string, LocalText>;

export type StringKey = keyof typeof STRINGS;

export type Args = Readonly<Record<string, string | number>>;

/** The string `key` in both languages with `{name}` placeholders filled. Args that are LocalText fill per language. */
export function t(key: StringKey, args: Readonly<Record<string, string | number | LocalText>> = {}): LocalText {
  const def = STRINGS[key];
  return { en: fill(def.en, args, 'en'), zh: fill(def.zh, args, 'zh') };
}

/** The string `key` in one locale. */
export function tr(key: StringKey, locale: Locale, args: Args = {}): string {
  return pick(t(key, args), locale);
}

function fill(template: string, args: Readonly<Record<string, string | number | LocalText>>, lang: 'en' | 'zh'): string {
  return template.replace(/\{(\w+)\}/g, (m, name: string) => {
    const v = args[name];
    if (v === undefined) return m;
    return typeof v === 'object' ? v[lang] : String(v);
  });
}

export function pick(text: LocalText, locale: Locale): string {
  return locale === 'zh-CN' ? text.zh : text.en;
}

export function isLocalText(x: Txt): x is LocalText {
  return typeof x === 'object' && 'en' in x;
}

export function isJoined(x: Txt): x is Joined {
  return typeof x === 'object' && 'parts' in x;
}

export function isAmount(x: Txt): x is Amount {
  return typeof x === 'object' && 'amountFen' in x;
}

export function isInTurns(x: Txt): x is InTurns {
  return typeof x === 'object' && 'turns' in x;
}

/**
 * Resolves model text for a locale. `ascii` (character LCDs) forces English and an ASCII amount
 * ("RMB 12.34"), because the HD44780 ROM has neither Chinese nor a usable yuan sign.
 */
export function resolve(x: Txt, locale: Locale, ascii = false): string {
  if (typeof x === 'string') return x;
  if (isAmount(x)) return formatAmount(x.amountFen, locale, ascii);
  if (isJoined(x)) return x.parts.map((p) => resolve(p, locale, ascii)).join('');
  if (isInTurns(x)) return resolve(x.whole, locale, ascii);
  return ascii ? x.en : pick(x, locale);
}

/** Largest amount the formatting is exact for (Number.MAX_SAFE_INTEGER fen would be absurd anyway). */
export const AMOUNT_FEN_FORMAT_MAX = 999_999_999_99;

/** Fen → "¥12.34" (en), "12.34元" (zh-CN), "RMB 12.34" (ascii). Integer arithmetic: no float rounding. */
export function formatAmount(fen: number, locale: Locale, ascii = false): string {
  if (!Number.isSafeInteger(fen) || Math.abs(fen) > AMOUNT_FEN_FORMAT_MAX) throw new RangeError(`amount ${fen} fen out of range`);
  const sign = fen < 0 ? '-' : '';
  const digits = yuan(Math.abs(fen));
  if (ascii) return `${sign}RMB ${digits}`;
  return locale === 'zh-CN' ? `${sign}${digits}元` : `${sign}¥${digits}`;
}

/** Yuan digits without a currency sign ("12.34"), for amount fields whose label names the currency. */
export function formatYuan(fen: number): string {
  return formatAmount(fen, 'en', true).replace('RMB ', '');
}

/** Masks a PAN for anyone who can see it: first 6 and last 4 digits kept (DESIGN rule 8). */
export function maskPan(pan: string): string {
  const chars = pan.replace(/[\s-]/g, ''); // '*' kept: masking a masked PAN gives the same string
  if (chars.length < 13) return '*'.repeat(chars.length); // too short to be a PAN: show nothing of it
  return chars.slice(0, 6) + '*'.repeat(chars.length - 10) + chars.slice(-4);
}

/**
 * The operator's language choice, switchable at run time (settings menu). Listeners re-render.
 */
export class LocaleSetting {
  private readonly listeners = new Set<(l: Locale) => void>();

  constructor(private current: Locale = 'zh-CN') {}

  get(): Locale {
    return this.current;
  }

  set(locale: Locale): void {
    if (locale === this.current) return;
    this.current = locale;
    for (const l of this.listeners) l(locale);
  }

  onChange(listener: (l: Locale) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
