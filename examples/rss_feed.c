/* SPDX-License-Identifier: MIT */
/* rss_feed.c - workers fill a shared dict of lists through a private manager.
 *
 * The C form of Python's `with Manager() as m: feeds = m.dict()` pattern:
 * sm_manager_start() runs a private statemgrd (no setup, no authkey file),
 * the parent makes a named dict "feeds" that maps each feed URL to a shared
 * list (a nested proxy, stored as a ref), and forked workers each fetch
 * their share of the feeds (fake items here: no network) and append them to
 * the feed's list. The parent waits for them and prints the totals. Run
 * ./build/examples/rss_feed (with STATEMGRD=./build/statemgrd when
 * statemgrd is neither beside it nor in $PATH). */
#define _POSIX_C_SOURCE 200809L
#include <statemgr.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define N_FEEDS 6
#define N_WORKERS 3

static const char *const feed_urls[N_FEEDS] = {
    "https://example.org/news.rss",   "https://example.org/sport.rss",
    "https://example.org/tech.rss",   "https://example.org/science.rss",
    "https://example.org/travel.rss", "https://example.org/food.rss"};

/* Exits with the library's explanation when a call failed. */
static void check(int rc, const char *what) {
  if (rc != SM_OK) {
    fprintf(stderr, "%s: %s (%s)\n", what, sm_last_error(), sm_errname(rc));
    exit(1);
  }
}

/* Opens the shared list stored under url in feeds (caller frees). */
static sm_list *feed_list(sm_client *c, sm_dict *feeds, const char *url) {
  sm_value *key = sm_value_str(url), *ref = NULL;
  sm_list *items;
  check(sm_dict_get(feeds, key, &ref), "get feed");
  check(sm_list_from_ref(c, ref, &items), "open feed list");
  sm_value_free(key);
  sm_value_free(ref);
  return items;
}

/* A worker: "fetches" feeds w, w + N_WORKERS, ... and stores their items. */
static void worker(sm_client *c, sm_dict *feeds, int w) {
  for (int f = w; f < N_FEEDS; f += N_WORKERS) {
    sm_list *items = feed_list(c, feeds, feed_urls[f]);
    for (int i = 0; i < 3 + f; i++) { /* each feed has its own length */
      char title[96];
      snprintf(title, sizeof title, "item %d of %s (worker pid %d)", i, feed_urls[f],
               (int)getpid());
      check(sm_list_append_str(items, title), "append");
    }
    sm_list_free(items);
  }
}

int main(void) {
  sm_manager *m;
  check(sm_manager_start(NULL, &m), "start manager");
  sm_client *c = sm_manager_client(m);
  sm_dict *feeds;
  check(sm_dict_open(c, "feeds", &feeds), "open feeds");
  for (int f = 0; f < N_FEEDS; f++) { /* feeds[url] = an empty shared list */
    sm_list *items;
    check(sm_list_open(c, NULL, &items), "new list");
    sm_value *key = sm_value_str(feed_urls[f]), *ref = sm_proxy_ref(sm_list_proxy(items));
    check(sm_dict_set(feeds, key, ref), "set feed"); /* the stored ref keeps the list alive */
    sm_value_free(key);
    sm_value_free(ref);
    sm_list_free(items);
  }

  pid_t pids[N_WORKERS];
  for (int w = 0; w < N_WORKERS; w++) {
    if ((pids[w] = fork()) == 0) { /* the child uses the inherited client */
      worker(c, feeds, w);
      _exit(0);
    }
  }
  for (int w = 0; w < N_WORKERS; w++) {
    int st;
    if (pids[w] < 0 || waitpid(pids[w], &st, 0) != pids[w] || st != 0) {
      fprintf(stderr, "worker %d failed\n", w);
      return 1;
    }
  }

  size_t total = 0;
  for (int f = 0; f < N_FEEDS; f++) {
    sm_list *items = feed_list(c, feeds, feed_urls[f]);
    size_t n;
    char *first;
    check(sm_list_len(items, &n), "len");
    check(sm_list_get_str(items, 0, &first), "get");
    printf("%-32s %2zu items, first: %s\n", feed_urls[f], n, first);
    total += n;
    sm_free(first);
    sm_list_free(items);
  }
  printf("%zu items from %d feeds, fetched by %d workers\n", total, N_FEEDS, N_WORKERS);
  sm_dict_free(feeds);
  check(sm_manager_shutdown(m), "shutdown"); /* stops statemgrd, removes its socket */
  return 0;
}
