"""The app behind the broker tests: chat over WebSocket, SSE replay topics, burst publishers.

    python tests/apps/broker_app.py --port P [--workers N] --broker redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource

from fasterapi import App, WebSocket, WebSocketDisconnect

app = App(broker_heartbeat=float(os.environ.get("BROKER_HEARTBEAT", "1.0")))
app.add_sse_route("/feed", topic="feed", replay=20000)
app.add_sse_route("/short", topic="short", replay=10)


@app.websocket("/ws/{room}")
async def chat(ws: WebSocket, room: str) -> None:
    """First message: ``{"pid": ...}``. Then every text received is published to the room;
    ``burst N TAG`` publishes N messages ``TAG:i`` (i = 1..N) in one go."""
    await ws.accept()
    ws.subscribe(room)
    await ws.send_json({"pid": os.getpid()})
    try:
        while True:
            msg = await ws.receive_text()
            if msg.startswith("burst "):
                _, n, tag = msg.split()
                for i in range(1, int(n) + 1):
                    app.publish(room, f"{tag}:{i}")
                    if i % 500 == 0:
                        await asyncio.sleep(0)
            else:
                app.publish(room, msg)
    except WebSocketDisconnect:
        pass


@app.post("/publish/{topic}")
async def publish_range(topic: str, start: int = 1, n: int = 1, every: int = 100, pause: float = 0.0) -> dict:
    """Publish ``start .. start+n-1`` as text, yielding (``pause`` s) every ``every`` events."""
    for i in range(start, start + n):
        app.publish(topic, str(i))
        if every and (i - start + 1) % every == 0:
            await asyncio.sleep(pause)
    return {"published": n}


@app.get("/stats")
def stats() -> dict:
    return dict(app.stats(), pid=os.getpid(),
                rss_kib=int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize() // 1024)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--broker", default=None)
    a = p.parse_args()
    app.run(host=a.host, port=a.port, workers=a.workers, broker=a.broker, log_level="info")
