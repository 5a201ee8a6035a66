/* SPDX-License-Identifier: MIT */
/* event.c - sm_event, the proxy of the daemon's "event" type (Python's
 * Event): a flag that wait() calls block on until it is set. */
#include "proxy.h"
#include "value_internal.h"

struct sm_event {
  sm_proxy p; /**< first and only member: see proxy.h */
};

#define EVENT_TYPE "event"

/* ---- opening ---- */

/* *out: caller frees with sm_event_free(). */
int sm_event_open(sm_client *c, const char *name, sm_event **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_create(c, EVENT_TYPE, name, NULL, sizeof(sm_event), &p);
  if (rc == SM_OK) *out = (sm_event *)p;
  return rc;
}

int sm_event_from_ref(sm_client *c, const sm_value *ref, sm_event **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_open_ref(c, ref, EVENT_TYPE, sizeof(sm_event), &p);
  if (rc == SM_OK) *out = (sm_event *)p;
  return rc;
}

int sm_event_from_token(sm_client *c, const char *token, sm_event **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_open_token(c, token, EVENT_TYPE, sizeof(sm_event), &p);
  if (rc == SM_OK) *out = (sm_event *)p;
  return rc;
}

void sm_event_free(sm_event *e) { proxy_free(e ? &e->p : NULL); }

/* Borrowed view, valid while e lives. */
sm_proxy *sm_event_proxy(sm_event *e) { return e ? &e->p : NULL; }

/* ---- methods ---- */

int sm_event_set(sm_event *e) {
  PROXY_REQUIRE(e);
  return proxy_invoke(&e->p, "set", NULL, 0, NULL);
}

int sm_event_clear(sm_event *e) {
  PROXY_REQUIRE(e);
  return proxy_invoke(&e->p, "clear", NULL, 0, NULL);
}

int sm_event_is_set(sm_event *e, bool *out) {
  PROXY_REQUIRE(e && out);
  return proxy_call_bool(&e->p, "is_set", NULL, 0, __func__, out);
}

/* was_set may be NULL. */
int sm_event_wait(sm_event *e, int64_t timeout_ms, bool *was_set) {
  PROXY_REQUIRE(e);
  sm_value *r = NULL;
  bool b = false;
  int rc = proxy_invoke_timed(&e->p, "wait", NULL, 0, timeout_ms, &r);
  if (rc == SM_OK) rc = proxy_result_bool(r, __func__, &b);
  if (rc == SM_OK && was_set) *was_set = b;
  return rc;
}
