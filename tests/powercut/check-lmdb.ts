/**
 * Checker process for crash states of the raw lmdb workload (see checker-host.ts).
 * Opens the state as LMDB does after a reboot (`safeRestore: true`, the last flushed snapshot)
 * and verifies: every acknowledged key holds its exact value, and the keys present are 1..m
 * without a gap (puts are sequential, so any state is a prefix of them).
 */
import { open, type RootDatabaseOptionsWithPath } from 'lmdb';
import { serveChecks } from './checker-host';
import { lmdbValue } from './lmdb-values';

serveChecks(async (req) => {
  const valueBytes = Number(req.valueBytes ?? 100);
  // safeRestore exists in lmdb-js 3.x (open.js) but not in its type declarations
  // (request field safeRestore: false opens as in the same boot, for the observation test)
  const db = open({ path: req.dir, safeRestore: req.safeRestore !== false } as RootDatabaseOptionsWithPath);
  try {
    const missing: string[] = [];
    for (const id of req.acked) {
      const n = Number(id);
      if (db.get(n) !== lmdbValue(n, valueBytes)) missing.push(id);
    }
    const keys = [...db.getKeys()].map(Number);
    let gap: string | undefined;
    keys.forEach((k, i) => { if (gap === undefined && k !== i + 1) gap = `key ${k} at position ${i + 1}`; });
    return {
      ok: missing.length === 0 && gap === undefined,
      missing: missing.slice(0, 20),
      missingCount: missing.length,
      found: keys.length,
      ...(gap ? { error: `keys not a prefix 1..m: ${gap}` } : {}),
    };
  } finally {
    await db.close();
  }
});
