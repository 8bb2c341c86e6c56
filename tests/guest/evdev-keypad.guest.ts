/**
 * Runs INSIDE the quick guest (tests/guest/evdev-keypad.test.ts boots it): a real input device
 * made through the kernel's uinput (scripts/guest/uinput-keys.c, the helper), read by the evdev
 * keypad driver (hal/drivers/evdev-keypad.ts) from /dev/input/eventN found by its name. Reports
 * what the driver saw as one JSON line on stdout; the host test asserts on it. The process ends by
 * itself: a handle the driver left open would keep it alive until the host's job limit.
 * Environment: UINPUT_KEYS (the helper), POS_GPIO_V2_ADDON.
 */
import { ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as readline from 'node:readline';
import { EvdevKeypad } from '../../hal/drivers/evdev-keypad';
import { findInputDevice, openInputDevice } from '../../hal/input-linux';
import { DEFAULT_EVDEV_KEYMAP, LINUX_KEY_CODES, keymapCodes } from '../../hal/input-keycodes';
import { PosError } from '../../common/errors';
import { KeyEvent } from '../../hal/keypad';
import { sleep, waitUntil as waitFor } from './guest-wait';

const NAME = 'pos-test-keypad';
/** Longest the guest waits for a key or an answer (TCG is slow; the host's job limit is the backstop). */
const WAIT_MS_MAX = 15_000;
/** The event loop is blocked this long around the short press (the idle memory reclaim pauses tens of ms). */
const BLOCK_MS = 100;
/** Presses flooded while the loop is blocked: 4 events each, far past evdev's 64-event queue. */
const FLOOD_PRESSES = 200;
/** Between the driver's tries to open the destroyed device again (the board's default is 2 s). */
const REOPEN_INTERVAL_MS = 300;
const K = LINUX_KEY_CODES;

const waitUntil = (what: string, done: () => boolean): Promise<void> => waitFor(what, done, WAIT_MS_MAX);

/**
 * Blocks the event loop (no callback runs) for at least `ms`, and until `until()` if given
 * (bounded). `first` runs once the block's start is taken: a command posted there cannot act
 * before the block begins, even when the guest's one vCPU runs the helper between the post and
 * the start (a CI run under load saw the press 3.7 ms before a start taken after the post).
 */
function blockLoop(ms: number, until: () => boolean = () => true, first: () => void = () => undefined): { startMs: number; endMs: number } {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  const startMs = performance.now();
  first();
  while (performance.now() - startMs < ms || (!until() && performance.now() - startMs < WAIT_MS_MAX)) Atomics.wait(cell, 0, 0, 1);
  return { startMs, endMs: performance.now() };
}

class Helper {
  private readonly answers: string[] = [];
  private readonly proc: ChildProcess;
  /** Commands written so far (each gets one answer, in order). */
  private sent = 0;
  constructor(path: string) {
    this.proc = spawn(path, [NAME], { stdio: ['pipe', 'pipe', 'inherit'] });
    readline.createInterface({ input: this.proc.stdout! }).on('line', (l) => this.answers.push(l));
  }
  /** Writes commands without waiting for them (the loop is about to be blocked). */
  post(...commands: string[]): void {
    this.sent += commands.length;
    this.proc.stdin!.write(commands.map((c) => `${c}\n`).join(''));
  }
  /** Writes commands; resolves once every command written so far has been answered "ok". */
  async send(...commands: string[]): Promise<void> {
    this.post(...commands);
    await waitUntil(`helper answers to ${commands.join('; ')}`, () => this.answers.length >= this.sent);
    const bad = this.answers.filter((a) => a !== 'ok');
    if (bad.length > 0) throw new Error(`helper: ${bad.join('; ')}`);
  }
  async ready(): Promise<void> {
    await waitUntil('helper ready', () => this.answers.includes('ready'));
    this.answers.splice(0, this.answers.indexOf('ready') + 1);
  }
  async exited(): Promise<void> { if (this.proc.exitCode === null) await new Promise((r) => this.proc.once('exit', r)); }
}

function watch(keypad: EvdevKeypad): { events: string[]; at: KeyEvent[]; arrivedMs: number[]; faults: PosError[] } {
  const r = { events: [] as string[], at: [] as KeyEvent[], arrivedMs: [] as number[], faults: [] as PosError[] };
  keypad.onKey((e) => { r.events.push(`${e.type}:${e.key}`); r.at.push(e); r.arrivedMs.push(performance.now()); });
  keypad.onFault((f) => r.faults.push(f));
  return r;
}

const newKeypad = (path: string, grab = true): EvdevKeypad => new EvdevKeypad(openInputDevice('keypad0', path), { name: 'keypad0', keymap: keymapCodes(DEFAULT_EVDEV_KEYMAP), grab });

async function main(): Promise<void> {
  const report: Record<string, unknown> = {};
  const helper = new Helper(process.env.UINPUT_KEYS ?? '');
  await helper.ready();
  const path = findInputDevice('keypad0', NAME);
  report.found = path;

  // A key held before the driver starts: stuck at boot (EVIOCGKEY), its release not reported.
  await helper.send(`down ${K.KEY_ENTER}`);
  const kp = newKeypad(path);
  const seen = watch(kp);
  await kp.start();
  report.atBoot = { faults: seen.faults.map((f) => `${f.code} ${JSON.stringify(f.detail)}`), stuck: kp.stuck() };
  // A second reader while the first holds the grab.
  const second = newKeypad(path);
  report.secondGrab = await second.start().then(() => 'started', (e: Error) => e.message);
  await second.close();
  await helper.send(`up ${K.KEY_ENTER}`);
  await waitUntil('the boot key released', () => kp.diagnostics().keyEvents >= 1);
  report.afterBootRelease = { events: [...seen.events], stuck: kp.stuck(), monotonic: openedMonotonic(path) };

  // Plain presses through the default map.
  await helper.send(`tap ${K.KEY_2} 20000 0`, `tap ${K.KEY_KPENTER} 20000 0`, `tap ${K.KEY_ESC} 20000 0`);
  await waitUntil('six events', () => seen.events.length >= 6);
  report.plain = seen.events.splice(0);
  seen.at.splice(0);
  seen.arrivedMs.splice(0);

  // A press of 5 ms while the event loop is blocked for 100 ms: the kernel keeps both events and their times.
  const marker = `/tmp/evdev-tap-${process.pid}`;
  const blocked = blockLoop(BLOCK_MS, () => fs.existsSync(marker), () => helper.post(`tap ${K.KEY_5} 5000 20000`, `mark ${marker}`));
  await waitUntil('the short press', () => seen.events.length >= 2);
  report.shortPress = {
    events: seen.events.splice(0),
    heldMs: seen.at[1].timeMs - seen.at[0].timeMs,
    downInBlockMs: seen.at[0].timeMs - blocked.startMs,
    upInBlockMs: seen.at[1].timeMs - blocked.startMs,
    blockedMs: blocked.endMs - blocked.startMs,
    deliveredAfterBlock: seen.arrivedMs.every((t) => t >= blocked.endMs),
  };
  seen.at.splice(0);
  await helper.send(); // the tap's and the mark's answers

  // Overflow the reader's queue while blocked, then hold 9: SYN_DROPPED, and EVIOCGKEY says 9 is down.
  const marker2 = `${marker}-flood`;
  helper.post(`flood ${K.KEY_1} ${FLOOD_PRESSES}`, `down ${K.KEY_9}`, `mark ${marker2}`);
  blockLoop(BLOCK_MS, () => fs.existsSync(marker2));
  await waitUntil('9 held after the flood', () => kp.pressed().includes('9'));
  await helper.send();
  const d = kp.diagnostics();
  report.flood = { dropped: d.dropped, resyncsFromKernel: d.resyncsFromKernel, onesSeen: seen.events.filter((e) => e === 'down:1').length, pressed: kp.pressed(), nineDown: seen.events.includes('down:9') };
  await helper.send(`up ${K.KEY_9}`);
  await waitUntil('9 released', () => seen.events.includes('up:9'));
  report.afterFlood = { pressed: kp.pressed() };

  // close() with nothing to read: at once.
  const t0 = performance.now();
  await kp.close();
  report.closeMs = performance.now() - t0;

  report.threadpool = await threadpoolHeld(path, helper);

  // The device destroyed under a reader: ENODEV, E-BRD-04. The reader opens it again by its name,
  // as the board does (hal/board.ts), once a device of that name is back (a reseated keypad).
  const last = new EvdevKeypad(openInputDevice('keypad0', path), {
    name: 'keypad0', keymap: keymapCodes(DEFAULT_EVDEV_KEYMAP), reopenIntervalMs: REOPEN_INTERVAL_MS,
    reopen: async () => openInputDevice('keypad0', findInputDevice('keypad0', NAME)),
  });
  const lastSeen = watch(last);
  await last.start();
  await helper.send(`down ${K.KEY_3}`);
  await waitUntil('3 down', () => lastSeen.events.length >= 1);
  await helper.send('quit');
  await waitUntil('the gone fault', () => lastSeen.faults.length >= 1);
  report.gone = { faults: lastSeen.faults.map((f) => f.message), events: [...lastSeen.events], pressed: last.pressed() };
  await helper.exited();
  // Not back for a few tries, then a new device of the same name (uinput may give it another eventN).
  await sleep(3 * REOPEN_INTERVAL_MS);
  const back = new Helper(process.env.UINPUT_KEYS ?? '');
  await back.ready();
  await waitUntil('the device opened again', () => last.diagnostics().reopened === 1);
  await back.send(`tap ${K.KEY_8} 20000 0`);
  await waitUntil('a key from the device back', () => lastSeen.events.length >= 4);
  report.back = { events: lastSeen.events.slice(2), faults: lastSeen.faults.length, path: findInputDevice('keypad0', NAME), reopened: last.diagnostics().reopened };
  await last.close();
  await back.send('quit');
  await back.exited();
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

/** Whether EVIOCSCLOCKID took on the real device (a second open, closed at once). */
function openedMonotonic(path: string): boolean {
  const d = openInputDevice('probe', path);
  const m = d.monotonic;
  d.close();
  return m;
}

/**
 * What fs.createReadStream would do on the device: with one threadpool thread (UV_THREADPOOL_SIZE=1),
 * an fs.stat started while the stream waits for a key finishes only after a key, and so does the
 * stream's close. In a child process, so the pool size is its own.
 */
async function threadpoolHeld(path: string, helper: Helper): Promise<Record<string, unknown>> {
  const script = `
    const fs = require('fs');
    const s = fs.createReadStream(${JSON.stringify(path)});
    s.on('data', () => {});
    s.on('error', (e) => console.log(JSON.stringify({ error: e.message })));
    setTimeout(() => {
      const t = performance.now();
      console.log(JSON.stringify({ waiting: true }));
      fs.stat('/', () => console.log(JSON.stringify({ statMs: performance.now() - t })));
      s.on('close', () => console.log(JSON.stringify({ closeMs: performance.now() - t })));
      s.destroy();
    }, 500);`;
  const child = spawn(process.execPath, ['-e', script], { env: { ...process.env, UV_THREADPOOL_SIZE: '1' }, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: Record<string, number | boolean | string>[] = [];
  readline.createInterface({ input: child.stdout! }).on('line', (l) => lines.push(JSON.parse(l) as Record<string, number>));
  await waitUntil('the child waiting', () => lines.some((l) => l.waiting === true));
  const QUIET_MS = 1000;
  await sleep(QUIET_MS);
  const beforeKey = lines.filter((l) => l.statMs !== undefined || l.closeMs !== undefined).length;
  await helper.send(`tap ${K.KEY_4} 1000 0`);
  await waitUntil('the child to finish', () => child.exitCode !== null && lines.some((l) => l.closeMs !== undefined));
  const get = (k: string): unknown => lines.find((l) => l[k] !== undefined)?.[k];
  return { quietMs: QUIET_MS, doneBeforeKey: beforeKey, statMs: get('statMs'), closeMs: get('closeMs'), error: get('error') };
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
