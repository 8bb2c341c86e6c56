/*
 * evdev_input: Linux input event devices (/dev/input/eventN, linux/input.h) for
 * hal/input-linux.ts, in the gpio_v2 addon (one .node file ships; gpio_v2.c's init calls
 * evdev_input_define). The device is opened non-blocking and read when libuv reports it readable
 * (uv_poll on the fd): no thread held in a blocking read, no timer. The bytes go to JavaScript as
 * they came; hal/drivers/evdev-keypad.ts parses the struct input_event records (its size depends
 * on the process's word size), so a FIFO standing for the device in tests takes the same path.
 *
 * JavaScript API (errors thrown as Error with .code = "E<errno name>" and .errno):
 *   inputOpen(path) -> fd                O_RDONLY | O_NONBLOCK | O_CLOEXEC
 *   inputClockMonotonic(fd) -> errno     EVIOCSCLOCKID(CLOCK_MONOTONIC); 0 = done (ENOTTY on a FIFO)
 *   inputGrab(fd, on) -> errno           EVIOCGRAB; 0 = done, EBUSY = someone else holds it
 *   inputKeys(fd) -> Buffer | errno      EVIOCGKEY: the key bitmap (KEY_MAX/8+1 bytes), or why not
 *   inputName(fd) -> string | errno      EVIOCGNAME
 *   inputWatch(fd, cb) -> handle         cb(null, Buffer) per read; cb("ENODEV"|"EOF"|"E...", null) once, then stops
 *   inputUnwatch(handle)                 idempotent
 *   inputClose(fd)
 */
#include <node_api.h>
#include <uv.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/input.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Bytes per read(): a multiple of both record sizes (16 on 32-bit, 24 on 64-bit). */
#define INPUT_READ_BYTES (48 * 64)
#define INPUT_KEY_BYTES (KEY_MAX / 8 + 1)
#define INPUT_NAME_BYTES 256

static napi_value input_throw(napi_env env, const char *what, int err) {
  char code[32], msg[256];
  snprintf(code, sizeof code, "E%s", err == ENOENT ? "NOENT" : err == EACCES ? "ACCES" : err == ENODEV ? "NODEV"
    : err == EBADF ? "BADF" : err == ENXIO ? "NXIO" : err == EINVAL ? "INVAL" : "IO");
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value m, c, e, n;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
  napi_create_error(env, c, m, &e);
  napi_create_int32(env, err, &n);
  napi_set_named_property(env, e, "errno", n);
  napi_throw(env, e);
  return NULL;
}

static int input_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, NULL, "evdev_input: missing arguments");
    return 0;
  }
  return 1;
}

static int input_fd(napi_env env, napi_value v) {
  int32_t fd = -1;
  napi_get_value_int32(env, v, &fd);
  return fd;
}

static napi_value int_value(napi_env env, int n) {
  napi_value out;
  napi_create_int32(env, n, &out);
  return out;
}

static napi_value js_input_open(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!input_args(env, info, 1, argv)) return NULL;
  char path[512];
  size_t len;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok || len >= sizeof path - 1) return input_throw(env, "path", EINVAL);
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return input_throw(env, "open", errno);
  return int_value(env, fd);
}

static napi_value js_input_clock_monotonic(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!input_args(env, info, 1, argv)) return NULL;
  int clock = CLOCK_MONOTONIC;
  return int_value(env, ioctl(input_fd(env, argv[0]), EVIOCSCLOCKID, &clock) < 0 ? errno : 0);
}

static napi_value js_input_grab(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!input_args(env, info, 2, argv)) return NULL;
  bool on = false;
  napi_get_value_bool(env, argv[1], &on);
  /* EVIOCGRAB takes its argument by value: nonzero grabs, 0 releases. */
  return int_value(env, ioctl(input_fd(env, argv[0]), EVIOCGRAB, (void *)(long)(on ? 1 : 0)) < 0 ? errno : 0);
}

static napi_value js_input_keys(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!input_args(env, info, 1, argv)) return NULL;
  unsigned char bits[INPUT_KEY_BYTES];
  memset(bits, 0, sizeof bits);
  if (ioctl(input_fd(env, argv[0]), EVIOCGKEY(sizeof bits), bits) < 0) return int_value(env, errno);
  napi_value out;
  void *data;
  napi_create_buffer_copy(env, sizeof bits, bits, &data, &out);
  return out;
}

static napi_value js_input_name(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!input_args(env, info, 1, argv)) return NULL;
  char name[INPUT_NAME_BYTES];
  memset(name, 0, sizeof name);
  if (ioctl(input_fd(env, argv[0]), EVIOCGNAME(sizeof name - 1), name) < 0) return int_value(env, errno);
  napi_value out;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &out);
  return out;
}

static napi_value js_input_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!input_args(env, info, 1, argv)) return NULL;
  if (close(input_fd(env, argv[0])) < 0) return input_throw(env, "close", errno);
  return NULL;
}

typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  int fd;
  int stopped;
} input_watch_t;

static void input_on_closed(uv_handle_t *h) {
  free(h->data);
}

static void input_stop(input_watch_t *w) {
  if (w->stopped) return;
  w->stopped = 1;
  uv_poll_stop(&w->poll);
  napi_delete_reference(w->env, w->callback);
  napi_async_destroy(w->env, w->context);
  uv_close((uv_handle_t *)&w->poll, input_on_closed);
}

/* Calls cb(err, data); an exception from it is cleared (the JS side catches its own). */
static void input_call(input_watch_t *w, napi_value err, napi_value data) {
  napi_env env = w->env;
  napi_value cb, global, result, argv[2] = { err, data };
  napi_get_reference_value(env, w->callback, &cb);
  napi_get_global(env, &global);
  /* make_callback so that microtasks (promise continuations in listeners) run afterwards. */
  if (napi_make_callback(env, w->context, global, cb, 2, argv, &result) != napi_ok) {
    napi_value exc;
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) napi_get_and_clear_last_exception(env, &exc);
  }
}

static const char *input_errno_code(int err) {
  return err == ENODEV ? "ENODEV" : err == EIO ? "EIO" : err == EBADF ? "EBADF" : err == EINVAL ? "EINVAL" : "EIO";
}

static void input_on_readable(uv_poll_t *p, int status, int events) {
  (void)events;
  input_watch_t *w = (input_watch_t *)p->data;
  if (w->stopped) return;
  napi_env env = w->env;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value null_value;
  napi_get_null(env, &null_value);
  /* A poll error (libuv reports POLLERR as UV_EBADF and stops the handle: evdev says POLLERR
   * once the device is gone) is named by what read() then says: ENODEV for a vanished device. */
  const char *gone = NULL;
  unsigned char buf[INPUT_READ_BYTES];
  while (!gone && !w->stopped) {
    ssize_t got = read(w->fd, buf, sizeof buf);
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) { if (status < 0) gone = "EIO"; break; }
    if (got < 0) { gone = input_errno_code(errno); break; }
    if (got == 0) { gone = "EOF"; break; }
    napi_value data;
    void *copy;
    napi_create_buffer_copy(env, (size_t)got, buf, &copy, &data);
    input_call(w, null_value, data);
    if ((size_t)got < sizeof buf) break;
  }
  if (gone && !w->stopped) {
    napi_value code;
    napi_create_string_utf8(env, gone, NAPI_AUTO_LENGTH, &code);
    input_call(w, code, null_value);
    input_stop(w);
  }
  napi_close_handle_scope(env, scope);
}

static napi_value js_input_watch(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!input_args(env, info, 2, argv)) return NULL;
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return input_throw(env, "event loop", EINVAL);
  input_watch_t *w = calloc(1, sizeof *w);
  if (!w) return input_throw(env, "watch", ENOMEM);
  w->env = env;
  w->fd = input_fd(env, argv[0]);
  w->poll.data = w;
  if (uv_poll_init(loop, &w->poll, w->fd) != 0) { free(w); return input_throw(env, "uv_poll_init", EBADF); }
  napi_create_reference(env, argv[1], 1, &w->callback);
  napi_value name;
  napi_create_string_utf8(env, "evdev_input.watch", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &w->context);
  uv_poll_start(&w->poll, UV_READABLE, input_on_readable);
  napi_value handle;
  napi_create_external(env, w, NULL, NULL, &handle);
  return handle;
}

static napi_value js_input_unwatch(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!input_args(env, info, 1, argv)) return NULL;
  void *data = NULL;
  if (napi_get_value_external(env, argv[0], &data) != napi_ok || !data) return input_throw(env, "unwatch", EINVAL);
  input_stop((input_watch_t *)data);
  return NULL;
}

void evdev_input_define(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
    { "inputOpen", NULL, js_input_open, NULL, NULL, NULL, napi_default, NULL },
    { "inputClockMonotonic", NULL, js_input_clock_monotonic, NULL, NULL, NULL, napi_default, NULL },
    { "inputGrab", NULL, js_input_grab, NULL, NULL, NULL, napi_default, NULL },
    { "inputKeys", NULL, js_input_keys, NULL, NULL, NULL, napi_default, NULL },
    { "inputName", NULL, js_input_name, NULL, NULL, NULL, napi_default, NULL },
    { "inputWatch", NULL, js_input_watch, NULL, NULL, NULL, napi_default, NULL },
    { "inputUnwatch", NULL, js_input_unwatch, NULL, NULL, NULL, napi_default, NULL },
    { "inputClose", NULL, js_input_close, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
}
