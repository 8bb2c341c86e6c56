/**
 * A Quectel-style 4G module (EC25 family) at the wire: it reads AT commands from its end of a
 * serial cable and answers them as hal/drivers/QUECTEL_AT.md describes (echo on until ATE0,
 * numeric +CME ERROR after AT+CMEE=1, registration URCs after AT+CREG=1 / AT+CEREG=1).
 *
 * Controls (tests, the control interface): remove or insert the SIM, lock it behind a PIN, set
 * the signal, the registration state (roaming, denied, ...), the operator; garble the next
 * answer, interleave a URC inside the next answer, go silent (hung firmware), power down.
 * The data path is not modelled (no PPP, no ATD): the OS brings it up on a real board.
 */
import type { SerialPort } from '../../hal/serial';
import type { AccessTech } from '../../hal/modem';

export type ModemRegistration = 'home' | 'roaming' | 'searching' | 'denied' | 'not-registered';
const STAT: Readonly<Record<ModemRegistration, number>> = { 'not-registered': 0, home: 1, searching: 2, denied: 3, roaming: 5 };

/** Bytes of one command line the module buffers (EC25: 4096 for the whole line; ours is smaller). */
export const MODEM_COMMAND_BYTES_MAX = 1024;
/** PIN attempts a SIM allows before PUK (3GPP: 3). */
export const SIM_PIN_ATTEMPTS = 3;
const PUK_ATTEMPTS = 10;

export type ModemGarble = 'noise' | 'overlong';

export interface QuectelModemModelOptions {
  readonly imei?: string;
  readonly firmware?: string;
  readonly model?: string;
  readonly iccid?: string;
  readonly operator?: string;
  /** APN of context 1 at power-on ("" none). */
  readonly apn?: string;
  /** Starting +CSQ rssi (0..31, 99). */
  readonly csq?: number;
  readonly tech?: AccessTech;
  /** Answer delay per command (ms); 0 is the next turn of the event loop. */
  readonly answerMs?: number;
  /** Start as a module that has just booted: echo on, sends RDY. Default true. */
  readonly echo?: boolean;
}

export interface ModemModelStats {
  commands: number;
  /** Command lines the module did not know (answered ERROR). */
  unknown: number;
  urcsSent: number;
}

export class QuectelModemModel {
  readonly stats: ModemModelStats = { commands: 0, unknown: 0, urcsSent: 0 };
  /** Every command line received, PIN included (the model is the SIM: it may see it). */
  readonly received: string[] = [];
  private command: number[] = [];
  private echo: boolean;
  private cmee = 1;
  private cregN = 0;
  private ceregN = 0;
  private simDetect = false;
  private simInserted = true;
  private pin: string | undefined;
  private pinUnlocked = true;
  private pinAttempts = SIM_PIN_ATTEMPTS;
  private reg: ModemRegistration = 'home';
  private csq: number;
  private tech: AccessTech;
  private operatorName: string;
  private readonly contexts = new Map<number, { type: string; apn: string }>();
  private silent = false;
  private poweredOff = false;
  private garble?: ModemGarble;
  private interleave = false;
  private readonly answerMs: number;
  private readonly imei: string;
  private readonly firmware: string;
  private readonly modelName: string;
  private readonly iccid: string;
  private pending: Promise<void> = Promise.resolve();

  constructor(private readonly port: SerialPort, options: QuectelModemModelOptions = {}) {
    this.imei = options.imei ?? '867698040123456';
    this.firmware = options.firmware ?? 'EC25EFAR06A06M4G';
    this.modelName = options.model ?? 'EC25';
    this.iccid = options.iccid ?? '89860012345678901234';
    this.operatorName = options.operator ?? 'CHINA MOBILE';
    this.csq = options.csq ?? 24;
    this.tech = options.tech ?? 'LTE';
    this.answerMs = options.answerMs ?? 0;
    this.echo = options.echo ?? true;
    this.contexts.set(1, { type: 'IP', apn: options.apn ?? 'cmnet' });
    port.onData((chunk) => this.receive(chunk));
  }

  // ------------------------------------------------------------ controls

  get registrationState(): ModemRegistration { return this.reg; }
  get apn(): string { return this.contexts.get(1)?.apn ?? ''; }
  get pinAttemptsLeft(): number { return this.pinAttempts; }

  /** The SIM is pulled out: +CPIN: NOT READY (and +QSIMSTAT: 1,0 with detection on), registration lost. */
  removeSim(): void {
    this.simInserted = false;
    this.urc('+CPIN: NOT READY');
    if (this.simDetect) this.urc('+QSIMSTAT: 1,0');
    this.setRegistration('not-registered');
  }

  /** A SIM goes in: locked if a PIN is set, else ready and registering at home. */
  insertSim(): void {
    this.simInserted = true;
    if (this.simDetect) this.urc('+QSIMSTAT: 1,1');
    this.pinUnlocked = this.pin === undefined;
    this.urc(this.pinUnlocked ? '+CPIN: READY' : this.pinAttempts > 0 ? '+CPIN: SIM PIN' : '+CPIN: SIM PUK');
    if (this.pinUnlocked) this.setRegistration('home');
  }

  /** The SIM asks for `pin` (as after a restart with its PIN lock on); not registered until entered. */
  lockPin(pin = '1234'): void {
    this.pin = pin;
    this.pinUnlocked = false;
    this.pinAttempts = SIM_PIN_ATTEMPTS;
    this.setRegistration('not-registered');
  }

  /** The PIN was tried too often: only a PUK helps. */
  lockPuk(): void {
    this.pin ??= '1234';
    this.pinUnlocked = false;
    this.pinAttempts = 0;
    this.setRegistration('not-registered');
  }

  /** +CSQ rssi 0..31 or 99 (unknown); 99 or under 2 also drops a home/roaming registration to searching. */
  setSignal(csq: number, tech: AccessTech = this.tech): void {
    if (!(Number.isInteger(csq) && ((csq >= 0 && csq <= 31) || csq === 99))) throw new RangeError('csq must be 0..31 or 99');
    this.csq = csq;
    this.tech = csq === 99 ? 'NOSERVICE' : tech;
    if ((csq === 99 || csq < 2) && (this.reg === 'home' || this.reg === 'roaming')) this.setRegistration('searching');
  }

  /** Registration as the network decides it; a change is reported by URC where enabled. */
  setRegistration(state: ModemRegistration): void {
    if (state === this.reg) return;
    this.reg = state;
    if (this.cregN > 0) this.urc(`+CREG: ${STAT[state]}`);
    if (this.ceregN > 0) this.urc(`+CEREG: ${STAT[state]}`);
  }

  setOperator(name: string): void { this.operatorName = name; }

  garbleNext(how: ModemGarble): void { this.garble = how; }

  /** The next answer gets a +CREG / +CEREG URC between its information line and its final code. */
  interleaveUrcNext(): void { this.interleave = true; }

  /** Hung firmware: reads, answers nothing. */
  goSilent(): void { this.silent = true; }
  wake(): void { this.silent = false; }

  /** AT+QPOWD or a brown-out: says POWERED DOWN and answers nothing until `powerOn`. */
  powerDown(): void {
    this.sendRaw('\r\nPOWERED DOWN\r\n');
    this.poweredOff = true;
  }

  /** Boots again: settings back to their defaults, RDY sent. */
  powerOn(): void {
    this.poweredOff = false;
    this.echo = true;
    this.cregN = 0;
    this.ceregN = 0;
    this.simDetect = false;
    this.pinUnlocked = this.pin === undefined;
    this.sendRaw('\r\nRDY\r\n');
  }

  // ------------------------------------------------------------ wire

  private receive(chunk: Buffer): void {
    if (this.poweredOff) return;
    for (const b of chunk) {
      if (b === 0x0a) continue;
      if (b === 0x0d) {
        const line = Buffer.from(this.command).toString('latin1');
        this.command = [];
        if (this.echo && !this.silent) this.sendRaw(`${line}\r`);
        if (line.trim() !== '') this.queueAnswer(line.trim());
        continue;
      }
      if (this.command.length < MODEM_COMMAND_BYTES_MAX) this.command.push(b);
    }
  }

  /** Answers in arrival order, each after `answerMs`. */
  private queueAnswer(line: string): void {
    this.received.push(line);
    this.pending = this.pending.then(() => new Promise<void>((resolve) => {
      const go = (): void => { this.answerNow(line); resolve(); };
      if (this.answerMs > 0) setTimeout(go, this.answerMs);
      else setImmediate(go);
    }));
  }

  private answerNow(line: string): void {
    if (this.silent || this.poweredOff) return;
    this.stats.commands++;
    const { info, final } = this.execute(line);
    let body = info.map((l) => `\r\n${l}\r\n`).join('');
    if (this.interleave) {
      this.interleave = false;
      body += `\r\n+CREG: ${STAT[this.reg]}\r\n`;
      this.stats.urcsSent++;
    }
    let bytes = Buffer.from(`${body}\r\n${final}\r\n`, 'latin1');
    const how = this.garble;
    this.garble = undefined;
    if (how === 'noise') bytes = Buffer.concat([Buffer.from('\r\n+CSQ: 2\x00\xff\x1b4,99\r\n', 'latin1'), bytes]);
    if (how === 'overlong') bytes = Buffer.concat([Buffer.from('\r\n'), Buffer.alloc(600, 0x41), bytes]);
    this.port.write(bytes).catch(() => undefined);
  }

  private error(cme: number): string {
    return this.cmee === 0 ? 'ERROR' : `+CME ERROR: ${cme}`;
  }

  /** The SIM's refusal for commands that need it, or undefined when it is ready. */
  private simRefusal(): string | undefined {
    if (!this.simInserted) return this.error(10);
    if (!this.pinUnlocked) return this.error(this.pinAttempts > 0 ? 11 : 12);
    return undefined;
  }

  private execute(line: string): { info: string[]; final: string } {
    const ok = (...info: string[]): { info: string[]; final: string } => ({ info, final: 'OK' });
    const fail = (final: string): { info: string[]; final: string } => ({ info: [], final });
    const upper = line.toUpperCase();
    let m: RegExpExecArray | null;
    if (upper === 'AT') return ok();
    if ((m = /^ATE([01])$/.exec(upper))) { this.echo = m[1] === '1'; return ok(); }
    if ((m = /^AT\+CMEE=([012])$/.exec(upper))) { this.cmee = Number(m[1]); return ok(); }
    if ((m = /^AT\+CREG=([012])$/.exec(upper))) { this.cregN = Number(m[1]); return ok(); }
    if ((m = /^AT\+CEREG=([012])$/.exec(upper))) { this.ceregN = Number(m[1]); return ok(); }
    if ((m = /^AT\+QSIMSTAT=([01])$/.exec(upper))) { this.simDetect = m[1] === '1'; return ok(); }
    if (upper === 'AT+CGSN' || upper === 'AT+GSN') return ok(this.imei);
    if (upper === 'AT+GMR') return ok(this.firmware);
    if (upper === 'AT+CGMM') return ok(this.modelName);
    if (upper === 'AT+CPIN?') {
      if (!this.simInserted) return fail(this.error(10));
      return ok(`+CPIN: ${this.pinUnlocked ? 'READY' : this.pinAttempts > 0 ? 'SIM PIN' : 'SIM PUK'}`);
    }
    if ((m = /^AT\+CPIN="?(\d{4,8})"?$/.exec(upper))) return this.enterPin(m[1]);
    if (upper === 'AT+QPINC="SC"' || upper === 'AT+QPINC?') {
      if (!this.simInserted) return fail(this.error(10));
      return ok(`+QPINC: "SC",${this.pinAttempts},${PUK_ATTEMPTS}`);
    }
    if (upper === 'AT+QCCID') return this.simRefusal() ? fail(this.simRefusal() as string) : ok(`+QCCID: ${this.iccid}`);
    if (upper === 'AT+CSQ') return ok(`+CSQ: ${this.csq},99`);
    if (upper === 'AT+QCSQ') return ok(this.qcsq());
    if (upper === 'AT+CREG?') return ok(`+CREG: ${this.cregN},${STAT[this.reg]}`);
    if (upper === 'AT+CEREG?') return ok(`+CEREG: ${this.ceregN},${STAT[this.reg]}`);
    if (upper === 'AT+COPS?') {
      return this.reg === 'home' || this.reg === 'roaming' ? ok(`+COPS: 0,0,"${this.operatorName}",${this.tech === 'LTE' ? 7 : 2}`) : ok('+COPS: 0');
    }
    if (upper === 'AT+CGDCONT?') return ok(...[...this.contexts].map(([cid, c]) => `+CGDCONT: ${cid},"${c.type}","${c.apn}","0.0.0.0",0,0,0,0`));
    if ((m = /^AT\+CGDCONT=(\d{1,2}),"(IP|IPV6|IPV4V6)","([^"]{0,63})"$/i.exec(line))) {
      this.contexts.set(Number(m[1]), { type: m[2].toUpperCase(), apn: m[3] });
      return ok();
    }
    this.stats.unknown++;
    return fail('ERROR');
  }

  private enterPin(pin: string): { info: string[]; final: string } {
    if (!this.simInserted) return { info: [], final: this.error(10) };
    if (this.pinUnlocked) return { info: [], final: 'OK' };
    if (this.pinAttempts === 0) return { info: [], final: this.error(12) };
    if (pin !== this.pin) {
      this.pinAttempts--;
      return { info: [], final: this.error(16) };
    }
    this.pinUnlocked = true;
    this.pinAttempts = SIM_PIN_ATTEMPTS;
    // Quectel reports the SIM ready after the OK, then registers.
    setImmediate(() => { this.urc('+CPIN: READY'); this.setRegistration(this.csq === 99 || this.csq < 2 ? 'searching' : 'home'); });
    return { info: [], final: 'OK' };
  }

  private qcsq(): string {
    if (this.tech === 'NOSERVICE' || this.csq === 99) return '+QCSQ: "NOSERVICE"';
    const rssi = -113 + 2 * this.csq;
    if (this.tech === 'LTE') return `+QCSQ: "LTE",${rssi},${rssi - 20},120,-10`;
    return `+QCSQ: "${this.tech}",${rssi}`;
  }

  private urc(text: string): void {
    this.stats.urcsSent++;
    this.sendRaw(`\r\n${text}\r\n`);
  }

  private sendRaw(text: string): void {
    if (this.silent || this.poweredOff || !this.port.isOpen) return;
    this.port.write(Buffer.from(text, 'latin1')).catch(() => undefined);
  }
}
