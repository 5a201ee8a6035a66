/* SPDX-License-Identifier: MIT */
/* tls.h - the daemon's TLS: one SSL_CTX per server, built at start from the
 * certificate, key and optional client CA (and again on a reload), and the
 * OpenSSL bufferevents that
 * tls:// listeners hand to conn.c; and the client side the daemon needs
 * itself (https:// etcd URLs, etcd.c): a client context and a connecting
 * bufferevent that checks the server's name. Nothing outside this file and
 * listener.c needs an OpenSSL type. */
#ifndef SM_SERVER_TLS_H
#define SM_SERVER_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct bufferevent;
struct event_base;
struct ssl_ctx_st;

/* Builds the server context: TLS 1.2 at least (1.3 preferred), modern
 * ciphers, no renegotiation, the certificate chain in cert and its key in
 * key (PEM files). With ca, client certificates signed by it are asked for
 * and verified; require_client_cert refuses a client without one. Returns
 * the context (free with tls_ctx_free()), or NULL with err filled. */
struct ssl_ctx_st *tls_ctx_new(const char *cert, const char *key, const char *ca,
                               bool require_client_cert, char *err, size_t errlen);

/* Describes the certificate ctx serves: "subject CN=..., valid until
 * ...". */
void tls_ctx_describe(struct ssl_ctx_st *ctx, char *buf, size_t len);

/* Drops the server's reference to a context from tls_ctx_new() (SSLs made
 * from it keep theirs); NULL is fine. */
void tls_ctx_free(struct ssl_ctx_st *ctx);

/* A bufferevent that runs the server side of a TLS handshake on the
 * accepted socket fd and then carries the session (it owns the SSL and the
 * fd). Returns it, or NULL when out of memory (fd closed). */
struct bufferevent *tls_bev_new(struct event_base *base, struct ssl_ctx_st *ctx, int fd);

/* Sends close_notify before the bufferevent is freed, when bev carries a
 * TLS session whose handshake completed and clean is true (no transport
 * error happened). A no-op for a plain bufferevent. */
void tls_bev_shutdown(struct bufferevent *bev, bool clean);

/* Explains why a TLS bufferevent failed: the queued OpenSSL errors and,
 * when the peer's certificate was refused, the verification result. Returns
 * false (buf untouched) for a plain bufferevent or when OpenSSL reported
 * nothing (a socket error: see errno). */
bool tls_bev_describe_error(struct bufferevent *bev, char *buf, size_t len);

/* Builds a client context: TLS 1.2 at least, the server's certificate
 * verified against the CAs in ca (PEM; NULL: the system's trusted CAs),
 * and with cert and key (PEM files; both or neither) a client certificate
 * to present. what names the options in messages ("--etcd"). Returns the
 * context (free with tls_ctx_free()), or NULL with err saying which file
 * is missing, unreadable or does not match. */
struct ssl_ctx_st *tls_client_ctx_new(const char *ca, const char *cert, const char *key,
                                      const char *what, char *err, size_t errlen);

/* A bufferevent without a socket yet (evhttp connects it) that runs the
 * client side of a TLS handshake with host (a name or an IP address): SNI
 * for a name, and the server's certificate must name host. It owns its SSL.
 * Returns it, or NULL when out of memory or host cannot be checked. */
struct bufferevent *tls_client_bev_new(struct event_base *base, struct ssl_ctx_st *ctx,
                                       const char *host);

/* Describes the established session ("TLSv1.3 TLS_AES_256_GCM_SHA384,
 * client certificate CN=..."). Returns false for a plain bufferevent. */
bool tls_bev_describe_session(struct bufferevent *bev, char *buf, size_t len);

#endif
