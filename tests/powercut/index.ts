/**
 * Power-cut simulator (tests only). A SIGKILL is not a power cut: the page cache survives it.
 * One run of a workload is traced with strace (every byte written, its file and offset, every
 * fsync/fdatasync and O_DSYNC write, in completion order); then, for any crash point (an index
 * into that event list), the files are rebuilt as a disk could hold them after the power failed.
 *
 *   before(function () { needTool(this, 'strace'); });                  // tests/support/tools
 *   const run = await recordRun({ workload: { script: 'tests/x/workload.ts', args: ['{dir}', '50'] } });
 *   // The workload writes under '{dir}' (also env POWERCUT_DIR) and prints `ACK <id>\n` on
 *   // stdout, in one write, once <id> is durable to its caller (a sale "done").
 *   const points = mixedCrashPoints(run, { random: 100, seed: 1 });       // drop + torn states
 *   const summary = await checkCrashStates(run, points, { checker: { script: 'tests/x/check.ts' } });
 *   assert.equal(summary.failed.filter((r) => r.acked > 0).length, 0);
 *   // ... and a positive control (the same workload made unsafe) must FAIL the same check.
 *
 * The checker script calls `serveChecks(async ({ dir, acked }) => ({ ok, missing }))`: it opens
 * the state in `dir` as after a reboot (lmdb: safeRestore) and looks for every acked id. It runs
 * in a child process (restarted if a state crashes it: that state counts as failed).
 * Crash points: run.barrierPoints(), run.ackPoints(), run.randomPoints(n, seed),
 * run.interestingPoints(), or any { index, mode, seed }. Modes: 'drop' (unsynced writes lost),
 * 'torn' (each 4096-byte page, and the size, at a seeded random moment since its durable floor),
 * 'keep' (page cache kept: what a SIGKILL leaves). Lower level: run.stateAt(index, { torn, seed })
 * writes one state to a new directory; run.filesAt, run.ackedBefore(index), run.stats() (barrier
 * counts), run.replayMismatches() (the trace must replay into the files the run left);
 * recordRun({ extraStraceArgs: ['-e', 'inject=fdatasync:delay_exit=30000'] }) slows flushes.
 * .ts workloads and checkers run transpiled to JavaScript (compile.ts). Examples: powercut.test.ts
 * (raw lmdb), journal-powercut.test.ts (storage/journal.ts).
 * Limits: one traced process (threads fine); directory entries assumed durable; renames,
 * unlinks and mmap writes of modelled files are refused; lock.mdb is left out of states.
 */
export { recordRun, checkCrashStates, mixedCrashPoints, PowerCutRun, defaultOmit } from './simulator';
export type { WorkloadSpec, RecordOptions, Ack, CrashPoint, RunStats, StateResult, CheckSummary, CheckStatesOptions } from './simulator';
export { DiskModel, PAGE_SIZE, mulberry32, hashSeed, writeFilesUnder, UnsupportedTraceError } from '../../sim/disk-model';
export type { CrashMode, CrashStateOptions, DiskModelOptions } from '../../sim/disk-model';
export { runUnderStrace, parseStraceTrace, parseSyscalls, parseSyscallLines, readLinesSync, eventsFromSyscalls, readTraceFile, straceArgs, TRACED_SYSCALLS, StraceParseError } from './strace-trace';
export type { TraceEvent, WriteEvent, BarrierEvent, AckEvent, OpenEvent, TruncateEvent, EventOptions, RunUnderStraceOptions, RunUnderStraceResult } from './strace-trace';
export { serveChecks, CheckerProcess } from './checker-host';
export { compiledScript, nodeCommandFor } from './compile';
export type { CheckRequest, CheckVerdict, CheckerSpec } from './checker-host';
