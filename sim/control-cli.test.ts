/**
 * `pos control` (issue 13 item 17): the README's control examples need nothing but the project.
 * Against the real control server on a simulator board (keys reach the keypad driver, the screen
 * comes back), and against a recording server for how the arguments become a request.
 */
import { strict as assert } from 'node:assert';
import { createServer, Server } from 'node:net';
import { main } from '../boot/pos';
import { EXIT_USAGE } from '../boot/cli';
import { createSimBoard, SimBoard } from './board-sim';
import { ControlServer } from './control-server';
import { controlRequest } from './control-cli';
import { KeyEvent } from '../hal/keypad';

async function pos(...argv: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, (l) => { out.push(l); }, (l) => { err.push(l); });
  return { code, out, err };
}

/** A control server that records each request and answers `reply(request)`. */
async function recordingServer(reply: (req: Record<string, unknown>) => Record<string, unknown>): Promise<{ server: Server; port: number; seen: Array<Record<string, unknown>> }> {
  const seen: Array<Record<string, unknown>> = [];
  const server = createServer((socket) => {
    socket.setEncoding('utf8');
    let buffered = '';
    socket.on('data', (d: string) => {
      buffered += d;
      let nl: number;
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const req = JSON.parse(buffered.slice(0, nl)) as Record<string, unknown>;
        buffered = buffered.slice(nl + 1);
        seen.push(req);
        socket.write(JSON.stringify({ id: req.id, ...reply(req) }) + '\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0, seen };
}

describe('pos control: the control interface from a shell, no nc', () => {
  describe('against the simulator board', () => {
    let sim: SimBoard;
    let server: ControlServer;
    let port: number;
    beforeEach(async () => {
      sim = await createSimBoard();
      server = new ControlServer(sim);
      port = await server.listen(0);
    });
    afterEach(async () => { await server.close(); await sim.close(); });

    it('keysTypedWithPosControlReachTheKeypadDriverAndTheReplyIsPrinted', async () => {
      const keys: string[] = [];
      await sim.board.keypad().start();
      sim.board.keypad().onKey((e: KeyEvent) => { if (e.type === 'down') keys.push(e.key); });
      const r = await pos('control', '--port', String(port), 'keys', '01OK');
      assert.equal(r.code, 0, r.err.join('\n'));
      assert.equal(r.out.length, 1);
      assert.deepEqual(JSON.parse(r.out[0]), { id: 1, ok: true });
      assert.deepEqual(keys, ['0', '1', 'OK']);
    });

    it('anUnknownControlCommandIsTheServersErrorAndExitCode1', async () => {
      const r = await pos('control', '--port', String(port), 'frobnicate');
      assert.equal(r.code, 1);
      assert.match(r.err.join('\n'), /unknown command "frobnicate"; known: .*press/);
    });
  });

  it('argumentsBecomeTheRequestTheReadmeShows', async () => {
    const { server, port, seen } = await recordingServer(() => ({ ok: true }));
    try {
      assert.equal((await pos('control', '--port', String(port), 'press', '1')).code, 0);
      assert.equal((await pos('control', '--port', String(port), 'battery', 'percent=14', 'low=true')).code, 0);
      assert.equal((await pos('control', '--port', String(port), '{"id":9,"cmd":"sign","name":"demo"}')).code, 0);
      assert.equal((await pos('control', '--port', String(port), 'printer-fault', 'null')).code, 0);
      assert.equal((await pos('control', '--port', String(port), 'wifi', '-84')).code, 0);
      assert.equal((await pos('control', '--port', String(port), 'wifi', 'ssid=1234', 'inRange=false')).code, 0);
      assert.deepEqual(seen.map(({ id: _id, ...rest }) => rest), [
        { cmd: 'press', key: '1' }, // a key stays text even when it is a digit
        { cmd: 'battery', percent: 14, low: true },
        { cmd: 'sign', name: 'demo' },
        { cmd: 'printer-fault', fault: null },
        { cmd: 'wifi', signalDbm: -84 },
        { cmd: 'wifi', ssid: '1234', inRange: false }, // an SSID stays text even when it is digits
      ]);
    } finally {
      server.close();
    }
  });

  it('thePortComesFromTheEnvironmentWhenNotGiven', async () => {
    const { server, port, seen } = await recordingServer(() => ({ ok: true, name: 'idle' }));
    const saved = process.env.POS_CONTROL_PORT;
    process.env.POS_CONTROL_PORT = String(port);
    try {
      const r = await pos('control', 'screen');
      assert.equal(r.code, 0);
      assert.equal(JSON.parse(r.out[0]).name, 'idle');
      assert.equal(seen[0].cmd, 'screen');
    } finally {
      if (saved === undefined) delete process.env.POS_CONTROL_PORT; else process.env.POS_CONTROL_PORT = saved;
      server.close();
    }
  });

  it('nothingListeningIsNamedWithTheAddressNotAStackTrace', async () => {
    const { server, port } = await recordingServer(() => ({ ok: true }));
    await new Promise((r) => server.close(r)); // a port that was just free: nothing listens there now
    const r = await pos('control', '--port', String(port), 'screen');
    assert.equal(r.code, 2);
    assert.match(r.err.join('\n'), new RegExp(`nothing answers on 127\\.0\\.0\\.1:${port}.*npm start prints its control port`));
  });

  it('aBareValueWhereTheCommandHasNoMainFieldIsAUsageError', () => {
    assert.throws(() => controlRequest(['screen', 'extra']), /give it as field=value/);
    assert.throws(() => controlRequest([]), /control command is missing/);
    assert.deepEqual(controlRequest(['swipe', 'magDebit']), { cmd: 'swipe', fields: { card: 'magDebit' } });
  });

  it('aBareValueHoldingAnEqualsSignIsTheMainFieldsValue', () => {
    // The README's `host {line: "fault SPEC"}`: a fault spec has its own key=value parts.
    assert.deepEqual(controlRequest(['host', 'fault close-before-response,type=sale']), { cmd: 'host', fields: { line: 'fault close-before-response,type=sale' } });
    assert.deepEqual(controlRequest(['battery', 'percent=5', 'charging=false']), { cmd: 'battery', fields: { percent: 5, charging: false } });
  });

  it('noCommandAtAllExitsWithTheUsageCode', async () => {
    const r = await pos('control');
    assert.equal(r.code, EXIT_USAGE);
    assert.match(r.err.join('\n'), /usage: pos control/);
  });
});
