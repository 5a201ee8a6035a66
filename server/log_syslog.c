/* SPDX-License-Identifier: MIT */
/* log_syslog.c - the daemon's log lines through syslog(3) (see
 * log_syslog.h). */
#include "log_syslog.h"

#include <syslog.h>

void logsys_open(const char *ident) { openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON); }

void logsys_write(int level, const char *msg) {
  static const int priorities[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
  int prio = level >= 0 && level < 4 ? priorities[level] : LOG_INFO;
  syslog(prio, "%s", msg);
}

void logsys_close(void) { closelog(); }
