/*
 * What the journal_seal and password_kdf addons share to check their JavaScript arguments: FAIL
 * (throw and return from the N-API function), a Buffer's bytes, a whole number in a range, and a
 * function's one whole-number argument (password_kdf's reserve and touch).
 *
 * Why a header of static inline functions and not a .c file of its own (as poll_watch.h has for
 * gpio_v2): each addon is one source file in binding.gyp, and these are a few lines each; an
 * addon that does not use one of them gets no unused-function warning and no copy of it.
 */
#ifndef POS_NAPI_ARGS_H
#define POS_NAPI_ARGS_H
#include <node_api.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Throws napi_throw_<kind> (error, type_error, range_error) with `msg` and returns NULL to JavaScript. */
#define FAIL(kind, msg) do { napi_throw_##kind(env, NULL, msg); return NULL; } while (0)

/* True with the Buffer's bytes and length; false (nothing thrown) when `v` is not a Buffer. */
static inline int buffer(napi_env env, napi_value v, unsigned char **data, size_t *length) {
  bool is = false;
  if (napi_is_buffer(env, v, &is) != napi_ok || !is) return 0;
  return napi_get_buffer_info(env, v, (void **)data, length) == napi_ok;
}

/* True when `v` is a whole number from lo to hi (into *out); false (nothing thrown) otherwise. */
static inline int whole(napi_env env, napi_value v, double lo, double hi, double *out) {
  if (napi_get_value_double(env, v, out) != napi_ok) return 0;
  return *out >= lo && *out <= hi && *out == (double)(uint64_t)*out;
}

/*
 * The function's only argument as a whole number from lo to hi (into *out). False with the
 * exception pending: a TypeError `arity_msg` when it was not called with exactly one argument, a
 * RangeError `range_msg` when that argument is not such a number.
 */
static inline int one_whole_arg(napi_env env, napi_callback_info info, const char *arity_msg, double lo, double hi, const char *range_msg, double *out) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1) {
    napi_throw_type_error(env, NULL, arity_msg);
    return 0;
  }
  if (!whole(env, argv[0], lo, hi, out)) {
    napi_throw_range_error(env, NULL, range_msg);
    return 0;
  }
  return 1;
}

/*
 * Throws an Error "`what`: strerror(err)" with .code `code` (an errno's name, e.g. "ENOENT"; none
 * when NULL) and .errno `err`, as node's own system errors carry them; returns NULL to JavaScript.
 */
static inline napi_value throw_errno_error(napi_env env, const char *what, int err, const char *code) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value m, c = NULL, e, n;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  if (code != NULL) napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c);
  napi_create_error(env, c, m, &e);
  napi_create_int32(env, err, &n);
  napi_set_named_property(env, e, "errno", n);
  napi_throw(env, e);
  return NULL;
}

#endif
