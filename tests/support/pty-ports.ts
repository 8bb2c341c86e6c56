/**
 * A socat pseudo-terminal pair opened as two Linux serial ports before each test of a suite and
 * closed after it: the terminal's driver talks on `host`, the simulated device on `device`. Call
 * it in a `describe` body; it registers the hooks (socat is required, see tools.ts).
 */
import { StreamSerialPort, createLinuxSerialPort } from '../../hal/serial-linux';
import { PtyPair, openPtyPair } from '../../sim/pty-pair';
import { needTool } from './tools';

export interface PtyPorts {
  host?: StreamSerialPort;
  device?: StreamSerialPort;
  /** The socat pair itself, for a test that pulls the ttys from under the driver. */
  ptys?: PtyPair;
}

export function ptyPortsEachTest(baudRate = 115200): PtyPorts {
  const ports: PtyPorts = {};
  before(function () { needTool(this, 'socat'); });
  beforeEach(async () => {
    const ptys = await openPtyPair();
    ports.ptys = ptys;
    ports.host = createLinuxSerialPort({ path: ptys.hostPath, baudRate });
    ports.device = createLinuxSerialPort({ path: ptys.devicePath, baudRate });
    await ports.host.open();
    await ports.device.open();
  });
  afterEach(async () => {
    await ports.host?.close().catch(() => undefined);
    await ports.device?.close().catch(() => undefined);
    await ports.ptys?.close();
  });
  return ports;
}
