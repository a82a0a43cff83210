"""The broker interface the server talks to. An engine implements these few methods; the
server side (fasterapi/broker/bridge.py) never sees the engine's client library."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import Callable, Iterable, NamedTuple


class BrokerError(RuntimeError):
    """The broker is misconfigured or unreachable (the message names the URL, password hidden)."""


def redact(url: str) -> str:
    """``redis://user:secret@h:6379/0`` -> ``redis://user:***@h:6379/0``."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


class StreamEntry(NamedTuple):
    id: str      # engine position (Redis: "ms-seq"); ordered by stream_id_key()
    epoch: str   # changes when the stream was lost
    data: bytes  # payload as appended


class Broker(ABC):
    """One connection set per worker process.

    Callbacks (set by the bridge before ``start``; called on the event loop):
      on_message(topic, payload)  a published payload for a subscribed topic
      on_subscribed(topic)        a subscription became effective (also after a reconnect)
      on_state(up)                the broker connection went down (False) or came back (True)
    Delivery is at-most-once; ``publish`` never blocks and counts what it cannot send.
    """

    url: str
    on_message: Callable[[str, bytes], None]
    on_subscribed: Callable[[str], None]
    on_state: Callable[[bool], None]

    @abstractmethod
    async def start(self) -> None:
        """Connect; raises BrokerError naming the URL when it is bad or unreachable."""

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    def set_subscriptions(self, add: Iterable[str], remove: Iterable[str]) -> None:
        """Change the topic set (batched; applied in the background, restored after reconnects)."""

    @abstractmethod
    def publish(self, topic: str, payload: bytes) -> None:
        """Queue ``payload`` for every worker subscribed to ``topic``; order kept per publisher."""

    @abstractmethod
    def append(self, topic: str, data: bytes, notify: bytes, maxlen: int) -> None:
        """Atomically append ``data`` to the topic's stream (trimmed to about ``maxlen``) and
        publish ``notify`` on the topic, queued in order with ``publish``. An append that cannot
        be made (broker down, queue full, command failed) is reported to
        ``on_append_lost(topic, data)`` (set by the owner), so the gap can be marked."""

    @property
    @abstractmethod
    def up(self) -> bool:
        """True while the broker is reachable (appends are accepted)."""

    @abstractmethod
    async def stream_tip(self, topic: str) -> tuple[str, str]:
        """(epoch, id of the newest entry or "0-0"); creates the epoch if the stream is new or lost."""

    @abstractmethod
    async def stream_read(self, topic: str, after: str, count: int = 1000) -> list[StreamEntry]:
        """Entries strictly after ``after`` (oldest first), at most ``count``."""

    @abstractmethod
    async def stream_resume(self, topic: str, epoch: str, last: str) -> tuple[bool, str, str, list[StreamEntry]]:
        """(ok, epoch, tip, entries after ``last``). ok is False when ``last`` is no longer kept
        or ``epoch`` is not the stream's current epoch: the caller must send a reset."""

    @abstractmethod
    def stats(self) -> dict[str, int]: ...


def stream_id_key(sid: str) -> tuple[int, int]:
    ms, _, seq = sid.partition("-")
    return int(ms), int(seq or 0)
