/* SPDX-License-Identifier: MIT */
/* htab.c - the insertion-ordered hash table of htab.h.
 *
 * CPython's compact dict: entries[] holds keys in insertion order, index[]
 * is an open-addressing table of entry numbers probed with CPython's
 * perturbation sequence (which visits every slot, so a lookup ends at an
 * empty slot). A deletion leaves a hole in entries[] and a deleted mark in
 * index[]; holes at the end of entries[] are trimmed at once, so popping the
 * last entry over and over stays O(1). index[] is never fuller than 2/3
 * (n_fill counts entries and deleted marks alike); reaching that rebuilds
 * both arrays sized for the live entries, which compacts the holes away,
 * and a table that falls under 1/8 full shrinks the same way. Each entry
 * carries its insertion number (seq), which scan cursors name instead of a
 * position, since a rebuild moves entries (htab.h). */
#include "htab.h"

#include "../proto/vequal.h"
#include "memory.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define SLOT_EMPTY (-1)
#define SLOT_DELETED (-2)
#define MIN_SLOTS ((size_t)8)
_Static_assert(sizeof(void *) != 8 || sizeof(htab_entry) == 32,
               "an entry is 32 bytes on 64-bit machines: the memory per dict entry depends on it");
#define MAX_SLOTS ((size_t)1 << 30) /* entry numbers must fit an int32 */

static uint32_t hash_key(const htab *t, sm_span key) {
  uint64_t h = t->value_keys ? veq_hash(key) : XXH3_64bits_withSeed(key.p, key.n, veq_seed());
  return (uint32_t)(h ^ (h >> 32));
}

/* Entries that a table of `slots` slots may hold before it is rebuilt. */
static size_t usable(size_t slots) { return slots * 2 / 3; }

/* The smallest table with room for len entries and as many again, or 0
 * when that would exceed MAX_SLOTS. */
static size_t slots_for(size_t len) {
  size_t slots = MIN_SLOTS;
  while (usable(slots) < 2 * len + 1) {
    if (slots >= MAX_SLOTS) return 0;
    slots *= 2;
  }
  return slots;
}

static size_t probe_next(size_t i, uint32_t *perturb, size_t mask) {
  *perturb >>= 5;
  return (i * 5 + *perturb + 1) & mask;
}

static bool key_eq(const htab *t, const htab_entry *e, uint32_t hash, sm_span key) {
  if (e->hash != hash) return false;
  sm_span k = {e->key, e->klen};
  if (t->value_keys) return veq_match(k, key); /* same bytes first, then by value */
  return k.n == key.n && (key.n == 0 || memcmp(k.p, key.p, key.n) == 0);
}

/* Returns the slot holding key, or -1 when absent; then *empty (may be NULL)
 * receives the first empty slot of the probe sequence. n_slots must be > 0. */
static ptrdiff_t lookup(const htab *t, sm_span key, uint32_t hash, size_t *empty) {
  size_t mask = t->n_slots - 1, i = hash & mask;
  uint32_t perturb = hash;
  for (;;) {
    int32_t ix = t->index[i];
    if (ix == SLOT_EMPTY) {
      if (empty) *empty = i;
      return -1;
    }
    if (ix >= 0 && key_eq(t, &t->entries[ix], hash, key)) return (ptrdiff_t)i;
    i = probe_next(i, &perturb, mask);
  }
}

/* Moves the live entries, in order, into fresh arrays of `slots` slots.
 * Returns 0, or -1 (table unchanged) when slots is 0 or memory runs out. */
static int rebuild(htab *t, size_t slots) {
  if (slots == 0) return -1;
  size_t cap = usable(slots), mask = slots - 1, n = 0;
  htab_entry *entries = malloc(cap * sizeof *entries);
  int32_t *index = malloc(slots * sizeof *index);
  if (!entries || !index) {
    free(entries);
    free(index);
    return -1;
  }
  memset(index, 0xff, slots * sizeof *index); /* every slot SLOT_EMPTY */
  for (size_t j = 0; j < t->n_entries; j++) {
    if (!t->entries[j].key) continue;
    entries[n] = t->entries[j];
    uint32_t perturb = entries[n].hash;
    size_t i = entries[n].hash & mask;
    while (index[i] != SLOT_EMPTY)
      i = probe_next(i, &perturb, mask);
    index[i] = (int32_t)n++;
  }
  free(t->entries);
  free(t->index);
  t->entries = entries;
  t->index = index;
  t->n_slots = slots;
  t->cap_entries = cap;
  t->n_entries = t->n_fill = n;
  return 0;
}

void htab_init(htab *t) { memset(t, 0, sizeof *t); }

void htab_init_values(htab *t) {
  htab_init(t);
  t->value_keys = true;
}

void htab_clear(htab *t, htab_free_fn free_val, void *ctx) {
  for (size_t j = 0; j < t->n_entries; j++) {
    htab_entry *e = &t->entries[j];
    if (!e->key) continue;
    free(e->key);
    if (free_val) free_val(ctx, e->val);
  }
  bool value_keys = t->value_keys;
  uint64_t next_seq = t->next_seq;
  free(t->entries);
  free(t->index);
  htab_init(t);
  t->value_keys = value_keys;
  t->next_seq = next_seq; /* a cursor from before the clear still finds no old entry */
}

size_t htab_len(const htab *t) { return t->len; }

/* Borrowed: the slot stays valid until the table changes. */
void **htab_find(const htab *t, sm_span key) {
  if (t->len == 0) return NULL;
  ptrdiff_t s = lookup(t, key, hash_key(t, key), NULL);
  return s < 0 ? NULL : &t->entries[t->index[s]].val;
}

/* The key bytes are copied; val is stored as given (the caller owns it). */
int htab_put(htab *t, sm_span key, void *val, void **old) {
  if (key.n > UINT32_MAX) return -1; /* cannot happen: a key came in one frame */
  uint32_t hash = hash_key(t, key);
  size_t slot = 0;
  if (t->n_slots > 0) {
    ptrdiff_t s = lookup(t, key, hash, &slot);
    if (s >= 0) {
      htab_entry *e = &t->entries[t->index[s]];
      if (old) *old = e->val;
      e->val = val;
      return 0;
    }
  }
  uint8_t *copy = malloc(key.n ? key.n : 1); /* non-NULL even for the empty key */
  if (!copy) return -1;
  if (t->n_slots == 0 || t->n_fill >= usable(t->n_slots)) {
    if (rebuild(t, slots_for(t->len + 1)) != 0) {
      free(copy);
      return -1;
    }
    lookup(t, key, hash, &slot);
  }
  if (key.n) memcpy(copy, key.p, key.n);
  if (t->next_seq == 0) t->next_seq = 1; /* 0 is the cursor of the start */
  t->entries[t->n_entries] = (htab_entry){
      .hash = hash, .key = copy, .klen = (uint32_t)key.n, .val = val, .seq = t->next_seq++};
  t->index[slot] = (int32_t)t->n_entries++;
  t->n_fill++;
  t->len++;
  t->key_mem += mem_chunk(key.n);
  return 1;
}

bool htab_remove(htab *t, sm_span key, void **val) {
  if (t->len == 0) return false;
  ptrdiff_t s = lookup(t, key, hash_key(t, key), NULL);
  if (s < 0) return false;
  htab_entry *e = &t->entries[t->index[s]];
  if (val) *val = e->val;
  t->key_mem -= mem_chunk(e->klen);
  free(e->key);
  *e = (htab_entry){.seq = e->seq}; /* a hole keeps its seq: seqs stay sorted for htab_seek */
  t->index[s] = SLOT_DELETED;       /* keeps probe chains through this slot intact */
  t->len--;
  while (t->n_entries > 0 && !t->entries[t->n_entries - 1].key)
    t->n_entries--;
  if (t->n_slots > MIN_SLOTS && t->len * 8 < t->n_slots)
    rebuild(t, slots_for(t->len)); /* a failed shrink leaves a valid table */
  return true;
}

bool htab_next(const htab *t, size_t *pos, sm_span *key, void **val) {
  while (*pos < t->n_entries) {
    const htab_entry *e = &t->entries[(*pos)++];
    if (!e->key) continue;
    if (key) *key = (sm_span){e->key, e->klen};
    if (val) *val = e->val;
    return true;
  }
  return false;
}

size_t htab_seek(const htab *t, uint64_t cursor) {
  size_t lo = 0, hi = t->n_entries;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (t->entries[mid].seq < cursor)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

uint64_t htab_cursor(const htab *t, size_t pos) {
  for (; pos < t->n_entries; pos++)
    if (t->entries[pos].key) return t->entries[pos].seq;
  return 0;
}

bool htab_next_before(const htab *t, size_t *pos, uint64_t end, sm_span *key, void **val) {
  size_t at = *pos;
  while (at < t->n_entries && !t->entries[at].key)
    at++;
  if (at >= t->n_entries || t->entries[at].seq >= end) return false;
  *pos = at;
  return htab_next(t, pos, key, val);
}

bool htab_last(const htab *t, sm_span *key, void **val) {
  /* Trailing holes are trimmed on removal, so this loop stops at once. */
  for (size_t j = t->n_entries; j-- > 0;) {
    const htab_entry *e = &t->entries[j];
    if (!e->key) continue;
    if (key) *key = (sm_span){e->key, e->klen};
    if (val) *val = e->val;
    return true;
  }
  return false;
}

size_t htab_memory(const htab *t) {
  return mem_chunk(sizeof *t) + t->cap_entries * sizeof *t->entries +
         t->n_slots * sizeof *t->index + t->key_mem;
}
