/**
 * Salvage (storage/JOURNAL_FORMAT.md, "Salvage"): when LMDB will not open data.mdb, scan the raw
 * bytes for framed records with valid checksums and rebuild a journal from the longest prefix
 * that chains from the identity's genesis. Every other intact record is written, as stored, to
 * orphans.bin and reported by seq range. Nothing found is dropped unreported.
 */
import { WAL_HEADER_BYTES, decodeHeader, readWalFile } from './wal';
import { readFileSync, existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PosError } from '../common/errors';
import { HEADER_BYTES, MAGIC, PAYLOAD_BYTES_MAX, checkFrame, decodePayload, genesisDigest, prevDigestOf, recordDigest, RecordType } from './record';
import { StoredEntry } from './verify';
import { writeDurably, writeEntries } from './backup';

export interface SalvageReport {
  readonly identity: string;
  readonly candidates: number;
  readonly recoveredCount: number;
  readonly recoveredLastSeq: number;
  /** Intact records that could not be chained, as seq ranges like "120-131". */
  readonly orphanRanges: string[];
  readonly orphanCount: number;
  /** Seqs with more than one differing intact copy. */
  readonly conflictingSeqs: number[];
  /**
   * The first seq that could not be recovered (missing or unlinked), when intact records follow
   * it, or when the source's verify found a record there or later damaged (SalvageOptions
   * damagedSeq: a damaged last record has nothing intact after it, and is lost all the same).
   */
  readonly firstMissingSeq?: number;
  readonly outDir: string;
  readonly orphansFile?: string;
  /**
   * Money work that was owed in the records set aside (not chained, so not in the rebuilt
   * journal, which will not do it), and work the rebuilt journal will do that records set aside
   * say was done: a person must check these with the acquirer (`owedSetAside`).
   */
  readonly owed: OwedWork[];
}

/**
 * A reversal, advice, script notice or QR query found in the salvaged file. `state`: `set-aside`:
 * owed in a record that was not chained (the rebuilt journal does not know of it: a card may have
 * been charged and never reversed, an offline sale never reach the host); `done-set-aside`: owed in
 * the rebuilt journal, but a record set aside says it was done (the rebuilt journal will send it
 * again: a reversal of a sale that may have been approved).
 */
export interface OwedWork {
  readonly kind: 'reversal' | 'advice' | 'script-notice' | 'qr-query';
  readonly stan: number;
  readonly amountFen?: number;
  readonly panMasked?: string;
  readonly state: 'set-aside' | 'done-set-aside';
}

/** Finds every intact framed record in raw bytes, by seq (distinct copies only). */
export function scanRecords(raw: Buffer): Map<number, Buffer[]> {
  const bySeq = new Map<number, Buffer[]>();
  const magic = Buffer.alloc(4);
  magic.writeUInt32BE(MAGIC);
  for (let at = raw.indexOf(magic); at >= 0; at = raw.indexOf(magic, at + 1)) {
    if (at + HEADER_BYTES > raw.length) break;
    const length = raw.readUInt32BE(at + 16);
    if (length > PAYLOAD_BYTES_MAX || at + HEADER_BYTES + length > raw.length) continue;
    const stored = raw.subarray(at, at + HEADER_BYTES + length);
    const frame = checkFrame(stored);
    if ('fault' in frame) continue;
    const copies = bySeq.get(frame.header.seq) ?? [];
    if (!copies.some((c) => c.equals(stored))) copies.push(Buffer.from(stored));
    bySeq.set(frame.header.seq, copies);
  }
  return bySeq;
}

/**
 * The write-ahead log's frames are the same framed records, found by the same scan: the records
 * not yet checkpointed into data.mdb are there. Only those above the log header's baseSeq (all
 * of them when the header is unreadable): the ones at or below it are an earlier cycle's copies
 * of what data.mdb held, and what data.mdb lost is never made good from a stale copy (as at open).
 */
function addWalRecords(bySeq: Map<number, Buffer[]>, dir: string): void {
  const raw = readWalFile(dir);
  if (raw.length <= WAL_HEADER_BYTES) return;
  const header = decodeHeader(raw);
  const baseSeq = typeof header === 'string' ? 0 : header.baseSeq;
  for (const [seq, copies] of scanRecords(raw.subarray(WAL_HEADER_BYTES))) {
    if (seq <= baseSeq) continue;
    const known = bySeq.get(seq) ?? [];
    for (const c of copies) if (!known.some((k) => k.equals(c))) known.push(c);
    bySeq.set(seq, known);
  }
}

function identityFrom(bySeq: Map<number, Buffer[]>): string | undefined {
  for (const stored of bySeq.get(1) ?? []) {
    if (stored.readUInt8(5) !== RecordType.journalCreated) continue;
    const id = decodePayload(stored).identity;
    if (typeof id === 'string' && id.length > 0) return id;
  }
  return undefined;
}

/** Takes records in seq order from the genesis while each links to the one before. */
export function chainPrefix(bySeq: Map<number, Buffer[]>, identity: string): StoredEntry[] {
  const chain: StoredEntry[] = [];
  let prev = genesisDigest(identity);
  for (let seq = 1; ; seq++) {
    const next = (bySeq.get(seq) ?? []).find((c) => prevDigestOf(c).equals(prev));
    if (!next) return chain;
    chain.push({ key: seq, stored: next });
    prev = recordDigest(next);
  }
}

function ranges(seqs: number[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < seqs.length; ) {
    let j = i;
    while (j + 1 < seqs.length && seqs[j + 1] === seqs[j] + 1) j++;
    out.push(i === j ? `${seqs[i]}` : `${seqs[i]}-${seqs[j]}`);
    i = j + 1;
  }
  return out;
}

/** Why `outDir` cannot take a salvaged journal (it must be a new or empty folder), or undefined. */
export function salvageTargetProblem(outDir: string): string | undefined {
  if (!existsSync(outDir)) return undefined;
  if (!statSync(outDir).isDirectory()) return 'is not a folder';
  return readdirSync(outDir).length > 0 ? 'is not empty' : undefined;
}

/**
 * Salvages `sourceDir/data.mdb` into `outDir` (which must be empty or absent). Throws E-STO-10
 * when the file holds no intact record at all; when none chains from the genesis (record 1
 * lost), no journal is written, `recoveredCount` is 0 and every intact record is an orphan.
 */
export interface SalvageOptions {
  /**
   * The first record the source's verify found damaged (storage/verify-child.ts), when it ran:
   * the scan finds intact records only, so without it a damaged last record, which nothing intact
   * follows, would go unmentioned ("nothing lost").
   */
  readonly damagedSeq?: number;
}

export async function salvage(sourceDir: string, outDir: string, identityHint?: string, options: SalvageOptions = {}): Promise<SalvageReport> {
  const problem = salvageTargetProblem(outDir);
  if (problem) throw new PosError('STO_EXPORT_TARGET', `salvage target ${outDir} ${problem}`, { outDir });
  const bySeq = scanRecords(readFileSync(join(sourceDir, 'data.mdb')));
  addWalRecords(bySeq, sourceDir);
  const identity = identityHint ?? identityFrom(bySeq);
  if (!identity) throw new PosError('STO_SALVAGE_NONE', `${sourceDir}: no intact journal-created record and no identity given (--identity)`);
  if (bySeq.size === 0) throw new PosError('STO_SALVAGE_NONE', `${sourceDir}: no intact record found in data.mdb`);
  const chain = chainPrefix(bySeq, identity);
  // With record 1 lost nothing can be proved, but every intact record still goes to orphans.bin.
  if (chain.length > 0) await writeEntries(outDir, chain);
  const inChain = new Set(chain.map((e) => e.stored));
  const orphans = [...bySeq.entries()].flatMap(([seq, copies]) => copies.filter((c) => !inChain.has(c)).map((c) => ({ seq, c }))).sort((a, b) => a.seq - b.seq);
  let orphansFile: string | undefined;
  if (orphans.length > 0) {
    orphansFile = join(outDir, 'orphans.bin');
    writeDurably(orphansFile, Buffer.concat(orphans.map((o) => o.c)));
  }
  const maxSeq = Math.max(0, ...bySeq.keys());
  const owed = owedSetAside(chain.map((e) => e.stored), orphans.map((o) => o.c));
  return {
    identity, candidates: [...bySeq.values()].reduce((n, c) => n + c.length, 0),
    recoveredCount: chain.length, recoveredLastSeq: chain.length,
    orphanRanges: ranges([...new Set(orphans.map((o) => o.seq))]), orphanCount: orphans.length,
    conflictingSeqs: [...bySeq.entries()].filter(([, c]) => c.length > 1).map(([s]) => s),
    firstMissingSeq: Math.max(maxSeq, options.damagedSeq ?? 0) > chain.length ? chain.length + 1 : undefined,
    outDir, orphansFile, owed,
  };
}

/** Record types that make money work owed, and those that end it, by kind. */
const OWING: ReadonlyArray<{ kind: OwedWork['kind']; owes: number; ends: number }> = [
  { kind: 'reversal', owes: RecordType.reversalPending, ends: RecordType.reversalCleared },
  { kind: 'script-notice', owes: RecordType.scriptNoticePending, ends: RecordType.scriptNoticeCleared },
  { kind: 'qr-query', owes: RecordType.qrQueryPending, ends: RecordType.qrQueryCleared },
];

/** What an intact record says about owed work: [kind, stan, owes or ends]. */
function owingOf(type: number, p: Record<string, unknown>): { kind: OwedWork['kind']; stan: number; owes: boolean } | undefined {
  if (typeof p.stan !== 'number') return undefined;
  for (const o of OWING) {
    if (type === o.owes) return { kind: o.kind, stan: p.stan, owes: true };
    if (type === o.ends) return { kind: o.kind, stan: p.stan, owes: false };
  }
  // An offline approval owes its advice until the host took it, refused it, or it was given up.
  if (type === RecordType.txnResult && p.outcome === 'offline') return { kind: 'advice', stan: p.stan, owes: true };
  if (type === RecordType.adviceResult && (p.state === 'sent' || p.state === 'rejected' || p.state === 'abandoned')) return { kind: 'advice', stan: p.stan, owes: false };
  return undefined;
}

/**
 * Owed work the salvage cannot carry: owed in records set aside and ended nowhere, or owed in the
 * chain and ended only in records set aside. Records are intact frames (checksums valid) whose
 * payloads are read for this report only; nothing here is acted on.
 */
export function owedSetAside(chain: readonly Buffer[], setAside: readonly Buffer[]): OwedWork[] {
  const read = (stored: Buffer, chained: boolean) => {
    try {
      const p = decodePayload(stored) as Record<string, unknown>;
      return { type: stored[5], p, chained };
    } catch {
      return undefined; // an intact frame whose CBOR does not decode says nothing
    }
  };
  const all = [...chain.map((b) => read(b, true)), ...setAside.map((b) => read(b, false))].filter((r) => r !== undefined);
  const key = (kind: string, stan: number): string => `${kind}/${stan}`;
  const ended = new Map<string, { chained: boolean }>();
  const amounts = new Map<number, { amountFen?: number; panMasked?: string }>();
  for (const r of all) {
    const o = owingOf(r.type, r.p);
    if (o && !o.owes && !ended.get(key(o.kind, o.stan))?.chained) ended.set(key(o.kind, o.stan), { chained: r.chained });
    if (r.type === RecordType.txnBegin && typeof r.p.stan === 'number') {
      amounts.set(r.p.stan, { amountFen: typeof r.p.amountFen === 'number' ? r.p.amountFen : undefined, panMasked: typeof r.p.panMasked === 'string' ? r.p.panMasked : undefined });
    }
  }
  const out = new Map<string, OwedWork>();
  for (const r of all) {
    const o = owingOf(r.type, r.p);
    if (!o?.owes) continue;
    const end = ended.get(key(o.kind, o.stan));
    // Done in a record set aside: only a reversal does harm when the rebuilt journal does it again
    // (a sale that may have been approved is reversed); an advice, notice or query sent again is
    // answered as a duplicate or as the status it already has.
    const state = !r.chained && end === undefined ? 'set-aside'
      : o.kind === 'reversal' && r.chained && end !== undefined && !end.chained ? 'done-set-aside' : undefined;
    if (!state || out.has(key(o.kind, o.stan))) continue;
    const known = amounts.get(o.stan);
    const amountFen = typeof r.p.amountFen === 'number' ? r.p.amountFen : known?.amountFen;
    const panMasked = typeof r.p.panMasked === 'string' && r.p.panMasked !== '' ? r.p.panMasked : known?.panMasked;
    out.set(key(o.kind, o.stan), { kind: o.kind, stan: o.stan, ...(amountFen !== undefined ? { amountFen } : {}), ...(panMasked ? { panMasked } : {}), state });
  }
  return [...out.values()].sort((a, b) => a.stan - b.stan);
}
