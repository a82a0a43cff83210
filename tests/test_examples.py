"""The examples: behaviour through fasterapi.testclient (the app in-process, real sockets),
and each one started as a script with --host/--port (the path their docstrings show)."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
from types import ModuleType

import httpx
import pytest
from websockets.sync.client import connect as ws_connect

from conftest import EXAMPLES, REPO, Spawner
from fasterapi import WebSocketDisconnect
from fasterapi.testclient import AsyncTestClient, SSEEvent, TestClient

_loaded: dict[str, ModuleType] = {}

# The app is served by the native server: skipped, like the other integration tests, without it.
pytestmark = pytest.mark.usefixtures("native_server")


def example(name: str) -> ModuleType:
    """examples/<name>.py imported as a module (once per test session)."""
    if name not in _loaded:
        if str(REPO) not in sys.path:  # conformance_app imports the repo's conformance package
            sys.path.insert(0, str(REPO))
        spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _loaded[name] = module
    return _loaded[name]


# --- behaviour, with TestClient ----------------------------------------------------------------

def test_websocket_demo_echo_with_deflate_and_big_messages() -> None:
    with TestClient(example("websocket_demo").app, timeout=30) as client:
        with client.websocket_connect("/") as ws:
            assert ws.response_headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
            ws.send_text("echo me")
            assert ws.receive_text() == "echo me"
            big = os.urandom(8 << 20)  # within the demo's 16 MiB limit
            ws.send_bytes(big)
            assert ws.receive_bytes() == big
        with client.websocket_connect("/") as ws:
            ws.send_bytes(b"x" * ((16 << 20) + 1))  # over the limit: 1009 Message Too Big
            with pytest.raises(WebSocketDisconnect) as info:
                ws.receive()
            assert info.value.code == 1009


def test_websocket_chat_page_and_rooms() -> None:
    with TestClient(example("websocket_chat").app) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "<title>FasterAPI chat</title>" in page.text and "new WebSocket(" in page.text

        with client.websocket_connect("/ws/lobby?name=alice") as alice:
            assert alice.receive_json() == {"type": "system", "text": "alice joined lobby"}
            with client.websocket_connect("/ws/lobby?name=bob") as bob:
                assert bob.receive_json() == {"type": "system", "text": "bob joined lobby"}
                assert alice.receive_json() == {"type": "system", "text": "bob joined lobby"}
                alice.send_text("hi bob")
                expected = {"type": "message", "name": "alice", "text": "hi bob"}
                assert alice.receive_json() == expected
                assert bob.receive_json() == expected
                bob.send_bytes(b"binary is ignored")
                bob.send_text("hi alice")
                expected = {"type": "message", "name": "bob", "text": "hi alice"}
                assert bob.receive_json() == expected
                assert alice.receive_json() == expected
                # Another room hears nothing of the lobby.
                with client.websocket_connect("/ws/other?name=carol") as carol:
                    assert carol.receive_json() == {"type": "system", "text": "carol joined other"}
                    alice.send_text("lobby only")
                    assert bob.receive_json()["text"] == "lobby only"
                    assert alice.receive_json()["text"] == "lobby only"
                    carol.send_text("other only")
                    assert carol.receive_json()["text"] == "other only"
            assert alice.receive_json() == {"type": "system", "text": "bob left"}
            alice.send_text("x" * 5000)  # messages are cut at 4096 characters
            assert alice.receive_json()["text"] == "x" * 4096


def test_websocket_chat_rejects_oversized_messages() -> None:
    with TestClient(example("websocket_chat").app) as client:
        with client.websocket_connect("/ws/big?name=zed") as ws:
            ws.receive_json()
            ws.send_text("y" * ((64 << 10) + 1))  # the route's max_message_size is 64 KiB
            with pytest.raises(WebSocketDisconnect) as info:
                while True:
                    ws.receive()
            assert info.value.code == 1009


def test_sse_demo_page_ticks_and_resume() -> None:
    with TestClient(example("sse_demo").app) as client:
        page = client.get("/")
        assert page.status_code == 200 and "EventSource" in page.text
        with client.sse_connect("/events") as events:
            ticks = [next(events) for _ in range(2)]
        assert [(e.event, e.id) for e in ticks] == [("tick", "1"), ("tick", "2")]
        assert all(len(e.data) == 8 and e.data.count(":") == 2 for e in ticks)  # HH:MM:SS
        with client.sse_connect("/events", last_event_id="10") as events:
            assert next(events).id == "11"


def test_sse_notifications_reach_every_subscriber_and_replay() -> None:
    app = example("sse_notifications").app
    with TestClient(app) as client:
        with client.sse_connect("/notifications") as one, client.sse_connect("/notifications") as two:
            # Subscribed before the response head went out: the first POST reaches both.
            r = client.post("/notify", content="hello subscribers")
            assert r.status_code == 200
            sent = r.json()
            assert sent["delivered"] == 2
            for events in (one, two):
                assert next(events) == SSEEvent("notification", "hello subscribers", str(sent["id"]))
            second = client.post("/notify", content="second").json()
            assert next(one).data == "second"
        # Missed while away: replayed from the buffer after Last-Event-ID.
        third = client.post("/notify", content="third").json()
        assert third["delivered"] == 0
        with client.sse_connect("/notifications", last_event_id=str(sent["id"])) as events:
            assert [next(events).data for _ in range(2)] == ["second", "third"]
            assert events.last_event_id == str(third["id"])
        assert second["id"] < third["id"]
        r = client.post("/notify", content="")
        assert r.status_code == 400


def test_conformance_app_contract_with_the_async_client() -> None:
    module = example("conformance_app")
    from conformance.sse_suite import EXPECTED_EVENTS

    async def main() -> None:
        async with AsyncTestClient(module.app) as client:
            r = await client.get("/")
            assert (r.status_code, r.text) == (200, "Hello, World!")
            r = await client.post("/echo", content=b"\x00body\xff")
            assert r.content == b"\x00body\xff"
            assert (await client.get("/elsewhere")).status_code == 404
            async with client.sse_connect("/sse/conformance") as events:
                got = [ev async for ev in events]
            # What EventSource would see: line breaks inside data become "\n", and an
            # event without an id keeps the previous lastEventId.
            last = ""
            expected = []
            for ev in EXPECTED_EVENTS:
                last = ev.id if ev.id is not None else last
                data = ev.data.replace("\r\n", "\n").replace("\r", "\n")
                expected.append(SSEEvent(ev.event or "message", data, last, ev.retry))
            assert got == expected
            async with client.sse_connect("/sse/conformance", last_event_id="12") as events:
                assert [ev.id async for ev in events] == ["13", "14"]

    asyncio.run(asyncio.wait_for(main(), 60))


# --- the scripts themselves: `python examples/x.py --host H --port P` ---------------------------

@pytest.mark.parametrize("name", ["websocket_demo", "websocket_chat", "sse_demo", "sse_notifications",
                                  "conformance_app"])
def test_example_script_starts_and_answers(spawn: Spawner, name: str) -> None:
    srv = spawn.example(name)
    if name == "websocket_demo":
        with ws_connect(srv.ws_url + "/", open_timeout=10) as ws:
            ws.send("over the script")
            assert ws.recv(timeout=10) == "over the script"
    elif name == "sse_notifications":
        r = httpx.post(srv.url + "/notify", content="nobody listens", timeout=10)
        assert (r.status_code, r.json()["delivered"]) == (200, 0)
    else:
        assert httpx.get(srv.url + "/", timeout=10).status_code == 200
    assert srv.stop() == 0
