/**
 * Putting a rebuilt journal in place (storage/dir-swap.ts): a power cut between "live -> aside"
 * and "built -> live" had left no journal, and the next boot created an empty one (STAN 1, every
 * record gone from the terminal's view). Each step is cut here, as a power cut would, and the next
 * open must find the rebuilt journal with its continuation record.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '../common/log';
import { installRebuilt } from '../runtime/rebuild';
import { openForBoot } from './boot-open';
import { SwapStep, finishInterruptedSwap, swapInDir, swapIntentPath } from './dir-swap';
import { Journal } from './journal';
import { RecordType } from './record';
import { removeDir, tempDir } from './testing';

const IDENTITY = 'SWAP-0001';
const STEPS: SwapStep[] = ['intent-written', 'old-set-aside', 'built-in-place'];

class Cut extends Error {}

function cutAfter(step: SwapStep): (s: SwapStep) => void {
  return (s) => { if (s === step) throw new Cut(step); };
}

function dirWith(path: string, marker: string): void {
  mkdirSync(path, { recursive: true });
  writeFileSync(join(path, 'marker'), marker);
}

describe('storage/dir-swap: a journal put in place survives a power cut at every step', () => {
  let root = '';
  let live = '';
  let built = '';
  let aside = '';
  beforeEach(() => {
    root = tempDir('swap-');
    live = join(root, 'journal');
    built = join(root, 'journal.building-1');
    aside = join(root, 'journal.replaced-1');
  });
  afterEach(() => removeDir(root));

  for (const step of STEPS) {
    it(`cutAfter_${step}_theNextOpenFinishesTheSwap`, () => {
      dirWith(live, 'old');
      dirWith(built, 'new');
      assert.throws(() => swapInDir({ live, built, aside, afterStep: cutAfter(step) }), Cut);
      const done = finishInterruptedSwap(live);
      assert.equal(done?.finished, true);
      assert.equal(readFileSync(join(live, 'marker'), 'utf8'), 'new');
      assert.equal(readFileSync(join(aside, 'marker'), 'utf8'), 'old', 'the old journal is kept aside, never deleted');
      assert.equal(existsSync(built), false);
      assert.equal(existsSync(swapIntentPath(live)), false);
    });
  }

  it('aSwapThatFinishedLeavesNothingToFinish', () => {
    dirWith(live, 'old');
    dirWith(built, 'new');
    assert.deepEqual(swapInDir({ live, built, aside }), { movedAside: aside });
    assert.equal(finishInterruptedSwap(live), undefined);
    assert.equal(readFileSync(join(live, 'marker'), 'utf8'), 'new');
  });

  it('noLiveJournalBeforeTheSwap_builtIsPutInPlaceAndNothingIsAside', () => {
    dirWith(built, 'new');
    assert.deepEqual(swapInDir({ live, built, aside }), { movedAside: undefined });
    assert.equal(readFileSync(join(live, 'marker'), 'utf8'), 'new');
    assert.equal(existsSync(aside), false);
  });

  it('aTornIntentIsRemovedAndTheLiveJournalIsLeftAsItWas', () => {
    dirWith(live, 'old');
    dirWith(built, 'new');
    writeFileSync(swapIntentPath(live), '{"format":1,"bui');
    assert.deepEqual(finishInterruptedSwap(live), { finished: false });
    assert.equal(readFileSync(join(live, 'marker'), 'utf8'), 'old');
    assert.equal(existsSync(built), true, 'the built journal is left for a person to look at');
    assert.equal(existsSync(swapIntentPath(live)), false);
  });

  it('anIntentNamingAPathOutsideTheParentIsNotFollowed', () => {
    dirWith(live, 'old');
    writeFileSync(swapIntentPath(live), JSON.stringify({ format: 1, built: '../elsewhere', aside: 'x' }));
    assert.deepEqual(finishInterruptedSwap(live), { finished: false });
    assert.equal(readFileSync(join(live, 'marker'), 'utf8'), 'old');
  });

  it('aBuiltJournalNotBesideTheLiveOneIsRefused', () => {
    dirWith(live, 'old');
    const other = tempDir('swap-other-');
    try {
      assert.throws(() => swapInDir({ live, built: other, aside }), /must be beside/);
      assert.equal(existsSync(swapIntentPath(live)), false);
    } finally {
      removeDir(other);
    }
  });
});

describe('a rebuilt journal cut off while put in place: boot opens it, never an empty one', function () {
  this.timeout(30_000);
  let root = '';
  let live = '';
  beforeEach(() => {
    root = tempDir('swap-boot-');
    live = join(root, 'journal');
  });
  afterEach(() => removeDir(root));

  /** A live journal with STANs used up to 4321, and a rebuilt one (one record) beside it. */
  async function journals(): Promise<string> {
    const j = await Journal.open({ dir: live, identity: IDENTITY });
    await j.appendMany([{ type: 'stan', payload: { stan: 4321 } }]);
    await j.close();
    const built = join(root, 'journal.building-1');
    const b = await Journal.open({ dir: built, identity: IDENTITY });
    await b.close();
    return built;
  }

  for (const step of STEPS) {
    it(`installCutAfter_${step}_bootOpensTheRebuiltJournalWithItsContinuation`, async () => {
      const builtDir = await journals();
      await assert.rejects(installRebuilt({
        journalDir: live, builtDir, identity: IDENTITY, action: 'reset', reason: 'test', aside: join(root, 'journal.reset-1'), afterStep: cutAfter(step),
      }), Cut);
      const opened = await openForBoot({ dir: live, identity: IDENTITY, logger: silentLogger });
      try {
        assert.notEqual(opened.path, 'new', 'boot did not create an empty journal');
        const recovery = [...opened.journal.records()].find((r) => r.type === RecordType.recovery);
        assert.ok(recovery, 'the continuation record is in the journal boot opened');
        assert.equal(recovery.payload.stanHighest, 4321);
        assert.equal(existsSync(join(root, 'journal.reset-1', 'data.mdb')), true, 'the old journal kept aside');
      } finally {
        await opened.journal.close();
      }
    });
  }
});
