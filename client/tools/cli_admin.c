/* SPDX-License-Identifier: MIT */
/* cli_admin.c - the operator's commands of the `statemgr` CLI: slowlog
 * (read, count or empty the daemon's slow-call log) and config (read or
 * change a setting of the running daemon). Texts that clients chose
 * (object and client names) print escaped, as in ls. */
#include "../../proto/escape.h"
#include "cli.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOWLOG_GET_DEFAULT 10

/* Prints one slow-call entry on a line:
 * ID TIME DURATIONus TYPE.METHOD object ID ['NAME'] ARGS args from CLIENT [as NAME]. */
static void print_slow(const sm_value *e) {
  time_t t = (time_t)sm_value_as_int(cli_map_at(e, "time"));
  struct tm tm;
  char when[32] = "?";
  if (gmtime_r(&t, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  char *name = esc_dup(cli_map_str(e, "name"));
  char *peer = esc_dup(cli_map_str(e, "client"));
  char *client = esc_dup(cli_map_str(e, "client_name"));
  char *type = esc_dup(cli_map_str(e, "type"));
  char *method = esc_dup(cli_map_str(e, "method"));
  printf("%" PRId64 " %s %" PRId64 "us %s.%s object %" PRId64 "%s%s%s %" PRId64
         " args from %s%s%s\n",
         sm_value_as_int(cli_map_at(e, "id")), when, sm_value_as_int(cli_map_at(e, "duration_us")),
         type ? type : "?", method ? method : "?", sm_value_as_int(cli_map_at(e, "object")),
         name && *name ? " '" : "", name ? name : "", name && *name ? "'" : "",
         sm_value_as_int(cli_map_at(e, "args")), peer ? peer : "?", client && *client ? " as " : "",
         client ? client : "");
  free(name);
  free(peer);
  free(client);
  free(type);
  free(method);
}

/* slowlog [get [N] | len | reset] */
int cli_cmd_slowlog(cli_ctx *ctx, int argc, char **argv) {
  const char *op = argc > 0 ? argv[0] : "get";
  int rc;
  if (strcmp(op, "get") == 0) {
    int64_t n = SLOWLOG_GET_DEFAULT;
    if (argc > 2 || (argc == 2 && (!cli_parse_int(argv[1], &n) || n < -1)))
      return cli_fail(ctx, CLI_EUSAGE, "slowlog get takes a count: 0 or more, -1 for all");
    sm_value *list = NULL;
    if ((rc = sm_slowlog_get(ctx->client, n, &list)) != SM_OK)
      return cli_lib_fail(ctx, rc, "slowlog");
    if (ctx->json) return cli_print_owned(ctx, list);
    for (size_t i = 0; i < sm_value_len(list); i++)
      print_slow(sm_value_list_at(list, i));
    sm_value_free(list);
    return SM_OK;
  }
  if (argc > 1) return cli_fail(ctx, CLI_EUSAGE, "slowlog %s takes no argument", op);
  if (strcmp(op, "len") == 0) {
    int64_t n;
    if ((rc = sm_slowlog_len(ctx->client, &n)) != SM_OK) return cli_lib_fail(ctx, rc, "slowlog");
    return cli_print_owned(ctx, sm_value_int(n));
  }
  if (strcmp(op, "reset") == 0) {
    rc = sm_slowlog_reset(ctx->client);
    return rc == SM_OK ? rc : cli_lib_fail(ctx, rc, "slowlog");
  }
  return cli_fail(ctx, CLI_EUSAGE, "slowlog takes get [N], len or reset, not '%s'", op);
}

/* config get KEY | set KEY VALUE */
int cli_cmd_config(cli_ctx *ctx, int argc, char **argv) {
  const char *op = argv[0];
  int rc;
  if (strcmp(op, "get") == 0 && argc == 2) {
    sm_value *v = NULL;
    if ((rc = sm_config_get(ctx->client, argv[1], &v)) != SM_OK)
      return cli_lib_fail(ctx, rc, "config");
    if (ctx->json || strcmp(argv[1], "*") != 0) return cli_print_owned(ctx, v);
    for (size_t i = 0; i < sm_value_len(v); i++) { /* "*": "key: value" lines */
      char *text = sm_value_to_text(sm_value_map_value_at(v, i));
      printf("%s: %s\n", sm_value_as_str(sm_value_map_key_at(v, i), NULL), text ? text : "?");
      sm_free(text);
    }
    sm_value_free(v);
    return SM_OK;
  }
  if (strcmp(op, "set") == 0 && argc == 3) {
    sm_value *v = cli_parse_arg(ctx, argv[2]);
    if (!v) return cli_fail(ctx, SM_ENOMEM, "out of memory");
    rc = sm_config_set(ctx->client, argv[1], v);
    sm_value_free(v);
    return rc == SM_OK ? rc : cli_lib_fail(ctx, rc, "config");
  }
  return cli_fail(ctx, CLI_EUSAGE, "config takes get KEY or set KEY VALUE");
}
