/* SPDX-License-Identifier: MIT */
/* t_custom.c - custom types registered through statemgr_server.h (see
 * t_custom.h): the sm_method_call, sm_pending and reply API of the public
 * header, over the same call / blocked.c machinery as the built-in types.
 *
 * Each registered sm_type_def becomes a custom_type whose obj_type (first
 * member, so the registry's pointer converts back) routes every method to
 * one adapter, custom_call(). The adapter decodes the packed arguments into
 * sm_values, runs the user's callback, and encodes its reply into c->out
 * (nested at most VW_DEPTH_REPLY_MAX levels, what every client reads). The
 * SM_E* code a callback fails with becomes a wire status through the table
 * of proto/status.h.
 *
 * Parking: every object (cobj) wraps the user's state with one FIFO of
 * waiters and the list of its sm_pending handles. A handle is alive while
 * its waiter is; the waiter's drop and timeout hooks mark it dead (w =
 * NULL) when its connection closes, its deadline passes or the server
 * stops. A handle, alive or dead, is freed by sm_pending_answer() or, at
 * the latest, right after its object's destroy callback. */
#include "t_custom.h"

#include "../client/value_internal.h"
#include "../proto/status.h"
#include "blocked.h"
#include "log.h"
#include "saved.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CUSTOM_NAME_MAX 63  /* the manager's create takes type names up to this */
#define CUSTOM_LOCAL_ARGS 8 /* arguments decoded without allocating the array */

typedef struct custom_type {
  obj_type base;          /**< first: the registry's obj_type* is this */
  const sm_type_def *def; /**< borrowed from the embedding program */
  method_def *methods;    /**< owned; entry i routes to def->methods[i] */
} custom_type;

typedef struct cobj {
  const custom_type *ct; /**< the object's type */
  void *state;           /**< the user's state, from def->create */
  waitq waiters;         /**< parked calls, each with an sm_pending as data */
  sm_pending *handles;   /**< every handle not freed yet, alive or dead */
} cobj;

struct sm_pending {
  waiter *w;                /**< NULL once dead */
  cobj *owner;              /**< the object the call was parked on */
  sm_pending *prev, *next;  /**< in owner->handles */
  const sm_method_def *def; /**< the parked method, for error texts */
};

struct sm_method_call {
  call *c;                  /**< the daemon's call */
  cobj *o;                  /**< the target */
  const sm_method_def *def; /**< the method running */
  sm_value **args;          /**< decoded arguments, owned by the adapter */
  size_t nargs;
  int reply_rc;    /**< the last sm_method_reply's failure, else 0 */
  bool err_set;    /**< sm_method_fail filled c->err */
  sm_pending *p;   /**< set once parked */
  int park_status; /**< WS_* why sm_method_park gave NULL, else WS_OK */
};

/* The text of an SM_E* code, from the public X-macro table. */
static const char *status_text(int status) {
  switch (status) {
#define SM_CUSTOM_TEXT(name, num, text)                                                            \
  case num: return text;
    SM_ERRNO_MAP(SM_CUSTOM_TEXT)
#undef SM_CUSTOM_TEXT
  default: return "unknown error";
  }
}

/* ---- the handle list of an object ---- */

static void handle_link(cobj *o, sm_pending *p) {
  p->owner = o;
  p->prev = NULL;
  p->next = o->handles;
  if (o->handles) o->handles->prev = p;
  o->handles = p;
}

/* Unlinks p from its object and frees it. */
static void handle_free(sm_pending *p) {
  cobj *o = p->owner;
  if (p->prev)
    p->prev->next = p->next;
  else
    o->handles = p->next;
  if (p->next) p->next->prev = p->prev;
  free(p);
}

/* The waiter leaves unanswered (connection closed, object destroyed,
 * server stopping): its handle goes dead but stays the user's to answer. */
static void waiter_drop(registry *reg, waiter *w) {
  (void)reg;
  sm_pending *p = w->data;
  p->w = NULL;
}

/* The caller's deadline passed: it gets TIMEOUT, the handle goes dead. */
static void waiter_timeout(registry *reg, waiter *w) {
  (void)reg;
  sm_pending *p = w->data;
  p->w = NULL;
  blk_answer(w, WS_TIMEOUT, (sm_span){NULL, 0}, "timed out");
}

static const waiter_ops custom_waiter_ops = {waiter_timeout, waiter_drop};

/* ---- arguments ---- */

/* Decodes the n validated packed values of args into out[0..n). Returns
 * WS_OK, or WS_INTERNAL with c->err set (out then holds nothing). */
static int decode_args(call *c, const sm_span *args, size_t n, sm_value **out) {
  for (size_t i = 0; i < n; i++) {
    if (val_decode(args[i], &out[i]) != 0) {
      while (i > 0)
        sm_value_free(out[--i]);
      return call_fail(c, WS_INTERNAL, "cannot decode argument %zu", i + 1);
    }
  }
  return WS_OK;
}

static void free_args(sm_value **args, size_t n, sm_value **local) {
  for (size_t i = 0; i < n; i++)
    sm_value_free(args[i]);
  if (args != local) free(args);
}

/* Sets *args to local or to a new array for n values. Returns WS_OK or
 * WS_INTERNAL with c->err set. */
static int args_array(call *c, size_t n, sm_value **local, sm_value ***args) {
  *args = local;
  if (n > CUSTOM_LOCAL_ARGS && !(*args = malloc(n * sizeof **args)))
    return call_fail(c, WS_INTERNAL, "out of memory for %zu arguments", n);
  return WS_OK;
}

/* ---- the obj_type callbacks ---- */

/* Turns the callback's return value into the call's WS_* status. */
static int call_status(sm_method_call *mc, int rc) {
  call *c = mc->c;
  const char *type = mc->o->ct->def->name;
  if (mc->p) {
    if (rc != SM_PARKED)
      log_warn("%s.%s parked its call but returned %d; the call stays parked", type, mc->def->name,
               rc);
    return CALL_PARKED;
  }
  if (rc == SM_PARKED) {
    if (mc->park_status != WS_OK) return mc->park_status; /* c->err says why */
    return call_fail(c, WS_INTERNAL, "%s.%s returned SM_PARKED without parking", type,
                     mc->def->name);
  }
  if (rc == SM_OK) {
    if (mc->reply_rc == SM_OK) return WS_OK;
    return call_fail(c, WS_INTERNAL, "%s.%s: the result cannot be sent: %s", type, mc->def->name,
                     status_text(mc->reply_rc));
  }
  if (rc > 0) return call_fail(c, WS_INTERNAL, "%s.%s returned %d", type, mc->def->name, rc);
  if (!mc->err_set) call_fail(c, 0, "%s.%s: %s", type, mc->def->name, status_text(rc));
  return status_from_error(rc);
}

/* Every custom method: decode, run the user's callback, encode. */
static int custom_call(call *c) {
  const custom_type *ct = (const custom_type *)c->obj->type;
  sm_value *local[CUSTOM_LOCAL_ARGS];
  sm_method_call mc = {.c = c, .o = c->obj->state, .nargs = c->nargs};
  mc.def = &ct->def->methods[c->method - ct->methods];
  int rc = args_array(c, c->nargs, local, &mc.args);
  if (rc == WS_OK && (rc = decode_args(c, c->args, c->nargs, mc.args)) != WS_OK) {
    if (mc.args != local) free(mc.args);
  }
  if (rc != WS_OK) return rc;
  rc = call_status(&mc, mc.def->fn(&mc));
  free_args(mc.args, mc.nargs, local);
  return rc;
}

static int custom_create(call *c, void **state) {
  const custom_type *ct = (const custom_type *)c->type;
  const sm_type_def *def = ct->def;
  if (!def->create && c->nargs > 0)
    return call_fail(c, WS_VALUE_ERROR, "a %s takes no creation arguments", def->name);
  cobj *o = calloc(1, sizeof *o);
  if (!o) return call_fail(c, WS_INTERNAL, "out of memory");
  o->ct = ct;
  if (def->create) {
    sm_value *local[CUSTOM_LOCAL_ARGS], **args;
    int rc = args_array(c, c->nargs, local, &args);
    if (rc == WS_OK && (rc = decode_args(c, c->args, c->nargs, args)) != WS_OK) {
      if (args != local) free(args);
    }
    if (rc != WS_OK) {
      free(o);
      return rc;
    }
    int status = SM_OK;
    o->state = def->create((const sm_value *const *)args, c->nargs, &status);
    free_args(args, c->nargs, local);
    if (status != SM_OK) {
      free(o);
      return call_fail(c, status_from_error(status), "cannot create a %s: %s", def->name,
                       status_text(status));
    }
  }
  *state = o;
  return WS_OK;
}

static void custom_destroy(registry *reg, void *state) {
  (void)reg;
  cobj *o = state;
  if (!o) return;
  /* The drop hook kills every handle before its caller is answered. */
  blk_cancel_all(&o->waiters, WS_NOT_FOUND, "object deleted");
  if (o->ct->def->destroy) o->ct->def->destroy(o->state);
  while (o->handles)
    handle_free(o->handles);
  free(o);
}

/* ---- snapshots (types with serialize and deserialize) ---- */

/* Saved as [the value serialize returned]; runs in the snapshot's child. */
static int custom_save(const void *state, vbuf *out) {
  const cobj *o = state;
  int status = SM_OK;
  sm_value *v = o->ct->def->serialize(o->state, &status);
  if (status != SM_OK) {
    sm_value_free(v);
    return WS_INTERNAL;
  }
  size_t m = vb_list_begin(out), item = vb_list_begin_item(out);
  status = val_encode(v, out, VW_DEPTH_REPLY_MAX);
  vb_list_end_item(out, item);
  vb_list_end(out, m);
  sm_value_free(v);
  return status == SM_OK && !out->failed ? WS_OK : WS_INTERNAL;
}

static int custom_load(registry *reg, const obj_type *t, sm_span saved, void **state, char *err,
                       size_t errlen) {
  (void)reg;
  const custom_type *ct = (const custom_type *)t;
  vinfo f[1];
  sm_span raw[1];
  sm_value *v = NULL;
  int rc = saved_fields(saved, "*", f, raw, ct->def->name, err, errlen);
  if (rc != WS_OK) return rc;
  cobj *o = calloc(1, sizeof *o);
  if (!o || val_decode(raw[0], &v) != 0) {
    free(o);
    snprintf(err, errlen, "out of memory");
    return WS_INTERNAL;
  }
  int status = SM_OK;
  o->ct = ct;
  o->state = ct->def->deserialize(v, &status);
  sm_value_free(v);
  if (status != SM_OK) {
    free(o);
    snprintf(err, errlen, "%s's deserialize failed: %s", ct->def->name, status_text(status));
    return status_from_error(status);
  }
  *state = o;
  return WS_OK;
}

/* ---- the public call API ---- */

/* Borrowed: the state create() returned. */
void *sm_method_state(const sm_method_call *mc) { return mc ? mc->o->state : NULL; }

size_t sm_method_nargs(const sm_method_call *mc) { return mc ? mc->nargs : 0; }

/* Borrowed until the callback returns. */
const sm_value *sm_method_arg(const sm_method_call *mc, size_t i) {
  return mc && i < mc->nargs ? mc->args[i] : NULL;
}

/* Encodes result into the call's output; nothing is kept of result. */
int sm_method_reply(sm_method_call *mc, const sm_value *result) {
  if (!mc) return SM_EINVAL;
  vb_reset(mc->c->out);
  int rc = val_encode(result, mc->c->out, VW_DEPTH_REPLY_MAX); /* what every client reads */
  if (rc != SM_OK) vb_reset(mc->c->out);                       /* half a value is no result */
  mc->reply_rc = rc;
  return rc;
}

int sm_method_fail(sm_method_call *mc, int status, const char *fmt, ...) {
  if (!mc) return status;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(mc->c->err, sizeof mc->c->err, fmt, ap);
  va_end(ap);
  mc->err_set = true;
  return status;
}

/* The handle belongs to the server: freed by sm_pending_answer or after
 * the object's destroy callback. */
sm_pending *sm_method_park(sm_method_call *mc) {
  if (!mc) return NULL;
  if (mc->p) return mc->p;
  call *c = mc->c;
  if (!blk_may_wait(c)) {
    mc->park_status = call_fail(c, WS_TIMEOUT, "%s.%s would wait (timeout 0)", mc->o->ct->def->name,
                                mc->def->name);
    return NULL;
  }
  sm_pending *p = calloc(1, sizeof *p);
  if (!p) {
    mc->park_status = call_fail(c, WS_INTERNAL, "out of memory parking the call");
    return NULL;
  }
  int rc = blk_park(c, c->obj, &mc->o->waiters, &custom_waiter_ops, 0, p);
  if (rc != CALL_PARKED) { /* c->err says why */
    free(p);
    mc->park_status = rc;
    return NULL;
  }
  p->w = mc->o->waiters.tail; /* blk_park queued it last */
  p->def = mc->def;
  handle_link(mc->o, p);
  mc->p = p;
  return p;
}

/* Frees p in every case. */
int sm_pending_answer(sm_pending *p, int status, const sm_value *result) {
  if (!p) return SM_EINVAL;
  waiter *w = p->w;
  int rc = SM_OK;
  if (!w) {
    rc = SM_ECLOSED;
  } else if (status != SM_OK) {
    char err[256];
    snprintf(err, sizeof err, "%s.%s: %s", p->owner->ct->def->name, p->def->name,
             status_text(status));
    blk_answer(w, status_from_error(status), (sm_span){NULL, 0}, err);
  } else {
    vbuf out;
    vb_init(&out);
    rc = val_encode(result, &out, VW_DEPTH_REPLY_MAX);
    if (rc == SM_OK)
      blk_answer(w, WS_OK, vb_span(&out), NULL);
    else
      blk_answer(w, WS_INTERNAL, (sm_span){NULL, 0}, "the result cannot be sent");
    vb_free(&out);
  }
  handle_free(p);
  return rc;
}

bool sm_pending_alive(const sm_pending *p) { return p && p->w; }

/* ---- building types ---- */

int custom_type_check(const sm_type_def *def) {
  if (!def || !def->name || !*def->name || strlen(def->name) > CUSTOM_NAME_MAX) return SM_EINVAL;
  if (!def->serialize != !def->deserialize) return SM_EINVAL; /* both or neither */
  if (def->n_methods > 0 && !def->methods) return SM_EINVAL;
  for (size_t i = 0; i < def->n_methods; i++) {
    const sm_method_def *m = &def->methods[i];
    if (!m->name || !*m->name || !m->fn) return SM_EINVAL;
  }
  return SM_OK;
}

/* Caller frees with custom_type_free(). */
obj_type *custom_type_new(const sm_type_def *def) {
  custom_type *ct = calloc(1, sizeof *ct);
  if (!ct) return NULL;
  if (def->n_methods > 0 && !(ct->methods = calloc(def->n_methods, sizeof *ct->methods))) {
    free(ct);
    return NULL;
  }
  for (size_t i = 0; i < def->n_methods; i++)
    ct->methods[i] = (method_def){def->methods[i].name, custom_call, METHOD_MUTATES};
  ct->def = def;
  ct->base = (obj_type){
      .name = def->name,
      .create = custom_create,
      .destroy = custom_destroy,
      .size = NULL,
      .owner_gone = NULL,
      .save = def->serialize ? custom_save : NULL,
      .load = def->serialize ? custom_load : NULL,
      .methods = ct->methods,
      .n_methods = def->n_methods,
  };
  return &ct->base;
}

void custom_type_free(obj_type *t) {
  if (!t) return;
  custom_type *ct = (custom_type *)t;
  free(ct->methods);
  free(ct);
}
