/* log.h - the daemon's log lines: one line per event on stderr, at or above
 * a chosen level. */
#ifndef SM_SERVER_LOG_H
#define SM_SERVER_LOG_H

typedef enum log_level {
  LOG_ERROR = 0,
  LOG_WARN = 1,
  LOG_INFO = 2,
  LOG_DEBUG = 3,
} log_level;

/* Sets the process-wide threshold (default LOG_INFO). */
void log_set_level(log_level level);

void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
