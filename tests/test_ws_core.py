"""fasterapi._core.ws: frame parser/builder bindings, cross-checked against websockets' own framing."""

import os
import struct
import zlib

import pytest

from fasterapi._core import ws
from websockets.exceptions import PayloadTooBig, ProtocolError
from websockets.frames import Close, Frame, Opcode
from websockets.streams import StreamReader

KEY = bytes([0x37, 0xFA, 0x21, 0x3D])


def raw(b0: int, payload: bytes, masked: bool = True, key: bytes = KEY) -> bytes:
    """A frame written by hand, independent of both implementations."""
    n = len(payload)
    m = 0x80 if masked else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n <= 0xFFFF:
        head = bytes([b0, m | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack("!Q", n)
    if not masked:
        return head + payload
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def feed_whole(data: bytes, **kw):
    p = ws.FrameParser(**kw)
    return p.feed(data), p


def feed_bytewise(data: bytes, **kw):
    p = ws.FrameParser(**kw)
    events = []
    for i in range(len(data)):
        events += p.feed(data[i : i + 1])
    return events, p


def assert_same_any_split(data: bytes, expected, **kw):
    whole, p = feed_whole(data, **kw)
    assert whole == expected
    one, q = feed_bytewise(data, **kw)
    assert one == expected
    assert (p.failed, p.closed) == (q.failed, q.closed)
    for cut in range(1, len(data)):
        r = ws.FrameParser(**kw)
        assert r.feed(data[:cut]) + r.feed(data[cut:]) == expected, cut


def ws_parse(data: bytes, mask: bool, max_size=None):
    """Parses one frame with websockets' parser (mask=True: expect a client frame)."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    gen = Frame.parse(reader.read_exact, mask=mask, max_size=max_size)
    with pytest.raises(StopIteration) as stop:
        next(gen)
    return stop.value.value, reader


# --- parser --------------------------------------------------------------------------


def test_rfc_example_masked_hello():
    data = bytes.fromhex("818537fa213d7f9f4d5158")
    assert_same_any_split(data, [("message", ws.TEXT, b"Hello")])


def test_fragmented_with_interleaved_controls():
    data = raw(0x01, b"Hel") + raw(0x89, b"p") + raw(0x00, b"l") + raw(0x8A, b"") + raw(0x80, b"o")
    assert_same_any_split(data, [("ping", b"p"), ("pong", b""), ("message", ws.TEXT, b"Hello")])


def test_close_events_and_stop():
    data = raw(0x88, struct.pack("!H", 1000) + "bye é".encode()) + raw(0x81, b"after")
    events, p = feed_whole(data)
    assert events == [("close", 1000, "bye é".encode())]
    assert p.closed and not p.failed
    assert p.consumed == len(data) - len(raw(0x81, b"after"))
    assert p.feed(raw(0x81, b"more")) == []
    assert feed_whole(raw(0x88, b""))[0] == [("close", 1005, b"")]


@pytest.mark.parametrize(
    "data, code, reason",
    [
        (raw(0x81, b"x", masked=False), 1002, "client frame not masked"),
        (raw(0xC1, b"x"), 1002, "RSV1 set without permessage-deflate"),
        (raw(0xA1, b"x"), 1002, "reserved bit set"),
        (raw(0x91, b"x"), 1002, "reserved bit set"),
        (raw(0x83, b"x"), 1002, "reserved opcode"),
        (raw(0x8B, b"x"), 1002, "reserved opcode"),
        (raw(0x89, b"x" * 126), 1002, "control frame too long"),
        (raw(0x09, b"x"), 1002, "fragmented control frame"),
        (raw(0x80, b"x"), 1002, "continuation without a message"),
        (raw(0x01, b"a") + raw(0x81, b"b"), 1002, "new message inside a fragmented one"),
        (bytes.fromhex("82ff8000000000000000") + KEY, 1002, "64-bit payload length with the high bit set"),
        (raw(0x88, b"\x03"), 1002, "close frame with a 1-byte payload"),
        (raw(0x88, struct.pack("!H", 1005)), 1002, "invalid close code"),
        (raw(0x88, struct.pack("!H", 2999)), 1002, "invalid close code"),
        (raw(0x81, b"ab\xff"), 1007, "invalid UTF-8 in a text message"),
        (raw(0x01, b"a\xe2") + raw(0x80, b"\x82"), 1007, "text message ends inside a UTF-8 sequence"),
        (raw(0x88, struct.pack("!H", 1000) + b"\xc0\x80"), 1007, "invalid UTF-8 in the close reason"),
    ],
)
def test_protocol_errors(data, code, reason):
    assert_same_any_split(data, [("error", code, reason)])
    _, p = feed_whole(data)
    assert p.failed and not p.closed
    assert p.feed(raw(0x81, b"x")) == []


def test_utf8_error_reported_before_the_frame_ends():
    # 40-byte text frame: only the header and the first 5 payload bytes (the 5th invalid) arrive.
    frame = raw(0x81, b"abcd\xff" + b"z" * 35)
    p = ws.FrameParser()
    assert p.feed(frame[:6 + 4]) == []
    assert p.feed(frame[10:11]) == [("error", 1007, "invalid UTF-8 in a text message")]


def test_message_too_big_from_header_and_across_fragments():
    huge = bytes.fromhex("82ff4000000000000000") + KEY  # declares 2**62 bytes, none sent
    assert feed_whole(huge, max_message_size=1024)[0] == [("error", 1009, "message too big")]
    frags = raw(0x02, b"x" * 600) + raw(0x80, b"y" * 600)
    assert feed_whole(frags, max_message_size=1024)[0] == [("error", 1009, "message too big")]
    assert feed_whole(frags, max_message_size=1200)[0] == [("message", ws.BINARY, b"x" * 600 + b"y" * 600)]


def test_client_side_parser():
    assert feed_whole(raw(0x82, b"srv", masked=False), require_mask=False)[0] == [("message", ws.BINARY, b"srv")]
    assert feed_whole(raw(0x82, b"srv"), require_mask=False)[0] == [("error", 1002, "server frame masked")]


def _deflate(msg: bytes) -> bytes:
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = c.compress(msg) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def test_permessage_deflate_with_pythons_zlib():
    text = ("déjà vu " * 500).encode()
    comp = _deflate(text)
    data = raw(0x41, comp[:10]) + raw(0x89, b"x") + raw(0x80, comp[10:]) + raw(0x82, b"plain")
    events = [("ping", b"x"), ("message", ws.TEXT, text), ("message", ws.BINARY, b"plain")]
    assert feed_whole(data, deflate=True)[0] == events
    assert feed_bytewise(data, deflate=True)[0] == events
    # Without the extension RSV1 is a protocol error.
    assert feed_whole(data)[0] == [("error", 1002, "RSV1 set without permessage-deflate")]
    # A small frame that inflates beyond the limit: 1009 without inflating it all.
    bomb = _deflate(b"\0" * (4 << 20))
    assert feed_whole(raw(0xC2, bomb), deflate=True, max_message_size=1 << 16)[0] == [
        ("error", 1009, "message too big")
    ]


# --- builder ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 70000])
def test_round_trip_sizes(size):
    payload = os.urandom(size)
    frame = ws.build_frame(ws.BINARY, payload, masked=True)
    assert feed_whole(frame)[0] == [("message", ws.BINARY, payload)]
    if size <= 65536:
        assert feed_bytewise(frame)[0] == [("message", ws.BINARY, payload)]
    server = ws.build_frame(ws.BINARY, payload)
    assert len(server) == len(frame) - 4
    assert feed_whole(server, require_mask=False)[0] == [("message", ws.BINARY, payload)]


def test_build_message_fragments():
    text = "fragmented ☃ text".encode()
    data = ws.build_message(ws.TEXT, text, fragment_size=4, masked=True)
    assert_same_any_split(data, [("message", ws.TEXT, text)])
    assert ws.build_message(ws.BINARY, b"abcdef", fragment_size=3) == b"\x02\x03abc\x80\x03def"
    assert ws.build_message(ws.TEXT, b"", fragment_size=3) == b"\x81\x00"


def test_build_close():
    assert ws.build_close(1000) == b"\x88\x02\x03\xe8"
    assert ws.build_close(1005) == b"\x88\x00"
    long_reason = "é" * 100  # 200 bytes: cut to 122 (61 code points), not mid code point
    frame = ws.build_close(1001, long_reason)
    assert frame[1] == 2 + 122
    assert frame[4:].decode() == "é" * 61
    events, _ = feed_whole(ws.build_close(4000, "x", masked=True))
    assert events == [("close", 4000, b"x")]


def test_masks_are_random():
    keys = {ws.build_frame(ws.TEXT, b"x", masked=True)[2:6] for _ in range(100)}
    assert len(keys) > 95


def test_unmask_and_phase():
    data = os.urandom(1000)
    expect = bytes(b ^ KEY[i % 4] for i, b in enumerate(data))
    assert ws.unmask(data, KEY) == expect
    for cut in (1, 3, 17, 500):
        assert ws.unmask(data[:cut], KEY) + ws.unmask(data[cut:], KEY, phase=cut) == expect
    assert ws.unmask(bytearray(b"Hello"), KEY) == bytes.fromhex("7f9f4d5158")
    with pytest.raises(ValueError):
        ws.unmask(b"x", b"abc")


def test_utf8_valid_matches_python():
    samples = [b"", b"ascii", "é☃😀".encode(), b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe2\x82", b"\xff"]
    samples += [os.urandom(n) for n in range(1, 40)]
    for s in samples:
        try:
            s.decode("utf-8")
            ok = True
        except UnicodeDecodeError:
            ok = False
        assert ws.utf8_valid(s) is ok, s


def test_close_code_validity():
    valid = [c for c in range(0, 70000) if ws.is_valid_close_code(c)]
    assert valid == [1000, 1001, 1002, 1003] + list(range(1007, 1015)) + list(range(3000, 5000))
    assert not ws.is_valid_close_code(-1)


# --- interop with websockets' framing ---------------------------------------------------


@pytest.mark.parametrize("size", [0, 5, 125, 126, 65535, 65536, 100000])
def test_our_frames_parse_in_websockets(size):
    payload = bytes(i % 251 for i in range(size))
    frame, _ = ws_parse(ws.build_frame(ws.BINARY, payload, masked=True), mask=True)
    assert (frame.opcode, frame.data, frame.fin) == (Opcode.BINARY, payload, True)
    frame, _ = ws_parse(ws.build_frame(ws.TEXT, payload, fin=False), mask=False)
    assert (frame.opcode, frame.data, frame.fin) == (Opcode.TEXT, payload, False)


def test_our_close_and_fragments_parse_in_websockets():
    frame, _ = ws_parse(ws.build_close(1001, "going away", masked=True), mask=True)
    assert frame.opcode == Opcode.CLOSE
    assert Close.parse(frame.data) == Close(1001, "going away")
    data = ws.build_message(ws.TEXT, b"abcdefgh", fragment_size=3, masked=True)
    reader = StreamReader()
    reader.feed_data(data)
    parts = []
    for _ in range(3):
        gen = Frame.parse(reader.read_exact, mask=True)
        with pytest.raises(StopIteration) as stop:
            next(gen)
        parts.append(stop.value.value)
    assert [(f.opcode, f.data, f.fin) for f in parts] == [
        (Opcode.TEXT, b"abc", False),
        (Opcode.CONT, b"def", False),
        (Opcode.CONT, b"gh", True),
    ]


@pytest.mark.parametrize("size", [0, 7, 125, 126, 65535, 65536, 70000])
def test_websockets_frames_parse_in_ours(size):
    payload = bytes(i % 256 for i in range(size))
    client = Frame(Opcode.BINARY, payload).serialize(mask=True)
    assert feed_whole(client)[0] == [("message", ws.BINARY, payload)]
    server = Frame(Opcode.BINARY, payload).serialize(mask=False)
    assert feed_whole(server, require_mask=False)[0] == [("message", ws.BINARY, payload)]
    text = Frame(Opcode.TEXT, "ü".encode() * (size // 2)).serialize(mask=True)
    assert feed_bytewise(text)[0] == [("message", ws.TEXT, "ü".encode() * (size // 2))]


def test_websockets_control_frames_parse_in_ours():
    data = (
        Frame(Opcode.TEXT, b"frag", fin=False).serialize(mask=True)
        + Frame(Opcode.PING, b"p").serialize(mask=True)
        + Frame(Opcode.CONT, b"ment").serialize(mask=True)
        + Frame(Opcode.CLOSE, Close(1000, "done").serialize()).serialize(mask=True)
    )
    assert_same_any_split(data, [("ping", b"p"), ("message", ws.TEXT, b"fragment"), ("close", 1000, b"done")])


def test_both_parsers_reject_the_same_bad_frames():
    bad = [
        raw(0x83, b"x"),  # reserved opcode
        raw(0x09, b"x"),  # fragmented control
        raw(0x89, b"x" * 126),  # control too long
        raw(0xA1, b"x"),  # RSV2
    ]
    for data in bad:
        events, p = feed_whole(data)
        assert p.failed and events[0][1] == 1002
        with pytest.raises(ProtocolError):
            ws_parse(data, mask=True)
    too_big = raw(0x82, b"x" * 2000)
    assert feed_whole(too_big, max_message_size=1000)[0][0][1] == 1009
    with pytest.raises(PayloadTooBig):
        ws_parse(too_big, mask=True, max_size=1000)
