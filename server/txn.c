/* SPDX-License-Identifier: MIT */
/* txn.c - the manager's "txn" method: conditions on several objects, then
 * a list of operations or the else-list, in one turn of the loop (txn.h).
 *
 * Arguments: [conditions, then_ops, else_ops?], each a list.
 *   A condition is a list naming its kind first:
 *     ["exists", obj, key]          dict key / namespace attribute present
 *     ["absent", obj, key]          the same, absent
 *     ["equals", obj, key, v]       ["compare", obj, key, "==", v]
 *     ["compare", obj, key, op, v]  a dict key's or namespace attribute's
 *                                   value (key nil: a value object's) op v,
 *                                   op one of == != < <= > >=
 *     ["size", obj, op, n]          len of a dict, list or namespace, qsize
 *                                   of a queue
 *     ["held", lock, token]         the caller's session holds the lock
 *                                   (or rlock), with fencing token token
 *                                   (0: any token)
 *     ["is_set", event]
 *     ["rev", obj, op, n]           the revision of a watched type (watch.h)
 *   An operation is [obj, method, [args...]?]: exactly the method as a call
 *   on obj would run it, with a zero timeout (never waits).
 * obj is a ref or an object id. Allowed: every method of dict, list,
 * value, namespace, queue (join excluded: it waits) and event (wait
 * excluded), watch and rev apart, and release of a lock or rlock the
 * caller holds.
 *
 * Order. Every condition and every operation of both lists is checked
 * first (shape, object alive, allowed type and method); then the
 * conditions are evaluated; then, for the branch chosen, a lock released
 * must be held by the caller and the bytes that growing operations store
 * must fit the memory limit. Any of these failing fails the whole call,
 * with nothing applied. Only then do the operations run, in order, all or
 * nothing: an operation that fails on the state it finds (pop of a missing
 * key, a get on an empty queue, a wrong argument count) fails the whole
 * call with its status, and the operations before it are rolled back
 * (run_ops, txn_undo.h), so nothing is applied and nothing logged.
 *
 * Conditions and operations run the types' own methods (type_method), so
 * each one means exactly what the same call means; nothing here knows a
 * type's state. Each mutated object is measured again (reg_measure) and
 * gets its revision committed (wch_commit) as dispatch does for a call. */
#include "txn.h"

#include "../proto/vequal.h"
#include "blocked.h"
#include "expire.h"
#include "memory.h"
#include "registry.h"
#include "sval.h"
#include "t_lock.h"
#include "txn_undo.h"
#include "types.h"
#include "watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TXN_LOCAL_ARGS 8

/* One operation, checked: the object, the method, its packed arguments
 * (the body of the args list, empty for none). */
typedef struct txn_op {
  sm_obj *obj;
  const method_def *m;
  sm_span args; /* list body */
} txn_op;

/* The comparison operators, in the order of their names. */
enum { CMP_EQ, CMP_NE, CMP_LT, CMP_LE, CMP_GT, CMP_GE };
static const char *const cmp_names[] = {"==", "!=", "<", "<=", ">", ">="};

/* True when span s holds exactly the C string name. */
static bool span_is(sm_span s, const char *name) {
  size_t n = strlen(name);
  return s.n == n && memcmp(s.p, name, n) == 0;
}

/* The object item v names (a ref or an id): live, or c->err filled. */
static int object_of(call *c, sm_span v, const char *where, sm_obj **out) {
  vinfo vi;
  if (vw_peek(v, &vi) != VW_OK || (vi.kind != VK_REF && vi.kind != VK_INT))
    return call_fail(c, WS_TYPE_ERROR, "%s: the object must be a ref or an object id", where);
  uint64_t id = vi.kind == VK_REF ? vi.ref_id : (uint64_t)vi.i;
  *out = vi.kind == VK_INT && vi.i <= 0 ? NULL : reg_get(c->reg, id);
  if (*out) return WS_OK;
  char why[200];
  int rc = reg_missing(c->reg, id, why, sizeof why);
  return call_fail(c, rc, "%s: %s", where, why);
}

/* Runs method m of o as a call of the txn's caller would, without waiting,
 * with args (a list body); the result (or nothing) goes to out, the error
 * text to err. Returns the method's status. A mutating method's object is
 * measured and, when it answered OK, its revision committed. */
static int invoke(call *c, sm_obj *o, const method_def *m, sm_span args, vbuf *out, char *err,
                  size_t errlen) {
  sm_span local_args[TXN_LOCAL_ARGS];
  unsigned local_flags[TXN_LOCAL_ARGS];
  sm_span *a = local_args;
  unsigned *f = local_flags;
  size_t n = 0;
  vw_iter it;
  sm_span item;
  vw_iter_init(&it, args);
  while (vw_list_next(&it, &item))
    n++;
  if (n > TXN_LOCAL_ARGS && (!(a = malloc(n * sizeof *a)) || !(f = malloc(n * sizeof *f)))) {
    if (a != local_args) free(a);
    snprintf(err, errlen, "out of memory");
    return WS_INTERNAL;
  }
  vw_iter_init(&it, args);
  for (size_t i = 0; vw_list_next(&it, &a[i]); i++) {
    f[i] = 0;
    vw_scan(a[i], VW_DEPTH_MAX, NULL, &f[i]); /* checked whole with the txn's arguments */
  }
  call sub = {
      .reg = c->reg,
      .obj = o,
      .method = m,
      .conn = c->conn,
      .session = c->session,
      .args = a,
      .arg_flags = f,
      .nargs = n,
      .has_timeout = true,
      .timeout_ms = 0, /* never parks */
      .out = out,
  };
  vb_reset(out);
  reg_incref(c->reg, o);
  int rc = call_arity(&sub, m); /* as dispatch checks a call's count */
  if (rc == WS_OK) rc = m->fn(&sub);
  if (rc == CALL_PARKED) /* cannot happen with a zero timeout: keep the promise anyway */
    rc = call_fail(&sub, WS_INTERNAL, "%s.%s would wait inside a transaction", o->type->name,
                   m->name);
  if (m->flags & METHOD_MUTATES) {
    reg_measure(c->reg, o);
    exp_update(c->reg, o);
    if (rc == WS_OK) wch_commit(c->reg, o);
  }
  reg_unpin(c->reg, o);
  if (a != local_args) free(a);
  if (f != local_flags) free(f);
  snprintf(err, errlen, "%s", rc == WS_OK ? "" : sub.err);
  return rc;
}

/* Runs the read method name on o with the single argument arg (none when
 * arg.n is 0) into out; the condition's check failed when it returns
 * neither WS_OK nor WS_NOT_FOUND (c->err filled). */
static int read_of(call *c, sm_obj *o, const char *name, sm_span arg, vbuf *out,
                   const char *where) {
  const method_def *m = type_method(o->type, name);
  if (!m) return call_fail(c, WS_TYPE_ERROR, "%s: a %s has no %s", where, o->type->name, name);
  vbuf one;
  vb_init(&one);
  size_t l = vb_list_begin(&one);
  if (arg.n) vb_list_item(&one, arg);
  vb_list_end(&one, l);
  vinfo body;
  if (one.failed || vw_peek(vb_span(&one), &body) != VW_OK) {
    vb_free(&one);
    return call_fail(c, WS_INTERNAL, "out of memory");
  }
  char why[sizeof c->err];
  int rc = invoke(c, o, m, body.data, out, why, sizeof why);
  vb_free(&one);
  if (rc != WS_OK && rc != WS_NOT_FOUND) return call_fail(c, rc, "%s: %s", where, why);
  return rc;
}

/* The operator named by item v (c->err filled when it is none). */
static int cmp_op(call *c, sm_span v, const char *where, int *op) {
  vinfo vi;
  if (vw_peek(v, &vi) == VW_OK && vi.kind == VK_STR)
    for (int i = 0; i < (int)(sizeof cmp_names / sizeof cmp_names[0]); i++)
      if (span_is(vi.data, cmp_names[i])) {
        *op = i;
        return WS_OK;
      }
  return call_fail(c, WS_VALUE_ERROR, "%s: the operator must be one of == != < <= > >=", where);
}

/* got op want: equality by the rules of dict keys, order only between
 * values Python orders (numbers, strings, bytes); an unordered pair makes
 * every ordering false and != true. */
static bool cmp_holds(sm_span got, int op, sm_span want) {
  if (op == CMP_EQ) return veq_equal(got, want);
  if (op == CMP_NE) return !veq_equal(got, want);
  vinfo a, b;
  bool comparable = false;
  if (vw_peek(got, &a) != VW_OK || vw_peek(want, &b) != VW_OK) return false;
  int r = veq_compare(&a, &b, &comparable);
  if (!comparable) return false;
  switch (op) {
  case CMP_LT: return r < 0;
  case CMP_LE: return r <= 0;
  case CMP_GT: return r > 0;
  default: return r >= 0;
  }
}

static bool int_holds(int64_t got, int op, int64_t want) {
  switch (op) {
  case CMP_EQ: return got == want;
  case CMP_NE: return got != want;
  case CMP_LT: return got < want;
  case CMP_LE: return got <= want;
  case CMP_GT: return got > want;
  default: return got >= want;
  }
}

/* Reads the fields of a condition list into f[0..max) ; *n their count. */
static size_t fields(sm_span body, sm_span *f, size_t max) {
  vw_iter it;
  size_t n = 0;
  sm_span item;
  vw_iter_init(&it, body);
  while (vw_list_next(&it, &item)) {
    if (n < max) f[n] = item;
    n++;
  }
  return n;
}

static bool is_type(const sm_obj *o, const obj_type *t) { return o->type == t; }

/* Whether key conditions apply to o: a dict or a namespace. */
static bool keyed(const sm_obj *o) {
  return is_type(o, &t_dict_type) || is_type(o, &t_namespace_type);
}

/* Checks condition i (the list body cond) and, when eval, evaluates it
 * into *holds. Returns WS_OK, or the status that fails the txn. */
static int condition(call *c, size_t i, sm_span cond, bool eval, bool *holds, vbuf *tmp) {
  char where[48];
  snprintf(where, sizeof where, "condition %zu", i + 1);
  vinfo ci;
  if (vw_peek(cond, &ci) != VW_OK || ci.kind != VK_LIST)
    return call_fail(c, WS_TYPE_ERROR, "%s must be a list [kind, object, ...]", where);
  sm_span f[6];
  size_t n = fields(ci.data, f, 6);
  vinfo kind;
  if (n < 2 || vw_peek(f[0], &kind) != VW_OK || kind.kind != VK_STR)
    return call_fail(c, WS_TYPE_ERROR, "%s must be a list [kind, object, ...]", where);
  sm_obj *o;
  int rc = object_of(c, f[1], where, &o);
  if (rc != WS_OK) return rc;
  vinfo vi;
  int op = CMP_EQ;
  if (span_is(kind.data, "exists") || span_is(kind.data, "absent")) {
    if (n != 3) return call_fail(c, WS_VALUE_ERROR, "%s: expected [kind, object, key]", where);
    if (!keyed(o)) return call_fail(c, WS_TYPE_ERROR, "%s: a %s has no keys", where, o->type->name);
    if (!eval) return WS_OK;
    rc = read_of(c, o, "get", f[2], tmp, where);
    if (rc != WS_OK && rc != WS_NOT_FOUND) return rc;
    *holds = (rc == WS_OK) == span_is(kind.data, "exists");
    return WS_OK;
  }
  if (span_is(kind.data, "equals") || span_is(kind.data, "compare")) {
    bool eq = span_is(kind.data, "equals");
    if (n != (eq ? 4u : 5u))
      return call_fail(c, WS_VALUE_ERROR, "%s: expected [%s]", where,
                       eq ? "\"equals\", object, key, value"
                          : "\"compare\", object, key, operator, value");
    if (!eq && (rc = cmp_op(c, f[3], where, &op)) != WS_OK) return rc;
    vw_peek(f[2], &vi);
    bool whole = vi.kind == VK_NIL && is_type(o, &t_value_type);
    if (!whole && !keyed(o))
      return call_fail(c, WS_TYPE_ERROR,
                       "%s: compares a dict key, a namespace attribute or (key nil) a value, not "
                       "a %s",
                       where, o->type->name);
    if (!eval) return WS_OK;
    rc = read_of(c, o, "get", whole ? (sm_span){0} : f[2], tmp, where);
    if (rc != WS_OK && rc != WS_NOT_FOUND) return rc;
    /* A missing key makes every comparison false: "absent" tests for it. */
    *holds = rc == WS_OK && cmp_holds(vb_span(tmp), op, f[eq ? 3 : 4]);
    return WS_OK;
  }
  if (span_is(kind.data, "size") || span_is(kind.data, "rev")) {
    bool size = span_is(kind.data, "size");
    if (n != 4)
      return call_fail(c, WS_VALUE_ERROR, "%s: expected [\"%s\", object, operator, n]", where,
                       size ? "size" : "rev");
    if ((rc = cmp_op(c, f[2], where, &op)) != WS_OK) return rc;
    if (vw_peek(f[3], &vi) != VW_OK || vi.kind != VK_INT)
      return call_fail(c, WS_TYPE_ERROR, "%s: n must be an int", where);
    const char *method = is_type(o, &t_queue_type) ? "qsize" : "len";
    if (size ? !(keyed(o) || is_type(o, &t_list_type) || is_type(o, &t_queue_type))
             : !wch_watchable(o))
      return call_fail(c, WS_TYPE_ERROR, "%s: a %s has no %s", where, o->type->name,
                       size ? "size" : "revision");
    if (!eval) return WS_OK;
    int64_t got = (int64_t)wch_rev(o);
    if (size) {
      vinfo r;
      rc = read_of(c, o, method, (sm_span){0}, tmp, where);
      if (rc != WS_OK || vw_peek(vb_span(tmp), &r) != VW_OK || r.kind != VK_INT)
        return call_fail(c, WS_INTERNAL, "%s: %s gave no int", where, method);
      got = r.i;
    }
    *holds = int_holds(got, op, vi.i);
    return WS_OK;
  }
  if (span_is(kind.data, "held")) {
    if (n != 3 || vw_peek(f[2], &vi) != VW_OK || vi.kind != VK_INT || vi.i < 0)
      return call_fail(c, WS_VALUE_ERROR, "%s: expected [\"held\", lock, token >= 0]", where);
    if (!lk_is_lock(o))
      return call_fail(c, WS_TYPE_ERROR, "%s: a %s is not a lock", where, o->type->name);
    if (eval) *holds = lk_held_by(o, c->session) && (vi.i == 0 || lk_token(o) == (uint64_t)vi.i);
    return WS_OK;
  }
  if (span_is(kind.data, "is_set")) {
    if (n != 2) return call_fail(c, WS_VALUE_ERROR, "%s: expected [\"is_set\", event]", where);
    if (!is_type(o, &t_event_type))
      return call_fail(c, WS_TYPE_ERROR, "%s: a %s is not an event", where, o->type->name);
    if (!eval) return WS_OK;
    rc = read_of(c, o, "is_set", (sm_span){0}, tmp, where);
    if (rc != WS_OK || vw_peek(vb_span(tmp), &vi) != VW_OK || vi.kind != VK_BOOL)
      return call_fail(c, WS_INTERNAL, "%s: is_set gave no bool", where);
    *holds = vi.b;
    return WS_OK;
  }
  return call_fail(c, WS_VALUE_ERROR,
                   "%s: unknown kind '%.*s' (exists, absent, equals, compare, size, held, "
                   "is_set, rev)",
                   where, (int)kind.data.n, (const char *)kind.data.p);
}

/* Checks operation i of list what (the list body op) into *out. */
static int check_op(call *c, const char *what, size_t i, sm_span op, txn_op *out) {
  char where[48];
  snprintf(where, sizeof where, "%s operation %zu", what, i + 1);
  vinfo oi, mi, ai = {.kind = VK_LIST};
  sm_span f[3];
  size_t n = 0;
  if (vw_peek(op, &oi) == VW_OK && oi.kind == VK_LIST) n = fields(oi.data, f, 3);
  if (n < 2 || n > 3 || vw_peek(f[1], &mi) != VW_OK || mi.kind != VK_STR ||
      (n == 3 && (vw_peek(f[2], &ai) != VW_OK || ai.kind != VK_LIST)))
    return call_fail(c, WS_TYPE_ERROR, "%s must be a list [object, method, [args...]]", where);
  int rc = object_of(c, f[0], where, &out->obj);
  if (rc != WS_OK) return rc;
  const obj_type *t = out->obj->type;
  char name[WIRE_METHOD_MAX + 1];
  if (mi.data.n == 0 || mi.data.n > WIRE_METHOD_MAX)
    return call_fail(c, WS_VALUE_ERROR, "%s: no such method", where);
  memcpy(name, mi.data.p, mi.data.n);
  name[mi.data.n] = '\0';
  bool data = keyed(out->obj) || is_type(out->obj, &t_list_type) ||
              is_type(out->obj, &t_value_type) || is_type(out->obj, &t_queue_type) ||
              is_type(out->obj, &t_event_type);
  if (!data && !(lk_is_lock(out->obj) && strcmp(name, "release") == 0))
    return call_fail(c, WS_TYPE_ERROR,
                     "%s: %s.%s cannot run in a transaction (dict, list, value, namespace, "
                     "queue and event methods, and a lock's release, can)",
                     where, t->name, name);
  out->m = type_method(t, name);
  if (!out->m || (out->m->flags & METHOD_INTERNAL))
    return call_fail(c, WS_TYPE_ERROR, "%s: %s has no method '%s'", where, t->name, name);
  if (strcmp(name, "join") == 0 || strcmp(name, "wait") == 0 || strcmp(name, "watch") == 0)
    return call_fail(c, WS_TYPE_ERROR, "%s: %s.%s waits, which a transaction never does", where,
                     t->name, name);
  /* rev starts keeping the object's changes, a record of its own that
   * would land before the transaction's: the "rev" condition reads it. */
  if (strcmp(name, "rev") == 0)
    return call_fail(c, WS_TYPE_ERROR,
                     "%s: %s.rev cannot run in a transaction (use a rev condition)", where,
                     t->name);
  out->args = n == 3 ? ai.data : (sm_span){0};
  return WS_OK;
}

/* Checks every operation of list argument idx (absent: none) into *ops. */
static int check_ops(call *c, size_t idx, const char *what, txn_op **ops, size_t *nops) {
  *ops = NULL;
  *nops = 0;
  if (idx >= c->nargs) return WS_OK;
  vinfo li;
  call_arg(c, idx, &li);
  if (li.kind == VK_NIL) return WS_OK;
  if (li.kind != VK_LIST) return call_fail(c, WS_TYPE_ERROR, "the %s list must be a list", what);
  sm_span f;
  size_t n = fields(li.data, &f, 0);
  if (n == 0) return WS_OK;
  if (!(*ops = calloc(n, sizeof **ops))) return call_fail(c, WS_INTERNAL, "out of memory");
  vw_iter it;
  sm_span item;
  vw_iter_init(&it, li.data);
  for (size_t i = 0; vw_list_next(&it, &item); i++) {
    int rc = check_op(c, what, i, item, &(*ops)[i]);
    if (rc != WS_OK) return rc;
  }
  *nops = n;
  return WS_OK;
}

/* Whether args (a list body) holds no argument. */
static bool no_args(sm_span args) {
  vw_iter it;
  sm_span a;
  vw_iter_init(&it, args);
  return !vw_list_next(&it, &a);
}

/* What the branch about to run needs of the state: every lock it releases
 * held by the caller, as many times as it releases it (so the releases,
 * which run last, cannot fail), and room for what its growing operations
 * store. */
static int check_branch(call *c, const char *what, const txn_op *ops, size_t n) {
  size_t bytes = 0;
  for (size_t i = 0; i < n; i++) {
    if (lk_is_lock(ops[i].obj)) {
      sm_obj *lo = ops[i].obj;
      int64_t times = 0;
      for (size_t j = 0; j <= i; j++)
        times += ops[j].obj == lo;
      if (!no_args(ops[i].args))
        return call_fail(c, WS_VALUE_ERROR, "%s operation %zu: %s.release takes no arguments", what,
                         i + 1, lo->type->name);
      if (!lk_held_by(lo, c->session) || times > lk_count(lo))
        return call_fail(c, WS_NOT_OWNER, "%s operation %zu: %s %llu is not held by this session%s",
                         what, i + 1, lo->type->name, (unsigned long long)lo->id,
                         times > 1 ? " as many times as the transaction releases it" : "");
      continue;
    }
    if (!(ops[i].m->flags & METHOD_GROWS)) continue;
    vw_iter it;
    sm_span a;
    vw_iter_init(&it, ops[i].args);
    while (vw_list_next(&it, &a))
      bytes += mem_chunk(sizeof(sval) + a.n);
  }
  return bytes ? mem_check(c, bytes) : WS_OK;
}

/* Writes the answer pair [status, value or error] of one operation. */
static void put_result(call *c, int rc, const char *err, const vbuf *value) {
  size_t pair = vb_list_begin_item(c->out);
  size_t p = vb_list_begin(c->out);
  size_t item = vb_list_begin_item(c->out);
  vb_int(c->out, rc);
  vb_list_end_item(c->out, item);
  item = vb_list_begin_item(c->out);
  if (rc != WS_OK)
    vb_str(c->out, err, strlen(err));
  else
    vb_append(c->out, vb_span(value)); /* nothing: nil */
  vb_list_end_item(c->out, item);
  vb_list_end(c->out, p);
  vb_list_end_item(c->out, pair);
}

/* Runs the operations of list what, all or nothing, writing the results
 * list item of the answer. Each object gets an undo image before its first
 * change (txn_undo.h), except from the last operation that may fail (it
 * changes nothing when it fails); releases of locks run after every other
 * operation succeeded (check_branch made sure they cannot fail, and no
 * other operation reads a lock). Meanwhile watch notes wait in a batch and
 * objects reaching zero references are not freed. When an operation
 * fails, every object goes back to its image, the notes are dropped, and
 * the call fails with that operation's status: nothing was applied, so
 * nothing is logged. */
static int run_ops(call *c, const char *what, const txn_op *ops, size_t n, vbuf *tmp) {
  char err[sizeof c->err];
  size_t last = n; /* the last operation that may fail */
  for (size_t i = 0; i < n; i++)
    if (!lk_is_lock(ops[i].obj)) last = i;
  wch_batch notes;
  wch_batch_begin(c->reg, &notes);
  reg_hold_frees(c->reg);
  txn_undo undo;
  undo_init(&undo);
  size_t list = vb_list_begin_item(c->out);
  size_t results = vb_list_begin(c->out);
  int rc = WS_OK;
  size_t i;
  for (i = 0; i < n && rc == WS_OK; i++) {
    if (lk_is_lock(ops[i].obj)) {
      put_result(c, WS_OK, "", &(vbuf){0}); /* released below */
      continue;
    }
    if ((ops[i].m->flags & METHOD_MUTATES) && i != last)
      rc = undo_keep(&undo, ops[i].obj, err, sizeof err);
    if (rc == WS_OK) rc = invoke(c, ops[i].obj, ops[i].m, ops[i].args, tmp, err, sizeof err);
    if (rc == WS_OK) put_result(c, rc, err, tmp);
  }
  if (rc == WS_OK) {
    for (size_t j = 0; j < n; j++) /* cannot fail: check_branch */
      if (lk_is_lock(ops[j].obj))
        invoke(c, ops[j].obj, ops[j].m, ops[j].args, tmp, err, sizeof err);
    vb_list_end(c->out, results);
    vb_list_end_item(c->out, list);
  } else {
    const txn_op *op = &ops[i - 1];
    call_fail(c, rc, "%s operation %zu (%s.%s) failed, so the transaction applied nothing: %s",
              what, i, op->obj->type->name, op->m->name, err);
    char why[sizeof c->err];
    if (undo_restore(c->reg, &undo, why, sizeof why) != WS_OK)
      rc = call_fail(c, WS_INTERNAL, "%s operation %zu failed, then %s", what, i, why);
  }
  wch_batch_end(c->reg, rc == WS_OK);
  undo_free(&undo);
  reg_release_frees(c->reg);
  return rc;
}

int txn_m_txn(call *c) {
  int rc = call_nargs(c, 2, 3);
  if (rc != WS_OK) return rc;
  vinfo conds;
  call_arg(c, 0, &conds);
  if (conds.kind != VK_LIST && conds.kind != VK_NIL)
    return call_fail(c, WS_TYPE_ERROR, "the conditions must be a list");
  txn_op *then_ops = NULL, *else_ops = NULL;
  size_t n_then = 0, n_else = 0;
  vbuf tmp;
  vb_init(&tmp);
  bool holds = true;
  vw_iter it;
  sm_span cond;
  rc = check_ops(c, 1, "then", &then_ops, &n_then);
  if (rc == WS_OK) rc = check_ops(c, 2, "else", &else_ops, &n_else);
  /* Every condition is checked before any is evaluated, so a malformed
   * one fails the call whatever the state. */
  for (int pass = 0; pass < 2 && rc == WS_OK && conds.kind == VK_LIST; pass++) {
    vw_iter_init(&it, conds.data);
    for (size_t i = 0; rc == WS_OK && holds && vw_list_next(&it, &cond); i++)
      rc = condition(c, i, cond, pass == 1, &holds, &tmp);
  }
  if (rc == WS_OK)
    rc = holds ? check_branch(c, "then", then_ops, n_then)
               : check_branch(c, "else", else_ops, n_else);
  if (rc == WS_OK) {
    size_t top = vb_list_begin(c->out);
    size_t ok = vb_list_begin_item(c->out);
    vb_bool(c->out, holds);
    vb_list_end_item(c->out, ok);
    rc = holds ? run_ops(c, "then", then_ops, n_then, &tmp)
               : run_ops(c, "else", else_ops, n_else, &tmp);
    if (rc == WS_OK)
      vb_list_end(c->out, top);
    else
      vb_reset(c->out); /* an error carries no value */
  }
  vb_free(&tmp);
  free(then_ops);
  free(else_ops);
  return rc;
}
