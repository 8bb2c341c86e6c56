/**
 * The unpacker and the response validator face bytes from the network: 100k frames mutated
 * from valid ones by a seeded PRNG must each end in a result or a PosError, never another
 * exception, and the whole run must finish (no input makes the parser loop).
 */
import { strict as assert } from 'node:assert';
import { PosError } from '../../common/errors';
import { REQUEST_TYPES } from '../../runtime/host/fields';
import { unpackFrame } from '../../runtime/host/packager';
import {
  Request, decodeResponse, encodeRequest, parseFinancialResponse, parseSettlementResponse, parseSignOnResponse,
} from '../../runtime/host/messages';
import { AcquirerSimulator } from '../../sim/host/simulator';
import { everyRequest, profile, prng, seededBytes, TMK } from './fixtures';

const MUTATIONS = 100_000;
const SEED = 20250102;
/** Generous: the run takes about a second; a parser that loops would blow far past this. */
const RUN_MS_MAX = 20_000;

type Mutator = (f: Buffer, rand: () => number) => Buffer;

const int = (rand: () => number, n: number): number => Math.floor(rand() * n);

const MUTATORS: Mutator[] = [
  (f, r) => { const g = Buffer.from(f); g[int(r, g.length)] ^= 1 << int(r, 8); return g; },
  (f, r) => { const g = Buffer.from(f); g[int(r, g.length)] = int(r, 256); return g; },
  (f, r) => f.subarray(0, int(r, f.length)),
  (f, r) => Buffer.concat([f, Buffer.from(Array.from({ length: 1 + int(r, 8) }, () => int(r, 256)))]),
  (f, r) => { const g = Buffer.from(f); g.writeUInt16BE(int(r, 65536), 0); return g; },
  (f, r) => { // fix the length prefix after a change so the body parser is reached
    const g = Buffer.from(f); g[15 + int(r, Math.max(1, g.length - 15))] = int(r, 256); g.writeUInt16BE(g.length - 2, 0); return g;
  },
  (f, r) => { const g = Buffer.from(f); g[15 + int(r, 8)] ^= 1 << int(r, 8); return g; }, // bitmap
  (f, r) => { const at = int(r, f.length); const g = Buffer.concat([f.subarray(0, at), f.subarray(at + 1 + int(r, 4))]); g.writeUInt16BE(Math.max(0, g.length - 2), 0); return g; },
];

/** Valid frames of every kind: each request, and the simulator's answer to each. */
function corpus(): Array<{ frame: Buffer; req?: Request }> {
  const sim = new AcquirerSimulator({ randomBytes: seededBytes(7), clock: () => Date.UTC(2026, 10, 21, 2) });
  const out: Array<{ frame: Buffer; req?: Request }> = [];
  const signOn = everyRequest().signOn;
  const signOnAnswer = sim.handle(encodeRequest(profile, signOn))!;
  out.push({ frame: signOnAnswer.bytes, req: signOn });
  const mak = sim.workingKeys('12345678')!.mak;
  const all = everyRequest();
  for (const type of REQUEST_TYPES) {
    const bytes = encodeRequest(profile, all[type], { mak });
    out.push({ frame: bytes });
    out.push({ frame: sim.handle(bytes)!.bytes, req: all[type] });
  }
  return out;
}

describe('host unpacker fuzz', () => {
  it('hundredThousandMutatedFramesRaiseOnlyPosErrorsAndNeverHang', function () {
    this.timeout(RUN_MS_MAX + 5000);
    const rand = prng(SEED);
    const base = corpus();
    const counts = new Map<string, number>();
    const started = Date.now();
    for (let i = 0; i < MUTATIONS; i++) {
      const { frame, req } = base[int(rand, base.length)];
      const mutated = MUTATORS[int(rand, MUTATORS.length)](frame, rand);
      let outcome = 'ok';
      try {
        unpackFrame(profile, mutated);
        if (req !== undefined) {
          if (req.type === 'signOn') parseSignOnResponse(profile, req, mutated, TMK);
          else if (req.type === 'settlement') parseSettlementResponse(profile, req, mutated);
          else if (profile.messages[req.type].financial) parseFinancialResponse(profile, req, mutated, { mak: Buffer.alloc(16) });
          else decodeResponse(profile, req, mutated, { mak: Buffer.alloc(16) });
        }
      } catch (e) {
        if (!(e instanceof PosError) || e.kind === 'invariant') {
          assert.fail(`mutation ${i} escaped as ${String(e)}; frame ${mutated.toString('hex')}`);
        }
        outcome = e.id;
      }
      counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
    }
    const elapsedMs = Date.now() - started;
    assert.ok(elapsedMs < RUN_MS_MAX, `took ${elapsedMs} ms`);
    assert.ok((counts.get('HOST_MALFORMED') ?? 0) > MUTATIONS / 2, JSON.stringify([...counts]));
    if (process.env.FUZZ_REPORT) process.stderr.write(`fuzz outcomes: ${JSON.stringify([...counts])}\n`);
  });
});
