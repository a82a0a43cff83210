"""SSE encoder and replay buffer through fasterapi._core.sse, cross-checked
with httpx-sse's decoder (SSELineDecoder + SSEDecoder) over many inputs."""

import random

import pytest
from httpx_sse._decoders import SSEDecoder, SSELineDecoder

from fasterapi import _core
from fasterapi._core import sse


def decode_stream(wire: bytes, rng: random.Random | None = None):
    """Feed the bytes to httpx-sse in random pieces, as a network would."""
    text = wire.decode("utf-8")
    lines_dec, dec = SSELineDecoder(), SSEDecoder()
    events = []
    pos = 0
    while pos < len(text):
        step = rng.randint(1, 7) if rng else len(text)
        for line in lines_dec.decode(text[pos:pos + step]):
            ev = dec.decode(line)
            if ev is not None:
                events.append(ev)
        pos += step
    for line in lines_dec.flush():
        ev = dec.decode(line)
        if ev is not None:
            events.append(ev)
    return events


def norm(s: str) -> str:
    return s.replace("\r\n", "\n").replace("\r", "\n")


def test_exact_bytes():
    assert sse.encode("hello") == b"data: hello\n\n"
    assert sse.encode("") == b"data:\n\n"
    assert sse.encode("a\r\nb\rc\nd") == b"data: a\ndata: b\ndata: c\ndata: d\n\n"
    assert sse.encode("a\n") == b"data: a\ndata:\n\n"
    assert sse.encode("x", event="upd", id="7", retry=3000, comment="hi") == \
        b": hi\nid: 7\nevent: upd\nretry: 3000\ndata: x\n\n"
    assert sse.encode(comment="ping") == b": ping\n\n"
    assert sse.encode(retry=0) == b"retry: 0\n\n"
    assert sse.encode("x", id="") == b"id:\ndata: x\n\n"
    assert sse.encode(b"bytes ok") == b"data: bytes ok\n\n"
    assert "é€".encode() in sse.encode("é€")


def test_top_level_alias_used_by_fasterapi_sse():
    assert _core.encode_sse("a\nb", "e", "1", 5, "c") == sse.encode("a\nb", event="e", id="1", retry=5, comment="c")


@pytest.mark.parametrize("kwargs,message", [
    ({"data": "x", "event": "a\nb"}, "event name must not contain CR or LF"),
    ({"data": "x", "event": "a\rb"}, "event name must not contain CR or LF"),
    ({"data": "x", "event": "x\r\ndata: injected"}, "event name must not contain CR or LF"),
    ({"data": "x", "id": "1\n2"}, "event id must not contain CR, LF or NUL"),
    ({"data": "x", "id": "1\r"}, "event id must not contain CR, LF or NUL"),
    ({"data": "x", "id": "a\x00b"}, "event id must not contain CR, LF or NUL"),
    ({"data": "x", "retry": -1}, "retry must be a non-negative number of milliseconds"),
])
def test_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sse.encode(**kwargs)


def test_comments_and_keepalive():
    assert sse.encode_comment("a\nb\r\nc") == b": a\n: b\n: c\n"
    assert sse.keepalive() == b": keep-alive\n\n"
    # A comment cannot smuggle fields, and keep-alives dispatch nothing.
    wire = sse.encode(comment="x\ndata: evil\revent: evil") + sse.keepalive() + sse.encode("real")
    events = decode_stream(wire)
    assert [(e.event, e.data) for e in events] == [("message", "real")]


PIECES = ["a", "Z", " ", ":", "data:", "id: 3", "event:x", "\n", "\r", "\r\n", "\n\n", "é", "€", "\t", "retry: 5",
          "\x00", "\ufeff", "{\"k\": [1, 2]}"]


def random_text(rng, max_pieces, line_breaks=True, nul=True):
    out = []
    for _ in range(rng.randint(0, max_pieces)):
        p = rng.choice(PIECES)
        if not line_breaks and ("\r" in p or "\n" in p):
            continue
        if not nul and "\x00" in p:
            continue
        out.append(p)
    return "".join(out)


def test_httpx_sse_round_trip_many_inputs():
    rng = random.Random(1234)
    for _ in range(300):
        wire = b""
        expected = []
        last_id = ""
        for _ in range(rng.randint(1, 6)):
            data = random_text(rng, 8)
            event = random_text(rng, 3, line_breaks=False) or None
            ev_id = random_text(rng, 3, line_breaks=False, nul=False) if rng.random() < 0.5 else None
            retry = rng.randrange(100000) if rng.random() < 0.25 else None
            comment = random_text(rng, 3) if rng.random() < 0.25 else None
            wire += sse.encode(data, event=event, id=ev_id, retry=retry, comment=comment)
            if ev_id is not None:
                last_id = ev_id
            expected.append((event or "message", norm(data), last_id, retry))
        got = decode_stream(wire, rng)
        assert [(e.event, e.data, e.id, e.retry) for e in got] == expected, wire


def test_replay_buffer_basics():
    rb = sse.ReplayBuffer(3, 1000)
    for i in range(1, 6):
        rb.append(str(i), sse.encode(str(i), id=str(i)))
    assert len(rb) == 3 and rb.evicted == 2
    assert "2" not in rb and "3" in rb
    assert rb.events_after("2") is None  # evicted: caller decides
    assert rb.after("unknown") is None
    assert rb.events_after("3") == sse.encode("4", id="4") + sse.encode("5", id="5")
    assert rb.after("4") == [sse.encode("5", id="5")]
    assert rb.after("5") == []
    assert rb.all() == b"".join(sse.encode(str(i), id=str(i)) for i in (3, 4, 5))
    assert rb.max_events == 3 and rb.max_bytes == 1000
    rb.clear()
    assert len(rb) == 0 and rb.bytes == 0


def test_replay_buffer_byte_bound():
    rb = sse.ReplayBuffer(100, 50)
    for i in range(20):
        rb.append(str(i), b"x" * 12)
        assert rb.bytes <= 50
    assert len(rb) == 4 and rb.evicted == 16
    rb.append("big", b"y" * 51)  # larger than the whole buffer: kept nowhere, older ids unknown
    assert len(rb) == 0 and rb.after("19") is None and rb.after("big") is None
