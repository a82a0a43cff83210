"""Stand-in conformance app on uvicorn + Starlette (until FasterAPI's own target exists).

Routes (the contract the HTTP and SSE suites expect):
  GET  /                 -> 200 text/plain "Hello, World!"
  POST /echo             -> 200 echoing the request body
  GET  /sse/conformance  -> the SSE conformance stream (conformance.sse_suite.EXPECTED_EVENTS),
                            resuming after ``Last-Event-ID``
  anything else          -> 404

``python -m conformance.targets.starlette_app --port P [--http h11|httptools]``
"""

from __future__ import annotations

import argparse
import asyncio

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from conformance.sse_suite import encode, events_after


async def root(request: Request) -> Response:
    return PlainTextResponse("Hello, World!")


async def echo(request: Request) -> Response:
    return Response(await request.body(), media_type="application/octet-stream")


BROKEN_SSE = False  # --broken-sse: a naive encoder (no line splitting), to show the SSE suite fail


def _naive(ev) -> str:
    head = "".join(f"{k}: {v}\n" for k, v in (("event", ev.event), ("id", ev.id)) if v is not None)
    return f"{head}data: {ev.data}\n\n"


async def sse(request: Request) -> Response:
    async def stream():
        for ev in events_after(request.headers.get("last-event-id")):
            yield (_naive(ev) if BROKEN_SSE else encode(ev)).encode("utf-8")
            await asyncio.sleep(0)  # separate writes, like a real producer

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})


app = Starlette(routes=[
    Route("/", root, methods=["GET"]),
    Route("/echo", echo, methods=["POST"]),
    Route("/sse/conformance", sse, methods=["GET"]),
])


def main(argv: list[str] | None = None) -> None:
    import uvicorn

    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--http", default="h11", choices=["h11", "httptools"])
    p.add_argument("--broken-sse", action="store_true", help="encode SSE naively (for negative tests)")
    a = p.parse_args(argv)
    global BROKEN_SSE
    BROKEN_SSE = a.broken_sse
    uvicorn.run(app, host=a.host, port=a.port, http=a.http, log_level="warning")


if __name__ == "__main__":
    main()
