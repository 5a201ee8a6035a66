/* SPDX-License-Identifier: MIT */
/* txn.c - guarded transactions (sm_txn_*) and watches (sm_rev, sm_watch).
 *
 * A transaction is built as the three lists the manager's "txn" method
 * takes (docs/protocol.md, "Transactions"): conditions, then-calls,
 * else-calls, each naming its object by a ref made from the proxy's
 * binding on the calling thread's connection (so a named object of a
 * restarted daemon is found again). The first builder error is kept and
 * returned by the commit, so building needs no check after every call.
 * The commit is one manager call; its answer [succeeded, [[status, value],
 * ...]] is kept, and each status turned into a public code with the one
 * status table (proto/status.h). */
#include "../proto/status.h"
#include "client_internal.h"
#include "proxy.h"
#include "value_internal.h"

#include <stdlib.h>
#include <string.h>

struct sm_txn {
  sm_client *client; /**< borrowed */
  sm_value *conds;   /**< owned list of conditions */
  sm_value *then;    /**< owned list of calls */
  sm_value *otherwise;
  sm_value *answer; /**< owned: the last commit's answer; NULL before one */
  int error;        /**< the first builder error, returned by the commit */
};

static const char *const cmp_names[] = {"==", "!=", "<", "<=", ">", ">="};

int sm_txn_new(sm_client *c, sm_txn **out) {
  PROXY_REQUIRE(c && out);
  sm_txn *t = calloc(1, sizeof *t);
  if (t) {
    t->client = c;
    t->conds = sm_value_list();
    t->then = sm_value_list();
    t->otherwise = sm_value_list();
  }
  if (!t || !t->conds || !t->then || !t->otherwise) {
    sm_txn_free(t);
    return err_set(SM_ENOMEM, "sm_txn_new: out of memory");
  }
  *out = t;
  return SM_OK;
}

void sm_txn_free(sm_txn *t) {
  if (!t) return;
  sm_value_free(t->conds);
  sm_value_free(t->then);
  sm_value_free(t->otherwise);
  sm_value_free(t->answer);
  free(t);
}

/* Keeps the first error of the builder; returns rc. */
static int keep(sm_txn *t, int rc) {
  if (rc != SM_OK && t && t->error == SM_OK) t->error = rc;
  return rc;
}

/* A ref to obj's object as the calling thread's connection sees it. */
static int ref_of(sm_proxy *obj, sm_value **out) {
  const proxy_binding *b;
  int rc = proxy_binding_now(obj, &b);
  if (rc != SM_OK) return rc;
  *out = val_ref_new(b->id, obj->type, strlen(obj->type));
  return *out ? SM_OK : err_set(SM_ENOMEM, "out of memory");
}

/* Appends [kind, ref(obj), items...] to t's conditions; items borrowed
 * (NULL encodes nil). The daemon checks the kind and the items. */
int sm_txn_if(sm_txn *t, const char *kind, sm_proxy *obj, const sm_value *const *items, size_t n) {
  if (!t || !kind || !*kind || !obj || (n && !items))
    return keep(t, err_set(SM_EINVAL, "sm_txn_if: NULL or invalid argument"));
  sm_value *c = sm_value_list(), *ref = NULL;
  int rc = c ? ref_of(obj, &ref) : err_set(SM_ENOMEM, "out of memory");
  if (rc == SM_OK) {
    /* Each append takes its item, even when it fails. */
    bool ok = sm_value_list_append(c, sm_value_str(kind)) == SM_OK;
    if (!(sm_value_list_append(c, ref) == SM_OK && ok)) rc = err_set(SM_ENOMEM, "out of memory");
  } else {
    sm_value_free(ref);
  }
  for (size_t i = 0; rc == SM_OK && i < n; i++) {
    sm_value *v = items[i] ? sm_value_copy(items[i]) : sm_value_nil();
    if (sm_value_list_append(c, v) != SM_OK) rc = err_set(SM_ENOMEM, "out of memory");
  }
  if (rc == SM_OK && sm_value_list_append(t->conds, c) != SM_OK)
    rc = err_set(SM_ENOMEM, "out of memory");
  else if (rc != SM_OK)
    sm_value_free(c);
  return keep(t, rc);
}

/* Checks op and gives its name as a value; NULL when out of range. */
static sm_value *op_value(sm_cmp op) {
  if ((unsigned)op >= sizeof cmp_names / sizeof cmp_names[0]) return NULL;
  return sm_value_str(cmp_names[op]);
}

int sm_txn_if_exists(sm_txn *t, sm_proxy *obj, const sm_value *key) {
  return sm_txn_if(t, "exists", obj, (const sm_value *const[]){key}, 1);
}

int sm_txn_if_absent(sm_txn *t, sm_proxy *obj, const sm_value *key) {
  return sm_txn_if(t, "absent", obj, (const sm_value *const[]){key}, 1);
}

int sm_txn_if_equals(sm_txn *t, sm_proxy *obj, const sm_value *key, const sm_value *v) {
  return sm_txn_if(t, "equals", obj, (const sm_value *const[]){key, v}, 2);
}

int sm_txn_if_compare(sm_txn *t, sm_proxy *obj, const sm_value *key, sm_cmp op, const sm_value *v) {
  sm_value *o = op_value(op);
  if (!o) return keep(t, err_set(SM_EINVAL, "sm_txn_if_compare: no such operator"));
  int rc = sm_txn_if(t, "compare", obj, (const sm_value *const[]){key, o, v}, 3);
  sm_value_free(o);
  return rc;
}

/* The conditions [kind, obj, op, n]. */
static int cmp_cond(sm_txn *t, const char *kind, sm_proxy *obj, sm_cmp op, int64_t n) {
  sm_value *o = op_value(op), *v = sm_value_int(n);
  int rc = !o || !v ? keep(t, err_set(o ? SM_ENOMEM : SM_EINVAL, "sm_txn_if_%s: %s", kind,
                                      o ? "out of memory" : "no such operator"))
                    : sm_txn_if(t, kind, obj, (const sm_value *const[]){o, v}, 2);
  sm_value_free(o);
  sm_value_free(v);
  return rc;
}

int sm_txn_if_size(sm_txn *t, sm_proxy *obj, sm_cmp op, int64_t n) {
  return cmp_cond(t, "size", obj, op, n);
}

int sm_txn_if_rev(sm_txn *t, sm_proxy *obj, sm_cmp op, uint64_t rev) {
  return cmp_cond(t, "rev", obj, op, (int64_t)rev);
}

int sm_txn_if_held(sm_txn *t, sm_proxy *lock, uint64_t token) {
  sm_value *v = sm_value_int((int64_t)token);
  int rc = v ? sm_txn_if(t, "held", lock, (const sm_value *const[]){v}, 1)
             : keep(t, err_set(SM_ENOMEM, "out of memory"));
  sm_value_free(v);
  return rc;
}

int sm_txn_if_set(sm_txn *t, sm_proxy *event) { return sm_txn_if(t, "is_set", event, NULL, 0); }

/* Appends [ref(obj), method, [args...]] to list. */
static int add_call(sm_txn *t, sm_value *list, sm_proxy *obj, const char *method,
                    const sm_value *const *args, size_t nargs) {
  if (!t || !obj || !method || !*method || (nargs && !args))
    return keep(t, err_set(SM_EINVAL, "sm_txn_then/else: NULL or invalid argument"));
  sm_value *call = sm_value_list(), *a = sm_value_list(), *ref = NULL;
  int rc = call && a ? ref_of(obj, &ref) : err_set(SM_ENOMEM, "out of memory");
  for (size_t i = 0; rc == SM_OK && i < nargs; i++) {
    sm_value *v = args[i] ? sm_value_copy(args[i]) : sm_value_nil();
    if (sm_value_list_append(a, v) != SM_OK) rc = err_set(SM_ENOMEM, "out of memory");
  }
  if (rc != SM_OK) {
    sm_value_free(ref);
    sm_value_free(a);
    sm_value_free(call);
    return keep(t, rc);
  }
  /* Each append takes its item, even when it fails. */
  bool ok = sm_value_list_append(call, ref) == SM_OK;
  ok = sm_value_list_append(call, sm_value_str(method)) == SM_OK && ok;
  ok = sm_value_list_append(call, a) == SM_OK && ok;
  if (ok)
    return keep(t, sm_value_list_append(list, call) == SM_OK ? SM_OK
                                                             : err_set(SM_ENOMEM, "out of memory"));
  sm_value_free(call);
  return keep(t, err_set(SM_ENOMEM, "out of memory"));
}

int sm_txn_then(sm_txn *t, sm_proxy *obj, const char *method, const sm_value *const *args,
                size_t nargs) {
  return add_call(t, t ? t->then : NULL, obj, method, args, nargs);
}

int sm_txn_else(sm_txn *t, sm_proxy *obj, const char *method, const sm_value *const *args,
                size_t nargs) {
  return add_call(t, t ? t->otherwise : NULL, obj, method, args, nargs);
}

/* The list of results in t's answer (NULL before a commit). */
static const sm_value *results(const sm_txn *t) {
  return t->answer ? sm_value_list_at(t->answer, 1) : NULL;
}

int sm_txn_commit(sm_txn *t, bool *succeeded) {
  PROXY_REQUIRE(t);
  if (t->error != SM_OK)
    return err_set(t->error, "the transaction was not built: its first error was %s",
                   sm_errname(t->error));
  sm_value_free(t->answer);
  t->answer = NULL;
  const sm_value *args[] = {t->conds, t->then, t->otherwise};
  sm_value *answer = NULL;
  int rc = client_invoke(t->client, CLIENT_THREAD, NULL, "txn", args, 3, &answer, NULL);
  if (rc != SM_OK) return rc;
  const sm_value *ok = sm_value_list_at(answer, 0), *list = sm_value_list_at(answer, 1);
  if (sm_value_type(answer) != SM_LIST || sm_value_len(answer) != 2 ||
      sm_value_type(ok) != SM_BOOL || sm_value_type(list) != SM_LIST) {
    sm_value_free(answer);
    return err_set(SM_EPROTO, "sm_txn_commit: the daemon's answer is not [bool, list]");
  }
  t->answer = answer;
  if (succeeded) *succeeded = sm_value_as_bool(ok);
  return SM_OK;
}

size_t sm_txn_count(const sm_txn *t) {
  const sm_value *r = t ? results(t) : NULL;
  return r ? sm_value_len(r) : 0;
}

int sm_txn_result(const sm_txn *t, size_t i, const sm_value **value) {
  if (!t || i >= sm_txn_count(t)) return err_set(SM_EINVAL, "sm_txn_result: no result %zu", i);
  const sm_value *pair = sm_value_list_at(results(t), i);
  const sm_value *st = sm_value_list_at(pair, 0), *v = sm_value_list_at(pair, 1);
  if (sm_value_type(st) != SM_INT)
    return err_set(SM_EPROTO, "sm_txn_result: result %zu has no status", i);
  if (value) *value = v;
  int ws = (int)sm_value_as_int(st);
  if (ws == 0) return SM_OK;
  return err_from_status(ws, sm_value_type(v) == SM_STR ? sm_value_as_str(v, NULL) : NULL);
}

/* ---- revisions and watches ---- */

int sm_rev(sm_proxy *obj, uint64_t *rev) {
  PROXY_REQUIRE(obj && rev);
  int64_t r;
  int rc = proxy_call_int(obj, "rev", NULL, 0, "sm_rev", &r);
  if (rc == SM_OK) *rev = (uint64_t)r;
  return rc;
}

/* The entry called name of map m (NULL when absent). */
static const sm_value *entry(const sm_value *m, const char *name) {
  for (size_t i = 0; i < sm_value_len(m); i++) {
    const sm_value *k = sm_value_map_key_at(m, i);
    if (sm_value_type(k) == SM_STR && strcmp(sm_value_as_str(k, NULL), name) == 0)
      return sm_value_map_value_at(m, i);
  }
  return NULL;
}

int sm_watch(sm_proxy *obj, uint64_t from_rev, const sm_value *key, int64_t timeout_ms,
             sm_value **events, uint64_t *next_rev) {
  PROXY_REQUIRE(obj && events && next_rev && from_rev <= INT64_MAX);
  sm_value *from = sm_value_int((int64_t)from_rev), *answer = NULL;
  if (!from) return err_set(SM_ENOMEM, "out of memory");
  const sm_value *args[] = {from, key};
  int rc = proxy_invoke_timed(obj, "watch", args, key ? 2 : 1, timeout_ms, &answer);
  sm_value_free(from);
  if (rc != SM_OK) return rc;
  const sm_value *rev = entry(answer, "rev"), *evs = entry(answer, "events");
  if (sm_value_type(answer) != SM_MAP || sm_value_type(rev) != SM_INT ||
      (evs && sm_value_type(evs) != SM_LIST) || (!evs && !entry(answer, "compacted"))) {
    sm_value_free(answer);
    return err_set(SM_EPROTO, "sm_watch: the daemon's answer is not {rev, events|compacted}");
  }
  sm_value *copy = evs ? sm_value_copy(evs) : NULL;
  *next_rev = (uint64_t)sm_value_as_int(rev);
  sm_value_free(answer);
  if (evs && !copy) return err_set(SM_ENOMEM, "out of memory");
  *events = copy;
  return SM_OK;
}
