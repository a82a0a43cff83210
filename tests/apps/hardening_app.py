"""Routes for the hardening tests (tests/test_hardening.py, tests/test_load.py) and
the hostile-input suite (conformance/hostile.py).

    python tests/apps/hardening_app.py --port 0 [--request-timeout 2] [--max-connections N]
                                                [--nofile N] [--workers N]

/ws/echo                   echo
/ws/pid                    sends the worker pid, then echoes
/ws/deflate                echo with permessage-deflate, max_message_size 1 MiB
/ws/origin                 allowed_origins=["https://good.example"]; records every handler entry
/ws/raise                  raises on the first message (-> 1011)
/ws/sub-drop/{topic}       subscriber, slow_policy="drop",  max_backlog 256 KiB
/ws/sub-close/{topic}      subscriber, slow_policy="close", max_backlog 256 KiB
POST /flood/{topic}?count=N&size=S&pause=SECONDS   starts a publisher task (pause 0: full speed,
                           yielding to the loop between messages)
GET  /flood-status         its progress
POST /end/{topic}          publishes the end marker (index 0xffffffff)
GET  /stats                app.stats() + pid + this worker's open connection count
GET  /state/{key}          what handlers recorded (404 until recorded)
GET  /hello                "hello"
GET  /big?n=BYTES          a response body of n bytes (default 8 MiB)

--ssl-certfile/--ssl-keyfile serve https/wss; --uds PATH a Unix socket instead of --port.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
from typing import Any

from fasterapi import App, WebSocket

parser = argparse.ArgumentParser()
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=0)
parser.add_argument("--request-timeout", type=float, default=10.0)
parser.add_argument("--max-connections", type=int, default=10000)
parser.add_argument("--nofile", type=int, default=0, help="raise RLIMIT_NOFILE to this (soft, capped at hard)")
parser.add_argument("--workers", type=int, default=1)
parser.add_argument("--ssl-certfile", default=None)
parser.add_argument("--ssl-keyfile", default=None)
parser.add_argument("--uds", default=None)
args, _ = parser.parse_known_args()

if args.nofile:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.nofile if hard == resource.RLIM_INFINITY else min(args.nofile, hard)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

app = App(request_timeout=args.request_timeout, max_connections=args.max_connections)
STATE: dict[str, Any] = {}
ORIGIN_CALLS: list[str] = []
FLOOD = {"published": 0, "delivered": 0, "done": True}


@app.get("/hello")
def hello() -> str:
    return "hello"


@app.get("/big")
def big(n: int = 8 << 20) -> bytes:
    return bytes(range(256)) * (n // 256)


@app.get("/state/{key}")
def state(key: str) -> Any:
    from fasterapi import HTTPException

    if key not in STATE:
        raise HTTPException(404, "not recorded")
    return {"value": STATE[key]}


@app.get("/origin-calls")
def origin_calls() -> dict:
    return {"calls": ORIGIN_CALLS}


@app.get("/stats")
def stats() -> dict:
    return {"pid": os.getpid(), **app.stats()}


@app.websocket("/ws/echo")
async def ws_echo(ws: WebSocket) -> None:
    await ws.accept()
    async for message in ws:
        await ws.send(message)


@app.websocket("/ws/pid")
async def ws_pid(ws: WebSocket) -> None:
    """Tells the client which worker holds it, then echoes."""
    await ws.accept()
    await ws.send(str(os.getpid()))
    async for message in ws:
        await ws.send(message)


@app.websocket("/ws/deflate", compression=True, max_message_size=1 << 20)
async def ws_deflate(ws: WebSocket) -> None:
    await ws.accept()
    async for message in ws:
        await ws.send(message)


@app.websocket("/ws/origin", allowed_origins=["https://good.example"])
async def ws_origin(ws: WebSocket) -> None:
    ORIGIN_CALLS.append(ws.headers.get("origin", ""))
    await ws.accept()
    async for message in ws:
        await ws.send(message)


@app.websocket("/ws/raise")
async def ws_raise(ws: WebSocket) -> None:
    await ws.accept()
    await ws.receive()
    raise RuntimeError("hardening: deliberate handler failure")


async def _subscriber(ws: WebSocket, topic: str) -> None:
    await ws.accept()
    ws.subscribe(topic)
    await ws.send("subscribed")
    key = ws.query_params.get("key")
    try:
        async for _ in ws:
            pass
    finally:
        if key:
            STATE[key] = {"code": ws.close_code}


@app.websocket("/ws/sub-drop/{topic}", slow_policy="drop", max_backlog=256 << 10)
async def sub_drop(ws: WebSocket, topic: str) -> None:
    await _subscriber(ws, topic)


@app.websocket("/ws/sub-close/{topic}", slow_policy="close", max_backlog=256 << 10)
async def sub_close(ws: WebSocket, topic: str) -> None:
    await _subscriber(ws, topic)


async def _flood(topic: str, count: int, size: int, pause: float) -> None:
    try:
        for i in range(count):
            FLOOD["delivered"] += app.publish(topic, i.to_bytes(4, "big") + b"x" * max(0, size - 4))
            FLOOD["published"] = i + 1
            await asyncio.sleep(pause)  # 0: full speed, but the loop services sockets between messages
    finally:
        FLOOD["done"] = True


_TASKS: set[asyncio.Task] = set()


@app.post("/flood/{topic}")
async def flood(topic: str, count: int = 1000, size: int = 16 << 10, pause: float = 0.0) -> dict:
    # Reset before the reply: a /flood-status read before the task's first step must not see the last flood's done.
    FLOOD.update(published=0, delivered=0, done=False)
    task = asyncio.get_running_loop().create_task(_flood(topic, count, size, pause))
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)
    return {"started": True, "subscribers": app.subscribers(topic)}


@app.post("/end/{topic}")
def end_marker(topic: str) -> dict:
    """Index 0xffffffff: tells flood readers the flood is over."""
    return {"delivered": app.publish(topic, b"\xff\xff\xff\xff")}


@app.get("/flood-status")
def flood_status() -> dict:
    return FLOOD


if __name__ == "__main__":
    app.run(host=args.host, port=args.port, workers=args.workers, ssl_certfile=args.ssl_certfile,
            ssl_keyfile=args.ssl_keyfile, uds=args.uds)
