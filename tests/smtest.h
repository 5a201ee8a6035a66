/* smtest.h - helpers shared by the Check suites: start a real statemgrd on
 * an ephemeral TCP port and a UNIX socket in a private directory, connect to
 * it, stop it by PID.
 *
 * Set SMTEST_URL (and SMTEST_AUTHKEY_FILE) to point the suites at a daemon
 * you already run, for gdb; then start/stop do nothing. Set SMTEST_VALGRIND=1
 * to run each daemon under valgrind memcheck (errors and leaks fail the run). */
#ifndef SMTEST_H
#define SMTEST_H

#include "statemgr.h"

#include <check.h>
#include <stdbool.h>
#include <sys/types.h>

typedef struct smtest_daemon {
  pid_t pid;              /* 0 when an external daemon is used */
  char dir[256];          /* private temp dir: socket, key, ready file */
  char tcp_url[128];      /* tcp://127.0.0.1:PORT */
  char unix_url[320];     /* unix:DIR/statemgr.sock */
  char authkey_file[320]; /* DIR/authkey */
  char log_file[320];     /* DIR/statemgrd.log: the daemon's stderr */
} smtest_daemon;

/* Starts statemgrd (path from $STATEMGRD) with a fresh authkey, listening on
 * tcp://127.0.0.1:0 and a UNIX socket, plus extra arguments (NULL-terminated
 * list, may be NULL), and waits until it is ready. Aborts the test on
 * failure. */
void smtest_daemon_start(smtest_daemon *d, const char *const *extra_args);

/* SIGTERM, then waits for the exit (SIGKILL after 60 s). Returns the exit
 * status as from waitpid's WEXITSTATUS, or -1 when it did not exit cleanly.
 * Removes the private directory. */
int smtest_daemon_stop(smtest_daemon *d);

/* Connects to url (NULL: the daemon's TCP URL) with the daemon's authkey;
 * fails the test when it cannot. Caller frees with sm_client_free(). */
sm_client *smtest_connect(const smtest_daemon *d, const char *url);

/* The daemon of the current test case, started by smtest_add_daemon's
 * fixture. */
extern smtest_daemon smtest_d;

/* Daemons that did not exit 0 when stopped; the runner fails when non-zero. */
extern int smtest_failures;

/* Adds an unchecked fixture to tc that starts one daemon (smtest_d) before
 * the test case and stops it after. */
void smtest_add_daemon(TCase *tc);

/* Runs a shell command line, returns its exit status (WEXITSTATUS) or -1;
 * stdout is captured into out (may be NULL) up to outlen bytes. */
int smtest_run(const char *cmdline, char *out, size_t outlen);

#endif
