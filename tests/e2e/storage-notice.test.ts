import { strict as assert } from 'node:assert';
import { Journal } from '../../storage/journal';
import { WAL_BYTES } from '../../storage/wal';
import { removeDir, tempDir } from '../../storage/testing';
import { storageNotice } from '../../boot/terminal-app';
import { chooseScreen, EMPTY_UI, Env } from '../../boot/screen-map';
import type { Terminal } from '../../runtime/terminal';
import type { MachineView } from '../../runtime/machine';
import { renderScreen } from '../../ui-lcd/screen';
import { screenFor } from '../../ui-lcd/screens';

/** FIELD-FAULTS: "storage nearly full: settle now" before sales are refused, on the idle screen. */
describe('idle screen: storage nearly full, then full for sales', () => {
  it('idleSaysSettleNowFromNinetyPercentAndStorageFullOnceSalesAreRefused', async () => {
    const dir = tempDir('notice-');
    // The capacity is the journal's share of the disk, the write-ahead log's WAL_BYTES included.
    const journal = await Journal.open({ dir, identity: 'SIM-NOTICE', capacityBytes: WAL_BYTES + 400 * 1024, reserveBytes: 200 * 1024 });
    const terminal = { store: { journal } } as unknown as Terminal;
    try {
      assert.equal(storageNotice(terminal), undefined, 'an empty journal says nothing');
      const big = 'x'.repeat(3000);
      while (!journal.usage().nearlyFull) await journal.append('test', { big });
      const nearly = storageNotice(terminal);
      assert.match(JSON.stringify(nearly), /E-STO-02 Storage nearly full: Settle now/);
      const env: Env = { nowMs: 0, merchantName: 'SHOP', status: {}, bootStep: 'ready', bootStepIndex: 0, bootStepCount: 1, storageNotice: nearly };
      const view: MachineView = { state: 'idle', data: { operator: '001', battery: 'ok', amountFen: 0, pendingReceipts: [], reportPending: false, signedOn: true, reversalPending: false } } as unknown as MachineView;
      const choice = chooseScreen(view, EMPTY_UI, env);
      assert.equal(choice.name, 'idle');
      const screen = { ...screenFor(choice.name, choice.data), notice: choice.notice };
      for (const locale of ['en', 'zh-CN'] as const) {
        const r = renderScreen(screen, locale, { kind: 'pixels', width: 128, height: 64 });
        assert.equal(r.kind, 'pixels');
        if (r.kind === 'pixels') assert.deepEqual(r.missingGlyphs, [], `${locale}: every glyph of the notice is in the font`);
      }
      while (!journal.usage().salesRefused) await journal.append('test', { big }, { reserve: true });
      assert.match(JSON.stringify(storageNotice(terminal)), /E-STO-01 Storage full/);
    } finally {
      await journal.close();
      removeDir(dir);
    }
  });
});
