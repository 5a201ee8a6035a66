/* SPDX-License-Identifier: MIT */
/* check_url.c - the one URL parser (proto/url.c) that the daemon's
 * listeners, its metrics endpoint, the client library and the tools share.
 *
 * A unit test walks the tricky cases (the three unix: spellings, IPv6 in
 * brackets, port 0 only to listen, empty hosts, bad ones); then real
 * daemons show that both sides now read a URL the same way: a relative
 * unix:NAME socket is found by a client in the same directory,
 * unix://NAME is refused by the daemon and the library alike (before,
 * the daemon bound NAME and the library looked for /NAME), and the
 * metrics endpoint serves on the IPv6 loopback. */
#include "proto/url.h"
#include "smtest.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Parses text and checks the outcome: ok with the given fields (NULL:
 * not checked), or a failure whose reason holds want_err. */
static void expect_url(const char *text, url_use use, int scheme, const char *host,
                       const char *port, const char *path, const char *want_err) {
  url_addr a;
  char err[512] = "";
  int rc = url_parse(text, use, &a, err, sizeof err);
  if (want_err) {
    ck_assert_msg(rc != 0, "%s: parsed, expected an error holding \"%s\"", text, want_err);
    ck_assert_msg(strstr(err, want_err), "%s: error \"%s\" lacks \"%s\"", text, err, want_err);
    return;
  }
  ck_assert_msg(rc == 0, "%s: %s", text, err);
  ck_assert_int_eq((int)a.scheme, scheme);
  if (host) ck_assert_str_eq(a.host, host);
  if (port) ck_assert_str_eq(a.port, port);
  if (path) ck_assert_str_eq(a.path, path);
}

/* Parses a list and checks it gave want (the members' full URLs, joined
 * by '|'), or failed with a reason holding want_err. */
static void expect_list(const char *text, const char *want, const char *want_err) {
  url_member m[URL_LIST_MAX];
  size_t n = 0;
  char err[512] = "", got[URL_LIST_MAX * URL_TEXT_MAX] = "";
  int rc = url_list_parse(text, URL_CONNECT, m, URL_LIST_MAX, &n, err, sizeof err);
  if (want_err) {
    ck_assert_msg(rc != 0, "%s: parsed, expected an error holding \"%s\"", text, want_err);
    ck_assert_msg(strstr(err, want_err), "%s: error \"%s\" lacks \"%s\"", text, err, want_err);
    return;
  }
  ck_assert_msg(rc == 0, "%s: %s", text, err);
  for (size_t i = 0; i < n; i++) {
    url_addr alone;
    ck_assert_msg(url_parse(m[i].text, URL_CONNECT, &alone, err, sizeof err) == 0, "%s", err);
    ck_assert(url_same(&alone, &m[i].addr));
    if (i) strcat(got, "|");
    strcat(got, m[i].text);
  }
  ck_assert_str_eq(got, want);
}

/* Lists of members: the first member's scheme goes to those written
 * without one, blanks around members are dropped, and an empty member,
 * a first member without a scheme or a bad member is refused by name. */
START_TEST(list_cases) {
  expect_list("tcp://a:7450", "tcp://a:7450", NULL);
  expect_list("tcp://a:7450,b:7451,c:7452", "tcp://a:7450|tcp://b:7451|tcp://c:7452", NULL);
  expect_list("tls://a:1, [::1]:2 ,tcp://c:3", "tls://a:1|tls://[::1]:2|tcp://c:3", NULL);
  expect_list("unix:/run/a.sock,/run/b.sock,tcp://h:1",
              "unix:/run/a.sock|unix:/run/b.sock|tcp://h:1", NULL);
  expect_list("tcp://a:1,,b:2", NULL, "member 2 is empty");
  expect_list("tcp://a:1,", NULL, "member 2 is empty");
  expect_list("a:1,tcp://b:2", NULL, "bad URL 'a:1'");
  expect_list("tcp://a:1,b", NULL, "no port");
  expect_list("", NULL, "empty URL");
  char many[URL_LIST_MAX * 16 + 64] = "tcp://a:1";
  for (int i = 0; i < URL_LIST_MAX; i++)
    strcat(many, ",b:2");
  expect_list(many, NULL, "more than 16 members");
  url_addr a, b;
  char err[256];
  ck_assert_int_eq(url_parse("tcp://h:1", URL_CONNECT, &a, err, sizeof err), 0);
  ck_assert_int_eq(url_parse("tls://h:1", URL_CONNECT, &b, err, sizeof err), 0);
  ck_assert(!url_same(&a, &b));
}
END_TEST

/* The unix: spellings, IPv6, ports and hosts, for connecting and for
 * listening, and the errors that say what to write instead. */
START_TEST(parser_cases) {
  expect_url("unix:/run/s.sock", URL_CONNECT, URL_UNIX, NULL, NULL, "/run/s.sock", NULL);
  expect_url("unix:rel.sock", URL_CONNECT, URL_UNIX, NULL, NULL, "rel.sock", NULL);
  expect_url("unix:///run/s.sock", URL_CONNECT, URL_UNIX, NULL, NULL, "/run/s.sock", NULL);
  expect_url("unix:////twice", URL_LISTEN, URL_UNIX, NULL, NULL, "//twice", NULL);
  expect_url("unix://s.sock", URL_CONNECT, 0, NULL, NULL, NULL, "unix:///s.sock");
  expect_url("unix://s.sock", URL_LISTEN, 0, NULL, NULL, NULL, "unix:s.sock");
  expect_url("unix:", URL_CONNECT, 0, NULL, NULL, NULL, "no socket path");
  expect_url("unix://", URL_CONNECT, 0, NULL, NULL, NULL, "unix://");
  char long_path[200];
  snprintf(long_path, sizeof long_path, "unix:/%0150d", 0);
  expect_url(long_path, URL_LISTEN, 0, NULL, NULL, NULL, "longer than");

  expect_url("tcp://127.0.0.1:7450", URL_CONNECT, URL_TCP, "127.0.0.1", "7450", NULL, NULL);
  expect_url("tcp://[::1]:0", URL_LISTEN, URL_TCP, "::1", "0", NULL, NULL);
  expect_url("tcp://[::1]:0", URL_CONNECT, 0, NULL, NULL, NULL, "the port must be 1..65535");
  expect_url("tcp://[fe80::1%lo]:7450", URL_CONNECT, URL_TCP, "fe80::1%lo", "7450", NULL, NULL);
  expect_url("tcp://[::ffff:10.0.0.1]:1", URL_CONNECT, URL_TCP, "::ffff:10.0.0.1", "1", NULL, NULL);
  expect_url("tls://db1.example.com:7451", URL_CONNECT, URL_TLS, "db1.example.com", "7451", NULL,
             NULL);
  expect_url("tcp://:7450", URL_LISTEN, URL_TCP, "", "7450", NULL, NULL);
  expect_url("tcp://:7450", URL_CONNECT, 0, NULL, NULL, NULL, "no host");
  expect_url("tcp://0.0.0.0:00080", URL_LISTEN, URL_TCP, "0.0.0.0", "80", NULL, NULL);

  expect_url("tcp://::1:80", URL_CONNECT, 0, NULL, NULL, NULL, "[ADDR]:PORT");
  expect_url("tcp://[::1]", URL_CONNECT, 0, NULL, NULL, NULL, "[ADDR]:PORT");
  expect_url("tcp://[::1:80", URL_CONNECT, 0, NULL, NULL, NULL, "[ADDR]:PORT");
  expect_url("tcp://[nothex]:80", URL_CONNECT, 0, NULL, NULL, NULL, "not an IPv6 address");
  expect_url("tcp://[127.0.0.1]:80", URL_CONNECT, 0, NULL, NULL, NULL, "not an IPv6 address");
  expect_url("tcp://[]:80", URL_CONNECT, 0, NULL, NULL, NULL, "not an IPv6 address");
  expect_url("tcp://127.0.0.1", URL_CONNECT, 0, NULL, NULL, NULL, "no port");
  expect_url("tcp://h:", URL_CONNECT, 0, NULL, NULL, NULL, "the port must be");
  expect_url("tcp://h:99999", URL_CONNECT, 0, NULL, NULL, NULL, "the port must be");
  expect_url("tcp://h:65536", URL_LISTEN, 0, NULL, NULL, NULL, "the port must be");
  expect_url("tcp://h:7a", URL_CONNECT, 0, NULL, NULL, NULL, "the port must be");
  expect_url("tcp://h:-1", URL_CONNECT, 0, NULL, NULL, NULL, "the port must be");
  expect_url("tcp://a b:1", URL_CONNECT, 0, NULL, NULL, NULL, "the host holds ' '");
  expect_url("tcp://user@h:1", URL_CONNECT, 0, NULL, NULL, NULL, "the host holds '@'");
  expect_url("tcp://h:1/path", URL_CONNECT, 0, NULL, NULL, NULL, "the port must be");
  expect_url("http://h:1", URL_CONNECT, 0, NULL, NULL, NULL, "expected tcp://HOST:PORT");
  expect_url("TCP://h:1", URL_CONNECT, 0, NULL, NULL, NULL, "expected tcp://HOST:PORT");
  expect_url("", URL_CONNECT, 0, NULL, NULL, NULL, "empty URL");

  char buf[64];
  url_host_port(buf, sizeof buf, "::1", "7450");
  ck_assert_str_eq(buf, "[::1]:7450");
  url_host_port(buf, sizeof buf, "127.0.0.1", "7450");
  ck_assert_str_eq(buf, "127.0.0.1:7450");
}
END_TEST

/* The library refuses what the parser refuses, with its reason. */
START_TEST(library_uses_parser) {
  sm_options *o = sm_options_new();
  OK(sm_options_set_authkey_file(o, smtest_d.authkey_file));
  sm_client *c = NULL;
  FAILS(sm_connect("unix://statemgr.sock", o, &c), SM_EINVAL);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "unix:///statemgr.sock"));
  FAILS(sm_connect("tcp://[::1]:0", o, &c), SM_EINVAL);
  /* The daemon's own UNIX URL works written either way. */
  char triple[sizeof smtest_d.unix_url + 8];
  const char *path = smtest_d.unix_url + strlen("unix:");
  ck_assert_int_eq(path[0], '/');
  snprintf(triple, sizeof triple, "unix://%.300s", path);
  OK(sm_connect(triple, o, &c));
  OK(sm_ping(c));
  sm_client_free(c);
  sm_options_free(o);
}
END_TEST

/* statemgrd run with args (a NULL-terminated list after the binary) in
 * directory dir: its exit status, with its stderr in out. */
static int run_daemon(const char *dir, const char *args, char *out, size_t outlen) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "cd '%s' && '%s' --no-persist %s 2>&1", dir, getenv("STATEMGRD"), args);
  return smtest_run(cmd, out, outlen);
}

/* A relative unix:NAME listener is the socket NAME in the daemon's
 * directory, and a client in that directory finds it by the same URL. */
START_TEST(relative_unix_agrees) {
  char dir[] = "/tmp/smtest-url.XXXXXX", cwd[4096];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
  ck_assert_int_eq(chdir(dir), 0);
  smtest_daemon d;
  const char *args[] = {"--listen", "unix:rel.sock", NULL};
  smtest_daemon_start(&d, args); /* its working directory is ours: dir */
  char path[300];
  snprintf(path, sizeof path, "%s/rel.sock", dir);
  ck_assert_int_eq(access(path, F_OK), 0);
  sm_client *c = smtest_connect(&d, "unix:rel.sock");
  OK(sm_ping(c));
  sm_client_free(c);
  smtest_daemon_stop_checked(&d);
  ck_assert_int_eq(chdir(cwd), 0);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* unix://NAME, which the daemon used to bind as NAME while the library
 * looked for /NAME, is refused by the daemon at start with what to write
 * instead; so is an IPv6 metrics address without brackets. */
START_TEST(daemon_refuses_ambiguous) {
  char out[2048], args[600];
  snprintf(args, sizeof args, "--authkey-file '%s' --listen unix://x.sock", smtest_d.authkey_file);
  int rc = run_daemon("/tmp", args, out, sizeof out);
  ck_assert_msg(rc == 1 && strstr(out, "unix:// takes an absolute path (unix:///x.sock)") &&
                    strstr(out, "unix:x.sock"),
                "exit %d: %s", rc, out);
  snprintf(args, sizeof args,
           "--authkey-file '%s' --listen tcp://127.0.0.1:0 --metrics tcp://::1:0",
           smtest_d.authkey_file);
  rc = run_daemon("/tmp", args, out, sizeof out);
  ck_assert_msg(rc == 1 && strstr(out, "[ADDR]:PORT"), "exit %d: %s", rc, out);
}
END_TEST

/* --metrics tcp://[::1]:0 serves /metrics on the IPv6 loopback, and its
 * URL (in the ready file) brackets the address. */
START_TEST(metrics_ipv6) {
  smtest_daemon d;
  const char *args[] = {"--metrics", "tcp://[::1]:0", NULL};
  smtest_daemon_start(&d, args);
  ck_assert_msg(strncmp(d.metrics_url, "http://[::1]:", 13) == 0, "metrics URL: %s", d.metrics_url);
  int port = atoi(d.metrics_url + 13);
  ck_assert_int_gt(port, 0);
  struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
  inet_pton(AF_INET6, "::1", &sin6.sin6_addr);
  int fd = socket(AF_INET6, SOCK_STREAM, 0);
  ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin6, sizeof sin6), 0);
  static const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
  smtest_send_all(fd, req, sizeof req - 1);
  char resp[8192];
  size_t n = 0;
  for (;;) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
    ssize_t r = recv(fd, resp + n, sizeof resp - 1 - n, 0);
    if (r <= 0) break;
    n += (size_t)r;
  }
  resp[n] = '\0';
  close(fd);
  ck_assert_msg(strstr(resp, " 200 ") && strstr(resp, "statemgr_uptime_seconds"), "%s", resp);
  smtest_daemon_stop_checked(&d);
}
END_TEST

Suite *url_suite(void) {
  Suite *s = suite_create("url");
  TCase *tc = tcase_create("parser");
  tcase_add_test(tc, parser_cases);
  tcase_add_test(tc, list_cases);
  suite_add_tcase(s, tc);
  tc = smtest_daemon_tcase(s, "both sides", 30);
  tcase_add_test(tc, library_uses_parser);
  tcase_add_test(tc, relative_unix_agrees);
  tcase_add_test(tc, daemon_refuses_ambiguous);
  tcase_add_test(tc, metrics_ipv6);
  return s;
}
