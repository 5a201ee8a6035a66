/* SPDX-License-Identifier: MIT */
/* check.c - statemgr-check, the data directory checker (as
 * redis-check-aof): reads every log segment (server/wal.c's wal_read) and
 * the snapshot files of a statemgrd data directory, reports the records,
 * their index range and what is wrong, and with --fix cuts a torn tail.
 *
 * Exit status: 0 clean, 1 a torn tail (cut with --fix), 2 damage (a bad
 * record with valid ones after it, a missing segment, a snapshot whose
 * trailer does not check out), 3 a usage error or an unreadable directory.
 *
 * Snapshots: check_snapshot() is the one place that looks at them. When
 * the build has the snapshot reader (server/snapshot.c, SM_CHECK_SNAPSHOTS
 * set by CMake), it asks snap_newest() for the newest snapshot whose
 * trailer checks out; without it, only the file names are read. */
#include "../wal.h"

#ifdef SM_CHECK_SNAPSHOTS
#include "../snapshot.h"
#endif

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CHECK_CLEAN = 0, CHECK_TORN = 1, CHECK_DAMAGED = 2, CHECK_USAGE = 3 };

#define SNAP_PREFIX "snapshot-"
#define SNAP_SUFFIX ".snap"
#define SNAP_DIGITS 20

static void usage(FILE *f) {
  fprintf(f, "usage: statemgr-check DIR [--fix]\n"
             "Checks the log segments and snapshots of a statemgrd data directory.\n"
             "  --fix       cut a torn record at the end of the log\n"
             "  -h, --help  this text\n"
             "Exit status: 0 clean, 1 torn tail, 2 damaged, 3 usage or I/O error.\n");
}

/* The index in a snapshot file name, or false when name is not one. */
static bool snap_name_index(const char *name, uint64_t *index) {
  size_t plen = strlen(SNAP_PREFIX), slen = strlen(SNAP_SUFFIX);
  if (strlen(name) != plen + SNAP_DIGITS + slen || strncmp(name, SNAP_PREFIX, plen) != 0 ||
      strcmp(name + plen + SNAP_DIGITS, SNAP_SUFFIX) != 0)
    return false;
  uint64_t v = 0;
  for (size_t i = plen; i < plen + SNAP_DIGITS; i++) {
    if (name[i] < '0' || name[i] > '9') return false;
    v = v * 10 + (uint64_t)(name[i] - '0');
  }
  *index = v;
  return true;
}

/* Finds the snapshot recovery would load and prints what it found about
 * the snapshots of dir. *index receives its index (0: none). Returns
 * CHECK_CLEAN, CHECK_DAMAGED (a snapshot newer than the one used is
 * broken) or CHECK_USAGE (the directory cannot be read). */
static int check_snapshot(const char *dir, uint64_t *index) {
  *index = 0;
  DIR *d = opendir(dir);
  if (!d) {
    perror(dir);
    return CHECK_USAGE;
  }
  uint64_t newest_name = 0;
  unsigned count = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    uint64_t i;
    if (snap_name_index(de->d_name, &i)) {
      count++;
      if (i > newest_name) newest_name = i;
    }
  }
  closedir(d);
  if (count == 0) {
    printf("snapshots: none\n");
    return CHECK_CLEAN;
  }
#ifdef SM_CHECK_SNAPSHOTS
  char path[4096], err[512];
  int found = snap_newest(dir, path, sizeof path, index, err, sizeof err);
  if (found < 0) {
    printf("snapshots: %u, unreadable: %s\n", count, err);
    return CHECK_DAMAGED;
  }
  if (found == 0) {
    *index = 0;
    printf("snapshots: %u, none whose trailer checks out\n", count);
    return CHECK_DAMAGED;
  }
  printf("snapshots: %u, newest valid %s (index %" PRIu64 ")\n", count, path, *index);
  if (newest_name > *index) {
    printf("damaged: %s/" SNAP_PREFIX "%0*" PRIu64 SNAP_SUFFIX ": its trailer does not check out\n",
           dir, SNAP_DIGITS, newest_name);
    return CHECK_DAMAGED;
  }
  return CHECK_CLEAN;
#else
  *index = newest_name;
  printf("snapshots: %u, newest " SNAP_PREFIX "%0*" PRIu64 SNAP_SUFFIX
         " (not validated: this build has no snapshot reader)\n",
         count, SNAP_DIGITS, newest_name);
  return CHECK_CLEAN;
#endif
}

int main(int argc, char **argv) {
  const char *dir = NULL;
  bool fix = false;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--fix") == 0) {
      fix = true;
    } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return CHECK_CLEAN;
    } else if (argv[i][0] == '-' || dir) {
      fprintf(stderr, "statemgr-check: unexpected argument '%s'\n", argv[i]);
      usage(stderr);
      return CHECK_USAGE;
    } else {
      dir = argv[i];
    }
  }
  if (!dir) {
    usage(stderr);
    return CHECK_USAGE;
  }

  uint64_t snap_index;
  int status = check_snapshot(dir, &snap_index);
  if (status == CHECK_USAGE) return status;

  /* The records after the snapshot are the ones recovery replays. */
  wal_read_info info;
  char err[1024];
  int rc = wal_read(dir, snap_index, fix, NULL, NULL, &info, err, sizeof err);
  if (info.records > 0)
    printf("records: %" PRIu64 " (index %" PRIu64 " to %" PRIu64 ")%s\n", info.records,
           info.first_index, info.last_index, snap_index ? " after the snapshot" : "");
  else
    printf("records: none%s\n", snap_index ? " after the snapshot" : "");
  if (rc != 0) {
    printf("damaged: %s\n", err);
    return CHECK_DAMAGED;
  }
  if (info.torn) {
    printf("torn tail: %s offset %" PRIu64 ", %" PRIu64 " bytes%s\n", info.torn_file,
           info.torn_offset, info.torn_bytes, fix ? " (cut)" : " (--fix cuts it)");
    if (status == CHECK_CLEAN) status = CHECK_TORN;
  }
  if (status == CHECK_CLEAN) printf("clean\n");
  return status;
}
