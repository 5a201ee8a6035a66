/* SPDX-License-Identifier: MIT */
/* cli_repl.c - the interactive mode of the `statemgr` CLI, as redis-cli's:
 * run without a command on a terminal, it reads command lines at a prompt
 * naming the daemon and runs each with cli_run() over one connection for
 * the whole session, so what that connection holds (a lock, semaphore
 * units) stays held from one command to the next until released or the
 * session ends. An error prints and the prompt comes back.
 *
 * Lines are split as a shell splits them: blanks separate words, '...'
 * quotes literally, "..." quotes with \" and \\ escapes, and a backslash
 * outside quotes takes the next character as it is. With libedit
 * (SM_HAVE_EDITLINE, found by CMake) the line can be edited, Tab completes
 * command names and, after a command that takes an object, the names of
 * the daemon's objects (the first page of ls_scan: one round trip), and
 * the history is kept in ~/.statemgr/cli_history (mode 0600, the last
 * REPL_HISTORY_MAX lines). Without it, lines are read plainly and the
 * history file is still appended to. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef SM_HAVE_EDITLINE
#include <editline/readline.h>
#endif

#define REPL_HISTORY_MAX 1000 /* lines kept in the history file */
#define REPL_MAX_WORDS 256
#define REPL_COMPLETE_NAMES 1000 /* object names fetched for completion */

/* ---- splitting a line ------------------------------------------------ */

/* Splits line into words (new strings in words[], *n of them), the way a
 * shell does. Returns 0, or -1 with why set (an unbalanced quote, too many
 * words, out of memory); the words made so far are freed either way by the
 * caller (free_words). */
static int split_line(const char *line, char **words, int *n, const char **why) {
  size_t len = strlen(line);
  *n = 0;
  const char *p = line;
  while (*p) {
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
      p++;
    if (!*p) break;
    if (*n >= REPL_MAX_WORDS) return *why = "too many words on one line", -1;
    char *w = malloc(len + 1), *o = w;
    if (!w) return *why = "out of memory", -1;
    words[(*n)++] = w;
    while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
      if (*p == '\'') {
        for (p++; *p && *p != '\''; p++)
          *o++ = *p;
        if (!*p) return *why = "a ' quote is not closed", -1;
        p++;
      } else if (*p == '"') {
        for (p++; *p && *p != '"'; p++) {
          if (*p == '\\' && (p[1] == '"' || p[1] == '\\')) p++;
          *o++ = *p;
        }
        if (!*p) return *why = "a \" quote is not closed", -1;
        p++;
      } else if (*p == '\\' && p[1]) {
        *o++ = p[1];
        p += 2;
      } else {
        *o++ = *p++;
      }
    }
    *o = '\0';
  }
  return 0;
}

static void free_words(char **words, int n) {
  for (int i = 0; i < n; i++)
    free(words[i]);
}

/* ---- history --------------------------------------------------------- */

/* Writes ~/.statemgr/cli_history's path into buf, making the directory
 * (0700) and the file (0600) when missing. Returns false without a home
 * or when they cannot be made (the session then keeps no history). */
static bool history_path(char *buf, size_t len) {
  const char *home = getenv("HOME");
  if (!home || !*home) return false;
  int w = snprintf(buf, len, "%s/.statemgr", home);
  if (w < 0 || (size_t)w >= len) return false;
  if (mkdir(buf, 0700) != 0 && errno != EEXIST) return false;
  w = snprintf(buf, len, "%s/.statemgr/cli_history", home);
  if (w < 0 || (size_t)w >= len) return false;
  int fd = open(buf, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool ok = fchmod(fd, 0600) == 0; /* lines may hold values: owner only */
  close(fd);
  return ok;
}

#ifndef SM_HAVE_EDITLINE
/* Appends line to the history file. */
static void history_append(const char *path, const char *line) {
  FILE *f = fopen(path, "a");
  if (!f) return;
  fprintf(f, "%s\n", line);
  fclose(f);
}
#endif

/* ---- completion ------------------------------------------------------ */

#ifdef SM_HAVE_EDITLINE
static sm_client *complete_client; /* the session's: completion asks it for names */
static sm_value *complete_names;   /* the page of names being offered */

/* Offers the command names (and quit, exit) starting with text. */
static char *command_gen(const char *text, int state) {
  static size_t i;
  static const char *const extra[] = {"quit", "exit"};
  size_t n = strlen(text);
  if (state == 0) i = 0;
  for (;;) {
    const char *name = cli_command_name(i);
    if (!name) { /* past the table: quit and exit */
      size_t k = 0;
      while (cli_command_name(k))
        k++;
      if (i - k >= sizeof extra / sizeof extra[0]) return NULL;
      name = extra[i - k];
    }
    i++;
    if (strncmp(name, text, n) == 0) return strdup(name);
  }
}

/* Offers the daemon's object names starting with text. */
static char *name_gen(const char *text, int state) {
  static size_t i;
  size_t n = strlen(text);
  if (state == 0) {
    i = 0;
    sm_value_free(complete_names);
    complete_names = NULL;
    uint64_t next = 0;
    if (sm_ls_scan(complete_client, NULL, 0, REPL_COMPLETE_NAMES, &next, &complete_names) != SM_OK)
      complete_names = NULL;
  }
  while (complete_names && i < sm_value_len(complete_names)) {
    const char *name = cli_map_str(sm_value_list_at(complete_names, i++), "name");
    if (strncmp(name, text, n) == 0) return strdup(name);
  }
  return NULL;
}

/* True when command name's first operand is an object: NAME, DICT, LIST. */
static bool takes_object(const char *name) {
  const char *args = cli_command_args(name);
  return args && (strncmp(args, "NAME", 4) == 0 || strncmp(args, "DICT", 4) == 0 ||
                  strncmp(args, "LIST", 4) == 0);
}

/* readline's hook: the first word is a command; the second a command
 * (after help) or an object name (after a command on an object). */
static char **complete(const char *text, int start, int end) {
  (void)end;
  rl_attempted_completion_over = 1; /* never file names */
  char first[64] = "";
  int words = 0;
  for (int i = 0; i < start;) {
    while (i < start && rl_line_buffer[i] == ' ')
      i++;
    if (i >= start) break;
    int b = i;
    while (i < start && rl_line_buffer[i] != ' ')
      i++;
    if (words == 0 && (size_t)(i - b) < sizeof first) {
      memcpy(first, rl_line_buffer + b, (size_t)(i - b));
      first[i - b] = '\0';
    }
    words++;
  }
  if (words == 0) return rl_completion_matches(text, command_gen);
  if (words == 1 && strcmp(first, "help") == 0) return rl_completion_matches(text, command_gen);
  if (words == 1 && takes_object(first)) return rl_completion_matches(text, name_gen);
  return NULL;
}
#endif

/* ---- the loop -------------------------------------------------------- */

/* Prints `help`: the interactive mode's own lines, then the full help. */
static void print_repl_help(void) {
  printf("Interactive mode: type a command as after `statemgr` on a shell (quote a\n"
         "value with spaces: set d k \"two words\"); `help COMMAND` for one command;\n"
         "quit or exit (or Ctrl-D) to leave. One connection serves the whole session:\n"
         "a lock taken with `lock NAME acquire` (or semaphore units) stays held until\n"
         "`lock NAME release` or the end of the session. Ctrl-C stops `monitor`.\n\n");
  cli_print_help();
}

/* Reads the next line (a new string, caller frees with free()), or NULL at
 * the end of input. */
static char *read_line(const char *prompt) {
#ifdef SM_HAVE_EDITLINE
  return readline(prompt);
#else
  fputs(prompt, stdout);
  fflush(stdout);
  char *line = NULL;
  size_t cap = 0;
  ssize_t n = getline(&line, &cap, stdin);
  if (n < 0) {
    free(line);
    return NULL;
  }
  if (n > 0 && line[n - 1] == '\n') line[n - 1] = '\0';
  return line;
#endif
}

int cli_repl(const cli_ctx *base) {
  char prompt[600], hist[4096];
  snprintf(prompt, sizeof prompt, "%s> ", sm_client_url(base->client));
  bool keep = history_path(hist, sizeof hist);
#ifdef SM_HAVE_EDITLINE
  rl_readline_name = "statemgr";
  rl_attempted_completion_function = complete;
  complete_client = base->client;
  stifle_history(REPL_HISTORY_MAX);
  if (keep) read_history(hist);
#endif
  char *line;
  while ((line = read_line(prompt)) != NULL) {
    char *words[REPL_MAX_WORDS];
    int n = 0;
    const char *why = NULL;
    if (split_line(line, words, &n, &why) != 0) {
      fprintf(stderr, "statemgr: %s\n", why);
    } else if (n > 0) {
#ifdef SM_HAVE_EDITLINE
      add_history(line);
      /* the whole (stifled) history each time: libedit's append_history
       * does not add to a file in its own format, and a session that is
       * killed keeps what it typed */
      if (keep) write_history(hist);
#else
      if (keep) history_append(hist, line);
#endif
      if (strcmp(words[0], "quit") == 0 || strcmp(words[0], "exit") == 0) {
        free_words(words, n);
        free(line);
        break;
      }
      if (strcmp(words[0], "help") == 0 && n == 1) {
        print_repl_help();
      } else {
        cli_ctx one = *base; /* the session's options, fresh per command */
        one.err[0] = '\0';
        one.printed = false;
        cli_run(&one, n, words);
      }
    }
    free_words(words, n);
    free(line);
    fflush(stdout);
  }
  if (!line) putchar('\n'); /* Ctrl-D: leave the shell's prompt on a line of its own */
#ifdef SM_HAVE_EDITLINE
  sm_value_free(complete_names);
  complete_names = NULL;
#endif
  return 0;
}
