/* SPDX-License-Identifier: MIT */
/* conn.h - one client connection: its bufferevent, the handshake, framing,
 * back-pressure, and its session (what it holds is kept in the registry's
 * sessions table, session.h). */
#ifndef SM_SERVER_CONN_H
#define SM_SERVER_CONN_H

#include "../proto/msg.h"
#include "peers.h"
#include "registry.h"

#include <stdbool.h>
#include <stdint.h>

struct sm_server;
typedef struct conn conn;

struct bufferevent;

/* Takes ownership of the accepted socket fd, or of bev, a bufferevent over
 * one (plain, or TLS with tls true, its TLS handshake then still to run),
 * and starts the handshake. who is the peer as logs show it; key the
 * source it counts in under the pre-authentication limits (peers.h), or
 * NULL for a peer that is not limited. Returns the connection, or NULL
 * (fd or bev closed) on failure. */
conn *conn_new(struct sm_server *srv, int fd, struct bufferevent *bev, const char *who,
               const peer_key *key, bool tls);

/* Closes and frees the connection now: ends its session (below) if it has
 * not ended yet. Only from the top of an event callback, never while its
 * own frames are being processed. */
void conn_free(conn *c);

/* Stops reading and ends the session: the connection's parked calls are
 * dropped and what it owned (locks, semaphore units) and its references
 * are given back, at once (cmd_end_session); it is freed once its output
 * is flushed. Safe anywhere, also while answering it from another call. */
void conn_close_after_flush(conn *c);

/* Stops reading (the daemon is stopping); queued output still flushes. */
void conn_stop_reading(conn *c);

/* True when nothing waits in the connection's output buffer. */
bool conn_output_empty(const conn *c);

/* The connection's parked calls: a list that blocked.c alone keeps. */
struct blk_list;
struct blk_list *conn_waiters(conn *c);

/* The next (older) and previous (newer) connection of the server's list
 * (for walking srv->conns, newest first). */
conn *conn_next(const conn *c);
conn *conn_prev(const conn *c);

/* Hands every connection's queued answers to its transport (the server's
 * flush event, once per loop iteration). */
void conn_flush_pending(struct sm_server *srv);

/* Answers may leave again (persist_may_answer turned true): every
 * connection with queued output is flushed. */
void conn_flush_all(struct sm_server *srv);

/* The log is durable up to index (persist.h): every connection whose held
 * answers wait for index or less sends them now, in one pass. */
void conn_durable(struct sm_server *srv, uint64_t index);

/* The log's disk is full: AuthResults held for their session's start are
 * sent now, so clients get through (they read; their changes get
 * DISK_FULL). Nothing else a client is told depends on that start: the
 * answers of its changes come after it in the log and wait for their own
 * records. A crash before there is room loses the start, and the client's
 * resume is refused as for a session that ended, with none of its changes
 * answered. */
void conn_disk_full(struct sm_server *srv);

/* The peer's address as text (borrowed, lives with the connection). */
const char *conn_peer(const conn *c);

/* The name the client gave in its Auth, or "" (borrowed, lives with c). */
const char *conn_name(const conn *c);

/* Queues one response frame on the connection's output. With a data
 * directory it leaves once the log is durable up to the last command
 * appended (see conn_send_response_at). */
void conn_send_response(conn *c, const wire_response_out *r);

/* As conn_send_response, for an answer that shows the state up to log
 * index mark only (persist_answer_mark): it leaves once mark is durable
 * (and the answers queued before it have left). CONN_MARK_LAST: the last
 * command appended. */
#define CONN_MARK_LAST UINT64_MAX
void conn_send_response_at(conn *c, const wire_response_out *r, uint64_t mark);

struct sm_server *conn_server(const conn *c);
uint64_t conn_id(const conn *c);
/* The connection's session id (session.h): unique across runs. */
uint64_t conn_session(const conn *c);

/* For `clients` (admin.c): whether it authenticated and is not closing,
 * its requests so far, when it was accepted and when its last request came
 * (conn_loop_ms's clock; 0: none yet). */
bool conn_is_ready(const conn *c);
uint64_t conn_requests(const conn *c);
int64_t conn_started_ms(const conn *c);
int64_t conn_last_request_ms(const conn *c);

/* The wall clock in ms as the event loop cached it this iteration: free
 * to read once per request. */
int64_t conn_loop_ms(struct sm_server *srv);

#endif
