/*
 * mapped_file: the start's two large reads as private mappings of their files (boot/code-cache.ts,
 * issue 14 goals 6 and 1).
 *
 * Why native: the loader reads the 1.5 MB bundle into a fresh Buffer, checks it is ASCII, hashes
 * it and decodes it into a V8 string, which node copies again (external strings over ~1 MB are
 * made from a copy); and it reads the 1.7 MB code cache into another fresh Buffer. Every page of
 * those buffers is a first touch of anonymous memory (12 us each on the reference VM, about 1,200
 * pages a boot), and the copy of the source stays in the process all day. Here the file's pages
 * are mapped (the page cache's, faulted in 16 at a time by the kernel's fault-around) and V8 reads
 * the source in place through an external one-byte string: what stays resident is clean page
 * cache the kernel can drop and read again, not anonymous memory.
 *
 * JavaScript API:
 *   wrapped(path, head, tail, maxBytes, keyName) -> { source, sha1 } | null
 *       source: head + the file's bytes + tail as one external Latin-1 string over a private
 *       mapping (head and tail are ASCII strings of at most 4,096 bytes: Node's module wrapper);
 *       sha1: SHA-1 of keyName's UTF-8 bytes, a NUL byte and source's bytes (a 20-byte Buffer), the
 *       digest boot/code-cache.ts keys the file's cache entry by, hashed here so that the source
 *       is not encoded again into a fresh buffer to be hashed. null when
 *       the file cannot be opened or mapped, is empty or larger than maxBytes, holds a byte that
 *       is not ASCII (its Latin-1 reading would not be its UTF-8 one), or starts with "#!": the
 *       caller then loads it as Node does. Throws only for arguments of the wrong type.
 *   bytes(path, maxBytes) -> Buffer | null
 *       The file's bytes as an external Buffer over a private, writable mapping (a write changes
 *       this process's copy only). null when it cannot be opened or mapped, is empty or larger
 *       than maxBytes.
 *   Each mapping is unmapped when V8 collects the string or the Buffer (and every view of it).
 *
 * Power loss and concurrent writers: a mapping is read-only as far as the file is concerned (a
 * private mapping never writes back). A file truncated in place while mapped would make a later
 * read of a page past its new end a SIGBUS, so the files mapped here are only ever replaced by a
 * rename (the code cache's writer, scripts/image/bundle.ts, an update's new slot), never rewritten
 * in place; a renamed-over file stays mapped whole until unmapped.
 */
#define NAPI_EXPERIMENTAL
#include <node_api.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
/* SHA1_Init/Update/Final: deprecated in OpenSSL 3 but exported by node (see journal_seal.c). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include "napi_args.h"

/* Node's module wrapper is ~60 bytes; one page bounds what `wrapped` copies in front of the file. */
#define WRAPPER_BYTES_MAX 4096

typedef struct {
  void *base;
  size_t length;
} Mapping;

static void unmap(node_api_basic_env env, void *data, void *hint) {
  (void)env;
  (void)data;
  Mapping *m = hint;
  munmap(m->base, m->length);
  free(m);
}

static size_t page_bytes(void) {
  long p = sysconf(_SC_PAGESIZE);
  return p > 0 ? (size_t)p : 4096;
}

/* Opens `path` read-only and returns its size in *size (fd >= 0), or -1. */
static int open_sized(const char *path, double max_bytes, size_t *size) {
  int fd;
  do fd = open(path, O_RDONLY | O_CLOEXEC); while (fd < 0 && errno == EINTR);
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 || (double)st.st_size > max_bytes) {
    close(fd);
    return -1;
  }
  *size = (size_t)st.st_size;
  return fd;
}

static int all_ascii(const unsigned char *p, size_t n) {
  uint64_t acc = 0;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    acc |= w;
  }
  for (; i < n; i++) acc |= p[i];
  return (acc & 0x8080808080808080ULL) == 0;
}

/* An ASCII string argument into buf (at most WRAPPER_BYTES_MAX bytes), its length in *n. */
static int ascii_arg(napi_env env, napi_value v, char *buf, size_t *n) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) return 0;
  if (napi_get_value_string_latin1(env, v, NULL, 0, n) != napi_ok || *n > WRAPPER_BYTES_MAX) return 0;
  if (napi_get_value_string_latin1(env, v, buf, WRAPPER_BYTES_MAX + 1, n) != napi_ok) return 0;
  return all_ascii((const unsigned char *)buf, *n);
}

/* A string argument's UTF-8 bytes into buf (NUL-terminated), their count in *n (NULL: not wanted). */
static int path_arg(napi_env env, napi_value v, char *buf, size_t cap, size_t *n_out) {
  size_t n;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) return 0;
  if (napi_get_value_string_utf8(env, v, buf, cap, &n) != napi_ok || n == 0 || n >= cap - 1) return 0;
  if (n_out != NULL) *n_out = n;
  return 1;
}

static napi_value null_value(napi_env env) {
  napi_value v;
  napi_get_null(env, &v);
  return v;
}

static napi_value wrapped(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 5) FAIL(type_error, "mapped_file.wrapped(path, head, tail, maxBytes, keyName)");
  char path[4096], key_name[4096];
  char head[WRAPPER_BYTES_MAX + 1], tail[WRAPPER_BYTES_MAX + 1];
  size_t head_n, tail_n;
  double max_bytes;
  if (!path_arg(env, argv[0], path, sizeof path, NULL)) FAIL(type_error, "mapped_file.wrapped: path must be a string");
  if (!ascii_arg(env, argv[1], head, &head_n) || !ascii_arg(env, argv[2], tail, &tail_n)) FAIL(type_error, "mapped_file.wrapped: head and tail must be ASCII strings of at most 4096 bytes");
  if (!whole(env, argv[3], 1, 9007199254740991.0, &max_bytes)) FAIL(range_error, "mapped_file.wrapped: maxBytes must be a whole number >= 1");
  size_t key_name_n;
  if (!path_arg(env, argv[4], key_name, sizeof key_name, &key_name_n)) FAIL(type_error, "mapped_file.wrapped: keyName must be a non-empty string");

  size_t size;
  int fd = open_sized(path, max_bytes, &size);
  if (fd < 0) return null_value(env);
  /* [one anonymous page, the head at its end][the file's pages][the tail: past the file's end in
   * its last page (zero-filled, private) or in the anonymous page after it] */
  const size_t page = page_bytes();
  const size_t file_pages = (size + page - 1) / page;
  const size_t length = page + ((size + tail_n + page - 1) / page) * page;
  unsigned char *base = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) { close(fd); return null_value(env); }
  void *file_at = mmap(base + page, file_pages * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, 0);
  close(fd);
  if (file_at == MAP_FAILED) { munmap(base, length); return null_value(env); }
  unsigned char *source = base + page;
  if (!all_ascii(source, size) || (size >= 2 && source[0] == '#' && source[1] == '!')) { munmap(base, length); return null_value(env); }
  memcpy(source - head_n, head, head_n);
  memcpy(source + size, tail, tail_n);

  const size_t total = head_n + size + tail_n;
  napi_value digest, result, string;
  unsigned char *digest_bytes;
  if (napi_create_buffer(env, SHA_DIGEST_LENGTH, (void **)&digest_bytes, &digest) != napi_ok || napi_create_object(env, &result) != napi_ok) {
    munmap(base, length);
    return NULL;
  }
  SHA_CTX sha;
  SHA1_Init(&sha);
  SHA1_Update(&sha, key_name, key_name_n + 1); /* with its NUL: keyOf's "\0" */
  SHA1_Update(&sha, source - head_n, total);
  SHA1_Final(digest_bytes, &sha);

  Mapping *m = malloc(sizeof *m);
  if (m == NULL) { munmap(base, length); return null_value(env); }
  m->base = base;
  m->length = length;
  bool copied = false;
  if (node_api_create_external_string_latin1(env, (char *)(source - head_n), total, unmap, m, &string, &copied) != napi_ok) {
    munmap(base, length);
    free(m);
    return null_value(env);
  }
  /* When V8 copied it (it may for short strings), node has already called the finalizer. */
  if (napi_set_named_property(env, result, "source", string) != napi_ok || napi_set_named_property(env, result, "sha1", digest) != napi_ok) return NULL;
  return result;
}

static napi_value bytes(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2) FAIL(type_error, "mapped_file.bytes(path, maxBytes)");
  char path[4096];
  double max_bytes;
  if (!path_arg(env, argv[0], path, sizeof path, NULL)) FAIL(type_error, "mapped_file.bytes: path must be a string");
  if (!whole(env, argv[1], 1, 9007199254740991.0, &max_bytes)) FAIL(range_error, "mapped_file.bytes: maxBytes must be a whole number >= 1");
  size_t size;
  int fd = open_sized(path, max_bytes, &size);
  if (fd < 0) return null_value(env);
  void *base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  close(fd);
  if (base == MAP_FAILED) return null_value(env);
  Mapping *m = malloc(sizeof *m);
  if (m == NULL) { munmap(base, size); return null_value(env); }
  m->base = base;
  m->length = size;
  napi_value result;
  if (napi_create_external_buffer(env, size, base, unmap, m, &result) != napi_ok) {
    munmap(base, size);
    free(m);
    return null_value(env);
  }
  return result;
}

NAPI_MODULE_INIT() {
  napi_value f;
  if (napi_create_function(env, "wrapped", NAPI_AUTO_LENGTH, wrapped, NULL, &f) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "wrapped", f) != napi_ok) return NULL;
  if (napi_create_function(env, "bytes", NAPI_AUTO_LENGTH, bytes, NULL, &f) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "bytes", f) != napi_ok) return NULL;
  return exports;
}
