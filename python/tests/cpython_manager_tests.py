#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""cpython_manager_tests.py - CPython's own manager tests, run against
statemgr.

test._test_multiprocessing (shipped with Python; Debian's
libpython3.11-testsuite) builds its test classes for a start method with
install_tests_in_module_dict(); the WithManager* ones take their objects
from ``multiprocessing.Manager()``. Here that function is statemgr.Manager,
so every dict, list, Queue, Lock, Condition, Barrier... those tests use is a
statemgr proxy served by statemgrd. The start method is fork, as on Linux by
default.

The remote-manager tests subclass multiprocessing.managers.BaseManager
themselves: their two manager classes are replaced by statemgr ones below.
EXCLUDED lists each class or test left out, with its reason; README.md
("Python") repeats them. Everything else must pass. Run:

    PYTHONPATH=build/python STATEMGRD=build/statemgrd python3 python/tests/cpython_manager_tests.py
"""
import multiprocessing
import queue
import sys
import unittest

import statemgr
import statemgr.managers

try:
    import test._test_multiprocessing as cpython_tests
except ImportError as e:  # Debian splits the test suite out
    print("SKIP: test._test_multiprocessing is not installed (Debian: libpython3.11-testsuite): %s"
          % e)
    sys.exit(0)

# Excluded: class name -> reason, or "Class.test" -> reason.
EXCLUDED = {
    "WithManagerTestPool":
        "Pool is out of scope: it runs Python functions in worker processes of the manager, "
        "and statemgrd is a C daemon",
    "WithManagerTestMyManager":
        "subclasses multiprocessing.managers.BaseManager itself (not multiprocessing.Manager) "
        "and registers Python callables (a class, a generator) that must run in the server",
}


# _TestRemoteManager and _TestManagerRestart use two BaseManager subclasses
# of the test module: QueueManager registers a function returning one
# queue.Queue of the server process, QueueManager2 the same typeid with no
# callable (a client of that server). Their statemgr forms change only the
# registration: the shared queue is the named queue "get_queue".
class QueueManager(statemgr.managers.BaseManager):
    """manager class used by server process"""


QueueManager.register("get_queue", callable=queue.Queue, name="get_queue")


class QueueManager2(statemgr.managers.BaseManager):
    """manager class which specifies the same interface as QueueManager"""


QueueManager2.register("get_queue")
cpython_tests.QueueManager = QueueManager
cpython_tests.QueueManager2 = QueueManager2


def _statemgr_manager(*args, **kwds):
    return statemgr.Manager()


multiprocessing.Manager = _statemgr_manager

_globs = {"__name__": __name__}
cpython_tests.install_tests_in_module_dict(_globs, "fork", only_type="manager")
setUpModule = _globs["setUpModule"]
tearDownModule = _globs["tearDownModule"]

for _name, _obj in _globs.items():
    if not _name.startswith("WithManager") or _name in EXCLUDED:
        continue
    for _test, _why in EXCLUDED.items():
        _cls, _, _meth = _test.partition(".")
        if _cls == _name and _meth:
            setattr(_obj, _meth, unittest.skip(_why)(getattr(_obj, _meth)))
    globals()[_name] = _obj


if __name__ == "__main__":
    for name, why in sorted(EXCLUDED.items()):
        print("excluded: %s: %s" % (name, why))
    unittest.main(verbosity=2)
