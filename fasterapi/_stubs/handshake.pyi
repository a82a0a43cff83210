# Stubs for fasterapi._core.handshake and fasterapi._core.deflate (the lead merges them
# into fasterapi/_core.pyi as two submodules: `class handshake:` / `class deflate:` or
# separate module stubs).
from typing import Any, TypedDict

# ---- fasterapi._core.handshake ---------------------------------------------------------

class DeflateParams(TypedDict):
    server_no_context_takeover: bool
    client_no_context_takeover: bool
    server_max_window_bits: int
    client_max_window_bits: int

class HandshakeResult(TypedDict):
    status: int  # 101 accepted; else 400 / 403 / 405 / 426
    reason: str
    accept: str
    subprotocol: str
    offered_subprotocols: list[str]
    deflate: bool
    extensions: str
    deflate_params: DeflateParams

def compute_accept(key: str) -> str:
    """base64(SHA1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))."""

def validate(
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    version_minor: int = 1,
    subprotocols: list[str] = [],
    compression: bool = False,
    allowed_origins: list[str] = [],
) -> HandshakeResult:
    """Validate an upgrade request (RFC 6455 4.2.1); raises ValueError for > 256 headers."""

def accept_response(
    accept: str, subprotocol: str = "", extensions: str = "", extra_headers: list[tuple[str, str]] = []
) -> bytes:
    """101 Switching Protocols response; ValueError on a non-token subprotocol or CR/LF in headers."""

def refusal_response(status: int, reason: str) -> bytes:
    """Refusal with a text/plain body and Connection: close (426 adds Sec-WebSocket-Version: 13)."""

# ---- fasterapi._core.deflate -----------------------------------------------------------

class Deflater:
    def __init__(
        self, window_bits: int = 15, mem_level: int = 8, no_context_takeover: bool = False, level: int = 1
    ) -> None: ...
    def compress(self, data: bytes) -> bytes:
        """One whole message -> permessage-deflate payload (no 00 00 ff ff tail)."""
    @property
    def window_bits(self) -> int: ...
    @property
    def no_context_takeover(self) -> bool: ...

class Inflater:
    def __init__(self, window_bits: int = 15, no_context_takeover: bool = False) -> None: ...
    def inflate(self, payload: bytes, max_size: int = 67108864) -> bytes:
        """One whole message's payload -> plain bytes; ValueError("message too large" / "corrupt deflate data")."""
    @property
    def window_bits(self) -> int: ...
    @property
    def no_context_takeover(self) -> bool: ...

def negotiate(
    header: str,
    *,
    enabled: bool = True,
    server_max_window_bits: int = 15,
    client_max_window_bits: int = 15,
    server_no_context_takeover: bool = False,
    client_no_context_takeover: bool = False,
    mem_level: int = 8,
    compression_level: int = 1,
    min_size: int = 0,
) -> tuple[bool, str, dict[str, Any]]:
    """Sec-WebSocket-Extensions value -> (accepted, response header value, params dict)."""
