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
    return p.parse_args()


def sse_data() -> str:
    """Event data: CLOCK_MONOTONIC ns first (the generator measures latency from it), padded to 32 bytes."""
    ts = str(time.monotonic_ns())
    return ts + " " + "x" * max(0, SSE_DATA_SIZE - len(ts) - 1)


def sse_frame() -> bytes:
    return b"data: " + sse_data().encode() + b"\n\n"
