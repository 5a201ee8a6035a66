# SPDX-License-Identifier: MIT
"""test_values.py - what Python values become in statemgrd and back:
native kinds as statemgr values (C programs read them), tuples as lists,
proxies as references, everything else pickled with a marker; dict keys
with Python's equality."""
import fractions
import pickle
import unittest

import statemgr
from statemgr import errors

import helpers


class ValuesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = statemgr.Manager()

    @classmethod
    def tearDownClass(cls):
        cls.m.shutdown()

    def test_native_values_round_trip(self):
        """Every kind that has a statemgr value comes back equal and of its
        own type."""
        v = self.m.Value("i", None)
        for x in (None, True, False, 0, -1, 2**63 - 1, -(2**63), 1.5, float("inf"), "", "héllo",
                  b"\x00\xff", [1, [2, "x"]], {"a": {"b": [None]}}):
            v.value = x
            got = v.value
            self.assertEqual(got, x)
            self.assertIs(type(got), type(x))

    def test_tuple_travels_as_list(self):
        """A tuple value is a list in the daemon (readable from C), so it
        comes back as a list."""
        v = self.m.Value("i", (1, "a", (2,)))
        self.assertEqual(v.value, [1, "a", [2]])

    def test_other_objects_are_pickled(self):
        """A set, a Fraction, a 100-bit int and a str with a NUL survive the
        trip through pickling, and are stored as marked bytes."""
        v = self.m.Value("i", None)
        for x in ({1, 2}, fractions.Fraction(1, 3), 2**100, -(2**70), "a\x00b", frozenset("ab")):
            v.value = x
            self.assertEqual(v.value, x)
        # The marker is what the daemon holds: bytes that start with it,
        # as a C program (the statemgr CLI) reads them.
        d = self.m.connection.dict("pickled-seen-from-c")
        d["obj"] = {3}
        rc, out = helpers.run_cli(self.m.url, helpers.authkey_file(self, self.m),
                                  "get", "pickled-seen-from-c", "obj")
        self.assertEqual(rc, 0)
        self.assertTrue(out.startswith("b'\\x00statemgr:pickle\\x00"), out)

    def test_dict_keys_with_python_equality(self):
        """Tuple keys (even with 1.0 for 1 or True for 1) name the same
        entry; unhashable keys raise TypeError as in a dict."""
        d = self.m.dict()
        d[(1, "a")] = "t"
        self.assertEqual(d[(1.0, "a")], "t")
        self.assertEqual(d[(True, "a")], "t")
        self.assertIn((1, "a"), d)
        self.assertEqual(list(d.keys()), [(1, "a")])
        d[frozenset({1})] = "f"
        self.assertEqual(d[frozenset({1})], "f")
        with self.assertRaises(TypeError):
            d[[1]] = 2
        with self.assertRaises(TypeError):
            d[{}] = 2

    def test_nested_proxy_is_a_reference(self):
        """A proxy inside a list travels as a ref and comes back as a proxy
        of the same object; a plain list inside stays a list."""
        inner = self.m.dict(x=1)
        outer = self.m.list([inner, [1, 2]])
        got = outer[0]
        self.assertIsInstance(got, statemgr.DictProxy)
        self.assertEqual(got._id, inner._id)
        got["y"] = 2
        self.assertEqual(inner["y"], 2)
        self.assertIsInstance(outer[1], list)

    def test_no_pickle_refuses_with_type_error(self):
        """serializer='xmlrpclib' stores native values only: a set is a
        TypeError, not a pickle."""
        m = statemgr.SyncManager(serializer="xmlrpclib")
        m.start()
        try:
            v = m.Value("i", 1)
            with self.assertRaises(TypeError):
                v.value = {1}
            v.value = [1, "x"]
            self.assertEqual(v.value, [1, "x"])
        finally:
            m.shutdown()

    def test_unknown_error_code_is_generic_error(self):
        """A code the package has no class for (one a newer library adds)
        is a plain statemgr.Error that keeps its code."""
        e = errors.error_for(-99, "something new")
        self.assertIs(type(e), statemgr.Error)
        self.assertEqual(e.code, -99)
        self.assertEqual(str(e), "something new")
        self.assertIsInstance(pickle.loads(pickle.dumps(e)), statemgr.Error)


if __name__ == "__main__":
    unittest.main()
