/* SPDX-License-Identifier: MIT */
/* cli_set.c - the `statemgr` CLI's commands on sets, named as Redis names
 * its set commands (`set` itself is the dict's `set DICT KEY VALUE`):
 *
 *   sadd SET ELEM...     adds, creating SET (several elements: one call)
 *   srem SET ELEM...     removes those present (one call), absent ones are
 *                        not an error
 *   sismember SET ELEM   prints True or False
 *   smembers SET         prints the elements, one a line, insertion order
 *   spop SET             removes and prints the most recently added one
 *
 * ELEM arguments are typed by their look, as every KEY and VALUE of the
 * CLI (`--str` keeps them strings). Only sadd creates a set under a new
 * name; the others need an existing one (exit 1 otherwise). `len` and
 * `scan` (cli.c) read sets too. SET may be a reference as the CLI prints
 * it ("<ref set:23>"). */
#include "cli.h"

#include <stdio.h>
#include <string.h>

/* Opens the existing set name without creating it. */
static int open_existing(cli_ctx *ctx, const char *name, sm_set **out) {
  char token[128];
  int rc = cli_find_typed(ctx, name, "set", token, sizeof token);
  if (rc != SM_OK) return rc;
  rc = sm_set_from_token(ctx->client, token, out);
  if (rc == SM_ENOTFOUND) return cli_fail(ctx, rc, "no object named '%s'", name);
  return rc == SM_OK ? rc : cli_lib_fail(ctx, rc, name);
}

/* The arguments from argv[1] on as one list operand (caller frees with
 * sm_value_free()), or NULL when out of memory. */
static sm_value *elements(const cli_ctx *ctx, int argc, char **argv) {
  sm_value *items = sm_value_list();
  for (int i = 1; items && i < argc; i++) {
    sm_value *v = cli_parse_arg(ctx, argv[i]);
    if (!v || sm_value_list_append(items, v) != SM_OK) { /* takes v */
      sm_value_free(items);
      items = NULL;
    }
  }
  return items;
}

/* sadd SET ELEM...: get-or-create the set, then one atomic update. */
int cli_cmd_sadd(cli_ctx *ctx, int argc, char **argv) {
  sm_set *s = NULL;
  int rc =
      cli_is_ref(argv[0]) ? open_existing(ctx, argv[0], &s) : sm_set_open(ctx->client, argv[0], &s);
  if (rc != SM_OK) return ctx->err[0] ? rc : cli_lib_fail(ctx, rc, argv[0]);
  sm_value *items = elements(ctx, argc, argv);
  if (!items)
    rc = cli_fail(ctx, SM_ENOMEM, "out of memory");
  else if ((rc = sm_set_update(s, items)) != SM_OK)
    cli_lib_fail(ctx, rc, "sadd");
  sm_value_free(items);
  sm_set_free(s);
  return rc;
}

/* srem SET ELEM...: one atomic difference_update. */
int cli_cmd_srem(cli_ctx *ctx, int argc, char **argv) {
  sm_set *s = NULL;
  int rc = open_existing(ctx, argv[0], &s);
  if (rc != SM_OK) return rc;
  sm_value *items = elements(ctx, argc, argv);
  if (!items)
    rc = cli_fail(ctx, SM_ENOMEM, "out of memory");
  else if ((rc = sm_set_difference_update(s, items)) != SM_OK)
    cli_lib_fail(ctx, rc, "srem");
  sm_value_free(items);
  sm_set_free(s);
  return rc;
}

/* sismember SET ELEM: prints True or False. */
int cli_cmd_sismember(cli_ctx *ctx, int argc, char **argv) {
  (void)argc;
  sm_set *s = NULL;
  int rc = open_existing(ctx, argv[0], &s);
  if (rc != SM_OK) return rc;
  sm_value *elem = cli_parse_arg(ctx, argv[1]);
  bool has = false;
  if (!elem)
    rc = cli_fail(ctx, SM_ENOMEM, "out of memory");
  else if ((rc = sm_set_contains(s, elem, &has)) != SM_OK)
    cli_lib_fail(ctx, rc, "sismember");
  else
    rc = cli_print_owned(ctx, sm_value_bool(has));
  sm_value_free(elem);
  sm_set_free(s);
  return rc;
}

/* smembers SET: the elements one a line in insertion order; --json: an
 * array. */
int cli_cmd_smembers(cli_ctx *ctx, int argc, char **argv) {
  (void)argc;
  sm_set *s = NULL;
  int rc = open_existing(ctx, argv[0], &s);
  if (rc != SM_OK) return rc;
  sm_value *all = NULL;
  if ((rc = sm_set_copy(s, &all)) != SM_OK)
    cli_lib_fail(ctx, rc, "smembers");
  else
    rc = cli_print_lines(ctx, all);
  sm_value_free(all);
  sm_set_free(s);
  return rc;
}

/* spop SET: removes and prints the most recently added element; exit 1
 * when the set is empty. */
int cli_cmd_spop(cli_ctx *ctx, int argc, char **argv) {
  (void)argc;
  sm_set *s = NULL;
  int rc = open_existing(ctx, argv[0], &s);
  if (rc != SM_OK) return rc;
  sm_value *v = NULL;
  rc = sm_set_pop(s, &v);
  if (rc == SM_OK)
    rc = cli_print_value(ctx, v);
  else if (rc == SM_EEMPTY)
    cli_fail(ctx, rc, "set '%s' is empty", argv[0]);
  else
    cli_lib_fail(ctx, rc, "spop");
  sm_value_free(v);
  sm_set_free(s);
  return rc;
}
