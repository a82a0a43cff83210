"""Hold N idle upgraded WebSocket connections (loopback only) for the memory scenario.

``python -m loadtest.holder --url ws://127.0.0.1:P/ -n 10000``: prints one JSON line
``{"open": n, "failed": k}`` once every handshake is done, then holds until stdin closes.
A ``wss://`` URL holds TLS connections (no certificate verification: loopback only).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import ssl
import sys
from urllib.parse import urlsplit

MAX_CONNECTIONS = 20_000  # bounded: this is a measurement tool, not a flood tool


async def open_one(host: str, port: int, path: str, sem: asyncio.Semaphore, held: list,
                   tls: ssl.SSLContext | None = None) -> bool:
    async with sem:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=tls), 10)
            key = base64.b64encode(os.urandom(16)).decode()
            writer.write((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                          f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ssl.SSLError):
            return False
        held.append(writer)
        return head.startswith(b"HTTP/1.1 101")


async def main_async(args) -> None:
    u = urlsplit(args.url)
    if u.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("holder: loopback only")
    held: list = []
    sem = asyncio.Semaphore(200)
    tls = None
    if u.scheme == "wss":
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
    default_port = 443 if tls else 80
    ok = await asyncio.gather(*(open_one(u.hostname, u.port or default_port, u.path or "/", sem, held, tls)
                                for _ in range(args.n)))
    print(json.dumps({"open": sum(ok), "failed": len(ok) - sum(ok)}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    for w in held:
        w.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--url", required=True)
    p.add_argument("-n", type=int, default=10_000)
    args = p.parse_args()
    args.n = min(args.n, MAX_CONNECTIONS)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
