/* SPDX-License-Identifier: MIT */
/* registry.c - the objects of the daemon by id and by name, their types,
 * the reference counts that free anonymous objects, and the bytes objects
 * and tables take (see registry.h and memory.h). */
#include "watch.h"
#include "registry.h"

#include "blocked.h"
#include "cmd.h"
#include "cycles.h"
#include "expire.h"
#include "htab.h"
#include "memory.h"
#include "session.h"
#include "sval.h"
#include "types.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct registry {
  htab by_id;   /* 8-byte id -> sm_obj*, in creation order; owns the objects */
  htab by_name; /* name -> sm_obj* (named objects only) */
  htab types;   /* type name -> const obj_type* */
  uint64_t next_id;
  uint64_t first_id; /* this run's first id: ids below it are an earlier run's */
  sm_obj **doomed;   /* objects whose count reached zero, waiting to be freed */
  size_t n_doomed, cap_doomed;
  bool reaping;      /* reap() is on the stack: just queue */
  blk_state blk;     /* parked calls and signalled objects (blocked.c) */
  memacct mem;       /* the data's bytes and the limit (memory.h) */
  cycles cyc;        /* the cycle collector's suspects (cycles.h) */
  sess_table sess;   /* what each session holds (session.h) */
  cmd_state cmd;     /* where commands go (cmd.h) */
  exp_index exp;     /* objects with a deadline, and the active expiry cycle (expire.h) */
  size_t tables_mem; /* bytes of by_id and by_name, as counted in mem */
  /* The object reg_get found last: a request looks its target up more
   * than once (the call, the mark its answer waits for, its log record).
   * Forgotten when the object leaves by_id (drop_id). */
  sm_obj *last_get;

  /* While a transaction runs (txn.c): */
  bool holding;             /* frees wait for reg_release_frees */
  struct wch_batch *wbatch; /* its watch notes, not kept yet (watch.h) */
};

static sm_span id_key(const uint64_t *id) { return (sm_span){(const uint8_t *)id, sizeof *id}; }
static sm_span str_key(const char *s) { return (sm_span){(const uint8_t *)s, strlen(s)}; }

registry *reg_new(void) {
  registry *reg = calloc(1, sizeof *reg);
  if (!reg) return NULL;
  htab_init(&reg->by_id);
  htab_init(&reg->by_name);
  htab_init(&reg->types);
  sess_init(&reg->sess);
  reg->next_id = reg->first_id = 1; /* 0 addresses the manager */
  reg->cyc.reg = reg;
  reg->exp.reg = reg;
  const obj_type *builtins[] = {&t_dict_type,      &t_list_type,      &t_value_type,
                                &t_namespace_type, &t_queue_type,     &t_lock_type,
                                &t_rlock_type,     &t_semaphore_type, &t_bounded_semaphore_type,
                                &t_condition_type, &t_event_type,     &t_barrier_type,
                                &t_array_type,     &t_set_type};
  for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
    if (reg_add_type(reg, builtins[i]) != 0) {
      reg_free(reg);
      return NULL;
    }
  }
  return reg;
}

/* The bytes of an object's shell and name. */
static size_t shell_mem(const sm_obj *o) {
  return mem_chunk(sizeof *o) + (o->name ? mem_chunk(strlen(o->name) + 1) : 0);
}

/* Brings the count of the registry's own tables up to date. */
static void count_tables(registry *reg) {
  size_t now = htab_memory(&reg->by_id) + htab_memory(&reg->by_name);
  if (now >= reg->tables_mem)
    mem_add(&reg->mem, now - reg->tables_mem);
  else
    mem_sub(&reg->mem, reg->tables_mem - now);
  reg->tables_mem = now;
}

/* Takes o out of by_id (and out of reg_get's memory). */
static void drop_id(registry *reg, sm_obj *o) {
  if (reg->last_get == o) reg->last_get = NULL;
  htab_remove(&reg->by_id, id_key(&o->id), NULL);
}

/* Takes o out of the tables (ids are never reused: later lookups of its id
 * find nothing). */
static void unlist(registry *reg, sm_obj *o) {
  if (o->name) htab_remove(&reg->by_name, str_key(o->name), NULL);
  drop_id(reg, o);
  count_tables(reg);
}

/* Frees one object whose state was already removed from the tables. */
static void obj_free(registry *reg, sm_obj *o) {
  cyc_forget(&reg->cyc, o);
  exp_forget(reg, o);
  if (o->eph_session) sess_forget_ephemeral(reg, o->eph_session, o->id);
  wch_free(reg, o); /* its watchers answered NOT_FOUND */
  o->type->destroy(reg, o->state);
  mem_sub(&reg->mem, o->mem + shell_mem(o));
  blk_forget(reg, o); /* after destroy, whose cancelled waiters may signal it */
  free(o->name);
  free(o);
}

/* Destroys queued objects one at a time: destroying one may release the
 * last reference to others, which join the queue instead of recursing. */
static void reap(registry *reg) {
  if (reg->reaping || reg->holding) return;
  reg->reaping = true;
  while (reg->n_doomed > 0) {
    sm_obj *o = reg->doomed[--reg->n_doomed];
    unlist(reg, o);
    obj_free(reg, o);
  }
  reg->reaping = false;
}

static void doom(registry *reg, sm_obj *o) {
  if (reg->n_doomed == reg->cap_doomed) {
    size_t cap = reg->cap_doomed ? reg->cap_doomed * 2 : 16;
    sm_obj **p = realloc(reg->doomed, cap * sizeof *p);
    if (!p) {
      /* No room to queue: free right away (recursion only under OOM). */
      unlist(reg, o);
      obj_free(reg, o);
      return;
    }
    reg->doomed = p;
    reg->cap_doomed = cap;
  }
  reg->doomed[reg->n_doomed++] = o;
  reap(reg);
}

void reg_hold_frees(registry *reg) { reg->holding = true; }

/* Orders doomed objects by address, to find an object doomed twice. */
static int by_address(const void *a, const void *b) {
  uintptr_t x = (uintptr_t) * (sm_obj *const *)a, y = (uintptr_t) * (sm_obj *const *)b;
  return x < y ? -1 : x > y;
}

void reg_release_frees(registry *reg) {
  reg->holding = false;
  /* An object held again (a rolled back transaction gave its holder back)
   * stays; one doomed, held, then released again is queued twice. */
  if (reg->n_doomed > 1) qsort(reg->doomed, reg->n_doomed, sizeof *reg->doomed, by_address);
  size_t kept = 0;
  for (size_t i = 0; i < reg->n_doomed; i++) {
    sm_obj *o = reg->doomed[i];
    if (o->refs == 0 && (kept == 0 || reg->doomed[kept - 1] != o)) reg->doomed[kept++] = o;
  }
  reg->n_doomed = kept;
  reap(reg);
}

struct wch_batch **reg_wbatch(registry *reg) {
  return &reg->wbatch;
}

void reg_free(registry *reg) {
  if (!reg) return;
  mem_release(&reg->mem);
  cyc_release(&reg->cyc);
  exp_release(&reg->exp);
  /* Objects may refer to each other. Empty the tables first, so that the
   * decrefs made while destroying find nothing (ids are never reused), then
   * destroy each object exactly once. */
  size_t n = htab_len(&reg->by_id), i = 0, pos = 0;
  sm_obj **all = calloc(n ? n : 1, sizeof *all);
  sm_span key;
  void *val;
  while (all && htab_next(&reg->by_id, &pos, &key, &val))
    all[i++] = val;
  htab_clear(&reg->by_id, NULL, NULL);
  reg->last_get = NULL;
  htab_clear(&reg->by_name, NULL, NULL);
  reg->reaping = true;
  for (i = 0; all && i < n; i++)
    obj_free(reg, all[i]);
  free(all);
  htab_clear(&reg->types, NULL, NULL);
  free(reg->doomed);
  blk_fini(&reg->blk);
  sess_fini(&reg->sess);
  cmd_fini(&reg->cmd);
  free(reg);
}

int reg_add_type(registry *reg, const obj_type *t) {
  if (htab_find(&reg->types, str_key(t->name)) || reg_type_by_code(reg, wire_type_code(t->name)))
    return -1;
  return htab_put(&reg->types, str_key(t->name), (void *)(uintptr_t)t, NULL) == 1 ? 0 : -1;
}

const obj_type *reg_type(const registry *reg, const char *name) {
  void **slot = htab_find(&reg->types, str_key(name));
  return slot ? *slot : NULL;
}

/* A walk over the few types: only registration and error texts need it. */
const obj_type *reg_type_by_code(const registry *reg, uint32_t code) {
  size_t pos = 0;
  sm_span key;
  void *val;
  while (htab_next(&reg->types, &pos, &key, &val)) {
    const obj_type *t = val;
    if (wire_type_code(t->name) == code) return t;
  }
  return NULL;
}

uint64_t reg_first_id_at(int64_t unix_ms) {
  const int64_t max_ms = (INT64_C(1) << (62 - REG_ID_CLOCK_SHIFT)) - 1;
  if (unix_ms < 1) unix_ms = 1; /* a clock before 1970: still above 0, the manager */
  if (unix_ms > max_ms) unix_ms = max_ms;
  return (uint64_t)unix_ms << REG_ID_CLOCK_SHIFT;
}

void reg_begin_ids(registry *reg, uint64_t first) {
  if (first > reg->next_id) reg->next_id = first;
  reg->first_id = first;
}

bool reg_id_stale(const registry *reg, uint64_t id) { return id != 0 && id < reg->first_id; }

uint64_t reg_next_id(const registry *reg) { return reg->next_id; }

void reg_set_next_id(registry *reg, uint64_t next) {
  if (next > reg->next_id) reg->next_id = next;
}

int reg_restore(registry *reg, const obj_type *t, uint64_t id, const char *name, uint64_t refs,
                void *state, sm_obj **out, char *err, size_t errlen) {
  const char *bad = id == 0                            ? "has id 0"
                    : reg_get(reg, id)                 ? "has the id of another object"
                    : name && reg_get_named(reg, name) ? "has the name of another object"
                    : !name && refs == 0               ? "is anonymous and nothing holds it"
                                                       : NULL;
  if (bad) {
    snprintf(err, errlen, "object %llu %s", (unsigned long long)id, bad);
    return WS_VALUE_ERROR;
  }
  sm_obj *o = calloc(1, sizeof *o);
  if (!o || (name && !(o->name = strdup(name)))) {
    free(o);
    snprintf(err, errlen, "out of memory");
    return WS_INTERNAL;
  }
  o->id = id;
  o->type = t;
  o->type_code = wire_type_code(t->name);
  o->refs = name ? 0 : refs;
  o->state = state;
  if (htab_put(&reg->by_id, id_key(&o->id), o, NULL) != 1 ||
      (name && htab_put(&reg->by_name, str_key(name), o, NULL) != 1)) {
    drop_id(reg, o);
    count_tables(reg);
    free(o->name);
    free(o);
    snprintf(err, errlen, "out of memory");
    return WS_INTERNAL;
  }
  mem_add(&reg->mem, shell_mem(o));
  reg_measure(reg, o);
  count_tables(reg);
  reg_set_next_id(reg, id + 1);
  /* The snapshot may have caught a cycle that nothing holds from outside
   * before the collector came to it: let the collector look. */
  if (!name && t->traverse) cyc_suspect(&reg->cyc, o);
  if (out) *out = o;
  return WS_OK;
}

sm_obj *reg_get(const registry *reg, uint64_t id) {
  if (reg->last_get && reg->last_get->id == id) return reg->last_get;
  void **slot = htab_find(&reg->by_id, id_key(&id));
  if (!slot) return NULL;
  ((registry *)reg)->last_get = *slot; /* a cache, not the registry's state */
  return *slot;
}

sm_obj *reg_get_named(const registry *reg, const char *name) {
  void **slot = htab_find(&reg->by_name, str_key(name));
  return slot ? *slot : NULL;
}

int reg_create(registry *reg, const obj_type *t, const char *name, call *c, sm_obj **out,
               bool *created) {
  if (name) {
    sm_obj *o = reg_get_named(reg, name);
    if (o) {
      if (o->type != t)
        return call_fail(c, WS_TYPE_ERROR, "'%s' exists and is a %s, not a %s", name, o->type->name,
                         t->name);
      *out = o;
      if (created) *created = false;
      return WS_OK;
    }
  }
  /* A new object stores at least its creation arguments. */
  size_t more = mem_chunk(sizeof(sm_obj)) + (name ? mem_chunk(strlen(name) + 1) : 0);
  for (size_t i = 0; i < c->nargs; i++)
    more += c->args[i].n;
  int rc = mem_check(c, more);
  if (rc != WS_OK) return rc;
  sm_obj *o = calloc(1, sizeof *o);
  if (!o || (name && !(o->name = strdup(name)))) {
    free(o);
    return call_fail(c, WS_INTERNAL, "out of memory");
  }
  c->obj = NULL;
  c->type = t;
  rc = t->create(c, &o->state);
  if (rc != WS_OK) {
    free(o->name);
    free(o);
    return rc;
  }
  o->id = reg->next_id++;
  o->type = t;
  o->type_code = wire_type_code(t->name);
  o->refs = name ? 0 : 1;
  mem_add(&reg->mem, shell_mem(o));
  reg_measure(reg, o);
  if (htab_put(&reg->by_id, id_key(&o->id), o, NULL) != 1 ||
      (name && htab_put(&reg->by_name, str_key(name), o, NULL) != 1)) {
    drop_id(reg, o);
    count_tables(reg);
    obj_free(reg, o);
    return call_fail(c, WS_INTERNAL, "out of memory");
  }
  count_tables(reg);
  *out = o;
  if (created) *created = true;
  return WS_OK;
}

void reg_incref(registry *reg, sm_obj *o) {
  (void)reg;
  if (o && !o->name) o->refs++;
}

void reg_decref(registry *reg, sm_obj *o) {
  if (!o || o->name || o->refs == 0) return;
  if (--o->refs == 0)
    doom(reg, o);
  else if (o->type->traverse) /* what is left may be a cycle */
    cyc_suspect(&reg->cyc, o);
}

void reg_unpin(registry *reg, sm_obj *o) {
  if (!o || o->name || o->refs == 0) return;
  if (--o->refs == 0) doom(reg, o);
}

void reg_destroy_set(registry *reg, sm_obj **objs, size_t n) {
  /* Out of the tables first, so the references they hold on each other
   * find nothing while they are destroyed (as in reg_free). */
  bool was_reaping = reg->reaping;
  reg->reaping = true;
  for (size_t i = 0; i < n; i++)
    unlist(reg, objs[i]);
  for (size_t i = 0; i < n; i++)
    obj_free(reg, objs[i]);
  reg->reaping = was_reaping;
  reap(reg);
}

void reg_destroy(registry *reg, sm_obj *o) {
  unlist(reg, o);
  obj_free(reg, o);
  reap(reg);
}

typedef struct ref_check {
  const registry *reg;
  char *err;
  size_t errlen;
  int status;
} ref_check;

static int check_one_ref(void *ctx, uint64_t id, sm_span type) {
  ref_check *rc = ctx;
  sm_obj *o = reg_get(rc->reg, id);
  if (!o) return rc->status = reg_missing(rc->reg, id, rc->err, rc->errlen);
  if (strlen(o->type->name) != type.n || memcmp(o->type->name, type.p, type.n) != 0) {
    snprintf(rc->err, rc->errlen, "object %llu is a %s, not a %.*s", (unsigned long long)id,
             o->type->name, (int)type.n, (const char *)type.p);
    return rc->status = WS_TYPE_ERROR;
  }
  return 0;
}

int reg_missing(const registry *reg, uint64_t id, char *err, size_t errlen) {
  if (reg_id_stale(reg, id)) {
    snprintf(err, errlen,
             "object %llu belonged to an earlier daemon (this one numbers its objects from %llu)",
             (unsigned long long)id, (unsigned long long)reg->first_id);
    return WS_STALE;
  }
  snprintf(err, errlen, "object %llu does not exist (deleted, or its last reference went)",
           (unsigned long long)id);
  return WS_NOT_FOUND;
}

uint64_t reg_ref_id(sm_span v) {
  vinfo vi;
  return vw_peek(v, &vi) == VW_OK && vi.kind == VK_REF ? vi.ref_id : 0;
}

void reg_ref_hold(registry *reg, uint64_t id, bool hold) {
  if (id == 0) return;
  sm_obj *o = reg_get(reg, id);
  if (hold)
    reg_incref(reg, o);
  else
    reg_decref(reg, o);
}

int reg_check_refs(const registry *reg, sm_span v, char *err, size_t errlen) {
  ref_check rc = {reg, err, errlen, WS_OK};
  vw_each_ref(v, check_one_ref, &rc);
  return rc.status;
}

void reg_foreach(const registry *reg, void (*cb)(void *ctx, sm_obj *o), void *ctx) {
  size_t pos = 0;
  sm_span key;
  void *val;
  while (htab_next(&reg->by_id, &pos, &key, &val))
    cb(ctx, val);
}

size_t reg_count(const registry *reg) { return htab_len(&reg->by_id); }

uint64_t reg_scan_end(const registry *reg) { return reg->by_id.next_seq; }

size_t reg_seek(const registry *reg, uint64_t from) { return htab_seek(&reg->by_id, from); }

bool reg_next_before(const registry *reg, size_t *pos, uint64_t end, sm_obj **o) {
  void *val;
  if (!htab_next_before(&reg->by_id, pos, end, NULL, &val)) return false;
  *o = val;
  return true;
}

uint64_t reg_cursor(const registry *reg, size_t pos) { return htab_cursor(&reg->by_id, pos); }

void reg_set_base(registry *reg, struct event_base *base) {
  mem_set_base(&reg->mem, base);
  cyc_set_base(&reg->cyc, base);
  exp_set_base(&reg->exp, base);
}

memacct *reg_mem(registry *reg) { return &reg->mem; }
cycles *reg_cycles(registry *reg) { return &reg->cyc; }

void reg_measure(registry *reg, sm_obj *o) {
  size_t now = o->type->mem_size ? o->type->mem_size(o->state) : 0;
  if (now == o->mem) return;
  if (now > o->mem)
    mem_add(&reg->mem, now - o->mem);
  else
    mem_sub(&reg->mem, o->mem - now);
  o->mem = now;
}
struct blk_state *reg_blk(registry *reg) {
  return &reg->blk;
}

struct sess_table *reg_sessions(registry *reg) {
  return &reg->sess;
}

struct exp_index *reg_expiry(registry *reg) {
  return &reg->exp;
}

struct cmd_state *reg_cmd(registry *reg) {
  return &reg->cmd;
}
