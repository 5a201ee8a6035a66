/* SPDX-License-Identifier: MIT */
/* crc32c.c - CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) with a
 * byte table built on first use, as crc32c.h promises for CPUs without the
 * SSE4.2 instruction. The value is zlib-style: the caller passes 0 to start
 * and the running value to go on; the pre- and post-inversion happen
 * inside, so crc32c(0, "123456789", 9) is the standard check 0xE3069283. */
#include "crc32c.h"

#include <pthread.h>

static uint32_t table[256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_build(void) {
  for (uint32_t i = 0; i < 256; i++) {
    uint32_t c = i;
    for (int k = 0; k < 8; k++)
      c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    table[i] = c;
  }
}

uint32_t crc32c(uint32_t crc, const void *p, size_t n) {
  pthread_once(&table_once, table_build); /* the log's writer thread calls it too */
  const uint8_t *b = p;
  crc = ~crc;
  while (n--)
    crc = table[(crc ^ *b++) & 0xFF] ^ (crc >> 8);
  return ~crc;
}
