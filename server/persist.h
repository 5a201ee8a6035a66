/* SPDX-License-Identifier: MIT */
/* persist.h - the durable daemon: the data directory and everything the
 * server does with it, gluing the log (wal.h), the snapshots (snapshot.h)
 * and the command stream (cmd.h) to the event loop.
 *
 * persist_new (from sm_server_new) makes or checks the directory and locks
 * it; persist_start (from sm_server_run, once custom types are registered)
 * recovers the state, opens the log and sends every command to it;
 * persist_stop (after the loop) writes a snapshot of a clean stop;
 * persist_free unlocks. Meanwhile the connections ask persist_mark and
 * persist_durable whether an answer may leave (conn.c), dispatch asks
 * persist_full before a mutating call, and `save` parks on persist_save.
 * Without a data directory the server has no persist at all (NULL), and
 * none of this costs anything.
 *
 * A member of a replicated group (cluster.h) has a persist without a
 * directory: its log is the group's log in etcd, and what the connections
 * ask (marks, durable index, the sink) goes to the cluster instead of the
 * local log; its snapshots are the group's, in etcd (cluster_snap.h). */
#ifndef SM_SERVER_PERSIST_H
#define SM_SERVER_PERSIST_H

#include "object.h"
#include "wal.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sm_server;
typedef struct persist persist;
struct cluster;
struct cluster_cfg;

#define PERSIST_RESUME_DEFAULT_MS 10000
#define PERSIST_SNAPSHOT_LOG_DEFAULT ((uint64_t)64 * 1024 * 1024)

/* The settings of a data directory (options of statemgr_server.h). */
typedef struct persist_cfg {
  const char *dir;             /**< the data directory */
  wal_fsync_mode fsync;        /**< when log records reach the disk */
  int64_t resume_timeout_ms;   /**< how long sessions of an earlier run stay suspended */
  uint64_t snapshot_log_bytes; /**< a snapshot once the log holds more than this */
  /* A member of a replicated group (cluster.h) instead of a directory: the
   * log is the group's, in etcd; dir is NULL then. Borrowed by persist_new. */
  const struct cluster_cfg *cluster;
} persist_cfg;

#define PERSIST_CFG_DEFAULT                                                                        \
  { NULL, WAL_FSYNC_ALWAYS, PERSIST_RESUME_DEFAULT_MS, PERSIST_SNAPSHOT_LOG_DEFAULT, NULL }

/* The default data directory, ~/.statemgr/data (beside the authkey), into
 * buf. Returns 0, or -1 when no home directory is known. */
int persist_default_dir(char *buf, size_t len);

/* The name of a fsync mode ("always", "everysec", "no"), and back (-1 for
 * a name that is none of them). The order is wal_fsync_mode's and the
 * public sm_fsync_mode's. */
const char *persist_fsync_name(wal_fsync_mode m);
int persist_fsync_parse(const char *name);

/* Makes cfg->dir (mode 0700, its parent too) or checks it: a directory of
 * the user running the daemon (or root's), that group and others may not
 * use; then locks it (flock on its "lock" file), so that a second daemon
 * on it is refused. Returns 0 with *out set (free with persist_free), or
 * -1 with err saying why and how to fix it. */
int persist_new(struct sm_server *srv, const persist_cfg *cfg, persist **out, char *err,
                size_t errlen);

/* Recovers the state into srv's registry (the newest snapshot, then the
 * log after it, a torn tail cut off and logged), sets srv->instance from
 * the "instance" file (made once), opens the log and sets it as the
 * registry's command sink, begins this run's ids, and suspends the
 * sessions of the earlier run until the resume timeout. Returns 0, or -1
 * with err naming what is damaged (a file and an offset) or what failed. */
int persist_start(persist *p, char *err, size_t errlen);

/* Loads the snapshot file at path into srv's registry, which must be
 * empty: its objects, then its sessions table (suspended, as at a
 * restart). Returns 0 with *meta filled, or -1 with err naming what is
 * wrong (the registry then holds what was loaded so far). The durable
 * daemon's start, and a member of a group catching up from the group's
 * snapshot (cluster_snap.h). */
struct snap_meta;
int persist_load_file(struct sm_server *srv, const char *path, struct snap_meta *meta, char *err,
                      size_t errlen);

/* Begins this run's ids (a BEGIN_IDS command) and suspends the sessions of
 * the earlier run (or, in a group, of the earlier leader) until the resume
 * timeout, then ends those not resumed. Called by persist_start, and by
 * the cluster when this member takes over as leader. */
void persist_begin_run(persist *p);

/* True when clients may be served: always, except a member of a group
 * that is not its serving leader (conn.c answers REDIRECT then). */
bool persist_serving(const persist *p);
/* False while answers may not leave (a leader of a group whose lease is
 * not known valid: cluster_may_answer); true without a group. */
bool persist_may_answer(const persist *p);
/* The largest arguments of a mutating call the log takes (a replicated
 * group's: CLUSTER_RECORD_MAX); 0: no limit. */
size_t persist_record_max(const persist *p);
/* The leader's URL for a REDIRECT ("" when none is known; borrowed). */
const char *persist_leader_url(const persist *p);
/* The member of a replicated group, or NULL (for info). */
struct cluster *persist_cluster(const persist *p);

/* At a clean stop, after the loop: every record written and synced, then
 * a snapshot of the final state (the log it covers removed). Logs what
 * fails. Nothing after a fatal log error. */
void persist_stop(persist *p);

/* Unlocks the directory and frees p; answers parked `save` calls
 * SHUTTING_DOWN. NULL is fine. */
void persist_free(persist *p);

/* The index of the last command appended: an answer queued now shows the
 * state up to it. */
uint64_t persist_mark(const persist *p);
/* The log index an answer to a call on object (0: the manager) must wait
 * for: the last record that named o, or any record that named no single
 * object (a session's end, a create, a delete); for an object that is not
 * there (o NULL), the last record. So reads of objects whose changes are
 * durable are answered at once, also while newer changes of others wait
 * (a full disk). */
uint64_t persist_answer_mark(const persist *p, uint64_t object, const sm_obj *o);
/* The highest index known durable. */
uint64_t persist_durable(const persist *p);

/* Before a loop turn's answers go out (wal_write_now): with --fsync always,
 * hands the turn's commands to the writer thread's next sync, all
 * together, or syncs them here when waiting (the connections whose
 * answers wait for the log) shows a lone client; with everysec or no,
 * writes them to the log now, so the answers they hold back go in the same
 * pass. Nothing without a data directory. NULL is fine. */
void persist_write_now(persist *p, unsigned waiting);
/* True while the disk is full: mutating calls are refused. */
bool persist_full(const persist *p);
/* True after a fatal log error: the daemon is stopping with an error. */
bool persist_failed(const persist *p);

/* A group's snapshot (cluster_snap.h) taken at command index is
 * published (err NULL): the `save` calls it satisfies are answered; or it
 * failed: they all are answered with err. */
void persist_snapshot_result(persist *p, uint64_t index, const char *err);

/* The `save` method: starts a snapshot (unless one runs) and parks c until
 * it is written. Returns CALL_PARKED, or a WS_* error with c->err filled. */
int persist_save(persist *p, call *c);

/* What info and /metrics show. */
typedef struct persist_info {
  const char *dir;
  const char *fsync;
  uint64_t log_bytes;
  uint64_t last_index, durable_index;
  uint64_t syncs;
  bool disk_full;
  bool snapshot_running;
  uint64_t snapshots;           /* written since start */
  uint64_t snapshot_index;      /* of the last one written (0: none) */
  int64_t snapshot_time_ms;     /* when it was taken, Unix ms (0: none) */
  int64_t snapshot_duration_ms; /* how long it took to write */
  const char *snapshot_status;  /* "none", "ok", "failed" */
} persist_info;

void persist_get_info(const persist *p, persist_info *out);

#endif
