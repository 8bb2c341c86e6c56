/**
 * The terminal on the REAL emulated board in the QEMU guest (issue 15 §3, first part): the flashed
 * disk runs pos-terminal.service on board-configs/qemu-x86.json, not the simulator board, over the
 * guest kernel's buses: the native GPIO backend on a gpio-sim chip (keypad, battery lines, reset
 * button, LEDs), i2c-stub as an SMBus-only adapter (the SSD1306's block writes, the MAX17048), the
 * printer and card reader on the 8250 UARTs wired to the virtual devices on the HOST, with a data
 * partition provisioned as the factory station does (tests/guest/real-board.ts says what stands in
 * for the hardware and what is test-only). A real board has no control interface: what the
 * terminal shows is read from the kernel's trace of the display's SMBus writes, and the last data
 * written is read back from i2c-stub's registers.
 * Not here yet: the trading day (keys through the keypad agent are not reliable yet under TCG on a
 * loaded machine; see the README, "Booted on a real kernel").
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { needTool } from '../support/tools';
import { AcquirerSimulator } from '../../sim/host/simulator';
import { buildGuestDisk, GuestDisk } from './guest-disk';
import { Guest } from './qemu';
import { needGuestTools, reportFailuresAtOnce, unitProperty, waitUnitActive } from './support';
import { HostDevices, REAL_BOARD_DROP_IN, TracedDisplay, hostDevices, provisionDataDir, realBoardRootFiles, realTerminal } from './real-board';

/** From the unit active to the login screen drawn (journal verified in a child on the first boot, TCG). */
const LOGIN_SCREEN_MS_MAX = 300_000;

describe('guest: the terminal on the real emulated board (qemu-x86.json)', function () {
  this.timeout(30 * 60_000);
  reportFailuresAtOnce();
  let dir = '';
  let disk: GuestDisk | undefined;
  let host: AcquirerSimulator | undefined;
  let g: Guest | undefined;
  let devices: HostDevices | undefined;

  before(async function () {
    this.timeout(20 * 60_000);
    needGuestTools(this);
    needTool(this, 'socat');
    dir = mkdtempSync(join(tmpdir(), 'pos-guest-real-'));
    const dataDir = join(dir, 'data');
    await provisionDataDir(dataDir, dir);
    disk = buildGuestDisk(join(dir, 'disk'), await realBoardRootFiles(dir), { unitDropIn: REAL_BOARD_DROP_IN, dataDir });
    process.stderr.write(`      guest disk (qemu-x86) built in ${(disk.buildMs / 1000).toFixed(1)} s (release image ${disk.imageBuildMs ? `built in ${(disk.imageBuildMs / 1000).toFixed(1)} s` : 'cached'})\n`);
    host = new AcquirerSimulator({ clock: Date.now, terminals: [realTerminal()] });
    await host.listen(0);
  });

  after(async () => {
    await devices?.close();
    if (g?.running) await g.powerCut();
    await host?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('startsOnTheBoardFileOverTheKernelsBusesAndDrawsTheLoginScreenThroughI2cStub', async () => {
    const runDir = join(dir, 'run');
    mkdirSync(runDir);
    const printerSocket = join(runDir, 'printer.sock');
    const readerSocket = join(runDir, 'reader.sock');
    g = await Guest.boot({
      disk: disk!.image, kernel: disk!.artifacts.kernel, initrd: disk!.artifacts.initrd, runDir,
      append: `pos.hostport=${host!.port}`, printerSocket, readerSocket,
    });
    devices = await hostDevices(printerSocket, readerSocket, runDir);
    const activeMs = await waitUnitActive(g).catch(async (e: unknown) => {
      // Once seen in CI: the unit stayed "inactive" for 240 s (not activating, not failed). Say why.
      const why = await g!.sh('systemctl status --no-pager pos-test-board.service pos-terminal.service 2>&1 | tail -40; journalctl -b --no-pager -u pos-test-board.service -u pos-terminal.service 2>&1 | tail -60').catch((x: unknown) => `(guest did not answer: ${String(x)})`);
      throw new Error(`${e instanceof Error ? e.message : String(e)}\n--- guest units ---\n${why}`);
    });
    const pid = await unitProperty(g, 'MainPID');
    assert.match(await g.sh(`tr '\\0' '\\n' < /proc/${pid}/environ`), /^POS_BOARD=qemu-x86$/m, 'the unit runs the emulated board\'s own file');
    assert.equal((await g.sh(`stat -c %U /proc/${pid}`)).trim(), 'pos');

    const display = new TracedDisplay(g);
    const login = await display.until(/Operator login[\s\S]*Operator no\./, LOGIN_SCREEN_MS_MAX, 'the login screen');
    const loginMs = Date.now() - g.startedMs;
    assert.equal(login[0], 'Operator login');
    assert.ok(display.writes > 32, `a whole frame and more went to the display (${display.writes} SMBus writes)`);

    // The display's bytes are in the i2c-stub chip: an I2C-block write with command 0x40 (the data
    // control byte) is stored at registers 0x40.., so they hold the last data write's bytes. A
    // write between the trace and the read-back (none is expected at the login screen) retries.
    let readBackOk = false;
    for (let attempt = 0; attempt < 3 && !readBackOk; attempt++) {
      const last = display.lastData!;
      const readBack = await g.sh(`/opt/pos/selector/node/bin/node -e 'const b=require("/opt/pos/selector/node_modules/i2c-bus").openSync(0); const buf=Buffer.alloc(${last.length - 1}); b.readI2cBlockSync(0x3c,0x40,buf.length,buf); console.log(buf.toString("hex")); b.closeSync()'`);
      await display.read();
      if (display.lastData !== last) continue;
      assert.equal(readBack.trim(), Buffer.from(last.subarray(1)).toString('hex'), 'the last display data write, read back from i2c-stub');
      readBackOk = true;
    }
    assert.ok(readBackOk, 'the display was quiet long enough to read its data back');

    // Every GPIO role of the board file holds its line on the gpio-sim chip (the kernel's view).
    const gpio = await g.sh('mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug; cat /sys/kernel/debug/gpio');
    const consumers = [...gpio.matchAll(/\|(\S+)\s*\)/g)].map((m) => m[1]);
    assert.deepEqual(consumers, [...Array(9).fill('keypad'), 'battery0', 'battery0', 'reset0', 'ledPower0', 'ledStatus0'], gpio);
    // The power LED is on (the boot switches it on after the self-test): line 12 driven high.
    assert.match(gpio, /\|ledPower0\s*\) out hi/);
    process.stderr.write(`      guest (qemu-x86): agent ${(g.agentReadyMs! / 1000).toFixed(1)} s, unit active ${(activeMs / 1000).toFixed(1)} s, login screen read off the display trace ${(loginMs / 1000).toFixed(1)} s (from QEMU's start); ${display.writes} SMBus writes to the display\n`);
  });
});
