# SPDX-License-Identifier: MIT
"""test_set.py - Manager().set() behaves as Python 3.14's managed set: every
method and operator gives what a Python set gives, with KeyError where
Python raises it, tuples and numbers as elements compared as dict keys,
and one set shared with a forked process and through Connection.set()."""
import multiprocessing
import random
import unittest

import statemgr


class SetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = statemgr.Manager()

    @classmethod
    def tearDownClass(cls):
        cls.m.shutdown()

    def test_like_python(self):
        """The same calls on a shared set and a Python set leave the same
        elements and return the same results."""
        s, p = self.m.set([3, 1, 2]), {3, 1, 2}
        self.assertIsInstance(s, statemgr.SetProxy)
        for name, args in [
            ("add", (4,)), ("discard", (9,)), ("remove", (3,)), ("update", ([5, 6], {7})),
            ("intersection_update", (range(10), [1, 2, 4, 5, 6, 7, 8])),
            ("difference_update", ([8], [2])), ("symmetric_difference_update", ([1, 10],)),
        ]:
            self.assertEqual(getattr(s, name)(*args), getattr(p, name)(*args), name)
            self.assertEqual(s.copy(), p, name)
        for name, args in [
            ("union", ([1, 99], (100,))), ("intersection", ([4, 5, 6],)), ("intersection", ()),
            ("difference", ([4], [5])), ("symmetric_difference", ([4, 42],)),
            ("issubset", (range(20),)), ("issubset", ([4],)), ("issuperset", ([4, 5],)),
            ("issuperset", ([0],)), ("isdisjoint", ([0, 11],)), ("isdisjoint", ([4],)),
        ]:
            self.assertEqual(getattr(s, name)(*args), getattr(p, name)(*args), name)
        self.assertEqual(len(s), len(p))
        self.assertEqual(sorted(s), sorted(p))
        self.assertEqual(sorted(s.scan(count=2)), sorted(p))
        self.assertIn(4, s)
        self.assertNotIn(3, s)
        self.assertEqual(str(s), str(s.copy()))

    def test_random_against_python(self):
        """400 random calls (fixed seed) on a shared set and a Python set,
        with elements of mixed numeric kinds (1, 1.0, True...), give the
        same results and leave the same elements after each call."""
        rng = random.Random(13)
        s, p = self.m.set(), set()

        def elem():
            n = rng.randrange(8)
            return rng.choice([n, float(n), n == 1, str(n)])

        def elems():
            return [elem() for _ in range(rng.randrange(5))]

        for _ in range(400):
            name = rng.choice(["add", "discard", "remove", "pop", "update", "intersection_update",
                               "difference_update", "symmetric_difference_update", "union",
                               "intersection", "difference", "symmetric_difference", "issubset",
                               "issuperset", "isdisjoint", "contains"])
            if name in ("add", "discard", "remove", "contains"):
                args = (elem(),)
            elif name == "pop":
                args = ()
            elif name.startswith("symmetric") or name.startswith("is"):
                args = (elems(),)
            else:
                args = tuple(elems() for _ in range(rng.randrange(3)))
            if name == "contains":
                self.assertEqual(args[0] in s, args[0] in p)
                continue
            if name == "pop":  # which one is arbitrary in Python: take the same one
                if not p:
                    self.assertRaises(KeyError, s.pop)
                    continue
                p.remove(s.pop())
            else:
                try:
                    want = getattr(p, name)(*args)
                except KeyError:
                    self.assertRaises(KeyError, getattr(s, name), *args)
                    continue
                self.assertEqual(getattr(s, name)(*args), want, (name, args))
            self.assertEqual(s.copy(), p, (name, args))
            self.assertEqual(len(s), len(p))

    def test_operators(self):
        """|, &, -, ^ (both sides) give sets, the in-place forms change the
        shared set and keep the proxy, comparisons compare elements, and a
        list operand is refused as Python refuses it."""
        s = self.m.set([1, 2, 3])
        t = self.m.set([3, 4])
        self.assertEqual(s | {9}, {1, 2, 3, 9})
        self.assertEqual({9} | s, {1, 2, 3, 9})
        self.assertEqual(s & t, {3})
        self.assertEqual(s - {1}, {2, 3})
        self.assertEqual({1, 5} - s, {5})
        self.assertEqual(s ^ {3, 7}, {1, 2, 7})
        self.assertEqual(frozenset({3, 7}) ^ s, {1, 2, 7})
        self.assertTrue(s <= {1, 2, 3})
        self.assertFalse(s < {1, 2, 3})
        self.assertTrue(s < {1, 2, 3, 4})
        self.assertTrue(s >= {1})
        self.assertTrue(s > {1})
        self.assertFalse(s > {1, 2, 3})
        with self.assertRaises(TypeError):
            s | [1]
        with self.assertRaises(TypeError):
            s <= [1]
        before = s
        s |= {8}
        self.assertIs(s, before)
        s &= {1, 2, 8}
        s -= {2}
        s ^= {1, 5}
        self.assertEqual(s.copy(), {8, 5})
        self.assertEqual(t.copy(), {3, 4})

    def test_errors_like_python(self):
        """remove of an absent element and pop of an empty set raise
        KeyError; an unhashable element raises TypeError and changes
        nothing."""
        s = self.m.set()
        with self.assertRaises(KeyError):
            s.remove("absent")
        with self.assertRaises(KeyError) as cm:
            s.pop()
        self.assertIn("empty set", str(cm.exception))
        s.add("a")
        with self.assertRaises(TypeError):
            s.add([1])
        with self.assertRaises(TypeError):
            s.update(["b", [1]])
        self.assertEqual(s.copy(), {"a"})
        self.assertEqual(s.pop(), "a")

    def test_elements_compare_as_dict_keys(self):
        """1, 1.0 and True are one element; tuples (also with 1.0 in
        them), frozensets, bytes and None are elements as in Python."""
        s = self.m.set([1, 1.0, True, (1, 2), (1.0, 2), frozenset({3}), b"x", None])
        self.assertEqual(len(s), 5)
        self.assertIn(True, s)
        self.assertIn((True, 2), s)
        self.assertIn(frozenset({3}), s)
        self.assertEqual(s.copy(), {1, (1, 2), frozenset({3}), b"x", None})
        s.discard((1, 2.0))
        self.assertNotIn((1, 2), s)

    def test_pipeline(self):
        """Pipelined set calls take elements as keys (a tuple stays one
        element) and operands as any iterable; answers are the daemon's
        (lists), in order."""
        s = self.m.set()
        with self.m.pipeline() as p:
            on = p.on(s)
            on.add((1, 2))
            on.update(range(3), {"x"})
            has = on.contains((1.0, 2))
            both = on.intersection([2, "x", 9])
        self.assertTrue(has.value)
        self.assertEqual(both.value, [2, "x"])
        self.assertEqual(s.copy(), {(1, 2), 0, 1, 2, "x"})

    def test_shared(self):
        """A forked process adds to the set it was handed; a named set is
        one object for two connections; register(set) makes sets too."""
        s = self.m.set()
        ctx = multiprocessing.get_context("fork")
        p = ctx.Process(target=_add_many, args=(s, range(50)))
        p.start()
        p.join(30)
        self.assertEqual(p.exitcode, 0)
        self.assertEqual(s.copy(), set(range(50)))
        conn = self.m.connection
        a, b = conn.set("shared-set"), conn.set("shared-set")
        a.add("x")
        self.assertIn("x", b)

        class MyManager(statemgr.BaseManager):
            pass

        MyManager.register("myset", set)
        with MyManager() as mm:
            ms = mm.myset([1, 2])
            self.assertEqual(ms.union([3]), {1, 2, 3})


def _add_many(s, items):
    for i in items:
        s.add(i)


if __name__ == "__main__":
    unittest.main()
