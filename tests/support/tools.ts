/**
 * Tests that need an external tool (socat, strace, tmux) call `needTool` in a `before` hook.
 * Without the tool the suite is skipped with a loud message on stderr; under CI
 * (POS_REQUIRE_TOOLS=1, set by .ci/run) a missing tool fails the suite instead.
 */
import { spawnSync } from 'node:child_process';

export function hasTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** Debian packages whose name is not the tool's. */
const PACKAGE_OF: Readonly<Record<string, string>> = { setpriv: 'util-linux', chrt: 'util-linux' };

export function needTool(ctx: Mocha.Context, name: string): void {
  if (hasTool(name)) return;
  const message = `${name} is not installed: these tests cannot run (apt-get install ${PACKAGE_OF[name] ?? name}); .ci/run installs it`;
  if (process.env.POS_REQUIRE_TOOLS === '1') throw new Error(message);
  process.stderr.write(`\n*** SKIPPED: ${message} ***\n\n`);
  ctx.skip();
}
