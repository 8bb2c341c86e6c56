/**
 * One test of the factory hardware test (boot/factory.ts factoryTest) on a fresh simulator board:
 * the whole test runs, as at the station, and the result of the test named is returned.
 */
import { strict as assert } from 'node:assert';
import { Prompts, TestReport, factoryTest } from '../../boot/factory';
import { SimBoard, createSimBoard } from '../../sim/board-sim';

export class FactoryTestRig {
  private sim: SimBoard | undefined;

  /** The result of `name` with the prompts `prompts` makes for the board (`before`: faults set first). */
  async result(name: string, serial: string, prompts: (s: SimBoard) => Prompts, before?: (s: SimBoard) => void): Promise<TestReport['tests'][number]> {
    await this.close();
    const sim = await createSimBoard();
    this.sim = sim;
    before?.(sim);
    const report = await factoryTest(sim.board, { serial, prompts: prompts(sim), keyPressTimeoutMs: 2_000 });
    const t = report.tests.find((x) => x.name === name);
    assert.ok(t, `a test "${name}" in ${report.tests.map((x) => x.name).join(', ')}`);
    return t;
  }

  async close(): Promise<void> {
    await this.sim?.close();
    this.sim = undefined;
  }
}
