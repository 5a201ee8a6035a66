/* SPDX-License-Identifier: MIT */
/* crc32c.h - CRC-32C (Castagnoli), the checksum of log records and
 * snapshots: the SSE4.2 instruction where the CPU has it, a table
 * otherwise. */
#ifndef SM_SERVER_CRC32C_H
#define SM_SERVER_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 to start) over n bytes of p. */
uint32_t crc32c(uint32_t crc, const void *p, size_t n);

#endif
