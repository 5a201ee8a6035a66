/* SPDX-License-Identifier: MIT */
/* t_custom.h - custom types: the adapter between the public sm_type_def of
 * statemgr_server.h and the registry's obj_type.
 *
 * The server builds one obj_type per registered definition with
 * custom_type_new(), adds it to its registry and frees it with
 * custom_type_free() after the registry (whose objects point at it). */
#ifndef SM_SERVER_T_CUSTOM_H
#define SM_SERVER_T_CUSTOM_H

#include "object.h"
#include "statemgr_server.h"

/* Checks a definition: a name of 1..63 bytes, and every method with a
 * non-empty name and a callback. Returns 0 or SM_EINVAL. */
int custom_type_check(const sm_type_def *def);

/* The registry type for def (borrowed; must outlive the result). Caller
 * frees with custom_type_free() once no object of the type is left. NULL
 * when out of memory. */
obj_type *custom_type_new(const sm_type_def *def);

/* Frees what custom_type_new built; NULL is fine. */
void custom_type_free(obj_type *t);

#endif
