/**
 * The native GPIO backend (hal/gpio-native.ts, the N-API addon on the kernel's GPIO v2 uAPI) on a
 * real kernel: Debian's 6.1 in the quick guest (scripts/guest/quick-guest.ts) with a gpio-sim chip.
 * The guest side (gpio-chardev-native.guest.ts) drives the lines and reports what gpio-sim's sysfs
 * saw; this file asserts on that report. One boot and one guest run serve every case (TCG: about
 * 30-60 s on this 2-core machine, most of it node starting under emulation).
 * Needs qemu-system-x86_64 and Debian's apt (kernel, headers, busybox); skips loudly without them,
 * fails under POS_REQUIRE_TOOLS=1.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { QuickGuest, compileForGuest, guestJsDir, quickGuestToolsMissing } from '../../scripts/guest/quick-guest';
import { addonCandidates } from '../../hal/gpio-native';
import { hasTool } from '../support/tools';

/** Boot, compile and the guest run together; TCG and a busy machine make this generous. */
const SUITE_TIMEOUT_MS = 300_000;

describe('native GPIO backend on a real kernel (quick guest, gpio-sim)', function () {
  this.timeout(SUITE_TIMEOUT_MS);
  let report: Record<string, Record<string, unknown>> = {};

  before(async function () {
    const missing = await quickGuestToolsMissing();
    const addon = addonCandidates().find((p) => fs.existsSync(p));
    if (!addon) missing.push('build/Release/gpio_v2.node (npm install)');
    if (!hasTool('gcc')) missing.push('gcc (the keypad agent, scripts/guest/gpio-keypad-agent.c)');
    if (missing.length > 0) {
      const msg = `quick guest needs ${missing.join(', ')}`;
      if (process.env.POS_REQUIRE_TOOLS === '1') throw new Error(msg);
      console.warn(`SKIPPED: ${msg}`);
      this.skip();
    }
    const out = guestJsDir();
    try {
      await compileForGuest(['tests/guest/gpio-chardev-native.guest.ts'], out);
      // The keypad agent is C (scripts/guest/gpio-keypad-agent.c), static: the guest runs the host's files over 9p.
      execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-static', '-o', `${out}/gpio-keypad-agent`, 'scripts/guest/gpio-keypad-agent.c'], { stdio: ['ignore', 'inherit', 'inherit'] });
      const guest = await QuickGuest.boot({ gpioLines: 16 });
      try {
        const r = await guest.run(`export POS_GPIO_V2_ADDON=${addon} AGENT=${out}/gpio-keypad-agent\n`
          + `exec node ${out}/tests/guest/gpio-chardev-native.guest.js\n`);
        assert.equal(r.code, 0, `guest run failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
        report = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as typeof report;
      } finally {
        await guest.shutdown();
      }
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it('sets outputs that gpio-sim reads back in sysfs value, active-low inverted, and refuses a busy line', () => {
    assert.deepEqual(report.outputs.plain, ['0', '1', '0']);
    assert.deepEqual(report.outputs.activeLow, ['1', '0']);
    assert.equal(report.outputs.readBack, 1);
    assert.match(String(report.outputs.busy), /E-BRD-\d+ GPIO gpiochip\d+:0: request: .*busy/i);
  });

  it('reads inputs that follow the sysfs pull (active-low inverted) and refuses writes on them', () => {
    // pull-up, pull-down, pull-up on a plain and an active-low input.
    assert.deepEqual(report.inputs.seen, [1, 0, 0, 1, 1, 0]);
    assert.match(String(report.inputs.writeOnInput), /write on an input line/);
  });

  it('delivers edge events from the kernel in order, filtered per watcher, none after unwatch', () => {
    assert.deepEqual(report.edges.edges, ['rising:1', 'falling:0', 'rising:1']);
    assert.equal(report.edges.rising, 2);
    assert.equal(report.edges.timesInOrder, true, 'kernel timestamps map into the performance.now() window of the pulls');
    assert.equal(report.edges.afterUnwatch, 3);
  });

  it('asks the kernel to debounce (one edge for a bounce) and drops edges queued before a watch', () => {
    assert.deepEqual(report.kernelDebounce.afterBounce, ['rising']);
    assert.deepEqual(report.kernelDebounce.all, ['rising', 'falling']);
    assert.equal(report.kernelDebounce.stale, 0);
  });

  it('scans keys pressed by the keypad agent through the matrix keypad driver', () => {
    assert.deepEqual(report.keypad.rowsAtRest, ['1', '1', '1', '1'], 'every row selected at rest');
    assert.deepEqual(report.keypad.events, ['down:6', 'up:6', 'down:0', 'up:0']);
    assert.deepEqual(report.keypad.answers, ['ok press 1 2', 'ok release 1 2', 'ok press 3 1', 'ok release 3 1', 'err press needs a row 0..3 and a column 0..2']);
    assert.deepEqual(report.keypad.pressedAfter, []);
  });

  it('the agent follows rows on the kernel\'s value notifications: keys held 250 ms (and until their row was scanned twice) scanned without a sync hook', () => {
    const k = report.keypadEvents;
    process.stderr.write(`      agent --follow events: a column follows a row write in ${Number(k.followMedianMs).toFixed(1)} ms (median of 40), ${Number(k.followMaxMs).toFixed(1)} ms at most; with rowSettleMs ${String(k.rowSettleMs)} each press's debounced down came ${JSON.stringify(k.downAfterMs)} ms after it\n`);
    assert.deepEqual(k.events, ['down:1', 'up:1', 'down:5', 'up:5', 'down:9', 'up:9', 'down:0', 'up:0', 'down:OK', 'up:OK', 'down:2', 'up:2']);
  });
});
