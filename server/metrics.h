/* SPDX-License-Identifier: MIT */
/* metrics.h - the daemon's figures as Prometheus text over HTTP
 * (libevent's evhttp), on an address of its own: --metrics tcp://HOST:PORT
 * (tcp://[V6ADDR]:PORT for IPv6) serves GET /metrics. */
#ifndef SM_SERVER_METRICS_H
#define SM_SERVER_METRICS_H

#include <stddef.h>

struct sm_server;
typedef struct metrics metrics;

/* Binds url (tcp://host:port or tcp://[v6]:port; port 0 picks one) and serves /metrics from
 * srv's loop. Returns the endpoint (free with metrics_free), or NULL with err
 * filled. */
metrics *metrics_listen(struct sm_server *srv, const char *url, char *err, size_t errlen);

/* The bound address as http://host:port/metrics (borrowed). */
const char *metrics_url(const metrics *m);

void metrics_free(metrics *m);

#endif
