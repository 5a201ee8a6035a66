/* SPDX-License-Identifier: MIT */
/* log.c - timestamped, escaped log lines on stderr or in a file (see
 * log.h).
 *
 * Each line is one write(2) on a descriptor opened with O_APPEND, so lines
 * from concurrent writers never interleave. The file keeps one descriptor
 * number for its whole life: a reopen opens the path anew and dup2()s the
 * new file onto that number, which swaps them atomically for any thread
 * writing at the time. The state is process-wide, like the threshold: one
 * daemon per process. */
#include "log.h"

#include "../proto/escape.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048 /* longer messages are cut, with "..." */

static log_level threshold = LOG_INFO;
static const char *const names[] = {"error", "warn", "info", "debug"};
static int log_fd = STDERR_FILENO; /* stderr, or the file's descriptor */
static char *log_file;             /* the file's path; NULL for stderr */

void log_set_level(log_level level) { threshold = level; }

const char *log_path(void) { return log_file; }

/* Opens path for appending; -1 with the reason in err. */
static int open_file(const char *path, char *err, size_t errlen) {
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
  if (fd < 0) snprintf(err, errlen, "cannot open the log file %s: %s", path, strerror(errno));
  return fd;
}

int log_open(const char *path, char *err, size_t errlen) {
  if (!path) {
    if (log_fd != STDERR_FILENO) close(log_fd);
    log_fd = STDERR_FILENO;
    free(log_file);
    log_file = NULL;
    return 0;
  }
  char *copy = strdup(path);
  if (!copy) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  int fd = open_file(path, err, errlen);
  if (fd < 0) {
    free(copy);
    return -1;
  }
  if (log_fd != STDERR_FILENO) { /* a second file: keep the descriptor number */
    dup2(fd, log_fd);
    close(fd);
  } else {
    log_fd = fd;
  }
  free(log_file);
  log_file = copy;
  return 0;
}

int log_reopen(char *err, size_t errlen) {
  if (!log_file) return 0;
  int fd = open_file(log_file, err, errlen);
  if (fd < 0) return -1;
  int rc = dup2(fd, log_fd) < 0 ? -1 : 0;
  if (rc != 0)
    snprintf(err, errlen, "cannot reopen the log file %s: %s", log_file, strerror(errno));
  close(fd);
  return rc;
}

void log_msg(log_level level, const char *fmt, ...) {
  if (level > threshold) return;
  struct timeval tv;
  gettimeofday(&tv, NULL);
  struct tm tm;
  gmtime_r(&tv.tv_sec, &tm);
  char msg[LOG_LINE_MAX], line[LOG_LINE_MAX + 128];
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  size_t mlen = m < 0 ? 0 : (size_t)m < sizeof msg ? (size_t)m : sizeof msg - 1;
  int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ statemgrd[%d] %-5s ",
                   tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   (int)(tv.tv_usec / 1000), (int)getpid(), names[level]);
  size_t len = n > 0 ? (size_t)n : 0;
  /* The message may hold names from clients: escaped, it stays one line. */
  esc_render(line + len, sizeof line - len - 1, msg, mlen);
  len += strlen(line + len);
  line[len++] = '\n';
  ssize_t w = write(log_fd, line, len); /* one write: lines never interleave */
  (void)w;                              /* nowhere left to report a failing log */
}
