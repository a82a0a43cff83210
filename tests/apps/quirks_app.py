"""Routes behind tests/test_client_quirks.py: HEAD on every route kind, header value
encoding (RFC 9110 §5.5), percent-decoding after segment splitting (RFC 3986 §2.2).

    python tests/apps/quirks_app.py --port 0
Handlers record what they saw in STATE, read back at GET /_state/{key}.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from fasterapi import App, HTTPException, Request, Response, WebSocket

app = App()
STATE: dict[str, Any] = {}


@app.get("/_state/{key}")
def state(key: str) -> Any:
    if key not in STATE:
        raise HTTPException(404, "not recorded")
    return {"value": STATE[key]}


# --- HEAD on every route kind ------------------------------------------------------
@app.get("/hello")
def hello() -> str:
    return "hello"


@app.get("/async-hello")
async def async_hello() -> str:
    await asyncio.sleep(0)
    return "hello async"


@app.get("/boom")
def boom() -> str:
    raise RuntimeError("boom")


@app.get("/needs-q")
def needs_q(q: int) -> dict:
    return {"q": q}


@app.post("/post-only")
def post_only() -> str:
    return "posted"


@app.sse("/events", headers=[("X-Stream", "yes")])
async def events(request: Request):
    STATE[f"events-started-{request.query_params.get('key', '')}"] = request.method
    yield {"data": "one", "id": "1"}
    await asyncio.sleep(30)


@app.sse("/events-q")
async def events_q(n: int):
    yield {"data": str(n)}


app.add_sse_route("/events-topic", topic="quirks-topic")


@app.websocket("/ws")
async def ws_plain(ws: WebSocket) -> None:
    await ws.accept()
    await ws.send(ws.path + " " + ws.raw_path)
    await ws.close()


# --- header value encoding -----------------------------------------------------------
@app.get("/latin1")
def latin1() -> Response:
    return Response(b"x", headers={"X-Word": "café"})


@app.get("/echo-header")
def echo_header(request: Request) -> Response:
    return Response(b"x", headers={"X-Echo": request.headers.get("x-in", "")})


@app.get("/not-latin1")
def not_latin1() -> Response:
    return Response(b"x", headers={"X-Check": "✓"})


@app.get("/async-not-latin1")
async def async_not_latin1() -> Response:
    return Response(b"x", headers={"X-Async-Check": "✓"})


@app.get("/exc-not-latin1")
def exc_not_latin1() -> None:
    raise HTTPException(403, "no", headers={"X-Exc-Check": "✓"})


@app.websocket("/ws-latin1")
async def ws_latin1(ws: WebSocket) -> None:
    await ws.accept(headers={"X-Word": "café"})
    await ws.close()


@app.websocket("/ws-not-latin1")
async def ws_not_latin1(ws: WebSocket) -> None:
    await ws.accept(headers={"X-Ws-Check": "✓"})


@app.sse("/events-latin1", headers=[("X-Word", "café")])
async def events_latin1():
    yield {"data": "x"}


# --- percent-decoding after splitting ------------------------------------------------
def _seen(request: Request, **params: Any) -> dict:
    return {"params": params, "path": request.path, "raw_path": request.raw_path}


@app.get("/p/{name}")
def p_one(request: Request, name: str) -> dict:
    return {"route": "one", **_seen(request, name=name)}


@app.get("/p/{a}/{b}")
def p_two(request: Request, a: str, b: str) -> dict:
    return {"route": "two", **_seen(request, a=a, b=b)}


@app.get("/f/{rest:path}")
def f_rest(request: Request, rest: str) -> dict:
    return {"route": "path", **_seen(request, rest=rest)}


@app.get("/n/{i:int}")
def n_int(request: Request, i: int) -> dict:
    return {"route": "int", **_seen(request, i=i)}


@app.get("/with space")
def with_space(request: Request) -> dict:
    return {"route": "static", **_seen(request)}


@app.websocket("/wsp/{name}")
async def ws_p(ws: WebSocket, name: str) -> None:
    await ws.accept()
    await ws.send_json({"name": name, "path": ws.path, "raw_path": ws.raw_path})
    await ws.close()


@app.sse("/sp/{name}")
async def sse_p(request: Request, name: str):
    yield {"data": f"{name}|{request.path}|{request.raw_path}"}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    app.run(host=args.host, port=args.port)
