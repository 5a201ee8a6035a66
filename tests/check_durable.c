/* SPDX-License-Identifier: MIT */
/* check_durable.c - the durable daemon (--data-dir): what survives, and
 * what the data directory refuses.
 *
 * - Every type's state comes back after a crash (SIGKILL) and after a
 *   clean stop, named and anonymous objects alike; proxies opened before
 *   keep working (the instance comes from the data directory). Sessions of
 *   the earlier run keep their locks and semaphore units until
 *   --session-resume-timeout, then give them back.
 * - A second daemon on a directory in use, and a directory others may use,
 *   are refused with a clear message.
 * - A log cut short at the end (a crash while writing) recovers what was
 *   before the cut, at every byte offset of its last records; damage in
 *   the middle stops the start, naming the file and the offset.
 * - A full disk (RLIMIT_FSIZE set on the running daemon with prlimit)
 *   refuses changes with SM_EDISKFULL while reads go on, and changes work
 *   again once there is room; the change caught by it is answered then.
 * - A failed fdatasync (a preloaded library fails it) stops the daemon
 *   with exit status 1, the change waiting for it unanswered.
 * - Answers wait for the log: with --fsync always a client's sequential
 *   changes need a sync each, concurrent ones share them.
 * - save, snapshots by log size, the options and the private manager.
 *
 * Each test runs its own daemon with a data directory of its own in /tmp
 * (smtest passes --no-persist only when no --data-dir is given). */
#include "smtest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static void remove_tree(const char *dir) {
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}

/* A string field of info (caller frees). */
static char *info_str(sm_client *c, const char *field) {
  sm_value *info = NULL;
  OK(sm_info(c, &info));
  sm_value *k = sm_value_str(field);
  const sm_value *v = sm_value_map_get(info, k);
  ck_assert_msg(v && sm_value_type(v) == SM_STR, "info has no string \"%s\"", field);
  char *s = strdup(sm_value_as_str(v, NULL));
  sm_value_free(k);
  sm_value_free(info);
  return s;
}

/* ---- every type survives ---- */

/* The objects every-type tests make, and the proxies of the anonymous
 * ones (kept across the restart). */
typedef struct population {
  sm_dict *anon;
  char *instance;
} population;

static void populate(sm_client *c, population *pop) {
  sm_dict *d;
  OK(sm_dict_open(c, "d", &d));
  OK(sm_dict_set_int(d, "a", 1));
  OK(sm_dict_set_str(d, "b", "two"));
  sm_list *inner; /* an anonymous list, held by the dict only */
  OK(sm_list_open(c, NULL, &inner));
  OK(sm_list_append_int(inner, 10));
  OK(sm_list_append_int(inner, 20));
  sm_value *k = sm_value_str("ref"), *ref = sm_proxy_ref(sm_list_proxy(inner));
  OK(sm_dict_set(d, k, ref));
  sm_value_free(k);
  sm_value_free(ref);
  sm_list_free(inner);
  sm_dict_free(d);

  sm_list *l;
  OK(sm_list_open(c, "l", &l));
  for (int i = 1; i <= 3; i++)
    OK(sm_list_append_int(l, i));
  sm_list_free(l);

  sm_value *init = sm_value_int(40);
  sm_var *v;
  OK(sm_var_open(c, "v", init, &v));
  sm_value_free(init);
  int64_t got;
  OK(sm_var_add_int(v, 2, &got));
  sm_var_free(v);

  sm_ns *n;
  OK(sm_ns_open(c, "n", &n));
  OK(sm_ns_set_int(n, "x", 5));
  sm_ns_free(n);

  sm_array *a;
  OK(sm_array_open(c, "a", "i64", 4, &a));
  OK(sm_array_set_int(a, 2, 7));
  sm_array_free(a);

  sm_queue *q;
  OK(sm_queue_open(c, "q", 0, &q));
  for (int i = 1; i <= 3; i++)
    OK(sm_queue_put_int(q, i, -1));
  OK(sm_queue_get_int(q, 0, &got));
  ck_assert_int_eq(got, 1);
  sm_queue_free(q);

  sm_event *e;
  OK(sm_event_open(c, "e", &e));
  OK(sm_event_set(e));
  sm_event_free(e);

  sm_semaphore *s;
  OK(sm_semaphore_open(c, "s", 3, false, &s));
  OK(sm_semaphore_acquire(s, -1)); /* held by this client's session */
  sm_semaphore_free(s);

  sm_lock *lk;
  OK(sm_lock_open(c, "k", &lk));
  OK(sm_lock_acquire(lk, -1));
  sm_lock_free(lk);

  sm_rlock *r;
  OK(sm_rlock_open(c, "r", &r));
  OK(sm_rlock_acquire(r, -1));
  OK(sm_rlock_acquire(r, -1));
  sm_rlock_free(r);

  sm_barrier *b;
  OK(sm_barrier_open(c, "b", 3, &b));
  OK(sm_barrier_abort(b));
  sm_barrier_free(b);

  sm_condition *cv;
  OK(sm_condition_open(c, "c", NULL, &cv));
  sm_condition_free(cv);

  OK(sm_dict_open(c, NULL, &pop->anon));
  OK(sm_dict_set_int(pop->anon, "z", 9));
  pop->instance = info_str(c, "instance");
}

/* Checks what populate made; held tells whether the earlier client's
 * session still holds its lock, rlock and semaphore unit. */
static void verify(sm_client *c, population *pop, bool held) {
  sm_dict *d;
  OK(sm_dict_open(c, "d", &d));
  int64_t i;
  OK(sm_dict_get_int(d, "a", &i));
  ck_assert_int_eq(i, 1);
  char *str = NULL;
  OK(sm_dict_get_str(d, "b", &str));
  ck_assert_str_eq(str, "two");
  sm_free(str);
  sm_value *k = sm_value_str("ref"), *ref = NULL;
  OK(sm_dict_get(d, k, &ref));
  sm_list *inner;
  OK(sm_list_from_ref(c, ref, &inner));
  size_t n = 0;
  OK(sm_list_len(inner, &n));
  ck_assert_uint_eq(n, 2);
  OK(sm_list_get_int(inner, 1, &i));
  ck_assert_int_eq(i, 20);
  sm_list_free(inner);
  sm_value_free(ref);
  sm_value_free(k);
  sm_dict_free(d);

  sm_list *l;
  OK(sm_list_open(c, "l", &l));
  OK(sm_list_len(l, &n));
  ck_assert_uint_eq(n, 3);
  OK(sm_list_get_int(l, 2, &i));
  ck_assert_int_eq(i, 3);
  sm_list_free(l);

  sm_var *v;
  OK(sm_var_open(c, "v", NULL, &v));
  OK(sm_var_get_int(v, &i));
  ck_assert_int_eq(i, 42);
  sm_var_free(v);

  sm_ns *ns;
  OK(sm_ns_open(c, "n", &ns));
  OK(sm_ns_get_int(ns, "x", &i));
  ck_assert_int_eq(i, 5);
  sm_ns_free(ns);

  sm_array *a;
  OK(sm_array_open(c, "a", "i64", 4, &a));
  OK(sm_array_get_int(a, 2, &i));
  ck_assert_int_eq(i, 7);
  OK(sm_array_len(a, &n));
  ck_assert_uint_eq(n, 4);
  sm_array_free(a);

  sm_queue *q;
  OK(sm_queue_open(c, "q", 0, &q));
  OK(sm_queue_qsize(q, &n));
  ck_assert_uint_eq(n, 2);
  OK(sm_queue_get_int(q, 0, &i));
  ck_assert_int_eq(i, 2);
  OK(sm_queue_get_int(q, 0, &i));
  ck_assert_int_eq(i, 3);
  OK(sm_queue_put_int(q, 2, -1)); /* back in order, for a second verify */
  OK(sm_queue_put_int(q, 3, -1));
  sm_queue_free(q);

  sm_event *e;
  OK(sm_event_open(c, "e", &e));
  bool yes = false;
  OK(sm_event_is_set(e, &yes));
  ck_assert(yes);
  sm_event_free(e);

  sm_semaphore *s;
  OK(sm_semaphore_open(c, "s", 3, false, &s));
  OK(sm_semaphore_get_value(s, &i));
  ck_assert_int_eq(i, held ? 2 : 3);
  sm_semaphore_free(s);

  sm_lock *lk;
  OK(sm_lock_open(c, "k", &lk));
  OK(sm_lock_locked(lk, &yes));
  ck_assert(yes == held);
  sm_lock_free(lk);

  sm_rlock *r;
  OK(sm_rlock_open(c, "r", &r));
  OK(sm_rlock_locked(r, &yes));
  ck_assert(yes == held);
  sm_rlock_free(r);

  sm_barrier *b;
  OK(sm_barrier_open(c, "b", 5, &b));
  OK(sm_barrier_parties(b, &n));
  ck_assert_uint_eq(n, 3);
  OK(sm_barrier_broken(b, &yes));
  ck_assert(yes);
  sm_barrier_free(b);

  sm_condition *cv;
  OK(sm_condition_open(c, "c", NULL, &cv));
  OK(sm_condition_acquire(cv, 1000));
  OK(sm_condition_release(cv));
  sm_condition_free(cv);

  /* The anonymous dict's proxy of before the restart still reaches it
   * while the earlier session that holds it is suspended (the same data
   * set is the same instance); once that session ended, the dict went
   * with its last reference. */
  if (held) {
    OK(sm_dict_get_int(pop->anon, "z", &i));
    ck_assert_int_eq(i, 9);
  } else {
    FAILS(sm_dict_get_int(pop->anon, "z", &i), SM_ESTALE);
  }
  char *instance = info_str(c, "instance");
  ck_assert_str_eq(instance, pop->instance);
  free(instance);
}

/* A crash (SIGKILL) keeps every answered change of every type; the
 * earlier run's session keeps its lock, rlock and semaphore unit while its
 * resume timeout runs; the anonymous dict's proxy works on. */
START_TEST(every_type_survives_a_crash) {
  static const char *const extra[] = {"--session-resume-timeout", "60000", NULL};
  smtest_durable x;
  smtest_durable_start(&x, extra);
  sm_client *c = smtest_durable_connect(&x);
  population pop = {0};
  populate(c, &pop);
  smtest_durable_restart(&x, SIGKILL);
  verify(c, &pop, true);
  /* And again, from the log of the second run on top of the first. */
  smtest_durable_restart(&x, SIGKILL);
  verify(c, &pop, true);
  sm_dict_free(pop.anon);
  free(pop.instance);
  sm_client_free(c);
  smtest_durable_stop(&x);
}
END_TEST

/* A clean stop writes a snapshot and the restart loads it; with a resume
 * timeout of 0 the earlier run's session ends at once, giving back its
 * lock, rlock and semaphore unit. */
START_TEST(every_type_survives_a_clean_stop) {
  static const char *const extra[] = {"--session-resume-timeout", "0", NULL};
  smtest_durable x;
  smtest_durable_start(&x, extra);
  sm_client *c = smtest_durable_connect(&x);
  population pop = {0};
  populate(c, &pop);
  smtest_durable_restart(&x, SIGTERM);
  ck_assert(smtest_daemon_log_has(&x.d, "loaded", 0));
  verify(c, &pop, false);
  sm_dict_free(pop.anon);
  free(pop.instance);
  sm_client_free(c);
  smtest_durable_stop(&x);
}
END_TEST

/* The sessions of the earlier run keep what they hold for the resume
 * timeout, then the next waiter gets the lock. */
START_TEST(suspended_session_ends_after_resume_timeout) {
  static const char *const extra[] = {"--session-resume-timeout", "700", NULL};
  smtest_durable x;
  smtest_durable_start(&x, extra);
  sm_client *c = smtest_durable_connect(&x);
  sm_lock *lk;
  OK(sm_lock_open(c, "k", &lk));
  OK(sm_lock_acquire(lk, -1));
  sm_lock_free(lk);
  sm_client_free(c);
  /* The client closed: its session ended and gave the lock back; take it
   * again with a client that stays until the crash. */
  c = smtest_durable_connect(&x);
  OK(sm_lock_open(c, "k", &lk));
  OK(sm_lock_acquire(lk, -1));
  smtest_durable_restart(&x, SIGKILL);
  sm_client *c2 = smtest_durable_connect(&x);
  sm_lock *lk2;
  OK(sm_lock_open(c2, "k", &lk2));
  double t0 = smtest_now_s();
  FAILS(sm_lock_acquire(lk2, 100), SM_ETIMEOUT); /* still the suspended session's */
  OK(sm_lock_acquire(lk2, 5000));                /* given back after the timeout */
  ck_assert_msg(smtest_now_s() - t0 >= 0.4, "the lock came back after %.2f s", smtest_now_s() - t0);
  OK(sm_lock_release(lk2));
  sm_lock_free(lk2);
  sm_lock_free(lk);
  sm_client_free(c2);
  sm_client_free(c);
  smtest_durable_stop(&x);
}
END_TEST

typedef struct barrier_arg {
  sm_barrier *b;
  int64_t index;
  volatile int rc;
} barrier_arg;

static void *barrier_wait(void *p) {
  barrier_arg *a = p;
  a->rc = sm_barrier_wait(a->b, 10000, &a->index);
  return NULL;
}

/* Waits until the daemon reports n calls parked. */
static void wait_parked(sm_client *c, int64_t n) {
  for (int i = 0; i < 500 && smtest_info_int(c, "waiters") < n; i++)
    usleep(5000);
  ck_assert_int_eq(smtest_info_int(c, "waiters"), n);
}

/* A snapshot taken while a barrier's round has arrivals keeps their count:
 * the log after it holds the later arrivals and the wait that completed
 * the round, and replaying them on the snapshot must agree (a snapshot
 * without the count made that replay break the barrier and stop the
 * start). */
START_TEST(barrier_round_across_a_snapshot) {
  smtest_durable x;
  smtest_durable_start(&x, NULL);
  sm_client *c = smtest_durable_connect(&x);
  sm_barrier *b;
  OK(sm_barrier_open(c, "round", 3, &b));
  barrier_arg a[3] = {{b, -1, 1}, {b, -1, 1}, {b, -1, 1}};
  pthread_t th[3];
  ck_assert_int_eq(pthread_create(&th[0], NULL, barrier_wait, &a[0]), 0);
  wait_parked(c, 1);
  uint64_t index = 0;
  OK(sm_save(c, &index)); /* the round has one arrival */
  ck_assert_int_eq(pthread_create(&th[1], NULL, barrier_wait, &a[1]), 0);
  wait_parked(c, 2);
  ck_assert_int_eq(pthread_create(&th[2], NULL, barrier_wait, &a[2]), 0);
  for (int i = 0; i < 3; i++) {
    ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    OK(a[i].rc);
  }
  ck_assert_int_eq(a[0].index + a[1].index + a[2].index, 0 + 1 + 2);
  smtest_durable_restart(&x, SIGKILL);
  bool broken = true;
  size_t n = 9;
  OK(sm_barrier_broken(b, &broken));
  ck_assert(!broken);
  OK(sm_barrier_n_waiting(b, &n));
  ck_assert_uint_eq(n, 0);
  sm_barrier_free(b);
  sm_client_free(c);
  smtest_durable_stop(&x);
}
END_TEST

/* ---- the data directory ---- */

/* statemgrd run with args, its stderr into out: its exit status. */
static int run_daemon(const char *args, char *out, size_t outlen) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "'%s' %s 2>&1", getenv("STATEMGRD"), args);
  return smtest_run(cmd, out, outlen);
}

/* A second daemon on a data directory in use is refused, naming the pid
 * of the first; so is a directory that others may use. */
START_TEST(directory_in_use_or_open_is_refused) {
  smtest_durable x;
  smtest_durable_start(&x, NULL);
  char args[1024], out[4096];
  snprintf(args, sizeof args, "--data-dir '%s' --authkey-file '%s' --listen unix:%s/second.sock",
           x.data, x.d.authkey_file, x.base);
  ck_assert_int_eq(run_daemon(args, out, sizeof out), 1);
  char want[64];
  snprintf(want, sizeof want, "in use by another statemgrd (pid %d)", (int)x.d.pid);
  ck_assert_msg(strstr(out, want), "wanted \"%s\": %s", want, out);

  char open_dir[200];
  snprintf(open_dir, sizeof open_dir, "%s/open", x.base);
  ck_assert_int_eq(mkdir(open_dir, 0755), 0);
  ck_assert_int_eq(chmod(open_dir, 0755), 0);
  snprintf(args, sizeof args, "--data-dir '%s' --authkey-file '%s' --listen unix:%s/third.sock",
           open_dir, x.d.authkey_file, x.base);
  ck_assert_int_eq(run_daemon(args, out, sizeof out), 1);
  ck_assert_msg(strstr(out, "chmod 700"), "%s", out);

  /* Bad values of the options are usage errors. */
  snprintf(args, sizeof args, "--fsync sometimes --authkey-file '%s'", x.d.authkey_file);
  ck_assert_int_eq(run_daemon(args, out, sizeof out), 2);
  ck_assert_msg(strstr(out, "--fsync takes always, everysec or no"), "%s", out);
  snprintf(args, sizeof args, "--snapshot-log-size 0 --authkey-file '%s'", x.d.authkey_file);
  ck_assert_int_eq(run_daemon(args, out, sizeof out), 2);
  smtest_durable_stop(&x);
}
END_TEST

/* The log segment of data (there is one: every test here writes less
 * than a segment) into path. */
static void segment_path(const char *data, char *path, size_t len) {
  DIR *dir = opendir(data);
  ck_assert_ptr_nonnull(dir);
  struct dirent *e;
  int found = 0;
  while ((e = readdir(dir)))
    if (strncmp(e->d_name, "log-", 4) == 0 && strstr(e->d_name, ".seg")) {
      snprintf(path, len, "%s/%s", data, e->d_name);
      found++;
    }
  closedir(dir);
  ck_assert_int_eq(found, 1);
}

/* Bytes of file path before its zero tail (a segment is preallocated). */
static off_t data_end(const char *path) {
  int fd = open(path, O_RDONLY);
  ck_assert_int_ge(fd, 0);
  struct stat st;
  ck_assert_int_eq(fstat(fd, &st), 0);
  uint8_t *buf = malloc((size_t)st.st_size);
  ck_assert_ptr_nonnull(buf);
  ck_assert_int_eq(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
  close(fd);
  off_t end = st.st_size;
  while (end > 0 && buf[end - 1] == 0)
    end--;
  free(buf);
  return end;
}

/* Dict "t" holds keys 1..n with values equal to the key, for one n: its
 * length. Fails on any gap or wrong value. */
static size_t prefix_len(sm_client *c) {
  sm_dict *t;
  OK(sm_dict_open(c, "t", &t));
  size_t n = 0;
  OK(sm_dict_len(t, &n));
  for (size_t k = 1; k <= n; k++) {
    int64_t v = -1;
    OK(sm_dict_iget_int(t, (int64_t)k, &v));
    ck_assert_int_eq(v, (int64_t)k);
  }
  sm_dict_free(t);
  return n;
}

#define TORN_KEYS 40

/* A log cut at every byte offset of its last records (zeroed, as a torn
 * write into a preallocated segment leaves it, or truncated) recovers:
 * the daemon starts, logs what it dropped, and holds the records before
 * the cut, none after it. */
START_TEST(torn_tail_recovers_at_every_offset) {
  smtest_durable x;
  smtest_durable_start(&x, NULL);
  sm_client *c = smtest_durable_connect(&x);
  sm_dict *t;
  OK(sm_dict_open(c, "t", &t));
  for (int64_t k = 1; k <= TORN_KEYS; k++)
    OK(sm_dict_iset_int(t, k, k));
  sm_dict_free(t);
  /* Killed before the client goes: the sets end the log (a client's close
   * would add the end of its sessions). */
  smtest_daemon_kill(&x.d, SIGKILL);
  sm_client_free(c);
  char pristine[200], seg[400], cmd[800];
  snprintf(pristine, sizeof pristine, "%s/pristine", x.base);
  snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", x.data, pristine);
  ck_assert_int_eq(system(cmd), 0);
  segment_path(x.data, seg, sizeof seg);
  off_t end = data_end(seg);
  size_t least = TORN_KEYS;
  int torn_logged = 0;
  /* The last records are dict sets of some 60 bytes: 120 bytes cut
   * reach into the second or third one from the end. Under valgrind, where each
   * start takes a second, every seventh offset. */
  const char *vg = getenv("SMTEST_VALGRIND");
  off_t step = vg && strcmp(vg, "1") == 0 ? 7 : 1;
  int cuts = 0;
  for (off_t cut = 1; cut <= 120; cut += step, cuts++) {
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -a '%s' '%s'", x.data, pristine, x.data);
    ck_assert_int_eq(system(cmd), 0);
    if (cut % 2) {
      ck_assert_int_eq(truncate(seg, end - cut), 0);
    } else {
      int fd = open(seg, O_WRONLY);
      ck_assert_int_ge(fd, 0);
      uint8_t zeros[120] = {0};
      ck_assert_int_eq(pwrite(fd, zeros, (size_t)cut, end - cut), cut);
      close(fd);
    }
    smtest_daemon_restart_args(&x.d, x.args);
    /* A cut at a record's start leaves a log that simply ends there. */
    torn_logged += smtest_daemon_log_has(&x.d, "cut short", 0);
    c = smtest_durable_connect(&x);
    size_t n = prefix_len(c);
    ck_assert_msg(n < TORN_KEYS && n + 3 >= TORN_KEYS, "cut %d: %zu keys", (int)cut, n);
    if (n < least) least = n;
    sm_client_free(c);
    smtest_daemon_kill(&x.d, SIGKILL);
  }
  ck_assert_uint_le(least, TORN_KEYS - 2); /* the cuts reached more than one record */
  ck_assert_int_ge(torn_logged, cuts - 3); /* all but the cuts at a record's start */
  smtest_daemon_restart_args(&x.d, x.args);
  smtest_durable_stop(&x);
}
END_TEST

/* A damaged record with valid ones after it is not a torn tail: the start
 * stops with exit status 1 and a message naming the segment and the
 * offset; nothing is cut. */
START_TEST(damage_in_the_middle_stops_the_start) {
  smtest_durable x;
  smtest_durable_start(&x, NULL);
  sm_client *c = smtest_durable_connect(&x);
  sm_dict *t;
  OK(sm_dict_open(c, "t", &t));
  for (int64_t k = 1; k <= TORN_KEYS; k++)
    OK(sm_dict_iset_int(t, k, k));
  sm_dict_free(t);
  sm_client_free(c);
  smtest_daemon_kill(&x.d, SIGKILL);
  char seg[400];
  segment_path(x.data, seg, sizeof seg);
  off_t end = data_end(seg);
  int fd = open(seg, O_RDWR);
  ck_assert_int_ge(fd, 0);
  uint8_t byte;
  ck_assert_int_eq(pread(fd, &byte, 1, end / 2), 1);
  byte ^= 0x5a;
  ck_assert_int_eq(pwrite(fd, &byte, 1, end / 2), 1);
  close(fd);
  char args[1024], out[4096];
  snprintf(args, sizeof args, "--data-dir '%s' --authkey-file '%s' --listen unix:%s/again.sock",
           x.data, x.d.authkey_file, x.base);
  ck_assert_int_eq(run_daemon(args, out, sizeof out), 1);
  const char *name = strrchr(seg, '/') + 1;
  ck_assert_msg(strstr(out, name) && strstr(out, "offset"), "wanted %s and an offset: %s", name,
                out);
  ck_assert_int_eq(data_end(seg), end); /* left as it was, for statemgr-check */
  remove_tree(x.base);
}
END_TEST

/* ---- a full disk ---- */

/* A change made from a thread of its own (its own connection), which
 * waits on the disk: d[key] = value, its status in rc. */
typedef struct set_arg {
  sm_dict *d;
  const char *key;
  int64_t value;
  volatile int rc;
  /* When set: the thread's connection is made (a read) first, then the
   * thread waits there again until the test lets its change go. */
  pthread_barrier_t *connected;
} set_arg;

static void *set_in_thread(void *p) {
  set_arg *a = p;
  if (a->connected) {
    size_t n;
    OK(sm_dict_len(a->d, &n));
    pthread_barrier_wait(a->connected);
    pthread_barrier_wait(a->connected);
  }
  a->rc = sm_dict_set_int(a->d, a->key, a->value);
  return NULL;
}

/* The disk fills (the daemon's RLIMIT_FSIZE drops to one byte, SIGXFSZ
 * ignored: writes fail with EFBIG): the change that meets it waits,
 * further changes get SM_EDISKFULL, reads of objects whose changes are
 * durable are answered (info too); once the limit is back, the waiting
 * change is answered and changes work again. */
START_TEST(disk_full_refuses_changes_until_room_returns) {
  smtest_durable x;
  smtest_durable_start(&x, NULL);
  sm_client *c = smtest_durable_connect(&x);
  sm_dict *other, *full;
  OK(sm_dict_open(c, "other", &other));
  OK(sm_dict_open(c, "full", &full));
  OK(sm_dict_set_int(other, "k", 1));
  /* The change that meets the full disk, from a connection made before. */
  pthread_barrier_t connected;
  ck_assert_int_eq(pthread_barrier_init(&connected, NULL, 2), 0);
  set_arg w = {full, "caught", 1, -1, &connected};
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, set_in_thread, &w), 0);
  pthread_barrier_wait(&connected);
  struct rlimit small = {1, RLIM_INFINITY}, old;
  ck_assert_int_eq(prlimit(x.d.pid, RLIMIT_FSIZE, NULL, &old), 0);
  small.rlim_max = old.rlim_max;
  ck_assert_int_eq(prlimit(x.d.pid, RLIMIT_FSIZE, &small, NULL), 0);
  /* Only now the change goes: it is the one that meets the full disk (sent
   * before the limit, it could be written and answered first). */
  pthread_barrier_wait(&connected);
  int64_t is_full = 0;
  for (int i = 0; i < 500 && !is_full; i++) {
    is_full = smtest_info_int(c, "disk_full");
    if (!is_full) usleep(10000);
  }
  ck_assert_int_eq(is_full, 1);
  FAILS(sm_dict_set_int(other, "k", 2), SM_EDISKFULL);
  ck_assert_msg(strstr(sm_last_error(), "disk is full"), "%s", sm_last_error());
  int64_t v = 0;
  OK(sm_dict_get_int(other, "k", &v)); /* reads go on */
  ck_assert_int_eq(v, 1);
  ck_assert_int_eq(w.rc, -1); /* the caught change waits */

  ck_assert_int_eq(prlimit(x.d.pid, RLIMIT_FSIZE, &old, NULL), 0);
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  pthread_barrier_destroy(&connected);
  ck_assert_int_eq(w.rc, SM_OK);
  OK(sm_dict_set_int(other, "k", 3));
  ck_assert_int_eq(smtest_info_int(c, "disk_full"), 0);
  OK(sm_dict_get_int(full, "caught", &v));
  ck_assert_int_eq(v, 1);
  sm_dict_free(other);
  sm_dict_free(full);
  sm_client_free(c);
  smtest_durable_restart(&x, SIGKILL); /* everything answered is there */
  c = smtest_durable_connect(&x);
  OK(sm_dict_open(c, "other", &other));
  OK(sm_dict_get_int(other, "k", &v));
  ck_assert_int_eq(v, 3);
  sm_dict_free(other);
  sm_client_free(c);
  smtest_durable_stop(&x);
}
END_TEST

/* A client connecting from a thread of its own: the client (NULL when the
 * connection failed) and whether the thread is done. */
typedef struct connect_arg {
  const smtest_durable *x;
  sm_client *c;
  atomic_bool done;
} connect_arg;

static void *connect_in_thread(void *p) {
  connect_arg *a = p;
  a->c = smtest_durable_connect(a->x);
  atomic_store(&a->done, true);
  return NULL;
}

/* The disk fills, and the first record that meets it is a new client's
 * session start: the client gets through its handshake at once (its
 * session's start is on no answer's way but those of its own changes,
 * which come after it in the log), opens named objects, reads, and is
 * refused changes with SM_EDISKFULL; a client that connects and leaves
 * holds back no answer of others; once there is room its changes work, and what it was
 * answered survives a crash. Before, its AuthResult waited for the disk. */
START_TEST(client_connects_while_the_disk_is_full) {
  smtest_durable x;
  smtest_durable_start(&x, NULL);
  sm_client *c = smtest_durable_connect(&x);
  sm_dict *d;
  OK(sm_dict_open(c, "d", &d));
  OK(sm_dict_set_int(d, "k", 1));
  struct rlimit small = {1, RLIM_INFINITY}, old;
  ck_assert_int_eq(prlimit(x.d.pid, RLIMIT_FSIZE, NULL, &old), 0);
  small.rlim_max = old.rlim_max;
  ck_assert_int_eq(prlimit(x.d.pid, RLIMIT_FSIZE, &small, NULL), 0);

  connect_arg a = {.x = &x};
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, connect_in_thread, &a), 0);
  for (int i = 0; i < 300 && !atomic_load(&a.done); i++)
    usleep(10000);
  bool connected = atomic_load(&a.done);
  if (!connected) ck_assert_int_eq(prlimit(x.d.pid, RLIMIT_FSIZE, &old, NULL), 0); /* let it go */
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  ck_assert_msg(connected, "a client connecting while the disk is full waits in its handshake");
  ck_assert_int_eq(smtest_info_int(c, "disk_full"), 1);

  sm_dict *d2;
  OK(sm_dict_open(a.c, "d", &d2));
  int64_t v = 0;
  OK(sm_dict_get_int(d2, "k", &v)); /* reads go on */
  ck_assert_int_eq(v, 1);
  FAILS(sm_dict_set_int(d2, "k", 2), SM_EDISKFULL);
  /* A client that comes and goes while the disk is full (as the CLI does):
   * the end of its session, which held no object, holds back no answer. */
  int64_t conns = smtest_info_int(c, "connections");
  sm_client *b = smtest_durable_connect(&x);
  sm_dict *d3;
  OK(sm_dict_open(b, "d", &d3)); /* a create that only opens: it goes on */
  sm_dict_free(d3);
  sm_client_free(b);
  while (smtest_info_int(c, "connections") > conns) /* info is answered after its end too */
    usleep(10000);

  ck_assert_int_eq(prlimit(x.d.pid, RLIMIT_FSIZE, &old, NULL), 0);
  int rc = SM_EDISKFULL;
  for (int i = 0; i < 500 && rc == SM_EDISKFULL; i++) /* room is found by the next write */
    if ((rc = sm_dict_set_int(d2, "k", 3)) == SM_EDISKFULL) usleep(10000);
  OK(rc);
  smtest_durable_restart(&x, SIGKILL);
  OK(sm_dict_get_int(d2, "k", &v));
  ck_assert_int_eq(v, 3);
  sm_dict_free(d2);
  sm_client_free(a.c);
  sm_dict_free(d);
  sm_client_free(c);
  smtest_durable_stop(&x);
}
END_TEST

/* ---- a failed sync ---- */

/* fdatasync fails (EIO, from a library preloaded into the daemon): the
 * daemon stops at once with exit status 1 and the reason in its log,
 * without answering the change that waited for the sync; started again
 * (syncing), it holds what was answered before. */
START_TEST(failed_sync_stops_the_daemon) {
  const char *lib = getenv("SMTEST_FAILSYNC_LIB");
  ck_assert_msg(lib && *lib, "ctest sets SMTEST_FAILSYNC_LIB");
  char flag[128];
  smtest_durable x;
  /* The daemon inherits these; ASan must let the library load first. */
  snprintf(flag, sizeof flag, "/tmp/smfailsync.%d", (int)getpid());
  unlink(flag);
  setenv("LD_PRELOAD", lib, 1);
  setenv("SMTEST_FAIL_FSYNC", flag, 1);
  setenv("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1:verify_asan_link_order=0", 1);
  smtest_durable_start(&x, NULL);
  unsetenv("LD_PRELOAD");
  sm_client *c = smtest_durable_connect(&x);
  sm_dict *d;
  OK(sm_dict_open(c, "d", &d));
  OK(sm_dict_set_int(d, "before", 1));
  FILE *f = fopen(flag, "w");
  ck_assert_ptr_nonnull(f);
  fclose(f);
  set_arg a = {d, "after", 2, 1, NULL};
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, set_in_thread, &a), 0);
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  /* Never answered OK: the thread's new connection fails in its handshake
   * (its session's start waits for the failed sync), or its call does. */
  ck_assert_msg(a.rc == SM_ECLOSED || a.rc == SM_ECONNECT, "%s", sm_errname(a.rc));
  ck_assert(smtest_daemon_log_has(&x.d, "fdatasync", 2000));
  ck_assert_int_eq(smtest_daemon_kill(&x.d, 0), 1); /* signal 0: wait for it to exit */
  unlink(flag);
  unsetenv("SMTEST_FAIL_FSYNC");
  smtest_daemon_restart_args(&x.d, x.args);
  int64_t v = 0;
  OK(sm_dict_get_int(d, "before", &v));
  ck_assert_int_eq(v, 1);
  sm_dict_free(d);
  sm_client_free(c);
  smtest_durable_stop(&x);
}
END_TEST

/* ---- answers wait for the log ---- */

#define SEQ_WRITES 60
#define GROUP_THREADS 8
#define GROUP_WRITES 40

static void *group_writer(void *p) {
  const smtest_durable *x = p;
  sm_client *c = smtest_durable_connect(x);
  sm_var *v;
  int rc = sm_var_open(c, "g", NULL, &v);
  for (int i = 0; rc == SM_OK && i < GROUP_WRITES; i++)
    rc = sm_var_add_int(v, 1, NULL);
  sm_var_free(v);
  sm_client_free(c);
  return (void *)(intptr_t)rc;
}

/* With --fsync always each answer waits for the sync of its record: a
 * client's sequential changes cost one fdatasync each (were answers sent
 * before the sync, the next changes would join its batch); concurrent
 * clients share them (group commit). */
START_TEST(answers_wait_for_the_sync) {
  smtest_durable x;
  smtest_durable_start(&x, NULL);
  sm_client *c = smtest_durable_connect(&x);
  sm_var *v;
  OK(sm_var_open(c, "s", NULL, &v));
  int64_t before = smtest_info_int(c, "log_syncs");
  for (int i = 0; i < SEQ_WRITES; i++)
    OK(sm_var_set_int(v, i));
  int64_t seq = smtest_info_int(c, "log_syncs") - before;
  ck_assert_msg(seq >= SEQ_WRITES, "%d sequential changes, %" PRId64 " syncs", SEQ_WRITES, seq);
  ck_assert_int_ge(smtest_info_int(c, "durable_index"), smtest_info_int(c, "log_index"));

  before = smtest_info_int(c, "log_syncs");
  pthread_t th[GROUP_THREADS];
  for (int i = 0; i < GROUP_THREADS; i++)
    ck_assert_int_eq(pthread_create(&th[i], NULL, group_writer, &x), 0);
  for (int i = 0; i < GROUP_THREADS; i++) {
    void *rc;
    pthread_join(th[i], &rc);
    ck_assert_int_eq((int)(intptr_t)rc, SM_OK);
  }
  int64_t shared = smtest_info_int(c, "log_syncs") - before;
  ck_assert_msg(shared < GROUP_THREADS * GROUP_WRITES, "%d concurrent changes, %" PRId64 " syncs",
                GROUP_THREADS * GROUP_WRITES, shared);
  sm_var *g;
  OK(sm_var_open(c, "g", NULL, &g));
  int64_t total = 0;
  OK(sm_var_get_int(g, &total));
  ck_assert_int_eq(total, GROUP_THREADS * GROUP_WRITES);
  sm_var_free(g);
  sm_var_free(v);
  sm_client_free(c);
  smtest_durable_stop(&x);
}
END_TEST

/* ---- snapshots ---- */

static bool file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* save answers once a snapshot holding every change before it is on
 * disk: its file is there, info names it, and a crash right after starts
 * from it. The CLI prints its index. A daemon in memory refuses. */
START_TEST(save_writes_a_snapshot) {
  smtest_durable x;
  smtest_durable_start(&x, NULL);
  sm_client *c = smtest_durable_connect(&x);
  sm_dict *d;
  OK(sm_dict_open(c, "d", &d));
  OK(sm_dict_set_int(d, "k", 1));
  uint64_t index = 0;
  OK(sm_save(c, &index));
  ck_assert_uint_eq((uint64_t)smtest_info_int(c, "last_snapshot_index"), index);
  ck_assert_uint_ge((uint64_t)smtest_info_int(c, "log_index"), index);
  char path[300];
  snprintf(path, sizeof path, "%s/snapshot-%020" PRIu64 ".snap", x.data, index);
  ck_assert_msg(file_exists(path), "no %s", path);
  char *status = info_str(c, "last_snapshot_status");
  ck_assert_str_eq(status, "ok");
  free(status);

  char cmd[1024], out[256];
  snprintf(cmd, sizeof cmd, "'%s' -u '%s' --authkey-file '%s' save", getenv("STATEMGR_CLI"),
           x.d.unix_url, x.d.authkey_file);
  ck_assert_int_eq(smtest_run(cmd, out, sizeof out), 0);
  ck_assert_uint_ge(strtoull(out, NULL, 10), index);

  OK(sm_dict_set_int(d, "k", 2));
  sm_dict_free(d);
  smtest_durable_restart(&x, SIGKILL);
  ck_assert(smtest_daemon_log_has(&x.d, "loaded", 0));
  OK(sm_dict_open(c, "d", &d));
  int64_t v = 0;
  OK(sm_dict_get_int(d, "k", &v));
  ck_assert_int_eq(v, 2); /* the snapshot, then the log after it */
  sm_dict_free(d);
  sm_client_free(c);
  smtest_durable_stop(&x);

  smtest_daemon m;
  smtest_daemon_start(&m, NULL);
  c = smtest_connect(&m, NULL);
  FAILS(sm_save(c, NULL), SM_EVALUE);
  ck_assert_msg(strstr(sm_last_error(), "--no-persist"), "%s", sm_last_error());
  char *p = info_str(c, "persistence");
  ck_assert_str_eq(p, "off");
  free(p);
  sm_client_free(c);
  ck_assert_int_eq(smtest_daemon_stop(&m), 0);
}
END_TEST

/* A backup is the snapshot save wrote: alone in an empty data directory
 * it starts a daemon with the state it holds and the same instance id. */
START_TEST(a_copied_snapshot_restores) {
  smtest_durable x;
  smtest_durable_start(&x, NULL);
  sm_client *c = smtest_durable_connect(&x);
  sm_dict *d;
  OK(sm_dict_open(c, "d", &d));
  OK(sm_dict_set_int(d, "k", 1));
  uint64_t index = 0;
  OK(sm_save(c, &index));
  OK(sm_dict_set_int(d, "later", 2)); /* after the backup: not in it */
  sm_dict_free(d);
  char *instance = info_str(c, "instance");
  sm_client_free(c);
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "mkdir -m 700 '%s/restored' && cp '%s/snapshot-%020" PRIu64 ".snap' '%s/restored/'",
           x.base, x.data, index, x.base);
  ck_assert_int_eq(system(cmd), 0);
  ck_assert_int_eq(smtest_daemon_stop(&x.d), 0);

  char restored[200];
  snprintf(restored, sizeof restored, "%s/restored", x.base);
  const char *args[] = {"--data-dir", restored, NULL};
  smtest_daemon r;
  smtest_daemon_start(&r, args);
  c = smtest_connect(&r, NULL);
  OK(sm_dict_open(c, "d", &d));
  int64_t v = 0;
  OK(sm_dict_get_int(d, "k", &v));
  ck_assert_int_eq(v, 1);
  FAILS(sm_dict_get_int(d, "later", &v), SM_ENOTFOUND);
  char *again = info_str(c, "instance");
  ck_assert_str_eq(again, instance);
  free(again);
  free(instance);
  sm_dict_free(d);
  sm_client_free(c);
  ck_assert_int_eq(smtest_daemon_stop(&r), 0);
  remove_tree(x.base);
}
END_TEST

/* Past --snapshot-log-size of log, a snapshot is taken by itself and the
 * log it covers goes; everything comes back after a crash. Also: the
 * settings from a --config file. */
START_TEST(snapshot_by_log_size) {
  char base[64], conf[128];
  snprintf(base, sizeof base, "/tmp/smconf.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(base));
  snprintf(conf, sizeof conf, "%s/statemgrd.conf", base);
  FILE *f = fopen(conf, "w");
  ck_assert_ptr_nonnull(f);
  fputs("fsync = everysec\nsnapshot-log-size = 64K\n", f);
  fclose(f);
  const char *extra[] = {"--config", conf, NULL};
  smtest_durable x;
  smtest_durable_start(&x, extra);
  sm_client *c = smtest_durable_connect(&x);
  char *mode = info_str(c, "fsync");
  ck_assert_str_eq(mode, "everysec");
  free(mode);
  sm_list *l;
  OK(sm_list_open(c, "big", &l));
  char item[200];
  memset(item, 'x', sizeof item - 1);
  item[sizeof item - 1] = '\0';
  for (int i = 0; i < 1200; i++) /* some 300 KB of records */
    OK(sm_list_append_str(l, item));
  int64_t snaps = 0;
  for (int i = 0; i < 300 && snaps < 1; i++) {
    snaps = smtest_info_int(c, "snapshots");
    if (snaps < 1) usleep(10000);
  }
  ck_assert_int_ge(snaps, 1);
  ck_assert_int_lt(smtest_info_int(c, "log_bytes"), 300 * 1024);
  smtest_durable_restart(&x, SIGKILL);
  size_t n = 0;
  OK(sm_list_len(l, &n));
  ck_assert_uint_eq(n, 1200);
  sm_list_free(l);
  sm_client_free(c);
  smtest_durable_stop(&x);
  remove_tree(base);
}
END_TEST

/* ---- the private manager ---- */

/* sm_manager_start keeps its state in memory, as Python's Manager(), unless
 * its options name a data directory: then a second manager on the
 * directory finds the first one's objects. */
START_TEST(manager_in_memory_unless_given_a_directory) {
  sm_manager *m;
  OK(sm_manager_start(NULL, &m));
  char *p = info_str(sm_manager_client(m), "persistence");
  ck_assert_str_eq(p, "off");
  free(p);
  OK(sm_manager_shutdown(m));

  char base[64], data[128];
  snprintf(base, sizeof base, "/tmp/smmgr.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(base));
  snprintf(data, sizeof data, "%s/data", base);
  sm_manager_options *o = sm_manager_options_new();
  OK(sm_manager_options_set_data_dir(o, data));
  OK(sm_manager_start(o, &m));
  p = info_str(sm_manager_client(m), "persistence");
  ck_assert_str_eq(p, "on");
  free(p);
  sm_dict *d;
  OK(sm_dict_open(sm_manager_client(m), "kept", &d));
  OK(sm_dict_set_int(d, "k", 7));
  sm_dict_free(d);
  OK(sm_manager_shutdown(m));
  OK(sm_manager_start(o, &m));
  OK(sm_dict_open(sm_manager_client(m), "kept", &d));
  int64_t v = 0;
  OK(sm_dict_get_int(d, "k", &v));
  ck_assert_int_eq(v, 7);
  sm_dict_free(d);
  OK(sm_manager_shutdown(m));
  sm_manager_options_free(o);
  remove_tree(base);
}
END_TEST

Suite *durable_suite(void) {
  Suite *s = suite_create("durable");
  TCase *tc = tcase_create("survive");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, every_type_survives_a_crash);
  tcase_add_test(tc, every_type_survives_a_clean_stop);
  tcase_add_test(tc, suspended_session_ends_after_resume_timeout);
  tcase_add_test(tc, barrier_round_across_a_snapshot);
  suite_add_tcase(s, tc);
  tc = tcase_create("directory");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, directory_in_use_or_open_is_refused);
  tcase_add_test(tc, torn_tail_recovers_at_every_offset);
  tcase_add_test(tc, damage_in_the_middle_stops_the_start);
  suite_add_tcase(s, tc);
  tc = tcase_create("disk");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, disk_full_refuses_changes_until_room_returns);
  tcase_add_test(tc, client_connects_while_the_disk_is_full);
  tcase_add_test(tc, failed_sync_stops_the_daemon);
  suite_add_tcase(s, tc);
  tc = tcase_create("log");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, answers_wait_for_the_sync);
  tcase_add_test(tc, save_writes_a_snapshot);
  tcase_add_test(tc, a_copied_snapshot_restores);
  tcase_add_test(tc, snapshot_by_log_size);
  tcase_add_test(tc, manager_in_memory_unless_given_a_directory);
  suite_add_tcase(s, tc);
  return s;
}
