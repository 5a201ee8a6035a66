# SPDX-License-Identifier: MIT
"""test_admin.py - cursor iteration (dict, list and namespace scan, the
connection's ls_scan), the slow-call log and run-time settings, against a
standalone statemgrd of the test's own."""
import unittest

import statemgr

import helpers


class ScanTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = helpers.StandaloneDaemon()
        cls.conn = statemgr.connect(cls.daemon.url, authkey=cls.daemon.authkey)

    @classmethod
    def tearDownClass(cls):
        cls.conn.close()
        cls.daemon.stop()

    def test_dict_scan_gives_every_pair_once_in_insertion_order(self):
        d = self.conn.dict("scan_dict")
        d.clear()
        expected = {}
        for i in range(250):
            k = (i, "t") if i % 5 == 0 else ("k%d" % i if i % 2 else i)
            expected[k] = [i, "v%d" % i]
        d.update(expected)
        it = d.scan(count=7)
        self.assertEqual(iter(it), it)
        got = list(it)
        self.assertEqual(got, list(expected.items()))
        self.assertEqual(list(self.conn.dict("scan_empty").scan()), [])

    def test_dict_scan_while_changing(self):
        """Pairs present for the whole scan come exactly once, whatever is
        added or removed between pages."""
        d = self.conn.dict("scan_changing")
        d.clear()
        d.update({"k%03d" % i: i for i in range(100)})
        it = d.scan(count=10)
        seen = [next(it) for _ in range(15)]
        del d["k090"]
        for i in range(100, 300):
            d["k%03d" % i] = i
        seen += list(it)
        keys = [k for k, _ in seen]
        self.assertEqual(len(keys), len(set(keys)))
        stable = {"k%03d" % i for i in range(100)} - {"k090"}
        self.assertLessEqual(stable, set(keys))
        self.assertNotIn("k090", keys)
        for k, v in seen:
            self.assertEqual(int(k[1:]), v)

    def test_list_scan(self):
        lst = self.conn.list("scan_list")
        del lst[:]
        lst.extend(range(23))
        self.assertEqual(list(lst.scan(count=4)), list(range(23)))
        self.assertEqual(list(lst.scan()), list(range(23)))

    def test_namespace_scan_hides_no_attribute(self):
        ns = self.conn.namespace("scan_ns")
        ns.b = 2
        ns.a = [1]
        ns.scan = "an attribute"
        self.assertEqual(list(ns._scan(count=1)), [("b", 2), ("a", [1]), ("scan", "an attribute")])
        self.assertEqual(ns.scan, "an attribute")

    def test_bad_counts(self):
        d = self.conn.dict("scan_bad")
        d["x"] = 1
        with self.assertRaises(ValueError):
            d.scan(count=-1)  # refused at once, not at the first next()
        with self.assertRaises(TypeError):
            d.scan(count="10")
        it = d.scan(count=2_000_000)
        with self.assertRaises(statemgr.BadValue):
            next(it)

    def test_ls_scan(self):
        for i in range(30):
            self.conn.dict("ls_scan_%02d" % i)
        self.conn.queue("ls_scan_q")
        everything = [m["name"] for m in self.conn.ls()]
        self.assertEqual([m["name"] for m in self.conn.ls_scan(count=7)], everything)
        queues = list(self.conn.ls_scan("queue", count=3))
        self.assertIn("ls_scan_q", [m["name"] for m in queues])
        self.assertEqual({m["type"] for m in queues}, {"queue"})
        with self.assertRaises(statemgr.BadValue):
            list(self.conn.ls_scan("no_such_type"))
        with self.assertRaises(ValueError):
            self.conn.ls_scan(count=-5)


class SlowlogConfigTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = helpers.StandaloneDaemon()
        cls.conn = statemgr.connect(cls.daemon.url, authkey=cls.daemon.authkey)

    @classmethod
    def tearDownClass(cls):
        cls.conn.close()
        cls.daemon.stop()

    def test_config_get_and_set(self):
        c = self.conn
        every = c.config_get()
        self.assertEqual(set(every), {"log-level", "slowlog-threshold-us", "slowlog-max-len"})
        self.assertEqual(c.config_get("log-level"), every["log-level"])
        c.config_set("slowlog-max-len", 5)
        self.assertEqual(c.config_get("slowlog-max-len"), 5)
        c.config_set("log-level", "debug")
        self.assertEqual(c.config_get("log-level"), "debug")
        c.config_set("log-level", every["log-level"])
        for key, value in (("slowlog-max-len", 200000), ("log-level", "loud"), ("no-such", 1)):
            with self.assertRaises(statemgr.BadValue, msg=key):
                c.config_set(key, value)
        with self.assertRaises(statemgr.BadValue):
            c.config_get("no-such")
        c.config_set("slowlog-max-len", every["slowlog-max-len"])

    def test_slowlog_records_calls_over_the_threshold(self):
        c = self.conn
        d = c.dict("slow_dict")
        c.config_set("slowlog-threshold-us", 0)  # every call is slow
        try:
            c.slowlog_reset()
            d["x"] = 1
            d["y"] = 2
            self.assertGreaterEqual(c.slowlog_len(), 2)
            entries = c.slowlog_get()
            sets = [e for e in entries if e["method"] == "set" and e.get("name") == "slow_dict"]
            self.assertEqual(len(sets), 2)
            self.assertGreater(sets[0]["id"], sets[1]["id"])  # newest first
            self.assertEqual(sets[0]["type"], "dict")
            self.assertEqual(sets[0]["args"], 2)
            self.assertEqual(len(c.slowlog_get(1)), 1)
            with self.assertRaises(statemgr.BadValue):
                c.slowlog_get(-2)
        finally:
            c.config_set("slowlog-threshold-us", -1)
        c.slowlog_reset()
        d["z"] = 3
        self.assertEqual(c.slowlog_len(), 0)
        self.assertEqual(c.slowlog_get(), [])

    def test_scan_reads_one_page_per_round_trip(self):
        """The slow-call log (every call logged) counts the scan calls: one
        per page, and none before the first next()."""
        c = self.conn
        d = c.dict("paged_dict")
        d.update({i: i for i in range(50)})

        def scans():
            return len([e for e in c.slowlog_get() if e["method"] == "scan"])

        c.config_set("slowlog-threshold-us", 0)
        try:
            c.slowlog_reset()
            it = d.scan(count=10)
            self.assertEqual(scans(), 0)
            self.assertEqual(next(it), (0, 0))
            self.assertEqual(scans(), 1)
            self.assertEqual(len(list(it)), 49)
            self.assertIn(scans(), (5, 6))  # the last page may be empty
        finally:
            c.config_set("slowlog-threshold-us", -1)


if __name__ == "__main__":
    unittest.main()
