/**
 * A trading day of the terminal core, run under strace by powercut.test.ts:
 *   node tests/runtime/powercut-workload.js DIR PORT SCENARIO
 * Prints `ACK sent:<n>` right before the n-th request leaves (so a crash state knows how many
 * requests the host may have seen) and `ACK <what>:<stan>` once a result was acknowledged to
 * the operator (durable: the engine returned it); `ACK printed:<stan>` once a receipt left the
 * printer (its mark is deferred: not durable until the next commit).
 */
import { Journal } from '../../storage/journal';
import { HostTransport } from '../../runtime/host/transport';
import { CUP_PROFILE } from '../../runtime/host/fields';
import { fixedDeviceKey } from '../../runtime/device-key';
import { seededRandom } from '../../runtime/random';
import { openTerminal } from '../../runtime/terminal';
import { settle } from '../../runtime/txn/settlement';
import { QrPayments } from '../../runtime/txn/qr';
import { cardFromTrack2 } from '../../runtime/txn/card';
import { TEST_TERMINAL } from '../../sim/host/simulator';
import { TEST_CARDS } from '../../sim/test-cards';

export const PC_IDENTITY = 'SIM-PC-0001';
export const PC_T0_MS = Date.UTC(2026, 10, 21, 2, 0, 0);

function ack(id: string): void {
  process.stdout.write(`ACK ${id}\n`);
}

async function main(): Promise<void> {
  const [dir, port, scenario] = process.argv.slice(2);
  const journal = await Journal.open({ dir, identity: PC_IDENTITY, clock: () => PC_T0_MS });
  ack('open');
  let sent = 0;
  const transport = new HostTransport({ host: '127.0.0.1', port: Number(port), profile: CUP_PROFILE, connectTimeoutMs: 5000, responseTimeoutMs: 10_000 });
  const { engine } = openTerminal({
    journal, host: transport, deviceKey: fixedDeviceKey(Buffer.alloc(32, 0x5a)), random: seededRandom(99), clock: () => PC_T0_MS,
    config: { ids: { tid: TEST_TERMINAL.tid, mid: TEST_TERMINAL.mid }, profile: CUP_PROFILE, tmk: () => Buffer.from(TEST_TERMINAL.tmk) },
    onSend: () => { ack(`sent:${++sent}`); },
  });
  const cashier = { operator: '001', role: 'cashier' as const };
  const supervisor = { operator: '002', role: 'supervisor' as const };
  const card = cardFromTrack2(TEST_CARDS.magDebit.track2);
  const approved = async (p: ReturnType<typeof engine.sale>, what: string): Promise<number> => {
    const r = await p;
    if (r.outcome !== 'approved') throw new Error(`${what} not approved: ${JSON.stringify(r)}`);
    ack(`${what}:${r.txn.stan}`);
    return r.txn.stan;
  };
  await engine.signOn(cashier);
  ack('signon');
  const s1 = await approved(engine.sale({ amountFen: 1000, card, session: cashier }), 'sale');
  // The paper is out of the printer: the mark is deferred (rides on the next sale's first commit).
  await engine.markPrinted(s1, 'merchant', false);
  ack(`printed:${s1}`);
  const s2 = await approved(engine.sale({ amountFen: 2000, card, session: cashier }), 'sale');
  await approved(engine.voidSale(s2, supervisor), 'void');
  const t1 = engine.txn(s1);
  await approved(engine.refund({ amountFen: 500, card, session: supervisor, origRrn: t1?.rrn as string, origDateMmdd: t1?.hostDate as string }), 'refund');
  // A QR payment (paid at once): never reversed, resolved by query after a cut.
  const qr = await new QrPayments(engine).sale({ amountFen: 700, paymentCode: '6212345678901234567', session: cashier });
  if (qr.outcome !== 'approved') throw new Error(`QR payment not approved: ${JSON.stringify(qr)}`);
  ack(`qrsale:${qr.txn.stan}`);
  if (scenario === 'unbalanced') for (let i = 0; i < 3; i++) await approved(engine.sale({ amountFen: 100 + i, card, session: cashier }), 'sale');
  const rep = await settle(engine, supervisor);
  ack(`settled:${rep.batch}:${rep.verdict}`);
  await approved(engine.sale({ amountFen: 3000, card, session: cashier }), 'sale');
  transport.close();
  await journal.close();
}

if (require.main === module) main().catch((e: unknown) => { process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`); process.exit(1); });
