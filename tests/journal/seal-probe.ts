/**
 * Run compiled by tests/powercut/compile.ts (as the crash tests' and the benchmark's children
 * are): prints whether storage/record.ts found native/journal_seal.c's addon from there.
 */
import { useNativeSeal } from '../../storage/record';

process.stdout.write(`native seal ${useNativeSeal(true)}\n`);
