/* SPDX-License-Identifier: MIT */
/* scan.h - what every cursor iteration method shares (dict, list and
 * namespace "scan", the manager's "ls_scan"): reading the cursor and the
 * count hint, bounding a page, and writing the answer [next cursor, page].
 *
 * Redis SCAN semantics: cursor 0 starts, a returned 0 ends, count is a hint
 * of how many elements a page holds. A page also stops early once its bytes
 * reach half the largest answer a client reads (dispatch_answer_limit), so
 * a page always fits a frame unless one element alone does not. Each type
 * decides what its cursor means (docs/protocol.md). A method using these:
 *
 *   scan_page pg;
 *   int rc = scan_begin(c, 2, &pg);
 *   if (rc != WS_OK) return rc;
 *   while (more elements && scan_room(&pg, bytes of the next one))
 *     write it to &pg.items, pg.n++;
 *   return scan_end(c, &pg, next cursor or 0);
 */
#ifndef SM_SERVER_SCAN_H
#define SM_SERVER_SCAN_H

#include "object.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCAN_COUNT_DEFAULT 100
#define SCAN_COUNT_MAX 1000000

typedef struct scan_page {
  uint64_t cursor; /* argument 0: where the page starts (0: the beginning) */
  size_t count;    /* argument 1: the count hint (nil or absent: SCAN_COUNT_DEFAULT) */
  size_t budget;   /* bytes the page may reach before it stops early */
  vbuf items;      /* the page's elements, each a list item (vb_list_item...) */
  size_t mark;     /* vb_list_begin of items */
  size_t n;        /* elements written so far */
} scan_page;

/* Insertion-ordered tables (htab.h: dict, namespace, the registry for
 * ls_scan) name their entries by insertion number, and new entries always
 * come last, so a scan that took them would chase a table that keeps
 * changing and never end. Their cursor therefore also carries `end`: the
 * insertion number that was next when the scan started, and no entry from
 * end on is returned. It is packed into one int64 cursor: bits 0-46 hold
 * `from` (the next entry's number), bits 57-62 a shift s and bits 47-56
 * D, with end = ((from >> s) + D) << s, rounded up from the true end by
 * less than a thousandth of the span (a few entries inserted after the
 * start may come too, as SCAN allows). The rounded end stays the same on
 * every later page, so a scan ends once it passes what was there when it
 * started. A table that has had 2^47 insertions can no longer be scanned
 * (WS_INTERNAL), which at a million insertions a second takes 4 years. */
typedef struct scan_range {
  uint64_t from; /* first insertion number to return */
  uint64_t end;  /* insertion numbers from here on are not returned */
} scan_range;

/* The range pg->cursor names in a table whose next insertion number is
 * next_seq: cursor 0 is [0, next_seq). */
scan_range scan_range_of(const scan_page *pg, uint64_t next_seq);

/* scan_end for a range: the next cursor resumes at insertion number from
 * (0: none left) within r, and is 0 when nothing before r.end is left.
 * Returns as scan_end, or WS_INTERNAL (c->err filled, the page released)
 * when from does not fit a cursor. */
int scan_end_range(call *c, scan_page *pg, const scan_range *r, uint64_t from);

/* Reads cursor (a non-negative int) and count (1..SCAN_COUNT_MAX, or nil)
 * from arguments 0 and 1, allowing up to max_args arguments in all, and
 * opens the page. Returns WS_OK (release the page with scan_end), or
 * WS_TYPE_ERROR / WS_VALUE_ERROR with c->err filled (nothing to release). */
int scan_begin(call *c, size_t max_args, scan_page *pg);

/* True when one more element of about bytes bytes goes into the page: it
 * holds fewer than count elements, and it is empty or stays within its
 * budget. */
bool scan_room(const scan_page *pg, size_t bytes);

/* Writes [next, [elements...]] to c->out and releases the page. Returns
 * WS_OK, or WS_INTERNAL when the page ran out of memory. */
int scan_end(call *c, scan_page *pg, uint64_t next);

/* Releases a page that scan_begin opened, for a method that fails after. */
void scan_abort(scan_page *pg);

/* A whole scan method over an insertion-ordered table whose values are
 * stored values (sval.h: dict, namespace) or all NULL (set: write gets an
 * empty val): reads the arguments, writes the entries of the cursor's
 * range that fit the page, each through write (which appends one list
 * item for the entry, key and value as stored), and answers. Returns as
 * scan_begin and scan_end_range. */
struct htab;
typedef void (*scan_write_fn)(vbuf *out, sm_span key, sm_span val);
int scan_table(call *c, struct htab *h, scan_write_fn write);

#endif
