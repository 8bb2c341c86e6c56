/*
 * evdev_input: Linux input event devices (/dev/input/eventN, linux/input.h) for
 * hal/input-linux.ts, in the gpio_v2 addon (one .node file ships; gpio_v2.c's init calls
 * evdev_input_define). The device is opened non-blocking and read when libuv reports it readable
 * (poll_watch.c: uv_poll on the fd): no thread held in a blocking read, no timer. The bytes go to JavaScript as
 * they came; hal/drivers/evdev-keypad.ts parses the struct input_event records (its size depends
 * on the process's word size), so a FIFO standing for the device in tests takes the same path.
 *
 * JavaScript API (errors thrown as Error with .code = "E<errno name>" and .errno):
 *   inputOpen(path) -> fd                O_RDONLY | O_NONBLOCK | O_CLOEXEC
 *   inputClockMonotonic(fd) -> errno     EVIOCSCLOCKID(CLOCK_MONOTONIC); 0 = done (ENOTTY on a FIFO)
 *   inputGrab(fd, on) -> errno           EVIOCGRAB; 0 = done, EBUSY = someone else holds it
 *   inputKeys(fd) -> Buffer | errno      EVIOCGKEY: the key bitmap (KEY_MAX/8+1 bytes), or why not
 *   inputWatch(fd, cb) -> handle         cb(null, Buffer) per read; cb("ENODEV"|"EOF"|"E...", null) once, then stops
 *   inputUnwatch(handle)                 idempotent
 *   inputClose(fd)
 */
#define NAPI_VERSION 8
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
#include "poll_watch.h"

/* Bytes per read(): a multiple of both record sizes (16 on 32-bit, 24 on 64-bit). */
#define INPUT_READ_BYTES (48 * 64)
#define INPUT_KEY_BYTES (KEY_MAX / 8 + 1)

static napi_value int_value(napi_env env, int n) {
  napi_value out;
  napi_create_int32(env, n, &out);
  return out;
}

static napi_value js_input_open(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!addon_args(env, info, 1, argv)) return NULL;
  char path[512];
  size_t len;
  if (napi_get_value_string_utf8(env, argv[0], path, sizeof path, &len) != napi_ok || len >= sizeof path - 1) return addon_throw_errno(env, "path", EINVAL);
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return addon_throw_errno(env, "open", errno);
  return int_value(env, fd);
}

static napi_value js_input_clock_monotonic(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!addon_args(env, info, 1, argv)) return NULL;
  int clock = CLOCK_MONOTONIC;
  return int_value(env, ioctl(addon_fd(env, argv[0]), EVIOCSCLOCKID, &clock) < 0 ? errno : 0);
}

static napi_value js_input_grab(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!addon_args(env, info, 2, argv)) return NULL;
  bool on = false;
  napi_get_value_bool(env, argv[1], &on);
  /* EVIOCGRAB takes its argument by value: nonzero grabs, 0 releases. */
  return int_value(env, ioctl(addon_fd(env, argv[0]), EVIOCGRAB, (void *)(long)(on ? 1 : 0)) < 0 ? errno : 0);
}

static napi_value js_input_keys(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!addon_args(env, info, 1, argv)) return NULL;
  unsigned char bits[INPUT_KEY_BYTES];
  memset(bits, 0, sizeof bits);
  if (ioctl(addon_fd(env, argv[0]), EVIOCGKEY(sizeof bits), bits) < 0) return int_value(env, errno);
  napi_value out;
  void *data;
  napi_create_buffer_copy(env, sizeof bits, bits, &data, &out);
  return out;
}

static napi_value js_input_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!addon_args(env, info, 1, argv)) return NULL;
  if (close(addon_fd(env, argv[0])) < 0) return addon_throw_errno(env, "close", errno);
  return NULL;
}

static const char *input_errno_code(int err) {
  return err == ENODEV ? "ENODEV" : err == EBADF ? "EBADF" : err == EINVAL ? "EINVAL" : "EIO";
}

/* Hands each read's bytes over as they came: cb(null, Buffer); once the device is gone,
 * cb("ENODEV"|"EOF"|"E...", null) and the watch stops. */
static void input_ready(poll_watch_t *w, int status) {
  napi_env env = w->env;
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
    napi_value argv[2];
    void *copy;
    argv[0] = null_value;
    napi_create_buffer_copy(env, (size_t)got, buf, &copy, &argv[1]);
    poll_watch_call(w, 2, argv);
    if ((size_t)got < sizeof buf) break;
  }
  if (gone && !w->stopped) {
    napi_value argv[2];
    napi_create_string_utf8(env, gone, NAPI_AUTO_LENGTH, &argv[0]);
    argv[1] = null_value;
    poll_watch_call(w, 2, argv);
    poll_watch_stop(w);
  }
}

static napi_value js_input_watch(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!addon_args(env, info, 2, argv)) return NULL;
  return poll_watch_start(env, addon_fd(env, argv[0]), argv[1], "evdev_input.watch", input_ready);
}

void evdev_input_define(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
    { "inputOpen", NULL, js_input_open, NULL, NULL, NULL, napi_default, NULL },
    { "inputClockMonotonic", NULL, js_input_clock_monotonic, NULL, NULL, NULL, napi_default, NULL },
    { "inputGrab", NULL, js_input_grab, NULL, NULL, NULL, napi_default, NULL },
    { "inputKeys", NULL, js_input_keys, NULL, NULL, NULL, napi_default, NULL },
    { "inputWatch", NULL, js_input_watch, NULL, NULL, NULL, napi_default, NULL },
    { "inputUnwatch", NULL, poll_watch_unwatch, NULL, NULL, NULL, napi_default, NULL },
    { "inputClose", NULL, js_input_close, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
}
