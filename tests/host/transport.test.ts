import { strict as assert } from 'node:assert';
import { EventEmitter } from 'node:events';
import * as net from 'node:net';
import { PosError, isPosError } from '../../common/errors';
import { HostTransport, SocketLike, TimerClock } from '../../runtime/host/transport';
import { packFrame, swapTpdu } from '../../runtime/host/packager';
import { profile } from './fixtures';

const REQUEST = packFrame(profile, { tpdu: profile.tpdu, header: profile.header, message: { mti: '0800', fields: new Map([[11, '000001']]) } });
const RESPONSE = packFrame(profile, { tpdu: swapTpdu(profile.tpdu), header: profile.header, message: { mti: '0810', fields: new Map([[11, '000001'], [39, '00']]) } });

/** A socket that does only what the test tells it to. */
class FakeSocket extends EventEmitter implements SocketLike {
  written: Buffer[] = [];
  destroyed = false;
  write(data: Buffer): boolean { this.written.push(data); return true; }
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    queueMicrotask(() => this.emit('close'));
  }
}

/** A clock whose timers fire only when the test says so. */
class ManualClock implements TimerClock {
  private timers = new Map<number, { fn: () => void; ms: number }>();
  private next = 1;
  setTimeout(fn: () => void, ms: number): unknown { const id = this.next++; this.timers.set(id, { fn, ms }); return id; }
  clearTimeout(h: unknown): void { this.timers.delete(h as number); }
  pending(): number[] { return [...this.timers.values()].map((t) => t.ms); }
  fireAll(): void { const t = [...this.timers.values()]; this.timers.clear(); for (const x of t) x.fn(); }
}

type Behaviour = (socket: net.Socket, request: Buffer) => void;

/** A loopback server that reads one request frame per connection and does `behaviour` with it. */
async function server(behaviour: Behaviour): Promise<{ port: number; connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const s = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const frame = buf.subarray(0, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(frame.length);
        behaviour(socket, frame);
      }
    });
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  return {
    port,
    connections: () => connections,
    close: async () => { for (const x of sockets) x.destroy(); await new Promise<void>((r) => s.close(() => r())); },
  };
}

function transport(port: number, over: Partial<ConstructorParameters<typeof HostTransport>[0]> = {}): HostTransport {
  return new HostTransport({ host: '127.0.0.1', port, profile, connectTimeoutMs: 2000, responseTimeoutMs: 2000, ...over });
}

async function rejection(p: Promise<unknown>): Promise<PosError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof PosError, `expected a PosError, got ${String(e)}`);
    return e;
  }
  assert.fail('expected a rejection');
}

describe('host transport', () => {
  it('oneRequestGetsOneResponse', async () => {
    const s = await server((socket) => socket.end(RESPONSE));
    try {
      assert.deepEqual(await transport(s.port).exchange(REQUEST), RESPONSE);
    } finally { await s.close(); }
  });

  it('responseDeliveredOneByteAtATimeIsReassembled', async () => {
    const s = await server((socket) => {
      let i = 0;
      const drip = (): void => { if (i < RESPONSE.length) { socket.write(RESPONSE.subarray(i, ++i)); setImmediate(drip); } };
      drip();
    });
    try {
      assert.deepEqual(await transport(s.port).exchange(REQUEST), RESPONSE);
    } finally { await s.close(); }
  });

  it('closedPortIsRefusedAsHostUnreachable', async () => {
    const s = await server(() => undefined);
    const port = s.port;
    await s.close();
    const e = await rejection(transport(port).exchange(REQUEST));
    assert.equal(e.id, 'NET_REFUSED');
    assert.equal(e.kind, 'host-unreachable');
    assert.equal(e.detail.requestSent, false);
  });

  it('connectThatNeverCompletesIsConnectTimeout', async () => {
    const clock = new ManualClock();
    const socket = new FakeSocket();
    const t = new HostTransport({ host: '127.0.0.1', port: 1, profile, connectTimeoutMs: 1234, clock, socketFactory: () => socket });
    const p = t.exchange(REQUEST);
    assert.deepEqual(clock.pending(), [1234]);
    clock.fireAll();
    const e = await rejection(p);
    assert.equal(e.id, 'NET_CONNECT_TIMEOUT');
    assert.equal(e.kind, 'host-unreachable');
    assert.equal(socket.destroyed, true);
    assert.equal(socket.written.length, 0);
  });

  it('connectTimeoutWorksWithRealTimersToo', async () => {
    const t = new HostTransport({ host: '127.0.0.1', port: 1, profile, connectTimeoutMs: 50, socketFactory: () => new FakeSocket() });
    assert.equal((await rejection(t.exchange(REQUEST))).id, 'NET_CONNECT_TIMEOUT');
  });

  it('silentHostIsResponseTimeoutAfterTheRequestWasSent', async () => {
    const s = await server(() => undefined);
    try {
      const e = await rejection(transport(s.port, { responseTimeoutMs: 150 }).exchange(REQUEST));
      assert.equal(e.id, 'HOST_TIMEOUT');
      assert.equal(e.kind, 'timeout');
      assert.equal(e.detail.requestSent, true);
    } finally { await s.close(); }
  });

  it('responseTimeoutIsDeterministicWithAnInjectedClock', async () => {
    const clock = new ManualClock();
    const socket = new FakeSocket();
    const t = new HostTransport({ host: 'h', port: 1, profile, responseTimeoutMs: 5000, clock, socketFactory: () => socket });
    const p = t.exchange(REQUEST);
    socket.emit('connect');
    await Promise.resolve();
    await Promise.resolve();
    assert.deepEqual(socket.written, [REQUEST]);
    assert.deepEqual(clock.pending(), [5000]);
    socket.emit('data', RESPONSE.subarray(0, 10)); // a partial answer does not stop the clock
    clock.fireAll();
    assert.equal((await rejection(p)).id, 'HOST_TIMEOUT');
  });

  it('hostClosingWithoutAnsweringIsNoResponse', async () => {
    const s = await server((socket) => socket.destroy());
    try {
      const e = await rejection(transport(s.port).exchange(REQUEST));
      assert.equal(e.kind, 'timeout');
      assert.match(e.message, /without answering/);
    } finally { await s.close(); }
  });

  it('connectionClosedMidResponseIsMalformed', async () => {
    const s = await server((socket) => socket.end(RESPONSE.subarray(0, 20)));
    try {
      const e = await rejection(transport(s.port).exchange(REQUEST));
      assert.equal(e.id, 'HOST_MALFORMED');
      assert.match(e.message, new RegExp(`closed mid-response after 20 of ${RESPONSE.length} bytes`));
      assert.equal(e.detail.requestSent, true);
    } finally { await s.close(); }
  });

  it('lengthPrefixOverTheLimitIsMalformedWithoutWaitingForTheBody', async () => {
    const s = await server((socket) => socket.write(Buffer.from([0x7f, 0xff]))); // and then nothing
    try {
      const e = await rejection(transport(s.port, { responseTimeoutMs: 10_000 }).exchange(REQUEST));
      assert.equal(e.id, 'HOST_MALFORMED');
      assert.match(e.message, /over max 2048/);
      assert.equal(e.detail.requestSent, true);
    } finally { await s.close(); }
  });

  it('bytesAfterTheResponseFrameAreMalformed', async () => {
    const s = await server((socket) => socket.end(Buffer.concat([RESPONSE, Buffer.from([1, 2, 3])])));
    try {
      assert.equal((await rejection(transport(s.port).exchange(REQUEST))).id, 'HOST_MALFORMED');
    } finally { await s.close(); }
  });

  it('abortBeforeSendingIsCancelledWithNothingSent', async () => {
    const ac = new AbortController();
    ac.abort();
    const e = await rejection(transport(1).exchange(REQUEST, ac.signal));
    assert.equal(e.kind, 'cancelled');
    assert.equal(e.detail.requestSent, false);
  });

  it('abortWhileWaitingIsCancelledAndSaysTheRequestWasSent', async () => {
    const s = await server(() => undefined);
    try {
      const ac = new AbortController();
      setTimeout(() => ac.abort(), 50);
      const e = await rejection(transport(s.port).exchange(REQUEST, ac.signal));
      assert.equal(e.id, 'OPR_CANCELLED');
      assert.equal(e.detail.requestSent, true);
    } finally { await s.close(); }
  });

  it('oneShotUsesAConnectionPerExchangeAndKeepAliveReusesOne', async () => {
    const s = await server((socket) => socket.write(RESPONSE));
    try {
      const oneShot = transport(s.port);
      await oneShot.exchange(REQUEST);
      await oneShot.exchange(REQUEST);
      assert.equal(s.connections(), 2);
      const kept = transport(s.port, { keepAlive: true });
      await kept.exchange(REQUEST);
      await kept.exchange(REQUEST);
      kept.close();
      assert.equal(s.connections(), 3);
    } finally { await s.close(); }
  });

  it('keepAliveReconnectsAfterTheHostClosed', async () => {
    const s = await server((socket) => socket.end(RESPONSE));
    try {
      const kept = transport(s.port, { keepAlive: true });
      await kept.exchange(REQUEST);
      await new Promise((r) => setTimeout(r, 20)); // the FIN arrives
      await kept.exchange(REQUEST);
      kept.close();
      assert.equal(s.connections(), 2);
    } finally { await s.close(); }
  });

  it('concurrentExchangesAreAnInvariantViolation', async () => {
    const t = new HostTransport({ host: 'h', port: 1, profile, socketFactory: () => new FakeSocket(), connectTimeoutMs: 30 });
    const first = t.exchange(REQUEST);
    await assert.rejects(t.exchange(REQUEST), (e) => isPosError(e, 'invariant'));
    await rejection(first);
  });
});
