/**
 * Memory the terminal keeps per transaction (issue 14, goal 1): what the state holds for each
 * transaction owns exactly its bytes, never a slab it was cut from.
 */
import { strict as assert } from 'node:assert';
import { RecordType, DecodedRecord } from '../../storage/record';
import { deriveState } from '../../runtime/terminal-state';
import { buf, rec, RecordInput } from '../../runtime/records';

function records(inputs: RecordInput[]): DecodedRecord[] {
  return inputs.map((r, i) => ({ type: RecordType[r.type], seq: i + 1, timeMs: 0, payload: r.payload } as unknown as DecodedRecord));
}

/** What a decoder hands over: small byte strings that are views into one large buffer (a page, a pool slab). */
function viewInto(slab: Buffer, at: number, bytes: number): Uint8Array {
  slab.fill(at & 0xff, at, at + bytes);
  return new Uint8Array(slab.buffer, slab.byteOffset + at, bytes);
}

describe('memory bounds: bytes kept per transaction', () => {
  it('bufCopiesIntoABufferOfExactlyItsSize', () => {
    const slab = Buffer.alloc(8192);
    const view = viewInto(slab, 100, 40);
    const b = buf(view, 'panEnc');
    assert.deepEqual([...b], [...view], 'the same bytes');
    assert.equal(b.buffer.byteLength, 40, 'its own 40 bytes, not the 8 KB it came from');
    slab.fill(0);
    assert.equal(b[0], 100, 'a copy: the slab may be reused');
    // Buffer.from (what buf did before): a small copy comes out of node's shared pool.
    assert.ok(Buffer.from(view).buffer.byteLength > 40, 'Buffer.from slices the pool (the reason buf does not use it)');
  });

  it('theStateKeepsNoSlabAliveThroughATransactionsSealedPanOrTag', () => {
    const slab = Buffer.alloc(8192);
    const inputs: RecordInput[] = [];
    for (let stan = 1; stan <= 20; stan++) {
      inputs.push(rec.stan(stan), rec.txnBegin({ kind: 'sale', stan, batch: 1, amountFen: 100 * stan, panMasked: '622202*********0123', panEnc: viewInto(slab, stan * 100, 40) as Buffer, panTag: viewInto(slab, stan * 100 + 50, 8) as Buffer, entryMode: '022', processingCode: '000000', conditionCode: '00', type60: '22', operator: '001' }));
      inputs.push(rec.txnResult({ stan, outcome: 'approved', responseCode: '00', rrn: String(stan).padStart(12, '0'), authCode: '000001' }));
    }
    const s = deriveState(records(inputs));
    assert.equal(s.txns.size, 20);
    for (const t of s.txns.values()) {
      assert.equal(t.panEnc.buffer.byteLength, 40, `STAN ${t.stan}: the sealed PAN owns its 40 bytes`);
      assert.equal(t.panTag.buffer.byteLength, 8, `STAN ${t.stan}: the PAN tag owns its 8 bytes`);
      assert.equal(t.panEnc[0], (t.stan * 100) & 0xff, 'and they are the transaction\'s bytes');
    }
  });
});
