/* SPDX-License-Identifier: MIT */
/* dispatch.h - turns one decoded request into one response: validates the
 * arguments, finds the target (the manager or an object) and its method,
 * runs it, and queues the response frame on the connection.
 *
 * dispatch_call() is the core without I/O: a pure function of the registry
 * and the request, usable without a connection (tests/fuzz/fuzz_dispatch.c
 * drives it with conn NULL). dispatch_request() wraps it for a live
 * connection: it builds the response frame, queues it and counts it. */
#ifndef SM_SERVER_DISPATCH_H
#define SM_SERVER_DISPATCH_H

#include "../proto/msg.h"
#include "registry.h"

struct conn;

/* Validates req's arguments (canonical values nested at most max_depth
 * deep, live ObjRefs of the stated types) and runs its method on reg, on
 * behalf of connection cn (NULL: no connection, as in a replay; methods
 * that need one - info, shutdown - fail with WS_INTERNAL) and of its
 * session (session.h; 0: nobody, and nothing is recorded against anyone). result is emptied first;
 * on WS_OK it holds the result value (empty = nil). Returns a WS_* status with err filled (errlen
 * bytes, truncated), or CALL_PARKED when the call waits in an object's queue and will be answered
 * later through cn (with cn NULL, it stays parked until the object or the registry goes away). */
int dispatch_call(registry *reg, struct conn *cn, uint64_t session, const wire_request *req,
                  unsigned max_depth, vbuf *result, char *err, size_t errlen);

/* Answers req on conn c: dispatch_call() with the server's registry and
 * limits, then the response is appended to the connection's output buffer
 * (unless the call parked). */
void dispatch_request(struct conn *c, const wire_request *req);

/* The largest answer frame payload a client on cn reads: the daemon's
 * frame limit (--max-frame), and never more than FRAME_MAX_DEFAULT, which
 * is what clients accept; FRAME_MAX_DEFAULT when cn is NULL. A call whose
 * answer would be larger is answered TOO_LARGE instead, pointing at scan
 * when the target type has one. */
size_t dispatch_answer_limit(const struct conn *cn);

/* The manager's own methods (object 0): create, open, release, delete, ls,
 * info, ping, shutdown (manager.c). */
extern const struct obj_type manager_type;

/* True when a create with arguments args names an object that exists (a
 * named one): the create only opens it and changes nothing, so it goes on
 * while the disk is full (manager.c). */
bool manager_create_finds(const registry *reg, const sm_span *args, size_t nargs);

#endif
