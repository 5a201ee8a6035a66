/* SPDX-License-Identifier: MIT */
/* peers.h - what the daemon remembers about each source of connections
 * that have not authenticated yet: how many it has open (for the
 * pre-authentication budget), how often its authentications failed (for
 * throttling), and what to say about it in the log (one summary line per
 * source and interval instead of one line per failure).
 *
 * A source is an IPv4 address, an IPv6 /64 (one host usually owns a whole
 * /64), or, for a UNIX-socket peer, its user id. UNIX-socket peers running
 * as the daemon's own user or as root are not limited at all: they can
 * signal, trace or replace the daemon anyway, and the private managers'
 * worker pools connect that way in bursts.
 *
 * The table is bounded (PEERS_MAX sources; the least recently seen source
 * without an open connection goes first) and forgets a source once it has
 * been quiet for a minute. Everything runs on the event loop. */
#ifndef SM_SERVER_PEERS_H
#define SM_SERVER_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct peers peers;
typedef struct peer peer;

/* The bucket a connection counts in: "192.0.2.7", "2001:db8:1:2::/64",
 * "uid 1000". */
typedef struct peer_key {
  char text[64];
} peer_key;

/* Why a connection left the handshake badly, for the summary lines. */
typedef enum peer_event {
  PEER_AUTH_FAILED = 0, /* it did not know the authkey */
  PEER_THROTTLED,       /* refused unheard: too many recent failures */
  PEER_DROPPED,         /* closed to make room under the pre-auth limits */
  PEER_BAD_HANDSHAKE,   /* malformed, oversized or late handshake */
  PEER_N_EVENTS
} peer_event;

/* Describes the accepted socket fd (sa: its address from accept, salen
 * bytes): text gets the peer as logs show it ("192.0.2.7:51522",
 * "[2001:db8::1]:40000", "unix socket (uid 1000, pid 4242)"), key its
 * bucket. Returns false when the peer is not limited (a UNIX-socket peer
 * of the daemon's user or root); key is then unset. */
bool peer_identify(int fd, const struct sockaddr *sa, socklen_t salen, char *text, size_t textlen,
                   peer_key *key);

/* An empty table (free with peers_free()), or NULL when out of memory. */
peers *peers_new(void);
/* Frees t and every source in it; NULL is fine. */
void peers_free(peers *t);

/* Counts one more unauthenticated connection from key. Returns its source
 * (owned by t, valid until the count goes back to 0 by peer_leave()), or
 * NULL when out of memory. */
peer *peers_enter(peers *t, const peer_key *key, int64_t now_ms);

/* The connection counted by peers_enter() authenticated or closed. */
void peers_leave(peers *t, peer *p, int64_t now_ms);

/* Unauthenticated connections open from p. */
size_t peer_unauth(const peer *p);
/* p's key text, for messages (borrowed, lives with p). */
const char *peer_name(const peer *p);

/* Books the moment an authentication attempt from p may be checked: at
 * once while p has had few recent failures, then spaced by a delay that
 * doubles with each failure up to one second. Returns the milliseconds to
 * wait (0: check now), or -1 when the booked moment would be more than
 * max_wait_ms away: the attempt is then to be refused unchecked. */
int64_t peer_auth_wait(peer *p, int64_t now_ms, int64_t max_wait_ms);

/* Records an authentication of p that failed. */
void peer_auth_failed(peer *p, int64_t now_ms);

/* Counts ev for p's summary. Returns true when this one is to be logged
 * in full (the first of an interval), false when the summary line will
 * count it. */
bool peer_note(peer *p, peer_event ev, int64_t now_ms);

/* Logs the summary of every source whose interval has ended (of every
 * source with something to report when all is true, as when stopping) and
 * forgets the sources that have been quiet long enough. Call about once a
 * second. */
void peers_sweep(peers *t, int64_t now_ms, bool all);

/* Sources currently known (for tests of the table's bound). */
size_t peers_count(const peers *t);

/* CLOCK_MONOTONIC in milliseconds: the clock every *_ms above is on. */
int64_t peers_now_ms(void);

#endif
