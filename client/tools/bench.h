/* SPDX-License-Identifier: MIT */
/* bench.h - what the files of statemgr-bench share.
 *
 * bench.c parses the options, prepares each workload, runs its clients
 * (threads or processes), merges their results and prints them.
 * bench_work.c holds the workloads: one table entry each, with a prepare
 * step (open objects, preload data), the timed loop of one client, and a
 * final verification. bench_data.c makes the keys, values and items the
 * workloads send, and the random numbers that pick them, so every answer
 * can be recomputed and checked. bench_pace.c holds --rate's schedule.
 * bench_hist.h is the latency histogram.
 *
 * Adding a workload: write its three functions in bench_work.c and add a
 * line to bench_workloads[]. */
#ifndef SM_BENCH_H
#define SM_BENCH_H

#include "bench_hist.h"
#include "statemgr.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit codes. */
enum { BENCH_OK = 0, BENCH_WRONG = 1, BENCH_USAGE = 2, BENCH_CONNECT = 3 };

#define BENCH_KEY_LEN 16 /* every key is 16 bytes: "key:%012u" */
#define BENCH_ERR_LEN 512

/* The command line. */
typedef struct bench_cfg {
  const char *url;                                    /**< NULL: $STATEMGR_URL or the default */
  const char *authkey_file;                           /**< NULL: the library's default order */
  const char *tls_ca, *tls_cert, *tls_key, *tls_name; /**< tls:// options; NULL: defaults */
  bool tls_insecure;                                  /**< skip certificate checks */
  const char *transport;                              /**< "tcp", "unix" or "tls", from the URL */
  const char *prefix;                                 /**< names of the objects the workloads use */
  int clients;
  uint64_t requests; /**< per workload, all clients together */
  int pipeline;
  size_t value_bytes;
  uint64_t keyspace;
  uint64_t seed;
  uint64_t rate;   /**< --rate: requests/s of all clients together (0: closed loop) */
  bool sequential; /**< keys in order instead of random */
  bool processes;  /**< clients are processes, not threads */
  bool preload;    /**< dict_get loads its keys first (--no-preload: not) */
  bool csv, quiet;
} bench_cfg;

/* What one client reports; lives in memory shared with the parent so
 * --processes works the same as threads. */
typedef struct bench_slot {
  hist h;            /**< one sample per request */
  int64_t t0, t1;    /**< the client's timed loop, CLOCK_MONOTONIC ns */
  uint64_t requests; /**< requests made */
  int64_t late_ns;   /**< --rate: the latest a send went out after its scheduled time */
  uint64_t last;     /**< workload-specific: last key or count, for verify */
  int code;          /**< 0, or BENCH_WRONG / BENCH_CONNECT */
  char error[BENCH_ERR_LEN];
} bench_slot;

/* Shared by every client of one workload run (shared memory). */
typedef struct bench_shared {
  pthread_barrier_t start;    /**< every client connected: go */
  atomic_int stop;            /**< a client failed: the others stop early */
  atomic_uint_fast64_t cs;    /**< lock: a counter only changed inside the lock */
  atomic_uint_fast64_t token; /**< fenced_lock: the last fencing token granted (inside the lock) */
  uint64_t nbits;             /**< items in seen */
  atomic_uint_fast64_t *seen; /**< list_pop, queue_putget: items taken (bitmap) */
  bench_slot slots[];         /**< one per client */
} bench_shared;

/* The objects a workload uses, opened by prepare in the parent. */
typedef struct bench_objs {
  sm_dict *dict;
  sm_list *list;
  sm_var *counter;
  sm_queue *queue;
  sm_lock *lock;
  sm_set *set;
} bench_objs;

/* One run of one workload. */
typedef struct bench_run {
  const bench_cfg *cfg;
  const struct bench_workload *w;
  sm_client *client;
  bench_objs o;
  bench_shared *sh;
  uint64_t iterations; /**< of the workload's unit (a set, a put+get pair...) */
  int pipeline;        /**< the depth actually used */
} bench_run;

/* One client's context inside a run. */
typedef struct bench_worker {
  bench_run *run;
  int index;
  bench_slot *slot;
  uint64_t first, count; /**< the iterations this client makes: [first, first+count) */
  uint64_t rng;
  sm_pipeline *pl; /**< when pipelining */
  char *vbuf;      /**< value_bytes + 1 scratch bytes */
  char *vbuf2;     /**< a second one */
  int64_t t_start; /**< when the request being timed started (--rate: was due) */
  /* --rate: request k of this client is due at slot->t0 + offset_ns + k * gap_ns. */
  double gap_ns;     /**< 0: closed loop, each send goes as soon as the last is answered */
  int64_t offset_ns; /**< spreads the clients' sends over one interval */
} bench_worker;

typedef struct bench_workload {
  const char *name;
  unsigned ops_per_iter; /**< requests per iteration */
  bool pipelines;        /**< false: always runs with pipeline 1 */
  /* In the parent, before the clients start: open objects, reset, preload.
   * Returns 0 or an exit code with the message in err. */
  int (*prepare)(bench_run *r, char *err, size_t errlen);
  /* In each client, untimed, after connecting (may be NULL). */
  int (*setup)(bench_worker *w);
  /* The timed loop of one client: w->count iterations. Records latencies
   * in w->slot->h. Returns 0 or an exit code with slot->error set. */
  int (*loop)(bench_worker *w);
  /* In the parent, after every client: checks the final state. */
  int (*verify)(bench_run *r, char *err, size_t errlen);
} bench_workload;

extern const bench_workload bench_workloads[];
extern const size_t bench_n_workloads;

/* ---- bench_data.c ---- */

/* A fast PRNG (xorshift64*), seeded per client from --seed. */
uint64_t bench_rng_seed(uint64_t seed, uint64_t stream);
uint64_t bench_rng_next(uint64_t *state);

/* Writes the 16-byte key of index i (plus a NUL) into out[17]. */
void bench_key(uint64_t i, char out[BENCH_KEY_LEN + 1]);
/* A 16-byte key owned by client c, index i: "cNNNNN:iiiiiiiii". */
void bench_client_key(unsigned c, uint64_t i, char out[BENCH_KEY_LEN + 1]);
/* Fills out with the n-byte value for index i under seed (plus a NUL):
 * printable, different for every index, recomputable by any client. */
void bench_value(uint64_t i, uint64_t seed, size_t n, char *out);
/* An item of max(n, 16) bytes that starts with "i" and the index in 15
 * decimal digits, so it names itself. Returns its length. */
size_t bench_item(uint64_t i, uint64_t seed, size_t n, char *out);
/* Parses an item; true with *index when it is exactly what bench_item
 * makes for some index. */
bool bench_item_parse(const char *s, size_t len, uint64_t seed, size_t n, char *scratch,
                      uint64_t *index);
/* Marks bit i of a shared bitmap; false when it was set already. */
bool bench_bit_set(atomic_uint_fast64_t *bits, uint64_t i);
/* Counts the set bits of a bitmap of n bits. */
uint64_t bench_bit_count(atomic_uint_fast64_t *bits, uint64_t n);

/* Nanoseconds on CLOCK_MONOTONIC (shared by all processes). */
int64_t bench_now(void);

/* ---- bench_pace.c ---- */

/* The time a send of this client's next requests counts from. In a closed
 * loop: now. With --rate: the time its first request was due (sleeping
 * until then when early), so that a server that answers late is charged
 * with the time the requests queued behind it waited too (no coordinated
 * omission); a late send is noted in slot->late_ns. */
int64_t bench_send_time(bench_worker *w);

/* Describes a value for an error message: text, cut to a readable length
 * (caller frees with sm_free()). */
char *bench_show(const sm_value *v);

/* Sets the client's error (printf style) and returns code. */
int bench_fail(bench_worker *w, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
