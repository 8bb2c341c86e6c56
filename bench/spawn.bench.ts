/**
 * npm run bench:spawn: what starting a child costs the terminal's process afterwards (issue 14
 * goal 6; native/process_native.c). node's spawn forks: the kernel write-protects every page of
 * the parent, which then faults on its first write to each one, however soon the child exec'ed.
 * posix_spawn (common/spawn-light.ts) shares the memory until the exec instead.
 *
 * A node process holding a heap like the terminal's at idle (BENCH_SPAWN_HEAP_MB of small objects,
 * default 24: the terminal's anonymous memory is ~25 MB) does, ROUNDS times in turn: nothing
 * (the baseline), node's spawn of /bin/true, spawnLight of /bin/true, and the watchdog's message
 * both ways (systemd-notify through node's execFile, which the runtime ran every 15 s, and the
 * addon's one datagram) to a socket of this process's own; after each, the same work a key does
 * (allocations, a young-generation collection) and a full collection, as the terminal's next
 * seconds would. Prints, per way, the median minor faults and CPU ms of the parent from the start
 * to the end of that work, beside the baseline's.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { processNative, spawnLight } from '../common/spawn-light';
import { removeDir, tempDir } from '../storage/testing';

const HEAP_MB = Number(process.env.BENCH_SPAWN_HEAP_MB ?? 24);
const ROUNDS = Number(process.env.BENCH_SPAWN_ROUNDS ?? 15);

type Way = { name: string; run: () => Promise<void> };

/** ~`mb` MB of live objects shaped like a reducer's state: maps of small records. */
function buildHeap(mb: number): unknown[] {
  const heap: unknown[] = [];
  const perObjectBytes = 120;
  for (let i = 0; i < (mb * 1024 * 1024) / perObjectBytes; i++) heap.push({ stan: i, amountFen: i * 3, rrn: `r${i}`, ok: (i & 1) === 0 });
  return heap;
}

/** What a key's handling does to the heap: allocates, touches live objects, then the collections. */
function keyWork(heap: unknown[]): number {
  let sum = 0;
  for (let i = 0; i < 20_000; i++) sum += JSON.stringify({ i, line: `amount ${i}` }).length;
  for (let i = 0; i < heap.length; i += 64) (heap[i] as { ok: boolean }).ok = !(heap[i] as { ok: boolean }).ok;
  const gc = (globalThis as { gc?: (o?: { type: string }) => void }).gc;
  gc?.({ type: 'minor' });
  gc?.();
  return sum;
}

function exited(child: { on(e: 'close', l: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => { child.on('close', () => resolve()); });
}

async function measure(way: Way, heap: unknown[]): Promise<{ faults: number; cpuMs: number }> {
  const r0 = process.resourceUsage();
  await way.run();
  keyWork(heap);
  const r1 = process.resourceUsage();
  return { faults: r1.minorPageFault - r0.minorPageFault, cpuMs: (r1.userCPUTime + r1.systemCPUTime - r0.userCPUTime - r0.systemCPUTime) / 1000 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  if (typeof (globalThis as { gc?: unknown }).gc !== 'function') throw new Error('run with --expose-gc (npm run bench:spawn does)');
  const native = processNative();
  if (!native) throw new Error('build/Release/process_native.node is not built: npm install');
  const dir = tempDir('bench-spawn-');
  const socketPath = join(dir, 'notify');
  // A reader for the datagrams (python3, as tests/boot/watchdog-notify.test.ts): without one, sendto fails.
  const reader = spawn('python3', ['-c', 'import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nwhile True: s.recv(4096)', socketPath], { stdio: 'ignore' });
  for (let i = 0; i < 100 && !existsSync(socketPath); i++) await new Promise((r) => setTimeout(r, 20));
  const env = { ...process.env, NOTIFY_SOCKET: socketPath };
  const message = [`MAINPID=${process.pid}`, 'WATCHDOG=1', 'STATUS=idle'];
  const ways: Way[] = [
    { name: 'nothing (baseline)', run: async () => undefined },
    { name: "node's spawn of /bin/true", run: () => exited(spawn('/bin/true', [], { stdio: 'ignore' })) },
    { name: 'spawnLight of /bin/true', run: () => exited(spawnLight('/bin/true', [])!) },
    { name: 'watchdog pet: systemd-notify (execFile)', run: () => new Promise((resolve, reject) => execFile('systemd-notify', [`--pid=${process.pid}`, 'WATCHDOG=1', 'STATUS=idle'], { env }, (e) => (e ? reject(e) : resolve()))) },
    { name: 'watchdog pet: one datagram (addon)', run: async () => { native.notify(socketPath, message.join('\n')); } },
  ];
  const heap = buildHeap(HEAP_MB);
  keyWork(heap);
  const results = ways.map(() => ({ faults: [] as number[], cpuMs: [] as number[] }));
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (const [k, way] of ways.entries()) {
        const m = await measure(way, heap);
        results[k].faults.push(m.faults);
        results[k].cpuMs.push(m.cpuMs);
      }
    }
  } finally {
    reader.kill();
    removeDir(dir);
  }
  const lines = [`spawn cost to the parent (issue 14 goal 6): heap of ${HEAP_MB} MB live objects, RSS ${(process.memoryUsage().rss / 1e6).toFixed(1)} MB, ${ROUNDS} rounds in turn, medians of the way + a key's work + a full collection`];
  const base = { faults: median(results[0].faults), cpuMs: median(results[0].cpuMs) };
  for (const [k, way] of ways.entries()) {
    const faults = median(results[k].faults);
    const cpuMs = median(results[k].cpuMs);
    const over = k === 0 ? '' : ` (${faults - base.faults >= 0 ? '+' : ''}${faults - base.faults} faults, ${cpuMs - base.cpuMs >= 0 ? '+' : ''}${(cpuMs - base.cpuMs).toFixed(1)} ms over the baseline)`;
    lines.push(`  ${way.name.padEnd(44)} ${String(faults).padStart(6)} minor faults, ${cpuMs.toFixed(1).padStart(6)} ms CPU${over}`);
  }
  console.log(lines.join('\n'));
}

main().catch((e: unknown) => { console.error(e); process.exit(1); });
