/**
 * The simulator board's control interface: JSON lines over a TCP socket on the loopback address.
 * Scripts, tests and the front panel use it to press keys, present cards, read the screen's text
 * and pixels, read printed receipts (text and PNG), set battery and paper state, and observe the
 * terminal's state changes. One request per line, one response per line:
 *
 *   → {"id":1,"cmd":"press","key":"5"}            ← {"id":1,"ok":true}
 *   → {"id":2,"cmd":"screen"}                     ← {"id":2,"ok":true,"kind":"pixels","width":128,"height":64,"ascii":"..."}
 *   → {"id":3,"cmd":"subscribe"}                  ← {"id":3,"ok":true}  then {"event":"state","state":...} lines
 *
 * Commands (see CONTROL_COMMANDS): press, release, keys, swipe, swipe-bad, insert, remove, tap,
 * take-away, screen, receipts, receipt-png (base64; with "path", a plain file name written in the
 * receipts folder only: ControlServerOptions.receiptDir), battery, paper, cover, printer-fault, reset-button,
 * state, subscribe, leds, garble-reader, reader-silent, absent, sign, signatures, scan, scan-codes,
 * memory ({drop: true} tears the paper roll off to measure the devices' share). Faults for diagnostics tests:
 *   {"cmd":"printer-fault","fault":"cutter"|"head-hot"|"unrecoverable"|null}   (null clears it)
 *   {"cmd":"reader-silent","silent":true|false}      the reader stops answering (hung firmware) / wakes
 *   {"cmd":"absent","bus":1,"address":54,"absent":true|false}   an I2C chip unplugged (not ACKed)
 * The 4G module (boards with modem0; sim/chips/quectel-modem-model.ts), any of these fields at once:
 *   {"cmd":"modem","sim":"removed"|"inserted"|"pin"|"puk"}   SIM pulled / back / PIN lock on (PIN 1234) / PUK-locked
 *   {"cmd":"modem","csq":0..31|99}                          signal (+CSQ rssi; 99 or under 2: no service)
 *   {"cmd":"modem","registration":"home"|"roaming"|"searching"|"denied"|"not-registered"}
 *   {"cmd":"modem","silent":true|false}                     the module stops answering (hung firmware) / wakes
 *   the reply says the model's registration, APN and PIN attempts left.
 * The Wi-Fi (boards with wifi0; sim/wpa-supplicant-model.ts: the shop's SIM-SHOP joined at power-on,
 * its passphrase shop-wifi-2026), any of these fields at once; `ssid` names the access point
 * (default the one joined):
 *   {"cmd":"wifi","signalDbm":-84}                 its signal (-100..-20 dBm)
 *   {"cmd":"wifi","ssid":"SIM-SHOP","inRange":false}   out of range (router off) / back
 *   {"cmd":"wifi","running":false}                 the OS's wpa_supplicant stopped (E-NET-28) / started
 *   the reply says what is joined, whether it runs, and the access points.
 * The customer signs on the signature pad (boards with signature0; replies once the pad has been
 * sampled through, i.e. while the terminal shows its signature screen):
 *   {"cmd":"sign","strokes":[[[x,y],[x,y,pressure]...],...]}   pad pixels, pressure 0..1 (default 0.9)
 *   {"cmd":"sign","name":"demo"}                                a built-in signature (`signatures` lists them)
 * The customer shows a QR payment code to the scan engine (boards with scanner0). The code is held
 * in front of the virtual engine and decoded at its next trigger, or at once if a scan is running
 * (`scanning` in the reply says which); one code is one decode. The reply never echoes the code:
 *   {"cmd":"scan","code":"134512345678901234"}   printable ASCII, quoted (a JSON number loses digits)
 *   {"cmd":"scan","name":"alipay"}                a demo payment code (`scan-codes` lists them)
 *   {"cmd":"scan"}                                the default demo code (WeChat Pay shape)
 * The customer scans the QR code the terminal shows (主扫) and pays it at the acquirer simulator.
 * The terminal process has no simulator of its own: the request goes to the process that runs it
 * (`npm start`, or a test's driver) as a `HOST-SIM pay <content> [WALLET]` line on stdout
 * (ControlServerOptions.hostLine), which it applies with sim/host/cli.ts `controlLine`:
 *   {"cmd":"host","line":"down"}      the acquirer simulator refuses connections (offline sales); "up",
 *                                    "clear", "fault SPEC" (sim/host/faults.ts) likewise
 *   {"cmd":"qr-pay"}                 the code on the screen, wallet UnionPay
 *   {"cmd":"qr-pay","wallet":"WX"}   UP, WX, AL or OT
 * Unknown commands and malformed lines get
 * {"ok":false,"error":...}; the connection stays open. Listens on 127.0.0.1 only.
 */
import { createServer, Server, Socket } from 'node:net';
import { closeSync, constants as fsc, fsyncSync, lstatSync, mkdirSync, openSync, realpathSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { SimBoard } from './board-sim';
import type { PrinterFault } from './virtual-printer';
import { TEST_CARDS } from './test-cards';
import { TEST_SIGNATURES } from './board-sim';
import { DEMO_PAYMENT_CODES, DEMO_PAYMENT_CODE_DEFAULT } from './virtual-scanner';
import type { ModemRegistration } from './chips/quectel-modem-model';
import { SIM_SHOP_SSID } from './wpa-supplicant-model';
import { memoryCommand } from './memory-probe';
import { SCAN_LINE_BYTES_MAX } from '../hal/drivers/scan-engine';
import { KEY_NAMES, KeyName } from '../hal/keypad';
import { Logger, silentLogger } from '../common/log';
import { PosError } from '../common/errors';

export const CONTROL_LINE_BYTES_MAX = 64 * 1024;
/** A line the terminal process writes on stdout for the acquirer simulator of the process that started it (`qr-pay`). */
export const HOST_SIM_LINE_PREFIX = 'HOST-SIM ';
export const CONTROL_CLIENTS_MAX = 8;
/**
 * How long a scripted key stays down (and up after it) at least: longer than the keypad's debounce
 * (20 ms on the simulator board); longer still until the driver reports it (SimBoard.typeKey), which
 * is what keeps a starved terminal from losing or merging keys. A fast typist's 30 ms: the tests
 * type thousands of keys, and at 60 ms typing was half an e2e test's time.
 */
export const KEY_HOLD_MS = 30;
/** How long a swipe or tap waits for the reader to be detecting before it is presented anyway. */
export const PRESENT_WAIT_MS_MAX = 3_000;
/**
 * A receipt PNG's name: a plain file name in the receipts folder, nothing else (no folder, no
 * `..`, not hidden). A client on the control port must not choose where the terminal writes.
 */
export const RECEIPT_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,95}\.png$/;

export interface ControlServerOptions {
  /**
   * The one folder `receipt-png {path}` writes into (created on first use). Without it the
   * interface writes no file: `receipt-png` answers the PNG as base64 only.
   */
  readonly receiptDir?: string;
  /** Sends a control line to the acquirer simulator's process (`qr-pay`); absent: `qr-pay` is refused. */
  readonly hostLine?: (line: string) => void;
  /** Tests only (--test-timings key-hold, boot/test-timings.ts): a scripted key's least hold (default KEY_HOLD_MS). */
  readonly keyHoldMs?: number;
}

/** What the terminal (state machine) exposes to the control interface. */
export interface TerminalProbe {
  snapshot(): unknown;
  onChange(listener: (snapshot: unknown) => void): () => void;
}

type Request = { id?: unknown; cmd?: unknown; [k: string]: unknown };
type Reply = Record<string, unknown>;
type Handler = (req: Request) => Reply | Promise<Reply>;

export class ControlServer {
  private server: Server | undefined;
  private readonly clients = new Set<Socket>();
  private readonly subscribers = new Set<Socket>();
  private unsubscribe: (() => void) | undefined;
  private readonly handlers: Record<string, Handler>;

  constructor(private readonly sim: SimBoard, private probe: TerminalProbe | undefined = undefined, private readonly log: Logger = silentLogger, private readonly options: ControlServerOptions = {}) {
    this.handlers = this.buildHandlers();
    this.attachProbe(probe);
  }

  /** Attaches (or replaces) the terminal whose state `state` and `subscribe` report. */
  attachProbe(probe: TerminalProbe | undefined): void {
    this.unsubscribe?.();
    this.probe = probe;
    this.unsubscribe = probe?.onChange((snapshot) => this.broadcast({ event: 'state', state: snapshot }));
  }

  async listen(port = 0): Promise<number> {
    // Half-open: a client that sends its requests and shuts its side (echo ... | nc) still gets the replies.
    // noDelay: a reply or screen event is a small write; with Nagle's algorithm on, one that follows
    // another before the client's delayed ACK (40 ms on Linux) waited for it, so fast typing looked
    // 20 ms slower on the panel than it is on the LCD.
    this.server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, '127.0.0.1', () => resolve());
    });
    const address = this.server.address();
    return typeof address === 'object' && address ? address.port : port;
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    for (const c of this.clients) c.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Sends an event line to every subscriber (state changes, printed receipts). */
  broadcast(event: Reply): void {
    const line = JSON.stringify(event) + '\n';
    for (const s of this.subscribers) s.write(line);
  }

  /** Runs one request (also used in-process by tests). */
  async handle(req: Request): Promise<Reply> {
    const cmd = typeof req.cmd === 'string' ? req.cmd : '';
    const handler = this.handlers[cmd];
    if (!handler) return { ok: false, error: `unknown command "${cmd}"; known: ${Object.keys(this.handlers).join(', ')}` };
    try {
      return { ok: true, ...(await handler(req)) };
    } catch (e) {
      return { ok: false, error: e instanceof Error ? e.message : String(e) };
    }
  }

  private accept(socket: Socket): void {
    if (this.clients.size >= CONTROL_CLIENTS_MAX) {
      socket.end(JSON.stringify({ ok: false, error: 'too many control clients' }) + '\n');
      return;
    }
    this.clients.add(socket);
    let buffered = '';
    let pending = 0;
    let ended = false;
    const finish = (): void => { if (ended && pending === 0 && !socket.destroyed) socket.end(); };
    socket.on('end', () => { ended = true; finish(); });
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > CONTROL_LINE_BYTES_MAX && !buffered.includes('\n')) {
        socket.end(JSON.stringify({ ok: false, error: `line longer than ${CONTROL_LINE_BYTES_MAX} bytes` }) + '\n');
        return;
      }
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl).trim();
        buffered = buffered.slice(nl + 1);
        if (line) { pending++; void this.answer(socket, line).finally(() => { pending--; finish(); }); }
      }
    });
    socket.on('close', () => { this.clients.delete(socket); this.subscribers.delete(socket); });
    socket.on('error', () => socket.destroy());
  }

  private async answer(socket: Socket, line: string): Promise<void> {
    let req: Request;
    try {
      req = JSON.parse(line) as Request;
    } catch {
      socket.write(JSON.stringify({ ok: false, error: 'not JSON' }) + '\n');
      return;
    }
    if (req.cmd === 'subscribe') this.subscribers.add(socket);
    const reply = await this.handle(req);
    if (!socket.destroyed) socket.write(JSON.stringify({ id: req.id, ...reply }) + '\n');
  }

  /**
   * A swipe or tap meets a reader that is detecting, as a person presents the card once the
   * terminal asks: waits for detection up to PRESENT_WAIT_MS_MAX (a loaded machine can show the
   * prompt before the detect command reached the reader), then presents it anyway (and a reader
   * that is not detecting ignores it, as a real one does).
   */
  private async readerReady(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.sim.reader().detectionStarted(), new Promise<void>((r) => { timer = setTimeout(r, PRESENT_WAIT_MS_MAX); })]);
    clearTimeout(timer);
  }

  private buildHandlers(): Record<string, Handler> {
    const sim = this.sim;
    return {
      press: async (r) => { await this.tap(keyOf(r.key)); return {}; },
      keys: async (r) => { for (const k of keySequence(String(r.keys ?? ''))) await this.tap(k); return {}; },
      down: (r) => { sim.keypad().press(keyOf(r.key)); return {}; },
      up: (r) => { sim.keypad().release(keyOf(r.key)); return {}; },
      swipe: async (r) => { const card = cardOf(r.card, 'mag'); await this.readerReady(); sim.reader().swipe(card); return {}; },
      'swipe-bad': () => { sim.reader().swipeBad(); return {}; },
      insert: (r) => { sim.reader().insert(cardOf(r.card, 'ic')); return {}; },
      remove: () => { sim.reader().removeCard(); return {}; },
      tap: async (r) => { const card = cardOf(r.card, 'contactless'); await this.readerReady(); sim.reader().tap(card); return {}; },
      'take-away': () => { sim.reader().takeAway(); return {}; },
      'garble-reader': () => { sim.reader().garbleNextFrame('crc'); return {}; },
      'reader-silent': (r) => { if (yesNo(r, 'silent', true, { silent: true, awake: false })) sim.reader().goSilent(); else sim.reader().wake(); return {}; },
      'printer-fault': (r) => { sim.printer().setFault(printerFaultOf(r.fault)); return {}; },
      absent: (r) => {
        const bus = num(r.bus);
        const address = typeof r.address === 'string' ? Number(r.address) : num(r.address);
        if (bus === undefined || address === undefined || !Number.isInteger(address) || address < 0 || address > 0x7f) throw new Error('absent needs "bus" and "address" (0..127, or "0x36")');
        if (!sim.i2c.has(bus)) throw new Error(`no simulated I2C bus ${bus}; buses: ${[...sim.i2c.keys()].join(', ')}`);
        sim.i2cBus(bus).setAbsent(address, yesNo(r, 'absent', true, { absent: true, present: false }));
        return {};
      },
      screen: () => this.screen(),
      // images: the raster images on each receipt (a QR code, a logo, a signature), where and how big.
      receipts: () => ({ shed: sim.printer().machine.paper.receiptsShed, receipts: sim.printer().receipts().map((rc) => ({ lines: rc.lines, cut: rc.cut, images: rc.items.flatMap((it) => (it.kind === 'image' ? [{ x: it.x, width: it.width, height: it.height }] : [])) })) }),
      'receipt-png': (r) => this.receiptPng(r),
      // Sets what is given, then answers what the terminal's own battery driver reads now: the
      // front panel shows that, so the panel and the LCD have one source (the gauge), never a
      // number the panel assumed or kept from before a battery pull.
      battery: async (r) => {
        sim.setBattery({ percent: percentOf(r), charging: optYesNo(r, 'charging'), low: optYesNo(r, 'low') });
        const s = await sim.board.battery().read();
        return { percent: s.percent, charging: s.charging, level: s.level };
      },
      paper: (r) => this.paper(String(r.state ?? '')),
      cover: (r) => { if (yesNo(r, 'open', false, { open: true, closed: false, close: false })) sim.printer().openCover(); else sim.printer().closeCover(); return {}; },
      'reset-button': (r) => { if (yesNo(r, 'down', false, { down: true, up: false, pressed: true, released: false })) sim.resetButton().press(); else sim.resetButton().release(); return {}; },
      leds: () => ({ leds: Object.fromEntries([...sim.leds.entries()].map(([role, led]) => [role, led.isOn])) }),
      state: () => ({ state: this.probe?.snapshot() ?? null }),
      subscribe: () => ({}),
      cards: () => ({ cards: Object.keys(TEST_CARDS) }),
      sign: async (r) => {
        const role = typeof r.role === 'string' ? r.role : 'signature0';
        if (!sim.pads.has(role)) throw new Error(`this board has no signature pad ${role} (the cardholder signs on paper)`);
        const strokes = strokesOf(r);
        return { ...(await sim.sign(strokes, role)), strokes: strokes.length };
      },
      signatures: () => ({ signatures: Object.keys(TEST_SIGNATURES) }),
      scan: (r) => {
        const role = typeof r.role === 'string' ? r.role : 'scanner0';
        if (!sim.scanners.has(role)) throw new Error(`this board has no scan engine ${role} (board file role scannerN)`);
        return { scanning: sim.scanner(role).present(scanCodeOf(r)) };
      },
      'scan-codes': () => ({ codes: Object.keys(DEMO_PAYMENT_CODES) }),
      modem: (r) => modemControl(sim, r),
      wifi: (r) => wifiControl(sim, r),
      // What the process holds after a full GC; drop: the paper roll torn off and the devices' share measured (sim/memory-probe.ts).
      memory: (r) => ({ ...memoryCommand(sim, yesNo(r, 'drop', false)) }),
      // Any control line for the acquirer simulator of the process that started this terminal
      // (`npm start`): `host down` / `host up` (connections refused: offline sales), `host fault ...`.
      host: (r) => {
        const line = typeof r.line === 'string' ? r.line : '';
        if (!/^(down|up|clear|fault [\x21-\x7e ,:=]{1,200})$/.test(line)) throw new Error('host line must be down, up, clear or fault SPEC');
        if (!this.options.hostLine) throw new Error('no acquirer simulator attached to this terminal process');
        this.options.hostLine(line);
        return { sent: true };
      },
      'qr-pay': (r) => {
        const wallet = r.wallet === undefined ? undefined : String(r.wallet).toUpperCase();
        if (wallet !== undefined && !['UP', 'WX', 'AL', 'OT'].includes(wallet)) throw new Error('wallet must be UP, WX, AL or OT');
        const snap = this.probe?.snapshot() as { data?: { qr?: { content?: unknown } } } | undefined;
        const content = snap?.data?.qr?.content;
        if (typeof content !== 'string' || !/^[\x21-\x7e]+$/.test(content)) throw new Error('the terminal shows no QR code to pay (QR payment, 2 show my code)');
        if (!this.options.hostLine) throw new Error('no acquirer simulator attached to this terminal process');
        this.options.hostLine(`pay ${content}${wallet ? ` ${wallet}` : ''}`);
        return { sent: true };
      },
    };
  }

  private async tap(key: KeyName): Promise<void> {
    await this.sim.typeKey(key, this.options.keyHoldMs ?? KEY_HOLD_MS);
  }

  private screen(): Reply {
    // The terminal's own account of what it drew: screen name and text rows (Chinese included).
    const shown = (this.probe?.snapshot() as { screen?: { name?: string; text?: string[] } } | null | undefined)?.screen;
    const meta = shown ? { name: shown.name, text: shown.text } : {};
    if (this.sim.oleds.size > 0) {
      const oled = this.sim.oled();
      return { kind: 'pixels', width: 128, height: 64, ascii: oled.toAscii(), ...meta };
    }
    return { kind: 'text', lines: this.sim.lcd().text(), ...meta };
  }

  private receiptPng(r: Request): Reply {
    // The path is checked first: a refused one is refused whatever has been printed.
    const file = r.path !== undefined ? this.receiptFile(r.path) : undefined;
    const receipts = this.sim.printer().receipts();
    const index = num(r.index) ?? receipts.length - 1;
    const receipt = receipts[index];
    if (!receipt) throw new Error(`no receipt ${index} (${receipts.length} printed)`);
    if (file !== undefined) {
      const png = this.sim.printer().png(receipt);
      writeNoFollow(file, png);
      return { path: file, bytes: png.length };
    }
    return { png: this.sim.printer().png(receipt).toString('base64') };
  }

  /**
   * Where `receipt-png {path}` may write: `path` is a plain file name (RECEIPT_NAME_PATTERN) in
   * the receipts folder; anything else (absolute, `..`, a folder, a symlink in the folder) is
   * refused before anything is written.
   */
  private receiptFile(path: unknown): string {
    const dir = this.options.receiptDir;
    if (!dir) throw new PosError('OPR_INPUT', 'receipt-png: this control interface writes no files; ask without "path" for the PNG as base64');
    if (typeof path !== 'string' || !RECEIPT_NAME_PATTERN.test(path)) {
      throw new PosError('OPR_INPUT', `receipt-png: path ${JSON.stringify(path)} refused: give a file name only (letters, digits, . _ -, ending .png, no folder, no ..); it is written in ${dir}`, { path: String(path) });
    }
    mkdirSync(dir, { recursive: true });
    const file = join(realpathSync(dir), path);
    let existing: ReturnType<typeof lstatSync> | undefined;
    try { existing = lstatSync(file); } catch { /* absent: written fresh */ }
    if (existing && !existing.isFile()) throw new PosError('OPR_INPUT', `receipt-png: ${path} in ${dir} is not a regular file (a link or folder): refused`, { path });
    return file;
  }

  private paper(state: string): Reply {
    const printer = this.sim.printer();
    if (state === 'out') printer.setPaperRemainingMm(0);
    else if (state === 'near-end') printer.setPaperRemainingMm(300);
    else if (state === 'loaded') printer.loadPaper();
    else throw new Error('paper state must be out, near-end or loaded');
    return {};
  }
}

function keyOf(v: unknown): KeyName {
  const k = String(v ?? '').toUpperCase();
  if (!(KEY_NAMES as readonly string[]).includes(k)) throw new Error(`unknown key "${String(v)}"; keys: ${KEY_NAMES.join(' ')}`);
  return k as KeyName;
}

/**
 * "1234OK" style: digits one by one, key names (OK, CANCEL... in either case) as runs of letters
 * or in brackets ("[OK][CANCEL]" for two names in a row; "[1]" too), spaces between tokens ignored. Anything
 * else is refused with where it is, before any key is pressed: `keys 12X4` must not type 124.
 */
export function keySequence(s: string): KeyName[] {
  const out: KeyName[] = [];
  const token = /\s+|\[([A-Za-z]+|[0-9])\]|([A-Za-z]{2,})|([0-9])/y;
  for (let at = 0; at < s.length; at = token.lastIndex) {
    token.lastIndex = at;
    const m = token.exec(s);
    if (!m) throw new Error(`keys: "${s.slice(at, at + 1)}" at position ${at + 1} of "${s}" is not a key; digits, key names (${KEY_NAMES.filter((k) => k.length > 1).join(' ')}), [NAME] for two names in a row`);
    const name = m[1] ?? m[2] ?? m[3];
    if (name !== undefined) out.push(keyOf(name));
  }
  return out;
}

function cardOf(name: unknown, kind: 'mag' | 'ic' | 'contactless'): never {
  const defaults = { mag: 'magDebit', ic: 'icDebit', contactless: 'contactless' } as const;
  const key = (typeof name === 'string' ? name : defaults[kind]) as keyof typeof TEST_CARDS;
  const card = TEST_CARDS[key];
  if (!card) throw new Error(`unknown test card "${String(name)}"; cards: ${Object.keys(TEST_CARDS).join(', ')}`);
  // Each reader method checks the card's kind itself; the union is narrowed there.
  return card as never;
}

const MODEM_SIM_ACTIONS = ['removed', 'inserted', 'pin', 'puk'] as const;
const MODEM_REGISTRATIONS: readonly ModemRegistration[] = ['home', 'roaming', 'searching', 'denied', 'not-registered'];

/** `modem`: the model's SIM, signal, registration and silence, as the request's fields say. */
function modemControl(sim: SimBoard, r: Request): Record<string, unknown> {
  const role = typeof r.role === 'string' ? r.role : 'modem0';
  if (!sim.modems.has(role)) throw new Error(`this board has no 4G modem ${role} (board file role modemN)`);
  const m = sim.modem(role);
  if (r.sim !== undefined) {
    if (!(MODEM_SIM_ACTIONS as readonly unknown[]).includes(r.sim)) throw new Error(`modem "sim" must be one of ${MODEM_SIM_ACTIONS.join(', ')}`);
    if (r.sim === 'removed') m.removeSim();
    else if (r.sim === 'inserted') m.insertSim();
    else if (r.sim === 'pin') m.lockPin();
    else m.lockPuk();
  }
  if (r.csq !== undefined) {
    if (typeof r.csq !== 'number' || !(Number.isInteger(r.csq) && ((r.csq >= 0 && r.csq <= 31) || r.csq === 99))) throw new Error('modem "csq" must be 0..31 or 99');
    m.setSignal(r.csq);
  }
  if (r.registration !== undefined) {
    if (!(MODEM_REGISTRATIONS as readonly unknown[]).includes(r.registration)) throw new Error(`modem "registration" must be one of ${MODEM_REGISTRATIONS.join(', ')}`);
    m.setRegistration(r.registration as ModemRegistration);
  }
  if (r.silent !== undefined) { if (r.silent === true) m.goSilent(); else m.wake(); }
  return { registration: m.registrationState, apn: m.apn, pinAttemptsLeft: m.pinAttemptsLeft };
}

/** `wifi`: the wpa_supplicant model's access points and service, as the request's fields say. */
function wifiControl(sim: SimBoard, r: Request): Record<string, unknown> {
  const role = typeof r.role === 'string' ? r.role : 'wifi0';
  if (!sim.wifis.has(role)) throw new Error(`this board has no simulated Wi-Fi ${role} (board file role wifiN, type wpa-supplicant)`);
  const w = sim.wifi(role);
  const ssid = typeof r.ssid === 'string' ? r.ssid : w.joinedSsid() ?? SIM_SHOP_SSID;
  const ap = w.accessPoint(ssid);
  if ((r.signalDbm !== undefined || r.inRange !== undefined) && !ap) throw new Error(`wifi: no access point "${ssid}" (the scan lists them)`);
  if (r.signalDbm !== undefined) {
    if (typeof r.signalDbm !== 'number' || !Number.isInteger(r.signalDbm) || r.signalDbm < -100 || r.signalDbm > -20) throw new Error('wifi "signalDbm" must be a whole number from -100 to -20');
    ap!.signalDbm = r.signalDbm;
  }
  if (r.inRange !== undefined) {
    if (typeof r.inRange !== 'boolean') throw new Error('wifi "inRange" must be true or false');
    w.setInRange(ssid, r.inRange);
  }
  if (r.running !== undefined) {
    if (typeof r.running !== 'boolean') throw new Error('wifi "running" must be true or false');
    w.running = r.running;
  }
  return { joined: w.joinedSsid() ?? null, running: w.running, accessPoints: w.accessPoints.map((a) => ({ ssid: a.ssid, signalDbm: a.signalDbm, security: a.security })) };
}

/** The code a `scan` request shows: `code` (printable ASCII), a demo `name`, or the default demo code. */
function scanCodeOf(r: Request): string {
  if (r.code !== undefined) {
    if (typeof r.code !== 'string') throw new Error('scan "code" must be a string (quote it: a long number loses digits as JSON)');
    if (!/^[\x20-\x7e]+$/.test(r.code) || r.code.length > SCAN_LINE_BYTES_MAX) throw new Error(`scan "code" must be 1..${SCAN_LINE_BYTES_MAX} printable ASCII characters`);
    return r.code;
  }
  const name = typeof r.name === 'string' ? r.name : DEMO_PAYMENT_CODE_DEFAULT;
  const code = DEMO_PAYMENT_CODES[name];
  if (code === undefined) throw new Error(`unknown demo code "${name}"; demo codes: ${Object.keys(DEMO_PAYMENT_CODES).join(', ')}`);
  return code;
}

/** Points one `sign` may carry (a pad sampled at 100 Hz takes 20 s for these). */
export const SIGN_POINTS_MAX = 2000;

function strokesOf(r: Request): ReadonlyArray<ReadonlyArray<readonly number[]>> {
  if (typeof r.name === 'string') {
    const named = TEST_SIGNATURES[r.name];
    if (!named) throw new Error(`unknown signature "${r.name}"; built in: ${Object.keys(TEST_SIGNATURES).join(', ')}`);
    return named;
  }
  const v = r.strokes;
  const point = (p: unknown): boolean => Array.isArray(p) && (p.length === 2 || p.length === 3) && p.every((n) => typeof n === 'number' && Number.isFinite(n));
  if (!Array.isArray(v) || v.length === 0 || !v.every((s) => Array.isArray(s) && s.length > 0 && s.every(point))) {
    throw new Error('sign needs "name" (a built-in signature) or "strokes": [[[x,y],...],...] (pad pixels; [x,y,pressure 0..1] for a lighter touch)');
  }
  const count = (v as unknown[][]).reduce((n, s) => n + s.length, 0);
  if (count > SIGN_POINTS_MAX) throw new Error(`${count} points: at most ${SIGN_POINTS_MAX}`);
  return v as number[][][];
}

const PRINTER_FAULTS: readonly PrinterFault[] = ['cutter', 'head-hot', 'unrecoverable'];

function printerFaultOf(v: unknown): PrinterFault | undefined {
  if (v === null || v === undefined || v === false) return undefined;
  if (!(PRINTER_FAULTS as readonly unknown[]).includes(v)) throw new Error(`printer fault must be one of ${PRINTER_FAULTS.join(', ')} or null`);
  return v as PrinterFault;
}

/** Writes `bytes` to `file`, refusing to follow a symlink put there between the check and the write. */
function writeNoFollow(file: string, bytes: Buffer): void {
  const fd = openSync(file, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC | fsc.O_NOFOLLOW, 0o644);
  try {
    writeSync(fd, bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function num(v: unknown): number | undefined { return typeof v === 'number' ? v : undefined; }

/** An optional yes/no field: absent stays undefined (the line keeps its level); anything else is refused as yesNo does. */
function optYesNo(r: Request, field: string): boolean | undefined {
  return r[field] === undefined ? undefined : yesNo(r, field, false);
}

/** `battery`'s percent: a whole number 0..100 (a number or its digits); anything else is refused, not ignored or clamped. */
function percentOf(r: Request): number | undefined {
  const v = r.percent;
  if (v === undefined) return undefined;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 100) throw new Error(`percent must be a whole number from 0 to 100; got ${JSON.stringify(v)}`);
  return n;
}

/**
 * A yes/no field: a boolean, true/false/yes/no/on/off, or the command's own words (`cover
 * closed`, `reset-button up`); absent: `absent`. Anything else is refused: a word taken as
 * truthy had `cover closed` open the cover.
 */
function yesNo(r: Request, field: string, absent: boolean, words: Readonly<Record<string, boolean>> = {}): boolean {
  const v = r[field];
  if (v === undefined) return absent;
  if (typeof v === 'boolean') return v;
  const all: Record<string, boolean> = { true: true, false: false, yes: true, no: false, on: true, off: false, ...words };
  const w = typeof v === 'string' ? all[v.toLowerCase()] : undefined;
  if (w === undefined) throw new Error(`${field} must be ${Object.keys(all).join(', ')}; got ${JSON.stringify(v)}`);
  return w;
}
