/* SPDX-License-Identifier: MIT */
/* url.h - the one parser of statemgr addresses, shared by the daemon's
 * listeners, its metrics endpoint and the client library, so that a URL
 * names the same socket everywhere.
 *
 *   tcp://HOST:PORT, tls://HOST:PORT   HOST is a name, an IPv4 address, or
 *                                      an IPv6 address in brackets
 *                                      (tcp://[::1]:7450)
 *   unix:PATH                          PATH as written, relative or absolute
 *                                      (unix:/run/s.sock, unix:s.sock)
 *   unix:///PATH                       the absolute path /PATH
 *
 * unix://NAME (two slashes, then no third) is refused: it reads as a host
 * name in other tools and as a relative path in some, so it is ambiguous.
 * To listen, the host may be empty (every address) and the port 0 (the
 * system picks one); to connect, both must be given.
 *
 * A client may be given the members of a replicated group as one list,
 * separated by commas: tcp://a:7450,b:7450,c:7450. A member written
 * without a scheme takes the first member's (b:7450 above is
 * tcp://b:7450), so the first must have one. */
#ifndef SM_PROTO_URL_H
#define SM_PROTO_URL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/un.h>

typedef enum url_scheme {
  URL_TCP = 0,
  URL_TLS,
  URL_UNIX,
} url_scheme;

/* What the address is for: listening allows an empty host and port 0. */
typedef enum url_use {
  URL_CONNECT = 0,
  URL_LISTEN,
} url_use;

typedef struct url_addr {
  url_scheme scheme;
  char host[256]; /* tcp/tls: name or address, no brackets; "" = any (listen only) */
  char port[8];   /* tcp/tls: decimal, 1..65535 (0 allowed to listen) */
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* unix: socket path */
} url_addr;

/* Parses text into *out. Returns 0, or -1 with the reason in err (errlen
 * bytes, naming the URL). */
int url_parse(const char *text, url_use use, url_addr *out, char *err, size_t errlen);

/* ---- lists of URLs (the members of a group) ---- */

#define URL_TEXT_MAX 512 /* longest URL of a list member, scheme included */
#define URL_LIST_MAX 16  /* most members one list may name */

/* One member of a list: its address, and its URL written in full (with
 * the scheme it took from the first member, when it had none). */
typedef struct url_member {
  url_addr addr;
  char text[URL_TEXT_MAX];
} url_member;

/* Parses the comma-separated list text into out[0..*n) (at most max
 * members; blanks around a member are dropped). Returns 0, or -1 with the
 * reason in err naming the member at fault: an empty member, more than
 * max, a first member without a scheme, or what url_parse refuses. */
int url_list_parse(const char *text, url_use use, url_member *out, size_t max, size_t *n, char *err,
                   size_t errlen);

/* True when a and b name the same socket (scheme, host, port, path). */
bool url_same(const url_addr *a, const url_addr *b);

/* Writes "HOST:PORT", or "[HOST]:PORT" for an IPv6 address, to buf. */
void url_host_port(char *buf, size_t len, const char *host, const char *port);

#endif
