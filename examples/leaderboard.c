/* SPDX-License-Identifier: MIT */
/* leaderboard.c - a custom type in an embedded server, used from two
 * processes.
 *
 * The program embeds statemgr's server (statemgr_server.h) and registers
 * "topk", a bounded leaderboard: add(name, score), top(n) -> [[name,
 * score], ...], and wait_above(score), which parks until the board holds a
 * better score. A forked child connects as any client would and posts
 * scores; the parent waits for a score above 90, then prints the board.
 * Run ./build/examples/leaderboard; it needs no daemon. */
#define _POSIX_C_SOURCE 200809L
#include <statemgr_server.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TOPK_MAX 16
#define TOPK_WAITERS 16

/* ---- the type, as the server runs it (one thread: no locks) ---- */

typedef struct topk {
  size_t k, n;          /* capacity, entries */
  char *name[TOPK_MAX]; /* best first */
  int64_t score[TOPK_MAX];
  sm_pending *waiter[TOPK_WAITERS]; /* parked wait_above calls */
  int64_t above[TOPK_WAITERS];
  size_t nwait;
} topk;

static void *topk_create(const sm_value *const *args, size_t nargs, int *status) {
  int64_t k = nargs ? sm_value_as_int(args[0]) : 5;
  topk *t = k >= 1 && k <= TOPK_MAX ? calloc(1, sizeof *t) : NULL;
  if (!t)
    *status = SM_EVALUE;
  else
    t->k = (size_t)k;
  return t;
}

static void topk_destroy(void *state) { /* parked calls are the server's */
  topk *t = state;
  for (size_t i = 0; i < t->n; i++)
    free(t->name[i]);
  free(t);
}

/* [name, score] (caller frees). */
static sm_value *entry(const char *name, int64_t score) {
  sm_value *e = sm_value_list();
  sm_value_list_append(e, sm_value_str(name));
  sm_value_list_append(e, sm_value_int(score));
  return e;
}

/* add(name, score): keeps the k best, then wakes the waiters it beats. */
static int topk_add(sm_method_call *mc) {
  topk *t = sm_method_state(mc);
  const char *name = sm_value_as_str(sm_method_arg(mc, 0), NULL);
  const sm_value *sv = sm_method_arg(mc, 1);
  if (sm_method_nargs(mc) != 2 || !name || sm_value_type(sv) != SM_INT)
    return sm_method_fail(mc, SM_EVALUE, "add takes a name and an int score");
  int64_t score = sm_value_as_int(sv);
  size_t i = TOPK_MAX; /* where the score goes; TOPK_MAX: not on the board */
  if (t->n < t->k) {
    i = t->n++; /* a free slot at the end */
  } else if (score > t->score[t->k - 1]) {
    i = t->k - 1; /* takes the last one's place */
    free(t->name[i]);
  }
  if (i != TOPK_MAX) {
    for (; i > 0 && t->score[i - 1] < score; i--) { /* move up past worse scores */
      t->name[i] = t->name[i - 1];
      t->score[i] = t->score[i - 1];
    }
    t->name[i] = strdup(name);
    t->score[i] = score;
  }
  sm_value *e = entry(name, score);
  for (size_t w = 0; w < t->nwait;)
    if (score > t->above[w]) {
      sm_pending_answer(t->waiter[w], SM_OK, e); /* SM_ECLOSED: caller gone */
      t->waiter[w] = t->waiter[--t->nwait];
      t->above[w] = t->above[t->nwait];
    } else {
      w++;
    }
  sm_value_free(e);
  return SM_OK;
}

/* top(n) -> the n best as [[name, score], ...]. */
static int topk_top(sm_method_call *mc) {
  topk *t = sm_method_state(mc);
  int64_t n = sm_value_as_int(sm_method_arg(mc, 0));
  sm_value *l = sm_value_list();
  for (size_t i = 0; i < t->n && (int64_t)i < n; i++)
    sm_value_list_append(l, entry(t->name[i], t->score[i]));
  int rc = sm_method_reply(mc, l);
  sm_value_free(l);
  return rc;
}

/* wait_above(score) -> the first [name, score] better than score. */
static int topk_wait_above(sm_method_call *mc) {
  topk *t = sm_method_state(mc);
  int64_t above = sm_value_as_int(sm_method_arg(mc, 0));
  if (t->n > 0 && t->score[0] > above) {
    sm_value *e = entry(t->name[0], t->score[0]);
    int rc = sm_method_reply(mc, e);
    sm_value_free(e);
    return rc;
  }
  if (t->nwait == TOPK_WAITERS) return sm_method_fail(mc, SM_EFULL, "too many waiters");
  sm_pending *p = sm_method_park(mc);
  if (p) {
    t->waiter[t->nwait] = p;
    t->above[t->nwait++] = above;
  }
  return SM_PARKED;
}

static const sm_method_def topk_methods[] = {
    {"add", topk_add}, {"top", topk_top}, {"wait_above", topk_wait_above}};
static const sm_type_def topk_type = {.name = "topk",
                                      .create = topk_create,
                                      .destroy = topk_destroy,
                                      .methods = topk_methods,
                                      .n_methods = 3};

/* ---- the clients ---- */

static const char key[] = "leaderboard-example-key";

static void check(int rc, const char *what) {
  if (rc == SM_OK) return;
  fprintf(stderr, "%s: %s (%s)\n", what, sm_last_error(), sm_errname(rc));
  exit(1);
}

/* Connects to url and opens the shared board (k = 3). */
static sm_proxy *open_board(const char *url, sm_client **c) {
  sm_options *o = sm_options_new();
  check(sm_options_set_authkey(o, key, sizeof key - 1), "authkey");
  check(sm_connect(url, o, c), "connect");
  sm_options_free(o);
  sm_value *k = sm_value_int(3);
  sm_proxy *board;
  check(sm_proxy_open(*c, "topk", "board", k, &board), "open");
  sm_value_free(k);
  return board;
}

int main(void) {
  char dir[] = "/tmp/leaderboard.XXXXXX", url[64];
  if (!mkdtemp(dir)) return 1;
  snprintf(url, sizeof url, "unix:%s/sock", dir);
  sm_server_options *opts = sm_server_options_new();
  sm_server *s;
  check(sm_server_options_set_authkey(opts, key, sizeof key - 1), "server authkey");
  check(sm_server_options_set_log_level(opts, SM_LOG_WARN), "log level");
  check(sm_server_new(opts, &s), "server");
  sm_server_options_free(opts);
  check(sm_server_register_type(s, &topk_type), "register");
  check(sm_server_listen(s, url), "listen"); /* bound now: the child may connect */

  pid_t pid = fork();
  if (pid == 0) { /* another process: a plain client, no server code */
    sm_client *c;
    sm_proxy *board = open_board(url, &c);
    const char *names[] = {"ann", "bob", "cy", "dee", "eve"};
    const int64_t scores[] = {70, 85, 95, 60, 99};
    for (int i = 0; i < 5; i++) {
      sm_value *args[2] = {sm_value_str(names[i]), sm_value_int(scores[i])};
      check(sm_call(board, "add", (const sm_value *const *)args, 2, NULL), "add");
      sm_value_free(args[0]);
      sm_value_free(args[1]);
      nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    }
    sm_proxy_free(board);
    sm_client_free(c);
    _exit(0);
  }
  check(sm_server_run_thread(s), "run");
  sm_client *c;
  sm_proxy *board = open_board(url, &c);
  sm_value *ninety = sm_value_int(90), *three = sm_value_int(3), *r;
  check(sm_call(board, "wait_above", (const sm_value *const *)&ninety, 1, &r), "wait_above");
  char *text = sm_value_to_text(r);
  printf("first score above 90: %s\n", text);
  sm_free(text);
  sm_value_free(r);
  waitpid(pid, NULL, 0);
  check(sm_call(board, "top", (const sm_value *const *)&three, 1, &r), "top");
  text = sm_value_to_text(r);
  printf("top 3: %s\n", text);
  sm_free(text);
  sm_value_free(r);
  sm_value_free(ninety);
  sm_value_free(three);
  sm_proxy_free(board);
  sm_client_free(c);
  sm_server_free(s); /* stops and joins the server thread */
  rmdir(dir);
  return 0;
}
