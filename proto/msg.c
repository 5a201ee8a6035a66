/* msg.c - protobuf-c glue for the protocol messages (see msg.h). */
#include "msg.h"

#include "frame.h"
#include "statemgr.pb-c.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Requests and responses are decoded into a per-thread arena instead of
 * malloc: a decoded message is released before the thread decodes many
 * more, so the arena is reset whenever no decoded message is alive. Pieces
 * that do not fit fall back to malloc. This takes the allocator off the
 * per-request path on both sides. */
#define ARENA_SIZE (32u * 1024u)

typedef struct arena {
  size_t used;
  unsigned live; /* decoded messages not yet released */
  _Alignas(max_align_t) uint8_t buf[ARENA_SIZE];
} arena;

static _Thread_local arena tl_arena;

static void *arena_alloc(void *data, size_t n) {
  arena *a = data;
  size_t need = (n + 15u) & ~(size_t)15u;
  if (need >= n && need <= ARENA_SIZE - a->used) {
    void *p = a->buf + a->used;
    a->used += need;
    return p;
  }
  return malloc(n);
}

static void arena_free(void *data, void *p) {
  arena *a = data;
  uint8_t *b = p;
  if (b >= a->buf && b < a->buf + ARENA_SIZE) return; /* reclaimed by the reset */
  free(p);
}

/* The allocator for this thread's arena. */
static ProtobufCAllocator arena_allocator(void) {
  return (ProtobufCAllocator){
      .alloc = arena_alloc, .free = arena_free, .allocator_data = &tl_arena};
}

static void arena_taken(bool ok) {
  if (ok)
    tl_arena.live++;
  else if (tl_arena.live == 0)
    tl_arena.used = 0; /* a failed decode freed its pieces */
}

static void arena_given_back(void) {
  if (--tl_arena.live == 0) tl_arena.used = 0;
}

/* Packs msg as one frame at the end of out. */
static int encode_frame(vbuf *out, const ProtobufCMessage *msg) {
  size_t n = protobuf_c_message_get_packed_size(msg);
  if (n > UINT32_MAX) return -1;
  uint8_t *at = vb_grow(out, FRAME_HEADER_LEN + n);
  if (!at) return -1;
  frame_put_header(at, (uint32_t)n);
  protobuf_c_message_pack(msg, at + FRAME_HEADER_LEN);
  return 0;
}

static ProtobufCBinaryData bin(sm_span s) {
  return (ProtobufCBinaryData){.len = s.n, .data = (uint8_t *)(uintptr_t)s.p};
}

/* ---- requests ---- */

int wire_request_decode(sm_span payload, wire_request *out) {
  memset(out, 0, sizeof *out);
  ProtobufCAllocator al = arena_allocator();
  Statemgr__Request *m = statemgr__request__unpack(&al, payload.n, payload.p);
  arena_taken(m != NULL);
  if (!m) return -1;
  out->seq = m->seq;
  out->object = m->object;
  out->method = m->method;
  out->nargs = m->n_args;
  out->has_timeout = m->has_timeout_ms;
  out->timeout_ms = m->timeout_ms;
  out->msg = m;
  return 0;
}

sm_span wire_request_arg(const wire_request *r, size_t i) {
  const Statemgr__Request *m = r->msg;
  if (!m || i >= m->n_args) return (sm_span){NULL, 0};
  return (sm_span){m->args[i].data, m->args[i].len};
}

void wire_request_release(wire_request *r) {
  if (r->msg) {
    ProtobufCAllocator al = arena_allocator();
    statemgr__request__free_unpacked(r->msg, &al);
    arena_given_back();
  }
  r->msg = NULL;
}

int wire_request_encode(vbuf *out, const wire_request_out *r) {
  ProtobufCBinaryData local[8];
  ProtobufCBinaryData *args = local;
  if (r->nargs > 8 && !(args = calloc(r->nargs, sizeof *args))) return -1;
  for (size_t i = 0; i < r->nargs; i++)
    args[i] = bin(r->args[i]);
  Statemgr__Request m = STATEMGR__REQUEST__INIT;
  m.seq = r->seq;
  m.object = r->object;
  m.method = (char *)(uintptr_t)r->method;
  m.n_args = r->nargs;
  m.args = args;
  m.has_timeout_ms = r->has_timeout;
  m.timeout_ms = r->timeout_ms;
  int rc = encode_frame(out, &m.base);
  if (args != local) free(args);
  return rc;
}

/* ---- responses ---- */

int wire_response_decode(sm_span payload, wire_response *out) {
  memset(out, 0, sizeof *out);
  ProtobufCAllocator al = arena_allocator();
  Statemgr__Response *m = statemgr__response__unpack(&al, payload.n, payload.p);
  arena_taken(m != NULL);
  if (!m) return -1;
  if ((int)m->status < 0 || (int)m->status > WS_MAX) {
    statemgr__response__free_unpacked(m, &al);
    arena_given_back();
    return -1;
  }
  out->seq = m->seq;
  out->status = (int)m->status;
  out->has_result = m->has_result;
  out->result = (sm_span){m->result.data, m->result.len};
  out->error = m->error;
  out->msg = m;
  return 0;
}

void wire_response_release(wire_response *r) {
  if (r->msg) {
    ProtobufCAllocator al = arena_allocator();
    statemgr__response__free_unpacked(r->msg, &al);
    arena_given_back();
  }
  r->msg = NULL;
}

static void response_msg(const wire_response_out *r, Statemgr__Response *m) {
  statemgr__response__init(m);
  m->seq = r->seq;
  m->status = (Statemgr__Status)r->status;
  m->has_result = r->has_result;
  m->result = bin(r->result);
  m->error = (char *)(uintptr_t)r->error;
}

size_t wire_response_frame_size(const wire_response_out *r) {
  Statemgr__Response m;
  response_msg(r, &m);
  return FRAME_HEADER_LEN + statemgr__response__get_packed_size(&m);
}

void wire_response_frame_pack(const wire_response_out *r, uint8_t *out) {
  Statemgr__Response m;
  response_msg(r, &m);
  size_t n = statemgr__response__pack(&m, out + FRAME_HEADER_LEN);
  frame_put_header(out, (uint32_t)n);
}

int wire_response_encode(vbuf *out, const wire_response_out *r) {
  Statemgr__Response m;
  response_msg(r, &m);
  return encode_frame(out, &m.base);
}

/* ---- handshake ---- */

int wire_hello_encode(vbuf *out, const uint8_t challenge[AUTH_CHALLENGE_LEN]) {
  Statemgr__Hello m = STATEMGR__HELLO__INIT;
  m.version = AUTH_PROTOCOL_VERSION;
  m.challenge = bin((sm_span){challenge, AUTH_CHALLENGE_LEN});
  return encode_frame(out, &m.base);
}

int wire_hello_decode(sm_span payload, uint32_t *version, uint8_t challenge[AUTH_CHALLENGE_LEN]) {
  Statemgr__Hello *m = statemgr__hello__unpack(NULL, payload.n, payload.p);
  if (!m) return -1;
  int rc = -1;
  if (m->challenge.len == AUTH_CHALLENGE_LEN) {
    *version = m->version;
    memcpy(challenge, m->challenge.data, AUTH_CHALLENGE_LEN);
    rc = 0;
  }
  statemgr__hello__free_unpacked(m, NULL);
  return rc;
}

int wire_auth_encode(vbuf *out, const uint8_t mac[AUTH_MAC_LEN],
                     const uint8_t challenge[AUTH_CHALLENGE_LEN], const char *client_name) {
  Statemgr__Auth m = STATEMGR__AUTH__INIT;
  m.version = AUTH_PROTOCOL_VERSION;
  m.mac = bin((sm_span){mac, AUTH_MAC_LEN});
  m.challenge = bin((sm_span){challenge, AUTH_CHALLENGE_LEN});
  m.client_name = (char *)(uintptr_t)client_name;
  return encode_frame(out, &m.base);
}

int wire_auth_decode(sm_span payload, uint32_t *version, uint8_t mac[AUTH_MAC_LEN],
                     uint8_t challenge[AUTH_CHALLENGE_LEN], char *name, size_t namelen) {
  Statemgr__Auth *m = statemgr__auth__unpack(NULL, payload.n, payload.p);
  if (!m) return -1;
  int rc = -1;
  if (m->mac.len == AUTH_MAC_LEN && m->challenge.len == AUTH_CHALLENGE_LEN) {
    *version = m->version;
    memcpy(mac, m->mac.data, AUTH_MAC_LEN);
    memcpy(challenge, m->challenge.data, AUTH_CHALLENGE_LEN);
    if (namelen) snprintf(name, namelen, "%s", m->client_name ? m->client_name : "");
    rc = 0;
  }
  statemgr__auth__free_unpacked(m, NULL);
  return rc;
}

int wire_auth_result_encode(vbuf *out, int status, const uint8_t *mac, const char *error) {
  Statemgr__AuthResult m = STATEMGR__AUTH_RESULT__INIT;
  m.status = (Statemgr__Status)status;
  if (mac) {
    m.has_mac = 1;
    m.mac = bin((sm_span){mac, AUTH_MAC_LEN});
  }
  m.error = (char *)(uintptr_t)error;
  return encode_frame(out, &m.base);
}

int wire_auth_result_decode(sm_span payload, int *status, uint8_t mac[AUTH_MAC_LEN], bool *has_mac,
                            char *err, size_t errlen) {
  Statemgr__AuthResult *m = statemgr__auth_result__unpack(NULL, payload.n, payload.p);
  if (!m) return -1;
  int rc = -1;
  if ((int)m->status >= 0 && (int)m->status <= WS_MAX &&
      (!m->has_mac || m->mac.len == AUTH_MAC_LEN)) {
    *status = (int)m->status;
    *has_mac = m->has_mac;
    if (m->has_mac) memcpy(mac, m->mac.data, AUTH_MAC_LEN);
    if (errlen) snprintf(err, errlen, "%s", m->error ? m->error : "");
    rc = 0;
  }
  statemgr__auth_result__free_unpacked(m, NULL);
  return rc;
}
