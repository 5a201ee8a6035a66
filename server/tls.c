/* SPDX-License-Identifier: MIT */
/* tls.c - the daemon side of TLS (see tls.h).
 *
 * The SSL_CTX is built when the server is created, and again by a reload
 * (server.c swaps it in for new connections), and every accepted
 * tls:// socket gets one SSL of it inside a libevent OpenSSL bufferevent in
 * the accepting state (BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS), so
 * conn.c frames bytes the same way over TLS and plain sockets. The
 * bufferevent owns the SSL and frees it with itself; close_notify is sent
 * just before (tls_bev_shutdown). A client that closes without close_notify
 * is an ordinary EOF (SSL_OP_IGNORE_UNEXPECTED_EOF): the protocol's own
 * framing shows truncation; a socket error (a peer gone, found by
 * keepalive) stays an error.
 *
 * The client side (tls_client_ctx_new, tls_client_bev_new) serves the
 * daemon's own requests to https:// etcd URLs: the same minimum version,
 * the server's certificate verified with its name checked as the library's
 * tls:// client does (client/chan.c).
 *
 * Defaults: TLS 1.2 minimum, 1.3 negotiated whenever the client has it,
 * ECDHE with AEAD ciphers for 1.2, no renegotiation, no compression, the
 * server's cipher order. To change them, change ctx_new() (both sides)
 * and tls_ctx_new() (the server's ciphers). */
#include "tls.h"

#include "log.h"

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <arpa/inet.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* TLS 1.2 suites: forward secrecy and AEAD only (Mozilla "intermediate"). */
#define TLS12_CIPHERS                                                                              \
  "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                                     \
  "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                                     \
  "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

static const unsigned char SESSION_ID_CONTEXT[] = "statemgrd";

/* The words for OpenSSL error e: a system error as strerror() says it,
 * else its reason string, else its code. */
static const char *error_text(unsigned long e, char *buf, size_t len) {
  if (ERR_GET_LIB(e) == ERR_LIB_SYS) return strerror(ERR_GET_REASON(e));
  const char *why = ERR_reason_error_string(e);
  if (why) return why;
  ERR_error_string_n(e, buf, len);
  return buf;
}

/* Writes prefix and the reason of the first queued OpenSSL error (the root
 * cause) to err, and empties the queue. */
static void openssl_reason(char *err, size_t errlen, const char *prefix) {
  unsigned long e, first = 0;
  while ((e = ERR_get_error()) != 0)
    if (!first && ERR_GET_REASON(e) != ERR_R_SYS_LIB) first = e; /* "system lib": no news */
  char code[256];
  snprintf(err, errlen, "%s: %s", prefix, first ? error_text(first, code, sizeof code) : "unknown");
}

/* Warns when the certificate just loaded into ctx is not valid now. */
static void check_validity(SSL_CTX *ctx, const char *cert) {
  X509 *x = SSL_CTX_get0_certificate(ctx);
  if (!x) return;
  if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0)
    log_warn("the TLS certificate %s has expired: clients will refuse it", cert);
  else if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0)
    log_warn("the TLS certificate %s is not valid yet: clients will refuse it", cert);
}

/* A context of method m for TLS 1.2 or later, without renegotiation or
 * compression, with extra_opts. NULL with err filled. */
static SSL_CTX *ctx_new(const SSL_METHOD *m, uint64_t extra_opts, char *err, size_t errlen) {
  SSL_CTX *ctx = SSL_CTX_new(m);
  if (!ctx) {
    openssl_reason(err, errlen, "cannot create a TLS context");
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  uint64_t opts = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | extra_opts;
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
  opts |= SSL_OP_IGNORE_UNEXPECTED_EOF; /* OpenSSL 3: a close without close_notify is EOF */
#endif
  SSL_CTX_set_options(ctx, opts);
  return ctx;
}

SSL_CTX *tls_ctx_new(const char *cert, const char *key, const char *ca, bool require_client_cert,
                     char *err, size_t errlen) {
  ERR_clear_error();
  char prefix[600];
  if (!cert || !key) {
    snprintf(err, errlen,
             "a tls:// listener needs a certificate and its key (--tls-cert, "
             "--tls-key)");
    return NULL;
  }
  if (require_client_cert && !ca) {
    snprintf(err, errlen,
             "--tls-require-client-cert needs --tls-ca, the CA that signs the "
             "client certificates");
    return NULL;
  }
  SSL_CTX *ctx = ctx_new(TLS_server_method(), SSL_OP_CIPHER_SERVER_PREFERENCE, err, errlen);
  if (!ctx) return NULL;
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS); /* idle connections keep no buffers */
  SSL_CTX_set_session_id_context(ctx, SESSION_ID_CONTEXT, sizeof SESSION_ID_CONTEXT - 1);
  if (SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1) {
    openssl_reason(err, errlen, "cannot set the TLS 1.2 ciphers");
    goto fail;
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
    snprintf(prefix, sizeof prefix, "cannot load the TLS certificate %s", cert);
    openssl_reason(err, errlen, prefix);
    goto fail;
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
    snprintf(prefix, sizeof prefix, "cannot load the TLS key %s", key);
    openssl_reason(err, errlen, prefix);
    goto fail;
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    snprintf(prefix, sizeof prefix, "the TLS key %s does not match the certificate %s", key, cert);
    openssl_reason(err, errlen, prefix);
    goto fail;
  }
  check_validity(ctx, cert);
  if (ca) {
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
    if (!names || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
      if (names) sk_X509_NAME_pop_free(names, X509_NAME_free);
      snprintf(prefix, sizeof prefix, "cannot load the client CA file %s", ca);
      openssl_reason(err, errlen, prefix);
      goto fail;
    }
    SSL_CTX_set_client_CA_list(ctx, names); /* takes names */
    int mode = SSL_VERIFY_PEER | (require_client_cert ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0);
    SSL_CTX_set_verify(ctx, mode, NULL);
  }
  ERR_clear_error();
  return ctx;
fail:
  SSL_CTX_free(ctx);
  ERR_clear_error();
  return NULL;
}

void tls_ctx_describe(SSL_CTX *ctx, char *buf, size_t len) {
  X509 *x = SSL_CTX_get0_certificate(ctx);
  char subject[256] = "?", until[64] = "?";
  if (x) {
    X509_NAME_oneline(X509_get_subject_name(x), subject, (int)sizeof subject);
    BIO *b = BIO_new(BIO_s_mem());
    if (b && ASN1_TIME_print(b, X509_get0_notAfter(x)) == 1) {
      int n = BIO_read(b, until, (int)sizeof until - 1);
      until[n > 0 ? n : 0] = '\0';
    }
    BIO_free(b);
  }
  snprintf(buf, len, "subject %s, valid until %s", subject, until);
  ERR_clear_error();
}

void tls_ctx_free(SSL_CTX *ctx) { SSL_CTX_free(ctx); }

SSL_CTX *tls_client_ctx_new(const char *ca, const char *cert, const char *key, const char *what,
                            char *err, size_t errlen) {
  ERR_clear_error();
  char prefix[600];
  if (!cert != !key) {
    snprintf(err, errlen, "%s: a client certificate and its key go together", what);
    return NULL;
  }
  SSL_CTX *ctx = ctx_new(TLS_client_method(), 0, err, errlen);
  if (!ctx) return NULL;
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  if (ca ? SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1
         : SSL_CTX_set_default_verify_paths(ctx) != 1) {
    snprintf(prefix, sizeof prefix, "%s: cannot load the CA file %s", what,
             ca ? ca : "of the system");
    openssl_reason(err, errlen, prefix);
    goto fail;
  }
  if (cert && SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
    snprintf(prefix, sizeof prefix, "%s: cannot load the client certificate %s", what, cert);
    openssl_reason(err, errlen, prefix);
    goto fail;
  }
  /* Loading a key that is not the certificate's fails already, as
   * "key values mismatch": said plainly, as the check below would. */
  bool loaded = !key || SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) == 1;
  if (!loaded && ERR_GET_REASON(ERR_peek_last_error()) != X509_R_KEY_VALUES_MISMATCH) {
    snprintf(prefix, sizeof prefix, "%s: cannot load the client key %s", what, key);
    openssl_reason(err, errlen, prefix);
    goto fail;
  }
  if (!loaded || (cert && SSL_CTX_check_private_key(ctx) != 1)) {
    snprintf(prefix, sizeof prefix, "%s: the client key %s does not match the certificate %s", what,
             key, cert);
    openssl_reason(err, errlen, prefix);
    goto fail;
  }
  if (cert) check_validity(ctx, cert);
  ERR_clear_error();
  return ctx;
fail:
  SSL_CTX_free(ctx);
  ERR_clear_error();
  return NULL;
}

struct bufferevent *tls_client_bev_new(struct event_base *base, SSL_CTX *ctx, const char *host) {
  unsigned char addr[sizeof(struct in6_addr)];
  bool ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
  SSL *ssl = SSL_new(ctx);
  bool ok = ssl != NULL;
  if (ok && !ip) ok = SSL_set_tlsext_host_name(ssl, host) == 1; /* SNI carries names only */
  if (ok) {
    X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    ok = ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, host) == 1 : SSL_set1_host(ssl, host) == 1;
  }
  struct bufferevent *bev =
      ok ? bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                          BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)
         : NULL;
  if (!bev) SSL_free(ssl);
  ERR_clear_error();
  return bev;
}

struct bufferevent *tls_bev_new(struct event_base *base, SSL_CTX *ctx, int fd) {
  SSL *ssl = SSL_new(ctx);
  if (!ssl) {
    ERR_clear_error();
    close(fd);
    return NULL;
  }
  struct bufferevent *bev = bufferevent_openssl_socket_new(
      base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
  if (!bev) {
    SSL_free(ssl);
    close(fd);
    return NULL;
  }
#ifndef SSL_OP_IGNORE_UNEXPECTED_EOF
  /* Before OpenSSL 3 this keeps a close without close_notify an EOF rather
   * than an error (it also hides socket errors, which OpenSSL 3 reports). */
  bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
#endif
  return bev;
}

void tls_bev_shutdown(struct bufferevent *bev, bool clean) {
  SSL *ssl = bufferevent_openssl_get_ssl(bev);
  if (!ssl) return;
  /* One try on the non-blocking socket: close_notify goes out if there is
   * room, and nobody waits for the client's. */
  if (clean && SSL_is_init_finished(ssl)) SSL_shutdown(ssl);
  ERR_clear_error();
}

bool tls_bev_describe_error(struct bufferevent *bev, char *buf, size_t len) {
  SSL *ssl = bufferevent_openssl_get_ssl(bev);
  if (!ssl || len == 0) return false;
  size_t n = 0;
  buf[0] = '\0';
  unsigned long e;
  while ((e = bufferevent_get_openssl_error(bev)) != 0) {
    /* libevent also queues SSL_get_error()'s result (library 0): skip it. */
    if (n >= len || ERR_GET_LIB(e) == 0 || ERR_GET_REASON(e) == ERR_R_SYS_LIB) continue;
    char code[256];
    n +=
        (size_t)snprintf(buf + n, len - n, "%s%s", n ? "; " : "", error_text(e, code, sizeof code));
  }
  long vr = SSL_get_verify_result(ssl);
  if (vr != X509_V_OK && n < len)
    n += (size_t)snprintf(buf + n, len - n, "%s%s certificate: %s", n ? "; " : "",
                          SSL_is_server(ssl) ? "client" : "server",
                          X509_verify_cert_error_string(vr));
  ERR_clear_error();
  return n > 0;
}

bool tls_bev_describe_session(struct bufferevent *bev, char *buf, size_t len) {
  SSL *ssl = bufferevent_openssl_get_ssl(bev);
  if (!ssl) return false;
  X509 *peer = SSL_get_peer_certificate(ssl);
  char subject[256] = "";
  bool has_peer = peer != NULL;
  if (peer) X509_NAME_oneline(X509_get_subject_name(peer), subject, (int)sizeof subject);
  X509_free(peer);
  snprintf(buf, len, "%s %s%s%s", SSL_get_version(ssl), SSL_get_cipher_name(ssl),
           has_peer ? ", client certificate " : "", subject);
  return true;
}
