/* SPDX-License-Identifier: MIT */
/* smtest_sync.h - helpers shared by the suites of the blocking and
 * synchronisation types (check_queue.c, check_locks.c, check_condition.c,
 * check_event.c, check_barrier.c, check_array.c): status assertions, a
 * monotonic clock, waiting until the daemon reports a number of parked
 * calls, and running one worker function in several processes and threads
 * at once.
 *
 * Everything here is static inline, so each suite compiles its own copy
 * and tests/CMakeLists.txt needs no new source. Workers in processes use
 * the client they inherited over fork() (libstatemgr opens fresh
 * connections in the child); workers in threads share the test's client,
 * as DESIGN.md says a process should. */
#ifndef SMTEST_SYNC_H
#define SMTEST_SYNC_H

#include "smtest.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* In a worker: returns the line number (a non-zero status) when expr is
 * not SM_OK, after printing why. */
#define WOK(expr)                                                                                  \
  do {                                                                                             \
    int rc_ = (expr);                                                                              \
    if (rc_ != SM_OK) {                                                                            \
      fprintf(stderr, "%s:%d: %s -> %s: %s\n", __FILE__, __LINE__, #expr, sm_errname(rc_),         \
              sm_last_error());                                                                    \
      return __LINE__ % 200 + 1;                                                                   \
    }                                                                                              \
  } while (0)

/* In a worker: returns a non-zero status when cond is false. */
#define WCHECK(cond)                                                                               \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                     \
      return __LINE__ % 200 + 1;                                                                   \
    }                                                                                              \
  } while (0)

/* A "sane bound" for a deadline of ms milliseconds: not early (10 %
 * slack for clock granularity), and answered within 2 s of it. */
#define ASSERT_DEADLINE(elapsed, ms)                                                               \
  do {                                                                                             \
    double e_ = (elapsed);                                                                         \
    ck_assert_msg(e_ >= 0.9 * (ms) && e_ <= (ms) + 2000.0,                                         \
                  "a %d ms deadline answered after %.1f ms", (int)(ms), e_);                       \
  } while (0)

static inline double smtest_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static inline void smtest_sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* The daemon's count of parked calls (all objects, all connections). */
static inline int64_t smtest_waiters(sm_client *c) { return smtest_info_int(c, "waiters"); }

/* Polls until the daemon reports want parked calls (fails after 20 s). */
static inline void smtest_wait_waiters(sm_client *c, int64_t want) {
  int64_t now = -1;
  for (int waited = 0; waited < 20000; waited += 2) {
    if ((now = smtest_waiters(c)) == want) return;
    smtest_sleep_ms(2);
  }
  ck_abort_msg("the daemon reports %lld parked calls, expected %lld", (long long)now,
               (long long)want);
}

/* Polls read() until it returns want (fails after 10 s). For a count
 * that other processes move, read through the daemon. */
#define SMTEST_REACHES(read_expr, want)                                                            \
  do {                                                                                             \
    int64_t got_ = -1;                                                                             \
    for (int w_ = 0; w_ < 10000 && got_ != (want); w_ += 2) {                                      \
      got_ = (read_expr);                                                                          \
      if (got_ != (want)) smtest_sleep_ms(2);                                                      \
    }                                                                                              \
    ck_assert_msg(got_ == (want), "%s stayed at %lld, expected %lld", #read_expr, (long long)got_, \
                  (long long)(want));                                                              \
  } while (0)

/* A worker: returns 0 on success, a small non-zero status otherwise. */
typedef int (*smtest_worker_fn)(void *ctx, int id);

typedef struct smtest_thread_arg {
  smtest_worker_fn fn;
  void *ctx;
  int id;
  int status; /* out */
} smtest_thread_arg;

static inline void *smtest_thread_main(void *arg) {
  smtest_thread_arg *t = arg;
  t->status = t->fn(t->ctx, t->id);
  return NULL;
}

/* A worker group in flight: started by smtest_workers_start, reaped by
 * smtest_workers_join. */
typedef struct smtest_workers {
  int nproc, nthreads;
  pid_t pids[32];
  pthread_t th[32];
  smtest_thread_arg args[32];
} smtest_workers;

/* Starts fn in nproc child processes (ids 0..nproc-1), then in nthreads
 * threads of this process (ids nproc..nproc+nthreads-1). Children die with
 * the test process (PR_SET_PDEATHSIG) and report fn's status as their exit
 * status. */
static inline void smtest_workers_start(smtest_workers *w, int nproc, int nthreads,
                                        smtest_worker_fn fn, void *ctx) {
  ck_assert_int_le(nproc, 32);
  ck_assert_int_le(nthreads, 32);
  memset(w, 0, sizeof *w);
  w->nproc = nproc;
  w->nthreads = nthreads;
  pid_t parent = getpid();
  for (int i = 0; i < nproc; i++) {
    w->pids[i] = fork();
    ck_assert_int_ge(w->pids[i], 0);
    if (w->pids[i] == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(120);
      _exit(fn(ctx, i));
    }
  }
  for (int i = 0; i < nthreads; i++) {
    w->args[i] = (smtest_thread_arg){.fn = fn, .ctx = ctx, .id = nproc + i};
    ck_assert_int_eq(pthread_create(&w->th[i], NULL, smtest_thread_main, &w->args[i]), 0);
  }
}

/* Waits for every worker and asserts each returned 0. */
static inline void smtest_workers_join(smtest_workers *w) {
  for (int i = 0; i < w->nthreads; i++) {
    ck_assert_int_eq(pthread_join(w->th[i], NULL), 0);
    ck_assert_msg(w->args[i].status == 0, "thread worker %d failed with %d", w->args[i].id,
                  w->args[i].status);
  }
  for (int i = 0; i < w->nproc; i++) {
    int st = 0;
    ck_assert_int_eq(waitpid(w->pids[i], &st, 0), w->pids[i]);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "process worker %d ended with status %d",
                  i, st);
  }
}

/* smtest_workers_start + smtest_workers_join. */
static inline void smtest_run_workers(int nproc, int nthreads, smtest_worker_fn fn, void *ctx) {
  smtest_workers w;
  smtest_workers_start(&w, nproc, nthreads, fn, ctx);
  smtest_workers_join(&w);
}

/* A named int value's current number, read through c. */
static inline int64_t smtest_var_int(sm_var *v) {
  int64_t n = -1;
  OK(sm_var_get_int(v, &n));
  return n;
}

#endif
