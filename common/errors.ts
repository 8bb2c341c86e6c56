/**
 * The single list of operating errors (fastify-style): every error the terminal can show an
 * operator has a stable code here, a `kind` that code branches on, and a cause and next steps in
 * zh-CN and en. Codes never change meaning once shipped; add new ones at the end of a group.
 *
 * A broken internal invariant is NOT an operating error: use `InvariantError` (E-SYS-99), which
 * sends the terminal to recovery mode instead of a fault screen.
 *
 * Groups follow FIELD-FAULTS.md: E-PWR power, E-NET network, E-HOST acquirer host, E-KEY keys,
 * E-STO storage/journal, E-PRN printer, E-RDR card reader, E-KBD keypad, E-DSP display, E-BRD
 * board/bus, E-OPR operator, E-UPD software update, E-SYS internal.
 */

export type ErrorKind =
  | 'battery-low'
  | 'battery-critical'
  | 'network-down'
  | 'host-unreachable'
  | 'timeout'
  | 'host-declined'
  | 'host-malformed'
  | 'mac-failure'
  | 'keys-invalid'
  | 'storage-full'
  | 'storage-io'
  | 'storage-readonly'
  | 'journal-damaged'
  | 'journal-refused'
  | 'journal-closed'
  | 'journal-in-use'
  | 'backup-invalid'
  | 'export-target'
  | 'paper-out'
  | 'cover-open'
  | 'printer-fault'
  | 'reader-fault'
  | 'card-unreadable'
  | 'key-stuck'
  | 'device-absent'
  | 'bus-fault'
  | 'board-invalid'
  | 'operator-input'
  | 'auth-failed'
  | 'locked-out'
  | 'permission'
  | 'update-invalid'
  | 'cancelled'
  | 'invariant';

export interface Text {
  readonly cause: string;
  readonly steps: readonly string[];
}

export interface ErrorDef {
  readonly code: string;
  readonly kind: ErrorKind;
  readonly en: Text;
  readonly zh: Text;
}

function def(code: string, kind: ErrorKind, en: Text, zh: Text): ErrorDef {
  return { code, kind, en, zh };
}

export const ERRORS = {
  // ---- power
  PWR_LOW: def('E-PWR-01', 'battery-low',
    { cause: 'Battery low', steps: ['Charge the terminal', 'Retry when above 15%'] },
    { cause: '电量不足', steps: ['请充电', '电量高于15%后重试'] }),
  PWR_CRITICAL: def('E-PWR-02', 'battery-critical',
    { cause: 'Battery critical', steps: ['Terminal is saving and shutting down', 'Charge before use'] },
    { cause: '电量严重不足', steps: ['正在保存并关机', '充电后再使用'] }),
  PWR_PRINT_LOW: def('E-PWR-03', 'battery-low',
    { cause: 'Battery too low to print', steps: ['Charge the terminal', 'The slip prints when charged'] },
    { cause: '电量过低无法打印', steps: ['请充电', '充电后自动打印'] }),
  // ---- network
  NET_LINK_DOWN: def('E-NET-01', 'network-down',
    { cause: 'No network link', steps: ['Reseat the cable or move closer to Wi-Fi', 'Restart the router'] },
    { cause: '网络未连接', steps: ['重新插好网线或靠近Wi-Fi', '重启路由器'] }),
  NET_NO_ADDRESS: def('E-NET-02', 'network-down',
    { cause: 'No IP address', steps: ['Check DHCP or static address', 'Settings > Network'] },
    { cause: '未获取IP地址', steps: ['检查DHCP或静态地址', '设置>网络'] }),
  NET_GATEWAY: def('E-NET-03', 'network-down',
    { cause: 'Gateway unreachable', steps: ['Check the gateway setting', 'Restart the router'] },
    { cause: '网关不可达', steps: ['检查网关设置', '重启路由器'] }),
  NET_DNS: def('E-NET-04', 'network-down',
    { cause: 'Host name not resolved', steps: ['Check the DNS setting', 'Or enter the host IP'] },
    { cause: '域名解析失败', steps: ['检查DNS设置', '或填写主机IP'] }),
  NET_REFUSED: def('E-NET-05', 'host-unreachable',
    { cause: 'Host unreachable (refused)', steps: ['Check host address and port', 'Ask if a firewall blocks it'] },
    { cause: '主机拒绝连接', steps: ['检查主机地址和端口', '确认防火墙未拦截'] }),
  NET_CONNECT_TIMEOUT: def('E-NET-06', 'host-unreachable',
    { cause: 'Host unreachable (timed out)', steps: ['Check the network', 'Retry later'] },
    { cause: '连接主机超时', steps: ['检查网络', '稍后重试'] }),
  NET_APPLY: def('E-NET-07', 'network-down',
    { cause: 'Network settings not applied', steps: ['Check the board network folder', 'Or reboot to apply them'] },
    { cause: '网络设置未能生效', steps: ['检查主板网络配置目录', '或重启终端使其生效'] }),
  // The 4G modem (hal/modem.ts, FIELD-FAULTS.md "Sign-on fails": weak link, network settings).
  NET_SIM_ABSENT: def('E-NET-08', 'network-down',
    { cause: 'No SIM card', steps: ['Power off, insert the SIM card', 'Gold contacts down, push until it clicks'] },
    { cause: '未检测到SIM卡', steps: ['关机后插入SIM卡', '芯片朝下，推到卡住为止'] }),
  NET_SIM_PIN: def('E-NET-09', 'network-down',
    { cause: 'SIM card PIN required', steps: ['Enter the SIM PIN (attempts are limited)', 'Or use a SIM with the PIN lock off'] },
    { cause: 'SIM卡需要PIN码', steps: ['输入SIM卡PIN码（次数有限）', '或换用未设PIN码的SIM卡'] }),
  NET_SIM_PUK: def('E-NET-10', 'network-down',
    { cause: 'SIM card locked (PUK)', steps: ['Wrong PIN too often: do not guess', 'Call the mobile operator for the PUK or a new SIM'] },
    { cause: 'SIM卡已锁（需PUK码）', steps: ['PIN码错误次数过多，请勿再试', '联系运营商获取PUK码或换卡'] }),
  NET_NO_SIGNAL: def('E-NET-11', 'network-down',
    { cause: 'No mobile signal', steps: ['Move near a window or outdoors', 'Check the antenna is attached'] },
    { cause: '无移动网络信号', steps: ['移到窗边或室外', '检查天线是否接好'] }),
  NET_ROAMING_DENIED: def('E-NET-12', 'network-down',
    { cause: 'Mobile network refused the SIM', steps: ['Roaming or service not allowed', 'Call the mobile operator; check the APN'] },
    { cause: '移动网络拒绝该SIM卡', steps: ['漫游或业务未开通', '联系运营商，核对APN'] }),
  NET_NOT_REGISTERED: def('E-NET-13', 'network-down',
    { cause: 'Not on the mobile network yet', steps: ['Wait a minute, then retry', 'Move to a place with better signal'] },
    { cause: '尚未注册到移动网络', steps: ['请稍等一分钟后重试', '移到信号更好的地方'] }),
  NET_APN: def('E-NET-14', 'network-down',
    { cause: 'APN differs from the settings', steps: ['Check the APN with the acquirer', 'Service sets it in the board file'] },
    { cause: 'APN与设置不符', steps: ['向收单机构核对APN', '由维护人员在板卡配置中设置'] }),
  NET_MODEM: def('E-NET-15', 'device-absent',
    { cause: '4G modem not answering', steps: ['Restart the terminal', 'Call support if repeated'] },
    { cause: '4G模块无响应', steps: ['重启终端', '多次出现请联系客服'] }),
  NET_MODEM_GARBLED: def('E-NET-16', 'device-absent',
    { cause: '4G modem answer garbled', steps: ['Restart the terminal', 'Call support if repeated'] },
    { cause: '4G模块应答错误', steps: ['重启终端', '多次出现请联系客服'] }),
  NET_MODEM_REFUSED: def('E-NET-17', 'device-absent',
    { cause: '4G modem refused a command', steps: ['Restart the terminal', 'Call support with the code'] },
    { cause: '4G模块拒绝指令', steps: ['重启终端', '凭此代码联系客服'] }),
  // TLS to the acquirer host (runtime/host/tls.ts, FIELD-FAULTS.md "Sign-on fails: TLS"). Nothing
  // was sent when these occur: the request waits for a verified connection.
  NET_TLS_EXPIRED: def('E-NET-18', 'host-unreachable',
    { cause: 'Host certificate expired', steps: ['Check the date and time (Settings)', 'If right: the acquirer must renew its certificate'] },
    { cause: '主机证书已过期', steps: ['检查终端日期时间', '时间无误则请收单机构更新证书'] }),
  NET_TLS_NOT_YET_VALID: def('E-NET-19', 'host-unreachable',
    { cause: 'Host certificate not yet valid', steps: ['Terminal clock may be behind: check the date', 'Else call the acquirer'] },
    { cause: '主机证书尚未生效', steps: ['终端时钟可能偏慢，检查日期', '否则联系收单机构'] }),
  NET_TLS_UNTRUSTED: def('E-NET-20', 'host-unreachable',
    { cause: 'Host certificate not trusted', steps: ['Wrong host or network intercepted', 'Do not sell; call support'] },
    { cause: '主机证书不可信', steps: ['主机地址错误或网络被拦截', '请勿交易，联系客服'] }),
  NET_TLS_NAME: def('E-NET-21', 'host-unreachable',
    { cause: 'Host certificate name mismatch', steps: ['Check the host address setting', 'Call support with the code'] },
    { cause: '主机证书名称不符', steps: ['检查主机地址设置', '凭此代码联系客服'] }),
  NET_TLS_PIN: def('E-NET-22', 'host-unreachable',
    { cause: 'Host key differs from the pinned one', steps: ['Do not sell: possible interception', 'Call support with the code'] },
    { cause: '主机密钥与预置不符', steps: ['请勿交易，可能被拦截', '凭此代码联系客服'] }),
  NET_TLS_CLIENT_REFUSED: def('E-NET-23', 'host-unreachable',
    { cause: 'Host refused the terminal certificate', steps: ['Terminal not registered for TLS', 'Call the acquirer with the serial'] },
    { cause: '主机拒绝终端证书', steps: ['终端证书未登记', '凭序列号联系收单机构'] }),
  NET_TLS_CLIENT_EXPIRED: def('E-NET-24', 'host-unreachable',
    { cause: 'Terminal certificate expired', steps: ['Check the date and time (Settings)', 'If right: return for a new certificate'] },
    { cause: '终端证书已过期', steps: ['检查终端日期时间', '时间无误则需返厂更新证书'] }),
  NET_TLS_TIMEOUT: def('E-NET-25', 'host-unreachable',
    { cause: 'Secure connection timed out', steps: ['Weak network: move or retry', 'Check the host port setting'] },
    { cause: '安全连接超时', steps: ['网络信号弱，换位置或重试', '检查主机端口设置'] }),
  NET_TLS_FAILED: def('E-NET-26', 'host-unreachable',
    { cause: 'Secure connection failed', steps: ['Check the host address and port', 'Call support with the code'] },
    { cause: '安全连接失败', steps: ['检查主机地址和端口', '凭此代码联系客服'] }),
  NET_TLS_CREDENTIALS: def('E-NET-27', 'host-unreachable',
    { cause: 'TLS certificate files missing', steps: ['CA or terminal certificate not installed', 'Return for provisioning'] },
    { cause: '缺少TLS证书文件', steps: ['未安装CA证书或终端证书', '需返厂重新写入'] }),
  // Wi-Fi through the OS's wpa_supplicant (hal/wifi.ts, README "Wi-Fi"); link failover is
  // runtime/host/failover.ts (a failed link keeps its own code, e.g. E-NET-01, E-NET-06).
  NET_WIFI_CTRL: def('E-NET-28', 'device-absent',
    { cause: 'Wi-Fi service not answering', steps: ['Restart the terminal', 'Call support if repeated'] },
    { cause: 'Wi-Fi服务无响应', steps: ['重启终端', '多次出现请联系客服'] }),
  NET_WIFI_REFUSED: def('E-NET-29', 'network-down',
    { cause: 'Wi-Fi setting refused', steps: ['Check the network name and password', 'Choose the network again'] },
    { cause: 'Wi-Fi设置被拒绝', steps: ['核对网络名称和密码', '重新选择网络'] }),
  NET_WIFI_NOT_FOUND: def('E-NET-30', 'network-down',
    { cause: 'Wi-Fi network not found', steps: ['Move closer to the router', 'Scan again and choose it'] },
    { cause: '未找到该Wi-Fi网络', steps: ['靠近路由器', '重新搜索并选择'] }),
  NET_WIFI_AUTH: def('E-NET-31', 'network-down',
    { cause: 'Wi-Fi password wrong', steps: ['Type the password again', 'Letters: press a key repeatedly'] },
    { cause: 'Wi-Fi密码错误', steps: ['重新输入密码', '字母：连续按同一键切换'] }),
  // A link of the board's `links` whose traffic leaves by another device (boot/link-check.ts):
  // its source routing is missing, so failover's bind to its address would not use it.
  NET_LINK_ROUTE: def('E-NET-32', 'network-down',
    { cause: 'Link not routed by itself', steps: ['Sales use the next link meanwhile', 'Service: set the link\'s source routing'] },
    { cause: '该线路路由未单独配置', steps: ['交易暂用下一条线路', '维护人员：配置该线路的源路由'] }),
  // The joined Wi-Fi network in diagnostics' network check (boot/diagnostics.ts wifiLines,
  // FIELD-FAULTS.md "Sign-on fails": weak or loose link). Weak: WIFI_WEAK_BELOW_DBM there.
  NET_WIFI_WEAK: def('E-NET-33', 'network-down',
    { cause: 'Wi-Fi signal weak', steps: ['Move closer to the router', 'Restart the router if still weak'] },
    { cause: 'Wi-Fi信号弱', steps: ['靠近路由器', '仍然信号弱请重启路由器'] }),
  NET_WIFI_NOT_JOINED: def('E-NET-34', 'network-down',
    { cause: 'Wi-Fi not connected', steps: ['Move closer to the router', 'Choose the network: Settings > Wi-Fi'] },
    { cause: 'Wi-Fi未连接', steps: ['靠近路由器', '在设置>Wi-Fi中选择网络'] }),
  // ---- acquirer host
  // What became of the reversal (still owed, or cleared: not charged) is not in these fixed steps:
  // the error screen says it from the state (boot/screen-map.ts errorDetails), which alone knows.
  HOST_TIMEOUT: def('E-HOST-01', 'timeout',
    { cause: 'Host not answering', steps: ['Check the network', 'Then retry'] },
    { cause: '主机无应答', steps: ['检查网络', '然后重试'] }),
  HOST_MALFORMED: def('E-HOST-02', 'host-malformed',
    { cause: 'Bad reply from host', steps: ['Treated as no reply', 'Retry; call support if repeated'] },
    { cause: '主机应答报文错误', steps: ['按无应答处理', '重试，多次出现请联系客服'] }),
  HOST_MAC: def('E-HOST-03', 'mac-failure',
    { cause: 'Reply MAC check failed', steps: ['The terminal reverses the sale', 'Terminal signs on again'] },
    { cause: '应答MAC校验错', steps: ['终端冲正该交易', '终端将重新签到'] }),
  HOST_DECLINED: def('E-HOST-04', 'host-declined',
    { cause: 'Declined by the host', steps: ['Read the response code', 'Ask the customer for another card'] },
    { cause: '交易被拒绝', steps: ['查看应答码', '请客户换卡'] }),
  HOST_SIGNON: def('E-HOST-05', 'host-declined',
    { cause: 'Sign-on refused', steps: ['Check terminal/merchant id', 'Call the acquirer'] },
    { cause: '签到被拒绝', steps: ['检查终端号和商户号', '联系收单机构'] }),
  HOST_SETTLE: def('E-HOST-06', 'host-declined',
    { cause: 'Settlement not accepted', steps: ['Batch uploaded; report printed', 'Call the acquirer'] },
    { cause: '结算不平', steps: ['已上送批次并打印报表', '联系收单机构'] }),
  HOST_REQUEST_INVALID: def('E-HOST-07', 'operator-input',
    { cause: 'Transaction data not valid for the host', steps: ['Check the card and the amount', 'Retry; call support if repeated'] },
    { cause: '交易数据无效', steps: ['核对卡片和金额', '重试，多次出现请联系客服'] }),
  HOST_REVERSAL_PENDING: def('E-HOST-08', 'host-unreachable',
    { cause: 'A reversal is waiting to be sent', steps: ['Check the network', 'Retry: it is sent before the next transaction'] },
    { cause: '有冲正未上送', steps: ['检查网络', '重试：下笔交易前自动上送'] }),
  HOST_PARAMS: def('E-HOST-09', 'host-malformed',
    { cause: 'Host parameters out of range', steps: ['Old parameters kept', 'Call the acquirer'] },
    { cause: '主机下发参数超出范围', steps: ['已保留原参数', '联系收单机构'] }),
  HOST_FEATURE_OFF: def('E-HOST-10', 'host-declined',
    { cause: 'Host does not offer this', steps: ['Hidden until the next sign-on', 'Call the acquirer to enable it'] },
    { cause: '主机不支持此交易', steps: ['下次签到前不再显示', '联系收单机构开通'] }),
  // A QR payment whose outcome is unknown is resolved by query, never reversed (docs/PROTOCOL.md, QR).
  HOST_QR_PENDING: def('E-HOST-11', 'host-unreachable',
    { cause: 'A QR payment is still unresolved', steps: ['Check the network', 'Try again: the terminal asks the host first'] },
    { cause: '扫码交易结果未明', steps: ['请检查网络', '重试：终端先向主机查询'] }),
  // ---- keys
  KEY_CHECK: def('E-KEY-01', 'keys-invalid',
    { cause: 'Key check values do not match', steps: ['Keys invalid', 'Re-provision at service centre'] },
    { cause: '密钥校验值不符', steps: ['密钥无效', '请到服务网点重新灌密钥'] }),
  KEY_MISSING: def('E-KEY-02', 'keys-invalid',
    { cause: 'No working keys', steps: ['Sign on first'] },
    { cause: '无工作密钥', steps: ['请先签到'] }),
  KEY_TEST_ON_REAL: def('E-KEY-03', 'keys-invalid',
    { cause: 'Test keys on a real board', steps: ['Re-provision at the factory station'] },
    { cause: '真实终端使用测试密钥', steps: ['请在工厂工位重新灌装'] }),
  // The device key's providers (runtime/device-key-provider.ts, README "The device key").
  KEY_PLAIN_FILE_REFUSED: def('E-KEY-04', 'keys-invalid',
    { cause: 'Plain device key file refused on a real board', steps: ['Board file: set deviceKey provider tpm2', 'Or allowPlainFile true to accept the risk'] },
    { cause: '真实终端拒绝明文设备密钥文件', steps: ['板卡文件：设置deviceKey为tpm2', '或设置allowPlainFile为true并承担风险'] }),
  KEY_TPM_UNREACHABLE: def('E-KEY-05', 'keys-invalid',
    { cause: 'TPM not answering', steps: ['Check the TPM and the tcti in the board file', 'Check tpm2-tools is installed', 'Call support'] },
    { cause: 'TPM安全芯片无响应', steps: ['检查TPM和板卡文件中的tcti', '检查是否已安装tpm2-tools', '联系客服'] }),
  KEY_NOT_PROVISIONED: def('E-KEY-06', 'keys-invalid',
    { cause: 'Device key not provisioned', steps: ['Restore the data partition', 'Or provision at the factory station'] },
    { cause: '设备密钥未灌装', steps: ['恢复数据分区', '或在工厂工位灌装'] }),
  KEY_TPM_REFUSED: def('E-KEY-07', 'keys-invalid',
    { cause: 'TPM refuses the sealed device key', steps: ['Data is from another terminal', 'Put it back in its own terminal', 'Do not provision again: call support'] },
    { cause: 'TPM拒绝解封设备密钥', steps: ['数据来自另一台终端', '请放回原终端', '请勿重新灌装，联系客服'] }),
  KEY_SEALED_DAMAGED: def('E-KEY-08', 'keys-invalid',
    { cause: 'Sealed device key file damaged', steps: ['Restore device-key.tpm from its backup', 'Do not provision again: call support'] },
    { cause: '密封的设备密钥文件损坏', steps: ['从备份恢复device-key.tpm', '请勿重新灌装，联系客服'] }),
  KEY_FILE_DAMAGED: def('E-KEY-09', 'keys-invalid',
    { cause: 'Device key file damaged', steps: ['Restore the data partition', 'Do not provision again: call support'] },
    { cause: '设备密钥文件损坏', steps: ['恢复数据分区', '请勿重新灌装，联系客服'] }),
  // ---- storage and journal
  STO_FULL: def('E-STO-01', 'storage-full',
    { cause: 'Storage full', steps: ['Settle now', 'Then export the journal'] },
    { cause: '存储已满', steps: ['请立即结算', '然后导出流水'] }),
  STO_NEARLY_FULL: def('E-STO-02', 'storage-full',
    { cause: 'Storage nearly full', steps: ['Settle now'] },
    { cause: '存储即将满', steps: ['请立即结算'] }),
  STO_IO: def('E-STO-03', 'storage-io',
    { cause: 'Storage I/O error', steps: ['Do not power off', 'Export the journal', 'Call support'] },
    { cause: '存储读写错误', steps: ['请勿关机', '导出流水', '联系客服'] }),
  STO_READONLY: def('E-STO-04', 'storage-readonly',
    { cause: 'Storage is read-only', steps: ['Do not power off', 'Export the journal', 'Call support'] },
    { cause: '存储只读', steps: ['请勿关机', '导出流水', '联系客服'] }),
  STO_DAMAGED: def('E-STO-05', 'journal-damaged',
    { cause: 'Journal damaged', steps: ['Recovery mode', 'Restore from backup or salvage'] },
    { cause: '流水数据损坏', steps: ['进入恢复模式', '从备份恢复或抢救数据'] }),
  STO_REFUSED_FIELD: def('E-STO-06', 'journal-refused',
    { cause: 'Sensitive data refused by journal', steps: ['Software fault', 'Call support'] },
    { cause: '拒绝保存敏感数据', steps: ['软件故障', '联系客服'] }),
  STO_CLOSED: def('E-STO-07', 'journal-closed',
    { cause: 'Journal is closed', steps: ['Restart the terminal'] },
    { cause: '流水已关闭', steps: ['重启终端'] }),
  STO_BACKUP_INVALID: def('E-STO-08', 'backup-invalid',
    { cause: 'Backup file invalid', steps: ['Check passphrase', 'Use another backup'] },
    { cause: '备份文件无效', steps: ['检查密码', '换一个备份'] }),
  STO_EXPORT_TARGET: def('E-STO-09', 'export-target',
    { cause: 'Export target missing or busy', steps: ['Insert a USB stick', 'Free the USB port'] },
    { cause: '导出目标不存在或被占用', steps: ['插入U盘', '释放USB口'] }),
  STO_SALVAGE_NONE: def('E-STO-10', 'journal-damaged',
    { cause: 'Nothing could be salvaged', steps: ['Restore from backup', 'Call support'] },
    { cause: '未能抢救任何数据', steps: ['从备份恢复', '联系客服'] }),
  STO_IDENTITY: def('E-STO-11', 'journal-damaged',
    { cause: 'Journal belongs to another terminal', steps: ['Check the storage card', 'Call support'] },
    { cause: '流水不属于本终端', steps: ['检查存储卡', '联系客服'] }),
  STO_DEVICE_KEY: def('E-STO-12', 'keys-invalid',
    { cause: 'Device key does not open this journal', steps: ['Do not provision again', 'Restore device.key from its backup', 'Call support'] },
    { cause: '设备密钥无法解开本流水', steps: ['请勿重新灌装', '从备份恢复device.key', '联系客服'] }),
  STO_IN_USE: def('E-STO-13', 'journal-in-use',
    { cause: 'Journal in use', steps: ['Stop the terminal first', 'Then try again'] },
    { cause: '流水正被使用', steps: ['先停止终端程序', '然后再试'] }),
  // A write onto the USB stick failed (I/O error, full, pulled out): the stick's fault, not the
  // terminal's storage (E-STO-03), and nothing on the terminal was changed by the attempt.
  STO_EXPORT_WRITE: def('E-STO-14', 'export-target',
    { cause: 'Writing to the USB stick failed', steps: ['Use another USB stick', 'Export again', 'Terminal data unchanged'] },
    { cause: '写入U盘失败', steps: ['换一个U盘', '重新导出', '终端数据未改动'] }),
  // The archives of settled batches are over their budget (runtime/archive.ts ARCHIVE_BYTES_MAX)
  // and the oldest were never exported: only an exported archive is removed. Sales go on meanwhile.
  STO_ARCHIVE_EXPORT: def('E-STO-15', 'storage-full',
    { cause: 'Old records need exporting', steps: ['Export them in the recovery menu with a USB stick', 'Then restart the terminal'] },
    { cause: '旧流水需要导出', steps: ['在恢复菜单中用U盘导出', '然后重启终端'] }),
  // The terminal's own scheduled backup (storage/scheduled-backup.ts) could not be written to the
  // board's backup folder (the SD card missing, full, read-only, failing). Never an operating
  // stop: sales go on, it is logged, and diagnostics' storage check shows it; no idle notice.
  STO_BACKUP_TARGET: def('E-STO-16', 'export-target',
    { cause: 'Backup not written to the backup card', steps: ['Check or replace the SD card', 'Sales go on; it tries again'] },
    { cause: '备份未能写入备份卡', steps: ['检查或更换SD卡', '交易不受影响，稍后自动重试'] }),
  // ---- printer
  PRN_PAPER_OUT: def('E-PRN-01', 'paper-out',
    { cause: 'Paper out', steps: ['Load paper', 'The receipt will print'] },
    { cause: '打印机缺纸', steps: ['请装纸', '装纸后自动打印'] }),
  PRN_COVER_OPEN: def('E-PRN-02', 'cover-open',
    { cause: 'Printer cover open', steps: ['Close the cover'] },
    { cause: '打印机盖未合上', steps: ['请合上纸仓盖'] }),
  PRN_FAULT: def('E-PRN-03', 'printer-fault',
    { cause: 'Printer fault', steps: ['Clear any paper jam', 'Reprint', 'Call support if repeated'] },
    { cause: '打印机故障', steps: ['清除卡纸', '重打印', '多次出现请联系客服'] }),
  PRN_TIMEOUT: def('E-PRN-04', 'timeout',
    { cause: 'Printer not answering', steps: ['Check the printer cable', 'Reprint'] },
    { cause: '打印机无响应', steps: ['检查打印机连线', '重打印'] }),
  PRN_NOT_PRINTED: def('E-PRN-05', 'printer-fault',
    { cause: 'Receipt not printed', steps: ['Fix the printer', 'Reprint from the menu'] },
    { cause: '小票未打印', steps: ['排除打印机故障', '从菜单重打印'] }),
  PRN_DISCONNECTED: def('E-PRN-06', 'device-absent',
    { cause: 'Printer disconnected', steps: ['Reseat the printer cable', 'Reprint'] },
    { cause: '打印机连接断开', steps: ['重新插好打印机连线', '重打印'] }),
  // ---- card reader
  RDR_FAULT: def('E-RDR-01', 'reader-fault',
    { cause: 'Card reader fault', steps: ['Insert the card instead', 'Call support'] },
    { cause: '读卡器故障', steps: ['请改用插卡', '联系客服'] }),
  RDR_UNREADABLE: def('E-RDR-02', 'card-unreadable',
    { cause: 'Card not read', steps: ['Swipe again', 'Or insert the card'] },
    { cause: '读卡失败', steps: ['请重新刷卡', '或插卡'] }),
  RDR_TIMEOUT: def('E-RDR-03', 'timeout',
    { cause: 'Card reader not answering', steps: ['Restart the terminal', 'Call support'] },
    { cause: '读卡器无响应', steps: ['重启终端', '联系客服'] }),
  RDR_DISCONNECTED: def('E-RDR-04', 'device-absent',
    { cause: 'Card reader disconnected', steps: ['Reseat the reader cable', 'Restart the terminal'] },
    { cause: '读卡器连接断开', steps: ['重新插好读卡器连线', '重启终端'] }),
  RDR_CARD_REMOVED: def('E-RDR-05', 'card-unreadable',
    { cause: 'Card removed too early', steps: ['Insert the card again', 'Leave it in until asked'] },
    { cause: '卡片过早拔出', steps: ['请重新插卡', '提示前请勿拔卡'] }),
  RDR_NO_CARD: def('E-RDR-06', 'timeout',
    { cause: 'No card presented', steps: ['Swipe, insert or tap the card', 'Start the sale again'] },
    { cause: '未检测到卡片', steps: ['请刷卡、插卡或挥卡', '重新发起交易'] }),
  // EMV kernel outcomes (issue 11; runtime/txn/emv-kernel.ts, card.ts)
  RDR_NO_APPLICATION: def('E-RDR-07', 'card-unreadable',
    { cause: 'No supported application on the card', steps: ['Use another card', 'Or swipe the card'] },
    { cause: '卡片无支持的应用', steps: ['请换一张卡', '或刷卡'] }),
  RDR_CARD_DECLINED: def('E-RDR-08', 'card-unreadable',
    { cause: 'Card declined the sale', steps: ['Use another card', 'Or pay by QR code or cash'] },
    { cause: '卡片拒绝交易', steps: ['请换一张卡', '或扫码、现金支付'] }),
  RDR_ODA_DECLINED: def('E-RDR-09', 'card-unreadable',
    { cause: 'Card authentication failed: declined', steps: ['Use another card', 'Card issuer can help'] },
    { cause: '卡片认证失败，交易拒绝', steps: ['请换一张卡', '可联系发卡行'] }),
  // qPBOC (runtime/txn/emv-qpboc.ts): the amount is at or over the AID's contactless transaction
  // limit, or the card's fDDA failed and it asks for its contact interface.
  RDR_USE_CONTACT: def('E-RDR-13', 'card-unreadable',
    { cause: 'Tap not allowed for this card or amount', steps: ['Insert the card', 'Or swipe it'] },
    { cause: '此卡或此金额不支持挥卡', steps: ['请插卡', '或刷卡'] }),
  // ---- the online half of a chip sale (runtime/txn/emv-online.ts): the host approved, the card did
  // not confirm, so the sale is reversed (06) and nothing is charged.
  RDR_ISSUER_AUTH_FAILED: def('E-RDR-10', 'card-unreadable',
    { cause: 'Card rejected the bank: reversed', steps: ['Nothing charged', 'Use another card or QR'] },
    { cause: '发卡行认证失败，已冲正', steps: ['未扣款', '请换卡或扫码支付'] }),
  RDR_DECLINED_AFTER_APPROVAL: def('E-RDR-11', 'card-unreadable',
    { cause: 'Card declined after approval: reversed', steps: ['Nothing charged', 'Use another card or QR'] },
    { cause: '批准后卡片拒绝，已冲正', steps: ['未扣款', '请换卡或扫码支付'] }),
  RDR_REMOVED_BEFORE_END: def('E-RDR-12', 'card-unreadable',
    { cause: 'Card removed too soon: reversed', steps: ['Nothing charged', 'Insert again, leave it in'] },
    { cause: '过早拔卡，交易已冲正', steps: ['未扣款', '请重新插卡，结束前勿拔卡'] }),
  // Unreadable swipes (runtime/txn/swipe-failures.ts): SWIPE_FAILURES_MAX in one transaction, and
  // the terminal stops asking for a swipe (the stripe is likely damaged) and asks for the chip.
  RDR_SWIPE_FAILED: def('E-RDR-14', 'card-unreadable',
    { cause: 'Card stripe not readable', steps: ['Insert or tap the card instead', 'The stripe may be damaged'] },
    { cause: '磁条无法读取', steps: ['请插卡或挥卡', '磁条可能已损坏'] }),
  // ---- keypad and display
  KBD_STUCK: def('E-KBD-01', 'key-stuck',
    { cause: 'Key stuck', steps: ['Press and release each stuck key', 'Run the keypad test'] },
    { cause: '按键卡住', steps: ['按下松开卡住的键', '运行键盘测试'] }),
  KBD_RESET_STUCK: def('E-KBD-02', 'key-stuck',
    { cause: 'Reset button stuck', steps: ['Press and release the reset button', 'Call support if it stays in'] },
    { cause: '复位键卡住', steps: ['按下并松开复位键', '仍卡住请联系客服'] }),
  KBD_DEAD: def('E-KBD-03', 'device-absent',
    { cause: 'Key not responding', steps: ['Run the keypad test again', 'Call support'] },
    { cause: '按键无响应', steps: ['重新运行键盘测试', '联系客服'] }),
  DSP_FAULT: def('E-DSP-01', 'device-absent',
    { cause: 'Display not answering', steps: ['Reseat the display cable', 'Call support'] },
    { cause: '显示屏无响应', steps: ['重新插好显示屏排线', '联系客服'] }),
  // ---- scanner (E-SCN: the 2D scan engine that reads QR payment codes, hal/scanner.ts). The
  // Chinese says 读码器/二维码: the display font has no 扫 or 付 (ui-lcd/font subset).
  SCN_NO_CODE: def('E-SCN-01', 'timeout',
    { cause: 'No code scanned', steps: ['Show the payment code to the scanner', 'Start the sale again'] },
    { cause: '未读到二维码', steps: ['请出示二维码', '重新发起交易'] }),
  SCN_TIMEOUT: def('E-SCN-02', 'timeout',
    { cause: 'Scanner not answering', steps: ['Restart the terminal', 'Call support'] },
    { cause: '读码器无响应', steps: ['重启终端', '联系客服'] }),
  SCN_GARBLED: def('E-SCN-03', 'reader-fault',
    { cause: 'Scan not understood', steps: ['Show the code again', 'Call support if repeated'] },
    { cause: '读码数据错误', steps: ['请重新出示二维码', '多次出现请联系客服'] }),
  SCN_DISCONNECTED: def('E-SCN-04', 'device-absent',
    { cause: 'Scanner disconnected', steps: ['Reseat the scanner cable', 'Restart the terminal'] },
    { cause: '读码器连接断开', steps: ['重新插好读码器连线', '重启终端'] }),
  // ---- board and buses
  BRD_INVALID: def('E-BRD-01', 'board-invalid',
    { cause: 'Board file invalid', steps: ['Fix the field named', 'Reinstall the board file'] },
    { cause: '板卡配置错误', steps: ['修正所列字段', '重新安装板卡配置'] }),
  BRD_DEVICE_ABSENT: def('E-BRD-02', 'device-absent',
    { cause: 'Device not answering', steps: ['Check the part named', 'Call support'] },
    { cause: '设备无响应', steps: ['检查所列部件', '联系客服'] }),
  BRD_BUS: def('E-BRD-03', 'bus-fault',
    { cause: 'Bus transfer failed', steps: ['Restart the terminal', 'Call support'] },
    { cause: '总线通讯失败', steps: ['重启终端', '联系客服'] }),
  // An input event device (hal/drivers/evdev-keypad.ts) went away while read: ENODEV (driver
  // unbound, cable, power) or its end closed. No key reaches the terminal until it restarts.
  BRD_INPUT_GONE: def('E-BRD-04', 'device-absent',
    { cause: 'Keypad device gone', steps: ['Reseat the keypad cable', 'Restart the terminal'] },
    { cause: '键盘设备已断开', steps: ['重新插好键盘排线', '重启终端'] }),
  // The signature pad (signature0, hal/drivers/tsc2007.ts) failed its self-test or a capture:
  // sales go on, the cardholder signs the paper slip, and the pad is not used until a restart.
  // One code for the merchant whatever the bus said (E-BRD-02/03 are in the log beside it).
  BRD_SIGNATURE_PAD: def('E-BRD-05', 'device-absent',
    { cause: 'Signature pad not working', steps: ['Cardholders sign the paper slip', 'Restart; call support if it stays'] },
    { cause: '签名板不能使用', steps: ['持卡人在小票上签名', '重启后仍不行请联系客服'] }),
  // The signature pad's touch test in diagnostics (boot/diagnostics.ts touch) found touches
  // nobody made, or a line drawn across the pad read only on part of it (FIELD-FAULTS.md: "touch
  // panel dirty or broken"). A pad that does not answer at all is E-BRD-05.
  BRD_TOUCH: def('E-BRD-06', 'device-absent',
    { cause: 'Touch panel dirty or damaged', steps: ['Clean the signature pad', 'Replace the pad if it stays'] },
    { cause: '签名板脏污或损坏', steps: ['清洁签名板', '仍不正常请更换签名板'] }),
  // ---- operator
  OPR_AMOUNT: def('E-OPR-01', 'operator-input',
    { cause: 'Amount not valid', steps: ['Enter the amount again'] },
    { cause: '金额无效', steps: ['请重新输入金额'] }),
  OPR_PASSWORD: def('E-OPR-02', 'auth-failed',
    { cause: 'Wrong password', steps: ['Enter it again', 'Attempts are limited'] },
    { cause: '密码错误', steps: ['请重新输入', '尝试次数有限'] }),
  OPR_LOCKED: def('E-OPR-03', 'locked-out',
    { cause: 'Operator locked', steps: ['Ask an administrator to unlock', 'Menu: Settings > Operators'] },
    { cause: '操作员已锁定', steps: ['请管理员解锁', '菜单：设置>操作员管理'] }),
  OPR_PERMISSION: def('E-OPR-04', 'permission',
    { cause: 'Supervisor password required', steps: ['Ask a supervisor'] },
    { cause: '需要主管密码', steps: ['请主管操作'] }),
  OPR_UNKNOWN: def('E-OPR-05', 'operator-input',
    { cause: 'Unknown operator number', steps: ['Check the number', 'Enter it again'] },
    { cause: '操作员号不存在', steps: ['核对操作员号', '重新输入'] }),
  OPR_NOT_FOUND: def('E-OPR-06', 'operator-input',
    { cause: 'Transaction not found', steps: ['Check the trace number'] },
    { cause: '原交易不存在', steps: ['核对凭证号'] }),
  OPR_CANCELLED: def('E-OPR-07', 'cancelled',
    { cause: 'Cancelled', steps: ['Nothing was charged'] },
    { cause: '已取消', steps: ['未扣款'] }),
  OPR_INPUT: def('E-OPR-08', 'operator-input',
    { cause: 'Input not valid', steps: ['Check what you typed', 'Enter it again'] },
    { cause: '输入无效', steps: ['核对输入', '重新输入'] }),
  OPR_SETTLEMENT_OPEN: def('E-OPR-09', 'operator-input',
    { cause: 'Settlement in progress', steps: ['Finish the settlement first'] },
    { cause: '结算未完成', steps: ['请先完成结算'] }),
  OPR_NOT_VOIDABLE: def('E-OPR-10', 'operator-input',
    { cause: 'Transaction cannot be voided', steps: ['It is already voided, declined or reversed', 'Use a refund instead'] },
    { cause: '该交易不能撤销', steps: ['已撤销、被拒或已冲正', '请改用退货'] }),
  OPR_BATCH_FULL: def('E-OPR-11', 'operator-input',
    { cause: 'Batch full', steps: ['Settle now', 'Then continue selling'] },
    { cause: '批次已满', steps: ['请立即结算', '结算后继续交易'] }),
  OPR_PROVISIONED: def('E-OPR-12', 'operator-input',
    { cause: 'Terminal already provisioned', steps: ['Check the serial number and TID', 'Do not provision twice'] },
    { cause: '终端已灌装', steps: ['核对终端号', '请勿重复灌装'] }),
  OPR_PASSWORD_LENGTH: def('E-OPR-13', 'operator-input',
    { cause: 'New password: 4 to 12 digits', steps: ['Enter a longer password'] },
    { cause: '新密码须为4至12位数字', steps: ['请输入更长的密码'] }),
  OPR_PASSWORD_SAME: def('E-OPR-14', 'operator-input',
    { cause: 'New password is the old one', steps: ['Choose a different password'] },
    { cause: '新密码与原密码相同', steps: ['请换一个新密码'] }),
  OPR_PASSWORD_MISMATCH: def('E-OPR-15', 'operator-input',
    { cause: 'The two new passwords differ', steps: ['Enter the new password twice'] },
    { cause: '两次新密码不一致', steps: ['请两次输入相同的新密码'] }),
  OPR_CARD_NUMBER: def('E-OPR-16', 'operator-input',
    { cause: 'Card number not valid', steps: ['Check the digits on the card', 'Enter it again'] },
    { cause: '卡号有误', steps: ['核对卡面号码', '重新输入'] }),
  OPR_EXPIRY: def('E-OPR-17', 'operator-input',
    { cause: 'Expiry date not valid or passed', steps: ['Enter MMYY as on the card', 'An expired card cannot pay'] },
    { cause: '有效期无效或已过期', steps: ['按卡面输入月月年年', '过期卡不能交易'] }),
  OPR_REFERENCE: def('E-OPR-18', 'operator-input',
    { cause: 'Reference no. not valid', steps: ['12 digits from the sale receipt'] },
    { cause: '参考号有误', steps: ['输入原交易小票上的12位参考号'] }),
  OPR_DATE: def('E-OPR-19', 'operator-input',
    { cause: 'Original date not valid', steps: ['MMDD from the sale receipt', 'Not in the future, at most 180 days ago'] },
    { cause: '原交易日期有误', steps: ['输入原小票上的月月日日', '不能晚于今天，最多180天前'] }),
  OPR_ADMINISTRATOR: def('E-OPR-20', 'permission',
    { cause: 'Administrator password required', steps: ['Ask an administrator'] },
    { cause: '需要管理员密码', steps: ['请管理员操作'] }),
  // The recovery menu's own limit (boot/recovery.ts): per boot, so power cycling is what works.
  OPR_RECOVERY_LOCKED: def('E-OPR-21', 'locked-out',
    { cause: 'Recovery login locked', steps: ['Power off and on', 'Then log in again'] },
    { cause: '恢复登录已锁定', steps: ['请关机再开机', '然后重新登录'] }),
  OPR_OFFLINE_PENDING: def('E-OPR-22', 'host-unreachable',
    { cause: 'Offline sales not sent yet', steps: ['Check the network, send again', 'Or a supervisor gives them up'] },
    { cause: '有离线交易未上送', steps: ['检查网络后重新上送', '或由主管放弃并打印清单'] }),
  OPR_PAYMENT_CODE: def('E-OPR-23', 'operator-input',
    { cause: 'Payment code is 16 to 32 digits', steps: ['Scan the code again', 'Or key it in'] },
    { cause: '付款码应为16至32位数字', steps: ['请重新扫码', '或手工输入'] }),
  // Operator management (Settings > Operators, runtime/operators.ts): an administrator's refusals.
  OPR_NUMBER_TAKEN: def('E-OPR-24', 'operator-input',
    { cause: 'Operator no. already in use', steps: ['Choose another number', 'Operators > List shows them'] },
    { cause: '操作员号已存在', steps: ['请换一个操作员号', '操作员管理>查询可查看'] }),
  OPR_PASSWORD_WEAK: def('E-OPR-25', 'operator-input',
    { cause: 'Password too easy to guess', steps: ['Not one digit repeated', 'Not a run like 1234 or 4321'] },
    { cause: '密码过于简单', steps: ['不能全为同一数字', '不能为1234或4321等连续数字'] }),
  OPR_DELETE_IN_USE: def('E-OPR-26', 'permission',
    { cause: 'Operator in use: not deleted', steps: ['You cannot delete yourself', 'Log that operator out first'] },
    { cause: '操作员正在使用，不能删除', steps: ['不能删除自己', '请先退出该操作员'] }),
  OPR_LAST_ADMIN: def('E-OPR-27', 'permission',
    { cause: 'Last administrator: not deleted', steps: ['Add another administrator first'] },
    { cause: '唯一的管理员不能删除', steps: ['请先增加一个管理员'] }),
  OPR_OPERATORS_FULL: def('E-OPR-28', 'operator-input',
    { cause: 'Operator list full', steps: ['Delete an operator no longer used'] },
    { cause: '操作员已满', steps: ['请删除不再使用的操作员'] }),
  OPR_NUMBER_RANGE: def('E-OPR-29', 'operator-input',
    { cause: 'Operator no. is 01 to 99', steps: ['00 is reserved for service', 'Enter another number'] },
    { cause: '操作员号应为01至99', steps: ['00为维护专用', '请输入其他号码'] }),
  // ---- software update
  UPD_SIGNATURE: def('E-UPD-01', 'update-invalid',
    { cause: 'Update signature invalid', steps: ['Use an official package'] },
    { cause: '升级包签名无效', steps: ['请使用官方升级包'] }),
  UPD_VERSION: def('E-UPD-02', 'update-invalid',
    { cause: 'Update is not newer', steps: ['Use a newer package', 'Or ask an administrator'] },
    { cause: '升级包版本不高于当前', steps: ['使用更新的升级包', '或请管理员强制'] }),
  UPD_CORRUPT: def('E-UPD-03', 'update-invalid',
    { cause: 'Update package damaged', steps: ['Copy the package again'] },
    { cause: '升级包损坏', steps: ['重新拷贝升级包'] }),
  UPD_ROLLED_BACK: def('E-UPD-04', 'update-invalid',
    { cause: 'Update rolled back: first boot failed', steps: ['The previous version runs', 'Call support'] },
    { cause: '升级失败已回退', steps: ['已运行原版本', '联系客服'] }),
  UPD_BOARD: def('E-UPD-05', 'update-invalid',
    { cause: 'Update is for another board', steps: ['Use the package for this board'] },
    { cause: '升级包板卡不符', steps: ['使用本机的升级包'] }),
  UPD_NOT_SET_UP: def('E-UPD-06', 'update-invalid',
    { cause: 'Updates not set up here', steps: ['Board file: "update" key and root', 'Then run pos update init'] },
    { cause: '本机未设置升级', steps: ['板卡文件需有update密钥和目录', '再运行 pos update init'] }),
  UPD_STATE_DAMAGED: def('E-UPD-07', 'update-invalid',
    { cause: 'Update state file damaged', steps: ['The version that checks out runs', 'Call support'] },
    { cause: '升级状态文件损坏', steps: ['已运行校验通过的版本', '联系客服'] }),
  UPD_VERSION_FLAGGED: def('E-UPD-08', 'update-invalid',
    { cause: 'This version is flagged bad', steps: ['Call support', 'An update replaces it'] },
    { cause: '本版本已被标记有故障', steps: ['联系客服', '升级后即可恢复'] }),
  // ---- factory flash (boot/factory-flash.ts, boot/flash/target.ts: `pos factory flash`)
  FLS_TARGET: def('E-FLS-01', 'export-target',
    { cause: 'Flash target unusable', steps: ['Check the cable or the target path', 'Use a larger or another target'] },
    { cause: '写入目标不可用', steps: ['检查连线或目标文件', '换一个更大的目标'] }),
  FLS_READBACK: def('E-FLS-02', 'storage-io',
    { cause: 'Flash read-back differs', steps: ['Not committed: it does not boot', 'Flash again; replace it if repeated'] },
    { cause: '写入后回读校验不符', steps: ['未提交：无法启动', '重新写入，多次出现请更换'] }),
  FLS_BOOT: def('E-FLS-03', 'timeout',
    { cause: 'Flashed terminal did not boot', steps: ['See the boot log in the report', 'Flash again; return it if repeated'] },
    { cause: '写入后终端未能启动', steps: ['查看结果文件中的启动日志', '重新写入，多次出现请返厂'] }),
  // The station registry (boot/registry-lock.ts): another station process holds its lock and is
  // alive; the message names its PID and host in both languages.
  FLS_REGISTRY_LOCKED: def('E-FLS-04', 'timeout',
    { cause: 'Station registry in use by another run', steps: ['Wait for that station run to finish', 'Or stop the process the message names'] },
    { cause: '工位登记表正被另一次运行占用', steps: ['等待该工位运行结束', '或停止提示中所列的进程'] }),
  // ---- remote management (E-MGT: the MQTT channel of runtime/mgmt/, docs/MANAGEMENT.md). The
  // steps speak to whoever sent the command (the acquirer's management console) or, for the
  // broker, to the technician at the terminal.
  MGT_MALFORMED: def('E-MGT-01', 'operator-input',
    { cause: 'Management command not understood', steps: ['Send JSON with id, cmd and args', 'See docs/MANAGEMENT.md'] },
    { cause: '管理命令格式错误', steps: ['请发送含id、cmd和args的JSON', '见docs/MANAGEMENT.md'] }),
  MGT_UNKNOWN: def('E-MGT-02', 'operator-input',
    { cause: 'Unknown management command', steps: ['Check the command name', 'Update the terminal if it is new'] },
    { cause: '未知的管理命令', steps: ['检查命令名称', '新命令需先升级终端'] }),
  MGT_PARAMS: def('E-MGT-03', 'operator-input',
    { cause: 'Parameter refused: out of range', steps: ['Check the value against the ranges', 'Nothing was changed'] },
    { cause: '参数超出范围被拒绝', steps: ['按范围检查参数值', '参数未作任何修改'] }),
  MGT_NOT_IDLE: def('E-MGT-04', 'timeout',
    { cause: 'Terminal busy: not idle in time', steps: ['Send the command again later', 'Or after the day is settled'] },
    { cause: '终端忙，未能等到空闲', steps: ['稍后重新发送命令', '或结算后再发送'] }),
  MGT_TIMEOUT: def('E-MGT-05', 'timeout',
    { cause: 'Management command timed out', steps: ['Send the command again', 'Check the terminal if it repeats'] },
    { cause: '管理命令执行超时', steps: ['重新发送命令', '多次超时请检查终端'] }),
  MGT_EXPIRED: def('E-MGT-06', 'operator-input',
    { cause: 'Command expired before it ran', steps: ['Send it again if still wanted'] },
    { cause: '命令已过期未执行', steps: ['如仍需要请重新发送'] }),
  MGT_BROKER: def('E-MGT-07', 'host-unreachable',
    { cause: 'Management server unreachable', steps: ['Check the network', 'Check the broker address and certificate in the board file'] },
    { cause: '无法连接管理服务器', steps: ['检查网络', '检查板卡文件中的服务器地址和证书'] }),
  MGT_BUSY: def('E-MGT-08', 'timeout',
    { cause: 'Too many commands waiting', steps: ['Wait for the acks', 'Then send the command again'] },
    { cause: '待执行的命令过多', steps: ['等待应答', '然后重新发送命令'] }),
  MGT_FAILED: def('E-MGT-09', 'timeout',
    { cause: 'Command failed on the terminal', steps: ['Send the command again', 'Upload the logs if it repeats'] },
    { cause: '命令在终端上执行失败', steps: ['重新发送命令', '如重复出现请上传日志'] }),
  MGT_SELLING_LOCKED: def('E-MGT-10', 'permission',
    { cause: 'Selling locked by the acquirer', steps: ['Call the acquirer\'s service line', 'Voids and settlement still work'] },
    { cause: '终端已被收单机构锁定交易', steps: ['请联系收单机构客服', '撤销和结算仍可使用'] }),
  // ---- internal
  SYS_INVARIANT: def('E-SYS-99', 'invariant',
    { cause: 'Internal check failed', steps: ['Selling stopped', 'Recovery mode: call support'] },
    { cause: '内部校验失败', steps: ['已停止交易', '恢复模式：联系客服'] }),
} as const satisfies Record<string, ErrorDef>;

export type ErrorId = keyof typeof ERRORS;

/**
 * An operating error: carries the stable code, the kind code branches on, and a message a
 * person (technician reading the log) can act on. `detail` names what failed (the role, the
 * file, the sequence number) and goes into the message and the structured log.
 */
export class PosError extends Error {
  readonly id: ErrorId;
  readonly code: string;
  readonly kind: ErrorKind;
  readonly detail: Record<string, unknown>;

  constructor(id: ErrorId, message?: string, detail: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    const d = ERRORS[id];
    super(`${d.code} ${message ?? d.en.cause}`, options);
    this.name = 'PosError';
    this.id = id;
    this.code = d.code;
    this.kind = d.kind;
    this.detail = detail;
  }

  get definition(): ErrorDef {
    return ERRORS[this.id];
  }
}

/** A broken internal invariant: the terminal stops selling and enters recovery mode. */
export class InvariantError extends PosError {
  constructor(message: string, detail: Record<string, unknown> = {}) {
    super('SYS_INVARIANT', `invariant broken: ${message}`, detail);
    this.name = 'InvariantError';
  }
}

/** Asserts an invariant (TigerBeetle style): checked when written and when read back. */
export function invariant(condition: unknown, message: string, detail?: Record<string, unknown>): asserts condition {
  if (!condition) throw new InvariantError(message, detail);
}

export function isPosError(e: unknown, kind?: ErrorKind): e is PosError {
  return e instanceof PosError && (kind === undefined || e.kind === kind);
}

/**
 * An error no flow may swallow on its way: a broken invariant, or a storage or journal failure
 * (the terminal stops selling on those). Best-effort steps (an advice, a parameter download)
 * rethrow these and log the rest.
 */
export function isStopError(e: unknown): boolean {
  return isPosError(e) && (e.kind === 'invariant' || e.kind.startsWith('storage') || e.kind.startsWith('journal'));
}

/** Looks an error definition up by its code string (e.g. "E-STO-01"). */
export function errorByCode(code: string): ErrorDef | undefined {
  return Object.values(ERRORS).find((d) => d.code === code);
}
