/* SPDX-License-Identifier: MIT */
/* listener.c - binding tcp://, tls:// and unix: URLs and accepting
 * connections.
 *
 * URLs are parsed by the parser the client library uses too
 * (proto/url.c), so a URL names the same socket on both sides. Each kind
 * is one entry of a small table: its scheme, how to bind the parsed
 * address, and for tls:// how to wrap an accepted socket into the
 * OpenSSL bufferevent conn.c then frames (tls.c; it needs the server's TLS
 * context). Plain sockets go to conn.c as they are: it reads and writes them
 * itself. A new transport is a new row. Accepted TCP and TLS sockets get TCP_NODELAY and TCP
 * keepalive with the server's interval, so a peer that vanished (a cut link, a host that died) is
 * noticed and what it held is released. A UNIX socket path left behind by a daemon that died is
 * detected (nobody accepts on it) and replaced; one that a live daemon serves is refused. Each
 * accepted socket is described and put in its source's bucket (peers.c) before conn.c takes it. */
#include "listener.h"

#include "../proto/url.h"
#include "conn.h"
#include "log.h"
#include "peers.h"
#include "server.h"
#include "tls.h"

#include <errno.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "statemgr.h"

/* One kind of listener: a row of the transports table below. */
typedef struct transport {
  url_scheme scheme;
  const char *prefix; /* of the URLs shown for it */
  int (*bind)(listener *l, const url_addr *a, char *err, size_t errlen);
  /* TLS: the connection's bufferevent for an accepted socket, owning fd;
   * NULL (fd closed) when out of memory. NULL for plain sockets, whose I/O
   * conn.c does itself. */
  struct bufferevent *(*wrap)(listener *l, evutil_socket_t fd);
  bool tls; /* the connections run a TLS handshake first */
} transport;

struct listener {
  struct sm_server *srv;
  const transport *t; /* its row of the transport table */
  struct evconnlistener *evl;
  bool is_unix;
  char url[320];   /* as bound (actual port) */
  char *unix_path; /* owned; removed when the listener goes */
  listener *next;
};

static void accept_cb(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *addr,
                      int socklen, void *arg);
static void accept_error_cb(struct evconnlistener *evl, void *arg);
static struct bufferevent *wrap_tls(listener *l, evutil_socket_t fd);

const char *listener_url(const listener *l) { return l->url; }
listener *listener_next(const listener *l) { return l->next; }

static const unsigned LEV_FLAGS = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC;

static bool is_loopback(const struct sockaddr *sa) {
  if (sa->sa_family == AF_INET)
    return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
  if (sa->sa_family == AF_INET6) {
    const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
  }
  return false;
}

int listener_sockname(int fd, const char *prefix, char *buf, size_t len) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  char h[INET6_ADDRSTRLEN], p[16], hp[INET6_ADDRSTRLEN + 16];
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0 ||
      getnameinfo((struct sockaddr *)&ss, sl, h, sizeof h, p, sizeof p,
                  NI_NUMERICHOST | NI_NUMERICSERV) != 0)
    return -1;
  url_host_port(hp, sizeof hp, h, p);
  snprintf(buf, len, "%s%s", prefix, hp);
  return is_loopback((struct sockaddr *)&ss) ? 1 : 0;
}

/* Binds host:port for tcp:// and tls:// (an empty host: every address);
 * the URL is rebuilt with the transport's scheme and the actual port. */
static int bind_inet(listener *l, const url_addr *a, char *err, size_t errlen) {
  const char *host = a->host, *port = a->port;
  char shown[300];
  url_host_port(shown, sizeof shown, host, port);
  struct addrinfo hints = {
      .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *res;
  int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
  if (gai != 0) {
    snprintf(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(gai));
    return SM_EINVAL;
  }
  int bind_errno = 0;
  for (struct addrinfo *ai = res; ai && !l->evl; ai = ai->ai_next) {
    l->evl = evconnlistener_new_bind(l->srv->base, accept_cb, l, LEV_FLAGS, -1, ai->ai_addr,
                                     (int)ai->ai_addrlen);
    if (!l->evl) bind_errno = errno;
  }
  freeaddrinfo(res);
  if (!l->evl) {
    snprintf(err, errlen, "cannot listen on %s: %s", shown, strerror(bind_errno));
    return SM_ECONNECT;
  }
  int loopback =
      listener_sockname(evconnlistener_get_fd(l->evl), l->t->prefix, l->url, sizeof l->url);
  if (!l->t->tls && loopback == 0)
    log_warn("listening on %s without TLS: anyone on the network path can read and alter the "
             "traffic (the authkey itself is never sent); use only on a trusted network",
             l->url);
  return 0;
}

/* How long a socket path that takes connections is watched before it
 * counts as a running daemon's, and how often it is tried meanwhile. */
#define STALE_SOCKET_WAIT_MS 2000
#define STALE_SOCKET_TRY_MS 50

/* Removes a socket file that no daemon serves any more. A path that takes
 * a connection may still be one: a process that dies holds the listening
 * socket it inherited for a moment (the snapshot writer of a daemon
 * killed with SIGKILL, which follows it), so only a path still taken
 * after STALE_SOCKET_WAIT_MS is in use. */
static int clear_stale_socket(const struct sockaddr_un *sun, char *err, size_t errlen) {
  struct stat st;
  if (lstat(sun->sun_path, &st) != 0) return 0;
  if (!S_ISSOCK(st.st_mode)) {
    snprintf(err, errlen, "%s exists and is not a socket", sun->sun_path);
    return -1;
  }
  for (int waited = 0;; waited += STALE_SOCKET_TRY_MS) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    int rc = connect(fd, (const struct sockaddr *)sun, sizeof *sun);
    int e = errno;
    close(fd);
    if (rc != 0) {
      if (e == ECONNREFUSED) unlink(sun->sun_path);
      return 0;
    }
    if (waited >= STALE_SOCKET_WAIT_MS) break;
    struct timespec ts = {0, STALE_SOCKET_TRY_MS * 1000000L};
    nanosleep(&ts, NULL);
  }
  snprintf(err, errlen, "%s is in use by a running daemon", sun->sun_path);
  return -1;
}

static int bind_unix(listener *l, const url_addr *a, char *err, size_t errlen) {
  const char *path = a->path; /* non-empty and short enough (url.c) */
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  memcpy(sun.sun_path, path, strlen(path) + 1);
  if (clear_stale_socket(&sun, err, errlen) != 0) return SM_ECONNECT;
  l->evl = evconnlistener_new_bind(l->srv->base, accept_cb, l, LEV_FLAGS, -1,
                                   (struct sockaddr *)&sun, (int)sizeof sun);
  if (!l->evl) {
    snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
    return SM_ECONNECT;
  }
  if (!(l->unix_path = strdup(path))) {
    snprintf(err, errlen, "out of memory");
    return SM_ENOMEM;
  }
  l->is_unix = true;
  snprintf(l->url, sizeof l->url, "unix:%s", path);
  return 0;
}

/* tls:// binds like tcp://, once the server has a TLS context. */
static int bind_tls(listener *l, const url_addr *a, char *err, size_t errlen) {
  if (!l->srv->tls_ctx) {
    char shown[300];
    url_host_port(shown, sizeof shown, a->host, a->port);
    snprintf(err, errlen,
             "tls://%s needs a certificate and its key: start with --tls-cert F --tls-key F",
             shown);
    return SM_EINVAL;
  }
  return bind_inet(l, a, err, errlen);
}

static struct bufferevent *wrap_tls(listener *l, evutil_socket_t fd) {
  return tls_bev_new(l->srv->base, l->srv->tls_ctx, fd);
}

static const transport transports[] = {
    {URL_TCP, "tcp://", bind_inet, NULL, false},
    {URL_TLS, "tls://", bind_tls, wrap_tls, true},
    {URL_UNIX, "unix:", bind_unix, NULL, false},
};

int listener_add(struct sm_server *srv, const char *url, char *err, size_t errlen) {
  url_addr a;
  if (url_parse(url, URL_LISTEN, &a, err, errlen) != 0) return SM_EINVAL;
  const transport *t = NULL;
  for (size_t i = 0; i < sizeof transports / sizeof transports[0] && !t; i++)
    if (transports[i].scheme == a.scheme) t = &transports[i];
  listener *l = calloc(1, sizeof *l);
  if (!l) {
    snprintf(err, errlen, "out of memory");
    return SM_ENOMEM;
  }
  l->srv = srv;
  l->t = t;
  int rc = t->bind(l, &a, err, errlen);
  if (rc != 0) {
    if (l->evl) evconnlistener_free(l->evl);
    free(l->unix_path);
    free(l);
    return rc;
  }
  evconnlistener_set_error_cb(l->evl, accept_error_cb);
  listener **tail = &srv->listeners;
  while (*tail)
    tail = &(*tail)->next;
  *tail = l;
  log_info("listening on %s", l->url);
  return 0;
}

void listener_free_all(struct sm_server *srv) {
  listener *l = srv->listeners;
  while (l) {
    listener *next = l->next;
    evconnlistener_free(l->evl);
    if (l->unix_path) unlink(l->unix_path);
    free(l->unix_path);
    free(l);
    l = next;
  }
  srv->listeners = NULL;
}

/* Turns on TCP keepalive: probes after secs idle, then every secs/3 (at
 * least 1 s); after 3 unanswered probes, or data unacknowledged for as long,
 * the connection fails with ETIMEDOUT. secs 0 leaves the system default. */
static void set_keepalive(evutil_socket_t fd, int secs) {
  if (secs <= 0) return;
  int one = 1, idle = secs, intvl = secs / 3 > 0 ? secs / 3 : 1, cnt = 3;
  unsigned user_timeout_ms = (unsigned)(idle + intvl * cnt) * 1000u;
  if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one) != 0 ||
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle) != 0 ||
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl) != 0 ||
      setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt) != 0 ||
      setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout_ms, sizeof user_timeout_ms) != 0)
    log_warn("cannot set TCP keepalive on an accepted socket: %s", strerror(errno));
}

static void accept_cb(struct evconnlistener *evl, evutil_socket_t fd, struct sockaddr *addr,
                      int socklen, void *arg) {
  (void)evl;
  listener *l = arg;
  if (!l->is_unix) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    set_keepalive(fd, l->srv->keepalive_s);
  }
  char who[128];
  peer_key key;
  bool limited = peer_identify(fd, addr, (socklen_t)socklen, who, sizeof who, &key);
  if (!l->t->wrap) { /* a plain socket: conn.c does its I/O itself */
    conn_new(l->srv, fd, NULL, who, limited ? &key : NULL, false);
    return;
  }
  struct bufferevent *bev = l->t->wrap(l, fd);
  if (!bev) {
    log_error("cannot set up a connection from %s: out of memory", who);
    return;
  }
  conn_new(l->srv, -1, bev, who, limited ? &key : NULL, l->t->tls);
}

static void accept_error_cb(struct evconnlistener *evl, void *arg) {
  (void)evl;
  listener *l = arg;
  /* EMFILE and friends: the listener keeps going; existing clients are
   * unaffected. */
  log_error("accept on %s failed: %s", l->url, strerror(errno));
}
