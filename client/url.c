/* url.c - parses daemon URLs into a scheme, host and port, or a socket
 * path. Connecting lives in chan.c; a new scheme adds a prefix here and a
 * case there. */
#include "url.h"

#include "errors.h"
#include "statemgr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Splits "host:port" or "[v6]:port" (after the scheme) into out. */
static int parse_hostport(const char *url, const char *s, url_addr *out) {
  const char *host = s, *colon;
  size_t hlen;
  if (*s == '[') {
    const char *close = strchr(s, ']');
    if (!close || close[1] != ':')
      return err_set(SM_EINVAL, "bad URL %s: write IPv6 addresses as [addr]:port", url);
    host = s + 1;
    hlen = (size_t)(close - host);
    colon = close + 1;
  } else {
    colon = strrchr(s, ':');
    if (!colon) return err_set(SM_EINVAL, "bad URL %s: no port (host:port)", url);
    hlen = (size_t)(colon - s);
    if (memchr(s, ':', hlen))
      return err_set(SM_EINVAL, "bad URL %s: write IPv6 addresses as [addr]:port", url);
  }
  if (hlen == 0 || hlen >= sizeof out->host)
    return err_set(SM_EINVAL, "bad URL %s: empty or overlong host", url);
  const char *port = colon + 1;
  char *end;
  long n = strtol(port, &end, 10);
  if (*port < '0' || *port > '9' || *end || n < 1 || n > 65535)
    return err_set(SM_EINVAL, "bad URL %s: the port must be 1..65535", url);
  memcpy(out->host, host, hlen);
  out->host[hlen] = '\0';
  snprintf(out->port, sizeof out->port, "%ld", n);
  return 0;
}

int url_parse(const char *text, url_addr *out) {
  memset(out, 0, sizeof *out);
  if (!text || !*text) return err_set(SM_EINVAL, "empty URL");
  if (strncmp(text, "tcp://", 6) == 0) {
    out->scheme = URL_TCP;
    return parse_hostport(text, text + 6, out);
  }
  if (strncmp(text, "tls://", 6) == 0) {
    out->scheme = URL_TLS;
    return parse_hostport(text, text + 6, out);
  }
  if (strncmp(text, "unix:", 5) == 0) {
    const char *path = text + 5;
    if (strncmp(path, "//", 2) == 0 && path[2] == '/') path += 2; /* unix:///abs/path */
    size_t n = strlen(path);
    if (n == 0) return err_set(SM_EINVAL, "bad URL %s: no socket path", text);
    if (n >= sizeof out->path)
      return err_set(SM_EINVAL, "bad URL %s: socket path longer than %zu bytes", text,
                     sizeof out->path - 1);
    out->scheme = URL_UNIX;
    memcpy(out->path, path, n + 1);
    return 0;
  }
  return err_set(SM_EINVAL, "bad URL %s: expected tcp://host:port, tls://host:port or unix:/path",
                 text);
}
