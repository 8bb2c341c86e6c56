/**
 * Board file schema and its validator, written by hand (no dependency). A board file says which
 * device sits on which bus, pin, address and port, by role (printer0, display0, ...), like a
 * Zephyr devicetree. The validator refuses a file that is invalid or incomplete with PosError
 * BRD_INVALID whose message names the FILE, the ROLE and the FIELD, e.g.
 *   board-configs/x.json: role printer0: field "baudRate" must be an integer 1200..921600
 * Unknown fields are refused too (a typo such as "baudrate" would otherwise be silently ignored).
 */
import { PosError } from '../common/errors';
import { parseTimeZone, TZ_OFFSET_MINUTES_DEFAULT } from '../common/time';
import { KEY_NAMES, KeyName, isKeyName } from './keypad';
import { DEFAULT_EVDEV_KEYMAP, LINUX_KEY_CODES } from './input-keycodes';
import { SMBUS_BLOCK_DATA_BYTES_MAX } from './i2c';
import { APN_PATTERN } from './modem';
import { PRINT_BATTERY_MIN_PCT } from './battery';
import { SCAN_PREFIX_BYTES_MAX, SCAN_PROTOCOLS, SCAN_SUFFIXES, ScanProtocol, ScanSuffix } from './drivers/scan-engine';

/**
 * How GPIO is reached: 'chardev' = the kernel's character device through the project's gpio_v2
 * addon (hal/gpio-native.ts); 'chardev-tools' = the same device through libgpiod's command-line
 * tools (hal/gpio-chardev.ts, a process per write: the fallback for a build without the addon);
 * 'onoff' = sysfs (old kernels); 'sim' = the simulator board.
 */
export type GpioBackend = 'sim' | 'onoff' | 'chardev' | 'chardev-tools';

export interface GpioLineRef {
  readonly line: number;
  readonly activeLow: boolean;
}

export interface PrinterConfig {
  readonly type: 'escpos-serial';
  readonly port: string;
  readonly baudRate: number;
  readonly paperWidthMm: 58 | 80;
  readonly gb18030: boolean;
}

export interface ReaderConfig {
  readonly type: 'framed-card-reader';
  readonly port: string;
  readonly baudRate: number;
}

export interface Hd44780Config {
  readonly type: 'hd44780-pcf8574';
  readonly i2cBus: number;
  readonly address: number;
  readonly cols: 16 | 20;
  readonly rows: 2 | 4;
  readonly pinMap?: { rs: number; rw: number; e: number; backlight: number; d4: number; d5: number; d6: number; d7: number };
  readonly writeChunkBytesMax?: number;
}

export interface Ssd1306Config {
  readonly type: 'ssd1306';
  readonly i2cBus: number;
  readonly address: number;
  readonly rotate180?: boolean;
  readonly writeChunkBytesMax?: number;
}

export interface KeypadConfig {
  readonly type: 'matrix-keypad';
  readonly rowLines: readonly number[];
  readonly colLines: readonly number[];
  /** Rows select by driving low; columns read low when a key closes (pull-ups). */
  readonly activeLow: boolean;
  readonly keymap: ReadonlyArray<ReadonlyArray<KeyName | null>>;
  readonly debounceMs: number;
  readonly longPressMs: number;
  readonly stuckMs: number;
  /** Wait after selecting a row before reading the columns (hal/drivers/matrix-keypad.ts); absent: none. */
  readonly rowSettleMs?: number;
}
/**
 * A keypad the kernel scans (gpio-keys or matrix-keypad from the device tree, a USB keypad), read
 * from its input event device (hal/drivers/evdev-keypad.ts). `device` (a path: /dev/input/event0,
 * /dev/input/by-path/...) or `deviceName` (the name in /sys/class/input/eventN/device/name), one
 * of them. Debounce is the kernel driver's (device tree: debounce-interval, debounce-delay-ms).
 */
export interface EvdevKeypadConfig {
  readonly type: 'evdev-keypad';
  readonly device?: string;
  readonly deviceName?: string;
  /** Linux key name (KEY_ENTER) -> key; absent: DEFAULT_EVDEV_KEYMAP (hal/input-keycodes.ts). */
  readonly keymap: Readonly<Record<string, KeyName>>;
  readonly longPressMs: number;
  readonly stuckMs: number;
  /** EVIOCGRAB: only the terminal reads the keys (default true). */
  readonly grab: boolean;
}

/**
 * The keys a board's keypad has, each once: a matrix's fitted cells row by row; an evdev keypad's
 * keymap in KEY_NAMES order (the validator has made every key reachable); every key when the role
 * is absent. What the factory's keypad test asks for, in that order.
 */
export function keypadKeys(dc: DeviceConfig | undefined): KeyName[] {
  if (dc?.type === 'matrix-keypad') return [...new Set(dc.keymap.flat().filter((k): k is KeyName => k !== null))];
  if (dc?.type === 'evdev-keypad') return KEY_NAMES.filter((k) => Object.values(dc.keymap).includes(k));
  return [...KEY_NAMES];
}

/** A longer settle makes a scan of 8 rows take most of a second: keys would feel dead. */
export const ROW_SETTLE_MS_MAX = 100;

export interface BatteryConfig {
  readonly type: 'battery';
  readonly gauge?: { readonly type: 'max17048'; readonly i2cBus: number; readonly address: number };
  readonly lowLine?: GpioLineRef;
  readonly chargingLine?: GpioLineRef;
  readonly lowPercent: number;
  readonly criticalPercent: number;
  /** No print job starts below this charge (E-PWR-03); default PRINT_BATTERY_MIN_PCT (hal/battery.ts). */
  readonly printMinPercent: number;
  readonly pollMs: number;
}

export interface ButtonConfig {
  readonly type: 'gpio-button';
  readonly line: number;
  readonly activeLow: boolean;
  /** Held this long at power-on: recovery menu. */
  readonly resetHoldMs: number;
  readonly stuckMs: number;
  readonly debounceMs: number;
}

export interface LedConfig {
  readonly type: 'gpio-led';
  readonly line: number;
  readonly activeLow: boolean;
}

/**
 * A signature pad: TSC2007 resistive touch controller on I2C (hal/drivers/tsc2007.ts). Optional
 * role (signature0): a board without it keeps "sign on paper".
 */
export interface Tsc2007Config {
  readonly type: 'tsc2007';
  readonly i2cBus: number;
  readonly address: number;
  /** The pad's pixel area; width × height ≤ 384 × 200 (the engine's SIGNATURE_PIXELS_MAX). */
  readonly width: number;
  readonly height: number;
  /** Raw 0..4095 readings at the pad's left/right and top/bottom edges (min > max flips the axis). */
  readonly calibration: { readonly xRawMin: number; readonly xRawMax: number; readonly yRawMin: number; readonly yRawMax: number; readonly swapXY: boolean };
  readonly xPlateOhms: number;
  /** Pressure threshold: touches of higher resistance (lighter) are not ink. */
  readonly touchResistanceOhmsMax: number;
  readonly sampleHz: number;
}

/**
 * A 2D scan engine for QR payment codes on a serial port (hal/drivers/scan-engine.ts, protocol in
 * hal/drivers/SCAN_ENGINE_PROTOCOL.md). Optional role (scanner0): a board without one sells by
 * card only. The fields say how the engine itself is configured (its suffix, prefix, "no read"
 * text and read time-out are settings stored in the engine, set once with its programming codes):
 * the driver must expect what the engine sends.
 */
export interface ScannerConfig {
  readonly type: 'serial-scan-engine';
  readonly protocol: ScanProtocol;
  readonly port: string;
  readonly baudRate: number;
  /** The engine's suffix after each line. */
  readonly suffix: ScanSuffix;
  /** A fixed prefix the engine puts before each line, if configured ("" for none). */
  readonly prefix: string;
  /** The engine's "no read" text (No Read on), or false when it sends none. */
  readonly noRead: string | false;
  /** The engine's read time-out (ms): it stops and says "no read" after it. */
  readonly readTimeoutMs: number;
}

/**
 * A 4G module on a serial AT port (hal/drivers/modem-quectel.ts, commands in
 * hal/drivers/QUECTEL_AT.md). Optional role (modem0). The module's DATA path is the OS's: the
 * board file says how the OS brings it up (`dataPath`), the terminal only asks the AT port about
 * SIM, signal, registration, operator and APN.
 */
export interface ModemConfig {
  readonly type: 'quectel-modem';
  /** The AT port (EC25 on USB: /dev/ttyUSB2; ModemManager must be told to leave it alone). */
  readonly port: string;
  readonly baudRate: number;
  /** The APN the acquirer's SIMs use (context 1); diagnostics flags a module set otherwise (E-NET-14). */
  readonly apn: string;
  /** False: registered roaming counts as refused (E-NET-12). */
  readonly roaming: boolean;
  /**
   * How the OS brings the data link up (README "4G data path"): 'ppp' (pppd call <pppPeer> with a
   * chat script on the module's modem port), 'networkmanager' (ModemManager + an nmcli gsm
   * connection), 'quectel-cm' (the vendor's QMI dialler on wwan0). 'none' on the simulator.
   */
  readonly dataPath: ModemDataPath;
  /** The Linux interface the data link appears as (ppp0, wwan0). */
  readonly interface?: string;
}
export const MODEM_DATA_PATHS = ['ppp', 'networkmanager', 'quectel-cm', 'none'] as const;

/**
 * A Wi-Fi interface the OS's wpa_supplicant runs (hal/wifi.ts). Optional role (wifi0). The
 * terminal reaches wpa_supplicant through its control interface (`ctrlDir`/<interface>, a UNIX
 * datagram socket) with wpa_cli; wpa_supplicant itself is started by the OS
 * (wpa_supplicant@<interface>.service with `ctrl_interface=` and `update_config=1`).
 */
export interface WifiConfig {
  readonly type: 'wpa-supplicant';
  /** The Linux interface (wlan0). */
  readonly interface: string;
  /** wpa_supplicant's ctrl_interface directory (default /run/wpa_supplicant). */
  readonly ctrlDir: string;
}
export const WIFI_CTRL_DIR_DEFAULT = '/run/wpa_supplicant';

/**
 * One link to the acquirer host, from the board file's `"links": ["wifi0", "modem0"]`: a role with
 * an interface (a wifiN, a modemN with `interface`) or "ethernet" (the `network` section's
 * interface, default eth0). runtime/host/failover.ts tries them in this order.
 */
export interface HostLinkRoute {
  /** The role ("wifi0", "modem0") or "ethernet". */
  readonly name: string;
  readonly interface: string;
}
/** Links a board may order (runtime/host/failover.ts FAILOVER_LINKS_MAX agrees). */
export const LINKS_MAX = 4;
const ETHERNET_LINK = 'ethernet';
const ETHERNET_INTERFACE_DEFAULT = 'eth0';
export type ModemDataPath = (typeof MODEM_DATA_PATHS)[number];

export type DeviceConfig =
  | PrinterConfig | ReaderConfig | Hd44780Config | Ssd1306Config | KeypadConfig | EvdevKeypadConfig | BatteryConfig | ButtonConfig | LedConfig | Tsc2007Config
  | ScannerConfig | ModemConfig | WifiConfig;

/**
 * The terminal's own backups (storage/scheduled-backup.ts; README, "Backups"), the board file's
 * `storage.backup`: after each settlement that closed a batch, and at rest after `idleRecords`
 * records, the live journal sealed into `storage.backupDir`, the newest `keepCountMax` kept.
 */
export interface BackupConfig {
  /** Default true: every board backs itself up; a board whose backup folder is not worth the writes says false. */
  readonly enabled: boolean;
  /** Scheduled backups kept in the folder (1..BACKUP_KEEP_COUNT_MAX, default 7: a week of daily settlements). */
  readonly keepCountMax: number;
  /** Records since the last backup that make one due at rest without a settlement (0: only after settlements; default 2,000, ~500 sales). */
  readonly idleRecords: number;
}

/** The most scheduled backups a board file may keep. */
export const BACKUP_KEEP_COUNT_MAX = 100;
/** The largest idleRecords a board file may give. */
export const BACKUP_IDLE_RECORDS_MAX = 1_000_000;
export const BACKUP_DEFAULTS: BackupConfig = { enabled: true, keepCountMax: 7, idleRecords: 2_000 };

export interface BoardConfig {
  readonly board: string;
  readonly description: string;
  readonly simulator: boolean;
  /**
   * A bench rig (simulator boards only, optional): GPIO and I2C stay simulated (keypad, display,
   * battery, button and LED models), but the serial devices (printer, card reader) are real
   * Linux ttys opened through hal/serial-linux.ts: real printer and reader modules on USB
   * adapters, or socat pseudo-terminals with the virtual printer and reader on the far end.
   * Used by the factory station (boot/factory-station-child.ts); the plain simulator board
   * (sim/board-sim.ts) ignores it and simulates the serial cables too.
   */
  readonly benchRig?: true;
  readonly gpio: { readonly backend: GpioBackend; readonly chip: string; readonly chipBase?: number };
  readonly storage: { readonly journalDir: string; readonly backupDir: string; readonly backup: BackupConfig };
  readonly devices: Readonly<Record<string, DeviceConfig>>;
  /** Software updates (boot/update.ts): the vendor's Ed25519 public key (64 hex digits) and the A/B slot root. Optional. */
  readonly update?: { readonly publicKey: string; readonly root?: string };
  /**
   * How the recovery menu's network settings reach the OS (boot/net-apply.ts). Optional:
   * absent means backend "none" (stored in the journal only). systemd-networkd writes
   * `<dir>/<file>` (defaults /etc/systemd/network, 10-pos.network) for `interface` (default eth0).
   */
  readonly network?: { readonly backend: 'systemd-networkd' | 'none'; readonly dir?: string; readonly file?: string; readonly interface?: string };
  /**
   * The terminal's time zone as a fixed UTC offset in minutes, from the board file's optional
   * `"timeZone": "UTC+08:00"` (default UTC+8, the profile's). Everything a person sees or a report
   * prints uses it; the process's TZ is never consulted.
   */
  readonly tzOffsetMinutes: number;
  /**
   * The acquirer link (docs/PROTOCOL.md section 1; the profile calls both configuration): the TPDU
   * the terminal sends and whether it keeps its connection open. From the board file's optional
   * `"host": { "tpdu": "60 0003 0000", "connection": "short" }`; defaults are the profile's.
   */
  readonly host: HostLinkConfig;
  /**
   * The terminal-management broker (docs/MANAGEMENT.md, runtime/mgmt/), from the board file's
   * optional `"management": { "url": "mqtts://host:8883", "caFile": "/etc/pos/mgmt-ca.pem",
   * "passwordFile": "/etc/pos/mgmt.pass" }`. Absent: no management channel (the default).
   */
  readonly management?: ManagementBoardConfig;
  /**
   * Where the device key comes from (runtime/device-key-provider.ts, README "The device key"), from
   * the board file's optional `"deviceKey": { "provider": "tpm2", "tcti": "device:/dev/tpmrm0" }` or
   * `{ "provider": "file", "allowPlainFile": true }`. Absent: the plain file, which a real board
   * refuses at boot (E-KEY-04) unless its board file says `allowPlainFile`.
   */
  readonly deviceKey?: DeviceKeyBoardConfig;
  /**
   * The links to the acquirer host in order of preference (runtime/host/failover.ts), from the
   * board file's optional `"links": ["wifi0", "modem0"]`. Absent: one link, the OS's default route.
   */
  readonly links?: readonly HostLinkRoute[];
  /**
   * What the board file says about its I2C adapters, by bus number, from the optional
   * `"i2cBuses": { "0": { "smbusOnly": true } }`. `smbusOnly`: the adapter does SMBus transfers only
   * (PC SMBus controllers, the kernel's i2c-stub), so hal/i2c-linux.ts sends a plain write as an
   * SMBus I2C-block write (a command byte and at most 32 data bytes); every device there must fit
   * that (checked below). Absent: plain I2C on every bus.
   */
  readonly i2cBuses?: Readonly<Record<number, I2cBusConfig>>;
}

export interface I2cBusConfig {
  readonly smbusOnly: boolean;
}
/** A plain key file beside the journal; on a real board only with `allowPlainFile: true`. */
export interface FileDeviceKeyConfig {
  readonly provider: 'file';
  readonly allowPlainFile: boolean;
}

/** The key sealed by a TPM 2.0 under a primary key in its owner hierarchy (runtime/device-key-tpm.ts). */
export interface Tpm2DeviceKeyConfig {
  readonly provider: 'tpm2';
  /** How tpm2-tools reach the TPM: "device:/dev/tpmrm0" on a board, "swtpm:host=127.0.0.1,port=N" in tests. */
  readonly tcti: string;
}

export type DeviceKeyBoardConfig = FileDeviceKeyConfig | Tpm2DeviceKeyConfig;
export const DEVICE_KEY_PROVIDERS = ['file', 'tpm2'] as const;
/** The TCTIs the project uses: the kernel's resource manager or raw device, or a software TPM on a TCP port. */
const TCTI_PATTERN = /^(device:\/dev\/tpm(rm)?\d{1,2}|swtpm:host=[A-Za-z0-9.:-]{1,253},port=\d{1,5}|mssim:host=[A-Za-z0-9.:-]{1,253},port=\d{1,5})$/;

export interface ManagementBoardConfig {
  readonly url: string;
  /** Default: the terminal's serial (its journal identity). */
  readonly username?: string;
  /** The broker's CA, pinned (required for mqtts://). */
  readonly caFile?: string;
  readonly passwordFile?: string;
  /**
   * The password sealed under the device key by `pos factory mgmt` (runtime/mgmt/credentials.ts),
   * instead of `passwordFile` in clear.
   */
  readonly passwordSealed?: boolean;
  readonly certFile?: string;
  readonly keyFile?: string;
  readonly heartbeatS?: number;
  /** Plain mqtt:// (a loopback broker in development); refused otherwise. */
  readonly allowPlain?: boolean;
}

export const MGMT_HEARTBEAT_S_MIN = 10;
export const MGMT_HEARTBEAT_S_MAX = 3600;

/** The TPDU a terminal sends: id 0x60, then destination and source addresses (2 bytes each). */
export interface TpduConfig {
  readonly id: number;
  readonly destination: number;
  readonly source: number;
}

/**
 * 'short': one request and one response per connection (the profile's default); 'keep-alive': one
 * connection kept open between exchanges.
 */
export type HostConnectionMode = 'short' | 'keep-alive';
export const HOST_CONNECTION_MODES: readonly HostConnectionMode[] = ['short', 'keep-alive'];

export interface HostLinkConfig {
  readonly tpdu: TpduConfig;
  readonly connection: HostConnectionMode;
  /** TLS to the host (runtime/host/tls.ts); absent: plain TCP, for hosts that need it. */
  readonly tls?: HostTlsConfig;
}

/**
 * `"tls": { "caFile": "/etc/pos/acquirer-ca.pem", "serverName": "pos.acquirer.example",
 * "clientCert": false, "pin": "<base64 or hex SHA-256 of the server's SPKI>" }`: the acquirer's
 * CA is the only trust anchor, the name is checked, TLS 1.2 at least; `clientCert: true` presents
 * the certificate the factory provisioned (`pos factory tls`), `pin` (optional) accepts one server key only.
 */
export interface HostTlsConfig {
  readonly caFile: string;
  readonly serverName: string;
  readonly clientCert: boolean;
  readonly pin?: string;
}
/** A DNS name (labels of letters, digits, hyphens) or an IPv4/IPv6 address. */
const SERVER_NAME = /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$|^[0-9.]{7,15}$|^[0-9a-fA-F:]{2,39}$/;
/** SHA-256 as 64 hex digits or 44 base64 characters (HPKP's pin-sha256 form). */
const SPKI_PIN = /^([0-9a-fA-F]{64}|[A-Za-z0-9+/]{43}=)$/;

/** The profile's defaults: TPDU 60 0003 0000, short connection. */
export const HOST_LINK_DEFAULT: HostLinkConfig = { tpdu: { id: 0x60, destination: 0x0003, source: 0x0000 }, connection: 'short' };
/** The TPDU's first byte in this profile (the packager refuses any other). */
const TPDU_ID = 0x60;
/** "60 0003 0000": 60, then destination and source as 4 hex digits each (spaces optional). */
const TPDU_TEXT = /^60 ?([0-9A-Fa-f]{4}) ?([0-9A-Fa-f]{4})$/;

/** Roles every board must have: the terminal cannot sell without them. */
export const REQUIRED_ROLES = ['printer0', 'reader0', 'display0', 'keypad0', 'battery0', 'reset0'] as const;

/** Which device types each role family accepts. */
const ROLE_TYPES: ReadonlyArray<[RegExp, readonly DeviceConfig['type'][]]> = [
  [/^printer\d+$/, ['escpos-serial']],
  [/^reader\d+$/, ['framed-card-reader']],
  [/^display\d+$/, ['hd44780-pcf8574', 'ssd1306']],
  [/^keypad\d+$/, ['matrix-keypad', 'evdev-keypad']],
  [/^battery\d+$/, ['battery']],
  [/^reset\d+$/, ['gpio-button']],
  [/^led[A-Z][A-Za-z]*\d+$/, ['gpio-led']],
  [/^signature\d+$/, ['tsc2007']],
  [/^scanner\d+$/, ['serial-scan-engine']],
  [/^modem\d+$/, ['quectel-modem']],
  [/^wifi\d+$/, ['wpa-supplicant']],
];

const GPIO_LINE_MAX = 1023;
const BAUD = [1200, 921_600] as const;

type Json = Record<string, unknown>;

/** Reads fields of one JSON object, failing with file/role/field in the message. */
class Fields {
  private readonly seen = new Set<string>();

  constructor(private readonly file: string, private readonly role: string | undefined, private readonly obj: Json, private readonly prefix = '') {}

  fail(field: string, must: string): never {
    const where = this.role ? `role ${this.role}: ` : '';
    throw new PosError('BRD_INVALID', `${this.file}: ${where}field "${this.prefix}${field}" ${must}`, { file: this.file, role: this.role, field: this.prefix + field });
  }

  has(name: string): boolean {
    return this.obj[name] !== undefined;
  }

  raw(name: string): unknown {
    this.seen.add(name);
    return this.obj[name];
  }

  int(name: string, min: number, max: number, fallback?: number): number {
    const v = this.raw(name) ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) this.fail(name, `must be an integer ${min}..${max}`);
    return v;
  }

  num(name: string, min: number, max: number): number {
    const v = this.raw(name);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) this.fail(name, `must be a number ${min}..${max}`);
    return v;
  }

  bool(name: string, fallback?: boolean): boolean {
    const v = this.raw(name) ?? fallback;
    if (typeof v !== 'boolean') this.fail(name, 'must be true or false');
    return v;
  }

  str(name: string, pattern = /^.+$/): string {
    const v = this.raw(name);
    if (typeof v !== 'string' || !pattern.test(v)) this.fail(name, `must be a string matching ${pattern}`);
    return v;
  }

  oneOf<T extends string | number>(name: string, values: readonly T[]): T {
    const v = this.raw(name);
    if (!values.includes(v as T)) this.fail(name, `must be one of ${values.map((x) => JSON.stringify(x)).join(', ')}`);
    return v as T;
  }

  /** 7-bit I2C address, as a number or a "0x27" string. */
  address(name: string): number {
    const v = this.raw(name);
    const n = typeof v === 'string' && /^0x[0-9a-fA-F]{1,2}$/.test(v) ? parseInt(v, 16) : v;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0x08 || n > 0x77) this.fail(name, 'must be a 7-bit I2C address 0x08..0x77 (number or "0x27")');
    return n;
  }

  lines(name: string, countMin: number, countMax: number): number[] {
    const v = this.raw(name);
    if (!Array.isArray(v) || v.length < countMin || v.length > countMax || !v.every((x) => Number.isInteger(x) && x >= 0 && x <= GPIO_LINE_MAX)) {
      this.fail(name, `must be a list of ${countMin}..${countMax} GPIO line offsets 0..${GPIO_LINE_MAX}`);
    }
    return v as number[];
  }

  object(name: string): Fields {
    const v = this.raw(name);
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(name, 'must be an object');
    return new Fields(this.file, this.role, v as Json, `${this.prefix}${name}.`);
  }

  keys(): string[] {
    return Object.keys(this.obj);
  }

  /** Refuses fields nobody read: typos and leftovers. */
  done(): void {
    for (const k of Object.keys(this.obj)) if (!this.seen.has(k)) this.fail(k, 'is not a known field');
  }
}

function lineRef(f: Fields, name: string): GpioLineRef | undefined {
  if (!f.has(name)) return undefined;
  const o = f.object(name);
  const ref = { line: o.int('line', 0, GPIO_LINE_MAX), activeLow: o.bool('activeLow') };
  o.done();
  return ref;
}

function keymap(f: Fields, rows: number, cols: number): (KeyName | null)[][] {
  const v = f.raw('keymap');
  const ok = Array.isArray(v) && v.length === rows && v.every((r) => Array.isArray(r) && r.length === cols);
  if (!ok) f.fail('keymap', `must be ${rows} rows of ${cols} key names (one per row line and column line)`);
  const flat = (v as unknown[][]).flat();
  for (const k of flat) if (k !== null && !(KEY_NAMES as readonly unknown[]).includes(k)) f.fail('keymap', `has unknown key ${JSON.stringify(k)} (known: ${KEY_NAMES.join(' ')}, or null)`);
  for (const k of KEY_NAMES) {
    const n = flat.filter((x) => x === k).length;
    if (n !== 1) f.fail('keymap', `must have key ${k} exactly once (found ${n})`);
  }
  return v as (KeyName | null)[][];
}

/** An evdev keymap: Linux key names (hal/input-keycodes.ts) to keys, every key reachable. */
function evdevKeymap(f: Fields): Record<string, KeyName> {
  const v = f.raw('keymap');
  if (typeof v !== 'object' || v === null || Array.isArray(v)) f.fail('keymap', 'must be an object of Linux key names to keys, e.g. { "KEY_ENTER": "OK" }');
  const map = v as Record<string, unknown>;
  for (const [name, key] of Object.entries(map)) {
    if (LINUX_KEY_CODES[name] === undefined) f.fail('keymap', `has unknown Linux key name ${JSON.stringify(name)} (known: ${Object.keys(LINUX_KEY_CODES).join(' ')})`);
    if (!isKeyName(key)) f.fail('keymap', `maps ${name} to unknown key ${JSON.stringify(key)} (known: ${KEY_NAMES.join(' ')})`);
  }
  const missing = KEY_NAMES.filter((k) => !Object.values(map).includes(k));
  if (missing.length > 0) f.fail('keymap', `has no code for key${missing.length > 1 ? 's' : ''} ${missing.join(' ')} (every key must be reachable)`);
  return map as Record<string, KeyName>;
}

const DEVICE_READERS: Record<DeviceConfig['type'], (f: Fields) => DeviceConfig> = {
  'escpos-serial': (f) => ({
    type: 'escpos-serial', port: f.str('port'), baudRate: f.int('baudRate', ...BAUD),
    paperWidthMm: f.oneOf('paperWidthMm', [58, 80] as const), gb18030: f.bool('gb18030'),
  }),
  'framed-card-reader': (f) => ({ type: 'framed-card-reader', port: f.str('port'), baudRate: f.int('baudRate', ...BAUD) }),
  'serial-scan-engine': (f) => ({
    type: 'serial-scan-engine', protocol: f.oneOf('protocol', SCAN_PROTOCOLS), port: f.str('port'), baudRate: f.int('baudRate', ...BAUD),
    suffix: f.oneOf('suffix', SCAN_SUFFIXES),
    prefix: f.has('prefix') ? f.str('prefix', new RegExp(`^[\\x20-\\x7e]{0,${SCAN_PREFIX_BYTES_MAX}}$`)) : '',
    noRead: noReadOf(f),
    readTimeoutMs: f.int('readTimeoutMs', SCAN_READ_TIMEOUT_MS[0], SCAN_READ_TIMEOUT_MS[1], SCAN_READ_TIMEOUT_MS_DEFAULT),
  }),
  'quectel-modem': (f) => ({
    type: 'quectel-modem', port: f.str('port'), baudRate: f.int('baudRate', ...BAUD), apn: f.str('apn', APN_PATTERN),
    roaming: f.bool('roaming', true), dataPath: f.oneOf('dataPath', MODEM_DATA_PATHS),
    ...(f.has('interface') ? { interface: f.str('interface', /^[a-zA-Z0-9_.:-]{1,15}$/) } : {}),
  }),
  'wpa-supplicant': (f) => ({
    type: 'wpa-supplicant', interface: f.str('interface', /^[a-zA-Z0-9_.:-]{1,15}$/),
    ctrlDir: f.has('ctrlDir') ? f.str('ctrlDir', /^\/[^\0]*$/) : WIFI_CTRL_DIR_DEFAULT,
  }),
  'hd44780-pcf8574': (f) => {
    const pinMap = f.has('pinMap') ? pinMapOf(f.object('pinMap')) : undefined;
    return {
      type: 'hd44780-pcf8574', i2cBus: f.int('i2cBus', 0, 255), address: f.address('address'),
      cols: f.oneOf('cols', [16, 20] as const), rows: f.oneOf('rows', [2, 4] as const),
      ...(pinMap ? { pinMap } : {}),
      ...(f.has('writeChunkBytesMax') ? { writeChunkBytesMax: f.int('writeChunkBytesMax', 2, 8192) } : {}),
    };
  },
  ssd1306: (f) => ({
    type: 'ssd1306', i2cBus: f.int('i2cBus', 0, 255), address: f.address('address'), rotate180: f.bool('rotate180', false),
    ...(f.has('writeChunkBytesMax') ? { writeChunkBytesMax: f.int('writeChunkBytesMax', 1, 8191) } : {}),
  }),
  'matrix-keypad': (f) => {
    const rowLines = f.lines('rowLines', 1, 8);
    const colLines = f.lines('colLines', 1, 8);
    return {
      type: 'matrix-keypad', rowLines, colLines, activeLow: f.bool('activeLow'), keymap: keymap(f, rowLines.length, colLines.length),
      debounceMs: f.int('debounceMs', 1, 200, 20), longPressMs: f.int('longPressMs', 200, 10_000, 1000), stuckMs: f.int('stuckMs', 2000, 120_000, 10_000),
      ...(f.has('rowSettleMs') ? { rowSettleMs: f.int('rowSettleMs', 0, ROW_SETTLE_MS_MAX) } : {}),
    };
  },
  'evdev-keypad': (f) => {
    if (f.has('device') === f.has('deviceName')) f.fail('device', 'or "deviceName" must be given, one of them (a path such as "/dev/input/event0", or the name the kernel reports in /sys/class/input/eventN/device/name)');
    return {
      type: 'evdev-keypad',
      ...(f.has('device') ? { device: f.str('device', /^\/[^\0]+$/) } : { deviceName: f.str('deviceName', /^[\x20-\x7e]{1,255}$/) }),
      keymap: f.has('keymap') ? evdevKeymap(f) : DEFAULT_EVDEV_KEYMAP,
      longPressMs: f.int('longPressMs', 200, 10_000, 1000), stuckMs: f.int('stuckMs', 2000, 120_000, 10_000), grab: f.bool('grab', true),
    };
  },
  battery: (f) => {
    const gauge = f.has('gauge') ? gaugeOf(f.object('gauge')) : undefined;
    const lowLine = lineRef(f, 'lowLine');
    const chargingLine = lineRef(f, 'chargingLine');
    if (!gauge && !lowLine) f.fail('gauge', 'or "lowLine" must be present (nothing would measure the battery)');
    const lowPercent = f.num('lowPercent', 1, 99);
    const criticalPercent = f.num('criticalPercent', 0, 98);
    if (criticalPercent >= lowPercent) f.fail('criticalPercent', `must be below lowPercent (${lowPercent})`);
    // Above criticalPercent: at critical the terminal shuts down, and a threshold there would never act.
    const printMinPercent = f.has('printMinPercent') ? f.num('printMinPercent', 1, 99) : PRINT_BATTERY_MIN_PCT;
    if (printMinPercent <= criticalPercent) f.fail('printMinPercent', `must be above criticalPercent (${criticalPercent})${f.has('printMinPercent') ? '' : `: the default ${PRINT_BATTERY_MIN_PCT} is not, so set it`}`);
    return {
      type: 'battery', ...(gauge ? { gauge } : {}), ...(lowLine ? { lowLine } : {}), ...(chargingLine ? { chargingLine } : {}),
      lowPercent, criticalPercent, printMinPercent, pollMs: f.int('pollMs', 1000, 600_000, 30_000),
    };
  },
  'gpio-button': (f) => ({
    type: 'gpio-button', line: f.int('line', 0, GPIO_LINE_MAX), activeLow: f.bool('activeLow'),
    resetHoldMs: f.int('resetHoldMs', 500, 30_000), stuckMs: f.int('stuckMs', 5000, 600_000, 60_000), debounceMs: f.int('debounceMs', 1, 200, 30),
  }),
  'gpio-led': (f) => ({ type: 'gpio-led', line: f.int('line', 0, GPIO_LINE_MAX), activeLow: f.bool('activeLow', false) }),
  tsc2007: (f) => {
    const width = f.int('width', 16, 384);
    const height = f.int('height', 16, 200);
    if (width * height > SIGNATURE_AREA_PIXELS_MAX) f.fail('height', `makes width × height ${width * height} pixels, more than ${SIGNATURE_AREA_PIXELS_MAX}`);
    return {
      type: 'tsc2007', i2cBus: f.int('i2cBus', 0, 255), address: f.address('address'), width, height,
      calibration: calibrationOf(f.object('calibration')),
      xPlateOhms: f.int('xPlateOhms', 50, 5000), touchResistanceOhmsMax: f.int('touchResistanceOhmsMax', 50, 20_000), sampleHz: f.int('sampleHz', 20, 500, 100),
    };
  },
};

/** The scan engine's read time-out range (ms): under 0.5 s a customer cannot aim; Honeywell's own maximum is 300 s. */
const SCAN_READ_TIMEOUT_MS = [500, 300_000] as const;
const SCAN_READ_TIMEOUT_MS_DEFAULT = 5000;
/** Longest "no read" text (bytes): Honeywell sends "NR"; some engines a short word. */
const SCAN_NO_READ_BYTES_MAX = 16;

/** "noRead": the engine's text (default "NR"), or false when the engine is set to send none. */
function noReadOf(f: Fields): string | false {
  if (!f.has('noRead')) return 'NR';
  if (f.raw('noRead') === false) return false;
  return f.str('noRead', new RegExp(`^[\\x21-\\x7e][\\x20-\\x7e]{0,${SCAN_NO_READ_BYTES_MAX - 1}}$`));
}

/** The engine's SIGNATURE_PIXELS_MAX (384 × 200); tests/hal/board.test.ts checks they agree. */
export const SIGNATURE_AREA_PIXELS_MAX = 384 * 200;
/** Calibration edges closer than this (raw units) would blow noise up into strokes. */
const CALIBRATION_SPAN_RAW_MIN = 256;

function calibrationOf(o: Fields): Tsc2007Config['calibration'] {
  const raw = (n: string): number => o.int(n, 0, 4095);
  const c = { xRawMin: raw('xRawMin'), xRawMax: raw('xRawMax'), yRawMin: raw('yRawMin'), yRawMax: raw('yRawMax'), swapXY: o.bool('swapXY', false) };
  if (Math.abs(c.xRawMax - c.xRawMin) < CALIBRATION_SPAN_RAW_MIN) o.fail('xRawMax', `must be at least ${CALIBRATION_SPAN_RAW_MIN} from xRawMin`);
  if (Math.abs(c.yRawMax - c.yRawMin) < CALIBRATION_SPAN_RAW_MIN) o.fail('yRawMax', `must be at least ${CALIBRATION_SPAN_RAW_MIN} from yRawMin`);
  o.done();
  return c;
}

function pinMapOf(o: Fields): NonNullable<Hd44780Config['pinMap']> {
  const names = ['rs', 'rw', 'e', 'backlight', 'd4', 'd5', 'd6', 'd7'] as const;
  const map = Object.fromEntries(names.map((n) => [n, o.int(n, 0, 7)])) as NonNullable<Hd44780Config['pinMap']>;
  if (new Set(Object.values(map)).size !== names.length) o.fail('rs', 'and the other pins must use eight different PCF8574 pins');
  o.done();
  return map;
}

function gaugeOf(o: Fields): NonNullable<BatteryConfig['gauge']> {
  const g = { type: o.oneOf('type', ['max17048'] as const), i2cBus: o.int('i2cBus', 0, 255), address: o.address('address') };
  o.done();
  return g;
}

function deviceOf(file: string, role: string, value: unknown): DeviceConfig {
  const f = new Fields(file, role, (typeof value === 'object' && value !== null && !Array.isArray(value) ? value : {}) as Json);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) f.fail('type', 'must be in a device object');
  const family = ROLE_TYPES.find(([re]) => re.test(role));
  if (!family) {
    throw new PosError('BRD_INVALID', `${file}: role ${role}: not a known role name (printerN, readerN, displayN, keypadN, batteryN, resetN, led<Name>N, signatureN, scannerN, modemN)`, { file, role });
  }
  const type = f.oneOf('type', family[1]);
  const device = DEVICE_READERS[type](f);
  f.done();
  return device;
}

/** Validates parsed JSON as a board file. `file` is used in messages only. */
export function validateBoard(json: unknown, file: string): BoardConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new PosError('BRD_INVALID', `${file}: must be a JSON object`, { file });
  }
  const f = new Fields(file, undefined, json as Json);
  const board = f.str('board', /^[a-z0-9][a-z0-9-]*$/);
  const description = f.has('description') ? f.str('description') : '';
  const simulator = f.bool('simulator');
  const benchRig = f.has('benchRig') ? f.bool('benchRig') : false;
  if (benchRig && !simulator) f.fail('benchRig', 'is only for simulator boards (a real board\'s serial ports are always real)');
  const gpio = gpioOf(f.object('gpio'), simulator);
  const storage = storageOf(f.object('storage'));
  const devicesObj = f.object('devices');
  const devices: Record<string, DeviceConfig> = {};
  for (const role of devicesObj.keys()) devices[role] = deviceOf(file, role, devicesObj.raw(role));
  const update = f.has('update') ? updateOf(f.object('update')) : undefined;
  const network = f.has('network') ? networkOf(f.object('network')) : undefined;
  let tzOffsetMinutes = TZ_OFFSET_MINUTES_DEFAULT;
  if (f.has('timeZone')) {
    const parsed = parseTimeZone(f.str('timeZone'));
    if (parsed === undefined) f.fail('timeZone', 'must be a UTC offset such as "UTC+08:00" (between UTC-12:00 and UTC+14:00; zone names are not accepted)');
    else tzOffsetMinutes = parsed;
  }
  const host = f.has('host') ? hostLinkOf(f.object('host')) : HOST_LINK_DEFAULT;
  const management = f.has('management') ? managementOf(f.object('management')) : undefined;
  const deviceKey = f.has('deviceKey') ? deviceKeyOf(f.object('deviceKey')) : undefined;
  const links = f.has('links') ? linksOf(f, devices, network) : undefined;
  const i2cBuses = f.has('i2cBuses') ? i2cBusesOf(f.object('i2cBuses')) : undefined;
  f.done();
  for (const role of REQUIRED_ROLES) {
    if (!devices[role]) throw new PosError('BRD_INVALID', `${file}: role ${role} is missing (every board needs ${REQUIRED_ROLES.join(', ')})`, { file, role });
  }
  checkConflicts(file, devices);
  if (simulator) {
    // The simulator board's factories make GPIO, I2C and serial buses only (sim/board-sim.ts).
    const evdev = Object.entries(devices).find(([, d]) => d.type === 'evdev-keypad');
    if (evdev) throw new PosError('BRD_INVALID', `${file}: role ${evdev[0]}: field "type" "evdev-keypad" needs a real board's input device (a simulator board scans a "matrix-keypad")`, { file, role: evdev[0], field: 'type' });
  }
  if (i2cBuses) checkSmbusOnly(file, devices, i2cBuses);
  if (benchRig) {
    // A bench rig simulates only GPIO and I2C: every serial device is on a real tty there.
    for (const [role, d] of Object.entries(devices)) {
      if ((d.type === 'escpos-serial' || d.type === 'framed-card-reader' || d.type === 'serial-scan-engine' || d.type === 'quectel-modem') && d.port.startsWith('sim:')) {
        throw new PosError('BRD_INVALID', `${file}: role ${role}: field "port" must be a tty path on a bench rig (got ${d.port})`, { file, role, field: 'port' });
      }
    }
  }
  return { board, description, simulator, ...(benchRig ? { benchRig: true as const } : {}), gpio, storage, devices, ...(update ? { update } : {}), ...(network ? { network } : {}), tzOffsetMinutes, host, ...(i2cBuses ? { i2cBuses } : {}), ...(management ? { management } : {}), ...(deviceKey ? { deviceKey } : {}), ...(links ? { links } : {}) };
}

/** The `links` list: 1..LINKS_MAX distinct names, each a role with an interface or "ethernet". */
function linksOf(f: Fields, devices: Readonly<Record<string, DeviceConfig>>, network: BoardConfig['network']): HostLinkRoute[] {
  const v = f.raw('links');
  if (!Array.isArray(v) || v.length < 1 || v.length > LINKS_MAX || !v.every((x) => typeof x === 'string')) {
    f.fail('links', `must be a list of 1..${LINKS_MAX} link names in order of preference, e.g. ["wifi0", "modem0"]`);
  }
  const names = v as string[];
  const routes: HostLinkRoute[] = [];
  for (const name of names) {
    if (names.indexOf(name) !== names.lastIndexOf(name)) f.fail('links', `names ${name} twice`);
    if (name === ETHERNET_LINK) { routes.push({ name, interface: network?.interface ?? ETHERNET_INTERFACE_DEFAULT }); continue; }
    const d = devices[name];
    if (d === undefined) f.fail('links', `names ${name}, which is not a role of this board (roles with an interface: wifiN, modemN; or "ethernet")`);
    const iface = d.type === 'wpa-supplicant' || d.type === 'quectel-modem' ? d.interface : undefined;
    if (iface !== undefined) { routes.push({ name, interface: iface }); continue; }
    f.fail('links', `names ${name}, which has no "interface" (a link is a network interface: give ${name} its "interface", e.g. "wwan0")`);
  }
  const ifaces = routes.map((r) => r.interface);
  const twice = ifaces.find((x, i) => ifaces.indexOf(x) !== i);
  if (twice !== undefined) f.fail('links', `uses interface ${twice} for two links`);
  return routes;
}

/**
 * The `deviceKey` section. Whether a real board may use the plain file is decided at boot
 * (runtime/device-key-provider.ts, E-KEY-04), so that the refusal reaches the recovery screen.
 */
function deviceKeyOf(o: Fields): DeviceKeyBoardConfig {
  const provider = o.oneOf('provider', DEVICE_KEY_PROVIDERS);
  if (provider === 'file') {
    const c: FileDeviceKeyConfig = { provider, allowPlainFile: o.bool('allowPlainFile', false) };
    o.done();
    return c;
  }
  if (o.has('allowPlainFile')) o.fail('allowPlainFile', 'is only for provider "file"');
  const c: Tpm2DeviceKeyConfig = {
    provider,
    tcti: o.has('tcti') ? o.str('tcti', TCTI_PATTERN) : o.fail('tcti', 'is required with provider "tpm2": "device:/dev/tpmrm0" on a board (the kernel\'s resource manager), "swtpm:host=127.0.0.1,port=N" for a software TPM'),
  };
  o.done();
  return c;
}

/** The `host` section: `tpdu` as "60 DDDD SSSS" (hex) and `connection` "short" or "keep-alive", each optional. */
function hostLinkOf(o: Fields): HostLinkConfig {
  let tpdu = HOST_LINK_DEFAULT.tpdu;
  if (o.has('tpdu')) {
    const text = o.raw('tpdu');
    const m = typeof text === 'string' ? TPDU_TEXT.exec(text) : null;
    if (m === null) o.fail('tpdu', 'must be a TPDU "60 DDDD SSSS": 60, then the destination and the source address as 4 hex digits each (the profile\'s default is "60 0003 0000")');
    tpdu = { id: TPDU_ID, destination: parseInt(m[1], 16), source: parseInt(m[2], 16) };
  }
  const connection = o.has('connection') ? o.oneOf('connection', HOST_CONNECTION_MODES) : HOST_LINK_DEFAULT.connection;
  const tls = o.has('tls') ? hostTlsOf(o.object('tls')) : undefined;
  o.done();
  return { tpdu, connection, ...(tls ? { tls } : {}) };
}

/** The `host.tls` section: caFile and serverName required, clientCert default false, pin optional. */
function hostTlsOf(o: Fields): HostTlsConfig {
  const t = {
    caFile: o.str('caFile', /^\/[^\0]*$/),
    serverName: o.str('serverName', SERVER_NAME),
    clientCert: o.has('clientCert') ? o.bool('clientCert') : false,
    ...(o.has('pin') ? { pin: o.str('pin', SPKI_PIN) } : {}),
  };
  o.done();
  return t;
}

/** The `management` section: a broker URL, its pinned CA and the terminal's credentials, as files. */
function managementOf(o: Fields): ManagementBoardConfig {
  const url = o.str('url', /^mqtts?:\/\/([^/:\s]+|\[[0-9a-fA-F:]+\]):\d{1,5}$/);
  const allowPlain = o.has('allowPlain') ? o.bool('allowPlain') : false;
  const path = /^\/[^\0]*$/;
  const m: ManagementBoardConfig = {
    url,
    ...(o.has('username') ? { username: o.str('username', /^[A-Za-z0-9._-]{1,64}$/) } : {}),
    ...(o.has('caFile') ? { caFile: o.str('caFile', path) } : {}),
    ...(o.has('passwordFile') ? { passwordFile: o.str('passwordFile', path) } : {}),
    ...(o.has('passwordSealed') && o.bool('passwordSealed') ? { passwordSealed: true as const } : {}),
    ...(o.has('certFile') ? { certFile: o.str('certFile', path) } : {}),
    ...(o.has('keyFile') ? { keyFile: o.str('keyFile', path) } : {}),
    ...(o.has('heartbeatS') ? { heartbeatS: o.int('heartbeatS', MGMT_HEARTBEAT_S_MIN, MGMT_HEARTBEAT_S_MAX) } : {}),
    ...(allowPlain ? { allowPlain } : {}),
  };
  if (url.startsWith('mqtt://') && !allowPlain) o.fail('url', 'must be mqtts:// (plain mqtt:// only with "allowPlain": true, for a broker on this machine in development)');
  if (url.startsWith('mqtts://') && m.caFile === undefined) o.fail('caFile', 'is required with mqtts://: the broker\'s CA, pinned (the system\'s CAs are not used)');
  if ((m.certFile === undefined) !== (m.keyFile === undefined)) o.fail(m.certFile === undefined ? 'certFile' : 'keyFile', 'goes with certFile/keyFile: a client certificate needs its key');
  if (m.passwordFile !== undefined && m.passwordSealed) o.fail('passwordSealed', 'goes without passwordFile: one password, sealed or in a file');
  if (m.passwordFile === undefined && !m.passwordSealed && m.certFile === undefined) o.fail('passwordFile', 'or passwordSealed or certFile/keyFile is required: the terminal\'s credentials');
  o.done();
  return m;
}

function networkOf(o: Fields): NonNullable<BoardConfig['network']> {
  const backend = o.oneOf('backend', ['systemd-networkd', 'none'] as const);
  const n = {
    backend,
    ...(o.has('dir') ? { dir: o.str('dir', /^\/[^\0]*$/) } : {}),
    ...(o.has('file') ? { file: o.str('file', /^[A-Za-z0-9_.-]{1,64}\.network$/) } : {}),
    ...(o.has('interface') ? { interface: o.str('interface', /^[a-zA-Z0-9_.:-]{1,15}$/) } : {}),
  };
  if (backend === 'none' && (n.dir !== undefined || n.file !== undefined)) o.fail(n.dir !== undefined ? 'dir' : 'file', 'is only used by the "systemd-networkd" backend');
  o.done();
  return n;
}

function updateOf(o: Fields): NonNullable<BoardConfig['update']> {
  const u = { publicKey: o.str('publicKey', /^[0-9a-fA-F]{64}$/), ...(o.has('root') ? { root: o.str('root') } : {}) };
  o.done();
  return u;
}

function gpioOf(o: Fields, simulator: boolean): BoardConfig['gpio'] {
  const backend = o.oneOf('backend', ['sim', 'onoff', 'chardev', 'chardev-tools'] as const);
  if ((backend === 'sim') !== simulator) o.fail('backend', simulator ? 'must be "sim" on a simulator board' : 'must not be "sim" on a real board');
  const chip = o.str('chip', /^[A-Za-z0-9_/.-]+$/);
  const chipBase = backend === 'onoff' ? o.int('chipBase', 0, 4096) : undefined;
  o.done();
  return { backend, chip, ...(chipBase !== undefined ? { chipBase } : {}) };
}

function storageOf(o: Fields): BoardConfig['storage'] {
  const s = { journalDir: o.str('journalDir'), backupDir: o.str('backupDir'), backup: backupOf(o.has('backup') ? o.object('backup') : undefined) };
  if (s.journalDir === s.backupDir) o.fail('backupDir', 'must differ from journalDir (a backup beside the journal dies with it)');
  o.done();
  return s;
}

/** The section absent, or a field of it absent: the defaults (BACKUP_DEFAULTS). */
function backupOf(o: Fields | undefined): BackupConfig {
  if (!o) return BACKUP_DEFAULTS;
  const b = {
    enabled: o.bool('enabled', BACKUP_DEFAULTS.enabled),
    keepCountMax: o.int('keepCountMax', 1, BACKUP_KEEP_COUNT_MAX, BACKUP_DEFAULTS.keepCountMax),
    idleRecords: o.int('idleRecords', 0, BACKUP_IDLE_RECORDS_MAX, BACKUP_DEFAULTS.idleRecords),
  };
  o.done();
  return b;
}

function i2cBusesOf(o: Fields): Record<number, I2cBusConfig> {
  const buses: Record<number, I2cBusConfig> = {};
  for (const key of o.keys()) {
    if (!/^(0|[1-9]\d{0,2})$/.test(key) || Number(key) > 255) o.fail(key, 'must be a bus number 0..255');
    const b = o.object(key);
    buses[Number(key)] = { smbusOnly: b.bool('smbusOnly') };
    b.done();
  }
  return buses;
}

/**
 * Devices on an SMBus-only bus must fit its transfers (hal/i2c-linux.ts): the SSD1306 sends its
 * control byte and writeChunkBytesMax data bytes per write, so at most 32 (and it must say so:
 * its default is the whole frame); the HD44780 backpack writes writeChunkBytesMax raw bytes, at
 * most 33; the TSC2007 reads two bytes in one message, which SMBus cannot.
 */
function checkSmbusOnly(file: string, devices: Record<string, DeviceConfig>, buses: Readonly<Record<number, I2cBusConfig>>): void {
  const refused = (role: string, field: string, must: string): PosError => new PosError('BRD_INVALID', `${file}: role ${role}: field "${field}" ${must}`, { file, role, field });
  for (const [role, d] of Object.entries(devices)) {
    if (d.type !== 'ssd1306' && d.type !== 'hd44780-pcf8574' && d.type !== 'tsc2007') continue;
    if (!buses[d.i2cBus]?.smbusOnly) continue;
    const why = `(i2c-${d.i2cBus} is SMBus-only in "i2cBuses")`;
    if (d.type === 'tsc2007') throw refused(role, 'i2cBus', `cannot be an SMBus-only bus: the TSC2007 reads 2 bytes in one message ${why}`);
    const max = d.type === 'ssd1306' ? SMBUS_BLOCK_DATA_BYTES_MAX : SMBUS_BLOCK_DATA_BYTES_MAX + 1;
    if (d.writeChunkBytesMax === undefined || d.writeChunkBytesMax > max) throw refused(role, 'writeChunkBytesMax', `must be 1..${max} ${why}`);
  }
}

/** GPIO lines used twice, two devices at one I2C address, two devices on one serial port. */
function checkConflicts(file: string, devices: Record<string, DeviceConfig>): void {
  const owners = new Map<string, string>();
  const claim = (key: string, role: string, field: string): void => {
    const other = owners.get(key);
    if (other) throw new PosError('BRD_INVALID', `${file}: role ${role}: field "${field}" uses ${key}, already used by ${other}`, { file, role, field });
    owners.set(key, role);
  };
  for (const [role, d] of Object.entries(devices)) {
    for (const [field, key] of resources(d)) claim(key, role, field);
  }
}

function resources(d: DeviceConfig): Array<[string, string]> {
  switch (d.type) {
    case 'escpos-serial': case 'framed-card-reader': case 'serial-scan-engine': case 'quectel-modem': return [['port', `port ${d.port}`]];
    case 'hd44780-pcf8574': case 'ssd1306': case 'tsc2007': return [['address', `i2c-${d.i2cBus} 0x${d.address.toString(16)}`]];
    case 'evdev-keypad': return [[d.device !== undefined ? 'device' : 'deviceName', d.device !== undefined ? `input device ${d.device}` : `input device named "${d.deviceName}"`]];
    case 'matrix-keypad': return [...d.rowLines.map((l): [string, string] => ['rowLines', `GPIO line ${l}`]), ...d.colLines.map((l): [string, string] => ['colLines', `GPIO line ${l}`])];
    case 'battery': return [
      ...(d.gauge ? [['gauge.address', `i2c-${d.gauge.i2cBus} 0x${d.gauge.address.toString(16)}`] as [string, string]] : []),
      ...(d.lowLine ? [['lowLine.line', `GPIO line ${d.lowLine.line}`] as [string, string]] : []),
      ...(d.chargingLine ? [['chargingLine.line', `GPIO line ${d.chargingLine.line}`] as [string, string]] : []),
    ];
    case 'gpio-button': case 'gpio-led': return [['line', `GPIO line ${d.line}`]];
    case 'wpa-supplicant': return [['interface', `interface ${d.interface}`]];
  }
}
