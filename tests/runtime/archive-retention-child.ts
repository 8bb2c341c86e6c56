/**
 * The archives' budget kept in a process of its own that a power cut stops (tests/runtime/
 * archive-retention.test.ts): `archive-retention-child JOURNAL_DIR BYTES_MAX STEP`. The process
 * kills itself (SIGKILL: no exit handler, no flush) right after STEP of the first removal, as a
 * power cut there would; it prints `DONE` when it got past every step.
 */
import { RemovalStep, enforceArchiveBudget } from '../../runtime/archive';

function main(): void {
  const [journalDir, bytesMax, step] = process.argv.slice(2);
  enforceArchiveBudget(journalDir, {
    bytesMax: Number(bytesMax),
    afterStep: (s: RemovalStep) => { if (s === step) process.kill(process.pid, 'SIGKILL'); },
  });
  process.stdout.write('DONE\n');
}

if (require.main === module) main();
