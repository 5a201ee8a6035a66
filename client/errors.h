/* errors.h - the calling thread's last-error text, shared by every client
 * module.
 *
 * Public functions set the text with err_set() on every failure path, so
 * sm_last_error() always explains the code the caller just received. */
#ifndef SM_CLIENT_ERRORS_H
#define SM_CLIENT_ERRORS_H

#include <stdarg.h>

/* Stores a printf-style message as this thread's last error and returns
 * code, for `return err_set(SM_EINVAL, "...")`. */
int err_set(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int err_setv(int code, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/* The public SM_E* code of a wire status (WS_*, not WS_OK): -status for the
 * first thirteen, then the codes appended after the library's own. */
int err_status_code(int status);

#endif
