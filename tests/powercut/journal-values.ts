/** The payload the journal workload appends as record n (checked after a crash). */
export function journalPayload(n: number, padBytes: number): { n: number; pad: string } {
  return { n, pad: `r${n}-`.padEnd(padBytes, '.') };
}
