#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""pyclient.py - drives statemgr-bench's workloads from Python worker
processes, using proxies the way a Python program would, against either
  - a Python SyncManager (bench/pymanager.py; --address), with
    multiprocessing.managers proxies, or
  - statemgrd (--statemgr-url), with the statemgr package's proxies of the
    named objects bench_dict, bench_queue, bench_value and bench_lock,
and prints the result in statemgr-bench's line format:

  workload=NAME transport=tcp clients=C pipeline=P ops_per_s=X p50_us=Y p99_us=Z

Workloads (what one operation is, as statemgr-bench counts it):
  dict_set      d[key] = value                      (1 op)
  dict_get      d[key], checked against the value   (1 op; keys preloaded)
  value_incr    with lock: v.value += 1             (1 op; 4 round trips)
  queue_putget  q.put(item); q.get()                (2 ops)
  lock          lock.acquire(); lock.release()      (2 ops)

With statemgr, value_incr is one atomic v.add(1) (the point of it: no
lock), and -P N sends dict_set, dict_get and value_incr in pipelines of N
calls (with m.pipeline()); a pipelined operation's latency is its batch's.
Python's proxies have no pipelining: -P needs --statemgr-url.

Each client makes the keys and values of its operations (key:%012d of a
pseudo-random number and a 64-byte pattern of it) before the clock starts,
with either server: the loops time the proxies, not Python's string
formatting.

Every answer is checked as statemgr-bench checks its own (gets return what
was set, every item comes back once, the counter ends at the number of
increments); a wrong one prints "error: workload=..." and exits 1. Clients
start together on a barrier; ops_per_s is all operations over the time from
the first start to the last end; latencies are per operation.
"""
import argparse
import multiprocessing as mp
import os
import sys
import time
from multiprocessing.managers import AcquirerProxy, BaseManager, DictProxy, ValueProxy


class BenchClient(BaseManager):
    """The client side of pymanager.BenchManager's typeids."""


BenchClient.register("bench_dict", proxytype=DictProxy)
BenchClient.register("bench_queue")
BenchClient.register("bench_value", proxytype=ValueProxy)
BenchClient.register("bench_lock", proxytype=AcquirerProxy)

WORKLOADS = {"dict_set": 1, "dict_get": 1, "value_incr": 1, "queue_putget": 2, "lock": 2}


def key(i):
    return "key:%012d" % i


def value(i, size):
    """The value of key i: recomputable by any client."""
    pat = "%016x" % ((i * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
    return (pat * (size // 16 + 1))[:size]


class StatemgrBench:
    """The same four objects in statemgrd, as named objects."""

    def __init__(self, args):
        import statemgr

        self.conn = statemgr.connect(args.statemgr_url, authkey=args.key)

    def bench_dict(self):
        return self.conn.dict("bench_dict")

    def bench_queue(self):
        return self.conn.queue("bench_queue")

    def bench_value(self):
        return self.conn.value("bench_value")

    def bench_lock(self):
        return self.conn.lock("bench_lock")


def connect(args):
    if args.statemgr_url:
        return StatemgrBench(args)
    m = BenchClient(address=args.address, authkey=args.key)
    m.connect()
    return m


def run_pipelined(args, m, d, v, ops, count, lat, clock):
    """dict_set, dict_get and value_incr in pipelines of args.pipeline calls
    (statemgr only), with on = pl.on(proxy) once per pipeline, as a
    program writes it."""
    conn = m.conn
    workload = args.workload
    done = 0
    while done < count:
        n = min(args.pipeline, count - done)
        batch = ops[done:done + n]
        got = []
        s = clock()
        with conn.pipeline() as pl:
            if workload == "value_incr":
                on = pl.on(v)
                for _ in range(n):
                    on.add(1)
            elif workload == "dict_set":
                on = pl.on(d)
                for k, val in batch:
                    on[k] = val
            else:
                on = pl.on(d)
                for k, val in batch:
                    got.append((k, val, on[k]))
        e = clock()
        lat.extend([e - s] * n)
        for k, val, r in got:
            if r.value != val:
                raise AssertionError(f"d[{k!r}] returned {r.value[:40]!r}")
        done += n


def make_ops(args, index, count):
    """The (key, value) of each of a client's dict operations: keys drawn
    by the client's own generator, made before the clock starts."""
    if args.workload not in ("dict_set", "dict_get"):
        return []
    rng = (index * 2654435761 + args.seed) & 0xFFFFFFFF
    ops = []
    for _ in range(count):
        rng = (rng * 1103515245 + 12345) & 0x7FFFFFFF
        i = rng % args.keyspace
        ops.append((key(i), value(i, args.data_size)))
    return ops


def worker(args, index, first, count, setup, barrier, results):
    """One client: its own manager connection and proxies."""
    try:
        run_worker(args, index, first, count, setup, barrier, results)
    finally:
        # Leave without the proxies' finalizers: each would open a new
        # connection to send a decref, fifty processes at once.
        results.close()
        results.join_thread()
        os._exit(0)


def run_worker(args, index, first, count, setup, barrier, results):
    lat = []
    err = None
    t0 = t1 = 0.0
    try:
        with setup:  # a few clients at a time open their connections
            m = connect(args)
            d, q, v, lock = m.bench_dict(), m.bench_queue(), m.bench_value(), m.bench_lock()
            len(d)  # connect the proxies before the clock starts
            q.qsize()
            v.get()
            lock.acquire()
            lock.release()
        ops = make_ops(args, index, count)
        barrier.wait()
        t0 = time.monotonic()
        clock = time.perf_counter
        if args.pipeline > 1:
            run_pipelined(args, m, d, v, ops, count, lat, clock)
            count = 0
        for j in range(count):
            if args.workload in ("dict_set", "dict_get"):
                k, val = ops[j]
                if args.workload == "dict_set":
                    s = clock()
                    d[k] = val
                    lat.append(clock() - s)
                else:
                    s = clock()
                    got = d[k]
                    lat.append(clock() - s)
                    if got != val:
                        raise AssertionError(f"d[{k!r}] returned {got[:40]!r}")
            elif args.workload == "value_incr" and args.statemgr_url:
                s = clock()
                v.add(1)  # atomic in the daemon: no lock
                lat.append(clock() - s)
            elif args.workload == "value_incr":
                s = clock()
                with lock:
                    v.value += 1
                lat.append(clock() - s)
            elif args.workload == "queue_putget":
                item = "i%015d" % (first + j)
                s = clock()
                q.put(item)
                s2 = clock()
                got = q.get(timeout=30)
                e = clock()
                lat.append(s2 - s)
                lat.append(e - s2)
                if not (isinstance(got, str) and got.startswith("i") and len(got) == 16):
                    raise AssertionError(f"q.get() returned {got!r}")
            else:
                s = clock()
                lock.acquire()
                s2 = clock()
                lock.release()
                e = clock()
                lat.append(s2 - s)
                lat.append(e - s2)
        t1 = time.monotonic()
    except Exception as exc:  # reported by the parent, which exits 1
        err = f"client {index}: {type(exc).__name__}: {exc}"
        try:
            barrier.abort()
        except Exception:
            pass
    results.put((index, t0, t1, lat, err))


def prepare(args, total):
    m = connect(args)
    d, q, v = m.bench_dict(), m.bench_queue(), m.bench_value()
    if args.workload == "dict_get":
        for start in range(0, args.keyspace, 1000):
            end = min(start + 1000, args.keyspace)
            d.update({key(i): value(i, args.data_size) for i in range(start, end)})
    if args.workload == "value_incr":
        v.value = 0
    if args.workload == "queue_putget":
        while q.qsize() > 0:
            q.get_nowait()


def verify(args, iterations):
    m = connect(args)
    if args.workload == "value_incr":
        got = m.bench_value().value
        if got != iterations:
            return f"the counter is {got} after {iterations} increments"
    if args.workload == "queue_putget":
        left = m.bench_queue().qsize()
        if left != 0:
            return f"{left} items left in the queue"
    return None


def quantile(sorted_lat, q):
    if not sorted_lat:
        return 0.0
    k = max(0, min(len(sorted_lat) - 1, int(q * len(sorted_lat) + 0.999999) - 1))
    return sorted_lat[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    where = ap.add_mutually_exclusive_group(required=True)
    where.add_argument("--address", help="HOST:PORT of pymanager.py")
    where.add_argument("--statemgr-url", help="a statemgrd URL: use the statemgr package")
    ap.add_argument("-P", "--pipeline", type=int, default=1,
                    help="calls per pipeline (statemgr: dict_set, dict_get, value_incr)")
    ap.add_argument("--authkey-file", required=True)
    ap.add_argument("-t", "--workload", required=True, choices=sorted(WORKLOADS))
    ap.add_argument("-c", "--clients", type=int, default=1)
    ap.add_argument("-n", "--requests", type=int, default=10000)
    ap.add_argument("-d", "--data-size", type=int, default=64)
    ap.add_argument("-r", "--keyspace", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--csv", action="store_true")
    args = ap.parse_args()
    if args.pipeline > 1 and (not args.statemgr_url or
                              args.workload not in ("dict_set", "dict_get", "value_incr")):
        ap.error("-P needs --statemgr-url and dict_set, dict_get or value_incr")
    if args.address:
        host, port = args.address.rsplit(":", 1)
        args.address = (host, int(port))
    with open(args.authkey_file, "rb") as f:
        args.key = f.read()
    if args.key.endswith(b"\n"):
        args.key = args.key[:-1]

    ctx = mp.get_context("fork")
    iterations = max(1, args.requests // WORKLOADS[args.workload])
    prepare(args, iterations)
    barrier = ctx.Barrier(args.clients)
    setup = ctx.BoundedSemaphore(16)
    results = ctx.Queue()
    procs = []
    first = 0
    for i in range(args.clients):
        count = iterations // args.clients + (1 if i < iterations % args.clients else 0)
        p = ctx.Process(target=worker, args=(args, i, first, count, setup, barrier, results))
        p.start()
        procs.append(p)
        first += count
    got = [results.get() for _ in procs]
    for p in procs:
        p.join()
    errors = [r[4] for r in got if r[4]]
    err = errors[0] if errors else verify(args, iterations)
    line = f"workload={args.workload} transport=tcp clients={args.clients} pipeline={args.pipeline}"
    if err:
        print(f"error: {line}: {err}", file=sys.stderr)
        sys.exit(1)
    lat = sorted(x for r in got for x in r[3])
    t0 = min(r[1] for r in got)
    t1 = max(r[2] for r in got)
    ops = len(lat) / (t1 - t0) if t1 > t0 else 0.0
    p50, p99 = quantile(lat, 0.5) * 1e6, quantile(lat, 0.99) * 1e6
    if args.csv:
        print(f"{args.workload},tcp,{args.clients},{args.pipeline},{ops:.0f},{p50:.1f},{p99:.1f}")
    else:
        print(f"{line} ops_per_s={ops:.0f} p50_us={p50:.1f} p99_us={p99:.1f}")


if __name__ == "__main__":
    main()
