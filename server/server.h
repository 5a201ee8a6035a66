/* server.h - the server struct that every callback of the daemon receives:
 * one event loop, one registry, the connections and the listeners. Private
 * to server/. */
#ifndef SM_SERVER_SERVER_H
#define SM_SERVER_SERVER_H

#include "../proto/authkey.h"
#include "../proto/vwire.h"
#include "registry.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct event_base;
struct event;
struct conn;
struct listener;

struct sm_server {
  struct event_base *base;
  registry *reg;
  authkey key;
  size_t max_frame; /* after authentication */
  char *ready_file; /* owned; NULL when not asked for */
  struct listener *listeners;
  struct conn *conns; /* doubly linked, newest first */
  size_t n_conns;
  uint64_t next_conn_id;
  uint64_t requests; /* answered since start */
  time_t started;
  bool stopping;
  struct event *stop_ev;  /* activated by sm_server_stop from any thread */
  struct event *drain_ev; /* while stopping: polls until outputs are flushed */
  struct event *sig_int, *sig_term;
  struct timespec stop_deadline;
  vbuf result; /* scratch for the result of the current call */
};

/* Starts the stop sequence (idempotent): close listeners, stop reading, flush,
 * leave the loop. */
void server_begin_stop(struct sm_server *s);

#endif
