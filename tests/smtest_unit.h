/* SPDX-License-Identifier: MIT */
/* smtest_unit.h - plumbing for the suites that call the object types
 * (server/t_*.c) directly on a registry, without sockets or a daemon
 * (check_types.c, check_blocking_types.c). It owns:
 *
 *  - a small text notation for packed values, so a check reads like the
 *    Python it mirrors: nil true false 12 -3 1.5 nan inf -inf 'str' b'bytes'
 *    [v, ...] {k: v, ...} @id:type. Arguments are written comma-separated
 *    ("1, 'a', [1, 2], {'k': 3}, @5:dict"); smtest_pack_args packs them with
 *    the vb_* writer and validates them with vw_scan, as dispatch does;
 *  - the printer that renders packed values (a call's result) back into
 *    that notation (smtest_show_value, smtest_res);
 *  - the calls: smtest_make_rc creates an object as the manager does,
 *    smtest_call runs type_method(...)->fn on an object as dispatch does
 *    (blocked.c's serve pass after it included), and the SMTEST_CK_*
 *    macros check a call's status and result;
 *  - the suite's test cases, each test on a fresh registry
 *    (smtest_add_groups).
 *
 * A suite keeps its registry, last result and last error text in statics of
 * its own (its tests read them) and binds them once in an smtest_unit. Text
 * that does not parse, or a result that is not canonical, fails the running
 * Check test. The packed arguments and the printed text live in
 * smtest_unit.c: one test at a time. */
#ifndef SMTEST_UNIT_H
#define SMTEST_UNIT_H

#include "server/registry.h"
#include "server/types.h"

#include <check.h>
#include <stdint.h>
#include <string.h>

#define SMTEST_MAX_ARGS 8  /* arguments a call can take */
#define SMTEST_ERR_LEN 256 /* bytes of an smtest_unit's err */
#define SMTEST_NO_TIMEOUT (-1)

/* A suite's state, bound once: the calls run against *reg, and leave their
 * result in *result and their error text in err. */
typedef struct smtest_unit {
  registry **reg; /* made by smtest_unit_setup, freed by smtest_unit_teardown */
  vbuf *result;   /* the last call's result */
  char *err;      /* the last call's error text, SMTEST_ERR_LEN bytes */
  /* The timeout of the SMTEST_CK_* calls: 0 (do not block) or
   * SMTEST_NO_TIMEOUT. */
  int64_t timeout_ms;
} smtest_unit;

/* A fresh registry and empty buffers: a Check fixture's setup. */
void smtest_unit_setup(const smtest_unit *u);
/* Frees the registry (whatever a test left in it, cross references and
 * parked calls included) and the buffers: the fixture's teardown. */
void smtest_unit_teardown(const smtest_unit *u);

/* printf into one of a few rotating buffers, so calls can nest. Borrowed:
 * valid for the next 3 calls. */
__attribute__((format(printf, 1, 2))) const char *smtest_fmt(const char *f, ...);
/* The notation of a ref to o (@id:type); borrowed as smtest_fmt's. */
const char *smtest_ref(const sm_obj *o);

/* Parses one value of the notation at *s, appends it to b and moves *s
 * past it. */
void smtest_parse(const char **s, vbuf *b);
/* Packs the comma-separated values of text into buffers of this file and
 * validates them; fills spans and their vw_scan flags (SMTEST_MAX_ARGS
 * each) and returns how many. Valid until the next call. */
size_t smtest_pack_args(const char *text, sm_span *spans, unsigned *flags);

/* v in the notation (2.0 stays apart from 2); fails the test if v is not
 * canonical. Valid until the next smtest_show_value or smtest_res. */
const char *smtest_show_value(sm_span v);
/* The last result of u in the notation. */
const char *smtest_res(const smtest_unit *u);

/* Calls method on o with the arguments in the notation and a timeout
 * (SMTEST_NO_TIMEOUT: none; 0: do not block), holding o as dispatch does.
 * Returns the status, CALL_PARKED included; the result goes to u->result,
 * the error text to u->err (a failure without one fails the test). */
int smtest_call(const smtest_unit *u, sm_obj *o, const char *method, const char *argtext,
                int64_t timeout_ms);

/* Creates an object of type (named, or anonymous when name is NULL) from
 * the arguments in the notation, as the manager does; returns the status,
 * the error text in u->err. */
int smtest_make_rc(const smtest_unit *u, const char *type, const char *name, const char *argtext,
                   sm_obj **o);
/* smtest_make_rc that must succeed; returns the object. */
sm_obj *smtest_make(const smtest_unit *u, const char *type, const char *name, const char *argtext);

/* One test case of a suite: its name and up to SMTEST_GROUP_TESTS tests
 * (the unused slots NULL). */
#define SMTEST_GROUP_TESTS 16
typedef struct smtest_group {
  const char *name;
  const TTest *tests[SMTEST_GROUP_TESTS];
} smtest_group;

/* Adds a test case to s for each of the n groups, with the checked fixture
 * setup/teardown (each test gets a fresh registry) and a 60 s timeout. */
void smtest_add_groups(Suite *s, const smtest_group *groups, size_t n, SFun setup, SFun teardown);

/* The call (smtest_call with u's timeout) succeeds and answers want. */
#define SMTEST_CK_RES(u, o, method, a, want)                                                       \
  do {                                                                                             \
    ck_assert_int_eq(smtest_call(u, o, method, a, (u)->timeout_ms), WS_OK);                        \
    ck_assert_str_eq(smtest_res(u), want);                                                         \
  } while (0)

/* The call succeeds. */
#define SMTEST_CK_OK(u, o, method, a)                                                              \
  ck_assert_int_eq(smtest_call(u, o, method, a, (u)->timeout_ms), WS_OK)

/* The call fails with status and an error text containing text. */
#define SMTEST_CK_ERR(u, o, method, a, status, text)                                               \
  do {                                                                                             \
    ck_assert_int_eq(smtest_call(u, o, method, a, (u)->timeout_ms), status);                       \
    ck_assert_msg(strstr((u)->err, text) != NULL, "error '%s' lacks '%s'", (u)->err, text);        \
  } while (0)

#endif
