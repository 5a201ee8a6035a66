/* SPDX-License-Identifier: MIT */
/* codec.c - sm_value trees to packed Value bytes and back.
 *
 * Encoding writes through the vbuf composer of proto/vwire.h, so the bytes
 * are the canonical form the daemon stores and compares (map entries in
 * insertion order). Decoding validates the whole reply once with vw_scan,
 * then walks it with vw_peek and the iterators. Encoding is bounded by the
 * limit the caller gives (the daemon's --max-depth, from the handshake),
 * decoding by VW_DEPTH_REPLY_MAX, above anything a daemon may store and
 * wrap in a result; both bound the recursion here.
 *
 * This file uses only value_internal.h, vwire and the public API, so the
 * value suite can compile it in and test the round trip directly. */
#include "value_internal.h"

static int encode(const sm_value *v, vbuf *b, unsigned depth_left);

/* Writes the entries of a map; keys and values go through scratch buffers
 * because vb_map_entry wants each as a finished span. */
static int encode_map(const sm_value *m, vbuf *b, unsigned depth_left) {
  vbuf kb, vb;
  vb_init(&kb);
  vb_init(&vb);
  int rc = 0;
  size_t mark = vb_map_begin(b);
  for (size_t i = 0; i < m->u.map.n && rc == 0; i++) {
    vb_reset(&kb);
    vb_reset(&vb);
    rc = encode(m->u.map.entries[i].key, &kb, depth_left);
    if (rc == 0) rc = encode(m->u.map.entries[i].val, &vb, depth_left);
    if (rc == 0) vb_map_entry(b, vb_span(&kb), vb_span(&vb));
  }
  vb_map_end(b, mark);
  vb_free(&kb);
  vb_free(&vb);
  return rc;
}

static int encode(const sm_value *v, vbuf *b, unsigned depth_left) {
  int rc = 0;
  switch (v ? v->type : SM_NIL) {
  case SM_NIL: break; /* the empty message */
  case SM_BOOL: vb_bool(b, v->u.b); break;
  case SM_INT: vb_int(b, v->u.i); break;
  case SM_DOUBLE: vb_double(b, v->u.d); break;
  case SM_STR: vb_str(b, v->u.s.p, v->u.s.n); break;
  case SM_BYTES: vb_bytes(b, v->u.s.p, v->u.s.n); break;
  case SM_REF: vb_ref(b, v->u.ref.id, v->u.ref.type); break;
  case SM_LIST: {
    if (depth_left == 0) return SM_EVALUE;
    size_t mark = vb_list_begin(b);
    for (size_t i = 0; i < v->u.list.n && rc == 0; i++) {
      size_t item = vb_list_begin_item(b);
      rc = encode(v->u.list.items[i], b, depth_left - 1);
      vb_list_end_item(b, item);
    }
    vb_list_end(b, mark);
    break;
  }
  case SM_MAP:
    if (depth_left == 0) return SM_EVALUE;
    rc = encode_map(v, b, depth_left - 1);
    break;
  }
  if (rc == 0 && b->failed) rc = SM_ENOMEM;
  return rc;
}

int val_encode(const sm_value *v, vbuf *out, unsigned max_depth) {
  return encode(v, out, max_depth);
}

/* Builds the value of bytes that vw_scan accepted. Returns 0 or SM_ENOMEM. */
static int build(sm_span in, sm_value **out) {
  vinfo vi;
  if (vw_peek(in, &vi) != VW_OK) return SM_EPROTO;
  sm_value *v = NULL;
  vw_iter it;
  switch (vi.kind) {
  case VK_NIL: v = val_new(SM_NIL); break;
  case VK_BOOL:
    if ((v = val_new(SM_BOOL))) v->u.b = vi.b;
    break;
  case VK_INT:
    if ((v = val_new(SM_INT))) v->u.i = vi.i;
    break;
  case VK_DOUBLE:
    if ((v = val_new(SM_DOUBLE))) v->u.d = vi.d;
    break;
  case VK_STR: v = sm_value_strn((const char *)vi.data.p, vi.data.n); break;
  case VK_BYTES: v = sm_value_bytes(vi.data.p, vi.data.n); break;
  case VK_REF: v = val_ref_new(vi.ref_id, (const char *)vi.data.p, vi.data.n); break;
  case VK_LIST: {
    if (!(v = val_new(SM_LIST))) break;
    sm_span item;
    vw_iter_init(&it, vi.data);
    while (vw_list_next(&it, &item)) {
      sm_value *e = NULL;
      int rc = build(item, &e);
      if (rc == 0 && !val_list_push(v, e)) {
        sm_value_free(e);
        rc = SM_ENOMEM;
      }
      if (rc != 0) {
        sm_value_free(v);
        return rc;
      }
    }
    break;
  }
  case VK_MAP: {
    if (!(v = val_new(SM_MAP))) break;
    sm_span ks, vs;
    vw_iter_init(&it, vi.data);
    while (vw_map_next(&it, &ks, &vs)) {
      sm_value *k = NULL, *e = NULL;
      int rc = build(ks, &k);
      if (rc == 0) rc = build(vs, &e);
      if (rc == 0) rc = val_map_put(v, k, e); /* merges equal keys, as a Python dict */
      if (rc != 0) {
        sm_value_free(k);
        sm_value_free(e);
        sm_value_free(v);
        return rc;
      }
    }
    break;
  }
  }
  if (!v) return SM_ENOMEM;
  *out = v;
  return 0;
}

int val_decode(sm_span in, sm_value **out) {
  if (vw_scan(in, VW_DEPTH_REPLY_MAX, NULL, NULL) != VW_OK) return SM_EPROTO;
  return build(in, out);
}
