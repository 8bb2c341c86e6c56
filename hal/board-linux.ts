/**
 * Bus factories for real boards: I2C through i2c-bus (SMBus transfers only where the board file's
 * `i2cBuses` says the adapter can do no more), GPIO through onoff (sysfs) or the kernel's
 * character device as the board file's `gpio.backend` says, serial through serialport. The
 * character device is driven natively with "chardev" (hal/gpio-native.ts, the gpio_v2 addon: one
 * ioctl per write), or through the libgpiod tools with "chardev-tools" (hal/gpio-chardev.ts, a
 * process per write; for a build without the addon).
 * Every serial role (printer0, reader0, the optional scanner0) gets its tty opened here at the
 * board file's `port` and `baudRate`; hal/board.ts then builds the real driver over it (for
 * scanner0 the SerialTriggerScanner of hal/drivers/scan-engine.ts, configured from the role's
 * suffix, prefix, noRead and readTimeoutMs). An "evdev-keypad" gets its input event device opened
 * here (hal/input-linux.ts), by path or found by name. No driver opens /dev itself (DESIGN.md rule 2).
 */
import { BusFactories } from './board';
import { LinuxI2cBus } from './i2c-linux';
import { OnoffGpioChip } from './gpio-onoff';
import { ChardevGpioChip } from './gpio-chardev';
import { NativeGpioChip } from './gpio-native';
import { createLinuxSerialPort } from './serial-linux';
import { gpioError } from './gpio';
import { openInputDevice, resolveInputDevice } from './input-linux';

export function linuxFactories(): BusFactories {
  return {
    // SMBus-only adapters (i2c-stub, PC SMBus controllers) get plain writes as SMBus transfers.
    i2c: (busNumber, options) => LinuxI2cBus.open(busNumber, { smbusOnly: options.smbusOnly }),
    gpio: async (config) => {
      if (config.backend === 'onoff') return new OnoffGpioChip(config.chip, config.chipBase ?? 0);
      // No silent fallback: a keypad through the tools is a process start per row write, so a
      // board without the addon says so (BRD_BUS naming it) unless its file asks for the tools.
      if (config.backend === 'chardev') return NativeGpioChip.open({ chip: config.chip });
      if (config.backend === 'chardev-tools') return ChardevGpioChip.open({ chip: config.chip });
      throw gpioError(config.chip, `backend "${config.backend}" is not available on a real board`);
    },
    serial: async (_role, device) => {
      const port = createLinuxSerialPort({ path: device.port, baudRate: device.baudRate });
      await port.open();
      return port;
    },
    // The evdev keypad's device: its path, or /dev/input/eventN found by the kernel's name for it.
    input: async (role, ref) => openInputDevice(role, resolveInputDevice(role, ref)),
  };
}
