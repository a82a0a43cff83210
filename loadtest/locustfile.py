"""Locust scenarios for FasterAPI (and any server with the bench endpoints).

    locust -f loadtest/locustfile.py --host http://127.0.0.1:8000 --headless -u 50 -r 25 -t 30s \
           --csv reports/bench/locust/run --html reports/bench/locust/run.html WSEchoUser
    locust -f loadtest/locustfile.py --processes 2 ...              # one machine, several processes
    locust -f loadtest/locustfile.py --master --expect-workers 4 ... # distributed: see docs/benchmarks.md
    locust -f loadtest/locustfile.py --worker --master-host MASTER

Users: WSEchoUser (echo at /), ChatUser (rooms over /broadcast?room=N; per-recipient latency from the
timestamp each message carries), SSEUser (time to first event, inter-event gap, reconnect with
Last-Event-ID), HTTPUser (FastHttpUser: /plaintext, /json) and NativeLoadgenUser (each task hands a
short burst to the native generator, so one worker drives far more load than gevent clients).

Latencies are kept in microseconds in our own histograms (Locust rounds to milliseconds) and are
also reported through ``events.request.fire``; with LOADTEST_HIST_OUT set, each process writes its
histograms there as JSON when the test stops (loadtest.locust_run merges them).
"""

from __future__ import annotations

import itertools
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

from locust import FastHttpUser, User, between, constant, events, task

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from loadtest.histogram import Histogram  # noqa: E402

HISTOGRAMS: dict[str, Histogram] = {}
ROOMS = int(os.environ.get("LOADTEST_ROOMS", "10"))
PAYLOAD = "x" * int(os.environ.get("LOADTEST_SIZE", "32"))
_ids = itertools.count()


def record(request_type: str, name: str, latency_us: float, length: int = 0, exc: Exception | None = None) -> None:
    """Microseconds into our histogram; the same sample to Locust (in ms, as it expects)."""
    HISTOGRAMS.setdefault(f"{request_type} {name}", Histogram()).record(latency_us)
    events.request.fire(request_type=request_type, name=name, response_time=latency_us / 1000.0,
                        response_length=length, exception=exc, context={})


def _ws_url(host: str, path: str) -> str:
    return host.replace("https://", "wss://").replace("http://", "ws://").rstrip("/") + path


@events.test_stop.add_listener
def _dump_histograms(environment, **_kw) -> None:
    out = os.environ.get("LOADTEST_HIST_OUT")
    if not out or not HISTOGRAMS:
        return
    path = Path(out)
    path.mkdir(parents=True, exist_ok=True)
    data = {k: {"summary": h.summary(), "histogram_us": h.compact()} for k, h in HISTOGRAMS.items()}
    (path / f"hist-{os.getpid()}.json").write_text(json.dumps(data))


class WSEchoUser(User):
    """Closed-loop echo: send, wait for the echo, record the round trip."""
    wait_time = constant(0)

    def on_start(self) -> None:
        import websocket  # websocket-client: plain sockets, cooperative under Locust's gevent patching
        self.ws = websocket.create_connection(_ws_url(self.host, "/"), timeout=10, enable_multithread=False)

    def on_stop(self) -> None:
        self.ws.close()

    @task
    def echo(self) -> None:
        t0 = time.perf_counter_ns()
        try:
            self.ws.send(PAYLOAD)
            reply = self.ws.recv()
            record("WS", "echo", (time.perf_counter_ns() - t0) / 1000, len(reply))
        except Exception as exc:  # reported to Locust as a failure, then reconnect
            record("WS", "echo", (time.perf_counter_ns() - t0) / 1000, 0, exc)
            self.on_start()


class ChatUser(User):
    """Chat rooms over pub/sub: every message carries its send time; each recipient records its latency.

    Wall-clock timestamps (time.time_ns) so workers on different machines can compare them; keep
    their clocks synchronised (NTP) when running distributed.
    """
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        import gevent
        import websocket
        self.id = next(_ids)
        self.room = random.randrange(ROOMS)
        # LOADTEST_CHAT_HOSTS="http://a:8000,http://b:8000": users alternate between servers sharing a broker.
        hosts = [h for h in os.environ.get("LOADTEST_CHAT_HOSTS", "").split(",") if h] or [self.host]
        host = hosts[self.id % len(hosts)]
        self.ws = websocket.create_connection(_ws_url(host, f"/broadcast?room={self.room}"), timeout=30)
        self.reader = gevent.spawn(self._read)

    def _read(self) -> None:
        while True:
            try:
                msg = self.ws.recv()
            except Exception:
                return
            try:
                data = json.loads(msg)
                if data.get("room") == self.room:
                    record("CHAT", "delivery", (time.time_ns() - data["ts"]) / 1000, len(msg))
            except (ValueError, KeyError, TypeError, AttributeError):
                continue

    def on_stop(self) -> None:
        self.reader.kill(block=False)
        self.ws.close()

    @task
    def say(self) -> None:
        t0 = time.perf_counter_ns()
        try:
            self.ws.send(json.dumps({"room": self.room, "from": self.id, "ts": time.time_ns(), "text": PAYLOAD}))
            record("CHAT", "send", (time.perf_counter_ns() - t0) / 1000, 0)
        except Exception as exc:
            record("CHAT", "send", (time.perf_counter_ns() - t0) / 1000, 0, exc)


class SSEUser(User):
    """Subscribe, record time to first event and inter-event gaps, then reconnect with Last-Event-ID."""
    wait_time = constant(0)
    events_per_connection = int(os.environ.get("LOADTEST_SSE_EVENTS", "200"))

    def on_start(self) -> None:
        import requests
        self.session = requests.Session()
        self.last_id: str | None = None

    @task
    def subscribe(self) -> None:
        headers = {"Accept": "text/event-stream"}
        if self.last_id is not None:
            headers["Last-Event-ID"] = self.last_id
        t0 = time.perf_counter_ns()
        try:
            with self.session.get(self.host.rstrip("/") + "/sse", headers=headers, stream=True, timeout=10) as r:
                r.raise_for_status()
                first, prev, seen = True, 0, 0
                for line in r.iter_lines(chunk_size=4096):
                    if line.startswith(b"id:"):
                        self.last_id = line[3:].strip().decode()
                    if not line.startswith(b"data:"):
                        continue
                    now = time.perf_counter_ns()
                    if first:
                        record("SSE", "first event", (now - t0) / 1000, len(line))
                        first = False
                    elif seen % 10 == 0:  # a sample of gaps: firing per event would swamp Locust itself
                        record("SSE", "inter-event gap", (now - prev) / 1000, len(line))
                    prev = now
                    seen += 1
                    if seen >= self.events_per_connection:
                        break
        except Exception as exc:
            record("SSE", "first event", (time.perf_counter_ns() - t0) / 1000, 0, exc)


class HTTPUser(FastHttpUser):
    """Keep-alive GETs; Locust records them itself, our histogram keeps the microseconds."""
    wait_time = constant(0)

    def _get(self, path: str) -> None:
        t0 = time.perf_counter_ns()
        with self.client.get(path, name=path, catch_response=True) as resp:
            us = (time.perf_counter_ns() - t0) / 1000
            HISTOGRAMS.setdefault(f"GET {path}", Histogram()).record(us)
            if resp.status_code != 200:
                resp.failure(f"status {resp.status_code}")

    @task(3)
    def plaintext(self) -> None:
        self._get("/plaintext")

    @task(1)
    def json_(self) -> None:
        self._get("/json")


def _loadgen_run(args: list[str]) -> dict:
    """The native generator off the gevent hub: the binding (it releases the GIL) in the hub's
    thread pool, else the CLI through gevent's cooperative subprocess."""
    try:
        from fasterapi._core import loadgen  # type: ignore[attr-defined]
        import gevent
        return gevent.get_hub().threadpool.apply(loadgen.run, (args,))
    except (ImportError, AttributeError):
        from gevent import subprocess as gsub
        exe = shutil.which("fasterapi-loadgen") or str(Path(sys.executable).parent / "fasterapi-loadgen")
        if not Path(exe).exists():
            from loadtest.runner import find_tool
            exe = find_tool("fasterapi-loadgen") or exe
        out = gsub.run([exe, *args], capture_output=True, text=True, timeout=120)
        return json.loads(out.stdout)


class NativeLoadgenUser(User):
    """Each task is a burst of the native generator (LOADTEST_NATIVE_CONNECTIONS connections for
    LOADTEST_NATIVE_SECONDS); its microsecond histogram is merged into ours and one Locust event per
    burst carries the mean latency, with the message count as response_length."""
    wait_time = constant(0)
    connections = int(os.environ.get("LOADTEST_NATIVE_CONNECTIONS", "50"))
    seconds = float(os.environ.get("LOADTEST_NATIVE_SECONDS", "2"))

    @task
    def burst(self) -> None:
        args = ["ws-echo", "--url", _ws_url(self.host, "/"), "--connections", str(self.connections),
                "--inflight", "1", "--size", str(len(PAYLOAD)), "--duration", f"{self.seconds:g}",
                "--warmup", "0", "--quiet"]
        t0 = time.perf_counter_ns()
        try:
            res = _loadgen_run(args)
        except Exception as exc:
            record("NATIVE", "ws-echo burst", (time.perf_counter_ns() - t0) / 1000, 0, exc)
            return
        h = HISTOGRAMS.setdefault("NATIVE ws-echo message", Histogram())
        for upper, count in res.get("histogram_us") or []:
            h.record(upper, int(count))
        lat = res.get("latency_us") or {}
        events.request.fire(request_type="NATIVE", name="ws-echo burst", response_time=float(lat.get("mean", 0)) / 1000,
                            response_length=int(res.get("messages", 0)), exception=None,
                            context={"rate_per_s": res.get("rate_per_s")})
