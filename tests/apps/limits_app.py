"""An App with small limits and timeouts given on the command line (timeout and limit tests).

    python tests/apps/limits_app.py --port 0 --request-timeout 0.5 --keepalive-timeout 0.5 --max-connections 4
"""

from __future__ import annotations

import argparse

from fasterapi import App, Request

parser = argparse.ArgumentParser()
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=0)
parser.add_argument("--request-timeout", type=float, default=10.0)
parser.add_argument("--keepalive-timeout", type=float, default=5.0)
parser.add_argument("--max-connections", type=int, default=10000)
parser.add_argument("--max-body-size", type=int, default=1 << 20)
args = parser.parse_args()

app = App(request_timeout=args.request_timeout, keepalive_timeout=args.keepalive_timeout,
          max_connections=args.max_connections, max_body_size=args.max_body_size)


@app.get("/hello")
def hello() -> str:
    return "hello"


@app.post("/echo")
def echo(request: Request) -> bytes:
    return request.body


@app.websocket("/ws")
async def ws_echo(ws) -> None:
    await ws.accept()
    async for message in ws:
        await ws.send(message)


app.run(host=args.host, port=args.port)
