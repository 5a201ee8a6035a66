/* SPDX-License-Identifier: MIT */
/* cluster_snap.c - the group's snapshots in etcd (see cluster_snap.h):
 * the leader's pipeline (child, chunks, manifest with the log's trim,
 * compaction) and a starting member's load.
 *
 * The pipeline is one step at a time: FORKED (the child writes; a timer
 * reaps it), UPLOAD (one chunk put in flight), WAIT_REV (every chunk is
 * stored, the covered batch is not acknowledged yet), PUBLISH (the
 * manifest's Txn), COMPACT. Every request carries the pipeline's
 * generation: an answer to a snapshot that was abandoned meanwhile is
 * dropped. */
#include "cluster_snap.h"

#include "clock.h"
#include "crc32c.h"
#include "etcd.h"
#include "log.h"
#include "persist.h"
#include "registry.h"
#include "server.h"
#include "snapshot.h"
#include "cmd.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CSNAP_KEY_MAX 640
#define REAP_POLL_MS 20
#define RETRY_MS 200 /* a request that failed in transport, doubled up to RETRY_MAX_MS */
#define RETRY_MAX_MS 3200
#define STEP_TRIES 20 /* a step of the leader's snapshot failing this often gives it up */

typedef enum step { IDLE, FORKED, UPLOAD, WAIT_REV, PUBLISH, COMPACT } step;

/* The group's newest snapshot, as its manifest says. */
typedef struct manifest {
  char id[64];
  uint64_t chunks, seq, bytes;
  uint64_t chunk; /* a chunk's bytes (the last one's at most) */
  int64_t revision, time_ms, leader_rev;
  uint32_t crc;
} manifest;

/* Consecutive batches this member applied from the log (others'), after
 * the group's last snapshot it knows: first..last, bytes in all. A
 * member that takes over counts its next snapshot from their bytes. */
typedef struct log_span {
  uint64_t first, last, bytes;
} log_span;
#define LOG_SPANS 64 /* then the two smallest neighbours merge: each holds ~1/32 of the bytes */

typedef void (*step_fn)(struct csnap *s, int status, json_object *reply, const char *err);

struct csnap {
  struct sm_server *srv;
  struct etcd *e;
  char name[128];
  char leader_key[CSNAP_KEY_MAX];
  char log_prefix[CSNAP_KEY_MAX];
  char snap_prefix[CSNAP_KEY_MAX]; /* .../snap/ */
  char manifest_key[CSNAP_KEY_MAX];
  uint64_t log_bytes;
  size_t chunk_max; /* the chunks this member stores: CSNAP_CHUNK, or less to fit etcd's limit */
  char dir[256];    /* the temporary directory ("" until made) */
  struct event *reap_ev, *retry_ev;
  uint64_t gen;    /* bumped when a snapshot is abandoned */
  uint64_t serial; /* snapshots begun by this member: in the id, so no two share chunks */
  int fails;       /* transport failures in a row (the backoff) */
  bool inflight;   /* a request is in flight (for req_gen's step, req_fn) */
  uint64_t req_gen;
  step_fn req_fn;
  uint64_t since;            /* bytes shipped since the last snapshot began */
  log_span spans[LOG_SPANS]; /* the log applied after the last snapshot known (a follower's) */
  int nspans;
  /* The leader's snapshot being taken. */
  step step;
  pid_t child;
  int fd; /* the file, unlinked once reaped */
  manifest m;
  uint64_t index, next_chunk;
  uint32_t crc;
  uint64_t crc_upto; /* the bytes the CRC covers so far (a retried chunk is not added twice) */
  int64_t start_ms;
  /* What info shows. */
  manifest last;       /* the group's newest known */
  int64_t trimmed_rev; /* the last trim of the log the watch brought */
  uint64_t taken, last_index;
  int64_t duration_ms;
  const char *status;
  /* A starting member's load. */
  csnap_loaded_fn load_fn;
  void *load_ctx;
  int load_fd;
  manifest lm;
  uint64_t load_chunk;
  uint32_t load_crc;
  uint64_t load_bytes;
};

static void upload_next(csnap *s);
static void publish(csnap *s);
static void load_manifest(csnap *s);

static void add_ms(struct event *ev, int64_t ms) {
  struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
  evtimer_add(ev, &tv);
}

static json_object *b64(const char *s) { return etcd_b64_string(s, strlen(s)); }

/* ---- requests tied to a generation ---- */

/* The one request in flight (the pipeline and the load go a step at a
 * time, and never both: only a starting member loads, only a leader
 * takes), kept in s so that a request etcd_free drops leaks nothing. */

static void req_reply(void *ctx, int status, json_object *reply, const char *err) {
  csnap *s = ctx;
  s->inflight = false;
  s->fails = status == 0 ? 0 : s->fails + 1;
  if (s->req_gen == s->gen) s->req_fn(s, status, reply, err);
}

/* Sends body to path; fn runs with the answer unless the snapshot was
 * abandoned meanwhile. -1 when it could not be sent (fn not called). */
static int send_req(csnap *s, const char *path, json_object *body, step_fn fn) {
  if (s->inflight) { /* an abandoned snapshot's answer is still to come */
    json_object_put(body);
    return -1;
  }
  s->req_gen = s->gen;
  s->req_fn = fn;
  if (etcd_call(s->e, path, body, req_reply, s) != 0) return -1;
  s->inflight = true;
  return 0;
}

/* Runs the step again after a transport failure, later each time; false
 * (and the snapshot given up) when a step of the leader's failed too
 * often: etcd refuses it for good (a chunk too large for its limit). */
static bool retry_later(csnap *s) {
  if (s->step != IDLE && s->fails >= STEP_TRIES) return false;
  int64_t ms = RETRY_MS;
  for (int i = 1; i < s->fails && ms < RETRY_MAX_MS; i++)
    ms *= 2;
  add_ms(s->retry_ev, ms);
  return true;
}

/* ---- keys and JSON ---- */

static void chunk_key(const csnap *s, const char *id, uint64_t i, char *buf, size_t len) {
  snprintf(buf, len, "%s%s/%06" PRIu64, s->snap_prefix, id, i);
}

/* A Txn that does what is added to it only while the leader key is
 * the one put at leader_rev. */
static json_object *guarded_txn(const csnap *s, int64_t leader_rev) {
  json_object *body = etcd_txn_new();
  etcd_txn_compare(body, s->leader_key, "CREATE", "EQUAL", leader_rev);
  return body;
}

static json_object *manifest_json(const manifest *m) {
  json_object *j = json_object_new_object();
  char crc[16];
  snprintf(crc, sizeof crc, "%08" PRIx32, m->crc);
  json_object_object_add(j, "id", json_object_new_string(m->id));
  json_object_object_add(j, "chunks", json_object_new_int64((int64_t)m->chunks));
  json_object_object_add(j, "chunk_bytes", json_object_new_int64((int64_t)m->chunk));
  json_object_object_add(j, "seq", json_object_new_int64((int64_t)m->seq));
  json_object_object_add(j, "revision", json_object_new_int64(m->revision));
  json_object_object_add(j, "bytes", json_object_new_int64((int64_t)m->bytes));
  json_object_object_add(j, "crc32c", json_object_new_string(crc));
  json_object_object_add(j, "time_ms", json_object_new_int64(m->time_ms));
  json_object_object_add(j, "leader_revision", json_object_new_int64(m->leader_rev));
  return j;
}

/* Parses a manifest's JSON text. Returns 0, or -1 when it is not one. */
static int manifest_parse(const uint8_t *v, size_t n, manifest *m) {
  json_tokener *tok = json_tokener_new();
  if (!tok) return -1;
  json_object *j = json_tokener_parse_ex(tok, (const char *)v, (int)n);
  json_tokener_free(tok);
  json_object *id = etcd_get(j, "id"), *crc = etcd_get(j, "crc32c");
  int rc = -1;
  if (id && crc && json_object_is_type(id, json_type_string) &&
      json_object_get_string_len(id) < (int)sizeof m->id) {
    *m = (manifest){.chunks = (uint64_t)json_object_get_int64(etcd_get(j, "chunks")),
                    .seq = (uint64_t)json_object_get_int64(etcd_get(j, "seq")),
                    .bytes = (uint64_t)json_object_get_int64(etcd_get(j, "bytes")),
                    .revision = json_object_get_int64(etcd_get(j, "revision")),
                    .time_ms = json_object_get_int64(etcd_get(j, "time_ms")),
                    .leader_rev = json_object_get_int64(etcd_get(j, "leader_revision")),
                    .chunk = (uint64_t)json_object_get_int64(etcd_get(j, "chunk_bytes")),
                    .crc = (uint32_t)strtoul(json_object_get_string(crc), NULL, 16)};
    snprintf(m->id, sizeof m->id, "%s", json_object_get_string(id));
    if (m->chunk == 0) m->chunk = CSNAP_CHUNK; /* a manifest of before chunk_bytes */
    rc = m->revision > 0 && m->bytes > 0 && m->chunks == (m->bytes + m->chunk - 1) / m->chunk ? 0
                                                                                              : -1;
  }
  json_object_put(j);
  return rc;
}

/* ---- the temporary directory ---- */

#define SNAP_DIR_PREFIX "statemgrd-snap-"

static const char *tmp_root(void) {
  const char *tmp = getenv("TMPDIR");
  return tmp && tmp[0] ? tmp : "/tmp";
}

/* The directory is named statemgrd-snap-PID-XXXXXX, so that a member
 * starting can tell the ones of members killed in the middle of a
 * snapshot or a load (snap_sweep). */
static int make_dir(csnap *s, char *err, size_t errlen) {
  if (s->dir[0]) return 0;
  snprintf(s->dir, sizeof s->dir, "%s/" SNAP_DIR_PREFIX "%ld-XXXXXX", tmp_root(), (long)getpid());
  if (!mkdtemp(s->dir)) {
    snprintf(err, errlen, "cannot make a temporary directory %s: %s", s->dir, strerror(errno));
    s->dir[0] = '\0';
    return -1;
  }
  return 0;
}

/* Removes the directory and what may be in it: it is made for each
 * snapshot and each load, so that only a daemon killed in the middle of
 * one leaves it behind. */
static void clear_dir(csnap *s) {
  if (!s->dir[0]) return;
  char path[512];
  snprintf(path, sizeof path, "%s/snapshot-%020" PRIu64 ".snap", s->dir, s->m.seq);
  unlink(path);
  snprintf(path, sizeof path, "%s/snapshot-%020" PRIu64 ".snap.tmp", s->dir, s->m.seq);
  unlink(path);
  snprintf(path, sizeof path, "%s/load.snap", s->dir);
  unlink(path);
  if (rmdir(s->dir) != 0) log_warn("cannot remove %s: %s", s->dir, strerror(errno));
  s->dir[0] = '\0';
}

/* Removes the files of directory dir (a snapshot directory holds files
 * only), then dir. */
static void remove_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
      unlinkat(dirfd(d), de->d_name, 0);
  closedir(d);
  if (rmdir(dir) == 0) log_info("removed %s, left by a member that was killed", dir);
}

/* Removes this user's snapshot directories whose member no longer runs:
 * its process is gone, or it is this process before an execv (a member
 * stepping down starts again with its pid). A pid taken since by another
 * program keeps its directory: nothing is removed that may be in use. */
static void snap_sweep(void) {
  DIR *d = opendir(tmp_root());
  if (!d) return;
  struct dirent *de;
  char path[PATH_MAX];
  while ((de = readdir(d)) != NULL) {
    if (strncmp(de->d_name, SNAP_DIR_PREFIX, strlen(SNAP_DIR_PREFIX)) != 0) continue;
    char *end = NULL;
    long pid = strtol(de->d_name + strlen(SNAP_DIR_PREFIX), &end, 10);
    if (pid <= 0 || !end || *end != '-') continue;
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", tmp_root(), de->d_name);
    if (lstat(path, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid()) continue;
    bool gone = kill((pid_t)pid, 0) != 0 && errno == ESRCH;
    if (gone || pid == (long)getpid()) remove_dir(path);
  }
  closedir(d);
}

/* ---- the leader's snapshot ---- */

/* The group's last snapshot known is now s->last: the batches it holds
 * leave the spans (one holding it in part keeps its share of the bytes,
 * counted by batches). */
static void spans_forget_covered(csnap *s) {
  uint64_t seq = s->last.seq;
  int keep = 0;
  for (int i = 0; i < s->nspans; i++) {
    log_span sp = s->spans[i];
    if (sp.last <= seq) continue;
    if (sp.first <= seq) {
      sp.bytes = sp.bytes * (sp.last - seq) / (sp.last - sp.first + 1);
      sp.first = seq + 1;
    }
    s->spans[keep++] = sp;
  }
  s->nspans = keep;
}

static void finish(csnap *s, bool ok, const char *why) {
  if (s->fd >= 0) close(s->fd);
  s->fd = -1;
  clear_dir(s);
  s->step = IDLE;
  s->duration_ms = clock_mono_ms() - s->start_ms;
  s->status = ok ? "ok" : "failed";
  persist *p = s->srv->persist;
  if (ok) {
    s->taken++;
    s->last = s->m;
    spans_forget_covered(s);
    s->last_index = s->index;
    log_info("cluster %s: snapshot of batch %" PRIu64 " (revision %" PRId64 ", %" PRIu64
             " bytes in %" PRIu64 " chunks) published in %" PRId64 " ms",
             s->name, s->m.seq, s->m.revision, s->m.bytes, s->m.chunks, s->duration_ms);
  } else {
    log_warn("cluster %s: the snapshot of batch %" PRIu64 " is not published: %s", s->name,
             s->m.seq, why);
  }
  if (p) persist_snapshot_result(p, s->index, ok ? NULL : why);
}

void csnap_abandon(csnap *s) {
  if (!s || s->step == IDLE) return;
  s->gen++;
  evtimer_del(s->reap_ev);
  evtimer_del(s->retry_ev);
  if (s->child) {
    kill(s->child, SIGKILL);
    char err[256];
    while (snap_reap(s->child, err, sizeof err) == 0) {
      struct timespec ts = {0, 2 * 1000000};
      nanosleep(&ts, NULL);
    }
    s->child = 0;
  }
  finish(s, false, "this member no longer leads");
}

static void compact_reply(csnap *s, int status, json_object *reply, const char *err) {
  (void)reply;
  /* A compaction refused (etcd compacted further already) costs nothing:
   * the snapshot is published either way. */
  if (status != 0)
    log_warn("cluster %s: compacting etcd to revision %" PRId64 ": %s", s->name, s->m.revision,
             err);
  finish(s, true, NULL);
}

static void compact(csnap *s) {
  s->step = COMPACT;
  json_object *body = json_object_new_object();
  json_object_object_add(body, "revision", json_object_new_int64(s->m.revision));
  if (send_req(s, "/v3/kv/compaction", body, compact_reply) != 0) finish(s, true, NULL);
}

static void publish_reply(csnap *s, int status, json_object *reply, const char *err) {
  if (status != 0) {
    log_warn("cluster %s: publishing the snapshot failed, retrying: %s", s->name, err);
    if (!retry_later(s)) finish(s, false, err); /* idempotent: same manifest, same deletes */
    return;
  }
  if (!etcd_get_bool(reply, "succeeded")) {
    finish(s, false, "the leader key is no longer this member's");
    return;
  }
  compact(s);
}

/* The manifest, with the trim of the log and of the other snapshots'
 * chunks, in one Txn guarded by leadership. */
static void publish(csnap *s) {
  s->step = PUBLISH;
  json_object *body = guarded_txn(s, s->m.leader_rev);
  json_object *m = manifest_json(&s->m);
  const char *text = json_object_to_json_string(m);
  etcd_txn_put(body, false, s->manifest_key, text, strlen(text), 0);
  json_object_put(m);
  if (s->m.seq > 1) { /* batch seq stays: the next append's guard names it */
    char to[CSNAP_KEY_MAX + 32];
    snprintf(to, sizeof to, "%s%020" PRIu64, s->log_prefix, s->m.seq);
    etcd_txn_delete(body, false, s->log_prefix, to);
  }
  char mine[CSNAP_KEY_MAX + 80], mine_end[CSNAP_KEY_MAX + 80], all_end[CSNAP_KEY_MAX];
  snprintf(mine, sizeof mine, "%s%s/", s->snap_prefix, s->m.id);
  etcd_prefix_end(mine, mine_end, sizeof mine_end);
  etcd_prefix_end(s->snap_prefix, all_end, sizeof all_end);
  etcd_txn_delete(body, false, s->snap_prefix, mine);
  etcd_txn_delete(body, false, mine_end, all_end);
  if (send_req(s, "/v3/kv/txn", body, publish_reply) != 0) add_ms(s->retry_ev, RETRY_MS);
}

static void chunk_reply(csnap *s, int status, json_object *reply, const char *err) {
  if (status != 0) {
    log_warn("cluster %s: storing snapshot chunk %" PRIu64 " failed, retrying: %s", s->name,
             s->next_chunk, err);
    if (!retry_later(s)) finish(s, false, err);
    return;
  }
  if (!etcd_get_bool(reply, "succeeded")) {
    finish(s, false, "the leader key is no longer this member's");
    return;
  }
  s->next_chunk++;
  upload_next(s);
}

/* Sends the next chunk, or publishes once all are stored and the covered
 * batch's revision is known. */
static void upload_next(csnap *s) {
  if (s->next_chunk == s->m.chunks) {
    s->m.crc = s->crc;
    s->step = WAIT_REV;
    if (s->m.revision > 0) publish(s);
    return;
  }
  s->step = UPLOAD;
  uint64_t off = s->next_chunk * s->m.chunk;
  size_t want = s->m.bytes - off < s->m.chunk ? (size_t)(s->m.bytes - off) : (size_t)s->m.chunk;
  uint8_t *buf = malloc(want);
  size_t got = 0;
  while (buf && got < want) {
    ssize_t r = pread(s->fd, buf + got, want - got, (off_t)(off + got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  if (!buf || got < want) {
    free(buf);
    finish(s, false, buf ? "cannot read the snapshot file back" : "out of memory");
    return;
  }
  /* The CRC runs over the chunks as they go, once each (a retry resends). */
  if (s->crc_upto == off) {
    s->crc = crc32c(s->crc, buf, want);
    s->crc_upto = off + want;
  }
  char key[CSNAP_KEY_MAX + 96];
  chunk_key(s, s->m.id, s->next_chunk, key, sizeof key);
  json_object *body = guarded_txn(s, s->m.leader_rev);
  etcd_txn_put(body, false, key, buf, want, 0);
  free(buf);
  if (send_req(s, "/v3/kv/txn", body, chunk_reply) != 0) add_ms(s->retry_ev, RETRY_MS);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  csnap *s = arg;
  char err[800];
  int rc = snap_reap(s->child, err, sizeof err);
  if (rc == 0) {
    add_ms(s->reap_ev, REAP_POLL_MS);
    return;
  }
  s->child = 0;
  if (rc < 0) {
    finish(s, false, err);
    return;
  }
  char path[512];
  snprintf(path, sizeof path, "%s/snapshot-%020" PRIu64 ".snap", s->dir, s->m.seq);
  s->fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (s->fd < 0 || fstat(s->fd, &st) != 0) {
    snprintf(err, sizeof err, "cannot open %s: %s", path, strerror(errno));
    finish(s, false, err);
    return;
  }
  clear_dir(s); /* read through fd: nothing is left behind if the daemon dies */
  s->m.bytes = (uint64_t)st.st_size;
  s->m.chunk = s->chunk_max;
  s->m.chunks = (s->m.bytes + s->m.chunk - 1) / s->m.chunk;
  s->next_chunk = 0;
  s->crc = 0;
  s->crc_upto = 0;
  log_info("cluster %s: snapshot of batch %" PRIu64 " written (%" PRIu64
           " bytes): storing it in etcd",
           s->name, s->m.seq, s->m.bytes);
  upload_next(s);
}

/* Retries the step that failed in transport. */
static void retry_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  csnap *s = arg;
  if (s->step == UPLOAD)
    upload_next(s);
  else if (s->step == PUBLISH)
    publish(s);
  else if (s->load_fn)
    load_manifest(s);
}

bool csnap_note_shipped(csnap *s, size_t bytes) {
  s->since += bytes;
  return s->since > s->log_bytes && s->step == IDLE && !s->inflight;
}

void csnap_note_applied(csnap *s, uint64_t seq, size_t bytes) {
  if (seq <= s->last.seq) return;
  if (s->nspans == LOG_SPANS) { /* merge the neighbours with the fewest bytes */
    int best = 0;
    for (int i = 1; i + 1 < s->nspans; i++)
      if (s->spans[i].bytes + s->spans[i + 1].bytes <
          s->spans[best].bytes + s->spans[best + 1].bytes)
        best = i;
    s->spans[best].last = s->spans[best + 1].last;
    s->spans[best].bytes += s->spans[best + 1].bytes;
    memmove(&s->spans[best + 1], &s->spans[best + 2],
            (size_t)(s->nspans - best - 2) * sizeof s->spans[0]);
    s->nspans--;
  }
  s->spans[s->nspans++] = (log_span){.first = seq, .last = seq, .bytes = bytes};
}

bool csnap_took_over(csnap *s) {
  s->since = 0;
  for (int i = 0; i < s->nspans; i++)
    s->since += s->spans[i].bytes;
  s->nspans = 0;
  return s->since > s->log_bytes && s->step == IDLE && !s->inflight;
}

bool csnap_running(const csnap *s) { return s->step != IDLE; }

int csnap_take(csnap *s, uint64_t seq, uint64_t index, int64_t rev, int64_t leader_rev) {
  if (s->step != IDLE || s->inflight) return 0;
  s->since = 0; /* also when it fails: the next try comes after as much log again */
  char err[512], unsaved[512];
  if (make_dir(s, err, sizeof err) != 0) {
    log_error("cluster %s: no snapshot: %s", s->name, err);
    s->status = "failed";
    persist_snapshot_result(s->srv->persist, index, err);
    return -1;
  }
  if (snap_unsaved_types(s->srv->reg, unsaved, sizeof unsaved))
    log_warn("objects of the custom types %s are kept in memory only (no serialize callback): "
             "the group's snapshot leaves them out",
             unsaved);
  s->m =
      (manifest){.seq = seq, .revision = rev, .time_ms = clock_unix_ms(), .leader_rev = leader_rev};
  s->serial++;
  snprintf(s->m.id, sizeof s->m.id, "%020" PRIu64 "-%020" PRId64 "-%06" PRIu64, seq, leader_rev,
           s->serial % 1000000);
  snap_meta meta = {.index = seq,
                    .instance = s->srv->instance,
                    .next_id = reg_next_id(s->srv->reg),
                    .time_ms = s->m.time_ms};
  pid_t pid =
      snap_fork(s->srv->reg, s->dir, &meta, cmd_sessions_save, s->srv->reg, err, sizeof err);
  if (pid < 0) {
    log_error("cluster %s: cannot start a snapshot: %s", s->name, err);
    s->status = "failed";
    persist_snapshot_result(s->srv->persist, index, err);
    return -1;
  }
  s->child = pid;
  s->fails = 0;
  s->index = index;
  s->start_ms = clock_mono_ms();
  s->step = FORKED;
  log_info("cluster %s: snapshot of batch %" PRIu64 " started (pid %d)", s->name, seq, (int)pid);
  add_ms(s->reap_ev, REAP_POLL_MS);
  return 0;
}

void csnap_acked(csnap *s, uint64_t seq, int64_t rev) {
  if (s->step == IDLE || seq != s->m.seq || s->m.revision > 0) return;
  s->m.revision = rev;
  if (s->step == WAIT_REV) publish(s);
}

/* ---- a starting member's load ---- */

static void load_reset(csnap *s) {
  if (s->load_fd >= 0) close(s->load_fd);
  s->load_fd = -1;
  clear_dir(s);
}

static void load_again(csnap *s, const char *why) {
  log_warn("cluster %s: loading the group's snapshot: %s; trying again", s->name, why);
  load_reset(s);
  retry_later(s); /* a starting member has nothing else to do: it keeps trying */
}

static void load_done(csnap *s, int rc) {
  csnap_loaded_fn fn = s->load_fn;
  s->load_fn = NULL;
  fn(s->load_ctx, rc, s->lm.seq, s->lm.revision);
}

/* Every chunk is in the file: check it and load it. */
static void load_file(csnap *s) {
  char path[512], err[600];
  snprintf(path, sizeof path, "%s/load.snap", s->dir);
  if (s->load_bytes != s->lm.bytes || s->load_crc != s->lm.crc) {
    snprintf(err, sizeof err,
             "snapshot %s holds %" PRIu64 " bytes of CRC32C %08" PRIx32
             ", its manifest says %" PRIu64 " and %08" PRIx32,
             s->lm.id, s->load_bytes, s->load_crc, s->lm.bytes, s->lm.crc);
    load_again(s, err);
    return;
  }
  close(s->load_fd);
  s->load_fd = -1;
  snap_meta meta;
  int64_t t0 = clock_mono_ms();
  int rc = persist_load_file(s->srv, path, &meta, err, sizeof err);
  clear_dir(s);
  if (rc != 0) {
    log_error("cluster %s: the group's snapshot %s does not load: %s", s->name, s->lm.id, err);
    load_done(s, -1);
    return;
  }
  s->last = s->lm;
  spans_forget_covered(s);
  log_info("cluster %s: loaded the group's snapshot of batch %" PRIu64 " (revision %" PRId64
           ", %" PRIu64 " bytes, %zu objects) in %" PRId64 " ms",
           s->name, s->lm.seq, s->lm.revision, s->lm.bytes, reg_count(s->srv->reg),
           clock_mono_ms() - t0);
  load_done(s, 1);
}

static void load_chunk(csnap *s);

static void load_chunk_reply(csnap *s, int status, json_object *reply, const char *err) {
  if (status != 0) {
    load_again(s, err);
    return;
  }
  json_object *kvs = etcd_get(reply, "kvs");
  json_object *kv = kvs ? json_object_array_get_idx(kvs, 0) : NULL;
  uint8_t *v = NULL;
  size_t n = 0;
  if (!kv) {
    load_again(s, "a chunk is gone (a newer snapshot replaced it)");
    return;
  }
  if (etcd_b64_decode(etcd_get(kv, "value"), &v, &n) != 0) {
    load_again(s, "a chunk is not base64");
    return;
  }
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(s->load_fd, v + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    done += (size_t)w;
  }
  s->load_crc = crc32c(s->load_crc, v, n);
  s->load_bytes += n;
  free(v);
  if (done < n) {
    char why[300];
    snprintf(why, sizeof why, "cannot write into %s: %s", s->dir, strerror(errno));
    load_again(s, why);
    return;
  }
  s->load_chunk++;
  if (s->load_chunk == s->lm.chunks)
    load_file(s);
  else
    load_chunk(s);
}

static void load_chunk(csnap *s) {
  char key[CSNAP_KEY_MAX + 96];
  chunk_key(s, s->lm.id, s->load_chunk, key, sizeof key);
  json_object *body = json_object_new_object();
  json_object_object_add(body, "key", b64(key));
  if (send_req(s, "/v3/kv/range", body, load_chunk_reply) != 0) load_again(s, "no request");
}

static void load_manifest_reply(csnap *s, int status, json_object *reply, const char *err) {
  if (status != 0) {
    load_again(s, err);
    return;
  }
  json_object *kvs = etcd_get(reply, "kvs");
  json_object *kv = kvs ? json_object_array_get_idx(kvs, 0) : NULL;
  if (!kv) {
    load_done(s, 0);
    return;
  }
  uint8_t *v = NULL;
  size_t n = 0;
  int rc = etcd_b64_decode(etcd_get(kv, "value"), &v, &n);
  if (rc == 0) rc = manifest_parse(v, n, &s->lm);
  free(v);
  if (rc != 0) {
    log_error("cluster %s: the key %s holds no snapshot manifest", s->name, s->manifest_key);
    load_done(s, -1);
    return;
  }
  char path[512], why[600];
  if (make_dir(s, why, sizeof why) != 0) {
    load_again(s, why);
    return;
  }
  snprintf(path, sizeof path, "%s/load.snap", s->dir);
  s->load_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (s->load_fd < 0) {
    snprintf(why, sizeof why, "cannot make %s: %s", path, strerror(errno));
    load_again(s, why);
    return;
  }
  s->load_chunk = 0;
  s->load_crc = 0;
  s->load_bytes = 0;
  log_info("cluster %s: the group has a snapshot of batch %" PRIu64 " (%" PRIu64
           " bytes): loading it",
           s->name, s->lm.seq, s->lm.bytes);
  load_chunk(s);
}

static void load_manifest(csnap *s) {
  json_object *body = json_object_new_object();
  json_object_object_add(body, "key", b64(s->manifest_key));
  if (send_req(s, "/v3/kv/range", body, load_manifest_reply) != 0) add_ms(s->retry_ev, RETRY_MS);
}

void csnap_load(csnap *s, csnap_loaded_fn fn, void *ctx) {
  s->load_fn = fn;
  s->load_ctx = ctx;
  load_manifest(s);
}

/* ---- news and info ---- */

/* Not through send_req: a member that follows may become the leader and
 * take a snapshot while this is in flight; nothing is allocated for it. */
static void trimmed_reply(void *ctx, int status, json_object *reply, const char *err) {
  (void)err;
  csnap *s = ctx;
  json_object *kvs = status == 0 ? etcd_get(reply, "kvs") : NULL;
  json_object *kv = kvs ? json_object_array_get_idx(kvs, 0) : NULL;
  uint8_t *v = NULL;
  size_t n = 0;
  manifest m;
  if (kv && etcd_b64_decode(etcd_get(kv, "value"), &v, &n) == 0 && manifest_parse(v, n, &m) == 0 &&
      m.revision > s->last.revision) {
    s->last = m;
    spans_forget_covered(s);
  }
  free(v);
}

void csnap_trimmed(csnap *s, int64_t rev) {
  if (rev <= s->trimmed_rev) return; /* one read for the deletes of one Txn */
  s->trimmed_rev = rev;
  json_object *body = json_object_new_object();
  json_object_object_add(body, "key", b64(s->manifest_key));
  etcd_call(s->e, "/v3/kv/range", body, trimmed_reply, s);
}

const char *csnap_chunk_prefix(const csnap *s) { return s->snap_prefix; }

void csnap_get_info(const csnap *s, csnap_info *out) {
  *out = (csnap_info){.seq = s->last.seq,
                      .revision = s->last.revision,
                      .bytes = s->last.bytes,
                      .time_ms = s->last.time_ms,
                      .taken = s->taken,
                      .index = s->last_index,
                      .duration_ms = s->duration_ms,
                      .running = s->step != IDLE,
                      .status = s->status};
}

/* ---- life cycle ---- */

int csnap_new(struct sm_server *srv, struct etcd *e, const char *name, const char *prefix,
              const char *leader_key, const char *log_prefix, uint64_t log_bytes, size_t chunk_max,
              csnap **out, char *err, size_t errlen) {
  csnap *s = calloc(1, sizeof *s);
  if (!s) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  snap_sweep();
  s->srv = srv;
  s->e = e;
  s->fd = s->load_fd = -1;
  s->status = "none";
  s->log_bytes = log_bytes ? log_bytes : PERSIST_SNAPSHOT_LOG_DEFAULT;
  s->chunk_max = chunk_max && chunk_max < CSNAP_CHUNK ? chunk_max : CSNAP_CHUNK;
  snprintf(s->name, sizeof s->name, "%s", name);
  snprintf(s->leader_key, sizeof s->leader_key, "%s", leader_key);
  snprintf(s->log_prefix, sizeof s->log_prefix, "%s", log_prefix);
  snprintf(s->snap_prefix, sizeof s->snap_prefix, "%ssnap/", prefix);
  snprintf(s->manifest_key, sizeof s->manifest_key, "%ssnapshot", prefix);
  if (!(s->reap_ev = evtimer_new(srv->base, reap_cb, s)) ||
      !(s->retry_ev = evtimer_new(srv->base, retry_cb, s))) {
    csnap_free(s);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  *out = s;
  return 0;
}

void csnap_free(csnap *s) {
  if (!s) return;
  if (s->child) {
    kill(s->child, SIGKILL);
    char err[256];
    while (snap_reap(s->child, err, sizeof err) == 0) {
      struct timespec ts = {0, 2 * 1000000};
      nanosleep(&ts, NULL);
    }
  }
  if (s->fd >= 0) close(s->fd);
  load_reset(s);
  if (s->reap_ev) event_free(s->reap_ev);
  if (s->retry_ev) event_free(s->retry_ev);
  free(s);
}
