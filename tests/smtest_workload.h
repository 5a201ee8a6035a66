/* SPDX-License-Identifier: MIT */
/* smtest_workload.h - the workload checker of the crash tests: threads
 * that change shared objects of every kind through one URL (a daemon's, or
 * a replicated group's list "tcp://a,b,c") while the test kills and
 * restarts daemons under them, record every answer, and afterwards check
 * that no answered call was lost or applied twice (smtest_workload.c says
 * what each check proves). What "restart" means is the test's: a callback
 * run between pauses of the workload.
 *
 * Use: smtest_workload_start, smtest_workload_run (the kills),
 * smtest_workload_stop (joins the threads, fails on errors), then
 * smtest_workload_check with a client of the daemon or group, and
 * smtest_workload_free. */
#ifndef SMTEST_WORKLOAD_H
#define SMTEST_WORKLOAD_H

#include "statemgr.h"

typedef struct smtest_workload smtest_workload;

typedef struct smtest_workload_cfg {
  const char *name;         /* prefix of its messages ("crash", "cluster") */
  const char *url;          /* a daemon's URL, or a group's list of URLs */
  const char *authkey_file; /* the daemon's (or group's) authkey */
  int failover_timeout_ms;  /* how long a call in flight waits for a restart or a new leader */
} smtest_workload_cfg;

/* Kills and starts again what the test kills (a daemon, group members);
 * round counts from 0. Runs in the test's thread while the workers go on. */
typedef void (*smtest_workload_restart_fn)(void *arg, int round);

/* Starts the workers against cfg->url (cfg is copied, its strings
 * borrowed until smtest_workload_free). Caller frees with
 * smtest_workload_free(). */
smtest_workload *smtest_workload_start(const smtest_workload_cfg *cfg);

/* Calls restart(arg, round) rounds times, each after a pause drawn from
 * [pause_min_ms, pause_max_ms] (SMTEST_SEED=N repeats the pauses of a run
 * that printed seed N), while the workers go on. */
void smtest_workload_run(smtest_workload *w, int rounds, int pause_min_ms, int pause_max_ms,
                         smtest_workload_restart_fn restart, void *arg);

/* Stops the workers and waits for them; fails the test on a worker's
 * unexpected status, on a call whose outcome is unknown (SM_ECLOSED: calls
 * in flight are sent again exactly once), on a guarded write applied with
 * a stale token, and when a kind of call never succeeded. */
void smtest_workload_stop(smtest_workload *w);

/* Reads the objects through c (borrowed) and checks them against the
 * answers the workers recorded; fails the test on any difference. */
void smtest_workload_check(smtest_workload *w, sm_client *c);

/* Frees w (NULL: nothing). */
void smtest_workload_free(smtest_workload *w);

#endif
