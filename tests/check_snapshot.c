/* SPDX-License-Identifier: MIT */
/* check_snapshot.c - snapshots (server/snapshot.c) and the save/load hooks
 * of every type, on registries in memory, without a daemon.
 *
 * The round trip fills a registry with every type in states worth keeping
 * (anonymous objects held only by references stored in others, a held
 * lock, a semaphore with units taken, a queue with items and unfinished
 * tasks, a broken barrier, custom types with and without serialize),
 * writes it, loads it into a fresh registry and compares twice: a second
 * snapshot of the loaded registry is byte for byte the first, and the read
 * methods answer what they answered before (through smtest_call, and
 * through dispatch_call by object id). Damaged files (a flipped byte, a
 * truncation, an unknown version) are refused with the file named;
 * snap_newest falls back to the snapshot before a damaged one; snap_fork's
 * file holds the registry as it was at the fork, whatever the parent does
 * after it. The bench case prints the time to write and load a dict of
 * 100,000 entries (1,000,000 with SMTEST_LONG=1); its writer's memory is in
 * the log line the child writes. */
#include "server/dispatch.h"
#include "server/snapshot.h"
#include "server/crc32c.h"
#include "server/cycles.h"
#include "server/htab.h"
#include "server/memory.h"
#include "server/sval.h"
#include "server/t_lock.h"
#include "server/t_custom.h"
#include "smtest_unit.h"

#include "statemgr_server.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static registry *reg;
static vbuf result;
static char err[SMTEST_ERR_LEN];
static const smtest_unit unit = {&reg, &result, err, 0};

static char dir[64];              /* this test's data directory */
static obj_type *box_t, *plain_t; /* custom types of this test's registries */
static registry *extra_regs[4];   /* registries a test made besides reg */
static size_t n_extra;

#define ref smtest_ref
#define CK_RES(o, method, a, want) SMTEST_CK_RES(&unit, o, method, a, want)
#define CK_OK(o, method, a) SMTEST_CK_OK(&unit, o, method, a)
#define CK_ERR(o, method, a, status, text) SMTEST_CK_ERR(&unit, o, method, a, status, text)

/* ---- custom types: "box" saves its int64, "plain" cannot be saved ---- */

static void *box_create(const sm_value *const *args, size_t nargs, int *status) {
  int64_t *n = malloc(sizeof *n);
  if (!n)
    *status = SM_ENOMEM;
  else
    *n = nargs ? sm_value_as_int(args[0]) : 0;
  return n;
}

static int box_add(sm_method_call *mc) {
  int64_t *n = sm_method_state(mc);
  *n += sm_value_as_int(sm_method_arg(mc, 0));
  sm_value *r = sm_value_int(*n);
  int rc = sm_method_reply(mc, r);
  sm_value_free(r);
  return rc;
}

static sm_value *box_save(const void *state, int *status) {
  (void)status;
  return sm_value_int(*(const int64_t *)state);
}

static void *box_load(const sm_value *saved, int *status) {
  if (sm_value_type(saved) != SM_INT) {
    *status = SM_EVALUE;
    return NULL;
  }
  int64_t *n = malloc(sizeof *n);
  if (!n)
    *status = SM_ENOMEM;
  else
    *n = sm_value_as_int(saved);
  return n;
}

static int plain_ping(sm_method_call *mc) {
  (void)mc;
  return SM_OK;
}

static const sm_method_def box_methods[] = {{"add", box_add}};
static const sm_method_def plain_methods[] = {{"ping", plain_ping}};
static const sm_type_def box_def = {.version = SM_TYPE_DEF_VERSION,
                                    .name = "box",
                                    .create = box_create,
                                    .destroy = free,
                                    .methods = box_methods,
                                    .n_methods = 1,
                                    .serialize = box_save,
                                    .deserialize = box_load};
static const sm_type_def plain_def = {
    .version = SM_TYPE_DEF_VERSION, .name = "plain", .methods = plain_methods, .n_methods = 1};

/* A registry with the built-in and the two custom types. */
static registry *new_reg(void) {
  registry *r = reg_new();
  ck_assert_ptr_nonnull(r);
  ck_assert_int_eq(reg_add_type(r, box_t), 0);
  ck_assert_int_eq(reg_add_type(r, plain_t), 0);
  return r;
}

/* A registry the test frees in teardown. */
static registry *kept_reg(void) {
  ck_assert_uint_lt(n_extra, sizeof extra_regs / sizeof extra_regs[0]);
  return extra_regs[n_extra++] = new_reg();
}

static void setup(void) {
  box_t = custom_type_new(&box_def);
  plain_t = custom_type_new(&plain_def);
  ck_assert(box_t && plain_t);
  smtest_unit_setup(&unit);
  ck_assert_int_eq(reg_add_type(reg, box_t), 0);
  ck_assert_int_eq(reg_add_type(reg, plain_t), 0);
  snprintf(dir, sizeof dir, "/tmp/smtest-snap-XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void) {
  smtest_unit_teardown(&unit);
  while (n_extra > 0)
    reg_free(extra_regs[--n_extra]);
  custom_type_free(box_t);
  custom_type_free(plain_t);
  DIR *d = opendir(dir);
  struct dirent *e;
  char p[512];
  while (d && (e = readdir(d)))
    if (e->d_name[0] != '.' && snprintf(p, sizeof p, "%s/%s", dir, e->d_name) > 0) unlink(p);
  if (d) closedir(d);
  rmdir(dir);
}

/* ---- helpers ---- */

static const char *snap_file_at(uint64_t index) {
  return smtest_fmt("%s/snapshot-%020llu.snap", dir, (unsigned long long)index);
}

/* The whole of a file (caller frees), its size in *n. */
static uint8_t *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  ck_assert_msg(f != NULL, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *p = malloc(size ? (size_t)size : 1);
  ck_assert(p && fread(p, 1, (size_t)size, f) == (size_t)size);
  fclose(f);
  *n = (size_t)size;
  return p;
}

static void spill(const char *path, const uint8_t *p, size_t n) {
  FILE *f = fopen(path, "wb");
  ck_assert(f && fwrite(p, 1, n, f) == n);
  fclose(f);
}

/* The extra section of these tests: a fixed marker. */
static int write_extra(void *ctx, vbuf *out) {
  vb_str(out, ctx, strlen(ctx));
  return out->failed ? -1 : 0;
}

static void write_at(registry *r, uint64_t index) {
  char e[256];
  snap_meta meta = {.index = index,
                    .instance = UINT64_C(0xfedcba9876543210),
                    .next_id = reg_next_id(r),
                    .time_ms = 1700000000123};
  ck_assert_msg(snap_write(r, dir, &meta, write_extra, "sessions", e, sizeof e) == 0, "%s", e);
}

/* Loads path into a fresh registry (kept until teardown); fails the test
 * on an error. */
static registry *load(const char *path, snap_meta *meta) {
  registry *r = kept_reg();
  uint8_t *extra;
  size_t extralen;
  char e[512];
  ck_assert_msg(snap_load(r, path, meta, &extra, &extralen, e, sizeof e) == 0, "%s", e);
  vbuf want;
  vb_init(&want);
  vb_str(&want, "sessions", 8);
  ck_assert_uint_eq(extralen, want.len);
  ck_assert_mem_eq(extra, want.p, want.len);
  vb_free(&want);
  free(extra);
  return r;
}

/* snap_load's error for path, which must fail. */
static const char *load_error(const char *path) {
  static char e[512];
  registry *r = new_reg();
  snap_meta meta;
  uint8_t *extra = NULL;
  size_t extralen;
  int rc = snap_load(r, path, &meta, &extra, &extralen, e, sizeof e);
  reg_free(r); /* what was loaded so far */
  ck_assert_int_eq(rc, -1);
  ck_assert_ptr_null(extra);
  ck_assert_msg(strstr(e, path) != NULL, "'%s' does not name the file", e);
  return e;
}

/* Calls method of object id through dispatch_call, as a request on the
 * wire would, and returns the result in the notation. */
static const char *dispatch(registry *r, uint64_t id, const char *method) {
  wire_request req = {.seq = 1, .object = id, .nargs = 0};
  snprintf(req.method_buf, sizeof req.method_buf, "%s", method);
  req.method = req.method_buf;
  req.args = req.args_inline;
  char e[256];
  vbuf out;
  vb_init(&out);
  int rc = dispatch_call(r, NULL, 0, &req, VW_DEPTH_DEFAULT, &out, e, sizeof e);
  ck_assert_msg(rc == WS_OK, "%s on %llu: %s", method, (unsigned long long)id, e);
  const char *s = smtest_fmt("%s", smtest_show_value(vb_span(&out)));
  vb_free(&out);
  return s;
}

/* The reference counts of r's objects, by creation order. */
typedef struct counts {
  uint64_t id[64], refs[64];
  size_t n;
} counts;

static void count_one(void *ctx, sm_obj *o) {
  counts *c = ctx;
  ck_assert_uint_lt(c->n, 64);
  c->id[c->n] = o->id;
  c->refs[c->n++] = o->refs;
}

/* Deletes every object of r, oldest first. */
static void destroy_all(registry *r) {
  while (reg_count(r) > 0) {
    size_t pos = reg_seek(r, 0);
    sm_obj *o;
    ck_assert(reg_next_before(r, &pos, reg_scan_end(r), &o));
    reg_destroy(r, o);
  }
}

/* ---- the registry of the round trip ---- */

typedef struct filled {
  uint64_t dict, list_anon, value_anon, event_anon, rlock_anon, box, plain;
} filled;

/* Every type in a state worth keeping; see the file comment. */
static filled fill(void) {
  filled f;
  sm_obj *d = smtest_make(&unit, "dict", "d", "");
  sm_obj *inner = smtest_make(&unit, "value", NULL, "'inner'");
  sm_obj *l = smtest_make(&unit, "list", NULL, smtest_fmt("[1, %s]", ref(inner)));
  sm_obj *ev = smtest_make(&unit, "event", NULL, "");
  CK_OK(d, "set", "'z', 0");
  CK_OK(d, "set", "'a', 1");
  CK_OK(d, "set", "2, 'two'");
  CK_OK(d, "del", "'z'");
  CK_OK(d, "set", "'z', 26");                          /* now last */
  CK_OK(d, "set", smtest_fmt("'nested', %s", ref(l))); /* d holds l holds inner */
  CK_OK(d, "set", smtest_fmt("%s, 'event as key'", ref(ev)));
  f.dict = d->id, f.list_anon = l->id, f.value_anon = inner->id, f.event_anon = ev->id;
  reg_decref(reg, inner); /* from now on held only by what stores them */
  reg_decref(reg, l);
  reg_decref(reg, ev);
  CK_OK(ev, "set", "");

  smtest_make(&unit, "list", "l", "[1, 'x', [2, 3], {'k': nil}, 1.5, b'\\x00\\xff']");
  smtest_make(&unit, "value", "v", "-7");
  sm_obj *ns = smtest_make(&unit, "namespace", "ns", "");
  CK_OK(ns, "set", "'b', 1");
  CK_OK(ns, "set", "'a', [true]");
  smtest_make(&unit, "array", "ai", "'i16', [1, -2, 300]");
  smtest_make(&unit, "array", "af", "'f32', [1.5, -0.25, inf]");
  sm_obj *q = smtest_make(&unit, "queue", "q", "5");
  CK_OK(q, "put", "'a'");
  CK_OK(q, "put", "'b'");
  CK_OK(q, "put", "'c'");
  CK_RES(q, "get", "", "'a'");
  CK_OK(q, "task_done", "");
  sm_obj *lk = smtest_make(&unit, "lock", "lk", "");
  CK_RES(lk, "acquire", "", "true");
  smtest_make(&unit, "lock", "lk_free", "false");
  sm_obj *rl = smtest_make(&unit, "rlock", "rl", "");
  CK_OK(rl, "acquire", "");
  CK_OK(rl, "acquire", "");
  sm_obj *sem = smtest_make(&unit, "semaphore", "sem", "3");
  CK_OK(sem, "acquire", "");
  CK_OK(sem, "acquire", "");
  sm_obj *bsem = smtest_make(&unit, "bounded_semaphore", "bsem", "2, false");
  CK_OK(bsem, "acquire", "");
  sm_obj *cv = smtest_make(&unit, "condition", "cv", ""); /* an anonymous rlock of its own */
  CK_OK(cv, "acquire", "");
  f.rlock_anon = cv->id - 1;
  ck_assert_ptr_nonnull(reg_get(reg, f.rlock_anon));
  smtest_make(&unit, "condition", "cv2", ref(lk));
  sm_obj *bar = smtest_make(&unit, "barrier", "bar", "3");
  CK_OK(bar, "abort", "");
  smtest_make(&unit, "barrier", "bar2", "2");
  sm_obj *box = smtest_make(&unit, "box", "box", "40");
  CK_RES(box, "add", "2", "42");
  f.box = box->id;
  f.plain = smtest_make(&unit, "plain", "plain", "")->id;
  return f;
}

/* What the read methods of the filled registry answer, loaded or not. */
static void check_filled(registry *r, const filled *f, bool loaded) {
  registry *was = reg;
  reg = r;
  sm_obj *d = reg_get_named(r, "d");
  ck_assert_ptr_nonnull(d);
  ck_assert_uint_eq(d->id, f->dict);
  CK_RES(d, "keys", "",
         smtest_fmt("['a',2,'z','nested',@%llu:event]", (unsigned long long)f->event_anon));
  CK_RES(d, "get", "'nested'", smtest_fmt("@%llu:list", (unsigned long long)f->list_anon));
  CK_RES(reg_get(r, f->list_anon), "get", "1",
         smtest_fmt("@%llu:value", (unsigned long long)f->value_anon));
  CK_RES(reg_get(r, f->value_anon), "get", "", "'inner'");
  CK_RES(reg_get(r, f->event_anon), "is_set", "", "true");
  CK_RES(reg_get_named(r, "l"), "slice", "", "[1,'x',[2,3],{'k':nil},1.5,b'\\x00\\xff']");
  CK_RES(reg_get_named(r, "v"), "get", "", "-7");
  CK_RES(reg_get_named(r, "ns"), "scan", "0", "[0,[['b',1],['a',[true]]]]");
  CK_RES(reg_get_named(r, "ai"), "slice", "", "[1,-2,300]");
  CK_RES(reg_get_named(r, "ai"), "typecode", "", "'i16'");
  CK_RES(reg_get_named(r, "af"), "slice", "", "[1.5,-0.25,inf]");
  sm_obj *q = reg_get_named(r, "q");
  CK_RES(q, "qsize", "", "2");
  CK_RES(q, "maxsize", "", "5");
  CK_ERR(q, "join", "", WS_TIMEOUT, "2 unfinished tasks");
  CK_RES(reg_get_named(r, "lk"), "locked", "", "true");
  CK_RES(reg_get_named(r, "lk_free"), "locked", "", "false");
  CK_RES(reg_get_named(r, "rl"), "count", "", "2");
  CK_RES(reg_get_named(r, "sem"), "get_value", "", "1");
  CK_RES(reg_get_named(r, "bsem"), "get_value", "", "1");
  CK_RES(reg_get_named(r, "cv"), "lock", "",
         smtest_fmt("@%llu:rlock", (unsigned long long)f->rlock_anon));
  CK_RES(reg_get(r, f->rlock_anon), "count", "", "1");
  CK_RES(reg_get_named(r, "cv2"), "lock", "", ref(reg_get_named(r, "lk")));
  CK_RES(reg_get_named(r, "bar"), "broken", "", "true");
  CK_RES(reg_get_named(r, "bar2"), "parties", "", "2");
  CK_RES(reg_get_named(r, "box"), "add", "0", "42");
  /* By id, as a client's request finds them. */
  ck_assert_str_eq(dispatch(r, f->dict, "len"), "5");
  ck_assert_str_eq(dispatch(r, reg_get_named(r, "q")->id, "qsize"), "2");
  ck_assert_str_eq(dispatch(r, f->box, "add"), "42"); /* nil adds nothing: as int 0 */
  ck_assert(loaded ? reg_get(r, f->plain) == NULL : reg_get(r, f->plain) != NULL);
  reg = was;
}

/* ---- tests ---- */

/* Proves the round trip of every type: the loaded registry answers every
 * read as the original did, keeps ids, names and reference counts (not
 * counted twice: deleting the dict frees the anonymous objects it held),
 * the next id and the meta, and saving it again gives the same bytes. The
 * custom type without serialize is left out and named. */
START_TEST(test_round_trip) {
  filled f = fill();
  check_filled(reg, &f, false);
  char names[128];
  ck_assert(snap_unsaved_types(reg, names, sizeof names));
  ck_assert_str_eq(names, "plain");
  counts before = {0};
  reg_foreach(reg, count_one, &before);
  write_at(reg, 7);

  snap_meta meta;
  registry *r = load(snap_file_at(7), &meta);
  ck_assert_uint_eq(meta.index, 7);
  ck_assert_uint_eq(meta.instance, UINT64_C(0xfedcba9876543210));
  ck_assert_uint_eq(meta.next_id, reg_next_id(reg));
  ck_assert_int_eq(meta.time_ms, 1700000000123);
  ck_assert_uint_eq(reg_next_id(r), reg_next_id(reg));
  ck_assert(!snap_unsaved_types(r, names, sizeof names));
  counts after = {0};
  reg_foreach(r, count_one, &after);
  ck_assert_uint_eq(after.n, before.n - 1); /* the plain object */
  for (size_t i = 0; i < after.n; i++) {
    ck_assert_uint_eq(after.id[i], before.id[i]);
    ck_assert_uint_eq(after.refs[i], before.refs[i]);
  }

  /* Saved again: the same bytes (meta as loaded). */
  size_t n1, n2;
  uint8_t *first = slurp(snap_file_at(7), &n1);
  unlink(snap_file_at(7));
  char e[256];
  ck_assert_msg(snap_write(r, dir, &meta, write_extra, "sessions", e, sizeof e) == 0, "%s", e);
  uint8_t *second = slurp(snap_file_at(7), &n2);
  ck_assert_uint_eq(n1, n2);
  ck_assert_mem_eq(first, second, n1);
  free(first);
  free(second);

  check_filled(r, &f, true);
  /* The counts are right, not only equal: the dict's delete frees all
   * that it alone held. */
  reg_destroy(r, reg_get(r, f.dict));
  ck_assert_ptr_null(reg_get(r, f.list_anon));
  ck_assert_ptr_null(reg_get(r, f.value_anon));
  ck_assert_ptr_null(reg_get(r, f.event_anon));
  /* The memory account: with every object gone, the loaded registry
   * counts what the original counts then (its tables alone), so the load
   * counted exactly what destroying gives back. */
  destroy_all(r);
  destroy_all(reg);
  ck_assert_uint_gt(reg_mem(r)->used, 0);
  ck_assert_uint_eq(reg_mem(r)->used, reg_mem(reg)->used);
}
END_TEST

/* Proves a cycle the snapshot caught before the collector ran (two
 * anonymous lists holding only each other) is collected after the load:
 * the loaded objects are the collector's suspects. */
START_TEST(test_cycle) {
  sm_obj *a = smtest_make(&unit, "list", NULL, "");
  sm_obj *b = smtest_make(&unit, "list", NULL, smtest_fmt("[%s]", ref(a)));
  CK_OK(a, "append", ref(b));
  uint64_t ida = a->id, idb = b->id;
  reg_decref(reg, a);
  reg_decref(reg, b);
  ck_assert_ptr_nonnull(reg_get(reg, ida)); /* garbage, not collected yet */
  write_at(reg, 1);
  snap_meta meta;
  registry *r = load(snap_file_at(1), &meta);
  ck_assert_uint_eq(reg_count(r), 2);
  ck_assert_uint_eq(cyc_collect(reg_cycles(r)), 2);
  ck_assert_ptr_null(reg_get(r, ida));
  ck_assert_ptr_null(reg_get(r, idb));
}
END_TEST

/* Proves a loaded lock keeps its holder: a lock saved as held by session
 * 77 refuses a release by anyone else, and an rlock its recursion count;
 * a saved state that cannot be (a plain lock held twice) is refused. */
START_TEST(test_lock_owner) {
  vbuf b;
  vb_init(&b);
  size_t m = vb_list_begin(&b);
  const char *fields[] = {"true", "true", "77", "1"};
  for (int i = 0; i < 4; i++) {
    size_t item = vb_list_begin_item(&b);
    const char *s = fields[i];
    smtest_parse(&s, &b);
    vb_list_end_item(&b, item);
  }
  vb_list_end(&b, m);
  void *st = NULL;
  char e[256];
  ck_assert_int_eq(t_lock_type.load(reg, &t_lock_type, vb_span(&b), &st, e, sizeof e), WS_OK);
  sm_obj *lk;
  ck_assert_int_eq(reg_restore(reg, &t_lock_type, 5, "held", 0, st, &lk, e, sizeof e), WS_OK);
  CK_RES(lk, "locked", "", "true");
  CK_ERR(lk, "release", "", WS_NOT_OWNER, "held by another connection");
  ck_assert_int_eq(t_rlock_type.load(reg, &t_rlock_type, vb_span(&b), &st, e, sizeof e), WS_OK);
  t_rlock_type.destroy(reg, st);
  /* [true, true, 77, 2]: a plain lock is never held twice. */
  b.p[b.len - 1] = 4; /* zigzag 2 */
  ck_assert_int_eq(t_lock_type.load(reg, &t_lock_type, vb_span(&b), &st, e, sizeof e),
                   WS_VALUE_ERROR);
  ck_assert_msg(strstr(e, "held with count 2") != NULL, "%s", e);
  /* reg_restore refuses an id or a name taken, and an orphan. */
  ck_assert_int_eq(reg_restore(reg, &t_lock_type, 5, NULL, 1, NULL, NULL, e, sizeof e),
                   WS_VALUE_ERROR);
  ck_assert_int_eq(reg_restore(reg, &t_lock_type, 6, "held", 0, NULL, NULL, e, sizeof e),
                   WS_VALUE_ERROR);
  ck_assert_int_eq(reg_restore(reg, &t_lock_type, 6, NULL, 0, NULL, NULL, e, sizeof e),
                   WS_VALUE_ERROR);
  ck_assert_msg(strstr(e, "nothing holds it") != NULL, "%s", e);
  vb_free(&b);
}
END_TEST

/* Proves damage is refused with the file named and what is wrong: a
 * flipped byte anywhere, a truncation, a file too short to be one, and a
 * whole file of a format version this daemon does not know. */
START_TEST(test_damaged) {
  fill();
  write_at(reg, 3);
  const char *path = snap_file_at(3);
  size_t n;
  uint8_t *p = slurp(path, &n);
  char bad[256];
  snprintf(bad, sizeof bad, "%s", path);
  for (size_t at = 0; at < n; at += n / 7 + 1) {
    p[at] ^= 0x20;
    spill(bad, p, n);
    const char *e = load_error(bad);
    ck_assert_msg(strstr(e, "checksum") || strstr(e, "magic"), "byte %zu: %s", at, e);
    p[at] ^= 0x20;
  }
  spill(bad, p, n - 10);
  ck_assert_msg(strstr(load_error(bad), "checksum") != NULL, "truncated");
  spill(bad, p, 5);
  ck_assert_msg(strstr(load_error(bad), "truncated") != NULL, "too short");
  /* Version 2 with a good checksum. */
  p[8] = 2;
  uint32_t crc = crc32c(0, p, n - 4);
  for (int i = 0; i < 4; i++)
    p[n - 4 + i] = (uint8_t)(crc >> (8 * i));
  spill(bad, p, n);
  ck_assert_msg(strstr(load_error(bad), "format version 2") != NULL, "version");
  free(p);
}
END_TEST

/* Proves snap_newest takes the newest whole snapshot, skips a damaged
 * newer one (and stray files), reports none in an empty or missing
 * directory, refuses to pick when every snapshot is damaged; and that
 * snap_remove_older keeps only the one named. */
START_TEST(test_newest) {
  char path[256], e[256];
  uint64_t index = 0;
  ck_assert_int_eq(snap_newest(dir, path, sizeof path, &index, e, sizeof e), 0);
  ck_assert_int_eq(snap_newest("/nonexistent/smtest", path, sizeof path, &index, e, sizeof e), 0);
  fill();
  write_at(reg, 5);
  write_at(reg, 9);
  write_at(reg, 12);
  spill(smtest_fmt("%s/snapshot-%020d.snap.tmp", dir, 99), (const uint8_t *)"x", 1);
  spill(smtest_fmt("%s/snapshot-x.snap", dir), (const uint8_t *)"x", 1);
  ck_assert_int_eq(snap_newest(dir, path, sizeof path, &index, e, sizeof e), 1);
  ck_assert_uint_eq(index, 12);
  ck_assert_int_eq(truncate(snap_file_at(12), 100), 0);
  ck_assert_int_eq(snap_newest(dir, path, sizeof path, &index, e, sizeof e), 1);
  ck_assert_uint_eq(index, 9);
  ck_assert_str_eq(path, snap_file_at(9));
  snap_remove_older(dir, 9);
  ck_assert_int_eq(access(snap_file_at(5), F_OK), -1);
  ck_assert_int_eq(access(snap_file_at(9), F_OK), 0);
  ck_assert_int_eq(access(snap_file_at(12), F_OK), 0);
  ck_assert_int_eq(truncate(snap_file_at(9), 100), 0);
  ck_assert_int_eq(snap_newest(dir, path, sizeof path, &index, e, sizeof e), -1);
  ck_assert_msg(strstr(e, "none of its 2 snapshots") != NULL, "%s", e);
}
END_TEST

/* Proves snap_fork writes the registry as it was at the fork while the
 * parent goes on changing it, and snap_reap reports the child's end. */
START_TEST(test_fork) {
  sm_obj *d = smtest_make(&unit, "dict", "big", "");
  for (int i = 0; i < 20000; i++)
    CK_OK(d, "set", smtest_fmt("%d, 'v%d'", i, i));
  snap_meta meta = {.index = 4, .next_id = reg_next_id(reg)};
  char e[256];
  pid_t pid = snap_fork(reg, dir, &meta, write_extra, "sessions", e, sizeof e);
  ck_assert_msg(pid > 0, "%s", e);
  CK_OK(d, "clear", "");
  CK_OK(d, "set", "'after', 1");
  smtest_make(&unit, "value", "later", "1");
  int rc;
  for (int tries = 0; (rc = snap_reap(pid, e, sizeof e)) == 0 && tries < 3000; tries++)
    usleep(10000);
  ck_assert_msg(rc == 1, "%s", e);
  registry *r = load(snap_file_at(4), &meta);
  ck_assert_ptr_null(reg_get_named(r, "later"));
  sm_obj *ld = reg_get_named(r, "big");
  ck_assert_uint_eq(t_dict_type.size(ld->state), 20000);
  registry *was = reg;
  reg = r;
  CK_RES(ld, "get", "19999", "'v19999'");
  CK_RES(ld, "contains", "'after'", "false");
  reg = was;
}
END_TEST

/* Prints the time to write and to load a dict of many entries (checking
 * the load has them all); a measurement for the report, not a limit. */
START_TEST(test_bench) {
  long n = getenv("SMTEST_LONG") ? 1000000 : 100000;
  sm_obj *d = smtest_make(&unit, "dict", "big", "");
  htab *h = d->state;
  vbuf k, v;
  vb_init(&k);
  vb_init(&v);
  for (long i = 0; i < n; i++) { /* straight into the table: the bench is the snapshot */
    vb_reset(&k);
    vb_reset(&v);
    vb_int(&k, i);
    char s[32];
    int len = snprintf(s, sizeof s, "value-%ld", i);
    vb_str(&v, s, (size_t)len);
    ck_assert_int_eq(htab_put(h, vb_span(&k), sval_new(reg, vb_span(&v), 0), NULL), 1);
  }
  vb_free(&k);
  vb_free(&v);
  struct timespec t0, t1, t2;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  write_at(reg, 1);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  snap_meta meta;
  registry *r = load(snap_file_at(1), &meta);
  clock_gettime(CLOCK_MONOTONIC, &t2);
  ck_assert_uint_eq(t_dict_type.size(reg_get_named(r, "big")->state), (size_t)n);
  struct stat st;
  ck_assert_int_eq(stat(snap_file_at(1), &st), 0);
  printf("snapshot bench: %ld dict entries, %lld bytes: write %.3f s, load %.3f s\n", n,
         (long long)st.st_size,
         (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
         (double)(t2.tv_sec - t1.tv_sec) + (double)(t2.tv_nsec - t1.tv_nsec) / 1e9);
  fflush(stdout);
  /* The forked writer logs its private memory (what it costs beside the
   * parent) when it is done. */
  char e[256];
  snap_meta fm = {.index = 2, .next_id = reg_next_id(reg)};
  pid_t pid = snap_fork(reg, dir, &fm, write_extra, "sessions", e, sizeof e);
  ck_assert_msg(pid > 0, "%s", e);
  int rc;
  while ((rc = snap_reap(pid, e, sizeof e)) == 0)
    usleep(5000);
  ck_assert_msg(rc == 1, "%s", e);
  ck_assert_int_eq(stat(snap_file_at(2), &st), 0);
}
END_TEST

/* A saved state of [fields] (smtest_parse syntax, one value each). */
static void saved_state(vbuf *b, const char *const *fields, int n) {
  vb_init(b);
  size_t m = vb_list_begin(b);
  for (int i = 0; i < n; i++) {
    size_t item = vb_list_begin_item(b);
    const char *s = fields[i];
    smtest_parse(&s, b);
    vb_list_end_item(b, item);
  }
  vb_list_end(b, m);
}

/* Proves a holder's since (the listing's held_ms) loads back, and that
 * states saved before it was kept still load, with it unknown (0): a lock
 * of seven fields, a semaphore of six. */
START_TEST(test_held_since_saved) {
  char e[256];
  void *st = NULL;
  vbuf b;
  const char *lock8[] = {"true", "true", "77", "1", "3", "1", "false", "1700000000123"};
  saved_state(&b, lock8, 8);
  ck_assert_int_eq(t_lock_type.load(reg, &t_lock_type, vb_span(&b), &st, e, sizeof e), WS_OK);
  sm_obj *lo;
  ck_assert_int_eq(reg_restore(reg, &t_lock_type, 5, "since", 0, st, &lo, e, sizeof e), WS_OK);
  ck_assert_int_eq(t_lock_type.held_since(lo, 77), 1700000000123);
  ck_assert_int_eq(t_lock_type.held_since(lo, 78), 0);
  vb_free(&b);
  saved_state(&b, lock8, 7); /* before since was kept */
  ck_assert_int_eq(t_rlock_type.load(reg, &t_rlock_type, vb_span(&b), &st, e, sizeof e), WS_OK);
  ck_assert_int_eq(reg_restore(reg, &t_rlock_type, 6, "old", 0, st, &lo, e, sizeof e), WS_OK);
  ck_assert_int_eq(t_rlock_type.held_since(lo, 77), 0);
  vb_free(&b);
  const char *sem7[] = {"1", "2", "true", "1", "1", "false", "[77, 1700000000456]"};
  saved_state(&b, sem7, 7);
  ck_assert_int_eq(t_semaphore_type.load(reg, &t_semaphore_type, vb_span(&b), &st, e, sizeof e),
                   WS_OK);
  ck_assert_int_eq(reg_restore(reg, &t_semaphore_type, 7, "sem", 0, st, &lo, e, sizeof e), WS_OK);
  ck_assert_int_eq(t_semaphore_type.held_since(lo, 77), 1700000000456);
  vb_free(&b);
  saved_state(&b, sem7, 6); /* before holds were kept */
  ck_assert_int_eq(t_semaphore_type.load(reg, &t_semaphore_type, vb_span(&b), &st, e, sizeof e),
                   WS_OK);
  ck_assert_int_eq(reg_restore(reg, &t_semaphore_type, 8, "old-sem", 0, st, &lo, e, sizeof e),
                   WS_OK);
  ck_assert_int_eq(t_semaphore_type.held_since(lo, 77), 0);
  vb_free(&b);
  const char *sem_bad[] = {"1", "2", "true", "1", "1", "false", "[77]"}; /* a row cut short */
  saved_state(&b, sem_bad, 7);
  ck_assert_int_eq(t_semaphore_type.load(reg, &t_semaphore_type, vb_span(&b), &st, e, sizeof e),
                   WS_VALUE_ERROR);
  vb_free(&b);
}
END_TEST

/* Proves the CRC32C is the standard one (the check value of "123456789")
 * and extends in pieces. */
START_TEST(test_crc32c) {
  ck_assert_uint_eq(crc32c(0, "123456789", 9), 0xE3069283u);
  ck_assert_uint_eq(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
  ck_assert_uint_eq(crc32c(0, "", 0), 0);
}
END_TEST

Suite *snapshot_suite(void) {
  Suite *s = suite_create("snapshot");
  const smtest_group groups[] = {
      {"round_trip", {test_round_trip, test_cycle, test_lock_owner, test_held_since_saved}},
      {"files", {test_damaged, test_newest, test_crc32c}},
      {"fork", {test_fork}},
      {"bench", {test_bench}},
  };
  smtest_add_groups(s, groups, sizeof groups / sizeof groups[0], setup, teardown);
  return s;
}
