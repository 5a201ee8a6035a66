/* SPDX-License-Identifier: MIT */
/* check_hostile.c - many hostile clients at once, and a well-behaved one
 * beside them, against a real statemgrd over real sockets.
 *
 * check_robust.c sends each kind of bad input on its own; here they all
 * arrive together while a good client works, each kind from an address of
 * its own on the loopback network (127.0.0.0/8):
 *  - 10,000 half-open connections (connected, never a byte sent), opened
 *    as fast as the daemon accepts them, from 127.0.0.3;
 *  - a few hundred connections from 127.0.0.2 that send garbage before
 *    authenticating (an HTTP request, a junk frame), and as many that
 *    authenticate and then send a frame length of 0xFFFFFFFF;
 *  - meanwhile a library client (127.0.0.1) loops over dict set/get and an
 *    atomic add, checking every answer.
 * The daemon (started with --handshake-timeout 2000 so half-open clients
 * go quickly, and its default pre-authentication limits of 512 in all and
 * 128 per address) must answer or close each connection as it should: a
 * half-open one gets its Hello, then either the handshake refusal at the
 * deadline or, when newer ones from its address push it out, "dropped"
 * (TOO_LARGE), and a close; at most 128 of them can still be waiting at
 * their deadline. Garbage gets TOO_LARGE or PROTOCOL_ERROR and a close; the
 * huge length gets TOO_LARGE and a close. The flood's own address being
 * over its limit must not touch the other addresses. The good client must
 * see every one of its requests answered correctly, during the flood too;
 * afterwards the daemon is back to about one connection and its memory
 * stayed bounded. The numbers are printed to stderr. */
#include "proto/auth.h"
#include "proto/authkey.h"
#include "proto/frame.h"
#include "proto/msg.h"
#include "smtest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HALF_OPEN 10000      /* the number of half-open connections */
#define CONNECT_WINDOW 100   /* connects not yet greeted at once (< listen backlog) */
#define HOSTILE_CONNS 400    /* garbage and huge-length senders, half each */
#define HALF_BUF 512         /* what a half-open connection may receive */
#define RSS_LIMIT_KIB 204800 /* 200 MiB */
#define FLOOD_DEADLINE_S 40  /* opening and draining must finish by then */
#define PER_ADDR_LIMIT 128   /* the daemon's default --max-unauth-per-addr */
#define HOSTILE_ADDR "127.0.0.2"
#define FLOOD_ADDR "127.0.0.3"

static smtest_daemon d;

static void start(void) {
  const char *args[] = {"--handshake-timeout", "2000", NULL};
  smtest_daemon_start(&d, args);
}

static void stop(void) { smtest_daemon_stop_checked(&d); }

/* A TCP socket bound to the loopback address addr (flags: socket()'s). */
static int socket_from(const char *addr, int flags) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
  struct sockaddr_in src = {.sin_family = AF_INET};
  inet_pton(AF_INET, addr, &src.sin_addr);
  if (fd >= 0 && bind(fd, (struct sockaddr *)&src, sizeof src) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static struct sockaddr_in daemon_addr(void) {
  const char *colon = strrchr(d.tcp_url, ':');
  ck_assert_ptr_nonnull(colon);
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
  inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
  return sin;
}

static long rss_kib(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  long kib = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
  fclose(f);
  return kib;
}

/* ---- the well-behaved client (its own thread) ---- */

typedef struct good_client {
  atomic_bool stop;
  atomic_long done;     /* requests answered so far */
  long wrong, failures; /* read after the join */
  double max_latency_s; /* slowest set + get + add round */
  char first_error[256];
} good_client;

static void good_fail(good_client *g, const char *what, int rc) {
  if (g->failures++ == 0)
    snprintf(g->first_error, sizeof g->first_error, "%s: %s: %s", what, sm_errname(rc),
             sm_last_error());
}

/* Loops set(k, i), get(k) == i, add(1) == i + 1 until told to stop. */
static void *good_main(void *arg) {
  good_client *g = arg;
  sm_options *o = sm_options_new();
  sm_client *c = NULL;
  sm_dict *dict = NULL;
  sm_var *var = NULL;
  int rc = sm_options_set_authkey_file(o, d.authkey_file);
  if (rc == 0) rc = sm_connect(d.tcp_url, o, &c);
  if (rc == 0) rc = sm_dict_open(c, "hostile-good", &dict);
  if (rc == 0) rc = sm_var_open(c, "hostile-counter", NULL, &var);
  if (rc != 0) good_fail(g, "setup", rc);
  for (int64_t i = 0; rc == 0 && !atomic_load(&g->stop); i++) {
    char key[32];
    snprintf(key, sizeof key, "k%lld", (long long)(i % 64));
    double t0 = smtest_now_s();
    int64_t got = -1, n = -1;
    if ((rc = sm_dict_set_int(dict, key, i)) != 0) {
      good_fail(g, "set", rc);
    } else if ((rc = sm_dict_get_int(dict, key, &got)) != 0) {
      good_fail(g, "get", rc);
    } else if ((rc = sm_var_add_int(var, 1, &n)) != 0) {
      good_fail(g, "add", rc);
    } else {
      if (got != i) g->wrong++;
      if (n != i + 1) g->wrong++;
      double dt = smtest_now_s() - t0;
      if (dt > g->max_latency_s) g->max_latency_s = dt;
      atomic_fetch_add(&g->done, 3);
    }
  }
  sm_var_free(var);
  sm_dict_free(dict);
  sm_client_free(c);
  sm_options_free(o);
  return NULL;
}

/* ---- raw connections that do not fail the test from a thread ---- */

static int tcp_connect(const struct sockaddr_in *sa) {
  int fd = socket_from(HOSTILE_ADDR, 0);
  if (fd < 0) return -1;
  if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static bool send_all(int fd, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n > 0) {
    ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    b += w;
    n -= (size_t)w;
  }
  return true;
}

/* Reads one frame's payload: its length, -1 on EOF or reset, -2 after ms
 * without it, -3 for a frame over cap. */
static long read_frame_to(int fd, uint8_t *buf, size_t cap, int ms) {
  uint8_t hdr[FRAME_HEADER_LEN];
  size_t have = 0, need = sizeof hdr;
  bool header = true;
  while (have < need) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, ms) != 1) return -2;
    ssize_t r = recv(fd, header ? hdr + have : buf + have, need - have, 0);
    if (r <= 0) return -1;
    have += (size_t)r;
    if (header && have == need) {
      size_t len;
      if (frame_parse(hdr, sizeof hdr, cap, &len) == FRAME_TOO_LARGE) return -3;
      header = false;
      have = 0;
      need = len;
    }
  }
  return (long)need;
}

/* True when the daemon closes fd (EOF or reset) within ms. */
static bool closed_within(int fd, int ms) {
  uint8_t buf[1024];
  for (;;) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, ms) != 1) return false;
    if (recv(fd, buf, sizeof buf, 0) <= 0) return true;
  }
}

/* The AuthResult status in a payload, or -1. text gets its error. */
static int auth_status(const uint8_t *p, long n, char *text, size_t len) {
  int status;
  bool has_mac;
  uint8_t mac[AUTH_MAC_LEN];
  if (n < 0 || wire_auth_result_decode((sm_span){p, (size_t)n}, &status, mac, &has_mac, text, len,
                                       NULL) != 0)
    return -1;
  return status;
}

/* ---- garbage and huge-length senders (their own thread) ---- */

typedef struct hostile {
  struct sockaddr_in addr;
  authkey key;
  atomic_long *flood_opened;          /* starts once the flood is under way */
  long garbage_refused, huge_refused; /* the answer the input deserves, then a close */
  long over_limit;                    /* "too many connections" at the handshake */
  long closed_at_once;                /* closed before a Hello: past the limit's margin */
  long unexpected;
  char first_error[256];
} hostile;

static void hostile_odd(hostile *h, const char *what, int i) {
  if (h->unexpected++ == 0)
    snprintf(h->first_error, sizeof h->first_error, "%s (conn %d)", what, i);
}

/* One garbage sender: an HTTP request (TOO_LARGE from its header alone) or
 * a junk frame (PROTOCOL_ERROR) before authenticating. */
static void garbage_one(hostile *h, int i) {
  uint8_t buf[4096];
  char text[128];
  int fd = tcp_connect(&h->addr);
  if (fd < 0) {
    hostile_odd(h, "connect failed", i);
    return;
  }
  long n = read_frame_to(fd, buf, sizeof buf, 10000);
  uint32_t version;
  uint8_t ch[AUTH_CHALLENGE_LEN];
  if (n == -1) {
    h->closed_at_once++;
  } else if (n < 0 || wire_hello_decode((sm_span){buf, (size_t)n}, &version, NULL, ch) != 0) {
    hostile_odd(h, "no Hello for a garbage sender", i);
  } else {
    static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    static const uint8_t junk[] = {0, 0, 0, 5, 0xde, 0xad, 0xbe, 0xef, 0x00};
    bool is_http = i % 2 == 0;
    bool sent = is_http ? send_all(fd, http, sizeof http - 1) : send_all(fd, junk, sizeof junk);
    int st = auth_status(buf, read_frame_to(fd, buf, sizeof buf, 10000), text, sizeof text);
    bool refused = is_http ? st == WS_TOO_LARGE : st == WS_PROTOCOL_ERROR;
    if (!is_http && st == WS_TOO_LARGE && strstr(text, "too many connections")) {
      h->over_limit++;
      refused = true;
    } else if (refused) {
      h->garbage_refused++;
    }
    if (!sent || !refused || !closed_within(fd, 10000))
      hostile_odd(h, "garbage not refused and closed", i);
  }
  close(fd);
}

/* One huge-length sender: authenticates, then sends a header claiming
 * 0xFFFFFFFF bytes; TOO_LARGE comes back and the connection closes. */
static void huge_one(hostile *h, int i) {
  uint8_t buf[4096], sc[AUTH_CHALLENGE_LEN], cc[AUTH_CHALLENGE_LEN], mac[AUTH_MAC_LEN];
  char text[128];
  int fd = tcp_connect(&h->addr);
  if (fd < 0) {
    hostile_odd(h, "connect failed", i);
    return;
  }
  long n = read_frame_to(fd, buf, sizeof buf, 10000);
  uint32_t version;
  if (n == -1) {
    h->closed_at_once++;
    close(fd);
    return;
  }
  if (n < 0 || wire_hello_decode((sm_span){buf, (size_t)n}, &version, NULL, sc) != 0) {
    hostile_odd(h, "no Hello for a huge-length sender", i);
    close(fd);
    return;
  }
  auth_random(cc, sizeof cc);
  auth_client_mac(h->key.bytes, h->key.len, sc, cc, mac);
  vbuf b;
  vb_init(&b);
  bool ok = wire_auth_encode(&b, AUTH_PROTOCOL_VERSION, mac, cc, "hostile") == 0 &&
            send_all(fd, b.p, b.len);
  vb_free(&b);
  int st = ok ? auth_status(buf, read_frame_to(fd, buf, sizeof buf, 10000), text, sizeof text) : -1;
  if (st == WS_TOO_LARGE && strstr(text, "too many connections")) {
    h->over_limit++;
    if (!closed_within(fd, 10000)) hostile_odd(h, "over the limit, not closed", i);
  } else if (st != WS_OK) {
    hostile_odd(h, "handshake failed", i);
  } else {
    static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 1, 2, 3};
    wire_response rs = {0};
    ok = send_all(fd, huge, sizeof huge);
    n = ok ? read_frame_to(fd, buf, sizeof buf, 10000) : -1;
    if (n >= 0 && wire_response_decode((sm_span){buf, (size_t)n}, &rs) == 0 && rs.seq == 0 &&
        rs.status == WS_TOO_LARGE && closed_within(fd, 10000))
      h->huge_refused++;
    else
      hostile_odd(h, "huge length not refused and closed", i);
    wire_response_release(&rs);
  }
  close(fd);
}

static void *hostile_main(void *arg) {
  hostile *h = arg;
  while (atomic_load(h->flood_opened) < HALF_OPEN / 10)
    usleep(1000);
  for (int i = 0; i < HOSTILE_CONNS; i++) {
    if (i % 2)
      huge_one(h, i);
    else
      garbage_one(h, i);
  }
  return NULL;
}

/* ---- daemon memory, sampled all along (its own thread) ---- */

typedef struct sampler {
  pid_t pid;
  atomic_bool stop;
  long peak_kib;
} sampler;

static void *sampler_main(void *arg) {
  sampler *s = arg;
  while (!atomic_load(&s->stop)) {
    long kib = rss_kib(s->pid);
    if (kib > s->peak_kib) s->peak_kib = kib;
    usleep(20 * 1000);
  }
  return NULL;
}

/* ---- the half-open flood (the test's own thread) ---- */

typedef struct half {
  int fd;
  uint16_t len; /* bytes received, in buf */
  bool greeted; /* received something: the daemon accepted it */
  bool closed;  /* EOF or reset seen */
  uint8_t buf[HALF_BUF];
} half;

/* Reads what has arrived on h; returns false on EOF or reset. */
static bool half_read(half *h) {
  uint8_t junk[HALF_BUF];
  for (;;) {
    size_t room = sizeof h->buf - h->len;
    ssize_t r = room ? recv(h->fd, h->buf + h->len, room, MSG_DONTWAIT)
                     : recv(h->fd, junk, sizeof junk, MSG_DONTWAIT);
    if (r > 0) {
      if (room)
        h->len = (uint16_t)(h->len + (size_t)r);
      else
        h->len = (uint16_t)(sizeof h->buf + 1); /* more than any refusal: wrong */
      h->greeted = true;
      continue;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    h->closed = true; /* 0: EOF; ECONNRESET and the like: closed too */
    return false;
  }
}

/* How a half-open connection ended: 1 Hello then the deadline refusal, 2
 * closed without a word, 3 Hello then "dropped" to make room for newer
 * connections of its address, 0 anything else. */
static int half_outcome(const half *h) {
  if (!h->closed) return 0;
  if (h->len == 0) return 2;
  if (h->len > sizeof h->buf) return 0;
  size_t plen;
  if (frame_parse(h->buf, h->len, HALF_BUF, &plen) != FRAME_READY) return 0;
  uint32_t version;
  uint8_t ch[AUTH_CHALLENGE_LEN];
  if (wire_hello_decode((sm_span){h->buf + FRAME_HEADER_LEN, plen}, &version, NULL, ch) != 0)
    return 0;
  size_t off = FRAME_HEADER_LEN + plen;
  if (frame_parse(h->buf + off, h->len - off, HALF_BUF, &plen) != FRAME_READY) return 0;
  if (off + FRAME_HEADER_LEN + plen != h->len) return 0; /* nothing after the refusal */
  char text[192];
  int st = auth_status(h->buf + off + FRAME_HEADER_LEN, (long)plen, text, sizeof text);
  if (st == WS_PROTOCOL_ERROR && strstr(text, "handshake")) return 1;
  if (st == WS_TOO_LARGE && strstr(text, "dropped") && strstr(text, "waiting to authenticate"))
    return 3;
  return 0;
}

/* Makes room for n more descriptors in this process. */
static void raise_nofile(rlim_t n) {
  struct rlimit rl;
  ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= n) return;
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < n) rl.rlim_max = n; /* root may raise it */
  rl.rlim_cur = n;
  ck_assert_msg(setrlimit(RLIMIT_NOFILE, &rl) == 0,
                "this test needs %llu open files (RLIMIT_NOFILE): %s", (unsigned long long)n,
                strerror(errno));
}

static int64_t info_int(sm_client *c, const char *field) {
  sm_value *info = NULL;
  OK(sm_info(c, &info));
  sm_value *k = sm_value_str(field);
  const sm_value *v = sm_value_map_get(info, k);
  ck_assert_ptr_nonnull(v);
  int64_t n = sm_value_as_int(v);
  sm_value_free(k);
  sm_value_free(info);
  return n;
}

/* 10,000 half-open connections, garbage and huge-length senders, and a
 * well-behaved client, all at once: every connection is answered or closed
 * as it should be, every good request is answered correctly (during the
 * flood too), the daemon ends with about one connection, and its memory
 * stays under 200 MB throughout. */
START_TEST(flood_with_good_client) {
  raise_nofile(HALF_OPEN + 1024);
  struct sockaddr_in addr = daemon_addr();
  char err[256];

  /* The good client connects first, then works through it all. */
  good_client good = {.wrong = 0};
  atomic_init(&good.stop, false);
  atomic_init(&good.done, 0);
  pthread_t good_thread, hostile_thread, sampler_thread;
  ck_assert_int_eq(pthread_create(&good_thread, NULL, good_main, &good), 0);
  double t_wait = smtest_now_s();
  while (atomic_load(&good.done) == 0 && smtest_now_s() - t_wait < 10)
    usleep(1000);
  ck_assert_msg(atomic_load(&good.done) > 0, "the good client never got going");

  sampler smp = {.pid = d.pid};
  atomic_init(&smp.stop, false);
  ck_assert_int_eq(pthread_create(&sampler_thread, NULL, sampler_main, &smp), 0);

  atomic_long opened;
  atomic_init(&opened, 0);
  hostile hst = {.addr = addr, .flood_opened = &opened};
  ck_assert_msg(authkey_load(d.authkey_file, false, &hst.key, err, sizeof err) == 0, "%s", err);
  ck_assert_int_eq(pthread_create(&hostile_thread, NULL, hostile_main, &hst), 0);

  /* Open the flood, never more than CONNECT_WINDOW not yet greeted. */
  half *hs = calloc(HALF_OPEN, sizeof *hs);
  int *pending = malloc(HALF_OPEN * sizeof *pending);
  struct pollfd *pfds = malloc(HALF_OPEN * sizeof *pfds);
  ck_assert(hs && pending && pfds);
  size_t npending = 0, next = 0;
  long connect_errors = 0;
  long done_before = atomic_load(&good.done);
  double t0 = smtest_now_s();
  while (next < HALF_OPEN || npending > 0) {
    ck_assert_msg(smtest_now_s() - t0 < FLOOD_DEADLINE_S, "flood stuck: %zu opened, %zu pending",
                  next, npending);
    while (next < HALF_OPEN && npending < CONNECT_WINDOW) {
      half *h = &hs[next];
      h->fd = socket_from(FLOOD_ADDR, SOCK_NONBLOCK);
      ck_assert_msg(h->fd >= 0, "socket from " FLOOD_ADDR ": %s", strerror(errno));
      if (connect(h->fd, (struct sockaddr *)&addr, sizeof addr) != 0 && errno != EINPROGRESS) {
        connect_errors++;
        h->closed = true;
      } else {
        pending[npending++] = (int)next;
      }
      next++;
      atomic_store(&opened, (long)next);
    }
    for (size_t i = 0; i < npending; i++)
      pfds[i] = (struct pollfd){.fd = hs[pending[i]].fd, .events = POLLIN};
    poll(pfds, npending, 200);
    size_t kept = 0;
    for (size_t i = 0; i < npending; i++) {
      half *h = &hs[pending[i]];
      if (pfds[i].revents) half_read(h);
      if (!h->greeted && !h->closed) pending[kept++] = pending[i];
    }
    npending = kept;
  }
  double t_open = smtest_now_s();
  long done_during = atomic_load(&good.done) - done_before;

  /* Every one must now be refused at its deadline and closed. */
  size_t left = 0;
  for (size_t i = 0; i < HALF_OPEN; i++)
    if (!hs[i].closed) pending[left++] = (int)i;
  while (left > 0 && smtest_now_s() - t0 < FLOOD_DEADLINE_S) {
    for (size_t i = 0; i < left; i++)
      pfds[i] = (struct pollfd){.fd = hs[pending[i]].fd, .events = POLLIN};
    poll(pfds, left, 200);
    size_t kept = 0;
    for (size_t i = 0; i < left; i++) {
      half *h = &hs[pending[i]];
      if (pfds[i].revents) half_read(h);
      if (!h->closed) pending[kept++] = pending[i];
    }
    left = kept;
  }
  double t_closed = smtest_now_s();
  ck_assert_int_eq(pthread_join(hostile_thread, NULL), 0);
  authkey_clear(&hst.key);

  long refused = 0, silent = 0, dropped = 0, wrong_end = 0;
  for (size_t i = 0; i < HALF_OPEN; i++) {
    switch (half_outcome(&hs[i])) {
    case 1: refused++; break;
    case 2: silent++; break;
    case 3: dropped++; break;
    default: wrong_end++;
    }
    close(hs[i].fd);
  }
  free(hs);
  free(pending);
  free(pfds);

  /* Back to about one connection: ours, asking. */
  atomic_store(&good.stop, true);
  ck_assert_int_eq(pthread_join(good_thread, NULL), 0);
  sm_client *c = smtest_connect(&d, NULL);
  int64_t conns = info_int(c, "connections");
  for (int tries = 0; tries < 200 && conns > 1; tries++) {
    usleep(50 * 1000); /* the daemon sees the last closes asynchronously */
    conns = info_int(c, "connections");
  }
  sm_client_free(c);
  atomic_store(&smp.stop, true);
  ck_assert_int_eq(pthread_join(sampler_thread, NULL), 0);
  long rss_after = rss_kib(d.pid);

  fprintf(stderr,
          "hostile: %d half-open connections opened in %.2f s, all closed %.2f s later "
          "(%ld refused at the handshake deadline, %ld dropped for newer ones, %ld closed at "
          "once, %ld wrong, %ld connect errors)\n"
          "hostile: %d garbage/huge senders: %ld garbage refused, %ld huge lengths refused, "
          "%ld over the limit, %ld closed at once, %ld unexpected%s%s\n"
          "hostile: good client: %ld requests (%ld during the flood), %ld wrong, %ld failed, "
          "slowest set+get+add %.1f ms%s%s\n"
          "hostile: daemon RSS peak %.1f MiB, after %.1f MiB; connections after: %lld\n",
          HALF_OPEN, t_open - t0, t_closed - t_open, refused, dropped, silent, wrong_end,
          connect_errors, HOSTILE_CONNS, hst.garbage_refused, hst.huge_refused, hst.over_limit,
          hst.closed_at_once, hst.unexpected, hst.unexpected ? ": " : "", hst.first_error,
          atomic_load(&good.done), done_during, good.wrong, good.failures, good.max_latency_s * 1e3,
          good.failures ? ": " : "", good.first_error, (double)smp.peak_kib / 1024,
          (double)rss_after / 1024, (long long)conns);

  ck_assert_msg(good.failures == 0, "good client failed: %s", good.first_error);
  ck_assert_int_eq(good.wrong, 0);
  ck_assert_msg(done_during >= 30, "the good client got only %ld answers during the flood",
                done_during);
  ck_assert_int_eq(connect_errors, 0);
  ck_assert_int_eq(left, 0);
  ck_assert_int_eq(wrong_end, 0);
  ck_assert_int_eq(refused + dropped + silent, HALF_OPEN);
  /* The flood's address never held more than PER_ADDR_LIMIT at once, and each
   * lives at most the 2 s deadline: so at most that many reach their deadline
   * per 2 s of flooding, plus the last ones (a slow build, such as ASan's,
   * floods for longer than one deadline). */
  ck_assert_int_le(refused, PER_ADDR_LIMIT * (1 + (long)((t_open - t0) / 2.0)));
  ck_assert_int_gt(dropped, 0);
  ck_assert_msg(hst.unexpected == 0, "hostile senders: %s", hst.first_error);
  ck_assert_int_eq(hst.garbage_refused + hst.huge_refused + hst.over_limit + hst.closed_at_once,
                   HOSTILE_CONNS);
  ck_assert_int_eq(hst.over_limit, 0); /* the flood's address is not theirs */
  ck_assert_int_gt(hst.garbage_refused, 0);
  ck_assert_int_gt(hst.huge_refused, 0);
  ck_assert_int_le(conns, 1);
  ck_assert_msg(smp.peak_kib > 0 && smp.peak_kib < RSS_LIMIT_KIB, "daemon RSS peaked at %ld KiB",
                smp.peak_kib);
  ck_assert_int_lt(rss_after, RSS_LIMIT_KIB);
}
END_TEST

Suite *hostile_suite(void) {
  Suite *s = suite_create("hostile");
  TCase *tc = tcase_create("flood");
  tcase_add_unchecked_fixture(tc, start, stop);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, flood_with_good_client);
  suite_add_tcase(s, tc);
  return s;
}
