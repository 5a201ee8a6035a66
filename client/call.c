/* SPDX-License-Identifier: MIT */
/* call.c - generic proxies and calls by method name: sm_proxy_open and
 * sm_call / sm_call_timed.
 *
 * These reach every daemon type, custom ones included, without a typed
 * family: a program names the type when it opens the object and the method
 * when it calls it, with sm_value arguments, exactly as docs/protocol.md
 * lists them. Opening goes over the holder connection (proxy_create), calls
 * over the calling thread's connection (proxy_invoke). Batches of calls are
 * client/pipeline.c. */
#include "proxy.h"

/* *out: a generic proxy (caller frees with sm_proxy_free()). */
int sm_proxy_open(sm_client *c, const char *type, const char *name, const sm_value *initial,
                  sm_proxy **out) {
  PROXY_REQUIRE(c && type && *type && out);
  return proxy_create(c, type, name, initial, sizeof(sm_proxy), out);
}

/* Calls method over the calling thread's connection with a deadline
 * (timeout_ms < 0: none). *out (may be NULL) receives the result; caller
 * frees with sm_value_free(). */
int sm_call_timed(sm_proxy *p, const char *method, const sm_value *const *args, size_t nargs,
                  int64_t timeout_ms, sm_value **out) {
  PROXY_REQUIRE(p && method && *method && (args || nargs == 0));
  sm_value *result = NULL;
  int rc = proxy_invoke_timed(p, method, args, nargs, timeout_ms, out ? &result : NULL);
  if (rc == SM_OK && out) *out = result;
  return rc;
}

int sm_call(sm_proxy *p, const char *method, const sm_value *const *args, size_t nargs,
            sm_value **out) {
  return sm_call_timed(p, method, args, nargs, -1, out);
}
