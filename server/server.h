/* SPDX-License-Identifier: MIT */
/* server.h - the server struct that every callback of the daemon receives:
 * one event loop, one registry, the connections and the listeners. Private
 * to server/. */
#ifndef SM_SERVER_SERVER_H
#define SM_SERVER_SERVER_H

#include "../proto/authkey.h"
#include "../proto/frame.h"
#include "../proto/vwire.h"
#include "registry.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct event_base;
struct stats;
struct metrics;
struct event;
struct conn;
struct listener;
struct ssl_ctx_st;
struct peers;

/* TCP keepalive on accepted TCP and TLS sockets: idle seconds before the
 * first probe (then every third of it, 3 probes), so a dead peer is noticed
 * within about twice this. */
#define KEEPALIVE_DEFAULT_S 15

/* The limits that protect the daemon; each is an option of
 * statemgr_server.h and a flag of statemgrd. */
typedef struct server_limits {
  size_t max_frame;           /* largest request frame after authentication */
  size_t max_conns;           /* connections at once; more are refused */
  size_t max_pending;         /* parked calls per connection before it stops being read */
  unsigned max_depth;         /* nesting of lists and maps inside a value */
  unsigned handshake_ms;      /* time a new connection has to authenticate */
  size_t out_hard;            /* queued answers that disconnect a client not reading */
  size_t max_memory;          /* bytes of data past which growing calls are refused; 0: none */
  size_t max_unauth;          /* connections not authenticated yet, from every source */
  size_t max_unauth_per_addr; /* the same, from one source (peers.h) */
  bool deadlock_report;       /* --deadlock report: a wait closing a cycle parks, logged */
} server_limits;

#define LIMITS_DEFAULT                                                                             \
  {                                                                                                \
    FRAME_MAX_DEFAULT, 10000, 65536, VW_DEPTH_DEFAULT, 10000, (size_t)256 * 1024 * 1024, 0, 512,   \
        128, false                                                                                 \
  }

struct sm_server {
  struct event_base *base;
  registry *reg;
  authkey key;
  server_limits limits;
  int keepalive_s;                   /* TCP keepalive idle time; 0: system default */
  struct ssl_ctx_st *tls_ctx;        /* owned (one reference); NULL without --tls-cert */
  char *tls_cert, *tls_key, *tls_ca; /* owned: tls_ctx's files, read again by a reload */
  bool tls_require_client_cert;
  char *ready_file; /* owned; NULL when not asked for */
  struct listener *listeners;
  struct conn *conns; /* doubly linked, newest first */
  size_t n_conns;     /* every open connection */
  size_t n_authed;    /* those that authenticated (limits.max_conns counts these) */
  struct conn *unauth_oldest, *unauth_newest; /* limited ones not authenticated yet (conn.c) */
  size_t n_unauth;                            /* entries of that list */
  struct peers *peers;                        /* per-source pre-auth state (peers.c) */
  struct event *sweep_ev;                     /* every second: peers_sweep */
  uint64_t next_conn_id;
  uint64_t next_session; /* the last session id given out: from the run's first id up */
  uint64_t requests;     /* answered since start */
  time_t started;
  bool stopping;
  uint64_t instance;      /* random id of this run, never 0: told to clients at auth */
  int stop_fd;            /* eventfd: sm_server_stop writes, the loop reads */
  struct event *stop_ev;  /* watches stop_fd */
  struct event *drain_ev; /* while stopping: polls until outputs are flushed */
  struct event *sig_int, *sig_term, *sig_hup;
  int reload_fd;           /* eventfd: sm_server_reload writes, the loop reloads */
  struct event *reload_ev; /* watches reload_fd */
  struct timespec stop_deadline;
  vbuf result;             /* scratch for the result of the current call */
  struct stats *stats;     /* calls per method (stats.c) */
  char *metrics_addr;      /* owned; where to serve /metrics, or NULL */
  struct metrics *metrics; /* the endpoint while running */
  struct event *flush_ev;  /* activated when answers wait: flushes them all */
  struct conn *flush_list; /* connections with answers to flush */
  struct persist *persist; /* the data directory (persist.h); NULL: in memory */
  struct conn *held_list;  /* connections whose answers wait for the log (conn.c) */
  uint8_t rbuf[64 * 1024]; /* plain sockets read here; leftovers go to the conn */
  obj_type **custom;       /* owned: the registered custom types (t_custom.c) */
  size_t n_custom;
  bool running;       /* sm_server_run or its thread has started */
  bool has_thread;    /* sm_server_run_thread's thread is not joined yet */
  pthread_t thread;   /* valid while has_thread */
  int thread_rc;      /* what the thread's sm_server_run returned */
  bool needs_restart; /* a group member that stopped leading: run again from the log */
};

/* Starts the stop sequence (idempotent): close listeners, stop reading, flush,
 * leave the loop. */
void server_begin_stop(struct sm_server *s);

/* A member of a replicated group lost its leadership with a state that
 * may hold what the group never took: leaves the loop at once (held
 * answers never leave), and sm_server_needs_restart tells the embedder. */
void server_request_restart(struct sm_server *s);

/* Reopens the log file and reloads the TLS certificate and key (SIGHUP,
 * sm_server_reload), logging what it did; what fails keeps what was. */
void server_reload(struct sm_server *s);

#endif
