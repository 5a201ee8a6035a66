/* SPDX-License-Identifier: MIT */
/* smtest_raw.c - a client that speaks the protocol by hand (proto/
 * functions, no library), for tests that must send exact bytes: hostile
 * frames, pipelined requests, half-finished handshakes. */
#include "proto/auth.h"
#include "proto/authkey.h"
#include "proto/frame.h"
#include "proto/msg.h"
#include "smtest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int smtest_raw_connect(const char *url) {
  int fd;
  if (strncmp(url, "unix:", 5) == 0) {
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s", url + 5);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof sun), 0);
    return fd;
  }
  const char *colon = strrchr(url, ':');
  ck_assert_ptr_nonnull(colon);
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
  inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
  fd = socket(AF_INET, SOCK_STREAM, 0);
  ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
  return fd;
}

void smtest_send_all(int fd, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n > 0) {
    ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
    ck_assert_msg(w > 0, "send: %s", strerror(errno));
    b += w;
    n -= (size_t)w;
  }
}

/* Reads one frame's payload into buf; returns its length, or -1 on EOF (or
 * a reset) before a whole frame. Fails the test after timeout_ms. */
long smtest_read_frame(int fd, uint8_t *buf, size_t cap, int timeout_ms) {
  size_t have = 0, need = FRAME_HEADER_LEN;
  uint8_t hdr[FRAME_HEADER_LEN];
  bool header = true;
  while (have < need) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    ck_assert_msg(poll(&pfd, 1, timeout_ms) == 1, "no answer from the daemon in %d ms", timeout_ms);
    ssize_t r = recv(fd, header ? hdr + have : buf + have, need - have, 0);
    if (r <= 0) return -1;
    have += (size_t)r;
    if (header && have == need) {
      size_t len;
      frame_parse(hdr, sizeof hdr, cap, &len);
      ck_assert_uint_le(len, cap);
      header = false;
      have = 0;
      need = len;
    }
  }
  return (long)need;
}

/* True when the daemon closes the connection (EOF or reset) within 5 s. */
bool smtest_closed_by_daemon(int fd) {
  uint8_t buf[4096];
  for (;;) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    if (poll(&pfd, 1, 5000) != 1) return false;
    ssize_t r = recv(fd, buf, sizeof buf, 0);
    if (r <= 0) return true;
  }
}

/* d's authkey; fails the test when it cannot be loaded. */
static authkey key_of(const smtest_daemon *d) {
  authkey k = {0};
  char err[256];
  ck_assert_msg(authkey_load(d->authkey_file, false, &k, err, sizeof err) == 0, "%s", err);
  return k;
}

authkey smtest_key(void) { return key_of(&smtest_d); }

int smtest_raw_handshake(int fd, const uint8_t *key, size_t keylen, uint8_t *hello_out) {
  return smtest_raw_handshake_as(fd, key, keylen, AUTH_PROTOCOL_VERSION, hello_out, NULL, NULL, 0);
}

/* Reads Hello, answers with a proof made from key in Auth of the given
 * protocol version, returns the AuthResult status. */
int smtest_raw_handshake_as(int fd, const uint8_t *key, size_t keylen, uint32_t version,
                            uint8_t *hello_out, wire_daemon_info *info, char *err, size_t errlen) {
  uint8_t buf[4096], sc[AUTH_CHALLENGE_LEN], cc[AUTH_CHALLENGE_LEN], mac[AUTH_MAC_LEN];
  long n = smtest_read_frame(fd, buf, sizeof buf, 5000);
  ck_assert_int_gt(n, 0);
  uint32_t oldest, newest;
  ck_assert_int_eq(wire_hello_decode((sm_span){buf, (size_t)n}, &oldest, &newest, sc), 0);
  if (hello_out) memcpy(hello_out, sc, sizeof sc);
  auth_random(cc, sizeof cc);
  auth_client_mac(key, keylen, sc, cc, mac);
  vbuf b;
  vb_init(&b);
  ck_assert_int_eq(wire_auth_encode(&b, version, mac, cc, "raw-test"), 0);
  smtest_send_all(fd, b.p, b.len);
  vb_free(&b);
  n = smtest_read_frame(fd, buf, sizeof buf, 5000);
  ck_assert_int_gt(n, 0);
  int status;
  bool has_mac;
  uint8_t smac[AUTH_MAC_LEN], expect[AUTH_MAC_LEN];
  char text[256];
  ck_assert_int_eq(wire_auth_result_decode((sm_span){buf, (size_t)n}, &status, smac, &has_mac, text,
                                           sizeof text, info),
                   0);
  if (err) snprintf(err, errlen, "%s", text);
  if (status == WS_OK) {
    /* The daemon proves it knows the key too. */
    auth_server_mac(key, keylen, sc, cc, expect);
    ck_assert(has_mac && auth_mac_ok(smac, sizeof smac, expect));
  }
  return status;
}

int smtest_raw_authed(void) { return smtest_raw_authed_to(&smtest_d); }

int smtest_raw_authed_to(const smtest_daemon *d) {
  authkey k = key_of(d);
  int fd = smtest_raw_connect(d->tcp_url);
  ck_assert_int_eq(smtest_raw_handshake(fd, k.bytes, k.len, NULL), WS_OK);
  authkey_clear(&k);
  return fd;
}

int smtest_raw_call(int fd, uint64_t seq, uint64_t object, const char *method, const sm_span *args,
                    size_t nargs, char *err, size_t errlen) {
  return smtest_raw_call_typed(fd, seq, object, 0, method, args, nargs, err, errlen);
}

/* Sends one request (with the type code, when not 0) and returns the status
 * of the response with the same seq; err receives its text. */
int smtest_raw_call_typed(int fd, uint64_t seq, uint64_t object, uint32_t type, const char *method,
                          const sm_span *args, size_t nargs, char *err, size_t errlen) {
  vbuf b;
  vb_init(&b);
  wire_request_out r = {
      .seq = seq, .object = object, .method = method, .args = args, .nargs = nargs, .type = type};
  ck_assert_int_eq(wire_request_encode(&b, &r), 0);
  smtest_send_all(fd, b.p, b.len);
  vb_free(&b);
  uint8_t buf[65536];
  long n = smtest_read_frame(fd, buf, sizeof buf, 5000);
  ck_assert_int_gt(n, 0);
  wire_response rs;
  ck_assert_int_eq(wire_response_decode((sm_span){buf, (size_t)n}, &rs), 0);
  ck_assert(rs.seq == seq);
  int status = rs.status;
  if (err) snprintf(err, errlen, "%s", rs.error ? rs.error : "");
  wire_response_release(&rs);
  return status;
}
