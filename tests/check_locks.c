/* SPDX-License-Identifier: MIT */
/* check_locks.c - sm_lock, sm_rlock and sm_semaphore (plain and bounded)
 * through libstatemgr against a real statemgrd, porting the semantics of
 * CPython's Lib/test/lock_tests.py (BaseLockTests, LockTests, RLockTests,
 * BaseSemaphoreTests, BoundedSemaphoreTests): try-acquire, contention
 * between threads and processes, deadlines within a sane bound, the state
 * after a timeout, re-entrance, releases by a thread that does not hold the
 * lock, semaphore counts under contention, and the crashed holder: a
 * process holding a lock is killed with SIGKILL and a waiter in another
 * process gets it (unless the lock was made with auto_release = false,
 * when it stays held, as in Python, until someone releases it).
 *
 * Where statemgr differs from Python on purpose: a Lock with auto_release
 * (the default) released by a thread that does not hold it is SM_ENOTOWNER
 * (Python allows it), since the daemon gives a dead holder's lock back by
 * knowing who holds it. With auto_release = false it is Python's Lock. */
#include "smtest_sync.h"

/* ---- lock ---- */

/* acquire/release/locked on one thread: try-acquire of a free lock
 * succeeds, of a held one (even by this thread: a Lock is not re-entrant)
 * fails at once with SM_ETIMEOUT; release of an unheld lock is
 * SM_ENOTOWNER (test_acquire_release, test_try_acquire, test_reacquire). */
START_TEST(test_lock_basics) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_lock *l;
  OK(sm_lock_open(c, NULL, &l));
  ck_assert_str_eq(sm_proxy_type(sm_lock_proxy(l)), "lock");
  bool held = true;
  OK(sm_lock_locked(l, &held));
  ck_assert(!held);
  OK(sm_lock_acquire(l, SM_FOREVER));
  OK(sm_lock_locked(l, &held));
  ck_assert(held);
  double t0 = smtest_now_ms();
  FAILS(sm_lock_acquire(l, 0), SM_ETIMEOUT);
  ck_assert_double_lt(smtest_now_ms() - t0, 1000.0);
  OK(sm_lock_release(l));
  OK(sm_lock_locked(l, &held));
  ck_assert(!held);
  FAILS(sm_lock_release(l), SM_ENOTOWNER);
  OK(sm_lock_acquire(l, 0));
  OK(sm_lock_release(l));
  sm_lock_free(l);
  sm_client_free(c);
}
END_TEST

typedef struct contend_ctx {
  sm_lock *lock;
  sm_var *inside; /* threads holding the lock right now */
  sm_var *done;   /* threads that got and gave back the lock */
  int rc_try;     /* a try-acquire from another thread */
  int rc_release; /* a release from another thread */
} contend_ctx;

/* Each worker waits for the lock with no deadline, checks it is alone
 * inside, and gives it back. */
static int contend_worker(void *arg, int id) {
  (void)id;
  contend_ctx *x = arg;
  WOK(sm_lock_acquire(x->lock, SM_FOREVER));
  int64_t inside = 0;
  WOK(sm_var_add_int(x->inside, 1, &inside));
  WCHECK(inside == 1);
  smtest_sleep_ms(2);
  WOK(sm_var_add_int(x->inside, -1, NULL));
  WOK(sm_var_add_int(x->done, 1, NULL));
  WOK(sm_lock_release(x->lock));
  return 0;
}

static void *try_thread(void *arg) {
  contend_ctx *x = arg;
  x->rc_try = sm_lock_acquire(x->lock, 0);
  x->rc_release = sm_lock_release(x->lock);
  return NULL;
}

/* test_try_acquire_contended and test_acquire_contended: while the main
 * thread holds the lock, another thread's try-acquire fails and its
 * release is SM_ENOTOWNER; 3 threads and 2 processes then wait for it
 * (the daemon reports 5 parked calls and none got in); after the release
 * each gets it in turn, alone, and all 5 finish. */
START_TEST(test_lock_contended) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_value *zero = sm_value_int(0);
  contend_ctx x = {0};
  OK(sm_lock_open(c, NULL, &x.lock));
  OK(sm_var_open(c, NULL, zero, &x.inside));
  OK(sm_var_open(c, NULL, zero, &x.done));
  sm_value_free(zero);
  OK(sm_lock_acquire(x.lock, SM_FOREVER));
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, try_thread, &x), 0);
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  ck_assert_int_eq(x.rc_try, SM_ETIMEOUT);
  ck_assert_int_eq(x.rc_release, SM_ENOTOWNER);

  smtest_workers w;
  smtest_workers_start(&w, 2, 3, contend_worker, &x);
  smtest_wait_waiters(c, 5);
  ck_assert_int_eq(smtest_var_int(x.done), 0);
  OK(sm_lock_release(x.lock));
  smtest_workers_join(&w);
  ck_assert_int_eq(smtest_var_int(x.done), 5);
  ck_assert_int_eq(smtest_var_int(x.inside), 0);
  bool held = true;
  OK(sm_lock_locked(x.lock, &held));
  ck_assert(!held);
  sm_var_free(x.inside);
  sm_var_free(x.done);
  sm_lock_free(x.lock);
  sm_client_free(c);
}
END_TEST

typedef struct timeout_ctx {
  sm_lock *lock;
  int rc0, rc100, rc_after; /* try, 100 ms, try after the release */
  double waited0, waited100;
} timeout_ctx;

static void *timeout_thread(void *arg) {
  timeout_ctx *t = arg;
  double t0 = smtest_now_ms();
  t->rc0 = sm_lock_acquire(t->lock, 0);
  t->waited0 = smtest_now_ms() - t0;
  t0 = smtest_now_ms();
  t->rc100 = sm_lock_acquire(t->lock, 100);
  t->waited100 = smtest_now_ms() - t0;
  return NULL;
}

static void *after_thread(void *arg) {
  timeout_ctx *t = arg;
  t->rc_after = sm_lock_acquire(t->lock, 0);
  if (t->rc_after == SM_OK) sm_lock_release(t->lock);
  return NULL;
}

/* test_timeout and test_state_after_timeout: against a held lock another
 * thread's acquire with 0 fails at once and with 100 ms fails after
 * 90 ms..2.1 s, both SM_ETIMEOUT; the timed-out call left nothing behind
 * (no parked call, the lock still the holder's), and once released the
 * lock is free for a try-acquire. */
START_TEST(test_lock_timeout) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  timeout_ctx t = {0};
  OK(sm_lock_open(c, "timed", &t.lock));
  OK(sm_lock_acquire(t.lock, SM_FOREVER));
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, timeout_thread, &t), 0);
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  ck_assert_int_eq(t.rc0, SM_ETIMEOUT);
  ck_assert_double_lt(t.waited0, 1000.0);
  ck_assert_int_eq(t.rc100, SM_ETIMEOUT);
  ASSERT_DEADLINE(t.waited100, 100);
  ck_assert_int_eq(smtest_waiters(c), 0);
  OK(sm_lock_release(t.lock));
  ck_assert_int_eq(pthread_create(&th, NULL, after_thread, &t), 0);
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  ck_assert_int_eq(t.rc_after, SM_OK);
  sm_lock_free(t.lock);
  sm_client_free(c);
}
END_TEST

/* Forks a process that opens the named lock (rlock when rlock), acquires
 * it twice for an rlock, reports on the pipe, then sleeps until killed.
 * Returns its pid once it holds the lock. */
static pid_t spawn_holder(sm_client *c, const char *name, bool rlock, bool auto_release) {
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    close(p[0]);
    char ok = 'x';
    if (rlock) {
      sm_rlock *r;
      if (sm_rlock_open_ex(c, name, auto_release, &r) == SM_OK &&
          sm_rlock_acquire(r, SM_FOREVER) == SM_OK && sm_rlock_acquire(r, 0) == SM_OK)
        ok = 'y';
    } else {
      sm_lock *l;
      if (sm_lock_open_ex(c, name, auto_release, &l) == SM_OK &&
          sm_lock_acquire(l, SM_FOREVER) == SM_OK)
        ok = 'y';
    }
    if (write(p[1], &ok, 1) != 1) _exit(1);
    for (;;)
      pause();
  }
  close(p[1]);
  char ok = 0;
  ck_assert_int_eq(read(p[0], &ok, 1), 1);
  close(p[0]);
  ck_assert_msg(ok == 'y', "the holder could not take %s", name);
  return pid;
}

/* Forks a waiter that opens the named lock and acquires it with
 * timeout_ms; its exit status is 0 when it got it, 10 on SM_ETIMEOUT, and
 * (for an rlock) 11 when the recursion level it sees is not 1. */
static pid_t spawn_waiter(sm_client *c, const char *name, bool rlock, int64_t timeout_ms) {
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int rc;
    if (rlock) {
      sm_rlock *r;
      if (sm_rlock_open(c, name, &r) != SM_OK) _exit(1);
      rc = sm_rlock_acquire(r, timeout_ms);
      size_t count = 0;
      if (rc == SM_OK && (sm_rlock_count(r, &count) != SM_OK || count != 1)) _exit(11);
    } else {
      sm_lock *l;
      if (sm_lock_open(c, name, &l) != SM_OK) _exit(1);
      rc = sm_lock_acquire(l, timeout_ms);
    }
    _exit(rc == SM_OK ? 0 : rc == SM_ETIMEOUT ? 10 : 2);
  }
  return pid;
}

static int exit_status(pid_t pid) {
  int st = 0;
  ck_assert_int_eq(waitpid(pid, &st, 0), pid);
  ck_assert_msg(WIFEXITED(st), "process %d ended with status %d", (int)pid, st);
  return WEXITSTATUS(st);
}

/* The crashed holder: a process holding a lock is killed with SIGKILL
 * while a process waits for it with no deadline (parked, as the daemon
 * reports); the daemon releases the dead holder's lock and the waiter gets
 * it within 2 s of the kill. The same for an rlock held at level 2: the
 * waiter gets it at level 1. */
START_TEST(test_crashed_holder) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  for (int r = 0; r < 2; r++) {
    const char *name = r ? "crash-rlock" : "crash-lock";
    pid_t holder = spawn_holder(c, name, r == 1, true);
    pid_t waiter = spawn_waiter(c, name, r == 1, SM_FOREVER);
    smtest_wait_waiters(c, 1);
    double t0 = smtest_now_ms();
    ck_assert_int_eq(kill(holder, SIGKILL), 0);
    int st = 0;
    ck_assert_int_eq(waitpid(holder, &st, 0), holder);
    ck_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    ck_assert_int_eq(exit_status(waiter), 0);
    ck_assert_double_lt(smtest_now_ms() - t0, 2000.0);
  }
  sm_client_free(c);
}
END_TEST

/* With auto_release = false the daemon keeps Python's behaviour: the
 * killed holder's lock stays held, a waiter in another process times out
 * (SM_ETIMEOUT after its 300 ms) and locked() stays true, until another
 * thread releases it, which a Lock allows: then it is free. */
START_TEST(test_crashed_holder_kept) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  pid_t holder = spawn_holder(c, "kept", false, false);
  ck_assert_int_eq(kill(holder, SIGKILL), 0);
  ck_assert_int_eq(waitpid(holder, NULL, 0), holder);
  double t0 = smtest_now_ms();
  pid_t waiter = spawn_waiter(c, "kept", false, 300);
  ck_assert_int_eq(exit_status(waiter), 10);
  ASSERT_DEADLINE(smtest_now_ms() - t0, 300);
  sm_lock *l;
  OK(sm_lock_open(c, "kept", &l));
  bool held = false;
  OK(sm_lock_locked(l, &held));
  ck_assert(held);
  FAILS(sm_lock_acquire(l, 0), SM_ETIMEOUT);
  OK(sm_lock_release(l));
  OK(sm_lock_locked(l, &held));
  ck_assert(!held);
  FAILS(sm_lock_release(l), SM_ENOTOWNER);
  OK(sm_delete(c, "kept"));
  sm_lock_free(l);
  sm_client_free(c);
}
END_TEST

/* ---- rlock ---- */

typedef struct rl_ctx {
  sm_rlock *r;
  int rc_try, rc_release;
} rl_ctx;

static void *rl_other(void *arg) {
  rl_ctx *x = arg;
  x->rc_try = sm_rlock_acquire(x->r, 0);
  x->rc_release = sm_rlock_release(x->r);
  return NULL;
}

/* RLockTests: the holder acquires 3 times (count 3), another thread can
 * neither acquire (SM_ETIMEOUT at once) nor release (SM_ENOTOWNER,
 * test_different_thread), three releases free it (count 0, unlocked), and
 * a fourth is SM_ENOTOWNER (test_release_unacquired). */
START_TEST(test_rlock_reentrant) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  rl_ctx x = {0};
  OK(sm_rlock_open(c, NULL, &x.r));
  ck_assert_str_eq(sm_proxy_type(sm_rlock_proxy(x.r)), "rlock");
  FAILS(sm_rlock_release(x.r), SM_ENOTOWNER);
  size_t n = 9;
  OK(sm_rlock_count(x.r, &n));
  ck_assert_uint_eq(n, 0);
  OK(sm_rlock_acquire(x.r, SM_FOREVER));
  OK(sm_rlock_acquire(x.r, 0));
  OK(sm_rlock_acquire(x.r, 100));
  OK(sm_rlock_count(x.r, &n));
  ck_assert_uint_eq(n, 3);
  pthread_t th;
  ck_assert_int_eq(pthread_create(&th, NULL, rl_other, &x), 0);
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  ck_assert_int_eq(x.rc_try, SM_ETIMEOUT);
  ck_assert_int_eq(x.rc_release, SM_ENOTOWNER);
  bool held = false;
  for (size_t left = 3; left > 0; left--) {
    OK(sm_rlock_locked(x.r, &held));
    ck_assert(held);
    OK(sm_rlock_release(x.r));
    OK(sm_rlock_count(x.r, &n));
    ck_assert_uint_eq(n, left - 1);
  }
  OK(sm_rlock_locked(x.r, &held));
  ck_assert(!held);
  FAILS(sm_rlock_release(x.r), SM_ENOTOWNER);
  ck_assert_int_eq(pthread_create(&th, NULL, rl_other, &x), 0);
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  ck_assert_int_eq(x.rc_try, SM_OK); /* free now: the other thread took it */
  ck_assert_int_eq(x.rc_release, SM_OK);
  sm_rlock *bad = NULL;
  FAILS(sm_rlock_open(c, NULL, NULL), SM_EINVAL);
  char *tok = sm_proxy_token(sm_rlock_proxy(x.r));
  sm_lock *as_lock = NULL;
  FAILS(sm_lock_from_token(c, tok, &as_lock), SM_ETYPE);
  OK(sm_rlock_from_token(c, tok, &bad));
  sm_free(tok);
  sm_rlock_free(bad);
  sm_rlock_free(x.r);
  sm_client_free(c);
}
END_TEST

/* ---- semaphore ---- */

/* BaseSemaphoreTests.test_constructor / test_acquire / test_try_acquire:
 * a negative value is SM_EVALUE; a semaphore of 2 gives two units, then
 * try-acquire fails at once and a 100 ms acquire after 90 ms..2.1 s
 * (test_acquire_timeout); release(n) gives n back; release(0) is
 * SM_EVALUE. A plain semaphore may go above its initial value. */
START_TEST(test_semaphore_basics) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_semaphore *s = NULL;
  FAILS(sm_semaphore_open(c, NULL, -1, false, &s), SM_EVALUE);
  ck_assert_ptr_null(s);
  OK(sm_semaphore_open(c, NULL, 2, false, &s));
  ck_assert_str_eq(sm_proxy_type(sm_semaphore_proxy(s)), "semaphore");
  int64_t v = -1;
  OK(sm_semaphore_get_value(s, &v));
  ck_assert_int_eq(v, 2);
  OK(sm_semaphore_acquire(s, SM_FOREVER));
  OK(sm_semaphore_acquire(s, 0));
  OK(sm_semaphore_get_value(s, &v));
  ck_assert_int_eq(v, 0);
  double t0 = smtest_now_ms();
  FAILS(sm_semaphore_acquire(s, 0), SM_ETIMEOUT);
  ck_assert_double_lt(smtest_now_ms() - t0, 1000.0);
  t0 = smtest_now_ms();
  FAILS(sm_semaphore_acquire(s, 100), SM_ETIMEOUT);
  ASSERT_DEADLINE(smtest_now_ms() - t0, 100);
  OK(sm_semaphore_release(s, 2));
  OK(sm_semaphore_get_value(s, &v));
  ck_assert_int_eq(v, 2);
  FAILS(sm_semaphore_release(s, 0), SM_EVALUE);
  OK(sm_semaphore_release(s, 3));
  OK(sm_semaphore_get_value(s, &v));
  ck_assert_int_eq(v, 5);
  sm_semaphore_free(s);
  sm_client_free(c);
}
END_TEST

/* BoundedSemaphoreTests.test_release_unacquired: a bounded semaphore of 1
 * refuses a release past its initial value (SM_EVALUE, value unchanged);
 * after an acquire one release is fine and the next refused again. Its
 * token opens as an sm_semaphore; a lock's does not. */
START_TEST(test_bounded_semaphore) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_semaphore *s, *t;
  OK(sm_semaphore_open(c, "bounded", 1, true, &s));
  ck_assert_str_eq(sm_proxy_type(sm_semaphore_proxy(s)), "bounded_semaphore");
  FAILS(sm_semaphore_release(s, 1), SM_EVALUE);
  int64_t v = 0;
  OK(sm_semaphore_get_value(s, &v));
  ck_assert_int_eq(v, 1);
  OK(sm_semaphore_acquire(s, SM_FOREVER));
  FAILS(sm_semaphore_release(s, 2), SM_EVALUE);
  OK(sm_semaphore_release(s, 1));
  FAILS(sm_semaphore_release(s, 1), SM_EVALUE);
  OK(sm_semaphore_get_value(s, &v));
  ck_assert_int_eq(v, 1);
  char *tok = sm_proxy_token(sm_semaphore_proxy(s));
  OK(sm_semaphore_from_token(c, tok, &t));
  ck_assert_str_eq(sm_proxy_type(sm_semaphore_proxy(t)), "bounded_semaphore");
  sm_free(tok);
  sm_value *ref = sm_proxy_ref(sm_semaphore_proxy(s));
  sm_semaphore_free(t);
  OK(sm_semaphore_from_ref(c, ref, &t));
  sm_value_free(ref);
  sm_lock *l;
  OK(sm_lock_open(c, NULL, &l));
  tok = sm_proxy_token(sm_lock_proxy(l));
  sm_semaphore *bad = NULL;
  FAILS(sm_semaphore_from_token(c, tok, &bad), SM_ETYPE);
  ck_assert_ptr_null(bad);
  sm_free(tok);
  sm_lock_free(l);
  sm_semaphore_free(t);
  sm_semaphore_free(s);
  sm_client_free(c);
}
END_TEST

typedef struct phases_ctx {
  sm_semaphore *sem;
  pthread_mutex_t mu;
  int phase;       /* the main thread's phase number */
  int results[64]; /* the phase each acquisition saw */
  int n_results;   /* acquisitions so far */
  int n_ok;        /* acquisitions that answered SM_OK */
  int got[10];     /* acquisitions per thread */
} phases_ctx;

static int phases_record(phases_ctx *x, int id, int rc) {
  pthread_mutex_lock(&x->mu);
  if (rc == SM_OK) x->n_ok++;
  x->got[id]++;
  x->results[x->n_results++] = x->phase;
  pthread_mutex_unlock(&x->mu);
  return rc;
}

/* Two acquisitions per thread, each recorded with the phase seen. */
static int phases_worker(void *arg, int id) {
  phases_ctx *x = arg;
  WOK(phases_record(x, id, sm_semaphore_acquire(x->sem, SM_FOREVER)));
  WOK(phases_record(x, id, sm_semaphore_acquire(x->sem, SM_FOREVER)));
  return 0;
}

/* The threads still waiting for their second unit: each has exactly one
 * call parked once the acquisitions stop moving. */
static int64_t phases_waiting(phases_ctx *x) {
  pthread_mutex_lock(&x->mu);
  int n = 0;
  for (int i = 0; i < 10; i++)
    n += x->got[i] < 2;
  pthread_mutex_unlock(&x->mu);
  return n;
}

static int phases_count(phases_ctx *x, int phase) {
  pthread_mutex_lock(&x->mu);
  int n = 0;
  for (int i = 0; i < x->n_results; i++)
    n += x->results[i] == phase;
  pthread_mutex_unlock(&x->mu);
  return n;
}

static int64_t phases_total(phases_ctx *x) {
  pthread_mutex_lock(&x->mu);
  int n = x->n_results;
  pthread_mutex_unlock(&x->mu);
  return n;
}

/* BaseSemaphoreTests.test_acquire_contended: a semaphore of 7 with one
 * unit taken; 10 threads each acquire twice. Exactly 6 acquisitions get
 * through in phase 0 (every thread short of two units then has its call
 * parked); 7 releases let exactly
 * 7 more through (phase 1), 6 more releases exactly 6 more (phase 2); the
 * semaphore is then empty (try-acquire fails), and one last release lets
 * the 20th through. Every acquisition answered SM_OK. The semaphore has
 * auto_release off: units move between threads as signals. */
START_TEST(test_semaphore_contended) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  phases_ctx x = {.mu = PTHREAD_MUTEX_INITIALIZER};
  OK(sm_semaphore_open_ex(c, NULL, 7, false, false, &x.sem));
  OK(sm_semaphore_acquire(x.sem, 0));
  smtest_workers w;
  smtest_workers_start(&w, 0, 10, phases_worker, &x);
  SMTEST_REACHES(phases_total(&x), 6);
  smtest_wait_waiters(c, phases_waiting(&x));
  ck_assert_int_eq(phases_count(&x, 0), 6);
  pthread_mutex_lock(&x.mu);
  x.phase = 1;
  pthread_mutex_unlock(&x.mu);
  for (int i = 0; i < 7; i++)
    OK(sm_semaphore_release(x.sem, 1));
  SMTEST_REACHES(phases_total(&x), 13);
  smtest_wait_waiters(c, phases_waiting(&x));
  ck_assert_int_eq(phases_count(&x, 1), 7);
  pthread_mutex_lock(&x.mu);
  x.phase = 2;
  pthread_mutex_unlock(&x.mu);
  OK(sm_semaphore_release(x.sem, 6));
  SMTEST_REACHES(phases_total(&x), 19);
  smtest_wait_waiters(c, 1);
  ck_assert_int_eq(phases_waiting(&x), 1);
  ck_assert_int_eq(phases_count(&x, 2), 6);
  FAILS(sm_semaphore_acquire(x.sem, 0), SM_ETIMEOUT);
  OK(sm_semaphore_release(x.sem, 1));
  smtest_workers_join(&w);
  ck_assert_int_eq(x.n_results, 20);
  ck_assert_int_eq(x.n_ok, 20);
  int64_t v = -1;
  OK(sm_semaphore_get_value(x.sem, &v));
  ck_assert_int_eq(v, 0);
  sm_semaphore_free(x.sem);
  sm_client_free(c);
}
END_TEST

#define SEM_UNITS 3
#define SEM_ROUNDS 150

typedef struct limit_ctx {
  sm_semaphore *sem;
  sm_var *inside; /* holders right now */
  sm_var *rounds; /* rounds completed */
} limit_ctx;

/* A worker round: acquire, count itself in (never more than SEM_UNITS
 * inside), count itself out, release. */
static int limit_worker(void *arg, int id) {
  (void)id;
  limit_ctx *x = arg;
  for (int i = 0; i < SEM_ROUNDS; i++) {
    WOK(sm_semaphore_acquire(x->sem, SM_FOREVER));
    int64_t inside = 0;
    WOK(sm_var_add_int(x->inside, 1, &inside));
    WCHECK(inside >= 1 && inside <= SEM_UNITS);
    WOK(sm_var_add_int(x->inside, -1, NULL));
    WOK(sm_semaphore_release(x->sem, 1));
    WOK(sm_var_add_int(x->rounds, 1, NULL));
  }
  return 0;
}

/* Semaphore counts under contention: 4 processes and 4 threads run 150
 * rounds each through a bounded semaphore of 3; no round ever sees more
 * than 3 holders, all 1200 rounds complete, and the value is back at 3
 * (nothing lost, nothing released twice; the bounded kind would refuse an
 * extra release). */
START_TEST(test_semaphore_limit) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_value *zero = sm_value_int(0);
  limit_ctx x;
  OK(sm_semaphore_open(c, NULL, SEM_UNITS, true, &x.sem));
  OK(sm_var_open(c, NULL, zero, &x.inside));
  OK(sm_var_open(c, NULL, zero, &x.rounds));
  sm_value_free(zero);
  smtest_run_workers(4, 4, limit_worker, &x);
  ck_assert_int_eq(smtest_var_int(x.rounds), 8 * SEM_ROUNDS);
  ck_assert_int_eq(smtest_var_int(x.inside), 0);
  int64_t v = -1;
  OK(sm_semaphore_get_value(x.sem, &v));
  ck_assert_int_eq(v, SEM_UNITS);
  sm_var_free(x.inside);
  sm_var_free(x.rounds);
  sm_semaphore_free(x.sem);
  sm_client_free(c);
}
END_TEST

/* A process holding the only unit of a semaphore is killed with SIGKILL
 * while another process waits: the unit comes back (auto_release) and the
 * waiter gets it. */
START_TEST(test_semaphore_crashed_holder) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_semaphore *s;
  OK(sm_semaphore_open(c, "crash-sem", 1, true, &s));
  int p[2];
  ck_assert_int_eq(pipe(p), 0);
  pid_t holder = fork();
  ck_assert_int_ge(holder, 0);
  if (holder == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    char ok = sm_semaphore_acquire(s, SM_FOREVER) == SM_OK ? 'y' : 'n';
    if (write(p[1], &ok, 1) != 1) _exit(1);
    for (;;)
      pause();
  }
  char ok = 0;
  ck_assert_int_eq(read(p[0], &ok, 1), 1);
  ck_assert_int_eq(ok, 'y');
  close(p[0]);
  close(p[1]);
  pid_t waiter = fork();
  ck_assert_int_ge(waiter, 0);
  if (waiter == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    _exit(sm_semaphore_acquire(s, SM_FOREVER) == SM_OK ? 0 : 1);
  }
  smtest_wait_waiters(c, 1);
  ck_assert_int_eq(kill(holder, SIGKILL), 0);
  ck_assert_int_eq(waitpid(holder, NULL, 0), holder);
  ck_assert_int_eq(exit_status(waiter), 0);
  /* The waiter exited holding the unit: it comes back once more. */
  int64_t v = 0;
  SMTEST_REACHES((sm_semaphore_get_value(s, &v), v), 1);
  sm_semaphore_free(s);
  sm_client_free(c);
}
END_TEST

Suite *locks_suite(void) {
  Suite *s = suite_create("locks");
  TCase *tc = smtest_daemon_tcase(s, "lock", 60);
  tcase_add_test(tc, test_lock_basics);
  tcase_add_test(tc, test_lock_contended);
  tcase_add_test(tc, test_lock_timeout);
  tcase_add_test(tc, test_crashed_holder);
  tcase_add_test(tc, test_crashed_holder_kept);
  tc = smtest_daemon_tcase(s, "rlock", 60);
  tcase_add_test(tc, test_rlock_reentrant);
  tc = smtest_daemon_tcase(s, "semaphore", 60);
  tcase_add_test(tc, test_semaphore_basics);
  tcase_add_test(tc, test_bounded_semaphore);
  tcase_add_test(tc, test_semaphore_contended);
  tcase_add_test(tc, test_semaphore_limit);
  tcase_add_test(tc, test_semaphore_crashed_holder);
  return s;
}
