/*
 * What the gpio_v2 addon's two parts (gpio_v2.c: GPIO lines, evdev_input.c: input devices) share:
 * errors thrown as Error with .code = "E<errno name>" and .errno, argument checks, and a watch on a
 * non-blocking fd: libuv's poll calls `ready` when the fd is readable (no thread, no timer), and
 * `ready` reads it and calls the JavaScript callback through poll_watch_call.
 */
#ifndef POS_POLL_WATCH_H
#define POS_POLL_WATCH_H
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#include <node_api.h>
#include <uv.h>

typedef struct poll_watch poll_watch_t;
/* Called with a handle scope open; status < 0 is libuv's poll error (POLLERR comes as UV_EBADF). */
typedef void (*poll_ready_fn)(poll_watch_t *w, int status);

struct poll_watch {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  int fd;
  int stopped;
  poll_ready_fn ready;
};

napi_value addon_throw_errno(napi_env env, const char *what, int err);
/* False (with a TypeError pending) when fewer than `want` arguments came. */
int addon_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv);
int addon_fd(napi_env env, napi_value v);
/* Starts watching `fd`; returns the handle for JavaScript, or NULL with an exception pending. */
napi_value poll_watch_start(napi_env env, int fd, napi_value callback, const char *name, poll_ready_fn ready);
/* Stops calling back (idempotent); the memory goes once libuv has closed the handle. */
void poll_watch_stop(poll_watch_t *w);
/* unwatch(handle) for JavaScript. */
napi_value poll_watch_unwatch(napi_env env, napi_callback_info info);
/* Calls the callback; an exception it throws is cleared (the JavaScript side catches its own). */
void poll_watch_call(poll_watch_t *w, size_t argc, napi_value *argv);

#endif
