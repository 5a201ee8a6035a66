/* SPDX-License-Identifier: MIT */
/* check_protocol_doc.c - docs/protocol.md and the method tables agree: the
 * manager's methods (its table), those of dict, list, value and namespace
 * (their "type: a | b(...)" lists) and those of every other built-in type
 * (the table of "Blocking calls": "a() - b->int") are exactly the methods
 * the daemon's tables give each type, internal ones (replay only) apart,
 * and the argument lists the page writes take as many arguments as the
 * tables' ARGS let through (object.h): "get(key[, default])" is 1 to 2,
 * "create | type, name, initial..." 2 or more, "len->int" none; a method
 * written more than once ("pop() | pop(i)") spans them all (a method whose
 * table gives no ARGS checks its own count, and is not compared).
 * The tables are the source of truth; this keeps the page from drifting. */
#include "server/dispatch.h"
#include "server/object.h"
#include "server/types.h"

#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOC_MAX (512 * 1024)
#define NAMES_MAX 64
#define NAME_LEN 32

#define MANY SIZE_MAX

/* The method names the page gives one type, each with the fewest and the
 * most arguments its argument lists take (MANY: no bound). */
typedef struct doc_type {
  char type[NAME_LEN];
  char names[NAMES_MAX][NAME_LEN];
  size_t min[NAMES_MAX], max[NAMES_MAX];
  size_t n;
} doc_type;

static char *doc;
static doc_type types[24];
static char mismatches[4096]; /* every argument count the page gets wrong */
static size_t n_types;

static doc_type *type_entry(const char *name) {
  for (size_t i = 0; i < n_types; i++)
    if (strcmp(types[i].type, name) == 0) return &types[i];
  ck_assert_uint_lt(n_types, sizeof types / sizeof types[0]);
  doc_type *t = &types[n_types++];
  memset(t, 0, sizeof *t);
  snprintf(t->type, sizeof t->type, "%s", name);
  return t;
}

/* Adds a method written with min to max arguments (a second writing of it
 * widens the range). */
static void add_name(doc_type *t, const char *name, size_t min, size_t max) {
  for (size_t i = 0; i < t->n; i++) {
    if (strcmp(t->names[i], name) == 0) {
      if (min < t->min[i]) t->min[i] = min;
      if (max > t->max[i]) t->max[i] = max;
      return;
    }
  }
  ck_assert_uint_lt(t->n, NAMES_MAX);
  t->min[t->n] = min;
  t->max[t->n] = max;
  snprintf(t->names[t->n++], NAME_LEN, "%s", name);
}

/* The arguments of one argument list [p, end) ("key[, default=nil]",
 * "type:str, name:str or nil, initial..."): the fewest count what is
 * outside brackets and not "(optional", the most everything, "..." no
 * bound. Commas inside parentheses ("(optional; default 10, -1: all)")
 * separate nothing. */
static void count_args(const char *p, const char *end, size_t *min, size_t *max) {
  *min = *max = 0;
  const char *s = p;
  while (s < end && *s == ' ')
    s++;
  if (s == end || (*s == '-' && end - s == 1)) return; /* "" or "-": none */
  int bracket = 0, paren = 0;
  bool opt_token = false, many = false, any = false;
  for (const char *q = s;; q++) {
    bool last = q == end;
    char ch = last ? ',' : *q;
    if (!last && ch == '.' && q + 2 < end && q[1] == '.' && q[2] == '.') many = true;
    if (ch == '(') {
      if (paren == 0 && q + 9 <= end && strncmp(q, "(optional", 9) == 0) opt_token = true;
      paren++;
    } else if (ch == ')' && paren > 0) {
      paren--;
    } else if (ch == '[') {
      if (bracket == 0 && !any) opt_token = true; /* "[n:int = 1]" */
      bracket++;
    } else if (ch == ']' && bracket > 0) {
      bracket--;
    } else if (ch == ',' && paren == 0) {
      if (bracket > 0) { /* "key[, default]": what follows is optional */
        (*max)++;
      } else {
        if (many) {
          *max = MANY;
        } else {
          (*max)++;
          if (!opt_token) (*min)++;
        }
        opt_token = any = false;
      }
    } else if (ch != ' ') {
      any = true;
    }
    if (last) break;
  }
  if (many) *max = MANY;
}

/* The arguments a method written at p ("name(args)", "name->x", "name")
 * takes; name_end is just past its name. */
static void written_args(const char *name_end, const char *end, size_t *min, size_t *max) {
  *min = *max = 0;
  if (name_end >= end || *name_end != '(') return;
  const char *close = name_end + 1;
  for (int depth = 1; close < end; close++) {
    if (*close == '(') depth++;
    if (*close == ')' && --depth == 0) break;
  }
  count_args(name_end + 1, close, min, max);
}

static bool ident_start(char c) { return islower((unsigned char)c) || c == '_'; }
static bool ident_char(char c) { return ident_start(c) || isdigit((unsigned char)c); }

/* The method a piece of the page names: the first identifier written as a
 * call or a getter ("name(" or "name->"), else the piece's first word when
 * nothing but a result or a note follows it ("clear", "list -> ...").
 * Fills name; false when there is none. */
static bool method_of(const char *p, const char *end, char *name, const char **name_end) {
  const char *bare = NULL, *bare_end = NULL;
  while (p < end && *p == ' ')
    p++;
  for (const char *q = p; q < end;) {
    if (!ident_start(*q) || (q > p && ident_char(q[-1]))) {
      q++;
      continue;
    }
    const char *s = q;
    while (q < end && ident_char(*q))
      q++;
    if (s == p) bare = s, bare_end = q;
    if ((q < end && *q == '(') || (q + 1 < end && q[0] == '-' && q[1] == '>')) {
      snprintf(name, NAME_LEN, "%.*s", (int)(q - s), s);
      *name_end = q;
      return true;
    }
  }
  const char *rest = bare_end;
  while (rest && rest < end && *rest == ' ')
    rest++;
  if (bare && (rest == end || *rest == '(' || *rest == '[' ||
               (rest + 1 < end && rest[0] == '-' && rest[1] == '>'))) {
    snprintf(name, NAME_LEN, "%.*s", (int)(bare_end - bare), bare);
    *name_end = bare_end;
    return true;
  }
  return false;
}

/* Adds the methods of one piece list: pieces separated by sep. */
static void add_pieces(doc_type *t, const char *p, const char *end, const char *sep) {
  char name[NAME_LEN];
  const char *name_end;
  size_t min, max;
  while (p < end) {
    const char *next = strstr(p, sep);
    if (!next || next > end) next = end;
    if (method_of(p, next, name, &name_end)) {
      written_args(name_end, next, &min, &max);
      add_name(t, name, min, max);
    }
    p = next == end ? end : next + strlen(sep);
  }
}

/* The section of the page from the heading that starts with title to the
 * next heading. */
static void section(const char *title, const char **start, const char **end) {
  *start = strstr(doc, title);
  ck_assert_msg(*start != NULL, "docs/protocol.md lacks \"%s\"", title);
  *end = strstr(*start + 1, "\n## ");
  if (!*end) *end = *start + strlen(*start);
}

/* Cell i (0-based, after the leading '|') of a table row [p, end). */
static bool cell(const char *p, const char *end, int i, const char **cs, const char **ce) {
  if (*p != '|') return false;
  p++;
  for (int k = 0;; k++) {
    const char *bar = memchr(p, '|', (size_t)(end - p));
    if (!bar) return false;
    if (k == i) {
      while (p < bar && *p == ' ')
        p++;
      const char *e = bar;
      while (e > p && e[-1] == ' ')
        e--;
      *cs = p;
      *ce = e;
      return true;
    }
    p = bar + 1;
  }
}

static void parse_doc(void) {
  FILE *f = fopen(SM_SOURCE_DIR "/docs/protocol.md", "r");
  ck_assert_msg(f != NULL, "cannot open docs/protocol.md");
  doc = malloc(DOC_MAX);
  ck_assert_ptr_nonnull(doc);
  size_t n = fread(doc, 1, DOC_MAX - 1, f);
  fclose(f);
  doc[n] = '\0';
  n_types = 0;

  /* The manager's table: the first cell of each row. */
  const char *s, *e;
  section("## Manager methods", &s, &e);
  doc_type *mgr = type_entry("manager");
  for (const char *line = strchr(s, '\n') + 1; line < e; line = strchr(line, '\n') + 1) {
    const char *le = strchr(line, '\n');
    const char *cs, *ce;
    const char *as, *ae;
    if (cell(line, le, 0, &cs, &ce) && ce > cs && ident_start(*cs) && strncmp(cs, "method", 6) &&
        cell(line, le, 1, &as, &ae)) {
      char name[NAME_LEN];
      snprintf(name, sizeof name, "%.*s", (int)(ce - cs), cs);
      /* The args cell: forms separated by " / " ("\"get\", count / \"len\""). */
      for (const char *form = as; form < ae;) {
        const char *fe = strstr(form, " / ");
        if (!fe || fe > ae) fe = ae;
        size_t min, max;
        count_args(form, fe, &min, &max);
        add_name(mgr, name, min, max);
        form = fe == ae ? ae : fe + 3;
      }
    }
  }

  /* "dict: get(key) | ..." and its indented continuation lines. */
  section("## Object methods", &s, &e);
  doc_type *cur = NULL;
  for (const char *line = strchr(s, '\n') + 1; line < e; line = strchr(line, '\n') + 1) {
    const char *le = strchr(line, '\n');
    const char *colon = memchr(line, ':', (size_t)(le - line));
    const char *p = line;
    if (ident_start(*line) && colon) {
      char type[NAME_LEN];
      snprintf(type, sizeof type, "%.*s", (int)(colon - line), line);
      cur = strspn(type, "abcdefghijklmnopqrstuvwxyz_") == strlen(type) ? type_entry(type) : NULL;
      p = colon + 1;
    } else if (strncmp(line, "      ", 6) != 0) {
      cur = NULL;
    }
    if (!cur) continue;
    const char *bar = strstr(p, " |");
    if (bar && bar < le) {
      add_pieces(cur, p, le, " | ");
    } else { /* a call written alone ("cas(...)"), or prose about the calls */
      char name[NAME_LEN];
      while (*p == ' ')
        p++;
      const char *q = p;
      while (q < le && ident_char(*q))
        q++;
      const char *name_end;
      size_t min, max;
      if (q > p && q < le && *q == '(' && method_of(p, le, name, &name_end)) {
        written_args(name_end, le, &min, &max);
        add_name(cur, name, min, max);
      }
    }
  }

  /* The table of the other types: "| queue | create args | a() - b->int |". */
  section("## Blocking calls", &s, &e);
  for (const char *line = strchr(s, '\n') + 1; line < e; line = strchr(line, '\n') + 1) {
    const char *le = strchr(line, '\n');
    const char *ts, *te, *ms, *me;
    if (!cell(line, le, 0, &ts, &te) || !cell(line, le, 2, &ms, &me) || te == ts ||
        !ident_start(*ts) || strncmp(ts, "type", 4) == 0)
      continue;
    /* The methods run to the row's last bar: "slice(start|nil, ...)" has
     * bars of its own. */
    me = le;
    while (me > ms && me[-1] != '|')
      me--;
    while (me > ms && (me[-1] == '|' || me[-1] == ' '))
      me--;
    char type[NAME_LEN];
    snprintf(type, sizeof type, "%.*s", (int)(te - ts), ts);
    doc_type *t = type_entry(type);
    if (strncmp(ms, "as ", 3) == 0) { /* "as semaphore; ..." */
      char other[NAME_LEN];
      const char *os = ms + 3, *oe = os;
      while (oe < me && ident_char(*oe))
        oe++;
      snprintf(other, sizeof other, "%.*s", (int)(oe - os), os);
      doc_type *o = type_entry(other);
      for (size_t i = 0; i < o->n; i++)
        add_name(t, o->names[i], o->min[i], o->max[i]);
      continue;
    }
    add_pieces(t, ms, me, " - ");
  }
}

/* Checks that the page names exactly t's methods (internal ones apart). */
static void check_type(const char *name, const obj_type *t) {
  doc_type *d = NULL;
  for (size_t i = 0; i < n_types; i++)
    if (strcmp(types[i].type, name) == 0) d = &types[i];
  ck_assert_msg(d != NULL, "docs/protocol.md does not list the methods of %s", name);
  size_t public_methods = 0;
  for (size_t m = 0; m < t->n_methods; m++) {
    if (t->methods[m].flags & METHOD_INTERNAL) continue;
    public_methods++;
    const method_def *md = &t->methods[m];
    size_t i = 0;
    while (i < d->n && strcmp(d->names[i], md->name) != 0)
      i++;
    ck_assert_msg(i < d->n, "%s.%s is not in docs/protocol.md", name, md->name);
    /* A method without ARGS checks its own count: nothing to compare. */
    if ((md->flags & METHOD_ARITY) &&
        (d->min[i] != method_min_args(md) || d->max[i] != method_max_args(md))) {
      size_t at = strlen(mismatches);
      snprintf(mismatches + at, sizeof mismatches - at,
               "\n  %s.%s: the page %zu to %zu arguments, the table %zu to %zu (%zu: no bound)",
               name, md->name, d->min[i], d->max[i], method_min_args(md), method_max_args(md),
               (size_t)MANY);
    }
  }
  for (size_t i = 0; i < d->n; i++)
    ck_assert_msg(type_method(t, d->names[i]) != NULL,
                  "docs/protocol.md gives %s a method %s that the daemon does not have", name,
                  d->names[i]);
  ck_assert_uint_eq(d->n, public_methods);
}

/* Proves the page and the method tables name the same methods, type by
 * type. */
START_TEST(test_doc_agrees_with_tables) {
  parse_doc();
  const struct {
    const char *name;
    const obj_type *t;
  } all[] = {
      {"manager", &manager_type},
      {"dict", &t_dict_type},
      {"list", &t_list_type},
      {"value", &t_value_type},
      {"namespace", &t_namespace_type},
      {"queue", &t_queue_type},
      {"lock", &t_lock_type},
      {"rlock", &t_rlock_type},
      {"semaphore", &t_semaphore_type},
      {"bounded_semaphore", &t_bounded_semaphore_type},
      {"condition", &t_condition_type},
      {"event", &t_event_type},
      {"barrier", &t_barrier_type},
      {"array", &t_array_type},
      {"set", &t_set_type},
  };
  mismatches[0] = '\0';
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    check_type(all[i].name, all[i].t);
  ck_assert_msg(mismatches[0] == '\0', "docs/protocol.md and the method tables disagree:%s",
                mismatches);
  free(doc);
}
END_TEST

Suite *protocol_doc_suite(void) {
  Suite *s = suite_create("protocol_doc");
  TCase *tc = tcase_create("agree");
  tcase_add_test(tc, test_doc_agrees_with_tables);
  suite_add_tcase(s, tc);
  return s;
}
