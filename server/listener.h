/* SPDX-License-Identifier: MIT */
/* listener.h - the sockets statemgrd accepts on: tcp://host:port,
 * tls://host:port and unix:/path, behind one small transport table. */
#ifndef SM_SERVER_LISTENER_H
#define SM_SERVER_LISTENER_H

#include <stddef.h>

struct sm_server;
typedef struct listener listener;

/* Binds url and starts accepting into srv; links the listener into
 * srv->listeners. Returns 0, or a negative SM_E* code with err filled. */
int listener_add(struct sm_server *srv, const char *url, char *err, size_t errlen);

/* Writes prefix and the bound address of socket fd as HOST:PORT (IPv6 in
 * brackets) to buf. Returns 1 for a loopback address, 0 for another, -1
 * when the socket has no address (buf untouched). */
int listener_sockname(int fd, const char *prefix, char *buf, size_t len);

/* The bound address as a URL (actual port for port 0), borrowed. */
const char *listener_url(const listener *l);
listener *listener_next(const listener *l);

/* Stops accepting and frees every listener of srv (removing UNIX socket
 * files). */
void listener_free_all(struct sm_server *srv);

#endif
