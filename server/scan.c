/* SPDX-License-Identifier: MIT */
/* scan.c - the arguments, page bound and answer of every scan method
 * (scan.h). */
#include "scan.h"

#include "dispatch.h"
#include "htab.h"
#include "sval.h"

#include <inttypes.h>
#include <string.h>

int scan_begin(call *c, size_t max_args, scan_page *pg) {
  memset(pg, 0, sizeof *pg);
  int rc = call_nargs(c, 1, max_args);
  int64_t cursor = 0;
  if (rc == WS_OK) rc = call_arg_int(c, 0, &cursor);
  if (rc != WS_OK) return rc;
  if (cursor < 0) return call_fail(c, WS_VALUE_ERROR, "the cursor must be 0 or one scan returned");
  pg->cursor = (uint64_t)cursor;
  pg->count = SCAN_COUNT_DEFAULT;
  vinfo vi = {.kind = VK_NIL};
  if (c->nargs > 1) call_arg(c, 1, &vi);
  if (vi.kind == VK_INT) {
    if (vi.i < 1 || vi.i > SCAN_COUNT_MAX)
      return call_fail(c, WS_VALUE_ERROR, "count must be 1 to %d, not %" PRId64, SCAN_COUNT_MAX,
                       vi.i);
    pg->count = (size_t)vi.i;
  } else if (vi.kind != VK_NIL) {
    return call_fail(c, WS_TYPE_ERROR, "count must be an int or nil, not %s",
                     call_kind_name(vi.kind));
  }
  pg->budget = dispatch_answer_limit(c->conn) / 2;
  vb_init(&pg->items);
  pg->mark = vb_list_begin(&pg->items);
  return WS_OK;
}

bool scan_room(const scan_page *pg, size_t bytes) {
  if (pg->n >= pg->count) return false;
  return pg->n == 0 || (pg->items.len + bytes <= pg->budget && bytes <= pg->budget);
}

int scan_end(call *c, scan_page *pg, uint64_t next) {
  vb_list_end(&pg->items, pg->mark);
  bool failed = pg->items.failed;
  if (!failed) {
    size_t m = vb_list_begin(c->out), item = vb_list_begin_item(c->out);
    vb_int(c->out, (int64_t)next);
    vb_list_end_item(c->out, item);
    vb_list_item(c->out, vb_span(&pg->items));
    vb_list_end(c->out, m);
  }
  vb_free(&pg->items);
  return failed ? call_fail(c, WS_INTERNAL, "out of memory building a scan page") : WS_OK;
}

#define FROM_BITS 47
#define D_BITS 10
#define FROM_MASK (((uint64_t)1 << FROM_BITS) - 1)
#define D_MAX (((uint64_t)1 << D_BITS) - 1)

scan_range scan_range_of(const scan_page *pg, uint64_t next_seq) {
  if (pg->cursor == 0) return (scan_range){0, next_seq};
  uint64_t from = pg->cursor & FROM_MASK, d = (pg->cursor >> FROM_BITS) & D_MAX;
  unsigned s = (unsigned)(pg->cursor >> (FROM_BITS + D_BITS));
  if (s > FROM_BITS) s = FROM_BITS; /* not a cursor scan gave out: still a bounded range */
  return (scan_range){from, ((from >> s) + d) << s};
}

/* The cursor resuming at from within r (0: nothing left), as scan.h packs
 * it. Returns WS_OK, or WS_INTERNAL when from does not fit. */
static int range_cursor(call *c, const scan_range *r, uint64_t from, uint64_t *cursor) {
  *cursor = 0;
  if (from == 0 || from >= r->end) return WS_OK;
  if (from > FROM_MASK)
    return call_fail(c, WS_INTERNAL, "this object has had over 2^47 insertions: scan cannot go on");
  /* The smallest shift whose rounded-up end is within D_MAX steps of from;
   * an end already rounded with a larger shift stays exactly the same. */
  for (unsigned s = 0; s <= FROM_BITS; s++) {
    uint64_t end_units = (r->end + (((uint64_t)1 << s) - 1)) >> s;
    uint64_t d = end_units - (from >> s);
    if (d <= D_MAX) {
      *cursor = from | d << FROM_BITS | (uint64_t)s << (FROM_BITS + D_BITS);
      return WS_OK;
    }
  }
  return call_fail(c, WS_INTERNAL, "scan: no cursor for this range");
}

int scan_end_range(call *c, scan_page *pg, const scan_range *r, uint64_t from) {
  uint64_t next = 0;
  int rc = range_cursor(c, r, from, &next);
  if (rc == WS_OK) return scan_end(c, pg, next);
  scan_abort(pg);
  return rc;
}

void scan_abort(scan_page *pg) { vb_free(&pg->items); }

int scan_table(call *c, htab *h, scan_write_fn write) {
  scan_page pg;
  int rc = scan_begin(c, 2, &pg);
  if (rc != WS_OK) return rc;
  scan_range r = scan_range_of(&pg, h->next_seq);
  size_t pos = htab_seek(h, r.from), at = pos;
  sm_span k;
  void *v;
  while (htab_next_before(h, &pos, r.end, &k, &v)) {
    sm_span val = v ? sval_span(v) : (sm_span){NULL, 0};
    if (!scan_room(&pg, k.n + val.n + 16)) break;
    write(&pg.items, k, val);
    pg.n++;
    at = pos;
  }
  return scan_end_range(c, &pg, &r, htab_cursor(h, at));
}
