/* SPDX-License-Identifier: MIT */
/* check_cli.c - the `statemgr` CLI, run as a real process ($STATEMGR_CLI)
 * against a real statemgrd: what it prints and the exit codes scripts rely
 * on (0 ok, 1 not found, 2 usage, 3 connection, 4 auth, 5 other error).
 *
 * Each test case gets its own daemon (smtest_add_daemon); tests in one case
 * share it, so each test uses object names of its own. */
#include "smtest.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define OUT_LEN 8192

static const char *cli_bin(void) {
  const char *p = getenv("STATEMGR_CLI");
  ck_assert_msg(p && *p, "STATEMGR_CLI must name the statemgr binary");
  return p;
}

/* Runs `statemgr -u URL --authkey-file KEY ARGS` (ARGS printf-formatted,
 * pasted into a shell command line) and returns its exit status; stdout
 * lands in out when out is not NULL. */
static int cli_at(const char *url, char *out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int cli_at(const char *url, char *out, const char *fmt, ...) {
  char args[1024], cmd[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(args, sizeof args, fmt, ap);
  va_end(ap);
  snprintf(cmd, sizeof cmd, "'%s' -u '%s' --authkey-file '%s' %s", cli_bin(), url,
           smtest_d.authkey_file, args);
  if (out) out[0] = '\0';
  return smtest_run(cmd, out, OUT_LEN);
}

#define cli(out, ...) cli_at(smtest_d.tcp_url, (out), __VA_ARGS__)

/* ---- dict ------------------------------------------------------------ */

/* set then get returns the value as plain text, for each kind a command
 * line can give. */
START_TEST(test_set_get_round_trip) {
  char out[OUT_LEN];
  ck_assert_int_eq(cli(out, "set rt name 'hello world'"), 0);
  ck_assert_str_eq(out, "");
  ck_assert_int_eq(cli(out, "get rt name"), 0);
  ck_assert_str_eq(out, "hello world\n");
  ck_assert_int_eq(cli(NULL, "set rt n 42"), 0);
  ck_assert_int_eq(cli(out, "get rt n"), 0);
  ck_assert_str_eq(out, "42\n");
  ck_assert_int_eq(cli(NULL, "set rt pi 3.5"), 0);
  ck_assert_int_eq(cli(out, "get rt pi"), 0);
  ck_assert_str_eq(out, "3.5\n");
  ck_assert_int_eq(cli(NULL, "set rt flag true"), 0);
  ck_assert_int_eq(cli(out, "get rt flag"), 0);
  ck_assert_str_eq(out, "True\n");
  /* Overwrite keeps one key. */
  ck_assert_int_eq(cli(NULL, "set rt n -7"), 0);
  ck_assert_int_eq(cli(out, "get rt n"), 0);
  ck_assert_str_eq(out, "-7\n");
}
END_TEST

/* Keys are typed like values: the int key 1 and the string key "1" differ,
 * and --str picks the string. */
START_TEST(test_typed_keys) {
  char out[OUT_LEN];
  ck_assert_int_eq(cli(NULL, "set tk 1 one"), 0);
  ck_assert_int_eq(cli(out, "get tk 1"), 0);
  ck_assert_str_eq(out, "one\n");
  ck_assert_int_eq(cli(NULL, "get --str tk 1"), 1);
  ck_assert_int_eq(cli(NULL, "--str set tk 1 uno"), 0);
  ck_assert_int_eq(cli(out, "get tk --str 1"), 0);
  ck_assert_str_eq(out, "uno\n");
  ck_assert_int_eq(cli(out, "get tk 1"), 0);
  ck_assert_str_eq(out, "one\n");
}
END_TEST

/* A missing key, or a missing dict, is exit 1; a read does not create the
 * dict. */
START_TEST(test_get_missing) {
  char out[OUT_LEN];
  ck_assert_int_eq(cli(NULL, "set gm present 1"), 0);
  ck_assert_int_eq(cli(out, "get gm absent"), 1);
  ck_assert_str_eq(out, "");
  ck_assert_int_eq(cli(out, "get nosuchdict k"), 1);
  ck_assert_int_eq(cli(NULL, "keys nosuchdict"), 1);
  ck_assert_int_eq(cli(out, "ls"), 0);
  ck_assert_ptr_null(strstr(out, "nosuchdict"));
}
END_TEST

/* del removes a key (exit 0), then reports it missing (exit 1). */
START_TEST(test_del) {
  char out[OUT_LEN];
  ck_assert_int_eq(cli(NULL, "set dl k v"), 0);
  ck_assert_int_eq(cli(NULL, "del dl k"), 0);
  ck_assert_int_eq(cli(NULL, "get dl k"), 1);
  ck_assert_int_eq(cli(NULL, "del dl k"), 1);
  ck_assert_int_eq(cli(NULL, "del nosuchdict k"), 1);
  ck_assert_int_eq(cli(out, "keys dl"), 0);
  ck_assert_str_eq(out, "");
}
END_TEST

/* keys prints one key per line in insertion order. */
START_TEST(test_keys) {
  char out[OUT_LEN];
  ck_assert_int_eq(cli(NULL, "set ks zebra 1"), 0);
  ck_assert_int_eq(cli(NULL, "set ks apple 2"), 0);
  ck_assert_int_eq(cli(NULL, "set ks 7 3"), 0);
  ck_assert_int_eq(cli(out, "keys ks"), 0);
  ck_assert_str_eq(out, "zebra\napple\n7\n");
  ck_assert_int_eq(cli(out, "len ks"), 0);
  ck_assert_str_eq(out, "3\n");
}
END_TEST

/* ---- list ------------------------------------------------------------ */

/* push appends (several values at once too), len counts, pop takes from the
 * end, and popping an empty list is exit 1. */
START_TEST(test_push_pop_len) {
  char out[OUT_LEN];
  ck_assert_int_eq(cli(NULL, "push pl first"), 0);
  ck_assert_int_eq(cli(NULL, "push pl 2 3.25"), 0);
  ck_assert_int_eq(cli(out, "len pl"), 0);
  ck_assert_str_eq(out, "3\n");
  ck_assert_int_eq(cli(out, "pop pl"), 0);
  ck_assert_str_eq(out, "3.25\n");
  ck_assert_int_eq(cli(out, "pop pl"), 0);
  ck_assert_str_eq(out, "2\n");
  ck_assert_int_eq(cli(out, "pop pl"), 0);
  ck_assert_str_eq(out, "first\n");
  ck_assert_int_eq(cli(out, "pop pl"), 1);
  ck_assert_str_eq(out, "");
  ck_assert_int_eq(cli(out, "len pl"), 0);
  ck_assert_str_eq(out, "0\n");
  ck_assert_int_eq(cli(NULL, "pop nosuchlist"), 1);
  ck_assert_int_eq(cli(NULL, "len nosuchlist"), 1);
}
END_TEST

/* A command on an object of another type is exit 5 with a message. */
START_TEST(test_wrong_type) {
  char out[OUT_LEN];
  ck_assert_int_eq(cli(NULL, "push wt x"), 0);
  ck_assert_int_eq(cli(out, "get wt k 2>&1"), 5);
  ck_assert_ptr_nonnull(strstr(out, "wt"));
  ck_assert_int_eq(cli(out, "set wt k v 2>&1"), 5);
  ck_assert_msg(strlen(out) > strlen("statemgr: \n"), "no error text: '%s'", out);
}
END_TEST

/* ---- value ----------------------------------------------------------- */

/* value incr is an atomic add that creates the value at 0; get prints it. */
START_TEST(test_value_incr) {
  char out[OUT_LEN];
  ck_assert_int_eq(cli(out, "value hits incr"), 0);
  ck_assert_str_eq(out, "1\n");
  ck_assert_int_eq(cli(out, "value hits incr 5"), 0);
  ck_assert_str_eq(out, "6\n");
  ck_assert_int_eq(cli(out, "value hits incr -2"), 0);
  ck_assert_str_eq(out, "4\n");
  ck_assert_int_eq(cli(out, "value hits"), 0);
  ck_assert_str_eq(out, "4\n");
  ck_assert_int_eq(cli(out, "value hits get"), 0);
  ck_assert_str_eq(out, "4\n");
  ck_assert_int_eq(cli(NULL, "value hits incr abc"), 2);
}
END_TEST

/* value set stores typed values; --str makes "5" a string, which incr then
 * refuses. A missing value is exit 1 and is not created by reading. */
START_TEST(test_value_set) {
  char out[OUT_LEN];
  ck_assert_int_eq(cli(NULL, "value greeting set hello"), 0);
  ck_assert_int_eq(cli(out, "value greeting get"), 0);
  ck_assert_str_eq(out, "hello\n");
  ck_assert_int_eq(cli(NULL, "value five set --str 5"), 0);
  ck_assert_int_eq(cli(NULL, "value five incr"), 5);
  ck_assert_int_eq(cli(NULL, "value six set 5"), 0);
  ck_assert_int_eq(cli(out, "value six incr"), 0);
  ck_assert_str_eq(out, "6\n");
  ck_assert_int_eq(cli(NULL, "value novalue get"), 1);
  ck_assert_int_eq(cli(NULL, "value novalue"), 1);
  ck_assert_int_eq(cli(out, "ls --type value"), 0);
  ck_assert_ptr_null(strstr(out, "novalue"));
}
END_TEST

/* ---- admin ----------------------------------------------------------- */

/* ping prints pong. */
START_TEST(test_ping) {
  char out[OUT_LEN];
  ck_assert_int_eq(cli(out, "ping"), 0);
  ck_assert_str_eq(out, "pong\n");
}
END_TEST

/* ls prints aligned NAME TYPE SIZE columns, filtered by --type. */
START_TEST(test_ls) {
  char out[OUT_LEN];
  ck_assert_int_eq(cli(NULL, "push a_long_list_name x"), 0);
  ck_assert_int_eq(cli(NULL, "push q 1 2"), 0);
  ck_assert_int_eq(cli(NULL, "set lsd k v"), 0);
  ck_assert_int_eq(cli(out, "ls --type list"), 0);
  ck_assert_str_eq(out, "NAME              TYPE  SIZE\n"
                        "a_long_list_name  list  1\n"
                        "q                 list  2\n");
  ck_assert_int_eq(cli(out, "ls"), 0);
  ck_assert_ptr_nonnull(strstr(out, "\nlsd "));
  ck_assert_ptr_nonnull(strstr(out, "\nq "));
  ck_assert_int_eq(cli(out, "ls --type=dict"), 0);
  ck_assert_ptr_nonnull(strstr(out, "\nlsd "));
  ck_assert_ptr_null(strstr(out, "\nq "));
}
END_TEST

/* info prints "key: value" lines, among them the daemon's pid. */
START_TEST(test_info) {
  char out[OUT_LEN], want[64];
  ck_assert_int_eq(cli(out, "info"), 0);
  ck_assert_msg(strncmp(out, "version: ", 9) == 0 || strstr(out, "\nversion: "), "%s", out);
  ck_assert_ptr_nonnull(strstr(out, "uptime_s: "));
  if (smtest_d.pid > 0) {
    snprintf(want, sizeof want, "pid: %d\n", (int)smtest_d.pid);
    ck_assert_msg(strstr(out, want), "no '%s' in:\n%s", want, out);
  }
}
END_TEST

/* help and --version work without a daemon and exit 0. */
START_TEST(test_help_version) {
  char out[OUT_LEN], cmd[1024], want[64];
  snprintf(cmd, sizeof cmd, "'%s' help", cli_bin());
  ck_assert_int_eq(smtest_run(cmd, out, sizeof out), 0);
  ck_assert_ptr_nonnull(strstr(out, "exit codes"));
  ck_assert_ptr_nonnull(strstr(out, "--str"));
  snprintf(cmd, sizeof cmd, "'%s' --version", cli_bin());
  ck_assert_int_eq(smtest_run(cmd, out, sizeof out), 0);
  snprintf(want, sizeof want, "statemgr %s\n", sm_version());
  ck_assert_str_eq(out, want);
}
END_TEST

/* ---- errors ---------------------------------------------------------- */

/* Bad command lines are exit 2. */
START_TEST(test_usage_errors) {
  char cmd[1024];
  ck_assert_int_eq(cli(NULL, "%s", ""), 2);
  ck_assert_int_eq(cli(NULL, "frobnicate"), 2);
  ck_assert_int_eq(cli(NULL, "get onlyone"), 2);
  ck_assert_int_eq(cli(NULL, "set a b c d"), 2);
  ck_assert_int_eq(cli(NULL, "ping extra"), 2);
  ck_assert_int_eq(cli(NULL, "get --bogus d k"), 2);
  ck_assert_int_eq(cli(NULL, "value v frob"), 2);
  ck_assert_int_eq(cli(NULL, "ls --type"), 2);
  snprintf(cmd, sizeof cmd, "'%s' --timeout soon ping", cli_bin());
  ck_assert_int_eq(smtest_run(cmd, NULL, 0), 2);
  snprintf(cmd, sizeof cmd, "'%s' --no-such-option ping", cli_bin());
  ck_assert_int_eq(smtest_run(cmd, NULL, 0), 2);
  snprintf(cmd, sizeof cmd, "'%s' -u http://x ping", cli_bin());
  ck_assert_int_eq(smtest_run(cmd, NULL, 0), 2);
}
END_TEST

/* A key file with another key is refused by the daemon: exit 4. */
START_TEST(test_wrong_authkey) {
  char path[512], cmd[2048], out[OUT_LEN];
  snprintf(path, sizeof path, "%s/wrong_authkey", smtest_d.dir);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, "not-the-daemon-key\n", 19), 19);
  close(fd);
  snprintf(cmd, sizeof cmd, "'%s' -u '%s' --authkey-file '%s' ping", cli_bin(), smtest_d.tcp_url,
           path);
  ck_assert_int_eq(smtest_run(cmd, out, sizeof out), 4);
  ck_assert_str_eq(out, "");
}
END_TEST

/* Nothing listening on the port: exit 3. */
START_TEST(test_unreachable) {
  char url[64];
  snprintf(url, sizeof url, "tcp://127.0.0.1:%d", smtest_free_port());
  ck_assert_int_eq(cli_at(url, NULL, "ping"), 3);
  ck_assert_int_eq(cli_at("unix:/nonexistent/statemgr.sock", NULL, "ping"), 3);
}
END_TEST

/* A peer that accepts but never speaks: --timeout gives up, exit 3. */
START_TEST(test_timeout) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ck_assert_int_ge(fd, 0);
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  ck_assert_int_eq(listen(fd, 4), 0);
  socklen_t len = sizeof sa;
  ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
  char url[64];
  snprintf(url, sizeof url, "tcp://127.0.0.1:%d", ntohs(sa.sin_port));
  ck_assert_int_eq(cli_at(url, NULL, "--timeout 300 ping"), 3);
  close(fd);
}
END_TEST

/* ---- unix socket and environment ------------------------------------- */

/* The same commands work over the UNIX socket URL. */
START_TEST(test_unix_socket) {
  char out[OUT_LEN];
  ck_assert_int_eq(cli_at(smtest_d.unix_url, NULL, "set ux k 'over unix'"), 0);
  ck_assert_int_eq(cli_at(smtest_d.unix_url, out, "get ux k"), 0);
  ck_assert_str_eq(out, "over unix\n");
  ck_assert_int_eq(cli(out, "get ux k"), 0); /* same daemon over TCP */
  ck_assert_str_eq(out, "over unix\n");
  ck_assert_int_eq(cli_at(smtest_d.unix_url, NULL, "push uxl a b"), 0);
  ck_assert_int_eq(cli_at(smtest_d.unix_url, out, "len uxl"), 0);
  ck_assert_str_eq(out, "2\n");
  ck_assert_int_eq(cli_at(smtest_d.unix_url, NULL, "get ux missing"), 1);
}
END_TEST

/* Without -u, $STATEMGR_URL and $STATEMGR_AUTHKEY_FILE are used. */
START_TEST(test_environment) {
  char cmd[2048], out[OUT_LEN];
  snprintf(cmd, sizeof cmd, "STATEMGR_URL='%s' STATEMGR_AUTHKEY_FILE='%s' '%s' ping",
           smtest_d.unix_url, smtest_d.authkey_file, cli_bin());
  ck_assert_int_eq(smtest_run(cmd, out, sizeof out), 0);
  ck_assert_str_eq(out, "pong\n");
}
END_TEST

/* shutdown stops the daemon; afterwards it is unreachable (exit 3). */
START_TEST(test_shutdown) {
  smtest_daemon d;
  smtest_daemon_start(&d, NULL);
  if (d.pid == 0) return; /* never stop an external daemon someone is debugging */
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "'%s' -u '%s' --authkey-file '%s' ", cli_bin(), d.tcp_url,
           d.authkey_file);
  size_t n = strlen(cmd);
  snprintf(cmd + n, sizeof cmd - n, "shutdown");
  ck_assert_int_eq(smtest_run(cmd, NULL, 0), 0);
  /* Wait (bounded) until the daemon has closed its listener. */
  int rc = 0;
  snprintf(cmd + n, sizeof cmd - n, "ping 2>/dev/null");
  for (int i = 0; i < 100 && (rc = smtest_run(cmd, NULL, 0)) == 0; i++)
    usleep(50 * 1000);
  ck_assert_int_eq(rc, 3);
  smtest_daemon_stop(&d);
}
END_TEST

/* ---- output: unambiguous plain text and --json ------------------------ */

/* Stores key = v in the dict name through the C API (for values a command
 * line cannot give: nil, bytes, refs, nan). Takes ownership of v. */
static void api_set(const char *name, const char *key, sm_value *v) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_dict *d = NULL;
  ck_assert_int_eq(sm_dict_open(c, name, &d), SM_OK);
  sm_value *k = sm_value_str(key);
  ck_assert_int_eq(sm_dict_set(d, k, v), SM_OK);
  sm_value_free(k);
  sm_value_free(v);
  sm_dict_free(d);
  sm_client_free(c);
}

/* Plain output tells the types apart: nil is None and the string "None" is
 * 'None'; the int 7 is 7 and the string "7" is '7'; a string that reads as
 * nothing else prints as it is. */
START_TEST(test_plain_unambiguous) {
  char out[OUT_LEN];
  api_set("pu", "nil", sm_value_nil());
  ck_assert_int_eq(cli(out, "get pu nil"), 0);
  ck_assert_str_eq(out, "None\n");
  ck_assert_int_eq(cli(NULL, "--str set pu none None"), 0);
  ck_assert_int_eq(cli(out, "get pu none"), 0);
  ck_assert_str_eq(out, "'None'\n");
  ck_assert_int_eq(cli(NULL, "set pu int 7"), 0);
  ck_assert_int_eq(cli(out, "get pu int"), 0);
  ck_assert_str_eq(out, "7\n");
  ck_assert_int_eq(cli(NULL, "--str set pu str 7"), 0);
  ck_assert_int_eq(cli(out, "get pu str"), 0);
  ck_assert_str_eq(out, "'7'\n");
  ck_assert_int_eq(cli(NULL, "--str set pu t True"), 0);
  ck_assert_int_eq(cli(out, "get pu t"), 0);
  ck_assert_str_eq(out, "'True'\n");
  ck_assert_int_eq(cli(NULL, "set pu b true"), 0);
  ck_assert_int_eq(cli(out, "get pu b"), 0);
  ck_assert_str_eq(out, "True\n");
  ck_assert_int_eq(cli(NULL, "--str set pu d 1.5"), 0);
  ck_assert_int_eq(cli(out, "get pu d"), 0);
  ck_assert_str_eq(out, "'1.5'\n");
  ck_assert_int_eq(cli(NULL, "set pu empty ''"), 0);
  ck_assert_int_eq(cli(out, "get pu empty"), 0);
  ck_assert_str_eq(out, "''\n");
  ck_assert_int_eq(cli(NULL, "set pu nl \"$(printf 'a\\nb')\""), 0);
  ck_assert_int_eq(cli(out, "get pu nl"), 0);
  ck_assert_str_eq(out, "'a\\nb'\n");
  ck_assert_int_eq(cli(NULL, "set pu ref '<ref list:1>'"), 0);
  ck_assert_int_eq(cli(out, "get pu ref"), 0);
  ck_assert_str_eq(out, "'<ref list:1>'\n");
  ck_assert_int_eq(cli(NULL, "set pu word \"it's fine\""), 0);
  ck_assert_int_eq(cli(out, "get pu word"), 0);
  ck_assert_str_eq(out, "it's fine\n");
  api_set("pu", "bytes", sm_value_bytes("\0ab", 3));
  ck_assert_int_eq(cli(out, "get pu bytes"), 0);
  ck_assert_str_eq(out, "b'\\x00ab'\n");
  /* Keys follow the same rule: the int key 7 and the string key "7". */
  ck_assert_int_eq(cli(NULL, "set pk 7 x"), 0);
  ck_assert_int_eq(cli(NULL, "--str set pk 7 y"), 0);
  ck_assert_int_eq(cli(out, "keys pk"), 0);
  ck_assert_str_eq(out, "7\n'7'\n");
}
END_TEST

/* --json keeps every type: one document per command. */
START_TEST(test_json_values) {
  char out[OUT_LEN], want[256];
  api_set("jv", "nil", sm_value_nil());
  api_set("jv", "bytes", sm_value_bytes("\0ab", 3));
  api_set("jv", "nan", sm_value_double(0.0 / 0.0));
  api_set("jv", "one", sm_value_double(1.0));
  ck_assert_int_eq(cli(NULL, "set jv int 7"), 0);
  ck_assert_int_eq(cli(NULL, "--str set jv str 7"), 0);
  ck_assert_int_eq(cli(NULL, "set jv q 'say \"hi\"'"), 0);
  static const struct {
    const char *key, *json;
  } cases[] = {
      {"nil", "null\n"},
      {"bytes", "{\"$bytes\": \"AGFi\"}\n"},
      {"nan", "{\"$double\": \"nan\"}\n"},
      {"one", "1.0\n"},
      {"int", "7\n"},
      {"str", "\"7\"\n"},
      {"q", "\"say \\\"hi\\\"\"\n"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ck_assert_int_eq(cli(out, "--json get jv %s", cases[i].key), 0);
    ck_assert_msg(strcmp(out, cases[i].json) == 0, "%s: got %s, wanted %s", cases[i].key, out,
                  cases[i].json);
  }
  /* A ref names the object's id and type. */
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_list *l = NULL;
  ck_assert_int_eq(sm_list_open(c, "jv-target", &l), SM_OK);
  api_set("jv", "ref", sm_proxy_ref(sm_list_proxy(l)));
  snprintf(want, sizeof want, "{\"$ref\": %llu, \"type\": \"list\"}\n",
           (unsigned long long)sm_proxy_id(sm_list_proxy(l)));
  ck_assert_int_eq(cli(out, "get --json jv ref"), 0);
  ck_assert_str_eq(out, want);
  snprintf(want, sizeof want, "<ref list:%llu>\n",
           (unsigned long long)sm_proxy_id(sm_list_proxy(l)));
  ck_assert_int_eq(cli(out, "get jv ref"), 0);
  ck_assert_str_eq(out, want);
  sm_list_free(l);
  sm_client_free(c);
  /* A map with a non-string key cannot be a JSON object. */
  sm_value *m = sm_value_map();
  ck_assert_int_eq(sm_value_map_set(m, sm_value_int(1), sm_value_str("a")), SM_OK);
  api_set("jv", "imap", m);
  ck_assert_int_eq(cli(out, "--json get jv imap"), 0);
  ck_assert_str_eq(out, "{\"$map\": [[1, \"a\"]]}\n");
  m = sm_value_map();
  ck_assert_int_eq(sm_value_map_set(m, sm_value_str("k"), sm_value_int(2)), SM_OK);
  api_set("jv", "smap", m);
  ck_assert_int_eq(cli(out, "--json get jv smap"), 0);
  ck_assert_str_eq(out, "{\"k\": 2}\n");
}
END_TEST

/* --json on the other commands: keys an array, len a number, ping a
 * string, ls/info/stats objects, and null for commands that print nothing
 * in plain text; a failure prints nothing on stdout and keeps its exit
 * code. */
START_TEST(test_json_commands) {
  char out[OUT_LEN];
  ck_assert_int_eq(cli(out, "--json set jc a 1"), 0);
  ck_assert_str_eq(out, "null\n");
  ck_assert_int_eq(cli(NULL, "--str set jc b 1"), 0);
  ck_assert_int_eq(cli(out, "keys --json jc"), 0);
  ck_assert_str_eq(out, "[\"a\", \"b\"]\n");
  ck_assert_int_eq(cli(out, "--json len jc"), 0);
  ck_assert_str_eq(out, "2\n");
  ck_assert_int_eq(cli(out, "--json ping"), 0);
  ck_assert_str_eq(out, "\"pong\"\n");
  ck_assert_int_eq(cli(out, "--json value jcv incr 3"), 0);
  ck_assert_str_eq(out, "3\n");
  ck_assert_int_eq(cli(out, "--json ls --type dict"), 0);
  ck_assert_msg(out[0] == '[' && strstr(out, "\"name\": \"jc\"") && strstr(out, "\"size\": 2"),
                "%s", out);
  ck_assert_int_eq(cli(out, "--json info"), 0);
  ck_assert_msg(out[0] == '{' && strstr(out, "\"uptime_s\": "), "%s", out);
  ck_assert_int_eq(cli(out, "--json stats 0"), 0);
  ck_assert_msg(out[0] == '{' && strstr(out, "\"calls\": {") && strstr(out, "\"total\": "), "%s",
                out);
  /* One document, on one line. */
  ck_assert_ptr_eq(strchr(out, '\n'), out + strlen(out) - 1);
  ck_assert_int_eq(cli(out, "--json get jc absent"), 1);
  ck_assert_str_eq(out, "");
}
END_TEST

/* ---- every type ------------------------------------------------------ */

/* The start of a CLI command line for smtest_d, to build shell lines that
 * run several CLI processes at once. */
static void cli_prefix(char *buf, size_t len) {
  snprintf(buf, len, "'%s' -u '%s' --authkey-file '%s'", cli_bin(), smtest_d.tcp_url,
           smtest_d.authkey_file);
}

/* queue put/get/qsize; get waits, and --timeout ends the wait with exit 1
 * and nothing printed. */
START_TEST(test_queue) {
  char out[OUT_LEN];
  ck_assert_int_eq(cli(out, "queue jobs put a 7 --str"), 0);
  ck_assert_str_eq(out, "");
  ck_assert_int_eq(cli(out, "queue jobs qsize"), 0);
  ck_assert_str_eq(out, "2\n");
  ck_assert_int_eq(cli(out, "len jobs"), 0);
  ck_assert_str_eq(out, "2\n");
  ck_assert_int_eq(cli(out, "type jobs"), 0);
  ck_assert_str_eq(out, "queue\n");
  ck_assert_int_eq(cli(out, "queue jobs get"), 0);
  ck_assert_str_eq(out, "a\n");
  ck_assert_int_eq(cli(out, "--json queue jobs get"), 0);
  ck_assert_str_eq(out, "\"7\"\n");
  ck_assert_int_eq(cli(out, "queue jobs get --timeout 100 2>&1"), 1);
  ck_assert_ptr_nonnull(strstr(out, "empty"));
  ck_assert_int_eq(cli(out, "queue jobs get --timeout=0"), 1);
  ck_assert_str_eq(out, "");
  ck_assert_int_eq(cli(out, "--json queue jobs qsize"), 0);
  ck_assert_str_eq(out, "0\n");
  /* get never creates; qsize does not wait. */
  ck_assert_int_eq(cli(NULL, "queue nosuchqueue get --timeout 0"), 1);
  ck_assert_int_eq(cli(NULL, "queue jobs qsize --timeout 5"), 2);
  ck_assert_int_eq(cli(NULL, "queue jobs get --timeout soon"), 2);
  ck_assert_int_eq(cli(NULL, "queue jobs frob"), 2);
  /* A bounded queue that stays full is exit 1 for put. */
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_queue *q = NULL;
  ck_assert_int_eq(sm_queue_open(c, "small", 1, &q), SM_OK);
  ck_assert_int_eq(cli(NULL, "queue small put x"), 0);
  ck_assert_int_eq(cli(out, "queue small put y --timeout 50 2>&1"), 1);
  ck_assert_ptr_nonnull(strstr(out, "full"));
  sm_queue_free(q);
  sm_client_free(c);
}
END_TEST

/* A waiting queue get returns the item another process puts. */
START_TEST(test_queue_get_waits) {
  char pre[1024], cmd[4096], out[OUT_LEN];
  cli_prefix(pre, sizeof pre);
  snprintf(cmd, sizeof cmd,
           "(sleep 0.2; %s queue qw put late) & %s queue qw get --timeout 10000; wait", pre, pre);
  ck_assert_int_eq(cli(NULL, "queue qw put first"), 0);
  ck_assert_int_eq(cli(out, "queue qw get"), 0);
  ck_assert_str_eq(out, "first\n");
  ck_assert_int_eq(smtest_run(cmd, out, sizeof out), 0);
  ck_assert_str_eq(out, "late\n");
}
END_TEST

/* event set/clear/is_set/wait. */
START_TEST(test_event) {
  char out[OUT_LEN];
  ck_assert_int_eq(cli(NULL, "event ev is_set"), 1); /* reading creates nothing */
  ck_assert_int_eq(cli(out, "event ev clear"), 0);
  ck_assert_int_eq(cli(out, "event ev is_set"), 0);
  ck_assert_str_eq(out, "False\n");
  ck_assert_int_eq(cli(out, "event ev wait --timeout 50 2>&1"), 1);
  ck_assert_ptr_nonnull(strstr(out, "not set"));
  ck_assert_int_eq(cli(out, "event ev set"), 0);
  ck_assert_str_eq(out, "");
  ck_assert_int_eq(cli(out, "--json event ev is_set"), 0);
  ck_assert_str_eq(out, "true\n");
  ck_assert_int_eq(cli(out, "event ev wait"), 0);
  ck_assert_str_eq(out, "True\n");
  ck_assert_int_eq(cli(out, "event ev set --timeout 5"), 2);
  ck_assert_int_eq(cli(out, "type ev"), 0);
  ck_assert_str_eq(out, "event\n");
}
END_TEST

/* semaphore value/acquire/release on a semaphore a program created. */
START_TEST(test_semaphore) {
  char out[OUT_LEN];
  ck_assert_int_eq(cli(NULL, "semaphore sem value"), 1);
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_semaphore *s = NULL;
  /* Without auto_release the unit the CLI takes stays taken after it exits. */
  ck_assert_int_eq(sm_semaphore_open_ex(c, "sem", 1, false, false, &s), SM_OK);
  ck_assert_int_eq(cli(out, "semaphore sem value"), 0);
  ck_assert_str_eq(out, "1\n");
  ck_assert_int_eq(cli(out, "semaphore sem acquire"), 0);
  ck_assert_str_eq(out, "");
  ck_assert_int_eq(cli(out, "--json semaphore sem value"), 0);
  ck_assert_str_eq(out, "0\n");
  ck_assert_int_eq(cli(out, "semaphore sem acquire --timeout 50 2>&1"), 1);
  ck_assert_ptr_nonnull(strstr(out, "no free unit"));
  ck_assert_int_eq(cli(NULL, "semaphore sem release 2"), 0);
  ck_assert_int_eq(cli(out, "semaphore sem value"), 0);
  ck_assert_str_eq(out, "2\n");
  ck_assert_int_eq(cli(NULL, "semaphore sem release x"), 2);
  ck_assert_int_eq(cli(NULL, "push notsem x"), 0);
  ck_assert_int_eq(cli(NULL, "semaphore notsem value"), 5);
  sm_semaphore_free(s);
  sm_client_free(c);
}
END_TEST

/* barrier parties/n_waiting/broken/wait/abort/reset. */
START_TEST(test_barrier) {
  char out[OUT_LEN], pre[1024], cmd[4096];
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_barrier *b = NULL;
  ck_assert_int_eq(sm_barrier_open(c, "bar", 2, &b), SM_OK);
  ck_assert_int_eq(cli(out, "barrier bar parties"), 0);
  ck_assert_str_eq(out, "2\n");
  ck_assert_int_eq(cli(out, "--json barrier bar n_waiting"), 0);
  ck_assert_str_eq(out, "0\n");
  ck_assert_int_eq(cli(out, "barrier bar broken"), 0);
  ck_assert_str_eq(out, "False\n");
  /* Two CLI processes meet: each prints its arrival index. */
  cli_prefix(pre, sizeof pre);
  snprintf(cmd, sizeof cmd,
           "%s barrier bar wait --timeout 10000 & %s barrier bar wait --timeout 10000; wait", pre,
           pre);
  ck_assert_int_eq(smtest_run(cmd, out, sizeof out), 0);
  ck_assert_msg(strcmp(out, "0\n1\n") == 0 || strcmp(out, "1\n0\n") == 0, "%s", out);
  /* Alone, a wait's deadline breaks it. */
  ck_assert_int_eq(cli(out, "barrier bar wait --timeout 50 2>&1"), 1);
  ck_assert_ptr_nonnull(strstr(out, "broken"));
  ck_assert_int_eq(cli(out, "--json barrier bar broken"), 0);
  ck_assert_str_eq(out, "true\n");
  ck_assert_int_eq(cli(out, "barrier bar reset"), 0);
  ck_assert_int_eq(cli(out, "barrier bar broken"), 0);
  ck_assert_str_eq(out, "False\n");
  ck_assert_int_eq(cli(out, "barrier bar abort"), 0);
  ck_assert_int_eq(cli(out, "barrier bar broken"), 0);
  ck_assert_str_eq(out, "True\n");
  ck_assert_int_eq(cli(NULL, "barrier nobar parties"), 1);
  sm_barrier_free(b);
  sm_client_free(c);
}
END_TEST

/* ns get/set/del/attrs. */
START_TEST(test_ns) {
  char out[OUT_LEN];
  ck_assert_int_eq(cli(NULL, "ns cfg attrs"), 1);
  ck_assert_int_eq(cli(NULL, "ns cfg set mode fast"), 0);
  ck_assert_int_eq(cli(NULL, "ns cfg set level 3"), 0);
  ck_assert_int_eq(cli(out, "ns cfg get level"), 0);
  ck_assert_str_eq(out, "3\n");
  ck_assert_int_eq(cli(out, "ns cfg attrs"), 0);
  ck_assert_str_eq(out, "level\nmode\n");
  ck_assert_int_eq(cli(out, "--json ns cfg attrs"), 0);
  ck_assert_str_eq(out, "[\"level\", \"mode\"]\n");
  ck_assert_int_eq(cli(out, "len cfg"), 0);
  ck_assert_str_eq(out, "2\n");
  ck_assert_int_eq(cli(out, "type cfg"), 0);
  ck_assert_str_eq(out, "namespace\n");
  ck_assert_int_eq(cli(NULL, "ns cfg del mode"), 0);
  ck_assert_int_eq(cli(NULL, "ns cfg get mode"), 1);
  ck_assert_int_eq(cli(NULL, "ns cfg del mode"), 1);
  ck_assert_int_eq(cli(NULL, "ns cfg set onlyattr"), 2);
}
END_TEST

/* array get/set/add/range/typecode on arrays a program created. */
START_TEST(test_array) {
  char out[OUT_LEN];
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_array *ai = NULL, *af = NULL;
  ck_assert_int_eq(sm_array_open(c, "ints", "i32", 3, &ai), SM_OK);
  ck_assert_int_eq(sm_array_open(c, "reals", "f64", 2, &af), SM_OK);
  ck_assert_int_eq(cli(NULL, "array ints set 1 5"), 0);
  ck_assert_int_eq(cli(out, "array ints add 1 2"), 0);
  ck_assert_str_eq(out, "7\n");
  ck_assert_int_eq(cli(out, "array ints get -2"), 0);
  ck_assert_str_eq(out, "7\n");
  ck_assert_int_eq(cli(out, "array ints range"), 0);
  ck_assert_str_eq(out, "0\n7\n0\n");
  ck_assert_int_eq(cli(out, "--json array ints range 1"), 0);
  ck_assert_str_eq(out, "[7, 0]\n");
  ck_assert_int_eq(cli(out, "array ints typecode"), 0);
  ck_assert_str_eq(out, "i32\n");
  ck_assert_int_eq(cli(out, "len ints"), 0);
  ck_assert_str_eq(out, "3\n");
  ck_assert_int_eq(cli(NULL, "array ints set 0 1.5"), 2);
  ck_assert_int_eq(cli(NULL, "array ints get 9"), 5);
  ck_assert_int_eq(cli(NULL, "array reals set 0 1.5"), 0);
  ck_assert_int_eq(cli(out, "array reals get 0"), 0);
  ck_assert_str_eq(out, "1.5\n");
  ck_assert_int_eq(cli(out, "--json array reals range"), 0);
  ck_assert_str_eq(out, "[1.5, 0.0]\n");
  ck_assert_int_eq(cli(NULL, "array noarray get 0"), 1);
  sm_array_free(ai);
  sm_array_free(af);
  sm_client_free(c);
}
END_TEST

/* items and values of a dict, and a list read without popping. */
START_TEST(test_items_values_range) {
  char out[OUT_LEN];
  ck_assert_int_eq(cli(NULL, "set iv a 1"), 0);
  ck_assert_int_eq(cli(NULL, "--str set iv 'b: c' 2"), 0);
  ck_assert_int_eq(cli(out, "items iv"), 0);
  ck_assert_str_eq(out, "a: 1\n'b: c': '2'\n");
  ck_assert_int_eq(cli(out, "--json items iv"), 0);
  ck_assert_str_eq(out, "[[\"a\", 1], [\"b: c\", \"2\"]]\n");
  ck_assert_int_eq(cli(out, "values iv"), 0);
  ck_assert_str_eq(out, "1\n'2'\n");
  ck_assert_int_eq(cli(NULL, "items noiv"), 1);
  ck_assert_int_eq(cli(NULL, "push rl a b c d"), 0);
  ck_assert_int_eq(cli(out, "range rl"), 0);
  ck_assert_str_eq(out, "a\nb\nc\nd\n");
  ck_assert_int_eq(cli(out, "range rl 1 -1"), 0);
  ck_assert_str_eq(out, "b\nc\n");
  ck_assert_int_eq(cli(out, "--json range rl -2"), 0);
  ck_assert_str_eq(out, "[\"c\", \"d\"]\n");
  ck_assert_int_eq(cli(out, "len rl"), 0);
  ck_assert_str_eq(out, "4\n"); /* nothing popped */
  ck_assert_int_eq(cli(NULL, "range rl x"), 2);
}
END_TEST

/* delete NAME deletes an object; del DICT KEY still removes one key; type
 * names the type. */
START_TEST(test_delete_type) {
  char out[OUT_LEN];
  ck_assert_int_eq(cli(NULL, "set gone k v"), 0);
  ck_assert_int_eq(cli(out, "type gone"), 0);
  ck_assert_str_eq(out, "dict\n");
  ck_assert_int_eq(cli(out, "--json type gone"), 0);
  ck_assert_str_eq(out, "\"dict\"\n");
  ck_assert_int_eq(cli(NULL, "del gone k"), 0);
  ck_assert_int_eq(cli(out, "--json delete gone"), 0);
  ck_assert_str_eq(out, "null\n");
  ck_assert_int_eq(cli(NULL, "type gone"), 1);
  ck_assert_int_eq(cli(NULL, "delete gone"), 1);
  ck_assert_int_eq(cli(out, "ls"), 0);
  ck_assert_ptr_null(strstr(out, "gone"));
}
END_TEST

/* A reference printed by get is a NAME for the object it refers to. */
START_TEST(test_follow_ref) {
  char out[OUT_LEN], ref[128];
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_list *l = NULL;
  ck_assert_int_eq(sm_list_open(c, NULL, &l), SM_OK); /* anonymous: no name to give */
  ck_assert_int_eq(sm_list_append_str(l, "x"), SM_OK);
  api_set("holder", "items", sm_proxy_ref(sm_list_proxy(l)));
  ck_assert_int_eq(cli(out, "get holder items"), 0);
  snprintf(ref, sizeof ref, "<ref list:%llu>", (unsigned long long)sm_proxy_id(sm_list_proxy(l)));
  ck_assert_msg(strncmp(out, ref, strlen(ref)) == 0, "%s", out);
  ck_assert_int_eq(cli(NULL, "push '%s' y", ref), 0);
  ck_assert_int_eq(cli(out, "range '%s'", ref), 0);
  ck_assert_str_eq(out, "x\ny\n");
  ck_assert_int_eq(cli(out, "type '%s'", ref), 0);
  ck_assert_str_eq(out, "list\n");
  ck_assert_int_eq(cli(out, "len '%s'", ref), 0);
  ck_assert_str_eq(out, "2\n");
  ck_assert_int_eq(cli(NULL, "keys '%s'", ref), 5); /* a list, not a dict */
  /* A reference to an object that is gone, of this daemon or an earlier one. */
  ck_assert_int_eq(cli(NULL, "range '<ref list:%llu>'",
                       (unsigned long long)sm_proxy_id(sm_list_proxy(l)) + 1000),
                   1);
  ck_assert_int_eq(cli(NULL, "range '<ref list:999999>'"), 1);
  sm_list_free(l);
  sm_client_free(c);
}
END_TEST

/* help COMMAND prints that command's usage and details; an unknown one is
 * a usage error. */
START_TEST(test_help_command) {
  char out[OUT_LEN], cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s' help queue", cli_bin());
  ck_assert_int_eq(smtest_run(cmd, out, sizeof out), 0);
  ck_assert_msg(strncmp(out, "usage: statemgr queue NAME ", 27) == 0, "%s", out);
  ck_assert_ptr_nonnull(strstr(out, "--timeout MS"));
  snprintf(cmd, sizeof cmd, "'%s' help delete", cli_bin());
  ck_assert_int_eq(smtest_run(cmd, out, sizeof out), 0);
  ck_assert_ptr_nonnull(strstr(out, "del DICT KEY"));
  snprintf(cmd, sizeof cmd, "'%s' --json help event", cli_bin()); /* help stays text */
  ck_assert_int_eq(smtest_run(cmd, out, sizeof out), 0);
  ck_assert_ptr_null(strstr(out, "null"));
  snprintf(cmd, sizeof cmd, "'%s' help nosuchcommand", cli_bin());
  ck_assert_int_eq(smtest_run(cmd, NULL, 0), 2);
}
END_TEST

/* ---- TLS messages ----------------------------------------------------- */

/* A tcp:// URL to a TLS port fails at the --timeout deadline with the
 * library's hint to use a tls:// URL (the CLI's own clock must not cut it
 * off first); a --tls-cert whose file holds no key says so, naming
 * --tls-key. */
START_TEST(test_tls_messages) {
  smtest_certs certs;
  smtest_certs_make(&certs, NULL);
  smtest_daemon d;
  const char *args[] = {"--listen",  "tls://127.0.0.1:0", "--tls-cert", certs.server,
                        "--tls-key", certs.server_key,    NULL};
  smtest_daemon_start(&d, args);
  ck_assert_msg(d.tls_url[0], "the daemon reported no tls:// listener");
  char cmd[4096], out[OUT_LEN];
  snprintf(cmd, sizeof cmd, "'%s' -u 'tcp://%s' --authkey-file '%s' --timeout 500 ping 2>&1",
           cli_bin(), d.tls_url + strlen("tls://"), d.authkey_file);
  ck_assert_int_eq(smtest_run(cmd, out, sizeof out), 3);
  ck_assert_msg(strstr(out, "use a tls:// URL"), "no hint in: %s", out);
  snprintf(cmd, sizeof cmd,
           "'%s' -u '%s' --authkey-file '%s' --tls-ca '%s' --tls-cert '%s' --timeout 5000 ping "
           "2>&1",
           cli_bin(), d.tls_url, d.authkey_file, certs.ca, certs.client);
  int rc = smtest_run(cmd, out, sizeof out);
  ck_assert_msg(strstr(out, "--tls-key"), "exit %d, no --tls-key in: %s", rc, out);
  ck_assert_int_eq(rc, 2);
  /* A certificate file that holds its key too needs no --tls-key. */
  snprintf(cmd, sizeof cmd,
           "cat '%s' '%s' > '%s/combined.pem' && '%s' -u '%s' --authkey-file '%s' --tls-ca '%s' "
           "--tls-cert '%s/combined.pem' --timeout 5000 ping 2>&1",
           certs.client, certs.client_key, certs.dir, cli_bin(), d.tls_url, d.authkey_file,
           certs.ca, certs.dir);
  ck_assert_int_eq(smtest_run(cmd, out, sizeof out), 0);
  ck_assert_str_eq(out, "pong\n");
  smtest_daemon_stop(&d);
  smtest_certs_remove(&certs);
}
END_TEST

/* ---- txn and watch ---------------------------------------------------- */

/* txn runs the then-calls when the conditions hold (exit 0, "then" and one
 * line a call), the else-calls when not (exit 1), applies nothing when a
 * call cannot run (exit 5), and refuses a malformed line (exit 2). */
START_TEST(test_txn) {
  char out[OUT_LEN];
  ck_assert_int_eq(cli(NULL, "set acct a 10"), 0);
  ck_assert_int_eq(cli(NULL, "push audit start"), 0);
  ck_assert_int_eq(cli(out, "txn if equals acct a 10 and absent acct b then acct set a 7 and "
                            "acct set b 3 and audit append moved and acct get a else audit "
                            "append refused"),
                   0);
  ck_assert_str_eq(out, "then\nNone\nNone\nNone\n7\n");
  ck_assert_int_eq(
      cli(out, "txn if compare acct a '>' 7 then acct set a 0 else audit append refused"), 1);
  ck_assert_str_eq(out, "else\nNone\n");
  ck_assert_int_eq(cli(out, "get acct a"), 0);
  ck_assert_str_eq(out, "7\n");
  ck_assert_int_eq(cli(out, "txn then acct set a 1 and acct no_such_method"), 5);
  ck_assert_int_eq(cli(out, "get acct a"), 0);
  ck_assert_str_eq(out, "7\n");
  /* A call failing on the state fails the txn: the set before it undone. */
  ck_assert_int_eq(cli(out, "txn then acct set a 1 and acct pop nosuch and audit len"), 1);
  ck_assert_int_eq(cli(out, "get acct a"), 0);
  ck_assert_str_eq(out, "7\n");
  ck_assert_int_eq(cli(NULL, "txn if frob acct then acct len"), 2);
  ck_assert_int_eq(cli(NULL, "txn acct len"), 2);
  ck_assert_int_eq(cli(NULL, "txn if exists acct a"), 2);
  ck_assert_int_eq(cli(NULL, "txn then nosuch len"), 1);
}
END_TEST

/* watch prints the changes made after it started, one line each, and
 * stops after --count of them; with nothing changing it ends at
 * --timeout with exit 1. */
START_TEST(test_watch) {
  char out[OUT_LEN];
  ck_assert_int_eq(cli(NULL, "set conf level 1"), 0);
  ck_assert_int_eq(cli(out, "watch conf --timeout 100"), 1);
  ck_assert_str_eq(out, "");
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s' -u '%s' --authkey-file '%s' watch conf level --count 2",
           cli_bin(), smtest_d.tcp_url, smtest_d.authkey_file);
  FILE *f = popen(cmd, "r");
  ck_assert_ptr_nonnull(f);
  sm_client *c = smtest_connect(&smtest_d, NULL);
  for (int i = 0; i < 10000 && smtest_info_int(c, "waiters") != 1; i += 2)
    usleep(2000);
  ck_assert_int_eq(smtest_info_int(c, "waiters"), 1);
  ck_assert_int_eq(cli(NULL, "set conf other 5"), 0); /* not its key */
  ck_assert_int_eq(cli(NULL, "set conf level 2"), 0);
  ck_assert_int_eq(cli(NULL, "del conf level"), 0);
  size_t n = fread(out, 1, OUT_LEN - 1, f);
  out[n] = '\0';
  ck_assert_int_eq(pclose(f), 0);
  ck_assert_str_eq(out, "3 set level 2\n4 del level\n");
  sm_client_free(c);
}
END_TEST

/* Fencing from the shell: lock acquire prints the token (a lock of policy
 * keep stays held after the CLI exits), --guard LOCK=TOKEN lets a change
 * through while that grant is current and refuses it (exit 5, nothing
 * changed) once the lock was granted again; locks lists the holder and
 * how long it has held the lock. */
START_TEST(test_lock_fencing) {
  char out[OUT_LEN];
  ck_assert_int_eq(cli(out, "lock fl acquire keep"), 0);
  ck_assert_str_eq(out, "1\n");
  ck_assert_int_eq(cli(out, "set fenced k first --guard fl=1"), 0);
  ck_assert_int_eq(cli(out, "locks"), 0);
  ck_assert_msg(strstr(out, "lock 'fl' token 1 policy keep held by session "), "%s", out);
  ck_assert_msg(strstr(out, " x1 for ") && strstr(out, "ms; no waiters"), "no time held: %s", out);
  ck_assert_int_eq(cli(out, "lock fl release"), 0);
  ck_assert_int_eq(cli(out, "lock fl acquire"), 0);
  ck_assert_str_eq(out, "2\n");
  ck_assert_int_eq(cli(out, "set fenced k late --guard fl=1 2>&1"), 5);
  ck_assert_msg(strstr(out, "fencing token 1 is stale"), "%s", out);
  ck_assert_int_eq(cli(out, "get fenced k"), 0);
  ck_assert_str_eq(out, "first\n");
  ck_assert_int_eq(cli(out, "set fenced k x --guard fl 2>&1"), 2);
  ck_assert_int_eq(cli(out, "lock fl acquire forever 2>&1"), 2);
  ck_assert_int_eq(cli(out, "lock fl release"), 0);
  ck_assert_int_eq(cli(out, "--json locks"), 0);
  ck_assert_str_eq(out, "[]\n");
}
END_TEST

Suite *cli_suite(void) {
  Suite *s = suite_create("cli");
  struct {
    const char *name;
    const TTest *tests[8];
  } cases[] = {
      {"dict",
       {test_set_get_round_trip, test_typed_keys, test_get_missing, test_del, test_keys, NULL}},
      {"list", {test_push_pop_len, test_wrong_type, NULL}},
      {"value", {test_value_incr, test_value_set, NULL}},
      {"admin", {test_ping, test_ls, test_info, test_help_version, NULL}},
      {"errors", {test_usage_errors, test_wrong_authkey, test_unreachable, test_timeout, NULL}},
      {"unix", {test_unix_socket, test_environment, NULL}},
      {"shutdown", {test_shutdown, test_tls_messages, NULL}},
      {"output", {test_plain_unambiguous, test_json_values, test_json_commands, NULL}},
      {"sync",
       {test_queue, test_queue_get_waits, test_event, test_semaphore, test_barrier,
        test_lock_fencing, NULL}},
      {"txn", {test_txn, test_watch, NULL}},
      {"types",
       {test_ns, test_array, test_items_values_range, test_delete_type, test_follow_ref,
        test_help_command, NULL}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    TCase *tc = tcase_create(cases[i].name);
    tcase_set_timeout(tc, 60);
    if (strcmp(cases[i].name, "shutdown") != 0) smtest_add_daemon(tc);
    for (size_t j = 0; cases[i].tests[j]; j++)
      tcase_add_test(tc, cases[i].tests[j]);
    suite_add_tcase(s, tc);
  }
  return s;
}
