# SPDX-License-Identifier: MIT
"""test_lifetime.py - expiry (TTLs on dict keys and whole objects) and
ephemeral objects from Python, against a standalone statemgrd of the
test's own."""
import time
import unittest

import statemgr

import helpers


def listed(conn, name):
    return any(o["name"] == name for o in conn.ls())


def wait_until(pred, timeout=3.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


class ExpiryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.daemon = helpers.StandaloneDaemon()
        cls.conn = statemgr.connect(cls.daemon.url, authkey=cls.daemon.authkey)

    @classmethod
    def tearDownClass(cls):
        cls.conn.close()
        cls.daemon.stop()

    def test_key_ttl(self):
        d = self.conn.dict("py_cache")
        d.setex("token", "abc", 500)
        d["user"] = "ann"
        self.assertIsNone(d.ttl("user"))
        self.assertTrue(0 < d.ttl("token") <= 500)
        self.assertTrue(d.expire("user", 60000))
        self.assertFalse(d.expire("nobody", 10))
        self.assertTrue(d.persist("user"))
        with self.assertRaises(KeyError):
            d.ttl("nobody")
        self.assertEqual(d["token"], "abc")
        time.sleep(0.65)
        self.assertNotIn("token", d)
        self.assertEqual(d.get("token"), None)
        self.assertEqual(dict(d.items()), {"user": "ann"})

    def test_object_ttl(self):
        self.conn.dict("py_lease")["holder"] = 1
        self.assertIsNone(self.conn.ttl("py_lease"))
        self.conn.expire("py_lease", 500)
        self.assertTrue(0 < self.conn.ttl("py_lease") <= 500)
        time.sleep(0.65)
        self.assertFalse(listed(self.conn, "py_lease"))
        with self.assertRaises(statemgr.NotFound):
            self.conn.ttl("py_lease")
        d = self.conn.dict("py_ttl_from_open", ttl_ms=5000)
        self.assertTrue(0 < self.conn.ttl("py_ttl_from_open") <= 5000)
        self.assertTrue(self.conn.persist("py_ttl_from_open"))
        self.assertFalse(self.conn.persist("py_ttl_from_open"))
        self.assertIsNone(self.conn.ttl("py_ttl_from_open"))
        del d

    def test_ephemeral_goes_with_its_connection(self):
        owner = statemgr.connect(self.daemon.url, authkey=self.daemon.authkey)
        svc = owner.dict("py_svc", ephemeral=True)
        svc["addr"] = "10.0.0.2:80"
        self.assertTrue(listed(self.conn, "py_svc"))
        self.assertEqual(self.conn.dict("py_svc")["addr"], "10.0.0.2:80")
        owner.close()
        self.assertTrue(wait_until(lambda: not listed(self.conn, "py_svc")))
        with self.assertRaises(statemgr.Error):
            self.conn.dict(None, ephemeral=True)


if __name__ == "__main__":
    unittest.main()
