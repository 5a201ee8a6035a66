/* SPDX-License-Identifier: MIT */
/* snapshot.h - the whole registry in one file at a log index: written by
 * a forked child from its copy-on-write view of memory (as Redis's BGSAVE)
 * or in-process at a clean stop, loaded at start before the log after it
 * is replayed.
 *
 * "snapshot-<index, 20 digits>.snap": a header (magic, format version,
 * the meta below), then every object in creation order (id, type name,
 * name or none, reference count, the state as its type's save hook wrote
 * it), then the caller's extra section (the sessions table), then a
 * trailer with the CRC32C of everything before it. Written to a ".tmp"
 * file, synced, renamed, and the directory synced, so a crash leaves the
 * previous snapshot whole. Objects whose type has no save hook (custom
 * types without a serialize callback) are left out; snap_unsaved_types
 * names them for the log at start. */
#ifndef SM_SERVER_SNAPSHOT_H
#define SM_SERVER_SNAPSHOT_H

#include "../proto/vwire.h"
#include "registry.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct snap_meta {
  uint64_t index;    /**< the last log record the state holds */
  uint64_t instance; /**< the data set's instance id (told to clients) */
  uint64_t next_id;  /**< the id the next object gets (reg_next_id) */
  int64_t time_ms;   /**< when it was taken (Unix ms), for info */
} snap_meta;

/* Writes the sessions table (or any other state kept beside the objects)
 * into out; returns 0, or -1 when out of memory. Runs in the child. */
typedef int (*snap_extra_fn)(void *ctx, vbuf *out);

/* Writes the snapshot of reg at meta->index into dir, in this process
 * (a clean stop, and the child of snap_fork). Returns 0, or -1 with err
 * filled (the temporary file removed). */
int snap_write(const registry *reg, const char *dir, const snap_meta *meta, snap_extra_fn extra,
               void *ctx, char *err, size_t errlen);

/* Forks a child that runs snap_write and exits 0 (written) or 1 (its
 * reason on stderr, which is the daemon's log). Returns the child's pid,
 * or -1 with err filled. The caller reaps it (snap_reap). */
pid_t snap_fork(const registry *reg, const char *dir, const snap_meta *meta, snap_extra_fn extra,
                void *ctx, char *err, size_t errlen);

/* Reaps child pid without blocking: 0 still running, 1 done and written,
 * -1 failed (err filled). */
int snap_reap(pid_t pid, char *err, size_t errlen);

/* The CRC32C of the state as a snapshot holds it (every saved object, in
 * the registry's order, and what extra writes), without the snapshot's
 * index, instance and time: two daemons that applied the same commands
 * have the same digest (the members of a replicated group are compared by
 * it). Returns 0, or -1 when out of memory. */
int snap_digest(const registry *reg, snap_extra_fn extra, void *ctx, uint32_t *digest);

/* The newest snapshot of dir whose trailer checks out: its path into
 * path (pathlen bytes) and its index into *index. Returns 1 found, 0 none,
 * -1 error (err filled). Older snapshots and stray .tmp files are left. */
int snap_newest(const char *dir, char *path, size_t pathlen, uint64_t *index, char *err,
                size_t errlen);

/* Loads the snapshot at path into reg, which must be empty: every object
 * with its id, name, state and reference count; the registry's next id
 * from meta. *extra receives a copy of the extra section (free() it).
 * Returns 0, or -1 with err naming the file and what is wrong (the
 * registry then holds what was loaded so far: free it). */
int snap_load(registry *reg, const char *path, snap_meta *meta, uint8_t **extra, size_t *extralen,
              char *err, size_t errlen);

/* Removes the snapshots of dir older than the one at index keep. */
void snap_remove_older(const char *dir, uint64_t keep);

/* The names of reg's types that have objects but no save hook, comma
 * separated, into buf; false when there are none. */
bool snap_unsaved_types(const registry *reg, char *buf, size_t len);

#endif
