/* SPDX-License-Identifier: MIT */
/* cluster_snap.h - the snapshots of a replicated group (cluster.h) in
 * etcd: the leader taking one, storing it in chunks, publishing it and
 * trimming the log and etcd's history behind it; a starting member
 * loading the newest one before it follows the log.
 *
 * The keys, under the group's prefix "/statemgr/NAME/":
 *   snap/<id>/<chunk>  the snapshot file (snapshot.h's format) in pieces of
 *                      CSNAP_CHUNK bytes, or fewer when etcd's request limit
 *                      (--etcd-max-request-bytes) is smaller; id is "<seq, 20 digits>-<the
 *                      leader key's create revision, 20 digits>-<the
 *                      leader's count of snapshots, 6 digits>", chunk 6
 *                      digits from 0; the members' watch ends before them
 *   snapshot           the manifest, JSON: {"id", "chunks", "chunk_bytes",
 *                      "seq", "revision", "bytes", "crc32c", "time_ms",
 *                      "leader_revision"}: the state after the batches
 *                      1..seq, which every event up to revision holds;
 *                      crc32c (hex) is of the whole file; chunk_bytes is
 *                      the size of each chunk but the last (absent in a
 *                      manifest of an older member: CSNAP_CHUNK)
 *
 * A snapshot is due once the log in etcd grew by log_bytes since the
 * group's last one: the leader counts the batches it ships, from what a
 * member that takes over applied after that snapshot (csnap_took_over;
 * its batches are kept as at most LOG_SPANS runs, so a run that the
 * snapshot holds in part counts its share by batches).
 *
 * The leader forks a child that writes the file (snap_fork, as the durable
 * daemon does: the leader keeps serving) into a private temporary
 * directory. The loop then reads it back one chunk at a time and puts each
 * with a Txn guarded by the leader key's create revision, one request in
 * flight, so the appends (which go on the client's other connections)
 * never queue behind more than one chunk (measured: a 960 KB put takes
 * 40-115 ms through the gateway, its encoding 3-7 ms on the loop, on 2
 * loaded cores); doing the puts in the child would need a
 * second, blocking HTTP client, and a child cannot learn that its leader
 * was deposed. Once the batch the snapshot covers is acknowledged (its
 * revision known), one guarded Txn puts the manifest, deletes the log
 * keys before the covered batch, and deletes every other snapshot's
 * chunks; then etcd is compacted to the snapshot's revision. The covered
 * batch itself stays: the next batch's append is guarded by its
 * predecessor's presence (cluster.c), and a batch deleted under a retried
 * append would otherwise refuse it. A deposed leader's puts and manifest
 * are refused by the guard.
 *
 * A starting member reads the manifest, fetches the chunks into a file,
 * checks size and CRC32C, and loads it (persist_load_file) before its
 * watch starts at the snapshot's revision + 1. A snapshot replaced while
 * it is fetched (a chunk gone) is fetched again from its manifest. */
#ifndef SM_SERVER_CLUSTER_SNAP_H
#define SM_SERVER_CLUSTER_SNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sm_server;
struct etcd;
typedef struct csnap csnap;

/* A chunk's bytes at most: a put of 720 KiB takes 40-115 ms through the
 * gateway (measured, see above), short enough for the appends beside it. */
#define CSNAP_CHUNK ((size_t)720 * 1024)

/* Makes the snapshot side of the member of group prefix ("/statemgr/NAME/")
 * whose leader key is leader_key and whose log keys start with log_prefix;
 * a snapshot is due each time log_bytes more were shipped; its chunks are
 * chunk_max bytes at most (what fits in one request etcd takes; CSNAP_CHUNK
 * at most). Returns 0 with
 * *out set (free with csnap_free), or -1 with err filled. */
int csnap_new(struct sm_server *srv, struct etcd *e, const char *name, const char *prefix,
              const char *leader_key, const char *log_prefix, uint64_t log_bytes, size_t chunk_max,
              csnap **out, char *err, size_t errlen);

/* Frees s, stopping (killing) a running child and removing the temporary
 * directory. NULL is fine. */
void csnap_free(csnap *s);

/* The leader shipped a batch of bytes: true when a snapshot is due now
 * (more than log_bytes since the last one began, and none runs). */
bool csnap_note_shipped(csnap *s, size_t bytes);

/* A member that follows applied batch seq of bytes from the log. */
void csnap_note_applied(csnap *s, uint64_t seq, size_t bytes);

/* This member leads now: its next snapshot is counted from the bytes of
 * the batches it applied after the group's last snapshot (the manifest's
 * seq), not from zero, so that failovers do not let the log in etcd grow
 * past log_bytes. Returns true when a snapshot is due already. */
bool csnap_took_over(csnap *s);

/* True while a snapshot is being taken, stored or published. */
bool csnap_running(const csnap *s);

/* Takes a snapshot of the leader's state, which must be exactly what the
 * batches 1..seq make (nothing executed outside them): index is the
 * leader's last command index (for `save`), rev the revision of batch seq
 * when it is known already (0: csnap_acked tells it later), leader_rev the
 * leader key's create revision that guards every write. Returns 0, or -1
 * (logged) when the child cannot start. */
int csnap_take(csnap *s, uint64_t seq, uint64_t index, int64_t rev, int64_t leader_rev);

/* Batch seq was acknowledged at revision rev. */
void csnap_acked(csnap *s, uint64_t seq, int64_t rev);

/* This member no longer leads (or stops): a snapshot being taken is
 * dropped (its child killed, nothing more is sent). */
void csnap_abandon(csnap *s);

/* A member starting: loads the group's newest snapshot into the (empty)
 * registry, retrying what fails in transport. Calls fn with 1 and the
 * snapshot's seq and revision once loaded, 0 when the group has none yet,
 * or -1 when it does not load (the registry then holds part of it). */
typedef void (*csnap_loaded_fn)(void *ctx, int rc, uint64_t seq, int64_t rev);
void csnap_load(csnap *s, csnap_loaded_fn fn, void *ctx);

/* The watch brought a delete of log keys at revision rev: a snapshot was
 * published with it; its manifest is read (for info). */
void csnap_trimmed(csnap *s, int64_t rev);
/* The prefix of the chunks' keys ("/statemgr/NAME/snap/"): the members'
 * watch ends there ("snapshot", the manifest, sorts after it). */
const char *csnap_chunk_prefix(const csnap *s);

/* The group's last snapshot as this member knows it, and this member's
 * own (what info shows). */
typedef struct csnap_info {
  uint64_t seq;        /* the last batch it holds (0: none) */
  int64_t revision;    /* the etcd revision it holds everything up to */
  uint64_t bytes;      /* the file's size */
  int64_t time_ms;     /* when it was taken (Unix ms) */
  uint64_t taken;      /* published by this member since it started */
  uint64_t index;      /* this member's: the command index it held */
  int64_t duration_ms; /* this member's: from the fork to the compaction */
  bool running;        /* one is being taken, stored or published */
  const char *status;  /* this member's last: "none", "ok", "failed" */
} csnap_info;

void csnap_get_info(const csnap *s, csnap_info *out);

#endif
