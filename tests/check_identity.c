/* SPDX-License-Identifier: MIT */
/* check_identity.c - what names an object, and what both ends agree on.
 *
 * - Object ids are never reused, not even by a daemon restarted from
 *   nothing: a proxy of an anonymous object of an earlier daemon gets
 *   SM_ESTALE and reaches nothing, while a named proxy finds its object
 *   again by name.
 * - The daemon checks on every call that the object has the type the
 *   caller's proxy was opened for (Request.type).
 * - A status the library does not know (from a newer daemon) reaches the
 *   caller as SM_EREMOTE with the daemon's text, and the connection stays.
 * - Values nested as deeply as the daemon allows (--max-depth, up to 1000)
 *   are stored and read back, results that wrap them included.
 * - The handshake negotiates the protocol version: a protocol-1 client is
 *   still served, a protocol-1 daemon is refused by the library with a
 *   clear message, and the daemon tells a client its instance and depth.
 *
 * Restart tests run their own daemon on a UNIX socket (smtest_daemon_kill
 * then smtest_daemon_restart, same socket path and key); the fake daemon of
 * smtest_fake.c plays peers that statemgrd never is. */
#include "proto/auth.h"
#include "server/object.h"
#include "server/types.h"
#include "smtest_sync.h"
#include "smtest_unit.h"

#include <inttypes.h>

/* The text of a string field of the daemon's info map (caller frees). */
static char *info_str(sm_client *c, const char *field) {
  sm_value *info = NULL;
  OK(sm_info(c, &info));
  sm_value *k = sm_value_str(field);
  const sm_value *v = sm_value_map_get(info, k);
  ck_assert_msg(v && sm_value_type(v) == SM_STR, "info has no string \"%s\"", field);
  char *s = strdup(sm_value_as_str(v, NULL));
  sm_value_free(k);
  sm_value_free(info);
  return s;
}

/* A list nested depth levels deep (depth 1: [7]) around the int 7. */
static sm_value *nested(unsigned depth) {
  sm_value *v = sm_value_int(7);
  for (unsigned i = 0; i < depth; i++) {
    sm_value *l = sm_value_list();
    OK(sm_value_list_append(l, v));
    v = l;
  }
  return v;
}

/* ---- identity across daemon restarts ---- */

/* The regression of issue 9: an anonymous dict and an anonymous list opened
 * on a daemon that then crashes (SIGKILL) and restarts. Another program's
 * named dicts, the first objects of the new daemon, would take their ids
 * if ids restarted from 1. The old proxies get SM_ESTALE naming the earlier
 * daemon, directly, in a pipeline and through the old token, and nothing of
 * the other program's dicts changes; the named proxy of the same client
 * finds its object again by name. */
START_TEST(anonymous_proxy_after_restart) {
  smtest_daemon d;
  smtest_daemon_start(&d, NULL);
  sm_client *c = smtest_connect(&d, d.unix_url);
  sm_dict *anon, *named;
  sm_list *anon_list;
  OK(sm_dict_open(c, NULL, &anon));
  OK(sm_list_open(c, NULL, &anon_list));
  OK(sm_dict_open(c, "state", &named));
  OK(sm_dict_set_int(anon, "k", 1));
  OK(sm_list_append_int(anon_list, 1));
  OK(sm_dict_set_int(named, "before", 1));
  char *tok = sm_proxy_token(sm_dict_proxy(anon));
  ck_assert_ptr_nonnull(tok);

  smtest_daemon_kill(&d, SIGKILL);
  smtest_daemon_restart(&d);
  sm_client *other = smtest_connect(&d, d.unix_url);
  sm_dict *victim, *victim2;
  OK(sm_dict_open(other, "victim", &victim));
  OK(sm_dict_open(other, "victim2", &victim2));
  OK(sm_dict_set_int(victim, "mine", 1));
  OK(sm_dict_set_int(victim2, "mine", 2));

  FAILS(sm_dict_set_int(anon, "k", 2), SM_ESTALE);
  ck_assert_msg(strstr(sm_last_error(), "earlier daemon"), "text: %s", sm_last_error());
  int64_t v = 0;
  FAILS(sm_dict_get_int(anon, "mine", &v), SM_ESTALE);
  size_t n = 0;
  FAILS(sm_list_len(anon_list, &n), SM_ESTALE);
  FAILS(sm_list_append_int(anon_list, 2), SM_ESTALE);
  sm_pipeline *pl;
  OK(sm_pipeline_new(c, &pl));
  FAILS(sm_pipeline_call(pl, sm_dict_proxy(anon), "clear", NULL, 0), SM_ESTALE);
  ck_assert_msg(strstr(sm_last_error(), "earlier daemon"), "text: %s", sm_last_error());
  ck_assert_uint_eq(sm_pipeline_count(pl), 0);
  sm_pipeline_free(pl);
  /* The old token, opened by another program on the new daemon. */
  sm_dict *from_tok = NULL;
  FAILS(sm_dict_from_token(other, tok, &from_tok), SM_ESTALE);
  ck_assert_msg(strstr(sm_last_error(), "earlier daemon"), "text: %s", sm_last_error());

  /* Nothing of the other program's dicts changed. */
  OK(sm_dict_len(victim, &n));
  ck_assert_uint_eq(n, 1);
  OK(sm_dict_get_int(victim, "mine", &v));
  ck_assert_int_eq(v, 1);
  OK(sm_dict_len(victim2, &n));
  ck_assert_uint_eq(n, 1);
  OK(sm_dict_get_int(victim2, "mine", &v));
  ck_assert_int_eq(v, 2);

  /* The named proxy finds "state" again (a new daemon: empty). */
  OK(sm_dict_set_int(named, "after", 3));
  OK(sm_dict_get_int(named, "after", &v));
  ck_assert_int_eq(v, 3);
  FAILS(sm_dict_get_int(named, "before", &v), SM_ENOTFOUND);

  sm_free(tok);
  sm_dict_free(anon);
  sm_list_free(anon_list);
  sm_dict_free(named);
  sm_dict_free(victim);
  sm_dict_free(victim2);
  sm_client_free(other);
  sm_client_free(c);
  ck_assert_int_eq(smtest_daemon_stop(&d), 0);
}
END_TEST

/* Calls queued in a pipeline for one daemon instance are not sent to
 * another: when the thread's connection reached a restarted daemon before
 * the exec, every call gets SM_ESTALE and nothing is applied there. */
START_TEST(pipeline_queued_before_restart) {
  smtest_daemon d;
  smtest_daemon_start(&d, NULL);
  sm_client *c = smtest_connect(&d, d.unix_url);
  sm_dict *named;
  OK(sm_dict_open(c, "state", &named));
  sm_pipeline *pl;
  OK(sm_pipeline_new(c, &pl));
  sm_value *k = sm_value_str("k"), *v = sm_value_int(1);
  const sm_value *args[2] = {k, v};
  OK(sm_pipeline_call(pl, sm_dict_proxy(named), "set", args, 2));
  ck_assert_int_eq(smtest_daemon_kill(&d, SIGTERM), 0);
  smtest_daemon_restart(&d);
  OK(sm_ping(c)); /* this thread's connection now reaches the new daemon */
  FAILS(sm_pipeline_exec(pl), SM_ESTALE);
  ck_assert_int_eq(sm_pipeline_status(pl, 0), SM_ESTALE);
  sm_pipeline_free(pl);
  size_t n = 9;
  OK(sm_dict_len(named, &n)); /* found again by name: nothing was set */
  ck_assert_uint_eq(n, 0);
  sm_value_free(k);
  sm_value_free(v);
  sm_dict_free(named);
  sm_client_free(c);
  ck_assert_int_eq(smtest_daemon_stop(&d), 0);
}
END_TEST

/* A daemon restarted from nothing numbers its objects above every id the
 * earlier one gave out, and has another instance id. */
START_TEST(ids_never_reused_across_restarts) {
  smtest_daemon d;
  smtest_daemon_start(&d, NULL);
  sm_client *c = smtest_connect(&d, d.unix_url);
  sm_dict *a, *b;
  OK(sm_dict_open(c, NULL, &a));
  OK(sm_dict_open(c, "named", &b));
  uint64_t ida = sm_proxy_id(sm_dict_proxy(a)), idb = sm_proxy_id(sm_dict_proxy(b));
  uint64_t highest = ida > idb ? ida : idb;
  char *inst1 = info_str(c, "instance");
  sm_dict_free(a);
  sm_dict_free(b);
  sm_client_free(c);
  ck_assert_int_eq(smtest_daemon_kill(&d, SIGTERM), 0);

  smtest_daemon_restart(&d);
  c = smtest_connect(&d, d.unix_url);
  OK(sm_dict_open(c, "named", &b));
  OK(sm_dict_open(c, NULL, &a));
  ck_assert_uint_gt(sm_proxy_id(sm_dict_proxy(b)), highest);
  ck_assert_uint_gt(sm_proxy_id(sm_dict_proxy(a)), highest);
  char *inst2 = info_str(c, "instance");
  ck_assert_str_ne(inst1, inst2);
  free(inst1);
  free(inst2);
  sm_dict_free(a);
  sm_dict_free(b);
  sm_client_free(c);
  ck_assert_int_eq(smtest_daemon_stop(&d), 0);
}
END_TEST

/* A ref stored inside a value and read back opens as before: a named dict
 * holding an anonymous list, on a daemon that was restarted once. */
START_TEST(stored_ref_after_restart) {
  smtest_daemon d;
  smtest_daemon_start(&d, NULL);
  smtest_daemon_kill(&d, SIGKILL);
  smtest_daemon_restart(&d);
  sm_client *c = smtest_connect(&d, d.unix_url);
  sm_dict *feeds;
  sm_list *items;
  OK(sm_dict_open(c, "feeds", &feeds));
  OK(sm_list_open(c, NULL, &items));
  sm_value *key = sm_value_str("feed"), *ref = sm_proxy_ref(sm_list_proxy(items));
  OK(sm_dict_set(feeds, key, ref));
  sm_list_free(items); /* the dict's reference keeps the list */
  sm_value *back = NULL;
  OK(sm_dict_get(feeds, key, &back));
  sm_list *again;
  OK(sm_list_from_ref(c, back, &again));
  OK(sm_list_append_int(again, 5));
  size_t n = 0;
  OK(sm_list_len(again, &n));
  ck_assert_uint_eq(n, 1);
  sm_value_free(back);
  sm_value_free(ref);
  sm_value_free(key);
  sm_list_free(again);
  sm_dict_free(feeds);
  sm_client_free(c);
  ck_assert_int_eq(smtest_daemon_stop(&d), 0);
}
END_TEST

/* The registry's ids without a daemon: the first id of a run comes from
 * the clock and stays below 2^62; objects already there (as restored ones
 * would be) keep their ids and new ones come above the first id; a missing
 * id below it is STALE, one above it NOT_FOUND. */
static registry *ureg;
static vbuf uresult;
static char uerr[SMTEST_ERR_LEN];
static const smtest_unit unit = {&ureg, &uresult, uerr, SMTEST_NO_TIMEOUT};

START_TEST(registry_ids) {
  ck_assert_uint_eq(reg_first_id_at(1000), UINT64_C(1000) << REG_ID_CLOCK_SHIFT);
  ck_assert_uint_eq(reg_first_id_at(-5), UINT64_C(1) << REG_ID_CLOCK_SHIFT);
  ck_assert_uint_lt(reg_first_id_at(INT64_MAX), UINT64_C(1) << 62);
  smtest_unit_setup(&unit);
  sm_obj *old = smtest_make(&unit, "dict", "old", "");
  reg_begin_ids(ureg, 5000);
  sm_obj *a = smtest_make(&unit, "dict", "a", ""), *b = smtest_make(&unit, "list", NULL, "");
  ck_assert_ptr_eq(reg_get(ureg, old->id), old);
  ck_assert_uint_eq(a->id, 5000);
  ck_assert_uint_eq(b->id, 5001);
  ck_assert_uint_eq(b->type_code, wire_type_code("list"));
  char err[128];
  ck_assert_int_eq(reg_missing(ureg, 2, err, sizeof err), WS_STALE);
  ck_assert_msg(strstr(err, "earlier daemon"), "text: %s", err);
  ck_assert_int_eq(reg_missing(ureg, 6000, err, sizeof err), WS_NOT_FOUND);
  ck_assert(!reg_id_stale(ureg, 0)); /* the manager */
  ck_assert_ptr_eq(reg_type_by_code(ureg, wire_type_code("queue")), reg_type(ureg, "queue"));
  ck_assert_ptr_null(reg_type_by_code(ureg, wire_type_code("no-such-type")));
  smtest_unit_teardown(&unit);
}
END_TEST

/* ---- the argument count ---- */

/* Calls method on p with n int arguments and checks that dispatch refuses
 * the count with VALUE_ERROR, saying so. */
static void refused_count(sm_proxy *p, const char *type, const char *method, size_t n) {
  sm_value *args[8];
  for (size_t i = 0; i < n; i++)
    args[i] = sm_value_int(0);
  int rc = sm_call(p, method, (const sm_value *const *)args, n, NULL);
  ck_assert_msg(rc == SM_EVALUE && strstr(sm_last_error(), "argument"),
                "%s.%s with %zu arguments: %s (%s)", type, method, n, sm_errname(rc),
                sm_last_error());
  for (size_t i = 0; i < n; i++)
    sm_value_free(args[i]);
}

/* Every public method of every built-in type that states ARGS in its
 * method table refuses a count of arguments outside them with VALUE_ERROR
 * "expected ... arguments", over the wire: dispatch checks it once, before
 * the method runs (one more than the most, one fewer than the fewest).
 * Before, it was up to each method. */
START_TEST(arity_checked_on_every_call) {
  sm_client *c = smtest_connect_i(0);
  const struct {
    const obj_type *t;
    int64_t init; /* the creation argument, 0: none */
  } all[] = {
      {&t_dict_type, 0},      {&t_list_type, 0},      {&t_value_type, 0},
      {&t_namespace_type, 0}, {&t_queue_type, 0},     {&t_lock_type, 0},
      {&t_rlock_type, 0},     {&t_semaphore_type, 0}, {&t_bounded_semaphore_type, 0},
      {&t_condition_type, 0}, {&t_event_type, 0},     {&t_barrier_type, 2},
      {&t_array_type, 0},
  };
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    const obj_type *t = all[i].t;
    sm_proxy *p = NULL;
    sm_array *a = NULL;
    if (t == &t_array_type) {
      OK(sm_array_open(c, NULL, "i8", 4, &a));
      p = sm_array_proxy(a);
    } else {
      sm_value *init = all[i].init ? sm_value_int(all[i].init) : NULL;
      OK(sm_proxy_open(c, t->name, NULL, init, &p));
      sm_value_free(init);
    }
    for (size_t m = 0; m < t->n_methods; m++) {
      const method_def *md = &t->methods[m];
      if ((md->flags & METHOD_INTERNAL) || !(md->flags & METHOD_ARITY)) continue;
      if (method_max_args(md) < 8) refused_count(p, t->name, md->name, method_max_args(md) + 1);
      if (method_min_args(md) > 0) refused_count(p, t->name, md->name, method_min_args(md) - 1);
    }
    if (a)
      sm_array_free(a);
    else
      sm_proxy_free(p);
  }
  ck_assert_int_eq(smtest_info_int(c, "waiters"), 0); /* no wait ran */
  sm_client_free(c);
}
END_TEST

/* ---- the type check ---- */

/* A request that names a dict but carries the type code of a list (what an
 * old list proxy would send) is refused with TYPE_ERROR naming both types,
 * and changes nothing; with the right code, or none (protocol-1 clients),
 * it runs. An id no daemon of this run gave out is STALE. */
START_TEST(type_checked_on_every_call) {
  sm_client *c = smtest_connect_i(0);
  sm_dict *d;
  sm_list *l;
  OK(sm_dict_open(c, "typed-dict", &d));
  OK(sm_list_open(c, "typed-list", &l));
  OK(sm_list_append_int(l, 1));
  uint64_t did = sm_proxy_id(sm_dict_proxy(d)), lid = sm_proxy_id(sm_list_proxy(l));
  int fd = smtest_raw_authed();
  char err[256], want[128];

  ck_assert_int_eq(
      smtest_raw_call_typed(fd, 1, did, wire_type_code("list"), "len", NULL, 0, err, sizeof err),
      WS_TYPE_ERROR);
  snprintf(want, sizeof want, "object %" PRIu64 " is a dict, not a list", did);
  ck_assert_str_eq(err, want);
  ck_assert_int_eq(
      smtest_raw_call_typed(fd, 2, lid, wire_type_code("dict"), "clear", NULL, 0, err, sizeof err),
      WS_TYPE_ERROR);
  size_t n = 0;
  OK(sm_list_len(l, &n));
  ck_assert_uint_eq(n, 1); /* not cleared */
  ck_assert_int_eq(smtest_raw_call_typed(fd, 3, did, wire_type_code("no-such-type"), "len", NULL, 0,
                                         err, sizeof err),
                   WS_TYPE_ERROR);
  ck_assert_msg(strstr(err, "is a dict"), "text: %s", err);

  ck_assert_int_eq(
      smtest_raw_call_typed(fd, 4, did, wire_type_code("dict"), "len", NULL, 0, err, sizeof err),
      WS_OK);
  ck_assert_int_eq(smtest_raw_call(fd, 5, did, "len", NULL, 0, err, sizeof err), WS_OK);
  ck_assert_int_eq(smtest_raw_call(fd, 6, 5, "len", NULL, 0, err, sizeof err), WS_STALE);
  ck_assert_msg(strstr(err, "earlier daemon"), "text: %s", err);
  close(fd);
  sm_dict_free(d);
  sm_list_free(l);
  sm_client_free(c);
}
END_TEST

/* ---- statuses the library does not know ---- */

/* A newer daemon answers with statuses this library has never heard of:
 * each call gets SM_EREMOTE, with the daemon's text and the status number,
 * in a pipeline too, and the same connection goes on serving. */
START_TEST(unknown_status_is_a_generic_error) {
  static const int statuses[] = {42, WS_OK, 43, WS_OK};
  static const char *const texts[] = {"a status from the future", NULL, "another one", NULL};
  smtest_fake_cfg cfg = {.hello_version = 1,
                         .hello_max_version = 9,
                         .info = {.instance = 0x1234, .max_depth = 64},
                         .statuses = statuses,
                         .texts = texts,
                         .n_answers = 4};
  smtest_fake f;
  smtest_fake_start(&f, &cfg);
  sm_client *c = NULL;
  OK(smtest_fake_connect(&f, &c));
  FAILS(sm_ping(c), SM_EREMOTE);
  ck_assert_msg(strstr(sm_last_error(), "a status from the future") &&
                    strstr(sm_last_error(), "42"),
                "text: %s", sm_last_error());
  ck_assert_str_eq(sm_strerror(SM_EREMOTE), "error from the daemon");
  OK(sm_ping(c));
  sm_pipeline *pl;
  OK(sm_pipeline_new(c, &pl));
  OK(sm_pipeline_call(pl, NULL, "ping", NULL, 0));
  OK(sm_pipeline_call(pl, NULL, "ping", NULL, 0));
  OK(sm_pipeline_exec(pl));
  ck_assert_int_eq(sm_pipeline_status(pl, 0), SM_EREMOTE);
  ck_assert_msg(strstr(sm_pipeline_error(pl, 0), "another one") &&
                    strstr(sm_pipeline_error(pl, 0), "43"),
                "text: %s", sm_pipeline_error(pl, 0));
  ck_assert_int_eq(sm_pipeline_status(pl, 1), SM_OK);
  sm_value *r = NULL;
  FAILS(sm_pipeline_result(pl, 0, &r), SM_EREMOTE);
  sm_pipeline_free(pl);
  sm_client_free(c);
  smtest_fake_stop(&f);
  ck_assert_int_eq(f.accepted, 1); /* one connection throughout */
  ck_assert_int_eq(f.requests, 4);
}
END_TEST

/* ---- nesting depth ---- */

/* With --max-depth 1000, a value nested 200 levels deep, and one at the
 * limit, are stored and read back, items() wrapping them included; one
 * level more is refused by the library before sending, naming the limit. */
START_TEST(deep_values_round_trip) {
  const char *args[] = {"--max-depth", "1000", NULL};
  smtest_daemon d;
  smtest_daemon_start(&d, args);
  sm_client *c = smtest_connect(&d, NULL);
  sm_dict *dict;
  OK(sm_dict_open(c, "deep", &dict));
  sm_value *key = sm_value_str("v");
  unsigned depths[] = {200, 1000};
  for (size_t i = 0; i < 2; i++) {
    sm_value *v = nested(depths[i]), *back = NULL, *items = NULL;
    OK(sm_dict_set(dict, key, v));
    OK(sm_dict_get(dict, key, &back));
    ck_assert_msg(sm_value_equal(back, v), "%u levels did not come back equal", depths[i]);
    OK(sm_dict_items(dict, &items));
    ck_assert_uint_eq(sm_value_len(items), 1);
    ck_assert(sm_value_equal(sm_value_list_at(sm_value_list_at(items, 0), 1), v));
    sm_value_free(items);
    sm_value_free(back);
    sm_value_free(v);
  }
  sm_value *too_deep = nested(1001);
  FAILS(sm_dict_set(dict, key, too_deep), SM_EVALUE);
  ck_assert_msg(strstr(sm_last_error(), "1000"), "text: %s", sm_last_error());
  sm_value_free(too_deep);
  sm_value_free(key);
  sm_dict_free(dict);
  sm_client_free(c);
  ck_assert_int_eq(smtest_daemon_stop(&d), 0);
}
END_TEST

/* With the default limit (64), a value at the limit is stored, and every
 * result that wraps it (items, copy, popitem: one or two levels more) is
 * readable; 65 levels are refused, naming the limit. */
START_TEST(values_at_the_limit_read_back_wrapped) {
  sm_client *c = smtest_connect_i(0);
  sm_dict *dict;
  OK(sm_dict_open(c, "at-limit", &dict));
  sm_value *key = sm_value_str("v"), *v = nested(VW_DEPTH_DEFAULT), *out = NULL;
  OK(sm_dict_set(dict, key, v));
  OK(sm_dict_items(dict, &out));
  ck_assert(sm_value_equal(sm_value_list_at(sm_value_list_at(out, 0), 1), v));
  sm_value_free(out);
  OK(sm_dict_copy(dict, &out));
  ck_assert(sm_value_equal(sm_value_map_get(out, key), v));
  sm_value_free(out);
  sm_value *k2 = NULL, *v2 = NULL;
  OK(sm_dict_popitem(dict, &k2, &v2));
  ck_assert(sm_value_equal(v2, v));
  sm_value_free(k2);
  sm_value_free(v2);
  sm_value *too_deep = nested(VW_DEPTH_DEFAULT + 1);
  FAILS(sm_dict_set(dict, key, too_deep), SM_EVALUE);
  ck_assert_msg(strstr(sm_last_error(), "64"), "text: %s", sm_last_error());
  sm_value_free(too_deep);
  sm_value_free(v);
  sm_value_free(key);
  sm_dict_free(dict);
  sm_client_free(c);
}
END_TEST

/* ---- the protocol version in the handshake ---- */

/* A daemon of protocol 1 (a Hello without max_version) is refused by the
 * library with a message that names both versions; no Auth is sent. */
START_TEST(protocol1_daemon_refused) {
  smtest_fake_cfg cfg = {.hello_version = 1};
  smtest_fake f;
  smtest_fake_start(&f, &cfg);
  sm_client *c = NULL;
  int rc = smtest_fake_connect(&f, &c);
  ck_assert_msg(rc == SM_EPROTO, "connect -> %s (%s)", sm_errname(rc), sm_last_error());
  ck_assert_msg(strstr(sm_last_error(), "protocol 1") && strstr(sm_last_error(), "statemgrd"),
                "text: %s", sm_last_error());
  smtest_fake_stop(&f);
  ck_assert_uint_eq(f.auth_version, 0);
}
END_TEST

/* A daemon that speaks a range of versions gets this library's newest one
 * in Auth; one that only speaks versions newer than the library's is
 * refused with a clear message. */
START_TEST(version_negotiated) {
  smtest_fake_cfg cfg = {
      .hello_version = 1, .hello_max_version = 9, .info = {.instance = 77, .max_depth = 64}};
  smtest_fake f;
  smtest_fake_start(&f, &cfg);
  sm_client *c = NULL;
  OK(smtest_fake_connect(&f, &c));
  OK(sm_ping(c));
  sm_client_free(c);
  smtest_fake_stop(&f);
  ck_assert_uint_eq(f.auth_version, AUTH_PROTOCOL_VERSION);
  ck_assert_uint_ge(AUTH_PROTOCOL_VERSION, 2);

  cfg.hello_version = AUTH_PROTOCOL_VERSION + 1;
  smtest_fake_start(&f, &cfg);
  int rc = smtest_fake_connect(&f, &c);
  ck_assert_msg(rc == SM_EPROTO, "connect -> %s (%s)", sm_errname(rc), sm_last_error());
  ck_assert_msg(strstr(sm_last_error(), "libstatemgr"), "text: %s", sm_last_error());
  smtest_fake_stop(&f);
  ck_assert_uint_eq(f.auth_version, 0);
}
END_TEST

/* A client of protocol 1 is still served: it authenticates, calls work,
 * and a status it does not know (STALE, for an id of an earlier daemon)
 * reaches it as NOT_FOUND with the same text. */
START_TEST(protocol1_client_served) {
  authkey k = smtest_key();
  int fd = smtest_raw_connect(smtest_d.tcp_url);
  char err[256];
  ck_assert_int_eq(smtest_raw_handshake_as(fd, k.bytes, k.len, 1, NULL, NULL, err, sizeof err),
                   WS_OK);
  authkey_clear(&k);
  ck_assert_int_eq(smtest_raw_call(fd, 1, 0, "ping", NULL, 0, err, sizeof err), WS_OK);
  ck_assert_int_eq(smtest_raw_call(fd, 2, 5, "len", NULL, 0, err, sizeof err), WS_NOT_FOUND);
  ck_assert_msg(strstr(err, "earlier daemon"), "text: %s", err);
  close(fd);
}
END_TEST

/* A client naming a version the daemon does not speak (newer, or 0) is
 * refused in the AuthResult with the range the daemon speaks. */
START_TEST(unsupported_client_version_refused) {
  authkey k = smtest_key();
  char err[256], want[64];
  snprintf(want, sizeof want, "%u to %u", AUTH_PROTOCOL_OLDEST, AUTH_PROTOCOL_VERSION);
  uint32_t versions[] = {AUTH_PROTOCOL_VERSION + 1, 0};
  for (size_t i = 0; i < 2; i++) {
    int fd = smtest_raw_connect(smtest_d.tcp_url);
    ck_assert_int_eq(
        smtest_raw_handshake_as(fd, k.bytes, k.len, versions[i], NULL, NULL, err, sizeof err),
        WS_PROTOCOL_ERROR);
    ck_assert_msg(strstr(err, want), "text: %s", err);
    ck_assert(smtest_closed_by_daemon(fd));
    close(fd);
  }
  authkey_clear(&k);
}
END_TEST

/* The AuthResult of protocol 2 tells the client the daemon's instance (the
 * same on every connection, and the one info shows) and its --max-depth. */
START_TEST(handshake_tells_instance_and_depth) {
  authkey k = smtest_key();
  wire_daemon_info info[2];
  for (int i = 0; i < 2; i++) {
    int fd = smtest_raw_connect(smtest_d.tcp_url);
    ck_assert_int_eq(
        smtest_raw_handshake_as(fd, k.bytes, k.len, AUTH_PROTOCOL_VERSION, NULL, &info[i], NULL, 0),
        WS_OK);
    close(fd);
  }
  authkey_clear(&k);
  ck_assert(info[0].instance != 0 && info[0].instance == info[1].instance);
  ck_assert_uint_eq(info[0].max_depth, VW_DEPTH_DEFAULT);
  sm_client *c = smtest_connect_i(0);
  char *shown = info_str(c, "instance"), want[32];
  snprintf(want, sizeof want, "%016" PRIx64, info[0].instance);
  ck_assert_str_eq(shown, want);
  free(shown);
  sm_client_free(c);
}
END_TEST

Suite *identity_suite(void) {
  Suite *s = suite_create("identity");
  TCase *tc = tcase_create("restarts");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, anonymous_proxy_after_restart);
  tcase_add_test(tc, pipeline_queued_before_restart);
  tcase_add_test(tc, ids_never_reused_across_restarts);
  tcase_add_test(tc, stored_ref_after_restart);
  tcase_add_test(tc, deep_values_round_trip);
  suite_add_tcase(s, tc);

  tc = smtest_daemon_tcase(s, "one daemon", 30);
  tcase_add_test(tc, type_checked_on_every_call);
  tcase_add_test(tc, arity_checked_on_every_call);
  tcase_add_test(tc, values_at_the_limit_read_back_wrapped);
  tcase_add_test(tc, protocol1_client_served);
  tcase_add_test(tc, unsupported_client_version_refused);
  tcase_add_test(tc, handshake_tells_instance_and_depth);

  tc = tcase_create("registry");
  tcase_add_test(tc, registry_ids);
  suite_add_tcase(s, tc);

  tc = tcase_create("fake daemons");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, unknown_status_is_a_generic_error);
  tcase_add_test(tc, protocol1_daemon_refused);
  tcase_add_test(tc, version_negotiated);
  suite_add_tcase(s, tc);
  return s;
}
