/* SPDX-License-Identifier: MIT */
/* redislock.c - sm_redislock: the lock Redis users build, measured in the
 * same run as statemgr-bench's fenced_lock (bench/compare.sh).
 *
 * What Redis's documentation recommends for a single-instance lock: acquire
 * with SET KEY TOKEN NX PX 30000 (TOKEN unique to this holder and this
 * grant), release with a Lua script that deletes the key only while it
 * still holds TOKEN (EVALSHA of a compare-and-delete loaded once with
 * SCRIPT LOAD). A client that finds the lock taken (SET answers nil) asks
 * again at once: Redis has no waiting, so contention costs round trips.
 * Each client thread has its own hiredis connection and runs N/C cycles on
 * one shared key, counting inside the lock with a plain load and store
 * (lost updates would show a lock that does not exclude). Redis gives no
 * fencing token: that is statemgr's side only.
 *
 * Output in statemgr-bench's format, ops counting an acquire and its
 * release as two (retries of a taken lock are not counted):
 *   workload=redis_lock transport=tcp clients=C pipeline=1 ops_per_s=X p50_us=Y p99_us=Z max_us=M
 * or CSV with --csv; latencies per request (an acquire includes its
 * retries). Exit codes: 0 ok, 1 failure, 2 usage. */
#include "../client/tools/bench_hist.h"

#include <getopt.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CLIENTS 1024
#define LOCK_PX "30000"

static const char release_lua[] =
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) "
    "else return 0 end";

typedef struct cfg {
  const char *host;
  int port;
  int clients;
  uint64_t cycles; /**< acquire + release pairs, all clients together */
  const char *key;
  bool csv;
} cfg;

typedef struct client {
  const cfg *c;
  int id;
  uint64_t cycles;
  char sha[64];
  pthread_barrier_t *start;
  atomic_uint_fast64_t *cs;
  hist h;
  int64_t t0, t1;
  char err[256];
} client;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* One client: connect, wait for the others, then cycles of acquire (retried
 * while taken) and release. */
static void *run_client(void *arg) {
  client *cl = arg;
  redisContext *rc = redisConnect(cl->c->host, cl->c->port);
  bool ok = rc && !rc->err;
  if (!ok) snprintf(cl->err, sizeof cl->err, "connect: %s", rc ? rc->errstr : "out of memory");
  pthread_barrier_wait(cl->start);
  cl->t0 = now_ns();
  char token[64];
  for (uint64_t j = 0; ok && j < cl->cycles; j++) {
    snprintf(token, sizeof token, "client-%d:%" PRIu64, cl->id, j);
    int64_t t = now_ns();
    for (;;) {
      redisReply *r = redisCommand(rc, "SET %s %s NX PX " LOCK_PX, cl->c->key, token);
      if (!r) {
        snprintf(cl->err, sizeof cl->err, "SET: %s", rc->errstr);
        ok = false;
        break;
      }
      bool got = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "OK") == 0;
      bool taken = r->type == REDIS_REPLY_NIL;
      if (!got && !taken) snprintf(cl->err, sizeof cl->err, "SET answered type %d", r->type);
      freeReplyObject(r);
      if (got) break;
      if (!taken) {
        ok = false;
        break;
      }
    }
    if (!ok) break;
    hist_add(&cl->h, (uint64_t)(now_ns() - t), 1);
    uint_fast64_t x = atomic_load_explicit(cl->cs, memory_order_relaxed);
    atomic_store_explicit(cl->cs, x + 1, memory_order_relaxed);
    t = now_ns();
    redisReply *r = redisCommand(rc, "EVALSHA %s 1 %s %s", cl->sha, cl->c->key, token);
    if (!r || r->type != REDIS_REPLY_INTEGER || r->integer != 1) {
      snprintf(cl->err, sizeof cl->err, "release: %s", r ? "the lock was not ours" : rc->errstr);
      ok = false;
    }
    if (r) freeReplyObject(r);
    hist_add(&cl->h, (uint64_t)(now_ns() - t), 1);
  }
  cl->t1 = now_ns();
  if (rc) redisFree(rc);
  return ok ? NULL : cl;
}

/* SCRIPT LOAD of the release script into sha. */
static int load_script(const cfg *c, char *sha, size_t len) {
  redisContext *rc = redisConnect(c->host, c->port);
  if (!rc || rc->err) {
    fprintf(stderr, "sm_redislock: cannot connect to %s:%d: %s\n", c->host, c->port,
            rc ? rc->errstr : "out of memory");
    if (rc) redisFree(rc);
    return 1;
  }
  redisReply *r = redisCommand(rc, "SCRIPT LOAD %s", release_lua);
  int status = 0;
  if (r && r->type == REDIS_REPLY_STRING) {
    snprintf(sha, len, "%s", r->str);
  } else {
    fprintf(stderr, "sm_redislock: SCRIPT LOAD failed\n");
    status = 1;
  }
  if (r) freeReplyObject(r);
  redisReply *d = redisCommand(rc, "DEL %s", c->key);
  if (d) freeReplyObject(d);
  redisFree(rc);
  return status;
}

static int run(const cfg *c) {
  char sha[64];
  if (load_script(c, sha, sizeof sha) != 0) return 1;
  client *cls = calloc((size_t)c->clients, sizeof *cls);
  pthread_t *th = calloc((size_t)c->clients, sizeof *th);
  pthread_barrier_t start;
  atomic_uint_fast64_t cs;
  atomic_init(&cs, 0);
  if (!cls || !th || pthread_barrier_init(&start, NULL, (unsigned)c->clients) != 0) {
    fprintf(stderr, "sm_redislock: out of memory\n");
    free(cls);
    free(th);
    return 1;
  }
  uint64_t total = 0;
  for (int i = 0; i < c->clients; i++) {
    cls[i] = (client){.c = c, .id = i, .start = &start, .cs = &cs};
    cls[i].cycles =
        c->cycles / (uint64_t)c->clients + ((uint64_t)i < c->cycles % (uint64_t)c->clients);
    total += cls[i].cycles;
    snprintf(cls[i].sha, sizeof cls[i].sha, "%s", sha);
    hist_init(&cls[i].h);
    pthread_create(&th[i], NULL, run_client, &cls[i]);
  }
  int status = 0;
  hist all;
  hist_init(&all);
  int64_t t0 = INT64_MAX, t1 = 0;
  for (int i = 0; i < c->clients; i++) {
    void *failed = NULL;
    pthread_join(th[i], &failed);
    if (failed) {
      fprintf(stderr, "error: workload=redis_lock client %d: %s\n", i, cls[i].err);
      status = 1;
    }
    hist_merge(&all, &cls[i].h);
    if (cls[i].t0 < t0) t0 = cls[i].t0;
    if (cls[i].t1 > t1) t1 = cls[i].t1;
  }
  if (status == 0 && atomic_load(&cs) != total) {
    fprintf(stderr,
            "error: workload=redis_lock: %" PRIu64 " increments under the lock left %" PRIu64
            ": two clients held it at once\n",
            total, (uint64_t)atomic_load(&cs));
    status = 1;
  }
  pthread_barrier_destroy(&start);
  free(cls);
  free(th);
  if (status != 0) return status;
  double secs = (double)(t1 - t0) / 1e9, ops = secs > 0 ? (double)all.count / secs : 0;
  double p50 = hist_quantile(&all, 0.50) / 1000, p99 = hist_quantile(&all, 0.99) / 1000;
  double max = (double)all.max_ns / 1000;
  if (c->csv)
    printf("workload,transport,clients,pipeline,ops_per_s,p50_us,p99_us,max_us\n"
           "redis_lock,tcp,%d,1,%.0f,%.1f,%.1f,%.1f\n",
           c->clients, ops, p50, p99, max);
  else
    printf("workload=redis_lock transport=tcp clients=%d pipeline=1 ops_per_s=%.0f p50_us=%.1f "
           "p99_us=%.1f max_us=%.1f\n",
           c->clients, ops, p50, p99, max);
  return 0;
}

static void usage(FILE *f) {
  fprintf(f, "usage: sm_redislock [options]\n"
             "  -h, --host H       Redis host (default 127.0.0.1)\n"
             "  -p, --port N       Redis port (default 6379)\n"
             "  -c, --clients N    client threads, one connection each (default 1)\n"
             "  -n, --requests N   requests in all: N/2 acquire + release cycles (default 100000)\n"
             "  -k, --key K        the lock's key (default bench:redislock)\n"
             "      --csv          CSV output\n");
}

int main(int argc, char **argv) {
  cfg c = {
      .host = "127.0.0.1", .port = 6379, .clients = 1, .cycles = 50000, .key = "bench:redislock"};
  static const struct option opts[] = {
      {"host", required_argument, NULL, 'h'},    {"port", required_argument, NULL, 'p'},
      {"clients", required_argument, NULL, 'c'}, {"requests", required_argument, NULL, 'n'},
      {"key", required_argument, NULL, 'k'},     {"csv", no_argument, NULL, 'C'},
      {"help", no_argument, NULL, 'H'},          {NULL, 0, NULL, 0},
  };
  int ch;
  while ((ch = getopt_long(argc, argv, "h:p:c:n:k:", opts, NULL)) != -1) {
    char *end = NULL;
    long long v = 0;
    switch (ch) {
    case 'h': c.host = optarg; break;
    case 'k': c.key = optarg; break;
    case 'C': c.csv = true; break;
    case 'H': usage(stdout); return 0;
    case 'p':
    case 'c':
    case 'n':
      v = strtoll(optarg, &end, 10);
      if (!*optarg || *end || v < 1 || (ch == 'p' && v > 65535) || (ch == 'c' && v > MAX_CLIENTS)) {
        fprintf(stderr, "sm_redislock: bad -%c %s\n", ch, optarg);
        return 2;
      }
      if (ch == 'p') c.port = (int)v;
      if (ch == 'c') c.clients = (int)v;
      if (ch == 'n') c.cycles = (uint64_t)(v < 2 ? 1 : v / 2);
      break;
    default: usage(stderr); return 2;
    }
  }
  if (c.cycles < (uint64_t)c.clients) c.cycles = (uint64_t)c.clients;
  return run(&c);
}
