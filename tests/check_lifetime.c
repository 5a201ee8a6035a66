/* SPDX-License-Identifier: MIT */
/* check_lifetime.c - how long data lives: expiry (TTLs on dict keys and on
 * whole objects) and ephemeral objects, against the real daemon.
 *
 * - Expired keys and objects are never returned, whether or not the expiry
 *   cycle reached them; set/update clear a key's TTL; ttl and persist say
 *   and undo; bad TTLs and options get clear errors.
 * - Keys nobody touches again are reclaimed by the expiry cycle: used_memory
 *   falls and info counts them.
 * - A durable daemon keeps the absolute deadlines across a crash (replay of
 *   the log) and a clean stop (snapshot), and replays the removals it
 *   logged without asking the clock.
 * - An ephemeral object goes when its creator's session ends: a clean
 *   close, a SIGKILLed creator; after a durable daemon's restart it stays
 *   while the session may be resumed, and for good when it is resumed. */
#include "smtest.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ---- */

/* A durable daemon (smtest.h) whose suspended sessions wait
 * resume_timeout_ms for their clients. */
static void durable_start(smtest_durable *x, const char *resume_timeout_ms) {
  const char *extra[] = {"--session-resume-timeout", resume_timeout_ms, NULL};
  smtest_durable_start(x, extra);
}

static bool listed(sm_client *c, const char *name) {
  sm_value *ls = NULL;
  OK(sm_ls(c, NULL, &ls));
  bool found = false;
  sm_value *k = sm_value_str("name");
  for (size_t i = 0; i < sm_value_len(ls); i++) {
    const sm_value *n = sm_value_map_get(sm_value_list_at(ls, i), k);
    if (n && strcmp(sm_value_as_str(n, NULL), name) == 0) found = true;
  }
  sm_value_free(k);
  sm_value_free(ls);
  return found;
}

/* Waits up to wait_ms for ls to list name (want true) or not. */
static bool listed_within(sm_client *c, const char *name, bool want, int wait_ms) {
  for (int t = 0; t < wait_ms; t += 20) {
    if (listed(c, name) == want) return true;
    usleep(20000);
  }
  return listed(c, name) == want;
}

static void msleep(int ms) { usleep((useconds_t)ms * 1000); }

/* ms left on key k of d. */
static int64_t key_ttl(sm_dict *d, const char *k) {
  sm_value *key = sm_value_str(k);
  int64_t ms = -9;
  OK(sm_dict_ttl(d, key, &ms));
  sm_value_free(key);
  return ms;
}

static void set_ttl(sm_dict *d, const char *k, int64_t ms, bool want_existed) {
  sm_value *key = sm_value_str(k);
  bool existed = !want_existed;
  OK(sm_dict_set_ttl(d, key, ms, &existed));
  ck_assert(existed == want_existed);
  sm_value_free(key);
}

static void set_ex(sm_dict *d, const char *k, int64_t v, int64_t ttl_ms) {
  sm_value *key = sm_value_str(k), *val = sm_value_int(v);
  OK(sm_dict_set_ex(d, key, val, ttl_ms));
  sm_value_free(key);
  sm_value_free(val);
}

/* ---- expiry ---- */

/* A key past its TTL is gone for every reader (get, contains, len, keys,
 * items) at once, before the cycle reclaims it; the others stay. */
START_TEST(expired_keys_are_never_returned) {
  smtest_daemon d;
  smtest_daemon_start(&d, NULL);
  sm_client *c = smtest_connect(&d, NULL);
  sm_dict *dict;
  OK(sm_dict_open(c, "cache", &dict));
  set_ex(dict, "short", 1, 400);
  OK(sm_dict_set_int(dict, "long", 2));
  set_ttl(dict, "long", 60000, true);
  OK(sm_dict_set_int(dict, "plain", 3));
  set_ttl(dict, "absent", 1000, false);
  int64_t left = key_ttl(dict, "short");
  ck_assert_msg(left > 0 && left <= 400, "ttl %lld", (long long)left);
  ck_assert_int_eq(key_ttl(dict, "plain"), -1);
  ck_assert_int_eq(key_ttl(dict, "absent"), -2);
  int64_t v = 0;
  OK(sm_dict_get_int(dict, "short", &v));
  ck_assert_int_eq(v, 1);
  msleep(550);
  FAILS(sm_dict_get_int(dict, "short", &v), SM_ENOTFOUND);
  size_t n = 0;
  OK(sm_dict_len(dict, &n));
  ck_assert_uint_eq(n, 2);
  sm_value *keys = NULL;
  OK(sm_dict_keys(dict, &keys));
  smtest_expect_value(keys, "['long', 'plain']");
  ck_assert_int_eq(key_ttl(dict, "short"), -2);
  ck_assert_int_eq(smtest_info_int(c, "expired_keys"), 1);
  sm_dict_free(dict);
  sm_client_free(c);
  smtest_daemon_stop_checked(&d);
}
END_TEST

/* As Redis: a new value clears the TTL, persist removes it, set_ttl with
 * ms <= 0 removes the key; bad TTLs are refused. */
START_TEST(ttl_goes_with_the_value) {
  smtest_daemon d;
  smtest_daemon_start(&d, NULL);
  sm_client *c = smtest_connect(&d, NULL);
  sm_dict *dict;
  OK(sm_dict_open(c, "t", &dict));
  set_ex(dict, "a", 1, 100);
  OK(sm_dict_set_int(dict, "a", 2)); /* a new value: no TTL */
  ck_assert_int_eq(key_ttl(dict, "a"), -1);
  set_ex(dict, "b", 1, 100);
  sm_value *kb = sm_value_str("b"), *kc = sm_value_str("c"), *one = sm_value_int(1);
  bool had = false;
  OK(sm_dict_persist(dict, kb, &had));
  ck_assert(had);
  OK(sm_dict_persist(dict, kb, &had));
  ck_assert(!had);
  OK(sm_dict_set(dict, kc, one));
  set_ttl(dict, "c", 0, true); /* removed now */
  bool there = true;
  OK(sm_dict_contains(dict, kc, &there));
  ck_assert(!there);
  FAILS(sm_dict_set_ex(dict, kc, one, 0), SM_EVALUE);
  FAILS(sm_dict_set_ex(dict, kc, one, -5), SM_EVALUE);
  msleep(200);
  int64_t v = 0;
  OK(sm_dict_get_int(dict, "a", &v));
  ck_assert_int_eq(v, 2);
  OK(sm_dict_get_int(dict, "b", &v));
  sm_value_free(kb);
  sm_value_free(kc);
  sm_value_free(one);
  sm_dict_free(dict);
  sm_client_free(c);
  smtest_daemon_stop_checked(&d);
}
END_TEST

/* A whole object with a TTL: ttl and persist by name, by proxy, for an
 * anonymous object too; once expired, its proxies get NOT_FOUND, ls does
 * not list it and its name is free for a new object. */
START_TEST(objects_expire_whole) {
  smtest_daemon d;
  smtest_daemon_start(&d, NULL);
  sm_client *c = smtest_connect(&d, NULL);
  sm_dict *dict;
  OK(sm_dict_open(c, "session:1", &dict));
  OK(sm_dict_set_int(dict, "user", 7));
  int64_t left = 0;
  OK(sm_ttl(c, "session:1", &left));
  ck_assert_int_eq(left, -1);
  OK(sm_expire(c, "session:1", 600));
  sm_value *shown = NULL, *tk = sm_value_str("ttl_ms");
  OK(sm_show(c, "session:1", &shown));
  ck_assert_ptr_nonnull(sm_value_map_get(shown, tk));
  sm_value_free(tk);
  sm_value_free(shown);
  OK(sm_ttl(c, "session:1", &left));
  ck_assert_msg(left > 0 && left <= 600, "ttl %lld", (long long)left);
  sm_list *anon;
  OK(sm_list_open(c, NULL, &anon));
  OK(sm_proxy_expire(sm_list_proxy(anon), 600));
  OK(sm_proxy_ttl(sm_list_proxy(anon), &left));
  ck_assert(left > 0 && left <= 600);
  sm_dict *kept;
  OK(sm_dict_open(c, "kept", &kept));
  OK(sm_expire(c, "kept", 600));
  bool had = false;
  OK(sm_persist(c, "kept", &had));
  ck_assert(had);
  ck_assert(listed(c, "session:1"));
  msleep(750);
  ck_assert(!listed(c, "session:1"));
  int64_t v;
  FAILS(sm_dict_get_int(dict, "user", &v), SM_ENOTFOUND);
  FAILS(sm_ttl(c, "session:1", &left), SM_ENOTFOUND);
  size_t n = 9;
  FAILS(sm_list_len(anon, &n), SM_ENOTFOUND);
  ck_assert(listed(c, "kept"));
  sm_dict *again; /* the name is free: a new, empty dict */
  OK(sm_dict_open(c, "session:1", &again));
  OK(sm_dict_len(again, &n));
  ck_assert_uint_eq(n, 0);
  ck_assert_int_eq(smtest_info_int(c, "expired_objects"), 2);
  FAILS(sm_expire(c, "nothing", 10), SM_ENOTFOUND);
  sm_dict_free(again);
  sm_dict_free(kept);
  sm_list_free(anon);
  sm_dict_free(dict);
  sm_client_free(c);
  smtest_daemon_stop_checked(&d);
}
END_TEST

/* Keys that expire and are never touched again are reclaimed by the
 * expiry cycle: the data's memory falls back and info counts them. */
START_TEST(untouched_expired_keys_are_reclaimed) {
  smtest_daemon d;
  smtest_daemon_start(&d, NULL);
  sm_client *c = smtest_connect(&d, NULL);
  sm_dict *dict;
  OK(sm_dict_open(c, "big", &dict));
  OK(sm_dict_set_int(dict, "stays", 1));
  int64_t before = smtest_info_int(c, "used_memory");
  char val[1024];
  memset(val, 'x', sizeof val - 1);
  val[sizeof val - 1] = '\0';
  enum { KEYS = 3000 };
  for (int i = 0; i < KEYS; i++) {
    char k[32];
    snprintf(k, sizeof k, "k%d", i);
    sm_value *key = sm_value_str(k), *v = sm_value_str(val);
    OK(sm_dict_set_ex(dict, key, v, 2000)); /* long enough to set them all on a busy machine */
    sm_value_free(key);
    sm_value_free(v);
  }
  int64_t full = smtest_info_int(c, "used_memory");
  ck_assert_msg(full - before > KEYS * 1024, "used_memory grew by %lld only",
                (long long)(full - before));
  for (int t = 0; t < 10000 && smtest_info_int(c, "expired_keys") < KEYS; t += 50)
    msleep(50);
  ck_assert_int_eq(smtest_info_int(c, "expired_keys"), KEYS);
  int64_t after = smtest_info_int(c, "used_memory");
  ck_assert_msg(after - before < 64 * 1024, "used_memory %lld before, %lld after expiry",
                (long long)before, (long long)after);
  size_t n = 0;
  OK(sm_dict_len(dict, &n));
  ck_assert_uint_eq(n, 1);
  sm_dict_free(dict);
  sm_client_free(c);
  smtest_daemon_stop_checked(&d);
}
END_TEST

/* A durable daemon keeps the absolute deadlines: after a crash (the log
 * replayed) and after a clean stop (the snapshot loaded) the TTLs go on
 * from where they were, not from the restart, and removals logged before
 * (lazy and by the cycle) replay as they were. */
static void deadlines_survive(int sig) {
  smtest_durable x;
  durable_start(&x, "60000");
  sm_client *c = smtest_connect(&x.d, x.d.unix_url);
  sm_dict *dict;
  OK(sm_dict_open(c, "d", &dict));
  set_ex(dict, "gone-touched", 1, 100);
  set_ex(dict, "gone-untouched", 2, 100);
  set_ex(dict, "later", 3, 5000);
  OK(sm_dict_set_int(dict, "plain", 4));
  sm_dict *obj;
  OK(sm_dict_open(c, "obj", &obj));
  OK(sm_expire(c, "obj", 5000));
  msleep(300);
  int64_t v;
  FAILS(sm_dict_get_int(dict, "gone-touched", &v), SM_ENOTFOUND); /* a lazy removal, logged */
  for (int t = 0; t < 2000 && smtest_info_int(c, "expired_keys") < 2; t += 20)
    msleep(20); /* the cycle's removal of the other, logged */
  ck_assert_int_eq(smtest_info_int(c, "expired_keys"), 2);
  smtest_durable_restart(&x, sig);
  /* 300 ms at least went by since the TTLs were set: a deadline counted
   * again from the restart would show more than 4700 ms left. */
  int64_t left = key_ttl(dict, "later");
  ck_assert_msg(left >= 0 && left <= 4700, "ttl %lld after the restart", (long long)left);
  int64_t oleft = -9;
  OK(sm_ttl(c, "obj", &oleft));
  ck_assert_msg(oleft >= 0 && oleft <= 4700, "object ttl %lld", (long long)oleft);
  size_t n = 0;
  OK(sm_dict_len(dict, &n));
  ck_assert_uint_eq(n, 2);
  msleep((int)(left > oleft ? left : oleft) + 150);
  FAILS(sm_dict_get_int(dict, "later", &v), SM_ENOTFOUND);
  OK(sm_dict_get_int(dict, "plain", &v));
  ck_assert(!listed(c, "obj"));
  /* And once more: the removals made after the restart replay too. */
  smtest_durable_restart(&x, SIGKILL);
  OK(sm_dict_len(dict, &n));
  ck_assert_uint_eq(n, 1);
  ck_assert(!listed(c, "obj"));
  sm_dict_free(obj);
  sm_dict_free(dict);
  sm_client_free(c);
  smtest_durable_stop(&x);
}

START_TEST(deadlines_survive_a_crash) { deadlines_survive(SIGKILL); }
END_TEST

START_TEST(deadlines_survive_a_clean_stop) { deadlines_survive(SIGTERM); }
END_TEST

/* Runs `statemgr -u URL --authkey-file KEY ARGS` ($STATEMGR_CLI) against
 * d; returns its exit code, stdout in out. */
static int cli(const smtest_daemon *d, char *out, size_t outlen, const char *args) {
  const char *bin = getenv("STATEMGR_CLI");
  ck_assert_msg(bin && *bin, "STATEMGR_CLI must name the statemgr binary");
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s' -u '%s' --authkey-file '%s' %s", bin, d->tcp_url, d->authkey_file,
           args);
  out[0] = '\0';
  return smtest_run(cmd, out, outlen);
}

/* The CLI's expire, ttl and persist, on an object and on a dict's key;
 * a missing object or key is exit 1, a bad MS exit 2. */
START_TEST(cli_expire_ttl_persist) {
  smtest_daemon d;
  smtest_daemon_start(&d, NULL);
  char out[256];
  ck_assert_int_eq(cli(&d, out, sizeof out, "set cfg k 1"), 0);
  ck_assert_int_eq(cli(&d, out, sizeof out, "ttl cfg"), 0);
  ck_assert_str_eq(out, "none\n");
  ck_assert_int_eq(cli(&d, out, sizeof out, "expire cfg k 60000"), 0);
  ck_assert_int_eq(cli(&d, out, sizeof out, "ttl cfg k"), 0);
  long left = atol(out);
  ck_assert_msg(left > 50000 && left <= 60000, "ttl printed %s", out);
  ck_assert_int_eq(cli(&d, out, sizeof out, "persist cfg k"), 0);
  ck_assert_str_eq(out, "True\n");
  ck_assert_int_eq(cli(&d, out, sizeof out, "ttl cfg k"), 0);
  ck_assert_str_eq(out, "none\n");
  ck_assert_int_eq(cli(&d, out, sizeof out, "ttl cfg nokey"), 1);
  ck_assert_int_eq(cli(&d, out, sizeof out, "expire cfg nokey 100"), 1);
  ck_assert_int_eq(cli(&d, out, sizeof out, "expire nothing 100"), 1);
  ck_assert_int_eq(cli(&d, out, sizeof out, "expire cfg soon"), 2);
  ck_assert_int_eq(cli(&d, out, sizeof out, "expire cfg 1000"), 0);
  ck_assert_int_eq(cli(&d, out, sizeof out, "--json ttl cfg"), 0);
  ck_assert_msg(atol(out) > 0 && atol(out) <= 1000, "ttl printed %s", out);
  msleep(1150);
  ck_assert_int_eq(cli(&d, out, sizeof out, "ttl cfg"), 1);
  ck_assert_int_eq(cli(&d, out, sizeof out, "get cfg k"), 1);
  smtest_daemon_stop_checked(&d);
}
END_TEST

/* ---- ephemeral objects ---- */

static sm_open_options *ephemeral_opts(void) {
  sm_open_options *o = sm_open_options_new();
  ck_assert_ptr_nonnull(o);
  OK(sm_open_options_set_ephemeral(o, true));
  return o;
}

/* An ephemeral dict lives while its creator's client does: others see it,
 * and it goes when that client closes. Opening the name again does not
 * make it anyone else's; an anonymous ephemeral object is refused. */
START_TEST(ephemeral_goes_with_its_client) {
  smtest_daemon d;
  smtest_daemon_start(&d, NULL);
  sm_client *owner = smtest_connect(&d, NULL), *other = smtest_connect(&d, NULL);
  sm_open_options *o = ephemeral_opts();
  sm_dict *mine, *seen;
  OK(sm_dict_open_ex(owner, "svc/a", o, &mine));
  OK(sm_dict_set_str(mine, "addr", "10.0.0.1:80"));
  OK(sm_dict_open_ex(other, "svc/a", o, &seen)); /* exists: only opens it */
  char *addr = NULL;
  OK(sm_dict_get_str(seen, "addr", &addr));
  ck_assert_str_eq(addr, "10.0.0.1:80");
  sm_free(addr);
  sm_dict *anon = NULL;
  FAILS(sm_dict_open_ex(owner, NULL, o, &anon), SM_EVALUE);
  sm_value *shown = NULL; /* show says whose it is */
  OK(sm_show(other, "svc/a", &shown));
  sm_value *k = sm_value_str("ephemeral_session");
  ck_assert_ptr_nonnull(sm_value_map_get(shown, k));
  sm_value_free(k);
  sm_value_free(shown);
  sm_dict_free(seen);
  sm_client_free(other); /* the opener's end changes nothing */
  other = smtest_connect(&d, NULL);
  ck_assert(listed(other, "svc/a"));
  sm_dict_free(mine);
  ck_assert(listed(other, "svc/a")); /* freeing the proxy is not the end of the session */
  sm_client_free(owner);
  ck_assert(listed_within(other, "svc/a", false, 2000));
  int64_t left;
  FAILS(sm_ttl(other, "svc/a", &left), SM_ENOTFOUND);
  sm_open_options_free(o);
  sm_client_free(other);
  smtest_daemon_stop_checked(&d);
}
END_TEST

/* A creator killed with SIGKILL takes its ephemeral object with it. */
START_TEST(ephemeral_goes_with_a_killed_creator) {
  smtest_daemon d;
  smtest_daemon_start(&d, NULL);
  int ready[2];
  ck_assert_int_eq(pipe(ready), 0);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    sm_client *c = smtest_connect(&d, NULL);
    sm_open_options *o = sm_open_options_new();
    sm_dict *svc;
    if (!o || sm_open_options_set_ephemeral(o, true) != SM_OK ||
        sm_dict_open_ex(c, "svc/killed", o, &svc) != SM_OK)
      _exit(1);
    if (write(ready[1], "r", 1) != 1) _exit(1);
    pause();
    _exit(0);
  }
  close(ready[1]);
  char r;
  ck_assert_int_eq(read(ready[0], &r, 1), 1);
  close(ready[0]);
  sm_client *c = smtest_connect(&d, NULL);
  ck_assert(listed(c, "svc/killed"));
  ck_assert_int_eq(kill(pid, SIGKILL), 0);
  int st;
  ck_assert_int_eq(waitpid(pid, &st, 0), pid);
  ck_assert(listed_within(c, "svc/killed", false, 2000));
  sm_client_free(c);
  smtest_daemon_stop_checked(&d);
}
END_TEST

/* After a durable daemon's crash, an ephemeral object's session is
 * suspended: the object stays while the client may resume it, and goes
 * when --session-resume-timeout passes without a resume. */
START_TEST(ephemeral_of_a_session_not_resumed_goes) {
  smtest_durable x;
  durable_start(&x, "1500");
  sm_client *owner = smtest_connect(&x.d, x.d.unix_url);
  sm_open_options *o = ephemeral_opts();
  sm_dict *svc;
  OK(sm_dict_open_ex(owner, "svc/b", o, &svc));
  smtest_durable_restart(&x, SIGKILL);
  sm_client *other = smtest_connect(&x.d, x.d.unix_url);
  ck_assert(listed(other, "svc/b")); /* suspended, not ended */
  ck_assert(listed_within(other, "svc/b", false, 5000));
  /* The end was logged: it stays gone after another restart. */
  smtest_durable_restart(&x, SIGKILL);
  ck_assert(!listed(other, "svc/b"));
  sm_open_options_free(o);
  sm_client_free(other);
  sm_dict_free(svc);
  sm_client_free(owner);
  smtest_durable_stop(&x);
}
END_TEST

/* A client that resumes its session after the restart keeps its ephemeral
 * object past the resume timeout, and still takes it away when it
 * closes. */
START_TEST(ephemeral_of_a_resumed_session_stays) {
  smtest_durable x;
  durable_start(&x, "1500");
  sm_client *owner = smtest_connect(&x.d, x.d.unix_url);
  sm_open_options *o = ephemeral_opts();
  sm_dict *svc;
  OK(sm_dict_open_ex(owner, "svc/c", o, &svc));
  smtest_durable_restart(&x, SIGTERM); /* through the snapshot this time */
  sm_list *anon; /* made over the holder connection, which resumes its session */
  OK(sm_list_open(owner, NULL, &anon));
  sm_client *other = smtest_connect(&x.d, x.d.unix_url);
  msleep(1800); /* past the resume timeout */
  ck_assert(listed(other, "svc/c"));
  sm_list_free(anon);
  sm_dict_free(svc);
  sm_client_free(owner);
  ck_assert(listed_within(other, "svc/c", false, 2000));
  sm_open_options_free(o);
  sm_client_free(other);
  smtest_durable_stop(&x);
}
END_TEST

/* An ephemeral object with a TTL as well: whichever comes first. Opening
 * with a TTL sets it only when the call creates the object. */
START_TEST(open_options_ttl) {
  smtest_daemon d;
  smtest_daemon_start(&d, NULL);
  sm_client *c = smtest_connect(&d, NULL);
  sm_open_options *o = sm_open_options_new();
  OK(sm_open_options_set_ttl(o, 500));
  FAILS(sm_open_options_set_ttl(o, -1), SM_EINVAL);
  sm_dict *a, *b;
  OK(sm_dict_open(c, "exists", &b));
  OK(sm_dict_open_ex(c, "exists", o, &a)); /* opened, not created: no TTL */
  int64_t left = 0;
  OK(sm_ttl(c, "exists", &left));
  ck_assert_int_eq(left, -1);
  sm_dict_free(a);
  OK(sm_dict_open_ex(c, "lease", o, &a));
  OK(sm_ttl(c, "lease", &left));
  ck_assert(left > 0 && left <= 500);
  msleep(650);
  ck_assert(!listed(c, "lease"));
  sm_dict_free(a);
  sm_dict_free(b);
  sm_open_options_free(o);
  sm_client_free(c);
  smtest_daemon_stop_checked(&d);
}
END_TEST

/* examples/service_registry runs (its own private manager): three
 * services register, the SIGKILLed one leaves the registry, the stopped
 * ones too. */
START_TEST(service_registry_example_runs) {
  const char *daemon = getenv("STATEMGRD");
  ck_assert_msg(daemon && *daemon, "STATEMGRD must name the daemon");
  const char *slash = strrchr(daemon, '/');
  ck_assert_ptr_nonnull(slash);
  char cmd[1024], out[2048];
  snprintf(cmd, sizeof cmd, "STATEMGRD='%s' '%.*s/examples/service_registry'", daemon,
           (int)(slash - daemon), daemon);
  ck_assert_int_eq(smtest_run(cmd, out, sizeof out), 0);
  ck_assert_msg(strstr(out, "3 live services") && strstr(out, "2 live services") &&
                    strstr(out, "0 live services after"),
                "the example printed: %s", out);
}
END_TEST

Suite *lifetime_suite(void) {
  Suite *s = suite_create("lifetime");
  TCase *tc = tcase_create("expiry");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, expired_keys_are_never_returned);
  tcase_add_test(tc, ttl_goes_with_the_value);
  tcase_add_test(tc, objects_expire_whole);
  tcase_add_test(tc, untouched_expired_keys_are_reclaimed);
  tcase_add_test(tc, deadlines_survive_a_crash);
  tcase_add_test(tc, deadlines_survive_a_clean_stop);
  tcase_add_test(tc, cli_expire_ttl_persist);
  suite_add_tcase(s, tc);
  tc = tcase_create("ephemeral");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, ephemeral_goes_with_its_client);
  tcase_add_test(tc, ephemeral_goes_with_a_killed_creator);
  tcase_add_test(tc, ephemeral_of_a_session_not_resumed_goes);
  tcase_add_test(tc, ephemeral_of_a_resumed_session_stays);
  tcase_add_test(tc, open_options_ttl);
  tcase_add_test(tc, service_registry_example_runs);
  suite_add_tcase(s, tc);
  return s;
}
