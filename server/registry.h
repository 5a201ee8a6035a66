/* SPDX-License-Identifier: MIT */
/* registry.h - every object the daemon owns, by id and by name.
 *
 * Named objects are get-or-create and live until deleted. Anonymous objects
 * are counted: each session's handles (session.h) and each stored ObjRef hold one
 * reference; when the count reaches zero the object is destroyed, and
 * groups that only hold each other are found by the cycle collector
 * (cycles.h). Freeing is iterative (a pending list), so a long chain of
 * objects holding each other never recurses deeply. The registry also keeps
 * the data's memory account (memory.h).
 *
 * Ids are never reused, not even across runs of the daemon, so a stale
 * reference finds nothing rather than another object. A registry gives out
 * ids one after the other from the first id reg_begin_ids() sets. The
 * daemon takes that from the wall clock (reg_first_id_at): a run started
 * later begins above every id an earlier run gave out, unless that run
 * created more than 2^REG_ID_CLOCK_SHIFT objects per millisecond it lived
 * (a rate no daemon reaches) or the clock went back between the runs (the
 * client's check of the daemon's instance still catches proxies then). An
 * id below the first that names no object belonged to an earlier run
 * (reg_id_stale). The registry reads no clock itself: creating objects
 * stays deterministic. */
#ifndef SM_SERVER_REGISTRY_H
#define SM_SERVER_REGISTRY_H

#include "object.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Creates an empty registry with the built-in types. NULL when out of
 * memory. Free with reg_free(). */
registry *reg_new(void);
/* Destroys every object and the registry; NULL is fine. */
void reg_free(registry *reg);

/* Adds a type; the table is borrowed and must outlive the registry. Returns
 * 0, or -1 when the name is taken, its type code is another type's (a hash
 * collision: rename the type), or memory runs out. */
int reg_add_type(registry *reg, const obj_type *t);
const obj_type *reg_type(const registry *reg, const char *name);

/* The type whose type code (wire_type_code of its name) is code, or NULL.
 * No two types of a registry share a code (reg_add_type refuses). */
const obj_type *reg_type_by_code(const registry *reg, uint32_t code);

/* Ids start at 2^REG_ID_CLOCK_SHIFT per millisecond of the Unix epoch. */
#define REG_ID_CLOCK_SHIFT 20
/* The first id of a run started at unix_ms (milliseconds since the epoch):
 * unix_ms << REG_ID_CLOCK_SHIFT, which stays below 2^62 until 2109 (ids
 * travel as int64 too, in "release" and "ls"). */
uint64_t reg_first_id_at(int64_t unix_ms);
/* Sets where this run's ids start. Ids only ever go up: objects already in
 * the registry keep theirs, and new ones come above both them and first. */
void reg_begin_ids(registry *reg, uint64_t first);
/* True when id names no object because an earlier run gave it out (or
 * nobody did): it is below this run's first id. */
bool reg_id_stale(const registry *reg, uint64_t id);

/* The id the next object gets (what a snapshot keeps, snapshot.h). */
uint64_t reg_next_id(const registry *reg);
/* Raises the id the next object gets to next (loading a snapshot); ids
 * never go down. */
void reg_set_next_id(registry *reg, uint64_t next);

/* Puts an object a snapshot kept back as it was: id, type t, name (copied;
 * NULL: anonymous), reference count refs (holders and stored refs, not
 * counted again) and state, which it takes over on success. Objects must
 * come in creation order; the next id rises above id. Counts the object's
 * memory (no limit applies: the data was there before), and makes an
 * anonymous one a suspect of the cycle collector. Returns WS_OK
 * with *out set (may be NULL), or WS_VALUE_ERROR (id 0, an id or a name
 * already there, an anonymous object that nothing holds) or WS_INTERNAL
 * (out of memory) with err filled; the state then stays the caller's. */
int reg_restore(registry *reg, const obj_type *t, uint64_t id, const char *name, uint64_t refs,
                void *state, sm_obj **out, char *err, size_t errlen);

/* The longest name of a named object, in bytes. */
#define NAME_MAX_LEN 1024

sm_obj *reg_get(const registry *reg, uint64_t id);
sm_obj *reg_get_named(const registry *reg, const char *name);

/* Creates an object of type t: named (get-or-create; *created tells which) or
 * anonymous (name NULL, born with one reference for the caller). Creation
 * arguments are c->args. Returns WS_OK with *out set, WS_TYPE_ERROR when the
 * name exists with another type, WS_OUT_OF_MEMORY when a new object would
 * pass the memory limit (opening an existing name never does), or the
 * type's create error. */
int reg_create(registry *reg, const obj_type *t, const char *name, call *c, sm_obj **out,
               bool *created);

/* Reference counting; both are no-ops on named objects. A decref that
 * leaves an object of a type holding references still counted makes it a
 * suspect of the cycle collector (cycles.h). */
void reg_incref(registry *reg, sm_obj *o);
void reg_decref(registry *reg, sm_obj *o);

/* The object id when the stored value v is a ref, else 0 (no object has
 * id 0): a dict key or a set element that is a ref holds a reference. */
uint64_t reg_ref_id(sm_span v);
/* Takes (hold) or gives back the reference on object id; id 0 is none. */
void reg_ref_hold(registry *reg, uint64_t id, bool hold);

/* Gives back a reference taken only for the length of a call (dispatch
 * holds the target while its method runs): as reg_decref, but suspects
 * nothing, since a balanced hold cannot leave a cycle behind. */
void reg_unpin(registry *reg, sm_obj *o);

/* While a transaction runs (txn.c), objects whose count reaches zero are
 * queued, not freed, so a rollback can hold them again: reg_hold_frees
 * starts that, reg_release_frees frees those still at zero, each once. */
void reg_hold_frees(registry *reg);
void reg_release_frees(registry *reg);

/* Destroys an object now, whatever holds it (named delete). */
void reg_destroy(registry *reg, sm_obj *o);

/* Destroys n anonymous objects that hold only each other (the cycle
 * collector's garbage): all leave the tables first, so the references
 * among them are not given back one by one; references to other objects
 * are given back as usual. */
void reg_destroy_set(registry *reg, sm_obj **objs, size_t n);

/* Explains why id names no object: returns WS_STALE (an earlier run's id)
 * or WS_NOT_FOUND (deleted, or never given out), with err filled. */
int reg_missing(const registry *reg, uint64_t id, char *err, size_t errlen);

/* Checks that every ObjRef inside a validated value names a live object of
 * the stated type. Returns WS_OK, or WS_NOT_FOUND / WS_STALE /
 * WS_TYPE_ERROR with err filled. */
int reg_check_refs(const registry *reg, sm_span v, char *err, size_t errlen);

/* Calls cb for each object in creation order. */
void reg_foreach(const registry *reg, void (*cb)(void *ctx, sm_obj *o), void *ctx);

size_t reg_count(const registry *reg);

/* Cursor iteration in creation order (the manager's ls_scan), with the
 * insertion numbers of htab.h: reg_scan_end is the number the next object
 * will get (where a scan starting now ends); reg_seek gives the position
 * of insertion number from; reg_next_before returns the object at *pos and
 * advances it, false at the end or at an object numbered end or later;
 * reg_cursor is the number of the first object from pos on, 0 when none is
 * left. Nothing may be destroyed between reg_seek and the last
 * reg_next_before of one page. */
uint64_t reg_scan_end(const registry *reg);
size_t reg_seek(const registry *reg, uint64_t from);
bool reg_next_before(const registry *reg, size_t *pos, uint64_t end, sm_obj **o);
uint64_t reg_cursor(const registry *reg, size_t pos);

/* The event loop of the memory trim timer and of cycle batches; NULL (the
 * default) in unit tests, where neither runs. */
struct event_base;
void reg_set_base(registry *reg, struct event_base *base);

/* The data's accounting and limit (memory.h); lives with the registry. */
struct memacct;
struct memacct *reg_mem(registry *reg);

/* Where a transaction's watch notes wait (watch.h, wch_batch_begin);
 * NULL outside one. Lives with the registry, kept by watch.c. */
struct wch_batch;
struct wch_batch **reg_wbatch(registry *reg);

/* The cycle collector (cycles.h); lives with the registry. */
struct cycles;
struct cycles *reg_cycles(registry *reg);

/* Re-measures o's state with its type's mem_size hook and adjusts the
 * count; dispatch calls it after every mutating call on o. */
void reg_measure(registry *reg, sm_obj *o);

/* The parking state of the registry (blocked.h), kept by blocked.c: the
 * event loop of waiter timers, the signalled objects, the parked count. */
struct blk_state;
struct blk_state *reg_blk(registry *reg);

/* What each session holds (session.h), kept by session.c. */
struct sess_table;
struct sess_table *reg_sessions(registry *reg);

/* The expiry index and its active cycle (expire.h), kept by expire.c. */
struct exp_index;
struct exp_index *reg_expiry(registry *reg);

/* Where the registry's commands go (cmd.h), kept by cmd.c. */
struct cmd_state;
struct cmd_state *reg_cmd(registry *reg);

#endif
