/* SPDX-License-Identifier: MIT */
/* group.h - the daemons a client may connect to: one URL, or the members
 * of a replicated group given as a list (tcp://a:7450,b:7450,c:7450), and
 * the walk that finds the member to use.
 *
 * The group remembers which member answered last (the leader, as far as
 * the client knows) and starts every walk there. A member that refuses
 * the connection, or is shutting down, is passed over for the next one in
 * the list; a member that answers REDIRECT sends the walk to the leader
 * it names, which the group learns as a member when it is not in the list
 * yet. A walk that went round every member in vain waits a little (5 ms,
 * doubling to 200 ms) and goes round again until its deadline, when its
 * cfg says to go on (group_walk). Members are only ever added, and live as
 * long as the group: their URLs may be borrowed.
 *
 * Thread-safe: every thread's connection walks the same group. */
#ifndef SM_CLIENT_GROUP_H
#define SM_CLIENT_GROUP_H

#include "../proto/url.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most members a group holds: those listed, and leaders learned from
 * REDIRECTs. */
#define GROUP_MAX_MEMBERS (2 * URL_LIST_MAX)

typedef struct group group;

/* Parses urls (one URL, or a comma-separated list: url_list_parse) into a
 * new group. Returns 0 with *out set (free with group_free()), or SM_EINVAL
 * (the reason in the last error) or SM_ENOMEM. */
int group_new(const char *urls, group **out);
void group_free(group *g);

/* How many members g holds now (listed and learned). */
size_t group_size(const group *g);

/* Member i (< group_size): borrowed, valid while g lives. */
const url_member *group_at(const group *g, size_t i);

/* True when some listed member is tls://. */
bool group_uses_tls(const group *g);

/* One try of member i: a connect and handshake (a fresh connection or a
 * session's resume). Returns 0, or an SM_E* code; for SM_EREDIRECT,
 * leader (WIRE_URL_MAX bytes) holds the URL the member named ("": none). */
typedef int (*group_try_fn)(void *ctx, size_t i, char *leader);

/* How a walk goes on when no member took the connection. */
typedef struct group_walk_cfg {
  int64_t deadline;  /**< monotonic ms after which the walk gives up (INT64_MAX: never) */
  bool keep_trying;  /**< go round again even when every member refused the connection;
                          otherwise only while some member answered REDIRECT */
  const char *hint;  /**< a leader URL a REDIRECT on a request named, tried first; may be NULL */
  url_scheme origin; /**< the scheme of the connection hint came from */
} group_walk_cfg;

/* Tries members with try_fn, starting at the member that answered last
 * (or hint), following REDIRECTs, until one gives 0 or SM_ECLOSED (a
 * session's resume refused: connected all the same), which ends the walk
 * and makes that member the one tried first next time. A code that no
 * other member can mend (SM_EAUTH, SM_ETLS, SM_EPROTO, SM_EINVAL,
 * SM_ENOMEM) ends it at once. Otherwise it returns the last failure when
 * a round is over and cfg says not to go on, or at the deadline. A
 * REDIRECT to a URL that cannot be used (malformed, or leaving TLS: a
 * tls:// member's leader must be tls:// too) counts as naming no leader,
 * and its reason becomes the last error. */
int group_walk(group *g, const group_walk_cfg *cfg, group_try_fn try_fn, void *ctx);

#endif
