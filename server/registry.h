/* registry.h - every object the daemon owns, by id and by name.
 *
 * Named objects are get-or-create and live until deleted. Anonymous objects
 * are counted: each connection's handles and each stored ObjRef hold one
 * reference; when the count reaches zero the object is destroyed. Freeing is
 * iterative (a pending list), so a long chain of objects holding each other
 * never recurses deeply. Ids are never reused, so a stale reference finds
 * nothing rather than another object. */
#ifndef SM_SERVER_REGISTRY_H
#define SM_SERVER_REGISTRY_H

#include "object.h"

#include <stddef.h>
#include <stdint.h>

/* Creates an empty registry with the built-in types. NULL when out of
 * memory. Free with reg_free(). */
registry *reg_new(void);
/* Destroys every object and the registry; NULL is fine. */
void reg_free(registry *reg);

/* Adds a type; the table is borrowed and must outlive the registry. Returns
 * 0, or -1 when the name is taken or memory runs out. */
int reg_add_type(registry *reg, const obj_type *t);
const obj_type *reg_type(const registry *reg, const char *name);

sm_obj *reg_get(const registry *reg, uint64_t id);
sm_obj *reg_get_named(const registry *reg, const char *name);

/* Creates an object of type t: named (get-or-create; *created tells which) or
 * anonymous (name NULL, born with one reference for the caller). Creation
 * arguments are c->args. Returns WS_OK with *out set, WS_TYPE_ERROR when the
 * name exists with another type, or the type's create error. */
int reg_create(registry *reg, const obj_type *t, const char *name, call *c, sm_obj **out,
               bool *created);

/* Reference counting; both are no-ops on named objects. */
void reg_incref(registry *reg, sm_obj *o);
void reg_decref(registry *reg, sm_obj *o);

/* Destroys an object now, whatever holds it (named delete). */
void reg_destroy(registry *reg, sm_obj *o);

/* Checks that every ObjRef inside a validated value names a live object of
 * the stated type. Returns WS_OK, or WS_NOT_FOUND / WS_TYPE_ERROR with err
 * filled. */
int reg_check_refs(const registry *reg, sm_span v, char *err, size_t errlen);

/* Calls cb for each object in creation order. */
void reg_foreach(const registry *reg, void (*cb)(void *ctx, sm_obj *o), void *ctx);

size_t reg_count(const registry *reg);

/* The parking state of the registry (blocked.h), kept by blocked.c: the
 * event loop of waiter timers, the signalled objects, the parked count. */
struct blk_state;
struct blk_state *reg_blk(registry *reg);

#endif
