# SPDX-License-Identifier: MIT
"""statemgr - shared state for Python processes, served by statemgrd.

A drop-in for ``multiprocessing.managers``: change the import and keep the
code.

    import statemgr
    with statemgr.Manager() as m:        # a private statemgrd, as Manager() runs a server
        d = m.dict()
        counter = m.Value("i", 0)
        ...                              # pass d, counter to Process(...) as usual
        counter.add(1)                   # atomic, no lock needed

    feeds = statemgr.connect("tcp://db1:7450").dict("feeds")   # a named object, get-or-create

See README.md ("Python") for what differs from Python's managers.
"""
from . import _statemgr
from .errors import (
    AuthenticationError, BadValue, Broken, ConnectFailed, ConnectionClosed, Deadlock, DiskFull, Empty,
    Error, Fenced, Full,
    NotFound, NotOwner, OwnerDead, ShuttingDown, Stale, Timeout, TLSError, TooLarge, WrongType,
)
from ._scan import ls_scan as _ls_scan
from .managers import BaseManager, SyncManager, owner_policy as _owner_policy
from .pipeline import Pipeline, Result
from .txn import Txn, rev, watch
from .proxies import (
    ABSENT, ArrayProxy, BarrierProxy, BaseProxy, ConditionProxy, DictProxy, EventProxy, ListProxy,
    LockProxy, NamespaceProxy, QueueProxy, RLockProxy, SemaphoreProxy, SetProxy, ValueProxy,
    remember_client,
)

__version__ = _statemgr.library_version

__all__ = [
    "Manager", "connect", "Connection", "BaseManager", "SyncManager", "Pipeline", "Result",
    "ABSENT", "Error", "Timeout", "NotFound", "WrongType", "BadValue", "Empty", "Full", "Broken",
    "NotOwner", "AuthenticationError", "ConnectFailed", "ConnectionClosed", "ShuttingDown",
    "TLSError", "TooLarge", "Stale", "DiskFull", "OwnerDead", "Deadlock", "Fenced", "BaseProxy", "DictProxy", "ListProxy", "ValueProxy",
    "ArrayProxy", "NamespaceProxy", "QueueProxy", "LockProxy", "RLockProxy", "SemaphoreProxy",
    "ConditionProxy", "EventProxy", "BarrierProxy", "SetProxy", "Txn", "rev", "watch",
]


def Manager(*, daemon_path=None, log_file=None):
    """A started SyncManager on a private statemgrd (a child process on a
    private UNIX socket with a random authkey), as multiprocessing.Manager()
    returns. Use it as ``with statemgr.Manager() as m:`` or call
    ``m.shutdown()``."""
    m = SyncManager(daemon_path=daemon_path, log_file=log_file)
    m.start()
    return m


class Connection:
    """A connection to a statemgrd, for named objects: ``dict("feeds")``
    gets or creates the dict called "feeds", which every process (Python or
    C, on any machine) that opens that name shares. A name of None makes an
    anonymous object that lives while some proxy holds it."""

    def __init__(self, client):
        self._client = client

    @property
    def url(self):
        return self._client.url

    def open(self, type, name=None, *init, cls=None, ephemeral=False, ttl_ms=None):
        """Gets or creates the object called name of daemon type type (a
        custom type of an embedding server too), with its creation
        arguments (docs/protocol.md). ephemeral=True: an object this call
        creates is deleted when this connection's session ends; ttl_ms: it
        expires that long after (docs/objects.md, "Expiry")."""
        return self._client.open(type, name, *init, cls=cls, ephemeral=ephemeral, ttl_ms=ttl_ms)

    def dict(self, name=None, *, ephemeral=False, ttl_ms=None):
        return self._client.open("dict", name, ephemeral=ephemeral, ttl_ms=ttl_ms)

    def list(self, name=None):
        return self._client.open("list", name)

    def set(self, name=None):
        return self._client.open("set", name)

    def value(self, name=None, initial=None):
        return self._client.open("value", name, initial)

    def namespace(self, name=None):
        return self._client.open("namespace", name)

    def array(self, name, typecode, values):
        from .proxies import ARRAY_TYPECODES

        if isinstance(values, int):
            values = [0] * values
        return self._client.open("array", name, ARRAY_TYPECODES.get(typecode, typecode),
                                 list(values))

    def queue(self, name=None, maxsize=0):
        return self._client.open("queue", name, int(maxsize))

    def lock(self, name=None, auto_release=True, policy=None):
        """policy: what a holder that dies leaves ("release", "break",
        "keep"; default from auto_release: True is release, False keep)."""
        return self._client.open("lock", name, _owner_policy(auto_release, policy))

    def rlock(self, name=None, auto_release=True, policy=None):
        return self._client.open("rlock", name, _owner_policy(auto_release, policy))

    def semaphore(self, name=None, value=1, auto_release=False, policy=None):
        return self._client.open("semaphore", name, int(value), _owner_policy(auto_release, policy))

    def bounded_semaphore(self, name=None, value=1, auto_release=False, policy=None):
        return self._client.open("bounded_semaphore", name, int(value),
                                 _owner_policy(auto_release, policy))

    def locks(self):
        """The wait-for graph: a list of dicts (object, name, type, policy,
        token, holders, exclusive, waiters), one per held or awaited lock,
        rlock or semaphore."""
        return self._client.locks()

    def condition(self, name=None, lock=None):
        return self._client.open("condition", name, lock)

    def event(self, name=None):
        return self._client.open("event", name)

    def barrier(self, name, parties):
        return self._client.open("barrier", name, int(parties))

    def pipeline(self):
        return Pipeline(self._client)

    def txn(self):
        """A new transaction (statemgr.Txn) on this connection."""
        return Txn(self._client)

    def ping(self):
        self._client.ping()

    def info(self):
        return self._client.info()

    def ls(self, type=None):
        return self._client.ls(type)

    def ls_scan(self, type=None, count=None):
        """An iterator over ls's maps (named objects, in creation order),
        count per round trip: for daemons with more objects than one ls
        answer holds."""
        return _ls_scan(self._client, type, count)

    def show(self, name):
        return self._client.show(name)

    def guard(self, lock, token):
        """A context manager: the calling thread's calls on this connection
        run only while lock's grant is still the one of token (the fencing
        token its acquire_token() gave), else raise Fenced and change
        nothing."""
        return lock.guard(token)

    def slowlog_get(self, count=-1):
        """The newest count slow calls (-1: all), newest first, as dicts
        (id, time, duration_us, object, name, type, method, args, client,
        client_name)."""
        return self._client.slowlog_get(count)

    def slowlog_len(self):
        return self._client.slowlog_len()

    def slowlog_reset(self):
        self._client.slowlog_reset()

    def config_get(self, key="*"):
        """A run-time setting of the daemon (log-level,
        slowlog-threshold-us, slowlog-max-len); "*" gives a dict of all."""
        return self._client.config_get(key)

    def config_set(self, key, value):
        """Changes a run-time setting until the daemon stops."""
        self._client.config_set(key, value)

    def delete(self, name):
        self._client.delete(name)

    def expire(self, name, ms):
        """The named object is deleted ms milliseconds from now (ms <= 0:
        now), as Redis's EXPIRE."""
        self._client.expire(name, int(ms))

    def ttl(self, name):
        """Milliseconds left before the named object expires, or None when
        it has no TTL."""
        return self._client.ttl(name)

    def persist(self, name):
        """Removes the named object's TTL; True when it had one."""
        return self._client.persist(name)

    def close(self):
        """Frees this connection's proxies (they stop working) and closes
        it."""
        self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connect(url=None, authkey=None, *, authkey_file=None, tls_ca=None, tls_cert=None,
            tls_key=None, tls_server_name=None, tls_insecure=False, connect_timeout=None,
            client_name=None, failover_timeout=None):
    """Connects to a statemgrd: url is tcp://HOST:PORT, tls://HOST:PORT or
    unix:/PATH (None: $STATEMGR_URL, else tcp://127.0.0.1:7450), or the
    members of a replicated group as a list, tcp://a:7450,b:7450,c:7450
    (the client finds the leader and follows it when it fails over). The
    authkey comes, as for the C library, from authkey / authkey_file, else
    $STATEMGR_AUTHKEY_FILE, $STATEMGR_AUTHKEY, ~/.statemgr/authkey. For
    tls:// the daemon's certificate is checked against the system's CAs or
    tls_ca, and its name against the URL's host or tls_server_name;
    tls_cert / tls_key present a client certificate. connect_timeout
    (seconds, default 5) bounds one connect; failover_timeout (seconds,
    default 30) is how long a call in flight to a durable daemon, or a
    group, waits for it (or for a new leader) to come back, and is then
    answered exactly once."""
    kw = {}
    if authkey is not None:
        kw["authkey"] = bytes(authkey)
    client = _statemgr.Client.connect(
        url, authkey_file=authkey_file, tls_ca=tls_ca, tls_cert=tls_cert, tls_key=tls_key,
        tls_server_name=tls_server_name, tls_insecure=tls_insecure,
        connect_timeout=connect_timeout, client_name=client_name,
        failover_timeout=failover_timeout, **kw)
    client.authkey = kw.get("authkey")
    remember_client(client)
    return Connection(client)
