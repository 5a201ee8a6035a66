/* SPDX-License-Identifier: MIT */
/* lifetime.c - how long objects live: sm_open_options (ephemeral objects,
 * a TTL from creation) sent as the manager's create_with options, and the
 * manager's expire, ttl and persist for whole objects (docs/protocol.md,
 * "Expiry" and "Ephemeral objects"). The TTLs of dict keys are dict.c's. */
#include "lifetime.h"

#include "client_internal.h"
#include "value_internal.h"

#include <stdlib.h>

struct sm_open_options {
  bool ephemeral;
  int64_t ttl_ms; /* 0: none */
};

/* Caller frees with sm_open_options_free(). */
sm_open_options *sm_open_options_new(void) { return calloc(1, sizeof(sm_open_options)); }

void sm_open_options_free(sm_open_options *o) { free(o); }

int sm_open_options_set_ephemeral(sm_open_options *o, bool ephemeral) {
  PROXY_REQUIRE(o);
  o->ephemeral = ephemeral;
  return SM_OK;
}

int sm_open_options_set_ttl(sm_open_options *o, int64_t ttl_ms) {
  PROXY_REQUIRE(o && ttl_ms >= 0);
  o->ttl_ms = ttl_ms;
  return SM_OK;
}

/* *out: create_with's options map for o (caller frees with
 * sm_value_free()), or NULL when o sets nothing. Returns 0 or SM_ENOMEM. */
static int options_map(const sm_open_options *o, sm_value **out) {
  *out = NULL;
  if (!o || (!o->ephemeral && !o->ttl_ms)) return SM_OK;
  sm_value *m = sm_value_map();
  if (m && o->ephemeral &&
      sm_value_map_set(m, sm_value_str("ephemeral"), sm_value_bool(true)) != SM_OK) {
    sm_value_free(m);
    m = NULL;
  }
  if (m && o->ttl_ms &&
      sm_value_map_set(m, sm_value_str("ttl_ms"), sm_value_int(o->ttl_ms)) != SM_OK) {
    sm_value_free(m);
    m = NULL;
  }
  if (!m) return err_set(SM_ENOMEM, "out of memory");
  *out = m;
  return SM_OK;
}

int lifetime_open(sm_client *c, const char *type, const char *name, const sm_value *initial,
                  const sm_open_options *opts, size_t size, sm_proxy **out) {
  sm_value *map = NULL;
  int rc = options_map(opts, &map);
  if (rc != SM_OK) return rc;
  const sm_value *init[1] = {initial};
  rc = proxy_create_with(c, type, name, map, opts && opts->ephemeral, init, initial ? 1 : 0, size,
                         out);
  sm_value_free(map);
  return rc;
}

/* *out: caller frees with sm_proxy_free(). */
int sm_proxy_open_ex(sm_client *c, const char *type, const char *name, const sm_value *initial,
                     const sm_open_options *opts, sm_proxy **out) {
  PROXY_REQUIRE(c && type && *type && out);
  return lifetime_open(c, type, name, initial, opts, sizeof(sm_proxy), out);
}

/* Calls manager method on target (borrowed) with an optional int argument
 * (has_ms); *result receives the answer (caller frees with
 * sm_value_free()). */
static int manager_call(sm_client *c, const char *method, const sm_value *target, bool has_ms,
                        int64_t ms, sm_value **result) {
  sm_value msv = val_int_view(ms);
  const sm_value *args[2] = {target, &msv};
  return client_invoke(c, CLIENT_THREAD, NULL, method, args, has_ms ? 2 : 1, result, NULL);
}

/* The answer as a bool into *out (may be NULL); takes r. */
static int answer_bool(int rc, sm_value *r, const char *fn, bool *out) {
  bool b = false;
  if (rc == SM_OK) rc = proxy_result_bool(r, fn, &b);
  if (rc == SM_OK && out) *out = b;
  return rc;
}

static int do_expire(sm_client *c, const sm_value *target, int64_t ms) {
  sm_value *r = NULL;
  int rc = manager_call(c, "expire", target, true, ms, &r);
  sm_value_free(r);
  return rc;
}

static int do_ttl(sm_client *c, const sm_value *target, const char *fn, int64_t *out) {
  sm_value *r = NULL;
  int rc = manager_call(c, "ttl", target, false, 0, &r);
  return rc == SM_OK ? proxy_result_int(r, fn, out) : rc;
}

static int do_persist(sm_client *c, const sm_value *target, const char *fn, bool *had) {
  sm_value *r = NULL;
  int rc = manager_call(c, "persist", target, false, 0, &r);
  return answer_bool(rc, r, fn, had);
}

int sm_expire(sm_client *c, const char *name, int64_t ms) {
  PROXY_REQUIRE(c && name);
  sm_value t = val_str_view(name);
  return do_expire(c, &t, ms);
}

int sm_ttl(sm_client *c, const char *name, int64_t *out) {
  PROXY_REQUIRE(c && name && out);
  sm_value t = val_str_view(name);
  return do_ttl(c, &t, __func__, out);
}

int sm_persist(sm_client *c, const char *name, bool *had) {
  PROXY_REQUIRE(c && name);
  sm_value t = val_str_view(name);
  return do_persist(c, &t, __func__, had);
}

/* The target of p: its id on the daemon the calling thread reaches. */
static int proxy_target(sm_proxy *p, sm_value *t) {
  const proxy_binding *b = NULL;
  int rc = proxy_binding_now(p, &b);
  if (rc == SM_OK) *t = val_int_view((int64_t)b->id);
  return rc;
}

int sm_proxy_expire(sm_proxy *p, int64_t ms) {
  PROXY_REQUIRE(p);
  sm_value t;
  int rc = proxy_target(p, &t);
  return rc == SM_OK ? do_expire(p->client, &t, ms) : rc;
}

int sm_proxy_ttl(sm_proxy *p, int64_t *out) {
  PROXY_REQUIRE(p && out);
  sm_value t;
  int rc = proxy_target(p, &t);
  return rc == SM_OK ? do_ttl(p->client, &t, __func__, out) : rc;
}

int sm_proxy_persist(sm_proxy *p, bool *had) {
  PROXY_REQUIRE(p);
  sm_value t;
  int rc = proxy_target(p, &t);
  return rc == SM_OK ? do_persist(p->client, &t, __func__, had) : rc;
}
