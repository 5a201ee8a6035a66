/* conn.h - one blocking connection to the daemon: connect, the mutual
 * authkey handshake, then request/response round trips.
 *
 * A conn belongs to one thread at a time and has no lock. It remembers the
 * process that opened it: after fork() the child must not use it (see
 * conn_usable), only drop it. */
#ifndef SM_CLIENT_CONN_H
#define SM_CLIENT_CONN_H

#include "../proto/msg.h"
#include "statemgr.h"
#include "url.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct conn conn;

typedef struct conn_cfg {
  const url_addr *addr;    /**< where to connect */
  const char *url;         /**< the same, as text, for error messages */
  const uint8_t *key;      /**< the authkey */
  size_t keylen;
  int timeout_ms;          /**< connect + handshake; <= 0 waits forever */
  const char *client_name; /**< shown by the daemon; may be NULL */
} conn_cfg;

/* Connects and authenticates both ways. Returns 0 with *out set (free with
 * conn_free()), or SM_ECONNECT, SM_EAUTH, SM_EPROTO, SM_ETLS, SM_ENOMEM with
 * this thread's last error set. The cfg is not kept. */
int conn_open(const conn_cfg *cfg, conn **out);

/* One round trip: sends req (its seq is replaced by the connection's next
 * one) and waits for the response with that seq. On success *result (may be
 * NULL when the caller does not want it) receives the decoded result
 * (caller frees with sm_value_free()). Returns 0, -status for a daemon
 * error (its text becomes the last error), SM_ETOOLARGE for a request over
 * the frame limit (nothing sent), SM_ECLOSED or SM_EPROTO when the
 * connection failed (it is then broken for good), SM_ENOMEM. */
int conn_call(conn *k, const wire_request_out *req, sm_value **result);

/* True when the connection is healthy and was opened by this process. */
bool conn_usable(const conn *k);

/* Closes this process's copy of the socket and marks the connection
 * broken, without any write: for a fork child. Async-signal-safe. */
void conn_drop_fd(conn *k);

/* Closes the socket (plain close(): nothing is written, so a fork child
 * never disturbs the parent's session) and frees k. NULL is fine. */
void conn_free(conn *k);

#endif
