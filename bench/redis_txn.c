/* SPDX-License-Identifier: MIT */
/* redis_txn.c - Redis's side of the transaction row of bench/compare.sh:
 * C clients (forked processes) each sending MULTI, SET, GET, INCR, DEL,
 * EXEC as one pipelined batch (what a Redis client library does for a
 * transaction) and reading the six replies, n transactions in all; the
 * same four calls as statemgr-bench's txn4 workload. Prints
 *   ops_per_s=X
 * (transactions per second, all clients together). Checks every EXEC
 * answer (the GET sees the SET, the INCR counter only grows) and exits 1
 * on a wrong one.
 *
 * Usage: sm_redis_txn HOST PORT CLIENTS TRANSACTIONS */
#define _POSIX_C_SOURCE 200809L
#include <hiredis/hiredis.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One client: count transactions on its own key. Returns 0 or 1. */
static int client(const char *host, int port, int id, long count) {
  redisContext *rc = redisConnect(host, port);
  if (!rc || rc->err) {
    fprintf(stderr, "sm_redis_txn: connect: %s\n", rc ? rc->errstr : "out of memory");
    return 1;
  }
  char key[32], val[32];
  snprintf(key, sizeof key, "txn-%d", id);
  snprintf(val, sizeof val, "%d", id);
  long long last = 0;
  for (long j = 0; j < count; j++) {
    redisAppendCommand(rc, "MULTI");
    redisAppendCommand(rc, "SET %s %s", key, val);
    redisAppendCommand(rc, "GET %s", key);
    redisAppendCommand(rc, "INCR txn-counter");
    redisAppendCommand(rc, "DEL %s", key);
    redisAppendCommand(rc, "EXEC");
    redisReply *r = NULL;
    for (int i = 0; i < 6; i++) {
      if (r) freeReplyObject(r);
      if (redisGetReply(rc, (void **)&r) != REDIS_OK) {
        fprintf(stderr, "sm_redis_txn: %s\n", rc->errstr);
        return 1;
      }
    }
    int ok = r->type == REDIS_REPLY_ARRAY && r->elements == 4 &&
             r->element[1]->type == REDIS_REPLY_STRING && strcmp(r->element[1]->str, val) == 0 &&
             r->element[2]->type == REDIS_REPLY_INTEGER && r->element[2]->integer > last;
    if (ok) last = r->element[2]->integer;
    freeReplyObject(r);
    if (!ok) {
      fprintf(stderr, "sm_redis_txn: transaction %ld: a wrong EXEC answer\n", j);
      return 1;
    }
  }
  redisFree(rc);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: sm_redis_txn HOST PORT CLIENTS TRANSACTIONS\n");
    return 2;
  }
  int port = atoi(argv[2]), clients = atoi(argv[3]);
  long total = atol(argv[4]);
  if (port <= 0 || clients <= 0 || clients > 1000 || total < clients) {
    fprintf(stderr, "sm_redis_txn: bad arguments\n");
    return 2;
  }
  pid_t pids[1000];
  double t0 = now_s();
  for (int i = 0; i < clients; i++) {
    pids[i] = fork();
    if (pids[i] == 0) _exit(client(argv[1], port, i, total / clients));
  }
  int failed = 0;
  for (int i = 0; i < clients; i++) {
    int st;
    waitpid(pids[i], &st, 0);
    failed += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
  }
  double secs = now_s() - t0;
  if (failed) return 1;
  printf("ops_per_s=%.0f\n", (double)(total / clients * clients) / secs);
  return 0;
}
