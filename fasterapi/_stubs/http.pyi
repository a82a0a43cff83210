# fasterapi._core.http (merged into fasterapi/_core.pyi by the lead)
from typing import Any

Buffer = bytes | bytearray | memoryview

class http:  # submodule fasterapi._core.http
    class HttpError(ValueError):
        """A request the server must refuse: ``status`` is the HTTP status to answer, ``reason`` says why."""
        status: int
        reason: str
        def __init__(self, status: int, reason: str) -> None: ...

    @staticmethod
    def parse_request(data: Buffer, max_request_line: int = 8192, max_header_bytes: int = 16384,
                      max_headers: int = 100) -> dict[str, Any] | None:
        """Parse one request head. None when more bytes are needed, else a dict: method, target, path, query
        (str), version ("HTTP/1.1"/"HTTP/1.0"), version_minor, headers (list[tuple[bytes, bytes]]), keep_alive,
        chunked, content_length (int | None), expect_continue, upgrade_websocket, consumed.
        Raises HttpError(status, reason): 400, 414, 417, 431, 501, 505."""
    @staticmethod
    def parse_request_with_body(data: Buffer, max_request_line: int = 8192, max_header_bytes: int = 16384,
                                max_headers: int = 100, max_body_size: int = 1048576) -> dict[str, Any] | None:
        """parse_request plus the decoded body ("body": bytes); consumed covers head and body.
        None when incomplete. Raises HttpError (also 413)."""

    class BodyReader:
        """Incremental request body decoder (Content-Length or chunked)."""
        def __init__(self, *, chunked: bool = False, content_length: int | None = None,
                     max_body_size: int = 1048576, max_trailer_bytes: int = 16384) -> None:
            """Raises HttpError(413) when content_length exceeds max_body_size."""
        def feed(self, data: Buffer) -> tuple[bool, int, bytes]:
            """(done, consumed, decoded bytes of this call); bytes after the body are not consumed.
            Raises HttpError (400, 413, 431)."""
        @property
        def done(self) -> bool: ...
        @property
        def body_size(self) -> int: ...

    @staticmethod
    def status_reason(status: int) -> str: ...
    @staticmethod
    def response_head(status: int, headers: list[tuple[str, str]] = ..., content_length: int | None = None,
                      keep_alive: bool = True, chunked: bool = False, add_date: bool = True) -> bytes:
        """Status line, Date, headers and framing. ValueError for CR/LF/NUL in a header, a non-token name,
        or a Content-Length/Transfer-Encoding header that duplicates the framing."""
    @staticmethod
    def simple_response(status: int, content_type: str = "text/plain; charset=utf-8", body: str | bytes = "",
                        keep_alive: bool = True, head_only: bool = False) -> bytes: ...
    @staticmethod
    def chunk(data: str | bytes) -> bytes: ...
    @staticmethod
    def last_chunk() -> bytes: ...
    @staticmethod
    def http_date() -> str: ...
    @staticmethod
    def format_http_date(unix_seconds: int) -> str: ...
