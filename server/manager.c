/* SPDX-License-Identifier: MIT */
/* manager.c - the methods of object 0, the manager itself: creating and
 * opening objects, the per-session references to anonymous objects,
 * deleting named objects, listing, daemon facts, snapshots (save) and
 * shutdown (and, from admin.c, the slow-call log and the run-time
 * settings). Method
 * arguments and results are listed in docs/protocol.md. Without a
 * connection (call.conn NULL, as the dispatcher fuzzer runs it) info and shutdown, which
 * need the server, answer WS_INTERNAL. */
#include "../proto/status.h"
#include "admin.h"
#include "blocked.h"
#include "cluster.h"
#include "conn.h"
#include "cmd.h"
#include "dispatch.h"
#include "expire.h"
#include "log.h"
#include "map_writer.h"
#include "persist.h"
#include "scan.h"
#include "server.h"
#include "session.h"
#include "snapshot.h"
#include "stats.h"
#include "txn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "statemgr.h"

/* Copies a string argument into buf as a C string. */
static int arg_str(call *c, size_t i, const char *what, char *buf, size_t len) {
  vinfo vi;
  call_arg(c, i, &vi);
  if (vi.kind != VK_STR) return call_fail(c, WS_TYPE_ERROR, "%s must be a string", what);
  if (vi.data.n == 0 || vi.data.n >= len)
    return call_fail(c, WS_VALUE_ERROR, "%s must be 1 to %zu bytes long", what, len - 1);
  memcpy(buf, vi.data.p, vi.data.n);
  buf[vi.data.n] = '\0';
  return WS_OK;
}

/* Answers with a ref to o, holding one more reference for the caller's
 * session when o is anonymous and take_ref says so (session 0, a call
 * without a connection, records it against nobody). */
static int answer_ref(call *c, sm_obj *o, bool take_ref) {
  if (take_ref && !o->name) {
    if (sess_hold(c->reg, c->session, o) != 0) {
      reg_decref(c->reg, o);
      return call_fail(c, WS_INTERNAL, "out of memory");
    }
  }
  vb_ref(c->out, o->id, o->type->name);
  return WS_OK;
}

static int m_ping(call *c) {
  (void)c;
  return WS_OK;
}

/* What create_with's options ask of an object it creates. */
typedef struct create_opts {
  bool ephemeral; /* deleted when the creating session ends (session.h) */
  int64_t ttl_ms; /* removed this long after the call (expire.h); 0: no TTL */
} create_opts;

/* Reads argument i, create_with's options: a map of "ephemeral" (bool) and
 * "ttl_ms" (int > 0), or nil for none. */
static int create_opts_arg(call *c, size_t i, create_opts *o) {
  vinfo vi;
  call_arg(c, i, &vi);
  if (vi.kind == VK_NIL) return WS_OK;
  if (vi.kind != VK_MAP)
    return call_fail(c, WS_TYPE_ERROR, "the options must be a map, not %s",
                     call_kind_name(vi.kind));
  vw_iter it;
  sm_span k, v;
  vw_iter_init(&it, vi.data);
  while (vw_map_next(&it, &k, &v)) {
    vinfo ki, val;
    vw_peek(k, &ki);
    vw_peek(v, &val);
    if (ki.kind == VK_STR && ki.data.n == 9 && memcmp(ki.data.p, "ephemeral", 9) == 0) {
      if (val.kind != VK_BOOL)
        return call_fail(c, WS_TYPE_ERROR, "option ephemeral must be a bool");
      o->ephemeral = val.b;
    } else if (ki.kind == VK_STR && ki.data.n == 6 && memcmp(ki.data.p, "ttl_ms", 6) == 0) {
      if (val.kind != VK_INT) return call_fail(c, WS_TYPE_ERROR, "option ttl_ms must be an int");
      if (val.i <= 0 || val.i > INT64_MAX / 2)
        return call_fail(c, WS_VALUE_ERROR, "option ttl_ms must be a positive number of ms");
      o->ttl_ms = val.i;
    } else {
      return call_fail(c, WS_VALUE_ERROR,
                       "unknown create option (the options are ephemeral and ttl_ms)");
    }
  }
  return WS_OK;
}

/* Creates (or, for an existing name, opens) the object: type and name are
 * arguments 0 and 1, the creation arguments follow the first skip; opts
 * apply to an object this call creates. */
static int create_object(call *c, size_t skip, const create_opts *opts) {
  char type[64], name[NAME_MAX_LEN + 1];
  int rc = arg_str(c, 0, "the type", type, sizeof type);
  if (rc != WS_OK) return rc;
  const obj_type *t = reg_type(c->reg, type);
  if (!t) return call_fail(c, WS_VALUE_ERROR, "no type called '%s'", type);
  vinfo vi;
  call_arg(c, 1, &vi);
  bool named = vi.kind != VK_NIL;
  if (named && (rc = arg_str(c, 1, "the name", name, sizeof name)) != WS_OK) return rc;
  if (!named && opts->ephemeral)
    return call_fail(c, WS_VALUE_ERROR,
                     "an ephemeral object needs a name (an anonymous one ends with its holders)");
  call sub = *c;
  sub.args += skip;
  sub.arg_flags += skip;
  sub.nargs -= skip;
  sm_obj *o;
  bool created = false;
  rc = reg_create(c->reg, t, named ? name : NULL, &sub, &o, &created);
  if (rc != WS_OK) {
    memcpy(c->err, sub.err, sizeof c->err);
    return rc;
  }
  if (created && opts->ephemeral && sess_note_ephemeral(c->reg, c->session, o) != 0) {
    reg_destroy(c->reg, o);
    return call_fail(c, WS_INTERNAL, "out of memory");
  }
  c->unchanged = !created; /* opening a named object changes nothing */
  /* A new anonymous object was born with one reference: the caller's. */
  if (!named && sess_hold(c->reg, c->session, o) != 0) {
    reg_decref(c->reg, o);
    return call_fail(c, WS_INTERNAL, "out of memory");
  }
  if ((created || !named) && opts->ttl_ms) {
    o->deadline = cmd_time(c->reg) + opts->ttl_ms;
    exp_update(c->reg, o);
  }
  return answer_ref(c, o, false);
}

/* create(type, name|nil, initial...) */
static int m_create(call *c) {
  int rc = call_nargs(c, 2, SIZE_MAX);
  create_opts none = {0};
  return rc == WS_OK ? create_object(c, 2, &none) : rc;
}

/* create_with(type, name|nil, options, initial...): create with options
 * (create_opts_arg), which apply when the call creates the object. */
static int m_create_with(call *c) {
  int rc = call_nargs(c, 3, SIZE_MAX);
  create_opts opts = {0};
  if (rc == WS_OK) rc = create_opts_arg(c, 2, &opts);
  return rc == WS_OK ? create_object(c, 3, &opts) : rc;
}

bool manager_create_finds(const registry *reg, const sm_span *args, size_t nargs) {
  vinfo vi;
  if (nargs < 2 || vw_peek(args[1], &vi) != VW_OK || vi.kind != VK_STR || vi.data.n > NAME_MAX_LEN)
    return false;
  char name[NAME_MAX_LEN + 1];
  memcpy(name, vi.data.p, vi.data.n);
  name[vi.data.n] = '\0';
  return reg_get_named(reg, name) != NULL;
}

/* open(ref | name) */
static int m_open(call *c) {
  int rc;
  vinfo vi;
  call_arg(c, 0, &vi);
  sm_obj *o;
  if (vi.kind == VK_REF) {
    /* dispatch checked it exists and its type; it may have expired since
     * (expire.h: the lazy check ran after that check) */
    if (!(o = reg_get(c->reg, vi.ref_id)))
      return call_fail(c, WS_NOT_FOUND, "object %llu expired", (unsigned long long)vi.ref_id);
  } else {
    char name[NAME_MAX_LEN + 1];
    if ((rc = arg_str(c, 0, "the target", name, sizeof name)) != WS_OK) return rc;
    if (!(o = reg_get_named(c->reg, name)))
      return call_fail(c, WS_NOT_FOUND, "no object named '%s'", name);
  }
  reg_incref(c->reg, o);
  return answer_ref(c, o, true);
}

/* release(id) */
static int m_release(call *c) {
  int64_t id;
  int rc = call_arg_int(c, 0, &id);
  if (rc != WS_OK) return rc;
  if (sess_release(c->reg, c->session, (uint64_t)id)) return WS_OK;
  sm_obj *o = reg_get(c->reg, (uint64_t)id);
  if (o && o->name) return WS_OK; /* named objects are not counted */
  return call_fail(c, WS_NOT_FOUND, "this connection holds no reference to object %lld",
                   (long long)id);
}

/* delete(name) */
static int m_delete(call *c) {
  char name[NAME_MAX_LEN + 1];
  int rc = arg_str(c, 0, "the name", name, sizeof name);
  if (rc != WS_OK) return rc;
  sm_obj *o = reg_get_named(c->reg, name);
  if (!o) return call_fail(c, WS_NOT_FOUND, "no object named '%s'", name);
  reg_destroy(c->reg, o);
  return WS_OK;
}

/* _collect([id, ...]) (internal: replay only): the cycle collector freed
 * these anonymous objects, which held only each other (cycles.c logs its
 * batch so): they go together, as they did. Each must be a live anonymous
 * object (VALUE_ERROR otherwise, nothing freed). */
static int m_collect(call *c) {
  vinfo vi;
  call_arg(c, 0, &vi);
  if (vi.kind != VK_LIST) return call_fail(c, WS_TYPE_ERROR, "_collect takes a list of ids");
  size_t n = 0;
  vw_iter it;
  sm_span item;
  vw_iter_init(&it, vi.data);
  while (vw_list_next(&it, &item))
    n++;
  sm_obj **objs = malloc((n ? n : 1) * sizeof *objs);
  if (!objs) return call_fail(c, WS_INTERNAL, "out of memory");
  vw_iter_init(&it, vi.data);
  for (size_t i = 0; vw_list_next(&it, &item); i++) {
    vinfo id;
    vw_peek(item, &id);
    objs[i] = id.kind == VK_INT ? reg_get(c->reg, (uint64_t)id.i) : NULL;
    if (!objs[i] || objs[i]->name) {
      free(objs);
      return call_fail(c, WS_VALUE_ERROR,
                       "_collect names an object that is not a live anonymous one");
    }
  }
  reg_destroy_set(c->reg, objs, n);
  free(objs);
  return WS_OK;
}

typedef struct ls_ctx {
  map_writer w;
  const obj_type *only; /* NULL: every type */
  int64_t now_ms;       /* an object whose TTL passed by then is not listed */
} ls_ctx;

/* True when ls lists o: a named object of the type asked for, not
 * expired (the expiry cycle has not reached it yet). */
static bool ls_wants(const ls_ctx *ls, const sm_obj *o) {
  return o->name && (!ls->only || o->type == ls->only) && !exp_object_due(o, ls->now_ms);
}

/* Writes o's ls entry, a map, as an item of the list being written. */
static void ls_write(ls_ctx *ls, const sm_obj *o) {
  size_t item = vb_list_begin_item(ls->w.out);
  size_t map = vb_map_begin(ls->w.out);
  mw_str(&ls->w, "name", o->name);
  mw_int(&ls->w, "id", (int64_t)o->id);
  mw_str(&ls->w, "type", o->type->name);
  if (o->type->size) mw_int(&ls->w, "size", (int64_t)o->type->size(o->state));
  vb_map_end(ls->w.out, map);
  vb_list_end_item(ls->w.out, item);
}

static void ls_one(void *arg, sm_obj *o) {
  if (ls_wants(arg, o)) ls_write(arg, o);
}

/* Argument i, when present and not nil, as the type ls keeps to. */
static int ls_type_arg(call *c, size_t i, ls_ctx *ls) {
  vinfo vi = {.kind = VK_NIL};
  if (c->nargs > i) call_arg(c, i, &vi);
  if (vi.kind == VK_NIL) return WS_OK;
  char type[64];
  int rc = arg_str(c, i, "the type", type, sizeof type);
  if (rc != WS_OK) return rc;
  if (!(ls->only = reg_type(c->reg, type)))
    return call_fail(c, WS_VALUE_ERROR, "no type called '%s'", type);
  return WS_OK;
}

/* ls([type]) */
static int m_ls(call *c) {
  int rc;
  ls_ctx ls = {.w = {.out = c->out}, .now_ms = cmd_time(c->reg)};
  if ((rc = ls_type_arg(c, 0, &ls)) != WS_OK) return rc;
  vb_init(&ls.w.key);
  vb_init(&ls.w.val);
  size_t list = vb_list_begin(c->out);
  reg_foreach(c->reg, ls_one, &ls);
  vb_list_end(c->out, list);
  vb_free(&ls.w.key);
  vb_free(&ls.w.val);
  return WS_OK;
}

/* ls_scan(cursor[, count[, type]]) -> [next, [entries as ls's]]: a page
 * of the named objects in creation order; the cursor names insertion
 * numbers of the registry (registry.h, scan.h), so objects created or
 * deleted meanwhile never make one that stays be skipped or repeated, and
 * those created after the scan began are left out. count
 * bounds the entries a page holds; anonymous objects and other types are
 * passed over without counting. */
static int m_ls_scan(call *c) {
  scan_page pg;
  int rc = scan_begin(c, 3, &pg);
  if (rc != WS_OK) return rc;
  ls_ctx ls = {.w = {.out = &pg.items}, .now_ms = cmd_time(c->reg)};
  if ((rc = ls_type_arg(c, 2, &ls)) != WS_OK) {
    scan_abort(&pg);
    return rc;
  }
  vb_init(&ls.w.key);
  vb_init(&ls.w.val);
  scan_range r = scan_range_of(&pg, reg_scan_end(c->reg));
  size_t pos = reg_seek(c->reg, r.from), at = pos;
  sm_obj *o;
  while (reg_next_before(c->reg, &pos, r.end, &o)) {
    if (ls_wants(&ls, o)) {
      if (!scan_room(&pg, strlen(o->name) + 64)) break;
      ls_write(&ls, o);
      pg.n++;
    }
    at = pos;
  }
  vb_free(&ls.w.key);
  vb_free(&ls.w.val);
  return scan_end_range(c, &pg, &r, reg_cursor(c->reg, at));
}

/* info() */
static void put_type_count(void *arg, const char *type, size_t n) { mw_int(arg, type, (int64_t)n); }

static void put_call_count(void *arg, const char *type, const char *method, uint64_t n) {
  char key[160];
  snprintf(key, sizeof key, "%s.%s", type, method);
  mw_int(arg, key, (int64_t)n);
}

/* One method's latency in info: calls, total time, p50 and p99 bounds. */
static void put_latency(void *arg, const char *type, const char *method, const uint64_t *counts,
                        uint64_t sum_us) {
  map_writer *w = arg;
  uint64_t n = 0;
  for (size_t i = 0; i <= STATS_N_BUCKETS; i++)
    n += counts[i];
  if (n == 0) return; /* info's own call, not timed yet */
  char key[160];
  snprintf(key, sizeof key, "%s.%s", type, method);
  vb_str(&w->key, key, strlen(key));
  map_writer m;
  mw_init(&m, &w->val);
  size_t map = vb_map_begin(&w->val);
  mw_int(&m, "count", (int64_t)n);
  mw_int(&m, "sum_us", (int64_t)sum_us);
  mw_int(&m, "p50_us", stats_quantile_us(counts, 0.5));
  mw_int(&m, "p99_us", stats_quantile_us(counts, 0.99));
  vb_map_end(&w->val, map);
  mw_done(&m);
  mw_entry(w);
}

/* The data directory's figures (persistence "off": none). */
static void put_persist_info(map_writer *w, const persist *p) {
  mw_str(w, "persistence", p ? "on" : "off");
  if (!p) return;
  persist_info pi;
  persist_get_info(p, &pi);
  mw_str(w, "data_dir", pi.dir);
  mw_str(w, "fsync", pi.fsync);
  mw_int(w, "log_bytes", (int64_t)pi.log_bytes);
  mw_int(w, "log_index", (int64_t)pi.last_index);
  mw_int(w, "durable_index", (int64_t)pi.durable_index);
  mw_int(w, "log_syncs", (int64_t)pi.syncs);
  mw_int(w, "disk_full", pi.disk_full);
  mw_int(w, "snapshot_running", pi.snapshot_running);
  mw_int(w, "snapshots", (int64_t)pi.snapshots);
  mw_int(w, "last_snapshot_index", (int64_t)pi.snapshot_index);
  mw_int(w, "last_snapshot_time_ms", pi.snapshot_time_ms);
  mw_int(w, "last_snapshot_duration_ms", pi.snapshot_duration_ms);
  mw_str(w, "last_snapshot_status", pi.snapshot_status);
}

static int digest_sessions(void *reg, vbuf *out) { return sess_save_holding(reg, out); }

/* A member of a replicated group: its role, the leader, how far it has
 * applied the group's log, and a digest of its state (equal on members
 * that applied the same log; sessions holding nothing are left out). */
static void put_cluster_info(map_writer *w, struct sm_server *srv) {
  cluster *cl = srv->persist ? persist_cluster(srv->persist) : NULL;
  if (!cl) return;
  cluster_info ci;
  cluster_get_info(cl, &ci);
  mw_str(w, "cluster", ci.name);
  mw_str(w, "role", ci.role);
  mw_str(w, "leader", ci.leader);
  mw_str(w, "advertise", ci.advertise);
  mw_str(w, "etcd", ci.etcd);
  mw_int(w, "lease_ttl_s", ci.lease_ttl_s);
  mw_int(w, "applied_revision", ci.applied_revision);
  mw_int(w, "etcd_revision", ci.etcd_revision);
  mw_int(w, "lag",
         ci.etcd_revision > ci.applied_revision ? ci.etcd_revision - ci.applied_revision : 0);
  mw_int(w, "applied_batches", (int64_t)ci.applied_batches);
  mw_int(w, "group_snapshot_seq", (int64_t)ci.snapshot_seq);
  mw_int(w, "group_snapshot_revision", ci.snapshot_revision);
  mw_int(w, "group_snapshot_bytes", (int64_t)ci.snapshot_bytes);
  mw_int(w, "appends", (int64_t)ci.appends);
  mw_int(w, "appends_behind", (int64_t)ci.appends_behind);
  mw_int(w, "appends_retried", (int64_t)ci.appends_retried);
  uint32_t digest = 0;
  if (snap_digest(srv->reg, digest_sessions, srv->reg, &digest) == 0) {
    char text[16];
    snprintf(text, sizeof text, "%08x", (unsigned)digest);
    mw_str(w, "state_digest", text);
  }
}

static int m_info(call *c) {
  if (!c->conn) return call_fail(c, WS_INTERNAL, "info needs a connection to a daemon");
  struct sm_server *srv = conn_server(c->conn);
  stats_snapshot st;
  stats_take(srv, &st);
  map_writer w = {.out = c->out};
  vb_init(&w.key);
  vb_init(&w.val);
  size_t map = vb_map_begin(c->out);
  char version[32];
  snprintf(version, sizeof version, "%d.%d.%d", SM_VERSION_MAJOR, SM_VERSION_MINOR,
           SM_VERSION_PATCH);
  mw_str(&w, "version", version);
  char instance[24];
  snprintf(instance, sizeof instance, "%016llx", (unsigned long long)srv->instance);
  mw_str(&w, "instance", instance);
  mw_int(&w, "pid", (int64_t)getpid());
  mw_int(&w, "uptime_s", st.uptime_s);
  mw_int(&w, "connections", (int64_t)st.connections);
  mw_int(&w, "objects", (int64_t)st.objects);
  mw_int(&w, "named_objects", (int64_t)st.named_objects);
  mw_int(&w, "requests", (int64_t)st.requests);
  mw_int(&w, "waiters", (int64_t)st.waiters);
  mw_int(&w, "deadlocks", (int64_t)blk_deadlocks(c->reg));
  mw_int(&w, "rss_bytes", (int64_t)st.rss_bytes);
  mw_int(&w, "heap_bytes", (int64_t)st.heap_bytes);
  mw_int(&w, "used_memory", (int64_t)st.used_memory);
  mw_int(&w, "max_memory", (int64_t)st.max_memory);
  mw_int(&w, "memory_trims", (int64_t)st.memory_trims);
  mw_int(&w, "gc_collections", (int64_t)st.gc_collections);
  mw_int(&w, "gc_collected", (int64_t)st.gc_collected);
  mw_int(&w, "expired_keys", (int64_t)reg_expiry(c->reg)->expired_keys);
  mw_int(&w, "expired_objects", (int64_t)reg_expiry(c->reg)->expired_objects);
  mw_int(&w, "auth_failures", (int64_t)st.auth_failures);
  mw_int(&w, "tls_handshake_failures", (int64_t)st.tls_failures);
  mw_int(&w, "net_input_bytes", (int64_t)st.net_in);
  mw_int(&w, "net_output_bytes", (int64_t)st.net_out);
  mw_double(&w, "cpu_seconds", st.cpu_seconds);
  mw_int(&w, "open_fds", (int64_t)st.open_fds);
  mw_int(&w, "slowlog_len", (int64_t)st.slowlog_len);
  mw_str(&w, "log_level", log_level_name(log_get_level()));
  put_persist_info(&w, srv->persist);
  put_cluster_info(&w, srv);
  /* Nested maps: objects per type, calls per "type.method". */
  vb_str(&w.key, "types", 5);
  size_t m2 = vb_map_begin(&w.val);
  map_writer inner = {.out = &w.val};
  vb_init(&inner.key);
  vb_init(&inner.val);
  stats_each_type(srv, put_type_count, &inner);
  vb_map_end(&w.val, m2);
  mw_entry(&w);
  vb_str(&w.key, "calls", 5);
  m2 = vb_map_begin(&w.val);
  stats_each_call(srv->stats, put_call_count, &inner);
  vb_map_end(&w.val, m2);
  mw_entry(&w);
  vb_str(&w.key, "latency", 7);
  m2 = vb_map_begin(&w.val);
  stats_each_latency(srv->stats, put_latency, &inner);
  vb_map_end(&w.val, m2);
  mw_entry(&w);
  /* Connections refused per reason, error answers per status. */
  vb_str(&w.key, "refused", 7);
  m2 = vb_map_begin(&w.val);
  for (int i = 0; i < STATS_N_REFUSALS; i++)
    mw_int(&inner, stats_refusal_name((stats_refusal)i), (int64_t)st.refused[i]);
  vb_map_end(&w.val, m2);
  mw_entry(&w);
  vb_str(&w.key, "errors", 6);
  m2 = vb_map_begin(&w.val);
  for (int i = 1; i < STATS_N_STATUSES; i++) {
    char name[24];
    const char *known = status_name(i);
    if (!st.answers[i]) continue;
    if (known)
      snprintf(name, sizeof name, "%s", known);
    else
      snprintf(name, sizeof name, "status_%d", i);
    mw_int(&inner, name, (int64_t)st.answers[i]);
  }
  vb_map_end(&w.val, m2);
  mw_entry(&w);
  vb_free(&inner.key);
  vb_free(&inner.val);
  vb_map_end(c->out, map);
  vb_free(&w.key);
  vb_free(&w.val);
  return WS_OK;
}

typedef struct holders_ctx {
  vbuf *out;
  map_writer w;
  uint64_t id;
} holders_ctx;

/* show(name): what one object is, who waits on it and who holds it. */
static int m_show(call *c) {
  char name[NAME_MAX_LEN + 1];
  int rc = arg_str(c, 0, "the name", name, sizeof name);
  if (rc != WS_OK) return rc;
  if (!c->conn) return call_fail(c, WS_INTERNAL, "show needs a connection to a daemon");
  sm_obj *o = reg_get_named(c->reg, name);
  if (!o) return call_fail(c, WS_NOT_FOUND, "no object named '%s'", name);
  map_writer w = {.out = c->out};
  vb_init(&w.key);
  vb_init(&w.val);
  size_t map = vb_map_begin(c->out);
  mw_str(&w, "name", o->name);
  mw_int(&w, "id", (int64_t)o->id);
  mw_str(&w, "type", o->type->name);
  if (o->type->size) mw_int(&w, "size", (int64_t)o->type->size(o->state));
  mw_int(&w, "waiters", (int64_t)o->n_waiters);
  if (o->deadline) { /* expire.h: the lazy check removed it if it were due */
    int64_t left = o->deadline - cmd_time(c->reg);
    mw_int(&w, "ttl_ms", left > 0 ? left : 0);
  }
  if (o->eph_session) mw_int(&w, "ephemeral_session", (int64_t)o->eph_session);
  /* Holders: the connections that own units of it (locks, semaphores). */
  vb_str(&w.key, "holders", 7);
  size_t list = vb_list_begin(&w.val);
  map_writer hw = {.out = &w.val};
  vb_init(&hw.key);
  vb_init(&hw.val);
  for (struct conn *cn = conn_server(c->conn)->conns; cn; cn = conn_next(cn)) {
    uint64_t units = sess_owned_units(c->reg, conn_session(cn), o->id);
    if (!units) continue;
    size_t item = vb_list_begin_item(&w.val);
    size_t hm = vb_map_begin(&w.val);
    mw_int(&hw, "connection", (int64_t)conn_id(cn));
    mw_str(&hw, "peer", conn_peer(cn));
    mw_int(&hw, "units", (int64_t)units);
    vb_map_end(&w.val, hm);
    vb_list_end_item(&w.val, item);
  }
  vb_list_end(&w.val, list);
  mw_entry(&w);
  vb_free(&hw.key);
  vb_free(&hw.val);
  vb_map_end(c->out, map);
  vb_free(&w.key);
  vb_free(&w.val);
  return WS_OK;
}

/* save(): answered with the log index of a snapshot written after the
 * call, once it is on disk (persist.h). */
static int m_save(call *c) {
  if (!c->conn) return call_fail(c, WS_INTERNAL, "save needs a connection to a daemon");
  persist *p = conn_server(c->conn)->persist;
  if (!p)
    return call_fail(c, WS_VALUE_ERROR,
                     "this daemon keeps its state in memory only (--no-persist): nothing to save");
  return persist_save(p, c);
}

/* shutdown(): answered, then the daemon stops. */
static int m_shutdown(call *c) {
  if (!c->conn) return call_fail(c, WS_INTERNAL, "shutdown needs a connection to a daemon");
  server_begin_stop(conn_server(c->conn));
  return WS_OK;
}

static const method_def manager_methods[] = {
    {"ping", m_ping, ARGS(0, 0)},
    {"create", m_create, METHOD_MUTATES | ARGS(2, ARGS_MANY)},
    {"create_with", m_create_with, METHOD_MUTATES | ARGS(3, ARGS_MANY)},
    {"open", m_open, METHOD_MUTATES | ARGS(1, 1)}, /* takes a reference for the session */
    {"release", m_release, METHOD_MUTATES | ARGS(1, 1)},
    {"delete", m_delete, METHOD_MUTATES | ARGS(1, 1)},
    {"txn", txn_m_txn, METHOD_MUTATES | ARGS(2, 3)},
    {"_collect", m_collect, METHOD_MUTATES | METHOD_INTERNAL | ARGS(1, 1)},
    {"expire", exp_m_expire, METHOD_MUTATES | ARGS(2, 2)},
    {"ttl", exp_m_ttl, ARGS(1, 1)},
    {"persist", exp_m_persist, METHOD_MUTATES | ARGS(1, 1)},
    {"_expire", exp_m_expired, METHOD_MUTATES | METHOD_INTERNAL | ARGS(1, 1)},
    {"ls", m_ls, ARGS(0, 1)},
    {"ls_scan", m_ls_scan, ARGS(1, 3)},
    {"info", m_info, ARGS(0, 0)},
    {"show", m_show, ARGS(1, 1)},
    {"save", m_save, ARGS(0, 0)},
    {"shutdown", m_shutdown, ARGS(0, 0)},
    {"slowlog", admin_slowlog, ARGS(1, 2)},
    {"config", admin_config, ARGS(2, 3)},
    {"clients", admin_clients, ARGS(0, 0)},
    {"kill", admin_kill, ARGS(1, 1)},
    {"monitor", admin_monitor, ARGS(1, 2)},
    {"locks", admin_locks, ARGS(0, 0)},
};

const obj_type manager_type = {
    .name = "manager",
    .methods = manager_methods,
    .n_methods = sizeof manager_methods / sizeof manager_methods[0],
};
