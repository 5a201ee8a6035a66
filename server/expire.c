/* SPDX-License-Identifier: MIT */
/* expire.c - the expiry index, the lazy check, the active cycle and the
 * manager's expire/ttl/persist (see expire.h).
 *
 * An object is in the index while it has a deadline of its own or keys
 * with one; its place is its next deadline, the earlier of the two. The
 * active cycle runs on a one-shot timer, armed while the index is not
 * empty, for the earliest deadline but at least every EXP_TICK_MAX_MS (a
 * deadline set meanwhile is then late by at most that much, and the lazy
 * check hides it from every call until then). A run removes at most
 * EXP_CYCLE_KEYS keys and objects, then yields for EXP_BUSY_DELAY_MS, so a
 * burst of expiries never stalls the clients, as Redis's
 * activeExpireCycle bounds its work per run. The removals of one object's
 * keys go as one record of at most EXP_RECORD_KEYS keys. */
#include "expire.h"

#include "blocked.h"
#include "cmd.h"
#include "log.h"
#include "registry.h"
#include "watch.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXP_TICK_MAX_MS 100
#define EXP_BUSY_DELAY_MS 10
#define EXP_CYCLE_KEYS 2000
#define EXP_RECORD_KEYS 256

static void cycle_cb(evutil_socket_t fd, short what, void *arg);

/* o's next deadline: the earlier of its own and its keys'; 0 when none. */
static int64_t next_of(const sm_obj *o) {
  int64_t keys = o->type->next_deadline ? o->type->next_deadline(o->state) : 0;
  if (!o->deadline) return keys;
  return keys && keys < o->deadline ? keys : o->deadline;
}

/* Arms the cycle's timer for the earliest deadline (now_ms: the time it is
 * measured from), unless it is pending already or nothing waits. */
static void arm(exp_index *ix, int64_t now_ms, int64_t min_delay_ms) {
  dl_node *top = dlh_top(&ix->heap);
  if (!ix->base || !top) return;
  if (!ix->ev && !(ix->ev = evtimer_new(ix->base, cycle_cb, ix))) return;
  if (evtimer_pending(ix->ev, NULL)) return;
  int64_t delay = top->at - now_ms;
  if (delay < min_delay_ms) delay = min_delay_ms;
  if (delay > EXP_TICK_MAX_MS) delay = EXP_TICK_MAX_MS;
  struct timeval tv = {0, (suseconds_t)delay * 1000};
  evtimer_add(ix->ev, &tv);
}

void exp_update(registry *reg, sm_obj *o) {
  exp_index *ix = reg_expiry(reg);
  int64_t at = next_of(o);
  if (!at) {
    dlh_remove(&ix->heap, &o->exp);
    return;
  }
  if (o->exp.slot && o->exp.at == at) return;
  if (dlh_set(&ix->heap, &o->exp, at) != 0) {
    log_warn("out of memory indexing the deadline of object %llu: it expires when next touched",
             (unsigned long long)o->id);
    return;
  }
  arm(ix, cmd_time(reg), 1);
}

void exp_forget(registry *reg, sm_obj *o) { dlh_remove(&reg_expiry(reg)->heap, &o->exp); }

bool exp_object_due(const sm_obj *o, int64_t now_ms) {
  return o->deadline != 0 && o->deadline <= now_ms;
}

/* Writes one int as a packed value into raw (16 bytes) and spans it. */
static sm_span int_arg(uint8_t raw[16], int64_t v) {
  vbuf b = {.p = raw, .cap = 16}; /* a packed int takes at most 11 */
  vb_int(&b, v);
  return vb_span(&b);
}

/* Removes o, whose own deadline passed: logged as the manager's
 * _expire(id) at the time of the decision (cmd_time). */
static void expire_object(registry *reg, sm_obj *o) {
  uint8_t raw[16];
  sm_span arg = int_arg(raw, (int64_t)o->id);
  bool kept = o->type->save != NULL; /* an object kept in memory only is not logged (cmd.h) */
  log_debug("object %llu (%s) expired", (unsigned long long)o->id, o->name ? o->name : "anonymous");
  reg_destroy(reg, o);
  reg_expiry(reg)->expired_objects++;
  if (kept) cmd_log_call(reg, 0, 0, "_expire", &arg, 1);
}

/* Removes up to max of o's keys due at now_ms through its type's internal
 * _expire, logged with those keys. Returns how many went; 0 when none was
 * due (or memory ran out listing them). */
static size_t expire_keys(registry *reg, sm_obj *o, int64_t now_ms, size_t max) {
  const method_def *m = o->type->due_keys ? type_method(o->type, "_expire") : NULL;
  if (!m) return 0;
  vbuf keys;
  vb_init(&keys);
  size_t list = vb_list_begin(&keys);
  size_t n = o->type->due_keys(o->state, now_ms, max, &keys);
  vb_list_end(&keys, list);
  sm_span *args = n ? malloc(n * sizeof *args) : NULL;
  unsigned *flags = n ? calloc(n, sizeof *flags) : NULL;
  if (n == 0 || keys.failed || !args || !flags) {
    if (n) log_warn("out of memory expiring the keys of object %llu", (unsigned long long)o->id);
    free(args);
    free(flags);
    vb_free(&keys);
    return 0;
  }
  vinfo top;
  vw_peek(vb_span(&keys), &top);
  vw_iter it;
  vw_iter_init(&it, top.data);
  for (size_t i = 0; i < n && vw_list_next(&it, &args[i]); i++) {
  }
  vbuf out;
  vb_init(&out);
  call c = {
      .reg = reg, .obj = o, .method = m, .args = args, .arg_flags = flags, .nargs = n, .out = &out};
  reg_incref(reg, o); /* as dispatch does: dropping a key may drop the last reference to o */
  int rc = m->fn(&c);
  if (rc == WS_OK) {
    reg_expiry(reg)->expired_keys += n;
    if (o->type->save) cmd_log_call(reg, 0, o->id, "_expire", args, n);
  } else {
    log_error("expiring %zu keys of object %llu failed: %s", n, (unsigned long long)o->id, c.err);
    n = 0;
  }
  reg_measure(reg, o);
  exp_update(reg, o);
  if (rc == WS_OK) wch_commit(reg, o); /* watchers see keys that expired, as dispatch does */
  reg_unpin(reg, o);
  vb_free(&out);
  free(args);
  free(flags);
  vb_free(&keys);
  return n;
}

void exp_check(registry *reg, sm_obj **o) {
  sm_obj *obj = *o;
  if (!obj->exp.slot && !obj->deadline && !obj->type->next_deadline) return;
  if (cmd_replaying(reg)) return;
  int64_t at = obj->exp.slot ? obj->exp.at : next_of(obj);
  if (!at) return;
  int64_t now = cmd_time(reg); /* the clock is read only for an object with a deadline */
  if (at > now) return;
  if (exp_object_due(obj, now)) {
    expire_object(reg, obj);
    *o = NULL;
    return;
  }
  /* Every due key goes before the call sees the object. */
  while (expire_keys(reg, obj, now, EXP_RECORD_KEYS) == EXP_RECORD_KEYS) {
  }
}

/* The object a name, id or ref argument names; NULL when none. */
static sm_obj *find_target(registry *reg, sm_span arg) {
  vinfo vi;
  if (vw_peek(arg, &vi) != VW_OK) return NULL;
  if (vi.kind == VK_REF) return reg_get(reg, vi.ref_id);
  if (vi.kind == VK_INT) return vi.i > 0 ? reg_get(reg, (uint64_t)vi.i) : NULL;
  if (vi.kind != VK_STR || vi.data.n > NAME_MAX_LEN) return NULL;
  char name[NAME_MAX_LEN + 1];
  memcpy(name, vi.data.p, vi.data.n);
  name[vi.data.n] = '\0';
  return reg_get_named(reg, name);
}

void exp_check_manager_call(registry *reg, const char *method, const sm_span *args, size_t nargs) {
  if (cmd_replaying(reg) || dlh_top(&reg_expiry(reg)->heap) == NULL) return;
  size_t at;
  if (strcmp(method, "create") == 0 || strcmp(method, "create_with") == 0)
    at = 1;
  else if (strcmp(method, "open") == 0 || strcmp(method, "delete") == 0 ||
           strcmp(method, "show") == 0 || strcmp(method, "expire") == 0 ||
           strcmp(method, "ttl") == 0 || strcmp(method, "persist") == 0)
    at = 0;
  else
    return;
  if (nargs <= at) return;
  sm_obj *o = find_target(reg, args[at]);
  if (o) exp_check(reg, &o);
}

/* One run of the active cycle. */
static void cycle_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  exp_index *ix = arg;
  registry *reg = ix->reg;
  cmd_clock_begin(reg);
  int64_t now = cmd_time(reg);
  size_t work = 0;
  bool stalled = false;
  dl_node *top;
  while (!stalled && work < EXP_CYCLE_KEYS && (top = dlh_top(&ix->heap)) && top->at <= now) {
    sm_obj *o = DL_OWNER(top, sm_obj, exp);
    if (exp_object_due(o, now)) {
      expire_object(reg, o);
      work++;
      continue;
    }
    size_t n = expire_keys(reg, o, now, EXP_RECORD_KEYS);
    stalled = n == 0; /* out of memory listing them: try again later, not in a loop */
    work += n;
  }
  cmd_clock_end(reg);
  if (blk_ready(reg_blk(reg))) blk_serve(reg); /* waiters of what went are answered */
  arm(ix, now, stalled || work >= EXP_CYCLE_KEYS ? EXP_BUSY_DELAY_MS : 1);
}

void exp_set_base(exp_index *ix, struct event_base *base) {
  if (ix->ev && ix->base != base) { /* a timer of the old base goes with it */
    event_free(ix->ev);
    ix->ev = NULL;
  }
  ix->base = base;
  /* Deadlines indexed while no cycle could run (a follower of a replicated
   * group applying the leader's log): the cycle looks at them now. */
  arm(ix, cmd_now_ms(), 1);
}

void exp_release(exp_index *ix) {
  if (ix->ev) event_free(ix->ev);
  ix->ev = NULL;
  dlh_free(&ix->heap);
}

/* ---- the manager's methods ---- */

/* The object argument 0 names (a name, an id or a ref), or WS_NOT_FOUND. */
static int target_arg(call *c, sm_obj **o) {
  vinfo vi;
  call_arg(c, 0, &vi);
  if (vi.kind != VK_STR && vi.kind != VK_INT && vi.kind != VK_REF)
    return call_fail(c, WS_TYPE_ERROR, "the target must be a name, an id or a ref, not %s",
                     call_kind_name(vi.kind));
  if (!(*o = find_target(c->reg, c->args[0]))) {
    if (vi.kind == VK_STR)
      return call_fail(c, WS_NOT_FOUND, "no object named '%.*s'", (int)vi.data.n,
                       (const char *)vi.data.p);
    return call_fail(c, WS_NOT_FOUND, "no object %lld",
                     (long long)(vi.kind == VK_INT ? vi.i : (int64_t)vi.ref_id));
  }
  return WS_OK;
}

/* expire(target, ms) -> true: the object is removed ms from now (the time
 * of the call); ms <= 0 removes it at once, as Redis's EXPIRE does. */
int exp_m_expire(call *c) {
  int64_t ms;
  sm_obj *o;
  int rc = call_nargs(c, 2, 2);
  if (rc == WS_OK) rc = call_arg_int(c, 1, &ms);
  if (rc == WS_OK) rc = target_arg(c, &o);
  if (rc != WS_OK) return rc;
  int64_t now = cmd_time(c->reg);
  if (ms > INT64_MAX - now)
    return call_fail(c, WS_VALUE_ERROR, "the TTL %lld ms is too long", (long long)ms);
  if (ms <= 0) {
    reg_destroy(c->reg, o);
  } else {
    o->deadline = now + ms;
    exp_update(c->reg, o);
  }
  vb_bool(c->out, true);
  return WS_OK;
}

/* ttl(target) -> ms left before the object is removed, -1 when it has no
 * TTL. */
int exp_m_ttl(call *c) {
  sm_obj *o;
  int rc = call_nargs(c, 1, 1);
  if (rc == WS_OK) rc = target_arg(c, &o);
  if (rc != WS_OK) return rc;
  int64_t left = o->deadline ? o->deadline - cmd_time(c->reg) : -1;
  vb_int(c->out, o->deadline && left < 0 ? 0 : left);
  return WS_OK;
}

/* persist(target) -> bool: true when the object had a TTL, now gone. */
int exp_m_persist(call *c) {
  sm_obj *o;
  int rc = call_nargs(c, 1, 1);
  if (rc == WS_OK) rc = target_arg(c, &o);
  if (rc != WS_OK) return rc;
  bool had = o->deadline != 0;
  o->deadline = 0;
  exp_update(c->reg, o);
  vb_bool(c->out, had);
  return WS_OK;
}

/* _expire(id) (internal: replay only): object id's deadline passed at the
 * time of the record, and it was removed. */
int exp_m_expired(call *c) {
  int64_t id;
  int rc = call_nargs(c, 1, 1);
  if (rc == WS_OK) rc = call_arg_int(c, 0, &id);
  if (rc != WS_OK) return rc;
  sm_obj *o = id > 0 ? reg_get(c->reg, (uint64_t)id) : NULL;
  if (!o || !exp_object_due(o, cmd_time(c->reg)))
    return call_fail(c, WS_VALUE_ERROR, "_expire names object %lld, which is not due to expire",
                     (long long)id);
  reg_destroy(c->reg, o);
  reg_expiry(c->reg)->expired_objects++;
  return WS_OK;
}
