"""Memory caps are hard caps (issue 10, "Real-world client quirks" 3 and 5), against
tests/apps/main_app.py over raw sockets:

- a client that floods pings and never reads gets at most one pending pong (the latest
  ping's, RFC 6455 §5.5.3), not one per ping until max_send_buffer trips;
- a connection whose output is above send_high_water stops being read (TCP pushes back
  on the client) and resumes below send_low_water, for HTTP pipelining and WebSocket;
- a subscriber dropped under slow_policy="close" gets a close 1008 frame behind its
  backlog, not a bare TCP close.

Server memory is VmRSS of the server process (/proc/<pid>/status), sampled every 10 ms.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest

from conftest import RawWebSocket, ServerProcess, get_state, read_http_response

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>")
MiB = 1 << 20


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class PeakRSS:
    """Peak VmRSS of ``pid`` above its value at entry, sampled every 10 ms."""

    def __init__(self, pid: int) -> None:
        self.pid, self.base, self.peak = pid, rss(pid), rss(pid)
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            try:
                self.peak = max(self.peak, rss(self.pid))
            except (FileNotFoundError, AssertionError):
                return

    def __enter__(self) -> "PeakRSS":
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, rss(self.pid))

    @property
    def growth(self) -> int:
        return self.peak - self.base


def masked_frame(opcode: int, payload: bytes) -> bytes:
    # A zero mask: the payload goes out as is (the server still unmasks every byte).
    n = len(payload)
    if n < 126:
        return bytes([0x80 | opcode, 0x80 | n]) + b"\0\0\0\0" + payload
    if n < 65536:
        return bytes([0x80 | opcode, 0x80 | 126]) + struct.pack("!H", n) + b"\0\0\0\0" + payload
    return bytes([0x80 | opcode, 0x80 | 127]) + struct.pack("!Q", n) + b"\0\0\0\0" + payload


def flood(sock: socket.socket, data: bytes, total: int, stall: float = 3.0, unit: int = 1) -> tuple[int, str]:
    """Writes ``data`` repeatedly (``total`` bytes, rounded up to a whole ``unit``, e.g. one
    frame, so what follows is not read as the rest of a cut frame) without reading; stops when
    the server has not taken a byte for ``stall`` seconds. Returns (bytes sent, outcome)."""
    sock.setblocking(False)
    sent, last = 0, time.monotonic()
    try:
        while sent < total or sent % unit:
            try:
                end = len(data) if sent < total else sent % len(data) + (-sent) % unit
                sent += sock.send(data[sent % len(data):end])
                last = time.monotonic()
            except BlockingIOError:
                if time.monotonic() - last > stall:
                    return sent, "server stopped reading"
                select.select([], [sock], [], 0.1)
            except (BrokenPipeError, ConnectionResetError) as exc:
                return sent, f"connection closed ({type(exc).__name__})"
        return sent, "all sent"
    finally:
        sock.setblocking(True)
        sock.settimeout(10)


def test_ping_flood_without_reading_keeps_one_pong_and_bounded_memory(server: ServerProcess) -> None:
    ws = RawWebSocket(server.port, "/ws/echo", rcvbuf=4096)
    try:
        assert ws.status == 101
        pings_per_batch = 2000
        batch = b"".join(masked_frame(0x9, b"%08d" % i + b"p" * 117) for i in range(pings_per_batch))
        total = 96 * MiB  # past max_send_buffer (64 MiB) had one pong been queued per ping
        with PeakRSS(server.proc.pid) as mem:
            sent, outcome = flood(ws.sock, batch, total, unit=len(batch) // pings_per_batch)
            time.sleep(0.5)  # the server works through what is still in its socket buffer
        pings = sent // len(masked_frame(0x9, b"p" * 125))
        print(f"ping flood: {sent / MiB:.0f} MiB ({pings} pings), {outcome}; server RSS +{mem.growth / MiB:.1f} MiB")
        assert outcome == "all sent", outcome
        assert mem.growth < 16 * MiB, f"server RSS grew {mem.growth / MiB:.1f} MiB under a ping flood"
        # Now read: the pongs written before the output blocked, then only the latest
        # ping's pong; the connection still echoes.
        ws.send_frame(0x1, b"after-flood")
        pongs, last_pong, echoed = 0, None, False
        ws.sock.settimeout(5)  # generous: the server may still be draining 96 MiB of pings on a busy machine
        try:
            while True:
                op, _, payload = ws.recv_frame()
                if op == 0xA:
                    pongs, last_pong = pongs + 1, payload[:8]
                elif op == 0x1:
                    assert payload == b"after-flood"
                    echoed = True
                else:
                    pytest.fail(f"unexpected frame {op:#x} {payload[:40]!r}")
        except (TimeoutError, socket.timeout):
            pass
        assert echoed
        assert last_pong == b"%08d" % ((pings - 1) % pings_per_batch), "the latest ping was not answered last"
        assert pongs < pings // 10, f"{pongs} pongs for {pings} pings: pongs were queued per ping"
    finally:
        ws.close()


def test_pipelined_requests_from_a_client_that_does_not_read_stop_being_read(server: ServerProcess) -> None:
    count, size = 150, MiB  # 150 MiB of responses, over max_send_buffer (64 MiB)
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window from the start
        s.connect(("127.0.0.1", server.port))
        with PeakRSS(server.proc.pid) as mem:
            s.sendall(f"GET /big?n={size} HTTP/1.1\r\nHost: x\r\n\r\n".encode() * count)
            time.sleep(2)
        print(f"{count} pipelined 1 MiB responses unread: server RSS +{mem.growth / MiB:.1f} MiB")
        assert mem.growth < 24 * MiB, f"server RSS grew {mem.growth / MiB:.1f} MiB"
        # Nothing was lost or refused: every response arrives intact once the client reads.
        buf = bytearray()
        expected = bytes(range(256)) * (size // 256)
        for i in range(count):
            status, _, body = read_http_response(s, buf)
            assert status == 200 and body == expected, f"response {i}"


def test_websocket_that_does_not_read_its_echoes_stops_being_read(server: ServerProcess) -> None:
    ws = RawWebSocket(server.port, "/ws/echo", rcvbuf=4096)
    try:
        assert ws.status == 101
        msg = masked_frame(0x2, os.urandom(64 << 10))
        with PeakRSS(server.proc.pid) as mem:
            sent, outcome = flood(ws.sock, msg, 256 * MiB)
        print(f"unread echoes: server took {sent / MiB:.1f} MiB then {outcome}; RSS +{mem.growth / MiB:.1f} MiB")
        assert outcome == "server stopped reading", outcome
        assert sent < 32 * MiB and mem.growth < 32 * MiB
        # Reading resumes the flow: every message taken comes back, then the connection still works.
        ws.sock.settimeout(10)
        for i in range(sent // len(msg)):
            op, _, payload = ws.recv_frame()
            assert op == 0x2 and len(payload) == 64 << 10, f"echo {i}"
    finally:
        ws.close()


def test_slow_subscriber_close_policy_sends_close_1008(server: ServerProcess) -> None:
    topic, key = "mc-" + uuid.uuid4().hex[:8], uuid.uuid4().hex
    slow = RawWebSocket(server.port, f"/ws/slow-close/{topic}?key={key}", rcvbuf=4096)
    try:
        assert slow.status == 101 and slow.recv_frame()[2] == b"subscribed"
        with httpx.Client(base_url=server.url, timeout=10) as c:
            for i in range(200):  # 16 KiB each: the 64 KiB backlog is passed after a few
                if c.post(f"/publish/{topic}", content="x" * (16 << 10)).json()["delivered"] == 0:
                    break
            else:
                pytest.fail("the slow subscriber was never dropped")
            assert c.get(f"/subscribers/{topic}").json()["subscribers"] == 0
        # The backlog, then the close frame (read within close_timeout, 3 s).
        assert slow.recv_close() == (1008, "subscriber too slow")
        assert get_state(server, key)["code"] == 1008
    finally:
        slow.close()


def test_slow_reader_gets_a_whole_response_that_outlasts_keepalive_timeout(server: ServerProcess) -> None:
    # keepalive_timeout is 5 s: it counts from the last progress of the output, not from
    # the moment the response was queued (a slow download is not an idle connection).
    n = 24 * MiB  # more than the kernel's send buffer still unsent when 5 s have passed
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        s.connect(("127.0.0.1", server.port))
        s.sendall(f"GET /big?n={n} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        s.settimeout(10)
        buf = bytearray()
        t0 = time.monotonic()
        while b"\r\n\r\n" not in buf or len(buf) - buf.index(b"\r\n\r\n") - 4 < n:
            chunk = s.recv(64 << 10)
            if not chunk:
                break
            buf += chunk
            time.sleep(0.02)  # at most ~3 MiB/s: 24 MiB take longer than 5 s
        took = time.monotonic() - t0
        body = bytes(buf[buf.index(b"\r\n\r\n") + 4:])
        assert body == bytes(range(256)) * (n // 256), f"got {len(body)} of {n} bytes in {took:.1f}s"
        assert took > 5, "the read was not slower than keepalive_timeout: the test proves nothing"
