"""Hostile-input suite: attacks a running server over raw sockets and records what it did.

    python -m conformance hostile --url http://H:P [--pid PID] [--json-out FILE]

Target app (tests/apps/hardening_app.py has all of these; missing ones are skipped):
``GET /hello`` (health check after every attack), WebSocket echo at ``--ws-path``
(/ws/echo), a permessage-deflate echo with max_message_size 1 MiB at
``--deflate-path`` (/ws/deflate), an Origin allow-list route at ``--origin-path``
(/ws/origin, allowing only https://good.example). With ``--pid`` the server's
VmRSS (/proc/PID/status) is sampled every 50 ms during each attack and fds
(/proc/PID/fd) are counted after it.

JSON written by ``--json-out`` (the conformance report reads it; same outer shape as
the http/sse suites, version 1):

    {"suite": "hostile", "version": 1,
     "url": str, "pid": int | null, "passed": bool, "error": str | null,
     "total": int, "failed": int, "skipped": int, "wall_seconds": float,
     "baseline_rss_kib": int | null, "peak_rss_kib": int | null, "final_rss_kib": int | null,
     "baseline_fds": int | null, "final_fds": int | null,
     "cases": [{
        "name": str,              # e.g. "ws.decompression-bomb-1gib"
        "category": "http" | "ws" | "handshake" | "timeout" | "resource",
        "why": str,               # the attack, one line
        "expected": str,          # e.g. "close 1009" or "status 414|431"
        "got": str,               # outcome: "close 1009", "status 431", "connection closed", "no answer", ...
        "status": int | null,     # HTTP status received, if any
        "close_code": int | null, # WebSocket close code received, if any
        "passed": bool | null,    # null: skipped (route missing); got is the reason
        "server_alive": bool,     # GET /hello answered 200 after the attack
        "seconds": float,
        "rss_peak_kib": int | null,    # peak VmRSS during the attack (with --pid)
        "rss_growth_kib": int | null,  # that peak minus VmRSS just before it
        "fds_after": int | null}]}

A case passes when the outcome is one of the expected ones, the server is still
alive, and (with --pid) the RSS peak grew less than --max-growth-mib (64).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import select
import socket
import struct
import sys
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

TIMEOUT = 10.0
MiB = 1 << 20


class Skip(Exception):
    """The target lacks what the attack needs (e.g. the route)."""


@dataclass
class Outcome:
    got: str
    status: int | None = None
    close_code: int | None = None


@dataclass
class Target:
    host: str
    port: int
    ws_path: str
    deflate_path: str
    origin_path: str
    health_path: str
    slow_limit: float  # longest a slowloris attack may last before it counts as not cut off


# --- raw socket helpers -----------------------------------------------------------------------

def _connect(t: Target, rcvbuf: int | None = None) -> socket.socket:
    if rcvbuf is None:
        s = socket.create_connection((t.host, t.port), timeout=TIMEOUT)
    else:  # set before connect: the window is small from the handshake on
        s = socket.socket(socket.AF_INET6 if ":" in t.host else socket.AF_INET)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(TIMEOUT)
        s.connect((t.host, t.port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def _read_until_close(s: socket.socket, limit: int = 1 << 16, timeout: float = TIMEOUT) -> bytes:
    s.settimeout(timeout)
    data = b""
    try:
        while len(data) < limit:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return data


def _status_of(data: bytes) -> Outcome:
    if not data:
        return Outcome("connection closed without a response")
    if data.startswith(b"HTTP/1."):
        try:
            code = int(data.split(b" ", 2)[1])
        except (IndexError, ValueError):
            return Outcome(f"garbage {data[:40]!r}")
        return Outcome(f"status {code}", status=code)
    return Outcome(f"garbage {data[:40]!r}")


def _handshake_status(t: Target, payload: bytes) -> Outcome:
    """Sends an upgrade request; reads only the response head (a 101 keeps the connection open)."""
    with _connect(t) as s:
        s.sendall(payload)
        s.settimeout(TIMEOUT)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (TimeoutError, ConnectionResetError):
            pass
        out = _status_of(data)
        if out.status == 404:
            raise Skip("no route there (404)")
        if out.status == 101:
            head = data.partition(b"\r\n\r\n")[0].decode("latin-1").lower()
            ext = [line.split(":", 1)[1].strip() for line in head.split("\r\n")
                   if line.startswith("sec-websocket-extensions:")]
            out.got += f" with extension {ext[0]!r}" if ext else " without extensions"
        return out


def _send_and_status(t: Target, payload: bytes, *, shut: bool = False) -> Outcome:
    with _connect(t) as s:
        try:
            s.sendall(payload)
            if shut:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return _status_of(_read_until_close(s))


def _mask(payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(k, "little")).to_bytes(n, "little")


def frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, masked: bool = True,
          length: int | None = None) -> bytes:
    """A client frame; ``length`` overrides the declared payload length (lying headers)."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | (rsv << 4) | opcode])
    mbit = 0x80 if masked else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + _mask(payload, key)


def _upgrade(path: str, extra: str = "", version: str = "13", key: str | None = None) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode() if key is None else key
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Version: {version}"]
    if key:
        lines.append(f"Sec-WebSocket-Key: {key}")
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


class WS:
    """An upgraded raw connection."""

    def __init__(self, t: Target, path: str, extra: str = "", rcvbuf: int | None = None) -> None:
        self.sock = _connect(t, rcvbuf)
        self.sock.sendall(_upgrade(path, extra))
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Skip(f"{path}: connection closed during the handshake")
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.pos = 0
        self.head = head.decode("latin-1")
        if not self.head.startswith("HTTP/1.1 101"):
            self.sock.close()
            raise Skip(f"{path}: no WebSocket there ({self.head.splitlines()[0]})")

    def send(self, data: bytes) -> bool:
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def _need(self, n: int) -> bool:
        """At least n unread bytes in buf[pos:] (pos avoids re-copying a big buffer per frame)."""
        while len(self.buf) - self.pos < n:
            if self.pos:
                self.buf, self.pos = self.buf[self.pos:], 0
            try:
                chunk = self.sock.recv(1 << 20)
            except (TimeoutError, ConnectionResetError):
                return False
            if not chunk:
                return False
            self.buf += chunk
        return True

    def next_frame(self) -> tuple[int, bytes] | None:
        if not self._need(2):
            return None
        p = self.pos
        b1 = self.buf[p + 1]
        n, off = b1 & 0x7F, 2
        if n == 126:
            if not self._need(4):
                return None
            p = self.pos
            n, off = struct.unpack("!H", self.buf[p + 2:p + 4])[0], 4
        elif n == 127:
            if not self._need(10):
                return None
            p = self.pos
            n, off = struct.unpack("!Q", self.buf[p + 2:p + 10])[0], 10
        if not self._need(off + n):
            return None
        p = self.pos
        op, payload = self.buf[p] & 0x0F, self.buf[p + off:p + off + n]
        self.pos = p + off + n
        return op, payload

    def outcome(self, timeout: float = TIMEOUT) -> Outcome:
        """Reads (skipping data frames) until a close frame or the end of the connection."""
        self.sock.settimeout(timeout)
        while True:
            f = self.next_frame()
            if f is None:
                return Outcome("connection closed without a close frame")
            op, payload = f
            if op == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                return Outcome(f"close {code}", close_code=code)

    def feed_then_outcome(self, chunks) -> Outcome:
        """Sends chunks while the server is silent, then reads its verdict."""
        for chunk in chunks:
            if select.select([self.sock], [], [], 0)[0]:
                break
            if not self.send(chunk):
                break
        return self.outcome()

    def close(self) -> None:
        self.sock.close()


def _ws_attack(path_attr: str, make: Callable[[WS], Outcome], extra: str = "",
               rcvbuf: int | None = None) -> Callable[[Target], Outcome]:
    def run(t: Target) -> Outcome:
        ws = WS(t, getattr(t, path_attr), extra, rcvbuf)
        try:
            return make(ws)
        finally:
            ws.close()
    return run


def _bomb_segment() -> bytes:
    """1 MiB of zeros as a self-contained raw-deflate segment (~1 KiB, full-flushed)."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_RLE)
    return c.compress(b"\0" * MiB) + c.flush(zlib.Z_FULL_FLUSH)


DEFLATE = "Sec-WebSocket-Extensions: permessage-deflate\r\n"


def _bomb_single(ws: WS) -> Outcome:
    if "permessage-deflate" not in ws.head.lower():
        raise Skip("the deflate route did not negotiate permessage-deflate")
    return ws.feed_then_outcome([frame(0x2, (_bomb_segment() * 64)[:-4], rsv=4)])


def _bomb_gib(ws: WS) -> Outcome:
    if "permessage-deflate" not in ws.head.lower():
        raise Skip("the deflate route did not negotiate permessage-deflate")
    part = _bomb_segment() * 16
    return ws.feed_then_outcome(frame(0x2 if i == 0 else 0x0, part[:-4] if i == 63 else part, fin=i == 63,
                                      rsv=4 if i == 0 else 0) for i in range(64))


def _ping_flood(ws: WS) -> Outcome:
    # 20,000 pings (2.6 MiB) written before reading a single pong: the server's pongs pile up
    # against a peer that does not read; memory must stay bounded (answer or close, not grow).
    batch = b"".join(frame(0x9, b"p" * 125) for _ in range(500))
    for _ in range(40):
        if not ws.send(batch):
            return Outcome("connection closed during the flood")
    ws.send(frame(0x1, b"after-flood"))
    ws.sock.settimeout(TIMEOUT)
    while True:
        f = ws.next_frame()
        if f is None:
            return Outcome("connection closed")
        if f[0] == 0x8:
            code = struct.unpack("!H", f[1][:2])[0] if len(f[1]) >= 2 else 1005
            return Outcome(f"close {code}", close_code=code)
        if f == (0x1, b"after-flood"):
            return Outcome("all pongs then the echo")


def _ping_flood_unread(ws: WS) -> Outcome:
    # 96 MiB of 125-byte pings (~770,000) from a peer whose receive buffer is 4 KiB and that
    # never reads: one queued pong per ping would pass max_send_buffer (64 MiB) and the RSS
    # bound. A bounded server keeps one pending pong (the latest ping's, RFC 6455 5.5.3) or
    # stops reading; either way the connection stays usable and the latest ping is answered.
    n_batch = 2000
    batch = b"".join(frame(0x9, b"%08d" % i + b"p" * 117) for i in range(n_batch))
    total, sent, outcome = 96 * MiB, 0, "flood absorbed"
    ws.sock.setblocking(False)
    last = time.monotonic()
    while sent < total:
        try:
            sent += ws.sock.send(batch[sent % len(batch):])
            last = time.monotonic()
        except BlockingIOError:
            if time.monotonic() - last > 3:
                outcome = "server stopped reading"
                break
            select.select([], [ws.sock], [], 0.1)
        except (BrokenPipeError, ConnectionResetError):
            return Outcome(f"connection closed after {sent // MiB} MiB of pings")
    # The last send may have cut a ping in two: finish it before the text frame, or the text
    # frame lands inside the ping's payload. A server that stopped reading resumes only once
    # its pongs are read, so read while writing.
    flen = len(frame(0x9, b"p" * 125))
    pings = -(-sent // flen)
    latest = b"%08d" % ((pings - 1) % n_batch)
    at = sent % len(batch)
    tail = batch[at:at + (-sent) % flen] + frame(0x1, b"after-flood")
    deadline = time.monotonic() + TIMEOUT
    try:
        while tail:
            if time.monotonic() > deadline:
                return Outcome(f"the server read nothing for {TIMEOUT:.0f} s after the flood")
            readable, writable, _ = select.select([ws.sock], [ws.sock], [], 0.1)
            if readable:
                chunk = ws.sock.recv(1 << 20)
                if not chunk:
                    return Outcome("connection closed after the flood")
                ws.buf += chunk
            if writable:
                with contextlib.suppress(BlockingIOError):
                    tail = tail[ws.sock.send(tail):]
    except (BrokenPipeError, ConnectionResetError):
        return Outcome("connection closed after the flood")
    ws.sock.setblocking(True)
    ws.sock.settimeout(TIMEOUT)
    pongs, last_pong, echoed = 0, None, False
    while not (echoed and last_pong == latest):
        f = ws.next_frame()
        if f is None:
            return Outcome(f"connection closed after {pongs} pongs" + (" and the echo" if echoed else ""))
        if f[0] == 0x8:
            code = struct.unpack("!H", f[1][:2])[0] if len(f[1]) >= 2 else 1005
            return Outcome(f"close {code}", close_code=code)
        if f[0] == 0xA:
            pongs, last_pong = pongs + 1, bytes(f[1][:8])
        elif f == (0x1, b"after-flood"):
            echoed = True
    return Outcome(f"{outcome}: {pings} pings, {pongs} pongs, the latest answered, echo after")


def _slowloris(data_fn: Callable[[Target], bytes]) -> Callable[[Target], Outcome]:
    def run(t: Target) -> Outcome:
        data = data_fn(t)
        t0 = time.monotonic()
        with _connect(t) as s:
            for i in range(len(data)):
                if time.monotonic() - t0 > t.slow_limit:
                    return Outcome(f"still open after {t.slow_limit:.0f}s")
                if select.select([s], [], [], 0.5)[0]:
                    break
                try:
                    s.sendall(data[i:i + 1])
                except (BrokenPipeError, ConnectionResetError):
                    break
            else:
                return Outcome("the whole head was accepted")
            got = _status_of(_read_until_close(s))
            secs = time.monotonic() - t0
            return Outcome(f"{got.got} after {secs:.1f}s" if got.status else f"closed after {secs:.1f}s",
                           status=got.status)
    return run


def _vanishing(n: int) -> Callable[[Target], Outcome]:
    def run(t: Target) -> Outcome:
        kinds = 0
        for i in range(n):
            s = _connect(t)
            try:
                k = i % 4
                if k == 0:
                    s.sendall(b"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
                elif k == 1:
                    s.sendall(_upgrade(t.ws_path)[:50])
                elif k == 2:  # mid-frame after a handshake
                    s.sendall(_upgrade(t.ws_path))
                    s.settimeout(TIMEOUT)
                    s.recv(4096)
                    s.sendall(frame(0x1, b"x" * 200)[:30])
                else:  # reset
                    s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n")
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                kinds += 1
            finally:
                s.close()
        return Outcome(f"{kinds} peers vanished")
    return run


def _idle_flood(n: int) -> Callable[[Target], Outcome]:
    def run(t: Target) -> Outcome:
        held = []
        try:
            for _ in range(n):
                held.append(_connect(t))
            return Outcome("served while flooded" if _health(t) else "not served while flooded")
        finally:
            for s in held:
                s.close()
    return run


def _pipeline_flood(t: Target) -> Outcome:
    req = f"GET {t.health_path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    with _connect(t) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sent = 0
        s.setblocking(False)
        deadline = time.monotonic() + 5
        data = req * 20000
        while sent < len(data) and time.monotonic() < deadline:
            try:
                sent += s.send(data[sent:sent + 65536])
            except BlockingIOError:
                time.sleep(0.01)  # the server stopped reading: backpressure on the input
            except (BrokenPipeError, ConnectionResetError):
                return Outcome(f"connection closed after {sent // len(req)} requests")
    return Outcome(f"{sent // len(req)} of 20000 requests accepted before the server stopped reading"
                   if sent < len(data) else "all 20000 requests accepted")


@dataclass
class Attack:
    name: str
    category: str
    why: str
    expected: tuple[str, ...]  # acceptable outcome prefixes: "status 431", "close 1009", ...
    run: Callable[[Target], Outcome]


def _http(name: str, why: str, expected: tuple[str, ...], payload: bytes, shut: bool = False) -> Attack:
    return Attack(name, "http", why, expected, lambda t: _send_and_status(t, payload, shut=shut))


def _ws(name: str, why: str, expected: tuple[str, ...], make: Callable[[WS], Outcome],
        path_attr: str = "ws_path", extra: str = "", category: str = "ws", rcvbuf: int | None = None) -> Attack:
    return Attack(name, category, why, expected, _ws_attack(path_attr, make, extra, rcvbuf))


def _send_frames(*frames: bytes) -> Callable[[WS], Outcome]:
    return lambda ws: ws.feed_then_outcome(frames)


ATTACKS: list[Attack] = [
    _http("http.request-line-64k", "a 64 KiB request target", ("status 414", "status 431", "status 400"),
          b"GET /" + b"a" * (64 << 10) + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    _http("http.header-64k", "one 64 KiB header field", ("status 431", "status 400"),
          b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * (64 << 10) + b"\r\n\r\n"),
    _http("http.headers-1000", "1,000 header fields", ("status 431",),
          b"GET /hello HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(1000)) + b"\r\n"),
    _http("http.endless-header", "1 MiB of header bytes with no line end", ("status 431", "status 400"),
          b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Endless: " + b"e" * MiB),
    _http("http.nul-in-header", "a NUL byte in a header value", ("status 400",),
          b"GET /hello HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n"),
    _http("http.bare-lf", "bare LF line endings", ("status 400",), b"GET /hello HTTP/1.1\nHost: x\n\n"),
    _http("http.cl-te-smuggling", "Content-Length together with Transfer-Encoding: chunked", ("status 400",),
          b"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
    _http("http.duplicate-content-length", "two Content-Length fields", ("status 400",),
          b"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"),
    _http("http.body-over-limit", "Content-Length: 100 MiB (over max_body_size)", ("status 413",),
          b"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n" + b"z" * 4096),
    _http("http.chunk-size-overflow", "chunk size ffffffffffffffffff", ("status 400", "status 413"),
          b"POST /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n"),
    _http("http.unknown-te", "Transfer-Encoding: gzip, chunked", ("status 400", "status 501"),
          b"POST /hello HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
    Attack("http.pipeline-flood", "resource", "20,000 pipelined requests (1 MiB) from a client that never reads",
           ("all 20000", "connection closed", "of 20000"), _pipeline_flood),
    Attack("timeout.slowloris-request", "timeout", "a request head sent one byte every 0.5 s",
           ("status 408", "closed after"),
           _slowloris(lambda t: f"GET {t.health_path} HTTP/1.1\r\nHost: x\r\nX-Pad: {'p' * 200}\r\n\r\n".encode())),
    Attack("timeout.slowloris-handshake", "timeout", "a WebSocket upgrade request sent one byte every 0.5 s",
           ("status 408", "closed after"), _slowloris(lambda t: _upgrade(t.ws_path, "X-Pad: " + "p" * 200 + "\r\n"))),
    Attack("handshake.bad-version", "handshake", "Sec-WebSocket-Version: 12", ("status 426", "status 400"),
           lambda t: _handshake_status(t, _upgrade(t.ws_path, version="12"))),
    Attack("handshake.missing-key", "handshake", "no Sec-WebSocket-Key", ("status 400",),
           lambda t: _handshake_status(t, _upgrade(t.ws_path, key=""))),
    Attack("handshake.bad-key", "handshake", "Sec-WebSocket-Key that is not 16 bytes of base64", ("status 400",),
           lambda t: _handshake_status(t, _upgrade(t.ws_path, key="c2hvcnQ="))),
    Attack("handshake.disallowed-origin", "handshake", "Origin not in the route's allow-list (CSWSH)", ("status 403",),
           lambda t: _handshake_status(t, _upgrade(t.origin_path, "Origin: https://evil.example\r\n"))),
    Attack("handshake.bad-extension-params", "handshake", "permessage-deflate; server_max_window_bits=99",
           ("status 101 without extensions", "status 400"),
           lambda t: _handshake_status(t, _upgrade(t.deflate_path,
                                                  "Sec-WebSocket-Extensions: permessage-deflate; "
                                                  "server_max_window_bits=99\r\n"))),
    _ws("ws.unmasked-frame", "a client frame without a mask", ("close 1002",),
        _send_frames(frame(0x1, b"hi", masked=False))),
    _ws("ws.reserved-opcode", "opcode 0x3", ("close 1002",), _send_frames(frame(0x3, b""))),
    _ws("ws.rsv-bits", "RSV2|RSV3 set without an extension", ("close 1002",), _send_frames(frame(0x1, b"a", rsv=3))),
    _ws("ws.rsv1-without-deflate", "RSV1 set on a route without permessage-deflate", ("close 1002",),
        _send_frames(frame(0x1, b"a", rsv=4))),
    _ws("ws.big-control-frame", "a 126-byte ping", ("close 1002",), _send_frames(frame(0x9, b"p" * 126))),
    _ws("ws.fragmented-control", "a ping with FIN=0", ("close 1002",), _send_frames(frame(0x9, b"p", fin=False))),
    _ws("ws.invalid-utf8", "a text message with invalid UTF-8", ("close 1007",),
        _send_frames(frame(0x1, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"))),
    _ws("ws.length-msb", "a 64-bit length with the top bit set", ("close 1002", "close 1009"),
        _send_frames(frame(0x2, b"", length=1 << 63))),
    _ws("ws.huge-declared-length", "a frame header declaring 2^40 bytes (then silence)", ("close 1009",),
        _send_frames(frame(0x2, b"", length=1 << 40))),
    _ws("ws.message-over-limit", "a 20 MiB message in 1 MiB fragments (limit 16 MiB by default)", ("close 1009",),
        lambda ws: ws.feed_then_outcome(frame(0x2 if i == 0 else 0x0, b"m" * MiB, fin=i == 19) for i in range(20))),
    _ws("ws.orphan-continuation", "a continuation frame with no message started", ("close 1002",),
        _send_frames(frame(0x0, b"x"))),
    _ws("ws.interleaved-data", "a new text frame inside a fragmented message", ("close 1002",),
        _send_frames(frame(0x1, b"a", fin=False), frame(0x1, b"b"))),
    _ws("ws.close-code-1005", "close frame carrying code 1005", ("close 1002",),
        _send_frames(frame(0x8, struct.pack("!H", 1005)))),
    _ws("ws.close-code-999", "close frame carrying code 999", ("close 1002",),
        _send_frames(frame(0x8, struct.pack("!H", 999)))),
    _ws("ws.close-1-byte", "close frame with a 1-byte payload", ("close 1002",), _send_frames(frame(0x8, b"\x03"))),
    _ws("ws.close-bad-utf8", "close reason with invalid UTF-8", ("close 1007", "close 1002"),
        _send_frames(frame(0x8, struct.pack("!H", 1000) + b"\xff\xfe"))),
    _ws("ws.ping-flood", "20,000 pings written before reading any pong", ("all pongs", "close 1008", "close 1009"),
        _ping_flood),
    _ws("ws.ping-flood-unread", "96 MiB of 125-byte pings from a peer that never reads (4 KiB receive buffer)",
        ("flood absorbed", "server stopped reading"), _ping_flood_unread, rcvbuf=4096),
    _ws("ws.decompression-bomb-64mib", "one 64 KiB compressed frame that inflates to 64 MiB (limit 1 MiB)",
        ("close 1009",), _bomb_single, path_attr="deflate_path", extra=DEFLATE),
    _ws("ws.decompression-bomb-1gib", "~1 MiB of compressed fragments that inflate to 1 GiB (limit 1 MiB)",
        ("close 1009",), _bomb_gib, path_attr="deflate_path", extra=DEFLATE),
    _ws("ws.bad-deflate-data", "RSV1 frame that is not a deflate stream", ("close 1007", "close 1002"),
        _send_frames(frame(0x1, b"\xff\xff\xff\xff\xff", rsv=4)), path_attr="deflate_path", extra=DEFLATE),
    Attack("resource.vanishing-peers", "resource", "1,000 peers that vanish mid-request, -handshake, -frame, or reset",
           ("1000 peers vanished",), _vanishing(1000)),
    Attack("resource.idle-connection-flood", "resource", "500 idle connections held open; a client is still served",
           ("served while flooded",), _idle_flood(500)),
]


# --- runner -----------------------------------------------------------------------------------

def _health(t: Target) -> bool:
    try:
        with socket.create_connection((t.host, t.port), timeout=TIMEOUT) as s:
            s.sendall(f"GET {t.health_path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            return _read_until_close(s, timeout=TIMEOUT).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def _rss_kib(pid: int | None) -> int | None:
    if pid is None:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _fds(pid: int | None) -> int | None:
    if pid is None:
        return None
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


class _Sampler:
    """Peak VmRSS of ``pid`` while an attack runs."""

    def __init__(self, pid: int | None) -> None:
        self.pid, self.peak = pid, _rss_kib(pid)
        self.before = self.peak
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            v = _rss_kib(self.pid)
            if v is not None and self.peak is not None:
                self.peak = max(self.peak, v)

    def __enter__(self) -> Self:
        if self.pid is not None:
            self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.pid is not None:
            self._t.join()
            v = _rss_kib(self.pid)
            if v is not None and self.peak is not None:
                self.peak = max(self.peak, v)


def run_suite(url: str, pid: int | None = None, *, ws_path: str = "/ws/echo", deflate_path: str = "/ws/deflate",
              origin_path: str = "/ws/origin", health_path: str = "/hello", slow_limit: float = 20.0,
              max_growth_mib: float = 64.0, select_names: Callable[[str], bool] | None = None,
              progress: bool = False, out=sys.stdout) -> dict:
    u = urlsplit(url)
    t = Target(u.hostname or "127.0.0.1", u.port or 80, ws_path, deflate_path, origin_path, health_path, slow_limit)
    t0 = time.monotonic()
    cases: list[dict] = []
    error = None if _health(t) else f"GET {health_path} on {url} did not answer 200 before the suite"
    base_rss, base_fds = _rss_kib(pid), _fds(pid)
    peak_rss = base_rss
    todo = [a for a in ATTACKS if select_names is None or select_names(a.name)]
    for n, a in enumerate(([] if error else todo), 1):
        started = time.monotonic()
        with _Sampler(pid) as sampler:
            try:
                res: Outcome | None = a.run(t)
                skipped = None
            except Skip as exc:
                res, skipped = None, str(exc)
            except OSError as exc:
                res, skipped = Outcome(f"client error: {exc.__class__.__name__}: {exc}"), None
        alive = _health(t)
        growth = None if sampler.peak is None or sampler.before is None else sampler.peak - sampler.before
        if sampler.peak is not None and peak_rss is not None:
            peak_rss = max(peak_rss, sampler.peak)
        if res is None:
            passed = None
            got = f"skipped: {skipped}"
        else:
            got = res.got
            passed = (any(got.startswith(e) or (e.startswith("of ") and e in got) for e in a.expected)
                      and alive and (growth is None or growth < max_growth_mib * 1024))
        cases.append({"name": a.name, "category": a.category, "why": a.why, "expected": " | ".join(a.expected),
                      "got": got, "status": res.status if res else None,
                      "close_code": res.close_code if res else None, "passed": passed, "server_alive": alive,
                      "seconds": round(time.monotonic() - started, 2), "rss_peak_kib": sampler.peak,
                      "rss_growth_kib": growth, "fds_after": _fds(pid)})
        if progress:
            mem = f" peak RSS +{growth} KiB" if growth is not None else ""
            verdict = "skip" if passed is None else "ok  " if passed else "FAIL"
            print(f"[hostile] {n}/{len(todo)} {verdict} {a.name}: {got}{'' if alive else ' (server DOWN)'}{mem}",
                  file=out, flush=True)
        if not alive:
            error = f"the server stopped answering after {a.name}"
            break
    failed = sum(c["passed"] is False for c in cases)
    return {"suite": "hostile", "version": 1, "url": url, "pid": pid,
            "passed": error is None and failed == 0 and bool(cases), "error": error,
            "total": len(cases), "failed": failed, "skipped": sum(c["passed"] is None for c in cases),
            "wall_seconds": round(time.monotonic() - t0, 1), "baseline_rss_kib": base_rss, "peak_rss_kib": peak_rss,
            "final_rss_kib": _rss_kib(pid), "baseline_fds": base_fds, "final_fds": _fds(pid), "cases": cases}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m conformance hostile",
                                description="Hostile-input suite: attacks, outcomes, server memory.")
    p.add_argument("--url", required=True, help="http://HOST:PORT of the target (e.g. tests/apps/hardening_app.py)")
    p.add_argument("--pid", type=int, help="the server's pid: sample its RSS (/proc/PID/status) and fds")
    p.add_argument("--json-out", help="write the JSON result there")
    p.add_argument("--ws-path", default="/ws/echo")
    p.add_argument("--deflate-path", default="/ws/deflate")
    p.add_argument("--origin-path", default="/ws/origin")
    p.add_argument("--health-path", default="/hello")
    p.add_argument("--slow-limit", type=float, default=20.0,
                   help="seconds a slowloris connection may live (set above the server's request_timeout)")
    p.add_argument("--max-growth-mib", type=float, default=64.0)
    p.add_argument("-k", dest="only", help="run only attacks whose name contains this")
    a = p.parse_args(argv)
    res = run_suite(a.url, a.pid, ws_path=a.ws_path, deflate_path=a.deflate_path, origin_path=a.origin_path,
                    health_path=a.health_path, slow_limit=a.slow_limit, max_growth_mib=a.max_growth_mib,
                    select_names=(lambda n: a.only in n) if a.only else None, progress=True)
    if a.json_out:
        Path(a.json_out).write_text(json.dumps(res, indent=1) + "\n")
    print(f"[hostile] {res['total'] - res['failed'] - res['skipped']} ok, {res['failed']} failed, "
          f"{res['skipped']} skipped in {res['wall_seconds']}s; RSS {res['baseline_rss_kib']} -> peak "
          f"{res['peak_rss_kib']} -> {res['final_rss_kib']} KiB" + (f"; error: {res['error']}" if res["error"] else ""))
    return 0 if res["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
