import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { closeSync, fsyncSync, mkdirSync, openSync, rmSync, rmdirSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { DISK_FREE_AGE_MS_MAX, Journal, RESERVE_BYTES_DEFAULT, freeBytes } from '../../storage/journal';
import { WAL_BYTES } from '../../storage/wal';
import { removeDir, tempDir } from '../../storage/testing';
import { storageNotice } from '../../boot/terminal-app';
import { chooseScreen, EMPTY_UI, Env } from '../../boot/screen-map';
import type { Terminal } from '../../runtime/terminal';
import type { MachineView } from '../../runtime/machine';
import { noticeTurnCount, renderScreen } from '../../ui-lcd/screen';
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
      const panel = { kind: 'pixels', width: 128, height: 64 } as const;
      for (const locale of ['en', 'zh-CN'] as const) {
        // Read in turns on the panel's row (the code, the cause, the step: tests/ui/notice-turns.test.ts): every turn's glyphs.
        const turns = noticeTurnCount(screen, locale, panel);
        assert.ok(turns > 1, `${locale}: in turns`);
        for (let turn = 0; turn < turns; turn++) {
          const r = renderScreen({ ...screen, noticeTurn: turn }, locale, panel);
          assert.equal(r.kind, 'pixels');
          if (r.kind === 'pixels') assert.deepEqual(r.missingGlyphs, [], `${locale} turn ${turn}: every glyph of the notice is in the font`);
        }
      }
      while (!journal.usage().salesRefused) await journal.append('test', { big }, { reserve: true });
      assert.match(JSON.stringify(storageNotice(terminal)), /E-STO-01 Storage full/);
    } finally {
      await journal.close();
      removeDir(dir);
    }
  });

  // The audit: the partition filled by something else (logs) while the journal's own capacity is
  // far away. The idle screen warns and then says storage full (the same codes), from the disk's
  // free space; the file removed, the notice goes. Needs root to mount a small tmpfs.
  it('aDiskFilledBySomethingElseGivesTheSameNoticesAndRemovingTheFileClearsThem', async function () {
    const mnt = tempDir('notice-mnt-');
    const sh = (cmd: string): boolean => spawnSync('sh', ['-c', cmd], { stdio: 'ignore' }).status === 0;
    if (!sh(`mount -t tmpfs -o size=48m tmpfs ${mnt}`)) {
      rmdirSync(mnt);
      const message = 'cannot mount a tmpfs (needs root): the filled-disk notice test skipped';
      if (process.env.POS_REQUIRE_TOOLS === '1') throw new Error(message);
      process.stderr.write(`\n*** SKIPPED: ${message} ***\n\n`);
      this.skip();
    }
    let nowMs = 0;
    const dir = join(mnt, 'journal');
    mkdirSync(dir);
    const journal = await Journal.open({ dir, identity: 'SIM-NOTICE', clock: () => nowMs });
    const terminal = { store: { journal } } as unknown as Terminal;
    /** Something else takes the disk but `leftBytes`; the free space is read again. */
    const leave = (leftBytes: number): void => {
      rmSync(join(mnt, 'filler'), { force: true });
      const bytes = Math.max(0, Math.floor(((freeBytes(mnt) ?? 0) - leftBytes) / 4096) * 4096);
      const fd = openSync(join(mnt, 'filler'), 'w');
      const chunk = Buffer.alloc(64 * 1024);
      for (let at = 0; at < bytes; at += chunk.length) writeSync(fd, chunk, 0, Math.min(chunk.length, bytes - at));
      fsyncSync(fd);
      closeSync(fd);
      nowMs += DISK_FREE_AGE_MS_MAX;
    };
    try {
      assert.equal(storageNotice(terminal), undefined, 'the default capacity (256 MiB) is far; and the end of a 48 MiB disk too: nothing said');
      leave(RESERVE_BYTES_DEFAULT + 1024 * 1024);
      assert.match(JSON.stringify(storageNotice(terminal)), /E-STO-02 Storage nearly full: Settle now/);
      leave(RESERVE_BYTES_DEFAULT / 2);
      assert.match(JSON.stringify(storageNotice(terminal)), /E-STO-01 Storage full/);
      await assert.rejects(journal.append('test', { sale: true }), /E-STO-01 .*storage full for new sales/);
      rmSync(join(mnt, 'filler'));
      nowMs += DISK_FREE_AGE_MS_MAX;
      assert.equal(storageNotice(terminal), undefined, 'the file removed: no notice');
    } finally {
      await journal.close();
      sh(`umount ${mnt}`);
      rmdirSync(mnt);
    }
  });
});
