/**
 * Child for the power-cut test of `applyUpdate`: installs a package and SIGKILLs itself right
 * after durable step number `killAt` (1-based; 0 = never). Prints "done" when it finishes.
 *   node -r ts-node/register update-apply-child.ts ROOT FILE PUBHEX BOARD KILL_AT
 */
import { applyUpdate } from '../../boot/update';

const [root, file, publicKeyHex, board, killAtText] = process.argv.slice(2);
const killAt = Number(killAtText);
let steps = 0;
applyUpdate({
  root, file, publicKeyHex, board,
  onStep: (step, detail) => {
    steps++;
    process.stdout.write(`step ${steps} ${step} ${detail ?? ''}\n`);
    if (steps === killAt) process.kill(process.pid, 'SIGKILL');
  },
});
process.stdout.write('done\n');
