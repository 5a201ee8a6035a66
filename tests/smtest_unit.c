/* SPDX-License-Identifier: MIT */
/* smtest_unit.c - the value notation, its printer and direct method calls
 * for the suites that run the object types without a daemon (see
 * smtest_unit.h). */
#include "smtest_unit.h"

#include "server/blocked.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

_Static_assert(SMTEST_ERR_LEN == sizeof((call *)0)->err, "SMTEST_ERR_LEN is call.err's size");

static vbuf args[SMTEST_MAX_ARGS]; /* the last call's packed arguments */
static char shown[8192];           /* the last value printed */
static size_t shown_len;

void smtest_unit_setup(const smtest_unit *u) {
  *u->reg = reg_new();
  ck_assert_ptr_nonnull(*u->reg);
  vb_init(u->result);
  for (size_t i = 0; i < SMTEST_MAX_ARGS; i++)
    vb_init(&args[i]);
}

void smtest_unit_teardown(const smtest_unit *u) {
  reg_free(*u->reg); /* frees whatever each test left, cross references included */
  vb_free(u->result);
  for (size_t i = 0; i < SMTEST_MAX_ARGS; i++)
    vb_free(&args[i]);
}

const char *smtest_fmt(const char *f, ...) {
  static char bufs[4][512];
  static unsigned next;
  char *b = bufs[next++ % 4];
  va_list ap;
  va_start(ap, f);
  vsnprintf(b, sizeof bufs[0], f, ap);
  va_end(ap);
  return b;
}

const char *smtest_ref(const sm_obj *o) {
  return smtest_fmt("@%llu:%s", (unsigned long long)o->id, o->type->name);
}

static void skip_ws(const char **s) {
  while (**s == ' ')
    (*s)++;
}

void smtest_parse(const char **s, vbuf *b) {
  skip_ws(s);
  const char *p = *s;
  if (strncmp(p, "nil", 3) == 0) {
    *s += 3; /* nil is the empty value */
  } else if (strncmp(p, "nan", 3) == 0 || strncmp(p, "inf", 3) == 0 || strncmp(p, "-inf", 4) == 0) {
    vb_double(b, *p == 'n' ? NAN : *p == '-' ? -INFINITY : INFINITY);
    *s += *p == '-' ? 4 : 3;
  } else if (strncmp(p, "true", 4) == 0 || strncmp(p, "false", 5) == 0) {
    vb_bool(b, *p == 't');
    *s += *p == 't' ? 4 : 5;
  } else if (*p == '\'' || (p[0] == 'b' && p[1] == '\'')) {
    bool bytes = *p == 'b';
    p += bytes ? 2 : 1;
    const char *end = strchr(p, '\'');
    ck_assert_ptr_nonnull(end);
    if (bytes)
      vb_bytes(b, p, (size_t)(end - p));
    else
      vb_str(b, p, (size_t)(end - p));
    *s = end + 1;
  } else if (*p == '[' || *p == '{') {
    bool map = *p == '{';
    size_t m = map ? vb_map_begin(b) : vb_list_begin(b);
    for (++*s, skip_ws(s); **s != (map ? '}' : ']'); skip_ws(s)) {
      ck_assert_msg(**s != '\0', "unterminated container");
      if (map) {
        vbuf k, v;
        vb_init(&k);
        vb_init(&v);
        smtest_parse(s, &k);
        skip_ws(s);
        ck_assert_int_eq(**s, ':');
        ++*s;
        smtest_parse(s, &v);
        vb_map_entry(b, vb_span(&k), vb_span(&v));
        vb_free(&k);
        vb_free(&v);
      } else {
        size_t item = vb_list_begin_item(b);
        smtest_parse(s, b);
        vb_list_end_item(b, item);
      }
      skip_ws(s);
      if (**s == ',') ++*s;
    }
    ++*s;
    if (map)
      vb_map_end(b, m);
    else
      vb_list_end(b, m);
  } else if (*p == '@') {
    char *end, type[32];
    size_t n = 0;
    unsigned long long id = strtoull(p + 1, &end, 10);
    ck_assert_int_eq(*end, ':');
    for (end++; (isalpha((unsigned char)*end) || *end == '_') && n + 1 < sizeof type; end++)
      type[n++] = *end;
    type[n] = '\0';
    vb_ref(b, id, type);
    *s = end;
  } else {
    size_t n = strspn(p, "+-0123456789.eE");
    ck_assert_msg(n > 0, "cannot parse '%s'", p);
    char *end;
    if (memchr(p, '.', n) || memchr(p, 'e', n) || memchr(p, 'E', n))
      vb_double(b, strtod(p, &end));
    else
      vb_int(b, strtoll(p, &end, 10));
    *s = end;
  }
}

size_t smtest_pack_args(const char *text, sm_span *spans, unsigned *flags) {
  size_t n = 0;
  const char *s = text;
  for (skip_ws(&s); *s; skip_ws(&s)) {
    ck_assert_uint_lt(n, SMTEST_MAX_ARGS);
    vb_reset(&args[n]);
    smtest_parse(&s, &args[n]);
    ck_assert(!args[n].failed);
    spans[n] = vb_span(&args[n]);
    flags[n] = 0;
    ck_assert_int_eq(vw_scan(spans[n], VW_DEPTH_DEFAULT, NULL, &flags[n]), VW_OK);
    n++;
    skip_ws(&s);
    if (*s == ',') s++;
  }
  return n;
}

__attribute__((format(printf, 1, 2))) static void emit(const char *f, ...) {
  va_list ap;
  va_start(ap, f);
  int n = vsnprintf(shown + shown_len, sizeof shown - shown_len, f, ap);
  va_end(ap);
  if (n > 0) shown_len += (size_t)n;
  ck_assert_uint_lt(shown_len, sizeof shown);
}

/* Appends v in the notation to shown. */
static void show(sm_span v) {
  vinfo vi;
  ck_assert_int_eq(vw_scan(v, VW_DEPTH_DEFAULT, &vi, NULL), VW_OK);
  vw_iter it;
  sm_span a, b;
  const char *sep = "";
  switch (vi.kind) {
  case VK_NIL: emit("nil"); break;
  case VK_BOOL: emit("%s", vi.b ? "true" : "false"); break;
  case VK_INT: emit("%lld", (long long)vi.i); break;
  case VK_DOUBLE: {
    char d[64];
    snprintf(d, sizeof d, "%g", vi.d);
    emit("%s%s", d, strpbrk(d, ".en") ? "" : ".0"); /* 2.0 stays apart from 2 */
    break;
  }
  case VK_STR: emit("'%.*s'", (int)vi.data.n, (const char *)vi.data.p); break;
  case VK_BYTES: emit("b'%.*s'", (int)vi.data.n, (const char *)vi.data.p); break;
  case VK_LIST:
    emit("[");
    for (vw_iter_init(&it, vi.data); vw_list_next(&it, &a); sep = ",") {
      emit("%s", sep);
      show(a);
    }
    emit("]");
    break;
  case VK_MAP:
    emit("{");
    for (vw_iter_init(&it, vi.data); vw_map_next(&it, &a, &b); sep = ",") {
      emit("%s", sep);
      show(a);
      emit(":");
      show(b);
    }
    emit("}");
    break;
  case VK_REF:
    emit("@%llu:%.*s", (unsigned long long)vi.ref_id, (int)vi.data.n, (const char *)vi.data.p);
    break;
  default: emit("?"); break;
  }
}

const char *smtest_show_value(sm_span v) {
  shown_len = 0;
  shown[0] = '\0';
  show(v);
  return shown;
}

const char *smtest_res(const smtest_unit *u) { return smtest_show_value(vb_span(u->result)); }

int smtest_call(const smtest_unit *u, sm_obj *o, const char *method, const char *argtext,
                int64_t timeout_ms) {
  sm_span spans[SMTEST_MAX_ARGS];
  unsigned flags[SMTEST_MAX_ARGS];
  size_t n = smtest_pack_args(argtext, spans, flags);
  const method_def *m = type_method(o->type, method);
  ck_assert_msg(m != NULL, "no method %s on %s", method, o->type->name);
  vb_reset(u->result);
  call c = {.reg = *u->reg,
            .obj = o,
            .method = m, /* as dispatch sets it: custom types route by it */
            .args = spans,
            .arg_flags = flags,
            .nargs = n,
            .has_timeout = timeout_ms >= 0,
            .timeout_ms = timeout_ms,
            .out = u->result};
  /* The count is checked first, each call holds the object and is
   * followed by the serve pass, as dispatch does. */
  int rc = call_arity(&c, m);
  if (rc != WS_OK) {
    memcpy(u->err, c.err, SMTEST_ERR_LEN);
    return rc;
  }
  reg_incref(*u->reg, o);
  rc = m->fn(&c);
  reg_decref(*u->reg, o);
  blk_serve(*u->reg);
  memcpy(u->err, c.err, SMTEST_ERR_LEN);
  ck_assert(!u->result->failed);
  if (rc != WS_OK && rc != CALL_PARKED)
    ck_assert_msg(u->err[0] != '\0', "%s: status %d without an error text", method, rc);
  return rc;
}

int smtest_make_rc(const smtest_unit *u, const char *type, const char *name, const char *argtext,
                   sm_obj **o) {
  sm_span spans[SMTEST_MAX_ARGS];
  unsigned flags[SMTEST_MAX_ARGS];
  size_t n = smtest_pack_args(argtext, spans, flags);
  const obj_type *t = reg_type(*u->reg, type);
  ck_assert_ptr_nonnull(t);
  vb_reset(u->result);
  call c = {.reg = *u->reg, .args = spans, .arg_flags = flags, .nargs = n, .out = u->result};
  bool created;
  int rc = reg_create(*u->reg, t, name, &c, o, &created);
  memcpy(u->err, c.err, SMTEST_ERR_LEN);
  if (rc == WS_OK) ck_assert(created || name);
  return rc;
}

sm_obj *smtest_make(const smtest_unit *u, const char *type, const char *name, const char *argtext) {
  sm_obj *o = NULL;
  ck_assert_int_eq(smtest_make_rc(u, type, name, argtext, &o), WS_OK);
  ck_assert_ptr_nonnull(o);
  return o;
}

void smtest_add_groups(Suite *s, const smtest_group *groups, size_t n, SFun setup, SFun teardown) {
  for (size_t g = 0; g < n; g++) {
    TCase *tc = tcase_create(groups[g].name);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    for (size_t i = 0; i < SMTEST_GROUP_TESTS && groups[g].tests[i]; i++)
      tcase_add_test(tc, groups[g].tests[i]);
    suite_add_tcase(s, tc);
  }
}
