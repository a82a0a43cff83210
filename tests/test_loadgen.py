"""fasterapi-loadgen against small local servers (websockets, raw asyncio HTTP/SSE).

Each server runs on its own asyncio loop in a background thread; the generator
runs as a subprocess (the CLI) or through fasterapi._core.loadgen.run (which must
release the GIL, or the in-process servers would starve and count nothing).
"""

from __future__ import annotations

import asyncio
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import websockets
from websockets.asyncio.server import broadcast, serve

REPO = Path(__file__).resolve().parent.parent


def find_loadgen() -> str:
    env = os.environ.get("FASTERAPI_LOADGEN")
    if env:
        return env
    found = shutil.which("fasterapi-loadgen")
    if found:
        return found
    beside = Path(sys.executable).parent / "fasterapi-loadgen"
    if beside.exists():
        return str(beside)
    # Developer builds (make dev DEV=name): the newest one.
    builds = sorted(glob.glob(str(REPO / "build" / "*" / "fasterapi-loadgen")), key=os.path.getmtime)
    if builds:
        return builds[-1]
    pytest.fail("fasterapi-loadgen not found (PATH, next to sys.executable, build/*/, or $FASTERAPI_LOADGEN)")


class ServerThread:
    """Runs `start(loop) -> (server, port)` on a private event loop in a thread."""

    def __init__(self, start):
        self._start = start
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0
        self.stats: dict[str, int] = {}

    def _run(self):
        asyncio.set_event_loop(self.loop)

        async def boot():
            self.server, self.port = await self._start(self)
            self._ready.set()

        self.loop.run_until_complete(boot())
        self.loop.run_forever()
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    def __enter__(self):
        self._thread.start()
        assert self._ready.wait(10), "server did not start"
        return self

    def __exit__(self, *exc):
        async def stop():
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        for task in asyncio.all_tasks(self.loop):
            self.loop.call_soon_threadsafe(task.cancel)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


# ---- servers -----------------------------------------------------------------------


def ws_echo_server(compression=None, ssl=None):
    async def echo(ws):
        try:
            async for message in ws:
                await ws.send(message)
        except websockets.ConnectionClosed:
            pass

    async def start(st):
        server = await serve(echo, "127.0.0.1", 0, compression=compression, max_size=None, ssl=ssl)
        return server, server.sockets[0].getsockname()[1]

    return ServerThread(start)


def ws_broadcast_server():
    clients: set = set()

    async def relay(ws):
        clients.add(ws)
        try:
            async for message in ws:
                broadcast(clients, message)
        except websockets.ConnectionClosed:
            pass
        finally:
            clients.discard(ws)

    async def start(st):
        server = await serve(relay, "127.0.0.1", 0, compression=None)
        return server, server.sockets[0].getsockname()[1]

    return ServerThread(start)


def http_server(mode="length"):
    """Answers every request (pipelined or not) with Hello, World!.

    mode: "length" (Content-Length), "chunked", "close" (Connection: close after each),
    "404" (status 404 with a body).
    """
    body = b"Hello, World!"
    if mode == "chunked":
        response = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nHello\r\n8\r\n, World!\r\n0\r\nX-T: 1\r\n\r\n"
    elif mode == "close":
        response = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\n" + body
    elif mode == "404":
        response = b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found"
    else:
        response = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\n" + body

    class Proto(asyncio.Protocol):
        def connection_made(self, transport):
            self.t = transport
            self.buf = b""

        def data_received(self, data):
            self.buf += data
            n = self.buf.count(b"\r\n\r\n")
            if not n:
                return
            self.buf = self.buf[self.buf.rfind(b"\r\n\r\n") + 4 :]
            if mode == "close":
                self.t.write(response)
                self.t.close()
            else:
                self.t.write(response * n)

    async def start(st):
        server = await asyncio.get_running_loop().create_server(Proto, "127.0.0.1", 0)
        return server, server.sockets[0].getsockname()[1]

    return ServerThread(start)


def sse_server(chunked=True, interval=0.005, timestamps=True):
    """Streams `data: <monotonic ns> tick` events to every subscriber."""

    async def handle(reader, writer):
        try:
            await reader.readuntil(b"\r\n\r\n")
            head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            head += b"Transfer-Encoding: chunked\r\n\r\n" if chunked else b"Connection: close\r\n\r\n"
            writer.write(head)
            n = 0
            while True:
                n += 1
                data = f"{time.monotonic_ns()} tick" if timestamps else f"tick {n}"
                event = f": comment\nid: {n}\nevent: tick\ndata: {data}\ndata: second line\n\n".encode()
                writer.write(b"%x\r\n%s\r\n" % (len(event), event) if chunked else event)
                await writer.drain()
                await asyncio.sleep(interval)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def start(st):
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        return server, server.sockets[0].getsockname()[1]

    return ServerThread(start)


# ---- helpers -------------------------------------------------------------------------

TOP_KEYS = {
    "tool", "mode", "url", "config", "duration_s", "rate_per_s", "bytes_per_s", "errors",
    "latency_us", "histogram_us", "timeline", "cpu", "inconclusive", "notes",
}
COUNT_KEY = {"ws-echo": "messages", "ws-rate": "messages", "ws-broadcast": "deliveries", "sse": "events",
             "http": "requests", "connect": "connections"}


def run_cli(mode, url, *extra, duration=1.5, check=True):
    cmd = [find_loadgen(), mode, "--url", url, "--duration", str(duration), "--warmup", "0.3", "--quiet", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if not check:
        return proc
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    check_schema(doc, mode)
    return doc


def check_schema(doc, mode):
    assert TOP_KEYS <= doc.keys(), TOP_KEYS - doc.keys()
    assert doc["tool"] == "fasterapi-loadgen"
    assert doc["mode"] == mode
    count = doc[COUNT_KEY[mode]]
    assert isinstance(count, int)
    if doc["duration_s"] > 0:
        assert doc["rate_per_s"] == pytest.approx(count / doc["duration_s"], rel=1e-3)
    else:  # nothing was measured
        assert count == 0 and doc["rate_per_s"] == 0
    assert set(doc["errors"]) == {"connect", "closed", "protocol", "http_status"}
    lat = doc["latency_us"]
    assert set(lat) == {"count", "min", "mean", "p50", "p90", "p99", "p999", "max"}
    if lat["count"]:
        assert 0 <= lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"]
        assert lat["min"] <= lat["mean"] <= lat["max"]
    hist = doc["histogram_us"]
    assert sum(n for _, n in hist) == lat["count"]
    bounds = [b for b, _ in hist]
    assert bounds == sorted(bounds) and all(n > 0 for _, n in hist)
    assert len(doc["timeline"]) == int(-(-doc["config"]["duration"] // 1))
    assert sum(doc["timeline"]) == count
    cpu = doc["cpu"]
    assert cpu["user_s"] >= 0 and cpu["sys_s"] >= 0 and cpu["utilization"] >= 0
    assert doc["inconclusive"] == (cpu["utilization"] >= 0.9)
    assert isinstance(doc["notes"], list)


def no_errors(doc):
    e = doc["errors"]
    assert (e["connect"], e["closed"], e["protocol"], e["http_status"]) == (0, 0, 0, {}), (e, doc["notes"])


# ---- WebSocket -----------------------------------------------------------------------------


def test_ws_echo_closed_loop():
    with ws_echo_server() as srv:
        doc = run_cli("ws-echo", f"ws://127.0.0.1:{srv.port}/", "--connections", "10", "--inflight", "2")
    no_errors(doc)
    assert doc["connected"] == 10
    assert doc["messages"] > 100
    assert doc["latency_us"]["count"] == doc["messages"]
    assert doc["latency_us"]["p50"] > 0
    assert doc["config"]["inflight"] == 2 and doc["config"]["size"] == 32
    # Closed loop: we never get more replies than we sent, and never many fewer.
    assert doc["sent"] >= doc["messages"] - 10 * 2
    assert doc["bytes_per_s"] == pytest.approx(doc["rate_per_s"] * 32, rel=1e-3)


def test_ws_echo_binary_large_messages_and_threads():
    with ws_echo_server() as srv:
        doc = run_cli("ws-echo", f"ws://127.0.0.1:{srv.port}/x", "--connections", "4", "--size", "70000",
                      "--binary", "--threads", "2")
    no_errors(doc)
    assert doc["messages"] > 10
    assert doc["config"]["binary"] is True and doc["config"]["threads"] == 2
    assert len(doc["cpu"]["per_thread"]) == 2
    assert doc["bytes_per_s"] == pytest.approx(doc["rate_per_s"] * 70000, rel=1e-3)


def test_ws_echo_permessage_deflate():
    with ws_echo_server(compression="deflate") as srv:
        doc = run_cli("ws-echo", f"ws://127.0.0.1:{srv.port}/", "--connections", "5", "--compress",
                      "--size", "2000")
    no_errors(doc)
    assert doc["negotiated"].startswith("permessage-deflate")
    assert doc["messages"] > 50
    # Text-like payload compresses: fewer bytes on the wire than payload bytes.
    assert doc["wire_rx_bytes_per_s"] < doc["bytes_per_s"]


def test_ws_echo_compress_declined_by_server_still_runs():
    with ws_echo_server(compression=None) as srv:
        doc = run_cli("ws-echo", f"ws://127.0.0.1:{srv.port}/", "--compress")
    no_errors(doc)
    assert doc["messages"] > 10
    assert any("declined permessage-deflate" in n for n in doc["notes"])


def ws_corrupting_echo_server():
    """Echoes every message with its last character changed: same length, different payload."""

    async def echo(ws):
        try:
            async for message in ws:
                await ws.send(message[:-1] + ("!" if isinstance(message, str) else b"!"))
        except websockets.ConnectionClosed:
            pass

    async def start(st):
        server = await serve(echo, "127.0.0.1", 0, compression=None)
        return server, server.sockets[0].getsockname()[1]

    return ServerThread(start)


def test_ws_echo_payload_is_verified():
    # Pre-masked frames are resent, so the echo must be checked against what was sent: a server
    # answering the right length with the wrong bytes is a protocol error, not a message.
    with ws_corrupting_echo_server() as srv:
        doc = run_cli("ws-echo", f"ws://127.0.0.1:{srv.port}/", "--connections", "3", duration=0.5)
    assert doc["errors"]["protocol"] == 3 and doc["messages"] == 0
    assert any("echoed payload differs" in n for n in doc["notes"]), doc["notes"]


def test_generator_alone_against_native_sink():
    # Issue 12 ("generator first"): fasterapi-sink is a trivial native echo, so the generator is
    # most of the work. The speed it reaches is a benchmark figure, not a unit-test threshold: the
    # bench gate holds it (loadtest/gates.toml, native-sink >= 1.1x native-echo) and
    # docs/benchmarks.md records it. Here: it runs clean at the gate's shape and reports its CPU.
    sink = Path(find_loadgen()).with_name("fasterapi-sink")
    assert sink.exists(), f"{sink} not built beside the generator"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([str(sink), "--port", str(port)], stderr=subprocess.PIPE, text=True)
    try:
        assert "listening" in proc.stderr.readline()
        doc = run_cli("ws-echo", f"ws://127.0.0.1:{port}/", "--connections", "100", duration=1)
        big = run_cli("ws-echo", f"ws://127.0.0.1:{port}/", "--connections", "4", "--size", "300000",
                      "--binary", "--inflight", "2", duration=0.5)
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stderr.close()
    for d in (doc, big):
        no_errors(d)
    assert doc["connected"] == 100 and doc["messages"] > 100
    assert doc["latency_us"]["count"] == doc["messages"]
    cpu = doc["cpu"]
    assert len(cpu["per_thread"]) == 1 and 0 < cpu["utilization"] == cpu["per_thread"][0]
    assert cpu["user_s"] + cpu["sys_s"] > 0
    assert big["messages"] > 4 and big["bytes_per_s"] == pytest.approx(big["rate_per_s"] * 300000, rel=1e-3)


def test_ws_rate_open_loop_hits_target():
    with ws_echo_server() as srv:
        doc = run_cli("ws-rate", f"ws://127.0.0.1:{srv.port}/", "--connections", "10", "--rate", "1000",
                      duration=2)
    no_errors(doc)
    assert doc["target_rate_per_s"] == 1000
    # Sends follow the schedule exactly; replies lag by at most the echo latency.
    assert 950 <= doc["send_rate_per_s"] <= 1050, doc["send_rate_per_s"]
    assert 700 <= doc["rate_per_s"] <= 1100, doc["rate_per_s"]
    assert doc["latency_us"]["count"] == doc["messages"]
    assert any("intended send time" in n for n in doc["notes"])


def test_ws_rate_requires_rate():
    proc = run_cli("ws-rate", "ws://127.0.0.1:9/", check=False)
    assert proc.returncode == 2
    assert "--rate" in proc.stderr


def test_ws_broadcast_counts_every_recipient():
    with ws_broadcast_server() as srv:
        doc = run_cli("ws-broadcast", f"ws://127.0.0.1:{srv.port}/broadcast", "--connections", "20", "--rate",
                      "100", "--size", "64", duration=2)
    no_errors(doc)
    # 100 msg/s relayed to all 20 connections (the publisher receives too).
    assert doc["expected_deliveries_per_s"] == 100 * 19
    assert 1400 <= doc["rate_per_s"] <= 2200, doc["rate_per_s"]
    assert doc["latency_us"]["count"] == doc["deliveries"]  # every payload carried a timestamp
    assert doc["published"] > 150


# ---- HTTP ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["length", "chunked"])
def test_http_keepalive_pipelined(mode):
    with http_server(mode) as srv:
        doc = run_cli("http", f"http://127.0.0.1:{srv.port}/plaintext", "--connections", "8", "--pipeline", "4")
    no_errors(doc)
    assert doc["requests"] > 100
    assert doc["latency_us"]["count"] == doc["requests"]
    assert doc["bytes_per_s"] == pytest.approx(doc["rate_per_s"] * 13, rel=1e-3)  # de-chunked body bytes
    assert doc["config"]["pipeline"] == 4
    assert not any("reconnect" in n for n in doc["notes"])


def test_http_connection_close_reconnects():
    with http_server("close") as srv:
        doc = run_cli("http", f"http://127.0.0.1:{srv.port}/", "--connections", "4")
    assert doc["requests"] > 10
    assert doc["errors"]["protocol"] == 0 and doc["errors"]["connect"] == 0
    assert any("reconnects" in n for n in doc["notes"])


def test_http_error_statuses_are_counted():
    with http_server("404") as srv:
        doc = run_cli("http", f"http://127.0.0.1:{srv.port}/missing", "--connections", "2")
    assert doc["requests"] > 10
    assert doc["errors"]["http_status"]["404"] >= doc["requests"]


# ---- SSE -------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [True, False])
def test_sse_events_and_latency(chunked):
    with sse_server(chunked=chunked) as srv:
        doc = run_cli("sse", f"http://127.0.0.1:{srv.port}/sse", "--connections", "10")
    no_errors(doc)
    assert doc["connected"] == 10
    assert doc["events"] > 100
    assert doc["latency_us"]["count"] == doc["events"]
    assert doc["latency_us"]["p50"] < 1_000_000  # same clock: well under a second on loopback


def test_sse_without_timestamps_counts_events_only():
    with sse_server(timestamps=False) as srv:
        doc = run_cli("sse", f"http://127.0.0.1:{srv.port}/sse", "--connections", "3")
    no_errors(doc)
    assert doc["events"] > 30
    assert doc["latency_us"]["count"] == 0


# ---- errors, output ---------------------------------------------------------------------------


def unused_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connection_refused_is_reported_not_fatal():
    doc = run_cli("ws-echo", f"ws://127.0.0.1:{unused_port()}/", "--connections", "3", duration=0.2)
    assert doc["errors"]["connect"] == 3
    assert doc["connected"] == 0 and doc["messages"] == 0
    assert "no connection established" in doc["notes"]


def test_ws_handshake_rejected_counts_status():
    with http_server("404") as srv:
        doc = run_cli("ws-echo", f"ws://127.0.0.1:{srv.port}/", "--connections", "2", duration=0.2)
    assert doc["errors"]["connect"] == 2
    assert doc["errors"]["http_status"] == {"404": 2}


@pytest.mark.parametrize(
    "args",
    [["bogus", "--url", "ws://x/"], ["ws-echo"], ["ws-echo", "--url", "http://127.0.0.1/"],
     ["http", "--url", "http://127.0.0.1/", "--connections", "0"], ["ws-echo", "--url", "ws://h/", "--nope"]],
)
def test_usage_errors_exit_2(args):
    proc = subprocess.run([find_loadgen(), *args], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert "usage:" in proc.stderr
    assert proc.stdout == ""


def test_sigint_ends_the_run_early_with_a_report():
    with ws_echo_server() as srv:
        proc = subprocess.Popen([find_loadgen(), "ws-echo", "--url", f"ws://127.0.0.1:{srv.port}/", "--duration", "60",
                                 "--warmup", "0", "--quiet", "--connections", "2"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    doc = json.loads(out)
    assert 0.5 < doc["duration_s"] < 20
    assert doc["messages"] > 0
    assert any("stopped early" in n for n in doc["notes"])
    no_errors(doc)


def test_help_and_inline_option_values():
    proc = subprocess.run([find_loadgen(), "--help"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0
    for mode in COUNT_KEY:
        assert mode in proc.stdout
    with http_server() as srv:
        doc = run_cli("http", f"http://127.0.0.1:{srv.port}/", "--connections=3", "--pipeline=2", duration=0.5)
    assert doc["config"]["connections"] == 3 and doc["config"]["pipeline"] == 2
    no_errors(doc)


def test_json_out_matches_stdout(tmp_path):
    out = tmp_path / "r.json"
    with http_server() as srv:
        doc = run_cli("http", f"http://127.0.0.1:{srv.port}/", "--json-out", str(out), duration=0.5)
    assert json.loads(out.read_text()) == doc


# ---- Python binding --------------------------------------------------------------------------


def test_python_binding_releases_gil():
    from fasterapi import _core

    with ws_echo_server() as srv:
        # The echo server lives in this process: without the GIL released it could not answer.
        doc = _core.loadgen.run(["ws-echo", "--url", f"ws://127.0.0.1:{srv.port}/", "--connections", "4",
                                 "--duration", "1", "--warmup", "0.2", "--quiet"])
    assert isinstance(doc, dict)
    check_schema(doc, "ws-echo")
    no_errors(doc)
    assert doc["messages"] > 50


def test_python_binding_stop_from_another_thread():
    from fasterapi import _core

    with ws_echo_server() as srv:
        timer = threading.Timer(1.0, _core.loadgen.stop)
        timer.start()
        t0 = time.monotonic()
        doc = _core.loadgen.run(["ws-echo", "--url", f"ws://127.0.0.1:{srv.port}/", "--duration", "60",
                                 "--warmup", "0", "--quiet"])
        timer.join()
    assert time.monotonic() - t0 < 20
    assert doc["messages"] > 0 and doc["duration_s"] < 20
    assert any("stopped early" in n for n in doc["notes"])


def test_python_binding_usage_error():
    from fasterapi import _core

    with pytest.raises(ValueError, match="unknown mode"):
        _core.loadgen.run(["nope"])


# ---- TLS (wss://, https://): issue 13 -------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    pytest.importorskip("cryptography")
    sys.path.insert(0, str(REPO))
    from loadtest import certs
    return certs.make(tmp_path_factory.mktemp("tls"))


def wss_echo_server(tls_files):
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tls_files.certfile, tls_files.keyfile)
    return ws_echo_server(ssl=ctx)


def test_wss_echo(tls_files):
    with wss_echo_server(tls_files) as srv:
        doc = run_cli("ws-echo", f"wss://127.0.0.1:{srv.port}/", "--connections", "8", "--size", "20000")
    no_errors(doc)
    assert doc["connected"] == 8 and doc["messages"] > 10
    assert doc["tls"]["version"].startswith("TLSv1.3")
    assert doc["tls"]["full_handshakes"] == 8 and doc["tls"]["resumed_handshakes"] == 0
    assert doc["config"]["resume"] is False and doc["config"]["verify"] is False


def test_wss_verify_against_the_ca(tls_files, tmp_path):
    from loadtest import certs
    with wss_echo_server(tls_files) as srv:
        url = f"wss://127.0.0.1:{srv.port}/"
        ok = run_cli("ws-echo", url, "--connections", "2", "--verify", tls_files.certfile, duration=0.5)
        other = certs.make(tmp_path)  # a different self-signed certificate: the server's does not chain to it
        bad = run_cli("ws-echo", url, "--connections", "2", "--verify", other.certfile, duration=0.5)
    no_errors(ok)
    assert ok["config"]["verify"] is True and ok["messages"] > 0
    assert bad["errors"]["connect"] == 2 and bad["messages"] == 0
    assert any("certificate verify failed" in n for n in bad["notes"]), bad["notes"]


def test_connect_mode_full_and_resumed_handshakes(tls_files):
    with wss_echo_server(tls_files) as srv:
        url = f"wss://127.0.0.1:{srv.port}/"
        full = run_cli("connect", url, "--connections", "4")
        resumed = run_cli("connect", url, "--connections", "4", "--resume")
    for doc in (full, resumed):
        no_errors(doc)
        assert doc["connections"] > 10 and doc["latency_us"]["count"] == doc["connections"]
    # Every connection counted is a new TCP + TLS + WebSocket upgrade; with --resume the server's
    # tickets are offered back and (Python's ssl honours them) the handshakes resume.
    assert full["tls"]["resumed_handshakes"] == 0 and full["tls"]["full_handshakes"] == full["connections"]
    assert resumed["tls"]["resumed_handshakes"] > 0.5 * resumed["connections"]  # ~90% against Python ssl
    assert not any("--resume" in n for n in resumed["notes"]) and not any("--resume" in n for n in full["notes"])


def test_connect_mode_plain_http():
    with http_server() as srv:
        doc = run_cli("connect", f"http://127.0.0.1:{srv.port}/", "--connections", "2")
    no_errors(doc)
    assert doc["connections"] > 10 and "tls" not in doc


def test_tls_against_a_plain_server_is_a_connect_error():
    with ws_echo_server() as srv:
        doc = run_cli("ws-echo", f"wss://127.0.0.1:{srv.port}/", "--connections", "2", duration=0.5)
    assert doc["errors"]["connect"] == 2 and doc["messages"] == 0
    assert any(n.startswith("tls handshake:") for n in doc["notes"]), doc["notes"]


@pytest.mark.parametrize("args", [["ws-echo", "--url", "ws://127.0.0.1:1/", "--resume"],
                                  ["ws-echo", "--url", "ws://127.0.0.1:1/", "--verify", "x.pem"],
                                  ["connect", "--url", "ftp://127.0.0.1/"],
                                  ["ws-echo", "--url", "https://127.0.0.1/"]])
def test_tls_usage_errors_exit_2(args):
    proc = subprocess.run([find_loadgen(), *args], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert "usage:" in proc.stderr
