/* SPDX-License-Identifier: MIT */
/* auth.c - HMAC-SHA256 proofs for the handshake (see auth.h). */
#include "auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>

int auth_random(uint8_t *buf, size_t n) {
  if (n > INT32_MAX) return -1;
  return RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}

static void mac3(const uint8_t *key, size_t keylen, const char *label, const uint8_t *a,
                 const uint8_t *b, uint8_t out[AUTH_MAC_LEN]) {
  uint8_t msg[16 + 2 * AUTH_CHALLENGE_LEN];
  size_t llen = strlen(label);
  memcpy(msg, label, llen);
  memcpy(msg + llen, a, AUTH_CHALLENGE_LEN);
  memcpy(msg + llen + AUTH_CHALLENGE_LEN, b, AUTH_CHALLENGE_LEN);
  unsigned int outlen = AUTH_MAC_LEN;
  static const uint8_t empty = 0;
  /* HMAC accepts an empty key, but needs a non-NULL pointer for it. */
  if (!HMAC(EVP_sha256(), keylen ? key : &empty, (int)keylen, msg, llen + 2 * AUTH_CHALLENGE_LEN,
            out, &outlen))
    memset(out, 0, AUTH_MAC_LEN); /* an all-zero MAC never verifies against a real one */
  auth_wipe(msg, sizeof msg);
}

void auth_client_mac(const uint8_t *key, size_t keylen, const uint8_t server_ch[AUTH_CHALLENGE_LEN],
                     const uint8_t client_ch[AUTH_CHALLENGE_LEN], uint8_t out[AUTH_MAC_LEN]) {
  mac3(key, keylen, "sm-client", server_ch, client_ch, out);
}

void auth_server_mac(const uint8_t *key, size_t keylen, const uint8_t server_ch[AUTH_CHALLENGE_LEN],
                     const uint8_t client_ch[AUTH_CHALLENGE_LEN], uint8_t out[AUTH_MAC_LEN]) {
  mac3(key, keylen, "sm-server", client_ch, server_ch, out);
}

bool auth_mac_ok(const uint8_t *got, size_t got_len, const uint8_t expected[AUTH_MAC_LEN]) {
  return got_len == AUTH_MAC_LEN && CRYPTO_memcmp(got, expected, AUTH_MAC_LEN) == 0;
}

void auth_wipe(void *p, size_t n) { OPENSSL_cleanse(p, n); }
