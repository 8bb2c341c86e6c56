import { strict as assert } from 'node:assert';
import type { Button, ButtonEvent } from '../hal/button';
import { holdResetUntilSeen } from './terminal-main';
import { resetAtBoot } from './terminal-app';

/** A reset button held from power-on: waitHeld answers true after holdMs while it is down. */
class HeldButton implements Button {
  down = true;
  releases = 0;
  private readonly listeners = new Set<(e: ButtonEvent) => void>();
  async start(): Promise<void> {}
  async pressed(): Promise<boolean> { return this.down; }
  heldMs(): number { return 0; }
  waitHeld(holdMs: number): Promise<boolean> {
    if (!this.down) return Promise.resolve(false);
    return new Promise((resolve) => setTimeout(() => resolve(this.down), holdMs));
  }
  onEvent(l: (e: ButtonEvent) => void): () => void { this.listeners.add(l); return () => this.listeners.delete(l); }
  onFault(): () => void { return () => undefined; }
  async close(): Promise<void> {}
  release(): void {
    this.releases += 1;
    this.down = false;
    for (const l of [...this.listeners]) l({ type: 'release', heldMs: 0 });
  }
}

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('terminal-main --hold-reset: the simulated hold lasts until the boot has looked at the button', () => {
  it('a boot that looks at the button late still finds it held and opens recovery (the release follows the look, not the clock)', async () => {
    const button = new HeldButton();
    holdResetUntilSeen(button, () => button.release());
    // The boot is slow (a loaded machine): nothing lets go of the button while it has not looked.
    await tick(60);
    assert.equal(button.releases, 0);
    assert.equal(await button.pressed(), true);
    assert.deepEqual(await resetAtBoot(button, { holdMs: 10, stuckMs: 2_000 }), { recovery: true });
    assert.equal(button.releases, 1);
  });

  it('a button the boot finds not held long enough is not released by the simulation (no recovery, nothing stuck)', async () => {
    const button = new HeldButton();
    holdResetUntilSeen(button, () => button.release());
    button.down = false;
    assert.deepEqual(await resetAtBoot(button, { holdMs: 10, stuckMs: 80 }), { recovery: false });
    await tick(10);
    assert.equal(button.releases, 0);
  });
});
