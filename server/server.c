/* SPDX-License-Identifier: MIT */
/* server.c - the embeddable server: options, the event loop, signals, the
 * stop sequence, reloading, and the ready file (see statemgr_server.h).
 * The TLS context (tls.c) is built here, with the server, from the TLS
 * options.
 *
 * Stopping: stop accepting (listeners closed, UNIX sockets removed), stop
 * reading every connection, let what is queued flush, then leave the loop;
 * a deadline bounds the wait for clients that do not read.
 *
 * Reloading (SIGHUP, or sm_server_reload from any thread through an
 * eventfd): the log file is reopened and a new TLS context is built from
 * the same files and swapped in for connections accepted from then on.
 * Each SSL holds a reference to the context it was made from, so open
 * connections keep theirs until they close. A reload that fails keeps
 * what was, and says why. */
#include "statemgr_server.h"

#include "../proto/auth.h"
#include "../proto/frame.h"
#include "blocked.h"
#include "conn.h"
#include "listener.h"
#include "log.h"
#include "memory.h"
#include "metrics.h"
#include "peers.h"
#include "cluster.h"
#include "persist.h"
#include "server.h"
#include "stats.h"
#include "t_custom.h"
#include "tls.h"

#include <event2/event.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define STOP_FLUSH_DEADLINE_MS 2000
#define STOP_POLL_MS 10
#define SWEEP_MS 1000 /* how often peers.c writes its summaries and forgets */

struct sm_server_options {
  char *authkey_file;
  uint8_t *key;
  size_t key_len;
  server_limits limits;
  log_level level;
  char *log_file; /* owned; NULL: stderr */
  char *ready_file;
  char *tls_cert, *tls_key, *tls_ca; /* owned; NULL when not set */
  bool tls_require_client_cert;
  int keepalive_s;
  char *metrics; /* owned; where to serve /metrics, or NULL */
  bool syslog;   /* log to syslog(3) instead of stderr */
  int64_t slowlog_threshold_us;
  size_t slowlog_max_len;
  char *data_dir; /* owned; NULL: in memory */
  persist_cfg persist;
  char *cluster, *etcd, *advertise;         /* owned; NULL: not a group's member */
  int cluster_ttl_s;                        /* 0: CLUSTER_TTL_DEFAULT_S */
  size_t etcd_max_request;                  /* 0: CLUSTER_ETCD_REQUEST_DEFAULT */
  char *etcd_cacert, *etcd_cert, *etcd_key; /* owned; NULL when not set */
};

sm_server_options *sm_server_options_new(void) {
  sm_server_options *o = calloc(1, sizeof *o);
  if (!o) return NULL;
  o->limits = (server_limits)LIMITS_DEFAULT;
  o->level = LOG_INFO;
  o->keepalive_s = KEEPALIVE_DEFAULT_S;
  o->slowlog_threshold_us = SLOWLOG_THRESHOLD_DEFAULT;
  o->slowlog_max_len = SLOWLOG_MAX_LEN_DEFAULT;
  o->persist = (persist_cfg)PERSIST_CFG_DEFAULT;
  return o;
}

void sm_server_options_free(sm_server_options *o) {
  if (!o) return;
  free(o->authkey_file);
  free(o->log_file);
  if (o->key) auth_wipe(o->key, o->key_len);
  free(o->key);
  free(o->ready_file);
  free(o->metrics);
  free(o->data_dir);
  free(o->cluster);
  free(o->etcd);
  free(o->advertise);
  free(o->etcd_cacert);
  free(o->etcd_cert);
  free(o->etcd_key);
  free(o->tls_cert);
  free(o->tls_key);
  free(o->tls_ca);
  free(o);
}

static int set_str(char **dst, const char *src) {
  char *copy = src ? strdup(src) : NULL;
  if (src && !copy) return SM_ENOMEM;
  free(*dst);
  *dst = copy;
  return 0;
}

int sm_server_options_set_authkey_file(sm_server_options *o, const char *path) {
  return o ? set_str(&o->authkey_file, path) : SM_EINVAL;
}

int sm_server_options_set_authkey(sm_server_options *o, const void *key, size_t len) {
  char err[256];
  if (!o || !key) return SM_EINVAL;
  if (authkey_check_len(len, "sm_server_options_set_authkey()", err, sizeof err) != 0) {
    log_error("%s", err);
    return SM_EINVAL;
  }
  uint8_t *copy = malloc(len);
  if (!copy) return SM_ENOMEM;
  memcpy(copy, key, len);
  if (o->key) auth_wipe(o->key, o->key_len);
  free(o->key);
  o->key = copy;
  o->key_len = len;
  return 0;
}

int sm_server_options_set_max_frame(sm_server_options *o, size_t bytes) {
  if (!o || bytes < 1024 || bytes > UINT32_MAX) return SM_EINVAL;
  o->limits.max_frame = bytes;
  return 0;
}

int sm_server_options_set_max_connections(sm_server_options *o, size_t n) {
  if (!o || n == 0) return SM_EINVAL;
  o->limits.max_conns = n;
  return 0;
}

int sm_server_options_set_max_unauth_connections(sm_server_options *o, size_t n) {
  if (!o || n == 0) return SM_EINVAL;
  o->limits.max_unauth = n;
  return 0;
}

int sm_server_options_set_max_unauth_per_addr(sm_server_options *o, size_t n) {
  if (!o || n == 0) return SM_EINVAL;
  o->limits.max_unauth_per_addr = n;
  return 0;
}

int sm_server_options_set_max_pending(sm_server_options *o, size_t n) {
  if (!o || n == 0) return SM_EINVAL;
  o->limits.max_pending = n;
  return 0;
}

int sm_server_options_set_max_memory(sm_server_options *o, size_t bytes) {
  if (!o) return SM_EINVAL;
  o->limits.max_memory = bytes;
  return 0;
}

int sm_server_options_set_max_depth(sm_server_options *o, unsigned depth) {
  if (!o || depth == 0 || depth > VW_DEPTH_MAX) return SM_EINVAL;
  o->limits.max_depth = depth;
  return 0;
}

int sm_server_options_set_handshake_timeout(sm_server_options *o, unsigned ms) {
  if (!o || ms == 0) return SM_EINVAL;
  o->limits.handshake_ms = ms;
  return 0;
}

int sm_server_options_set_log_level(sm_server_options *o, sm_log_level level) {
  if (!o || level < SM_LOG_ERROR || level > SM_LOG_DEBUG) return SM_EINVAL;
  o->level = (log_level)level;
  return 0;
}

int sm_server_options_set_log_file(sm_server_options *o, const char *path) {
  return o && (!path || *path) ? set_str(&o->log_file, path) : SM_EINVAL;
}

int sm_server_options_set_metrics(sm_server_options *o, const char *url) {
  return o ? set_str(&o->metrics, url) : SM_EINVAL;
}

int sm_server_options_set_syslog(sm_server_options *o, bool on) {
  if (!o) return SM_EINVAL;
  o->syslog = on;
  return 0;
}

int sm_server_options_set_slowlog(sm_server_options *o, int64_t threshold_us, size_t max_len) {
  if (!o || max_len > SLOWLOG_MAX_LEN_LIMIT) return SM_EINVAL;
  o->slowlog_threshold_us = threshold_us < 0 ? -1 : threshold_us;
  o->slowlog_max_len = max_len;
  return 0;
}

int sm_server_options_set_ready_file(sm_server_options *o, const char *path) {
  return o ? set_str(&o->ready_file, path) : SM_EINVAL;
}

int sm_server_options_set_tls(sm_server_options *o, const char *cert, const char *key,
                              const char *ca, bool require_client_cert) {
  if (!o || !cert || !*cert || !key || !*key || (ca && !*ca) || (require_client_cert && !ca))
    return SM_EINVAL;
  if (set_str(&o->tls_cert, cert) != 0 || set_str(&o->tls_key, key) != 0 ||
      set_str(&o->tls_ca, ca) != 0)
    return SM_ENOMEM;
  o->tls_require_client_cert = require_client_cert;
  return 0;
}

int sm_server_options_set_keepalive(sm_server_options *o, int seconds) {
  if (!o || seconds < 0 || seconds > 7200) return SM_EINVAL;
  o->keepalive_s = seconds;
  return 0;
}

int sm_server_options_set_data_dir(sm_server_options *o, const char *path) {
  return o && (!path || *path) ? set_str(&o->data_dir, path) : SM_EINVAL;
}

int sm_server_options_set_deadlock(sm_server_options *o, sm_deadlock_mode mode) {
  if (!o || mode < SM_DEADLOCK_FAIL || mode > SM_DEADLOCK_REPORT) return SM_EINVAL;
  o->limits.deadlock_report = mode == SM_DEADLOCK_REPORT;
  return 0;
}

int sm_server_options_set_fsync(sm_server_options *o, sm_fsync_mode mode) {
  if (!o || mode < SM_FSYNC_ALWAYS || mode > SM_FSYNC_NO) return SM_EINVAL;
  o->persist.fsync = (wal_fsync_mode)mode; /* the same order (persist.h) */
  return 0;
}

int sm_server_options_set_session_resume_timeout(sm_server_options *o, int64_t ms) {
  if (!o || ms < 0) return SM_EINVAL;
  o->persist.resume_timeout_ms = ms;
  return 0;
}

int sm_server_options_set_snapshot_log_size(sm_server_options *o, size_t bytes) {
  if (!o || bytes == 0) return SM_EINVAL;
  o->persist.snapshot_log_bytes = bytes;
  return 0;
}

int sm_server_options_set_cluster(sm_server_options *o, const char *name, const char *etcd_urls,
                                  const char *advertise) {
  if (!o || !name || !*name || !etcd_urls || !*etcd_urls || !advertise || !*advertise)
    return SM_EINVAL;
  if (set_str(&o->cluster, name) != 0 || set_str(&o->etcd, etcd_urls) != 0 ||
      set_str(&o->advertise, advertise) != 0)
    return SM_ENOMEM;
  return 0;
}

int sm_server_options_set_cluster_lease_ttl(sm_server_options *o, int seconds) {
  if (!o || seconds < 1 || seconds > 600) return SM_EINVAL;
  o->cluster_ttl_s = seconds;
  return 0;
}

int sm_server_options_set_etcd_max_request_bytes(sm_server_options *o, size_t bytes) {
  if (!o || bytes < CLUSTER_ETCD_REQUEST_MIN || bytes > CLUSTER_ETCD_REQUEST_MAX) return SM_EINVAL;
  o->etcd_max_request = bytes;
  return 0;
}

int sm_server_options_set_etcd_tls(sm_server_options *o, const char *cacert, const char *cert,
                                   const char *key) {
  if (!o || !cert != !key) return SM_EINVAL;
  if (set_str(&o->etcd_cacert, cacert) != 0 || set_str(&o->etcd_cert, cert) != 0 ||
      set_str(&o->etcd_key, key) != 0)
    return SM_ENOMEM;
  return 0;
}

bool sm_server_needs_restart(const sm_server *s) { return s && s->needs_restart; }

void server_request_restart(sm_server *s) {
  s->needs_restart = true;
  event_base_loopbreak(s->base); /* answers not yet taken by the group never leave */
}

/* What sets this run of the daemon apart from every other: a random
 * instance id, and object ids that start above those of earlier runs (from
 * the wall clock, see registry.h). */
static void begin_run(sm_server *s) {
  if (auth_random((uint8_t *)&s->instance, sizeof s->instance) != 0 || s->instance == 0)
    s->instance = (uint64_t)getpid() << 32 | (uint64_t)time(NULL) | 1; /* no randomness */
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  uint64_t first = reg_first_id_at((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
  reg_begin_ids(s->reg, first);
  s->next_session = first; /* a counter of its own: sessions never take object ids */
  log_info("instance %016llx, object ids from %llu", (unsigned long long)s->instance,
           (unsigned long long)first);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg);
static void flush_cb(evutil_socket_t fd, short what, void *arg);
static void drain_cb(evutil_socket_t fd, short what, void *arg);
static void signal_cb(evutil_socket_t sig, short what, void *arg);
static void reload_cb(evutil_socket_t fd, short what, void *arg);
static void sweep_cb(evutil_socket_t fd, short what, void *arg);

int sm_server_new(const sm_server_options *opts, sm_server **out) {
  static sm_server_options defaults = {.limits = LIMITS_DEFAULT,
                                       .level = LOG_INFO,
                                       .keepalive_s = KEEPALIVE_DEFAULT_S,
                                       .slowlog_threshold_us = SLOWLOG_THRESHOLD_DEFAULT,
                                       .slowlog_max_len = SLOWLOG_MAX_LEN_DEFAULT,
                                       .persist = PERSIST_CFG_DEFAULT};
  if (!opts) opts = &defaults;
  if (!out) return SM_EINVAL;
  log_set_level(opts->level);
  char err[512];
  if (opts->syslog && opts->log_file) {
    log_error("a log file and syslog exclude each other");
    return SM_EINVAL;
  }
  if (opts->syslog) log_open_syslog();
  if (opts->log_file && log_open(opts->log_file, err, sizeof err) != 0) {
    log_error("%s", err);
    return SM_EINVAL;
  }
  sm_server *s = calloc(1, sizeof *s);
  if (!s) {
    log_open(NULL, err, sizeof err);
    return SM_ENOMEM;
  }
  s->stop_fd = s->reload_fd = -1;
  s->limits = opts->limits;
  s->keepalive_s = opts->keepalive_s;
  s->started = time(NULL);
  vb_init(&s->result);
  int rc;
  if (opts->key) {
    rc = authkey_set(&s->key, opts->key, opts->key_len, "embedding program") == 0 ? 0 : SM_ENOMEM;
  } else {
    rc = authkey_load(opts->authkey_file, true, &s->key, err, sizeof err) == 0 ? 0 : SM_EINVAL;
    if (rc != 0) log_error("%s", err);
  }
  if (rc == 0 && opts->ready_file && !(s->ready_file = strdup(opts->ready_file))) rc = SM_ENOMEM;
  if (rc == 0 && opts->metrics && !(s->metrics_addr = strdup(opts->metrics))) rc = SM_ENOMEM;
  if (rc == 0 && !(s->stats = stats_new())) rc = SM_ENOMEM;
  if (rc == 0) {
    slowlog_set_threshold(stats_slowlog(s->stats), opts->slowlog_threshold_us);
    if (slowlog_set_max_len(stats_slowlog(s->stats), opts->slowlog_max_len) != 0) rc = SM_ENOMEM;
  }
  if (rc == 0 && opts->tls_cert &&
      (set_str(&s->tls_cert, opts->tls_cert) != 0 || set_str(&s->tls_key, opts->tls_key) != 0 ||
       set_str(&s->tls_ca, opts->tls_ca) != 0))
    rc = SM_ENOMEM;
  s->tls_require_client_cert = opts->tls_require_client_cert;
  if (rc == 0 && opts->tls_cert &&
      !(s->tls_ctx = tls_ctx_new(s->tls_cert, s->tls_key, s->tls_ca, s->tls_require_client_cert,
                                 err, sizeof err))) {
    log_error("%s", err);
    rc = SM_EINVAL;
  }
  struct timeval sweep = {SWEEP_MS / 1000, (SWEEP_MS % 1000) * 1000};
  if (rc == 0 &&
      (!(s->base = event_base_new()) || !(s->reg = reg_new()) ||
       !(s->flush_ev = event_new(s->base, -1, 0, flush_cb, s)) ||
       (s->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
       !(s->stop_ev = event_new(s->base, s->stop_fd, EV_READ | EV_PERSIST, stop_cb, s)) ||
       event_add(s->stop_ev, NULL) != 0 ||
       !(s->drain_ev = event_new(s->base, -1, EV_PERSIST, drain_cb, s)) ||
       (s->reload_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
       !(s->reload_ev = event_new(s->base, s->reload_fd, EV_READ | EV_PERSIST, reload_cb, s)) ||
       event_add(s->reload_ev, NULL) != 0 || !(s->peers = peers_new()) ||
       !(s->sweep_ev = event_new(s->base, -1, EV_PERSIST, sweep_cb, s)) ||
       event_add(s->sweep_ev, &sweep) != 0 || blk_attach(s->reg, s->base) != 0))
    rc = SM_ENOMEM;
  if (rc != 0) {
    sm_server_free(s);
    return rc;
  }
  reg_set_base(s->reg, s->base);
  blk_set_deadlock_report(s->reg, s->limits.deadlock_report);
  reg_mem(s->reg)->max = s->limits.max_memory;
  if (opts->data_dir && opts->cluster) {
    log_error("a member of a replicated group (--cluster) keeps its state in etcd: it takes no "
              "data directory (--data-dir); use one or the other");
    sm_server_free(s);
    return SM_EINVAL;
  }
  if (opts->data_dir || opts->cluster) { /* the instance and the ids come with the state, at run */
    persist_cfg pc = opts->persist;
    cluster_cfg cc = {.name = opts->cluster,
                      .etcd = opts->etcd,
                      .advertise = opts->advertise,
                      .lease_ttl_s = opts->cluster_ttl_s,
                      .etcd_max_request = opts->etcd_max_request,
                      .snapshot_log_bytes = opts->persist.snapshot_log_bytes,
                      .etcd_cacert = opts->etcd_cacert,
                      .etcd_cert = opts->etcd_cert,
                      .etcd_key = opts->etcd_key};
    pc.dir = opts->data_dir;
    if (opts->cluster) pc.cluster = &cc;
    if (persist_new(s, &pc, &s->persist, err, sizeof err) != 0) {
      log_error("%s", err);
      sm_server_free(s);
      return SM_EINVAL;
    }
  } else {
    begin_run(s);
  }
  if (opts->key == NULL) log_info("authkey from %s", s->key.source);
  *out = s;
  return 0;
}

int sm_server_listen(sm_server *s, const char *url) {
  if (!s || !url) return SM_EINVAL;
  char err[512];
  int rc = listener_add(s, url, err, sizeof err);
  if (rc != 0) log_error("%s", err);
  return rc;
}

/* Writes the bound URLs to the ready file through a rename, so a reader
 * never sees half of it. */
static int write_ready_file(const sm_server *s) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp.%d", s->ready_file, (int)getpid());
  FILE *f = fopen(tmp, "w");
  if (!f) return -1;
  for (const listener *l = s->listeners; l; l = listener_next(l))
    fprintf(f, "%s\n", listener_url(l));
  if (s->metrics) fprintf(f, "%s\n", metrics_url(s->metrics));
  if (fclose(f) != 0 || rename(tmp, s->ready_file) != 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

int sm_server_run(sm_server *s, bool install_signals) {
  if (!s || !s->listeners) {
    log_error("nothing to listen on");
    return SM_EINVAL;
  }
  s->running = true;
  if (s->persist) {
    char err[1024];
    if (persist_start(s->persist, err, sizeof err) != 0) {
      log_error("cannot load the state of the data directory: %s", err);
      return SM_EINVAL;
    }
  }
  if (install_signals) {
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN); /* a file size limit is a full disk (EFBIG), not death */
    s->sig_int = evsignal_new(s->base, SIGINT, signal_cb, s);
    s->sig_term = evsignal_new(s->base, SIGTERM, signal_cb, s);
    s->sig_hup = evsignal_new(s->base, SIGHUP, signal_cb, s);
    if (!s->sig_int || !s->sig_term || !s->sig_hup) return SM_ENOMEM;
    evsignal_add(s->sig_int, NULL);
    evsignal_add(s->sig_term, NULL);
    evsignal_add(s->sig_hup, NULL);
  }
  if (s->metrics_addr) {
    char err[256];
    if (!(s->metrics = metrics_listen(s, s->metrics_addr, err, sizeof err))) {
      log_error("%s", err);
      return SM_ECONNECT;
    }
  }
  if (s->ready_file && write_ready_file(s) != 0) {
    log_error("cannot write the ready file %s", s->ready_file);
    return SM_EINVAL;
  }
  log_info("statemgrd %d.%d.%d ready (pid %d)", SM_VERSION_MAJOR, SM_VERSION_MINOR,
           SM_VERSION_PATCH, (int)getpid());
  event_base_dispatch(s->base);
  if (s->persist && persist_failed(s->persist)) {
    log_error("stopped: the log failed");
    return SM_EINTERNAL;
  }
  persist_stop(s->persist);
  log_info("stopped");
  return 0;
}

static void *run_thread_main(void *arg) {
  sm_server *s = arg;
  s->thread_rc = sm_server_run(s, false);
  return NULL;
}

int sm_server_run_thread(sm_server *s) {
  if (!s || s->running || s->has_thread) return SM_EINVAL;
  if (!s->listeners) {
    log_error("nothing to listen on");
    return SM_EINVAL;
  }
  s->running = true; /* the loop belongs to the new thread from here on */
  if (pthread_create(&s->thread, NULL, run_thread_main, s) != 0) {
    s->running = false;
    return SM_ENOMEM;
  }
  s->has_thread = true;
  return 0;
}

int sm_server_join(sm_server *s) {
  if (!s || !s->has_thread) return SM_EINVAL;
  pthread_join(s->thread, NULL);
  s->has_thread = false;
  return s->thread_rc;
}

/* The obj_type is the server's (freed in sm_server_free); t stays the
 * caller's. */
int sm_server_register_type(sm_server *s, const sm_type_def *t) {
  if (!s || s->running || custom_type_check(t) != 0) return SM_EINVAL;
  if (reg_type(s->reg, t->name)) {
    log_error("a type called '%s' exists already", t->name);
    return SM_EINVAL;
  }
  const obj_type *same = reg_type_by_code(s->reg, wire_type_code(t->name));
  if (same) { /* requests name types by code: two types may not share one */
    log_error("the type '%s' has the type code of '%s' (a hash collision): rename it", t->name,
              same->name);
    return SM_EINVAL;
  }
  obj_type **grown = realloc(s->custom, (s->n_custom + 1) * sizeof *grown);
  if (!grown) return SM_ENOMEM;
  s->custom = grown;
  obj_type *ot = custom_type_new(t);
  if (!ot) return SM_ENOMEM;
  if (reg_add_type(s->reg, ot) != 0) {
    custom_type_free(ot);
    return SM_ENOMEM;
  }
  s->custom[s->n_custom++] = ot;
  return 0;
}

void sm_server_stop(sm_server *s) {
  /* A write to the eventfd the loop watches: safe from any thread (and from
   * a signal handler), and the loop itself takes no locks for it. */
  uint64_t one = 1;
  if (s && s->stop_fd >= 0 && write(s->stop_fd, &one, sizeof one) < 0)
    log_warn("cannot signal the stop: %s", strerror(errno)); /* counter full: one is pending */
}

void sm_server_reload(sm_server *s) {
  uint64_t one = 1; /* as sm_server_stop: any thread, or a signal handler */
  if (s && s->reload_fd >= 0 && write(s->reload_fd, &one, sizeof one) < 0)
    log_warn("cannot signal the reload: %s", strerror(errno)); /* counter full: one is pending */
}

void server_reload(sm_server *s) {
  char err[600];
  if (log_path()) {
    if (log_reopen(err, sizeof err) == 0)
      log_info("reload: reopened the log file %s", log_path());
    else
      log_error("reload: %s; still logging to the file open before", err);
  }
  if (!s->tls_cert) {
    log_info("reload: done (no TLS certificate to reload)");
    return;
  }
  struct ssl_ctx_st *ctx =
      tls_ctx_new(s->tls_cert, s->tls_key, s->tls_ca, s->tls_require_client_cert, err, sizeof err);
  if (!ctx) {
    log_error("reload: %s; new TLS connections keep the certificate loaded before", err);
    return;
  }
  tls_ctx_free(s->tls_ctx); /* connections made from it hold their own references */
  s->tls_ctx = ctx;
  char what[512];
  tls_ctx_describe(ctx, what, sizeof what);
  log_info("reload: new TLS connections get the certificate %s: %s", s->tls_cert, what);
}

void server_begin_stop(sm_server *s) {
  if (s->stopping) return;
  s->stopping = true;
  peers_sweep(s->peers, peers_now_ms(), true); /* the summaries still open */
  blk_stop_parking(s->reg);
  log_info("stopping: %zu connections to flush", s->n_conns);
  listener_free_all(s);
  metrics_free(s->metrics); /* stop serving it too */
  s->metrics = NULL;
  for (conn *c = s->conns; c; c = conn_next(c)) {
    conn_stop_reading(c);
    blk_conn_cancel(conn_waiters(c), WS_SHUTTING_DOWN, "the daemon is shutting down");
  }
  clock_gettime(CLOCK_MONOTONIC, &s->stop_deadline);
  s->stop_deadline.tv_sec += STOP_FLUSH_DEADLINE_MS / 1000;
  struct timeval poll = {0, STOP_POLL_MS * 1000};
  event_add(s->drain_ev, &poll);
}

/* Runs after the callbacks of a loop iteration that produced answers. */
static void flush_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  conn_flush_pending(arg);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg) {
  (void)what;
  uint64_t n;
  if (read(fd, &n, sizeof n) < 0) return; /* drained; EAGAIN: nothing pending */
  server_begin_stop(arg);
}

static void signal_cb(evutil_socket_t sig, short what, void *arg) {
  (void)what;
  log_info("signal %d (%s)", (int)sig, strsignal((int)sig));
  if (sig == SIGHUP)
    server_reload(arg);
  else
    server_begin_stop(arg);
}

static void reload_cb(evutil_socket_t fd, short what, void *arg) {
  (void)what;
  uint64_t n;
  if (read(fd, &n, sizeof n) < 0) return; /* drained; EAGAIN: nothing pending */
  server_reload(arg);
}

/* Once a second: per-source summaries and forgetting (peers.c). */
static void sweep_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  sm_server *s = arg;
  peers_sweep(s->peers, peers_now_ms(), false);
}

/* While stopping: leave the loop once every answer is flushed or the
 * deadline passes. */
static void drain_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  sm_server *s = arg;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  bool late = now.tv_sec > s->stop_deadline.tv_sec ||
              (now.tv_sec == s->stop_deadline.tv_sec && now.tv_nsec >= s->stop_deadline.tv_nsec);
  bool flushed = true;
  for (conn *c = s->conns; c && flushed; c = conn_next(c))
    flushed = conn_output_empty(c);
  if (flushed || late) event_base_loopbreak(s->base);
}

void sm_server_free(sm_server *s) {
  if (!s) return;
  if (s->has_thread) {
    sm_server_stop(s);
    sm_server_join(s);
  }
  while (s->conns)
    conn_free(s->conns);
  listener_free_all(s);
  persist_free(s->persist); /* before the registry its sink writes about */
  /* libevent finishes freeing a bufferevent inside the loop (deferred
   * finalizers): give it one more turn that does not wait. */
  if (s->base) event_base_loop(s->base, EVLOOP_NONBLOCK);
  reg_free(s->reg);
  for (size_t i = 0; i < s->n_custom; i++) /* after the objects that use them */
    custom_type_free(s->custom[i]);
  free(s->custom);
  metrics_free(s->metrics);
  stats_free(s->stats);
  free(s->metrics_addr);
  if (s->sig_int) event_free(s->sig_int);
  if (s->sig_term) event_free(s->sig_term);
  if (s->sig_hup) event_free(s->sig_hup);
  if (s->reload_ev) event_free(s->reload_ev);
  if (s->reload_fd >= 0) close(s->reload_fd);
  if (s->sweep_ev) event_free(s->sweep_ev);
  if (s->peers) peers_sweep(s->peers, peers_now_ms(), true);
  peers_free(s->peers);
  if (s->stop_ev) event_free(s->stop_ev);
  if (s->flush_ev) event_free(s->flush_ev);
  if (s->stop_fd >= 0) close(s->stop_fd);
  if (s->drain_ev) event_free(s->drain_ev);
  if (s->base) event_base_free(s->base);
  authkey_clear(&s->key);
  vb_free(&s->result);
  tls_ctx_free(s->tls_ctx);
  free(s->tls_cert);
  free(s->tls_key);
  free(s->tls_ca);
  free(s->ready_file);
  free(s);
  char err[64];
  log_open(NULL, err, sizeof err); /* back to stderr; the file is closed */
}
