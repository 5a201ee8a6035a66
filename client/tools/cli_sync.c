/* SPDX-License-Identifier: MIT */
/* cli_sync.c - the `statemgr` CLI's commands on queues and synchronisation
 * objects: queue, event, lock, semaphore and barrier, each as `TYPE NAME OP
 * [ARGS]`.
 *
 * The operations that wait (queue put/get, event wait, semaphore acquire,
 * barrier wait) take `--timeout MS` after the command: the daemon parks the
 * call and ends it at that deadline (0: do not wait at all); without it they
 * wait for as long as it takes. A wait that ends without what it waited for
 * is CLI_EUNMET (exit 1), with a message; the daemon's own errors keep
 * their usual exit codes.
 *
 * A lock, like a semaphore unit, is held by the CLI's connection: it goes
 * back when the CLI exits, so it stays held between commands only in the
 * interactive mode (cli_repl.c), whose one connection lasts the session.
 *
 * Only `queue put`, `event set`, `event clear` and `lock acquire` create an
 * object under a new name; the others work on an existing one, so a typo cannot leave an
 * object behind (and a semaphore or barrier needs the initial value or the
 * party count its program gives). NAME may be a reference as the CLI prints
 * it ("<ref queue:23>"). */
#include "cli.h"

#include <stdio.h>
#include <string.h>

/* A usage error for the command name, whose synopsis is ops. */
static int op_usage(cli_ctx *ctx, const char *name, const char *ops) {
  return cli_fail(ctx, CLI_EUSAGE, "usage: statemgr %s NAME %s", name, ops);
}

/* A usage error when --timeout was given to an operation that never waits. */
static int check_no_wait(cli_ctx *ctx, const char *name, const char *op) {
  if (!ctx->wait_given) return SM_OK;
  return cli_fail(ctx, CLI_EUSAGE, "%s %s does not wait: --timeout is for the waiting operations",
                  name, op);
}

/* The deadline in words, for the messages of unmet waits. */
static const char *waited(const cli_ctx *ctx, char *buf, size_t len) {
  if (ctx->wait_ms < 0) return "";
  if (ctx->wait_ms == 0) return " (--timeout 0: no wait)";
  snprintf(buf, len, " for %lld ms", (long long)ctx->wait_ms);
  return buf;
}

/* ---- queue ----------------------------------------------------------- */

#define QUEUE_OPS "put VALUE... [--timeout MS] | get [--timeout MS] | qsize"

int cli_cmd_queue(cli_ctx *ctx, int argc, char **argv) {
  const char *name = argv[0], *op = argv[1];
  bool put = strcmp(op, "put") == 0, get = strcmp(op, "get") == 0, size = strcmp(op, "qsize") == 0;
  if (!(put && argc >= 3) && !(get && argc == 2) && !(size && argc == 2))
    return op_usage(ctx, "queue", QUEUE_OPS);
  if (size && check_no_wait(ctx, "queue", op) != SM_OK) return CLI_EUSAGE;

  sm_queue *q = NULL;
  char token[128], buf[64];
  int rc;
  if (put && !cli_is_ref(name)) {
    if ((rc = sm_queue_open(ctx->client, name, 0, &q)) != SM_OK) return cli_lib_fail(ctx, rc, name);
  } else {
    if ((rc = cli_find_typed(ctx, name, "queue", token, sizeof token)) != SM_OK) return rc;
    if ((rc = sm_queue_from_token(ctx->client, token, &q)) != SM_OK)
      return cli_lib_fail(ctx, rc, name);
  }
  if (put) {
    /* One put per value, in order; a full queue stops at the first value
     * that does not fit, and says how many went in. */
    int i;
    for (i = 2, rc = SM_OK; rc == SM_OK && i < argc; i++) {
      sm_value *v = cli_parse_arg(ctx, argv[i]);
      rc = v ? sm_queue_put(q, v, ctx->wait_ms) : cli_fail(ctx, SM_ENOMEM, "out of memory");
      sm_value_free(v);
    }
    if (rc == SM_EFULL || rc == SM_ETIMEOUT)
      rc = cli_fail(ctx, CLI_EUNMET, "queue '%s' stayed full%s (%d of %d values put)", name,
                    waited(ctx, buf, sizeof buf), i - 3, argc - 2);
    else if (rc != SM_OK && !ctx->err[0])
      cli_lib_fail(ctx, rc, "put");
  } else if (get) {
    sm_value *v = NULL;
    rc = sm_queue_get(q, ctx->wait_ms, &v);
    if (rc == SM_OK)
      rc = cli_print_value(ctx, v);
    else if (rc == SM_EEMPTY || rc == SM_ETIMEOUT)
      rc = cli_fail(ctx, CLI_EUNMET, "queue '%s' stayed empty%s", name,
                    waited(ctx, buf, sizeof buf));
    else
      cli_lib_fail(ctx, rc, "get");
    sm_value_free(v);
  } else {
    size_t n = 0;
    if ((rc = sm_queue_qsize(q, &n)) == SM_OK)
      rc = cli_print_owned(ctx, sm_value_int((int64_t)n));
    else
      cli_lib_fail(ctx, rc, "qsize");
  }
  sm_queue_free(q);
  return rc;
}

/* ---- event ----------------------------------------------------------- */

#define EVENT_OPS "set | clear | is_set | wait [--timeout MS]"

int cli_cmd_event(cli_ctx *ctx, int argc, char **argv) {
  const char *name = argv[0], *op = argv[1];
  bool set = strcmp(op, "set") == 0, clear = strcmp(op, "clear") == 0,
       is_set = strcmp(op, "is_set") == 0, wait = strcmp(op, "wait") == 0;
  if (argc != 2 || !(set || clear || is_set || wait)) return op_usage(ctx, "event", EVENT_OPS);
  if (!wait && check_no_wait(ctx, "event", op) != SM_OK) return CLI_EUSAGE;

  sm_event *e = NULL;
  char token[128], buf[64];
  int rc;
  if ((set || clear) && !cli_is_ref(name)) {
    if ((rc = sm_event_open(ctx->client, name, &e)) != SM_OK) return cli_lib_fail(ctx, rc, name);
  } else {
    if ((rc = cli_find_typed(ctx, name, "event", token, sizeof token)) != SM_OK) return rc;
    if ((rc = sm_event_from_token(ctx->client, token, &e)) != SM_OK)
      return cli_lib_fail(ctx, rc, name);
  }
  bool flag = false;
  if (set) {
    if ((rc = sm_event_set(e)) != SM_OK) cli_lib_fail(ctx, rc, "set");
  } else if (clear) {
    if ((rc = sm_event_clear(e)) != SM_OK) cli_lib_fail(ctx, rc, "clear");
  } else if (is_set) {
    if ((rc = sm_event_is_set(e, &flag)) == SM_OK)
      rc = cli_print_owned(ctx, sm_value_bool(flag));
    else
      cli_lib_fail(ctx, rc, "is_set");
  } else {
    if ((rc = sm_event_wait(e, ctx->wait_ms, &flag)) != SM_OK)
      cli_lib_fail(ctx, rc, "wait");
    else if (!flag)
      rc =
          cli_fail(ctx, CLI_EUNMET, "event '%s' was not set%s", name, waited(ctx, buf, sizeof buf));
    else
      rc = cli_print_owned(ctx, sm_value_bool(true));
  }
  sm_event_free(e);
  return rc;
}

/* ---- lock ------------------------------------------------------------ */

#define LOCK_OPS "acquire [release | break | keep] [--timeout MS] | release | locked"

int cli_cmd_lock(cli_ctx *ctx, int argc, char **argv) {
  const char *name = argv[0], *op = argv[1];
  bool acquire = strcmp(op, "acquire") == 0, release = strcmp(op, "release") == 0,
       locked = strcmp(op, "locked") == 0;
  /* acquire POLICY: the owner-death policy of a lock it creates */
  sm_owner_policy policy = SM_OWNER_RELEASE;
  if (argc == 3 && acquire) {
    static const char *const names[] = {"release", "break", "keep"};
    int p = 0;
    while (p < 3 && strcmp(argv[2], names[p]) != 0)
      p++;
    if (p == 3) return op_usage(ctx, "lock", LOCK_OPS);
    policy = (sm_owner_policy)p;
  } else if (argc != 2 || !(acquire || release || locked)) {
    return op_usage(ctx, "lock", LOCK_OPS);
  }
  if (!acquire && check_no_wait(ctx, "lock", op) != SM_OK) return CLI_EUSAGE;

  sm_lock *l = NULL;
  char token[128], buf[64];
  int rc;
  if (acquire && !cli_is_ref(name)) {
    if ((rc = sm_lock_open_policy(ctx->client, name, policy, &l)) != SM_OK)
      return cli_lib_fail(ctx, rc, name);
  } else {
    if ((rc = cli_find_typed(ctx, name, "lock", token, sizeof token)) != SM_OK) return rc;
    if ((rc = sm_lock_from_token(ctx->client, token, &l)) != SM_OK)
      return cli_lib_fail(ctx, rc, name);
  }
  if (acquire) {
    uint64_t tok = 0;
    rc = sm_lock_acquire_token(l, ctx->wait_ms, &tok);
    if (rc == SM_EOWNERDEAD) { /* held: the warning, then the token as usual */
      fprintf(stderr, "statemgr: lock '%s': %s\n", name, sm_last_error());
      rc = SM_OK;
    }
    if (rc == SM_ETIMEOUT)
      rc = cli_fail(ctx, CLI_EUNMET, "lock '%s' stayed held%s", name, waited(ctx, buf, sizeof buf));
    else if (rc != SM_OK)
      cli_lib_fail(ctx, rc, "acquire");
    else
      rc = cli_print_owned(ctx, sm_value_int((int64_t)tok));
  } else if (release) {
    if ((rc = sm_lock_release(l)) != SM_OK) cli_lib_fail(ctx, rc, "release");
  } else {
    bool held = false;
    if ((rc = sm_lock_locked(l, &held)) == SM_OK)
      rc = cli_print_owned(ctx, sm_value_bool(held));
    else
      cli_lib_fail(ctx, rc, "locked");
  }
  sm_lock_free(l);
  return rc;
}

/* ---- semaphore ------------------------------------------------------- */

#define SEMAPHORE_OPS "acquire [--timeout MS] | release [N] | value"

int cli_cmd_semaphore(cli_ctx *ctx, int argc, char **argv) {
  const char *name = argv[0], *op = argv[1];
  bool acquire = strcmp(op, "acquire") == 0, release = strcmp(op, "release") == 0,
       value = strcmp(op, "value") == 0;
  int64_t n = 1;
  if (!(acquire && argc == 2) && !(value && argc == 2) &&
      !(release && (argc == 2 || (argc == 3 && cli_parse_int(argv[2], &n)))))
    return op_usage(ctx, "semaphore", SEMAPHORE_OPS);
  if (!acquire && check_no_wait(ctx, "semaphore", op) != SM_OK) return CLI_EUSAGE;

  sm_semaphore *s = NULL;
  char token[128], buf[64];
  int rc;
  if ((rc = cli_find_typed(ctx, name, "semaphore", token, sizeof token)) != SM_OK) return rc;
  if ((rc = sm_semaphore_from_token(ctx->client, token, &s)) != SM_OK)
    return cli_lib_fail(ctx, rc, name);
  if (acquire) {
    /* With auto_release (the default) the unit comes back when the CLI's
     * connection closes, as it does for any program that exits. */
    rc = sm_semaphore_acquire(s, ctx->wait_ms);
    if (rc == SM_ETIMEOUT)
      rc = cli_fail(ctx, CLI_EUNMET, "semaphore '%s' had no free unit%s", name,
                    waited(ctx, buf, sizeof buf));
    else if (rc != SM_OK)
      cli_lib_fail(ctx, rc, "acquire");
  } else if (release) {
    if ((rc = sm_semaphore_release(s, n)) != SM_OK) cli_lib_fail(ctx, rc, "release");
  } else {
    int64_t units = 0;
    if ((rc = sm_semaphore_get_value(s, &units)) == SM_OK)
      rc = cli_print_owned(ctx, sm_value_int(units));
    else
      cli_lib_fail(ctx, rc, "value");
  }
  sm_semaphore_free(s);
  return rc;
}

/* ---- barrier --------------------------------------------------------- */

#define BARRIER_OPS "wait [--timeout MS] | parties | n_waiting | broken | abort | reset"

int cli_cmd_barrier(cli_ctx *ctx, int argc, char **argv) {
  static const char *const ops[] = {"wait", "parties", "n_waiting", "broken", "abort", "reset"};
  const char *name = argv[0], *op = argv[1];
  size_t which = sizeof ops / sizeof ops[0];
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    if (strcmp(op, ops[i]) == 0) which = i;
  if (argc != 2 || which == sizeof ops / sizeof ops[0])
    return op_usage(ctx, "barrier", BARRIER_OPS);
  if (which != 0 && check_no_wait(ctx, "barrier", op) != SM_OK) return CLI_EUSAGE;

  sm_barrier *b = NULL;
  char token[128];
  int rc;
  if ((rc = cli_find_typed(ctx, name, "barrier", token, sizeof token)) != SM_OK) return rc;
  if ((rc = sm_barrier_from_token(ctx->client, token, &b)) != SM_OK)
    return cli_lib_fail(ctx, rc, name);
  int64_t index = 0;
  size_t count = 0;
  bool flag = false;
  switch (which) {
  case 0:
    /* As Python's Barrier.wait: a deadline breaks the barrier for all. */
    rc = sm_barrier_wait(b, ctx->wait_ms, &index);
    if (rc == SM_OK)
      rc = cli_print_owned(ctx, sm_value_int(index));
    else if (rc == SM_EBROKEN)
      rc = cli_fail(ctx, CLI_EUNMET,
                    "barrier '%s' is broken (a wait's deadline passed, or abort or reset; "
                    "`statemgr barrier %s reset` makes it usable again)",
                    name, name);
    else
      cli_lib_fail(ctx, rc, "wait");
    break;
  case 1:
  case 2:
    rc = which == 1 ? sm_barrier_parties(b, &count) : sm_barrier_n_waiting(b, &count);
    if (rc == SM_OK)
      rc = cli_print_owned(ctx, sm_value_int((int64_t)count));
    else
      cli_lib_fail(ctx, rc, op);
    break;
  case 3:
    if ((rc = sm_barrier_broken(b, &flag)) == SM_OK)
      rc = cli_print_owned(ctx, sm_value_bool(flag));
    else
      cli_lib_fail(ctx, rc, op);
    break;
  default:
    rc = which == 4 ? sm_barrier_abort(b) : sm_barrier_reset(b);
    if (rc != SM_OK) cli_lib_fail(ctx, rc, op);
    break;
  }
  sm_barrier_free(b);
  return rc;
}
