/* server.c - the embeddable server: options, the event loop, signals, the
 * stop sequence and the ready file (see statemgr_server.h). The TLS context
 * (tls.c) is built here once, with the server, from the TLS options.
 *
 * Stopping: stop accepting (listeners closed, UNIX sockets removed), stop
 * reading every connection, let what is queued flush, then leave the loop;
 * a deadline bounds the wait for clients that do not read. */
#include "statemgr_server.h"

#include "../proto/auth.h"
#include "../proto/frame.h"
#include "blocked.h"
#include "conn.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
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

struct sm_server_options {
  char *authkey_file;
  uint8_t *key;
  size_t key_len;
  server_limits limits;
  log_level level;
  char *ready_file;
  char *tls_cert, *tls_key, *tls_ca; /* owned; NULL when not set */
  bool tls_require_client_cert;
  int keepalive_s;
  char *metrics; /* owned; where to serve /metrics, or NULL */
};

sm_server_options *sm_server_options_new(void) {
  sm_server_options *o = calloc(1, sizeof *o);
  if (!o) return NULL;
  o->limits = (server_limits)LIMITS_DEFAULT;
  o->level = LOG_INFO;
  o->keepalive_s = KEEPALIVE_DEFAULT_S;
  return o;
}

void sm_server_options_free(sm_server_options *o) {
  if (!o) return;
  free(o->authkey_file);
  if (o->key) auth_wipe(o->key, o->key_len);
  free(o->key);
  free(o->ready_file);
  free(o->metrics);
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
  if (!o || !key || len == 0 || len > AUTHKEY_MAX_LEN) return SM_EINVAL;
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

int sm_server_options_set_max_pending(sm_server_options *o, size_t n) {
  if (!o || n == 0) return SM_EINVAL;
  o->limits.max_pending = n;
  return 0;
}

int sm_server_options_set_max_depth(sm_server_options *o, unsigned depth) {
  if (!o || depth == 0 || depth > 1000) return SM_EINVAL;
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

int sm_server_options_set_metrics(sm_server_options *o, const char *url) {
  return o ? set_str(&o->metrics, url) : SM_EINVAL;
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

static void stop_cb(evutil_socket_t fd, short what, void *arg);
static void flush_cb(evutil_socket_t fd, short what, void *arg);
static void drain_cb(evutil_socket_t fd, short what, void *arg);
static void signal_cb(evutil_socket_t sig, short what, void *arg);

int sm_server_new(const sm_server_options *opts, sm_server **out) {
  static sm_server_options defaults = {
      .limits = LIMITS_DEFAULT, .level = LOG_INFO, .keepalive_s = KEEPALIVE_DEFAULT_S};
  if (!opts) opts = &defaults;
  if (!out) return SM_EINVAL;
  log_set_level(opts->level);
  sm_server *s = calloc(1, sizeof *s);
  if (!s) return SM_ENOMEM;
  s->stop_fd = -1;
  s->limits = opts->limits;
  s->keepalive_s = opts->keepalive_s;
  s->started = time(NULL);
  vb_init(&s->result);
  char err[512];
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
  if (rc == 0 && opts->tls_cert &&
      !(s->tls_ctx = tls_ctx_new(opts->tls_cert, opts->tls_key, opts->tls_ca,
                                 opts->tls_require_client_cert, err, sizeof err))) {
    log_error("%s", err);
    rc = SM_EINVAL;
  }
  if (rc == 0 &&
      (!(s->base = event_base_new()) || !(s->reg = reg_new()) ||
       !(s->flush_ev = event_new(s->base, -1, 0, flush_cb, s)) ||
       (s->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
       !(s->stop_ev = event_new(s->base, s->stop_fd, EV_READ | EV_PERSIST, stop_cb, s)) ||
       event_add(s->stop_ev, NULL) != 0 ||
       !(s->drain_ev = event_new(s->base, -1, EV_PERSIST, drain_cb, s)) ||
       blk_attach(s->reg, s->base) != 0))
    rc = SM_ENOMEM;
  if (rc != 0) {
    sm_server_free(s);
    return rc;
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
  if (install_signals) {
    signal(SIGPIPE, SIG_IGN);
    s->sig_int = evsignal_new(s->base, SIGINT, signal_cb, s);
    s->sig_term = evsignal_new(s->base, SIGTERM, signal_cb, s);
    if (!s->sig_int || !s->sig_term) return SM_ENOMEM;
    evsignal_add(s->sig_int, NULL);
    evsignal_add(s->sig_term, NULL);
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

void server_begin_stop(sm_server *s) {
  if (s->stopping) return;
  s->stopping = true;
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
  log_info("signal %d", (int)sig);
  server_begin_stop(arg);
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
  if (s->stop_ev) event_free(s->stop_ev);
  if (s->flush_ev) event_free(s->flush_ev);
  if (s->stop_fd >= 0) close(s->stop_fd);
  if (s->drain_ev) event_free(s->drain_ev);
  if (s->base) event_base_free(s->base);
  authkey_clear(&s->key);
  vb_free(&s->result);
  tls_ctx_free(s->tls_ctx);
  free(s->ready_file);
  free(s);
}
