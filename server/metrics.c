/* SPDX-License-Identifier: MIT */
/* metrics.c - /metrics in Prometheus' text format (see metrics.h).
 *
 * The address is parsed by proto/url.c, as listeners' are (IPv6 in
 * brackets). The figures come from stats.c, the same snapshot `info` answers with.
 * Calls are counted per type and method as statemgr_calls_total, with
 * their latency as the histogram statemgr_call_duration_seconds; rates
 * and quantiles are Prometheus' business (rate(), histogram_quantile()),
 * not the daemon's. The process_* figures carry the names Prometheus'
 * client libraries give them, so the usual dashboards work unchanged.
 * Label values (type and method names, which an embedding program
 * chooses) are escaped as the text format asks: backslash, double quote
 * and newline. */
#include "metrics.h"

#include "../proto/auth.h"
#include "../proto/status.h"
#include "../proto/url.h"
#include "blocked.h"
#include "listener.h"
#include "log.h"
#include "persist.h"
#include "server.h"
#include "stats.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "statemgr.h"

struct metrics {
  struct sm_server *srv;
  struct evhttp *http;
  char url[192]; /* http://HOST:PORT/metrics */
};

/* Writes s as a label value: backslash, double quote and newline escaped. */
static void put_label(struct evbuffer *b, const char *s) {
  const char *run = s;
  for (; *s; s++) {
    const char *esc = *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" : *s == '\n' ? "\\n" : NULL;
    if (!esc) continue;
    evbuffer_add(b, run, (size_t)(s - run));
    evbuffer_add(b, esc, 2);
    run = s + 1;
  }
  evbuffer_add(b, run, (size_t)(s - run));
}

/* Writes name{type="T",method="M" with the brace left open for more labels. */
static void put_method_labels(struct evbuffer *b, const char *name, const char *type,
                              const char *method) {
  evbuffer_add_printf(b, "%s{type=\"", name);
  put_label(b, type);
  evbuffer_add_printf(b, "\",method=\"");
  put_label(b, method);
  evbuffer_add(b, "\"", 1);
}

static void put_type(void *arg, const char *type, size_t n) {
  evbuffer_add_printf(arg, "statemgr_objects{type=\"");
  put_label(arg, type);
  evbuffer_add_printf(arg, "\"} %zu\n", n);
}

static void put_call(void *arg, const char *type, const char *method, uint64_t n) {
  put_method_labels(arg, "statemgr_calls_total", type, method);
  evbuffer_add_printf(arg, "} %llu\n", (unsigned long long)n);
}

/* One method's histogram: cumulative buckets, +Inf, sum and count. */
static void put_latency(void *arg, const char *type, const char *method, const uint64_t *counts,
                        uint64_t sum_us) {
  struct evbuffer *b = arg;
  unsigned long long seen = 0;
  for (size_t i = 0; i <= STATS_N_BUCKETS; i++) {
    seen += counts[i];
    put_method_labels(b, "statemgr_call_duration_seconds_bucket", type, method);
    if (i < STATS_N_BUCKETS)
      evbuffer_add_printf(b, ",le=\"%g\"} %llu\n", stats_bucket_us[i] / 1e6, seen);
    else
      evbuffer_add_printf(b, ",le=\"+Inf\"} %llu\n", seen);
  }
  put_method_labels(b, "statemgr_call_duration_seconds_sum", type, method);
  evbuffer_add_printf(b, "} %.6f\n", (double)sum_us / 1e6);
  put_method_labels(b, "statemgr_call_duration_seconds_count", type, method);
  evbuffer_add_printf(b, "} %llu\n", seen);
}

static void gauge(struct evbuffer *b, const char *name, const char *help, unsigned long long v) {
  evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %llu\n", name, help, name, name, v);
}

static void counter(struct evbuffer *b, const char *name, const char *help, unsigned long long v) {
  evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name, v);
}

/* The process_* figures of Prometheus' client libraries. */
static void put_process(struct evbuffer *b, const struct sm_server *srv, const stats_snapshot *s) {
  evbuffer_add_printf(b,
                      "# HELP process_cpu_seconds_total User and system CPU time spent, in "
                      "seconds.\n# TYPE process_cpu_seconds_total counter\n"
                      "process_cpu_seconds_total %.6f\n",
                      s->cpu_seconds);
  gauge(b, "process_open_fds", "Open file descriptors.", s->open_fds);
  if (s->max_fds) gauge(b, "process_max_fds", "The limit of open file descriptors.", s->max_fds);
  gauge(b, "process_resident_memory_bytes", "Resident memory size in bytes.", s->rss_bytes);
  gauge(b, "process_virtual_memory_bytes", "Virtual memory size in bytes.", s->virtual_bytes);
  gauge(b, "process_start_time_seconds", "Start time of the process since the Unix epoch.",
        (unsigned long long)srv->started);
}

/* Failures and refusals: per status, per reason, and the plain counts. */
static void put_failures(struct evbuffer *b, const stats_snapshot *s) {
  evbuffer_add_printf(b, "# HELP statemgr_errors_total Answers with a status other than OK.\n"
                         "# TYPE statemgr_errors_total counter\n");
  for (int i = 1; i < STATS_N_STATUSES; i++) {
    const char *name = status_name(i);
    if (name)
      evbuffer_add_printf(b, "statemgr_errors_total{status=\"%s\"} %llu\n", name,
                          (unsigned long long)s->answers[i]);
    else if (s->answers[i])
      evbuffer_add_printf(b, "statemgr_errors_total{status=\"%d\"} %llu\n", i,
                          (unsigned long long)s->answers[i]);
  }
  evbuffer_add_printf(b, "# HELP statemgr_refused_connections_total Connections refused or "
                         "dropped before being served, by reason.\n"
                         "# TYPE statemgr_refused_connections_total counter\n");
  for (int i = 0; i < STATS_N_REFUSALS; i++)
    evbuffer_add_printf(b, "statemgr_refused_connections_total{reason=\"%s\"} %llu\n",
                        stats_refusal_name((stats_refusal)i), (unsigned long long)s->refused[i]);
  counter(b, "statemgr_auth_failures_total", "Authentications refused: a wrong authkey.",
          s->auth_failures);
  counter(b, "statemgr_tls_handshake_failures_total", "TLS handshakes that failed or timed out.",
          s->tls_failures);
  counter(b, "statemgr_net_input_bytes_total", "Bytes read from clients.", s->net_in);
  counter(b, "statemgr_net_output_bytes_total", "Bytes written to clients.", s->net_out);
}

/* The data directory's figures (info's), when there is one. */
static void put_persist(struct evbuffer *b, const persist *p) {
  gauge(b, "statemgr_persistence", "1 when the state is kept in a data directory.", p != NULL);
  if (!p) return;
  persist_info pi;
  persist_get_info(p, &pi);
  gauge(b, "statemgr_log_bytes", "Bytes of log records kept (since the last snapshot).",
        pi.log_bytes);
  gauge(b, "statemgr_log_index", "Index of the last command logged.", pi.last_index);
  gauge(b, "statemgr_durable_index", "Index of the last command known durable.", pi.durable_index);
  counter(b, "statemgr_log_syncs_total", "fdatasync calls of the log.", pi.syncs);
  gauge(b, "statemgr_disk_full", "1 while the disk is full and changes are refused.", pi.disk_full);
  counter(b, "statemgr_snapshots_total", "Snapshots written since start.", pi.snapshots);
  gauge(b, "statemgr_last_snapshot_index", "Log index of the last snapshot.", pi.snapshot_index);
  gauge(b, "statemgr_last_snapshot_time_seconds", "When the last snapshot was taken (Unix time).",
        (unsigned long long)(pi.snapshot_time_ms / 1000));
  gauge(b, "statemgr_last_snapshot_duration_milliseconds", "How long it took to write.",
        (unsigned long long)pi.snapshot_duration_ms);
  gauge(b, "statemgr_last_snapshot_failed", "1 when the last snapshot failed.",
        strcmp(pi.snapshot_status, "failed") == 0);
}

static void render(struct sm_server *srv, struct evbuffer *b) {
  stats_snapshot s;
  stats_take(srv, &s);
  evbuffer_add_printf(b,
                      "# HELP statemgr_build_info The daemon's version and the protocol versions "
                      "it speaks.\n# TYPE statemgr_build_info gauge\n"
                      "statemgr_build_info{version=\"%d.%d.%d\",protocol=\"%u\",oldest_protocol="
                      "\"%u\"} 1\n",
                      SM_VERSION_MAJOR, SM_VERSION_MINOR, SM_VERSION_PATCH,
                      (unsigned)AUTH_PROTOCOL_VERSION, (unsigned)AUTH_PROTOCOL_OLDEST);
  put_process(b, srv, &s);
  gauge(b, "statemgr_uptime_seconds", "Seconds since the daemon started.",
        (unsigned long long)s.uptime_s);
  gauge(b, "statemgr_connections", "Client connections open now.", s.connections);
  gauge(b, "statemgr_named_objects", "Named objects.", s.named_objects);
  gauge(b, "statemgr_waiters", "Blocking calls parked now.", s.waiters);
  counter(b, "statemgr_deadlocks_total",
          "Lock, rlock or semaphore waits that would have closed a cycle of waiting clients.",
          blk_deadlocks(srv->reg));
  gauge(b, "statemgr_resident_memory_bytes", "Resident memory of the daemon.", s.rss_bytes);
  gauge(b, "statemgr_heap_bytes", "Heap memory in use.", s.heap_bytes);
  gauge(b, "statemgr_used_memory_bytes", "Bytes of data, as --max-memory counts them.",
        s.used_memory);
  gauge(b, "statemgr_max_memory_bytes", "The memory limit of the data (0: none).", s.max_memory);
  put_persist(b, srv->persist);
  evbuffer_add_printf(b,
                      "# HELP statemgr_memory_trims_total Times freed memory went back to the "
                      "system.\n"
                      "# TYPE statemgr_memory_trims_total counter\n"
                      "statemgr_memory_trims_total %llu\n",
                      (unsigned long long)s.memory_trims);
  evbuffer_add_printf(b,
                      "# HELP statemgr_gc_collections_total Batches of the cycle collector.\n"
                      "# TYPE statemgr_gc_collections_total counter\n"
                      "statemgr_gc_collections_total %llu\n"
                      "# HELP statemgr_gc_collected_total Anonymous objects freed because they "
                      "only held each other.\n"
                      "# TYPE statemgr_gc_collected_total counter\n"
                      "statemgr_gc_collected_total %llu\n",
                      (unsigned long long)s.gc_collections, (unsigned long long)s.gc_collected);
  evbuffer_add_printf(b,
                      "# HELP statemgr_requests_total Requests answered.\n"
                      "# TYPE statemgr_requests_total counter\n"
                      "statemgr_requests_total %llu\n",
                      (unsigned long long)s.requests);
  evbuffer_add_printf(b, "# HELP statemgr_objects Shared objects by type.\n"
                         "# TYPE statemgr_objects gauge\n");
  stats_each_type(srv, put_type, b);
  evbuffer_add_printf(b, "# HELP statemgr_calls_total Calls by type and method.\n"
                         "# TYPE statemgr_calls_total counter\n");
  stats_each_call(srv->stats, put_call, b);
  evbuffer_add_printf(b, "# HELP statemgr_call_duration_seconds Time a call took in the daemon, "
                         "by type and method (a parked call: until it parked).\n"
                         "# TYPE statemgr_call_duration_seconds histogram\n");
  stats_each_latency(srv->stats, put_latency, b);
  put_failures(b, &s);
  gauge(b, "statemgr_slowlog_length", "Entries in the slow-call log.", s.slowlog_len);
}

static void handle(struct evhttp_request *req, void *arg) {
  metrics *m = arg;
  const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
  if (!path || (strcmp(path, "/metrics") != 0 && strcmp(path, "/") != 0)) {
    evhttp_send_error(req, HTTP_NOTFOUND, "statemgrd serves /metrics");
    return;
  }
  if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
    evhttp_send_error(req, HTTP_BADMETHOD, "GET only");
    return;
  }
  struct evbuffer *b = evbuffer_new();
  if (!b) {
    evhttp_send_error(req, HTTP_INTERNAL, "out of memory");
    return;
  }
  render(m->srv, b);
  evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                    "text/plain; version=0.0.4");
  evhttp_send_reply(req, HTTP_OK, "OK", b);
  evbuffer_free(b);
}

metrics *metrics_listen(struct sm_server *srv, const char *url, char *err, size_t errlen) {
  url_addr a;
  if (url_parse(url, URL_LISTEN, &a, err, errlen) != 0) return NULL;
  if (a.scheme != URL_TCP) {
    snprintf(err, errlen, "bad metrics address '%s': expected tcp://HOST:PORT or tcp://[V6]:PORT",
             url);
    return NULL;
  }
  metrics *m = calloc(1, sizeof *m);
  if (!m || !(m->http = evhttp_new(srv->base))) {
    free(m);
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  m->srv = srv;
  evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET);
  evhttp_set_gencb(m->http, handle, m);
  struct evhttp_bound_socket *bound = evhttp_bind_socket_with_handle(
      m->http, a.host[0] ? a.host : NULL, (uint16_t)strtoul(a.port, NULL, 10));
  if (!bound || listener_sockname(evhttp_bound_socket_get_fd(bound), "http://", m->url,
                                  sizeof m->url - sizeof "/metrics") < 0) {
    snprintf(err, errlen, "cannot serve metrics on %s", url);
    metrics_free(m);
    return NULL;
  }
  strcat(m->url, "/metrics");
  log_info("metrics on %s", m->url);
  return m;
}

const char *metrics_url(const metrics *m) { return m->url; }

void metrics_free(metrics *m) {
  if (!m) return;
  if (m->http) evhttp_free(m->http);
  free(m);
}
