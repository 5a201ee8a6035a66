/* SPDX-License-Identifier: MIT */
/* dlheap.c - the intrusive deadline min-heap of dlheap.h: a binary heap in
 * an array, each node's slot kept up to date as it moves. */
#include "dlheap.h"

#include "memory.h"

#include <stdlib.h>

static void place(dl_heap *h, size_t i, dl_node *x) {
  h->v[i] = x;
  x->slot = i + 1;
}

static void sift_up(dl_heap *h, size_t i) {
  dl_node *x = h->v[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (h->v[parent]->at <= x->at) break;
    place(h, i, h->v[parent]);
    i = parent;
  }
  place(h, i, x);
}

static void sift_down(dl_heap *h, size_t i) {
  dl_node *x = h->v[i];
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= h->n) break;
    if (child + 1 < h->n && h->v[child + 1]->at < h->v[child]->at) child++;
    if (h->v[child]->at >= x->at) break;
    place(h, i, h->v[child]);
    i = child;
  }
  place(h, i, x);
}

int dlh_set(dl_heap *h, dl_node *x, int64_t at) {
  if (x->slot) {
    int64_t was = x->at;
    x->at = at;
    if (at < was)
      sift_up(h, x->slot - 1);
    else if (at > was)
      sift_down(h, x->slot - 1);
    return 0;
  }
  if (h->n == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 8;
    dl_node **v = realloc(h->v, cap * sizeof *v);
    if (!v) return -1;
    h->v = v;
    h->cap = cap;
  }
  x->at = at;
  place(h, h->n++, x);
  sift_up(h, h->n - 1);
  return 0;
}

void dlh_remove(dl_heap *h, dl_node *x) {
  if (!x->slot) return;
  size_t i = x->slot - 1;
  x->slot = 0;
  dl_node *last = h->v[--h->n];
  if (i == h->n) return;
  place(h, i, last);
  sift_up(h, i);
  sift_down(h, last->slot - 1);
}

dl_node *dlh_top(const dl_heap *h) { return h->n ? h->v[0] : NULL; }

size_t dlh_memory(const dl_heap *h) { return h->cap ? mem_chunk(h->cap * sizeof *h->v) : 0; }

void dlh_free(dl_heap *h) {
  for (size_t i = 0; i < h->n; i++)
    h->v[i]->slot = 0;
  free(h->v);
  *h = (dl_heap){0};
}
