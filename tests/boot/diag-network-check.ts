/**
 * Diagnostics opened over a board for the tests of its checks (tests/boot/diagnostics-*.test.ts):
 * no journal (a folder that does not exist), the clock at 0, the network test's report given; and
 * the network check run alone (diagnostics-modem, diagnostics-wifi): what the radios add to it.
 */
import { strict as assert } from 'node:assert';
import * as os from 'node:os';
import * as path from 'node:path';
import { Diagnostics, DiagResult, ErrorRing } from '../../boot/diagnostics';
import type { LinkCheckReport } from '../../boot/link-check';
import type { Report } from '../../boot/recovery';
import { silentLogger } from '../../common/log';
import type { Board } from '../../hal/board';

/** Diagnostics open over `board`, its automatic checks done. */
export async function openDiagnostics(board: Board, report: Report = NETWORK_OK, linksTest?: () => Promise<LinkCheckReport>): Promise<Diagnostics> {
  const diag = new Diagnostics({
    board, journalDir: path.join(os.tmpdir(), 'pos-diag-no-journal'), errors: new ErrorRing(),
    networkTest: async () => report, ...(linksTest ? { linksTest } : {}), pages: () => 1, changed: () => undefined, close: () => undefined,
    logger: silentLogger, clock: () => 0,
  });
  await diag.done;
  return diag;
}

/** A network test that passed. */
export const NETWORK_OK: Report = { action: 'network-test', ok: true, journaled: false, lines: ['OK'] };

/** The network check's result. */
export async function networkCheckOn(board: Board, report: Report, linksTest?: () => Promise<LinkCheckReport>): Promise<DiagResult> {
  const diag = await openDiagnostics(board, report, linksTest);
  diag.close();
  const r = diag.snapshot().find((x) => x.check === 'network');
  assert.ok(r, 'the network check ran');
  return r;
}
