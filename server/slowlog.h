/* SPDX-License-Identifier: MIT */
/* slowlog.h - the slow-call log, as Redis's SLOWLOG: calls whose dispatch
 * took at least a threshold are kept in a ring of a bounded length, newest
 * first when read. A parked call is timed up to its parking only, so a
 * wait is never a slow call. The threshold and the length change at run
 * time (`config set`); the ring lives on the loop thread. */
#ifndef SM_SERVER_SLOWLOG_H
#define SM_SERVER_SLOWLOG_H

#include "../proto/vwire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SLOWLOG_THRESHOLD_DEFAULT 10000 /* microseconds, Redis's default */
#define SLOWLOG_MAX_LEN_DEFAULT 128
#define SLOWLOG_MAX_LEN_LIMIT 100000 /* entries; each takes under 512 bytes */

typedef struct slowlog slowlog;

/* One slow call, as the dispatcher saw it. The strings are borrowed for
 * the call of slowlog_add, which copies (and may cut) them. */
typedef struct slowlog_call {
  int64_t time_s;      /* when it ended, Unix seconds */
  int64_t duration_us; /* its dispatch time */
  uint64_t object;     /* the target's id; 0: the manager */
  const char *name;    /* the target's name, or NULL (anonymous, gone, manager) */
  const char *type;    /* the target's type ("manager" for object 0) */
  const char *method;  /* the method called */
  size_t nargs;        /* how many arguments it had */
  const char *peer;    /* the client's address */
  const char *client;  /* the name the client gave, or "" */
} slowlog_call;

/* An empty log with the defaults (free with slowlog_free), or NULL. */
slowlog *slowlog_new(void);
void slowlog_free(slowlog *l);

/* Calls taking threshold_us microseconds or more are kept (0: every call;
 * negative: none). */
void slowlog_set_threshold(slowlog *l, int64_t threshold_us);
int64_t slowlog_threshold(const slowlog *l);

/* Keeps the newest max_len entries (0 to SLOWLOG_MAX_LEN_LIMIT), dropping
 * the oldest when it shrinks. Returns 0, or -1 when out of memory (the
 * length is then unchanged). */
int slowlog_set_max_len(slowlog *l, size_t max_len);
size_t slowlog_max_len(const slowlog *l);

/* True when a call of duration_us belongs in the log: cheap, so the
 * dispatcher asks before gathering the details. */
bool slowlog_wants(const slowlog *l, int64_t duration_us);

/* Adds c as the newest entry (the oldest goes when the log is full). Out
 * of memory: the entry is lost, nothing else. */
void slowlog_add(slowlog *l, const slowlog_call *c);

/* Entries kept now. */
size_t slowlog_len(const slowlog *l);

/* Drops every entry (ids keep counting). */
void slowlog_reset(slowlog *l);

/* Writes the newest n entries (all of them when n is larger), newest
 * first, as a list of maps {"id", "time", "duration_us", "object", "name"
 * (when named), "type", "method", "args", "client", "client_name" (when
 * given)} into out. */
void slowlog_write(const slowlog *l, size_t n, vbuf *out);

#endif
