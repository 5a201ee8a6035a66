/* SPDX-License-Identifier: MIT */
/* memory.c - data accounting, the memory limit and the trim timer (see
 * memory.h). */
#include "memory.h"

#include "log.h"
#include "registry.h"

#include <event2/event.h>
#include <malloc.h>
#include <stdio.h>
#include <time.h>

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The trim timer: hands the free pages of the heap back to the system. */
static void trim_cb(evutil_socket_t fd, short what, void *arg) {
  (void)fd;
  (void)what;
  memacct *m = arg;
  int64_t start = now_ms();
  malloc_trim(0);
  m->last_trim_ms = now_ms();
  m->trims++;
  log_debug("malloc_trim after the data shrank from %zu to %zu bytes: %lld ms", m->peak, m->used,
            (long long)(m->last_trim_ms - start));
  m->peak = m->used;
}

/* Arms the trim timer: MEM_TRIM_DELAY_MS from now, and no sooner than
 * MEM_TRIM_INTERVAL_MS after the last trim. */
static void trim_due(memacct *m) {
  if (!m->base) return;
  if (!m->trim_ev && !(m->trim_ev = evtimer_new(m->base, trim_cb, m))) return;
  if (evtimer_pending(m->trim_ev, NULL)) return;
  int64_t wait = MEM_TRIM_DELAY_MS;
  if (m->trims > 0) {
    int64_t next = m->last_trim_ms + MEM_TRIM_INTERVAL_MS - now_ms();
    if (next > wait) wait = next;
  }
  struct timeval tv = {(time_t)(wait / 1000), (suseconds_t)(wait % 1000 * 1000)};
  evtimer_add(m->trim_ev, &tv);
}

void mem_sub(memacct *m, size_t bytes) {
  m->used = bytes < m->used ? m->used - bytes : 0;
  if (m->peak - m->used >= MEM_TRIM_AFTER) trim_due(m);
}

void mem_set_base(memacct *m, struct event_base *base) { m->base = base; }

void mem_release(memacct *m) {
  if (m->trim_ev) event_free(m->trim_ev);
  m->trim_ev = NULL;
  m->base = NULL;
}

int mem_check(call *c, size_t more) {
  const memacct *m = reg_mem(c->reg);
  if (m->max == 0 || (m->used <= m->max && more <= m->max - m->used)) return WS_OK;
  char max[32], used[32], add[32];
  mem_format(m->max, max, sizeof max);
  mem_format(m->used, used, sizeof used);
  if (m->used >= m->max)
    return call_fail(c, WS_OUT_OF_MEMORY,
                     "the daemon's memory limit of %s is reached: %s used; delete data or raise "
                     "--max-memory",
                     max, used);
  mem_format(more, add, sizeof add);
  return call_fail(c, WS_OUT_OF_MEMORY,
                   "the daemon's memory limit of %s would be passed: %s used, and this call "
                   "stores %s more; delete data or raise --max-memory",
                   max, used, add);
}

void mem_format(size_t bytes, char *buf, size_t len) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = (double)bytes;
  size_t u = 0;
  while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
    v /= 1024;
    u++;
  }
  if (u == 0)
    snprintf(buf, len, "%zu B", bytes);
  else if (v == (double)(uint64_t)v)
    snprintf(buf, len, "%llu %s", (unsigned long long)v, units[u]);
  else
    snprintf(buf, len, "%.1f %s", v, units[u]);
}
