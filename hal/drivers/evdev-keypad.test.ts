/**
 * The evdev keypad driver over the real Linux backend (hal/input-linux.ts, the addon's poll and
 * reads), with a FIFO standing for the input event device: this machine has no /dev/uinput and
 * loads no modules, so no real /dev/input/eventN can be made here. The bytes are struct
 * input_event records as the kernel writes them; a FIFO also lets a test split them, garble them
 * and close its end (the device gone), which a real device does not all do. What only a kernel
 * gives (EVIOCGKEY, EVIOCGRAB, SYN_DROPPED from an overflowing queue, ENODEV, event times) is in
 * the guest test, tests/guest/evdev-keypad.test.ts; EVIOCGKEY's use is also checked here through
 * a device whose key bitmap the test sets.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pino from 'pino';
import { PosError } from '../../common/errors';
import { InputDevice } from '../input';
import { findInputDevice, openInputDevice } from '../input-linux';
import { DEFAULT_EVDEV_KEYMAP, LINUX_KEY_CODES, keymapCodes } from '../input-keycodes';
import { KeyEvent } from '../keypad';
import { Timers } from './timing';
import { EvdevKeypad, EvdevKeypadOptions, InputEventSize, REOPEN_TRIES_MAX, decodeInputEvent, encodeInputEvent, recordSizeForArch } from './evdev-keypad';

const EV_SYN = 0, EV_KEY = 1, EV_MSC = 4, SYN_REPORT = 0, SYN_DROPPED = 3;
const code = (name: string): number => {
  const c = LINUX_KEY_CODES[name];
  if (c === undefined) throw new Error(`no ${name}`);
  return c;
};
/** How long a test waits for the driver to have read what it wrote (a condition, checked often). */
const WAIT_MS_MAX = 5000;

async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS_MAX;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Timers the test moves by hand: 'long' and stuck without waiting seconds. */
class ManualTimers implements Timers {
  private nowMs = 1000;
  private seq = 0;
  private readonly due = new Map<number, { atMs: number; fn: () => void }>();
  setTimeout(fn: () => void, ms: number): unknown {
    this.seq += 1;
    this.due.set(this.seq, { atMs: this.nowMs + ms, fn });
    return this.seq;
  }
  clearTimeout(handle: unknown): void { this.due.delete(handle as number); }
  now(): number { return this.nowMs; }
  advance(ms: number): void {
    this.nowMs += ms;
    for (const [id, t] of [...this.due].sort((a, b) => a[1].atMs - b[1].atMs)) {
      if (t.atMs > this.nowMs || !this.due.has(id)) continue;
      this.due.delete(id);
      t.fn();
    }
  }
}

interface Rig {
  keypad: EvdevKeypad;
  device: InputDevice;
  events: string[];
  times: number[];
  faults: PosError[];
  logs: Array<{ msg: string; level: number }>;
  write(records: Array<[number, number, number]>, size?: InputEventSize): Buffer;
  writeRaw(bytes: Buffer): void;
  closeWriter(): void;
  dispose(): Promise<void>;
}

const dirs: string[] = [];
after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

function fifo(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'evdev-keypad-'));
  dirs.push(dir);
  const p = path.join(dir, 'event0');
  execFileSync('mkfifo', [p]);
  return p;
}

async function rig(options: Partial<EvdevKeypadOptions> = {}, wrap: (d: InputDevice) => InputDevice = (d) => d): Promise<Rig> {
  const p = fifo();
  const device = wrap(openInputDevice('keypad0', p)); // the reader first: the writer's open then does not block
  const writer = fs.openSync(p, 'w');
  let writerOpen = true;
  const logs: Rig['logs'] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => { logs.push(JSON.parse(s) as { msg: string; level: number }); } });
  const keypad = new EvdevKeypad(device, { name: 'keypad0', keymap: keymapCodes(DEFAULT_EVDEV_KEYMAP), logger, ...options });
  const events: string[] = [];
  const times: number[] = [];
  const faults: PosError[] = [];
  keypad.onKey((e: KeyEvent) => { events.push(`${e.type}:${e.key}`); times.push(e.timeMs); });
  keypad.onFault((f) => faults.push(f));
  try {
    await keypad.start();
  } catch (e) {
    await keypad.close();
    fs.closeSync(writer);
    throw e;
  }
  const size = options.recordSizeBytes ?? recordSizeForArch(process.arch);
  return {
    keypad, device, events, times, faults, logs,
    write(records, recordSize = size) {
      const buf = Buffer.concat(records.map(([type, c, value]) => encodeInputEvent({ sec: 12, usec: 345, type, code: c, value }, recordSize)));
      fs.writeSync(writer, buf);
      return buf;
    },
    writeRaw(bytes) { fs.writeSync(writer, bytes); },
    closeWriter() { if (writerOpen) fs.closeSync(writer); writerOpen = false; },
    async dispose() { await keypad.close(); if (writerOpen) fs.closeSync(writer); writerOpen = false; },
  };
}

const press = (name: string): Array<[number, number, number]> => [[EV_KEY, code(name), 1], [EV_SYN, SYN_REPORT, 0]];
const release = (name: string): Array<[number, number, number]> => [[EV_KEY, code(name), 0], [EV_SYN, SYN_REPORT, 0]];

describe('evdev keypad (hal/drivers/evdev-keypad.ts) on a FIFO standing for /dev/input/eventN', function () {
  this.timeout(20_000);

  it('decodes both record layouts: 24 bytes for a 64-bit process, 16 for 32-bit ARM', () => {
    assert.equal(recordSizeForArch('arm'), 16);
    assert.equal(recordSizeForArch('ia32'), 16);
    assert.equal(recordSizeForArch('arm64'), 24);
    assert.equal(recordSizeForArch('x64'), 24);
    for (const size of [16, 24] as const) {
      const e = { sec: 1_700_000_000, usec: 999_999, type: EV_KEY, code: 0x163, value: -1 };
      const buf = encodeInputEvent(e, size, true);
      assert.equal(buf.length, size);
      assert.deepEqual(decodeInputEvent(buf, 0, size, true), e);
      // The fields where the kernel puts them: type at 8/16, code after it, value last.
      assert.equal(buf.readUInt16LE(size - 8), EV_KEY);
      assert.equal(buf.readUInt16LE(size - 6), 0x163);
      assert.deepEqual(decodeInputEvent(encodeInputEvent(e, size, false), 0, size, false), e);
    }
  });

  it('reports down and up through the default POS keymap (main row, keypad and OK codes)', async () => {
    const r = await rig();
    try {
      r.write([...press('KEY_1'), ...release('KEY_1'), ...press('KEY_KPENTER'), ...release('KEY_KPENTER'), ...press('KEY_KP7')]);
      await until(() => r.events.length === 5, 'five events');
      assert.deepEqual(r.events, ['down:1', 'up:1', 'down:OK', 'up:OK', 'down:7']);
      assert.deepEqual(r.keypad.pressed(), ['7']);
      // A FIFO cannot set the event clock: each event is timed when read, in performance.now().
      assert.equal(r.device.monotonic, false);
      for (const t of r.times) assert.ok(t > 0 && t <= performance.now());
      assert.equal(r.keypad.diagnostics().keyEvents, 5);
    } finally {
      await r.dispose();
    }
  });

  it('reads the 16-byte records of a 32-bit process when told to', async () => {
    const r = await rig({ recordSizeBytes: 16 });
    try {
      r.write([...press('KEY_9'), ...release('KEY_9'), ...press('KEY_BACKSPACE'), ...release('KEY_BACKSPACE')], 16);
      await until(() => r.events.length === 4, 'four events');
      assert.deepEqual(r.events, ['down:9', 'up:9', 'down:BACK', 'up:BACK']);
      assert.equal(r.keypad.diagnostics().garbled, 0);
    } finally {
      await r.dispose();
    }
  });

  it('keeps a record split across reads until its end comes (short reads)', async () => {
    const r = await rig();
    try {
      const bytes = Buffer.concat(([...press('KEY_5'), ...release('KEY_5')]).map(([t, c, v]) => encodeInputEvent({ sec: 1, usec: 2, type: t, code: c, value: v }, 24)));
      // 7 bytes, then the rest of the first record and 5 of the next, then the rest: three reads.
      r.writeRaw(bytes.subarray(0, 7));
      await until(() => r.keypad.diagnostics().splitReads === 1, 'the first short read');
      assert.deepEqual(r.events, []);
      r.writeRaw(bytes.subarray(7, 29));
      await until(() => r.events.length === 1, 'down after the second read');
      r.writeRaw(bytes.subarray(29));
      await until(() => r.events.length === 2, 'up');
      assert.deepEqual(r.events, ['down:5', 'up:5']);
      assert.ok(r.keypad.diagnostics().splitReads >= 2);
      assert.equal(r.keypad.diagnostics().garbled, 0);
    } finally {
      await r.dispose();
    }
  });

  it('counts and logs garbled records without throwing, and goes on with the next valid ones', async () => {
    const r = await rig();
    try {
      r.write([[0x40, 1, 1], [EV_KEY, code('KEY_3'), 7], [EV_KEY, code('KEY_3'), -1], ...press('KEY_2'), ...release('KEY_2')]);
      await until(() => r.events.length === 2, 'the valid key after the garbage');
      assert.deepEqual(r.events, ['down:2', 'up:2']);
      assert.equal(r.keypad.diagnostics().garbled, 3);
      assert.equal(r.logs.filter((l) => /not an input event/.test(l.msg)).length, 3);
      assert.deepEqual(r.faults, []);
    } finally {
      await r.dispose();
    }
  });

  it('ignores codes not in the keymap (logged once per code), scan codes and autorepeat', async () => {
    const r = await rig();
    try {
      r.write([[EV_MSC, 4, 0x70028], ...press('KEY_TAB'), ...release('KEY_TAB'), ...press('KEY_TAB'), ...press('KEY_4'), [EV_KEY, code('KEY_4'), 2], [EV_KEY, code('KEY_4'), 2], ...release('KEY_4')]);
      await until(() => r.events.length === 2, 'the mapped key');
      assert.deepEqual(r.events, ['down:4', 'up:4']);
      const d = r.keypad.diagnostics();
      assert.equal(d.unknownCodes, 3);
      assert.equal(d.repeats, 2);
      assert.equal(r.logs.filter((l) => /not in the keymap/.test(l.msg)).length, 1);
    } finally {
      await r.dispose();
    }
  });

  it('reports one key for two codes mapped to it: down at the first, up at the last', async () => {
    const r = await rig();
    try {
      r.write([...press('KEY_ENTER'), ...press('KEY_OK'), ...release('KEY_ENTER')]);
      await until(() => r.keypad.diagnostics().keyEvents === 3, 'three key events');
      assert.deepEqual(r.events, ['down:OK']);
      r.write(release('KEY_OK'));
      await until(() => r.events.length === 2, 'up');
      assert.deepEqual(r.events, ['down:OK', 'up:OK']);
    } finally {
      await r.dispose();
    }
  });

  it('SYN_DROPPED on a device that cannot say its keys: drops to the next SYN_REPORT, releases every key, warns', async () => {
    const r = await rig();
    try {
      r.write([...press('KEY_5'), [EV_SYN, SYN_DROPPED, 0], [EV_KEY, code('KEY_7'), 1], [EV_SYN, SYN_REPORT, 0], ...press('KEY_8')]);
      await until(() => r.events.length === 3, 'three events');
      assert.deepEqual(r.events, ['down:5', 'up:5', 'down:8']);
      assert.equal(r.keypad.diagnostics().dropped, 1);
      assert.equal(r.keypad.diagnostics().resyncsFromKernel, 0);
      assert.ok(r.logs.some((l) => /SYN_DROPPED.*every key released/.test(l.msg)), JSON.stringify(r.logs));
    } finally {
      await r.dispose();
    }
  });

  it('SYN_DROPPED with EVIOCGKEY: keys the kernel holds come down, keys it released go up', async () => {
    let bits: Buffer | undefined;
    const withKeys = (d: InputDevice): InputDevice => Object.assign(Object.create(d) as InputDevice, { keys: () => bits, grab: () => 'grabbed' as const });
    const r = await rig({}, withKeys);
    try {
      r.write([...press('KEY_5'), ...press('KEY_6')]);
      await until(() => r.events.length === 2, 'two downs');
      bits = Buffer.alloc(96);
      for (const c of [code('KEY_6'), code('KEY_9')]) bits[c >> 3] |= 1 << (c & 7);
      r.write([[EV_SYN, SYN_DROPPED, 0], [EV_KEY, code('KEY_5'), 0], [EV_SYN, SYN_REPORT, 0]]);
      await until(() => r.events.length === 4, 'the resync');
      assert.deepEqual(r.events, ['down:5', 'down:6', 'up:5', 'down:9']);
      assert.deepEqual(r.keypad.pressed().sort(), ['6', '9']);
      assert.equal(r.keypad.diagnostics().resyncsFromKernel, 1);
    } finally {
      await r.dispose();
    }
  });

  it('a key the kernel holds at start is stuck at boot (KBD_STUCK), and its release is not reported', async () => {
    const bits = Buffer.alloc(96);
    bits[code('KEY_ENTER') >> 3] |= 1 << (code('KEY_ENTER') & 7);
    const r = await rig({}, (d) => Object.assign(Object.create(d) as InputDevice, { keys: () => bits, grab: () => 'grabbed' as const }));
    try {
      assert.equal(r.faults.length, 1);
      assert.equal(r.faults[0].code, 'E-KBD-01');
      assert.deepEqual(r.faults[0].detail, { key: 'OK', atBoot: true, heldMs: 0 });
      assert.deepEqual(r.keypad.stuck(), ['OK']);
      const released: string[] = [];
      r.keypad.onStuckReleased((key) => released.push(key));
      r.write([...release('KEY_ENTER'), ...press('KEY_ENTER')]);
      await until(() => r.events.length === 1, 'the next press');
      assert.deepEqual(r.events, ['down:OK']);
      assert.deepEqual(r.keypad.stuck(), []);
      assert.deepEqual(released, ['OK'], 'its release ends the stuck report');
    } finally {
      await r.dispose();
    }
  });

  it('long press and stuck key are timed from the down by the driver\'s timers', async () => {
    const timers = new ManualTimers();
    const r = await rig({ timers, longPressMs: 1000, stuckMs: 5000 });
    try {
      r.write(press('KEY_0'));
      await until(() => r.events.length === 1, 'down');
      timers.advance(999);
      assert.deepEqual(r.events, ['down:0']);
      timers.advance(1);
      assert.deepEqual(r.events, ['down:0', 'long:0']);
      timers.advance(4000);
      assert.equal(r.faults.length, 1);
      assert.equal(r.faults[0].code, 'E-KBD-01');
      assert.equal(r.faults[0].detail.atBoot, false);
      assert.deepEqual(r.keypad.stuck(), ['0']);
      const released: string[] = [];
      r.keypad.onStuckReleased((key) => released.push(`${key} after ${r.events.length} events`));
      r.write(release('KEY_0'));
      await until(() => r.events.length === 3, 'up');
      assert.deepEqual(r.events, ['down:0', 'long:0', 'up:0']);
      assert.deepEqual(r.keypad.stuck(), []);
      assert.deepEqual(released, ['0 after 3 events'], 'the report ends once, after the up');
      // A short press arms and disarms its timers: nothing fires later.
      r.write([...press('KEY_1'), ...release('KEY_1')]);
      await until(() => r.events.length === 5, 'short press');
      timers.advance(10_000);
      assert.deepEqual(r.events.slice(3), ['down:1', 'up:1']);
      assert.equal(r.faults.length, 1);
    } finally {
      await r.dispose();
    }
  });

  it('the device gone (its end closed): E-BRD-04 naming role and path, held keys released, nothing after', async () => {
    const r = await rig();
    try {
      r.write(press('KEY_3'));
      await until(() => r.events.length === 1, 'down');
      r.closeWriter();
      await until(() => r.faults.length === 1, 'the fault');
      assert.equal(r.faults[0].code, 'E-BRD-04');
      assert.equal(r.faults[0].kind, 'device-absent');
      assert.match(r.faults[0].message, /^E-BRD-04 keypad0: \/.*event0 gone \(its end closed \(EOF\)\)/);
      assert.deepEqual(r.events, ['down:3', 'up:3']);
      assert.deepEqual(r.keypad.pressed(), []);
    } finally {
      await r.dispose();
    }
  });

  it('a device gone and back (reseated, rebound) is opened again and read: keys work, E-BRD-04 said it was waiting', async () => {
    const timers = new ManualTimers();
    let fifoPath = '';
    let writer2: number | undefined;
    let tries = 0;
    const reopen = async (): Promise<InputDevice> => {
      tries += 1;
      if (tries === 1) throw new PosError('BRD_DEVICE_ABSENT', 'keypad0: no input device named "keypad" (found: none)');
      const d = openInputDevice('keypad0', fifoPath); // the reader first, then the writer does not block
      writer2 = fs.openSync(fifoPath, 'w');
      return d;
    };
    const r = await rig({ timers, reopen, reopenIntervalMs: 500 });
    fifoPath = r.device.path;
    try {
      r.write(press('KEY_3'));
      await until(() => r.events.length === 1, 'down');
      r.closeWriter();
      await until(() => r.faults.length === 1, 'the fault');
      assert.match(r.faults[0].message, /^E-BRD-04 keypad0: \/.*event0 gone \(its end closed \(EOF\)\); waiting for it to come back/);
      assert.deepEqual(r.events, ['down:3', 'up:3'], 'the held key released when the device went');
      timers.advance(499);
      assert.equal(tries, 0, 'not before the interval');
      timers.advance(1);
      await until(() => tries === 1, 'the first try (the device not back yet)');
      timers.advance(500);
      await until(() => r.keypad.diagnostics().reopened === 1, 'the device opened again');
      assert.equal(r.keypad.diagnostics().gone, 1);
      fs.writeSync(writer2!, Buffer.concat([...press('KEY_7'), ...release('KEY_7')].map(([type, c, value]) => encodeInputEvent({ sec: 12, usec: 345, type, code: c, value }, recordSizeForArch(process.arch)))));
      await until(() => r.events.length === 4, 'keys from the device back');
      assert.deepEqual(r.events.slice(2), ['down:7', 'up:7']);
      assert.equal(r.faults.length, 1, 'no fault while it came back');
      assert.ok(r.logs.some((l) => l.msg === 'keypad: device back, reading it again'));
    } finally {
      await r.dispose();
      if (writer2 !== undefined) fs.closeSync(writer2);
    }
  });

  it(`a device that never comes back is tried REOPEN_TRIES_MAX (${REOPEN_TRIES_MAX}) times, then a second E-BRD-04 says so`, async () => {
    const timers = new ManualTimers();
    let tries = 0;
    const reopen = async (): Promise<InputDevice> => { tries += 1; throw new PosError('BRD_DEVICE_ABSENT', 'keypad0: cannot open /dev/input/event0: ENOENT'); };
    const r = await rig({ timers, reopen, reopenIntervalMs: 100 });
    try {
      r.closeWriter();
      await until(() => r.faults.length === 1, 'the fault');
      for (let i = 1; i <= REOPEN_TRIES_MAX + 5; i++) {
        timers.advance(100);
        await new Promise((res) => setImmediate(res));
      }
      assert.equal(tries, REOPEN_TRIES_MAX, 'a named maximum of tries, then none');
      assert.equal(r.faults.length, 2);
      assert.match(r.faults[1].message, new RegExp(`^E-BRD-04 keypad0: .*event0 did not come back after ${REOPEN_TRIES_MAX} tries \\(E-BRD-02 keypad0: cannot open /dev/input/event0: ENOENT\\); no keys until the terminal restarts`));
    } finally {
      await r.dispose();
    }
  });

  it('close() while waiting for a gone device stops the tries', async () => {
    const timers = new ManualTimers();
    let tries = 0;
    const reopen = async (): Promise<InputDevice> => { tries += 1; throw new Error('absent'); };
    const r = await rig({ timers, reopen, reopenIntervalMs: 100 });
    r.closeWriter();
    await until(() => r.faults.length === 1, 'the fault');
    await r.dispose();
    timers.advance(1000);
    await new Promise((res) => setImmediate(res));
    assert.equal(tries, 0);
  });

  it('close() ends the read at once: nothing after it, and the fd is released (the process may exit)', async () => {
    const r = await rig();
    const before = process.getActiveResourcesInfo().length;
    const t0 = performance.now();
    await r.keypad.close();
    const closeMs = performance.now() - t0;
    // Synchronous: the fd is closed inside close(); the bound only allows for a loaded machine.
    assert.ok(closeMs < 200, `close took ${closeMs} ms`);
    // The read end is closed, not left with a read pending: the FIFO's writer has no reader, so a
    // write fails with EPIPE (node ignores SIGPIPE), and nothing reaches a listener.
    assert.throws(() => r.write(press('KEY_2')), /EPIPE/);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(r.events, []);
    assert.ok(process.getActiveResourcesInfo().length <= before, 'the poll handle is gone');
    await r.keypad.close(); // idempotent
    await r.dispose();
  });

  it('refuses a second reader when the device is grabbed by another process (EVIOCGRAB busy)', async () => {
    const r = await rig({}, (d) => Object.assign(Object.create(d) as InputDevice, { grab: () => 'busy' as const })).catch((e: unknown) => e);
    assert.ok(r instanceof PosError, String(r));
    assert.equal(r.code, 'E-BRD-03');
    assert.match(r.message, /grabbed by another process .*"grab": false/);
  });

  it('opening a path that is not there: E-BRD-02 naming it', () => {
    assert.throws(() => openInputDevice('keypad0', '/nonexistent/event9'), (e: unknown) => e instanceof PosError && e.code === 'E-BRD-02' && /keypad0: cannot open \/nonexistent\/event9/.test(e.message));
  });

  it('finds /dev/input/eventN by the kernel\'s device name, and lists the names when none matches', () => {
    const sys = fs.mkdtempSync(path.join(os.tmpdir(), 'sys-input-'));
    dirs.push(sys);
    for (const [entry, name] of [['event0', 'AT Translated Set 2 keyboard'], ['event2', 'matrix-keypad'], ['input3', 'not an event device'], ['mouse0', 'x']]) {
      fs.mkdirSync(path.join(sys, entry, 'device'), { recursive: true });
      fs.writeFileSync(path.join(sys, entry, 'device', 'name'), `${name}\n`);
    }
    assert.equal(findInputDevice('keypad0', 'matrix-keypad', { sysClassDir: sys }), '/dev/input/event2');
    assert.throws(() => findInputDevice('keypad0', 'gpio-keys', { sysClassDir: sys }),
      (e: unknown) => e instanceof PosError && e.code === 'E-BRD-02' && e.message.includes('no input device named "gpio-keys" (found: event0 "AT Translated Set 2 keyboard", event2 "matrix-keypad")'));
  });
});
