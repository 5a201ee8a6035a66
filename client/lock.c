/* SPDX-License-Identifier: MIT */
/* lock.c - sm_lock and sm_rlock, the proxies of the daemon's "lock" and
 * "rlock" types (Python's Lock and RLock).
 *
 * The daemon records the holder as the connection that acquired: here the
 * calling thread's own, so ownership is per thread as in Python. acquire
 * blocks through the request's deadline; the daemon answers true, which
 * the functions here reduce to 0, with the grant's fencing token beside
 * (Response.token: the *_acquire_token forms hand it out). Both families
 * share the helpers at the top; each then maps its API onto them. */
#include "client_internal.h"
#include "proxy.h"
#include "value_internal.h"

struct sm_lock {
  sm_proxy p; /**< first and only member: see proxy.h */
};

struct sm_rlock {
  sm_proxy p; /**< first and only member: see proxy.h */
};

#define LOCK_TYPE "lock"
#define RLOCK_TYPE "rlock"

/* ---- shared by both ---- */

/* Creates or gets a lock of type with [auto_release]. */
static int lock_create(sm_client *c, const char *type, const char *name, bool auto_release,
                       size_t size, sm_proxy **out) {
  sm_value ar = val_bool_view(auto_release);
  return proxy_create(c, type, name, &ar, size, out);
}

/* Creates or gets a lock of type with [policy] (its name). */
static int lock_create_policy(sm_client *c, const char *type, const char *name,
                              sm_owner_policy policy, size_t size, sm_proxy **out) {
  const char *pname = owner_policy_name(policy);
  if (!pname) return err_set(SM_EINVAL, "no owner-death policy %d", (int)policy);
  /* release and keep go as the bool older daemons know */
  sm_value pv =
      policy == SM_OWNER_BREAK ? val_str_view(pname) : val_bool_view(policy == SM_OWNER_RELEASE);
  return proxy_create(c, type, name, &pv, size, out);
}

/* acquire, with the grant's fencing token into *token (may be NULL). */
static int lock_acquire(sm_proxy *p, int64_t timeout_ms, uint64_t *token) {
  sm_value *r = NULL;
  int rc = proxy_invoke_timed(p, "acquire", NULL, 0, timeout_ms, &r);
  sm_value_free(r); /* true */
  if (token) *token = rc == SM_OK || rc == SM_EOWNERDEAD ? client_last_token(p->client) : 0;
  return rc;
}

static int lock_locked(sm_proxy *p, const char *fn, bool *out) {
  sm_value *r = NULL;
  int rc = proxy_invoke(p, "locked", NULL, 0, &r);
  return rc == SM_OK ? proxy_result_bool(r, fn, out) : rc;
}

/* ---- lock ---- */

/* *out: caller frees with sm_lock_free(). */
int sm_lock_open(sm_client *c, const char *name, sm_lock **out) {
  return sm_lock_open_ex(c, name, true, out);
}

int sm_lock_open_ex(sm_client *c, const char *name, bool auto_release, sm_lock **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = lock_create(c, LOCK_TYPE, name, auto_release, sizeof(sm_lock), &p);
  if (rc == SM_OK) *out = (sm_lock *)p;
  return rc;
}

int sm_lock_from_ref(sm_client *c, const sm_value *ref, sm_lock **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_open_ref(c, ref, LOCK_TYPE, sizeof(sm_lock), &p);
  if (rc == SM_OK) *out = (sm_lock *)p;
  return rc;
}

int sm_lock_from_token(sm_client *c, const char *token, sm_lock **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_open_token(c, token, LOCK_TYPE, sizeof(sm_lock), &p);
  if (rc == SM_OK) *out = (sm_lock *)p;
  return rc;
}

void sm_lock_free(sm_lock *l) { proxy_free(l ? &l->p : NULL); }

/* Borrowed view, valid while l lives. */
sm_proxy *sm_lock_proxy(sm_lock *l) { return l ? &l->p : NULL; }

int sm_lock_open_policy(sm_client *c, const char *name, sm_owner_policy policy, sm_lock **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = lock_create_policy(c, LOCK_TYPE, name, policy, sizeof(sm_lock), &p);
  if (rc == SM_OK) *out = (sm_lock *)p;
  return rc;
}

int sm_lock_acquire(sm_lock *l, int64_t timeout_ms) {
  PROXY_REQUIRE(l);
  return lock_acquire(&l->p, timeout_ms, NULL);
}

int sm_lock_acquire_token(sm_lock *l, int64_t timeout_ms, uint64_t *token) {
  PROXY_REQUIRE(l);
  return lock_acquire(&l->p, timeout_ms, token);
}

int sm_lock_release(sm_lock *l) {
  PROXY_REQUIRE(l);
  return proxy_invoke(&l->p, "release", NULL, 0, NULL);
}

int sm_lock_locked(sm_lock *l, bool *out) {
  PROXY_REQUIRE(l && out);
  return lock_locked(&l->p, __func__, out);
}

/* ---- rlock ---- */

/* *out: caller frees with sm_rlock_free(). */
int sm_rlock_open(sm_client *c, const char *name, sm_rlock **out) {
  return sm_rlock_open_ex(c, name, true, out);
}

int sm_rlock_open_ex(sm_client *c, const char *name, bool auto_release, sm_rlock **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = lock_create(c, RLOCK_TYPE, name, auto_release, sizeof(sm_rlock), &p);
  if (rc == SM_OK) *out = (sm_rlock *)p;
  return rc;
}

int sm_rlock_from_ref(sm_client *c, const sm_value *ref, sm_rlock **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_open_ref(c, ref, RLOCK_TYPE, sizeof(sm_rlock), &p);
  if (rc == SM_OK) *out = (sm_rlock *)p;
  return rc;
}

int sm_rlock_from_token(sm_client *c, const char *token, sm_rlock **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_open_token(c, token, RLOCK_TYPE, sizeof(sm_rlock), &p);
  if (rc == SM_OK) *out = (sm_rlock *)p;
  return rc;
}

void sm_rlock_free(sm_rlock *r) { proxy_free(r ? &r->p : NULL); }

/* Borrowed view, valid while r lives. */
sm_proxy *sm_rlock_proxy(sm_rlock *r) { return r ? &r->p : NULL; }

int sm_rlock_open_policy(sm_client *c, const char *name, sm_owner_policy policy, sm_rlock **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = lock_create_policy(c, RLOCK_TYPE, name, policy, sizeof(sm_rlock), &p);
  if (rc == SM_OK) *out = (sm_rlock *)p;
  return rc;
}

int sm_rlock_acquire(sm_rlock *r, int64_t timeout_ms) {
  PROXY_REQUIRE(r);
  return lock_acquire(&r->p, timeout_ms, NULL);
}

int sm_rlock_acquire_token(sm_rlock *r, int64_t timeout_ms, uint64_t *token) {
  PROXY_REQUIRE(r);
  return lock_acquire(&r->p, timeout_ms, token);
}

int sm_rlock_release(sm_rlock *r) {
  PROXY_REQUIRE(r);
  return proxy_invoke(&r->p, "release", NULL, 0, NULL);
}

int sm_rlock_locked(sm_rlock *r, bool *out) {
  PROXY_REQUIRE(r && out);
  return lock_locked(&r->p, __func__, out);
}

int sm_rlock_count(sm_rlock *r, size_t *out) {
  PROXY_REQUIRE(r && out);
  sm_value *v = NULL;
  int rc = proxy_invoke(&r->p, "count", NULL, 0, &v);
  return rc == SM_OK ? proxy_result_size(v, __func__, out) : rc;
}
