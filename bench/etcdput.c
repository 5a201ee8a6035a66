/* SPDX-License-Identifier: MIT */
/* etcdput.c - sm_etcdput: etcd's own put rate through the v3 JSON gateway,
 * the way the replicated group writes to it, for bench/cluster.sh.
 *
 * etcd's benchmark client (tools/benchmark) is not packaged in Debian, so
 * this stands in for `benchmark put`: W writers each keep D puts in flight
 * (D HTTP/1.1 connections each, TCP_NODELAY, kept alive: evhttp does not
 * pipeline), the writers spread over the endpoints given, every put a POST
 * of /v3/kv/put with a 40-byte key shaped like a batch key of the group's
 * log and a value of -d bytes (default 168: the group's batch of one
 * dict_set with a 16-byte key and a 64-byte value). Each connection first
 * makes one put that is not counted (the connection's setup), then the
 * timed ones; a put's latency runs from the request being queued on its
 * connection to the answer, recorded in bench_hist.h's histogram. Every
 * answer must be HTTP 200 with a header revision, else the run fails.
 *
 * Output, one line in statemgr-bench's format (clients = writers, pipeline
 * = puts in flight per writer):
 *   workload=etcd_put transport=http clients=W pipeline=D ops_per_s=X p50_us=Y p99_us=Z max_us=M
 * or CSV with --csv. Exit codes: 0 ok, 1 a put failed, 2 usage. */
#include "../client/tools/bench_hist.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define MAX_ENDPOINTS 16
#define MAX_WRITERS 1000
#define MAX_INFLIGHT 16
#define MAX_VALUE (1u << 20)
#define TIMEOUT_S 10

typedef struct endpoint {
  char host[200];
  uint16_t port;
} endpoint;

struct run;

/* One connection: one put in flight at a time. */
typedef struct slot {
  struct run *run;
  const endpoint *ep;
  struct evhttp_connection *evcon;
  int64_t sent_ns;
  bool warm; /* its untimed first put was answered */
  uint64_t seq;
} slot;

typedef struct run {
  struct event_base *base;
  endpoint eps[MAX_ENDPOINTS];
  int n_eps;
  int writers, inflight;
  uint64_t requests, issued, done;
  slot *slots; /* writers * inflight */
  int cold;    /* slots whose first put is not answered yet */
  char *value_b64;
  hist h;
  int64_t t0, t1;
  int failed;
} run;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* base64 of n bytes (caller frees with free()). */
static char *b64(const void *data, size_t n) {
  char *out = malloc(4 * ((n + 2) / 3) + 1);
  if (out) EVP_EncodeBlock((unsigned char *)out, data, (int)n);
  return out;
}

static void send_put(slot *s);

static void reply_cb(struct evhttp_request *req, void *arg) {
  slot *s = arg;
  run *r = s->run;
  int code = req ? evhttp_request_get_response_code(req) : 0;
  char body[256] = "";
  if (req) {
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    evbuffer_copyout(in, body, n < sizeof body - 1 ? n : sizeof body - 1);
  }
  if (code != 200 || !strstr(body, "\"revision\"")) {
    fprintf(stderr, "sm_etcdput: put to %s:%u failed: %s%d %s\n", s->ep->host,
            (unsigned)s->ep->port, code ? "HTTP " : "no answer ", code, body);
    r->failed = 1;
    event_base_loopbreak(r->base);
    return;
  }
  int64_t t = now_ns();
  if (!s->warm) {
    s->warm = true;
    if (--r->cold == 0) { /* every connection is up: the timed run starts */
      r->t0 = now_ns();
      for (int i = 0; i < r->writers * r->inflight; i++)
        send_put(&r->slots[i]);
    }
    return;
  }
  hist_add(&r->h, (uint64_t)(t - s->sent_ns), 1);
  r->done++;
  if (r->done == r->requests) {
    r->t1 = t;
    event_base_loopbreak(r->base);
    return;
  }
  send_put(s);
}

/* Queues the slot's next put (the untimed first one while it is cold). */
static void send_put(slot *s) {
  run *r = s->run;
  if (s->warm) {
    if (r->issued == r->requests) return; /* the others finish the run */
    r->issued++;
  }
  struct evhttp_request *req = evhttp_request_new(reply_cb, s);
  if (!req) goto fail;
  struct evkeyvalq *h = evhttp_request_get_output_headers(req);
  char host[220], key[48];
  snprintf(host, sizeof host, "%s:%u", s->ep->host, (unsigned)s->ep->port);
  evhttp_add_header(h, "Host", host);
  evhttp_add_header(h, "Content-Type", "application/json");
  /* 40 bytes, as "/statemgr/bench/log/" and a 20-digit batch number. */
  snprintf(key, sizeof key, "/etcdput/bench/puts/%020" PRIu64, s->seq++);
  char *kb = b64(key, strlen(key));
  if (!kb) {
    evhttp_request_free(req);
    goto fail;
  }
  int rc = evbuffer_add_printf(evhttp_request_get_output_buffer(req),
                               "{\"key\":\"%s\",\"value\":\"%s\"}", kb, r->value_b64);
  free(kb);
  if (rc < 0) {
    evhttp_request_free(req);
    goto fail;
  }
  s->sent_ns = now_ns();
  if (evhttp_make_request(s->evcon, req, EVHTTP_REQ_POST, "/v3/kv/put") != 0) goto fail;
  /* Without TCP_NODELAY a request written in two pieces waits for the
   * peer's delayed ACK (the issue measured 48 ms instead of 4). */
  struct bufferevent *bev = evhttp_connection_get_bufferevent(s->evcon);
  evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
  int one = 1;
  if (fd >= 0) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return;
fail:
  fprintf(stderr, "sm_etcdput: cannot send a put to %s:%u\n", s->ep->host, (unsigned)s->ep->port);
  r->failed = 1;
  event_base_loopbreak(r->base);
}

static void usage(FILE *f) {
  fprintf(f, "usage: sm_etcdput -e http://HOST:PORT[,http://HOST:PORT...] [options]\n"
             "\n"
             "  -e, --endpoints URLS  etcd's client URLs; writers take them in turn\n"
             "  -c, --clients W       concurrent writers (default 1)\n"
             "  -P, --inflight D      puts each writer keeps in flight, one connection each\n"
             "                        (default 1)\n"
             "  -n, --requests N      timed puts, all writers together (default 10000)\n"
             "  -d, --data-size B     bytes of each value (default 168: the group's batch of\n"
             "                        one dict_set, 16-byte key and 64-byte value)\n"
             "      --csv             CSV output (a header and one row)\n"
             "  -h, --help            this text\n");
}

static int usage_error(const char *what, const char *arg) {
  fprintf(stderr, "sm_etcdput: %s, not \"%s\" (see --help)\n", what, arg ? arg : "");
  return 2;
}

static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out) {
  char *end;
  if (!s || !*s || *s == '-' || *s == '+') return false;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || *end || v < min || v > max) return false;
  *out = v;
  return true;
}

/* Splits "http://h:p,http://h:p" into r->eps. */
static bool parse_endpoints(run *r, const char *list) {
  while (*list) {
    size_t len = strcspn(list, ",");
    char one[256];
    unsigned port = 0;
    int used = 0;
    if (len == 0 || len >= sizeof one || r->n_eps == MAX_ENDPOINTS) return false;
    memcpy(one, list, len);
    one[len] = '\0';
    endpoint *ep = &r->eps[r->n_eps];
    if (sscanf(one, "http://%199[^:/]:%u%n", ep->host, &port, &used) != 2 ||
        (one[used] != '\0' && strcmp(one + used, "/") != 0) || port == 0 || port > 65535)
      return false;
    ep->port = (uint16_t)port;
    r->n_eps++;
    list += len;
    if (*list == ',') list++;
  }
  return r->n_eps > 0;
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {
      {"endpoints", required_argument, NULL, 'e'},
      {"clients", required_argument, NULL, 'c'},
      {"inflight", required_argument, NULL, 'P'},
      {"requests", required_argument, NULL, 'n'},
      {"data-size", required_argument, NULL, 'd'},
      {"csv", no_argument, NULL, 'C'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  static run r = {.writers = 1, .inflight = 1, .requests = 10000};
  uint64_t v, value_bytes = 168;
  bool csv = false;
  const char *endpoints = NULL;
  int ch;
  opterr = 0;
  while ((ch = getopt_long(argc, argv, ":e:c:P:n:d:h", longopts, NULL)) != -1) {
    switch (ch) {
    case 'e': endpoints = optarg; break;
    case 'c':
      if (!parse_u64(optarg, 1, MAX_WRITERS, &v))
        return usage_error("-c wants 1 to 1000 writers", optarg);
      r.writers = (int)v;
      break;
    case 'P':
      if (!parse_u64(optarg, 1, MAX_INFLIGHT, &v))
        return usage_error("-P wants 1 to 16 puts in flight", optarg);
      r.inflight = (int)v;
      break;
    case 'n':
      if (!parse_u64(optarg, 1, UINT64_MAX / 2, &v))
        return usage_error("-n wants a positive number of puts", optarg);
      r.requests = v;
      break;
    case 'd':
      if (!parse_u64(optarg, 1, MAX_VALUE, &v))
        return usage_error("-d wants 1 to 1048576 bytes", optarg);
      value_bytes = v;
      break;
    case 'C': csv = true; break;
    case 'h': usage(stdout); return 0;
    case ':': return usage_error("an argument is needed", argv[optind - 1]);
    default: return usage_error("unknown option", argv[optind - 1]);
    }
  }
  if (optind < argc) return usage_error("unexpected argument", argv[optind]);
  if (!endpoints || !parse_endpoints(&r, endpoints))
    return usage_error("-e wants etcd URLs http://HOST:PORT separated by commas", endpoints);

  char *value = malloc(value_bytes);
  int n_slots = r.writers * r.inflight;
  r.slots = calloc((size_t)n_slots, sizeof *r.slots);
  r.base = event_base_new();
  if (!value || !r.slots || !r.base) {
    fprintf(stderr, "sm_etcdput: out of memory\n");
    return 1;
  }
  for (uint64_t i = 0; i < value_bytes; i++)
    value[i] = (char)('a' + i % 26);
  r.value_b64 = b64(value, value_bytes);
  free(value);
  hist_init(&r.h);
  struct timeval tv = {TIMEOUT_S, 0};
  for (int i = 0; i < n_slots && !r.failed; i++) {
    slot *s = &r.slots[i];
    s->run = &r;
    s->ep = &r.eps[(i / r.inflight) % r.n_eps]; /* a writer's connections share its endpoint */
    s->seq = (uint64_t)i << 40;
    s->evcon = evhttp_connection_base_new(r.base, NULL, s->ep->host, s->ep->port);
    if (!s->evcon || !r.value_b64) {
      fprintf(stderr, "sm_etcdput: out of memory\n");
      return 1;
    }
    evhttp_connection_set_timeout_tv(s->evcon, &tv);
    evhttp_connection_set_retries(s->evcon, 0);
    r.cold++;
  }
  for (int i = 0; i < n_slots && !r.failed; i++)
    send_put(&r.slots[i]);
  if (!r.failed) event_base_dispatch(r.base);

  if (!r.failed) {
    double secs = (double)(r.t1 - r.t0) / 1e9;
    double ops = secs > 0 ? (double)r.done / secs : 0;
    double p50 = hist_quantile(&r.h, 0.50) / 1000, p99 = hist_quantile(&r.h, 0.99) / 1000;
    double max = (double)r.h.max_ns / 1000;
    if (csv)
      printf("workload,transport,clients,pipeline,ops_per_s,p50_us,p99_us,max_us\n"
             "etcd_put,http,%d,%d,%.0f,%.1f,%.1f,%.1f\n",
             r.writers, r.inflight, ops, p50, p99, max);
    else
      printf("workload=etcd_put transport=http clients=%d pipeline=%d ops_per_s=%.0f "
             "p50_us=%.1f p99_us=%.1f max_us=%.1f\n",
             r.writers, r.inflight, ops, p50, p99, max);
  }
  for (int i = 0; i < n_slots; i++)
    if (r.slots[i].evcon) evhttp_connection_free(r.slots[i].evcon);
  event_base_free(r.base);
  free(r.slots);
  free(r.value_b64);
  return r.failed ? 1 : 0;
}
