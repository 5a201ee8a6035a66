/* SPDX-License-Identifier: MIT */
/* check_sighup.c - SIGHUP reloads instead of killing the daemon, against a
 * real statemgrd.
 *
 * It used to end the daemon and all its state. Now it keeps everything
 * running and: reopens --log-file under its name (a rotated file is left
 * behind and a new one started), and reads the TLS certificate and key
 * again, so connections accepted afterwards get the new certificate while
 * open ones keep their session; a reload that cannot use the new files
 * keeps the old certificate and says why. An embedding program reloads
 * the same way with sm_server_reload(). */
#include "smtest.h"
#include "statemgr_server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static smtest_daemon d;
static smtest_certs certs;
static char dir[64]; /* the test's files: the log, the certificate in use */
static char log_path[128];

static void make_dir(void) {
  snprintf(dir, sizeof dir, "/tmp/smtest-hup.XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(log_path, sizeof log_path, "%s/statemgrd.log", dir);
}

static void remove_dir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
  dir[0] = '\0';
}

static void start_plain(void) { smtest_daemon_start(&d, NULL); }

static void start_log_file(void) {
  make_dir();
  const char *args[] = {"--log-file", log_path, NULL};
  smtest_daemon_start(&d, args);
}

/* The certificate in use lives at dir/cur.crt and dir/cur.key: copies, so
 * the test can replace them as an operator would. */
static void put_cert(const char *cert, const char *key) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "cp '%s' '%s/new.crt' && cp '%s' '%s/new.key' && mv '%s/new.crt' '%s/cur.crt' && "
           "mv '%s/new.key' '%s/cur.key'",
           cert, dir, key, dir, dir, dir, dir, dir);
  ck_assert_int_eq(system(cmd), 0);
}

static void start_tls(void) {
  make_dir();
  smtest_certs_make(&certs, NULL);
  put_cert(certs.server, certs.server_key);
  char cert[128], key[128];
  snprintf(cert, sizeof cert, "%s/cur.crt", dir);
  snprintf(key, sizeof key, "%s/cur.key", dir);
  const char *args[] = {"--listen", "tls://127.0.0.1:0", "--tls-cert", cert, "--tls-key", key,
                        NULL};
  smtest_daemon_start(&d, args);
}

static void stop(void) {
  smtest_daemon_stop_checked(&d);
  if (dir[0]) remove_dir();
}

static void stop_tls(void) {
  stop();
  smtest_certs_remove(&certs);
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* True once the file at path holds needle; looks every 20 ms up to 3 s. */
static bool file_has(const char *path, const char *needle) {
  for (int waited = 0; waited < 3000; waited += 20) {
    FILE *f = fopen(path, "r");
    if (f) {
      char line[2048];
      bool found = false;
      while (!found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
      fclose(f);
      if (found) return true;
    }
    sleep_ms(20);
  }
  return false;
}

/* SIGHUP leaves the daemon running with its objects, and says so. */
START_TEST(hup_keeps_state) {
  sm_client *c = smtest_connect(&d, NULL);
  sm_var *v;
  OK(sm_var_open(c, "survivor", NULL, &v));
  int64_t n = 0;
  OK(sm_var_add_int(v, 41, &n));
  ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
  ck_assert(smtest_daemon_log_has(&d, "reload: done (no TLS certificate to reload)", 3000));
  OK(sm_var_add_int(v, 1, &n)); /* the same connection, the same object */
  ck_assert_int_eq(n, 42);
  sm_var_free(v);
  sm_client_free(c);
  ck_assert_int_eq(kill(d.pid, 0), 0);
}
END_TEST

/* --log-file F, rotated away: after SIGHUP the daemon writes to a new F,
 * and the rotated file ends with the signal. */
START_TEST(hup_reopens_log) {
  ck_assert(file_has(log_path, "ready"));
  struct stat st;
  ck_assert_int_eq(stat(log_path, &st), 0);
  ck_assert_int_eq(st.st_mode & 0777, 0640);
  char rotated[160];
  snprintf(rotated, sizeof rotated, "%s.1", log_path);
  ck_assert_int_eq(rename(log_path, rotated), 0);
  ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
  ck_assert(file_has(log_path, "reload: reopened the log file"));
  ck_assert(file_has(rotated, "signal 1 (Hangup)"));
  sm_options *o = sm_options_new();
  OK(sm_options_set_authkey_file(o, d.authkey_file));
  OK(sm_options_set_client_name(o, "after-the-rotation"));
  sm_client *c = NULL;
  OK(sm_connect(d.tcp_url, o, &c));
  sm_options_free(o);
  OK(sm_ping(c));
  sm_client_free(c);
  ck_assert(file_has(log_path, "as after-the-rotation"));
  FILE *f = fopen(rotated, "r");
  char line[2048];
  while (fgets(line, sizeof line, f))
    ck_assert_msg(!strstr(line, "after-the-rotation"), "logged to the rotated file: %s", line);
  fclose(f);
}
END_TEST

/* Connects over TLS trusting ca; returns sm_connect's status. */
static int tls_connect(const char *ca, sm_client **out) {
  sm_options *o = sm_options_new();
  OK(sm_options_set_authkey_file(o, d.authkey_file));
  OK(sm_options_set_tls_ca(o, ca));
  *out = NULL;
  int rc = sm_connect(d.tls_url, o, out);
  sm_options_free(o);
  return rc;
}

/* Certificate rotation: the files are replaced by a certificate of another
 * CA and the daemon gets SIGHUP. New clients then see the new certificate
 * (those trusting the old CA fail verification), a client connected
 * before keeps its session, and a reload with a broken key keeps the
 * certificate loaded before. */
START_TEST(hup_reloads_tls) {
  sm_client *before = NULL, *c = NULL;
  OK(tls_connect(certs.ca, &before));
  FAILS(tls_connect(certs.other_ca, &c), SM_ETLS);
  put_cert(certs.other_server, certs.other_server_key);
  ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
  ck_assert(smtest_daemon_log_has(&d, "reload: new TLS connections get the certificate", 3000));
  OK(tls_connect(certs.other_ca, &c));
  OK(sm_ping(c));
  sm_client_free(c);
  FAILS(tls_connect(certs.ca, &c), SM_ETLS);
  ck_assert_ptr_nonnull(strstr(sm_last_error(), "verif"));
  OK(sm_ping(before)); /* its session is the old context's */
  sm_client_free(before);

  char key[128];
  snprintf(key, sizeof key, "%s/cur.key", dir);
  FILE *f = fopen(key, "w");
  fputs("not a key\n", f);
  fclose(f);
  ck_assert_int_eq(kill(d.pid, SIGHUP), 0);
  ck_assert(
      smtest_daemon_log_has(&d, "new TLS connections keep the certificate loaded before", 3000));
  ck_assert(smtest_daemon_log_has(&d, "cannot load the TLS key", 0));
  OK(tls_connect(certs.other_ca, &c));
  OK(sm_ping(c));
  sm_client_free(c);
}
END_TEST

/* An embedding program reloads with sm_server_reload() from any thread:
 * its log file, moved away, is opened again under its name. */
START_TEST(embedded_reload) {
  make_dir();
  static const char key[] = "a key for the embedded server";
  char url[128], rotated[160];
  snprintf(url, sizeof url, "unix:%s/s.sock", dir);
  snprintf(rotated, sizeof rotated, "%s.1", log_path);
  sm_server_options *o = sm_server_options_new();
  OK(sm_server_options_set_authkey(o, key, sizeof key - 1));
  ck_assert_int_eq(sm_server_options_set_log_file(o, ""), SM_EINVAL);
  OK(sm_server_options_set_log_file(o, log_path));
  sm_server *s = NULL;
  OK(sm_server_new(o, &s));
  sm_server_options_free(o);
  OK(sm_server_listen(s, url));
  OK(sm_server_run_thread(s));
  ck_assert(file_has(log_path, "ready"));
  ck_assert_int_eq(rename(log_path, rotated), 0);
  sm_server_reload(s);
  ck_assert(file_has(log_path, "reload: reopened the log file"));
  sm_server_stop(s);
  ck_assert_int_eq(sm_server_join(s), 0);
  sm_server_free(s);
  ck_assert(file_has(log_path, "stopped"));
  remove_dir();
}
END_TEST

Suite *sighup_suite(void) {
  Suite *s = suite_create("sighup");
  TCase *tc = tcase_create("state");
  tcase_add_unchecked_fixture(tc, start_plain, stop);
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, hup_keeps_state);
  suite_add_tcase(s, tc);
  tc = tcase_create("log file");
  tcase_add_unchecked_fixture(tc, start_log_file, stop);
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, hup_reopens_log);
  suite_add_tcase(s, tc);
  tc = tcase_create("tls");
  tcase_add_unchecked_fixture(tc, start_tls, stop_tls);
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, hup_reloads_tls);
  suite_add_tcase(s, tc);
  tc = tcase_create("embedded");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, embedded_reload);
  suite_add_tcase(s, tc);
  return s;
}
