import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ChardevGpioChip, parseMonLine, TOOL_EDGE_STAMP_AGE_MS_MAX, toolEdgeTimeMs } from './gpio-chardev';
import { monotonicMs } from '../common/time';
import { EdgeEvent } from './gpio';
import { isPosError } from '../common/errors';

/**
 * Fake libgpiod tools (shell scripts) that log their argv and behave like the real ones of the
 * given major version: this pins the command syntax we depend on for both 1.x and 2.x.
 */
/** The fake tools' folders, removed after the file's tests. */
const toolDirs: string[] = [];
after(() => { for (const d of toolDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true }); });

function fakeTools(major: 1 | 2, monEdges?: (dir: string) => string): { dir: string; calls: () => string[] } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `gpiod${major}-`));
  toolDirs.push(dir);
  const log = path.join(dir, 'calls.log');
  const banner = major === 2 ? 'echo "Setting line \'x\'..."' : '';
  const monBanner = major === 2 ? 'echo "Monitoring line \'x\'..."' : '';
  const fall = major === 1 ? 0 : 2;
  const scripts: Record<string, string> = {
    gpioget: `case "$1" in --version) echo "gpioget (libgpiod) v${major === 1 ? '1.6.3' : '2.1'}"; exit 0;; esac
echo "gpioget $*" >> ${log}
case "$*" in *" 13"*) echo "busy: Device or resource busy" >&2; exit 1;; esac
echo 1`,
    gpioset: `echo "gpioset $*" >> ${log}
case "$*" in *" 13="*) echo "unable to request lines: Device or resource busy" >&2; exit 1;; esac
${banner}
trap 'exit 0' TERM INT
while true; do sleep 0.05; done`,
    gpiomon: `echo "gpiomon $*" >> ${log}
echo $$ >> ${path.join(dir, 'gpiomon.pids')}
${monBanner}
${monEdges ? monEdges(dir) : `sleep 0.1; echo "${fall} 17 100 5"; sleep 0.05; echo "1 17 100 6"`}
trap 'exit 0' TERM INT
while true; do sleep 0.05; done`,
  };
  for (const [name, body] of Object.entries(scripts)) {
    fs.writeFileSync(path.join(dir, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  }
  return { dir, calls: () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').trim().split('\n') : []) };
}

/** How long the fake gpiomon may take to print its edges on a loaded machine. */
const EDGES_WAIT_MS_MAX = 8_000;

for (const major of [1, 2] as const) {
  describe(`GPIO chardev backend with libgpiod ${major}.x tools`, function () {
    this.timeout(10000);

    it('detectsTheToolsMajorVersion', async () => {
      const t = fakeTools(major);
      const chip = await ChardevGpioChip.open({ chip: 'gpiochip0', toolsDir: t.dir });
      assert.equal(chip.libgpiodMajor, major);
    });

    it('readsAnInputWithThisVersionsSyntax', async () => {
      const t = fakeTools(major);
      const chip = await ChardevGpioChip.open({ chip: 'gpiochip0', toolsDir: t.dir });
      const line = await chip.requestLine(4, { direction: 'in', activeLow: true, bias: 'pull-up' });
      assert.equal(await line.read(), 1);
      const expected = major === 1 ? 'gpioget -l -B pull-up gpiochip0 4' : 'gpioget -l -b pull-up --numeric -c gpiochip0 4';
      assert.deepEqual(t.calls(), [expected]);
    });

    it('writeReplacesTheHoldingGpiosetProcess', async () => {
      const t = fakeTools(major);
      const chip = await ChardevGpioChip.open({ chip: 'gpiochip0', toolsDir: t.dir });
      const line = await chip.requestLine(5, { direction: 'out', initial: 0 });
      await line.write(1);
      assert.equal(await line.read(), 1);
      await chip.close();
      const hold = major === 1 ? '--mode=signal gpiochip0' : '--banner -c gpiochip0';
      assert.deepEqual(t.calls(), [`gpioset ${hold} 5=0`, `gpioset ${hold} 5=1`]);
    });

    it('busyLineIsABusFaultCarryingTheToolsMessage', async () => {
      const t = fakeTools(major);
      const chip = await ChardevGpioChip.open({ chip: 'gpiochip0', toolsDir: t.dir });
      await assert.rejects(chip.requestLine(13, { direction: 'out' }),
        (e) => isPosError(e, 'bus-fault') && /gpiochip0:13.*busy/i.test((e as Error).message));
      const input = await chip.requestLine(13, { direction: 'in' });
      await assert.rejects(input.read(), (e) => isPosError(e, 'bus-fault') && /busy/.test((e as Error).message));
    });

    it('watchDecodesThisVersionsEdgeCodes', async () => {
      const t = fakeTools(major);
      const chip = await ChardevGpioChip.open({ chip: 'gpiochip0', toolsDir: t.dir });
      const line = await chip.requestLine(17, { direction: 'in' });
      const events: EdgeEvent[] = [];
      line.watch('both', (e) => events.push(e));
      // The fake gpiomon prints its two edges 0.1 and 0.15 s after it starts: wait for them rather
      // than a fixed time (a loaded machine starts the shell late), then a little more for extras.
      const started = Date.now();
      while (events.length < 2 && Date.now() - started < EDGES_WAIT_MS_MAX) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(events.map((e) => e.edge), ['falling', 'rising']);
      assert.equal(await line.read(), 1, 'level tracked from events while gpiomon holds the line');
      await chip.close();
      assert.ok(t.calls().some((c) => c.startsWith('gpiomon ') && c.includes(major === 1 ? '-F %e %o %s %n gpiochip0 17' : '-F %e %o %S -c gpiochip0 17')));
    });
  });
}

/** Whether a process is still there (signal 0 checks without sending). */
function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

describe('GPIO chardev backend: closing a watched line', function () {
  this.timeout(10_000);
  for (const major of [1, 2] as const) {
    it(`closeWhileItsGpiomon${major}StartsStopsThatGpiomonToo`, async () => {
      // The edge comes at once: with v1 it arrives before the monitor's settle time has passed.
      const t = fakeTools(major, () => 'echo "1 17 100 5"');
      const chip = await ChardevGpioChip.open({ chip: 'gpiochip0', toolsDir: t.dir });
      const line = await chip.requestLine(17, { direction: 'in' });
      let edges = 0;
      line.watch('both', () => { edges++; });
      const pids = path.join(t.dir, 'gpiomon.pids');
      const started = Date.now();
      while (!fs.existsSync(pids) && Date.now() - started < EDGES_WAIT_MS_MAX) await new Promise((r) => setTimeout(r, 2));
      await chip.close();
      const pid = Number(fs.readFileSync(pids, 'utf8').trim());
      assert.ok(pid > 0, 'the fake gpiomon ran');
      const gone = Date.now();
      while (alive(pid) && Date.now() - gone < EDGES_WAIT_MS_MAX) await new Promise((r) => setTimeout(r, 10));
      assert.equal(alive(pid), false, `gpiomon ${pid} outlived the closed line (${edges} edges seen)`);
    });
  }
});

describe('gpiomon line parsing', () => {
  it('zeroIsFallingInV1AndNoiseInV2', () => {
    assert.deepEqual(parseMonLine(1, '0 17 12 5'), { edge: 'falling', offset: 17, stampMs: 12_000 + 5 / 1e6 });
    assert.equal(parseMonLine(2, '0 17 12.5'), undefined);
    assert.deepEqual(parseMonLine(2, '2 17 12.000000005'), { edge: 'falling', offset: 17, stampMs: 12_000 + 5 / 1e6 });
  });

  it('readsTheKernelsStampInEachVersionsFormat', () => {
    assert.equal(parseMonLine(1, '1 3 7 250000000')?.stampMs, 7_250);
    assert.equal(parseMonLine(2, '1 3 7.250000000')?.stampMs, 7_250);
    assert.deepEqual(parseMonLine(1, '1 3'), { edge: 'rising', offset: 3 }, 'no stamp: none made up');
  });
});

describe('a tool edge\'s time', () => {
  it('isTheKernelsStampWhenItIsRecent', () => {
    const now = performance.now();
    assert.ok(Math.abs(toolEdgeTimeMs(monotonicMs() - 30, now) - (now - 30)) < 1);
  });

  it('isTheArrivalForAnotherClocksStampOrNone', () => {
    const now = performance.now();
    assert.equal(toolEdgeTimeMs(Date.now(), now), now, 'CLOCK_REALTIME (uAPI v1 before Linux 5.7)');
    assert.equal(toolEdgeTimeMs(monotonicMs() - TOOL_EDGE_STAMP_AGE_MS_MAX - 100, now), now);
    assert.equal(toolEdgeTimeMs(monotonicMs() + 50, now), now, 'not in the future');
    assert.equal(toolEdgeTimeMs(undefined, now), now);
  });

  for (const major of [1, 2] as const) {
    it(`isTheStampGpiomon${major}PrintsNotWhenItsLineArrives`, async () => {
      const edgesFile = (dir: string): string => path.join(dir, 'edges');
      // The fake gpiomon prints its edge once the test has written it (with the kernel's stamp, 50 ms ago).
      const t = fakeTools(major, (dir) => `while [ ! -f ${edgesFile(dir)} ]; do sleep 0.01; done; cat ${edgesFile(dir)}`);
      const chip = await ChardevGpioChip.open({ chip: 'gpiochip0', toolsDir: t.dir });
      const line = await chip.requestLine(17, { direction: 'in' });
      const events: Array<EdgeEvent & { arrivedMs: number }> = [];
      line.watch('both', (e) => events.push({ ...e, arrivedMs: performance.now() }));
      while (!t.calls().some((c) => c.startsWith('gpiomon '))) await new Promise((r) => setTimeout(r, 10));
      const stampMs = monotonicMs() - 50;
      const pressedMs = performance.now() - 50;
      const s = Math.floor(stampMs / 1000);
      const ns = Math.round((stampMs - s * 1000) * 1e6);
      fs.writeFileSync(edgesFile(t.dir), major === 1 ? `1 17 ${s} ${ns}\n` : `1 17 ${s}.${String(ns).padStart(9, '0')}\n`);
      const started = Date.now();
      while (events.length < 1 && Date.now() - started < EDGES_WAIT_MS_MAX) await new Promise((r) => setTimeout(r, 10));
      await chip.close();
      assert.equal(events.length, 1);
      assert.ok(Math.abs(events[0].timeMs - pressedMs) < 1, `edge at ${events[0].timeMs}, stamped ${pressedMs}`);
      assert.ok(events[0].arrivedMs - events[0].timeMs >= 50, 'timed by its stamp, not its arrival');
    });
  }
});
