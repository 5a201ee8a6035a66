/* SPDX-License-Identifier: MIT */
/* share_dict.c - two processes share one dict through statemgrd.
 *
 * The parent opens the named dict "greetings" and forks. The child, a
 * separate process, writes into the dict; the parent waits for it, then
 * reads what the child wrote. Start a daemon first (./build/statemgrd), then
 * run ./build/examples/share_dict. */
#define _POSIX_C_SOURCE 200809L
#include <statemgr.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* Exits with the library's explanation when a call failed. */
static void check(int rc, const char *what) {
  if (rc != SM_OK) {
    fprintf(stderr, "%s: %s (%s)\n", what, sm_last_error(), sm_errname(rc));
    exit(1);
  }
}

int main(void) {
  sm_client *c;
  sm_dict *d;
  /* NULL: $STATEMGR_URL, else tcp://127.0.0.1:7450; the authkey comes from
   * ~/.statemgr/authkey, which statemgrd created on its first start. */
  check(sm_connect(NULL, NULL, &c), "connect");
  check(sm_dict_open(c, "greetings", &d), "open"); /* get-or-create by name */

  pid_t pid = fork();
  if (pid == 0) { /* the child opens its own connection on first use */
    check(sm_dict_set_str(d, "message", "hello from the child"), "set");
    check(sm_dict_set_int(d, "child_pid", getpid()), "set");
    sm_dict_free(d);
    sm_client_free(c);
    _exit(0);
  }
  int status;
  if (pid < 0 || waitpid(pid, &status, 0) != pid || status != 0) {
    fprintf(stderr, "the child failed\n");
    return 1;
  }

  char *msg;
  int64_t child_pid;
  check(sm_dict_get_str(d, "message", &msg), "get");
  check(sm_dict_get_int(d, "child_pid", &child_pid), "get");
  printf("parent %d read: %s (written by pid %lld)\n", (int)getpid(), msg, (long long)child_pid);
  sm_free(msg); /* results are the caller's to free */
  sm_dict_free(d);
  sm_client_free(c);
  return 0;
}
