/* SPDX-License-Identifier: MIT */
/* persist.c - the durable daemon's glue (see persist.h): the data
 * directory, its lock and instance files, recovery, the log as the
 * command sink, snapshots (by log size, by `save`, at a clean stop), the
 * sessions an earlier run left, and the log's callbacks (durable, full
 * disk, fatal error).
 *
 * The data directory holds "lock" (locked while a daemon uses the
 * directory; it holds that daemon's pid), "instance" (the data set's
 * instance id, 16 hex digits, made once: clients compare it to tell a
 * restarted daemon holding their objects from a new one), the log
 * segments and the snapshots. The lock is a POSIX record lock (fcntl),
 * which a forked child does not inherit: a snapshot child that outlives a
 * killed daemon never keeps the directory locked against its restart. Two
 * servers of one process on one directory are refused by a list of the
 * directories this process holds, since record locks do not conflict
 * within a process.
 *
 * Snapshots start from an event of their own, at the top of the loop,
 * never from inside a call: the state is then whole (no object pinned by
 * a running call), and it holds every record up to wal_last_index. The
 * child is reaped by a timer. Then the log segments it covers and the
 * older snapshots go. A `save` call parks (blocked.c) on a private
 * object of this file until a snapshot at or past the index it saw is
 * written. */
#include "persist.h"

#include "../proto/auth.h"
#include "../proto/authkey.h"
#include "blocked.h"
#include "clock.h"
#include "cluster.h"
#include "cluster_snap.h"
#include "cmd.h"
#include "conn.h"
#include "log.h"
#include "registry.h"
#include "server.h"
#include "snapshot.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REAP_POLL_MS 20 /* how often a running snapshot child is looked at */
#define SEGMENT_MIN_BYTES ((size_t)64 * 1024)

/* The object `save` calls park on; never in the registry. */
static const obj_type snapshot_wait_type = {.name = "snapshot"};

struct persist {
  struct sm_server *srv;
  persist_cfg cfg;
  char dir[4096];
  int lock_fd;
  bool in_held; /* the directory is in this process's list of locked ones */
  dev_t dev;
  ino_t ino;
  wal *w;              /* NULL until persist_start, and after persist_stop */
  cluster *cl;         /* a group's member: the log is in etcd (no directory, no w) */
  bool failed;         /* a fatal log error: stop, write nothing more */
  uint64_t floor;      /* the last record that named no single object: every answer waits for it */
  uint64_t since_snap; /* log bytes appended since the last snapshot began */
  /* Snapshots. */
  struct event *snap_ev;   /* starts a snapshot at the top of the loop */
  struct event *reap_ev;   /* polls the running child */
  struct event *resume_ev; /* ends the sessions of the earlier run */
  pid_t child;             /* the running snapshot child, or 0 */
  uint64_t child_index;
  int64_t child_start_ms;
  uint64_t snapshots;
  uint64_t snap_index;
  int64_t snap_time_ms, snap_duration_ms;
  const char *snap_status;
  /* Removing what a snapshot covers (old log segments and snapshots) off
   * the loop: unlinking a file of tens of MiB stalls for milliseconds. */
  pthread_t remover;
  bool remover_running; /* remover is to be joined */
  sm_obj save_obj;      /* `save` calls wait in save_q (waiter.n: the index they need) */
  waitq save_q;
};

/* ---- small helpers ---- */

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int persist_default_dir(char *buf, size_t len) {
  char key[4096];
  if (authkey_default_path(key, sizeof key) != 0) return -1;
  char *slash = strrchr(key, '/'); /* ~/.statemgr/authkey -> ~/.statemgr/data */
  if (!slash) return -1;
  *slash = '\0';
  int n = snprintf(buf, len, "%s/data", key);
  return n > 0 && (size_t)n < len ? 0 : -1;
}

static const char *const fsync_names[] = {"always", "everysec", "no"};

const char *persist_fsync_name(wal_fsync_mode m) { return (unsigned)m < 3 ? fsync_names[m] : "?"; }

int persist_fsync_parse(const char *name) {
  for (int i = 0; i < 3; i++)
    if (strcmp(name, fsync_names[i]) == 0) return i;
  return -1;
}

/* Syncs directory dir, so that a file made or renamed in it survives a
 * crash. */
static int sync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

/* ---- the directory and its lock ---- */

/* Makes path's parent (0700) when missing: ~/.statemgr for the default. */
static int make_parent(const char *path, char *err, size_t errlen) {
  char parent[4096];
  snprintf(parent, sizeof parent, "%s", path);
  char *slash = strrchr(parent, '/');
  if (!slash || slash == parent) return 0;
  *slash = '\0';
  if (mkdir(parent, 0700) != 0 && errno != EEXIST) {
    snprintf(err, errlen, "cannot create %s: %s", parent, strerror(errno));
    return -1;
  }
  return 0;
}

/* Makes dir (0700) or checks it, as the authkey file is checked: ours (or
 * root's), and no use for group or others. */
static int check_dir(const char *dir, struct stat *st, char *err, size_t errlen) {
  if (make_parent(dir, err, errlen) != 0) return -1;
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    snprintf(err, errlen, "cannot create the data directory %s: %s", dir, strerror(errno));
    return -1;
  }
  if (stat(dir, st) != 0) {
    snprintf(err, errlen, "data directory %s: %s", dir, strerror(errno));
    return -1;
  }
  if (!S_ISDIR(st->st_mode)) {
    snprintf(err, errlen, "data directory %s is not a directory", dir);
    return -1;
  }
  uid_t me = geteuid();
  if (st->st_uid != me && st->st_uid != 0) {
    struct passwd *pw = getpwuid(st->st_uid);
    snprintf(err, errlen,
             "data directory %s belongs to uid %u (%s), not to uid %u that runs this daemon: "
             "chown it to uid %u, or use a directory of your own (--data-dir)",
             dir, (unsigned)st->st_uid, pw ? pw->pw_name : "unknown", (unsigned)me, (unsigned)me);
    return -1;
  }
  if (st->st_mode & 077) {
    snprintf(err, errlen, "data directory %s may be used by others (mode %03o): run chmod 700 %s",
             dir, (unsigned)(st->st_mode & 0777), dir);
    return -1;
  }
  return 0;
}

/* The directories this process holds locked (record locks do not conflict
 * within one process). */
#define HELD_MAX 16
static pthread_mutex_t held_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
  dev_t dev;
  ino_t ino;
} held[HELD_MAX];
static size_t n_held;

static bool held_take(dev_t dev, ino_t ino) {
  pthread_mutex_lock(&held_mu);
  bool ok = n_held < HELD_MAX;
  for (size_t i = 0; ok && i < n_held; i++)
    ok = !(held[i].dev == dev && held[i].ino == ino);
  if (ok) {
    held[n_held].dev = dev;
    held[n_held].ino = ino;
    n_held++;
  }
  pthread_mutex_unlock(&held_mu);
  return ok;
}

static void held_drop(dev_t dev, ino_t ino) {
  pthread_mutex_lock(&held_mu);
  for (size_t i = 0; i < n_held; i++)
    if (held[i].dev == dev && held[i].ino == ino) {
      held[i] = held[--n_held];
      break;
    }
  pthread_mutex_unlock(&held_mu);
}

/* Locks dir's "lock" file and writes our pid into it. */
static int lock_dir(persist *p, const struct stat *st, char *err, size_t errlen) {
  char path[4200];
  snprintf(path, sizeof path, "%s/lock", p->dir);
  if (!held_take(st->st_dev, st->st_ino)) {
    snprintf(err, errlen, "data directory %s is in use by another server of this process", p->dir);
    return -1;
  }
  p->in_held = true;
  p->dev = st->st_dev;
  p->ino = st->st_ino;
  p->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (p->lock_fd < 0) {
    snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    return -1;
  }
  struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
  if (fcntl(p->lock_fd, F_SETLK, &fl) != 0) {
    int e = errno;
    struct flock who = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    if ((e == EACCES || e == EAGAIN) && fcntl(p->lock_fd, F_GETLK, &who) == 0 &&
        who.l_type != F_UNLCK)
      snprintf(err, errlen,
               "data directory %s is in use by another statemgrd (pid %d): stop it, or give "
               "this one another --data-dir",
               p->dir, (int)who.l_pid);
    else
      snprintf(err, errlen, "cannot lock %s: %s", path, strerror(e));
    return -1;
  }
  char pid[32];
  int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
  if (ftruncate(p->lock_fd, 0) != 0 || pwrite(p->lock_fd, pid, (size_t)n, 0) != n)
    log_warn("cannot write the pid into %s: %s", path, strerror(errno));
  return 0;
}

int persist_new(struct sm_server *srv, const persist_cfg *cfg, persist **out, char *err,
                size_t errlen) {
  persist *p = calloc(1, sizeof *p);
  if (!p) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  p->srv = srv;
  p->cfg = *cfg;
  p->lock_fd = -1;
  p->snap_status = "none";
  p->save_obj.type = &snapshot_wait_type;
  p->cfg.cluster = NULL; /* borrowed by this call only */
  if (cfg->cluster) {
    p->cfg.dir = p->dir; /* "": none */
    if (cluster_new(srv, cfg->cluster, &p->cl, err, errlen) != 0) {
      persist_free(p);
      return -1;
    }
    *out = p;
    return 0;
  }
  snprintf(p->dir, sizeof p->dir, "%s", cfg->dir);
  p->cfg.dir = p->dir;
  struct stat st;
  if (strlen(cfg->dir) >= sizeof p->dir - 64) {
    snprintf(err, errlen, "data directory path too long: %s", cfg->dir);
    persist_free(p);
    return -1;
  }
  if (check_dir(p->dir, &st, err, errlen) != 0 || lock_dir(p, &st, err, errlen) != 0) {
    persist_free(p);
    return -1;
  }
  *out = p;
  return 0;
}

/* ---- the instance file ---- */

/* Reads dir/instance into *id: 1 read, 0 absent, -1 unreadable (err). */
static int instance_read(const char *dir, uint64_t *id, char *err, size_t errlen) {
  char path[4200], text[64];
  snprintf(path, sizeof path, "%s/instance", dir);
  FILE *f = fopen(path, "r");
  if (!f) {
    if (errno == ENOENT) return 0;
    snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
    return -1;
  }
  bool ok = fgets(text, sizeof text, f) != NULL;
  fclose(f);
  char *end = NULL;
  errno = 0;
  unsigned long long v = ok ? strtoull(text, &end, 16) : 0;
  if (!ok || errno || end == text || (*end && *end != '\n') || v == 0) {
    snprintf(err, errlen,
             "%s does not hold an instance id (16 hex digits): remove it to get a new one", path);
    return -1;
  }
  *id = (uint64_t)v;
  return 1;
}

/* Writes id into dir/instance through a synced temporary file. */
static int instance_write(const char *dir, uint64_t id, char *err, size_t errlen) {
  char path[4200], tmp[4200], text[32];
  snprintf(path, sizeof path, "%s/instance", dir);
  snprintf(tmp, sizeof tmp, "%s/instance.tmp", dir);
  int n = snprintf(text, sizeof text, "%016" PRIx64 "\n", id);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool ok = fd >= 0 && write(fd, text, (size_t)n) == n && fdatasync(fd) == 0;
  if (fd >= 0 && close(fd) != 0) ok = false;
  if (!ok || rename(tmp, path) != 0 || sync_dir(dir) != 0) {
    snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    unlink(tmp);
    return -1;
  }
  return 0;
}

/* ---- the log's callbacks ---- */

static void on_durable(void *ctx, uint64_t index) {
  persist *p = ctx;
  conn_durable(p->srv, index);
}

/* The log cannot be trusted any more: stop now, without sending the
 * answers that wait for it. */
static void on_fatal(void *ctx, const char *why) {
  persist *p = ctx;
  if (p->failed) return;
  p->failed = true;
  cmd_set_sink(p->srv->reg, NULL, NULL); /* nothing more goes to a log that failed */
  log_error("the log of %s failed: %s; stopping (answers not yet durable are not sent)", p->dir,
            why);
  event_base_loopbreak(p->srv->base);
}

static void on_space(void *ctx, bool full) {
  persist *p = ctx;
  if (full) conn_disk_full(p->srv); /* clients waiting for their session's start get through */
  if (full)
    log_error("the disk of %s is full: changes are refused (DISK_FULL) until it has room; reads "
              "go on",
              p->dir);
  else
    log_warn("the disk of %s has room again: changes are accepted", p->dir);
}

/* Every command applied goes to the log. The record's index is what an
 * answer showing it waits for: the object's own mark when the record is a
 * client's or a type's call on one object (kind CALL), else the floor every
 * answer waits for (a session's end, a create, a delete), except a
 * session's begin, which no answer but that session's AuthResult (held by
 * conn.c) shows, and the end of a session that held no object
 * (CMD_NO_OBJECT): no answer shows them (a session's own changes come
 * after its begin and wait for their own records). */
static void sink(void *ctx, const uint8_t *rec, size_t len, int kind, uint64_t object, sm_obj *o) {
  persist *p = ctx;
  uint64_t index = p->cl ? cluster_append(p->cl, rec, len) : wal_append(p->w, rec, len);
  if (index == 0 && p->cl) return; /* the member is stepping down (cluster.c) */
  if (index == 0) {
    /* The state now holds a change the log does not: nothing can be
     * promised from here on. */
    on_fatal(p, "out of memory appending a record");
    return;
  }
  if (!o && kind == CMD_CALL && object) o = reg_get(p->srv->reg, object);
  if (o)
    o->log_index = index;
  else if (kind != CMD_BEGIN_SESSION && !(kind == CMD_END_SESSION && object == CMD_NO_OBJECT))
    p->floor = index;
  p->since_snap += WAL_RECORD_HEADER + len;
  if (p->w && p->since_snap > p->cfg.snapshot_log_bytes && !p->child && !p->failed)
    event_active(p->snap_ev, 0, 0); /* at the top of the loop, never inside a call */
}

/* ---- snapshots ---- */

/* Starts a snapshot child unless one runs (snap_ev, and `save`). */
static void snapshot_begin(persist *p) {
  if (p->cl) { /* the group's snapshot, in etcd (cluster_snap.h) */
    cluster_snapshot_now(p->cl);
    return;
  }
  if (p->child || p->failed || !p->w) return;
  char err[512], unsaved[512];
  if (snap_unsaved_types(p->srv->reg, unsaved, sizeof unsaved))
    log_warn("objects of the custom types %s are kept in memory only (no serialize callback): "
             "the snapshot leaves them out",
             unsaved);
  snap_meta meta = {.index = wal_last_index(p->w),
                    .instance = p->srv->instance,
                    .next_id = reg_next_id(p->srv->reg),
                    .time_ms = now_ms()};
  pid_t pid =
      snap_fork(p->srv->reg, p->dir, &meta, cmd_sessions_save, p->srv->reg, err, sizeof err);
  if (pid < 0) {
    log_error("cannot start a snapshot: %s", err);
    p->snap_status = "failed";
    blk_cancel_all(&p->save_q, WS_INTERNAL, err);
    return;
  }
  p->child = pid;
  p->child_index = meta.index;
  p->child_start_ms = clock_mono_ms();
  p->snap_time_ms = meta.time_ms;
  p->since_snap = 0;
  log_info("snapshot at index %" PRIu64 " started (pid %d)", meta.index, (int)pid);
  struct timeval poll = {0, REAP_POLL_MS * 1000};
  event_add(p->reap_ev, &poll);
}

static void snap_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  snapshot_begin(arg);
}

/* What the remover thread removes: the log segments and the snapshots a
 * snapshot at index covers. */
typedef struct removal {
  char dir[4096];
  uint64_t index;
  char **paths;
  size_t n;
} removal;

static void *remover_main(void *arg) {
  removal *r = arg;
  for (size_t i = 0; i < r->n; i++) {
    if (unlink(r->paths[i]) != 0 && errno != ENOENT)
      log_warn("cannot remove %s: %s", r->paths[i], strerror(errno));
    free(r->paths[i]);
  }
  free(r->paths);
  snap_remove_older(r->dir, r->index);
  int fd = open(r->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    if (fsync(fd) != 0) log_warn("fsync of %s: %s", r->dir, strerror(errno));
    close(fd);
  }
  free(r);
  return NULL;
}

/* Waits for the remover of the previous snapshot, if one ran. */
static void remover_join(persist *p) {
  if (!p->remover_running) return;
  pthread_join(p->remover, NULL);
  p->remover_running = false;
}

/* A snapshot at index is on disk: the log and snapshots it covers go, the
 * files removed by a thread of their own (the log's list changes here). */
static void snapshot_done(persist *p, uint64_t index, int64_t duration_ms) {
  char err[512];
  p->snapshots++;
  p->snap_index = index;
  p->snap_duration_ms = duration_ms;
  p->snap_status = "ok";
  remover_join(p);
  removal *r = calloc(1, sizeof *r);
  if (!r || (p->w && wal_detach_before(p->w, index, &r->paths, &r->n, err, sizeof err) != 0)) {
    log_warn("snapshot at index %" PRIu64 ": cannot remove the log it covers: %s", index,
             r ? err : "out of memory");
    free(r);
    return;
  }
  snprintf(r->dir, sizeof r->dir, "%s", p->dir);
  r->index = index;
  if (pthread_create(&p->remover, NULL, remover_main, r) == 0)
    p->remover_running = true;
  else
    remover_main(r); /* no thread: remove them here */
}

/* Answers the `save` calls that a snapshot at index satisfies; starts
 * another snapshot for those that need a later one. */
static void answer_saves(persist *p, uint64_t index) {
  waiter *w = p->save_q.head;
  bool more = false;
  while (w) {
    waiter *next = w->next;
    if ((uint64_t)w->n <= index)
      blk_answer_int(w, (int64_t)index);
    else
      more = true;
    w = next;
  }
  if (more) snapshot_begin(p);
}

static void reap_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  persist *p = arg;
  char err[512];
  int rc = snap_reap(p->child, err, sizeof err);
  if (rc == 0) {
    struct timeval poll = {0, REAP_POLL_MS * 1000};
    event_add(p->reap_ev, &poll);
    return;
  }
  p->child = 0;
  int64_t took = clock_mono_ms() - p->child_start_ms;
  if (rc < 0) {
    log_error("snapshot at index %" PRIu64 " failed: %s", p->child_index, err);
    p->snap_status = "failed";
    p->snap_duration_ms = took;
    char text[600];
    snprintf(text, sizeof text, "the snapshot failed: %s", err);
    blk_cancel_all(&p->save_q, WS_INTERNAL, text);
    return;
  }
  log_info("snapshot at index %" PRIu64 " written in %" PRId64 " ms", p->child_index, took);
  snapshot_done(p, p->child_index, took);
  answer_saves(p, p->child_index);
}

void persist_snapshot_result(persist *p, uint64_t index, const char *err) {
  if (!err) {
    answer_saves(p, index);
    return;
  }
  char text[600];
  snprintf(text, sizeof text, "the snapshot failed: %s", err);
  blk_cancel_all(&p->save_q, WS_INTERNAL, text);
}

int persist_save(persist *p, call *c) {
  if (p->failed) return call_fail(c, WS_INTERNAL, "the log failed: no snapshot can be taken");
  uint64_t need = persist_mark(p);
  if (p->cl) { /* the leader's snapshot of the group, published in etcd */
    if (!blk_may_wait(c))
      return call_fail(c, WS_TIMEOUT, "save waits for the snapshot: call it without timeout 0");
    int rc = blk_park(c, &p->save_obj, &p->save_q, NULL, (int64_t)need, NULL);
    if (rc == CALL_PARKED) cluster_snapshot_now(p->cl); /* a running one: the next, after it */
    return rc;
  }
  if (!blk_may_wait(c))
    return call_fail(c, WS_TIMEOUT, "save waits for the snapshot: call it without timeout 0");
  int rc = blk_park(c, &p->save_obj, &p->save_q, NULL, (int64_t)need, NULL);
  if (rc != CALL_PARKED) return rc;
  if (p->child && p->child_index >= need) return rc; /* the running one will do */
  if (!p->child) snapshot_begin(p);
  /* else answer_saves starts the next one once the running child ends */
  return rc;
}

/* Waits for a running child at a clean stop (it may be nearly done, and
 * its snapshot is as good as ours would be until then). */
static void reap_now(persist *p) {
  if (!p->child) return;
  kill(p->child, SIGKILL); /* our own snapshot follows at once */
  char err[512];
  while (snap_reap(p->child, err, sizeof err) == 0) {
    struct timespec ts = {0, 2 * 1000000};
    nanosleep(&ts, NULL);
  }
  p->child = 0;
  event_del(p->reap_ev);
}

/* ---- recovery ---- */

typedef struct replay_ctx {
  persist *p;
  char *err;
  size_t errlen;
  uint64_t bytes;
} replay_ctx;

static int replay_one(void *arg, uint64_t index, const void *data, size_t len) {
  replay_ctx *rc = arg;
  char why[400];
  if (cmd_replay(rc->p->srv->reg, data, len, why, sizeof why) != 0) {
    snprintf(rc->err, rc->errlen,
             "record %" PRIu64 " of the log in %s does not apply to the state before it: %s", index,
             rc->p->dir, why);
    return -1;
  }
  rc->bytes += WAL_RECORD_HEADER + len;
  return 0;
}

/* Orphans of the earlier run, collected before any is ended. */
typedef struct orphan_list {
  uint64_t *ids;
  size_t n, cap;
  bool failed;
} orphan_list;

static void orphan_add(void *arg, uint64_t session) {
  orphan_list *l = arg;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    uint64_t *ids = realloc(l->ids, cap * sizeof *ids);
    if (!ids) {
      l->failed = true;
      return;
    }
    l->ids = ids;
    l->cap = cap;
  }
  l->ids[l->n++] = session;
}

/* The resume timeout passed: the sessions of the earlier run that no
 * client resumed end as a dead client's do. */
static void resume_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  persist *p = arg;
  orphan_list l = {0};
  cmd_each_orphan(p->srv->reg, orphan_add, &l);
  if (l.failed) log_error("out of memory listing the sessions of the earlier run");
  int64_t now = now_ms();
  for (size_t i = 0; i < l.n; i++)
    cmd_end_session(p->srv->reg, l.ids[i], now);
  if (l.n) log_info("ended %zu sessions of the earlier run not resumed in time", l.n);
  free(l.ids);
}

int persist_load_file(struct sm_server *srv, const char *path, snap_meta *meta, char *err,
                      size_t errlen) {
  uint8_t *extra = NULL;
  size_t extralen = 0;
  if (snap_load(srv->reg, path, meta, &extra, &extralen, err, errlen) != 0) return -1;
  char why[400];
  int rc = cmd_sessions_load(srv->reg, extra, extralen, why, sizeof why);
  free(extra);
  if (rc != 0) {
    snprintf(err, errlen, "%s: its sessions table: %s", path, why);
    return -1;
  }
  return 0;
}

/* Loads the newest snapshot, if any; *after gets its index. */
static int load_snapshot(persist *p, uint64_t *after, uint64_t *instance, char *err,
                         size_t errlen) {
  char path[4200];
  uint64_t index = 0;
  int found = snap_newest(p->dir, path, sizeof path, &index, err, errlen);
  *after = 0;
  if (found <= 0) return found;
  snap_meta meta;
  if (persist_load_file(p->srv, path, &meta, err, errlen) != 0) return -1;
  *after = meta.index;
  *instance = meta.instance;
  log_info("loaded %s: %zu objects at index %" PRIu64, path, reg_count(p->srv->reg), meta.index);
  return 1;
}

int persist_start(persist *p, char *err, size_t errlen) {
  struct sm_server *srv = p->srv;
  registry *reg = srv->reg;
  int64_t t0 = clock_mono_ms();
  if (p->cl) { /* the state comes from the group's log, as the watch brings it */
    if (!(p->resume_ev = evtimer_new(srv->base, resume_cb, p))) {
      snprintf(err, errlen, "out of memory");
      return -1;
    }
    cmd_set_sink(reg, sink, p);
    return cluster_start(p->cl, err, errlen);
  }
  for (size_t i = 0; i < srv->n_custom; i++)
    if (!srv->custom[i]->save)
      log_warn("the custom type '%s' has no serialize callback: its objects are kept in memory "
               "only, and snapshots leave them out",
               srv->custom[i]->name);
  uint64_t after = 0, snap_instance = 0;
  if (load_snapshot(p, &after, &snap_instance, err, errlen) < 0) return -1;
  p->snap_index = after;
  replay_ctx rc = {p, err, errlen, 0};
  wal_read_info info;
  memset(&info, 0, sizeof info);
  char why[600];
  int r = wal_read(p->dir, after, true, replay_one, &rc, &info, why, sizeof why);
  if (r != 0) {
    if (r == -1) snprintf(err, errlen, "%s", why);
    return -1;
  }
  if (info.torn)
    log_warn("the log ended in a record cut short (a crash while writing it): %s cut back at "
             "offset %" PRIu64 " (%" PRIu64 " bytes dropped; nobody had been answered for them)",
             info.torn_file, info.torn_offset, info.torn_bytes);
  uint64_t last = info.last_index ? info.last_index : after;
  p->since_snap = rc.bytes;

  /* The instance: the file's; a data set restored from a copied snapshot
   * alone keeps the snapshot's; a new one gets a random id. */
  uint64_t instance = 0;
  int got = instance_read(p->dir, &instance, err, errlen);
  if (got < 0) return -1;
  if (got == 1 && snap_instance && snap_instance != instance)
    log_warn("the snapshot holds the data set %016" PRIx64 ", but %s/instance says %016" PRIx64
             ": clients see the latter",
             snap_instance, p->dir, instance);
  if (got == 0) {
    instance = snap_instance;
    while (instance == 0)
      if (auth_random((uint8_t *)&instance, sizeof instance) != 0) {
        snprintf(err, errlen, "no randomness for the instance id");
        return -1;
      }
    if (instance_write(p->dir, instance, err, errlen) != 0) return -1;
  }
  srv->instance = instance;

  if (!(p->snap_ev = event_new(srv->base, -1, 0, snap_cb, p)) ||
      !(p->reap_ev = evtimer_new(srv->base, reap_cb, p)) ||
      !(p->resume_ev = evtimer_new(srv->base, resume_cb, p))) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  size_t seg = p->cfg.snapshot_log_bytes < WAL_SEGMENT_DEFAULT ? (size_t)p->cfg.snapshot_log_bytes
                                                               : WAL_SEGMENT_DEFAULT;
  if (seg < SEGMENT_MIN_BYTES) seg = SEGMENT_MIN_BYTES;
  wal_cfg wc = {.dir = p->dir,
                .fsync = p->cfg.fsync,
                .segment_bytes = seg,
                .base = srv->base,
                .on_durable = on_durable,
                .on_fatal = on_fatal,
                .on_space = on_space,
                .ctx = p};
  if (wal_open(&wc, last + 1, &p->w, why, sizeof why) != 0) {
    snprintf(err, errlen, "cannot open the log of %s: %s", p->dir, why);
    return -1;
  }
  cmd_set_sink(reg, sink, p);
  persist_begin_run(p);
  log_info("data directory %s: instance %016" PRIx64 ", %zu objects after %" PRIu64
           " log records (%" PRId64 " ms), ids from %" PRIu64 ", fsync %s",
           p->dir, instance, reg_count(reg), info.records, clock_mono_ms() - t0, srv->next_session,
           persist_fsync_name(p->cfg.fsync));
  return 0;
}

void persist_begin_run(persist *p) {
  struct sm_server *srv = p->srv;
  registry *reg = srv->reg;
  uint64_t first = reg_first_id_at(now_ms());
  cmd_begin_ids(reg, first);

  /* This run's sessions start above the earlier run's, which stay in the
   * table until the resume timeout (above them also if the clock went
   * back between the runs). */
  orphan_list l = {0};
  cmd_each_orphan(reg, orphan_add, &l);
  srv->next_session = first;
  for (size_t i = 0; i < l.n; i++)
    if (l.ids[i] > srv->next_session) srv->next_session = l.ids[i];
  free(l.ids);
  struct timeval resume = {(time_t)(p->cfg.resume_timeout_ms / 1000),
                           (suseconds_t)(p->cfg.resume_timeout_ms % 1000) * 1000};
  if (l.n) {
    evtimer_add(p->resume_ev, &resume);
    log_info("%zu sessions of the earlier run keep what they hold for %" PRId64 " ms", l.n,
             p->cfg.resume_timeout_ms);
  }
}

/* ---- stop and free ---- */

void persist_stop(persist *p) {
  if (p && p->cl) {
    cluster_stop(p->cl);
    return;
  }
  if (!p || !p->w) return;
  registry *reg = p->srv->reg;
  cmd_set_sink(reg, NULL, NULL); /* what follows (connections freed) is not logged */
  reap_now(p);
  if (p->failed) {
    wal_close(p->w);
    p->w = NULL;
    return;
  }
  char err[512];
  int64_t t0 = clock_mono_ms();
  snap_meta meta = {.index = wal_last_index(p->w),
                    .instance = p->srv->instance,
                    .next_id = reg_next_id(reg),
                    .time_ms = now_ms()};
  if (meta.index == p->snap_index && meta.index != 0) {
    wal_close(p->w); /* the newest snapshot holds it all already */
    p->w = NULL;
    return;
  }
  if (snap_write(reg, p->dir, &meta, cmd_sessions_save, reg, err, sizeof err) != 0) {
    log_error("cannot write the snapshot of the stop: %s (the log keeps everything)", err);
    wal_close(p->w);
    p->w = NULL;
    return;
  }
  p->snap_time_ms = meta.time_ms;
  snapshot_done(p, meta.index, clock_mono_ms() - t0);
  wal_close(p->w);
  p->w = NULL;
  log_info("snapshot at index %" PRIu64 " written at the stop", meta.index);
}

void persist_free(persist *p) {
  if (!p) return;
  remover_join(p);
  blk_cancel_all(&p->save_q, WS_SHUTTING_DOWN, "the daemon is shutting down");
  if (p->w) { /* the loop never stopped cleanly: keep what was appended */
    cmd_set_sink(p->srv->reg, NULL, NULL);
    reap_now(p);
    wal_close(p->w);
  }
  if (p->snap_ev) event_free(p->snap_ev);
  if (p->reap_ev) event_free(p->reap_ev);
  if (p->resume_ev) event_free(p->resume_ev);
  cluster_free(p->cl);
  if (p->lock_fd >= 0) close(p->lock_fd); /* releases the lock */
  if (p->in_held) held_drop(p->dev, p->ino);
  free(p);
}

/* ---- what the rest of the server asks ---- */

uint64_t persist_mark(const persist *p) {
  return p->w ? wal_last_index(p->w) : p->cl ? cluster_last_index(p->cl) : 0;
}
uint64_t persist_durable(const persist *p) {
  return p->w ? wal_durable_index(p->w) : p->cl ? cluster_durable_index(p->cl) : 0;
}

void persist_write_now(persist *p, unsigned waiting) {
  if (p && p->w) wal_write_now(p->w, waiting);
  if (p && p->cl) cluster_flush(p->cl);
}

bool persist_serving(const persist *p) { return !p || !p->cl || cluster_serving(p->cl); }
size_t persist_record_max(const persist *p) { return p && p->cl ? cluster_record_max(p->cl) : 0; }
bool persist_may_answer(const persist *p) { return !p || !p->cl || cluster_may_answer(p->cl); }
const char *persist_leader_url(const persist *p) {
  return p && p->cl ? cluster_leader_url(p->cl) : "";
}
struct cluster *persist_cluster(const persist *p) {
  return p ? p->cl : NULL;
}
bool persist_full(const persist *p) { return p->w && wal_full(p->w); }

uint64_t persist_answer_mark(const persist *p, uint64_t object, const sm_obj *o) {
  if (object != 0 && !o) return persist_mark(p);
  uint64_t mark = o && o->log_index > p->floor ? o->log_index : p->floor;
  uint64_t last = persist_mark(p);
  return mark < last ? mark : last;
}
bool persist_failed(const persist *p) { return p->failed || (p->cl && cluster_failed(p->cl)); }

void persist_get_info(const persist *p, persist_info *out) {
  if (p->cl) { /* the group's snapshots as this member knows them */
    csnap_info si;
    cluster_snapshot_info(p->cl, &si);
    *out = (persist_info){.dir = p->dir,
                          .fsync = persist_fsync_name(p->cfg.fsync),
                          .last_index = persist_mark(p),
                          .durable_index = persist_durable(p),
                          .snapshot_running = si.running,
                          .snapshots = si.taken,
                          .snapshot_index = si.index,
                          .snapshot_time_ms = si.time_ms,
                          .snapshot_duration_ms = si.duration_ms,
                          .snapshot_status = si.status};
    return;
  }
  *out = (persist_info){.dir = p->dir,
                        .fsync = persist_fsync_name(p->cfg.fsync),
                        .log_bytes = p->w ? wal_bytes(p->w) : 0,
                        .last_index = persist_mark(p),
                        .durable_index = persist_durable(p),
                        .syncs = p->w ? wal_syncs(p->w) : 0,
                        .disk_full = persist_full(p),
                        .snapshot_running = p->child != 0,
                        .snapshots = p->snapshots,
                        .snapshot_index = p->snap_index,
                        .snapshot_time_ms = p->snap_time_ms,
                        .snapshot_duration_ms = p->snap_duration_ms,
                        .snapshot_status = p->snap_status};
}
