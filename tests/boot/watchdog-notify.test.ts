/**
 * The watchdog's messages to a NOTIFY_SOCKET of the test's own, both ways it sends them: one
 * datagram from the terminal's own process (native/process_native.c, the default) and the real
 * `systemd-notify` (Debian's systemd 252 here; the way without the addon): what systemd itself
 * would receive while the terminal boots (EXTEND_TIMEOUT_USEC, no READY=1) and once the boot is
 * over (READY=1 once), and from which process (the sender's credentials, which systemd checks
 * against NotifyAccess=). tests/boot/watchdog.test.ts checks the arguments; this checks that they
 * are sent as systemd reads them. The socket's reader does what systemd does with the barrier
 * systemd-notify 252 sends after each message (BARRIER=1 with a pipe's write end): it closes the fd
 * passed, so systemd-notify returns at once. socat cannot: it keeps the fd, the barrier times out
 * after 5 s and systemd-notify fails, and the watchdog sent READY=1 again (seen with socat here), so
 * the reader is a few lines of python3's socket.recvmsg. Without systemd-notify or python3: skipped
 * loudly (failed under POS_REQUIRE_TOOLS=1; .ci/run installs both).
 */
import { strict as assert } from 'node:assert';
import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Health, NOTIFY_TRIES_MAX, SystemdWatchdog, systemdNotifyCommand } from '../../boot/watchdog';
import { processNative } from '../../common/spawn-light';
import { silentLogger } from '../../common/log';
import { removeDir, tempDir } from '../../storage/testing';
import { hasTool } from '../support/tools';

const SOCKET_WAIT_MS_MAX = 5_000;
/** A NOTIFY_SOCKET reader as systemd is one: each datagram's text on a line, passed fds closed (the barrier). */
const RECEIVER_PY = [
  'import socket, sys, os, array',
  's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
  's.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)',
  's.bind(sys.argv[1])',
  'while True:',
  '    data, anc, flags, addr = s.recvmsg(4096, socket.CMSG_SPACE(16 * 4) + socket.CMSG_SPACE(12))',
  '    for level, kind, d in anc:',
  '        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:',
  '            sys.stdout.write("SENDER=%d\\n" % array.array("i", d[:12])[0])',
  '        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:',
  '            fds = array.array("i"); fds.frombytes(d[:len(d) - len(d) % fds.itemsize])',
  '            for fd in fds: os.close(fd)',
  '    sys.stdout.write(data.decode() + "\\n"); sys.stdout.flush()',
].join('\n');

async function until(what: string, ok: () => boolean): Promise<void> {
  const deadline = Date.now() + SOCKET_WAIT_MS_MAX;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`waited ${SOCKET_WAIT_MS_MAX} ms for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('boot/watchdog through the real systemd-notify', function () {
  this.timeout(30_000);
  let dir: string;
  let receiver: ChildProcess | undefined;
  let received = '';

  before(function () {
    const missing = ['systemd-notify', 'python3'].filter((t) => !hasTool(t));
    if (missing.length === 0) return;
    const message = `${missing.join(' and ')} not installed: the notify path cannot be checked (apt-get install systemd python3)`;
    if (process.env.POS_REQUIRE_TOOLS === '1') throw new Error(message);
    process.stderr.write(`\n*** SKIPPED: ${message} ***\n\n`);
    this.skip();
  });

  beforeEach(async () => {
    dir = tempDir('poswd-');
    received = '';
    const socket = join(dir, 'notify');
    receiver = spawn('python3', ['-c', RECEIVER_PY, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
    receiver.stdout?.on('data', (d: Buffer) => { received += d.toString('utf8'); });
    await until('the notify socket', () => existsSync(socket));
  });

  afterEach(async () => {
    if (receiver && receiver.exitCode === null) {
      const exited = new Promise((r) => receiver!.once('exit', r));
      receiver.kill('SIGTERM');
      await exited;
    }
    removeDir(dir);
  });

  const ways: ReadonlyArray<{ way: string; notify?: (args: readonly string[], env: NodeJS.ProcessEnv) => Promise<void>; fromThisProcess: boolean }> = [
    { way: 'asOneDatagramFromTheTerminalsOwnProcess', fromThisProcess: true },
    { way: 'throughSystemdNotify', notify: systemdNotifyCommand, fromThisProcess: false },
  ];
  for (const { way, notify, fromThisProcess } of ways) {
    it(`whileBootingSystemdReceivesExtendTimeoutAndNoReadyThenReadyOnceTheBootIsOver, ${way}`, async function () {
      if (!notify && !processNative()) {
        const message = 'build/Release/process_native.node is not built (npm install builds it): the datagram path cannot be checked';
        if (process.env.CI === 'true' || process.env.POS_REQUIRE_TOOLS === '1') throw new Error(message);
        process.stderr.write(`\n*** SKIPPED: ${message} ***\n\n`);
        this.skip();
      }
      let h: Health = { ok: true, status: 'boot', booting: true };
      const failures: string[] = [];
      const logger = { ...silentLogger, warn: (o: unknown) => { failures.push(JSON.stringify(o)); } } as unknown as typeof silentLogger;
      const env = { ...process.env, NOTIFY_SOCKET: join(dir, 'notify'), WATCHDOG_USEC: '30000000' };
      const w = new SystemdWatchdog({ env, health: async () => h, logger, ...(notify ? { notify: (args: readonly string[]) => notify(args, env) } : {}) });
      assert.deepEqual(await w.tick(), ['WATCHDOG=1', 'EXTEND_TIMEOUT_USEC=60000000', 'STATUS=boot']);
      await until('the booting message', () => received.includes('STATUS=boot'));
      assert.ok(received.includes('EXTEND_TIMEOUT_USEC=60000000'), received);
      assert.ok(!received.includes('READY=1'), received);
      h = { ok: true, status: 'login', booting: false };
      await w.tick();
      await w.tick();
      await until('the second message after the boot', () => (received.match(/STATUS=login/g) ?? []).length === 2);
      assert.equal((received.match(/READY=1/g) ?? []).length, 1, received);
      assert.equal((received.match(/EXTEND_TIMEOUT_USEC=/g) ?? []).length, 1, 'no extension once ready');
      assert.ok(received.includes(`MAINPID=${process.pid}`), 'the messages name this process as the main one');
      const senders = [...received.matchAll(/SENDER=(\d+)/g)].map((m) => Number(m[1]));
      // systemd-notify 252 follows each message with a BARRIER=1 datagram of its own.
      assert.equal(senders.length, fromThisProcess ? 3 : 6, `the sender's credentials of each datagram: ${received}`);
      if (fromThisProcess) assert.deepEqual(senders, [process.pid, process.pid, process.pid], 'sent by the terminal itself: no helper process');
      // systemd-notify (as root) sends each message with this process's credentials (--pid), its barrier with its own.
      else assert.ok(senders.some((p) => p !== process.pid), 'sent through systemd-notify, a process of its own');
      assert.deepEqual(failures, [], 'a message failed');
    });
  }

  it('aSocketNobodyListensOnIsAnErrorTheWatchdogLogsAndTriesAgain', async function () {
    if (!processNative()) {
      const message = 'build/Release/process_native.node is not built (npm install builds it): the datagram path cannot be checked';
      if (process.env.CI === 'true' || process.env.POS_REQUIRE_TOOLS === '1') throw new Error(message);
      process.stderr.write(`\n*** SKIPPED: ${message} ***\n\n`);
      this.skip();
    }
    const warned: unknown[] = [];
    const logger = { ...silentLogger, warn: (o: unknown) => { warned.push(o); } } as unknown as typeof silentLogger;
    const w = new SystemdWatchdog({ env: { ...process.env, NOTIFY_SOCKET: join(dir, 'nobody'), WATCHDOG_USEC: '30000000' }, health: async () => ({ ok: true, status: 'idle' }), logger, notifyRetryDelayMs: 1 });
    await w.tick();
    assert.equal(warned.length, NOTIFY_TRIES_MAX, 'each try failed and was logged');
    assert.match(JSON.stringify(warned[0]), /No such file or directory/);
  });
});
