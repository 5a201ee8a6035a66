/* url.h - daemon addresses: tcp://host:port, tls://host:port, unix:/path. */
#ifndef SM_CLIENT_URL_H
#define SM_CLIENT_URL_H

#include <sys/un.h>

typedef enum url_scheme {
  URL_TCP = 0,
  URL_TLS,
  URL_UNIX,
} url_scheme;

typedef struct url_addr {
  url_scheme scheme;
  char host[256]; /**< tcp/tls: name or address, no brackets */
  char port[8];   /**< tcp/tls: decimal 1..65535 */
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /**< unix: socket path */
} url_addr;

/* Parses text into *out. IPv6 addresses go in brackets (tcp://[::1]:7450);
 * host names are resolved later, when connecting. Returns 0, or SM_EINVAL
 * with the reason as this thread's last error. */
int url_parse(const char *text, url_addr *out);

#endif
