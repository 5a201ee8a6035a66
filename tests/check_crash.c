/* SPDX-License-Identifier: MIT */
/* check_crash.c - the crash test of issue 10: clients change shared
 * objects of every kind while the daemon is killed (SIGKILL) at random
 * moments and started again on its data directory, CRASH_KILLS times
 * (SMTEST_LONG=1: CRASH_KILLS_LONG; SMTEST_SEED=N repeats the kill times
 * of a run that printed seed N). Every answered result is recorded.
 * The clients resume their sessions after each restart and send their
 * calls in flight again (exactly once, protocol 3), so no call may end
 * unknown (SM_ECLOSED: it may or may not have been applied); the checks
 * below still allow for unknown ones, counted, and the test then fails
 * when there were any. Afterwards, once more after a last crash:
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
 * - a lock: the critical sections whose release was answered OK (so they
 *   ran in one session, start to end) never overlap: their enter and exit
 *   entries, logged to a list inside them, come in adjacent pairs.
 * The sessions of a killed daemon stay suspended for a long resume
 * timeout, and each client takes its own back: a lock held at the crash
 * stays its holder's, whose release then works (a critical section is
 * clean unless a call in it failed). */
#include "smtest.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CRASH_KILLS 50
#define CRASH_KILLS_LONG 500
#define MAX_OPS 200000

typedef enum outcome { NOT_SENT = 0, ACKED = 1, UNKNOWN = 2 } outcome;

static smtest_daemon dmn;
static char data_base[64], data_dir[128];
static const char *dmn_args[10];
static atomic_bool stop_workers;
static atomic_int worker_errors;

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* What a status means for the test: answered, maybe applied, or not sent
 * (the daemon is down: try again). Anything else is a failure, counted. */
static outcome classify(int rc, const char *what) {
  if (rc == SM_OK) return ACKED;
  if (rc == SM_ECLOSED) return UNKNOWN;
  if (rc != SM_ECONNECT && rc != SM_ESHUTDOWN) {
    fprintf(stderr, "crash: %s -> %s: %s\n", what, sm_errname(rc), sm_last_error());
    atomic_fetch_add(&worker_errors, 1);
  }
  sleep_ms(2);
  return NOT_SENT;
}

static sm_client *worker_client(void) {
  sm_options *o = sm_options_new();
  sm_options_set_authkey_file(o, dmn.authkey_file);
  sm_options_set_failover_timeout(o, 30000); /* calls in flight wait for the restart */
  sm_client *c = NULL;
  while (sm_connect(dmn.unix_url, o, &c) != SM_OK && !atomic_load(&stop_workers))
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

typedef struct incr_log {
  int64_t acked, unknown;
  int64_t *results; /* totals the answered adds returned */
} incr_log;

static void *incr_worker(void *arg) {
  incr_log *lg = arg;
  sm_client *c = worker_client();
  sm_var *v;
  OPEN_RETRY(sm_var_open(c, "inc", NULL, &v));
  while (!atomic_load(&stop_workers) && lg->acked < MAX_OPS) {
    int64_t total = 0;
    outcome o = classify(sm_var_add_int(v, 1, &total), "add");
    if (o == ACKED) lg->results[lg->acked++] = total;
    if (o == UNKNOWN) lg->unknown++;
  }
  sm_var_free(v);
  sm_client_free(c);
  return NULL;
}

/* ---- appends, and queue puts (one sender each: items numbered) ---- */

typedef struct seq_log {
  const char *name; /* list or queue */
  bool queue;
  int64_t n;       /* items sent */
  uint8_t *status; /* outcome of item i */
  int64_t unknown;
} seq_log;

static void *seq_worker(void *arg) {
  seq_log *lg = arg;
  sm_client *c = worker_client();
  sm_list *l = NULL;
  sm_queue *q = NULL;
  if (lg->queue)
    OPEN_RETRY(sm_queue_open(c, lg->name, 0, &q));
  else
    OPEN_RETRY(sm_list_open(c, lg->name, &l));
  while (!atomic_load(&stop_workers) && lg->n < MAX_OPS) {
    int64_t i = lg->n;
    int rc = lg->queue ? sm_queue_put_int(q, i, -1) : sm_list_append_int(l, i);
    outcome o = classify(rc, lg->queue ? "put" : "append");
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

typedef struct get_log {
  int64_t timeout_ms; /* 0: get_nowait; more: parked, served by a put */
  int64_t n, unknown;
  int64_t *items;
} get_log;

static void *get_worker(void *arg) {
  get_log *lg = arg;
  sm_client *c = worker_client();
  sm_queue *q;
  OPEN_RETRY(sm_queue_open(c, "q", 0, &q));
  while (!atomic_load(&stop_workers) && lg->n < MAX_OPS) {
    int64_t item = -1;
    int rc = sm_queue_get_int(q, lg->timeout_ms, &item);
    if (rc == SM_EEMPTY || rc == SM_ETIMEOUT) {
      if (rc == SM_EEMPTY) sleep_ms(1);
      continue;
    }
    outcome o = classify(rc, "get");
    if (o == ACKED) lg->items[lg->n++] = item;
    if (o == UNKNOWN) lg->unknown++;
  }
  sm_queue_free(q);
  sm_client_free(c);
  return NULL;
}

/* ---- compare-and-set ---- */

typedef struct cas_log {
  int64_t acked, unknown;
  int64_t *written; /* the values answered swaps stored */
} cas_log;

static void *cas_worker(void *arg) {
  cas_log *lg = arg;
  sm_client *c = worker_client();
  sm_dict *d;
  OPEN_RETRY(sm_dict_open(c, "cas", &d));
  sm_value *key = sm_value_str("n");
  while (!atomic_load(&stop_workers) && lg->acked < MAX_OPS) {
    int64_t cur = 0;
    int rc = sm_dict_get_int(d, "n", &cur);
    if (rc == SM_ENOTFOUND)
      cur = 0;
    else if (classify(rc, "cas get") != ACKED)
      continue;
    sm_value *expected = rc == SM_ENOTFOUND ? NULL : sm_value_int(cur);
    sm_value *desired = sm_value_int(cur + 1);
    bool swapped = false;
    outcome o = classify(sm_dict_cas(d, key, expected, desired, &swapped, NULL), "cas");
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

/* ---- the lock ---- */

typedef struct cs_log {
  int id;
  int64_t n;      /* critical sections entered */
  uint8_t *clean; /* 1: its release was answered OK */
} cs_log;

static void *cs_worker(void *arg) {
  cs_log *lg = arg;
  sm_client *c = worker_client();
  sm_lock *lk;
  sm_list *l;
  OPEN_RETRY(sm_lock_open(c, "lk", &lk));
  OPEN_RETRY(sm_list_open(c, "cs", &l));
  while (!atomic_load(&stop_workers) && lg->n < MAX_OPS) {
    if (classify(sm_lock_acquire(lk, 2000), "acquire") != ACKED) continue;
    int64_t n = lg->n++;
    char mark[64];
    snprintf(mark, sizeof mark, "enter %d %lld", lg->id, (long long)n);
    bool ok = classify(sm_list_append_str(l, mark), "enter") == ACKED;
    snprintf(mark, sizeof mark, "exit %d %lld", lg->id, (long long)n);
    ok = ok && classify(sm_list_append_str(l, mark), "exit") == ACKED;
    int rc = sm_lock_release(lk); /* NOT_OWNER: the session changed inside */
    lg->clean[n] = ok && rc == SM_OK;
  }
  sm_lock_free(lk);
  sm_list_free(l);
  sm_client_free(c);
  return NULL;
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
static void check_cs(sm_client *c, cs_log *logs, int n_logs) {
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

/* ---- the test ---- */

START_TEST(acknowledged_results_survive_random_kills) {
  snprintf(data_base, sizeof data_base, "/tmp/smcrash.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(data_base));
  snprintf(data_dir, sizeof data_dir, "%s/data", data_base);
  const char *args[] = {"--data-dir",
                        data_dir,
                        "--session-resume-timeout",
                        "30000",
                        "--snapshot-log-size",
                        "256K",
                        "--log-level",
                        "info",
                        NULL};
  memcpy(dmn_args, args, sizeof args);
  smtest_daemon_start(&dmn, dmn_args);
  const char *long_env = getenv("SMTEST_LONG");
  int kills = long_env && strcmp(long_env, "1") == 0 ? CRASH_KILLS_LONG : CRASH_KILLS;

  incr_log inc = {.results = calloc(MAX_OPS, sizeof(int64_t))};
  seq_log app = {.name = "app", .status = calloc(MAX_OPS, 1)};
  seq_log puts = {.name = "q", .queue = true, .status = calloc(MAX_OPS, 1)};
  get_log gets[2] = {{.timeout_ms = 0, .items = calloc(MAX_OPS, sizeof(int64_t))},
                     {.timeout_ms = 50, .items = calloc(MAX_OPS, sizeof(int64_t))}};
  cas_log cas[2] = {{.written = calloc(MAX_OPS, sizeof(int64_t))},
                    {.written = calloc(MAX_OPS, sizeof(int64_t))}};
  cs_log cs[2] = {{.id = 0, .clean = calloc(MAX_OPS, 1)}, {.id = 1, .clean = calloc(MAX_OPS, 1)}};
  pthread_t th[10];
  int n_th = 0;
  atomic_store(&stop_workers, false);
  atomic_store(&worker_errors, 0);
  pthread_create(&th[n_th++], NULL, incr_worker, &inc);
  pthread_create(&th[n_th++], NULL, seq_worker, &app);
  pthread_create(&th[n_th++], NULL, seq_worker, &puts);
  pthread_create(&th[n_th++], NULL, get_worker, &gets[0]);
  pthread_create(&th[n_th++], NULL, get_worker, &gets[1]);
  for (int i = 0; i < 2; i++) {
    pthread_create(&th[n_th++], NULL, cas_worker, &cas[i]);
    pthread_create(&th[n_th++], NULL, cs_worker, &cs[i]);
  }
  const char *seed_env = getenv("SMTEST_SEED"); /* the seed a failed run printed */
  unsigned seed = seed_env ? (unsigned)strtoul(seed_env, NULL, 10) : (unsigned)time(NULL);
  fprintf(stderr, "crash: %d kills, seed %u\n", kills, seed);
  srand(seed);
  for (int k = 0; k < kills; k++) {
    sleep_ms(20 + rand() % 120);
    smtest_daemon_kill(&dmn, SIGKILL);
    smtest_daemon_restart_args(&dmn, dmn_args);
  }
  sleep_ms(100);
  atomic_store(&stop_workers, true);
  for (int i = 0; i < n_th; i++)
    pthread_join(th[i], NULL);
  ck_assert_int_eq(atomic_load(&worker_errors), 0);
  fprintf(stderr,
          "crash: %lld adds (%lld unknown), %lld appends, %lld puts, %lld gets, %lld+%lld "
          "swaps, %lld+%lld critical sections\n",
          (long long)inc.acked, (long long)inc.unknown, (long long)app.n, (long long)puts.n,
          (long long)(gets[0].n + gets[1].n), (long long)cas[0].acked, (long long)cas[1].acked,
          (long long)cs[0].n, (long long)cs[1].n);
  ck_assert_int_gt(inc.acked, 0);
  ck_assert_int_gt(gets[0].n + gets[1].n, 0);
  /* Exactly once: every call in flight at a crash was answered. */
  int64_t unknown = inc.unknown + app.unknown + puts.unknown + gets[0].unknown + gets[1].unknown +
                    cas[0].unknown + cas[1].unknown;
  ck_assert_msg(unknown == 0, "%lld calls ended SM_ECLOSED across the restarts",
                (long long)unknown);

  /* One more crash with nothing in flight: all answered is still there. */
  smtest_daemon_kill(&dmn, SIGKILL);
  smtest_daemon_restart_args(&dmn, dmn_args);
  sm_client *c = smtest_connect(&dmn, dmn.unix_url);
  check_incr(c, &inc);
  check_appends(c, &app);
  check_cas(c, &cas[0], &cas[1]);
  check_cs(c, cs, 2);
  check_queue(c, &puts, gets);
  sm_client_free(c);
  ck_assert_int_eq(smtest_daemon_stop(&dmn), 0);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", data_base);
  ck_assert_int_eq(system(cmd), 0);
  free(inc.results);
  free(app.status);
  free(puts.status);
  free(gets[0].items);
  free(gets[1].items);
  for (int i = 0; i < 2; i++) {
    free(cas[i].written);
    free(cs[i].clean);
  }
}
END_TEST

Suite *crash_suite(void) {
  Suite *s = suite_create("crash");
  TCase *tc = tcase_create("kills");
  tcase_set_timeout(tc, 600);
  tcase_add_test(tc, acknowledged_results_survive_random_kills);
  suite_add_tcase(s, tc);
  return s;
}
