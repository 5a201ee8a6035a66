/* SPDX-License-Identifier: MIT */
/* statemgr_server.h - embedding the statemgr daemon in a program.
 *
 * statemgrd is a thin main() over this API: create a server, add
 * listeners, register custom types, run its event loop on the calling
 * thread (sm_server_run) or on a thread of its own (sm_server_run_thread),
 * stop it from a signal handler's thread or any other thread, free it.
 *
 * Custom types are the C form of Python's BaseManager.register(): a name
 * plus a table of C callbacks (sm_type_def). Clients create objects of the
 * type with sm_proxy_open() and call its methods with sm_call(). Every
 * callback runs on the server's thread, one at a time, so a type needs no
 * lock.
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
SM_EXTERN sm_server_options *sm_server_options_new(void);
SM_EXTERN void sm_server_options_free(sm_server_options *o);
/** The authkey file; default: the shared lookup of statemgr.h, creating
 * ~/.statemgr/authkey on first start. sm_server_new() refuses a file that
 * group or others may read or write, one owned by another user than the
 * one running the program (root excepted), and a key shorter than 16
 * bytes, logging how to fix it. */
SM_EXTERN int sm_server_options_set_authkey_file(sm_server_options *o, const char *path);
/** Uses this key (copied) instead of any file or environment variable.
 * @return 0, SM_EINVAL (NULL, or not 16..4096 bytes: logged), SM_ENOMEM. */
SM_EXTERN int sm_server_options_set_authkey(sm_server_options *o, const void *key, size_t len);
/** Largest frame accepted after authentication (default 64 MiB). */
SM_EXTERN int sm_server_options_set_max_frame(sm_server_options *o, size_t bytes);
/** Authenticated connections served at once (default 10000); one more is
 * refused with TOO_LARGE as it authenticates. Connections that have not
 * authenticated yet do not count here but in the two limits below.
 * statemgrd raises its open-file limit to fit. */
SM_EXTERN int sm_server_options_set_max_connections(sm_server_options *o, size_t n);
/** Connections that have not authenticated yet, from all sources together
 * (default 512). One more makes room by dropping the oldest of them, which
 * is told TOO_LARGE "dropped: too many connections waiting to
 * authenticate". UNIX-socket peers of the daemon's own user or root are
 * not counted. */
SM_EXTERN int sm_server_options_set_max_unauth_connections(sm_server_options *o, size_t n);
/** The same limit per source (default 128): an IPv4 address, an IPv6 /64,
 * or the user of a UNIX-socket peer. One more drops the oldest of that
 * source, so a flood from one source never takes another's place. */
SM_EXTERN int sm_server_options_set_max_unauth_per_addr(sm_server_options *o, size_t n);
/** Parked (blocking) calls one connection may have before the daemon stops
 * reading its further requests until one is answered (default 65536). */
SM_EXTERN int sm_server_options_set_max_pending(sm_server_options *o, size_t n);
/** The memory limit of the data (stored values, keys, objects and their
 * tables), like Redis's maxmemory: once storing more would pass it, calls
 * that grow the data (set, append, put, create...) get SM_EMAXMEMORY with
 * a text saying how much is used; reads, deletes and calls that do not
 * grow the data still work. 0 (the default): no limit. @return 0,
 * SM_EINVAL. */
SM_EXTERN int sm_server_options_set_max_memory(sm_server_options *o, size_t bytes);
/** Nesting of lists and maps allowed inside a value (default 64, at most
 * 1000); deeper arguments get VALUE_ERROR. Clients learn the limit when
 * they connect, and read back every value stored under it. */
SM_EXTERN int sm_server_options_set_max_depth(sm_server_options *o, unsigned depth);
/** Time a new connection has to complete the authkey handshake (default
 * 10000 ms); then it is refused and closed. */
SM_EXTERN int sm_server_options_set_handshake_timeout(sm_server_options *o, unsigned ms);
/** Process-wide log threshold (default SM_LOG_INFO). */
SM_EXTERN int sm_server_options_set_log_level(sm_server_options *o, sm_log_level level);
/** Writes the log to this file (appended to, created with mode 0640;
 * copied) instead of stderr; a reload (SIGHUP, sm_server_reload) reopens
 * it under its name, for log rotation. NULL: stderr. The log is
 * process-wide; sm_server_new() opens the file and sm_server_free() closes
 * it.
 * @return 0, SM_EINVAL (NULL o, empty path), SM_ENOMEM. */
SM_EXTERN int sm_server_options_set_log_file(sm_server_options *o, const char *path);
/** Serves the daemon's figures as Prometheus text on url (tcp://HOST:PORT
 * or tcp://[V6ADDR]:PORT, port 0 picks one): GET /metrics. Its URL joins
 * the ready file. */
SM_EXTERN int sm_server_options_set_metrics(sm_server_options *o, const char *url);
/** Sends the log to syslog(3) instead of stderr: ident "statemgrd",
 * facility daemon, with the pid; levels map to LOG_ERR, LOG_WARNING,
 * LOG_INFO and LOG_DEBUG. Excludes a log file (sm_server_new() then fails
 * with SM_EINVAL). @return 0, SM_EINVAL (NULL o). */
SM_EXTERN int sm_server_options_set_syslog(sm_server_options *o, bool on);
/** The slow-call log (Redis's SLOWLOG): calls whose dispatch takes
 * threshold_us microseconds or more (default 10000; 0: every call;
 * negative: none) are kept, the newest max_len of them (default 128, at
 * most 100000). A call that parks is timed up to its parking. Both change
 * at run time with the manager's `config` method.
 * @return 0, SM_EINVAL (NULL o, max_len too large). */
SM_EXTERN int sm_server_options_set_slowlog(sm_server_options *o, int64_t threshold_us,
                                            size_t max_len);
/** Once every listener is bound, write their URLs (one per line, actual
 * ports) to this file, atomically. */
SM_EXTERN int sm_server_options_set_ready_file(sm_server_options *o, const char *path);
/** TLS for tls:// listeners (TLS 1.2 at least, 1.3 preferred). The files
 * are read by sm_server_new(), and again by each reload (SIGHUP,
 * sm_server_reload), for certificate rotation without a restart; the
 * authkey handshake still runs inside TLS.
 * @param cert PEM certificate chain, the server's certificate first.
 * @param key its PEM private key.
 * @param ca NULL, or a PEM file of CAs: clients that present a certificate
 *        must then have one signed by them.
 * @param require_client_cert refuse, during the TLS handshake, a client
 *        without such a certificate (mutual TLS; needs ca).
 * @return 0, SM_EINVAL (cert or key missing, require_client_cert without
 *         ca), SM_ENOMEM. */
SM_EXTERN int sm_server_options_set_tls(sm_server_options *o, const char *cert, const char *key,
                                        const char *ca, bool require_client_cert);
/** TCP keepalive on accepted TCP and TLS connections: after seconds idle
 * (default 15) the daemon probes the client every seconds/3 (at least 1),
 * and after 3 unanswered probes, or data unacknowledged for as long, drops
 * the connection, releasing the locks it held and its parked calls; a dead
 * peer is thus noticed within about twice seconds. 0 leaves the system's
 * settings (usually 2 hours). @return 0, SM_EINVAL (not 0..7200). */
SM_EXTERN int sm_server_options_set_keepalive(sm_server_options *o, int seconds);

/** When a mutating call's log record reaches the disk (see
 * sm_server_options_set_data_dir). */
typedef enum sm_fsync_mode {
  /** fdatasync before the call is answered, shared by the calls of one
   * batch (group commit): nothing answered is lost, even by a power cut. */
  SM_FSYNC_ALWAYS = 0,
  /** written before the answer, synced once a second: a crash of the
   * daemon loses nothing, a power cut or a kernel crash up to a second. */
  SM_FSYNC_EVERYSEC = 1,
  /** written before the answer, synced when the kernel decides: a power
   * cut may lose what the kernel had not written (often up to 30 s). */
  SM_FSYNC_NO = 2,
} sm_fsync_mode;

/** Keeps the state in the data directory path (copied), so that every
 * object comes back after a stop, a crash or a reboot as of the last
 * answered call: a log of every change, compacted by snapshots. The
 * directory is created with mode 0700 (its parent too) and must belong to
 * the user running the server and be closed to group and others; a second
 * server on it is refused while the first runs. NULL (the default): the
 * state lives in memory only and ends with the server; statemgrd's default
 * is ~/.statemgr/data.
 * @return 0, SM_EINVAL (NULL o, empty path), SM_ENOMEM. */
SM_EXTERN int sm_server_options_set_data_dir(sm_server_options *o, const char *path);
/** What the server does with a blocking call (lock, rlock or semaphore
 * acquire) that would close a cycle of waiting clients. */
typedef enum sm_deadlock_mode {
  /** refuse it at once with SM_EDEADLK (DEADLOCK; older clients get
   * TIMEOUT): the default. */
  SM_DEADLOCK_FAIL = 0,
  /** log it and count it (statemgr_deadlocks_total), and let it wait. */
  SM_DEADLOCK_REPORT = 1,
} sm_deadlock_mode;

/** Deadlock handling (default SM_DEADLOCK_FAIL). @return 0, SM_EINVAL. */
SM_EXTERN int sm_server_options_set_deadlock(sm_server_options *o, sm_deadlock_mode mode);

/** When log records reach the disk (default SM_FSYNC_ALWAYS).
 * @return 0, SM_EINVAL. */
SM_EXTERN int sm_server_options_set_fsync(sm_server_options *o, sm_fsync_mode mode);
/** How long the sessions of an earlier run keep their locks, semaphore
 * units and references to anonymous objects after a restart (default
 * 10000 ms); then they end as a client that died ends, and the next
 * waiters run. @return 0, SM_EINVAL (negative). */
SM_EXTERN int sm_server_options_set_session_resume_timeout(sm_server_options *o, int64_t ms);
/** A snapshot is written (by a forked child, the server serving on) once
 * the log has grown by more than bytes since the last one (default 64
 * MiB); the log it covers is then removed. @return 0, SM_EINVAL (0). */
SM_EXTERN int sm_server_options_set_snapshot_log_size(sm_server_options *o, size_t bytes);

/** Makes the server a member of the replicated group name (copied): its
 * state is kept in etcd, at etcd_urls (a comma-separated list of
 * http://host:port or https://host:port URLs of etcd members, all of one
 * scheme; see sm_server_options_set_etcd_tls), as a log of commands that every
 * member applies, instead of in a data directory (a data directory set as
 * well is refused). One member, elected through etcd, leads and answers
 * clients; the others answer REDIRECT naming the leader's advertise URL,
 * which must be a URL clients reach this server by. See README.md
 * "Running a replicated group".
 * @return 0, SM_EINVAL (NULL or empty argument), SM_ENOMEM. */
SM_EXTERN int sm_server_options_set_cluster(sm_server_options *o, const char *name,
                                            const char *etcd_urls, const char *advertise);
/** The leader's lease in etcd, in seconds (default 3): a leader that dies
 * is replaced about this long after, and a leader cut off from etcd stops
 * answering before then. @return 0, SM_EINVAL (not 1..600). */
SM_EXTERN int sm_server_options_set_cluster_lease_ttl(sm_server_options *o, int seconds);
/** etcd's --max-request-bytes, as the etcd members of the group run with
 * it (default 1.5 MiB, etcd's own default): the largest request etcd
 * takes. The leader cuts its batches of commands and its snapshot's
 * chunks to fit, and refuses with SM_ETOOLARGE, before it runs, a change
 * whose arguments could not fit in one append. Set it to etcd's value: a
 * larger one makes etcd refuse a batch, and the leader then steps down.
 * @return 0, SM_EINVAL (under 16 KiB or over 1 GiB). */
SM_EXTERN int sm_server_options_set_etcd_max_request_bytes(sm_server_options *o, size_t bytes);
/** TLS for https:// etcd URLs (TLS 1.2 at least; the options of etcdctl):
 * the files (PEM, copied paths) are read by sm_server_new(), which fails
 * when one is missing or unreadable or the key does not match the
 * certificate. etcd's certificate must be signed by a CA of cacert and
 * name the URL's host.
 * @param cacert NULL (the system's trusted CAs), or the CA file that
 *        signed etcd's server certificate (etcd's --trusted-ca-file side).
 * @param cert NULL, or the client certificate to present (etcd's
 *        --client-cert-auth asks for one signed by its --trusted-ca-file).
 * @param key its private key; cert and key go together.
 * Setting any of them with http:// URLs makes sm_server_new() fail.
 * @return 0, SM_EINVAL (NULL o, cert without key or key without cert),
 *         SM_ENOMEM. */
SM_EXTERN int sm_server_options_set_etcd_tls(sm_server_options *o, const char *cacert,
                                             const char *cert, const char *key);

/** Creates a server; the options are copied. Loads the authkey, and the TLS
 * certificate, key and CA when set, now, and makes and locks the data
 * directory (the state in it is loaded by sm_server_run, once custom types
 * are registered).
 * @param out caller frees with sm_server_free().
 * @return 0, SM_EINVAL (no usable authkey, unusable TLS files, a log file
 *         that cannot be opened, a data directory that cannot be used or
 *         that another server holds; the reason is logged), SM_ENOMEM. */
SM_EXTERN int sm_server_new(const sm_server_options *o, sm_server **out);

/** Adds a listener: tcp://host:port (port 0 picks a free one; an empty
 * host, tcp://:PORT, every address; IPv6 as tcp://[::1]:PORT),
 * tls://host:port (needs sm_server_options_set_tls), unix:PATH or
 * unix:///ABSOLUTE/PATH (unix://NAME is refused as ambiguous); any mix may
 * run side by side. The client library reads URLs the same way.
 * @return 0, SM_EINVAL (bad URL, tls:// without TLS options),
 *         SM_ECONNECT (cannot bind). */
SM_EXTERN int sm_server_listen(sm_server *s, const char *url);

/** Runs the event loop on the calling thread until the server is stopped
 * (sm_server_stop, SIGINT/SIGTERM when install_signals was set, or a
 * client's shutdown request). With install_signals, SIGHUP reloads (see
 * sm_server_reload), and SIGPIPE and SIGXFSZ are ignored (a file size
 * limit then shows as a full disk). With a data directory it first loads
 * the state kept there, and at a clean stop writes a snapshot after the
 * last answer.
 * @return 0; SM_EINVAL when nothing listens or the data directory's state
 *         cannot be loaded (damage: the log names the file and offset);
 *         SM_EINTERNAL when writing the log failed (fdatasync), which
 *         stops the server at once. */
SM_EXTERN int sm_server_run(sm_server *s, bool install_signals);

/** True after sm_server_run returned because this member of a replicated
 * group stopped leading while its state may hold commands the group never
 * took: the server must be freed and a new one made and run, which loads
 * the group's state again (statemgrd runs itself again). */
SM_EXTERN bool sm_server_needs_restart(const sm_server *s);

/** Asks a running server to stop: it stops accepting, answers what it has
 * read, flushes and returns from sm_server_run(). Safe from any thread. */
SM_EXTERN void sm_server_stop(sm_server *s);

/** Asks a running server to reload, as SIGHUP does: reopen the log file
 * (sm_server_options_set_log_file) and read the TLS certificate and key
 * again; connections accepted afterwards get the new certificate, open
 * ones keep theirs. A file that cannot be used keeps the old one; the log
 * says what was done or why not. Safe from any thread and from a signal
 * handler. */
SM_EXTERN void sm_server_reload(sm_server *s);

/** Runs the event loop (as sm_server_run without signals) on a new thread
 * of its own, and returns at once. From then on only that thread touches
 * the server: other threads may only call sm_server_stop() and then
 * sm_server_join().
 * @return 0, SM_EINVAL (nothing listens, or already running), SM_ENOMEM
 *         (no thread). */
SM_EXTERN int sm_server_run_thread(sm_server *s);

/** Waits for the thread of sm_server_run_thread() to end (after
 * sm_server_stop() or a client's shutdown request).
 * @return the loop's status (as sm_server_run), or SM_EINVAL when no
 *         thread runs. */
SM_EXTERN int sm_server_join(sm_server *s);

/** Frees the server and every object it holds; NULL is fine. A thread of
 * sm_server_run_thread() still running is stopped and joined first. */
SM_EXTERN void sm_server_free(sm_server *s);

/* ------------------------------------------------------------------ */
/* Custom types                                                        */
/* ------------------------------------------------------------------ */

/** A method's return value when it parked the call with sm_method_park():
 * the caller gets its answer later, from sm_pending_answer(). Positive, so
 * never an SM_E* code. */
#define SM_PARKED 1

/** One call of a custom method; borrowed, valid only while the callback
 * runs. */
typedef struct sm_method_call sm_method_call;
/** A parked call waiting for its answer (see sm_method_park()). */
typedef struct sm_pending sm_pending;

/** A method callback. It reads its object's state and arguments through
 * mc, then returns 0 after sm_method_reply() (no reply: nil), an SM_E*
 * code (best through sm_method_fail(), which adds the text the caller
 * sees), or SM_PARKED after sm_method_park(). */
typedef int (*sm_method_fn)(sm_method_call *mc);

/** The layout of sm_type_def and sm_method_def this header declares; a
 * definition names it in its version field. Both structs only ever grow at
 * their end, each growth raising this number, and the server reads the
 * fields (and the method table's element size) of the version a definition
 * names: a program built against an older header keeps working with a
 * newer server library, and one built against a newer header than its
 * server library is refused with a clear error. */
#define SM_TYPE_DEF_VERSION 1

/** One method of a custom type, in the table of its sm_type_def (whose
 * version gives this struct's layout too). */
typedef struct sm_method_def {
  const char *name; /**< the name clients pass to sm_call() */
  sm_method_fn fn;  /**< never NULL */
} sm_method_def;

/** A custom type. Initialise it with designated initializers and set the
 * version first:
 *   static const sm_type_def counter = {.version = SM_TYPE_DEF_VERSION,
 *       .name = "counter", ...};
 * Fields left out are NULL or 0. */
typedef struct sm_type_def {
  /** SM_TYPE_DEF_VERSION: the layout this definition was built with.
   * sm_server_register_type() refuses 0 (not set) and a version newer than
   * the server library's, logging which. */
  int version;
  const char *name; /**< the type name of sm_proxy_open(); 1..63 bytes */
  /** Builds a new object's state from the creation arguments (the initial
   * value of sm_proxy_open(): nargs is 0 or 1; borrowed for the call).
   * Returns the state (NULL is a fine state), or sets *status to an SM_E*
   * code (SM_EVALUE for bad arguments) to refuse. NULL: the state is NULL
   * and creation takes no arguments. */
  void *(*create)(const sm_value *const *args, size_t nargs, int *status);
  /** Frees the state when the object is deleted, its last reference goes,
   * or the server is freed. Calls still parked on it are answered
   * SM_ENOTFOUND before, and their handles are freed after destroy
   * returns (sm_pending_answer on them meanwhile returns SM_ECLOSED). NULL:
   * nothing to free. */
  void (*destroy)(void *state);
  const sm_method_def *methods; /**< borrowed; must outlive the server */
  size_t n_methods;
  /** Writes the state as one value for the daemon's snapshots (a durable
   * daemon, --data-dir): the same state should give an equal value, and
   * refs inside are kept as they are. It runs in the forked child that
   * writes the snapshot, so it may only read the state (no locks, no other
   * threads there). Returns the value, which the server frees (NULL:
   * nil), or NULL with *status set to an SM_E* code, which fails that
   * snapshot. NULL: objects of the type live in memory only (they and the
   * calls on them are not logged, a restart starts without them, and a
   * kept object may not store a reference to one: SM_ETYPE), and the
   * daemon names the type in its log at start. Set both this and
   * deserialize, or neither. */
  sm_value *(*serialize)(const void *state, int *status);
  /** Rebuilds a state from what serialize returned (borrowed for the
   * call) when the daemon starts from a snapshot. Returns the state (NULL
   * is a fine state), or sets *status to an SM_E* code, which stops the
   * start with the object named. */
  void *(*deserialize)(const sm_value *saved, int *status);
} sm_type_def;

/** Registers a custom type before the server runs. The definition (names
 * and method table included) is borrowed and must outlive the server.
 * Requests name the type a proxy expects by a 32-bit code of its name, so
 * two types may not share a code: rename a type that collides (the log
 * says with which).
 * @return 0, SM_EINVAL (bad definition, serialize without deserialize or
 *         the reverse included; a version that is 0 or newer than
 *         SM_TYPE_DEF_VERSION of the server library; the server already
 *         runs; the name is taken,
 *         by a built-in type too, or its code is another type's),
 *         SM_ENOMEM. */
SM_EXTERN int sm_server_register_type(sm_server *s, const sm_type_def *t);

/** The state create() returned for the called object; borrowed. */
SM_EXTERN void *sm_method_state(const sm_method_call *mc);
/** The number of arguments the client passed. */
SM_EXTERN size_t sm_method_nargs(const sm_method_call *mc);
/** Argument i (nil values included), or NULL when i >= nargs; borrowed,
 * valid while the callback runs (sm_value_copy() keeps one). */
SM_EXTERN const sm_value *sm_method_arg(const sm_method_call *mc, size_t i);
/** Sets the call's result (copied; NULL: nil); a later reply replaces it.
 * @return 0, SM_EVALUE (nested too deep), SM_ENOMEM. */
SM_EXTERN int sm_method_reply(sm_method_call *mc, const sm_value *result);
/** Sets the error text the caller will read from sm_last_error() and
 * returns status, for `return sm_method_fail(mc, SM_EVALUE, "...", ...)`. */
SM_EXTERN int sm_method_fail(sm_method_call *mc, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/** Parks the call: the callback then returns SM_PARKED and answers it
 * later with sm_pending_answer(), from the server's thread (typically from
 * another method call on the same object). A caller's sm_call_timed()
 * deadline is kept by the server: when it passes the caller gets
 * SM_ETIMEOUT and the handle goes dead.
 * @return the handle (owned by the server; see sm_pending_answer), or
 *         NULL when the call cannot wait (its timeout is 0: it gets
 *         SM_ETIMEOUT; the server is stopping: SM_ESHUTDOWN; out of
 *         memory). The callback returns SM_PARKED either way. */
SM_EXTERN sm_pending *sm_method_park(sm_method_call *mc);

/** Answers a parked call and frees the handle. status 0 sends result
 * (copied; NULL: nil); an SM_E* status sends that error instead.
 * @return 0, or SM_ECLOSED when the handle is dead (its connection closed,
 *         its deadline passed, or its object is being destroyed): nothing
 *         is sent but the handle is freed all the same. */
SM_EXTERN int sm_pending_answer(sm_pending *p, int status, const sm_value *result);

/** True while someone still waits for the answer of p (a dead handle
 * still needs sm_pending_answer(), or its object's destruction, to be
 * freed). */
SM_EXTERN bool sm_pending_alive(const sm_pending *p);

#ifdef __cplusplus
}
#endif

#endif /* STATEMGR_SERVER_H */
