/* SPDX-License-Identifier: MIT */
/* fence.h - fencing tokens and owner-death policies, what lock, rlock and
 * semaphore share (private to server/).
 *
 * A fencing token is a per-object counter in the object's saved state:
 * every grant (a lock or an rlock taken at its first level, a semaphore
 * unit) advances it and answers the new value in Response.token. The grant
 * is a logged command (an acquire, or "_grant" for a served waiter), so a
 * replay advances the counter the same way and the token keeps growing
 * across restarts. A call may carry a guard (Request.guard_object and
 * .guard_token): dispatch runs it only while the guard object's current
 * grant has that token (fence_check), else FENCED and nothing is applied.
 * A fenced call is never logged; one that passed is logged with its guard
 * (cmd_log_client_call), and its replay checks the guard again, in the state
 * that let it pass: the log says what the call depended on.
 *
 * The owner-death policy says what a dead holder leaves: FENCE_RELEASE
 * gives the object back to the next waiter (the default), FENCE_BREAK
 * gives it back too but the next grant answers OWNER_DEAD (the protected
 * data may be half-written, as a robust POSIX mutex reports), FENCE_KEEP
 * leaves it held (Python's behaviour; the old auto_release = false). */
#ifndef SM_SERVER_FENCE_H
#define SM_SERVER_FENCE_H

#include "../proto/msg.h"
#include "object.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum fence_policy {
  FENCE_RELEASE = 0,
  FENCE_BREAK = 1,
  FENCE_KEEP = 2,
} fence_policy;

/* Creation argument i as a policy: nil (the default, release), a bool (the
 * old auto_release: true is release, false keep) or one of the names
 * "release", "break", "keep". Returns WS_OK, or WS_TYPE_ERROR /
 * WS_VALUE_ERROR with c->err filled. */
int fence_policy_arg(call *c, size_t i, fence_policy *out);

/* The policy's name ("release", "break", "keep"); static. */
const char *fence_policy_name(fence_policy p);

/* True when a saved policy number is one of the above. */
bool fence_policy_valid(int64_t p);

/* The guard of request req, checked before its method runs: WS_OK when it
 * has none or guard_object's current grant has token guard_token;
 * WS_FENCED when it has another one (or none: a free lock, a deleted
 * object); WS_TYPE_ERROR when guard_object grants no tokens. c->err is
 * filled on failure. */
int fence_check(call *c, const wire_request *req);

#endif
