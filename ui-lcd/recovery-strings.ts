/**
 * Every line a recovery action shows on the LCD, in zh-CN and en, by key (the recovery menu's
 * reports: verify, repair, export, import, salvage, resend, reprints, network settings and test,
 * version and update, factory reset, restart and power off). Mirrors ui-lcd/strings.ts: a table
 * of `s(en, zh)` pairs and `rt(key, args)` filling `{name}` placeholders in both languages.
 *
 * A Report (boot/recovery.ts) carries these as `text` (LocalText), resolved at render time for
 * the locale in force, so switching the language re-renders the report; character LCDs (HD44780
 * ROM A00) always show the English half (ui-lcd/strings.ts `resolve(..., ascii)`), as every
 * other screen. `Report.lines` is the English half, for the CLI, JSON and logs.
 *
 * Rules (tests/boot/recovery-strings.test.ts):
 * - a template without its placeholders is at most REPORT_LINE_EN_CHARS_MAX characters (en) and
 *   REPORT_LINE_ZH_CELLS_MAX cells (zh): two rows of a 16-column LCD / the 128-px display
 *   before its values; longer values wrap and page (UP/DOWN);
 * - en is printable ASCII without '\' (the HD44780 ROM has ¥ there);
 * - every zh character is in the font subset: ui-lcd/font/charset.ts lists this table, so
 *   `npm run gen:font` includes it and tests/ui/font.test.ts fails when a glyph is missing;
 * - error codes (E-STO-05 ...) are never translated.
 */
import type { LocalText } from './screen';
import { errorByCode } from '../common/errors';
import { cellsOf } from './font';

export const REPORT_LINE_EN_CHARS_MAX = 32;
export const REPORT_LINE_ZH_CELLS_MAX = 32;
/**
 * One row of the narrowest display that shows it: a title, a menu item or the recovery menu's
 * reason line (16x2 and 128x64 have 16 cells a row; what is longer would be cut, never wrapped).
 */
export const RECOVERY_ROW_CELLS_MAX = 16;

function s(en: string, zh: string): LocalText {
  return { en, zh };
}

export const RECOVERY_STRINGS = {
  // ---- the recovery login and menu (one row each: at most RECOVERY_ROW_CELLS_MAX cells)
  'login.title': s('Recovery - admin', '恢复模式-管理员'),
  'login.operator': s('Admin no.', '管理员号'),
  'login.adminOnly': s('Admins only', '仅限管理员'),
  'why.resetHeld': s('Reset key held', '按住复位键进入'),
  'why.code': s('Reason: {code}', '原因：{code}'),
  'place.backup': s('backup folder', '备份目录'),
  'place.usb': s('USB stick {name}', 'U盘{name}'),

  // ---- verify
  'verify.ok': s('journal ok: {records} records', '流水正常：共{records}条'),
  'verify.tornRecords': s('{records} records ok', '{records}条记录正常'),
  'verify.tornLast': s('torn last record {seq} (repair cuts)', '末条记录{seq}不完整：修复将截去'),
  'verify.damagedAt': s('{code} damaged at record {seq}', '{code} 第{seq}条记录损坏'),
  'verify.goodBefore': s('{records} good records before it', '之前{records}条记录完好'),
  'verify.error': s('{code}: {message}', '{code}：校验出错 {message}'),
  'verify.unopenable': s('{code} LMDB cannot open the file ({signal})', '{code} 流水文件无法打开（{signal}）'),
  'verify.runSalvage': s('run salvage', '请执行抢救数据'),
  'verify.starved': s('{code} check stalled: no CPU or disk', '{code} 校验停滞：CPU或存储无响应'),
  'verify.checkStorage': s('check storage, verify again', '请检查存储后重新校验'),
  'verify.lastBackup': s('last backup: {file}', '最近备份：{file}'),
  'verify.noBackup': s('no backup found', '未找到备份'),
  'reason.headerChecksum': s('header checksum mismatch', '记录头校验错误'),
  'reason.payloadChecksum': s('payload checksum mismatch', '记录数据校验错误'),
  'reason.badMagic': s('bad magic', '记录标志错误'),
  'reason.other': s('{reason}', '损坏原因：{reason}'),
  'status.damaged': s('damaged', '已损坏'),
  'status.unopenable': s('unopenable', '无法打开'),
  'status.error': s('error', '出错'),

  // ---- repair, import, salvage, export
  'repair.nothing': s('journal ok: nothing to repair', '流水正常，无需修复'),
  'repair.tornCut': s('torn record {seq} cut', '已截去不完整记录{seq}'),
  'repair.verified': s('{records} records verified', '已校验{records}条记录'),
  'repair.restored': s('restored {count} records from {file}', '已从{file}恢复{count}条记录'),
  'repair.keptAt': s('damaged journal kept at {path}', '损坏流水保留于{path}'),
  'repair.notInBackup': s('records {from}..{to}+ not in the backup', '备份中没有记录{from}..{to}+'),
  'repair.trySalvage': s('try salvage on the kept copy', '可对保留的副本抢救数据'),
  // A lost write-ahead log: data.mdb kept as it is (boot/recovery.ts repair).
  'repair.logLost': s('log lost: records {from}+ gone', '日志丢失：记录{from}起无法恢复'),
  'repair.logKeptAt': s('lost log kept at {path}', '原日志保留于{path}'),
  'repair.journalStatus': s('journal {status}', '流水{status}'),
  'repair.noBackup': s('no backup verifies: run salvage', '没有可用备份：请抢救数据'),
  'export.done': s('exported {records} records (encrypted)', '已导出{records}条记录（加密）'),
  'export.logs': s('{n} log files', '日志文件{n}个'),
  'export.archives': s('{n} archives of settled batches', '已结算批次归档{n}个'),
  'export.notice': s('Exported', '备份已导出'),
  'export.damaged': s('only records before {seq} (damaged)', '只导出第{seq}条之前的记录（已损坏）'),
  'import.restored': s('restored {count} records', '已恢复{count}条记录'),
  'import.chain': s('chain verified', '记录链校验通过'),
  'import.previous': s('previous journal: {path}', '原流水：{path}'),
  'word.none': s('none', '无'),
  'salvage.recovered': s('{n} records recovered (1..{last})', '已抢救{n}条记录（1..{last}）'),
  'salvage.orphans': s('{n} unchained records kept: {ranges}', '{n}条断链记录已保留：{ranges}'),
  'salvage.nothing': s('none recovered: restore a backup', '没有可用记录：请从备份恢复'),
  'salvage.keptAt': s('damaged journal kept at {name}', '损坏流水保留于{name}'),
  'salvage.notRecovered': s('not recovered: record {seq} on', '未能恢复：第{seq}条起'),
  'salvage.nothingLost': s('nothing lost', '没有丢失记录'),
  'salvage.owedSetAside': s('{what} STAN {stan} {amount}: owed, not sent', '{what} 流水号{stan} {amount} 未发送'),
  'salvage.doneSetAside': s('{what} STAN {stan} {amount}: done, will resend', '{what} 流水号{stan} {amount} 已完成将重发'),
  'salvage.owedStep': s('set aside: check with acquirer', '记录已隔离：请向收单机构核实'),
  'owed.reversal': s('reversal', '冲正'),
  'owed.advice': s('offline sale advice', '离线交易通知'),
  'owed.scriptNotice': s('script notice', '脚本通知'),
  'owed.qrQuery': s('QR payment', '扫码支付'),

  // ---- pending work and reprints
  'resend.step': s('{name}: {result}', '{name}：{result}'),
  'resend.reversal': s('reversal', '冲正'),
  'resend.scriptNotices': s('script notices', '脚本通知'),
  'resend.sentLeft': s('{sent} sent, {left} pending', '已发送{sent}笔，待发送{left}笔'),
  'resend.settlement': s('settlement', '结算'),
  'resend.signatures': s('signatures', '签名'),
  'resend.cleared': s('cleared', '已完成'),
  'resend.pending': s('pending', '待发送'),
  'resend.batch': s('batch {batch} {verdict}', '批次{batch} {verdict}'),
  'resend.uploaded': s('{n} uploaded', '已上送{n}笔'),
  'verdict.balanced': s('balanced', '对账平'),
  'verdict.unbalanced': s('unbalanced', '对账不平'),
  'verdict.error': s('error', '出错'),
  'reprint.receipt': s('reprinted trace {stan}', '已重打凭证号{stan}'),
  'reprint.duplicate': s('marked DUPLICATE', '已标注重打印'),
  'reprint.report': s('reprinted report of batch {batch}', '已重打批次{batch}结算单'),

  // ---- network
  'net.dhcp': s('address: DHCP', '地址：自动获取'),
  'net.static': s('address {address}/{prefix}', '地址{address}/{prefix}'),
  'net.host': s('host {host}:{port}', '主机{host}:{port}'),
  'net.nowDhcp': s('now: DHCP', '当前：自动获取'),
  'net.nowStatic': s('now: {address}/{prefix}', '当前：{address}/{prefix}'),
  'net.nowStaticShort': s('now: static IP', '当前：固定地址'),
  'net.applied': s('applied to {interface} ({backend})', '已写入系统：{interface}（{backend}）'),
  'net.reloaded': s('networkctl: {commands}', '网络已重载：{commands}'),
  'net.noReload': s('networkctl not found: reboot', '未找到networkctl：请重启'),
  'net.storedOnly': s('stored only (no OS backend)', '仅保存（本机不写系统设置）'),
  'net.notAddress': s('{label}: {value} is not an address', '{label}：{value}不是有效地址'),
  'net.digitsHint': s('3 digits per part: 192168001010', '每段3位数字，如192168001010'),
  'net.label.host': s('Host', '主机'),
  'net.label.ip': s('IP', 'IP'),
  'net.label.gateway': s('Gateway', '网关'),
  'net.label.dns': s('DNS', 'DNS'),
  'net.label.digits': s('{label} (12 digits)', '{label}(12位)'),
  'nettest.line': s('{status} {step}{code}: {detail}', '{status} {step}{code}：{detail}'),
  'nettest.ok': s('ok  ', '正常'),
  'nettest.fail': s('FAIL', '失败'),
  'step.interface': s('interface', '网口'),
  'step.address': s('address', '地址'),
  'step.gateway': s('gateway', '网关'),
  'step.dns': s('dns', '域名解析'),
  'step.connect': s('connect', '连接主机'),
  'nettest.ifUp': s('{interface} up', '{interface}已连接'),
  'nettest.ifDown': s('{interface} down: check cable/Wi-Fi', '{interface}未连接：检查网线或无线'),
  'nettest.hasAddress': s('has {address}', '已有地址{address}'),
  'nettest.noStatic': s('{interface} lacks {address}: check IP', '{interface}没有地址{address}：检查地址'),
  'nettest.dhcpGave': s('DHCP gave {address}', '自动获取到{address}'),
  'nettest.noDhcp': s('no address from DHCP', '未自动获取到地址'),
  'nettest.noGateway': s('no gateway set (local host)', '未设网关（主机在本地网络）'),
  'nettest.gatewayOk': s('{gateway} answers', '{gateway}有应答'),
  'nettest.gatewayDown': s('{gateway} no answer: check gateway', '{gateway}无应答：检查网关设置'),
  'nettest.hostIsIp': s('host is an address: no DNS', '主机为IP地址，无需解析'),
  'nettest.noHostAddress': s('{host} has no address', '{host}没有地址'),
  'nettest.resolved': s('{host} = {address}', '{host} = {address}'),
  'nettest.notResolved': s('{host} unresolved ({reason}): check DNS', '{host}解析失败（{reason}）：检查DNS'),
  'nettest.connected': s('{address}:{port} connected', '{address}:{port}已连接'),
  'nettest.refused': s('{address}:{port} refused ({reason}): check port', '{address}:{port}拒绝连接（{reason}）：检查端口'),
  'nettest.timedOut': s('{address}:{port} timed out: check the network', '{address}:{port}连接超时：检查网络'),
  'nettest.error': s('{message}', '检测出错：{message}'),

  // ---- version and update
  'version.runtime': s('runtime {version}', '软件版本{version}'),
  'version.noLayout': s('no A/B update slots here', '本机没有A/B升级分区'),
  'version.running': s('running {version} (slot {slot})', '运行版本{version}（{slot}区）'),
  'version.pending': s('pending {version} in {slot}, {tries} boots', '待启用{version}（{slot}区），已启动{tries}次'),
  'version.last': s('last: {result} {version}', '上次：{result} {version}'),
  'version.reason': s('{reason}', '原因：{reason}'),
  'result.installed': s('installed', '已安装'),
  'result.confirmed': s('confirmed', '已确认'),
  'result.rolled-back': s('rolled back', '已回滚'),
  'update.installed': s('{version} installed in slot {slot}', '{version}已装入{slot}区'),
  'update.was': s('was {version}', '原版本{version}'),
  'update.restart': s('restart: the first boot', '重启后首次启动'),
  'update.checked': s('is checked, else rolled back', '自检不过则自动回滚'),
  'file.none': s('no {suffix} file in', '以下目录没有{suffix}文件'),

  // ---- factory reset
  'reset.txns': s('{n} transactions of batch {batch}', '批次{batch}交易{n}笔'),
  'reset.txnsUnsettled': s('{n} txns of batch {batch} (NOT SETTLED)', '批次{batch}交易{n}笔（未结算）'),
  'reset.reversal': s('pending reversal of trace {stan}', '待冲正：凭证号{stan}'),
  'reset.noReversal': s('no pending reversal', '没有待冲正'),
  'reset.keys': s('working keys', '工作密钥'),
  'reset.noKeys': s('no working keys', '没有工作密钥'),
  'reset.settings': s('settings (network)', '设置（网络）'),
  'reset.keepIdentity': s('terminal identity and master key', '终端身份和主密钥'),
  'reset.keepOperators': s('operators', '操作员'),
  'reset.keepJournal': s('the old journal, moved aside', '原流水（移至一旁保留）'),
  'reset.keepBackup': s('a backup in the backup folder', '备份目录中的一份备份'),
  'reset.erased': s('erased: {what}', '已清除：{what}'),
  'reset.backup': s('backup: {file}', '备份：{file}'),
  'reset.oldJournal': s('old journal: {name}', '原流水：{name}'),

  // ---- power
  'power.rebooting': s('rebooting', '正在重启'),
  'power.off': s('powering off', '正在关机'),

  // ---- errors shown as a report (the code is its own line, never translated)
  'error.unknown': s('{message}', '操作失败：{message}'),
} as const satisfies Record<string, LocalText>;

export type RecoveryStringKey = keyof typeof RECOVERY_STRINGS;

export type RecoveryArgs = Readonly<Record<string, string | number | LocalText>>;

/** The string `key` in both languages, `{name}` filled (a LocalText argument fills per language). */
export function rt(key: RecoveryStringKey, args: RecoveryArgs = {}): LocalText {
  const d = RECOVERY_STRINGS[key];
  return { en: fill(d.en, args, 'en'), zh: fill(d.zh, args, 'zh') };
}

/** Text that is the same in every language (a file name, a path, an address, a code). */
export function same(text: string): LocalText {
  return { en: text, zh: text };
}

/** A line given as plain English (older callers) or as LocalText. */
export function local(line: string | LocalText): LocalText {
  return typeof line === 'string' ? same(line) : line;
}

function fill(template: string, args: RecoveryArgs, lang: 'en' | 'zh'): string {
  return template.replace(/\{(\w+)\}/g, (m, name: string) => {
    const v = args[name];
    if (v === undefined) return m;
    return typeof v === 'object' ? v[lang] : String(v);
  });
}

/** A journal damage reason from storage/record.ts, translated when it is one of the fixed ones. */
export function damageReason(reason: string): LocalText {
  if (reason === 'header checksum mismatch') return rt('reason.headerChecksum');
  if (reason === 'payload checksum mismatch') return rt('reason.payloadChecksum');
  if (reason === 'bad magic') return rt('reason.badMagic');
  return rt('reason.other', { reason });
}

/**
 * Why recovery opened, as the recovery menu's one reason row: "Reset key held", or the error's
 * cause from common/errors.ts ("Journal damaged") when it fits a row, else "Reason: E-SYS-99".
 * Never the last wrong password: that is the login's notice, not why the menu is open.
 */
export function recoveryReasonText(reason: { readonly resetHeld?: boolean; readonly reasonCode?: string }): LocalText | undefined {
  if (reason.resetHeld) return rt('why.resetHeld');
  if (!reason.reasonCode) return undefined;
  const code = rt('why.code', { code: reason.reasonCode });
  const def = errorByCode(reason.reasonCode);
  if (!def) return code;
  const fits = (x: string): boolean => [...x].reduce((n, ch) => n + cellsOf(ch), 0) <= RECOVERY_ROW_CELLS_MAX;
  return { en: fits(def.en.cause) ? def.en.cause : code.en, zh: fits(def.zh.cause) ? def.zh.cause : code.zh };
}
