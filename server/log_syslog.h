/* SPDX-License-Identifier: MIT */
/* log_syslog.h - the syslog(3) end of the log (log.c sends its lines here
 * with --syslog). Apart from log.c because <syslog.h> defines LOG_INFO and
 * LOG_DEBUG as macros, which log.h's levels are named too. */
#ifndef SM_SERVER_LOG_SYSLOG_H
#define SM_SERVER_LOG_SYSLOG_H

/* Opens the connection to the system logger under ident (kept: a string
 * that lives as long as the process), facility daemon, with the pid. */
void logsys_open(const char *ident);

/* Sends one message at level (0 error, 1 warn, 2 info, 3 debug: log.h's
 * log_level), already escaped to one line. */
void logsys_write(int level, const char *msg);

void logsys_close(void);

#endif
