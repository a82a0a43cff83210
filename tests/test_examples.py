"""Each example starts with --host/--port and answers its main route."""

from __future__ import annotations

import asyncio
import json
import os

import httpx
from httpx_sse import connect_sse
from websockets.asyncio.client import ClientConnection, connect

from conftest import Spawner


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_websocket_demo_echo(spawn: Spawner) -> None:
    srv = spawn.example("websocket_demo")

    async def main() -> None:
        async with connect(srv.ws_url + "/", max_size=None) as ws:
            assert ws.response.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
            await ws.send("echo me")
            assert await ws.recv() == "echo me"
            big = os.urandom(8 << 20)  # within the demo's 16 MiB limit
            await ws.send(big)
            assert await ws.recv() == big

    run(main())


async def _next_json(ws: ClientConnection) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), 10))


def test_websocket_chat_page_and_room(spawn: Spawner) -> None:
    srv = spawn.example("websocket_chat")
    page = httpx.get(srv.url + "/", timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<title>FasterAPI chat</title>" in page.text and "new WebSocket(" in page.text

    async def main() -> None:
        async with connect(srv.ws_url + "/ws/lobby?name=alice") as alice:
            assert await _next_json(alice) == {"type": "system", "text": "alice joined lobby"}
            async with connect(srv.ws_url + "/ws/lobby?name=bob") as bob:
                assert await _next_json(bob) == {"type": "system", "text": "bob joined lobby"}
                assert await _next_json(alice) == {"type": "system", "text": "bob joined lobby"}
                await alice.send("hi bob")
                expected = {"type": "message", "name": "alice", "text": "hi bob"}
                assert await _next_json(alice) == expected
                assert await _next_json(bob) == expected
                await bob.send("hi alice")
                expected = {"type": "message", "name": "bob", "text": "hi alice"}
                assert await _next_json(bob) == expected
                assert await _next_json(alice) == expected
                # Another room hears nothing of the lobby.
                async with connect(srv.ws_url + "/ws/other?name=carol") as carol:
                    assert await _next_json(carol) == {"type": "system", "text": "carol joined other"}
                    await alice.send("lobby only")
                    assert (await _next_json(bob))["text"] == "lobby only"
                    assert (await _next_json(alice))["text"] == "lobby only"
                    await carol.send("other only")
                    assert (await _next_json(carol))["text"] == "other only"
            assert await _next_json(alice) == {"type": "system", "text": "bob left"}

    run(main())


def test_sse_demo_page_and_ticks(spawn: Spawner) -> None:
    srv = spawn.example("sse_demo")
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        page = c.get("/")
        assert page.status_code == 200 and "EventSource" in page.text
        with connect_sse(c, "GET", "/events") as source:
            it = source.iter_sse()
            ticks = [next(it) for _ in range(2)]
        assert [(e.event, e.id) for e in ticks] == [("tick", "1"), ("tick", "2")]
        assert all(len(e.data) == 8 and e.data.count(":") == 2 for e in ticks)  # HH:MM:SS
        with connect_sse(c, "GET", "/events", headers={"Last-Event-ID": "10"}) as source:
            assert next(source.iter_sse()).id == "11"


def test_sse_notifications_post_reaches_subscriber(spawn: Spawner) -> None:
    srv = spawn.example("sse_notifications")
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        with connect_sse(c, "GET", "/notifications") as source:
            it = source.iter_sse()
            # Subscribed before the response head went out: the first POST reaches this stream.
            r = httpx.post(srv.url + "/notify", content="hello subscribers", timeout=10)
            assert r.status_code == 200
            assert r.json()["delivered"] == 1
            ev = next(it)
            assert (ev.data, ev.id) == ("hello subscribers", str(r.json()["id"]))
            assert ev.event == "notification"
