/* SPDX-License-Identifier: MIT */
/* bench.c - statemgr-bench: a load generator for statemgrd in the style of
 * redis-benchmark, that checks every answer it gets.
 *
 *   statemgr-bench -u URL -c CLIENTS -n REQUESTS -P PIPELINE -d BYTES -t LIST
 *
 * For each workload of the list (bench_work.c) it prepares the objects in
 * this process, starts CLIENTS clients (threads, or processes with
 * --processes; each has its own connection), lets them all start at once
 * on a barrier, and splits the REQUESTS between them. Each client keeps a
 * latency histogram (bench_hist.h) and its results in memory shared with
 * this process. Then it verifies the final state and prints one line:
 *
 *   workload=NAME transport=tcp clients=C pipeline=P ops_per_s=X p50_us=Y p99_us=Z max_us=M
 *
 * (or a CSV row with --csv). ops_per_s is every request of every client
 * divided by the time from the first client's start to the last one's end.
 * With --rate the clients send on a schedule (bench_pace.c), the line ends
 * with rate_per_s=N, and a rate not kept is said on stderr.
 * A wrong answer or a failed call prints "error: workload=NAME ..." on
 * stderr and exits 1; usage errors exit 2; a failure to connect exits 3.
 *
 * A new option goes into longopts, the switch in parse_args, and usage(). */
#include "bench.h"

#include "../../proto/url.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CLIENTS 10000
#define MAX_PIPELINE 100000
#define MAX_VALUE (16u << 20)
#define MAX_RATE 100000000u
#define RATE_SHORTFALL 0.95 /* an achieved rate below this share of --rate is reported */
#define DEFAULT_LIST                                                                               \
  "ping,dict_set,dict_get,dict_setget,dict_cas,list_push,list_pop,value_incr,queue_putget,lock,"   \
  "set_add,set_contains,txn4,fenced_lock"

/* ---- options ---- */

static void usage(FILE *f) {
  fprintf(f,
          "usage: statemgr-bench [options]\n"
          "\n"
          "  -u, --url URL          daemon address: tcp://HOST:PORT, unix:PATH, tls://HOST:PORT,\n"
          "                         or a group's members: tcp://a:7450,b:7450\n"
          "                         (default $STATEMGR_URL, else %s)\n"
          "      --authkey-file F   the shared authkey (default: $STATEMGR_AUTHKEY_FILE,\n"
          "                         $STATEMGR_AUTHKEY, ~/.statemgr/authkey)\n"
          "      --tls-ca F         tls://: trust the CAs in PEM file F (default: the system's)\n"
          "      --tls-cert F       tls://: present the client certificate in PEM file F\n"
          "      --tls-key F        tls://: the PEM key of --tls-cert (default: inside F)\n"
          "      --tls-server-name N  tls://: the name the daemon's certificate must carry\n"
          "      --tls-insecure     tls://: DANGER, do not verify the daemon's certificate\n"
          "  -c, --clients N        concurrent clients, one connection each (default 50)\n"
          "  -n, --requests N       requests per workload, all clients together (default 100000)\n"
          "  -P, --pipeline N       requests sent together in one round trip (default 1)\n"
          "      --rate N           send N requests/s, all clients together, on a fixed\n"
          "                         schedule, and time each request from when it was due\n"
          "                         (default: a closed loop, each client as fast as answered)\n"
          "  -d, --data-size B      bytes of each value (default 64)\n"
          "  -r, --keyspace N       keys used: key:000000000000 .. N-1 (default 100000)\n"
          "      --sequential       use keys in order (each client a contiguous range)\n"
          "                         instead of at random\n"
          "  -t, --tests LIST       comma-separated workloads (default all):\n"
          "                         %s\n"
          "      --threads          clients are threads of this process (default)\n"
          "      --processes        clients are forked processes\n"
          "      --prefix P         names of the objects used (default \"bench:\")\n"
          "      --no-preload       dict_get reads the keys already there (set by an earlier\n"
          "                         dict_set with the same -r, -d and --seed) instead of\n"
          "                         loading them first\n"
          "      --seed N           seed for the keys picked and the values (default 1)\n"
          "      --csv              CSV output (a header, then one row per workload)\n"
          "  -q, --quiet            print the result lines only\n"
          "  -h, --help             this text\n"
          "\n"
          "Every answer is checked; a wrong one prints \"error: workload=...\" and exits 1.\n"
          "With -P, each request of a batch is recorded with the batch's round trip time;\n"
          "dict_setget and queue_putget send P/2 pairs a batch.\n"
          "lock and fenced_lock always run with pipeline 1 (a pipelined release would\n"
          "overtake its acquire); fenced_lock checks that each grant's fencing token is the\n"
          "one after the last grant's.\n"
          "With --rate, each line also gives rate_per_s (the rate asked); ops_per_s is the\n"
          "rate achieved, and when it falls short by more than 5%% a line on stderr says so.\n"
          "Exit codes: 0 ok, 1 wrong result or server error, 2 usage, 3 cannot connect.\n",
          SM_DEFAULT_URL, DEFAULT_LIST);
}

/* Prints a usage error and returns BENCH_USAGE. */
static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "statemgr-bench: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n(statemgr-bench --help lists the options)\n");
  va_end(ap);
  return BENCH_USAGE;
}

/* A decimal count in [min, max]; false for anything else. */
static bool parse_count(const char *s, uint64_t min, uint64_t max, uint64_t *out) {
  char *end;
  if (!s || !*s || *s == '-' || *s == '+') return false;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v < min || v > max) return false;
  *out = v;
  return true;
}

static const bench_workload *find_workload(const char *name, size_t len) {
  for (size_t i = 0; i < bench_n_workloads; i++)
    if (strlen(bench_workloads[i].name) == len && strncmp(bench_workloads[i].name, name, len) == 0)
      return &bench_workloads[i];
  return NULL;
}

/* Splits the -t list into list (at most max entries). Returns the count,
 * or -1 after printing the usage error. */
static int parse_list(const char *s, const bench_workload **list, int max) {
  int n = 0;
  while (*s) {
    size_t len = strcspn(s, ",");
    if (len == 0) return usage_error("-t: empty workload name in \"%s\"", s), -1;
    const bench_workload *w = find_workload(s, len);
    if (!w) {
      char name[64];
      snprintf(name, sizeof name, "%.*s", (int)(len < 60 ? len : 60), s);
      fprintf(stderr, "statemgr-bench: unknown workload \"%s\"; known: %s\n", name, DEFAULT_LIST);
      return -1;
    }
    if (n == max) return usage_error("-t: too many workloads in \"%s\"", s), -1;
    list[n++] = w;
    s += len;
    if (*s == ',') {
      s++;
      if (!*s) return usage_error("-t: the list ends with a comma"), -1;
    }
  }
  if (n == 0) return usage_error("-t: no workload given"), -1;
  return n;
}

/* The transport a URL (or the first member of a group's list) names,
 * read by the parser the library and the daemon use; NULL (why filled)
 * when it is not one. */
static const char *url_transport(const char *url, char *why, size_t whylen) {
  static const char *const names[] = {[URL_TCP] = "tcp", [URL_TLS] = "tls", [URL_UNIX] = "unix"};
  url_member m[URL_LIST_MAX];
  size_t n = 0;
  return url_list_parse(url, URL_CONNECT, m, URL_LIST_MAX, &n, why, whylen) == 0
             ? names[m[0].addr.scheme]
             : NULL;
}

enum {
  OPT_AUTHKEY = 256,
  OPT_SEQ,
  OPT_THREADS,
  OPT_PROCS,
  OPT_PREFIX,
  OPT_NOPRELOAD,
  OPT_SEED,
  OPT_CSV,
  OPT_TLS_CA,
  OPT_TLS_CERT,
  OPT_TLS_KEY,
  OPT_TLS_NAME,
  OPT_TLS_INSECURE,
  OPT_RATE
};

/* Fills cfg and list from argv. Returns 0, BENCH_USAGE, or -1 for --help. */
static int parse_args(int argc, char **argv, bench_cfg *cfg, const bench_workload **list,
                      int *nlist) {
  static const struct option longopts[] = {
      {"url", required_argument, NULL, 'u'},
      {"authkey-file", required_argument, NULL, OPT_AUTHKEY},
      {"tls-ca", required_argument, NULL, OPT_TLS_CA},
      {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
      {"tls-key", required_argument, NULL, OPT_TLS_KEY},
      {"tls-server-name", required_argument, NULL, OPT_TLS_NAME},
      {"tls-insecure", no_argument, NULL, OPT_TLS_INSECURE},
      {"clients", required_argument, NULL, 'c'},
      {"requests", required_argument, NULL, 'n'},
      {"pipeline", required_argument, NULL, 'P'},
      {"rate", required_argument, NULL, OPT_RATE},
      {"data-size", required_argument, NULL, 'd'},
      {"keyspace", required_argument, NULL, 'r'},
      {"sequential", no_argument, NULL, OPT_SEQ},
      {"tests", required_argument, NULL, 't'},
      {"threads", no_argument, NULL, OPT_THREADS},
      {"processes", no_argument, NULL, OPT_PROCS},
      {"prefix", required_argument, NULL, OPT_PREFIX},
      {"no-preload", no_argument, NULL, OPT_NOPRELOAD},
      {"seed", required_argument, NULL, OPT_SEED},
      {"csv", no_argument, NULL, OPT_CSV},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *tests = DEFAULT_LIST;
  uint64_t v;
  int ch;
  opterr = 0;
  while ((ch = getopt_long(argc, argv, ":u:c:n:P:d:r:t:qh", longopts, NULL)) != -1) {
    switch (ch) {
    case 'u': cfg->url = optarg; break;
    case OPT_AUTHKEY: cfg->authkey_file = optarg; break;
    case OPT_TLS_CA: cfg->tls_ca = optarg; break;
    case OPT_TLS_CERT: cfg->tls_cert = optarg; break;
    case OPT_TLS_KEY: cfg->tls_key = optarg; break;
    case OPT_TLS_NAME: cfg->tls_name = optarg; break;
    case OPT_TLS_INSECURE: cfg->tls_insecure = true; break;
    case 'c':
      if (!parse_count(optarg, 1, MAX_CLIENTS, &v))
        return usage_error("-c wants a number of clients from 1 to 10000, not \"%s\"", optarg);
      cfg->clients = (int)v;
      break;
    case 'n':
      if (!parse_count(optarg, 1, UINT64_MAX / 4, &v))
        return usage_error("-n wants a positive number of requests, not \"%s\"", optarg);
      cfg->requests = v;
      break;
    case 'P':
      if (!parse_count(optarg, 1, MAX_PIPELINE, &v))
        return usage_error("-P wants a pipeline depth from 1 to 100000, not \"%s\"", optarg);
      cfg->pipeline = (int)v;
      break;
    case OPT_RATE:
      if (!parse_count(optarg, 1, MAX_RATE, &v))
        return usage_error("--rate wants requests per second from 1 to 100000000, not \"%s\"",
                           optarg);
      cfg->rate = v;
      break;
    case 'd':
      if (!parse_count(optarg, 1, MAX_VALUE, &v))
        return usage_error("-d wants a value size from 1 to 16777216 bytes, not \"%s\"", optarg);
      cfg->value_bytes = (size_t)v;
      break;
    case 'r':
      if (!parse_count(optarg, 1, 1000000000000ull, &v))
        return usage_error("-r wants a keyspace from 1 to 10^12, not \"%s\"", optarg);
      cfg->keyspace = v;
      break;
    case OPT_SEQ: cfg->sequential = true; break;
    case 't': tests = optarg; break;
    case OPT_THREADS: cfg->processes = false; break;
    case OPT_PROCS: cfg->processes = true; break;
    case OPT_PREFIX:
      if (!*optarg || strlen(optarg) > 200)
        return usage_error("--prefix wants 1 to 200 characters, not \"%s\"", optarg);
      cfg->prefix = optarg;
      break;
    case OPT_NOPRELOAD: cfg->preload = false; break;
    case OPT_SEED:
      if (!parse_count(optarg, 0, UINT64_MAX, &v))
        return usage_error("--seed wants a non-negative integer, not \"%s\"", optarg);
      cfg->seed = v;
      break;
    case OPT_CSV: cfg->csv = true; break;
    case 'q': cfg->quiet = true; break;
    case 'h': usage(stdout); return -1;
    case ':': return usage_error("%s needs an argument", argv[optind - 1]);
    default: return usage_error("unknown option \"%s\"", argv[optind - 1]);
    }
  }
  if (optind < argc) return usage_error("unexpected argument \"%s\"", argv[optind]);
  if (!cfg->url) cfg->url = getenv("STATEMGR_URL");
  if (!cfg->url || !*cfg->url) cfg->url = SM_DEFAULT_URL;
  char why[512];
  cfg->transport = url_transport(cfg->url, why, sizeof why);
  if (!cfg->transport) return usage_error("-u: %s", why);
  *nlist = parse_list(tests, list, 64);
  return *nlist < 0 ? BENCH_USAGE : 0;
}

/* ---- one client ---- */

static void worker_main(bench_worker *w) {
  bench_run *r = w->run;
  bench_slot *s = w->slot;
  size_t scratch = (r->cfg->value_bytes < 16 ? 16 : r->cfg->value_bytes) + 1;
  w->vbuf = malloc(scratch);
  w->vbuf2 = malloc(scratch);
  w->rng = bench_rng_seed(r->cfg->seed, (uint64_t)w->index);
  /* Connect (this thread's or process's own connection) before the start. */
  int rc = w->vbuf && w->vbuf2 ? sm_ping(r->client) : SM_ENOMEM;
  if (rc != SM_OK) {
    bench_fail(w,
               rc == SM_ECONNECT || rc == SM_EAUTH || rc == SM_ETLS ? BENCH_CONNECT : BENCH_WRONG,
               "connecting: %s (%s)", sm_errname(rc), sm_last_error());
  } else if (r->pipeline > 1 && (rc = sm_pipeline_new(r->client, &w->pl)) != SM_OK) {
    bench_fail(w, BENCH_WRONG, "sm_pipeline_new: %s (%s)", sm_errname(rc), sm_last_error());
  } else if (r->w->setup) {
    r->w->setup(w);
  }
  pthread_barrier_wait(&r->sh->start); /* also after a failure: nobody waits forever */
  if (s->code == 0 && !atomic_load(&r->sh->stop)) {
    s->t0 = bench_now();
    if (r->cfg->rate > 0) {
      w->gap_ns = 1e9 * r->cfg->clients / (double)r->cfg->rate;
      w->offset_ns = (int64_t)(1e9 * w->index * r->pipeline / (double)r->cfg->rate);
    }
    r->w->loop(w);
    s->t1 = bench_now();
  }
  sm_pipeline_free(w->pl);
  w->pl = NULL;
  free(w->vbuf);
  free(w->vbuf2);
}

static void *worker_thread(void *arg) {
  worker_main(arg);
  return NULL;
}

/* ---- one workload ---- */

static void *shared_alloc(size_t size) {
  void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

static void print_error(const bench_run *r, const char *who, const char *msg) {
  fprintf(stderr, "error: workload=%s transport=%s clients=%d pipeline=%d: %s%s\n", r->w->name,
          r->cfg->transport, r->cfg->clients, r->pipeline, who, msg);
}

static void close_objs(bench_objs *o) {
  sm_dict_free(o->dict);
  sm_list_free(o->list);
  sm_var_free(o->counter);
  sm_queue_free(o->queue);
  sm_lock_free(o->lock);
  sm_set_free(o->set);
  memset(o, 0, sizeof *o);
}

/* Starts the clients and waits for them. Returns 0, or the exit code when
 * a thread or process could not be started or died. */
static int run_clients(bench_run *r, bench_worker *ws) {
  const bench_cfg *c = r->cfg;
  pthread_t *th = calloc((size_t)c->clients, sizeof *th);
  pid_t *pids = calloc((size_t)c->clients, sizeof *pids);
  int status = th && pids ? 0 : BENCH_WRONG, started = 0;
  fflush(NULL); /* a child must not flush our buffers again */
  for (int i = 0; status == 0 && i < c->clients; i++) {
    if (!c->processes) {
      if (pthread_create(&th[i], NULL, worker_thread, &ws[i]) != 0) {
        fprintf(stderr, "statemgr-bench: cannot start client thread %d\n", i);
        exit(BENCH_WRONG); /* the others wait on the barrier for it */
      }
    } else {
      pid_t pid = fork();
      if (pid < 0) {
        fprintf(stderr, "statemgr-bench: fork: %s\n", strerror(errno));
        exit(BENCH_WRONG);
      }
      if (pid == 0) {
        worker_main(&ws[i]);
        _exit(0);
      }
      pids[i] = pid;
    }
    started++;
  }
  for (int i = 0; i < started; i++) {
    if (!c->processes) {
      pthread_join(th[i], NULL);
      continue;
    }
    int st = 0;
    while (waitpid(pids[i], &st, 0) < 0 && errno == EINTR) {
    }
    if ((!WIFEXITED(st) || WEXITSTATUS(st) != 0) && r->sh->slots[i].code == 0) {
      snprintf(r->sh->slots[i].error, BENCH_ERR_LEN, "client process died (%s %d)",
               WIFSIGNALED(st) ? "signal" : "status",
               WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
      r->sh->slots[i].code = BENCH_WRONG;
    }
  }
  free(th);
  free(pids);
  return status;
}

static void print_result(const bench_run *r, const hist *h, double secs, int64_t late_ns,
                         bool *header_done) {
  const bench_cfg *c = r->cfg;
  double ops = secs > 0 ? (double)h->count / secs : 0;
  double p50 = hist_quantile(h, 0.50) / 1000, p99 = hist_quantile(h, 0.99) / 1000;
  double max = (double)h->max_ns / 1000;
  char rate[48] = "";
  if (c->csv) {
    if (!*header_done)
      printf("workload,transport,clients,pipeline,ops_per_s,p50_us,p99_us,max_us%s\n",
             c->rate ? ",rate_per_s" : "");
    *header_done = true;
    if (c->rate) snprintf(rate, sizeof rate, ",%" PRIu64, c->rate);
    printf("%s,%s,%d,%d,%.0f,%.1f,%.1f,%.1f%s\n", r->w->name, c->transport, c->clients, r->pipeline,
           ops, p50, p99, max, rate);
  } else {
    if (c->rate) snprintf(rate, sizeof rate, " rate_per_s=%" PRIu64, c->rate);
    printf("workload=%s transport=%s clients=%d pipeline=%d ops_per_s=%.0f p50_us=%.1f "
           "p99_us=%.1f max_us=%.1f%s\n",
           r->w->name, c->transport, c->clients, r->pipeline, ops, p50, p99, max, rate);
  }
  fflush(stdout);
  if (c->rate && ops < RATE_SHORTFALL * (double)c->rate)
    fprintf(stderr,
            "statemgr-bench: workload=%s could not keep the rate: %" PRIu64
            " requests/s asked, %.0f achieved; a send went out up to %.1f ms after it was due\n",
            r->w->name, c->rate, ops, (double)late_ns / 1e6);
}

/* Runs one workload end to end. Returns an exit code. */
static int run_workload(const bench_cfg *c, const bench_workload *w, sm_client *client,
                        bool *header_done) {
  bench_run r = {.cfg = c, .w = w, .client = client};
  r.iterations = c->requests / w->ops_per_iter;
  if (r.iterations == 0) r.iterations = 1;
  r.pipeline = w->pipelines ? c->pipeline : 1;
  if (!w->pipelines && c->pipeline > 1 && !c->quiet)
    fprintf(stderr, "statemgr-bench: %s runs with pipeline 1\n", w->name);

  size_t shsize = sizeof(bench_shared) + (size_t)c->clients * sizeof(bench_slot);
  size_t bitsize = ((r.iterations + 63) / 64) * sizeof(atomic_uint_fast64_t);
  r.sh = shared_alloc(shsize);
  atomic_uint_fast64_t *bits = shared_alloc(bitsize);
  bench_worker *ws = calloc((size_t)c->clients, sizeof *ws);
  if (!r.sh || !bits || !ws) {
    fprintf(stderr, "statemgr-bench: out of memory for %d clients\n", c->clients);
    exit(BENCH_WRONG);
  }
  r.sh->seen = bits;
  r.sh->nbits = r.iterations;
  pthread_barrierattr_t ba;
  pthread_barrierattr_init(&ba);
  pthread_barrierattr_setpshared(&ba, PTHREAD_PROCESS_SHARED);
  pthread_barrier_init(&r.sh->start, &ba, (unsigned)c->clients);
  pthread_barrierattr_destroy(&ba);

  char err[BENCH_ERR_LEN] = "";
  int status = w->prepare(&r, err, sizeof err);
  if (status != 0) print_error(&r, "preparing: ", err);
  uint64_t first = 0;
  for (int i = 0; status == 0 && i < c->clients; i++) {
    ws[i] = (bench_worker){.run = &r, .index = i, .slot = &r.sh->slots[i], .first = first};
    ws[i].count =
        r.iterations / (uint64_t)c->clients + ((uint64_t)i < r.iterations % (uint64_t)c->clients);
    first += ws[i].count;
  }
  if (status == 0) status = run_clients(&r, ws);

  hist all;
  hist_init(&all);
  int64_t t0 = INT64_MAX, t1 = 0, late = 0;
  for (int i = 0; status == 0 && i < c->clients; i++) {
    const bench_slot *s = &r.sh->slots[i];
    if (s->code != 0) {
      char who[32];
      snprintf(who, sizeof who, "client %d: ", i);
      print_error(&r, who, s->error);
      status = s->code;
      break;
    }
    hist_merge(&all, &s->h);
    if (s->late_ns > late) late = s->late_ns;
    if (s->requests == 0) continue;
    if (s->t0 < t0) t0 = s->t0;
    if (s->t1 > t1) t1 = s->t1;
  }
  if (status == 0 && w->verify && (status = w->verify(&r, err, sizeof err)) != 0)
    print_error(&r, "verifying: ", err);
  if (status == 0) print_result(&r, &all, t1 > t0 ? (double)(t1 - t0) / 1e9 : 0, late, header_done);

  close_objs(&r.o);
  pthread_barrier_destroy(&r.sh->start);
  munmap(r.sh, shsize);
  munmap(bits, bitsize);
  free(ws);
  return status;
}

int main(int argc, char **argv) {
  bench_cfg cfg = {.clients = 50,
                   .requests = 100000,
                   .pipeline = 1,
                   .value_bytes = 64,
                   .keyspace = 100000,
                   .seed = 1,
                   .prefix = "bench:",
                   .preload = true};
  const bench_workload *list[64];
  int nlist = 0;
  int rc = parse_args(argc, argv, &cfg, list, &nlist);
  if (rc < 0) return BENCH_OK; /* --help */
  if (rc != 0) return rc;
  signal(SIGPIPE, SIG_IGN);

  sm_options *opts = sm_options_new();
  if (!opts) return BENCH_WRONG;
  sm_options_set_client_name(opts, "statemgr-bench");
  if (cfg.authkey_file) rc = sm_options_set_authkey_file(opts, cfg.authkey_file);
  if (rc == SM_OK && cfg.tls_ca) rc = sm_options_set_tls_ca(opts, cfg.tls_ca);
  if (rc == SM_OK && cfg.tls_cert) rc = sm_options_set_tls_cert(opts, cfg.tls_cert, cfg.tls_key);
  if (rc == SM_OK && cfg.tls_name) rc = sm_options_set_tls_server_name(opts, cfg.tls_name);
  if (rc == SM_OK && cfg.tls_insecure) rc = sm_options_set_tls_insecure_skip_verify(opts, true);
  if (rc != SM_OK) {
    sm_options_free(opts);
    return usage_error("%s", sm_last_error());
  }
  sm_client *client = NULL;
  rc = sm_connect(cfg.url, opts, &client);
  sm_options_free(opts);
  if (rc != SM_OK) {
    fprintf(stderr, "statemgr-bench: cannot connect to %s: %s (%s)\n", cfg.url, sm_errname(rc),
            sm_last_error());
    return rc == SM_EINVAL ? BENCH_USAGE : BENCH_CONNECT;
  }
  bool header = false;
  int status = BENCH_OK;
  for (int i = 0; i < nlist && status == BENCH_OK; i++)
    status = run_workload(&cfg, list[i], client, &header);
  sm_client_free(client);
  return status;
}
