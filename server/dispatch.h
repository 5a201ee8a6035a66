/* dispatch.h - turns one decoded request into one response: validates the
 * arguments, finds the target (the manager or an object) and its method,
 * runs it, and queues the response frame on the connection. */
#ifndef SM_SERVER_DISPATCH_H
#define SM_SERVER_DISPATCH_H

#include "../proto/msg.h"

struct conn;

/* Answers req on conn c. The response is appended to the connection's
 * output buffer. */
void dispatch_request(struct conn *c, const wire_request *req);

/* The manager's own methods (object 0): create, open, release, delete, ls,
 * info, ping, shutdown (manager.c). */
extern const struct obj_type manager_type;

#endif
