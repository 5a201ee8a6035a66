/* SPDX-License-Identifier: MIT */
/* conf_file.c - reads statemgrd's --config FILE into (key, value, line)
 * entries. The syntax is the long options written one per line, so a file
 * and a command line say the same things the same way; what each key means
 * (and whether it takes a value) stays with the options in main.c. */
#include "conf_file.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

/* A key is what a long option's name is made of. */
static int is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* Reads all of path into a NUL-terminated buffer (the caller frees it). */
static char *read_all(const char *path, size_t *len, char *err, size_t errlen) {
  FILE *fp = fopen(path, "rb");
  if (!fp) {
    snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return NULL;
  }
  char *buf = malloc(CONF_FILE_MAX + 1);
  size_t n = buf ? fread(buf, 1, CONF_FILE_MAX + 1, fp) : 0;
  int bad = !buf || ferror(fp);
  if (bad)
    snprintf(err, errlen, "%s: %s", path, buf ? strerror(errno ? errno : EIO) : "out of memory");
  else if (n > CONF_FILE_MAX)
    snprintf(err, errlen, "%s: larger than %u bytes: not a configuration file", path,
             CONF_FILE_MAX);
  else if (memchr(buf, '\0', n))
    snprintf(err, errlen, "%s: holds a NUL byte: not a configuration file", path);
  fclose(fp);
  if (bad || n > CONF_FILE_MAX || memchr(buf, '\0', n)) {
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  *len = n;
  return buf;
}

int conf_file_load(const char *path, conf_file *f, char *err, size_t errlen) {
  memset(f, 0, sizeof *f);
  size_t len = 0;
  char *text = read_all(path, &len, err, errlen);
  if (!text) return -1;
  /* At most one entry per line. */
  size_t cap = 1;
  for (size_t i = 0; i < len; i++)
    cap += text[i] == '\n';
  conf_entry *entries = calloc(cap, sizeof *entries);
  if (!entries) {
    snprintf(err, errlen, "%s: out of memory", path);
    free(text);
    return -1;
  }
  size_t n = 0;
  unsigned line = 0;
  for (char *p = text; p && *p;) {
    line++;
    char *nl = strchr(p, '\n');
    if (nl) *nl = '\0';
    char *next = nl ? nl + 1 : NULL;
    char *end = p + strlen(p);
    while (end > p && is_blank(end[-1]))
      *--end = '\0';
    while (is_blank(*p))
      p++;
    if (*p == '\0' || *p == '#') {
      p = next;
      continue;
    }
    char *key = p;
    while (is_key_char(*p))
      p++;
    const char *why = NULL;
    if (key[0] == '-')
      why = "write the key without its leading -- ('listen', not '--listen')";
    else if (p == key || (*p && !is_blank(*p) && *p != '='))
      why = "expected 'key value' or 'key = value'";
    if (why) {
      snprintf(err, errlen, "%s:%u: %s", path, line, why);
      free(entries);
      free(text);
      return -1;
    }
    char *key_end = p;
    while (is_blank(*p))
      p++;
    if (*p == '=') {
      p++;
      while (is_blank(*p))
        p++;
    }
    *key_end = '\0';
    entries[n++] = (conf_entry){.key = key, .value = p, .line = line};
    p = next;
  }
  f->text = text;
  f->entries = entries;
  f->n = n;
  return 0;
}

void conf_file_free(conf_file *f) {
  free(f->entries);
  free(f->text);
  memset(f, 0, sizeof *f);
}
