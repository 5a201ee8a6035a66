# SPDX-License-Identifier: MIT
"""statemgr.txn - guarded transactions and watches.

A transaction checks conditions on several objects, then makes a list of
calls, or the else-list, in one step no other call interleaves with
(etcd's Txn compare/then/else over the daemon's objects)::

    t = m.txn()
    t.if_equals(accounts, "a", 10).if_absent(accounts, "b")
    t.then(accounts, "set", "a", 7).then(accounts, "set", "b", 3)
    t.orelse(log, "append", "refused")
    if t.commit():              # True: the then-calls ran
        print(t.results)        # one answer per call

Calls name the daemon's methods (docs/protocol.md): any method of dict,
list, value, namespace, queue (a ``get`` never waits) and event, and
``release`` of a lock this thread holds. Nothing is applied when a
condition or call cannot run (commit raises). The calls are all or
nothing: one that fails on the state it finds (a ``pop`` of a missing key,
a ``get`` on an empty queue) makes commit raise its exception, naming the
call, and the calls before it are rolled back: no object changes.

``rev(proxy)`` is the revision of a dict, list, value or namespace (one
more with every change); ``watch(proxy, from_rev, key=...)`` waits until it
changes after from_rev and returns ``(next_rev, events)``, events a list
of ``(rev, kind, key, value)`` (kind "set", "del", or "len" for a list's
length), or None when from_rev is older than the changes the daemon keeps:
read the object again and watch from next_rev. Read the revision first,
then the data, then watch from that revision: no change is missed.
"""
from .errors import error_for
from .proxies import timeout_ms

_OPS = ("==", "!=", "<", "<=", ">", ">=")


def _op(op):
    if op not in _OPS:
        raise ValueError("the operator is one of == != < <= > >=, not %r" % (op,))
    return op


class Txn:
    """A transaction under construction; build it with the ``if_*``,
    ``then`` and ``orelse`` methods (each returns the Txn), run it with
    ``commit()``. It can be committed again. Belongs to one thread."""

    def __init__(self, client):
        self._client = client
        self._conds = []
        self._then = []
        self._else = []
        self.succeeded = None
        self.results = []

    # -- conditions ------------------------------------------------------

    def if_exists(self, obj, key):
        """The dict key (namespace attribute) is present."""
        self._conds.append(("exists", obj, key))
        return self

    def if_absent(self, obj, key):
        """The dict key (namespace attribute) is absent."""
        self._conds.append(("absent", obj, key))
        return self

    def if_equals(self, obj, key, value):
        """The value under key equals value (as dict keys compare); key None
        with a Value proxy compares its whole value."""
        self._conds.append(("equals", obj, key, value))
        return self

    def if_compare(self, obj, key, op, value):
        """value-under-key op value, op one of == != < <= > >=; a missing
        key or an unordered pair makes it false."""
        self._conds.append(("compare", obj, key, _op(op), value))
        return self

    def if_size(self, obj, op, n):
        """len of a dict, list or namespace, qsize of a queue, op n."""
        self._conds.append(("size", obj, _op(op), int(n)))
        return self

    def if_held(self, lock, token=0):
        """This thread holds the lock (or RLock), with fencing token token
        (0: any)."""
        self._conds.append(("held", lock, int(token)))
        return self

    def if_set(self, event):
        """The event is set."""
        self._conds.append(("is_set", event))
        return self

    def if_rev(self, obj, op, rev):
        """The revision of a dict, list, value or namespace op rev."""
        self._conds.append(("rev", obj, _op(op), int(rev)))
        return self

    # -- calls -------------------------------------------------------------

    def then(self, obj, method, *args):
        """Calls obj.method(*args) when every condition holds."""
        self._then.append((obj, method) + args)
        return self

    def orelse(self, obj, method, *args):
        """Calls obj.method(*args) when some condition does not hold."""
        self._else.append((obj, method) + args)
        return self

    def commit(self):
        """Sends the transaction; returns True when the conditions held
        (the then-calls ran), False when the else-calls ran. ``results``
        then holds one answer per call of that list. Raises (with nothing
        applied, and ``results`` empty) when a condition or a call cannot
        run, or when a call fails on the state it finds."""
        self.results = []
        ok, answers = self._client.txn(self._conds, self._then, self._else)
        self.succeeded = ok
        self.results = [value if code == 0 else error_for(code, value) for code, value in answers]
        return ok


def rev(proxy):
    """The revision of a dict, list, value or namespace proxy; from this
    call on the daemon keeps its changes for watch()."""
    return proxy._call("rev")


def watch(proxy, from_rev, key=None, timeout=None):
    """Waits until the object changes after from_rev (only key, when given:
    a dict key or namespace attribute) and returns (next_rev, events):
    events a list of (rev, kind, key, value), or None when from_rev is
    older than the changes the daemon keeps. timeout in seconds (None:
    forever, 0: answer at once) raises statemgr.Timeout when it passes."""
    ms = timeout_ms(timeout)
    if key is None:
        answer = proxy._call_timed("watch", ms, from_rev)
    else:
        answer = proxy._call_timed("watch", ms, from_rev, key)
    events = answer.get("events")
    if events is None:
        return answer["rev"], None
    return answer["rev"], [tuple(e) for e in events]
