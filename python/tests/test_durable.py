# SPDX-License-Identifier: MIT
"""test_durable.py - a Python client of a durable statemgrd goes on across
the daemon's crash, exactly once (issue 10): the package is a layer over
libstatemgr, whose connections resume their sessions and send the calls in
flight again with the same sequence numbers.

- Threads add to a value, put to a queue and run pipelines while the daemon
  is SIGKILLed and started again on the same data directory and address,
  several times: every call is answered, the adds answered are 1..N each
  once, and the queue holds every item whose put was answered, once.
- A lock held across a crash stays its holder's: another client cannot take
  it until the holder releases it.
- Given the members of a group as a list, a client goes on at the second
  member when the first is SIGKILLed and a daemon on the same data takes
  over there (issue 14): the adds in flight are answered once.

Each test runs its own daemon on a data directory of its own."""
import os
import random
import shutil
import tempfile
import threading
import time
import unittest

import statemgr
from statemgr import _daemon

THREADS = 3
ROUNDS = 120
CRASHES = 4


class DurableDaemon:
    """A statemgrd with a data directory and a UNIX socket that outlive its
    restarts, and a fixed authkey."""

    def __init__(self):
        self.base = tempfile.mkdtemp(prefix="statemgr-pydurable-")
        self.url = "unix:" + os.path.join(self.base, "statemgr.sock")
        self.successor = "unix:" + os.path.join(self.base, "successor.sock")
        self.key = os.urandom(32)
        self.args = ("--data-dir", os.path.join(self.base, "data"),
                     "--session-resume-timeout", "20000")
        self.daemon = _daemon.Daemon(self.url, self.key, extra_args=self.args)

    def crash(self, url=None):
        """SIGKILL, then a start on the same directory and socket (or
        url)."""
        self.daemon.process.kill()
        self.daemon.stop()
        self.daemon = _daemon.Daemon(url or self.url, self.key, extra_args=self.args)

    def connect(self, url=None):
        # Calls in flight wait for the restarting daemon up to 20 s.
        return statemgr.connect(url or self.url, authkey=self.key, failover_timeout=20)

    def close(self):
        self.daemon.process.terminate()
        self.daemon.stop()
        shutil.rmtree(self.base, ignore_errors=True)


class DurableTest(unittest.TestCase):
    def setUp(self):
        self.d = DurableDaemon()
        self.addCleanup(self.d.close)

    def test_calls_in_flight_answered_once_across_crashes(self):
        c = self.d.connect()
        self.addCleanup(c.close)
        counter = c.value("counter", 0)
        q = c.queue("items")
        totals = [[] for _ in range(THREADS)]
        puts = [[] for _ in range(THREADS)]
        failures = []

        def work(t):
            try:
                for i in range(ROUNDS):
                    totals[t].append(counter.add(1))
                    q.put((t, i))
                    puts[t].append((t, i))
                    if i % 10 == 0:
                        with c.pipeline() as p:
                            adds = [p.on(counter).add(1) for _ in range(3)]
                            p.on(q).put((t, -i - 1))
                        totals[t].extend(r.value for r in adds)
                        puts[t].append((t, -i - 1))
            except statemgr.Error as e:
                failures.append("thread %d: %r" % (t, e))

        threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
        for th in threads:
            th.start()
        rng = random.Random()
        for _ in range(CRASHES):
            time.sleep(0.05 + rng.random() * 0.1)
            self.d.crash()
        for th in threads:
            th.join(60)
        self.assertEqual(failures, [])
        answered = sorted(x for per in totals for x in per)
        self.assertEqual(len(answered), THREADS * (ROUNDS + 3 * len(range(0, ROUNDS, 10))))
        self.assertEqual(answered, list(range(1, len(answered) + 1)),
                         "an add was lost or applied twice")
        self.assertEqual(counter.get(), len(answered))
        got = []
        while True:
            try:
                got.append(tuple(q.get_nowait()))
            except statemgr.Empty:
                break
        self.assertEqual(sorted(got), sorted(x for per in puts for x in per),
                         "a put was lost or applied twice")

    def test_failover_to_the_next_member_of_a_list(self):
        members = "%s,%s" % (self.d.url, self.d.successor[len("unix:"):])
        c = self.d.connect(members)
        self.addCleanup(c.close)
        self.assertEqual(c.url, members)
        counter = c.value("counter", 0)
        totals = [[] for _ in range(THREADS)]
        failures = []
        # Every thread has its connection (and session) before the crash: a
        # connection opened while no member listens fails at once.
        connected = threading.Barrier(THREADS + 1)

        def work(t):
            try:
                for i in range(ROUNDS):
                    totals[t].append(counter.add(1))
                    if i == 0:
                        connected.wait()
            except statemgr.Error as e:
                failures.append("thread %d: %r" % (t, e))
                connected.abort()

        threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
        for th in threads:
            th.start()
        connected.wait(30)
        time.sleep(0.02)
        self.d.crash(self.d.successor)
        for th in threads:
            th.join(60)
        self.assertEqual(failures, [])
        answered = sorted(x for per in totals for x in per)
        self.assertEqual(answered, list(range(1, THREADS * ROUNDS + 1)))
        self.assertEqual(counter.get(), THREADS * ROUNDS)

    def test_lock_held_across_a_crash_stays_held(self):
        c = self.d.connect()
        self.addCleanup(c.close)
        lock = c.lock("L")
        self.assertTrue(lock.acquire())
        self.d.crash()
        other = self.d.connect()
        self.addCleanup(other.close)
        theirs = other.lock("L")
        self.assertFalse(theirs.acquire(timeout=0.3), "the lock went to another client")
        lock.release()  # the holder's session was resumed: it is still its own
        self.assertTrue(theirs.acquire(timeout=5))
        theirs.release()


if __name__ == "__main__":
    unittest.main()
