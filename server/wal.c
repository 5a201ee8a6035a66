/* SPDX-License-Identifier: MIT */
/* wal.c - the command log (wal.h): segment files of [length][crc32c]
 * [index][payload] records, appended by the event loop and written by one
 * writer thread with group commit.
 *
 * Two threads share a struct wal. The loop (wal_append) copies each record
 * into its own `turn` buffer, with no lock, and hands the turn's records
 * over to `batch`, under `mu`, once a turn (wal_write_now; a buffer swap)
 * or, for records no turn's answers wrote, once a second (on_tick). The
 * writer takes the whole batch (a swap again), writes it outside the lock
 * with one pwrite per segment it touches, syncs according to the mode, then publishes what
 * is durable and wakes the loop through an eventfd; on_notify, on the
 * loop, calls on_durable / on_space / on_fatal. Records the writer could
 * not write (a full disk) stay at the front of its buffer `wbuf` and are
 * retried once a second, before anything appended later. In ALWAYS a
 * lone client's records are written and synced by the loop itself
 * (sync_now_or_hand_over), under io as the writer's are. In EVERYSEC
 * the loop writes its own batches (wal_write_now) and the writer's sync,
 * once a second, runs without the files' lock (sync_unlocked), so the loop
 * never waits for it.
 *
 * Reading (wal_read, and wal_open's look at what is there) maps each
 * segment and walks it; seg_scan decides between a clean end, a torn tail
 * and damage. */
#include "wal.h"

#include "clock.h"
#include "crc32c.h"
#include "le.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SEG_PREFIX "log-"
#define SEG_SUFFIX ".seg"
#define SEG_DIGITS 20
/* How long the writer waits between attempts on a full disk, and between
 * syncs in EVERYSEC. */
#define WAL_RETRY_MS 1000
#define WAL_EVERYSEC_MS 1000
/* How often the loop hands over records that no turn's answers wrote (an
 * expiry, a session's end, with nobody waiting for them). */
#define WAL_TICK_MS 1000

/* One segment file of the log. */
typedef struct seg_ent {
  uint64_t first; /**< index of its first record (from its name) */
  uint64_t last;  /**< its last valid record (first - 1: none) */
  uint64_t used;  /**< bytes of records in it */
  uint64_t size;  /**< the file's size */
} seg_ent;

struct wal {
  wal_cfg cfg;
  char *dir;          /**< copy of cfg.dir */
  size_t seg_bytes;   /**< segment size for new segments */
  pthread_t thread;   /**< the writer */
  pthread_mutex_t io; /**< held by whoever writes the files: the writer's side below */
  pthread_mutex_t mu; /**< guards the fields marked (mu); taken after io, never before */
  pthread_cond_t cv;  /**< the writer waits on it for work (mu) */

  /* The loop's side. */
  uint64_t last_index;  /**< last index appended */
  uint64_t durable;     /**< highest index on_durable reported */
  uint64_t full_seen;   /**< full_episodes already reported */
  bool told_full;       /**< on_space(true) was the last call */
  bool told_fatal;      /**< on_fatal was called */
  bool loop_writes;     /**< wal_write_now was called: the loop writes (mu) */
  unsigned lone_turns;  /**< ALWAYS: lone turns in a row (sync_now_or_hand_over) */
  uint64_t turn_index;  /**< last_index at the last wal_write_now */
  int efd;              /**< eventfd the writer wakes the loop with */
  struct event *notify; /**< read event on efd */
  struct event *tick;   /**< once a second: hands over what no turn did (on_tick) */
  uint8_t *turn;        /**< records appended since the last hand-over */
  size_t turn_len, turn_cap;
  bool turns; /**< wal_write_now was called: it hands the records over, once a turn */

  /* Shared, under mu. */
  uint8_t *batch; /**< records appended, not yet taken (mu) */
  size_t batch_len, batch_cap;
  bool stopping;          /**< wal_close asked the writer to finish (mu) */
  uint64_t durable_pub;   /**< what the writer made durable (mu) */
  uint64_t full_episodes; /**< times the disk became full (mu) */
  char fatal[256];        /**< why the writer stopped; "" while fine (mu) */
  seg_ent *segs;          /**< the kept segments, oldest first (mu) */
  size_t nsegs, segs_cap;

  /* Read anywhere. */
  atomic_bool full; /**< the writer holds records it cannot write */
  atomic_uint_fast64_t syncs;
  atomic_uint_fast64_t bytes;

  /* The writer's side: the writer thread's, or the loop's in
   * wal_write_now (EVERYSEC and NO), under io. */
  uint8_t *wbuf; /**< records taken, not yet written */
  size_t wlen, wcap;
  int fd;           /**< the current segment, -1: none */
  uint64_t seg_off; /**< where the next record goes in it */
  uint64_t seg_cap; /**< its size */
  bool seg_dirty;   /**< written since its last sync */
  uint64_t wgen;    /**< bumped by each write and each new segment (sync_unlocked) */
  uint64_t written; /**< last index written to a file */
  uint64_t synced;  /**< last index synced */
  int64_t retry_at; /**< when to try a full disk again (ms) */
  int64_t sync_at;  /**< when EVERYSEC syncs next (ms) */
  bool dead;        /**< a fatal error: write nothing more */
};

static void on_notify(evutil_socket_t fd, short what, void *arg);
static void on_tick(evutil_socket_t fd, short what, void *arg);
static void *writer_main(void *arg);

/* Formats a message into buf (len bytes), cut short if it must be. */
__attribute__((format(printf, 3, 4))) static void wal_errf(char *buf, size_t len, const char *fmt,
                                                           ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, len, fmt, ap);
  va_end(ap);
}

/* The CRC of a record: its index field, then its payload. */
static uint32_t rec_crc(const uint8_t *index_field, const void *payload, size_t len) {
  return crc32c(crc32c(0, index_field, 8), payload, len);
}

/* ---- files ------------------------------------------------------------ */

static void seg_path(char *buf, size_t len, const char *dir, uint64_t first) {
  snprintf(buf, len, "%s/" SEG_PREFIX "%0*" PRIu64 SEG_SUFFIX, dir, SEG_DIGITS, first);
}

/* The index in a segment file name, or false when name is not one. */
static bool seg_name_index(const char *name, uint64_t *first) {
  size_t plen = strlen(SEG_PREFIX), slen = strlen(SEG_SUFFIX);
  if (strlen(name) != plen + SEG_DIGITS + slen || strncmp(name, SEG_PREFIX, plen) != 0 ||
      strcmp(name + plen + SEG_DIGITS, SEG_SUFFIX) != 0)
    return false;
  uint64_t v = 0;
  for (size_t i = plen; i < plen + SEG_DIGITS; i++) {
    if (name[i] < '0' || name[i] > '9') return false;
    v = v * 10 + (uint64_t)(name[i] - '0');
  }
  *first = v;
  return v > 0;
}

static int cmp_seg(const void *a, const void *b) {
  uint64_t x = ((const seg_ent *)a)->first, y = ((const seg_ent *)b)->first;
  return x < y ? -1 : x > y;
}

/* The segments of dir, oldest first, into *out (caller frees; NULL when
 * none). Returns 0, or -1 with err filled. */
static int seg_list(const char *dir, seg_ent **out, size_t *n, char *err, size_t errlen) {
  *out = NULL;
  *n = 0;
  DIR *d = opendir(dir);
  if (!d) {
    wal_errf(err, errlen, "%s: %s", dir, strerror(errno));
    return -1;
  }
  seg_ent *v = NULL;
  size_t cnt = 0, cap = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    uint64_t first;
    if (!seg_name_index(de->d_name, &first)) continue;
    if (cnt == cap) {
      size_t ncap = cap ? cap * 2 : 16;
      seg_ent *nv = realloc(v, ncap * sizeof *nv);
      if (!nv) {
        free(v);
        closedir(d);
        wal_errf(err, errlen, "out of memory listing %s", dir);
        return -1;
      }
      v = nv;
      cap = ncap;
    }
    v[cnt++] = (seg_ent){.first = first, .last = first - 1};
  }
  closedir(d);
  if (cnt) qsort(v, cnt, sizeof *v, cmp_seg);
  *out = v;
  *n = cnt;
  return 0;
}

/* fsync of the directory, so that a segment created or removed stays so.
 * Returns 0 or -1 with errno set. */
static int dir_sync(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  int e = errno;
  close(fd);
  errno = e;
  return rc;
}

/* ---- reading ------------------------------------------------------------ */

/* Whether a valid record with index want or want + 1 starts in p[from,
 * end) (end: past the last non-zero byte; a record starts with its
 * non-zero length) and fits in size bytes: a bad record with good ones
 * after it is damage, not a torn tail. */
static bool valid_record_after(const uint8_t *p, size_t size, size_t from, size_t end,
                               uint64_t want) {
  for (size_t o = from; o < end && o + WAL_RECORD_HEADER <= size; o++) {
    uint64_t idx = le_get_u64(p + o + 8);
    if (idx != want && idx != want + 1) continue;
    uint32_t len = le_get_u32(p + o);
    if (len == 0 || len > WAL_RECORD_MAX || len > size - o - WAL_RECORD_HEADER) continue;
    if (rec_crc(p + o + 8, p + o + WAL_RECORD_HEADER, len) == le_get_u32(p + o + 4)) return true;
  }
  return false;
}

/* Zeros path's bytes [from, to) and syncs it: cuts a torn tail while the
 * file keeps its preallocated size. Returns 0 or -1 with err filled. */
static int seg_zero(const char *path, uint64_t from, uint64_t to, char *err, size_t errlen) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    wal_errf(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  static const uint8_t zeros[4096];
  int rc = 0;
  for (uint64_t o = from; o < to && rc == 0;) {
    size_t n = to - o < sizeof zeros ? (size_t)(to - o) : sizeof zeros;
    ssize_t w = pwrite(fd, zeros, n, (off_t)o);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0)
      rc = -1;
    else
      o += (uint64_t)w;
  }
  if (rc == 0 && fdatasync(fd) != 0) rc = -1;
  if (rc != 0)
    wal_errf(err, errlen, "%s: cutting the torn tail at offset %" PRIu64 ": %s", path, from,
             strerror(errno));
  close(fd);
  return rc;
}

/* What one pass over the log needs. */
typedef struct scan_ctx {
  uint64_t after; /**< records at or below are not passed on */
  bool truncate;  /**< cut a torn tail */
  wal_record_fn fn;
  void *ctx;
  wal_read_info *info;
} scan_ctx;

/* Walks segment s (path, the last one when last) and its records,
 * expecting s->first first. Fills s->last and s->used. Returns 0, -1 with
 * err filled (damage, or an I/O error), or what fn returned. */
static int seg_scan(const char *path, seg_ent *s, bool last, scan_ctx *sc, char *err,
                    size_t errlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    wal_errf(err, errlen, "%s: %s", path, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    wal_errf(err, errlen, "%s: %s", path, strerror(errno));
    close(fd);
    return -1;
  }
  size_t size = (size_t)st.st_size;
  s->size = (uint64_t)st.st_size;
  const uint8_t *p = NULL;
  if (size > 0) {
    p = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      wal_errf(err, errlen, "%s: mmap: %s", path, strerror(errno));
      close(fd);
      return -1;
    }
  }
  close(fd);

  int rc = 0;
  size_t off = 0;
  uint64_t expect = s->first;
  const char *bad = NULL; /* why the walk stopped before the zeros */
  while (off + WAL_RECORD_HEADER <= size) {
    uint32_t len = le_get_u32(p + off);
    if (len == 0) break; /* the zeros after the last record, or damage: see below */
    if (len > WAL_RECORD_MAX || len > size - off - WAL_RECORD_HEADER) {
      bad = "a record length past the end of the segment";
      break;
    }
    const uint8_t *payload = p + off + WAL_RECORD_HEADER;
    if (rec_crc(p + off + 8, payload, len) != le_get_u32(p + off + 4)) {
      bad = "a CRC mismatch";
      break;
    }
    uint64_t idx = le_get_u64(p + off + 8);
    if (idx != expect) {
      wal_errf(err, errlen,
               "%s: offset %zu: record index %" PRIu64 " where %" PRIu64 " was expected", path, off,
               idx, expect);
      rc = -1;
      goto out;
    }
    if (idx > sc->after && sc->fn) {
      rc = sc->fn(sc->ctx, idx, payload, len);
      if (rc != 0) goto out;
    }
    if (idx > sc->after) {
      if (sc->info->first_index == 0) sc->info->first_index = idx;
      sc->info->last_index = idx;
      sc->info->records++;
    }
    expect++;
    off += WAL_RECORD_HEADER + len;
  }
  s->last = expect - 1;
  s->used = off;

  /* The valid records end at off: the rest must be zeros, or be a torn
   * write at the very end of the log. */
  size_t end = size;
  while (end > off && p[end - 1] == 0)
    end--;
  if (end == off) goto out;
  if (!bad)
    bad = off + WAL_RECORD_HEADER > size ? "a partial record header" : "data after a zero length";
  if (!last || valid_record_after(p, size, off + 1, end, expect)) {
    wal_errf(err, errlen, "%s: offset %zu: %s%s", path, off, bad,
             last ? ", with valid records after it" : " in a segment that is not the last");
    rc = -1;
    goto out;
  }
  wal_read_info *info = sc->info;
  info->torn = true;
  wal_errf(info->torn_file, sizeof info->torn_file, "%s", path);
  info->torn_offset = off;
  info->torn_bytes = end - off;
  if (sc->truncate) rc = seg_zero(path, off, end, err, errlen);

out:
  if (p) munmap((void *)p, size);
  return rc;
}

/* Reads the whole log of dir as wal_read does; *segs_out (when not NULL)
 * receives the segments with what was found in them (caller frees). */
static int log_scan(const char *dir, scan_ctx *sc, seg_ent **segs_out, size_t *nsegs_out, char *err,
                    size_t errlen) {
  seg_ent *segs;
  size_t n;
  memset(sc->info, 0, sizeof *sc->info);
  if (seg_list(dir, &segs, &n, err, errlen) != 0) return -1;
  int rc = 0;
  char path[4096];
  for (size_t i = 0; i < n && rc == 0; i++) {
    seg_path(path, sizeof path, dir, segs[i].first);
    /* Records between the previous segment and this one are missing,
     * unless the snapshot (after) holds them. */
    uint64_t from = i == 0 ? sc->after + 1 : segs[i - 1].last + 1;
    if (segs[i].first > from && segs[i].first > sc->after + 1) {
      uint64_t lo = from > sc->after + 1 ? from : sc->after + 1;
      wal_errf(err, errlen,
               "%s: offset 0: records %" PRIu64 " to %" PRIu64
               " are in no segment (a segment is missing)",
               path, lo, segs[i].first - 1);
      rc = -1;
      break;
    }
    if (i > 0 && segs[i].first < from) {
      wal_errf(err, errlen,
               "%s: offset 0: starts at %" PRIu64 " but the segment before ends at %" PRIu64, path,
               segs[i].first, from - 1);
      rc = -1;
      break;
    }
    rc = seg_scan(path, &segs[i], i + 1 == n, sc, err, errlen);
  }
  if (rc == 0 && segs_out) {
    *segs_out = segs;
    *nsegs_out = n;
  } else {
    free(segs);
  }
  return rc;
}

int wal_read(const char *dir, uint64_t after, bool truncate, wal_record_fn fn, void *ctx,
             wal_read_info *info, char *err, size_t errlen) {
  wal_read_info scratch;
  scan_ctx sc = {
      .after = after, .truncate = truncate, .fn = fn, .ctx = ctx, .info = info ? info : &scratch};
  return log_scan(dir, &sc, NULL, NULL, err, errlen);
}

/* ---- the loop's side ---------------------------------------------------- */

/* wal_open's check: no record at or past next_index may exist already. */
static int refuse_record(void *ctx, uint64_t index, const void *data, size_t len) {
  (void)data;
  (void)len;
  *(uint64_t *)ctx = index;
  return 1;
}

/* Wakes the loop (on_notify); called by the writer after publishing. */
static void notify_loop(wal *w) {
  uint64_t one = 1;
  ssize_t n;
  do
    n = write(w->efd, &one, sizeof one);
  while (n < 0 && errno == EINTR);
  /* EAGAIN: the counter is already non-zero, the loop wakes anyway. */
}

/* Creates the segment whose first record is first, size bytes,
 * preallocated, after syncing and closing the current one. Returns 0, 1
 * when the disk is full (nothing left behind), -1 with why filled. */
static int seg_create(wal *w, uint64_t first, uint64_t size, char *why, size_t whylen) {
  if (w->fd >= 0) {
    if (w->seg_dirty) {
      if (fdatasync(w->fd) != 0) {
        wal_errf(why, whylen, "fdatasync of the log: %s", strerror(errno));
        return -1;
      }
      atomic_fetch_add(&w->syncs, 1);
      w->seg_dirty = false;
      w->synced = w->written;
    }
    close(w->fd);
    w->fd = -1;
  }
  char path[4096];
  seg_path(path, sizeof path, w->dir, first);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    int e = errno;
    if (e == ENOSPC || e == EFBIG || e == EDQUOT) return 1;
    wal_errf(why, whylen, "creating %s: %s", path, strerror(e));
    return -1;
  }
  int e = posix_fallocate(fd, 0, (off_t)size);
  if (e != 0) {
    close(fd);
    unlink(path);
    if (e == ENOSPC || e == EFBIG || e == EDQUOT) return 1;
    wal_errf(why, whylen, "preallocating %s: %s", path, strerror(e));
    return -1;
  }
  if (dir_sync(w->dir) != 0) {
    e = errno;
    close(fd);
    unlink(path);
    if (e == ENOSPC || e == EDQUOT) return 1;
    wal_errf(why, whylen, "fsync of %s: %s", w->dir, strerror(e));
    return -1;
  }
  pthread_mutex_lock(&w->mu);
  if (w->nsegs > 0 && w->segs[w->nsegs - 1].first == first) {
    w->segs[w->nsegs - 1] = (seg_ent){.first = first, .last = first - 1, .size = size};
  } else {
    if (w->nsegs == w->segs_cap) {
      size_t ncap = w->segs_cap ? w->segs_cap * 2 : 16;
      seg_ent *nv = realloc(w->segs, ncap * sizeof *nv);
      if (!nv) {
        pthread_mutex_unlock(&w->mu);
        close(fd);
        unlink(path);
        wal_errf(why, whylen, "out of memory adding a log segment");
        return -1;
      }
      w->segs = nv;
      w->segs_cap = ncap;
    }
    w->segs[w->nsegs++] = (seg_ent){.first = first, .last = first - 1, .size = size};
  }
  pthread_mutex_unlock(&w->mu);
  w->fd = fd;
  w->seg_off = 0;
  w->seg_cap = size;
  w->wgen++;
  return 0;
}

/* Writes wbuf's records to the segments, rolling to a new segment when
 * the next record does not fit. Written records leave wbuf; on a full
 * disk the rest stays. Returns 0, 1 (full), or -1 with why filled. */
static int write_pending(wal *w, char *why, size_t whylen) {
  size_t pos = 0;
  int rc = 0;
  if (w->fd < 0)
    rc = seg_create(w, w->written + 1,
                    w->wlen > 0 && WAL_RECORD_HEADER + (uint64_t)le_get_u32(w->wbuf) > w->seg_bytes
                        ? WAL_RECORD_HEADER + (uint64_t)le_get_u32(w->wbuf)
                        : w->seg_bytes,
                    why, whylen);
  while (rc == 0 && pos < w->wlen) {
    uint64_t reclen = WAL_RECORD_HEADER + (uint64_t)le_get_u32(w->wbuf + pos);
    if (w->seg_off + reclen > w->seg_cap) {
      uint64_t size = reclen > w->seg_bytes ? reclen : w->seg_bytes;
      rc = seg_create(w, le_get_u64(w->wbuf + pos + 8), size, why, whylen);
      if (rc != 0) break;
    }
    /* As many whole records as fit in this segment, in one write. */
    size_t end = pos;
    uint64_t last = 0;
    while (end < w->wlen) {
      uint64_t l = WAL_RECORD_HEADER + (uint64_t)le_get_u32(w->wbuf + end);
      if (w->seg_off + (end - pos) + l > w->seg_cap) break;
      last = le_get_u64(w->wbuf + end + 8);
      end += (size_t)l;
    }
    size_t done = 0;
    while (done < end - pos) {
      ssize_t n = pwrite(w->fd, w->wbuf + pos + done, end - pos - done, (off_t)(w->seg_off + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int e = errno;
        if (e == ENOSPC || e == EFBIG || e == EDQUOT) {
          rc = 1; /* the same bytes are written again at the same offset */
        } else {
          wal_errf(why, whylen, "writing the log: %s", strerror(e));
          rc = -1;
        }
        break;
      }
      done += (size_t)n;
      w->seg_dirty = true;
      w->wgen++;
    }
    if (rc != 0) break;
    w->seg_off += end - pos;
    atomic_fetch_add(&w->bytes, end - pos);
    pthread_mutex_lock(&w->mu);
    w->segs[w->nsegs - 1].used = w->seg_off;
    w->segs[w->nsegs - 1].last = last;
    pthread_mutex_unlock(&w->mu);
    w->written = last;
    pos = end;
  }
  if (pos > 0) {
    memmove(w->wbuf, w->wbuf + pos, w->wlen - pos);
    w->wlen -= pos;
  }
  return rc;
}

/* Syncs the current segment if it has unsynced writes. Returns 0 or -1
 * with why filled. */
static int sync_current(wal *w, char *why, size_t whylen) {
  if (w->fd < 0 || !w->seg_dirty) {
    w->synced = w->written;
    return 0;
  }
  if (fdatasync(w->fd) != 0) {
    wal_errf(why, whylen, "fdatasync of the log: %s", strerror(errno));
    return -1;
  }
  atomic_fetch_add(&w->syncs, 1);
  w->seg_dirty = false;
  w->synced = w->written;
  return 0;
}

/* EVERYSEC's sync, made without holding io: called with io held, it
 * syncs a duplicate of the current segment's descriptor with io released,
 * so that the loop goes on writing (wal_write_now) and answering while the
 * disk syncs, as Redis's background fsync does; a sync takes milliseconds
 * to tens of them, and every answer of that time would wait for it. The
 * duplicate keeps the file open if the loop rolls to a new segment
 * meanwhile (seg_create syncs the old one itself). The segment stays dirty
 * when anything was written or rolled during the sync (wgen moved). Returns
 * with io held: 0, or -1 with why filled. */
static int sync_unlocked(wal *w, char *why, size_t whylen) {
  if (w->fd < 0 || !w->seg_dirty) return sync_current(w, why, whylen);
  int fd = fcntl(w->fd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return sync_current(w, why, whylen); /* no descriptor to spare: hold io */
  uint64_t upto = w->written, gen = w->wgen;
  pthread_mutex_unlock(&w->io);
  int rc = fdatasync(fd);
  int e = errno;
  close(fd);
  pthread_mutex_lock(&w->io);
  if (rc != 0) {
    wal_errf(why, whylen, "fdatasync of the log: %s", strerror(e));
    return -1;
  }
  atomic_fetch_add(&w->syncs, 1);
  if (w->wgen == gen) w->seg_dirty = false;
  if (upto > w->synced) w->synced = upto;
  return 0;
}

/* A buffer of whole records. */
typedef struct recbuf {
  uint8_t **p;
  size_t *len, *cap;
} recbuf;

/* Moves the records of from behind those of to: a swap of the buffers
 * when to holds none (the usual case: no copy). Returns false when out of
 * memory (both unchanged). */
static bool recbuf_move(recbuf to, recbuf from) {
  if (*from.len == 0) return true;
  if (*to.len == 0) {
    uint8_t *p = *to.p;
    size_t cap = *to.cap;
    *to.p = *from.p;
    *to.cap = *from.cap;
    *to.len = *from.len;
    *from.p = p;
    *from.cap = cap;
  } else {
    if (*to.len + *from.len > *to.cap) {
      size_t ncap = (*to.len + *from.len) * 2;
      uint8_t *nb = realloc(*to.p, ncap);
      if (!nb) return false;
      *to.p = nb;
      *to.cap = ncap;
    }
    memcpy(*to.p + *to.len, *from.p, *from.len);
    *to.len += *from.len;
  }
  *from.len = 0;
  return true;
}

#define RECBUF(w, name) ((recbuf){&(w)->name, &(w)->name##_len, &(w)->name##_cap})

/* Moves the loop's batch behind what the writer still holds. Under mu.
 * Returns false when out of memory. */
static bool take_batch(wal *w) {
  return recbuf_move((recbuf){&w->wbuf, &w->wlen, &w->wcap}, RECBUF(w, batch));
}

/* Moves the loop's records of this turn behind the batch, for whichever
 * thread writes them next. Under mu, on the loop's thread. On running out
 * of memory they stay in the turn, in order, for the next hand-over. */
static void hand_over(wal *w) { (void)recbuf_move(RECBUF(w, batch), RECBUF(w, turn)); }

/* Records the outcome of a write (rc: 0, or -1 with why) under mu, and
 * wakes the loop to report it: a fatal error, the disk becoming full
 * (now_full) or having room again (a write that went through after was_full),
 * and what is durable now. */
static void publish(wal *w, int rc, const char *why, bool now_full, bool was_full, bool wrote,
                    uint64_t durable) {
  if (rc != 0 && !w->dead) {
    w->dead = true;
    wal_errf(w->fatal, sizeof w->fatal, "%s", why);
  }
  if (now_full) {
    if (!was_full) w->full_episodes++;
    atomic_store(&w->full, true);
    w->retry_at = clock_mono_ms() + WAL_RETRY_MS;
    pthread_cond_signal(&w->cv); /* the writer retries */
  } else if (rc == 0 && wrote) {
    atomic_store(&w->full, false);
  }
  if (durable > w->durable_pub) w->durable_pub = durable;
  notify_loop(w);
}

/* The writer thread: takes batches, writes them, syncs per mode, and
 * reports; on a full disk retries once a second; at wal_close writes and
 * syncs what is left and returns. */
static void *writer_main(void *arg) {
  wal *w = arg;
  char why[256];
  pthread_mutex_lock(&w->mu);
  for (;;) {
    int64_t now = clock_mono_ms();
    bool full = atomic_load(&w->full);
    bool stopping = w->stopping;
    bool write_due =
        !w->dead && (full ? now >= w->retry_at || stopping : w->batch_len > 0 || stopping);
    /* EVERYSEC: the loop may have written (wal_write_now) without telling
     * this thread, so it looks once a second (sync_unlocked does nothing
     * when nothing was written). */
    bool everysec = !w->dead && w->cfg.fsync == WAL_FSYNC_EVERYSEC;
    bool sync_due = everysec && now >= w->sync_at;
    /* NO with the loop writing: a batch it could not write is looked for
     * once a second as well. */
    bool poll = everysec || (!w->dead && w->loop_writes);
    if (!write_due && !sync_due) {
      if (stopping) break;
      int64_t until = -1;
      if (full && !w->dead) until = w->retry_at;
      if (everysec && (until < 0 || w->sync_at < until)) until = w->sync_at;
      if (poll && until < 0) until = now + WAL_EVERYSEC_MS;
      if (until < 0) {
        pthread_cond_wait(&w->cv, &w->mu);
      } else {
        struct timespec ts = {.tv_sec = until / 1000, .tv_nsec = (long)(until % 1000) * 1000000};
        pthread_cond_timedwait(&w->cv, &w->mu, &ts);
      }
      continue;
    }
    /* On a full disk, records appended meanwhile stay in the batch until
     * the retry: they go behind the ones the writer holds. The files are
     * the writer's side: io first, then mu again for the batch. */
    pthread_mutex_unlock(&w->mu);
    pthread_mutex_lock(&w->io);
    pthread_mutex_lock(&w->mu);
    bool took = write_due ? take_batch(w) : true;
    pthread_mutex_unlock(&w->mu);

    int rc = 0;
    if (!took) {
      wal_errf(why, sizeof why, "out of memory in the log writer");
      rc = -1;
    }
    if (rc == 0 && write_due) rc = write_pending(w, why, sizeof why);
    bool now_full = rc == 1;
    if (rc == 1) rc = 0;
    /* ALWAYS syncs each batch; EVERYSEC when a second has passed; every
     * mode at the end. */
    if (rc == 0 && (w->cfg.fsync == WAL_FSYNC_ALWAYS || stopping)) {
      rc = sync_current(w, why, sizeof why);
      w->sync_at = clock_mono_ms() + WAL_EVERYSEC_MS;
    } else if (rc == 0 && w->cfg.fsync == WAL_FSYNC_EVERYSEC && clock_mono_ms() >= w->sync_at) {
      rc = sync_unlocked(w, why, sizeof why);
      w->sync_at = clock_mono_ms() + WAL_EVERYSEC_MS;
    }
    uint64_t durable = w->cfg.fsync == WAL_FSYNC_ALWAYS ? w->synced : w->written;
    size_t left = w->wlen;
    pthread_mutex_unlock(&w->io);

    pthread_mutex_lock(&w->mu);
    publish(w, rc, why, now_full, full, write_due, durable);
    if (stopping && (w->dead || (left == 0 && w->batch_len == 0) || now_full)) {
      if (now_full && left > 0)
        log_error("the log's disk is still full at the stop: %zu bytes of records are lost", left);
      break;
    }
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

/* The writer published something: report it on the loop's thread. */
static void on_notify(evutil_socket_t fd, short what, void *arg) {
  (void)what;
  wal *w = arg;
  uint64_t v;
  while (read(fd, &v, sizeof v) < 0 && errno == EINTR)
    ;
  pthread_mutex_lock(&w->mu);
  uint64_t durable = w->durable_pub;
  uint64_t episodes = w->full_episodes;
  bool full = atomic_load(&w->full);
  char fatal[sizeof w->fatal];
  memcpy(fatal, w->fatal, sizeof fatal);
  pthread_mutex_unlock(&w->mu);

  if (durable > w->durable) {
    w->durable = durable;
    if (w->cfg.on_durable) w->cfg.on_durable(w->cfg.ctx, durable);
  }
  if (episodes != w->full_seen) {
    w->full_seen = episodes;
    if (!w->told_full) {
      w->told_full = true;
      if (w->cfg.on_space) w->cfg.on_space(w->cfg.ctx, true);
    }
  }
  if (w->told_full && !full) {
    w->told_full = false;
    if (w->cfg.on_space) w->cfg.on_space(w->cfg.ctx, false);
  }
  if (fatal[0] && !w->told_fatal) {
    w->told_fatal = true;
    if (w->cfg.on_fatal) w->cfg.on_fatal(w->cfg.ctx, fatal);
  }
}

/* Once a second: records that no turn's answers wrote (wal_write_now
 * runs before answers go out) go to the writer, which writes them (and
 * syncs them in ALWAYS) as it writes any batch. */
static void on_tick(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  wal *w = arg;
  if (w->turn_len == 0) return;
  pthread_mutex_lock(&w->mu);
  hand_over(w);
  if (w->batch_len > 0) pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

/* Frees w and what it holds; the writer must not be running. */
static void wal_free(wal *w) {
  if (w->notify) event_free(w->notify);
  if (w->tick) event_free(w->tick);
  if (w->efd >= 0) close(w->efd);
  if (w->fd >= 0) close(w->fd);
  pthread_cond_destroy(&w->cv);
  pthread_mutex_destroy(&w->mu);
  pthread_mutex_destroy(&w->io);
  free(w->turn);
  free(w->batch);
  free(w->wbuf);
  free(w->segs);
  free(w->dir);
  free(w);
}

int wal_open(const wal_cfg *cfg, uint64_t next_index, wal **out, char *err, size_t errlen) {
  *out = NULL;
  if (!cfg || !cfg->dir || !cfg->base || next_index == 0) {
    wal_errf(err, errlen, "wal_open: a directory, an event base and a next index are needed");
    return -1;
  }
  wal *w = calloc(1, sizeof *w);
  if (!w) {
    wal_errf(err, errlen, "out of memory opening the log");
    return -1;
  }
  w->cfg = *cfg;
  w->fd = -1;
  w->efd = -1;
  w->seg_bytes = cfg->segment_bytes ? cfg->segment_bytes : WAL_SEGMENT_DEFAULT;
  if (w->seg_bytes < WAL_RECORD_HEADER + 1) w->seg_bytes = WAL_RECORD_HEADER + 1;
  w->last_index = next_index - 1;
  w->durable = next_index - 1;
  w->durable_pub = next_index - 1;
  w->written = w->synced = next_index - 1;
  pthread_mutex_init(&w->io, NULL);
  pthread_mutex_init(&w->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&w->cv, &ca);
  pthread_condattr_destroy(&ca);
  w->dir = strdup(cfg->dir);
  if (!w->dir) {
    wal_errf(err, errlen, "out of memory opening the log");
    wal_free(w);
    return -1;
  }

  /* What is there: a torn tail is cut (its records were not replayed), a
   * record at or past next_index means the caller's recovery and the log
   * disagree. */
  wal_read_info info;
  uint64_t extra = 0;
  scan_ctx sc = {
      .after = next_index - 1, .truncate = true, .fn = refuse_record, .ctx = &extra, .info = &info};
  int rc = log_scan(w->dir, &sc, &w->segs, &w->nsegs, err, errlen);
  if (rc > 0)
    wal_errf(err, errlen, "%s: the log holds record %" PRIu64 " but the next index is %" PRIu64,
             w->dir, extra, next_index);
  if (rc != 0) {
    wal_free(w);
    return -1;
  }
  w->segs_cap = w->nsegs;
  if (info.torn)
    log_warn("%s: a torn record at offset %" PRIu64 " (%" PRIu64 " bytes) was cut", info.torn_file,
             info.torn_offset, info.torn_bytes);
  uint64_t total = 0;
  for (size_t i = 0; i < w->nsegs; i++)
    total += w->segs[i].used;
  atomic_store(&w->bytes, total);

  /* Go on in the last segment when the new records follow its own. */
  char why[256] = "";
  seg_ent *tail = w->nsegs ? &w->segs[w->nsegs - 1] : NULL;
  if (tail && tail->last == next_index - 1) {
    char path[4096];
    seg_path(path, sizeof path, w->dir, tail->first);
    w->fd = open(path, O_WRONLY | O_CLOEXEC);
    if (w->fd < 0) {
      wal_errf(err, errlen, "%s: %s", path, strerror(errno));
      wal_free(w);
      return -1;
    }
    w->seg_off = tail->used;
    w->seg_cap = tail->size;
  } else {
    rc = seg_create(w, next_index, w->seg_bytes, why, sizeof why);
    if (rc < 0) {
      wal_errf(err, errlen, "%s", why);
      wal_free(w);
      return -1;
    }
    if (rc == 1) {
      /* Start full: the writer makes the segment once there is room. */
      atomic_store(&w->full, true);
      w->full_episodes = 1;
      w->retry_at = clock_mono_ms() + WAL_RETRY_MS;
    }
  }
  w->sync_at = clock_mono_ms() + WAL_EVERYSEC_MS;

  w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (w->efd < 0) {
    wal_errf(err, errlen, "eventfd: %s", strerror(errno));
    wal_free(w);
    return -1;
  }
  w->notify = event_new(cfg->base, w->efd, EV_READ | EV_PERSIST, on_notify, w);
  if (!w->notify || event_add(w->notify, NULL) != 0) {
    wal_errf(err, errlen, "cannot watch the log writer's eventfd");
    wal_free(w);
    return -1;
  }
  w->tick = event_new(cfg->base, -1, EV_PERSIST, on_tick, w);
  struct timeval every = {WAL_TICK_MS / 1000, (WAL_TICK_MS % 1000) * 1000};
  if (!w->tick || event_add(w->tick, &every) != 0) {
    wal_errf(err, errlen, "cannot start the log's timer");
    wal_free(w);
    return -1;
  }
  if (atomic_load(&w->full)) notify_loop(w);
  rc = pthread_create(&w->thread, NULL, writer_main, w);
  if (rc != 0) {
    wal_errf(err, errlen, "starting the log writer: %s", strerror(rc));
    wal_free(w);
    return -1;
  }
  *out = w;
  return 0;
}

uint64_t wal_append(wal *w, const void *data, size_t len) {
  if (len == 0 || len > WAL_RECORD_MAX) return 0; /* not a record: the caller treats it as fatal */
  size_t need = w->turn_len + WAL_RECORD_HEADER + len;
  if (need > w->turn_cap) {
    size_t ncap = w->turn_cap ? w->turn_cap : 64 * 1024;
    while (ncap < need)
      ncap *= 2;
    uint8_t *nb = realloc(w->turn, ncap);
    if (!nb) return 0;
    w->turn = nb;
    w->turn_cap = ncap;
  }
  uint64_t index = w->last_index + 1;
  uint8_t *rec = w->turn + w->turn_len;
  le_put_u32(rec, (uint32_t)len);
  le_put_u64(rec + 8, index);
  memcpy(rec + WAL_RECORD_HEADER, data, len);
  le_put_u32(rec + 4, crc32c(0, rec + 8, 8 + len)); /* the index field and the payload */
  w->turn_len = need;
  w->last_index = index;
  if (!w->turns) {
    /* No turns (yet): each record goes to the writer at once. */
    pthread_mutex_lock(&w->mu);
    bool was_empty = w->batch_len == 0;
    hand_over(w);
    if (was_empty && w->batch_len > 0) pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
  }
  return index;
}

uint64_t wal_last_index(const wal *w) { return w->last_index; }

uint64_t wal_durable_index(const wal *w) { return w->durable; }

bool wal_full(const wal *w) { return atomic_load(&((wal *)w)->full); }

uint64_t wal_bytes(const wal *w) { return atomic_load(&((wal *)w)->bytes); }

uint64_t wal_syncs(const wal *w) { return atomic_load(&((wal *)w)->syncs); }

int wal_detach_before(wal *w, uint64_t index, char ***paths, size_t *n, char *err, size_t errlen) {
  *paths = NULL;
  *n = 0;
  /* Segment i holds records up to segs[i + 1].first - 1; the last one is
   * being written and stays. */
  pthread_mutex_lock(&w->mu);
  size_t drop = 0;
  while (drop + 1 < w->nsegs && w->segs[drop + 1].first - 1 <= index)
    drop++;
  char **out = drop ? calloc(drop, sizeof *out) : NULL;
  bool ok = drop == 0 || out;
  for (size_t i = 0; ok && i < drop; i++) {
    char path[4096];
    seg_path(path, sizeof path, w->dir, w->segs[i].first);
    ok = (out[i] = strdup(path)) != NULL;
  }
  if (!ok) {
    pthread_mutex_unlock(&w->mu);
    for (size_t i = 0; out && i < drop; i++)
      free(out[i]);
    free(out);
    wal_errf(err, errlen, "out of memory dropping log segments");
    return -1;
  }
  for (size_t i = 0; i < drop; i++)
    atomic_fetch_sub(&w->bytes, w->segs[i].used);
  memmove(w->segs, w->segs + drop, (w->nsegs - drop) * sizeof *w->segs);
  w->nsegs -= drop;
  pthread_mutex_unlock(&w->mu);
  *paths = out;
  *n = drop;
  return 0;
}

int wal_drop_before(wal *w, uint64_t index, char *err, size_t errlen) {
  /* Segment i holds records up to segs[i + 1].first - 1; the last one is
   * being written and stays. */
  pthread_mutex_lock(&w->mu);
  size_t drop = 0;
  while (drop + 1 < w->nsegs && w->segs[drop + 1].first - 1 <= index)
    drop++;
  seg_ent *gone = NULL;
  if (drop > 0) {
    gone = malloc(drop * sizeof *gone);
    if (!gone) {
      pthread_mutex_unlock(&w->mu);
      wal_errf(err, errlen, "out of memory dropping log segments");
      return -1;
    }
    memcpy(gone, w->segs, drop * sizeof *gone);
    memmove(w->segs, w->segs + drop, (w->nsegs - drop) * sizeof *w->segs);
    w->nsegs -= drop;
  }
  pthread_mutex_unlock(&w->mu);
  int rc = 0;
  char path[4096];
  for (size_t i = 0; i < drop; i++) {
    seg_path(path, sizeof path, w->dir, gone[i].first);
    if (unlink(path) != 0 && errno != ENOENT && rc == 0) {
      wal_errf(err, errlen, "removing %s: %s", path, strerror(errno));
      rc = -1;
    }
    atomic_fetch_sub(&w->bytes, gone[i].used);
  }
  free(gone);
  if (drop > 0 && dir_sync(w->dir) != 0 && rc == 0) {
    wal_errf(err, errlen, "fsync of %s: %s", w->dir, strerror(errno));
    rc = -1;
  }
  return rc;
}

void wal_close(wal *w) {
  if (!w) return;
  pthread_mutex_lock(&w->mu);
  hand_over(w);
  if (w->turn_len > 0)
    log_error("out of memory at the stop: %zu bytes of records are lost", w->turn_len);
  w->stopping = true;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->thread, NULL);
  wal_free(w);
}

/* ALWAYS, once a loop turn. When the writer is idle (io free, nothing of
 * its own left) and one connection at most waits for the turn's records,
 * as in the WAL_LONE_TURNS turns before (a lone client), the loop writes
 * and syncs them itself and reports them durable before it returns, so
 * that the answer leaves in this turn, as Redis syncs in beforeSleep: no
 * thread hop (waking the writer, and the writer waking the loop through
 * the eventfd: tens of microseconds each, a tenth of a sync). Otherwise
 * the writer is woken once for the whole turn's records (group commit):
 * concurrent clients share its sync while the loop goes on serving. While
 * the writer writes or syncs (io held) the batch is its next one: never
 * two syncs at once. */
static void sync_now_or_hand_over(wal *w, unsigned waiting) {
  bool fresh = w->last_index > w->turn_index; /* records appended this turn */
  w->turn_index = w->last_index;
  if (fresh && waiting > 1) w->lone_turns = 0;
  if (fresh && waiting <= 1 && w->lone_turns < WAL_LONE_TURNS) w->lone_turns++;
  /* io is tried only for a sync here: taking it every turn would make
   * the writer wait for it, and the loop wake it. */
  bool io = fresh && w->lone_turns >= WAL_LONE_TURNS && pthread_mutex_trylock(&w->io) == 0;
  pthread_mutex_lock(&w->mu);
  hand_over(w);
  w->loop_writes = true;
  bool full = atomic_load(&w->full);
  if (!io || w->dead || full || w->wlen > 0 || w->batch_len == 0) {
    /* The writer takes the batch (on a full disk, at its next retry). */
    if (w->batch_len > 0 && !full) pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (io) pthread_mutex_unlock(&w->io);
    return;
  }
  bool took = take_batch(w);
  pthread_mutex_unlock(&w->mu);
  char why[256] = "out of memory in the log";
  int rc = took ? write_pending(w, why, sizeof why) : -1;
  bool now_full = rc == 1;
  if (rc == 1) rc = 0;
  if (rc == 0) rc = sync_current(w, why, sizeof why);
  w->sync_at = clock_mono_ms() + WAL_EVERYSEC_MS;
  uint64_t synced = w->synced;
  pthread_mutex_unlock(&w->io);
  pthread_mutex_lock(&w->mu);
  if (rc != 0 || now_full)
    publish(w, rc, why, now_full, full, true, synced); /* wakes the loop to report it */
  else if (synced > w->durable_pub)
    w->durable_pub = synced;
  pthread_mutex_unlock(&w->mu);
  if (rc == 0 && synced > w->durable) {
    w->durable = synced;
    if (w->cfg.on_durable) w->cfg.on_durable(w->cfg.ctx, synced);
  }
}

void wal_write_now(wal *w, unsigned waiting) {
  if (!w) return;
  w->turns = true;
  if (w->told_fatal) return;
  if (w->cfg.fsync == WAL_FSYNC_ALWAYS) {
    sync_now_or_hand_over(w, waiting);
    return;
  }
  /* The writer holds io while it writes a batch itself (not while it
   * syncs: sync_unlocked): then this batch waits for it, and the writer
   * takes it as soon as it is done (it looks for a batch before it
   * sleeps) and reports it through the eventfd. */
  bool io = pthread_mutex_trylock(&w->io) == 0;
  pthread_mutex_lock(&w->mu);
  hand_over(w);
  w->loop_writes = true;
  bool full = atomic_load(&w->full);
  if (!io || w->dead || full || w->batch_len == 0) {
    pthread_mutex_unlock(&w->mu);
    if (io) pthread_mutex_unlock(&w->io);
    return;
  }
  bool took = take_batch(w);
  pthread_mutex_unlock(&w->mu);
  char why[256] = "out of memory in the log";
  int rc = took ? write_pending(w, why, sizeof why) : -1;
  bool now_full = rc == 1;
  if (rc == 1) rc = 0;
  uint64_t written = w->written;
  pthread_mutex_unlock(&w->io);
  if (rc != 0 || now_full) {
    pthread_mutex_lock(&w->mu);
    publish(w, rc, why, now_full, full, true, written); /* wakes the loop to report it */
    pthread_mutex_unlock(&w->mu);
  }
  /* Else nothing to publish: durable_pub is what the writer made durable,
   * and on_notify reports it only past w->durable, set just below. */
  /* Written: report it now, on the loop's thread, rather than a turn later
   * through the eventfd (whose wake-up then finds nothing new). */
  if (rc == 0 && written > w->durable) {
    w->durable = written;
    if (w->cfg.on_durable) w->cfg.on_durable(w->cfg.ctx, written);
  }
}
