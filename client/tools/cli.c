/* SPDX-License-Identifier: MIT */
/* cli.c - the `statemgr` command-line tool: inspect and change a statemgrd's
 * objects from a shell, with exit codes that scripts can rely on.
 *
 * It uses the public client API (statemgr.h), the URL parser of
 * proto/url.h (a bad URL is a usage error), and the escaping of
 * proto/escape.h for names in listings: an object or client name holding a
 * newline or a terminal escape prints as \n or \e, so it can neither forge
 * a row nor drive the terminal. Values print through cli_out.c: plain text
 * that keeps types apart ('7' is a string, 7 an int), or --json. Each
 * command is one row of the `commands` table below (name, arguments, help
 * line and details, function); to add a command, write a cmd_<name>() (or
 * a cli_cmd_<name>() in cli_sync.c for a waiting type) and add its row.
 * Exit codes are the CLI_EXIT_* values; library codes map onto them in
 * exit_code_for().
 *
 * This file holds main, the shared helpers of cli.h, and the commands on
 * data (dict, list, value, namespace, array) and the admin ones.
 *
 * Read-only commands (get, keys, len, value get...) never create anything:
 * they look the name up with sm_ls() (or take a reference, "<ref list:23>")
 * and open the object by its token, so a typo does not leave an empty
 * object behind. Writing commands (set, push, value set/incr, ns set) get-
 * or-create the object, as the library's open does. */
#include "statemgr.h"

#include "../../proto/escape.h"
#include "../../proto/url.h"
#include "cli.h"
#include "cli_out.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Exit codes, documented in `statemgr help` and the README. */
enum {
  CLI_EXIT_OK = 0,       /* done, or found */
  CLI_EXIT_NOTFOUND = 1, /* key or object absent, empty, or a wait unmet */
  CLI_EXIT_USAGE = 2,    /* bad command line */
  CLI_EXIT_CONNECT = 3,  /* cannot reach the daemon, or it stopped answering */
  CLI_EXIT_AUTH = 4,     /* the daemon refused our authkey */
  CLI_EXIT_ERROR = 5,    /* anything else; the daemon's text is on stderr */
};

/* Options a command accepts after its name, beside --str, --json and --. */
enum {
  CMD_TYPE = 1,    /* --type T */
  CMD_TIMEOUT = 2, /* --timeout MS: how long to wait */
  CMD_COUNT = 4,   /* --count N: items per page */
};

typedef struct command {
  const char *name;
  const char *args; /* the argument synopsis for usage lines */
  int min_args;
  int max_args;
  bool needs_client; /* connect before running */
  unsigned opts;     /* CMD_* bits */
  cmd_fn run;
  const char *help;    /* one line, for the command list */
  const char *details; /* more, for `statemgr help COMMAND` ("" when none) */
} command;

static int cmd_ping(cli_ctx *ctx, int argc, char **argv);
static int cmd_ls(cli_ctx *ctx, int argc, char **argv);
static int cmd_set(cli_ctx *ctx, int argc, char **argv);
static int cmd_get(cli_ctx *ctx, int argc, char **argv);
static int cmd_del(cli_ctx *ctx, int argc, char **argv);
static int cmd_keys(cli_ctx *ctx, int argc, char **argv);
static int cmd_items(cli_ctx *ctx, int argc, char **argv);
static int cmd_values(cli_ctx *ctx, int argc, char **argv);
static int cmd_scan(cli_ctx *ctx, int argc, char **argv);
static int cmd_push(cli_ctx *ctx, int argc, char **argv);
static int cmd_pop(cli_ctx *ctx, int argc, char **argv);
static int cmd_range(cli_ctx *ctx, int argc, char **argv);
static int cmd_len(cli_ctx *ctx, int argc, char **argv);
static int cmd_type(cli_ctx *ctx, int argc, char **argv);
static int cmd_delete(cli_ctx *ctx, int argc, char **argv);
static int cmd_value(cli_ctx *ctx, int argc, char **argv);
static int cmd_ns(cli_ctx *ctx, int argc, char **argv);
static int cmd_array(cli_ctx *ctx, int argc, char **argv);
static int cmd_info(cli_ctx *ctx, int argc, char **argv);
static int cmd_stats(cli_ctx *ctx, int argc, char **argv);
static int cmd_show(cli_ctx *ctx, int argc, char **argv);
static int cmd_shutdown(cli_ctx *ctx, int argc, char **argv);
static int cmd_save(cli_ctx *ctx, int argc, char **argv);
static int cmd_help(cli_ctx *ctx, int argc, char **argv);

static const command commands[] = {
    {"ping", "", 0, 0, true, 0, cmd_ping, "check that the daemon answers", ""},
    {"ls", "[--type T]", 0, 0, true, CMD_TYPE, cmd_ls, "named objects: NAME TYPE SIZE columns",
     "SIZE is - for a type without one; names are escaped. --json: an array of\n"
     "{\"name\", \"id\", \"type\", \"size\"} objects.\n"},
    {"set", "DICT KEY VALUE", 3, 3, true, 0, cmd_set, "DICT[KEY] = VALUE (creates DICT)", ""},
    {"get", "DICT KEY", 2, 2, true, 0, cmd_get, "print DICT[KEY]", ""},
    {"del", "DICT KEY", 2, 2, true, 0, cmd_del, "remove KEY from DICT",
     "To delete a whole object, use `statemgr delete NAME`.\n"},
    {"keys", "DICT", 1, 1, true, 0, cmd_keys, "print DICT's keys, one per line", ""},
    {"items", "DICT", 1, 1, true, 0, cmd_items, "print DICT's items, one \"KEY: VALUE\" per line",
     "In insertion order. A string key holding \": \" is quoted, so the first \": \"\n"
     "outside quotes ends the key. --json: an array of [KEY, VALUE] pairs.\n"},
    {"values", "DICT", 1, 1, true, 0, cmd_values, "print DICT's values, one per line", ""},
    {"scan", "NAME [--count N]", 1, 1, true, CMD_COUNT, cmd_scan,
     "print the items of a dict or namespace (KEY<TAB>VALUE), list or set, page by page",
     "Reads N items a round trip (default 100; 1 to 1000000), so an object of any\n"
     "size prints while the CLI holds one page. Every item present for the whole\n"
     "scan is printed (a list's item may come twice if items before it are removed\n"
     "meanwhile). Never creates the object.\n"},
    {"push", "LIST VALUE...", 2, -1, true, 0, cmd_push, "append to LIST (creates LIST)", ""},
    {"pop", "LIST", 1, 1, true, 0, cmd_pop, "remove and print LIST's last item", ""},
    {"range", "LIST [START [STOP]]", 1, 3, true, 0, cmd_range,
     "print LIST[START:STOP], one per line, removing nothing",
     "Python's slice: STOP excluded, negative indexes count from the end, both\n"
     "clamped; START defaults to 0 and STOP to the end. --json: an array.\n"},
    {"sadd", "SET ELEM...", 2, -1, true, 0, cli_cmd_sadd, "add to SET (creates SET)",
     "Several elements go in one atomic call. Elements compare as dict keys:\n"
     "1, 1.0 and True are one element.\n"},
    {"srem", "SET ELEM...", 2, -1, true, 0, cli_cmd_srem, "remove from SET the elements present",
     "One atomic call; an element that is absent is not an error.\n"},
    {"sismember", "SET ELEM", 2, 2, true, 0, cli_cmd_sismember, "print True or False", ""},
    {"smembers", "SET", 1, 1, true, 0, cli_cmd_smembers,
     "print SET's elements, one per line, in insertion order", "--json: an array.\n"},
    {"spop", "SET", 1, 1, true, 0, cli_cmd_spop,
     "remove and print SET's most recently added element", "Exit 1 when SET is empty.\n"},
    {"len", "NAME", 1, 1, true, 0, cmd_len, "print the length of NAME",
     "The length of a dict, list, namespace (attributes), queue (items) or array;\n"
     "for other types, the size `ls` shows, when they have one.\n"},
    {"type", "NAME", 1, 1, true, 0, cmd_type, "print NAME's type", ""},
    {"delete", "NAME", 1, 1, true, 0, cmd_delete, "delete the named object",
     "Proxies other programs hold to it then fail with \"not found\". To remove one\n"
     "key of a dict, use `statemgr del DICT KEY`.\n"},
    {"expire", "NAME MS | DICT KEY MS", 2, 3, true, 0, cli_cmd_expire,
     "remove the object, or one key of a dict, MS milliseconds from now",
     "MS <= 0 removes it now. The daemon keeps the deadline, also across a restart\n"
     "of a durable daemon; until then the object or key works as before. Never\n"
     "creates anything: a missing object or key is not found (exit 1).\n"},
    {"ttl", "NAME | DICT KEY", 1, 2, true, 0, cli_cmd_ttl,
     "print the milliseconds left before NAME (or DICT's KEY) expires",
     "Prints none when it has no TTL (-1 with --json).\n"},
    {"persist", "NAME | DICT KEY", 1, 2, true, 0, cli_cmd_persist,
     "remove the TTL of NAME (or DICT's KEY); prints True when it had one", ""},
    {"value", "NAME [get | set V | incr [N]]", 1, 3, true, 0, cmd_value,
     "read, set, or add N (default 1) atomically",
     "get never creates the value; set and incr do (incr counts a new one from 0).\n"},
    {"ns", "NAME get ATTR | set ATTR V | del ATTR | attrs", 2, 4, true, 0, cmd_ns,
     "a namespace's attributes", "set creates the namespace; attrs prints the names, sorted.\n"},
    {"array", "NAME get I | set I V | add I N | range [START [STOP]] | typecode", 2, 4, true, 0,
     cmd_array, "read or change an array's numbers",
     "The array must exist (a program creates it with its typecode and length).\n"
     "I counts from 0, negative from the end. add is atomic and prints the result.\n"},
    {"queue", "NAME put V... | get | qsize  [--timeout MS]", 2, -1, true, CMD_TIMEOUT,
     cli_cmd_queue, "put values, take the oldest, or count items",
     "put creates the queue; get waits for an item and qsize counts them. A put\n"
     "waits while a bounded queue is full. --timeout MS (after the command) ends\n"
     "the wait after MS milliseconds (0: do not wait): exit 1, nothing printed.\n"},
    {"event", "NAME set | clear | is_set | wait  [--timeout MS]", 2, 2, true, CMD_TIMEOUT,
     cli_cmd_event, "set, clear, test or wait for an event",
     "set and clear create the event. wait prints True once it is set; with\n"
     "--timeout MS, a deadline that passes first is exit 1.\n"},
    {"lock", "NAME acquire [POLICY] | release | locked  [--timeout MS]", 2, 3, true, CMD_TIMEOUT,
     cli_cmd_lock, "take, give back or test a lock",
     "acquire creates the lock (with owner-death POLICY release, the default,\n"
     "break or keep) and waits for it, then prints its fencing token;\n"
     "with --timeout MS, still held by then is exit 1. The CLI's connection holds\n"
     "it: it goes back when the CLI exits (unless the lock's owner-death policy is\n"
     "keep), so it stays held across commands in the interactive mode only, until\n"
     "`lock NAME release` or the end of the session. locked prints True or False.\n"
     "Any command given --guard NAME=TOKEN runs only while lock NAME is still held\n"
     "under that token (else exit 5, \"fencing token ... is stale\", and nothing\n"
     "changed). A lock whose last holder died under policy break is acquired with\n"
     "the warning on stderr, and exit 0.\n"},
    {"semaphore", "NAME acquire | release [N] | value  [--timeout MS]", 2, 3, true, CMD_TIMEOUT,
     cli_cmd_semaphore, "take or give back units, or print the free ones",
     "The semaphore must exist. A unit acquired by the CLI comes back when it exits\n"
     "unless the semaphore was created without auto_release. acquire waits for a\n"
     "unit; with --timeout MS, no unit by then is exit 1.\n"},
    {"barrier", "NAME wait | parties | n_waiting | broken | abort | reset  [--timeout MS]", 2, 2,
     true, CMD_TIMEOUT, cli_cmd_barrier, "wait at a barrier, or read or reset it",
     "The barrier must exist. wait prints this arrival's index (0 to parties-1).\n"
     "As in Python, a wait's deadline breaks the barrier for all its waiters: exit\n"
     "1, and later waits fail until `reset`.\n"},
    {"txn", "[if COND [and COND]...] then CALL [and CALL]... [else CALL [and CALL]...]", 2, -1,
     true, 0, cli_cmd_txn, "check conditions, then make calls or the else-calls, as one step",
     "COND: exists NAME KEY | absent NAME KEY | equals NAME KEY V | compare NAME KEY OP V |\n"
     "size NAME OP N | held NAME TOKEN | is_set NAME | rev NAME OP N (OP: == != < <= > >=;\n"
     "KEY - compares a value object's whole value). CALL: NAME METHOD [ARG...], any method\n"
     "of dict, list, value, namespace, queue (no join) and event (no wait), and release of\n"
     "a lock this connection holds. The objects must exist. Nothing is applied when a\n"
     "condition or call cannot run. Prints then or else, then each call's result or\n"
     "\"error: CODE: text\". Exit 1 when the else-calls ran. Quote a value spelled if,\n"
     "then, else or and ('\"and\"'). --json: {\"succeeded\", \"results\": [[code, value]...]}.\n"},
    {"watch", "NAME [KEY] [--count N] [--timeout MS]", 1, 2, true, CMD_TIMEOUT | CMD_COUNT,
     cli_cmd_watch, "print every change of a dict (KEY), list, value or namespace from now on",
     "One line a change: REV KIND KEY VALUE (KIND set, del - with no VALUE - or len for a\n"
     "list's length; KEY - for a value or list). Stops after N changes (--count), or with exit 1 "
     "when\n"
     "none came for MS milliseconds (--timeout). --json: one JSON document a change,\n"
     "[rev, kind, key, value].\n"},
    {"info", "", 0, 0, true, 0, cmd_info, "daemon facts as \"key: value\" lines", ""},
    {"stats", "[SECONDS]", 0, 1, true, 0, cmd_stats,
     "figures, objects per type, calls per second per method over SECONDS (default 1)",
     "Then each method's latency as the daemon's histogram has it: the bucket bounds\n"
     "of its p50 and p99, its call count and mean time.\n"},
    {"show", "NAME", 1, 1, true, 0, cmd_show, "one object: type, size, parked calls, holders", ""},
    {"slowlog", "[get [N] | len | reset]", 0, 2, true, 0, cli_cmd_slowlog,
     "the daemon's slow calls, newest first (default: get 10)",
     "Calls whose dispatch took statemgrd's --slowlog-threshold-us or more (a call\n"
     "that waited is timed up to its parking: waits are not slow). Each line:\n"
     "ID TIME DURATIONus TYPE.METHOD object ID ['NAME'] N args from CLIENT [as NAME].\n"
     "get -1 prints all; len counts them; reset empties the log. --json: an array\n"
     "of {\"id\", \"time\", \"duration_us\", \"object\", \"name\", \"type\", \"method\",\n"
     "\"args\", \"client\", \"client_name\"} objects.\n"},
    {"config", "get KEY | set KEY VALUE", 2, 3, true, 0, cli_cmd_config,
     "read or change a setting of the running daemon",
     "Settings: log-level (error, warn, info, debug), slowlog-threshold-us\n"
     "(microseconds; 0: every call; -1: none) and slowlog-max-len (0 to 100000).\n"
     "get * prints them all. A change lasts until the daemon stops; other settings\n"
     "are refused (they need a restart with the option).\n"},
    {"clients", "[kill ID]", 0, 2, true, 0, cli_cmd_clients,
     "list the daemon's client connections, or close one",
     "One line per connection, oldest first: id, addr, name (the client's), age\n"
     "and idle (seconds since connecting and since its last call), session,\n"
     "requests, refs (references to anonymous objects), parked (calls waiting) and\n"
     "holds (TYPE:'NAME'xUNITS: locks and semaphore units; - for none). kill ID\n"
     "closes connection ID as if its client had died: its waits end and what it\n"
     "held goes to the next waiter. --json: an array of {\"id\", \"peer\", \"name\",\n"
     "\"age_ms\", \"idle_ms\", \"session\", \"requests\", \"refs\", \"parked\",\n"
     "\"holds\": [{\"object\", \"name\", \"type\", \"units\"}]} objects.\n"},
    {"locks", "", 0, 0, true, 0, cli_cmd_locks,
     "the wait-for graph: who holds each lock, who waits, for how long",
     "One line per lock, rlock or semaphore that is held or waited for: TYPE\n"
     "'NAME' (or #ID), token (of its last grant), policy (locks), holders\n"
     "(session (CLIENT NAME) xUNITS for MSms: since the grant, also across a\n"
     "restart) and waiters (session, client name and milliseconds waited).\n"
     "Sessions are the ones `clients` lists. A wait that would close a\n"
     "cycle of waiters is refused by the daemon (DEADLOCK) or, with statemgrd\n"
     "--deadlock report, logged. --json: an array of {\"object\", \"name\", \"type\",\n"
     "\"policy\", \"token\", \"holders\": [{\"session\", \"client\", \"units\",\n"
     "\"held_ms\"}], \"exclusive\", \"waiters\": [{\"session\", \"client\",\n"
     "\"waited_ms\"}]} objects.\n"},
    {"monitor", "", 0, 0, true, 0, cli_cmd_monitor,
     "print the calls the daemon serves as they happen, until Ctrl-C",
     "Each line: TIME (UTC) CLIENT-ID ADDR [as NAME] TYPE.METHOD TARGET ARGS, TARGET\n"
     "being 'NAME', #ID (an anonymous object) or - (the manager); arguments are\n"
     "shortened. The daemon keeps its last 1024 calls while a monitor is attached:\n"
     "a slower reader is told how many calls it missed. Monitors' own calls are not\n"
     "shown. --json: one JSON object per call and line ({\"id\", \"time_us\",\n"
     "\"client\", \"peer\", \"client_name\", \"object\", \"name\", \"type\",\n"
     "\"method\", \"args\"}), {\"missed\": N} for missed calls.\n"},
    {"save", "", 0, 0, true, 0, cmd_save, "write a snapshot now and wait until it is on disk",
     "The daemon forks a child that writes DATA_DIR/snapshot-INDEX.snap and serves on\n"
     "meanwhile; prints the snapshot's log INDEX. Copying that file is a backup.\n"
     "Fails on a daemon started with --no-persist.\n"},
    {"shutdown", "", 0, 0, true, 0, cmd_shutdown, "ask the daemon to stop", ""},
    {"help", "[COMMAND]", 0, 1, false, 0, cmd_help, "this help, or one command's", ""},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const char *timeout_text = "statemgr: timed out waiting for the daemon\n";

/* ---- errors ---------------------------------------------------------- */

/* Records a failure of the CLI's own making and returns rc. */
int cli_fail(cli_ctx *ctx, int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
  va_end(ap);
  return rc;
}

/* Records a library failure with its text, read now because the next
 * library call on this thread replaces it. Returns rc. */
int cli_lib_fail(cli_ctx *ctx, int rc, const char *what) {
  const char *text = sm_last_error();
  if (!text || !*text) text = sm_strerror(rc);
  return cli_fail(ctx, rc, "%s: %s", what, text);
}

/* Maps a library or CLI status onto the documented exit codes. */
static int exit_code_for(int rc) {
  switch (rc) {
  case SM_OK: return CLI_EXIT_OK;
  case SM_ENOTFOUND:
  case SM_ESTALE: /* a reference to an object of an earlier daemon: gone */
  case SM_EEMPTY:
  case CLI_EUNMET: return CLI_EXIT_NOTFOUND;
  case CLI_EUSAGE: return CLI_EXIT_USAGE;
  case SM_ECONNECT:
  case SM_ECLOSED:
  case SM_ETIMEOUT:
  case SM_ETLS: return CLI_EXIT_CONNECT;
  case SM_EAUTH: return CLI_EXIT_AUTH;
  default: return CLI_EXIT_ERROR;
  }
}

/* ---- arguments ------------------------------------------------------- */

/* Turns a command-line KEY or VALUE into a value: an integer literal becomes
 * an int, a decimal literal a double, true/false a bool, anything else (or
 * everything, with --str) a string. An integer or decimal out of range stays
 * a string. Returns a new value (caller frees with sm_value_free()), or NULL
 * when out of memory. */
sm_value *cli_parse_arg(const cli_ctx *ctx, const char *s) {
  if (!ctx->force_str) {
    if (out_is_int_literal(s)) {
      errno = 0;
      long long i = strtoll(s, NULL, 10);
      if (errno == 0) return sm_value_int((int64_t)i);
    } else if (out_is_decimal_literal(s)) {
      errno = 0;
      double d = strtod(s, NULL);
      if (errno == 0) return sm_value_double(d);
    } else if (strcmp(s, "true") == 0) {
      return sm_value_bool(true);
    } else if (strcmp(s, "false") == 0) {
      return sm_value_bool(false);
    }
  }
  return sm_value_str(s);
}

bool cli_parse_int(const char *s, int64_t *out) {
  if (!out_is_int_literal(s)) return false;
  errno = 0;
  long long v = strtoll(s, NULL, 10);
  if (errno != 0) return false;
  *out = (int64_t)v;
  return true;
}

/* Prints v on its own line: the unambiguous plain text, or with --json the
 * command's JSON document. */
int cli_print_value(cli_ctx *ctx, const sm_value *v) {
  if (out_value(v, ctx->json) != SM_OK) return cli_fail(ctx, SM_ENOMEM, "out of memory");
  ctx->printed = ctx->json;
  return SM_OK;
}

/* cli_print_value() for a value built here; takes ownership of v (NULL: out of
 * memory). */
int cli_print_owned(cli_ctx *ctx, sm_value *v) {
  int rc = v ? cli_print_value(ctx, v) : cli_fail(ctx, SM_ENOMEM, "out of memory");
  sm_value_free(v);
  return rc;
}

/* The string stored under key in map, or "" when absent or not a string. */
const char *cli_map_str(const sm_value *map, const char *key) {
  sm_value *k = sm_value_str(key);
  const char *s = k ? sm_value_as_str(sm_value_map_get(map, k), NULL) : NULL;
  sm_value_free(k);
  return s ? s : "";
}

/* The value stored under key in map (borrowed), or NULL when absent. */
const sm_value *cli_map_at(const sm_value *map, const char *key) {
  sm_value *k = sm_value_str(key);
  const sm_value *v = k ? sm_value_map_get(map, k) : NULL;
  sm_value_free(k);
  return v;
}

/* ---- finding named objects ------------------------------------------- */

/* Looks up the named object name among the daemon's listing. On success
 * *entry receives the whole listing (caller frees with sm_value_free()) and
 * *row the borrowed map for the object. Returns 0, SM_ENOTFOUND with a
 * message, or a library error. */
static int find_named(cli_ctx *ctx, const char *name, sm_value **listing, const sm_value **row) {
  sm_value *all = NULL;
  int rc = sm_ls(ctx->client, NULL, &all);
  if (rc != SM_OK) return cli_lib_fail(ctx, rc, "ls");
  for (size_t i = 0; i < sm_value_len(all); i++) {
    const sm_value *r = sm_value_list_at(all, i);
    if (strcmp(cli_map_str(r, "name"), name) == 0) {
      *listing = all;
      *row = r;
      return SM_OK;
    }
  }
  sm_value_free(all);
  return cli_fail(ctx, SM_ENOTFOUND, "no object named '%s'", name);
}

/* Reads a reference as the CLI prints it, "<ref TYPE:ID>", into the token
 * "TYPE:ID". Returns false when name is not of that form. */
static bool ref_token(const char *name, char *token, size_t toklen) {
  size_t n = strlen(name);
  if (n < strlen("<ref t:1>") || strncmp(name, "<ref ", 5) != 0 || name[n - 1] != '>') return false;
  const char *type = name + 5, *colon = memchr(type, ':', n - 6);
  if (!colon || colon == type) return false;
  for (const char *p = type; p < colon; p++)
    if (*p <= ' ' || *p == '>') return false;
  const char *id = colon + 1;
  if (id == name + n - 1) return false;
  for (const char *p = id; p < name + n - 1; p++)
    if (*p < '0' || *p > '9') return false;
  if (n - 6 >= toklen) return false;
  memcpy(token, type, n - 6);
  token[n - 6] = '\0';
  return true;
}

bool cli_is_ref(const char *name) {
  char token[128];
  return ref_token(name, token, sizeof token);
}

/* Finds the existing object name (cli.h): its type and token. */
int cli_find_object(cli_ctx *ctx, const char *name, char *type, size_t typelen, char *token,
                    size_t toklen) {
  int rc;
  if (ref_token(name, token, toklen)) {
    /* Opening the proxy asks the daemon whether the object still exists,
     * and what it is. */
    sm_proxy *p = NULL;
    if ((rc = sm_proxy_from_token(ctx->client, token, &p)) == SM_ENOTFOUND)
      return cli_fail(ctx, rc, "no object %s", name);
    if (rc != SM_OK) return cli_lib_fail(ctx, rc, name);
    snprintf(type, typelen, "%s", sm_proxy_type(p));
    sm_proxy_free(p);
    return SM_OK;
  }
  sm_value *all = NULL;
  const sm_value *row = NULL;
  if ((rc = find_named(ctx, name, &all, &row)) != SM_OK) return rc;
  snprintf(type, typelen, "%s", cli_map_str(row, "type"));
  snprintf(token, toklen, "%s:%" PRId64, type, sm_value_as_int(cli_map_at(row, "id")));
  sm_value_free(all);
  return SM_OK;
}

/* Whether an object of type is what a command on want works with: a
 * bounded semaphore is a semaphore too. */
static bool type_fits(const char *type, const char *want) {
  return strcmp(type, want) == 0 ||
         (strcmp(want, "semaphore") == 0 && strcmp(type, "bounded_semaphore") == 0);
}

int cli_find_typed(cli_ctx *ctx, const char *name, const char *want, char *token, size_t toklen) {
  char type[64];
  int rc = cli_find_object(ctx, name, type, sizeof type, token, toklen);
  if (rc != SM_OK) return rc;
  if (!type_fits(type, want))
    return cli_fail(ctx, SM_ETYPE, "'%s' is a %s, not a %s", name, type, want);
  return SM_OK;
}

/* Opens the existing dict name without creating it. */
static int open_existing_dict(cli_ctx *ctx, const char *name, sm_dict **out) {
  char token[128];
  int rc = cli_find_typed(ctx, name, "dict", token, sizeof token);
  if (rc != SM_OK) return rc;
  rc = sm_dict_from_token(ctx->client, token, out);
  if (rc == SM_ENOTFOUND) return cli_fail(ctx, rc, "no object named '%s'", name);
  return rc == SM_OK ? rc : cli_lib_fail(ctx, rc, name);
}

/* Opens the existing list name without creating it. */
static int open_existing_list(cli_ctx *ctx, const char *name, sm_list **out) {
  char token[128];
  int rc = cli_find_typed(ctx, name, "list", token, sizeof token);
  if (rc != SM_OK) return rc;
  rc = sm_list_from_token(ctx->client, token, out);
  if (rc == SM_ENOTFOUND) return cli_fail(ctx, rc, "no object named '%s'", name);
  return rc == SM_OK ? rc : cli_lib_fail(ctx, rc, name);
}

/* Opens the dict name for a command that stores: get-or-create by name, or
 * the existing object a reference names. */
static int open_dict_for_write(cli_ctx *ctx, const char *name, sm_dict **out) {
  if (cli_is_ref(name)) return open_existing_dict(ctx, name, out);
  int rc = sm_dict_open(ctx->client, name, out);
  return rc == SM_OK ? rc : cli_lib_fail(ctx, rc, name);
}

/* As open_dict_for_write, for a list. */
static int open_list_for_write(cli_ctx *ctx, const char *name, sm_list **out) {
  if (cli_is_ref(name)) return open_existing_list(ctx, name, out);
  int rc = sm_list_open(ctx->client, name, out);
  return rc == SM_OK ? rc : cli_lib_fail(ctx, rc, name);
}

/* ---- commands -------------------------------------------------------- */

/* ping: one round trip. */
static int cmd_ping(cli_ctx *ctx, int argc, char **argv) {
  (void)argc, (void)argv;
  int rc = sm_ping(ctx->client);
  if (rc != SM_OK) return cli_lib_fail(ctx, rc, "ping");
  if (!ctx->json) return puts("pong"), SM_OK;
  return cli_print_owned(ctx, sm_value_str("pong"));
}

/* ls [--type T]: the named objects, aligned under a NAME TYPE SIZE header;
 * SIZE is "-" for types without one. Names and types are escaped. */
static int cmd_ls(cli_ctx *ctx, int argc, char **argv) {
  (void)argc, (void)argv;
  sm_value *all = NULL;
  int rc = sm_ls(ctx->client, ctx->type, &all);
  if (rc != SM_OK) return cli_lib_fail(ctx, rc, "ls");
  if (ctx->json) return cli_print_owned(ctx, all); /* the rows as the daemon gives them */
  size_t n = sm_value_len(all), wname = strlen("NAME"), wtype = strlen("TYPE");
  char **names = calloc(n ? n : 1, sizeof *names), **types = calloc(n ? n : 1, sizeof *types);
  for (size_t i = 0; rc == SM_OK && names && types && i < n; i++) {
    const sm_value *r = sm_value_list_at(all, i);
    names[i] = esc_dup(cli_map_str(r, "name"));
    types[i] = esc_dup(cli_map_str(r, "type"));
    if (!names[i] || !types[i]) rc = SM_ENOMEM;
    if (rc == SM_OK && strlen(names[i]) > wname) wname = strlen(names[i]);
    if (rc == SM_OK && strlen(types[i]) > wtype) wtype = strlen(types[i]);
  }
  if (!names || !types) rc = SM_ENOMEM;
  if (rc == SM_OK) printf("%-*s  %-*s  %s\n", (int)wname, "NAME", (int)wtype, "TYPE", "SIZE");
  for (size_t i = 0; rc == SM_OK && i < n; i++) {
    const sm_value *size = cli_map_at(sm_value_list_at(all, i), "size");
    char sizebuf[32] = "-";
    if (size) snprintf(sizebuf, sizeof sizebuf, "%" PRId64, sm_value_as_int(size));
    printf("%-*s  %-*s  %s\n", (int)wname, names[i], (int)wtype, types[i], sizebuf);
  }
  for (size_t i = 0; i < n && names && types; i++) {
    free(names[i]);
    free(types[i]);
  }
  free(names);
  free(types);
  sm_value_free(all);
  return rc == SM_OK ? rc : cli_fail(ctx, rc, "out of memory");
}

/* set DICT KEY VALUE: get-or-create the dict, then store. */
static int cmd_set(cli_ctx *ctx, int argc, char **argv) {
  (void)argc;
  sm_dict *d = NULL;
  int rc = open_dict_for_write(ctx, argv[0], &d);
  if (rc != SM_OK) return rc;
  sm_value *key = cli_parse_arg(ctx, argv[1]), *val = cli_parse_arg(ctx, argv[2]);
  if (!key || !val)
    rc = cli_fail(ctx, SM_ENOMEM, "out of memory");
  else if ((rc = sm_dict_set(d, key, val)) != SM_OK)
    cli_lib_fail(ctx, rc, "set");
  sm_value_free(key);
  sm_value_free(val);
  sm_dict_free(d);
  return rc;
}

/* get DICT KEY: prints the value; not found when the dict or key is absent. */
static int cmd_get(cli_ctx *ctx, int argc, char **argv) {
  (void)argc;
  sm_dict *d = NULL;
  int rc = open_existing_dict(ctx, argv[0], &d);
  if (rc != SM_OK) return rc;
  sm_value *key = cli_parse_arg(ctx, argv[1]), *val = NULL;
  if (!key)
    rc = cli_fail(ctx, SM_ENOMEM, "out of memory");
  else if ((rc = sm_dict_get(d, key, &val)) == SM_ENOTFOUND)
    cli_fail(ctx, rc, "no key %s in dict '%s'", argv[1], argv[0]);
  else if (rc != SM_OK)
    cli_lib_fail(ctx, rc, "get");
  else
    rc = cli_print_value(ctx, val);
  sm_value_free(val);
  sm_value_free(key);
  sm_dict_free(d);
  return rc;
}

/* del DICT KEY: not found when the dict or key is absent. */
static int cmd_del(cli_ctx *ctx, int argc, char **argv) {
  (void)argc;
  sm_dict *d = NULL;
  int rc = open_existing_dict(ctx, argv[0], &d);
  if (rc != SM_OK) return rc;
  sm_value *key = cli_parse_arg(ctx, argv[1]);
  if (!key)
    rc = cli_fail(ctx, SM_ENOMEM, "out of memory");
  else if ((rc = sm_dict_del(d, key)) == SM_ENOTFOUND)
    cli_fail(ctx, rc, "no key %s in dict '%s'", argv[1], argv[0]);
  else if (rc != SM_OK)
    cli_lib_fail(ctx, rc, "del");
  sm_value_free(key);
  sm_dict_free(d);
  return rc;
}

/* keys DICT: one key per line, in insertion order. */
static int cmd_keys(cli_ctx *ctx, int argc, char **argv) {
  (void)argc;
  sm_dict *d = NULL;
  int rc = open_existing_dict(ctx, argv[0], &d);
  if (rc != SM_OK) return rc;
  sm_value *keys = NULL;
  if ((rc = sm_dict_keys(d, &keys)) != SM_OK)
    cli_lib_fail(ctx, rc, "keys");
  else if (ctx->json)
    rc = cli_print_value(ctx, keys);
  for (size_t i = 0; rc == SM_OK && !ctx->json && i < sm_value_len(keys); i++)
    rc = cli_print_value(ctx, sm_value_list_at(keys, i));
  sm_value_free(keys);
  sm_dict_free(d);
  return rc;
}

/* Prints one scanned element. Plain: a [key, value] pair as KEY<TAB>VALUE,
 * else the item, one per line. JSON: the element, after a comma unless it
 * is the first, inside the array cmd_scan opened. */
static int print_scanned(cli_ctx *ctx, const sm_value *item, bool pairs, bool first) {
  if (ctx->json) {
    if (!first) fputs(", ", stdout); /* out_json's own separator */
    return out_json(stdout, item) == SM_OK ? SM_OK : cli_fail(ctx, SM_ENOMEM, "out of memory");
  }
  if (!pairs) return cli_print_value(ctx, item);
  char *k = out_plain_key(sm_value_list_at(item, 0));
  char *v = out_plain(sm_value_list_at(item, 1));
  if (k && v) printf("%s\t%s\n", k, v);
  free(k);
  free(v);
  return k && v ? SM_OK : cli_fail(ctx, SM_ENOMEM, "out of memory");
}

/* scan NAME [--count N]: every item of a dict, namespace or list, read a
 * page at a time (the daemon's scan), so an object of any size prints
 * while the CLI holds one page. Never creates anything. */
static int cmd_scan(cli_ctx *ctx, int argc, char **argv) {
  (void)argc;
  sm_value *all = NULL;
  const sm_value *row = NULL;
  int rc = find_named(ctx, argv[0], &all, &row);
  if (rc != SM_OK) return rc;
  char type[64], token[128];
  snprintf(type, sizeof type, "%s", cli_map_str(row, "type"));
  snprintf(token, sizeof token, "%s:%" PRId64, type, sm_value_as_int(cli_map_at(row, "id")));
  sm_value_free(all);
  sm_dict *d = NULL;
  sm_list *l = NULL;
  sm_ns *ns = NULL;
  sm_set *st = NULL;
  if (strcmp(type, "dict") == 0)
    rc = sm_dict_from_token(ctx->client, token, &d);
  else if (strcmp(type, "list") == 0)
    rc = sm_list_from_token(ctx->client, token, &l);
  else if (strcmp(type, "namespace") == 0)
    rc = sm_ns_from_token(ctx->client, token, &ns);
  else if (strcmp(type, "set") == 0)
    rc = sm_set_from_token(ctx->client, token, &st);
  else
    return cli_fail(ctx, SM_ETYPE, "'%s' is a %s: scan reads a dict, list, namespace or set",
                    argv[0], type);
  uint64_t cursor = 0;
  bool first = true, opened = false;
  do {
    sm_value *page = NULL;
    if (rc == SM_OK)
      rc = d    ? sm_dict_scan(d, cursor, ctx->count, &cursor, &page)
           : l  ? sm_list_scan(l, cursor, ctx->count, &cursor, &page)
           : st ? sm_set_scan(st, cursor, ctx->count, &cursor, &page)
                : sm_ns_scan(ns, cursor, ctx->count, &cursor, &page);
    if (rc == SM_OK && ctx->json && !opened) { /* one array, streamed a page at a time */
      putchar('[');
      opened = true;
    }
    for (size_t i = 0; rc == SM_OK && i < sm_value_len(page); i++, first = false)
      rc = print_scanned(ctx, sm_value_list_at(page, i), d || ns, first);
    sm_value_free(page);
  } while (rc == SM_OK && cursor != 0);
  if (opened) {
    puts(rc == SM_OK ? "]" : "");
    ctx->printed = rc == SM_OK;
  }
  sm_dict_free(d);
  sm_list_free(l);
  sm_ns_free(ns);
  sm_set_free(st);
  if (rc == SM_ENOTFOUND) return cli_fail(ctx, rc, "no object named '%s'", argv[0]);
  return rc == SM_OK || ctx->err[0] ? rc : cli_lib_fail(ctx, rc, "scan");
}

/* push LIST VALUE...: get-or-create the list; several values go in one
 * atomic extend. */
static int cmd_push(cli_ctx *ctx, int argc, char **argv) {
  sm_list *l = NULL;
  int rc = open_list_for_write(ctx, argv[0], &l);
  if (rc != SM_OK) return rc;
  sm_value *items = sm_value_list();
  if (!items) rc = SM_ENOMEM;
  for (int i = 1; rc == SM_OK && i < argc; i++) {
    sm_value *v = cli_parse_arg(ctx, argv[i]);
    rc = v ? sm_value_list_append(items, v) : SM_ENOMEM;
  }
  if (rc != SM_OK)
    cli_fail(ctx, rc, "out of memory");
  else if (argc == 2)
    rc = sm_list_append(l, sm_value_list_at(items, 0));
  else
    rc = sm_list_extend(l, items);
  if (rc != SM_OK && !ctx->err[0]) cli_lib_fail(ctx, rc, "push");
  sm_value_free(items);
  sm_list_free(l);
  return rc;
}

/* pop LIST: removes and prints the last item; not found when the list is
 * absent or empty. */
static int cmd_pop(cli_ctx *ctx, int argc, char **argv) {
  (void)argc;
  sm_list *l = NULL;
  int rc = open_existing_list(ctx, argv[0], &l);
  if (rc != SM_OK) return rc;
  sm_value *v = NULL;
  rc = sm_list_pop(l, -1, &v);
  if (rc == SM_OK) {
    rc = cli_print_value(ctx, v);
  } else {
    /* The only way a pop of the last item fails with a bad value is an
     * empty list. */
    size_t n = 1;
    if (rc == SM_EVALUE && sm_list_len(l, &n) == SM_OK && n == 0)
      rc = cli_fail(ctx, SM_EEMPTY, "list '%s' is empty", argv[0]);
    else
      cli_lib_fail(ctx, rc, "pop");
  }
  sm_value_free(v);
  sm_list_free(l);
  return rc;
}

/* len NAME: the length of a dict, list, namespace, queue or array; for
 * other types the size the daemon lists, when it has one. */
static int cmd_len(cli_ctx *ctx, int argc, char **argv) {
  (void)argc;
  char type[64], token[128];
  int rc = cli_find_object(ctx, argv[0], type, sizeof type, token, sizeof token);
  if (rc != SM_OK) return rc;
  size_t n = 0;
  if (strcmp(type, "dict") == 0) {
    sm_dict *d = NULL;
    if ((rc = sm_dict_from_token(ctx->client, token, &d)) == SM_OK) rc = sm_dict_len(d, &n);
    sm_dict_free(d);
  } else if (strcmp(type, "list") == 0) {
    sm_list *l = NULL;
    if ((rc = sm_list_from_token(ctx->client, token, &l)) == SM_OK) rc = sm_list_len(l, &n);
    sm_list_free(l);
  } else if (strcmp(type, "namespace") == 0) {
    sm_ns *ns = NULL;
    sm_value *attrs = NULL;
    if ((rc = sm_ns_from_token(ctx->client, token, &ns)) == SM_OK &&
        (rc = sm_ns_list(ns, &attrs)) == SM_OK)
      n = sm_value_len(attrs);
    sm_value_free(attrs);
    sm_ns_free(ns);
  } else if (strcmp(type, "queue") == 0) {
    sm_queue *q = NULL;
    if ((rc = sm_queue_from_token(ctx->client, token, &q)) == SM_OK) rc = sm_queue_qsize(q, &n);
    sm_queue_free(q);
  } else if (strcmp(type, "array") == 0) {
    sm_array *a = NULL;
    if ((rc = sm_array_from_token(ctx->client, token, &a)) == SM_OK) rc = sm_array_len(a, &n);
    sm_array_free(a);
  } else {
    /* Another type's size is what `ls` lists for it, when it has one. */
    sm_value *all = NULL;
    const sm_value *row = NULL, *size = NULL;
    if (!cli_is_ref(argv[0]) && find_named(ctx, argv[0], &all, &row) == SM_OK)
      size = cli_map_at(row, "size");
    if (size) n = (size_t)sm_value_as_int(size);
    sm_value_free(all);
    if (!size) return cli_fail(ctx, SM_ETYPE, "'%s' is a %s, which has no length", argv[0], type);
  }
  if (rc == SM_ENOTFOUND) return cli_fail(ctx, rc, "no object named '%s'", argv[0]);
  if (rc != SM_OK) return cli_lib_fail(ctx, rc, "len");
  return cli_print_owned(ctx, sm_value_int((int64_t)n));
}

/* type NAME: the object's type name, as `ls` shows it. */
static int cmd_type(cli_ctx *ctx, int argc, char **argv) {
  (void)argc;
  char type[64], token[128];
  int rc = cli_find_object(ctx, argv[0], type, sizeof type, token, sizeof token);
  if (rc != SM_OK) return rc;
  if (!ctx->json) {
    char *shown = esc_dup(type); /* a custom type's name is the embedder's choice */
    printf("%s\n", shown ? shown : "?");
    free(shown);
    return shown ? SM_OK : cli_fail(ctx, SM_ENOMEM, "out of memory");
  }
  return cli_print_owned(ctx, sm_value_str(type));
}

/* delete NAME: deletes the named object; not found when there is none. */
static int cmd_delete(cli_ctx *ctx, int argc, char **argv) {
  (void)argc;
  int rc = sm_delete(ctx->client, argv[0]);
  if (rc == SM_ENOTFOUND) return cli_fail(ctx, rc, "no object named '%s'", argv[0]);
  return rc == SM_OK ? rc : cli_lib_fail(ctx, rc, "delete");
}

/* Prints the items of the SM_LIST list one per line, or as one JSON
 * array. */
int cli_print_lines(cli_ctx *ctx, const sm_value *list) {
  if (ctx->json) return cli_print_value(ctx, list);
  int rc = SM_OK;
  for (size_t i = 0; rc == SM_OK && i < sm_value_len(list); i++)
    rc = cli_print_value(ctx, sm_value_list_at(list, i));
  return rc;
}

/* items DICT: "KEY: VALUE" lines in insertion order (a string key holding
 * ": " is quoted); --json: an array of [KEY, VALUE] pairs. */
static int cmd_items(cli_ctx *ctx, int argc, char **argv) {
  (void)argc;
  sm_dict *d = NULL;
  int rc = open_existing_dict(ctx, argv[0], &d);
  if (rc != SM_OK) return rc;
  sm_value *items = NULL;
  if ((rc = sm_dict_items(d, &items)) != SM_OK)
    cli_lib_fail(ctx, rc, "items");
  else if (ctx->json)
    rc = cli_print_value(ctx, items);
  for (size_t i = 0; rc == SM_OK && !ctx->json && i < sm_value_len(items); i++) {
    const sm_value *pair = sm_value_list_at(items, i);
    char *k = out_plain_key(sm_value_list_at(pair, 0));
    char *v = out_plain(sm_value_list_at(pair, 1));
    if (k && v)
      printf("%s: %s\n", k, v);
    else
      rc = cli_fail(ctx, SM_ENOMEM, "out of memory");
    free(k);
    free(v);
  }
  sm_value_free(items);
  sm_dict_free(d);
  return rc;
}

/* values DICT: one value per line, in insertion order. */
static int cmd_values(cli_ctx *ctx, int argc, char **argv) {
  (void)argc;
  sm_dict *d = NULL;
  int rc = open_existing_dict(ctx, argv[0], &d);
  if (rc != SM_OK) return rc;
  sm_value *values = NULL;
  if ((rc = sm_dict_values(d, &values)) != SM_OK)
    cli_lib_fail(ctx, rc, "values");
  else
    rc = cli_print_lines(ctx, values);
  sm_value_free(values);
  sm_dict_free(d);
  return rc;
}

/* Reads the optional [START [STOP]] of a range from argv (argc of them):
 * Python's slice bounds, STOP INT64_MAX when absent. */
static int parse_bounds(cli_ctx *ctx, int argc, char **argv, int64_t *start, int64_t *stop) {
  *start = 0;
  *stop = INT64_MAX;
  if ((argc > 0 && !cli_parse_int(argv[0], start)) || (argc > 1 && !cli_parse_int(argv[1], stop)))
    return cli_fail(ctx, CLI_EUSAGE, "range: START and STOP are integers");
  return SM_OK;
}

/* range LIST [START [STOP]]: LIST[START:STOP], one per line, the list
 * unchanged. */
static int cmd_range(cli_ctx *ctx, int argc, char **argv) {
  int64_t start, stop;
  int rc = parse_bounds(ctx, argc - 1, argv + 1, &start, &stop);
  if (rc != SM_OK) return rc;
  sm_list *l = NULL;
  if ((rc = open_existing_list(ctx, argv[0], &l)) != SM_OK) return rc;
  sm_value *slice = NULL;
  if ((rc = sm_list_slice(l, start, stop, &slice)) != SM_OK)
    cli_lib_fail(ctx, rc, "range");
  else
    rc = cli_print_lines(ctx, slice);
  sm_value_free(slice);
  sm_list_free(l);
  return rc;
}

/* ns NAME get ATTR | set ATTR V | del ATTR | attrs: set creates the
 * namespace, the others need it. Attribute names are always strings. */
static int cmd_ns(cli_ctx *ctx, int argc, char **argv) {
  const char *name = argv[0], *op = argv[1];
  bool get = strcmp(op, "get") == 0, set = strcmp(op, "set") == 0, del = strcmp(op, "del") == 0,
       attrs = strcmp(op, "attrs") == 0;
  if (!((get || del) && argc == 3) && !(set && argc == 4) && !(attrs && argc == 2))
    return cli_fail(ctx, CLI_EUSAGE,
                    "usage: statemgr ns NAME get ATTR | set ATTR V | del ATTR | attrs");
  sm_ns *ns = NULL;
  char token[128];
  int rc;
  if (set && !cli_is_ref(name))
    rc = sm_ns_open(ctx->client, name, &ns);
  else if ((rc = cli_find_typed(ctx, name, "namespace", token, sizeof token)) == SM_OK)
    rc = sm_ns_from_token(ctx->client, token, &ns);
  else
    return rc;
  if (rc != SM_OK) return cli_lib_fail(ctx, rc, name);
  sm_value *v = NULL;
  if (get) {
    if ((rc = sm_ns_get(ns, argv[2], &v)) == SM_OK)
      rc = cli_print_value(ctx, v);
    else if (rc == SM_ENOTFOUND)
      cli_fail(ctx, rc, "namespace '%s' has no attribute '%s'", name, argv[2]);
    else
      cli_lib_fail(ctx, rc, "get");
  } else if (set) {
    if (!(v = cli_parse_arg(ctx, argv[3])))
      rc = cli_fail(ctx, SM_ENOMEM, "out of memory");
    else if ((rc = sm_ns_set(ns, argv[2], v)) != SM_OK)
      cli_lib_fail(ctx, rc, "set");
  } else if (del) {
    if ((rc = sm_ns_del(ns, argv[2])) == SM_ENOTFOUND)
      cli_fail(ctx, rc, "namespace '%s' has no attribute '%s'", name, argv[2]);
    else if (rc != SM_OK)
      cli_lib_fail(ctx, rc, "del");
  } else {
    if ((rc = sm_ns_list(ns, &v)) == SM_OK)
      rc = cli_print_lines(ctx, v);
    else
      cli_lib_fail(ctx, rc, "attrs");
  }
  sm_value_free(v);
  sm_ns_free(ns);
  return rc;
}

/* array get/set/add on element index of a, typed by the array's typecode:
 * a real array (f32, f64) reads and takes doubles, the others ints. */
static int array_element(cli_ctx *ctx, sm_array *a, bool real, const char *op, int64_t index,
                         const char *number) {
  int rc;
  if (strcmp(op, "get") == 0) {
    int64_t i = 0;
    double d = 0;
    rc = real ? sm_array_get_double(a, index, &d) : sm_array_get_int(a, index, &i);
    if (rc != SM_OK) return cli_lib_fail(ctx, rc, "get");
    return cli_print_owned(ctx, real ? sm_value_double(d) : sm_value_int(i));
  }
  int64_t n = 0;
  double x = 0;
  if (cli_parse_int(number, &n))
    x = (double)n;
  else if (real && out_is_decimal_literal(number))
    x = strtod(number, NULL);
  else
    return cli_fail(ctx, CLI_EUSAGE, "array: '%s' is not a number of this %s array", number,
                    real ? "real" : "integer");
  if (strcmp(op, "set") == 0) {
    rc = real ? sm_array_set_double(a, index, x) : sm_array_set_int(a, index, n);
    return rc == SM_OK ? rc : cli_lib_fail(ctx, rc, "set");
  }
  int64_t ires = 0;
  double dres = 0;
  rc = real ? sm_array_add_double(a, index, x, &dres) : sm_array_add_int(a, index, n, &ires);
  if (rc != SM_OK) return cli_lib_fail(ctx, rc, "add");
  return cli_print_owned(ctx, real ? sm_value_double(dres) : sm_value_int(ires));
}

/* array NAME get I | set I V | add I N | range [START [STOP]] | typecode:
 * the array must exist. */
static int cmd_array(cli_ctx *ctx, int argc, char **argv) {
  const char *name = argv[0], *op = argv[1];
  bool get = strcmp(op, "get") == 0, set = strcmp(op, "set") == 0, add = strcmp(op, "add") == 0,
       range = strcmp(op, "range") == 0, typecode = strcmp(op, "typecode") == 0;
  int64_t index = 0, start = 0, stop = 0;
  bool ok = (get && argc == 3) || ((set || add) && argc == 4) || (range && argc <= 4) ||
            (typecode && argc == 2);
  if (ok && (get || set || add)) ok = cli_parse_int(argv[2], &index);
  if (!ok)
    return cli_fail(ctx, CLI_EUSAGE,
                    "usage: statemgr array NAME get I | set I V | add I N | "
                    "range [START [STOP]] | typecode");
  int rc = range ? parse_bounds(ctx, argc - 2, argv + 2, &start, &stop) : SM_OK;
  sm_array *a = NULL;
  char token[128];
  if (rc != SM_OK || (rc = cli_find_typed(ctx, name, "array", token, sizeof token)) != SM_OK)
    return rc;
  if ((rc = sm_array_from_token(ctx->client, token, &a)) != SM_OK)
    return cli_lib_fail(ctx, rc, name);
  char *code = NULL;
  sm_value *slice = NULL;
  if ((rc = sm_array_typecode(a, &code)) != SM_OK)
    cli_lib_fail(ctx, rc, "typecode");
  else if (typecode)
    rc = cli_print_owned(ctx, sm_value_str(code));
  else if (range && (rc = sm_array_slice(a, start, stop, &slice)) != SM_OK)
    cli_lib_fail(ctx, rc, "range");
  else if (range)
    rc = cli_print_lines(ctx, slice);
  else
    rc = array_element(ctx, a, code[0] == 'f', op, index, argc > 3 ? argv[3] : NULL);
  sm_value_free(slice);
  sm_free(code);
  sm_array_free(a);
  return rc;
}

/* value NAME incr [N]: atomic add-and-get; N an int or a decimal. */
static int value_incr(cli_ctx *ctx, sm_var *var, const char *delta) {
  int rc;
  if (out_is_int_literal(delta)) {
    errno = 0;
    long long n = strtoll(delta, NULL, 10);
    if (errno != 0) return cli_fail(ctx, CLI_EUSAGE, "incr: %s is out of range", delta);
    int64_t result = 0;
    if ((rc = sm_var_add_int(var, (int64_t)n, &result)) != SM_OK)
      return cli_lib_fail(ctx, rc, "incr");
    return cli_print_owned(ctx, sm_value_int(result));
  }
  if (out_is_decimal_literal(delta)) {
    double result = 0;
    if ((rc = sm_var_add_double(var, strtod(delta, NULL), &result)) != SM_OK)
      return cli_lib_fail(ctx, rc, "incr");
    return cli_print_owned(ctx, sm_value_double(result));
  }
  return cli_fail(ctx, CLI_EUSAGE, "incr: '%s' is not a number", delta);
}

/* value NAME [get | set V | incr [N]]: get never creates; set and incr
 * get-or-create the value (a new one starts as nil, which incr counts as
 * 0). */
static int cmd_value(cli_ctx *ctx, int argc, char **argv) {
  const char *op = argc > 1 ? argv[1] : "get";
  bool ok = (strcmp(op, "get") == 0 && argc <= 2) || (strcmp(op, "set") == 0 && argc == 3) ||
            strcmp(op, "incr") == 0;
  if (!ok) return cli_fail(ctx, CLI_EUSAGE, "usage: statemgr value NAME [get | set V | incr [N]]");

  sm_var *var = NULL;
  int rc;
  char token[128];
  if (strcmp(op, "get") == 0 || cli_is_ref(argv[0])) {
    if ((rc = cli_find_typed(ctx, argv[0], "value", token, sizeof token)) != SM_OK) return rc;
    if ((rc = sm_var_from_token(ctx->client, token, &var)) != SM_OK)
      return rc == SM_ENOTFOUND ? cli_fail(ctx, rc, "no object named '%s'", argv[0])
                                : cli_lib_fail(ctx, rc, argv[0]);
  } else if ((rc = sm_var_open(ctx->client, argv[0], NULL, &var)) != SM_OK) {
    return cli_lib_fail(ctx, rc, argv[0]);
  }
  if (strcmp(op, "get") == 0) {
    sm_value *v = NULL;
    if ((rc = sm_var_get(var, &v)) != SM_OK)
      cli_lib_fail(ctx, rc, "get");
    else
      rc = cli_print_value(ctx, v);
    sm_value_free(v);
  } else {
    if (strcmp(op, "set") == 0) {
      sm_value *v = cli_parse_arg(ctx, argv[2]);
      if (!v)
        rc = cli_fail(ctx, SM_ENOMEM, "out of memory");
      else if ((rc = sm_var_set(var, v)) != SM_OK)
        cli_lib_fail(ctx, rc, "set");
      sm_value_free(v);
    } else {
      rc = value_incr(ctx, var, argc > 2 ? argv[2] : "1");
    }
  }
  sm_var_free(var);
  return rc;
}

/* info: the daemon's facts, one "key: value" line each. */
static int cmd_info(cli_ctx *ctx, int argc, char **argv) {
  (void)argc, (void)argv;
  sm_value *info = NULL;
  int rc = sm_info(ctx->client, &info);
  if (rc != SM_OK) return cli_lib_fail(ctx, rc, "info");
  if (ctx->json) return cli_print_owned(ctx, info);
  for (size_t i = 0; rc == SM_OK && i < sm_value_len(info); i++) {
    char *k = sm_value_to_text(sm_value_map_key_at(info, i));
    char *v = sm_value_to_text(sm_value_map_value_at(info, i));
    if (k && v)
      printf("%s: %s\n", k, v);
    else
      rc = cli_fail(ctx, SM_ENOMEM, "out of memory");
    sm_free(k);
    sm_free(v);
  }
  sm_value_free(info);
  return rc;
}

/* The int under key in map m, or 0. */
static int64_t map_int(const sm_value *m, const char *key) {
  sm_value *k = sm_value_str(key);
  int64_t v = sm_value_as_int(sm_value_map_get(m, k));
  sm_value_free(k);
  return v;
}

/* The figures stats prints first, from sm_info(). */
static const char *const stats_figures[] = {"uptime_s",   "connections", "objects",
                                            "waiters",    "requests",    "rss_bytes",
                                            "heap_bytes", "used_memory", "max_memory"};

/* Sets m[key] = v, taking ownership of v (NULL: out of memory). */
static int map_put(sm_value *m, const char *key, sm_value *v) {
  sm_value *k = sm_value_str(key);
  if (!k || !v) {
    sm_value_free(k);
    sm_value_free(v);
    return SM_ENOMEM;
  }
  return sm_value_map_set(m, k, v);
}

/* The --json document of stats: the figures, "types" (objects per type)
 * and "calls" ({"METHOD": {"total": N, "per_second": X}}, per_second only
 * when SECONDS > 0), from the samples before and now. Returns a new map
 * (caller frees with sm_value_free()), or NULL when out of memory. */
static sm_value *stats_doc(const sm_value *before, const sm_value *now, long secs) {
  sm_value *doc = sm_value_map(), *calls = sm_value_map();
  int rc = doc && calls ? SM_OK : SM_ENOMEM;
  for (size_t i = 0; rc == SM_OK && i < sizeof stats_figures / sizeof stats_figures[0]; i++)
    rc = map_put(doc, stats_figures[i], sm_value_int(map_int(now, stats_figures[i])));
  const sm_value *types = cli_map_at(now, "types");
  if (rc == SM_OK) rc = map_put(doc, "types", types ? sm_value_copy(types) : sm_value_map());
  const sm_value *latency = cli_map_at(now, "latency");
  if (rc == SM_OK) rc = map_put(doc, "latency", latency ? sm_value_copy(latency) : sm_value_map());
  const sm_value *all = cli_map_at(now, "calls"), *then = cli_map_at(before, "calls");
  for (size_t i = 0; rc == SM_OK && i < sm_value_len(all); i++) {
    const sm_value *k = sm_value_map_key_at(all, i);
    int64_t total = sm_value_as_int(sm_value_map_value_at(all, i));
    sm_value *one = sm_value_map();
    rc = one ? map_put(one, "total", sm_value_int(total)) : SM_ENOMEM;
    if (rc == SM_OK && secs > 0) {
      int64_t earlier = sm_value_as_int(sm_value_map_get(then, k));
      rc = map_put(one, "per_second", sm_value_double((double)(total - earlier) / (double)secs));
    }
    if (rc == SM_OK)
      rc = sm_value_map_set(calls, sm_value_copy(k), one);
    else
      sm_value_free(one);
  }
  if (rc == SM_OK) {
    rc = map_put(doc, "calls", calls);
    calls = NULL;
  }
  sm_value_free(calls);
  if (rc != SM_OK) {
    sm_value_free(doc);
    return NULL;
  }
  return doc;
}

/* stats: the headline figures, objects per type, and each method's calls per
 * second between two samples SECONDS apart (with its total). */
static int cmd_stats(cli_ctx *ctx, int argc, char **argv) {
  long secs = 1;
  if (argc == 1) {
    char *end;
    secs = strtol(argv[0], &end, 10);
    if (*end || secs < 0 || secs > 3600)
      return cli_fail(ctx, CLI_EUSAGE, "stats: SECONDS must be 0 to 3600");
  }
  sm_value *a = NULL, *b = NULL;
  int rc = sm_info(ctx->client, &a);
  if (rc == SM_OK && secs > 0) {
    sleep((unsigned)secs);
    rc = sm_info(ctx->client, &b);
  }
  if (rc != SM_OK) {
    sm_value_free(a);
    return cli_lib_fail(ctx, rc, "stats");
  }
  const sm_value *now = b ? b : a;
  if (ctx->json) {
    rc = cli_print_owned(ctx, stats_doc(a, now, secs));
    sm_value_free(a);
    sm_value_free(b);
    return rc;
  }
  for (size_t i = 0; i < sizeof stats_figures / sizeof stats_figures[0]; i++)
    printf("%s: %lld\n", stats_figures[i], (long long)map_int(now, stats_figures[i]));
  const sm_value *types = cli_map_at(now, "types");
  for (size_t i = 0; i < sm_value_len(types); i++)
    printf("objects.%s: %lld\n", sm_value_as_str(sm_value_map_key_at(types, i), NULL),
           (long long)sm_value_as_int(sm_value_map_value_at(types, i)));
  const sm_value *calls = cli_map_at(now, "calls"), *before = cli_map_at(a, "calls");
  for (size_t i = 0; i < sm_value_len(calls); i++) {
    const sm_value *k = sm_value_map_key_at(calls, i);
    int64_t total = sm_value_as_int(sm_value_map_value_at(calls, i));
    if (secs > 0) {
      int64_t then = sm_value_as_int(sm_value_map_get(before, k));
      printf("calls.%s: %.1f/s (total %lld)\n", sm_value_as_str(k, NULL),
             (double)(total - then) / (double)secs, (long long)total);
    } else {
      printf("calls.%s: total %lld\n", sm_value_as_str(k, NULL), (long long)total);
    }
  }
  const sm_value *latency = cli_map_at(now, "latency");
  for (size_t i = 0; i < sm_value_len(latency); i++) {
    const sm_value *l = sm_value_map_value_at(latency, i);
    int64_t n = map_int(l, "count"), p50 = map_int(l, "p50_us"), p99 = map_int(l, "p99_us");
    char q50[32], q99[32];
    snprintf(q50, sizeof q50, p50 < 0 ? "> 1s" : "<= %lldus", (long long)p50);
    snprintf(q99, sizeof q99, p99 < 0 ? "> 1s" : "<= %lldus", (long long)p99);
    printf("latency.%s: p50 %s, p99 %s (%lld calls, mean %.1fus)\n",
           sm_value_as_str(sm_value_map_key_at(latency, i), NULL), q50, q99, (long long)n,
           n ? (double)map_int(l, "sum_us") / (double)n : 0.0);
  }
  sm_value_free(a);
  sm_value_free(b);
  return SM_OK;
}

/* show NAME: one object's details, "key: value" lines (escaped), a line per
 * holder. */
static int cmd_show(cli_ctx *ctx, int argc, char **argv) {
  (void)argc;
  sm_value *m = NULL;
  int rc = sm_show(ctx->client, argv[0], &m);
  if (rc != SM_OK) return cli_lib_fail(ctx, rc, argv[0]);
  if (ctx->json) return cli_print_owned(ctx, m);
  for (size_t i = 0; i < sm_value_len(m); i++) {
    const char *k = sm_value_as_str(sm_value_map_key_at(m, i), NULL);
    const sm_value *v = sm_value_map_value_at(m, i);
    if (strcmp(k, "holders") == 0) {
      for (size_t h = 0; h < sm_value_len(v); h++) {
        const sm_value *one = sm_value_list_at(v, h);
        char *peer = esc_dup(sm_value_as_str(cli_map_at(one, "peer"), NULL));
        printf("holder: connection %lld (%s) holds %lld\n", (long long)map_int(one, "connection"),
               peer ? peer : "?", (long long)map_int(one, "units"));
        free(peer);
      }
      continue;
    }
    char *text = sm_value_to_text(v);
    char *shown = esc_dup(text); /* the name, the type: whatever a client chose */
    printf("%s: %s\n", k, shown ? shown : "?");
    free(shown);
    sm_free(text);
  }
  sm_value_free(m);
  return SM_OK;
}

/* shutdown: the daemon answers, then stops. */
static int cmd_shutdown(cli_ctx *ctx, int argc, char **argv) {
  (void)argc, (void)argv;
  int rc = sm_shutdown(ctx->client);
  return rc == SM_OK ? rc : cli_lib_fail(ctx, rc, "shutdown");
}

/* save: prints the index of the snapshot once it is written. */
static int cmd_save(cli_ctx *ctx, int argc, char **argv) {
  (void)argc, (void)argv;
  uint64_t index = 0;
  int rc = sm_save(ctx->client, &index);
  if (rc != SM_OK) return cli_lib_fail(ctx, rc, "save");
  printf("%" PRIu64 "\n", index);
  return SM_OK;
}

/* Writes the full help text to f. */
static void print_help(FILE *f) {
  fprintf(f, "usage: statemgr [-u URL] [--authkey-file F] [--timeout MS] [--tls-* ...] [--str] "
             "[--json] COMMAND [ARGS]\n"
             "       statemgr [OPTIONS]   (on a terminal: the interactive mode, see `help` in it)"
             "\n\ncommands:\n");
  for (size_t i = 0; i < N_COMMANDS; i++) {
    char synopsis[128];
    snprintf(synopsis, sizeof synopsis, "%s %s", commands[i].name, commands[i].args);
    if (strlen(synopsis) > 35)
      fprintf(f, "  %s\n  %-35s %s\n", synopsis, "", commands[i].help);
    else
      fprintf(f, "  %-35s %s\n", synopsis, commands[i].help);
  }
  fprintf(f,
          "\noptions:\n"
          "  -u, --url URL        daemon address: tcp://HOST:PORT, tcp://[V6ADDR]:PORT,\n"
          "                       tls://HOST:PORT, unix:PATH or unix:///ABSOLUTE/PATH;\n"
          "                       a group's members as a list: tcp://a:7450,b:7450\n"
          "                       (default: $STATEMGR_URL, else %s)\n"
          "  --authkey-file F     read the authkey from F (default: $STATEMGR_AUTHKEY_FILE,\n"
          "                       $STATEMGR_AUTHKEY, then ~/.statemgr/authkey)\n"
          "  --timeout MS         give up when the daemon has not answered within MS\n"
          "                       milliseconds (connecting included; exit 3; in the\n"
          "                       interactive mode, the connect only). After a\n"
          "                       waiting command (queue, event, lock, semaphore,\n"
          "                       barrier) it bounds the wait instead (0: no wait;\n"
          "                       exit 1)\n"
          "  --tls-ca F           tls://: trust the CAs in PEM file F (default: the system's)\n"
          "  --tls-cert F         tls://: present the client certificate in PEM file F\n"
          "  --tls-key F          tls://: the PEM key of --tls-cert (default: inside F)\n"
          "  --tls-server-name N  tls://: the name the daemon's certificate must carry\n"
          "                       (default: the URL's host)\n"
          "  --tls-insecure       tls://: DANGER, do not verify the daemon's certificate\n"
          "  --str                take every KEY and VALUE argument as a string\n"
          "  --json               print one JSON document per command (see below)\n"
          "  -h, --help           this help;  -V, --version  print the version\n"
          "\nNAME may also be a reference as get prints it, \"<ref list:23>\": the command\n"
          "then works on that object (delete and show take names only).\n"
          "\nKEY and VALUE arguments are typed by their look: an integer literal (42, -7;\n"
          "no leading zeros, so 007 stays a string) is an int, a decimal literal (1.5,\n"
          "-0.25, 2e3) a double, true and false are bools, and anything else is a string.\n"
          "--str (before or after COMMAND) makes them all strings; `--` ends the options,\n"
          "so `statemgr set d k -- --x` stores the string \"--x\". Output is plain text:\n"
          "strings as they are, numbers in decimal, bools as True/False, nil as None,\n"
          "bytes as b'..', refs as <ref TYPE:ID>; a string that would read as another\n"
          "type (7, 1.5, None, True, '', text with a control character...) is quoted:\n"
          "'7'. --json prints one JSON document (null for commands that print nothing):\n"
          "bytes as {\"$bytes\": \"BASE64\"}, refs as {\"$ref\": ID, \"type\": \"T\"}, a\n"
          "non-finite double as {\"$double\": \"nan\"}, a map with a non-string key as\n"
          "{\"$map\": [[KEY, VALUE], ...]}.\n"
          "\nexit codes:\n"
          "  0  ok (found)\n"
          "  1  not found: key or object absent (a reference too), pop of an empty\n"
          "     list; or a wait ended\n"
          "     without what it waited for (queue get/put, event wait, semaphore\n"
          "     acquire, barrier wait)\n"
          "  2  usage error\n"
          "  3  connection failure (cannot connect, connection lost, --timeout expired)\n"
          "  4  authentication refused (wrong authkey)\n"
          "  5  any other error (the daemon's message is printed on stderr)\n",
          SM_DEFAULT_URL);
}

static const command *find_command(const char *name);

/* help [COMMAND]: the full text, or one command's synopsis, line and
 * details, on stdout. */
static int cmd_help(cli_ctx *ctx, int argc, char **argv) {
  if (argc == 0) {
    print_help(stdout);
    return SM_OK;
  }
  const command *cmd = find_command(argv[0]);
  if (!cmd) return cli_fail(ctx, CLI_EUSAGE, "help: unknown command '%s'", argv[0]);
  printf("usage: statemgr %s%s%s\n\n%s.\n", cmd->name, *cmd->args ? " " : "", cmd->args, cmd->help);
  if (*cmd->details) printf("\n%s", cmd->details);
  return SM_OK;
}

/* ---- main ------------------------------------------------------------ */

/* SIGALRM from --timeout: the daemon did not answer in time. Only
 * async-signal-safe calls here. */
static void on_timeout(int sig) {
  (void)sig;
  ssize_t w = write(STDERR_FILENO, timeout_text, strlen(timeout_text));
  (void)w;
  _exit(CLI_EXIT_CONNECT);
}

/* Starts the --timeout clock for the whole command. */
static void arm_timeout(int ms) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_timeout;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, NULL);
  struct itimerval it;
  memset(&it, 0, sizeof it);
  it.it_value.tv_sec = ms / 1000;
  it.it_value.tv_usec = (ms % 1000) * 1000;
  setitimer(ITIMER_REAL, &it, NULL);
}

static const command *find_command(const char *name) {
  for (size_t i = 0; i < N_COMMANDS; i++)
    if (strcmp(commands[i].name, name) == 0) return &commands[i];
  return NULL;
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("statemgr: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs("\n(`statemgr help` lists the commands and options)\n", stderr);
  va_end(ap);
  return CLI_EXIT_USAGE;
}

/* Parses a --count value: 1 to 1000000 items (the daemon's range). */
static bool parse_count(const char *s, size_t *out) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 1000000L) return false;
  *out = (size_t)v;
  return true;
}

/* Takes the options that may follow COMMAND (--str, --type T, --count N
 * for the commands whose synopsis shows it, --) out of argv, keeping the
 * operands in order. Returns the operand count, or -1
 * after printing a usage error. */
static int take_command_options(cli_ctx *ctx, const command *cmd, int argc, char **argv) {
  int n = 0;
  bool options = true;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (options && strcmp(a, "--") == 0) {
      options = false;
    } else if (options && strcmp(a, "--str") == 0) {
      ctx->force_str = true;
    } else if (options && strcmp(a, "--json") == 0) {
      ctx->json = true;
    } else if (options && (cmd->opts & CMD_TYPE) && strcmp(a, "--type") == 0) {
      if (i + 1 >= argc) return usage_error("%s: --type needs a type name", cmd->name), -1;
      ctx->type = argv[++i];
    } else if (options && (cmd->opts & CMD_TYPE) && strncmp(a, "--type=", 7) == 0) {
      ctx->type = a + 7;
    } else if (options && (cmd->opts & CMD_TIMEOUT) &&
               (strcmp(a, "--timeout") == 0 || strncmp(a, "--timeout=", 10) == 0)) {
      const char *ms = a[9] == '=' ? a + 10 : i + 1 < argc ? argv[++i] : NULL;
      if (!ms || !cli_parse_int(ms, &ctx->wait_ms) || ctx->wait_ms < 0 || ctx->wait_ms > 86400000)
        return usage_error("%s: --timeout wants milliseconds from 0 to 86400000", cmd->name), -1;
      ctx->wait_given = true;
    } else if (options && cmd->needs_client && strncmp(a, "--guard", 7) == 0 &&
               (a[7] == '\0' || a[7] == '=')) {
      const char *v = a[7] == '=' ? a + 8 : i + 1 < argc ? argv[++i] : NULL;
      const char *eq = v ? strrchr(v, '=') : NULL;
      int64_t tok;
      if (!eq || eq == v || !cli_parse_int(eq + 1, &tok) || tok < 1)
        return usage_error("%s: --guard wants LOCK=TOKEN (a lock, rlock or semaphore and the "
                           "fencing token its acquire printed)",
                           cmd->name),
               -1;
      ctx->guard = v;
    } else if (options && (cmd->opts & CMD_COUNT) && strncmp(a, "--count", 7) == 0 &&
               (a[7] == '\0' || a[7] == '=')) {
      const char *v = a[7] == '=' ? a + 8 : i + 1 < argc ? argv[++i] : NULL;
      if (!v || !parse_count(v, &ctx->count))
        return usage_error("%s: --count wants a number of items from 1 to 1000000", cmd->name), -1;
    } else if (options && strncmp(a, "--", 2) == 0 && a[2] != '\0') {
      return usage_error("%s: unknown option %s", cmd->name, a), -1;
    } else {
      argv[n++] = argv[i];
    }
  }
  return n;
}

/* True when the PEM file path can be read and holds no private key block,
 * so --tls-cert without --tls-key cannot work. An unreadable file is left
 * to the library, which names it. */
static bool pem_lacks_key(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return false;
  char line[256];
  bool key = false;
  while (!key && fgets(line, sizeof line, f))
    key = strncmp(line, "-----BEGIN ", 11) == 0 && strstr(line, "PRIVATE KEY-----");
  bool failed = ferror(f) != 0;
  fclose(f);
  return !key && !failed;
}

/* Parses a --timeout value: a positive number of milliseconds. */
static bool parse_ms(const char *s, int *out) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v <= 0 || v > 86400000L) return false;
  *out = (int)v;
  return true;
}

/* Finds COMMAND (argv[0]) and takes its options out of the rest, checking
 * the operand count: *cmd and *nargs (the operands stay at argv + 1).
 * Returns -1 when the command may run, else the exit code after printing
 * a usage error. */
static int parse_command(cli_ctx *ctx, int argc, char **argv, const command **cmd, int *nargs) {
  const command *c = find_command(argv[0]);
  if (!c) return usage_error("unknown command '%s'", argv[0]);
  int n = take_command_options(ctx, c, argc - 1, argv + 1);
  if (n < 0) return CLI_EXIT_USAGE;
  if (n < c->min_args || (c->max_args >= 0 && n > c->max_args))
    return usage_error("usage: statemgr %s%s%s", c->name, *c->args ? " " : "", c->args);
  *cmd = c;
  *nargs = n;
  return -1;
}

/* After cmd ran with status rc: the JSON null of a silent command, the
 * output flushed, the error printed. Returns the exit code. */
static int finish_command(cli_ctx *ctx, const command *cmd, int rc) {
  /* With --json every command that succeeds writes one document: null for
   * those that print nothing in plain text (set, del, push...). */
  if (rc == SM_OK && ctx->json && !ctx->printed && cmd->needs_client) puts("null");
  if (fflush(stdout) != 0 || ferror(stdout)) {
    if (errno != EPIPE) fprintf(stderr, "statemgr: write error: %s\n", strerror(errno));
    return CLI_EXIT_ERROR;
  }
  if (rc != SM_OK) {
    if (ctx->err[0]) fprintf(stderr, "statemgr: %s\n", ctx->err);
    return exit_code_for(rc);
  }
  return CLI_EXIT_OK;
}

/* --guard NAME=TOKEN: the command's calls run only while NAME's current
 * grant has TOKEN (sm_client_set_guard), else SM_EFENCED, exit 5. */
static int set_guard(cli_ctx *ctx) {
  const char *eq = strrchr(ctx->guard, '=');
  char name[256], type[64], token[128];
  int64_t tok = 0;
  snprintf(name, sizeof name, "%.*s", (int)(eq - ctx->guard), ctx->guard);
  cli_parse_int(eq + 1, &tok);
  int rc = cli_find_object(ctx, name, type, sizeof type, token, sizeof token);
  if (rc != SM_OK) return rc;
  sm_proxy *g = NULL;
  if ((rc = sm_proxy_from_token(ctx->client, token, &g)) != SM_OK)
    return cli_lib_fail(ctx, rc, name);
  rc = sm_client_set_guard(ctx->client, g, (uint64_t)tok);
  sm_proxy_free(g);
  return rc == SM_OK ? rc : cli_lib_fail(ctx, rc, "--guard");
}

/* Runs cmd on its operands, under its --guard if it has one. Returns its
 * status. */
static int run_command(cli_ctx *ctx, const command *cmd, int nargs, char **args) {
  if (!ctx->guard) return cmd->run(ctx, nargs, args);
  int rc = set_guard(ctx);
  if (rc == SM_OK) rc = cmd->run(ctx, nargs, args);
  sm_client_clear_guard(ctx->client); /* this command's only (the interactive mode goes on) */
  return rc;
}

int cli_run(cli_ctx *ctx, int argc, char **argv) {
  const command *cmd = NULL;
  int nargs = 0;
  int bad = parse_command(ctx, argc, argv, &cmd, &nargs);
  if (bad >= 0) return bad;
  return finish_command(ctx, cmd, run_command(ctx, cmd, nargs, argv + 1));
}

const char *cli_command_name(size_t i) { return i < N_COMMANDS ? commands[i].name : NULL; }

const char *cli_command_args(const char *name) {
  const command *cmd = find_command(name);
  return cmd ? cmd->args : NULL;
}

void cli_print_help(void) { print_help(stdout); }

int main(int argc, char **argv) {
  static const struct option long_opts[] = {
      {"url", required_argument, NULL, 'u'},
      {"authkey-file", required_argument, NULL, 'k'},
      {"timeout", required_argument, NULL, 't'},
      {"tls-ca", required_argument, NULL, 'A'},
      {"tls-cert", required_argument, NULL, 'C'},
      {"tls-key", required_argument, NULL, 'K'},
      {"tls-server-name", required_argument, NULL, 'N'},
      {"tls-insecure", no_argument, NULL, 'I'},
      {"str", no_argument, NULL, 's'},
      {"json", no_argument, NULL, 'j'},
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},
      {NULL, 0, NULL, 0},
  };
  cli_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.wait_ms = SM_FOREVER;
  const char *url = NULL, *authkey_file = NULL;
  const char *tls_ca = NULL, *tls_cert = NULL, *tls_key = NULL, *tls_name = NULL;
  bool tls_insecure = false;
  int timeout_ms = 0;

  /* A lost connection must be an error status, not a silent death. */
  signal(SIGPIPE, SIG_IGN);

  /* "+": stop at COMMAND, so "value n incr -5" keeps its -5. ":" first
   * lets us word the errors ourselves. */
  opterr = 0;
  int opt;
  while ((opt = getopt_long(argc, argv, "+:u:hV", long_opts, NULL)) != -1) {
    switch (opt) {
    case 'u': url = optarg; break;
    case 'k': authkey_file = optarg; break;
    case 'A': tls_ca = optarg; break;
    case 'C': tls_cert = optarg; break;
    case 'K': tls_key = optarg; break;
    case 'N': tls_name = optarg; break;
    case 'I': tls_insecure = true; break;
    case 't':
      if (!parse_ms(optarg, &timeout_ms))
        return usage_error("--timeout wants a positive number of milliseconds, not '%s'", optarg);
      break;
    case 's': ctx.force_str = true; break;
    case 'j': ctx.json = true; break;
    case 'h': print_help(stdout); return CLI_EXIT_OK;
    case 'V': printf("statemgr %s\n", sm_version()); return CLI_EXIT_OK;
    case ':': return usage_error("option %s needs a value", argv[optind - 1]);
    default: return usage_error("unknown option %s", argv[optind - 1]);
    }
  }
  /* No command on a terminal: the interactive mode (cli_repl.c). */
  bool repl = optind >= argc && isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
  if (optind >= argc && !repl) return usage_error("no command given");

  const command *cmd = NULL;
  int nargs = 0;
  char **args = argv + optind + 1;
  if (!repl) {
    int bad = parse_command(&ctx, argc - optind, argv + optind, &cmd, &nargs);
    if (bad >= 0) return bad;
  }

  int rc = SM_OK;
  if (repl || cmd->needs_client) {
    if (!url) url = getenv("STATEMGR_URL");
    if (!url || !*url) url = SM_DEFAULT_URL;
    /* Read here as the library reads it (one URL, or a group's members),
     * to make it a usage error. */
    url_member members[URL_LIST_MAX];
    size_t nmembers = 0;
    char why[512];
    if (url_list_parse(url, URL_CONNECT, members, URL_LIST_MAX, &nmembers, why, sizeof why) != 0)
      return usage_error("%s", why);
    bool tls = false;
    for (size_t i = 0; i < nmembers; i++)
      tls = tls || members[i].addr.scheme == URL_TLS;
    if (tls_key && !tls_cert) return usage_error("--tls-key needs --tls-cert");
    if (tls_cert && !tls_key && tls && pem_lacks_key(tls_cert))
      return usage_error("--tls-cert %s holds no private key: give its key file with --tls-key",
                         tls_cert);
    /* The library bounds the connect itself (sm_options_set_connect_timeout)
     * and words its failure, with hints such as "use a tls:// URL"; the
     * CLI's own clock starts after it, with what is left, so it cannot cut
     * that message off. */
    struct timespec started;
    clock_gettime(CLOCK_MONOTONIC, &started);

    sm_options *opts = sm_options_new();
    if (!opts) {
      fprintf(stderr, "statemgr: out of memory\n");
      return CLI_EXIT_ERROR;
    }
    sm_options_set_client_name(opts, "statemgr-cli");
    if (timeout_ms > 0) sm_options_set_connect_timeout(opts, timeout_ms);
    if (authkey_file) rc = sm_options_set_authkey_file(opts, authkey_file);
    if (rc == SM_OK && tls_ca) rc = sm_options_set_tls_ca(opts, tls_ca);
    if (rc == SM_OK && tls_cert) rc = sm_options_set_tls_cert(opts, tls_cert, tls_key);
    if (rc == SM_OK && tls_name) rc = sm_options_set_tls_server_name(opts, tls_name);
    if (rc == SM_OK && tls_insecure) rc = sm_options_set_tls_insecure_skip_verify(opts, true);
    if (rc == SM_OK) rc = sm_connect(url, opts, &ctx.client);
    sm_options_free(opts);
    if (rc != SM_OK) {
      /* The library's text names the URL already. */
      const char *text = sm_last_error();
      if (text && *text)
        fprintf(stderr, "statemgr: %s\n", text);
      else
        fprintf(stderr, "statemgr: %s: %s\n", url, sm_strerror(rc));
      return exit_code_for(rc);
    }
    if (timeout_ms > 0 && !repl) {
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      int64_t spent =
          (int64_t)(now.tv_sec - started.tv_sec) * 1000 + (now.tv_nsec - started.tv_nsec) / 1000000;
      if (spent >= timeout_ms) on_timeout(SIGALRM);
      arm_timeout((int)(timeout_ms - spent));
    }
  }

  if (repl) {
    rc = cli_repl(&ctx);
    sm_client_free(ctx.client);
    return rc;
  }
  rc = run_command(&ctx, cmd, nargs, args);
  sm_client_free(ctx.client);
  return finish_command(&ctx, cmd, rc);
}
