/* SPDX-License-Identifier: MIT */
/* bench_pace.c - statemgr-bench --rate: when each client's requests are
 * due, and the time their latency counts from.
 *
 * A closed loop (the default) sends as soon as the last answer came, so a
 * slow answer delays the requests behind it and they are never counted as
 * waiting: the coordinated omission that wrk2 and HdrHistogram describe.
 * With --rate R over C clients, request k of client i is due at
 * t0 + i * P / R + k * C / R seconds (P the pipeline depth: the clients'
 * batches are spread over the interval), and its latency is measured from
 * that time whether or not it could be sent then. A client that falls
 * behind sends at once until it is back on schedule. */
#include "bench.h"

#include <errno.h>
#include <time.h>

int64_t bench_send_time(bench_worker *w) {
  int64_t now = bench_now();
  if (w->gap_ns <= 0) return now;
  int64_t due = w->slot->t0 + w->offset_ns + (int64_t)((double)w->slot->requests * w->gap_ns);
  if (due > now) {
    struct timespec ts = {(time_t)(due / 1000000000), (long)(due % 1000000000)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
  } else if (now - due > w->slot->late_ns) {
    w->slot->late_ns = now - due;
  }
  return due;
}
