/**
 * Workload of tests/boot/update-powercut.test.ts, run under strace: installs an update package
 * into the A/B layout at ROOT and switches to it, printing `ACK <step>` (one write each) once a
 * step is durable to its caller:
 *   installed   applyUpdate returned (the technician is told "installed, restart")
 *   trial       the next boot's selectBootSlot chose the new slot for its trial boot
 *   confirmed   confirmSlot after the health check: the new version is the active one
 * MODE "unsafe" is the positive control: the same package written straight into the slot and the
 * pending mark written in place (no temp file, no fsync, no rename), as a naive installer would.
 *   node update-powercut-workload.js MODE ROOT PACKAGE PUBLIC_KEY_HEX BOARD
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { applyUpdate, parsePackage, publicKeyFromHex } from '../../boot/update';
import { confirmSlot, readState, selectBootSlot, slotDir } from '../../boot/update-slots';

const [mode, root, file, publicKeyHex, board] = process.argv.slice(2);
const ack = (id: string): void => { process.stdout.write(`ACK ${id}\n`); };

if (mode === 'safe') {
  applyUpdate({ root, file, publicKeyHex, board, clock: () => 1_000 });
  ack('installed');
  const choice = selectBootSlot(root, { clock: () => 2_000 });
  if (!choice.trial) throw new Error(`the new slot was not chosen for its trial boot: ${JSON.stringify(choice)}`);
  ack('trial');
  const c = confirmSlot(root, () => 3_000);
  if (!c.confirmed) throw new Error(`not confirmed: ${c.reason}`);
  ack('confirmed');
} else if (mode === 'unsafe') {
  const pkg = parsePackage(readFileSync(file), publicKeyFromHex(publicKeyHex));
  const dir = slotDir(root, 'B');
  pkg.manifest.files.forEach((f, i) => { mkdirSync(dirname(join(dir, f.path)), { recursive: true }); writeFileSync(join(dir, f.path), pkg.contents[i]); });
  writeFileSync(join(dir, 'manifest.json'), pkg.manifestBytes);
  writeFileSync(join(dir, 'manifest.sig'), pkg.signature);
  const s = readState(root);
  writeFileSync(join(root, 'state.json'), JSON.stringify({ format: 1, active: s.active, pending: 'B', tries: 0, versions: { ...s.versions, B: pkg.manifest.version } }, null, 1) + '\n');
  ack('installed');
} else {
  throw new Error(`mode ${mode}: safe or unsafe`);
}
