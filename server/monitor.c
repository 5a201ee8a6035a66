/* SPDX-License-Identifier: MIT */
/* monitor.c - the ring of served calls and the monitor method (see
 * monitor.h).
 *
 * A parked monitor call waits in the queue of an sm_obj embedded here
 * (named, so the registry never counts references on it, and never in the
 * registry's tables): blocked.c then keeps its deadline and drops it with
 * its connection, like any parked call. monitor_add() signals that object;
 * its serve hook answers every parked reader, whose cursors all equal the
 * id recorded. A reader's deadline answers it OK with no calls, so the CLI
 * simply asks again. Arguments are rendered to short text here, while the
 * request is alive: strings cut and escaped (proto/escape.h), lists and
 * maps as their size. */
#include "monitor.h"

#include "../proto/escape.h"
#include "conn.h"
#include "map_writer.h"
#include "server.h"
#include "registry.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MONITOR_ARGS_LEN 200 /* the text of a call's arguments, cut */
#define MONITOR_STR_LEN 40   /* a string argument, cut */
#define MONITOR_WAIT_DEFAULT_MS 1000

typedef struct monitor_entry {
  uint64_t id;
  int64_t time_us;    /* when it was served, Unix microseconds */
  uint64_t conn;      /* the client's connection id */
  uint64_t object;    /* its target; 0: the manager */
  const char *type;   /* static: the type's name */
  const char *method; /* static: the method's name */
  bool named;         /* name holds the target's name */
  char name[64];
  char peer[64];
  char client[48];
  char args[MONITOR_ARGS_LEN];
} monitor_entry;

static void serve(registry *reg, sm_obj *o);
static void reader_timeout(registry *reg, waiter *w);

static const obj_type monitor_obj_type = {.name = "monitor", .serve = serve};
static const waiter_ops reader_ops = {.timeout = reader_timeout};

monitor *monitor_new(void) {
  monitor *m = calloc(1, sizeof *m);
  if (!m) return NULL;
  m->next_id = 1;
  m->obj.type = &monitor_obj_type;
  m->obj.name = (char *)"monitor"; /* named: reg_incref/decref leave it alone */
  m->obj.state = m;
  return m;
}

void monitor_free(monitor *m) {
  if (!m) return;
  free(m->ring);
  free(m);
}

/* The wall clock in microseconds. */
static int64_t wall_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Appends the rendering of one packed value to buf (len bytes, used *at). */
static void render_arg(char *buf, size_t len, size_t *at, sm_span v) {
  vinfo vi;
  char tmp[MONITOR_STR_LEN * 4 + 16];
  tmp[0] = '\0';
  if (vw_peek(v, &vi) != 0) {
    snprintf(tmp, sizeof tmp, "?");
  } else {
    switch (vi.kind) {
    case VK_NIL: snprintf(tmp, sizeof tmp, "None"); break;
    case VK_BOOL: snprintf(tmp, sizeof tmp, "%s", vi.b ? "True" : "False"); break;
    case VK_INT: snprintf(tmp, sizeof tmp, "%" PRId64, vi.i); break;
    case VK_DOUBLE: snprintf(tmp, sizeof tmp, "%.17g", vi.d); break;
    case VK_STR:
    case VK_BYTES: {
      char body[MONITOR_STR_LEN * 4];
      size_t n = vi.data.n > MONITOR_STR_LEN ? MONITOR_STR_LEN : vi.data.n;
      esc_render(body, sizeof body, vi.data.p, n);
      snprintf(tmp, sizeof tmp, "%s'%s'%s", vi.kind == VK_BYTES ? "b" : "", body,
               n < vi.data.n ? "..." : "");
      break;
    }
    case VK_LIST:
    case VK_MAP: {
      size_t items = 0;
      vw_iter it;
      sm_span a, b;
      vw_iter_init(&it, vi.data);
      while (vi.kind == VK_LIST ? vw_list_next(&it, &a) : vw_map_next(&it, &a, &b))
        items++;
      snprintf(tmp, sizeof tmp, vi.kind == VK_LIST ? "[%zu items]" : "{%zu items}", items);
      break;
    }
    case VK_REF: {
      char type[32];
      esc_render(type, sizeof type, vi.data.p, vi.data.n);
      snprintf(tmp, sizeof tmp, "<ref %s:%" PRIu64 ">", type, vi.ref_id);
      break;
    }
    default: snprintf(tmp, sizeof tmp, "?"); break;
    }
  }
  if (*at >= len) return;
  int w = snprintf(buf + *at, len - *at, "%s%s", *at ? " " : "", tmp);
  if (w < 0) return;
  *at += (size_t)w < len - *at ? (size_t)w : len - *at;
  if (*at >= len - 1 && len >= 4) memcpy(buf + len - 4, "...", 4); /* cut: say so */
}

void monitor_add(monitor *m, struct sm_server *srv, struct conn *cn, const wire_request *req,
                 const char *type, const char *method) {
  if (req->object == 0 && strcmp(method, "monitor") == 0) return; /* not a feed of itself */
  int64_t now = wall_us();
  if (now / 1000 > m->until_ms && m->q.len == 0) {
    m->active = false; /* nobody has asked for a while: stop recording */
    return;
  }
  monitor_entry *e = &m->ring[m->next_id % MONITOR_RING];
  e->id = m->next_id++;
  e->time_us = now;
  e->conn = conn_id(cn);
  e->object = req->object;
  e->type = type;
  e->method = method;
  sm_obj *o = req->object ? reg_get(srv->reg, req->object) : NULL; /* a delete may have freed it */
  e->named = o && o->name;
  snprintf(e->name, sizeof e->name, "%s", e->named ? o->name : "");
  snprintf(e->peer, sizeof e->peer, "%s", conn_peer(cn));
  snprintf(e->client, sizeof e->client, "%s", conn_name(cn));
  size_t at = 0;
  e->args[0] = '\0';
  for (size_t i = 0; i < req->nargs; i++)
    render_arg(e->args, sizeof e->args, &at, wire_request_arg(req, i));
  if (m->q.head) blk_signal(m->reg, &m->obj);
}

/* Writes [next cursor, missed, [calls]] for the calls from cursor on. */
static void write_since(const monitor *m, uint64_t cursor, vbuf *out) {
  uint64_t oldest = m->next_id > MONITOR_RING ? m->next_id - MONITOR_RING : 1;
  uint64_t first = cursor < oldest ? oldest : cursor;
  uint64_t missed = first - cursor;
  uint64_t n = m->next_id > first ? m->next_id - first : 0;
  if (n > MONITOR_MAX_ANSWER) n = MONITOR_MAX_ANSWER;
  size_t list = vb_list_begin(out);
  size_t item = vb_list_begin_item(out);
  vb_int(out, (int64_t)(first + n));
  vb_list_end_item(out, item);
  item = vb_list_begin_item(out);
  vb_int(out, (int64_t)missed);
  vb_list_end_item(out, item);
  item = vb_list_begin_item(out);
  size_t calls = vb_list_begin(out);
  map_writer w;
  mw_init(&w, out);
  for (uint64_t id = first; id < first + n; id++) {
    const monitor_entry *e = &m->ring[id % MONITOR_RING];
    size_t one = vb_list_begin_item(out);
    size_t map = vb_map_begin(out);
    mw_int(&w, "id", (int64_t)e->id);
    mw_int(&w, "time_us", e->time_us);
    mw_int(&w, "client", (int64_t)e->conn);
    mw_str(&w, "peer", e->peer);
    if (e->client[0]) mw_str(&w, "client_name", e->client);
    mw_int(&w, "object", (int64_t)e->object);
    if (e->named) mw_str(&w, "name", e->name);
    mw_str(&w, "type", e->type);
    mw_str(&w, "method", e->method);
    mw_str(&w, "args", e->args);
    vb_map_end(out, map);
    vb_list_end_item(out, one);
  }
  mw_done(&w);
  vb_list_end(out, calls);
  vb_list_end_item(out, item);
  vb_list_end(out, list);
}

/* Answers parked reader w with the calls from its cursor on. */
static void answer_reader(monitor *m, waiter *w) {
  vbuf out;
  vb_init(&out);
  write_since(m, (uint64_t)w->n, &out);
  if (out.failed)
    blk_answer(w, WS_INTERNAL, (sm_span){NULL, 0}, "out of memory");
  else
    blk_answer(w, WS_OK, vb_span(&out), NULL);
  vb_free(&out);
}

static void serve(registry *reg, sm_obj *o) {
  (void)reg;
  monitor *m = o->state;
  /* Every parked reader waited for the ids from next_id on: the one just
   * recorded lets all of them through. */
  while (m->q.head && (uint64_t)m->q.head->n < m->next_id)
    answer_reader(m, m->q.head);
}

static void reader_timeout(registry *reg, waiter *w) {
  (void)reg;
  answer_reader(w->obj->state, w); /* nothing new: OK with no calls */
}

int monitor_call(monitor *m, call *c) {
  int64_t cursor = 0, wait_ms = MONITOR_WAIT_DEFAULT_MS;
  int rc = call_arg_int(c, 0, &cursor); /* the manager's table gives the count */
  if (rc == WS_OK && c->nargs > 1) rc = call_arg_int(c, 1, &wait_ms);
  if (rc != WS_OK) return rc;
  if (cursor < 0) return call_fail(c, WS_VALUE_ERROR, "monitor takes a cursor of 0 or more");
  if (wait_ms < 0 || wait_ms > MONITOR_MAX_WAIT_MS)
    return call_fail(c, WS_VALUE_ERROR, "monitor waits 0 to %d ms", MONITOR_MAX_WAIT_MS);
  if (!c->conn) return call_fail(c, WS_INTERNAL, "monitor needs a connection to a daemon");
  if (!m->ring && !(m->ring = calloc(MONITOR_RING, sizeof *m->ring)))
    return call_fail(c, WS_INTERNAL, "out of memory for the monitor's ring");
  m->reg = c->reg;
  int64_t until = wall_us() / 1000 + wait_ms + MONITOR_LINGER_MS;
  if (until > m->until_ms) m->until_ms = until;
  m->active = true;
  if (cursor == 0 || (uint64_t)cursor > m->next_id) {
    /* Attaching (or a cursor of an earlier run): from now on. */
    write_since(m, m->next_id, c->out);
    return WS_OK;
  }
  if ((uint64_t)cursor < m->next_id || wait_ms == 0) {
    write_since(m, (uint64_t)cursor, c->out);
    return WS_OK;
  }
  c->has_timeout = true; /* the wait asked for is this call's deadline */
  c->timeout_ms = wait_ms;
  return blk_park(c, &m->obj, &m->q, &reader_ops, cursor, NULL);
}
