/* SPDX-License-Identifier: MIT */
/* snapshot.c - the snapshot file of snapshot.h: writing it (in this
 * process or in a forked child), finding the newest whole one, loading it
 * into an empty registry, and removing the older ones.
 *
 * The file, all integers little-endian:
 *
 *   "SMSNAP01"                          8 bytes, the magic
 *   version                             u32, SNAP_VERSION
 *   u64 length + meta                   packed [index, instance, next_id, time_ms, objects]
 *   objects times:
 *     u64 length + head                 packed [id, type, name or nil, refs]
 *                                       or [id, type, name or nil, refs, deadline,
 *                                       ephemeral session] (expire.h, session.h:
 *                                       only for an object with either)
 *     u64 length + state                what the type's save hook wrote
 *   u64 length + extra                  the caller's bytes (the sessions table)
 *   crc                                 u32, CRC32C of every byte before it
 *
 * 64-bit integers travel as int64 Values and come back bit for bit. A
 * reader checks the trailer before it trusts a length, and every length
 * against what is left of the file, so a damaged file is refused with what
 * is wrong, never read past its end. A format change bumps SNAP_VERSION;
 * a daemon refuses a version it does not know by name. */
#include "snapshot.h"

#include "crc32c.h"
#include "log.h"
#include "expire.h"
#include "le.h"
#include "saved.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SNAP_MAGIC "SMSNAP01"
#define SNAP_MAGIC_LEN 8
#define SNAP_VERSION 1u
#define SNAP_TRAILER 4                                            /* the CRC32C */
#define SNAP_MIN_SIZE (SNAP_MAGIC_LEN + 4 + 8 + 8 + SNAP_TRAILER) /* empty meta and extra */
#define SNAP_OUT_BUF ((size_t)1 << 20)
/* A state wraps stored values (at most VW_DEPTH_MAX deep) in a few lists
 * and maps of its own. */
#define SNAP_STATE_DEPTH VW_DEPTH_REPLY_MAX

/* ---- names ---- */

/* The file name of the snapshot at index in dir, plus suffix. */
static int snap_path(char *buf, size_t len, const char *dir, uint64_t index, const char *suffix) {
  int n = snprintf(buf, len, "%s/snapshot-%020" PRIu64 ".snap%s", dir, index, suffix);
  return n > 0 && (size_t)n < len ? 0 : -1;
}

/* The index in a snapshot's file name (or its .tmp when tmp is true):
 * true when name is one. */
static bool parse_name(const char *name, bool tmp, uint64_t *index) {
  const char *suffix = tmp ? ".snap.tmp" : ".snap";
  if (strncmp(name, "snapshot-", 9) != 0 || strlen(name) != 9 + 20 + strlen(suffix) ||
      strcmp(name + 29, suffix) != 0)
    return false;
  uint64_t v = 0;
  for (int i = 9; i < 29; i++) {
    if (name[i] < '0' || name[i] > '9') return false;
    v = v * 10 + (uint64_t)(name[i] - '0');
  }
  *index = v;
  return true;
}

/* ---- writing ---- */

/* A buffered file writer that keeps the CRC of what it wrote. */
typedef struct snap_out {
  int fd;
  uint8_t *buf; /* SNAP_OUT_BUF bytes */
  size_t len;
  uint32_t crc;
  int err;           /* errno of the first failure, 0 while all is well */
  uint32_t body_crc; /* the CRC before the trailer (a CRC over its own CRC is a constant) */
} snap_out;

static void out_flush(snap_out *o) {
  if (o->fd < 0) { /* snap_digest: only the CRC is wanted */
    o->len = 0;
    return;
  }
  size_t done = 0;
  while (!o->err && done < o->len) {
    ssize_t w = write(o->fd, o->buf + done, o->len - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0)
      o->err = w < 0 ? errno : EIO;
    else
      done += (size_t)w;
  }
  o->len = 0;
}

static void out_put(snap_out *o, const void *p, size_t n) {
  o->crc = crc32c(o->crc, p, n);
  const uint8_t *b = p;
  while (n > 0 && !o->err) {
    size_t room = SNAP_OUT_BUF - o->len, k = n < room ? n : room;
    memcpy(o->buf + o->len, b, k);
    o->len += k;
    b += k;
    n -= k;
    if (o->len == SNAP_OUT_BUF) out_flush(o);
  }
}

static void out_u32(snap_out *o, uint32_t v) {
  uint8_t b[4];
  le_put_u32(b, v);
  out_put(o, b, sizeof b);
}

/* A length-prefixed run of bytes. */
static void out_block(snap_out *o, sm_span s) {
  uint8_t b[8];
  le_put_u64(b, (uint64_t)s.n);
  out_put(o, b, sizeof b);
  out_put(o, s.p, s.n);
}

/* In the child of snap_fork: its private memory is measured at the end of
 * the write, while the largest state's buffer is still held (the peak, as
 * near as /proc tells), and logged. */
static bool in_child;
static size_t child_kib;

/* The process's private dirty memory in KiB (what copy-on-write cost, plus
 * its own buffers), from /proc; 0 when unknown. */
static size_t private_kib(void) {
  FILE *f = fopen("/proc/self/smaps_rollup", "re");
  char line[256];
  size_t kib = 0, v;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "Private_Dirty: %zu kB", &v) == 1) kib += v;
  if (f) fclose(f);
  return kib;
}

static bool saved_type(const sm_obj *o) { return o->type->save && o->type->load; }

typedef struct write_walk {
  snap_out *out;
  vbuf head, state;
  uint64_t objects;
  char *err;
  size_t errlen;
  bool failed;
} write_walk;

static void count_one(void *ctx, sm_obj *o) {
  if (saved_type(o)) ((write_walk *)ctx)->objects++;
}

static void write_one(void *ctx, sm_obj *o) {
  write_walk *w = ctx;
  if (w->failed || w->out->err || !saved_type(o)) return;
  vb_reset(&w->head);
  vb_reset(&w->state);
  size_t m = vb_list_begin(&w->head);
  saved_put_int(&w->head, (int64_t)o->id);
  size_t item = vb_list_begin_item(&w->head);
  vb_str(&w->head, o->type->name, strlen(o->type->name));
  vb_list_end_item(&w->head, item);
  item = vb_list_begin_item(&w->head);
  if (o->name) vb_str(&w->head, o->name, strlen(o->name));
  vb_list_end_item(&w->head, item);
  saved_put_int(&w->head, (int64_t)o->refs);
  if (o->deadline || o->eph_session) {
    saved_put_int(&w->head, o->deadline);
    saved_put_int(&w->head, (int64_t)o->eph_session);
  }
  vb_list_end(&w->head, m);
  if (o->type->save(o->state, &w->state) != WS_OK || w->state.failed || w->head.failed) {
    snprintf(w->err, w->errlen,
             "object %" PRIu64 " (%s) cannot be saved: out of memory, or its serialize failed",
             o->id, o->type->name);
    w->failed = true;
    return;
  }
  out_block(w->out, vb_span(&w->head));
  out_block(w->out, vb_span(&w->state));
}

/* Writes the whole file to o; false with err filled when something failed
 * before the disk did (o->err tells about the disk). */
static bool write_body(const registry *reg, snap_out *o, const snap_meta *meta, snap_extra_fn extra,
                       void *ctx, char *err, size_t errlen) {
  write_walk w = {.out = o, .err = err, .errlen = errlen};
  vb_init(&w.head);
  vb_init(&w.state);
  reg_foreach(reg, count_one, &w);
  out_put(o, SNAP_MAGIC, SNAP_MAGIC_LEN);
  out_u32(o, SNAP_VERSION);
  size_t m = vb_list_begin(&w.head);
  saved_put_int(&w.head, (int64_t)meta->index);
  saved_put_int(&w.head, (int64_t)meta->instance);
  saved_put_int(&w.head, (int64_t)meta->next_id);
  saved_put_int(&w.head, meta->time_ms);
  saved_put_int(&w.head, (int64_t)w.objects);
  vb_list_end(&w.head, m);
  out_block(o, vb_span(&w.head));
  reg_foreach(reg, write_one, &w);
  if (!w.failed) {
    vb_reset(&w.state);
    if (extra && extra(ctx, &w.state) != 0) {
      snprintf(err, errlen, "out of memory writing the extra section");
      w.failed = true;
    }
    out_block(o, vb_span(&w.state));
    o->body_crc = o->crc;
    out_u32(o, o->crc); /* the trailer: the CRC of every byte before it */
  }
  if (in_child) child_kib = private_kib();
  vb_free(&w.head);
  vb_free(&w.state);
  return !w.failed;
}

int snap_digest(const registry *reg, snap_extra_fn extra, void *ctx, uint32_t *digest) {
  char err[256];
  snap_out o = {.fd = -1, .buf = malloc(SNAP_OUT_BUF)};
  snap_meta meta = {.next_id = reg_next_id(reg)};
  bool ok = o.buf && write_body(reg, &o, &meta, extra, ctx, err, sizeof err);
  free(o.buf);
  if (!ok) return -1;
  *digest = o.body_crc;
  return 0;
}

/* Syncs directory dir, so a rename in it survives a crash. */
static int sync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

int snap_write(const registry *reg, const char *dir, const snap_meta *meta, snap_extra_fn extra,
               void *ctx, char *err, size_t errlen) {
  char path[4096], tmp[4096];
  if (snap_path(path, sizeof path, dir, meta->index, "") != 0 ||
      snap_path(tmp, sizeof tmp, dir, meta->index, ".tmp") != 0) {
    snprintf(err, errlen, "%s: the data directory's path is too long", dir);
    return -1;
  }
  snap_out o = {.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)};
  if (o.fd < 0) {
    snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
    return -1;
  }
  if (!(o.buf = malloc(SNAP_OUT_BUF))) o.err = ENOMEM;
  err[0] = '\0';
  bool ok = !o.err && write_body(reg, &o, meta, extra, ctx, err, errlen);
  if (ok) out_flush(&o);
  if (ok && !o.err && fsync(o.fd) != 0) o.err = errno;
  free(o.buf);
  if (close(o.fd) != 0 && ok && !o.err) o.err = errno;
  if (ok && o.err)
    snprintf(err, errlen, "%s: %s", tmp, strerror(o.err));
  else if (!ok && o.err)
    snprintf(err, errlen, "%s: %s", tmp, strerror(o.err));
  ok = ok && !o.err;
  if (ok && rename(tmp, path) != 0) {
    snprintf(err, errlen, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    ok = false;
  }
  if (!ok) {
    unlink(tmp);
    return -1;
  }
  if (sync_dir(dir) != 0) { /* the file is whole; only its name may not last */
    snprintf(err, errlen, "%s: cannot sync the directory: %s", dir, strerror(errno));
    return -1;
  }
  return 0;
}

/* ---- the child ---- */

/* In the child: closes the sockets it inherited (the listeners, the
 * clients' connections), so that they close when the daemon dies even
 * while the child still writes: clients then see the connection end, and
 * a daemon started again finds its UNIX socket free. Files (the log's)
 * stay open. */
static void close_inherited_sockets(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    int fd = atoi(e->d_name);
    struct stat st;
    if (fd > STDERR_FILENO && fd != dirfd(d) && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))
      close(fd);
  }
  closedir(d);
}

pid_t snap_fork(const registry *reg, const char *dir, const snap_meta *meta, snap_extra_fn extra,
                void *ctx, char *err, size_t errlen) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(err, errlen, "cannot fork the snapshot's writer: %s", strerror(errno));
    return -1;
  }
  if (pid > 0) return pid;
  /* The child: the parent's signal handlers write to the parent's event
   * loop, so a signal meant for this process must not reach them. It
   * touches no descriptor but its own file's and the log's (and closes the
   * sockets), and leaves through _exit, which flushes nothing of the
   * parent's. */
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  /* A daemon that dies (a crash, SIGKILL) takes its writer with it: the
   * daemon started again writes its own snapshots. */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(1);
  close_inherited_sockets();
  in_child = true;
  char why[512];
  if (snap_write(reg, dir, meta, extra, ctx, why, sizeof why) != 0) {
    log_error("snapshot at index %" PRIu64 " failed: %s", meta->index, why);
    _exit(1);
  }
  log_info("snapshot at index %" PRIu64 " written; its writer's private memory: %zu KiB",
           meta->index, child_kib);
  _exit(0);
}

int snap_reap(pid_t pid, char *err, size_t errlen) {
  int st;
  pid_t r;
  while ((r = waitpid(pid, &st, WNOHANG)) < 0 && errno == EINTR) {
  }
  if (r == 0) return 0;
  if (r < 0) {
    snprintf(err, errlen, "snapshot writer %ld: %s", (long)pid, strerror(errno));
    return -1;
  }
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 1;
  if (WIFEXITED(st))
    snprintf(err, errlen, "the snapshot writer exited with status %d (the log says why)",
             WEXITSTATUS(st));
  else
    snprintf(err, errlen, "the snapshot writer was killed by signal %d (%s)", WTERMSIG(st),
             strsignal(WTERMSIG(st)));
  return -1;
}

/* ---- reading ---- */

/* A snapshot file mapped into memory. */
typedef struct snap_file {
  const uint8_t *p;
  size_t size;
} snap_file;

/* Maps path and checks its magic and trailer. Returns 0 with *f set
 * (unmap with unmap_file), or -1 with why filled. */
static int map_file(const char *path, snap_file *f, char *why, size_t whylen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    snprintf(why, whylen, "%s", strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  if (st.st_size < (off_t)SNAP_MIN_SIZE) {
    close(fd);
    snprintf(why, whylen, "truncated: %lld bytes, no snapshot is shorter than %d",
             (long long)st.st_size, (int)SNAP_MIN_SIZE);
    return -1;
  }
  void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    snprintf(why, whylen, "cannot map it: %s", strerror(errno));
    return -1;
  }
  f->p = p;
  f->size = (size_t)st.st_size;
  const char *bad = NULL;
  if (memcmp(f->p, SNAP_MAGIC, SNAP_MAGIC_LEN) != 0)
    bad = "not a snapshot (bad magic)";
  else if (crc32c(0, f->p, f->size - SNAP_TRAILER) != le_get_u32(f->p + f->size - 4))
    bad = "damaged: its checksum does not match (truncated, or bytes changed)";
  if (bad) {
    munmap((void *)f->p, f->size);
    snprintf(why, whylen, "%s", bad);
    return -1;
  }
  return 0;
}

static void unmap_file(snap_file *f) { munmap((void *)f->p, f->size); }

/* Takes one length-prefixed block at *pos, within the body (before the
 * trailer). */
static bool take_block(const snap_file *f, size_t *pos, sm_span *out) {
  size_t end = f->size - SNAP_TRAILER;
  if (end - *pos < 8) return false;
  uint64_t n = le_get_u64(f->p + *pos);
  *pos += 8;
  if (n > end - *pos) return false;
  *out = (sm_span){f->p + *pos, (size_t)n};
  *pos += (size_t)n;
  return true;
}

/* A packed block that must be a valid value nested at most depth deep. */
static bool take_value(const snap_file *f, size_t *pos, unsigned depth, sm_span *out) {
  return take_block(f, pos, out) && vw_scan(*out, depth, NULL, NULL) == VW_OK;
}

int snap_newest(const char *dir, char *path, size_t pathlen, uint64_t *index, char *err,
                size_t errlen) {
  DIR *d = opendir(dir);
  if (!d) {
    if (errno == ENOENT) return 0;
    snprintf(err, errlen, "%s: %s", dir, strerror(errno));
    return -1;
  }
  uint64_t *found = NULL, idx;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!parse_name(e->d_name, false, &idx)) continue;
    if (n == cap) {
      uint64_t *p = realloc(found, (cap = cap ? cap * 2 : 8) * sizeof *p);
      if (!p) {
        free(found);
        closedir(d);
        snprintf(err, errlen, "out of memory listing %s", dir);
        return -1;
      }
      found = p;
    }
    found[n++] = idx;
  }
  closedir(d);
  /* Newest first: a few files, a selection is enough. */
  int rc = 0;
  for (size_t left = n; left > 0 && rc == 0; left--) {
    size_t best = 0;
    for (size_t i = 1; i < left; i++)
      if (found[i] > found[best]) best = i;
    idx = found[best];
    found[best] = found[left - 1];
    char p[4096], why[256];
    snap_file f;
    if (snap_path(p, sizeof p, dir, idx, "") != 0 || map_file(p, &f, why, sizeof why) != 0) {
      log_warn("snapshot %s/snapshot-%020" PRIu64 ".snap is unusable (%s); trying the one before",
               dir, idx, why);
      continue;
    }
    unmap_file(&f);
    if (snprintf(path, pathlen, "%s", p) >= (int)pathlen) {
      snprintf(err, errlen, "%s: the path is too long", p);
      rc = -1;
    } else {
      *index = idx;
      rc = 1;
    }
  }
  free(found);
  if (rc == 0 && n > 0) {
    /* Starting from nothing would lose what the dropped log held. */
    snprintf(err, errlen, "%s: none of its %zu snapshots is whole (the log says why)", dir, n);
    return -1;
  }
  return rc;
}

/* Loads one object from the file at *pos. */
static int load_object(registry *reg, const snap_file *f, size_t *pos, char *err, size_t errlen) {
  sm_span head, state;
  vinfo h[6] = {0};
  char why[256];
  if (!take_value(f, pos, 1, &head) ||
      (saved_fields(head, "is*i", h, NULL, "object", why, sizeof why) != WS_OK &&
       saved_fields(head, "is*iii", h, NULL, "object", why, sizeof why) != WS_OK) ||
      (h[2].kind != VK_STR && h[2].kind != VK_NIL) || h[3].i < 0 || h[4].i < 0 || h[5].i < 0) {
    snprintf(err, errlen, "an object's head at byte %zu is malformed", *pos);
    return -1;
  }
  uint64_t id = (uint64_t)h[0].i;
  char type[64], *name = NULL;
  snprintf(type, sizeof type, "%.*s", (int)(h[1].data.n < 63 ? h[1].data.n : 63),
           (const char *)h[1].data.p);
  const obj_type *t = reg_type(reg, type);
  if (!t || !t->load) {
    snprintf(err, errlen, "object %" PRIu64 " is a '%s', a type this daemon %s", id, type,
             t ? "keeps in memory only (no deserialize callback)"
               : "does not have (a custom type not registered?)");
    return -1;
  }
  if (!take_value(f, pos, SNAP_STATE_DEPTH, &state)) {
    snprintf(err, errlen, "object %" PRIu64 " (%s): its state is malformed", id, type);
    return -1;
  }
  if (h[2].kind == VK_STR && !(name = strndup((const char *)h[2].data.p, h[2].data.n))) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  void *st = NULL;
  sm_obj *o = NULL;
  int rc = t->load(reg, t, state, &st, why, sizeof why);
  if (rc == WS_OK &&
      (rc = reg_restore(reg, t, id, name, (uint64_t)h[3].i, st, &o, why, sizeof why)) != WS_OK)
    t->destroy(reg, st);
  if (rc == WS_OK && o) {
    o->deadline = h[4].i;
    o->eph_session = (uint64_t)h[5].i; /* the sessions table, loaded later, lists it too */
    exp_update(reg, o);
  }
  free(name);
  if (rc != WS_OK) {
    snprintf(err, errlen, "object %" PRIu64 " (%s): %s", id, type, why);
    return -1;
  }
  return 0;
}

int snap_load(registry *reg, const char *path, snap_meta *meta, uint8_t **extra, size_t *extralen,
              char *err, size_t errlen) {
  snap_file f;
  char why[512];
  *extra = NULL;
  *extralen = 0;
  if (map_file(path, &f, why, sizeof why) != 0) {
    snprintf(err, errlen, "%s: %s", path, why);
    return -1;
  }
  size_t pos = SNAP_MAGIC_LEN + 4;
  uint32_t version = le_get_u32(f.p + SNAP_MAGIC_LEN);
  sm_span ms, ex;
  vinfo m[5];
  int rc = 0;
  if (version != SNAP_VERSION) {
    snprintf(why, sizeof why, "format version %u, and this daemon reads version %u", version,
             SNAP_VERSION);
    rc = -1;
  } else if (!take_value(&f, &pos, 1, &ms) ||
             saved_fields(ms, "iiiii", m, NULL, "meta", why, sizeof why) != WS_OK || m[4].i < 0) {
    snprintf(why, sizeof why, "its meta section is malformed");
    rc = -1;
  } else {
    meta->index = (uint64_t)m[0].i;
    meta->instance = (uint64_t)m[1].i;
    meta->next_id = (uint64_t)m[2].i;
    meta->time_ms = m[3].i;
  }
  for (uint64_t i = 0; rc == 0 && i < (uint64_t)m[4].i; i++)
    rc = load_object(reg, &f, &pos, why, sizeof why);
  if (rc == 0 && (!take_block(&f, &pos, &ex) || pos != f.size - SNAP_TRAILER)) {
    snprintf(why, sizeof why, "its extra section is malformed");
    rc = -1;
  }
  if (rc == 0 && ex.n > 0) {
    if (!(*extra = malloc(ex.n))) {
      snprintf(why, sizeof why, "out of memory");
      rc = -1;
    } else {
      memcpy(*extra, ex.p, ex.n);
      *extralen = ex.n;
    }
  }
  unmap_file(&f);
  if (rc != 0) {
    snprintf(err, errlen, "%s: %s", path, why);
    return -1;
  }
  reg_set_next_id(reg, meta->next_id);
  return 0;
}

/* ---- housekeeping ---- */

void snap_remove_older(const char *dir, uint64_t keep) {
  DIR *d = opendir(dir);
  struct dirent *e;
  uint64_t idx;
  char p[4096];
  while (d && (e = readdir(d))) {
    bool tmp = false;
    if (!parse_name(e->d_name, false, &idx) && !(tmp = parse_name(e->d_name, true, &idx))) continue;
    if (idx >= keep || snap_path(p, sizeof p, dir, idx, tmp ? ".tmp" : "") != 0) continue;
    if (unlink(p) != 0 && errno != ENOENT) log_warn("cannot remove %s: %s", p, strerror(errno));
  }
  if (d) closedir(d);
}

typedef struct unsaved_walk {
  const obj_type *seen[16]; /* the types named so far (a registry has few) */
  size_t n_seen;
  char *buf;
  size_t len, used;
} unsaved_walk;

static void unsaved_one(void *ctx, sm_obj *o) {
  unsaved_walk *w = ctx;
  if (saved_type(o)) return;
  for (size_t i = 0; i < w->n_seen; i++)
    if (w->seen[i] == o->type) return;
  if (w->n_seen == sizeof w->seen / sizeof w->seen[0]) return; /* enough to tell */
  w->seen[w->n_seen++] = o->type;
  int n = snprintf(w->buf + w->used, w->len - w->used, "%s%s", w->used ? ", " : "", o->type->name);
  if (n > 0) w->used += (size_t)n < w->len - w->used ? (size_t)n : w->len - w->used - 1;
}

bool snap_unsaved_types(const registry *reg, char *buf, size_t len) {
  if (len == 0) return false;
  unsaved_walk w = {.buf = buf, .len = len};
  buf[0] = '\0';
  reg_foreach(reg, unsaved_one, &w);
  return w.n_seen > 0;
}
