/**
 * The terminal on the REAL emulated board (board-configs/qemu-x86.json) in the QEMU guest: what the
 * flashed disk needs for it, and the host's side of its devices. tests/guest/real-board-boot.test.ts
 * uses it; guest-disk.ts builds the disk.
 *
 * In the guest (files on the root file system):
 *   board files of qemu-x86 (would ship with the board): modules-load.d (i2c-dev, i2c-stub),
 *     modprobe.d (i2c-stub's chip addresses 0x36 and 0x3c), udev rules giving /dev/i2c-* to group
 *     i2c and /dev/gpiochip* to group gpio (the unit's SupplementaryGroups)
 *   TEST-ONLY, standing in for the hardware (pos-test-*):
 *     pos-test-board.service   before the terminal: configfs and the out-of-tree gpio-sim module
 *                              (scripts/guest/gpio-sim/build.sh; shipped base64 in the image and
 *                              decoded at boot), a 16-line gpio-sim chip with every input at rest
 *                              (columns, battery low, charging and reset pulled up: active-low),
 *                              the MAX17048's registers in i2c-stub (3.9 V, 87.5 %, version 0x11),
 *                              and the kernel's smbus_write tracepoint for address 0x3c switched on
 *     pos-test-display.service the trace of the SSD1306's SMBus writes, copied to /run/pos-test/ssd1306.trace
 *     pos-test-keypad.service  scripts/guest/gpio-keypad-agent.c (the keypad's fingers on gpio-sim),
 *                              commands from the FIFO /run/pos-test/keypad.in, answers and its
 *                              stats lines in keypad.out; it follows the keypad's rows on the
 *                              patched gpio-sim's value notifications (epoll), at SCHED_FIFO 1
 *   The data partition is provisioned on the host as the factory station does (boot/factory.ts
 *   provision: identity, TMK from two components, device key file, and the merchant's first
 *   administrator, --merchant-admin).
 *
 * On the host: the virtual printer and card reader (sim/) on the guest's ttyS1/ttyS2 (QEMU's unix
 * sockets, bridged to pseudo-terminals by socat and opened through hal/serial-linux.ts), and the
 * screen read back from the kernel's trace of the display's SMBus writes: replayed into the
 * SSD1306 chip model and read as text with the terminal's own font (ui-lcd/font).
 */
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ExtraFile } from '../../boot/flash/disk-image';
import { KeyComponent, kcvOf, provision } from '../../boot/factory';
import { readBoardFile } from '../../hal/board';
import { deviceKeyProviderFor } from '../../runtime/device-key-provider';
import { partitionLayout, PARTITION_SIZES_DEFAULT } from '../../boot/flash/disk-image';
import { SimTerminal } from '../../sim/host/simulator';
import { Ssd1306Model } from '../../sim/chips/ssd1306-model';
import { GLYPH_HEIGHT_PX, HALF_WIDTH_PX, glyph } from '../../ui-lcd/font';
import { createLinuxSerialPort } from '../../hal/serial-linux';
import { VirtualPrinter } from '../../sim/virtual-printer';
import { VirtualCardReader } from '../../sim/virtual-card-reader';
import type { SerialPort } from '../../hal/serial';
import type { KeyName } from '../../hal/keypad';
import { GUEST_CACHE, GUEST_DROP_IN, REAL_BOARD_ENV_FILE, REPO } from './guest-disk';
import type { Guest } from './qemu';

/** The terminal's factory identity (not the simulator's test one: a real board refuses that, E-KEY-03). */
export const REAL_IDS = { serial: 'QEMU-X86-0001', tid: '87650001', mid: '876500000000001' } as const;
/** Two key components (a double-length 3DES key each) with their check values: the TMK is their XOR. */
const COMPONENT_HEX = ['1F2E3D4C5B6A79880123456789ABCDEF', '0112233445566778899AABBCCDDEEFF0'] as const;

export function realComponents(): KeyComponent[] {
  return COMPONENT_HEX.map((keyHex) => ({ keyHex, kcvHex: kcvOf(Buffer.from(keyHex, 'hex')) }));
}

/** The acquirer simulator's record of this terminal (its TMK = the components' XOR). */
export function realTerminal(): SimTerminal {
  const [a, b] = COMPONENT_HEX.map((h) => Buffer.from(h, 'hex'));
  return { tid: REAL_IDS.tid, mid: REAL_IDS.mid, tmk: Buffer.from(a.map((x, i) => x ^ b[i])) };
}

/**
 * The merchant's first administrator, made by the station (provision's merchantAdmin, as
 * `pos factory provision --merchant-admin 99 --merchant-password-file F`): the board's only
 * operator besides the service administrator, who cannot sell.
 */
export const MERCHANT_ADMIN = { typed: '99', number: '099', password: '24681357' } as const;

/**
 * The data partition (/var/lib/pos) as a factory station leaves it: `pos factory provision`'s
 * records (boot/factory.ts provision, with the qemu-x86 board file, so a test identity is refused),
 * the merchant's first administrator in the same commit, and the device key file beside the
 * journal. The service password (operator 000) is made and not used here.
 */
export async function provisionDataDir(dir: string, work: string): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const board = readBoardFile('qemu-x86');
  const deviceKey = deviceKeyProviderFor({ file: board.file, config: board.config }, dir, { create: true });
  await provision({
    serial: REAL_IDS.serial, tid: REAL_IDS.tid, mid: REAL_IDS.mid, components: realComponents(), board: board.config, locale: 'en',
    journalDir: join(dir, 'journal'), registryFile: join(work, 'station-registry.json'), deviceKey,
    merchantAdmin: { number: MERCHANT_ADMIN.typed, password: MERCHANT_ADMIN.password },
  });
}

/** The journal folder copied off the data partition of a disk image (the guest powered off first). */
export function journalOffDisk(diskImage: string, out: string): string {
  mkdirSync(out, { recursive: true });
  const data = partitionLayout(PARTITION_SIZES_DEFAULT).parts[2].startBytes;
  execFileSync('debugfs', ['-R', `rdump /journal ${out}`, `${diskImage}?offset=${data}`], { stdio: 'ignore' });
  return out;
}

// ---------------------------------------------------------------- the guest's files

/** gpio-sim's sysfs folder of the chip, written by the board setup for the keypad agent. */
const RUN = '/run/pos-test';
export const KEYPAD_FIFO = `${RUN}/keypad.in`;
export const KEYPAD_ANSWERS = `${RUN}/keypad.out`;
export const DISPLAY_TRACE = `${RUN}/ssd1306.trace`;
const GPIO_LINES = 16;
/** Inputs pulled up at rest (active-low): keypad columns 5-8, battery low 9, charging 10, reset 11. */
const INPUTS_AT_REST = [5, 6, 7, 8, 9, 10, 11];
const TRACE_BUFFER_KB = 4096;

/**
 * MAX17048 registers in i2c-stub, as SMBus words (the chip is big-endian: bytes swapped): VCELL
 * 0xC300 = 3.9 V, SOC 0x5780 = 87.5 %, VERSION 0x0011, CRATE 0. As the quick guest's gauge test.
 */
const GAUGE_WORDS: ReadonlyArray<[number, number]> = [[0x02, 0x00c3], [0x04, 0x8057], [0x08, 0x1100], [0x0c, 0x1c97], [0x16, 0x0000]];

const BOARD_SETUP = `#!/bin/sh
# TEST-ONLY (tests/guest/real-board.ts): the emulated board's hardware before the terminal starts.
set -eu
mkdir -p ${RUN}
modprobe i2c-dev
modprobe i2c-stub chip_addr=0x36,0x3c
for m in configfs gpio-sim; do base64 -d /usr/local/lib/pos-test/$m.ko.b64 > ${RUN}/$m.ko; done
base64 -d /usr/local/lib/pos-test/gpio-keypad-agent.b64 > ${RUN}/gpio-keypad-agent
chmod 0755 ${RUN}/gpio-keypad-agent
insmod ${RUN}/configfs.ko 2>/dev/null || true
insmod ${RUN}/gpio-sim.ko
# systemd mounts configfs and tracefs itself (sys-kernel-config.mount, sys-kernel-tracing.mount)
# once their modules are there, racing this script: a mount that lost the race fails with "already
# mounted", which under set -e failed this unit and left pos-terminal.service, which Requires it,
# "inactive (dead)" with "Dependency failed" (seen: the unit never active in 240 s). Mounted by
# either is what counts.
mountpoint -q /sys/kernel/config || mount -t configfs none /sys/kernel/config || mountpoint -q /sys/kernel/config
c=/sys/kernel/config/gpio-sim/pos
mkdir -p $c/bank0
echo ${GPIO_LINES} > $c/bank0/num_lines
echo pos-board > $c/bank0/label
echo 1 > $c/live
sysfs=/sys/devices/platform/$(cat $c/dev_name)/$(cat $c/bank0/chip_name)
echo $sysfs > ${RUN}/gpio-sysfs
for l in ${INPUTS_AT_REST.join(' ')}; do echo pull-up > $sysfs/sim_gpio$l/pull; done
# Bounded: a settle that waited udevadm's default 120 s under TCG would hold pos-terminal.service
# (ordered after this unit) "inactive" with its start job queued; the groups' rules are applied
# by then in every run seen, and a terminal that found no access would fail and be restarted.
udevadm settle --timeout=60 || echo "pos-test-board: udev not settled after 60 s; going on" >&2
echo "pos-test-board: hardware up after $(cut -d' ' -f1 /proc/uptime) s of uptime" >&2
/opt/pos/selector/node/bin/node -e 'const b=require("/opt/pos/selector/node_modules/i2c-bus").openSync(0); for (const [r,w] of ${JSON.stringify(GAUGE_WORDS)}) b.writeWordSync(0x36,r,w); b.closeSync()'
t=/sys/kernel/tracing
mountpoint -q $t || mount -t tracefs nodev $t || mountpoint -q $t
echo ${TRACE_BUFFER_KB} > $t/buffer_size_kb
echo 'addr == 0x3c' > $t/events/smbus/smbus_write/filter
echo 1 > $t/events/smbus/smbus_write/enable
echo 1 > $t/tracing_on
`;

function unit(description: string, body: string): string {
  return `# TEST-ONLY (tests/guest/real-board.ts): never part of a shipped image.\n[Unit]\nDescription=${description}\n${body}`;
}

/**
 * The unit's drop-in: the slot's qemu-x86 board file, after the emulated hardware is up, and a
 * start timeout for TCG on a loaded host (test-only): at load 16-22 on this 2-core machine the
 * guest reached its board set-up at 145 s of uptime and the terminal's start used 62 s of CPU in
 * the unit's 120 s, so systemd killed it ("start operation timed out") and began again. The
 * product unit keeps TimeoutStartSec=120.
 */
export const REAL_BOARD_START_TIMEOUT_S = 600;
export const REAL_BOARD_DROP_IN = `${GUEST_DROP_IN.replace('Environment=POS_BOARD=/etc/pos/qemu-sim.json', 'Environment=POS_BOARD=qemu-x86').replace('/run/pos-test.env', REAL_BOARD_ENV_FILE)}TimeoutStartSec=${REAL_BOARD_START_TIMEOUT_S}\n[Unit]\nAfter=pos-test-board.service pos-test-display.service pos-test-keypad.service\nRequires=pos-test-board.service\n`;

/** Root file system additions for the real board (see the file comment). */
export async function realBoardRootFiles(work: string): Promise<ExtraFile[]> {
  const abi = execFileSync(join(REPO, 'scripts', 'guest', 'fetch-kernel.sh'), { encoding: 'utf8' }).trim();
  const gpioSim = execFileSync(join(REPO, 'scripts', 'guest', 'gpio-sim', 'build.sh'), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
  const configfs = join(GUEST_CACHE, 'kernel', abi, 'root', 'lib', 'modules', abi, 'kernel', 'fs', 'configfs', 'configfs.ko');
  if (!existsSync(configfs)) throw new Error(`configfs.ko not found at ${configfs}`);
  // The keypad agent in C (scripts/guest/gpio-keypad-agent.c says why), static: the guest's
  // Debian 12 has the same glibc, but a static binary does not depend on it.
  const agent = join(work, 'gpio-keypad-agent');
  execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-static', '-o', agent, join(REPO, 'scripts', 'guest', 'gpio-keypad-agent.c')], { stdio: ['ignore', 'inherit', 'inherit'] });
  const wants = (target: string, name: string): ExtraFile => ({ path: `/etc/systemd/system/${target}.wants/${name}`, content: `/etc/systemd/system/${name}`, symlink: true });
  return [
    { path: '/etc/modules-load.d/pos-qemu-x86.conf', content: '# The emulated board (board-configs/qemu-x86.json): i2c-dev for /dev/i2c-0, i2c-stub as its adapter.\ni2c-dev\ni2c-stub\n' },
    { path: '/etc/modprobe.d/pos-qemu-x86.conf', content: '# qemu-x86: the MAX17048 at 0x36 and the SSD1306 at 0x3c on i2c-stub.\noptions i2c-stub chip_addr=0x36,0x3c\n' },
    { path: '/etc/udev/rules.d/60-pos-board.rules', content: '# The terminal runs as user pos with groups i2c and gpio (pos-terminal.service SupplementaryGroups).\nSUBSYSTEM=="i2c-dev", GROUP="i2c", MODE="0660"\nSUBSYSTEM=="gpio", KERNEL=="gpiochip*", GROUP="gpio", MODE="0660"\n' },
    { path: '/usr/local/lib/pos-test/gpio-sim.ko.b64', content: readFileSync(gpioSim).toString('base64') },
    { path: '/usr/local/lib/pos-test/configfs.ko.b64', content: readFileSync(configfs).toString('base64') },
    { path: '/usr/local/lib/pos-test/gpio-keypad-agent.b64', content: readFileSync(agent).toString('base64') },
    { path: '/usr/local/sbin/pos-test-board', content: BOARD_SETUP, mode: 0o755 },
    { path: '/etc/systemd/system/pos-test-board.service', content: unit('Test-only emulated board hardware (gpio-sim, i2c-stub registers, display trace)', 'After=systemd-modules-load.service systemd-udevd.service local-fs.target\nBefore=pos-terminal.service\n[Service]\nType=oneshot\nRemainAfterExit=yes\nExecStart=/usr/local/sbin/pos-test-board\n') },
    wants('multi-user.target', 'pos-test-board.service'),
    { path: '/etc/systemd/system/pos-test-display.service', content: unit('Test-only trace of the SSD1306 SMBus writes', `After=pos-test-board.service\nRequires=pos-test-board.service\n[Service]\nExecStart=/bin/sh -c 'exec cat /sys/kernel/tracing/trace_pipe >> ${DISPLAY_TRACE}'\n`) },
    wants('multi-user.target', 'pos-test-display.service'),
    // The agent stands in for wires: SCHED_FIFO at priority 1 (AGENT_RT_PRIORITY), the lowest, so
    // that it runs as soon as a row write wakes it, before the scanner's 5 ms settle ends. At
    // normal priority it was once later than that at load 7-9 (session 10, run 6: a held 0 read up
    // in one scan, two presses, "500" taken as "5000"). Below the kernel's IRQ threads (50): the
    // node agent at 50 held the GPIO edge IRQ's thread, and the terminal killed by its watchdog
    // hung in free_irq. The C agent's work per wake-up is a few system calls, and it blocks in
    // epoll between them; its stats lines say what it cost.
    { path: '/etc/systemd/system/pos-test-keypad.service', content: unit('Test-only keypad agent on gpio-sim', `After=pos-test-board.service\nRequires=pos-test-board.service\n[Service]\nCPUSchedulingPolicy=fifo\nCPUSchedulingPriority=${AGENT_RT_PRIORITY}\nExecStart=/bin/sh -c 'rm -f ${KEYPAD_FIFO}; mkfifo -m 600 ${KEYPAD_FIFO}; exec ${RUN}/gpio-keypad-agent --sysfs "$$(cat ${RUN}/gpio-sysfs)" --rows 0,1,2,3,4 --cols 5,6,7,8 --row-active low --col-active low --follow events --hold-until-scanned ${HOLD_UNTIL_SCANNED} --stats-s ${AGENT_STATS_S} 0<>${KEYPAD_FIFO} >>${KEYPAD_ANSWERS} 2>&1'\n`) },
    wants('multi-user.target', 'pos-test-keypad.service'),
  ];
}

// ---------------------------------------------------------------- keys

/** qemu-x86.json's keymap: [row][column] of the keypad agent. */
const KEYMAP: ReadonlyArray<ReadonlyArray<KeyName | null>> = [
  ['MENU', 'UP', 'DOWN', 'FUNC'],
  ['1', '2', '3', 'CANCEL'],
  ['4', '5', '6', 'CLEAR'],
  ['7', '8', '9', 'BACK'],
  [null, '0', null, 'OK'],
];
/**
 * A finger holds a key this long and waits this long before the next, as a person types (150-300
 * ms). The driver needs two scans of 5 rows (qemu-x86's 5 ms row settle each) to debounce a key;
 * in the quick guest at load 15 a press reached its debounced down in 56-197 ms
 * (tests/guest/gpio-chardev-native.test.ts prints it).
 */
export const KEY_HOLD_MS = 300;
export const KEY_GAP_MS = 300;
/**
 * And longer when the guest is slow: the agent lets go only once the scanner has selected the
 * key's row this often since the press (--hold-until-scanned; the release comes as the last of
 * them begins, so one fewer full scans saw it: 2, what the driver's debounce needs). Seen at load
 * 10-22: 300 ms passed without a scan of the row and both 9s of "99" were lost, OK after them not.
 */
const HOLD_UNTIL_SCANNED = 3;
/** The keypad agent's SCHED_FIFO priority (see its unit): the lowest, below the kernel's IRQ threads. */
const AGENT_RT_PRIORITY = 1;
/** The keypad agent's account of its CPU and work, a "stats" line in keypad.out this often (s). */
export const AGENT_STATS_S = 10;
/** A release held until scanned is answered within this (a scan that never comes is a failure). */
const RELEASE_WAIT_S_MAX = 60;
/** How often pressKeys looks for a release's answer in the guest (s). */
const RELEASE_POLL_S = 0.25;
/** What one key may take in all: hold, the wait for its release, the gap. */
const PER_KEY_MS_MAX = KEY_HOLD_MS + RELEASE_WAIT_S_MAX * 1000 + KEY_GAP_MS;

export function keyPosition(key: KeyName): [number, number] {
  for (let r = 0; r < KEYMAP.length; r++) {
    const c = KEYMAP[r].indexOf(key);
    if (c >= 0) return [r, c];
  }
  throw new Error(`no key ${key} on the qemu-x86 keypad`);
}

/** "1234OK" -> ['1','2','3','4','OK'] (names in capitals are whole keys). */
export function parseKeys(keys: string): KeyName[] {
  return [...keys.matchAll(/OK|CANCEL|CLEAR|BACK|MENU|FUNC|UP|DOWN|\d/g)].map((m) => m[0] as KeyName);
}

/** Presses keys one after another through the keypad agent in the guest (gpio-sim pulls). */
export async function pressKeys(g: Guest, keys: string): Promise<void> {
  const names = parseKeys(keys);
  const hold = (KEY_HOLD_MS / 1000).toFixed(2);
  const gap = (KEY_GAP_MS / 1000).toFixed(2);
  // Each release waits for its answer (the agent may hold it until scanned): the next press of the
  // same key must find it released, or "99" would be one long press. Looked for every
  // RELEASE_POLL_S: each look starts two processes in the one-CPU guest, and at every 50 ms the
  // looking took much of the CPU the terminal needed to scan the key it waited for.
  const polls = RELEASE_WAIT_S_MAX / RELEASE_POLL_S;
  const steps = names.map((k) => {
    const [r, c] = keyPosition(k);
    const released = `grep -c 'ok release ${r} ${c}' ${KEYPAD_ANSWERS} || true`;
    return `n=$(${released}); echo press ${r} ${c} > ${KEYPAD_FIFO}; sleep ${hold}; echo release ${r} ${c} > ${KEYPAD_FIFO}; i=0; while [ $(${released}) -le $n ] && [ $i -lt ${polls} ]; do sleep ${RELEASE_POLL_S}; i=$((i+1)); done; [ $i -lt ${polls} ]; sleep ${gap}`;
  });
  // set -e: a release never answered fails the command (and the test) there.
  await g.sh(`set -e; ${steps.join('; ')}`, 30_000 + names.length * PER_KEY_MS_MAX);
}

// ---------------------------------------------------------------- the screen

/** One SMBus write to 0x3c as the kernel traced it: the bytes that went on the wire after the address. */
export function parseDisplayTrace(text: string): Uint8Array[] {
  const writes: Uint8Array[] = [];
  for (const m of text.matchAll(/smbus_write: i2c-\d+ a=03c f=[0-9a-f]+ c=([0-9a-f]+) (\w+) l=(\d+) \[([0-9a-f-]*)\]/g)) {
    const command = parseInt(m[1], 16);
    const bytes = m[4] ? m[4].split('-').map((h) => parseInt(h, 16)) : [];
    if (m[2] === 'BYTE') writes.push(Uint8Array.of(command));
    else if (m[2] === 'I2C_BLOCK_DATA') writes.push(Uint8Array.from([command, ...bytes.slice(1, 1 + bytes[0])]));
    else if (m[2] === 'BYTE_DATA') writes.push(Uint8Array.of(command, bytes[0]));
    else throw new Error(`unexpected SMBus write to the display: ${m[0]}`);
  }
  return writes;
}

/** Half-width glyphs by their 16 pixel rows (lit on dark, and inverted as in a title bar). */
function glyphTable(): Map<string, string> {
  const table = new Map<string, string>();
  // Printable ASCII and the yuan sign the amount screens show.
  for (const cp of [0xa5, ...Array.from({ length: 0x7f - 0x20 }, (_, i) => 0x7e - i)]) {
    const g = glyph(String.fromCharCode(cp));
    if (!g || g.width !== HALF_WIDTH_PX) continue;
    const rows = [...g.rows];
    table.set(rows.join(','), String.fromCharCode(cp));
    if (!table.has(rows.map((r) => ~r & 0xff).join(','))) table.set(rows.map((r) => ~r & 0xff).join(','), String.fromCharCode(cp));
  }
  return table;
}

/**
 * Text on the panel: every 8x16 cell of the 16x4 grid (ui-lcd/render-pixels.ts) matched exactly
 * against the font's half-width glyphs, lit or inverted; anything else (icons, a QR code) is '?'.
 */
export function readPanel(model: Ssd1306Model): string[] {
  const table = glyphTable();
  const frame = model.toFrame();
  const lines: string[] = [];
  for (let row = 0; row < frame.height / GLYPH_HEIGHT_PX; row++) {
    let line = '';
    for (let col = 0; col < frame.width / HALF_WIDTH_PX; col++) {
      const bits: number[] = [];
      for (let y = 0; y < GLYPH_HEIGHT_PX; y++) {
        let b = 0;
        for (let x = 0; x < HALF_WIDTH_PX; x++) if (frame.get(col * HALF_WIDTH_PX + x, row * GLYPH_HEIGHT_PX + y)) b |= 1 << (HALF_WIDTH_PX - 1 - x);
        bits.push(b);
      }
      line += table.get(bits.join(',')) ?? '?';
    }
    lines.push(line.trimEnd());
  }
  return lines;
}

/** The display as the guest's kernel saw it written: the trace so far replayed into the chip model. */
export class TracedDisplay {
  readonly model = new Ssd1306Model();
  private offset = 0;
  writes = 0;
  lastData: Uint8Array | undefined;

  constructor(private readonly g: Guest) {}

  /** Reads the trace written since the last call and applies it; the panel's text. */
  async read(): Promise<string[]> {
    // The trace file grows; only whole lines up to its current end are taken.
    const out = await this.g.sh(`tail -c +${this.offset + 1} ${DISPLAY_TRACE} | head -c 4000000 | base64 -w0`);
    const chunk = Buffer.from(out.trim(), 'base64').toString('latin1');
    const end = chunk.lastIndexOf('\n') + 1;
    this.offset += end;
    for (const w of parseDisplayTrace(chunk.slice(0, end))) {
      this.model.write(w);
      this.writes++;
      if (w[0] === 0x40) this.lastData = w;
    }
    return readPanel(this.model);
  }

  /** Waits until the panel shows text that `match` accepts; returns it. */
  async until(match: RegExp, timeoutMs: number, what = String(match)): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    let lines: string[] = [];
    for (;;) {
      lines = await this.read();
      if (match.test(lines.join('\n'))) return lines;
      if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for the display to show ${what}; it shows:\n${lines.join('\n')}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

// ---------------------------------------------------------------- printer and reader on the host

export interface HostDevices {
  readonly printer: VirtualPrinter;
  readonly reader: VirtualCardReader;
  close(): Promise<void>;
}

/** socat from QEMU's unix socket to a pseudo-terminal at `link`; resolves once the link exists. */
async function bridge(socket: string, link: string): Promise<ChildProcess> {
  const socat = spawn('socat', [`UNIX-CONNECT:${socket}`, `PTY,link=${link},raw,echo=0`], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  while (!existsSync(link)) {
    if (socat.exitCode !== null) throw new Error(`socat for ${socket} exited ${socat.exitCode}`);
    if (Date.now() > deadline) throw new Error(`socat did not make ${link}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return socat;
}

/** The virtual printer on the guest's ttyS1 and the virtual card reader on its ttyS2. */
export async function hostDevices(printerSocket: string, readerSocket: string, dir: string): Promise<HostDevices> {
  const socats = [await bridge(printerSocket, join(dir, 'printer.pty')), await bridge(readerSocket, join(dir, 'reader.pty'))];
  const ports: SerialPort[] = [];
  for (const name of ['printer', 'reader']) {
    const port = createLinuxSerialPort({ path: join(dir, `${name}.pty`), baudRate: 115200 });
    await port.open();
    ports.push(port);
  }
  return {
    printer: new VirtualPrinter(ports[0]),
    reader: new VirtualCardReader(ports[1]),
    close: async () => {
      for (const p of ports) await p.close().catch(() => undefined);
      for (const s of socats) s.kill();
    },
  };
}
