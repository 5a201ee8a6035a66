/* SPDX-License-Identifier: MIT */
/* htab.h - an insertion-ordered hash table keyed by byte strings.
 *
 * The layout of CPython's compact dict: a dense array of entries in
 * insertion order plus an open-addressing index of slots into it. Iteration
 * is insertion order (what Python users expect of a dict), popitem takes the
 * last entry, and deletions leave holes that a resize compacts. Keys are
 * copied and owned by the table; values are opaque pointers owned by the
 * caller (free them through the callback of htab_clear/htab_destroy).
 *
 * Keys are plain bytes (htab_init), or packed values (htab_init_values)
 * that compare and hash by Python's rules (proto/vequal.h), so that 1, 1.0
 * and True are one key. Either way the hash is seeded per process, so
 * clients cannot choose colliding keys. Not thread-safe: the event loop
 * owns every table. */
#ifndef SM_SERVER_HTAB_H
#define SM_SERVER_HTAB_H

#include "../proto/vwire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 32 bytes: the hash and the key's length take 32 bits each (a table holds
 * at most 2^30 slots, and a key came in a frame, whose length is 32 bits),
 * which leaves room for the scan cursors' insertion number at no cost. */
typedef struct htab_entry {
  uint8_t *key; /* owned; NULL marks a deleted entry (a hole) */
  void *val;
  uint64_t seq;  /* insertion number, rising along entries[] (holes keep theirs): scan cursors */
  uint32_t hash; /* the key's hash, folded to 32 bits */
  uint32_t klen;
} htab_entry;

typedef struct htab {
  htab_entry *entries; /* dense, insertion order, holes included */
  size_t n_entries;    /* used entries including holes */
  size_t cap_entries;
  size_t len;        /* live entries */
  int32_t *index;    /* slots: -1 empty, -2 deleted, else entry number */
  size_t n_slots;    /* power of two, or 0 */
  size_t n_fill;     /* slots not empty: entries + deleted marks, drives resizing */
  size_t key_mem;    /* bytes of the live keys' blocks (mem_chunk), for htab_memory */
  bool value_keys;   /* keys are packed values compared by vequal.h */
  uint64_t next_seq; /* the seq of the next insertion, from 1 */
} htab;

typedef void (*htab_free_fn)(void *ctx, void *val);

/* An empty table keyed by plain bytes. */
void htab_init(htab *t);
/* An empty table keyed by packed values (vw_scan accepted them, and none is
 * a list or a map): equal values by vequal.h are the same key. */
void htab_init_values(htab *t);
/* Frees every key, calls free_val (may be NULL) on every value, and releases
 * the memory; the table is empty and reusable afterwards, with the same kind
 * of keys. */
void htab_clear(htab *t, htab_free_fn free_val, void *ctx);

size_t htab_len(const htab *t);

/* The value slot for key, or NULL when absent. */
void **htab_find(const htab *t, sm_span key);

/* Inserts key -> val, or replaces the value of an existing key (the entry
 * keeps its place in the order and its first key bytes, as a Python dict
 * keeps its first key object). Returns 1 inserted, 0 replaced (*old, may be
 * NULL, receives the previous value), -1 out of memory (nothing changed). */
int htab_put(htab *t, sm_span key, void *val, void **old);

/* Removes key; *val (may be NULL) receives its value. Returns true when the
 * key was present. */
bool htab_remove(htab *t, sm_span key, void **val);

/* Iterates live entries in insertion order: start with *pos = 0. Key bytes
 * are borrowed until the table changes. */
bool htab_next(const htab *t, size_t *pos, sm_span *key, void **val);

/* Cursor iteration (Redis SCAN semantics) over the same order. A cursor is
 * an insertion number, not an entry position, so rebuilds (which compact
 * the holes away and move entries down) and trimming do not disturb it:
 * htab_seek finds, by binary search over entries[] (insertion numbers rise
 * along it, holes included), the first entry inserted at or after the
 * cursor. Every entry present from the first call to the last is therefore
 * returned exactly once; entries inserted meanwhile may or may not be.
 * Cursor 0 is the start. */
/* The entry position for cursor, to pass to htab_next; O(log n). */
size_t htab_seek(const htab *t, uint64_t cursor);
/* The cursor that resumes at entry position pos (as htab_next left it):
 * the insertion number of the first live entry from pos on, or 0 when none
 * is left (the iteration is over). */
uint64_t htab_cursor(const htab *t, size_t pos);
/* As htab_next, but stops (false) at the first live entry whose insertion
 * number is end or later: a scan takes only what was there when it
 * started (t->next_seq then), so that it ends. */
bool htab_next_before(const htab *t, size_t *pos, uint64_t end, sm_span *key, void **val);

/* The most recently inserted live entry; false when empty. */
bool htab_last(const htab *t, sm_span *key, void **val);

/* Bytes used by the table itself, its keys included (not its values), as
 * memory.h counts them; O(1). */
size_t htab_memory(const htab *t);

#endif
