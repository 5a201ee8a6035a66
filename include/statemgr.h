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
 */
#ifndef STATEMGR_H
#define STATEMGR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* The error table: name, code, text. Codes -1..-13 are the daemon's wire
 * statuses; the rest arise in the library. Append only: numbers never
 * change. */
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
  XX(TLS, -18, "TLS error")

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
/** A string (copied; must not contain NUL bytes: use bytes for that). */
SM_EXTERN sm_value *sm_value_str(const char *s);
SM_EXTERN sm_value *sm_value_strn(const char *s, size_t len);
SM_EXTERN sm_value *sm_value_bytes(const void *p, size_t len);
SM_EXTERN sm_value *sm_value_list(void); /**< an empty list */
SM_EXTERN sm_value *sm_value_map(void);  /**< an empty map */

/** Appends item to list, taking ownership of item (also on failure, when
 * it is freed). @return 0, SM_EINVAL (not a list or item NULL), SM_ENOMEM. */
SM_EXTERN int sm_value_list_append(sm_value *list, sm_value *item);
/** Sets key to val in map (replacing an equal key), taking ownership of
 * both (also on failure). @return 0, SM_EINVAL, SM_ETYPE (key is a list or
 * map), SM_ENOMEM. */
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
/** Borrowed value stored under key in a map, or NULL when absent. */
SM_EXTERN const sm_value *sm_value_map_get(const sm_value *map, const sm_value *key);
/** True when a and b are the same kind and equal (deep). */
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
/** Reads the authkey from this file (overrides the environment). */
SM_EXTERN int sm_options_set_authkey_file(sm_options *o, const char *path);
/** Uses this key (copied). */
SM_EXTERN int sm_options_set_authkey(sm_options *o, const void *key, size_t len);
/** Connect timeout in milliseconds (default 5000; <=0 waits forever). */
SM_EXTERN int sm_options_set_connect_timeout(sm_options *o, int ms);
/** A name the daemon shows in its logs and listings (copied). */
SM_EXTERN int sm_options_set_client_name(sm_options *o, const char *name);

/** Connects to url (tcp://host:port, unix:/path; NULL means
 * $STATEMGR_URL or SM_DEFAULT_URL). The authkey comes from the options, else
 * $STATEMGR_AUTHKEY_FILE, $STATEMGR_AUTHKEY, ~/.statemgr/authkey. The
 * calling thread's connection is opened and authenticated now, so a wrong
 * address or key is reported here. opts may be NULL and is not kept.
 * @param out receives the client (caller frees with sm_client_free()).
 * @return 0, SM_EINVAL (bad URL, no authkey), SM_ECONNECT, SM_EAUTH,
 * SM_EPROTO, SM_ENOMEM. */
SM_EXTERN int sm_connect(const char *url, const sm_options *opts, sm_client **out);
/** Closes every connection of the client and frees it. Proxies opened from
 * it must be freed first. NULL is fine. */
SM_EXTERN void sm_client_free(sm_client *c);
/** @return the URL the client connects to (borrowed, lives with c). */
SM_EXTERN const char *sm_client_url(const sm_client *c);

/** One round trip to the daemon. */
SM_EXTERN int sm_ping(sm_client *c);
/** Daemon facts (version, uptime, connections, objects...) as a map with
 * string keys (caller frees with sm_value_free()). */
SM_EXTERN int sm_info(sm_client *c, sm_value **out);
/** Objects: a list of maps {"name", "id", "type", "size"}; type NULL lists
 * all types (caller frees with sm_value_free()). Named objects only. */
SM_EXTERN int sm_ls(sm_client *c, const char *type, sm_value **out);
/** Deletes the named object; proxies to it then get SM_ENOTFOUND. */
SM_EXTERN int sm_delete(sm_client *c, const char *name);
/** Asks the daemon to shut down (it answers first). */
SM_EXTERN int sm_shutdown(sm_client *c);

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

/** The object's id, type name (borrowed) and name (borrowed, NULL if
 * anonymous). */
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
 * @param out caller frees with sm_proxy_free(). */
SM_EXTERN int sm_proxy_from_token(sm_client *c, const char *token, sm_proxy **out);
SM_EXTERN int sm_proxy_from_ref(sm_client *c, const sm_value *ref, sm_proxy **out);
/** Releases the proxy (and this process's reference to an anonymous
 * object). NULL is fine. */
SM_EXTERN void sm_proxy_free(sm_proxy *p);

/* ---- dict ------------------------------------------------------- */

typedef struct sm_dict sm_dict;

/** Gets or creates the dict called name (NULL: a new anonymous dict).
 * @param out caller frees with sm_dict_free(). @return 0, SM_ETYPE (name
 * exists with another type), ... */
SM_EXTERN int sm_dict_open(sm_client *c, const char *name, sm_dict **out);
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
 * list of [key, value] lists. */
SM_EXTERN int sm_dict_keys(sm_dict *d, sm_value **out);
SM_EXTERN int sm_dict_values(sm_dict *d, sm_value **out);
SM_EXTERN int sm_dict_items(sm_dict *d, sm_value **out);
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
/** Atomic compare-and-set: if the current value equals expected (NULL:
 * key absent), store desired. *swapped tells whether it did; when current
 * is not NULL it receives the value found before the call (NULL when the
 * key was absent; caller frees). */
SM_EXTERN int sm_dict_cas(sm_dict *d, const sm_value *key, const sm_value *expected,
                          const sm_value *desired, bool *swapped, sm_value **current);

/* Typed helpers: string keys, string or int64 values. A value of another
 * kind gives SM_ETYPE. */
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
SM_EXTERN int sm_list_reverse(sm_list *l);
/** Sorts numbers or strings in place (stable). @return SM_ETYPE when the
 * elements do not order against each other. */
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
SM_EXTERN int sm_ns_set_int(sm_ns *n, const char *attr, int64_t val);
SM_EXTERN int sm_ns_get_int(sm_ns *n, const char *attr, int64_t *out);
SM_EXTERN int sm_ns_set_str(sm_ns *n, const char *attr, const char *val);
/** @param out caller frees with sm_free(). */
SM_EXTERN int sm_ns_get_str(sm_ns *n, const char *attr, char **out);

#ifdef __cplusplus
}
#endif

#endif /* STATEMGR_H */
