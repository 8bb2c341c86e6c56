/**
 * The systemd unit's power off (boot/pos-terminal.service): the terminal asks for it with its own
 * exit status, EXIT_POWER_OFF (boot/terminal-main.ts), which the unit counts as a success
 * (SuccessExitStatus=, no restart) and turns into `systemctl poweroff` (ExecStopPost=). No other
 * status may do that: not 0 (a stop by systemd) and not 64, `pos`'s usage status (EXIT_USAGE,
 * sysexits' EX_USAGE), which the two shared until session 10. The ExecStopPost line is run here
 * as systemd runs it ($$ unescaped, $EXIT_STATUS set) with `systemctl` replaced by a script.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT_USAGE } from '../../boot/cli';
import { EXIT_POWER_OFF } from '../../boot/terminal-main';
import { removeDir, tempDir } from '../../storage/testing';

const UNIT = readFileSync(join(__dirname, '..', '..', 'boot', 'pos-terminal.service'), 'utf8');

/** The shell script of ExecStopPost=+/bin/sh -c '...', with systemd's $$ unescaped. */
function stopPostScript(): string {
  const line = /^ExecStopPost=\+\/bin\/sh -c '(.*)'$/m.exec(UNIT)?.[1];
  assert.ok(line, 'ExecStopPost=+/bin/sh -c \'...\' in the unit');
  return line.replace(/\$\$/g, '$');
}

describe('systemd unit: the terminal\'s power off', () => {
  it('successExitStatusIsExitPowerOffAndNoUsageOrSysexitsStatus', () => {
    assert.equal(/^SuccessExitStatus=(.*)$/m.exec(UNIT)?.[1], String(EXIT_POWER_OFF));
    assert.notEqual(EXIT_POWER_OFF, EXIT_USAGE);
    assert.ok(EXIT_POWER_OFF < 64 || EXIT_POWER_OFF > 78, `${EXIT_POWER_OFF} is not one of sysexits' statuses (64-78) that commands return`);
    assert.ok(EXIT_POWER_OFF > 14 && EXIT_POWER_OFF < 128, `${EXIT_POWER_OFF} is none of Node's own statuses (1-14) nor a signal's (128+)`);
  });

  it('execStopPostPowersOffOnExitPowerOffOnlyNeverOnAUsageError', () => {
    const dir = tempDir('pos-unit-poweroff-');
    try {
      const marker = join(dir, 'poweroff-asked');
      writeFileSync(join(dir, 'systemctl'), `#!/bin/sh\necho "$@" > ${marker}\n`, { mode: 0o755 });
      const poweredOff = (status: string): boolean => {
        rmSync(marker, { force: true });
        const r = spawnSync('/bin/sh', ['-c', stopPostScript()], { encoding: 'utf8', env: { PATH: `${dir}:/usr/bin:/bin`, EXIT_STATUS: status } });
        assert.equal(r.status, 0, r.stderr);
        return existsSync(marker);
      };
      assert.equal(poweredOff(String(EXIT_POWER_OFF)), true, 'the terminal\'s request powers off');
      assert.equal(readFileSync(marker, 'utf8').trim(), '--no-block poweroff');
      for (const other of [String(EXIT_USAGE), '0', '1', '2', 'TERM', 'KILL', 'ABRT']) {
        assert.equal(poweredOff(other), false, `exit status ${other} leaves the board on`);
      }
    } finally {
      removeDir(dir);
    }
  });
});
