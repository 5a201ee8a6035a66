/* SPDX-License-Identifier: MIT */
/* smtest_tls.c - certificates made at test time for the TLS suites (see
 * smtest.h): a test CA, a second unrelated CA, server certificates for
 * 127.0.0.1 and localhost (one valid, one expired yesterday, one signed by
 * the other CA, one for both server and client use, as etcd's needs) and
 * client certificates from each CA.
 *
 * Keys are EC P-256 and certificates X.509 v3 with the extensions real
 * deployments use (basicConstraints, keyUsage, extendedKeyUsage,
 * subjectAltName, key identifiers), built with OpenSSL's API so the tests
 * need no openssl command and no configuration file. To add a certificate,
 * add a field to smtest_certs and one make_cert() call. */
#include "smtest.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_S (24L * 60 * 60)

typedef enum cert_kind { CERT_CA, CERT_SERVER, CERT_CLIENT, CERT_SERVER_CLIENT } cert_kind;

static EVP_PKEY *make_key(void) {
  EVP_PKEY *key = NULL;
  EVP_PKEY_CTX *kctx = EVP_PKEY_CTX_new_id(EVP_PKEY_EC, NULL);
  ck_assert_ptr_nonnull(kctx);
  ck_assert_int_eq(EVP_PKEY_keygen_init(kctx), 1);
  ck_assert_int_eq(EVP_PKEY_CTX_set_ec_paramgen_curve_nid(kctx, NID_X9_62_prime256v1), 1);
  ck_assert_int_eq(EVP_PKEY_keygen(kctx, &key), 1);
  EVP_PKEY_CTX_free(kctx);
  return key;
}

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  ck_assert_msg(ext != NULL, "bad extension %s", value);
  ck_assert_int_eq(X509_add_ext(x, ext, -1), 1);
  X509_EXTENSION_free(ext);
}

static void write_pem(const char *path, X509 *x, EVP_PKEY *key) {
  FILE *f = fopen(path, "w");
  ck_assert_msg(f != NULL, "cannot write %s: %s", path, strerror(errno));
  if (x) ck_assert_int_eq(PEM_write_X509(f, x), 1);
  if (key) ck_assert_int_eq(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
  ck_assert_int_eq(fclose(f), 0);
}

/* Makes a certificate for cn valid from not_before to not_after (seconds
 * from now), signed by issuer (NULL: self-signed), and writes it and its
 * key to DIR/NAME.crt and DIR/NAME.key (paths into crt and key). The
 * certificate and key are returned for signing others; caller frees. */
static X509 *make_cert(const char *dir, const char *name, cert_kind kind, const char *cn,
                       const char *san, long not_before, long not_after, X509 *issuer,
                       EVP_PKEY *issuer_key, EVP_PKEY **key_out, char *crt, char *keyp,
                       size_t pathlen) {
  static long serial = 1;
  EVP_PKEY *key = make_key();
  X509 *x = X509_new();
  ck_assert_ptr_nonnull(x);
  ck_assert_int_eq(X509_set_version(x, 2), 1);
  ck_assert_int_eq(ASN1_INTEGER_set(X509_get_serialNumber(x), serial++), 1);
  ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notBefore(x), not_before));
  ck_assert_ptr_nonnull(X509_gmtime_adj(X509_getm_notAfter(x), not_after));
  ck_assert_int_eq(X509_set_pubkey(x, key), 1);
  X509_NAME *subject = X509_get_subject_name(x);
  ck_assert_int_eq(X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC,
                                              (const unsigned char *)"statemgr tests", -1, -1, 0),
                   1);
  ck_assert_int_eq(
      X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0),
      1);
  ck_assert_int_eq(X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subject), 1);
  add_ext(x, issuer, NID_subject_key_identifier, "hash");
  if (kind == CERT_CA) {
    add_ext(x, issuer, NID_basic_constraints, "critical,CA:TRUE");
    add_ext(x, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(x, issuer, NID_key_usage, "critical,digitalSignature");
    add_ext(x, issuer, NID_ext_key_usage,
            kind == CERT_SERVER   ? "serverAuth"
            : kind == CERT_CLIENT ? "clientAuth"
                                  : "serverAuth,clientAuth");
    add_ext(x, issuer, NID_authority_key_identifier, "keyid");
  }
  if (san) add_ext(x, issuer, NID_subject_alt_name, san);
  ck_assert_int_gt(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()), 0);
  snprintf(crt, pathlen, "%s/%s.crt", dir, name);
  snprintf(keyp, pathlen, "%s/%s.key", dir, name);
  write_pem(crt, x, NULL);
  write_pem(keyp, NULL, key);
  if (key_out)
    *key_out = key;
  else
    EVP_PKEY_free(key);
  return x;
}

void smtest_certs_make(smtest_certs *c, const char *extra_ip) {
  memset(c, 0, sizeof *c);
  snprintf(c->dir, sizeof c->dir, "/tmp/smtls.XXXXXX");
  ck_assert_msg(mkdtemp(c->dir) != NULL, "mkdtemp: %s", strerror(errno));
  char san[256], unused[320];
  snprintf(san, sizeof san, "DNS:localhost,IP:127.0.0.1%s%s", extra_ip ? ",IP:" : "",
           extra_ip ? extra_ip : "");
  size_t n = sizeof c->ca;
  EVP_PKEY *ca_key, *other_key;
  X509 *ca = make_cert(c->dir, "ca", CERT_CA, "statemgr test CA", NULL, -DAY_S, 30 * DAY_S, NULL,
                       NULL, &ca_key, c->ca, unused, n);
  X509 *other = make_cert(c->dir, "other-ca", CERT_CA, "unrelated CA", NULL, -DAY_S, 30 * DAY_S,
                          NULL, NULL, &other_key, c->other_ca, unused, n);
  X509 *certs[7];
  certs[0] = make_cert(c->dir, "server", CERT_SERVER, "localhost", san, -DAY_S, 30 * DAY_S, ca,
                       ca_key, NULL, c->server, c->server_key, n);
  certs[1] = make_cert(c->dir, "expired", CERT_SERVER, "localhost", san, -10 * DAY_S, -DAY_S, ca,
                       ca_key, NULL, c->expired, c->expired_key, n);
  certs[2] = make_cert(c->dir, "other-server", CERT_SERVER, "localhost", san, -DAY_S, 30 * DAY_S,
                       other, other_key, NULL, c->other_server, c->other_server_key, n);
  certs[3] = make_cert(c->dir, "client", CERT_CLIENT, "test client", NULL, -DAY_S, 30 * DAY_S, ca,
                       ca_key, NULL, c->client, c->client_key, n);
  certs[4] = make_cert(c->dir, "other-client", CERT_CLIENT, "stranger", NULL, -DAY_S, 30 * DAY_S,
                       other, other_key, NULL, c->other_client, c->other_client_key, n);
  certs[5] = make_cert(c->dir, "server-client", CERT_SERVER_CLIENT, "localhost", san, -DAY_S,
                       30 * DAY_S, ca, ca_key, NULL, c->server_client, c->server_client_key, n);
  certs[6] = NULL;
  for (X509 **x = certs; *x; x++)
    X509_free(*x);
  X509_free(ca);
  X509_free(other);
  EVP_PKEY_free(ca_key);
  EVP_PKEY_free(other_key);
  ERR_clear_error();
}

void smtest_certs_remove(smtest_certs *c) {
  if (!c->dir[0]) return;
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", c->dir);
  if (system(cmd) != 0) fprintf(stderr, "smtest: cannot remove %s\n", c->dir);
  c->dir[0] = '\0';
}
