/* SPDX-License-Identifier: MIT */
/* session.c - the sessions table: per session, its references to anonymous
 * objects and the units it owns (see session.h). Both are htabs of object
 * id -> count, so a session that holds many objects gives each back once. */
#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sess {
  uint64_t id;
  htab handles; /* object id -> references held (uintptr_t) */
  htab owned;   /* object id -> units held (lock acquisitions, semaphore units) */
} sess;

static sm_span id_key(const uint64_t *id) { return (sm_span){(const uint8_t *)id, sizeof *id}; }

static void sess_free(void *ctx, void *val) {
  (void)ctx;
  sess *s = val;
  htab_clear(&s->handles, NULL, NULL);
  htab_clear(&s->owned, NULL, NULL);
  free(s);
}

void sess_init(sess_table *t) { htab_init(&t->by_id); }

void sess_fini(sess_table *t) { htab_clear(&t->by_id, sess_free, NULL); }

static sess *find(registry *reg, uint64_t sid) {
  void **slot = htab_find(&reg_sessions(reg)->by_id, id_key(&sid));
  return slot ? *slot : NULL;
}

/* The entry of sid, made when missing. NULL when out of memory. */
static sess *get_or_add(registry *reg, uint64_t sid) {
  sess *s = find(reg, sid);
  if (s) return s;
  if (!(s = calloc(1, sizeof *s))) return NULL;
  s->id = sid;
  htab_init(&s->handles);
  htab_init(&s->owned);
  if (htab_put(&reg_sessions(reg)->by_id, id_key(&s->id), s, NULL) != 1) {
    free(s);
    return NULL;
  }
  return s;
}

/* Drops the entry of s when it holds nothing any more. */
static void forget_if_empty(registry *reg, sess *s) {
  if (htab_len(&s->handles) || htab_len(&s->owned)) return;
  htab_remove(&reg_sessions(reg)->by_id, id_key(&s->id), NULL);
  sess_free(NULL, s);
}

/* Adds delta to the count of id in t (removed at zero or below). Returns 0,
 * or -1 when out of memory. */
static int add_count(htab *t, uint64_t id, int64_t delta) {
  sm_span key = id_key(&id);
  void **slot = htab_find(t, key);
  int64_t now = (slot ? (int64_t)(uintptr_t)*slot : 0) + delta;
  if (now <= 0) {
    if (slot) htab_remove(t, key, NULL);
    return 0;
  }
  if (slot) {
    *slot = (void *)(uintptr_t)now;
    return 0;
  }
  return htab_put(t, key, (void *)(uintptr_t)now, NULL) == 1 ? 0 : -1;
}

int sess_hold(registry *reg, uint64_t sid, sm_obj *o) {
  if (o->name || sid == 0) return 0; /* named objects are not counted */
  sess *s = get_or_add(reg, sid);
  if (!s) return -1;
  int rc = add_count(&s->handles, o->id, 1);
  if (rc != 0) forget_if_empty(reg, s);
  return rc;
}

bool sess_release(registry *reg, uint64_t sid, uint64_t id) {
  sess *s = sid ? find(reg, sid) : NULL;
  if (!s || !htab_find(&s->handles, id_key(&id))) return false;
  add_count(&s->handles, id, -1);
  forget_if_empty(reg, s);
  reg_decref(reg, reg_get(reg, id));
  return true;
}

int sess_note_owned(registry *reg, uint64_t sid, sm_obj *o, int64_t delta) {
  if (sid == 0) return 0;
  sess *s = delta > 0 ? get_or_add(reg, sid) : find(reg, sid);
  if (!s) return delta > 0 ? -1 : 0;
  int rc = add_count(&s->owned, o->id, delta);
  forget_if_empty(reg, s);
  return rc;
}

uint64_t sess_owned_units(registry *reg, uint64_t sid, uint64_t id) {
  sess *s = sid ? find(reg, sid) : NULL;
  void **slot = s ? htab_find(&s->owned, id_key(&id)) : NULL;
  return slot ? (uint64_t)(uintptr_t)*slot : 0;
}

bool sess_holds_anything(registry *reg, uint64_t sid) { return sid && find(reg, sid) != NULL; }

void sess_end(registry *reg, uint64_t sid) {
  sess *s = sid ? find(reg, sid) : NULL;
  if (!s) return;
  /* Out of the table first: the hooks below may not find it half done. */
  htab_remove(&reg_sessions(reg)->by_id, id_key(&s->id), NULL);
  size_t pos = 0;
  sm_span key;
  void *val;
  while (htab_next(&s->owned, &pos, &key, &val)) {
    uint64_t id;
    memcpy(&id, key.p, sizeof id);
    sm_obj *o = reg_get(reg, id);
    if (o && o->type->owner_gone) o->type->owner_gone(reg, o, sid, (uint64_t)(uintptr_t)val);
  }
  pos = 0;
  while (htab_next(&s->handles, &pos, &key, &val)) {
    uint64_t id;
    memcpy(&id, key.p, sizeof id);
    for (uintptr_t n = (uintptr_t)val; n > 0; n--)
      reg_decref(reg, reg_get(reg, id));
  }
  sess_free(NULL, s);
}

/* Appends [id, count, ...] of t as one list. */
static void save_counts(vbuf *out, const htab *t) {
  size_t list = vb_list_begin(out);
  size_t pos = 0;
  sm_span key;
  void *val;
  uint8_t raw[16];
  while (htab_next(t, &pos, &key, &val)) {
    uint64_t id;
    memcpy(&id, key.p, sizeof id);
    vbuf v = {.p = raw, .cap = sizeof raw};
    vb_int(&v, (int64_t)id);
    vb_list_item(out, vb_span(&v));
    v.len = 0;
    vb_int(&v, (int64_t)(uintptr_t)val);
    vb_list_item(out, vb_span(&v));
  }
  vb_list_end(out, list);
}

int sess_save(registry *reg, vbuf *out) {
  size_t list = vb_list_begin(out);
  size_t pos = 0;
  sm_span key;
  void *val;
  uint8_t raw[16];
  while (htab_next(&reg_sessions(reg)->by_id, &pos, &key, &val)) {
    const sess *s = val;
    size_t item = vb_list_begin_item(out);
    size_t entry = vb_list_begin(out);
    vbuf v = {.p = raw, .cap = sizeof raw};
    vb_int(&v, (int64_t)s->id);
    vb_list_item(out, vb_span(&v));
    size_t sub = vb_list_begin_item(out);
    save_counts(out, &s->handles);
    vb_list_end_item(out, sub);
    sub = vb_list_begin_item(out);
    save_counts(out, &s->owned);
    vb_list_end_item(out, sub);
    vb_list_end(out, entry);
    vb_list_end_item(out, item);
  }
  vb_list_end(out, list);
  return out->failed ? -1 : 0;
}

/* Reads the [id, count, ...] list v into t. Returns false when v is not
 * such a list or memory runs out. */
static bool load_counts(sm_span v, htab *t) {
  vinfo vi;
  if (vw_peek(v, &vi) != VW_OK || vi.kind != VK_LIST) return false;
  vw_iter it;
  vw_iter_init(&it, vi.data);
  sm_span a, b;
  while (vw_list_next(&it, &a)) {
    vinfo id, n;
    if (!vw_list_next(&it, &b) || vw_peek(a, &id) != VW_OK || vw_peek(b, &n) != VW_OK ||
        id.kind != VK_INT || n.kind != VK_INT || n.i <= 0 || add_count(t, (uint64_t)id.i, n.i) != 0)
      return false;
  }
  return true;
}

int sess_load(registry *reg, sm_span saved, char *err, size_t errlen) {
  vinfo vi;
  if (vw_scan(saved, VW_DEPTH_MAX, &vi, NULL) != VW_OK || vi.kind != VK_LIST) {
    snprintf(err, errlen, "the sessions table is not a list");
    return -1;
  }
  vw_iter it;
  vw_iter_init(&it, vi.data);
  sm_span entry;
  while (vw_list_next(&it, &entry)) {
    vinfo ev, idv;
    sm_span sid, handles, owned;
    vw_iter fields;
    if (vw_peek(entry, &ev) != VW_OK || ev.kind != VK_LIST) goto bad;
    vw_iter_init(&fields, ev.data);
    if (!vw_list_next(&fields, &sid) || !vw_list_next(&fields, &handles) ||
        !vw_list_next(&fields, &owned) || vw_peek(sid, &idv) != VW_OK || idv.kind != VK_INT ||
        idv.i <= 0 || find(reg, (uint64_t)idv.i))
      goto bad;
    sess *s = get_or_add(reg, (uint64_t)idv.i);
    if (!s) {
      snprintf(err, errlen, "out of memory loading the sessions table");
      return -1;
    }
    if (!load_counts(handles, &s->handles) || !load_counts(owned, &s->owned)) goto bad;
    forget_if_empty(reg, s);
  }
  return 0;
bad:
  snprintf(err, errlen, "the sessions table has an entry that is not [session, refs, owned]");
  return -1;
}

void sess_each_orphan(registry *reg, void (*fn)(void *ctx, uint64_t sid), void *ctx) {
  size_t pos = 0;
  sm_span key;
  void *val;
  while (htab_next(&reg_sessions(reg)->by_id, &pos, &key, &val)) {
    const sess *s = val;
    if (reg_id_stale(reg, s->id)) fn(ctx, s->id);
  }
}
