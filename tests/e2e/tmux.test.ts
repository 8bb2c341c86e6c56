/**
 * As a person would: the launcher (`npm start`'s compiled entry, interactive front panel) in a
 * tmux session, keys typed into it, the pane read back. One sale: cashier login, amount, swipe,
 * customer copy, signature; the panel shows the screens' text and the paper roll.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { needTool } from '../support/tools';
import { tempDir, removeDir } from '../../storage/testing';

const REPO = join(__dirname, '..', '..');
const SESSION = `pos-e2e-${process.pid}`;
export const PANE_WAIT_MS_MAX = 20_000;

function tmux(...args: string[]): string {
  return execFileSync('tmux', args, { encoding: 'utf8' });
}

/** Waits until the pane shows `pattern`; the pane on failure. */
async function seen(pattern: RegExp, timeoutMs = PANE_WAIT_MS_MAX): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let pane = '';
  while (Date.now() < deadline) {
    pane = tmux('capture-pane', '-p', '-t', SESSION);
    if (pattern.test(pane)) return pane;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`pane never showed ${pattern}:\n${pane}`);
}

describe('e2e: the front panel under tmux, as a person uses it', function () {
  this.timeout(90_000);
  let dir: string;

  before(function () {
    needTool(this, 'tmux');
  });
  after(() => {
    spawnSync('tmux', ['kill-session', '-t', SESSION], { stdio: 'ignore' });
    if (dir) removeDir(dir);
  });

  it('one sale: login 01/0000, amount, OK, swipe (s), customer copy, signature: receipt on the paper roll, back at idle', async () => {
    dir = tempDir('pos-e2e-tmux-');
    // Compiled entry when dist/ is built (npm start builds it), else the same file under ts-node.
    const compiled = join(REPO, 'dist', 'boot', 'start.js');
    const entry = existsSync(compiled) ? `node ${compiled}` : `node -r ts-node/register/transpile-only ${join(REPO, 'boot', 'start.ts')}`;
    tmux('new-session', '-d', '-s', SESSION, '-x', '140', '-y', '50', '-c', REPO,
      `${entry} --locale en --journal-dir ${join(dir, 'journal')} --backup-dir ${join(dir, 'backup')}`);
    await seen(/screen: Operator login/);
    assert.match(await seen(/operators: 01\/0000 cashier/), /99\/9999 supervisor/);
    tmux('send-keys', '-t', SESSION, '0', '1', 'Enter', '0', '0', '0', '0', 'Enter');
    // Idle's title is the acquirer's merchant name (Chinese: checked in trading-day, not through the pane).
    await seen(/state: "idle"/);
    tmux('send-keys', '-t', SESSION, '1', '2', '3', '4');
    await seen(/screen: .*12\.34[\s\S]*state: "sale\.amount"/);
    tmux('send-keys', '-t', SESSION, 'Enter');
    await seen(/state: "sale\.card"/);
    tmux('send-keys', '-t', SESSION, 's');
    await seen(/screen: .*Customer copy\?[\s\S]*state: "sale\.askCustomerCopy"/);
    tmux('send-keys', '-t', SESSION, '1');
    await seen(/state: "sale\.signature"/);
    tmux('send-keys', '-t', SESSION, 'Enter');
    // The customer copy prints line by line on the pane's paper roll: wait for its amount and card
    // lines too, not only its heading (CI once read the pane between the heading and the amount).
    const pane = await seen(/^(?=[\s\S]*CUSTOMER COPY)(?=[\s\S]*AMOUNT: RMB 12\.34)(?=[\s\S]*CARD: 622202\*+0128)(?=[\s\S]*state: "idle")/);
    assert.match(pane, /AMOUNT: RMB 12\.34/);
    assert.match(pane, /CARD: 622202\*+0128/);
    assert.match(pane, /state: "idle"/);
    tmux('send-keys', '-t', SESSION, 'q');
  });
});
