"""Scale-out through an existing broker: one small interface (``Broker``) and one engine (Redis).

``App(broker="redis://host:6379/0")`` (or ``--broker``, or ``FASTERAPI_BROKER``) makes
``publish()``, ``ws.subscribe`` and SSE ``replay=N`` topic routes work across processes and
machines. Messages cross the broker once per worker per topic; each worker fans out natively.
"""

from __future__ import annotations

from .base import Broker, BrokerError, StreamEntry, redact

__all__ = ["Broker", "BrokerError", "StreamEntry", "redact", "create_broker", "check_broker"]


def create_broker(url: str, *, heartbeat: float = 1.0) -> Broker:
    """Engine for ``url`` by scheme: ``redis://``, ``rediss://``, ``unix://`` (Redis/Valkey >= 7).
    Raises BrokerError naming the URL for an unknown scheme or a missing client library."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme in ("redis", "rediss", "unix"):
        try:
            from .redis import RedisBroker
        except ImportError as exc:  # redis-py missing
            raise BrokerError(f"broker {redact(url)} needs redis-py: pip install 'fasterapi[redis]' ({exc})") from None
        return RedisBroker(url, heartbeat=heartbeat)
    raise BrokerError(f"unsupported broker URL {redact(url)!r}: expected redis://host:port/db, rediss:// or unix://")


def check_broker(url: str, timeout: float = 3.0) -> None:
    """Connect once and disconnect (before forking workers); BrokerError naming the URL."""
    import asyncio

    async def probe() -> None:
        b = create_broker(url)
        await b.start()
        await b.stop()

    asyncio.run(asyncio.wait_for(probe(), timeout + 1.0))
