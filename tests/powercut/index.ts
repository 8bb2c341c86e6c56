/**
 * Power-cut simulator (tests only). A SIGKILL is not a power cut: the page cache survives it.
 * This records a real run's file writes and flush barriers with strace, then rebuilds the files
 * as a disk could hold them after the power failed at any chosen moment, and checks them.
 *
 * Use from another test (see powercut.test.ts, journal-powercut.test.ts):
 *
 *   before(function () { needTool(this, 'strace'); });            // tests/support/tools
 *   const run = await recordRun({ workload: { script: 'tests/x/my-workload.ts', args: ['{dir}', '50'] } });
 *   // the workload writes its files under argv '{dir}' (also env POWERCUT_DIR) and prints
 *   // `ACK <id>\n` on stdout (one write) once <id> is durable to its caller.
 *   const points = mixedCrashPoints(run, { random: 100, seed: 1 }); // or run.barrierPoints(),
 *   //   run.ackPoints(), run.randomPoints(n, seed), run.interestingPoints(), {index, mode, seed}
 *   const summary = await checkCrashStates(run, points, { checker: { script: 'tests/x/my-check.ts' } });
 *   assert.equal(summary.failed.filter((r) => r.acked > 0).length, 0);
 *   run.dispose();
 *
 * The checker script calls `serveChecks(async ({ dir, acked }) => ({ ok, missing }))`: it opens
 * the state in `dir` as after a reboot (lmdb: safeRestore) and verifies every id in `acked`; it
 * runs in a child process, so a state that crashes the opener is a failed state, not a dead test.
 * Lower level: `run.stateAt(index, { torn, seed })` writes one state to a fresh directory;
 * `run.filesAt(...)` returns its bytes; `run.ackedBefore(index)`; `run.stats()` counts barriers;
 * `run.replayMismatches()` checks the trace replays into the files the run left.
 * Crash modes: 'drop' (unsynced writes lost), 'torn' (each 4096-byte page at a random moment
 * since its last barrier, seeded), 'keep' (page cache kept = what a SIGKILL leaves).
 * Limits: directory entries are assumed durable; mmap writes and renames are refused.
 */
export { recordRun, checkCrashStates, mixedCrashPoints, PowerCutRun, defaultOmit } from './simulator';
export type { WorkloadSpec, RecordOptions, Ack, CrashPoint, RunStats, StateResult, CheckSummary, CheckStatesOptions } from './simulator';
export { DiskModel, PAGE_SIZE, mulberry32, hashSeed, writeFilesUnder, UnsupportedTraceError } from './disk-model';
export type { CrashMode, CrashStateOptions, DiskModelOptions } from './disk-model';
export { runUnderStrace, parseStraceTrace, parseSyscalls, parseSyscallLines, readLinesSync, eventsFromSyscalls, readTraceFile, straceArgs, TRACED_SYSCALLS, StraceParseError } from './strace-trace';
export type { TraceEvent, WriteEvent, BarrierEvent, AckEvent, OpenEvent, TruncateEvent, EventOptions, RunUnderStraceOptions, RunUnderStraceResult } from './strace-trace';
export { serveChecks, CheckerProcess } from './checker-host';
export type { CheckRequest, CheckVerdict, CheckerSpec } from './checker-host';
