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
  /** The first seq that could not be recovered (missing or unlinked), if any records follow it. */
  readonly firstMissingSeq?: number;
  readonly outDir: string;
  readonly orphansFile?: string;
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
export async function salvage(sourceDir: string, outDir: string, identityHint?: string): Promise<SalvageReport> {
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
  return {
    identity, candidates: [...bySeq.values()].reduce((n, c) => n + c.length, 0),
    recoveredCount: chain.length, recoveredLastSeq: chain.length,
    orphanRanges: ranges([...new Set(orphans.map((o) => o.seq))]), orphanCount: orphans.length,
    conflictingSeqs: [...bySeq.entries()].filter(([, c]) => c.length > 1).map(([s]) => s),
    firstMissingSeq: maxSeq > chain.length ? chain.length + 1 : undefined,
    outDir, orphansFile,
  };
}
