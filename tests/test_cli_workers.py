"""`python -m fasterapi run module:app`: single worker, --workers 2 (SO_REUSEPORT), SIGTERM/SIGINT shutdown."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
import threading
import time

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


# --- supervision: the parent restarts a worker that dies ------------------------------------

def worker_pids(parent: int) -> set[int]:
    try:
        with open(f"/proc/{parent}/task/{parent}/children") as f:
            return {int(p) for p in f.read().split()}
    except FileNotFoundError:
        return set()


def wait_for(cond, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout:.0f}s")
        time.sleep(0.05)


class RequestLoop:
    """Requests /pid over a new connection each time, from a thread, until stopped."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.ok: list[tuple[float, int]] = []  # (monotonic time, answering pid)
        self.failed: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.ok.append((time.monotonic(), pid_over_new_connection(self.port)))
            except (OSError, ConnectionError, AssertionError) as exc:
                self.failed.append((time.monotonic(), repr(exc)))
                time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(15)


def test_killed_worker_is_restarted_under_load_and_serves_again(spawn: Spawner) -> None:
    port = free_port()
    srv = spawn.start(["-m", "fasterapi", "run", APP, "--port", str(port), "--workers", "2"], ready_lines=2)
    first = wait_for(lambda: (p if len(p := worker_pids(srv.proc.pid)) == 2 else None), what="2 workers")
    load = RequestLoop(port)
    try:
        wait_for(lambda: len(load.ok) >= 20, what="20 requests before the kill")
        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        assert srv.wait_for_output(rf"worker \d \(pid {victim}\) was killed by SIGKILL; restarting it in", 15), \
            srv.output()
        assert srv.wait_for_output(r"worker \d restarted as pid \d+", 15), srv.output()
        new = int(re.search(r"restarted as pid (\d+)", srv.output()).group(1))
        assert new not in first
        assert worker_pids(srv.proc.pid) == (first - {victim}) | {new}
        # The new worker takes new connections, and the survivor kept serving meanwhile.
        wait_for(lambda: any(pid == new for _, pid in load.ok), what=f"an answer from the new worker {new}")
        survivor = (first - {victim}).pop()
        assert any(pid == survivor and t > killed_at for t, pid in load.ok)
    finally:
        load.stop()
    after = [t for t, _ in load.ok if t > killed_at]
    print(f"requests: {len(load.ok)} ok ({len(after)} after the kill), {len(load.failed)} failed")
    assert len(after) >= 20, f"only {len(after)} requests succeeded after the kill"
    # Only connections the dying worker had accepted (or had queued) may fail.
    assert len(load.failed) <= 10, load.failed
    assert not [f for t, f in load.failed if t > killed_at + 5], load.failed
    # SIGTERM still drains every worker (the restarted one included) and exits 0.
    assert srv.stop() == 0
    assert all(not os.path.exists(f"/proc/{p}") or open(f"/proc/{p}/stat").read().split()[2] == "Z"
               for p in (first | {new}))


def test_restart_budget_exhausted_stops_everything_with_status_1(spawn: Spawner) -> None:
    port = free_port()
    srv = spawn.start(["-m", "fasterapi", "run", APP, "--port", str(port), "--workers", "2",
                       "--max-restarts-per-minute", "1"], ready_lines=2)
    first = wait_for(lambda: (p if len(p := worker_pids(srv.proc.pid)) == 2 else None), what="2 workers")
    victim = min(first)
    os.kill(victim, signal.SIGKILL)
    assert srv.wait_for_output(r"restarted as pid \d+", 15), srv.output()
    new = int(re.search(r"restarted as pid (\d+)", srv.output()).group(1))
    wait_for(lambda: len(srv.listening_ports()) >= 3, what="the restarted worker listening")
    os.kill(new, signal.SIGKILL)  # the second death within a minute: over budget
    assert srv.wait() == 1
    assert re.search(r"1 restarts within the last 60 s is the limit", srv.output()), srv.output()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_worker_failing_at_startup_is_not_restarted(spawn: Spawner) -> None:
    (spawn.cwd / "startup_fails.py").write_text(
        "from fasterapi import App\napp = App()\n\n@app.on_startup\ndef connect():\n"
        "    raise RuntimeError('cannot reach the database')\n")
    port = free_port()
    sp = ServerProcess([sys.executable, "-m", "fasterapi", "run", "startup_fails:app", "--port", str(port),
                        "--workers", "2"], spawn.cwd)
    spawn.procs.append(sp)
    assert sp.wait(30) == 1
    out = sp.output()
    assert "cannot reach the database" in out
    assert "before it started listening; stopping" in out
    assert "restarted as pid" not in out


def test_workers_stop_when_the_parent_is_killed(spawn: Spawner) -> None:
    port = free_port()
    srv = spawn.start(["-m", "fasterapi", "run", APP, "--port", str(port), "--workers", "2"], ready_lines=2)
    workers = wait_for(lambda: (p if len(p := worker_pids(srv.proc.pid)) == 2 else None), what="2 workers")
    os.kill(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait(10)

    def gone() -> bool:
        # Orphans are re-parented and reaped by init (or linger as zombies until then).
        for p in workers:
            try:
                with open(f"/proc/{p}/stat") as f:
                    if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                        return False
            except FileNotFoundError:
                pass
        return True

    wait_for(gone, 15, "the workers exiting after their parent died")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
