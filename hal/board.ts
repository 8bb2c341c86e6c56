/**
 * The board: reads a board file (board-configs/*.json), validates it (hal/board-schema.ts) and
 * constructs each device by role with the real drivers, over buses made by injected factories:
 * `linuxFactories()` for real boards, `simFactories` (sim/board-sim.ts) for the simulator board.
 * Code asks for roles (`board.printer()`, `board.display('display0')`); only the board file
 * knows /dev/ttyS2, address 0x27 or line 17.
 *
 * Loading does no device I/O beyond requesting GPIO lines and opening ports (i2c-bus opens
 * lazily, so an absent part is found by `selfTest()`, which does a real transfer per role).
 */
import { Wifi, WpaCliRunner, WpaCliWifi } from './wifi';
import { asset } from '../common/assets';
import type { Logger } from '../common/log';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PosError, isPosError } from '../common/errors';
import { BoardConfig, DeviceConfig, validateBoard, BatteryConfig, KeypadConfig, EvdevKeypadConfig } from './board-schema';
import { GpioChip, GpioLine } from './gpio';
import { I2cBus } from './i2c';
import { SerialPort } from './serial';
import { Display } from './display';
import { Keypad } from './keypad';
import { Battery } from './battery';
import { Button } from './button';
import { Led } from './led';
import { Printer } from './printer';
import { CardReader } from './card-reader';
import { SignaturePad } from './signature-pad';
import { Scanner, ScannerDiagnostics } from './scanner';
import { Hd44780Pcf8574 } from './drivers/hd44780-pcf8574';
import { Ssd1306 } from './drivers/ssd1306';
import { MatrixKeypad } from './drivers/matrix-keypad';
import { EvdevKeypad } from './drivers/evdev-keypad';
import { InputDevice, InputDeviceRef } from './input';
import { keymapCodes } from './input-keycodes';
import { Max17048 } from './drivers/max17048';
import { GaugeBattery } from './drivers/battery';
import { GpioButton } from './drivers/gpio-button';
import { GpioLed } from './drivers/gpio-led';
import { EscPosPrinter } from './drivers/escpos-printer';
import { FramedCardReader } from './drivers/card-reader';
import { Tsc2007SignaturePad } from './drivers/tsc2007';
import { SerialTriggerScanner } from './drivers/scan-engine';
import { Modem, ModemDiagnostics } from './modem';
import { QuectelModem } from './drivers/modem-quectel';
import { Sleep } from './drivers/timing';

export * from './board-schema';

/** Where the board files live, and the default one. */
export const BOARD_DIR = asset('board-configs');
export const DEFAULT_BOARD = 'sim';

/** What the board file says about one I2C adapter (`i2cBuses`). */
export interface I2cBusOptions {
  readonly smbusOnly: boolean;
}

/** Makes the buses a board file names. Each is called once per bus/port; the loader caches. */
export interface BusFactories {
  /** `options`: the board file's `i2cBuses` entry for this bus (an SMBus-only adapter). */
  i2c(busNumber: number, options: I2cBusOptions): Promise<I2cBus>;
  gpio(config: BoardConfig['gpio']): Promise<GpioChip>;
  /** Returns the port OPEN. */
  serial(role: string, device: { readonly port: string; readonly baudRate: number }): Promise<SerialPort>;
  /**
   * Opens an input event device (an "evdev-keypad"): by path, or found by its name. Real boards
   * only (hal/board-linux.ts); a board whose factories have none refuses such a keypad.
   */
  input?(role: string, ref: InputDeviceRef): Promise<InputDevice>;
  /**
   * What runs `wpa_cli` for a Wi-Fi role (hal/wifi.ts WpaCliRunner): the simulator board's
   * wpa_supplicant model (sim/wpa-supplicant-model.ts); undefined, and on real boards: the real wpa_cli.
   */
  wpaCli?(role: string): WpaCliRunner | undefined;
}

export interface LoadOptions {
  /** Injected into drivers that wait (HD44780 init); default real time. */
  readonly sleep?: Sleep;
  /** Where the scanner driver logs (masked codes, dropped and garbled lines); default silent. */
  readonly scannerLogger?: Logger;
  /** Where the modem driver logs (URCs, garbled lines, timeouts; never the PIN); default silent. */
  readonly modemLogger?: Logger;
  /** Where the evdev keypad driver logs (dropped events, unknown codes, garbled reads); default silent. */
  readonly keypadLogger?: Logger;
  /** Tests only (terminal-main's --test-timings on a simulator board): the card reader's liveness poll (default its driver's 2 s). */
  readonly cardReaderLivenessPollMs?: number;
}

export type Device = Printer | CardReader | Display | Keypad | Battery | Button | Led | SignaturePad | Scanner | Modem | Wifi;

export interface SelfTestResult {
  readonly role: string;
  readonly ok: boolean;
  readonly error?: PosError;
}

export interface Board {
  /** The board file, as named in messages (relative to the working directory when inside it). */
  readonly file: string;
  readonly config: BoardConfig;
  roles(): string[];
  printer(role?: string): Printer;
  reader(role?: string): CardReader;
  display(role?: string): Display;
  keypad(role?: string): Keypad;
  battery(role?: string): Battery;
  resetButton(role?: string): Button;
  /** LEDs are optional: undefined when the board has none in that role. */
  led(role: string): Led | undefined;
  /** The signature pad is optional: undefined when the board has none (the cardholder signs on paper). */
  signaturePad(role?: string): SignaturePad | undefined;
  /** The QR scan engine is optional: undefined when the board has none (the terminal sells by card only). */
  scanner(role?: string): Scanner | undefined;
  /** The 4G modem's AT port is optional: undefined when the board has none (wired or Wi-Fi only). */
  modem(role?: string): Modem | undefined;
  /** Wi-Fi (the OS's wpa_supplicant) is optional: undefined when the board has none. */
  wifi(role?: string): Wifi | undefined;
  /**
   * One real transfer per role: display init, keypad start (stuck keys fail it with KBD_STUCK),
   * battery read, reset button read, printer and reader self-tests, LEDs switched off, the
   * scanner's port checked (its engine answers only to a scan: see hal/scanner.ts `check`).
   */
  selfTest(): Promise<SelfTestResult[]>;
  /** Closes devices, then buses. Idempotent. */
  close(): Promise<void>;
}

/** Resolves "sim" or "board-configs/sim.json" or an absolute path to a board file path. */
export function boardFilePath(nameOrPath: string): string {
  if (/[/\\]|\.json$/.test(nameOrPath)) return path.resolve(nameOrPath);
  return path.join(BOARD_DIR, `${nameOrPath}.json`);
}

/** The file name as messages show it. */
export function displayName(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

/** Reads and validates a board file. Rejects with BRD_INVALID naming the file. */
export function readBoardFile(nameOrPath: string): { file: string; config: BoardConfig } {
  const abs = boardFilePath(nameOrPath);
  const file = displayName(abs);
  let text: string;
  try {
    text = fs.readFileSync(abs, 'utf8');
  } catch (e) {
    throw new PosError('BRD_INVALID', `${file}: cannot read board file (${(e as NodeJS.ErrnoException).code ?? String(e)})`, { file }, { cause: e });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new PosError('BRD_INVALID', `${file}: not valid JSON (${(e as Error).message})`, { file }, { cause: e });
  }
  return { file, config: validateBoard(json, file) };
}

/** Reads a board file and constructs its devices over the factories' buses. */
export async function loadBoard(nameOrPath: string, factories: BusFactories, options: LoadOptions = {}): Promise<Board> {
  const { file, config } = readBoardFile(nameOrPath);
  return buildBoard(file, config, factories, options);
}

/** Constructs a board from an already validated config (the simulator board uses this). */
export async function buildBoard(file: string, config: BoardConfig, factories: BusFactories, options: LoadOptions = {}): Promise<Board> {
  const buses = new BusCache(factories, config);
  const devices = new Map<string, { config: DeviceConfig; device: Device; extra?: Max17048 }>();
  try {
    for (const [role, dc] of Object.entries(config.devices)) devices.set(role, await construct(role, dc, buses, options));
  } catch (e) {
    await buses.close();
    if (isPosError(e)) throw e;
    throw new PosError('BRD_BUS', `${file}: building the board failed: ${String(e)}`, { file }, { cause: e });
  }
  return new LoadedBoard(file, config, devices, buses);
}

class BusCache {
  private readonly i2cBuses = new Map<number, Promise<I2cBus>>();
  private chip: Promise<GpioChip> | undefined;
  private readonly ports: SerialPort[] = [];
  /** The last input device opened for each role (a keypad opens its device again after it was gone). */
  private readonly inputs = new Map<string, InputDevice>();

  constructor(private readonly factories: BusFactories, private readonly config: BoardConfig) {}

  i2c(n: number): Promise<I2cBus> {
    let bus = this.i2cBuses.get(n);
    if (!bus) {
      bus = this.factories.i2c(n, { smbusOnly: this.config.i2cBuses?.[n]?.smbusOnly === true });
      this.i2cBuses.set(n, bus);
    }
    return bus;
  }

  async line(offset: number, config: Parameters<GpioChip['requestLine']>[1]): Promise<GpioLine> {
    this.chip ??= this.factories.gpio(this.config.gpio);
    return (await this.chip).requestLine(offset, config);
  }

  async serial(role: string, device: { port: string; baudRate: number }): Promise<SerialPort> {
    const port = await this.factories.serial(role, device);
    this.ports.push(port);
    return port;
  }

  wpaCli(role: string): WpaCliRunner | undefined {
    return this.factories.wpaCli?.(role);
  }

  /** Opens an input device; closed with the buses too (idempotent), so a board that fails later in its build leaks no fd. */
  async input(role: string, ref: InputDeviceRef): Promise<InputDevice> {
    if (!this.factories.input) throw new PosError('BRD_INVALID', `${role}: this board's buses have no input devices (an "evdev-keypad" needs a real board)`, { role });
    const device = await this.factories.input(role, ref);
    this.inputs.set(role, device);
    return device;
  }

  async close(): Promise<void> {
    const settle = (p: Promise<unknown>) => p.catch(() => undefined);
    await Promise.all(this.ports.map((p) => settle(p.close())));
    for (const d of this.inputs.values()) d.close();
    if (this.chip) await settle(this.chip.then((c) => c.close()));
    await Promise.all([...this.i2cBuses.values()].map((b) => settle(b.then((bus) => bus.close()))));
  }
}

type Built = { config: DeviceConfig; device: Device; extra?: Max17048 };

async function construct(role: string, dc: DeviceConfig, buses: BusCache, options: LoadOptions): Promise<Built> {
  switch (dc.type) {
    case 'escpos-serial':
      return { config: dc, device: new EscPosPrinter(await buses.serial(role, dc), { paperWidthDots: dc.paperWidthMm === 80 ? 576 : 384, gb18030: dc.gb18030 }) };
    case 'framed-card-reader':
      return { config: dc, device: new FramedCardReader(await buses.serial(role, dc), options.cardReaderLivenessPollMs !== undefined ? { livenessPollMs: options.cardReaderLivenessPollMs } : {}) };
    case 'hd44780-pcf8574':
      return { config: dc, device: new Hd44780Pcf8574(await buses.i2c(dc.i2cBus), { ...dc, name: role, ...(options.sleep ? { sleep: options.sleep } : {}) }) };
    case 'ssd1306':
      return { config: dc, device: new Ssd1306(await buses.i2c(dc.i2cBus), { ...dc, name: role }) };
    case 'matrix-keypad':
      return { config: dc, device: await keypad(dc, buses) };
    case 'evdev-keypad':
      return { config: dc, device: await evdevKeypad(role, dc, buses, options) };
    case 'battery':
      return battery(role, dc, buses);
    case 'gpio-button': {
      const line = await buses.line(dc.line, { direction: 'in', activeLow: dc.activeLow, bias: dc.activeLow ? 'pull-up' : 'pull-down', consumer: role });
      return { config: dc, device: new GpioButton(line, { name: role, debounceMs: dc.debounceMs, holdMs: dc.resetHoldMs, stuckMs: dc.stuckMs }) };
    }
    case 'gpio-led': {
      const line = await buses.line(dc.line, { direction: 'out', activeLow: dc.activeLow, initial: 0, consumer: role });
      return { config: dc, device: new GpioLed(line, role) };
    }
    case 'tsc2007':
      return { config: dc, device: new Tsc2007SignaturePad(await buses.i2c(dc.i2cBus), { ...dc, name: role }) };
    case 'serial-scan-engine': {
      // Optional device: a port that cannot be opened (tty missing, module unplugged) must not
      // stop the board, which still sells by card. The scanner is then absent: its self-test and
      // every scan fail with SCN_DISCONNECTED naming the cause.
      let port: SerialPort;
      try {
        port = await buses.serial(role, dc);
      } catch (e) {
        return { config: dc, device: new AbsentScanner(new PosError('SCN_DISCONNECTED', `${role}: cannot open ${dc.port}: ${e instanceof Error ? e.message : String(e)}`, { role, path: dc.port }, { cause: e })) };
      }
      const logger = options.scannerLogger ? { logger: options.scannerLogger } : {};
      return { config: dc, device: new SerialTriggerScanner(port, { suffix: dc.suffix, prefix: dc.prefix, noRead: dc.noRead, readTimeoutMs: dc.readTimeoutMs, ...logger }) };
    }
    case 'quectel-modem': {
      // Optional like the scanner: a module that is not enumerated (USB unplugged, no power) must
      // not stop a board that may still have another link; every call then fails NET_MODEM.
      let port: SerialPort;
      try {
        port = await buses.serial(role, dc);
      } catch (e) {
        return { config: dc, device: new AbsentModem(new PosError('NET_MODEM', `${role}: cannot open ${dc.port}: ${e instanceof Error ? e.message : String(e)}`, { role, path: dc.port, reason: 'absent' }, { cause: e })) };
      }
      return { config: dc, device: new QuectelModem(port, { name: role, ...(options.modemLogger ? { logger: options.modemLogger } : {}) }) };
    }
    case 'wpa-supplicant': {
      // Nothing is opened here: every call runs wpa_cli against the OS's control socket (the
      // simulator board's: its wpa_supplicant model).
      const run = buses.wpaCli(role);
      return { config: dc, device: new WpaCliWifi({ interface: dc.interface, ctrlDir: dc.ctrlDir, ...(run ? { run } : {}) }) };
    }
  }
}

/** The scanner of a board whose scanner port could not be opened: everything fails with why. */
class AbsentScanner implements Scanner {
  constructor(private readonly error: PosError) {}
  scan(): Promise<string> { return Promise.reject(this.error); }
  check(): Promise<void> { return Promise.reject(this.error); }
  diagnostics(): ScannerDiagnostics { return { triggers: 0, codes: 0, noReads: 0, linesDropped: 0, linesGarbled: 0, timeouts: 0 }; }
  close(): Promise<void> { return Promise.resolve(); }
}

/** The modem of a board whose AT port could not be opened: everything fails with why. */
class AbsentModem implements Modem {
  constructor(private readonly error: PosError) {}
  check(): Promise<void> { return Promise.reject(this.error); }
  identity(): Promise<never> { return Promise.reject(this.error); }
  simState(): Promise<never> { return Promise.reject(this.error); }
  enterPin(): Promise<void> { return Promise.reject(this.error); }
  signal(): Promise<never> { return Promise.reject(this.error); }
  registration(): Promise<never> { return Promise.reject(this.error); }
  operator(): Promise<never> { return Promise.reject(this.error); }
  apn(): Promise<never> { return Promise.reject(this.error); }
  setApn(): Promise<void> { return Promise.reject(this.error); }
  status(): Promise<never> { return Promise.reject(this.error); }
  onEvent(): () => void { return () => undefined; }
  diagnostics(): ModemDiagnostics { return { commands: 0, timeouts: 0, urcs: 0, linesGarbled: 0, linesDropped: 0, cancelled: 0 }; }
  close(): Promise<void> { return Promise.resolve(); }
}

async function keypad(dc: KeypadConfig, buses: BusCache): Promise<Keypad> {
  const rows: GpioLine[] = [];
  for (const l of dc.rowLines) rows.push(await buses.line(l, { direction: 'out', activeLow: dc.activeLow, initial: 1, consumer: 'keypad' }));
  const cols: GpioLine[] = [];
  for (const l of dc.colLines) cols.push(await buses.line(l, { direction: 'in', activeLow: dc.activeLow, bias: dc.activeLow ? 'pull-up' : 'pull-down', consumer: 'keypad' }));
  return new MatrixKeypad(rows, cols, dc);
}

async function evdevKeypad(role: string, dc: EvdevKeypadConfig, buses: BusCache, options: LoadOptions): Promise<Keypad> {
  const device = await buses.input(role, dc);
  const logger = options.keypadLogger ? { logger: options.keypadLogger } : {};
  // Found again by its path or name when it comes back (a reseated cable may give another eventN).
  const reopen = (): Promise<InputDevice> => buses.input(role, dc);
  return new EvdevKeypad(device, { name: role, keymap: keymapCodes(dc.keymap), longPressMs: dc.longPressMs, stuckMs: dc.stuckMs, grab: dc.grab, reopen, ...logger });
}

async function battery(role: string, dc: BatteryConfig, buses: BusCache): Promise<Built> {
  const gauge = dc.gauge ? new Max17048(await buses.i2c(dc.gauge.i2cBus), dc.gauge.address, role) : undefined;
  const input = (activeLow: boolean) => ({ direction: 'in' as const, activeLow, consumer: role });
  const lowLine = dc.lowLine ? await buses.line(dc.lowLine.line, input(dc.lowLine.activeLow)) : undefined;
  const chargingLine = dc.chargingLine ? await buses.line(dc.chargingLine.line, input(dc.chargingLine.activeLow)) : undefined;
  const device = new GaugeBattery({ gauge, lowLine, chargingLine }, { ...dc, name: role });
  return { config: dc, device, ...(gauge ? { extra: gauge } : {}) };
}

class LoadedBoard implements Board {
  private closed = false;

  constructor(readonly file: string, readonly config: BoardConfig, private readonly devices: Map<string, Built>, private readonly buses: BusCache) {}

  roles(): string[] {
    return [...this.devices.keys()];
  }

  printer(role = 'printer0'): Printer { return this.get(role, ['escpos-serial']) as Printer; }
  reader(role = 'reader0'): CardReader { return this.get(role, ['framed-card-reader']) as CardReader; }
  display(role = 'display0'): Display { return this.get(role, ['hd44780-pcf8574', 'ssd1306']) as Display; }
  keypad(role = 'keypad0'): Keypad { return this.get(role, ['matrix-keypad', 'evdev-keypad']) as Keypad; }
  battery(role = 'battery0'): Battery { return this.get(role, ['battery']) as Battery; }
  resetButton(role = 'reset0'): Button { return this.get(role, ['gpio-button']) as Button; }

  led(role: string): Led | undefined {
    return this.devices.has(role) ? (this.get(role, ['gpio-led']) as Led) : undefined;
  }

  signaturePad(role = 'signature0'): SignaturePad | undefined {
    return this.devices.has(role) ? (this.get(role, ['tsc2007']) as SignaturePad) : undefined;
  }

  scanner(role = 'scanner0'): Scanner | undefined {
    return this.devices.has(role) ? (this.get(role, ['serial-scan-engine']) as Scanner) : undefined;
  }

  modem(role = 'modem0'): Modem | undefined {
    return this.devices.has(role) ? (this.get(role, ['quectel-modem']) as Modem) : undefined;
  }

  wifi(role = 'wifi0'): Wifi | undefined {
    return this.devices.has(role) ? (this.get(role, ['wpa-supplicant']) as Wifi) : undefined;
  }

  async selfTest(): Promise<SelfTestResult[]> {
    const results: SelfTestResult[] = [];
    for (const [role, built] of this.devices) {
      try {
        await this.testOne(built);
        results.push({ role, ok: true });
      } catch (e) {
        results.push({ role, ok: false, error: isPosError(e) ? e : new PosError('BRD_BUS', `${role}: ${String(e)}`, { role }) });
      }
    }
    return results;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const { device } of this.devices.values()) await device.close().catch(() => undefined);
    await this.buses.close();
  }

  private async testOne(built: Built): Promise<void> {
    const { config: dc, device } = built;
    switch (dc.type) {
      case 'escpos-serial': await (device as Printer).selfTest(); return;
      case 'framed-card-reader': await (device as CardReader).selfTest(); return;
      case 'hd44780-pcf8574': case 'ssd1306': await (device as Display).init(); return;
      case 'matrix-keypad': case 'evdev-keypad': return startKeypad(device as Keypad);
      case 'battery': return checkBattery(device as Battery, built.extra);
      case 'gpio-button': await (device as Button).start(); return;
      case 'gpio-led': await (device as Led).set(false); return;
      case 'tsc2007': await (device as SignaturePad).check(); return;
      case 'serial-scan-engine': await (device as Scanner).check(); return;
      case 'quectel-modem': await (device as Modem).check(); return;
      case 'wpa-supplicant': await (device as Wifi).check(); return;
    }
  }

  private get(role: string, types: readonly DeviceConfig['type'][]): Device {
    const built = this.devices.get(role);
    if (!built) throw new PosError('BRD_INVALID', `${this.file}: role ${role} is missing`, { file: this.file, role });
    if (!types.includes(built.config.type)) {
      throw new PosError('BRD_INVALID', `${this.file}: role ${role} is a ${built.config.type}, not a ${types.join(' or ')}`, { file: this.file, role });
    }
    return built.device;
  }
}

/** Starts scanning; a key stuck at power-on fails the self-test with its KBD_STUCK. */
async function startKeypad(keypad: Keypad): Promise<void> {
  const faults: PosError[] = [];
  const stop = keypad.onFault((f) => faults.push(f));
  try {
    await keypad.start();
  } finally {
    stop();
  }
  if (faults.length > 0) throw faults[0];
}

async function checkBattery(battery: Battery, gauge: Max17048 | undefined): Promise<void> {
  if (gauge) await gauge.check();
  const state = await battery.read();
  if (state.fault) throw state.fault;
}
