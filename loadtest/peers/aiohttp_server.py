"""Peer: aiohttp. WS echo (any path) and /broadcast, /plaintext, /json, /sse (StreamResponse)."""

from __future__ import annotations

from aiohttp import WSMsgType, web

from loadtest.peers._common import JSON_BODY, PLAINTEXT, parse_args, sse_frame

ROOMS: dict[str, set] = {}  # /broadcast?room=N: one set of subscribers per room


async def plaintext(request):
    return web.Response(body=PLAINTEXT, content_type="text/plain")


async def json_(request):
    return web.Response(body=JSON_BODY, content_type="application/json")


async def sse(request):
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    try:
        await resp.prepare(request)
        while True:
            await resp.write(sse_frame())
    except ConnectionError:  # subscriber went away
        pass
    return resp


async def echo(request):
    ws = web.WebSocketResponse(compress=True, max_msg_size=1 << 24)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type == WSMsgType.TEXT:
            await ws.send_str(msg.data)
        elif msg.type == WSMsgType.BINARY:
            await ws.send_bytes(msg.data)
    return ws


async def broadcast(request):
    ws = web.WebSocketResponse(compress=True, max_msg_size=1 << 24)
    await ws.prepare(request)
    subscribers = ROOMS.setdefault(request.query.get("room", ""), set())
    subscribers.add(ws)
    try:
        async for msg in ws:
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                continue
            for sub in list(subscribers):
                try:
                    if msg.type == WSMsgType.TEXT:
                        await sub.send_str(msg.data)
                    else:
                        await sub.send_bytes(msg.data)
                except Exception:  # a subscriber that went away must not stop the others
                    subscribers.discard(sub)
    finally:
        subscribers.discard(ws)
    return ws


def make_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/plaintext", plaintext)
    app.router.add_get("/json", json_)
    app.router.add_get("/sse", sse)
    app.router.add_get("/broadcast", broadcast)
    app.router.add_get("/{tail:.*}", echo)
    return app


if __name__ == "__main__":
    args = parse_args(__doc__)
    web.run_app(make_app(), host=args.host, port=args.port, access_log=None, backlog=4096, print=None)
