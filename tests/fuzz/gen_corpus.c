/* SPDX-License-Identifier: MIT */
/* gen_corpus.c - writes the seed corpus of the fuzz harnesses:
 *
 *   fuzz_gen_corpus tests/fuzz/corpus
 *
 * makes corpus/fuzz_frame/, corpus/fuzz_value/ and corpus/fuzz_dispatch/
 * and fills each with a handful of small inputs built with proto/'s own
 * encoders, so every seed is a well-formed starting point the fuzzer then
 * mutates. The output is deterministic (no random bytes) and committed;
 * rerun this after a change to the wire format or the methods, and keep the
 * whole corpus small. To add a seed, add a block to the matching function.
 *
 * Input formats: fuzz_frame takes 3 bytes (size-limit selector, chunking
 * seed) then a byte stream; fuzz_value takes one packed Value; fuzz_dispatch
 * takes a stream of Request frames whose object ids 1..16 name the objects
 * the same input created, in order (see fuzz_dispatch.c). */
#include "proto/auth.h"
#include "proto/frame.h"
#include "proto/msg.h"
#include "proto/vwire.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define POOL 64
#define NONE (-1) /* no timeout in a request */

static const char *root;
static vbuf pool[POOL]; /* values of the request being built */
static unsigned pool_next;
static vbuf file; /* the input being built */
static uint64_t seq;

static void die(const char *what) {
  fprintf(stderr, "gen_corpus: %s: %s\n", what, strerror(errno));
  exit(1);
}

static vbuf *fresh(void) {
  if (pool_next == POOL) {
    fprintf(stderr, "gen_corpus: too many values in one request\n");
    exit(1);
  }
  vbuf *b = &pool[pool_next++];
  vb_reset(b);
  return b;
}

/* ---- values ---- */

static sm_span NIL(void) { return (sm_span){NULL, 0}; }

static sm_span B(bool v) {
  vbuf *b = fresh();
  vb_bool(b, v);
  return vb_span(b);
}

static sm_span I(int64_t v) {
  vbuf *b = fresh();
  vb_int(b, v);
  return vb_span(b);
}

static sm_span D(double v) {
  vbuf *b = fresh();
  vb_double(b, v);
  return vb_span(b);
}

static sm_span S(const char *s) {
  vbuf *b = fresh();
  vb_str(b, s, strlen(s));
  return vb_span(b);
}

static sm_span BY(const void *p, size_t n) {
  vbuf *b = fresh();
  vb_bytes(b, p, n);
  return vb_span(b);
}

static sm_span R(uint64_t id, const char *type) {
  vbuf *b = fresh();
  vb_ref(b, id, type);
  return vb_span(b);
}

/* A list of n values. */
static sm_span L(int n, ...) {
  vbuf *b = fresh();
  va_list ap;
  va_start(ap, n);
  size_t mark = vb_list_begin(b);
  for (int i = 0; i < n; i++)
    vb_list_item(b, va_arg(ap, sm_span));
  vb_list_end(b, mark);
  va_end(ap);
  return vb_span(b);
}

/* A map of n key, value pairs (2n spans). */
static sm_span M(int n, ...) {
  vbuf *b = fresh();
  va_list ap;
  va_start(ap, n);
  size_t mark = vb_map_begin(b);
  for (int i = 0; i < n; i++) {
    sm_span k = va_arg(ap, sm_span);
    sm_span v = va_arg(ap, sm_span);
    vb_map_entry(b, k, v);
  }
  vb_map_end(b, mark);
  va_end(ap);
  return vb_span(b);
}

/* ---- files ---- */

static void begin(void) {
  vb_reset(&file);
  seq = 0;
}

static void save(const char *dir, const char *name) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s/%s", root, dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) die(path);
  if (file.len && fwrite(file.p, 1, file.len, f) != file.len) die(path);
  if (fclose(f) != 0) die(path);
}

/* Appends one request frame: object, method, timeout (NONE or ms), then
 * nargs argument values. Frees the value pool afterwards. */
static uint32_t next_type; /* Request.type of the next req(), then 0 again */

/* The next req() names the type its caller expects (Request.type). */
static void typed(const char *type) { next_type = wire_type_code(type); }

static void req(uint64_t object, const char *method, int64_t timeout, int nargs, ...) {
  sm_span args[16];
  va_list ap;
  va_start(ap, nargs);
  for (int i = 0; i < nargs; i++)
    args[i] = va_arg(ap, sm_span);
  va_end(ap);
  wire_request_out r = {.seq = ++seq,
                        .object = object,
                        .method = method,
                        .args = args,
                        .nargs = (size_t)nargs,
                        .has_timeout = timeout != NONE,
                        .timeout_ms = timeout,
                        .type = next_type};
  if (wire_request_encode(&file, &r) != 0) die("encode");
  pool_next = 0;
  next_type = 0;
}

/* ---- fuzz_dispatch: request streams; ids 1.. are this input's objects ---- */

static void dispatch_seeds(void) {
  const char *d = "fuzz_dispatch";

  begin();
  req(0, "create", NONE, 2, S("dict"), NIL());
  req(1, "set", NONE, 2, S("a"), I(1));
  req(1, "set", NONE, 2, I(7), L(2, S("x"), D(1.5)));
  req(1, "get", NONE, 1, S("a"));
  req(1, "get", NONE, 2, S("missing"), S("default"));
  req(1, "setdefault", NONE, 2, S("b"), B(true));
  req(1, "update", NONE, 1, M(2, S("c"), I(3), B(false), NIL()));
  req(1, "cas", NONE, 3, S("a"), I(1), I(2));
  req(1, "cas", NONE, 2, S("new"), I(9));
  req(1, "set_if_absent", NONE, 2, S("a"), I(5));
  req(1, "contains", NONE, 1, S("c"));
  req(1, "items", NONE, 0);
  req(1, "keys", NONE, 0);
  req(1, "values", NONE, 0);
  req(1, "copy", NONE, 0);
  req(1, "pop", NONE, 1, S("a"));
  req(1, "popitem", NONE, 0);
  req(1, "del", NONE, 1, I(7));
  req(1, "len", NONE, 0);
  req(1, "clear", NONE, 0);
  save(d, "dict");

  begin(); /* the type check of every call */
  req(0, "create", NONE, 2, S("dict"), S("typed"));
  req(0, "create", NONE, 2, S("list"), NIL());
  typed("dict");
  req(1, "set", NONE, 2, S("k"), I(1));
  typed("list");
  req(1, "len", NONE, 0);
  typed("dict");
  req(2, "append", NONE, 1, I(1));
  typed("list");
  req(2, "append", NONE, 1, I(1));
  typed("no-such-type");
  req(2, "len", NONE, 0);
  save(d, "typed");

  begin();
  req(0, "create", NONE, 3, S("list"), NIL(), L(3, I(3), I(1), I(2)));
  req(1, "append", NONE, 1, D(-0.5));
  req(1, "extend", NONE, 1, L(2, S("s"), BY("\x00\x01", 2)));
  req(1, "insert", NONE, 2, I(0), NIL());
  req(1, "get", NONE, 1, I(-1));
  req(1, "set", NONE, 2, I(1), I(10));
  req(1, "slice", NONE, 2, I(1), NIL());
  req(1, "index", NONE, 1, I(10));
  req(1, "count", NONE, 1, I(2));
  req(1, "remove", NONE, 1, S("s"));
  req(1, "del", NONE, 1, I(0));
  req(1, "pop", NONE, 0);
  req(1, "pop", NONE, 1, I(0));
  req(1, "sort", NONE, 0);
  req(1, "sort", NONE, 1, B(true));
  req(1, "reverse", NONE, 0);
  req(1, "len", NONE, 0);
  req(1, "clear", NONE, 0);
  save(d, "list");

  begin();
  req(0, "create", NONE, 3, S("queue"), NIL(), I(2));
  req(1, "put", NONE, 1, S("one"));
  req(1, "put", NONE, 1, I(2));
  req(1, "put", 0, 1, I(3)); /* full: FULL */
  req(1, "qsize", NONE, 0);
  req(1, "full", NONE, 0);
  req(1, "get", NONE, 0);
  req(1, "task_done", NONE, 0);
  req(1, "get", NONE, 0);
  req(1, "get", 0, 0);   /* empty: EMPTY */
  req(1, "get", 500, 0); /* parks */
  req(1, "put", NONE, 1, S("wakes the waiter"));
  req(1, "join", NONE, 0); /* parks: two items not done */
  req(1, "task_done", NONE, 0);
  req(1, "task_done", NONE, 0);
  req(1, "empty", NONE, 0);
  req(1, "maxsize", NONE, 0);
  save(d, "queue");

  begin();
  req(0, "create", NONE, 2, S("lock"), NIL());
  req(0, "create", NONE, 3, S("rlock"), NIL(), B(false));
  req(1, "acquire", NONE, 0);
  req(1, "locked", NONE, 0);
  req(1, "acquire", 0, 0);    /* held: TIMEOUT */
  req(1, "acquire", NONE, 0); /* parks */
  req(1, "release", NONE, 0); /* hands it to the waiter */
  req(1, "release", NONE, 0);
  req(1, "release", NONE, 0); /* NOT_OWNER */
  req(2, "acquire", NONE, 0);
  req(2, "acquire", NONE, 0);
  req(2, "count", NONE, 0);
  req(2, "release", NONE, 0);
  req(2, "release", NONE, 0);
  req(2, "locked", NONE, 0);
  save(d, "locks");

  begin();
  req(0, "create", NONE, 2, S("lock"), NIL());
  req(0, "create", NONE, 3, S("condition"), NIL(), R(1, "lock"));
  req(0, "create", NONE, 2, S("condition"), NIL());
  req(2, "acquire", NONE, 0);
  req(2, "wait", 0, 0);
  req(2, "wait", NONE, 0); /* parks, gives the lock up */
  req(2, "acquire", NONE, 0);
  req(2, "notify", NONE, 1, I(1));
  req(2, "notify_all", NONE, 0);
  req(2, "release", NONE, 0);
  req(2, "lock", NONE, 0);
  req(3, "acquire", NONE, 0);
  req(3, "acquire", NONE, 0);
  req(3, "wait", NONE, 0);
  req(3, "notify", NONE, 0);
  save(d, "condition");

  begin();
  req(0, "create", NONE, 3, S("semaphore"), NIL(), I(2));
  req(0, "create", NONE, 4, S("bounded_semaphore"), NIL(), I(1), B(false));
  req(1, "acquire", NONE, 0);
  req(1, "acquire", NONE, 0);
  req(1, "acquire", NONE, 0); /* parks */
  req(1, "release", NONE, 1, I(2));
  req(1, "get_value", NONE, 0);
  req(2, "acquire", NONE, 0);
  req(2, "release", NONE, 0);
  req(2, "release", NONE, 0); /* past the bound: VALUE_ERROR */
  save(d, "semaphores");

  begin();
  req(0, "create", NONE, 2, S("event"), NIL());
  req(0, "create", NONE, 3, S("barrier"), NIL(), I(2));
  req(1, "wait", NONE, 0); /* parks */
  req(1, "set", NONE, 0);
  req(1, "is_set", NONE, 0);
  req(1, "clear", NONE, 0);
  req(1, "wait", 0, 0);
  req(2, "wait", NONE, 0); /* parks */
  req(2, "n_waiting", NONE, 0);
  req(2, "wait", NONE, 0); /* releases both */
  req(2, "wait", NONE, 0);
  req(2, "abort", NONE, 0);
  req(2, "broken", NONE, 0);
  req(2, "reset", NONE, 0);
  req(2, "parties", NONE, 0);
  save(d, "event_barrier");

  begin();
  req(0, "create", NONE, 3, S("value"), NIL(), I(41));
  req(0, "create", NONE, 4, S("array"), NIL(), S("i16"), I(4));
  req(0, "create", NONE, 4, S("array"), NIL(), S("f64"), L(2, D(0.5), D(2.0)));
  req(0, "create", NONE, 3, S("namespace"), NIL(), M(1, S("x"), I(1)));
  req(1, "add", NONE, 1, I(1));
  req(1, "add", NONE, 1, D(0.25));
  req(1, "get", NONE, 0);
  req(1, "set", NONE, 1, S("text"));
  req(2, "set", NONE, 2, I(0), I(32767));
  req(2, "add", NONE, 2, I(0), I(1)); /* overflow: VALUE_ERROR */
  req(2, "get", NONE, 1, I(3));
  req(2, "set_slice", NONE, 2, I(1), L(2, I(-1), I(-2)));
  req(2, "slice", NONE, 2, NIL(), NIL());
  req(2, "len", NONE, 0);
  req(2, "typecode", NONE, 0);
  req(3, "add", NONE, 2, I(1), D(1.0));
  req(3, "slice", NONE, 2, I(0), I(1));
  req(4, "set", NONE, 2, S("y"), L(0));
  req(4, "get", NONE, 1, S("x"));
  req(4, "list", NONE, 0);
  req(4, "del", NONE, 1, S("x"));
  req(4, "len", NONE, 0);
  save(d, "value_array_namespace");

  begin();
  req(0, "create", NONE, 2, S("queue"), NIL());
  req(0, "create", NONE, 2, S("dict"), S("fuzz-named"));
  req(2, "set", NONE, 2, S("q"), R(1, "queue"));
  req(2, "set", NONE, 2, R(1, "queue"), M(1, S("nested"), L(1, R(1, "queue"))));
  req(2, "get", NONE, 1, S("q"));
  req(0, "open", NONE, 1, R(1, "queue"));
  req(0, "open", NONE, 1, S("fuzz-named"));
  req(0, "ls", NONE, 0);
  req(0, "ls", NONE, 1, S("dict"));
  req(0, "release", NONE, 1, I(1));
  req(2, "clear", NONE, 0);
  req(0, "delete", NONE, 1, S("fuzz-named"));
  save(d, "refs_named");

  begin(); /* a set, its operands as lists and maps, and a ref element */
  req(0, "create", NONE, 3, S("set"), NIL(), L(3, I(1), D(1.0), S("a")));
  req(0, "create", NONE, 2, S("list"), NIL());
  req(1, "add", NONE, 1, R(2, "list"));
  req(1, "add", NONE, 1, L(1, I(1))); /* unhashable: TYPE_ERROR */
  req(1, "discard", NONE, 1, B(true));
  req(1, "remove", NONE, 1, S("absent"));
  req(1, "contains", NONE, 1, S("a"));
  req(1, "update", NONE, 2, L(2, I(2), I(3)), M(1, S("k"), NIL()));
  req(1, "union", NONE, 2, L(1, I(9)), L(0));
  req(1, "intersection", NONE, 1, L(2, I(2), S("a")));
  req(1, "difference", NONE, 1, M(1, I(3), I(0)));
  req(1, "symmetric_difference", NONE, 1, L(2, I(2), I(8)));
  req(1, "intersection_update", NONE, 1, L(3, I(2), S("k"), R(2, "list")));
  req(1, "difference_update", NONE, 1, L(1, I(2)));
  req(1, "symmetric_difference_update", NONE, 1, L(2, S("k"), I(5)));
  req(1, "issubset", NONE, 1, L(2, I(5), R(2, "list")));
  req(1, "issuperset", NONE, 1, L(0));
  req(1, "isdisjoint", NONE, 1, L(1, I(5)));
  req(1, "scan", NONE, 2, I(0), I(1));
  req(1, "copy", NONE, 0);
  req(1, "len", NONE, 0);
  req(1, "pop", NONE, 0);
  req(1, "clear", NONE, 0);
  req(1, "pop", NONE, 0); /* empty: EMPTY */
  save(d, "set");

  begin();
  req(0, "ping", NONE, 0);
  req(0, "info", NONE, 0);
  req(0, "show", NONE, 1, S("fuzz-named"));
  req(0, "shutdown", NONE, 0);
  req(0, "no-such-method", NONE, 0);
  req(0, "create", NONE, 2, I(5), NIL());
  req(0, "create", NONE, 2, S("no-such-type"), NIL());
  req(987654321, "get", NONE, 0);
  req(0, "ping", NONE, 1, BY("\xff\x01", 2));
  save(d, "manager_errors");
}

/* ---- fuzz_value: single packed values ---- */

static void value_seed(const char *name, sm_span v) {
  begin();
  vb_append(&file, v);
  save("fuzz_value", name);
  pool_next = 0;
}

static void value_seeds(void) {
  value_seed("nil", NIL());
  value_seed("bool", B(true));
  value_seed("int", I(-1234567890123));
  value_seed("double", D(-0.0));
  value_seed("nan", D(NAN));
  value_seed("str", S("h\xc3\xa9llo"));
  value_seed("bytes", BY("\x00\xff\x80", 3));
  value_seed("ref", R(300, "queue"));
  value_seed("list", L(6, NIL(), B(false), I(1), D(1.0), S("a"), BY("b", 1)));
  value_seed("map", M(3, S("k"), I(1), I(2), L(1, R(1, "dict")), R(2, "lock"), NIL()));
  value_seed("nested", L(1, L(1, L(1, M(1, S("deep"), L(2, I(0), L(0)))))));
}

/* ---- fuzz_frame: 3-byte prefix, then a stream ---- */

/* Starts a frame seed: limit selector (0 pre-auth, 1 default, 2 tiny,
 * 3 none) and a chunking seed. */
static void frame_begin(uint8_t sel, uint16_t chunk_seed) {
  begin();
  uint8_t *p = vb_grow(&file, 3);
  p[0] = sel;
  p[1] = (uint8_t)(chunk_seed >> 8);
  p[2] = (uint8_t)chunk_seed;
}

static void frame_seeds(void) {
  const char *d = "fuzz_frame";
  uint8_t ch[AUTH_CHALLENGE_LEN], mac[AUTH_MAC_LEN];
  for (size_t i = 0; i < sizeof ch; i++)
    ch[i] = (uint8_t)(i * 7 + 1);
  for (size_t i = 0; i < sizeof mac; i++)
    mac[i] = (uint8_t)(0xa0 ^ i);

  frame_begin(0, 1);
  wire_hello_encode(&file, AUTH_PROTOCOL_OLDEST, AUTH_PROTOCOL_VERSION, ch);
  wire_auth_encode(&file, AUTH_PROTOCOL_VERSION, mac, ch, "fuzz-client");
  wire_auth_result_encode(&file, WS_OK, mac, NULL,
                          &(wire_daemon_info){.instance = 0x5eed5eed5eed5eedull, .max_depth = 64});
  wire_auth_result_encode(&file, WS_AUTH_FAILED, NULL, "authentication failed", NULL);
  save(d, "handshake");

  frame_begin(1, 2);
  req(0, "create", NONE, 3, S("list"), S("seed"), L(2, I(1), S("x")));
  req(5, "get", 250, 1, I(-1));
  req(5, "set", NONE, 2, M(1, S("k"), B(true)), R(9, "dict"));
  typed("dict");
  req(5, "len", NONE, 0);
  save(d, "requests");

  frame_begin(1, 3);
  wire_response_out ok = {.seq = 1, .status = WS_OK, .has_result = true, .result = I(42)};
  wire_response_encode(&file, &ok);
  wire_response_out bad = {.seq = 2, .status = WS_NOT_FOUND, .error = "no key 'x'"};
  wire_response_encode(&file, &bad);
  wire_response_out nil = {.seq = 3, .status = WS_OK};
  wire_response_encode(&file, &nil);
  wire_response_out stale = {.seq = 4, .status = WS_STALE, .error = "an earlier daemon's"};
  wire_response_encode(&file, &stale);
  wire_response_out newer = {.seq = 5, .status = 42, .error = "a newer daemon's status"};
  wire_response_encode(&file, &newer);
  pool_next = 0;
  save(d, "responses");

  frame_begin(1, 4);
  uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 1, 2, 3};
  vb_append(&file, (sm_span){huge, sizeof huge});
  save(d, "huge_length");

  frame_begin(0, 5);
  const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  vb_append(&file, (sm_span){(const uint8_t *)http, strlen(http)});
  save(d, "http");

  frame_begin(2, 6);
  uint8_t small[] = {0, 0, 0, 0, 0, 0, 0, 3, 0xde, 0xad, 0xbe, 0, 0, 0, 17, 0};
  vb_append(&file, (sm_span){small, sizeof small});
  save(d, "empty_and_partial");

  frame_begin(3, 7);
  req(0, "ping", NONE, 0);
  req(0, "ping", 0, 0);
  save(d, "no_limit");
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s CORPUS_DIR (tests/fuzz/corpus)\n", argv[0]);
    return 2;
  }
  root = argv[1];
  const char *dirs[] = {"", "/fuzz_frame", "/fuzz_value", "/fuzz_dispatch"};
  for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s%s", root, dirs[i]);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) die(path);
  }
  for (size_t i = 0; i < POOL; i++)
    vb_init(&pool[i]);
  vb_init(&file);
  dispatch_seeds();
  value_seeds();
  frame_seeds();
  for (size_t i = 0; i < POOL; i++)
    vb_free(&pool[i]);
  vb_free(&file);
  return 0;
}
