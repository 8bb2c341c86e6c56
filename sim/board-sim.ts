/**
 * The simulator board: reads a board file (sim.json by default; any board file works, its buses
 * are then simulated), builds simulated buses with a chip model for each device, and lets the
 * real loader (hal/board.ts) construct the real drivers over them. Only the wire is virtual.
 *
 * Tests and the front panel drive the models: press keys, read the LCD text or the SSD1306
 * pixels, set the battery, hold the reset button, read the printed receipts, swipe cards.
 *
 *   const sim = await createSimBoard();
 *   await sim.board.selfTest();
 *   sim.keypad().press('5');             // the MatrixKeypad driver scans it and emits 'down:5'
 *   sim.setBattery({ percent: 4 });       // the battery driver reads 'critical'
 *   sim.oled().toAscii(); sim.lcd().text()
 *   sim.scanner().present('134512345678901234'); // decoded at the driver's next scan (QR payment)
 *   await sim.close();
 */
import { Board, BusFactories, buildBoard, readBoardFile, BoardConfig, DeviceConfig, LoadOptions } from '../hal/board';
import { SimGpioChip } from './chips/gpio-sim';
import { SimI2cBus } from './chips/i2c-sim';
import { Pcf8574Hd44780Model } from './chips/hd44780-model';
import { Ssd1306Model } from './chips/ssd1306-model';
import { Max17048Model } from './chips/max17048-model';
import { MatrixKeypadModel } from './chips/keypad-model';
import { SimButton, SimLed } from './chips/button-led-models';
import { PenSample, Tsc2007Model } from './chips/tsc2007-model';
import { SerialPair, openSerialPair } from './serial-pair';
import { VirtualPrinter, VirtualPrinterOptions } from './virtual-printer';
import { VirtualCardReader, VirtualCardReaderOptions } from './virtual-card-reader';
import { VirtualScanner, VirtualScannerOptions } from './virtual-scanner';
import { QuectelModemModel, QuectelModemModelOptions } from './chips/quectel-modem-model';
import { PosError } from '../common/errors';
import { Level } from '../hal/gpio';
import type { KeyName } from '../hal/keypad';
import { SimWpaSupplicant } from './wpa-supplicant-model';

export interface SimBoardOptions extends LoadOptions {
  /** Board name or file; default "sim". */
  readonly board?: string;
  /** Initial battery state of every gauge. */
  readonly battery?: { readonly voltageMv?: number; readonly percent?: number };
  readonly printer?: VirtualPrinterOptions;
  readonly reader?: VirtualCardReaderOptions;
  /** Overrides of the virtual scan engine (its suffix, prefix, no-read and read time-out follow the board file). */
  readonly scanner?: Pick<VirtualScannerOptions, 'decodeMs' | 'timers'>;
  /** The 4G module model's identity, signal and answer delay (its APN follows the board file). */
  readonly modem?: QuectelModemModelOptions;
  /** Pace the simulated serial cables (bytes per second); default unpaced. */
  readonly serialBytesPerSecond?: number;
  /** Called after the models exist and before the drivers are built (hold a key at power-on). */
  readonly beforeBoot?: (sim: SimBoard) => void;
  /** Tests only (--test-timings key-debounce, boot/test-timings.ts): every matrix keypad's debounce instead of the board file's. */
  readonly keypadDebounceMs?: number;
  /**
   * Wi-Fi roles (wpa-supplicant): 'model' (default) answers through the wpa_supplicant model
   * (sim/wpa-supplicant-model.ts); 'os' runs the real wpa_cli against the board file's ctrlDir.
   */
  readonly wpaSupplicant?: 'model' | 'os';
  /** The wpa_supplicant model's clock (association delays); default performance.now. */
  readonly wifiClock?: () => number;
}

export interface BatteryControl {
  readonly percent?: number;
  readonly voltageMv?: number;
  /** Drives the low-battery line (where the board has one). */
  readonly low?: boolean;
  /** Drives the charging line (where the board has one). */
  readonly charging?: boolean;
}

/** How long a scripted key waits for the keypad driver to report its press or release (typeKey). */
export const KEY_TAKEN_MS_MAX = 5_000;

/** Every model by role, plus the buses. */
export class SimBoard {
  /** Set once the drivers are built. */
  board!: Board;
  readonly gpio = new SimGpioChip('simchip0');
  readonly i2c = new Map<number, SimI2cBus>();
  readonly lcds = new Map<string, Pcf8574Hd44780Model>();
  readonly oleds = new Map<string, Ssd1306Model>();
  readonly gauges = new Map<string, Max17048Model>();
  readonly keypads = new Map<string, MatrixKeypadModel>();
  readonly buttons = new Map<string, SimButton>();
  readonly leds = new Map<string, SimLed>();
  readonly printers = new Map<string, VirtualPrinter>();
  readonly readers = new Map<string, VirtualCardReader>();
  readonly cables = new Map<string, SerialPair>();
  readonly pads = new Map<string, Tsc2007Model>();
  readonly scanners = new Map<string, VirtualScanner>();
  readonly modems = new Map<string, QuectelModemModel>();
  readonly wifis = new Map<string, SimWpaSupplicant>();

  constructor(readonly file: string, readonly config: BoardConfig, private readonly options: SimBoardOptions) {}

  i2cBus(n: number): SimI2cBus {
    let bus = this.i2c.get(n);
    if (!bus) {
      bus = new SimI2cBus(`sim-i2c-${n}`);
      this.i2c.set(n, bus);
    }
    return bus;
  }

  lcd(role = 'display0'): Pcf8574Hd44780Model { return must(this.lcds, role, 'HD44780 display'); }
  oled(role = 'display0'): Ssd1306Model { return must(this.oleds, role, 'SSD1306 display'); }
  gauge(role = 'battery0'): Max17048Model { return must(this.gauges, role, 'MAX17048 gauge'); }
  keypad(role = 'keypad0'): MatrixKeypadModel { return must(this.keypads, role, 'keypad'); }
  resetButton(role = 'reset0'): SimButton { return must(this.buttons, role, 'button'); }
  led(role: string): SimLed { return must(this.leds, role, 'LED'); }
  printer(role = 'printer0'): VirtualPrinter { return must(this.printers, role, 'printer'); }
  reader(role = 'reader0'): VirtualCardReader { return must(this.readers, role, 'card reader'); }
  pad(role = 'signature0'): Tsc2007Model { return must(this.pads, role, 'signature pad'); }
  scanner(role = 'scanner0'): VirtualScanner { return must(this.scanners, role, 'scan engine'); }
  /** The 4G module: removeSim(), lockPin(), setSignal(csq), setRegistration('denied'), ... */
  modem(role = 'modem0'): QuectelModemModel { return must(this.modems, role, '4G modem'); }
  /** The OS's wpa_supplicant as the Wi-Fi driver sees it: its access points (signal, in range), running or not. */
  wifi(role = 'wifi0'): SimWpaSupplicant { return must(this.wifis, role, 'wpa_supplicant'); }

  /**
   * The customer signs: strokes in the pad's pixels (as the board file's width × height), each
   * point [x, y] or [x, y, pressure 0..1] (default SIGN_PRESSURE_DEFAULT). The pixels are turned
   * into the raw ADC readings the board's calibration expects, so the driver's calibration is what
   * maps them back. One point per sample of the driver; SIGN_GAP_SAMPLES pen-up samples between
   * strokes. Resolves when the chip has presented every sample (someone must be sampling it: the
   * terminal on its signature screen), or rejects after `timeoutMs`.
   */
  async sign(strokes: ReadonlyArray<ReadonlyArray<readonly number[]>>, role = 'signature0', timeoutMs = SIGN_WAIT_MS_MAX): Promise<{ samples: number }> {
    const dc = this.config.devices[role];
    if (dc?.type !== 'tsc2007') throw new PosError('BRD_INVALID', `${this.file}: role ${role} is not a signature pad (tsc2007)`, { role });
    const model = this.pad(role);
    const samples: PenSample[] = [];
    const c = dc.calibration;
    const toRaw = (v: number, size: number, min: number, max: number): number => Math.round(min + (Math.min(size - 1, Math.max(0, v)) * (max - min)) / (size - 1));
    for (const stroke of strokes) {
      for (const point of stroke) {
        const [x, y, pressure = SIGN_PRESSURE_DEFAULT] = point;
        if (![x, y, pressure].every((n) => typeof n === 'number' && Number.isFinite(n)) || pressure < 0 || pressure > 1) throw new Error(`bad point ${JSON.stringify(point)}: [x, y] or [x, y, pressure 0..1]`);
        const rx = toRaw(x, dc.width, c.xRawMin, c.xRawMax);
        const ry = toRaw(y, dc.height, c.yRawMin, c.yRawMax);
        samples.push({ ...(c.swapXY ? { x: ry, y: rx } : { x: rx, y: ry }), touchOhms: touchOhmsForPressure(pressure) });
      }
      for (let i = 0; i < SIGN_GAP_SAMPLES; i++) samples.push('up');
    }
    model.play(samples);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        model.drained(),
        new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${role}: the pad was not sampled within ${timeoutMs} ms (is the terminal on its signature screen?); ${model.pending} samples dropped`)), timeoutMs); }),
      ]);
    } catch (e) {
      model.reset();
      throw e;
    } finally {
      clearTimeout(timer);
    }
    return { samples: samples.length };
  }

  /**
   * Types one key as a person does, whatever the load: holds it at least `holdMs` and until the
   * keypad driver reports it down, releases it, and waits at least `holdMs` and for the 'up'. Fixed
   * holds fail on a starved process: a release can come before any scan saw the key twice (key
   * lost) and the next press before any scan saw the gap (two taps merged: 30000 became 300). Each
   * wait ends after KEY_TAKEN_MS_MAX: a terminal that does not scan loses the key, as a real one would.
   */
  async typeKey(key: KeyName, holdMs: number, role = 'keypad0'): Promise<void> {
    const model = this.keypad(role);
    await this.keyEvent(role, key, 'down', holdMs, () => model.press(key));
    await this.keyEvent(role, key, 'up', holdMs, () => model.release(key));
  }

  private async keyEvent(role: string, key: KeyName, type: 'down' | 'up', holdMs: number, act: () => void): Promise<void> {
    let off = (): void => undefined;
    let timer: NodeJS.Timeout | undefined;
    const reported = new Promise<void>((resolve) => {
      off = this.board.keypad(role).onKey((e) => { if (e.key === key && e.type === type) resolve(); });
      timer = setTimeout(resolve, KEY_TAKEN_MS_MAX);
    });
    act();
    try {
      await Promise.all([reported, new Promise((r) => setTimeout(r, holdMs))]);
    } finally {
      off();
      clearTimeout(timer);
    }
  }

  /** Sets what the battery's gauge and lines report. */
  setBattery(control: BatteryControl, role = 'battery0'): void {
    const dc = this.config.devices[role];
    if (dc?.type !== 'battery') throw new PosError('BRD_INVALID', `${this.file}: role ${role} is not a battery`);
    const gauge = this.gauges.get(role);
    if (control.percent !== undefined) gauge?.setPercent(control.percent);
    if (control.voltageMv !== undefined) gauge?.setVoltageMv(control.voltageMv);
    if (control.low !== undefined && dc.lowLine) this.driveLine(dc.lowLine, control.low);
    if (control.charging !== undefined && dc.chargingLine) this.driveLine(dc.chargingLine, control.charging);
  }

  async close(): Promise<void> {
    for (const k of this.keypads.values()) k.dispose();
    await this.board?.close();
  }

  /** @internal builds the model for one device. */
  async attach(role: string, dc: DeviceConfig): Promise<void> {
    switch (dc.type) {
      case 'hd44780-pcf8574': this.put(this.lcds, role, new Pcf8574Hd44780Model(dc.cols, dc.rows, dc.pinMap), dc.i2cBus, dc.address); return;
      case 'ssd1306': this.put(this.oleds, role, new Ssd1306Model(), dc.i2cBus, dc.address); return;
      case 'matrix-keypad': this.keypads.set(role, new MatrixKeypadModel(this.gpio, dc.rowLines, dc.colLines, dc.keymap, { activeLow: dc.activeLow })); return;
      case 'battery': return this.attachBattery(role, dc);
      case 'gpio-button': this.buttons.set(role, new SimButton(this.gpio, dc.line, { activeLow: dc.activeLow })); return;
      case 'gpio-led': this.leds.set(role, new SimLed(this.gpio, dc.line, dc.activeLow)); return;
      case 'escpos-serial': {
        const pair = await this.cable(role);
        this.printers.set(role, new VirtualPrinter(pair.device, { paperWidthDots: dc.paperWidthMm === 80 ? 576 : 384, gb18030: dc.gb18030, ...this.options.printer }));
        return;
      }
      case 'framed-card-reader':
        this.readers.set(role, new VirtualCardReader((await this.cable(role)).device, this.options.reader));
        return;
      case 'tsc2007': this.put(this.pads, role, new Tsc2007Model(dc.xPlateOhms), dc.i2cBus, dc.address); return;
      case 'serial-scan-engine': {
        // The engine is configured as the board file says, so the driver meets what it expects.
        const engine = { suffix: dc.suffix, prefix: dc.prefix, noRead: dc.noRead, readTimeoutMs: dc.readTimeoutMs, ...this.options.scanner };
        this.scanners.set(role, new VirtualScanner((await this.cable(role)).device, engine));
        return;
      }
      case 'quectel-modem':
        // The module's context 1 starts with the board's APN, as a provisioned terminal's does.
        this.modems.set(role, new QuectelModemModel((await this.cable(role)).device, { apn: dc.apn, ...this.options.modem }));
        return;
      case 'wpa-supplicant':
        if (this.options.wpaSupplicant !== 'os') this.wifis.set(role, new SimWpaSupplicant(this.options.wifiClock));
    }
  }

  private attachBattery(role: string, dc: Extract<DeviceConfig, { type: 'battery' }>): void {
    if (dc.gauge) this.put(this.gauges, role, new Max17048Model(this.options.battery), dc.gauge.i2cBus, dc.gauge.address);
    if (dc.lowLine) this.idle(dc.lowLine);
    if (dc.chargingLine) this.idle(dc.chargingLine);
  }

  private put<T extends Pcf8574Hd44780Model | Ssd1306Model | Max17048Model | Tsc2007Model>(map: Map<string, T>, role: string, model: T, bus: number, address: number): void {
    this.i2cBus(bus).attach(address, model);
    map.set(role, model);
  }

  private async cable(role: string): Promise<SerialPair> {
    const pair = await openSerialPair({ label: role, ...(this.options.serialBytesPerSecond ? { bytesPerSecond: this.options.serialBytesPerSecond } : {}) });
    this.cables.set(role, pair);
    return pair;
  }

  /** A status line at rest: pulled to its inactive level. */
  private idle(ref: { line: number; activeLow: boolean }): void {
    this.gpio.pin(ref.line).setPull(ref.activeLow ? 1 : 0);
  }

  private driveLine(ref: { line: number; activeLow: boolean }, active: boolean): void {
    const pin = this.gpio.pin(ref.line);
    if (active) pin.drive((ref.activeLow ? 0 : 1) as Level);
    else pin.release();
  }
}

type Points = ReadonlyArray<ReadonlyArray<readonly number[]>>;

/** A hand-written scribble on a 320 × 120 pad: a "Z", a wave, an underline (about 45 points). */
function demoSignature(): Points {
  const wave: number[][] = [];
  for (let x = 110; x <= 290; x += 6) wave.push([x, Math.round(60 + 25 * Math.sin(((x - 110) / 180) * 3 * Math.PI))]);
  return [
    [[30, 30], [60, 28], [90, 30], [60, 60], [30, 90], [65, 92], [100, 90]],
    wave,
    [[40, 105], [120, 104], [200, 102], [280, 100]],
  ];
}

/** Built-in signatures for the control interface's `sign {name}` and the front panel (pad pixels, 320 × 120). */
export const TEST_SIGNATURES: Readonly<Record<string, Points>> = {
  demo: demoSignature(),
  /** One dot (the smallest signature there is). */
  dot: [[[160, 60]]],
  /** Too light to count: pressure 0.2 stays above the board's touch-resistance threshold. */
  light: [[[40, 40, 0.2], [200, 40, 0.2], [280, 80, 0.2]]],
};

/** Pressure of a `sign` point without one: firm. */
export const SIGN_PRESSURE_DEFAULT = 0.9;
/** Pen-up samples after each stroke (the driver sees the pen lift). */
export const SIGN_GAP_SAMPLES = 3;
export const SIGN_WAIT_MS_MAX = 15_000;
/** Touch resistance of a press: pressure 1 = 200 Ω (firm), 0 = 4000 Ω (barely touching). */
export function touchOhmsForPressure(pressure: number): number {
  return Math.round(200 + (1 - pressure) * 3800);
}

/** Bus factories that hand out the simulated buses of `sim`. */
export function simFactories(sim: SimBoard): BusFactories {
  return {
    i2c: async (n) => sim.i2cBus(n),
    gpio: async () => sim.gpio,
    serial: async (role) => {
      const pair = sim.cables.get(role);
      if (!pair) throw new PosError('BRD_DEVICE_ABSENT', `${sim.file}: no simulated cable for ${role}`, { role });
      return pair.host;
    },
    wpaCli: (role) => sim.wifis.get(role)?.run,
  };
}

/** Builds the simulator board: models first, then the real drivers over the simulated buses. */
export async function createSimBoard(options: SimBoardOptions = {}): Promise<SimBoard> {
  const read = readBoardFile(options.board ?? 'sim');
  const { file } = read;
  const debounceMs = options.keypadDebounceMs;
  const config: BoardConfig = debounceMs === undefined ? read.config : {
    ...read.config,
    devices: Object.fromEntries(Object.entries(read.config.devices).map(([role, dc]) => [role, dc.type === 'matrix-keypad' ? { ...dc, debounceMs } : dc])),
  };
  const sim = new SimBoard(file, config, options);
  for (const [role, dc] of Object.entries(config.devices)) await sim.attach(role, dc);
  options.beforeBoot?.(sim);
  sim.board = await buildBoard(file, config, simFactories(sim), options);
  return sim;
}

function must<T>(map: Map<string, T>, role: string, what: string): T {
  const v = map.get(role);
  if (!v) throw new PosError('BRD_INVALID', `simulator board: role ${role} has no ${what} model`, { role });
  return v;
}
