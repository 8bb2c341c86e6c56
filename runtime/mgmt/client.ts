/**
 * The terminal's session to its management broker (MQTT 5, docs/MANAGEMENT.md): a retained
 * presence with a last-will, a retained status republished on change and on every heartbeat,
 * commands acknowledged step by step, and a bounded offline queue (outbox.ts).
 *
 *   const m = ManagementClient.start({ config, terminal, logger, clock: Date.now });
 *   ...; m.notifyStatusChanged(); m.publishEvent('settled', {...}); await m.stop();
 *
 * The session is persistent (clean start off, a session expiry): commands sent while the terminal
 * is away wait at the broker and arrive at the next connect; a redelivered command (same id) is
 * not run twice, its last acknowledgement is sent again. Nothing that arrives can crash the
 * terminal: every payload goes through protocol.ts parseCommand and every handler's failure
 * becomes a refusal with its code.
 */
import { createHash } from 'node:crypto';
import { request as httpsRequest } from 'node:https';
import { gzipSync } from 'node:zlib';
import { connect, IClientOptions, MqttClient } from 'mqtt';
import { InvariantError, PosError } from '../../common/errors';
import type { Logger } from '../../common/log';
import type { HostParameters } from '../host/messages-v2';
import { checkParamsPatch } from './params';
import { VERSION_RE } from '../records';
import { Outbox, OUTBOX_BYTES_MAX, OUTBOX_MESSAGES_MAX, OutMessage } from './outbox';
import {
  Ack, Command, CommandName, MGMT_SCHEMA_VERSION, MgmtTopics, SERIAL_RE, StatusDocument, StatusInput, TOPIC_PREFIX_DEFAULT, UpdateOffer, ack, checkUpdateOffer, parseCommand, refusal,
  QueueFigures, ReceiptDocument, statusKey, topicsFor,
} from './protocol';
import type { QueuedReceipt, ReceiptQueue } from './receipt-queue';

/** The status is republished at least this often, changed or not (the console's liveness view). */
export const HEARTBEAT_INTERVAL_MS_DEFAULT = 60_000;
/** How often the status is compared with the last one published (a change publishes it at once). */
export const STATUS_CHECK_INTERVAL_MS_DEFAULT = 5_000;
/** Wait between reconnect attempts (mqtt.js retries for ever at this period). */
export const RECONNECT_PERIOD_MS_DEFAULT = 5_000;
export const CONNECT_TIMEOUT_MS_DEFAULT = 15_000;
/** MQTT keep-alive: the broker declares the terminal gone (and sends its will) after 1.5 times this. */
export const KEEPALIVE_S_DEFAULT = 60;
/** How long the broker keeps the session (subscription, queued commands) of a terminal that is away. */
export const SESSION_EXPIRY_S_DEFAULT = 24 * 3600;
/** Commands accepted and not finished yet; one more is refused E-MGT-08. */
export const COMMANDS_PENDING_MAX = 8;
/** Final acks remembered by command id, so that a redelivered command is answered, not run again. */
export const RECENT_COMMAND_IDS_MAX = 256;
/** A log upload in the ack returns at most this many bytes (the newest lines). */
export const LOG_UPLOAD_BYTES_MAX = 64 * 1024;
/** A log upload to the console's https address (`url`) sends at most this much (before gzip). */
export const LOG_UPLOAD_HTTPS_BYTES_MAX = 4 * 1024 * 1024;
/** The upload's PUT must be answered within this (it is within the command's own time too). */
export const LOG_UPLOAD_HTTPS_TIMEOUT_MS = 20_000;
/** The console's upload address: https only, no longer than this. */
const LOG_UPLOAD_URL_CHARS_MAX = 2048;
/** A reboot waits for the terminal to be idle this long by default, and never longer than the max. */
export const REBOOT_IDLE_WAIT_MS_DEFAULT = 10 * 60_000;
export const REBOOT_IDLE_WAIT_MS_MAX = 60 * 60_000;
export const IDLE_POLL_MS_DEFAULT = 1_000;
/** Before rebooting, the done ack and the offline presence are given this long to reach the broker. */
export const FLUSH_BEFORE_REBOOT_MS_MAX = 5_000;
export const LOCK_REASON_CHARS_MAX = 64;

/** Each command's time to finish once it runs (a reboot's is its idle wait). */
export const COMMAND_TIMEOUT_MS_DEFAULT: Readonly<Record<Exclude<CommandName, 'reboot'>, number>> = {
  // An update's is its download and check; its wait for a safe moment is UPDATE_WAIT_SAFE_MS_*.
  status: 5_000, 'set-params': 30_000, diagnostics: 120_000, 'upload-logs': 30_000, lock: 10_000, unlock: 10_000, update: 30 * 60_000,
  'flag-version': 10_000, 'unflag-version': 10_000,
};
/** An update waits this long by default for a safe moment (idle, battery, batch), never longer than the max. */
export const UPDATE_WAIT_SAFE_MS_DEFAULT = 6 * 3600_000;
export const UPDATE_WAIT_SAFE_MS_MAX = 24 * 3600_000;

/** What a terminal with A/B update slots offers the `update` command (boot/mgmt-update.ts). */
export interface MgmtUpdater {
  /** Downloads and checks the package (hash, signature, board, newer version); resolves with its staged file. */
  fetch(offer: UpdateOffer): Promise<string>;
  /** Why now is not a safe moment besides being busy (battery low, batch open), or undefined when it is. */
  unsafeBecause(offer: UpdateOffer): string | undefined;
  /** Installs the staged package into the inactive slot (the reboot follows). */
  apply(file: string): Promise<unknown>;
}

/** What the management channel needs from the terminal (boot/terminal-app.ts wires it). */
export interface MgmtTerminal {
  status(): StatusInput;
  /** Applies checked parameters (params.ts applyParamsPatch: journaled), returns the set in force. */
  setParams(patch: HostParameters): Promise<HostParameters>;
  /** Runs the automatic diagnostics (boot/diagnostics.ts) and returns their results. */
  diagnostics(): Promise<unknown>;
  /**
   * The newest structured log lines (pino JSON, oldest first), at most `maxBytes` bytes, from
   * `sinceMs` on when given; `source` says where they came from (journald, memory).
   */
  logs(maxBytes: number, sinceMs?: number): Promise<{ readonly text: string; readonly source: string; readonly truncated?: boolean }>;
  /** True when no sale, settlement or operator action is under way (a reboot waits for it). */
  isIdle(): boolean;
  reboot(): Promise<void> | void;
  /** Locks or unlocks selling, durably (journaled: a lock holds across reboots); `commandId` is the console's. */
  setSellingLocked(locked: boolean, reason: string, commandId: string): Promise<void>;
  /** Flags a version bad or takes the flag back, durably (journaled, as a lock is). */
  setVersionFlag(version: string, bad: boolean, reason: string, commandId: string): Promise<void>;
  /** The versions flagged bad now (an update to one is refused). */
  flaggedVersions(): readonly string[];
  /** Absent: `update` is refused (E-MGT-09: no update slots on this terminal). */
  readonly updater?: MgmtUpdater;
}

export interface MgmtConfig {
  /** `mqtts://host:port`; `mqtt://` only with allowPlain (a loopback broker in development). */
  readonly url: string;
  readonly serial: string;
  /** The serial or the TID, as the broker's password file (or its auth plugin) knows it. */
  readonly username: string;
  readonly password?: string;
  /** The only CA the broker's certificate may chain to (pinned: the system's CAs are not used). */
  readonly caPem?: string;
  /** Where caPem was read from, named when the broker's certificate does not chain to it. */
  readonly caFile?: string;
  /** The terminal's client certificate and key from provisioning, when the broker wants one. */
  readonly certPem?: string;
  readonly keyPem?: string;
  readonly allowPlain?: boolean;
  readonly topicPrefix?: string;
  readonly heartbeatMs?: number;
  readonly statusCheckMs?: number;
  readonly reconnectMs?: number;
  readonly connectTimeoutMs?: number;
  readonly keepaliveS?: number;
  readonly sessionExpiryS?: number;
  readonly idlePollMs?: number;
  readonly outboxMessagesMax?: number;
  readonly outboxBytesMax?: number;
  readonly commandTimeoutMs?: Partial<Record<Exclude<CommandName, 'reboot'>, number>>;
}

export interface MgmtClientOptions {
  readonly config: MgmtConfig;
  readonly terminal: MgmtTerminal;
  readonly logger: Logger;
  readonly clock: () => number;
  /**
   * The durable e-receipt queue (receipt-queue.ts): receipts go through it, are sent when the
   * broker is there and removed when it acknowledged them. Absent: they share the in-memory outbox.
   */
  readonly receiptQueue?: ReceiptQueue;
}

/** Refuses a configuration that could not work or would not be safe (E-BRD-01 names the field). */
export function checkMgmtConfig(c: MgmtConfig): void {
  const bad = (field: string, why: string): never => { throw new PosError('BRD_INVALID', `management.${field}: ${why}`, { field: `management.${field}` }); };
  const m = /^(mqtts?):\/\/([^/:]+|\[[^\]]+\])(:\d{1,5})?\/?$/.exec(c.url);
  if (!m) bad('url', `"${c.url}" is not mqtts://host:port`);
  else if (m[1] === 'mqtt' && !c.allowPlain) bad('url', 'plain mqtt:// needs allowPlain (development only): use mqtts:// with a pinned CA');
  else if (m[1] === 'mqtts' && !c.caPem) bad('caPem', 'mqtts:// needs the broker\'s CA (pinned)');
  if (!SERIAL_RE.test(c.serial)) bad('serial', `"${c.serial}": 4..32 of A-Z 0-9 -`);
  if (!c.username) bad('username', 'empty');
  if ((c.certPem === undefined) !== (c.keyPem === undefined)) bad('certPem', 'a client certificate needs its key and the other way round');
  for (const [k, v] of Object.entries({ heartbeatMs: c.heartbeatMs, statusCheckMs: c.statusCheckMs, reconnectMs: c.reconnectMs, idlePollMs: c.idlePollMs })) {
    if (v !== undefined && !(Number.isSafeInteger(v) && v >= 10)) bad(k, `${v} is not a whole number of ms >= 10`);
  }
}

/** The management link as diagnostics shows it (boot/diagnostics.ts). */
export interface MgmtLinkState {
  readonly url: string;
  readonly connected: boolean;
  /** Messages held for the broker (bounded by the outbox) and dropped from it since the start. */
  readonly queued: number;
  readonly dropped: number;
  /** The last failure to reach the broker since the last good connection: its code and its cause alone (no code, no address). */
  readonly lastError?: { readonly code: string; readonly message: string; readonly atMs: number };
}

/** TLS verdicts on the broker's certificate that mean it does not chain to the pinned CA. */
const UNTRUSTED_BROKER_CERT: ReadonlySet<string> = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_SIGNATURE_FAILURE',
]);
const BROKER_CERT_DATE: ReadonlySet<string> = new Set(['CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID']);
/** MQTT 5 CONNACK reasons for a user name or password the broker does not take (mqtt.js puts them in `code`). */
const BROKER_REFUSED_CREDENTIALS: ReadonlySet<number> = new Set([0x86, 0x87]);

/**
 * Why the broker was not reached, in words a technician can act on: which file the certificate
 * was checked against, that a certificate's dates are read by the terminal's clock, that the
 * credentials are the factory's (`pos factory mgmt`).
 */
export function explainBrokerError(e: Error, caFile?: string): string {
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && UNTRUSTED_BROKER_CERT.has(code)) {
    return `${e.message}: the broker's certificate is not signed by the pinned CA${caFile ? ` (management.caFile ${caFile})` : ' (the board file names no management.caFile)'}`;
  }
  if (typeof code === 'string' && BROKER_CERT_DATE.has(code)) return `${e.message}: the certificate's dates are checked by this terminal's clock; check its date and time`;
  if (typeof code === 'number' && BROKER_REFUSED_CREDENTIALS.has(code)) return `${e.message}: the broker refused this terminal's user name or password (management.username, passwordFile or the sealed password of pos factory mgmt)`;
  return e.message;
}

export class ManagementClient {
  readonly topics: MgmtTopics;
  private readonly client: MqttClient;
  private readonly outbox: Outbox;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly pending: Command[] = [];
  private readonly running = new Set<string>();
  private readonly finished = new Map<string, Ack>();
  private pumping = false;
  private seq = 0;
  private lastStatusKey: string | undefined;
  private connectErrorLogged = false;
  private lastError: MgmtLinkState['lastError'];
  private linkUp = false;
  private stopped = false;
  private readonly log: Logger;
  /** Queued receipts handed to mqtt.js and not yet acknowledged (it resends them itself after a reconnect). */
  private readonly receiptsInFlight = new Set<number>();

  static start(o: MgmtClientOptions): ManagementClient {
    checkMgmtConfig(o.config);
    return new ManagementClient(o);
  }

  private constructor(private readonly o: MgmtClientOptions) {
    const c = o.config;
    this.log = o.logger.child({ mgmt: c.serial });
    this.topics = topicsFor(c.serial, c.topicPrefix ?? TOPIC_PREFIX_DEFAULT);
    this.outbox = new Outbox({ messagesMax: c.outboxMessagesMax ?? OUTBOX_MESSAGES_MAX, bytesMax: c.outboxBytesMax ?? OUTBOX_BYTES_MAX });
    this.client = connect(c.url, this.clientOptions());
    this.client.on('connect', (connack) => this.onConnect(connack.sessionPresent));
    this.client.on('message', (topic, payload) => { if (topic === this.topics.cmd) this.receive(payload); });
    this.client.on('error', (e) => this.onError(e));
    this.client.on('close', () => {
      // Once per lost connection: mqtt.js also closes after every failed retry. A close this
      // client asked for (stop: a restart, an update's reboot) is no lost broker and no error.
      const lost = this.linkUp && !this.stopped;
      this.linkUp = false;
      if (!lost) return;
      this.lastError = { code: 'E-MGT-07', message: 'connection lost', atMs: this.o.clock() };
      this.log.warn({ code: 'E-MGT-07' }, 'management broker lost: queuing until it is back');
    });
    this.timers.push(setInterval(() => this.publishStatus(true), c.heartbeatMs ?? HEARTBEAT_INTERVAL_MS_DEFAULT));
    this.timers.push(setInterval(() => this.publishStatus(false), c.statusCheckMs ?? STATUS_CHECK_INTERVAL_MS_DEFAULT));
    for (const t of this.timers) t.unref();
  }

  private clientOptions(): IClientOptions {
    const c = this.o.config;
    return {
      protocolVersion: 5,
      clientId: `pos-${c.serial}`,
      clean: false,
      username: c.username,
      ...(c.password !== undefined ? { password: c.password } : {}),
      ...(c.caPem !== undefined ? { ca: c.caPem } : {}),
      ...(c.certPem !== undefined && c.keyPem !== undefined ? { cert: c.certPem, key: c.keyPem } : {}),
      rejectUnauthorized: true,
      reconnectPeriod: c.reconnectMs ?? RECONNECT_PERIOD_MS_DEFAULT,
      connectTimeout: c.connectTimeoutMs ?? CONNECT_TIMEOUT_MS_DEFAULT,
      keepalive: c.keepaliveS ?? KEEPALIVE_S_DEFAULT,
      properties: { sessionExpiryInterval: c.sessionExpiryS ?? SESSION_EXPIRY_S_DEFAULT },
      // Our own bounded outbox holds what is said while offline; mqtt.js would queue without limit.
      queueQoSZero: false,
      will: { topic: this.topics.presence, payload: Buffer.from(this.presence(false, 'lost')), qos: 1, retain: true },
    };
  }

  get connected(): boolean { return this.client.connected; }

  link(): MgmtLinkState {
    return {
      url: this.o.config.url, connected: this.client.connected, queued: this.outbox.length, dropped: this.outbox.dropped,
      ...(this.lastError && !this.client.connected ? { lastError: this.lastError } : {}),
    };
  }
  /** Outgoing messages dropped from the offline queue since start. */
  get dropped(): number { return this.outbox.dropped; }
  get queued(): number { return this.outbox.length; }

  /** Publishes the status now if it changed (call after anything the status shows). */
  notifyStatusChanged(): void { this.publishStatus(false); }

  /** An event the terminal reports on its own (QoS 1; queued while offline). */
  publishEvent(kind: string, data: unknown): void {
    this.send({ topic: this.topics.event, payload: JSON.stringify({ v: MGMT_SCHEMA_VERSION, kind, atMs: this.o.clock(), data }), qos: 1, what: `event ${kind}` });
  }

  /**
   * An approved transaction's slip for the acquirer's e-receipt service (QoS 1). With the durable
   * queue it is on disk before this returns and leaves it when the broker acknowledged it; without,
   * it waits in the in-memory outbox while offline.
   */
  publishReceipt(doc: ReceiptDocument): void {
    const q = this.o.receiptQueue;
    const inMemory = (): void => this.send({ topic: this.topics.receipt, payload: JSON.stringify(doc), qos: 1, what: `receipt ${doc.id}` });
    if (!q) { inMemory(); return; }
    let dropped: QueuedReceipt[];
    try {
      dropped = q.push(doc);
    } catch (e) {
      // A broken invariant (an unmasked card) must stop here; a disk that refuses the file must not
      // stop the terminal (this runs as the result is shown): the receipt waits in memory instead.
      if (e instanceof InvariantError) throw e;
      this.log.warn({ id: doc.id, err: String(e) }, 'e-receipt could not be queued on disk: it waits in memory only (lost at a restart)');
      inMemory();
      return;
    }
    for (const gone of dropped) {
      this.log.warn({ dropped: gone.id, receiptsDropped: q.dropped }, `e-receipt queue full (${q.length}): dropped the oldest, ${gone.id}`);
    }
    this.sendReceipts();
    this.publishStatus(false);
  }

  /** Queued receipts to the broker, oldest first, each once per connection (mqtt.js resends unacknowledged ones). */
  private sendReceipts(): void {
    const q = this.o.receiptQueue;
    if (!q || !this.client.connected || this.stopped) return;
    for (const r of q.pending()) {
      if (this.receiptsInFlight.has(r.seq)) continue;
      this.receiptsInFlight.add(r.seq);
      this.client.publish(this.topics.receipt, r.payload, { qos: 1 }, (e) => {
        this.receiptsInFlight.delete(r.seq);
        if (e) { this.log.warn({ id: r.id, err: e.message }, 'e-receipt not acknowledged: kept, sent again at the next connect'); return; }
        q.remove(r.seq);
        this.publishStatus(false);
      });
    }
  }

  /** A clean goodbye: presence offline (retained), then DISCONNECT (no will). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    if (this.client.connected) await this.flushed(this.publishAsync(this.topics.presence, this.presence(false, 'stopped'), 1, true));
    await this.client.endAsync();
  }

  /** The link dropped without a goodbye (a battery pull): the broker sends the will. */
  kill(): void {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.client.end(true);
  }

  // ------------------------------------------------------------ session

  private onConnect(sessionPresent: boolean): void {
    this.connectErrorLogged = false;
    this.lastError = undefined;
    this.linkUp = true;
    // Commands and acks are small and answered at once: Nagle's wait behind the peer's delayed ACK
    // (40 ms, measured by bench:fleet) would only add latency. A new socket on every connect.
    (this.client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
    this.log.info({ sessionPresent, queued: this.outbox.length, dropped: this.outbox.dropped }, 'management broker connected');
    this.client.publish(this.topics.presence, this.presence(true), { qos: 1, retain: true });
    this.client.subscribe(this.topics.cmd, { qos: 1 }, (e) => { if (e) this.log.warn({ err: e.message }, 'management: subscribing to commands failed'); });
    for (const m of this.outbox.drain()) this.client.publish(m.topic, m.payload, { qos: m.qos });
    this.sendReceipts();
    // Always published afresh: it carries the drop count, and it may have changed while away.
    this.publishStatus(true);
  }

  /** Logs the first failure after each good connection only: retries every few seconds for ever. */
  private onError(e: Error): void {
    const cause = explainBrokerError(e, this.o.config.caFile);
    const err = new PosError('MGT_BROKER', `${this.o.config.url}: ${cause}`);
    this.lastError = { code: err.code, message: cause, atMs: this.o.clock() };
    if (this.connectErrorLogged) return;
    this.connectErrorLogged = true;
    this.log.warn({ code: err.code, err: e.message }, err.message);
  }

  private presence(online: boolean, reason?: string): string {
    return JSON.stringify({ v: MGMT_SCHEMA_VERSION, serial: this.o.config.serial, online, ...(reason ? { reason } : {}), atMs: this.o.clock() });
  }

  private send(m: OutMessage): void {
    if (this.client.connected) { this.client.publish(m.topic, m.payload, { qos: m.qos }); return; }
    for (const gone of this.outbox.push(m)) {
      this.log.warn({ dropped: gone.what, topic: gone.topic, droppedTotal: this.outbox.dropped }, `management offline queue full (${this.outbox.length}): dropped the oldest, ${gone.what}`);
    }
  }

  private publishAsync(topic: string, payload: string, qos: 0 | 1, retain: boolean): Promise<unknown> {
    return this.client.publishAsync(topic, payload, { qos, retain });
  }

  /** Waits for a publication at most FLUSH_BEFORE_REBOOT_MS_MAX; a failure is logged, not thrown. */
  private async flushed(p: Promise<unknown>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => { timer = setTimeout(resolve, FLUSH_BEFORE_REBOOT_MS_MAX); });
    await Promise.race([p.then(() => undefined, (e: unknown) => this.log.warn({ err: String(e) }, 'management: publication not confirmed')), late]);
    clearTimeout(timer);
  }

  // ------------------------------------------------------------ status

  private statusInput(): StatusInput | undefined {
    try { return this.o.terminal.status(); } catch (e) {
      this.log.warn({ err: String(e) }, 'management: the status could not be read');
      return undefined;
    }
  }

  /** Publishes the retained status when it changed or when `force` (heartbeat, connect). */
  private publishStatus(force: boolean): void {
    if (!this.client.connected || this.stopped) return;
    const input = this.statusInput();
    if (input === undefined) return;
    const q = this.o.receiptQueue;
    const figures: QueueFigures = { droppedMessages: this.outbox.dropped, ...(q ? { receiptsQueued: q.length, receiptsDropped: q.dropped } : {}) };
    const key = statusKey(input, figures);
    if (!force && key === this.lastStatusKey) return;
    this.lastStatusKey = key;
    const doc: StatusDocument = { v: MGMT_SCHEMA_VERSION, serial: this.o.config.serial, seq: ++this.seq, atMs: this.o.clock(), ...figures, ...input };
    this.client.publish(this.topics.status, JSON.stringify(doc), { qos: 1, retain: true });
  }

  // ------------------------------------------------------------ commands

  private answer(a: Ack): void {
    this.send({ topic: this.topics.ack, payload: JSON.stringify(a), qos: 1, what: `ack ${a.id ?? '?'} ${a.result}` });
  }

  private remember(a: Ack & { id: string }): void {
    this.finished.set(a.id, a);
    while (this.finished.size > RECENT_COMMAND_IDS_MAX) this.finished.delete(this.finished.keys().next().value as string); // non-empty: size checked
  }

  /** One command payload from the broker; never throws. */
  private receive(payload: Buffer): void {
    try {
      this.take(payload);
    } catch (e) {
      this.log.error({ err: String(e) }, 'management: a command could not be handled');
    }
  }

  private take(payload: Buffer): void {
    const now = this.o.clock();
    const p = parseCommand(payload);
    if (!p.ok) {
      this.log.warn({ id: p.id, cmd: p.cmd, code: p.error.code }, `management command refused: ${p.error.message}`);
      this.answer(refusal(p, p.error, now));
      return;
    }
    const c = p.command;
    const done = this.finished.get(c.id);
    if (done) { this.answer(done); return; } // redelivered: answered again, not run again
    if (this.running.has(c.id)) return;
    const refuse = (e: PosError): void => {
      const a = { ...refusal(c, e, now), id: c.id };
      this.remember(a);
      this.answer(a);
    };
    if (c.expiresAtMs !== undefined && now > c.expiresAtMs) { refuse(new PosError('MGT_EXPIRED', `expired at ${new Date(c.expiresAtMs).toISOString()}`)); return; }
    if (this.pending.length >= COMMANDS_PENDING_MAX) { refuse(new PosError('MGT_BUSY', `${this.pending.length} commands wait already (at most ${COMMANDS_PENDING_MAX})`)); return; }
    this.running.add(c.id);
    this.answer(ack(c, 'accepted', now));
    this.pending.push(c);
    void this.pump();
  }

  /** Runs the accepted commands one at a time, in order. */
  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      for (let c = this.pending.shift(); c; c = this.pending.shift()) {
        const a = { ...(await this.run(c)), id: c.id };
        this.running.delete(c.id);
        this.remember(a);
        this.log.info({ id: c.id, cmd: c.cmd, result: a.result, code: a.code }, `management command ${c.cmd}: ${a.result}`);
        if ((c.cmd === 'reboot' || c.cmd === 'update') && a.result === 'done') { await this.rebootAfter(a); return; }
        this.answer(a);
      }
    } finally {
      this.pumping = false;
    }
  }

  private async run(c: Command): Promise<Ack> {
    try {
      if (c.cmd === 'reboot') return ack(c, 'done', this.o.clock(), { data: await this.waitIdle(c) });
      if (c.cmd === 'update') return ack(c, 'done', this.o.clock(), { data: await this.update(c) });
      const limitMs = this.o.config.commandTimeoutMs?.[c.cmd] ?? COMMAND_TIMEOUT_MS_DEFAULT[c.cmd];
      const data = await withTimeout(this.handle(c), limitMs, c.cmd);
      return ack(c, 'done', this.o.clock(), { data });
    } catch (e) {
      return refusal(c, e, this.o.clock());
    }
  }

  private async handle(c: Command): Promise<unknown> {
    const t = this.o.terminal;
    switch (c.cmd) {
      case 'status': this.publishStatus(true); return this.statusInput();
      case 'set-params': {
        const params = await t.setParams(checkParamsPatch(c.args));
        return { params };
      }
      case 'diagnostics': return { report: await t.diagnostics() };
      case 'upload-logs': return this.logs(c.args);
      case 'lock':
      case 'unlock': {
        await t.setSellingLocked(c.cmd === 'lock', reasonArg(c.args), c.id);
        this.publishStatus(false);
        return { sellingLocked: c.cmd === 'lock' };
      }
      case 'flag-version':
      case 'unflag-version': {
        const version = c.args.version;
        if (typeof version !== 'string' || !VERSION_RE.test(version)) throw new PosError('MGT_MALFORMED', 'version: MAJOR.MINOR.PATCH, as the update command names it');
        await t.setVersionFlag(version, c.cmd === 'flag-version', reasonArg(c.args), c.id);
        this.publishStatus(false);
        return { flaggedVersions: t.flaggedVersions() };
      }
      case 'reboot':
      case 'update': throw new PosError('MGT_FAILED', `${c.cmd} is not run here`); // run() takes them first
    }
  }

  /**
   * `upload-logs`: the newest structured log lines in the ack (at most LOG_UPLOAD_BYTES_MAX), or,
   * with `url`, up to LOG_UPLOAD_HTTPS_BYTES_MAX gzipped and PUT to that https address with the
   * management CA pinned (what a TMS gives for a file: a one-time upload address), the ack saying
   * how much went and its SHA-256. `sinceMs`: only lines from then on.
   */
  private async logs(args: Readonly<Record<string, unknown>>): Promise<Record<string, unknown>> {
    const { maxBytes: maxArg, sinceMs, url } = args;
    if (url !== undefined && (typeof url !== 'string' || !/^https:\/\/[^\s/]+\/\S*$/.test(url) || url.length > LOG_UPLOAD_URL_CHARS_MAX)) throw new PosError('MGT_MALFORMED', 'url: an https:// address');
    const limit = url === undefined ? LOG_UPLOAD_BYTES_MAX : LOG_UPLOAD_HTTPS_BYTES_MAX;
    if (maxArg !== undefined && !(typeof maxArg === 'number' && Number.isSafeInteger(maxArg) && maxArg >= 1 && maxArg <= limit)) {
      throw new PosError('MGT_MALFORMED', `maxBytes: a whole number in 1..${limit}`);
    }
    if (sinceMs !== undefined && !(typeof sinceMs === 'number' && Number.isSafeInteger(sinceMs) && sinceMs >= 0)) throw new PosError('MGT_MALFORMED', 'sinceMs: ms since the epoch');
    const maxBytes = typeof maxArg === 'number' ? maxArg : limit;
    const got = await this.o.terminal.logs(maxBytes, sinceMs as number | undefined);
    const full = Buffer.from(got.text, 'utf8');
    // The handler should keep to maxBytes; the bound holds even when it does not (newest kept).
    const kept = full.length > maxBytes ? full.subarray(full.length - maxBytes) : full;
    const text = kept.toString('utf8').replace(/^\uFFFD+/, '');
    const truncated = full.length > maxBytes || got.truncated === true;
    if (url === undefined) return { bytes: Buffer.byteLength(text), truncated, source: got.source, text };
    const body = gzipSync(Buffer.from(text, 'utf8'));
    await this.put(url as string, body);
    return { bytes: Buffer.byteLength(text), truncated, source: got.source, uploaded: { gzipBytes: body.length, sha256: createHash('sha256').update(body).digest('hex') } };
  }

  /** PUTs `body` (gzip) to the console's address with the management CA pinned; a non-2xx answer is E-MGT-09. */
  private put(url: string, body: Buffer): Promise<void> {
    const ca = this.o.config.caPem;
    return new Promise((resolve, reject) => {
      const req = httpsRequest(url, {
        method: 'PUT', ...(ca !== undefined ? { ca } : {}), rejectUnauthorized: true, timeout: LOG_UPLOAD_HTTPS_TIMEOUT_MS,
        headers: { 'content-type': 'application/x-ndjson', 'content-encoding': 'gzip', 'content-length': String(body.length), 'x-pos-serial': this.o.config.serial },
      }, (res) => {
        res.resume();
        res.on('end', () => ((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300 ? resolve() : reject(new PosError('MGT_FAILED', `log upload: ${url.replace(/\?.*$/, '')} answered ${res.statusCode}`))));
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${LOG_UPLOAD_HTTPS_TIMEOUT_MS} ms`)));
      req.on('error', (e) => reject(new PosError('MGT_FAILED', `log upload: ${e.message}`)));
      req.end(body);
    });
  }

  /** A reboot runs only at a safe moment: it waits for idle, at most its `waitIdleMs`. */
  private async waitIdle(c: Command): Promise<{ waitedMs: number }> {
    const waitMs = waitArg(c.args.waitIdleMs, 'waitIdleMs', REBOOT_IDLE_WAIT_MS_DEFAULT, REBOOT_IDLE_WAIT_MS_MAX);
    return this.waitSafe(waitMs, () => undefined);
  }

  /** Polls until the terminal is idle and `unsafe()` has no objection, at most `waitMs` (E-MGT-04 naming the last objection). */
  private async waitSafe(waitMs: number, unsafe: () => string | undefined): Promise<{ waitedMs: number }> {
    const started = this.o.clock();
    const pollMs = this.o.config.idlePollMs ?? IDLE_POLL_MS_DEFAULT;
    for (;;) {
      const why = this.o.terminal.isIdle() ? unsafe() : 'not idle';
      if (why === undefined) return { waitedMs: this.o.clock() - started };
      if (this.stopped || this.o.clock() - started >= waitMs) throw new PosError('MGT_NOT_IDLE', `no safe moment within ${waitMs} ms: ${why}`, { why });
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  /**
   * Fetch and check (bounded by the command's timeout), then wait for a safe moment (idle,
   * battery, batch; `waitSafeMs`), then install into the inactive slot; the reboot follows the
   * done ack (rebootAfter). A failure anywhere leaves the running slot as it was.
   */
  private async update(c: Command): Promise<{ version: string; waitedMs: number; installed: unknown }> {
    const updater = this.o.terminal.updater;
    if (!updater) throw new PosError('UPD_NOT_SET_UP', 'this terminal has no update slots: its board file has no "update" section (key and root), or the root was never set up with pos update init');
    const offer = checkUpdateOffer(c.args);
    // A version support flagged bad is not installed, whoever offers it: the flag is the console's
    // word that it breaks terminals, and an offer of it is most likely a stale job.
    if (this.o.terminal.flaggedVersions().includes(offer.version)) throw new PosError('UPD_VERSION_FLAGGED', `version ${offer.version} is flagged bad on this terminal: unflag it first (unflag-version) if it was flagged by mistake`, { version: offer.version });
    const waitMs = waitArg(c.args.waitSafeMs, 'waitSafeMs', UPDATE_WAIT_SAFE_MS_DEFAULT, UPDATE_WAIT_SAFE_MS_MAX);
    const limitMs = this.o.config.commandTimeoutMs?.update ?? COMMAND_TIMEOUT_MS_DEFAULT.update;
    const file = await withTimeout(updater.fetch(offer), limitMs, 'update download');
    this.log.info({ id: c.id, version: offer.version }, 'management: update fetched and checked; waiting for a safe moment');
    const { waitedMs } = await this.waitSafe(waitMs, () => updater.unsafeBecause(offer));
    const installed = await updater.apply(file);
    return { version: offer.version, waitedMs, installed };
  }

  /** The done ack and an offline presence reach the broker (bounded wait), then the terminal reboots. */
  private async rebootAfter(a: Ack): Promise<void> {
    if (this.client.connected) {
      await this.flushed(this.publishAsync(this.topics.ack, JSON.stringify(a), 1, false));
      await this.flushed(this.publishAsync(this.topics.presence, this.presence(false, 'reboot'), 1, true));
    } else this.answer(a);
    this.log.warn({ id: a.id }, 'management: rebooting now (asked by the console, terminal idle)');
    await this.o.terminal.reboot();
  }
}

/** A lock's or a flag's `reason`: optional, printable, at most LOCK_REASON_CHARS_MAX characters. */
function reasonArg(args: Readonly<Record<string, unknown>>): string {
  const reason = args.reason === undefined ? '' : args.reason;
  if (typeof reason !== 'string' || reason.length > LOCK_REASON_CHARS_MAX || /[\x00-\x1f\x7f]/.test(reason)) throw new PosError('MGT_MALFORMED', `reason: printable text of at most ${LOCK_REASON_CHARS_MAX} characters`);
  return reason;
}

function waitArg(v: unknown, name: string, fallback: number, max: number): number {
  if (v === undefined) return fallback;
  if (!(typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max)) throw new PosError('MGT_MALFORMED', `${name}: a whole number in 0..${max}`);
  return v;
}

/** Rejects with E-MGT-05 when `p` takes longer than `ms` (the work itself cannot be cancelled). */
function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new PosError('MGT_TIMEOUT', `${what} took more than ${ms} ms`)), ms); });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
