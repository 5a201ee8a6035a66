/* SPDX-License-Identifier: MIT */
/* crc32c_internal.h - the two implementations behind crc32c(), named so
 * that the unit test can check each against the same vectors whatever CPU
 * it runs on. Only crc32c.c and the tests include this. */
#ifndef SM_SERVER_CRC32C_INTERNAL_H
#define SM_SERVER_CRC32C_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The portable slice-by-8 table version; same contract as crc32c(). */
uint32_t crc32c_table(uint32_t crc, const void *p, size_t n);

/* True when this CPU has the SSE4.2 crc32 instruction. */
bool crc32c_have_sse42(void);

/* The SSE4.2 version; call it only when crc32c_have_sse42(). */
uint32_t crc32c_sse42(uint32_t crc, const void *p, size_t n);

#endif
