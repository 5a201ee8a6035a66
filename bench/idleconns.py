#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""idleconns.py - opens N authenticated, idle connections to a statemgrd
from one process, for bench/compare.sh's memory-per-connection figure.

Each connection does the whole handshake (Hello -> Auth -> AuthResult, the
mutual HMAC-SHA256 proofs of docs/protocol.md, checked both ways), then
stays open and silent. The protobuf messages of the handshake are encoded
and decoded here by hand (a few varint and bytes fields), so nothing needs
building. Handshakes run BATCH at a time, non-blocking, well inside the
daemon's handshake deadline, and fewer than its --max-unauth-per-addr
(128 by default): a source with more connections waiting to authenticate
sees its oldest ones dropped.

Once all N are authenticated it prints "ready N" and holds them until its
standard input closes or it is signalled. Needs `ulimit -n` above N.

Usage: idleconns.py --url tcp://127.0.0.1:PORT|unix:/PATH --authkey-file F -n 10000
"""
import argparse
import hashlib
import hmac
import os
import selectors
import socket
import struct
import sys

BATCH = 48
VERSION = 2  # the protocol the library speaks (proto/auth.h)


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def fields(payload):
    """Decodes the top-level fields of a protobuf message: {number: value}."""
    out, i = {}, 0
    while i < len(payload):
        tag, shift = 0, 0
        while True:
            b = payload[i]
            i += 1
            tag |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            v, shift = 0, 0
            while True:
                b = payload[i]
                i += 1
                v |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            out[num] = v
        elif wt == 2:
            ln, shift = 0, 0
            while True:
                b = payload[i]
                i += 1
                ln |= (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
            out[num] = payload[i : i + ln]
            i += ln
        elif wt in (1, 5):  # fixed64 (AuthResult.instance), fixed32 (Request.type)
            n = 8 if wt == 1 else 4
            out[num] = int.from_bytes(payload[i : i + n], "little")
            i += n
        else:
            raise ValueError(f"unexpected wire type {wt}")
    return out


def frame(payload):
    return struct.pack(">I", len(payload)) + payload


class Conn:
    """One connection going through the handshake."""

    def __init__(self, url, key):
        if url.startswith("unix:"):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(url[5:])
        else:
            host, port = url[len("tcp://") :].rsplit(":", 1)
            self.sock = socket.create_connection((host.strip("[]"), int(port)))
        self.sock.setblocking(False)
        self.key = key
        self.buf = b""
        self.state = "hello"
        self.client_ch = os.urandom(32)
        self.server_ch = b""

    def take_frame(self):
        if len(self.buf) < 4:
            return None
        (n,) = struct.unpack(">I", self.buf[:4])
        if len(self.buf) < 4 + n:
            return None
        payload, self.buf = self.buf[4 : 4 + n], self.buf[4 + n :]
        return payload

    def on_readable(self):
        data = self.sock.recv(4096)
        if not data:
            raise ConnectionError("the daemon closed the connection during the handshake")
        self.buf += data
        payload = self.take_frame()
        if payload is None:
            return
        f = fields(payload)
        if self.state == "hello":
            self.server_ch = f[2]
            mac = hmac.new(self.key, b"sm-client" + self.server_ch + self.client_ch,
                           hashlib.sha256).digest()
            auth = (b"\x08" + varint(VERSION) + b"\x12" + varint(32) + mac + b"\x1a" +
                    varint(32) + self.client_ch)
            self.sock.sendall(frame(auth))
            self.state = "auth"
        elif self.state == "auth":
            if f.get(1, 0) != 0:
                raise ConnectionError(f"authentication refused: {f.get(3, b'').decode()}")
            want = hmac.new(self.key, b"sm-server" + self.client_ch + self.server_ch,
                            hashlib.sha256).digest()
            if not hmac.compare_digest(f.get(2, b""), want):
                raise ConnectionError("the daemon could not prove it knows the authkey")
            self.state = "ready"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--authkey-file", required=True)
    ap.add_argument("-n", "--connections", type=int, default=10000)
    args = ap.parse_args()
    with open(args.authkey_file, "rb") as f:
        key = f.read()
    if key.endswith(b"\n"):
        key = key[:-1]
    held = []
    sel = selectors.DefaultSelector()
    while len(held) < args.connections:
        batch = [Conn(args.url, key) for _ in range(min(BATCH, args.connections - len(held)))]
        for c in batch:
            sel.register(c.sock, selectors.EVENT_READ, c)
        pending = len(batch)
        while pending:
            for sk, _ in sel.select(timeout=10):
                c = sk.data
                c.on_readable()
                if c.state == "ready":
                    sel.unregister(c.sock)
                    pending -= 1
        held.extend(batch)
    print(f"ready {len(held)}", flush=True)
    try:
        sys.stdin.read()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
