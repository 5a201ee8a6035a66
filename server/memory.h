/* SPDX-License-Identifier: MIT */
/* memory.h - what the shared data weighs, the limit on it (--max-memory),
 * and giving freed memory back to the system.
 *
 * Accounting. used counts the bytes of the data the clients stored: every
 * stored value (sval.c adds and removes its own block), each object's shell
 * and name, the registry's tables, and each type's own state (hash tables
 * with their keys, arrays, rings), measured by the type's mem_size hook.
 * Dispatch re-measures the target after every mutating call (reg_measure),
 * so a method keeps no books of its own. Each allocation counts as malloc
 * lays it out (mem_chunk), so used follows the heap closely. The answers
 * kept for sessions until their clients acknowledge them are data too
 * (session.c counts them, as Redis counts client output buffers).
 * Connection buffers and parked calls are not data: their own limits bound
 * them (--max-frame, --max-pending, the output caps).
 *
 * The limit. A call that would grow the data (METHOD_GROWS in the method
 * table, and the creation of an object) asks mem_check() first: when the
 * bytes it would store take used past max, it is refused with
 * OUT_OF_MEMORY and a text saying how much is used. Reads, deletes and
 * every call that does not grow the data go on working, so clients can
 * make room.
 *
 * Returning memory. glibc keeps the memory of freed small blocks in its
 * heap: after a million entries are deleted the process still holds their
 * pages. Once the data has shrunk by MEM_TRIM_AFTER bytes from its peak
 * since the last trim, a timer calls malloc_trim(0) a little later (one
 * call for a whole burst of frees, at most one per MEM_TRIM_INTERVAL_MS),
 * which hands the free pages back. Churn (values replaced by values of the
 * same size) frees as much as it takes and never trims: its pages are
 * about to be used again. */
#ifndef SM_SERVER_MEMORY_H
#define SM_SERVER_MEMORY_H

#include "object.h"

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct event;

/* How far the data must shrink below its peak for a trim to be due. */
#define MEM_TRIM_AFTER ((size_t)16 << 20)
/* Delay before a due trim, so a burst of frees ends first. */
#define MEM_TRIM_DELAY_MS 100
/* The least time between two trims. */
#define MEM_TRIM_INTERVAL_MS 1000

typedef struct memacct {
  size_t used;             /**< bytes of data now */
  size_t max;              /**< the limit; 0: none */
  size_t peak;             /**< the most used since the last trim */
  uint64_t trims;          /**< malloc_trim calls made */
  int64_t last_trim_ms;    /**< monotonic time of the last trim */
  struct event_base *base; /**< the loop of the trim timer; NULL: never trim */
  struct event *trim_ev;   /**< owned; pending while a trim is due */
} memacct;

/* The bytes malloc takes for an n-byte request: the request plus its
 * 8-byte header, rounded up to 16, and at least 32 (glibc's layout). */
static inline size_t mem_chunk(size_t n) {
  size_t c = (n + sizeof(size_t) + 15) & ~(size_t)15;
  return c < 32 ? 32 : c;
}

static inline void mem_add(memacct *m, size_t bytes) {
  m->used += bytes;
  if (m->used > m->peak) m->peak = m->used;
}

/* Counts bytes freed; arms the trim timer once the data has shrunk
 * enough. */
void mem_sub(memacct *m, size_t bytes);

/* Sets the event loop the trim timer runs on (NULL: no trimming, as in
 * unit tests and the fuzzer). */
void mem_set_base(memacct *m, struct event_base *base);

/* Frees the timer; the counters stay readable. */
void mem_release(memacct *m);

/* WS_OK when storing more bytes keeps the data within the limit (always,
 * without one); else fills c->err and returns WS_OUT_OF_MEMORY. */
int mem_check(call *c, size_t more);

/* Writes bytes for people ("512 B", "3.5 KiB", "100 MiB", "2 GiB"). */
void mem_format(size_t bytes, char *buf, size_t len);

#endif
