# SPDX-License-Identifier: MIT
"""test_proxies.py - the proxies behave as Python's do (dunder methods,
exceptions, context managers, timeouts), plus statemgr's own: atomic add,
set_if_absent / cas, pipelines, named objects, shutdown with live
proxies."""
import queue
import threading
import time
import unittest

import statemgr


class ProxiesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = statemgr.Manager()

    @classmethod
    def tearDownClass(cls):
        cls.m.shutdown()

    def test_dict_like_python(self):
        """KeyError for a missing key, get/pop defaults, popitem order,
        update with kwargs, iteration and str."""
        d = self.m.dict({"a": 1}, b=2)
        with self.assertRaises(KeyError):
            d["zz"]
        with self.assertRaises(KeyError):
            del d["zz"]
        self.assertIsNone(d.get("zz"))
        self.assertEqual(d.pop("zz", 7), 7)
        d.update({"c": 3}, d=4)
        self.assertEqual(list(d), ["a", "b", "c", "d"])
        self.assertEqual(d.popitem(), ("d", 4))
        self.assertEqual(d.setdefault("a", 9), 1)
        self.assertEqual(str(d), str({"a": 1, "b": 2, "c": 3}))
        d.clear()
        with self.assertRaises(KeyError):
            d.popitem()

    def test_list_like_python(self):
        """Indexing and slices (with steps), IndexError, ValueError for
        remove/index, +=, *=, sort with a key, reversed."""
        l = self.m.list([3, 1, 2])
        self.assertEqual(l[-1], 2)
        with self.assertRaises(IndexError):
            l[10]
        with self.assertRaises(IndexError):
            l[10] = 1
        l += [5]
        self.assertEqual(l[::2], [3, 2])
        l[1:3] = ["x"]
        self.assertEqual(l[:], [3, "x", 5])
        del l[1]
        l.sort()
        self.assertEqual(l[:], [3, 5])
        l.sort(key=lambda x: -x)
        self.assertEqual(l[:], [5, 3])
        self.assertEqual(list(reversed(l)), [3, 5])
        with self.assertRaises(ValueError):
            l.remove(42)
        with self.assertRaises(ValueError):
            l.index(42)
        l *= 2
        self.assertEqual(l[:], [5, 3, 5, 3])
        self.assertEqual(l.pop(), 3)
        l.clear()
        with self.assertRaises(IndexError):
            l.pop()
        self.assertNotEqual(l, [])  # identity comparison, as Python's ListProxy

    def test_value_add_is_atomic(self):
        """Four threads add 500 times each: no update is lost."""
        v = self.m.Value("i", 0)

        def work():
            for _ in range(500):
                v.add(1)

        ts = [threading.Thread(target=work) for _ in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual(v.value, 2000)
        self.assertEqual(v.add(0.5), 2000.5)

    def test_array(self):
        """Array(typecode, seq) with Python's typecodes: indexing, slices,
        IndexError, ValueError for a value the type cannot hold, atomic add."""
        a = self.m.Array("i", [1, 2, 3])
        self.assertEqual((len(a), a[0], a[-1], a[:2], list(a)), (3, 1, 3, [1, 2], [1, 2, 3]))
        a[1] = 20
        a[0:2] = [7, 8]
        self.assertEqual(a.tolist(), [7, 8, 3])
        self.assertEqual(a.add(2, 5), 8)
        with self.assertRaises(IndexError):
            a[3]
        with self.assertRaises(ValueError):
            a[0] = 2**40
        b = self.m.Array("d", 2)
        b[0] = 1.5
        self.assertEqual((b.typecode, b.tolist()), ("f64", [1.5, 0.0]))

    def test_dict_atomic_helpers(self):
        """set_if_absent stores once; cas swaps only on the expected value
        (ABSENT: a missing key)."""
        d = self.m.dict()
        self.assertTrue(d.set_if_absent("k", 1))
        self.assertFalse(d.set_if_absent("k", 2))
        self.assertFalse(d.cas("k", 5, 6))
        self.assertTrue(d.cas("k", 1, 6))
        self.assertTrue(d.cas("new", statemgr.ABSENT, "v"))
        self.assertFalse(d.cas("new", statemgr.ABSENT, "w"))
        self.assertEqual(d.copy(), {"k": 6, "new": "v"})

    def test_queue_exceptions_and_timeouts(self):
        """Empty / Full are queue.Empty / queue.Full, at once or at the
        deadline; a negative timeout is a ValueError; task_done too often a
        ValueError."""
        q = self.m.Queue(1)
        q.put(1)
        with self.assertRaises(queue.Full):
            q.put_nowait(2)
        t0 = time.monotonic()
        with self.assertRaises(queue.Full):
            q.put(2, timeout=0.1)
        self.assertGreaterEqual(time.monotonic() - t0, 0.09)
        self.assertEqual(q.get(), 1)
        with self.assertRaises(queue.Empty):
            q.get_nowait()
        with self.assertRaises(ValueError):
            q.get(timeout=-1)
        jq = self.m.JoinableQueue()
        with self.assertRaises(ValueError):
            jq.task_done()
        self.assertIn("JoinableQueue", repr(jq))

    def test_locks(self):
        """A lock's release by a thread that does not hold it is a
        RuntimeError (statemgr's locks have an owner); non-blocking with a
        timeout is a ValueError; RLock nests."""
        lock = self.m.Lock()
        self.assertTrue(lock.acquire())
        errors = []

        def other():
            try:
                lock.release()
            except RuntimeError as e:
                errors.append(e)
            errors.append(lock.acquire(timeout=0.05))

        t = threading.Thread(target=other)
        t.start()
        t.join()
        self.assertIsInstance(errors[0], RuntimeError)
        self.assertIs(errors[1], False)
        lock.release()
        with self.assertRaises(ValueError):
            lock.acquire(False, 1)
        r = self.m.RLock()
        with r:
            with r:
                self.assertEqual(r._count(), 2)
        self.assertFalse(r.locked())

    def test_barrier_properties(self):
        """parties, n_waiting, broken, abort and reset, and
        BrokenBarrierError on a broken barrier."""
        b = self.m.Barrier(2, timeout=5)
        self.assertEqual((b.parties, b.n_waiting, b.broken), (2, 0, False))
        b.abort()
        self.assertTrue(b.broken)
        with self.assertRaises(threading.BrokenBarrierError):
            b.wait()
        b.reset()
        self.assertFalse(b.broken)

    def test_condition_wait_for(self):
        """wait_for returns once another thread makes the predicate true and
        notifies."""
        cond = self.m.Condition()
        flag = self.m.Value("i", 0)

        def setter():
            time.sleep(0.05)
            with cond:
                flag.value = 1
                cond.notify_all()

        t = threading.Thread(target=setter)
        t.start()
        with cond:
            self.assertTrue(cond.wait_for(lambda: flag.value == 1, timeout=5))
        t.join()
        with self.assertRaises(RuntimeError):
            cond.wait(0)

    def test_pipeline(self):
        """Queued calls run in order in one round trip; each Result holds
        its answer or error, and execute raises the first error."""
        d = self.m.dict()
        v = self.m.Value("i", 0)
        with self.m.pipeline() as p:
            for i in range(16):
                p.on(d)[i] = i * i
            total = p.on(v).add(16)
            missing = p.on(d).get("nope")
            size = p.call(d, "len")
        self.assertEqual(total.value, 16)
        self.assertEqual(size.value, 16)
        self.assertIsInstance(missing.error, statemgr.NotFound)
        with self.assertRaises(statemgr.NotFound):
            missing.value
        p = self.m.pipeline()
        p.on(d)[(1, 2)] = "tuple key"
        p.on(d).get("nope")
        with self.assertRaises(statemgr.NotFound):
            p.execute()
        self.assertEqual(d[(1, 2)], "tuple key")
        self.assertEqual(p.execute(), [])
        # l[99] = 1 gives no Result: its failure is raised by the block.
        l = self.m.list([1])
        with self.assertRaises(statemgr.BadValue):
            with self.m.pipeline() as p:
                p.on(l)[99] = 1
                p.on(l)[0] = 2
        self.assertEqual(l[:], [2])

    def test_pipeline_views(self):
        """p.on(proxy) gives the same view while asked for the same proxy;
        its [k] = v and del [k] queue set and del (dict keys with Python's
        equality); a view refuses what is not a proxy of its client, and a
        failed block drops what its views queued."""
        d, l = self.m.dict({"gone": 0}), self.m.list([0, 0])
        p = self.m.pipeline()
        on = p.on(d)
        self.assertIs(p.on(d), on)
        self.assertIsNot(p.on(l), on)
        self.assertIs(on.proxy, d)
        self.assertIs(on.pipeline, p)
        on[(1.0, True)] = "canonical"
        del on["gone"]
        p.on(l)[1] = "x"
        answer = on["gone"]
        self.assertEqual(len(p), 4)
        self.assertEqual(p.execute(raise_on_error=False)[:3], [None, None, None])
        self.assertIsInstance(answer.error, statemgr.NotFound)
        self.assertEqual(d[(1, 1)], "canonical")
        self.assertNotIn("gone", d)
        self.assertEqual(l[1], "x")
        on["again"] = 1  # a view outlives the run it was made for
        first = p.on(l)[0]
        again = on[(1, 1.0)]
        self.assertIsInstance(first, statemgr.Result)
        self.assertFalse(first.ready)
        p.execute()
        self.assertEqual(d["again"], 1)
        self.assertEqual((first.value, again.value), (0, "canonical"))
        with self.assertRaises(TypeError):
            p.on({})
        other = statemgr.Manager()
        try:
            with self.assertRaises(ValueError):
                p.on(other.dict())["k"] = 1
        finally:
            other.shutdown()
        with self.assertRaises(KeyError):
            with self.m.pipeline() as p:
                p.on(d)["dropped"] = 1
                raise KeyError("stop")
        self.assertNotIn("dropped", d)
        errors = []
        t = threading.Thread(target=lambda: errors.append(self._set_from_thread(on)))
        t.start()
        t.join()
        self.assertIsInstance(errors[0], RuntimeError)

    @staticmethod
    def _set_from_thread(view):
        try:
            view["t"] = 1
        except RuntimeError as e:
            return e
        return None

    def test_register_refuses_python_callables(self):
        """A callable that would have to run in the server is refused at
        register() with a TypeError that says what statemgr can serve."""
        class M(statemgr.BaseManager):
            pass

        with self.assertRaisesRegex(TypeError, "runs no Python code"):
            M.register("Foo", callable=lambda: 1)
        M.register("Shared", callable=dict, name="shared-dict")
        with self.assertRaisesRegex(NotImplementedError, "no Pool"):
            self.m.Pool()

    def test_shutdown_releases_live_proxies(self):
        """Proxies that outlive their manager raise a clear error instead
        of crashing; shutdown answers a call blocked in another thread."""
        m = statemgr.Manager()
        d = m.dict(a=1)
        q = m.Queue()
        got = []

        def blocked():
            try:
                q.get()
            except statemgr.Error as e:
                got.append(e)

        t = threading.Thread(target=blocked)
        t.start()
        time.sleep(0.1)
        m.shutdown()
        t.join(10)
        self.assertFalse(t.is_alive())
        self.assertEqual(len(got), 1)
        with self.assertRaises(statemgr.ConnectionClosed):
            d["a"]


if __name__ == "__main__":
    unittest.main()
