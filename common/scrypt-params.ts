/**
 * scrypt parameters checked before node sees them. Node 20's crypto.scrypt/scryptSync checks its
 * parameters through OpenSSL and, when they fail, leaves OpenSSL's error on the thread's queue: the
 * process's next unrelated crypto call then fails with that error (createPrivateKey: "memory limit
 * exceeded"; reproduced on node 20.20). Parameters read from a file (an operator record, a backup's
 * header) may be damaged, so every scrypt call of the runtime checks them here first.
 */

/**
 * What is wrong with N, r, p for a table within `maxmemBytes` (OpenSSL's own sum: 128 r (N + 2)
 * for the table and 128 r p for the blocks), or undefined when node will take them.
 */
export function scryptParamsProblem(n: number, r: number, p: number, maxmemBytes: number): string | undefined {
  if (!Number.isInteger(n) || n < 2 || n > 2 ** 30 || (n & (n - 1)) !== 0) return `N ${n} is not a power of two from 2 to 2^30`;
  if (!Number.isInteger(r) || r < 1 || !Number.isInteger(p) || p < 1 || r * p >= 2 ** 30) return `r ${r} and p ${p} must be whole numbers from 1, r x p under 2^30`;
  if (128 * r * (n + 2) + 128 * r * p > maxmemBytes) return `N ${n}, r ${r}, p ${p} need more than ${maxmemBytes} bytes`;
  return undefined;
}
