/* SPDX-License-Identifier: MIT */
/* url.c - parsing statemgr addresses and lists of them (see url.h).
 * Binding lives in the daemon's listener.c and metrics.c, connecting in the
 * client's chan.c; a new scheme adds a prefix here (and in scheme_prefix)
 * and a case in each. */
#include "url.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define URL_FORMS "tcp://HOST:PORT, tcp://[IPV6]:PORT, tls://HOST:PORT, unix:PATH or unix:///PATH"

static bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-' || c == '_';
}

/* IPv6 text inside brackets: hex digits, colons, dots (an embedded IPv4)
 * and a zone after '%'. The resolver checks the rest. */
static bool is_v6_char(char c, bool in_zone) {
  if (in_zone) return is_name_char(c);
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
         c == '.';
}

/* Splits "HOST:PORT" or "[V6]:PORT" (after the scheme) into out. */
static int parse_host_port(const char *url, const char *s, url_use use, url_addr *out, char *err,
                           size_t errlen) {
  const char *host = s, *colon;
  size_t hlen;
  if (*s == '[') {
    const char *close = strchr(s, ']');
    if (!close || close[1] != ':') {
      snprintf(err, errlen, "bad URL '%s': write an IPv6 address as [ADDR]:PORT", url);
      return -1;
    }
    host = s + 1;
    hlen = (size_t)(close - host);
    bool zone = false, ok = hlen > 0 && memchr(host, ':', hlen);
    for (size_t i = 0; ok && i < hlen; i++) {
      if (host[i] == '%' && !zone && i > 0)
        zone = true;
      else
        ok = is_v6_char(host[i], zone);
    }
    if (!ok) {
      snprintf(err, errlen, "bad URL '%s': '%.*s' is not an IPv6 address", url, (int)hlen, host);
      return -1;
    }
    colon = close + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon) {
      snprintf(err, errlen, "bad URL '%s': no port (HOST:PORT)", url);
      return -1;
    }
    hlen = (size_t)(colon - s);
    if (memchr(s, ':', hlen)) {
      snprintf(err, errlen, "bad URL '%s': write an IPv6 address as [ADDR]:PORT", url);
      return -1;
    }
    for (size_t i = 0; i < hlen; i++) {
      if (!is_name_char(s[i])) {
        snprintf(err, errlen, "bad URL '%s': the host holds '%c'; expected %s", url, s[i],
                 URL_FORMS);
        return -1;
      }
    }
    if (hlen == 0 && use == URL_CONNECT) {
      snprintf(err, errlen, "bad URL '%s': no host", url);
      return -1;
    }
  }
  if (hlen >= sizeof out->host) {
    snprintf(err, errlen, "bad URL '%s': the host is longer than %zu bytes", url,
             sizeof out->host - 1);
    return -1;
  }
  const char *port = colon + 1;
  size_t plen = strlen(port);
  long n = -1;
  if (plen > 0 && plen <= 5 && strspn(port, "0123456789") == plen) n = strtol(port, NULL, 10);
  long min = use == URL_LISTEN ? 0 : 1;
  if (n < min || n > 65535) {
    snprintf(err, errlen, "bad URL '%s': the port must be %ld..65535", url, min);
    return -1;
  }
  memcpy(out->host, host, hlen);
  out->host[hlen] = '\0';
  snprintf(out->port, sizeof out->port, "%ld", n);
  return 0;
}

/* unix:PATH and unix:///PATH; unix://NAME is ambiguous and refused. */
static int parse_unix(const char *url, const char *rest, url_addr *out, char *err, size_t errlen) {
  const char *path = rest;
  if (strncmp(rest, "//", 2) == 0) {
    if (rest[2] != '/') {
      snprintf(err, errlen,
               "bad URL '%s': unix:// takes an absolute path (unix:///%s); write a relative "
               "path as unix:%s",
               url, rest + 2, rest + 2);
      return -1;
    }
    path = rest + 2;
  }
  size_t n = strlen(path);
  if (n == 0) {
    snprintf(err, errlen, "bad URL '%s': no socket path", url);
    return -1;
  }
  if (n >= sizeof out->path) {
    snprintf(err, errlen, "bad URL '%s': the socket path is longer than %zu bytes", url,
             sizeof out->path - 1);
    return -1;
  }
  out->scheme = URL_UNIX;
  memcpy(out->path, path, n + 1);
  return 0;
}

int url_parse(const char *text, url_use use, url_addr *out, char *err, size_t errlen) {
  memset(out, 0, sizeof *out);
  if (!text || !*text) {
    snprintf(err, errlen, "empty URL: expected %s", URL_FORMS);
    return -1;
  }
  if (strncmp(text, "tcp://", 6) == 0 || strncmp(text, "tls://", 6) == 0) {
    out->scheme = text[1] == 'c' ? URL_TCP : URL_TLS;
    return parse_host_port(text, text + 6, use, out, err, errlen);
  }
  if (strncmp(text, "unix:", 5) == 0) return parse_unix(text, text + 5, out, err, errlen);
  snprintf(err, errlen, "bad URL '%s': expected %s", text, URL_FORMS);
  return -1;
}

/* The scheme prefix text starts with ("tcp://", "tls://", "unix:"), or
 * NULL when it has none. */
static const char *scheme_prefix(const char *text) {
  static const char *const prefixes[] = {"tcp://", "tls://", "unix:"};
  for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
    if (strncmp(text, prefixes[i], strlen(prefixes[i])) == 0) return prefixes[i];
  return NULL;
}

static bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n'; }

int url_list_parse(const char *text, url_use use, url_member *out, size_t max, size_t *n, char *err,
                   size_t errlen) {
  *n = 0;
  if (!text || !*text) {
    snprintf(err, errlen, "empty URL: expected %s", URL_FORMS);
    return -1;
  }
  const char *first_scheme = NULL;
  for (const char *s = text;;) {
    const char *comma = strchr(s, ',');
    const char *end = comma ? comma : s + strlen(s);
    while (s < end && is_blank(*s))
      s++;
    while (end > s && is_blank(end[-1]))
      end--;
    size_t len = (size_t)(end - s);
    if (len == 0) {
      snprintf(err, errlen, "bad URL list '%s': member %zu is empty", text, *n + 1);
      return -1;
    }
    if (*n == max) {
      snprintf(err, errlen, "bad URL list '%s': more than %zu members", text, max);
      return -1;
    }
    url_member *m = &out[*n];
    char written[URL_TEXT_MAX];
    if (len >= sizeof written) {
      snprintf(err, errlen, "bad URL list '%s': member %zu is longer than %zu bytes", text, *n + 1,
               sizeof written - 1);
      return -1;
    }
    memcpy(written, s, len);
    written[len] = '\0';
    const char *scheme = scheme_prefix(written);
    if (*n == 0) first_scheme = scheme;
    if (!scheme && *n > 0 && first_scheme) {
      if (strlen(first_scheme) + len >= sizeof m->text) {
        snprintf(err, errlen, "bad URL list '%s': member %zu is longer than %zu bytes", text,
                 *n + 1, sizeof m->text - 1);
        return -1;
      }
      snprintf(m->text, sizeof m->text, "%s%s", first_scheme, written);
    } else {
      memcpy(m->text, written, len + 1);
    }
    if (url_parse(m->text, use, &m->addr, err, errlen) != 0) return -1;
    (*n)++;
    if (!comma) return 0;
    s = comma + 1;
  }
}

bool url_same(const url_addr *a, const url_addr *b) {
  if (a->scheme != b->scheme) return false;
  if (a->scheme == URL_UNIX) return strcmp(a->path, b->path) == 0;
  return strcmp(a->host, b->host) == 0 && strcmp(a->port, b->port) == 0;
}

void url_host_port(char *buf, size_t len, const char *host, const char *port) {
  if (strchr(host, ':'))
    snprintf(buf, len, "[%s]:%s", host, port);
  else
    snprintf(buf, len, "%s:%s", host, port);
}
