"""Python fallback load generator with the ``fasterapi-loadgen`` CLI and JSON contract (subset).

Used only when the native generator is not built (development, tests): a Python client cannot
saturate a native server, so every result says ``"tool": "loadtest.pygen"`` and carries a note, and the
report labels it. Modes: ws-echo, ws-broadcast, sse, http (no --compress, no ws-rate).

    python -m loadtest.pygen ws-echo --url ws://127.0.0.1:9001/ --connections 100 --size 32 --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import struct
import sys
import time
from urllib.parse import urlsplit

from loadtest.histogram import Histogram


class Stats:
    def __init__(self) -> None:
        self.hist = Histogram()
        self.count = 0
        self.bytes = 0
        self.measuring = False
        self.errors = {"connect": 0, "closed": 0, "protocol": 0, "http_status": {}}
        self.timeline: list[int] = []
        self.window = 0

    def hit(self, latency_us: float | None, nbytes: int) -> None:
        if not self.measuring:
            return
        self.count += 1
        self.window += 1
        self.bytes += nbytes
        if latency_us is not None:
            self.hist.record(latency_us)


def _ws_frame(payload: bytes, binary: bool) -> bytes:
    # Client frames must be masked; the payload is constant per run so it is masked once per
    # connection with that connection's random key (a load tool, not a conforming client).
    key = os.urandom(4)
    n = len(payload)
    head = bytes([0x82 if binary else 0x81])
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    masked = bytes(b ^ key[i & 3] for i, b in enumerate(payload)) if n <= 4096 else _mask_big(payload, key)
    return head + key + masked


def _mask_big(payload: bytes, key: bytes) -> bytes:
    k = int.from_bytes((key * (len(payload) // 4 + 1))[: len(payload)], "big")
    return (int.from_bytes(payload, "big") ^ k).to_bytes(len(payload), "big")


class WSClient(asyncio.Protocol):
    """Minimal client: handshake, then parse unmasked server frames (payload not validated)."""

    def __init__(self, gen, path: str, host: str) -> None:
        self.gen, self.path, self.host = gen, path, host
        self.buf = bytearray()
        self.upgraded = asyncio.get_running_loop().create_future()
        self.transport = None
        self.sent: list[int] = []  # send timestamps (ns), FIFO: echo returns in order

    def connection_made(self, transport) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write((f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
                         f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())

    def connection_lost(self, exc) -> None:
        if not self.upgraded.done():
            self.upgraded.set_exception(ConnectionError("closed before upgrade"))
        elif not self.gen.stopping:
            self.gen.stats.errors["closed"] += 1

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if not self.upgraded.done():
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buf[:12])
            del buf[: end + 4]
            if b" 101" not in status:
                self.upgraded.set_exception(ConnectionError(status.decode("latin1")))
                return
            self.upgraded.set_result(True)
        while len(buf) >= 2:
            b1 = buf[1] & 0x7F
            pos = 2
            if b1 == 126:
                if len(buf) < 4:
                    return
                b1 = struct.unpack_from("!H", buf, 2)[0]
                pos = 4
            elif b1 == 127:
                if len(buf) < 10:
                    return
                b1 = struct.unpack_from("!Q", buf, 2)[0]
                pos = 10
            if len(buf) < pos + b1:
                return
            opcode = buf[0] & 0x0F
            payload = bytes(buf[pos: pos + b1]) if self.gen.want_payload else None
            del buf[: pos + b1]
            if opcode == 8:
                self.transport.close()
                return
            self.gen.on_message(self, payload, b1)


class Generator:
    def __init__(self, args) -> None:
        self.args = args
        self.stats = Stats()
        self.stopping = False
        self.want_payload = args.mode == "ws-broadcast"
        u = urlsplit(args.url)
        self.host, self.port = u.hostname, u.port or 80
        self.path = (u.path or "/") + (("?" + u.query) if u.query else "")
        self.frame = b""

    async def connect_ws(self) -> WSClient:
        loop = asyncio.get_running_loop()
        _, proto = await asyncio.wait_for(loop.create_connection(
            lambda: WSClient(self, self.path, f"{self.host}:{self.port}"), self.host, self.port),
            self.args.connect_timeout)
        await asyncio.wait_for(proto.upgraded, self.args.connect_timeout)
        return proto

    # ws-echo: closed loop, --inflight messages outstanding per connection
    def on_message(self, conn: WSClient, payload, n: int) -> None:
        now = time.perf_counter_ns()
        if self.args.mode == "ws-echo":
            sent = conn.sent.pop(0) if conn.sent else now
            self.stats.hit((now - sent) / 1000, n)
            if not self.stopping:
                conn.sent.append(time.perf_counter_ns())
                conn.transport.write(self.frame)
        else:  # ws-broadcast: latency from the monotonic timestamp at the start of the payload
            try:
                ts = int(payload.split(b" ", 1)[0])
                self.stats.hit((time.monotonic_ns() - ts) / 1000, n)
            except ValueError:
                self.stats.hit(None, n)

    async def run(self) -> dict:
        a = self.args
        conns = []
        for _ in range(a.connections):
            try:
                if a.mode in ("ws-echo", "ws-broadcast"):
                    conns.append(await self.connect_ws())
                else:
                    conns.append(None)
            except (OSError, asyncio.TimeoutError, ConnectionError):
                self.stats.errors["connect"] += 1
        tasks = []
        if a.mode == "ws-echo":
            self.frame = _ws_frame(b"x" * a.size, a.binary)
            for c in conns:
                for _ in range(a.inflight):
                    c.sent.append(time.perf_counter_ns())
                    c.transport.write(self.frame)
        elif a.mode == "ws-broadcast" and conns:
            tasks.append(asyncio.ensure_future(self.publish(conns[0])))
        elif a.mode == "http":
            tasks = [asyncio.ensure_future(self.http_conn()) for _ in range(a.connections)]
        elif a.mode == "sse":
            tasks = [asyncio.ensure_future(self.sse_conn()) for _ in range(a.connections)]
        await asyncio.sleep(a.warmup)
        self.stats.measuring = True
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        for _ in range(max(1, int(round(a.duration)))):
            await asyncio.sleep(1.0)
            self.stats.timeline.append(self.stats.window)
            self.stats.window = 0
        wall = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        self.stats.measuring = False
        self.stopping = True
        for t in tasks:
            t.cancel()
        for c in conns:
            if c is not None:
                c.transport.close()
        await asyncio.sleep(0)
        user, sys_ = r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime
        util = (user + sys_) / wall if wall else 0.0
        key = {"ws-echo": "messages", "ws-broadcast": "deliveries", "sse": "events", "http": "requests"}[a.mode]
        return {"tool": "loadtest.pygen", "mode": a.mode, "url": a.url,
                "config": {k: v for k, v in vars(a).items() if k not in ("mode", "url", "json_out")},
                "duration_s": wall, key: self.stats.count, "rate_per_s": self.stats.count / wall,
                "bytes_per_s": self.stats.bytes / wall, "errors": self.stats.errors,
                "latency_us": self.stats.hist.summary(), "histogram_us": self.stats.hist.compact(),
                "timeline": self.stats.timeline,
                "cpu": {"user_s": user, "sys_s": sys_, "utilization": util},
                "inconclusive": util >= 0.9,
                "notes": ["Python fallback generator (fasterapi-loadgen not found): client-bound, not a server limit"]}

    async def publish(self, conn: WSClient) -> None:
        interval = 1.0 / max(1, self.args.rate)
        pad = b"x" * max(0, self.args.size - 20)
        while True:
            conn.transport.write(_ws_frame(str(time.monotonic_ns()).encode() + b" " + pad, self.args.binary))
            await asyncio.sleep(interval)

    async def _http_open(self):
        return await asyncio.wait_for(asyncio.open_connection(self.host, self.port), self.args.connect_timeout)

    async def http_conn(self) -> None:
        try:
            reader, writer = await self._http_open()
        except (OSError, asyncio.TimeoutError):
            self.stats.errors["connect"] += 1
            return
        req = f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\n\r\n".encode() * self.args.pipeline
        try:
            while True:
                t0 = time.perf_counter_ns()
                writer.write(req)
                for _ in range(self.args.pipeline):
                    head = await reader.readuntil(b"\r\n\r\n")
                    status = head[9:12].decode()
                    length = 0
                    for line in head.split(b"\r\n"):
                        if line[:15].lower() == b"content-length:":
                            length = int(line[15:])
                    body = await reader.readexactly(length)
                    if status != "200" and self.stats.measuring:
                        hs = self.stats.errors["http_status"]
                        hs[status] = hs.get(status, 0) + 1
                    self.stats.hit((time.perf_counter_ns() - t0) / 1000, len(head) + len(body))
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            if not self.stopping:
                self.stats.errors["closed"] += 1
        finally:
            writer.close()

    async def sse_conn(self) -> None:
        try:
            reader, writer = await self._http_open()
        except (OSError, asyncio.TimeoutError):
            self.stats.errors["connect"] += 1
            return
        writer.write(f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nAccept: text/event-stream\r\n\r\n".encode())
        try:
            await reader.readuntil(b"\r\n\r\n")
            while True:
                line = await reader.readline()
                if line.startswith(b"data: "):
                    try:
                        ts = int(line[6:].split(b" ", 1)[0])
                        self.stats.hit((time.monotonic_ns() - ts) / 1000, len(line))
                    except ValueError:
                        self.stats.hit(None, len(line))
        except (OSError, asyncio.IncompleteReadError):
            if not self.stopping:
                self.stats.errors["closed"] += 1
        finally:
            writer.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="loadtest.pygen", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["ws-echo", "ws-broadcast", "sse", "http"])
    p.add_argument("--url", required=True)
    p.add_argument("--connections", type=int, default=100)
    p.add_argument("--inflight", type=int, default=1)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--binary", action="store_true")
    p.add_argument("--compress", action="store_true")
    p.add_argument("--rate", type=float, default=1000)
    p.add_argument("--pipeline", type=int, default=1)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--warmup", type=float, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--connect-timeout", type=float, default=5)
    p.add_argument("--json-out")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--progress", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.compress:
        print("loadtest.pygen: --compress is not supported by the fallback generator", file=sys.stderr)
        return 2
    try:
        import uvloop  # a faster client loop when installed
        uvloop.install()
    except ImportError:
        pass
    result = asyncio.run(Generator(args).run())
    text = json.dumps(result)
    if args.json_out:
        with open(args.json_out, "w") as f:
            f.write(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
