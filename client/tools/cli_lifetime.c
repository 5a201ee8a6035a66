/* SPDX-License-Identifier: MIT */
/* cli_lifetime.c - the CLI's expiry commands: expire, ttl and persist, on
 * a whole object (NAME) or on one key of a dict (DICT KEY). None of them
 * creates anything: a missing object or key is "not found". */
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>

/* Opens the existing dict name (never creates it). */
static int open_dict(cli_ctx *ctx, const char *name, sm_dict **out) {
  char token[128];
  int rc = cli_find_typed(ctx, name, "dict", token, sizeof token);
  if (rc != SM_OK) return rc;
  rc = sm_dict_from_token(ctx->client, token, out);
  return rc == SM_OK ? rc : cli_lib_fail(ctx, rc, name);
}

/* Runs fn on the dict key argv[1] of dict argv[0]; fn answers the
 * command. */
static int on_key(cli_ctx *ctx, char **argv,
                  int (*fn)(cli_ctx *ctx, sm_dict *d, const sm_value *key, void *arg), void *arg) {
  sm_dict *d = NULL;
  int rc = open_dict(ctx, argv[0], &d);
  if (rc != SM_OK) return rc;
  sm_value *key = cli_parse_arg(ctx, argv[1]);
  rc = key ? fn(ctx, d, key, arg) : cli_fail(ctx, SM_ENOMEM, "out of memory");
  sm_value_free(key);
  sm_dict_free(d);
  return rc;
}

static int not_found(cli_ctx *ctx, int rc, const char *what, const char *name) {
  if (rc == SM_ENOTFOUND) return cli_fail(ctx, rc, "no object named '%s'", name);
  return cli_lib_fail(ctx, rc, what);
}

static int key_expire(cli_ctx *ctx, sm_dict *d, const sm_value *key, void *arg) {
  bool existed = false;
  int rc = sm_dict_set_ttl(d, key, *(int64_t *)arg, &existed);
  if (rc != SM_OK) return cli_lib_fail(ctx, rc, "expire");
  return existed ? SM_OK : cli_fail(ctx, SM_ENOTFOUND, "no such key");
}

/* expire NAME MS | expire DICT KEY MS: the object (or the key) is removed
 * MS milliseconds from now; MS <= 0 removes it now. */
int cli_cmd_expire(cli_ctx *ctx, int argc, char **argv) {
  int64_t ms;
  if (!cli_parse_int(argv[argc - 1], &ms))
    return cli_fail(ctx, CLI_EUSAGE, "MS must be an integer number of milliseconds, not '%s'",
                    argv[argc - 1]);
  if (argc == 3) return on_key(ctx, argv, key_expire, &ms);
  int rc = sm_expire(ctx->client, argv[0], ms);
  return rc == SM_OK ? rc : not_found(ctx, rc, "expire", argv[0]);
}

/* Prints ms left, or what stands for none. */
static int print_ttl(cli_ctx *ctx, int64_t ms) {
  if (ctx->json) return cli_print_owned(ctx, sm_value_int(ms));
  if (ms == -1)
    printf("none\n");
  else
    printf("%" PRId64 "\n", ms);
  return SM_OK;
}

static int key_ttl(cli_ctx *ctx, sm_dict *d, const sm_value *key, void *arg) {
  (void)arg;
  int64_t ms;
  int rc = sm_dict_ttl(d, key, &ms);
  if (rc != SM_OK) return cli_lib_fail(ctx, rc, "ttl");
  if (ms == -2) return cli_fail(ctx, SM_ENOTFOUND, "no such key");
  return print_ttl(ctx, ms);
}

/* ttl NAME | ttl DICT KEY: prints the milliseconds left, or "none" (-1
 * with --json) when there is no TTL. */
int cli_cmd_ttl(cli_ctx *ctx, int argc, char **argv) {
  if (argc == 2) return on_key(ctx, argv, key_ttl, NULL);
  int64_t ms;
  int rc = sm_ttl(ctx->client, argv[0], &ms);
  return rc == SM_OK ? print_ttl(ctx, ms) : not_found(ctx, rc, "ttl", argv[0]);
}

static int key_persist(cli_ctx *ctx, sm_dict *d, const sm_value *key, void *arg) {
  (void)arg;
  bool had;
  int rc = sm_dict_persist(d, key, &had);
  return rc == SM_OK ? cli_print_owned(ctx, sm_value_bool(had)) : cli_lib_fail(ctx, rc, "persist");
}

/* persist NAME | persist DICT KEY: removes the TTL; prints True when there
 * was one. */
int cli_cmd_persist(cli_ctx *ctx, int argc, char **argv) {
  if (argc == 2) return on_key(ctx, argv, key_persist, NULL);
  bool had;
  int rc = sm_persist(ctx->client, argv[0], &had);
  return rc == SM_OK ? cli_print_owned(ctx, sm_value_bool(had))
                     : not_found(ctx, rc, "persist", argv[0]);
}
