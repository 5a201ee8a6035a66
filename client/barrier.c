/* SPDX-License-Identifier: MIT */
/* barrier.c - sm_barrier, the proxy of the daemon's "barrier" type
 * (Python's Barrier): parties threads wait until all have arrived. A
 * deadline, abort or reset breaks it, and every waiter gets SM_EBROKEN. */
#include "proxy.h"
#include "value_internal.h"

struct sm_barrier {
  sm_proxy p; /**< first and only member: see proxy.h */
};

#define BARRIER_TYPE "barrier"

/* ---- opening ---- */

/* parties only applies when the barrier is created.
 * *out: caller frees with sm_barrier_free(). */
int sm_barrier_open(sm_client *c, const char *name, size_t parties, sm_barrier **out) {
  PROXY_REQUIRE(out && parties <= INT64_MAX);
  sm_value n = val_int_view((int64_t)parties);
  sm_proxy *p = NULL;
  int rc = proxy_create(c, BARRIER_TYPE, name, &n, sizeof(sm_barrier), &p);
  if (rc == SM_OK) *out = (sm_barrier *)p;
  return rc;
}

int sm_barrier_from_ref(sm_client *c, const sm_value *ref, sm_barrier **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_open_ref(c, ref, BARRIER_TYPE, sizeof(sm_barrier), &p);
  if (rc == SM_OK) *out = (sm_barrier *)p;
  return rc;
}

int sm_barrier_from_token(sm_client *c, const char *token, sm_barrier **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_open_token(c, token, BARRIER_TYPE, sizeof(sm_barrier), &p);
  if (rc == SM_OK) *out = (sm_barrier *)p;
  return rc;
}

void sm_barrier_free(sm_barrier *b) { proxy_free(b ? &b->p : NULL); }

/* Borrowed view, valid while b lives. */
sm_proxy *sm_barrier_proxy(sm_barrier *b) { return b ? &b->p : NULL; }

/* ---- methods ---- */

/* index may be NULL. */
int sm_barrier_wait(sm_barrier *b, int64_t timeout_ms, int64_t *index) {
  PROXY_REQUIRE(b);
  sm_value *r = NULL;
  int64_t i = 0;
  int rc = proxy_invoke_timed(&b->p, "wait", NULL, 0, timeout_ms, &r);
  if (rc == SM_OK) rc = proxy_result_int(r, __func__, &i);
  if (rc == SM_OK && index) *index = i;
  return rc;
}

int sm_barrier_reset(sm_barrier *b) {
  PROXY_REQUIRE(b);
  return proxy_invoke(&b->p, "reset", NULL, 0, NULL);
}

int sm_barrier_abort(sm_barrier *b) {
  PROXY_REQUIRE(b);
  return proxy_invoke(&b->p, "abort", NULL, 0, NULL);
}

int sm_barrier_parties(sm_barrier *b, size_t *out) {
  PROXY_REQUIRE(b && out);
  return proxy_call_size(&b->p, "parties", NULL, 0, __func__, out);
}

int sm_barrier_n_waiting(sm_barrier *b, size_t *out) {
  PROXY_REQUIRE(b && out);
  return proxy_call_size(&b->p, "n_waiting", NULL, 0, __func__, out);
}

int sm_barrier_broken(sm_barrier *b, bool *out) {
  PROXY_REQUIRE(b && out);
  return proxy_call_bool(&b->p, "broken", NULL, 0, __func__, out);
}
