/**
 * The native GPIO backend on the build machine, which has no GPIO chip: the addon that
 * `npm install` builds loads, and every failure reaches the caller as the project's BRD_BUS error.
 * Lines on a real kernel are tested in tests/guest/gpio-chardev-native.test.ts.
 */
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PosError } from '../common/errors';
import { KERNEL_DEBOUNCE_US_MAX, NativeGpioChip, addonCandidates, loadGpioV2 } from './gpio-native';
import { validateBoard } from './board-schema';
import { linuxFactories } from './board-linux';

describe('native GPIO backend (gpio_v2 addon), without a chip', () => {
  before(function () {
    if (!addonCandidates().some((p) => fs.existsSync(p))) {
      // npm install builds it; a missing addon is a broken install, not a missing tool.
      throw new Error('build/Release/gpio_v2.node is missing: run npm install');
    }
  });

  it('loads the addon with its six functions', () => {
    const lib = loadGpioV2();
    for (const f of ['request', 'set', 'get', 'watch', 'unwatch', 'close'] as const) assert.equal(typeof lib[f], 'function', f);
  });

  it('turns an errno into an Error with the errno name as code', () => {
    assert.throws(() => loadGpioV2().request('/nonexistent/gpiochip9', 0, {
      output: false, activeLow: false, bias: 0, initial: 0, edges: false, debounceUs: 0, consumer: 't',
    }), (e: Error & { code?: string; errno?: number }) => e.code === 'ENOENT' && e.errno === 2 && /open chip/.test(e.message));
    assert.throws(() => loadGpioV2().get(-1), (e: Error & { code?: string }) => e.code === 'EBADF');
  });

  it('rejects a missing chip with BRD_BUS', async () => {
    await assert.rejects(NativeGpioChip.open({ chip: 'gpiochip97' }), (e: unknown) => e instanceof PosError && e.id === 'BRD_BUS' && /gpiochip97/.test(e.message));
  });

  it('refuses a kernel debounce outside 0..KERNEL_DEBOUNCE_US_MAX', async () => {
    await assert.rejects(NativeGpioChip.open({ chip: 'gpiochip0', kernelDebounceUs: KERNEL_DEBOUNCE_US_MAX + 1 }), (e: unknown) => e instanceof PosError && e.id === 'BRD_BUS');
    await assert.rejects(NativeGpioChip.open({ chip: 'gpiochip0', kernelDebounceUs: -1 }), (e: unknown) => e instanceof PosError && e.id === 'BRD_BUS');
  });
});

describe('board file gpio.backend: native chardev and the tools fallback', () => {
  const rpi = (): { gpio: { backend: string; chip: string } } =>
    JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'board-configs', 'rpi-dev.json'), 'utf8')) as { gpio: { backend: string; chip: string } };

  it('accepts "chardev-tools" beside "chardev" and refuses other names, listing them', () => {
    const j = rpi();
    j.gpio.backend = 'chardev-tools';
    assert.equal(validateBoard(j, 'board-configs/x.json').gpio.backend, 'chardev-tools');
    j.gpio.backend = 'gpiod';
    assert.throws(() => validateBoard(j, 'board-configs/x.json'), (e: unknown) => e instanceof PosError && /"sim", "onoff", "chardev", "chardev-tools"/.test(e.message));
  });

  it('opens "chardev" natively (the addon reaches the missing chip) and "chardev-tools" through the tools', async () => {
    const gpio = linuxFactories().gpio;
    // Native: the addon is built, so the only failure left is the chip this machine lacks.
    await assert.rejects(gpio({ backend: 'chardev', chip: 'gpiochip97' }), (e: unknown) => e instanceof PosError && /gpiochip97: no such GPIO chip/.test(e.message));
    // Tools: a ChardevGpioChip once libgpiod's gpioget answers its version, BRD_BUS naming it otherwise.
    await gpio({ backend: 'chardev-tools', chip: 'gpiochip97' }).then(
      (chip) => assert.equal(chip.constructor.name, 'ChardevGpioChip'),
      (e: unknown) => assert.ok(e instanceof PosError && /gpioget/.test(e.message), String(e)),
    );
  });
});
