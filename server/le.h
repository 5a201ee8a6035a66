/* SPDX-License-Identifier: MIT */
/* le.h - little-endian fixed-width fields of the files and records the
 * daemon writes (the log's record header, the command record, the
 * snapshot's fields, the group's batch header), read and written the same
 * way everywhere: one load or store on a little-endian machine (a memcpy
 * the compiler turns into a mov; byte loops are not always merged). */
#ifndef SM_SERVER_LE_H
#define SM_SERVER_LE_H

#include <stdint.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define LE_SWAP32(v) __builtin_bswap32(v)
#define LE_SWAP64(v) __builtin_bswap64(v)
#else
#define LE_SWAP32(v) (v)
#define LE_SWAP64(v) (v)
#endif

static inline void le_put_u32(uint8_t *p, uint32_t v) {
  v = LE_SWAP32(v);
  memcpy(p, &v, sizeof v);
}

static inline void le_put_u64(uint8_t *p, uint64_t v) {
  v = LE_SWAP64(v);
  memcpy(p, &v, sizeof v);
}

static inline uint32_t le_get_u32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, sizeof v);
  return LE_SWAP32(v);
}

static inline uint64_t le_get_u64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, sizeof v);
  return LE_SWAP64(v);
}

#endif
