/* SPDX-License-Identifier: MIT */
/* status.c - the table between wire statuses and public codes (see
 * status.h). */
#include "status.h"

#include "msg.h"
#include "statemgr.h"

/* Each wire status: its public code, the protocol version that brought it,
 * and what an older peer gets instead. */
#define STATUS_MAP(XX)                                                                             \
  XX(WS_TIMEOUT, SM_ETIMEOUT, 1, WS_TIMEOUT)                                                       \
  XX(WS_NOT_FOUND, SM_ENOTFOUND, 1, WS_NOT_FOUND)                                                  \
  XX(WS_TYPE_ERROR, SM_ETYPE, 1, WS_TYPE_ERROR)                                                    \
  XX(WS_VALUE_ERROR, SM_EVALUE, 1, WS_VALUE_ERROR)                                                 \
  XX(WS_EMPTY, SM_EEMPTY, 1, WS_EMPTY)                                                             \
  XX(WS_FULL, SM_EFULL, 1, WS_FULL)                                                                \
  XX(WS_BROKEN, SM_EBROKEN, 1, WS_BROKEN)                                                          \
  XX(WS_NOT_OWNER, SM_ENOTOWNER, 1, WS_NOT_OWNER)                                                  \
  XX(WS_AUTH_FAILED, SM_EAUTH, 1, WS_AUTH_FAILED)                                                  \
  XX(WS_PROTOCOL_ERROR, SM_EPROTO, 1, WS_PROTOCOL_ERROR)                                           \
  XX(WS_TOO_LARGE, SM_ETOOLARGE, 1, WS_TOO_LARGE)                                                  \
  XX(WS_SHUTTING_DOWN, SM_ESHUTDOWN, 1, WS_SHUTTING_DOWN)                                          \
  XX(WS_INTERNAL, SM_EINTERNAL, 1, WS_INTERNAL)                                                    \
  XX(WS_OUT_OF_MEMORY, SM_EMAXMEMORY, 2, WS_INTERNAL)                                              \
  XX(WS_STALE, SM_ESTALE, 2, WS_NOT_FOUND)                                                         \
  XX(WS_DISK_FULL, SM_EDISKFULL, 2, WS_INTERNAL)                                                   \
  XX(WS_OWNER_DEAD, SM_EOWNERDEAD, 4, WS_OK)                                                       \
  XX(WS_DEADLOCK, SM_EDEADLK, 4, WS_TIMEOUT)                                                       \
  XX(WS_FENCED, SM_EFENCED, 4, WS_VALUE_ERROR)                                                     \
  XX(WS_REDIRECT, SM_EREDIRECT, 4, WS_SHUTTING_DOWN)

int status_to_error(int ws) {
  switch (ws) {
  case WS_OK: return SM_OK;
#define STATUS_TO_ERROR(status, code, since, older)                                                \
  case status: return code;
    STATUS_MAP(STATUS_TO_ERROR)
#undef STATUS_TO_ERROR
  default: return SM_EREMOTE;
  }
}

int status_from_error(int code) {
  switch (code) {
  case SM_OK: return WS_OK;
#define STATUS_FROM_ERROR(status, code, since, older)                                              \
  case code: return status;
    STATUS_MAP(STATUS_FROM_ERROR)
#undef STATUS_FROM_ERROR
  case SM_EINVAL: return WS_VALUE_ERROR;
  default: return WS_INTERNAL;
  }
}

int status_for_version(int ws, uint32_t version) {
  switch (ws) {
#define STATUS_FOR_VERSION(status, code, since, older)                                             \
  case status: return version >= (since) ? status : (older);
    STATUS_MAP(STATUS_FOR_VERSION)
#undef STATUS_FOR_VERSION
  default: return ws;
  }
}

const char *status_name(int ws) {
  switch (ws) {
  case WS_OK: return "OK";
#define STATUS_NAME(status, code, since, older)                                                    \
  case status: return &#status[3]; /* WS_NOT_FOUND -> NOT_FOUND */
    STATUS_MAP(STATUS_NAME)
#undef STATUS_NAME
  default: return NULL;
  }
}
