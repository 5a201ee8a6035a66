/* SPDX-License-Identifier: MIT */
/* condition.c - sm_condition, the proxy of the daemon's "condition" type
 * (Python's Condition) over a lock or rlock object.
 *
 * acquire, release, wait and notify are daemon methods: wait releases the
 * lock, parks until notified or its deadline, and answers once the caller
 * holds the lock again. wait_for is Python's loop, run here in the client:
 * check the predicate, wait with the time still left, check again. */
#include "proxy.h"
#include "value_internal.h"

#include <time.h>

struct sm_condition {
  sm_proxy p; /**< first and only member: see proxy.h */
};

#define COND_TYPE "condition"

/* ---- opening ---- */

/* lock (may be NULL) is borrowed. *out: caller frees with
 * sm_condition_free(). */
int sm_condition_open(sm_client *c, const char *name, const sm_proxy *lock, sm_condition **out) {
  PROXY_REQUIRE(out);
  sm_value *ref = NULL;
  if (lock && !(ref = sm_proxy_ref(lock))) return err_set(SM_ENOMEM, "out of memory");
  sm_proxy *p = NULL;
  int rc = proxy_create(c, COND_TYPE, name, ref, sizeof(sm_condition), &p);
  sm_value_free(ref);
  if (rc == SM_OK) *out = (sm_condition *)p;
  return rc;
}

int sm_condition_from_ref(sm_client *c, const sm_value *ref, sm_condition **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_open_ref(c, ref, COND_TYPE, sizeof(sm_condition), &p);
  if (rc == SM_OK) *out = (sm_condition *)p;
  return rc;
}

int sm_condition_from_token(sm_client *c, const char *token, sm_condition **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_open_token(c, token, COND_TYPE, sizeof(sm_condition), &p);
  if (rc == SM_OK) *out = (sm_condition *)p;
  return rc;
}

void sm_condition_free(sm_condition *cv) { proxy_free(cv ? &cv->p : NULL); }

/* Borrowed view, valid while cv lives. */
sm_proxy *sm_condition_proxy(sm_condition *cv) { return cv ? &cv->p : NULL; }

/* ---- methods ---- */

int sm_condition_acquire(sm_condition *cv, int64_t timeout_ms) {
  PROXY_REQUIRE(cv);
  sm_value *r = NULL;
  int rc = proxy_invoke_timed(&cv->p, "acquire", NULL, 0, timeout_ms, &r);
  sm_value_free(r); /* true */
  return rc;
}

int sm_condition_release(sm_condition *cv) {
  PROXY_REQUIRE(cv);
  return proxy_invoke(&cv->p, "release", NULL, 0, NULL);
}

/* notified may be NULL. */
int sm_condition_wait(sm_condition *cv, int64_t timeout_ms, bool *notified) {
  PROXY_REQUIRE(cv);
  sm_value *r = NULL;
  bool b = false;
  int rc = proxy_invoke_timed(&cv->p, "wait", NULL, 0, timeout_ms, &r);
  if (rc == SM_OK) rc = proxy_result_bool(r, __func__, &b);
  if (rc == SM_OK && notified) *notified = b;
  return rc;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Python's Condition.wait_for: the first wait gets the whole timeout, each
 * later one what is left of it; a wait that would get none ends the loop.
 * satisfied may be NULL. */
int sm_condition_wait_for(sm_condition *cv, sm_predicate_cb pred, void *ctx, int64_t timeout_ms,
                          bool *satisfied) {
  PROXY_REQUIRE(cv && pred);
  int64_t start = now_ms();
  /* A deadline past the int64 range is no deadline. */
  int64_t deadline = timeout_ms >= 0 && timeout_ms <= INT64_MAX - start ? start + timeout_ms : -1;
  int64_t wait_ms = timeout_ms;
  bool result = pred(ctx);
  bool first = true;
  while (!result) {
    if (deadline >= 0 && !first) {
      wait_ms = deadline - now_ms();
      if (wait_ms <= 0) break;
    }
    first = false;
    int rc = sm_condition_wait(cv, wait_ms, NULL);
    if (rc != SM_OK) return rc;
    result = pred(ctx);
  }
  if (satisfied) *satisfied = result;
  return SM_OK;
}

int sm_condition_notify(sm_condition *cv, size_t n) {
  PROXY_REQUIRE(cv && n <= INT64_MAX);
  sm_value v = val_int_view((int64_t)n);
  return PROXY_CALL(cv, "notify", NULL, &v);
}

int sm_condition_notify_all(sm_condition *cv) {
  PROXY_REQUIRE(cv);
  return proxy_invoke(&cv->p, "notify_all", NULL, 0, NULL);
}
