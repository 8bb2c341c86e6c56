/**
 * Structured logs (pino). Rule 8 of DESIGN.md: nothing sensitive in a log line. The redaction
 * below is a second line of defence; callers pass masked PANs (`maskPan`) and never pass track
 * data, PINs or PIN blocks at all.
 */
import pino, { Logger, DestinationStream } from 'pino';

export type { Logger };

const REDACT_PATHS = [
  'pan', '*.pan', 'track2', '*.track2', 'track3', '*.track3', 'pin', '*.pin', 'pinBlock', '*.pinBlock',
  'cvv', '*.cvv', 'tmk', '*.tmk', 'passphrase', '*.passphrase', 'password', '*.password',
];

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** `LOG_LEVEL` when it names a pino level (a mistyped one is ignored, not fatal), else the default. */
export function logLevel(): string {
  const wanted = process.env.LOG_LEVEL;
  if (wanted && LEVELS.has(wanted)) return wanted;
  return process.env.NODE_ENV === 'test' ? 'silent' : 'info';
}

/** Creates the runtime's logger. `LOG_LEVEL` overrides the level; tests pass a destination. */
export function createLogger(name: string, destination?: DestinationStream): Logger {
  const level = logLevel();
  const options = { name, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options, pino.destination(2));
}

/**
 * A logger that writes nothing: the default for library code constructed without one. Its own
 * destination that drops everything: pino's default would open process.stdout at the start
 * (its stream set-up ~13 ms of CPU here, docs/BENCHMARKS.md "Start") only to never write to it.
 */
export const silentLogger: Logger = pino({ level: 'silent' }, { write: (): void => undefined });

/** Masks a PAN for anything a person can see: first 6 and last 4 digits kept. */
export function maskPan(pan: string): string {
  if (pan.length <= 10) return '*'.repeat(pan.length);
  return pan.slice(0, 6) + '*'.repeat(pan.length - 10) + pan.slice(-4);
}
