"""WebSocket echo at `/` (text and binary, permessage-deflate on, 16 MiB messages).

The target of the Autobahn conformance suite: the Python-handler path users run.
    python examples/websocket_demo.py --port 9001
"""

import argparse

from fasterapi import App, WebSocket

app = App()


@app.websocket("/", compression=True, max_message_size=16 << 20)
async def echo(ws: WebSocket) -> None:
    await ws.accept()
    async for message in ws:  # str for text, bytes for binary
        await ws.send(message)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9001)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    app.run(host=args.host, port=args.port, workers=args.workers)
