/* SPDX-License-Identifier: MIT */
/* status.h - the one table between the daemon's wire statuses (WS_*, the
 * Status enum of statemgr.proto) and the library's public error codes
 * (SM_E*, statemgr.h).
 *
 * The two lists grow separately: public codes -14 and below arose in the
 * library first, so a wire status is not simply the negated code. Both
 * sides go through this table: the client turns a status into the code it
 * returns, custom types (server/t_custom.c) turn a callback's code into
 * the status they answer, and the daemon gives a protocol-1 client, which
 * knows statuses 0..13 only, the nearest one it knows. To add a status:
 * append it to statemgr.proto and msg.h, give it a public code in
 * statemgr.h's SM_ERRNO_MAP, and add one line to STATUS_MAP in status.c. */
#ifndef SM_PROTO_STATUS_H
#define SM_PROTO_STATUS_H

#include <stdint.h>

/* The public code of wire status ws: 0 for WS_OK, SM_E* for a status this
 * build knows, SM_EREMOTE for any other (a newer daemon's). */
int status_to_error(int ws);

/* The wire status that answers public code code: its own status when it
 * has one, WS_VALUE_ERROR for SM_EINVAL, WS_INTERNAL for the rest (codes
 * of the library's own: connect, closed, memory, TLS, remote). 0 for 0. */
int status_from_error(int code);

/* The status to send a peer speaking protocol version: ws itself when that
 * version knows it, else the nearest older status (STALE -> NOT_FOUND,
 * OUT_OF_MEMORY and DISK_FULL -> INTERNAL). */
int status_for_version(int ws, uint32_t version);

/* The name of wire status ws as statemgr.proto spells it without its
 * prefix ("NOT_FOUND"; static), or NULL for a status this build does not
 * know. */
const char *status_name(int ws);

#endif
