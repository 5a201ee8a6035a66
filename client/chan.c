/* SPDX-License-Identifier: MIT */
/* chan.c - one blocking connection to the daemon.
 *
 * Transport (TCP with a connect timeout, TCP_NODELAY and keepalive, TLS over
 * such a TCP socket, or a UNIX socket),
 * the handshake (Hello -> Auth -> AuthResult, with the daemon's proof of the
 * key verified: a daemon that cannot prove it knows the key is refused; the
 * library speaks protocol AUTH_PROTOCOL_VERSION, or 2 to a daemon that
 * offers no more, and refuses one that offers neither; the AuthResult
 * tells the daemon's instance and depth limit, and from protocol 3 the
 * connection's session and whether the daemon is durable), and
 * synchronous requests, plus the pipelined exchange of client/pipeline.c
 * (many frames out in one write, answers matched by seq). Frames are cut with frame_parse() out of
 * one read buffer; messages go through proto/msg.h. Errors set the thread's last error text here,
 * where the details are known.
 *
 * TLS: the client's SSL_CTX (chan_tls_ctx_new, one per sm_client) verifies
 * the daemon's chain against the system store or a given CA file and its
 * host name (or IP address) against the URL's host or a given server name,
 * which also goes out as SNI. A TLS socket stays non-blocking: xp_read()
 * and xp_write() turn OpenSSL's WANT_READ / WANT_WRITE into poll() waits, so
 * every path above them (handshake, calls, pipelines) is the same for tcp,
 * unix and tls. OpenSSL talks to the socket through a small BIO that sends
 * with MSG_NOSIGNAL: a daemon that went away never raises SIGPIPE in the
 * application. Failures name the reason: the certificate check that failed
 * ("certificate has expired", "hostname mismatch"...), or the alert with
 * which the daemon refused us ("certificate required").
 *
 * Sessions (protocol 3): every request carries `ack`, the last seq whose
 * answer is in (a chan's calls are sequential, so all before it are in
 * too). A connection to a durable daemon that drops is reopened in place
 * by chan_reopen, which asks the daemon to resume its session; the seqs go
 * on where they were, so the call in flight goes out again with its seq
 * (chan_call_again) and a daemon that applied it answers from its reply
 * table.
 *
 * Groups (protocol 4): a member that is not the leader answers the
 * handshake, or a request, with REDIRECT and the leader's URL. The
 * connection is then broken and keeps that URL (chan_redirect_leader, or
 * cfg->leader for a handshake) for client.c to go there; a call answered
 * so was not applied, and its seq is not acknowledged. */
#include "chan.h"

#include "../proto/auth.h"
#include "../proto/frame.h"
#include "../proto/status.h"
#include "errors.h"
#include "value_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Buffers that grew past this for one big message are released after it. */
#define CONN_KEEP_BUFFER (1u << 20)

struct chan {
  int fd;                 /**< -1 once closed */
  SSL *ssl;               /**< tls:// only: the session over fd (then non-blocking) */
  bool eof;               /**< tls:// only: the socket BIO read end-of-file */
  char tls_name[256];     /**< tls:// only: the name the certificate must carry */
  unsigned long fork_gen; /**< fork_generation when it was opened */
  bool broken;            /**< a transport or framing error happened: never reuse */
  bool unsent;            /**< the last chan_call failed before its request was all written */
  bool redirected;        /**< the last call or exchange was answered REDIRECT (not applied) */
  int64_t last_io_ms;     /**< when the last call finished (monotonic ms) */
  uint64_t seq;           /**< last request sequence number */
  uint8_t *rbuf;          /**< bytes received and not consumed yet */
  size_t rlen, rcap;
  vbuf wbuf;                 /**< the request being sent */
  const char *url;           /**< borrowed from the client, for messages */
  uint64_t instance;         /**< the daemon's instance, from the AuthResult (0: not told) */
  unsigned max_depth;        /**< the daemon's --max-depth, from the AuthResult */
  uint32_t version;          /**< the protocol version the connection speaks */
  uint64_t session;          /**< protocol 3: the connection's session (0: not told) */
  uint64_t key;              /**< protocol 3: its key, which a resume names */
  bool durable;              /**< protocol 3: the daemon keeps sessions across a restart */
  uint64_t acked;            /**< every answer up to this seq is in (sent as `ack`) */
  url_scheme scheme;         /**< the scheme of the URL it reached */
  char leader[WIRE_URL_MAX]; /**< the leader a REDIRECT answer named ("": none) */
  uint64_t token;            /**< protocol 4: the fencing token of the last answer (0: none) */
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

/* Bumped in every child right after fork() (client.c's atfork handler): a
 * channel opened before belongs to the parent. A counter, not getpid(),
 * keeps a syscall off every call. */
static unsigned long fork_generation;

void chan_note_fork(void) { fork_generation++; }

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

/* Turns on TCP keepalive: probes after secs idle, then every secs/3 (at
 * least 1 s); after 3 unanswered probes, or data unacknowledged for as long,
 * the socket fails with ETIMEDOUT, so a call to a daemon that vanished
 * (a cut link) ends with SM_ECLOSED instead of hanging. 0: system default. */
static void set_keepalive(int fd, int secs) {
  if (secs <= 0) return;
  int one = 1, idle = secs, intvl = secs / 3 > 0 ? secs / 3 : 1, cnt = 3;
  unsigned user_timeout_ms = (unsigned)(idle + intvl * cnt) * 1000u;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
  setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms);
}

/* Opens the socket for cfg (for tls://, the TCP socket under TLS). Returns
 * the fd, or a negative SM_E* code. */
static int open_socket(const chan_cfg *cfg, int64_t deadline) {
  const url_addr *a = cfg->addr;
  if (a->scheme == URL_TLS && !cfg->tls)
    return err_set(SM_ETLS, "%s: no TLS context for a tls:// URL", cfg->url);
  if (a->scheme == URL_UNIX) {
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    memcpy(sun.sun_path, a->path, sizeof sun.sun_path);
    int fd = connect_addr((const struct sockaddr *)&sun, sizeof sun, AF_UNIX, deadline);
    if (fd < 0) return err_set(SM_ECONNECT, "cannot connect to %s: %s", cfg->url, strerror(errno));
    return fd;
  }
  struct addrinfo hints = {
      .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
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
  set_keepalive(fd, cfg->keepalive_s);
  return fd;
}

/* Marks k broken and closes its socket; returns code for chaining. */
static int fail(chan *k, int code) {
  k->broken = true;
  if (k->fd >= 0) close(k->fd);
  k->fd = -1;
  return code;
}

/* ---- TLS ---- */

/* The BIO through which OpenSSL reads and writes the socket: plain recv and
 * send, but with MSG_NOSIGNAL, so a write to a vanished daemon gives EPIPE
 * instead of killing the application with SIGPIPE. Its data is the chan. */
static int bio_write(BIO *b, const char *p, int n) {
  chan *k = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  for (;;) {
    ssize_t w = send(k->fd, p, (size_t)n, MSG_NOSIGNAL);
    if (w >= 0) return (int)w;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_write(b);
    return -1;
  }
}

static int bio_read(BIO *b, char *p, int n) {
  chan *k = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  for (;;) {
    ssize_t r = recv(k->fd, p, (size_t)n, 0);
    if (r > 0) return (int)r;
    if (r == 0) {
      k->eof = true;
      return 0;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_read(b);
    return -1;
  }
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)num;
  (void)ptr;
  if (cmd == BIO_CTRL_FLUSH) return 1;
  if (cmd == BIO_CTRL_EOF) return ((chan *)BIO_get_data(b))->eof ? 1 : 0;
  return 0;
}

static BIO_METHOD *bio_method;
static pthread_once_t bio_once = PTHREAD_ONCE_INIT;

/* Made once per process and kept: every TLS connection shares it. */
static void bio_method_init(void) {
  BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "statemgr socket");
  if (m && (BIO_meth_set_write(m, bio_write) != 1 || BIO_meth_set_read(m, bio_read) != 1 ||
            BIO_meth_set_ctrl(m, bio_ctrl) != 1)) {
    BIO_meth_free(m);
    m = NULL;
  }
  bio_method = m;
}

/* Puts the reason of OpenSSL's first queued error (the root cause; a
 * system error as strerror() words it) into buf and empties the queue.
 * Returns its reason code (0: none). */
static int ssl_reasons(char *buf, size_t len) {
  int first = 0;
  unsigned long e;
  buf[0] = '\0';
  while ((e = ERR_get_error()) != 0) {
    if (first || ERR_GET_REASON(e) == ERR_R_SYS_LIB) continue; /* "system lib": no news */
    first = ERR_GET_REASON(e);
    const char *why = ERR_GET_LIB(e) == ERR_LIB_SYS ? strerror(first) : ERR_reason_error_string(e);
    if (why)
      snprintf(buf, len, "%s", why);
    else
      ERR_error_string_n(e, buf, len);
  }
  return first;
}

int chan_tls_ctx_new(const chan_tls_cfg *t, struct ssl_ctx_st **out) {
  ERR_clear_error();
  char why[512];
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) {
    ssl_reasons(why, sizeof why);
    return err_set(SM_ENOMEM, "cannot create a TLS context: %s", why);
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  uint64_t opts = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION;
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
  opts |= SSL_OP_IGNORE_UNEXPECTED_EOF; /* OpenSSL 3: a close without close_notify is EOF */
#endif
  SSL_CTX_set_options(ctx, opts);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  const char *what = NULL, *file = NULL;
  if (t->insecure_skip_verify) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (t->ca_file && SSL_CTX_load_verify_locations(ctx, t->ca_file, NULL) != 1)
      what = "cannot load the TLS CA file", file = t->ca_file;
    else if (!t->ca_file && SSL_CTX_set_default_verify_paths(ctx) != 1)
      what = "cannot load the system's trusted CAs", file = "";
  }
  const char *key = t->key_file ? t->key_file : t->cert_file;
  if (!what && t->cert_file) {
    if (SSL_CTX_use_certificate_chain_file(ctx, t->cert_file) != 1)
      what = "cannot load the TLS client certificate", file = t->cert_file;
    else if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
      what = "cannot load the TLS client key", file = key;
    else if (SSL_CTX_check_private_key(ctx) != 1)
      what = "the TLS client key does not match the certificate", file = key;
  }
  if (what) {
    ssl_reasons(why, sizeof why);
    SSL_CTX_free(ctx);
    return err_set(SM_EINVAL, "%s %s: %s", what, file, why);
  }
  *out = ctx;
  return SM_OK;
}

void chan_tls_ctx_free(struct ssl_ctx_st *ctx) { SSL_CTX_free(ctx); }

/* Turns a failed SSL call (e from SSL_get_error) into the thread's last
 * error and breaks k: the certificate check that failed, the alert the
 * daemon refused us with, or the socket error. */
static int tls_fail(chan *k, int e) {
  int saved = errno;
  char why[512];
  if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) {
    ERR_clear_error();
    if (e == SSL_ERROR_ZERO_RETURN || saved == 0 || k->eof)
      return fail(k, err_set(SM_ECLOSED, "%s closed the connection", k->url));
    return fail(k, err_set(SM_ECLOSED, "connection to %s lost: %s", k->url, strerror(saved)));
  }
  long vr = SSL_get_verify_result(k->ssl);
  bool verifying = SSL_get_verify_mode(k->ssl) != SSL_VERIFY_NONE;
  bool handshaking = !SSL_is_init_finished(k->ssl);
  int reason = ssl_reasons(why, sizeof why);
  if (verifying && vr != X509_V_OK) {
    char hint[400] = "";
    if (vr == X509_V_ERR_HOSTNAME_MISMATCH || vr == X509_V_ERR_IP_ADDRESS_MISMATCH)
      snprintf(
          hint, sizeof hint,
          " (it is not issued for \"%s\"; see sm_options_set_tls_server_name, --tls-server-name)",
          k->tls_name);
    else if (vr == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
             vr == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
             vr == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
             vr == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN)
      snprintf(hint, sizeof hint,
               " (no CA we trust signed it; see sm_options_set_tls_ca, --tls-ca)");
    return fail(k, err_set(SM_ETLS, "%s: TLS: the daemon's certificate failed verification: %s%s",
                           k->url, X509_verify_cert_error_string(vr), hint));
  }
  if (reason >= SSL_AD_REASON_OFFSET) { /* an alert the daemon sent */
    const char *hint = "";
    if (reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED)
      hint = " (it requires a client certificate; see sm_options_set_tls_cert, --tls-cert)";
    else if (reason == SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE)
      hint = " (no TLS settings in common, or it requires a client certificate)";
    else if (reason == SSL_R_TLSV1_ALERT_UNKNOWN_CA ||
             reason == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE ||
             reason == SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED)
      hint = " (it does not accept our client certificate)";
    return fail(
        k, err_set(SM_ETLS, "%s: TLS: the daemon refused the session: %s%s", k->url, why, hint));
  }
  if (e == SSL_ERROR_SYSCALL && saved != 0)
    return fail(k, err_set(SM_ECLOSED, "connection to %s lost: %s", k->url, strerror(saved)));
  return fail(
      k, err_set(SM_ETLS, "%s: TLS %s: %s%s", k->url, handshaking ? "handshake failed" : "error",
                 why[0] ? why : "unknown error",
                 handshaking ? " (is it a plain tcp:// listener? then use a tcp:// URL)" : ""));
}

/* True when name is an IPv4 or IPv6 address rather than a host name. */
static bool is_ip_literal(const char *name) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

/* Runs the TLS handshake on k's connected socket: SNI, the host name or IP
 * address to verify, then SSL_connect until deadline. Returns 0, or an
 * SM_E* code with k broken. */
static int tls_start(chan *k, const chan_cfg *cfg, int64_t deadline) {
  pthread_once(&bio_once, bio_method_init);
  int flags = fcntl(k->fd, F_GETFL);
  if (flags < 0 || fcntl(k->fd, F_SETFL, flags | O_NONBLOCK) != 0)
    return fail(k, err_set(SM_ECONNECT, "cannot connect to %s: %s", k->url, strerror(errno)));
  ERR_clear_error();
  BIO *bio = bio_method ? BIO_new(bio_method) : NULL;
  if (!bio || !(k->ssl = SSL_new(cfg->tls))) {
    BIO_free(bio);
    ERR_clear_error();
    return fail(k, err_set(SM_ENOMEM, "out of memory for a TLS session"));
  }
  BIO_set_data(bio, k);
  BIO_set_init(bio, 1);
  SSL_set_bio(k->ssl, bio, bio); /* the SSL owns the BIO */
  const char *name = cfg->tls_server_name ? cfg->tls_server_name : cfg->addr->host;
  snprintf(k->tls_name, sizeof k->tls_name, "%s", name);
  bool ip = is_ip_literal(name);
  bool ok = ip || SSL_set_tlsext_host_name(k->ssl, name) == 1; /* SNI carries names only */
  if (ok && SSL_get_verify_mode(k->ssl) != SSL_VERIFY_NONE) {
    X509_VERIFY_PARAM *vp = SSL_get0_param(k->ssl);
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, name) == 1 : SSL_set1_host(k->ssl, name) == 1;
  }
  if (!ok) {
    ERR_clear_error();
    return fail(
        k, err_set(SM_EINVAL, "%s: \"%s\" cannot be checked as a TLS server name", k->url, name));
  }
  for (;;) {
    ERR_clear_error();
    errno = 0;
    int r = SSL_connect(k->ssl);
    if (r == 1) return 0;
    int e = SSL_get_error(k->ssl, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return tls_fail(k, e);
    if (wait_fd(k->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline) != 0)
      return fail(k, err_set(SM_ECONNECT,
                             "cannot connect to %s: TLS handshake not completed in time", k->url));
  }
}

/* ---- reading and writing, plain or TLS ---- */

/* True when TLS holds decrypted bytes that poll() cannot see. */
static bool xp_pending(const chan *k) { return k->ssl && SSL_pending(k->ssl) > 0; }

/* Reads at most n bytes into p, waiting until deadline (-1: none) unless
 * nowait. Returns the count; 0 only with nowait, when nothing has arrived;
 * or a negative SM_E* code with k broken (SM_ETIMEOUT, SM_ECLOSED,
 * SM_ETLS). */
static ssize_t xp_read(chan *k, uint8_t *p, size_t n, int64_t deadline, bool nowait) {
  for (;;) {
    if (!k->ssl) {
      /* Without a deadline the blocking recv() waits by itself: no poll(). A
       * dead peer still ends it (keepalive, TCP_USER_TIMEOUT). */
      if (!nowait && deadline >= 0 && wait_fd(k->fd, POLLIN, deadline) != 0)
        return fail(k, err_set(SM_ETIMEOUT, "timed out waiting for %s", k->url));
      ssize_t r = recv(k->fd, p, n, nowait ? MSG_DONTWAIT : 0);
      if (r > 0) return r;
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && nowait && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
      if (r == 0) return fail(k, err_set(SM_ECLOSED, "%s closed the connection", k->url));
      return fail(k, err_set(SM_ECLOSED, "connection to %s lost: %s", k->url, strerror(errno)));
    }
    ERR_clear_error();
    errno = 0;
    int r = SSL_read(k->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
    if (r > 0) return r;
    int e = SSL_get_error(k->ssl, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return tls_fail(k, e);
    if (nowait) return 0;
    if (wait_fd(k->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline) != 0)
      return fail(k, err_set(SM_ETIMEOUT, "timed out waiting for %s", k->url));
  }
}

/* Writes at most n bytes of p, waiting for room unless nowait. Returns the
 * count; 0 only with nowait, when the socket is full (then call again with
 * the same p and n); or a negative SM_E* code with k broken. */
static ssize_t xp_write(chan *k, const uint8_t *p, size_t n, bool nowait) {
  for (;;) {
    if (!k->ssl) {
      ssize_t w = send(k->fd, p, n, MSG_NOSIGNAL | (nowait ? MSG_DONTWAIT : 0));
      if (w > 0) return w;
      if (w < 0 && errno == EINTR) continue;
      if (w < 0 && nowait && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
      return fail(k, err_set(SM_ECLOSED, "connection to %s lost while sending: %s", k->url,
                             strerror(errno)));
    }
    ERR_clear_error();
    errno = 0;
    int w = SSL_write(k->ssl, p, n > INT_MAX ? INT_MAX : (int)n);
    if (w > 0) return w;
    int e = SSL_get_error(k->ssl, w);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) return tls_fail(k, e);
    if (nowait) return 0;
    wait_fd(k->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, -1);
  }
}

static int send_all(chan *k, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = xp_write(k, p, n, false);
    if (w < 0) return (int)w;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Makes room for at least need bytes in the read buffer. */
static int reserve_read(chan *k, size_t need) {
  if (k->rcap >= need) return 0;
  size_t cap = k->rcap ? k->rcap : 4096;
  while (cap < need)
    cap *= 2;
  uint8_t *p = realloc(k->rbuf, cap);
  if (!p) return err_set(SM_ENOMEM, "out of memory for a %zu-byte reply", need);
  k->rbuf = p;
  k->rcap = cap;
  return 0;
}

/* Waits for one whole frame of at most max payload bytes. On success
 * *payload borrows it from the read buffer and *size is what
 * consume_frame() must drop afterwards. Failures break the connection. */
static int read_frame(chan *k, size_t max, int64_t deadline, sm_span *payload, size_t *size) {
  for (;;) {
    size_t n = 0;
    frame_state st = frame_parse(k->rbuf, k->rlen, max, &n);
    if (st == FRAME_READY) {
      *payload = (sm_span){k->rbuf + FRAME_HEADER_LEN, n};
      *size = FRAME_HEADER_LEN + n;
      return 0;
    }
    if (st == FRAME_TOO_LARGE)
      return fail(k, err_set(SM_EPROTO, "%s sent a %zu-byte frame, over the %zu-byte limit", k->url,
                             n, max));
    int rc = reserve_read(k, k->rlen >= FRAME_HEADER_LEN ? FRAME_HEADER_LEN + n : 4096);
    if (rc != 0) return fail(k, rc);
    ssize_t r = xp_read(k, k->rbuf + k->rlen, k->rcap - k->rlen, deadline, false);
    if (r < 0) return (int)r;
    k->rlen += (size_t)r;
  }
}

/* Drops a handled frame from the read buffer, and the buffer itself when
 * one big reply had grown it. */
static void consume_frame(chan *k, size_t size) {
  memmove(k->rbuf, k->rbuf + size, k->rlen - size);
  k->rlen -= size;
  if (k->rlen == 0 && k->rcap > CONN_KEEP_BUFFER) {
    free(k->rbuf);
    k->rbuf = NULL;
    k->rcap = 0;
  }
}

/* ---- handshake ---- */

/* Runs the handshake on k's new transport, asking to resume session resume
 * (0: a new one); *resumed (may be NULL) tells whether it was. */
static int handshake(chan *k, const chan_cfg *cfg, int64_t deadline, uint64_t resume,
                     bool *resumed) {
  sm_span payload;
  size_t size = 0;
  uint32_t version = 0;
  uint8_t server_ch[AUTH_CHALLENGE_LEN], client_ch[AUTH_CHALLENGE_LEN];
  uint8_t mac[AUTH_MAC_LEN], expected[AUTH_MAC_LEN];
  char why[256];

  int rc = read_frame(k, FRAME_MAX_PREAUTH, deadline, &payload, &size);
  if (rc != 0) return rc;
  uint32_t newest = 0;
  if (wire_hello_decode(payload, &version, &newest, server_ch) != 0)
    return fail(k, err_set(SM_EPROTO, "%s is not a statemgrd (bad hello)", cfg->url));
  consume_frame(k, size);
  /* The daemon offers version..newest; this library speaks
   * AUTH_PROTOCOL_CLIENT_OLDEST..AUTH_PROTOCOL_VERSION: the newest both know. */
  if (newest < AUTH_PROTOCOL_CLIENT_OLDEST)
    return fail(k, err_set(SM_EPROTO,
                           "%s is a statemgrd of protocol %u; this library needs protocol %u to "
                           "%u: upgrade the daemon",
                           cfg->url, newest, AUTH_PROTOCOL_CLIENT_OLDEST, AUTH_PROTOCOL_VERSION));
  if (version > AUTH_PROTOCOL_VERSION)
    return fail(k, err_set(SM_EPROTO,
                           "%s speaks protocol %u to %u only; this library speaks %u to %u: "
                           "upgrade libstatemgr",
                           cfg->url, version, newest, AUTH_PROTOCOL_CLIENT_OLDEST,
                           AUTH_PROTOCOL_VERSION));
  k->version = newest < AUTH_PROTOCOL_VERSION ? newest : AUTH_PROTOCOL_VERSION;

  if (auth_random(client_ch, sizeof client_ch) != 0)
    return fail(k, err_set(SM_EAUTH, "no randomness for the authentication challenge"));
  auth_client_mac(cfg->key, cfg->keylen, server_ch, client_ch, mac);
  vb_reset(&k->wbuf);
  rc = wire_auth_encode_resume(&k->wbuf, k->version, mac, client_ch, cfg->client_name,
                               k->version >= AUTH_PROTOCOL_RESUME ? resume : 0, k->key);
  auth_wipe(mac, sizeof mac);
  if (rc != 0) return fail(k, err_set(SM_ENOMEM, "out of memory"));
  rc = send_all(k, k->wbuf.p, k->wbuf.len);
  auth_wipe(k->wbuf.p, k->wbuf.len);
  if (rc != 0) return rc;

  rc = read_frame(k, FRAME_MAX_PREAUTH, deadline, &payload, &size);
  if (rc != 0) return rc;
  int status = 0;
  bool has_mac = false;
  wire_daemon_info info;
  rc = wire_auth_result_decode(payload, &status, mac, &has_mac, why, sizeof why, &info);
  consume_frame(k, size);
  if (rc != 0) return fail(k, err_set(SM_EPROTO, "%s sent a malformed auth result", cfg->url));
  if (status == WS_REDIRECT) {
    /* A member of a group that does not lead it: the walk goes on to the
     * leader it names (group.c); nothing was asked of it yet. */
    snprintf(k->leader, sizeof k->leader, "%s", info.leader);
    if (cfg->leader) snprintf(cfg->leader, WIRE_URL_MAX, "%s", info.leader);
    return fail(k, err_set(SM_EREDIRECT, "%s is not the leader of its group (%s%s)%s%s", cfg->url,
                           info.leader[0] ? "the leader is " : "no leader is known yet",
                           info.leader, why[0] ? ": " : "", why));
  }
  if (status != WS_OK) {
    char text[sizeof why + 96];
    err_status_text(status, why, text, sizeof text);
    return fail(k, err_set(status_to_error(status), "%s: %s", cfg->url, text));
  }
  /* Mutual: the daemon must prove it knows the key too. */
  auth_server_mac(cfg->key, cfg->keylen, server_ch, client_ch, expected);
  bool ok = has_mac && auth_mac_ok(mac, sizeof mac, expected);
  auth_wipe(mac, sizeof mac);
  auth_wipe(expected, sizeof expected);
  if (!ok) return fail(k, err_set(SM_EAUTH, "%s could not prove it knows the authkey", cfg->url));
  k->instance = info.instance;
  k->max_depth = info.max_depth == 0             ? VW_DEPTH_DEFAULT
                 : info.max_depth > VW_DEPTH_MAX ? VW_DEPTH_MAX
                                                 : info.max_depth;
  k->session = info.session;
  k->key = info.key;
  k->durable = info.durable && info.key != 0;
  if (resumed) *resumed = resume && info.resumed && info.session == resume;
  if (resume && !(resumed && *resumed))
    err_set(SM_ECLOSED, "%s did not resume session %" PRIu64 ": %s", cfg->url, resume,
            why[0] ? why : "it speaks no protocol with sessions");
  return 0;
}

uint64_t chan_instance(const chan *k) { return k->instance; }
unsigned chan_max_depth(const chan *k) { return k->max_depth; }

uint64_t chan_session(const chan *k) { return k->session; }

/* Connects k's transport and runs the handshake (see chan_open), asking to
 * resume session resume (0: none). Failures leave k broken. */
static int connect_chan(chan *k, const chan_cfg *cfg, uint64_t resume, bool *resumed) {
  int64_t deadline = cfg->timeout_ms > 0 ? now_ms() + cfg->timeout_ms : -1;
  k->broken = true;  /* until the handshake is through */
  k->url = cfg->url; /* the member this connection reaches now */
  k->scheme = cfg->addr->scheme;
  k->leader[0] = '\0';
  if (cfg->leader) cfg->leader[0] = '\0';
  int rc = open_socket(cfg, deadline);
  if (rc < 0) return rc;
  k->fd = rc;
  rc = cfg->addr->scheme == URL_TLS ? tls_start(k, cfg, deadline) : 0;
  if (rc == 0) rc = handshake(k, cfg, deadline, resume, resumed);
  if (rc == SM_ETIMEOUT || rc == SM_ECLOSED) {
    /* Before authentication these mean the address is not a working daemon
     * (a TLS port says nothing to a plaintext client). */
    rc = err_set(SM_ECONNECT, "cannot connect to %s: %s%s", cfg->url,
                 rc == SM_ETIMEOUT ? "no handshake from the daemon in time"
                                   : "the connection closed during the handshake",
                 rc == SM_ETIMEOUT && cfg->addr->scheme == URL_TCP
                     ? " (if it is a TLS port, use a tls:// URL)"
                     : "");
  }
  if (rc == 0) {
    k->broken = false;
    k->last_io_ms = now_ms();
  }
  return rc;
}

int chan_open(const chan_cfg *cfg, chan **out) {
  chan *k = calloc(1, sizeof *k);
  if (!k) return err_set(SM_ENOMEM, "out of memory");
  k->fd = -1;
  k->fork_gen = fork_generation;
  k->last_io_ms = now_ms();
  vb_init(&k->wbuf);
  int rc = connect_chan(k, cfg, 0, NULL);
  if (rc != 0) {
    chan_free(k);
    return rc;
  }
  *out = k;
  return 0;
}

bool chan_resumable(const chan *k) {
  return k && k->durable && k->session && k->version >= AUTH_PROTOCOL_RESUME &&
         k->fork_gen == fork_generation;
}

int chan_reopen(chan *k, const chan_cfg *cfg) {
  /* The old transport goes without a word: the daemon saw it drop. */
  if (k->ssl) {
    SSL_free(k->ssl);
    k->ssl = NULL;
    ERR_clear_error();
  }
  if (k->fd >= 0) close(k->fd);
  k->fd = -1;
  k->eof = false;
  k->rlen = 0; /* a partial answer of the old connection: its call is sent again */
  uint64_t session = k->session;
  bool resumed = false;
  int rc = connect_chan(k, cfg, session, &resumed);
  if (rc != 0) return rc;
  if (resumed) return 0;
  k->acked = k->seq; /* a new session: nothing of the old one is asked for again */
  return SM_ECLOSED; /* the text: handshake's */
}

/* ---- requests ---- */

static int call_seq(chan *k, wire_request_out *req, sm_value **result);

/* Keeps the leader a REDIRECT answer named and sets the last error.
 * Returns SM_EREDIRECT. */
static int redirected(chan *k, const wire_response *resp) {
  snprintf(k->leader, sizeof k->leader, "%s", resp->leader ? resp->leader : "");
  return err_set(SM_EREDIRECT, "%s no longer leads its group (%s%s)%s%s", k->url,
                 k->leader[0] ? "the leader is " : "no leader is known yet", k->leader,
                 resp->error && *resp->error ? ": " : "", resp->error ? resp->error : "");
}

/* Handles one decoded response to our request. OWNER_DEAD is a grant
 * (its result is taken) that answers SM_EOWNERDEAD. */
static int take_response(chan *k, const wire_response *resp, sm_value **result) {
  k->token = resp->token;
  bool owner_dead = resp->status == WS_OWNER_DEAD;
  if (resp->status != WS_OK && !owner_dead) return err_from_status(resp->status, resp->error);
  if (result) {
    int rc = val_decode(resp->has_result ? resp->result : (sm_span){NULL, 0}, result);
    if (rc == SM_EPROTO) return err_set(rc, "%s sent a malformed value", k->url);
    if (rc != 0) return err_set(rc, "out of memory decoding a reply");
  }
  return owner_dead ? err_from_status(resp->status, resp->error) : 0;
}

uint64_t chan_last_token(const chan *k) { return k ? k->token : 0; }

uint32_t chan_version(const chan *k) { return k->version; }

/* A plain connection idle for a while may have been closed by the daemon (a
 * restart): a send would still succeed and only the reply would fail, too
 * late to resend safely. Peeking for that EOF first lets the caller
 * reconnect and send on the new connection. Busy connections skip it: the
 * clock is a vDSO read, not a syscall. */
#define CHAN_IDLE_CHECK_MS 1000

static bool closed_while_idle(chan *k) {
  if (k->ssl || now_ms() - k->last_io_ms < CHAN_IDLE_CHECK_MS) return false;
  uint8_t b;
  ssize_t r = recv(k->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
  return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

int chan_call(chan *k, const wire_request_out *req, sm_value **result) {
  wire_request_out r = *req;
  r.seq = ++k->seq; /* first: a resend of this call (chan_last_seq) must not reuse another's */
  return call_seq(k, &r, result);
}

int chan_call_again(chan *k, const wire_request_out *req, sm_value **result) {
  wire_request_out r = *req;
  return call_seq(k, &r, result);
}

uint64_t chan_last_seq(const chan *k) { return k->seq; }

/* One round trip of request r, whose seq is set. */
static int call_seq(chan *k, wire_request_out *req, sm_value **result) {
  wire_request_out r = *req;
  k->unsent = true; /* until the whole request is written */
  k->redirected = false;
  if (!chan_usable(k)) return err_set(SM_ECLOSED, "connection to %s is closed", k->url);
  if (closed_while_idle(k))
    return fail(k, err_set(SM_ECLOSED, "%s closed the idle connection", k->url));
  if (k->version >= AUTH_PROTOCOL_RESUME) r.ack = k->acked;
  k->token = 0;
  if (r.guard_object && k->version < AUTH_PROTOCOL_FENCING) /* it would ignore the guard */
    return err_set(SM_EPROTO, "%s speaks protocol %u: a fencing guard needs protocol %u", k->url,
                   (unsigned)k->version, (unsigned)AUTH_PROTOCOL_FENCING);
  vb_reset(&k->wbuf);
  if (wire_request_encode(&k->wbuf, &r) != 0)
    return err_set(SM_ENOMEM, "%s: out of memory (or a request over 4 GiB)", req->method);
  size_t len = k->wbuf.len - FRAME_HEADER_LEN;
  int rc = 0;
  if (len > FRAME_MAX_DEFAULT)
    rc = err_set(SM_ETOOLARGE, "%s request of %zu bytes is over the %u-byte frame limit",
                 req->method, len, FRAME_MAX_DEFAULT);
  else
    rc = send_all(k, k->wbuf.p, k->wbuf.len);
  if (k->wbuf.cap > CONN_KEEP_BUFFER) vb_free(&k->wbuf);
  if (rc != 0) return rc;
  k->unsent = false;

  for (;;) {
    sm_span payload;
    size_t size = 0;
    rc = read_frame(k, FRAME_MAX_DEFAULT, -1, &payload, &size);
    if (rc != 0) return rc;
    wire_response resp;
    if (wire_response_decode(payload, &resp) != 0) {
      consume_frame(k, size);
      return fail(k, err_set(SM_EPROTO, "%s sent a malformed response", k->url));
    }
    if (resp.seq == r.seq && resp.status == WS_REDIRECT) {
      /* Not applied, and not acknowledged: the call goes to the leader
       * with its seq (client.c), on this session resumed there. */
      rc = redirected(k, &resp);
      wire_response_release(&resp);
      consume_frame(k, size);
      k->redirected = true;
      return fail(k, rc);
    }
    if (resp.seq == r.seq) {
      rc = take_response(k, &resp, result);
      wire_response_release(&resp);
      consume_frame(k, size);
      k->last_io_ms = now_ms();
      if (r.seq > k->acked) k->acked = r.seq;
      return rc;
    }
    /* Seq 0 is never ours: the daemon reports a connection-level error
     * (a refused frame) with it and then closes. Other seqs are stale. */
    if (resp.seq == 0 && resp.status != WS_OK) {
      rc = err_from_status(resp.status, resp.error);
      wire_response_release(&resp);
      consume_frame(k, size);
      return fail(k, rc);
    }
    wire_response_release(&resp);
    consume_frame(k, size);
  }
}

bool chan_last_unapplied(const chan *k) { return k->unsent || k->redirected; }

bool chan_last_redirected(const chan *k) { return k->redirected; }

const char *chan_redirect_leader(const chan *k) { return k->leader; }

url_scheme chan_scheme(const chan *k) { return k->scheme; }

/* ---- pipelines (client/pipeline.c) ---- */

uint64_t chan_ack(const chan *k) { return k->version >= AUTH_PROTOCOL_RESUME ? k->acked : 0; }

uint64_t chan_reserve_seqs(chan *k, size_t n) {
  uint64_t first = k->seq + 1;
  k->seq += n;
  return first;
}

/* Hands every whole frame at the start of the read buffer to cb while
 * responses are missing, then drops the handled bytes with one memmove.
 * *left counts the responses still missing. Failures break the
 * connection. */
static int take_frames(chan *k, uint64_t first, size_t n, chan_response_cb cb, void *ctx,
                       size_t *left, bool *redirect) {
  size_t off = 0;
  int rc = 0;
  while (*left > 0 && rc == 0) {
    size_t plen = 0;
    frame_state st = frame_parse(k->rbuf + off, k->rlen - off, FRAME_MAX_DEFAULT, &plen);
    if (st == FRAME_NEED_MORE) break;
    if (st == FRAME_TOO_LARGE) {
      rc = fail(k, err_set(SM_EPROTO, "%s sent a %zu-byte frame, over the %u-byte limit", k->url,
                           plen, FRAME_MAX_DEFAULT));
      break;
    }
    wire_response resp;
    if (wire_response_decode((sm_span){k->rbuf + off + FRAME_HEADER_LEN, plen}, &resp) != 0) {
      rc = fail(k, err_set(SM_EPROTO, "%s sent a malformed response", k->url));
      break;
    }
    if (resp.seq >= first && resp.seq - first < n && resp.status == WS_REDIRECT) {
      /* Not applied: left unanswered, sent to the leader afterwards. */
      redirected(k, &resp);
      k->redirected = *redirect = true;
      (*left)--;
    } else if (resp.seq >= first && resp.seq - first < n) {
      rc = cb(ctx, (size_t)(resp.seq - first), &resp);
      if (rc == 0)
        (*left)--;
      else
        fail(k, rc);
    } else if (resp.seq == 0 && resp.status != WS_OK) {
      /* A connection-level error (a refused frame); the daemon closes. */
      rc = fail(k, err_from_status(resp.status, resp.error));
    }
    wire_response_release(&resp);
    off += FRAME_HEADER_LEN + plen;
  }
  if (off > 0) {
    memmove(k->rbuf, k->rbuf + off, k->rlen - off);
    k->rlen -= off;
  }
  return rc;
}

int chan_exchange(chan *k, const uint8_t *frames, size_t len, uint64_t first, size_t n,
                  size_t expect, chan_response_cb cb, void *ctx) {
  if (!chan_usable(k)) return err_set(SM_ECLOSED, "connection to %s is closed", k->url);
  size_t sent = 0, left = expect;
  bool redirect = false;
  k->redirected = false;
  for (;;) {
    int rc = take_frames(k, first, n, cb, ctx, &left, &redirect);
    if (rc != 0) return rc;
    if (left == 0 && sent == len) break;
    if (sent < len) {
      ssize_t w = xp_write(k, frames + sent, len - sent, true);
      if (w < 0) return (int)w;
      if (w > 0) {
        sent += (size_t)w;
        continue;
      }
      /* The socket is full: read answers until it drains, never deadlock. */
      struct pollfd p = {.fd = k->fd, .events = POLLIN | POLLOUT};
      if (!xp_pending(k) && poll(&p, 1, -1) < 0 && errno != EINTR)
        return fail(k, err_set(SM_ECLOSED, "poll on %s: %s", k->url, strerror(errno)));
      if (!xp_pending(k) && !(p.revents & (POLLIN | POLLHUP | POLLERR))) continue;
    }
    /* Room for many small answers per recv, or the rest of a big one. */
    size_t need = k->rlen + 65536, plen = 0;
    if (frame_parse(k->rbuf, k->rlen, FRAME_MAX_DEFAULT, &plen) == FRAME_NEED_MORE &&
        k->rlen >= FRAME_HEADER_LEN && FRAME_HEADER_LEN + plen > need)
      need = FRAME_HEADER_LEN + plen;
    rc = reserve_read(k, need);
    if (rc != 0) return fail(k, rc);
    ssize_t r = xp_read(k, k->rbuf + k->rlen, k->rcap - k->rlen, -1, sent < len);
    if (r < 0) return (int)r;
    k->rlen += (size_t)r;
  }
  if (k->rlen == 0 && k->rcap > CONN_KEEP_BUFFER) {
    free(k->rbuf);
    k->rbuf = NULL;
    k->rcap = 0;
  }
  /* Calls answered REDIRECT are neither applied nor acknowledged: the
   * connection is left for the leader (its text: redirected's). */
  if (redirect) return fail(k, SM_EREDIRECT);
  if (first + n - 1 > k->acked) k->acked = first + n - 1;
  k->last_io_ms = now_ms();
  return 0;
}

bool chan_usable(const chan *k) {
  return k && !k->broken && k->fd >= 0 && k->fork_gen == fork_generation;
}

void chan_drop_fd(chan *k) {
  if (k->fd >= 0) close(k->fd);
  k->fd = -1;
  k->broken = true;
}

void chan_free(chan *k) {
  if (!k) return;
  if (k->ssl) {
    /* close_notify, one try, only from a healthy session of this process:
     * a fork child writes nothing on the parent's connection. */
    if (chan_usable(k) && SSL_is_init_finished(k->ssl)) SSL_shutdown(k->ssl);
    SSL_free(k->ssl);
    ERR_clear_error();
  }
  if (k->fd >= 0) close(k->fd);
  free(k->rbuf);
  vb_free(&k->wbuf);
  free(k);
}
