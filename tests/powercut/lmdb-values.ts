/** The value the raw lmdb workload stores under key n (checked byte for byte after a crash). */
export function lmdbValue(n: number, bytes: number): string {
  const head = `record-${n}:`;
  return (head + '#'.repeat(Math.max(0, bytes - head.length))).slice(0, Math.max(bytes, head.length));
}
