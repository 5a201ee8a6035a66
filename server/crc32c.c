/* SPDX-License-Identifier: MIT */
/* crc32c.c - CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the
 * checksum of log records and snapshots. The SSE4.2 crc32 instruction
 * where the CPU has it (chosen once, when the program loads, so the build
 * needs no -msse4.2 and a call pays no check), a slice-by-8 table
 * otherwise. */
#include "crc32c.h"

#include "crc32c_internal.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define CRC32C_X86 1
#endif

#define CRC32C_POLY 0x82F63B78u

static uint32_t crc_tab[8][256];
static uint32_t (*crc_impl)(uint32_t, const void *, size_t);

/* Fills the slice-by-8 tables: crc_tab[k][b] is the CRC of byte b followed
 * by k zero bytes. */
static void crc_init_tables(void) {
  for (uint32_t b = 0; b < 256; b++) {
    uint32_t c = b;
    for (int i = 0; i < 8; i++)
      c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
    crc_tab[0][b] = c;
  }
  for (uint32_t b = 0; b < 256; b++)
    for (int k = 1; k < 8; k++)
      crc_tab[k][b] = (crc_tab[k - 1][b] >> 8) ^ crc_tab[0][crc_tab[k - 1][b] & 0xff];
}

/* Before main (and before any thread): crc_impl is only read after. */
__attribute__((constructor)) static void crc_choose(void) {
  crc_init_tables();
  crc_impl = crc32c_have_sse42() ? crc32c_sse42 : crc32c_table;
}

uint32_t crc32c_table(uint32_t crc, const void *p, size_t n) {
  const uint8_t *s = p;
  uint32_t c = ~crc;
  while (n >= 8) {
    uint32_t lo, hi;
    memcpy(&lo, s, 4);
    memcpy(&hi, s + 4, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    lo = __builtin_bswap32(lo);
    hi = __builtin_bswap32(hi);
#endif
    lo ^= c;
    c = crc_tab[7][lo & 0xff] ^ crc_tab[6][(lo >> 8) & 0xff] ^ crc_tab[5][(lo >> 16) & 0xff] ^
        crc_tab[4][lo >> 24] ^ crc_tab[3][hi & 0xff] ^ crc_tab[2][(hi >> 8) & 0xff] ^
        crc_tab[1][(hi >> 16) & 0xff] ^ crc_tab[0][hi >> 24];
    s += 8;
    n -= 8;
  }
  while (n--)
    c = (c >> 8) ^ crc_tab[0][(c ^ *s++) & 0xff];
  return ~c;
}

#ifdef CRC32C_X86
bool crc32c_have_sse42(void) { return __builtin_cpu_supports("sse4.2"); }

__attribute__((target("sse4.2"))) uint32_t crc32c_sse42(uint32_t crc, const void *p, size_t n) {
  const uint8_t *s = p;
  uint32_t c = ~crc;
  /* 8 bytes at a time (x86 loads them unaligned at no cost), then the
   * rest. */
#ifdef __x86_64__
  uint64_t c64 = c;
  while (n >= 32) { /* four at a time: fewer loop instructions per byte */
    uint64_t v[4];
    memcpy(v, s, sizeof v);
    c64 = _mm_crc32_u64(c64, v[0]);
    c64 = _mm_crc32_u64(c64, v[1]);
    c64 = _mm_crc32_u64(c64, v[2]);
    c64 = _mm_crc32_u64(c64, v[3]);
    s += 32;
    n -= 32;
  }
  while (n >= 8) {
    uint64_t v;
    memcpy(&v, s, 8);
    c64 = _mm_crc32_u64(c64, v);
    s += 8;
    n -= 8;
  }
  c = (uint32_t)c64;
#endif
  while (n >= 4) {
    uint32_t v;
    memcpy(&v, s, 4);
    c = _mm_crc32_u32(c, v);
    s += 4;
    n -= 4;
  }
  while (n--)
    c = _mm_crc32_u8(c, *s++);
  return ~c;
}
#else
bool crc32c_have_sse42(void) { return false; }

uint32_t crc32c_sse42(uint32_t crc, const void *p, size_t n) { return crc32c_table(crc, p, n); }
#endif

uint32_t crc32c(uint32_t crc, const void *p, size_t n) { return crc_impl(crc, p, n); }
