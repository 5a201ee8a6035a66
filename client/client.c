/* SPDX-License-Identifier: MIT */
/* client.c - sm_options, sm_client and its connections, and the manager
 * calls (ping, info, ls, delete, shutdown).
 *
 * Threads: each thread's connection hangs off a pthread key created per
 * client; the key's destructor closes it when the thread exits. All
 * connections are also on the client's list (under mu) so sm_client_free
 * closes every one. References to anonymous objects live on one shared
 * holder connection (see client_internal.h).
 *
 * Fork: pthread_atfork handlers, registered once for the process, hold every
 * client's locks across fork() so the child never inherits a half-changed
 * list or a held mutex, and in the child close the inherited sockets
 * (close() only: nothing is written, so the parent's sessions are
 * untouched and the daemon sees them end only when the parent ends them).
 * Each connection also records its pid, so a child whose handlers did not
 * run still never reuses a parent's connection.
 *
 * Reconnection: a lost connection is replaced on the thread's next call.
 * Every connection knows the instance of the daemon it reached, from the
 * handshake; proxies compare it with the instance their object belongs to
 * (proxy.c). Against an in-memory daemon only a call that never left the
 * lost connection is sent again (client_internal.h). Against a durable
 * daemon (protocol 3) a lost connection is reopened in place, resuming its
 * session (so what the thread, or the holder, held stays held), and a call
 * in flight goes out again with its seq until the client's timeout passes:
 * the daemon answers a call it applied already from the session's reply
 * table, exactly once (client_resume).
 *
 * Groups: the URL may list the members of a replicated group (group.c).
 * Every connection is opened, or its session resumed, by group_walk: from
 * the member that answered last, following REDIRECTs to the leader. A call
 * answered REDIRECT was not applied: it goes to the leader like a call in
 * flight on a dropped connection (resend), and the wait for a leader (or
 * a restarting daemon) is the failover timeout.
 *
 * TLS: a client of a tls:// URL builds one TLS context in sm_connect (CA,
 * client certificate, verification) that every connection of the client
 * shares; a bad file is reported there. Skipping verification warns on
 * stderr once per client. */
#include "client_internal.h"

#include "../proto/auth.h"
#include "../proto/authkey.h"
#include "../proto/url.h"
#include "chan.h"
#include "proxy.h"
#include "errors.h"
#include "group.h"
#include "value_internal.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_FAILOVER_TIMEOUT_MS 30000
#define DEFAULT_KEEPALIVE_S 15
#define MAX_ARGS 8 /* no method takes more */

struct sm_options {
  authkey key;           /**< set by sm_options_set_authkey */
  bool has_key;          /**< key was given (it wins over key_file) */
  char *key_file;        /**< owned; NULL: the environment, then the default file */
  int timeout_ms;        /**< connect + handshake */
  int failover_ms;       /**< how long to look for the daemon or leader with calls in flight */
  char *name;            /**< owned; may be NULL */
  int keepalive_s;       /**< TCP keepalive idle seconds; 0: system default */
  char *tls_ca;          /**< owned; NULL: the system's trusted CAs */
  char *tls_cert;        /**< owned; NULL: no client certificate */
  char *tls_key;         /**< owned; NULL: the key is in tls_cert */
  char *tls_server_name; /**< owned; NULL: the URL's host */
  bool tls_insecure;     /**< skip certificate and name verification */
};

/* One thread's connection, on the client's list. */
typedef struct slot {
  chan *k;               /**< NULL until opened, or after a failed reopen */
  uint64_t guard_object; /**< sm_client_set_guard: the thread's fencing guard (0: none) */
  uint64_t guard_token;
  sm_client *owner; /**< for the thread-exit destructor */
  struct slot *prev, *next;
} slot;

struct sm_client {
  char *url;      /**< owned text, as given */
  group *members; /**< owned: the daemon, or the group's members, parsed from url */
  authkey key;    /**< wiped on free */
  int timeout_ms;
  int failover_ms;                /**< see sm_options_set_failover_timeout */
  char *name;                     /**< owned; may be NULL */
  int keepalive_s;                /**< TCP keepalive idle seconds */
  struct ssl_ctx_st *tls;         /**< owned; tls:// URLs only, shared by all connections */
  char *tls_server_name;          /**< owned; NULL: the URL's host */
  pthread_key_t tkey;             /**< the calling thread's slot */
  pthread_mutex_t mu;             /**< guards slots, slot->k swaps, opening connections */
  slot *slots;                    /**< every thread's connection */
  pthread_mutex_t hold_mu;        /**< serialises holder calls; taken before mu */
  chan *holder;                   /**< references to anonymous objects live here */
  uint64_t holder_epoch;          /**< bumped each time the holder is (re)opened */
  unsigned max_depth;             /**< (atomic) the daemon's --max-depth, from the last handshake */
  sm_client *reg_prev, *reg_next; /**< the process-wide list, for fork */
};

/* ---- options ---- */

/* New options (caller frees with sm_options_free()), or NULL. */
sm_options *sm_options_new(void) {
  sm_options *o = calloc(1, sizeof *o);
  if (o) {
    o->timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS;
    o->failover_ms = DEFAULT_FAILOVER_TIMEOUT_MS;
    o->keepalive_s = DEFAULT_KEEPALIVE_S;
  }
  return o;
}

void sm_options_free(sm_options *o) {
  if (!o) return;
  authkey_clear(&o->key);
  free(o->key_file);
  free(o->name);
  free(o->tls_ca);
  free(o->tls_cert);
  free(o->tls_key);
  free(o->tls_server_name);
  free(o);
}

/* Replaces *dst with a copy of s. */
static int set_string(char **dst, const char *s) {
  char *copy = strdup(s);
  if (!copy) return err_set(SM_ENOMEM, "out of memory");
  free(*dst);
  *dst = copy;
  return SM_OK;
}

/* The later of set_authkey_file and set_authkey wins. */
int sm_options_set_authkey_file(sm_options *o, const char *path) {
  if (!o || !path || !*path) return err_set(SM_EINVAL, "%s: NULL options or empty path", __func__);
  int rc = set_string(&o->key_file, path);
  if (rc == SM_OK) {
    authkey_clear(&o->key);
    o->has_key = false;
  }
  return rc;
}

int sm_options_set_authkey(sm_options *o, const void *key, size_t len) {
  char why[256];
  if (!o || !key) return err_set(SM_EINVAL, "%s: NULL argument", __func__);
  if (authkey_check_len(len, "sm_options_set_authkey()", why, sizeof why) != 0)
    return err_set(SM_EINVAL, "%s", why);
  if (authkey_set(&o->key, key, len, "options") != 0) return err_set(SM_ENOMEM, "out of memory");
  o->has_key = true;
  free(o->key_file);
  o->key_file = NULL;
  return SM_OK;
}

int sm_options_set_connect_timeout(sm_options *o, int ms) {
  if (!o) return err_set(SM_EINVAL, "%s: NULL options", __func__);
  o->timeout_ms = ms;
  return SM_OK;
}

int sm_options_set_failover_timeout(sm_options *o, int ms) {
  if (!o) return err_set(SM_EINVAL, "%s: NULL options", __func__);
  o->failover_ms = ms;
  return SM_OK;
}

/* Keeps at most AUTH_CLIENT_NAME_MAX bytes, cut before a UTF-8
 * continuation byte so no character is split. */
int sm_options_set_client_name(sm_options *o, const char *name) {
  if (!o || !name) return err_set(SM_EINVAL, "%s: NULL argument", __func__);
  size_t n = strnlen(name, AUTH_CLIENT_NAME_MAX + 1);
  if (n > AUTH_CLIENT_NAME_MAX) {
    n = AUTH_CLIENT_NAME_MAX;
    while (n > 0 && ((unsigned char)name[n] & 0xc0) == 0x80)
      n--;
  }
  char *copy = strndup(name, n);
  if (!copy) return err_set(SM_ENOMEM, "out of memory");
  free(o->name);
  o->name = copy;
  return SM_OK;
}

int sm_options_set_keepalive(sm_options *o, int seconds) {
  if (!o || seconds < 0 || seconds > 7200)
    return err_set(SM_EINVAL, "%s: NULL options, or seconds not 0..7200", __func__);
  o->keepalive_s = seconds;
  return SM_OK;
}

/* Replaces *dst with a copy of s, or with NULL when s is NULL. */
static int set_optional(char **dst, const char *s) {
  if (s) return set_string(dst, s);
  free(*dst);
  *dst = NULL;
  return SM_OK;
}

int sm_options_set_tls_ca(sm_options *o, const char *path) {
  if (!o || (path && !*path)) return err_set(SM_EINVAL, "%s: NULL options or empty path", __func__);
  return set_optional(&o->tls_ca, path);
}

int sm_options_set_tls_cert(sm_options *o, const char *cert, const char *key) {
  if (!o || (cert && !*cert) || (key && !*key) || (!cert && key))
    return err_set(SM_EINVAL, "%s: NULL options, an empty path, or a key without a certificate",
                   __func__);
  int rc = set_optional(&o->tls_cert, cert);
  return rc == SM_OK ? set_optional(&o->tls_key, key) : rc;
}

int sm_options_set_tls_server_name(sm_options *o, const char *name) {
  if (!o || (name && !*name)) return err_set(SM_EINVAL, "%s: NULL options or empty name", __func__);
  return set_optional(&o->tls_server_name, name);
}

int sm_options_set_tls_insecure_skip_verify(sm_options *o, bool skip) {
  if (!o) return err_set(SM_EINVAL, "%s: NULL options", __func__);
  o->tls_insecure = skip;
  return SM_OK;
}

/* ---- the process-wide client list and fork handlers ---- */

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static sm_client *registry_head;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void) {
  pthread_mutex_lock(&registry_mu);
  for (sm_client *c = registry_head; c; c = c->reg_next) {
    pthread_mutex_lock(&c->hold_mu);
    pthread_mutex_lock(&c->mu);
  }
}

static void fork_parent(void) {
  for (sm_client *c = registry_head; c; c = c->reg_next) {
    pthread_mutex_unlock(&c->mu);
    pthread_mutex_unlock(&c->hold_mu);
  }
  pthread_mutex_unlock(&registry_mu);
}

/* In the child: the parent's sockets are not ours to use. */
static void fork_child(void) {
  chan_note_fork();
  for (sm_client *c = registry_head; c; c = c->reg_next) {
    for (slot *s = c->slots; s; s = s->next)
      if (s->k) chan_drop_fd(s->k);
    if (c->holder) chan_drop_fd(c->holder);
    pthread_mutex_unlock(&c->mu);
    pthread_mutex_unlock(&c->hold_mu);
  }
  pthread_mutex_unlock(&registry_mu);
}

static void install_atfork(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }

static void registry_add(sm_client *c) {
  pthread_mutex_lock(&registry_mu);
  c->reg_next = registry_head;
  if (registry_head) registry_head->reg_prev = c;
  registry_head = c;
  pthread_mutex_unlock(&registry_mu);
}

static void registry_remove(sm_client *c) {
  pthread_mutex_lock(&registry_mu);
  if (c->reg_prev)
    c->reg_prev->reg_next = c->reg_next;
  else if (registry_head == c)
    registry_head = c->reg_next;
  if (c->reg_next) c->reg_next->reg_prev = c->reg_prev;
  pthread_mutex_unlock(&registry_mu);
}

/* ---- connections ---- */

/* How c's connections to member i are made; leader (WIRE_URL_MAX bytes)
 * receives the leader a REDIRECT names. */
static chan_cfg conn_cfg(const sm_client *c, size_t i, char *leader) {
  const url_member *m = group_at(c->members, i);
  return (chan_cfg){.addr = &m->addr,
                    .url = m->text,
                    .key = c->key.bytes,
                    .keylen = c->key.len,
                    .timeout_ms = c->timeout_ms,
                    .client_name = c->name,
                    .keepalive_s = c->keepalive_s,
                    .tls = c->tls,
                    .tls_server_name = c->tls_server_name,
                    .leader = leader};
}

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* How long c looks for its daemon, or its group's leader, while calls
 * wait: the failover timeout (-1: no bound). */
static int failover_wait_ms(const sm_client *c) { return c->failover_ms > 0 ? c->failover_ms : -1; }

static int64_t failover_deadline(const sm_client *c) {
  int wait = failover_wait_ms(c);
  return wait < 0 ? INT64_MAX : mono_ms() + wait;
}

/* One try of group_walk for a new connection: into *k, under mu so a
 * fork() never copies a socket that no list knows about. */
typedef struct open_try {
  sm_client *c;
  chan **k;
} open_try;

static int try_open(void *ctx, size_t i, char *leader) {
  open_try *t = ctx;
  chan_cfg cfg = conn_cfg(t->c, i, leader);
  pthread_mutex_lock(&t->c->mu);
  chan_free(*t->k);
  *t->k = NULL;
  int rc = chan_open(&cfg, t->k);
  pthread_mutex_unlock(&t->c->mu);
  return rc;
}

/* Opens and authenticates a new connection for c into *k (replacing a
 * broken one), on the member that answered last or on the leader the old
 * connection was redirected to, walking the group as group_walk does: a
 * fresh connection fails at once when every member refuses it, and keeps
 * looking (up to the failover timeout) while members answer REDIRECT.
 * Keeps the daemon's depth limit it learned. Call without mu. */
static int open_conn(sm_client *c, chan **k) {
  char hint[WIRE_URL_MAX] = "";
  group_walk_cfg walk = {.deadline = failover_deadline(c), .hint = hint};
  if (*k) {
    snprintf(hint, sizeof hint, "%s", chan_redirect_leader(*k));
    walk.origin = chan_scheme(*k);
  }
  open_try t = {c, k};
  int rc = group_walk(c->members, &walk, try_open, &t);
  if (rc == SM_OK) __atomic_store_n(&c->max_depth, chan_max_depth(*k), __ATOMIC_RELAXED);
  return rc;
}

static int resume_conn(sm_client *c, chan *k);

/* The pthread key destructor: the thread is exiting, close its connection. */
static void slot_destroy(void *arg) {
  slot *s = arg;
  sm_client *c = s->owner;
  pthread_mutex_lock(&c->mu);
  if (s->prev)
    s->prev->next = s->next;
  else
    c->slots = s->next;
  if (s->next) s->next->prev = s->prev;
  chan_free(s->k); /* under mu: a concurrent fork() copies no orphan socket */
  pthread_mutex_unlock(&c->mu);
  free(s);
}

/* The calling thread's usable connection, opened or replaced as needed
 * (borrowed: valid until this thread's next call on c). */
static int thread_conn(sm_client *c, chan **out) {
  slot *s = pthread_getspecific(c->tkey);
  if (s && chan_usable(s->k)) {
    *out = s->k;
    return SM_OK;
  }
  int rc = SM_OK;
  pthread_mutex_lock(&c->mu);
  if (!s) {
    s = calloc(1, sizeof *s);
    if (!s || pthread_setspecific(c->tkey, s) != 0) {
      free(s);
      pthread_mutex_unlock(&c->mu);
      return err_set(SM_ENOMEM, "out of memory");
    }
    s->owner = c;
    s->next = c->slots;
    if (c->slots) c->slots->prev = s;
    c->slots = s;
  }
  pthread_mutex_unlock(&c->mu); /* each attempt takes it */
  /* Dropped by a durable daemon: take its session back (what the thread
   * holds stays its own). Broken, or inherited from the parent process:
   * open anew (the daemon may be another instance now: proxy.c checks). */
  rc = chan_resumable(s->k) ? resume_conn(c, s->k) : open_conn(c, &s->k);
  if (rc == SM_OK) *out = s->k;
  return rc;
}

int client_thread_chan(sm_client *c, chan **out) { return thread_conn(c, out); }

int client_thread_instance(sm_client *c, uint64_t *out) {
  chan *k = NULL;
  int rc = thread_conn(c, &k);
  if (rc == SM_OK) *out = chan_instance(k);
  return rc;
}

unsigned client_max_depth(const sm_client *c) {
  unsigned d = __atomic_load_n(&c->max_depth, __ATOMIC_RELAXED);
  return d ? d : VW_DEPTH_DEFAULT;
}

/* Whether the calling thread's last object call failed with SM_ECLOSED
 * before its request left (see client_last_unsent). */
static _Thread_local bool last_unsent;

bool client_last_unsent(void) { return last_unsent; }

/* The holder connection, (re)opened as needed. Call with hold_mu held. */
static int holder_conn(sm_client *c, chan **out) {
  if (chan_usable(c->holder)) {
    *out = c->holder;
    return SM_OK;
  }
  int rc;
  if (chan_resumable(c->holder)) {
    /* A resumed session keeps its references: the proxies' epoch stays;
     * a new one has none of them. */
    uint64_t before = chan_session(c->holder);
    rc = resume_conn(c, c->holder);
    if (chan_session(c->holder) != before) c->holder_epoch++;
  } else {
    rc = open_conn(c, &c->holder);
    if (rc == SM_OK) c->holder_epoch++;
  }
  if (rc == SM_OK) *out = c->holder;
  return rc;
}

/* One try of group_walk resuming k's session on member i, under mu. */
typedef struct resume_try {
  sm_client *c;
  chan *k;
} resume_try;

static int try_resume(void *ctx, size_t i, char *leader) {
  resume_try *t = ctx;
  chan_cfg cfg = conn_cfg(t->c, i, leader);
  pthread_mutex_lock(&t->c->mu);
  int rc = chan_reopen(t->k, &cfg);
  pthread_mutex_unlock(&t->c->mu);
  return rc;
}

/* The pause before a resume that follows a REDIRECT on a session resumed
 * already for the same call: a deposed member that takes the session and
 * keeps naming a leader not up yet is not asked in a tight loop. */
#define REDIRECT_AGAIN_PAUSE_MS 20

int client_resume(sm_client *c, chan *k, int64_t *deadline) {
  if (*deadline == 0) {
    *deadline = failover_deadline(c);
  } else if (chan_last_redirected(k)) {
    struct timespec ts = {0, REDIRECT_AGAIN_PAUSE_MS * 1000000L};
    nanosleep(&ts, NULL);
  }
  /* The daemon restarting, or the group electing a leader: every member
   * is tried in turn until the deadline, the leader a REDIRECT named
   * first. */
  char hint[WIRE_URL_MAX];
  snprintf(hint, sizeof hint, "%s", chan_redirect_leader(k));
  group_walk_cfg walk = {
      .deadline = *deadline, .keep_trying = true, .hint = hint, .origin = chan_scheme(k)};
  resume_try t = {c, k};
  int rc = group_walk(c->members, &walk, try_resume, &t);
  if (rc == SM_OK || rc == SM_ECLOSED) return rc; /* resumed, or refused (text set) */
  if (rc != SM_ECONNECT && rc != SM_ETIMEOUT && rc != SM_ESHUTDOWN && rc != SM_EREDIRECT) return rc;
  return err_set(SM_ECLOSED,
                 "the connection to %s dropped with a call in flight and %s did not come back "
                 "within the failover timeout (%d ms): the call may or may not have been "
                 "applied (%s)",
                 c->url, group_size(c->members) > 1 ? "no leader of the group" : "the daemon",
                 failover_wait_ms(c), sm_last_error());
}

/* k, a connection of a durable daemon, dropped with nothing in flight:
 * takes its session back, retrying while the daemon restarts (up to the
 * client's timeout), or takes the new session the daemon gives instead. */
static int resume_conn(sm_client *c, chan *k) {
  int64_t deadline = 0;
  int rc = client_resume(c, k, &deadline);
  if (rc == SM_ECLOSED && chan_usable(k)) rc = SM_OK; /* a new session: nothing was lost */
  if (rc == SM_ECLOSED)
    return err_set(SM_ECONNECT, "cannot reach %s to resume the connection's session within %d ms",
                   c->url, failover_wait_ms(c));
  if (rc == SM_OK) __atomic_store_n(&c->max_depth, chan_max_depth(k), __ATOMIC_RELAXED);
  return rc;
}

bool client_redirect_again(sm_client *c, int64_t *deadline) {
  if (*deadline == 0) *deadline = failover_deadline(c);
  if (mono_ms() >= *deadline) return false;
  struct timespec ts = {0, REDIRECT_AGAIN_PAUSE_MS * 1000000L};
  nanosleep(&ts, NULL);
  return true;
}

/* req was not applied (it never left a dropped connection, or a member
 * answered REDIRECT): it goes out on a new connection of the calling
 * thread (holder false) or the holder's, and again while members that do
 * not lead answer REDIRECT, up to the failover timeout. */
static int call_unapplied(sm_client *c, bool holder, chan **k, const wire_request_out *req,
                          sm_value **result) {
  int64_t deadline = 0;
  for (;;) {
    int rc = holder ? holder_conn(c, k) : thread_conn(c, k);
    if (rc == SM_OK) rc = chan_call(*k, req, result);
    if (rc != SM_EREDIRECT || !chan_last_redirected(*k) || !client_redirect_again(c, &deadline))
      return rc;
  }
}

/* The call req went out on k (resumable) and the connection dropped: it
 * goes out again, with its seq, on k resumed, until it is answered or the
 * client's timeout passes. */
static int resend(sm_client *c, chan *k, const wire_request_out *req, sm_value **result) {
  wire_request_out again = *req;
  again.seq = chan_last_seq(k);
  int64_t deadline = 0;
  for (;;) {
    bool unapplied = chan_last_unapplied(k);
    int rc = client_resume(c, k, &deadline);
    /* A new session: a call that never left (or was redirected) may still
     * go, on it. */
    if (rc == SM_ECLOSED && unapplied && chan_usable(k)) return chan_call(k, req, result);
    if (rc != SM_OK) return rc;
    rc = chan_call_again(k, &again, result);
    if ((rc != SM_ECLOSED && rc != SM_EREDIRECT) || chan_usable(k))
      return rc; /* answered, or a daemon's status */
  }
}

/* client_invoke and client_invoke_timed: timeout_ms < 0 sends no deadline. */
static int invoke(sm_client *c, client_via via, const client_target *to, const char *method,
                  const sm_value *const *args, size_t nargs, int64_t timeout_ms, sm_value **result,
                  client_served *served) {
  /* Every argument is encoded into one buffer; spans are taken after the
   * last write, since the buffer may move while it grows. */
  vbuf buf;
  size_t ends[MAX_ARGS];
  sm_span spans[MAX_ARGS];
  if (nargs > MAX_ARGS) return err_set(SM_EINVAL, "%s: too many arguments", method);
  vb_init(&buf);
  unsigned depth = client_max_depth(c);
  for (size_t i = 0; i < nargs; i++) {
    int rc = val_encode(args[i], &buf, depth);
    if (rc != SM_OK) {
      vb_free(&buf);
      if (rc == SM_EVALUE)
        return err_set(rc,
                       "%s: argument %zu nests lists and maps deeper than the daemon allows "
                       "(%u levels, its --max-depth)",
                       method, i + 1, depth);
      return err_set(rc, "out of memory");
    }
    ends[i] = buf.len;
  }
  for (size_t i = 0; i < nargs; i++) {
    size_t start = i ? ends[i - 1] : 0;
    spans[i] = (sm_span){buf.p ? buf.p + start : NULL, ends[i] - start}; /* all nil: no buffer */
  }
  wire_request_out req = {.object = to ? to->id : 0,
                          .type = to ? to->type : 0,
                          .method = method,
                          .args = spans,
                          .nargs = nargs,
                          .has_timeout = timeout_ms >= 0,
                          .timeout_ms = timeout_ms >= 0 ? timeout_ms : 0};
  if (to && to->guard_object) { /* the proxy's guard wins over the thread's */
    req.guard_object = to->guard_object;
    req.guard_token = to->guard_token;
  } else if (to && via == CLIENT_THREAD) {
    const slot *s = pthread_getspecific(c->tkey);
    if (s) {
      req.guard_object = s->guard_object;
      req.guard_token = s->guard_token;
    }
  }
  /* A call that never left a connection which had dropped (the daemon
   * restarted while it was idle), or that a member of a group answered
   * with REDIRECT, cannot have been applied: a manager call goes out once
   * more on a new connection (to the leader); an object call is left to
   * proxy.c, which must first find a named object again (client_last_unsent).
   * A call that was sent is never repeated: it may have been applied. A
   * resumable connection sends it again on its session (resend). */
  chan *k = NULL;
  int rc;
  if (via == CLIENT_THREAD) {
    last_unsent = false;
    rc = thread_conn(c, &k);
    if (rc == SM_OK) rc = chan_call(k, &req, result);
    bool lost = rc == SM_ECLOSED || rc == SM_EREDIRECT;
    if (lost && chan_resumable(k) && !chan_usable(k)) {
      rc = resend(c, k, &req, result);
    } else if (lost && chan_last_unapplied(k)) {
      if (to)
        last_unsent = true;
      else
        rc = call_unapplied(c, false, &k, &req, result);
    }
    if (served && rc == SM_OK) *served = (client_served){0, chan_instance(k)};
  } else {
    pthread_mutex_lock(&c->hold_mu);
    rc = holder_conn(c, &k);
    if (rc == SM_OK) rc = chan_call(k, &req, result);
    bool lost = rc == SM_ECLOSED || rc == SM_EREDIRECT;
    if (lost && chan_resumable(k) && !chan_usable(k)) {
      uint64_t before = chan_session(k);
      rc = resend(c, k, &req, result);
      if (chan_session(k) != before) c->holder_epoch++; /* refused: the references went */
    } else if (lost && chan_last_unapplied(k)) {
      rc = call_unapplied(c, true, &k, &req, result);
    }
    if (served && rc == SM_OK) *served = (client_served){c->holder_epoch, chan_instance(k)};
    pthread_mutex_unlock(&c->hold_mu);
  }
  vb_free(&buf);
  return rc;
}

uint64_t client_last_token(sm_client *c) {
  const slot *s = pthread_getspecific(c->tkey);
  return s ? chan_last_token(s->k) : 0;
}

int sm_client_set_guard(sm_client *c, sm_proxy *guard, uint64_t token) {
  if (!c) return err_set(SM_EINVAL, "%s: NULL client", __func__);
  uint64_t id = 0;
  int rc = proxy_guard_id(guard, &id); /* opens the thread's connection: its slot exists */
  if (rc != SM_OK) return rc;
  slot *s = pthread_getspecific(c->tkey);
  if (!s) return err_set(SM_ECLOSED, "%s: the thread has no connection", __func__);
  s->guard_object = id;
  s->guard_token = token;
  return SM_OK;
}

uint64_t sm_client_last_token(sm_client *c) { return c ? client_last_token(c) : 0; }

void sm_client_clear_guard(sm_client *c) {
  slot *s = c ? pthread_getspecific(c->tkey) : NULL;
  if (s) s->guard_object = s->guard_token = 0;
}

int client_invoke(sm_client *c, client_via via, const client_target *to, const char *method,
                  const sm_value *const *args, size_t nargs, sm_value **result,
                  client_served *served) {
  return invoke(c, via, to, method, args, nargs, -1, result, served);
}

int client_invoke_timed(sm_client *c, const client_target *to, const char *method,
                        const sm_value *const *args, size_t nargs, int64_t timeout_ms,
                        sm_value **result) {
  return invoke(c, CLIENT_THREAD, to, method, args, nargs, timeout_ms, result, NULL);
}

void client_release(sm_client *c, uint64_t id, uint64_t epoch) {
  uint8_t raw[16];
  vbuf buf = {.p = raw, .cap = sizeof raw}; /* an int always fits: no allocation */
  vb_int(&buf, (int64_t)id);
  sm_span arg = vb_span(&buf);
  wire_request_out req = {.object = 0, .method = "release", .args = &arg, .nargs = 1};
  pthread_mutex_lock(&c->hold_mu);
  /* A holder of a durable daemon that dropped resumes its session first:
   * the reference is still that session's (a new session bumps the epoch). */
  chan *k = NULL;
  if (c->holder_epoch == epoch && (chan_usable(c->holder) || chan_resumable(c->holder)) &&
      holder_conn(c, &k) == SM_OK && c->holder_epoch == epoch) {
    int rc = chan_call(k, &req, NULL);
    if ((rc == SM_ECLOSED || rc == SM_EREDIRECT) && chan_resumable(k) && !chan_usable(k)) {
      uint64_t before = chan_session(k);
      resend(c, k, &req, NULL);
      if (chan_session(k) != before) c->holder_epoch++; /* refused: the references went */
    }
  }
  pthread_mutex_unlock(&c->hold_mu);
}

/* ---- the client ---- */

/* Frees a client that may be partly built (sm_connect's failure path). */
static void client_destroy(sm_client *c, bool registered, bool have_key) {
  if (registered) registry_remove(c);
  if (have_key) pthread_key_delete(c->tkey); /* no destructor runs after this */
  for (slot *s = c->slots, *next; s; s = next) {
    next = s->next;
    chan_free(s->k);
    free(s);
  }
  chan_free(c->holder);
  chan_tls_ctx_free(c->tls); /* after every connection that used it */
  group_free(c->members);
  pthread_mutex_destroy(&c->mu);
  pthread_mutex_destroy(&c->hold_mu);
  authkey_clear(&c->key);
  free(c->url);
  free(c->name);
  free(c->tls_server_name);
  free(c);
}

/* For a tls:// URL: the client's TLS context from the options, and the loud
 * warning when verification is off. */
static int setup_tls(sm_client *c, const sm_options *o) {
  if (!group_uses_tls(c->members)) return SM_OK;
  chan_tls_cfg t = {0};
  if (o) {
    t.ca_file = o->tls_ca;
    t.cert_file = o->tls_cert;
    t.key_file = o->tls_key;
    t.insecure_skip_verify = o->tls_insecure;
    if (o->tls_server_name && !(c->tls_server_name = strdup(o->tls_server_name)))
      return err_set(SM_ENOMEM, "out of memory");
  }
  int rc = chan_tls_ctx_new(&t, &c->tls);
  if (rc == SM_OK && t.insecure_skip_verify)
    fprintf(stderr,
            "statemgr: WARNING: TLS certificate verification is OFF for %s "
            "(sm_options_set_tls_insecure_skip_verify): anyone on the network path can "
            "impersonate the daemon and read the traffic\n",
            c->url);
  return rc;
}

/* Loads the key: options first, then authkey_load's order. */
static int load_key(sm_client *c, const sm_options *o) {
  if (o && o->has_key) {
    if (authkey_set(&c->key, o->key.bytes, o->key.len, "options") != 0)
      return err_set(SM_ENOMEM, "out of memory");
    return SM_OK;
  }
  char why[512];
  if (authkey_load(o ? o->key_file : NULL, false, &c->key, why, sizeof why) != 0)
    return err_set(SM_EINVAL, "%s", why);
  return SM_OK;
}

int sm_connect(const char *url, const sm_options *opts, sm_client **out) {
  if (!out) return err_set(SM_EINVAL, "%s: NULL out", __func__);
  if (!url) url = getenv("STATEMGR_URL");
  if (!url || !*url) url = SM_DEFAULT_URL;
  sm_client *c = calloc(1, sizeof *c);
  if (!c || !(c->url = strdup(url))) {
    free(c);
    return err_set(SM_ENOMEM, "out of memory");
  }
  pthread_mutex_init(&c->mu, NULL);
  pthread_mutex_init(&c->hold_mu, NULL);
  c->timeout_ms = opts ? opts->timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
  c->failover_ms = opts ? opts->failover_ms : DEFAULT_FAILOVER_TIMEOUT_MS;
  c->keepalive_s = opts ? opts->keepalive_s : DEFAULT_KEEPALIVE_S;
  int rc = group_new(url, &c->members);
  if (rc == SM_OK) rc = load_key(c, opts);
  if (rc == SM_OK) rc = setup_tls(c, opts);
  if (rc == SM_OK && opts && opts->name && !(c->name = strdup(opts->name)))
    rc = err_set(SM_ENOMEM, "out of memory");
  if (rc != SM_OK) {
    client_destroy(c, false, false);
    return rc;
  }
  if (pthread_key_create(&c->tkey, slot_destroy) != 0) {
    client_destroy(c, false, false);
    return err_set(SM_ENOMEM, "no thread-specific key left for another client");
  }
  pthread_once(&atfork_once, install_atfork);
  registry_add(c);
  chan *k;
  rc = thread_conn(c, &k); /* report a bad address or key now */
  if (rc != SM_OK) {
    client_destroy(c, true, true);
    return rc;
  }
  *out = c;
  return SM_OK;
}

void sm_client_free(sm_client *c) {
  if (c) client_destroy(c, true, true);
}

const char *sm_client_url(const sm_client *c) { return c ? c->url : NULL; }

/* ---- manager calls ---- */

int sm_ping(sm_client *c) {
  if (!c) return err_set(SM_EINVAL, "%s: NULL client", __func__);
  return client_invoke(c, CLIENT_THREAD, NULL, "ping", NULL, 0, NULL, NULL);
}

/* *out: a map with string keys (caller frees with sm_value_free()). */
int sm_info(sm_client *c, sm_value **out) {
  if (!c || !out) return err_set(SM_EINVAL, "%s: NULL argument", __func__);
  return client_invoke(c, CLIENT_THREAD, NULL, "info", NULL, 0, out, NULL);
}

/* *out: a map (caller frees with sm_value_free()). */
int sm_show(sm_client *c, const char *name, sm_value **out) {
  if (!c || !name || !out) return err_set(SM_EINVAL, "%s: NULL argument", __func__);
  sm_value arg = val_str_view(name);
  const sm_value *args[1] = {&arg};
  return client_invoke(c, CLIENT_THREAD, NULL, "show", args, 1, out, NULL);
}

/* *out: a list of maps (caller frees with sm_value_free()). */
int sm_ls(sm_client *c, const char *type, sm_value **out) {
  if (!c || !out) return err_set(SM_EINVAL, "%s: NULL argument", __func__);
  sm_value arg = type ? val_str_view(type) : (sm_value){.type = SM_NIL};
  const sm_value *args[1] = {&arg};
  return client_invoke(c, CLIENT_THREAD, NULL, "ls", args, 1, out, NULL);
}

int client_scan_args(uint64_t cursor, size_t count, const char *fn, sm_value *args) {
  if (cursor > INT64_MAX)
    return err_set(SM_EINVAL, "%s: %" PRIu64 " is no scan cursor", fn, cursor);
  if ((uint64_t)count > INT64_MAX) return err_set(SM_EINVAL, "%s: count too large", fn);
  args[0] = (sm_value){.type = SM_INT, .u.i = (int64_t)cursor};
  args[1] = count ? (sm_value){.type = SM_INT, .u.i = (int64_t)count} : (sm_value){.type = SM_NIL};
  return SM_OK;
}

int client_result_page(sm_value *reply, const char *fn, uint64_t *next, sm_value **page) {
  if (!reply || reply->type != SM_LIST || reply->u.list.n != 2 ||
      reply->u.list.items[0]->type != SM_INT || reply->u.list.items[0]->u.i < 0 ||
      reply->u.list.items[1]->type != SM_LIST) {
    sm_value_free(reply);
    return err_set(SM_EPROTO, "%s: the daemon's answer is not [cursor, page]", fn);
  }
  *next = (uint64_t)reply->u.list.items[0]->u.i;
  *page = reply->u.list.items[1];
  reply->u.list.n = 1; /* the page is the caller's now */
  sm_value_free(reply);
  return SM_OK;
}

/* *page: caller frees with sm_value_free(). */
int sm_ls_scan(sm_client *c, const char *type, uint64_t cursor, size_t count, uint64_t *next,
               sm_value **page) {
  if (!c || !next || !page) return err_set(SM_EINVAL, "%s: NULL argument", __func__);
  sm_value args[3];
  int rc = client_scan_args(cursor, count, __func__, args);
  if (rc != SM_OK) return rc;
  args[2] = type ? val_str_view(type) : (sm_value){.type = SM_NIL};
  const sm_value *argv[3] = {&args[0], &args[1], &args[2]};
  sm_value *reply = NULL;
  rc = client_invoke(c, CLIENT_THREAD, NULL, "ls_scan", argv, 3, &reply, NULL);
  return rc == SM_OK ? client_result_page(reply, __func__, next, page) : rc;
}

/* *out: a list of maps (caller frees with sm_value_free()). */
int sm_slowlog_get(sm_client *c, int64_t count, sm_value **out) {
  if (!c || !out) return err_set(SM_EINVAL, "%s: NULL argument", __func__);
  sm_value op = val_str_view("get"), n = {.type = SM_INT, .u.i = count};
  const sm_value *args[2] = {&op, &n};
  return client_invoke(c, CLIENT_THREAD, NULL, "slowlog", args, 2, out, NULL);
}

int sm_slowlog_len(sm_client *c, int64_t *out) {
  if (!c || !out) return err_set(SM_EINVAL, "%s: NULL argument", __func__);
  sm_value op = val_str_view("len"), *reply = NULL;
  const sm_value *args[1] = {&op};
  int rc = client_invoke(c, CLIENT_THREAD, NULL, "slowlog", args, 1, &reply, NULL);
  if (rc == SM_OK && (!reply || reply->type != SM_INT))
    rc = err_set(SM_EPROTO, "%s: the daemon's answer is not an int", __func__);
  if (rc == SM_OK) *out = reply->u.i;
  sm_value_free(reply);
  return rc;
}

int sm_slowlog_reset(sm_client *c) {
  if (!c) return err_set(SM_EINVAL, "%s: NULL client", __func__);
  sm_value op = val_str_view("reset");
  const sm_value *args[1] = {&op};
  return client_invoke(c, CLIENT_THREAD, NULL, "slowlog", args, 1, NULL, NULL);
}

/* *out: caller frees with sm_value_free(). */
int sm_config_get(sm_client *c, const char *key, sm_value **out) {
  if (!c || !key || !out) return err_set(SM_EINVAL, "%s: NULL argument", __func__);
  sm_value op = val_str_view("get"), k = val_str_view(key);
  const sm_value *args[2] = {&op, &k};
  return client_invoke(c, CLIENT_THREAD, NULL, "config", args, 2, out, NULL);
}

int sm_config_set(sm_client *c, const char *key, const sm_value *value) {
  if (!c || !key || !value) return err_set(SM_EINVAL, "%s: NULL argument", __func__);
  sm_value op = val_str_view("set"), k = val_str_view(key);
  const sm_value *args[3] = {&op, &k, value};
  return client_invoke(c, CLIENT_THREAD, NULL, "config", args, 3, NULL, NULL);
}

/* *out: a list of maps (caller frees with sm_value_free()). */
int sm_clients(sm_client *c, sm_value **out) {
  if (!c || !out) return err_set(SM_EINVAL, "%s: NULL argument", __func__);
  return client_invoke(c, CLIENT_THREAD, NULL, "clients", NULL, 0, out, NULL);
}

/* *out: a list of maps (caller frees with sm_value_free()). */
int sm_locks(sm_client *c, sm_value **out) {
  if (!c || !out) return err_set(SM_EINVAL, "%s: NULL argument", __func__);
  return client_invoke(c, CLIENT_THREAD, NULL, "locks", NULL, 0, out, NULL);
}

int sm_clients_kill(sm_client *c, uint64_t id) {
  if (!c) return err_set(SM_EINVAL, "%s: NULL client", __func__);
  if (id > INT64_MAX)
    return err_set(SM_EINVAL, "%s: %" PRIu64 " is no connection id", __func__, id);
  sm_value arg = {.type = SM_INT, .u.i = (int64_t)id};
  const sm_value *args[1] = {&arg};
  return client_invoke(c, CLIENT_THREAD, NULL, "kill", args, 1, NULL, NULL);
}

/* *calls: a list of maps (caller frees with sm_value_free()). */
int sm_monitor(sm_client *c, uint64_t cursor, int64_t wait_ms, uint64_t *next, uint64_t *missed,
               sm_value **calls) {
  if (!c || !next || !missed || !calls) return err_set(SM_EINVAL, "%s: NULL argument", __func__);
  if (cursor > INT64_MAX)
    return err_set(SM_EINVAL, "%s: %" PRIu64 " is no cursor", __func__, cursor);
  sm_value args[2] = {{.type = SM_INT, .u.i = (int64_t)cursor}, {.type = SM_INT, .u.i = wait_ms}};
  const sm_value *argv[2] = {&args[0], &args[1]};
  sm_value *reply = NULL;
  int rc = client_invoke(c, CLIENT_THREAD, NULL, "monitor", argv, 2, &reply, NULL);
  if (rc != SM_OK) return rc;
  if (!reply || reply->type != SM_LIST || reply->u.list.n != 3 ||
      reply->u.list.items[0]->type != SM_INT || reply->u.list.items[0]->u.i < 0 ||
      reply->u.list.items[1]->type != SM_INT || reply->u.list.items[1]->u.i < 0 ||
      reply->u.list.items[2]->type != SM_LIST) {
    sm_value_free(reply);
    return err_set(SM_EPROTO, "%s: the daemon's answer is not [cursor, missed, calls]", __func__);
  }
  *next = (uint64_t)reply->u.list.items[0]->u.i;
  *missed = (uint64_t)reply->u.list.items[1]->u.i;
  *calls = reply->u.list.items[2];
  reply->u.list.n = 2; /* the calls are the caller's now */
  sm_value_free(reply);
  return SM_OK;
}

int sm_delete(sm_client *c, const char *name) {
  if (!c || !name) return err_set(SM_EINVAL, "%s: NULL argument", __func__);
  sm_value arg = val_str_view(name);
  const sm_value *args[1] = {&arg};
  return client_invoke(c, CLIENT_THREAD, NULL, "delete", args, 1, NULL, NULL);
}

/* *index: the log index the snapshot holds. */
int sm_save(sm_client *c, uint64_t *index) {
  if (!c) return err_set(SM_EINVAL, "%s: NULL client", __func__);
  sm_value *reply = NULL;
  int rc = client_invoke(c, CLIENT_THREAD, NULL, "save", NULL, 0, &reply, NULL);
  if (rc == SM_OK && (!reply || reply->type != SM_INT || reply->u.i < 0))
    rc = err_set(SM_EPROTO, "%s: the daemon's answer is not a log index", __func__);
  if (rc == SM_OK && index) *index = (uint64_t)reply->u.i;
  sm_value_free(reply);
  return rc;
}

int sm_shutdown(sm_client *c) {
  if (!c) return err_set(SM_EINVAL, "%s: NULL client", __func__);
  return client_invoke(c, CLIENT_THREAD, NULL, "shutdown", NULL, 0, NULL, NULL);
}
