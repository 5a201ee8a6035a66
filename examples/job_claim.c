/* SPDX-License-Identifier: MIT */
/* job_claim.c - claiming jobs with all-or-nothing transactions.
 *
 * sm_manager_start() runs a private statemgrd. The parent puts JOBS jobs
 * in the queue "jobs"; WORKERS forked workers each claim jobs until none
 * is left, each claim one transaction: add 1 to the worker's counter
 * "claimed-N", then take a job from the queue. The count comes first, yet
 * when the queue is empty the get fails, the commit fails with SM_EEMPTY
 * and the count is rolled back: the counters always add up to the jobs
 * taken. Exits 0 when they add up to JOBS. Run ./build/examples/job_claim
 * (statemgrd must be on $PATH or next to it, as for rss_feed). */
#define _POSIX_C_SOURCE 200809L
#include <statemgr.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define WORKERS 3
#define JOBS 30

static void check(int rc, const char *what) {
  if (rc != SM_OK) {
    fprintf(stderr, "%s: %s (%s)\n", what, sm_last_error(), sm_errname(rc));
    exit(1);
  }
}

/* The counter of worker id (caller frees with sm_var_free()). */
static sm_var *counter(sm_client *c, int id) {
  char name[32];
  snprintf(name, sizeof name, "claimed-%d", id);
  sm_value *zero = sm_value_int(0);
  sm_var *v;
  check(sm_var_open(c, name, zero, &v), "open counter");
  sm_value_free(zero);
  return v;
}

/* A worker: claims jobs until the queue is empty. */
static int work(sm_client *c, int id) {
  sm_var *mine = counter(c, id);
  sm_queue *jobs;
  check(sm_queue_open(c, "jobs", 0, &jobs), "open jobs");
  sm_value *one = sm_value_int(1);
  sm_txn *t;
  check(sm_txn_new(c, &t), "txn");
  check(sm_txn_then(t, sm_var_proxy(mine), "add", (const sm_value *const[]){one}, 1), "then");
  check(sm_txn_then(t, sm_queue_proxy(jobs), "get", NULL, 0), "then");
  int rc, n = 0;
  while ((rc = sm_txn_commit(t, NULL)) == SM_OK)
    n++;
  if (rc != SM_EEMPTY) check(rc, "commit");
  printf("worker %d claimed %d jobs (the last try: %s)\n", id, n, sm_last_error());
  fflush(stdout); /* the worker ends with _exit */
  sm_txn_free(t);
  sm_value_free(one);
  sm_queue_free(jobs);
  sm_var_free(mine);
  return 0;
}

int main(void) {
  sm_manager *m;
  check(sm_manager_start(NULL, &m), "start manager");
  sm_client *c = sm_manager_client(m);
  sm_queue *jobs;
  check(sm_queue_open(c, "jobs", 0, &jobs), "open jobs");
  for (int i = 0; i < JOBS; i++)
    check(sm_queue_put_int(jobs, i, 0), "put");
  fflush(stdout);
  pid_t pids[WORKERS];
  for (int i = 0; i < WORKERS; i++) {
    pids[i] = fork();
    if (pids[i] == 0) _exit(work(c, i));
  }
  bool failed = false;
  for (int i = 0; i < WORKERS; i++) {
    int st;
    if (pids[i] < 0 || waitpid(pids[i], &st, 0) != pids[i] || !WIFEXITED(st) ||
        WEXITSTATUS(st) != 0)
      failed = true;
  }
  int64_t total = 0;
  for (int i = 0; i < WORKERS; i++) {
    sm_var *v = counter(c, i);
    int64_t n = 0;
    check(sm_var_get_int(v, &n), "get counter");
    total += n;
    sm_var_free(v);
  }
  sm_queue_free(jobs);
  check(sm_manager_shutdown(m), "shutdown");
  printf("counted %lld claims of %d jobs\n", (long long)total, JOBS);
  return failed || total != JOBS ? 1 : 0;
}
