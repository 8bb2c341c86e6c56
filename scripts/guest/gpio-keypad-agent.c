/*
 * The keypad's fingers on a gpio-sim chip, inside a guest (TEST-ONLY, never in a shipped image):
 * follows the keypad's ROW lines (outputs of the terminal, read from gpio-sim's sysfs `value`) and
 * sets the COLUMN lines' sysfs `pull` so that each column reads as a real matrix would: a column is
 * active while a pressed key joins it to a row that is active. Built by the tests with the host's
 * gcc, static (tests/guest/real-board.ts, tests/guest/gpio-chardev-native.test.ts).
 *
 *   gpio-keypad-agent --sysfs /sys/devices/platform/gpio-sim.0/gpiochip0 --rows 0,1,2,3 \
 *       --cols 4,5,6 [--row-active high|low] [--col-active high|low] [--follow events]
 *       [--hold-until-scanned N] [--stats-s S]
 *
 * --row-active: the wire level of a selected row (high unless the board file says activeLow);
 * --col-active: the wire level a closed key puts on its column (high: pull-down at rest, pull-up
 * when closed; low: the reverse).
 *
 * Protocol: one command per line on stdin, one answer per line on stdout; "ready" once every
 * column's pull is set. Every answer comes after the pulls reflect the command and the rows as
 * read at that moment.
 *   press R C      -> "ok press R C"      (R, C: indexes into --rows and --cols)
 *   release R C    -> "ok release R C"
 *   release-all    -> "ok release-all"
 *   sync           -> "ok sync"           read the rows now and apply
 *   quit           -> "ok quit", then exit 0 (also on stdin's end)
 *   anything wrong -> "err <reason>"
 *
 * Following the rows: the project's gpio-sim build (scripts/guest/gpio-sim, value-notify.patch)
 * wakes poll() waiters on a line's sysfs `value` when the terminal drives a new level; the agent
 * holds each row's `value` open and waits on them with epoll (EPOLLPRI), so it answers a row write
 * as soon as the guest schedules it and costs nothing between writes. Upstream gpio-sim does not
 * notify: with its module the agent would never follow (--follow events is the only mode; it is
 * accepted for the callers' sake).
 *
 * --hold-until-scanned N: a release waits until the scanner has selected the key's row alone N
 * times since the press (0, the default: at once), as a person keeps a key down until the terminal
 * shows it took it. Under TCG on a loaded host the guest can run many times slower than the wall
 * clock, and a 300 ms hold was seen to pass with no scan of its row at all.
 *
 * --stats-s S: every S seconds a line "stats ..." on stdout: the agent's CPU (user, system), major
 * page faults, and what it did since the last line (row reads, pull writes, commands, wake-ups).
 *
 * A scanner that reads the columns right after selecting a row can be faster than the agent: on
 * real hardware the wires settle in microseconds, here the agent must be scheduled. A test that
 * must not race sends "sync" after each row write; a scanner that is not synchronised needs a row
 * settle time (the board file's rowSettleMs; qemu-x86.json has 5 ms).
 *
 * Why C and not node (session 10): the node agent cost about 10 ms of the one-CPU TCG guest per
 * row write at load 16 (its own stats), twice the 5 ms row settle, so at normal priority the
 * scanner read columns it had not set yet ("99" typed, "93" taken); at SCHED_FIFO, which it took
 * for that reason, it preempted the terminal 16 times a scan, and in some runs it ran for minutes
 * (RT throttling, the terminal starved until systemd's watchdog killed it). This agent is one
 * thread answering a row write with a handful of system calls: 0.1 ms (median), 0.5-0.6 ms at
 * most in the quick guest at load 6-17. The tests still run it at SCHED_FIFO 1 (chrt, or the
 * unit's CPUSchedulingPolicy), below the kernel's IRQ threads: at normal priority it was now and
 * then later than the 5 ms settle (21.7 ms once in the quick guest; tests/guest/real-board.ts).
 *
 * Bounded by construction: every epoll_wait blocks (or times out after STATS_TICK_MS when stats
 * are on); each wake-up reads every row once, which re-arms sysfs POLLPRI; WAKE_ERRORS_MAX failing
 * waits or reads in a row make it sleep ERROR_SLEEP_MS before each further try, never spin; a
 * command line is at most LINE_BYTES_MAX (a longer one is refused), rows and columns at most
 * LINES_MAX.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/** Most rows or columns (the keypads here have 4-5 of each). */
#define LINES_MAX 16
/** Longest command line; a longer one is refused whole. */
#define LINE_BYTES_MAX 256
/** Most scans a release may wait for (as the node agent: HOLD_SCANS_MAX). */
#define HOLD_SCANS_MAX 20
/** Longest stats interval. */
#define STATS_S_MAX 3600
/** Failing waits or reads in a row before the agent sleeps instead of retrying at once. */
#define WAKE_ERRORS_MAX 8
#define ERROR_SLEEP_MS 100
/** epoll_wait's timeout when stats are on (so the interval is kept without a timer fd). */
#define STATS_TICK_MS 1000
/** Most releases held until scanned at once (one per key). */
#define KEYS_MAX (LINES_MAX * LINES_MAX)

static const char *sysfs;
static int rows[LINES_MAX], cols[LINES_MAX], nrows, ncols;
static char row_active = '1', col_active = '1';
static int hold_until_scanned, stats_s;
static int row_fd[LINES_MAX];
static int col_pull[LINES_MAX]; /* -1 unknown, 0 pull-down, 1 pull-up */
static unsigned char pressed[LINES_MAX][LINES_MAX];
static int scans_seen[LINES_MAX][LINES_MAX];
static unsigned char releasing[LINES_MAX][LINES_MAX];
static int last_alone = -2;
static struct { unsigned long applies, pulls, commands, wakes, errors; } counts;

static void say(const char *fmt, ...) {
  char buf[LINE_BYTES_MAX + 64];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
  buf[n++] = '\n';
  /* stdout is a file or a pipe: a short write is retried, an error ends the attempt. */
  for (int off = 0; off < n;) {
    ssize_t w = write(1, buf + off, n - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    off += w;
  }
}

static void die(const char *fmt, const char *arg) {
  fprintf(stderr, "gpio-keypad-agent: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n");
  exit(2);
}

static const char *arg(int argc, char **argv, const char *name, const char *fallback) {
  for (int i = 1; i + 1 < argc; i++) if (strcmp(argv[i], name) == 0) return argv[i + 1];
  if (!fallback) die("%s is required", name);
  return fallback;
}

static int parse_int(const char *s, int lo, int hi, const char *name) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *s == '\0' || *end != '\0' || v < lo || v > hi) die("bad value for %s", name);
  return (int)v;
}

static int parse_list(const char *s, int *out, const char *name) {
  char copy[LINE_BYTES_MAX];
  snprintf(copy, sizeof copy, "%s", s);
  int n = 0;
  for (char *save = NULL, *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    if (n == LINES_MAX) die("too many lines in %s", name);
    out[n++] = parse_int(t, 0, 4095, name);
  }
  if (n == 0) die("%s is empty", name);
  return n;
}

static char parse_level(const char *s, const char *name) {
  if (strcmp(s, "high") == 0) return '1';
  if (strcmp(s, "low") == 0) return '0';
  die("%s must be high or low", name);
  return 0;
}

/** One row's level as sysfs has it now; reading from offset 0 re-arms its POLLPRI. -1 on error. */
static int row_level(int row) {
  char c[2];
  ssize_t n = pread(row_fd[row], c, 1, 0);
  if (n != 1) return -1;
  return c[0] == row_active;
}

static int write_pull(int col, int up) {
  char path[512];
  snprintf(path, sizeof path, "%s/sim_gpio%d/pull", sysfs, cols[col]);
  int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return -1;
  const char *v = up ? "pull-up" : "pull-down";
  ssize_t w = write(fd, v, strlen(v));
  close(fd);
  if (w != (ssize_t)strlen(v)) return -1;
  counts.pulls++;
  col_pull[col] = up;
  return 0;
}

static void release_now(int r, int c) {
  pressed[r][c] = 0;
  scans_seen[r][c] = 0;
  releasing[r][c] = 0;
}

static int apply(void);

/** A row selected alone, newly, counts as a scan of the keys pressed on it; held releases may go. */
static void count_scans(const int *active) {
  int alone = -1, selected = 0;
  for (int r = 0; r < nrows; r++) if (active[r]) { selected++; alone = r; }
  if (selected != 1) alone = -1;
  if (alone == last_alone) return;
  last_alone = alone;
  if (alone < 0) return;
  for (int c = 0; c < ncols; c++) {
    if (!pressed[alone][c]) continue;
    scans_seen[alone][c]++;
  }
}

/** Answers the releases whose key has now been scanned often enough (after the pulls follow). */
static void answer_releases(void) {
  for (int r = 0; r < nrows; r++)
    for (int c = 0; c < ncols; c++)
      if (releasing[r][c] && scans_seen[r][c] >= hold_until_scanned) {
        release_now(r, c);
        if (apply() == 0) say("ok release %d %d", r, c);
        else say("err release %d %d: %s", r, c, strerror(errno));
      }
}

/** Reads the rows and sets every column's pull; 0, or -1 with errno on a failing read or write. */
static int apply(void) {
  int active[LINES_MAX];
  counts.applies++;
  for (int r = 0; r < nrows; r++) {
    int v = row_level(r);
    if (v < 0) return -1;
    active[r] = v;
  }
  count_scans(active);
  for (int c = 0; c < ncols; c++) {
    int closed = 0;
    for (int r = 0; r < nrows && !closed; r++) closed = active[r] && pressed[r][c];
    char wire = closed ? col_active : (col_active == '1' ? '0' : '1');
    int up = wire == '1';
    if (col_pull[c] == up) continue;
    if (write_pull(c, up) < 0) return -1;
  }
  return 0;
}

static int busy_releases(void) {
  for (int r = 0; r < nrows; r++) for (int c = 0; c < ncols; c++) if (releasing[r][c]) return 1;
  return 0;
}

/** One command line; 1 when it was quit. */
static int command(char *line) {
  char verb[32] = "";
  int r = -1, c = -1, n = 0;
  counts.commands++;
  int got = sscanf(line, "%31s %d %d %n", verb, &r, &c, &n);
  int is_key = strcmp(verb, "press") == 0 || strcmp(verb, "release") == 0;
  if (is_key) {
    if (got != 3 || r < 0 || r >= nrows || c < 0 || c >= ncols || line[n] != '\0') {
      say("err %s needs a row 0..%d and a column 0..%d", verb, nrows - 1, ncols - 1);
      return 0;
    }
    if (verb[0] == 'p') {
      pressed[r][c] = 1;
      scans_seen[r][c] = 0;
      releasing[r][c] = 0;
    } else if (pressed[r][c] && scans_seen[r][c] < hold_until_scanned) {
      releasing[r][c] = 1; /* answered by answer_releases once scanned */
      return 0;
    } else {
      release_now(r, c);
    }
  } else if (strcmp(verb, "release-all") == 0) {
    for (int i = 0; i < nrows; i++) for (int j = 0; j < ncols; j++) release_now(i, j);
  } else if (strcmp(verb, "sync") != 0 && strcmp(verb, "quit") != 0) {
    say("err unknown command \"%.40s\"", line);
    return 0;
  }
  if (apply() < 0) {
    say("err %s: %s", verb, strerror(errno));
    return 0;
  }
  if (is_key) say("ok %s %d %d", verb, r, c);
  else say("ok %s", verb);
  return strcmp(verb, "quit") == 0;
}

static long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

static void stats_line(void) {
  static unsigned long last_applies, last_pulls, last_commands, last_wakes;
  static long last_cpu_ms;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  long user_ms = ru.ru_utime.tv_sec * 1000L + ru.ru_utime.tv_usec / 1000;
  long system_ms = ru.ru_stime.tv_sec * 1000L + ru.ru_stime.tv_usec / 1000;
  double up = 0;
  FILE *f = fopen("/proc/uptime", "r");
  if (f) { if (fscanf(f, "%lf", &up) != 1) up = 0; fclose(f); }
  say("stats uptime=%.2f cpuMs=%ld userMs=%ld systemMs=%ld majorFaults=%ld applies=%lu pulls=%lu commands=%lu wakes=%lu errors=%lu",
      up, user_ms + system_ms - last_cpu_ms, user_ms, system_ms, ru.ru_majflt, counts.applies - last_applies,
      counts.pulls - last_pulls, counts.commands - last_commands, counts.wakes - last_wakes, counts.errors);
  last_cpu_ms = user_ms + system_ms;
  last_applies = counts.applies;
  last_pulls = counts.pulls;
  last_commands = counts.commands;
  last_wakes = counts.wakes;
}

/** A failing wait or read: counted; after WAKE_ERRORS_MAX in a row the agent sleeps, never spins. */
static void failed(int *streak, const char *what) {
  counts.errors++;
  if (++*streak == 1) say("err %s: %s", what, strerror(errno));
  if (*streak >= WAKE_ERRORS_MAX) {
    struct timespec t = { .tv_sec = 0, .tv_nsec = ERROR_SLEEP_MS * 1000000L };
    nanosleep(&t, NULL);
  }
}

int main(int argc, char **argv) {
  sysfs = arg(argc, argv, "--sysfs", NULL);
  nrows = parse_list(arg(argc, argv, "--rows", NULL), rows, "--rows");
  ncols = parse_list(arg(argc, argv, "--cols", NULL), cols, "--cols");
  row_active = parse_level(arg(argc, argv, "--row-active", "high"), "--row-active");
  col_active = parse_level(arg(argc, argv, "--col-active", "high"), "--col-active");
  if (strcmp(arg(argc, argv, "--follow", "events"), "events") != 0) die("%s: this build follows events only", "--follow");
  hold_until_scanned = parse_int(arg(argc, argv, "--hold-until-scanned", "0"), 0, HOLD_SCANS_MAX, "--hold-until-scanned");
  stats_s = parse_int(arg(argc, argv, "--stats-s", "0"), 0, STATS_S_MAX, "--stats-s");

  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1: %s", strerror(errno));
  for (int r = 0; r < nrows; r++) {
    char path[512];
    snprintf(path, sizeof path, "%s/sim_gpio%d/value", sysfs, rows[r]);
    row_fd[r] = open(path, O_RDONLY | O_CLOEXEC);
    if (row_fd[r] < 0) die("cannot open %s", path);
    struct epoll_event e = { .events = EPOLLPRI, .data.u32 = (unsigned)r };
    if (epoll_ctl(ep, EPOLL_CTL_ADD, row_fd[r], &e) != 0) die("epoll_ctl: %s", strerror(errno));
  }
  struct epoll_event in = { .events = EPOLLIN, .data.u32 = 0xffffffffu };
  if (epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in) != 0) die("epoll_ctl stdin: %s", strerror(errno));
  for (int c = 0; c < ncols; c++) col_pull[c] = -1;
  if (apply() < 0) die("first read of the rows: %s", strerror(errno));
  say("ready");

  char line[LINE_BYTES_MAX + 1];
  size_t have = 0;
  int streak = 0, overlong = 0;
  long next_stats = stats_s ? now_ms() + stats_s * 1000L : 0;
  for (;;) {
    struct epoll_event ev[LINES_MAX + 1];
    int n = epoll_wait(ep, ev, LINES_MAX + 1, stats_s ? STATS_TICK_MS : -1);
    if (n < 0 && errno != EINTR) { failed(&streak, "epoll_wait"); continue; }
    if (stats_s && now_ms() >= next_stats) { stats_line(); next_stats = now_ms() + stats_s * 1000L; }
    int rows_changed = 0, input = 0;
    for (int i = 0; i < n; i++) {
      if (ev[i].data.u32 == 0xffffffffu) input = 1;
      else rows_changed = 1;
    }
    if (rows_changed) {
      counts.wakes++;
      if (apply() < 0) { failed(&streak, "following the rows"); continue; }
      streak = 0;
      if (busy_releases()) answer_releases();
    }
    if (!input) continue;
    ssize_t got = read(0, line + have, LINE_BYTES_MAX - have);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got < 0) { failed(&streak, "reading commands"); continue; }
    if (got == 0) return 0; /* stdin's end: as quit */
    have += (size_t)got;
    for (;;) {
      char *nl = memchr(line, '\n', have);
      if (!nl) {
        /* A line longer than the buffer is dropped up to its newline and refused once. */
        if (have == LINE_BYTES_MAX) { have = 0; overlong = 1; }
        break;
      }
      *nl = '\0';
      if (overlong) { say("err command longer than %d bytes", LINE_BYTES_MAX); overlong = 0; }
      else if (command(line)) return 0;
      size_t used = (size_t)(nl - line) + 1;
      memmove(line, nl + 1, have - used);
      have -= used;
    }
  }
}
