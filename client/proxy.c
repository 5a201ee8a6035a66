/* SPDX-License-Identifier: MIT */
/* proxy.c - the generic sm_proxy: create, open by ref or token, release,
 * method calls, and the result converters the typed families share.
 *
 * Create and open go over the client's holder connection, which then holds
 * this process's reference to an anonymous object until sm_*_free sends
 * "release" (see client_internal.h). Method calls go over the calling
 * thread's connection.
 *
 * Identity: a proxy knows the daemon instance its object's id belongs to
 * (proxy_binding) and, before each call, compares it with the instance the
 * calling thread's connection reached. After a restart they differ: a
 * named proxy gets-or-creates its object by name again (with its creation
 * arguments) and takes the new id; an anonymous proxy, or one opened from a
 * ref or token, gets SM_ESTALE, since its object died with the earlier
 * daemon. Every call also names the proxy's type (a type code), which the
 * daemon checks, so a proxy never works on an object of another type. */
#include "proxy.h"

#include "../proto/msg.h"
#include "client_internal.h"
#include "value_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A new binding (caller frees with bindings_free()), or NULL. */
static proxy_binding *binding_new(uint64_t id, uint64_t instance) {
  proxy_binding *b = calloc(1, sizeof *b);
  if (b) *b = (proxy_binding){id, instance, NULL};
  return b;
}

/* Frees b and every binding it replaced. */
static void bindings_free(proxy_binding *b) {
  while (b) {
    proxy_binding *older = b->older;
    free(b);
    b = older;
  }
}

static const proxy_binding *binding_load(const sm_proxy *p) {
  return __atomic_load_n(&p->bind, __ATOMIC_ACQUIRE);
}

/* Builds the proxy from a create/open reply (a ref); takes ownership of
 * reply. want (may be NULL) is the type the caller expects; served says
 * which connection answered. */
static int proxy_from_reply(sm_client *c, sm_value *reply, const char *want, const char *name,
                            bool holds_ref, const client_served *served, size_t size,
                            sm_proxy **out) {
  int rc = SM_OK;
  sm_proxy *p = NULL;
  if (sm_value_type(reply) != SM_REF) {
    rc = err_set(SM_EPROTO, "the daemon answered with %s, not a ref",
                 val_kind_name(sm_value_type(reply)));
  } else if (want && strcmp(reply->u.ref.type, want) != 0) {
    rc = err_set(SM_ETYPE, "object %" PRIu64 " is a %s, not a %s", reply->u.ref.id,
                 reply->u.ref.type, want);
  } else if (!(p = calloc(1, size)) || !(p->type = strdup(reply->u.ref.type)) ||
             (name && !(p->name = strdup(name))) ||
             !(p->bind = binding_new(reply->u.ref.id, served->instance))) {
    rc = err_set(SM_ENOMEM, "out of memory");
  }
  if (rc == SM_OK) {
    p->client = c;
    p->type_code = wire_type_code(p->type);
    p->holds_ref = holds_ref;
    p->epoch = served->epoch;
    *out = p;
  } else {
    /* Not handing the object out: give back what we took. */
    if (holds_ref && sm_value_type(reply) == SM_REF)
      client_release(c, reply->u.ref.id, served->epoch);
    if (p) {
      bindings_free(p->bind);
      free(p->type);
      free(p->name);
      free(p);
    }
  }
  sm_value_free(reply);
  return rc;
}

int proxy_create(sm_client *c, const char *type, const char *name, const sm_value *initial,
                 size_t size, sm_proxy **out) {
  const sm_value *init[1] = {initial};
  return proxy_create_args(c, type, name, init, initial ? 1 : 0, size, out);
}

/* The creation arguments follow the type and the name. */
#define CREATE_MAX_INIT 4

/* *out: a copy of the ninit creation arguments (NULL elements: nil) as an
 * SM_LIST (caller frees with sm_value_free()), or NULL when there are none.
 * Returns 0 or SM_ENOMEM. */
static int keep_args(const sm_value *const *init, size_t ninit, sm_value **out) {
  *out = NULL;
  if (ninit == 0) return SM_OK;
  sm_value *list = sm_value_list();
  for (size_t i = 0; list && i < ninit; i++) {
    sm_value *v = init[i] ? sm_value_copy(init[i]) : sm_value_nil();
    if (sm_value_list_append(list, v) != SM_OK) { /* takes v, NULL included */
      sm_value_free(list);
      list = NULL;
    }
  }
  if (!list) return err_set(SM_ENOMEM, "out of memory");
  *out = list;
  return SM_OK;
}

int proxy_create_args(sm_client *c, const char *type, const char *name, const sm_value *const *init,
                      size_t ninit, size_t size, sm_proxy **out) {
  return proxy_create_with(c, type, name, NULL, false, init, ninit, size, out);
}

int proxy_create_with(sm_client *c, const char *type, const char *name, const sm_value *opts,
                      bool ephemeral, const sm_value *const *init, size_t ninit, size_t size,
                      sm_proxy **out) {
  if (!c) return err_set(SM_EINVAL, "opening a %s: NULL client", type);
  if (ninit > CREATE_MAX_INIT)
    return err_set(SM_EINVAL, "opening a %s: too many creation arguments", type);
  sm_value t = val_str_view(type), n = name ? val_str_view(name) : (sm_value){.type = SM_NIL};
  const sm_value *args[3 + CREATE_MAX_INIT] = {&t, &n, opts};
  size_t first = opts ? 3 : 2;
  for (size_t i = 0; i < ninit; i++)
    args[first + i] = init[i];
  sm_value *reply = NULL, *kept = NULL, *kept_opts = NULL;
  client_served served = {0, 0};
  /* A named proxy keeps a copy of the arguments, to create the object
   * again in a restarted daemon that lost it. */
  int rc = name ? keep_args(init, ninit, &kept) : SM_OK;
  if (rc == SM_OK && name && opts && !(kept_opts = sm_value_copy(opts)))
    rc = err_set(SM_ENOMEM, "out of memory");
  if (rc != SM_OK) {
    sm_value_free(kept);
    return rc;
  }
  /* Only an anonymous object needs the holder connection, where its
   * reference lives, and an ephemeral one, which lives with its session;
   * another named one is created over this thread's own. */
  rc = client_invoke(c, name && !ephemeral ? CLIENT_THREAD : CLIENT_HOLDER, NULL,
                     opts ? "create_with" : "create", args, first + ninit, &reply, &served);
  if (rc == SM_OK) /* Only an anonymous object is counted; a named one lives until deleted. */
    rc = proxy_from_reply(c, reply, type, name, name == NULL, &served, size, out);
  if (rc != SM_OK) {
    sm_value_free(kept);
    sm_value_free(kept_opts);
    return rc;
  }
  (*out)->init = kept;
  (*out)->opts = kept_opts;
  return SM_OK;
}

int proxy_open_ref(sm_client *c, const sm_value *ref, const char *want, size_t size,
                   sm_proxy **out) {
  if (!c) return err_set(SM_EINVAL, "opening a ref: NULL client");
  if (sm_value_type(ref) != SM_REF)
    return err_set(SM_EINVAL, "expected a ref value, got %s", val_kind_name(sm_value_type(ref)));
  if (want && strcmp(ref->u.ref.type, want) != 0)
    return err_set(SM_ETYPE, "the ref names a %s, not a %s", ref->u.ref.type, want);
  sm_value *reply = NULL;
  client_served served = {0, 0};
  const sm_value *args[1] = {ref};
  int rc = client_invoke(c, CLIENT_HOLDER, NULL, "open", args, 1, &reply, &served);
  if (rc != SM_OK) return rc;
  /* Opening a named object takes no reference and "release" of it is a
   * no-op, so a proxy from a ref always gives one back. */
  return proxy_from_reply(c, reply, want, NULL, true, &served, size, out);
}

int proxy_open_token(sm_client *c, const char *token, const char *want, size_t size,
                     sm_proxy **out) {
  if (!c || !token) return err_set(SM_EINVAL, "opening a token: NULL client or token");
  const char *colon = strrchr(token, ':');
  char *end = NULL;
  unsigned long long id = 0;
  if (colon && colon != token && colon[1] >= '0' && colon[1] <= '9')
    id = strtoull(colon + 1, &end, 10);
  if (!end || *end || id == 0)
    return err_set(SM_EINVAL, "bad token \"%s\": expected type:id", token);
  sm_value *ref = val_ref_new((uint64_t)id, token, (size_t)(colon - token));
  if (!ref) return err_set(SM_ENOMEM, "out of memory");
  int rc = proxy_open_ref(c, ref, want, size, out);
  sm_value_free(ref);
  return rc;
}

void proxy_free(sm_proxy *p) {
  if (!p) return;
  if (p->holds_ref) client_release(p->client, binding_load(p)->id, p->epoch);
  bindings_free(p->bind);
  sm_value_free(p->init);
  sm_value_free(p->opts);
  free(p->type);
  free(p->name);
  free(p);
}

/* Gets-or-creates the named object of p again, over the calling thread's
 * connection, and publishes its id on the instance that answered. */
static int proxy_find_again(sm_proxy *p, const proxy_binding **out) {
  sm_value t = val_str_view(p->type), n = val_str_view(p->name);
  const sm_value *args[3 + CREATE_MAX_INIT] = {&t, &n, p->opts};
  size_t first = p->opts ? 3 : 2;
  size_t ninit = sm_value_len(p->init);
  for (size_t i = 0; i < ninit && i < CREATE_MAX_INIT; i++)
    args[first + i] = sm_value_list_at(p->init, i);
  sm_value *reply = NULL;
  client_served served = {0, 0};
  /* An ephemeral object lives with the holder connection's session. */
  sm_value ek = val_str_view("ephemeral");
  const sm_value *eph = p->opts ? sm_value_map_get(p->opts, &ek) : NULL;
  bool holder = eph && sm_value_type(eph) == SM_BOOL && eph->u.b;
  int rc = client_invoke(p->client, holder ? CLIENT_HOLDER : CLIENT_THREAD, NULL,
                         p->opts ? "create_with" : "create", args, first + ninit, &reply, &served);
  if (rc != SM_OK) return rc;
  proxy_binding *b = NULL;
  if (sm_value_type(reply) != SM_REF)
    rc = err_set(SM_EPROTO, "the daemon answered with %s, not a ref",
                 val_kind_name(sm_value_type(reply)));
  else if (strcmp(reply->u.ref.type, p->type) != 0)
    rc = err_set(SM_ETYPE, "\"%s\" is now a %s, not a %s", p->name, reply->u.ref.type, p->type);
  else if (!(b = binding_new(reply->u.ref.id, served.instance)))
    rc = err_set(SM_ENOMEM, "out of memory");
  sm_value_free(reply);
  if (rc != SM_OK) return rc;
  /* Other threads may publish theirs meanwhile: chain onto whatever is
   * current, so every binding stays reachable until proxy_free. */
  proxy_binding *cur = __atomic_load_n(&p->bind, __ATOMIC_ACQUIRE);
  do
    b->older = cur;
  while (
      !__atomic_compare_exchange_n(&p->bind, &cur, b, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
  *out = b;
  return SM_OK;
}

int proxy_binding_now(sm_proxy *p, const proxy_binding **out) {
  uint64_t instance = 0;
  int rc = client_thread_instance(p->client, &instance); /* a lost connection is replaced now */
  if (rc != SM_OK) return rc;
  const proxy_binding *b = binding_load(p);
  if (b->instance == instance) {
    *out = b;
    return SM_OK;
  }
  if (p->name) return proxy_find_again(p, out);
  return err_set(SM_ESTALE,
                 "%s %" PRIu64 " belonged to an earlier daemon (instance %016" PRIx64
                 "); %s is instance %016" PRIx64 " now, where that object does not exist",
                 p->type, b->id, b->instance, sm_client_url(p->client), instance);
}

int proxy_guard_id(sm_proxy *guard, uint64_t *id) {
  if (!guard) return err_set(SM_EINVAL, "a fencing guard needs a lock, rlock or semaphore proxy");
  const proxy_binding *b = NULL;
  int rc = proxy_binding_now(guard, &b);
  if (rc == SM_OK) *id = b->id;
  return rc;
}

const char *owner_policy_name(sm_owner_policy p) {
  switch (p) {
  case SM_OWNER_RELEASE: return "release";
  case SM_OWNER_BREAK: return "break";
  case SM_OWNER_KEEP: return "keep";
  default: return NULL;
  }
}

int sm_proxy_set_guard(sm_proxy *p, sm_proxy *guard, uint64_t token) {
  PROXY_REQUIRE(p);
  uint64_t id = 0;
  int rc = guard ? proxy_guard_id(guard, &id) : SM_OK;
  if (rc != SM_OK) return rc;
  p->guard_object = id;
  p->guard_token = guard ? token : 0;
  return SM_OK;
}

/* proxy_invoke and proxy_invoke_timed (timed false: no deadline sent). */
static int invoke(sm_proxy *p, const char *method, const sm_value *const *args, size_t nargs,
                  bool timed, int64_t timeout_ms, sm_value **result) {
  int64_t deadline = 0; /* of the wait for a leader (client_redirect_again) */
  for (int attempt = 0;; attempt++) {
    const proxy_binding *b = NULL;
    int rc = proxy_binding_now(p, &b);
    if (rc == SM_OK) {
      client_target to = {b->id, p->type_code, p->guard_object, p->guard_token};
      if (timed)
        rc = client_invoke_timed(p->client, &to, method, args, nargs, timeout_ms, result);
      else
        rc = client_invoke(p->client, CLIENT_THREAD, &to, method, args, nargs, result, NULL);
    }
    /* Sent again only when it never left a dropped connection, or a member
     * of a group answered REDIRECT (not applied): once, and then while
     * members answer REDIRECT (an election), up to the failover timeout. */
    bool lost = rc == SM_ECLOSED || rc == SM_EREDIRECT;
    if (!lost || !client_last_unsent()) return rc;
    if (attempt > 0 && !(rc == SM_EREDIRECT && client_redirect_again(p->client, &deadline)))
      return rc;
  }
}

int proxy_invoke(sm_proxy *p, const char *method, const sm_value *const *args, size_t nargs,
                 sm_value **result) {
  return invoke(p, method, args, nargs, false, -1, result);
}

int proxy_invoke_timed(sm_proxy *p, const char *method, const sm_value *const *args, size_t nargs,
                       int64_t timeout_ms, sm_value **result) {
  return invoke(p, method, args, nargs, true, timeout_ms, result);
}

/* ---- result converters ---- */

int proxy_call_int(sm_proxy *p, const char *method, const sm_value *const *args, size_t nargs,
                   const char *fn, int64_t *out) {
  sm_value *r = NULL;
  int rc = proxy_invoke(p, method, args, nargs, &r);
  return rc == SM_OK ? proxy_result_int(r, fn, out) : rc;
}

int proxy_call_size(sm_proxy *p, const char *method, const sm_value *const *args, size_t nargs,
                    const char *fn, size_t *out) {
  sm_value *r = NULL;
  int rc = proxy_invoke(p, method, args, nargs, &r);
  return rc == SM_OK ? proxy_result_size(r, fn, out) : rc;
}

int proxy_call_bool(sm_proxy *p, const char *method, const sm_value *const *args, size_t nargs,
                    const char *fn, bool *out) {
  sm_value *r = NULL;
  int rc = proxy_invoke(p, method, args, nargs, &r);
  return rc == SM_OK ? proxy_result_bool(r, fn, out) : rc;
}

int proxy_scan(sm_proxy *p, uint64_t cursor, size_t count, const char *fn, uint64_t *next,
               sm_value **page) {
  sm_value args[2];
  int rc = client_scan_args(cursor, count, fn, args);
  if (rc != SM_OK) return rc;
  const sm_value *argv[2] = {&args[0], &args[1]};
  sm_value *reply = NULL;
  rc = proxy_invoke(p, "scan", argv, 2, &reply);
  return rc == SM_OK ? client_result_page(reply, fn, next, page) : rc;
}

static int kind_mismatch(sm_value *v, const char *fn, const char *want) {
  int rc =
      err_set(SM_ETYPE, "%s: the value is %s, not %s", fn, val_kind_name(sm_value_type(v)), want);
  sm_value_free(v);
  return rc;
}

int proxy_result_int(sm_value *v, const char *fn, int64_t *out) {
  if (sm_value_type(v) != SM_INT) return kind_mismatch(v, fn, "an int");
  *out = v->u.i;
  sm_value_free(v);
  return SM_OK;
}

int proxy_result_size(sm_value *v, const char *fn, size_t *out) {
  if (sm_value_type(v) != SM_INT || v->u.i < 0) return kind_mismatch(v, fn, "a count");
  *out = (size_t)v->u.i;
  sm_value_free(v);
  return SM_OK;
}

int proxy_result_bool(sm_value *v, const char *fn, bool *out) {
  if (sm_value_type(v) != SM_BOOL) return kind_mismatch(v, fn, "a bool");
  *out = v->u.b;
  sm_value_free(v);
  return SM_OK;
}

int proxy_result_double(sm_value *v, const char *fn, double *out) {
  sm_type t = sm_value_type(v);
  if (t != SM_DOUBLE && t != SM_INT) return kind_mismatch(v, fn, "a number");
  *out = sm_value_as_double(v);
  sm_value_free(v);
  return SM_OK;
}

int proxy_result_str(sm_value *v, const char *fn, char **out) {
  if (sm_value_type(v) != SM_STR) return kind_mismatch(v, fn, "a str");
  /* Hand over the string buffer itself: it is a malloc'ed NUL-terminated
   * copy already. */
  *out = v->u.s.p;
  v->u.s.p = NULL;
  sm_value_free(v);
  return SM_OK;
}

/* ---- the public generic proxy ---- */

uint64_t sm_proxy_id(const sm_proxy *p) { return p ? binding_load(p)->id : 0; }
const char *sm_proxy_type(const sm_proxy *p) { return p ? p->type : NULL; }
const char *sm_proxy_name(const sm_proxy *p) { return p ? p->name : NULL; }

/* A new ref value (caller frees with sm_value_free()), or NULL. */
sm_value *sm_proxy_ref(const sm_proxy *p) {
  return p ? val_ref_new(binding_load(p)->id, p->type, strlen(p->type)) : NULL;
}

/* A new "type:id" string (caller frees with sm_free()), or NULL. */
char *sm_proxy_token(const sm_proxy *p) {
  if (!p) return NULL;
  size_t n = strlen(p->type) + 24;
  char *s = malloc(n);
  if (s) snprintf(s, n, "%s:%" PRIu64, p->type, binding_load(p)->id);
  return s;
}

int sm_proxy_from_token(sm_client *c, const char *token, sm_proxy **out) {
  return proxy_open_token(c, token, NULL, sizeof(sm_proxy), out);
}

int sm_proxy_from_ref(sm_client *c, const sm_value *ref, sm_proxy **out) {
  return proxy_open_ref(c, ref, NULL, sizeof(sm_proxy), out);
}

void sm_proxy_free(sm_proxy *p) { proxy_free(p); }
