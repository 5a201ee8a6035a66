/* SPDX-License-Identifier: MIT */
/* queue.c - sm_queue, the proxy of the daemon's "queue" type (Python's
 * Queue and JoinableQueue): a FIFO with an optional maxsize.
 *
 * put and get block through the request's deadline (proxy_invoke_timed):
 * the daemon parks them, so only the calling thread waits. The typed
 * helpers at the end wrap the sm_value calls for strings and int64s. */
#include "proxy.h"
#include "value_internal.h"

struct sm_queue {
  sm_proxy p; /**< first and only member: see proxy.h */
};

#define QUEUE_TYPE "queue"

/* ---- opening ---- */

/* maxsize only applies when the queue is created.
 * *out: caller frees with sm_queue_free(). */
int sm_queue_open(sm_client *c, const char *name, int64_t maxsize, sm_queue **out) {
  PROXY_REQUIRE(out);
  sm_value m = val_int_view(maxsize);
  sm_proxy *p = NULL;
  int rc = proxy_create(c, QUEUE_TYPE, name, &m, sizeof(sm_queue), &p);
  if (rc == SM_OK) *out = (sm_queue *)p;
  return rc;
}

int sm_queue_from_ref(sm_client *c, const sm_value *ref, sm_queue **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_open_ref(c, ref, QUEUE_TYPE, sizeof(sm_queue), &p);
  if (rc == SM_OK) *out = (sm_queue *)p;
  return rc;
}

int sm_queue_from_token(sm_client *c, const char *token, sm_queue **out) {
  PROXY_REQUIRE(out);
  sm_proxy *p = NULL;
  int rc = proxy_open_token(c, token, QUEUE_TYPE, sizeof(sm_queue), &p);
  if (rc == SM_OK) *out = (sm_queue *)p;
  return rc;
}

void sm_queue_free(sm_queue *q) { proxy_free(q ? &q->p : NULL); }

/* Borrowed view, valid while q lives. */
sm_proxy *sm_queue_proxy(sm_queue *q) { return q ? &q->p : NULL; }

/* ---- methods ---- */

int sm_queue_put(sm_queue *q, const sm_value *v, int64_t timeout_ms) {
  PROXY_REQUIRE(q && v);
  return PROXY_CALL_TIMED(q, "put", timeout_ms, NULL, v);
}

/* *out: caller frees with sm_value_free(). */
int sm_queue_get(sm_queue *q, int64_t timeout_ms, sm_value **out) {
  PROXY_REQUIRE(q && out);
  return proxy_invoke_timed(&q->p, "get", NULL, 0, timeout_ms, out);
}

int sm_queue_put_nowait(sm_queue *q, const sm_value *v) { return sm_queue_put(q, v, 0); }

int sm_queue_get_nowait(sm_queue *q, sm_value **out) { return sm_queue_get(q, 0, out); }

int sm_queue_qsize(sm_queue *q, size_t *out) {
  PROXY_REQUIRE(q && out);
  return proxy_call_size(&q->p, "qsize", NULL, 0, __func__, out);
}

int sm_queue_empty(sm_queue *q, bool *out) {
  PROXY_REQUIRE(q && out);
  return proxy_call_bool(&q->p, "empty", NULL, 0, __func__, out);
}

int sm_queue_full(sm_queue *q, bool *out) {
  PROXY_REQUIRE(q && out);
  return proxy_call_bool(&q->p, "full", NULL, 0, __func__, out);
}

int sm_queue_maxsize(sm_queue *q, int64_t *out) {
  PROXY_REQUIRE(q && out);
  return proxy_call_int(&q->p, "maxsize", NULL, 0, __func__, out);
}

int sm_queue_task_done(sm_queue *q) {
  PROXY_REQUIRE(q);
  return proxy_invoke(&q->p, "task_done", NULL, 0, NULL);
}

int sm_queue_join(sm_queue *q, int64_t timeout_ms) {
  PROXY_REQUIRE(q);
  return proxy_invoke_timed(&q->p, "join", NULL, 0, timeout_ms, NULL);
}

/* ---- typed helpers ---- */

int sm_queue_put_str(sm_queue *q, const char *s, int64_t timeout_ms) {
  PROXY_REQUIRE(q && s);
  sm_value v = val_str_view(s);
  return sm_queue_put(q, &v, timeout_ms);
}

int sm_queue_put_int(sm_queue *q, int64_t i, int64_t timeout_ms) {
  PROXY_REQUIRE(q);
  sm_value v = val_int_view(i);
  return sm_queue_put(q, &v, timeout_ms);
}

/* *out: caller frees with sm_free(). */
int sm_queue_get_str(sm_queue *q, int64_t timeout_ms, char **out) {
  PROXY_REQUIRE(q && out);
  sm_value *r = NULL;
  int rc = sm_queue_get(q, timeout_ms, &r);
  return rc == SM_OK ? proxy_result_str(r, __func__, out) : rc;
}

int sm_queue_get_int(sm_queue *q, int64_t timeout_ms, int64_t *out) {
  PROXY_REQUIRE(q && out);
  sm_value *r = NULL;
  int rc = sm_queue_get(q, timeout_ms, &r);
  return rc == SM_OK ? proxy_result_int(r, __func__, out) : rc;
}
