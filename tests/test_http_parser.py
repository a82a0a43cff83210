"""HTTP/1.1 request parser, body reader and response writer through
fasterapi._core.http, cross-checked against h11 (the sans-I/O HTTP library)."""

import email.utils
import random
import re

import h11
import pytest

from fasterapi._core import http

HttpError = http.HttpError


def parse_all_prefixes(data: bytes, **limits):
    """Parse every prefix: each must be None (partial) or the whole input's outcome."""
    def outcome(b):
        try:
            return ("ok", http.parse_request(b, **limits))
        except HttpError as e:
            return ("err", (e.status, e.reason))

    full = outcome(data)
    decided = False
    for k in range(len(data)):
        o = outcome(data[:k])
        if o == ("ok", None):
            assert not decided, f"prefix {k} went back to partial"
            continue
        decided = True
        assert o == full, f"prefix {k}: {o} != {full}"
    return full


def test_simple_get():
    raw = b"GET /items/7?q=a%20b&x=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"
    d = http.parse_request(raw + b"GET /next")
    assert d["method"] == "GET"
    assert d["target"] == "/items/7?q=a%20b&x=1"
    assert d["path"] == "/items/7"
    assert d["query"] == "q=a%20b&x=1"
    assert d["version"] == "HTTP/1.1" and d["version_minor"] == 1
    assert d["headers"] == [(b"Host", b"example.com"), (b"Accept", b"*/*")]
    assert d["keep_alive"] is True
    assert d["chunked"] is False
    assert d["content_length"] is None
    assert d["expect_continue"] is False
    assert d["upgrade_websocket"] is False
    assert d["consumed"] == len(raw)


def test_partial_then_complete_at_every_prefix():
    req = b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
    kind, d = parse_all_prefixes(req)
    assert kind == "ok" and d["consumed"] == len(req)
    assert d["content_length"] == 3 and d["expect_continue"] is True


def test_buffer_types():
    raw = b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"
    for buf in (raw, bytearray(raw), memoryview(raw)):
        assert http.parse_request(buf)["path"] == "/"


def test_http_error_class():
    with pytest.raises(HttpError) as ei:
        http.parse_request(b"GET / HTTP/1.1\r\n\r\n")
    e = ei.value
    assert isinstance(e, ValueError)
    assert (e.status, e.reason) == (400, "missing Host header")
    assert str(e) == "400 missing Host header"
    assert HttpError.__module__ == "fasterapi._core.http"
    assert HttpError(431, "x").status == 431


BAD = [
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "multiple Host headers"),
    (b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505, None),
    (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, None),
    (b"GET / HTTX/1.1\r\nHost: a\r\n\r\n", 400, "invalid HTTP version"),
    (b"GET / HTTP/1.1\nHost: a\r\n\r\n", 400, None),
    (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, "whitespace before colon in header field"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n 2\r\n\r\n", 400, "obsolete line folding is not allowed"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400, "invalid character in header value"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400, None),
    (b"GET / HTTP/1.1\r\nHost: a\r\nBad\x01: v\r\n\r\n", 400, "invalid character in header name"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400, "invalid Content-Length"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1x\r\n\r\n", 400, "invalid Content-Length"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400, "invalid Content-Length"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400,
     "multiple Content-Length headers"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", 400, None),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400,
     "both Transfer-Encoding and Content-Length"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400, None),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "unsupported transfer coding"),
    (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, None),
    (b"POST / HTTP/1.1\r\nHost: a\r\nExpect: teapot\r\n\r\n", 417, "unsupported expectation"),
    (b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, None),
    (b"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", 400, None),
    (b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "invalid character in method"),
]


@pytest.mark.parametrize("raw,status,reason", BAD)
def test_refused(raw, status, reason):
    kind, (st, why) = parse_all_prefixes(raw)
    assert kind == "err"
    assert st == status
    if reason is not None:
        assert why == reason


def test_limits():
    with pytest.raises(HttpError) as ei:
        http.parse_request(b"GET /" + b"a" * 100, max_request_line=50)  # no CRLF needed to refuse
    assert ei.value.status == 414
    with pytest.raises(HttpError) as ei:
        http.parse_request(b"GET / HTTP/1.1\r\nHost: a\r\nX: " + b"v" * 100, max_header_bytes=64)
    assert ei.value.status == 431
    many = b"".join(b"X%d: v\r\n" % i for i in range(5))
    with pytest.raises(HttpError) as ei:
        http.parse_request(b"GET / HTTP/1.1\r\nHost: a\r\n" + many + b"\r\n", max_headers=5)
    assert ei.value.status == 431
    assert http.parse_request(b"GET / HTTP/1.1\r\nHost: a\r\n" + many + b"\r\n", max_headers=6)


def test_connection_semantics():
    def ka(raw):
        return http.parse_request(raw)["keep_alive"]

    assert ka(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert not ka(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Close\r\n\r\n")
    assert not ka(b"GET / HTTP/1.0\r\n\r\n")
    assert ka(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    up = http.parse_request(b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
                            b"Upgrade: WebSocket\r\n\r\n")
    assert up["upgrade_websocket"]


def test_absolute_form_and_asterisk():
    d = http.parse_request(b"GET http://example.com/p?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n")
    assert (d["path"], d["query"]) == ("/p", "q=1")
    d = http.parse_request(b"OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n")
    assert d["target"] == "*"


def test_body_content_length_and_pipelining():
    first = b"POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
    second = b"GET /b HTTP/1.1\r\nHost: h\r\n\r\n"
    d = http.parse_request_with_body(first + second)
    assert d["body"] == b"hello" and d["consumed"] == len(first)
    d2 = http.parse_request_with_body((first + second)[d["consumed"]:])
    assert d2["path"] == "/b" and d2["body"] == b""
    assert http.parse_request_with_body(first[:-1]) is None


def test_body_chunked():
    raw = (b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"4;ext=\"q\"\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nTrailer: x\r\n\r\n")
    d = http.parse_request_with_body(raw + b"NEXT")
    assert d["body"] == b"Wikipedia in\r\n\r\nchunks."
    assert d["consumed"] == len(raw)


@pytest.mark.parametrize("body,status", [
    (b"zz\r\n", 400),
    (b"\r\n", 400),
    (b"3\r\nabcd\r\n0\r\n\r\n", 400),
    (b"3\nabc\r\n0\r\n\r\n", 400),
    (b"fffffffffffffffffff\r\n", 413),
    (b"400\r\n", 413),
])
def test_body_chunked_errors(body, status):
    raw = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + body
    with pytest.raises(HttpError) as ei:
        http.parse_request_with_body(raw, max_body_size=1000)
    assert ei.value.status == status


def test_chunk_size_overflow():
    raw = b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1" + b"0" * 16 + b"\r\n"
    with pytest.raises(HttpError) as ei:
        http.parse_request_with_body(raw, max_body_size=2**64 - 1)
    assert (ei.value.status, ei.value.reason) == (400, "chunk size too large")


def test_body_too_large_before_reading():
    with pytest.raises(HttpError) as ei:
        http.parse_request_with_body(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n", max_body_size=10)
    assert ei.value.status == 413
    with pytest.raises(HttpError) as ei:
        http.BodyReader(content_length=11, max_body_size=10)
    assert ei.value.status == 413


def test_body_reader_byte_by_byte():
    wire = b"3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\nrest"
    r = http.BodyReader(chunked=True)
    got = b""
    pos = 0
    while not r.done:
        done, consumed, data = r.feed(wire[pos:pos + 1])
        got += data
        pos += consumed
    assert got == b"abc0123456789abcdef"
    assert wire[pos:] == b"rest"
    assert r.body_size == 19
    r2 = http.BodyReader(chunked=True)
    done, consumed, data = r2.feed(wire)
    assert (done, consumed, data) == (True, len(wire) - 4, got)


def test_status_reason():
    assert http.status_reason(200) == "OK"
    assert http.status_reason(413) == "Content Too Large"
    assert http.status_reason(426) == "Upgrade Required"
    assert http.status_reason(431) == "Request Header Fields Too Large"
    assert http.status_reason(505) == "HTTP Version Not Supported"
    assert http.status_reason(299) == ""


def test_response_head_and_injection():
    head = http.response_head(200, [("Content-Type", "text/plain")], content_length=3, add_date=False)
    assert head == b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\n"
    head = http.response_head(404, [], content_length=0, keep_alive=False)
    assert head.startswith(b"HTTP/1.1 404 Not Found\r\nDate: ")
    assert head.endswith(b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    for name, value in [("X", "a\r\nSet-Cookie: s=1"), ("X", "a\nb"), ("X", "a\x00"), ("X Y", "v"), ("X\r\n", "v")]:
        with pytest.raises(ValueError):
            http.response_head(200, [(name, value)], content_length=0)


def test_date_format():
    date = http.http_date()
    assert re.fullmatch(r"[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT", date)
    assert email.utils.parsedate_to_datetime(date).tzinfo is not None
    assert http.format_http_date(784111777) == "Sun, 06 Nov 1994 08:49:37 GMT"
    assert http.format_http_date(784111777) == email.utils.formatdate(784111777, usegmt=True)


def test_simple_response_and_chunks():
    r = http.simple_response(400, "text/plain", "bad", keep_alive=False)
    assert r.startswith(b"HTTP/1.1 400 Bad Request\r\n") and r.endswith(b"\r\n\r\nbad")
    assert http.simple_response(400, "text/plain", "bad", head_only=True).endswith(b"Content-Length: 3\r\n\r\n")
    assert http.chunk(b"hello") == b"5\r\nhello\r\n"
    assert http.chunk(b"") == b""
    assert http.last_chunk() == b"0\r\n\r\n"


# --- cross-checks with h11 ----------------------------------------------------

VALID = [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET /p/q?x=1&y=%20 HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent: t/1\r\nAccept:  */* \r\n\r\n",
    b"POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\nContent-Type: text/plain\r\n\r\nhello world",
    b"PUT /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n1;x=y\r\n!\r\n0\r\n\r\n",
    b"DELETE /d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET http://a/abs?q HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Tab: a\tb\r\n\r\n",
]


def h11_parse(raw):
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(raw)
    req = None
    body = b""
    while True:
        ev = conn.next_event()
        if isinstance(ev, h11.Request):
            req = ev
        elif isinstance(ev, h11.Data):
            body += ev.data
        elif isinstance(ev, h11.EndOfMessage) or ev is h11.NEED_DATA:
            break
    return req, body


@pytest.mark.parametrize("raw", VALID)
def test_matches_h11(raw):
    ours = http.parse_request_with_body(raw)
    req, body = h11_parse(raw)
    assert ours["method"].encode() == req.method
    assert ours["target"].encode() == req.target
    assert [(n.lower(), v) for n, v in ours["headers"]] == [(n, v) for n, v in req.headers]
    assert ours["version"].encode()[5:] == req.http_version
    assert ours["body"] == body
    assert ours["consumed"] == len(raw)


def test_response_parsed_by_h11():
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method="GET", target="/", headers=[("Host", "a")]))
    client.send(h11.EndOfMessage())
    wire = http.response_head(200, [("X-A", "1")], chunked=True) + http.chunk(b"ab") + http.chunk(b"c" * 300) \
        + http.last_chunk()
    client.receive_data(wire)
    resp = client.next_event()
    assert isinstance(resp, h11.Response) and resp.status_code == 200
    hdrs = dict(resp.headers)
    assert hdrs[b"transfer-encoding"] == b"chunked" and b"date" in hdrs
    body = b""
    while True:
        ev = client.next_event()
        if isinstance(ev, h11.Data):
            body += ev.data
        else:
            assert isinstance(ev, h11.EndOfMessage)
            break
    assert body == b"ab" + b"c" * 300


def test_random_mutations_never_crash():
    rng = random.Random(7)
    seeds = [v for v in VALID]
    alphabet = b"\r\n :\t\x00aZ9/?*#@\x7f\x80,;"
    for _ in range(300):
        s = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(s))
            op = rng.randrange(3)
            if op == 0:
                s[i] = rng.choice(alphabet)
            elif op == 1:
                s.insert(i, rng.choice(alphabet))
            elif len(s) > 1:
                del s[i]
        try:
            d = http.parse_request_with_body(bytes(s), max_body_size=100)
        except HttpError as e:
            assert e.status in (400, 413, 414, 417, 431, 501, 505)
            assert e.reason
        else:
            assert d is None or 0 < d["consumed"] <= len(s)
