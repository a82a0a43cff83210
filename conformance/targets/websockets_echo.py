"""Echo server on the `websockets` library (a reference peer with known
NON-STRICT/FAILED Autobahn cases): ``python -m conformance.targets.websockets_echo --port P``."""

from __future__ import annotations

import argparse
import asyncio

from websockets.asyncio.server import serve


async def _echo(ws) -> None:
    async for message in ws:
        await ws.send(message)


async def _main(host: str, port: int) -> None:
    async with serve(_echo, host, port, max_size=16 * 1024 * 1024, compression="deflate") as server:
        print(f"websockets echo listening on {host}:{port}", flush=True)
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9002)
    a = p.parse_args(argv)
    try:
        asyncio.run(_main(a.host, a.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
