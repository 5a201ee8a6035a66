/* SPDX-License-Identifier: MIT */
/* conf_file.h - statemgrd's --config FILE: the file read into (key, value,
 * line) entries, which main.c applies as it applies the long options. Not
 * part of the server library: only the statemgrd program reads files. */
#ifndef SM_SERVER_CONF_FILE_H
#define SM_SERVER_CONF_FILE_H

#include <stddef.h>

/* One setting: key is a long option's name without "--"; value is the rest
 * of the line with the blanks around it removed ("" when the line has only
 * a key). Both point into conf_file.text. */
typedef struct conf_entry {
  const char *key;
  const char *value;
  unsigned line;
} conf_entry;

typedef struct conf_file {
  char *text; /* the file's bytes, cut into the entries' strings */
  conf_entry *entries;
  size_t n;
} conf_file;

/* Largest file read, a bound against a wrong path (a device, a log). */
#define CONF_FILE_MAX (1u << 20)

/* Reads path: one setting per line, "key value" or "key = value"; blank
 * lines and lines whose first non-blank character is '#' are skipped.
 * Returns 0 and fills f (the caller frees it with conf_file_free), or -1
 * with "PATH: why" or "PATH:LINE: why" in err, and f left empty. */
int conf_file_load(const char *path, conf_file *f, char *err, size_t errlen);

/* Frees what conf_file_load allocated; f is left empty. */
void conf_file_free(conf_file *f);

#endif
