/* SPDX-License-Identifier: MIT */
/* clock.h - the daemon's two clocks in milliseconds: monotonic for
 * timeouts, leases and durations (never jumps), and the wall clock for
 * times that are shown or logged in commands. */
#ifndef SM_SERVER_CLOCK_H
#define SM_SERVER_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline int64_t clock_ms(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds of CLOCK_MONOTONIC. */
static inline int64_t clock_mono_ms(void) { return clock_ms(CLOCK_MONOTONIC); }

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
static inline int64_t clock_unix_ms(void) { return clock_ms(CLOCK_REALTIME); }

#endif
