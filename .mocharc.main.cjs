// The main suite's mocha settings (`npm test`): .mocharc.json's (what `npx mocha FILE` and the
// guest suite use) plus every test file outside tests/guest/, longest files first, in parallel
// jobs (a process each, a file at a time) on a machine with cores to spare: one core less than it
// has, at most JOBS_DEFAULT_MAX; with one job the files run in mocha's own process as before.
// Measured on the 2-core CI machine (session 19): two jobs alone 767 -> 583 s, but beside the
// guest suite (`.ci/run`) the whole run took longer (1,174 s against 1,062-1,107): both cores were
// already busy, and the second job's ts-node compiling and the contention cost more than it won.
// POS_TEST_JOBS=N sets the jobs.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const base = JSON.parse(fs.readFileSync(path.join(__dirname, '.mocharc.json'), 'utf8'));
const ROOTS = ['boot', 'common', 'hal', 'runtime', 'sim', 'storage', 'ui-lcd', 'tests'];
const SKIPPED_DIRS = new Set(['tests/guest', 'node_modules']);
/** At most this many jobs by default (more files at once, more tests' timing under load). */
const JOBS_DEFAULT_MAX = 4;
/**
 * Files of more than about 10 s (wall clock, run alone on a 2-core machine; session 19, reordered
 * after the test-time cuts of the next session: one serial run, 868 s), longest first; a file not
 * listed runs after these in path order. A renamed or removed file is skipped. The e2e files moved
 * or dropped after their terminal child got the tests' timings (tests/e2e/driver.ts
 * E2E_TEST_TIMINGS; tests/e2e in one run, loaded machine: recovery-menu 31 -> 22 s, diagnostics
 * 40 -> 18 s; card-reader-faults, operator-entry, critical-battery and trading-day 7-9 s now).
 */
const LONGEST_FIRST = [
  'tests/simulation/simulation.test.ts',
  'tests/powercut/journal-powercut.test.ts',
  'tests/boot/factory-flash.test.ts',
  'tests/boot/image-build.test.ts',
  'tests/powercut/powercut.test.ts',
  'tests/crash/sigkill.test.ts',
  'tests/boot/factory-station-boards.test.ts',
  'tests/time/calendar-moved.test.ts',
  'tests/e2e/recovery-menu.test.ts',
  'tests/boot/recovery.test.ts',
  'tests/e2e/diagnostics.test.ts',
  'tests/hal/fuzz.test.ts',
  'storage/verify-child.test.ts',
  'tests/boot/factory-flash-blockdev.test.ts',
  'tests/journal/corruption-sweep.test.ts',
  'tests/boot/stuck-key-notice.test.ts',
  'tests/boot/self-test-notice.test.ts',
];

function testFiles(rel) {
  const out = [];
  for (const entry of fs.readdirSync(path.join(__dirname, rel), { withFileTypes: true })) {
    const child = `${rel}/${entry.name}`;
    if (entry.isDirectory()) {
      if (!SKIPPED_DIRS.has(child)) out.push(...testFiles(child));
    } else if (entry.name.endsWith('.test.ts')) {
      out.push(child);
    }
  }
  return out;
}

const all = ROOTS.flatMap(testFiles).sort();
const first = LONGEST_FIRST.filter((f) => all.includes(f));
const jobsAsked = Number(process.env.POS_TEST_JOBS);
const jobs = Number.isInteger(jobsAsked) && jobsAsked >= 1 ? jobsAsked : Math.max(1, Math.min(JOBS_DEFAULT_MAX, os.cpus().length - 1));

module.exports = {
  ...base,
  ...(jobs > 1 ? { parallel: true, jobs } : {}),
  spec: [...first, ...all.filter((f) => !first.includes(f))],
};
