/* SPDX-License-Identifier: MIT */
/* cycles.h - collecting anonymous objects that only hold each other.
 *
 * Reference counting frees an anonymous object when its last holder goes,
 * but not a dict that holds a ref to itself, nor two lists holding each
 * other: their counts never reach zero. This is trial deletion (Bacon and
 * Rajan's synchronous cycle collection, as CPython's gc does it):
 *
 *  - a suspect is an anonymous object whose count fell but stayed above
 *    zero (reg_decref calls cyc_suspect); only types that hold references
 *    (a traverse hook in their obj_type) can be in a cycle, so only they
 *    are suspected;
 *  - a batch runs on the event loop CYC_DELAY_MS after the first suspect,
 *    never inside a request. It takes the suspects and every anonymous
 *    object they reach, and subtracts from each object's count the
 *    references held inside that graph. What keeps a count above zero is
 *    held from outside: by a connection's proxy, a named object's value,
 *    a condition. Those, and everything they reach, live;
 *  - what is left is held only from inside: garbage, destroyed at once
 *    (reg_destroy_set) like an object whose count reached zero, so calls
 *    parked on it are answered NOT_FOUND.
 *
 * Named objects are roots: never suspected, never entered, so nothing a
 * named object holds is ever freed by a batch. An item of a parked queue
 * put is not traversed: it stays with its caller until it is queued, so
 * what it refers to counts as held from outside. */
#ifndef SM_SERVER_CYCLES_H
#define SM_SERVER_CYCLES_H

#include "object.h"

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct event;

/* Delay between the first suspect and its batch: at most ten batches a
 * second, however many objects are suspected. */
#define CYC_DELAY_MS 100

typedef struct cycles {
  registry *reg;     /**< the registry collected (back pointer) */
  sm_obj **suspects; /**< owned array; each object's cyc_slot is 1 + its index */
  size_t n_suspects, cap_suspects;
  struct event_base *base; /**< the loop batches run on; NULL: only cyc_collect */
  struct event *ev;        /**< owned; pending while suspects wait */
  uint64_t collections;    /**< batches run */
  uint64_t collected;      /**< objects they freed */
  bool running;            /**< a batch is on the stack */
} cycles;

/* Records o (anonymous, of a type with a traverse hook, count > 0) as a
 * suspect, once, and arms the batch timer. Out of memory: o is not
 * recorded (it stays alive: nothing wrong is freed). */
void cyc_suspect(cycles *cy, sm_obj *o);

/* Forgets o, which is being freed. */
void cyc_forget(cycles *cy, sm_obj *o);

/* Runs a batch now over the suspects. Returns the number of objects freed. */
size_t cyc_collect(cycles *cy);

/* Sets the loop for the batch timer (NULL: batches run only through
 * cyc_collect, as in unit tests and the fuzzer, and on a member of a
 * replicated group that does not lead, which frees only what its leader's
 * logged batches free). Suspects already waiting get a batch soon. */
void cyc_set_base(cycles *cy, struct event_base *base);

/* Drops every suspect and frees the timer and the array (the registry is
 * being freed). */
void cyc_release(cycles *cy);

#endif
