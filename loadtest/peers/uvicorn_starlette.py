"""Peer: uvicorn + Starlette (uvloop/httptools when installed). WS echo and /broadcast,
/plaintext, /json, and /sse through sse-starlette's EventSourceResponse. TLS with --ssl-certfile/--ssl-keyfile
(uvicorn's own options, asyncio's SSL transport)."""

from __future__ import annotations

import asyncio

from sse_starlette import EventSourceResponse
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from loadtest.peers._common import JSON_BODY, PLAINTEXT, parse_args, sse_data

SUBSCRIBERS: set = set()


async def plaintext(request):
    return PlainTextResponse(PLAINTEXT)


async def json_(request):
    return Response(JSON_BODY, media_type="application/json")


async def sse(request):
    async def events():
        while True:
            yield {"data": sse_data()}
            await asyncio.sleep(0)  # let the disconnect listener run (send to a closed client returns at once)
    return EventSourceResponse(events(), ping=3600)


async def _relay(ws: WebSocket, on_message) -> None:
    await ws.accept()
    while True:
        msg = await ws.receive()
        if msg["type"] == "websocket.disconnect":
            return
        await on_message(msg)


async def echo(ws: WebSocket) -> None:
    async def back(msg):
        if msg.get("text") is not None:
            await ws.send_text(msg["text"])
        else:
            await ws.send_bytes(msg["bytes"])
    await _relay(ws, back)


async def broadcast(ws: WebSocket) -> None:
    SUBSCRIBERS.add(ws)

    async def fan_out(msg):
        for sub in list(SUBSCRIBERS):
            try:
                if msg.get("text") is not None:
                    await sub.send_text(msg["text"])
                else:
                    await sub.send_bytes(msg["bytes"])
            except Exception:  # a subscriber that went away must not stop the others
                SUBSCRIBERS.discard(sub)
    try:
        await _relay(ws, fan_out)
    finally:
        SUBSCRIBERS.discard(ws)


app = Starlette(routes=[
    Route("/plaintext", plaintext),
    Route("/json", json_),
    Route("/sse", sse),
    WebSocketRoute("/broadcast", broadcast),
    WebSocketRoute("/{path:path}", echo),
])

if __name__ == "__main__":
    import uvicorn
    args = parse_args(__doc__)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False,
                ws_max_size=1 << 24, ws_ping_interval=None, backlog=4096, lifespan="off",
                ssl_certfile=args.ssl_certfile, ssl_keyfile=args.ssl_keyfile)
