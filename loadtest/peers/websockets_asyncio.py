"""Peer: websockets (asyncio server). Echo at any path, /broadcast relay; permessage-deflate when offered."""

from __future__ import annotations

import asyncio

from websockets.asyncio.server import broadcast, serve

from loadtest.peers._common import parse_args

SUBSCRIBERS: set = set()


async def handler(ws) -> None:
    if ws.request.path == "/broadcast":
        SUBSCRIBERS.add(ws)
        try:
            async for message in ws:
                broadcast(SUBSCRIBERS, message)
        finally:
            SUBSCRIBERS.discard(ws)
        return
    async for message in ws:
        await ws.send(message)


async def main() -> None:
    args = parse_args(__doc__)
    async with serve(handler, args.host, args.port, max_size=1 << 24, ping_interval=None,
                     compression="deflate", backlog=4096) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
