/* conn.c - one client connection from accept to close.
 *
 * States: HANDSHAKE (Hello sent, waiting for Auth; tiny frame limit and a
 * deadline) -> READY (requests) -> CLOSING (reading stopped, output being
 * flushed, then freed). conn_set_state() is the only place that changes the
 * state and it checks each transition.
 *
 * The read callback takes at most CONN_FRAMES_PER_EVENT frames and then
 * re-triggers itself, so one busy client cannot starve the others. A
 * connection whose output grows past CONN_OUT_HIGH (a client that sends but
 * does not read), or that has limits.max_pending calls parked, stops being
 * read until the output drains to CONN_OUT_LOW and a parked call is
 * answered: memory stays bounded and TCP pushes back on the client. Answers
 * to parked calls can still pile up on a client that never reads; past
 * limits.out_hard it is disconnected.
 *
 * A connection is only freed from the top of an event callback (an error or
 * EOF event, the flush after CLOSING, or its timer), never while its frames
 * are being processed.
 *
 * Transports: the listener hands over a ready bufferevent, a plain socket
 * one or a TLS one (tls.c), and everything here works the same on both. A
 * TLS connection first completes its TLS handshake (BEV_EVENT_CONNECTED);
 * the Hello queued at creation goes out after it, and the one handshake
 * deadline covers both. A failed TLS handshake (a refused certificate, a
 * plaintext client) is logged with OpenSSL's reason. Closing sends
 * close_notify first unless the transport failed. */
#include "conn.h"

#include "../proto/auth.h"
#include "../proto/frame.h"
#include "blocked.h"
#include "dispatch.h"
#include "htab.h"
#include "log.h"
#include "server.h"
#include "tls.h"

#include <assert.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CONN_FRAMES_PER_EVENT 128
#define CONN_OUT_HIGH (8u * 1024u * 1024u)
#define CONN_OUT_LOW (1u * 1024u * 1024u)
/* Past max_conns, this many more connections are kept just long enough to
 * be told why they are refused; beyond that they are closed at once. */
#define CONN_REFUSING_MAX 1024

typedef enum conn_state { CONN_HANDSHAKE, CONN_READY, CONN_CLOSING } conn_state;

struct conn {
  struct sm_server *srv;
  struct bufferevent *bev;
  conn_state state;
  uint64_t id;
  char peer[128];
  char name[64];                         /* the client's self-chosen name */
  uint8_t challenge[AUTH_CHALLENGE_LEN]; /* ours, sent in Hello */
  htab handles;                          /* object id -> references held (uintptr_t) */
  htab owned;          /* object id -> units held (lock acquisitions, semaphore units) */
  waiter *parked;      /* this connection's parked calls (blocked.c) */
  struct event *timer; /* HANDSHAKE: the deadline; CLOSING: the deferred free */
  bool paused;         /* reading stopped: output backlog or too many parked calls */
  size_t n_parked;     /* entries in parked */
  bool over_limit;     /* accepted past max_conns: refused at the handshake */
  bool tls_pending;    /* TLS handshake not completed yet */
  bool failed;         /* the transport reported an error: no close_notify */
  uint64_t requests;
  conn *prev, *next; /* srv->conns */
};

static void read_cb(struct bufferevent *bev, void *arg);
static void write_cb(struct bufferevent *bev, void *arg);
static void event_cb(struct bufferevent *bev, short what, void *arg);
static void timer_cb(evutil_socket_t fd, short what, void *arg);

static void conn_set_state(conn *c, conn_state next) {
  assert((c->state == CONN_HANDSHAKE && next != CONN_HANDSHAKE) ||
         (c->state == CONN_READY && next == CONN_CLOSING));
  c->state = next;
}

conn *conn_new(struct sm_server *srv, struct bufferevent *bev, const char *peer, bool tls) {
  if (srv->n_conns >= srv->limits.max_conns + CONN_REFUSING_MAX) {
    log_warn("connection from %s closed: %zu connections already", peer, srv->n_conns);
    bufferevent_free(bev);
    return NULL;
  }
  conn *c = calloc(1, sizeof *c);
  if (!c) {
    bufferevent_free(bev);
    log_error("cannot set up a connection from %s: out of memory", peer);
    return NULL;
  }
  c->srv = srv;
  c->id = ++srv->next_conn_id;
  snprintf(c->peer, sizeof c->peer, "%s", peer);
  htab_init(&c->handles);
  htab_init(&c->owned);
  c->bev = bev;
  c->tls_pending = tls;
  c->timer = evtimer_new(srv->base, timer_cb, c);
  vbuf hello;
  vb_init(&hello);
  if (!c->timer || auth_random(c->challenge, sizeof c->challenge) != 0 ||
      wire_hello_encode(&hello, c->challenge) != 0 ||
      bufferevent_write(c->bev, hello.p, hello.len) != 0) {
    vb_free(&hello);
    bufferevent_free(c->bev);
    if (c->timer) event_free(c->timer);
    free(c);
    log_error("cannot set up a connection from %s: out of memory", peer);
    return NULL;
  }
  vb_free(&hello);
  bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
  bufferevent_setwatermark(c->bev, EV_WRITE, CONN_OUT_LOW, 0);
  bufferevent_enable(c->bev, EV_READ | EV_WRITE);
  unsigned ms = srv->limits.handshake_ms;
  struct timeval deadline = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
  evtimer_add(c->timer, &deadline);
  c->next = srv->conns;
  if (srv->conns) srv->conns->prev = c;
  srv->conns = c;
  c->over_limit = srv->n_conns >= srv->limits.max_conns;
  srv->n_conns++;
  log_info("conn %llu: accepted from %s%s%s", (unsigned long long)c->id, c->peer,
           tls ? " (TLS)" : "", c->over_limit ? " past the connection limit" : "");
  return c;
}

void conn_free(conn *c) {
  struct sm_server *srv = c->srv;
  if (c->state != CONN_CLOSING) conn_set_state(c, CONN_CLOSING); /* no more reading */
  if (c->prev)
    c->prev->next = c->next;
  else
    srv->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  srv->n_conns--;
  /* First its parked calls go (none may be granted what it can no longer
   * receive), then what it owned is given to the next waiters, then its
   * references: anonymous objects only it held go. */
  blk_conn_release(&c->parked, WS_OK, NULL);
  size_t pos = 0;
  sm_span key;
  void *val;
  while (htab_next(&c->owned, &pos, &key, &val)) {
    uint64_t id;
    memcpy(&id, key.p, sizeof id);
    sm_obj *o = reg_get(srv->reg, id);
    if (o && o->type->owner_gone) o->type->owner_gone(srv->reg, o, c->id, (uint64_t)(uintptr_t)val);
  }
  htab_clear(&c->owned, NULL, NULL);
  pos = 0;
  while (htab_next(&c->handles, &pos, &key, &val)) {
    uint64_t id;
    memcpy(&id, key.p, sizeof id);
    for (uintptr_t n = (uintptr_t)val; n > 0; n--)
      reg_decref(srv->reg, reg_get(srv->reg, id));
  }
  htab_clear(&c->handles, NULL, NULL);
  log_info("conn %llu: closed (%llu requests)", (unsigned long long)c->id,
           (unsigned long long)c->requests);
  event_free(c->timer);
  tls_bev_shutdown(c->bev, !c->failed);
  bufferevent_free(c->bev);
  free(c);
}

void conn_close_after_flush(conn *c) {
  if (c->state == CONN_CLOSING) return;
  conn_set_state(c, CONN_CLOSING);
  bufferevent_disable(c->bev, EV_READ);
  /* If nothing is queued no write callback will come: free on the next loop
   * turn instead, off this call stack. */
  if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
    struct timeval now = {0, 0};
    evtimer_add(c->timer, &now);
  }
}

/* Stops reading while the client has too much to read or too many calls
 * parked, and reads again once both are back under their marks. */
static void update_reading(conn *c) {
  size_t queued = evbuffer_get_length(bufferevent_get_output(c->bev));
  size_t max_pending = c->srv->limits.max_pending;
  if (!c->paused && (queued > CONN_OUT_HIGH || c->n_parked >= max_pending)) {
    c->paused = true;
    bufferevent_disable(c->bev, EV_READ);
  } else if (c->paused && queued <= CONN_OUT_LOW && c->n_parked < max_pending &&
             c->state == CONN_READY && !c->srv->stopping) {
    c->paused = false;
    bufferevent_enable(c->bev, EV_READ);
    bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS | BEV_TRIG_IGNORE_WATERMARKS);
  }
}

/* Drops a client that lets its answers pile up past the hard limit: its
 * queued output is discarded and it is freed on the next loop turn. */
static void conn_abort(conn *c, const char *why) {
  log_warn("conn %llu (%s): %s; disconnecting", (unsigned long long)c->id, c->peer, why);
  struct evbuffer *out = bufferevent_get_output(c->bev);
  evbuffer_drain(out, evbuffer_get_length(out));
  conn_close_after_flush(c);
}

void conn_note_parked(conn *c, int delta) {
  c->n_parked = delta < 0 ? c->n_parked - 1 : c->n_parked + 1;
  update_reading(c);
}

void conn_send_response(conn *c, const wire_response_out *r) {
  if (c->state == CONN_CLOSING) return; /* nobody will read it */
  struct evbuffer *out = bufferevent_get_output(c->bev);
  size_t n = wire_response_frame_size(r);
  struct evbuffer_iovec iov;
  if (evbuffer_reserve_space(out, (ev_ssize_t)n, &iov, 1) < 1) {
    log_error("conn %llu: out of memory for a response; closing", (unsigned long long)c->id);
    conn_close_after_flush(c);
    return;
  }
  wire_response_frame_pack(r, iov.iov_base);
  iov.iov_len = n;
  evbuffer_commit_space(out, &iov, 1);
  if (evbuffer_get_length(out) > c->srv->limits.out_hard)
    conn_abort(c, "answers pile up unread past the output limit");
  else
    update_reading(c);
}

int conn_hold(conn *c, sm_obj *o) {
  if (o->name) return 0; /* named objects are not counted */
  sm_span key = {(const uint8_t *)&o->id, sizeof o->id};
  void **slot = htab_find(&c->handles, key);
  if (slot) {
    *slot = (void *)((uintptr_t)*slot + 1);
    return 0;
  }
  return htab_put(&c->handles, key, (void *)(uintptr_t)1, NULL) == 1 ? 0 : -1;
}

bool conn_release(conn *c, uint64_t id) {
  sm_span key = {(const uint8_t *)&id, sizeof id};
  void **slot = htab_find(&c->handles, key);
  if (!slot) return false;
  uintptr_t n = (uintptr_t)*slot - 1;
  if (n == 0)
    htab_remove(&c->handles, key, NULL);
  else
    *slot = (void *)n;
  reg_decref(c->srv->reg, reg_get(c->srv->reg, id));
  return true;
}

void conn_stop_reading(conn *c) { bufferevent_disable(c->bev, EV_READ); }

bool conn_output_empty(const conn *c) {
  return evbuffer_get_length(bufferevent_get_output(c->bev)) == 0;
}

conn *conn_next(const conn *c) { return c->next; }

waiter **conn_parked(conn *c) { return &c->parked; }

int conn_note_owned(conn *c, sm_obj *o, int64_t delta) {
  sm_span key = {(const uint8_t *)&o->id, sizeof o->id};
  void **slot = htab_find(&c->owned, key);
  int64_t now = (slot ? (int64_t)(uintptr_t)*slot : 0) + delta;
  if (now <= 0) {
    if (slot) htab_remove(&c->owned, key, NULL);
    return 0;
  }
  if (slot) {
    *slot = (void *)(uintptr_t)now;
    return 0;
  }
  return htab_put(&c->owned, key, (void *)(uintptr_t)now, NULL) == 1 ? 0 : -1;
}

struct sm_server *conn_server(const conn *c) {
  return c->srv;
}
uint64_t conn_id(const conn *c) { return c->id; }

/* Answers a frame that cannot be handled and closes: during the handshake
 * with an AuthResult (what the client waits for), later with a Response of
 * seq 0 (no request could be matched). */
static void refuse(conn *c, int status, const char *text) {
  vbuf b;
  vb_init(&b);
  int rc;
  if (c->state == CONN_HANDSHAKE) {
    rc = wire_auth_result_encode(&b, status, NULL, text);
  } else {
    wire_response_out r = {.seq = 0, .status = status, .error = text};
    rc = wire_response_encode(&b, &r);
  }
  if (rc == 0) bufferevent_write(c->bev, b.p, b.len);
  vb_free(&b);
  log_warn("conn %llu (%s): %s; closing", (unsigned long long)c->id, c->peer, text);
  conn_close_after_flush(c);
}

static void handle_auth(conn *c, sm_span payload) {
  uint32_t version;
  uint8_t mac[AUTH_MAC_LEN], client_ch[AUTH_CHALLENGE_LEN], expected[AUTH_MAC_LEN];
  if (c->over_limit) {
    char text[96];
    snprintf(text, sizeof text, "too many connections (the limit is %zu)",
             c->srv->limits.max_conns);
    refuse(c, WS_TOO_LARGE, text);
    return;
  }
  if (wire_auth_decode(payload, &version, mac, client_ch, c->name, sizeof c->name) != 0) {
    refuse(c, WS_PROTOCOL_ERROR, "malformed handshake: expected an Auth message");
    return;
  }
  if (version != AUTH_PROTOCOL_VERSION) {
    char text[96];
    snprintf(text, sizeof text, "protocol version %u not supported (this daemon speaks %u)",
             version, AUTH_PROTOCOL_VERSION);
    refuse(c, WS_PROTOCOL_ERROR, text);
    return;
  }
  const authkey *k = &c->srv->key;
  auth_client_mac(k->bytes, k->len, c->challenge, client_ch, expected);
  bool ok = auth_mac_ok(mac, sizeof mac, expected);
  auth_wipe(expected, sizeof expected);
  if (!ok) {
    refuse(c, WS_AUTH_FAILED, "authentication failed: the client does not know the authkey");
    return;
  }
  uint8_t proof[AUTH_MAC_LEN];
  auth_server_mac(k->bytes, k->len, c->challenge, client_ch, proof);
  vbuf b;
  vb_init(&b);
  if (wire_auth_result_encode(&b, WS_OK, proof, NULL) == 0) bufferevent_write(c->bev, b.p, b.len);
  vb_free(&b);
  auth_wipe(proof, sizeof proof);
  evtimer_del(c->timer);
  conn_set_state(c, CONN_READY);
  log_info("conn %llu: authenticated%s%s", (unsigned long long)c->id, c->name[0] ? " as " : "",
           c->name);
}

static void handle_frame(conn *c, sm_span payload) {
  if (c->state == CONN_HANDSHAKE) {
    handle_auth(c, payload);
    return;
  }
  wire_request req;
  if (wire_request_decode(payload, &req) != 0) {
    refuse(c, WS_PROTOCOL_ERROR, "malformed request frame");
    return;
  }
  c->requests++;
  dispatch_request(c, &req);
  wire_request_release(&req);
}

static void read_cb(struct bufferevent *bev, void *arg) {
  conn *c = arg;
  struct evbuffer *in = bufferevent_get_input(bev);
  for (int budget = CONN_FRAMES_PER_EVENT; budget > 0; budget--) {
    if (c->state == CONN_CLOSING || c->paused || c->srv->stopping) return;
    size_t avail = evbuffer_get_length(in);
    uint8_t hdr[FRAME_HEADER_LEN];
    if (avail < sizeof hdr) return;
    evbuffer_copyout(in, hdr, sizeof hdr);
    size_t max = c->state == CONN_HANDSHAKE ? FRAME_MAX_PREAUTH : c->srv->limits.max_frame;
    size_t len;
    if (frame_parse(hdr, sizeof hdr, max, &len) == FRAME_TOO_LARGE) {
      char text[128];
      snprintf(text, sizeof text, "frame of %zu bytes exceeds the limit of %zu bytes", len, max);
      refuse(c, WS_TOO_LARGE, text);
      return;
    }
    if (avail - sizeof hdr < len) return; /* the rest of the frame is on its way */
    uint8_t *frame = evbuffer_pullup(in, (ev_ssize_t)(sizeof hdr + len));
    if (!frame) {
      refuse(c, WS_INTERNAL, "out of memory reading a frame");
      return;
    }
    handle_frame(c, (sm_span){frame + sizeof hdr, len});
    evbuffer_drain(in, sizeof hdr + len);
  }
  /* Budget spent with input still waiting: come back after the others. */
  if (evbuffer_get_length(in) >= FRAME_HEADER_LEN)
    bufferevent_trigger(bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS | BEV_TRIG_IGNORE_WATERMARKS);
}

static void write_cb(struct bufferevent *bev, void *arg) {
  conn *c = arg;
  size_t queued = evbuffer_get_length(bufferevent_get_output(bev));
  if (c->state == CONN_CLOSING) {
    if (queued == 0) conn_free(c);
    return;
  }
  if (c->paused) update_reading(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg) {
  conn *c = arg;
  char why[512];
  if (what & BEV_EVENT_CONNECTED) { /* a TLS handshake completed */
    c->tls_pending = false;
    if (tls_bev_describe_session(bev, why, sizeof why))
      log_info("conn %llu: TLS session %s", (unsigned long long)c->id, why);
  }
  if (what & BEV_EVENT_ERROR) {
    c->failed = true;
    if (tls_bev_describe_error(bev, why, sizeof why))
      log_warn("conn %llu (%s): %s: %s", (unsigned long long)c->id, c->peer,
               c->tls_pending ? "TLS handshake failed" : "TLS error", why);
    else
      log_info("conn %llu: connection error: %s", (unsigned long long)c->id,
               evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
  }
  if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) conn_free(c);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  conn *c = arg;
  if (c->state == CONN_HANDSHAKE && c->tls_pending) {
    /* Nothing can be sent before the TLS handshake: just drop it (a
     * plaintext client on a TLS port waits for a Hello that never comes). */
    log_warn("conn %llu (%s): TLS handshake not completed in time; closing",
             (unsigned long long)c->id, c->peer);
    c->failed = true;
    conn_free(c);
    return;
  }
  if (c->state == CONN_HANDSHAKE) {
    refuse(c, WS_PROTOCOL_ERROR, "handshake not completed in time");
    return;
  }
  if (c->state == CONN_CLOSING) conn_free(c);
}
