/* SPDX-License-Identifier: MIT */
/* cluster.h - a member of a replicated group (statemgrd --cluster NAME
 * --etcd URLS --advertise URL): the command log kept in etcd instead of a
 * data directory, the leader's election, shipping the leader's commands,
 * and the followers applying them.
 *
 * The keys of group NAME in etcd, under "/statemgr/NAME/":
 *   instance      the group's instance id (16 hex digits), put once by the
 *                 first member; every leader tells it to its clients
 *   leader        the advertise URL of the leader, put only if absent, on
 *                 the leader's lease: it goes when the lease expires
 *   log/<seq>     the command batches, seq zero-padded to 20 digits from 1;
 *                 each [u64 leader's key create revision][u64 seq] then
 *                 [u32 length][record] per command (cmd.h), little-endian;
 *                 those before the last snapshot's batch are deleted
 *   snapshot, snap/  the group's snapshot (cluster_snap.h); the watch of the
 *                 group's keys ends before snap/, whose chunks no member
 *                 applies
 *
 * The leader executes a call, then ships it (as the durable daemon logs
 * it): its commands of a loop turn go in one batch (at most
 * CLUSTER_BATCH_MAX bytes, or less when etcd's request limit is smaller;
 * a record too large to share one goes alone), appended with a Txn
 * guarded by the leader key's create revision being its own and the batch
 * key being absent, so a retried append is applied once and a deposed
 * leader appends nothing; one append is in flight at a time, while the
 * next batch fills, except that a batch that reached that size may go
 * beside it (at most CLUSTER_INFLIGHT in flight). Answers wait (conn.c,
 * through persist.h) until etcd acknowledged the batch of the last
 * command they show. Every member loads the group's snapshot, watches the
 * group's keys from the revision after it, and applies the batches of
 * others in revision order through the replay path (cmd_replay), so all
 * hold the same state; a member elected
 * leader serves once it has applied everything up to its election.
 *
 * The leader answers only while its lease is known to be valid: the time
 * a keepalive that etcd acknowledged was sent, plus the TTL, minus a
 * margin. Past it, its answers wait (a renewal may still come back: etcd
 * extends leases when it elects a leader of its own); a further TTL
 * without one, or an append refused, or its key gone, and it steps down:
 * it answers nothing more, and since its state may hold commands etcd
 * never took, it restarts from the log (the daemon's run ends with
 * sm_server_needs_restart true; statemgrd runs itself again). A follower
 * refuses clients with REDIRECT and the leader's URL.
 *
 * etcd refusing a request for good (a 4xx: ETCD_REFUSED) is not retried:
 * a batch etcd will never take (too large for its --max-request-bytes:
 * the member was told a larger --etcd-max-request-bytes, or an internal
 * record outgrew it) or a keepalive it refuses makes the leader step down
 * with etcd's reason; the group's instance id or its watch refused (permissions) stops
 * the member with an error (cluster_failed); a refused campaign is retried
 * only after a TTL, logged as an error. */
#ifndef SM_SERVER_CLUSTER_H
#define SM_SERVER_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sm_server;
typedef struct cluster cluster;

#define CLUSTER_TTL_DEFAULT_S 3
#define CLUSTER_BATCH_MAX ((size_t)64 * 1024)
#define CLUSTER_INFLIGHT 2 /* appends in flight, the second only with a full batch */
/* etcd's --max-request-bytes as the member is told it
 * (--etcd-max-request-bytes): etcd's default, and the range accepted.
 * etcd measures a request as its raft entry (protobuf: a value's own
 * bytes, not the base64 of the JSON gateway; measured on etcd 3.4 with
 * --max-request-bytes 20000: a Txn putting 19800 bytes is taken, 19900
 * refused). A request holding a value of n bytes (a batch, a snapshot's
 * chunk) stays under the limit when n + CLUSTER_TXN_ROOM is: the room
 * covers the Txn's keys (five mentions of keys under 170 bytes), its
 * compares and the entry's own header. */
#define CLUSTER_ETCD_REQUEST_DEFAULT ((size_t)1536 * 1024)
#define CLUSTER_ETCD_REQUEST_MIN ((size_t)16 * 1024)
#define CLUSTER_ETCD_REQUEST_MAX ((size_t)1024 * 1024 * 1024)
#define CLUSTER_TXN_ROOM ((size_t)2048)
/* What a command's record holds beyond its arguments as list items
 * (dispatch counts those): its kind, time, session, object, method name,
 * seq, ack and guard, and the list heads around them. */
#define CLUSTER_RECORD_HEAD_ROOM ((size_t)256)

/* The settings of a member (options of statemgr_server.h). */
typedef struct cluster_cfg {
  const char *name;            /**< the group's name: its keys' prefix in etcd */
  const char *etcd;            /**< comma-separated etcd URLs (http:// or https://host:port) */
  const char *advertise;       /**< this member's URL as clients reach it */
  int lease_ttl_s;             /**< the leader's lease; 0: CLUSTER_TTL_DEFAULT_S */
  size_t etcd_max_request;     /**< etcd's --max-request-bytes; 0: CLUSTER_ETCD_REQUEST_DEFAULT */
  uint64_t snapshot_log_bytes; /**< a snapshot each time this much was shipped (0: default) */
  /* https:// etcd URLs: the CA of etcd's certificate (NULL: the system's)
   * and this member's client certificate and key (NULL: none). */
  const char *etcd_cacert, *etcd_cert, *etcd_key;
} cluster_cfg;

/* Checks cfg and makes the member (nothing is sent yet). Returns 0 with
 * *out set (free with cluster_free), or -1 with err saying what is wrong. */
int cluster_new(struct sm_server *srv, const cluster_cfg *cfg, cluster **out, char *err,
                size_t errlen);

/* Starts following the group: the instance id, the log's watch, the
 * election. Returns 0, or -1 with err filled. */
int cluster_start(cluster *cl, char *err, size_t errlen);

/* Stops the member: a leader gives its lease back (revoked, so another
 * takes over without waiting for the TTL) after its batches in flight are
 * answered or a short time passes. Runs the loop itself for that; called
 * after the loop ended. */
void cluster_stop(cluster *cl);

/* Frees the member; NULL is fine. */
void cluster_free(cluster *cl);

/* The command sink's half: appends one record to the leader's current
 * batch and returns its index (counted from 1 in this run). 0 when the
 * member is not leading (nothing may change its state then but the log:
 * the member restarts from the log) or memory runs out. */
uint64_t cluster_append(cluster *cl, const uint8_t *rec, size_t len);

/* Once a loop turn, before its answers go out: ships the turn's batch. */
void cluster_flush(cluster *cl);

/* The largest arguments of one change, as list items of its record
 * (vw_item_size each): the record then fits, with its batch's head, in
 * one append under etcd's request limit. dispatch refuses a larger change
 * before it runs. */
size_t cluster_record_max(const cluster *cl);

/* The index of the last record appended, and the highest one etcd took. */
uint64_t cluster_last_index(const cluster *cl);
uint64_t cluster_durable_index(const cluster *cl);

/* True when the log did not apply to this member's state: the daemon
 * stopped with an error. */
bool cluster_failed(const cluster *cl);

/* True when this member leads and serves clients (elected and caught
 * up): its calls run; their answers leave while cluster_may_answer. */
bool cluster_serving(const cluster *cl);

/* False while a leader's lease is not known to be valid (a renewal did
 * not come back in time: etcd may be electing its own leader), and after
 * it stepped down: no answer of any kind leaves then, so that no client
 * reads what a leader that may have been replaced holds. A renewal that
 * comes back lets them all go (conn_flush_all); none within a further TTL
 * makes it step down. A follower's answers (REDIRECT, info) always go. */
bool cluster_may_answer(const cluster *cl);

/* The leader's URL as this member knows it (borrowed; "" when none). */
const char *cluster_leader_url(const cluster *cl);

/* What info and the CLI show. */
typedef struct cluster_info {
  const char *name;
  const char *role; /* "leader", "candidate", "follower", "stepping-down", "starting" */
  const char *leader;
  const char *advertise;
  const char *etcd;         /* the etcd URL requests go to now */
  int64_t applied_revision; /* the last etcd revision applied */
  int64_t etcd_revision;    /* the newest revision etcd told of */
  uint64_t applied_batches; /* the last batch seq applied or shipped */
  int lease_ttl_s;
  uint64_t snapshot_seq;     /* the group's last snapshot: the batches it holds (0: none) */
  int64_t snapshot_revision; /* the etcd revision it holds everything up to */
  uint64_t snapshot_bytes;   /* its size */
  /* The appends of this member's runs as leader: sent (each attempt),
   * refused because the batch before had not reached etcd yet, failed in
   * transport. */
  uint64_t appends, appends_behind, appends_retried;
} cluster_info;

void cluster_get_info(const cluster *cl, cluster_info *out);

/* `save` on the leader: takes the group's snapshot now unless one is
 * being taken (persist_snapshot_result answers). Nothing on a member that
 * does not lead. */
void cluster_snapshot_now(cluster *cl);

/* The group's snapshots as this member knows them. */
struct csnap_info;
void cluster_snapshot_info(const cluster *cl, struct csnap_info *out);

#endif
