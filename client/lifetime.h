/* SPDX-License-Identifier: MIT */
/* lifetime.h - what the typed families need of lifetime.c: opening an
 * object with sm_open_options. */
#ifndef SM_CLIENT_LIFETIME_H
#define SM_CLIENT_LIFETIME_H

#include "proxy.h"

/* As proxy_create with the options for the object it creates (opts NULL:
 * none, a plain create). Allocates size bytes (the typed struct); *out is
 * freed with proxy_free(). Returns 0 or an SM_E* code. */
int lifetime_open(sm_client *c, const char *type, const char *name, const sm_value *initial,
                  const sm_open_options *opts, size_t size, sm_proxy **out);

#endif
