/* SPDX-License-Identifier: MIT */
/* pingpong.c - sm_pingpong: the floor under every request/response protocol
 * on this machine, measured in the same run as statemgr-bench.
 *
 * A tiny server thread and C client threads exchange fixed-size messages
 * over loopback TCP (TCP_NODELAY) or a UNIX socket: each client sends
 * REQUEST bytes and waits for RESPONSE bytes, N round trips in total. The
 * server is what an event-loop daemon minimally does: one thread, epoll
 * (level-triggered), non-blocking sockets, one recv and one send per
 * message. The clients do what a blocking client library minimally does:
 * one send, one recv. No parsing, no allocation, no protocol: the ratio
 * statemgr-bench ops_per_s / sm_pingpong ops_per_s is the share of the
 * bare round trip that statemgr keeps. The default sizes are those of a
 * statemgr dict_set frame with a 16-byte key and a 64-byte value (request)
 * and its answer (response).
 *
 * Output, one line per transport, in statemgr-bench's format:
 *   workload=pingpong transport=tcp clients=C pipeline=1 ops_per_s=X p50_us=Y p99_us=Z max_us=M
 * or CSV with --csv. Latencies are per round trip, recorded in the
 * log-linear histogram of client/tools/bench_hist.h. Exit codes: 0 ok,
 * 1 failure, 2 usage. */
#include "../client/tools/bench_hist.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 4096
#define MAX_MSG (1u << 20)
#define DEFAULT_REQ 105 /* a dict_set frame: 16-byte key, 64-byte value */
#define DEFAULT_RESP 8  /* its answer: seq and status */

typedef struct cfg {
  int clients;
  uint64_t requests; /**< round trips in total */
  size_t req_size, resp_size;
  bool csv, quiet;
} cfg;

/* One server-side connection. */
typedef struct sconn {
  int fd;
  size_t have;    /**< bytes of the current request received so far */
  size_t pending; /**< response bytes not written yet (after a short write) */
} sconn;

typedef struct server {
  const cfg *c;
  int lfd;      /**< listening socket */
  int efd;      /**< epoll */
  int stop[2];  /**< a pipe: a byte written to stop[1] ends the loop */
  uint8_t *buf; /**< receive buffer; responses are sent from zeroes */
  uint8_t *zeroes;
  size_t bufsize;
  pthread_t th;
} server;

typedef struct client {
  const cfg *c;
  struct sockaddr_storage addr;
  socklen_t addrlen;
  uint64_t trips; /**< round trips to make */
  hist h;         /**< per round trip */
  int64_t t0, t1; /**< start and end, CLOCK_MONOTONIC ns */
  char error[160];
  pthread_barrier_t *start;
  pthread_t th;
} client;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- server ---- */

static int add_fd(int efd, int fd, uint32_t events, void *ptr) {
  struct epoll_event ev = {.events = events, .data.ptr = ptr};
  return epoll_ctl(efd, EPOLL_CTL_ADD, fd, &ev);
}

static void close_conn(server *s, sconn *k) {
  epoll_ctl(s->efd, EPOLL_CTL_DEL, k->fd, NULL);
  close(k->fd);
  free(k);
}

/* Writes what is owed; switches to EPOLLOUT after a short write. Returns
 * false when the connection failed. */
static bool flush_conn(server *s, sconn *k) {
  while (k->pending > 0) {
    size_t n = k->pending < s->bufsize ? k->pending : s->bufsize;
    ssize_t w = send(k->fd, s->zeroes, n, MSG_NOSIGNAL);
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = k};
      epoll_ctl(s->efd, EPOLL_CTL_MOD, k->fd, &ev);
      return true;
    }
    if (w <= 0) return false;
    k->pending -= (size_t)w;
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = k};
  epoll_ctl(s->efd, EPOLL_CTL_MOD, k->fd, &ev);
  return true;
}

/* One recv per readiness event (level-triggered brings us back), then one
 * send for the whole requests that arrived. */
static bool serve_read(server *s, sconn *k) {
  ssize_t r = recv(k->fd, s->buf, s->bufsize, 0);
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return true;
  if (r <= 0) return false;
  k->have += (size_t)r;
  size_t whole = k->have / s->c->req_size;
  k->have %= s->c->req_size;
  if (whole == 0) return true;
  k->pending += whole * s->c->resp_size;
  return flush_conn(s, k);
}

static void *server_main(void *arg) {
  server *s = arg;
  struct epoll_event evs[64];
  for (;;) {
    int n = epoll_wait(s->efd, evs, 64, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    for (int i = 0; i < n; i++) {
      void *ptr = evs[i].data.ptr;
      if (ptr == &s->stop) return NULL;
      if (ptr == &s->lfd) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* fails on UNIX: fine */
        sconn *k = calloc(1, sizeof *k);
        if (!k) {
          close(fd);
          continue;
        }
        k->fd = fd;
        if (add_fd(s->efd, fd, EPOLLIN, k) != 0) {
          close(fd);
          free(k);
        }
        continue;
      }
      sconn *k = ptr;
      bool ok = true;
      if (evs[i].events & EPOLLOUT) ok = flush_conn(s, k);
      if (ok && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) ok = serve_read(s, k);
      if (!ok) close_conn(s, k);
    }
  }
  return NULL;
}

/* Listens on loopback TCP (port 0) or a UNIX socket at path, and fills
 * addr for the clients. Returns 0 or -1 with a message printed. */
static int server_start(server *s, const cfg *c, bool tcp, const char *path,
                        struct sockaddr_storage *addr, socklen_t *addrlen) {
  memset(s, 0, sizeof *s);
  s->c = c;
  s->bufsize = c->req_size > 65536 ? c->req_size : 65536;
  if (s->bufsize < c->resp_size) s->bufsize = c->resp_size;
  s->buf = malloc(s->bufsize);
  s->zeroes = calloc(1, s->bufsize);
  if (!s->buf || !s->zeroes) return -1;
  memset(addr, 0, sizeof *addr);
  if (tcp) {
    struct sockaddr_in *in = (struct sockaddr_in *)addr;
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *addrlen = sizeof *in;
  } else {
    struct sockaddr_un *un = (struct sockaddr_un *)addr;
    un->sun_family = AF_UNIX;
    snprintf(un->sun_path, sizeof un->sun_path, "%s", path);
    *addrlen = sizeof *un;
  }
  s->lfd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->lfd < 0 || bind(s->lfd, (struct sockaddr *)addr, *addrlen) != 0 ||
      listen(s->lfd, 4096) != 0) {
    fprintf(stderr, "sm_pingpong: cannot listen: %s\n", strerror(errno));
    return -1;
  }
  if (tcp) getsockname(s->lfd, (struct sockaddr *)addr, addrlen); /* the port chosen */
  s->efd = epoll_create1(EPOLL_CLOEXEC);
  if (s->efd < 0 || pipe2(s->stop, O_CLOEXEC) != 0 || add_fd(s->efd, s->lfd, EPOLLIN, &s->lfd) ||
      add_fd(s->efd, s->stop[0], EPOLLIN, &s->stop)) {
    fprintf(stderr, "sm_pingpong: epoll: %s\n", strerror(errno));
    return -1;
  }
  if (pthread_create(&s->th, NULL, server_main, s) != 0) return -1;
  return 0;
}

/* Stops the loop and closes everything (connections are closed by the
 * clients first, so the loop has freed them). */
static void server_stop(server *s) {
  char b = 1;
  if (write(s->stop[1], &b, 1) != 1) perror("sm_pingpong: stop");
  pthread_join(s->th, NULL);
  close(s->lfd);
  close(s->efd);
  close(s->stop[0]);
  close(s->stop[1]);
  free(s->buf);
  free(s->zeroes);
}

/* ---- clients ---- */

static bool send_all(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= (size_t)w;
  }
  return true;
}

static bool recv_all(int fd, uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t r = recv(fd, p, n, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    n -= (size_t)r;
  }
  return true;
}

static void *client_main(void *arg) {
  client *cl = arg;
  const cfg *c = cl->c;
  uint8_t *req = calloc(1, c->req_size), *resp = malloc(c->resp_size);
  int fd = socket(cl->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (!req || !resp || fd < 0 || connect(fd, (struct sockaddr *)&cl->addr, cl->addrlen) != 0)
    snprintf(cl->error, sizeof cl->error, "connect: %s", strerror(errno));
  if (fd >= 0 && cl->addr.ss_family == AF_INET) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  pthread_barrier_wait(cl->start);
  cl->t0 = now_ns();
  for (uint64_t i = 0; i < cl->trips && !cl->error[0]; i++) {
    int64_t t = now_ns();
    if (!send_all(fd, req, c->req_size) || !recv_all(fd, resp, c->resp_size))
      snprintf(cl->error, sizeof cl->error, "round trip %" PRIu64 ": %s", i,
               errno ? strerror(errno) : "connection closed");
    hist_add(&cl->h, (uint64_t)(now_ns() - t), 1);
  }
  cl->t1 = now_ns();
  if (fd >= 0) close(fd);
  free(req);
  free(resp);
  return NULL;
}

/* Runs one transport; prints its line. Returns 0 or 1. */
static int run(const cfg *c, bool tcp, bool *header_done) {
  char dir[] = "/tmp/sm_pingpong.XXXXXX", path[128] = "";
  if (!tcp) {
    if (!mkdtemp(dir)) {
      perror("sm_pingpong: mkdtemp");
      return 1;
    }
    snprintf(path, sizeof path, "%s/pp.sock", dir);
  }
  server s;
  struct sockaddr_storage addr;
  socklen_t addrlen = 0;
  if (server_start(&s, c, tcp, path, &addr, &addrlen) != 0) return 1;
  client *cls = calloc((size_t)c->clients, sizeof *cls);
  pthread_barrier_t start;
  pthread_barrier_init(&start, NULL, (unsigned)c->clients);
  int status = 0;
  for (int i = 0; cls && i < c->clients; i++) {
    client *cl = &cls[i];
    cl->c = c;
    cl->addr = addr;
    cl->addrlen = addrlen;
    cl->trips =
        c->requests / (uint64_t)c->clients + ((uint64_t)i < c->requests % (uint64_t)c->clients);
    cl->start = &start;
    if (pthread_create(&cl->th, NULL, client_main, cl) != 0) {
      fprintf(stderr, "sm_pingpong: cannot start client thread %d\n", i);
      exit(1); /* the barrier would wait forever */
    }
  }
  hist all;
  hist_init(&all);
  int64_t t0 = INT64_MAX, t1 = 0;
  for (int i = 0; cls && i < c->clients; i++) {
    pthread_join(cls[i].th, NULL);
    if (cls[i].error[0]) {
      fprintf(stderr, "sm_pingpong: client %d: %s\n", i, cls[i].error);
      status = 1;
    }
    hist_merge(&all, &cls[i].h);
    if (cls[i].t0 < t0) t0 = cls[i].t0;
    if (cls[i].t1 > t1) t1 = cls[i].t1;
  }
  server_stop(&s);
  if (!tcp) {
    unlink(path);
    rmdir(dir);
  }
  pthread_barrier_destroy(&start);
  free(cls);
  if (status != 0) return status;
  double secs = (double)(t1 - t0) / 1e9, ops = secs > 0 ? (double)all.count / secs : 0;
  double p50 = hist_quantile(&all, 0.50) / 1000, p99 = hist_quantile(&all, 0.99) / 1000;
  double max = (double)all.max_ns / 1000;
  const char *tr = tcp ? "tcp" : "unix";
  if (c->csv) {
    if (!*header_done)
      printf("workload,transport,clients,pipeline,ops_per_s,p50_us,p99_us,max_us\n");
    *header_done = true;
    printf("pingpong,%s,%d,1,%.0f,%.1f,%.1f,%.1f\n", tr, c->clients, ops, p50, p99, max);
  } else {
    printf("workload=pingpong transport=%s clients=%d pipeline=1 ops_per_s=%.0f p50_us=%.1f "
           "p99_us=%.1f max_us=%.1f\n",
           tr, c->clients, ops, p50, p99, max);
  }
  fflush(stdout);
  return 0;
}

/* ---- options ---- */

static void usage(FILE *f) {
  fprintf(f,
          "usage: sm_pingpong [options]\n"
          "\n"
          "  -t, --transport T   tcp, unix or both (default both)\n"
          "  -c, --clients N     concurrent clients, one thread each (default 1)\n"
          "  -n, --requests N    round trips in total (default 100000)\n"
          "  -s, --request B     request size in bytes (default %d: a statemgr dict_set\n"
          "                      of a 16-byte key and a 64-byte value)\n"
          "  -r, --response B    response size in bytes (default %d)\n"
          "      --csv           CSV output\n"
          "  -q, --quiet         print the result lines only\n"
          "  -h, --help          this text\n",
          DEFAULT_REQ, DEFAULT_RESP);
}

/* Parses a positive integer no larger than max. */
static bool parse_count(const char *s, uint64_t max, uint64_t *out) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || v == 0 || v > max || s[0] == '-') return false;
  *out = v;
  return true;
}

int main(int argc, char **argv) {
  static const struct option longopts[] = {
      {"transport", required_argument, NULL, 't'},
      {"clients", required_argument, NULL, 'c'},
      {"requests", required_argument, NULL, 'n'},
      {"request", required_argument, NULL, 's'},
      {"response", required_argument, NULL, 'r'},
      {"csv", no_argument, NULL, 'C'},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  cfg c = {.clients = 1, .requests = 100000, .req_size = DEFAULT_REQ, .resp_size = DEFAULT_RESP};
  bool tcp = true, unix_sock = true;
  int ch;
  uint64_t v;
  while ((ch = getopt_long(argc, argv, "t:c:n:s:r:qh", longopts, NULL)) != -1) {
    switch (ch) {
    case 't':
      tcp = strcmp(optarg, "tcp") == 0 || strcmp(optarg, "both") == 0;
      unix_sock = strcmp(optarg, "unix") == 0 || strcmp(optarg, "both") == 0;
      if (!tcp && !unix_sock) {
        fprintf(stderr, "sm_pingpong: -t wants tcp, unix or both, not \"%s\"\n", optarg);
        return 2;
      }
      break;
    case 'c':
      if (!parse_count(optarg, MAX_CLIENTS, &v)) {
        fprintf(stderr, "sm_pingpong: -c wants 1..%d, not \"%s\"\n", MAX_CLIENTS, optarg);
        return 2;
      }
      c.clients = (int)v;
      break;
    case 'n':
      if (!parse_count(optarg, UINT64_MAX / 2, &v)) {
        fprintf(stderr, "sm_pingpong: -n wants a positive count, not \"%s\"\n", optarg);
        return 2;
      }
      c.requests = v;
      break;
    case 's':
    case 'r':
      if (!parse_count(optarg, MAX_MSG, &v)) {
        fprintf(stderr, "sm_pingpong: -%c wants 1..%u bytes, not \"%s\"\n", ch, MAX_MSG, optarg);
        return 2;
      }
      if (ch == 's')
        c.req_size = (size_t)v;
      else
        c.resp_size = (size_t)v;
      break;
    case 'C': c.csv = true; break;
    case 'q': c.quiet = true; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "sm_pingpong: unexpected argument \"%s\"\n", argv[optind]);
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  if (!c.quiet)
    fprintf(stderr, "sm_pingpong: %zu-byte requests, %zu-byte responses, %d client(s)\n",
            c.req_size, c.resp_size, c.clients);
  bool header = false;
  int status = 0;
  if (tcp) status |= run(&c, true, &header);
  if (unix_sock) status |= run(&c, false, &header);
  return status;
}
