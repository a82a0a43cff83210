"""Shared fixtures for the integration tests: real servers in subprocesses, on port 0.

A server runs as its own process (``python tests/apps/x.py --port 0``, an example,
or ``python -m fasterapi run ...``), so a native crash fails the test that caused it
instead of taking pytest down, and signals (SIGTERM -> exit 0, close 1001) can be
tested for real. The bound port is read from the "FasterAPI listening on http(s)://H:P" log
line that App.serve() writes once the socket listens; stderr is drained by a thread
(so a chatty server never blocks on a full pipe) and kept for assertions.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

REPO = Path(__file__).resolve().parent.parent
APPS = Path(__file__).resolve().parent / "apps"
EXAMPLES = REPO / "examples"
_LISTENING = re.compile(r"FasterAPI listening on (\S+):(\d+)")


def _have_native_server() -> bool:
    try:
        from fasterapi import _core
    except ImportError:
        return False
    return hasattr(_core, "Server")


def _package_root() -> Path:
    """Where the fasterapi this pytest imports lives (build/<dev>/py or site-packages)."""
    import fasterapi

    # Not resolve(): build/<dev>/py/fasterapi holds symlinks to the sources beside the built _core.
    return Path(os.path.abspath(fasterapi.__file__)).parent.parent


def subprocess_env() -> dict[str, str]:
    """The same fasterapi as this pytest first, then the repo (for ``tests.apps``).
    Subprocesses run from a temporary cwd so ./fasterapi (no fresh _core) never shadows it."""
    env = dict(os.environ)
    parts = [str(_package_root()), str(REPO)]
    if env.get("PYTHONPATH"):
        parts.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONWARNINGS", None)
    return env


def free_port() -> int:
    """A port free right now (only for --workers N, which cannot use port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """A server subprocess; ``port`` is known once ``wait_ready()`` returned."""

    def __init__(self, argv: list[str], cwd: Path, ready_lines: int = 1) -> None:
        self.argv = argv
        self.proc = subprocess.Popen(argv, cwd=cwd, env=subprocess_env(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        self.lines: list[str] = []
        self.port: int | None = None
        self._ready_lines = ready_lines
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout:
            for line in self.proc.stdout:
                with self._cond:
                    self.lines.append(line.rstrip("\n"))
                    self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def output(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def listening_ports(self) -> list[int]:
        with self._cond:
            return [int(m.group(2)) for line in self.lines if (m := _LISTENING.search(line))]

    def wait_ready(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                ports = [int(m.group(2)) for line in self.lines if (m := _LISTENING.search(line))]
                if len(ports) >= self._ready_lines:
                    self.port = ports[0]
                    return self.port
                if self.proc.poll() is not None and not self._reader.is_alive():
                    raise RuntimeError(f"server exited with {self.proc.returncode} before listening:\n"
                                       + "\n".join(self.lines[-40:]))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError("server did not report 'FasterAPI listening on' within "
                                       f"{timeout:.0f}s:\n" + "\n".join(self.lines[-40:]))
                self._cond.wait(min(left, 0.2))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def wait_for_output(self, pattern: str, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        with self._cond:
            while not any(rx.search(line) for line in self.lines):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.2))
            return True

    def signal(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float = 20.0) -> int:
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"server did not exit within {timeout:.0f}s:\n{self.output()[-4000:]}") from None
        self._reader.join(5)
        return rc

    def stop(self, timeout: float = 20.0) -> int:
        self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the group: --workers children too
            except ProcessLookupError:
                pass
            self.proc.wait(10)


@pytest.fixture(scope="session")
def native_server() -> None:
    if not _have_native_server():
        pytest.skip("fasterapi._core has no Server yet (the native server is not built into this module)")


@pytest.fixture(scope="session")
def server_cwd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server-cwd")


class Spawner:
    """Starts servers and makes sure each one is gone at teardown."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.procs: list[ServerProcess] = []

    def start(self, argv: list[str], ready_lines: int = 1, timeout: float = 30.0) -> ServerProcess:
        sp = ServerProcess([sys.executable, *argv], self.cwd, ready_lines)
        self.procs.append(sp)
        try:
            sp.wait_ready(timeout)
        except BaseException:
            sp.kill()
            raise
        return sp

    def app(self, name: str, *args: str) -> ServerProcess:
        """``tests/apps/<name>.py --port 0 [args]``."""
        return self.start([str(APPS / f"{name}.py"), "--port", "0", *args])

    def example(self, name: str, *args: str) -> ServerProcess:
        """``examples/<name>.py --host 127.0.0.1 --port 0 [args]``."""
        return self.start([str(EXAMPLES / f"{name}.py"), "--host", "127.0.0.1", "--port", "0", *args])

    def close(self) -> list[str]:
        """Stops every server still running; returns the problems (non-zero exit) found."""
        problems = []
        for sp in self.procs:
            if sp.proc.poll() is None:
                try:
                    rc = sp.stop()
                except AssertionError as exc:
                    problems.append(str(exc))
                    continue
                if rc != 0:
                    problems.append(f"{' '.join(sp.argv)} exited with {rc} on SIGTERM:\n{sp.output()[-3000:]}")
        return problems


@contextlib.contextmanager
def spawner_in(cwd: Path) -> Iterator[Spawner]:
    """A Spawner whose servers are stopped at the end; one that exits non-zero fails the test."""
    s = Spawner(cwd)
    yield s
    problems = s.close()
    if problems:
        pytest.fail("\n\n".join(problems))


@pytest.fixture
def spawn(native_server: None, server_cwd: Path) -> Iterator[Spawner]:
    with spawner_in(server_cwd) as s:
        yield s


@pytest.fixture(scope="module")
def module_spawn(native_server: None, server_cwd: Path) -> Iterator[Spawner]:
    with spawner_in(server_cwd) as s:
        yield s


@pytest.fixture(scope="module")
def server(module_spawn: Spawner) -> ServerProcess:
    """tests/apps/main_app.py, shared by a test module."""
    return module_spawn.app("main_app")


def get_state(srv: ServerProcess, key: str, timeout: float = 10.0) -> Any:
    """What a handler recorded under ``key`` (GET /_state/{key}); waits until it exists."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(f"{srv.url}/_state/{key}", timeout=10)
        if r.status_code == 200:
            return r.json()["value"]
        assert r.status_code == 404, r.text
        if time.monotonic() > deadline:
            raise AssertionError(f"handler state {key!r} was never recorded within {timeout:.0f}s")
        time.sleep(0.05)


# --- raw sockets: for what well-behaved clients refuse to send -------------------------

def read_http_response(sock: socket.socket, buf: bytearray, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response (Content-Length framed, or none) from ``sock``; ``buf`` keeps leftovers."""
    sock.settimeout(timeout)
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before a full response head: {bytes(buf)!r}")
        buf += chunk
    head, _, _ = bytes(buf).partition(b"\r\n\r\n")
    del buf[: len(head) + 4]
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(buf) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed inside a response body")
        buf += chunk
    body = bytes(buf[:n])
    del buf[:n]
    return status, headers, body


class RawWebSocket:
    """A minimal client over a plain socket: handshake, masked frames out, frames in."""

    def __init__(self, port: int, path: str, rcvbuf: int | None = None, extra_headers: str = "") -> None:
        self.sock = socket.socket()
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                           f"{extra_headers}\r\n").encode())
        self.buf = bytearray()
        self.status, self.headers, _ = read_http_response(self.sock, self.buf)

    def send_frame(self, opcode: int, payload: bytes, fin: bool = True) -> None:
        mask = os.urandom(4)
        n = len(payload)
        head = bytes([(0x80 if fin else 0) | opcode])
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(head + mask + masked)

    def _need(self, n: int) -> None:
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise ConnectionError("connection closed inside a frame")
            self.buf += chunk

    def recv_frame(self) -> tuple[int, bool, bytes]:
        """(opcode, fin, payload) of the next server frame (server frames are unmasked)."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        assert not b1 & 0x80, "server frames must not be masked"
        n, off = b1 & 0x7F, 2
        if n == 126:
            self._need(4)
            n, off = struct.unpack("!H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
        self._need(off + n)
        payload = bytes(self.buf[off: off + n])
        del self.buf[: off + n]
        return b0 & 0x0F, bool(b0 & 0x80), payload

    def recv_close(self) -> tuple[int, str]:
        """Skips data frames until a close frame; returns its code and reason."""
        while True:
            op, _, payload = self.recv_frame()
            if op == 0x8:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                return code, payload[2:].decode()

    def close(self) -> None:
        self.sock.close()


def decode_json(body: bytes) -> Any:
    return json.loads(body.decode())


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Any]:
    """A private redis-server for one test (``.url``, ``.stop()``, ``.restart()``, ``.freeze()``)."""
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed (make deps installs it)")
    pytest.importorskip("redis")
    from redis_fixture import RedisServer

    rs = RedisServer(tmp_path)
    rs.start()
    try:
        yield rs
    finally:
        rs.stop()


@pytest.fixture
def redis_aof(tmp_path: Path) -> Iterator[Any]:
    """Like redis_server, with AOF on and ``appendfsync always`` (a restart keeps every write)."""
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed (make deps installs it)")
    pytest.importorskip("redis")
    from redis_fixture import RedisServer

    rs = RedisServer(tmp_path, appendonly=True)
    rs.start()
    try:
        yield rs
    finally:
        rs.stop()
