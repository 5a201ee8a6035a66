/* SPDX-License-Identifier: MIT */
/* admin.h - the manager's methods for operators (object 0, beside
 * manager.c's): `slowlog` reads and empties the slow-call log, `config`
 * reads and changes the settings that may change while the daemon runs
 * (log-level, slowlog-threshold-us, slowlog-max-len). Arguments and
 * results are listed in docs/protocol.md. */
#ifndef SM_SERVER_ADMIN_H
#define SM_SERVER_ADMIN_H

#include "object.h"

/* slowlog("get"[, n]) -> the newest n entries (default 10, -1: all),
 * newest first; slowlog("len") -> int; slowlog("reset") -> nil. */
int admin_slowlog(call *c);

/* config("get", key | "*") -> the value, or a map of every setting;
 * config("set", key, value) -> nil. */
int admin_config(call *c);

#endif
