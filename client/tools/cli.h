/* SPDX-License-Identifier: MIT */
/* cli.h - what the files of the `statemgr` CLI share.
 *
 * cli.c parses the command line, connects, runs one command from its
 * table and maps the result onto an exit code; it holds the commands on
 * data (dict, list, value, namespace, array) and the admin ones.
 * cli_sync.c holds the commands on queues and synchronisation objects
 * (queue, event, lock, semaphore, barrier), which may wait. cli_set.c
 * holds the set commands (sadd, srem, sismember, smembers, spop). cli_admin.c
 * holds the operator's slowlog, config, clients and monitor. cli_lifetime.c
 * holds expire, ttl and persist. cli_txn.c holds txn and watch. cli_out.c
 * prints values, as plain text or JSON. cli_repl.c is the interactive
 * mode: it reads command lines and hands each to cli_run(). */
#ifndef SM_CLI_H
#define SM_CLI_H

#include "statemgr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Statuses of the CLI's own, beside the library's negative SM_E* codes. */
#define CLI_EUSAGE (-1000) /* a bad command line: exit 2 */
#define CLI_EUNMET (-1001) /* a wait ended without its condition: exit 1 */

/* What every command gets: the connection and the parsed options. */
typedef struct cli_ctx {
  sm_client *client; /* connected before the command runs (NULL for help) */
  bool force_str;    /* --str: every KEY and VALUE argument is a string */
  bool json;         /* --json: one JSON document per command on stdout */
  bool printed;      /* the command wrote its JSON document */
  const char *type;  /* ls --type T, or NULL */
  int64_t wait_ms;   /* --timeout MS after a waiting command, else SM_FOREVER */
  bool wait_given;   /* that --timeout was given */
  size_t count;      /* scan --count N, or 0: the daemon's default */
  const char *guard; /* --guard NAME=TOKEN: the command's fencing guard, or NULL */
  char err[1024];    /* what went wrong, printed by main after "statemgr: " */
} cli_ctx;

typedef int (*cmd_fn)(cli_ctx *ctx, int argc, char **argv);

/* Records a failure of the CLI's own making (printf-style) and returns rc. */
int cli_fail(cli_ctx *ctx, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Records a library failure with sm_last_error()'s text, prefixed by
 * what. Returns rc. */
int cli_lib_fail(cli_ctx *ctx, int rc, const char *what);

/* A command-line KEY or VALUE as a value, typed by its look (see `statemgr
 * help`). Returns a new value (caller frees with sm_value_free()), or NULL
 * when out of memory. */
sm_value *cli_parse_arg(const cli_ctx *ctx, const char *s);

/* Parses an int64 operand (an index, a count); false when s is not one. */
bool cli_parse_int(const char *s, int64_t *out);

/* Prints each item of list on its own line, or the whole list as the
 * command's JSON document. Returns 0 or SM_ENOMEM (recorded). */
int cli_print_lines(cli_ctx *ctx, const sm_value *list);

/* Prints v on its own line, plain or as the command's JSON document.
 * Returns 0 or SM_ENOMEM (recorded). */
int cli_print_value(cli_ctx *ctx, const sm_value *v);

/* cli_print_value() for a value built by the caller; takes ownership of v
 * (NULL means out of memory). */
int cli_print_owned(cli_ctx *ctx, sm_value *v);

/* Finds the existing object name (a name, or a reference as the CLI prints
 * it: "<ref list:23>") and checks it is of type want ("semaphore" matches
 * "bounded_semaphore" too). On success writes its token ("dict:42") into
 * token. Never creates anything. Returns 0, SM_ENOTFOUND, SM_ETYPE (with a
 * message), or a library error. */
int cli_find_typed(cli_ctx *ctx, const char *name, const char *want, char *token, size_t toklen);

/* Finds the existing object name, a name or a reference ("<ref list:23>"):
 * writes its type into type and its token into token. Never creates
 * anything. Returns 0, SM_ENOTFOUND with a message, or a library error. */
int cli_find_object(cli_ctx *ctx, const char *name, char *type, size_t typelen, char *token,
                    size_t toklen);

/* True when name is a reference as the CLI prints it ("<ref list:23>"). */
bool cli_is_ref(const char *name);

/* The value stored under key in map (borrowed), or NULL when absent. */
const sm_value *cli_map_at(const sm_value *map, const char *key);

/* The string stored under key in map (borrowed), or "" when absent or not
 * a string. */
const char *cli_map_str(const sm_value *map, const char *key);

/* The commands of cli_admin.c: slowlog, config, clients, monitor. */
int cli_cmd_slowlog(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_config(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_clients(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_locks(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_monitor(cli_ctx *ctx, int argc, char **argv);

/* The commands of cli_lifetime.c: expire, ttl, persist. */
int cli_cmd_expire(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_ttl(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_persist(cli_ctx *ctx, int argc, char **argv);

/* The commands of cli_txn.c: txn and watch. */
int cli_cmd_txn(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_watch(cli_ctx *ctx, int argc, char **argv);

/* The commands of cli_sync.c: queue, event, lock, semaphore, barrier. */
int cli_cmd_queue(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_event(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_lock(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_semaphore(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_barrier(cli_ctx *ctx, int argc, char **argv);

/* The commands of cli_set.c: sadd, srem, sismember, smembers, spop. */
int cli_cmd_sadd(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_srem(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_sismember(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_smembers(cli_ctx *ctx, int argc, char **argv);
int cli_cmd_spop(cli_ctx *ctx, int argc, char **argv);

/* Runs one command line on ctx (connected): argv[0] is COMMAND, options
 * after it as on the shell's command line. Prints its output and, on
 * failure, its error. Returns the exit code the one-shot CLI would give. */
int cli_run(cli_ctx *ctx, int argc, char **argv);

/* The name of command i of the table (static), or NULL past the last. */
const char *cli_command_name(size_t i);

/* The argument synopsis of command name (static), or NULL when unknown. */
const char *cli_command_args(const char *name);

/* Writes `statemgr help`'s full text to stdout. */
void cli_print_help(void);

/* The interactive mode on ctx's connection, until quit, exit or end of
 * input. Returns the exit code (0). */
int cli_repl(const cli_ctx *ctx);

#endif
