/**
 * The receipt-printed mark is deferred (runtime/store.ts, storage/journal.ts AppendOptions.deferred):
 * applied to the state at once, written by the next durable commit. Through the state machine,
 * against the real engine, journal and acquirer simulator: a power cut before that commit loses
 * only the mark, and the next boot offers the copy again, marked DUPLICATE; after it, nothing.
 */
import { strict as assert } from 'node:assert';
import { createActor, waitFor } from 'xstate';
import { createTerminalMachine, statePath, viewOf, MachineEvent, TerminalMachine } from '../../runtime/machine';
import { Rig, rig, withOperators, magCard } from './harness';
import { CardQueue, FakePrinter } from './fakes';
import { TEST_TERMINAL } from '../../sim/host/simulator';

interface Run {
  r: Rig;
  printer: FakePrinter;
  cards: CardQueue;
  actor: ReturnType<typeof start>;
  send(e: MachineEvent): void;
  until(path: string): Promise<void>;
  view(): ReturnType<typeof viewOf>;
}

function start(machine: TerminalMachine) {
  return createActor(machine);
}

const runs: Run[] = [];

async function loggedIn(): Promise<Run> {
  const r = await rig();
  await withOperators(r);
  const printer = new FakePrinter();
  const cards = new CardQueue();
  const actor = start(createTerminalMachine({
    open: async () => r.terminal, selfTest: async () => undefined, printer, readCard: cards.read, clock: () => r.clock.ms,
    recoveryLogin: (op, pw) => r.terminal.operators.login(op, pw), shutdown: async () => undefined,
  })).start();
  const run: Run = {
    r, printer, cards, actor,
    send: (e) => actor.send(e),
    until: async (path) => { await waitFor(actor, (s) => statePath(s.value) === path, { timeout: 8000 }); },
    view: () => viewOf(actor.getSnapshot()),
  };
  runs.push(run);
  await run.until('login');
  run.send({ type: 'LOGIN', operator: '001', password: '1111' });
  await run.until('idle');
  return run;
}

describe('receipt-printed mark: deferred to the next durable commit', function () {
  this.timeout(30_000);
  afterEach(async () => { for (const run of runs.splice(0)) { run.actor.stop(); await run.r.close().catch(() => undefined); } });

  it('a receipt-printed mark lost at a power cut only offers a reprint marked DUPLICATE at the next boot, never a lost or double charge', async () => {
    const run = await loggedIn();
    run.cards.push(magCard());
    run.send({ type: 'SALE' }); run.send({ type: 'AMOUNT', amountFen: 3456 });
    await run.until('sale.askCustomerCopy'); run.send({ type: 'NO' });
    await run.until('sale.signature'); run.send({ type: 'SKIP' });
    await run.until('idle');
    const stan = run.r.terminal.engine.lastReceipt()?.stan as number;
    assert.deepEqual(run.r.terminal.engine.pendingCopies(), [], 'the mark applies to the state at once');
    assert.equal(run.r.journal.deferredCount, 1, 'the mark waits for the next durable commit');
    const salesSent = run.r.sent.filter((x) => x.type === 'sale').length;
    run.actor.stop();
    await run.r.powerCut();
    const engine = run.r.terminal.engine;
    assert.equal(engine.txn(stan)?.status, 'approved', 'the sale itself was durable');
    assert.deepEqual(engine.pendingCopies(), [{ stan, copy: 'merchant' }], 'only the mark was lost');
    const printer = new FakePrinter();
    const actor = start(createTerminalMachine({
      open: async () => run.r.terminal, selfTest: async () => undefined, printer, readCard: run.cards.read, clock: () => run.r.clock.ms,
      recoveryLogin: (op, pw) => run.r.terminal.operators.login(op, pw), shutdown: async () => undefined,
    })).start();
    try {
      await waitFor(actor, (x) => statePath(x.value) === 'offerReprint', { timeout: 8000 });
      actor.send({ type: 'YES' });
      await waitFor(actor, (x) => statePath(x.value) === 'login', { timeout: 8000 });
      assert.deepEqual(printer.jobs.map((j) => j.label), [`merchant copy ${String(stan).padStart(6, '0')} (reprint)`]);
      assert.match(printer.text(), /重打印|DUPLICATE/, 'the copy printed again is marked as a duplicate');
      assert.deepEqual(engine.pendingCopies(), []);
      // Nothing went to the host again, and the host holds the sale once.
      assert.equal(run.r.sent.filter((x) => x.type === 'sale').length, salesSent);
      assert.equal(run.r.sent.filter((x) => x.type === 'reversal').length, 0);
      assert.equal(run.r.sim.ledger.entries({ tid: TEST_TERMINAL.tid }).filter((e) => e.stan === stan && e.status === 'approved').length, 1);
    } finally {
      actor.stop();
    }
  });

  it('a deferred receipt-printed mark rides on the next durable commit: after it, a power cut offers nothing again', async () => {
    const run = await loggedIn();
    run.cards.push(magCard(), magCard());
    run.send({ type: 'SALE' }); run.send({ type: 'AMOUNT', amountFen: 1111 });
    await run.until('sale.askCustomerCopy'); run.send({ type: 'YES' });
    await run.until('sale.signature'); run.send({ type: 'SKIP' });
    await run.until('idle');
    assert.equal(run.r.journal.deferredCount, 2, 'merchant and customer marks wait');
    const commits = run.r.terminal.store.commits;
    run.send({ type: 'SALE' }); run.send({ type: 'AMOUNT', amountFen: 2222 });
    await run.until('sale.askCustomerCopy');
    assert.equal(run.r.terminal.store.commits - commits, 2, 'the second sale took two durable commits (begin, result), the marks rode on the first');
    run.send({ type: 'NO' }); await run.until('sale.signature'); run.send({ type: 'SKIP' }); await run.until('idle');
    const first = run.r.terminal.engine.transactions().find((t) => t.amountFen === 1111)?.stan as number;
    run.actor.stop();
    await run.r.powerCut();
    const pending = run.r.terminal.engine.pendingCopies();
    assert.ok(!pending.some((p) => p.stan === first), 'the first sale\'s marks were durable with the second sale\'s begin');
    assert.deepEqual(run.r.terminal.engine.txn(first)?.printed, ['merchant', 'customer']);
  });
});
