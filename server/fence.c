/* SPDX-License-Identifier: MIT */
/* fence.c - owner-death policy arguments and the guard check of dispatch
 * (see fence.h). */
#include "fence.h"

#include "registry.h"

#include <string.h>

static const char *const policy_names[] = {"release", "break", "keep"};

const char *fence_policy_name(fence_policy p) {
  return (unsigned)p < 3 ? policy_names[p] : "release";
}

bool fence_policy_valid(int64_t p) { return p >= FENCE_RELEASE && p <= FENCE_KEEP; }

int fence_policy_arg(call *c, size_t i, fence_policy *out) {
  *out = FENCE_RELEASE;
  if (i >= c->nargs) return WS_OK;
  vinfo vi;
  call_arg(c, i, &vi);
  switch (vi.kind) {
  case VK_NIL: return WS_OK;
  case VK_BOOL: *out = vi.b ? FENCE_RELEASE : FENCE_KEEP; return WS_OK;
  case VK_STR:
    for (size_t p = 0; p < 3; p++) {
      if (vi.data.n == strlen(policy_names[p]) &&
          memcmp(vi.data.p, policy_names[p], vi.data.n) == 0) {
        *out = (fence_policy)p;
        return WS_OK;
      }
    }
    return call_fail(c, WS_VALUE_ERROR,
                     "owner-death policy \"%.*s\" is none of release, break, keep",
                     (int)(vi.data.n > 32 ? 32 : vi.data.n), (const char *)vi.data.p);
  default:
    return call_fail(c, WS_TYPE_ERROR,
                     "the owner-death policy is a bool (auto_release) or a str (release, break, "
                     "keep), not a %s",
                     call_kind_name(vi.kind));
  }
}

int fence_check(call *c, const wire_request *req) {
  if (req->guard_object == 0) return WS_OK;
  sm_obj *g = reg_get(c->reg, req->guard_object);
  if (!g)
    return call_fail(c, WS_FENCED, "the guard's object %llu no longer exists",
                     (unsigned long long)req->guard_object);
  if (!g->type->fence_token)
    return call_fail(c, WS_TYPE_ERROR,
                     "the guard's object %llu is a %s: only a lock, rlock or semaphore guards",
                     (unsigned long long)g->id, g->type->name);
  uint64_t now = 0;
  if (!g->type->fence_token(g->state, &now))
    return call_fail(c, WS_FENCED, "fencing token %llu is stale: %s %llu is not held",
                     (unsigned long long)req->guard_token, g->type->name,
                     (unsigned long long)g->id);
  if (now != req->guard_token)
    return call_fail(c, WS_FENCED,
                     "fencing token %llu is stale: %s %llu was granted since (token %llu)",
                     (unsigned long long)req->guard_token, g->type->name, (unsigned long long)g->id,
                     (unsigned long long)now);
  return WS_OK;
}
