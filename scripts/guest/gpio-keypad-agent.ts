/**
 * The keypad's fingers on a gpio-sim chip, inside a guest: follows the keypad's ROW lines (outputs
 * of the terminal, read from gpio-sim's sysfs `value`) and sets the COLUMN lines' sysfs `pull` so
 * that each column reads as a real matrix would: a column is active while a pressed key joins it to
 * a row that is active. Self-contained (node: modules only), so it can be transpiled alone or run
 * with ts-node; quick-guest.ts's compileForGuest turns it into JS for the guest.
 *
 *   node gpio-keypad-agent.js --sysfs /sys/devices/platform/gpio-sim.0/gpiochip0 \
 *        --rows 0,1,2,3 --cols 4,5,6 [--row-active high|low] [--col-active high|low]
 *        [--follow poll|events] [--follow-ms 1] [--hold-until-scanned N] [--rt-priority P]
 *
 * --row-active: the wire level of a selected row (high unless the board file says activeLow);
 * --col-active: the wire level a closed key puts on its column (high: pull-down at rest, pull-up
 * when closed; low: the reverse).
 *
 * Protocol: one command per line on stdin, one answer per line on stdout; the agent prints "ready"
 * once every column's pull is set. Every answer comes after the pulls reflect the command and the
 * rows as read at that moment.
 *   press R C      -> "ok press R C"      (R, C: indexes into --rows and --cols)
 *   release R C    -> "ok release R C"
 *   release-all    -> "ok release-all"
 *   sync           -> "ok sync"           read the rows now and apply; see below
 *   quit           -> "ok quit", then the agent exits 0 (also on stdin's end)
 *   anything wrong -> "err <reason>"
 *
 * Following the rows, two ways:
 *   --follow events  (the guest tests) the project's gpio-sim build (scripts/guest/gpio-sim,
 *                    value-notify.patch) wakes poll() waiters on a line's sysfs `value` when the
 *                    terminal drives a new level; the agent holds each row's `value` open and waits
 *                    on them with epoll (EPOLLPRI, the `epoll` package: NODE_PATH must reach it), so
 *                    it answers a row write as soon as the guest schedules it and costs nothing
 *                    between writes. Upstream gpio-sim does not notify: with its module this mode
 *                    would never follow.
 *   --follow poll    (default) sysfs is read every --follow-ms, and only while a key is pressed:
 *                    with every key open the columns rest whatever the rows do, so an idle agent
 *                    has no timer. Under TCG the poll itself is the problem: at 1-2 ms it took
 *                    20-60 % of the one-CPU guest (systemd's watchdog once killed the terminal it
 *                    serves) and, competing with the scanner for that CPU, followed rows 10-100 ms
 *                    late, which is why qemu-x86.json once needed a 100 ms row settle.
 * --hold-until-scanned N: a release waits until the scanner has selected the key's row alone N
 * times since the press (0, the default: at once), as a person keeps a key down until the terminal
 * shows it took it. Under TCG on a loaded host the guest can run many times slower than the wall
 * clock, and a 300 ms hold was seen to pass with no scan of its row at all; with this a key is
 * released only after the driver had the chance to debounce it (2 scans), whatever the load.
 * --rt-priority P: once ready, the agent moves itself (every thread: the epoll watcher wakes the
 * main one) to SCHED_FIFO priority P with chrt, as wires never wait for a CPU. Only once ready:
 * node's start (seconds of CPU under TCG) at real-time priority held the one-CPU guest's other
 * tasks, the terminal's start with them, to the 5 % that RT throttling leaves them.
 * A scanner that reads the columns right after selecting a row can be faster than either: on real
 * hardware the wires settle in microseconds, here the agent must be scheduled. A test that must
 * not race sends "sync" after each row write and waits for "ok sync"; a scanner that is not
 * synchronised needs a row settle time (the board file's rowSettleMs) or sees ghost keys now and
 * then, as a matrix would whose settle time the driver did not wait for.
 */
import * as fs from 'node:fs';
import * as readline from 'node:readline';
import { execFileSync } from 'node:child_process';

/** Commands waiting while one is answered; a flood is refused rather than queued without bound. */
const PENDING_COMMANDS_MAX = 64;
/** Most scans a release may wait for (a key held longer is a stuck key to the driver). */
const HOLD_SCANS_MAX = 20;
/** Slowest follow interval accepted (a slower agent would miss every scan). */
const FOLLOW_MS_MAX = 1000;
/** SCHED_FIFO's priorities (--rt-priority); 0: stay at normal priority. */
const RT_PRIORITY_MAX = 99;

interface AgentConfig {
  readonly sysfs: string;
  readonly rows: readonly number[];
  readonly cols: readonly number[];
  readonly rowActive: '0' | '1';
  readonly colActive: '0' | '1';
  readonly followMs: number;
  readonly follow: 'poll' | 'events';
  readonly holdUntilScanned: number;
  readonly rtPriority: number;
}

function parseArgs(argv: readonly string[]): AgentConfig {
  const get = (name: string, fallback?: string): string => {
    const i = argv.indexOf(`--${name}`);
    const v = i >= 0 ? argv[i + 1] : fallback;
    if (v === undefined) throw new Error(`--${name} is required`);
    return v;
  };
  const list = (name: string): number[] => get(name).split(',').map((s) => {
    const n = Number(s);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name}: "${s}" is not a line offset`);
    return n;
  });
  const level = (name: string): '0' | '1' => {
    const v = get(name, 'high');
    if (v !== 'high' && v !== 'low') throw new Error(`--${name} must be high or low`);
    return v === 'high' ? '1' : '0';
  };
  const followMs = Number(get('follow-ms', '1'));
  if (!(followMs >= 0 && followMs <= FOLLOW_MS_MAX)) throw new Error(`--follow-ms must be 0..${FOLLOW_MS_MAX}`);
  const follow = get('follow', 'poll');
  if (follow !== 'poll' && follow !== 'events') throw new Error('--follow must be poll or events');
  const holdUntilScanned = Number(get('hold-until-scanned', '0'));
  if (!(Number.isInteger(holdUntilScanned) && holdUntilScanned >= 0 && holdUntilScanned <= HOLD_SCANS_MAX)) throw new Error(`--hold-until-scanned must be 0..${HOLD_SCANS_MAX}`);
  const rtPriority = Number(get('rt-priority', '0'));
  if (!(Number.isInteger(rtPriority) && rtPriority >= 0 && rtPriority <= RT_PRIORITY_MAX)) throw new Error(`--rt-priority must be 0..${RT_PRIORITY_MAX}`);
  return { sysfs: get('sysfs'), rows: list('rows'), cols: list('cols'), rowActive: level('row-active'), colActive: level('col-active'), followMs, follow, holdUntilScanned, rtPriority };
}

class KeypadAgent {
  private readonly pressed = new Set<string>();
  /** Per pressed key: how often its row was selected alone since the press. */
  private readonly scansSeen = new Map<string, number>();
  /** Keys released by a command but held until scanned (--hold-until-scanned); with their answer. */
  private readonly releasing = new Map<string, () => void>();
  /** The row selected alone at the last apply (-1: none or several). */
  private lastAlone = -1;
  /** Pull last written per column, so that sysfs is written only on a change. */
  private readonly pulls = new Map<number, string>();
  /** Each row's sysfs `value`, held open: read from offset 0 (which also re-arms its POLLPRI). */
  readonly rowFds: number[];
  private readonly byte = Buffer.alloc(2);

  constructor(private readonly c: AgentConfig) {
    this.rowFds = c.rows.map((line) => fs.openSync(`${c.sysfs}/sim_gpio${line}/value`, 'r'));
  }

  private rowLevel(fd: number): string {
    fs.readSync(fd, this.byte, 0, 1, 0);
    return String.fromCharCode(this.byte[0]);
  }

  /** Reads the rows and sets every column's pull accordingly. Synchronous: one consistent step. */
  apply(): void {
    const active = this.rowFds.map((fd) => this.rowLevel(fd) === this.c.rowActive);
    this.countScans(active);
    this.c.cols.forEach((line, col) => {
      const closed = this.c.rows.some((_, row) => active[row] && this.pressed.has(`${row},${col}`));
      const wire = closed ? this.c.colActive : (this.c.colActive === '1' ? '0' : '1');
      const pull = wire === '1' ? 'pull-up' : 'pull-down';
      if (this.pulls.get(line) === pull) return;
      fs.writeFileSync(`${this.c.sysfs}/sim_gpio${line}/pull`, pull);
      this.pulls.set(line, pull);
    });
  }

  /** Counts a row selected alone (a scan looking at it) for the keys pressed on it; lets held releases go. */
  private countScans(active: readonly boolean[]): void {
    const alone = active.filter(Boolean).length === 1 ? active.indexOf(true) : -1;
    if (alone === this.lastAlone) return;
    this.lastAlone = alone;
    if (alone < 0) return;
    for (const key of this.pressed) {
      if (Number(key.split(',')[0]) !== alone) continue;
      const seen = (this.scansSeen.get(key) ?? 0) + 1;
      this.scansSeen.set(key, seen);
      const answer = this.releasing.get(key);
      if (answer && seen >= this.c.holdUntilScanned) {
        // Let go once this row has been read: after the rows change again (see apply's caller).
        this.releasing.delete(key);
        queueMicrotask(() => { this.pressed.delete(key); this.scansSeen.delete(key); answer(); });
      }
    }
  }

  /** True while some key is pressed: only then do the columns depend on the rows. */
  get busy(): boolean {
    return this.pressed.size > 0;
  }

  /**
   * One command; the answer, or undefined when it comes later through `later` (a release held
   * until scanned).
   */
  command(text: string, later: (answer: string) => void = () => undefined): string | undefined {
    const [verb, ...args] = text.trim().split(/\s+/);
    if (verb === 'press' || verb === 'release') {
      const [row, col] = args.map(Number);
      if (!(row >= 0 && row < this.c.rows.length && col >= 0 && col < this.c.cols.length && Number.isInteger(row) && Number.isInteger(col))) {
        return `err ${verb} needs a row 0..${this.c.rows.length - 1} and a column 0..${this.c.cols.length - 1}`;
      }
      const key = `${row},${col}`;
      if (verb === 'press') {
        this.pressed.add(key);
        this.scansSeen.set(key, 0);
      } else if (this.pressed.has(key) && (this.scansSeen.get(key) ?? 0) < this.c.holdUntilScanned) {
        this.releasing.set(key, () => { this.apply(); later(`ok release ${row} ${col}`); });
        return undefined;
      } else {
        this.pressed.delete(key);
        this.scansSeen.delete(key);
      }
    } else if (verb === 'release-all') {
      this.pressed.clear();
      this.scansSeen.clear();
      this.releasing.clear();
    } else if (verb !== 'sync' && verb !== 'quit') {
      return `err unknown command "${text.trim().slice(0, 40)}"`;
    }
    this.apply();
    return `ok ${[verb, ...args].join(' ')}`;
  }
}

/** What this agent uses of the `epoll` package (fivdi/epoll, onoff's: in the release image). */
interface EpollPoller {
  add(fd: number, events: number): EpollPoller;
  close(): EpollPoller;
}
interface EpollModule {
  Epoll: { new (cb: (err: Error | null, fd: number, events: number) => void): EpollPoller; readonly EPOLLPRI: number };
}

/**
 * --follow events: every row's `value` in one epoll set, EPOLLPRI (sysfs_notify's wake-up); each
 * wake-up re-reads every row (which re-arms them) and sets the pulls. Also while no key is
 * pressed: the scanner writes rows only while it scans, i.e. after a key's edge, so an idle
 * terminal wakes the agent never.
 */
function watchRows(agent: KeypadAgent): { close(): void } {
  // A native module resolved through NODE_PATH at run time: no types ship with it, hence the cast.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Epoll } = require('epoll') as EpollModule;
  const poller = new Epoll((err) => {
    if (err) { process.stdout.write(`err epoll: ${err.message}\n`); return; }
    agent.apply();
  });
  for (const fd of agent.rowFds) poller.add(fd, Epoll.EPOLLPRI);
  return { close: () => { poller.close(); } };
}

function main(): void {
  const config = parseArgs(process.argv.slice(2));
  const agent = new KeypadAgent(config);
  agent.apply();
  // Polling runs only while a key is pressed (see the file comment): started and stopped per command.
  let timer: NodeJS.Timeout | undefined;
  const follow = (): void => {
    if (config.follow !== 'poll') return;
    if (agent.busy && !timer) timer = setInterval(() => agent.apply(), config.followMs);
    if (!agent.busy && timer) { clearInterval(timer); timer = undefined; }
  };
  const poller = config.follow === 'events' ? watchRows(agent) : undefined;
  let pending = 0;
  const rl = readline.createInterface({ input: process.stdin });
  const stop = (): void => { clearInterval(timer); timer = undefined; poller?.close(); rl.close(); };
  rl.on('line', (line) => {
    if (++pending > PENDING_COMMANDS_MAX) {
      process.stdout.write(`err more than ${PENDING_COMMANDS_MAX} commands pending\n`);
      pending -= 1;
      return;
    }
    let answer: string | undefined;
    const later = (a: string): void => { process.stdout.write(`${a}\n`); follow(); };
    try {
      answer = agent.command(line, later);
    } catch (e) {
      answer = `err ${e instanceof Error ? e.message : String(e)}`;
    }
    pending -= 1;
    if (answer !== undefined) process.stdout.write(`${answer}\n`);
    if (answer === 'ok quit') stop();
    else follow();
  });
  rl.on('close', stop);
  realTimePriority(config.rtPriority);
  process.stdout.write('ready\n');
}

/** Every thread of this process to SCHED_FIFO (see --rt-priority); a failure is said, not hidden. */
function realTimePriority(priority: number): void {
  if (priority === 0) return;
  try {
    execFileSync('chrt', ['--all-tasks', '--fifo', '--pid', String(priority), String(process.pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    process.stdout.write(`err chrt --fifo ${priority}: ${e instanceof Error ? e.message : String(e)}; following at normal priority\n`);
  }
}

main();
