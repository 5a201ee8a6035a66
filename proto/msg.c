/* SPDX-License-Identifier: MIT */
/* msg.c - protobuf-c glue for the protocol messages (see msg.h). */
#include "msg.h"

#include "frame.h"
#include "pbwire.h"
#include "statemgr.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

enum {
  REQ_SEQ = PB_TAG(1, PB_VARINT),
  REQ_OBJECT = PB_TAG(2, PB_VARINT),
  REQ_METHOD = PB_TAG(3, PB_LEN),
  REQ_ARGS = PB_TAG(4, PB_LEN),
  REQ_TIMEOUT = PB_TAG(5, PB_VARINT),
  REQ_TYPE = PB_TAG(6, PB_I32),
  REQ_ACK = PB_TAG(7, PB_VARINT),
  REQ_GUARD_OBJECT = PB_TAG(8, PB_VARINT),
  REQ_GUARD_TOKEN = PB_TAG(9, PB_VARINT),
  RESP_SEQ = PB_TAG(1, PB_VARINT),
  RESP_STATUS = PB_TAG(2, PB_VARINT),
  RESP_RESULT = PB_TAG(3, PB_LEN),
  RESP_ERROR = PB_TAG(4, PB_LEN),
  RESP_TOKEN = PB_TAG(5, PB_VARINT),
  RESP_LEADER = PB_TAG(6, PB_LEN),
};

static bool add_arg(wire_request *r, sm_span a) {
  if (r->nargs == r->args_cap) { /* full: move to a heap array twice as big */
    size_t cap = r->args_cap * 2;
    sm_span *p =
        r->args == r->args_inline ? malloc(cap * sizeof *p) : realloc(r->args, cap * sizeof *p);
    if (!p) return false;
    if (r->args == r->args_inline) memcpy(p, r->args_inline, r->nargs * sizeof *p);
    r->args = p;
    r->args_cap = cap;
  }
  r->args[r->nargs++] = a;
  return true;
}

int wire_request_decode(sm_span payload, wire_request *out) {
  out->seq = out->object = 0;
  out->nargs = 0;
  out->has_timeout = false;
  out->timeout_ms = 0;
  out->has_type = false;
  out->type = 0;
  out->ack = 0;
  out->guard_object = out->guard_token = 0;
  out->method = NULL;
  out->args = out->args_inline;
  out->args_cap = WIRE_ARGS_INLINE;
  bool seq = false, object = false, method = false;
  const uint8_t *p = payload.p, *end = payload.p + payload.n;
  while (p < end) {
    uint64_t key, v;
    sm_span s;
    if (!pb_get_varint(&p, end, &key)) goto bad;
    switch (key) {
    case REQ_SEQ:
      if (!pb_get_varint(&p, end, &out->seq)) goto bad;
      seq = true;
      break;
    case REQ_OBJECT:
      if (!pb_get_varint(&p, end, &out->object)) goto bad;
      object = true;
      break;
    case REQ_METHOD:
      if (!pb_get_len(&p, end, &s) || s.n > WIRE_METHOD_MAX || memchr(s.p, 0, s.n)) goto bad;
      memcpy(out->method_buf, s.p, s.n);
      out->method_buf[s.n] = '\0';
      method = true;
      break;
    case REQ_ARGS:
      if (!pb_get_len(&p, end, &s) || !add_arg(out, s)) goto bad;
      break;
    case REQ_TIMEOUT:
      if (!pb_get_varint(&p, end, &v)) goto bad;
      out->has_timeout = true;
      out->timeout_ms = pb_unzigzag(v);
      break;
    case REQ_TYPE:
      if (!pb_get_fixed32(&p, end, &out->type)) goto bad;
      out->has_type = true;
      break;
    case REQ_ACK:
      if (!pb_get_varint(&p, end, &out->ack)) goto bad;
      break;
    case REQ_GUARD_OBJECT:
      if (!pb_get_varint(&p, end, &out->guard_object)) goto bad;
      break;
    case REQ_GUARD_TOKEN:
      if (!pb_get_varint(&p, end, &out->guard_token)) goto bad;
      break;
    default:
      /* field 0 does not exist; a known field with a wrong wire type */
      if ((key >> 3) <= 9) goto bad;
      if (!pb_skip(&p, end, (unsigned)(key & 7))) goto bad;
    }
  }
  if (!seq || !object || !method) goto bad;
  out->method = out->method_buf;
  return 0;
bad:
  wire_request_release(out);
  return -1;
}

sm_span wire_request_arg(const wire_request *r, size_t i) {
  if (i >= r->nargs) return (sm_span){NULL, 0};
  return r->args[i];
}

void wire_request_release(wire_request *r) {
  if (r->args && r->args != r->args_inline) free(r->args);
  r->args = r->args_inline;
  r->args_cap = WIRE_ARGS_INLINE;
  r->nargs = 0;
}

/* The bytes of a length-delimited field: tag, length, payload. */
static size_t len_field_size(size_t n) { return 1 + pb_varint_size(n) + n; }

static uint8_t *put_len_field(uint8_t *p, uint8_t tag, const void *data, size_t n) {
  *p++ = tag;
  p += pb_put_varint(p, n);
  if (n) memcpy(p, data, n);
  return p + n;
}

static uint8_t *put_varint_field(uint8_t *p, uint8_t tag, uint64_t v) {
  *p++ = tag;
  return p + pb_put_varint(p, v);
}

/* Fields in field-number order, as protobuf-c packs them. */
int wire_request_encode(vbuf *out, const wire_request_out *r) {
  size_t mlen = strlen(r->method);
  size_t n = 1 + pb_varint_size(r->seq) + 1 + pb_varint_size(r->object) + len_field_size(mlen);
  for (size_t i = 0; i < r->nargs; i++)
    n += len_field_size(r->args[i].n);
  if (r->has_timeout) n += 1 + pb_varint_size(pb_zigzag(r->timeout_ms));
  if (r->type) n += 1 + 4;
  if (r->ack) n += 1 + pb_varint_size(r->ack);
  if (r->guard_object) n += 2 + pb_varint_size(r->guard_object) + pb_varint_size(r->guard_token);
  if (n > UINT32_MAX) return -1;
  uint8_t *at = vb_grow(out, FRAME_HEADER_LEN + n);
  if (!at) return -1;
  frame_put_header(at, (uint32_t)n);
  uint8_t *p = at + FRAME_HEADER_LEN;
  p = put_varint_field(p, REQ_SEQ, r->seq);
  p = put_varint_field(p, REQ_OBJECT, r->object);
  p = put_len_field(p, REQ_METHOD, r->method, mlen);
  for (size_t i = 0; i < r->nargs; i++)
    p = put_len_field(p, REQ_ARGS, r->args[i].p, r->args[i].n);
  if (r->has_timeout) p = put_varint_field(p, REQ_TIMEOUT, pb_zigzag(r->timeout_ms));
  if (r->type) {
    *p++ = REQ_TYPE;
    p += pb_put_fixed32(p, r->type);
  }
  if (r->ack) p = put_varint_field(p, REQ_ACK, r->ack);
  if (r->guard_object) {
    p = put_varint_field(p, REQ_GUARD_OBJECT, r->guard_object);
    p = put_varint_field(p, REQ_GUARD_TOKEN, r->guard_token);
  }
  return 0;
}

uint32_t wire_type_code(const char *name) {
  uint32_t h = 2166136261u; /* FNV-1a, 32 bits */
  for (const unsigned char *p = (const unsigned char *)name; *p; p++)
    h = (h ^ *p) * 16777619u;
  return h ? h : 1; /* 0 means "no type" on the wire */
}

/* ---- responses ---- */

int wire_response_decode(sm_span payload, wire_response *out) {
  memset(out, 0, sizeof *out);
  bool seq = false, status = false;
  sm_span err = {NULL, 0}, leader = {NULL, 0};
  bool has_err = false, has_leader = false;
  const uint8_t *p = payload.p, *end = payload.p + payload.n;
  while (p < end) {
    uint64_t key, v;
    switch (pb_get_varint(&p, end, &key) ? key : UINT64_MAX) {
    case RESP_SEQ:
      if (!pb_get_varint(&p, end, &out->seq)) return -1;
      seq = true;
      break;
    case RESP_STATUS:
      /* Any status: one this build does not know comes from a newer daemon
       * and is the caller's to report (status.h), not a broken frame. */
      if (!pb_get_varint(&p, end, &v) || v > INT32_MAX) return -1;
      out->status = (int)v;
      status = true;
      break;
    case RESP_RESULT:
      if (!pb_get_len(&p, end, &out->result)) return -1;
      out->has_result = true;
      break;
    case RESP_ERROR:
      if (!pb_get_len(&p, end, &err)) return -1;
      has_err = true;
      break;
    case RESP_TOKEN:
      if (!pb_get_varint(&p, end, &out->token)) return -1;
      break;
    case RESP_LEADER:
      if (!pb_get_len(&p, end, &leader)) return -1;
      has_leader = true;
      break;
    case UINT64_MAX: return -1;
    default:
      /* field 0 does not exist; a known field with a wrong wire type */
      if ((key >> 3) <= 6) return -1;
      if (!pb_skip(&p, end, (unsigned)(key & 7))) return -1;
    }
  }
  if (!seq || !status) return -1;
  if (has_err) { /* rare: only failed calls carry a text */
    char *text = malloc(err.n + 1);
    if (!text) return -1;
    if (err.n) memcpy(text, err.p, err.n);
    text[err.n] = '\0';
    out->error = text;
  }
  if (has_leader) { /* rarer still: only REDIRECT carries it */
    char *url = malloc(leader.n + 1);
    if (!url) {
      wire_response_release(out);
      return -1;
    }
    if (leader.n) memcpy(url, leader.p, leader.n);
    url[leader.n] = '\0';
    out->leader = url;
  }
  return 0;
}

void wire_response_release(wire_response *r) {
  free((char *)(uintptr_t)r->error);
  free((char *)(uintptr_t)r->leader);
  r->error = NULL;
  r->leader = NULL;
}

size_t wire_response_frame_size(const wire_response_out *r) {
  size_t n = 1 + pb_varint_size(r->seq) + 1 + pb_varint_size((uint64_t)r->status);
  if (r->has_result) n += len_field_size(r->result.n);
  if (r->error) n += len_field_size(strlen(r->error));
  if (r->token) n += 1 + pb_varint_size(r->token);
  if (r->leader) n += len_field_size(strlen(r->leader));
  return FRAME_HEADER_LEN + n;
}

void wire_response_frame_pack(const wire_response_out *r, uint8_t *out) {
  uint8_t *p = out + FRAME_HEADER_LEN;
  p = put_varint_field(p, RESP_SEQ, r->seq);
  p = put_varint_field(p, RESP_STATUS, (uint64_t)r->status);
  if (r->has_result) p = put_len_field(p, RESP_RESULT, r->result.p, r->result.n);
  if (r->error) p = put_len_field(p, RESP_ERROR, r->error, strlen(r->error));
  if (r->token) p = put_varint_field(p, RESP_TOKEN, r->token);
  if (r->leader) p = put_len_field(p, RESP_LEADER, r->leader, strlen(r->leader));
  frame_put_header(out, (uint32_t)(p - out - FRAME_HEADER_LEN));
}

int wire_response_encode(vbuf *out, const wire_response_out *r) {
  size_t n = wire_response_frame_size(r);
  if (n - FRAME_HEADER_LEN > UINT32_MAX) return -1;
  uint8_t *at = vb_grow(out, n);
  if (!at) return -1;
  wire_response_frame_pack(r, at);
  return 0;
}

/* ---- handshake ---- */

int wire_hello_encode(vbuf *out, uint32_t version, uint32_t max_version,
                      const uint8_t challenge[AUTH_CHALLENGE_LEN]) {
  Statemgr__Hello m = STATEMGR__HELLO__INIT;
  m.version = version;
  m.has_max_version = max_version != 0;
  m.max_version = max_version;
  m.challenge = bin((sm_span){challenge, AUTH_CHALLENGE_LEN});
  return encode_frame(out, &m.base);
}

int wire_hello_decode(sm_span payload, uint32_t *version, uint32_t *max_version,
                      uint8_t challenge[AUTH_CHALLENGE_LEN]) {
  Statemgr__Hello *m = statemgr__hello__unpack(NULL, payload.n, payload.p);
  if (!m) return -1;
  int rc = -1;
  if (m->challenge.len == AUTH_CHALLENGE_LEN) {
    *version = m->version;
    if (max_version) *max_version = m->has_max_version ? m->max_version : m->version;
    memcpy(challenge, m->challenge.data, AUTH_CHALLENGE_LEN);
    rc = 0;
  }
  statemgr__hello__free_unpacked(m, NULL);
  return rc;
}

int wire_auth_encode(vbuf *out, uint32_t version, const uint8_t mac[AUTH_MAC_LEN],
                     const uint8_t challenge[AUTH_CHALLENGE_LEN], const char *client_name) {
  return wire_auth_encode_resume(out, version, mac, challenge, client_name, 0, 0);
}

int wire_auth_encode_resume(vbuf *out, uint32_t version, const uint8_t mac[AUTH_MAC_LEN],
                            const uint8_t challenge[AUTH_CHALLENGE_LEN], const char *client_name,
                            uint64_t resume, uint64_t key) {
  Statemgr__Auth m = STATEMGR__AUTH__INIT;
  m.version = version;
  m.mac = bin((sm_span){mac, AUTH_MAC_LEN});
  m.challenge = bin((sm_span){challenge, AUTH_CHALLENGE_LEN});
  m.client_name = (char *)(uintptr_t)client_name;
  m.has_resume_session = resume != 0;
  m.resume_session = resume;
  m.has_resume_key = resume != 0;
  m.resume_key = key;
  return encode_frame(out, &m.base);
}

int wire_auth_decode(sm_span payload, uint32_t *version, uint8_t mac[AUTH_MAC_LEN],
                     uint8_t challenge[AUTH_CHALLENGE_LEN], char *name, size_t namelen,
                     uint64_t *resume, uint64_t *key) {
  Statemgr__Auth *m = statemgr__auth__unpack(NULL, payload.n, payload.p);
  if (!m) return -1;
  int rc = -1;
  if (m->mac.len == AUTH_MAC_LEN && m->challenge.len == AUTH_CHALLENGE_LEN) {
    *version = m->version;
    memcpy(mac, m->mac.data, AUTH_MAC_LEN);
    memcpy(challenge, m->challenge.data, AUTH_CHALLENGE_LEN);
    if (namelen) snprintf(name, namelen, "%s", m->client_name ? m->client_name : "");
    if (resume) *resume = m->has_resume_session ? m->resume_session : 0;
    if (key) *key = m->has_resume_key ? m->resume_key : 0;
    rc = 0;
  }
  statemgr__auth__free_unpacked(m, NULL);
  return rc;
}

int wire_auth_result_encode(vbuf *out, int status, const uint8_t *mac, const char *error,
                            const wire_daemon_info *info) {
  Statemgr__AuthResult m = STATEMGR__AUTH_RESULT__INIT;
  m.status = (Statemgr__Status)status;
  if (mac) {
    m.has_mac = 1;
    m.mac = bin((sm_span){mac, AUTH_MAC_LEN});
  }
  m.error = (char *)(uintptr_t)error;
  if (info && info->instance) {
    m.has_instance = 1;
    m.instance = info->instance;
  }
  if (info && info->max_depth) {
    m.has_max_depth = 1;
    m.max_depth = info->max_depth;
  }
  if (info && info->session) { /* protocol 3 */
    m.has_session = 1;
    m.session = info->session;
    m.has_resumed = 1;
    m.resumed = info->resumed;
    m.has_durable = 1;
    m.durable = info->durable;
    m.has_session_key = info->key != 0;
    m.session_key = info->key;
  }
  if (info && info->leader[0]) m.leader = (char *)(uintptr_t)info->leader; /* protocol 4 */
  return encode_frame(out, &m.base);
}

int wire_auth_result_decode(sm_span payload, int *status, uint8_t mac[AUTH_MAC_LEN], bool *has_mac,
                            char *err, size_t errlen, wire_daemon_info *info) {
  Statemgr__AuthResult *m = statemgr__auth_result__unpack(NULL, payload.n, payload.p);
  if (!m) return -1;
  int rc = -1;
  if ((int)m->status >= 0 && (!m->has_mac || m->mac.len == AUTH_MAC_LEN)) {
    *status = (int)m->status;
    *has_mac = m->has_mac;
    if (m->has_mac) memcpy(mac, m->mac.data, AUTH_MAC_LEN);
    if (errlen) snprintf(err, errlen, "%s", m->error ? m->error : "");
    if (info) {
      info->instance = m->has_instance ? m->instance : 0;
      info->max_depth = m->has_max_depth ? m->max_depth : 0;
      info->session = m->has_session ? m->session : 0;
      info->resumed = m->has_resumed && m->resumed;
      info->durable = m->has_durable && m->durable;
      info->key = m->has_session_key ? m->session_key : 0;
      info->leader[0] = '\0';
      if (m->leader) snprintf(info->leader, sizeof info->leader, "%s", m->leader);
    }
    rc = 0;
  }
  statemgr__auth_result__free_unpacked(m, NULL);
  return rc;
}
