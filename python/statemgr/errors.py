# SPDX-License-Identifier: MIT
"""statemgr.errors - the exceptions of the statemgr package.

Every failure of the C library (an SM_E* code) is raised as a subclass of
:class:`Error` that is also the Python exception a program already catches
for it: a timeout is a ``TimeoutError``, a missing object a ``LookupError``,
``queue.Empty`` / ``queue.Full`` for a queue that cannot serve at once,
``threading.BrokenBarrierError`` for a broken barrier, ``RuntimeError`` for
releasing a lock the caller does not hold. A code without a class of its own
(one that a newer library adds) raises :class:`Error` itself, with its
``code`` and ``name``. The proxies turn some of these into exactly what
Python raises (``KeyError`` for a missing dict key, ``IndexError`` for a
list index out of range).
"""
import multiprocessing
import queue
import threading

from . import _statemgr


class Error(Exception):
    """A statemgr failure: ``code`` is the library's SM_E* number (negative)
    and ``name`` its name ("SM_ENOTFOUND"); ``str()`` is the explanation."""

    def __init__(self, text="statemgr error", code=-13, name="SM_EINTERNAL"):
        super().__init__(text)
        self.code = code
        self.name = name

    def __reduce__(self):
        return (type(self), (str(self), self.code, self.name))


class Timeout(Error, TimeoutError):
    """A deadline passed (SM_ETIMEOUT)."""


class NotFound(Error, LookupError):
    """No such key or object (SM_ENOTFOUND)."""


class WrongType(Error, TypeError):
    """The object or value is of another type (SM_ETYPE)."""


class BadValue(Error, ValueError):
    """A bad argument (SM_EVALUE, SM_EINVAL)."""


class Empty(Error, queue.Empty):
    """A queue get that could not wait found it empty (SM_EEMPTY)."""


class Full(Error, queue.Full):
    """A queue put that could not wait found it full (SM_EFULL)."""


class Broken(Error, threading.BrokenBarrierError):
    """The barrier is broken (SM_EBROKEN)."""


class NotOwner(Error, RuntimeError):
    """Releasing a lock or condition the calling thread does not hold
    (SM_ENOTOWNER)."""


class AuthenticationError(Error, multiprocessing.AuthenticationError):
    """The daemon and this process have different authkeys (SM_EAUTH)."""


class ConnectFailed(Error, ConnectionError):
    """The daemon cannot be reached (SM_ECONNECT)."""


class ConnectionClosed(Error, ConnectionError):
    """The connection dropped during the call, which may or may not have
    been applied (SM_ECLOSED); the next call reconnects."""


class ShuttingDown(Error, ConnectionError):
    """The daemon is stopping (SM_ESHUTDOWN)."""


class TLSError(Error, ConnectionError):
    """The TLS session could not be set up (SM_ETLS)."""


class TooLarge(Error, ValueError):
    """A request or answer over the daemon's limits (SM_ETOOLARGE)."""


class MemoryLimit(Error, MemoryError):
    """The daemon's memory limit is reached (SM_EMAXMEMORY, when the library
    has it)."""


class Stale(Error, LookupError):
    """The proxy names an object of an earlier daemon (SM_ESTALE, when the
    library has it)."""


class DiskFull(Error, OSError):
    """The daemon's disk is full: it refuses changes until it has room again,
    reads still work (SM_EDISKFULL, when the library has it)."""


class OwnerDead(Error, RuntimeError):
    """Acquired, but the last holder died holding it (owner-death policy
    "break"): the data the lock protects may be half-written
    (SM_EOWNERDEAD). A proxy's acquire() returns True then and sets
    ``owner_dead``; this class is what a pipeline's result raises."""


class Deadlock(Error, RuntimeError):
    """The wait would close a cycle of waiting clients: refused at once,
    nothing acquired (SM_EDEADLK)."""


class Fenced(Error, RuntimeError):
    """The call's fencing guard is stale: the lock was granted again
    since that token, and nothing was applied (SM_EFENCED)."""


_BY_NAME = {
    "SM_ETIMEOUT": Timeout,
    "SM_ENOTFOUND": NotFound,
    "SM_ETYPE": WrongType,
    "SM_EVALUE": BadValue,
    "SM_EINVAL": BadValue,
    "SM_EEMPTY": Empty,
    "SM_EFULL": Full,
    "SM_EBROKEN": Broken,
    "SM_ENOTOWNER": NotOwner,
    "SM_EAUTH": AuthenticationError,
    "SM_ECONNECT": ConnectFailed,
    "SM_ECLOSED": ConnectionClosed,
    "SM_ESHUTDOWN": ShuttingDown,
    "SM_ETLS": TLSError,
    "SM_ETOOLARGE": TooLarge,
    "SM_ENOMEM": MemoryError,
    "SM_EMAXMEMORY": MemoryLimit,
    "SM_ESTALE": Stale,
    "SM_EDISKFULL": DiskFull,
    "SM_EOWNERDEAD": OwnerDead,
    "SM_EDEADLK": Deadlock,
    "SM_EFENCED": Fenced,
}

#: {code: (name, text)}: the library's own error table.
ERROR_TABLE = _statemgr._error_table()


class _NoMemory(Error, MemoryError):
    pass


def _classes():
    out = {}
    for code, (name, _text) in ERROR_TABLE.items():
        cls = _BY_NAME.get(name, Error)
        out[code] = _NoMemory if cls is MemoryError else cls
    return out


_statemgr._set_errors(_classes(), Error)


def error_for(code, text):
    """The exception (not raised) for a code and text, as the C layer makes
    them: for pipeline results."""
    name, _ = ERROR_TABLE.get(code, ("SM_EUNKNOWN", ""))
    cls = _classes().get(code, Error)
    return cls(text, code, name)
