/* SPDX-License-Identifier: MIT */
/* frame.c - length-prefixed framing (see frame.h). */
#include "frame.h"

frame_state frame_parse(const uint8_t *buf, size_t len, size_t max, size_t *payload_len) {
  if (len < FRAME_HEADER_LEN) return FRAME_NEED_MORE;
  uint32_t n = ((uint32_t)buf[0] << 24) | ((uint32_t)buf[1] << 16) | ((uint32_t)buf[2] << 8) |
               (uint32_t)buf[3];
  *payload_len = n;
  if (n > max) return FRAME_TOO_LARGE;
  if (len - FRAME_HEADER_LEN < n) return FRAME_NEED_MORE;
  return FRAME_READY;
}

void frame_put_header(uint8_t out[FRAME_HEADER_LEN], uint32_t len) {
  out[0] = (uint8_t)(len >> 24);
  out[1] = (uint8_t)(len >> 16);
  out[2] = (uint8_t)(len >> 8);
  out[3] = (uint8_t)len;
}
