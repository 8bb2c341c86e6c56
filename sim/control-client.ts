/**
 * Client of the simulator control interface (sim/control-server.ts): request/response over JSON
 * lines, plus a stream of events after `subscribe`. Used by the front panel, scripts and tests.
 */
import { connect, Socket } from 'node:net';

export const CONTROL_REQUEST_TIMEOUT_MS_MAX = 10_000;
export const CONTROL_PENDING_MAX = 64;

export type Reply = Record<string, unknown> & { ok: boolean; error?: string };

export class ControlClient {
  private buffered = '';
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; timer: NodeJS.Timeout }>();
  private readonly eventListeners = new Set<(event: Record<string, unknown>) => void>();
  private readonly closeListeners = new Set<() => void>();
  /** Once the connection is gone every request fails at once: a caller never waits out the timeout on a dead terminal. */
  private closed = false;

  private constructor(private readonly socket: Socket) {
    // Requests are small writes in quick succession (a key down, then its up): no Nagle delay.
    socket.setNoDelay(true);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.receive(chunk));
    socket.on('close', () => this.gone('control connection closed'));
    socket.on('error', () => this.gone('control connection failed'));
  }

  static connect(port: number, host = '127.0.0.1'): Promise<ControlClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, host, () => resolve(new ControlClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Sends one command; resolves with the reply (ok false carries `error`), never rejects on a reply. */
  request(cmd: string, args: Record<string, unknown> = {}): Promise<Reply> {
    if (this.closed) return Promise.resolve({ ok: false, error: 'control connection closed' });
    if (this.pending.size >= CONTROL_PENDING_MAX) return Promise.resolve({ ok: false, error: 'too many requests pending' });
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.pending.delete(id); resolve({ ok: false, error: `no reply to ${cmd} within ${CONTROL_REQUEST_TIMEOUT_MS_MAX} ms` }); }, CONTROL_REQUEST_TIMEOUT_MS_MAX);
      this.pending.set(id, { resolve, timer });
      this.socket.write(JSON.stringify({ id, cmd, ...args }) + '\n');
    });
  }

  onEvent(listener: (event: Record<string, unknown>) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  /** Called once when the connection ends (the terminal stopped or was killed, or close()). */
  onClose(listener: () => void): () => void {
    if (this.closed) { listener(); return () => undefined; }
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Ends the connection; requests still waiting are answered "closed" now, not after their timeout. */
  close(): void {
    this.gone('control connection closed');
    this.socket.destroy();
  }

  private gone(error: string): void {
    const first = !this.closed;
    this.closed = true;
    this.failAll(error);
    if (first) for (const l of [...this.closeListeners]) l();
    this.closeListeners.clear();
  }

  private receive(chunk: string): void {
    this.buffered += chunk;
    let nl: number;
    while ((nl = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      let message: Record<string, unknown>;
      try { message = JSON.parse(line) as Record<string, unknown>; } catch { continue; }
      const waiting = typeof message.id === 'number' ? this.pending.get(message.id) : undefined;
      if (waiting) {
        clearTimeout(waiting.timer);
        this.pending.delete(message.id as number);
        waiting.resolve(message as Reply);
      } else if (typeof message.event === 'string') {
        for (const l of this.eventListeners) l(message);
      }
    }
  }

  private failAll(error: string): void {
    for (const [id, p] of this.pending) { clearTimeout(p.timer); p.resolve({ ok: false, error }); this.pending.delete(id); }
  }
}
