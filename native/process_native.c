/*
 * process_native: starting a child and telling systemd, without fork (issue 14 goal 6).
 *
 * Why native: node's child_process (libuv's uv_spawn) starts every child with fork(). A fork
 * write-protects every page of the terminal's memory, so after it, even once the child has
 * exec'ed, the terminal takes a page fault on the first write to each page it had: its V8 heap,
 * its allocator's arenas, LMDB's buffers. Measured here on a 64 MiB buffer written after a
 * `spawn('/bin/true')`: 16,406 minor faults and 236 ms, against none without the spawn; on a slow
 * core that is a key's whole budget, paid right after the background verify's child starts or
 * the watchdog's `systemd-notify` runs (every 15 s, all day). posix_spawn (glibc: clone with
 * CLONE_VM | CLONE_VFORK, the parent waits until the child has exec'ed) shares the memory for
 * those microseconds instead of copying its page tables: nothing is write-protected, no fault
 * follows. And the watchdog's message is one datagram node cannot send (it has no unix datagram
 * sockets): sent here, no process at all.
 *
 * JavaScript API:
 *   spawn(file, argv, env, withStdin) -> [pid, stdoutFd, stderrFd, stdinFd]
 *       Runs `file` (searched in PATH when it has no '/') with argv (argv[0] included) and env
 *       ("NAME=value" strings), stdout and stderr into two pipes whose read ends (close-on-exec)
 *       are returned; stdin from a pipe whose write end is returned when `withStdin` is true
 *       (else /dev/null, and stdinFd is -1); every signal's disposition set to its default and none
 *       blocked in the child (node ignores SIGPIPE; an ignored signal would survive the exec, as
 *       libuv's own spawn avoids too). Throws an Error with .errno when the child cannot be
 *       started (no such file: ENOENT, as posix_spawn reports the exec's failure).
 *       The caller reaps the child (reap): libuv waits only for the pids it started itself.
 *   reap(pid) -> null | [exitCode | null, signalNumber | null]
 *       waitpid(pid, WNOHANG): null while it runs (or is stopped), else how it ended; the pid is
 *       then free for the kernel to reuse (send it no more signals). Throws with .errno (ECHILD:
 *       not this process's child, or reaped already).
 *   notify(socketPath, message) -> undefined
 *       One datagram `message` to the AF_UNIX socket at `socketPath` ('@' first: the abstract
 *       namespace), as sd_notify(3) sends it. Throws with .errno (ECONNREFUSED: nobody listens;
 *       ENOENT: no such socket; EMSGSIZE).
 *
 * Power loss: nothing here writes to storage.
 */
#define _GNU_SOURCE
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include "napi_args.h"

/*
 * An argument or environment list longer than this is refused before anything is copied: a bound
 * on the malloc'ed copy, far above real lists (the corruption sweep verifies hundreds of journals
 * in one child; a CI runner's environment holds hundreds of variables). The kernel's own limit on
 * their total size (ARG_MAX) comes as E2BIG from posix_spawn.
 */
#define STRINGS_MAX 65536
/* One argument or environment string, bytes (a path, a NAME=value). */
#define STRING_BYTES_MAX 65536
/* systemd reads a notification of at most this many bytes (NOTIFY_BUFFER_MAX is 4096 + 1). */
#define NOTIFY_BYTES_MAX 4096

/* An Error with .code (the errno's name: strerrorname_np, glibc 2.32) and .errno. */
static napi_value throw_errno(napi_env env, const char *what, int err) {
  return throw_errno_error(env, what, err, strerrorname_np(err));
}

/* A JavaScript string as a malloc'ed C string (NULL with a TypeError pending). */
static char *c_string(napi_env env, napi_value v) {
  size_t length = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &length) != napi_ok || length > STRING_BYTES_MAX) {
    napi_throw_type_error(env, NULL, "expected a string of at most 64 KiB");
    return NULL;
  }
  char *s = malloc(length + 1);
  if (s == NULL) { throw_errno(env, "malloc", ENOMEM); return NULL; }
  if (napi_get_value_string_utf8(env, v, s, length + 1, &length) != napi_ok || strlen(s) != length) {
    free(s);
    napi_throw_type_error(env, NULL, "a string holds a NUL character");
    return NULL;
  }
  return s;
}

static void free_strings(char **list) {
  if (list == NULL) return;
  for (char **p = list; *p != NULL; p++) free(*p);
  free(list);
}

/* A JavaScript array of strings as a NULL-terminated malloc'ed list (NULL with an exception pending). */
static char **c_strings(napi_env env, napi_value v, int at_least_one) {
  bool is = false;
  uint32_t n = 0;
  if (napi_is_array(env, v, &is) != napi_ok || !is || napi_get_array_length(env, v, &n) != napi_ok || n > STRINGS_MAX || (at_least_one && n == 0)) {
    napi_throw_type_error(env, NULL, "expected an array of strings (argv needs argv[0])");
    return NULL;
  }
  char **list = calloc(n + 1, sizeof *list);
  if (list == NULL) { throw_errno(env, "calloc", ENOMEM); return NULL; }
  for (uint32_t i = 0; i < n; i++) {
    napi_value item;
    if (napi_get_element(env, v, i, &item) != napi_ok || (list[i] = c_string(env, item)) == NULL) {
      free_strings(list);
      return NULL;
    }
  }
  return list;
}

static void close_pair(int fds[2]) {
  if (fds[0] >= 0) close(fds[0]);
  if (fds[1] >= 0) close(fds[1]);
}

/* posix_spawnp with stdin from in_read (or /dev/null when -1), stdout and stderr to the pipes' write ends, signals at their defaults. */
static int start(const char *file, char **argv, char **envp, int in_read, int out_write, int err_write, pid_t *pid) {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  sigset_t all, none;
  int rc = posix_spawn_file_actions_init(&actions);
  if (rc != 0) return rc;
  rc = posix_spawnattr_init(&attr);
  if (rc != 0) { posix_spawn_file_actions_destroy(&actions); return rc; }
  sigfillset(&all);
  sigemptyset(&none);
  if (rc == 0) rc = in_read < 0 ? posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0)
                                 : posix_spawn_file_actions_adddup2(&actions, in_read, STDIN_FILENO);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, out_write, STDOUT_FILENO);
  if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, err_write, STDERR_FILENO);
  if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr, &all);
  if (rc == 0) rc = posix_spawnattr_setsigmask(&attr, &none);
  if (rc == 0) rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  if (rc == 0) rc = posix_spawnp(pid, file, &actions, &attr, argv, envp);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  return rc;
}

static napi_value spawn_child(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value args[4];
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc < 3) FAIL(type_error, "spawn(file, argv, env[, withStdin])");
  bool with_stdin = false;
  if (argc >= 4 && napi_get_value_bool(env, args[3], &with_stdin) != napi_ok) FAIL(type_error, "spawn: withStdin must be a boolean");
  char *file = c_string(env, args[0]);
  if (file == NULL) return NULL;
  char **argv = c_strings(env, args[1], 1);
  char **envp = argv == NULL ? NULL : c_strings(env, args[2], 0);
  if (envp == NULL) { free(file); free_strings(argv); return NULL; }
  int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
  pid_t pid = -1;
  int rc = 0;
  if ((with_stdin && pipe2(in, O_CLOEXEC) != 0) || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) rc = errno;
  if (rc == 0) rc = start(file, argv, envp, in[0], out[1], err[1], &pid);
  free(file);
  free_strings(argv);
  free_strings(envp);
  if (rc != 0) { close_pair(in); close_pair(out); close_pair(err); return throw_errno(env, "posix_spawn", rc); }
  if (in[0] >= 0) close(in[0]);
  close(out[1]);
  close(err[1]);
  napi_value result, v;
  napi_create_array_with_length(env, 4, &result);
  napi_create_int32(env, pid, &v); napi_set_element(env, result, 0, v);
  napi_create_int32(env, out[0], &v); napi_set_element(env, result, 1, v);
  napi_create_int32(env, err[0], &v); napi_set_element(env, result, 2, v);
  napi_create_int32(env, in[1], &v); napi_set_element(env, result, 3, v);
  return result;
}

static napi_value reap(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  double pid;
  if (napi_get_cb_info(env, info, &argc, &arg, NULL, NULL) != napi_ok || argc < 1 || !whole(env, arg, 1, 0x7fffffff, &pid)) FAIL(type_error, "reap(pid): a pid");
  int status = 0;
  pid_t got;
  do got = waitpid((pid_t)pid, &status, WNOHANG); while (got < 0 && errno == EINTR);
  napi_value result, code, sig;
  if (got < 0) return throw_errno(env, "waitpid", errno);
  if (got == 0) { napi_get_null(env, &result); return result; }
  napi_get_null(env, &code);
  napi_get_null(env, &sig);
  if (WIFEXITED(status)) napi_create_int32(env, WEXITSTATUS(status), &code);
  if (WIFSIGNALED(status)) napi_create_int32(env, WTERMSIG(status), &sig);
  napi_create_array_with_length(env, 2, &result);
  napi_set_element(env, result, 0, code);
  napi_set_element(env, result, 1, sig);
  return result;
}

static napi_value notify(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc < 2) FAIL(type_error, "notify(socketPath, message)");
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  size_t path_length = 0;
  if (napi_get_value_string_utf8(env, args[0], addr.sun_path, sizeof addr.sun_path, &path_length) != napi_ok) FAIL(type_error, "notify: socketPath must be a string");
  if (path_length < 2 || path_length >= sizeof addr.sun_path - 1 || (addr.sun_path[0] != '/' && addr.sun_path[0] != '@')) FAIL(range_error, "notify: socketPath must be absolute or '@abstract', shorter than 107 bytes");
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
  char message[NOTIFY_BYTES_MAX + 1];
  size_t message_length = 0;
  if (napi_get_value_string_utf8(env, args[1], message, sizeof message, &message_length) != napi_ok) FAIL(type_error, "notify: message must be a string");
  if (message_length == 0 || message_length >= NOTIFY_BYTES_MAX) FAIL(range_error, "notify: message must be 1 to 4095 bytes");
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  socklen_t addr_length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + path_length);
  ssize_t sent;
  do sent = sendto(fd, message, message_length, MSG_NOSIGNAL, (struct sockaddr *)&addr, addr_length); while (sent < 0 && errno == EINTR);
  int err = sent < 0 ? errno : 0;
  close(fd);
  if (err != 0) return throw_errno(env, "sendto", err);
  if ((size_t)sent != message_length) return throw_errno(env, "sendto (short)", EMSGSIZE);
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  return undefined;
}

NAPI_MODULE_INIT() {
  napi_value f;
  if (napi_create_function(env, "spawn", NAPI_AUTO_LENGTH, spawn_child, NULL, &f) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "spawn", f) != napi_ok) return NULL;
  if (napi_create_function(env, "reap", NAPI_AUTO_LENGTH, reap, NULL, &f) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "reap", f) != napi_ok) return NULL;
  if (napi_create_function(env, "notify", NAPI_AUTO_LENGTH, notify, NULL, &f) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "notify", f) != napi_ok) return NULL;
  return exports;
}
