# SPDX-License-Identifier: MIT
"""statemgr.pipeline - many calls in one round trip.

    with m.pipeline() as p:
        for i in range(16):
            p.on(d)[i] = i * i          # queued: d.set(i, i * i)
        n = p.on(counter).add(1)        # queued: a Result
    print(n.value)                      # after the with block: answered

Calls are queued, then sent in one write when the ``with`` block ends (or
at ``execute()``), and the daemon answers them in order. At the end of a
``with`` block a failed call raises nothing: its Result's ``value`` does
(a failed ``[k] = v`` or ``del [k]``, which give no Result, raises there). The methods are the
daemon's (docs/protocol.md): ``get``, ``set``, ``del``, ``add``, ``append``,
``put``... ``p.on(proxy)`` queues them by name, and ``[k]``, ``[k] = v`` and
``del [k]`` mean ``get``, ``set`` and ``del``. Each queued call gives a
:class:`Result` whose ``value`` is its answer (or raises its error). A
pipeline belongs to the thread that made it.
"""
from . import _statemgr
from .errors import error_for
from .proxies import DictProxy, SetProxy, set_operand, timeout_ms

# Dict methods whose first argument is a key.
_KEY_METHODS = {"get", "set", "del", "contains", "pop", "setdefault", "set_if_absent", "cas"}
# Set methods whose one argument is an element (a key, as for a dict).
_SET_ELEMENT_METHODS = {"add", "discard", "remove", "contains"}


class Result:
    """The answer of one pipelined call, once the pipeline has run."""

    # Class defaults instead of __init__: a Result is made per queued call.
    _done = False
    _code = 0
    _value = None

    @property
    def ready(self):
        return self._done

    @property
    def value(self):
        """The call's result; raises its error (statemgr.Error subclass)."""
        if not self._done:
            raise RuntimeError("the pipeline has not run yet")
        if self._code:
            raise error_for(self._code, self._value)
        return self._value

    @property
    def error(self):
        """The call's exception, or None."""
        if self._done and self._code:
            return error_for(self._code, self._value)
        return None

    def __repr__(self):
        if not self._done:
            return "<Result pending>"
        return "<Result %s>" % (repr(self._value) if not self._code else "error %r" % self._value)


class _On(_statemgr.PipelineView):
    """Queues calls on one proxy: p.on(d).method(*args). ``[k]`` (a
    Result), ``[k] = v`` and ``del [k]`` (no Result: a failure is raised
    when the pipeline runs) are the C base's, with no Python frame; p.on(d)
    gives the same view again for the same proxy."""

    __slots__ = ()

    def __getattr__(self, method):
        pipeline, proxy = self.pipeline, self.proxy

        def queue(*args, timeout=None):
            return pipeline.call(proxy, method, *args, timeout=timeout)

        return queue



class Pipeline(_statemgr.Pipeline):
    """Calls queued on proxies of one client, sent together. Made with the
    client (the C base's constructor); ``with`` is the C base's too: it
    runs the pipeline at the end of the block (each Result keeping its own
    error) or drops it after an exception."""

    __slots__ = ()
    _view_class = _On
    _result_class = Result

    # _held, from the C base: the (index, Result) of the calls that gave a
    # Result. on(proxy), from the C base: a view of proxy whose method
    # calls are queued here.

    def call(self, proxy, method, *args, timeout=None):
        """Queues proxy.method(*args) (a daemon method name); timeout (in
        seconds) makes it a blocking call with that deadline. Returns its
        Result."""
        if timeout is not None:
            self._call_timed(proxy, method, timeout_ms(timeout), *args)
        elif args and method in _KEY_METHODS and isinstance(proxy, DictProxy):
            self._callk(proxy, method, *args)
        elif args and isinstance(proxy, SetProxy):
            if method in _SET_ELEMENT_METHODS:
                self._callk(proxy, method, *args)
            else:  # operands: any iterable, each element as a key
                self._call(proxy, method, *[set_operand(a) for a in args])
        else:
            self._call(proxy, method, *args)
        r = Result()
        self._held.append((self._pending() - 1, r))
        return r

    def __len__(self):
        return self._pending()

    def execute(self, raise_on_error=True):
        """Sends the queued calls and waits for every answer. Returns their
        results in order; with raise_on_error, raises the first failure
        (after every Result is filled in), else failed calls are their
        exception objects in the list. A failed ``d[k] = v`` or ``del d[k]``
        (which give no Result) raises in either case."""
        held, self._held = self._held, []
        if not self._pending():
            self._discard()
            return []
        results, failures = self._execute()
        return self._settle(held, results, failures, raise_on_error)

    def _settle(self, held, results, failures, raise_on_error):
        """Fills in the held Results from what _execute gave; as execute."""
        if failures is None:
            for i, r in held:
                r._done, r._value = True, results[i]
            return results
        errors = {i: error_for(code, text) for i, (code, text) in failures.items()}
        with_result = set()
        for i, r in held:
            with_result.add(i)
            r._done = True
            if i in failures:
                r._code, r._value = failures[i]
            else:
                r._value = results[i]
        for i, err in errors.items():
            results[i] = err
        first = min(errors)
        if raise_on_error:
            raise errors[first]
        unheld = [i for i in errors if i not in with_result]
        if unheld:
            raise errors[min(unheld)]
        return results
