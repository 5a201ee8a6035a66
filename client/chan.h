/* SPDX-License-Identifier: MIT */
/* chan.h - one blocking connection to the daemon: connect (TCP, UNIX
 * socket, or TLS over TCP), the mutual authkey handshake, then
 * request/response round trips.
 *
 * A chan belongs to one thread at a time and has no lock. It remembers the
 * process that opened it: after fork() the child must not use it (see
 * chan_usable), only drop it. */
#ifndef SM_CLIENT_CHAN_H
#define SM_CLIENT_CHAN_H

#include "../proto/msg.h"
#include "statemgr.h"
#include "../proto/url.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct chan chan;
struct ssl_ctx_st;

/* What a client's TLS context is made of (see sm_options_set_tls_*). */
typedef struct chan_tls_cfg {
  const char *ca_file;       /**< PEM CAs to trust; NULL: the system's store */
  const char *cert_file;     /**< PEM client certificate chain; NULL: none */
  const char *key_file;      /**< its PEM key; NULL: inside cert_file */
  bool insecure_skip_verify; /**< accept any certificate, any name */
} chan_tls_cfg;

/* Builds a client TLS context: TLS 1.2 at least, the peer's chain verified
 * (unless insecure_skip_verify). Returns 0 with *out set (free with
 * chan_tls_ctx_free()), or SM_EINVAL (a file that cannot be used, the
 * reason in the last error) or SM_ENOMEM. Safe to share between threads. */
int chan_tls_ctx_new(const chan_tls_cfg *t, struct ssl_ctx_st **out);
void chan_tls_ctx_free(struct ssl_ctx_st *ctx);

typedef struct chan_cfg {
  const url_addr *addr; /**< where to connect */
  const char *url;      /**< the same, as text, for error messages */
  const uint8_t *key;   /**< the authkey */
  size_t keylen;
  int timeout_ms;              /**< connect + handshake; <= 0 waits forever */
  const char *client_name;     /**< shown by the daemon; may be NULL */
  int keepalive_s;             /**< TCP keepalive idle seconds; 0: system default */
  struct ssl_ctx_st *tls;      /**< tls:// only: the context (borrowed) */
  const char *tls_server_name; /**< tls:// only: name to verify; NULL: the URL's host */
  char *leader; /**< out, may be NULL: WIRE_URL_MAX bytes that receive the leader's URL a
                     REDIRECT in the handshake named ("": none) */
} chan_cfg;

/* Connects (for tls://, then runs and verifies the TLS handshake) and
 * authenticates both ways, in protocol AUTH_PROTOCOL_VERSION (or 2, to a
 * daemon that offers no more). Returns 0
 * with *out set (free with chan_free()), or SM_EREDIRECT (a member of a
 * group that is not its leader: cfg->leader names the leader), SM_ECONNECT, SM_EAUTH,
 * SM_EPROTO (not a statemgrd, or one that does not speak this library's
 * protocol), SM_ETLS (a refused certificate, a TLS alert), SM_ECLOSED,
 * SM_EINVAL, SM_ENOMEM with this thread's last error set. The cfg is not
 * kept (cfg->url and cfg->tls must outlive the chan). */
int chan_open(const chan_cfg *cfg, chan **out);

/* The instance of the daemon k reached (its handshake said; 0 if it did
 * not), and the nesting it allows in values (VW_DEPTH_DEFAULT if it did
 * not say). */
uint64_t chan_instance(const chan *k);
unsigned chan_max_depth(const chan *k);

/* The connection's session (protocol 3; 0 when the daemon did not say). */
uint64_t chan_session(const chan *k);

/* True when k's daemon is durable and k speaks protocol 3: after its
 * connection drops, chan_reopen may resume its session and a call in
 * flight may be sent again with chan_call_again, exactly once. */
bool chan_resumable(const chan *k);

/* Reconnects k in place, to cfg's address (one connect and handshake
 * within cfg's timeout), asking the daemon to resume k's session; k keeps
 * its seqs. cfg->url must outlive k (k borrows it for messages). Returns 0
 * when the session was resumed; SM_ECLOSED when the daemon gave a new
 * session instead (k is usable again, but whatever was in flight is lost:
 * the last error says why); or chan_open's errors (k stays broken). */
int chan_reopen(chan *k, const chan_cfg *cfg);

/* One round trip: sends req (its seq is replaced by the connection's next
 * one) and waits for the response with that seq. On success *result (may be
 * NULL when the caller does not want it) receives the decoded result
 * (caller frees with sm_value_free()). Returns 0, the public code of a
 * daemon's status (status.h; its text becomes the last error), SM_ETOOLARGE
 * for a request over the frame limit (nothing sent), SM_ECLOSED or
 * SM_EPROTO when the connection failed (it is then broken for good),
 * SM_ENOMEM. SM_EREDIRECT: the member no longer leads its group; the call
 * was not applied, its seq is not acknowledged, the connection is broken
 * and chan_redirect_leader names the leader. */
int chan_call(chan *k, const wire_request_out *req, sm_value **result);

/* The seq of k's last chan_call, answered or not. */
uint64_t chan_last_seq(const chan *k);

/* As chan_call, sending req with the seq it has (one chan_last_seq gave
 * before a chan_reopen): the same call once more. */
int chan_call_again(chan *k, const wire_request_out *req, sm_value **result);

/* True when the last chan_call on k cannot have been applied: it failed
 * before its request was written whole (the connection had dropped
 * already), or the daemon answered REDIRECT. It may go out again on a new
 * connection. */
bool chan_last_unapplied(const chan *k);

/* True when the last chan_call or chan_exchange on k was answered
 * REDIRECT (then chan_last_unapplied too). */
bool chan_last_redirected(const chan *k);

/* The leader's URL the last REDIRECT answer on k named ("": none, or no
 * REDIRECT since k last connected). Borrowed: valid until k reconnects. */
const char *chan_redirect_leader(const chan *k);

/* The scheme of the address k reached last. */
url_scheme chan_scheme(const chan *k);

/* The fencing token (protocol 4) of the answer of k's last call: a lock,
 * rlock or semaphore grant's; 0 when it had none. A call that carries a
 * guard (wire_request_out.guard_object) on a connection of an older
 * protocol fails with SM_EPROTO before it is sent. */
uint64_t chan_last_token(const chan *k);

/* The protocol version k speaks. */
uint32_t chan_version(const chan *k);

/* ---- pipelines (client/pipeline.c) ---- */

/* Reserves n consecutive request sequence numbers on k and returns the
 * first; plain chan_call()s never reuse them. */
uint64_t chan_reserve_seqs(chan *k, size_t n);

/* The `ack` requests on k carry now (0: none, protocol 2). */
uint64_t chan_ack(const chan *k);

/* Receives one response of a pipeline: index is its seq minus the first
 * seq. resp is borrowed for the call. Returns 0, or an SM_E* code that
 * stops the exchange and breaks the connection (a duplicate answer, out of
 * memory). */
typedef int (*chan_response_cb)(void *ctx, size_t index, const wire_response *resp);

/* Sends len bytes of request frames (some of seqs first .. first + n - 1,
 * from chan_reserve_seqs: expect of them) and reads until each of those
 * expect responses has been passed to cb once; answers are read while writing, so a pipeline larger
 * than the socket buffers cannot deadlock against the daemon's output
 * back-pressure. Responses with other seqs are skipped, and so are
 * REDIRECT answers (not applied): then, once every answer is in, the
 * result is SM_EREDIRECT, nothing is acknowledged and
 * chan_redirect_leader names the leader. Returns 0, or
 * SM_ECLOSED, SM_EPROTO, SM_ENOMEM, a connection-level daemon error, or
 * cb's code; the connection is then broken for good. */
int chan_exchange(chan *k, const uint8_t *frames, size_t len, uint64_t first, size_t n,
                  size_t expect, chan_response_cb cb, void *ctx);

/* True when the connection is healthy and was opened by this process. */
bool chan_usable(const chan *k);

/* Tells every channel opened so far that it now belongs to the parent
 * process (call in the child after fork()). */
void chan_note_fork(void);

/* Closes this process's copy of the socket and marks the connection
 * broken, without any write: for a fork child. Async-signal-safe. */
void chan_drop_fd(chan *k);

/* Closes the socket and frees k. NULL is fine. Only a TLS session that is
 * healthy and this process's own gets a close_notify; otherwise nothing is
 * written, so a fork child never disturbs the parent's session. */
void chan_free(chan *k);

#endif
