/* SPDX-License-Identifier: MIT */
/* watch.h - revisions and watches of the watched types: dict, namespace,
 * value and list (etcd's watch-from-revision, per object).
 *
 * Every such object has a revision (sm_obj.rev): 0 when created, one more
 * for every mutating call that answered OK on it (wch_commit, from the
 * apply path: dispatch, a transaction's operations). Replay runs the same
 * calls, so it reaches the same revisions; snapshots keep them.
 *
 * From the first time a process reads an object's revision (rev) or
 * watches it, its changes are kept: while a call runs, its type notes each
 * change it makes (wch_note): a dict key or namespace attribute set (with
 * its new value) or deleted, a value set. A list's change is its length,
 * noted at commit when it differs from the last one noted. The notes carry
 * the revision the call commits, and go to a bounded history per object
 * (WCH_KEEP changes, WCH_KEEP_BYTES of their keys and values): every
 * change with a revision above its floor is in it. An object nobody has
 * watched keeps nothing but its revision.
 *
 * watch(from_rev[, key]) answers at once with the changes after from_rev
 * (of key only, when given) when there are some, else waits for the next
 * (parked as blocked.h says; a timeout answers TIMEOUT). The answer is
 * {"rev": R, "events": [[rev, "set"|"del"|"len", key, value], ...]}: R is
 * the revision to watch from next, so no change is missed between two
 * watches. A from_rev below the history's floor answers
 * {"rev": R, "compacted": true}: the client reads the object again and
 * watches from R. rev() answers the revision. */
#ifndef SM_SERVER_WATCH_H
#define SM_SERVER_WATCH_H

#include "../proto/vwire.h"
#include "object.h"

#include <stdbool.h>
#include <stdint.h>

/* Changes kept per object, and bytes of their keys and values: older
 * ones are compacted away. */
#define WCH_KEEP 256
#define WCH_KEEP_BYTES (1024 * 1024)

/* What a noted change did. */
enum { WCH_SET = 1, WCH_DEL = 2, WCH_LEN = 3 };

/* True when o's type has revisions and watches. */
bool wch_watchable(const sm_obj *o);

/* o's revision (0 for types without). */
uint64_t wch_rev(const sm_obj *o);

/* Notes a change of the call running on o: kind with key (empty span for
 * a value object) and the new value (empty for a delete). Copied; out of
 * memory compacts the history (a watcher then re-reads) instead of
 * failing the call. */
void wch_note(registry *reg, sm_obj *o, int kind, sm_span key, sm_span value);

/* A transaction (txn.c) runs between wch_batch_begin and wch_batch_end:
 * meanwhile wch_note queues its notes in b (the caller's, private to
 * watch.c, allocating only for objects someone watches) and wch_commit
 * wakes nobody. End with keep true to add them to the histories (waking
 * the watchers), false to drop them (the transaction was rolled back: no
 * watcher ever sees them). */
typedef struct wch_batch {
  struct wch_pending **notes;
  size_t n, cap;
} wch_batch;
void wch_batch_begin(registry *reg, wch_batch *b);
void wch_batch_end(registry *reg, bool keep);

/* Where o's revision stands (wch_here), and going back there (wch_back)
 * when a transaction that changed o is rolled back. */
typedef struct wch_point {
  uint64_t rev;
  int64_t last_len;
} wch_point;
wch_point wch_here(const sm_obj *o);
void wch_back(sm_obj *o, wch_point p);

/* A mutating call answered OK on o: advances its revision (watched types
 * only), notes a list's new length, and signals o when a watcher waits. */
void wch_commit(registry *reg, sm_obj *o);

/* Object o is being freed: answers its watchers NOT_FOUND and frees its
 * history. */
void wch_free(registry *reg, sm_obj *o);

/* The serve hook of the watched types: answers the watchers whose
 * changes came. */
void wch_serve(registry *reg, sm_obj *o);

/* The methods every watched type lists: rev() and watch(from_rev[, key]),
 * which start keeping the object's changes, and the internal _track()
 * that logs that start for a replay. */
int wch_m_rev(call *c);
int wch_m_watch(call *c);
int wch_m_track(call *c);

/* Every watched object's revision and history as one packed value for the
 * snapshot, and back (objects must be loaded first). wch_save returns 0,
 * or -1 when out of memory; wch_load 0, or -1 with err filled. */
int wch_save(const registry *reg, vbuf *out);
int wch_load(registry *reg, sm_span saved, char *err, size_t errlen);

#endif
