/* SPDX-License-Identifier: MIT */
/* check_preauth.c - the budget of connections that have not authenticated,
 * against a real statemgrd over real sockets.
 *
 * Unauthenticated connections count apart from --max-connections (which
 * counts authenticated ones only), in --max-unauth-connections in all and
 * --max-unauth-per-addr per source; over either, the oldest of them (of
 * that source, or of all) is dropped with TOO_LARGE "dropped: ...". Before
 * authenticating, a connection may send one frame of at most 512 bytes and
 * the daemon keeps no more than that for it. The flood comes from other
 * loopback addresses (127.0.0.2...) than the good clients (127.0.0.1), as
 * from other machines. UNIX-socket peers of the daemon's own user are not
 * limited. */
#include "proto/auth.h"
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
#include <unistd.h>

static smtest_daemon d;

static void stop(void) { smtest_daemon_stop_checked(&d); }

static void start_max50(void) {
  const char *args[] = {"--max-connections", "50", NULL};
  smtest_daemon_start(&d, args);
}

static void start_small_budget(void) {
  const char *args[] = {"--max-unauth-connections", "40", "--max-unauth-per-addr", "16", NULL};
  smtest_daemon_start(&d, args);
}

static void start_tiny_budget(void) {
  const char *args[] = {"--max-unauth-connections", "8", "--max-unauth-per-addr", "4", NULL};
  smtest_daemon_start(&d, args);
}

static void start_wide_budget(void) {
  const char *args[] = {"--max-unauth-connections", "400", "--max-unauth-per-addr", "400", NULL};
  smtest_daemon_start(&d, args);
}

/* Connects from the loopback address src to the daemon's TCP port and
 * reads the Hello; fails the test otherwise. */
static int open_from(const char *src) {
  const char *colon = strrchr(d.tcp_url, ':');
  struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
  struct sockaddr_in from = {.sin_family = AF_INET};
  inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
  inet_pton(AF_INET, src, &from.sin_addr);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ck_assert_int_ge(fd, 0);
  ck_assert_msg(bind(fd, (struct sockaddr *)&from, sizeof from) == 0, "bind %s: %s", src,
                strerror(errno));
  ck_assert_msg(connect(fd, (struct sockaddr *)&dst, sizeof dst) == 0, "connect: %s",
                strerror(errno));
  uint8_t buf[FRAME_MAX_PREAUTH];
  uint32_t version;
  uint8_t ch[AUTH_CHALLENGE_LEN];
  long n = smtest_read_frame(fd, buf, sizeof buf, 5000);
  ck_assert_int_gt(n, 0);
  ck_assert_int_eq(wire_hello_decode((sm_span){buf, (size_t)n}, &version, NULL, ch), 0);
  return fd;
}

/* Reads the daemon's refusal on fd: a TOO_LARGE AuthResult whose text
 * holds want, then the daemon's close. */
static void expect_too_large(int fd, const char *want) {
  uint8_t buf[FRAME_MAX_PREAUTH];
  long n = smtest_read_frame(fd, buf, sizeof buf, 2000);
  ck_assert_int_gt(n, 0);
  int status;
  bool has_mac;
  uint8_t mac[AUTH_MAC_LEN];
  char text[256];
  ck_assert_int_eq(wire_auth_result_decode((sm_span){buf, (size_t)n}, &status, mac, &has_mac, text,
                                           sizeof text, NULL),
                   0);
  ck_assert_int_eq(status, WS_TOO_LARGE);
  ck_assert_msg(strstr(text, want), "\"%s\" lacks \"%s\"", text, want);
  ck_assert(smtest_closed_by_daemon(fd));
}

/* What became of a connection that sent nothing after its Hello: 1 when it
 * was dropped (a TOO_LARGE AuthResult holding want, then a close), 0 when
 * it is still open and silent. */
static int dropped(int fd, const char *want) {
  struct pollfd pfd = {.fd = fd, .events = POLLIN};
  if (poll(&pfd, 1, 0) == 0) return 0;
  expect_too_large(fd, want);
  return 1;
}

/* Waits until the daemon's answers to the last connections have arrived:
 * one more round trip on a connection of its own. */
static void settle(void) {
  int fd = open_from("127.0.0.9");
  close(fd);
}

/* The case: with --max-connections 50, 200 connections that never
 * authenticate (from one address) used to fill the limit and lock every
 * good client out (0 of 49). Now 49 good clients all connect and work,
 * and of the flood only the newest 128 (the per-address limit) are still
 * waiting: the oldest 72 were dropped, oldest first. */
START_TEST(flood_leaves_room) {
  int flood[200];
  for (int i = 0; i < 200; i++)
    flood[i] = open_from("127.0.0.2");
  sm_client *good[49];
  for (int i = 0; i < 49; i++) {
    good[i] = smtest_connect(&d, NULL);
    OK(sm_ping(good[i]));
  }
  settle();
  int n_dropped = 0;
  for (int i = 0; i < 200; i++) {
    int was = dropped(flood[i], "too many connections from 127.0.0.2 waiting to authenticate "
                                "(the limit is 128 per address)");
    ck_assert_msg(was == (i < 72), "connection %d of the flood: dropped %d", i, was);
    n_dropped += was;
    close(flood[i]);
  }
  ck_assert_int_eq(n_dropped, 72);
  for (int i = 0; i < 49; i++) {
    OK(sm_ping(good[i]));
    sm_client_free(good[i]);
  }
}
END_TEST

/* With 40 in all and 16 per address: 16 from each of three addresses (48)
 * push out the 8 oldest of all, and the good client's connection one more
 * (it authenticates at once and leaves the count again); then a 17th from
 * the third address pushes out that address's oldest only, not another
 * address's. */
START_TEST(total_and_per_address) {
  int fds[49];
  const char *srcs[3] = {"127.0.0.2", "127.0.0.3", "127.0.0.4"};
  for (int i = 0; i < 48; i++)
    fds[i] = open_from(srcs[i / 16]);
  sm_client *c = smtest_connect(&d, NULL); /* from 127.0.0.1: the 49th */
  OK(sm_ping(c));
  settle(); /* 39 waiting + this one: no drop */
  for (int i = 0; i < 48; i++)
    ck_assert_int_eq(dropped(fds[i], "too many connections waiting to authenticate (the limit is "
                                     "40)"),
                     i < 9);
  fds[48] = open_from("127.0.0.4");
  settle();
  for (int i = 9; i < 48; i++)
    ck_assert_int_eq(dropped(fds[i], "too many connections from 127.0.0.4"), i == 32);
  for (int i = 0; i < 49; i++)
    close(fds[i]);
  OK(sm_ping(c));
  /* info (and /metrics) count the drops per limit */
  ck_assert_int_eq(smtest_info_sub_int(c, "refused", "max_unauth_connections"), 9);
  ck_assert_int_eq(smtest_info_sub_int(c, "refused", "max_unauth_per_addr"), 1);
  sm_client_free(c);
}
END_TEST

/* UNIX-socket peers of the daemon's own user are not limited: 20 of them
 * in their handshake at once, with limits of 4 and 8, all authenticate. */
START_TEST(unix_own_user_unlimited) {
  authkey k = {0};
  char err[256];
  ck_assert_msg(authkey_load(d.authkey_file, false, &k, err, sizeof err) == 0, "%s", err);
  int fds[20];
  for (int i = 0; i < 20; i++)
    fds[i] = smtest_raw_connect(d.unix_url);
  for (int i = 0; i < 20; i++) {
    ck_assert_int_eq(smtest_raw_handshake(fds[i], k.bytes, k.len, NULL), WS_OK);
    close(fds[i]);
  }
  authkey_clear(&k);
}
END_TEST

/* Before authentication a frame may be 512 bytes at most: a header that
 * claims 513 is refused at once (it used to be read up to 4 KiB). */
START_TEST(preauth_frame_limit) {
  int fd = open_from("127.0.0.2");
  static const uint8_t header[] = {0, 0, 2, 1}; /* 513 bytes follow */
  smtest_send_all(fd, header, sizeof header);
  expect_too_large(fd, "513 bytes exceeds the limit of 512 bytes before authentication");
  close(fd);
}
END_TEST

/* 300 connections each halfway through a handshake frame, sent in two
 * pieces, cost the daemon little heap each: the partial frame is kept in a
 * buffer of its own size (the second piece used to make it a 64 KiB
 * buffer, about 19 MiB here). */
START_TEST(preauth_memory_bounded) {
  sm_client *c = smtest_connect(&d, NULL);
  int64_t before = smtest_info_int(c, "heap_bytes");
  int fds[300];
  static const uint8_t first[] = {0, 0, 0}, second[] = {200, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  for (int i = 0; i < 300; i++) {
    fds[i] = open_from("127.0.0.2");
    smtest_send_all(fds[i], first, sizeof first);
  }
  settle(); /* the daemon has read every first piece */
  for (int i = 0; i < 300; i++)
    smtest_send_all(fds[i], second, sizeof second);
  settle(); /* and every second one */
  int64_t after = smtest_info_int(c, "heap_bytes");
  fprintf(stderr, "preauth: 300 partial handshakes: heap %+lld bytes\n",
          (long long)(after - before));
  ck_assert_msg(after - before < 300 * 3072, "heap grew by %lld bytes",
                (long long)(after - before));
  for (int i = 0; i < 300; i++)
    close(fds[i]);
  sm_client_free(c);
}
END_TEST

Suite *preauth_suite(void) {
  Suite *s = suite_create("preauth");
  TCase *tc = tcase_create("flood");
  tcase_add_unchecked_fixture(tc, start_max50, stop);
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, flood_leaves_room);
  suite_add_tcase(s, tc);
  tc = tcase_create("limits");
  tcase_add_unchecked_fixture(tc, start_small_budget, stop);
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, total_and_per_address);
  suite_add_tcase(s, tc);
  tc = tcase_create("unix");
  tcase_add_unchecked_fixture(tc, start_tiny_budget, stop);
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, unix_own_user_unlimited);
  suite_add_tcase(s, tc);
  tc = tcase_create("input");
  tcase_add_unchecked_fixture(tc, start_wide_budget, stop);
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, preauth_frame_limit);
  tcase_add_test(tc, preauth_memory_bounded);
  suite_add_tcase(s, tc);
  return s;
}
