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
 * does not read) stops being read until the output drains to CONN_OUT_LOW:
 * memory stays bounded and TCP pushes back on the client.
 *
 * A connection is only freed from the top of an event callback (an error or
 * EOF event, the flush after CLOSING, or its timer), never while its frames
 * are being processed. */
#include "conn.h"

#include "../proto/auth.h"
#include "../proto/frame.h"
#include "dispatch.h"
#include "htab.h"
#include "log.h"
#include "server.h"

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
#define CONN_HANDSHAKE_TIMEOUT_S 10

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
  struct event *timer;                   /* HANDSHAKE: the deadline; CLOSING: the deferred free */
  bool paused;                           /* reading stopped by back-pressure */
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

conn *conn_new(struct sm_server *srv, int fd, const char *peer) {
  conn *c = calloc(1, sizeof *c);
  if (!c) {
    close(fd);
    return NULL;
  }
  c->srv = srv;
  c->id = ++srv->next_conn_id;
  snprintf(c->peer, sizeof c->peer, "%s", peer);
  htab_init(&c->handles);
  c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
  c->timer = evtimer_new(srv->base, timer_cb, c);
  vbuf hello;
  vb_init(&hello);
  if (!c->bev || !c->timer || auth_random(c->challenge, sizeof c->challenge) != 0 ||
      wire_hello_encode(&hello, c->challenge) != 0 ||
      bufferevent_write(c->bev, hello.p, hello.len) != 0) {
    vb_free(&hello);
    if (c->bev)
      bufferevent_free(c->bev);
    else
      close(fd);
    if (c->timer) event_free(c->timer);
    free(c);
    log_error("cannot set up a connection from %s: out of memory", peer);
    return NULL;
  }
  vb_free(&hello);
  bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
  bufferevent_setwatermark(c->bev, EV_WRITE, CONN_OUT_LOW, 0);
  bufferevent_enable(c->bev, EV_READ | EV_WRITE);
  struct timeval deadline = {CONN_HANDSHAKE_TIMEOUT_S, 0};
  evtimer_add(c->timer, &deadline);
  c->next = srv->conns;
  if (srv->conns) srv->conns->prev = c;
  srv->conns = c;
  srv->n_conns++;
  log_info("conn %llu: accepted from %s", (unsigned long long)c->id, c->peer);
  return c;
}

void conn_free(conn *c) {
  struct sm_server *srv = c->srv;
  if (c->prev)
    c->prev->next = c->next;
  else
    srv->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  srv->n_conns--;
  /* Give back what the client held: anonymous objects only it held go. */
  size_t pos = 0;
  sm_span key;
  void *val;
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

void conn_send_response(conn *c, const wire_response_out *r) {
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
  if (!c->paused && evbuffer_get_length(out) > CONN_OUT_HIGH) {
    c->paused = true; /* the client is not reading its answers */
    bufferevent_disable(c->bev, EV_READ);
  }
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
    size_t max = c->state == CONN_HANDSHAKE ? FRAME_MAX_PREAUTH : c->srv->max_frame;
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
  if (c->paused && queued <= CONN_OUT_LOW && !c->srv->stopping) {
    c->paused = false;
    bufferevent_enable(bev, EV_READ);
    bufferevent_trigger(bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS | BEV_TRIG_IGNORE_WATERMARKS);
  }
}

static void event_cb(struct bufferevent *bev, short what, void *arg) {
  (void)bev;
  conn *c = arg;
  if (what & BEV_EVENT_ERROR)
    log_info("conn %llu: connection error: %s", (unsigned long long)c->id,
             evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
  if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) conn_free(c);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  conn *c = arg;
  if (c->state == CONN_HANDSHAKE) {
    refuse(c, WS_PROTOCOL_ERROR, "handshake not completed in time");
    return;
  }
  if (c->state == CONN_CLOSING) conn_free(c);
}
