/**
 * Terminal action analysis, EMV 4.3 Book 3 §10.7: the TVR against the issuer action codes (9F0E
 * denial, 9F0F online, 9F0D default, from the card) and the terminal action codes (the AID's
 * parameters from the host) decides what the first GENERATE AC asks for: AAC (decline offline),
 * ARQC (go online) or TC (approve offline). And, when an online transaction could not reach the
 * host, the default action codes decide between TC and AAC.
 */
import { invariant } from '../../common/errors';
import { TVR_BYTES } from './emv-tvr';

export type Cryptogram = 'AAC' | 'ARQC' | 'TC';

export interface ActionCodes {
  readonly denial?: Buffer;
  readonly online?: Buffer;
  readonly default?: Buffer;
}

/** Online capability of the terminal (9F35's second digit: online only, offline with online, offline only). */
export type OnlineCapability = 'online-only' | 'offline-with-online' | 'offline-only';

/** Book 3 §10.7: an absent IAC-Denial counts as all zeros, an absent IAC-Online or IAC-Default as all ones. */
const ALL_ZEROS = Buffer.alloc(TVR_BYTES, 0x00);
const ALL_ONES = Buffer.alloc(TVR_BYTES, 0xff);

function matches(tvr: Buffer, ...codes: Buffer[]): boolean {
  for (let i = 0; i < TVR_BYTES; i++) {
    if (codes.some((c) => (tvr[i] & c[i]) !== 0)) return true;
  }
  return false;
}

function code(c: Buffer | undefined, absent: Buffer): Buffer {
  invariant(c === undefined || c.length === TVR_BYTES, 'action codes are 5 bytes');
  return c ?? absent;
}

/**
 * Book 3 §10.7: a TVR bit in IAC- or TAC-Denial → AAC. Then a terminal that can go online asks for
 * an ARQC when a bit is in IAC- or TAC-Online (an online-only terminal always does); otherwise TC.
 * An offline-only terminal uses the default codes: a bit in IAC- or TAC-Default → AAC, else TC.
 */
export function terminalActionAnalysis(tvr: Buffer, iac: ActionCodes, tac: ActionCodes, capability: OnlineCapability): Cryptogram {
  invariant(tvr.length === TVR_BYTES, 'TVR is 5 bytes');
  if (matches(tvr, code(iac.denial, ALL_ZEROS), code(tac.denial, ALL_ZEROS))) return 'AAC';
  if (capability === 'online-only') return 'ARQC';
  if (capability === 'offline-with-online') return matches(tvr, code(iac.online, ALL_ONES), code(tac.online, ALL_ZEROS)) ? 'ARQC' : 'TC';
  return unableToGoOnline(tvr, iac, tac);
}

/**
 * Book 3 §10.7, "unable to go online": the card asked for online and the host could not be
 * reached; a bit in IAC- or TAC-Default → AAC (decline), else TC (approve offline).
 */
export function unableToGoOnline(tvr: Buffer, iac: ActionCodes, tac: ActionCodes): 'AAC' | 'TC' {
  invariant(tvr.length === TVR_BYTES, 'TVR is 5 bytes');
  return matches(tvr, code(iac.default, ALL_ONES), code(tac.default, ALL_ZEROS)) ? 'AAC' : 'TC';
}
