/* SPDX-License-Identifier: MIT */
/* auth.h - the mutual HMAC-SHA256 challenge/response of the handshake.
 *
 * Server sends a random challenge Sc; the client answers
 * HMAC(key, "sm-client" | Sc | Cc) with its own challenge Cc; the server
 * checks it and answers HMAC(key, "sm-server" | Cc | Sc). The labels keep a
 * proof from one direction from being reflected back as the other. Neither
 * side ever sends the key. */
#ifndef SM_PROTO_AUTH_H
#define SM_PROTO_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Protocol versions. 1: the first. 2: AuthResult tells the client the
 * daemon's instance and --max-depth, a Request may carry the type code its
 * proxy expects, and the statuses OUT_OF_MEMORY and STALE exist. 3: Auth
 * may name a session to resume, AuthResult tells the connection's session,
 * whether the resume succeeded and whether the daemon is durable, and a
 * Request may carry `ack` (exactly once across a restart, docs/protocol.md).
 * 4: fencing (Request.guard_*, Response.token), the statuses OWNER_DEAD,
 * DEADLOCK, FENCED and REDIRECT (AuthResult/Response.leader).
 * The daemon serves AUTH_PROTOCOL_OLDEST..AUTH_PROTOCOL_VERSION (the Hello
 * offers that range, Auth picks one); the library speaks 3, and 2 to a
 * daemon that offers no more (without resuming), never 1, since a daemon
 * of protocol 1 numbers its objects from 1 again after a restart. */
#define AUTH_CHALLENGE_LEN 32
#define AUTH_MAC_LEN 32
#define AUTH_PROTOCOL_VERSION 4u       /* the newest protocol version this build speaks */
#define AUTH_PROTOCOL_OLDEST 1u        /* the oldest one the daemon still serves */
#define AUTH_PROTOCOL_CLIENT_OLDEST 2u /* the oldest one the library speaks */
#define AUTH_PROTOCOL_RESUME 3u        /* sessions, resume and ack from this one on */
#define AUTH_PROTOCOL_FENCING 4u       /* guards, tokens, OWNER_DEAD, DEADLOCK from this one on */
/* Bytes of a client's self-chosen name that travel in its Auth (the
 * library cuts longer names at a character boundary), so an Auth always
 * fits the small pre-authentication frame limit. */
#define AUTH_CLIENT_NAME_MAX 63u

/* Fills buf with n bytes from OpenSSL's CSPRNG. Returns 0, or -1. */
int auth_random(uint8_t *buf, size_t n);

/* The client's proof: HMAC(key, "sm-client" | server_ch | client_ch). */
void auth_client_mac(const uint8_t *key, size_t keylen, const uint8_t server_ch[AUTH_CHALLENGE_LEN],
                     const uint8_t client_ch[AUTH_CHALLENGE_LEN], uint8_t out[AUTH_MAC_LEN]);

/* The server's proof: HMAC(key, "sm-server" | client_ch | server_ch). */
void auth_server_mac(const uint8_t *key, size_t keylen, const uint8_t server_ch[AUTH_CHALLENGE_LEN],
                     const uint8_t client_ch[AUTH_CHALLENGE_LEN], uint8_t out[AUTH_MAC_LEN]);

/* Constant-time comparison of a received MAC (any length) with an expected one. */
bool auth_mac_ok(const uint8_t *got, size_t got_len, const uint8_t expected[AUTH_MAC_LEN]);

/* Overwrites n bytes in a way the compiler may not drop. */
void auth_wipe(void *p, size_t n);

#endif
