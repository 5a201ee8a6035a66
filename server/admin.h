/* SPDX-License-Identifier: MIT */
/* admin.h - the manager's methods for operators (object 0, beside
 * manager.c's): `slowlog` reads and empties the slow-call log, `config`
 * reads and changes the settings that may change while the daemon runs
 * (log-level, slowlog-threshold-us, slowlog-max-len), `clients` lists the
 * connections and what they hold, `kill` closes one, `monitor` reads the
 * live feed of calls (monitor.h). Arguments and results are listed in
 * docs/protocol.md. */
#ifndef SM_SERVER_ADMIN_H
#define SM_SERVER_ADMIN_H

#include "object.h"

/* slowlog("get"[, n]) -> the newest n entries (default 10, -1: all),
 * newest first; slowlog("len") -> int; slowlog("reset") -> nil. */
int admin_slowlog(call *c);

/* config("get", key | "*") -> the value, or a map of every setting;
 * config("set", key, value) -> nil. */
int admin_config(call *c);

/* clients() -> a list of maps, oldest connection first: {"id", "peer",
 * "name", "age_ms", "idle_ms" (since its last request), "session",
 * "requests", "refs" (references to anonymous objects), "parked" (calls
 * waiting), "holds" (a list of {"object", "name" (named), "type",
 * "units"}: lock acquisitions, semaphore units)}. Authenticated
 * connections only. */
int admin_clients(call *c);

/* kill(id) -> nil: closes connection id as if its client had gone (its
 * session ends: what it held goes to the next waiters). NOT_FOUND when no
 * such connection is open. */
int admin_kill(call *c);

/* locks: the wait-for graph (waitfor.h), with the client name of each
 * session a connection of this run has. */
int admin_locks(call *c);

/* monitor(cursor[, wait_ms]): see monitor_call (monitor.h). */
int admin_monitor(call *c);

#endif
