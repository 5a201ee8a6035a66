/* SPDX-License-Identifier: MIT */
/* check_robust.c - bad input against the real daemon over real sockets.
 *
 * A raw client speaks the protocol by hand (proto/ functions, no library)
 * so each test can send exactly the bytes it wants: a wrong key, garbage, a
 * hostile length, a malformed frame, a replayed handshake, half a frame. In
 * every case the test checks the daemon's answer (status and closing) and
 * then that the daemon still serves a well-behaved client. */
#include "proto/auth.h"
#include "proto/authkey.h"
#include "proto/frame.h"
#include "proto/msg.h"
#include "smtest.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

/* Reads the one Response a refused frame gets and returns its status. */
static int read_refusal(int fd) {
  uint8_t buf[4096];
  long n = smtest_read_frame(fd, buf, sizeof buf, 5000);
  ck_assert_int_gt(n, 0);
  wire_response rs;
  ck_assert_int_eq(wire_response_decode((sm_span){buf, (size_t)n}, &rs), 0);
  ck_assert(rs.seq == 0 && rs.error != NULL);
  int status = rs.status;
  wire_response_release(&rs);
  return status;
}

/* The daemon still answers a well-behaved library client correctly. */
static void assert_daemon_serves(void) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  ck_assert_int_eq(sm_ping(c), 0);
  sm_dict *d;
  ck_assert_int_eq(sm_dict_open(c, "robust-probe", &d), 0);
  ck_assert_int_eq(sm_dict_set_int(d, "k", 41), 0);
  int64_t v = 0;
  ck_assert_int_eq(sm_dict_get_int(d, "k", &v), 0);
  ck_assert_int_eq(v, 41);
  sm_dict_free(d);
  sm_client_free(c);
}

/* ---- authentication ---- */

/* The library reports a wrong authkey as SM_EAUTH, and the daemon goes on
 * serving a client with the right one. */
START_TEST(wrong_authkey_library) {
  sm_options *o = sm_options_new();
  ck_assert_int_eq(sm_options_set_authkey(o, "not the key, though long enough", 31), 0);
  sm_client *c = NULL;
  ck_assert_int_eq(sm_connect(smtest_d.tcp_url, o, &c), SM_EAUTH);
  ck_assert_ptr_null(c);
  ck_assert_int_eq(sm_connect(smtest_d.unix_url, o, &c), SM_EAUTH);
  sm_options_free(o);
  assert_daemon_serves();
}
END_TEST

/* A raw client with the wrong key gets AUTH_FAILED, then the connection
 * closes. */
START_TEST(wrong_authkey_raw) {
  int fd = smtest_raw_connect(smtest_d.unix_url);
  ck_assert_int_eq(smtest_raw_handshake(fd, (const uint8_t *)"bad", 3, NULL), WS_AUTH_FAILED);
  ck_assert(smtest_closed_by_daemon(fd));
  close(fd);
  assert_daemon_serves();
}
END_TEST

/* A proof made for one connection's challenge is worthless on another: a
 * replayed handshake is refused. */
START_TEST(replayed_handshake) {
  authkey k = smtest_key();
  uint8_t buf[4096], sc1[AUTH_CHALLENGE_LEN], sc2[AUTH_CHALLENGE_LEN], cc[AUTH_CHALLENGE_LEN],
      mac[AUTH_MAC_LEN];
  int a = smtest_raw_connect(smtest_d.tcp_url), b = smtest_raw_connect(smtest_d.tcp_url);
  uint32_t version;
  long n = smtest_read_frame(a, buf, sizeof buf, 5000);
  ck_assert_int_eq(wire_hello_decode((sm_span){buf, (size_t)n}, &version, NULL, sc1), 0);
  n = smtest_read_frame(b, buf, sizeof buf, 5000);
  ck_assert_int_eq(wire_hello_decode((sm_span){buf, (size_t)n}, &version, NULL, sc2), 0);
  ck_assert(memcmp(sc1, sc2, sizeof sc1) != 0); /* fresh challenge per connection */
  auth_random(cc, sizeof cc);
  auth_client_mac(k.bytes, k.len, sc1, cc, mac); /* valid for a, replayed on b */
  vbuf v;
  vb_init(&v);
  wire_auth_encode(&v, AUTH_PROTOCOL_VERSION, mac, cc, "replay");
  smtest_send_all(b, v.p, v.len);
  vb_free(&v);
  n = smtest_read_frame(b, buf, sizeof buf, 5000);
  int status;
  bool has_mac;
  char err[128];
  ck_assert_int_eq(wire_auth_result_decode((sm_span){buf, (size_t)n}, &status, mac, &has_mac, err,
                                           sizeof err, NULL),
                   0);
  ck_assert_int_eq(status, WS_AUTH_FAILED);
  ck_assert(!has_mac);
  ck_assert(smtest_closed_by_daemon(b));
  close(a);
  close(b);
  authkey_clear(&k);
  assert_daemon_serves();
}
END_TEST

/* ---- hostile frames ---- */

/* An HTTP request sent to the port reads as a 1.2 GB frame before
 * authentication: refused as TOO_LARGE from the header alone. */
START_TEST(garbage_before_auth) {
  int fd = smtest_raw_connect(smtest_d.tcp_url);
  uint8_t buf[4096];
  ck_assert_int_gt(smtest_read_frame(fd, buf, sizeof buf, 5000), 0);
  const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  smtest_send_all(fd, http, strlen(http));
  long n = smtest_read_frame(fd, buf, sizeof buf, 5000);
  ck_assert_int_gt(n, 0);
  int status;
  bool has_mac;
  uint8_t mac[AUTH_MAC_LEN];
  char err[128];
  ck_assert_int_eq(wire_auth_result_decode((sm_span){buf, (size_t)n}, &status, mac, &has_mac, err,
                                           sizeof err, NULL),
                   0);
  ck_assert_int_eq(status, WS_TOO_LARGE);
  ck_assert(smtest_closed_by_daemon(fd));
  close(fd);

  /* A small frame of junk is a malformed handshake. */
  fd = smtest_raw_connect(smtest_d.tcp_url);
  ck_assert_int_gt(smtest_read_frame(fd, buf, sizeof buf, 5000), 0);
  uint8_t junk[] = {0, 0, 0, 5, 0xde, 0xad, 0xbe, 0xef, 0x00};
  smtest_send_all(fd, junk, sizeof junk);
  n = smtest_read_frame(fd, buf, sizeof buf, 5000);
  ck_assert_int_eq(wire_auth_result_decode((sm_span){buf, (size_t)n}, &status, mac, &has_mac, err,
                                           sizeof err, NULL),
                   0);
  ck_assert_int_eq(status, WS_PROTOCOL_ERROR);
  ck_assert(smtest_closed_by_daemon(fd));
  close(fd);
  assert_daemon_serves();
}
END_TEST

/* After authentication, a frame claiming 4 GiB is refused with TOO_LARGE
 * before anything is allocated, and the connection closes. */
START_TEST(huge_length_after_auth) {
  int fd = smtest_raw_authed();
  uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 1, 2, 3};
  smtest_send_all(fd, huge, sizeof huge);
  ck_assert_int_eq(read_refusal(fd), WS_TOO_LARGE);
  ck_assert(smtest_closed_by_daemon(fd));
  close(fd);
  assert_daemon_serves();
}
END_TEST

/* A frame whose payload is not a Request gets PROTOCOL_ERROR and a close. */
START_TEST(malformed_request) {
  int fd = smtest_raw_authed();
  uint8_t bad[] = {0, 0, 0, 3, 0xff, 0xff, 0xff};
  smtest_send_all(fd, bad, sizeof bad);
  ck_assert_int_eq(read_refusal(fd), WS_PROTOCOL_ERROR);
  ck_assert(smtest_closed_by_daemon(fd));
  close(fd);
  assert_daemon_serves();
}
END_TEST

/* Errors inside well-formed requests are answered and the connection
 * stays usable: an unknown method, an argument that is not a value, a
 * missing object (an id no daemon gave out yet, and one below this run's
 * first id: an earlier daemon's), a wrong argument type. */
START_TEST(bad_requests_keep_connection) {
  int fd = smtest_raw_authed();
  char err[256];
  ck_assert_int_eq(smtest_raw_call(fd, 1, 0, "no-such-method", NULL, 0, err, sizeof err),
                   WS_TYPE_ERROR);
  ck_assert_ptr_nonnull(strstr(err, "no-such-method"));
  uint8_t notvalue[] = {0xff, 0x01};
  sm_span arg = {notvalue, sizeof notvalue};
  ck_assert_int_eq(smtest_raw_call(fd, 2, 0, "ping", &arg, 1, err, sizeof err), WS_PROTOCOL_ERROR);
  ck_assert_int_eq(smtest_raw_call(fd, 3, UINT64_C(1) << 63, "get", NULL, 0, err, sizeof err),
                   WS_NOT_FOUND);
  ck_assert_int_eq(smtest_raw_call(fd, 3, 987654321, "get", NULL, 0, err, sizeof err), WS_STALE);
  vbuf v;
  vb_init(&v);
  vb_int(&v, 5);
  arg = vb_span(&v);
  sm_span create_args[2] = {arg, {NULL, 0}};
  ck_assert_int_eq(smtest_raw_call(fd, 4, 0, "create", create_args, 2, err, sizeof err),
                   WS_TYPE_ERROR);
  vb_free(&v);
  ck_assert_int_eq(smtest_raw_call(fd, 5, 0, "ping", NULL, 0, err, sizeof err), WS_OK);
  close(fd);
  assert_daemon_serves();
}
END_TEST

/* Every prefix of a valid request frame, each on its own connection that
 * then vanishes: nothing is answered twice or crashes, and the daemon goes
 * on. */
START_TEST(every_prefix_then_vanish) {
  authkey k = smtest_key();
  vbuf b;
  vb_init(&b);
  vbuf key;
  vb_init(&key);
  vb_str(&key, "dict", 4);
  sm_span args[2] = {vb_span(&key), {NULL, 0}};
  wire_request_out r = {.seq = 1, .object = 0, .method = "create", .args = args, .nargs = 2};
  ck_assert_int_eq(wire_request_encode(&b, &r), 0);
  for (size_t cut = 0; cut < b.len; cut++) {
    int fd = smtest_raw_connect(smtest_d.tcp_url);
    ck_assert_int_eq(smtest_raw_handshake(fd, k.bytes, k.len, NULL), WS_OK);
    if (cut) smtest_send_all(fd, b.p, cut);
    close(fd);
  }
  vb_free(&b);
  vb_free(&key);
  authkey_clear(&k);
  assert_daemon_serves();
}
END_TEST

/* ---- clients that die ---- */

/* A client killed with SIGKILL while holding anonymous objects (one of
 * them referred to from another anonymous dict) leaves nothing behind: the
 * daemon frees them when the connection drops, and keeps serving. */
START_TEST(sigkill_client_frees_anonymous) {
  sm_client *watcher = smtest_connect(&smtest_d, NULL);
  int64_t before = smtest_info_int(watcher, "objects");
  int ready[2];
  ck_assert_int_eq(pipe(ready), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    sm_client *c = smtest_connect(&smtest_d, NULL);
    sm_dict *d;
    sm_list *l;
    ck_assert_int_eq(sm_dict_open(c, NULL, &d), 0);
    ck_assert_int_eq(sm_list_open(c, NULL, &l), 0);
    sm_value *ref = sm_proxy_ref(sm_list_proxy(l));
    sm_value *key = sm_value_str("inner");
    ck_assert_int_eq(sm_dict_set(d, key, ref), 0);
    ck_assert_int_eq(sm_list_append_int(l, 1), 0);
    /* keep requests flowing until killed */
    ck_assert_int_eq(write(ready[1], "x", 1), 1);
    for (;;)
      sm_list_append_int(l, 2);
  }
  char x;
  ck_assert_int_eq(read(ready[0], &x, 1), 1);
  ck_assert_int_eq(smtest_info_int(watcher, "objects"), before + 2);
  usleep(50 * 1000);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  int64_t now = -1;
  for (int i = 0; i < 200 && now != before; i++) {
    now = smtest_info_int(watcher, "objects");
    if (now != before) usleep(10 * 1000);
  }
  ck_assert_int_eq(now, before);
  close(ready[0]);
  close(ready[1]);
  sm_client_free(watcher);
  assert_daemon_serves();
}
END_TEST

Suite *robust_suite(void) {
  Suite *s = suite_create("robust");
  TCase *tc = smtest_daemon_tcase(s, "auth", 60);
  tcase_add_test(tc, wrong_authkey_library);
  tcase_add_test(tc, wrong_authkey_raw);
  tcase_add_test(tc, replayed_handshake);
  tc = smtest_daemon_tcase(s, "frames", 60);
  tcase_add_test(tc, garbage_before_auth);
  tcase_add_test(tc, huge_length_after_auth);
  tcase_add_test(tc, malformed_request);
  tcase_add_test(tc, bad_requests_keep_connection);
  tcase_add_test(tc, every_prefix_then_vanish);
  tc = smtest_daemon_tcase(s, "dying clients", 60);
  tcase_add_test(tc, sigkill_client_frees_anonymous);
  return s;
}
