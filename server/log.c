/* SPDX-License-Identifier: MIT */
/* log.c - timestamped, escaped log lines on stderr, in a file, or to
 * syslog (see log.h).
 *
 * Each line is one write(2) on a descriptor opened with O_APPEND, so lines
 * from concurrent writers never interleave. The file keeps one descriptor
 * number for its whole life: a reopen opens the path anew and dup2()s the
 * new file onto that number, which swaps them atomically for any thread
 * writing at the time. The state is process-wide, like the threshold: one
 * daemon per process. The threshold is atomic, as `config set log-level`
 * changes it on the loop thread while other threads may log. With syslog,
 * the logger adds the time and pid itself: only the message is sent. */
#include "log.h"

#include "../proto/escape.h"
#include "log_syslog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define LOG_LINE_MAX 2048 /* longer messages are cut, with "..." */

static atomic_int threshold = LOG_INFO;
static const char *const names[] = {"error", "warn", "info", "debug"};
static int log_fd = STDERR_FILENO; /* stderr, or the file's descriptor */
static char *log_file;             /* the file's path; NULL for stderr */
static bool to_syslog;             /* lines go to syslog(3) instead */

void log_set_level(log_level level) {
  atomic_store_explicit(&threshold, (int)level, memory_order_relaxed);
}

log_level log_get_level(void) {
  return (log_level)atomic_load_explicit(&threshold, memory_order_relaxed);
}

const char *log_level_name(log_level level) {
  return level >= LOG_ERROR && level <= LOG_DEBUG ? names[level] : NULL;
}

int log_level_parse(const char *name, log_level *out) {
  for (int i = LOG_ERROR; i <= LOG_DEBUG; i++)
    if (strcmp(name, names[i]) == 0) {
      *out = (log_level)i;
      return 0;
    }
  return -1;
}

void log_open_syslog(void) {
  if (log_fd != STDERR_FILENO) close(log_fd);
  log_fd = STDERR_FILENO;
  free(log_file);
  log_file = NULL;
  logsys_open("statemgrd");
  to_syslog = true;
}

bool log_is_syslog(void) { return to_syslog; }

const char *log_path(void) { return log_file; }

/* Opens path for appending; -1 with the reason in err. */
static int open_file(const char *path, char *err, size_t errlen) {
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY, 0640);
  if (fd < 0) snprintf(err, errlen, "cannot open the log file %s: %s", path, strerror(errno));
  return fd;
}

int log_open(const char *path, char *err, size_t errlen) {
  if (to_syslog) {
    logsys_close();
    to_syslog = false;
  }
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
  if ((int)level > atomic_load_explicit(&threshold, memory_order_relaxed)) return;
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
  if (to_syslog) {
    /* The message may hold names from clients: escaped, it stays one line. */
    esc_render(line, sizeof line, msg, mlen);
    logsys_write((int)level, line);
    return;
  }
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
