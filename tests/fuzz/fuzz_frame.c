/* SPDX-License-Identifier: MIT */
/* fuzz_frame.c - libFuzzer harness for the framing and the message decoders
 * (proto/frame.c, proto/msg.c).
 *
 * The input is a byte stream as a peer would send it, cut into chunks of
 * arbitrary sizes and fed to frame_parse() the way the daemon's read loop
 * does: append a chunk, take every whole frame at the front, keep the rest.
 * It checks frame_parse()'s contract on every call:
 *  - READY never claims bytes beyond the buffer, nor a payload over max;
 *  - TOO_LARGE only once the header is whole, and only for a length over max;
 *  - NEED_MORE only when the header or the payload is really incomplete;
 *  - the frames found do not depend on where the chunks were cut (the same
 *    stream parsed in one piece gives the same frames);
 *  - frame_put_header() writes back the header it read.
 * Every whole payload also goes through wire_request_decode(),
 * wire_response_decode() and the handshake decoders; what decodes must
 * re-encode and decode to the same fields.
 *
 * Input layout: byte 0 picks the size limit (the pre-auth limit, the
 * default, a tiny one, or none); bytes 1-2 seed the chunk sizes; the rest is
 * the stream. The seed corpus is in corpus/fuzz_frame/ (gen_corpus.c). */
#include "proto/frame.h"
#include "proto/msg.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FRAMES 4096 /* frames remembered for the one-piece comparison */

/* A failed check: abort so libFuzzer records the input as a crash. */
#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) abort();                                                                          \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct frame_pos {
  size_t off, len; /* payload offset in the stream and its length */
} frame_pos;

/* The frames of a stream parsed in one piece, and how it ended. */
typedef struct parse_result {
  frame_pos frames[MAX_FRAMES];
  size_t n;
  frame_state last; /* NEED_MORE or TOO_LARGE (or READY when the cap was hit) */
} parse_result;

static uint32_t xorshift(uint32_t *s) {
  uint32_t x = *s;
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *s = x;
}

static size_t pick_max(uint8_t sel) {
  switch (sel & 3) {
  case 0: return FRAME_MAX_PREAUTH;
  case 1: return FRAME_MAX_DEFAULT;
  case 2: return 16;
  default: return SIZE_MAX;
  }
}

/* Checks one frame_parse() call on buf[0..len) against its contract. */
static frame_state parse_checked(const uint8_t *buf, size_t len, size_t max, size_t *plen) {
  *plen = (size_t)-1;
  frame_state st = frame_parse(buf, len, max, plen);
  uint32_t claimed = 0;
  if (len >= FRAME_HEADER_LEN)
    claimed = ((uint32_t)buf[0] << 24) | ((uint32_t)buf[1] << 16) | ((uint32_t)buf[2] << 8) |
              (uint32_t)buf[3];
  switch (st) {
  case FRAME_READY:
    CHECK(len >= FRAME_HEADER_LEN);
    CHECK(*plen == claimed && *plen <= max);
    CHECK(*plen <= len - FRAME_HEADER_LEN);
    uint8_t hdr[FRAME_HEADER_LEN];
    frame_put_header(hdr, (uint32_t)*plen);
    CHECK(memcmp(hdr, buf, FRAME_HEADER_LEN) == 0);
    break;
  case FRAME_TOO_LARGE:
    CHECK(len >= FRAME_HEADER_LEN);
    CHECK(*plen == claimed && *plen > max);
    break;
  case FRAME_NEED_MORE:
    CHECK(len < FRAME_HEADER_LEN || (claimed <= max && claimed > len - FRAME_HEADER_LEN));
    break;
  default: CHECK(0);
  }
  return st;
}

static void parse_whole(const uint8_t *s, size_t n, size_t max, parse_result *r) {
  size_t off = 0, plen;
  r->n = 0;
  for (;;) {
    r->last = parse_checked(s + off, n - off, max, &plen);
    if (r->last != FRAME_READY || r->n == MAX_FRAMES) return;
    r->frames[r->n++] = (frame_pos){off + FRAME_HEADER_LEN, plen};
    off += FRAME_HEADER_LEN + plen;
  }
}

static bool spans_equal(sm_span a, sm_span b) {
  return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

/* Decodes a payload as a Request; when it is one, its re-encoding decodes
 * to the same fields. */
static void check_request(sm_span payload) {
  wire_request a, b;
  if (wire_request_decode(payload, &a) != 0) return;
  CHECK(a.method && strlen(a.method) <= WIRE_METHOD_MAX);
  vbuf out;
  vb_init(&out);
  wire_request_out ro = {.seq = a.seq,
                         .object = a.object,
                         .method = a.method,
                         .args = a.args,
                         .nargs = a.nargs,
                         .has_timeout = a.has_timeout,
                         .timeout_ms = a.timeout_ms,
                         .type = a.type};
  CHECK(wire_request_encode(&out, &ro) == 0);
  size_t plen;
  CHECK(frame_parse(out.p, out.len, SIZE_MAX, &plen) == FRAME_READY);
  CHECK(plen + FRAME_HEADER_LEN == out.len);
  CHECK(wire_request_decode((sm_span){out.p + FRAME_HEADER_LEN, plen}, &b) == 0);
  CHECK(a.seq == b.seq && a.object == b.object && strcmp(a.method, b.method) == 0);
  CHECK(a.has_timeout == b.has_timeout && a.timeout_ms == b.timeout_ms);
  /* A type code of 0 is "no type": the re-encoding leaves it out. */
  CHECK(a.type == b.type && (a.has_type == b.has_type || (a.type == 0 && !b.has_type)));
  CHECK(a.nargs == b.nargs);
  for (size_t i = 0; i < a.nargs; i++)
    CHECK(spans_equal(wire_request_arg(&a, i), wire_request_arg(&b, i)));
  CHECK(wire_request_arg(&a, a.nargs).p == NULL);
  wire_request_release(&b);
  wire_request_release(&a);
  vb_free(&out);
}

/* Decodes a payload as a Response; the same round trip. */
static void check_response(sm_span payload) {
  wire_response a, b;
  if (wire_response_decode(payload, &a) != 0) return;
  CHECK(a.status >= 0); /* any: statuses of a newer daemon are read too */
  vbuf out;
  vb_init(&out);
  wire_response_out ro = {.seq = a.seq,
                          .status = a.status,
                          .has_result = a.has_result,
                          .result = a.result,
                          .error = a.error};
  CHECK(wire_response_encode(&out, &ro) == 0);
  CHECK(out.len == wire_response_frame_size(&ro));
  CHECK(wire_response_decode((sm_span){out.p + FRAME_HEADER_LEN, out.len - FRAME_HEADER_LEN}, &b) ==
        0);
  CHECK(a.seq == b.seq && a.status == b.status && a.has_result == b.has_result);
  CHECK(spans_equal(a.result, b.result));
  CHECK((a.error == NULL) == (b.error == NULL));
  /* An error text with a NUL inside is cut there by the re-encoding. */
  if (a.error) CHECK(strcmp(a.error, b.error) == 0);
  wire_response_release(&b);
  wire_response_release(&a);
  vb_free(&out);
}

/* The handshake decoders (protobuf-c underneath) must only accept or refuse. */
static void check_handshake(sm_span payload) {
  uint32_t version, max_version, version2, max_version2;
  uint8_t ch[AUTH_CHALLENGE_LEN], ch2[AUTH_CHALLENGE_LEN], mac[AUTH_MAC_LEN];
  char name[64], err[128];
  int status;
  bool has_mac;
  if (wire_hello_decode(payload, &version, &max_version, ch) == 0) {
    vbuf out;
    vb_init(&out);
    CHECK(wire_hello_encode(&out, version, max_version, ch) == 0);
    CHECK(wire_hello_decode((sm_span){out.p + FRAME_HEADER_LEN, out.len - FRAME_HEADER_LEN},
                            &version2, &max_version2, ch2) == 0);
    CHECK(memcmp(ch, ch2, sizeof ch) == 0 && version2 == version &&
          (max_version2 == max_version || (max_version == 0 && max_version2 == version)));
    vb_free(&out);
  }
  if (wire_auth_decode(payload, &version, mac, ch, name, sizeof name, NULL, NULL) == 0)
    CHECK(strlen(name) < sizeof name);
  if (wire_auth_result_decode(payload, &status, mac, &has_mac, err, sizeof err, NULL) == 0)
    CHECK(status >= 0 && strlen(err) < sizeof err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  size_t max = pick_max(data[0]);
  uint32_t seed = ((uint32_t)data[1] << 8 | data[2]) * 2654435761u + 1;
  const uint8_t *stream = data + 3;
  size_t n = size - 3;

  static parse_result whole;
  parse_whole(stream, n, max, &whole);

  /* The same stream in chunks, through a growing buffer as a socket reader
   * has it. Copies, so ASan sees any read past what has "arrived". */
  uint8_t *buf = NULL;
  size_t have = 0, consumed = 0, found = 0;
  frame_state last = FRAME_NEED_MORE;
  bool stop = false;
  while (!stop && consumed + have < n) {
    size_t chunk = 1 + xorshift(&seed) % ((seed & 0x100) ? 7u : 300u);
    if (chunk > n - consumed - have) chunk = n - consumed - have;
    uint8_t *nb = malloc(have + chunk ? have + chunk : 1);
    CHECK(nb != NULL);
    if (have) memcpy(nb, buf, have);
    memcpy(nb + have, stream + consumed + have, chunk);
    free(buf);
    buf = nb;
    have += chunk;
    /* Take the whole frames at the front of what has arrived. */
    size_t off = 0, plen;
    for (;;) {
      last = parse_checked(buf + off, have - off, max, &plen);
      if (last == FRAME_TOO_LARGE) {
        stop = true; /* the daemon refuses and reads no more */
        break;
      }
      if (last != FRAME_READY || found == MAX_FRAMES) break;
      CHECK(whole.frames[found].off == consumed + off + FRAME_HEADER_LEN);
      CHECK(whole.frames[found].len == plen);
      sm_span payload = {buf + off + FRAME_HEADER_LEN, plen};
      check_request(payload);
      check_response(payload);
      check_handshake(payload);
      found++;
      off += FRAME_HEADER_LEN + plen;
    }
    if (found == MAX_FRAMES) break;
    /* Keep the rest, as the daemon keeps a partial frame. */
    uint8_t *rest = malloc(have - off ? have - off : 1);
    CHECK(rest != NULL);
    if (have - off) memcpy(rest, buf + off, have - off);
    free(buf);
    buf = rest;
    consumed += off;
    have -= off;
  }
  free(buf);
  /* Chunking changes nothing: the same frames, and the same ending. */
  CHECK(found == whole.n);
  if (found < MAX_FRAMES) CHECK(last == whole.last);
  return 0;
}
