"""Peer: FastAPI's own EventSourceResponse (fastapi.sse) on uvicorn; falls back to sse-starlette
under FastAPI when the installed FastAPI has no fastapi.sse. Serves /sse only."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from loadtest.peers._common import parse_args, sse_data

app = FastAPI()

try:
    from fastapi.sse import EventSourceResponse, ServerSentEvent

    IMPLEMENTATION = "fastapi.sse"

    @app.get("/sse", response_class=EventSourceResponse)
    async def sse():
        while True:
            # raw_data: FastAPI would JSON-quote a str in `data`, hiding the leading timestamp.
            yield ServerSentEvent(raw_data=sse_data())
            await asyncio.sleep(0)  # let the disconnect listener run (send to a closed client returns at once)
except ImportError:  # older FastAPI
    from sse_starlette import EventSourceResponse

    IMPLEMENTATION = "sse-starlette"

    @app.get("/sse")
    async def sse():
        async def events():
            while True:
                yield {"data": sse_data()}
                await asyncio.sleep(0)
        return EventSourceResponse(events(), ping=3600)


if __name__ == "__main__":
    import uvicorn
    args = parse_args(__doc__)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False,
                backlog=4096, lifespan="off")
