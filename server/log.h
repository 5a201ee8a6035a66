/* SPDX-License-Identifier: MIT */
/* log.h - the daemon's log lines: one line per event, at or above a chosen
 * level (changed at run time by `config set log-level`), on stderr, in a
 * log file that SIGHUP reopens (for logrotate), or to syslog(3).
 * Every message is escaped (proto/escape.h) as it is written, so names and
 * other text from clients can never forge a line or reach the terminal
 * raw. */
#ifndef SM_SERVER_LOG_H
#define SM_SERVER_LOG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum log_level {
  LOG_ERROR = 0,
  LOG_WARN = 1,
  LOG_INFO = 2,
  LOG_DEBUG = 3,
} log_level;

/* Sets the process-wide threshold (default LOG_INFO); any thread. */
void log_set_level(log_level level);
log_level log_get_level(void);

/* The level's name ("info"; static), or NULL for no level. */
const char *log_level_name(log_level level);

/* Sets *out to the level called name (error, warn, info, debug); returns
 * 0, or -1 for no such level. */
int log_level_parse(const char *name, log_level *out);

/* Sends the log to syslog(3) as "statemgrd" (facility daemon, with the
 * pid), closing a log file; log_open() leaves syslog again. */
void log_open_syslog(void);

/* True while the log goes to syslog. */
bool log_is_syslog(void);

/* Sends the log to path (appended to, created with mode 0640), or back to
 * stderr when path is NULL. Returns 0, or -1 with the reason in err (the
 * log then stays where it was). */
int log_open(const char *path, char *err, size_t errlen);

/* Opens the log file again under its name, so a file that was renamed
 * (rotated) is left behind and a new one started. Returns 0 (also when the
 * log is stderr), or -1 with the reason in err (the old file is kept). */
int log_reopen(char *err, size_t errlen);

/* The log file's path (borrowed), or NULL for stderr. */
const char *log_path(void);

void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
