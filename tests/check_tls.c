/* SPDX-License-Identifier: MIT */
/* check_tls.c - TLS between the library and a real statemgrd.
 *
 * Certificates are made at test time (smtest_tls.c): a test CA, a second
 * unrelated CA, a valid server certificate for 127.0.0.1 and localhost, an
 * expired one, one signed by the other CA, and client certificates from
 * both CAs. Each test case starts its own daemon with a tls:// listener
 * (beside the usual tcp:// and unix: ones) and the certificate it is about:
 *
 * - session: a good certificate; good sessions, the authkey still
 *   required inside TLS, host names, plaintext and TLS clients on the wrong
 *   kind of port, garbage on the TLS port, big values, pipelines, fork,
 *   TLS settings that cannot work (refused up front), the CLI's flags.
 * - wrong_ca: a certificate of the other CA; refused by default, accepted
 *   with that CA or with the loudly named insecure option.
 * - expired: an expired certificate; refused.
 * - mtls: --tls-require-client-cert; no client certificate or one of the
 *   other CA is refused during the TLS handshake, before any request.
 *
 * Every refusal is checked for its status and its text (printed, so a
 * verbose run shows what a user would read), and then the daemon must still
 * serve a good client. */
#include "smtest.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static smtest_certs certs;
static smtest_daemon dmn;

/* What a test client sets beyond the daemon's authkey. */
typedef struct tls_opts {
  const char *ca, *cert, *key, *server_name;
  bool insecure;
  const char *authkey; /* a wrong key to present instead, or NULL */
  int timeout_ms;      /* 0: the default */
} tls_opts;

static char last_err[1024]; /* sm_last_error() of the last tls_connect */

/* Connects to url with t; returns sm_connect's status and keeps the error
 * text in last_err (printed for failures). */
static int tls_connect(const char *url, const tls_opts *t, sm_client **out) {
  sm_options *o = sm_options_new();
  ck_assert_ptr_nonnull(o);
  if (t->authkey)
    ck_assert_int_eq(sm_options_set_authkey(o, t->authkey, strlen(t->authkey)), 0);
  else
    ck_assert_int_eq(sm_options_set_authkey_file(o, dmn.authkey_file), 0);
  if (t->ca) ck_assert_int_eq(sm_options_set_tls_ca(o, t->ca), 0);
  if (t->cert) ck_assert_int_eq(sm_options_set_tls_cert(o, t->cert, t->key), 0);
  if (t->server_name) ck_assert_int_eq(sm_options_set_tls_server_name(o, t->server_name), 0);
  if (t->insecure) ck_assert_int_eq(sm_options_set_tls_insecure_skip_verify(o, true), 0);
  if (t->timeout_ms) ck_assert_int_eq(sm_options_set_connect_timeout(o, t->timeout_ms), 0);
  *out = NULL;
  int rc = sm_connect(url, o, out);
  sm_options_free(o);
  snprintf(last_err, sizeof last_err, "%s", rc == 0 ? "" : sm_last_error());
  if (rc != 0) fprintf(stderr, "    %s -> %s: %s\n", url, sm_errname(rc), last_err);
  return rc;
}

/* Asserts that connecting fails with status want and a text containing
 * needle. */
static void expect_refused(const char *url, const tls_opts *t, int want, const char *needle) {
  sm_client *c = NULL;
  int rc = tls_connect(url, t, &c);
  ck_assert_msg(rc == want, "%s: got %s (%s), want %s", url, sm_errname(rc), last_err,
                sm_errname(want));
  ck_assert_ptr_null(c);
  ck_assert_msg(strstr(last_err, needle) != NULL, "error text \"%s\" lacks \"%s\"", last_err,
                needle);
}

/* The daemon still serves a client with t on url: a dict round trip. */
static void assert_serves(const char *url, const tls_opts *t) {
  sm_client *c = NULL;
  ck_assert_int_eq(tls_connect(url, t, &c), 0);
  sm_dict *d;
  ck_assert_int_eq(sm_dict_open(c, "tls-probe", &d), 0);
  ck_assert_int_eq(sm_dict_set_int(d, "n", 7), 0);
  int64_t v = 0;
  ck_assert_int_eq(sm_dict_get_int(d, "n", &v), 0);
  ck_assert_int_eq(v, 7);
  sm_dict_free(d);
  sm_client_free(c);
}

/* True once the daemon's log holds needle (waits up to 3 s: the daemon
 * may log just after the client has seen the outcome). */
static bool log_has(const char *needle) { return smtest_daemon_log_has(&dmn, needle, 3000); }

/* ---- fixtures: one daemon per test case ---- */

static void start_daemon(const char *cert, const char *key, bool mtls) {
  const char *args[] = {"--listen",
                        "tls://127.0.0.1:0",
                        "--tls-cert",
                        cert,
                        "--tls-key",
                        key,
                        mtls ? "--tls-ca" : NULL,
                        certs.ca,
                        "--tls-require-client-cert",
                        NULL};
  smtest_daemon_start(&dmn, args);
  ck_assert_msg(dmn.tls_url[0], "the daemon reported no tls:// listener");
}

static void fx_session(void) {
  smtest_certs_make(&certs, NULL);
  start_daemon(certs.server, certs.server_key, false);
}

static void fx_wrong_ca(void) {
  smtest_certs_make(&certs, NULL);
  start_daemon(certs.other_server, certs.other_server_key, false);
}

static void fx_expired(void) {
  smtest_certs_make(&certs, NULL);
  start_daemon(certs.expired, certs.expired_key, false);
}

static void fx_mtls(void) {
  smtest_certs_make(&certs, NULL);
  start_daemon(certs.server, certs.server_key, true);
}

static void fx_stop(void) {
  if (smtest_daemon_stop(&dmn) != 0) smtest_failures++;
  smtest_certs_remove(&certs);
}

/* ---- session: a daemon with a good certificate ---- */

/* A client that trusts the test CA gets a TLS 1.3 session with the daemon,
 * authenticates, and shares a dict through it. */
START_TEST(good_session) {
  tls_opts t = {.ca = certs.ca};
  sm_client *c = NULL;
  ck_assert_int_eq(tls_connect(dmn.tls_url, &t, &c), 0);
  ck_assert_int_eq(sm_ping(c), 0);
  sm_dict *d;
  ck_assert_int_eq(sm_dict_open(c, "tls-dict", &d), 0);
  ck_assert_int_eq(sm_dict_set_str(d, "greeting", "over TLS"), 0);
  char *s = NULL;
  ck_assert_int_eq(sm_dict_get_str(d, "greeting", &s), 0);
  ck_assert_str_eq(s, "over TLS");
  sm_free(s);
  sm_dict_free(d);
  sm_client_free(c);
  ck_assert(log_has("TLS session TLSv1.3"));
}
END_TEST

/* TLS does not replace the authkey: a verified TLS session with the wrong
 * key is refused with SM_EAUTH. */
START_TEST(authkey_still_required) {
  tls_opts t = {.ca = certs.ca, .authkey = "not the key, though long enough"};
  expect_refused(dmn.tls_url, &t, SM_EAUTH, "authkey");
  assert_serves(dmn.tls_url, &(tls_opts){.ca = certs.ca});
}
END_TEST

/* The host name is checked: localhost is in the certificate, and
 * "wrong.example" (given as the server name) is not. */
START_TEST(host_name_checked) {
  const char *port = strrchr(dmn.tls_url, ':') + 1;
  char url[128];
  snprintf(url, sizeof url, "tls://localhost:%s", port);
  assert_serves(url, &(tls_opts){.ca = certs.ca});
  tls_opts t = {.ca = certs.ca, .server_name = "wrong.example"};
  expect_refused(dmn.tls_url, &t, SM_ETLS, "hostname mismatch");
  assert_serves(dmn.tls_url, &(tls_opts){.ca = certs.ca});
}
END_TEST

/* Verification is on by default: without a CA option the system's store
 * is used, which does not know the test CA. */
START_TEST(system_store_by_default) {
  expect_refused(dmn.tls_url, &(tls_opts){0}, SM_ETLS, "unable to get local issuer certificate");
  assert_serves(dmn.tls_url, &(tls_opts){.ca = certs.ca});
}
END_TEST

/* A plaintext client on the TLS port gets no Hello (the daemon waits for a
 * ClientHello): it fails at its connect timeout with a hint, and the
 * daemon drops the connection and serves on. */
START_TEST(plaintext_client_on_tls_port) {
  char url[128];
  snprintf(url, sizeof url, "tcp://%.100s", dmn.tls_url + strlen("tls://"));
  expect_refused(url, &(tls_opts){.timeout_ms = 1000}, SM_ECONNECT, "use a tls:// URL");
  assert_serves(dmn.tls_url, &(tls_opts){.ca = certs.ca});
}
END_TEST

/* A TLS client on a plain port reads the daemon's Hello as a broken TLS
 * record: SM_ETLS naming the likely mistake. */
START_TEST(tls_client_on_plain_port) {
  char url[128];
  snprintf(url, sizeof url, "tls://%.100s", dmn.tcp_url + strlen("tcp://"));
  expect_refused(url, &(tls_opts){.ca = certs.ca}, SM_ETLS, "plain tcp:// listener");
  assert_serves(dmn.tcp_url, &(tls_opts){0});
}
END_TEST

/* Bytes that are not TLS (an HTTP request) on the TLS port: the daemon
 * logs the TLS failure, closes that connection and serves on. */
START_TEST(garbage_on_tls_port) {
  int fd = smtest_raw_connect(dmn.tls_url);
  const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  smtest_send_all(fd, http, strlen(http));
  ck_assert(smtest_closed_by_daemon(fd));
  close(fd);
  ck_assert(log_has("TLS handshake failed"));
  assert_serves(dmn.tls_url, &(tls_opts){.ca = certs.ca});
}
END_TEST

/* TCP, UNIX and TLS listeners of one daemon serve the same objects. */
START_TEST(listeners_side_by_side) {
  sm_client *tls = NULL, *tcp = NULL, *unx = NULL;
  ck_assert_int_eq(tls_connect(dmn.tls_url, &(tls_opts){.ca = certs.ca}, &tls), 0);
  ck_assert_int_eq(tls_connect(dmn.tcp_url, &(tls_opts){0}, &tcp), 0);
  ck_assert_int_eq(tls_connect(dmn.unix_url, &(tls_opts){0}, &unx), 0);
  sm_dict *a, *b, *u;
  ck_assert_int_eq(sm_dict_open(tls, "shared", &a), 0);
  ck_assert_int_eq(sm_dict_open(tcp, "shared", &b), 0);
  ck_assert_int_eq(sm_dict_open(unx, "shared", &u), 0);
  ck_assert_int_eq(sm_dict_set_int(a, "from-tls", 1), 0);
  ck_assert_int_eq(sm_dict_set_int(b, "from-tcp", 2), 0);
  int64_t v = 0;
  ck_assert_int_eq(sm_dict_get_int(u, "from-tls", &v), 0);
  ck_assert_int_eq(v, 1);
  ck_assert_int_eq(sm_dict_get_int(a, "from-tcp", &v), 0);
  ck_assert_int_eq(v, 2);
  sm_dict_free(a);
  sm_dict_free(b);
  sm_dict_free(u);
  sm_client_free(tls);
  sm_client_free(tcp);
  sm_client_free(unx);
}
END_TEST

/* Values far larger than a TLS record (16 KiB) and a pipeline far larger
 * than the socket buffers cross TLS intact. */
START_TEST(big_values_and_pipeline) {
  sm_client *c = NULL;
  ck_assert_int_eq(tls_connect(dmn.tls_url, &(tls_opts){.ca = certs.ca}, &c), 0);
  sm_dict *d;
  ck_assert_int_eq(sm_dict_open(c, "big", &d), 0);
  size_t n = 3u * 1024 * 1024 + 17;
  uint8_t *blob = malloc(n);
  ck_assert_ptr_nonnull(blob);
  for (size_t i = 0; i < n; i++)
    blob[i] = (uint8_t)(i * 31 + 7);
  sm_value *key = sm_value_str("blob"), *val = sm_value_bytes(blob, n), *got = NULL;
  ck_assert_int_eq(sm_dict_set(d, key, val), 0);
  ck_assert_int_eq(sm_dict_get(d, key, &got), 0);
  size_t len = 0;
  const void *p = sm_value_as_bytes(got, &len);
  ck_assert_uint_eq(len, n);
  ck_assert(memcmp(p, blob, n) == 0);
  sm_value_free(got);
  sm_value_free(key);
  sm_value_free(val);
  free(blob);

  enum { CALLS = 20000 };
  sm_pipeline *pl;
  ck_assert_int_eq(sm_pipeline_new(c, &pl), 0);
  char filler[200];
  memset(filler, 'x', sizeof filler - 1);
  filler[sizeof filler - 1] = '\0';
  for (int i = 0; i < CALLS; i++) {
    sm_value *k = sm_value_int(i), *v = sm_value_str(filler);
    const sm_value *args[2] = {k, v};
    ck_assert_int_eq(sm_pipeline_call(pl, sm_dict_proxy(d), "set", args, 2), 0);
    sm_value_free(k);
    sm_value_free(v);
  }
  ck_assert_int_eq(sm_pipeline_exec(pl), 0);
  for (size_t i = 0; i < CALLS; i++)
    ck_assert_int_eq(sm_pipeline_status(pl, i), 0);
  sm_pipeline_free(pl);
  size_t size = 0;
  ck_assert_int_eq(sm_dict_len(d, &size), 0);
  ck_assert_uint_eq(size, CALLS + 1);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* After fork() the child opens its own TLS session and never writes on the
 * parent's (which would corrupt its record sequence): both keep working. */
START_TEST(fork_keeps_sessions_apart) {
  sm_client *c = NULL;
  ck_assert_int_eq(tls_connect(dmn.tls_url, &(tls_opts){.ca = certs.ca}, &c), 0);
  sm_dict *d;
  ck_assert_int_eq(sm_dict_open(c, "forked", &d), 0);
  ck_assert_int_eq(sm_dict_set_int(d, "parent", 1), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) _exit(sm_dict_set_int(d, "child", 2) == 0 ? 0 : 1);
  int st = 0;
  ck_assert_int_eq(waitpid(pid, &st, 0), pid);
  ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  int64_t v = 0;
  ck_assert_int_eq(sm_dict_get_int(d, "child", &v), 0);
  ck_assert_int_eq(v, 2);
  ck_assert_int_eq(sm_dict_get_int(d, "parent", &v), 0);
  ck_assert_int_eq(v, 1);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

/* The CLI passes its TLS flags through: with --tls-ca it works, without it
 * the daemon's certificate is refused (exit 3, the reason on stderr), and
 * --tls-insecure connects anyway, with the warning. */
START_TEST(cli_flags) {
  const char *cli = getenv("STATEMGR_CLI");
  ck_assert_ptr_nonnull(cli);
  char cmd[2048], out[2048];
  snprintf(cmd, sizeof cmd, "'%s' -u %s --authkey-file '%s' --tls-ca '%s' set cli-tls k 42 2>&1",
           cli, dmn.tls_url, dmn.authkey_file, certs.ca);
  ck_assert_msg(smtest_run(cmd, out, sizeof out) == 0, "%s", out);
  snprintf(cmd, sizeof cmd, "'%s' -u %s --authkey-file '%s' get cli-tls k 2>&1", cli, dmn.tls_url,
           dmn.authkey_file);
  ck_assert_int_eq(smtest_run(cmd, out, sizeof out), 3);
  ck_assert_msg(strstr(out, "unable to get local issuer certificate") != NULL, "%s", out);
  snprintf(cmd, sizeof cmd, "'%s' -u %s --authkey-file '%s' --tls-insecure get cli-tls k 2>&1", cli,
           dmn.tls_url, dmn.authkey_file);
  ck_assert_int_eq(smtest_run(cmd, out, sizeof out), 0);
  ck_assert_msg(strstr(out, "WARNING") != NULL && strstr(out, "42") != NULL, "%s", out);
}
END_TEST

/* ---- wrong_ca: a daemon whose certificate another CA signed ---- */

/* Trusting only the test CA, the client refuses the daemon's certificate
 * and says why; trusting the other CA, it connects. */
START_TEST(wrong_ca) {
  expect_refused(dmn.tls_url, &(tls_opts){.ca = certs.ca}, SM_ETLS,
                 "unable to get local issuer certificate");
  assert_serves(dmn.tls_url, &(tls_opts){.ca = certs.other_ca});
}
END_TEST

/* The insecure option connects to the untrusted daemon, and says loudly on
 * stderr that verification is off. */
START_TEST(insecure_skip_verify) {
  char path[320];
  snprintf(path, sizeof path, "%s/stderr", dmn.dir);
  fflush(stderr);
  int saved = dup(STDERR_FILENO), f = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  ck_assert(saved >= 0 && f >= 0);
  dup2(f, STDERR_FILENO);
  sm_client *c = NULL;
  int rc = tls_connect(dmn.tls_url, &(tls_opts){.insecure = true}, &c);
  fflush(stderr);
  dup2(saved, STDERR_FILENO);
  close(saved);
  char text[2048] = "";
  ssize_t n = pread(f, text, sizeof text - 1, 0);
  close(f);
  text[n > 0 ? n : 0] = '\0';
  ck_assert_msg(rc == 0, "insecure connect: %s", last_err);
  ck_assert_msg(strstr(text, "WARNING: TLS certificate verification is OFF") != NULL,
                "no warning on stderr: \"%s\"", text);
  fprintf(stderr, "    stderr: %s", text);
  ck_assert_int_eq(sm_ping(c), 0);
  sm_client_free(c);
}
END_TEST

/* ---- expired: a daemon whose certificate expired yesterday ---- */

/* The client refuses an expired certificate; the daemon warned at start
 * and goes on serving (plain TCP, and TLS for a client that skips
 * verification). */
START_TEST(expired_certificate) {
  expect_refused(dmn.tls_url, &(tls_opts){.ca = certs.ca}, SM_ETLS, "certificate has expired");
  ck_assert(log_has("has expired"));
  assert_serves(dmn.tcp_url, &(tls_opts){0});
  assert_serves(dmn.tls_url, &(tls_opts){.insecure = true});
}
END_TEST

/* ---- mtls: --tls-require-client-cert ---- */

/* Without a client certificate the daemon ends the TLS handshake with a
 * "certificate required" alert: nothing of the protocol ran. */
START_TEST(mtls_without_client_cert) {
  expect_refused(dmn.tls_url, &(tls_opts){.ca = certs.ca}, SM_ETLS, "certificate required");
  ck_assert(log_has("TLS handshake failed: peer did not return a certificate"));
  assert_serves(dmn.tls_url,
                &(tls_opts){.ca = certs.ca, .cert = certs.client, .key = certs.client_key});
}
END_TEST

/* A client certificate from another CA is refused too ("unknown ca"). */
START_TEST(mtls_foreign_client_cert) {
  tls_opts t = {.ca = certs.ca, .cert = certs.other_client, .key = certs.other_client_key};
  expect_refused(dmn.tls_url, &t, SM_ETLS, "unknown ca");
  ck_assert(log_has("client certificate: unable to get local issuer certificate"));
  assert_serves(dmn.tls_url,
                &(tls_opts){.ca = certs.ca, .cert = certs.client, .key = certs.client_key});
}
END_TEST

/* With the right client certificate the session works, and the authkey is
 * still required: both must pass. */
START_TEST(mtls_with_client_cert) {
  tls_opts good = {.ca = certs.ca, .cert = certs.client, .key = certs.client_key};
  assert_serves(dmn.tls_url, &good);
  ck_assert(log_has("client certificate /O=statemgr tests/CN=test client"));
  tls_opts bad_key = good;
  bad_key.authkey = "not the key, though long enough";
  expect_refused(dmn.tls_url, &bad_key, SM_EAUTH, "authkey");
  assert_serves(dmn.tls_url, &good);
}
END_TEST

/* ---- config: settings that cannot work are refused up front ---- */

/* The daemon refuses, at start and with a clear message, a tls:// listener
 * without a certificate, mTLS without a CA and a certificate file that does
 * not exist; the library refuses a CA file that does not exist. */
START_TEST(config_errors) {
  const char *bin = getenv("STATEMGRD");
  ck_assert_ptr_nonnull(bin);
  char cmd[1024], out[2048];
  snprintf(cmd, sizeof cmd, "'%s' --no-persist --listen tls://127.0.0.1:0 --authkey-file '%s' 2>&1",
           bin, dmn.authkey_file);
  ck_assert_int_ne(smtest_run(cmd, out, sizeof out), 0);
  ck_assert_msg(strstr(out, "--tls-cert") != NULL, "%s", out);
  snprintf(cmd, sizeof cmd,
           "'%s' --listen tls://127.0.0.1:0 --tls-cert '%s' --tls-key '%s' "
           "--tls-require-client-cert 2>&1",
           bin, certs.server, certs.server_key);
  ck_assert_int_eq(smtest_run(cmd, out, sizeof out), 2);
  ck_assert_msg(strstr(out, "needs --tls-ca") != NULL, "%s", out);
  snprintf(
      cmd, sizeof cmd,
      "'%s' --no-persist --listen tls://127.0.0.1:0 --tls-cert /nonexistent.pem --tls-key '%s' "
      "--authkey-file '%s' 2>&1",
      bin, certs.server_key, dmn.authkey_file);
  ck_assert_int_eq(smtest_run(cmd, out, sizeof out), 1);
  ck_assert_msg(strstr(out, "cannot load the TLS certificate /nonexistent.pem") != NULL, "%s", out);
  fprintf(stderr, "    daemon: %s", out);
  expect_refused(dmn.tls_url, &(tls_opts){.ca = "/nonexistent-ca.pem"}, SM_EINVAL,
                 "cannot load the TLS CA file /nonexistent-ca.pem");
}
END_TEST

static TCase *tcase(const char *name, void (*setup)(void)) {
  TCase *tc = tcase_create(name);
  tcase_add_unchecked_fixture(tc, setup, fx_stop);
  tcase_set_timeout(tc, 120);
  return tc;
}

Suite *tls_suite(void) {
  Suite *s = suite_create("tls");
  TCase *tc = tcase("session", fx_session);
  tcase_add_test(tc, good_session);
  tcase_add_test(tc, authkey_still_required);
  tcase_add_test(tc, host_name_checked);
  tcase_add_test(tc, system_store_by_default);
  tcase_add_test(tc, plaintext_client_on_tls_port);
  tcase_add_test(tc, tls_client_on_plain_port);
  tcase_add_test(tc, garbage_on_tls_port);
  tcase_add_test(tc, listeners_side_by_side);
  tcase_add_test(tc, big_values_and_pipeline);
  tcase_add_test(tc, fork_keeps_sessions_apart);
  tcase_add_test(tc, config_errors);
  tcase_add_test(tc, cli_flags);
  suite_add_tcase(s, tc);
  tc = tcase("wrong_ca", fx_wrong_ca);
  tcase_add_test(tc, wrong_ca);
  tcase_add_test(tc, insecure_skip_verify);
  suite_add_tcase(s, tc);
  tc = tcase("expired", fx_expired);
  tcase_add_test(tc, expired_certificate);
  suite_add_tcase(s, tc);
  tc = tcase("mtls", fx_mtls);
  tcase_add_test(tc, mtls_without_client_cert);
  tcase_add_test(tc, mtls_foreign_client_cert);
  tcase_add_test(tc, mtls_with_client_cert);
  suite_add_tcase(s, tc);
  return s;
}
