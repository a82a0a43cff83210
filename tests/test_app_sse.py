"""Server-Sent Events over the native server, read with httpx + httpx-sse."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from httpx_sse import ServerSentEvent, connect_sse

from conftest import ServerProcess, Spawner, get_state, read_http_response


@pytest.fixture
def client(server: ServerProcess):
    # A new connection per request: reuse after a finished stream is its own test below
    # (test_connection_after_stream_end_is_reusable_or_marked_close).
    with httpx.Client(base_url=server.url, timeout=10, limits=httpx.Limits(max_keepalive_connections=0)) as c:
        yield c


def events(client: httpx.Client, path: str, limit: int | None = None, **kw) -> list[ServerSentEvent]:
    out = []
    with connect_sse(client, "GET", path, **kw) as source:
        source.response.raise_for_status()
        for ev in source.iter_sse():
            if ev.data == "" and ev.event == "message":
                # httpx-sse 0.4 dispatches a blank line once an id was seen; browsers (WHATWG)
                # dispatch nothing for an empty data buffer, e.g. after a comment-only block.
                continue
            out.append(ev)
            if limit is not None and len(out) >= limit:
                break
    return out


def test_headers(client: httpx.Client) -> None:
    with connect_sse(client, "GET", "/sse/basic") as source:
        r = source.response
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-cache"
        assert r.headers["x-accel-buffering"] == "no"
        assert "content-length" not in r.headers


def test_fields_multiline_ids_retry_events(client: httpx.Client) -> None:
    evs = events(client, "/sse/basic")
    got = [(e.event, e.data, e.id, e.retry) for e in evs]
    assert got == [
        ("greeting", "first", "1", None),
        ("message", "line one\nline two\nline three", "2", None),
        ("message", "with retry", "3", 2500),
        ("message", "plain string", "3", None),  # the last event id carries over (HTML spec)
        ("obj", '{"json":[1,2]}', "3", None),
    ]


def test_comments_on_the_wire_are_ignored_by_clients(client: httpx.Client) -> None:
    with client.stream("GET", "/sse/basic") as r:
        raw = b"".join(r.iter_raw())
    assert b": just a comment\n" in raw
    assert b"data: line one\ndata: line two\ndata: line three\n" in raw
    assert "just a comment" not in [e.data for e in events(client, "/sse/basic")]


def test_stream_ends_when_generator_ends(client: httpx.Client) -> None:
    evs = events(client, "/sse/sync", params={"count": "5"})
    assert [e.data for e in evs] == [f"sync {i}" for i in range(5)]
    assert [e.id for e in evs] == [str(i) for i in range(5)]


def test_sync_generator_handler(client: httpx.Client) -> None:
    assert [e.data for e in events(client, "/sse/sync")] == ["sync 0", "sync 1", "sync 2"]


def test_last_event_id_passed_to_handler(client: httpx.Client) -> None:
    assert [e.data for e in events(client, "/sse/last-id", headers={"Last-Event-ID": "41"})] == ["41"]
    assert [e.data for e in events(client, "/sse/last-id")] == ["none"]


def test_client_disconnect_stops_generator(server: ServerProcess, client: httpx.Client) -> None:
    k = uuid.uuid4().hex
    evs = events(client, "/sse/forever", limit=3, params={"key": k})  # leaving the block closes the stream
    assert [e.data for e in evs] == ["1", "2", "3"]
    state = get_state(server, k, timeout=10)
    assert state["stopped"] is True
    # The generator stopped promptly: a handful of events after the client left, not hundreds.
    sent_then = state["sent"]
    time.sleep(0.3)
    assert get_state(server, k)["sent"] == sent_then


def test_invalid_event_field_ends_stream_without_injection(server: ServerProcess, client: httpx.Client) -> None:
    with client.stream("GET", "/sse/inject") as r:
        raw = b"".join(r.iter_raw())
    assert b"data: ok\n" in raw
    assert b"injected" not in raw and b"evil" not in raw and b"after" not in raw
    assert [e.data for e in events(client, "/sse/inject")] == ["ok"]
    assert client.get("/hello").text == "hello"


def test_generator_exception_ends_stream_and_is_logged(server: ServerProcess, client: httpx.Client) -> None:
    with client.stream("GET", "/sse/error") as r:
        raw = b"".join(r.iter_raw())
    assert b"data: before\n" in raw
    assert b"sse-boom" not in raw
    assert server.wait_for_output("sse-boom")
    assert client.get("/hello").text == "hello"


def test_head_on_sse_route(client: httpx.Client) -> None:
    r = client.head("/sse/basic")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.content == b""


def test_topic_route_replay_and_live(server: ServerProcess, client: httpx.Client) -> None:
    # Publish 1..4 with nobody listening: they land in the route's replay buffer.
    for i in range(1, 5):
        assert client.post(f"/publish-sse/news?id={i}", content=f"n{i}").json() == {"delivered": 0}
    with connect_sse(client, "GET", "/sse/topic/news", headers={"Last-Event-ID": "2"}) as source:
        it = source.iter_sse()
        got = [next(it) for _ in range(2)]
        assert [(e.event, e.data, e.id) for e in got] == [("news", "n3", "3"), ("news", "n4", "4")]
        assert client.post("/publish-sse/news?id=5", content="n5").json() == {"delivered": 1}
        e = next(it)
        assert (e.event, e.data, e.id) == ("news", "n5", "5")


def test_sse_notifications_example_resume(spawn: Spawner) -> None:
    srv = spawn.example("sse_notifications")
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        for i in range(1, 6):
            r = c.post("/notify", content=f"note {i}")
            assert r.status_code == 200 and r.json()["id"] == i
        with connect_sse(c, "GET", "/notifications", headers={"Last-Event-ID": "2"}) as source:
            it = source.iter_sse()
            got = [next(it) for _ in range(3)]
        assert [(e.event, e.id, e.data) for e in got] == [("notification", str(i), f"note {i}") for i in (3, 4, 5)]
        assert c.post("/notify", content=b"").status_code == 400


def test_keep_alive_comments_on_a_quiet_stream(client: httpx.Client) -> None:
    seen = []
    with client.stream("GET", "/sse/quiet") as r:
        for line in r.iter_lines():
            seen.append(line)
            if sum(1 for x in seen if x.startswith(":")) >= 2:  # ping_interval=0.2 s
                break
    assert "data: only one" in seen
    assert all(x == "" or x.startswith(":") for x in seen[seen.index("data: only one") + 1:])


def test_many_concurrent_streams_and_http(server: ServerProcess) -> None:
    import asyncio

    from httpx_sse import aconnect_sse

    async def one(c: httpx.AsyncClient) -> list[str]:
        async with aconnect_sse(c, "GET", "/sse/sync", params={"count": "20"}) as source:
            return [e.data async for e in source.aiter_sse()]

    async def main() -> None:
        async with httpx.AsyncClient(base_url=server.url, timeout=10,
                                     limits=httpx.Limits(max_connections=50)) as c:
            results = await asyncio.gather(*(one(c) for _ in range(20)), c.get("/hello"))
        assert results[-1].text == "hello"
        assert all(r == [f"sync {i}" for i in range(20)] for r in results[:-1])

    asyncio.run(main())


@pytest.mark.parametrize("path", ["/sse/sync", "/sse/error"])
def test_connection_after_stream_end_is_reusable_or_marked_close(server: ServerProcess, path: str) -> None:
    import socket

    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = b""
        while not data.endswith(b"\r\n0\r\n\r\n"):
            chunk = s.recv(65536)
            assert chunk, f"stream closed without the chunked terminator: {data!r}"
            data += chunk
        head = data.split(b"\r\n\r\n", 1)[0].lower()
        if b"\r\nconnection: close" in head:
            return  # announced: the client will not reuse it
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        status, _, body = read_http_response(s, bytearray())
        assert (status, body) == (200, b"hello")


def test_slow_sse_reader_pauses_the_generator(spawn: Spawner) -> None:
    import socket

    srv = spawn.app("backpressure_app")
    count, size = 400, 64 << 10  # 25 MiB of events: far beyond what socket buffers absorb

    def progress() -> dict:
        return httpx.get(srv.url + "/sse-progress", timeout=10).json()

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
        s.settimeout(10)
        s.connect(("127.0.0.1", srv.port))
        s.sendall(f"GET /sse/flood?count={count}&size={size} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        deadline = time.monotonic() + 10
        while not progress()["started"]:
            assert time.monotonic() < deadline, "SSE generator never started"
            time.sleep(0.05)
        time.sleep(1.0)  # not reading: the generator must stall, not buffer 25 MiB natively
        p1 = progress()
        time.sleep(0.5)
        p2 = progress()
        assert not p2["done"], "the generator ran to the end although the client read nothing"
        assert p1["sent"] == p2["sent"] < count
        # Read it all: every event arrives, in order.
        data = bytearray()
        while not data.endswith(b"\r\n0\r\n\r\n"):
            chunk = s.recv(1 << 20)
            assert chunk, "stream closed early"
            data += chunk
    ids = [int(line[4:]) for line in data.split(b"\n") if line.startswith(b"id: ")]
    assert ids == list(range(count))
    assert progress()["done"]
