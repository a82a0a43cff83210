"""The app behind the integration tests: every HTTP, WebSocket, SSE and pub/sub route they use.

    python tests/apps/main_app.py --port 0        (or: python -m fasterapi run tests.apps.main_app:app)
Handlers record what they observed (close codes, generator cleanup, ...) in STATE;
tests read it back at GET /_state/{key} (404 until recorded), so every check goes
over the wire like a real client.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from fasterapi import (
    App,
    HTTPException,
    Request,
    Response,
    ServerSentEvent,
    WebSocket,
    WebSocketDisconnect,
)

app = App()
STATE: dict[str, Any] = {}


def record(key: str | None, value: Any) -> None:
    if key:
        STATE[key] = value


@app.get("/_state/{key}")
def state(key: str) -> Any:
    if key not in STATE:
        raise HTTPException(404, "not recorded")
    return {"value": STATE[key]}


# --- HTTP ------------------------------------------------------------------------
@app.get("/hello")
def hello() -> str:
    return "hello"


@app.get("/async")
async def async_route() -> dict:
    await asyncio.sleep(0)
    return {"async": True}


@app.get("/items/{item_id:int}")
async def item(request: Request, item_id: int) -> dict:
    return {"id": item_id, "type": type(item_id).__name__}


@app.get("/files/{rest:path}")
def files(rest: str) -> dict:
    return {"rest": rest}


@app.get("/query")
def query(q: str, n: int = 1, flag: bool = False) -> dict:
    return {"q": q, "n": n, "flag": flag}


@app.get("/headers")
def headers(request: Request) -> Response:
    return Response(request.headers.get("x-test", "missing"), headers={"X-Reply": "yes"})


@app.post("/json")
def json_echo(request: Request) -> dict:
    return {"got": request.json()}


@app.post("/raw")
async def raw_echo(request: Request) -> Response:
    return Response(request.body, media_type="application/octet-stream")


@app.route("/write", methods=["POST", "PUT"])
def write(request: Request) -> dict:
    return {"method": request.method}


@app.get("/bytes")
def some_bytes() -> bytes:
    return bytes(range(256))


@app.get("/boom")
def boom() -> str:
    raise RuntimeError("secret detail sync-boom-1234")


@app.get("/async-boom")
async def async_boom() -> str:
    raise RuntimeError("secret detail async-boom-5678")


@app.get("/teapot")
def teapot() -> str:
    raise HTTPException(418, "short and stout", headers={"X-Tea": "earl grey"})


@app.get("/pid")
def pid() -> dict:
    return {"pid": os.getpid()}


@app.get("/peer")
def peer(request: Request) -> dict:
    return {"client": "%s:%d" % request.client}


@app.get("/slow")
async def slow(d: float = 0.2) -> str:
    await asyncio.sleep(d)
    return "slow"


# --- WebSocket -------------------------------------------------------------------
async def _echo_loop(ws: WebSocket) -> None:
    key = ws.query_params.get("key")
    await ws.accept()
    try:
        while True:
            message = await ws.receive()
            if message == "__close__":
                await ws.close(1000, "asked to")
                return
            await ws.send(message)
    except WebSocketDisconnect as exc:
        record(key, {"code": exc.code, "reason": exc.reason, "exc": "WebSocketDisconnect"})
        raise


@app.websocket("/ws/echo")
async def ws_echo(ws: WebSocket) -> None:
    await _echo_loop(ws)


@app.websocket("/ws/deflate", compression=True)
async def ws_deflate(ws: WebSocket) -> None:
    await _echo_loop(ws)


@app.websocket("/ws/small", max_message_size=1024)
async def ws_small(ws: WebSocket) -> None:
    await _echo_loop(ws)


@app.websocket("/ws/iter")
async def ws_iter(ws: WebSocket) -> None:
    await ws.accept()
    async for message in ws:
        await ws.send(message)
    record(ws.query_params.get("key"), {"code": ws.close_code, "reason": ws.close_reason})


@app.websocket("/ws/send-types")
async def ws_send_types(ws: WebSocket) -> None:
    # What send() accepts: str (text), bytes and bytearray (binary); anything else is a
    # TypeError naming the type, and the connection stays usable. Before accept(): RuntimeError.
    try:
        ws.send("too early")
        early = "sent before accept()"
    except RuntimeError as exc:
        early = str(exc)
    await ws.accept()
    await ws.send(early)
    await ws.receive()
    try:
        await ws.send(123)  # type: ignore[arg-type]
    except TypeError as exc:
        await ws.send(str(exc))
    await ws.send(bytearray(b"from a bytearray"))
    await ws.send(b"from bytes")
    await ws.receive()


@app.websocket("/ws/server-close")
async def ws_server_close(ws: WebSocket) -> None:
    await ws.accept()
    await ws.receive()
    await ws.close(int(ws.query_params.get("code", "4001")), ws.query_params.get("reason", "bye"))


@app.websocket("/ws/boom")
async def ws_boom(ws: WebSocket) -> None:
    await ws.accept()
    await ws.receive()
    raise RuntimeError("secret detail ws-boom-4321")


@app.websocket("/ws/sub", subprotocols=["chat", "superchat"])
async def ws_sub(ws: WebSocket) -> None:
    want = ws.query_params.get("want")
    await ws.accept(subprotocol=want) if want else await ws.accept()
    await ws.send_json({"subprotocol": ws.subprotocol, "offered": ws.offered_subprotocols})
    await ws.receive()


@app.websocket("/ws/refuse")
async def ws_refuse(ws: WebSocket) -> None:
    status = ws.query_params.get("status")
    if status:
        await ws.close(reason="not allowed here", status=int(status))
    else:
        await ws.close()


@app.websocket("/ws/no-accept")
async def ws_no_accept(ws: WebSocket) -> None:
    return None


@app.websocket("/ws/origin", allowed_origins=["https://good.example"])
async def ws_origin(ws: WebSocket) -> None:
    await _echo_loop(ws)


@app.websocket("/ws/params/{room}/{n:int}")
async def ws_params(ws: WebSocket, room: str, n: int) -> None:
    await ws.accept(headers={"X-Room": room})
    await ws.send_json({"room": room, "n": n, "n_type": type(n).__name__, "path": ws.path,
                        "path_params": ws.path_params, "query": dict(ws.query_params),
                        "x_test": ws.headers.get("x-test"), "client": "%s:%d" % ws.client})
    await ws.receive()


@app.websocket("/ws/json")
async def ws_json(ws: WebSocket) -> None:
    await ws.accept()
    data = await ws.receive_json()
    await ws.send_json({"echo": data})
    text = await ws.receive_text()
    await ws.send_text(text.upper())
    raw = await ws.receive_bytes()
    await ws.send_bytes(raw[::-1])
    await ws.receive()


class CallbackEcho:
    """Callback-style handler: called synchronously from the native dispatch."""

    def on_open(self, ws: WebSocket) -> None:
        self.count = 0
        ws.send("welcome")

    def on_message(self, ws: WebSocket, message: str | bytes) -> None:
        self.count += 1
        if message == "boom":
            raise RuntimeError("secret detail callback-boom")
        ws.send(message)

    def on_close(self, ws: WebSocket, code: int, reason: str) -> None:
        record(ws.query_params.get("key"), {"code": code, "reason": reason, "count": self.count})


app.add_websocket_route("/ws/callback", CallbackEcho)


@app.get("/status/{code:int}")
def status(code: int) -> Response:
    return Response(b"" if code in (204, 304) else f"status {code}", status_code=code,
                    headers=[("X-Multi", "a"), ("X-Multi", "b")])


@app.get("/unserializable")
def unserializable() -> object:
    return object()


@app.get("/async-unserializable")
async def async_unserializable() -> object:
    return {"x": object()}


@app.get("/slow-cancel")
async def slow_cancel(key: str) -> str:
    try:
        await asyncio.sleep(30)
    except asyncio.CancelledError:
        record(key, "cancelled")
        raise
    return "finished"


@app.websocket("/ws/slow-accept")
async def ws_slow_accept(ws: WebSocket) -> None:
    key = ws.query_params.get("key")
    await asyncio.sleep(0.5)  # the client is gone by now
    try:
        await ws.accept()
    except WebSocketDisconnect as exc:
        record(key, {"accept_raised": "WebSocketDisconnect", "code": exc.code})
        raise
    record(key, {"accept_raised": None})


@app.get("/big")
def big(n: int = 8 << 20) -> bytes:
    return bytes(range(256)) * (n // 256)


@app.websocket("/ws/fastping", ping_interval=0.3, pong_timeout=0.6)
async def ws_fastping(ws: WebSocket) -> None:
    await _echo_loop(ws)


@app.websocket("/ws/small-deflate", compression=True, max_message_size=1024)
async def ws_small_deflate(ws: WebSocket) -> None:
    await _echo_loop(ws)


@app.websocket("/ws/send-after-close")
async def ws_send_after_close(ws: WebSocket) -> None:
    key = ws.query_params.get("key")
    await ws.accept()
    try:
        await ws.receive()
    except WebSocketDisconnect:
        pass
    try:
        await ws.send("too late")
    except WebSocketDisconnect as exc:
        record(key, {"send_raised": "WebSocketDisconnect", "code": exc.code})
    else:
        record(key, {"send_raised": None})


@app.websocket("/ws/no-read", max_queue=4)
async def ws_no_read(ws: WebSocket) -> None:
    await ws.accept()
    while ws.close_code is None:  # never reads: the receive queue fills up
        await asyncio.sleep(0.05)
    record(ws.query_params.get("key"), {"code": ws.close_code, "reason": ws.close_reason})


@app.websocket("/ws/returns")
async def ws_returns(ws: WebSocket) -> None:
    await ws.accept()
    await ws.receive()


async def _slow_subscriber(ws: WebSocket, name: str) -> None:
    key = ws.query_params.get("key")
    await ws.accept()
    ws.subscribe(name)
    await ws.send("subscribed")
    try:
        while True:
            message = await ws.receive()
            await ws.send("echo:" + str(message))
    except WebSocketDisconnect as exc:
        record(key, {"code": exc.code, "reason": exc.reason})


@app.websocket("/ws/slow-close/{name}", slow_policy="close", max_backlog=64 << 10)
async def ws_slow_close(ws: WebSocket, name: str) -> None:
    await _slow_subscriber(ws, name)


@app.websocket("/ws/slow-drop/{name}", slow_policy="drop", max_backlog=64 << 10)
async def ws_slow_drop(ws: WebSocket, name: str) -> None:
    await _slow_subscriber(ws, name)


# --- pub/sub -----------------------------------------------------------------------
@app.websocket("/ws/topic/{name}")
async def ws_topic(ws: WebSocket, name: str) -> None:
    await ws.accept()
    ws.subscribe(name)
    await ws.send("subscribed")
    async for message in ws:
        if message == "unsubscribe":
            ws.unsubscribe(name)
            await ws.send("unsubscribed")
        else:
            await ws.send("echo:" + str(message))


@app.websocket("/ws/topic-deflate/{name}", compression=True)
async def ws_topic_deflate(ws: WebSocket, name: str) -> None:
    await ws_topic(ws, name)


@app.post("/publish/{topic}")
def publish(request: Request, topic: str) -> dict:
    binary = request.query_params.get("binary") == "1"
    data: Any = request.body if binary else request.text()
    return {"delivered": app.publish(topic, data), "subscribers": app.subscribers(topic)}


@app.post("/publish-json/{topic}")
def publish_json(request: Request, topic: str) -> dict:
    return {"delivered": app.publish(topic, request.json())}


@app.post("/publish-sse/{topic}")
def publish_sse(request: Request, topic: str) -> dict:
    ev_id = request.query_params.get("id")
    return {"delivered": app.publish(topic, request.text(), event="news", id=ev_id)}


@app.get("/stats")
def stats() -> dict:
    return app.stats()


@app.get("/subscribers/{topic}")
def subscribers(topic: str) -> dict:
    return {"subscribers": app.subscribers(topic)}


# --- SSE ---------------------------------------------------------------------------
@app.sse("/sse/basic")
async def sse_basic(request: Request):
    yield {"data": "first", "id": "1", "event": "greeting"}
    yield {"data": "line one\nline two\nline three", "id": "2"}
    yield {"comment": "just a comment"}
    yield ServerSentEvent(data="with retry", retry=2500, id="3")
    yield "plain string"
    yield {"data": {"json": [1, 2]}, "event": "obj"}


@app.sse("/sse/forever")
async def sse_forever(request: Request):
    key = request.query_params.get("key")
    n = 0
    try:
        while True:
            n += 1
            yield {"data": str(n), "id": str(n)}
            await asyncio.sleep(0.05)
    finally:
        record(key, {"stopped": True, "sent": n})


@app.sse("/sse/numbered")
async def sse_numbered(request: Request):
    """The worker's pid as a comment, then id n / data n from after Last-Event-ID: a
    deterministic stream any worker can resume."""
    yield ServerSentEvent(comment=f"pid {os.getpid()}")
    n = int(request.last_event_id or 0)
    while True:
        n += 1
        yield ServerSentEvent(data=str(n), id=str(n))
        await asyncio.sleep(0.02)


@app.sse("/sse/last-id")
async def sse_last_id(request: Request):
    yield {"data": request.last_event_id or "none"}


@app.sse("/sse/sync")
def sse_sync(request: Request, count: int = 3):
    for i in range(count):
        yield {"data": f"sync {i}", "id": str(i)}


@app.sse("/sse/inject")
async def sse_inject(request: Request):
    yield {"data": "ok", "id": "1"}
    yield {"event": "x\ndata: injected", "data": "evil"}
    yield {"data": "after", "id": "3"}


@app.sse("/sse/error")
async def sse_error(request: Request):
    yield {"data": "before"}
    raise RuntimeError("secret detail sse-boom")


@app.sse("/sse/quiet", ping_interval=0.2)
async def sse_quiet(request: Request):
    yield {"data": "only one"}
    await asyncio.Event().wait()  # silent until the client leaves: keep-alive comments only
    yield {"data": "unreachable"}


app.add_sse_route("/sse/topic/news", topic="news", replay=100)
app.add_sse_route("/sse/topic/mixed", topic="mixed")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    app.run(host=args.host, port=args.port)
