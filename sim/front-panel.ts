/**
 * The front panel: the simulator board in a terminal window. It talks to the terminal process
 * only through the control interface, as any script would: keyboard keys become keypad presses
 * and card presentations; the LCD, LEDs, battery and the paper roll are redrawn from what the
 * control interface reports. "Pull the battery" is the launcher's job (boot/start.ts): it kills
 * the terminal process and starts it again on the same storage.
 */
import { ControlClient } from './control-client';
import { PanelModel, renderPanel } from './front-panel-render';

export const REDRAW_MS = 100;
/** How long the panel shows "off" after a battery pull before "booting" (the battery back in). */
export const OFF_SHOWN_MS = 600;
const BATTERY_STEPS = [100, 60, 14, 4] as const;

/** Keyboard sequences (raw mode) to keypad keys. */
const KEYMAP: Record<string, string> = {
  '\r': 'OK', '\n': 'OK', '\x1b': 'CANCEL', '\x7f': 'BACK', '\b': 'BACK', '\x1b[3~': 'CLEAR', c: 'CLEAR',
  '\x1b[A': 'UP', '\x1b[B': 'DOWN', m: 'MENU', f: 'FUNC',
};

export interface PanelHost {
  /** Kill the terminal process and start it again (a battery pull). */
  pullBattery(holdReset: boolean): Promise<ControlClient>;
  quit(): void;
  readonly hostPort: number;
  readonly controlPort: () => number;
}

export class FrontPanel {
  private model: PanelModel;
  private timer: NodeJS.Timeout | undefined;
  private roll: PanelPaper = PAPER_EMPTY;
  /** What the person set with b / g (level, low line, charger), applied again after a battery pull. */
  private batterySet: { percent?: number; low?: boolean; charging?: boolean } = {};
  private holdReset = false;
  private busy = false;
  /**
   * Off from the battery pull until the new terminal process answers: the panel shows that at
   * once, and never the screen the killed process last answered.
   */
  private power: 'on' | 'off' | 'booting' = 'on';
  private bootingTimer: NodeJS.Timeout | undefined;

  constructor(private client: ControlClient, private readonly host: PanelHost, private readonly write: (s: string) => void) {
    this.model = {
      screen: undefined, state: 'starting', leds: {}, batteryPercent: undefined, charging: false, paper: 'loaded', coverOpen: false,
      paperLines: [], message: 'press q to quit', hostPort: host.hostPort, controlPort: host.controlPort(),
    };
  }

  start(): void {
    this.timer = setInterval(() => void this.refresh(), REDRAW_MS);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    clearTimeout(this.bootingTimer);
  }

  /**
   * A chunk from stdin in raw mode: a fast typist (or tmux send-keys) delivers several keys in one
   * chunk. They are split into keys and pressed one after another: two keypad keys down at once
   * would be a chord on the matrix, not two presses.
   */
  input(chunk: string): Promise<void> {
    for (const seq of splitKeys(chunk)) {
      // Quitting never waits behind a key in progress (a battery pull on a slow boot takes a while).
      if (seq === 'q' || seq === '\x03') { this.host.quit(); break; }
      this.queue = this.queue.then(() => this.key(seq)).catch(() => undefined);
    }
    return this.queue;
  }

  private queue: Promise<void> = Promise.resolve();

  /** One keyboard sequence from stdin in raw mode. */
  async key(seq: string): Promise<void> {
    if (seq === 'q' || seq === '\x03') { this.host.quit(); return; }
    if (/^[0-9]$/.test(seq) || KEYMAP[seq]) { await this.client.request('press', { key: KEYMAP[seq] ?? seq }); return; }
    const action = ACTIONS[seq];
    if (action) await action(this);
  }

  // ---- actions behind the letter keys

  async card(cmd: string, message: string): Promise<void> {
    const r = await this.client.request(cmd);
    this.say(r.ok ? message : `${cmd}: ${r.error}`);
  }

  /** The customer shows the demo QR payment code to the scan engine (decoded at the terminal's next scan). */
  async showPaymentCode(): Promise<void> {
    const r = await this.client.request('scan', {});
    this.say(!r.ok ? `scan: ${r.error}` : r.scanning === true ? 'payment code shown: scanned' : 'payment code held in front of the scanner: read at the next scan');
  }

  /** The customer signs the built-in signature on the pad (the terminal must be on its signature screen). */
  async sign(): Promise<void> {
    this.say('signing on the pad...');
    const r = await this.client.request('sign', { name: 'demo' });
    this.say(r.ok ? `signed (${String(r.strokes)} strokes): Enter confirms, Del/c clears, Esc = sign on paper` : `sign: ${r.error}`);
  }

  async paper(state: PanelModel['paper']): Promise<void> {
    await this.client.request('paper', { state });
    this.model = { ...this.model, paper: state };
  }

  async cover(): Promise<void> {
    await this.client.request('cover', { open: !this.model.coverOpen });
    this.model = { ...this.model, coverOpen: !this.model.coverOpen };
  }

  /** The next level down from what the gauge reads now (after 4 %: back to 100 %). */
  async battery(): Promise<void> {
    const now = this.model.batteryPercent ?? 100;
    const percent = BATTERY_STEPS.find((p) => p < Math.round(now)) ?? BATTERY_STEPS[0];
    this.batterySet = { ...this.batterySet, percent, low: percent <= 15 };
    this.showBattery(await this.client.request('battery', { percent, low: percent <= 15 }));
  }

  async charger(): Promise<void> {
    this.batterySet = { ...this.batterySet, charging: !this.model.charging };
    this.showBattery(await this.client.request('battery', { charging: !this.model.charging }));
  }

  /** The gauge's reading as the control interface answers it (the terminal's driver reads the same). */
  private showBattery(r: Record<string, unknown>): void {
    if (!r.ok) return;
    this.model = { ...this.model, batteryPercent: typeof r.percent === 'number' ? r.percent : undefined, charging: r.charging === true };
  }

  async pull(): Promise<void> {
    this.powerCut();
    this.client.close();
    this.client = await this.host.pullBattery(this.holdReset);
    // The same battery goes back in: the charge the person set survives the pull.
    if (Object.keys(this.batterySet).length > 0) this.showBattery(await this.client.request('battery', this.batterySet));
    this.holdReset = false;
    // A new process, a new printer counting from zero; what was half printed stays on the roll.
    this.roll = { cutLines: [...this.roll.cutLines, ...this.roll.printing].slice(-PAPER_LINES_KEPT), cutSeen: 0, printing: [] };
    this.model = { ...this.model, controlPort: this.host.controlPort() };
    this.powerBack();
  }

  toggleHoldReset(): void {
    this.holdReset = !this.holdReset;
    this.say(this.holdReset ? 'reset button will be held at the next boot (x to pull the battery)' : 'reset button released');
  }

  say(message: string): void {
    this.model = { ...this.model, message };
  }

  /** The battery is out: the LCD goes dark now; after OFF_SHOWN_MS the battery is back and it boots. */
  private powerCut(): void {
    this.power = 'off';
    this.say('battery pulled: terminal process killed, restarting on the same storage...');
    this.draw();
    clearTimeout(this.bootingTimer);
    this.bootingTimer = setTimeout(() => { if (this.power === 'off') { this.power = 'booting'; this.draw(); } }, OFF_SHOWN_MS);
  }

  private powerBack(): void {
    clearTimeout(this.bootingTimer);
    this.power = 'on';
    this.say('power back: the journal was verified on boot');
  }

  /** What the panel shows now: the terminal's answers while it is on, else off or booting. */
  shown(): PanelModel {
    if (this.power === 'on') return this.model;
    const off = this.power === 'off';
    return {
      ...this.model,
      screen: { kind: 'text', lines: ['', off ? '        (off: battery pulled)' : '        (booting...)', ''] },
      screenText: { name: off ? 'off' : 'booting', rows: [off ? 'battery pulled' : 'starting on the same storage'] },
      state: off ? 'off (battery pulled)' : 'booting',
      leds: {},
    };
  }

  private draw(): void {
    this.write('\x1b[H\x1b[2J' + renderPanel(this.shown()).join('\n') + '\n');
  }

  private async refresh(): Promise<void> {
    // While off or booting there is no terminal to ask; a reply still in flight from the killed
    // one is not drawn either (draw() shows the power state).
    if (this.power !== 'on') { this.draw(); return; }
    if (this.busy) return;
    this.busy = true;
    try {
      const [screen, state, leds, receipts, battery] = await Promise.all([
        this.client.request('screen'), this.client.request('state'), this.client.request('leds'), this.client.request('receipts'), this.client.request('battery'),
      ]);
      this.showBattery(battery);
      this.model = {
        ...this.model,
        screen: screen.ok ? (screen.kind === 'pixels' ? { kind: 'pixels', ascii: String(screen.ascii) } : { kind: 'text', lines: screen.lines as string[] }) : undefined,
        screenText: screen.ok && Array.isArray(screen.text) ? { name: String(screen.name), rows: screen.text as string[] } : undefined,
        state: state.ok ? describeState(state.state) : String(state.error),
        leds: leds.ok ? (leds.leds as Record<string, boolean>) : {},
        paperLines: this.newPaper(receipts),
      };
      this.draw();
    } finally {
      this.busy = false;
    }
  }

  private newPaper(answer: Record<string, unknown>): string[] {
    this.roll = nextPaper(this.roll, answer);
    return [...this.roll.cutLines, ...this.roll.printing];
  }
}

/** The paper roll as the panel draws it: cut receipts' lines, then the receipt still printing. */
export interface PanelPaper {
  /** Lines of receipts already cut (each followed by a tear line), the newest PAPER_LINES_KEPT. */
  readonly cutLines: readonly string[];
  /** Cut receipts taken into `cutLines`, counted from the first receipt this terminal cut. */
  readonly cutSeen: number;
  /** The receipt being printed now (no cut yet): drawn again from each answer as it grows. */
  readonly printing: readonly string[];
}

export const PAPER_EMPTY: PanelPaper = { cutLines: [], cutSeen: 0, printing: [] };
/** Lines of the roll the panel keeps (it shows the last few). */
export const PAPER_LINES_KEPT = 200;
const TEAR_LINE = '- - - - - - - - - - - - - - - -';

/**
 * The roll after a `receipts` answer: `receipts` lists the receipts the printer still holds (the
 * last one uncut while it prints), `shed` how many it tore off the front. A receipt read half
 * printed is drawn again as it grows, and new receipts still show after the printer sheds old
 * ones (counting by position in the list lost both: CI read a customer copy stopped at its date).
 */
export function nextPaper(prev: PanelPaper, answer: Record<string, unknown>): PanelPaper {
  const list = (answer.receipts as Array<{ lines: string[]; cut?: boolean }> | undefined) ?? [];
  const shed = typeof answer.shed === 'number' ? answer.shed : 0;
  const cut = list.filter((r) => r.cut !== false);
  const lines = [...prev.cutLines];
  let cutSeen = Math.max(prev.cutSeen, shed);
  for (; cutSeen < shed + cut.length; cutSeen++) lines.push(...cut[cutSeen - shed].lines, TEAR_LINE);
  const open = list.find((r) => r.cut === false);
  return { cutLines: lines.slice(-PAPER_LINES_KEPT), cutSeen, printing: open ? open.lines : [] };
}

const ACTIONS: Record<string, (p: FrontPanel) => Promise<void> | void> = {
  s: (p) => p.card('swipe', 'card swiped'),
  i: (p) => p.card('insert', 'chip card inserted'),
  t: (p) => p.card('tap', 'contactless card tapped'),
  r: (p) => p.card('remove', 'card removed'),
  p: (p) => p.paper(p['model'].paper === 'out' ? 'loaded' : 'out'),
  n: (p) => p.paper('near-end'),
  o: (p) => p.cover(),
  b: (p) => p.battery(),
  g: (p) => p.charger(),
  x: (p) => p.pull(),
  h: (p) => p.toggleHoldReset(),
  w: (p) => p.sign(),
  k: (p) => p.showPaymentCode(),
};

/** Escape sequences (arrows, Delete) stay whole; everything else is one character per key. */
export function splitKeys(chunk: string): string[] {
  return chunk.match(/\x1b\[[0-9;]*[A-Za-z~]|\x1b(?!\[)|[\s\S]/g) ?? [];
}

function describeState(state: unknown): string {
  if (state === null || state === undefined) return '(no terminal state)';
  if (typeof state === 'string') return state;
  const s = state as { value?: unknown; state?: unknown };
  return JSON.stringify(s.state ?? s.value ?? state).slice(0, 120);
}
