/* SPDX-License-Identifier: MIT */
/* config_watch.c - a config dict watched by several processes.
 *
 * sm_manager_start() runs a private statemgrd. Three forked workers each
 * follow the dict "config": read its revision, then its contents, then
 * watch from that revision, each time from the revision the last watch
 * returned, so no change is missed and nothing is polled. The parent
 * changes the config a few times with transactions (a setting and its
 * version together, or not at all) and finally sets "stop". Each worker
 * prints what it saw and exits 0 when it saw every version in order (a
 * worker that starts late reads the config first and follows from there). Run
 * ./build/examples/config_watch (statemgrd must be on $PATH or next to
 * it, as for rss_feed). */
#define _POSIX_C_SOURCE 200809L
#include <statemgr.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define WORKERS 3
#define VERSIONS 5

static void check(int rc, const char *what) {
  if (rc != SM_OK) {
    fprintf(stderr, "%s: %s (%s)\n", what, sm_last_error(), sm_errname(rc));
    exit(1);
  }
}

/* A worker: follows every change of "config" until "stop" is set. */
static int follow(sm_client *c, int id) {
  sm_dict *cfg;
  check(sm_dict_open(c, "config", &cfg), "open");
  uint64_t rev;
  check(sm_rev(sm_dict_proxy(cfg), &rev), "rev");              /* first the revision, */
  int64_t version = 0, stop = 0;                               /* then the data: */
  bool stopped = sm_dict_get_int(cfg, "stop", &stop) == SM_OK; /* stop before version, */
  if (sm_dict_get_int(cfg, "version", &version) != SM_OK) version = 0;
  if (stopped) return version == VERSIONS ? 0 : 1; /* since stop comes last */
  int64_t expect = version + 1;
  for (;;) {
    sm_value *events = NULL;
    check(sm_watch(sm_dict_proxy(cfg), rev, NULL, -1, &events, &rev), "watch");
    if (!events) { /* compacted: read again, go on from rev */
      fprintf(stderr, "worker %d fell behind\n", id);
      return 1;
    }
    for (size_t i = 0; i < sm_value_len(events); i++) {
      const sm_value *ev = sm_value_list_at(events, i);
      const char *key = sm_value_as_str(sm_value_list_at(ev, 2), NULL);
      char *val = sm_value_to_text(sm_value_list_at(ev, 3));
      printf("worker %d: rev %lld %s %s = %s\n", id,
             (long long)sm_value_as_int(sm_value_list_at(ev, 0)),
             sm_value_as_str(sm_value_list_at(ev, 1), NULL), key, val);
      sm_free(val);
      if (strcmp(key, "version") == 0) {
        int64_t v = sm_value_as_int(sm_value_list_at(ev, 3));
        if (v > expect) { /* (v < expect: a change it read with the data already) */
          fprintf(stderr, "worker %d missed a version\n", id);
          return 1;
        }
        if (v == expect) expect++;
      }
      if (strcmp(key, "stop") == 0) {
        sm_value_free(events);
        sm_dict_free(cfg);
        return expect == VERSIONS + 1 ? 0 : 1;
      }
    }
    sm_value_free(events);
  }
}

int main(void) {
  sm_manager *m;
  check(sm_manager_start(NULL, &m), "start manager");
  sm_client *c = sm_manager_client(m);
  sm_dict *cfg;
  check(sm_dict_open(c, "config", &cfg), "open");
  pid_t pids[WORKERS];
  for (int i = 0; i < WORKERS; i++) {
    pids[i] = fork();
    if (pids[i] == 0) _exit(follow(c, i));
  }
  for (int v = 1; v <= VERSIONS; v++) {
    char level[16];
    snprintf(level, sizeof level, "level-%d", v);
    sm_value *kl = sm_value_str("log_level"), *vl = sm_value_str(level);
    sm_value *kv = sm_value_str("version"), *vv = sm_value_int(v);
    sm_txn *t;
    check(sm_txn_new(c, &t), "txn");
    sm_txn_then(t, sm_dict_proxy(cfg), "set", (const sm_value *const[]){kl, vl}, 2);
    sm_txn_then(t, sm_dict_proxy(cfg), "set", (const sm_value *const[]){kv, vv}, 2);
    check(sm_txn_commit(t, NULL), "commit");
    sm_txn_free(t);
    sm_value_free(kl);
    sm_value_free(vl);
    sm_value_free(kv);
    sm_value_free(vv);
  }
  check(sm_dict_set_int(cfg, "stop", 1), "stop");
  int failed = 0;
  for (int i = 0; i < WORKERS; i++) {
    int st;
    waitpid(pids[i], &st, 0);
    failed += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
  }
  sm_dict_free(cfg);
  check(sm_manager_shutdown(m), "shutdown");
  printf("%s\n", failed ? "a worker missed a change" : "every worker saw every change");
  return failed ? 1 : 0;
}
