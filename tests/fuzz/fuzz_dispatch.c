/* SPDX-License-Identifier: MIT */
/* fuzz_dispatch.c - libFuzzer harness for the request dispatcher
 * (server/dispatch.c), and through it the manager and every object type.
 *
 * The input is a stream of request frames (4-byte length + Request), as an
 * authenticated client would send them. Each whole frame goes through
 * wire_request_decode() and then dispatch_call() with no connection, on a
 * registry that persists across inputs (so one input can find the objects
 * an earlier one made, as clients of a daemon do) and is replaced every
 * RESET_EVERY inputs, or when it holds too many objects, to bound memory.
 * Blocking calls park for good (there is no event loop to time them out)
 * until their object or the registry goes away.
 *
 * Object ids are made small so that methods hit live objects: an object
 * field, or the id of an ObjRef inside an argument, between 1 and SLOTS
 * names the SLOTS first objects this input created or opened (then those of
 * earlier inputs); other ids pass through unchanged.
 *
 * Checks on every call: the status is a wire status or CALL_PARKED, a
 * failure carries an error text, and an OK result is a valid value. After
 * each input the cycle collector runs a batch, as the daemon's timer would.
 * FUZZ_DISPATCH_RESET_EVERY=N changes RESET_EVERY. With 1, every input
 * starts from an empty registry and frees it before returning: each input
 * then stands alone, so a crash reproduces from its file and libFuzzer's
 * per-input leak check (which a persistent registry defeats: it keeps
 * memory across inputs, so run that mode with -detect_leaks=0) pins a leak
 * to the input. In both modes the registry is freed at exit, so a leak
 * still fails LeakSanitizer's exit check. scripts/fuzz.sh runs both modes.
 * FUZZ_DISPATCH_TRACE=1 prints each call's target, method and status (to
 * check what a new seed exercises).
 * The seed corpus is in corpus/fuzz_dispatch/ (gen_corpus.c). */
#include "proto/frame.h"
#include "proto/msg.h"
#include "server/blocked.h"
#include "server/cycles.h"
#include "server/dispatch.h"
#include "server/registry.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) abort();                                                                          \
  } while (0)

#define RESET_EVERY 256      /* inputs between two fresh registries */
#define MAX_OBJECTS 4096     /* a registry holding more is replaced at once */
#define SLOTS 16             /* small ids that name recent objects */
#define MAX_FRAME (1u << 20) /* frames larger than this end the input */
#define MAX_DEPTH VW_DEPTH_DEFAULT

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static registry *reg;
static unsigned inputs, reset_every = RESET_EVERY;
static bool trace;              /* FUZZ_DISPATCH_TRACE=1: print every call and its status */
static uint64_t earlier[SLOTS]; /* objects of earlier inputs, newest last */
static vbuf result;

typedef struct id_map {
  uint64_t local[SLOTS]; /* objects created or opened by this input */
  size_t n;
} id_map;

static uint64_t map_id(const id_map *m, uint64_t id) {
  if (id < 1 || id > SLOTS) return id;
  if (id <= m->n) return m->local[id - 1];
  return earlier[id - 1] ? earlier[id - 1] : id;
}

/* Drops the registry and everything in it; the next input starts afresh. */
static void drop_registry(void) {
  reg_free(reg);
  reg = NULL;
  memset(earlier, 0, sizeof earlier);
}

/* At exit: free everything, so that what a destroy path failed to free is
 * reported by LeakSanitizer's exit check. */
static void at_exit(void) {
  drop_registry();
  vb_free(&result);
}

static void remember(id_map *m, uint64_t id) {
  if (m->n < SLOTS) m->local[m->n++] = id;
  memmove(earlier, earlier + 1, (SLOTS - 1) * sizeof earlier[0]);
  earlier[SLOTS - 1] = id;
}

/* Appends v to out with every ObjRef id mapped; v was accepted by vw_scan. */
static void remap(const id_map *m, sm_span v, vbuf *out) {
  vinfo vi;
  CHECK(vw_peek(v, &vi) == VW_OK);
  vw_iter it;
  sm_span a, b;
  switch (vi.kind) {
  case VK_REF: {
    char type[64];
    if (vi.data.n >= sizeof type) { /* longer than any type name: keep it */
      vb_append(out, v);
      break;
    }
    memcpy(type, vi.data.p, vi.data.n);
    type[vi.data.n] = '\0';
    vb_ref(out, map_id(m, vi.ref_id), type);
    break;
  }
  case VK_LIST: {
    size_t mark = vb_list_begin(out);
    vw_iter_init(&it, vi.data);
    while (vw_list_next(&it, &a)) {
      size_t item = vb_list_begin_item(out);
      remap(m, a, out);
      vb_list_end_item(out, item);
    }
    vb_list_end(out, mark);
    break;
  }
  case VK_MAP: {
    size_t mark = vb_map_begin(out);
    vbuf kb, vb;
    vb_init(&kb);
    vb_init(&vb);
    vw_iter_init(&it, vi.data);
    while (vw_map_next(&it, &a, &b)) {
      vb_reset(&kb);
      vb_reset(&vb);
      remap(m, a, &kb);
      remap(m, b, &vb);
      vb_map_entry(out, vb_span(&kb), vb_span(&vb));
    }
    vb_free(&kb);
    vb_free(&vb);
    vb_map_end(out, mark);
    break;
  }
  default: vb_append(out, v);
  }
}

/* Runs one decoded request and checks what the dispatcher answers. */
static void run_one(id_map *m, wire_request *req) {
  req->object = map_id(m, req->object);
  /* Map the ids of refs inside arguments; a rewritten argument lives in
   * bufs until the call returns. */
  vbuf *bufs = NULL;
  size_t nbufs = 0;
  for (size_t i = 0; i < req->nargs; i++) {
    unsigned flags = 0;
    if (vw_scan(req->args[i], MAX_DEPTH, NULL, &flags) != VW_OK || !(flags & VW_FLAG_HAS_REF))
      continue;
    if (!bufs) {
      bufs = calloc(req->nargs, sizeof *bufs);
      CHECK(bufs != NULL);
      nbufs = req->nargs;
    }
    remap(m, req->args[i], &bufs[i]);
    CHECK(!bufs[i].failed);
    req->args[i] = vb_span(&bufs[i]);
  }

  char err[256];
  int status = dispatch_call(reg, NULL, 0, req, MAX_DEPTH, &result, err, sizeof err);
  CHECK((status >= WS_OK && status <= WS_MAX) || status == CALL_PARKED);
  CHECK(strlen(err) < sizeof err);
  if (trace)
    fprintf(stderr, "  %llu.%s -> %d %s\n", (unsigned long long)req->object, req->method, status,
            err);
  if (status != WS_OK && status != CALL_PARKED) CHECK(err[0] != '\0');
  if (status == WS_OK) {
    CHECK(!result.failed);
    vinfo top;
    /* Results wrap stored values in a few levels (items: a list of pairs). */
    CHECK(vw_scan(vb_span(&result), MAX_DEPTH + 8, &top, NULL) == VW_OK);
    if (req->object == 0 && top.kind == VK_REF) {
      CHECK(reg_get(reg, top.ref_id) != NULL);
      remember(m, top.ref_id);
    }
  }
  for (size_t i = 0; i < nbufs; i++)
    vb_free(&bufs[i]);
  free(bufs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (inputs == 0) {
    const char *every = getenv("FUZZ_DISPATCH_RESET_EVERY");
    if (every && atoi(every) > 0) reset_every = (unsigned)atoi(every);
    trace = getenv("FUZZ_DISPATCH_TRACE") != NULL;
    vb_init(&result);
    atexit(at_exit);
  }
  if (!reg) CHECK((reg = reg_new()) != NULL);

  /* Copy so ASan sees any read past the end of the input. */
  uint8_t *copy = malloc(size ? size : 1);
  CHECK(copy != NULL);
  if (size) memcpy(copy, data, size);
  id_map m = {.n = 0};
  size_t off = 0, plen;
  while (frame_parse(copy + off, size - off, MAX_FRAME, &plen) == FRAME_READY) {
    wire_request req;
    if (wire_request_decode((sm_span){copy + off + FRAME_HEADER_LEN, plen}, &req) == 0) {
      run_one(&m, &req);
      wire_request_release(&req);
    }
    off += FRAME_HEADER_LEN + plen;
  }
  free(copy);
  /* There is no event loop: run the cycle collector's batch here, over
   * what this input's releases and replaced values made suspect. */
  cyc_collect(reg_cycles(reg));
  if (++inputs % reset_every == 0 || reg_count(reg) > MAX_OBJECTS) drop_registry();
  return 0;
}
