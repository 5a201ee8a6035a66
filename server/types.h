/* SPDX-License-Identifier: MIT */
/* types.h - the built-in object types, one t_<type>.c each. */
#ifndef SM_SERVER_TYPES_H
#define SM_SERVER_TYPES_H

#include "object.h"

extern const obj_type t_dict_type;              /* "dict" */
extern const obj_type t_list_type;              /* "list" */
extern const obj_type t_value_type;             /* "value" */
extern const obj_type t_namespace_type;         /* "namespace" */
extern const obj_type t_queue_type;             /* "queue" */
extern const obj_type t_lock_type;              /* "lock" */
extern const obj_type t_rlock_type;             /* "rlock" */
extern const obj_type t_semaphore_type;         /* "semaphore" */
extern const obj_type t_bounded_semaphore_type; /* "bounded_semaphore" */
extern const obj_type t_condition_type;         /* "condition" */
extern const obj_type t_event_type;             /* "event" */
extern const obj_type t_barrier_type;           /* "barrier" */
extern const obj_type t_array_type;             /* "array" */
extern const obj_type t_set_type;               /* "set" */

#endif
