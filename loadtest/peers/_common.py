"""Shared bits of the peer scripts: CLI and payloads (kept tiny: no import cost in the hot path)."""

from __future__ import annotations

import argparse
import time

PLAINTEXT = b"Hello, World!"
JSON_BODY = b'{"message":"Hello, World!"}'
SSE_DATA_SIZE = 32  # bytes of event data, timestamp included


def parse_args(description: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9001)
    p.add_argument("--ssl-certfile", help="serve wss/https with this PEM certificate (the TLS scenarios)")
    p.add_argument("--ssl-keyfile", help="its PEM private key")
    return p.parse_args()


def ssl_context(args: argparse.Namespace):
    """A server ssl.SSLContext from --ssl-certfile/--ssl-keyfile, or None (plain)."""
    if not args.ssl_certfile:
        return None
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.ssl_certfile, args.ssl_keyfile)
    return ctx


def sse_data() -> str:
    """Event data: CLOCK_MONOTONIC ns first (the generator measures latency from it), padded to 32 bytes."""
    ts = str(time.monotonic_ns())
    return ts + " " + "x" * max(0, SSE_DATA_SIZE - len(ts) - 1)


def sse_frame() -> bytes:
    return b"data: " + sse_data().encode() + b"\n\n"
