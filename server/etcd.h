/* SPDX-License-Identifier: MIT */
/* etcd.h - a small asynchronous client of etcd's v3 JSON gateway (etcd
 * 3.4: POST /v3/kv/range, /v3/kv/txn, /v3/lease/grant, ...), on the
 * daemon's event loop. The replicated group (cluster.h) keeps its leader
 * key and its command log in etcd through it.
 *
 * Requests go over HTTP/1.1 (libevent's evhttp) to one member of the etcd
 * cluster at a time, on a few kept-alive connections with TCP_NODELAY (a
 * 20 KB request otherwise waits 40 ms for the delayed ACK), plain for
 * http:// URLs or TLS for https:// ones (with a client certificate when
 * etcd runs with --client-cert-auth). A request that fails in transport
 * (refused, reset, timed out, a TLS handshake refused) or that etcd
 * answers 5xx moves the client to the next URL of its list: the caller
 * learns the failure (ETCD_FAILED) and decides whether to retry (a retried
 * write must be idempotent: the etcd member may have committed it). A 4xx
 * answer (a request too large, a permission denied) is ETCD_REFUSED: the
 * same request fails again on any member, so the caller must not loop on
 * it. Bodies and replies are JSON (json-c); keys and values inside are
 * base64 (etcd_b64_*).
 *
 * A watch is a streaming POST /v3/watch whose reply is a chunked stream of
 * JSON objects, one per batch of events; it is sent with the
 * "Grpc-Metadata-hasleader: true" header, without which a member cut off
 * from its quorum keeps the stream open and silent forever.
 *
 * The gateway omits fields that hold their zero value: a Txn whose
 * compare failed has no "succeeded", a keepalive of an expired lease no
 * "TTL". Read replies with etcd_get_* that give the zero value for an
 * absent field. */
#ifndef SM_SERVER_ETCD_H
#define SM_SERVER_ETCD_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
typedef struct etcd etcd;
typedef struct etcd_watch etcd_watch;

/* The longest etcd URL list accepted (--etcd). */
#define ETCD_URLS_MAX 8

/* etcd_reply_fn's status. */
enum {
  ETCD_OK = 0,
  /* no answer, a TLS handshake refused, a 5xx (no leader on that member),
   * 408 or 429 (etcd too busy), or a reply that is not JSON: a retry may
   * succeed (on the next URL) */
  ETCD_FAILED = -1,
  /* any other 4xx: etcd refuses the request itself (too large, not
   * permitted, malformed); sent again it fails again */
  ETCD_REFUSED = -2,
};

/* A reply: status ETCD_OK with reply (the parsed JSON body, borrowed for
 * the call) when etcd answered 200, else ETCD_FAILED or ETCD_REFUSED with
 * err saying what failed (the transport, or etcd's HTTP status and
 * message) and reply NULL. */
typedef void (*etcd_reply_fn)(void *ctx, int status, json_object *reply, const char *err);

/* A watch's events: one parsed message of the stream ({"result": {...}}),
 * borrowed for the call. */
typedef void (*etcd_watch_fn)(void *ctx, json_object *msg);
/* The watch's stream ended (etcd closed it, the member failed, or the
 * reply was not a stream); err says why. The watch is then dead: free it
 * with etcd_watch_free (not from inside this callback's caller chain is
 * fine: it may be freed here). */
typedef void (*etcd_watch_end_fn)(void *ctx, const char *err);

/* The TLS files of https:// URLs (PEM paths; each may be NULL), named
 * after etcdctl's options: cacert, the CA that signed etcd's server
 * certificate (NULL: the system's trusted CAs); cert and key, the client
 * certificate etcd's --client-cert-auth asks for (both or neither). */
typedef struct etcd_tls {
  const char *cacert, *cert, *key;
} etcd_tls;

/* Parses a comma-separated list of http:// or https:// URLs, all of one
 * scheme ("http://127.0.0.1:2379,http://10.0.0.2:2379"), and makes a
 * client on base. With https, tls (may be NULL: the system's CAs, no
 * client certificate) is loaded now, so a missing or unreadable file, or a
 * key that does not match its certificate, is an error here; with http,
 * tls must name no file. timeout_ms bounds each request. Returns 0 with
 * *out set (free with etcd_free), or -1 with err saying what is wrong. */
int etcd_new(struct event_base *base, const char *urls, const etcd_tls *tls, int timeout_ms,
             etcd **out, char *err, size_t errlen);

/* Frees the client: requests still in flight are dropped without their
 * callbacks; watches must be freed first. NULL is fine. */
void etcd_free(etcd *e);

/* POSTs body (consumed: its reference is taken over) to path ("/v3/kv/txn")
 * and calls fn with the reply, never from inside this call. Returns 0, or
 * -1 when the request could not even be queued (out of memory) or its
 * connection failed at once (network unreachable; the next call goes to
 * the next endpoint): fn is then not called. */
int etcd_call(etcd *e, const char *path, json_object *body, etcd_reply_fn fn, void *ctx);

/* As etcd_call, on a connection of its own per endpoint whose requests
 * time out after the fast timeout: for the lease's keepalives, which must
 * leave a stalled etcd member for another well within the lease's TTL,
 * and never wait behind a large append. */
int etcd_call_fast(etcd *e, const char *path, json_object *body, etcd_reply_fn fn, void *ctx);
/* Sets that timeout (default: the client's). */
void etcd_set_fast_timeout(etcd *e, int ms);

/* Starts a watch of the keys [key, range_end) from revision start_rev
 * (0: from now), with prev_kv off and progress notifications on; with
 * deletes_only, etcd sends no PUT event (filter NOPUT). Returns the watch
 * (free with etcd_watch_free) or NULL when out of memory or when its
 * connection failed at once (network unreachable): on_end is then not
 * called. */
etcd_watch *etcd_watch_start(etcd *e, const char *key, const char *range_end, int64_t start_rev,
                             bool deletes_only, etcd_watch_fn on_events, etcd_watch_end_fn on_end,
                             void *ctx);
/* True when the watch ended because etcd refused it (a 4xx answer, as
 * ETCD_REFUSED): starting it again would fail again. */
bool etcd_watch_refused(const etcd_watch *w);
/* Stops and frees a watch; no callback runs after. NULL is fine. */
void etcd_watch_free(etcd_watch *w);

/* The URL requests go to now (for logs and info). */
const char *etcd_current_url(const etcd *e);

/* ---- JSON helpers for the gateway's shapes ---- */

/* base64 of len bytes of data as a new JSON string (NULL: out of memory). */
json_object *etcd_b64_string(const void *data, size_t len);
/* Decodes the base64 JSON string s into a new buffer (*out, *outlen; free
 * with free()). Returns 0, or -1 when s is not base64 or memory runs out.
 * An absent field (s NULL) is the empty value. */
int etcd_b64_decode(json_object *s, uint8_t **out, size_t *outlen);

/* The member of o named key (NULL when absent, or o is not an object). */
json_object *etcd_get(json_object *o, const char *key);
/* That member as an int64 (the gateway writes int64 as strings), 0 when
 * absent. */
int64_t etcd_get_int(json_object *o, const char *key);
/* As a bool, false when absent. */
bool etcd_get_bool(json_object *o, const char *key);

/* ---- building a Txn (POST /v3/kv/txn) ---- */

/* A new Txn body with empty compare, success and failure lists (free
 * with json_object_put, or hand it to etcd_call). NULL: out of memory. */
json_object *etcd_txn_new(void);
/* Adds a compare of key's target ("CREATE": its create revision,
 * "VERSION": its version, 0 when absent) with value by result ("EQUAL",
 * "GREATER", "LESS", "NOT_EQUAL"). */
void etcd_txn_compare(json_object *txn, const char *key, const char *target, const char *result,
                      int64_t value);
/* Adds to the success list (or the failure list when on_failure) a put
 * of len bytes of value at key, on lease (0: none). */
void etcd_txn_put(json_object *txn, bool on_failure, const char *key, const void *value, size_t len,
                  int64_t lease);
/* Adds a read of key to the success or failure list. */
void etcd_txn_range(json_object *txn, bool on_failure, const char *key);
/* Adds a delete of the keys [from, to) to the success or failure list. */
void etcd_txn_delete(json_object *txn, bool on_failure, const char *from, const char *to);

/* The "range end" that makes [prefix, end) every key starting with prefix,
 * into buf (len bytes at least strlen(prefix)+1). */
void etcd_prefix_end(const char *prefix, char *buf, size_t len);

#endif
