"""A WebSocket echo slowed on purpose (sleeps --delay seconds before each reply): the gate's must-fail target."""

from __future__ import annotations

import argparse
import asyncio

from websockets.asyncio.server import serve


async def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9001)
    p.add_argument("--delay", type=float, default=0.2)
    args = p.parse_args()

    async def handler(ws):
        async for message in ws:
            await asyncio.sleep(args.delay)
            await ws.send(message)

    async with serve(handler, args.host, args.port, ping_interval=None, compression=None, backlog=4096) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
