/* SPDX-License-Identifier: MIT */
/* etcd.c - the etcd v3 JSON gateway client (see etcd.h): endpoints and
 * their kept-alive connections, one request's round trip, the watch
 * stream, base64 and the JSON getters.
 *
 * Connections are made lazily, ETCD_POOL per endpoint plus the fast one.
 * One that closed (etcd closed a kept-alive connection, or a request on it
 * failed in transport) is replaced by a new one before its next request,
 * once no request of it is left in flight. evhttp would reconnect it by
 * itself, reusing a TLS connection's bufferevent and SSL for a second
 * session, which works only as far as libevent's OpenSSL bufferevent
 * resets its SSL (2.1.12 does); a new connection depends on no such
 * thing. The one replaced is freed from a deferred event (reap_ev), as a
 * connection is never freed from inside one of its own callbacks. While
 * no request is in flight a connection's timeout is long
 * (ETCD_IDLE_TIMEOUT_S): with the request timeout, evhttp would close it
 * when idle that long, and a request made on it just then (a keepalive
 * sent every fast timeout) would fail with it. A request goes to the
 * least busy connection of the current endpoint; one that fails in
 * transport moves the current endpoint to the next URL.
 *
 * https:// URLs: one SSL_CTX per client (tls.c's tls_client_ctx_new), and
 * each connection a TLS bufferevent of its own (tls_client_bev_new: SNI
 * and the server's name checked) handed to evhttp. A handshake that fails
 * is a transport failure whose message says why (the OpenSSL reason: an
 * unknown CA, a name mismatch, etcd asking for a client certificate).
 * Every request in flight is listed (ereq), so that etcd_free can drop
 * them without calling back. A watch has a connection of its own (its
 * stream occupies it), freed from a deferred event when the watch is
 * freed, since etcd_watch_free may be called from the watch's own
 * callbacks.
 *
 * libevent fails a request inside evhttp_make_request when the connection
 * cannot even start (a network unreachable: a cut link), calling its
 * callback there; such a request is noted and reported as etcd_call's (or
 * etcd_watch_start's) failure, so no callback ever runs inside the
 * caller's own call. */
#include "etcd.h"

#include "log.h"
#include "tls.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define ETCD_POOL 3               /* connections per endpoint for requests */
#define ETCD_WATCH_TIMEOUT_S 3600 /* a watch is quiet while nothing changes */
#define ETCD_IDLE_TIMEOUT_S 3600  /* a connection without a request in flight */

/* A kept-alive connection to one endpoint. */
typedef struct econn {
  struct evhttp_connection *evcon; /* made on first use */
  int inflight;
  bool closed;       /* replaced before its next request once none is in flight */
  char tls_err[256]; /* why its TLS session failed, as closing found it ("" none) */
} econn;

typedef struct endpoint {
  char url[256];
  char host[200];
  uint16_t port;
  econn pool[ETCD_POOL];
  econn fast; /* etcd_call_fast's, with the short timeout */
} endpoint;

/* A connection replaced, freed at the top of the loop. */
typedef struct retired {
  struct evhttp_connection *evcon;
  struct retired *next;
} retired;

typedef struct ereq {
  etcd *e;
  int ep;      /* where it was sent */
  econn *conn; /* on which connection */
  etcd_reply_fn fn;
  void *ctx;
  char path[64];
  bool in_call;             /* inside evhttp_make_request */
  bool failed_in_call;      /* libevent failed it there: etcd_call returns -1, fn is not called */
  struct ereq *prev, *next; /* e->reqs */
} ereq;

struct etcd_watch {
  etcd *e;
  int ep;
  struct evhttp_connection *evcon; /* its own */
  struct evhttp_request *req;      /* NULL once libevent finished it */
  json_tokener *tok;
  etcd_watch_fn on_events;
  etcd_watch_end_fn on_end;
  void *ctx;
  bool dead;             /* freed by the caller: no callback any more */
  bool starting;         /* inside evhttp_make_request */
  bool failed_in_start;  /* libevent failed it there: etcd_watch_start returns NULL */
  bool ended;            /* on_end was called */
  bool refused;          /* etcd answered 4xx (etcd_watch_refused) */
  etcd_watch *dead_next; /* e->dying */
};

struct etcd {
  struct event_base *base;
  endpoint eps[ETCD_URLS_MAX];
  int n_eps;
  int cur;                /* the endpoint requests go to */
  struct ssl_ctx_st *tls; /* https:// URLs; NULL for http:// */
  int timeout_ms;
  int fast_timeout_ms;   /* etcd_call_fast's requests */
  ereq *reqs;            /* in flight */
  etcd_watch *dying;     /* freed watches whose connection waits for reap_ev */
  retired *retired;      /* replaced connections waiting for reap_ev */
  struct event *reap_ev; /* frees them at the top of the loop */
};

static void reply_cb(struct evhttp_request *req, void *arg);
static void reap_cb(evutil_socket_t fd, short what, void *arg);

/* ---- URLs ---- */

/* Parses "http://host:port" or "https://host:port" into ep; *https says
 * which. */
static int parse_url(const char *url, size_t len, endpoint *ep, bool *https, char *err,
                     size_t errlen) {
  if (len >= sizeof ep->url) {
    snprintf(err, errlen, "etcd URL too long: %.*s", (int)len, url);
    return -1;
  }
  memcpy(ep->url, url, len);
  ep->url[len] = '\0';
  const char *p = ep->url;
  *https = strncmp(p, "https://", 8) == 0;
  if (!*https && strncmp(p, "http://", 7) != 0) {
    snprintf(err, errlen, "etcd URL %s: it must start with http:// or https://", ep->url);
    return -1;
  }
  p += *https ? 8 : 7;
  const char *colon = strrchr(p, ':');
  const char *slash = strchr(p, '/');
  if (slash && slash[1] != '\0') {
    snprintf(err, errlen, "etcd URL %s: no path is allowed after the port", ep->url);
    return -1;
  }
  if (!colon || colon == p || (size_t)(colon - p) >= sizeof ep->host) {
    snprintf(err, errlen, "etcd URL %s: it must name a host and a port (%s://host:2379)", ep->url,
             *https ? "https" : "http");
    return -1;
  }
  memcpy(ep->host, p, (size_t)(colon - p));
  ep->host[colon - p] = '\0';
  if (ep->host[0] == '[') { /* [::1] */
    size_t hl = strlen(ep->host);
    if (hl < 3 || ep->host[hl - 1] != ']') {
      snprintf(err, errlen, "etcd URL %s: bad IPv6 address", ep->url);
      return -1;
    }
    memmove(ep->host, ep->host + 1, hl - 2);
    ep->host[hl - 2] = '\0';
  }
  char *end = NULL;
  unsigned long port = strtoul(colon + 1, &end, 10);
  if (end == colon + 1 || (*end && *end != '/') || port == 0 || port > 65535) {
    snprintf(err, errlen, "etcd URL %s: bad port", ep->url);
    return -1;
  }
  ep->port = (uint16_t)port;
  return 0;
}

int etcd_new(struct event_base *base, const char *urls, const etcd_tls *tls, int timeout_ms,
             etcd **out, char *err, size_t errlen) {
  etcd *e = calloc(1, sizeof *e);
  if (!e || !(e->reap_ev = event_new(base, -1, 0, reap_cb, e))) {
    free(e);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  e->base = base;
  e->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
  e->fast_timeout_ms = e->timeout_ms;
  const char *p = urls;
  int n_https = 0;
  while (p && *p) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    if (len > 0) {
      if (e->n_eps == ETCD_URLS_MAX) {
        snprintf(err, errlen, "more than %d etcd URLs", ETCD_URLS_MAX);
        etcd_free(e);
        return -1;
      }
      bool https = false;
      if (parse_url(p, len, &e->eps[e->n_eps], &https, err, errlen) != 0) {
        etcd_free(e);
        return -1;
      }
      n_https += https;
      e->n_eps++;
    }
    p = comma ? comma + 1 : NULL;
  }
  if (e->n_eps == 0) {
    snprintf(err, errlen, "no etcd URL given (--etcd http://host:2379[,...])");
    etcd_free(e);
    return -1;
  }
  bool tls_files = tls && (tls->cacert || tls->cert || tls->key);
  const char *why = NULL;
  if (n_https > 0 && n_https < e->n_eps)
    why = "the etcd URLs mix http:// and https://: give them all one scheme";
  else if (n_https == 0 && tls_files)
    why = "--etcd-cacert, --etcd-cert and --etcd-key are for https:// etcd URLs, and the URLs "
          "given are http://";
  if (why) {
    snprintf(err, errlen, "%s", why);
    etcd_free(e);
    return -1;
  }
  if (n_https > 0 && !(e->tls = tls_client_ctx_new(tls ? tls->cacert : NULL, tls ? tls->cert : NULL,
                                                   tls ? tls->key : NULL, "--etcd", err, errlen))) {
    etcd_free(e);
    return -1;
  }
  *out = e;
  return 0;
}

static void watch_release(etcd_watch *w) {
  if (w->req) evhttp_cancel_request(w->req);
  if (w->evcon) evhttp_connection_free(w->evcon);
  if (w->tok) json_tokener_free(w->tok);
  free(w);
}

/* Frees the connections replaced and the watches freed. */
static void reap(etcd *e) {
  while (e->dying) {
    etcd_watch *w = e->dying;
    e->dying = w->dead_next;
    watch_release(w);
  }
  while (e->retired) {
    retired *r = e->retired;
    e->retired = r->next;
    evhttp_connection_free(r->evcon);
    free(r);
  }
}

static void conn_free(econn *c) {
  if (!c->evcon) return;
  evhttp_connection_set_closecb(c->evcon, NULL, NULL);
  evhttp_connection_free(c->evcon);
  c->evcon = NULL;
}

void etcd_free(etcd *e) {
  if (!e) return;
  reap(e);
  for (int i = 0; i < e->n_eps; i++) {
    for (int s = 0; s < ETCD_POOL; s++)
      conn_free(&e->eps[i].pool[s]);
    conn_free(&e->eps[i].fast);
  }
  tls_ctx_free(e->tls);
  while (e->reqs) { /* their evhttp requests went with the connections */
    ereq *r = e->reqs;
    e->reqs = r->next;
    free(r);
  }
  if (e->reap_ev) event_free(e->reap_ev);
  free(e);
}

const char *etcd_current_url(const etcd *e) { return e->eps[e->cur].url; }

/* ---- requests ---- */

/* Turns Nagle off on the connection's socket (made by evhttp when the
 * request is queued on a closed connection): without it a request written
 * in two pieces waits for the peer's delayed ACK. */
static void set_nodelay(struct evhttp_connection *evcon) {
  struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
  evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
  int one = 1;
  if (fd >= 0) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void set_timeout(struct evhttp_connection *evcon, int ms) {
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  evhttp_connection_set_timeout_tv(evcon, &tv);
}

/* A new connection to ep: plain, or TLS with a bufferevent of its own. */
static struct evhttp_connection *new_conn(etcd *e, endpoint *ep, int timeout_ms) {
  struct evhttp_connection *c = NULL;
  if (e->tls) {
    struct bufferevent *bev = tls_client_bev_new(e->base, e->tls, ep->host);
    if (!bev) return NULL;
    c = evhttp_connection_base_bufferevent_new(e->base, NULL, bev, ep->host, ep->port);
  } else {
    c = evhttp_connection_base_new(e->base, NULL, ep->host, ep->port);
  }
  if (!c) return NULL;
  set_timeout(c, timeout_ms);
  evhttp_connection_set_retries(c, 0); /* a write is never resent behind the caller's back */
  return c;
}

/* The connection closed (etcd closed it, or an error): it is replaced
 * before its next request; a TLS one's error is kept for the message. */
static void conn_closed_cb(struct evhttp_connection *evcon, void *arg) {
  econn *c = arg;
  c->closed = true;
  struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
  if (bev && !tls_bev_describe_error(bev, c->tls_err, sizeof c->tls_err)) c->tls_err[0] = '\0';
}

/* c's connection, made now when it has none, or when the one it has closed
 * and has no request in flight (the old one is freed by reap_ev). NULL when
 * out of memory. */
static struct evhttp_connection *conn_get(etcd *e, endpoint *ep, econn *c, int timeout_ms) {
  if (c->evcon && c->closed && c->inflight == 0) {
    retired *r = malloc(sizeof *r);
    if (r) { /* out of memory: evhttp reconnects it itself */
      evhttp_connection_set_closecb(c->evcon, NULL, NULL);
      *r = (retired){c->evcon, e->retired};
      e->retired = r;
      c->evcon = NULL;
      event_active(e->reap_ev, 0, 0);
    }
  }
  if (!c->evcon) {
    if (!(c->evcon = new_conn(e, ep, timeout_ms))) return NULL;
    c->closed = false;
    c->tls_err[0] = '\0';
    evhttp_connection_set_closecb(c->evcon, conn_closed_cb, c);
  }
  return c->evcon;
}

/* The connection of the current endpoint with the fewest requests. */
static econn *pick_conn(endpoint *ep) {
  econn *best = &ep->pool[0];
  for (int s = 1; s < ETCD_POOL; s++)
    if (ep->pool[s].inflight < best->inflight) best = &ep->pool[s];
  return best;
}

/* A transport failure on endpoint i: requests go to the next one. */
static void endpoint_failed(etcd *e, int i) {
  if (e->cur != i || e->n_eps < 2) return;
  e->cur = (i + 1) % e->n_eps;
  log_warn("etcd %s failed: trying %s", e->eps[i].url, e->eps[e->cur].url);
}

static struct evhttp_request *make_post(const endpoint *ep, json_object *body,
                                        void (*cb)(struct evhttp_request *, void *), void *arg) {
  struct evhttp_request *req = evhttp_request_new(cb, arg);
  if (!req) return NULL;
  struct evkeyvalq *h = evhttp_request_get_output_headers(req);
  char host[220];
  snprintf(host, sizeof host, "%s:%u", ep->host, (unsigned)ep->port);
  evhttp_add_header(h, "Host", host);
  evhttp_add_header(h, "Content-Type", "application/json");
  size_t len = 0;
  const char *text = json_object_to_json_string_length(body, JSON_C_TO_STRING_PLAIN, &len);
  if (!text || evbuffer_add(evhttp_request_get_output_buffer(req), text, len) != 0) {
    evhttp_request_free(req);
    return NULL;
  }
  return req;
}

void etcd_set_fast_timeout(etcd *e, int ms) { e->fast_timeout_ms = ms > 0 ? ms : e->timeout_ms; }

/* Takes r off the list of requests in flight and its connection's count. */
static void req_unlist(ereq *r) {
  etcd *e = r->e;
  /* Idle, it waits for etcd to close it, not for the request timeout. */
  if (--r->conn->inflight == 0 && r->conn->evcon)
    set_timeout(r->conn->evcon, ETCD_IDLE_TIMEOUT_S * 1000);
  if (r->prev)
    r->prev->next = r->next;
  else
    e->reqs = r->next;
  if (r->next) r->next->prev = r->prev;
  r->prev = r->next = NULL;
}

/* Sends on a pool connection of the current endpoint, or its fast one. */
static int call_on(etcd *e, bool fast, const char *path, json_object *body, etcd_reply_fn fn,
                   void *ctx) {
  endpoint *ep = &e->eps[e->cur];
  ereq *r = calloc(1, sizeof *r);
  econn *c = fast ? &ep->fast : pick_conn(ep);
  struct evhttp_connection *evcon =
      r ? conn_get(e, ep, c, fast ? e->fast_timeout_ms : e->timeout_ms) : NULL;
  struct evhttp_request *req = evcon ? make_post(ep, body, reply_cb, r) : NULL;
  json_object_put(body);
  if (!req) {
    free(r);
    return -1;
  }
  r->e = e;
  r->ep = e->cur;
  r->conn = c;
  r->fn = fn;
  r->ctx = ctx;
  snprintf(r->path, sizeof r->path, "%s", path);
  /* Listed before it is made: reply_cb may run inside evhttp_make_request. */
  if (c->inflight++ == 0) set_timeout(evcon, fast ? e->fast_timeout_ms : e->timeout_ms);
  r->next = e->reqs;
  if (r->next) r->next->prev = r;
  e->reqs = r;
  r->in_call = true;
  int rc = evhttp_make_request(evcon, req, EVHTTP_REQ_POST, path);
  r->in_call = false;
  if (rc != 0 || r->failed_in_call) { /* evhttp freed req */
    if (!r->failed_in_call) req_unlist(r);
    free(r);
    return -1;
  }
  set_nodelay(evcon);
  return 0;
}

int etcd_call(etcd *e, const char *path, json_object *body, etcd_reply_fn fn, void *ctx) {
  return call_on(e, false, path, body, fn, ctx);
}

int etcd_call_fast(etcd *e, const char *path, json_object *body, etcd_reply_fn fn, void *ctx) {
  return call_on(e, true, path, body, fn, ctx);
}

/* The error text of a non-200 reply: etcd's "error"/"message" field when
 * the body is JSON, else the start of the body. */
static void http_error(struct evhttp_request *req, int code, char *err, size_t errlen) {
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  size_t n = evbuffer_get_length(in);
  if (n > 400) n = 400;
  char body[401];
  evbuffer_copyout(in, body, n);
  body[n] = '\0';
  json_object *j = json_tokener_parse(body);
  const char *msg = NULL;
  json_object *m = etcd_get(j, "message");
  if (!m) m = etcd_get(j, "error");
  if (m && json_object_is_type(m, json_type_string)) msg = json_object_get_string(m);
  snprintf(err, errlen, "HTTP %d: %s", code, msg ? msg : body);
  json_object_put(j);
}

/* Whether an HTTP status other than 200 is worth a retry: the member
 * (5xx: no leader, a timeout inside etcd) or etcd's load (408, 429: too
 * many requests, the space quota) may change; any other answer is about
 * the request itself. */
static int status_of(int code) {
  return code >= 500 || code == 408 || code == 429 || code < 400 ? ETCD_FAILED : ETCD_REFUSED;
}

/* Says why a request on TLS connection c got no reply, into buf: OpenSSL's
 * reason (the handshake or the session), with the option to check. Returns
 * false for a plain connection or when OpenSSL said nothing. */
static bool tls_failure(econn *c, char *buf, size_t len) {
  char why[256] = "";
  struct bufferevent *bev = c->evcon ? evhttp_connection_get_bufferevent(c->evcon) : NULL;
  if (c->tls_err[0])
    snprintf(why, sizeof why, "%s", c->tls_err);
  else if (!bev || !tls_bev_describe_error(bev, why, sizeof why))
    return false;
  c->tls_err[0] = '\0';
  const char *hint = "";
  if (strstr(why, "server certificate"))
    hint = " (is --etcd-cacert the CA that signed etcd's certificate, and does it name the "
           "URL's host?)";
  else if (strstr(why, "certificate required") || strstr(why, "bad certificate") ||
           strstr(why, "unknown ca") || strstr(why, "handshake failure"))
    hint = " (etcd refused this member's client certificate: --etcd-cert, --etcd-key)";
  snprintf(buf, len, "TLS: %s%s", why, hint);
  return true;
}

static void reply_cb(struct evhttp_request *req, void *arg) {
  ereq *r = arg;
  etcd *e = r->e;
  endpoint *ep = &e->eps[r->ep];
  req_unlist(r);
  char err[1024];
  int code = req ? evhttp_request_get_response_code(req) : 0;
  int status = ETCD_FAILED;
  json_object *j = NULL;
  if (code == 0) {
    char why[600];
    if (e->tls && tls_failure(r->conn, why, sizeof why))
      snprintf(err, sizeof err, "etcd %s%s: %s", ep->url, r->path, why);
    else
      snprintf(err, sizeof err, "etcd %s%s: no reply (refused, reset or timed out)", ep->url,
               r->path);
    r->conn->closed = true; /* a new connection for the next request (see the top) */
    endpoint_failed(e, r->ep);
  } else if (code != 200) {
    char why[450];
    http_error(req, code, why, sizeof why);
    status = status_of(code);
    snprintf(err, sizeof err, "etcd %s%s: %s%s", ep->url, r->path, why,
             status == ETCD_REFUSED ? " (refused: not retried)" : "");
    if (code >= 500) endpoint_failed(e, r->ep); /* e.g. no leader on that member */
  } else {
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    const char *p = (const char *)evbuffer_pullup(in, -1);
    json_tokener *tok = json_tokener_new();
    j = tok && p ? json_tokener_parse_ex(tok, p, (int)n) : NULL;
    if (tok) json_tokener_free(tok);
    if (!j) snprintf(err, sizeof err, "etcd %s%s: the reply is not JSON", ep->url, r->path);
  }
  if (r->in_call) { /* failed inside etcd_call: its caller hears -1 */
    log_debug("%s (at once)", err);
    r->failed_in_call = true;
    json_object_put(j);
    return;
  }
  etcd_reply_fn fn = r->fn;
  void *ctx = r->ctx;
  free(r);
  fn(ctx, j ? ETCD_OK : status, j, j ? NULL : err);
  json_object_put(j);
}

/* ---- watches ---- */

static void watch_end(etcd_watch *w, const char *err) {
  if (w->dead || w->ended) return;
  w->ended = true;
  w->on_end(w->ctx, err);
}

/* Parses the stream's JSON objects as they arrive. */
static void watch_chunk_cb(struct evhttp_request *req, void *arg) {
  etcd_watch *w = arg;
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  size_t n = evbuffer_get_length(in);
  if (w->dead || n == 0) {
    evbuffer_drain(in, n);
    return;
  }
  const char *p = (const char *)evbuffer_pullup(in, -1);
  size_t off = 0;
  while (off < n && !w->dead && !w->ended) {
    json_object *j = json_tokener_parse_ex(w->tok, p + off, (int)(n - off));
    size_t used = json_tokener_get_parse_end(w->tok);
    enum json_tokener_error jerr = json_tokener_get_error(w->tok);
    if (!j && jerr == json_tokener_continue) break; /* the rest comes in a later chunk */
    if (!j) {
      evbuffer_drain(in, n);
      char text[512];
      snprintf(text, sizeof text, "the watch stream of etcd %s is not JSON: %s",
               w->e->eps[w->ep].url, json_tokener_error_desc(jerr));
      watch_end(w, text);
      return;
    }
    off += used ? used : n - off;
    json_tokener_reset(w->tok);
    w->on_events(w->ctx, j);
    json_object_put(j);
  }
  evbuffer_drain(in, n);
}

static void watch_done_cb(struct evhttp_request *req, void *arg) {
  etcd_watch *w = arg;
  w->req = NULL; /* libevent frees it after this */
  if (w->starting) {
    w->failed_in_start = true; /* etcd_watch_start returns NULL */
    endpoint_failed(w->e, w->ep);
    return;
  }
  int code = req ? evhttp_request_get_response_code(req) : 0;
  char err[1024];
  if (code == 0) {
    char why[600];
    econn c = {.evcon = w->evcon};
    if (w->e->tls && tls_failure(&c, why, sizeof why))
      snprintf(err, sizeof err, "the watch on etcd %s broke: %s", w->e->eps[w->ep].url, why);
    else
      snprintf(err, sizeof err, "the watch on etcd %s broke (no reply, reset or timed out)",
               w->e->eps[w->ep].url);
    endpoint_failed(w->e, w->ep);
  } else if (code != 200) {
    char why[450];
    http_error(req, code, why, sizeof why);
    w->refused = status_of(code) == ETCD_REFUSED;
    snprintf(err, sizeof err, "the watch on etcd %s failed: %s", w->e->eps[w->ep].url, why);
    if (!w->refused) endpoint_failed(w->e, w->ep);
  } else {
    snprintf(err, sizeof err, "etcd %s ended the watch", w->e->eps[w->ep].url);
  }
  watch_end(w, err);
}

etcd_watch *etcd_watch_start(etcd *e, const char *key, const char *range_end, int64_t start_rev,
                             bool deletes_only, etcd_watch_fn on_events, etcd_watch_end_fn on_end,
                             void *ctx) {
  etcd_watch *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->e = e;
  w->ep = e->cur;
  w->on_events = on_events;
  w->on_end = on_end;
  w->ctx = ctx;
  endpoint *ep = &e->eps[w->ep];
  json_object *body = json_object_new_object(), *cr = json_object_new_object();
  json_object_object_add(cr, "key", etcd_b64_string(key, strlen(key)));
  if (range_end)
    json_object_object_add(cr, "range_end", etcd_b64_string(range_end, strlen(range_end)));
  if (start_rev > 0) json_object_object_add(cr, "start_revision", json_object_new_int64(start_rev));
  json_object_object_add(cr, "progress_notify", json_object_new_boolean(1));
  if (deletes_only) {
    json_object *f = json_object_new_array();
    json_object_array_add(f, json_object_new_string("NOPUT"));
    json_object_object_add(cr, "filters", f);
  }
  json_object_object_add(body, "create_request", cr);
  w->tok = json_tokener_new();
  w->evcon = w->tok ? new_conn(e, ep, ETCD_WATCH_TIMEOUT_S * 1000) : NULL;
  struct evhttp_request *req = w->evcon ? make_post(ep, body, watch_done_cb, w) : NULL;
  json_object_put(body);
  if (!req) {
    watch_release(w);
    return NULL;
  }
  evhttp_add_header(evhttp_request_get_output_headers(req), "Grpc-Metadata-hasleader", "true");
  evhttp_request_set_chunked_cb(req, watch_chunk_cb);
  w->req = req; /* before: watch_done_cb may run inside evhttp_make_request */
  w->starting = true;
  int rc = evhttp_make_request(w->evcon, req, EVHTTP_REQ_POST, "/v3/watch");
  w->starting = false;
  if (rc != 0 || w->failed_in_start) {
    w->req = NULL; /* evhttp freed it */
    watch_release(w);
    return NULL;
  }
  set_nodelay(w->evcon);
  return w;
}

bool etcd_watch_refused(const etcd_watch *w) { return w->refused; }

void etcd_watch_free(etcd_watch *w) {
  if (!w) return;
  w->dead = true;
  w->dead_next = w->e->dying;
  w->e->dying = w;
  event_active(w->e->reap_ev, 0, 0);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  reap(arg);
}

/* ---- JSON and base64 ---- */

json_object *etcd_b64_string(const void *data, size_t len) {
  size_t cap = 4 * ((len + 2) / 3) + 1;
  char *buf = malloc(cap);
  if (!buf) return NULL;
  int n = EVP_EncodeBlock((unsigned char *)buf, data, (int)len);
  json_object *s = json_object_new_string_len(buf, n);
  free(buf);
  return s;
}

int etcd_b64_decode(json_object *s, uint8_t **out, size_t *outlen) {
  const char *text = s ? json_object_get_string(s) : "";
  size_t len = s ? (size_t)json_object_get_string_len(s) : 0;
  *out = malloc(len / 4 * 3 + 1);
  *outlen = 0;
  if (!*out) return -1;
  if (len == 0) return 0;
  if (len % 4 != 0) {
    free(*out);
    *out = NULL;
    return -1;
  }
  int n = EVP_DecodeBlock(*out, (const unsigned char *)text, (int)len);
  if (n < 0) {
    free(*out);
    *out = NULL;
    return -1;
  }
  /* EVP_DecodeBlock counts the padding as zero bytes. */
  if (text[len - 1] == '=') n--;
  if (text[len - 2] == '=') n--;
  *outlen = (size_t)n;
  return 0;
}

json_object *etcd_get(json_object *o, const char *key) {
  json_object *v = NULL;
  if (!o || !json_object_is_type(o, json_type_object)) return NULL;
  return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

int64_t etcd_get_int(json_object *o, const char *key) {
  json_object *v = etcd_get(o, key);
  return v ? json_object_get_int64(v) : 0;
}

bool etcd_get_bool(json_object *o, const char *key) {
  json_object *v = etcd_get(o, key);
  return v && json_object_get_boolean(v);
}

json_object *etcd_txn_new(void) {
  json_object *txn = json_object_new_object();
  if (!txn) return NULL;
  json_object_object_add(txn, "compare", json_object_new_array());
  json_object_object_add(txn, "success", json_object_new_array());
  json_object_object_add(txn, "failure", json_object_new_array());
  return txn;
}

static json_object *key_b64(const char *key) { return etcd_b64_string(key, strlen(key)); }

void etcd_txn_compare(json_object *txn, const char *key, const char *target, const char *result,
                      int64_t value) {
  json_object *c = json_object_new_object();
  json_object_object_add(c, "key", key_b64(key));
  json_object_object_add(c, "target", json_object_new_string(target));
  json_object_object_add(c, "result", json_object_new_string(result));
  json_object_object_add(c, strcmp(target, "CREATE") == 0 ? "create_revision" : "version",
                         json_object_new_int64(value));
  json_object_array_add(etcd_get(txn, "compare"), c);
}

/* Adds {name: request} to the success or failure list. */
static void txn_op(json_object *txn, bool on_failure, const char *name, json_object *request) {
  json_object *op = json_object_new_object();
  json_object_object_add(op, name, request);
  json_object_array_add(etcd_get(txn, on_failure ? "failure" : "success"), op);
}

void etcd_txn_put(json_object *txn, bool on_failure, const char *key, const void *value, size_t len,
                  int64_t lease) {
  json_object *put = json_object_new_object();
  json_object_object_add(put, "key", key_b64(key));
  json_object_object_add(put, "value", etcd_b64_string(value, len));
  if (lease) json_object_object_add(put, "lease", json_object_new_int64(lease));
  txn_op(txn, on_failure, "request_put", put);
}

void etcd_txn_range(json_object *txn, bool on_failure, const char *key) {
  json_object *q = json_object_new_object();
  json_object_object_add(q, "key", key_b64(key));
  txn_op(txn, on_failure, "request_range", q);
}

void etcd_txn_delete(json_object *txn, bool on_failure, const char *from, const char *to) {
  json_object *del = json_object_new_object();
  json_object_object_add(del, "key", key_b64(from));
  json_object_object_add(del, "range_end", key_b64(to));
  txn_op(txn, on_failure, "request_delete_range", del);
}

void etcd_prefix_end(const char *prefix, char *buf, size_t len) {
  snprintf(buf, len, "%s", prefix);
  size_t n = strlen(buf);
  while (n > 0) { /* the prefix with its last byte below 0xff incremented */
    unsigned char ch = (unsigned char)buf[n - 1];
    if (ch < 0xff) {
      buf[n - 1] = (char)(ch + 1);
      return;
    }
    buf[--n] = '\0';
  }
}
