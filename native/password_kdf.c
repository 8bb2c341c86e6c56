/*
 * password_kdf: scrypt (RFC 7914) for operator passwords (runtime/password-kdf.ts), with its
 * N x r x 128-byte table in a scratch region the terminal touches while the person types.
 *
 * Why: node's crypto.scrypt allocates the table (16 MB at N = 2^14, r = 8) inside OpenSSL at every
 * check, from pages the kernel hands out fresh: 4,096 first touches, measured 55 ms of the check's
 * 84 ms on the 2-core VM (12 us a fault), ~0.3 s of the login under issue 14's slow-CPU quota,
 * all of it after the operator's OK. Here the table can be a region mapped and touched ahead, page
 * by page between key presses (`touch`), so the check after the OK is the hashing alone. The bytes
 * are RFC 7914's, the same as crypto.scrypt's (runtime/password-kdf.test.ts compares them, with
 * the RFC's vectors); PBKDF2-HMAC-SHA256 is OpenSSL's from node itself.
 *
 * JavaScript API (the main thread only):
 *   reserve(bytes) -> boolean   map a scratch region of `bytes` (a multiple of the page size is
 *                               not needed) untouched; true when one of that size is there after.
 *                               false while a check runs on the scratch (nothing changed).
 *   touch(pagesMax) -> number   touch up to pagesMax more pages of the scratch; the pages still
 *                               untouched after (0: all, or no scratch, or a check runs on it)
 *   release() -> undefined      unmap the scratch now, or when the check running on it ends
 *   state() -> { bytes, touchedBytes, busy }
 *   scrypt(password, salt, n, r, p, keyBytes, callback(err, key)) -> undefined
 *     password, salt  Buffers (copied: the caller may reuse them at once)
 *     n               a power of two, 2 .. 2^30; r >= 1, p >= 1, r * p < 2^30
 *     keyBytes        1 .. 1024
 *     The table is the scratch when there is one, big enough and not in use (the scratch is then
 *     unmapped at the check's end: its pages hold values derived from the password), else a
 *     malloc of its own (cleared and freed at the end). Runs on libuv's pool; the callback gets
 *     (null, Buffer) or (Error) when memory runs out. Arguments out of contract throw a TypeError
 *     or RangeError before anything starts.
 * Power loss or close: nothing is kept; the scratch is anonymous memory.
 */
#include <node_api.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "napi_args.h"

#define N_LOG2_MAX 30
#define RP_MAX (1U << 30)
#define KEY_BYTES_MAX 1024
/* 1 GiB: past this a table is a mistake, not a password check (the terminal's is 16 MiB). */
#define TABLE_BYTES_MAX ((size_t)1 << 30)

/* One per node environment (napi_set_instance_data): a worker thread loading the addon has its own. */
typedef struct {
  unsigned char *bytes; /* the table: `size` bytes inside the mapping, aligned to HUGE_PAGE_BYTES when that is larger */
  size_t size;
  size_t touched;
  unsigned char *map;   /* the mapping as mmap returned it (munmap's) */
  size_t map_size;
  int busy; /* a check runs on it (it is unmapped when that check ends) */
} Scratch;

/*
 * Transparent huge pages on x86-64 and arm64 (4 KiB base pages). A table this size or more is
 * mapped aligned to it and asked for huge pages (madvise MADV_HUGEPAGE: "madvise" is the usual
 * THP mode): the 16 MiB table is then 8 faults of 2 MiB, not 4,096 of 4 KiB. Measured on the 2-core
 * VM: touching 16 MiB took 81-160 ms in 4 KiB faults, 1 ms in huge pages (51 ms the first time,
 * the kernel compacting memory to make them). A kernel without THP (or set to "never") ignores the
 * advice or refuses it: the table is then the 4 KiB pages it was before, touched the same way.
 */
#define HUGE_PAGE_BYTES ((size_t)2 << 20)

static size_t page_bytes(void) {
  long p = sysconf(_SC_PAGESIZE);
  return p > 0 ? (size_t)p : 4096;
}

static void scratch_unmap(Scratch *s) {
  if (s->map) munmap(s->map, s->map_size);
  s->map = NULL;
  s->map_size = 0;
  s->bytes = NULL;
  s->size = 0;
  s->touched = 0;
}

/* Maps `size` untouched bytes for the table (huge-page aligned and advised when that large); 0 on failure. */
static int scratch_map(Scratch *s, size_t size) {
  const int huge = size >= HUGE_PAGE_BYTES;
  const size_t map_size = huge ? size + HUGE_PAGE_BYTES : size;
  void *m = mmap(NULL, map_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return 0;
  unsigned char *at = m;
  if (huge) {
    at = (unsigned char *)(((uintptr_t)m + HUGE_PAGE_BYTES - 1) & ~(uintptr_t)(HUGE_PAGE_BYTES - 1));
#ifdef MADV_HUGEPAGE
    (void)madvise(at, size, MADV_HUGEPAGE); /* advice: refused or ignored, the table is 4 KiB pages */
#endif
  }
  s->map = m;
  s->map_size = map_size;
  s->bytes = at;
  s->size = size;
  s->touched = 0;
  return 1;
}

static Scratch *scratch_of(napi_env env) {
  void *s = NULL;
  return napi_get_instance_data(env, &s) == napi_ok ? s : NULL;
}

static void scratch_finalize(napi_env env, void *data, void *hint) {
  Scratch *s = data;
  if (!s->busy) scratch_unmap(s); /* a check still running holds it: the process is ending anyway */
  free(s);
}

/* ------------------------------------------------------------------ scrypt (RFC 7914) */

#define ROTL(a, b) (((a) << (b)) | ((a) >> (32 - (b))))

/* RFC 7914 section 3: Salsa20/8 core, in place on 16 little-endian words. */
static void salsa20_8(uint32_t b[16]) {
  uint32_t x[16];
  memcpy(x, b, sizeof x);
  for (int i = 0; i < 8; i += 2) {
    x[4] ^= ROTL(x[0] + x[12], 7);   x[8] ^= ROTL(x[4] + x[0], 9);
    x[12] ^= ROTL(x[8] + x[4], 13);  x[0] ^= ROTL(x[12] + x[8], 18);
    x[9] ^= ROTL(x[5] + x[1], 7);    x[13] ^= ROTL(x[9] + x[5], 9);
    x[1] ^= ROTL(x[13] + x[9], 13);  x[5] ^= ROTL(x[1] + x[13], 18);
    x[14] ^= ROTL(x[10] + x[6], 7);  x[2] ^= ROTL(x[14] + x[10], 9);
    x[6] ^= ROTL(x[2] + x[14], 13);  x[10] ^= ROTL(x[6] + x[2], 18);
    x[3] ^= ROTL(x[15] + x[11], 7);  x[7] ^= ROTL(x[3] + x[15], 9);
    x[11] ^= ROTL(x[7] + x[3], 13);  x[15] ^= ROTL(x[11] + x[7], 18);
    x[1] ^= ROTL(x[0] + x[3], 7);    x[2] ^= ROTL(x[1] + x[0], 9);
    x[3] ^= ROTL(x[2] + x[1], 13);   x[0] ^= ROTL(x[3] + x[2], 18);
    x[6] ^= ROTL(x[5] + x[4], 7);    x[7] ^= ROTL(x[6] + x[5], 9);
    x[4] ^= ROTL(x[7] + x[6], 13);   x[5] ^= ROTL(x[4] + x[7], 18);
    x[11] ^= ROTL(x[10] + x[9], 7);  x[8] ^= ROTL(x[11] + x[10], 9);
    x[9] ^= ROTL(x[8] + x[11], 13);  x[10] ^= ROTL(x[9] + x[8], 18);
    x[12] ^= ROTL(x[15] + x[14], 7); x[13] ^= ROTL(x[12] + x[15], 9);
    x[14] ^= ROTL(x[13] + x[12], 13); x[15] ^= ROTL(x[14] + x[13], 18);
  }
  for (int i = 0; i < 16; i++) b[i] += x[i];
}

/* RFC 7914 section 4: scryptBlockMix of 2r 64-byte blocks `in` into `out` (even blocks first). */
static void block_mix(const uint32_t *in, uint32_t *out, size_t r) {
  uint32_t x[16];
  memcpy(x, &in[(2 * r - 1) * 16], sizeof x);
  for (size_t i = 0; i < 2 * r; i++) {
    for (int k = 0; k < 16; k++) x[k] ^= in[i * 16 + k];
    salsa20_8(x);
    memcpy(&out[((i & 1) * r + i / 2) * 16], x, sizeof x);
  }
}

static uint32_t le32(const unsigned char *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void put_le32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8); p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
}

/*
 * RFC 7914 section 5: scryptROMix of one 128r-byte block `b` in place; `v` holds n blocks of 32r
 * words, `xy` 64r words. Integerify takes the low 32 bits of the last 64-byte block's first word
 * pair: n is at most 2^30, so the high word never matters to j = Integerify mod n.
 */
static void ro_mix(unsigned char *b, size_t r, uint64_t n, uint32_t *v, uint32_t *xy) {
  const size_t words = 32 * r;
  uint32_t *x = xy, *y = xy + words;
  for (size_t k = 0; k < words; k++) x[k] = le32(b + 4 * k);
  for (uint64_t i = 0; i < n; i++) {
    memcpy(&v[i * words], x, words * 4);
    block_mix(x, y, r);
    uint32_t *t = x; x = y; y = t;
  }
  for (uint64_t i = 0; i < n; i++) {
    const uint32_t *vj = &v[(size_t)(x[(2 * r - 1) * 16] & (n - 1)) * words];
    for (size_t k = 0; k < words; k++) x[k] ^= vj[k];
    block_mix(x, y, r);
    uint32_t *t = x; x = y; y = t;
  }
  for (size_t k = 0; k < words; k++) put_le32(b + 4 * k, x[k]);
}

/* ------------------------------------------------------------------ the check on libuv's pool */

typedef struct {
  napi_async_work work;
  napi_ref callback;
  unsigned char *password;
  size_t password_bytes;
  unsigned char *salt;
  size_t salt_bytes;
  uint64_t n;
  size_t r, p, key_bytes;
  uint32_t *table;     /* the scratch, or own_table */
  uint32_t *own_table; /* malloc'd when the scratch was not taken */
  size_t table_bytes;
  int on_scratch;
  int failed; /* 1: out of memory */
  unsigned char key[KEY_BYTES_MAX];
} Check;

static void check_free(napi_env env, Check *c) {
  if (c->callback) napi_delete_reference(env, c->callback);
  if (c->own_table) { OPENSSL_cleanse(c->own_table, c->table_bytes); free(c->own_table); }
  if (c->password) { OPENSSL_cleanse(c->password, c->password_bytes); free(c->password); }
  free(c->salt);
  OPENSSL_cleanse(c->key, sizeof c->key);
  free(c);
}

static void check_execute(napi_env env, void *data) {
  Check *c = data;
  const size_t block = 128 * c->r;
  unsigned char *b = malloc(block * c->p);
  uint32_t *xy = malloc(256 * c->r);
  if (!b || !xy) { c->failed = 1; free(b); free(xy); return; }
  if (PKCS5_PBKDF2_HMAC((const char *)c->password, (int)c->password_bytes, c->salt, (int)c->salt_bytes, 1, EVP_sha256(), (int)(block * c->p), b) != 1) c->failed = 1;
  for (size_t i = 0; !c->failed && i < c->p; i++) ro_mix(b + i * block, c->r, c->n, c->table, xy);
  if (!c->failed && PKCS5_PBKDF2_HMAC((const char *)c->password, (int)c->password_bytes, b, (int)(block * c->p), 1, EVP_sha256(), (int)c->key_bytes, c->key) != 1) c->failed = 1;
  OPENSSL_cleanse(b, block * c->p);
  OPENSSL_cleanse(xy, 256 * c->r);
  free(b);
  free(xy);
}

static void check_complete(napi_env env, napi_status status, void *data) {
  Check *c = data;
  Scratch *s = scratch_of(env);
  if (c->on_scratch && s) {
    /* Its pages hold values derived from the password: given back to the kernel (which clears a
     * page before anyone else gets it) rather than kept for the next check. */
    s->busy = 0;
    scratch_unmap(s);
  }
  napi_value cb, global, argv[2], ignored;
  if (napi_get_reference_value(env, c->callback, &cb) == napi_ok && napi_get_global(env, &global) == napi_ok) {
    napi_get_null(env, &argv[0]);
    napi_get_undefined(env, &argv[1]);
    if (status != napi_ok || c->failed) {
      napi_value msg;
      napi_create_string_utf8(env, status != napi_ok ? "password_kdf: the check was cancelled" : "password_kdf: out of memory for the password check", NAPI_AUTO_LENGTH, &msg);
      napi_create_error(env, NULL, msg, &argv[0]);
    } else {
      void *out;
      napi_create_buffer_copy(env, c->key_bytes, c->key, &out, &argv[1]);
    }
    napi_call_function(env, global, cb, 2, argv, &ignored);
  }
  napi_delete_async_work(env, c->work);
  check_free(env, c);
}

/* ------------------------------------------------------------------ JavaScript functions */

static unsigned char *copy_of(const unsigned char *src, size_t bytes) {
  unsigned char *dst = malloc(bytes ? bytes : 1);
  if (dst && bytes) memcpy(dst, src, bytes);
  return dst;
}

static napi_value Scrypt(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 7) FAIL(type_error, "scrypt takes 7 arguments");
  unsigned char *password, *salt;
  size_t password_bytes, salt_bytes;
  double n, r, p, key_bytes;
  napi_valuetype cb_type;
  if (!buffer(env, argv[0], &password, &password_bytes)) FAIL(type_error, "password must be a Buffer");
  if (!buffer(env, argv[1], &salt, &salt_bytes)) FAIL(type_error, "salt must be a Buffer");
  if (password_bytes > INT32_MAX || salt_bytes > INT32_MAX) FAIL(range_error, "password or salt too long");
  if (!whole(env, argv[2], 2, (double)(1U << N_LOG2_MAX), &n) || ((uint64_t)n & ((uint64_t)n - 1)) != 0) FAIL(range_error, "n must be a power of two from 2 to 2^30");
  if (!whole(env, argv[3], 1, RP_MAX, &r) || !whole(env, argv[4], 1, RP_MAX, &p) || r * p >= RP_MAX) FAIL(range_error, "r and p must be at least 1 and r * p below 2^30");
  if (!whole(env, argv[5], 1, KEY_BYTES_MAX, &key_bytes)) FAIL(range_error, "keyBytes must be 1 to 1024");
  if (napi_typeof(env, argv[6], &cb_type) != napi_ok || cb_type != napi_function) FAIL(type_error, "callback must be a function");
  const double table = 128.0 * r * n;
  if (table > (double)TABLE_BYTES_MAX || 128.0 * r * p > (double)INT32_MAX) FAIL(range_error, "n * r * 128 is over 1 GiB, or p * r * 128 over 2 GiB");

  Check *c = calloc(1, sizeof *c);
  if (!c) FAIL(error, "password_kdf: out of memory");
  c->n = (uint64_t)n; c->r = (size_t)r; c->p = (size_t)p; c->key_bytes = (size_t)key_bytes;
  c->table_bytes = (size_t)table;
  c->password = copy_of(password, password_bytes); c->password_bytes = password_bytes;
  c->salt = copy_of(salt, salt_bytes); c->salt_bytes = salt_bytes;
  Scratch *s = scratch_of(env);
  if (s && s->bytes && !s->busy && s->size >= c->table_bytes) {
    c->table = (uint32_t *)s->bytes;
    c->on_scratch = 1;
    s->busy = 1;
  } else {
    c->own_table = malloc(c->table_bytes);
    c->table = c->own_table;
  }
  napi_value name;
  if (!c->password || !c->salt || !c->table
      || napi_create_reference(env, argv[6], 1, &c->callback) != napi_ok
      || napi_create_string_utf8(env, "password_kdf.scrypt", NAPI_AUTO_LENGTH, &name) != napi_ok
      || napi_create_async_work(env, NULL, name, check_execute, check_complete, c, &c->work) != napi_ok
      || napi_queue_async_work(env, c->work) != napi_ok) {
    if (c->on_scratch) s->busy = 0;
    if (c->work) napi_delete_async_work(env, c->work);
    check_free(env, c);
    FAIL(error, "password_kdf: out of memory, or the check could not be queued");
  }
  return NULL;
}

static napi_value Reserve(napi_env env, napi_callback_info info) {
  napi_value out;
  double bytes;
  if (!one_whole_arg(env, info, "reserve takes 1 argument", 1, (double)TABLE_BYTES_MAX, "bytes must be 1 to 1 GiB", &bytes)) return NULL;
  Scratch *s = scratch_of(env);
  int ok = 0;
  if (s && !s->busy) {
    if (s->bytes && s->size != (size_t)bytes) scratch_unmap(s);
    if (!s->bytes) (void)scratch_map(s, (size_t)bytes);
    ok = s->bytes != NULL;
  }
  napi_get_boolean(env, ok, &out);
  return out;
}

static napi_value Touch(napi_env env, napi_callback_info info) {
  napi_value out;
  double pages;
  if (!one_whole_arg(env, info, "touch takes 1 argument", 1, 1 << 20, "pagesMax must be 1 to 2^20", &pages)) return NULL;
  const size_t page = page_bytes();
  double left = 0;
  Scratch *s = scratch_of(env);
  if (s && s->bytes && !s->busy) {
    /* A write, not a read: a read fault maps the shared zero page and the check's write would fault again. */
    volatile unsigned char *m = s->bytes;
    for (size_t i = 0; i < (size_t)pages && s->touched < s->size; i++, s->touched += page) m[s->touched] = 0;
    if (s->touched > s->size) s->touched = s->size;
    left = (double)((s->size - s->touched + page - 1) / page);
  }
  napi_create_double(env, left, &out);
  return out;
}

static napi_value Release(napi_env env, napi_callback_info info) {
  Scratch *s = scratch_of(env);
  if (s && !s->busy) scratch_unmap(s); /* busy: the check's end unmaps it */
  return NULL;
}

static napi_value State(napi_env env, napi_callback_info info) {
  Scratch *s = scratch_of(env);
  napi_value out, v;
  napi_create_object(env, &out);
  napi_create_double(env, s ? (double)s->size : 0, &v);
  napi_set_named_property(env, out, "bytes", v);
  napi_create_double(env, s ? (double)s->touched : 0, &v);
  napi_set_named_property(env, out, "touchedBytes", v);
  napi_get_boolean(env, s && s->busy, &v);
  napi_set_named_property(env, out, "busy", v);
  return out;
}

NAPI_MODULE_INIT() {
  Scratch *s = calloc(1, sizeof *s);
  if (!s || napi_set_instance_data(env, s, scratch_finalize, NULL) != napi_ok) { free(s); return NULL; }
  static const struct { const char *name; napi_callback fn; } fns[] = {
    { "scrypt", Scrypt }, { "reserve", Reserve }, { "touch", Touch }, { "release", Release }, { "state", State },
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value fn;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &fn) != napi_ok) return NULL;
    if (napi_set_named_property(env, exports, fns[i].name, fn) != napi_ok) return NULL;
  }
  return exports;
}
