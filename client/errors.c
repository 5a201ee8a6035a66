/* SPDX-License-Identifier: MIT */
/* errors.c - error names and texts, the per-thread last-error string, the
 * errors the daemon answers with, the version and sm_free.
 *
 * Names and texts come from SM_ERRNO_MAP in statemgr.h: adding a code there
 * adds its name and text here without touching this file. The code of a
 * daemon's status comes from the table of proto/status.h. */
#include "errors.h"

#include "../proto/status.h"
#include "statemgr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SM_STR2(x) #x
#define SM_STR(x) SM_STR2(x)

/* The last failure of this thread; each thread sees only its own. */
static _Thread_local char last_error[1024];

const char *sm_strerror(int code) {
  switch (code) {
  case SM_OK: return "success";
#define SM_ERR_TEXT(name, num, text)                                                               \
  case num: return text;
    SM_ERRNO_MAP(SM_ERR_TEXT)
#undef SM_ERR_TEXT
  default: return "unknown error";
  }
}

const char *sm_errname(int code) {
  switch (code) {
  case SM_OK: return "SM_OK";
#define SM_ERR_NAME(name, num, text)                                                               \
  case num: return "SM_E" #name;
    SM_ERRNO_MAP(SM_ERR_NAME)
#undef SM_ERR_NAME
  default: return "SM_EUNKNOWN";
  }
}

/* Borrowed: this thread's buffer, rewritten by its next failure. */
const char *sm_last_error(void) { return last_error; }

int err_setv(int code, const char *fmt, va_list ap) {
  /* Made aside: an argument may be the last error itself (a reason given
   * inside the new text), which vsnprintf must not read while it writes. */
  char text[sizeof last_error];
  vsnprintf(text, sizeof text, fmt, ap);
  memcpy(last_error, text, sizeof text);
  return code;
}

int err_set(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  err_setv(code, fmt, ap);
  va_end(ap);
  return code;
}

void err_status_text(int ws, const char *text, char *buf, size_t len) {
  int code = status_to_error(ws);
  if (text && !*text) text = NULL;
  if (code == SM_EREMOTE)
    snprintf(buf, len, "the daemon answered with status %d, unknown to this library: %s", ws,
             text ? text : "(no text)");
  else
    snprintf(buf, len, "%s", text ? text : sm_strerror(code));
}

int err_from_status(int ws, const char *text) {
  err_status_text(ws, text, last_error, sizeof last_error);
  return status_to_error(ws);
}

const char *sm_version(void) {
  return SM_STR(SM_VERSION_MAJOR) "." SM_STR(SM_VERSION_MINOR) "." SM_STR(SM_VERSION_PATCH);
}

unsigned sm_version_hex(void) { return SM_VERSION_HEX; }

void sm_free(void *p) { free(p); }
