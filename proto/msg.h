/* SPDX-License-Identifier: MIT */
/* msg.h - the protocol messages of statemgr.proto as plain structs.
 *
 * Requests and responses, one per call, are encoded and decoded here by
 * hand on the protobuf wire format (pbwire.h): zero-copy decoding, no
 * allocation, and the same bytes protobuf-c produces (tests/check_wire.c
 * holds the two to each other). The rare handshake messages go through
 * the generated protobuf-c code; this is the only place that includes
 * statemgr.pb-c.h. Every *_encode appends one whole frame (4-byte length +
 * payload) to a vbuf, so a caller can queue several frames and send them
 * with one write. Every *_decode takes one frame's payload; decoded structs
 * borrow from that payload, which must outlive them, and are released with
 * the matching *_release on every path. */
#ifndef SM_PROTO_MSG_H
#define SM_PROTO_MSG_H

#include "auth.h"
#include "vwire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Wire status numbers (statemgr.proto's Status), appended to only. The
 * public SM_E* code of each is in the table of status.h; WS_MAX is the
 * highest this build knows, and a peer may send higher ones. */
enum {
  WS_OK = 0,
  WS_TIMEOUT = 1,
  WS_NOT_FOUND = 2,
  WS_TYPE_ERROR = 3,
  WS_VALUE_ERROR = 4,
  WS_EMPTY = 5,
  WS_FULL = 6,
  WS_BROKEN = 7,
  WS_NOT_OWNER = 8,
  WS_AUTH_FAILED = 9,
  WS_PROTOCOL_ERROR = 10,
  WS_TOO_LARGE = 11,
  WS_SHUTTING_DOWN = 12,
  WS_INTERNAL = 13,
  WS_OUT_OF_MEMORY = 14,
  WS_STALE = 15,
  WS_DISK_FULL = 16,
  WS_OWNER_DEAD = 17,
  WS_DEADLOCK = 18,
  WS_FENCED = 19,
  WS_REDIRECT = 20,
  WS_MAX = 20,
};

/* ---- requests ---- */

#define WIRE_METHOD_MAX 255 /* longest method name */
#define WIRE_ARGS_INLINE 8  /* arguments held without allocating */
#define WIRE_URL_MAX 512    /* longest URL a REDIRECT names */

typedef struct wire_request {
  uint64_t seq;
  uint64_t object;    /* 0 addresses the manager */
  const char *method; /* NUL-terminated, in method_buf */
  size_t nargs;
  bool has_timeout;
  int64_t timeout_ms;
  bool has_type;
  uint32_t type;         /* the type code the caller expects the object to have */
  uint64_t ack;          /* protocol 3: the client has every answer up to this seq; 0: none said */
  uint64_t guard_object; /* protocol 4: run only if this lock's current token... */
  uint64_t guard_token;  /* ...is this one (FENCED otherwise); 0: no guard */
  /* internal */
  char method_buf[WIRE_METHOD_MAX + 1];
  sm_span args_inline[WIRE_ARGS_INLINE];
  sm_span *args; /* args_inline, or allocated past WIRE_ARGS_INLINE */
  size_t args_cap;
} wire_request;

/* Returns 0, or -1 when the payload is not a valid Request (a missing
 * required field, a wrong wire type, a method over WIRE_METHOD_MAX bytes or
 * with a NUL in it). Unknown fields are skipped. */
int wire_request_decode(sm_span payload, wire_request *out);
/* The i-th argument (a packed Value), borrowed from the payload. */
sm_span wire_request_arg(const wire_request *r, size_t i);
void wire_request_release(wire_request *r);

typedef struct wire_request_out {
  uint64_t seq;
  uint64_t object;
  const char *method;
  const sm_span *args;
  size_t nargs;
  bool has_timeout;
  int64_t timeout_ms;
  uint32_t type;         /* the expected type code; 0: none sent */
  uint64_t ack;          /* protocol 3: every answer up to this seq is in; 0: none sent */
  uint64_t guard_object; /* protocol 4: fencing guard; 0: none */
  uint64_t guard_token;
} wire_request_out;

/* Appends a Request frame. Returns 0, or -1 when out of memory or the frame
 * would exceed 4 GiB. */
int wire_request_encode(vbuf *out, const wire_request_out *r);

/* ---- responses ---- */

typedef struct wire_response {
  uint64_t seq;
  int status; /* WS_*, or a status of a newer daemon (any value >= 0) */
  bool has_result;
  sm_span result;     /* a packed Value, borrowed from the payload */
  const char *error;  /* NULL when absent; owned until release */
  uint64_t token;     /* protocol 4: the fencing token of a grant; 0: none */
  const char *leader; /* protocol 4, REDIRECT: the leader's URL; owned until release */
} wire_response;

int wire_response_decode(sm_span payload, wire_response *out);
void wire_response_release(wire_response *r);

typedef struct wire_response_out {
  uint64_t seq;
  int status;
  bool has_result;
  sm_span result;
  const char *error;  /* may be NULL */
  uint64_t token;     /* protocol 4: 0 when none */
  const char *leader; /* protocol 4, with REDIRECT; may be NULL */
} wire_response_out;

/* Size of the whole frame (header + payload) for r. */
size_t wire_response_frame_size(const wire_response_out *r);
/* Writes the whole frame into out, which has wire_response_frame_size(r) bytes. */
void wire_response_frame_pack(const wire_response_out *r, uint8_t *out);
int wire_response_encode(vbuf *out, const wire_response_out *r);

/* The type code of a type name: FNV-1a (32 bits) of its bytes, never 0. A
 * proxy computes it once; the daemon compares it with the code of the
 * object a request names (Request.type), with no string work per call. */
uint32_t wire_type_code(const char *name);

/* ---- handshake ---- */

/* A Hello offering protocol versions version..max_version (max_version 0:
 * none sent, as a protocol-1 daemon does). */
int wire_hello_encode(vbuf *out, uint32_t version, uint32_t max_version,
                      const uint8_t challenge[AUTH_CHALLENGE_LEN]);
/* Returns 0, or -1 when malformed (wrong challenge length included).
 * *max_version (may be NULL) is *version when the Hello has none. */
int wire_hello_decode(sm_span payload, uint32_t *version, uint32_t *max_version,
                      uint8_t challenge[AUTH_CHALLENGE_LEN]);

/* version: the protocol version the client chose from the Hello's range. */
int wire_auth_encode(vbuf *out, uint32_t version, const uint8_t mac[AUTH_MAC_LEN],
                     const uint8_t challenge[AUTH_CHALLENGE_LEN], const char *client_name);
/* As wire_auth_encode, asking (protocol 3) to resume session resume (0:
 * none sent, a new session) whose key is key. */
int wire_auth_encode_resume(vbuf *out, uint32_t version, const uint8_t mac[AUTH_MAC_LEN],
                            const uint8_t challenge[AUTH_CHALLENGE_LEN], const char *client_name,
                            uint64_t resume, uint64_t key);
/* name receives the client name (may be empty), truncated to namelen;
 * *resume (may be NULL) the session to resume, 0 when none was named, and
 * *key (may be NULL) its key. */
int wire_auth_decode(sm_span payload, uint32_t *version, uint8_t mac[AUTH_MAC_LEN],
                     uint8_t challenge[AUTH_CHALLENGE_LEN], char *name, size_t namelen,
                     uint64_t *resume, uint64_t *key);

/* What a daemon of protocol 2 tells a client it accepted (AuthResult), and
 * of protocol 3 the connection's session. */
typedef struct wire_daemon_info {
  uint64_t instance;         /* random id of this run of the daemon; 0: not sent */
  uint32_t max_depth;        /* its --max-depth; 0: not sent */
  uint64_t session;          /* protocol 3: the connection's session; 0: not sent */
  bool resumed;              /* protocol 3: the session asked for was resumed */
  bool durable;              /* protocol 3: the daemon's sessions survive its restart */
  uint64_t key;              /* protocol 3: the session's key, which a resume names; 0: none */
  char leader[WIRE_URL_MAX]; /* protocol 4, with REDIRECT: the leader's URL; "": none */
} wire_daemon_info;

/* mac may be NULL (a refusal); error may be NULL; info may be NULL (none
 * sent, as to a refused client). */
int wire_auth_result_encode(vbuf *out, int status, const uint8_t *mac, const char *error,
                            const wire_daemon_info *info);
/* Any status >= 0 is accepted (see wire_response). *has_mac tells whether
 * mac was filled; error text copied into err; info
 * (may be NULL) receives the daemon's facts, zero when absent. */
int wire_auth_result_decode(sm_span payload, int *status, uint8_t mac[AUTH_MAC_LEN], bool *has_mac,
                            char *err, size_t errlen, wire_daemon_info *info);

#endif
