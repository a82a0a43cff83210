"""Native pub/sub: ws.subscribe/unsubscribe, app.publish fan-out to WebSocket and SSE subscribers."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
from httpx_sse import aconnect_sse
from websockets.asyncio.client import ClientConnection, connect

from conftest import ServerProcess


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


async def subscriber(server: ServerProcess, topic: str, compression: bool = True) -> ClientConnection:
    ws = await connect(f"{server.ws_url}/ws/topic/{topic}", compression="deflate" if compression else None)
    assert await ws.recv() == "subscribed"
    return ws


async def publish(c: httpx.AsyncClient, topic: str, body: bytes | str, binary: bool = False) -> dict:
    r = await c.post(f"/publish/{topic}", content=body, params={"binary": "1"} if binary else None)
    assert r.status_code == 200, r.text
    return r.json()


async def assert_nothing_pending(ws: ClientConnection) -> None:
    """Nothing was delivered before this round trip (one connection preserves order)."""
    await ws.send("probe")
    assert await ws.recv() == "echo:probe"


def test_many_subscribers_get_one_publish(server: ServerProcess) -> None:
    topic = "t-" + uuid.uuid4().hex

    async def main() -> None:
        subs = [await subscriber(server, topic, compression=i % 2 == 0) for i in range(8)]
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as c:
            assert (await c.get(f"/subscribers/{topic}")).json() == {"subscribers": 8}
            assert await publish(c, topic, "hello all") == {"delivered": 8, "subscribers": 8}
            assert await asyncio.gather(*(ws.recv() for ws in subs)) == ["hello all"] * 8
            assert (await publish(c, topic, b"\x00\xffbin", binary=True))["delivered"] == 8
            assert await asyncio.gather(*(ws.recv() for ws in subs)) == [b"\x00\xffbin"] * 8
            r = await c.post(f"/publish-json/{topic}", json={"k": [1, 2]})
            assert r.json() == {"delivered": 8}
            got = await asyncio.gather(*(ws.recv() for ws in subs))
            assert [json.loads(g) for g in got] == [{"k": [1, 2]}] * 8
        for ws in subs:
            await ws.close()

    run(main())


def test_publish_to_topic_without_subscribers_returns_zero(server: ServerProcess) -> None:
    r = httpx.post(f"{server.url}/publish/nobody-{uuid.uuid4().hex}", content="x", timeout=10)
    assert r.json() == {"delivered": 0, "subscribers": 0}


def test_unsubscribe_stops_delivery(server: ServerProcess) -> None:
    topic = "u-" + uuid.uuid4().hex

    async def main() -> None:
        a, b = await subscriber(server, topic), await subscriber(server, topic)
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as c:
            await a.send("unsubscribe")
            assert await a.recv() == "unsubscribed"
            assert (await publish(c, topic, "only b"))["delivered"] == 1
            assert await b.recv() == "only b"
            await assert_nothing_pending(a)
        await a.close()
        await b.close()

    run(main())


def test_disconnected_subscribers_are_dropped(server: ServerProcess) -> None:
    topic = "d-" + uuid.uuid4().hex

    async def main() -> None:
        a, b = await subscriber(server, topic), await subscriber(server, topic)
        await a.close()
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as c:
            for _ in range(100):  # the close is processed asynchronously by the server
                if (await c.get(f"/subscribers/{topic}")).json()["subscribers"] == 1:
                    break
                await asyncio.sleep(0.05)
            assert (await publish(c, topic, "after a left")) == {"delivered": 1, "subscribers": 1}
            assert await b.recv() == "after a left"
        await b.close()

    run(main())


def test_topics_are_independent(server: ServerProcess) -> None:
    t1, t2 = "i1-" + uuid.uuid4().hex, "i2-" + uuid.uuid4().hex

    async def main() -> None:
        a, b = await subscriber(server, t1), await subscriber(server, t2)
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as c:
            assert (await publish(c, t1, "for t1"))["delivered"] == 1
            assert await a.recv() == "for t1"
            await assert_nothing_pending(b)
        await a.close()
        await b.close()

    run(main())


def test_publish_reaches_websocket_and_sse_subscribers(server: ServerProcess) -> None:
    async def main() -> None:
        ws = await subscriber(server, "mixed")
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as c:
            async with aconnect_sse(c, "GET", "/sse/topic/mixed") as source:
                it = source.aiter_sse()
                # Subscribed before the response head went out.
                assert (await c.get("/subscribers/mixed")).json()["subscribers"] == 2
                r = await c.post("/publish-sse/mixed?id=9", content="to both")
                assert r.json() == {"delivered": 2}
                ev = await it.__anext__()
                assert (ev.event, ev.data, ev.id) == ("news", "to both", "9")
                assert await ws.recv() == "to both"
        await ws.close()

    run(main())


def test_ordering_many_publishes(server: ServerProcess) -> None:
    topic = "o-" + uuid.uuid4().hex

    async def main() -> None:
        subs = [await subscriber(server, topic) for _ in range(3)]
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as c:
            for i in range(50):
                assert (await publish(c, topic, f"m{i}"))["delivered"] == 3
        for ws in subs:
            assert [await ws.recv() for _ in range(50)] == [f"m{i}" for i in range(50)]
            await ws.close()

    run(main())


@pytest.mark.parametrize("n", [1, 3])
def test_publish_delivery_count(server: ServerProcess, n: int) -> None:
    topic = "c-" + uuid.uuid4().hex

    async def main() -> None:
        subs = [await subscriber(server, topic) for _ in range(n)]
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as c:
            assert (await publish(c, topic, "count me"))["delivered"] == n
        for ws in subs:
            assert await ws.recv() == "count me"
            await ws.close()

    run(main())


def test_publish_to_deflate_subscribers_with_shared_and_own_compression(server: ServerProcess) -> None:
    """Subscribers without server context takeover share one compressed frame per window size;
    one with context takeover compresses with its own context. Every one must inflate every
    message: the payload repeats a 2 KiB random block, so a frame compressed with a 32 KiB
    window would refer 2 KiB back, which a client that agreed to a 1 KiB window cannot follow."""
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

    topic = "z-" + uuid.uuid4().hex
    offers = {
        "takeover": ClientPerMessageDeflateFactory(),
        "shared-15": ClientPerMessageDeflateFactory(server_no_context_takeover=True),
        "shared-10": ClientPerMessageDeflateFactory(server_no_context_takeover=True, server_max_window_bits=10),
        "shared-10b": ClientPerMessageDeflateFactory(server_no_context_takeover=True, server_max_window_bits=10),
    }

    async def main() -> None:
        subs = {}
        for name, offer in offers.items():
            ws = await connect(f"{server.ws_url}/ws/topic-deflate/{topic}", compression=None, extensions=[offer])
            assert await ws.recv() == "subscribed"
            subs[name] = ws
        import os

        block = os.urandom(1024).hex()  # 2 KiB of text, incompressible on its own
        messages = [f"{i}:" + block + block + block for i in range(20)] + ["short", ""]
        async with httpx.AsyncClient(base_url=server.url) as c:
            before = (await c.get("/stats")).json()["shared_compressions"]
            for m in messages:
                assert (await publish(c, topic, m))["delivered"] == len(offers)
            # One compression per window size (15 and 10) per message, not one per subscriber.
            assert (await c.get("/stats")).json()["shared_compressions"] - before == 2 * len(messages)
        for name, ws in subs.items():
            for m in messages:
                assert await ws.recv() == m, name
            await assert_nothing_pending(ws)
            await ws.close()
    run(main())
