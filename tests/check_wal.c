/* SPDX-License-Identifier: MIT */
/* check_wal.c - the command log (server/wal.c) and its checksum
 * (server/crc32c.c), driven directly in a temporary directory with a real
 * writer thread and event loop: CRC-32C vectors on both implementations,
 * records read back across segment rolls and reopens, a log cut at every
 * byte of its last records, damage, group commit, a full disk (through
 * RLIMIT_FSIZE), dropping segments, and the statemgr-check tool's exit
 * statuses. */
#include "server/crc32c.h"
#include "server/crc32c_internal.h"
#include "server/wal.h"
#include "smtest.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* One log under test: its directory, loop and what the callbacks saw. */
typedef struct wt {
  char dir[64];
  struct event_base *base;
  wal *w;
  uint64_t durable;       /* last on_durable index */
  uint64_t durable_calls; /* on_durable calls */
  bool went_backwards;    /* on_durable reported a lower index */
  int space_full;         /* on_space(true) calls */
  int space_free;         /* on_space(false) calls */
  char fatal[256];
} wt;

static void wt_on_durable(void *ctx, uint64_t index) {
  wt *t = ctx;
  if (index < t->durable) t->went_backwards = true;
  t->durable = index;
  t->durable_calls++;
}

static void wt_on_fatal(void *ctx, const char *why) {
  wt *t = ctx;
  snprintf(t->fatal, sizeof t->fatal, "%s", why);
}

static void wt_on_space(void *ctx, bool full) {
  wt *t = ctx;
  if (full)
    t->space_full++;
  else
    t->space_free++;
}

static void wt_init(wt *t) {
  memset(t, 0, sizeof *t);
  snprintf(t->dir, sizeof t->dir, "/tmp/smwal-XXXXXX");
  ck_assert_msg(mkdtemp(t->dir) != NULL, "mkdtemp: %s", strerror(errno));
  t->base = event_base_new();
  ck_assert_ptr_nonnull(t->base);
}

/* Opens the log of t->dir with next_index and the given mode/segment. */
static void wt_open(wt *t, uint64_t next_index, wal_fsync_mode mode, size_t seg) {
  wal_cfg cfg = {.dir = t->dir,
                 .fsync = mode,
                 .segment_bytes = seg,
                 .base = t->base,
                 .on_durable = wt_on_durable,
                 .on_fatal = wt_on_fatal,
                 .on_space = wt_on_space,
                 .ctx = t};
  char err[256];
  t->durable = next_index - 1;
  int rc = wal_open(&cfg, next_index, &t->w, err, sizeof err);
  ck_assert_msg(rc == 0, "wal_open: %s", err);
}

/* Runs the loop until *flag-like condition holds, for up to ms. */
#define WT_RUN_UNTIL(t, cond, ms)                                                                  \
  do {                                                                                             \
    double until_ = smtest_now_s() + (ms) / 1000.0;                                                \
    while (!(cond) && smtest_now_s() < until_) {                                                   \
      event_base_loop((t)->base, EVLOOP_NONBLOCK);                                                 \
      if (!(cond)) usleep(500);                                                                    \
    }                                                                                              \
  } while (0)

static void wt_close(wt *t) {
  wal_close(t->w);
  t->w = NULL;
}

static void wt_free(wt *t) {
  wal_close(t->w);
  t->w = NULL;
  event_base_free(t->base);
  DIR *d = opendir(t->dir);
  if (d) {
    struct dirent *de;
    char p[512];
    while ((de = readdir(d)) != NULL) {
      if (de->d_name[0] == '.') continue;
      snprintf(p, sizeof p, "%s/%s", t->dir, de->d_name);
      unlink(p);
    }
    closedir(d);
  }
  rmdir(t->dir);
}

/* The payload of record i: "r<i>:" then filler, len bytes, no zero byte
 * (so that a cut always loses non-zero bytes). */
static size_t payload_of(uint64_t i, size_t len, uint8_t *buf) {
  int n = snprintf((char *)buf, len + 1, "r%" PRIu64 ":", i);
  for (size_t k = (size_t)n; k < len; k++)
    buf[k] = (uint8_t)('a' + (i + k) % 26);
  return len < (size_t)n ? (size_t)n : len;
}

/* Varying sizes, so records straddle segment ends in every way. */
static size_t len_of(uint64_t i) { return 10 + (size_t)(i * 37 % 400); }

static void append_n(wt *t, uint64_t from, uint64_t n) {
  uint8_t buf[8192];
  for (uint64_t i = from; i < from + n; i++) {
    size_t len = payload_of(i, len_of(i), buf);
    ck_assert_uint_eq(wal_append(t->w, buf, len), i);
  }
}

/* What a read collected: it checks every payload against payload_of. */
typedef struct readback {
  uint64_t next; /* the index expected next */
  uint64_t count;
  uint64_t upto; /* payloads above it are not append_n's (0: none) */
  bool bad;
} readback;

static int rb_fn(void *ctx, uint64_t index, const void *data, size_t len) {
  readback *rb = ctx;
  uint8_t buf[8192];
  if (index != rb->next) rb->bad = true;
  if (rb->upto == 0 || index <= rb->upto) {
    size_t want = payload_of(index, len_of(index), buf);
    if (len != want || memcmp(buf, data, len) != 0) rb->bad = true;
  }
  rb->next = index + 1;
  rb->count++;
  return 0;
}

/* Reads t->dir after `after`, asserting success and payloads; returns the
 * count. */
static uint64_t read_all(const char *dir, uint64_t after, wal_read_info *info) {
  readback rb = {.next = after + 1};
  char err[512];
  int rc = wal_read(dir, after, false, rb_fn, &rb, info, err, sizeof err);
  ck_assert_msg(rc == 0, "wal_read: %s", err);
  ck_assert_msg(!rb.bad, "a record read back differs from what was appended");
  return rb.count;
}

static unsigned count_segments(const char *dir) {
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  unsigned n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    n += strncmp(de->d_name, "log-", 4) == 0;
  closedir(d);
  return n;
}

/* The first index of dir's oldest segment. */
static uint64_t first_segment(const char *dir) {
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  uint64_t lo = UINT64_MAX;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    unsigned long long v;
    if (sscanf(de->d_name, "log-%20llu.seg", &v) == 1 && v < lo) lo = v;
  }
  closedir(d);
  return lo;
}

static void seg_name(char *buf, size_t len, const char *dir, uint64_t first) {
  snprintf(buf, len, "%s/log-%020" PRIu64 ".seg", dir, first);
}

/* ---- crc32c ------------------------------------------------------------ */

/* Proves both implementations give the published CRC-32C vectors
 * ("123456789", RFC 3720's 32 zeros and 32 0xFF bytes) and agree with
 * each other on every length and alignment, and that extending works. */
START_TEST(test_crc_vectors) {
  static const struct {
    uint8_t fill;
    size_t n;
    uint32_t crc;
  } rfc[] = {{0x00, 32, 0x8A9136AAu}, {0xFF, 32, 0x62A8AB43u}};
  ck_assert_uint_eq(crc32c(0, "123456789", 9), 0xE3069283u);
  ck_assert_uint_eq(crc32c_table(0, "123456789", 9), 0xE3069283u);
  bool hw = crc32c_have_sse42();
  if (hw)
    ck_assert_uint_eq(crc32c_sse42(0, "123456789", 9), 0xE3069283u);
  else
    fprintf(stderr, "wal: this CPU has no SSE4.2: only the table path was checked\n");
  for (size_t k = 0; k < sizeof rfc / sizeof rfc[0]; k++) {
    uint8_t b[32];
    memset(b, rfc[k].fill, sizeof b);
    ck_assert_uint_eq(crc32c_table(0, b, rfc[k].n), rfc[k].crc);
    if (hw) ck_assert_uint_eq(crc32c_sse42(0, b, rfc[k].n), rfc[k].crc);
  }
  uint8_t buf[1100];
  for (size_t i = 0; i < sizeof buf; i++)
    buf[i] = (uint8_t)(i * 131 + 7);
  for (size_t off = 0; off < 9; off++)
    for (size_t n = 0; n + off <= sizeof buf; n += 1 + n / 7) {
      uint32_t t = crc32c_table(0, buf + off, n);
      if (hw) ck_assert_uint_eq(crc32c_sse42(0, buf + off, n), t);
      ck_assert_uint_eq(crc32c(crc32c(0, buf + off, n / 3), buf + off + n / 3, n - n / 3), t);
    }
}
END_TEST

/* ---- records ----------------------------------------------------------- */

/* Proves records come back in order with their payloads across many
 * segment rolls, and a record bigger than a segment gets a segment of its
 * own size. */
START_TEST(test_roll_and_read_back) {
  wt t;
  wt_init(&t);
  wt_open(&t, 1, WAL_FSYNC_ALWAYS, 4096);
  append_n(&t, 1, 300);
  /* A 6000-byte record: bigger than a segment. */
  uint8_t big[6000];
  memset(big, 'B', sizeof big);
  ck_assert_uint_eq(wal_append(t.w, big, sizeof big), 301);
  WT_RUN_UNTIL(&t, t.durable == 301, 5000);
  ck_assert_uint_eq(t.durable, 301);
  ck_assert_uint_eq(wal_durable_index(t.w), 301);
  ck_assert(!t.went_backwards);
  ck_assert_uint_gt(wal_bytes(t.w), 300 * 16);
  wt_close(&t);
  ck_assert_uint_gt(count_segments(t.dir), 10);

  char path[128];
  seg_name(path, sizeof path, t.dir, 301);
  struct stat st;
  ck_assert_int_eq(stat(path, &st), 0);
  ck_assert_int_eq(st.st_size, 6000 + WAL_RECORD_HEADER);

  wal_read_info info;
  readback rb = {.next = 1, .upto = 300};
  char err[256];
  int rc = wal_read(t.dir, 0, false, rb_fn, &rb, &info, err, sizeof err);
  ck_assert_msg(rc == 0, "%s", err);
  ck_assert_uint_eq(info.records, 301);
  ck_assert_uint_eq(info.first_index, 1);
  ck_assert_uint_eq(info.last_index, 301);
  ck_assert(!info.torn);
  ck_assert_uint_eq(rb.count, 301);
  ck_assert(!rb.bad);
  wt_free(&t);
}
END_TEST

/* Proves indexes go on after a reopen (in the same last segment while it
 * has room), and that wal_read passes only the records after `after`. */
START_TEST(test_reopen_continues) {
  wt t;
  wt_init(&t);
  wt_open(&t, 1, WAL_FSYNC_ALWAYS, 64 * 1024);
  append_n(&t, 1, 40);
  WT_RUN_UNTIL(&t, t.durable == 40, 5000);
  wt_close(&t);
  ck_assert_uint_eq(count_segments(t.dir), 1);

  wal_read_info info;
  ck_assert_uint_eq(read_all(t.dir, 0, &info), 40);
  wt_open(&t, info.last_index + 1, WAL_FSYNC_ALWAYS, 64 * 1024);
  ck_assert_uint_eq(wal_last_index(t.w), 40);
  ck_assert_uint_eq(wal_durable_index(t.w), 40);
  uint64_t bytes = 0; /* the records already there count in wal_bytes */
  for (uint64_t i = 1; i <= 40; i++)
    bytes += WAL_RECORD_HEADER + len_of(i);
  ck_assert_uint_eq(wal_bytes(t.w), bytes);
  append_n(&t, 41, 30);
  WT_RUN_UNTIL(&t, t.durable == 70, 5000);
  ck_assert_uint_eq(t.durable, 70);
  wt_close(&t);
  ck_assert_uint_eq(count_segments(t.dir), 1);
  ck_assert_uint_eq(read_all(t.dir, 0, &info), 70);
  ck_assert_uint_eq(read_all(t.dir, 25, &info), 45);
  ck_assert_uint_eq(info.first_index, 26);
  ck_assert_uint_eq(info.last_index, 70);

  /* A snapshot past the log's end (records lost in EVERYSEC): the log
   * goes on in a new segment at the snapshot's next index. */
  wt_open(&t, 81, WAL_FSYNC_EVERYSEC, 64 * 1024);
  append_n(&t, 81, 5);
  WT_RUN_UNTIL(&t, t.durable == 85, 5000);
  wt_close(&t);
  ck_assert_uint_eq(count_segments(t.dir), 2);
  ck_assert_uint_eq(read_all(t.dir, 80, &info), 5);
  /* Without that snapshot, records 71 to 80 are missing: damage. */
  char err[256];
  ck_assert_int_eq(wal_read(t.dir, 0, false, NULL, NULL, &info, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "71 to 80") != NULL, "%s", err);

  /* Opening with a next index below the log's end is refused. */
  wal_cfg cfg = {.dir = t.dir, .base = t.base};
  wal *w2;
  ck_assert_int_eq(wal_open(&cfg, 50, &w2, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "holds record") != NULL, "%s", err);
  wt_free(&t);
}
END_TEST

/* Writes 20 records into one segment, closes, and returns the start
 * offset of each record (offs[i] for record i + 1; offs[20] the end). */
static void write_twenty(wt *t, uint64_t offs[21]) {
  wt_open(t, 1, WAL_FSYNC_NO, 64 * 1024);
  append_n(t, 1, 20);
  WT_RUN_UNTIL(t, t->durable == 20, 5000);
  wt_close(t);
  offs[0] = 0;
  for (uint64_t i = 1; i <= 20; i++)
    offs[i] = offs[i - 1] + WAL_RECORD_HEADER + len_of(i);
}

static uint8_t *slurp(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY);
  ck_assert_int_ge(fd, 0);
  struct stat st;
  ck_assert_int_eq(fstat(fd, &st), 0);
  uint8_t *b = malloc((size_t)st.st_size);
  ck_assert_ptr_nonnull(b);
  ck_assert_int_eq(pread(fd, b, (size_t)st.st_size, 0), st.st_size);
  close(fd);
  *len = (size_t)st.st_size;
  return b;
}

static void put_file(const char *path, const uint8_t *b, size_t len) {
  int fd = open(path, O_WRONLY | O_TRUNC);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(pwrite(fd, b, len, 0), (ssize_t)len);
  close(fd);
}

/* Proves a log cut at every byte offset of its last 3 records, either
 * shortened (ftruncate) or with zeros after the cut (a preallocated file
 * whose last write did not land), reads without error, keeps every
 * complete record, and reports a torn tail exactly when the cut is inside
 * a record; truncate then leaves a log that reads clean. */
START_TEST(test_torn_every_offset) {
  wt t;
  wt_init(&t);
  uint64_t offs[21];
  write_twenty(&t, offs);
  char path[128];
  seg_name(path, sizeof path, t.dir, 1);
  size_t size;
  uint8_t *orig = slurp(path, &size);
  uint8_t *cut = malloc(size);
  ck_assert_ptr_nonnull(cut);
  for (int zeros = 0; zeros < 2; zeros++) {
    for (uint64_t at = offs[17]; at <= offs[20]; at++) {
      memcpy(cut, orig, size);
      if (zeros) {
        memset(cut + at, 0, size - at);
        put_file(path, cut, size);
      } else {
        put_file(path, cut, size);
        ck_assert_int_eq(truncate(path, (off_t)at), 0);
      }
      uint64_t whole = 0; /* complete records before the cut */
      while (whole < 20 && offs[whole + 1] <= at)
        whole++;
      bool inside = offs[whole] != at;
      wal_read_info info;
      ck_assert_uint_eq(read_all(t.dir, 0, &info), whole);
      ck_assert_uint_eq(info.last_index, whole);
      ck_assert_msg(info.torn == inside, "cut at %" PRIu64 ": torn %d", at, info.torn);
      if (inside) {
        ck_assert_uint_eq(info.torn_offset, offs[whole]);
        ck_assert_uint_gt(info.torn_bytes, 0);
        ck_assert_uint_le(info.torn_bytes, at - offs[whole]);
        ck_assert_str_eq(info.torn_file, path);
      }
    }
  }
  /* The last cut position inside record 20, truncated: then clean. */
  put_file(path, orig, size);
  ck_assert_int_eq(truncate(path, (off_t)(offs[20] - 3)), 0);
  char err[256];
  wal_read_info info;
  ck_assert_int_eq(wal_read(t.dir, 0, true, NULL, NULL, &info, err, sizeof err), 0);
  ck_assert(info.torn);
  ck_assert_uint_eq(read_all(t.dir, 0, &info), 19);
  ck_assert(!info.torn);
  /* And the log goes on from there. */
  wt_open(&t, 20, WAL_FSYNC_ALWAYS, 64 * 1024);
  append_n(&t, 20, 3);
  WT_RUN_UNTIL(&t, t.durable == 22, 5000);
  wt_close(&t);
  ck_assert_uint_eq(read_all(t.dir, 0, &info), 22);
  free(cut);
  free(orig);
  wt_free(&t);
}
END_TEST

/* Proves a flipped byte in a middle record is damage naming the file and
 * the record's offset (in the last segment and in an earlier one), while
 * the same flip in the last record is a torn tail. */
START_TEST(test_damage_names_file_and_offset) {
  wt t;
  wt_init(&t);
  uint64_t offs[21];
  write_twenty(&t, offs);
  char path[128];
  seg_name(path, sizeof path, t.dir, 1);
  size_t size;
  uint8_t *orig = slurp(path, &size);
  char err[512], want[256];
  wal_read_info info;

  orig[offs[9] + WAL_RECORD_HEADER + 3] ^= 0x20; /* record 10's payload */
  put_file(path, orig, size);
  readback rb = {.next = 1};
  ck_assert_int_eq(wal_read(t.dir, 0, false, rb_fn, &rb, &info, err, sizeof err), -1);
  snprintf(want, sizeof want, "%s: offset %" PRIu64 ":", path, offs[9]);
  ck_assert_msg(strstr(err, want) != NULL, "'%s' lacks '%s'", err, want);
  ck_assert_uint_eq(rb.count, 9);
  orig[offs[9] + WAL_RECORD_HEADER + 3] ^= 0x20;

  /* A damaged length (record 12's) is damage too. */
  orig[offs[11] + 1] ^= 0x40;
  put_file(path, orig, size);
  ck_assert_int_eq(wal_read(t.dir, 0, false, NULL, NULL, &info, err, sizeof err), -1);
  snprintf(want, sizeof want, "offset %" PRIu64 ":", offs[11]);
  ck_assert_msg(strstr(err, want) != NULL, "'%s' lacks '%s'", err, want);
  orig[offs[11] + 1] ^= 0x40;

  orig[offs[19] + WAL_RECORD_HEADER + 3] ^= 0x20; /* the last record's */
  put_file(path, orig, size);
  ck_assert_uint_eq(read_all(t.dir, 0, &info), 19);
  ck_assert(info.torn);
  ck_assert_uint_eq(info.torn_offset, offs[19]);
  free(orig);
  wt_free(&t);

  /* In a segment that is not the last, even its last record. */
  wt_init(&t);
  wt_open(&t, 1, WAL_FSYNC_NO, 4096);
  append_n(&t, 1, 100);
  WT_RUN_UNTIL(&t, t.durable == 100, 5000);
  wt_close(&t);
  seg_name(path, sizeof path, t.dir, 1);
  orig = slurp(path, &size);
  uint64_t end = 0, i = 1;
  while (end + WAL_RECORD_HEADER + len_of(i) <= 4096 && orig[end] != 0)
    end += WAL_RECORD_HEADER + len_of(i++);
  uint64_t last_off = end - WAL_RECORD_HEADER - len_of(i - 1);
  orig[last_off + WAL_RECORD_HEADER] ^= 0x01;
  put_file(path, orig, size);
  ck_assert_int_eq(wal_read(t.dir, 0, false, NULL, NULL, &info, err, sizeof err), -1);
  snprintf(want, sizeof want, "%s: offset %" PRIu64 ":", path, last_off);
  ck_assert_msg(strstr(err, want) != NULL, "'%s' lacks '%s'", err, want);
  free(orig);
  wt_free(&t);
}
END_TEST

/* ---- group commit ------------------------------------------------------ */

/* Proves group commit: 10,000 records appended at once by the loop become
 * durable with far fewer than 10,000 fdatasyncs, on_durable only going
 * up. Then measures one appender that waits for each record (--fsync
 * always), printing appends/s and syncs. */
START_TEST(test_group_commit) {
  wt t;
  wt_init(&t);
  wt_open(&t, 1, WAL_FSYNC_ALWAYS, 0);
  uint8_t buf[100];
  memset(buf, 'g', sizeof buf);
  double b0 = smtest_now_s();
  for (uint64_t i = 1; i <= 10000; i++)
    ck_assert_uint_eq(wal_append(t.w, buf, sizeof buf), i);
  WT_RUN_UNTIL(&t, t.durable == 10000, 20000);
  double burst = smtest_now_s() - b0;
  ck_assert_uint_eq(t.durable, 10000);
  ck_assert(!t.went_backwards);
  uint64_t syncs = wal_syncs(t.w);
  ck_assert_uint_ge(syncs, 1);
  ck_assert_msg(syncs < 1000, "%" PRIu64 " syncs for 10000 records", syncs);
  fprintf(stderr,
          "wal: 10000 records appended at once: durable in %.1f ms, %" PRIu64
          " fdatasyncs, %" PRIu64 " on_durable calls\n",
          burst * 1000, syncs, t.durable_calls);

  /* One appender, each record waited for. */
  uint64_t s0 = wal_syncs(t.w), n = 0;
  double t0 = smtest_now_s(), t1;
  do {
    uint64_t idx = wal_append(t.w, buf, sizeof buf);
    WT_RUN_UNTIL(&t, t.durable >= idx, 5000);
    ck_assert_uint_ge(t.durable, idx);
    n++;
    t1 = smtest_now_s();
  } while (t1 - t0 < 0.5);
  fprintf(stderr,
          "wal bench: --fsync always, 1 appender waiting for each: %.0f appends/s, %" PRIu64
          " fdatasyncs for %" PRIu64 " records\n",
          (double)n / (t1 - t0), wal_syncs(t.w) - s0, n);
  ck_assert_uint_eq(wal_syncs(t.w) - s0, n);
  wt_free(&t);
}
END_TEST

/* Proves EVERYSEC reports records as soon as written and syncs them
 * within about a second, without a sync per batch. */
START_TEST(test_everysec) {
  wt t;
  wt_init(&t);
  wt_open(&t, 1, WAL_FSYNC_EVERYSEC, 0);
  uint64_t s0 = wal_syncs(t.w);
  uint8_t buf[50];
  memset(buf, 'e', sizeof buf);
  for (int round = 0; round < 20; round++) {
    uint64_t idx = wal_append(t.w, buf, sizeof buf);
    WT_RUN_UNTIL(&t, t.durable >= idx, 5000);
    ck_assert_uint_ge(t.durable, idx);
  }
  ck_assert_uint_le(wal_syncs(t.w) - s0, 2);
  uint64_t s1 = wal_syncs(t.w);
  wal_append(t.w, buf, sizeof buf);
  WT_RUN_UNTIL(&t, wal_syncs(t.w) > s1, 3000);
  ck_assert_uint_gt(wal_syncs(t.w), s1);
  wt_free(&t);
}
END_TEST

/* wal_write_now in EVERYSEC writes the loop's batch itself and reports it
 * before returning (no turn through the writer thread). Each record is on
 * disk (read back) once reported, and the writer still syncs once a
 * second. (ALWAYS: test_inline_sync.) */
START_TEST(test_write_now) {
  wt t;
  wt_init(&t);
  wt_open(&t, 1, WAL_FSYNC_EVERYSEC, 0);
  uint64_t s0 = wal_syncs(t.w);
  wal_read_info info;
  for (uint64_t idx = 1; idx <= 50; idx++) {
    append_n(&t, idx, 1);
    wal_write_now(t.w, 1); /* the writer may hold io for a sync: then it takes the batch */
    if (t.durable < idx) WT_RUN_UNTIL(&t, t.durable >= idx, 5000);
    ck_assert_uint_eq(t.durable, idx);
    ck_assert_uint_eq(wal_durable_index(t.w), idx);
  }
  ck_assert_uint_eq(read_all(t.dir, 0, &info), 50); /* written, not only reported */
  ck_assert_uint_le(wal_syncs(t.w) - s0, 2);
  WT_RUN_UNTIL(&t, wal_syncs(t.w) > s0, 3000); /* the writer syncs what the loop wrote */
  ck_assert_uint_gt(wal_syncs(t.w), s0);
  wt_free(&t);
}
END_TEST

/* Once the loop hands its records over a turn at a time
 * (wal_write_now), a record appended in a turn that writes nothing after
 * it (an expiry or a session's end with nobody waiting) still reaches the
 * disk: the loop's once-a-second tick hands it to the writer. In both
 * modes, and it is on disk once reported. */
START_TEST(test_record_without_turn) {
  const wal_fsync_mode modes[] = {WAL_FSYNC_ALWAYS, WAL_FSYNC_EVERYSEC};
  for (size_t m = 0; m < 2; m++) {
    wt t;
    wt_init(&t);
    wt_open(&t, 1, modes[m], 0);
    append_n(&t, 1, 1);
    wal_write_now(t.w, 2); /* turns from now on */
    if (t.durable < 1) WT_RUN_UNTIL(&t, t.durable >= 1, 5000);
    ck_assert_uint_eq(t.durable, 1);
    append_n(&t, 2, 3); /* no wal_write_now after these */
    WT_RUN_UNTIL(&t, t.durable >= 4, 5000);
    ck_assert_msg(t.durable == 4, "mode %zu: durable %" PRIu64 " of 4", m, t.durable);
    wal_read_info info;
    ck_assert_uint_eq(read_all(t.dir, 0, &info), 4);
    wt_free(&t);
  }
}
END_TEST

/* A slow disk for test_write_during_sync: while slow_sync_ms is set, every
 * fdatasync of this process (this definition comes before libc's) sleeps
 * that long after syncing, with syncing_now set meanwhile. */
static atomic_int slow_sync_ms;
static atomic_int syncing_now;
static atomic_int fail_sync; /* fdatasync fails with EIO (test_inline_sync_fails) */

int fdatasync(int fd) {
  if (atomic_load(&fail_sync)) {
    errno = EIO;
    return -1;
  }
  int rc = (int)syscall(SYS_fdatasync, fd);
  int ms = atomic_load(&slow_sync_ms);
  if (ms > 0) {
    atomic_store(&syncing_now, 1);
    usleep((useconds_t)ms * 1000);
    atomic_store(&syncing_now, 0);
  }
  return rc;
}

/* Proves EVERYSEC's once-a-second sync does not hold back the loop: while
 * the writer is inside a (slow) fdatasync, wal_write_now still writes the
 * loop's batch and reports it at once, so a daemon's answers never wait
 * for a sync in this mode; the sync still counts, and what the loop wrote
 * meanwhile is synced by the next one. */
START_TEST(test_write_during_sync) {
  wt t;
  wt_init(&t);
  wt_open(&t, 1, WAL_FSYNC_EVERYSEC, 0);
  atomic_store(&slow_sync_ms, 1500);
  uint64_t s0 = wal_syncs(t.w);
  append_n(&t, 1, 1);
  wal_write_now(t.w, 1);
  ck_assert_uint_eq(t.durable, 1);
  WT_RUN_UNTIL(&t, atomic_load(&syncing_now), 3000); /* the writer syncs record 1, slowly */
  ck_assert_msg(atomic_load(&syncing_now), "the writer did not sync within 3 s");
  for (uint64_t idx = 2; idx <= 5; idx++) {
    append_n(&t, idx, 1);
    wal_write_now(t.w, 1);
    ck_assert_msg(t.durable == idx, "record %" PRIu64 " waits for the sync (durable %" PRIu64 ")",
                  idx, t.durable);
  }
  ck_assert_msg(atomic_load(&syncing_now), "the sync ended before the check: no proof");
  wal_read_info info;
  ck_assert_uint_eq(read_all(t.dir, 0, &info), 5); /* written, not only reported */
  atomic_store(&slow_sync_ms, 0);
  WT_RUN_UNTIL(&t, wal_syncs(t.w) >= s0 + 2, 4000); /* the slow one, then records 2..5 */
  ck_assert_uint_ge(wal_syncs(t.w), s0 + 2);
  wt_free(&t);
}
END_TEST

/* ALWAYS: turns from..from + n - 1, one record each that one connection
 * waits for (a lone client's), left to the writer (not reported when
 * wal_write_now returns) and each waited for. */
static void lone_turns_to_writer(wt *t, uint64_t from, uint64_t n) {
  for (uint64_t idx = from; idx < from + n; idx++) {
    append_n(t, idx, 1);
    wal_write_now(t->w, 1);
    ck_assert_msg(t->durable < idx, "turn of record %" PRIu64 " synced on the loop", idx);
    WT_RUN_UNTIL(t, t->durable == idx, 5000);
    ck_assert_uint_eq(t->durable, idx);
  }
}

/* ALWAYS: wal_write_now syncs a lone client's records on the calling
 * (loop) thread and reports them before it returns, as Redis syncs in
 * beforeSleep, from its WAL_LONE_TURNS-th turn on; the turns before, a
 * turn with two connections waiting and the lone turns right after one go
 * to the writer's group commit instead, and report later, through the
 * eventfd. Each record reported is on disk. */
START_TEST(test_inline_sync) {
  wt t;
  wt_init(&t);
  wt_open(&t, 1, WAL_FSYNC_ALWAYS, 0);
  lone_turns_to_writer(&t, 1, WAL_LONE_TURNS - 1);
  uint64_t idx = WAL_LONE_TURNS;
  for (; idx < WAL_LONE_TURNS + 20; idx++) { /* a lone client: synced here */
    uint64_t s0 = wal_syncs(t.w);
    append_n(&t, idx, 1);
    wal_write_now(t.w, 1);
    ck_assert_msg(t.durable == idx, "record %" PRIu64 " not reported by the loop's sync", idx);
    ck_assert_uint_eq(wal_syncs(t.w), s0 + 1);
  }
  append_n(&t, idx, 16); /* a pipelined batch of one connection: one sync */
  idx += 16;
  uint64_t s0 = wal_syncs(t.w);
  wal_write_now(t.w, 1);
  ck_assert_uint_eq(t.durable, idx - 1);
  ck_assert_uint_eq(wal_syncs(t.w), s0 + 1);
  wal_read_info info;
  ck_assert_uint_eq(read_all(t.dir, 0, &info), idx - 1); /* on disk, not only reported */

  append_n(&t, idx, 2); /* two connections wait: the writer's group commit */
  idx += 2;
  wal_write_now(t.w, 2);
  ck_assert_uint_lt(t.durable, idx - 1);
  WT_RUN_UNTIL(&t, t.durable == idx - 1, 5000);
  ck_assert_uint_eq(t.durable, idx - 1);
  lone_turns_to_writer(&t, idx, WAL_LONE_TURNS - 1); /* lone again: a streak first */
  idx += WAL_LONE_TURNS - 1;
  append_n(&t, idx, 1);
  wal_write_now(t.w, 1);
  ck_assert_uint_eq(t.durable, idx);
  wal_write_now(t.w, 1); /* nothing appended: nothing synced */
  ck_assert_uint_eq(t.durable, idx);
  ck_assert(!t.went_backwards);
  WT_RUN_UNTIL(&t, false, 20); /* the writer's late wake-ups report nothing new */
  ck_assert(!t.went_backwards);
  ck_assert_str_eq(t.fatal, "");
  wt_close(&t);
  ck_assert_uint_eq(read_all(t.dir, 0, &info), idx);
  wt_free(&t);
}
END_TEST

/* ALWAYS: while the writer is inside a (slow) fdatasync, a lone client's
 * wal_write_now does not sync beside it (never two syncs at once) and
 * reports nothing: its records wait for the writer's next sync, which
 * takes them as soon as the slow one is done. */
START_TEST(test_inline_sync_defers) {
  wt t;
  wt_init(&t);
  wt_open(&t, 1, WAL_FSYNC_ALWAYS, 0);
  atomic_store(&slow_sync_ms, 1500);
  append_n(&t, 1, 1);
  wal_write_now(t.w, 2); /* to the writer, which syncs it slowly */
  WT_RUN_UNTIL(&t, atomic_load(&syncing_now), 3000);
  ck_assert_msg(atomic_load(&syncing_now), "the writer did not sync within 3 s");
  uint64_t s0 = wal_syncs(t.w);
  uint64_t last = 1 + WAL_LONE_TURNS;
  for (uint64_t idx = 2; idx <= last; idx++) { /* the last one would be the loop's */
    append_n(&t, idx, 1);
    wal_write_now(t.w, 1);
  }
  ck_assert_msg(atomic_load(&syncing_now), "the sync ended before the check: no proof");
  ck_assert_uint_eq(wal_syncs(t.w), s0);
  ck_assert_uint_eq(t.durable, 0);
  atomic_store(&slow_sync_ms, 0);
  WT_RUN_UNTIL(&t, t.durable == last, 5000);
  ck_assert_uint_eq(t.durable, last);
  ck_assert_uint_eq(wal_syncs(t.w), s0 + 2); /* record 1's, then 2 to last together */
  ck_assert(!t.went_backwards);
  wt_free(&t);
}
END_TEST

/* ALWAYS: a failed fdatasync on the loop's thread is fatal as the
 * writer's is: on_fatal names it, the records are never reported durable,
 * and nothing more is written or synced. */
START_TEST(test_inline_sync_fails) {
  wt t;
  wt_init(&t);
  wt_open(&t, 1, WAL_FSYNC_ALWAYS, 0);
  lone_turns_to_writer(&t, 1, WAL_LONE_TURNS - 1);
  atomic_store(&fail_sync, 1);
  uint64_t idx = WAL_LONE_TURNS;
  append_n(&t, idx, 1);
  wal_write_now(t.w, 1); /* synced here, and it fails */
  ck_assert_uint_eq(t.durable, idx - 1);
  WT_RUN_UNTIL(&t, t.fatal[0] != 0, 5000);
  ck_assert_msg(strstr(t.fatal, "fdatasync") != NULL, "fatal: '%s'", t.fatal);
  atomic_store(&fail_sync, 0);
  uint64_t s0 = wal_syncs(t.w);
  append_n(&t, idx + 1, 1);
  wal_write_now(t.w, 1);
  WT_RUN_UNTIL(&t, false, 50);
  ck_assert_uint_eq(t.durable, idx - 1);
  ck_assert_uint_eq(wal_syncs(t.w), s0);
  wt_free(&t);
}
END_TEST

/* ---- a full disk ------------------------------------------------------- */

/* Checks records 21 (the big one) to 26 of test_disk_full. */
typedef struct full_seen {
  const uint8_t *big;
  size_t biglen;
  uint64_t count;
  bool bad;
} full_seen;

static int full_fn(void *ctx, uint64_t index, const void *data, size_t len) {
  full_seen *fs = ctx;
  uint8_t buf[64];
  const uint8_t *want = fs->big;
  size_t wlen = fs->biglen;
  if (index != 21) {
    wlen = payload_of(index, 40, buf);
    want = buf;
  }
  if (index != 21 + fs->count || len != wlen || memcmp(want, data, len) != 0) fs->bad = true;
  fs->count++;
  return 0;
}

/* Proves a full disk (here RLIMIT_FSIZE below the size of the segment a
 * big record needs) sets the log full (on_space(true), wal_full) without
 * losing a record: the records appended behind it wait in memory, are not
 * reported durable, and are all written, in order, once the limit is
 * raised (on_space(false)). Check runs each test in its own process, so
 * the limit is this process's only. */
START_TEST(test_disk_full) {
  signal(SIGXFSZ, SIG_IGN);
  struct rlimit old;
  ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
  wt t;
  wt_init(&t);
  wt_open(&t, 1, WAL_FSYNC_ALWAYS, 4096);
  append_n(&t, 1, 20);
  WT_RUN_UNTIL(&t, t.durable == 20, 5000);
  ck_assert_uint_eq(t.durable, 20);

  struct rlimit low = {.rlim_cur = 64 * 1024, .rlim_max = old.rlim_max};
  ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &low), 0);
  uint8_t big[100 * 1024];
  size_t bl = payload_of(21, sizeof big, big);
  ck_assert_uint_eq(wal_append(t.w, big, bl), 21);
  WT_RUN_UNTIL(&t, t.space_full == 1, 5000);
  ck_assert_int_eq(t.space_full, 1);
  ck_assert(wal_full(t.w));
  /* Appends go on while full; nothing past 20 is durable. */
  uint8_t buf[64];
  for (uint64_t i = 22; i <= 26; i++) {
    size_t len = payload_of(i, 40, buf);
    ck_assert_uint_eq(wal_append(t.w, buf, len), i);
  }
  WT_RUN_UNTIL(&t, false, 1300); /* a retry or two fails */
  ck_assert(wal_full(t.w));
  ck_assert_uint_eq(t.durable, 20);
  ck_assert_int_eq(t.space_free, 0);

  ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
  WT_RUN_UNTIL(&t, t.space_free == 1 && t.durable == 26, 5000);
  ck_assert_int_eq(t.space_free, 1);
  ck_assert_uint_eq(t.durable, 26);
  ck_assert(!wal_full(t.w));
  ck_assert_str_eq(t.fatal, "");
  wt_close(&t);

  /* Every record, in order: 1 to 20 checked by rb_fn, then 21 to 26. */
  wal_read_info info;
  char err[256];
  readback rb = {.next = 1, .upto = 20};
  full_seen fs = {.big = big, .biglen = bl};
  ck_assert_int_eq(wal_read(t.dir, 0, false, rb_fn, &rb, &info, err, sizeof err), 0);
  ck_assert(!rb.bad);
  ck_assert_uint_eq(info.records, 26);
  ck_assert_int_eq(wal_read(t.dir, 20, false, full_fn, &fs, &info, err, sizeof err), 0);
  ck_assert_uint_eq(fs.count, 6);
  ck_assert(!fs.bad);
  wt_free(&t);
}
END_TEST

/* Proves a disk already full when the log opens (the first segment cannot
 * be preallocated) opens full rather than failing, keeps what is appended,
 * and writes it once there is room. */
START_TEST(test_full_at_open) {
  signal(SIGXFSZ, SIG_IGN);
  struct rlimit old;
  ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
  struct rlimit low = {.rlim_cur = 8 * 1024, .rlim_max = old.rlim_max};
  ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &low), 0);
  wt t;
  wt_init(&t);
  wt_open(&t, 1, WAL_FSYNC_ALWAYS, 64 * 1024);
  ck_assert(wal_full(t.w));
  WT_RUN_UNTIL(&t, t.space_full == 1, 3000);
  ck_assert_int_eq(t.space_full, 1);
  append_n(&t, 1, 3);
  WT_RUN_UNTIL(&t, false, 1200);
  ck_assert_uint_eq(t.durable, 0);
  ck_assert_uint_eq(count_segments(t.dir), 0);
  ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
  WT_RUN_UNTIL(&t, t.space_free == 1 && t.durable == 3, 5000);
  ck_assert_int_eq(t.space_free, 1);
  ck_assert_uint_eq(t.durable, 3);
  wt_close(&t);
  wal_read_info info;
  ck_assert_uint_eq(read_all(t.dir, 0, &info), 3);
  wt_free(&t);
}
END_TEST

/* ---- dropping segments ------------------------------------------------- */

/* Proves wal_drop_before removes exactly the segments whose records are
 * all at or below the index, keeps the one being written, lowers
 * wal_bytes, and leaves a log that reads from the index on. */
START_TEST(test_drop_before) {
  wt t;
  wt_init(&t);
  wt_open(&t, 1, WAL_FSYNC_ALWAYS, 4096);
  append_n(&t, 1, 200);
  WT_RUN_UNTIL(&t, t.durable == 200, 5000);
  unsigned before = count_segments(t.dir);
  uint64_t bytes = wal_bytes(t.w);
  ck_assert_uint_gt(before, 5);
  char err[256];
  ck_assert_int_eq(wal_drop_before(t.w, 100, err, sizeof err), 0);
  unsigned after = count_segments(t.dir);
  ck_assert_uint_lt(after, before);
  ck_assert_uint_lt(wal_bytes(t.w), bytes);
  wal_read_info info;
  ck_assert_uint_eq(read_all(t.dir, 100, &info), 100);
  /* The oldest segment left holds record 101: from 0, 1 to it are gone. */
  ck_assert_int_eq(wal_read(t.dir, 0, false, NULL, NULL, &info, err, sizeof err), -1);
  ck_assert_msg(strstr(err, "records 1 to ") && strstr(err, "are in no segment"), "%s", err);
  ck_assert_uint_le(first_segment(t.dir), 101);
  ck_assert_uint_gt(first_segment(t.dir), 1);

  /* Everything: only the segment being written stays, and writes go on. */
  ck_assert_int_eq(wal_drop_before(t.w, 200, err, sizeof err), 0);
  ck_assert_uint_eq(count_segments(t.dir), 1);
  append_n(&t, 201, 5);
  WT_RUN_UNTIL(&t, t.durable == 205, 5000);
  wt_close(&t);
  ck_assert_uint_eq(read_all(t.dir, 200, &info), 5);
  wt_free(&t);
}
END_TEST

/* ---- statemgr-check ---------------------------------------------------- */

/* Runs statemgr-check on dir with args; returns its exit status and its
 * output in out. */
static int run_check(const char *dir, const char *args, char *out, size_t outlen) {
  const char *bin = getenv("STATEMGR_CHECK");
  ck_assert_msg(bin != NULL, "STATEMGR_CHECK is not set (run the suite through ctest)");
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s' '%s' %s 2>&1", bin, dir, args);
  return smtest_run(cmd, out, outlen);
}

/* Proves the real statemgr-check binary exits 0 on a clean directory, 1
 * on a torn tail (and cuts it with --fix, after which it exits 0), 2 on
 * damage, 3 on a usage error, and names what it found. */
START_TEST(test_check_tool) {
  wt t;
  wt_init(&t);
  uint64_t offs[21];
  write_twenty(&t, offs);
  char out[4096];
  ck_assert_int_eq(run_check(t.dir, "", out, sizeof out), 0);
  ck_assert_msg(strstr(out, "records: 20 (index 1 to 20)") && strstr(out, "clean"), "%s", out);

  char path[128];
  seg_name(path, sizeof path, t.dir, 1);
  size_t size;
  uint8_t *orig = slurp(path, &size);
  ck_assert_int_eq(truncate(path, (off_t)(offs[20] - 5)), 0);
  ck_assert_int_eq(run_check(t.dir, "", out, sizeof out), 1);
  ck_assert_msg(strstr(out, "torn tail") && strstr(out, path), "%s", out);
  ck_assert_int_eq(run_check(t.dir, "--fix", out, sizeof out), 1);
  ck_assert_msg(strstr(out, "(cut)"), "%s", out);
  ck_assert_int_eq(run_check(t.dir, "", out, sizeof out), 0);
  ck_assert_msg(strstr(out, "records: 19 (index 1 to 19)"), "%s", out);

  orig[offs[4] + WAL_RECORD_HEADER] ^= 0x10;
  put_file(path, orig, size);
  ck_assert_int_eq(run_check(t.dir, "--fix", out, sizeof out), 2);
  char want[256];
  snprintf(want, sizeof want, "damaged: %s: offset %" PRIu64, path, offs[4]);
  ck_assert_msg(strstr(out, want), "'%s' lacks '%s'", out, want);
  /* --fix never changes damage. */
  uint8_t *after = slurp(path, &size);
  ck_assert(memcmp(after, orig, size) == 0);
  free(after);

  ck_assert_int_eq(run_check(t.dir, "--bogus", out, sizeof out), 3);
  free(orig);
  wt_free(&t);
}
END_TEST

Suite *wal_suite(void) {
  Suite *s = suite_create("wal");
  TCase *tc = tcase_create("crc32c");
  tcase_add_test(tc, test_crc_vectors);
  suite_add_tcase(s, tc);
  tc = tcase_create("records");
  tcase_add_test(tc, test_roll_and_read_back);
  tcase_add_test(tc, test_reopen_continues);
  tcase_add_test(tc, test_torn_every_offset);
  tcase_add_test(tc, test_damage_names_file_and_offset);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  tc = tcase_create("writer");
  tcase_add_test(tc, test_group_commit);
  tcase_add_test(tc, test_everysec);
  tcase_add_test(tc, test_write_now);
  tcase_add_test(tc, test_record_without_turn);
  tcase_add_test(tc, test_write_during_sync);
  tcase_add_test(tc, test_inline_sync);
  tcase_add_test(tc, test_inline_sync_defers);
  tcase_add_test(tc, test_inline_sync_fails);
  tcase_add_test(tc, test_disk_full);
  tcase_add_test(tc, test_full_at_open);
  tcase_add_test(tc, test_drop_before);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  tc = tcase_create("check_tool");
  tcase_add_test(tc, test_check_tool);
  tcase_set_timeout(tc, 60);
  suite_add_tcase(s, tc);
  return s;
}
