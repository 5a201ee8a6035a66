/* SPDX-License-Identifier: MIT */
/* cli_txn.c - the CLI's txn and watch commands (sm_txn_*, sm_watch).
 *
 *   statemgr txn [if COND [and COND]...] then CALL [and CALL]... [else CALL [and CALL]...]
 *
 * A COND is one of: exists NAME KEY | absent NAME KEY | equals NAME KEY V |
 * compare NAME KEY OP V | size NAME OP N | held NAME TOKEN | is_set NAME |
 * rev NAME OP N, with KEY "-" for a value object's whole value. A CALL is
 * NAME METHOD [ARG...]. Objects must exist (a transaction creates
 * nothing). Keys, values and arguments are typed as everywhere in the CLI.
 * The words if, then, else and and separate the parts; a value spelled
 * like one of them is quoted ('"and"'). It prints "then" or "else", then
 * one line per call: its result ("error: CODE: text" only from a daemon
 * before all-or-nothing transactions: now a call failing fails the whole
 * command, nothing applied). Exit 0 when the then-list ran, 1 when the
 * else-list did.
 *
 *   statemgr watch NAME [KEY] [--count N] [--timeout MS]
 *
 * prints every change of NAME (of its KEY) from now on, one line each:
 * "REV KIND KEY VALUE" ("REV del KEY" for a delete), until N changes were printed or no change came
 * for MS milliseconds (exit 1). --json: one JSON document a change. */
#include "cli.h"
#include "cli_out.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The comparison operators as the CLI spells them. */
static int parse_cmp(const char *s, sm_cmp *op) {
  static const char *const names[] = {"==", "!=", "<", "<=", ">", ">="};
  for (int i = 0; i < 6; i++)
    if (strcmp(s, names[i]) == 0) {
      *op = (sm_cmp)i;
      return SM_OK;
    }
  return CLI_EUSAGE;
}

/* A generic proxy of the existing object name (caller frees). */
static int open_named(cli_ctx *ctx, const char *name, sm_proxy **out) {
  char type[64], token[128];
  int rc = cli_find_object(ctx, name, type, sizeof type, token, sizeof token);
  if (rc != SM_OK) return rc;
  rc = sm_proxy_from_token(ctx->client, token, out);
  return rc == SM_OK ? rc : cli_lib_fail(ctx, rc, name);
}

/* The proxies opened for one command, freed together. */
typedef struct opened {
  sm_proxy *p[64];
  size_t n;
} opened;

static int open_kept(cli_ctx *ctx, opened *o, const char *name, sm_proxy **out) {
  if (o->n == sizeof o->p / sizeof o->p[0])
    return cli_fail(ctx, CLI_EUSAGE, "too many objects in one transaction");
  int rc = open_named(ctx, name, out);
  if (rc == SM_OK) o->p[o->n++] = *out;
  return rc;
}

static bool is_word(const char *s, const char *w) { return strcmp(s, w) == 0; }

static int txn_usage(cli_ctx *ctx, const char *why) {
  return cli_fail(ctx, CLI_EUSAGE,
                  "%s; usage: statemgr txn [if COND [and COND]...] then CALL [and CALL]... "
                  "[else CALL [and CALL]...]",
                  why);
}

/* Adds the condition in words w[0..n) to t. */
static int add_cond(cli_ctx *ctx, opened *o, sm_txn *t, char **w, int n) {
  const char *kind = w[0];
  int want = is_word(kind, "is_set")                                                       ? 2
             : is_word(kind, "exists") || is_word(kind, "absent") || is_word(kind, "held") ? 3
             : is_word(kind, "equals") || is_word(kind, "size") || is_word(kind, "rev")    ? 4
             : is_word(kind, "compare")                                                    ? 5
                                                                                           : 0;
  if (want == 0) return txn_usage(ctx, "unknown condition");
  if (n != want) return txn_usage(ctx, "a condition has the wrong number of words");
  sm_proxy *p;
  int rc = open_kept(ctx, o, w[1], &p);
  if (rc != SM_OK) return rc;
  sm_value *key = NULL, *v = NULL;
  if (want >= 3 && !is_word(kind, "size") && !is_word(kind, "rev") && !is_word(kind, "held") &&
      !is_word(w[2], "-") && !(key = cli_parse_arg(ctx, w[2])))
    return cli_fail(ctx, SM_ENOMEM, "out of memory");
  sm_cmp op = SM_CMP_EQ;
  int64_t num = 0;
  if (is_word(kind, "exists")) {
    rc = sm_txn_if_exists(t, p, key);
  } else if (is_word(kind, "absent")) {
    rc = sm_txn_if_absent(t, p, key);
  } else if (is_word(kind, "equals") || is_word(kind, "compare")) {
    bool eq = is_word(kind, "equals");
    if (!eq && parse_cmp(w[3], &op) != SM_OK) {
      sm_value_free(key);
      return txn_usage(ctx, "an operator is one of == != < <= > >=");
    }
    if (!(v = cli_parse_arg(ctx, w[eq ? 3 : 4]))) rc = cli_fail(ctx, SM_ENOMEM, "out of memory");
    if (rc == SM_OK) rc = sm_txn_if_compare(t, p, key, op, v);
  } else if (is_word(kind, "size") || is_word(kind, "rev")) {
    if (parse_cmp(w[2], &op) != SM_OK || !cli_parse_int(w[3], &num))
      return txn_usage(ctx, "size and rev take an operator and a number");
    rc = is_word(kind, "size") ? sm_txn_if_size(t, p, op, num)
                               : sm_txn_if_rev(t, p, op, (uint64_t)(num < 0 ? 0 : num));
  } else if (is_word(kind, "held")) {
    if (!cli_parse_int(w[2], &num) || num < 0) return txn_usage(ctx, "held takes a token >= 0");
    rc = sm_txn_if_held(t, p, (uint64_t)num);
  } else {
    rc = sm_txn_if_set(t, p);
  }
  sm_value_free(key);
  sm_value_free(v);
  return rc == SM_OK || rc == CLI_EUSAGE ? rc : cli_lib_fail(ctx, rc, kind);
}

/* Adds the call in words w[0..n) to t's then- or else-list. */
static int add_call(cli_ctx *ctx, opened *o, sm_txn *t, bool then, char **w, int n) {
  if (n < 2) return txn_usage(ctx, "a call is NAME METHOD [ARG...]");
  sm_proxy *p;
  int rc = open_kept(ctx, o, w[0], &p);
  if (rc != SM_OK) return rc;
  int nargs = n - 2;
  sm_value **args = calloc((size_t)(nargs ? nargs : 1), sizeof *args);
  if (!args) return cli_fail(ctx, SM_ENOMEM, "out of memory");
  for (int i = 0; i < nargs && rc == SM_OK; i++)
    if (!(args[i] = cli_parse_arg(ctx, w[2 + i]))) rc = cli_fail(ctx, SM_ENOMEM, "out of memory");
  if (rc == SM_OK) {
    const sm_value *const *a = (const sm_value *const *)args;
    rc = then ? sm_txn_then(t, p, w[1], a, (size_t)nargs)
              : sm_txn_else(t, p, w[1], a, (size_t)nargs);
    if (rc != SM_OK) cli_lib_fail(ctx, rc, w[1]);
  }
  for (int i = 0; i < nargs; i++)
    sm_value_free(args[i]);
  free(args);
  return rc;
}

/* Prints the outcome: plain lines, or one JSON document
 * {"succeeded": bool, "results": [[code, value], ...]}. */
static int print_outcome(cli_ctx *ctx, sm_txn *t, bool ok) {
  if (ctx->json) {
    sm_value *doc = sm_value_map(), *results = sm_value_list();
    int rc = doc && results ? SM_OK : SM_ENOMEM;
    for (size_t i = 0; rc == SM_OK && i < sm_txn_count(t); i++) {
      const sm_value *v = NULL;
      int code = sm_txn_result(t, i, &v);
      sm_value *pair = sm_value_list();
      if (sm_value_list_append(pair, sm_value_int(code)) != SM_OK ||
          sm_value_list_append(pair, v ? sm_value_copy(v) : sm_value_nil()) != SM_OK ||
          sm_value_list_append(results, pair) != SM_OK)
        rc = SM_ENOMEM;
    }
    if (rc == SM_OK && (sm_value_map_set(doc, sm_value_str("succeeded"), sm_value_bool(ok)) ||
                        sm_value_map_set(doc, sm_value_str("results"), results)))
      rc = SM_ENOMEM;
    else if (rc != SM_OK)
      sm_value_free(results);
    if (rc != SM_OK) {
      sm_value_free(doc);
      return cli_fail(ctx, SM_ENOMEM, "out of memory");
    }
    return cli_print_owned(ctx, doc);
  }
  puts(ok ? "then" : "else");
  for (size_t i = 0; i < sm_txn_count(t); i++) {
    const sm_value *v = NULL;
    int code = sm_txn_result(t, i, &v);
    if (code == SM_OK) {
      int rc = cli_print_value(ctx, v);
      if (rc != SM_OK) return rc;
    } else {
      printf("error: %s: %s\n", sm_errname(code),
             sm_value_as_str(v, NULL) ? sm_value_as_str(v, NULL) : "");
    }
  }
  return SM_OK;
}

int cli_cmd_txn(cli_ctx *ctx, int argc, char **argv) {
  sm_txn *t = NULL;
  opened o = {.n = 0};
  int rc = sm_txn_new(ctx->client, &t);
  if (rc != SM_OK) return cli_lib_fail(ctx, rc, "txn");
  enum { NONE, IF, THEN, ELSE } part = NONE;
  bool saw_then = false;
  int start = 0;
  for (int i = 0; i <= argc && rc == SM_OK; i++) {
    const char *w = i < argc ? argv[i] : NULL;
    bool sep =
        !w || is_word(w, "if") || is_word(w, "then") || is_word(w, "else") || is_word(w, "and");
    if (!sep) continue;
    int n = i - start;
    if (part == NONE && n > 0)
      rc = txn_usage(ctx, "it starts with if or then");
    else if (part != NONE && n == 0)
      rc = txn_usage(ctx, "an empty condition or call");
    else if (part == IF)
      rc = add_cond(ctx, &o, t, argv + start, n);
    else if (part != NONE)
      rc = add_call(ctx, &o, t, part == THEN, argv + start, n);
    if (rc != SM_OK || !w) break;
    if (is_word(w, "if")) {
      if (part != NONE) rc = txn_usage(ctx, "if comes first, once");
      part = IF;
    } else if (is_word(w, "then")) {
      if (part != NONE && part != IF) rc = txn_usage(ctx, "then comes once, after the conditions");
      part = THEN;
      saw_then = true;
    } else if (is_word(w, "else")) {
      if (part != THEN) rc = txn_usage(ctx, "else comes after then");
      part = ELSE;
    } else if (part == NONE) {
      rc = txn_usage(ctx, "and joins conditions or calls");
    }
    start = i + 1;
  }
  if (rc == SM_OK && !saw_then) rc = txn_usage(ctx, "no then");
  bool ok = false;
  if (rc == SM_OK) {
    rc = sm_txn_commit(t, &ok);
    if (rc != SM_OK)
      cli_lib_fail(ctx, rc, "txn");
    else
      rc = print_outcome(ctx, t, ok);
    if (rc == SM_OK && !ok)
      rc = cli_fail(ctx, CLI_EUNMET, "the conditions did not hold: the else-calls ran");
  }
  sm_txn_free(t);
  for (size_t i = 0; i < o.n; i++)
    sm_proxy_free(o.p[i]);
  return rc;
}

/* Prints one change: "REV KIND KEY VALUE" (KEY - for none), or its JSON. */
static int print_event(cli_ctx *ctx, const sm_value *ev) {
  if (ctx->json) {
    int rc = out_json(stdout, ev);
    putchar('\n');
    return rc == SM_OK ? SM_OK : cli_fail(ctx, SM_ENOMEM, "out of memory");
  }
  const sm_value *key = sm_value_list_at(ev, 2);
  char *k = sm_value_type(key) == SM_NIL ? NULL : out_plain_key(key);
  char *v = out_plain(sm_value_list_at(ev, 3));
  const char *kind = sm_value_as_str(sm_value_list_at(ev, 1), NULL);
  if (strcmp(kind, "del") == 0) /* no value */
    printf("%" PRId64 " del %s\n", sm_value_as_int(sm_value_list_at(ev, 0)), k ? k : "-");
  else
    printf("%" PRId64 " %s %s %s\n", sm_value_as_int(sm_value_list_at(ev, 0)), kind, k ? k : "-",
           v ? v : "?");
  free(k);
  free(v);
  return SM_OK;
}

int cli_cmd_watch(cli_ctx *ctx, int argc, char **argv) {
  sm_proxy *p = NULL;
  int rc = open_named(ctx, argv[0], &p);
  if (rc != SM_OK) return rc;
  sm_value *key = argc == 2 ? cli_parse_arg(ctx, argv[1]) : NULL;
  uint64_t rev = 0;
  if (argc == 2 && !key) rc = cli_fail(ctx, SM_ENOMEM, "out of memory");
  if (rc == SM_OK && (rc = sm_rev(p, &rev)) != SM_OK) cli_lib_fail(ctx, rc, "rev");
  size_t printed = 0;
  while (rc == SM_OK && (ctx->count == 0 || printed < ctx->count)) {
    sm_value *events = NULL;
    rc = sm_watch(p, rev, key, ctx->wait_ms, &events, &rev);
    if (rc == SM_ETIMEOUT) {
      rc = cli_fail(ctx, CLI_EUNMET, "no change of '%s' in %" PRId64 " ms", argv[0], ctx->wait_ms);
      break;
    }
    if (rc != SM_OK) {
      cli_lib_fail(ctx, rc, "watch");
      break;
    }
    if (!events) { /* fell behind the kept changes: say so, go on from now */
      if (!ctx->json) printf("(changes missed: watching again from revision %" PRIu64 ")\n", rev);
      continue;
    }
    for (size_t i = 0; i < sm_value_len(events) && rc == SM_OK; i++)
      if ((rc = print_event(ctx, sm_value_list_at(events, i))) == SM_OK) printed++;
    sm_value_free(events);
    if (fflush(stdout) != 0) break; /* a closed pipe ends the feed */
  }
  ctx->printed = ctx->json; /* a stream of documents, not one */
  sm_value_free(key);
  sm_proxy_free(p);
  return rc;
}
