/*
 * gpio_v2: the kernel's GPIO v2 character-device uAPI (linux/gpio.h) for hal/gpio-native.ts.
 * A line is requested once (GPIO_V2_GET_LINE_IOCTL) and then driven or read by ioctls on its fd:
 * no process per write, unlike the libgpiod tools. Edge events are read from the line fd when
 * libuv reports it readable (poll_watch.c: uv_poll on the fd; no timer, no thread).
 *
 * JavaScript API (errors are thrown as Error with .code = "E<errno name>" and .errno):
 *   request(chipPath, offset, {output, activeLow, bias (0 as-is, 1 pull-up, 2 pull-down,
 *           3 disabled), initial, edges (bool: rising and falling), debounceUs, consumer}) -> fd
 *   set(fd, value)            GPIO_V2_LINE_SET_VALUES_IOCTL
 *   get(fd) -> 0|1            GPIO_V2_LINE_GET_VALUES_IOCTL
 *   watch(fd, cb) -> handle   cb(events) with events = [[rising(bool), timestampNs(double), seqno], ...]
 *   unwatch(handle)           stops calling cb (idempotent)
 *   close(fd)
 * Levels are logical: the kernel applies ACTIVE_LOW.
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/gpio.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include "poll_watch.h"

/* Events read per read() call; the kernel queues 16 per line by default. */
#define EVENTS_PER_READ_MAX 16

static int prop_int(napi_env env, napi_value obj, const char *name, int32_t fallback) {
  bool has = false;
  napi_value v;
  int32_t out = fallback;
  if (napi_has_named_property(env, obj, name, &has) == napi_ok && has && napi_get_named_property(env, obj, name, &v) == napi_ok) {
    napi_valuetype t;
    napi_typeof(env, v, &t);
    if (t == napi_boolean) { bool b; napi_get_value_bool(env, v, &b); out = b; }
    else if (t == napi_number) napi_get_value_int32(env, v, &out);
  }
  return out;
}

static napi_value js_request(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  if (!addon_args(env, info, 3, argv)) return NULL;
  char chip[256];
  size_t len;
  if (napi_get_value_string_utf8(env, argv[0], chip, sizeof chip, &len) != napi_ok) return addon_throw_errno(env, "chip path", EINVAL);
  uint32_t offset;
  if (napi_get_value_uint32(env, argv[1], &offset) != napi_ok) return addon_throw_errno(env, "offset", EINVAL);
  struct gpio_v2_line_request req;
  memset(&req, 0, sizeof req);
  req.offsets[0] = offset;
  req.num_lines = 1;
  bool has = false;
  napi_value cv;
  req.consumer[0] = 0;
  if (napi_has_named_property(env, argv[2], "consumer", &has) == napi_ok && has) {
    napi_get_named_property(env, argv[2], "consumer", &cv);
    napi_get_value_string_utf8(env, cv, req.consumer, sizeof req.consumer, &len);
  }
  uint64_t flags = prop_int(env, argv[2], "output", 0) ? GPIO_V2_LINE_FLAG_OUTPUT : GPIO_V2_LINE_FLAG_INPUT;
  if (prop_int(env, argv[2], "activeLow", 0)) flags |= GPIO_V2_LINE_FLAG_ACTIVE_LOW;
  switch (prop_int(env, argv[2], "bias", 0)) {
    case 1: flags |= GPIO_V2_LINE_FLAG_BIAS_PULL_UP; break;
    case 2: flags |= GPIO_V2_LINE_FLAG_BIAS_PULL_DOWN; break;
    case 3: flags |= GPIO_V2_LINE_FLAG_BIAS_DISABLED; break;
    default: break;
  }
  if (!(flags & GPIO_V2_LINE_FLAG_OUTPUT) && prop_int(env, argv[2], "edges", 0)) {
    flags |= GPIO_V2_LINE_FLAG_EDGE_RISING | GPIO_V2_LINE_FLAG_EDGE_FALLING;
  }
  req.config.flags = flags;
  uint32_t n = 0;
  if (flags & GPIO_V2_LINE_FLAG_OUTPUT) {
    req.config.attrs[n].attr.id = GPIO_V2_LINE_ATTR_ID_OUTPUT_VALUES;
    req.config.attrs[n].attr.values = prop_int(env, argv[2], "initial", 0) ? 1 : 0;
    req.config.attrs[n].mask = 1;
    n++;
  }
  int32_t debounce = prop_int(env, argv[2], "debounceUs", 0);
  if (debounce > 0) {
    req.config.attrs[n].attr.id = GPIO_V2_LINE_ATTR_ID_DEBOUNCE;
    req.config.attrs[n].attr.debounce_period_us = (uint32_t)debounce;
    req.config.attrs[n].mask = 1;
    n++;
  }
  req.config.num_attrs = n;
  int chip_fd = open(chip, O_RDWR | O_CLOEXEC);
  if (chip_fd < 0) return addon_throw_errno(env, "open chip", errno);
  int rc = ioctl(chip_fd, GPIO_V2_GET_LINE_IOCTL, &req);
  int err = errno;
  close(chip_fd);
  if (rc < 0) return addon_throw_errno(env, "GPIO_V2_GET_LINE_IOCTL", err);
  /* Non-blocking, so that draining events after a poll never blocks the event loop. */
  fcntl(req.fd, F_SETFL, fcntl(req.fd, F_GETFL) | O_NONBLOCK);
  napi_value out;
  napi_create_int32(env, req.fd, &out);
  return out;
}

static napi_value js_set(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!addon_args(env, info, 2, argv)) return NULL;
  int32_t value = 0;
  napi_get_value_int32(env, argv[1], &value);
  struct gpio_v2_line_values v = { .bits = value ? 1 : 0, .mask = 1 };
  if (ioctl(addon_fd(env, argv[0]), GPIO_V2_LINE_SET_VALUES_IOCTL, &v) < 0) return addon_throw_errno(env, "GPIO_V2_LINE_SET_VALUES_IOCTL", errno);
  return NULL;
}

static napi_value js_get(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!addon_args(env, info, 1, argv)) return NULL;
  struct gpio_v2_line_values v = { .bits = 0, .mask = 1 };
  if (ioctl(addon_fd(env, argv[0]), GPIO_V2_LINE_GET_VALUES_IOCTL, &v) < 0) return addon_throw_errno(env, "GPIO_V2_LINE_GET_VALUES_IOCTL", errno);
  napi_value out;
  napi_create_int32(env, (int32_t)(v.bits & 1), &out);
  return out;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  if (!addon_args(env, info, 1, argv)) return NULL;
  if (close(addon_fd(env, argv[0])) < 0) return addon_throw_errno(env, "close", errno);
  return NULL;
}

/* Reads the line's queued edge events and hands them over as [[rising, timestampNs, seqno], ...]. */
static void gpio_ready(poll_watch_t *w, int status) {
  napi_env env = w->env;
  napi_value list;
  napi_create_array(env, &list);
  uint32_t count = 0;
  if (status == 0) {
    struct gpio_v2_line_event ev[EVENTS_PER_READ_MAX];
    for (;;) {
      ssize_t got = read(w->fd, ev, sizeof ev);
      if (got <= 0) break;
      for (size_t i = 0; i < (size_t)got / sizeof ev[0]; i++) {
        napi_value item, rising, ts, seq;
        napi_create_array_with_length(env, 3, &item);
        napi_get_boolean(env, ev[i].id == GPIO_V2_LINE_EVENT_RISING_EDGE, &rising);
        napi_create_double(env, (double)ev[i].timestamp_ns, &ts);
        napi_create_uint32(env, ev[i].line_seqno, &seq);
        napi_set_element(env, item, 0, rising);
        napi_set_element(env, item, 1, ts);
        napi_set_element(env, item, 2, seq);
        napi_set_element(env, list, count++, item);
      }
      if ((size_t)got < sizeof ev) break;
    }
  }
  if (count > 0) poll_watch_call(w, 1, &list);
}

static napi_value js_watch(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!addon_args(env, info, 2, argv)) return NULL;
  return poll_watch_start(env, addon_fd(env, argv[0]), argv[1], "gpio_v2.watch", gpio_ready);
}

/* native/evdev_input.c: input event devices (hal/input-linux.ts), in this addon. */
void evdev_input_define(napi_env env, napi_value exports);

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor d[] = {
    { "request", NULL, js_request, NULL, NULL, NULL, napi_default, NULL },
    { "set", NULL, js_set, NULL, NULL, NULL, napi_default, NULL },
    { "get", NULL, js_get, NULL, NULL, NULL, napi_default, NULL },
    { "close", NULL, js_close, NULL, NULL, NULL, napi_default, NULL },
    { "watch", NULL, js_watch, NULL, NULL, NULL, napi_default, NULL },
    { "unwatch", NULL, poll_watch_unwatch, NULL, NULL, NULL, napi_default, NULL },
  };
  napi_define_properties(env, exports, sizeof d / sizeof d[0], d);
  evdev_input_define(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
