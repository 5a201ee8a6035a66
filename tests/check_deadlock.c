/* SPDX-License-Identifier: MIT */
/* check_deadlock.c - the wait-for graph and deadlock detection
 * (server/waitfor.h) against a real statemgrd, with processes.
 *
 * Two and three processes each take one lock and then wait for the next
 * one's: the wait that closes the cycle fails at once with SM_EDEADLK,
 * nothing else does, and the others go on once it lets go. With
 * --deadlock report the closing wait parks instead, and is counted. A
 * holder waiting for its own plain lock is a cycle of one; a semaphore's
 * own units are not (another holder's release may come). The listing
 * (sm_locks) shows holders and waiters. The stress test runs many
 * processes taking random pairs of locks, each recording in shared memory
 * what it holds and what it waits for: every SM_EDEADLK answer must find a
 * cycle back to its process in that record (the others of a true cycle are
 * parked and cannot move until it lets go), and no acquire may outlast its
 * 20 s deadline (a cycle that was not reported would hang until then). */
#include "smtest_sync.h"

#include <stdatomic.h>
#include <sys/mman.h>

static int exit_status(pid_t pid) {
  int st = 0;
  ck_assert_int_eq(waitpid(pid, &st, 0), pid);
  ck_assert_msg(WIFEXITED(st), "process %d ended with status %d", (int)pid, st);
  return WEXITSTATUS(st);
}

/* ---- a ring of n processes ---- */

#define RING_MAX 3

/* Process i of a ring holds lock i, says so, waits until all hold theirs,
 * then acquires lock (i+1) % n. Each but the last waits; the last closes
 * the cycle. Exit: 0 acquired (then released), 2 SM_EDEADLK, else 1. */
typedef struct ring {
  atomic_int holding; /* processes that hold their own lock */
  atomic_int go;      /* set: process i may acquire lock i+1 */
  atomic_int refused; /* which process got SM_EDEADLK (-1: none) */
} ring;

static int ring_member(ring *r, int i, int n, const char *base) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  char name[64];
  sm_lock *mine, *next;
  snprintf(name, sizeof name, "%s-%d", base, i);
  if (sm_lock_open(c, name, &mine) != SM_OK) return 1;
  snprintf(name, sizeof name, "%s-%d", base, (i + 1) % n);
  if (sm_lock_open(c, name, &next) != SM_OK) return 1;
  if (sm_lock_acquire(mine, SM_FOREVER) != SM_OK) return 1;
  atomic_fetch_add(&r->holding, 1);
  while (atomic_load(&r->go) <= i)
    smtest_sleep_ms(1);
  int rc = sm_lock_acquire(next, 20000);
  if (rc == SM_EDEADLK) {
    atomic_store(&r->refused, i);
    if (!strstr(sm_last_error(), "deadlock")) return 1;
    sm_lock_release(mine); /* the way out: the others go on */
    return 2;
  }
  if (rc != SM_OK) return 1;
  sm_lock_release(next);
  sm_lock_release(mine);
  return 0;
}

/* Runs a ring of n; process i starts its second acquire only after the
 * ones before it parked, so the last one closes the cycle. */
static void run_ring(int n, const char *base) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  int64_t before = smtest_info_int(c, "deadlocks");
  ring *r = mmap(NULL, sizeof *r, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ck_assert_ptr_ne(r, MAP_FAILED);
  atomic_init(&r->holding, 0);
  atomic_init(&r->go, 0);
  atomic_init(&r->refused, -1);
  pid_t pids[RING_MAX];
  for (int i = 0; i < n; i++) {
    pids[i] = fork();
    ck_assert_int_ge(pids[i], 0);
    if (pids[i] == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      _exit(ring_member(r, i, n, base));
    }
  }
  SMTEST_REACHES(atomic_load(&r->holding), n);
  int64_t waiting = smtest_waiters(c);
  for (int i = 0; i < n - 1; i++) {
    atomic_store(&r->go, i + 1);
    smtest_wait_waiters(c, waiting + i + 1);
  }
  atomic_store(&r->go, n);
  for (int i = 0; i < n; i++)
    ck_assert_int_eq(exit_status(pids[i]), i == n - 1 ? 2 : 0);
  ck_assert_int_eq(atomic_load(&r->refused), n - 1);
  ck_assert_int_eq(smtest_info_int(c, "deadlocks"), before + 1);
  munmap(r, sizeof *r);
  sm_client_free(c);
}

START_TEST(test_two_processes) { run_ring(2, "ring2"); }
END_TEST

START_TEST(test_three_processes) { run_ring(3, "ring3"); }
END_TEST

/* A holder waiting for its own plain lock waits forever in Python: here it
 * is a cycle of one, refused at once even with a deadline; a try (0) is
 * still a TIMEOUT. An rlock is re-entrant, and a semaphore's own units do
 * not count: both wait their deadline. */
START_TEST(test_self_wait) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_lock *l;
  sm_semaphore *s;
  OK(sm_lock_open(c, "self-lock", &l));
  OK(sm_semaphore_open(c, "self-sem", 1, false, &s));
  OK(sm_lock_acquire(l, SM_FOREVER));
  FAILS(sm_lock_acquire(l, 0), SM_ETIMEOUT);
  double t0 = smtest_now_ms();
  FAILS(sm_lock_acquire(l, 5000), SM_EDEADLK);
  ck_assert_double_lt(smtest_now_ms() - t0, 2500.0);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "waits for lock"));
  OK(sm_lock_release(l));
  OK(sm_semaphore_acquire(s, SM_FOREVER));
  FAILS(sm_semaphore_acquire(s, 100), SM_ETIMEOUT);
  OK(sm_semaphore_release(s, 1));
  sm_semaphore_free(s);
  sm_lock_free(l);
  sm_client_free(c);
}
END_TEST

/* sm_locks: the held lock with its holder's session, client name, token
 * and how long it has held it, and the parked waiter with how long it has
 * waited. */
START_TEST(test_locks_listing) {
  sm_options *o = sm_options_new();
  OK(sm_options_set_authkey_file(o, smtest_d.authkey_file));
  OK(sm_options_set_client_name(o, "lister"));
  sm_client *c;
  OK(sm_connect(smtest_d.tcp_url, o, &c));
  sm_options_free(o);
  sm_lock *l;
  OK(sm_lock_open_policy(c, "listed", SM_OWNER_BREAK, &l));
  uint64_t t = 0;
  OK(sm_lock_acquire_token(l, SM_FOREVER, &t));
  pid_t w = fork();
  ck_assert_int_ge(w, 0);
  if (w == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    sm_client *c2 = smtest_connect(&smtest_d, NULL);
    sm_lock *l2;
    if (sm_lock_open(c2, "listed", &l2) != SM_OK) _exit(1);
    int rc = sm_lock_acquire(l2, 10000);
    _exit(rc == SM_OK ? 0 : 1);
  }
  smtest_wait_waiters(c, 1);
  smtest_sleep_ms(20);
  sm_value *list = NULL;
  OK(sm_locks(c, &list));
  char *text = sm_value_to_text(list);
  ck_assert_int_eq(sm_value_len(list), 1);
  const sm_value *m = sm_value_list_at(list, 0);
  sm_value *k = sm_value_str("name");
  ck_assert_str_eq(sm_value_as_str(sm_value_map_get(m, k), NULL), "listed");
  sm_value_free(k);
  k = sm_value_str("policy");
  ck_assert_str_eq(sm_value_as_str(sm_value_map_get(m, k), NULL), "break");
  sm_value_free(k);
  k = sm_value_str("token");
  ck_assert_int_eq(sm_value_as_int(sm_value_map_get(m, k)), (int64_t)t);
  sm_value_free(k);
  k = sm_value_str("holders");
  const sm_value *hs = sm_value_map_get(m, k);
  sm_value_free(k);
  ck_assert_int_eq(sm_value_len(hs), 1);
  k = sm_value_str("client");
  ck_assert_str_eq(sm_value_as_str(sm_value_map_get(sm_value_list_at(hs, 0), k), NULL), "lister");
  sm_value_free(k);
  k = sm_value_str("held_ms"); /* acquired before the waiter parked, 20 ms and more ago */
  const sm_value *held = sm_value_map_get(sm_value_list_at(hs, 0), k);
  sm_value_free(k);
  ck_assert_msg(held && sm_value_as_int(held) >= 20 && sm_value_as_int(held) < 60000, "%s", text);
  k = sm_value_str("waiters");
  const sm_value *ws = sm_value_map_get(m, k);
  sm_value_free(k);
  ck_assert_msg(sm_value_len(ws) == 1, "%s", text);
  k = sm_value_str("waited_ms");
  ck_assert_int_ge(sm_value_as_int(sm_value_map_get(sm_value_list_at(ws, 0), k)), 20);
  sm_value_free(k);
  sm_free(text);
  sm_value_free(list);
  OK(sm_lock_release(l));
  ck_assert_int_eq(exit_status(w), 0);
  OK(sm_locks(c, &list));
  ck_assert_int_eq(sm_value_len(list), 0);
  sm_value_free(list);
  sm_lock_free(l);
  sm_client_free(c);
}
END_TEST

/* ---- holders' times across restarts ---- */

/* The held_ms of the only holder of the object named name in the listing
 * of c, or -1 when it is not listed or has no held_ms. */
static int64_t holder_held_ms(sm_client *c, const char *name) {
  sm_value *list = NULL;
  OK(sm_locks(c, &list));
  int64_t held = -1;
  sm_value *kn = sm_value_str("name"), *kh = sm_value_str("holders"),
           *kms = sm_value_str("held_ms");
  for (size_t i = 0; i < sm_value_len(list); i++) {
    const sm_value *m = sm_value_list_at(list, i);
    const sm_value *n = sm_value_map_get(m, kn);
    if (!n || strcmp(sm_value_as_str(n, NULL), name) != 0) continue;
    const sm_value *hs = sm_value_map_get(m, kh);
    const sm_value *ms =
        hs && sm_value_len(hs) == 1 ? sm_value_map_get(sm_value_list_at(hs, 0), kms) : NULL;
    if (ms) held = sm_value_as_int(ms);
  }
  sm_value_free(kn);
  sm_value_free(kh);
  sm_value_free(kms);
  sm_value_free(list);
  return held;
}

/* A lock's, an rlock's and a semaphore's holder shows held_ms from its
 * grant as that command's time: after a crash (the log replayed) and
 * after a clean stop (the snapshot loaded), while the holder's session
 * waits to be resumed, it still counts from the grant, not from the
 * restart. */
START_TEST(test_held_ms_survives_restarts) {
  static const char *const names[] = {"held-lock", "held-rlock", "held-sem"};
  const char *args[] = {"--session-resume-timeout", "60000", NULL};
  smtest_durable x;
  smtest_durable_start(&x, args);
  sm_client *holder = smtest_durable_connect(&x);
  sm_lock *l;
  sm_rlock *r;
  sm_semaphore *s;
  double before = smtest_now_ms();
  OK(sm_lock_open(holder, names[0], &l));
  OK(sm_lock_acquire(l, SM_FOREVER));
  OK(sm_rlock_open(holder, names[1], &r));
  OK(sm_rlock_acquire(r, SM_FOREVER));
  OK(sm_rlock_acquire(r, SM_FOREVER)); /* a second level: still since the first */
  OK(sm_semaphore_open(holder, names[2], 2, false, &s));
  OK(sm_semaphore_acquire(s, SM_FOREVER));
  double granted = smtest_now_ms();
  OK(sm_semaphore_acquire(s, SM_FOREVER)); /* a second unit: still since the first */
  smtest_sleep_ms(300);
  for (int round = 0; round < 3; round++) {
    if (round > 0) smtest_durable_restart(&x, round == 1 ? SIGKILL : SIGTERM);
    sm_client *c = smtest_durable_connect(&x);
    for (int i = 0; i < 3; i++) {
      double t0 = smtest_now_ms();
      int64_t held = holder_held_ms(c, names[i]);
      double t1 = smtest_now_ms();
      /* Between the listing and the grants, with 5 ms for the two clocks'
       * rounding. */
      ck_assert_msg(held >= (int64_t)(t0 - granted) - 5 && held <= (int64_t)(t1 - before) + 5,
                    "round %d, %s: held_ms %lld, the grant %.0f to %.0f ms before", round, names[i],
                    (long long)held, t0 - granted, t1 - before);
    }
    sm_client_free(c);
  }
  sm_semaphore_free(s);
  sm_rlock_free(r);
  sm_lock_free(l);
  sm_client_free(holder);
  smtest_durable_stop(&x);
}
END_TEST

/* ---- --deadlock report ---- */

static smtest_daemon rd;

/* The closing wait of a ring of two parks instead, is counted, and ends
 * with its deadline (the other's too: both wait for each other). */
START_TEST(test_report_mode) {
  const char *args[] = {"--deadlock", "report", NULL};
  smtest_daemon_start(&rd, args);
  sm_client *c = smtest_connect(&rd, NULL);
  sm_lock *a, *b;
  OK(sm_lock_open(c, "rep-a", &a));
  OK(sm_lock_open(c, "rep-b", &b));
  OK(sm_lock_acquire(a, SM_FOREVER));
  int fds[2];
  ck_assert_int_eq(pipe(fds), 0);
  pid_t p = fork();
  ck_assert_int_ge(p, 0);
  if (p == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    sm_client *c2 = smtest_connect(&rd, NULL);
    sm_lock *a2, *b2;
    if (sm_lock_open(c2, "rep-a", &a2) != SM_OK || sm_lock_open(c2, "rep-b", &b2) != SM_OK ||
        sm_lock_acquire(b2, SM_FOREVER) != SM_OK || write(fds[1], "y", 1) != 1)
      _exit(1);
    int rc = sm_lock_acquire(a2, 5000); /* parks; gets a once the parent lets go */
    _exit(rc == SM_OK ? 0 : 1);
  }
  char ok = 0;
  ck_assert_int_eq(read(fds[0], &ok, 1), 1); /* the child holds b */
  close(fds[0]);
  close(fds[1]);
  smtest_wait_waiters(c, 1);
  double t0 = smtest_now_ms();
  FAILS(sm_lock_acquire(b, 300), SM_ETIMEOUT); /* reported only: it waited */
  ck_assert_double_ge(smtest_now_ms() - t0, 250.0);
  ck_assert_int_eq(smtest_info_int(c, "deadlocks"), 1);
  ck_assert(smtest_daemon_log_has(&rd, "deadlock: session", 2000));
  OK(sm_lock_release(a));
  ck_assert_int_eq(exit_status(p), 0);
  sm_lock_free(a);
  sm_lock_free(b);
  sm_client_free(c);
  smtest_daemon_stop_checked(&rd);
}
END_TEST

/* ---- stress ---- */

#define ST_PROCS 8
#define ST_LOCKS 4
#define ST_ROUNDS 150

/* What each process holds and waits for, as it last said (a superset of
 * the daemon's view while it is parked: set before each call, cleared
 * after the answer). */
typedef struct stress {
  atomic_int holder[ST_LOCKS]; /* 1 + process index, 0: nobody */
  atomic_int waits[ST_PROCS];  /* 1 + lock index, 0: nothing */
  atomic_int refused;          /* SM_EDEADLK answers */
  atomic_int confirmed;        /* of those, cycles found in the record */
  atomic_int completed;        /* rounds that got both locks */
} stress;

/* A refused process i (holding a, refused b): walks the record from b's
 * holder along what each waits for; a true cycle comes back to i. */
static bool cycle_back(stress *st, int i, int b) {
  int lock = b;
  for (int step = 0; step < ST_PROCS + 1; step++) {
    int h = atomic_load(&st->holder[lock]) - 1;
    if (h < 0) return false;
    if (h == i) return true;
    int w = atomic_load(&st->waits[h]) - 1;
    if (w < 0) return false;
    lock = w;
  }
  return false;
}

static int stress_worker(stress *st, int i) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_lock *l[ST_LOCKS];
  for (int k = 0; k < ST_LOCKS; k++) {
    char name[32];
    snprintf(name, sizeof name, "stress-%d", k);
    if (sm_lock_open(c, name, &l[k]) != SM_OK) return 1;
  }
  unsigned seed = 7919u * (unsigned)(i + 1);
  for (int round = 0; round < ST_ROUNDS; round++) {
    int a = rand_r(&seed) % ST_LOCKS, b = rand_r(&seed) % (ST_LOCKS - 1);
    if (b >= a) b++;
    atomic_store(&st->waits[i], a + 1);
    int rc = sm_lock_acquire(l[a], 20000);
    atomic_store(&st->waits[i], 0);
    if (rc == SM_EDEADLK) return 3; /* holding nothing, it cannot close a cycle */
    if (rc != SM_OK) return 4;      /* a missed cycle ends in TIMEOUT */
    atomic_store(&st->holder[a], i + 1);
    atomic_store(&st->waits[i], b + 1);
    rc = sm_lock_acquire(l[b], 20000);
    if (rc == SM_EDEADLK) {
      atomic_fetch_add(&st->refused, 1);
      if (cycle_back(st, i, b)) atomic_fetch_add(&st->confirmed, 1);
      atomic_store(&st->waits[i], 0);
    } else {
      atomic_store(&st->waits[i], 0);
      if (rc != SM_OK) return 5;
      atomic_store(&st->holder[b], i + 1);
      atomic_fetch_add(&st->completed, 1);
      atomic_store(&st->holder[b], 0);
      if (sm_lock_release(l[b]) != SM_OK) return 6;
    }
    atomic_store(&st->holder[a], 0);
    if (sm_lock_release(l[a]) != SM_OK) return 7;
  }
  return 0;
}

/* Many processes take random pairs of locks (no order between them, so
 * cycles form): every refusal is a real cycle, none is missed, and the
 * daemon counted exactly the refusals. */
START_TEST(test_stress_random_pairs) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  int64_t before = smtest_info_int(c, "deadlocks");
  stress *st = mmap(NULL, sizeof *st, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ck_assert_ptr_ne(st, MAP_FAILED);
  memset(st, 0, sizeof *st);
  pid_t pids[ST_PROCS];
  for (int i = 0; i < ST_PROCS; i++) {
    pids[i] = fork();
    ck_assert_int_ge(pids[i], 0);
    if (pids[i] == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      _exit(stress_worker(st, i));
    }
  }
  for (int i = 0; i < ST_PROCS; i++)
    ck_assert_int_eq(exit_status(pids[i]), 0);
  int refused = atomic_load(&st->refused);
  ck_assert_int_eq(atomic_load(&st->confirmed), refused);
  ck_assert_int_eq(atomic_load(&st->completed) + refused, ST_PROCS * ST_ROUNDS);
  ck_assert_int_eq(smtest_info_int(c, "deadlocks"), before + refused);
  fprintf(stderr, "stress: %d rounds, %d deadlocks refused, all confirmed\n", ST_PROCS * ST_ROUNDS,
          refused);
  munmap(st, sizeof *st);
  sm_client_free(c);
}
END_TEST

Suite *deadlock_suite(void) {
  Suite *s = suite_create("deadlock");
  TCase *tc = smtest_daemon_tcase(s, "detect", 120);
  tcase_add_test(tc, test_two_processes);
  tcase_add_test(tc, test_three_processes);
  tcase_add_test(tc, test_self_wait);
  tcase_add_test(tc, test_locks_listing);
  tcase_add_test(tc, test_stress_random_pairs);
  tc = tcase_create("report");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_report_mode);
  suite_add_tcase(s, tc);
  tc = tcase_create("restart");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_held_ms_survives_restarts);
  suite_add_tcase(s, tc);
  return s;
}
