/* SPDX-License-Identifier: MIT */
/* semaphore.c - sm_semaphore, the proxy of the daemon's "semaphore" and
 * "bounded_semaphore" types (Python's Semaphore and BoundedSemaphore).
 *
 * One proxy family serves both daemon types: they share every method and
 * differ only in the bound the daemon enforces on release. Opening from a
 * ref or token accepts either. */
#include "client_internal.h"
#include "proxy.h"
#include "value_internal.h"

#include <string.h>

struct sm_semaphore {
  sm_proxy p; /**< first and only member: see proxy.h */
};

#define SEM_TYPE "semaphore"
#define BSEM_TYPE "bounded_semaphore"

/* ---- opening ---- */

/* *out: caller frees with sm_semaphore_free(). */
int sm_semaphore_open(sm_client *c, const char *name, int64_t value, bool bounded,
                      sm_semaphore **out) {
  return sm_semaphore_open_ex(c, name, value, bounded, true, out);
}

int sm_semaphore_open_ex(sm_client *c, const char *name, int64_t value, bool bounded,
                         bool auto_release, sm_semaphore **out) {
  return sm_semaphore_open_policy(c, name, value, bounded,
                                  auto_release ? SM_OWNER_RELEASE : SM_OWNER_KEEP, out);
}

int sm_semaphore_open_policy(sm_client *c, const char *name, int64_t value, bool bounded,
                             sm_owner_policy policy, sm_semaphore **out) {
  PROXY_REQUIRE(out);
  const char *pname = owner_policy_name(policy);
  if (!pname) return err_set(SM_EINVAL, "no owner-death policy %d", (int)policy);
  /* release and keep go as the bool older daemons know */
  sm_value v = val_int_view(value), pv = policy == SM_OWNER_BREAK
                                             ? val_str_view(pname)
                                             : val_bool_view(policy == SM_OWNER_RELEASE);
  const sm_value *init[2] = {&v, &pv};
  sm_proxy *p = NULL;
  int rc =
      proxy_create_args(c, bounded ? BSEM_TYPE : SEM_TYPE, name, init, 2, sizeof(sm_semaphore), &p);
  if (rc == SM_OK) *out = (sm_semaphore *)p;
  return rc;
}

/* The daemon type a ref or token names, when it is one of ours; else the
 * plain semaphore, so that the open fails with the usual SM_ETYPE. */
static const char *sem_type_of(const char *type, size_t len) {
  if (len == strlen(BSEM_TYPE) && strncmp(type, BSEM_TYPE, len) == 0) return BSEM_TYPE;
  return SEM_TYPE;
}

int sm_semaphore_from_ref(sm_client *c, const sm_value *ref, sm_semaphore **out) {
  PROXY_REQUIRE(out);
  const char *type = sm_value_ref_type(ref);
  const char *want = type ? sem_type_of(type, strlen(type)) : SEM_TYPE;
  sm_proxy *p = NULL;
  int rc = proxy_open_ref(c, ref, want, sizeof(sm_semaphore), &p);
  if (rc == SM_OK) *out = (sm_semaphore *)p;
  return rc;
}

int sm_semaphore_from_token(sm_client *c, const char *token, sm_semaphore **out) {
  PROXY_REQUIRE(out);
  const char *colon = token ? strrchr(token, ':') : NULL;
  const char *want = colon ? sem_type_of(token, (size_t)(colon - token)) : SEM_TYPE;
  sm_proxy *p = NULL;
  int rc = proxy_open_token(c, token, want, sizeof(sm_semaphore), &p);
  if (rc == SM_OK) *out = (sm_semaphore *)p;
  return rc;
}

void sm_semaphore_free(sm_semaphore *s) { proxy_free(s ? &s->p : NULL); }

/* Borrowed view, valid while s lives. */
sm_proxy *sm_semaphore_proxy(sm_semaphore *s) { return s ? &s->p : NULL; }

/* ---- methods ---- */

int sm_semaphore_acquire(sm_semaphore *s, int64_t timeout_ms) {
  return sm_semaphore_acquire_token(s, timeout_ms, NULL);
}

int sm_semaphore_acquire_token(sm_semaphore *s, int64_t timeout_ms, uint64_t *token) {
  PROXY_REQUIRE(s);
  sm_value *r = NULL;
  int rc = proxy_invoke_timed(&s->p, "acquire", NULL, 0, timeout_ms, &r);
  sm_value_free(r); /* true */
  if (token) *token = rc == SM_OK || rc == SM_EOWNERDEAD ? client_last_token(s->p.client) : 0;
  return rc;
}

int sm_semaphore_release(sm_semaphore *s, int64_t n) {
  PROXY_REQUIRE(s);
  sm_value v = val_int_view(n);
  return PROXY_CALL(s, "release", NULL, &v);
}

int sm_semaphore_get_value(sm_semaphore *s, int64_t *out) {
  PROXY_REQUIRE(s && out);
  return proxy_call_int(&s->p, "get_value", NULL, 0, __func__, out);
}
