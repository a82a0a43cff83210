"""A flood handler on an App with a small send high-water mark (backpressure tests).

    python tests/apps/backpressure_app.py --port 0
/ws/flood?count=N&size=S sends N binary messages of S bytes, awaiting each send;
GET /progress reports how far it got and the most bytes it ever saw buffered after
an awaited send (which backpressure keeps at or below HIGH_WATER).
"""

from __future__ import annotations

import argparse

from fasterapi import App, WebSocket

HIGH_WATER = 256 << 10
LOW_WATER = 64 << 10

app = App(send_high_water=HIGH_WATER, send_low_water=LOW_WATER)
PROGRESS = {"sent": 0, "done": False, "max_buffered_after_await": 0, "high_water": HIGH_WATER, "started": False}


@app.websocket("/ws/flood")
async def flood(ws: WebSocket) -> None:
    count = int(ws.query_params.get("count", "400"))
    size = int(ws.query_params.get("size", str(64 << 10)))
    await ws.accept()
    PROGRESS.update(sent=0, done=False, max_buffered_after_await=0, started=True)
    for i in range(count):
        # Distinct content per message so the client can check order and integrity.
        await ws.send(i.to_bytes(4, "big") * (size // 4))
        PROGRESS["sent"] = i + 1
        PROGRESS["max_buffered_after_await"] = max(PROGRESS["max_buffered_after_await"], ws.buffered_amount)
    PROGRESS["done"] = True
    await ws.receive()


SSE_PROGRESS = {"sent": 0, "done": False, "started": False}


@app.sse("/sse/flood")
async def sse_flood(count: int = 400, size: int = 64 << 10):
    SSE_PROGRESS.update(sent=0, done=False, started=True)
    for i in range(count):
        yield {"data": f"{i:06d}" + "x" * size, "id": str(i)}
        SSE_PROGRESS["sent"] = i + 1
    SSE_PROGRESS["done"] = True


@app.get("/sse-progress")
def sse_progress() -> dict:
    return SSE_PROGRESS


@app.get("/progress")
def progress() -> dict:
    return PROGRESS


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    app.run(host=args.host, port=args.port)
