/* conn.c - one blocking connection to the daemon.
 *
 * Transport (TCP with a connect timeout and TCP_NODELAY, or a UNIX socket),
 * the handshake (Hello -> Auth -> AuthResult, with the daemon's proof of the
 * key verified: a daemon that cannot prove it knows the key is refused), and
 * synchronous requests. Frames are cut with frame_parse() out of one read
 * buffer; messages go through proto/msg.h. Errors set the thread's last
 * error text here, where the details are known. */
#include "conn.h"

#include "../proto/auth.h"
#include "../proto/frame.h"
#include "errors.h"
#include "value_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Buffers that grew past this for one big message are released after it. */
#define CONN_KEEP_BUFFER (1u << 20)

struct conn {
  int fd;        /**< -1 once closed */
  pid_t pid;     /**< the process that opened it */
  bool broken;   /**< a transport or framing error happened: never reuse */
  uint64_t seq;  /**< last request sequence number */
  uint8_t *rbuf; /**< bytes received and not consumed yet */
  size_t rlen, rcap;
  vbuf wbuf;       /**< the request being sent */
  const char *url; /**< borrowed from the client, for messages */
};

/* ---- time and waiting ---- */

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for events or the deadline (-1: none) passes.
 * Returns 0, or SM_ETIMEOUT. */
static int wait_fd(int fd, short events, int64_t deadline) {
  for (;;) {
    int timeout = -1;
    if (deadline >= 0) {
      int64_t left = deadline - now_ms();
      if (left <= 0) return SM_ETIMEOUT;
      timeout = left > 1000000 ? 1000000 : (int)left;
    }
    struct pollfd p = {.fd = fd, .events = events};
    int n = poll(&p, 1, timeout);
    if (n > 0) return 0;
    if (n < 0 && errno != EINTR) return 0; /* let the following I/O report it */
  }
}

/* ---- transport ---- */

/* Connects one address with a deadline. Returns the fd, or -1 with errno. */
static int connect_addr(const struct sockaddr *sa, socklen_t salen, int family, int64_t deadline) {
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return -1;
  int rc = connect(fd, sa, salen);
  if (rc != 0 && (errno == EINPROGRESS || errno == EAGAIN)) {
    if (wait_fd(fd, POLLOUT, deadline) != 0) {
      close(fd);
      errno = ETIMEDOUT;
      return -1;
    }
    int soerr = 0;
    socklen_t len = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0) soerr = errno;
    rc = soerr ? -1 : 0;
    errno = soerr;
  }
  if (rc != 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  /* The rest of the session is blocking I/O; deadlines use poll(). */
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Opens the socket for cfg. Returns the fd, or a negative SM_E* code. */
static int open_socket(const conn_cfg *cfg, int64_t deadline) {
  const url_addr *a = cfg->addr;
  if (a->scheme == URL_TLS) return err_set(SM_ETLS, "%s: TLS is not supported yet", cfg->url);
  if (a->scheme == URL_UNIX) {
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    memcpy(sun.sun_path, a->path, sizeof sun.sun_path);
    int fd = connect_addr((const struct sockaddr *)&sun, sizeof sun, AF_UNIX, deadline);
    if (fd < 0) return err_set(SM_ECONNECT, "cannot connect to %s: %s", cfg->url, strerror(errno));
    return fd;
  }
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_NUMERICSERV};
  struct addrinfo *res = NULL;
  int gai = getaddrinfo(a->host, a->port, &hints, &res);
  if (gai != 0)
    return err_set(SM_ECONNECT, "cannot resolve %s: %s", a->host,
                   gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
  int fd = -1, saved = 0;
  for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = connect_addr(ai->ai_addr, ai->ai_addrlen, ai->ai_family, deadline);
    if (fd < 0) saved = errno;
  }
  freeaddrinfo(res);
  if (fd < 0) return err_set(SM_ECONNECT, "cannot connect to %s: %s", cfg->url, strerror(saved));
  int one = 1; /* requests are small and synchronous: never wait for Nagle */
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

/* Marks k broken and closes its socket; returns code for chaining. */
static int fail(conn *k, int code) {
  k->broken = true;
  if (k->fd >= 0) close(k->fd);
  k->fd = -1;
  return code;
}

static int send_all(conn *k, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(k->fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0)
      return fail(k, err_set(SM_ECLOSED, "connection to %s lost while sending: %s", k->url,
                             strerror(errno)));
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Makes room for at least need bytes in the read buffer. */
static int reserve_read(conn *k, size_t need) {
  if (k->rcap >= need) return 0;
  size_t cap = k->rcap ? k->rcap : 4096;
  while (cap < need) cap *= 2;
  uint8_t *p = realloc(k->rbuf, cap);
  if (!p) return err_set(SM_ENOMEM, "out of memory for a %zu-byte reply", need);
  k->rbuf = p;
  k->rcap = cap;
  return 0;
}

/* Waits for one whole frame of at most max payload bytes. On success
 * *payload borrows it from the read buffer and *size is what
 * consume_frame() must drop afterwards. Failures break the connection. */
static int read_frame(conn *k, size_t max, int64_t deadline, sm_span *payload, size_t *size) {
  for (;;) {
    size_t n = 0;
    frame_state st = frame_parse(k->rbuf, k->rlen, max, &n);
    if (st == FRAME_READY) {
      *payload = (sm_span){k->rbuf + FRAME_HEADER_LEN, n};
      *size = FRAME_HEADER_LEN + n;
      return 0;
    }
    if (st == FRAME_TOO_LARGE)
      return fail(k, err_set(SM_EPROTO, "%s sent a %zu-byte frame, over the %zu-byte limit",
                             k->url, n, max));
    int rc = reserve_read(k, k->rlen >= FRAME_HEADER_LEN ? FRAME_HEADER_LEN + n : 4096);
    if (rc != 0) return fail(k, rc);
    if (wait_fd(k->fd, POLLIN, deadline) != 0)
      return fail(k, err_set(SM_ETIMEOUT, "timed out waiting for %s", k->url));
    ssize_t r = recv(k->fd, k->rbuf + k->rlen, k->rcap - k->rlen, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) return fail(k, err_set(SM_ECLOSED, "%s closed the connection", k->url));
    if (r < 0)
      return fail(k, err_set(SM_ECLOSED, "connection to %s lost: %s", k->url, strerror(errno)));
    k->rlen += (size_t)r;
  }
}

/* Drops a handled frame from the read buffer, and the buffer itself when
 * one big reply had grown it. */
static void consume_frame(conn *k, size_t size) {
  memmove(k->rbuf, k->rbuf + size, k->rlen - size);
  k->rlen -= size;
  if (k->rlen == 0 && k->rcap > CONN_KEEP_BUFFER) {
    free(k->rbuf);
    k->rbuf = NULL;
    k->rcap = 0;
  }
}

/* ---- handshake ---- */

static int handshake(conn *k, const conn_cfg *cfg, int64_t deadline) {
  sm_span payload;
  size_t size;
  uint32_t version = 0;
  uint8_t server_ch[AUTH_CHALLENGE_LEN], client_ch[AUTH_CHALLENGE_LEN];
  uint8_t mac[AUTH_MAC_LEN], expected[AUTH_MAC_LEN];
  char why[256];

  int rc = read_frame(k, FRAME_MAX_PREAUTH, deadline, &payload, &size);
  if (rc != 0) return rc;
  if (wire_hello_decode(payload, &version, server_ch) != 0)
    return fail(k, err_set(SM_EPROTO, "%s is not a statemgrd (bad hello)", cfg->url));
  consume_frame(k, size);
  if (version != AUTH_PROTOCOL_VERSION)
    return fail(k, err_set(SM_EPROTO, "%s speaks protocol %u, this library %u", cfg->url,
                           version, AUTH_PROTOCOL_VERSION));

  if (auth_random(client_ch, sizeof client_ch) != 0)
    return fail(k, err_set(SM_EAUTH, "no randomness for the authentication challenge"));
  auth_client_mac(cfg->key, cfg->keylen, server_ch, client_ch, mac);
  vb_reset(&k->wbuf);
  rc = wire_auth_encode(&k->wbuf, mac, client_ch, cfg->client_name);
  auth_wipe(mac, sizeof mac);
  if (rc != 0) return fail(k, err_set(SM_ENOMEM, "out of memory"));
  rc = send_all(k, k->wbuf.p, k->wbuf.len);
  auth_wipe(k->wbuf.p, k->wbuf.len);
  if (rc != 0) return rc;

  rc = read_frame(k, FRAME_MAX_PREAUTH, deadline, &payload, &size);
  if (rc != 0) return rc;
  int status = 0;
  bool has_mac = false;
  rc = wire_auth_result_decode(payload, &status, mac, &has_mac, why, sizeof why);
  consume_frame(k, size);
  if (rc != 0) return fail(k, err_set(SM_EPROTO, "%s sent a malformed auth result", cfg->url));
  if (status != WS_OK)
    return fail(k, err_set(-status, "%s: %s", cfg->url,
                           why[0] ? why : sm_strerror(-status)));
  /* Mutual: the daemon must prove it knows the key too. */
  auth_server_mac(cfg->key, cfg->keylen, server_ch, client_ch, expected);
  bool ok = has_mac && auth_mac_ok(mac, sizeof mac, expected);
  auth_wipe(mac, sizeof mac);
  auth_wipe(expected, sizeof expected);
  if (!ok)
    return fail(k, err_set(SM_EAUTH, "%s could not prove it knows the authkey", cfg->url));
  return 0;
}

int conn_open(const conn_cfg *cfg, conn **out) {
  int64_t deadline = cfg->timeout_ms > 0 ? now_ms() + cfg->timeout_ms : -1;
  conn *k = calloc(1, sizeof *k);
  if (!k) return err_set(SM_ENOMEM, "out of memory");
  k->fd = -1;
  k->pid = getpid();
  k->url = cfg->url;
  vb_init(&k->wbuf);
  int rc = open_socket(cfg, deadline);
  if (rc < 0) {
    conn_free(k);
    return rc;
  }
  k->fd = rc;
  rc = handshake(k, cfg, deadline);
  if (rc == SM_ETIMEOUT || rc == SM_ECLOSED) {
    /* Before authentication these mean the address is not a working daemon. */
    rc = err_set(SM_ECONNECT, "cannot connect to %s: %s", cfg->url,
                 rc == SM_ETIMEOUT ? "no handshake from the daemon in time"
                                   : "the connection closed during the handshake");
  }
  if (rc != 0) {
    conn_free(k);
    return rc;
  }
  *out = k;
  return 0;
}

/* ---- requests ---- */

/* Handles one decoded response to our request. */
static int take_response(conn *k, const wire_response *resp, sm_value **result) {
  if (resp->status != WS_OK)
    return err_set(-resp->status, "%s", resp->error ? resp->error : sm_strerror(-resp->status));
  if (!result) return 0;
  int rc = val_decode(resp->has_result ? resp->result : (sm_span){NULL, 0}, result);
  if (rc == SM_EPROTO) return err_set(rc, "%s sent a malformed value", k->url);
  if (rc != 0) return err_set(rc, "out of memory decoding a reply");
  return 0;
}

int conn_call(conn *k, const wire_request_out *req, sm_value **result) {
  if (!conn_usable(k)) return err_set(SM_ECLOSED, "connection to %s is closed", k->url);
  wire_request_out r = *req;
  r.seq = ++k->seq;
  vb_reset(&k->wbuf);
  if (wire_request_encode(&k->wbuf, &r) != 0) return err_set(SM_ENOMEM, "out of memory");
  size_t len = k->wbuf.len - FRAME_HEADER_LEN;
  int rc = 0;
  if (len > FRAME_MAX_DEFAULT)
    rc = err_set(SM_ETOOLARGE, "%s request of %zu bytes is over the %u-byte frame limit",
                 req->method, len, FRAME_MAX_DEFAULT);
  else
    rc = send_all(k, k->wbuf.p, k->wbuf.len);
  if (k->wbuf.cap > CONN_KEEP_BUFFER) vb_free(&k->wbuf);
  if (rc != 0) return rc;

  for (;;) {
    sm_span payload;
    size_t size;
    rc = read_frame(k, FRAME_MAX_DEFAULT, -1, &payload, &size);
    if (rc != 0) return rc;
    wire_response resp;
    if (wire_response_decode(payload, &resp) != 0) {
      consume_frame(k, size);
      return fail(k, err_set(SM_EPROTO, "%s sent a malformed response", k->url));
    }
    if (resp.seq == r.seq) {
      rc = take_response(k, &resp, result);
      wire_response_release(&resp);
      consume_frame(k, size);
      return rc;
    }
    /* Seq 0 is never ours: the daemon reports a connection-level error
     * (a refused frame) with it and then closes. Other seqs are stale. */
    if (resp.seq == 0 && resp.status != WS_OK) {
      rc = err_set(-resp.status, "%s", resp.error ? resp.error : sm_strerror(-resp.status));
      wire_response_release(&resp);
      consume_frame(k, size);
      return fail(k, rc);
    }
    wire_response_release(&resp);
    consume_frame(k, size);
  }
}

bool conn_usable(const conn *k) { return k && !k->broken && k->fd >= 0 && k->pid == getpid(); }

void conn_drop_fd(conn *k) {
  if (k->fd >= 0) close(k->fd);
  k->fd = -1;
  k->broken = true;
}

void conn_free(conn *k) {
  if (!k) return;
  if (k->fd >= 0) close(k->fd);
  free(k->rbuf);
  vb_free(&k->wbuf);
  free(k);
}
