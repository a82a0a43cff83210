"""Real-world client quirks (issue 10) over raw sockets and third-party clients:

- HEAD on every route kind answers GET's header fields and no body (RFC 9110 §9.3.2, §8.6);
- header values go out as ISO-8859-1 and a value that is not Latin-1 is refused with a
  500 and a log line naming the header (RFC 9110 §5.5), on HTTP, WebSocket and SSE;
- the raw path is split into segments before percent-decoding (RFC 3986 §2.2), and
  ``raw_path`` is exposed on Request and WebSocket.

The server is tests/apps/quirks_app.py in a subprocess.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid

import httpx
import pytest
from httpx_sse import connect_sse
from websockets.asyncio.client import connect

from conftest import RawWebSocket, ServerProcess, Spawner, get_state, read_http_response


@pytest.fixture(scope="module")
def qsrv(module_spawn: Spawner) -> ServerProcess:
    return module_spawn.app("quirks_app")


def _conn(srv: ServerProcess) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.settimeout(10)
    return s


def read_head(sock: socket.socket, buf: bytearray) -> tuple[str, list[tuple[str, bytes]]]:
    """The next response head only (a HEAD response has no body to frame): status line and
    (lower-case name, raw value bytes) fields; ``buf`` keeps what follows."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before a full response head: {bytes(buf)!r}")
        buf += chunk
    head, _, _ = bytes(buf).partition(b"\r\n\r\n")
    del buf[: len(head) + 4]
    lines = head.split(b"\r\n")
    fields = []
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        fields.append((k.strip().decode("ascii").lower(), v.strip()))
    return lines[0].decode("ascii"), fields


def _names(fields: list[tuple[str, bytes]]) -> dict[str, bytes]:
    return {k: v for k, v in fields if k != "date"}


def _rest_until_close(sock: socket.socket, buf: bytearray, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return bytes(buf)
        buf += chunk


def _get_head_of_get(srv: ServerProcess, target: str, version: str = "1.1") -> tuple[str, dict[str, bytes]]:
    """GET's status line and header fields (the body is not read; the connection is dropped)."""
    with _conn(srv) as s:
        s.sendall(f"GET {target} HTTP/{version}\r\nHost: x\r\n\r\n".encode())
        status, fields = read_head(s, bytearray())
    return status, _names(fields)


# --- 1. HEAD on every route kind ------------------------------------------------------
SSE_GET_FIELDS = {"content-type", "cache-control", "x-accel-buffering", "transfer-encoding"}


@pytest.mark.parametrize("target", ["/events", "/events-topic"])
def test_head_on_sse_route_has_get_fields_and_no_body(qsrv: ServerProcess, target: str) -> None:
    get_status, get_fields = _get_head_of_get(qsrv, target)
    assert SSE_GET_FIELDS <= set(get_fields), get_fields
    with _conn(qsrv) as s:
        # Pipelined: the GET /hello answer must follow the HEAD head at once (no body, no chunks).
        s.sendall(f"HEAD {target} HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        buf = bytearray()
        status, fields = read_head(s, buf)
        assert status == get_status == "HTTP/1.1 200 OK"
        assert _names(fields) == get_fields  # same fields, same values, framing included
        assert _names(fields)["transfer-encoding"] == b"chunked"
        assert _names(fields)["x-accel-buffering"] == b"no"
        assert "content-length" not in _names(fields)
        code, _, body = read_http_response(s, buf)
        assert (code, body) == (200, b"hello"), "the HEAD response carried a body"


def test_head_on_sse_route_keeps_route_headers_and_never_starts_the_stream(qsrv: ServerProcess) -> None:
    key = uuid.uuid4().hex
    with _conn(qsrv) as s:
        s.sendall(f"HEAD /events?key={key} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        _, fields = read_head(s, bytearray())
    assert _names(fields)["x-stream"] == b"yes"
    r = httpx.get(f"{qsrv.url}/_state/events-started-{key}", timeout=10)
    assert r.status_code == 404, "the generator ran for a HEAD request"
    # The same route does start for GET (the check above can fail).
    with httpx.Client(base_url=qsrv.url, timeout=10) as c, \
            connect_sse(c, "GET", f"/events?key={key}") as src:
        assert next(src.iter_sse()).data == "one"
    assert get_state(qsrv, f"events-started-{key}") == "GET"


def test_head_on_sse_route_http10_matches_close_delimited_get(qsrv: ServerProcess) -> None:
    _, get_fields = _get_head_of_get(qsrv, "/events", "1.0")
    assert "transfer-encoding" not in get_fields and "content-length" not in get_fields
    with _conn(qsrv) as s:
        s.sendall(b"HEAD /events HTTP/1.0\r\nHost: x\r\n\r\n")
        buf = bytearray()
        status, fields = read_head(s, buf)
        assert status == "HTTP/1.1 200 OK"
        assert _names(fields) == get_fields
        assert _rest_until_close(s, buf) == b"", "bytes after a HEAD response"


def test_head_on_sse_route_with_bad_query_gets_gets_status(qsrv: ServerProcess) -> None:
    get = httpx.get(f"{qsrv.url}/events-q", timeout=10)
    assert get.status_code == 422  # a missing query parameter, as on plain routes (not 500)
    with _conn(qsrv) as s:
        s.sendall(b"HEAD /events-q HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        buf = bytearray()
        status, fields = read_head(s, buf)
        assert status.startswith("HTTP/1.1 422")
        assert _names(fields)["content-length"] == get.headers["content-length"].encode()
        assert read_http_response(s, buf)[2] == b"hello"


@pytest.mark.parametrize("target,code", [
    ("/hello", 200), ("/async-hello", 200), ("/boom", 500), ("/needs-q", 422), ("/nowhere", 404),
    ("/post-only", 405), ("/ws", 426), ("/p/a%2Fb", 200),
])
def test_head_on_every_route_kind(qsrv: ServerProcess, target: str, code: int) -> None:
    get_status, get_fields = _get_head_of_get(qsrv, target)
    with _conn(qsrv) as s:
        s.sendall(f"HEAD {target} HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        buf = bytearray()
        status, fields = read_head(s, buf)
        assert status == get_status and int(status.split()[1]) == code
        if code == 405:  # Allow lists HEAD with GET only where GET is allowed
            assert _names(fields)["allow"] == get_fields["allow"] == b"POST"
        # Content-Length only where it equals GET's (RFC 9110 §8.6).
        assert _names(fields) == get_fields
        if _names(fields).get(b"connection") != b"close":
            assert read_http_response(s, buf)[2] == b"hello", "the HEAD response carried a body"


# --- 2. header value encoding -----------------------------------------------------------
def test_header_value_goes_out_as_latin1(qsrv: ServerProcess) -> None:
    with _conn(qsrv) as s:
        s.sendall(b"GET /latin1 HTTP/1.1\r\nHost: x\r\n\r\n")
        _, fields = read_head(s, bytearray())
    assert _names(fields)["x-word"] == b"caf\xe9"
    assert httpx.get(f"{qsrv.url}/latin1", timeout=10).headers["x-word"] == "café"


@pytest.mark.parametrize("raw", [b"caf\xe9", b"caf\xc3\xa9", b"plain ascii", b"\xa0\xff obs-text"])
def test_request_header_value_round_trips_byte_for_byte(qsrv: ServerProcess, raw: bytes) -> None:
    with _conn(qsrv) as s:
        s.sendall(b"GET /echo-header HTTP/1.1\r\nHost: x\r\nX-In: " + raw + b"\r\n\r\n")
        _, fields = read_head(s, bytearray())
    assert _names(fields)["x-echo"] == raw


@pytest.mark.parametrize("target,header", [
    ("/not-latin1", "X-Check"), ("/async-not-latin1", "X-Async-Check"), ("/exc-not-latin1", "X-Exc-Check"),
])
def test_header_value_not_latin1_is_refused_with_500_naming_the_header(
        qsrv: ServerProcess, target: str, header: str) -> None:
    with _conn(qsrv) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        buf = bytearray()
        code, headers, body = read_http_response(s, buf)
        assert code == 500 and b"\xe2\x9c\x93" not in body
        assert header.lower() not in headers
        assert read_http_response(s, buf)[2] == b"hello"  # the connection stays usable
    assert qsrv.wait_for_output(f"'{header}' value '✓' is not ISO-8859-1"), qsrv.output()[-2000:]


def test_ws_accept_headers_latin1(qsrv: ServerProcess) -> None:
    ws = RawWebSocket(qsrv.port, "/ws-latin1")
    try:
        assert ws.status == 101
        assert ws.headers["x-word"] == "café"  # read back as latin-1: caf\xe9 on the wire
    finally:
        ws.close()


def test_ws_accept_headers_not_latin1_refused(qsrv: ServerProcess) -> None:
    ws = RawWebSocket(qsrv.port, "/ws-not-latin1")
    try:
        assert ws.status == 500
    finally:
        ws.close()
    assert qsrv.wait_for_output("'X-Ws-Check' value '✓' is not ISO-8859-1"), qsrv.output()[-2000:]


def test_sse_route_headers_latin1(qsrv: ServerProcess) -> None:
    with _conn(qsrv) as s:
        s.sendall(b"GET /events-latin1 HTTP/1.1\r\nHost: x\r\n\r\n")
        _, fields = read_head(s, bytearray())
    assert _names(fields)["x-word"] == b"caf\xe9"


def test_sse_route_headers_not_latin1_refused_at_registration() -> None:
    from fasterapi import App

    app = App()
    with pytest.raises(ValueError, match=r"'X-Bad'.*not ISO-8859-1"):
        app.add_sse_route("/s", topic="t", headers=[("X-Bad", "✓")])


# --- 4. percent-decoding after splitting into segments ------------------------------------
@pytest.mark.parametrize("target,route,params,path", [
    ("/p/a%2Fb", "one", {"name": "a/b"}, "/p/a/b"),
    ("/p/a%2fb", "one", {"name": "a/b"}, "/p/a/b"),
    ("/p/a/b", "two", {"a": "a", "b": "b"}, "/p/a/b"),
    ("/p/a%252Fb", "one", {"name": "a%2Fb"}, "/p/a%2Fb"),
    ("/p/%2F/%2F", "two", {"a": "/", "b": "/"}, "/p////"),
    ("/p/caf%C3%A9", "one", {"name": "café"}, "/p/café"),
    ("/p/a%20b", "one", {"name": "a b"}, "/p/a b"),
    ("/f/a%2Fb/c", "path", {"rest": "a/b/c"}, "/f/a/b/c"),
    ("/n/%31%32", "int", {"i": 12}, "/n/12"),
    ("/with%20space", "static", {}, "/with space"),
])
def test_percent_decoding_after_segment_split(qsrv: ServerProcess, target: str, route: str, params: dict,
                                              path: str) -> None:
    r = httpx.get(qsrv.url + target, timeout=10)
    assert r.status_code == 200, r.text
    assert r.json() == {"route": route, "params": params, "path": path, "raw_path": target}


def test_encoded_slash_does_not_reach_a_two_segment_route(qsrv: ServerProcess) -> None:
    assert httpx.get(qsrv.url + "/n/1%2F2", timeout=10).status_code == 404  # one segment "1/2": not an int


def test_websocket_path_params_and_raw_path(qsrv: ServerProcess) -> None:
    async def main() -> dict:
        async with connect(f"{qsrv.ws_url}/wsp/a%2Fb%20c") as ws:
            return json.loads(await ws.recv())

    got = asyncio.run(main())
    assert got == {"name": "a/b c", "path": "/wsp/a/b c", "raw_path": "/wsp/a%2Fb%20c"}


def test_sse_path_params_and_raw_path(qsrv: ServerProcess) -> None:
    with httpx.Client(base_url=qsrv.url, timeout=10) as c, connect_sse(c, "GET", "/sp/x%2Fy") as src:
        assert next(src.iter_sse()).data == "x/y|/sp/x/y|/sp/x%2Fy"
