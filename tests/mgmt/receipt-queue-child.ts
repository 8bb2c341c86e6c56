/**
 * The terminal side of tests/mgmt/receipt-queue.test.ts, as a process of its own so that the test
 * can kill it (SIGKILL: no goodbye, nothing flushed) and start another on the same folder:
 *
 *   node receipt-queue-child.js JSON   (dist/'s when current, else under ts-node: common/spawn.ts nodeArgsFor)
 *
 * JSON: { url, serial, password, caPem, dir, countMax, publish: [stan, ...] }. Opens the durable
 * queue in `dir`, starts the management client, publishes a receipt per stan given, prints
 * {"queued":n,"dropped":d} once they are on disk, then {"sent":n} lines as the queue empties,
 * and runs until killed.
 */
import pino from 'pino';
import { ManagementClient, MgmtTerminal } from '../../runtime/mgmt/client';
import { ReceiptDocument, receiptId } from '../../runtime/mgmt/protocol';
import { ReceiptQueue } from '../../runtime/mgmt/receipt-queue';

interface Args {
  readonly url: string; readonly serial: string; readonly password: string; readonly caPem: string;
  readonly dir: string; readonly countMax: number; readonly publish: readonly number[];
}

const TID = '12345678';
const out = (o: object): void => { process.stdout.write(`${JSON.stringify(o)}\n`); };

/** A sale's slip as the terminal would publish it (masked card only). */
export function slip(stan: number): ReceiptDocument {
  return {
    v: 1, id: receiptId(TID, 1, stan), tid: TID, mid: '123456789012345', merchantName: '模拟商户', kind: 'sale', amountFen: 1000 + stan, currency: 'CNY',
    batch: 1, stan, rrn: String(stan).padStart(12, '0'), authCode: String(stan).padStart(6, '0'), atMs: 1_764_806_400_000 + stan, panMasked: '622202*********0128', entryMode: '021',
  };
}

const terminal: MgmtTerminal = {
  status: () => ({ version: '9.9.9-test', batteryPercent: 80, storageFreeKiB: 1, network: {}, lastErrors: [], anomalies: [], sellingLocked: false, versionFlagged: false, flaggedVersions: [], state: 'idle', uptimeS: 0 }),
  setParams: async () => { throw new Error('not here'); },
  diagnostics: async () => [],
  logs: async () => ({ text: '', source: 'memory' }),
  isIdle: () => true,
  reboot: () => undefined,
  setSellingLocked: async () => undefined,
  setVersionFlag: async () => undefined,
  flaggedVersions: () => [],
};

function main(a: Args): void {
  const logger = pino({ level: 'warn' }, pino.destination(2));
  const receiptQueue = ReceiptQueue.open(a.dir, { countMax: a.countMax, logger });
  const m = ManagementClient.start({
    config: { url: a.url, serial: a.serial, username: a.serial, password: a.password, caPem: a.caPem, reconnectMs: 100, statusCheckMs: 50 },
    terminal, logger, clock: Date.now, receiptQueue,
  });
  for (const stan of a.publish) m.publishReceipt(slip(stan));
  out({ queued: receiptQueue.length, dropped: receiptQueue.dropped });
  let last = receiptQueue.length;
  setInterval(() => { if (receiptQueue.length !== last) { last = receiptQueue.length; out({ left: last }); } }, 20);
}

if (require.main === module) main(JSON.parse(process.argv[2] ?? '{}') as Args);
