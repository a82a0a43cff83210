"""Scale-out through Redis: real redis-server, real FasterAPI processes, real sockets; nothing mocked.

Each test starts its own redis-server (tests/redis_fixture.py) on a free port in a temp dir.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect

from conftest import APPS, RawWebSocket, ServerProcess, Spawner, free_port, subprocess_env

pytestmark = pytest.mark.timeout(120)


def start(spawn: Spawner, redis: Any, workers: int = 1) -> ServerProcess:
    port = free_port()
    return spawn.start([str(APPS / "broker_app.py"), "--port", str(port), "--workers", str(workers),
                        "--broker", redis.url], ready_lines=workers)


def stats(srv: ServerProcess) -> dict[str, Any]:
    return httpx.get(srv.url + "/stats", timeout=5).json()


def wait_until(cond: Any, timeout: float, step: float = 0.02) -> float:
    """Seconds until cond() held; AssertionError after ``timeout``."""
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(step)
    return time.monotonic() - t0


# --- SSE client: collects (id, event, data) and remembers the last id, like EventSource ---------
class SSEClient:
    def __init__(self) -> None:
        self.events: list[tuple[str | None, str | None, str]] = []
        self.last_id: str | None = None
        self.cond = threading.Condition()

    def read(self, url: str, until: Any, last_id: str | None = None, timeout: float = 30.0) -> None:
        """Read ``url`` until ``until(events)`` holds or the connection ends (no exception)."""
        headers = {"Last-Event-ID": last_id} if last_id else {}
        try:
            with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(timeout, connect=5)) as r:
                assert r.status_code == 200
                ev: dict[str, str] = {}
                for line in r.iter_lines():
                    if line == "":
                        if "data" in ev:
                            with self.cond:
                                self.events.append((ev.get("id"), ev.get("event"), ev["data"]))
                                if "id" in ev:
                                    self.last_id = ev["id"]
                                self.cond.notify_all()
                            if until(self.events):
                                return
                        ev = {}
                    elif not line.startswith(":"):
                        k, _, v = line.partition(":")
                        ev[k] = v[1:] if v.startswith(" ") else v
        except (httpx.RemoteProtocolError, httpx.ReadError):
            pass  # the server died: resume with last_id

    def wait(self, pred: Any, timeout: float) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: pred(self.events), timeout), f"{len(self.events)} events"

    def data(self) -> list[str]:
        return [d for _, e, d in self.events if e is None]


def attach(client: SSEClient, url: str, until: Any) -> threading.Thread:
    """Connect with Last-Event-ID ``<any epoch>:0-0``: the reset event then gives the stream
    position, so the client is known to be attached before anything is published."""
    t = threading.Thread(target=client.read, args=(url, until, "none:0-0"), daemon=True)
    t.start()
    client.wait(lambda evs: len(evs) >= 1, 10)
    assert client.events[0][1] == "fasterapi-reset"
    return t


def publish(srv: ServerProcess, topic: str, start: int, n: int, every: int = 100, pause: float = 0.002) -> None:
    r = httpx.post(f"{srv.url}/publish/{topic}", params=dict(start=start, n=n, every=every, pause=pause),
                   timeout=60)
    assert r.json() == {"published": n}


# --- WebSocket pub/sub across processes --------------------------------------------------------
async def clients_on_every_worker(ports: list[int], workers: int, room: str) -> dict[int, Any]:
    by_pid: dict[int, Any] = {}
    extra = []
    for attempt in range(200):
        port = ports[attempt % len(ports)]
        ws = await connect(f"ws://127.0.0.1:{port}/ws/{room}", max_queue=None)
        pid = json.loads(await ws.recv())["pid"]
        if pid in by_pid:
            extra.append(ws)
        else:
            by_pid[pid] = ws
        if len(by_pid) == workers:
            break
    for ws in extra:
        await ws.close()
    assert len(by_pid) == workers, f"reached only {len(by_pid)} workers"
    # Subscriptions reach Redis asynchronously: probe until every client sees one probe.
    seen: dict[int, bool] = {}
    for k in range(100):
        probe = f"probe-{k}"
        await next(iter(by_pid.values())).send(probe)
        for pid, ws in by_pid.items():
            try:
                while not seen.get(pid):
                    if await asyncio.wait_for(ws.recv(), 0.2) == probe:
                        seen[pid] = True
            except asyncio.TimeoutError:
                pass
        if len(seen) == workers:
            break
    assert len(seen) == workers
    await asyncio.sleep(0.3)
    for ws in by_pid.values():  # drain later probes
        try:
            while True:
                await asyncio.wait_for(ws.recv(), 0.05)
        except asyncio.TimeoutError:
            pass
    return by_pid


def test_ws_pubsub_two_processes_two_workers_each(spawn: Spawner, redis_server: Any) -> None:
    a = start(spawn, redis_server, workers=2)
    b = start(spawn, redis_server, workers=2)
    n = 10_000

    async def run() -> None:
        clients = await clients_on_every_worker([a.port, b.port], 4, "room")
        pubs = list(clients.values())[:2]
        tags = [f"P{i}" for i in range(len(pubs))]
        for ws, tag in zip(pubs, tags):
            await ws.send(f"burst {n} {tag}")

        async def collect(ws: Any) -> dict[str, list[int]]:
            got: dict[str, list[int]] = {t: [] for t in tags}
            total = 0
            while total < n * len(tags):
                msg = await asyncio.wait_for(ws.recv(), 20)
                tag, _, i = msg.partition(":")
                if tag in got:
                    got[tag].append(int(i))
                    total += 1
            return got

        results = await asyncio.gather(*(collect(ws) for ws in clients.values()))
        for got in results:
            for tag in tags:  # every message, once, in publisher order, on all four workers
                assert got[tag] == list(range(1, n + 1))
        for ws in clients.values():
            await ws.close()

    asyncio.run(run())
    for srv in (a, b):
        st = stats(srv)
        assert st["broker_publish_failed"] == 0 and st["broker_connected"] == 1


# --- SSE replay through Redis Streams -------------------------------------------------------------
def test_sse_resume_on_another_process_after_sigkill(spawn: Spawner, redis_server: Any) -> None:
    a = start(spawn, redis_server)           # one worker: the process is the worker
    b = start(spawn, redis_server, workers=2)
    client = SSEClient()
    n = 10_000
    reader = attach(client, a.url + "/feed", lambda evs: False)
    pub = threading.Thread(target=publish, args=(b, "feed", 1, n), daemon=True)
    pub.start()
    client.wait(lambda evs: len(evs) >= 3000, 30)
    os.kill(a.proc.pid, signal.SIGKILL)      # mid-stream
    reader.join(10)
    first_part = len(client.data())
    assert 0 < first_part < n
    client.read(b.url + "/feed", lambda evs: evs[-1][2] == str(n), last_id=client.last_id)
    pub.join(30)
    assert client.data() == [str(i) for i in range(1, n + 1)]  # exactly 1..n: no gap, no duplicate


def test_sse_resume_across_redis_restart_with_aof(spawn: Spawner, redis_aof: Any) -> None:
    a = start(spawn, redis_aof)
    b = start(spawn, redis_aof)
    client = SSEClient()
    n = 10_000
    reader = attach(client, a.url + "/feed", lambda evs: evs[-1][2] == str(n))
    publish(b, "feed", 1, n // 2)
    client.wait(lambda evs: evs[-1][2] == str(n // 2), 30)
    mid_id = [i for i, e, d in client.events if d == "4000"][0]
    redis_aof.restart()                      # SIGKILL + start: AOF (fsync always) keeps the stream
    wait_until(lambda: stats(b)["broker_connected"] == 1 and stats(a)["broker_connected"] == 1, 5)
    publish(b, "feed", n // 2 + 1, n // 2)
    reader.join(30)
    assert client.data() == [str(i) for i in range(1, n + 1)]  # the live stream on A crossed the restart
    late = SSEClient()                       # and a resume on B from before the restart
    late.read(b.url + "/feed", lambda evs: evs[-1][2] == str(n), last_id=mid_id)
    assert late.data() == [str(i) for i in range(4001, n + 1)]


def test_sse_reset_when_retention_exceeded(spawn: Spawner, redis_server: Any) -> None:
    a = start(spawn, redis_server)
    client = SSEClient()
    reader = attach(client, a.url + "/short", lambda evs: len(evs) >= 2)
    publish(a, "short", 1, 1)
    reader.join(10)
    first_id = client.last_id
    publish(a, "short", 2, 1000)             # replay=10: the first event is trimmed away
    late = SSEClient()
    t = threading.Thread(target=late.read, args=(a.url + "/short", lambda evs: len(evs) >= 2, first_id), daemon=True)
    t.start()
    late.wait(lambda evs: len(evs) >= 1, 10)
    rid, event, data = late.events[0]
    assert event == "fasterapi-reset"
    assert json.loads(data) == {"reason": "expired", "last_event_id": first_id}
    assert rid.split(":")[0] == first_id.split(":")[0]  # same epoch; the position is the current tip
    publish(a, "short", 1001, 1)             # after the reset: live
    t.join(10)
    assert late.events[1][2] == "1001"
    # Resuming from the reset's id is gap-free again.
    again = SSEClient()
    again.read(a.url + "/short", lambda evs: len(evs) >= 1, last_id=rid, timeout=10)
    assert again.events[0][1:] == (None, "1001")


def test_sse_reset_when_redis_lost_the_stream(spawn: Spawner, redis_server: Any) -> None:
    a = start(spawn, redis_server)
    b = start(spawn, redis_server)
    client = SSEClient()
    reader = attach(client, a.url + "/feed", lambda evs: len(evs) >= 4)
    publish(b, "feed", 1, 3)
    reader.join(10)
    old_id = client.last_id
    redis_server.restart(wipe=True)          # no persistence: the stream and its epoch are gone
    wait_until(lambda: stats(b)["broker_connected"] == 1, 5)
    late = SSEClient()
    t = threading.Thread(target=late.read, args=(b.url + "/feed", lambda evs: len(evs) >= 2, old_id), daemon=True)
    t.start()
    late.wait(lambda evs: len(evs) >= 1, 10)
    assert late.events[0][1] == "fasterapi-reset"
    assert json.loads(late.events[0][2])["reason"] == "epoch"
    assert late.events[0][0].split(":")[0] != old_id.split(":")[0]
    publish(b, "feed", 4, 1)
    t.join(10)
    assert late.events[1][2] == "4"


def test_events_lost_in_an_outage_become_a_reset_event_for_every_replay_client(
        spawn: Spawner, redis_aof: Any) -> None:
    a = start(spawn, redis_aof)
    b = start(spawn, redis_aof)
    live = SSEClient()                        # on A; the lost events are published on B
    reader = attach(live, a.url + "/feed", lambda evs: len(evs) >= 6)
    publish(b, "feed", 1, 3)
    live.wait(lambda evs: len(evs) >= 4, 10)
    before_gap = live.last_id
    redis_aof.stop()
    wait_until(lambda: stats(b)["broker_connected"] == 0, 5)
    publish(b, "feed", 4, 5)                  # nowhere to store them: lost, counted on B
    assert stats(b)["broker_publish_failed"] >= 5
    redis_aof.start()
    wait_until(lambda: stats(b)["broker_connected"] == 1, 5)
    live.wait(lambda evs: len(evs) >= 5, 10)
    rid, event, data = live.events[4]
    assert event == "fasterapi-reset"         # never a silent gap: the client reloads its state
    assert json.loads(data) == {"reason": "lost", "last_event_id": None, "lost": 5}
    publish(b, "feed", 9, 1)
    reader.join(10)
    assert live.data() == ["1", "2", "3", "9"]
    # A client resuming from before the gap, on either process, meets the same reset on its way.
    for srv in (a, b):
        late = SSEClient()
        late.read(srv.url + "/feed", lambda evs: len(evs) >= 2, last_id=before_gap, timeout=10)
        assert [(e, d) for _, e, d in late.events] == [("fasterapi-reset", data), (None, "9")]
        assert late.events[0][0] == rid


# --- outage ----------------------------------------------------------------------------------------
def test_outage_local_delivery_continues_and_remote_resumes(spawn: Spawner, redis_server: Any) -> None:
    a = start(spawn, redis_server)
    b = start(spawn, redis_server)
    marks: dict[str, float] = {}

    async def run() -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
        clients = await clients_on_every_worker([a.port, b.port], 2, "r")
        ca = next(ws for pid, ws in clients.items() if pid == a.proc.pid)
        cb = next(ws for pid, ws in clients.items() if pid == b.proc.pid)
        got_a: list[tuple[int, float]] = []
        got_b: list[tuple[int, float]] = []

        async def collect(ws: Any, out: list[tuple[int, float]]) -> None:
            try:
                while True:
                    msg = await ws.recv()
                    if msg.startswith("m"):
                        out.append((int(msg[1:]), time.monotonic()))
            except Exception:  # noqa: BLE001 - closed at the end
                pass

        tasks = [asyncio.create_task(collect(ca, got_a)), asyncio.create_task(collect(cb, got_b))]
        loop = asyncio.get_running_loop()
        sent: list[float] = []
        t0 = time.monotonic()
        i = 0
        while time.monotonic() - t0 < 6.0:
            now = time.monotonic() - t0
            if now > 1.0 and "down" not in marks:
                await loop.run_in_executor(None, redis_server.stop)
                marks["down"] = time.monotonic()
            if now > 4.0 and "up" not in marks:
                await loop.run_in_executor(None, redis_server.start)
                marks["up"] = time.monotonic()
            i += 1
            sent.append(time.monotonic())
            await ca.send(f"m{i}")
            await asyncio.sleep(0.01)
        marks["count"] = i
        await asyncio.sleep(1.0)
        for ws in (ca, cb):
            await ws.close()
        await asyncio.gather(*tasks)
        return got_a, got_b

    got_a, got_b = asyncio.run(run())
    n = int(marks["count"])
    assert [i for i, _ in got_a] == list(range(1, n + 1))  # local subscribers never missed one
    ids_b = [i for i, _ in got_b]
    assert ids_b == sorted(set(ids_b))                        # in order, no duplicates
    after = [t for _, t in got_b if t > marks["up"]]
    assert after, "no delivery across processes after Redis came back"
    assert after[0] - marks["up"] < 1.0, f"remote delivery resumed {after[0] - marks['up']:.2f} s after Redis"
    assert a.proc.poll() is None and b.proc.poll() is None
    sa = stats(a)
    lost = n - len(ids_b)
    assert lost > 0
    assert sa["broker_publish_failed"] >= lost - 10  # what B missed was counted on A (a few may be in flight)
    assert sa["broker_connected"] == 1 and stats(b)["broker_reconnects"] >= 1


def test_frozen_redis_detected_by_heartbeat(spawn: Spawner, redis_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKER_HEARTBEAT", "0.5")
    a = start(spawn, redis_server)
    assert stats(a)["broker_connected"] == 1
    redis_server.freeze()                    # SIGSTOP: the TCP connection stays open, nothing answers
    try:
        took = wait_until(lambda: stats(a)["broker_heartbeat_timeouts"] >= 1, 5)
        assert took <= 3 * 0.5 + 0.3, took   # within 3 heartbeat intervals
        assert stats(a)["broker_connected"] == 0
    finally:
        redis_server.thaw()
    wait_until(lambda: stats(a)["broker_connected"] == 1, 3)


def test_slow_subscriber_does_not_stall_the_worker(spawn: Spawner, redis_server: Any) -> None:
    a = start(spawn, redis_server)
    b = start(spawn, redis_server)
    rss0 = stats(a)["rss_kib"]
    slow = RawWebSocket(a.port, "/ws/big", rcvbuf=4096)  # never reads
    n = 3000

    def joined(port: int) -> RawWebSocket:
        ws = RawWebSocket(port, "/ws/big")
        assert b"pid" in ws.recv_frame()[2]  # sent after subscribe(): the subscription is in place
        return ws

    async def subscribed() -> tuple[RawWebSocket, RawWebSocket]:
        # Both workers hold "big" on Redis before the burst (slow keeps A's subscription alive).
        clients = await clients_on_every_worker([a.port, b.port], 2, "big")
        # The burst is read over plain sockets: a websockets client parses every frame in Python
        # and, on a busy machine, fell max_backlog (4 MiB) behind and was cut off as slow itself.
        fast, pub = joined(a.port), joined(b.port)
        for ws in clients.values():
            await ws.close()
        return fast, pub

    fast, pub = asyncio.run(subscribed())
    try:
        pub.send_frame(0x1, f"burst {n} {'x' * 8000}".encode())  # ~24 MB through Redis to A
        got = 0
        while got < n:
            op, _, payload = fast.recv_frame()
            assert op != 0x8, f"the reading subscriber was closed: {payload!r}"
            got += op == 0x1 and payload.startswith(b"x")
        st = stats(a)
    finally:
        for ws in (slow, fast, pub):
            ws.close()
    assert st["slow_closed"] >= 1                       # the non-reader was cut off, not buffered forever
    assert st["broker_reconnects"] == 0 and st["broker_connected"] == 1  # the broker link never stalled
    assert st["rss_kib"] - rss0 < 48 * 1024, (rss0, st["rss_kib"])


# --- configuration errors ----------------------------------------------------------------------------
@pytest.mark.parametrize("url,msg", [("redis://127.0.0.1:1/0", "cannot reach broker redis://127.0.0.1:1/0"),
                                     ("nats://127.0.0.1:4222", "unsupported broker URL 'nats://127.0.0.1:4222'"),
                                     ("redis://user:secret@127.0.0.1:1/0", "redis://user:***@127.0.0.1:1/0")])
def test_bad_broker_url_is_a_clear_error(spawn: Spawner, url: str, msg: str) -> None:
    p = subprocess.run([sys.executable, "-m", "fasterapi", "run", "tests.apps.broker_app:app", "--port", "0",
                        "--broker", url], cwd=spawn.cwd, env=subprocess_env(), capture_output=True, text=True,
                       timeout=60)
    assert p.returncode != 0
    assert msg in p.stderr, p.stderr
    assert "Traceback" not in p.stderr and "secret" not in p.stderr


# --- examples with --workers and --broker -------------------------------------------------------------
def test_examples_with_workers_and_broker(spawn: Spawner, redis_server: Any) -> None:
    from conftest import EXAMPLES

    port = free_port()
    chat = spawn.start([str(EXAMPLES / "websocket_chat.py"), "--port", str(port), "--workers", "2",
                        "--broker", redis_server.url], ready_lines=2)

    async def chat_run() -> None:
        pids: dict[str, Any] = {}
        for k in range(60):  # one client per worker
            ws = await connect(f"{chat.ws_url}/ws/lobby?name=u{k}")
            pid = json.loads(await ws.recv())["worker"]
            if pid in pids:
                await ws.close()
            else:
                pids[pid] = ws
            if len(pids) == 2:
                break
        assert len(pids) == 2
        x, y = pids.values()
        seen = False
        for attempt in range(50):  # until y's worker is subscribed at Redis
            await x.send(f"hello {attempt}")
            try:
                while not seen:
                    m = json.loads(await asyncio.wait_for(y.recv(), 0.2))
                    seen = m.get("text", "").startswith("hello")
            except asyncio.TimeoutError:
                pass
            if seen:
                break
        for ws in pids.values():
            await ws.close()
        assert seen, "the other worker never saw the message"

    asyncio.run(chat_run())

    port = free_port()
    notes = spawn.start([str(EXAMPLES / "sse_notifications.py"), "--port", str(port), "--workers", "2",
                         "--broker", redis_server.url], ready_lines=2)
    client = SSEClient()
    reader = attach(client, notes.url + "/notifications", lambda evs: len(evs) >= 2)
    r = httpx.post(notes.url + "/notify", content="hello subscribers", headers={"Connection": "close"}, timeout=10)
    assert r.status_code == 200
    reader.join(10)
    rid, event, data = client.events[1]
    assert (event, data) == ("notification", "hello subscribers") and ":" in rid


def test_one_broker_subscription_per_worker_per_topic(spawn: Spawner, redis_server: Any) -> None:
    a = start(spawn, redis_server)
    b = start(spawn, redis_server)

    def numsub() -> int:
        reply = redis_server.command("PUBSUB", "NUMSUB", "fasterapi:t:topo")
        return int(reply.rstrip(b"\r\n").rsplit(b":", 1)[1])

    async def run() -> None:
        conns = [await connect(f"ws://127.0.0.1:{port}/ws/topo") for port in [a.port] * 30 + [b.port] * 10]
        wait_until(lambda: numsub() == 2, 5)  # 40 clients, 2 workers: 2 subscriptions
        time.sleep(0.3)
        assert numsub() == 2
        for ws in conns[:29] + conns[30:]:
            await ws.close()
        time.sleep(0.3)
        assert numsub() == 1                  # b's last local subscriber left (closed natively)
        await conns[29].close()
        wait_until(lambda: numsub() == 0, 2)

    asyncio.run(run())


def test_worker_memory_flat_over_many_broker_messages(spawn: Spawner, redis_server: Any) -> None:
    """RESP2 on the subscriber connection: no per-message leak (redis/hiredis-py#235)."""
    a = start(spawn, redis_server)
    b = start(spawn, redis_server)
    chunk, rounds = 20_000, 4
    samples: list[int] = []

    async def run() -> None:
        clients = await clients_on_every_worker([a.port, b.port], 2, "mem")
        sub = next(ws for pid, ws in clients.items() if pid == a.proc.pid)
        pub = next(ws for pid, ws in clients.items() if pid == b.proc.pid)
        for r in range(rounds):
            await pub.send(f"burst {chunk} R{r}")
            got = 0
            while got < chunk:
                if (await asyncio.wait_for(sub.recv(), 20)).startswith(f"R{r}:"):
                    got += 1
            samples.append(stats(a)["rss_kib"])
        for ws in clients.values():
            await ws.close()

    asyncio.run(run())
    assert stats(a)["broker_received"] >= chunk * rounds
    growth = samples[-1] - samples[1]  # after a warm-up round
    print(f"worker RSS over {chunk * (rounds - 1)} broker messages: {samples} KiB, growth {growth} KiB")
    assert growth < 2048, samples


def test_live_replay_subscribers_reset_when_the_stream_is_lost(spawn: Spawner, redis_server: Any) -> None:
    """A live subscriber holds ids of the old epoch: its stream ends, and its resume gets the reset."""
    a = start(spawn, redis_server)
    b = start(spawn, redis_server)
    client = SSEClient()
    reader = attach(client, a.url + "/feed", lambda evs: False)
    publish(b, "feed", 1, 3)
    client.wait(lambda evs: len(evs) >= 4, 10)
    old_id = client.last_id
    redis_server.restart(wipe=True)
    wait_until(lambda: stats(a)["broker_connected"] == 1 and stats(b)["broker_connected"] == 1, 5)
    publish(b, "feed", 4, 1)                 # first event of the new epoch: A notices and ends the stream
    reader.join(10)
    assert not reader.is_alive(), "the live stream of the lost epoch was not ended"
    assert [d for _, e, d in client.events if e is None] == ["1", "2", "3"]
    again = threading.Thread(target=client.read, args=(a.url + "/feed", lambda evs: len(evs) >= 6, old_id),
                             daemon=True)
    again.start()
    client.wait(lambda evs: len(evs) >= 5, 10)
    assert client.events[4][1] == "fasterapi-reset" and json.loads(client.events[4][2])["reason"] == "epoch"
    publish(b, "feed", 5, 1)                 # live after the reset
    again.join(10)
    assert client.events[5][1:] == (None, "5")


def test_resume_from_before_the_first_event(spawn: Spawner, redis_server: Any) -> None:
    """The reset on an empty stream carries ``<epoch>:0-0``; resuming from it replays everything
    while nothing was trimmed, and resets once the head was trimmed away."""
    a = start(spawn, redis_server)
    first = SSEClient()
    reader = attach(first, a.url + "/short", lambda evs: True)
    reader.join(10)
    start_id = first.events[0][0]
    assert start_id.endswith(":0-0")
    publish(a, "short", 1, 3)
    again = SSEClient()
    again.read(a.url + "/short", lambda evs: len(evs) >= 3, last_id=start_id, timeout=10)
    assert [(e, d) for _, e, d in again.events] == [(None, "1"), (None, "2"), (None, "3")]
    publish(a, "short", 4, 1000)             # replay=10: the head is trimmed
    late = SSEClient()
    late.read(a.url + "/short", lambda evs: len(evs) >= 1, last_id=start_id, timeout=10)
    assert late.events[0][1] == "fasterapi-reset" and json.loads(late.events[0][2])["reason"] == "expired"


def test_replay_route_refuses_drop_policy() -> None:
    from fasterapi import App

    app = App()
    with pytest.raises(ValueError, match="slow_policy must be 'close'"):
        app.add_sse_route("/x", topic="x", replay=10, slow_policy="drop")
    app.add_sse_route("/y", topic="y", replay=10)
    assert app.sse_routes[-1].options["slow_policy"] == "close"
    app.add_sse_route("/z", topic="z")
    assert app.sse_routes[-1].options["slow_policy"] == "drop"
