# SPDX-License-Identifier: MIT
"""test_fencing.py - the Python form of fencing tokens, guards, owner-death
policies and deadlock refusals (docs/objects.md "Fencing tokens", "What a
dead holder leaves", "Deadlocks"), against a private statemgrd."""
import multiprocessing
import os
import threading
import time
import unittest

import statemgr


def _die_holding(lock):
    lock.acquire()
    os._exit(0)  # no release: the daemon sees the holder die


class FencingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = statemgr.Manager()

    @classmethod
    def tearDownClass(cls):
        cls.m.shutdown()

    def test_tokens_grow(self):
        lock = self.m.Lock()
        first = lock.acquire_token()
        self.assertGreater(first, 0)
        self.assertEqual(lock.fence_token, first)
        lock.release()
        self.assertEqual(lock.acquire_token(), first + 1)
        self.assertIsNone(lock.acquire_token(timeout=0))  # held: no grant
        lock.release()
        sem = self.m.Semaphore(2, policy="release")
        a, b = sem.acquire_token(), sem.acquire_token()
        self.assertGreater(b, a)
        sem.release(2)

    def test_guard_refuses_a_stale_token(self):
        lock, d = self.m.Lock(), self.m.dict()
        token = lock.acquire_token()
        with lock.guard():
            d["file"] = "first"
        lock.release()
        other = []
        t = threading.Thread(target=lambda: (other.append(lock.acquire_token()), d.update()))
        t.start()
        t.join()  # the thread's connection closes: released again
        with self.assertRaises(statemgr.Fenced):
            with lock.guard(token):
                d["file"] = "late"
        self.assertEqual(d["file"], "first")
        self.assertEqual(other, [token + 1])
        d["file"] = "unguarded"  # the guard ended with the block
        self.assertEqual(d["file"], "unguarded")

    def test_policy_break(self):
        lock = self.m.Lock(policy="break")
        p = multiprocessing.Process(target=_die_holding, args=(lock,))
        p.start()
        p.join()
        deadline = time.monotonic() + 10
        while lock.locked() and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertTrue(lock.acquire(timeout=5))
        self.assertTrue(lock.owner_dead)
        lock.release()
        self.assertTrue(lock.acquire(timeout=5))
        self.assertFalse(lock.owner_dead)
        lock.release()
        with self.assertRaises(ValueError):
            self.m.Lock(policy="forget")

    def test_policy_keep(self):
        lock = self.m.Lock(policy="keep")
        p = multiprocessing.Process(target=_die_holding, args=(lock,))
        p.start()
        p.join()
        self.assertFalse(lock.acquire(timeout=0.2))  # Python's: still held
        lock.release()  # anyone may release a kept Lock

    def test_deadlock_and_listing(self):
        a, b = self.m.Lock(), self.m.Lock()
        a.acquire()
        got_b, waiting = threading.Event(), threading.Event()
        result = []

        def other():
            b.acquire()
            got_b.set()
            waiting.wait()
            result.append(a.acquire(timeout=10))  # parks until the main thread lets go
            a.release()
            b.release()

        t = threading.Thread(target=other)
        t.start()
        got_b.wait()
        waiting.set()
        conn = self.m.connection
        deadline = time.monotonic() + 10
        while not any(e["waiters"] for e in conn.locks()) and time.monotonic() < deadline:
            time.sleep(0.01)
        listed = {e["object"]: e for e in conn.locks()}
        self.assertEqual(len(listed[a._id]["waiters"]), 1)
        self.assertEqual(len(listed[b._id]["holders"]), 1)
        with self.assertRaises(statemgr.Deadlock):
            b.acquire(timeout=10)
        a.release()
        t.join()
        self.assertEqual(result, [True])


if __name__ == "__main__":
    unittest.main()
