/* errors.c - error names and texts, the per-thread last-error string, the
 * version and sm_free.
 *
 * Everything here comes from SM_ERRNO_MAP in statemgr.h: adding a code there
 * adds its name and text here without touching this file. */
#include "errors.h"

#include "../proto/msg.h"
#include "statemgr.h"

#include <stdio.h>
#include <stdlib.h>

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
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  return code;
}

int err_set(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  err_setv(code, fmt, ap);
  va_end(ap);
  return code;
}

int err_status_code(int status) {
  switch (status) {
  case WS_OUT_OF_MEMORY: return SM_EMAXMEMORY;
  case WS_STALE: return SM_ESTALE;
  default: return -status;
  }
}

const char *sm_version(void) {
  return SM_STR(SM_VERSION_MAJOR) "." SM_STR(SM_VERSION_MINOR) "." SM_STR(SM_VERSION_PATCH);
}

unsigned sm_version_hex(void) { return SM_VERSION_HEX; }

void sm_free(void *p) { free(p); }
