# SPDX-License-Identifier: MIT
"""statemgr.managers - BaseManager and SyncManager with the interface of
multiprocessing.managers, served by statemgrd.

``SyncManager()`` without an address runs a private statemgrd (the C
library's sm_manager_start: a UNIX socket in a private directory, a random
authkey), as ``multiprocessing.Manager()`` runs a server process. With an
address (``(host, port)``, a socket path, or a statemgr URL) and an authkey,
``start()`` runs statemgrd there, ``connect()`` joins one that runs already
(started by another program, or by statemgrd itself), and
``get_server().serve_forever()`` serves in the foreground.

``register()`` cannot run Python in the C daemon. It takes:
- a typeid whose callable is one of the built-in types (``dict``, ``list``,
  ``queue.Queue``, ``threading.Lock``...; see ``BUILTIN_CALLABLES``), or the
  name of a SyncManager type as ``callable=None``;
- ``daemon_type="name"``: a custom type that a server embedding statemgr
  registered in C (statemgr_server.h), called through ``_callmethod`` or the
  ``exposed`` method names;
- ``name="..."`` with either: every call of the typeid returns the same named
  object (get-or-create), like a callable that returns one shared object.
Any other callable raises TypeError at register(). ``Pool`` is not
provided (it runs Python functions in worker processes of the server).
"""
import inspect
import os
import queue
import socket
import threading
from multiprocessing import process as _mp_process

from . import _daemon, _statemgr
from .errors import Error, NotFound
from .pipeline import Pipeline
from .proxies import (
    ARRAY_TYPECODES, ArrayProxy, BarrierProxy, BaseProxy, ConditionProxy, DictProxy, EventProxy,
    ListProxy, LockProxy, NamespaceProxy, QueueProxy, RLockProxy, SemaphoreProxy, SetProxy,
    ValueProxy, remember_client,
)

# The proxy classes are here too, as in multiprocessing.managers.
__all__ = ["BaseManager", "SyncManager", "Server", "BaseProxy", "RemoteError", "Namespace",
           "Value", "Array", "DictProxy", "ListProxy", "ValueProxy", "ArrayProxy",
           "NamespaceProxy", "QueueProxy", "LockProxy", "RLockProxy", "SemaphoreProxy",
           "ConditionProxy", "EventProxy", "BarrierProxy", "SetProxy"]


class RemoteError(Error):
    """Raised by _callmethod for a method the object does not have."""


class Namespace:
    """A plain namespace, as multiprocessing.managers.Namespace."""

    def __init__(self, **kwds):
        self.__dict__.update(kwds)

    def __repr__(self):
        items = sorted("%s=%r" % kv for kv in self.__dict__.items() if not kv[0].startswith("_"))
        return "Namespace(" + ", ".join(items) + ")"


class Value:
    """multiprocessing.managers.Value, for code that builds one locally."""

    def __init__(self, typecode, value, lock=True):
        self._typecode = typecode
        self._value = value

    def get(self):
        return self._value

    def set(self, value):
        self._value = value

    value = property(get, set)


def Array(typecode, sequence, lock=True):
    import array

    return array.array(typecode, sequence)


class _State:
    INITIAL, STARTED, SHUTDOWN = 0, 1, 2


# ---- the SyncManager types: typeid -> how to open one --------------------


def _open_dict(client, name, *args, **kwds):
    initial = dict(*args, **kwds)
    if name is None and initial:
        return client.open("dict", None, initial)
    p = client.open("dict", name)
    if initial:
        p.update(initial)
    return p


def _open_list(client, name, sequence=()):
    items = list(sequence)
    if name is None and items:
        return client.open("list", None, items)
    p = client.open("list", name)
    if items:
        p.extend(items)
    return p


def _open_set(client, name, iterable=()):
    # A map whose keys are the elements: each goes as a hashable key.
    items = dict.fromkeys(iterable)
    if name is None and items:
        return client.open("set", None, items)
    p = client.open("set", name)
    if items:
        p.update(items)
    return p


def _open_value(client, name, typecode, value, lock=True):
    p = client.open("value", name, value)
    p.__dict__["_typecode"] = typecode
    return p


def _open_array(client, name, typecode, sequence, lock=True):
    code = ARRAY_TYPECODES.get(typecode, typecode)
    if isinstance(sequence, int):
        sequence = [0] * sequence
    return client.open("array", name, code, list(sequence))


def _open_queue(client, name, maxsize=0):
    return client.open("queue", name, int(maxsize))


def _open_joinable_queue(client, name, maxsize=0):
    p = client.open("queue", name, int(maxsize))
    p.__dict__["_typeid_override"] = "JoinableQueue"
    return p


def owner_policy(auto_release, policy):
    """The creation argument of a lock, rlock or semaphore: the policy's
    name ("release", "break", "keep") when given, else auto_release."""
    if policy is None:
        return bool(auto_release)
    if policy not in ("release", "break", "keep"):
        raise ValueError("policy is 'release', 'break' or 'keep', not %r" % (policy,))
    return policy


def _open_lock(client, name, auto_release=True, policy=None):
    return client.open("lock", name, owner_policy(auto_release, policy))


def _open_rlock(client, name, auto_release=True, policy=None):
    return client.open("rlock", name, owner_policy(auto_release, policy))


def _open_semaphore(client, name, value=1, auto_release=False, policy=None):
    # Python's semaphores have no owner (one process releases what another
    # acquired), so the daemon does not give units back when a process ends.
    if value < 0:
        raise ValueError("semaphore initial value must be >= 0")
    return client.open("semaphore", name, int(value), owner_policy(auto_release, policy))


def _open_bounded_semaphore(client, name, value=1, auto_release=False, policy=None):
    if value < 0:
        raise ValueError("semaphore initial value must be >= 0")
    return client.open("bounded_semaphore", name, int(value), owner_policy(auto_release, policy))


def _open_condition(client, name, lock=None):
    if lock is not None and not isinstance(lock, (LockProxy,)):
        raise TypeError("a statemgr Condition needs a statemgr Lock or RLock (or None), not %r"
                        % type(lock).__name__)
    return client.open("condition", name, lock)


def _open_event(client, name):
    return client.open("event", name)


def _open_barrier(client, name, parties, action=None, timeout=None):
    if parties < 1:
        raise ValueError("parties must be > 0")
    p = client.open("barrier", name, int(parties))
    if timeout is not None:
        p.__dict__["_timeout"] = timeout
    if action is not None:
        gate = client.open("barrier", None if name is None else name + ".gate", int(parties))
        p.__dict__["_action"] = action
        p.__dict__["_gate"] = gate
    return p


def _open_namespace(client, name, **kwds):
    p = client.open("namespace", name)
    for k, v in kwds.items():
        setattr(p, k, v)
    return p


def _no_pool(client, name, *args, **kwds):
    raise NotImplementedError(
        "statemgr has no Pool: a pool runs Python functions in worker processes of the manager, "
        "and statemgrd is a C daemon; use multiprocessing.Pool or concurrent.futures with "
        "statemgr objects for the shared state")


SYNC_TYPES = {
    "Queue": _open_queue,
    "JoinableQueue": _open_joinable_queue,
    "Event": _open_event,
    "Lock": _open_lock,
    "RLock": _open_rlock,
    "Semaphore": _open_semaphore,
    "BoundedSemaphore": _open_bounded_semaphore,
    "Condition": _open_condition,
    "Barrier": _open_barrier,
    "Pool": _no_pool,
    "list": _open_list,
    "dict": _open_dict,
    "set": _open_set,
    "Value": _open_value,
    "Array": _open_array,
    "Namespace": _open_namespace,
}

#: The callables register() maps to a built-in type.
BUILTIN_CALLABLES = {
    dict: "dict",
    list: "list",
    set: "set",
    queue.Queue: "Queue",
    queue.LifoQueue: None,  # no daemon type: refused with a reason
    threading.Lock: "Lock",
    threading.RLock: "RLock",
    threading.Semaphore: "Semaphore",
    threading.BoundedSemaphore: "BoundedSemaphore",
    threading.Condition: "Condition",
    threading.Event: "Event",
    threading.Barrier: "Barrier",
    Namespace: "Namespace",
    Value: "Value",
    Array: "Array",
}


def _custom_opener(daemon_type):
    def opener(client, name, *args):
        if len(args) > 1:
            raise TypeError("a custom type takes at most one creation argument")
        return client.open(daemon_type, name, *args, cls=None)

    return opener


def _takes_no_args(opener):
    try:
        inspect.signature(opener).bind(None, None)
        return True
    except TypeError:
        return False


def _existing_opener(client, name, *args, **kwds):
    """Opens the named object that another process created."""
    if args or kwds:
        raise TypeError("%r names an existing object: it takes no arguments" % name)
    for entry in client.ls():
        if entry["name"] == name:
            return client.open(entry["type"], name)
    raise NotFound("no object called %r in the daemon: register the typeid with name=%r (and "
                   "a built-in callable) in the process that starts the manager" % (name, name),
                   -2, "SM_ENOTFOUND")


def _exposed_class(base, typeid, exposed):
    ns = {"_typeid": typeid, "_exposed_": tuple(exposed)}
    for meth in exposed:
        def method(self, *args, _m=meth):
            return self._callmethod(_m, args)

        method.__name__ = meth
        ns[meth] = method
    return type(base.__name__ if base is not BaseProxy else "AutoProxy[%s]" % typeid, (base,), ns)


class _Listener:
    """The port a Server reserved for a (host, 0) address, until it serves."""

    def __init__(self, host):
        self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self.address = self._sock.getsockname()[:2]

    def close(self):
        self._sock.close()


class Server:
    """What get_server() returns: serve_forever() runs statemgrd in the
    foreground on the manager's address, with its authkey. A (host, 0)
    address gets its port now, as Python's server binds at get_server()."""

    def __init__(self, manager):
        self._authkey = manager._authkey
        self.address = manager._address
        self.listener = None
        if isinstance(self.address, tuple) and self.address[1] == 0:
            self.listener = _Listener(self.address[0])
            self.address = self.listener.address

    def serve_forever(self):
        """Serves until the daemon is stopped (statemgr shutdown, SIGTERM,
        Ctrl-C); returns its exit status."""
        if self.listener is not None:
            self.listener.close()
        url = _daemon.address_to_url(self.address)
        return _daemon.Daemon(url, self._authkey, foreground=True).run_foreground()


class BaseManager:
    """A manager with Python's interface (address, authkey, start, connect,
    shutdown, join, register, get_server), served by statemgrd."""

    _registry = {}

    def __init__(self, address=None, authkey=None, serializer="pickle", ctx=None, *,
                 shutdown_timeout=1.0, daemon_path=None, log_file=None, **connect_options):
        if authkey is None:
            authkey = _mp_process.current_process().authkey
        if serializer not in ("pickle", "xmlrpclib"):
            raise ValueError("serializer must be 'pickle' or 'xmlrpclib'")
        # xmlrpclib: what has no statemgr value kind is refused, not pickled.
        self._no_pickle = serializer == "xmlrpclib"
        self._address = address
        self._authkey = bytes(authkey)
        self._shutdown_timeout = shutdown_timeout
        self._daemon_path = daemon_path
        self._log_file = log_file
        self._connect_options = connect_options
        self._client = None
        self._daemon = None  # a statemgrd this manager started at an address
        self._state = _State.INITIAL
        self._owner_pid = os.getpid()

    # -- lifecycle -----------------------------------------------------

    def start(self, initializer=None, initargs=()):
        """Starts statemgrd: a private one when the manager has no address,
        else one listening on the address with the manager's authkey."""
        if self._state != _State.INITIAL:
            raise Error("Already started server" if self._state == _State.STARTED
                        else "Manager has shut down")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        if self._address is None:
            # The private daemon gets the manager's authkey (by default
            # current_process().authkey, which spawned children inherit, as
            # with Python's manager) through a pipe: it never touches disk.
            client = _statemgr.Client.start_manager(
                self._daemon_path or _daemon.find_daemon(), self._log_file,
                authkey=self._authkey)
            client.authkey = self._authkey
        else:
            url = _daemon.address_to_url(self._address)
            self._daemon = _daemon.Daemon(url, self._authkey, log_file=self._log_file)
            try:
                client = _statemgr.Client.connect(self._daemon.url, authkey=self._authkey,
                                                  **self._connect_options)
            except BaseException:
                self._daemon.process.kill()
                self._daemon.stop()
                raise
            client.authkey = self._authkey
            self._address = _daemon.url_to_address(self._daemon.url)
        client.no_pickle = self._no_pickle
        self._client = client
        remember_client(client)
        self._state = _State.STARTED
        # The shared objects that typeids registered with a name stand for
        # exist from the start, as the callables of Python's server do.
        for typeid, (opener, _proxytype, name) in self._registry.items():
            if name is not None and opener is not _existing_opener and _takes_no_args(opener):
                opener(client, name)._release()
        if initializer is not None:
            initializer(*initargs)

    def connect(self):
        """Connects to the statemgrd at the manager's address (for a started
        private manager: its own daemon, with its key)."""
        url = _daemon.address_to_url(self.address)
        if url is None:
            raise ValueError("connect() needs an address")
        key = self.authkey
        client = _statemgr.Client.connect(url, authkey=key, **self._connect_options)
        client.authkey = key
        client.no_pickle = self._no_pickle
        self._client = client
        remember_client(client)
        self._state = _State.STARTED

    def get_server(self):
        if self._address is None:
            raise ValueError("get_server() needs an address to serve on")
        return Server(self)

    def shutdown(self):
        """Stops the daemon this manager started (its proxies stop working),
        or closes the connection of a manager that connected."""
        client, self._client = self._client, None
        if self._state == _State.STARTED:
            self._state = _State.SHUTDOWN
        if client is None:
            return
        if self._daemon is not None and os.getpid() == self._owner_pid:
            try:
                client.shutdown_daemon()
            except Error:
                pass
            client.close()
            self._daemon.stop(max(self._shutdown_timeout, 5.0))
            self._daemon = None
        else:
            client.close()

    def join(self, timeout=None):
        """Waits for the daemon to stop (shutdown() already did)."""
        if self._daemon is not None:
            self._daemon.stop(timeout if timeout is not None else 5.0)

    def __enter__(self):
        if self._state == _State.INITIAL:
            self.start()
        if self._state != _State.STARTED:
            raise Error("Unable to start server")
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.shutdown()

    def __del__(self):
        try:
            if self._client is not None and os.getpid() == self._owner_pid:
                self.shutdown()
        except Exception:
            pass

    # -- information ---------------------------------------------------

    @property
    def address(self):
        if self._client is not None and self._address is None:
            return self._client.url
        return self._address

    @property
    def url(self):
        """The daemon's statemgr URL, for statemgr.connect() and C programs."""
        return self._require_client().url

    @property
    def authkey(self):
        c = self._client
        if c is not None and c.authkey is not None:
            return c.authkey
        return self._authkey

    @property
    def pid(self):
        """The process id of the private daemon, or of the one start() ran."""
        if self._daemon is not None:
            return self._daemon.process.pid
        return self._client.pid if self._client is not None else None

    def _require_client(self):
        if self._client is None:
            raise Error("the manager is not started or connected" if self._state == _State.INITIAL
                        else "the manager has shut down", -15, "SM_ECLOSED")
        return self._client

    def _number_of_objects(self):
        """Live proxies of this manager in this process."""
        return self._require_client().live_proxies

    def _debug_info(self):
        return repr(self._require_client().info())

    def info(self):
        """The daemon's facts (version, uptime, connections, objects...)."""
        return self._require_client().info()

    def pipeline(self):
        """A Pipeline for calls on this manager's proxies (see
        statemgr.pipeline)."""
        return Pipeline(self._require_client())

    def txn(self):
        """A new transaction (statemgr.Txn) on this manager's objects:
        conditions, then calls or else-calls, as one step."""
        from .txn import Txn

        return Txn(self._require_client())

    @property
    def connection(self):
        """A statemgr.Connection over this manager's client: named objects
        (connection.dict("feeds")) and the daemon's listing."""
        from . import Connection

        return Connection(self._require_client())

    # -- registration ---------------------------------------------------

    @classmethod
    def register(cls, typeid, callable=None, proxytype=None, exposed=None,
                 method_to_typeid=None, create_method=True, *, daemon_type=None, name=None):
        """Adds a typeid to the manager class (see the module's docstring
        for what statemgr can serve)."""
        if "_registry" not in cls.__dict__:
            cls._registry = dict(cls._registry)
        if method_to_typeid:
            raise TypeError("statemgr register(): method_to_typeid needs Python code in the "
                            "server, which statemgrd cannot run")
        if daemon_type is not None:
            opener = _custom_opener(daemon_type)
            base = proxytype or BaseProxy
        elif callable is None and typeid in SYNC_TYPES:
            opener = SYNC_TYPES[typeid]
            base = proxytype
        elif callable is not None and BUILTIN_CALLABLES.get(callable):
            opener = SYNC_TYPES[BUILTIN_CALLABLES[callable]]
            base = proxytype
        elif callable is None:
            # Python's client-side registration (the server process has the
            # callable): here, the object of that name that exists already.
            opener = _existing_opener
            base = proxytype
            name = name or typeid
        else:
            raise TypeError(
                "statemgr cannot register %r for typeid %r: statemgrd is a C daemon and runs no "
                "Python code. Register a built-in type (dict, list, queue.Queue, threading.Lock, "
                "threading.RLock, threading.Semaphore, threading.BoundedSemaphore, "
                "threading.Condition, threading.Event, threading.Barrier, or a SyncManager typeid "
                "with callable=None), add name=... to share one named object, or "
                "daemon_type=... for a custom type registered in C by a server that embeds "
                "statemgr" % (callable, typeid))
        if base is not None and exposed:
            base = _exposed_class(base, typeid, exposed)
        elif base is None and exposed:
            base = _exposed_class(BaseProxy, typeid, exposed)
        cls._registry[typeid] = (opener, base, name)
        if create_method:
            def temp(self, *args, **kwds):
                return self._create(typeid, *args, **kwds)

            temp.__name__ = typeid
            setattr(cls, typeid, temp)

    def _create(self, typeid, *args, **kwds):
        opener, proxytype, name = self._registry[typeid]
        client = self._require_client()
        p = opener(client, name, *args, **kwds)
        if proxytype is not None and not isinstance(p, proxytype):
            p = client.open_token(p._token, cls=proxytype)
        if p.__dict__.get("_typeid_override") is None and typeid not in SYNC_TYPES:
            p.__dict__["_typeid_override"] = typeid
        return p


class SyncManager(BaseManager):
    """multiprocessing.managers.SyncManager over statemgrd: dict, list,
    set (as Python 3.14's), Value, Array, Namespace, Queue, JoinableQueue,
    Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event, Barrier."""


for _typeid in SYNC_TYPES:
    SyncManager.register(_typeid)
