/* SPDX-License-Identifier: MIT */
/* bench_work.c - the workloads of statemgr-bench, and how each checks the
 * answers it gets.
 *
 * Every workload is a table entry: prepare (in the parent: open the objects,
 * reset them, preload), setup (in each client, untimed), loop (the timed
 * part of one client) and verify (in the parent, after all clients). With
 * pipeline depth 1 the loops use the typed API one call at a time, as a
 * program would; with depth P they queue P requests in an sm_pipeline and
 * send them in one round trip.
 *
 * Latency: with depth 1 each request is timed on its own. With depth P a
 * batch of requests is sent and answered as a whole, so each of its
 * requests is recorded once with the batch's round trip time (write to
 * last answer): the latency a caller of sm_pipeline_exec sees for every
 * call in it. Percentiles are therefore over requests, as redis-benchmark's
 * are. With --rate every send waits for its scheduled time and is timed
 * from it (bench_send_time), not from when it could go out.
 *
 * Checks (a fast wrong answer must not pass for speed): every call's status;
 * dict_get compares each value with the one its key was given; dict_setget
 * reads back what it just wrote; dict_cas expects every swap to succeed
 * with the previous value it wrote; value_incr expects increasing results
 * and a final value equal to the number of increments; list_pop and
 * queue_putget check that each item comes back intact and exactly once (a
 * shared bitmap); lock counts inside the critical section with a plain
 * load and store, which loses updates unless the lock really excludes;
 * set_add checks that each client's last key is in the set afterwards;
 * set_contains asks for present and absent keys in turn and checks each
 * answer. */
#include "bench.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PRELOAD_BATCH 1000
#define BLOCK_TIMEOUT_MS 30000 /* a queue get or lock acquire that waits longer failed */

/* ---- helpers ---- */

static bool stopped(const bench_worker *w) {
  return atomic_load_explicit(&w->run->sh->stop, memory_order_relaxed) != 0;
}

/* A call failed: the status and the daemon's text. */
static int req_fail(bench_worker *w, uint64_t j, const char *what, int rc, const char *text) {
  return bench_fail(w, rc == SM_ECONNECT ? BENCH_CONNECT : BENCH_WRONG,
                    "request %" PRIu64 ": %s failed: %s (%s)", j, what, sm_errname(rc),
                    text && *text ? text : sm_strerror(rc));
}

/* The key index for iteration j of this client. */
static uint64_t pick(bench_worker *w, uint64_t j) {
  const bench_cfg *c = w->run->cfg;
  if (c->sequential) return (w->first + j) % c->keyspace;
  return bench_rng_next(&w->rng) % c->keyspace;
}

static bool str_is(const sm_value *v, const char *want, size_t n) {
  size_t len = 0;
  const char *s = sm_value_type(v) == SM_STR ? sm_value_as_str(v, &len) : NULL;
  return s && len == n && memcmp(s, want, n) == 0;
}

/* Reports a wrong answer: what was asked, what came, what was expected. */
static int wrong(bench_worker *w, uint64_t j, const char *what, const sm_value *got,
                 const char *expected) {
  char *g = bench_show(got);
  int rc = bench_fail(w, BENCH_WRONG, "request %" PRIu64 ": %s returned %s, expected %.72s", j,
                      what, g ? g : "?", expected);
  sm_free(g);
  return rc;
}

/* Records the request that started at w->t_start; passes rc through. */
static int timed_done(bench_worker *w, int rc) {
  hist_add(&w->slot->h, (uint64_t)(bench_now() - w->t_start), 1);
  w->slot->requests++;
  return rc;
}

/* Times one request: the comma operator orders start, call, record. */
#define TIMED(w, expr) ((w)->t_start = bench_send_time(w), timed_done((w), (expr)))

/* Sends the queued batch and records its round trip once per request. */
static int exec_batch(bench_worker *w, uint64_t j) {
  size_t n = sm_pipeline_count(w->pl);
  int64_t t = bench_send_time(w);
  int rc = sm_pipeline_exec(w->pl);
  hist_add(&w->slot->h, (uint64_t)(bench_now() - t), n);
  w->slot->requests += n;
  if (rc != SM_OK) return req_fail(w, j, "pipeline exec", rc, sm_last_error());
  return 0;
}

/* The result of call i, which must be nil. */
static int batch_nil(bench_worker *w, size_t i, uint64_t j, const char *what) {
  sm_value *v = NULL;
  int rc = sm_pipeline_result(w->pl, i, &v);
  if (rc != SM_OK) return req_fail(w, j, what, rc, sm_last_error());
  if (sm_value_type(v) != SM_NIL) rc = wrong(w, j, what, v, "None");
  sm_value_free(v);
  return rc;
}

static int queue_call(bench_worker *w, uint64_t j, sm_proxy *p, const char *method,
                      const sm_value *const *args, size_t nargs, int64_t timeout_ms) {
  int rc = timeout_ms < 0 ? sm_pipeline_call(w->pl, p, method, args, nargs)
                          : sm_pipeline_call_timed(w->pl, p, method, args, nargs, timeout_ms);
  if (rc != SM_OK) return req_fail(w, j, "pipeline call", rc, sm_last_error());
  return 0;
}

/* Iterations per batch for a workload of ops_per_iter requests each. */
static uint64_t batch_iters(const bench_worker *w) {
  uint64_t b = (uint64_t)w->run->pipeline / w->run->w->ops_per_iter;
  return b ? b : 1;
}

static int open_fail(char *err, size_t errlen, const char *what, int rc) {
  snprintf(err, errlen, "%s: %s (%s)", what, sm_errname(rc), sm_last_error());
  return rc == SM_ECONNECT ? BENCH_CONNECT : BENCH_WRONG;
}

/* "PREFIXname" into buf. */
static const char *obj_name(const bench_run *r, const char *name, char *buf, size_t len) {
  snprintf(buf, len, "%s%s", r->cfg->prefix, name);
  return buf;
}

static int open_dict(bench_run *r, char *err, size_t errlen) {
  char name[256];
  int rc = sm_dict_open(r->client, obj_name(r, "dict", name, sizeof name), &r->o.dict);
  return rc ? open_fail(err, errlen, name, rc) : 0;
}

/* Sets key i to its value for i in [from, to), pipelined. */
static int load_keys(bench_run *r, uint64_t from, uint64_t to, char *err, size_t errlen) {
  const bench_cfg *c = r->cfg;
  sm_pipeline *pl = NULL;
  char *val = malloc(c->value_bytes + 1), key[BENCH_KEY_LEN + 1];
  int rc = val ? sm_pipeline_new(r->client, &pl) : SM_ENOMEM;
  for (uint64_t i = from; rc == SM_OK && i < to;) {
    sm_pipeline_reset(pl);
    for (uint64_t k = 0; rc == SM_OK && k < PRELOAD_BATCH && i < to; k++, i++) {
      bench_key(i, key);
      bench_value(i, c->seed, c->value_bytes, val);
      sm_value *kv = sm_value_strn(key, BENCH_KEY_LEN), *vv = sm_value_strn(val, c->value_bytes);
      const sm_value *args[2] = {kv, vv};
      rc = kv && vv ? sm_pipeline_call(pl, sm_dict_proxy(r->o.dict), "set", args, 2) : SM_ENOMEM;
      sm_value_free(kv);
      sm_value_free(vv);
    }
    if (rc == SM_OK) rc = sm_pipeline_exec(pl);
    for (size_t k = 0; rc == SM_OK && k < sm_pipeline_count(pl); k++)
      rc = sm_pipeline_status(pl, k);
  }
  sm_pipeline_free(pl);
  free(val);
  return rc ? open_fail(err, errlen, "preloading the dict", rc) : 0;
}

/* ---- ping ---- */

static int ping_prepare(bench_run *r, char *err, size_t errlen) {
  (void)r;
  (void)err;
  (void)errlen;
  return 0;
}

static int ping_loop(bench_worker *w) {
  sm_client *c = w->run->client;
  if (!w->pl) {
    for (uint64_t j = 0; j < w->count && !stopped(w); j++) {
      int rc = TIMED(w, sm_ping(c));
      if (rc) return req_fail(w, j, "ping", rc, sm_last_error());
    }
    return 0;
  }
  for (uint64_t j = 0; j < w->count && !stopped(w);) {
    uint64_t j0 = j;
    sm_pipeline_reset(w->pl);
    for (uint64_t k = 0; k < batch_iters(w) && j < w->count; k++, j++)
      if (queue_call(w, j, NULL, "ping", NULL, 0, -1)) return w->slot->code;
    if (exec_batch(w, j0)) return w->slot->code;
    for (size_t i = 0; i < sm_pipeline_count(w->pl); i++)
      if (batch_nil(w, i, j0 + i, "ping")) return w->slot->code;
  }
  return 0;
}

/* ---- dict_set ---- */

static int dict_set_loop(bench_worker *w) {
  const bench_cfg *c = w->run->cfg;
  sm_dict *d = w->run->o.dict;
  char key[BENCH_KEY_LEN + 1];
  for (uint64_t j = 0; j < w->count && !stopped(w);) {
    uint64_t j0 = j, n = w->pl ? batch_iters(w) : 1;
    if (w->pl) sm_pipeline_reset(w->pl);
    for (uint64_t k = 0; k < n && j < w->count; k++, j++) {
      uint64_t idx = pick(w, j);
      bench_key(idx, key);
      bench_value(idx, c->seed, c->value_bytes, w->vbuf);
      sm_value *kv = sm_value_strn(key, BENCH_KEY_LEN),
               *vv = sm_value_strn(w->vbuf, c->value_bytes);
      if (!kv || !vv) return req_fail(w, j, "building a request", SM_ENOMEM, NULL);
      const sm_value *args[2] = {kv, vv};
      int rc = w->pl ? queue_call(w, j, sm_dict_proxy(d), "set", args, 2, -1)
                     : TIMED(w, sm_dict_set(d, kv, vv));
      sm_value_free(kv);
      sm_value_free(vv);
      if (rc && !w->pl) return req_fail(w, j, "dict set", rc, sm_last_error());
      if (rc) return rc;
      w->slot->last = idx;
    }
    if (!w->pl) continue;
    if (exec_batch(w, j0)) return w->slot->code;
    for (size_t i = 0; i < sm_pipeline_count(w->pl); i++)
      if (batch_nil(w, i, j0 + i, "dict set")) return w->slot->code;
  }
  return 0;
}

/* The last key each client set must hold its value. */
static int dict_set_verify(bench_run *r, char *err, size_t errlen) {
  char key[BENCH_KEY_LEN + 1];
  char *want = malloc(r->cfg->value_bytes + 1);
  int status = want ? 0 : BENCH_WRONG;
  for (int i = 0; status == 0 && i < r->cfg->clients; i++) {
    const bench_slot *s = &r->sh->slots[i];
    if (s->requests == 0) continue;
    bench_key(s->last, key);
    bench_value(s->last, r->cfg->seed, r->cfg->value_bytes, want);
    char *got = NULL;
    int rc = sm_dict_get_str(r->o.dict, key, &got);
    if (rc != SM_OK) {
      status = open_fail(err, errlen, "reading back a key set", rc);
    } else if (strcmp(got, want) != 0) {
      snprintf(err, errlen, "after the run, key %s holds \"%.40s\", expected \"%.40s\"", key, got,
               want);
      status = BENCH_WRONG;
    }
    sm_free(got);
  }
  free(want);
  return status;
}

/* ---- dict_get ---- */

static int dict_get_prepare(bench_run *r, char *err, size_t errlen) {
  int rc = open_dict(r, err, errlen);
  if (rc || !r->cfg->preload) return rc;
  if (!r->cfg->quiet)
    fprintf(stderr, "statemgr-bench: dict_get: loading %" PRIu64 " keys\n", r->cfg->keyspace);
  return load_keys(r, 0, r->cfg->keyspace, err, errlen);
}

/* Checks that v is the value of key idx; w->vbuf receives that value. */
static int check_get(bench_worker *w, uint64_t j, uint64_t idx, const sm_value *v) {
  const bench_cfg *c = w->run->cfg;
  bench_value(idx, c->seed, c->value_bytes, w->vbuf);
  if (str_is(v, w->vbuf, c->value_bytes)) return 0;
  char key[BENCH_KEY_LEN + 1], what[64];
  bench_key(idx, key);
  snprintf(what, sizeof what, "dict get \"%s\"", key);
  return wrong(w, j, what, v, w->vbuf);
}

static int dict_get_loop(bench_worker *w) {
  sm_dict *d = w->run->o.dict;
  char key[BENCH_KEY_LEN + 1];
  uint64_t idxs[4096];
  for (uint64_t j = 0; j < w->count && !stopped(w);) {
    uint64_t j0 = j, n = w->pl ? batch_iters(w) : 1;
    if (n > 4096) n = 4096;
    if (w->pl) sm_pipeline_reset(w->pl);
    for (uint64_t k = 0; k < n && j < w->count; k++, j++) {
      uint64_t idx = idxs[k] = pick(w, j);
      bench_key(idx, key);
      sm_value *kv = sm_value_strn(key, BENCH_KEY_LEN), *v = NULL;
      if (!kv) return req_fail(w, j, "building a request", SM_ENOMEM, NULL);
      const sm_value *args[1] = {kv};
      int rc = w->pl ? queue_call(w, j, sm_dict_proxy(d), "get", args, 1, -1)
                     : TIMED(w, sm_dict_get(d, kv, &v));
      sm_value_free(kv);
      if (rc && !w->pl) return req_fail(w, j, "dict get", rc, sm_last_error());
      if (rc) return rc;
      if (!w->pl) {
        rc = check_get(w, j, idx, v);
        sm_value_free(v);
        if (rc) return rc;
      }
    }
    if (!w->pl) continue;
    if (exec_batch(w, j0)) return w->slot->code;
    for (size_t i = 0; i < sm_pipeline_count(w->pl); i++) {
      sm_value *v = NULL;
      int rc = sm_pipeline_result(w->pl, i, &v);
      if (rc) return req_fail(w, j0 + i, "dict get", rc, sm_last_error());
      rc = check_get(w, j0 + i, idxs[i], v);
      sm_value_free(v);
      if (rc) return rc;
    }
  }
  return 0;
}

/* ---- dict_setget: each client writes its own keys and reads them back ---- */

/* One set and one get of the same key, timed apart; the get must return
 * the bytes just set. */
static int setget_once(bench_worker *w, uint64_t j, const sm_value *kv, const sm_value *vv) {
  const bench_cfg *c = w->run->cfg;
  sm_dict *d = w->run->o.dict;
  int rc = TIMED(w, sm_dict_set(d, kv, vv));
  if (rc) return req_fail(w, j, "dict set", rc, sm_last_error());
  sm_value *got = NULL;
  rc = TIMED(w, sm_dict_get(d, kv, &got));
  if (rc) return req_fail(w, j, "dict get", rc, sm_last_error());
  if (!str_is(got, w->vbuf, c->value_bytes))
    rc = wrong(w, j, "dict get of the key just set", got, w->vbuf);
  sm_value_free(got);
  return rc;
}

static int dict_setget_loop(bench_worker *w) {
  const bench_cfg *c = w->run->cfg;
  sm_proxy *d = sm_dict_proxy(w->run->o.dict);
  char key[BENCH_KEY_LEN + 1];
  uint64_t stamp = ((uint64_t)w->index << 40) ^ (uint64_t)bench_now();
  for (uint64_t j = 0; j < w->count && !stopped(w);) {
    uint64_t j0 = j, n = w->pl ? batch_iters(w) : 1;
    if (w->pl) sm_pipeline_reset(w->pl);
    for (uint64_t k = 0; k < n && j < w->count; k++, j++) {
      bench_client_key((unsigned)w->index, j % c->keyspace, key);
      bench_value(stamp + j, c->seed, c->value_bytes, w->vbuf); /* new bytes every time */
      sm_value *kv = sm_value_strn(key, BENCH_KEY_LEN),
               *vv = sm_value_strn(w->vbuf, c->value_bytes);
      int rc = 0;
      if (!kv || !vv) {
        rc = req_fail(w, j, "building a request", SM_ENOMEM, NULL);
      } else if (w->pl) {
        const sm_value *args[2] = {kv, vv};
        rc = queue_call(w, j, d, "set", args, 2, -1);
        if (!rc) rc = queue_call(w, j, d, "get", args, 1, -1);
      } else {
        rc = setget_once(w, j, kv, vv);
      }
      sm_value_free(kv);
      sm_value_free(vv);
      if (rc) return rc;
    }
    if (!w->pl) continue;
    if (exec_batch(w, j0)) return w->slot->code;
    for (size_t i = 0; i + 1 < sm_pipeline_count(w->pl); i += 2) {
      uint64_t jj = j0 + i / 2;
      if (batch_nil(w, i, jj, "dict set")) return w->slot->code;
      sm_value *v = NULL;
      int rc = sm_pipeline_result(w->pl, i + 1, &v);
      if (rc) return req_fail(w, jj, "dict get", rc, sm_last_error());
      bench_value(stamp + jj, c->seed, c->value_bytes, w->vbuf);
      if (!str_is(v, w->vbuf, c->value_bytes))
        rc = wrong(w, jj, "dict get of the key just set", v, w->vbuf);
      sm_value_free(v);
      if (rc) return rc;
    }
  }
  return 0;
}

/* ---- dict_cas: each client counts up its own key by compare-and-set ---- */

/* The client's key: a negative int, apart from every string key. */
static sm_value *cas_key(const bench_worker *w) { return sm_value_int(-1 - (int64_t)w->index); }

static int dict_cas_setup(bench_worker *w) {
  sm_value *k = cas_key(w), *zero = sm_value_int(0);
  int rc = k && zero ? sm_dict_set(w->run->o.dict, k, zero) : SM_ENOMEM;
  sm_value_free(k);
  sm_value_free(zero);
  return rc ? req_fail(w, 0, "dict_cas: resetting the key", rc, sm_last_error()) : 0;
}

static int dict_cas_loop(bench_worker *w) {
  sm_dict *d = w->run->o.dict;
  sm_value *key = cas_key(w);
  if (!key) return req_fail(w, 0, "building a request", SM_ENOMEM, NULL);
  int status = 0;
  for (uint64_t j = 0; j < w->count && !stopped(w) && !status;) {
    uint64_t j0 = j, n = w->pl ? batch_iters(w) : 1;
    if (w->pl) sm_pipeline_reset(w->pl);
    for (uint64_t k = 0; k < n && j < w->count && !status; k++, j++) {
      sm_value *exp = sm_value_int((int64_t)j), *des = sm_value_int((int64_t)j + 1), *prev = NULL;
      bool swapped = false;
      const sm_value *args[3] = {key, exp, des};
      int rc = !exp || !des ? SM_ENOMEM
               : w->pl      ? queue_call(w, j, sm_dict_proxy(d), "cas", args, 3, -1)
                            : TIMED(w, sm_dict_cas(d, key, exp, des, &swapped, &prev));
      if (rc == SM_ENOMEM) {
        status = req_fail(w, j, "building a request", rc, NULL);
      } else if (w->pl) {
        status = rc;
      } else if (rc) {
        status = req_fail(w, j, "dict cas", rc, sm_last_error());
      } else if (!swapped || sm_value_type(prev) != SM_INT || sm_value_as_int(prev) != (int64_t)j) {
        char want[64];
        snprintf(want, sizeof want, "swapped from %" PRIu64, j);
        status = wrong(w, j, swapped ? "dict cas (swapped) previous" : "dict cas (not swapped)",
                       prev, want);
      }
      sm_value_free(exp);
      sm_value_free(des);
      sm_value_free(prev);
    }
    if (!w->pl || status) continue;
    if (exec_batch(w, j0)) {
      status = w->slot->code;
      break;
    }
    for (size_t i = 0; i < sm_pipeline_count(w->pl) && !status; i++) {
      sm_value *v = NULL;
      int rc = sm_pipeline_result(w->pl, i, &v);
      if (rc) {
        status = req_fail(w, j0 + i, "dict cas", rc, sm_last_error());
        break;
      }
      const sm_value *sw = sm_value_list_at(v, 0), *prev = sm_value_list_at(v, 1);
      if (sm_value_len(v) != 2 || sm_value_type(sw) != SM_BOOL || !sm_value_as_bool(sw) ||
          sm_value_type(prev) != SM_INT || sm_value_as_int(prev) != (int64_t)(j0 + i)) {
        char want[64];
        snprintf(want, sizeof want, "[True, %" PRIu64 "]", j0 + i);
        status = wrong(w, j0 + i, "dict cas", v, want);
      }
      sm_value_free(v);
    }
  }
  sm_value_free(key);
  if (status == 0) w->slot->last = w->count;
  return status;
}

/* Each client's key must hold the number of swaps it made. */
static int dict_cas_verify(bench_run *r, char *err, size_t errlen) {
  for (int i = 0; i < r->cfg->clients; i++) {
    sm_value *k = sm_value_int(-1 - (int64_t)i), *v = NULL;
    int rc = k ? sm_dict_get(r->o.dict, k, &v) : SM_ENOMEM;
    sm_value_free(k);
    if (rc) return open_fail(err, errlen, "reading back a cas key", rc);
    int64_t got = sm_value_as_int(v);
    bool ok = sm_value_type(v) == SM_INT && (uint64_t)got == r->sh->slots[i].last;
    sm_value_free(v);
    if (!ok) {
      snprintf(err, errlen, "client %d's cas key holds %" PRId64 " after %" PRIu64 " swaps", i, got,
               r->sh->slots[i].last);
      return BENCH_WRONG;
    }
  }
  return 0;
}

/* ---- list_push / list_pop ---- */

static int open_list(bench_run *r, char *err, size_t errlen) {
  char name[256];
  int rc = sm_list_open(r->client, obj_name(r, "list", name, sizeof name), &r->o.list);
  if (rc == SM_OK) rc = sm_list_clear(r->o.list);
  return rc ? open_fail(err, errlen, name, rc) : 0;
}

static int list_push_loop(bench_worker *w) {
  const bench_cfg *c = w->run->cfg;
  sm_list *l = w->run->o.list;
  for (uint64_t j = 0; j < w->count && !stopped(w);) {
    uint64_t j0 = j, n = w->pl ? batch_iters(w) : 1;
    if (w->pl) sm_pipeline_reset(w->pl);
    for (uint64_t k = 0; k < n && j < w->count; k++, j++) {
      size_t len = bench_item(w->first + j, c->seed, c->value_bytes, w->vbuf);
      sm_value *item = sm_value_strn(w->vbuf, len);
      if (!item) return req_fail(w, j, "building a request", SM_ENOMEM, NULL);
      const sm_value *args[1] = {item};
      int rc = w->pl ? queue_call(w, j, sm_list_proxy(l), "append", args, 1, -1)
                     : TIMED(w, sm_list_append(l, item));
      sm_value_free(item);
      if (rc && !w->pl) return req_fail(w, j, "list append", rc, sm_last_error());
      if (rc) return rc;
    }
    if (!w->pl) continue;
    if (exec_batch(w, j0)) return w->slot->code;
    for (size_t i = 0; i < sm_pipeline_count(w->pl); i++)
      if (batch_nil(w, i, j0 + i, "list append")) return w->slot->code;
  }
  return 0;
}

/* The list holds one item per append. */
static int list_push_verify(bench_run *r, char *err, size_t errlen) {
  size_t len = 0;
  int rc = sm_list_len(r->o.list, &len);
  if (rc) return open_fail(err, errlen, "list len", rc);
  if (len != r->iterations) {
    snprintf(err, errlen, "the list holds %zu items after %" PRIu64 " appends", len, r->iterations);
    return BENCH_WRONG;
  }
  return 0;
}

static int list_pop_prepare(bench_run *r, char *err, size_t errlen) {
  int rc = open_list(r, err, errlen);
  if (rc) return rc;
  const bench_cfg *c = r->cfg;
  sm_pipeline *pl = NULL;
  char *buf = malloc((c->value_bytes < 16 ? 16 : c->value_bytes) + 1);
  rc = buf ? sm_pipeline_new(r->client, &pl) : SM_ENOMEM;
  for (uint64_t i = 0; rc == SM_OK && i < r->iterations;) {
    sm_pipeline_reset(pl);
    for (uint64_t k = 0; rc == SM_OK && k < PRELOAD_BATCH && i < r->iterations; k++, i++) {
      size_t len = bench_item(i, c->seed, c->value_bytes, buf);
      sm_value *item = sm_value_strn(buf, len);
      const sm_value *args[1] = {item};
      rc = item ? sm_pipeline_call(pl, sm_list_proxy(r->o.list), "append", args, 1) : SM_ENOMEM;
      sm_value_free(item);
    }
    if (rc == SM_OK) rc = sm_pipeline_exec(pl);
    for (size_t k = 0; rc == SM_OK && k < sm_pipeline_count(pl); k++)
      rc = sm_pipeline_status(pl, k);
  }
  sm_pipeline_free(pl);
  free(buf);
  return rc ? open_fail(err, errlen, "preloading the list", rc) : 0;
}

/* v must be an intact item never seen before. */
static int check_item(bench_worker *w, uint64_t j, const char *what, const sm_value *v) {
  const bench_cfg *c = w->run->cfg;
  size_t len = 0;
  const char *s = sm_value_type(v) == SM_STR ? sm_value_as_str(v, &len) : NULL;
  uint64_t idx = 0;
  if (!s || !bench_item_parse(s, len, c->seed, c->value_bytes, w->vbuf2, &idx) ||
      idx >= w->run->sh->nbits)
    return wrong(w, j, what, v, "an item this run made");
  if (!bench_bit_set(w->run->sh->seen, idx))
    return wrong(w, j, what, v, "an item not taken before (this one came twice)");
  return 0;
}

static int list_pop_loop(bench_worker *w) {
  sm_list *l = w->run->o.list;
  for (uint64_t j = 0; j < w->count && !stopped(w);) {
    uint64_t j0 = j, n = w->pl ? batch_iters(w) : 1;
    if (w->pl) sm_pipeline_reset(w->pl);
    for (uint64_t k = 0; k < n && j < w->count; k++, j++) {
      if (w->pl) {
        if (queue_call(w, j, sm_list_proxy(l), "pop", NULL, 0, -1)) return w->slot->code;
        continue;
      }
      sm_value *v = NULL;
      int rc = TIMED(w, sm_list_pop(l, -1, &v));
      if (rc) return req_fail(w, j, "list pop", rc, sm_last_error());
      rc = check_item(w, j, "list pop", v);
      sm_value_free(v);
      if (rc) return rc;
    }
    if (!w->pl) continue;
    if (exec_batch(w, j0)) return w->slot->code;
    for (size_t i = 0; i < sm_pipeline_count(w->pl); i++) {
      sm_value *v = NULL;
      int rc = sm_pipeline_result(w->pl, i, &v);
      if (rc) return req_fail(w, j0 + i, "list pop", rc, sm_last_error());
      rc = check_item(w, j0 + i, "list pop", v);
      sm_value_free(v);
      if (rc) return rc;
    }
  }
  return 0;
}

/* Every item was taken exactly once (check_item saw each) and none is left. */
static int taken_verify(bench_run *r, const char *what, size_t left, char *err, size_t errlen) {
  uint64_t seen = bench_bit_count(r->sh->seen, r->sh->nbits);
  if (seen != r->iterations || left != 0) {
    snprintf(err, errlen, "%s: %" PRIu64 " of %" PRIu64 " items taken, %zu left", what, seen,
             r->iterations, left);
    return BENCH_WRONG;
  }
  return 0;
}

static int list_pop_verify(bench_run *r, char *err, size_t errlen) {
  size_t len = 0;
  int rc = sm_list_len(r->o.list, &len);
  if (rc) return open_fail(err, errlen, "list len", rc);
  return taken_verify(r, "list_pop", len, err, errlen);
}

/* ---- value_incr: one shared counter, atomic add ---- */

static int value_incr_prepare(bench_run *r, char *err, size_t errlen) {
  char name[256];
  int rc = sm_var_open(r->client, obj_name(r, "counter", name, sizeof name), NULL, &r->o.counter);
  if (rc == SM_OK) rc = sm_var_set_int(r->o.counter, 0);
  return rc ? open_fail(err, errlen, name, rc) : 0;
}

/* The counter moves only up, by this client's adds among everyone's. */
static int check_count(bench_worker *w, uint64_t j, int64_t got) {
  if (got < 1 || (uint64_t)got > w->run->iterations || (uint64_t)got <= w->slot->last) {
    char want[96];
    snprintf(want, sizeof want, "a count in %" PRIu64 "..%" PRIu64, w->slot->last + 1,
             w->run->iterations);
    sm_value *v = sm_value_int(got);
    int rc = wrong(w, j, "value add", v, want);
    sm_value_free(v);
    return rc;
  }
  w->slot->last = (uint64_t)got;
  return 0;
}

static int value_incr_loop(bench_worker *w) {
  sm_var *v = w->run->o.counter;
  sm_value *one = sm_value_int(1);
  if (!one) return req_fail(w, 0, "building a request", SM_ENOMEM, NULL);
  int status = 0;
  for (uint64_t j = 0; j < w->count && !stopped(w) && !status;) {
    uint64_t j0 = j, n = w->pl ? batch_iters(w) : 1;
    if (w->pl) {
      sm_pipeline_reset(w->pl);
      const sm_value *args[1] = {one};
      for (uint64_t k = 0; k < n && j < w->count && !status; k++, j++)
        status = queue_call(w, j, sm_var_proxy(v), "add", args, 1, -1);
      if (!status) status = exec_batch(w, j0);
      for (size_t i = 0; i < sm_pipeline_count(w->pl) && !status; i++) {
        sm_value *r = NULL;
        int rc = sm_pipeline_result(w->pl, i, &r);
        if (rc) {
          status = req_fail(w, j0 + i, "value add", rc, sm_last_error());
        } else if (sm_value_type(r) != SM_INT) {
          status = wrong(w, j0 + i, "value add", r, "an int");
        } else {
          status = check_count(w, j0 + i, sm_value_as_int(r));
        }
        sm_value_free(r);
      }
      continue;
    }
    int64_t now = 0;
    int rc = TIMED(w, sm_var_add_int(v, 1, &now));
    status = rc ? req_fail(w, j, "value add", rc, sm_last_error()) : check_count(w, j, now);
    j++;
  }
  sm_value_free(one);
  return status;
}

static int value_incr_verify(bench_run *r, char *err, size_t errlen) {
  int64_t got = 0;
  int rc = sm_var_get_int(r->o.counter, &got);
  if (rc) return open_fail(err, errlen, "value get", rc);
  if (got < 0 || (uint64_t)got != r->iterations) {
    snprintf(err, errlen, "the counter is %" PRId64 " after %" PRIu64 " increments", got,
             r->iterations);
    return BENCH_WRONG;
  }
  return 0;
}

/* ---- queue_putget: put an item, get an item (anyone's) ---- */

static int queue_prepare(bench_run *r, char *err, size_t errlen) {
  char name[256];
  obj_name(r, "queue", name, sizeof name);
  int rc = sm_delete(r->client, name); /* start empty, whatever an old run left */
  if (rc != SM_OK && rc != SM_ENOTFOUND) return open_fail(err, errlen, name, rc);
  rc = sm_queue_open(r->client, name, 0, &r->o.queue);
  return rc ? open_fail(err, errlen, name, rc) : 0;
}

static int queue_loop(bench_worker *w) {
  const bench_cfg *c = w->run->cfg;
  sm_queue *q = w->run->o.queue;
  for (uint64_t j = 0; j < w->count && !stopped(w);) {
    uint64_t j0 = j, n = w->pl ? batch_iters(w) : 1;
    if (w->pl) sm_pipeline_reset(w->pl);
    for (uint64_t k = 0; k < n && j < w->count; k++, j++) {
      size_t len = bench_item(w->first + j, c->seed, c->value_bytes, w->vbuf);
      sm_value *item = sm_value_strn(w->vbuf, len), *got = NULL;
      if (!item) return req_fail(w, j, "building a request", SM_ENOMEM, NULL);
      const sm_value *args[1] = {item};
      int rc;
      if (w->pl) {
        rc = queue_call(w, j, sm_queue_proxy(q), "put", args, 1, -1);
        if (!rc) rc = queue_call(w, j, sm_queue_proxy(q), "get", NULL, 0, BLOCK_TIMEOUT_MS);
      } else {
        rc = TIMED(w, sm_queue_put(q, item, SM_FOREVER));
        if (rc) {
          rc = req_fail(w, j, "queue put", rc, sm_last_error());
        } else {
          rc = TIMED(w, sm_queue_get(q, BLOCK_TIMEOUT_MS, &got));
          rc = rc ? req_fail(w, j, "queue get", rc, sm_last_error())
                  : check_item(w, j, "queue get", got);
        }
      }
      sm_value_free(item);
      sm_value_free(got);
      if (rc) return w->slot->code;
    }
    if (!w->pl) continue;
    if (exec_batch(w, j0)) return w->slot->code;
    for (size_t i = 0; i + 1 < sm_pipeline_count(w->pl); i += 2) {
      uint64_t jj = j0 + i / 2;
      if (batch_nil(w, i, jj, "queue put")) return w->slot->code;
      sm_value *v = NULL;
      int rc = sm_pipeline_result(w->pl, i + 1, &v);
      if (rc) return req_fail(w, jj, "queue get", rc, sm_last_error());
      rc = check_item(w, jj, "queue get", v);
      sm_value_free(v);
      if (rc) return rc;
    }
  }
  return 0;
}

static int queue_verify(bench_run *r, char *err, size_t errlen) {
  size_t left = 0;
  int rc = sm_queue_qsize(r->o.queue, &left);
  if (rc) return open_fail(err, errlen, "queue qsize", rc);
  return taken_verify(r, "queue_putget", left, err, errlen);
}

/* ---- lock: acquire + release of one shared lock ---- */

static int lock_prepare(bench_run *r, char *err, size_t errlen) {
  char name[256];
  int rc = sm_lock_open(r->client, obj_name(r, "lock", name, sizeof name), &r->o.lock);
  atomic_store(&r->sh->cs, 0);
  return rc ? open_fail(err, errlen, name, rc) : 0;
}

static int lock_loop(bench_worker *w) {
  sm_lock *l = w->run->o.lock;
  atomic_uint_fast64_t *cs = &w->run->sh->cs;
  for (uint64_t j = 0; j < w->count && !stopped(w); j++) {
    int rc = TIMED(w, sm_lock_acquire(l, BLOCK_TIMEOUT_MS));
    if (rc) return req_fail(w, j, "lock acquire", rc, sm_last_error());
    /* Not an atomic add: only mutual exclusion keeps this count right. */
    uint_fast64_t x = atomic_load_explicit(cs, memory_order_relaxed);
    atomic_store_explicit(cs, x + 1, memory_order_relaxed);
    rc = TIMED(w, sm_lock_release(l));
    if (rc) return req_fail(w, j, "lock release", rc, sm_last_error());
  }
  return 0;
}

static int lock_verify(bench_run *r, char *err, size_t errlen) {
  uint64_t got = atomic_load(&r->sh->cs);
  if (got != r->iterations) {
    snprintf(err, errlen,
             "%" PRIu64 " increments under the lock left the count at %" PRIu64
             ": two clients held it at once",
             r->iterations, got);
    return BENCH_WRONG;
  }
  return 0;
}

/* ---- txn4: one transaction of four calls (Redis: MULTI SET GET INCR DEL
 * EXEC) ---- */

static int txn4_prepare(bench_run *r, char *err, size_t errlen) {
  int rc = open_dict(r, err, errlen);
  return rc ? rc : value_incr_prepare(r, err, errlen);
}

/* Each client's transaction, built once: set its key, read it back, add
 * one to the shared counter, delete the key; each answer is checked. */
static int txn4_loop(bench_worker *w) {
  char key[32];
  snprintf(key, sizeof key, "txn-%d", w->index);
  sm_value *k = sm_value_str(key), *v = sm_value_int(w->index), *one = sm_value_int(1);
  sm_txn *t = NULL;
  int rc = k && v && one ? sm_txn_new(w->run->client, &t) : SM_ENOMEM;
  sm_proxy *d = sm_dict_proxy(w->run->o.dict), *c = sm_var_proxy(w->run->o.counter);
  if (!rc) rc = sm_txn_then(t, d, "set", (const sm_value *const[]){k, v}, 2);
  if (!rc) rc = sm_txn_then(t, d, "get", (const sm_value *const[]){k}, 1);
  if (!rc) rc = sm_txn_then(t, c, "add", (const sm_value *const[]){one}, 1);
  if (!rc) rc = sm_txn_then(t, d, "del", (const sm_value *const[]){k}, 1);
  int status = rc ? req_fail(w, 0, "building a transaction", rc, sm_last_error()) : 0;
  for (uint64_t j = 0; j < w->count && !stopped(w) && !status; j++) {
    rc = TIMED(w, sm_txn_commit(t, NULL));
    const sm_value *got = NULL, *count = NULL;
    if (!rc) rc = sm_txn_result(t, 1, &got);
    if (!rc) rc = sm_txn_result(t, 2, &count);
    if (rc)
      status = req_fail(w, j, "txn", rc, sm_last_error());
    else if (sm_value_type(got) != SM_INT || sm_value_as_int(got) != w->index)
      status = wrong(w, j, "txn get", got, "the value just set");
    else
      status = check_count(w, j, sm_value_as_int(count));
  }
  sm_txn_free(t);
  sm_value_free(k);
  sm_value_free(v);
  sm_value_free(one);
  return status;
}

/* ---- fenced_lock: acquire with its fencing token + release ---- */

/* Each grant's token must be the one after the last grant's (the lock is
 * the bench's alone): checked inside the lock, where only the holder
 * reads and writes the shared copy. */
static int fenced_prepare(bench_run *r, char *err, size_t errlen) {
  char name[256];
  int rc = sm_lock_open(r->client, obj_name(r, "fenced", name, sizeof name), &r->o.lock);
  if (rc) return open_fail(err, errlen, name, rc);
  uint64_t t = 0; /* the token so far: one grant now, given back */
  if ((rc = sm_lock_acquire_token(r->o.lock, BLOCK_TIMEOUT_MS, &t)) ||
      (rc = sm_lock_release(r->o.lock)))
    return open_fail(err, errlen, name, rc);
  atomic_store(&r->sh->cs, 0);
  atomic_store(&r->sh->token, t);
  return 0;
}

static int fenced_loop(bench_worker *w) {
  sm_lock *l = w->run->o.lock;
  atomic_uint_fast64_t *last = &w->run->sh->token, *cs = &w->run->sh->cs;
  for (uint64_t j = 0; j < w->count && !stopped(w); j++) {
    uint64_t token = 0;
    int rc = TIMED(w, sm_lock_acquire_token(l, BLOCK_TIMEOUT_MS, &token));
    if (rc) return req_fail(w, j, "fenced acquire", rc, sm_last_error());
    uint_fast64_t before = atomic_load_explicit(last, memory_order_relaxed);
    if (token != before + 1) {
      char why[128];
      snprintf(why, sizeof why, "token %" PRIu64 " after %" PRIu64, token, (uint64_t)before);
      return req_fail(w, j, "fenced acquire", SM_EPROTO, why);
    }
    atomic_store_explicit(last, token, memory_order_relaxed);
    uint_fast64_t x = atomic_load_explicit(cs, memory_order_relaxed);
    atomic_store_explicit(cs, x + 1, memory_order_relaxed);
    rc = TIMED(w, sm_lock_release(l));
    if (rc) return req_fail(w, j, "fenced release", rc, sm_last_error());
  }
  return 0;
}

/* ---- the table ---- */

/* ---- set_add and set_contains ---- */

static int open_set(bench_run *r, char *err, size_t errlen) {
  char name[256];
  int rc = sm_set_open(r->client, obj_name(r, "set", name, sizeof name), &r->o.set);
  if (rc == SM_OK) rc = sm_set_clear(r->o.set);
  return rc ? open_fail(err, errlen, name, rc) : 0;
}

static int set_add_loop(bench_worker *w) {
  sm_set *s = w->run->o.set;
  char key[BENCH_KEY_LEN + 1];
  for (uint64_t j = 0; j < w->count && !stopped(w);) {
    uint64_t j0 = j, n = w->pl ? batch_iters(w) : 1;
    if (w->pl) sm_pipeline_reset(w->pl);
    for (uint64_t k = 0; k < n && j < w->count; k++, j++) {
      uint64_t idx = pick(w, j);
      bench_key(idx, key);
      sm_value *kv = sm_value_strn(key, BENCH_KEY_LEN);
      if (!kv) return req_fail(w, j, "building a request", SM_ENOMEM, NULL);
      const sm_value *args[1] = {kv};
      int rc = w->pl ? queue_call(w, j, sm_set_proxy(s), "add", args, 1, -1)
                     : TIMED(w, sm_set_add(s, kv));
      sm_value_free(kv);
      if (rc && !w->pl) return req_fail(w, j, "set add", rc, sm_last_error());
      if (rc) return rc;
      w->slot->last = idx;
    }
    if (!w->pl) continue;
    if (exec_batch(w, j0)) return w->slot->code;
    for (size_t i = 0; i < sm_pipeline_count(w->pl); i++)
      if (batch_nil(w, i, j0 + i, "set add")) return w->slot->code;
  }
  return 0;
}

/* The last key each client added is in the set, and the set holds no more
 * than the keyspace. */
static int set_add_verify(bench_run *r, char *err, size_t errlen) {
  char key[BENCH_KEY_LEN + 1];
  for (int i = 0; i < r->cfg->clients; i++) {
    const bench_slot *s = &r->sh->slots[i];
    if (s->requests == 0) continue;
    bench_key(s->last, key);
    bool has = false;
    int rc = sm_set_contains_str(r->o.set, key, &has);
    if (rc) return open_fail(err, errlen, "set contains", rc);
    if (!has) {
      snprintf(err, errlen, "after the run, the set lacks %s, which a client added", key);
      return BENCH_WRONG;
    }
  }
  size_t len = 0;
  int rc = sm_set_len(r->o.set, &len);
  if (rc) return open_fail(err, errlen, "set len", rc);
  if (len == 0 || len > r->cfg->keyspace) {
    snprintf(err, errlen, "the set holds %zu elements from a keyspace of %" PRIu64, len,
             r->cfg->keyspace);
    return BENCH_WRONG;
  }
  return 0;
}

/* Adds keys 0..keyspace-1, an update of PRELOAD_BATCH elements a call. */
static int set_contains_prepare(bench_run *r, char *err, size_t errlen) {
  int rc = open_set(r, err, errlen);
  if (rc) return rc;
  char key[BENCH_KEY_LEN + 1];
  for (uint64_t i = 0; rc == SM_OK && i < r->cfg->keyspace;) {
    sm_value *batch = sm_value_list();
    rc = batch ? SM_OK : SM_ENOMEM;
    for (uint64_t k = 0; rc == SM_OK && k < PRELOAD_BATCH && i < r->cfg->keyspace; k++, i++) {
      bench_key(i, key);
      sm_value *kv = sm_value_strn(key, BENCH_KEY_LEN);
      rc = kv ? sm_value_list_append(batch, kv) : SM_ENOMEM;
    }
    if (rc == SM_OK) rc = sm_set_update(r->o.set, batch);
    sm_value_free(batch);
  }
  return rc ? open_fail(err, errlen, "preloading the set", rc) : 0;
}

/* Iteration j asks for a key of the keyspace (present) when j is even,
 * else for one past it (absent), so an answer that is always the same
 * fails. */
static uint64_t contains_pick(bench_worker *w, uint64_t j, bool *present) {
  uint64_t idx = pick(w, j);
  *present = (w->first + j) % 2 == 0;
  return *present ? idx : w->run->cfg->keyspace + idx;
}

static int check_contains(bench_worker *w, uint64_t j, uint64_t idx, bool want, bool got) {
  if (got == want) return 0;
  char key[BENCH_KEY_LEN + 1];
  bench_key(idx, key);
  return bench_fail(w, BENCH_WRONG, "request %" PRIu64 ": set contains \"%s\" returned %s", j, key,
                    got ? "true" : "false");
}

static int set_contains_loop(bench_worker *w) {
  sm_set *s = w->run->o.set;
  char key[BENCH_KEY_LEN + 1];
  uint64_t idxs[4096];
  bool want[4096];
  for (uint64_t j = 0; j < w->count && !stopped(w);) {
    uint64_t j0 = j, n = w->pl ? batch_iters(w) : 1;
    if (n > 4096) n = 4096;
    if (w->pl) sm_pipeline_reset(w->pl);
    for (uint64_t k = 0; k < n && j < w->count; k++, j++) {
      uint64_t idx = idxs[k] = contains_pick(w, j, &want[k]);
      bench_key(idx, key);
      sm_value *kv = sm_value_strn(key, BENCH_KEY_LEN);
      if (!kv) return req_fail(w, j, "building a request", SM_ENOMEM, NULL);
      const sm_value *args[1] = {kv};
      bool has = false;
      int rc = w->pl ? queue_call(w, j, sm_set_proxy(s), "contains", args, 1, -1)
                     : TIMED(w, sm_set_contains(s, kv, &has));
      sm_value_free(kv);
      if (rc && !w->pl) return req_fail(w, j, "set contains", rc, sm_last_error());
      if (rc) return rc;
      if (!w->pl && check_contains(w, j, idx, want[k], has)) return w->slot->code;
    }
    if (!w->pl) continue;
    if (exec_batch(w, j0)) return w->slot->code;
    for (size_t i = 0; i < sm_pipeline_count(w->pl); i++) {
      sm_value *v = NULL;
      int rc = sm_pipeline_result(w->pl, i, &v);
      if (rc) return req_fail(w, j0 + i, "set contains", rc, sm_last_error());
      bool ok = sm_value_type(v) == SM_BOOL;
      rc = ok ? check_contains(w, j0 + i, idxs[i], want[i], sm_value_as_bool(v))
              : wrong(w, j0 + i, "set contains", v, "a bool");
      sm_value_free(v);
      if (rc) return rc;
    }
  }
  return 0;
}

const bench_workload bench_workloads[] = {
    {"ping", 1, true, ping_prepare, NULL, ping_loop, NULL},
    {"dict_set", 1, true, open_dict, NULL, dict_set_loop, dict_set_verify},
    {"dict_get", 1, true, dict_get_prepare, NULL, dict_get_loop, NULL},
    {"dict_setget", 2, true, open_dict, NULL, dict_setget_loop, NULL},
    {"dict_cas", 1, true, open_dict, dict_cas_setup, dict_cas_loop, dict_cas_verify},
    {"list_push", 1, true, open_list, NULL, list_push_loop, list_push_verify},
    {"list_pop", 1, true, list_pop_prepare, NULL, list_pop_loop, list_pop_verify},
    {"value_incr", 1, true, value_incr_prepare, NULL, value_incr_loop, value_incr_verify},
    {"queue_putget", 2, true, queue_prepare, NULL, queue_loop, queue_verify},
    /* A pipelined release would be served while its acquire is parked. */
    {"lock", 2, false, lock_prepare, NULL, lock_loop, lock_verify},
    {"set_add", 1, true, open_set, NULL, set_add_loop, set_add_verify},
    {"set_contains", 1, true, set_contains_prepare, NULL, set_contains_loop, NULL},
    /* One request per iteration: a transaction is one call. */
    {"txn4", 1, false, txn4_prepare, NULL, txn4_loop, value_incr_verify},
    {"fenced_lock", 2, false, fenced_prepare, NULL, fenced_loop, lock_verify},
};
const size_t bench_n_workloads = sizeof bench_workloads / sizeof bench_workloads[0];
