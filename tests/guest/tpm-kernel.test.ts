/**
 * The TPM device key on a real kernel, quickly (CI; the whole TPM board with systemd, a sale and a
 * reboot is tests/guest/tpm-board.full.ts, nightly): the quick guest (scripts/guest/quick-guest.ts)
 * with a TPM 2.0 on QEMU's TIS interface backed by a swtpm on the host (chip A). In the guest
 * (tests/guest/tpm-kernel.guest.ts): the station's request for a TPM board, the first boot sealing
 * a fresh key through the kernel's /dev/tpmrm0 and making the journal, a boot unsealing it and
 * opening the TMK. On the host: the data folder the guest made, tried with another chip (swtpm B
 * on loopback), is refused (E-KEY-07). One guest boot (TCG: about a minute here).
 */
import { strict as assert } from 'node:assert';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readBoardFile } from '../../hal/board';
import { isPosError } from '../../common/errors';
import { deviceKeyProviderFor } from '../../runtime/device-key-provider';
import { TPM_SEALED_FILE } from '../../runtime/device-key-tpm';
import { FIRST_BOOT_REQUEST_FILE } from '../../boot/first-boot-request';
import { QuickGuest, compileForGuest, guestJsDir, needQuickGuest } from '../../scripts/guest/quick-guest';
import { Swtpm, needSwtpm, swtpmForQemu } from '../support/swtpm';

const SUITE_TIMEOUT_MS = 600_000;
/** The whole guest job: node's start under TCG, a few dozen tpm2-tools processes, scrypt. */
const JOB_MS_MAX = 400_000;

describe('TPM device key on a real kernel: first boot seals through /dev/tpmrm0 (quick guest)', function () {
  this.timeout(SUITE_TIMEOUT_MS);
  let report: Record<string, unknown> = {};
  let dir = '';
  let other: Swtpm | undefined;

  before(async function () {
    await needQuickGuest(this);
    needSwtpm(this);
    dir = fs.mkdtempSync('/tmp/pos-qg-tpm-');
    const out = guestJsDir();
    let tpm: ChildProcess | undefined;
    try {
      await compileForGuest(['tests/guest/tpm-kernel.guest.ts'], out);
      tpm = await swtpmForQemu(path.join(dir, 'tpm-a'), path.join(dir, 'tpm-a.sock'));
      const guest = await QuickGuest.boot({ tpmSocket: path.join(dir, 'tpm-a.sock') });
      try {
        const r = await guest.run(`mkdir -p /tmp/tpm-board/data && exec node ${out}/tests/guest/tpm-kernel.guest.js /tmp/tpm-board/data /tmp/qg\n`, JOB_MS_MAX);
        report = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as typeof report;
        assert.equal(r.code, 0, `guest run failed (${r.code}):\n${r.stderr}\n${r.stdout}\n${guest.consoleText()}`);
        fs.cpSync(path.join(guest.shareDir, 'data'), path.join(dir, 'data'), { recursive: true });
      } finally {
        await guest.shutdown();
      }
    } finally {
      if (tpm && tpm.exitCode === null) tpm.kill('SIGTERM');
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
  after(async () => {
    await other?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('theStationLeavesARequestTheFirstBootSealsAFreshKeyInTheKernelsTpmAndABootOpensTheTmk', () => {
    assert.deepEqual(report.atStation, [FIRST_BOOT_REQUEST_FILE, 'service-admin.json'], 'no key, no journal before the first boot');
    assert.equal(report.outcome, 'provisioned');
    assert.equal(report.requestLeft, false, 'the request is destroyed');
    assert.deepEqual(report.after, [TPM_SEALED_FILE, 'journal', 'service-admin.json']);
    assert.equal(report.kcvMatches, true, 'the TMK sealed under the TPM\'s key opens with its KCV');
    process.stderr.write(`      TPM in the quick guest (TCG): first boot (seal, check, journal) ${report.firstBootMs} ms, a boot's unseal ${report.unsealMs} ms\n`);
  });

  it('theDataFolderTheGuestMadeDoesNotOpenOnAnotherTpm', async () => {
    other = await Swtpm.start(path.join(dir, 'tpm-b'));
    const { file, config } = readBoardFile('handheld');
    const onB = deviceKeyProviderFor({ file, config: { ...config, deviceKey: { provider: 'tpm2', tcti: other.tcti } } }, path.join(dir, 'data'), { create: false });
    let err: unknown;
    try { onB.deviceKey(); } catch (e) { err = e; }
    assert.ok(isPosError(err), String(err));
    assert.equal(err.code, 'E-KEY-07', err.message);
  });
});
