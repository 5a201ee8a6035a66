/* SPDX-License-Identifier: MIT */
/* errors.h - the calling thread's last-error text, shared by every client
 * module.
 *
 * Public functions set the text with err_set() on every failure path, so
 * sm_last_error() always explains the code the caller just received. */
#ifndef SM_CLIENT_ERRORS_H
#define SM_CLIENT_ERRORS_H

#include <stdarg.h>
#include <stddef.h>

/* Stores a printf-style message as this thread's last error and returns
 * code, for `return err_set(SM_EINVAL, "...")`. */
int err_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int err_setv(int code, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* For a daemon's answer of wire status ws (not WS_OK) with text (may be
 * NULL): sets this thread's last error and returns the public code of ws
 * (status.h). The text is the daemon's, or the code's own words when it
 * sent none; a status this library does not know gives SM_EREMOTE, and the
 * text then names the status number too. */
int err_from_status(int ws, const char *text);
/* The text err_from_status would set, written into buf (len bytes). */
void err_status_text(int ws, const char *text, char *buf, size_t len);

#endif
