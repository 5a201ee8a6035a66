# SPDX-License-Identifier: MIT
"""test_processes.py - statemgr across processes: fork and spawn children,
proxies pickled through a queue, nested proxies made in a child, a lock
whose holder is SIGKILLed, a C program sharing a named dict, standalone
daemons over TCP, TLS and UNIX sockets with statemgr.connect(), and the
BaseManager address/authkey/connect/get_server interface."""
import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import unittest

import statemgr
from statemgr import _daemon

import helpers


def _hold_lock(lock, held):
    lock.acquire()
    held.set()
    time.sleep(60)


def _fill(d, counter, lock, n):
    for i in range(n):
        with lock:
            d["pid-%d-%d" % (os.getpid(), i)] = i
        counter.add(1)


def _child_uses_queue_in_dict(d):
    d["q"].put(("hello", os.getpid()))


def _child_creates_and_stores(url, key_file):
    c = statemgr.connect(url, authkey_file=key_file)
    shared = c.dict("shared-by-name")
    shared["child"] = os.getpid()
    anon = c.list()
    anon.extend([1, 2, 3])
    shared["made-in-child"] = anon  # a stored reference keeps it alive


def _receive_pickled(q, out):
    d = q.get()
    d["seen"] = os.getpid()
    out.put("done")


def _hammer(d, n):
    for i in range(n):
        d["k"] = i
        assert d["k"] == i


class ProcessesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = statemgr.Manager()

    @classmethod
    def tearDownClass(cls):
        cls.m.shutdown()

    def test_sigkilled_holder_releases_lock(self):
        """A child that holds the Lock is SIGKILLed: the daemon releases it
        and this process acquires it (Python's manager would hang)."""
        lock = self.m.Lock()
        held = self.m.Event()
        p = multiprocessing.get_context("fork").Process(target=_hold_lock, args=(lock, held))
        p.start()
        self.assertTrue(held.wait(10))
        self.assertFalse(lock.acquire(timeout=0.05))
        os.kill(p.pid, signal.SIGKILL)
        p.join()
        self.assertTrue(lock.acquire(timeout=10))
        lock.release()

    def test_python_behaviour_lock_stays_held(self):
        """auto_release=False keeps Python's behaviour: a dead holder keeps
        the lock."""
        lock = self.m.connection.lock("py-style-%d" % os.getpid(), auto_release=False)
        held = self.m.Event()
        p = multiprocessing.get_context("fork").Process(target=_hold_lock, args=(lock, held))
        p.start()
        self.assertTrue(held.wait(10))
        os.kill(p.pid, signal.SIGKILL)
        p.join()
        self.assertFalse(lock.acquire(timeout=0.2))

    def _run_workers(self, ctx, n_procs=3, n=50):
        d, counter, lock = self.m.dict(), self.m.Value("i", 0), self.m.Lock()
        procs = [ctx.Process(target=_fill, args=(d, counter, lock, n)) for _ in range(n_procs)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
            self.assertEqual(p.exitcode, 0)
        self.assertEqual(counter.value, n_procs * n)
        self.assertEqual(len(d), n_procs * n)

    def test_fork_children(self):
        """Forked workers share a dict, a counter and a lock."""
        self._run_workers(multiprocessing.get_context("fork"))

    def test_spawn_children(self):
        """Spawned workers get the proxies pickled (with the manager's URL
        and key), reconnect and share the same objects."""
        self._run_workers(multiprocessing.get_context("spawn"), n_procs=2, n=20)

    def test_proxy_pickled_through_a_queue(self):
        """A proxy sent through a multiprocessing.Queue works in the
        receiving process; pickling in-process gives a working proxy too."""
        ctx = multiprocessing.get_context("fork")
        d = self.m.dict()
        q, out = ctx.Queue(), ctx.Queue()
        p = ctx.Process(target=_receive_pickled, args=(q, out))
        p.start()
        q.put(d)
        self.assertEqual(out.get(timeout=30), "done")
        p.join()
        self.assertEqual(d["seen"], p.pid)
        d2 = pickle.loads(pickle.dumps(d))
        self.assertEqual(d2._id, d._id)
        self.assertEqual(d2["seen"], p.pid)

    def test_nested_proxies_across_processes(self):
        """A queue stored in a dict is used by a child through the dict;
        an anonymous list that a child creates and stores in a named dict
        outlives the child, held by the stored reference."""
        d = self.m.dict()
        d["q"] = self.m.Queue()
        p = multiprocessing.get_context("fork").Process(target=_child_uses_queue_in_dict,
                                                        args=(d,))
        p.start()
        p.join()
        self.assertEqual(d["q"].get(timeout=10), ["hello", p.pid])
        key_file = helpers.authkey_file(self, self.m)
        p = multiprocessing.get_context("spawn").Process(target=_child_creates_and_stores,
                                                         args=(self.m.url, key_file))
        p.start()
        p.join(60)
        self.assertEqual(p.exitcode, 0)
        shared = self.m.connection.dict("shared-by-name")
        self.assertEqual(shared["child"], p.pid)
        self.assertEqual(shared["made-in-child"][:], [1, 2, 3])

    def test_child_has_its_own_connection(self):
        """A fork child hammers the inherited proxy while this process has
        a call parked on the same client: neither sees the other's
        answers, so the child never shares this process's socket."""
        q = self.m.Queue()
        d = self.m.dict()
        got = []
        t = threading.Thread(target=lambda: got.append(q.get(timeout=30)))
        t.start()
        p = multiprocessing.get_context("fork").Process(target=_hammer, args=(d, 300))
        p.start()
        p.join(60)
        self.assertEqual(p.exitcode, 0)
        q.put("for the parked call")
        t.join(30)
        self.assertEqual(got, ["for the parked call"])
        self.assertEqual(d["k"], 299)

    def test_c_program_shares_named_dict(self):
        """The statemgr CLI, a C program over libstatemgr, reads what Python
        stored in the named dict "feeds" and writes values Python reads."""
        if not helpers.cli_path():
            self.skipTest("no statemgr CLI (set STATEMGR_BUILD_DIR)")
        feeds = self.m.connection.dict("feeds")
        feeds["https://example.org/rss"] = ["entry 1", "entry 2"]
        feeds["count"] = 2
        key_file = helpers.authkey_file(self, self.m)
        rc, out = helpers.run_cli(self.m.url, key_file, "get", "feeds", "https://example.org/rss")
        self.assertEqual((rc, out), (0, "['entry 1', 'entry 2']"))
        rc, out = helpers.run_cli(self.m.url, key_file, "get", "feeds", "count")
        self.assertEqual((rc, out), (0, "2"))
        rc, _ = helpers.run_cli(self.m.url, key_file, "set", "feeds", "from-c", "3.5")
        self.assertEqual(rc, 0)
        self.assertEqual(feeds["from-c"], 3.5)


class StandaloneTest(unittest.TestCase):
    def test_connect_tcp_and_unix_named_objects(self):
        """statemgr.connect() to a standalone daemon: named objects are
        get-or-create, shared by two connections; a wrong authkey is an
        AuthenticationError."""
        d = helpers.tempdir(self)
        sock = "unix:" + os.path.join(d, "s.sock")
        for url in ("tcp://127.0.0.1:0", sock):
            daemon = helpers.StandaloneDaemon(url)
            self.addCleanup(daemon.stop)
            a = statemgr.connect(daemon.url, authkey=daemon.authkey)
            b = statemgr.connect(daemon.url, authkey_file=daemon.key_file)
            a.dict("feeds")["x"] = 1
            self.assertEqual(b.dict("feeds")["x"], 1)
            self.assertEqual([o["name"] for o in b.ls()], ["feeds"])
            with self.assertRaises(statemgr.AuthenticationError):
                statemgr.connect(daemon.url, authkey=b"a wrong key of 16+ bytes")
            a.close()
            b.close()

    def test_tls(self):
        """TLS with the daemon's CA: works; without it the certificate is
        refused (TLSError); tls_server_name must match the certificate."""
        d = helpers.tempdir(self)
        try:
            files = helpers.make_tls_files(d)
        except (OSError, subprocess.CalledProcessError) as e:
            self.skipTest("no openssl command: %s" % e)
        daemon = helpers.StandaloneDaemon(
            "tls://127.0.0.1:0", ["--tls-cert", files["server.crt"], "--tls-key",
                                  files["server.key"]])
        self.addCleanup(daemon.stop)
        c = statemgr.connect(daemon.url, authkey=daemon.authkey, tls_ca=files["ca.crt"])
        c.dict("secret")["k"] = "v"
        self.assertEqual(c.dict("secret")["k"], "v")
        c.close()
        with self.assertRaises(statemgr.TLSError):
            statemgr.connect(daemon.url, authkey=daemon.authkey)
        with self.assertRaises(statemgr.TLSError):
            statemgr.connect(daemon.url, authkey=daemon.authkey, tls_ca=files["ca.crt"],
                             tls_server_name="db2.example.com")
        c = statemgr.connect(daemon.url, authkey=daemon.authkey, tls_ca=files["ca.crt"],
                             tls_server_name="localhost")
        c.ping()
        c.close()

    def test_base_manager_address_and_connect(self):
        """SyncManager(address, authkey).start() serves there; another
        manager connect()s with the same key and shares objects through a
        typeid registered with a name."""
        class M(statemgr.SyncManager):
            pass

        M.register("jobs", callable=dict, name="jobs")
        key = os.urandom(16)
        server = M(address=("127.0.0.1", 0), authkey=key)
        server.start()
        self.addCleanup(server.shutdown)
        self.assertIsInstance(server.address, tuple)
        client = M(address=server.address, authkey=key)
        client.connect()
        client.jobs()["a"] = 1
        self.assertEqual(server.jobs()["a"], 1)
        client.shutdown()
        bad = M(address=server.address, authkey=b"another key, 16+ bytes")
        with self.assertRaises(multiprocessing.AuthenticationError):
            bad.connect()

    def test_connect_to_private_manager(self):
        """Another manager of this user reaches a private manager through
        its address and authkey, and shares its named objects."""
        m = statemgr.Manager()
        self.addCleanup(m.shutdown)
        m.connection.dict("shared")["x"] = 1
        other = statemgr.SyncManager(address=m.address, authkey=m.authkey)
        other.connect()
        self.assertEqual(other.connection.dict("shared")["x"], 1)
        other.shutdown()
        self.assertEqual(m.connection.dict("shared")["x"], 1)

    def test_binary_authkeys(self):
        """Random authkeys, as Python's managers use, may end in "\\n" or
        "\\r" or hold NULs: the daemon's key file keeps them whole."""
        for key in (b"\x00abc" * 4 + b"\n", b"abcd" * 4 + b"\r", b"a" * 16 + b"\r\n", os.urandom(32)):
            server = statemgr.SyncManager(address=("127.0.0.1", 0), authkey=key)
            server.start()
            try:
                client = statemgr.SyncManager(address=server.address, authkey=key)
                client.connect()
                client.shutdown()
            finally:
                server.shutdown()

    def test_short_authkey_refused(self):
        """An authkey under 16 bytes is refused with a clear error (the
        daemon refuses keys that are easy to guess), not a hang."""
        with self.assertRaises(statemgr.errors.BadValue) as cm:
            statemgr.connect("tcp://127.0.0.1:1", authkey=b"abracadabra")
        self.assertIn("at least 16", str(cm.exception))

    def test_get_server_serve_forever(self):
        """get_server().serve_forever() serves in the foreground until the
        daemon is asked to stop."""
        key = os.urandom(16)
        code = ("import statemgr, sys\n"
                "m = statemgr.SyncManager(address=('127.0.0.1', 0), authkey=%r)\n"
                "s = m.get_server()\n"
                "print(s.address[1], flush=True)\n"
                "sys.exit(s.serve_forever())\n" % key)
        p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        self.addCleanup(p.stdout.close)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        port = int(p.stdout.readline())
        client = None
        deadline = time.monotonic() + 10
        while client is None:
            try:
                client = statemgr.connect("tcp://127.0.0.1:%d" % port, authkey=key)
            except statemgr.ConnectFailed:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.ping()
        client._client.shutdown_daemon()
        self.assertEqual(p.wait(10), 0)


if __name__ == "__main__":
    unittest.main()
