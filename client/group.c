/* SPDX-License-Identifier: MIT */
/* group.c - the members a client connects to and the walk that finds the
 * one to use (see group.h).
 *
 * Members sit in a fixed array of pointers, each allocated once and never
 * moved or freed before the group, so a connection may borrow a member's
 * URL text for its messages. The count is published with a release store
 * after the member is written, so readers need no lock; adding one (a
 * leader learned from a REDIRECT) takes add_mu. The member tried first is
 * an atomic index. */
#include "group.h"

#include "../proto/msg.h"
#include "errors.h"
#include "statemgr.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Backoff between rounds of the walk. */
#define WALK_WAIT_MIN_MS 5
#define WALK_WAIT_MAX_MS 200

struct group {
  url_member *members[GROUP_MAX_MEMBERS]; /**< owned; [0, size) are set */
  size_t size;                            /**< (atomic) members set */
  size_t listed;                          /**< members given in the list */
  size_t first;                           /**< (atomic) the member tried first */
  pthread_mutex_t add_mu;                 /**< serialises group_learn's additions */
};

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int group_new(const char *urls, group **out) {
  url_member *parsed = calloc(URL_LIST_MAX, sizeof *parsed);
  group *g = calloc(1, sizeof *g);
  if (!parsed || !g) {
    free(parsed);
    free(g);
    return err_set(SM_ENOMEM, "out of memory");
  }
  pthread_mutex_init(&g->add_mu, NULL);
  char why[512];
  size_t n = 0;
  int rc = url_list_parse(urls, URL_CONNECT, parsed, URL_LIST_MAX, &n, why, sizeof why) == 0
               ? SM_OK
               : err_set(SM_EINVAL, "%s", why);
  for (size_t i = 0; rc == SM_OK && i < n; i++) {
    if (!(g->members[i] = malloc(sizeof *g->members[i])))
      rc = err_set(SM_ENOMEM, "out of memory");
    else
      *g->members[i] = parsed[i];
    g->size = i + 1;
  }
  free(parsed);
  if (rc != SM_OK) {
    group_free(g);
    return rc;
  }
  g->listed = n;
  *out = g;
  return SM_OK;
}

void group_free(group *g) {
  if (!g) return;
  for (size_t i = 0; i < g->size; i++)
    free(g->members[i]);
  pthread_mutex_destroy(&g->add_mu);
  free(g);
}

size_t group_size(const group *g) { return __atomic_load_n(&g->size, __ATOMIC_ACQUIRE); }

const url_member *group_at(const group *g, size_t i) { return g->members[i]; }

bool group_uses_tls(const group *g) {
  for (size_t i = 0; i < g->listed; i++)
    if (g->members[i]->addr.scheme == URL_TLS) return true;
  return false;
}

/* The index of the leader url named by a connection of scheme origin:
 * found among the members, or added. Returns SM_OK with *index set, or
 * SM_EREDIRECT with the reason in the last error (a URL that does not
 * parse, leaves TLS, or would be one member too many). */
static int learn(group *g, const char *url, url_scheme origin, size_t *index) {
  url_member m;
  char why[512];
  if (strlen(url) >= sizeof m.text)
    return err_set(SM_EREDIRECT, "a member named a leader URL of over %zu bytes: not followed",
                   sizeof m.text - 1);
  if (url_parse(url, URL_CONNECT, &m.addr, why, sizeof why) != 0)
    return err_set(SM_EREDIRECT, "a member named a leader the library cannot use: %s", why);
  if (origin == URL_TLS && m.addr.scheme != URL_TLS)
    return err_set(SM_EREDIRECT,
                   "a tls:// member named the leader %s, which is not tls://: not followed", url);
  snprintf(m.text, sizeof m.text, "%s", url);
  pthread_mutex_lock(&g->add_mu);
  size_t n = g->size, i = 0;
  while (i < n && !url_same(&g->members[i]->addr, &m.addr))
    i++;
  int rc = SM_OK;
  if (i == n) {
    url_member *copy = n < GROUP_MAX_MEMBERS ? malloc(sizeof *copy) : NULL;
    if (!copy) {
      rc = err_set(SM_EREDIRECT, "cannot add the leader %s to the %zu members known", url, n);
    } else {
      *copy = m;
      g->members[n] = copy;
      __atomic_store_n(&g->size, n + 1, __ATOMIC_RELEASE);
    }
  }
  pthread_mutex_unlock(&g->add_mu);
  if (rc == SM_OK) *index = i;
  return rc;
}

/* Codes after which another member (or a later try) may do better. */
static bool worth_another_try(int rc) {
  return rc == SM_ECONNECT || rc == SM_ETIMEOUT || rc == SM_ESHUTDOWN || rc == SM_EREDIRECT;
}

int group_walk(group *g, const group_walk_cfg *cfg, group_try_fn try_fn, void *ctx) {
  size_t i = __atomic_load_n(&g->first, __ATOMIC_RELAXED);
  if (cfg->hint && *cfg->hint) learn(g, cfg->hint, cfg->origin, &i); /* else: where it was */
  int64_t wait = WALK_WAIT_MIN_MS;
  size_t tried = 0, hops = 0; /* in this round */
  bool redirected = false;    /* some member answered REDIRECT in this round */
  for (;;) {
    char leader[WIRE_URL_MAX] = "";
    int rc = try_fn(ctx, i, leader);
    if (rc == SM_OK || rc == SM_ECLOSED) {
      __atomic_store_n(&g->first, i, __ATOMIC_RELAXED);
      return rc;
    }
    if (!worth_another_try(rc)) return rc;
    if (rc == SM_EREDIRECT) {
      redirected = true;
      size_t next = i;
      /* Bounded hops: members that name each other do not loop forever. */
      if (leader[0] && hops <= group_size(g) &&
          learn(g, leader, group_at(g, i)->addr.scheme, &next) == SM_OK && next != i) {
        hops++;
        i = next;
        continue;
      }
    }
    if (++tried >= group_size(g)) { /* a round is over */
      if (!cfg->keep_trying && !redirected) return rc;
      int64_t left = cfg->deadline - mono_ms();
      if (left <= 0) return rc;
      struct timespec ts = {0, (long)(wait < left ? wait : left) * 1000000L};
      nanosleep(&ts, NULL);
      if ((wait *= 2) > WALK_WAIT_MAX_MS) wait = WALK_WAIT_MAX_MS;
      tried = hops = 0;
      redirected = false;
    }
    i = (i + 1) % group_size(g);
  }
}
