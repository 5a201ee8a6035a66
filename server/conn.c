/* SPDX-License-Identifier: MIT */
/* conn.c - one client connection from accept to close.
 *
 * States: HANDSHAKE (Hello sent, waiting for Auth; tiny frame limit and a
 * deadline) -> READY (requests) -> CLOSING (reading stopped, output being
 * flushed, then freed). conn_set_state() is the only place that changes the
 * state and it checks each transition. The Auth names the protocol version
 * the connection speaks (AUTH_PROTOCOL_OLDEST..AUTH_PROTOCOL_VERSION); a
 * client of an older one is answered only statuses it knows (status.h).
 *
 * Before authentication a connection has a budget of its own, apart from
 * limits.max_conns (which counts authenticated connections only): it reads
 * at most one handshake frame's worth of bytes (FRAME_MAX_PREAUTH), and
 * connections of limited peers (peers.h) count against limits.max_unauth
 * in all and limits.max_unauth_per_addr per source. A new connection over
 * either limit makes room by dropping the *oldest* unauthenticated one (of
 * its source, or of all): a flood of idle connections then only recycles
 * its own places, while a real client, which authenticates within a round
 * trip, gets through unless the flood opens that many connections within
 * that round trip; refusing the newest instead would lock every new client
 * out until the flood's handshake deadlines pass. Authentication attempts
 * of a source that keeps failing wait for their turn (peers.c); failures,
 * drops and bad handshakes of limited peers are logged in full the first
 * time and summed up per source afterwards.
 *
 * Each connection is one session (session.h): what it holds - references,
 * lock acquisitions, semaphore units - is kept in the registry's sessions
 * table under its session id, and the connection keeps only that id. A
 * protocol-3 client of a durable daemon gets a kept session (logged as it
 * begins, its AuthResult held until that is durable, or until the disk
 * turns out full: conn_disk_full), which its client
 * may resume after a restart: its Auth names it, and the connection takes
 * it over when it is a suspended session of an earlier run; otherwise the
 * connection gets a new one and the AuthResult says why (status OK).
 * Entering CLOSING ends the session, in one place (end_session): its parked
 * calls are dropped at once (libuv cancels a closing stream's requests the
 * same way), so nothing is handed to a call whose answer would be thrown
 * away, then cmd_end_session gives back what it owned and its references
 * (logged as a command when it held anything).
 *
 * The read callback takes at most CONN_FRAMES_PER_EVENT frames and then
 * re-triggers itself, so one busy client cannot starve the others. A
 * connection whose output grows past CONN_OUT_HIGH (a client that sends but
 * does not read), or that has limits.max_pending calls parked, stops being
 * read until the output drains to CONN_OUT_LOW and a parked call is
 * answered: memory stays bounded and TCP pushes back on the client. Answers
 * to parked calls can still pile up on a client that never reads; past
 * limits.out_hard it is disconnected. A paused connection is still watched
 * for its peer closing or failing (watch_start): a client that dies while
 * not being read is noticed at once, and what it held goes to the next
 * waiters.
 *
 * A connection is only freed from the top of an event callback (an error or
 * EOF event, the flush after CLOSING, or its timer), never while its frames
 * are being processed.
 *
 * Durable answers: with a data directory (persist.h), an answer is handed
 * to the transport only once the log is durable up to the last command
 * appended when the answer was queued, reads included, so no client ever
 * sees a state that a crash can take back. The connection remembers the
 * offset of its first held answer and the index it waits for; everything
 * from there on waits (order is kept), and conn_durable releases every
 * waiting connection in one pass when the log's writer reports a sync
 * (group commit). Without a data directory this is one branch. A leader
 * of a replicated group whose lease is not known valid hands nothing to
 * the transport (persist_may_answer) until conn_flush_all.
 *
 * Transports: the listener hands over a ready bufferevent, a plain socket
 * one or a TLS one (tls.c), and everything here works the same on both. A
 * TLS connection first completes its TLS handshake (BEV_EVENT_CONNECTED);
 * the Hello queued at creation goes out after it, and the one handshake
 * deadline covers both. A failed TLS handshake (a refused certificate, a
 * plaintext client) is logged with OpenSSL's reason. Closing sends
 * close_notify first unless the peer is gone (EOF, a transport error). */
#include "conn.h"

#include "../proto/auth.h"
#include "../proto/frame.h"
#include "../proto/status.h"
#include "blocked.h"
#include "cmd.h"
#include "dispatch.h"
#include "log.h"
#include "peers.h"
#include "persist.h"
#include "server.h"
#include "session.h"
#include "stats.h"
#include "tls.h"

#include <assert.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONN_FRAMES_PER_EVENT 128
#define CONN_OUT_HIGH (8u * 1024u * 1024u)
#define CONN_OUT_LOW (1u * 1024u * 1024u)
#define CONN_OUT_KEEP 4096u /* an output buffer larger than this is freed once sent */
/* Bytes read at once from a connection that has not authenticated: one
 * whole handshake frame at most. */
#define CONN_PREAUTH_READ (FRAME_HEADER_LEN + FRAME_MAX_PREAUTH)
/* A paused connection on an event loop without edge-triggered events is
 * looked at this often for its peer closing. */
#define CONN_PROBE_MS 100

typedef enum conn_state { CONN_HANDSHAKE, CONN_READY, CONN_CLOSING } conn_state;

struct conn {
  struct sm_server *srv;
  conn_state state;
  uint64_t id;
  uint64_t session;    /* its session (session.h): what it holds is kept there */
  uint64_t resume;     /* HANDSHAKE: the session its Auth asks to resume (0: none) */
  uint64_t resume_key; /* and the key it names */
  char peer[128];
  char name[AUTH_CLIENT_NAME_MAX + 1];   /* the client's self-chosen name */
  uint32_t version;                      /* the protocol version its Auth chose */
  uint8_t challenge[AUTH_CHALLENGE_LEN]; /* ours, sent in Hello */
  /* Transport: a plain socket with our own events, or a TLS bufferevent. */
  int fd;                  /* plain: the socket; -1 with TLS */
  struct event *rev, *wev; /* plain: readable / writable (wev armed only while needed) */
  bool want_write;         /* plain: wev is armed */
  struct bufferevent *bev; /* TLS only */
  /* Received bytes not yet handled: only a partial frame (or frames left
   * when reading paused), so an idle connection holds no input buffer. */
  uint8_t *in;
  size_t in_len, in_cap;
  vbuf out; /* answers not yet handed to the transport, from out_off */
  size_t out_off;
  bool flush_queued; /* in srv->flush_list */
  conn *flush_next;
  bool held;                   /* answers from hold_off on wait for the log (persist.h) */
  size_t hold_off;             /* where in out the first held answer starts */
  uint64_t hold_mark;          /* the log index they wait for */
  bool result_held;            /* what is held is the AuthResult alone (its session's start) */
  conn *held_prev, *held_next; /* srv->held_list */
  blk_list waiters;            /* this connection's parked calls (blocked.c keeps the list) */
  struct event *timer;         /* HANDSHAKE: the deadline; READY: the probe; CLOSING: the free */
  bool paused;                 /* reading stopped: output backlog or too many parked calls */
  bool authed;                 /* authenticated: counted in srv->n_authed */
  bool probing;                /* paused, and timer looks at the socket (no cev) */
  int cev_fd;                  /* a dup of the socket for cev, or -1 */
  struct event *cev;           /* while paused: close watch, edge-triggered on cev_fd */
  bool tls_pending;            /* TLS handshake not completed yet */
  /* HANDSHAKE only: */
  bool unauth_listed;                  /* in srv's list of unauthenticated connections */
  conn *ua_prev, *ua_next;             /* that list, oldest first */
  peer *src;                           /* the source it counts in (peers.c), or NULL */
  int64_t deadline_ms;                 /* its time to authenticate ends (peers_now_ms) */
  bool auth_held;                      /* its Auth waits for its turn (the timer) */
  uint8_t held_mac[AUTH_MAC_LEN];      /* that Auth's proof */
  uint8_t held_ch[AUTH_CHALLENGE_LEN]; /* and its challenge */
  bool peer_gone;                      /* EOF or a transport error: no close_notify */
  uint64_t requests;
  int64_t started_ms;  /* accepted, wall clock (the loop's cached time) */
  int64_t last_req_ms; /* its last request, the same clock; 0: none yet */
  conn *prev, *next;   /* srv->conns */
};

static void sock_read_cb(evutil_socket_t fd, short what, void *arg);
static void sock_write_cb(evutil_socket_t fd, short what, void *arg);
static void tls_read_cb(struct bufferevent *bev, void *arg);
static void tls_write_cb(struct bufferevent *bev, void *arg);
static void tls_event_cb(struct bufferevent *bev, short what, void *arg);
static void timer_cb(evutil_socket_t fd, short what, void *arg);
static void watch_cb(evutil_socket_t fd, short what, void *arg);
static void flush(conn *c);
static void unauth_leave(conn *c);
static void discard_output(conn *c);
static void end_session(conn *c);
static void unhold(conn *c);

static void conn_set_state(conn *c, conn_state next) {
  assert((c->state == CONN_HANDSHAKE && next != CONN_HANDSHAKE) ||
         (c->state == CONN_READY && next == CONN_CLOSING));
  if (c->state == CONN_HANDSHAKE) unauth_leave(c);
  c->state = next;
  if (next == CONN_CLOSING) end_session(c);
}

/* ---- transport ---- */

/* Bytes of answers not yet accepted by the kernel (or by OpenSSL). */
static size_t queued(const conn *c) {
  size_t n = c->out.len - c->out_off;
  if (c->bev) n += evbuffer_get_length(bufferevent_get_output(c->bev));
  return n;
}

static void set_reading(conn *c, bool on) {
  if (c->bev) {
    if (on)
      bufferevent_enable(c->bev, EV_READ);
    else
      bufferevent_disable(c->bev, EV_READ);
  } else if (on) {
    event_add(c->rev, NULL);
  } else {
    event_del(c->rev);
  }
}

/* The socket under the transport (the TLS bufferevent's too), or -1. */
static int transport_fd(const conn *c) { return c->bev ? (int)bufferevent_getfd(c->bev) : c->fd; }

/* True when the peer of socket fd has closed or reset the connection, even
 * with unread bytes in front of that (which a read would return first). */
static bool peer_closed(int fd) {
  struct pollfd p = {.fd = fd, .events = POLLRDHUP};
  return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLERR | POLLHUP | POLLNVAL));
}

/* While paused, the socket is not read, and bytes it holds would make a
 * level-triggered read event fire in a loop. A peer that closes or resets
 * the connection must still be noticed, so a dup of the socket is watched
 * edge-triggered: it fires once per arrival (data, FIN, RST), and
 * peer_closed() tells a close from more requests. The dup lives as long as
 * the connection, so an event removed lazily never outlives both
 * descriptors. Without edge-triggered events (libevent's poll and select
 * backends) or a descriptor to spare, the timer looks every CONN_PROBE_MS
 * instead. */
static void watch_start(conn *c) {
  int fd = transport_fd(c);
  if (fd < 0) return;
  if (event_base_get_features(c->srv->base) & EV_FEATURE_ET) {
    if (c->cev_fd < 0) c->cev_fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (c->cev_fd >= 0 && !c->cev)
      c->cev = event_new(c->srv->base, c->cev_fd, EV_READ | EV_ET | EV_PERSIST, watch_cb, c);
    if (c->cev && event_add(c->cev, NULL) == 0) return;
  }
  struct timeval every = {0, CONN_PROBE_MS * 1000};
  c->probing = true;
  evtimer_add(c->timer, &every);
}

/* Reading again: the read events see a close themselves. */
static void watch_stop(conn *c) {
  if (c->cev) event_del(c->cev);
  if (c->probing) evtimer_del(c->timer);
  c->probing = false;
}

/* Runs the read callback again soon, for frames already buffered. */
static void kick_reading(conn *c) {
  if (c->bev)
    bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS | BEV_TRIG_IGNORE_WATERMARKS);
  else
    event_active(c->rev, EV_READ, 0);
}

/* Queues c for the flush that runs once the current callbacks are done:
 * answers produced in one loop iteration leave in one write. */
static void schedule_flush(conn *c) {
  if (c->flush_queued) return;
  struct sm_server *srv = c->srv;
  if (!srv->flush_list) event_active(srv->flush_ev, 0, 0);
  c->flush_queued = true;
  c->flush_next = srv->flush_list;
  srv->flush_list = c;
}

void conn_flush_pending(struct sm_server *srv) {
  /* everysec/no: releases this turn's held answers; always: so does a
   * lone client's sync on the loop (wal_write_now), told apart by how many
   * connections wait (two meaning two or more). */
  const conn *h = srv->held_list;
  persist_write_now(srv->persist, !h ? 0 : !h->held_next ? 1 : 2);
  while (srv->flush_list) {
    conn *c = srv->flush_list;
    srv->flush_list = c->flush_next;
    c->flush_queued = false;
    flush(c);
  }
}

static void unqueue_flush(conn *c) {
  if (!c->flush_queued) return;
  for (conn **p = &c->srv->flush_list; *p; p = &(*p)->flush_next) {
    if (*p == c) {
      *p = c->flush_next;
      break;
    }
  }
  c->flush_queued = false;
}

/* Appends bytes to the answers; false when out of memory. */
static bool out_append(conn *c, const uint8_t *p, size_t n) {
  uint8_t *at = vb_grow(&c->out, n);
  if (!at) return false;
  memcpy(at, p, n);
  schedule_flush(c);
  return true;
}

/* ---- the pre-authentication budget ---- */

/* Takes c out of the unauthenticated list and its source's count, as it
 * leaves the HANDSHAKE state. */
static void unauth_leave(conn *c) {
  struct sm_server *srv = c->srv;
  if (c->unauth_listed) {
    if (c->ua_prev)
      c->ua_prev->ua_next = c->ua_next;
    else
      srv->unauth_oldest = c->ua_next;
    if (c->ua_next)
      c->ua_next->ua_prev = c->ua_prev;
    else
      srv->unauth_newest = c->ua_prev;
    c->ua_prev = c->ua_next = NULL;
    c->unauth_listed = false;
    srv->n_unauth--;
  }
  if (c->src) peers_leave(srv->peers, c->src, peers_now_ms());
  c->src = NULL;
  c->auth_held = false;
  auth_wipe(c->held_mac, sizeof c->held_mac);
}

static void refuse_at(conn *c, log_level level, int status, const char *text);

/* Refuses a connection still in its handshake with status and text. A
 * limited peer's refusal is logged in full only when it is the first of
 * its source's interval, else summed up by peers.c. */
static void refuse_preauth(conn *c, peer_event ev, int status, const char *text) {
  bool full = !c->src || peer_note(c->src, ev, peers_now_ms());
  refuse_at(c, full ? LOG_WARN : LOG_DEBUG, status, text);
}

/* Closes an unauthenticated connection to make room for a new one: it is
 * told why, unless its TLS handshake is not done (nothing can reach it). */
static void drop_unauth(conn *c, const char *why) {
  if (!c->tls_pending) {
    refuse_preauth(c, PEER_DROPPED, WS_TOO_LARGE, why);
    return;
  }
  bool full = !c->src || peer_note(c->src, PEER_DROPPED, peers_now_ms());
  log_msg(full ? LOG_WARN : LOG_DEBUG, "conn %llu (%s): %s; closing", (unsigned long long)c->id,
          c->peer, why);
  discard_output(c);
  conn_close_after_flush(c);
}

/* Makes room for the new connection c (not listed yet) under the
 * pre-authentication limits: drops the oldest unauthenticated connection
 * of c's source when that source is over its limit, then the oldest of
 * all when the total is at its limit. */
static void unauth_make_room(conn *c) {
  struct sm_server *srv = c->srv;
  char why[192];
  if (peer_unauth(c->src) > srv->limits.max_unauth_per_addr) {
    conn *old = srv->unauth_oldest;
    while (old && old->src != c->src)
      old = old->ua_next;
    if (old) {
      snprintf(why, sizeof why,
               "dropped: too many connections from %s waiting to authenticate (the limit is %zu "
               "per address)",
               peer_name(c->src), srv->limits.max_unauth_per_addr);
      stats_refused(srv->stats, REFUSED_MAX_UNAUTH_PER_ADDR);
      drop_unauth(old, why);
    }
  }
  if (srv->n_unauth >= srv->limits.max_unauth && srv->unauth_oldest) {
    snprintf(why, sizeof why,
             "dropped: too many connections waiting to authenticate (the limit is %zu)",
             srv->limits.max_unauth);
    stats_refused(srv->stats, REFUSED_MAX_UNAUTH);
    drop_unauth(srv->unauth_oldest, why);
  }
}

/* Counts c, a new connection of a limited peer, in the pre-authentication
 * budget, making room first. Returns false when out of memory. */
static bool unauth_enter(conn *c, const peer_key *key) {
  struct sm_server *srv = c->srv;
  if (!(c->src = peers_enter(srv->peers, key, peers_now_ms()))) return false;
  unauth_make_room(c);
  c->ua_prev = srv->unauth_newest;
  if (srv->unauth_newest)
    srv->unauth_newest->ua_next = c;
  else
    srv->unauth_oldest = c;
  srv->unauth_newest = c;
  c->unauth_listed = true;
  srv->n_unauth++;
  return true;
}

/* ---- life cycle ---- */

/* Frees what conn_new() set up before it failed, and the transport. */
static void discard_new(conn *c, int fd, struct bufferevent *bev) {
  if (bev)
    bufferevent_free(bev);
  else
    close(fd);
  if (c) {
    if (c->src) peers_leave(c->srv->peers, c->src, peers_now_ms());
    if (c->rev) event_free(c->rev);
    if (c->wev) event_free(c->wev);
    if (c->timer) event_free(c->timer);
    vb_free(&c->out);
    free(c);
  }
}

conn *conn_new(struct sm_server *srv, int fd, struct bufferevent *bev, const char *who,
               const peer_key *key, bool tls) {
  conn *c = calloc(1, sizeof *c);
  if (!c) {
    discard_new(NULL, fd, bev);
    log_error("cannot set up a connection from %s: out of memory", who);
    return NULL;
  }
  c->srv = srv;
  snprintf(c->peer, sizeof c->peer, "%s", who);
  vb_init(&c->out);
  c->fd = bev ? -1 : fd;
  c->cev_fd = -1;
  c->bev = bev;
  c->tls_pending = tls;
  c->timer = evtimer_new(srv->base, timer_cb, c);
  bool ok = c->timer != NULL;
  if (ok && !bev) {
    c->rev = event_new(srv->base, fd, EV_READ | EV_PERSIST, sock_read_cb, c);
    c->wev = event_new(srv->base, fd, EV_WRITE | EV_PERSIST, sock_write_cb, c);
    ok = c->rev && c->wev && evutil_make_socket_nonblocking(fd) == 0;
  }
  ok = ok && auth_random(c->challenge, sizeof c->challenge) == 0 &&
       wire_hello_encode(&c->out, AUTH_PROTOCOL_OLDEST, AUTH_PROTOCOL_VERSION, c->challenge) ==
           0; /* the Hello is the first answer */
  if (!ok || (key && !unauth_enter(c, key))) {
    discard_new(c, fd, bev);
    log_error("cannot set up a connection from %s: out of memory", who);
    return NULL;
  }
  c->id = ++srv->next_conn_id;
  c->session = ++srv->next_session;
  c->started_ms = conn_loop_ms(srv);
  c->next = srv->conns;
  if (srv->conns) srv->conns->prev = c;
  srv->conns = c;
  srv->n_conns++;
  if (bev) {
    bufferevent_setcb(bev, tls_read_cb, tls_write_cb, tls_event_cb, c);
    bufferevent_setwatermark(bev, EV_WRITE, CONN_OUT_LOW, 0);
    bufferevent_set_max_single_read(bev, CONN_PREAUTH_READ);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
  } else {
    event_add(c->rev, NULL);
  }
  schedule_flush(c);
  unsigned ms = srv->limits.handshake_ms;
  c->deadline_ms = peers_now_ms() + ms;
  struct timeval deadline = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
  evtimer_add(c->timer, &deadline);
  log_debug("conn %llu: accepted from %s%s", (unsigned long long)c->id, c->peer,
            tls ? " (TLS)" : "");
  return c;
}

void conn_free(conn *c) {
  struct sm_server *srv = c->srv;
  if (c->state != CONN_CLOSING) conn_set_state(c, CONN_CLOSING); /* ends the session */
  unqueue_flush(c);
  unhold(c);
  if (c->prev)
    c->prev->next = c->next;
  else
    srv->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  srv->n_conns--;
  if (c->authed) srv->n_authed--;
  log_debug("conn %llu: closed (%llu requests)", (unsigned long long)c->id,
            (unsigned long long)c->requests);
  event_free(c->timer);
  if (c->cev) event_free(c->cev);
  if (c->cev_fd >= 0) close(c->cev_fd);
  if (c->bev) {
    tls_bev_shutdown(c->bev, !c->peer_gone);
    bufferevent_free(c->bev);
  } else {
    event_free(c->rev);
    event_free(c->wev);
    close(c->fd);
  }
  free(c->in);
  vb_free(&c->out);
  free(c);
}

/* The client's session ends (the connection enters CLOSING): first its
 * parked calls go, so that none is granted what it can no longer receive,
 * then what it owned goes back to the objects, which signal their next
 * waiters (served after the current request, or from the serve event), and
 * its references are given back. Nothing here answers another client, so
 * it is safe on any call stack: an object a deeper frame works on is held
 * by that frame (dispatch and the serve pass pin their objects). */
static void end_session(conn *c) {
  if (c->probing) { /* the timer is the deferred free's from now on */
    evtimer_del(c->timer);
    c->probing = false;
  }
  blk_conn_cancel(&c->waiters, WS_OK, NULL);
  cmd_end_session(c->srv->reg, c->session, cmd_now_ms());
}

/* Frees c on the next loop turn, off the current call stack. */
static void free_soon(conn *c) {
  struct timeval now = {0, 0};
  evtimer_add(c->timer, &now);
}

void conn_close_after_flush(conn *c) {
  if (c->state == CONN_CLOSING) return;
  conn_set_state(c, CONN_CLOSING);
  set_reading(c, false);
  if (queued(c) == 0) free_soon(c); /* else the flush frees it once all is sent */
}

/* Stops reading while the client has too much to read or too many calls
 * parked, and reads again once both are back under their marks. */
static void update_reading(conn *c) {
  size_t q = queued(c);
  size_t max_pending = c->srv->limits.max_pending;
  size_t parked = blk_list_len(&c->waiters);
  if (!c->paused && (q > CONN_OUT_HIGH || parked >= max_pending)) {
    c->paused = true;
    set_reading(c, false);
    if (c->state == CONN_READY) watch_start(c);
  } else if (c->paused && q <= CONN_OUT_LOW && parked < max_pending && c->state == CONN_READY &&
             !c->srv->stopping) {
    c->paused = false;
    watch_stop(c);
    set_reading(c, true);
    kick_reading(c);
  }
}

/* Drops every answer not yet sent. */
static void discard_output(conn *c) {
  unhold(c);
  c->out.len = c->out_off = 0;
  if (c->bev) {
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evbuffer_drain(out, evbuffer_get_length(out));
  }
}

/* Drops a client that lets its answers pile up past the hard limit: its
 * queued output is discarded and it is freed on the next loop turn. */
static void conn_abort(conn *c, const char *why) {
  log_warn("conn %llu (%s): %s; disconnecting", (unsigned long long)c->id, c->peer, why);
  discard_output(c);
  conn_close_after_flush(c);
}

/* Hands the queued answers to the transport: for a plain socket one send()
 * per loop iteration, arming the write event only when the kernel does not
 * take it all; for TLS, the bufferevent's output. */
static void flush(conn *c) {
  size_t end = c->held ? c->hold_off : c->out.len;            /* held answers stay */
  if (!persist_may_answer(c->srv->persist)) end = c->out_off; /* conn_flush_all, later */
  size_t pending = end - c->out_off;
  if (pending > 0 && c->bev) {
    if (evbuffer_add(bufferevent_get_output(c->bev), c->out.p + c->out_off, pending) != 0) {
      conn_abort(c, "out of memory for answers");
      return;
    }
    c->out_off = end;
    stats_net_out(c->srv->stats, pending);
  }
  while (!c->bev && c->out_off < end) {
    ssize_t n = send(c->fd, c->out.p + c->out_off, end - c->out_off, MSG_NOSIGNAL);
    if (n > 0) {
      c->out_off += (size_t)n;
      stats_net_out(c->srv->stats, (size_t)n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else { /* EPIPE, ECONNRESET: the client is gone */
      c->peer_gone = true;
      log_info("conn %llu: connection lost: %s", (unsigned long long)c->id, strerror(errno));
      discard_output(c);
      if (c->state == CONN_CLOSING)
        free_soon(c);
      else
        conn_close_after_flush(c);
      return;
    }
  }
  if (c->out_off == c->out.len) {
    c->out.len = c->out_off = 0;
    if (c->out.cap > CONN_OUT_KEEP) vb_free(&c->out);
  }
  if (!c->bev) {
    bool more = c->out_off < (c->held ? c->hold_off : c->out.len);
    if (more && !c->want_write) event_add(c->wev, NULL);
    if (!more && c->want_write) event_del(c->wev);
    c->want_write = more;
  }
  if (c->state == CONN_CLOSING) {
    if (queued(c) == 0) free_soon(c);
  } else if (c->paused) {
    update_reading(c);
  }
}

/* The answer queued at offset off shows the state up to log index mark
 * (CONN_MARK_LAST: the last command appended): it, and all that follows
 * it, waits until mark is durable (see the top of this file). */
static void hold(conn *c, size_t off, uint64_t mark) {
  const persist *p = c->srv->persist;
  if (mark == CONN_MARK_LAST) mark = persist_mark(p);
  if (c->held) {
    if (mark > c->hold_mark) c->hold_mark = mark;
    return;
  }
  if (mark <= persist_durable(p)) return; /* durable already: nothing to wait for */
  c->held = true;
  c->hold_off = off;
  c->hold_mark = mark;
  c->held_prev = NULL;
  c->held_next = c->srv->held_list;
  if (c->held_next) c->held_next->held_prev = c;
  c->srv->held_list = c;
}

/* Lets every answer of c go (its wait is over, or it is being dropped). */
static void unhold(conn *c) {
  if (!c->held) return;
  if (c->held_prev)
    c->held_prev->held_next = c->held_next;
  else
    c->srv->held_list = c->held_next;
  if (c->held_next) c->held_next->held_prev = c->held_prev;
  c->held = false;
  c->result_held = false;
  c->held_prev = c->held_next = NULL;
}

void conn_flush_all(struct sm_server *srv) {
  for (conn *c = srv->conns; c; c = c->next)
    if (c->out_off < c->out.len) schedule_flush(c);
}

void conn_durable(struct sm_server *srv, uint64_t index) {
  conn *c = srv->held_list;
  while (c) {
    conn *next = c->held_next;
    if (c->hold_mark <= index) {
      unhold(c);
      if (!c->flush_queued) flush(c); /* else the flush queued for it sends them */
    }
    c = next;
  }
}

void conn_disk_full(struct sm_server *srv) {
  conn *c = srv->held_list;
  while (c) {
    conn *next = c->held_next;
    if (c->result_held) {
      unhold(c);
      flush(c);
    }
    c = next;
  }
}

void conn_send_response(conn *c, const wire_response_out *r) {
  conn_send_response_at(c, r, CONN_MARK_LAST);
}

void conn_send_response_at(conn *c, const wire_response_out *r, uint64_t mark) {
  if (c->state == CONN_CLOSING) return; /* nobody will read it */
  stats_answer(c->srv->stats, r->status);
  wire_response_out older;
  if (c->version < AUTH_PROTOCOL_VERSION) { /* only statuses its protocol knows */
    older = *r;
    older.status = status_for_version(r->status, c->version);
    if (c->version < 4) { /* fields protocol 4 brought: unknown to it */
      older.token = 0;
      older.leader = NULL;
    }
    r = &older;
  }
  size_t n = wire_response_frame_size(r);
  uint8_t *at = vb_grow(&c->out, n);
  if (!at) {
    c->out.failed = false; /* what was queued before stays valid */
    log_error("conn %llu: out of memory for a response; closing", (unsigned long long)c->id);
    conn_close_after_flush(c);
    return;
  }
  wire_response_frame_pack(r, at);
  if (c->srv->persist) hold(c, (size_t)(at - c->out.p), mark);
  schedule_flush(c);
  if (queued(c) > c->srv->limits.out_hard)
    conn_abort(c, "answers pile up unread past the output limit");
  else
    update_reading(c);
}

void conn_stop_reading(conn *c) {
  set_reading(c, false);
  if (c->in_len > 0) kick_reading(c); /* requests already read still get answers */
}

bool conn_output_empty(const conn *c) { return queued(c) == 0; }

conn *conn_next(const conn *c) { return c->next; }
conn *conn_prev(const conn *c) { return c->prev; }

blk_list *conn_waiters(conn *c) { return &c->waiters; }

const char *conn_peer(const conn *c) { return c->peer; }

const char *conn_name(const conn *c) { return c->name; }

struct sm_server *conn_server(const conn *c) {
  return c->srv;
}
uint64_t conn_id(const conn *c) { return c->id; }
uint64_t conn_session(const conn *c) { return c->session; }
bool conn_is_ready(const conn *c) { return c->state == CONN_READY; }
uint64_t conn_requests(const conn *c) { return c->requests; }
int64_t conn_started_ms(const conn *c) { return c->started_ms; }
int64_t conn_last_request_ms(const conn *c) { return c->last_req_ms; }

int64_t conn_loop_ms(struct sm_server *srv) {
  struct timeval tv;
  event_base_gettimeofday_cached(srv->base, &tv);
  return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* Answers a frame that cannot be handled and closes: during the handshake
 * with an AuthResult (what the client waits for), later with a Response of
 * seq 0 (no request could be matched). The reason is logged at level. */
static void refuse_at(conn *c, log_level level, int status, const char *text) {
  vbuf b;
  vb_init(&b);
  int rc;
  if (c->state == CONN_HANDSHAKE) {
    rc = wire_auth_result_encode(&b, status, NULL, text, NULL);
  } else {
    wire_response_out r = {.seq = 0, .status = status, .error = text};
    rc = wire_response_encode(&b, &r);
  }
  if (rc == 0) out_append(c, b.p, b.len);
  vb_free(&b);
  log_msg(level, "conn %llu (%s): %s; closing", (unsigned long long)c->id, c->peer, text);
  conn_close_after_flush(c);
}

static void refuse(conn *c, int status, const char *text) { refuse_at(c, LOG_WARN, status, text); }

/* The session of a protocol-3 client (info's session, resumed, durable):
 * the suspended one its Auth names, when it may take that over, else its
 * own new one, kept by a durable daemon (why says why a resume failed).
 * Returns false when out of memory. */
static bool take_session(conn *c, wire_daemon_info *info, char *why, size_t whylen) {
  struct sm_server *srv = c->srv;
  /* While the disk is full a new session could not be logged: it is not
   * kept (its client is told the daemon is not durable, and resends
   * nothing), so its AuthResult waits for nothing. */
  /* A member of a replicated group that does not lead keeps no session
   * either: its state changes only by the group's log (its calls are
   * answered REDIRECT). */
  bool serving = persist_serving(srv->persist);
  bool keeps = srv->persist && !persist_full(srv->persist) && serving;
  info->durable = keeps;
  if (c->resume && !srv->persist)
    snprintf(why, whylen,
             "session %llu cannot be resumed: this daemon runs in memory (no data directory), "
             "so no session outlives its connection",
             (unsigned long long)c->resume);
  else if (c->resume && !serving)
    snprintf(why, whylen,
             "session %llu cannot be resumed here: this member of the group is not its leader",
             (unsigned long long)c->resume);
  else if (c->resume && sess_attach(srv->reg, c->resume, c->resume_key, why, whylen) == 0)
    c->session = c->resume;
  info->resumed = c->session == c->resume;
  info->session = c->session;
  if (info->resumed) {
    info->key = c->resume_key;
    log_info("conn %llu (%s): resumed session %llu", (unsigned long long)c->id, c->peer,
             (unsigned long long)c->session);
    return true;
  }
  if (why[0])
    log_info("conn %llu (%s): %s; it gets session %llu", (unsigned long long)c->id, c->peer, why,
             (unsigned long long)c->session);
  if (!keeps) return true;
  /* Session ids are not secret: a resume names this random key too. */
  while (info->key == 0)
    if (auth_random((uint8_t *)&info->key, sizeof info->key) != 0) return false;
  return cmd_begin_session(srv->reg, c->session, info->key, cmd_now_ms()) == 0;
}

/* A client asking a member of a group that does not lead it to resume its
 * session is sent on to the leader (AuthResult REDIRECT, with the leader's
 * URL when one is known; SHUTTING_DOWN with the URL in the text for a
 * protocol-3 client), and the connection closes. Its session is not gone,
 * only not here: a new one would tell the client that its calls in flight
 * and its locks were lost, while the new leader still holds them. A new
 * connection is accepted (info and ping are answered on any member).
 * Returns true when c was answered so. */
static bool redirect_resume(conn *c) {
  struct sm_server *srv = c->srv;
  if (!c->resume || !srv->persist || persist_serving(srv->persist)) return false;
  const char *leader = persist_leader_url(srv->persist);
  char text[WIRE_URL_MAX + 160];
  if (leader[0])
    snprintf(text, sizeof text,
             "session %llu cannot be resumed here: this member of the group is not its leader: "
             "the leader is %s",
             (unsigned long long)c->resume, leader);
  else
    snprintf(text, sizeof text,
             "session %llu cannot be resumed here: this member of the group is not its leader, "
             "and no leader is known yet (an election is under way): try again shortly",
             (unsigned long long)c->resume);
  wire_daemon_info info = {0};
  if (c->version >= AUTH_PROTOCOL_FENCING) snprintf(info.leader, sizeof info.leader, "%s", leader);
  vbuf b;
  vb_init(&b);
  if (wire_auth_result_encode(&b, status_for_version(WS_REDIRECT, c->version), NULL, text, &info) ==
      0)
    out_append(c, b.p, b.len);
  vb_free(&b);
  log_debug("conn %llu (%s): %s; closing", (unsigned long long)c->id, c->peer, text);
  conn_close_after_flush(c);
  return true;
}

/* Checks the client's proof (mac over our challenge and its challenge ch)
 * and, when it holds, answers with ours: the connection is then READY.
 * Otherwise refuses it. */
static void check_auth(conn *c, const uint8_t mac[AUTH_MAC_LEN],
                       const uint8_t ch[AUTH_CHALLENGE_LEN]) {
  struct sm_server *srv = c->srv;
  const authkey *k = &srv->key;
  uint8_t expected[AUTH_MAC_LEN];
  auth_client_mac(k->bytes, k->len, c->challenge, ch, expected);
  bool ok = auth_mac_ok(mac, AUTH_MAC_LEN, expected);
  auth_wipe(expected, sizeof expected);
  if (!ok) {
    stats_auth_failed(srv->stats);
    if (c->src) peer_auth_failed(c->src, peers_now_ms());
    refuse_preauth(c, PEER_AUTH_FAILED, WS_AUTH_FAILED,
                   "authentication failed: the client does not know the authkey");
    return;
  }
  if (srv->n_authed >= srv->limits.max_conns) {
    char text[96];
    snprintf(text, sizeof text, "too many connections (the limit is %zu)", srv->limits.max_conns);
    stats_refused(srv->stats, REFUSED_MAX_CONNECTIONS);
    refuse(c, WS_TOO_LARGE, text);
    return;
  }
  if (redirect_resume(c)) return;
  uint8_t proof[AUTH_MAC_LEN];
  auth_server_mac(k->bytes, k->len, c->challenge, ch, proof);
  /* What a client needs to know of this daemon: its instance, so a proxy
   * of an earlier daemon's object is recognised, and how deeply values
   * may nest. */
  wire_daemon_info info = {.instance = srv->instance, .max_depth = srv->limits.max_depth};
  char why[256] = "";
  if (c->version >= AUTH_PROTOCOL_RESUME && !take_session(c, &info, why, sizeof why)) {
    auth_wipe(proof, sizeof proof);
    refuse(c, WS_INTERNAL, "out of memory beginning the session");
    return;
  }
  vbuf b;
  vb_init(&b);
  size_t at = c->out.len;
  if (wire_auth_result_encode(&b, WS_OK, proof, why[0] ? why : NULL, &info) == 0 &&
      out_append(c, b.p, b.len) && info.durable && !info.resumed) {
    hold(c, at, CONN_MARK_LAST); /* nothing is answered before the session is durable */
    c->result_held = c->held;
  }
  vb_free(&b);
  auth_wipe(proof, sizeof proof);
  evtimer_del(c->timer);
  conn_set_state(c, CONN_READY);
  c->authed = true;
  srv->n_authed++;
  if (c->bev) bufferevent_set_max_single_read(c->bev, 0); /* back to libevent's default */
  /* debug: a CLI call would otherwise log a line per call at info */
  log_debug("conn %llu: authenticated from %s%s%s (protocol %u)", (unsigned long long)c->id,
            c->peer, c->name[0] ? " as " : "", c->name, c->version);
}

static void handle_auth(conn *c, sm_span payload) {
  uint32_t version;
  uint64_t resume = 0, resume_key = 0;
  uint8_t mac[AUTH_MAC_LEN], client_ch[AUTH_CHALLENGE_LEN];
  if (wire_auth_decode(payload, &version, mac, client_ch, c->name, sizeof c->name, &resume,
                       &resume_key) != 0) {
    refuse_preauth(c, PEER_BAD_HANDSHAKE, WS_PROTOCOL_ERROR,
                   "malformed handshake: expected an Auth message");
    return;
  }
  if (version < AUTH_PROTOCOL_OLDEST || version > AUTH_PROTOCOL_VERSION) {
    char text[128];
    snprintf(text, sizeof text, "protocol version %u not supported (this daemon speaks %u to %u)",
             version, AUTH_PROTOCOL_OLDEST, AUTH_PROTOCOL_VERSION);
    refuse_preauth(c, PEER_BAD_HANDSHAKE, WS_PROTOCOL_ERROR, text);
    return;
  }
  c->version = version;
  c->resume = version >= AUTH_PROTOCOL_RESUME ? resume : 0;
  c->resume_key = resume_key;
  if (c->src) { /* a limited peer waits for its source's turn */
    int64_t now = peers_now_ms();
    int64_t wait = peer_auth_wait(c->src, now, c->deadline_ms - now);
    if (wait < 0) {
      char text[160];
      snprintf(text, sizeof text,
               "authentication refused unchecked: too many failed authentications from %s; "
               "try again later",
               peer_name(c->src));
      stats_refused(c->srv->stats, REFUSED_AUTH_THROTTLED);
      refuse_preauth(c, PEER_THROTTLED, WS_AUTH_FAILED, text);
      auth_wipe(mac, sizeof mac);
      return;
    }
    if (wait > 0) { /* checked when the timer fires; nothing is read meanwhile */
      memcpy(c->held_mac, mac, sizeof mac);
      memcpy(c->held_ch, client_ch, sizeof client_ch);
      auth_wipe(mac, sizeof mac);
      c->auth_held = true;
      set_reading(c, false);
      struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000) * 1000};
      evtimer_add(c->timer, &tv);
      return;
    }
  }
  check_auth(c, mac, client_ch);
  auth_wipe(mac, sizeof mac);
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
  c->last_req_ms = conn_loop_ms(c->srv);
  dispatch_request(c, &req);
  wire_request_release(&req);
}

/* Handles the whole frames at the start of buf (at most a budget of them)
 * and returns how many bytes it consumed. Stops early when the connection
 * closes, pauses, or the daemon stops. */
static size_t process(conn *c, const uint8_t *buf, size_t len, bool *more) {
  size_t off = 0;
  *more = false;
  for (int budget = CONN_FRAMES_PER_EVENT; budget > 0; budget--) {
    /* While the daemon stops, requests already read are still answered. */
    if (c->state == CONN_CLOSING || c->paused || c->auth_held) return off;
    size_t max = c->state == CONN_HANDSHAKE ? FRAME_MAX_PREAUTH : c->srv->limits.max_frame;
    size_t flen;
    frame_state st = frame_parse(buf + off, len - off, max, &flen);
    if (st == FRAME_TOO_LARGE) {
      char text[160];
      snprintf(text, sizeof text, "frame of %zu bytes exceeds the limit of %zu bytes%s", flen, max,
               c->state == CONN_HANDSHAKE ? " before authentication" : "");
      if (c->state == CONN_HANDSHAKE)
        refuse_preauth(c, PEER_BAD_HANDSHAKE, WS_TOO_LARGE, text);
      else
        refuse(c, WS_TOO_LARGE, text);
      return len; /* nothing more is read from it */
    }
    if (st == FRAME_NEED_MORE) return off; /* the rest is on its way */
    handle_frame(c, (sm_span){buf + off + FRAME_HEADER_LEN, flen});
    off += FRAME_HEADER_LEN + flen;
    if (!c->paused && blk_list_len(&c->waiters) >= c->srv->limits.max_pending)
      update_reading(c); /* it parked one call too many: read no more */
  }
  *more = len - off >= FRAME_HEADER_LEN; /* budget spent: come back after the others */
  return off;
}

/* Keeps the len unconsumed bytes at buf as the connection's input. */
static bool keep_input(conn *c, const uint8_t *buf, size_t len) {
  if (len == 0) {
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = 0;
    return true;
  }
  if (c->in && buf >= c->in && buf < c->in + c->in_cap) { /* already ours */
    memmove(c->in, buf, len);
  } else {
    if (c->in_cap < len) {
      uint8_t *p = realloc(c->in, len);
      if (!p) return false;
      c->in = p;
      c->in_cap = len;
    }
    memcpy(c->in, buf, len);
  }
  c->in_len = len;
  return true;
}

/* Processes buffered input, keeps what is left, and flushes the answers. */
static void consume(conn *c, const uint8_t *buf, size_t len) {
  bool more;
  stats_batch_begin(c->srv->stats); /* its first call reads the clock for its start */
  size_t used = process(c, buf, len, &more);
  if (!keep_input(c, buf + used, len - used)) {
    refuse(c, WS_INTERNAL, "out of memory buffering a frame");
    return;
  }
  if (more) kick_reading(c);
  flush(c); /* the answers of this batch, in one write */
}

/* Room to read into c->in: at least the rest of the frame it holds. */
static bool grow_input(conn *c, size_t want) {
  if (c->in_cap - c->in_len >= want) return true;
  size_t cap = c->in_len + want;
  uint8_t *p = realloc(c->in, cap);
  if (!p) return false;
  c->in = p;
  c->in_cap = cap;
  return true;
}

static void sock_read_cb(evutil_socket_t fd, short what, void *arg) {
  (void)what;
  conn *c = arg;
  struct sm_server *srv = c->srv;
  uint8_t *dst;
  size_t room;
  if (srv->stopping) { /* read nothing new: finish what was read */
    if (c->in_len > 0) consume(c, c->in, c->in_len);
    return;
  }
  /* Before authentication at most one handshake frame is read at a time,
   * and a partial one is kept in a buffer of just its size. */
  bool preauth = c->state == CONN_HANDSHAKE;
  if (c->in_len == 0) {
    /* The usual case: nothing pending, read into the shared buffer. */
    dst = srv->rbuf;
    room = preauth ? CONN_PREAUTH_READ : sizeof srv->rbuf;
  } else {
    size_t need = FRAME_HEADER_LEN, flen = 0;
    size_t max = preauth ? FRAME_MAX_PREAUTH : srv->limits.max_frame;
    if (frame_parse(c->in, c->in_len, max, &flen) == FRAME_NEED_MORE && c->in_len >= need)
      need = FRAME_HEADER_LEN + flen - c->in_len;
    if (!grow_input(c, preauth || need > sizeof srv->rbuf ? need : sizeof srv->rbuf)) {
      refuse(c, WS_INTERNAL, "out of memory buffering a frame");
      return;
    }
    dst = c->in + c->in_len;
    room = preauth ? need : c->in_cap - c->in_len;
  }
  ssize_t n = recv(fd, dst, room, 0);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    c->peer_gone = true;
    if (n < 0)
      log_info("conn %llu: connection error: %s", (unsigned long long)c->id, strerror(errno));
    conn_free(c);
    return;
  }
  size_t got = n > 0 ? (size_t)n : 0;
  stats_net_in(srv->stats, got);
  if (dst == srv->rbuf) {
    consume(c, srv->rbuf, got);
  } else {
    c->in_len += got;
    consume(c, c->in, c->in_len);
  }
}

static void sock_write_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  flush(arg);
}

static void tls_read_cb(struct bufferevent *bev, void *arg) {
  conn *c = arg;
  struct evbuffer *in = bufferevent_get_input(bev);
  size_t n = evbuffer_get_length(in);
  if (c->state == CONN_HANDSHAKE) { /* at most one handshake frame at a time */
    size_t room = c->in_len < CONN_PREAUTH_READ ? CONN_PREAUTH_READ - c->in_len : 0;
    if (n > room) n = room;
  }
  if (n > 0) {
    if (!grow_input(c, n)) {
      refuse(c, WS_INTERNAL, "out of memory buffering a frame");
      return;
    }
    evbuffer_remove(in, c->in + c->in_len, n);
    c->in_len += n;
    stats_net_in(c->srv->stats, n);
  }
  consume(c, c->in, c->in_len);
  /* What was left behind the handshake frame is read once authenticated. */
  if (c->state == CONN_READY && !c->paused && evbuffer_get_length(in) > 0) kick_reading(c);
}

static void tls_write_cb(struct bufferevent *bev, void *arg) {
  (void)bev;
  conn *c = arg;
  if (c->state == CONN_CLOSING) {
    if (queued(c) == 0) conn_free(c);
    return;
  }
  if (c->paused) update_reading(c);
}

static void tls_event_cb(struct bufferevent *bev, short what, void *arg) {
  conn *c = arg;
  char why[512];
  if (what & BEV_EVENT_CONNECTED) { /* a TLS handshake completed */
    c->tls_pending = false;
    if (tls_bev_describe_session(bev, why, sizeof why))
      log_debug("conn %llu: TLS session %s", (unsigned long long)c->id, why);
  }
  if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) c->peer_gone = true;
  if (what & BEV_EVENT_ERROR) {
    if (c->tls_pending) stats_tls_failed(c->srv->stats);
    /* A limited peer's failed handshakes are summed up after the first. */
    bool full = !c->tls_pending || !c->src || peer_note(c->src, PEER_BAD_HANDSHAKE, peers_now_ms());
    if (tls_bev_describe_error(bev, why, sizeof why))
      log_msg(full ? LOG_WARN : LOG_DEBUG, "conn %llu (%s): %s: %s", (unsigned long long)c->id,
              c->peer, c->tls_pending ? "TLS handshake failed" : "TLS error", why);
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
  if (c->state == CONN_HANDSHAKE && c->auth_held) { /* its turn has come */
    c->auth_held = false;
    check_auth(c, c->held_mac, c->held_ch);
    auth_wipe(c->held_mac, sizeof c->held_mac);
    if (c->state == CONN_READY && !c->srv->stopping) {
      set_reading(c, true);
      if (c->in_len > 0) kick_reading(c); /* requests sent behind the Auth */
    }
    return;
  }
  if (c->state == CONN_HANDSHAKE && c->tls_pending) {
    /* Nothing can be sent before the TLS handshake: just drop it (a
     * plaintext client on a TLS port waits for a Hello that never comes). */
    stats_tls_failed(c->srv->stats);
    bool full = !c->src || peer_note(c->src, PEER_BAD_HANDSHAKE, peers_now_ms());
    log_msg(full ? LOG_WARN : LOG_DEBUG,
            "conn %llu (%s): TLS handshake not completed in time; closing",
            (unsigned long long)c->id, c->peer);
    conn_free(c);
    return;
  }
  if (c->state == CONN_HANDSHAKE) {
    refuse_preauth(c, PEER_BAD_HANDSHAKE, WS_PROTOCOL_ERROR, "handshake not completed in time");
    return;
  }
  if (c->state == CONN_CLOSING) {
    conn_free(c);
    return;
  }
  if (c->probing) { /* READY and paused (see watch_start) */
    if (peer_closed(transport_fd(c))) {
      c->peer_gone = true;
      log_info("conn %llu: closed by the peer while not read", (unsigned long long)c->id);
      conn_free(c);
      return;
    }
    struct timeval every = {0, CONN_PROBE_MS * 1000};
    evtimer_add(c->timer, &every);
  }
}

/* The dup of a paused socket saw something arrive: a close or reset ends
 * the connection; more requests wait until reading resumes. */
static void watch_cb(evutil_socket_t fd, short what, void *arg) {
  (void)what;
  conn *c = arg;
  if (!peer_closed((int)fd)) return;
  c->peer_gone = true;
  log_info("conn %llu: closed by the peer while not read", (unsigned long long)c->id);
  conn_free(c);
}
