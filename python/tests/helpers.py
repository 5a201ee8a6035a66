# SPDX-License-Identifier: MIT
"""helpers.py - what the package's test modules share: where the build's
binaries are, and a standalone statemgrd on a free port or socket.

The tests run against real daemons over real sockets: statemgr.Manager()
starts a private one, StandaloneDaemon a statemgrd of its own (TCP, TLS or
UNIX) with a fresh authkey; each is stopped by the test that started it."""
import os
import shutil
import subprocess
import tempfile

from statemgr import _daemon


def build_dir():
    """The CMake build directory (for the statemgr CLI)."""
    d = os.environ.get("STATEMGR_BUILD_DIR")
    if d:
        return d
    statemgrd = os.environ.get("STATEMGRD")
    return os.path.dirname(statemgrd) if statemgrd else None


def cli_path():
    d = build_dir()
    path = os.path.join(d, "statemgr") if d else shutil.which("statemgr")
    return path if path and os.access(path, os.X_OK) else None


def run_cli(url, authkey_file, *args):
    """Runs the statemgr CLI (a C program over libstatemgr); returns
    (exit code, stdout)."""
    r = subprocess.run([cli_path(), "-u", url, "--authkey-file", authkey_file, *args],
                       capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout.strip()


class StandaloneDaemon:
    """A statemgrd on url (port 0: a free port), authkey os.urandom(32)."""

    def __init__(self, url="tcp://127.0.0.1:0", extra_args=()):
        self.authkey = os.urandom(32)
        self.daemon = _daemon.Daemon(url, self.authkey, extra_args=extra_args)
        self.url = self.daemon.url
        self.key_file = self.daemon.key_file

    def stop(self):
        if self.daemon.process.poll() is None:
            self.daemon.process.terminate()
        return self.daemon.stop()


def make_tls_files(directory):
    """A private CA, a server certificate for 127.0.0.1 and localhost, and a
    client certificate, made with the openssl command. Returns a dict of
    paths."""
    def sh(*args):
        subprocess.run(args, cwd=directory, check=True, capture_output=True, timeout=60)

    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    sh("openssl", "req", "-x509", *curve, "-days", "2", "-subj", "/CN=statemgr test CA",
       "-keyout", "ca.key", "-out", "ca.crt")
    ext = os.path.join(directory, "server.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    sh("openssl", "req", *curve, "-subj", "/CN=localhost", "-keyout", "server.key", "-out",
       "server.csr")
    sh("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
       "-CAcreateserial", "-days", "2", "-out", "server.crt", "-extfile", ext)
    return {n: os.path.join(directory, n) for n in ("ca.crt", "server.crt", "server.key")}


def tempdir(testcase):
    d = tempfile.mkdtemp(prefix="statemgr-pytest-")
    testcase.addCleanup(shutil.rmtree, d, True)
    return d


def authkey_file(testcase, manager):
    """A file (mode 0600, removed with the test) holding the authkey of a
    started manager, for programs that read keys from files (the CLI, a
    process that connects by itself)."""
    path = os.path.join(tempdir(testcase), "authkey")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(manager._client.authkey)
    return path
