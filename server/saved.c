/* SPDX-License-Identifier: MIT */
/* saved.c - the helpers of the types' save and load hooks (saved.h). */
#include "saved.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool kind_fits(char want, vkind k) {
  switch (want) {
  case 'b': return k == VK_BOOL;
  case 'i': return k == VK_INT;
  case 's': return k == VK_STR;
  case 'l': return k == VK_LIST;
  case 'm': return k == VK_MAP;
  default: return true;
  }
}

int saved_fields(sm_span saved, const char *spec, vinfo *f, sm_span *raw, const char *what,
                 char *err, size_t errlen) {
  vinfo top;
  size_t want = strlen(spec), n = 0;
  if (vw_peek(saved, &top) != VW_OK || top.kind != VK_LIST) {
    snprintf(err, errlen, "a saved %s is not a list", what);
    return WS_VALUE_ERROR;
  }
  vw_iter it;
  sm_span item;
  vw_iter_init(&it, top.data);
  while (vw_list_next(&it, &item)) {
    if (n == want || vw_peek(item, &f[n]) != VW_OK) {
      n = want + 1;
      break;
    }
    if (raw) raw[n] = item;
    if (!kind_fits(spec[n], f[n].kind)) {
      snprintf(err, errlen, "field %zu of a saved %s has the wrong kind", n + 1, what);
      return WS_VALUE_ERROR;
    }
    n++;
  }
  if (n != want) {
    snprintf(err, errlen, "a saved %s has %s fields (%zu expected)", what,
             n < want ? "too few" : "too many", want);
    return WS_VALUE_ERROR;
  }
  return WS_OK;
}

/* Caller owns the array and its svals. */
int saved_svals(registry *reg, sm_span body, sval ***items, size_t *n, char *err, size_t errlen) {
  vw_iter it;
  sm_span item;
  size_t count = 0;
  vw_iter_init(&it, body);
  while (vw_list_next(&it, &item))
    count++;
  sval **arr = malloc((count ? count : 1) * sizeof *arr);
  if (!arr) goto oom;
  vw_iter_init(&it, body);
  for (size_t k = 0; vw_list_next(&it, &item); k++) {
    if (!(arr[k] = sval_restore(reg, item))) {
      while (k-- > 0)
        sval_free(reg, arr[k]);
      free(arr);
      goto oom;
    }
  }
  *items = arr;
  *n = count;
  return WS_OK;
oom:
  snprintf(err, errlen, "out of memory for %zu items", count);
  return WS_INTERNAL;
}

void saved_put_int(vbuf *out, int64_t v) {
  size_t item = vb_list_begin_item(out);
  vb_int(out, v);
  vb_list_end_item(out, item);
}

void saved_put_ints(vbuf *out, const int64_t *v, size_t n) {
  size_t item = vb_list_begin_item(out);
  size_t list = vb_list_begin(out);
  for (size_t i = 0; i < n; i++)
    saved_put_int(out, v[i]);
  vb_list_end(out, list);
  vb_list_end_item(out, item);
}

/* Caller frees *v. */
int saved_ints(sm_span body, size_t width, int64_t **v, size_t *n, const char *what, char *err,
               size_t errlen) {
  vw_iter it;
  sm_span item;
  vinfo vi;
  size_t count = 0;
  *v = NULL;
  *n = 0;
  vw_iter_init(&it, body);
  while (vw_list_next(&it, &item))
    count++;
  if (count % width != 0) {
    snprintf(err, errlen, "a saved %s has a table cut short", what);
    return WS_VALUE_ERROR;
  }
  if (count == 0) return WS_OK;
  int64_t *arr = malloc(count * sizeof *arr);
  if (!arr) {
    snprintf(err, errlen, "out of memory");
    return WS_INTERNAL;
  }
  size_t i = 0;
  vw_iter_init(&it, body);
  while (vw_list_next(&it, &item)) {
    if (vw_peek(item, &vi) != VW_OK || vi.kind != VK_INT) {
      free(arr);
      snprintf(err, errlen, "a saved %s has a table item that is not an int", what);
      return WS_VALUE_ERROR;
    }
    arr[i++] = vi.i;
  }
  *v = arr;
  *n = count;
  return WS_OK;
}

void saved_put_bool(vbuf *out, bool v) {
  size_t item = vb_list_begin_item(out);
  vb_bool(out, v);
  vb_list_end_item(out, item);
}

void saved_write_svals(vbuf *out, sval *const *items, size_t n) {
  size_t item = vb_list_begin_item(out), m = vb_list_begin(out);
  for (size_t i = 0; i < n; i++)
    vb_list_item(out, sval_span(items[i]));
  vb_list_end(out, m);
  vb_list_end_item(out, item);
}

int saved_status(const vbuf *out) { return out->failed ? WS_INTERNAL : WS_OK; }
