"""A deliberately broken WebSocket echo server, to prove the gate can fail.

It speaks enough RFC 6455 to pass the plain framing cases (1.*), but:

- it never validates UTF-8: invalid text is echoed back instead of closing
  with 1007 (Autobahn 6.3.*, 6.4.*, 6.x invalid-sequence cases fail);
- it answers every close with code 1000, even an invalid close code or an
  invalid close payload that must be answered with 1002 (7.9.*, 7.3.2 ... fail);
- it ignores the reserved bits and unknown opcodes (3.*, 4.* fail).

Run: ``python -m conformance.broken_server --port P``. Never use it for anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import struct

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_MESSAGE = 16 * 1024 * 1024


def accept_key(key: bytes) -> str:
    return base64.b64encode(hashlib.sha1(key.strip() + GUID).digest()).decode("ascii")


def frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


def unmask(data: bytes, mask: bytes) -> bytes:
    if not data:
        return data
    n = len(data)
    m = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(data, "big") ^ m).to_bytes(n, "big")


async def _handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return False
    key = b""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            key = value.strip()
    if not key:
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        return False
    writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n").encode("ascii"))
    return True


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        if not await _handshake(reader, writer):
            return
        msg_opcode, parts, size = 0, [], 0
        while True:
            b0, b1 = await reader.readexactly(2)
            opcode, fin = b0 & 0x0F, bool(b0 & 0x80)
            n = b1 & 0x7F
            if n == 126:
                (n,) = struct.unpack("!H", await reader.readexactly(2))
            elif n == 127:
                (n,) = struct.unpack("!Q", await reader.readexactly(8))
            if n > MAX_MESSAGE:
                return
            mask = await reader.readexactly(4) if b1 & 0x80 else b"\0\0\0\0"
            payload = unmask(await reader.readexactly(n), mask)
            if opcode == 0x8:
                # BROKEN: always 1000, whatever the peer sent (valid or not).
                writer.write(frame(0x8, struct.pack("!H", 1000)))
                await writer.drain()
                return
            if opcode == 0x9:
                writer.write(frame(0xA, payload))
                await writer.drain()
                continue
            if opcode == 0xA:
                continue
            if opcode in (0x1, 0x2):
                msg_opcode, parts, size = opcode, [], 0
            elif opcode != 0x0:
                continue  # BROKEN: unknown opcodes are ignored instead of failing with 1002
            parts.append(payload)
            size += len(payload)
            if size > MAX_MESSAGE:
                return
            if fin and msg_opcode:
                # BROKEN: text is echoed without UTF-8 validation.
                writer.write(frame(msg_opcode, b"".join(parts)))
                await writer.drain()
                msg_opcode, parts, size = 0, [], 0
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, OSError):
            pass


async def _main(host: str, port: int) -> None:
    server = await asyncio.start_server(_serve, host, port, limit=65536)
    print(f"broken echo listening on {host}:{port}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9003)
    a = p.parse_args(argv)
    try:
        asyncio.run(_main(a.host, a.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
