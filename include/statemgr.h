/* SPDX-License-Identifier: MIT */
/* statemgr.h - the statemgr client library (libstatemgr).
 *
 * A program connects to a statemgrd with sm_connect() and opens typed
 * proxies (sm_dict, sm_list, sm_var, sm_ns) whose every call is forwarded to
 * the daemon, so processes on this machine and on others share the same
 * objects.
 *
 * Conventions, for every function here:
 * - Functions return int: 0 (SM_OK) on success, a negative SM_E* code on
 *   failure. sm_strerror() names the code; sm_last_error() gives the text
 *   of the last failure on the calling thread.
 * - Results come through out-parameters. Whoever receives an allocated
 *   result owns it and frees it with the function named beside it
 *   (sm_value_free, sm_free, sm_dict_free...). Destructors accept NULL.
 *   On failure, out-parameters are left untouched.
 * - Arguments are borrowed for the duration of the call unless a function
 *   says it takes ownership.
 * - Thread safety: an sm_client is shared by all threads of a process; each
 *   thread gets its own connection on first use, so a blocking call in one
 *   thread never stalls another. Proxies may be used from any thread of the
 *   process that opened them. sm_value objects are not synchronised: do not
 *   share one between threads while one of them modifies it.
 * - After fork(), the child may keep using the client and its proxies: it
 *   opens fresh connections and never touches the parent's sockets.
 * - Reconnection: when a connection drops (the daemon restarted, say), the
 *   next call on that thread opens a new one, handshake included. Each
 *   connection learns the instance of the daemon it reached (a random id of
 *   each run). Proxies of named objects keep working: when the instance
 *   changed, each looks its object up again by name (get-or-create, with
 *   its creation arguments), since a restarted daemon starts empty. An
 *   anonymous object dies with the daemon: its proxies, and proxies opened
 *   from a ref or token of the earlier daemon, then get SM_ESTALE, without
 *   sending anything. Object ids are never reused, not even by a daemon
 *   restarted from nothing, and every call names the type its proxy was
 *   opened for, which the daemon checks: an old proxy never reaches another
 *   object. Against a durable daemon (a data directory) a call in flight
 *   when the connection failed is sent again once the library has
 *   reconnected and resumed its session, until the client's connect
 *   timeout passes, and answered exactly once (the daemon keeps each
 *   session's answers until the client has them). Otherwise a call whose
 *   request was sent when the connection failed (in flight, parked...)
 *   reports SM_ECLOSED and is never repeated: it may or may not have been
 *   applied. A call that could not be sent at all (the daemon had closed
 *   the connection first: seen at once on a UNIX socket; over plain TCP it
 *   is checked for on a connection idle for over a second, so a send to a
 *   peer that left is caught too) goes out once more on a new connection.
 * - Versions: the handshake names the protocol version both sides speak;
 *   this library speaks protocol 3 (2 to a daemon that offers no more) and
 *   refuses (SM_EPROTO) a daemon that offers neither. A status of a newer
 *   daemon that this library has no code for arrives as SM_EREMOTE, the
 *   text naming it.
 */
#ifndef STATEMGR_H
#define STATEMGR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SM_VERSION_MAJOR 0
#define SM_VERSION_MINOR 1
#define SM_VERSION_PATCH 0
#define SM_VERSION_HEX ((SM_VERSION_MAJOR << 16) | (SM_VERSION_MINOR << 8) | SM_VERSION_PATCH)

#if defined(__GNUC__)
#define SM_EXTERN __attribute__((visibility("default")))
#else
#define SM_EXTERN
#endif

/** Default daemon address when none is given. */
#define SM_DEFAULT_URL "tcp://127.0.0.1:7450"

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/* The error table: name, code, text. Append only: numbers never change.
 * Codes -1..-13 answer the daemon's statuses 1..13 (the same numbers, for
 * history), SM_EMAXMEMORY, SM_ESTALE, SM_EDISKFULL and -23..-26 its later ones; the rest arise in
 * the library, SM_EREMOTE for a status this library does not know (a newer
 * daemon's: the text has its number and the daemon's words). Which status
 * gives which code is one table inside the library (docs/protocol.md,
 * "Statuses"), not arithmetic. */
#define SM_ERRNO_MAP(XX)                                                                           \
  XX(TIMEOUT, -1, "timed out")                                                                     \
  XX(NOTFOUND, -2, "not found")                                                                    \
  XX(TYPE, -3, "wrong type")                                                                       \
  XX(VALUE, -4, "bad value")                                                                       \
  XX(EMPTY, -5, "empty")                                                                           \
  XX(FULL, -6, "full")                                                                             \
  XX(BROKEN, -7, "broken")                                                                         \
  XX(NOTOWNER, -8, "not the owner")                                                                \
  XX(AUTH, -9, "authentication failed")                                                            \
  XX(PROTO, -10, "protocol error")                                                                 \
  XX(TOOLARGE, -11, "too large")                                                                   \
  XX(SHUTDOWN, -12, "server shutting down")                                                        \
  XX(INTERNAL, -13, "internal server error")                                                       \
  XX(CONNECT, -14, "cannot connect")                                                               \
  XX(CLOSED, -15, "connection closed")                                                             \
  XX(NOMEM, -16, "out of memory")                                                                  \
  XX(INVAL, -17, "invalid argument")                                                               \
  XX(TLS, -18, "TLS error")                                                                        \
  XX(MAXMEMORY, -19, "the daemon's memory limit is reached")                                       \
  XX(STALE, -20, "stale object reference")                                                         \
  XX(REMOTE, -21, "error from the daemon")                                                         \
  XX(DISKFULL, -22, "the daemon's disk is full")                                                   \
  XX(OWNERDEAD, -23, "acquired, but its last holder died holding it")                              \
  XX(DEADLK, -24, "the wait would deadlock")                                                       \
  XX(FENCED, -25, "fencing token is no longer current")                                            \
  XX(REDIRECT, -26, "not the leader of the group")

typedef enum sm_error {
  SM_OK = 0,
#define SM_ERR_ENUM(name, code, text) SM_E##name = (code),
  SM_ERRNO_MAP(SM_ERR_ENUM)
#undef SM_ERR_ENUM
} sm_error;

/** @return a static description of an SM_E* code ("unknown error" otherwise). */
SM_EXTERN const char *sm_strerror(int code);
/** @return the static name of a code, such as "SM_ENOTFOUND". */
SM_EXTERN const char *sm_errname(int code);
/** @return the text of the last failure on this thread (daemon's message
 * when it sent one). Borrowed: valid until the next call on this thread. */
SM_EXTERN const char *sm_last_error(void);

/** @return the library version as "MAJOR.MINOR.PATCH" (static). */
SM_EXTERN const char *sm_version(void);
/** @return SM_VERSION_HEX of the library actually linked. */
SM_EXTERN unsigned sm_version_hex(void);

/** Frees a string or buffer returned by the library (NULL is fine). */
SM_EXTERN void sm_free(void *p);

/* ------------------------------------------------------------------ */
/* Values                                                              */
/* ------------------------------------------------------------------ */

/** The kinds of value that travel and are stored. */
typedef enum sm_type {
  SM_NIL = 0,
  SM_BOOL,
  SM_INT,
  SM_DOUBLE,
  SM_STR,
  SM_BYTES,
  SM_LIST,
  SM_MAP,
  SM_REF, /**< a reference to another shared object (a nested proxy) */
} sm_type;

/** Any value: a tree of the kinds above. Opaque. */
typedef struct sm_value sm_value;

/* Constructors. Each returns a new value (caller frees with
 * sm_value_free()), or NULL when out of memory. */
SM_EXTERN sm_value *sm_value_nil(void);
SM_EXTERN sm_value *sm_value_bool(bool b);
SM_EXTERN sm_value *sm_value_int(int64_t i);
SM_EXTERN sm_value *sm_value_double(double d);
/** A string (copied). NULL for a string with a NUL byte inside (the daemon
 * refuses those: use bytes) or when out of memory. */
SM_EXTERN sm_value *sm_value_str(const char *s);
SM_EXTERN sm_value *sm_value_strn(const char *s, size_t len);
SM_EXTERN sm_value *sm_value_bytes(const void *p, size_t len);
SM_EXTERN sm_value *sm_value_list(void); /**< an empty list */
SM_EXTERN sm_value *sm_value_map(void);  /**< an empty map */

/** Appends item to list, taking ownership of item (also on failure, when
 * it is freed). @return 0, SM_EINVAL (not a list or item NULL), SM_ENOMEM. */
SM_EXTERN int sm_value_list_append(sm_value *list, sm_value *item);
/** Sets key to val in map, taking ownership of both (also on failure). A
 * key equal to one already there (by sm_value_equal: 1, 1.0 and true are
 * one key) keeps that first key and its place, and val replaces its value,
 * as in a Python dict. Linear time to build a map of n entries.
 * @return 0, SM_EINVAL, SM_ETYPE (key is a list or map), SM_ENOMEM. */
SM_EXTERN int sm_value_map_set(sm_value *map, sm_value *key, sm_value *val);

/** A deep copy (caller frees with sm_value_free()), or NULL. */
SM_EXTERN sm_value *sm_value_copy(const sm_value *v);
/** Frees v and everything it contains; NULL is fine. */
SM_EXTERN void sm_value_free(sm_value *v);

/** @return the kind of v (SM_NIL for NULL). */
SM_EXTERN sm_type sm_value_type(const sm_value *v);
/** Scalar accessors: 0 / false / 0.0 / NULL when v is not of that kind.
 * sm_value_as_int also converts a bool; sm_value_as_double also an int. */
SM_EXTERN bool sm_value_as_bool(const sm_value *v);
SM_EXTERN int64_t sm_value_as_int(const sm_value *v);
SM_EXTERN double sm_value_as_double(const sm_value *v);
/** Borrowed NUL-terminated string, valid while v lives; len may be NULL. */
SM_EXTERN const char *sm_value_as_str(const sm_value *v, size_t *len);
/** Borrowed bytes, valid while v lives. */
SM_EXTERN const void *sm_value_as_bytes(const sm_value *v, size_t *len);
/** Number of elements of a list or entries of a map; 0 otherwise. */
SM_EXTERN size_t sm_value_len(const sm_value *v);
/** Borrowed i-th element of a list, or NULL. */
SM_EXTERN const sm_value *sm_value_list_at(const sm_value *v, size_t i);
/** Borrowed key / value of the i-th map entry (insertion order), or NULL. */
SM_EXTERN const sm_value *sm_value_map_key_at(const sm_value *v, size_t i);
SM_EXTERN const sm_value *sm_value_map_value_at(const sm_value *v, size_t i);
/** Borrowed value stored under an equal key in a map, or NULL when absent
 * (a NaN key is found by a NaN with the same bits). */
SM_EXTERN const sm_value *sm_value_map_get(const sm_value *map, const sm_value *key);
/** Python's a == b, as the daemon compares values (dict keys, list search,
 * compare-and-set): numbers by value across bool, int and double (1 ==
 * 1.0 == true; ints exactly against doubles), str never equal to bytes,
 * refs by object id, lists element by element, maps as sets of pairs in
 * any order. A NaN is not equal to itself, but inside lists and maps a NaN
 * matches a NaN with the same bits (Python's `is` before `==`). NULL
 * counts as nil. See docs/objects.md, "Equal values". */
SM_EXTERN bool sm_value_equal(const sm_value *a, const sm_value *b);

/** For an SM_REF: the object's type name (borrowed) and id. */
SM_EXTERN const char *sm_value_ref_type(const sm_value *v);
SM_EXTERN uint64_t sm_value_ref_id(const sm_value *v);

/** Renders v as text: strings as they are, numbers in decimal, nil as
 * "None", bools as "True"/"False", bytes as b'..', lists, maps and refs in
 * Python-like notation (strings quoted inside containers).
 * @return a new string (caller frees with sm_free()), or NULL. */
SM_EXTERN char *sm_value_to_text(const sm_value *v);

/* ------------------------------------------------------------------ */
/* Client                                                              */
/* ------------------------------------------------------------------ */

typedef struct sm_client sm_client;
typedef struct sm_options sm_options;

/** New options with defaults (caller frees with sm_options_free()). */
SM_EXTERN sm_options *sm_options_new(void);
SM_EXTERN void sm_options_free(sm_options *o);
/** Reads the authkey from this file (overrides the environment). Like
 * every key file, it must be readable and writable by its owner only (mode
 * 600), be owned by the user running the program (or root), and hold at
 * least 16 bytes; sm_connect() refuses it otherwise with SM_EINVAL and a
 * message saying how to fix it. */
SM_EXTERN int sm_options_set_authkey_file(sm_options *o, const char *path);
/** Uses this key (copied).
 * @return 0, SM_EINVAL (NULL, or not 16..4096 bytes), SM_ENOMEM. */
SM_EXTERN int sm_options_set_authkey(sm_options *o, const void *key, size_t len);
/** Connect timeout in milliseconds (default 5000; <=0 waits forever): one
 * connect and handshake, to the daemon or to one member of a group. */
SM_EXTERN int sm_options_set_connect_timeout(sm_options *o, int ms);
/** Failover timeout in milliseconds (default 30000; <=0 waits forever):
 * how long a call in flight to a durable daemon whose connection dropped
 * keeps looking for the daemon (restarting) or for the group's leader (a
 * failover: the lease TTL and a few seconds), to resume its session there
 * and be sent again, before it fails with SM_ECLOSED; also how long a new
 * connection keeps looking while members of a group answer that they are
 * not the leader. */
SM_EXTERN int sm_options_set_failover_timeout(sm_options *o, int ms);
/** A name the daemon shows in its logs and listings (copied; at most its
 * first 63 bytes are kept, cut at a UTF-8 character boundary). The daemon
 * and the CLI escape control characters in it when they print it. */
SM_EXTERN int sm_options_set_client_name(sm_options *o, const char *name);
/** TCP keepalive on tcp:// and tls:// connections: after seconds idle
 * (default 15) the library probes the daemon every seconds/3 (at least 1),
 * and after 3 unanswered probes, or a request unacknowledged for as long,
 * the call fails with SM_ECLOSED instead of waiting forever on a daemon
 * that is gone (a cut link, a dead host). 0 leaves the system's settings.
 * @return 0, SM_EINVAL (not 0..7200). */
SM_EXTERN int sm_options_set_keepalive(sm_options *o, int seconds);

/* TLS (tls://host:port URLs). The daemon's certificate chain and host name
 * are verified by default: against the system's trusted CAs, or the CA file
 * given here, and against the URL's host (a name, or an IP address that the
 * certificate must list) or the server name given here. The authkey
 * handshake still runs inside TLS: both must pass. A connection that fails
 * TLS gives SM_ETLS, with the reason in sm_last_error(): "certificate has
 * expired", "hostname mismatch", "unable to get local issuer certificate",
 * an alert of the daemon such as "certificate required"... These options
 * are ignored for tcp:// and unix: URLs; their files are read by
 * sm_connect(), which gives SM_EINVAL when one cannot be used. */

/** Trusts the CAs in this PEM file instead of the system's store (copied;
 * NULL goes back to the system's store). */
SM_EXTERN int sm_options_set_tls_ca(sm_options *o, const char *path);
/** Presents this client certificate (PEM chain) with its PEM key, for
 * daemons that require one (--tls-require-client-cert). key may be NULL
 * when cert holds the key too; cert NULL presents none (copied). */
SM_EXTERN int sm_options_set_tls_cert(sm_options *o, const char *cert, const char *key);
/** The name the daemon's certificate must carry, also sent as SNI, when it
 * differs from the URL's host (copied; NULL: the URL's host). */
SM_EXTERN int sm_options_set_tls_server_name(sm_options *o, const char *name);
/** DANGER: skip = true turns off every check of the daemon's certificate and name, so
 * anyone on the network path can impersonate the daemon and read and alter
 * the traffic (the authkey handshake does not stop a relay). For tests
 * only. sm_connect() prints a warning on stderr once per client. */
SM_EXTERN int sm_options_set_tls_insecure_skip_verify(sm_options *o, bool skip);

/** Connects to url (tcp://host:port, tcp://[v6addr]:port, tls://host:port,
 * unix:PATH or unix:///ABSOLUTE/PATH, read as statemgrd reads its --listen
 * URLs; unix://NAME is refused as ambiguous; NULL means $STATEMGR_URL or
 * SM_DEFAULT_URL). The authkey comes from the options, else
 * $STATEMGR_AUTHKEY_FILE, $STATEMGR_AUTHKEY, ~/.statemgr/authkey. The
 * calling thread's connection is opened and authenticated now, so a wrong
 * address or key is reported here. opts may be NULL and is not kept.
 *
 * A replicated group is given as a comma-separated list of its members
 * (at most 16), tcp://a:7450,b:7450,c:7450: a member without a scheme
 * takes the first member's. The library tries the members in order,
 * starting with the one that answered last; a member that is not the
 * leader answers REDIRECT naming the leader, and the library goes there
 * (a tls:// member's leader must be tls:// too). A call that a member
 * answers REDIRECT was not applied: it goes to the leader. When the
 * leader fails, calls in flight look for the new leader among the members
 * up to the failover timeout, resume their session there and are sent
 * again, exactly once (sm_options_set_failover_timeout).
 * @param out receives the client (caller frees with sm_client_free()).
 * @return 0, SM_EINVAL (bad URL or list, no authkey, unusable TLS file),
 * SM_ECONNECT (no member took the connection), SM_EREDIRECT (members
 * answered REDIRECT and no leader was found within the failover timeout),
 * SM_EAUTH, SM_EPROTO, SM_ETLS, SM_ENOMEM. */
SM_EXTERN int sm_connect(const char *url, const sm_options *opts, sm_client **out);
/** Closes every connection of the client and frees it. Proxies opened from
 * it must be freed first. NULL is fine. */
SM_EXTERN void sm_client_free(sm_client *c);
/** @return the URL (or list of URLs) the client was given (borrowed,
 * lives with c). */
SM_EXTERN const char *sm_client_url(const sm_client *c);

/** One round trip to the daemon. */
SM_EXTERN int sm_ping(sm_client *c);
/** Daemon facts (version, instance, uptime, connections, objects...) as a map with
 * string keys (caller frees with sm_value_free()). */
SM_EXTERN int sm_info(sm_client *c, sm_value **out);
/** Objects: a list of maps {"name", "id", "type", "size"}; type NULL lists
 * all types (caller frees with sm_value_free()). Named objects only. */
SM_EXTERN int sm_ls(sm_client *c, const char *type, sm_value **out);
/** One page of ls, for a daemon with more named objects than one answer
 * holds: the same maps, in creation order, from cursor (0 to start); pass
 * back each *next until it is 0, as with sm_dict_scan. count (0: the
 * daemon's default, 100; at most 1,000,000) bounds the maps of a page.
 * @param type NULL for every type. @param page an SM_LIST (caller frees
 * with sm_value_free()). @return 0, SM_EVALUE (bad count, unknown type),
 * SM_EINVAL. */
SM_EXTERN int sm_ls_scan(sm_client *c, const char *type, uint64_t cursor, size_t count,
                         uint64_t *next, sm_value **page);
/** One named object in detail: a map with "name", "id", "type", "size"
 * (types with a size), "waiters" (calls parked on it) and "holders" (a list
 * of maps {"connection", "peer", "units"}: who holds a lock or semaphore
 * units). @param out caller frees with sm_value_free(). @return 0,
 * SM_ENOTFOUND. */
SM_EXTERN int sm_show(sm_client *c, const char *name, sm_value **out);
/** The slow-call log (statemgrd --slowlog-threshold-us): the newest
 * count entries (-1: all), newest first, as a list of maps {"id", "time"
 * (Unix seconds), "duration_us", "object" (id; 0: the manager), "name"
 * (named objects), "type", "method", "args" (how many), "client" (its
 * address), "client_name" (when it gave one)}. A call that parked is timed
 * up to its parking: waits are not slow calls.
 * @param out caller frees with sm_value_free(). @return 0, SM_EVALUE. */
SM_EXTERN int sm_slowlog_get(sm_client *c, int64_t count, sm_value **out);
/** How many entries the slow-call log holds. */
SM_EXTERN int sm_slowlog_len(sm_client *c, int64_t *out);
/** Empties the slow-call log (entry ids keep counting). */
SM_EXTERN int sm_slowlog_reset(sm_client *c);
/** A daemon setting that may change at run time: "log-level" (a string),
 * "slowlog-threshold-us", "slowlog-max-len" (ints); "*" answers a map of
 * them all. @param out caller frees with sm_value_free().
 * @return 0, SM_EVALUE (no such setting). */
SM_EXTERN int sm_config_get(sm_client *c, const char *key, sm_value **out);
/** Changes such a setting: log-level takes "error", "warn", "info" or
 * "debug"; slowlog-threshold-us microseconds (0: every call, negative:
 * none); slowlog-max-len 0 to 100000 entries (the oldest go). Any other key
 * is refused with SM_EVALUE. The change lasts until the daemon stops.
 * @return 0, SM_EVALUE, SM_ETYPE. */
SM_EXTERN int sm_config_set(sm_client *c, const char *key, const sm_value *value);
/** The daemon's client connections, oldest first, as a list of maps
 * {"id", "peer" (address), "name" (the client name, "" when none),
 * "age_ms", "idle_ms" (since its last request), "session", "requests",
 * "refs" (references it holds to anonymous objects), "parked" (its calls
 * waiting), "holds" (a list of maps {"object", "name" (named objects),
 * "type", "units"}: lock acquisitions, semaphore units)}.
 * @param out caller frees with sm_value_free(). @return 0. */
SM_EXTERN int sm_clients(sm_client *c, sm_value **out);
/** The wait-for graph: every lock, rlock and semaphore held or waited for
 * now, as a list of maps {"object", "name", "type", "policy", "token",
 * "holders" [{"session", "client", "units", "held_ms"}], "exclusive", "waiters"
 * [{"session", "client", "waited_ms"}]} (docs/protocol.md, manager method
 * locks); a session is a connection's, as sm_clients lists them, and
 * "client" its client name when it gave one. @param out caller frees with
 * sm_value_free(). */
SM_EXTERN int sm_locks(sm_client *c, sm_value **out);
/** Closes the daemon's connection id (as listed by sm_clients) as if its
 * client had died: its parked calls are dropped and what it held goes to
 * the next waiters. @return 0, SM_ENOTFOUND (no such connection). */
SM_EXTERN int sm_clients_kill(sm_client *c, uint64_t id);
/** The live feed of calls the daemon serves (`statemgr monitor`). Start
 * with cursor 0: the daemon starts recording and answers at once with no
 * calls and the cursor of "now". Pass back each *next: the calls served
 * since arrive in order (at most 256 an answer), waiting up to wait_ms (0
 * to 60000; 0: no wait) for the first; none when the wait ends. The
 * daemon keeps the last 1024 calls and records only while a monitor asks
 * (within 5 s after its wait): *missed counts calls that went before they
 * were read. The monitor's own calls are not shown.
 * @param calls a list of maps {"id", "time_us" (Unix microseconds),
 * "client" (connection id), "peer", "client_name" (when given), "object",
 * "name" (named objects), "type", "method", "args" (the arguments as
 * short text)} (caller frees with sm_value_free()).
 * @return 0, SM_EVALUE (bad cursor or wait). */
SM_EXTERN int sm_monitor(sm_client *c, uint64_t cursor, int64_t wait_ms, uint64_t *next,
                         uint64_t *missed, sm_value **calls);
/** Deletes the named object; proxies to it then get SM_ENOTFOUND. */
SM_EXTERN int sm_delete(sm_client *c, const char *name);
/* Expiry of whole objects (docs/objects.md, "Expiry"): the object is
 * deleted ms after the call, whoever holds it, as sm_delete does; an
 * expired object is never found again. */
/** Makes the named object expire ms after the call (ms <= 0: now).
 * @return 0, SM_ENOTFOUND (no such object). */
SM_EXTERN int sm_expire(sm_client *c, const char *name, int64_t ms);
/** @param out ms left before the named object expires, -1 when it has no
 * TTL. @return 0, SM_ENOTFOUND. */
SM_EXTERN int sm_ttl(sm_client *c, const char *name, int64_t *out);
/** Removes the named object's TTL. @param had (may be NULL) whether it
 * had one. @return 0, SM_ENOTFOUND. */
SM_EXTERN int sm_persist(sm_client *c, const char *name, bool *had);
/** Asks the daemon to shut down (it answers first). */
SM_EXTERN int sm_shutdown(sm_client *c);
/** Asks a daemon with a data directory for a snapshot, and waits until one
 * holding every change made before the call is on disk (taken by a forked
 * child: the daemon serves on meanwhile). The snapshot file
 * (DATA_DIR/snapshot-INDEX.snap) alone is a backup of the state.
 * @param index receives the snapshot's log index; may be NULL.
 * @return 0, SM_EVALUE (the daemon keeps its state in memory only),
 * SM_EINTERNAL (the snapshot failed: sm_last_error() says why). */
SM_EXTERN int sm_save(sm_client *c, uint64_t *index);

/* ------------------------------------------------------------------ */
/* Proxies                                                             */
/* ------------------------------------------------------------------ */

/* Every typed proxy (sm_dict, sm_list, sm_var, sm_ns, ...) is also an
 * sm_proxy; sm_*_proxy() gives that view. Opening a proxy by name gets or
 * creates the named object, which lives until sm_delete(). Opening with a
 * NULL name creates an anonymous object, which lives while some proxy (in
 * any process) or some stored reference holds it: freeing the last proxy,
 * or the connection dropping, frees it. */
typedef struct sm_proxy sm_proxy;

/** The object's id, type name (borrowed) and name (borrowed; NULL for an
 * anonymous object and for proxies opened from a ref or token). */
SM_EXTERN uint64_t sm_proxy_id(const sm_proxy *p);
SM_EXTERN const char *sm_proxy_type(const sm_proxy *p);
SM_EXTERN const char *sm_proxy_name(const sm_proxy *p);
/** A value referring to the object, to store inside another object
 * (caller frees with sm_value_free()), or NULL when out of memory. */
SM_EXTERN sm_value *sm_proxy_ref(const sm_proxy *p);
/** A short token string ("dict:42") that another process turns back into
 * a proxy with sm_proxy_from_token() (caller frees with sm_free()). */
SM_EXTERN char *sm_proxy_token(const sm_proxy *p);
/** Opens a generic proxy from a token or an SM_REF value; the daemon
 * checks the object exists and takes a reference for this process.
 * @param out caller frees with sm_proxy_free().
 * @return 0, SM_ENOTFOUND (gone), SM_ESTALE (it belonged to an earlier run
 * of the daemon), SM_ETYPE, SM_EINVAL (a malformed token), ... */
SM_EXTERN int sm_proxy_from_token(sm_client *c, const char *token, sm_proxy **out);
SM_EXTERN int sm_proxy_from_ref(sm_client *c, const sm_value *ref, sm_proxy **out);
/** Releases the proxy (and this process's reference to an anonymous
 * object). NULL is fine. */
SM_EXTERN void sm_proxy_free(sm_proxy *p);
/** sm_expire, sm_ttl and sm_persist for the object behind a proxy, named
 * or anonymous. */
SM_EXTERN int sm_proxy_expire(sm_proxy *p, int64_t ms);
SM_EXTERN int sm_proxy_ttl(sm_proxy *p, int64_t *out);
SM_EXTERN int sm_proxy_persist(sm_proxy *p, bool *had);

/* Options for creating an object (sm_proxy_open_ex, sm_dict_open_ex).
 * They apply when the call creates the object; opening an existing name
 * only opens it. */
typedef struct sm_open_options sm_open_options;
/** New options: none set (caller frees with sm_open_options_free()), or
 * NULL when out of memory. */
SM_EXTERN sm_open_options *sm_open_options_new(void);
SM_EXTERN void sm_open_options_free(sm_open_options *o);
/** Ephemeral: the named object is deleted when this client's session
 * ends (sm_client_free, or the process dies; docs/objects.md, "Ephemeral
 * objects"). @return 0, SM_EINVAL (NULL). */
SM_EXTERN int sm_open_options_set_ephemeral(sm_open_options *o, bool ephemeral);
/** The object expires ttl_ms (> 0; 0: none) after it is created.
 * @return 0, SM_EINVAL (NULL or negative). */
SM_EXTERN int sm_open_options_set_ttl(sm_open_options *o, int64_t ttl_ms);

/* ---- dict ------------------------------------------------------- */

typedef struct sm_dict sm_dict;

/** Gets or creates the dict called name (NULL: a new anonymous dict).
 * @param out caller frees with sm_dict_free(). @return 0, SM_ETYPE (name
 * exists with another type), ... */
SM_EXTERN int sm_dict_open(sm_client *c, const char *name, sm_dict **out);
/** As sm_dict_open, with options for the dict it creates (see
 * sm_open_options; NULL: none). */
SM_EXTERN int sm_dict_open_ex(sm_client *c, const char *name, const sm_open_options *opts,
                              sm_dict **out);
/** Opens a dict proxy from a ref value or token (SM_ETYPE if not a dict). */
SM_EXTERN int sm_dict_from_ref(sm_client *c, const sm_value *ref, sm_dict **out);
SM_EXTERN int sm_dict_from_token(sm_client *c, const char *token, sm_dict **out);
SM_EXTERN void sm_dict_free(sm_dict *d);
SM_EXTERN sm_proxy *sm_dict_proxy(sm_dict *d);

/** d[key]. @param out caller frees with sm_value_free(). @return 0,
 * SM_ENOTFOUND when the key is absent. */
SM_EXTERN int sm_dict_get(sm_dict *d, const sm_value *key, sm_value **out);
/** d.get(key, dflt): dflt (may be NULL for nil) when absent. */
SM_EXTERN int sm_dict_get_default(sm_dict *d, const sm_value *key, const sm_value *dflt,
                                  sm_value **out);
SM_EXTERN int sm_dict_set(sm_dict *d, const sm_value *key, const sm_value *val);
/** del d[key]. @return SM_ENOTFOUND when absent. */
SM_EXTERN int sm_dict_del(sm_dict *d, const sm_value *key);
SM_EXTERN int sm_dict_contains(sm_dict *d, const sm_value *key, bool *out);
SM_EXTERN int sm_dict_len(sm_dict *d, size_t *out);
/** Lists in insertion order (caller frees with sm_value_free()); items is a
 * list of [key, value] lists. An answer over the frame limit (64 MiB) fails
 * with SM_ETOOLARGE: read such a dict with sm_dict_scan. */
SM_EXTERN int sm_dict_keys(sm_dict *d, sm_value **out);
SM_EXTERN int sm_dict_values(sm_dict *d, sm_value **out);
SM_EXTERN int sm_dict_items(sm_dict *d, sm_value **out);
/** One page of a cursor iteration over the items (Redis SCAN): start with
 * cursor 0 and pass back each *next until it is 0. Every entry present from
 * the first call to the last is returned exactly once, whatever is inserted,
 * deleted or resized meanwhile (the cursor is an insertion number, not a
 * position); entries added or removed meanwhile may or may not be. Pages
 * follow insertion order. count is a hint of the entries per page (0: the
 * daemon's default, 100; at most 1,000,000); a page stops short to stay
 * within half a frame. The client holds one page at a time.
 * @param next receives the cursor of the next page, 0 after the last.
 * @param page a list of [key, value] lists (caller frees with
 * sm_value_free()). @return 0, SM_EVALUE (count out of range),
 * SM_EINVAL (cursor over INT64_MAX), or a call error. */
SM_EXTERN int sm_dict_scan(sm_dict *d, uint64_t cursor, size_t count, uint64_t *next,
                           sm_value **page);
/** Removes key and returns its value. @return SM_ENOTFOUND when absent. */
SM_EXTERN int sm_dict_pop(sm_dict *d, const sm_value *key, sm_value **out);
/** Like pop, but returns a copy of dflt (NULL: nil) when absent. */
SM_EXTERN int sm_dict_pop_default(sm_dict *d, const sm_value *key, const sm_value *dflt,
                                  sm_value **out);
/** Removes and returns the last inserted pair. @return SM_ENOTFOUND when
 * empty. */
SM_EXTERN int sm_dict_popitem(sm_dict *d, sm_value **key, sm_value **val);
/** d.setdefault(key, dflt): the value now stored under key. */
SM_EXTERN int sm_dict_setdefault(sm_dict *d, const sm_value *key, const sm_value *dflt,
                                 sm_value **out);
/** Copies every entry of map (an SM_MAP value) into d, atomically. */
SM_EXTERN int sm_dict_update(sm_dict *d, const sm_value *map);
SM_EXTERN int sm_dict_clear(sm_dict *d);
/** A snapshot of the whole dict as an SM_MAP value (caller frees). */
SM_EXTERN int sm_dict_copy(sm_dict *d, sm_value **out);
/** Stores val only if key is absent. *set (may be NULL) tells whether it
 * did. */
SM_EXTERN int sm_dict_set_if_absent(sm_dict *d, const sm_value *key, const sm_value *val,
                                    bool *set);
/** Atomic compare-and-set: if the current value equals expected (by
 * sm_value_equal's rules, where a NaN matches the same NaN; NULL: key
 * absent), store desired. *swapped tells whether it did; when current
 * is not NULL it receives the value found before the call (NULL when the
 * key was absent; caller frees). */
SM_EXTERN int sm_dict_cas(sm_dict *d, const sm_value *key, const sm_value *expected,
                          const sm_value *desired, bool *swapped, sm_value **current);

/* Typed helpers: string keys, string or int64 values. A stored value of
 * another kind gives SM_ETYPE (the int getters accept only ints, the string
 * getters only strings; sm_var_get_double also accepts an int). */
SM_EXTERN int sm_dict_set_str(sm_dict *d, const char *key, const char *val);
/** @param out caller frees with sm_free(). */
SM_EXTERN int sm_dict_get_str(sm_dict *d, const char *key, char **out);
SM_EXTERN int sm_dict_set_int(sm_dict *d, const char *key, int64_t val);
SM_EXTERN int sm_dict_get_int(sm_dict *d, const char *key, int64_t *out);
SM_EXTERN int sm_dict_del_str(sm_dict *d, const char *key);
/* Typed helpers with int64 keys. */
SM_EXTERN int sm_dict_iset_str(sm_dict *d, int64_t key, const char *val);
SM_EXTERN int sm_dict_iget_str(sm_dict *d, int64_t key, char **out);
SM_EXTERN int sm_dict_iset_int(sm_dict *d, int64_t key, int64_t val);
SM_EXTERN int sm_dict_iget_int(sm_dict *d, int64_t key, int64_t *out);

/* Expiry of keys (docs/objects.md, "Expiry"): a TTL in ms from the call,
 * kept by the daemon as an absolute deadline, so it survives a restart of
 * a durable daemon. An expired key is never returned. A key's TTL goes
 * with its value: sm_dict_set (and update, cas) of a new value clears it. */
/** Stores key -> val that expires ttl_ms (> 0) after the call.
 * @return 0, SM_EVALUE (ttl_ms <= 0), ... */
SM_EXTERN int sm_dict_set_ex(sm_dict *d, const sm_value *key, const sm_value *val, int64_t ttl_ms);
/** Makes key expire ms after the call; ms <= 0 removes it now.
 * @param existed (may be NULL) false when there was no such key (nothing
 * done). @return 0, ... */
SM_EXTERN int sm_dict_set_ttl(sm_dict *d, const sm_value *key, int64_t ms, bool *existed);
/** @param out ms left before key expires, -1 when it has no TTL, -2 when
 * there is no such key. @return 0, ... */
SM_EXTERN int sm_dict_ttl(sm_dict *d, const sm_value *key, int64_t *out);
/** Removes key's TTL. @param had (may be NULL) whether it had one.
 * @return 0, ... */
SM_EXTERN int sm_dict_persist(sm_dict *d, const sm_value *key, bool *had);

/* ---- list ------------------------------------------------------- */

typedef struct sm_list sm_list;

SM_EXTERN int sm_list_open(sm_client *c, const char *name, sm_list **out);
SM_EXTERN int sm_list_from_ref(sm_client *c, const sm_value *ref, sm_list **out);
SM_EXTERN int sm_list_from_token(sm_client *c, const char *token, sm_list **out);
SM_EXTERN void sm_list_free(sm_list *l);
SM_EXTERN sm_proxy *sm_list_proxy(sm_list *l);

SM_EXTERN int sm_list_append(sm_list *l, const sm_value *v);
/** Appends every element of items (an SM_LIST value), atomically. */
SM_EXTERN int sm_list_extend(sm_list *l, const sm_value *items);
/** Inserts before index (Python semantics: clamped, negative from end). */
SM_EXTERN int sm_list_insert(sm_list *l, int64_t index, const sm_value *v);
/** l[index], negative from the end. @return SM_EVALUE when out of range. */
SM_EXTERN int sm_list_get(sm_list *l, int64_t index, sm_value **out);
SM_EXTERN int sm_list_set(sm_list *l, int64_t index, const sm_value *v);
SM_EXTERN int sm_list_del(sm_list *l, int64_t index);
/** Removes and returns l[index] (use -1 for the last). @return SM_EVALUE
 * when out of range or empty. */
SM_EXTERN int sm_list_pop(sm_list *l, int64_t index, sm_value **out);
/** Removes the first element equal to v. @return SM_EVALUE when absent. */
SM_EXTERN int sm_list_remove(sm_list *l, const sm_value *v);
/** Index of the first element equal to v. @return SM_EVALUE when absent. */
SM_EXTERN int sm_list_index(sm_list *l, const sm_value *v, int64_t *out);
SM_EXTERN int sm_list_count(sm_list *l, const sm_value *v, size_t *out);
SM_EXTERN int sm_list_len(sm_list *l, size_t *out);
/** l[start:stop] with Python's clamping and negative indexes; pass
 * INT64_MAX as stop for "to the end". @param out an SM_LIST (caller frees). */
SM_EXTERN int sm_list_slice(sm_list *l, int64_t start, int64_t stop, sm_value **out);
/** One page of the items by position, as sm_dict_scan: start with cursor
 * 0, pass back each *next until it is 0. Items present for the whole
 * iteration are returned at least once; a removal or insert between pages
 * may make some come twice. @param page an SM_LIST of the items (caller
 * frees with sm_value_free()). @return as sm_dict_scan. */
SM_EXTERN int sm_list_scan(sm_list *l, uint64_t cursor, size_t count, uint64_t *next,
                           sm_value **page);
SM_EXTERN int sm_list_reverse(sm_list *l);
/** Sorts numbers or strings in place (stable; ints and doubles ordered
 * exactly, equal ones such as 1 and 1.0 keep their order). @return SM_ETYPE
 * when the elements do not order against each other. */
SM_EXTERN int sm_list_sort(sm_list *l, bool descending);
SM_EXTERN int sm_list_clear(sm_list *l);

SM_EXTERN int sm_list_append_str(sm_list *l, const char *s);
SM_EXTERN int sm_list_append_int(sm_list *l, int64_t i);
/** @param out caller frees with sm_free(). */
SM_EXTERN int sm_list_get_str(sm_list *l, int64_t index, char **out);
SM_EXTERN int sm_list_get_int(sm_list *l, int64_t index, int64_t *out);

/* ---- value (Python's Manager().Value) ---------------------------- */

/** A single shared value; the daemon type is "value". */
typedef struct sm_var sm_var;

/** Gets or creates the value called name. When it is created, it starts as
 * initial (NULL: nil); an existing one is left as it is. */
SM_EXTERN int sm_var_open(sm_client *c, const char *name, const sm_value *initial, sm_var **out);
SM_EXTERN int sm_var_from_ref(sm_client *c, const sm_value *ref, sm_var **out);
SM_EXTERN int sm_var_from_token(sm_client *c, const char *token, sm_var **out);
SM_EXTERN void sm_var_free(sm_var *v);
SM_EXTERN sm_proxy *sm_var_proxy(sm_var *v);

/** @param out caller frees with sm_value_free(). */
SM_EXTERN int sm_var_get(sm_var *v, sm_value **out);
SM_EXTERN int sm_var_set(sm_var *v, const sm_value *val);
/** Atomic add-and-get on an int (nil counts as 0). @return SM_ETYPE when
 * the value is not an int, SM_EVALUE on overflow. */
SM_EXTERN int sm_var_add_int(sm_var *v, int64_t delta, int64_t *result);
/** Atomic add-and-get on a double (an int or nil is converted). */
SM_EXTERN int sm_var_add_double(sm_var *v, double delta, double *result);
SM_EXTERN int sm_var_get_int(sm_var *v, int64_t *out);
SM_EXTERN int sm_var_set_int(sm_var *v, int64_t val);
SM_EXTERN int sm_var_get_double(sm_var *v, double *out);
SM_EXTERN int sm_var_set_double(sm_var *v, double val);
/** @param out caller frees with sm_free(). */
SM_EXTERN int sm_var_get_str(sm_var *v, char **out);
SM_EXTERN int sm_var_set_str(sm_var *v, const char *val);

/* ---- namespace --------------------------------------------------- */

typedef struct sm_ns sm_ns;

SM_EXTERN int sm_ns_open(sm_client *c, const char *name, sm_ns **out);
SM_EXTERN int sm_ns_from_ref(sm_client *c, const sm_value *ref, sm_ns **out);
SM_EXTERN int sm_ns_from_token(sm_client *c, const char *token, sm_ns **out);
SM_EXTERN void sm_ns_free(sm_ns *n);
SM_EXTERN sm_proxy *sm_ns_proxy(sm_ns *n);

/** ns.attr. @param out caller frees. @return SM_ENOTFOUND when unset. */
SM_EXTERN int sm_ns_get(sm_ns *n, const char *attr, sm_value **out);
SM_EXTERN int sm_ns_set(sm_ns *n, const char *attr, const sm_value *val);
/** @return SM_ENOTFOUND when unset. */
SM_EXTERN int sm_ns_del(sm_ns *n, const char *attr);
/** The attribute names, sorted, as an SM_LIST of strings (caller frees). */
SM_EXTERN int sm_ns_list(sm_ns *n, sm_value **out);
/** One page of the attributes, as sm_dict_scan (order: first set, not
 * sorted). @param page an SM_LIST of [name, value] lists (caller frees
 * with sm_value_free()). */
SM_EXTERN int sm_ns_scan(sm_ns *n, uint64_t cursor, size_t count, uint64_t *next, sm_value **page);
SM_EXTERN int sm_ns_set_int(sm_ns *n, const char *attr, int64_t val);
SM_EXTERN int sm_ns_get_int(sm_ns *n, const char *attr, int64_t *out);
SM_EXTERN int sm_ns_set_str(sm_ns *n, const char *attr, const char *val);
/** @param out caller frees with sm_free(). */
SM_EXTERN int sm_ns_get_str(sm_ns *n, const char *attr, char **out);

/* ------------------------------------------------------------------ */
/* Queues and synchronisation objects                                  */
/* ------------------------------------------------------------------ */

/* Python's SyncManager types: Queue / JoinableQueue, Lock, RLock,
 * Semaphore, BoundedSemaphore, Condition, Event, Barrier and Array. They
 * open like the families above (named: get or create; NULL name: a new
 * anonymous object, freed with its last proxy).
 *
 * Blocking calls take int64_t timeout_ms: negative (SM_FOREVER) waits for as
 * long as it takes, 0 does not block, > 0 waits at most that many
 * milliseconds. The daemon keeps the deadline and parks the call without
 * blocking anyone else: only the calling thread waits (on its own
 * connection), and nothing but the deadline or the connection closing ends
 * the wait. A deadline that passes gives SM_ETIMEOUT unless a function says
 * otherwise.
 *
 * Ownership: a lock, rlock or semaphore unit is recorded against the
 * calling thread's connection. With auto_release (the default), whatever a
 * connection holds when it closes (its thread exits, its process dies) is
 * released for the next waiter, and a lock or rlock may be released only by
 * the connection holding it (SM_ENOTOWNER otherwise). With auto_release
 * false the object behaves as Python's does: a dead holder keeps it, and a
 * lock (Python's Lock) may be released by any connection, which is how one
 * whose holder died is freed; an rlock still only by its holder. A
 * semaphore may be released by anyone. */

/** Wait forever: the timeout_ms of a blocking call that has no deadline. */
#define SM_FOREVER (-1)

/* ---- queue (Queue, JoinableQueue) -------------------------------- */

typedef struct sm_queue sm_queue;

/** Gets or creates the FIFO queue called name (NULL: a new anonymous one).
 * @param maxsize the capacity when the queue is created (0 or less:
 * unbounded); ignored when the named queue exists.
 * @param out caller frees with sm_queue_free().
 * @return 0, SM_ETYPE (name exists with another type), SM_EINVAL,
 * SM_ECONNECT, SM_ECLOSED, SM_ENOMEM. */
SM_EXTERN int sm_queue_open(sm_client *c, const char *name, int64_t maxsize, sm_queue **out);
/** Opens a queue proxy from a ref value or token (SM_ETYPE if not a queue). */
SM_EXTERN int sm_queue_from_ref(sm_client *c, const sm_value *ref, sm_queue **out);
SM_EXTERN int sm_queue_from_token(sm_client *c, const char *token, sm_queue **out);
SM_EXTERN void sm_queue_free(sm_queue *q);
SM_EXTERN sm_proxy *sm_queue_proxy(sm_queue *q);

/** Appends v (copied), waiting while the queue is full.
 * @return 0, SM_EFULL (full and timeout_ms is 0), SM_ETIMEOUT (still full
 * at the deadline; v was not queued), SM_EINVAL, SM_ENOTFOUND (deleted). */
SM_EXTERN int sm_queue_put(sm_queue *q, const sm_value *v, int64_t timeout_ms);
/** Takes the oldest item, waiting while the queue is empty.
 * @param out caller frees with sm_value_free().
 * @return 0, SM_EEMPTY (empty and timeout_ms is 0), SM_ETIMEOUT (still
 * empty at the deadline), SM_EINVAL, SM_ENOTFOUND (deleted). */
SM_EXTERN int sm_queue_get(sm_queue *q, int64_t timeout_ms, sm_value **out);
/** put and get with a timeout of 0: SM_EFULL / SM_EEMPTY at once. */
SM_EXTERN int sm_queue_put_nowait(sm_queue *q, const sm_value *v);
SM_EXTERN int sm_queue_get_nowait(sm_queue *q, sm_value **out);
/** Typed helpers. The getters give SM_ETYPE when the item taken is of
 * another kind (the item is gone from the queue all the same).
 * @param out of sm_queue_get_str: caller frees with sm_free(). */
SM_EXTERN int sm_queue_put_str(sm_queue *q, const char *s, int64_t timeout_ms);
SM_EXTERN int sm_queue_put_int(sm_queue *q, int64_t i, int64_t timeout_ms);
SM_EXTERN int sm_queue_get_str(sm_queue *q, int64_t timeout_ms, char **out);
SM_EXTERN int sm_queue_get_int(sm_queue *q, int64_t timeout_ms, int64_t *out);
/** Items in the queue now. */
SM_EXTERN int sm_queue_qsize(sm_queue *q, size_t *out);
SM_EXTERN int sm_queue_empty(sm_queue *q, bool *out);
SM_EXTERN int sm_queue_full(sm_queue *q, bool *out);
/** The capacity given at creation (0 or less: unbounded). */
SM_EXTERN int sm_queue_maxsize(sm_queue *q, int64_t *out);
/** JoinableQueue.task_done: one item taken earlier is processed.
 * @return 0, SM_EVALUE when called more times than items were put. */
SM_EXTERN int sm_queue_task_done(sm_queue *q);
/** JoinableQueue.join: waits until every item put has been task_done.
 * @return 0, SM_ETIMEOUT (tasks still unfinished at the deadline, or at
 * once when timeout_ms is 0). */
SM_EXTERN int sm_queue_join(sm_queue *q, int64_t timeout_ms);

/* ---- lock and rlock ---------------------------------------------- */

typedef struct sm_lock sm_lock;

/** Gets or creates the lock called name (NULL: a new anonymous one), with
 * auto_release on. @param out caller frees with sm_lock_free().
 * @return 0, SM_ETYPE (name exists with another type), ... */
SM_EXTERN int sm_lock_open(sm_client *c, const char *name, sm_lock **out);
/** As sm_lock_open; auto_release (when the lock is created) decides whether
 * the daemon releases it when its holder's connection closes, and whether
 * only the holder may release it (true) or anyone, as Python's Lock
 * (false). */
SM_EXTERN int sm_lock_open_ex(sm_client *c, const char *name, bool auto_release, sm_lock **out);
SM_EXTERN int sm_lock_from_ref(sm_client *c, const sm_value *ref, sm_lock **out);
SM_EXTERN int sm_lock_from_token(sm_client *c, const char *token, sm_lock **out);
SM_EXTERN void sm_lock_free(sm_lock *l);
SM_EXTERN sm_proxy *sm_lock_proxy(sm_lock *l);

/** Takes the lock for the calling thread. A thread that holds it already
 * waits like any other (a lock is not re-entrant).
 * @return 0, SM_ETIMEOUT (held at the deadline, or at once with 0). */
SM_EXTERN int sm_lock_acquire(sm_lock *l, int64_t timeout_ms);
/** @return 0, SM_ENOTOWNER when the lock is free, or held by another thread
 * and created with auto_release (a lock created with auto_release false may
 * be released by any thread, as Python's Lock). */
SM_EXTERN int sm_lock_release(sm_lock *l);
/** *out: whether some thread (of any process) holds the lock now. */
SM_EXTERN int sm_lock_locked(sm_lock *l, bool *out);

typedef struct sm_rlock sm_rlock;

/** A re-entrant lock: the holding thread may acquire it again and must
 * release it as many times. Otherwise as sm_lock_open / sm_lock_open_ex.
 * @param out caller frees with sm_rlock_free(). */
SM_EXTERN int sm_rlock_open(sm_client *c, const char *name, sm_rlock **out);
SM_EXTERN int sm_rlock_open_ex(sm_client *c, const char *name, bool auto_release, sm_rlock **out);
SM_EXTERN int sm_rlock_from_ref(sm_client *c, const sm_value *ref, sm_rlock **out);
SM_EXTERN int sm_rlock_from_token(sm_client *c, const char *token, sm_rlock **out);
SM_EXTERN void sm_rlock_free(sm_rlock *r);
SM_EXTERN sm_proxy *sm_rlock_proxy(sm_rlock *r);

/** @return 0 (also when the calling thread holds it already: one level
 * more), SM_ETIMEOUT. */
SM_EXTERN int sm_rlock_acquire(sm_rlock *r, int64_t timeout_ms);
/** Drops one level. @return 0, SM_ENOTOWNER unless this thread holds it. */
SM_EXTERN int sm_rlock_release(sm_rlock *r);
SM_EXTERN int sm_rlock_locked(sm_rlock *r, bool *out);
/** *out: the holder's recursion level, 0 when free. */
SM_EXTERN int sm_rlock_count(sm_rlock *r, size_t *out);

/* ---- semaphore and bounded semaphore ----------------------------- */

typedef struct sm_semaphore sm_semaphore;

/** Gets or creates the semaphore called name (NULL: anonymous) with value
 * free units; bounded makes it a BoundedSemaphore (daemon type
 * "bounded_semaphore"), whose value never goes above the initial one. Both
 * are ignored when the named object exists. auto_release is on.
 * @param out caller frees with sm_semaphore_free().
 * @return 0, SM_EVALUE (value < 0), SM_ETYPE, ... */
SM_EXTERN int sm_semaphore_open(sm_client *c, const char *name, int64_t value, bool bounded,
                                sm_semaphore **out);
/** As sm_semaphore_open. With auto_release the units a connection took and
 * did not give back return when it closes; turn it off for a semaphore used
 * as a signal (released by one thread, acquired by another). */
SM_EXTERN int sm_semaphore_open_ex(sm_client *c, const char *name, int64_t value, bool bounded,
                                   bool auto_release, sm_semaphore **out);
/** Opens a semaphore or bounded semaphore proxy (SM_ETYPE for other types). */
SM_EXTERN int sm_semaphore_from_ref(sm_client *c, const sm_value *ref, sm_semaphore **out);
SM_EXTERN int sm_semaphore_from_token(sm_client *c, const char *token, sm_semaphore **out);
SM_EXTERN void sm_semaphore_free(sm_semaphore *s);
SM_EXTERN sm_proxy *sm_semaphore_proxy(sm_semaphore *s);

/** Takes one unit, waiting while there is none.
 * @return 0, SM_ETIMEOUT (none free at the deadline, or at once with 0). */
SM_EXTERN int sm_semaphore_acquire(sm_semaphore *s, int64_t timeout_ms);
/** Gives back n >= 1 units (waking up to n waiters).
 * @return 0, SM_EVALUE (n < 1; a bounded semaphore past its initial value,
 * when nothing is released). */
SM_EXTERN int sm_semaphore_release(sm_semaphore *s, int64_t n);
/** *out: the units free now. */
SM_EXTERN int sm_semaphore_get_value(sm_semaphore *s, int64_t *out);

/* ---- fencing tokens and owner-death policies --------------------- */

/* Every grant of a lock, of an rlock at its first level and of a
 * semaphore unit comes with a fencing token that grows strictly per
 * object, across restarts of a durable daemon. A call guarded by (object,
 * token) runs only while that grant is the object's current one (the lock
 * is still held under it; no semaphore unit was granted since): otherwise
 * it fails with SM_EFENCED and changes nothing, so a holder that paused
 * past its time cannot overwrite newer work (docs/objects.md, "Fencing").
 * Tokens and guards need a daemon of protocol 4: an older one answers
 * token 0, and a guarded call to it fails with SM_EPROTO before it is
 * sent. */

/** What a holder that dies (its connection closes) leaves, chosen when the
 * lock, rlock or semaphore is created. */
typedef enum sm_owner_policy {
  /** it is released for the next waiter (the default; auto_release) */
  SM_OWNER_RELEASE = 0,
  /** it is released, and the next acquire gets it with SM_EOWNERDEAD and a
   * new token: the data it protects may be half-written */
  SM_OWNER_BREAK = 1,
  /** it stays held, as in Python; anyone may release a plain lock */
  SM_OWNER_KEEP = 2,
} sm_owner_policy;

/** As sm_lock_open_ex / sm_rlock_open_ex / sm_semaphore_open_ex with an
 * owner-death policy. @return as those, SM_EINVAL (no such policy). */
SM_EXTERN int sm_lock_open_policy(sm_client *c, const char *name, sm_owner_policy policy,
                                  sm_lock **out);
SM_EXTERN int sm_rlock_open_policy(sm_client *c, const char *name, sm_owner_policy policy,
                                   sm_rlock **out);
SM_EXTERN int sm_semaphore_open_policy(sm_client *c, const char *name, int64_t value, bool bounded,
                                       sm_owner_policy policy, sm_semaphore **out);

/** As sm_lock_acquire / sm_rlock_acquire / sm_semaphore_acquire, and *token
 * (may be NULL) receives the grant's fencing token (0: an rlock acquired
 * again by its holder, or a daemon older than protocol 4).
 * @return 0; SM_EOWNERDEAD: acquired (the token is set), but its last
 * holder died holding it (policy break); SM_EDEADLK: the wait would close
 * a cycle of waiting clients (refused, nothing acquired); as acquire. */
SM_EXTERN int sm_lock_acquire_token(sm_lock *l, int64_t timeout_ms, uint64_t *token);
SM_EXTERN int sm_rlock_acquire_token(sm_rlock *r, int64_t timeout_ms, uint64_t *token);
SM_EXTERN int sm_semaphore_acquire_token(sm_semaphore *s, int64_t timeout_ms, uint64_t *token);

/** Guards the calling thread's later calls through c (object methods) with
 * the grant token of guard (a lock, rlock or semaphore proxy; borrowed for
 * the call only): until sm_client_clear_guard, each runs only while that
 * grant is current, else SM_EFENCED. A proxy's own guard wins over it.
 * @return 0, SM_EINVAL, or the error of reaching the daemon. */
SM_EXTERN int sm_client_set_guard(sm_client *c, sm_proxy *guard, uint64_t token);
SM_EXTERN void sm_client_clear_guard(sm_client *c);
/** The fencing token the answer of the calling thread's last call through
 * c carried (an acquire made with sm_call_timed, say); 0: none. */
SM_EXTERN uint64_t sm_client_last_token(sm_client *c);
/** Guards every later call through proxy p (any thread) the same way;
 * guard NULL clears it. Set it before other threads use p.
 * @return 0, SM_EINVAL, or the error of reaching the daemon. */
SM_EXTERN int sm_proxy_set_guard(sm_proxy *p, sm_proxy *guard, uint64_t token);

/* ---- condition --------------------------------------------------- */

typedef struct sm_condition sm_condition;

/** A predicate for sm_condition_wait_for, called with the lock held. */
typedef bool (*sm_predicate_cb)(void *ctx);

/** Gets or creates the condition variable called name (NULL: anonymous)
 * over lock (an sm_lock's or sm_rlock's sm_proxy view; borrowed) or, when
 * lock is NULL, over an rlock of its own. lock is ignored when the named
 * condition exists. @param out caller frees with sm_condition_free().
 * @return 0, SM_ETYPE (lock is not a lock or rlock; name exists with another
 * type), ... */
SM_EXTERN int sm_condition_open(sm_client *c, const char *name, const sm_proxy *lock,
                                sm_condition **out);
SM_EXTERN int sm_condition_from_ref(sm_client *c, const sm_value *ref, sm_condition **out);
SM_EXTERN int sm_condition_from_token(sm_client *c, const char *token, sm_condition **out);
SM_EXTERN void sm_condition_free(sm_condition *cv);
SM_EXTERN sm_proxy *sm_condition_proxy(sm_condition *cv);

/** Acquires / releases the condition's lock (as sm_lock_acquire /
 * sm_rlock_release: SM_ETIMEOUT, SM_ENOTOWNER). */
SM_EXTERN int sm_condition_acquire(sm_condition *cv, int64_t timeout_ms);
SM_EXTERN int sm_condition_release(sm_condition *cv);
/** Releases the lock (fully, for an rlock), waits for a notify or the
 * deadline, then re-acquires it (restoring the recursion level) before
 * returning. *notified (may be NULL) is false when the deadline passed.
 * @return 0 (also on the deadline), SM_ENOTOWNER unless this thread holds
 * the lock. */
SM_EXTERN int sm_condition_wait(sm_condition *cv, int64_t timeout_ms, bool *notified);
/** Python's wait_for: waits (with the lock held by the caller) until
 * pred(ctx) is true, calling sm_condition_wait with the time remaining of
 * timeout_ms between checks. *satisfied (may be NULL) is the last result of
 * pred. @return 0 (also when the time ran out), SM_ENOTOWNER, ... */
SM_EXTERN int sm_condition_wait_for(sm_condition *cv, sm_predicate_cb pred, void *ctx,
                                    int64_t timeout_ms, bool *satisfied);
/** Wakes up to n waiters (they run once they get the lock back).
 * @return 0, SM_ENOTOWNER unless this thread holds the lock. */
SM_EXTERN int sm_condition_notify(sm_condition *cv, size_t n);
SM_EXTERN int sm_condition_notify_all(sm_condition *cv);

/* ---- event ------------------------------------------------------- */

typedef struct sm_event sm_event;

/** Gets or creates the event called name (NULL: anonymous), initially
 * clear. @param out caller frees with sm_event_free(). */
SM_EXTERN int sm_event_open(sm_client *c, const char *name, sm_event **out);
SM_EXTERN int sm_event_from_ref(sm_client *c, const sm_value *ref, sm_event **out);
SM_EXTERN int sm_event_from_token(sm_client *c, const char *token, sm_event **out);
SM_EXTERN void sm_event_free(sm_event *e);
SM_EXTERN sm_proxy *sm_event_proxy(sm_event *e);

/** Sets the flag and wakes every waiter. */
SM_EXTERN int sm_event_set(sm_event *e);
SM_EXTERN int sm_event_clear(sm_event *e);
SM_EXTERN int sm_event_is_set(sm_event *e, bool *out);
/** Waits until the flag is set. *was_set (may be NULL) is false when the
 * deadline passed first. @return 0 (also on the deadline), ... */
SM_EXTERN int sm_event_wait(sm_event *e, int64_t timeout_ms, bool *was_set);

/* ---- barrier ----------------------------------------------------- */

typedef struct sm_barrier sm_barrier;

/** Gets or creates the barrier called name (NULL: anonymous) for parties
 * threads (ignored when it exists). @param out caller frees with
 * sm_barrier_free(). @return 0, SM_EVALUE (parties is 0), SM_ETYPE, ... */
SM_EXTERN int sm_barrier_open(sm_client *c, const char *name, size_t parties, sm_barrier **out);
SM_EXTERN int sm_barrier_from_ref(sm_client *c, const sm_value *ref, sm_barrier **out);
SM_EXTERN int sm_barrier_from_token(sm_client *c, const char *token, sm_barrier **out);
SM_EXTERN void sm_barrier_free(sm_barrier *b);
SM_EXTERN sm_proxy *sm_barrier_proxy(sm_barrier *b);

/** Waits until parties threads are waiting; the last arrival releases
 * them all. *index (may be NULL) receives the arrival order, 0 to
 * parties - 1. @return 0, SM_EBROKEN (the barrier is or became broken: by
 * a deadline, by 0 when it could not pass at once, by abort or reset). */
SM_EXTERN int sm_barrier_wait(sm_barrier *b, int64_t timeout_ms, int64_t *index);
/** Breaks the barrier for its waiters (SM_EBROKEN) and makes it usable
 * again. */
SM_EXTERN int sm_barrier_reset(sm_barrier *b);
/** Breaks the barrier: waiters and later waits get SM_EBROKEN until reset. */
SM_EXTERN int sm_barrier_abort(sm_barrier *b);
SM_EXTERN int sm_barrier_parties(sm_barrier *b, size_t *out);
SM_EXTERN int sm_barrier_n_waiting(sm_barrier *b, size_t *out);
SM_EXTERN int sm_barrier_broken(sm_barrier *b, bool *out);

/* ---- array (multiprocessing.Array) ------------------------------- */

typedef struct sm_array sm_array;

/** Gets or creates the fixed-length numeric array called name (NULL:
 * anonymous) of length zeros. typecode is one of "i8" "i16" "i32" "i64"
 * "u8" "u16" "u32" "u64" "f32" "f64"; both are ignored when it exists.
 * @param out caller frees with sm_array_free().
 * @return 0, SM_EVALUE (unknown typecode, too long), SM_ETYPE, ... */
SM_EXTERN int sm_array_open(sm_client *c, const char *name, const char *typecode, size_t length,
                            sm_array **out);
/** As sm_array_open, starting from the numbers of values (an SM_LIST,
 * borrowed), whose length it takes. @return also SM_EVALUE / SM_ETYPE when
 * an element does not fit the typecode. */
SM_EXTERN int sm_array_open_values(sm_client *c, const char *name, const char *typecode,
                                   const sm_value *values, sm_array **out);
SM_EXTERN int sm_array_from_ref(sm_client *c, const sm_value *ref, sm_array **out);
SM_EXTERN int sm_array_from_token(sm_client *c, const char *token, sm_array **out);
SM_EXTERN void sm_array_free(sm_array *a);
SM_EXTERN sm_proxy *sm_array_proxy(sm_array *a);

/* Indexes count from 0; a negative one from the end. Out of range gives
 * SM_EVALUE. */
/** @return 0, SM_ETYPE (a real array: use sm_array_get_double), SM_EVALUE. */
SM_EXTERN int sm_array_get_int(sm_array *a, int64_t index, int64_t *out);
/** Any element, as a double. */
SM_EXTERN int sm_array_get_double(sm_array *a, int64_t index, double *out);
/** @return 0, SM_EVALUE (out of range, or val does not fit the type). */
SM_EXTERN int sm_array_set_int(sm_array *a, int64_t index, int64_t val);
/** @return 0, SM_ETYPE (an integer array), SM_EVALUE. */
SM_EXTERN int sm_array_set_double(sm_array *a, int64_t index, double val);
/** Atomic add-and-get of one element; result (may be NULL) receives the
 * new value (for a real array, truncated toward zero: the add itself is
 * exact). @return 0, SM_EVALUE (overflow, out of range), SM_ETYPE
 * (sm_array_add_double on an integer array). */
SM_EXTERN int sm_array_add_int(sm_array *a, int64_t index, int64_t delta, int64_t *result);
SM_EXTERN int sm_array_add_double(sm_array *a, int64_t index, double delta, double *result);
SM_EXTERN int sm_array_len(sm_array *a, size_t *out);
/** a[start:stop] with Python's clamping and negative bounds; INT64_MAX as
 * stop reads to the end. @param out an SM_LIST (caller frees with
 * sm_value_free()). */
SM_EXTERN int sm_array_slice(sm_array *a, int64_t start, int64_t stop, sm_value **out);
/** Stores the numbers of values (an SM_LIST) from start on, all or none.
 * @return 0, SM_EVALUE (runs past the end; a number does not fit),
 * SM_ETYPE. */
SM_EXTERN int sm_array_set_slice(sm_array *a, int64_t start, const sm_value *values);
/** @param out the typecode ("i32"...; caller frees with sm_free()). */
SM_EXTERN int sm_array_typecode(sm_array *a, char **out);

/* ---- set (Python 3.14's Manager().set()) ------------------------- */

/* Elements are compared as dict keys are (1, 1.0 and true are one
 * element; lists and maps are unhashable: SM_ETYPE). The set keeps its
 * elements in insertion order, and every result lists them in that
 * order. An operand ("other") is an SM_LIST of elements or an SM_MAP whose
 * keys are the elements; the daemon's methods take several operands where
 * Python's do (call them with sm_call for that). */
typedef struct sm_set sm_set;

/** Gets or creates the set called name (NULL: a new anonymous set).
 * @param out caller frees with sm_set_free(). @return 0, SM_ETYPE (name
 * exists with another type), ... */
SM_EXTERN int sm_set_open(sm_client *c, const char *name, sm_set **out);
/** Opens a set proxy from a ref value or token (SM_ETYPE if not a set). */
SM_EXTERN int sm_set_from_ref(sm_client *c, const sm_value *ref, sm_set **out);
SM_EXTERN int sm_set_from_token(sm_client *c, const char *token, sm_set **out);
SM_EXTERN void sm_set_free(sm_set *s);
SM_EXTERN sm_proxy *sm_set_proxy(sm_set *s);

/** s.add(elem). @return 0, SM_ETYPE (unhashable). */
SM_EXTERN int sm_set_add(sm_set *s, const sm_value *elem);
/** s.discard(elem): no error when absent. */
SM_EXTERN int sm_set_discard(sm_set *s, const sm_value *elem);
/** s.remove(elem). @return SM_ENOTFOUND when absent. */
SM_EXTERN int sm_set_remove(sm_set *s, const sm_value *elem);
SM_EXTERN int sm_set_contains(sm_set *s, const sm_value *elem, bool *out);
SM_EXTERN int sm_set_len(sm_set *s, size_t *out);
/** Removes and returns the most recently added element.
 * @param out caller frees with sm_value_free(). @return SM_EEMPTY when
 * empty. */
SM_EXTERN int sm_set_pop(sm_set *s, sm_value **out);
SM_EXTERN int sm_set_clear(sm_set *s);
/** A snapshot of the elements as an SM_LIST in insertion order (caller
 * frees with sm_value_free()). An answer over the frame limit fails with
 * SM_ETOOLARGE: read such a set with sm_set_scan. */
SM_EXTERN int sm_set_copy(sm_set *s, sm_value **out);
/** One page of a cursor iteration over the elements, as sm_dict_scan
 * (every element there for the whole iteration comes exactly once).
 * @param page an SM_LIST of elements (caller frees with sm_value_free()).
 * @return as sm_dict_scan. */
SM_EXTERN int sm_set_scan(sm_set *s, uint64_t cursor, size_t count, uint64_t *next,
                          sm_value **page);
/** In place, atomically: s |= other, s &= other, s -= other, s ^= other.
 * @return 0, SM_ETYPE (other is not a list or a map, or holds an
 * unhashable element: then nothing changes). */
SM_EXTERN int sm_set_update(sm_set *s, const sm_value *other);
SM_EXTERN int sm_set_intersection_update(sm_set *s, const sm_value *other);
SM_EXTERN int sm_set_difference_update(sm_set *s, const sm_value *other);
SM_EXTERN int sm_set_symmetric_difference_update(sm_set *s, const sm_value *other);
/** s | other, s & other, s - other, s ^ other as an SM_LIST (caller frees
 * with sm_value_free()): this set's elements in its order, then (union,
 * symmetric difference) the other's new ones in its order. The set is not
 * changed. @return as sm_set_update. */
SM_EXTERN int sm_set_union(sm_set *s, const sm_value *other, sm_value **out);
SM_EXTERN int sm_set_intersection(sm_set *s, const sm_value *other, sm_value **out);
SM_EXTERN int sm_set_difference(sm_set *s, const sm_value *other, sm_value **out);
SM_EXTERN int sm_set_symmetric_difference(sm_set *s, const sm_value *other, sm_value **out);
/** s <= other, s >= other, and whether they share no element. */
SM_EXTERN int sm_set_issubset(sm_set *s, const sm_value *other, bool *out);
SM_EXTERN int sm_set_issuperset(sm_set *s, const sm_value *other, bool *out);
SM_EXTERN int sm_set_isdisjoint(sm_set *s, const sm_value *other, bool *out);
/* Typed helpers: string or int64 elements. */
SM_EXTERN int sm_set_add_str(sm_set *s, const char *elem);
SM_EXTERN int sm_set_discard_str(sm_set *s, const char *elem);
SM_EXTERN int sm_set_contains_str(sm_set *s, const char *elem, bool *out);
SM_EXTERN int sm_set_add_int(sm_set *s, int64_t elem);
SM_EXTERN int sm_set_discard_int(sm_set *s, int64_t elem);
SM_EXTERN int sm_set_contains_int(sm_set *s, int64_t elem, bool *out);

/* ------------------------------------------------------------------ */
/* Pipelining and generic calls                                        */
/* ------------------------------------------------------------------ */

/* Any proxy (a typed one through its sm_*_proxy() view, or an sm_proxy
 * opened with sm_proxy_open) takes method calls by name, with sm_value
 * arguments, as docs/protocol.md lists them. That is also how a program
 * calls the methods of a custom type registered with statemgr_server.h.
 *
 * A pipeline queues many such calls and sends them in one write over the
 * calling thread's connection, then reads every answer (matched by sequence
 * number), so N calls cost one round trip instead of N. The daemon applies
 * them in the order they were queued. An sm_pipeline is bound to the thread
 * that created it (it uses that thread's connection): do not use it from
 * another thread. Thread safety: one pipeline, one thread. */

/** Gets or creates the object called name of the daemon type type (NULL
 * name: a new anonymous object, freed with its last proxy), with the
 * creation argument initial (NULL: none; see docs/protocol.md). Works for
 * every type, custom ones included.
 * @param out a generic proxy (caller frees with sm_proxy_free()).
 * @return 0, SM_ETYPE (name exists with another type), SM_EINVAL,
 * SM_ECONNECT, SM_ECLOSED, SM_ENOMEM, or the daemon's status (SM_EVALUE
 * for a bad initial value, SM_ENOTFOUND for an unknown type...). */
SM_EXTERN int sm_proxy_open(sm_client *c, const char *type, const char *name,
                            const sm_value *initial, sm_proxy **out);
/** As sm_proxy_open, with options for the object it creates (opts NULL:
 * none). An ephemeral object needs a name (SM_EVALUE otherwise). */
SM_EXTERN int sm_proxy_open_ex(sm_client *c, const char *type, const char *name,
                               const sm_value *initial, const sm_open_options *opts,
                               sm_proxy **out);

/** Calls method on the object behind p over the calling thread's
 * connection and waits for the answer.
 * @param args nargs borrowed values (NULL elements encode nil); args may
 * be NULL when nargs is 0. At most 8 arguments.
 * @param out (may be NULL when the result is not wanted) receives the
 * result, nil included (caller frees with sm_value_free()); untouched on
 * failure.
 * @return 0, the daemon's status for the call (SM_ENOTFOUND, SM_ETYPE
 * "no method", SM_EVALUE...), SM_ESTALE (the object belonged to an earlier
 * run of the daemon), SM_EREMOTE, SM_EINVAL, SM_ECLOSED, SM_ENOMEM. */
SM_EXTERN int sm_call(sm_proxy *p, const char *method, const sm_value *const *args, size_t nargs,
                      sm_value **out);
/** As sm_call for a blocking method, with its deadline: timeout_ms
 * negative (SM_FOREVER) waits as long as it takes, 0 does not block, > 0
 * waits at most that many milliseconds (kept by the daemon). */
SM_EXTERN int sm_call_timed(sm_proxy *p, const char *method, const sm_value *const *args,
                            size_t nargs, int64_t timeout_ms, sm_value **out);

typedef struct sm_pipeline sm_pipeline;

/** A new, empty pipeline on c, bound to the calling thread (its
 * connection is opened now if this thread has none yet).
 * @param out caller frees with sm_pipeline_free().
 * @return 0, SM_EINVAL, SM_ECONNECT, SM_ENOMEM. */
SM_EXTERN int sm_pipeline_new(sm_client *c, sm_pipeline **out);
/** Queues method(args) on p; nothing is sent yet. The arguments are
 * encoded now: they may be freed or changed right after this returns. p
 * must stay alive until sm_pipeline_exec returns. p NULL addresses the
 * manager (ping, info, ls, delete...; create, open and release are
 * refused: open proxies with the sm_*_open functions instead).
 * A call on a proxy is queued with the id its object has now: a named
 * proxy whose daemon restarted finds its object again first (a round trip,
 * as a direct call would).
 * @return 0, SM_EINVAL (NULL pl or method, more than 8 args, a pipeline
 * already executed and not reset, or another client's proxy), SM_EVALUE
 * (an argument nested too deeply), SM_ETOOLARGE (the request is over the
 * frame limit), SM_ESTALE (the proxy's object belonged to an earlier run
 * of the daemon, or the daemon restarted since the pipeline's first
 * calls were queued), SM_ENOMEM. A failed call is not queued. */
SM_EXTERN int sm_pipeline_call(sm_pipeline *pl, sm_proxy *p, const char *method,
                               const sm_value *const *args, size_t nargs);
/** As sm_pipeline_call with a deadline for a blocking method (as
 * sm_call_timed). A parked call does not stop the daemon from serving the
 * calls queued after it; sm_pipeline_exec returns once every call is
 * answered. */
SM_EXTERN int sm_pipeline_call_timed(sm_pipeline *pl, sm_proxy *p, const char *method,
                                     const sm_value *const *args, size_t nargs, int64_t timeout_ms);
/** Sends every queued call in one write (reading answers while it writes,
 * so a pipeline of any length never deadlocks) and waits for all the
 * answers. Each call's status and result are then kept in pl until
 * sm_pipeline_reset or sm_pipeline_free. An empty pipeline does nothing.
 * @return 0 when every call was sent and answered, even if some calls
 * failed (see sm_pipeline_status); SM_EINVAL (executed already),
 * SM_ECLOSED / SM_EPROTO when the connection failed (the calls then have
 * that status; some may have been applied), SM_ESTALE (the connection
 * reaches another daemon instance than the calls were queued for: nothing
 * was sent, every call has that status), SM_ECONNECT, SM_ENOMEM. */
SM_EXTERN int sm_pipeline_exec(sm_pipeline *pl);
/** @return the number of calls queued (0 for NULL). */
SM_EXTERN size_t sm_pipeline_count(const sm_pipeline *pl);
/** @return the status of call i (in queueing order) after exec: 0, the
 * daemon's status for it, or the transport error; SM_EINVAL when i is out
 * of range or the pipeline has not run. */
SM_EXTERN int sm_pipeline_status(const sm_pipeline *pl, size_t i);
/** The daemon's error text for call i, or "" when it succeeded or sent
 * none. Borrowed: valid until sm_pipeline_reset or sm_pipeline_free. */
SM_EXTERN const char *sm_pipeline_error(const sm_pipeline *pl, size_t i);
/** The result of call i after exec; may be called more than once (each
 * call decodes a new copy).
 * @param out receives the result, nil included (caller frees with
 * sm_value_free()); untouched on failure.
 * @return 0, or the call's own status (its text becomes this thread's last
 * error), SM_EINVAL, SM_EPROTO (a malformed result), SM_ENOMEM. */
SM_EXTERN int sm_pipeline_result(sm_pipeline *pl, size_t i, sm_value **out);
/** Guards the calls queued after it (until another guard, or guard NULL)
 * with guard's grant token, as sm_client_set_guard.
 * @return 0, SM_EINVAL, or the error of reaching the daemon. */
SM_EXTERN int sm_pipeline_set_guard(sm_pipeline *pl, sm_proxy *guard, uint64_t token);
/** The fencing token call i's answer carried (an acquire's), 0: none. */
SM_EXTERN uint64_t sm_pipeline_token(const sm_pipeline *pl, size_t i);
/** Empties pl for reuse (keeping its memory): the results of the last exec
 * are dropped. NULL is fine. */
SM_EXTERN void sm_pipeline_reset(sm_pipeline *pl);
/** Frees pl and its results. Unsent calls are dropped. NULL is fine. */
SM_EXTERN void sm_pipeline_free(sm_pipeline *pl);

/* ------------------------------------------------------------------ */
/* Transactions                                                        */
/* ------------------------------------------------------------------ */

/* A guarded transaction across objects (etcd's Txn compare/then/else):
 * conditions on several objects, then a list of calls when they all hold,
 * or the else-list, applied by the daemon in one step that no other call
 * interleaves with, logged and replayed as one change. Build it with
 * sm_txn_new() and the sm_txn_if_*(), sm_txn_then() and sm_txn_else()
 * calls (a builder call that fails is remembered and sm_txn_commit()
 * returns it), send it with sm_txn_commit(), read each call's result with
 * sm_txn_result(). Before anything is applied the daemon checks every
 * condition and call (object alive, type and method allowed, locks released
 * held by the caller, memory): any failing fails the commit, with nothing
 * applied. The calls are then all or nothing: one that fails on the state
 * it finds (a missing key for pop, an empty queue) fails the commit with
 * its code, sm_last_error() naming it, and every object is left as it was
 * (the calls before it are rolled back). docs/objects.md ("Transactions")
 * has an example.
 * An sm_txn is used by one thread at a time. */
typedef struct sm_txn sm_txn;

/** Comparison operators of sm_txn_if_compare(), sm_txn_if_size() and
 * sm_txn_if_rev(). */
typedef enum sm_cmp { SM_CMP_EQ, SM_CMP_NE, SM_CMP_LT, SM_CMP_LE, SM_CMP_GT, SM_CMP_GE } sm_cmp;

/** A new, empty transaction on client c.
 * @param out caller frees with sm_txn_free(). @return 0, SM_EINVAL, SM_ENOMEM. */
SM_EXTERN int sm_txn_new(sm_client *c, sm_txn **out);
/** Frees t and its results. NULL is fine. */
SM_EXTERN void sm_txn_free(sm_txn *t);

/* Conditions. obj is any proxy (sm_dict_proxy(d)...); arguments are
 * borrowed for the call. Each returns 0, SM_EINVAL, SM_ENOMEM or an error
 * reaching the daemon for obj (a named object of a restarted daemon is
 * found again). */
/** The dict key (namespace attribute: a string) is present / absent. */
SM_EXTERN int sm_txn_if_exists(sm_txn *t, sm_proxy *obj, const sm_value *key);
SM_EXTERN int sm_txn_if_absent(sm_txn *t, sm_proxy *obj, const sm_value *key);
/** The value under key equals v (Python's ==, as dict keys compare). key
 * NULL: obj is a value object, compared whole. */
SM_EXTERN int sm_txn_if_equals(sm_txn *t, sm_proxy *obj, const sm_value *key, const sm_value *v);
/** value op v: ordering holds between numbers, between strings and between
 * bytes; an unordered pair or a missing key makes the condition false. */
SM_EXTERN int sm_txn_if_compare(sm_txn *t, sm_proxy *obj, const sm_value *key, sm_cmp op,
                                const sm_value *v);
/** len op n of a dict, list or namespace; qsize of a queue. */
SM_EXTERN int sm_txn_if_size(sm_txn *t, sm_proxy *obj, sm_cmp op, int64_t n);
/** This thread's connection holds the lock or rlock, with fencing token
 * token (0: any). */
SM_EXTERN int sm_txn_if_held(sm_txn *t, sm_proxy *lock, uint64_t token);
/** The event is set. */
SM_EXTERN int sm_txn_if_set(sm_txn *t, sm_proxy *event);
/** The revision (sm_rev()) of a dict, list, value or namespace op rev. */
SM_EXTERN int sm_txn_if_rev(sm_txn *t, sm_proxy *obj, sm_cmp op, uint64_t rev);
/** The generic form of the conditions above, for bindings: kind as
 * docs/protocol.md names it ("exists", "absent", "equals", "compare",
 * "size", "held", "is_set", "rev") and the items after the object (items
 * borrowed; NULL encodes nil); the daemon checks them at commit. */
SM_EXTERN int sm_txn_if(sm_txn *t, const char *kind, sm_proxy *obj, const sm_value *const *items,
                        size_t n);

/** Adds obj.method(args) to the calls run when every condition holds
 * (then) or when one does not (else): any method of dict, list, value,
 * namespace, queue (no join: nothing waits, so get on an empty queue is
 * SM_EEMPTY) and event (no wait), and release of a lock or rlock this
 * thread holds. Names are as docs/protocol.md lists them.
 * @return 0, SM_EINVAL, SM_ENOMEM, or an error reaching obj. */
SM_EXTERN int sm_txn_then(sm_txn *t, sm_proxy *obj, const char *method, const sm_value *const *args,
                          size_t nargs);
SM_EXTERN int sm_txn_else(sm_txn *t, sm_proxy *obj, const char *method, const sm_value *const *args,
                          size_t nargs);

/** Sends t over the calling thread's connection and waits for the daemon.
 * *succeeded (may be NULL) says whether the conditions held (the then-list
 * ran) or not (the else-list ran). The transaction can be committed again.
 * @return 0, the first builder error, or the daemon's refusal (SM_ENOTFOUND,
 * SM_ETYPE, SM_EVALUE, SM_ENOTOWNER, SM_EMAXMEMORY...) with nothing applied;
 * a call failing on the state it finds (SM_EEMPTY, SM_ENOTFOUND, SM_EVALUE...)
 * is a refusal too, the calls before it rolled back. */
SM_EXTERN int sm_txn_commit(sm_txn *t, bool *succeeded);
/** The number of results of the last commit: one per call of the branch
 * that ran. */
SM_EXTERN size_t sm_txn_count(const sm_txn *t);
/** Call i's outcome in the last commit that succeeded: 0 with *value its
 * result (a commit that failed leaves no results). *value (may be
 * NULL) is borrowed until the next commit or sm_txn_free(). SM_EINVAL when
 * i is out of range. */
SM_EXTERN int sm_txn_result(const sm_txn *t, size_t i, const sm_value **value);

/* ------------------------------------------------------------------ */
/* Revisions and watches                                               */
/* ------------------------------------------------------------------ */

/* A dict, list, value or namespace counts its changes: its revision starts
 * at 0 and grows by one with every call that changes it, and survives a
 * restart of a durable daemon. sm_watch() waits for the next changes after
 * a revision, so a process follows every change without polling and
 * without missing one between two watches (etcd's watch from a revision):
 * read the revision, read the data, then watch from that revision, each
 * time from the revision the last watch returned. From the first sm_rev()
 * or sm_watch() on an object the daemon keeps its last 256 changes (at
 * most 1 MiB of keys and values); a watch from before them says so.
 * examples/config_watch.c follows a config dict this way. */

/** obj's revision now. @return 0, SM_ETYPE (a type without revisions), ... */
SM_EXTERN int sm_rev(sm_proxy *obj, uint64_t *rev);
/** Waits until obj changes after from_rev (only key, when not NULL: a dict
 * key or namespace attribute; a list changes when its length does).
 * @param timeout_ms < 0: wait forever; 0: answer at once.
 * @param events the changes after from_rev, oldest first, each a list
 * [rev, kind, key, value] with kind "set" (value the new value), "del" or
 * "len" (value a list's new length), key nil for a value or list (caller
 * frees with sm_value_free()); an empty list when timeout_ms is 0 and
 * nothing changed; NULL when from_rev is older than the changes the daemon
 * keeps (compacted): read the object again and watch from *next_rev.
 * @param next_rev the revision to watch from next.
 * @return 0, SM_ETIMEOUT, SM_EVALUE (from_rev after the revision now),
 * SM_ENOTFOUND (the object was deleted), SM_ETYPE, ... */
SM_EXTERN int sm_watch(sm_proxy *obj, uint64_t from_rev, const sm_value *key, int64_t timeout_ms,
                       sm_value **events, uint64_t *next_rev);

/* ------------------------------------------------------------------ */
/* A private manager                                                   */
/* ------------------------------------------------------------------ */

/* Python's `with multiprocessing.Manager() as m:` in one call, with no
 * setup: sm_manager_start() runs a private statemgrd as a child process, on
 * a fresh UNIX socket in a private directory (mode 0700) with a random
 * authkey or one of the caller's, waits until it is ready, and hands back a
 * connected sm_client. sm_manager_shutdown() stops it and removes the
 * socket and directory.
 *
 * Another program of the same user joins with sm_manager_url() and the
 * key from sm_manager_authkey(): sm_connect(url, opts) with
 * sm_options_set_authkey(), as Python's SyncManager(address, authkey) is
 * joined with the same address and authkey. The key never touches the
 * disk: the daemon reads it from a pipe.
 *
 * - The daemon dies with its parent, even when the parent is killed with
 *   SIGKILL (PR_SET_PDEATHSIG): no orphan is left behind. The kernel ties
 *   that to the *thread* that called sm_manager_start(): call it from a
 *   thread that lives as long as the manager is needed (usually main).
 *   Without sm_manager_shutdown() (a crash, a kill, an exit without it) the
 *   daemon still dies, but its private directory stays in $TMPDIR or /tmp.
 * - Processes forked afterwards share the manager through the inherited
 *   client and proxies (each opens its own connections). Only the process
 *   that started the manager stops it: in a fork child,
 *   sm_manager_shutdown() only frees the child's copy.
 * - The daemon runs in its own process group, so a Ctrl-C meant for the
 *   program does not stop it (as Python's manager ignores SIGINT).
 * - The daemon is a child process of the program: wait for workers by PID,
 *   since wait() or waitpid(-1, ...) would wait for the daemon too.
 * - Thread safety: the client is shared as any sm_client; start and
 *   shut down from one thread, when no other thread uses the client. */

typedef struct sm_manager sm_manager;
typedef struct sm_manager_options sm_manager_options;

/** New manager options with defaults (caller frees with
 * sm_manager_options_free()), or NULL when out of memory. */
SM_EXTERN sm_manager_options *sm_manager_options_new(void);
/** Frees o; NULL is fine. */
SM_EXTERN void sm_manager_options_free(sm_manager_options *o);
/** The statemgrd to run (copied; NULL: the default search). A name without
 * a slash is looked up in $PATH. Default: $STATEMGRD, else statemgrd in the
 * directory of the running program, else statemgrd in $PATH.
 * @return 0, SM_EINVAL (NULL o, empty path), SM_ENOMEM. */
SM_EXTERN int sm_manager_options_set_daemon_path(sm_manager_options *o, const char *path);
/** Where the daemon's stderr goes (appended to, created with mode 0600;
 * copied; NULL: /dev/null). Its log level is warn.
 * @return 0, SM_EINVAL (NULL o, empty path), SM_ENOMEM. */
SM_EXTERN int sm_manager_options_set_log_file(sm_manager_options *o, const char *path);
/** Keeps the manager's state in the data directory path (copied), as
 * statemgrd --data-dir does: a manager started again on it finds its
 * objects. NULL (the default): the state lives in memory and ends with
 * the manager, as with Python's Manager().
 * @return 0, SM_EINVAL (NULL o, empty path), SM_ENOMEM. */
SM_EXTERN int sm_manager_options_set_data_dir(sm_manager_options *o, const char *path);
/** How long sm_manager_start() waits for the daemon to become ready
 * (default 10000). @return 0, SM_EINVAL (NULL o, ms <= 0). */
SM_EXTERN int sm_manager_options_set_start_timeout_ms(sm_manager_options *o, int ms);
/** The manager's authkey (copied; any bytes, 16 to 4096 of them), as
 * Python's SyncManager(authkey=...). NULL: a random key of 64 hex
 * characters (the default).
 * @return 0, SM_EINVAL (NULL o, or a key not 16..4096 bytes), SM_ENOMEM. */
SM_EXTERN int sm_manager_options_set_authkey(sm_manager_options *o, const void *key, size_t len);

/** Starts a private statemgrd and connects to it. opts may be NULL and is
 * not kept.
 * @param out receives the manager (caller stops and frees it with
 * sm_manager_shutdown()).
 * @return 0; SM_EINVAL (NULL out, no statemgrd found or it cannot be run:
 * sm_last_error() names the path and the reason); SM_ECONNECT (the daemon
 * exited during start-up: its exit status is in sm_last_error(); no
 * private directory or process could be made); SM_ETIMEOUT (not ready in
 * time: it is killed); an error of sm_connect(); SM_ENOMEM. Nothing is left
 * behind on failure. */
SM_EXTERN int sm_manager_start(const sm_manager_options *opts, sm_manager **out);
/** The manager's client. Borrowed: valid until sm_manager_shutdown(m);
 * free the proxies opened from it before that. */
SM_EXTERN sm_client *sm_manager_client(sm_manager *m);
/** The daemon's URL ("unix:/tmp/statemgr-XXXXXX/statemgr.sock"), for other
 * clients of this user. Borrowed: valid until sm_manager_shutdown(m). */
SM_EXTERN const char *sm_manager_url(const sm_manager *m);
/** The manager's authkey, chosen or random, to hand to the other programs
 * it should let in (Python: current_process().authkey).
 * @param len receives its length in bytes (0 for NULL m); may be NULL.
 * @return the key's bytes, not NUL-terminated. Borrowed: valid until
 * sm_manager_shutdown(m). NULL for NULL m. */
SM_EXTERN const void *sm_manager_authkey(const sm_manager *m, size_t *len);
/** The daemon's process id (0 for NULL). */
SM_EXTERN pid_t sm_manager_pid(const sm_manager *m);
/** Stops the daemon (asks it to shut down, waits for it at most 5 s, then
 * kills it), removes its private directory, frees its client and m. Proxies
 * opened from the client must be freed first. In a process other than the
 * one that started m (a fork child), only frees this process's copy. NULL
 * is fine.
 * @return 0 when the daemon stopped cleanly (or in a fork child);
 * SM_ETIMEOUT (it had to be killed), SM_EINTERNAL (it had ended on its
 * own, crashed or killed: sm_last_error() says how). m is freed in every
 * case. */
SM_EXTERN int sm_manager_shutdown(sm_manager *m);

#ifdef __cplusplus
}
#endif

#endif /* STATEMGR_H */
