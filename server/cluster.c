/* SPDX-License-Identifier: MIT */
/* cluster.c - a member of a replicated group (see cluster.h): the
 * group's instance id, the watch that applies the log, the election and
 * the lease, the leader's batches, stepping down.
 *
 * Roles: STARTING (reading the instance id), FOLLOWER (applies the log;
 * campaigns whenever no leader is known), CANDIDATE (won the leader key,
 * applying the log up to its election revision: then LEADER), LEADER
 * (serves; ships its commands), and DEPOSED (lost the lease or the key:
 * the run ends and the daemon starts again from the log, since its state
 * may hold commands etcd never took).
 *
 * A starting member first loads the group's snapshot (cluster_snap.h);
 * then its watch covers the group's keys (but the snapshots' chunks) from
 * the revision after it (from revision 1 when there is none); a watch etcd
 * answers with a compaction past it starts the member again, to load the
 * newer snapshot. Leader key events older than what a campaign's answer
 * told are ignored, so a member catching up does not redirect clients to
 * a leader of the past. */
#include "cluster.h"

#include "../proto/auth.h"
#include "clock.h"
#include "cluster_snap.h"
#include "cmd.h"
#include "conn.h"
#include "cycles.h"
#include "etcd.h"
#include "expire.h"
#include "le.h"
#include "log.h"
#include "persist.h"
#include "registry.h"
#include "server.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CLUSTER_KEY_MAX 512
#define BATCH_HEADER 16         /* u64 leader revision, u64 seq */
#define RETRY_MS 100            /* an append or a request that failed in transport */
#define REQUEST_TIMEOUT_MS 2000 /* one etcd request */
#define STOP_WAIT_MS 1000       /* a stopping leader waits this long for its lease's revoke */

typedef enum role { ROLE_STARTING, ROLE_FOLLOWER, ROLE_CANDIDATE, ROLE_LEADER, ROLE_DEPOSED } role;

static const char *const role_names[] = {"starting", "follower", "candidate", "leader",
                                         "stepping-down"};

/* A batch of the leader's commands, from sealing until etcd took it. */
typedef struct batch {
  struct cluster *cl; /* its append's context is the batch: nothing to free if dropped */
  uint64_t seq;
  uint8_t *data; /* header + records */
  size_t len;
  uint64_t last_index; /* of its last record */
  bool sent;           /* an append is in flight */
  bool acked;
  int64_t rev;    /* the revision etcd took it at, once acked */
  bool wait_prev; /* etcd did not hold the batch before it yet: sent again once it does */
  bool full;      /* sealed at batch_max: it may go beside another append */
  struct batch *next;
} batch;

struct cluster {
  struct sm_server *srv;
  char name[128];
  char advertise[WIRE_URL_MAX];
  char urls[ETCD_URLS_MAX * 256];
  int ttl_s;
  size_t request_max; /* etcd's --max-request-bytes (--etcd-max-request-bytes) */
  size_t batch_max;   /* a batch of several records: CLUSTER_BATCH_MAX, or less to fit */
  etcd *e;
  role role;
  /* Keys. */
  char prefix[160]; /* /statemgr/NAME/ (NAME: 127 bytes at most) */
  char prefix_end[CLUSTER_KEY_MAX];
  char leader_key[CLUSTER_KEY_MAX];
  char instance_key[CLUSTER_KEY_MAX];
  char log_prefix[CLUSTER_KEY_MAX];
  uint64_t instance;
  /* The watch. */
  etcd_watch *watch;
  int64_t applied_rev; /* every event up to it is applied */
  int64_t etcd_rev;    /* the newest header revision seen */
  uint64_t last_seq;   /* the last batch applied or sealed */
  /* The leader as known. */
  char leader[WIRE_URL_MAX];
  int64_t leader_rev;      /* its key's create revision (0: none known) */
  int64_t leader_seen_rev; /* the revision that news is from */
  /* Election. */
  bool campaigning;       /* a grant or a campaign Txn is in flight */
  int64_t lease_id;       /* ours (0: none) */
  int64_t my_rev;         /* our leader key's create revision (0: not elected) */
  int64_t valid_until_ms; /* monotonic: the lease is surely ours until then */
  int64_t ka_sent_ms;     /* the keepalive in flight was sent then */
  bool ka_inflight;
  bool served; /* this run led: its state holds its own commands */
  bool paused; /* leading, but the lease is not known valid: no answer leaves */
  struct event *campaign_ev, *keepalive_ev, *lease_ev, *ship_ev, *rewatch_ev;
  /* The group's snapshots (cluster_snap.h); snap_ev takes one at the top
   * of the loop, never inside a call. */
  csnap *snap;
  struct event *snap_ev;
  /* The leader's batches. */
  vbuf cur;          /* the batch being filled (header space first) */
  uint64_t cur_last; /* index of its last record */
  batch *head, *tail;
  int inflight;
  uint64_t last_index, durable_index;
  /* What the appends cost (info): sent, refused because the batch before
   * had not reached etcd yet (sent again after it), failed in transport. */
  uint64_t appends, appends_behind, appends_retried;
  bool stopping;
  bool revoke_done;
  bool failed; /* the log does not apply: the daemon stops with an error */
};

static void campaign(cluster *cl);
static void ship(cluster *cl);
static void start_watch(cluster *cl);
static void snapshot_loaded(void *ctx, int rc, uint64_t seq, int64_t rev);

static void add_ms(struct event *ev, int64_t ms) {
  if (ms < 0) ms = 0;
  struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
  evtimer_add(ev, &tv);
}

static int64_t ttl_ms(const cluster *cl) { return (int64_t)cl->ttl_s * 1000; }
/* What the leader takes off its lease for clock drift and a late timer. */
static int64_t margin_ms(const cluster *cl) { return ttl_ms(cl) / 6 + 50; }

/* ---- stepping down ---- */

/* Leadership is lost (or was never safe): a member that served restarts
 * from the log, since its state may hold commands etcd never took; a
 * candidate that served nobody goes back to following. */
static void step_down(cluster *cl, const char *why) {
  if (cl->role == ROLE_DEPOSED) return;
  csnap_abandon(cl->snap);
  if (!cl->served) {
    log_warn("cluster %s: not leading after all: %s", cl->name, why);
    cl->role = ROLE_FOLLOWER;
    cl->my_rev = 0;
    cl->lease_id = 0;
    evtimer_del(cl->keepalive_ev);
    evtimer_del(cl->lease_ev);
    add_ms(cl->campaign_ev, ttl_ms(cl) / 2);
    return;
  }
  log_error("cluster %s: this member stops leading: %s; it stops answering and starts again "
            "from the log",
            cl->name, why);
  cl->role = ROLE_DEPOSED;
  cmd_set_sink(cl->srv->reg, NULL, NULL);
  server_request_restart(cl->srv);
}

/* The log cannot be applied here (damaged, or not the log this state came
 * from): starting again would meet the same, so the daemon stops with an
 * error. */
static void fail(cluster *cl, const char *why) {
  if (cl->failed) return;
  cl->failed = true;
  cl->role = ROLE_DEPOSED;
  csnap_abandon(cl->snap);
  cmd_set_sink(cl->srv->reg, NULL, NULL);
  log_error("cluster %s: %s; stopping", cl->name, why);
  event_base_loopbreak(cl->srv->base);
}

/* ---- the lease ---- */

static void lease_check_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  cluster *cl = arg;
  if (cl->role != ROLE_LEADER && cl->role != ROLE_CANDIDATE) return;
  int64_t left = cl->valid_until_ms - clock_mono_ms();
  if (left > 0) {
    add_ms(cl->lease_ev, left);
    return;
  }
  /* Not known to lead any more: no answer leaves (cluster_may_answer)
   * until a renewal says the lease lived on (etcd extends leases when its
   * own leader changes); after a further TTL without one, another member
   * may lead: this one starts again from the log. */
  if (-left >= ttl_ms(cl) || cl->role == ROLE_CANDIDATE) {
    step_down(cl, "its lease could not be renewed in time");
    return;
  }
  if (!cl->paused) {
    cl->paused = true;
    log_warn("cluster %s: the lease is not renewed in time: answers wait until it is (or this "
             "member steps down in %" PRId64 " ms)",
             cl->name, ttl_ms(cl) + left);
  }
  add_ms(cl->lease_ev, ttl_ms(cl) + left);
}

static void keepalive_reply(void *ctx, int status, json_object *reply, const char *err) {
  cluster *cl = ctx;
  cl->ka_inflight = false;
  if (cl->role != ROLE_LEADER && cl->role != ROLE_CANDIDATE) return;
  if (status == ETCD_REFUSED) {
    char why[1200];
    snprintf(why, sizeof why, "etcd refuses its lease keepalive: %s", err);
    step_down(cl, why);
    return;
  }
  if (status != 0) {
    log_warn("cluster %s: lease keepalive failed: %s", cl->name, err);
    add_ms(cl->keepalive_ev, RETRY_MS);
    return;
  }
  json_object *res = etcd_get(reply, "result");
  int64_t ttl = etcd_get_int(res, "TTL"); /* absent: the lease expired */
  cl->etcd_rev = etcd_get_int(etcd_get(res, "header"), "revision") > cl->etcd_rev
                     ? etcd_get_int(etcd_get(res, "header"), "revision")
                     : cl->etcd_rev;
  log_debug("cluster %s: keepalive of lease %" PRId64 " at %s: TTL %" PRId64 " (%" PRId64 " ms)",
            cl->name, cl->lease_id, etcd_current_url(cl->e), ttl, clock_mono_ms() - cl->ka_sent_ms);
  if (ttl <= 0) {
    step_down(cl, "its lease expired in etcd");
    return;
  }
  int64_t until = cl->ka_sent_ms + ttl * 1000 - margin_ms(cl);
  if (until > cl->valid_until_ms) cl->valid_until_ms = until;
  add_ms(cl->keepalive_ev, ttl_ms(cl) / 3);
  if (cl->paused && clock_mono_ms() < cl->valid_until_ms) {
    cl->paused = false;
    log_warn("cluster %s: the lease is renewed: answers go again", cl->name);
    evtimer_del(cl->lease_ev);
    add_ms(cl->lease_ev, cl->valid_until_ms - clock_mono_ms());
    conn_flush_all(cl->srv);
  }
}

static void keepalive_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  cluster *cl = arg;
  if (cl->ka_inflight || !cl->lease_id || (cl->role != ROLE_LEADER && cl->role != ROLE_CANDIDATE))
    return;
  json_object *body = json_object_new_object();
  json_object_object_add(body, "ID", json_object_new_int64(cl->lease_id));
  cl->ka_sent_ms = clock_mono_ms();
  if (etcd_call_fast(cl->e, "/v3/lease/keepalive", body, keepalive_reply, cl) == 0)
    cl->ka_inflight = true;
  else
    add_ms(cl->keepalive_ev, RETRY_MS);
}

/* ---- the leader's log ---- */

static void batch_free(batch *b) {
  if (!b) return;
  free(b->data);
  free(b);
}

static void batch_key(const cluster *cl, uint64_t seq, char *buf, size_t len) {
  snprintf(buf, len, "%s%020" PRIu64, cl->log_prefix, seq);
}

/* The batch being filled becomes the next one to ship; full: it reached
 * batch_max. */
static int seal(cluster *cl, bool full) {
  if (cl->cur.len <= BATCH_HEADER) return 0;
  batch *b = calloc(1, sizeof *b);
  if (!b) return -1;
  b->cl = cl;
  b->seq = ++cl->last_seq;
  b->full = full;
  le_put_u64(cl->cur.p, (uint64_t)cl->my_rev);
  le_put_u64(cl->cur.p + 8, b->seq);
  b->data = cl->cur.p;
  b->len = cl->cur.len;
  b->last_index = cl->cur_last;
  vb_init(&cl->cur); /* the buffer is the batch's now */
  if (cl->tail)
    cl->tail->next = b;
  else
    cl->head = b;
  cl->tail = b;
  return 0;
}

uint64_t cluster_append(cluster *cl, const uint8_t *rec, size_t len) {
  if (cl->role != ROLE_LEADER) {
    /* Only the log may change a follower's state: this one no longer
     * matches it, and starts again from the log. */
    if (cl->role != ROLE_DEPOSED) {
      cl->served = true;
      step_down(cl, "its state changed while it did not lead");
    }
    return 0;
  }
  /* A record that would take the batch past batch_max starts the next
   * one: several records never add up to a request etcd refuses, and one
   * up to cluster_record_max goes alone. */
  if (cl->cur.len > BATCH_HEADER && cl->cur.len + 4 + len > cl->batch_max && seal(cl, true) != 0)
    return 0;
  if (cl->cur.len == 0) {
    uint8_t *h = vb_grow(&cl->cur, BATCH_HEADER);
    if (!h) return 0;
    memset(h, 0, BATCH_HEADER);
  }
  uint8_t *p = vb_grow(&cl->cur, 4 + len);
  if (!p) return 0;
  p[0] = (uint8_t)len;
  p[1] = (uint8_t)(len >> 8);
  p[2] = (uint8_t)(len >> 16);
  p[3] = (uint8_t)(len >> 24);
  memcpy(p + 4, rec, len);
  cl->cur_last = ++cl->last_index;
  event_active(cl->ship_ev, 0, 0); /* also when no answer waits this turn (a timer's command) */
  return cl->last_index;
}

/* The batches at the head that etcd took are durable: their answers go. */
static void advance_durable(cluster *cl) {
  uint64_t durable = cl->durable_index;
  while (cl->head && cl->head->acked) {
    batch *b = cl->head;
    cl->head = b->next;
    if (!cl->head) cl->tail = NULL;
    durable = b->last_index;
    batch_free(b);
  }
  if (durable > cl->durable_index) {
    cl->durable_index = durable;
    conn_durable(cl->srv, durable);
  }
}

/* True when kv (from a failed append's range) holds batch b as we wrote
 * it: an earlier attempt of this append committed. */
static bool holds_our_batch(const cluster *cl, json_object *kv, const batch *b) {
  uint8_t *v = NULL;
  size_t n = 0;
  if (!kv || etcd_b64_decode(etcd_get(kv, "value"), &v, &n) != 0) return false;
  bool ours =
      n >= BATCH_HEADER && le_get_u64(v) == (uint64_t)cl->my_rev && le_get_u64(v + 8) == b->seq;
  free(v);
  return ours;
}

/* etcd took batch b at revision rev; a snapshot is due after enough. */
static void batch_acked(cluster *cl, batch *b, int64_t rev) {
  b->acked = true;
  b->rev = rev;
  csnap_acked(cl->snap, b->seq, rev);
  if (csnap_note_shipped(cl->snap, b->len)) event_active(cl->snap_ev, 0, 0);
}

/* Takes the group's snapshot (snap_ev, `save`): the turn's batch is
 * sealed first, so that the state is exactly what batches 1..last_seq
 * make; the revision of the last one is known once etcd took it. */
static void snapshot_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  cluster *cl = arg;
  if (cl->role != ROLE_LEADER || csnap_running(cl->snap)) return;
  bool sealed = cl->cur.len > BATCH_HEADER;
  if (seal(cl, false) != 0) {
    step_down(cl, "out of memory sealing a batch");
    return;
  }
  int64_t rev = !cl->tail ? cl->applied_rev : cl->tail->acked ? cl->tail->rev : 0;
  csnap_take(cl->snap, cl->last_seq, cl->last_index, rev, cl->my_rev);
  if (sealed) ship(cl);
}

void cluster_snapshot_now(cluster *cl) {
  if (cl->role == ROLE_LEADER && !csnap_running(cl->snap)) event_active(cl->snap_ev, 0, 0);
}

void cluster_snapshot_info(const cluster *cl, csnap_info *out) { csnap_get_info(cl->snap, out); }

static void append_reply(void *ctx, int status, json_object *reply, const char *err) {
  batch *b = ctx;
  cluster *cl = b->cl;
  cl->inflight--;
  b->sent = false;
  if (cl->role != ROLE_LEADER) return; /* the run is ending */
  if (status == ETCD_REFUSED) {        /* sent again it fails again: the leader cannot go on */
    char why[1400];
    snprintf(why, sizeof why,
             "etcd refuses its batch %" PRIu64 " (%zu bytes) for good: %s; if etcd says the "
             "request is too large, its --max-request-bytes is smaller than this member's "
             "--etcd-max-request-bytes (%zu): give the member etcd's value",
             b->seq, b->len, err, cl->request_max);
    step_down(cl, why);
    return;
  }
  if (status != 0) {
    cl->appends_retried++;
    log_warn("cluster %s: append of batch %" PRIu64 " failed, retrying: %s", cl->name, b->seq, err);
    add_ms(cl->rewatch_ev, RETRY_MS); /* ship again soon (rewatch_ev also ships) */
    return;
  }
  int64_t rev = etcd_get_int(etcd_get(reply, "header"), "revision");
  if (rev > cl->etcd_rev) cl->etcd_rev = rev;
  if (etcd_get_bool(reply, "succeeded")) {
    batch_acked(cl, b, rev);
    if (rev > cl->applied_rev) cl->applied_rev = rev; /* its watch brings no PUT */
  } else {
    /* failure: [range of the batch key, range of the leader key] */
    json_object *rs = etcd_get(reply, "responses");
    json_object *r0 = rs ? json_object_array_get_idx(rs, 0) : NULL;
    json_object *r1 = rs ? json_object_array_get_idx(rs, 1) : NULL;
    json_object *kvs = etcd_get(etcd_get(r0, "response_range"), "kvs");
    json_object *kv = kvs ? json_object_array_get_idx(kvs, 0) : NULL;
    json_object *lkvs = etcd_get(etcd_get(r1, "response_range"), "kvs");
    json_object *lkv = lkvs ? json_object_array_get_idx(lkvs, 0) : NULL;
    if (holds_our_batch(cl, kv, b)) {
      batch_acked(cl, b, etcd_get_int(kv, "mod_revision")); /* a retry of one that committed */
    } else if (!kv && lkv && etcd_get_int(lkv, "create_revision") == cl->my_rev) {
      b->wait_prev = true; /* the batch before it is not in etcd yet (its append is retried) */
      cl->appends_behind++;
    } else {
      char why[200];
      snprintf(why, sizeof why,
               "etcd refused its batch %" PRIu64 " (the leader key %s%" PRId64
               ", the batch key %s)",
               b->seq, lkv ? "was put at revision " : "is gone",
               etcd_get_int(lkv, "create_revision"), kv ? "holds another batch" : "is free");
      step_down(cl, why);
      return;
    }
  }
  advance_durable(cl);
  ship(cl);
}

static void send_batch(cluster *cl, batch *b) {
  char key[CLUSTER_KEY_MAX + 32];
  batch_key(cl, b->seq, key, sizeof key);
  json_object *body = etcd_txn_new();
  etcd_txn_compare(body, cl->leader_key, "CREATE", "EQUAL", cl->my_rev);
  etcd_txn_compare(body, key, "VERSION", "EQUAL", 0);
  if (b->seq > 1) { /* in seq order: the batch before it is in etcd already */
    char prev[CLUSTER_KEY_MAX + 32];
    batch_key(cl, b->seq - 1, prev, sizeof prev);
    etcd_txn_compare(body, prev, "VERSION", "GREATER", 0);
  }
  etcd_txn_put(body, false, key, b->data, b->len, 0);
  /* failure: [range of the batch key, range of the leader key] */
  etcd_txn_range(body, true, key);
  etcd_txn_range(body, true, cl->leader_key);
  if (etcd_call(cl->e, "/v3/kv/txn", body, append_reply, b) != 0) {
    add_ms(cl->rewatch_ev, RETRY_MS);
    return;
  }
  b->sent = true;
  cl->inflight++;
  cl->appends++;
}

/* Whether batch b may be sent now. One append at a time, except that a
 * full batch may go beside the one in flight (up to CLUSTER_INFLIGHT): a
 * partial batch sent beside another gains nothing, since the commands
 * it holds would ride in the next append one round trip later anyway,
 * while it costs etcd an append and, when it reaches etcd before the one
 * in flight commits, is refused for lack of the batch before and sent
 * again (appends_behind). Measured with 8 clients at pipeline 1 on the
 * 2-core machine: 2 appends in flight each took twice as long as one,
 * with no more commands per second. */
static bool may_send(const cluster *cl, const batch *b) {
  return cl->inflight == 0 || (b->full && cl->inflight < CLUSTER_INFLIGHT);
}

/* Seals the turn's batch and sends what may go now. */
static void ship(cluster *cl) {
  if (cl->role != ROLE_LEADER) return;
  if (cl->head) cl->head->wait_prev = false; /* everything before it is in etcd */
  for (batch *b = cl->head; b; b = b->next) {
    if (b->wait_prev) return;
    if (b->sent || b->acked) continue;
    if (!may_send(cl, b)) return;
    send_batch(cl, b);
    if (!b->sent) return; /* retried in order (rewatch_ev) */
  }
  /* The batch being filled goes only when no append is in flight: until
   * then it takes the commands of the turns to come (up to batch_max),
   * so that one append carries them all. */
  if (cl->inflight > 0 || cl->cur.len <= BATCH_HEADER) return;
  if (seal(cl, false) != 0) {
    step_down(cl, "out of memory sealing a batch");
    return;
  }
  send_batch(cl, cl->tail);
}

static void ship_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  ship(arg);
}

void cluster_flush(cluster *cl) {
  if (cl) ship(cl);
}

/* ---- taking over ---- */

/* Elected and caught up: this member serves from now on. */
static void become_leader(cluster *cl) {
  /* Clients that came while it followed (asking info, or told REDIRECT)
   * hold sessions of no kind: they connect again and get kept ones. */
  for (conn *c = cl->srv->conns; c; c = conn_next(c))
    if (conn_is_ready(c)) conn_close_after_flush(c);
  cl->role = ROLE_LEADER;
  cl->served = true;
  cl->srv->instance = cl->instance;
  snprintf(cl->leader, sizeof cl->leader, "%s", cl->advertise);
  cl->leader_rev = cl->my_rev;
  cyc_set_base(reg_cycles(cl->srv->reg), cl->srv->base); /* its decisions now */
  exp_set_base(reg_expiry(cl->srv->reg), cl->srv->base);
  if (cl->watch) { /* from now on, deletes only */
    etcd_watch_free(cl->watch);
    cl->watch = NULL;
    start_watch(cl);
  }
  persist_begin_run(cl->srv->persist);
  /* The log since the group's last snapshot counts toward its next one. */
  if (csnap_took_over(cl->snap)) event_active(cl->snap_ev, 0, 0);
  log_info("cluster %s: this member leads (its key at revision %" PRId64 ", log applied through "
           "batch %" PRIu64 ")",
           cl->name, cl->my_rev, cl->last_seq);
}

/* ---- the watch: applying the log ---- */

/* Applies one batch of another leader. Returns 0, or -1 (logged) when it
 * does not follow the last one or does not apply. */
static int apply_batch(cluster *cl, const char *key, const uint8_t *v, size_t n) {
  if (n < BATCH_HEADER) {
    log_error("cluster %s: %s is not a batch (%zu bytes)", cl->name, key, n);
    return -1;
  }
  uint64_t leader_rev = le_get_u64(v), seq = le_get_u64(v + 8);
  if (cl->my_rev && leader_rev == (uint64_t)cl->my_rev) return 0; /* ours: applied already */
  if (seq != cl->last_seq + 1) {
    log_error("cluster %s: batch %" PRIu64 " follows batch %" PRIu64 ": the log has a gap",
              cl->name, seq, cl->last_seq);
    return -1;
  }
  size_t off = BATCH_HEADER;
  while (off < n) {
    if (n - off < 4) break;
    size_t len = (size_t)v[off] | (size_t)v[off + 1] << 8 | (size_t)v[off + 2] << 16 |
                 (size_t)v[off + 3] << 24;
    off += 4;
    if (len > n - off) break;
    char why[400];
    if (cmd_replay(cl->srv->reg, v + off, len, why, sizeof why) != 0) {
      log_error("cluster %s: a command of batch %" PRIu64 " does not apply: %s", cl->name, seq,
                why);
      return -1;
    }
    off += len;
  }
  if (off != n) {
    log_error("cluster %s: batch %" PRIu64 " is cut short", cl->name, seq);
    return -1;
  }
  cl->last_seq = seq;
  csnap_note_applied(cl->snap, seq, n);
  return 0;
}

/* News of the leader key at revision rev: value (NULL: deleted). */
static void leader_news(cluster *cl, int64_t rev, int64_t create_rev, const char *value,
                        size_t vlen) {
  if (rev <= cl->leader_seen_rev) return;
  cl->leader_seen_rev = rev;
  if (value) {
    snprintf(cl->leader, sizeof cl->leader, "%.*s", (int)vlen, value);
    cl->leader_rev = create_rev;
    if ((cl->role == ROLE_LEADER || cl->role == ROLE_CANDIDATE) && create_rev != cl->my_rev)
      step_down(cl, "another member holds the leader key");
    return;
  }
  cl->leader[0] = '\0';
  cl->leader_rev = 0;
  if (cl->role == ROLE_LEADER || cl->role == ROLE_CANDIDATE)
    step_down(cl, "its leader key is gone (its lease expired)");
  else if (cl->role == ROLE_FOLLOWER)
    campaign(cl);
}

static void on_event(cluster *cl, json_object *ev) {
  json_object *kv = etcd_get(ev, "kv");
  json_object *type = etcd_get(ev, "type");
  bool del = type && strcmp(json_object_get_string(type), "DELETE") == 0;
  int64_t mod = etcd_get_int(kv, "mod_revision");
  uint8_t *key = NULL, *val = NULL;
  size_t klen = 0, vlen = 0;
  if (etcd_b64_decode(etcd_get(kv, "key"), &key, &klen) != 0 ||
      etcd_b64_decode(etcd_get(kv, "value"), &val, &vlen) != 0) {
    free(key);
    log_error("cluster %s: an event of the watch is not base64", cl->name);
    return;
  }
  char k[CLUSTER_KEY_MAX + 32];
  snprintf(k, sizeof k, "%.*s", (int)klen, (const char *)key);
  size_t lp = strlen(cl->log_prefix);
  if (strcmp(k, cl->leader_key) == 0) {
    leader_news(cl, mod, etcd_get_int(kv, "create_revision"), del ? NULL : (const char *)val, vlen);
  } else if (!del && strncmp(k, cl->log_prefix, lp) == 0) {
    if (apply_batch(cl, k, val, vlen) != 0) fail(cl, "the log does not apply to its state");
  } else if (del && strncmp(k, cl->log_prefix, lp) == 0) {
    csnap_trimmed(cl->snap, mod); /* a snapshot was published with this trim */
  }
  free(key);
  free(val);
  if (mod > cl->applied_rev) cl->applied_rev = mod;
}

static void watch_events(void *ctx, json_object *msg) {
  cluster *cl = ctx;
  if (cl->role == ROLE_DEPOSED) return;
  json_object *res = etcd_get(msg, "result");
  if (!res) {
    json_object *e = etcd_get(msg, "error");
    log_warn("cluster %s: the watch reports %s", cl->name,
             e ? json_object_to_json_string(e) : "nothing usable");
    return;
  }
  int64_t hrev = etcd_get_int(etcd_get(res, "header"), "revision");
  if (hrev > cl->etcd_rev) cl->etcd_rev = hrev;
  if (etcd_get_int(res, "compact_revision") > 0) {
    /* The batches it misses are in the group's snapshot now: it starts
     * again, loading that snapshot (its state may hold nothing else). */
    char why[200];
    snprintf(why, sizeof why,
             "etcd compacted the log past revision %" PRId64 " (to %" PRId64
             "): it catches up from the group's snapshot",
             cl->applied_rev, etcd_get_int(res, "compact_revision"));
    if (cl->role == ROLE_LEADER || cl->role == ROLE_CANDIDATE) {
      cl->served = true;
      step_down(cl, why);
      return;
    }
    log_warn("cluster %s: %s; starting again", cl->name, why);
    cl->role = ROLE_DEPOSED;
    cmd_set_sink(cl->srv->reg, NULL, NULL);
    server_request_restart(cl->srv);
    return;
  }
  json_object *evs = etcd_get(res, "events");
  size_t n = evs ? json_object_array_length(evs) : 0;
  for (size_t i = 0; i < n && cl->role != ROLE_DEPOSED; i++)
    on_event(cl, json_object_array_get_idx(evs, i));
  if (n == 0 && hrev > cl->applied_rev && !etcd_get_bool(res, "created"))
    cl->applied_rev = hrev; /* a progress notice: nothing more up to it */
  if (cl->role == ROLE_CANDIDATE && cl->applied_rev >= cl->my_rev) become_leader(cl);
}

static void watch_end(void *ctx, const char *err) {
  cluster *cl = ctx;
  if (etcd_watch_refused(cl->watch)) {
    char why[1200];
    snprintf(why, sizeof why, "etcd refuses its watch of the log: %s", err);
    fail(cl, why);
    return;
  }
  log_warn("cluster %s: %s; watching again from revision %" PRId64, cl->name, err,
           cl->applied_rev + 1);
  etcd_watch_free(cl->watch);
  cl->watch = NULL;
  add_ms(cl->rewatch_ev, RETRY_MS);
}

static void start_watch(cluster *cl) {
  /* A leader needs no PUT: its own batches it applied already, and no one
   * else writes while it holds the key; it watches for its key going. The
   * watch ends before the snapshots' chunks, which no member applies (each
   * would bring every member up to 1 MiB it does not need). */
  cl->watch = etcd_watch_start(cl->e, cl->prefix, csnap_chunk_prefix(cl->snap), cl->applied_rev + 1,
                               cl->role == ROLE_LEADER, watch_events, watch_end, cl);
  if (!cl->watch) add_ms(cl->rewatch_ev, RETRY_MS);
}

/* Retries what failed in transport: the watch, and the leader's appends. */
static void rewatch_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  cluster *cl = arg;
  if (!cl->watch && cl->role != ROLE_DEPOSED && !cl->stopping) start_watch(cl);
  ship(cl);
}

/* ---- the election ---- */

static void campaign_reply(void *ctx, int status, json_object *reply, const char *err) {
  cluster *cl = ctx;
  cl->campaigning = false;
  if (cl->role != ROLE_FOLLOWER || cl->stopping) return;
  if (status != 0) { /* refused: a lease that expired meanwhile, or no permission */
    if (status == ETCD_REFUSED)
      log_error("cluster %s: etcd refuses its campaign: %s", cl->name, err);
    else
      log_warn("cluster %s: campaign failed: %s", cl->name, err);
    add_ms(cl->campaign_ev, status == ETCD_REFUSED ? ttl_ms(cl) : RETRY_MS * 3);
    return;
  }
  int64_t rev = etcd_get_int(etcd_get(reply, "header"), "revision");
  if (rev > cl->etcd_rev) cl->etcd_rev = rev;
  if (etcd_get_bool(reply, "succeeded")) {
    cl->my_rev = rev;
    cl->role = ROLE_CANDIDATE;
    cl->leader_seen_rev = rev;
    log_info("cluster %s: elected at revision %" PRId64 "; applying the log up to it", cl->name,
             rev);
    add_ms(cl->keepalive_ev, ttl_ms(cl) / 3);
    add_ms(cl->lease_ev, cl->valid_until_ms - clock_mono_ms());
    if (cl->applied_rev >= cl->my_rev) become_leader(cl);
    return;
  }
  json_object *rs = etcd_get(reply, "responses");
  json_object *r0 = rs ? json_object_array_get_idx(rs, 0) : NULL;
  json_object *kvs = etcd_get(etcd_get(r0, "response_range"), "kvs");
  json_object *kv = kvs ? json_object_array_get_idx(kvs, 0) : NULL;
  cl->lease_id = 0; /* left to expire */
  if (!kv) {        /* gone again between: try once more soon */
    add_ms(cl->campaign_ev, RETRY_MS);
    return;
  }
  uint8_t *v = NULL;
  size_t n = 0;
  if (etcd_b64_decode(etcd_get(kv, "value"), &v, &n) == 0) {
    int64_t mod = etcd_get_int(kv, "mod_revision");
    if (mod > cl->leader_seen_rev) {
      cl->leader_seen_rev = mod;
      snprintf(cl->leader, sizeof cl->leader, "%.*s", (int)n, (const char *)v);
      cl->leader_rev = etcd_get_int(kv, "create_revision");
    }
  }
  free(v);
  add_ms(cl->campaign_ev, ttl_ms(cl)); /* the watch says when the key goes; this is a backstop */
}

static void grant_reply(void *ctx, int status, json_object *reply, const char *err) {
  cluster *cl = ctx;
  if (cl->role != ROLE_FOLLOWER || cl->stopping) {
    cl->campaigning = false;
    return;
  }
  int64_t id = status == 0 ? etcd_get_int(reply, "ID") : 0;
  int64_t ttl = status == 0 ? etcd_get_int(reply, "TTL") : 0;
  if (id == 0 || ttl <= 0) {
    cl->campaigning = false;
    if (status == ETCD_REFUSED)
      log_error("cluster %s: etcd refuses it a lease: %s", cl->name, err);
    else
      log_warn("cluster %s: cannot get a lease: %s", cl->name, err ? err : "etcd gave none");
    add_ms(cl->campaign_ev, status == ETCD_REFUSED ? ttl_ms(cl) : RETRY_MS * 3);
    return;
  }
  cl->lease_id = id;
  cl->valid_until_ms = cl->ka_sent_ms + ttl * 1000 - margin_ms(cl);
  json_object *body = etcd_txn_new();
  etcd_txn_compare(body, cl->leader_key, "CREATE", "EQUAL", 0);
  etcd_txn_put(body, false, cl->leader_key, cl->advertise, strlen(cl->advertise), id);
  etcd_txn_range(body, true, cl->leader_key);
  if (etcd_call(cl->e, "/v3/kv/txn", body, campaign_reply, cl) != 0) {
    cl->campaigning = false;
    add_ms(cl->campaign_ev, RETRY_MS * 3);
  }
}

/* Tries to take the leader key: a lease first, then the Txn that puts the
 * key only if absent. */
static void campaign(cluster *cl) {
  if (cl->campaigning || cl->role != ROLE_FOLLOWER || cl->stopping) return;
  json_object *body = json_object_new_object();
  json_object_object_add(body, "TTL", json_object_new_int64(cl->ttl_s));
  cl->ka_sent_ms = clock_mono_ms(); /* the lease runs from before it was asked for */
  if (etcd_call(cl->e, "/v3/lease/grant", body, grant_reply, cl) != 0) {
    add_ms(cl->campaign_ev, RETRY_MS * 3);
    return;
  }
  cl->campaigning = true;
}

static void campaign_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  cluster *cl = arg;
  if (cl->role == ROLE_FOLLOWER && !cl->leader[0]) campaign(cl);
  if (cl->role == ROLE_FOLLOWER) add_ms(cl->campaign_ev, ttl_ms(cl));
}

/* ---- start: the instance id ---- */

static void instance_reply(void *ctx, int status, json_object *reply, const char *err) {
  cluster *cl = ctx;
  if (cl->stopping) return;
  if (status == ETCD_REFUSED) {
    char why[1200];
    snprintf(why, sizeof why, "etcd refuses to tell the group's instance id: %s", err);
    fail(cl, why);
    return;
  }
  json_object *kv = NULL;
  if (status == 0 && !etcd_get_bool(reply, "succeeded")) {
    json_object *rs = etcd_get(reply, "responses");
    json_object *r0 = rs ? json_object_array_get_idx(rs, 0) : NULL;
    json_object *kvs = etcd_get(etcd_get(r0, "response_range"), "kvs");
    kv = kvs ? json_object_array_get_idx(kvs, 0) : NULL;
  }
  if (status != 0 || (!etcd_get_bool(reply, "succeeded") && !kv)) {
    log_warn("cluster %s: cannot read the group's instance id: %s", cl->name,
             err ? err : "no answer");
    add_ms(cl->campaign_ev, RETRY_MS * 5); /* campaign_cb starts again while STARTING */
    return;
  }
  if (kv) {
    uint8_t *v = NULL;
    size_t n = 0;
    char text[32] = "";
    if (etcd_b64_decode(etcd_get(kv, "value"), &v, &n) == 0 && n < sizeof text) memcpy(text, v, n);
    free(v);
    cl->instance = strtoull(text, NULL, 16);
  }
  if (cl->instance == 0) {
    log_error("cluster %s: the key %s holds no instance id", cl->name, cl->instance_key);
    cl->instance = 1;
  }
  cl->srv->instance = cl->instance; /* every member tells clients the group's */
  log_info("cluster %s: instance %016" PRIx64 ", following the log through etcd %s", cl->name,
           cl->instance, etcd_current_url(cl->e));
  csnap_load(cl->snap, snapshot_loaded, cl);
}

/* The group's snapshot is loaded (rc 1), or there is none (0): the log
 * is followed from the revision after it. */
static void snapshot_loaded(void *ctx, int rc, uint64_t seq, int64_t rev) {
  cluster *cl = ctx;
  if (cl->stopping || cl->role != ROLE_STARTING) return;
  if (rc < 0) {
    fail(cl, "the group's snapshot does not load");
    return;
  }
  if (rc == 1) {
    cl->last_seq = seq;
    cl->applied_rev = rev;
    if (rev > cl->etcd_rev) cl->etcd_rev = rev;
  }
  cl->role = ROLE_FOLLOWER;
  start_watch(cl);
  campaign(cl);
  add_ms(cl->campaign_ev, ttl_ms(cl));
}

/* Reads the group's instance id, putting ours if there is none yet. */
static void fetch_instance(cluster *cl) {
  char text[32];
  snprintf(text, sizeof text, "%016" PRIx64, cl->instance);
  json_object *body = etcd_txn_new();
  etcd_txn_compare(body, cl->instance_key, "VERSION", "EQUAL", 0);
  etcd_txn_put(body, false, cl->instance_key, text, strlen(text), 0);
  etcd_txn_range(body, true, cl->instance_key);
  if (etcd_call(cl->e, "/v3/kv/txn", body, instance_reply, cl) != 0)
    add_ms(cl->campaign_ev, RETRY_MS * 5);
}

static void start_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  cluster *cl = arg;
  if (cl->role == ROLE_STARTING)
    fetch_instance(cl);
  else
    campaign_cb(fd, what, arg);
}

/* ---- life cycle ---- */

int cluster_new(struct sm_server *srv, const cluster_cfg *cfg, cluster **out, char *err,
                size_t errlen) {
  if (!cfg->name || !cfg->name[0] || strlen(cfg->name) >= 128 || strchr(cfg->name, '/')) {
    snprintf(err, errlen, "--cluster NAME: a name of 1 to 127 characters without '/'");
    return -1;
  }
  if (!cfg->etcd || !cfg->etcd[0]) {
    snprintf(err, errlen, "--cluster needs --etcd URL[,URL...] (the etcd members to use)");
    return -1;
  }
  if (!cfg->advertise || !cfg->advertise[0] || strlen(cfg->advertise) >= WIRE_URL_MAX) {
    snprintf(err, errlen,
             "--cluster needs --advertise URL: how clients reach this member (tcp://host:port)");
    return -1;
  }
  if (cfg->lease_ttl_s < 0 || cfg->lease_ttl_s > 600) {
    snprintf(err, errlen, "--cluster-lease-ttl: 1 to 600 seconds");
    return -1;
  }
  if (cfg->etcd_max_request && (cfg->etcd_max_request < CLUSTER_ETCD_REQUEST_MIN ||
                                cfg->etcd_max_request > CLUSTER_ETCD_REQUEST_MAX)) {
    snprintf(err, errlen, "--etcd-max-request-bytes: 16 KiB to 1 GiB (etcd's --max-request-bytes)");
    return -1;
  }
  cluster *cl = calloc(1, sizeof *cl);
  if (!cl) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  cl->srv = srv;
  snprintf(cl->name, sizeof cl->name, "%s", cfg->name);
  snprintf(cl->advertise, sizeof cl->advertise, "%s", cfg->advertise);
  snprintf(cl->urls, sizeof cl->urls, "%s", cfg->etcd);
  cl->ttl_s = cfg->lease_ttl_s > 0 ? cfg->lease_ttl_s : CLUSTER_TTL_DEFAULT_S;
  cl->request_max = cfg->etcd_max_request ? cfg->etcd_max_request : CLUSTER_ETCD_REQUEST_DEFAULT;
  size_t value_max = cl->request_max - CLUSTER_TXN_ROOM; /* a batch's or a chunk's bytes */
  cl->batch_max = value_max < CLUSTER_BATCH_MAX ? value_max : CLUSTER_BATCH_MAX;
  snprintf(cl->prefix, sizeof cl->prefix, "/statemgr/%s/", cfg->name);
  etcd_prefix_end(cl->prefix, cl->prefix_end, sizeof cl->prefix_end);
  snprintf(cl->leader_key, sizeof cl->leader_key, "%sleader", cl->prefix);
  snprintf(cl->instance_key, sizeof cl->instance_key, "%sinstance", cl->prefix);
  snprintf(cl->log_prefix, sizeof cl->log_prefix, "%slog/", cl->prefix);
  vb_init(&cl->cur);
  etcd_tls tls = {cfg->etcd_cacert, cfg->etcd_cert, cfg->etcd_key};
  if (etcd_new(srv->base, cfg->etcd, &tls, REQUEST_TIMEOUT_MS, &cl->e, err, errlen) != 0) {
    free(cl);
    return -1;
  }
  /* A keepalive stuck on a stalled etcd member gives up in time to be sent
   * to another before the lease runs out. */
  etcd_set_fast_timeout(cl->e, cl->ttl_s * 1000 / 3);
  if (csnap_new(srv, cl->e, cl->name, cl->prefix, cl->leader_key, cl->log_prefix,
                cfg->snapshot_log_bytes, value_max, &cl->snap, err, errlen) != 0) {
    cluster_free(cl);
    return -1;
  }
  if (!(cl->snap_ev = event_new(srv->base, -1, 0, snapshot_cb, cl)) ||
      !(cl->campaign_ev = evtimer_new(srv->base, start_cb, cl)) ||
      !(cl->keepalive_ev = evtimer_new(srv->base, keepalive_cb, cl)) ||
      !(cl->lease_ev = evtimer_new(srv->base, lease_check_cb, cl)) ||
      !(cl->ship_ev = event_new(srv->base, -1, 0, ship_cb, cl)) ||
      !(cl->rewatch_ev = evtimer_new(srv->base, rewatch_cb, cl))) {
    cluster_free(cl);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  *out = cl;
  return 0;
}

int cluster_start(cluster *cl, char *err, size_t errlen) {
  while (cl->instance == 0)
    if (auth_random((uint8_t *)&cl->instance, sizeof cl->instance) != 0) {
      snprintf(err, errlen, "no randomness for the instance id");
      return -1;
    }
  cl->srv->instance = cl->instance;
  /* What the cycle collector frees is a decision, the leader's: a follower
   * frees what the leader's log says, and runs no collector of its own. */
  cyc_set_base(reg_cycles(cl->srv->reg), NULL);
  /* Expiry is one too: a follower removes what the leader's _expire
   * records name, and runs no expiry cycle of its own. */
  exp_set_base(reg_expiry(cl->srv->reg), NULL);
  log_info("cluster %s: member %s joining through etcd %s (lease %d s)", cl->name, cl->advertise,
           cl->urls, cl->ttl_s);
  fetch_instance(cl);
  return 0;
}

static void revoke_reply(void *ctx, int status, json_object *reply, const char *err) {
  (void)reply;
  cluster *cl = ctx;
  cl->revoke_done = true;
  if (status != 0) log_warn("cluster %s: revoking the lease: %s", cl->name, err);
  event_base_loopbreak(cl->srv->base);
}

void cluster_stop(cluster *cl) {
  if (!cl) return;
  cl->stopping = true;
  csnap_abandon(cl->snap);
  cmd_set_sink(cl->srv->reg, NULL, NULL);
  if (cl->watch) {
    etcd_watch_free(cl->watch);
    cl->watch = NULL;
  }
  evtimer_del(cl->campaign_ev);
  evtimer_del(cl->keepalive_ev);
  evtimer_del(cl->lease_ev);
  evtimer_del(cl->rewatch_ev);
  if (!cl->lease_id || !cl->my_rev) return;
  /* Giving the lease back deletes the leader key now: another member takes
   * over without waiting for the TTL. */
  json_object *body = json_object_new_object();
  json_object_object_add(body, "ID", json_object_new_int64(cl->lease_id));
  if (etcd_call(cl->e, "/v3/lease/revoke", body, revoke_reply, cl) != 0) return;
  struct timeval tv = {STOP_WAIT_MS / 1000, (STOP_WAIT_MS % 1000) * 1000};
  event_base_loopexit(cl->srv->base, &tv);
  event_base_dispatch(cl->srv->base);
  if (cl->revoke_done) log_info("cluster %s: lease given back", cl->name);
  cl->lease_id = 0;
}

void cluster_free(cluster *cl) {
  if (!cl) return;
  cl->role = ROLE_DEPOSED; /* callbacks of requests dropped below do nothing */
  if (cl->watch) etcd_watch_free(cl->watch);
  etcd_free(cl->e);
  csnap_free(cl->snap);
  if (cl->snap_ev) event_free(cl->snap_ev);
  if (cl->campaign_ev) event_free(cl->campaign_ev);
  if (cl->keepalive_ev) event_free(cl->keepalive_ev);
  if (cl->lease_ev) event_free(cl->lease_ev);
  if (cl->ship_ev) event_free(cl->ship_ev);
  if (cl->rewatch_ev) event_free(cl->rewatch_ev);
  while (cl->head) {
    batch *b = cl->head;
    cl->head = b->next;
    batch_free(b);
  }
  vb_free(&cl->cur);
  free(cl);
}

/* ---- what the rest of the server asks ---- */

uint64_t cluster_last_index(const cluster *cl) { return cl->last_index; }
size_t cluster_record_max(const cluster *cl) {
  return cl->request_max - CLUSTER_TXN_ROOM - BATCH_HEADER - 4 - CLUSTER_RECORD_HEAD_ROOM;
}
bool cluster_failed(const cluster *cl) { return cl->failed; }
uint64_t cluster_durable_index(const cluster *cl) { return cl->durable_index; }

bool cluster_serving(const cluster *cl) { return cl->role == ROLE_LEADER; }

bool cluster_may_answer(const cluster *cl) {
  if (cl->role == ROLE_DEPOSED) return false;
  return cl->role != ROLE_LEADER || clock_mono_ms() < cl->valid_until_ms;
}

const char *cluster_leader_url(const cluster *cl) {
  return cl->role == ROLE_DEPOSED ? "" : cl->leader;
}

void cluster_get_info(const cluster *cl, cluster_info *out) {
  csnap_info si;
  csnap_get_info(cl->snap, &si);
  *out = (cluster_info){.name = cl->name,
                        .role = role_names[cl->role],
                        .leader = cl->leader,
                        .advertise = cl->advertise,
                        .etcd = etcd_current_url(cl->e),
                        .applied_revision = cl->applied_rev,
                        .etcd_revision = cl->etcd_rev,
                        .applied_batches = cl->last_seq,
                        .snapshot_seq = si.seq,
                        .snapshot_revision = si.revision,
                        .snapshot_bytes = si.bytes,
                        .appends = cl->appends,
                        .appends_behind = cl->appends_behind,
                        .appends_retried = cl->appends_retried,
                        .lease_ttl_s = cl->ttl_s};
}
