/* SPDX-License-Identifier: MIT */
/* cli_out.c - the `statemgr` CLI's value output: plain text a reader (or a
 * script) cannot misread, and JSON documents that keep every type.
 *
 * Plain text is the library's rendering (sm_value_to_text), with one rule
 * on top, as redis-cli marks its types: a top-level string that would read
 * as another value is quoted, so nil prints None and the string "None"
 * prints 'None', the int 7 prints 7 and the string "7" prints '7'. Inside
 * lists and maps the library already quotes every string. */
#include "cli_out.h"

#include <math.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

bool out_is_int_literal(const char *s) {
  if (*s == '-') s++;
  if (*s < '0' || *s > '9') return false;
  if (*s == '0' && s[1] != '\0') return false;
  for (; *s; s++)
    if (*s < '0' || *s > '9') return false;
  return true;
}

bool out_is_decimal_literal(const char *s) {
  size_t digits = 0;
  bool point = false, exponent = false;
  if (*s == '-') s++;
  for (; *s >= '0' && *s <= '9'; s++)
    digits++;
  if (*s == '.') {
    point = true;
    for (s++; *s >= '0' && *s <= '9'; s++)
      digits++;
  }
  if (digits == 0) return false;
  if (*s == 'e' || *s == 'E') {
    exponent = true;
    s++;
    if (*s == '+' || *s == '-') s++;
    if (*s < '0' || *s > '9') return false;
    while (*s >= '0' && *s <= '9')
      s++;
  }
  return *s == '\0' && (point || exponent);
}

/* True when the string s (n bytes) printed bare could be taken for another
 * value or for more than one line: a number, a word the CLI reads or
 * prints for another type, the empty string, text starting like a quoted
 * string, bytes, list, map or ref, text with outer blanks, or any control
 * character. */
static bool str_needs_quotes(const char *s, size_t n) {
  static const char *const words[] = {"None", "True", "False", "true", "false",
                                      "nan",  "inf",  "-inf",  "null"};
  if (n == 0 || strlen(s) != n) return true; /* empty, or an embedded NUL */
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
    if (strcmp(s, words[i]) == 0) return true;
  if (out_is_int_literal(s) || out_is_decimal_literal(s)) return true;
  if (strchr("'\"[{<", s[0]) || (s[0] == 'b' && (s[1] == '\'' || s[1] == '"'))) return true;
  if (s[0] == ' ' || s[n - 1] == ' ') return true;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return true;
  return false;
}

/* The plain text of v; key_sep also quotes a string holding ": ". Caller
 * frees with free(); NULL when out of memory. */
static char *plain_text(const sm_value *v, bool key_sep) {
  size_t n = 0;
  const char *s = sm_value_type(v) == SM_STR ? sm_value_as_str(v, &n) : NULL;
  char *text = NULL;
  if (s && (str_needs_quotes(s, n) || (key_sep && strstr(s, ": ")))) {
    /* The library quotes strings inside a list: render ['...'] and keep
     * what is between the brackets, so both quote the same way. */
    sm_value *one = sm_value_list();
    if (one && sm_value_list_append(one, sm_value_copy(v)) == SM_OK) text = sm_value_to_text(one);
    sm_value_free(one);
    if (!text) return NULL;
    size_t len = strlen(text);
    char *inner = malloc(len - 1);
    if (inner) {
      memcpy(inner, text + 1, len - 2);
      inner[len - 2] = '\0';
    }
    sm_free(text);
    return inner;
  }
  text = sm_value_to_text(v);
  if (!text) return NULL;
  char *dup = strdup(text);
  sm_free(text);
  return dup;
}

char *out_plain(const sm_value *v) { return plain_text(v, false); }

char *out_plain_key(const sm_value *key) { return plain_text(key, true); }

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 when it
 * is not one (overlong forms, surrogates and values past U+10FFFF
 * included). */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  size_t len;
  uint32_t cp;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf)
    len = 2, cp = c & 0x1f;
  else if (c >= 0xe0 && c <= 0xef)
    len = 3, cp = c & 0x0f;
  else if (c >= 0xf0 && c <= 0xf4)
    len = 4, cp = c & 0x07;
  else
    return 0;
  if (len > n) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (s[i] & 0x3f);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

/* Writes p (n bytes) as a JSON string. */
static void json_str(FILE *f, const char *p, size_t n) {
  const unsigned char *s = (const unsigned char *)p;
  fputc('"', f);
  for (size_t i = 0; i < n;) {
    unsigned c = s[i];
    if (c == '"' || c == '\\') {
      fputc('\\', f), fputc((int)c, f), i++;
    } else if (c == '\n') {
      fputs("\\n", f), i++;
    } else if (c == '\t') {
      fputs("\\t", f), i++;
    } else if (c == '\r') {
      fputs("\\r", f), i++;
    } else if (c < 0x20 || c == 0x7f) {
      fprintf(f, "\\u%04x", c), i++;
    } else {
      size_t len = utf8_len(s + i, n - i);
      if (len == 0) {
        fputs("\\ufffd", f), i++;
      } else {
        fwrite(s + i, 1, len, f);
        i += len;
      }
    }
  }
  fputc('"', f);
}

/* Writes p (n bytes) as {"$bytes": "<base64>"}. Returns 0 or SM_ENOMEM. */
static int json_bytes(FILE *f, const void *p, size_t n) {
  if (n > (SIZE_MAX - 1) / 4 * 3 - 3 || n > INT32_MAX) return SM_ENOMEM;
  unsigned char *b64 = malloc((n + 2) / 3 * 4 + 1);
  if (!b64) return SM_ENOMEM;
  EVP_EncodeBlock(b64, p, (int)n);
  fprintf(f, "{\"$bytes\": \"%s\"}", (const char *)b64);
  free(b64);
  return SM_OK;
}

/* True when every key of map m is a string not starting with '$', so it
 * can be a JSON object that no reader takes for one of our tagged forms. */
static bool map_is_plain_object(const sm_value *m) {
  for (size_t i = 0; i < sm_value_len(m); i++) {
    const sm_value *k = sm_value_map_key_at(m, i);
    size_t n = 0;
    const char *s = sm_value_type(k) == SM_STR ? sm_value_as_str(k, &n) : NULL;
    if (!s || (n > 0 && s[0] == '$')) return false;
  }
  return true;
}

int out_json(FILE *f, const sm_value *v) {
  int rc = SM_OK;
  size_t n = 0;
  switch (sm_value_type(v)) {
  case SM_NIL: fputs("null", f); break;
  case SM_BOOL: fputs(sm_value_as_bool(v) ? "true" : "false", f); break;
  case SM_INT: fprintf(f, "%lld", (long long)sm_value_as_int(v)); break;
  case SM_DOUBLE: {
    double d = sm_value_as_double(v);
    if (!isfinite(d)) {
      fprintf(f, "{\"$double\": \"%s\"}", isnan(d) ? "nan" : d < 0 ? "-inf" : "inf");
      break;
    }
    /* The library's shortest round-trip rendering, which keeps ".0" on a
     * whole double, is valid JSON for every finite double. */
    char *text = sm_value_to_text(v);
    if (!text) return SM_ENOMEM;
    fputs(text, f);
    sm_free(text);
    break;
  }
  case SM_STR: {
    const char *s = sm_value_as_str(v, &n);
    json_str(f, s, n);
    break;
  }
  case SM_BYTES: {
    const void *p = sm_value_as_bytes(v, &n);
    rc = json_bytes(f, p, n);
    break;
  }
  case SM_LIST:
    fputc('[', f);
    for (size_t i = 0; rc == SM_OK && i < sm_value_len(v); i++) {
      if (i) fputs(", ", f);
      rc = out_json(f, sm_value_list_at(v, i));
    }
    fputc(']', f);
    break;
  case SM_MAP: {
    bool plain = map_is_plain_object(v);
    fputs(plain ? "{" : "{\"$map\": [", f);
    for (size_t i = 0; rc == SM_OK && i < sm_value_len(v); i++) {
      if (i) fputs(", ", f);
      if (!plain) fputc('[', f);
      rc = out_json(f, sm_value_map_key_at(v, i));
      fputs(plain ? ": " : ", ", f);
      if (rc == SM_OK) rc = out_json(f, sm_value_map_value_at(v, i));
      if (!plain) fputc(']', f);
    }
    fputs(plain ? "}" : "]}", f);
    break;
  }
  case SM_REF:
    fprintf(f, "{\"$ref\": %llu, \"type\": ", (unsigned long long)sm_value_ref_id(v));
    json_str(f, sm_value_ref_type(v), strlen(sm_value_ref_type(v)));
    fputc('}', f);
    break;
  }
  return rc;
}

int out_value(const sm_value *v, bool json) {
  if (json) {
    int rc = out_json(stdout, v);
    if (rc == SM_OK) fputc('\n', stdout);
    return rc;
  }
  char *text = out_plain(v);
  if (!text) return SM_ENOMEM;
  puts(text);
  free(text);
  return SM_OK;
}
