#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""pymanager.py - the Python peer of bench/compare.sh: a
multiprocessing.managers.SyncManager server holding one shared dict, queue,
Value and Lock, the objects statemgrd's workloads use.

It serves until killed. The address it bound (port 0 picks a free one) is
written to --ready-file once it accepts connections. bench/pyclient.py
drives the workloads against it with proxies, the way a Python program
would (d[k] = v, q.put / q.get, with lock: v.value += 1).

Usage: pymanager.py --port 0 --authkey-file KEY --ready-file FILE
"""
import argparse
import os
import queue
import threading
from multiprocessing import managers
from multiprocessing.managers import (
    AcquirerProxy,
    DictProxy,
    SyncManager,
    Value,
    ValueProxy,
)

# Python's manager listens with a backlog of 16. Fifty clients connecting at
# once (each proxy opens connections of its own) overflow it, and a dropped
# handshake of a server-speaks-first protocol then hangs its client forever.
# A wider backlog changes nothing else.
_LISTENER, _CLIENT = managers.listener_client["pickle"]


def _wide_listener(address=None, family=None, backlog=16, authkey=None):
    return _LISTENER(address, family, max(backlog, 1024), authkey)


managers.listener_client["pickle"] = (_wide_listener, _CLIENT)

SHARED_DICT = {}
SHARED_QUEUE = queue.Queue()
SHARED_VALUE = Value("i", 0)
SHARED_LOCK = threading.Lock()


def get_dict():
    return SHARED_DICT


def get_queue():
    return SHARED_QUEUE


def get_value():
    return SHARED_VALUE


def get_lock():
    return SHARED_LOCK


class BenchManager(SyncManager):
    """A SyncManager whose typeids hand out the same objects to everyone."""


BenchManager.register("bench_dict", callable=get_dict, proxytype=DictProxy)
BenchManager.register("bench_queue", callable=get_queue)
BenchManager.register("bench_value", callable=get_value, proxytype=ValueProxy)
BenchManager.register("bench_lock", callable=get_lock, proxytype=AcquirerProxy)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--authkey-file", required=True)
    ap.add_argument("--ready-file", required=True)
    args = ap.parse_args()
    with open(args.authkey_file, "rb") as f:
        key = f.read()
    if key.endswith(b"\n"):
        key = key[:-1]
    manager = BenchManager(address=(args.host, args.port), authkey=key)
    server = manager.get_server()
    host, port = server.address
    with open(args.ready_file + ".tmp", "w") as f:
        f.write(f"{host}:{port}\n")
    os.rename(args.ready_file + ".tmp", args.ready_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
