"""Server-Sent Events: the event type handlers yield, and the per-endpoint replay buffer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import _core
from .requests import compact_json


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    data: Any = None
    event: str | None = None
    id: str | int | None = None
    retry: int | None = None
    comment: str | None = None

    def encode(self) -> bytes:
        return encode_event(self.data, self.event, self.id, self.retry, self.comment)


def _data_text(data: Any) -> str | None:
    if data is None or isinstance(data, str):
        return data
    if isinstance(data, bytes):
        return data.decode()
    return compact_json(data)


def encode_event(data: Any = None, event: str | None = None, id: str | int | None = None,
                 retry: int | None = None, comment: str | None = None) -> bytes:
    """Encode natively; ValueError for a field that would inject lines (e.g. CR/LF in ``event``)."""
    return _core.encode_sse(_data_text(data), event, None if id is None else str(id), retry, comment)


def to_event(item: Any) -> tuple[bytes, str | None]:
    """Handler output -> (encoded bytes, id or None). dict, ServerSentEvent or str."""
    if isinstance(item, ServerSentEvent):
        return item.encode(), None if item.id is None else str(item.id)
    if isinstance(item, dict):
        unknown = set(item) - {"data", "event", "id", "retry", "comment"}
        if unknown:
            raise ValueError(f"unknown SSE field(s) {sorted(unknown)}; use data, event, id, retry, comment")
        ev_id = item.get("id")
        return (encode_event(item.get("data"), item.get("event"), ev_id, item.get("retry"), item.get("comment")),
                None if ev_id is None else str(ev_id))
    if isinstance(item, (str, bytes)):
        return encode_event(item), None
    raise TypeError(f"an SSE handler must yield dict, ServerSentEvent or str, not {type(item).__name__}")


def ReplayBuffer(max_events: int, max_bytes: int = 4 << 20) -> "_core.sse.ReplayBuffer":
    """Bounded (events and bytes) native history of encoded events by id, for Last-Event-ID resume.
    ``after(last_id)`` returns the events after it, or None when that id is unknown or evicted."""
    if max_events < 1:
        raise ValueError("replay buffer needs max_events >= 1")
    return _core.sse.ReplayBuffer(max_events, max_bytes)
