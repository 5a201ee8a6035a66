/* types.h - the built-in object types, one t_<type>.c each. */
#ifndef SM_SERVER_TYPES_H
#define SM_SERVER_TYPES_H

#include "object.h"

extern const obj_type t_dict_type;      /* "dict" */
extern const obj_type t_list_type;      /* "list" */
extern const obj_type t_value_type;     /* "value" */
extern const obj_type t_namespace_type; /* "namespace" */

#endif
