"""`python -m fasterapi run module:app`: single worker, --workers 2 (SO_REUSEPORT), SIGTERM/SIGINT shutdown."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from conftest import ServerProcess, Spawner, free_port, read_http_response

APP = "tests.apps.main_app:app"


def pid_over_new_connection(port: int) -> int:
    # A fresh TCP connection each time, so SO_REUSEPORT may pick another worker.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"GET /pid HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        status, _, body = read_http_response(s, bytearray())
        assert status == 200
        return json.loads(body)["pid"]


def test_cli_run_single_worker(spawn: Spawner) -> None:
    srv = spawn.start(["-m", "fasterapi", "run", APP, "--host", "127.0.0.1", "--port", "0"])
    r = httpx.get(srv.url + "/items/5", timeout=10)
    assert r.json() == {"id": 5, "type": "int"}
    assert pid_over_new_connection(srv.port) == srv.proc.pid
    assert srv.stop() == 0


def test_cli_rejects_bad_app_spec(spawn: Spawner) -> None:
    import subprocess
    import sys

    from conftest import subprocess_env

    for spec, msg in [("nocolon", "module:app"), ("tests.apps.main_app:nothing", "no attribute"),
                      ("tests.apps.main_app:STATE", "not a fasterapi.App")]:
        p = subprocess.run([sys.executable, "-m", "fasterapi", "run", spec, "--port", "0"], cwd=spawn.cwd,
                           env=subprocess_env(), capture_output=True, text=True, timeout=60)
        assert p.returncode != 0
        assert msg in p.stderr, p.stderr


def test_cli_workers_share_the_port(spawn: Spawner) -> None:
    port = free_port()
    srv = spawn.start(["-m", "fasterapi", "run", APP, "--port", str(port), "--workers", "2"], ready_lines=2)
    pids: set[int] = set()
    for _ in range(200):
        pids.add(pid_over_new_connection(port))
        if len(pids) == 2:
            break
    assert len(pids) == 2, f"only worker(s) {pids} answered 200 new connections"
    assert srv.proc.pid not in pids  # the parent only supervises
    assert srv.stop() == 0


async def _ws_client_sees_1001_on_sigterm(srv: ServerProcess, sig: int, path: str = "/ws/echo") -> None:
    async with connect(srv.ws_url + path) as ws:
        if path == "/ws/callback":
            assert await ws.recv() == "welcome"
        await ws.send("before shutdown")
        assert await ws.recv() == "before shutdown"
        srv.signal(sig)
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 15)
        assert info.value.rcvd is not None, "the connection dropped without a close frame"
        assert info.value.rcvd.code == 1001


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_closes_websockets_1001_and_exits_0(spawn: Spawner, sig: int) -> None:
    srv = spawn.start(["-m", "fasterapi", "run", APP, "--port", "0"])
    asyncio.run(_ws_client_sees_1001_on_sigterm(srv, sig))
    assert srv.wait() == 0


def test_sigterm_with_workers_exits_0_and_closes_1001(spawn: Spawner) -> None:
    port = free_port()
    srv = spawn.start(["-m", "fasterapi", "run", APP, "--port", str(port), "--workers", "2"], ready_lines=2)
    asyncio.run(_ws_client_sees_1001_on_sigterm(srv, signal.SIGTERM))
    assert srv.wait() == 0


def test_sigterm_ends_sse_streams_and_stops_listening(spawn: Spawner) -> None:
    srv = spawn.start(["-m", "fasterapi", "run", APP, "--port", "0"])
    with httpx.Client(base_url=srv.url, timeout=15) as c:
        with c.stream("GET", "/sse/forever") as r:
            it = r.iter_lines()
            assert any(line == "data: 1" for line in it)  # streaming
            srv.signal(signal.SIGTERM)
            rest = list(it)  # must end (not hang until the client timeout)
            assert rest is not None
    assert srv.wait() == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=5).close()


def test_sse_client_resumes_on_the_other_worker_after_sigterm(spawn: Spawner) -> None:
    """One of two workers is stopped mid-stream: its SSE stream ends cleanly with every
    yielded event delivered, and a reconnect with Last-Event-ID continues on the other
    worker with no gap and no duplicate."""
    port = free_port()
    srv = spawn.start(["-m", "fasterapi", "run", APP, "--port", str(port), "--workers", "2"], ready_lines=2)
    seen: list[int] = []
    pids: list[int] = []
    last: str | None = None  # like EventSource: set when an event is complete, not at its id line
    pending: str | None = None
    stopped: int | None = None
    with httpx.Client(timeout=15) as c:
        for _ in range(20):  # reconnects, like EventSource; bounded
            headers = {"Last-Event-ID": last} if last else {}
            try:
                with c.stream("GET", f"http://127.0.0.1:{port}/sse/numbered", headers=headers) as r:
                    assert r.status_code == 200
                    for line in r.iter_lines():
                        m = re.fullmatch(r": ?pid (\d+)", line)
                        if m:
                            pids.append(int(m.group(1)))
                        elif line.startswith("id: "):
                            pending = line[4:]
                        elif line.startswith("data: "):
                            seen.append(int(line[6:]))
                            last = pending
                            if stopped is None and len(seen) == 5:
                                stopped = pids[-1]
                                os.kill(stopped, signal.SIGTERM)
                            if stopped is not None and pids[-1] != stopped and len(seen) >= 15:
                                break
            except httpx.TransportError:
                # The pooled keep-alive connection may be the one the stopping worker is
                # closing; EventSource retries too, after the last complete event.
                continue
            if stopped is not None and pids[-1] != stopped and len(seen) >= 15:
                break
    assert stopped is not None and pids[-1] != stopped, f"never resumed on another worker: pids {pids}"
    assert seen == list(range(1, len(seen) + 1)), f"gap or duplicate across the switch: {seen}"
    assert srv.stop() == 0


def test_sigterm_finishes_in_flight_http_response(spawn: Spawner) -> None:
    srv = spawn.start(["-m", "fasterapi", "run", APP, "--port", "0"])
    with socket.create_connection(("127.0.0.1", srv.port), timeout=15) as s:
        s.sendall(b"GET /slow?d=1.0 HTTP/1.1\r\nHost: x\r\n\r\n")
        # Make sure the request is being handled before the signal.
        assert httpx.get(srv.url + "/hello", timeout=10).text == "hello"
        srv.signal(signal.SIGTERM)
        status, _, body = read_http_response(s, bytearray(), timeout=15)
        assert (status, body) == (200, b"slow")
    assert srv.wait() == 0


def test_sigterm_flushes_queued_websocket_data_before_1001(spawn: Spawner) -> None:
    from conftest import RawWebSocket

    srv = spawn.start(["-m", "fasterapi", "run", APP, "--port", "0"])
    raw = RawWebSocket(srv.port, "/ws/echo", rcvbuf=32 << 10)
    try:
        assert raw.status == 101
        big = bytes(range(256)) * (16 << 10)  # 4 MiB: the echo waits in the server's send buffer
        raw.send_frame(0x2, big)
        raw._need(1024)  # the echo has started, so all of it is queued natively
        srv.signal(signal.SIGTERM)
        opcode, fin, payload = raw.recv_frame()
        assert (opcode, fin, len(payload)) == (0x2, True, len(big))
        assert payload == big
        assert raw.recv_close()[0] == 1001
    finally:
        raw.close()
    assert srv.wait() == 0


def test_sigterm_closes_callback_handler_websockets_1001(spawn: Spawner) -> None:
    srv = spawn.start(["-m", "fasterapi", "run", APP, "--port", "0"])
    asyncio.run(_ws_client_sees_1001_on_sigterm(srv, signal.SIGTERM, "/ws/callback"))
    assert srv.wait() == 0
