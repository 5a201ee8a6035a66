/* SPDX-License-Identifier: MIT */
/* wal.h - the command log of a data directory: segment files of records,
 * appended by the event loop and made durable by a writer thread with
 * group commit.
 *
 * A record is [u32 length][u32 crc32c][u64 index][payload], little-endian;
 * the CRC32C covers the index and the payload, length counts the payload.
 * Indexes start at 1 and go up by one, across segments. A segment is
 * "log-<index of its first record, 20 digits>.seg", preallocated
 * (fallocate) to wal_cfg.segment_bytes so that a full disk shows when a
 * segment is made, before any record is lost; the unused tail is zeros (a
 * zero length ends a segment).
 *
 * The loop appends (a copy into a buffer of its own, handed over once a
 * turn by wal_write_now, or within a second by a timer); the writer thread
 * takes the batch, does one write and, in WAL_FSYNC_ALWAYS, one fdatasync,
 * while the loop fills the next batch, then tells the loop (on_durable, on
 * the loop's thread) the highest index now durable; a lone client's
 * records the loop syncs itself (wal_write_now). In EVERYSEC the sync
 * runs once a second and on_durable reports an index as soon as it is
 * written; in NO the kernel decides. A failed fdatasync is fatal (on_fatal,
 * never retried: the kernel may have dropped the pages). Running out of
 * space (ENOSPC, EFBIG) when a segment is made or written sets the log full
 * (on_space(true)) until a retry, once a second, succeeds (on_space(false));
 * records appended meanwhile are kept and written then, never dropped. */
#ifndef SM_SERVER_WAL_H
#define SM_SERVER_WAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
typedef struct wal wal;

typedef enum wal_fsync_mode { WAL_FSYNC_ALWAYS, WAL_FSYNC_EVERYSEC, WAL_FSYNC_NO } wal_fsync_mode;

#define WAL_SEGMENT_DEFAULT ((size_t)64 * 1024 * 1024)
#define WAL_RECORD_HEADER 16
/* ALWAYS: the loop syncs a turn's records itself (wal_write_now) only on
 * the WAL_LONE_TURNS-th turn in a row that one connection at most waited
 * for: a lone client. With many clients, the first ones answered by a
 * sync come back alone, a turn or two each, and a sync on the loop would
 * keep the others' requests waiting behind it. */
#define WAL_LONE_TURNS 8
/* The largest payload a record may hold; a larger length is damage. */
#define WAL_RECORD_MAX ((size_t)256 * 1024 * 1024)

typedef struct wal_cfg {
  const char *dir;         /**< the data directory (exists, mode 0700) */
  wal_fsync_mode fsync;    /**< when records reach the disk */
  size_t segment_bytes;    /**< segment size; 0: WAL_SEGMENT_DEFAULT */
  struct event_base *base; /**< the loop the callbacks run on */
  /* Every record up to index is durable (ALWAYS: synced; EVERYSEC/NO:
   * written). Called on the loop's thread, indexes only going up. */
  void (*on_durable)(void *ctx, uint64_t index);
  /* fdatasync (or a write other than a full disk) failed: the daemon must
   * stop; why says what failed, with strerror. On the loop's thread. */
  void (*on_fatal)(void *ctx, const char *why);
  /* The disk became full (true) or has room again (false). */
  void (*on_space)(void *ctx, bool full);
  void *ctx;
} wal_cfg;

/* Opens the log of cfg->dir for appending after recovery: the next record
 * gets next_index (one past the last record replayed, or past the
 * snapshot). Segments holding only records below next_index may remain
 * until wal_drop_before. Starts the writer thread. Returns 0 with *out set
 * (free with wal_close), or -1 with err filled. */
int wal_open(const wal_cfg *cfg, uint64_t next_index, wal **out, char *err, size_t errlen);

/* Appends one record holding a copy of data and returns its index. Until
 * the first wal_write_now each record goes to the writer at once; from
 * then on, at the next wal_write_now (or within a second). A
 * full disk never refuses a record: the command is already applied, so
 * it waits in memory until it can be written (callers refuse new mutating
 * calls while wal_full). 0 only when out of memory (or for a payload that
 * cannot be a record: empty, or over WAL_RECORD_MAX), which the caller
 * treats as fatal (the state would differ from the log). */
uint64_t wal_append(wal *w, const void *data, size_t len);

/* Called once a loop turn, before the turn's answers go out; waiting is
 * how many connections wait for the turn's records (2: two or more).
 * ALWAYS: when the writer is idle and one connection at most waits, in
 * this turn and the ones before (WAL_LONE_TURNS), writes and syncs the
 * records here, on the loop's thread, and reports them through on_durable
 * before it returns, as Redis syncs in beforeSleep: no thread hop.
 * Otherwise wakes the writer for the turn's records, so that they share
 * one sync (from the first call on, appends no longer wake it one by one);
 * while the writer writes or syncs, the records wait for its next sync
 * (never two syncs at once). EVERYSEC and
 * NO: writes the records appended so far to the segment
 * from the calling (loop) thread, at once, and reports them durable (they
 * are written) through on_durable before it returns; the writer thread
 * then only syncs once a second. The daemon calls it before it sends the
 * answers of a loop turn, as Redis writes its append-only file before
 * replying: a crash of the process then loses nothing answered, a crash of
 * the machine up to a second. The writer's sync does not stop it (the
 * loop writes while the disk syncs); it writes nothing while the writer
 * writes a batch itself (the writer takes this one right after), on a
 * full disk or after a fatal error. */
void wal_write_now(wal *w, unsigned waiting);

/* The index of the last record appended (0: none this run, and the
 * snapshot's before it: the next_index given to wal_open, minus one). */
uint64_t wal_last_index(const wal *w);
/* The highest index on_durable reported. */
uint64_t wal_durable_index(const wal *w);
/* True while the disk is full: the daemon refuses mutating calls. */
bool wal_full(const wal *w);
/* Bytes of records in the segments still kept (for info and for the
 * snapshot trigger). */
uint64_t wal_bytes(const wal *w);
/* fdatasync calls done since open (the test of group commit counts them). */
uint64_t wal_syncs(const wal *w);

/* A snapshot now holds every record up to index: removes the segments
 * whose records are all at or below it. Returns 0 or -1 (err filled). */
int wal_drop_before(wal *w, uint64_t index, char *err, size_t errlen);

/* As wal_drop_before, but the segments only leave the log here (at once,
 * under its lock): their paths come back in *paths (n of them; the caller
 * unlinks them, syncs the directory, and frees each path and the array),
 * so that removing large files, which can take tens of milliseconds, need
 * not stall the caller's thread. Returns 0, or -1 (err filled). */
int wal_detach_before(wal *w, uint64_t index, char ***paths, size_t *n, char *err, size_t errlen);

/* Writes and syncs everything appended (whatever the mode), stops the
 * writer thread and frees the log; NULL is fine. Called at a clean stop.
 * No callback runs after it, and no callback may call it. If the disk is
 * still full, one last attempt is made and what it cannot write is lost
 * (logged). */
void wal_close(wal *w);

/* What wal_read found. */
typedef struct wal_read_info {
  uint64_t first_index; /**< first record read (0: none) */
  uint64_t last_index;  /**< last valid record (0: none) */
  uint64_t records;     /**< records passed to the callback */
  bool torn;            /**< the last segment ends in a partial record */
  char torn_file[256];  /**< that segment's path */
  uint64_t torn_offset; /**< where its valid records end */
  uint64_t torn_bytes;  /**< bytes after it that are not zeros */
} wal_read_info;

/* Called for each record, in index order; a non-zero return stops the read
 * and wal_read returns it. */
typedef int (*wal_record_fn)(void *ctx, uint64_t index, const void *data, size_t len);

/* Reads the log of dir, calling fn for every record with an index above
 * after. A partial or corrupt record at the end of the last segment is a
 * torn write (info->torn; not an error); with truncate, the segment is cut
 * back there (zeros after it) and synced. Damage anywhere else (a bad CRC
 * or length with valid records after it, an index out of sequence, a
 * missing segment) returns -1 with err naming the file and the offset.
 * Returns 0, -1, or what fn returned. */
int wal_read(const char *dir, uint64_t after, bool truncate, wal_record_fn fn, void *ctx,
             wal_read_info *info, char *err, size_t errlen);

#endif
