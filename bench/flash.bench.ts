/**
 * Flashing station benchmark (npm run bench:flash; issue 15 §2 "8 at once"). Prints figures beside
 * their baseline from the same run; asserts nothing.
 *
 * `pos factory flash` as the station runs it (dist/boot/pos.js, its own process; no boot step),
 * at the real partition sizes (512/768/128 MiB), onto disk image files:
 *   baseline  1 target
 *   serial    8 targets, --concurrency 1 (one after the other: what 8 cost without overlap)
 *   parallel  8 targets, --concurrency 8 (each target's steps in its own worker thread)
 * Each run builds the image once (reported apart: "image") and then flashes; the figure is the
 * wall time from the image's end to the last report ("targets"), read off the reports.
 *
 * Inputs: a release package and base OS made here (a stand-in runtime and BENCH_PAYLOAD_MIB of
 * random bytes in the slot, so slot A, the selector and their read-back carry real data), or the
 * guest tests' real ones: BENCH_FLASH_IMAGE, BENCH_FLASH_PUBLIC_KEY, BENCH_FLASH_ROOTFS.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { FlashReport } from '../boot/factory-flash';
import { tempDir } from '../storage/testing';
import { BOARD, component, standInRelease } from '../tests/boot/flash-fixture';

const REPO = join(__dirname, '..');
const PAYLOAD_MIB = Number(process.env.BENCH_PAYLOAD_MIB ?? 48);
/** One station run may take this long (8 targets one after the other at the real sizes, loaded machine). */
const RUN_MS_MAX = 30 * 60_000;

interface Inputs { image: string; publicKeyHex: string; rootfs: string }

function standInInputs(dir: string): Inputs {
  return standInRelease(dir, (tree) => {
    for (let i = 0; i < PAYLOAD_MIB / 8; i++) writeFileSync(join(tree, `payload-${i}.bin`), randomBytes(8 * 1024 * 1024));
  });
}

interface RunFigure { imageS: number; targetsS: number; perTargetS: number; writeS: number; readbackS: number }

/** One station run of `n` targets at `concurrency`; the figures off its reports. */
function run(inputs: Inputs, dir: string, name: string, n: number, concurrency: number, work = join(dir, name, 'work')): RunFigure {
  const at = join(dir, name);
  mkdirSync(at, { recursive: true });
  const serials = Array.from({ length: n }, (_, i) => `BN-${name.toUpperCase()}-${i + 1}`);
  const manifest = join(at, 'manifest.csv');
  writeFileSync(manifest, ['serial,tid,mid,components', ...serials.map((s, i) => `${s},BN${String(i + 1).padStart(6, '0')},8981234567${String(i + 1).padStart(5, '0')},${component()};${component()}`)].join('\n') + '\n');
  const t0 = Date.now();
  execFileSync(process.execPath, [
    join(REPO, 'dist', 'boot', 'pos.js'), 'factory', 'flash', '--image', inputs.image, '--rootfs', inputs.rootfs, '--board', BOARD,
    '--public-key', inputs.publicKeyHex, '--concurrency', String(concurrency), `--targets=${serials.map((s) => join(at, `${s}.img`)).join(',')}`,
    `--manifest=${manifest}`, '--report-dir', join(at, 'reports'), '--work-dir', work,
  ], { stdio: ['ignore', 'ignore', 'inherit'], timeout: RUN_MS_MAX });
  const total = Date.now() - t0;
  const reports = serials.map((s) => JSON.parse(readFileSync(join(at, 'reports', `${s}.flash.json`), 'utf8')) as FlashReport);
  const failed = reports.filter((r) => !r.pass);
  if (failed.length) throw new Error(`${name}: ${failed.map((r) => `${r.serial} ${JSON.stringify(r.errors)}`).join('; ')}`);
  const first = Math.min(...reports.map((r) => Date.parse(r.startedAt)));
  const last = Math.max(...reports.map((r) => Date.parse(r.finishedAt)));
  const stepS = (step: string): number => reports.reduce((a, r) => a + (r.steps.find((s) => s.name === step)?.ms ?? 0), 0) / reports.length / 1000;
  rmSync(at, { recursive: true, force: true });
  const targetsS = (last - first) / 1000;
  return { imageS: total / 1000 - targetsS, targetsS, perTargetS: reports.reduce((a, r) => a + r.ms, 0) / reports.length / 1000, writeS: stepS('write'), readbackS: stepS('readback') };
}

function line(name: string, f: RunFigure, base?: RunFigure): string {
  const vs = base ? `  (${(f.targetsS / base.targetsS).toFixed(2)}× the 1-target time)` : '';
  return `${name.padEnd(34)} image ${f.imageS.toFixed(1)} s, targets ${f.targetsS.toFixed(1)} s${vs}; each target ${f.perTargetS.toFixed(1)} s (write ${f.writeS.toFixed(1)} s, read-back ${f.readbackS.toFixed(1)} s)`;
}

function main(): void {
  const dir = tempDir('pos-bench-flash-');
  try {
    const inputs: Inputs = process.env.BENCH_FLASH_IMAGE
      ? { image: process.env.BENCH_FLASH_IMAGE, publicKeyHex: process.env.BENCH_FLASH_PUBLIC_KEY ?? '', rootfs: process.env.BENCH_FLASH_ROOTFS ?? '' }
      : standInInputs(dir);
    process.stdout.write(`flash bench: ${cpus().length} cores, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} at start; ${process.env.BENCH_FLASH_IMAGE ? `image ${inputs.image}` : `stand-in image with ${PAYLOAD_MIB} MiB of payload`}, sizes 512/768/128 MiB\n`);
    const one = run(inputs, dir, 'one', 1, 1, join(dir, 'kept-work'));
    process.stdout.write(`${line('baseline: 1 target', one)}\n`);
    // The same inputs and work folder again: the image the first run built is reused (boot/flash/golden-cache.ts).
    const again = run(inputs, dir, 'again', 1, 1, join(dir, 'kept-work'));
    process.stdout.write(`${line('1 target, image kept from the run before', again, one)}; image ${(again.imageS / one.imageS).toFixed(2)}× the baseline's\n`);
    const serial = run(inputs, dir, 'serial', 8, 1);
    process.stdout.write(`${line('8 targets, --concurrency 1', serial, one)}\n`);
    const parallel = run(inputs, dir, 'parallel', 8, 8);
    process.stdout.write(`${line('8 targets, --concurrency 8', parallel, one)}\n`);
    process.stdout.write(`speed-up of 8 at once over 8 one after the other: ${(serial.targetsS / parallel.targetsS).toFixed(2)}×; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} at the end\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
