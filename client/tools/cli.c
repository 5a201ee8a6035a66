/* cli.c - the `statemgr` command-line tool: inspect and change a statemgrd's
 * named objects from a shell, with exit codes that scripts can rely on.
 *
 * It uses the public client API (statemgr.h), the URL parser of
 * proto/url.h (a bad URL is a usage error), and the escaping of
 * proto/escape.h for names in listings: an object or client name holding a
 * newline or a terminal escape prints as \n or \e, so it can neither forge
 * a row nor drive the terminal. Values that `get`, `keys` and `pop` print
 * are data and stay as they are. Each command is one row
 * of the `commands` table below (name, arguments, help line, function); to
 * add a command, write a cmd_<name>() and add its row. Exit codes are the
 * CLI_EXIT_* values; library codes map onto them in exit_code_for().
 *
 * Read-only commands (get, keys, len, value get...) never create anything:
 * they look the name up with sm_ls() and open the object by its token, so a
 * typo does not leave an empty object behind. Writing commands (set, push,
 * value set/incr) get-or-create the object, as the library's open does. */
#include "statemgr.h"

#include "../../proto/escape.h"
#include "../../proto/url.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

/* Exit codes, documented in `statemgr help` and the README. */
enum {
  CLI_EXIT_OK = 0,       /* done, or found */
  CLI_EXIT_NOTFOUND = 1, /* key or object absent, pop of an empty list */
  CLI_EXIT_USAGE = 2,    /* bad command line */
  CLI_EXIT_CONNECT = 3,  /* cannot reach the daemon, or it stopped answering */
  CLI_EXIT_AUTH = 4,     /* the daemon refused our authkey */
  CLI_EXIT_ERROR = 5,    /* anything else; the daemon's text is on stderr */
};

/* A status of the CLI's own, beside the library's negative SM_E* codes. */
#define CLI_EUSAGE (-1000)

/* What every command gets: the connection and the parsed options. */
typedef struct cli_ctx {
  sm_client *client; /* connected before the command runs (NULL for help) */
  bool force_str;    /* --str: every KEY and VALUE argument is a string */
  const char *type;  /* ls --type T, or NULL */
  size_t count;      /* scan --count N, or 0: the daemon's default */
  char err[1024];    /* what went wrong, printed by main after "statemgr: " */
} cli_ctx;

typedef int (*cmd_fn)(cli_ctx *ctx, int argc, char **argv);

typedef struct command {
  const char *name;
  const char *args; /* the argument synopsis for usage lines */
  int min_args;
  int max_args;
  bool needs_client; /* connect before running */
  bool takes_type;   /* accepts --type T */
  cmd_fn run;
  const char *help;
} command;

static int cmd_ping(cli_ctx *ctx, int argc, char **argv);
static int cmd_ls(cli_ctx *ctx, int argc, char **argv);
static int cmd_set(cli_ctx *ctx, int argc, char **argv);
static int cmd_get(cli_ctx *ctx, int argc, char **argv);
static int cmd_del(cli_ctx *ctx, int argc, char **argv);
static int cmd_keys(cli_ctx *ctx, int argc, char **argv);
static int cmd_scan(cli_ctx *ctx, int argc, char **argv);
static int cmd_push(cli_ctx *ctx, int argc, char **argv);
static int cmd_pop(cli_ctx *ctx, int argc, char **argv);
static int cmd_len(cli_ctx *ctx, int argc, char **argv);
static int cmd_value(cli_ctx *ctx, int argc, char **argv);
static int cmd_info(cli_ctx *ctx, int argc, char **argv);
static int cmd_stats(cli_ctx *ctx, int argc, char **argv);
static int cmd_show(cli_ctx *ctx, int argc, char **argv);
static int cmd_shutdown(cli_ctx *ctx, int argc, char **argv);
static int cmd_help(cli_ctx *ctx, int argc, char **argv);

static const command commands[] = {
    {"ping", "", 0, 0, true, false, cmd_ping, "check that the daemon answers"},
    {"ls", "[--type T]", 0, 0, true, true, cmd_ls, "named objects: NAME TYPE SIZE columns"},
    {"set", "DICT KEY VALUE", 3, 3, true, false, cmd_set, "DICT[KEY] = VALUE (creates DICT)"},
    {"get", "DICT KEY", 2, 2, true, false, cmd_get, "print DICT[KEY]"},
    {"del", "DICT KEY", 2, 2, true, false, cmd_del, "remove KEY from DICT"},
    {"keys", "DICT", 1, 1, true, false, cmd_keys, "print DICT's keys, one per line"},
    {"scan", "NAME [--count N]", 1, 1, true, false, cmd_scan,
     "print a dict's or namespace's items (KEY<TAB>VALUE) or a list's items, page by page"},
    {"push", "LIST VALUE...", 2, -1, true, false, cmd_push, "append to LIST (creates LIST)"},
    {"pop", "LIST", 1, 1, true, false, cmd_pop, "remove and print LIST's last item"},
    {"len", "NAME", 1, 1, true, false, cmd_len, "print the length of NAME"},
    {"value", "NAME [get | set V | incr [N]]", 1, 3, true, false, cmd_value,
     "read, set, or add N (default 1) atomically"},
    {"info", "", 0, 0, true, false, cmd_info, "daemon facts as \"key: value\" lines"},
    {"stats", "[SECONDS]", 0, 1, true, false, cmd_stats,
     "figures, objects per type, and calls per second per method over SECONDS (default 1)"},
    {"show", "NAME", 1, 1, true, false, cmd_show, "one object: type, size, parked calls, holders"},
    {"shutdown", "", 0, 0, true, false, cmd_shutdown, "ask the daemon to stop"},
    {"help", "", 0, 0, false, false, cmd_help, "this help"},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const char *timeout_text = "statemgr: timed out waiting for the daemon\n";

/* ---- errors ---------------------------------------------------------- */

/* Records a failure of the CLI's own making and returns rc. */
static int cli_fail(cli_ctx *ctx, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int cli_fail(cli_ctx *ctx, int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ctx->err, sizeof ctx->err, fmt, ap);
  va_end(ap);
  return rc;
}

/* Records a library failure with its text, read now because the next
 * library call on this thread replaces it. Returns rc. */
static int lib_fail(cli_ctx *ctx, int rc, const char *what) {
  const char *text = sm_last_error();
  if (!text || !*text) text = sm_strerror(rc);
  return cli_fail(ctx, rc, "%s: %s", what, text);
}

/* Maps a library or CLI status onto the documented exit codes. */
static int exit_code_for(int rc) {
  switch (rc) {
  case SM_OK: return CLI_EXIT_OK;
  case SM_ENOTFOUND:
  case SM_EEMPTY: return CLI_EXIT_NOTFOUND;
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

/* True when s is an integer literal: optional '-', then "0" or digits not
 * starting with 0 (so "007" stays a string and keeps its zeros). */
static bool is_int_literal(const char *s) {
  if (*s == '-') s++;
  if (*s < '0' || *s > '9') return false;
  if (*s == '0' && s[1] != '\0') return false;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return false;
  return true;
}

/* True when s is a decimal literal: an optional '-', digits with a '.'
 * and/or an exponent ("1.5", "-.5", "2e3"). "inf", "nan" and hex stay
 * strings. */
static bool is_decimal_literal(const char *s) {
  size_t digits = 0;
  bool point = false, exponent = false;
  if (*s == '-') s++;
  for (; *s >= '0' && *s <= '9'; s++)
    digits++;
  if (*s == '.') {
    point = true;
    for (s++; *s >= '0' && *s <= '9'; s++)
      digits++;
  }
  if (digits == 0) return false;
  if (*s == 'e' || *s == 'E') {
    exponent = true;
    s++;
    if (*s == '+' || *s == '-') s++;
    if (*s < '0' || *s > '9') return false;
    while (*s >= '0' && *s <= '9')
      s++;
  }
  return *s == '\0' && (point || exponent);
}

/* Turns a command-line KEY or VALUE into a value: an integer literal becomes
 * an int, a decimal literal a double, true/false a bool, anything else (or
 * everything, with --str) a string. An integer or decimal out of range stays
 * a string. Returns a new value (caller frees with sm_value_free()), or NULL
 * when out of memory. */
static sm_value *parse_arg(const cli_ctx *ctx, const char *s) {
  if (!ctx->force_str) {
    if (is_int_literal(s)) {
      errno = 0;
      long long i = strtoll(s, NULL, 10);
      if (errno == 0) return sm_value_int((int64_t)i);
    } else if (is_decimal_literal(s)) {
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

/* Prints v as plain text (sm_value_to_text) on its own line. */
static int print_value(cli_ctx *ctx, const sm_value *v) {
  char *text = sm_value_to_text(v);
  if (!text) return cli_fail(ctx, SM_ENOMEM, "out of memory");
  puts(text);
  sm_free(text);
  return SM_OK;
}

/* The string stored under key in map, or "" when absent or not a string. */
static const char *map_str(const sm_value *map, const char *key) {
  sm_value *k = sm_value_str(key);
  const char *s = k ? sm_value_as_str(sm_value_map_get(map, k), NULL) : NULL;
  sm_value_free(k);
  return s ? s : "";
}

/* The value stored under key in map (borrowed), or NULL when absent. */
static const sm_value *map_at(const sm_value *map, const char *key) {
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
  if (rc != SM_OK) return lib_fail(ctx, rc, "ls");
  for (size_t i = 0; i < sm_value_len(all); i++) {
    const sm_value *r = sm_value_list_at(all, i);
    if (strcmp(map_str(r, "name"), name) == 0) {
      *listing = all;
      *row = r;
      return SM_OK;
    }
  }
  sm_value_free(all);
  return cli_fail(ctx, SM_ENOTFOUND, "no object named '%s'", name);
}

/* Finds the existing object name and checks it is of type want. On success
 * writes its proxy token ("dict:42") into token. Never creates anything. */
static int find_typed(cli_ctx *ctx, const char *name, const char *want, char *token,
                      size_t toklen) {
  sm_value *all = NULL;
  const sm_value *row = NULL;
  int rc = find_named(ctx, name, &all, &row);
  if (rc != SM_OK) return rc;
  const char *type = map_str(row, "type");
  if (strcmp(type, want) != 0) {
    rc = cli_fail(ctx, SM_ETYPE, "'%s' is a %s, not a %s", name, type, want);
  } else {
    snprintf(token, toklen, "%s:%" PRId64, type, sm_value_as_int(map_at(row, "id")));
  }
  sm_value_free(all);
  return rc;
}

/* Opens the existing dict name without creating it. */
static int open_existing_dict(cli_ctx *ctx, const char *name, sm_dict **out) {
  char token[128];
  int rc = find_typed(ctx, name, "dict", token, sizeof token);
  if (rc != SM_OK) return rc;
  rc = sm_dict_from_token(ctx->client, token, out);
  if (rc == SM_ENOTFOUND) return cli_fail(ctx, rc, "no object named '%s'", name);
  return rc == SM_OK ? rc : lib_fail(ctx, rc, name);
}

/* Opens the existing list name without creating it. */
static int open_existing_list(cli_ctx *ctx, const char *name, sm_list **out) {
  char token[128];
  int rc = find_typed(ctx, name, "list", token, sizeof token);
  if (rc != SM_OK) return rc;
  rc = sm_list_from_token(ctx->client, token, out);
  if (rc == SM_ENOTFOUND) return cli_fail(ctx, rc, "no object named '%s'", name);
  return rc == SM_OK ? rc : lib_fail(ctx, rc, name);
}

/* ---- commands -------------------------------------------------------- */

/* ping: one round trip. */
static int cmd_ping(cli_ctx *ctx, int argc, char **argv) {
  (void)argc, (void)argv;
  int rc = sm_ping(ctx->client);
  if (rc != SM_OK) return lib_fail(ctx, rc, "ping");
  puts("pong");
  return SM_OK;
}

/* ls [--type T]: the named objects, aligned under a NAME TYPE SIZE header;
 * SIZE is "-" for types without one. Names and types are escaped. */
static int cmd_ls(cli_ctx *ctx, int argc, char **argv) {
  (void)argc, (void)argv;
  sm_value *all = NULL;
  int rc = sm_ls(ctx->client, ctx->type, &all);
  if (rc != SM_OK) return lib_fail(ctx, rc, "ls");
  size_t n = sm_value_len(all), wname = strlen("NAME"), wtype = strlen("TYPE");
  char **names = calloc(n ? n : 1, sizeof *names), **types = calloc(n ? n : 1, sizeof *types);
  for (size_t i = 0; rc == SM_OK && names && types && i < n; i++) {
    const sm_value *r = sm_value_list_at(all, i);
    names[i] = esc_dup(map_str(r, "name"));
    types[i] = esc_dup(map_str(r, "type"));
    if (!names[i] || !types[i]) rc = SM_ENOMEM;
    if (rc == SM_OK && strlen(names[i]) > wname) wname = strlen(names[i]);
    if (rc == SM_OK && strlen(types[i]) > wtype) wtype = strlen(types[i]);
  }
  if (!names || !types) rc = SM_ENOMEM;
  if (rc == SM_OK) printf("%-*s  %-*s  %s\n", (int)wname, "NAME", (int)wtype, "TYPE", "SIZE");
  for (size_t i = 0; rc == SM_OK && i < n; i++) {
    const sm_value *size = map_at(sm_value_list_at(all, i), "size");
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
  int rc = sm_dict_open(ctx->client, argv[0], &d);
  if (rc != SM_OK) return lib_fail(ctx, rc, argv[0]);
  sm_value *key = parse_arg(ctx, argv[1]), *val = parse_arg(ctx, argv[2]);
  if (!key || !val)
    rc = cli_fail(ctx, SM_ENOMEM, "out of memory");
  else if ((rc = sm_dict_set(d, key, val)) != SM_OK)
    lib_fail(ctx, rc, "set");
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
  sm_value *key = parse_arg(ctx, argv[1]), *val = NULL;
  if (!key)
    rc = cli_fail(ctx, SM_ENOMEM, "out of memory");
  else if ((rc = sm_dict_get(d, key, &val)) == SM_ENOTFOUND)
    cli_fail(ctx, rc, "no key %s in dict '%s'", argv[1], argv[0]);
  else if (rc != SM_OK)
    lib_fail(ctx, rc, "get");
  else
    rc = print_value(ctx, val);
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
  sm_value *key = parse_arg(ctx, argv[1]);
  if (!key)
    rc = cli_fail(ctx, SM_ENOMEM, "out of memory");
  else if ((rc = sm_dict_del(d, key)) == SM_ENOTFOUND)
    cli_fail(ctx, rc, "no key %s in dict '%s'", argv[1], argv[0]);
  else if (rc != SM_OK)
    lib_fail(ctx, rc, "del");
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
  if ((rc = sm_dict_keys(d, &keys)) != SM_OK) lib_fail(ctx, rc, "keys");
  for (size_t i = 0; rc == SM_OK && i < sm_value_len(keys); i++)
    rc = print_value(ctx, sm_value_list_at(keys, i));
  sm_value_free(keys);
  sm_dict_free(d);
  return rc;
}

/* Prints one scanned element: a [key, value] pair as KEY<TAB>VALUE, else
 * the item itself. */
static int print_scanned(cli_ctx *ctx, const sm_value *item, bool pairs) {
  if (!pairs) return print_value(ctx, item);
  char *k = sm_value_to_text(sm_value_list_at(item, 0));
  char *v = sm_value_to_text(sm_value_list_at(item, 1));
  if (k && v) printf("%s\t%s\n", k, v);
  sm_free(k);
  sm_free(v);
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
  snprintf(type, sizeof type, "%s", map_str(row, "type"));
  snprintf(token, sizeof token, "%s:%" PRId64, type, sm_value_as_int(map_at(row, "id")));
  sm_value_free(all);
  sm_dict *d = NULL;
  sm_list *l = NULL;
  sm_ns *ns = NULL;
  if (strcmp(type, "dict") == 0)
    rc = sm_dict_from_token(ctx->client, token, &d);
  else if (strcmp(type, "list") == 0)
    rc = sm_list_from_token(ctx->client, token, &l);
  else if (strcmp(type, "namespace") == 0)
    rc = sm_ns_from_token(ctx->client, token, &ns);
  else
    return cli_fail(ctx, SM_ETYPE, "'%s' is a %s: scan reads a dict, list or namespace", argv[0],
                    type);
  uint64_t cursor = 0;
  do {
    sm_value *page = NULL;
    if (rc == SM_OK)
      rc = d   ? sm_dict_scan(d, cursor, ctx->count, &cursor, &page)
           : l ? sm_list_scan(l, cursor, ctx->count, &cursor, &page)
               : sm_ns_scan(ns, cursor, ctx->count, &cursor, &page);
    for (size_t i = 0; rc == SM_OK && i < sm_value_len(page); i++)
      rc = print_scanned(ctx, sm_value_list_at(page, i), !l);
    sm_value_free(page);
  } while (rc == SM_OK && cursor != 0);
  sm_dict_free(d);
  sm_list_free(l);
  sm_ns_free(ns);
  if (rc == SM_ENOTFOUND) return cli_fail(ctx, rc, "no object named '%s'", argv[0]);
  return rc == SM_OK || ctx->err[0] ? rc : lib_fail(ctx, rc, "scan");
}

/* push LIST VALUE...: get-or-create the list; several values go in one
 * atomic extend. */
static int cmd_push(cli_ctx *ctx, int argc, char **argv) {
  sm_list *l = NULL;
  int rc = sm_list_open(ctx->client, argv[0], &l);
  if (rc != SM_OK) return lib_fail(ctx, rc, argv[0]);
  sm_value *items = sm_value_list();
  if (!items) rc = SM_ENOMEM;
  for (int i = 1; rc == SM_OK && i < argc; i++) {
    sm_value *v = parse_arg(ctx, argv[i]);
    rc = v ? sm_value_list_append(items, v) : SM_ENOMEM;
  }
  if (rc != SM_OK)
    cli_fail(ctx, rc, "out of memory");
  else if (argc == 2)
    rc = sm_list_append(l, sm_value_list_at(items, 0));
  else
    rc = sm_list_extend(l, items);
  if (rc != SM_OK && !ctx->err[0]) lib_fail(ctx, rc, "push");
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
    rc = print_value(ctx, v);
  } else {
    /* The only way a pop of the last item fails with a bad value is an
     * empty list. */
    size_t n = 1;
    if (rc == SM_EVALUE && sm_list_len(l, &n) == SM_OK && n == 0)
      rc = cli_fail(ctx, SM_EEMPTY, "list '%s' is empty", argv[0]);
    else
      lib_fail(ctx, rc, "pop");
  }
  sm_value_free(v);
  sm_list_free(l);
  return rc;
}

/* len NAME: the length of a dict, list or namespace; for other types the
 * size the daemon lists, when it has one. */
static int cmd_len(cli_ctx *ctx, int argc, char **argv) {
  (void)argc;
  sm_value *all = NULL;
  const sm_value *row = NULL;
  int rc = find_named(ctx, argv[0], &all, &row);
  if (rc != SM_OK) return rc;
  char type[64], token[128];
  snprintf(type, sizeof type, "%s", map_str(row, "type"));
  snprintf(token, sizeof token, "%s:%" PRId64, type, sm_value_as_int(map_at(row, "id")));
  const sm_value *listed = map_at(row, "size");
  int64_t listed_size = listed ? sm_value_as_int(listed) : -1;
  sm_value_free(all);

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
  } else if (listed_size >= 0) {
    n = (size_t)listed_size;
  } else {
    return cli_fail(ctx, SM_ETYPE, "'%s' is a %s, which has no length", argv[0], type);
  }
  if (rc == SM_ENOTFOUND) return cli_fail(ctx, rc, "no object named '%s'", argv[0]);
  if (rc != SM_OK) return lib_fail(ctx, rc, "len");
  printf("%zu\n", n);
  return SM_OK;
}

/* value NAME incr [N]: atomic add-and-get; N an int or a decimal. */
static int value_incr(cli_ctx *ctx, sm_var *var, const char *delta) {
  int rc;
  if (is_int_literal(delta)) {
    errno = 0;
    long long n = strtoll(delta, NULL, 10);
    if (errno != 0) return cli_fail(ctx, CLI_EUSAGE, "incr: %s is out of range", delta);
    int64_t result = 0;
    if ((rc = sm_var_add_int(var, (int64_t)n, &result)) != SM_OK) return lib_fail(ctx, rc, "incr");
    printf("%" PRId64 "\n", result);
    return SM_OK;
  }
  if (is_decimal_literal(delta)) {
    double result = 0;
    if ((rc = sm_var_add_double(var, strtod(delta, NULL), &result)) != SM_OK)
      return lib_fail(ctx, rc, "incr");
    sm_value *v = sm_value_double(result);
    rc = v ? print_value(ctx, v) : cli_fail(ctx, SM_ENOMEM, "out of memory");
    sm_value_free(v);
    return rc;
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
  if (strcmp(op, "get") == 0) {
    char token[128];
    if ((rc = find_typed(ctx, argv[0], "value", token, sizeof token)) != SM_OK) return rc;
    if ((rc = sm_var_from_token(ctx->client, token, &var)) != SM_OK)
      return rc == SM_ENOTFOUND ? cli_fail(ctx, rc, "no object named '%s'", argv[0])
                                : lib_fail(ctx, rc, argv[0]);
    sm_value *v = NULL;
    if ((rc = sm_var_get(var, &v)) != SM_OK)
      lib_fail(ctx, rc, "get");
    else
      rc = print_value(ctx, v);
    sm_value_free(v);
  } else {
    if ((rc = sm_var_open(ctx->client, argv[0], NULL, &var)) != SM_OK)
      return lib_fail(ctx, rc, argv[0]);
    if (strcmp(op, "set") == 0) {
      sm_value *v = parse_arg(ctx, argv[2]);
      if (!v)
        rc = cli_fail(ctx, SM_ENOMEM, "out of memory");
      else if ((rc = sm_var_set(var, v)) != SM_OK)
        lib_fail(ctx, rc, "set");
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
  if (rc != SM_OK) return lib_fail(ctx, rc, "info");
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
    return lib_fail(ctx, rc, "stats");
  }
  const sm_value *now = b ? b : a;
  static const char *const figures[] = {"uptime_s",   "connections", "objects",
                                        "waiters",    "requests",    "rss_bytes",
                                        "heap_bytes", "used_memory", "max_memory"};
  for (size_t i = 0; i < sizeof figures / sizeof figures[0]; i++)
    printf("%s: %lld\n", figures[i], (long long)map_int(now, figures[i]));
  const sm_value *types = map_at(now, "types");
  for (size_t i = 0; i < sm_value_len(types); i++)
    printf("objects.%s: %lld\n", sm_value_as_str(sm_value_map_key_at(types, i), NULL),
           (long long)sm_value_as_int(sm_value_map_value_at(types, i)));
  const sm_value *calls = map_at(now, "calls"), *before = map_at(a, "calls");
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
  if (rc != SM_OK) return lib_fail(ctx, rc, argv[0]);
  for (size_t i = 0; i < sm_value_len(m); i++) {
    const char *k = sm_value_as_str(sm_value_map_key_at(m, i), NULL);
    const sm_value *v = sm_value_map_value_at(m, i);
    if (strcmp(k, "holders") == 0) {
      for (size_t h = 0; h < sm_value_len(v); h++) {
        const sm_value *one = sm_value_list_at(v, h);
        char *peer = esc_dup(sm_value_as_str(map_at(one, "peer"), NULL));
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
  return rc == SM_OK ? rc : lib_fail(ctx, rc, "shutdown");
}

/* Writes the full help text to f. */
static void print_help(FILE *f) {
  fprintf(f, "usage: statemgr [-u URL] [--authkey-file F] [--timeout MS] [--tls-* ...] [--str] "
             "COMMAND [ARGS]\n\ncommands:\n");
  for (size_t i = 0; i < N_COMMANDS; i++) {
    char synopsis[64];
    snprintf(synopsis, sizeof synopsis, "%s %s", commands[i].name, commands[i].args);
    fprintf(f, "  %-35s %s\n", synopsis, commands[i].help);
  }
  fprintf(f,
          "\noptions:\n"
          "  -u, --url URL        daemon address: tcp://HOST:PORT, tcp://[V6ADDR]:PORT,\n"
          "                       tls://HOST:PORT, unix:PATH or unix:///ABSOLUTE/PATH\n"
          "                       (default: $STATEMGR_URL, else %s)\n"
          "  --authkey-file F     read the authkey from F (default: $STATEMGR_AUTHKEY_FILE,\n"
          "                       $STATEMGR_AUTHKEY, then ~/.statemgr/authkey)\n"
          "  --timeout MS         give up when the daemon has not answered within MS\n"
          "                       milliseconds (connecting included; exit 3)\n"
          "  --tls-ca F           tls://: trust the CAs in PEM file F (default: the system's)\n"
          "  --tls-cert F         tls://: present the client certificate in PEM file F\n"
          "  --tls-key F          tls://: the PEM key of --tls-cert (default: inside F)\n"
          "  --tls-server-name N  tls://: the name the daemon's certificate must carry\n"
          "                       (default: the URL's host)\n"
          "  --tls-insecure       tls://: DANGER, do not verify the daemon's certificate\n"
          "  --str                take every KEY and VALUE argument as a string\n"
          "  -h, --help           this help;  -V, --version  print the version\n"
          "\nKEY and VALUE arguments are typed by their look: an integer literal (42, -7;\n"
          "no leading zeros, so 007 stays a string) is an int, a decimal literal (1.5,\n"
          "-0.25, 2e3) a double, true and false are bools, and anything else is a string.\n"
          "--str (before or after COMMAND) makes them all strings; `--` ends the options,\n"
          "so `statemgr set d k -- --x` stores the string \"--x\". Output is plain text:\n"
          "strings as they are, numbers in decimal, bools as True/False, nil as None.\n"
          "\nexit codes:\n"
          "  0  ok (found)\n"
          "  1  not found: key or object absent, pop of an empty list\n"
          "  2  usage error\n"
          "  3  connection failure (cannot connect, connection lost, --timeout expired)\n"
          "  4  authentication refused (wrong authkey)\n"
          "  5  any other error (the daemon's message is printed on stderr)\n",
          SM_DEFAULT_URL);
}

/* help: the full text on stdout. */
static int cmd_help(cli_ctx *ctx, int argc, char **argv) {
  (void)ctx, (void)argc, (void)argv;
  print_help(stdout);
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
    } else if (options && cmd->takes_type && strcmp(a, "--type") == 0) {
      if (i + 1 >= argc) return usage_error("%s: --type needs a type name", cmd->name), -1;
      ctx->type = argv[++i];
    } else if (options && cmd->takes_type && strncmp(a, "--type=", 7) == 0) {
      ctx->type = a + 7;
    } else if (options && strstr(cmd->args, "--count") && strncmp(a, "--count", 7) == 0 &&
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

/* Parses a --timeout value: a positive number of milliseconds. */
static bool parse_ms(const char *s, int *out) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v <= 0 || v > 86400000L) return false;
  *out = (int)v;
  return true;
}

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
      {"help", no_argument, NULL, 'h'},
      {"version", no_argument, NULL, 'V'},
      {NULL, 0, NULL, 0},
  };
  cli_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
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
    case 'h': print_help(stdout); return CLI_EXIT_OK;
    case 'V': printf("statemgr %s\n", sm_version()); return CLI_EXIT_OK;
    case ':': return usage_error("option %s needs a value", argv[optind - 1]);
    default: return usage_error("unknown option %s", argv[optind - 1]);
    }
  }
  if (optind >= argc) return usage_error("no command given");

  const command *cmd = find_command(argv[optind]);
  if (!cmd) return usage_error("unknown command '%s'", argv[optind]);
  int nargs = take_command_options(&ctx, cmd, argc - optind - 1, argv + optind + 1);
  if (nargs < 0) return CLI_EXIT_USAGE;
  if (nargs < cmd->min_args || (cmd->max_args >= 0 && nargs > cmd->max_args))
    return usage_error("usage: statemgr %s%s%s", cmd->name, *cmd->args ? " " : "", cmd->args);
  char **args = argv + optind + 1;

  int rc = SM_OK;
  if (cmd->needs_client) {
    if (!url) url = getenv("STATEMGR_URL");
    if (!url || !*url) url = SM_DEFAULT_URL;
    url_addr parsed; /* read here as the library reads it, to make it a usage error */
    char why[512];
    if (url_parse(url, URL_CONNECT, &parsed, why, sizeof why) != 0) return usage_error("%s", why);
    if (tls_key && !tls_cert) return usage_error("--tls-key needs --tls-cert");
    if (timeout_ms > 0) arm_timeout(timeout_ms);

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
  }

  rc = cmd->run(&ctx, nargs, args);
  sm_client_free(ctx.client);

  if (fflush(stdout) != 0 || ferror(stdout)) {
    if (errno != EPIPE) fprintf(stderr, "statemgr: write error: %s\n", strerror(errno));
    return CLI_EXIT_ERROR;
  }
  if (rc != SM_OK) {
    if (ctx.err[0]) fprintf(stderr, "statemgr: %s\n", ctx.err);
    return exit_code_for(rc);
  }
  return CLI_EXIT_OK;
}
