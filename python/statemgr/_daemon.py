# SPDX-License-Identifier: MIT
"""statemgr._daemon - finding statemgrd and running one for a manager that
has an address of its own (BaseManager(address=..., authkey=...).start(),
get_server().serve_forever()).

A manager without an address is the C library's private manager
(sm_manager_start: a UNIX socket in a private directory, the manager's
authkey handed to the daemon through a pipe); this module only finds the
statemgrd that it runs.
"""
import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
import time

from .errors import ConnectFailed, Error, Timeout

_HERE = os.path.dirname(os.path.abspath(__file__))


def find_daemon():
    """The statemgrd to run: $STATEMGRD, else the one installed inside the
    package (pip install puts it there), else None: the C library then looks
    beside the python executable and in $PATH."""
    env = os.environ.get("STATEMGRD")
    if env:
        return env
    bundled = os.path.join(_HERE, "_bin", "statemgrd")
    if os.access(bundled, os.X_OK):
        return bundled
    return None


def daemon_command():
    """find_daemon(), or statemgrd from $PATH; FileNotFoundError otherwise."""
    path = find_daemon() or shutil.which("statemgrd")
    if not path:
        raise FileNotFoundError(
            "no statemgrd: set $STATEMGRD, install the package with pip (it bundles one), "
            "or put statemgrd in $PATH")
    return path


def address_to_url(address):
    """Python's manager addresses as statemgr URLs: (host, port) is TCP, a
    str is a URL (tcp://, tls://, unix:) or a UNIX socket path."""
    if address is None:
        return None
    if isinstance(address, tuple):
        host, port = address
        if ":" in host and not host.startswith("["):
            host = "[" + host + "]"
        return "tcp://%s:%d" % (host, port)
    if isinstance(address, (bytes, bytearray)):
        address = address.decode()
    if address.startswith(("tcp://", "tls://", "unix:")):
        return address
    return "unix:" + address


def url_to_address(url):
    """The reverse of address_to_url for what the daemon reports."""
    if url.startswith("tcp://"):
        hostport = url[len("tcp://"):]
        host, _, port = hostport.rpartition(":")
        return (host.strip("[]"), int(port))
    return url


_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    # The daemon dies with the process that started it, as the private
    # manager's does; and a Ctrl-C meant for that process does not reach it.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


class Daemon:
    """A statemgrd started for one manager: listening on url, with authkey
    (bytes) in a private key file, keeping its state in memory. stop() ends
    it and removes the files."""

    def __init__(self, url, authkey, extra_args=(), log_file=None, start_timeout=10.0,
                 foreground=False):
        self._dir = tempfile.mkdtemp(prefix="statemgr-py-")
        self.key_file = os.path.join(self._dir, "authkey")
        fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        key = bytes(authkey)
        with os.fdopen(fd, "wb") as f:
            # The daemon drops one line ending from a key file: a key that
            # ends in "\n" gets one more (proto/authkey.c).
            f.write(key + b"\n" if key.endswith(b"\n") else key)
        self._ready = os.path.join(self._dir, "ready")
        # In memory, as Python's managers are (extra_args may name a
        # --data-dir: the later option wins).
        argv = [daemon_command(), "--listen", url, "--authkey-file", self.key_file,
                "--ready-file", self._ready, "--log-level", "warn", "--no-persist", *extra_args]
        self.argv = argv
        self.process = None
        self.url = url
        if foreground:
            return
        log = open(log_file, "ab") if log_file else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, close_fds=True,
                start_new_session=True, preexec_fn=_die_with_parent)
        finally:
            if log_file:
                log.close()
        self.url = self._wait_ready(start_timeout)

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = self.process.poll()
            if rc is not None:
                self._cleanup()
                raise ConnectFailed("statemgrd exited with status %d during start-up (is %s in "
                                    "use?)" % (rc, self.argv[2]), -14, "SM_ECONNECT")
            try:
                with open(self._ready) as f:
                    lines = [ln.strip() for ln in f if ln.strip()]
                if lines:
                    return lines[0]
            except FileNotFoundError:
                pass
            time.sleep(0.01)
        self.process.kill()
        self.process.wait()
        self._cleanup()
        raise Timeout("statemgrd was not ready within %.1f s" % timeout, -1, "SM_ETIMEOUT")

    def run_foreground(self):
        """Runs the daemon in this process's foreground until it stops
        (Server.serve_forever)."""
        try:
            proc = subprocess.Popen(self.argv, close_fds=True)
            try:
                return proc.wait()
            except KeyboardInterrupt:
                proc.send_signal(signal.SIGINT)
                return proc.wait()
        finally:
            self._cleanup()

    def stop(self, timeout=5.0):
        """Waits for the daemon to exit (it was asked to shut down), then
        terminates it if needed. Returns its exit status."""
        p = self.process
        if p is None:
            return None
        try:
            rc = p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.terminate()
            try:
                rc = p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                rc = p.wait()
        self._cleanup()
        return rc

    def _cleanup(self):
        shutil.rmtree(self._dir, ignore_errors=True)


def is_statemgr_error(exc):
    return isinstance(exc, Error)
