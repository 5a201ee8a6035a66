/* SPDX-License-Identifier: MIT */
/* smtest_workload.c - the workload checker shared by the crash test of a
 * durable daemon (check_crash.c) and of a replicated group
 * (check_cluster.c): client threads change shared objects of every kind
 * through one URL while the test kills daemons under them, and every
 * answered result is recorded. The clients resume their sessions after
 * each restart or failover and send their calls in flight again (exactly
 * once, protocol 3), so no call may end unknown (SM_ECLOSED: it may or may
 * not have been applied); the checks below still allow for unknown ones,
 * counted, and smtest_workload_stop fails when there were any. The checks:
 * - increments (value add): the total lies between the answered adds and
 *   those plus the unknown ones, and no two answers gave the same total
 *   (nothing applied twice);
 * - appends: every answered item is in the list once, an unknown one at
 *   most once, in the order they were sent, and nothing else;
 * - queue puts and gets (one getter never waits, the other's gets park
 *   until a put serves them): no item answered to two gets, every item got
 *   was put, and every answered put is in the queue or was got (or lost to
 *   an unknown get, at most as many as those);
 * - compare-and-set: the swaps answered true wrote distinct values, and
 *   the counter lies between them and them plus the unknown ones;
 * - a lock, with fencing: each critical section records the token of its
 *   grant, reads a counter nobody else writes and writes it plus one with
 *   a write guarded by that token. Mutual exclusion held when the answered
 *   writes wrote distinct values (two overlapping sections would read the
 *   same value and write the same one) and the counter lies between their
 *   number and that plus the unknown ones; in the order of the values they
 *   wrote, the holders' tokens strictly grow. After each release the same
 *   guarded write is sent once more with the token just given up: it must
 *   be refused with SM_EFENCED, never applied. The sections' enter and
 *   exit entries, logged to a list inside them, come in adjacent pairs for
 *   those whose release was answered OK (so they ran in one session).
 * A lock held at a crash stays its holder's (its session is resumed), so
 * a call inside a section is never fenced: that fails the test too. */
#include "smtest_workload.h"

#include "smtest.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_OPS 200000
#define N_CS 2  /* lock workers */
#define N_CAS 2 /* compare-and-set workers */

typedef enum outcome { NOT_SENT = 0, ACKED = 1, UNKNOWN = 2 } outcome;

/* What a worker thread gets: the workload and its own log. */
typedef struct worker_arg {
  smtest_workload *w;
  void *log;
} worker_arg;

typedef struct incr_log {
  int64_t acked, unknown;
  int64_t *results; /* totals the answered adds returned */
} incr_log;

typedef struct seq_log {
  const char *name; /* list or queue */
  bool queue;
  int64_t n;       /* items sent */
  uint8_t *status; /* outcome of item i */
  int64_t unknown;
} seq_log;

typedef struct get_log {
  int64_t timeout_ms; /* 0: get_nowait; more: parked, served by a put */
  int64_t n, unknown;
  int64_t *items;
} get_log;

typedef struct cas_log {
  int64_t acked, unknown;
  int64_t *written; /* the values answered swaps stored */
} cas_log;

typedef struct cs_log {
  int id;
  int64_t n;            /* critical sections entered */
  uint8_t *clean;       /* 1: its release was answered OK */
  uint64_t *token;      /* the fencing token of section i's grant */
  int64_t *wrote;       /* the counter value section i's answered guarded write stored (0: none) */
  int64_t unknown;      /* guarded writes whose outcome is unknown */
  int64_t stale_fenced; /* guarded writes with a released token refused, as they must be */
} cs_log;

struct smtest_workload {
  smtest_workload_cfg cfg;
  atomic_bool stop;
  atomic_int errors; /* unexpected statuses */
  incr_log inc;
  seq_log app, puts;
  get_log gets[2];
  cas_log cas[N_CAS];
  cs_log cs[N_CS];
  pthread_t th[16];
  worker_arg args[16]; /* th[i]'s */
  int n_th;
};

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* What a status means for the test: answered, maybe applied, or not sent
 * (the daemon is down: try again). Anything else is a failure, counted. */
static outcome classify(smtest_workload *w, int rc, const char *what) {
  if (rc == SM_OK) return ACKED;
  if (rc == SM_ECLOSED) return UNKNOWN;
  if (rc != SM_ECONNECT && rc != SM_ESHUTDOWN) {
    fprintf(stderr, "%s: %s -> %s: %s\n", w->cfg.name, what, sm_errname(rc), sm_last_error());
    atomic_fetch_add(&w->errors, 1);
  }
  sleep_ms(2);
  return NOT_SENT;
}

/* A client of the daemon or group; NULL once the workload stops before
 * one connects. Caller frees with sm_client_free(). */
static sm_client *worker_client(smtest_workload *w) {
  sm_options *o = sm_options_new();
  sm_options_set_authkey_file(o, w->cfg.authkey_file);
  sm_options_set_failover_timeout(o, w->cfg.failover_timeout_ms);
  sm_client *c = NULL;
  while (sm_connect(w->cfg.url, o, &c) != SM_OK && !atomic_load(&w->stop))
    sleep_ms(5);
  sm_options_free(o);
  return c;
}

/* Opens a named proxy, retrying while the daemon is down. */
#define OPEN_RETRY(expr)                                                                           \
  do {                                                                                             \
    while ((expr) != SM_OK)                                                                        \
      sleep_ms(5);                                                                                 \
  } while (0)

/* ---- increments ---- */

static void *incr_worker(void *arg) {
  worker_arg *wa = arg;
  smtest_workload *w = wa->w;
  incr_log *lg = wa->log;
  sm_client *c = worker_client(w);
  sm_var *v;
  OPEN_RETRY(sm_var_open(c, "inc", NULL, &v));
  while (!atomic_load(&w->stop) && lg->acked < MAX_OPS) {
    int64_t total = 0;
    outcome o = classify(w, sm_var_add_int(v, 1, &total), "add");
    if (o == ACKED) lg->results[lg->acked++] = total;
    if (o == UNKNOWN) lg->unknown++;
  }
  sm_var_free(v);
  sm_client_free(c);
  return NULL;
}

/* ---- appends, and queue puts (one sender each: items numbered) ---- */

static void *seq_worker(void *arg) {
  worker_arg *wa = arg;
  smtest_workload *w = wa->w;
  seq_log *lg = wa->log;
  sm_client *c = worker_client(w);
  sm_list *l = NULL;
  sm_queue *q = NULL;
  if (lg->queue)
    OPEN_RETRY(sm_queue_open(c, lg->name, 0, &q));
  else
    OPEN_RETRY(sm_list_open(c, lg->name, &l));
  while (!atomic_load(&w->stop) && lg->n < MAX_OPS) {
    int64_t i = lg->n;
    int rc = lg->queue ? sm_queue_put_int(q, i, -1) : sm_list_append_int(l, i);
    outcome o = classify(w, rc, lg->queue ? "put" : "append");
    if (o == NOT_SENT) continue; /* the same item again */
    lg->status[i] = (uint8_t)o;
    lg->unknown += o == UNKNOWN;
    lg->n++;
  }
  sm_list_free(l);
  sm_queue_free(q);
  sm_client_free(c);
  return NULL;
}

/* ---- queue gets ---- */

static void *get_worker(void *arg) {
  worker_arg *wa = arg;
  smtest_workload *w = wa->w;
  get_log *lg = wa->log;
  sm_client *c = worker_client(w);
  sm_queue *q;
  OPEN_RETRY(sm_queue_open(c, "q", 0, &q));
  while (!atomic_load(&w->stop) && lg->n < MAX_OPS) {
    int64_t item = -1;
    int rc = sm_queue_get_int(q, lg->timeout_ms, &item);
    if (rc == SM_EEMPTY || rc == SM_ETIMEOUT) {
      if (rc == SM_EEMPTY) sleep_ms(1);
      continue;
    }
    outcome o = classify(w, rc, "get");
    if (o == ACKED) lg->items[lg->n++] = item;
    if (o == UNKNOWN) lg->unknown++;
  }
  sm_queue_free(q);
  sm_client_free(c);
  return NULL;
}

/* ---- compare-and-set ---- */

static void *cas_worker(void *arg) {
  worker_arg *wa = arg;
  smtest_workload *w = wa->w;
  cas_log *lg = wa->log;
  sm_client *c = worker_client(w);
  sm_dict *d;
  OPEN_RETRY(sm_dict_open(c, "cas", &d));
  sm_value *key = sm_value_str("n");
  while (!atomic_load(&w->stop) && lg->acked < MAX_OPS) {
    int64_t cur = 0;
    int rc = sm_dict_get_int(d, "n", &cur);
    if (rc == SM_ENOTFOUND)
      cur = 0;
    else if (classify(w, rc, "cas get") != ACKED)
      continue;
    sm_value *expected = rc == SM_ENOTFOUND ? NULL : sm_value_int(cur);
    sm_value *desired = sm_value_int(cur + 1);
    bool swapped = false;
    outcome o = classify(w, sm_dict_cas(d, key, expected, desired, &swapped, NULL), "cas");
    if (o == ACKED && swapped) lg->written[lg->acked++] = cur + 1;
    if (o == UNKNOWN) lg->unknown++;
    sm_value_free(expected);
    sm_value_free(desired);
  }
  sm_value_free(key);
  sm_dict_free(d);
  sm_client_free(c);
  return NULL;
}

/* ---- the lock, with fencing ---- */

/* One critical section of lock worker lg, holding lk under token: logs
 * its enter, reads the counter mx (guarded by the token) and writes it
 * plus one (guarded), logs its exit. Returns true when every call in it
 * was answered OK. */
static bool cs_body(smtest_workload *w, cs_log *lg, int64_t n, sm_list *l, sm_var *mx) {
  char mark[64];
  snprintf(mark, sizeof mark, "enter %d %lld", lg->id, (long long)n);
  if (classify(w, sm_list_append_str(l, mark), "enter") != ACKED) return false;
  int64_t cur = 0;
  if (classify(w, sm_var_get_int(mx, &cur), "guarded read") != ACKED) return false;
  outcome o = classify(w, sm_var_set_int(mx, cur + 1), "guarded write");
  if (o == UNKNOWN) lg->unknown++;
  if (o != ACKED) return false;
  lg->wrote[n] = cur + 1;
  snprintf(mark, sizeof mark, "exit %d %lld", lg->id, (long long)n);
  return classify(w, sm_list_append_str(l, mark), "exit") == ACKED;
}

static void *cs_worker(void *arg) {
  worker_arg *wa = arg;
  smtest_workload *w = wa->w;
  cs_log *lg = wa->log;
  sm_client *c = worker_client(w);
  sm_lock *lk;
  sm_list *l;
  sm_var *mx;
  OPEN_RETRY(sm_lock_open(c, "lk", &lk));
  OPEN_RETRY(sm_list_open(c, "cs", &l));
  sm_value *zero = sm_value_int(0);
  OPEN_RETRY(sm_var_open(c, "mx", zero, &mx));
  sm_value_free(zero);
  while (!atomic_load(&w->stop) && lg->n < MAX_OPS) {
    uint64_t token = 0;
    int rc = sm_lock_acquire_token(lk, 2000, &token);
    if (rc == SM_ETIMEOUT) continue; /* the holder is waiting out a failover */
    if (classify(w, rc, "acquire") != ACKED) continue;
    int64_t n = lg->n++;
    lg->token[n] = token;
    bool ok = sm_proxy_set_guard(sm_var_proxy(mx), sm_lock_proxy(lk), token) == SM_OK &&
              cs_body(w, lg, n, l, mx);
    rc = sm_lock_release(lk); /* NOT_OWNER: the session changed inside */
    lg->clean[n] = ok && rc == SM_OK;
    if (rc != SM_OK) continue;
    /* The grant is over: a write under its token is refused. */
    rc = sm_var_set_int(mx, -1);
    if (rc == SM_EFENCED)
      lg->stale_fenced++;
    else if (rc == SM_OK) {
      fprintf(stderr, "%s: a guarded write with released token %llu was applied\n", w->cfg.name,
              (unsigned long long)token);
      atomic_fetch_add(&w->errors, 1);
    } else if (classify(w, rc, "stale guarded write") == UNKNOWN)
      lg->unknown++;
  }
  sm_lock_free(lk);
  sm_list_free(l);
  sm_var_free(mx);
  sm_client_free(c);
  return NULL;
}

/* ---- running ---- */

static void spawn(smtest_workload *w, void *(*fn)(void *), void *log) {
  ck_assert_int_lt(w->n_th, (int)(sizeof w->th / sizeof w->th[0]));
  worker_arg *wa = &w->args[w->n_th];
  *wa = (worker_arg){w, log};
  ck_assert_int_eq(pthread_create(&w->th[w->n_th++], NULL, fn, wa), 0);
}

smtest_workload *smtest_workload_start(const smtest_workload_cfg *cfg) {
  smtest_workload *w = calloc(1, sizeof *w);
  ck_assert_ptr_nonnull(w);
  w->cfg = *cfg;
  w->inc.results = calloc(MAX_OPS, sizeof(int64_t));
  w->app = (seq_log){.name = "app", .status = calloc(MAX_OPS, 1)};
  w->puts = (seq_log){.name = "q", .queue = true, .status = calloc(MAX_OPS, 1)};
  w->gets[0] = (get_log){.timeout_ms = 0, .items = calloc(MAX_OPS, sizeof(int64_t))};
  w->gets[1] = (get_log){.timeout_ms = 50, .items = calloc(MAX_OPS, sizeof(int64_t))};
  for (int i = 0; i < N_CAS; i++)
    w->cas[i].written = calloc(MAX_OPS, sizeof(int64_t));
  for (int i = 0; i < N_CS; i++)
    w->cs[i] = (cs_log){.id = i,
                        .clean = calloc(MAX_OPS, 1),
                        .token = calloc(MAX_OPS, sizeof(uint64_t)),
                        .wrote = calloc(MAX_OPS, sizeof(int64_t))};
  spawn(w, incr_worker, &w->inc);
  spawn(w, seq_worker, &w->app);
  spawn(w, seq_worker, &w->puts);
  spawn(w, get_worker, &w->gets[0]);
  spawn(w, get_worker, &w->gets[1]);
  for (int i = 0; i < 2; i++) {
    spawn(w, cas_worker, &w->cas[i]);
    spawn(w, cs_worker, &w->cs[i]);
  }
  return w;
}

void smtest_workload_run(smtest_workload *w, int rounds, int pause_min_ms, int pause_max_ms,
                         smtest_workload_restart_fn restart, void *arg) {
  const char *seed_env = getenv("SMTEST_SEED"); /* the seed a failed run printed */
  unsigned seed = seed_env ? (unsigned)strtoul(seed_env, NULL, 10) : (unsigned)time(NULL);
  fprintf(stderr, "%s: %d restarts, seed %u\n", w->cfg.name, rounds, seed);
  srand(seed);
  int span = pause_max_ms - pause_min_ms;
  for (int r = 0; r < rounds; r++) {
    sleep_ms(pause_min_ms + (span > 0 ? rand() % span : 0));
    restart(arg, r);
  }
}

void smtest_workload_stop(smtest_workload *w) {
  sleep_ms(100);
  atomic_store(&w->stop, true);
  for (int i = 0; i < w->n_th; i++)
    pthread_join(w->th[i], NULL);
  int64_t sections = 0, fenced = 0, cs_unknown = 0;
  for (int i = 0; i < N_CS; i++) {
    sections += w->cs[i].n;
    fenced += w->cs[i].stale_fenced;
    cs_unknown += w->cs[i].unknown;
  }
  fprintf(stderr,
          "%s: %lld adds (%lld unknown), %lld appends, %lld puts, %lld gets, %lld+%lld swaps, "
          "%lld critical sections, %lld stale guarded writes fenced\n",
          w->cfg.name, (long long)w->inc.acked, (long long)w->inc.unknown, (long long)w->app.n,
          (long long)w->puts.n, (long long)(w->gets[0].n + w->gets[1].n),
          (long long)w->cas[0].acked, (long long)w->cas[1].acked, (long long)sections,
          (long long)fenced);
  int errors = atomic_load(&w->errors);
  ck_assert_msg(errors == 0, "%s: %d calls failed unexpectedly (above)", w->cfg.name, errors);
  ck_assert_int_gt(w->inc.acked, 0);
  ck_assert_int_gt(w->app.n, 0);
  ck_assert_int_gt(w->gets[0].n + w->gets[1].n, 0);
  ck_assert_int_gt(w->cas[0].acked + w->cas[1].acked, 0);
  ck_assert_int_gt(sections, 0);
  ck_assert_int_gt(fenced, 0);
  /* Exactly once: every call in flight at a crash was answered. */
  int64_t unknown = w->inc.unknown + w->app.unknown + w->puts.unknown + w->gets[0].unknown +
                    w->gets[1].unknown + w->cas[0].unknown + w->cas[1].unknown + cs_unknown;
  ck_assert_msg(unknown == 0, "%s: %lld calls ended SM_ECLOSED across the restarts", w->cfg.name,
                (long long)unknown);
}

/* ---- checks ---- */

static int cmp_int64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static void check_distinct(int64_t *v, int64_t n, const char *what) {
  qsort(v, (size_t)n, sizeof *v, cmp_int64);
  for (int64_t i = 1; i < n; i++)
    ck_assert_msg(v[i] != v[i - 1], "%s: %lld answered twice", what, (long long)v[i]);
}

static void check_incr(sm_client *c, incr_log *lg) {
  sm_var *v;
  OK(sm_var_open(c, "inc", NULL, &v));
  int64_t total = 0;
  OK(sm_var_get_int(v, &total));
  sm_var_free(v);
  ck_assert_msg(total >= lg->acked && total <= lg->acked + lg->unknown,
                "increments: total %lld, %lld answered, %lld unknown", (long long)total,
                (long long)lg->acked, (long long)lg->unknown);
  check_distinct(lg->results, lg->acked, "increments");
  if (lg->acked) ck_assert_int_le(lg->results[lg->acked - 1], total);
}

/* The items 0..n of one sender, in order, each at most once; the acked
 * ones present. */
static void check_sequence(const seq_log *lg, const int64_t *got, size_t n_got,
                           int64_t missing_ok) {
  uint8_t *seen = calloc((size_t)lg->n + 1, 1);
  ck_assert_ptr_nonnull(seen);
  for (size_t i = 0; i < n_got; i++) {
    int64_t item = got[i];
    ck_assert_msg(item >= 0 && item < lg->n && lg->status[item] != NOT_SENT,
                  "%s: item %lld was never sent", lg->name, (long long)item);
    ck_assert_msg(!seen[item], "%s: item %lld twice", lg->name, (long long)item);
    seen[item] = 1;
  }
  int64_t missing = 0;
  for (int64_t i = 0; i < lg->n; i++)
    if (lg->status[i] == ACKED && !seen[i]) missing++;
  ck_assert_msg(missing <= missing_ok, "%s: %lld answered items missing", lg->name,
                (long long)missing);
  free(seen);
}

static void check_appends(sm_client *c, const seq_log *lg) {
  sm_list *l;
  OK(sm_list_open(c, lg->name, &l));
  sm_value *all = NULL;
  OK(sm_list_slice(l, 0, INT64_MAX, &all));
  size_t n = sm_value_len(all);
  int64_t *got = malloc((n + 1) * sizeof *got);
  for (size_t i = 0; i < n; i++) {
    got[i] = sm_value_as_int(sm_value_list_at(all, i));
    if (i) ck_assert_msg(got[i] > got[i - 1], "appends out of order at %zu", i);
  }
  check_sequence(lg, got, n, 0);
  free(got);
  sm_value_free(all);
  sm_list_free(l);
}

/* What both getters got and what is left: every item once at most, each
 * answered put there (or lost to an unknown get). */
static void check_queue(sm_client *c, const seq_log *puts, const get_log *gets) {
  sm_queue *q;
  OK(sm_queue_open(c, "q", 0, &q));
  size_t left = 0;
  OK(sm_queue_qsize(q, &left));
  size_t got = (size_t)(gets[0].n + gets[1].n);
  int64_t *all = malloc((got + left + 1) * sizeof *all);
  memcpy(all, gets[0].items, (size_t)gets[0].n * sizeof *all);
  memcpy(all + gets[0].n, gets[1].items, (size_t)gets[1].n * sizeof *all);
  size_t n = got;
  int64_t item;
  while (sm_queue_get_int(q, 0, &item) == SM_OK)
    all[n++] = item;
  ck_assert_uint_eq(n, got + left);
  sm_queue_free(q);
  check_sequence(puts, all, n, gets[0].unknown + gets[1].unknown);
  free(all);
}

static void check_cas(sm_client *c, cas_log *a, cas_log *b) {
  sm_dict *d;
  OK(sm_dict_open(c, "cas", &d));
  int64_t n = 0;
  int rc = sm_dict_get_int(d, "n", &n);
  ck_assert(rc == SM_OK || rc == SM_ENOTFOUND);
  sm_dict_free(d);
  int64_t acked = a->acked + b->acked, unknown = a->unknown + b->unknown;
  ck_assert_msg(n >= acked && n <= acked + unknown, "cas: %lld, %lld answered, %lld unknown",
                (long long)n, (long long)acked, (long long)unknown);
  int64_t *w = malloc((size_t)(acked + 1) * sizeof *w);
  memcpy(w, a->written, (size_t)a->acked * sizeof *w);
  memcpy(w + a->acked, b->written, (size_t)b->acked * sizeof *w);
  check_distinct(w, acked, "cas");
  free(w);
}

/* The clean critical sections' entries, in list order, pair up. */
static void check_cs_pairs(sm_client *c, const cs_log *logs, int n_logs) {
  sm_list *l;
  OK(sm_list_open(c, "cs", &l));
  sm_value *all = NULL;
  OK(sm_list_slice(l, 0, INT64_MAX, &all));
  int open_id = -1;
  long long open_n = -1, clean = 0;
  for (size_t i = 0; i < sm_value_len(all); i++) {
    const char *s = sm_value_as_str(sm_value_list_at(all, i), NULL);
    char kind[8];
    int id;
    long long n;
    ck_assert_int_eq(sscanf(s, "%7s %d %lld", kind, &id, &n), 3);
    ck_assert(id >= 0 && id < n_logs && n < logs[id].n);
    if (!logs[id].clean[n]) continue; /* may have run outside the lock */
    if (strcmp(kind, "enter") == 0) {
      ck_assert_msg(open_id < 0, "critical sections %d/%d and %d/%lld overlap", open_id,
                    (int)open_n, id, n);
      open_id = id;
      open_n = n;
    } else {
      ck_assert_msg(open_id == id && open_n == n, "exit %d/%lld without its enter", id, n);
      open_id = -1;
      clean++;
    }
  }
  ck_assert_int_lt(open_id, 0);
  ck_assert_int_gt(clean, 0);
  sm_value_free(all);
  sm_list_free(l);
}

typedef struct grant {
  int64_t wrote;  /* the counter value its section wrote */
  uint64_t token; /* its fencing token */
} grant;

static int cmp_grant(const void *a, const void *b) {
  const grant *x = a, *y = b;
  return (x->wrote > y->wrote) - (x->wrote < y->wrote);
}

/* The counter only the critical sections write: one answered write per
 * value (none lost to an overlapping section), each section's token
 * larger than its predecessor's. */
static void check_cs_counter(sm_client *c, const cs_log *logs, int n_logs) {
  sm_var *mx;
  OK(sm_var_open(c, "mx", NULL, &mx));
  int64_t total = 0;
  OK(sm_var_get_int(mx, &total));
  sm_var_free(mx);
  int64_t n = 0, unknown = 0;
  for (int i = 0; i < n_logs; i++) {
    n += logs[i].n;
    unknown += logs[i].unknown;
  }
  grant *g = malloc((size_t)(n + 1) * sizeof *g);
  ck_assert_ptr_nonnull(g);
  int64_t acked = 0;
  for (int i = 0; i < n_logs; i++)
    for (int64_t k = 0; k < logs[i].n; k++)
      if (logs[i].wrote[k]) g[acked++] = (grant){logs[i].wrote[k], logs[i].token[k]};
  ck_assert_msg(total >= acked && total <= acked + unknown,
                "lock: the counter is %lld after %lld answered guarded writes (%lld unknown)",
                (long long)total, (long long)acked, (long long)unknown);
  qsort(g, (size_t)acked, sizeof *g, cmp_grant);
  for (int64_t i = 1; i < acked; i++) {
    ck_assert_msg(g[i].wrote != g[i - 1].wrote,
                  "lock: two critical sections wrote %lld: they overlapped", (long long)g[i].wrote);
    ck_assert_msg(g[i].token > g[i - 1].token,
                  "lock: the holder that wrote %lld had token %llu, its predecessor (%lld) %llu",
                  (long long)g[i].wrote, (unsigned long long)g[i].token, (long long)g[i - 1].wrote,
                  (unsigned long long)g[i - 1].token);
  }
  free(g);
}

void smtest_workload_check(smtest_workload *w, sm_client *c) {
  check_incr(c, &w->inc);
  check_appends(c, &w->app);
  check_cas(c, &w->cas[0], &w->cas[1]);
  check_cs_pairs(c, w->cs, N_CS);
  check_cs_counter(c, w->cs, N_CS);
  check_queue(c, &w->puts, w->gets);
}

void smtest_workload_free(smtest_workload *w) {
  if (!w) return;
  free(w->inc.results);
  free(w->app.status);
  free(w->puts.status);
  for (int i = 0; i < 2; i++)
    free(w->gets[i].items);
  for (int i = 0; i < N_CAS; i++)
    free(w->cas[i].written);
  for (int i = 0; i < N_CS; i++) {
    free(w->cs[i].clean);
    free(w->cs[i].token);
    free(w->cs[i].wrote);
  }
  free(w);
}
