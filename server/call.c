/* SPDX-License-Identifier: MIT */
/* call.c - the helpers every method uses to check and read its arguments
 * and to report failures (declared in object.h). */
#include "object.h"

#include <stdio.h>
#include <string.h>

int call_fail(call *c, int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->err, sizeof c->err, fmt, ap);
  va_end(ap);
  return status;
}

int call_nargs(call *c, size_t min, size_t max) {
  if (c->nargs >= min && c->nargs <= max) return WS_OK;
  if (min == max)
    return call_fail(c, WS_VALUE_ERROR, "expected %zu argument%s, got %zu", min,
                     min == 1 ? "" : "s", c->nargs);
  if (max == SIZE_MAX)
    return call_fail(c, WS_VALUE_ERROR, "expected at least %zu argument%s, got %zu", min,
                     min == 1 ? "" : "s", c->nargs);
  return call_fail(c, WS_VALUE_ERROR, "expected %zu to %zu arguments, got %zu", min, max, c->nargs);
}

int call_arity(call *c, const method_def *m) {
  if (!(m->flags & METHOD_ARITY)) return WS_OK;
  return call_nargs(c, method_min_args(m), method_max_args(m));
}

void call_arg(const call *c, size_t i, vinfo *vi) {
  if (vw_peek(c->args[i], vi) != VW_OK) vi->kind = VK_NIL; /* never for validated args */
}

int call_arg_int(call *c, size_t i, int64_t *out) {
  vinfo vi;
  call_arg(c, i, &vi);
  if (vi.kind != VK_INT)
    return call_fail(c, WS_TYPE_ERROR, "argument %zu must be an int, not %s", i + 1,
                     call_kind_name(vi.kind));
  *out = vi.i;
  return WS_OK;
}

int call_arg_bool(call *c, size_t i, bool *out) {
  vinfo vi;
  call_arg(c, i, &vi);
  if (vi.kind == VK_BOOL) {
    *out = vi.b;
    return WS_OK;
  }
  if (vi.kind == VK_INT && (vi.i == 0 || vi.i == 1)) {
    *out = vi.i == 1;
    return WS_OK;
  }
  return call_fail(c, WS_TYPE_ERROR, "argument %zu must be a bool, not %s", i + 1,
                   call_kind_name(vi.kind));
}

int call_arg_key(call *c, size_t i) {
  vinfo vi;
  call_arg(c, i, &vi);
  if (vi.kind == VK_LIST || vi.kind == VK_MAP)
    return call_fail(c, WS_TYPE_ERROR, "unhashable key of kind %s", call_kind_name(vi.kind));
  return WS_OK;
}

const char *call_kind_name(vkind k) {
  static const char *const names[] = {"nil",   "bool", "int", "double", "str",
                                      "bytes", "list", "map", "ref"};
  return (size_t)k < sizeof names / sizeof names[0] ? names[k] : "unknown";
}

/* Borrowed from the type's static table. */
const method_def *type_method(const obj_type *t, const char *name) {
  for (size_t i = 0; i < t->n_methods; i++)
    if (strcmp(t->methods[i].name, name) == 0) return &t->methods[i];
  return NULL;
}
