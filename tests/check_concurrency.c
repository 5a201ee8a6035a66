/* SPDX-License-Identifier: MIT */
/* check_concurrency.c - many writers at once through libstatemgr against
 * a real statemgrd: compare-and-set increments from 8 processes, add_int
 * from 8 processes, threads of one process sharing one client and one
 * list, a proxy outliving the thread that opened it, thread exit closing
 * that thread's connection, and a client used before, in and after a
 * fork() child. Exact final counts prove that no update was lost or
 * applied twice. */
#include "smtest.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WRITERS 8
#define INCREMENTS 10000
#define THREADS 8
#define APPENDS 1000

/* A child's own client (exit status 90 when it cannot connect). */
static sm_client *child_connect(void) {
  sm_options *o = sm_options_new();
  sm_client *c = NULL;
  if (!o || sm_options_set_authkey_file(o, smtest_d.authkey_file) != SM_OK ||
      sm_connect(smtest_d.tcp_url, o, &c) != SM_OK) {
    fprintf(stderr, "child %d: %s\n", (int)getpid(), sm_last_error());
    _exit(90);
  }
  sm_options_free(o);
  return c;
}

/* Reaps n children and asserts each exited 0. */
static void wait_children(const pid_t *pids, int n) {
  for (int i = 0; i < n; i++) {
    int st = 0;
    ck_assert_int_eq(waitpid(pids[i], &st, 0), pids[i]);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d ended with status %d", i, st);
  }
}

/* One writer: INCREMENTS compare-and-set increments of d["n"]; a failed
 * swap retries from the value the daemon reported. Returns the exit
 * status. */
static int cas_writer(sm_client *c) {
  sm_dict *d;
  if (sm_dict_open(c, "cas-counter", &d) != SM_OK) return 1;
  sm_value *key = sm_value_str("n");
  int64_t cur = 0;
  if (sm_dict_get_int(d, "n", &cur) != SM_OK) return 2;
  for (int done = 0; done < INCREMENTS;) {
    sm_value *expected = sm_value_int(cur), *desired = sm_value_int(cur + 1), *seen = NULL;
    bool swapped = false;
    int rc = sm_dict_cas(d, key, expected, desired, &swapped, &seen);
    sm_value_free(expected);
    sm_value_free(desired);
    if (rc != SM_OK || !seen || sm_value_type(seen) != SM_INT) return 3;
    if (swapped) {
      cur++;
      done++;
    } else {
      cur = sm_value_as_int(seen);
    }
    sm_value_free(seen);
  }
  sm_value_free(key);
  sm_dict_free(d);
  return 0;
}

/* 8 processes x 10,000 compare-and-set increments on one key end at
 * exactly 80,000: every swap was atomic. Half the writers use the client
 * they inherited over fork(), half connect their own. */
START_TEST(test_cas_from_processes) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_dict *d;
  OK(sm_dict_open(c, "cas-counter", &d));
  OK(sm_dict_set_int(d, "n", 0));
  pid_t pids[WRITERS];
  for (int i = 0; i < WRITERS; i++) {
    pids[i] = fork();
    ck_assert_int_ge(pids[i], 0);
    if (pids[i] == 0) _exit(cas_writer(i % 2 ? c : child_connect()));
  }
  wait_children(pids, WRITERS);
  int64_t n = 0;
  OK(sm_dict_get_int(d, "n", &n));
  ck_assert_int_eq(n, WRITERS * INCREMENTS);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* 8 processes x 10,000 add_int(1) on one named value end at exactly
 * 80,000, and every process saw its own results strictly increase. */
START_TEST(test_add_from_processes) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_var *v;
  sm_value *zero = sm_value_int(0);
  OK(sm_var_open(c, "add-counter", zero, &v));
  sm_value_free(zero);
  pid_t pids[WRITERS];
  for (int i = 0; i < WRITERS; i++) {
    pids[i] = fork();
    ck_assert_int_ge(pids[i], 0);
    if (pids[i] == 0) {
      sm_client *mine = child_connect();
      sm_var *mv;
      if (sm_var_open(mine, "add-counter", NULL, &mv) != SM_OK) _exit(1);
      int64_t last = -1, now = 0;
      for (int k = 0; k < INCREMENTS; k++) {
        if (sm_var_add_int(mv, 1, &now) != SM_OK) _exit(2);
        if (now <= last) _exit(3);
        last = now;
      }
      sm_var_free(mv);
      sm_client_free(mine);
      _exit(0);
    }
  }
  wait_children(pids, WRITERS);
  int64_t n = 0;
  OK(sm_var_get_int(v, &n));
  ck_assert_int_eq(n, WRITERS * INCREMENTS);
  sm_var_free(v);
  sm_client_free(c);
}
END_TEST

typedef struct appender {
  sm_list *list; /* shared by every thread */
  int id;
  int failures;
} appender;

static void *append_thread(void *arg) {
  appender *a = arg;
  for (int k = 0; k < APPENDS; k++)
    if (sm_list_append_int(a->list, a->id) != SM_OK) a->failures++;
  return NULL;
}

/* Threads of one process share one client and one list: 8 threads x 1000
 * appends give exactly 8000 items, 1000 from each thread. */
START_TEST(test_threads_share_client) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_list *l;
  OK(sm_list_open(c, NULL, &l));
  pthread_t th[THREADS];
  appender a[THREADS];
  for (int i = 0; i < THREADS; i++) {
    a[i] = (appender){.list = l, .id = i};
    ck_assert_int_eq(pthread_create(&th[i], NULL, append_thread, &a[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) {
    ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    ck_assert_int_eq(a[i].failures, 0);
  }
  size_t n = 0;
  OK(sm_list_len(l, &n));
  ck_assert_uint_eq(n, THREADS * APPENDS);
  for (int i = 0; i < THREADS; i++) {
    sm_value *id = sm_value_int(i);
    size_t cnt = 0;
    OK(sm_list_count(l, id, &cnt));
    ck_assert_uint_eq(cnt, APPENDS);
    sm_value_free(id);
  }
  sm_list_free(l);
  sm_client_free(c);
}
END_TEST

typedef struct opener {
  sm_client *client;
  sm_dict *dict; /* out: opened by the thread */
  int rc;
} opener;

static void *open_thread(void *arg) {
  opener *o = arg;
  o->rc = sm_dict_open(o->client, NULL, &o->dict);
  if (o->rc == SM_OK) o->rc = sm_dict_set_int(o->dict, "by", 1);
  return NULL;
}

/* The daemon's count of connections, read through c. */
static int64_t daemon_connections(sm_client *c) {
  sm_value *info = NULL, *key = sm_value_str("connections");
  OK(sm_info(c, &info));
  int64_t n = sm_value_as_int(sm_value_map_get(info, key));
  sm_value_free(info);
  sm_value_free(key);
  return n;
}

/* An anonymous dict opened by a thread that has since exited is still
 * alive and usable from another thread (references live on the client's
 * shared connection, not the thread's), and the exited thread's own
 * connection is closed: the daemon's count goes back down. */
START_TEST(test_proxy_outlives_thread) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_dict *warm;
  OK(sm_dict_open(c, NULL, &warm)); /* opens the shared connection first */
  int64_t before = daemon_connections(c);
  opener o = {.client = c};
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, open_thread, &o), 0);
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  ck_assert_int_eq(o.rc, SM_OK);
  int64_t now = daemon_connections(c);
  for (int k = 0; k < 500 && now != before; k++) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
    now = daemon_connections(c);
  }
  ck_assert_int_eq(now, before);
  int64_t by = 0;
  OK(sm_dict_get_int(o.dict, "by", &by));
  ck_assert_int_eq(by, 1);
  sm_dict_free(o.dict);
  sm_dict_free(warm);
  sm_client_free(c);
}
END_TEST

/* One client used in the parent, then in a forked child (which opens its
 * own connections), then in the parent again: the child's writes arrive,
 * the parent's connections were left intact (its next call succeeds on the
 * same connection and its anonymous list, held by the parent's shared
 * connection, survives the child's exit). */
START_TEST(test_fork_safety) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_dict *d;
  sm_list *l;
  OK(sm_dict_open(c, "fork-phases", &d));
  OK(sm_list_open(c, NULL, &l));
  OK(sm_dict_set_int(d, "phase", 1));
  OK(sm_list_append_str(l, "parent"));
  int64_t before = daemon_connections(c);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    int64_t phase = 0;
    if (sm_dict_get_int(d, "phase", &phase) != SM_OK || phase != 1) _exit(1);
    if (sm_dict_set_int(d, "phase", 2) != SM_OK) _exit(2);
    if (sm_list_append_str(l, "child") != SM_OK) _exit(3);
    sm_dict *anon; /* created and released by the child alone */
    if (sm_dict_open(c, NULL, &anon) != SM_OK) _exit(4);
    sm_dict_free(anon);
    sm_list_free(l); /* the parent's reference: the child must not give it back */
    sm_dict_free(d);
    sm_client_free(c);
    _exit(0);
  }
  wait_children(&pid, 1);
  int64_t phase = 0;
  OK(sm_dict_get_int(d, "phase", &phase));
  ck_assert_int_eq(phase, 2);
  size_t n = 0;
  OK(sm_list_len(l, &n));
  ck_assert_uint_eq(n, 2);
  OK(sm_list_append_str(l, "parent again"));
  int64_t now = daemon_connections(c);
  for (int k = 0; k < 500 && now != before; k++) {
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL);
    now = daemon_connections(c);
  }
  ck_assert_int_eq(now, before); /* the child's connections are gone, ours remain */
  sm_list_free(l);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

Suite *concurrency_suite(void) {
  Suite *s = suite_create("concurrency");
  TCase *tc = smtest_daemon_tcase(s, "processes", 120);
  tcase_add_test(tc, test_cas_from_processes);
  tcase_add_test(tc, test_add_from_processes);
  tc = smtest_daemon_tcase(s, "threads and fork", 120);
  tcase_add_test(tc, test_threads_share_client);
  tcase_add_test(tc, test_proxy_outlives_thread);
  tcase_add_test(tc, test_fork_safety);
  return s;
}
