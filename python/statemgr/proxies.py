# SPDX-License-Identifier: MIT
"""statemgr.proxies - the proxy classes: Python objects whose every method
is one call to the object in statemgrd.

They behave as the proxies of ``multiprocessing.managers`` do: ``DictProxy``
and ``ListProxy`` take ``d[k]``, ``k in d``, ``len``, iteration, ``del``,
slicing and ``+=``; a ``ValueProxy`` has ``.value``; locks and conditions
are context managers; failures raise what Python raises (``KeyError``,
``IndexError``, ``queue.Empty``, ``threading.BrokenBarrierError``...).
Comparison is by identity, as for Python's proxies (compare ``d.copy()`` or
``l[:]`` instead; a ``SetProxy``'s ``<=``, ``<``... compare its elements,
as Python 3.14's does). Each class also has what Python's lack: ``value.add()``,
``dict.set_if_absent()`` / ``cas()``, and a lock that its holder's death
releases.

A proxy pickles (for ``spawn`` children, or a ``multiprocessing.Queue``) as
the daemon's URL and the object's id or name; unpickled, it reconnects and
takes its own reference. A proxy stored inside a dict or list travels as a
reference and comes back as a proxy.
"""
import math
import os
import threading
import time
import weakref

from . import _statemgr
from ._scan import proxy_scan
from .errors import BadValue, Empty, Full, NotFound, NotOwner, Timeout

__all__ = [
    "BaseProxy", "DictProxy", "ListProxy", "ValueProxy", "ArrayProxy", "NamespaceProxy",
    "QueueProxy", "LockProxy", "RLockProxy", "SemaphoreProxy", "ConditionProxy",
    "EventProxy", "BarrierProxy", "SetProxy", "ABSENT",
]


class _Absent:
    """The sentinel for "the key is absent" in DictProxy.cas()."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self):
        return "statemgr.ABSENT"

    def __reduce__(self):
        return (_Absent, ())


ABSENT = _Absent()


def timeout_ms(timeout, blocking=True):
    """A timeout in seconds (None: none) as the library's milliseconds:
    -1 forever, 0 do not block. A negative timeout is a ValueError, as in
    queue.Queue."""
    if not blocking:
        return 0
    if timeout is None:
        return -1
    if timeout < 0:
        raise ValueError("'timeout' must be a non-negative number")
    return int(math.ceil(timeout * 1000.0))


# ---- the clients a process has, for proxies that are unpickled ---------

_clients = weakref.WeakValueDictionary()  # url -> Client of this process
_clients_lock = threading.Lock()


def _after_fork_in_child():
    # Another thread may have held the lock at fork(): the child starts
    # with a fresh one.
    global _clients_lock
    _clients_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def remember_client(client):
    """Lets proxies unpickled in this process (or its fork children) reuse
    client for its URL."""
    with _clients_lock:
        _clients.setdefault(client.url, client)


def _client_for(url, authkey, authkey_file):
    with _clients_lock:
        c = _clients.get(url)
        if c is not None and not c.closed:
            return c
    kw = {}
    if authkey is not None:
        kw["authkey"] = authkey
    elif authkey_file is not None:
        kw["authkey_file"] = authkey_file
    c = _statemgr.Client.connect(url, **kw)
    c.authkey = authkey
    remember_client(c)
    return c


def _rebuild_proxy(cls, token, name, url, authkey, authkey_file, state):
    client = _client_for(url, authkey, authkey_file)
    if name is not None:
        proxy = client.open(token.rsplit(":", 1)[0], name, cls=cls)
    else:
        proxy = client.open_token(token, cls=cls)
    if state:
        proxy.__dict__.update(state)
    return proxy


def _spawning():
    from multiprocessing import context

    return context.get_spawning_popen() is not None


class BaseProxy(_statemgr.Proxy):
    """The base of every statemgr proxy. ``_callmethod(name, args)`` calls
    any daemon method by name (docs/protocol.md), custom types' included."""

    _typeid = None  # Python's typeid ("dict", "Queue"...), for repr

    @property
    def _typeid_now(self):
        return self.__dict__.get("_typeid_override") or self._typeid or self._type

    def _callmethod(self, methodname, args=(), kwds=None):
        if kwds:
            raise TypeError("statemgr methods take positional arguments only")
        return self._call(methodname, *args)

    def _getvalue(self):
        """A copy of the referent, as Python's proxies give."""
        raise NotImplementedError(f"{type(self).__name__} has no copy to give")

    def __repr__(self):
        return "<%s object, typeid %r at %#x>" % (type(self).__name__, self._typeid_now, id(self))

    def __reduce__(self):
        client = self._client
        authkey = client.authkey if _spawning() else None
        authkey_file = getattr(client, "_authkey_file", None)
        state = dict(self.__dict__)
        return (
            _rebuild_proxy,
            (type(self), self._token, self._name, client.url, authkey, authkey_file, state),
        )

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


# ---- containers --------------------------------------------------------


class _DictKeyIterator:
    """Iterates over the keys a dict had when iteration began; like a dict
    iterator, raises RuntimeError once the dict's size has changed."""

    def __init__(self, proxy):
        self._proxy = proxy
        self._keys = proxy._call("keys")
        self._len = len(self._keys)
        self._pos = 0

    def __iter__(self):
        return self

    def __next__(self):
        if self._keys is None:
            raise StopIteration
        if self._proxy._call("len") != self._len:
            self._keys = None
            raise RuntimeError("dictionary changed size during iteration")
        if self._pos >= len(self._keys):
            self._keys = None
            raise StopIteration
        k = self._keys[self._pos]
        self._pos += 1
        return k


class DictProxy(BaseProxy):
    """A shared dict (daemon type "dict")."""

    _typeid = "dict"

    def __getitem__(self, key):
        try:
            return self._callk("get", key)
        except NotFound:
            raise KeyError(key) from None

    def __setitem__(self, key, value):
        self._callk("set", key, value)

    def __delitem__(self, key):
        try:
            self._callk("del", key)
        except NotFound:
            raise KeyError(key) from None

    def __contains__(self, key):
        return self._callk("contains", key)

    def __len__(self):
        return self._call("len")

    def __iter__(self):
        return _DictKeyIterator(self)

    def __str__(self):
        return str(self.copy())

    def setex(self, key, value, ttl_ms):
        """self[key] = value, expiring ttl_ms milliseconds from now."""
        self._callk("set", key, value, int(ttl_ms))

    def expire(self, key, ms):
        """key expires ms milliseconds from now (ms <= 0: now); False when
        there is no such key."""
        return self._callk("set_ttl", key, int(ms))

    def ttl(self, key):
        """Milliseconds left before key expires, None when it has no TTL;
        KeyError when there is no such key."""
        ms = self._callk("ttl", key)
        if ms == -2:
            raise KeyError(key)
        return None if ms == -1 else ms

    def persist(self, key):
        """Removes key's TTL; True when it had one."""
        return self._callk("persist", key)

    def get(self, key, default=None):
        try:
            return self._callk("get", key)
        except NotFound:
            return default

    def keys(self):
        return self._call("keys")

    def values(self):
        return self._call("values")

    def items(self):
        return [tuple(kv) for kv in self._call("items")]

    def scan(self, count=None):
        """An iterator over the (key, value) pairs, count (a hint; None: the
        daemon's 100) per round trip, holding one page at a time: for dicts
        too big for items(). Insertion order; every pair present for the
        whole iteration comes exactly once."""
        return proxy_scan(self, count, True)

    _NO_DEFAULT = object()

    def pop(self, key, default=_NO_DEFAULT):
        try:
            return self._callk("pop", key)
        except NotFound:
            if default is DictProxy._NO_DEFAULT:
                raise KeyError(key) from None
            return default

    def popitem(self):
        try:
            return tuple(self._call("popitem"))
        except NotFound:
            raise KeyError("popitem(): dictionary is empty") from None

    def setdefault(self, key, default=None):
        return self._callk("setdefault", key, default)

    def update(self, other=(), /, **kwds):
        items = dict(other)
        items.update(kwds)
        if items:
            self._call("update", items)

    def clear(self):
        self._call("clear")

    def copy(self):
        return self._call("copy")

    _getvalue = copy

    # statemgr's own: atomic helpers that Python's DictProxy lacks.
    def set_if_absent(self, key, value):
        """Stores value only if key is absent; True when it did."""
        return self._callk("set_if_absent", key, value)

    def cas(self, key, expected, desired):
        """Atomic compare-and-set: stores desired if the value under key
        equals expected (``statemgr.ABSENT``: if the key is absent). Returns
        True when it did."""
        if expected is ABSENT:
            return self._callk("cas", key, desired)[0]
        return self._callk("cas", key, expected, desired)[0]


def _get_indexed(proxy, i, what):
    """proxy[i] for a list or an array: a slice with step 1 is the daemon's
    slice, another step slices a copy; an index out of range is IndexError."""
    if isinstance(i, slice):
        if i.step is None or i.step == 1:
            return proxy._call("slice", i.start, i.stop)
        return proxy._call("slice", None, None)[i]
    try:
        return proxy._call("get", i)
    except BadValue:
        raise IndexError(what + " index out of range") from None


class ListProxy(BaseProxy):
    """A shared list (daemon type "list")."""

    _typeid = "list"
    _CHUNK = 256

    def _index_error(self, what="list index out of range"):
        return IndexError(what)

    def __getitem__(self, i):
        return _get_indexed(self, i, "list")

    def __setitem__(self, i, value):
        if isinstance(i, slice):
            items = self._call("slice", None, None)
            items[i] = value
            self._replace(items)
            return
        try:
            self._call("set", i, value)
        except BadValue:
            raise IndexError("list assignment index out of range") from None

    def __delitem__(self, i):
        if isinstance(i, slice):
            items = self._call("slice", None, None)
            del items[i]
            self._replace(items)
            return
        try:
            self._call("del", i)
        except BadValue:
            raise IndexError("list assignment index out of range") from None

    def _replace(self, items):
        pl = _statemgr.Pipeline(self._client)
        pl._call(self, "clear")
        pl._call(self, "extend", items)
        _results, failures = pl._execute()
        if failures:
            from .errors import error_for

            raise error_for(*failures[min(failures)])

    def __len__(self):
        return self._call("len")

    def __contains__(self, value):
        return self._call("count", value) > 0

    def scan(self, count=None):
        """An iterator over the items, count (a hint; None: the daemon's
        100) per round trip, holding one page at a time. Items present for
        the whole iteration come at least once (an insert or removal
        meanwhile may make some come twice)."""
        return proxy_scan(self, count, False)

    def __iter__(self):
        start = 0
        while True:
            chunk = self._call("slice", start, start + self._CHUNK)
            yield from chunk
            if len(chunk) < self._CHUNK:
                return
            start += len(chunk)

    def __reversed__(self):
        return reversed(self._call("slice", None, None))

    def __str__(self):
        return str(self[:])

    def __add__(self, other):
        return self[:] + list(other)

    def __radd__(self, other):
        return list(other) + self[:]

    def __iadd__(self, other):
        self.extend(other)
        return self

    def __mul__(self, n):
        return self[:] * n

    __rmul__ = __mul__

    def __imul__(self, n):
        if n <= 0:
            self.clear()
        elif n > 1:
            items = self[:]
            self._call("extend", items * (n - 1))
        return self

    def append(self, value):
        self._call("append", value)

    def extend(self, iterable):
        self._call("extend", list(iterable))

    def insert(self, i, value):
        self._call("insert", i, value)

    def pop(self, i=-1):
        try:
            return self._call("pop", i)
        except BadValue:
            raise IndexError("pop from empty list" if i == -1 else "pop index out of range") from None

    def remove(self, value):
        try:
            self._call("remove", value)
        except BadValue:
            raise ValueError("list.remove(x): x not in list") from None

    def index(self, value, start=0, stop=None):
        if start == 0 and stop is None:
            try:
                return self._call("index", value)
            except BadValue:
                raise ValueError(f"{value!r} is not in list") from None
        return self[:].index(value, start, *(() if stop is None else (stop,)))

    def count(self, value):
        return self._call("count", value)

    def reverse(self):
        self._call("reverse")

    def sort(self, key=None, reverse=False):
        if key is None:
            self._call("sort", bool(reverse))
        else:
            items = self[:]
            items.sort(key=key, reverse=reverse)
            self._replace(items)

    def clear(self):
        self._call("clear")

    def copy(self):
        return self[:]

    _getvalue = copy


def set_operand(other):
    """An operand of the daemon's set methods: the elements of any iterable
    (a SetProxy's as they are now) as the keys of a map, so that each goes
    as a hashable key (a tuple as a key, not a list) and a repeated one
    once."""
    if isinstance(other, SetProxy):
        other = other._call("copy")
    return dict.fromkeys(other)


_SET_LIKE = (set, frozenset, type({}.keys()), type({}.items()))


class SetProxy(BaseProxy):
    """A shared set (daemon type "set"), as Python 3.14's Manager().set():
    ``in``, len, iteration, the operators and every method of a set.
    Results (``copy()``, ``union()``, ``s | t``...) are Python sets;
    operands may be any iterable (operators take sets, as Python's do).
    Elements compare as dict keys do (1, 1.0 and True are one). pop()
    takes the most recently added element."""

    _typeid = "set"

    def __contains__(self, elem):
        return self._callk("contains", elem)

    def __len__(self):
        return self._call("len")

    def __iter__(self):
        """Iterates over the elements there were when iteration began."""
        return iter(self._call("copy"))

    def __str__(self):
        return str(self.copy())

    def scan(self, count=None):
        """An iterator over the elements, count (a hint; None: the daemon's
        100) per round trip, holding one page at a time: for sets too big
        for copy(). Insertion order; every element present for the whole
        iteration comes exactly once."""
        return proxy_scan(self, count, False)

    def add(self, elem):
        self._callk("add", elem)

    def discard(self, elem):
        self._callk("discard", elem)

    def remove(self, elem):
        try:
            self._callk("remove", elem)
        except NotFound:
            raise KeyError(elem) from None

    def pop(self):
        try:
            return self._call("pop")
        except Empty:
            raise KeyError("pop from an empty set") from None

    def clear(self):
        self._call("clear")

    def copy(self):
        return set(self._call("copy"))

    _getvalue = copy

    def _others(self, method, others):
        return self._call(method, *[set_operand(o) for o in others])

    def update(self, *others):
        self._others("update", others)

    def intersection_update(self, *others):
        self._others("intersection_update", others)

    def difference_update(self, *others):
        self._others("difference_update", others)

    def symmetric_difference_update(self, other):
        self._others("symmetric_difference_update", (other,))

    def union(self, *others):
        return set(self._others("union", others))

    def intersection(self, *others):
        return set(self._others("intersection", others))

    def difference(self, *others):
        return set(self._others("difference", others))

    def symmetric_difference(self, other):
        return set(self._others("symmetric_difference", (other,)))

    def issubset(self, other):
        return self._others("issubset", (other,))

    def issuperset(self, other):
        return self._others("issuperset", (other,))

    def isdisjoint(self, other):
        return self._others("isdisjoint", (other,))

    # Operators: the other side must be a set (or a SetProxy, or a dict
    # view), as for Python's sets; the result is a Python set.
    @staticmethod
    def _set_like(other):
        return isinstance(other, _SET_LIKE + (SetProxy,))

    def __or__(self, other):
        return self.union(other) if self._set_like(other) else NotImplemented

    def __and__(self, other):
        return self.intersection(other) if self._set_like(other) else NotImplemented

    def __sub__(self, other):
        return self.difference(other) if self._set_like(other) else NotImplemented

    def __xor__(self, other):
        return self.symmetric_difference(other) if self._set_like(other) else NotImplemented

    __ror__ = __or__
    __rand__ = __and__
    __rxor__ = __xor__

    def __rsub__(self, other):
        if not self._set_like(other):
            return NotImplemented
        return set(set_operand(other)) - self.copy()

    def __ior__(self, other):
        if not self._set_like(other):
            return NotImplemented
        self.update(other)
        return self

    def __iand__(self, other):
        if not self._set_like(other):
            return NotImplemented
        self.intersection_update(other)
        return self

    def __isub__(self, other):
        if not self._set_like(other):
            return NotImplemented
        self.difference_update(other)
        return self

    def __ixor__(self, other):
        if not self._set_like(other):
            return NotImplemented
        self.symmetric_difference_update(other)
        return self

    def __le__(self, other):
        return self.issubset(other) if self._set_like(other) else NotImplemented

    def __ge__(self, other):
        return self.issuperset(other) if self._set_like(other) else NotImplemented

    def __lt__(self, other):
        return self.copy() < set(set_operand(other)) if self._set_like(other) else NotImplemented

    def __gt__(self, other):
        return self.copy() > set(set_operand(other)) if self._set_like(other) else NotImplemented


class ValueProxy(BaseProxy):
    """A shared value (Manager().Value; daemon type "value")."""

    _typeid = "Value"

    def get(self):
        return self._call("get")

    def set(self, value):
        self._call("set", value)

    value = property(get, set)

    def add(self, delta=1):
        """Atomic add-and-get: the new value (an int stays an int; a float
        makes it a float; None counts as 0)."""
        return self._call("add", delta)

    _getvalue = get

    def __repr__(self):
        return "%s(%r, %r)" % (type(self).__name__, self.__dict__.get("_typecode"), self.get())


#: array.array / ctypes typecodes -> the daemon's.
ARRAY_TYPECODES = {
    "b": "i8", "B": "u8", "h": "i16", "H": "u16", "i": "i32", "I": "u32",
    "l": "i64", "L": "u64", "q": "i64", "Q": "u64", "f": "f32", "d": "f64",
}


class ArrayProxy(BaseProxy):
    """A fixed-length numeric array (Manager().Array; daemon type "array")."""

    _typeid = "Array"

    def __len__(self):
        return self._call("len")

    def __getitem__(self, i):
        return _get_indexed(self, i, "array")

    def __setitem__(self, i, value):
        if isinstance(i, slice):
            start, stop, step = i.indices(len(self))
            values = list(value)
            if step != 1 or len(values) != max(0, stop - start):
                raise ValueError("an array slice is assigned a sequence of the same length")
            self._call("set_slice", start, values)
            return
        try:
            self._call("set", i, value)
        except BadValue as e:
            if "range" in str(e):
                raise IndexError("array assignment index out of range") from None
            raise

    def __iter__(self):
        return iter(self._call("slice", None, None))

    def add(self, i, delta=1):
        """Atomic add-and-get of element i."""
        return self._call("add", i, delta)

    @property
    def typecode(self):
        return self._call("typecode")

    def tolist(self):
        return self._call("slice", None, None)

    _getvalue = tolist

    def __str__(self):
        return str(self.tolist())


class NamespaceProxy(BaseProxy):
    """A shared namespace (Manager().Namespace()). Attributes whose name
    starts with an underscore stay on the proxy, as in Python."""

    _typeid = "Namespace"

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._call("get", name)
        except NotFound:
            raise AttributeError(name) from None

    def __setattr__(self, name, value):
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            self._call("set", name, value)

    def __delattr__(self, name):
        if name.startswith("_"):
            object.__delattr__(self, name)
            return
        try:
            self._call("del", name)
        except NotFound:
            raise AttributeError(name) from None

    def _scan(self, count=None):
        """An iterator over the (name, value) pairs of the attributes, in
        the order first set, count per round trip (underscored, as
        _getvalue, so that no attribute is hidden)."""
        return proxy_scan(self, count, True)

    def _getvalue(self):
        names = self._call("list")
        pl = _statemgr.Pipeline(self._client)
        for n in names:
            pl._call(self, "get", n)
        results, failures = pl._execute()
        return {n: r for i, (n, r) in enumerate(zip(names, results)) if i not in (failures or {})}

    def __str__(self):
        items = ["%s=%r" % kv for kv in self._getvalue().items() if not kv[0].startswith("_")]
        items.sort()
        return "Namespace(" + ", ".join(items) + ")"


# ---- queues and synchronisation ----------------------------------------


class QueueProxy(BaseProxy):
    """A FIFO queue (Manager().Queue / JoinableQueue; daemon type "queue")."""

    _typeid = "Queue"

    def put(self, obj, block=True, timeout=None):
        try:
            self._call_timed("put", timeout_ms(timeout, block), obj)
        except Timeout:
            raise Full("the queue is still full at the deadline") from None

    def get(self, block=True, timeout=None):
        try:
            return self._call_timed("get", timeout_ms(timeout, block))
        except Timeout:
            raise Empty("the queue is still empty at the deadline") from None

    def put_nowait(self, obj):
        return self.put(obj, False)

    def get_nowait(self):
        return self.get(False)

    def qsize(self):
        return self._call("qsize")

    def empty(self):
        return self._call("empty")

    def full(self):
        return self._call("full")

    @property
    def maxsize(self):
        return self._call("maxsize")

    def task_done(self):
        try:
            self._call("task_done")
        except BadValue:
            raise ValueError("task_done() called too many times") from None

    def join(self, timeout=None):
        """Waits until every item put has been task_done (timeout: statemgr's
        own; True when they all were)."""
        try:
            self._call_timed("join", timeout_ms(timeout))
            return True
        except Timeout:
            return False


# The last grant of each thread through each proxy: {id(proxy): (token,
# owner_dead)}, for fence_token and owner_dead.
_grants = threading.local()


class _Acquirer(BaseProxy):
    """acquire() records the grant's fencing token (``fence_token``) and
    whether its last holder had died holding it (``owner_dead``, with the
    owner-death policy "break"), per thread. A wait that would close a cycle
    of waiting clients raises Deadlock."""

    def acquire(self, blocking=True, timeout=None):
        if timeout is not None and timeout < 0:
            timeout = None  # threading's -1: wait forever
        if not blocking and timeout is not None:
            raise ValueError("can't specify a timeout for a non-blocking call")
        acquired, token, dead = self._acquire(timeout_ms(timeout, blocking))
        if acquired:
            if not hasattr(_grants, "by_proxy"):
                _grants.by_proxy = {}
            _grants.by_proxy[id(self)] = (token, dead)
        return acquired

    def acquire_token(self, blocking=True, timeout=None):
        """As acquire(), returning the grant's fencing token (None when not
        acquired; 0 for an RLock taken again by its holder)."""
        return self.fence_token if self.acquire(blocking, timeout) else None

    @property
    def fence_token(self):
        """The fencing token of this thread's last acquire through this
        proxy (0: none yet)."""
        return getattr(_grants, "by_proxy", {}).get(id(self), (0, False))[0]

    @property
    def owner_dead(self):
        """True when this thread's last acquire through this proxy found
        its last holder dead (policy "break"): the lock is held, and what it
        protects may be half-written."""
        return getattr(_grants, "by_proxy", {}).get(id(self), (0, False))[1]

    def guard(self, token=None):
        """A context manager: the calling thread's calls (through this
        proxy's connection) run only while this lock's grant is still the
        one of token (default: fence_token), else raise Fenced and change
        nothing."""
        return _Guard(self, self.fence_token if token is None else token)

    def release(self):
        self._call("release")

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


class _Guard:
    def __init__(self, lock, token):
        self._lock = lock
        self._token = token

    def __enter__(self):
        self._lock._client.set_guard(self._lock, self._token)
        return self._token

    def __exit__(self, *exc):
        self._lock._client.set_guard(None)


class LockProxy(_Acquirer):
    """A lock (Manager().Lock()). Held by the acquiring thread: releasing it
    from another thread or process raises RuntimeError, and the daemon
    releases it when its holder dies (unless opened with
    auto_release=False)."""

    _typeid = "Lock"

    def locked(self):
        return self._call("locked")


class RLockProxy(LockProxy):
    """A re-entrant lock (Manager().RLock())."""

    _typeid = "RLock"

    def _count(self):
        return self._call("count")


class SemaphoreProxy(_Acquirer):
    """A semaphore or bounded semaphore (Manager().Semaphore(n),
    BoundedSemaphore(n)). As Python's, it has no owner: any process may
    release it."""

    _typeid = "Semaphore"

    @property
    def _typeid_now(self):
        return "BoundedSemaphore" if self._type == "bounded_semaphore" else "Semaphore"

    def release(self, n=1):
        try:
            self._call("release", n)
        except BadValue:
            if n < 1:
                raise ValueError("n must be one or more") from None
            raise ValueError("Semaphore released too many times") from None

    def get_value(self):
        return self._call("get_value")


class ConditionProxy(_Acquirer):
    """A condition variable (Manager().Condition(lock=None))."""

    _typeid = "Condition"

    def release(self):
        try:
            self._call("release")
        except NotOwner:
            raise RuntimeError("cannot release un-acquired lock") from None

    def wait(self, timeout=None):
        try:
            return self._call_timed("wait", timeout_ms(timeout))
        except NotOwner:
            raise RuntimeError("cannot wait on un-acquired lock") from None

    def wait_for(self, predicate, timeout=None):
        """Python's Condition.wait_for: waits until predicate() is true, or
        the time is up; returns the last result of predicate()."""
        endtime = None
        waittime = timeout
        result = predicate()
        while not result:
            if waittime is not None:
                if endtime is None:
                    endtime = time.monotonic() + waittime
                else:
                    waittime = endtime - time.monotonic()
                    if waittime <= 0:
                        break
            self.wait(waittime)
            result = predicate()
        return result

    def notify(self, n=1):
        try:
            self._call("notify", n)
        except NotOwner:
            raise RuntimeError("cannot notify on un-acquired lock") from None

    def notify_all(self):
        try:
            self._call("notify_all")
        except NotOwner:
            raise RuntimeError("cannot notify on un-acquired lock") from None

    notifyAll = notify_all


class EventProxy(BaseProxy):
    """An event (Manager().Event())."""

    _typeid = "Event"

    def is_set(self):
        return self._call("is_set")

    isSet = is_set

    def set(self):
        self._call("set")

    def clear(self):
        self._call("clear")

    def wait(self, timeout=None):
        return self._call_timed("wait", timeout_ms(timeout))


class BarrierProxy(BaseProxy):
    """A barrier (Manager().Barrier(parties, action=None, timeout=None)).

    With an action, the last process to arrive runs it before any of them
    leaves wait(), as threading.Barrier does: the waiters then meet at a
    second barrier (its ``_gate``) that the action's end opens. An action
    that raises breaks the barrier."""

    _typeid = "Barrier"

    def _settings(self):
        d = self.__dict__
        return d.get("_timeout"), d.get("_action"), d.get("_gate")

    def wait(self, timeout=None):
        default, action, gate = self._settings()
        if timeout is None:
            timeout = default
        ms = timeout_ms(timeout)
        index = self._call_timed("wait", ms)
        if gate is not None:
            if index == self.parties - 1:
                try:
                    action()
                except BaseException:
                    self.abort()
                    raise
            gate._call_timed("wait", ms)
        return index

    def reset(self):
        gate = self.__dict__.get("_gate")
        self._call("reset")
        if gate is not None:
            gate._call("reset")

    def abort(self):
        gate = self.__dict__.get("_gate")
        self._call("abort")
        if gate is not None:
            gate._call("abort")

    @property
    def parties(self):
        return self._call("parties")

    @property
    def n_waiting(self):
        return self._call("n_waiting")

    @property
    def broken(self):
        gate = self.__dict__.get("_gate")
        return self._call("broken") or (gate is not None and gate._call("broken"))


#: daemon type -> the class its refs come back as.
PROXY_CLASSES = {
    "dict": DictProxy,
    "list": ListProxy,
    "value": ValueProxy,
    "array": ArrayProxy,
    "namespace": NamespaceProxy,
    "queue": QueueProxy,
    "lock": LockProxy,
    "rlock": RLockProxy,
    "semaphore": SemaphoreProxy,
    "bounded_semaphore": SemaphoreProxy,
    "condition": ConditionProxy,
    "event": EventProxy,
    "barrier": BarrierProxy,
    "set": SetProxy,
}

for _type, _cls in PROXY_CLASSES.items():
    _statemgr._register_proxy_class(_type, _cls)
