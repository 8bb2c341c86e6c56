/**
 * Injected randomness (DESIGN.md rule 9): production uses the OS; a seeded simulation uses a
 * deterministic generator so a day of trading replays exactly from its seed. The seeded one is
 * NOT cryptographic: simulator and tests only.
 */
import { randomBytes as cryptoRandomBytes } from 'node:crypto';
import { RandomBytes } from './device-key';

export const osRandom: RandomBytes = (n) => cryptoRandomBytes(n);

/** xorshift128+ seeded from a 32-bit integer: the same seed gives the same bytes. */
export function seededRandom(seed: number): RandomBytes {
  let s0 = (seed ^ 0x9e3779b9) >>> 0 || 1;
  let s1 = (seed * 0x85ebca6b) >>> 0 || 2;
  let s2 = 0x27d4eb2f, s3 = 0x165667b1;
  const next = (): number => {
    const t = s0 ^ (s0 << 11);
    s0 = s1; s1 = s2; s2 = s3;
    s3 = (s3 ^ (s3 >>> 19) ^ t ^ (t >>> 8)) >>> 0;
    return s3;
  };
  for (let i = 0; i < 16; i++) next();
  return (n) => {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = next() & 0xff;
    return out;
  };
}
