/**
 * The diagnostics network check run alone over a board, with the network test's report given
 * (tests/boot/diagnostics-modem.test.ts, diagnostics-wifi.test.ts): what the radios add to it.
 */
import { strict as assert } from 'node:assert';
import * as os from 'node:os';
import * as path from 'node:path';
import { Diagnostics, DiagResult, ErrorRing } from '../../boot/diagnostics';
import type { LinkCheckReport } from '../../boot/link-check';
import type { Report } from '../../boot/recovery';
import { silentLogger } from '../../common/log';
import type { Board } from '../../hal/board';

/** The network check's result; no journal (a folder that does not exist), the clock at 0. */
export async function networkCheckOn(board: Board, report: Report, linksTest?: () => Promise<LinkCheckReport>): Promise<DiagResult> {
  const diag = new Diagnostics({
    board, journalDir: path.join(os.tmpdir(), 'pos-diag-network-no-journal'), errors: new ErrorRing(),
    networkTest: async () => report, ...(linksTest ? { linksTest } : {}), pages: () => 1, changed: () => undefined, close: () => undefined,
    logger: silentLogger, clock: () => 0,
  });
  await diag.done;
  diag.close();
  const r = diag.snapshot().find((x) => x.check === 'network');
  assert.ok(r, 'the network check ran');
  return r;
}
