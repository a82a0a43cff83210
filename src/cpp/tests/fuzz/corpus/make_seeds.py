#!/usr/bin/env python3
"""Writes the seed corpora of the libFuzzer targets (src/cpp/tests/fuzz/*.cpp).

Each target's first bytes are its configuration (see the comment at the top of the
target). Re-run after changing a target's input layout:
    python3 src/cpp/tests/fuzz/corpus/make_seeds.py
"""
import hashlib
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
MASK = b"\x37\xfa\x21\x3d"


def write(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def frame(op, payload, fin=True, rsv1=False, masked=True, mask=MASK, plain=False):
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | op
    n = len(payload)
    if n < 126:
        hdr = bytes([b0, (0x80 if masked else 0) | n])
    elif n < 65536:
        hdr = bytes([b0, (0x80 if masked else 0) | 126]) + struct.pack("!H", n)
    else:
        hdr = bytes([b0, (0x80 if masked else 0) | 127]) + struct.pack("!Q", n)
    if not masked or plain:
        return hdr + (mask if masked else b"") + payload
    return hdr + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


def deflate(msg, wbits=15):
    c = zlib.compressobj(6, zlib.DEFLATED, -wbits)
    out = c.compress(msg) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def deflate_stream(msgs, wbits=15):
    """Compressed payloads with context takeover (one compressor for all)."""
    c = zlib.compressobj(6, zlib.DEFLATED, -wbits)
    out = []
    for m in msgs:
        p = c.compress(m) + c.flush(zlib.Z_SYNC_FLUSH)
        out.append(p[:-4])
    return out


def close(code, reason=b""):
    return frame(8, struct.pack("!H", code) + reason)


def close_plain(code, reason=b""):
    return frame(8, struct.pack("!H", code) + reason, plain=True)


def ws_frame():
    # config: bits 6-7 = limit (0xC0 -> 1 MiB), bit 0 deflate, bits 2-4 window 8+v.
    plain = 0xC0
    defl = 0xC0 | 1 | (7 << 2)
    seeds = {
        "text": frame(1, b"Hello, world"),
        "binary_126": frame(2, bytes(range(200))),
        "binary_64bit_len": frame(2, b"x" * 70000)[:0] + frame(2, b"z" * 300),
        "utf8_text": frame(1, "h\u00e9llo \u20ac \U0001f600".encode()),
        "fragmented": frame(1, b"frag", fin=False) + frame(9, b"ping!") + frame(0, b"men", fin=False)
        + frame(0, b"ted", fin=True),
        "fragmented_utf8_split": frame(1, "\u20ac".encode()[:1], fin=False) + frame(0, "\u20ac".encode()[1:]),
        "ping_pong": frame(9, b"") + frame(10, b"pong-data") + frame(9, b"a" * 125),
        "close_1000": close(1000, b"bye"),
        "close_empty": frame(8, b""),
        "close_4999": close(4999, "r\u00e9ason".encode()),
        "close_bad_code": close(1005),
        "close_1byte": frame(8, b"\x03"),
        "unmasked": frame(1, b"no mask", masked=False),
        "reserved_opcode": frame(3, b"?"),
        "bad_utf8": frame(1, b"\xc0\xaf"),
        "continuation_first": frame(0, b"orphan"),
        "too_long_control": frame(9, b"p" * 126),
        "two_messages_then_close": frame(1, b"one") + frame(2, b"\x00\x01two") + close(1001),
    }
    for name, wire in seeds.items():
        write("ws_frame", name, bytes([plain, 0x5a]) + wire)
    # The same with plain payloads (split seed bit 7: the harness masks them).
    plain_seeds = {
        "plain_close_codes": close_plain(1000, b"bye"),
        "plain_close_4000": close_plain(4000, "é".encode()),
        "plain_text_utf8": frame(1, "€😀 ok".encode(), plain=True),
        "plain_fragmented": frame(1, "€".encode()[:2], fin=False, plain=True) + frame(9, b"hi", plain=True)
        + frame(0, "€".encode()[2:], plain=True) + close_plain(1001),
    }
    for name, wire in plain_seeds.items():
        write("ws_frame", name, bytes([plain, 0x80 | 0x21]) + wire)
    # Small limit (16 bytes): a message over it.
    write("ws_frame", "over_limit", bytes([0x00, 7]) + frame(2, b"y" * 40))
    # Client side: unmasked server frames.
    write("ws_frame", "client_side", bytes([plain | 0x20, 3]) + frame(1, b"from server", masked=False)
          + frame(8, struct.pack("!H", 1000), masked=False))
    # permessage-deflate: compressed single, fragmented compressed, context takeover.
    c1, c2 = deflate_stream([b"Hello Hello Hello Hello", b"Hello again Hello again"])
    write("ws_frame", "deflate_takeover", bytes([defl, 9]) + frame(1, c1, rsv1=True) + frame(1, c2, rsv1=True))
    big = deflate(b"A" * 5000)
    write("ws_frame", "deflate_fragmented", bytes([defl | 2, 11]) + frame(2, big[:5], fin=False, rsv1=True)
          + frame(0, big[5:]) + close(1000))
    write("ws_frame", "deflate_bomb_small_limit", bytes([(defl & 0x3F) | 0x40, 1]) + frame(2, deflate(b"\0" * 100000), rsv1=True))
    write("ws_frame", "deflate_window9", bytes([0xC0 | 1 | 2 | (1 << 2), 5]) + frame(1, deflate(b"abcabcabc" * 20, 9), rsv1=True))
    write("ws_frame", "deflate_corrupt", bytes([defl, 4]) + frame(1, b"\xff\xff\xff\xff", rsv1=True))
    write("ws_frame", "deflate_bad_utf8", bytes([defl, 4]) + frame(1, deflate(b"ok \xed\xa0\x80"), rsv1=True))
    # Round-trip mode (config 0xFF): option byte then messages separated by 0xFF.
    write("ws_frame", "roundtrip_plain", b"\xff\x00hello\xff\x00\x01\x02\xffworld")
    write("ws_frame", "roundtrip_deflate_frag", b"\xff" + bytes([1 | (6 << 2) | (3 << 5)]) + b"aaaaaaaaaaaa\xffbbbb\xff")


def ws_utf8():
    seeds = {
        "ascii": b"\x07" + b"plain ascii text, long enough for the 16-byte fast path........",
        "mixed": b"\x03" + "h\u00e9llo \u20ac \U0001f600 \u0800 \uffff \U0010ffff".encode(),
        "overlong": b"\x01" + b"ab\xc0\xaf",
        "overlong3": b"\x02" + b"\xe0\x80\xaf",
        "surrogate": b"\x05" + b"x\xed\xa0\x80",
        "too_big": b"\x09" + b"\xf4\x90\x80\x80",
        "truncated": b"\x0b" + "\u20ac".encode()[:2],
        "stray_cont": b"\x0d" + b"\x80abc",
        "f5": b"\x11" + b"\xf5\x80\x80\x80",
    }
    for name, data in seeds.items():
        write("ws_utf8", name, data)


def ws_deflate():
    # Mode 0: options byte + header string. Mode 1: inflate arbitrary bytes.
    # Mode 2: round trip Deflater -> Inflater. See ws_deflate.cpp.
    offers = [
        b"permessage-deflate",
        b"permessage-deflate; client_max_window_bits",
        b"permessage-deflate; server_no_context_takeover; client_no_context_takeover",
        b"permessage-deflate; server_max_window_bits=9",
        b"permessage-deflate; server_max_window_bits=8; client_max_window_bits=8",
        b"permessage-deflate; client_max_window_bits=\"10\"",
        b"x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=15, permessage-deflate",
        b"permessage-deflate; server_max_window_bits=16, permessage-deflate; client_max_window_bits",
        b"permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        b"permessage-deflate; unknown=1, permessage-deflate",
        b"permessage-deflate;;",
        b"foo; bar=\"baz\\\"q\"",
    ]
    for i, o in enumerate(offers):
        write("ws_deflate", "offer_%02d" % i, bytes([0, i * 37 & 0xFF]) + o)
    write("ws_deflate", "inflate_hello", bytes([1, 0x1F, 0x10]) + deflate(b"Hello Hello Hello"))
    write("ws_deflate", "inflate_bomb", bytes([1, 0x1F, 0x01]) + deflate(b"\0" * 200000))
    write("ws_deflate", "inflate_two_msgs", bytes([1, 0x1F, 0x40]) + b"\xfe".join(deflate_stream([b"abcabc", b"abcabcabc"])))
    write("ws_deflate", "inflate_final_block", bytes([1, 0x1F, 0x40]) + zlib.compressobj(6, zlib.DEFLATED, -15).compress(b"fin") + zlib.compressobj(6, zlib.DEFLATED, -15).flush())
    write("ws_deflate", "roundtrip", bytes([2, 0x2A, 0x05]) + b"The quick brown fox \xfe jumps over the lazy dog" * 3)


REQ_GET = (b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: fuzz\r\n"
           b"Accept: */*\r\n\r\n")
UPGRADE = (b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
           b"Sec-WebSocket-Version: 13\r\n"
           b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n")


def ws_handshake():
    write("ws_handshake", "upgrade_full", b"\x00" + UPGRADE)
    write("ws_handshake", "upgrade_origins", b"\x07" + UPGRADE)
    write("ws_handshake", "upgrade_minimal", b"\x00" + b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\n"
          b"Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"
          b"Sec-WebSocket-Version: 13\r\n\r\n")
    write("ws_handshake", "version_8", b"\x01" + UPGRADE.replace(b"Version: 13", b"Version: 8"))
    write("ws_handshake", "bad_key", b"\x02" + UPGRADE.replace(b"dGhlIHNhbXBsZSBub25jZQ==", b"short"))
    write("ws_handshake", "post", b"\x03" + UPGRADE.replace(b"GET", b"POST"))
    write("ws_handshake", "http10", b"\x00" + UPGRADE.replace(b"HTTP/1.1", b"HTTP/1.0"))
    write("ws_handshake", "plain_get", b"\x00" + REQ_GET)


def http_parser():
    # config byte 0: limits selector, byte 1: split seed; see http_parser.cpp.
    reqs = {
        "get": REQ_GET,
        "upgrade": UPGRADE,
        "post_cl": b"POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello world",
        "post_chunked": b"POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=\"q\"\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n",
        "pipelined": b"GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
        "http10_keepalive": b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        "absolute_form": b"GET http://example.com:8080/p/a?x=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
        "options_star": b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
        "connect": b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        "expect": b"PUT /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
        "smuggle_cl_te": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "double_cl": b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
        "bare_lf": b"GET / HTTP/1.1\nHost: a\n\n",
        "obs_fold": b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n",
        "leading_crlf": b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "http2": b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
        "chunked_big": b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n",
    }
    for i, (name, r) in enumerate(reqs.items()):
        write("http_parser", name, bytes([0, i]) + r)
    write("http_parser", "small_limits", bytes([0x3F, 1]) + reqs["post_chunked"])


def sse_encoder():
    # See sse_encoder.cpp: [flags] [retry byte] then fields separated by 0x00 0x01.
    sep = b"\x00\x01"
    seeds = {
        "data_only": b"\x01\x00" + b"hello",
        "multiline": b"\x01\x00" + b"line1\nline2\r\nline3\rline4\n",
        "all_fields": b"\x1f\x05" + b"payload" + sep + b"update" + sep + b"42" + sep + b"a comment",
        "empty_data": b"\x01\x00",
        "id_with_lf": b"\x05\x00" + b"d" + sep + sep + b"1\n2",
        "event_with_cr": b"\x03\x00" + b"d" + sep + b"ev\rx",
        "id_nul": b"\x05\x00" + b"d" + sep + sep + b"a\x00b",
        "unicode": b"\x03\x00" + "\u20ac \U0001f600".encode() + sep + "\u00e9v".encode(),
        "comment_multiline": b"\x10\x00" + sep + sep + sep + b"c1\nc2\r\nc3",
    }
    for name, data in seeds.items():
        write("sse_encoder", name, data)


def sse_replay():
    # [max_events] [max_bytes] then (op, arg) pairs; see sse_replay.cpp.
    append = lambda arg: bytes([0, arg])
    after = lambda arg: bytes([1, arg])
    write("sse_replay", "fill_and_resume", bytes([4, 200]) + b"".join(append(a) for a in (1, 2, 3, 4, 5, 6))
          + after(3) + after(1) + after(6) + bytes([2, 0]))
    write("sse_replay", "duplicate_ids", bytes([8, 255]) + append(1) + append(17) + append(2) + append(33) + after(1))
    write("sse_replay", "oversized_empties", bytes([8, 60]) + append(1) + append(2) + append(200) + after(1) + append(3))
    write("sse_replay", "clear", bytes([3, 100]) + append(1) + append(2) + bytes([3, 0]) + after(1) + append(4) + after(4))


if __name__ == "__main__":
    sse_replay()
    ws_frame()
    ws_utf8()
    ws_deflate()
    ws_handshake()
    http_parser()
    sse_encoder()
