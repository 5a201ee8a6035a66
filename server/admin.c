/* SPDX-License-Identifier: MIT */
/* admin.c - the operator's methods of the manager (see admin.h): slowlog,
 * config, clients, kill and monitor. They need the server, so without a
 * connection (the dispatcher's fuzzer) they answer WS_INTERNAL, as info
 * does. A changed setting and a killed client are logged. What a client
 * holds comes from its session (session.h), read only. */
#include "admin.h"

#include "conn.h"
#include "log.h"
#include "map_writer.h"
#include "blocked.h"
#include "monitor.h"
#include "registry.h"
#include "server.h"
#include "session.h"
#include "stats.h"
#include "waitfor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOWLOG_GET_DEFAULT 10 /* entries `slowlog get` answers, as Redis */
#define SETTINGS "log-level, slowlog-threshold-us and slowlog-max-len"

/* Copies string argument i into buf as a C string. */
static int str_arg(call *c, size_t i, const char *what, char *buf, size_t len) {
  vinfo vi;
  call_arg(c, i, &vi);
  if (vi.kind != VK_STR) return call_fail(c, WS_TYPE_ERROR, "%s must be a string", what);
  if (vi.data.n >= len) return call_fail(c, WS_VALUE_ERROR, "%s is too long", what);
  memcpy(buf, vi.data.p, vi.data.n);
  buf[vi.data.n] = '\0';
  return WS_OK;
}

/* The server behind c, or NULL (then c fails) without a connection. */
static struct sm_server *server_of(call *c, const char *method) {
  if (c->conn) return conn_server(c->conn);
  call_fail(c, WS_INTERNAL, "%s needs a connection to a daemon", method);
  return NULL;
}

int admin_slowlog(call *c) {
  char op[16];
  int rc = str_arg(c, 0, "the slowlog operation", op, sizeof op);
  if (rc != WS_OK) return rc;
  struct sm_server *srv = server_of(c, "slowlog");
  if (!srv) return WS_INTERNAL;
  slowlog *l = stats_slowlog(srv->stats);
  bool get = strcmp(op, "get") == 0;
  if (!get && c->nargs > 1) return call_fail(c, WS_VALUE_ERROR, "slowlog %s takes no count", op);
  if (get) {
    int64_t n = SLOWLOG_GET_DEFAULT;
    if (c->nargs > 1 && (rc = call_arg_int(c, 1, &n)) != WS_OK) return rc;
    if (n < -1)
      return call_fail(c, WS_VALUE_ERROR, "slowlog get takes a count of 0 or more (-1: all)");
    slowlog_write(l, n < 0 ? SIZE_MAX : (size_t)n, c->out);
    return WS_OK;
  }
  if (strcmp(op, "len") == 0) {
    vb_int(c->out, (int64_t)slowlog_len(l));
    return WS_OK;
  }
  if (strcmp(op, "reset") == 0) {
    slowlog_reset(l);
    return WS_OK;
  }
  return call_fail(c, WS_VALUE_ERROR, "no slowlog operation '%s': get, len or reset", op);
}

/* Writes the value of setting key into out; false for no such setting. */
static bool write_setting(struct sm_server *srv, const char *key, vbuf *out) {
  const slowlog *l = stats_slowlog(srv->stats);
  if (strcmp(key, "log-level") == 0) {
    const char *name = log_level_name(log_get_level());
    vb_str(out, name, strlen(name));
  } else if (strcmp(key, "slowlog-threshold-us") == 0) {
    vb_int(out, slowlog_threshold(l));
  } else if (strcmp(key, "slowlog-max-len") == 0) {
    vb_int(out, (int64_t)slowlog_max_len(l));
  } else {
    return false;
  }
  return true;
}

static const char *const settings[] = {"log-level", "slowlog-threshold-us", "slowlog-max-len"};

/* Argument i as an integer: an int, or a string holding one (as a config
 * file would). */
static int int_setting(call *c, size_t i, const char *key, int64_t *out) {
  vinfo vi;
  call_arg(c, i, &vi);
  if (vi.kind == VK_INT) {
    *out = vi.i;
    return WS_OK;
  }
  if (vi.kind == VK_STR && vi.data.n > 0 && vi.data.n < 24) {
    char buf[24], *end;
    memcpy(buf, vi.data.p, vi.data.n);
    buf[vi.data.n] = '\0';
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (!errno && !*end) {
      *out = v;
      return WS_OK;
    }
  }
  return call_fail(c, WS_VALUE_ERROR, "%s takes an integer", key);
}

/* config set key value: the value is checked before anything changes. */
static int set_setting(call *c, struct sm_server *srv, const char *key) {
  slowlog *l = stats_slowlog(srv->stats);
  int64_t n;
  int rc;
  if (strcmp(key, "log-level") == 0) {
    char name[16];
    log_level level;
    if (str_arg(c, 2, "log-level", name, sizeof name) != WS_OK ||
        log_level_parse(name, &level) != 0)
      return call_fail(c, WS_VALUE_ERROR, "log-level takes error, warn, info or debug");
    log_level was = log_get_level();
    log_set_level(level);
    log_msg(level < LOG_WARN ? level : LOG_WARN, "config: log-level %s (was %s)", name,
            log_level_name(was));
    return WS_OK;
  }
  if (strcmp(key, "slowlog-threshold-us") == 0) {
    if ((rc = int_setting(c, 2, key, &n)) != WS_OK) return rc;
    slowlog_set_threshold(l, n < 0 ? -1 : n);
    log_info("config: slowlog-threshold-us %lld", (long long)(n < 0 ? -1 : n));
    return WS_OK;
  }
  if (strcmp(key, "slowlog-max-len") == 0) {
    if ((rc = int_setting(c, 2, key, &n)) != WS_OK) return rc;
    if (n < 0 || n > SLOWLOG_MAX_LEN_LIMIT)
      return call_fail(c, WS_VALUE_ERROR, "slowlog-max-len takes 0 to %d", SLOWLOG_MAX_LEN_LIMIT);
    if (slowlog_set_max_len(l, (size_t)n) != 0) return call_fail(c, WS_INTERNAL, "out of memory");
    log_info("config: slowlog-max-len %lld", (long long)n);
    return WS_OK;
  }
  return call_fail(c, WS_VALUE_ERROR, "'%s' cannot be set at run time: only " SETTINGS " can", key);
}

int admin_config(call *c) {
  char op[16], key[64];
  int rc = str_arg(c, 0, "the config operation", op, sizeof op);
  if (rc == WS_OK) rc = str_arg(c, 1, "the setting", key, sizeof key);
  if (rc != WS_OK) return rc;
  struct sm_server *srv = server_of(c, "config");
  if (!srv) return WS_INTERNAL;
  if (strcmp(op, "get") == 0) {
    if (c->nargs != 2) return call_fail(c, WS_VALUE_ERROR, "config get takes a setting only");
    if (strcmp(key, "*") == 0) {
      map_writer w;
      mw_init(&w, c->out);
      size_t map = vb_map_begin(c->out);
      for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        vb_str(&w.key, settings[i], strlen(settings[i]));
        write_setting(srv, settings[i], &w.val);
        mw_entry(&w);
      }
      vb_map_end(c->out, map);
      mw_done(&w);
      return WS_OK;
    }
    if (!write_setting(srv, key, c->out))
      return call_fail(c, WS_VALUE_ERROR, "no setting '%s': config get takes " SETTINGS ", or *",
                       key);
    return WS_OK;
  }
  if (strcmp(op, "set") == 0) {
    if (c->nargs != 3)
      return call_fail(c, WS_VALUE_ERROR, "config set takes a setting and a value");
    return set_setting(c, srv, key);
  }
  return call_fail(c, WS_VALUE_ERROR, "no config operation '%s': get or set", op);
}

typedef struct owned_ctx {
  registry *reg;
  vbuf *out;
  map_writer w;
} owned_ctx;

/* One {"object", "name", "type", "units"} map of what a session owns. */
static void put_owned(void *arg, uint64_t id, uint64_t units) {
  owned_ctx *x = arg;
  sm_obj *o = reg_get(x->reg, id);
  size_t item = vb_list_begin_item(x->out);
  size_t map = vb_map_begin(x->out);
  mw_int(&x->w, "object", (int64_t)id);
  if (o && o->name) mw_str(&x->w, "name", o->name);
  mw_str(&x->w, "type", o ? o->type->name : "?");
  mw_int(&x->w, "units", (int64_t)units);
  vb_map_end(x->out, map);
  vb_list_end_item(x->out, item);
}

int admin_clients(call *c) {
  struct sm_server *srv = server_of(c, "clients");
  if (!srv) return WS_INTERNAL;
  int64_t now = conn_loop_ms(srv);
  /* Oldest first, as `ls` lists objects: srv->conns is newest first. */
  struct conn *last = NULL;
  for (struct conn *cn = srv->conns; cn; cn = conn_next(cn))
    last = cn;
  map_writer w;
  mw_init(&w, c->out);
  size_t list = vb_list_begin(c->out);
  for (struct conn *cn = last; cn; cn = conn_prev(cn)) {
    if (!conn_is_ready(cn)) continue; /* not authenticated yet, or closing */
    uint64_t sid = conn_session(cn);
    int64_t last_ms = conn_last_request_ms(cn);
    size_t item = vb_list_begin_item(c->out);
    size_t map = vb_map_begin(c->out);
    mw_int(&w, "id", (int64_t)conn_id(cn));
    mw_str(&w, "peer", conn_peer(cn));
    mw_str(&w, "name", conn_name(cn));
    mw_int(&w, "age_ms", now - conn_started_ms(cn));
    mw_int(&w, "idle_ms", now - (last_ms ? last_ms : conn_started_ms(cn)));
    mw_int(&w, "session", (int64_t)sid);
    mw_int(&w, "requests", (int64_t)conn_requests(cn));
    mw_int(&w, "refs", (int64_t)sess_ref_count(c->reg, sid));
    mw_int(&w, "parked", (int64_t)blk_list_len(conn_waiters(cn)));
    vb_str(&w.key, "holds", 5);
    owned_ctx x = {.reg = c->reg, .out = &w.val};
    mw_init(&x.w, &w.val);
    size_t holds = vb_list_begin(&w.val);
    sess_each_owned(c->reg, sid, put_owned, &x);
    vb_list_end(&w.val, holds);
    mw_done(&x.w);
    mw_entry(&w);
    vb_map_end(c->out, map);
    vb_list_end_item(c->out, item);
  }
  vb_list_end(c->out, list);
  mw_done(&w);
  return WS_OK;
}

/* wf_client_fn: the client name of the connection of session sid. */
static const char *client_of(void *ctx, uint64_t sid) {
  for (struct conn *cn = ((struct sm_server *)ctx)->conns; cn; cn = conn_next(cn))
    if (conn_session(cn) == sid) return conn_name(cn);
  return NULL;
}

int admin_locks(call *c) {
  struct sm_server *srv = c->conn ? conn_server(c->conn) : NULL;
  return wf_list_locks(c, srv ? client_of : NULL, srv);
}

int admin_kill(call *c) {
  int64_t id;
  int rc = call_arg_int(c, 0, &id);
  if (rc != WS_OK) return rc;
  struct sm_server *srv = server_of(c, "kill");
  if (!srv) return WS_INTERNAL;
  for (struct conn *cn = srv->conns; cn; cn = conn_next(cn)) {
    if ((int64_t)conn_id(cn) != id || !conn_is_ready(cn)) continue;
    log_info("conn %lld (%s) killed by conn %llu (%s)", (long long)id, conn_peer(cn),
             (unsigned long long)conn_id(c->conn), conn_peer(c->conn));
    /* As a client that went away: its parked calls are dropped and what its
     * session held goes to the next waiters. A caller that kills its own
     * connection gets no answer: the connection closes first. */
    conn_close_after_flush(cn);
    return WS_OK;
  }
  return call_fail(c, WS_NOT_FOUND, "no client %lld (`clients` lists them)", (long long)id);
}

int admin_monitor(call *c) {
  struct sm_server *srv = server_of(c, "monitor");
  if (!srv) return WS_INTERNAL;
  return monitor_call(stats_monitor(srv->stats), c);
}
