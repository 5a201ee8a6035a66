/* SPDX-License-Identifier: MIT */
/* check_escape.c - names chosen by clients cannot forge log lines or table
 * rows, nor drive a terminal.
 *
 * A unit test holds esc_render() (proto/escape.c) to its rules: printable
 * ASCII and well-formed UTF-8 as they are; a backslash, \n \r \t \e and
 * other controls, invalid UTF-8, and the code points that act as controls
 * escaped; cut text ends whole, with "...". Then a real daemon and the
 * real CLI: a client named with a newline and terminal escapes, and an
 * object named the same way, leave one escaped line each in the daemon's
 * log and one escaped row in `statemgr ls`. */
#include "proto/escape.h"
#include "smtest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Renders the len bytes of in and compares with want. */
static void expect_esc(const char *in, size_t len, const char *want) {
  char out[256];
  size_t need = esc_render(out, sizeof out, in, len);
  ck_assert_str_eq(out, want);
  ck_assert_uint_eq(need, strlen(want));
}

#define ESC(lit, want) expect_esc((lit), sizeof(lit) - 1, (want))

/* Each class of byte and code point, one by one and mixed. */
START_TEST(render_rules) {
  ESC("plain name-1.2_3", "plain name-1.2_3");
  ESC("a\nb", "a\\nb");
  ESC("cr\r tab\t esc\x1b[31m", "cr\\r tab\\t esc\\e[31m");
  ESC("back\\slash", "back\\\\slash");
  ESC("a\\nb", "a\\\\nb"); /* the four characters stay apart from a newline */
  ESC("nul\0x bell\a del\x7f", "nul\\x00x bell\\x07 del\\x7f");
  ESC("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80");
  ESC("bad \xff\xfe", "bad \\xff\\xfe");
  ESC("csi \xc2\x9b"
      "2J",
      "csi \\xc2\\x9b2J"); /* C1 control, well-formed */
  ESC("rlo \xe2\x80\xae"
      "txt",
      "rlo \\xe2\\x80\\xaetxt"); /* right-to-left override */
  ESC("ls \xe2\x80\xa8"
      "x",
      "ls \\xe2\\x80\\xa8x"); /* line separator */
  ESC("overlong \xc0\xaf", "overlong \\xc0\\xaf");
  ESC("surrogate \xed\xa0\x80", "surrogate \\xed\\xa0\\x80");
  ESC("cut \xe2\x82", "cut \\xe2\\x82");
  ESC("too big \xf4\x90\x80\x80", "too big \\xf4\\x90\\x80\\x80");

  /* Cut to fit: never inside an escape or a character, "..." at the end. */
  char small[12];
  size_t need = esc_render(small, sizeof small, "abcdef\n\nxyz", 11);
  ck_assert_uint_eq(need, 13);
  ck_assert_str_eq(small, "abcdef\\n...");
  need = esc_render(small, sizeof small, "abcdefg\x1b", 8);
  ck_assert_str_eq(small, "abcdefg\\e"); /* exactly fits: no dots */
  need = esc_render(small, 9, "abcde\xc3\xa9\xc3\xa9", 9);
  ck_assert_str_eq(small, "abcde...");
  ck_assert_uint_eq(esc_render(NULL, 0, "\n", 1), 2);
  char *dup = esc_dup("x\ny");
  ck_assert_str_eq(dup, "x\\ny");
  free(dup);
  dup = esc_dup(NULL);
  ck_assert_str_eq(dup, "");
  free(dup);
}
END_TEST

/* A forged-looking name: it would start a new log line or table row that
 * looks like the daemon's own, and clear the screen. */
#define EVIL "evil\n2026-01-01T00:00:00.000Z statemgrd[1] info  forged\x1b[2J"
#define EVIL_SHOWN "evil\\n2026-01-01T00:00:00.000Z statemgrd[1] info  forged\\e[2J"

/* True when some line of d's log begins with prefix. */
static bool log_line_starts(const smtest_daemon *d, const char *prefix) {
  FILE *f = fopen(d->log_file, "r");
  ck_assert_ptr_nonnull(f);
  char line[4096];
  bool found = false;
  while (!found && fgets(line, sizeof line, f))
    found = strncmp(line, prefix, strlen(prefix)) == 0;
  fclose(f);
  return found;
}

/* The client name and an object name reach the log escaped: one line each,
 * no line of their own, no escape byte. */
START_TEST(log_escapes_names) {
  sm_options *o = sm_options_new();
  OK(sm_options_set_authkey_file(o, smtest_d.authkey_file));
  OK(sm_options_set_client_name(o, EVIL));
  sm_client *c = NULL;
  OK(sm_connect(smtest_d.tcp_url, o, &c));
  sm_options_free(o);
  FAILS(sm_delete(c, "ghost\n2026-01-01T00:00:00.000Z statemgrd[1] warn  gone"), SM_ENOTFOUND);
  sm_client_free(c);
  ck_assert(smtest_daemon_log_has(&smtest_d, "as " EVIL_SHOWN, 3000));
  ck_assert(smtest_daemon_log_has(&smtest_d, "no object named 'ghost\\n2026", 3000));
  ck_assert(!smtest_daemon_log_has(&smtest_d, "\x1b", 0));
  ck_assert(!log_line_starts(&smtest_d, "2026-01-01T00:00:00.000Z"));
}
END_TEST

/* `statemgr ls` shows an object whose name holds a newline and escapes as
 * one escaped row, aligned like the others; `statemgr show` escapes it
 * too. */
START_TEST(cli_ls_escapes_names) {
  sm_client *c = smtest_connect(&smtest_d, NULL);
  sm_dict *d;
  OK(sm_dict_open(c, EVIL, &d));
  sm_list *l;
  OK(sm_list_open(c, "plain", &l));
  char cmd[1024], out[4096];
  snprintf(cmd, sizeof cmd, "'%s' -u '%s' --authkey-file '%s' ls", getenv("STATEMGR_CLI"),
           smtest_d.tcp_url, smtest_d.authkey_file);
  ck_assert_int_eq(smtest_run(cmd, out, sizeof out), 0);
  char want[512];
  snprintf(want, sizeof want, "NAME%*s  TYPE  SIZE\n" EVIL_SHOWN "  dict  0\nplain%*s  list  0\n",
           (int)(strlen(EVIL_SHOWN) - 4), "", (int)(strlen(EVIL_SHOWN) - 5), "");
  ck_assert_str_eq(out, want);
  /* show prints the name escaped too (the shell builds the raw name). */
  snprintf(cmd, sizeof cmd,
           "'%s' -u '%s' --authkey-file '%s' show \"$(printf 'evil\\n2026-01-01T00:00:00.000Z "
           "statemgrd[1] info  forged\\033[2J')\"",
           getenv("STATEMGR_CLI"), smtest_d.tcp_url, smtest_d.authkey_file);
  ck_assert_int_eq(smtest_run(cmd, out, sizeof out), 0);
  ck_assert_msg(strstr(out, "name: " EVIL_SHOWN "\n") && !strchr(out, '\x1b'), "%s", out);
  sm_list_free(l);
  sm_dict_free(d);
  sm_client_free(c);
}
END_TEST

Suite *escape_suite(void) {
  Suite *s = suite_create("escape");
  TCase *tc = tcase_create("render");
  tcase_add_test(tc, render_rules);
  suite_add_tcase(s, tc);
  tc = smtest_daemon_tcase(s, "daemon and CLI", 30);
  tcase_add_test(tc, log_escapes_names);
  tcase_add_test(tc, cli_ls_escapes_names);
  return s;
}
