/* SPDX-License-Identifier: MIT */
/* cli_admin.c - the operator's commands of the `statemgr` CLI: slowlog
 * (read, count or empty the daemon's slow-call log), config (read or
 * change a setting of the running daemon), clients (list the connections,
 * or close one), locks (the wait-for graph) and monitor (the live feed of calls, until Ctrl-C).
 * Texts that clients chose (object and client names) print escaped, as in ls. */
#include "../../proto/escape.h"
#include "cli.h"
#include "cli_out.h"

#include <signal.h>

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

/* Prints one connection of `clients` on a line of key=value fields, as
 * Redis's CLIENT LIST: id, addr, name, age and idle (seconds), session,
 * requests, refs, parked, then holds=TYPE:'NAME'xUNITS,... or holds=-. */
static void print_client(const sm_value *e) {
  char *peer = esc_dup(cli_map_str(e, "peer"));
  char *name = esc_dup(cli_map_str(e, "name"));
  printf("id=%" PRId64 " addr=%s name=%s age=%" PRId64 "s idle=%" PRId64 "s session=%" PRId64
         " requests=%" PRId64 " refs=%" PRId64 " parked=%" PRId64 " holds=",
         sm_value_as_int(cli_map_at(e, "id")), peer ? peer : "?", name ? name : "?",
         sm_value_as_int(cli_map_at(e, "age_ms")) / 1000,
         sm_value_as_int(cli_map_at(e, "idle_ms")) / 1000,
         sm_value_as_int(cli_map_at(e, "session")), sm_value_as_int(cli_map_at(e, "requests")),
         sm_value_as_int(cli_map_at(e, "refs")), sm_value_as_int(cli_map_at(e, "parked")));
  free(peer);
  free(name);
  const sm_value *holds = cli_map_at(e, "holds");
  size_t n = holds ? sm_value_len(holds) : 0;
  if (n == 0) fputs("-", stdout);
  for (size_t i = 0; i < n; i++) {
    const sm_value *h = sm_value_list_at(holds, i);
    char *type = esc_dup(cli_map_str(h, "type"));
    char *obj = esc_dup(cli_map_str(h, "name"));
    if (obj && *obj)
      printf("%s%s:'%s'x%" PRId64, i ? "," : "", type ? type : "?", obj,
             sm_value_as_int(cli_map_at(h, "units")));
    else
      printf("%s%s:#%" PRId64 "x%" PRId64, i ? "," : "", type ? type : "?",
             sm_value_as_int(cli_map_at(h, "object")), sm_value_as_int(cli_map_at(h, "units")));
    free(type);
    free(obj);
  }
  putchar('\n');
}

/* clients [kill ID] */
int cli_cmd_clients(cli_ctx *ctx, int argc, char **argv) {
  int rc;
  if (argc == 0) {
    sm_value *list = NULL;
    if ((rc = sm_clients(ctx->client, &list)) != SM_OK) return cli_lib_fail(ctx, rc, "clients");
    if (ctx->json) return cli_print_owned(ctx, list);
    for (size_t i = 0; i < sm_value_len(list); i++)
      print_client(sm_value_list_at(list, i));
    sm_value_free(list);
    return SM_OK;
  }
  int64_t id;
  if (argc != 2 || strcmp(argv[0], "kill") != 0 || !cli_parse_int(argv[1], &id) || id < 1)
    return cli_fail(ctx, CLI_EUSAGE, "clients takes no argument, or kill ID (an id it lists)");
  rc = sm_clients_kill(ctx->client, (uint64_t)id);
  return rc == SM_OK ? rc : cli_lib_fail(ctx, rc, "clients kill");
}

/* Prints one lock of the wait-for graph on a line:
 * TYPE 'NAME'|#ID token N [policy P] held by S xU [for MSms],... | free;
 * waiting: S MSms,... */
static void print_lock(const sm_value *e) {
  char *type = esc_dup(cli_map_str(e, "type"));
  char *name = esc_dup(cli_map_str(e, "name"));
  const char *policy = cli_map_str(e, "policy");
  if (name && *name)
    printf("%s '%s'", type ? type : "?", name);
  else
    printf("%s #%" PRId64, type ? type : "?", sm_value_as_int(cli_map_at(e, "object")));
  printf(" token %" PRId64, sm_value_as_int(cli_map_at(e, "token")));
  if (policy && *policy) printf(" policy %s", policy);
  const sm_value *holders = cli_map_at(e, "holders");
  size_t n = holders ? sm_value_len(holders) : 0;
  fputs(n ? " held by" : " free", stdout);
  for (size_t i = 0; i < n; i++) {
    const sm_value *h = sm_value_list_at(holders, i);
    char *client = esc_dup(cli_map_str(h, "client"));
    printf("%s session %" PRId64 "%s%s%s x%" PRId64, i ? "," : "",
           sm_value_as_int(cli_map_at(h, "session")), client && *client ? " (" : "",
           client ? client : "", client && *client ? ")" : "",
           sm_value_as_int(cli_map_at(h, "units")));
    const sm_value *held = cli_map_at(h, "held_ms"); /* absent: unknown (an older state) */
    if (held) printf(" for %" PRId64 "ms", sm_value_as_int(held));
    free(client);
  }
  const sm_value *waiters = cli_map_at(e, "waiters");
  n = waiters ? sm_value_len(waiters) : 0;
  fputs(n ? "; waiting:" : "; no waiters", stdout);
  for (size_t i = 0; i < n; i++) {
    const sm_value *w = sm_value_list_at(waiters, i);
    char *client = esc_dup(cli_map_str(w, "client"));
    printf("%s session %" PRId64 "%s%s%s %" PRId64 "ms", i ? "," : "",
           sm_value_as_int(cli_map_at(w, "session")), client && *client ? " (" : "",
           client ? client : "", client && *client ? ")" : "",
           sm_value_as_int(cli_map_at(w, "waited_ms")));
    free(client);
  }
  putchar('\n');
  free(type);
  free(name);
}

/* locks */
int cli_cmd_locks(cli_ctx *ctx, int argc, char **argv) {
  (void)argc;
  (void)argv;
  sm_value *list = NULL;
  int rc = sm_locks(ctx->client, &list);
  if (rc != SM_OK) return cli_lib_fail(ctx, rc, "locks");
  if (ctx->json) return cli_print_owned(ctx, list);
  for (size_t i = 0; i < sm_value_len(list); i++)
    print_lock(sm_value_list_at(list, i));
  sm_value_free(list);
  return SM_OK;
}

static volatile sig_atomic_t monitor_stop;

static void on_monitor_interrupt(int sig) {
  (void)sig;
  monitor_stop = 1;
}

/* Prints one call of the feed on a line:
 * TIME CLIENT PEER[ as NAME] TYPE.METHOD TARGET ARGS, TARGET being 'NAME',
 * #ID for an anonymous object, or - for the manager. */
static void print_call(const sm_value *e) {
  int64_t us = sm_value_as_int(cli_map_at(e, "time_us"));
  time_t t = (time_t)(us / 1000000);
  struct tm tm;
  char when[32] = "?";
  if (gmtime_r(&t, &tm)) strftime(when, sizeof when, "%H:%M:%S", &tm);
  char *peer = esc_dup(cli_map_str(e, "peer"));
  char *client = esc_dup(cli_map_str(e, "client_name"));
  char *name = esc_dup(cli_map_str(e, "name"));
  char *type = esc_dup(cli_map_str(e, "type"));
  char *method = esc_dup(cli_map_str(e, "method"));
  const char *args = cli_map_str(e, "args"); /* escaped by the daemon */
  int64_t object = sm_value_as_int(cli_map_at(e, "object"));
  char target[80];
  if (name && *name)
    snprintf(target, sizeof target, "'%s'", name);
  else if (object)
    snprintf(target, sizeof target, "#%" PRId64, object);
  else
    snprintf(target, sizeof target, "-");
  printf("%s.%06" PRId64 " %" PRId64 " %s%s%s %s.%s %s%s%s\n", when, us % 1000000,
         sm_value_as_int(cli_map_at(e, "client")), peer ? peer : "?",
         client && *client ? " as " : "", client ? client : "", type ? type : "?",
         method ? method : "?", target, *args ? " " : "", args);
  free(peer);
  free(client);
  free(name);
  free(type);
  free(method);
}

/* monitor: asks the daemon for the calls after its cursor, a second's wait
 * at a time, until Ctrl-C (then exit 0). */
int cli_cmd_monitor(cli_ctx *ctx, int argc, char **argv) {
  (void)argc, (void)argv;
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_monitor_interrupt;
  sa.sa_flags = SA_RESTART; /* the library's reads resume; the flag is read between calls */
  sigemptyset(&sa.sa_mask);
  monitor_stop = 0;
  sigaction(SIGINT, &sa, &old);
  uint64_t cursor = 0, next = 0, missed = 0;
  int rc = SM_OK;
  bool first = true;
  while (!monitor_stop) {
    sm_value *calls = NULL;
    rc = sm_monitor(ctx->client, cursor, first ? 0 : 1000, &next, &missed, &calls);
    if (rc != SM_OK) {
      rc = cli_lib_fail(ctx, rc, "monitor");
      break;
    }
    if (first && !ctx->json)
      printf("OK: watching the calls of %s (Ctrl-C stops)\n", sm_client_url(ctx->client));
    first = false;
    if (missed) {
      if (ctx->json)
        printf("{\"missed\": %" PRIu64 "}\n", missed);
      else
        printf("(%" PRIu64 " calls missed: the daemon's ring of recent calls wrapped)\n", missed);
    }
    for (size_t i = 0; i < sm_value_len(calls); i++) {
      const sm_value *e = sm_value_list_at(calls, i);
      if (ctx->json) {
        if (out_json(stdout, e) != SM_OK) rc = cli_fail(ctx, SM_ENOMEM, "out of memory");
        putchar('\n');
      } else {
        print_call(e);
      }
    }
    sm_value_free(calls);
    if (fflush(stdout) != 0 || rc != SM_OK) break; /* a closed pipe ends the feed */
    cursor = next;
  }
  sigaction(SIGINT, &old, NULL);
  ctx->printed = ctx->json; /* a stream of documents, not one */
  return rc;
}
