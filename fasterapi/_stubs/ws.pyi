# Stub for the submodule fasterapi._core.ws (the lead merges it into fasterapi/_core.pyi).
from typing import Literal, Union

from typing_extensions import Buffer

CONTINUATION: int
TEXT: int
BINARY: int
CLOSE: int
PING: int
PONG: int

Event = Union[
    tuple[Literal["message"], int, bytes],
    tuple[Literal["ping"], bytes],
    tuple[Literal["pong"], bytes],
    tuple[Literal["close"], int, bytes],
    tuple[Literal["error"], int, str],
]

class FrameParser:
    """Incremental RFC 6455 frame parser (server side when require_mask=True).

    feed() returns the events the new bytes complete; after ('close', ...) or ('error', code, reason)
    it consumes nothing more. Error codes: 1002 protocol error, 1007 invalid UTF-8 / compressed data,
    1009 message too big. deflate=True: permessage-deflate was negotiated (RSV1 messages inflated)."""

    def __init__(
        self,
        max_message_size: int = 16777216,
        require_mask: bool = True,
        deflate: bool = False,
        window_bits: int = 15,
        no_context_takeover: bool = False,
    ) -> None: ...
    def feed(self, data: Buffer) -> list[Event]: ...
    @property
    def failed(self) -> bool: ...
    @property
    def closed(self) -> bool: ...
    @property
    def consumed(self) -> int:
        """Total bytes consumed so far."""

def build_frame(opcode: int, payload: Buffer, fin: bool = True, rsv1: bool = False, masked: bool = False) -> bytes:
    """One frame; masked=True uses a fresh key from the OS CSPRNG."""

def build_message(
    opcode: int, payload: Buffer, fragment_size: int = 0, masked: bool = False, rsv1: bool = False
) -> bytes:
    """A message split into frames of at most fragment_size payload bytes (0 = one frame)."""

def build_close(code: int, reason: str = "", masked: bool = False) -> bytes:
    """Close frame; reason cut to 123 bytes on a code point boundary; code 1005 builds an empty close frame."""

def unmask(data: Buffer, key: Buffer, phase: int = 0) -> bytes:
    """XOR with the 4-byte key; phase = offset of data[0] within the payload."""

def utf8_valid(data: Buffer) -> bool: ...
def is_valid_close_code(code: int) -> bool:
    """May this code appear in a Close frame on the wire (RFC 6455 7.4)?"""
