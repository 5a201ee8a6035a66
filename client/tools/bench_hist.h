/* SPDX-License-Identifier: MIT */
/* bench_hist.h - a fixed-size latency histogram for statemgr-bench and
 * sm_pingpong (header-only, so bench/pingpong.c shares it without a
 * library).
 *
 * Log-linear buckets over nanoseconds, as HdrHistogram does: values below
 * 32 ns have a bucket each; above, every power of two is split into 32
 * equal buckets, so a bucket is at most ~3% wide. The array is fixed
 * (HIST_BUCKETS counters), recording is one index computation and an add,
 * nothing is allocated per sample, and histograms merge by adding counters,
 * so each client keeps its own and the totals are summed at the end.
 * Percentiles report the middle of the bucket the rank falls in; the
 * largest sample is kept exactly (the longest stall a client saw). */
#ifndef SM_BENCH_HIST_H
#define SM_BENCH_HIST_H

#include <stdint.h>
#include <string.h>

#define HIST_SUB_BITS 5u
#define HIST_SUB (1u << HIST_SUB_BITS) /* 32 buckets per power of two */
#define HIST_MAX_EXP 47u               /* 2^47 ns: about 39 hours */
#define HIST_BUCKETS ((HIST_MAX_EXP - HIST_SUB_BITS + 2u) * HIST_SUB)

typedef struct hist {
  uint64_t count;                 /**< samples recorded (with their weights) */
  uint64_t max_ns;                /**< the largest sample */
  uint64_t buckets[HIST_BUCKETS]; /**< see hist_index */
} hist;

static inline void hist_init(hist *h) { memset(h, 0, sizeof *h); }

/* The bucket of a value in nanoseconds. */
static inline unsigned hist_index(uint64_t ns) {
  if (ns < HIST_SUB) return (unsigned)ns;
  unsigned e = 63u - (unsigned)__builtin_clzll(ns); /* ns >= 32: e >= 5 */
  if (e > HIST_MAX_EXP) return HIST_BUCKETS - 1;
  unsigned sub = (unsigned)(ns >> (e - HIST_SUB_BITS)) & (HIST_SUB - 1);
  return (e - HIST_SUB_BITS + 1u) * HIST_SUB + sub;
}

/* The middle of bucket i, in nanoseconds. */
static inline double hist_value(unsigned i) {
  if (i < HIST_SUB) return (double)i;
  unsigned e = i / HIST_SUB + HIST_SUB_BITS - 1u, sub = i % HIST_SUB;
  double width = (double)(1ull << (e - HIST_SUB_BITS));
  return (double)(HIST_SUB + sub) * width + width / 2;
}

/* Records weight samples of ns nanoseconds each. */
static inline void hist_add(hist *h, uint64_t ns, uint64_t weight) {
  h->buckets[hist_index(ns)] += weight;
  h->count += weight;
  if (weight > 0 && ns > h->max_ns) h->max_ns = ns;
}

/* Adds every sample of src to dst. */
static inline void hist_merge(hist *dst, const hist *src) {
  for (unsigned i = 0; i < HIST_BUCKETS; i++)
    dst->buckets[i] += src->buckets[i];
  dst->count += src->count;
  if (src->max_ns > dst->max_ns) dst->max_ns = src->max_ns;
}

/* The value (ns) below which a fraction q (0..1) of the samples fall; 0
 * for an empty histogram. */
static inline double hist_quantile(const hist *h, double q) {
  if (h->count == 0) return 0;
  uint64_t rank = (uint64_t)(q * (double)h->count);
  if ((double)rank < q * (double)h->count) rank++; /* ceil */
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (unsigned i = 0; i < HIST_BUCKETS; i++) {
    seen += h->buckets[i];
    if (seen >= rank) return hist_value(i);
  }
  return hist_value(HIST_BUCKETS - 1);
}

#endif
