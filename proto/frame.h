/* SPDX-License-Identifier: MIT */
/* frame.h - length-prefixed framing shared by the daemon and the library.
 *
 * A frame is a 4-byte big-endian payload length followed by the payload (one
 * protobuf message). frame_parse() is a pure function of bytes so the same
 * decoder serves libevent buffers, blocking sockets, tests and fuzzers. */
#ifndef SM_PROTO_FRAME_H
#define SM_PROTO_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_HEADER_LEN 4
#define FRAME_MAX_DEFAULT (64u * 1024u * 1024u) /* after authentication */
#define FRAME_MAX_PREAUTH 512u /* handshake frames are tiny (an Auth: about 150 bytes) */

typedef enum frame_state {
  FRAME_NEED_MORE = 0, /* not enough bytes yet for a header or the payload */
  FRAME_READY = 1,     /* *payload_len bytes follow the header */
  FRAME_TOO_LARGE = 2, /* the header claims more than max: refuse, close */
} frame_state;

/* Looks at the first len bytes of buf. Returns FRAME_TOO_LARGE as soon as the
 * header is complete and its length exceeds max, so nothing is allocated for a
 * hostile length. On FRAME_READY and FRAME_TOO_LARGE, *payload_len is the
 * length the header claims. */
frame_state frame_parse(const uint8_t *buf, size_t len, size_t max, size_t *payload_len);

/* Writes the 4-byte header for a payload of len bytes. */
void frame_put_header(uint8_t out[FRAME_HEADER_LEN], uint32_t len);

#endif
