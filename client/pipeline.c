/* SPDX-License-Identifier: MIT */
/* pipeline.c - sm_pipeline: many calls queued, sent in one write, answered
 * in one round trip.
 *
 * Queueing encodes each call's arguments at once into one arena (so the
 * caller's values may go away) and records the target, method and deadline.
 * sm_pipeline_exec takes the calling thread's connection, reserves one
 * sequence number per call, encodes every Request frame into one buffer and
 * hands it to chan_exchange (chan.c), which writes it while reading the
 * answers and passes each Response back here by index. Results, statuses and
 * error texts are copied into a second arena, so a result may be decoded
 * (sm_pipeline_result) as often as the caller likes until the next reset.
 * Sequence numbers are taken at exec time, not when queueing, because the
 * thread's connection may be replaced between the two. A call on a proxy
 * is queued with the id its object has on the daemon instance the thread's
 * connection reaches then (proxy_binding_now: a named proxy of a restarted
 * daemon finds its object again, another proxy gets SM_ESTALE), and with
 * the proxy's type code for the daemon to check. Should the connection
 * reach another instance at exec, those ids name nothing there: the exec
 * sends nothing and every call gets SM_ESTALE. Against a durable daemon a
 * connection that drops mid-exec is resumed (client_resume) and the calls
 * not answered yet go out again with their seqs, until the client's
 * failover timeout: the daemon answers those it applied from its reply
 * table. Calls a member of a group answered REDIRECT (not applied) go to
 * the leader the same way, on the session resumed there; over a
 * connection without a session they keep SM_EREDIRECT (the next exec
 * goes to the leader).
 *
 * Adding a call kind (another option per call) means a field in pl_call,
 * set in queue(), and used in encode_all(). */
#include "chan.h"
#include "client_internal.h"
#include "proxy.h"
#include "value_internal.h"

#include "../proto/auth.h"
#include "../proto/frame.h"
#include "../proto/status.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PL_MAX_ARGS 8 /* as sm_call: no method takes more */
/* The frame buffer is released after an exec that grew it past this. */
#define PL_KEEP_BUFFER (4u << 20)

/* One queued call. Offsets point into the pipeline's arenas. */
typedef struct pl_call {
  uint64_t object;     /**< 0: the manager */
  uint32_t type;       /**< the proxy's type code (0 for the manager) */
  size_t method_off;   /**< NUL-terminated method name in args */
  size_t args_off;     /**< first packed argument in args */
  size_t argend_first; /**< index of its first entry in argends */
  size_t nargs;
  int64_t timeout_ms;    /**< < 0: no deadline sent */
  uint64_t guard_object; /**< fencing guard (sm_pipeline_set_guard); 0: none */
  uint64_t guard_token;
  uint64_t token; /**< the fencing token of its answer (0: none) */
  bool answered;  /**< a response arrived */
  int status;     /**< 0 or an SM_E* code, after exec */
  size_t res_off; /**< result bytes in results */
  size_t res_len;
  size_t err_off; /**< NUL-terminated error text in results; SIZE_MAX: none */
} pl_call;

struct sm_pipeline {
  sm_client *client; /**< borrowed */
  pthread_t thread;  /**< the thread it is bound to */
  pl_call *calls;
  size_t n, cap;
  size_t *argends; /**< end offset (in args) of each argument, all calls */
  size_t nargends, capargends;
  vbuf args;             /**< method names and packed arguments */
  vbuf frames;           /**< the encoded requests, during exec */
  vbuf results;          /**< result bytes and error texts, after exec */
  uint64_t instance;     /**< the daemon instance the proxy calls were queued for (0: none yet) */
  uint64_t guard_object; /**< the guard of calls queued from now on (0: none) */
  uint64_t guard_token;
  bool executed;
};

/* ---- building ---- */

int sm_pipeline_new(sm_client *c, sm_pipeline **out) {
  if (!c || !out) return err_set(SM_EINVAL, "%s: NULL argument", __func__);
  chan *k = NULL;
  int rc = client_thread_chan(c, &k); /* report a dead daemon now */
  if (rc != SM_OK) return rc;
  sm_pipeline *pl = calloc(1, sizeof *pl);
  if (!pl) return err_set(SM_ENOMEM, "out of memory");
  pl->client = c;
  pl->thread = pthread_self();
  vb_init(&pl->args);
  vb_init(&pl->frames);
  vb_init(&pl->results);
  *out = pl;
  return SM_OK;
}

/* Manager methods that take or give back references belong to the holder
 * connection (client_internal.h), never to a pipeline. */
static bool manager_method_allowed(const char *method) {
  return strcmp(method, "create") != 0 && strcmp(method, "open") != 0 &&
         strcmp(method, "release") != 0;
}

/* Undoes a partly queued call: the arenas go back to where they were. */
static void unqueue(sm_pipeline *pl, size_t args_len, size_t nargends) {
  pl->args.len = args_len;
  pl->args.failed = false;
  pl->nargends = nargends;
}

static int queue(sm_pipeline *pl, sm_proxy *p, const char *method, const sm_value *const *args,
                 size_t nargs, int64_t timeout_ms) {
  if (!pl || !method || !*method || (nargs > 0 && !args))
    return err_set(SM_EINVAL, "sm_pipeline_call: NULL or invalid argument");
  if (pl->executed)
    return err_set(SM_EINVAL, "sm_pipeline_call: the pipeline ran already; reset it first");
  if (nargs > PL_MAX_ARGS)
    return err_set(SM_EINVAL, "%s: more than %d arguments", method, PL_MAX_ARGS);
  if (p && p->client != pl->client)
    return err_set(SM_EINVAL, "%s: the proxy belongs to another client", method);
  if (!p && !manager_method_allowed(method))
    return err_set(SM_EINVAL, "%s: not in a pipeline; open proxies with sm_*_open", method);
  if (!pthread_equal(pl->thread, pthread_self()))
    return err_set(SM_EINVAL, "%s: the pipeline belongs to another thread", method);
  const proxy_binding *b = NULL;
  if (p) {
    int rc = proxy_binding_now(p, &b);
    if (rc != SM_OK) return rc;
    if (pl->instance && b->instance != pl->instance)
      return err_set(SM_ESTALE,
                     "%s: the daemon restarted since the pipeline's first calls were queued: "
                     "reset it and queue them again",
                     method);
  }

  if (!val_reserve((void **)&pl->calls, &pl->cap, pl->n, sizeof *pl->calls))
    return err_set(SM_ENOMEM, "out of memory");
  size_t args_len = pl->args.len, nargends = pl->nargends;
  for (size_t i = 0; i < nargs; i++)
    if (!val_reserve((void **)&pl->argends, &pl->capargends, pl->nargends + i, sizeof *pl->argends))
      return err_set(SM_ENOMEM, "out of memory");

  pl_call *call = &pl->calls[pl->n];
  *call = (pl_call){.object = b ? b->id : 0,
                    .type = p ? p->type_code : 0,
                    .method_off = pl->args.len,
                    .argend_first = pl->nargends,
                    .nargs = nargs,
                    .timeout_ms = timeout_ms,
                    .guard_object = p ? pl->guard_object : 0,
                    .guard_token = p ? pl->guard_token : 0,
                    .err_off = SIZE_MAX};
  size_t mlen = strlen(method);
  uint8_t *m = vb_grow(&pl->args, mlen + 1);
  if (!m) {
    unqueue(pl, args_len, nargends);
    return err_set(SM_ENOMEM, "out of memory");
  }
  memcpy(m, method, mlen + 1);
  call->args_off = pl->args.len;
  unsigned depth = client_max_depth(pl->client);
  for (size_t i = 0; i < nargs; i++) {
    int rc = val_encode(args[i], &pl->args, depth);
    if (rc != SM_OK) {
      unqueue(pl, args_len, nargends);
      if (rc == SM_EVALUE)
        return err_set(rc,
                       "%s: argument %zu nests lists and maps deeper than the daemon allows "
                       "(%u levels, its --max-depth)",
                       method, i + 1, depth);
      return err_set(rc, "out of memory");
    }
    pl->argends[pl->nargends++] = pl->args.len;
  }
  /* An upper bound of the frame: every varint at its longest. */
  size_t bound = FRAME_HEADER_LEN + 5 * 11 + (6 + mlen) + 11 + 5; /* 5: the type */
  bound += (pl->args.len - call->args_off) + 6 * nargs;
  if (bound - FRAME_HEADER_LEN > FRAME_MAX_DEFAULT) {
    unqueue(pl, args_len, nargends);
    return err_set(SM_ETOOLARGE, "%s request of about %zu bytes is over the %u-byte frame limit",
                   method, bound, FRAME_MAX_DEFAULT);
  }
  if (b) pl->instance = b->instance;
  pl->n++;
  return SM_OK;
}

int sm_pipeline_call(sm_pipeline *pl, sm_proxy *p, const char *method, const sm_value *const *args,
                     size_t nargs) {
  return queue(pl, p, method, args, nargs, -1);
}

int sm_pipeline_call_timed(sm_pipeline *pl, sm_proxy *p, const char *method,
                           const sm_value *const *args, size_t nargs, int64_t timeout_ms) {
  return queue(pl, p, method, args, nargs, timeout_ms < 0 ? -1 : timeout_ms);
}

/* ---- running ---- */

/* Encodes every queued call not answered yet as a Request frame, seqs
 * first, first + 1..., each with ack (0: none); *left counts them. */
static int encode_all(sm_pipeline *pl, uint64_t first, uint64_t ack, size_t *left) {
  vb_reset(&pl->frames);
  *left = 0;
  sm_span spans[PL_MAX_ARGS];
  for (size_t i = 0; i < pl->n; i++) {
    const pl_call *call = &pl->calls[i];
    if (call->answered) continue;
    (*left)++;
    size_t start = call->args_off;
    for (size_t a = 0; a < call->nargs; a++) {
      size_t end = pl->argends[call->argend_first + a];
      spans[a] = (sm_span){pl->args.p + start, end - start};
      start = end;
    }
    wire_request_out req = {.seq = first + i,
                            .object = call->object,
                            .type = call->type,
                            .method = (const char *)pl->args.p + call->method_off,
                            .args = spans,
                            .nargs = call->nargs,
                            .has_timeout = call->timeout_ms >= 0,
                            .timeout_ms = call->timeout_ms >= 0 ? call->timeout_ms : 0,
                            .ack = ack,
                            .guard_object = call->guard_object,
                            .guard_token = call->guard_token};
    if (wire_request_encode(&pl->frames, &req) != 0)
      return err_set(SM_ENOMEM, "out of memory encoding a %zu-call pipeline", pl->n);
  }
  return SM_OK;
}

/* Copies an error text of call into the results arena. */
static void keep_error(sm_pipeline *pl, pl_call *call, const char *text) {
  size_t n = strlen(text);
  uint8_t *t = vb_grow(&pl->results, n + 1);
  if (t) {
    memcpy(t, text, n + 1);
    call->err_off = (size_t)(t - pl->results.p);
  }
}

/* chan_exchange's callback: keeps one answer. */
static int on_response(void *ctx, size_t index, const wire_response *resp) {
  sm_pipeline *pl = ctx;
  pl_call *call = &pl->calls[index];
  if (call->answered)
    return err_set(SM_EPROTO, "the daemon answered call %zu of a pipeline twice", index);
  call->answered = true;
  call->status = status_to_error(resp->status);
  call->token = resp->token;
  if (resp->has_result && resp->result.n > 0) {
    call->res_off = pl->results.len;
    call->res_len = resp->result.n;
    vb_append(&pl->results, resp->result);
  }
  if (call->status == SM_EREMOTE) {
    char text[1024]; /* the status number goes into the text */
    err_status_text(resp->status, resp->error, text, sizeof text);
    keep_error(pl, call, text);
  } else if (resp->error && *resp->error) {
    keep_error(pl, call, resp->error);
  }
  return pl->results.failed ? err_set(SM_ENOMEM, "out of memory keeping pipeline results") : 0;
}

int sm_pipeline_exec(sm_pipeline *pl) {
  if (!pl) return err_set(SM_EINVAL, "%s: NULL pipeline", __func__);
  if (pl->executed) return err_set(SM_EINVAL, "%s: the pipeline ran already", __func__);
  if (!pthread_equal(pl->thread, pthread_self()))
    return err_set(SM_EINVAL, "%s: the pipeline belongs to another thread", __func__);
  pl->executed = true;
  vb_reset(&pl->results);
  if (pl->n == 0) return SM_OK;
  chan *k = NULL;
  int rc = client_thread_chan(pl->client, &k);
  if (rc == SM_OK && pl->instance && chan_instance(k) != pl->instance)
    rc = err_set(SM_ESTALE,
                 "the daemon restarted since the pipeline's calls were queued (instance %016" PRIx64
                 ", now %016" PRIx64 "): nothing was sent; reset it and queue them again",
                 pl->instance, chan_instance(k));
  for (size_t i = 0; rc == SM_OK && i < pl->n; i++)
    if (pl->calls[i].guard_object && chan_version(k) < AUTH_PROTOCOL_FENCING)
      rc = err_set(SM_EPROTO,
                   "the daemon speaks protocol %u: a fencing guard needs protocol %u; nothing "
                   "was sent",
                   (unsigned)chan_version(k), (unsigned)AUTH_PROTOCOL_FENCING);
  if (rc == SM_OK) {
    uint64_t ack = chan_ack(k); /* every answer before the pipeline's is in */
    uint64_t first = chan_reserve_seqs(k, pl->n);
    int64_t deadline = 0;
    size_t left = 0;
    rc = encode_all(pl, first, ack, &left);
    if (rc == SM_OK)
      rc = chan_exchange(k, pl->frames.p, pl->frames.len, first, pl->n, left, on_response, pl);
    /* Dropped, or redirected to the group's leader: resume and send what
     * is unanswered again, same seqs. */
    while ((rc == SM_ECLOSED || rc == SM_EREDIRECT) && chan_resumable(k) && !chan_usable(k)) {
      rc = client_resume(pl->client, k, &deadline);
      if (rc == SM_OK) rc = encode_all(pl, first, ack, &left);
      if (rc == SM_OK)
        rc = chan_exchange(k, pl->frames.p, pl->frames.len, first, pl->n, left, on_response, pl);
    }
  }
  if (pl->frames.cap > PL_KEEP_BUFFER) vb_free(&pl->frames);
  if (rc != SM_OK) {
    /* Calls left unanswered share the transport's failure. */
    for (size_t i = 0; i < pl->n; i++)
      if (!pl->calls[i].answered) pl->calls[i].status = rc;
  }
  return rc;
}

/* ---- results ---- */

size_t sm_pipeline_count(const sm_pipeline *pl) { return pl ? pl->n : 0; }

int sm_pipeline_status(const sm_pipeline *pl, size_t i) {
  if (!pl || !pl->executed || i >= pl->n) return SM_EINVAL;
  return pl->calls[i].status;
}

/* Borrowed text, valid until reset or free. */
const char *sm_pipeline_error(const sm_pipeline *pl, size_t i) {
  if (!pl || !pl->executed || i >= pl->n || pl->calls[i].err_off == SIZE_MAX) return "";
  return (const char *)pl->results.p + pl->calls[i].err_off;
}

/* *out: a new value (caller frees with sm_value_free()). */
int sm_pipeline_result(sm_pipeline *pl, size_t i, sm_value **out) {
  if (!pl || !out) return err_set(SM_EINVAL, "%s: NULL argument", __func__);
  if (!pl->executed) return err_set(SM_EINVAL, "%s: the pipeline has not run", __func__);
  if (i >= pl->n)
    return err_set(SM_EINVAL, "%s: call %zu of a %zu-call pipeline", __func__, i, pl->n);
  const pl_call *call = &pl->calls[i];
  if (call->status != SM_OK) {
    const char *why = sm_pipeline_error(pl, i);
    return err_set(call->status, "%s", *why ? why : sm_strerror(call->status));
  }
  sm_span bytes = {call->res_len ? pl->results.p + call->res_off : NULL, call->res_len};
  int rc = val_decode(bytes, out);
  if (rc == SM_EPROTO) return err_set(rc, "call %zu of a pipeline: a malformed value", i);
  if (rc != SM_OK) return err_set(rc, "out of memory decoding a pipeline result");
  return SM_OK;
}

/* ---- reuse ---- */

int sm_pipeline_set_guard(sm_pipeline *pl, sm_proxy *guard, uint64_t token) {
  if (!pl) return err_set(SM_EINVAL, "%s: NULL pipeline", __func__);
  uint64_t id = 0;
  int rc = guard ? proxy_guard_id(guard, &id) : SM_OK;
  if (rc != SM_OK) return rc;
  pl->guard_object = id;
  pl->guard_token = guard ? token : 0;
  return SM_OK;
}

uint64_t sm_pipeline_token(const sm_pipeline *pl, size_t i) {
  return pl && i < pl->n ? pl->calls[i].token : 0;
}

void sm_pipeline_reset(sm_pipeline *pl) {
  if (!pl) return;
  pl->n = 0;
  pl->guard_object = pl->guard_token = 0;
  pl->instance = 0;
  pl->nargends = 0;
  vb_reset(&pl->args);
  vb_reset(&pl->results);
  pl->executed = false;
}

void sm_pipeline_free(sm_pipeline *pl) {
  if (!pl) return;
  free(pl->calls);
  free(pl->argends);
  vb_free(&pl->args);
  vb_free(&pl->frames);
  vb_free(&pl->results);
  free(pl);
}
