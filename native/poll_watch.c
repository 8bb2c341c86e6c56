/* See poll_watch.h. */
#include "poll_watch.h"
#include "napi_args.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct { int err; const char *name; } ERRNO_NAMES[] = {
  { EBUSY, "EBUSY" }, { EINVAL, "EINVAL" }, { ENOENT, "ENOENT" }, { EBADF, "EBADF" }, { EACCES, "EACCES" },
  { EPERM, "EPERM" }, { ENODEV, "ENODEV" }, { ENXIO, "ENXIO" }, { ENOMEM, "ENOMEM" },
};

napi_value addon_throw_errno(napi_env env, const char *what, int err) {
  const char *code = "EIO";
  for (size_t i = 0; i < sizeof ERRNO_NAMES / sizeof ERRNO_NAMES[0]; i++) if (ERRNO_NAMES[i].err == err) code = ERRNO_NAMES[i].name;
  return throw_errno_error(env, what, err, code);
}

int addon_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) {
    napi_throw_type_error(env, NULL, "gpio_v2: missing arguments");
    return 0;
  }
  return 1;
}

int addon_fd(napi_env env, napi_value v) {
  int32_t fd = -1;
  napi_get_value_int32(env, v, &fd);
  return fd;
}

static void on_closed(uv_handle_t *h) {
  free(h->data);
}

void poll_watch_stop(poll_watch_t *w) {
  if (w->stopped) return;
  w->stopped = 1;
  uv_poll_stop(&w->poll);
  napi_delete_reference(w->env, w->callback);
  napi_async_destroy(w->env, w->context);
  uv_close((uv_handle_t *)&w->poll, on_closed);
}

static void on_readable(uv_poll_t *p, int status, int events) {
  (void)events;
  poll_watch_t *w = (poll_watch_t *)p->data;
  if (w->stopped) return;
  napi_handle_scope scope;
  napi_open_handle_scope(w->env, &scope);
  w->ready(w, status);
  napi_close_handle_scope(w->env, scope);
}

void poll_watch_call(poll_watch_t *w, size_t argc, napi_value *argv) {
  napi_env env = w->env;
  napi_value cb, global, result;
  napi_get_reference_value(env, w->callback, &cb);
  napi_get_global(env, &global);
  /* make_callback so that microtasks (promise continuations in listeners) run afterwards. */
  if (napi_make_callback(env, w->context, global, cb, argc, argv, &result) != napi_ok) {
    napi_value exc;
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) napi_get_and_clear_last_exception(env, &exc);
  }
}

napi_value poll_watch_start(napi_env env, int fd, napi_value callback, const char *name, poll_ready_fn ready) {
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return addon_throw_errno(env, "event loop", EINVAL);
  poll_watch_t *w = calloc(1, sizeof *w);
  if (!w) return addon_throw_errno(env, "watch", ENOMEM);
  w->env = env;
  w->fd = fd;
  w->ready = ready;
  w->poll.data = w;
  if (uv_poll_init(loop, &w->poll, fd) != 0) { free(w); return addon_throw_errno(env, "uv_poll_init", EBADF); }
  napi_create_reference(env, callback, 1, &w->callback);
  napi_value resource_name;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, NULL, resource_name, &w->context);
  uv_poll_start(&w->poll, UV_READABLE, on_readable);
  napi_value handle;
  napi_create_external(env, w, NULL, NULL, &handle);
  return handle;
}

napi_value poll_watch_unwatch(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!addon_args(env, info, 1, argv)) return NULL;
  void *data = NULL;
  if (napi_get_value_external(env, argv[0], &data) != napi_ok || !data) return addon_throw_errno(env, "unwatch", EINVAL);
  poll_watch_stop((poll_watch_t *)data);
  return NULL;
}
