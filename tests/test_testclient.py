"""fasterapi.testclient: the app on the native server in a thread, real loopback clients."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading

import httpx
import pytest

from fasterapi import App, HTTPException, Request, ServerSentEvent, WebSocket, WebSocketDisconnect
from fasterapi.testclient import AsyncTestClient, SSEEvent, TestClient, WebSocketRejected, _SSEParser

from conftest import subprocess_env

# The app is served by the native server: skipped, like the other integration tests, without it.
pytestmark = pytest.mark.usefixtures("native_server")


def make_app(log: list[str] | None = None) -> App:
    app = App(shutdown_timeout=5.0)
    seen: dict[str, object] = {}
    app.state_seen = seen  # type: ignore[attr-defined]

    if log is not None:
        app.on_startup(lambda: log.append("startup"))

        async def down() -> None:
            log.append("shutdown")

        app.on_shutdown(down)

    @app.get("/items/{item_id:int}")
    def item(item_id: int, q: str = "") -> dict:
        return {"id": item_id, "q": q}

    @app.post("/echo")
    def echo(request: Request) -> dict:
        return {"body": request.json(), "ua": request.headers.get("x-test", "")}

    @app.get("/teapot")
    def teapot() -> None:
        raise HTTPException(418, "short and stout")

    @app.get("/seen/{key}")
    def get_seen(key: str) -> dict:
        return {"value": seen.get(key)}

    @app.websocket("/ws/echo", subprotocols=("chat.v2", "chat.v1"))
    async def ws_echo(ws: WebSocket) -> None:
        await ws.accept(headers={"x-accepted": ws.headers.get("x-token", "")})
        try:
            async for m in ws:
                await ws.send(m)
        finally:
            seen["echo_close"] = ws.close_code

    @app.websocket("/ws/bye")
    async def ws_bye(ws: WebSocket) -> None:
        await ws.accept()
        name = await ws.receive_text()
        await ws.send_json({"hello": name})
        await ws.close(4001, "bye " + name)

    @app.websocket("/ws/private", allowed_origins=("https://ok.example",))
    async def ws_private(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send("in")

    @app.sse("/sse/count")
    async def count(request: Request):
        start = int(request.last_event_id or 0) + 1
        for n in range(start, start + 3):
            yield {"event": "n", "data": str(n), "id": str(n)}

    @app.sse("/sse/shapes")
    async def shapes(request: Request):
        yield ServerSentEvent(data="line1\nline2", retry=2500)
        yield ServerSentEvent(comment="just a comment")
        yield {"data": {"k": [1, 2]}, "event": "json"}

    app.add_sse_route("/sse/topic", topic="news")
    return app


def fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


class Leaks:
    """Threads and fds that appeared since creation and are still there. Only new ones
    count: a thread or fd of an earlier test that goes away meanwhile is not a failure."""

    def __init__(self) -> None:
        self.threads = set(threading.enumerate())
        self.fds = fds()

    def check(self) -> None:
        new_threads = set(threading.enumerate()) - self.threads
        assert not new_threads, new_threads
        new_fds = {fd: os.path.realpath(f"/proc/self/fd/{fd}") for fd in fds() - self.fds}
        assert not new_fds, new_fds


def test_http_and_lifespan_hooks() -> None:
    log: list[str] = []
    app = make_app(log)
    with TestClient(app) as client:
        assert log == ["startup"]
        assert client.port > 0
        r = client.get("/items/7", params={"q": "x"})
        assert (r.status_code, r.json()) == (200, {"id": 7, "q": "x"})
        r = client.post("/echo", json={"a": [1, 2]}, headers={"x-test": "yes"})
        assert r.json() == {"body": {"a": [1, 2]}, "ua": "yes"}
        assert client.get("/teapot").status_code == 418
        assert client.get("/nope").status_code == 404
        port = client.port
    assert log == ["startup", "shutdown"]
    # Stopped: the port no longer listens.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_startup_exception_surfaces_and_nothing_is_left_behind() -> None:
    app = make_app()

    def boom() -> None:
        raise RuntimeError("database unreachable")

    app.on_startup(boom)
    leaks = Leaks()
    with pytest.raises(RuntimeError, match="database unreachable"):
        with TestClient(app):
            pytest.fail("the with-body must not run when startup failed")  # pragma: no cover
    leaks.check()


def test_shutdown_exception_surfaces() -> None:
    app = make_app()

    def bad() -> None:
        raise ValueError("flush failed")

    app.on_shutdown(bad)
    with pytest.raises(ValueError, match="flush failed"):
        with TestClient(app) as client:
            assert client.get("/items/1").status_code == 200


def test_no_threads_or_fds_left_behind() -> None:
    app = make_app()
    leaks = Leaks()
    for _ in range(3):  # the same App can be served again
        with TestClient(app) as client:
            assert client.get("/items/1").status_code == 200
            ws = client.websocket_connect("/ws/echo")  # left open on purpose: exit closes it
            ws.send_text("x")
            assert ws.receive_text() == "x"
            with client.sse_connect("/sse/count") as events:
                assert next(events).data == "1"
    leaks.check()


def test_websocket_text_bytes_json_subprotocol_and_headers() -> None:
    app = make_app()
    with TestClient(app) as client:
        with client.websocket_connect("/ws/echo", subprotocols=["chat.v1", "chat.v2"],
                                      headers={"x-token": "t0k"}) as ws:
            assert ws.subprotocol == "chat.v1"  # the client's first offer the route lists
            assert ws.response_headers["x-accepted"] == "t0k"
            ws.send_text("héllo")
            assert ws.receive_text() == "héllo"
            ws.send_bytes(b"\x00\xff")
            assert ws.receive_bytes() == b"\x00\xff"
            ws.send_json({"a": 1})
            assert ws.receive_json() == {"a": 1}
            ws.send_json([1], mode="binary")
            assert ws.receive_bytes() == b"[1]"
            ws.send_text("typed")
            with pytest.raises(TypeError):
                ws.receive_bytes()
        # The client's close code reached the handler.
        assert client.get("/seen/echo_close").json() == {"value": 1000}


def test_websocket_server_close_raises_disconnect_with_code_and_reason() -> None:
    with TestClient(make_app()) as client:
        with client.websocket_connect("/ws/bye") as ws:
            ws.send_text("ann")
            assert ws.receive_json() == {"hello": "ann"}
            with pytest.raises(WebSocketDisconnect) as info:
                ws.receive()
            assert (info.value.code, info.value.reason) == (4001, "bye ann")
            assert ws.close_code == 4001


def test_websocket_rejected_handshake() -> None:
    with TestClient(make_app()) as client:
        with pytest.raises(WebSocketRejected) as info:
            client.websocket_connect("/ws/private", headers={"Origin": "https://evil.example"})
        assert info.value.status_code == 403
        with pytest.raises(WebSocketRejected) as info:
            client.websocket_connect("/ws/none")
        assert info.value.status_code == 404
        with client.websocket_connect("/ws/private", headers={"Origin": "https://ok.example"}) as ws:
            assert ws.receive_text() == "in"


def test_server_stop_closes_open_websocket_with_1001() -> None:
    app = make_app()
    with TestClient(app) as client:
        ws = client.websocket_connect("/ws/echo")
        ws.send_text("before")
        assert ws.receive_text() == "before"
        client.call(app.stop)  # what leaving the with-block does, observed from a live client
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive()
        assert info.value.code == 1001


def test_receive_times_out_instead_of_hanging() -> None:
    with TestClient(make_app(), timeout=0.3) as client:
        with client.websocket_connect("/ws/echo") as ws:
            with pytest.raises(TimeoutError):
                ws.receive()


def test_sse_events_and_last_event_id() -> None:
    with TestClient(make_app()) as client:
        with client.sse_connect("/sse/count") as events:
            assert events.response.headers["content-type"].startswith("text/event-stream")
            got = list(events)  # the generator ends, so does the stream
            assert got == [SSEEvent("n", "1", "1"), SSEEvent("n", "2", "2"), SSEEvent("n", "3", "3")]
            assert events.last_event_id == "3"
        with client.sse_connect("/sse/count", last_event_id=events.last_event_id) as resumed:
            assert [e.data for e in resumed] == ["4", "5", "6"]


def test_sse_multiline_data_retry_comments_and_default_event() -> None:
    with TestClient(make_app()) as client:
        with client.sse_connect("/sse/shapes") as events:
            first, second = list(events)
    assert first == SSEEvent("message", "line1\nline2", "", 2500)
    assert (second.event, second.json(), second.retry) == ("json", {"k": [1, 2]}, None)
    assert events.retry == 2500


def test_sse_connect_refuses_a_non_stream() -> None:
    with TestClient(make_app()) as client:
        with pytest.raises(httpx.HTTPStatusError, match="404"):
            with client.sse_connect("/missing"):
                pass  # pragma: no cover


def test_call_publishes_from_the_server_thread() -> None:
    app = make_app()
    with TestClient(app) as client:
        with client.sse_connect("/sse/topic") as events:
            assert client.call(app.subscribers, "news") == 1
            assert client.call(app.publish, "news", "extra!", id=9) == 1
            assert next(events) == SSEEvent("message", "extra!", "9")


@pytest.mark.parametrize("lines, expected", [
    # CR/LF handling is the line splitter's job; these are the field rules.
    (["data: a", "data:b", "", ""], [SSEEvent("message", "a\nb", "")]),
    (["\ufeffdata: bom", ""], [SSEEvent("message", "bom", "")]),
    ([": comment", "event: x", "data", ""], [SSEEvent("x", "", "")]),
    (["id: 1", "", "data: d", ""], [SSEEvent("message", "d", "1")]),  # id without data still sets it
    (["id: 2", "data: d", "", "data: e", ""], [SSEEvent("message", "d", "2"), SSEEvent("message", "e", "2")]),
    (["id: a\0b", "data: d", ""], [SSEEvent("message", "d", "")]),  # an id with NUL is ignored
    (["retry: 12x", "data: d", ""], [SSEEvent("message", "d", "")]),
    (["retry: 30", "data: d", ""], [SSEEvent("message", "d", "", 30)]),
    (["data:  two spaces", ""], [SSEEvent("message", " two spaces", "")]),
    (["data: incomplete"], []),  # no blank line: never dispatched
    (["unknown: x", "data: d", ""], [SSEEvent("message", "d", "")]),
])
def test_sse_parser_rules(lines: list[str], expected: list[SSEEvent]) -> None:
    p = _SSEParser()
    assert [ev for line in lines if (ev := p.feed(line)) is not None] == expected


def test_async_client() -> None:
    log: list[str] = []
    app = make_app(log)

    async def main() -> None:
        async with AsyncTestClient(app) as client:
            assert log == ["startup"]
            r = await client.get("/items/3")
            assert r.json() == {"id": 3, "q": ""}
            async with client.websocket_connect("/ws/echo", subprotocols=["chat.v2"]) as ws:
                assert ws.subprotocol == "chat.v2"
                await ws.send_text("a")
                assert await ws.receive_text() == "a"
                await ws.send_json({"x": None})
                assert await ws.receive_json() == {"x": None}
            async with client.websocket_connect("/ws/bye") as ws:
                await ws.send_text("bo")
                assert await ws.receive_json() == {"hello": "bo"}
                with pytest.raises(WebSocketDisconnect) as info:
                    await ws.receive()
                assert info.value.code == 4001
            async with client.sse_connect("/sse/count", last_event_id="10") as events:
                assert [e.id async for e in events] == ["11", "12", "13"]
            async with client.sse_connect("/sse/topic") as events:
                assert await client.call(app.publish, "news", "n1", id=1) == 1
                assert (await anext(events)).data == "n1"
            with pytest.raises(WebSocketRejected):
                async with client.websocket_connect("/ws/private", headers={"Origin": "https://evil.example"}):
                    pass  # pragma: no cover
        assert log == ["startup", "shutdown"]

    leaks = Leaks()
    asyncio.run(asyncio.wait_for(main(), 60))
    leaks.check()


def test_sync_client_inside_an_async_test() -> None:
    async def main() -> None:
        # The server has its own loop, so blocking calls from this loop cannot deadlock it.
        with TestClient(make_app()) as client:
            assert client.get("/items/2").json()["id"] == 2

    asyncio.run(main())


def test_missing_test_extra_gives_a_clear_import_error() -> None:
    code = ("import sys; sys.modules['httpx'] = None\n"
            "try:\n    import fasterapi.testclient\n"
            "except ImportError as e:\n    print(e)\n")
    p = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), capture_output=True, text=True,
                       timeout=60, cwd="/")
    assert p.returncode == 0, p.stderr
    assert "pip install fasterapi[test]" in p.stdout and "httpx" in p.stdout


def test_docs_testing_examples_run() -> None:
    """docs/testing.md: its python blocks, executed in order in one namespace, and their tests run."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "testing.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 2
    ns: dict[str, object] = {"__name__": "docs_testing"}
    for block in blocks:
        exec(compile(block, "docs/testing.md", "exec"), ns)
    tests = [fn for name, fn in ns.items() if name.startswith("test_") and callable(fn)]
    assert len(tests) == 4
    for fn in tests:
        fn()


def test_async_websocket_connect_can_be_awaited() -> None:
    async def main() -> None:
        async with AsyncTestClient(make_app()) as client:
            ws = await client.websocket_connect("/ws/echo")
            await ws.send_bytes(b"abc")
            assert await ws.receive_bytes() == b"abc"
            # Left open on purpose: leaving the client closes it.

    leaks = Leaks()
    asyncio.run(asyncio.wait_for(main(), 60))
    leaks.check()
