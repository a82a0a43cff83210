# fasterapi._core.sse and the top-level _core.encode_sse (merged into fasterapi/_core.pyi by the lead)

def encode_sse(data: str | bytes | None = None, event: str | None = None, id: str | None = None,
               retry: int | None = None, comment: str | None = None) -> bytes:
    """Same as sse.encode (module level, used by fasterapi.sse)."""

class sse:  # submodule fasterapi._core.sse
    @staticmethod
    def encode(data: str | bytes | None = None, event: str | None = None, id: str | None = None,
               retry: int | None = None, comment: str | None = None) -> bytes:
        """One event: comment, id, event, retry, data lines, then a blank line. data is split on CRLF/CR/LF
        into data: lines (data=None: no data field). ValueError if event or id contains CR/LF (or NUL for id),
        or retry is negative."""
    @staticmethod
    def encode_comment(text: str | bytes) -> bytes:
        """':' comment lines, one per line of text (no blank line after)."""
    @staticmethod
    def keepalive() -> bytes:
        """b': keep-alive\\n\\n'"""

    class ReplayBuffer:
        """Bounded (events and bytes) history of encoded events by id, for Last-Event-ID resume."""
        def __init__(self, max_events: int, max_bytes: int = 4194304) -> None: ...
        def append(self, id: str, encoded: bytes) -> None: ...
        def events_after(self, last_id: str) -> bytes | None:
            """Concatenated events after last_id; None if last_id is unknown or evicted."""
        def after(self, last_id: str) -> list[bytes] | None: ...
        def all(self) -> bytes: ...
        def clear(self) -> None: ...
        def __len__(self) -> int: ...
        def __contains__(self, id: str) -> bool: ...
        @property
        def evicted(self) -> int: ...
        @property
        def bytes(self) -> int: ...
        @property
        def max_events(self) -> int: ...
        @property
        def max_bytes(self) -> int: ...
