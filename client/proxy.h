/* SPDX-License-Identifier: MIT */
/* proxy.h - the generic proxy that every typed family (dict.c, list.c,
 * var.c, ns.c) builds on.
 *
 * A typed proxy is a struct whose first and only member is an sm_proxy
 * (struct sm_dict { sm_proxy p; }), allocated by proxy_create/proxy_open
 * with the typed struct's size, so a pointer to one converts to the other.
 * A new family defines that struct, opens with its daemon type name, and
 * maps each API function to a method with proxy_invoke. */
#ifndef SM_CLIENT_PROXY_H
#define SM_CLIENT_PROXY_H

#include "errors.h"
#include "statemgr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Which object a proxy addresses: its id, and the daemon instance that id
 * belongs to. Never changed once published: a named proxy that finds its
 * object again on another instance publishes a new binding and keeps the
 * old ones (older) until proxy_free, so a thread still reading one is
 * safe. */
typedef struct proxy_binding {
  uint64_t id;
  uint64_t instance;           /**< from the handshake of the connection that found id */
  struct proxy_binding *older; /**< owned: the bindings this one replaced */
} proxy_binding;

struct sm_proxy {
  sm_client *client;     /**< borrowed: the client outlives its proxies */
  proxy_binding *bind;   /**< owned; read and replaced atomically (proxy_binding) */
  char *type;            /**< owned daemon type name */
  uint32_t type_code;    /**< wire_type_code(type): sent with every call, checked by the daemon */
  char *name;            /**< owned; NULL when anonymous or opened by ref/token */
  bool holds_ref;        /**< this process took a reference to give back */
  uint64_t epoch;        /**< the holder connection that holds that reference */
  sm_value *init;        /**< named: owned copy of the creation arguments (an SM_LIST), to
                              create the object again in a restarted daemon; NULL: none */
  sm_value *opts;        /**< named: owned copy of the create_with options (an SM_MAP), for
                              the same; NULL: created with plain create */
  uint64_t guard_object; /**< sm_proxy_set_guard: fencing guard of every call (0: none) */
  uint64_t guard_token;
};

/* Returns SM_EINVAL from the calling function when cond is false. */
#define PROXY_REQUIRE(cond)                                                                        \
  do {                                                                                             \
    if (!(cond)) return err_set(SM_EINVAL, "%s: NULL or invalid argument", __func__);              \
  } while (0)

/* PROXY_CALL(tp, "method", &result or NULL, arg...) calls method on the
 * typed proxy tp with borrowed argument values (NULL encodes nil). */
#define PROXY_ARGS(...) ((const sm_value *const[]){__VA_ARGS__})
#define PROXY_NARGS(...) (sizeof PROXY_ARGS(__VA_ARGS__) / sizeof(const sm_value *))
#define PROXY_CALL(tp, method, result, ...)                                                        \
  proxy_invoke(&(tp)->p, method, PROXY_ARGS(__VA_ARGS__), PROXY_NARGS(__VA_ARGS__), result)

/* Gets or creates the object called name (NULL: a new anonymous one) of the
 * daemon type, with the creation argument initial (NULL: none). Allocates
 * size bytes (the typed struct) with the proxy at the start: *out is freed
 * with proxy_free(). out must not be NULL (the typed caller checks its
 * own). Returns 0 or an SM_E* code. */
int proxy_create(sm_client *c, const char *type, const char *name, const sm_value *initial,
                 size_t size, sm_proxy **out);

/* As proxy_create with several creation arguments (init[0..ninit), each
 * borrowed; NULL encodes nil), for types whose creation takes more than one
 * (docs/protocol.md, "Blocking calls"). */
int proxy_create_args(sm_client *c, const char *type, const char *name, const sm_value *const *init,
                      size_t ninit, size_t size, sm_proxy **out);

/* As proxy_create_args with create_with's options (an SM_MAP, borrowed;
 * NULL: none, a plain create; lifetime.c builds it from sm_open_options).
 * An object made ephemeral is created over the holder connection, whose
 * session lasts as long as the client, not over the calling thread's. */
int proxy_create_with(sm_client *c, const char *type, const char *name, const sm_value *opts,
                      bool ephemeral, const sm_value *const *init, size_t ninit, size_t size,
                      sm_proxy **out);

/* Opens the object a ref value names; want (may be NULL: any) is the
 * daemon type the caller expects (SM_ETYPE otherwise). As proxy_create. */
int proxy_open_ref(sm_client *c, const sm_value *ref, const char *want, size_t size,
                   sm_proxy **out);

/* The same for a "type:id" token (SM_EINVAL when malformed). */
int proxy_open_token(sm_client *c, const char *token, const char *want, size_t size,
                     sm_proxy **out);

/* Gives back the reference (when this process holds one) and frees p and
 * the typed struct around it. NULL is fine. */
void proxy_free(sm_proxy *p);

/* What the next call on p over the calling thread's connection addresses
 * (borrowed: valid until proxy_free). When that connection reached another
 * daemon instance than p's object belongs to (the daemon restarted), a
 * named proxy first finds its object again by name (get-or-create, with
 * its creation arguments); any other proxy gets SM_ESTALE, since its object
 * died with the earlier daemon. Returns 0 or an SM_E* code with the
 * thread's last error set. */
int proxy_binding_now(sm_proxy *p, const proxy_binding **out);

/* The object id a guard proxy names now, for a fencing guard (fence
 * functions of client.c, proxy.c, pipeline.c). Returns 0 or an SM_E* code
 * (SM_EINVAL for NULL). */
int proxy_guard_id(sm_proxy *guard, uint64_t *id);

/* The daemon's name of an owner-death policy ("release", "break", "keep");
 * NULL for a value that is none. Static. */
const char *owner_policy_name(sm_owner_policy p);

/* Calls method on the object over the calling thread's connection; as
 * client_invoke, after proxy_binding_now (SM_ESTALE for an object of an
 * earlier daemon), with the proxy's type code for the daemon to check. A
 * call that never left a dropped connection goes out once more; a call
 * that was sent is never repeated. */
int proxy_invoke(sm_proxy *p, const char *method, const sm_value *const *args, size_t nargs,
                 sm_value **result);

/* As proxy_invoke for a blocking method, with its deadline (timeout_ms < 0:
 * wait forever, 0: do not block, > 0: the daemon's deadline); see
 * client_invoke_timed. */
int proxy_invoke_timed(sm_proxy *p, const char *method, const sm_value *const *args, size_t nargs,
                       int64_t timeout_ms, sm_value **result);

/* PROXY_CALL_TIMED(tp, "method", timeout_ms, &result or NULL, arg...). */
#define PROXY_CALL_TIMED(tp, method, timeout_ms, result, ...)                                      \
  proxy_invoke_timed(&(tp)->p, method, PROXY_ARGS(__VA_ARGS__), PROXY_NARGS(__VA_ARGS__),          \
                     timeout_ms, result)

/* Result converters for typed helpers. Each takes ownership of v (a call's
 * result) and frees it; on a kind mismatch it returns SM_ETYPE with a text
 * naming fn, and leaves *out untouched. */
/* Calls method on p and converts its result, as proxy_invoke followed by
 * the matching proxy_result_*; fn names the public function in errors. */
int proxy_call_int(sm_proxy *p, const char *method, const sm_value *const *args, size_t nargs,
                   const char *fn, int64_t *out);
int proxy_call_size(sm_proxy *p, const char *method, const sm_value *const *args, size_t nargs,
                    const char *fn, size_t *out);
int proxy_call_bool(sm_proxy *p, const char *method, const sm_value *const *args, size_t nargs,
                    const char *fn, bool *out);

/* Calls a scan method (docs/protocol.md) on p: one page from cursor, count
 * a hint (0: the daemon's default); *next receives the following cursor (0
 * at the end), *page the page (caller frees with sm_value_free()). fn names
 * the public function in errors. */
int proxy_scan(sm_proxy *p, uint64_t cursor, size_t count, const char *fn, uint64_t *next,
               sm_value **page);

int proxy_result_int(sm_value *v, const char *fn, int64_t *out);
int proxy_result_size(sm_value *v, const char *fn, size_t *out);
int proxy_result_bool(sm_value *v, const char *fn, bool *out);
/* Ints convert too. */
int proxy_result_double(sm_value *v, const char *fn, double *out);
/* *out: a copy (caller frees with sm_free()). */
int proxy_result_str(sm_value *v, const char *fn, char **out);

#endif
