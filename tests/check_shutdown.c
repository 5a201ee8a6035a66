/* SPDX-License-Identifier: MIT */
/* check_shutdown.c - stopping the daemon gracefully, with a daemon of its
 * own per test: requests already read are answered (even the ones pipelined
 * behind the shutdown request), parked calls and calls that would park get
 * SHUTTING_DOWN, and the daemon exits 0 within a bounded time even when a
 * client does not read its answers. */
#include "proto/frame.h"
#include "proto/msg.h"
#include "smtest.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static smtest_daemon d;

static void start(void) { smtest_daemon_start(&d, NULL); }
static void stop(void) { smtest_daemon_stop_checked(&d); }

static int raw_authed_d(void) { return smtest_raw_authed_to(&d); }

/* Appends a request with string arguments (NULL-terminated list). */
static void add_request(vbuf *b, uint64_t seq, uint64_t object, const char *method,
                        const char *const *strs) {
  vbuf packed[4];
  sm_span args[4];
  size_t n = 0;
  for (; strs && strs[n]; n++) {
    vb_init(&packed[n]);
    vb_str(&packed[n], strs[n], strlen(strs[n]));
    args[n] = vb_span(&packed[n]);
  }
  wire_request_out r = {.seq = seq, .object = object, .method = method, .args = args, .nargs = n};
  ck_assert_int_eq(wire_request_encode(b, &r), 0);
  for (size_t i = 0; i < n; i++)
    vb_free(&packed[i]);
}

/* Reads one response; returns its status, *seq gets its seq. */
static int read_response(int fd, uint64_t *seq) {
  uint8_t buf[4096];
  long n = smtest_read_frame(fd, buf, sizeof buf, 5000);
  ck_assert_int_gt(n, 0);
  wire_response rs;
  ck_assert_int_eq(wire_response_decode((sm_span){buf, (size_t)n}, &rs), 0);
  *seq = rs.seq;
  int status = rs.status;
  wire_response_release(&rs);
  return status;
}

/* Waits for the daemon process to exit by itself; returns its exit status
 * and the seconds it took, or fails after 10 s. */
static int wait_exit(double *secs) {
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int i = 0; i < 2000; i++) {
    int st;
    if (waitpid(d.pid, &st, WNOHANG) == d.pid) {
      clock_gettime(CLOCK_MONOTONIC, &t1);
      *secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
      d.pid = 0; /* reaped: the fixture's stop only cleans up */
      return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    }
    usleep(5000);
  }
  ck_abort_msg("the daemon did not exit within 10 s");
  return -1;
}

/* A shutdown pipelined between other requests: every request of the batch
 * is answered, in order, including those behind the shutdown; then the
 * daemon exits 0. */
START_TEST(pipelined_requests_answered) {
  int fd = raw_authed_d();
  vbuf b;
  vb_init(&b);
  const char *dict_a[] = {"dict", "before", NULL};
  const char *dict_b[] = {"dict", "after", NULL};
  add_request(&b, 1, 0, "ping", NULL);
  add_request(&b, 2, 0, "create", dict_a);
  add_request(&b, 3, 0, "shutdown", NULL);
  add_request(&b, 4, 0, "ping", NULL);
  add_request(&b, 5, 0, "create", dict_b);
  smtest_send_all(fd, b.p, b.len);
  vb_free(&b);
  for (uint64_t want = 1; want <= 5; want++) {
    uint64_t seq;
    ck_assert_int_eq(read_response(fd, &seq), WS_OK);
    ck_assert_uint_eq(seq, want);
  }
  ck_assert(smtest_closed_by_daemon(fd));
  close(fd);
  double secs;
  ck_assert_int_eq(wait_exit(&secs), 0);
  ck_assert_msg(secs < 3.0, "exit took %.2f s", secs);
}
END_TEST

/* A call parked before the stop is answered SHUTTING_DOWN, and so is a
 * blocking call that arrives behind the shutdown request (it would never
 * be served); the daemon still exits 0. */
START_TEST(parked_calls_answered) {
  sm_client *c = smtest_connect(&d, NULL);
  sm_queue *q;
  OK(sm_queue_open(c, "stopq", 0, &q));
  uint64_t qid = sm_proxy_id(sm_queue_proxy(q));
  int waiter = raw_authed_d();
  vbuf b;
  vb_init(&b);
  add_request(&b, 10, qid, "get", NULL);
  smtest_send_all(waiter, b.p, b.len);
  int64_t parked = 0;
  for (int i = 0; i < 200 && parked < 1; i++) {
    parked = smtest_info_int(c, "waiters");
    if (parked < 1) usleep(10 * 1000);
  }
  ck_assert_int_eq(parked, 1);
  int stopper = raw_authed_d();
  vb_reset(&b);
  add_request(&b, 20, 0, "shutdown", NULL);
  add_request(&b, 21, qid, "get", NULL);
  smtest_send_all(stopper, b.p, b.len);
  vb_free(&b);
  uint64_t seq;
  ck_assert_int_eq(read_response(stopper, &seq), WS_OK);
  ck_assert_uint_eq(seq, 20);
  ck_assert_int_eq(read_response(stopper, &seq), WS_SHUTTING_DOWN);
  ck_assert_uint_eq(seq, 21);
  ck_assert_int_eq(read_response(waiter, &seq), WS_SHUTTING_DOWN);
  ck_assert_uint_eq(seq, 10);
  double secs;
  ck_assert_int_eq(wait_exit(&secs), 0);
  close(waiter);
  close(stopper);
  sm_queue_free(q);
  sm_client_free(c);
}
END_TEST

/* A client that never reads its answers cannot hold the daemon up: after
 * SIGTERM it exits 0 within the flush deadline (2 s) plus a margin. */
START_TEST(slow_reader_does_not_block_exit) {
  sm_client *c = smtest_connect(&d, NULL);
  sm_dict *dict;
  OK(sm_dict_open(c, "big", &dict));
  static char big[200 * 1024];
  memset(big, 'x', sizeof big - 1);
  OK(sm_dict_set_str(dict, "v", big));
  uint64_t id = sm_proxy_id(sm_dict_proxy(dict));
  int fd = raw_authed_d();
  int small = 4096;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  vbuf b, key;
  vb_init(&b);
  vb_init(&key);
  vb_str(&key, "v", 1);
  sm_span arg = vb_span(&key);
  for (uint64_t seq = 1; seq <= 100; seq++) {
    wire_request_out r = {.seq = seq, .object = id, .method = "get", .args = &arg, .nargs = 1};
    ck_assert_int_eq(wire_request_encode(&b, &r), 0);
  }
  smtest_send_all(fd, b.p, b.len); /* 20 MB of answers, never read */
  usleep(300 * 1000);
  kill(d.pid, SIGTERM);
  double secs;
  ck_assert_int_eq(wait_exit(&secs), 0);
  ck_assert_msg(secs < 5.0, "exit took %.2f s", secs);
  close(fd);
  vb_free(&b);
  vb_free(&key);
  sm_dict_free(dict);
  sm_client_free(c);
}
END_TEST

/* SIGTERM with idle clients connected: a prompt, clean exit. */
START_TEST(sigterm_with_clients) {
  sm_client *a = smtest_connect(&d, NULL), *b = smtest_connect(&d, d.unix_url);
  OK(sm_ping(a));
  OK(sm_ping(b));
  kill(d.pid, SIGTERM);
  double secs;
  ck_assert_int_eq(wait_exit(&secs), 0);
  ck_assert_msg(secs < 1.0, "exit took %.2f s", secs);
  FAILS(sm_ping(a), SM_ECLOSED);
  sm_client_free(a);
  sm_client_free(b);
}
END_TEST

Suite *shutdown_suite(void) {
  Suite *s = suite_create("shutdown");
  TCase *tc = tcase_create("graceful");
  tcase_add_checked_fixture(tc, start, stop);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, pipelined_requests_answered);
  tcase_add_test(tc, parked_calls_answered);
  tcase_add_test(tc, slow_reader_does_not_block_exit);
  tcase_add_test(tc, sigterm_with_clients);
  suite_add_tcase(s, tc);
  return s;
}
