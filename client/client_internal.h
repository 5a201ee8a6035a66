/* SPDX-License-Identifier: MIT */
/* client_internal.h - how the proxy files reach the daemon through an
 * sm_client.
 *
 * Two kinds of connection serve a client:
 * - the calling thread's own connection (CLIENT_THREAD), opened on first
 *   use, for every object method, so a blocking call stalls only its thread
 *   and lock ownership is per thread;
 * - one shared "holder" connection (CLIENT_HOLDER), behind a mutex, for
 *   create / open / release. The daemon counts references to anonymous
 *   objects per connection, so holding them all on one connection that
 *   lives as long as the client lets a proxy outlive the thread that opened
 *   it and be freed from any thread.
 * Connections remember their process; after fork() the child drops the
 * parent's sockets (close only) and opens its own. */
#ifndef SM_CLIENT_CLIENT_INTERNAL_H
#define SM_CLIENT_CLIENT_INTERNAL_H

#include "statemgr.h"

#include <stddef.h>
#include <stdint.h>

typedef enum client_via {
  CLIENT_THREAD = 0, /**< the calling thread's connection */
  CLIENT_HOLDER,     /**< the shared connection that holds references */
} client_via;

/* The object a call addresses: its id, and the type code (wire_type_code)
 * of the type its proxy was opened for, which the daemon checks (0: none). */
typedef struct client_target {
  uint64_t id;
  uint32_t type;
  uint64_t guard_object; /**< a fencing guard of the proxy (0: none; then the thread's) */
  uint64_t guard_token;
} client_target;

/* The connection that answered a call. */
typedef struct client_served {
  uint64_t epoch;    /**< CLIENT_HOLDER: the holder connection's generation */
  uint64_t instance; /**< the daemon instance it reached (from the handshake) */
} client_served;

/* Sends method(args) to the object to (NULL: the manager) and waits for
 * the answer. *result (may be NULL) receives the result on success (caller
 * frees with sm_value_free()); *served (may be NULL) says which connection
 * answered. Arguments nested deeper than client_max_depth() are refused
 * (SM_EVALUE) before sending. Returns 0 or an SM_E* code with the thread's
 * last error set. A broken connection is replaced on the next call. */
int client_invoke(sm_client *c, client_via via, const client_target *to, const char *method,
                  const sm_value *const *args, size_t nargs, sm_value **result,
                  client_served *served);

/* As client_invoke over the calling thread's connection, with a deadline
 * for a blocking method: timeout_ms < 0 sends none (wait forever), 0 asks
 * the daemon not to block, > 0 is the deadline the daemon keeps. The reply
 * is awaited with no deadline of the library's own: a parked call is
 * answered when the daemon decides, or fails when the connection closes. */
int client_invoke_timed(sm_client *c, const client_target *to, const char *method,
                        const sm_value *const *args, size_t nargs, int64_t timeout_ms,
                        sm_value **result);

/* Gives back one reference to anonymous object id, if the holder connection
 * of generation epoch (in this process) still holds it; otherwise the
 * daemon already dropped it with that connection and nothing is sent.
 * Errors are ignored: the proxy goes away regardless. */
void client_release(sm_client *c, uint64_t id, uint64_t epoch);

/* The calling thread's connection, opened or replaced as needed, for
 * client/pipeline.c. Borrowed: valid until this thread's next call on c.
 * Returns 0 or an SM_E* code with the thread's last error set. */
struct chan;
int client_thread_chan(sm_client *c, struct chan **out);

/* Reconnection. When a connection drops, the next call on it opens a new
 * one (handshake included). The daemon may be another instance by then
 * (restarted), where the old ids name nothing: a proxy compares the
 * instance its object belongs to with the one the calling thread's
 * connection reached (proxy.c). client_thread_instance opens or replaces
 * that connection as needed and gives its instance. Returns 0 or an SM_E*
 * code with the thread's last error set. */
int client_thread_instance(sm_client *c, uint64_t *out);

/* Exactly once across a restart or a failover: k (chan_resumable) dropped
 * with calls in flight, or was answered REDIRECT. Reconnects it in place,
 * resuming its session, on the leader the REDIRECT named or on any member
 * of the client's group (group_walk), retrying while the daemon is down or
 * the group has no leader until *deadline (monotonic ms; 0: set it to now
 * plus the client's failover timeout; a later call for the same calls
 * pauses a little after another REDIRECT). Returns 0 when resumed (send
 * what was in flight again, with the same seqs); SM_ECLOSED when the
 * daemon gave a new session (k is usable, what was in flight failed) or
 * the deadline passed; another code for a failure that retrying cannot
 * mend (authentication, TLS). */
int client_resume(sm_client *c, struct chan *k, int64_t *deadline);

/* After a call that was not applied was answered REDIRECT on a connection
 * with no session to resume (a new one, which a member that does not lead
 * accepted: an election is under way, or the member knows an old leader):
 * pauses a little and returns true while it should go out again on a new
 * connection, false once *deadline has passed (monotonic ms; 0: set it to
 * now plus the client's failover timeout). */
bool client_redirect_again(sm_client *c, int64_t *deadline);

/* The fencing token of the answer of the calling thread's last call on c
 * (0: none). */
uint64_t client_last_token(sm_client *c);

/* The nesting the daemon allows in a value (its --max-depth, told at the
 * last handshake). */
unsigned client_max_depth(const sm_client *c);

/* The arguments of a scan method (docs/protocol.md): cursor, then count
 * (0: nil, the daemon's default). Fills args[0] and args[1] with values that need no
 * freeing. Returns SM_OK, or SM_EINVAL (fn named) for a cursor no scan
 * gives out (over INT64_MAX) or a count over INT64_MAX. */
int client_scan_args(uint64_t cursor, size_t count, const char *fn, sm_value *args);

/* Splits a scan answer [next, page] (reply, which it frees): *next gets
 * the cursor and *page the page list (caller frees with sm_value_free()).
 * SM_EPROTO (fn named) when the answer has another shape. */
int client_result_page(sm_value *reply, const char *fn, uint64_t *next, sm_value **page);

/* True when the calling thread's last client_invoke / client_invoke_timed
 * on an object (not the manager) failed with SM_ECLOSED before its request
 * left: the connection had dropped, nothing reached the daemon, and the
 * call may be sent again (a named proxy finds its object again first).
 * Manager calls and holder calls are sent again by client.c itself. */
bool client_last_unsent(void);

#endif
