/* statemgr_server.h - embedding the statemgr daemon in a program.
 *
 * statemgrd is a thin main() over this API: create a server, add
 * listeners, run its event loop on the calling thread, stop it from a
 * signal handler's thread or any other thread, free it.
 *
 * Conventions are those of statemgr.h: functions return 0 or a negative
 * SM_E* code; the caller frees what it creates with the matching *_free.
 */
#ifndef STATEMGR_SERVER_H
#define STATEMGR_SERVER_H

#include "statemgr.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sm_server sm_server;
typedef struct sm_server_options sm_server_options;

/** Log thresholds: lines at or above the level are written to stderr. */
typedef enum sm_log_level {
  SM_LOG_ERROR = 0,
  SM_LOG_WARN = 1,
  SM_LOG_INFO = 2,
  SM_LOG_DEBUG = 3,
} sm_log_level;

/** New server options with defaults (caller frees with
 * sm_server_options_free()), or NULL when out of memory. */
sm_server_options *sm_server_options_new(void);
void sm_server_options_free(sm_server_options *o);
/** The authkey file; default: the shared lookup of statemgr.h, creating
 * ~/.statemgr/authkey on first start. */
int sm_server_options_set_authkey_file(sm_server_options *o, const char *path);
/** Uses this key (copied) instead of any file or environment variable. */
int sm_server_options_set_authkey(sm_server_options *o, const void *key, size_t len);
/** Largest frame accepted after authentication (default 64 MiB). */
int sm_server_options_set_max_frame(sm_server_options *o, size_t bytes);
/** Connections served at once (default 10000); one more is refused with
 * TOO_LARGE during its handshake. statemgrd raises its open-file limit to
 * fit. */
int sm_server_options_set_max_connections(sm_server_options *o, size_t n);
/** Parked (blocking) calls one connection may have before the daemon stops
 * reading its further requests until one is answered (default 65536). */
int sm_server_options_set_max_pending(sm_server_options *o, size_t n);
/** Nesting of lists and maps allowed inside a value (default 64, at most
 * 1000); deeper arguments get VALUE_ERROR. */
int sm_server_options_set_max_depth(sm_server_options *o, unsigned depth);
/** Time a new connection has to complete the authkey handshake (default
 * 10000 ms); then it is refused and closed. */
int sm_server_options_set_handshake_timeout(sm_server_options *o, unsigned ms);
/** Process-wide log threshold (default SM_LOG_INFO). */
int sm_server_options_set_log_level(sm_server_options *o, sm_log_level level);
/** Once every listener is bound, write their URLs (one per line, actual
 * ports) to this file, atomically. */
int sm_server_options_set_ready_file(sm_server_options *o, const char *path);
/** TLS for tls:// listeners (TLS 1.2 at least, 1.3 preferred). The files
 * are read by sm_server_new(); the authkey handshake still runs inside TLS.
 * @param cert PEM certificate chain, the server's certificate first.
 * @param key its PEM private key.
 * @param ca NULL, or a PEM file of CAs: clients that present a certificate
 *        must then have one signed by them.
 * @param require_client_cert refuse, during the TLS handshake, a client
 *        without such a certificate (mutual TLS; needs ca).
 * @return 0, SM_EINVAL (cert or key missing, require_client_cert without
 *         ca), SM_ENOMEM. */
int sm_server_options_set_tls(sm_server_options *o, const char *cert, const char *key,
                              const char *ca, bool require_client_cert);
/** TCP keepalive on accepted TCP and TLS connections: after seconds idle
 * (default 15) the daemon probes the client every seconds/3 (at least 1),
 * and after 3 unanswered probes, or data unacknowledged for as long, drops
 * the connection, releasing the locks it held and its parked calls; a dead
 * peer is thus noticed within about twice seconds. 0 leaves the system's
 * settings (usually 2 hours). @return 0, SM_EINVAL (not 0..7200). */
int sm_server_options_set_keepalive(sm_server_options *o, int seconds);

/** Creates a server; the options are copied. Loads the authkey, and the TLS
 * certificate, key and CA when set, now.
 * @param out caller frees with sm_server_free().
 * @return 0, SM_EINVAL (no usable authkey, or unusable TLS files; the
 *         reason is logged), SM_ENOMEM. */
int sm_server_new(const sm_server_options *o, sm_server **out);

/** Adds a listener: tcp://host:port (port 0 picks a free one),
 * tls://host:port (needs sm_server_options_set_tls) or unix:/path; any
 * mix may run side by side.
 * @return 0, SM_EINVAL (bad URL, tls:// without TLS options),
 *         SM_ECONNECT (cannot bind). */
int sm_server_listen(sm_server *s, const char *url);

/** Runs the event loop on the calling thread until the server is stopped
 * (sm_server_stop, SIGINT/SIGTERM when install_signals was set, or a
 * client's shutdown request). @return 0, or SM_EINVAL when nothing listens. */
int sm_server_run(sm_server *s, bool install_signals);

/** Asks a running server to stop: it stops accepting, answers what it has
 * read, flushes and returns from sm_server_run(). Safe from any thread. */
void sm_server_stop(sm_server *s);

/** Frees the server and every object it holds; NULL is fine. */
void sm_server_free(sm_server *s);

#ifdef __cplusplus
}
#endif

#endif /* STATEMGR_SERVER_H */
