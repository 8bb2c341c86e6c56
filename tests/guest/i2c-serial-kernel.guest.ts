/**
 * Runs INSIDE the quick guest (tests/guest/i2c-serial-kernel.test.ts): the MAX17048 driver on the
 * kernel's i2c-stub through hal/i2c-linux.ts, and a serial round trip on the guest's 8250 UART
 * ttyS1 (wired by QEMU to a Unix socket where the host test echoes) through hal/serial-linux.ts.
 * Prints one JSON line with what it saw. Environment: QG_I2C_BUS, QG_BUSYBOX (quick-guest).
 */
import { execFileSync } from 'node:child_process';
import { SerialPort as NodeSerialPort } from 'serialport';
import { LinuxI2cBus } from '../../hal/i2c-linux';
import { Max17048, REG } from '../../hal/drivers/max17048';
import { StreamSerialPort, createLinuxSerialPort } from '../../hal/serial-linux';

const bus = Number(process.env.QG_I2C_BUS ?? 0);
const busybox = process.env.QG_BUSYBOX ?? 'busybox';
/** Longest the guest waits for the echo (TCG; the host's job timeout is the backstop). */
const ECHO_WAIT_MS_MAX = 20_000;

/** Writes an SMBus word as the kernel sees it (i2cset ... w: low byte first on the wire). */
const i2cset = (reg: number, word: number): void => {
  execFileSync(busybox, ['i2cset', '-y', String(bus), '0x36', `0x${reg.toString(16)}`, `0x${word.toString(16)}`, 'w']);
};
const i2cget = (reg: number): string => execFileSync(busybox, ['i2cget', '-y', String(bus), '0x36', `0x${reg.toString(16)}`, 'w']).toString().trim();

async function gauge(): Promise<Record<string, unknown>> {
  // Big-endian register values as SMBus words (byte-swapped): VERSION 0x0011, VCELL 0xC300
  // (3900 mV at 78.125 uV/LSB), SOC 0x5780 (87.5 %), CRATE 0xFFF6 (-10 x 0.208 %/h).
  i2cset(REG.VERSION, 0x1100);
  i2cset(REG.VCELL, 0x00c3);
  i2cset(REG.SOC, 0x8057);
  i2cset(REG.CRATE, 0xf6ff);
  const i2c = await LinuxI2cBus.open(bus);
  try {
    const chip = new Max17048(i2c);
    const version = await chip.check();
    const voltageMv = await chip.voltageMv();
    const percent = await chip.percent();
    const ratePctPerHour = await chip.chargeRatePctPerHour();
    await chip.quickStart();
    return { version, voltageMv, percent, ratePctPerHour, modeWordAfterQuickStart: i2cget(REG.MODE), probeAbsent: await i2c.probe(0x50).catch((e: Error) => e.message) };
  } finally {
    await i2c.close();
  }
}

const stty = (): string => execFileSync(busybox, ['stty', '-F', '/dev/ttyS1', '-a']).toString();

async function serial(): Promise<Record<string, unknown>> {
  const port = createLinuxSerialPort({ path: '/dev/ttyS1', baudRate: 115200 });
  await port.open();
  const termios = stty();
  const payload = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const got: Buffer[] = [];
  port.onData((d) => got.push(d));
  await port.write(payload);
  await port.drain();
  const deadline = performance.now() + ECHO_WAIT_MS_MAX;
  while (Buffer.concat(got).length < payload.length && performance.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  const echoed = Buffer.concat(got);
  await port.close();
  // Modem control on a real UART: through serialport's own set/get (the backend avoids them
  // because a pty refuses them), on a port wrapped like the backend's.
  const raw = new NodeSerialPort({ path: '/dev/ttyS1', baudRate: 9600, autoOpen: false, hupcl: false });
  const wrapped = new StreamSerialPort(raw);
  await wrapped.open();
  const termios9600 = stty();
  const setResult = await new Promise<string>((r) => raw.set({ dtr: true, rts: true }, (e) => r(e ? e.message : 'ok')));
  const lines = await new Promise<unknown>((r) => raw.get((e, status) => r(e ? e.message : status)));
  const clearResult = await new Promise<string>((r) => raw.set({ dtr: false, rts: false }, (e) => r(e ? e.message : 'ok')));
  await wrapped.close();
  return {
    echoedEqual: echoed.equals(payload), echoedLength: echoed.length,
    speed: /speed (\d+) baud/.exec(termios)?.[1], speed9600: /speed (\d+) baud/.exec(termios9600)?.[1],
    raw: ['-icanon', '-echo', '-isig', '-opost', 'cs8'].filter((flag) => new RegExp(`(^|\\s)${flag}(\\s|$)`).test(termios)),
    hupcl: /(^|\s)-hupcl(\s|$)/.test(termios) ? '-hupcl' : 'hupcl',
    setResult, lines, clearResult,
  };
}

async function main(): Promise<void> {
  const report = { gauge: await gauge(), serial: await serial() };
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
  process.exit(1);
});
