/* SPDX-License-Identifier: MIT */
/* vocabulary.c - forked workers build one shared set of words.
 *
 * The C form of Python 3.14's `words = m.set()`: sm_manager_start() runs a
 * private statemgrd, each forked worker reads its share of the documents
 * and adds every word to the named set "vocabulary" in one atomic update
 * per document (a word that another worker added already is one element,
 * as in a Python set). The parent waits for them, then asks the daemon for
 * the words that are not stop words and whether the vocabulary covers a
 * query, without copying the set. Run ./build/examples/vocabulary (with
 * STATEMGRD=./build/statemgrd when statemgrd is neither beside it nor in
 * $PATH). */
#define _POSIX_C_SOURCE 200809L
#include <statemgr.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define N_DOCS 4
#define N_WORKERS 2

static const char *const docs[N_DOCS] = {
    "the cat sat on the mat",
    "a dog and a cat",
    "the dog sat",
    "on the mat a dog slept",
};

/* Exits with the library's explanation when a call failed. */
static void check(int rc, const char *what) {
  if (rc != SM_OK) {
    fprintf(stderr, "%s: %s (%s)\n", what, sm_last_error(), sm_errname(rc));
    exit(1);
  }
}

/* The words of text (split at spaces) as a list value (caller frees). */
static sm_value *words_of(const char *text) {
  sm_value *words = sm_value_list();
  const char *p = text;
  while (words && *p) {
    size_t n = strcspn(p, " ");
    if (n > 0 && sm_value_list_append(words, sm_value_strn(p, n)) != SM_OK) exit(1);
    p += n + (p[n] == ' ');
  }
  return words;
}

/* A worker: adds the words of documents w, w + N_WORKERS, ... */
static void worker(sm_set *vocabulary, int w) {
  for (int d = w; d < N_DOCS; d += N_WORKERS) {
    sm_value *words = words_of(docs[d]);
    check(sm_set_update(vocabulary, words), "update"); /* one call, all or nothing */
    sm_value_free(words);
  }
}

/* Prints the elements of list on one line. */
static void print_words(const char *label, const sm_value *list) {
  printf("%s:", label);
  for (size_t i = 0; i < sm_value_len(list); i++)
    printf(" %s", sm_value_as_str(sm_value_list_at(list, i), NULL));
  printf("\n");
}

int main(void) {
  sm_manager *m;
  check(sm_manager_start(NULL, &m), "start manager");
  sm_client *c = sm_manager_client(m);
  sm_set *vocabulary;
  check(sm_set_open(c, "vocabulary", &vocabulary), "open vocabulary");

  pid_t pids[N_WORKERS];
  for (int w = 0; w < N_WORKERS; w++) {
    if ((pids[w] = fork()) == 0) { /* the child uses the inherited client */
      worker(vocabulary, w);
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

  size_t n;
  check(sm_set_len(vocabulary, &n), "len");
  sm_value *stop = words_of("a and on the"), *content;
  check(sm_set_difference(vocabulary, stop, &content), "difference"); /* the set is unchanged */
  bool covered;
  sm_value *query = words_of("dog sat");
  check(sm_set_issuperset(vocabulary, query, &covered), "issuperset");
  printf("%zu distinct words in %d documents\n", n, N_DOCS);
  print_words("content words", content);
  printf("covers \"dog sat\": %s\n", covered ? "yes" : "no");
  sm_value_free(stop);
  sm_value_free(content);
  sm_value_free(query);
  sm_set_free(vocabulary);
  check(sm_manager_shutdown(m), "shutdown"); /* stops statemgrd, removes its socket */
  return 0;
}
