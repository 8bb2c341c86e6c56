/**
 * The simulator board built as a real board would be when one serial device's port cannot be
 * opened (a module unplugged, a wrong tty in the board file): every other device is attached and
 * built through the real buildBoard, that one role's port open fails with ENOENT.
 */
import { PosError } from '../../common/errors';
import { BusFactories, buildBoard, readBoardFile } from '../../hal/board';
import { SimBoard, simFactories } from '../../sim/board-sim';

export async function simBoardWithUnopenablePort(role: string): Promise<SimBoard> {
  const { file, config } = readBoardFile('sim');
  const sim = new SimBoard(file, config, {});
  for (const [name, dc] of Object.entries(config.devices)) await sim.attach(name, dc);
  const buses = simFactories(sim);
  const factories: BusFactories = {
    ...buses,
    serial: (name, device) => name === role
      ? Promise.reject(new PosError('BRD_DEVICE_ABSENT', `cannot open ${device.port}: ENOENT`, { path: device.port }))
      : buses.serial(name, device),
  };
  sim.board = await buildBoard(file, config, factories);
  return sim;
}
