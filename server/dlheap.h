/* SPDX-License-Identifier: MIT */
/* dlheap.h - a min-heap of deadlines, intrusive: the owner of a deadline
 * embeds a dl_node and finds itself again from it (DL_OWNER), and the node
 * remembers its place, so moving or removing one is O(log n) without a
 * search. The expiry index of the registry (expire.h: objects by their next
 * deadline) and each dict's keys with a TTL (t_dict.c) are such heaps: what
 * has no deadline is never in one, so expiring scans nothing else. */
#ifndef SM_SERVER_DLHEAP_H
#define SM_SERVER_DLHEAP_H

#include <stddef.h>
#include <stdint.h>

/* A deadline in a heap. Zero-initialised: in none. */
typedef struct dl_node {
  int64_t at;  /**< the deadline, ms since the epoch */
  size_t slot; /**< 1 + its place in the heap; 0: not in one */
} dl_node;

typedef struct dl_heap {
  dl_node **v; /**< owned array; the nodes are borrowed */
  size_t n, cap;
} dl_heap;

/* The struct of type T whose member m is the node p. */
#define DL_OWNER(p, T, m) ((T *)(void *)((char *)(p)-offsetof(T, m)))

/* Puts x in h with deadline at, or moves it there when it is in h already.
 * Returns 0, or -1 when out of memory (x is then in no heap). */
int dlh_set(dl_heap *h, dl_node *x, int64_t at);

/* Takes x out of h; a no-op when it is in none. */
void dlh_remove(dl_heap *h, dl_node *x);

/* The earliest deadline's node (borrowed), or NULL when h is empty. */
dl_node *dlh_top(const dl_heap *h);

/* The bytes h's array takes (memory.h's mem_chunk). */
size_t dlh_memory(const dl_heap *h);

/* Frees h's array (the nodes are their owners'); h is empty after. */
void dlh_free(dl_heap *h);

#endif
