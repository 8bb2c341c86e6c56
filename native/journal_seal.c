/*
 * journal_seal: the header fields, both CRCs and the chain digests of a batch of journal records,
 * in one call (storage/record.ts encodeRecords, issue 14 goal 5). The bytes are exactly
 * storage/JOURNAL_FORMAT.md's, version 1; the JavaScript path writes the same bytes and stays the
 * fallback when this addon is not built (tests/journal/record-seal.test.ts compares the two).
 *
 * Why native: per record the JavaScript path made twelve buffer writes, two CRCs in JavaScript
 * and a crypto.hash call (its own argument checks, a string result, a copy back): about 1 µs of
 * a record's ~5 µs of CPU in a batched append. Here a record is two CRC calls and one SHA-256.
 *
 * JavaScript API:
 *   seal(buf, ends, types, firstSeq, timeMs, prevDigest, digests) -> undefined
 *     buf         Buffer: the records back to back; record i is buf[ends[i-1] .. ends[i]) (record
 *                 0 from 0), its payload (CBOR) already at its byte 68, its first 68 bytes ignored
 *     ends        Uint32Array: each record's end offset, increasing, the last <= buf.length
 *     types       Uint8Array: each record's type (1..255), as many as ends
 *     firstSeq    number: record i gets seq firstSeq + i (1..2^32-1, checked)
 *     timeMs      number: every record's time (a non-negative integer below 2^53)
 *     prevDigest  Buffer of 32: the digest of the record before the first
 *     digests     Buffer of 32 * count: record i's digest is written at 32 * i
 *   Throws a TypeError or RangeError on any argument out of contract, before writing anything.
 *
 *   step(stored, key, chain) -> 0 | 1 | 2 | 3   (the verify walk, storage/verify.ts ChainWalk)
 *     stored      Buffer: one record as stored (any bytes: a damaged store's are read only inside
 *                 its length)
 *     key         number: the key it is stored under
 *     chain       Buffer of 32: the digest the record must link to; on 0 it is replaced by the
 *                 record's own digest, otherwise left as it was
 *   0 the record is whole (frameValid), its seq is `key` and it links to `chain`; 1 its frame is
 *   not valid (checkFrame names why); 2 its header's seq is not `key`; 3 it does not link to
 *   `chain`. The order of the checks is ChainWalk's, so a record with several faults reports the
 *   one the JavaScript walk would.
 *
 * CRC-32 (zlib's crc32) and SHA-256 (OpenSSL's SHA256_Init/Update/Final) are the ones node itself
 * links and exports (node's own zlib and OpenSSL, or the system's where node is built against
 * shared ones); crc32's prototype is declared here, SHA-256's come from node's openssl/sha.h.
 */
#include <node_api.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
/* SHA256_Init/Update/Final are deprecated in OpenSSL 3 but exported, and the one-shot SHA256()
 * that replaced them fetches the algorithm from a provider on every call: measured 0.8 µs per
 * 226-byte record against 0.16 µs of hashing. openssl/sha.h is node's own (its include/node). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#include "napi_args.h"

extern unsigned long crc32(unsigned long crc, const unsigned char *buf, unsigned int len);

#define MAGIC 0x504f534aU
#define FORMAT_VERSION 1
#define HEADER_BYTES 68
#define DIGEST_BYTES 32
#define PREV_DIGEST_AT 32
#define PAYLOAD_BYTES_MAX 65536
#define SEQ_MAX 0xffffffffULL
#define TIME_MS_MAX 9007199254740991.0 /* 2^53 - 1: a JavaScript integer */

static void put32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

static void put64(unsigned char *p, uint64_t v) {
  put32(p, (uint32_t)(v >> 32));
  put32(p + 4, (uint32_t)v);
}

static void seal_one(unsigned char *rec, size_t bytes, unsigned type, uint64_t seq, uint64_t time_ms,
                     const unsigned char *prev, unsigned char *digest) {
  size_t payload = bytes - HEADER_BYTES;
  put32(rec, MAGIC);
  rec[4] = FORMAT_VERSION;
  rec[5] = (unsigned char)type;
  rec[6] = 0;
  rec[7] = 0;
  put64(rec + 8, seq);
  put32(rec + 16, (uint32_t)payload);
  put32(rec + 20, (uint32_t)crc32(0, rec + HEADER_BYTES, (unsigned int)payload));
  put64(rec + 24, time_ms);
  memmove(rec + PREV_DIGEST_AT, prev, DIGEST_BYTES);
  put32(rec + 64, (uint32_t)crc32(0, rec, 64));
  SHA256_CTX sha;
  SHA256_Init(&sha);
  SHA256_Update(&sha, rec, bytes);
  SHA256_Final(digest, &sha);
}

static int typed_array(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *length) {
  bool is = false;
  napi_typedarray_type type;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return 0;
  if (napi_get_typedarray_info(env, v, &type, length, data, NULL, NULL) != napi_ok) return 0;
  return type == want;
}

static napi_value Seal(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 7) FAIL(type_error, "seal takes 7 arguments");
  unsigned char *buf, *prev, *digests;
  size_t buf_bytes, prev_bytes, digest_bytes, count, type_count;
  uint32_t *ends;
  uint8_t *types;
  double first_seq, time_ms;
  if (!buffer(env, argv[0], &buf, &buf_bytes)) FAIL(type_error, "buf must be a Buffer");
  if (!typed_array(env, argv[1], napi_uint32_array, (void **)&ends, &count)) FAIL(type_error, "ends must be a Uint32Array");
  if (!typed_array(env, argv[2], napi_uint8_array, (void **)&types, &type_count)) FAIL(type_error, "types must be a Uint8Array");
  if (napi_get_value_double(env, argv[3], &first_seq) != napi_ok) FAIL(type_error, "firstSeq must be a number");
  if (napi_get_value_double(env, argv[4], &time_ms) != napi_ok) FAIL(type_error, "timeMs must be a number");
  if (!buffer(env, argv[5], &prev, &prev_bytes) || prev_bytes != DIGEST_BYTES) FAIL(type_error, "prevDigest must be a Buffer of 32 bytes");
  if (!buffer(env, argv[6], &digests, &digest_bytes)) FAIL(type_error, "digests must be a Buffer");
  if (type_count != count) FAIL(range_error, "types and ends differ in length");
  if (digest_bytes < count * DIGEST_BYTES) FAIL(range_error, "digests is shorter than 32 bytes per record");
  if (!(first_seq >= 1 && first_seq <= (double)SEQ_MAX && first_seq == (double)(uint64_t)first_seq && (uint64_t)first_seq + count - 1 <= SEQ_MAX)) FAIL(range_error, "seq out of range");
  if (!(time_ms >= 0 && time_ms <= TIME_MS_MAX && time_ms == (double)(uint64_t)time_ms)) FAIL(range_error, "timeMs must be a non-negative integer");
  // Every record checked before any is written: a bad argument leaves the buffer as it was.
  size_t start = 0;
  for (size_t i = 0; i < count; i++) {
    if (ends[i] < start + HEADER_BYTES || ends[i] > buf_bytes) FAIL(range_error, "a record's end is before its header's end or past the buffer");
    if (ends[i] - start - HEADER_BYTES > PAYLOAD_BYTES_MAX) FAIL(range_error, "a record's payload is over 65536 bytes");
    if (types[i] == 0) FAIL(range_error, "record type out of range");
    start = ends[i];
  }
  start = 0;
  for (size_t i = 0; i < count; i++) {
    const unsigned char *link = i == 0 ? prev : digests + (i - 1) * DIGEST_BYTES;
    seal_one(buf + start, ends[i] - start, types[i], (uint64_t)first_seq + i, (uint64_t)time_ms, link, digests + i * DIGEST_BYTES);
    start = ends[i];
  }
  return NULL;
}

static uint32_t get32(const unsigned char *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

enum { STEP_OK = 0, STEP_FRAME = 1, STEP_SEQ = 2, STEP_CHAIN = 3 };

/* storage/record.ts frameValid, over `bytes` bytes at `rec` (nothing read past them). */
static int frame_valid(const unsigned char *rec, size_t bytes) {
  if (bytes < HEADER_BYTES) return 0;
  if (get32(rec) != MAGIC) return 0;
  if ((uint32_t)crc32(0, rec, 64) != get32(rec + 64)) return 0;
  if (rec[4] != FORMAT_VERSION || rec[6] != 0 || rec[7] != 0) return 0;
  if (get32(rec + 8) != 0 || get32(rec + 12) == 0) return 0;
  uint32_t payload = get32(rec + 16);
  if (payload > PAYLOAD_BYTES_MAX || bytes != (size_t)HEADER_BYTES + payload) return 0;
  return (uint32_t)crc32(0, rec + HEADER_BYTES, payload) == get32(rec + 20);
}

static napi_value Step(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3) FAIL(type_error, "step takes 3 arguments");
  unsigned char *rec, *chain;
  size_t bytes, chain_bytes;
  double key;
  if (!buffer(env, argv[0], &rec, &bytes)) FAIL(type_error, "stored must be a Buffer");
  if (napi_get_value_double(env, argv[1], &key) != napi_ok) FAIL(type_error, "key must be a number");
  if (!buffer(env, argv[2], &chain, &chain_bytes) || chain_bytes != DIGEST_BYTES) FAIL(type_error, "chain must be a Buffer of 32 bytes");
  int status = STEP_OK;
  if (!frame_valid(rec, bytes)) status = STEP_FRAME;
  else if ((double)get32(rec + 12) != key) status = STEP_SEQ;
  else if (memcmp(rec + PREV_DIGEST_AT, chain, DIGEST_BYTES) != 0) status = STEP_CHAIN;
  else {
    SHA256_CTX sha;
    SHA256_Init(&sha);
    SHA256_Update(&sha, rec, bytes);
    SHA256_Final(chain, &sha);
  }
  napi_value out;
  if (napi_create_uint32(env, (uint32_t)status, &out) != napi_ok) return NULL;
  return out;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "seal", NAPI_AUTO_LENGTH, Seal, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "seal", fn) != napi_ok) return NULL;
  if (napi_create_function(env, "step", NAPI_AUTO_LENGTH, Step, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "step", fn) != napi_ok) return NULL;
  return exports;
}
