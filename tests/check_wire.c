/* SPDX-License-Identifier: MIT */
/* check_wire.c - the protocol layer without sockets: framing (a frame may
 * arrive a byte at a time), the packed-value codec against protobuf-c byte
 * for byte, the protocol messages, the HMAC proofs and the authkey lookup. */
#include "proto/auth.h"
#include "proto/authkey.h"
#include "proto/frame.h"
#include "proto/msg.h"
#include "proto/pbwire.h"
#include "proto/vequal.h"
#include "proto/vwire.h"
#include "statemgr.pb-c.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- framing ---- */

/* A header needs 4 bytes, the payload its full length, and a hostile length
 * is refused from the header alone. */
START_TEST(frame_states) {
  uint8_t buf[16] = {0, 0, 0, 3, 'a', 'b', 'c'};
  size_t len = 0;
  for (size_t n = 0; n < 4; n++)
    ck_assert_int_eq(frame_parse(buf, n, 100, &len), FRAME_NEED_MORE);
  ck_assert_int_eq(frame_parse(buf, 4, 100, &len), FRAME_NEED_MORE);
  ck_assert_uint_eq(len, 3);
  ck_assert_int_eq(frame_parse(buf, 6, 100, &len), FRAME_NEED_MORE);
  ck_assert_int_eq(frame_parse(buf, 7, 100, &len), FRAME_READY);
  ck_assert_int_eq(frame_parse(buf, 7, 2, &len), FRAME_TOO_LARGE);
  uint8_t huge[4] = {0xff, 0xff, 0xff, 0xff};
  ck_assert_int_eq(frame_parse(huge, 4, FRAME_MAX_DEFAULT, &len), FRAME_TOO_LARGE);
  ck_assert_uint_eq(len, 0xffffffffu);
  uint8_t empty[4] = {0, 0, 0, 0};
  ck_assert_int_eq(frame_parse(empty, 4, 10, &len), FRAME_READY);
  ck_assert_uint_eq(len, 0);
}
END_TEST

/* Three frames in one stream, delivered split at every possible byte: an
 * incremental reader recovers exactly the three payloads each time. */
START_TEST(frame_split_everywhere) {
  const char *payloads[] = {"hello", "", "a longer payload of some bytes"};
  uint8_t stream[128];
  size_t total = 0;
  for (int i = 0; i < 3; i++) {
    size_t n = strlen(payloads[i]);
    frame_put_header(stream + total, (uint32_t)n);
    memcpy(stream + total + 4, payloads[i], n);
    total += 4 + n;
  }
  for (size_t cut1 = 0; cut1 <= total; cut1++) {
    for (size_t cut2 = cut1; cut2 <= total; cut2++) {
      uint8_t acc[128];
      size_t have = 0, fed = 0;
      int got = 0;
      size_t cuts[] = {cut1, cut2, total};
      for (int k = 0; k < 3; k++) {
        memcpy(acc + have, stream + fed, cuts[k] - fed);
        have += cuts[k] - fed;
        fed = cuts[k];
        size_t len;
        while (frame_parse(acc, have, 1024, &len) == FRAME_READY) {
          ck_assert_int_lt(got, 3);
          ck_assert_uint_eq(len, strlen(payloads[got]));
          ck_assert(memcmp(acc + 4, payloads[got], len) == 0);
          memmove(acc, acc + 4 + len, have - 4 - len);
          have -= 4 + len;
          got++;
        }
      }
      ck_assert_int_eq(got, 3);
      ck_assert_uint_eq(have, 0);
    }
  }
}
END_TEST

/* ---- value codec ---- */

static sm_span pb_pack(const Statemgr__Value *v, uint8_t *buf) {
  size_t n = statemgr__value__pack(v, buf);
  return (sm_span){buf, n};
}

static void assert_same(sm_span a, sm_span b) {
  ck_assert_uint_eq(a.n, b.n);
  ck_assert(a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

/* Every scalar kind written by vbuf is byte-identical to protobuf-c's
 * encoding, and vw_scan/vw_peek read it back. */
START_TEST(value_scalars_match_protobuf) {
  uint8_t pb[256];
  vbuf b;
  vb_init(&b);
  vinfo vi;

  Statemgr__Value v = STATEMGR__VALUE__INIT;
  assert_same(vb_span(&b), pb_pack(&v, pb)); /* nil: empty */
  ck_assert_int_eq(vw_scan(vb_span(&b), 4, &vi, NULL), VW_OK);
  ck_assert_int_eq(vi.kind, VK_NIL);

  int64_t ints[] = {0, 1, -1, 63, -64, 300, INT64_MAX, INT64_MIN};
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
    vb_reset(&b);
    vb_int(&b, ints[i]);
    v.kind_case = STATEMGR__VALUE__KIND_I;
    v.i = ints[i];
    assert_same(vb_span(&b), pb_pack(&v, pb));
    ck_assert_int_eq(vw_scan(vb_span(&b), 4, &vi, NULL), VW_OK);
    ck_assert_int_eq(vi.kind, VK_INT);
    ck_assert(vi.i == ints[i]);
  }

  vb_reset(&b);
  vb_bool(&b, true);
  v.kind_case = STATEMGR__VALUE__KIND_B;
  v.b = 1;
  assert_same(vb_span(&b), pb_pack(&v, pb));
  ck_assert_int_eq(vw_peek(vb_span(&b), &vi), VW_OK);
  ck_assert(vi.kind == VK_BOOL && vi.b);

  vb_reset(&b);
  vb_double(&b, -2.5e-7);
  v.kind_case = STATEMGR__VALUE__KIND_D;
  v.d = -2.5e-7;
  assert_same(vb_span(&b), pb_pack(&v, pb));
  ck_assert_int_eq(vw_peek(vb_span(&b), &vi), VW_OK);
  ck_assert(vi.kind == VK_DOUBLE && vi.d == -2.5e-7);

  vb_reset(&b);
  vb_str(&b, "héllo", strlen("héllo"));
  v.kind_case = STATEMGR__VALUE__KIND_S;
  v.s = "héllo";
  assert_same(vb_span(&b), pb_pack(&v, pb));

  vb_reset(&b);
  vb_bytes(&b, "\0\1\2", 3);
  v.kind_case = STATEMGR__VALUE__KIND_RAW;
  v.raw.data = (uint8_t *)"\0\1\2";
  v.raw.len = 3;
  assert_same(vb_span(&b), pb_pack(&v, pb));
  ck_assert_int_eq(vw_peek(vb_span(&b), &vi), VW_OK);
  ck_assert(vi.kind == VK_BYTES && vi.data.n == 3 && vi.data.p[2] == 2);

  vb_reset(&b);
  vb_ref(&b, 42, "dict");
  Statemgr__ObjRef ref = STATEMGR__OBJ_REF__INIT;
  ref.id = 42;
  ref.type = "dict";
  v.kind_case = STATEMGR__VALUE__KIND_REF;
  v.ref = &ref;
  assert_same(vb_span(&b), pb_pack(&v, pb));
  unsigned flags = 0;
  ck_assert_int_eq(vw_scan(vb_span(&b), 4, &vi, &flags), VW_OK);
  ck_assert(vi.kind == VK_REF && vi.ref_id == 42 && vi.data.n == 4);
  ck_assert_uint_eq(flags, VW_FLAG_HAS_REF);
  vb_free(&b);
}
END_TEST

/* A list holding an int and a map {"k": [nil]} built in place with the
 * begin/end marks equals protobuf-c's encoding, and iterates back. */
START_TEST(value_containers_match_protobuf) {
  vbuf b, key, val;
  vb_init(&b);
  vb_init(&key);
  vb_init(&val);
  size_t list = vb_list_begin(&b);
  vbuf one;
  vb_init(&one);
  vb_int(&one, 7);
  vb_list_item(&b, vb_span(&one));
  size_t item = vb_list_begin_item(&b);
  size_t map = vb_map_begin(&b);
  vb_str(&key, "k", 1);
  size_t inner = vb_list_begin(&val);
  vb_list_item(&val, (sm_span){NULL, 0});
  vb_list_end(&val, inner);
  vb_map_entry(&b, vb_span(&key), vb_span(&val));
  vb_map_end(&b, map);
  vb_list_end_item(&b, item);
  vb_list_end(&b, list);
  ck_assert(!b.failed);

  Statemgr__Value nil = STATEMGR__VALUE__INIT, seven = STATEMGR__VALUE__INIT,
                  kv = STATEMGR__VALUE__INIT, inner_list = STATEMGR__VALUE__INIT,
                  mapv = STATEMGR__VALUE__INIT, top = STATEMGR__VALUE__INIT;
  seven.kind_case = STATEMGR__VALUE__KIND_I;
  seven.i = 7;
  kv.kind_case = STATEMGR__VALUE__KIND_S;
  kv.s = "k";
  Statemgr__ValueList il = STATEMGR__VALUE_LIST__INIT;
  Statemgr__Value *il_items[] = {&nil};
  il.n_items = 1;
  il.items = il_items;
  inner_list.kind_case = STATEMGR__VALUE__KIND_LIST;
  inner_list.list = &il;
  Statemgr__MapEntry e = STATEMGR__MAP_ENTRY__INIT;
  e.key = &kv;
  e.value = &inner_list;
  Statemgr__MapEntry *entries[] = {&e};
  Statemgr__ValueMap m = STATEMGR__VALUE_MAP__INIT;
  m.n_entries = 1;
  m.entries = entries;
  mapv.kind_case = STATEMGR__VALUE__KIND_MAP;
  mapv.map = &m;
  Statemgr__ValueList tl = STATEMGR__VALUE_LIST__INIT;
  Statemgr__Value *tl_items[] = {&seven, &mapv};
  tl.n_items = 2;
  tl.items = tl_items;
  top.kind_case = STATEMGR__VALUE__KIND_LIST;
  top.list = &tl;
  uint8_t pb[256];
  assert_same(vb_span(&b), pb_pack(&top, pb));

  vinfo vi;
  ck_assert_int_eq(vw_scan(vb_span(&b), 3, &vi, NULL), VW_OK);
  ck_assert_int_eq(vw_scan(vb_span(&b), 2, NULL, NULL), VW_TOO_DEEP);
  ck_assert_int_eq(vi.kind, VK_LIST);
  vw_iter it;
  vw_iter_init(&it, vi.data);
  sm_span a, k, v;
  ck_assert(vw_list_next(&it, &a));
  vinfo ai;
  ck_assert_int_eq(vw_peek(a, &ai), VW_OK);
  ck_assert(ai.kind == VK_INT && ai.i == 7);
  ck_assert(vw_list_next(&it, &a));
  ck_assert_int_eq(vw_peek(a, &ai), VW_OK);
  ck_assert_int_eq(ai.kind, VK_MAP);
  ck_assert(!vw_list_next(&it, &a));
  vw_iter mi;
  vw_iter_init(&mi, ai.data);
  ck_assert(vw_map_next(&mi, &k, &v));
  assert_same(k, vb_span(&key));
  assert_same(v, vb_span(&val));
  ck_assert(!vw_map_next(&mi, &k, &v));
  vb_free(&b);
  vb_free(&key);
  vb_free(&val);
  vb_free(&one);
}
END_TEST

/* The writers of a list's items that skip vbuf's bookkeeping give the
 * bytes vb_list_item / vb_list_begin_item write: vb_list_int for ints of
 * every varint length and on both sides of each length's bounds;
 * vw_put_item (into the vw_item_size bytes it announces) for values on
 * both sides of each length-byte boundary. */
START_TEST(value_item_writers_same_bytes) {
  int64_t v[64 * 4 + 2];
  size_t n = 0;
  for (int k = 0; k < 63; k++) {
    int64_t p = (int64_t)1 << k;
    v[n++] = p;
    v[n++] = p - 1;
    v[n++] = -p;
    v[n++] = -p + 1;
  }
  v[n++] = INT64_MAX;
  v[n++] = INT64_MIN;
  vbuf fast, slow;
  vb_init(&fast);
  vb_init(&slow);
  for (size_t i = 0; i < n; i++) {
    vb_list_int(&fast, v[i]);
    size_t item = vb_list_begin_item(&slow);
    vb_int(&slow, v[i]);
    vb_list_end_item(&slow, item);
  }
  ck_assert(!fast.failed && !slow.failed);
  assert_same(vb_span(&fast), vb_span(&slow));

  static const size_t sizes[] = {0, 1, 126, 127, 128, 129, 16382, 16383, 16384, 16385};
  static uint8_t value[16400];
  memset(value, 'v', sizeof value);
  for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
    sm_span val = {value, sizes[si]};
    vb_reset(&slow);
    vb_list_item(&slow, val);
    uint8_t *at = vb_grow(&fast, vw_item_size(val.n) + 1);
    ck_assert_ptr_nonnull(at);
    at[vw_item_size(val.n)] = 0xee; /* not written over */
    uint8_t *end = vw_put_item(at, val);
    ck_assert_uint_eq((size_t)(end - at), vw_item_size(val.n));
    ck_assert_uint_eq(*end, 0xee);
    assert_same((sm_span){at, (size_t)(end - at)}, vb_span(&slow));
    vb_reset(&fast);
  }
  vb_free(&fast);
  vb_free(&slow);
}
END_TEST

/* Non-canonical or hostile bytes are refused, so byte equality stays value
 * equality and nothing malformed is ever stored. */
START_TEST(value_rejects_malformed) {
  static const struct {
    const char *what;
    uint8_t bytes[16];
    size_t n;
    int expect;
  } cases[] = {
      {"overlong varint", {0x18, 0x80, 0x00}, 3, VW_MALFORMED},
      {"two fields", {0x18, 0x02, 0x18, 0x04}, 4, VW_MALFORMED},
      {"unknown field", {0x58, 0x01}, 2, VW_MALFORMED},
      {"bool of 2", {0x10, 0x02}, 2, VW_MALFORMED},
      {"truncated length", {0x2a, 0x05, 'a', 'b'}, 4, VW_MALFORMED},
      {"string with NUL", {0x2a, 0x02, 'a', 0x00}, 4, VW_MALFORMED},
      {"truncated double", {0x21, 1, 2, 3}, 4, VW_MALFORMED},
      {"varint runs off", {0x18, 0xff, 0xff}, 3, VW_MALFORMED},
      {"list item with wrong tag", {0x3a, 0x02, 0x12, 0x00}, 4, VW_MALFORMED},
      {"ref without type", {0x4a, 0x02, 0x08, 0x01}, 4, VW_MALFORMED},
      {"map with a list key",
       {0x42, 0x08, 0x0a, 0x06, 0x0a, 0x02, 0x3a, 0x00, 0x12, 0x00},
       10,
       VW_BAD_KEY},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int rc = vw_scan((sm_span){cases[i].bytes, cases[i].n}, 8, NULL, NULL);
    ck_assert_msg(rc == cases[i].expect, "%s: got %d", cases[i].what, rc);
  }
}
END_TEST

/* Nesting past the limit is refused without deep recursion. */
START_TEST(value_depth_limit) {
  /* Build 100 nested lists: [[[...]]] */
  vbuf cur, next;
  vb_init(&cur);
  vb_init(&next);
  for (int i = 0; i < 100; i++) {
    vb_reset(&next);
    size_t m = vb_list_begin(&next);
    vb_list_item(&next, vb_span(&cur));
    vb_list_end(&next, m);
    vbuf t = cur;
    cur = next;
    next = t;
  }
  ck_assert_int_eq(vw_scan(vb_span(&cur), VW_DEPTH_DEFAULT, NULL, NULL), VW_TOO_DEEP);
  ck_assert_int_eq(vw_scan(vb_span(&cur), 100, NULL, NULL), VW_OK);
  vb_free(&cur);
  vb_free(&next);
}
END_TEST

/* Sorting order follows Python: numbers with numbers, strings with
 * strings, and a string against a number is not comparable. */
START_TEST(value_compare) {
  vinfo i1 = {.kind = VK_INT, .i = 1}, d15 = {.kind = VK_DOUBLE, .d = 1.5},
        t = {.kind = VK_BOOL, .b = true}, sa = {.kind = VK_STR, .data = {(const uint8_t *)"a", 1}},
        sab = {.kind = VK_STR, .data = {(const uint8_t *)"ab", 2}};
  bool ok;
  ck_assert_int_lt(veq_compare(&i1, &d15, &ok), 0);
  ck_assert(ok);
  ck_assert_int_eq(veq_compare(&t, &i1, &ok), 0);
  ck_assert(ok);
  ck_assert_int_lt(veq_compare(&sa, &sab, &ok), 0);
  ck_assert(ok);
  veq_compare(&sa, &i1, &ok);
  ck_assert(!ok);
}
END_TEST

/* ---- messages ---- */

/* A request with arguments and a timeout survives encode and decode; a
 * response with a result and one with an error text too. */
START_TEST(msg_round_trips) {
  vbuf b;
  vb_init(&b);
  vbuf arg;
  vb_init(&arg);
  vb_str(&arg, "key", 3);
  sm_span args[2] = {vb_span(&arg), {NULL, 0}};
  wire_request_out ro = {.seq = 99,
                         .object = 7,
                         .method = "get",
                         .args = args,
                         .nargs = 2,
                         .has_timeout = true,
                         .timeout_ms = -1};
  ck_assert_int_eq(wire_request_encode(&b, &ro), 0);
  size_t len;
  ck_assert_int_eq(frame_parse(b.p, b.len, 1024, &len), FRAME_READY);
  ck_assert_uint_eq(len + 4, b.len);
  wire_request rq;
  ck_assert_int_eq(wire_request_decode((sm_span){b.p + 4, len}, &rq), 0);
  ck_assert(rq.seq == 99 && rq.object == 7 && rq.nargs == 2 && rq.has_timeout &&
            rq.timeout_ms == -1);
  ck_assert_str_eq(rq.method, "get");
  assert_same(wire_request_arg(&rq, 0), vb_span(&arg));
  ck_assert_uint_eq(wire_request_arg(&rq, 1).n, 0);
  wire_request_release(&rq);

  wire_response_out so = {.seq = 5, .status = WS_OK, .has_result = true, .result = vb_span(&arg)};
  size_t fs = wire_response_frame_size(&so);
  uint8_t *frame = malloc(fs);
  wire_response_frame_pack(&so, frame);
  ck_assert_int_eq(frame_parse(frame, fs, 1024, &len), FRAME_READY);
  wire_response rs;
  ck_assert_int_eq(wire_response_decode((sm_span){frame + 4, len}, &rs), 0);
  ck_assert(rs.seq == 5 && rs.status == WS_OK && rs.has_result && rs.error == NULL);
  assert_same(rs.result, vb_span(&arg));
  wire_response_release(&rs);
  free(frame);

  vb_reset(&b);
  wire_response_out eo = {.seq = 6, .status = WS_NOT_FOUND, .error = "key not found"};
  ck_assert_int_eq(wire_response_encode(&b, &eo), 0);
  ck_assert_int_eq(wire_response_decode((sm_span){b.p + 4, b.len - 4}, &rs), 0);
  ck_assert(rs.status == WS_NOT_FOUND && !rs.has_result);
  ck_assert_str_eq(rs.error, "key not found");
  wire_response_release(&rs);

  /* Garbage is not a request. */
  uint8_t junk[] = {0xff, 0xff, 0xff};
  ck_assert_int_ne(wire_request_decode((sm_span){junk, sizeof junk}, &rq), 0);
  vb_free(&b);
  vb_free(&arg);
}
END_TEST

/* The three handshake messages round-trip, with the version range of the
 * Hello, the version of the Auth and the daemon's facts of the AuthResult;
 * a Hello of protocol 1 (no max_version) reads as offering its version
 * only; an AuthResult with a status of a newer daemon is read, not
 * refused; a challenge of the wrong length is refused. */
START_TEST(msg_handshake) {
  uint8_t ch[AUTH_CHALLENGE_LEN], ch2[AUTH_CHALLENGE_LEN], mac[AUTH_MAC_LEN], mac2[AUTH_MAC_LEN];
  ck_assert_int_eq(auth_random(ch, sizeof ch), 0);
  memset(mac, 0xab, sizeof mac);
  vbuf b;
  vb_init(&b);
  uint32_t version, newest;
  ck_assert_int_eq(wire_hello_encode(&b, AUTH_PROTOCOL_OLDEST, AUTH_PROTOCOL_VERSION, ch), 0);
  ck_assert_int_eq(wire_hello_decode((sm_span){b.p + 4, b.len - 4}, &version, &newest, ch2), 0);
  ck_assert(version == AUTH_PROTOCOL_OLDEST && newest == AUTH_PROTOCOL_VERSION &&
            memcmp(ch, ch2, sizeof ch) == 0);
  vb_reset(&b);
  ck_assert_int_eq(wire_hello_encode(&b, 1, 0, ch), 0);
  ck_assert_int_eq(wire_hello_decode((sm_span){b.p + 4, b.len - 4}, &version, &newest, ch2), 0);
  ck_assert(version == 1 && newest == 1);

  vb_reset(&b);
  char name[16];
  ck_assert_int_eq(wire_auth_encode(&b, 7, mac, ch, "worker-7"), 0);
  ck_assert_int_eq(wire_auth_decode((sm_span){b.p + 4, b.len - 4}, &version, mac2, ch2, name,
                                    sizeof name, NULL, NULL),
                   0);
  ck_assert(version == 7 && memcmp(mac, mac2, sizeof mac) == 0 && memcmp(ch, ch2, sizeof ch) == 0);
  ck_assert_str_eq(name, "worker-7");
  uint64_t resume = 1, key = 1;
  ck_assert_int_eq(wire_auth_decode((sm_span){b.p + 4, b.len - 4}, &version, mac2, ch2, name,
                                    sizeof name, &resume, &key),
                   0);
  ck_assert(resume == 0 && key == 0); /* none named */
  vb_reset(&b);
  ck_assert_int_eq(wire_auth_encode_resume(&b, 3, mac, ch, "w", 0x1234567890abcdefull, 0x5eedull),
                   0);
  ck_assert_int_eq(wire_auth_decode((sm_span){b.p + 4, b.len - 4}, &version, mac2, ch2, name,
                                    sizeof name, &resume, &key),
                   0);
  ck_assert(version == 3 && resume == 0x1234567890abcdefull && key == 0x5eedull);

  vb_reset(&b);
  int status;
  bool has_mac;
  char err[64];
  ck_assert_int_eq(wire_auth_result_encode(&b, WS_AUTH_FAILED, NULL, "nope", NULL), 0);
  ck_assert_int_eq(wire_auth_result_decode((sm_span){b.p + 4, b.len - 4}, &status, mac2, &has_mac,
                                           err, sizeof err, NULL),
                   0);
  ck_assert(status == WS_AUTH_FAILED && !has_mac);
  ck_assert_str_eq(err, "nope");

  vb_reset(&b);
  wire_daemon_info info = {.instance = 0xfedcba9876543210ull, .max_depth = 1000},
                   got = {.instance = 1, .max_depth = 1};
  ck_assert_int_eq(wire_auth_result_encode(&b, WS_OK, mac, NULL, &info), 0);
  ck_assert_int_eq(wire_auth_result_decode((sm_span){b.p + 4, b.len - 4}, &status, mac2, &has_mac,
                                           err, sizeof err, &got),
                   0);
  ck_assert(status == WS_OK && has_mac && memcmp(mac, mac2, sizeof mac) == 0);
  ck_assert(got.instance == info.instance && got.max_depth == 1000);
  ck_assert(got.session == 0 && !got.resumed && !got.durable); /* protocol 2: none sent */
  vb_reset(&b);
  info.session = 0xabcdef0123456789ull;
  info.resumed = true;
  info.durable = true;
  info.key = 0x600d5eedull;
  ck_assert_int_eq(wire_auth_result_encode(&b, WS_OK, mac, "why not", &info), 0);
  ck_assert_int_eq(wire_auth_result_decode((sm_span){b.p + 4, b.len - 4}, &status, mac2, &has_mac,
                                           err, sizeof err, &got),
                   0);
  ck_assert(status == WS_OK && got.session == info.session && got.resumed && got.durable &&
            got.key == info.key);
  ck_assert_str_eq(err, "why not");
  ck_assert_str_eq(got.leader, ""); /* none sent */
  /* Protocol 4: a member that is not the leader names it. */
  vb_reset(&b);
  wire_daemon_info redirect = {0};
  snprintf(redirect.leader, sizeof redirect.leader, "tls://10.0.0.2:7450");
  ck_assert_int_eq(wire_auth_result_encode(&b, WS_REDIRECT, NULL, "a follower", &redirect), 0);
  ck_assert_int_eq(wire_auth_result_decode((sm_span){b.p + 4, b.len - 4}, &status, mac2, &has_mac,
                                           err, sizeof err, &got),
                   0);
  ck_assert(status == WS_REDIRECT && !has_mac && got.session == 0);
  ck_assert_str_eq(got.leader, "tls://10.0.0.2:7450");
  ck_assert_str_eq(err, "a follower");
  vb_reset(&b);
  ck_assert_int_eq(wire_auth_result_encode(&b, 99, NULL, "from a newer daemon", NULL), 0);
  ck_assert_int_eq(wire_auth_result_decode((sm_span){b.p + 4, b.len - 4}, &status, mac2, &has_mac,
                                           err, sizeof err, &got),
                   0);
  ck_assert(status == 99 && got.instance == 0 && got.max_depth == 0);

  /* A Hello whose challenge is 3 bytes long is malformed. */
  Statemgr__Hello h = STATEMGR__HELLO__INIT;
  h.version = 1;
  h.challenge.data = ch;
  h.challenge.len = 3;
  uint8_t raw[64];
  size_t n = statemgr__hello__pack(&h, raw);
  ck_assert_int_ne(wire_hello_decode((sm_span){raw, n}, &version, NULL, ch2), 0);
  vb_free(&b);
}
END_TEST

/* ---- the hand-written request/response codec against protobuf-c ---- */

/* A small deterministic generator, so a failure can be replayed. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* A random 64-bit value of random magnitude (small ones are common). */
static uint64_t rnd_u64(void) { return rnd() >> (rnd() % 64); }

/* Random requests: the hand encoder writes exactly protobuf-c's bytes, and
 * the hand decoder reads protobuf-c's bytes back to the same fields. */
START_TEST(request_codec_matches_protobuf) {
  static uint8_t argbuf[32][64];
  for (int round = 0; round < 2000; round++) {
    char method[40];
    size_t mlen = rnd() % sizeof method;
    for (size_t i = 0; i < mlen; i++)
      method[i] = (char)('a' + rnd() % 26);
    method[mlen] = '\0';
    size_t nargs = rnd() % 20; /* past WIRE_ARGS_INLINE too */
    sm_span args[32];
    ProtobufCBinaryData pargs[32];
    for (size_t i = 0; i < nargs; i++) {
      size_t n = rnd() % sizeof argbuf[i];
      for (size_t k = 0; k < n; k++)
        argbuf[i][k] = (uint8_t)rnd();
      args[i] = (sm_span){argbuf[i], n};
      pargs[i] = (ProtobufCBinaryData){.len = n, .data = argbuf[i]};
    }
    wire_request_out ro = {.seq = rnd_u64(),
                           .object = rnd_u64(),
                           .method = method,
                           .args = args,
                           .nargs = nargs,
                           .has_timeout = rnd() % 2,
                           .timeout_ms = (int64_t)rnd_u64(),
                           .type = rnd() % 2 ? (uint32_t)rnd() | 1 : 0,
                           .ack = rnd() % 2 ? rnd_u64() | 1 : 0};
    if (rnd() % 2) ro.timeout_ms = -ro.timeout_ms;
    if (rnd() % 2) { /* protocol 4's fencing guard */
      ro.guard_object = rnd_u64() | 1;
      ro.guard_token = rnd_u64();
    }
    Statemgr__Request m = STATEMGR__REQUEST__INIT;
    m.seq = ro.seq;
    m.object = ro.object;
    m.method = method;
    m.n_args = nargs;
    m.args = pargs;
    m.has_timeout_ms = ro.has_timeout;
    m.timeout_ms = ro.timeout_ms;
    m.has_type = ro.type != 0;
    m.type = ro.type;
    m.has_ack = ro.ack != 0;
    m.ack = ro.ack;
    m.has_guard_object = m.has_guard_token = ro.guard_object != 0;
    m.guard_object = ro.guard_object;
    m.guard_token = ro.guard_token;
    uint8_t pb[4096];
    size_t pn = statemgr__request__pack(&m, pb);
    vbuf b;
    vb_init(&b);
    ck_assert_int_eq(wire_request_encode(&b, &ro), 0);
    ck_assert_uint_eq(b.len, 4 + pn);
    ck_assert(memcmp(b.p + 4, pb, pn) == 0);
    wire_request rq;
    ck_assert_int_eq(wire_request_decode((sm_span){pb, pn}, &rq), 0);
    ck_assert(rq.seq == ro.seq && rq.object == ro.object && rq.nargs == nargs);
    ck_assert_str_eq(rq.method, method);
    ck_assert(rq.has_timeout == ro.has_timeout &&
              (!rq.has_timeout || rq.timeout_ms == ro.timeout_ms));
    ck_assert(rq.has_type == (ro.type != 0) && rq.type == ro.type);
    ck_assert(rq.ack == ro.ack);
    ck_assert(rq.guard_object == ro.guard_object && rq.guard_token == ro.guard_token);
    for (size_t i = 0; i < nargs; i++)
      assert_same(wire_request_arg(&rq, i), args[i]);
    wire_request_release(&rq);
    vb_free(&b);
  }
}
END_TEST

/* The type code is FNV-1a (32 bits) of the name, as statemgr.proto says,
 * and never 0 (0 is "no type"). */
START_TEST(type_codes) {
  ck_assert_uint_eq(wire_type_code(""), 0x811c9dc5u);
  ck_assert_uint_eq(wire_type_code("a"), 0xe40c292cu);
  ck_assert_uint_eq(wire_type_code("foobar"), 0xbf9cf968u);
  ck_assert_uint_ne(wire_type_code("dict"), wire_type_code("list"));
}
END_TEST

/* Random responses: the hand encoder writes protobuf-c's bytes, and the
 * hand decoder reads them back, statuses this build does not know (a newer
 * daemon's) included. */
START_TEST(response_codec_matches_protobuf) {
  uint8_t result[100];
  for (int round = 0; round < 2000; round++) {
    size_t rn = rnd() % sizeof result;
    for (size_t k = 0; k < rn; k++)
      result[k] = (uint8_t)rnd();
    char err[30];
    size_t en = rnd() % sizeof err;
    for (size_t k = 0; k < en; k++)
      err[k] = (char)('A' + rnd() % 26);
    err[en] = '\0';
    wire_response_out so = {.seq = rnd_u64(),
                            .status = (int)(rnd() % 4 ? rnd() % (WS_MAX + 1) : rnd() % 1000),
                            .has_result = rnd() % 2,
                            .result = {result, rn},
                            .error = rnd() % 2 ? err : NULL,
                            .token = rnd() % 2 ? rnd_u64() | 1 : 0,
                            .leader = rnd() % 4 ? NULL : "tcp://10.0.0.2:7450"};
    Statemgr__Response m = STATEMGR__RESPONSE__INIT;
    m.seq = so.seq;
    m.status = (Statemgr__Status)so.status;
    m.has_result = so.has_result;
    m.result = (ProtobufCBinaryData){.len = rn, .data = result};
    m.error = (char *)(uintptr_t)so.error;
    m.has_token = so.token != 0;
    m.token = so.token;
    m.leader = (char *)(uintptr_t)so.leader;
    uint8_t pb[512];
    size_t pn = statemgr__response__pack(&m, pb);
    size_t fs = wire_response_frame_size(&so);
    ck_assert_uint_eq(fs, 4 + pn);
    uint8_t frame[512];
    wire_response_frame_pack(&so, frame);
    ck_assert(memcmp(frame + 4, pb, pn) == 0);
    wire_response rs;
    ck_assert_int_eq(wire_response_decode((sm_span){pb, pn}, &rs), 0);
    ck_assert(rs.seq == so.seq && rs.status == so.status && rs.has_result == so.has_result);
    if (so.has_result) assert_same(rs.result, (sm_span){result, rn});
    if (so.error)
      ck_assert_str_eq(rs.error, err);
    else
      ck_assert_ptr_null(rs.error);
    ck_assert(rs.token == so.token);
    if (so.leader)
      ck_assert_str_eq(rs.leader, so.leader);
    else
      ck_assert_ptr_null(rs.leader);
    wire_response_release(&rs);
  }
}
END_TEST

/* Damaged requests (bytes flipped, cut short, junk appended): whatever the
 * hand decoder accepts, protobuf-c accepts too with the same fields, so the
 * fast path never reads a frame differently from the schema. */
START_TEST(request_decoder_no_looser_than_protobuf) {
  vbuf a0, a1, b;
  vb_init(&a0);
  vb_init(&a1);
  vb_init(&b);
  vb_str(&a0, "key", 3);
  vb_int(&a1, -7);
  sm_span args[2] = {vb_span(&a0), vb_span(&a1)};
  wire_request_out ro = {.seq = 300,
                         .object = 9,
                         .method = "set",
                         .args = args,
                         .nargs = 2,
                         .has_timeout = true,
                         .timeout_ms = 1500};
  ck_assert_int_eq(wire_request_encode(&b, &ro), 0);
  int accepted = 0;
  for (int round = 0; round < 200000; round++) {
    uint8_t m[128];
    size_t n = b.len - 4;
    memcpy(m, b.p + 4, n);
    int flips = 1 + (int)(rnd() % 3);
    for (int f = 0; f < flips; f++)
      m[rnd() % n] = (uint8_t)rnd();
    if (rnd() % 4 == 0) n = rnd() % n;
    if (rnd() % 8 == 0 && n < sizeof m - 4)
      for (int k = 0; k < 3; k++)
        m[n++] = (uint8_t)rnd();
    wire_request rq;
    if (wire_request_decode((sm_span){m, n}, &rq) != 0) continue;
    accepted++;
    Statemgr__Request *pm = statemgr__request__unpack(NULL, n, m);
    ck_assert_msg(pm != NULL, "round %d: the fast decoder accepted what protobuf-c refuses", round);
    ck_assert(pm->seq == rq.seq && pm->object == rq.object && pm->n_args == rq.nargs);
    ck_assert_str_eq(pm->method, rq.method);
    ck_assert(pm->has_timeout_ms == rq.has_timeout &&
              (!rq.has_timeout || pm->timeout_ms == rq.timeout_ms));
    for (size_t i = 0; i < rq.nargs; i++)
      assert_same(wire_request_arg(&rq, i), (sm_span){pm->args[i].data, pm->args[i].len});
    statemgr__request__free_unpacked(pm, NULL);
    wire_request_release(&rq);
  }
  ck_assert_int_gt(accepted, 100); /* the comparison did run on accepted frames */
  vb_free(&a0);
  vb_free(&a1);
  vb_free(&b);
}
END_TEST

/* ---- auth ---- */

/* Each side's proof verifies only with the same key, and the two
 * directions differ, so a proof cannot be reflected. */
START_TEST(auth_proofs) {
  uint8_t sc[AUTH_CHALLENGE_LEN], cc[AUTH_CHALLENGE_LEN];
  uint8_t m1[AUTH_MAC_LEN], m2[AUTH_MAC_LEN], m3[AUTH_MAC_LEN];
  auth_random(sc, sizeof sc);
  auth_random(cc, sizeof cc);
  auth_client_mac((const uint8_t *)"key", 3, sc, cc, m1);
  auth_client_mac((const uint8_t *)"key", 3, sc, cc, m2);
  ck_assert(auth_mac_ok(m1, sizeof m1, m2));
  auth_client_mac((const uint8_t *)"kez", 3, sc, cc, m3);
  ck_assert(!auth_mac_ok(m3, sizeof m3, m1));
  auth_server_mac((const uint8_t *)"key", 3, sc, cc, m3);
  ck_assert(!auth_mac_ok(m3, sizeof m3, m1));
  ck_assert(!auth_mac_ok(m1, sizeof m1 - 1, m1));
}
END_TEST

/* ---- authkey lookup ---- */

static char tmpdir[64];

static void write_file(const char *path, const char *content, mode_t mode) {
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(content, f);
  fclose(f);
  chmod(path, mode);
}

static void authkey_setup(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/smkey.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(tmpdir));
  setenv("HOME", tmpdir, 1);
  unsetenv("STATEMGR_AUTHKEY_FILE");
  unsetenv("STATEMGR_AUTHKEY");
}

static void authkey_teardown(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
  ck_assert_int_eq(system(cmd), 0);
}

/* First match wins: option file, then $STATEMGR_AUTHKEY_FILE, then
 * $STATEMGR_AUTHKEY; one trailing newline is not part of the key. */
START_TEST(authkey_order) {
  char f1[128], f2[128], err[256];
  snprintf(f1, sizeof f1, "%s/one", tmpdir);
  snprintf(f2, sizeof f2, "%s/two", tmpdir);
  write_file(f1, "the first key, from a file\n", 0600);
  write_file(f2, "the second key, from a file", 0400);
  setenv("STATEMGR_AUTHKEY_FILE", f2, 1);
  setenv("STATEMGR_AUTHKEY", "the third key, from the environment", 1);
  authkey k = {0};
  ck_assert_int_eq(authkey_load(f1, false, &k, err, sizeof err), 0);
  ck_assert(k.len == 26 && memcmp(k.bytes, "the first key, from a file", 26) == 0);
  ck_assert_int_eq(authkey_load(NULL, false, &k, err, sizeof err), 0);
  ck_assert(k.len == 27 && memcmp(k.bytes, "the second key, from a file", 27) == 0);
  unsetenv("STATEMGR_AUTHKEY_FILE");
  ck_assert_int_eq(authkey_load(NULL, false, &k, err, sizeof err), 0);
  ck_assert(k.len == 35 && memcmp(k.bytes, "the third key, from the environment", 35) == 0);
  authkey_clear(&k);
  ck_assert_ptr_null(k.bytes);
}
END_TEST

/* A key file holds raw bytes (Python managers write os.urandom keys): only
 * one line ending ("\n" or "\r\n") is dropped, so a key that ends in a
 * carriage return keeps it, and a key ending in "\n" is written with one
 * more. */
START_TEST(authkey_binary_endings) {
  char f[128], err[256];
  snprintf(f, sizeof f, "%s/bin", tmpdir);
  authkey k = {0};
  /* keys of 16 bytes and more: the shortest the loader accepts */
  write_file(f, "sixteen-byte-key\r", 0600);
  ck_assert_int_eq(authkey_load(f, false, &k, err, sizeof err), 0);
  ck_assert(k.len == 17 && memcmp(k.bytes, "sixteen-byte-key\r", 17) == 0);
  write_file(f, "sixteen-byte-key\r\n", 0600);
  ck_assert_int_eq(authkey_load(f, false, &k, err, sizeof err), 0);
  ck_assert(k.len == 16 && memcmp(k.bytes, "sixteen-byte-key", 16) == 0);
  write_file(f, "sixteen-byte-key\n\n", 0600);
  ck_assert_int_eq(authkey_load(f, false, &k, err, sizeof err), 0);
  ck_assert(k.len == 17 && memcmp(k.bytes, "sixteen-byte-key\n", 17) == 0);
  authkey_clear(&k);
}
END_TEST

/* Without anything set, the library refuses to invent a key, while the
 * daemon creates ~/.statemgr/authkey: 64 hex characters, mode 0600, and the
 * same key on the next load. */
START_TEST(authkey_default_created) {
  char err[256], path[256];
  authkey k = {0}, again = {0};
  ck_assert_int_ne(authkey_load(NULL, false, &k, err, sizeof err), 0);
  ck_assert_ptr_nonnull(strstr(err, "does not exist"));
  ck_assert_int_eq(authkey_load(NULL, true, &k, err, sizeof err), 0);
  ck_assert_uint_eq(k.len, 64);
  snprintf(path, sizeof path, "%s/.statemgr/authkey", tmpdir);
  struct stat st;
  ck_assert_int_eq(stat(path, &st), 0);
  ck_assert_uint_eq(st.st_mode & 0777, 0600);
  ck_assert_int_eq(authkey_load(NULL, false, &again, err, sizeof err), 0);
  ck_assert(again.len == k.len && memcmp(again.bytes, k.bytes, k.len) == 0);
  authkey_clear(&k);
  authkey_clear(&again);
}
END_TEST

/* A key file that group or others may read or write is refused, default
 * or explicit, with the chmod that fixes it (as ssh does); so are an empty
 * key file, a key shorter than 16 bytes (file or environment), and a
 * missing file. A key of exactly 16 bytes is fine. */
START_TEST(authkey_refusals) {
  char dir[128], path[160], err[512];
  snprintf(dir, sizeof dir, "%s/.statemgr", tmpdir);
  ck_assert_int_eq(mkdir(dir, 0700), 0);
  snprintf(path, sizeof path, "%s/authkey", dir);
  write_file(path, "a secret of some length\n", 0644);
  authkey k = {0};
  ck_assert_int_ne(authkey_load(NULL, false, &k, err, sizeof err), 0);
  ck_assert_msg(strstr(err, "readable or writable by others (mode 644)") &&
                    strstr(err, "chmod 600"),
                "%s", err);
  write_file(path, "a secret of some length\n", 0620); /* group-writable */
  ck_assert_int_ne(authkey_load(path, false, &k, err, sizeof err), 0);
  ck_assert_msg(strstr(err, "(mode 620)"), "%s", err);
  write_file(path, "\n", 0600);
  ck_assert_int_ne(authkey_load(NULL, false, &k, err, sizeof err), 0);
  ck_assert_ptr_nonnull(strstr(err, "empty"));
  write_file(path, "x\n", 0600);
  ck_assert_int_ne(authkey_load(path, false, &k, err, sizeof err), 0);
  ck_assert_msg(strstr(err, "is 1 bytes, too short") && strstr(err, "at least 16"), "%s", err);
  write_file(path, "0123456789abcdef\n", 0600);
  ck_assert_int_eq(authkey_load(path, false, &k, err, sizeof err), 0);
  ck_assert_uint_eq(k.len, 16);
  setenv("STATEMGR_AUTHKEY", "short", 1);
  ck_assert_int_ne(authkey_load(NULL, false, &k, err, sizeof err), 0);
  ck_assert_msg(strstr(err, "$STATEMGR_AUTHKEY is 5 bytes"), "%s", err);
  ck_assert_int_ne(authkey_load("/nonexistent/key", false, &k, err, sizeof err), 0);
  ck_assert_ptr_nonnull(strstr(err, "cannot open"));
  authkey_clear(&k);
}
END_TEST

Suite *wire_suite(void) {
  Suite *s = suite_create("wire");
  TCase *tc = tcase_create("frame");
  tcase_add_test(tc, frame_states);
  tcase_add_test(tc, frame_split_everywhere);
  suite_add_tcase(s, tc);
  tc = tcase_create("value");
  tcase_add_test(tc, value_scalars_match_protobuf);
  tcase_add_test(tc, value_containers_match_protobuf);
  tcase_add_test(tc, value_item_writers_same_bytes);
  tcase_add_test(tc, value_rejects_malformed);
  tcase_add_test(tc, value_depth_limit);
  tcase_add_test(tc, value_compare);
  suite_add_tcase(s, tc);
  tc = tcase_create("messages");
  tcase_add_test(tc, msg_round_trips);
  tcase_add_test(tc, msg_handshake);
  tcase_add_test(tc, request_codec_matches_protobuf);
  tcase_add_test(tc, type_codes);
  tcase_add_test(tc, response_codec_matches_protobuf);
  tcase_add_test(tc, request_decoder_no_looser_than_protobuf);
  tcase_add_test(tc, auth_proofs);
  suite_add_tcase(s, tc);
  tc = tcase_create("authkey");
  tcase_add_checked_fixture(tc, authkey_setup, authkey_teardown);
  tcase_add_test(tc, authkey_order);
  tcase_add_test(tc, authkey_binary_endings);
  tcase_add_test(tc, authkey_default_created);
  tcase_add_test(tc, authkey_refusals);
  suite_add_tcase(s, tc);
  return s;
}
