# SPDX-License-Identifier: MIT
"""test_txn.py - statemgr.Txn, rev and watch through the package: the
then- or else-calls run as the conditions say, with one answer per call,
a call that cannot run or fails on the state raises with nothing applied, and a watcher in another process sees every change
in order."""
import multiprocessing
import unittest

import statemgr


def _writer(d, n):
    for i in range(1, n + 1):
        d["k"] = i


class TxnTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = statemgr.Manager()

    @classmethod
    def tearDownClass(cls):
        cls.m.shutdown()

    def test_then_and_else(self):
        """Conditions that hold run the then-calls in order; the same
        transaction once they do not runs the else-calls."""
        d = self.m.dict({"a": 10})
        q = self.m.Queue()
        t = self.m.txn().if_equals(d, "a", 10).if_absent(d, "b")
        t.then(d, "set", "a", 7).then(d, "set", "b", 3).then(q, "put", "moved").then(d, "len")
        t.orelse(q, "put", "refused")
        self.assertTrue(t.commit())
        self.assertEqual(t.results, [None, None, None, 2])
        self.assertEqual(dict(d), {"a": 7, "b": 3})
        self.assertFalse(t.commit())
        self.assertEqual(q.get(), "moved")
        self.assertEqual(q.get(), "refused")

    def test_failures(self):
        """A call failing on the state raises its exception and applies
        nothing, the calls before it included; so does a call that cannot
        run."""
        d = self.m.dict({"k": 0})
        q = self.m.Queue()
        lst = self.m.list([1, 2])
        t = self.m.txn().then(d, "set", "k", 1).then(lst, "append", 3).then(q, "get")
        with self.assertRaises(statemgr.Empty) as raised:
            t.commit()
        self.assertIn("then operation 3 (queue.get)", str(raised.exception))
        self.assertEqual(t.results, [])
        self.assertEqual(dict(d), {"k": 0})
        self.assertEqual(list(lst), [1, 2])
        t = self.m.txn().then(d, "pop", "k").then(d, "pop", "zz")
        with self.assertRaises(statemgr.NotFound):
            t.commit()
        self.assertEqual(dict(d), {"k": 0})
        bad = self.m.txn().then(d, "set", "x", 1).then(d, "no_such_method")
        with self.assertRaises(statemgr.WrongType):
            bad.commit()
        self.assertNotIn("x", d)
        with self.assertRaises(TypeError):
            self.m.txn().then("not a proxy", "len").commit()
        with self.assertRaises(ValueError):
            self.m.txn().if_compare(d, "k", "=~", 1)

    def test_conditions(self):
        """compare, size, held, is_set and rev from Python."""
        d = self.m.dict({"n": 5})
        lock = self.m.Lock()
        ev = self.m.Event()
        self.assertTrue(self.m.txn().if_compare(d, "n", ">", 4).if_size(d, "==", 1).commit())
        self.assertFalse(self.m.txn().if_held(lock).commit())
        with lock:
            self.assertTrue(self.m.txn().if_held(lock).commit())
        self.assertFalse(self.m.txn().if_set(ev).commit())
        ev.set()
        self.assertTrue(self.m.txn().if_set(ev).commit())
        r = statemgr.rev(d)
        self.assertTrue(self.m.txn().if_rev(d, "==", r).then(d, "set", "n", 6).commit())
        self.assertFalse(self.m.txn().if_rev(d, "==", r).commit())

    def test_watch_every_change(self):
        """A watcher reading the revision, then following it, sees all 100
        values another process writes, in order; a watch with nothing new
        times out."""
        d = self.m.dict()
        cfg = self.m.dict()
        rev = statemgr.rev(cfg)
        p = multiprocessing.get_context("fork").Process(target=_writer, args=(cfg, 100))
        p.start()
        seen = []
        while len(seen) < 100:
            rev, events = statemgr.watch(cfg, rev, "k", timeout=10)
            self.assertIsNotNone(events)
            seen.extend(value for _rev, kind, _key, value in events if kind == "set")
        p.join()
        self.assertEqual(seen, list(range(1, 101)))
        with self.assertRaises(statemgr.Timeout):
            statemgr.watch(cfg, rev, timeout=0.05)
        self.assertEqual(statemgr.watch(d, 0, timeout=0), (0, []))


if __name__ == "__main__":
    unittest.main()
