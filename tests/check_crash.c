/* SPDX-License-Identifier: MIT */
/* check_crash.c - the crash test of issue 10: clients change shared
 * objects of every kind (the workload checker, smtest_workload.c: what it
 * records and checks) while the daemon is killed (SIGKILL) at random
 * moments and started again on its data directory, CRASH_KILLS times
 * (SMTEST_LONG=1: CRASH_KILLS_LONG; SMTEST_SEED=N repeats the kill times
 * of a run that printed seed N). Afterwards, once more after a last crash
 * with nothing in flight, every answered result is checked. The sessions
 * of a killed daemon stay suspended for a long resume timeout, and each
 * client takes its own back: a lock held at the crash stays its holder's,
 * whose release then works. */
#include "smtest.h"
#include "smtest_workload.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CRASH_KILLS 50
#define CRASH_KILLS_LONG 500

static const char *const crash_args[] = {"--session-resume-timeout",
                                         "30000",
                                         "--snapshot-log-size",
                                         "256K",
                                         "--log-level",
                                         "info",
                                         NULL};

/* A restart of the workload: the daemon crashes and starts again on its
 * data directory. */
static void crash_restart(void *arg, int round) {
  (void)round;
  smtest_durable_restart(arg, SIGKILL);
}

START_TEST(acknowledged_results_survive_random_kills) {
  smtest_durable x;
  smtest_durable_start(&x, crash_args);
  const char *long_env = getenv("SMTEST_LONG");
  int kills = long_env && strcmp(long_env, "1") == 0 ? CRASH_KILLS_LONG : CRASH_KILLS;

  smtest_workload_cfg cfg = {.name = "crash",
                             .url = x.d.unix_url,
                             .authkey_file = x.d.authkey_file,
                             .failover_timeout_ms =
                                 30000}; /* calls in flight wait for the restart */
  smtest_workload *w = smtest_workload_start(&cfg);
  smtest_workload_run(w, kills, 20, 140, crash_restart, &x);
  smtest_workload_stop(w);

  /* One more crash with nothing in flight: all answered is still there. */
  smtest_durable_restart(&x, SIGKILL);
  sm_client *c = smtest_durable_connect(&x);
  smtest_workload_check(w, c);
  sm_client_free(c);
  smtest_workload_free(w);
  smtest_durable_stop(&x);
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
