/* SPDX-License-Identifier: MIT */
/* check_main.c - the one runner for every Check suite.
 *
 * `check_statemgr` runs all suites; `check_statemgr NAME...` runs those
 * only (CTest runs one suite per test). Suites are listed in suites.gen.h,
 * generated from the check_*.c file names. Fork mode stays on: CK_FORK=no is
 * for debugging one test under gdb. A daemon that did not stop cleanly
 * (smtest.c) fails the run too. */
#include "smtest.h"
#include "suites.gen.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  SRunner *sr = NULL;
  size_t n_suites = sizeof smtest_suites / sizeof smtest_suites[0];
  for (size_t i = 0; i < n_suites; i++) {
    bool wanted = argc < 2;
    for (int a = 1; a < argc; a++)
      if (strcmp(argv[a], smtest_suites[i].name) == 0) wanted = true;
    if (!wanted) continue;
    Suite *s = smtest_suites[i].make();
    if (!sr)
      sr = srunner_create(s);
    else
      srunner_add_suite(sr, s);
  }
  if (!sr) {
    fprintf(stderr, "check_statemgr: no such suite\n");
    return 2;
  }
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  if (smtest_failures > 0)
    fprintf(stderr, "check_statemgr: %d daemon(s) did not exit cleanly\n", smtest_failures);
  return failed == 0 && smtest_failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
