/* SPDX-License-Identifier: MIT */
/* waitfor.c - the wait-for graph: deadlock detection when a call is about
 * to wait, and the "locks" listing (see waitfor.h). */
#include "waitfor.h"

#include "blocked.h"
#include "cmd.h"
#include "htab.h"
#include "map_writer.h"
#include "registry.h"
#include "t_lock.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A breadth-first walk from the waiting session: sessions to visit, and
 * those seen. */
typedef struct walk {
  uint64_t me;     /* the session about to wait */
  uint64_t waiter; /* whose wait's holders are being added */
  bool self_units; /* the object is not a lock: the waiter's own units do not count */
  uint64_t *queue; /* sessions to visit (owned) */
  size_t head, len, cap;
  size_t added; /* holders added by the current object */
  htab seen;    /* 8-byte session id -> (void *)1 */
  bool oom;
  char *why; /* the path, for the refusal's text */
  size_t whylen, whyused;
} walk;

static sm_span sid_key(const uint64_t *sid) { return (sm_span){(const uint8_t *)sid, sizeof *sid}; }

static void say(walk *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(walk *k, const char *fmt, ...) {
  if (!k->why || k->whyused + 1 >= k->whylen) return;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(k->why + k->whyused, k->whylen - k->whyused, fmt, ap);
  va_end(ap);
  if (n > 0)
    k->whyused += (size_t)n < k->whylen - k->whyused ? (size_t)n : k->whylen - k->whyused - 1;
}

/* holder_visit_fn: queues one holder of the object being expanded. */
static void add_holder(void *arg, uint64_t sid, int64_t units) {
  walk *k = arg;
  if (units <= 0 || (k->self_units && sid == k->waiter)) return;
  k->added++;
  say(k, "%s%llu", k->added == 1 ? " held by session " : ",", (unsigned long long)sid);
  if (htab_find(&k->seen, sid_key(&sid))) return;
  if (k->len == k->cap) {
    size_t cap = k->cap ? k->cap * 2 : 16;
    uint64_t *q = realloc(k->queue, cap * sizeof *q);
    if (!q) {
      k->oom = true;
      return;
    }
    k->queue = q;
    k->cap = cap;
  }
  k->queue[k->len++] = sid;
}

/* Adds the holders o waits for on behalf of session who. Returns false
 * when o can be released by others than its holders, or has none: who may
 * go on. */
static bool expand(walk *k, registry *reg, uint64_t who, sm_obj *o) {
  if (!o->type->holders) return false;
  k->waiter = who;
  k->self_units = !lk_is_lock(o);
  k->added = 0;
  say(k, "%s%s %llu", who == k->me ? "waits for " : ", which waits for ", o->type->name,
      (unsigned long long)o->id);
  bool exclusive = o->type->holders(reg, o, add_holder, k);
  return exclusive && k->added > 0 && !k->oom;
}

bool wf_closes_cycle(registry *reg, uint64_t sid, sm_obj *o, char *why, size_t whylen) {
  /* A session that has parked calls already goes on anyway (pipelined). */
  if (blk_session_first(reg, sid)) return false;
  walk k = {.me = sid, .why = why, .whylen = whylen};
  if (why && whylen) why[0] = '\0';
  htab_init(&k.seen);
  bool cycle = false;
  if (htab_put(&k.seen, sid_key(&sid), (void *)1, NULL) == 1 && expand(&k, reg, sid, o)) {
    cycle = true;
    while (cycle && k.head < k.len) {
      uint64_t x = k.queue[k.head++];
      if (htab_find(&k.seen, sid_key(&x))) continue; /* back to one seen: no way out there */
      if (htab_put(&k.seen, sid_key(&x), (void *)1, NULL) != 1) {
        cycle = false; /* out of memory: say nothing rather than something false */
        break;
      }
      waiter *w = blk_session_first(reg, x);
      /* Free (no parked call), pipelined (several), or waiting for
       * something anyone may give: x can go on and release. */
      cycle = w && !blk_session_next(w) && expand(&k, reg, x, w->obj);
    }
  }
  if (k.oom) cycle = false;
  free(k.queue);
  htab_clear(&k.seen, NULL, NULL);
  return cycle;
}

/* ---- the "locks" listing ---- */

typedef struct list_ctx {
  registry *reg;
  vbuf *out;
  map_writer w;   /* the object's map */
  map_writer sub; /* a holder's or waiter's map, written into w.val */
  sm_obj **objs;  /* the held or waited-for objects (owned) */
  size_t n, cap;
  bool oom;
  const sm_obj *cur;      /* whose holders or waiters are being written */
  int64_t now_ms;         /* monotonic, as a waiter's parked_ms */
  int64_t time_ms;        /* the call's time (cmd_time), as a holder's since */
  wf_client_fn client_of; /* may be NULL */
  void *client_ctx;
} list_ctx;

/* The "client" entry of a holder's or waiter's map, when its name is known. */
static void put_client(list_ctx *x, uint64_t sid) {
  const char *name = x->client_of ? x->client_of(x->client_ctx, sid) : NULL;
  if (name && *name) mw_str(&x->sub, "client", name);
}

static void count_holder(void *arg, uint64_t sid, int64_t units) {
  (void)sid;
  *(int64_t *)arg += units;
}

/* reg_foreach: keeps the objects with holders or waiters. */
static void collect(void *arg, sm_obj *o) {
  list_ctx *x = arg;
  if (!o->type->holders || x->oom) return;
  int64_t units = 0;
  if (o->n_waiters == 0) o->type->holders(x->reg, o, count_holder, &units);
  if (units == 0 && o->n_waiters == 0) return;
  if (x->n == x->cap) {
    size_t cap = x->cap ? x->cap * 2 : 16;
    sm_obj **a = realloc(x->objs, cap * sizeof *a);
    if (!a) {
      x->oom = true;
      return;
    }
    x->objs = a;
    x->cap = cap;
  }
  x->objs[x->n++] = o;
}

static void put_holder(void *arg, uint64_t sid, int64_t units) {
  list_ctx *x = arg;
  size_t item = vb_list_begin_item(&x->w.val);
  size_t map = vb_map_begin(&x->w.val);
  mw_int(&x->sub, "session", (int64_t)sid);
  put_client(x, sid);
  mw_int(&x->sub, "units", units);
  /* Since the grant, as its command's time: the same after a restart. */
  int64_t since = x->cur->type->held_since ? x->cur->type->held_since(x->cur, sid) : 0;
  if (since > 0) mw_int(&x->sub, "held_ms", x->time_ms > since ? x->time_ms - since : 0);
  vb_map_end(&x->w.val, map);
  vb_list_end_item(&x->w.val, item);
}

static void put_waiters(void *arg, uint64_t sid) {
  list_ctx *x = arg;
  for (waiter *w = blk_session_first(x->reg, sid); w; w = blk_session_next(w)) {
    if (w->obj != x->cur) continue;
    size_t item = vb_list_begin_item(&x->w.val);
    size_t map = vb_map_begin(&x->w.val);
    mw_int(&x->sub, "session", (int64_t)sid);
    put_client(x, sid);
    mw_int(&x->sub, "waited_ms", x->now_ms - w->parked_ms);
    vb_map_end(&x->w.val, map);
    vb_list_end_item(&x->w.val, item);
  }
}

int wf_list_locks(call *c, wf_client_fn client_of, void *ctx) {
  int rc = call_nargs(c, 0, 0);
  if (rc != WS_OK) return rc;
  list_ctx x = {.reg = c->reg, .out = c->out, .client_of = client_of, .client_ctx = ctx};
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  x.now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  x.time_ms = cmd_time(c->reg);
  reg_foreach(c->reg, collect, &x);
  if (x.oom) {
    free(x.objs);
    return call_fail(c, WS_INTERNAL, "out of memory listing the locks");
  }
  mw_init(&x.w, c->out);
  mw_init(&x.sub, &x.w.val);
  size_t list = vb_list_begin(c->out);
  for (size_t i = 0; i < x.n; i++) {
    sm_obj *o = x.objs[i];
    size_t item = vb_list_begin_item(c->out);
    size_t map = vb_map_begin(c->out);
    mw_int(&x.w, "object", (int64_t)o->id);
    if (o->name) mw_str(&x.w, "name", o->name);
    mw_str(&x.w, "type", o->type->name);
    if (lk_is_lock(o)) mw_str(&x.w, "policy", lk_policy_name(o));
    uint64_t token = 0;
    if (o->type->fence_token) o->type->fence_token(o->state, &token);
    mw_int(&x.w, "token", (int64_t)token);
    vb_str(&x.w.key, "holders", 7);
    size_t hl = vb_list_begin(&x.w.val);
    x.cur = o;
    bool exclusive = o->type->holders(c->reg, o, put_holder, &x);
    vb_list_end(&x.w.val, hl);
    mw_entry(&x.w);
    vb_str(&x.w.key, "exclusive", 9);
    vb_bool(&x.w.val, exclusive);
    mw_entry(&x.w);
    vb_str(&x.w.key, "waiters", 7);
    size_t wl = vb_list_begin(&x.w.val);
    x.cur = o;
    blk_each_session(c->reg, put_waiters, &x);
    vb_list_end(&x.w.val, wl);
    mw_entry(&x.w);
    vb_map_end(c->out, map);
    vb_list_end_item(c->out, item);
  }
  vb_list_end(c->out, list);
  mw_done(&x.sub);
  mw_done(&x.w);
  free(x.objs);
  return WS_OK;
}
