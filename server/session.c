/* SPDX-License-Identifier: MIT */
/* session.c - the sessions table: per session, its references to anonymous
 * objects and the units it owns (see session.h). Both are htabs of object
 * id -> count, so a session that holds many objects gives each back once.
 * A kept session also has its reply table: its kept answers by seq.
 * Kept answers are data: each counts in the registry's used memory
 * (memory.h) from keeping to freeing, as Redis counts client output
 * buffers, so --max-memory refuses growing calls once unacknowledged
 * answers fill it (nothing is evicted; the client's ack frees them).
 *
 * Every request of a kept session asks the table several times (is it
 * kept, was this seq answered, what was acknowledged, keep this answer),
 * so both lookups are cheap: the table remembers the entries it found
 * lately, one per id modulo SESS_RECENT (session ids of connections follow
 * each other, so many clients taking turns each find theirs without
 * hashing), and a reply table is an
 * array sorted by seq, not a hash table: seqs grow, so an answer is
 * appended, an acknowledgement drops a prefix, and a seq above the last
 * one kept (every new request) is known absent without a search. Small
 * answers live in the array itself: no allocation for an int or a nil.
 * A grant's answer keeps its fencing token too, and OWNER_DEAD as its
 * status when the last holder died: the token's 8 bytes follow the
 * answer's (REPLY_TOKEN), so the other answers, whose token is 0, pay
 * nothing for it and the entry stays 32 bytes. */
#include "session.h"

#include "memory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Answers up to this many bytes are kept inside their entry (an entry
 * is then 32 bytes). */
#define REPLY_INLINE 16

/* reply.flags: the last 8 bytes are the grant's fencing token (host
 * order; never saved so), not the answer's. */
#define REPLY_TOKEN 1u

/* One kept answer: the result when status is OK or OWNER_DEAD (a grant),
 * else the error text. */
typedef struct reply {
  uint64_t seq;
  uint32_t n;     /* bytes kept: the answer's, and the token's with REPLY_TOKEN */
  int16_t status; /* WS_* */
  uint16_t flags; /* REPLY_* */
  union {
    uint8_t in[REPLY_INLINE]; /* n <= REPLY_INLINE */
    uint8_t *heap;            /* owned, n > REPLY_INLINE */
  } b;
} reply;
_Static_assert(sizeof(reply) == 32, "a reply entry is 32 bytes");

/* The kept answers of a session, sorted by seq: v[first..end). */
typedef struct reply_table {
  reply *v; /* owned */
  size_t first, end, cap;
} reply_table;

typedef struct sess {
  uint64_t id;
  htab handles;   /* object id -> references held (uintptr_t) */
  htab owned;     /* object id -> units held (lock acquisitions, semaphore units) */
  htab ephemeral; /* object id -> 1: the ephemeral objects its end deletes */
  bool kept;      /* sess_begin: stays while empty, keeps answers */
  bool attached;  /* a connection of this run has it (never saved) */
  uint64_t acked; /* the client has every answer up to this seq */
  uint64_t key;   /* a resume must name it (session ids are not secret) */
  reply_table replies;
} sess;

static const uint8_t *reply_bytes(const reply *r) {
  return r->n > REPLY_INLINE ? r->b.heap : r->b.in;
}

/* The answer's bytes, without the token's. */
static sm_span reply_answer(const reply *r) {
  return (sm_span){reply_bytes(r), r->n - (r->flags & REPLY_TOKEN ? sizeof(uint64_t) : 0)};
}

/* The grant's fencing token, 0 when none. */
static uint64_t reply_token(const reply *r) {
  uint64_t token = 0;
  if (r->flags & REPLY_TOKEN) memcpy(&token, reply_bytes(r) + r->n - sizeof token, sizeof token);
  return token;
}

/* The status carries a result, not an error text (a grant's OWNER_DEAD). */
static bool status_has_result(int status) { return status == WS_OK || status == WS_OWNER_DEAD; }

/* What a kept answer weighs in the used memory: its slot in the array and
 * its bytes' block when they are not inline. Counted where the answer is
 * made (reply_set) and where it goes (reply_drop, or replies_ack for many
 * at once), nowhere else. */
static size_t reply_mem(const reply *r) {
  return sizeof *r + (r->n > REPLY_INLINE ? mem_chunk(r->n) : 0);
}

/* Frees what r holds and uncounts it (reg NULL: the registry is going and
 * nothing is counted any more). */
static void reply_drop(registry *reg, reply *r) {
  if (reg) mem_sub(reg_mem(reg), reply_mem(r));
  if (r->n > REPLY_INLINE) free(r->b.heap);
}

/* Makes *r, which holds nothing, the answer of seq: status, a copy of
 * bytes (the result when OK or OWNER_DEAD, else the error text) and a
 * grant's token (0: none), counted in reg's used memory. Returns 0, or -1
 * when out of memory (r unchanged). */
static int reply_set(registry *reg, reply *r, uint64_t seq, int status, sm_span bytes,
                     uint64_t token) {
  size_t n = bytes.n + (token ? sizeof token : 0);
  if (n > UINT32_MAX) return -1;
  uint8_t *heap = NULL;
  if (n > REPLY_INLINE && !(heap = malloc(n))) return -1;
  r->seq = seq;
  r->n = (uint32_t)n;
  r->status = (int16_t)status;
  r->flags = token ? REPLY_TOKEN : 0;
  uint8_t *to = heap ? heap : r->b.in;
  if (heap) r->b.heap = heap;
  if (bytes.n) memcpy(to, bytes.p, bytes.n);
  if (token) memcpy(to + bytes.n, &token, sizeof token);
  mem_add(reg_mem(reg), reply_mem(r));
  return 0;
}

static size_t replies_len(const reply_table *t) { return t->end - t->first; }

/* Frees the table's answers (reg: as reply_drop's). */
static void replies_free(registry *reg, reply_table *t) {
  for (size_t i = t->first; i < t->end; i++)
    reply_drop(reg, &t->v[i]);
  free(t->v);
  *t = (reply_table){0};
}

/* The position of the first entry whose seq is at least seq. */
static size_t replies_lower_bound(const reply_table *t, uint64_t seq) {
  size_t lo = t->first, hi = t->end;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (t->v[mid].seq < seq)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

/* The entry of seq, or NULL. */
static const reply *replies_find(const reply_table *t, uint64_t seq) {
  if (t->first == t->end || seq > t->v[t->end - 1].seq || seq < t->v[t->first].seq) return NULL;
  size_t at = replies_lower_bound(t, seq);
  return at < t->end && t->v[at].seq == seq ? &t->v[at] : NULL;
}

/* Room for one more entry at the end: the acknowledged prefix is reused
 * when it is at least as long as what is kept (so each entry moved buys a
 * free slot), else the array grows. Returns false when out of memory. */
static bool replies_room(reply_table *t) {
  if (t->end < t->cap) return true;
  if (t->first > 0 && t->first >= replies_len(t)) {
    memmove(t->v, t->v + t->first, replies_len(t) * sizeof *t->v);
    t->end -= t->first;
    t->first = 0;
    return true;
  }
  size_t cap = t->cap ? t->cap * 2 : 16;
  reply *v = realloc(t->v, cap * sizeof *v);
  if (!v) return false;
  t->v = v;
  t->cap = cap;
  return true;
}

/* Keeps status, bytes and token as the answer of seq (reply_set):
 * appended when seq is the highest (a new call), else put in its place (a
 * parked call answered after newer ones), replacing the answer of the
 * same seq (a replay of a resent call never makes one). Returns 0, or -1
 * when out of memory. */
static int replies_put(registry *reg, reply_table *t, uint64_t seq, int status, sm_span bytes,
                       uint64_t token) {
  bool last = t->first == t->end || seq > t->v[t->end - 1].seq;
  if (last) { /* the usual case: written in place at the end */
    if (!replies_room(t) || reply_set(reg, &t->v[t->end], seq, status, bytes, token) != 0)
      return -1;
    t->end++;
    return 0;
  }
  reply r = {0};
  size_t same = replies_lower_bound(t, seq);
  if (t->v[same].seq == seq) {
    if (reply_set(reg, &r, seq, status, bytes, token) != 0) return -1;
    reply_drop(reg, &t->v[same]);
    t->v[same] = r;
    return 0;
  }
  if (reply_set(reg, &r, seq, status, bytes, token) != 0) return -1;
  if (!replies_room(t)) {
    reply_drop(reg, &r);
    return -1;
  }
  size_t at = replies_lower_bound(t, seq); /* the room made may move entries */
  memmove(&t->v[at + 1], &t->v[at], (t->end - at) * sizeof *t->v);
  t->v[at] = r;
  t->end++;
  return 0;
}

/* Drops the answers of seqs up to ack: a prefix, the table being sorted. */
static void replies_ack(registry *reg, reply_table *t, uint64_t ack) {
  size_t bytes = 0; /* uncounted at once */
  for (; t->first < t->end && t->v[t->first].seq <= ack; t->first++) {
    reply *r = &t->v[t->first];
    bytes += reply_mem(r);
    if (r->n > REPLY_INLINE) free(r->b.heap);
  }
  if (bytes) mem_sub(reg_mem(reg), bytes);
  if (t->first == t->end) t->first = t->end = 0;
}

static sm_span id_key(const uint64_t *id) { return (sm_span){(const uint8_t *)id, sizeof *id}; }

/* Frees a session entry (an htab_free_fn; ctx: the registry its kept
 * answers are counted in, as reply_drop's reg). */
static void sess_free(void *ctx, void *val) {
  sess *s = val;
  htab_clear(&s->handles, NULL, NULL);
  htab_clear(&s->owned, NULL, NULL);
  htab_clear(&s->ephemeral, NULL, NULL);
  replies_free(ctx, &s->replies);
  free(s);
}

void sess_init(sess_table *t) {
  htab_init(&t->by_id);
  memset(t->recent, 0, sizeof t->recent);
}

void sess_fini(sess_table *t) {
  htab_clear(&t->by_id, sess_free, NULL);
  memset(t->recent, 0, sizeof t->recent);
}

static sess *find(registry *reg, uint64_t sid) {
  sess_table *t = reg_sessions(reg);
  sess **recent = &t->recent[sid % SESS_RECENT];
  if (*recent && (*recent)->id == sid) return *recent;
  void **slot = htab_find(&t->by_id, id_key(&sid));
  if (!slot) return NULL;
  *recent = *slot;
  return *recent;
}

/* Takes s out of the table (it is freed next, or being ended). */
static void unlink_sess(registry *reg, sess *s) {
  sess_table *t = reg_sessions(reg);
  if (t->recent[s->id % SESS_RECENT] == s) t->recent[s->id % SESS_RECENT] = NULL;
  htab_remove(&t->by_id, id_key(&s->id), NULL);
}

/* The entry of sid, made when missing. NULL when out of memory. */
static sess *get_or_add(registry *reg, uint64_t sid) {
  sess *s = find(reg, sid);
  if (s) return s;
  if (!(s = calloc(1, sizeof *s))) return NULL;
  s->id = sid;
  htab_init(&s->handles);
  htab_init(&s->owned);
  htab_init(&s->ephemeral);
  if (htab_put(&reg_sessions(reg)->by_id, id_key(&s->id), s, NULL) != 1) {
    free(s);
    return NULL;
  }
  return s;
}

/* Drops the entry of s when it holds nothing any more. */
static void forget_if_empty(registry *reg, sess *s) {
  if (s->kept || htab_len(&s->handles) || htab_len(&s->owned) || htab_len(&s->ephemeral)) return;
  unlink_sess(reg, s);
  sess_free(reg, s);
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

int sess_note_ephemeral(registry *reg, uint64_t sid, sm_obj *o) {
  if (sid == 0) return 0;
  sess *s = get_or_add(reg, sid);
  if (!s) return -1;
  if (add_count(&s->ephemeral, o->id, 1) != 0) {
    forget_if_empty(reg, s);
    return -1;
  }
  o->eph_session = sid;
  return 0;
}

void sess_forget_ephemeral(registry *reg, uint64_t sid, uint64_t id) {
  sess *s = sid ? find(reg, sid) : NULL;
  if (!s || !htab_remove(&s->ephemeral, id_key(&id), NULL)) return;
  forget_if_empty(reg, s);
}

uint64_t sess_owned_units(registry *reg, uint64_t sid, uint64_t id) {
  sess *s = sid ? find(reg, sid) : NULL;
  void **slot = s ? htab_find(&s->owned, id_key(&id)) : NULL;
  return slot ? (uint64_t)(uintptr_t)*slot : 0;
}

bool sess_holds_anything(registry *reg, uint64_t sid) { return sid && find(reg, sid) != NULL; }

bool sess_holds_objects(registry *reg, uint64_t sid) {
  sess *s = sid ? find(reg, sid) : NULL;
  return s && (htab_len(&s->handles) || htab_len(&s->owned) || htab_len(&s->ephemeral));
}

uint64_t sess_ref_count(registry *reg, uint64_t sid) {
  sess *s = sid ? find(reg, sid) : NULL;
  uint64_t n = 0;
  size_t pos = 0;
  sm_span key;
  void *val;
  while (s && htab_next(&s->handles, &pos, &key, &val))
    n += (uint64_t)(uintptr_t)val;
  return n;
}

void sess_each_owned(registry *reg, uint64_t sid,
                     void (*fn)(void *ctx, uint64_t id, uint64_t units), void *ctx) {
  sess *s = sid ? find(reg, sid) : NULL;
  size_t pos = 0;
  sm_span key;
  void *val;
  while (s && htab_next(&s->owned, &pos, &key, &val)) {
    uint64_t id;
    memcpy(&id, key.p, sizeof id);
    fn(ctx, id, (uint64_t)(uintptr_t)val);
  }
}

void sess_each_holder(registry *reg, uint64_t id, holder_visit_fn fn, void *ctx) {
  sess_table *t = reg_sessions(reg);
  size_t pos = 0;
  sm_span key;
  void *val;
  while (htab_next(&t->by_id, &pos, &key, &val)) {
    sess *s = val;
    void **slot = htab_find(&s->owned, id_key(&id));
    if (slot && *slot) fn(ctx, s->id, (int64_t)(uintptr_t)*slot);
  }
}

int sess_begin(registry *reg, uint64_t sid, uint64_t key, bool attached) {
  if (sid == 0) return 0;
  sess *s = get_or_add(reg, sid);
  if (!s) return -1;
  s->kept = true;
  s->key = key;
  s->attached = attached;
  return 0;
}

int sess_attach(registry *reg, uint64_t sid, uint64_t key, char *why, size_t whylen) {
  sess *s = sid ? find(reg, sid) : NULL;
  if (!s || !s->kept) {
    snprintf(why, whylen,
             "session %llu cannot be resumed: the daemon has no such session (it ended: its "
             "client closed it, or it was not resumed in time after a restart)",
             (unsigned long long)sid);
    return -1;
  }
  if (key != s->key) {
    snprintf(why, whylen, "session %llu cannot be resumed: the key given is not its key",
             (unsigned long long)sid);
    return -1;
  }
  if (s->attached) {
    snprintf(why, whylen, "session %llu cannot be resumed: a live connection has it",
             (unsigned long long)sid);
    return -1;
  }
  s->attached = true;
  return 0;
}

bool sess_kept(registry *reg, uint64_t sid) {
  sess *s = sid ? find(reg, sid) : NULL;
  return s && s->kept;
}

bool sess_reply_find(registry *reg, uint64_t sid, uint64_t seq, int *status, sm_span *result,
                     uint64_t *token) {
  sess *s = sid ? find(reg, sid) : NULL;
  const reply *r = s && s->kept ? replies_find(&s->replies, seq) : NULL;
  if (!r) return false;
  *status = r->status;
  *result = reply_answer(r);
  *token = reply_token(r);
  return true;
}

/* Keeps an answer of a kept session's call seq not acknowledged yet. */
static int keep(registry *reg, uint64_t sid, uint64_t seq, int status, sm_span bytes,
                uint64_t token) {
  sess *s = sid ? find(reg, sid) : NULL;
  if (!s || !s->kept || seq == 0 || seq <= s->acked) return 0;
  return replies_put(reg, &s->replies, seq, status, bytes, token);
}

int sess_reply_keep(registry *reg, uint64_t sid, uint64_t seq, sm_span result) {
  return keep(reg, sid, seq, WS_OK, result, 0);
}

int sess_reply_keep_grant(registry *reg, uint64_t sid, uint64_t seq, sm_span result, uint64_t token,
                          bool owner_dead) {
  return keep(reg, sid, seq, owner_dead ? WS_OWNER_DEAD : WS_OK, result, token);
}

int sess_reply_keep_status(registry *reg, uint64_t sid, uint64_t seq, int status, sm_span bytes) {
  return keep(reg, sid, seq, status, bytes, 0);
}

void sess_ack(registry *reg, uint64_t sid, uint64_t ack) {
  sess *s = sid ? find(reg, sid) : NULL;
  if (!s || !s->kept || ack <= s->acked) return;
  s->acked = ack;
  replies_ack(reg, &s->replies, ack);
}

void sess_request_begin(registry *reg, uint64_t sid, uint64_t seq, uint64_t ack,
                        sess_request *out) {
  *out = (sess_request){0};
  sess *s = sid ? find(reg, sid) : NULL;
  if (!s) return;
  out->kept = s->kept;
  if (s->kept && seq) {
    if (ack > s->acked) {
      s->acked = ack;
      replies_ack(reg, &s->replies, ack);
    }
    const reply *r = replies_find(&s->replies, seq);
    if (r) {
      out->answered = true;
      out->status = r->status;
      out->result = reply_answer(r);
      out->token = reply_token(r);
    }
  }
  out->acked = s->acked;
  out->replies = replies_len(&s->replies);
}

uint64_t sess_acked(registry *reg, uint64_t sid) {
  sess *s = sid ? find(reg, sid) : NULL;
  return s ? s->acked : 0;
}

size_t sess_reply_count(registry *reg, uint64_t sid) {
  sess *s = sid ? find(reg, sid) : NULL;
  return s ? replies_len(&s->replies) : 0;
}

void sess_end(registry *reg, uint64_t sid) {
  sess *s = sid ? find(reg, sid) : NULL;
  if (!s) return;
  /* Out of the table first: the hooks below may not find it half done. */
  unlink_sess(reg, s);
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
  /* Last, its ephemeral objects (what it held of them is given back
   * above); s is out of the table, so their freeing finds nothing here. */
  pos = 0;
  while (htab_next(&s->ephemeral, &pos, &key, &val)) {
    uint64_t id;
    memcpy(&id, key.p, sizeof id);
    sm_obj *o = reg_get(reg, id);
    if (o && o->eph_session == sid) reg_destroy(reg, o);
  }
  sess_free(reg, s);
}

/* An integer held in a pointer-sized slot (a count, or a key passed so), as
 * a list item of out. */
static void put_int(vbuf *out, const void *val) {
  uint8_t raw[16];
  vbuf v = {.p = raw, .cap = sizeof raw}; /* a packed int takes at most 11 */
  vb_int(&v, (int64_t)(uintptr_t)val);
  vb_list_item(out, vb_span(&v));
}

/* A kept answer as a list item of out: its bytes (OK, no token), for an
 * error [status, text bytes], for a grant with a token or OWNER_DEAD
 * [status, result bytes, token] (a form older blobs never hold). */
static void put_reply(vbuf *out, const reply *r) {
  size_t item = vb_list_begin_item(out);
  sm_span answer = reply_answer(r);
  if (r->status == WS_OK && !(r->flags & REPLY_TOKEN)) {
    vb_bytes(out, answer.p, answer.n);
  } else {
    size_t list = vb_list_begin(out);
    vb_list_int(out, r->status);
    size_t text = vb_list_begin_item(out);
    vb_bytes(out, answer.p, answer.n);
    vb_list_end_item(out, text);
    if (status_has_result(r->status)) vb_list_int(out, (int64_t)reply_token(r));
    vb_list_end(out, list);
  }
  vb_list_end_item(out, item);
}

/* Reads a kept answer's item (put_reply): *status, *bytes and *token. */
static bool read_reply(sm_span v, int *status, sm_span *bytes, uint64_t *token) {
  vinfo vi, st, tx, tk;
  *token = 0;
  if (vw_peek(v, &vi) != VW_OK) return false;
  if (vi.kind == VK_BYTES) {
    *status = WS_OK;
    *bytes = vi.data;
    return true;
  }
  vw_iter it;
  sm_span a, b, c;
  if (vi.kind != VK_LIST) return false;
  vw_iter_init(&it, vi.data);
  if (!vw_list_next(&it, &a) || !vw_list_next(&it, &b) || vw_peek(a, &st) != VW_OK ||
      vw_peek(b, &tx) != VW_OK || st.kind != VK_INT || st.i < 0 || st.i > INT16_MAX ||
      tx.kind != VK_BYTES)
    return false;
  /* A grant's [status, result, token], else an error's [status, text]. */
  bool grant = status_has_result((int)st.i);
  if (grant != vw_list_next(&it, &c)) return false;
  if (grant) {
    if (vw_peek(c, &tk) != VW_OK || tk.kind != VK_INT || vw_list_next(&it, &c)) return false;
    *token = (uint64_t)tk.i;
  }
  *status = (int)st.i;
  *bytes = tx.data;
  return true;
}

/* Appends [key, value, ...] of t, a table keyed by 8-byte ids or seqs, as
 * one list, each value written by put_val. */
static void save_table(vbuf *out, const htab *t, void (*put_val)(vbuf *out, const void *val)) {
  size_t list = vb_list_begin(out);
  size_t pos = 0;
  sm_span key;
  void *val;
  while (htab_next(t, &pos, &key, &val)) {
    uint64_t k;
    memcpy(&k, key.p, sizeof k);
    put_int(out, (const void *)(uintptr_t)k);
    put_val(out, val);
  }
  vb_list_end(out, list);
}

/* Appends the reply table t as one list [seq, answer, ...] (put_reply). */
static void save_replies(vbuf *out, const reply_table *t) {
  size_t list = vb_list_begin(out);
  for (size_t i = t->first; i < t->end; i++) {
    vb_list_int(out, (int64_t)t->v[i].seq);
    put_reply(out, &t->v[i]);
  }
  vb_list_end(out, list);
}

/* Reads the [seq, answer, ...] list v into s's reply table. Returns false
 * when v is not such a list or memory runs out. */
static bool load_replies(registry *reg, sm_span v, sess *s) {
  vinfo vi;
  if (vw_peek(v, &vi) != VW_OK || vi.kind != VK_LIST) return false;
  vw_iter it;
  vw_iter_init(&it, vi.data);
  sm_span a, b;
  while (vw_list_next(&it, &a)) {
    vinfo seq;
    int status;
    sm_span bytes;
    uint64_t token;
    if (!vw_list_next(&it, &b) || vw_peek(a, &seq) != VW_OK || seq.kind != VK_INT || seq.i <= 0 ||
        !read_reply(b, &status, &bytes, &token) ||
        replies_put(reg, &s->replies, (uint64_t)seq.i, status, bytes, token) != 0)
      return false;
  }
  return true;
}

static int save_sessions(registry *reg, vbuf *out, bool holding);

int sess_save(registry *reg, vbuf *out) { return save_sessions(reg, out, false); }

int sess_save_holding(registry *reg, vbuf *out) { return save_sessions(reg, out, true); }

/* sess_save's body; holding: only the sessions that hold a reference or a
 * unit, without their reply tables (sess_save_holding). */
static int save_sessions(registry *reg, vbuf *out, bool holding) {
  size_t list = vb_list_begin(out);
  size_t pos = 0;
  sm_span key;
  void *val;
  uint8_t raw[16];
  while (htab_next(&reg_sessions(reg)->by_id, &pos, &key, &val)) {
    const sess *s = val;
    if (holding && htab_len(&s->handles) == 0 && htab_len(&s->owned) == 0 &&
        htab_len(&s->ephemeral) == 0)
      continue;
    size_t item = vb_list_begin_item(out);
    size_t entry = vb_list_begin(out);
    vbuf v = {.p = raw, .cap = sizeof raw};
    vb_int(&v, (int64_t)s->id);
    vb_list_item(out, vb_span(&v));
    size_t sub = vb_list_begin_item(out);
    save_table(out, &s->handles, put_int);
    vb_list_end_item(out, sub);
    sub = vb_list_begin_item(out);
    save_table(out, &s->owned, put_int);
    vb_list_end_item(out, sub);
    v.len = 0;
    vb_bool(&v, s->kept);
    vb_list_item(out, vb_span(&v));
    if (!holding) {
      v.len = 0;
      vb_int(&v, (int64_t)s->acked);
      vb_list_item(out, vb_span(&v));
      sub = vb_list_begin_item(out);
      save_replies(out, &s->replies);
      vb_list_end_item(out, sub);
    }
    v.len = 0;
    vb_int(&v, (int64_t)s->key);
    vb_list_item(out, vb_span(&v));
    if (htab_len(&s->ephemeral)) { /* only then: older daemons read the rest */
      sub = vb_list_begin_item(out);
      save_table(out, &s->ephemeral, put_int);
      vb_list_end_item(out, sub);
    }
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
    sm_span kept, acked, replies, key;
    if (vw_list_next(&fields, &kept)) { /* kept, acked, replies, key: newer blobs */
      vinfo kv, av, keyv;
      if (!vw_list_next(&fields, &acked) || !vw_list_next(&fields, &replies) ||
          !vw_list_next(&fields, &key) || vw_peek(kept, &kv) != VW_OK || kv.kind != VK_BOOL ||
          vw_peek(acked, &av) != VW_OK || av.kind != VK_INT || av.i < 0 ||
          vw_peek(key, &keyv) != VW_OK || keyv.kind != VK_INT)
        goto bad;
      s->kept = kv.b;
      s->acked = (uint64_t)av.i;
      s->key = (uint64_t)keyv.i;
      if (!load_replies(reg, replies, s)) goto bad;
      sm_span eph; /* newer still: its ephemeral objects */
      if (vw_list_next(&fields, &eph) && !load_counts(eph, &s->ephemeral)) goto bad;
    }
    forget_if_empty(reg, s);
  }
  return 0;
bad:
  snprintf(err, errlen,
           "the sessions table has an entry that is not [session, refs, owned, kept, acked, "
           "replies, key, ephemeral]");
  return -1;
}

void sess_each_orphan(registry *reg, void (*fn)(void *ctx, uint64_t sid), void *ctx) {
  size_t pos = 0;
  sm_span key;
  void *val;
  while (htab_next(&reg_sessions(reg)->by_id, &pos, &key, &val)) {
    const sess *s = val;
    if (reg_id_stale(reg, s->id) && !s->attached) fn(ctx, s->id);
  }
}
