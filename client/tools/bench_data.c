/* SPDX-License-Identifier: MIT */
/* bench_data.c - the data statemgr-bench sends, made so that every answer
 * can be recomputed and checked by whichever client reads it.
 *
 * Keys are 16 bytes ("key:%012u", the size of the memory target).
 * A value is a pure function of its key index and --seed, so a client that
 * gets key i knows exactly which bytes must come back no matter who set it.
 * Items (list_pop, queue_putget) start with their own index, so a popped
 * item says which one it is; a shared bitmap then shows each was taken once.
 * The PRNG is xorshift64*, seeded per client with splitmix64. */
#include "bench.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* splitmix64: spreads a seed over the whole state. */
static uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t bench_rng_seed(uint64_t seed, uint64_t stream) {
  uint64_t s = mix(seed ^ mix(stream + 1));
  return s ? s : 1; /* xorshift needs a non-zero state */
}

uint64_t bench_rng_next(uint64_t *state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545f4914f6cdd1dull;
}

/* Writes i as exactly width decimal digits (zero-padded, the high digits
 * dropped) at out: cheaper than snprintf in the timed loops. */
static void put_digits(char *out, uint64_t i, int width) {
  for (int d = width - 1; d >= 0; d--) {
    out[d] = (char)('0' + i % 10);
    i /= 10;
  }
}

void bench_key(uint64_t i, char out[BENCH_KEY_LEN + 1]) {
  memcpy(out, "key:", 4);
  put_digits(out + 4, i, 12);
  out[BENCH_KEY_LEN] = '\0';
}

void bench_client_key(unsigned c, uint64_t i, char out[BENCH_KEY_LEN + 1]) {
  out[0] = 'c';
  put_digits(out + 1, c, 5);
  out[6] = ':';
  put_digits(out + 7, i, 9);
  out[BENCH_KEY_LEN] = '\0';
}

/* Repeats the 16 hex digits of a hash of (i, seed) over n bytes. */
void bench_value(uint64_t i, uint64_t seed, size_t n, char *out) {
  static const char hex[] = "0123456789abcdef";
  uint64_t h = mix(i ^ mix(seed));
  char pat[16];
  for (int d = 0; d < 16; d++)
    pat[d] = hex[(h >> (4 * d)) & 15];
  size_t done = 0;
  while (done < n) {
    size_t k = n - done < sizeof pat ? n - done : sizeof pat;
    memcpy(out + done, pat, k);
    done += k;
  }
  out[n] = '\0';
}

size_t bench_item(uint64_t i, uint64_t seed, size_t n, char *out) {
  size_t len = n < 16 ? 16 : n;
  bench_value(i, seed, len, out);
  out[0] = 'i';
  put_digits(out + 1, i, 15);
  return len;
}

bool bench_item_parse(const char *s, size_t len, uint64_t seed, size_t n, char *scratch,
                      uint64_t *index) {
  if (len < 16 || s[0] != 'i') return false;
  uint64_t i = 0;
  for (int d = 1; d < 16; d++) {
    if (s[d] < '0' || s[d] > '9') return false;
    i = i * 10 + (uint64_t)(s[d] - '0');
  }
  size_t want = bench_item(i, seed, n, scratch);
  if (want != len || memcmp(s, scratch, len) != 0) return false;
  *index = i;
  return true;
}

bool bench_bit_set(atomic_uint_fast64_t *bits, uint64_t i) {
  uint_fast64_t mask = (uint_fast64_t)1 << (i % 64);
  return (atomic_fetch_or(&bits[i / 64], mask) & mask) == 0;
}

uint64_t bench_bit_count(atomic_uint_fast64_t *bits, uint64_t n) {
  uint64_t total = 0;
  for (uint64_t w = 0; w < (n + 63) / 64; w++)
    total += (uint64_t)__builtin_popcountll((unsigned long long)atomic_load(&bits[w]));
  return total;
}

int64_t bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

char *bench_show(const sm_value *v) {
  char *t = sm_value_to_text(v);
  if (t && strlen(t) > 72) strcpy(t + 66, " [...]");
  return t;
}

int bench_fail(bench_worker *w, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(w->slot->error, sizeof w->slot->error, fmt, ap);
  va_end(ap);
  w->slot->code = code;
  atomic_store(&w->run->sh->stop, 1);
  return code;
}
