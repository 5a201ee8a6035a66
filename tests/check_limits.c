/* SPDX-License-Identifier: MIT */
/* check_limits.c - the limits that protect the daemon, each crossed on
 * purpose against a real statemgrd started with a small value of its flag:
 * frame size, connection count, handshake deadline, value nesting, parked
 * calls per connection, and a client that never reads its answers. Each
 * test checks the status the client gets back and that the daemon then
 * still serves a well-behaved client. */
#include "proto/frame.h"
#include "proto/msg.h"
#include "smtest.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static smtest_daemon d;

static void start_with(const char *flag, const char *value) {
  const char *args[] = {flag, value, NULL};
  smtest_daemon_start(&d, args);
}

static void stop(void) { smtest_daemon_stop_checked(&d); }
static void start_small_frames(void) { start_with("--max-frame", "2048"); }
static void start_three_conns(void) { start_with("--max-connections", "3"); }
static void start_short_handshake(void) { start_with("--handshake-timeout", "300"); }
static void start_shallow(void) { start_with("--max-depth", "3"); }
static void start_few_pending(void) { start_with("--max-pending", "4"); }
static void start_default(void) { smtest_daemon_start(&d, NULL); }

static sm_client *connect_d(void) { return smtest_connect(&d, NULL); }

static void assert_serves(void) {
  sm_client *c = connect_d();
  sm_var *v;
  ck_assert_int_eq(sm_var_open(c, "limits-probe", NULL, &v), 0);
  int64_t n = 0;
  ck_assert_int_eq(sm_var_add_int(v, 1, &n), 0);
  ck_assert_int_ge(n, 1);
  sm_var_free(v);
  sm_client_free(c);
}

static int raw_authed_d(void) { return smtest_raw_authed_to(&d); }

/* ---- frame size ---- */

/* A request larger than --max-frame is refused with TOO_LARGE from its
 * header and the connection closes; the library reports SM_ETOOLARGE, and
 * the same client's next call (on a fresh connection) works. */
START_TEST(frame_limit) {
  sm_client *c = connect_d();
  sm_dict *dict;
  ck_assert_int_eq(sm_dict_open(c, "frames", &dict), 0);
  char big[4096];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  ck_assert_int_eq(sm_dict_set_str(dict, "big", big), SM_ETOOLARGE);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "2048"));
  ck_assert_int_eq(sm_dict_set_str(dict, "small", "fits"), 0);
  char *got = NULL;
  ck_assert_int_eq(sm_dict_get_str(dict, "small", &got), 0);
  ck_assert_str_eq(got, "fits");
  sm_free(got);
  sm_dict_free(dict);
  sm_client_free(c);
  assert_serves();
}
END_TEST

/* ---- connection count ---- */

/* With --max-connections 3, a fourth connection is told "too many
 * connections" (TOO_LARGE) at its handshake; once one of the three goes, a
 * new client gets in. */
START_TEST(connection_limit) {
  int fds[3];
  for (int i = 0; i < 3; i++)
    fds[i] = raw_authed_d();
  sm_options *o = sm_options_new();
  ck_assert_int_eq(sm_options_set_authkey_file(o, d.authkey_file), 0);
  sm_client *c = NULL;
  ck_assert_int_eq(sm_connect(d.tcp_url, o, &c), SM_ETOOLARGE);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "too many connections"));
  close(fds[0]);
  int rc = SM_ETOOLARGE;
  for (int tries = 0; tries < 100 && rc != 0; tries++) {
    rc = sm_connect(d.tcp_url, o, &c);
    if (rc != 0) usleep(20 * 1000); /* the daemon sees the close asynchronously */
  }
  ck_assert_int_eq(rc, 0);
  ck_assert_int_eq(sm_ping(c), 0);
  sm_client_free(c);
  sm_options_free(o);
  close(fds[1]);
  close(fds[2]);
}
END_TEST

/* ---- handshake deadline ---- */

/* A client that connects and never authenticates is refused at the
 * --handshake-timeout deadline with a reason, then closed. */
START_TEST(handshake_deadline) {
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  int fd = smtest_raw_connect(d.tcp_url);
  uint8_t buf[4096];
  ck_assert_int_gt(smtest_read_frame(fd, buf, sizeof buf, 5000), 0); /* Hello */
  long n = smtest_read_frame(fd, buf, sizeof buf, 5000);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  ck_assert_int_gt(n, 0);
  int status;
  bool has_mac;
  uint8_t mac[AUTH_MAC_LEN];
  char err[128];
  ck_assert_int_eq(wire_auth_result_decode((sm_span){buf, (size_t)n}, &status, mac, &has_mac, err,
                                           sizeof err, NULL),
                   0);
  ck_assert_int_eq(status, WS_PROTOCOL_ERROR);
  ck_assert_ptr_nonnull(strstr(err, "handshake"));
  double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  ck_assert_msg(s >= 0.25 && s < 3.0, "refused after %.3f s, expected about 0.3 s", s);
  ck_assert(smtest_closed_by_daemon(fd));
  close(fd);
  assert_serves();
}
END_TEST

/* ---- nesting depth ---- */

static sm_value *nested(int depth) {
  sm_value *v = sm_value_int(1);
  for (int i = 0; i < depth; i++) {
    sm_value *l = sm_value_list();
    ck_assert_int_eq(sm_value_list_append(l, v), 0);
    v = l;
  }
  return v;
}

/* With --max-depth 3, a value nested three lists deep is stored and one
 * nested four deep is refused with SM_EVALUE, the connection intact. */
START_TEST(depth_limit) {
  sm_client *c = connect_d();
  sm_dict *dict;
  ck_assert_int_eq(sm_dict_open(c, "depth", &dict), 0);
  sm_value *key = sm_value_str("k"), *ok = nested(3), *deep = nested(4);
  ck_assert_int_eq(sm_dict_set(dict, key, ok), 0);
  ck_assert_int_eq(sm_dict_set(dict, key, deep), SM_EVALUE);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "deeper"));
  sm_value *back = NULL;
  ck_assert_int_eq(sm_dict_get(dict, key, &back), 0);
  ck_assert(sm_value_equal(back, ok));
  sm_value_free(back);
  sm_value_free(key);
  sm_value_free(ok);
  sm_value_free(deep);
  sm_dict_free(dict);
  sm_client_free(c);
}
END_TEST

/* ---- parked calls per connection ---- */

/* With --max-pending 4, a connection that pipelines ten blocking gets has
 * only four parked: the daemon stops reading it. As puts answer them, it
 * reads on, and every one of the ten gets exactly one of the ten items. */
START_TEST(pending_limit) {
  sm_client *c = connect_d();
  /* Create the queue by name and learn its id, with the raw client. */
  int fd = raw_authed_d();
  vbuf b, type, name;
  vb_init(&b);
  vb_init(&type);
  vb_init(&name);
  vb_str(&type, "queue", 5);
  vb_str(&name, "pending-q", 9);
  sm_span cargs[2] = {vb_span(&type), vb_span(&name)};
  ck_assert_int_eq(smtest_raw_call(fd, 1, 0, "create", cargs, 2, NULL, 0), WS_OK);
  vb_reset(&b);
  wire_request_out open = {.seq = 2, .object = 0, .method = "open", .args = &cargs[1], .nargs = 1};
  ck_assert_int_eq(wire_request_encode(&b, &open), 0);
  smtest_send_all(fd, b.p, b.len);
  uint8_t buf[4096];
  long n = smtest_read_frame(fd, buf, sizeof buf, 5000);
  wire_response rs;
  ck_assert_int_eq(wire_response_decode((sm_span){buf, (size_t)n}, &rs), 0);
  ck_assert_int_eq(rs.status, WS_OK);
  vinfo ref;
  ck_assert_int_eq(vw_peek(rs.result, &ref), VW_OK);
  ck_assert_int_eq(ref.kind, VK_REF);
  uint64_t qid = ref.ref_id;
  wire_response_release(&rs);

  vb_reset(&b);
  for (uint64_t seq = 100; seq < 110; seq++) {
    wire_request_out get = {.seq = seq, .object = qid, .method = "get"};
    ck_assert_int_eq(wire_request_encode(&b, &get), 0);
  }
  smtest_send_all(fd, b.p, b.len);
  int64_t waiters = 0;
  for (int i = 0; i < 200 && waiters < 4; i++) {
    waiters = smtest_info_int(c, "waiters");
    if (waiters < 4) usleep(10 * 1000);
  }
  ck_assert_int_eq(waiters, 4);
  usleep(100 * 1000);
  ck_assert_int_eq(smtest_info_int(c, "waiters"), 4); /* the other six are not read yet */

  int putter = raw_authed_d();
  bool seen[10] = {false};
  for (int64_t i = 0; i < 10; i++) {
    vbuf item;
    vb_init(&item);
    vb_int(&item, i);
    sm_span a = vb_span(&item);
    ck_assert_int_eq(smtest_raw_call(putter, (uint64_t)(1000 + i), qid, "put", &a, 1, NULL, 0),
                     WS_OK);
    vb_free(&item);
  }
  for (int i = 0; i < 10; i++) {
    n = smtest_read_frame(fd, buf, sizeof buf, 5000);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(wire_response_decode((sm_span){buf, (size_t)n}, &rs), 0);
    ck_assert_int_eq(rs.status, WS_OK);
    ck_assert(rs.seq >= 100 && rs.seq < 110);
    vinfo vi;
    ck_assert_int_eq(vw_peek(rs.result, &vi), VW_OK);
    ck_assert(vi.kind == VK_INT && vi.i >= 0 && vi.i < 10 && !seen[vi.i]);
    seen[vi.i] = true;
    wire_response_release(&rs);
  }
  ck_assert_int_eq(smtest_info_int(c, "waiters"), 0);
  vb_free(&b);
  vb_free(&type);
  vb_free(&name);
  close(putter);
  close(fd);
  sm_client_free(c);
}
END_TEST

/* ---- a client that never reads ---- */

static long rss_kib(pid_t pid) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "r");
  ck_assert_ptr_nonnull(f);
  long kib = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
  fclose(f);
  return kib;
}

/* A client pipelines gets of a 256 KiB value for 50 GB of
 * answers and never reads them: the daemon stops reading that connection
 * once a few MiB are queued, so its memory stays bounded, and it keeps
 * serving others meanwhile. */
START_TEST(slow_reader_bounded) {
  sm_client *c = connect_d();
  sm_dict *dict;
  ck_assert_int_eq(sm_dict_open(c, "slow", &dict), 0);
  size_t big_len = 256 * 1024;
  char *big = malloc(big_len + 1);
  memset(big, 'v', big_len);
  big[big_len] = '\0';
  ck_assert_int_eq(sm_dict_set_str(dict, "big", big), 0);
  free(big);
  long before = rss_kib(d.pid);

  int fd = raw_authed_d();
  int rcvbuf = 4096;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  vbuf key, b;
  vb_init(&key);
  vb_init(&b);
  vb_str(&key, "big", 3);
  sm_span arg = vb_span(&key);
  uint64_t dict_id = sm_proxy_id(sm_dict_proxy(dict));
  size_t sent_requests = 0;
  for (uint64_t seq = 1; seq <= 200000; seq++) {
    vb_reset(&b);
    wire_request_out get = {
        .seq = seq, .object = dict_id, .method = "get", .args = &arg, .nargs = 1};
    ck_assert_int_eq(wire_request_encode(&b, &get), 0);
    size_t off = 0;
    while (off < b.len) {
      ssize_t w = send(fd, b.p + off, b.len - off, MSG_NOSIGNAL);
      if (w > 0) {
        off += (size_t)w;
        continue;
      }
      ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
      struct pollfd pfd = {.fd = fd, .events = POLLOUT};
      if (poll(&pfd, 1, 500) == 0) break; /* the daemon stopped reading us */
    }
    if (off < b.len) break;
    sent_requests++;
  }
  usleep(200 * 1000);
  long after = rss_kib(d.pid);
  ck_assert_msg(after - before < 64 * 1024,
                "daemon RSS grew by %ld KiB for %zu unread requests of 256 KiB answers",
                after - before, sent_requests);
  ck_assert_uint_lt(sent_requests, 200000); /* TCP pushed back: it stopped reading */
  assert_serves();
  close(fd);
  vb_free(&key);
  vb_free(&b);
  sm_dict_free(dict);
  sm_client_free(c);
}
END_TEST

static TCase *tcase_with(const char *name, void (*setup)(void)) {
  TCase *tc = tcase_create(name);
  tcase_add_unchecked_fixture(tc, setup, stop);
  tcase_set_timeout(tc, 60);
  return tc;
}

Suite *limits_suite(void) {
  Suite *s = suite_create("limits");
  TCase *tc = tcase_with("frame", start_small_frames);
  tcase_add_test(tc, frame_limit);
  suite_add_tcase(s, tc);
  tc = tcase_with("connections", start_three_conns);
  tcase_add_test(tc, connection_limit);
  suite_add_tcase(s, tc);
  tc = tcase_with("handshake", start_short_handshake);
  tcase_add_test(tc, handshake_deadline);
  suite_add_tcase(s, tc);
  tc = tcase_with("depth", start_shallow);
  tcase_add_test(tc, depth_limit);
  suite_add_tcase(s, tc);
  tc = tcase_with("pending", start_few_pending);
  tcase_add_test(tc, pending_limit);
  suite_add_tcase(s, tc);
  tc = tcase_with("slow reader", start_default);
  tcase_add_test(tc, slow_reader_bounded);
  suite_add_tcase(s, tc);
  return s;
}
