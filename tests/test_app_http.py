"""HTTP routes served by the native server (tests/apps/main_app.py), driven with httpx and raw sockets."""

from __future__ import annotations

import json
import os
import socket

import httpx
import pytest

from conftest import ServerProcess, read_http_response


@pytest.fixture
def client(server: ServerProcess):
    with httpx.Client(base_url=server.url, timeout=10) as c:
        yield c


# --- routing ---------------------------------------------------------------------------
def test_sync_handler_str(client: httpx.Client) -> None:
    r = client.get("/hello")
    assert r.status_code == 200
    assert r.text == "hello"
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["content-length"] == "5"


def test_async_handler_dict_is_json(client: httpx.Client) -> None:
    r = client.get("/async")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"async": True}


def test_bytes_result(client: httpx.Client) -> None:
    r = client.get("/bytes")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.content == bytes(range(256))


@pytest.mark.parametrize("raw,value", [("42", 42), ("-3", -3), ("0", 0)])
def test_int_path_param_is_converted(client: httpx.Client, raw: str, value: int) -> None:
    r = client.get(f"/items/{raw}")
    assert r.status_code == 200
    assert r.json() == {"id": value, "type": "int"}


@pytest.mark.parametrize("path", ["/items/abc", "/items/4.5", "/items/", "/items/1/extra"])
def test_int_path_param_mismatch_is_404(client: httpx.Client, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404
    assert r.json() == {"detail": "Not Found"}


def test_path_converter_spans_segments(client: httpx.Client) -> None:
    assert client.get("/files/a/b/c.txt").json() == {"rest": "a/b/c.txt"}


def test_query_params_typed(client: httpx.Client) -> None:
    r = client.get("/query", params={"q": "héllo wörld", "n": "5", "flag": "true"})
    assert r.status_code == 200
    assert r.json() == {"q": "héllo wörld", "n": 5, "flag": True}
    assert client.get("/query?q=x").json() == {"q": "x", "n": 1, "flag": False}


def test_query_params_missing_or_invalid_is_422(client: httpx.Client) -> None:
    assert client.get("/query").status_code == 422
    assert client.get("/query?q=x&n=abc").status_code == 422


def test_request_and_response_headers(client: httpx.Client) -> None:
    r = client.get("/headers", headers={"X-Test": "value 1"})
    assert r.status_code == 200
    assert r.text == "value 1"
    assert r.headers["x-reply"] == "yes"
    assert client.get("/headers").text == "missing"


def test_json_body(client: httpx.Client) -> None:
    payload = {"a": [1, 2, {"b": None}], "s": "ünïcode"}
    r = client.post("/json", json=payload)
    assert r.status_code == 200
    assert r.json() == {"got": payload}


def test_invalid_json_body_is_400(client: httpx.Client) -> None:
    r = client.post("/json", content=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400


def test_raw_body_round_trip(client: httpx.Client) -> None:
    body = os.urandom(200_000)
    r = client.post("/raw", content=body)
    assert r.status_code == 200
    assert r.content == body


def test_chunked_request_body(client: httpx.Client) -> None:
    parts = [os.urandom(1000) for _ in range(20)]
    r = client.post("/raw", content=iter(parts))  # an iterator: httpx sends Transfer-Encoding: chunked
    assert r.status_code == 200
    assert r.content == b"".join(parts)


def test_body_over_limit_is_413(client: httpx.Client) -> None:
    r = client.post("/raw", content=b"x" * (2 << 20))  # the default max_body_size is 1 MiB
    assert r.status_code == 413


def test_404(client: httpx.Client) -> None:
    r = client.get("/no/such/route")
    assert r.status_code == 404
    assert r.json() == {"detail": "Not Found"}


def test_405_with_allow(client: httpx.Client) -> None:
    r = client.post("/hello")
    assert r.status_code == 405
    assert [m.strip() for m in r.headers["allow"].split(",")] == ["GET", "HEAD"]
    r = client.get("/write")
    assert r.status_code == 405
    assert sorted(m.strip() for m in r.headers["allow"].split(",")) == ["POST", "PUT"]
    assert client.put("/write").json() == {"method": "PUT"}
    assert client.post("/write").json() == {"method": "POST"}


def test_head_has_same_headers_and_no_body(server: ServerProcess, client: httpx.Client) -> None:
    get = client.get("/hello")
    head = client.head("/hello")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"] == "5"
    assert head.headers["content-type"] == get.headers["content-type"]
    # On the wire too: nothing after the HEAD response's head, so the next response follows at once.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /async HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while data.count(b"\r\n\r\n") < 2 or not data.endswith(b'{"async":true}'):
            chunk = s.recv(65536)
            assert chunk, f"connection closed early: {data!r}"
            data += chunk
        assert data.startswith(b"HTTP/1.1 200")
        assert data.count(b"HTTP/1.1 200") == 2
        assert b"hello" not in data


# --- errors -----------------------------------------------------------------------------
@pytest.mark.parametrize("path,secret", [("/boom", "sync-boom-1234"), ("/async-boom", "async-boom-5678")])
def test_handler_exception_is_500_without_details(server: ServerProcess, client: httpx.Client,
                                                  path: str, secret: str) -> None:
    r = client.get(path)
    assert r.status_code == 500
    assert secret not in r.text
    assert r.json() == {"detail": "Internal Server Error"}
    # The traceback is logged, and the server keeps serving (even on the same client).
    assert server.wait_for_output(secret), "the handler traceback was not logged"
    assert client.get("/hello").text == "hello"
    assert httpx.get(server.url + "/hello", timeout=10).text == "hello"


def test_http_exception_status_detail_headers(client: httpx.Client) -> None:
    r = client.get("/teapot")
    assert r.status_code == 418
    assert r.json() == {"detail": "short and stout"}
    assert r.headers["x-tea"] == "earl grey"


# --- connections ------------------------------------------------------------------------
def test_keep_alive_reuses_one_connection(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        local = "127.0.0.1:%d" % s.getsockname()[1]
        buf = bytearray()
        for _ in range(5):
            s.sendall(b"GET /peer HTTP/1.1\r\nHost: x\r\n\r\n")
            status, headers, body = read_http_response(s, buf)
            assert status == 200
            assert headers.get("connection", "keep-alive").lower() != "close"
            assert json.loads(body) == {"client": local}


def test_keep_alive_with_httpx_client(client: httpx.Client) -> None:
    peers = {client.get("/peer").json()["client"] for _ in range(5)}
    assert len(peers) == 1, f"httpx opened several connections: {peers}"


def test_connection_close_is_honoured(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        buf = bytearray()
        status, _, body = read_http_response(s, buf)
        assert (status, body) == (200, b"hello")
        assert s.recv(1024) == b""  # the server closed its side


def test_http10_closes_after_response(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"GET /hello HTTP/1.0\r\n\r\n")
        buf = bytearray()
        status, _, body = read_http_response(s, buf)
        assert (status, body) == (200, b"hello")
        assert s.recv(1024) == b""


def test_pipelined_requests_answered_in_order(server: ServerProcess) -> None:
    # The first handler is async and slow, the second sync and instant: order must still hold.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"GET /slow?d=0.2 HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /items/7 HTTP/1.1\r\nHost: x\r\n\r\n")
        buf = bytearray()
        bodies = [read_http_response(s, buf)[2] for _ in range(3)]
    assert bodies == [b"slow", b"hello", b'{"id":7,"type":"int"}']


def test_malformed_request_is_400_and_server_survives(server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost x\r\n\r\n")
        status, _, _ = read_http_response(s, bytearray())
        assert status == 400
    assert httpx.get(server.url + "/hello", timeout=10).text == "hello"


def test_concurrent_async_requests(server: ServerProcess) -> None:
    import asyncio

    async def main() -> list[str]:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as c:
            rs = await asyncio.gather(*(c.get("/slow", params={"d": "0.3"}) for _ in range(10)))
            return [r.text for r in rs]

    assert asyncio.run(main()) == ["slow"] * 10


# --- registration-time checks (no server needed) ----------------------------------------
def test_wrong_signature_is_rejected_at_registration() -> None:
    from fasterapi import App

    app = App()
    with pytest.raises(TypeError, match="item_id"):
        @app.get("/items/{item_id:int}")
        def missing_path_param(request) -> None: ...
    with pytest.raises(TypeError, match=r"\*args"):
        @app.get("/x")
        def star_args(*args) -> None: ...
    with pytest.raises(TypeError):
        app.add_route("/y", "not callable")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown path parameter type"):
        app.add_route("/z/{a:nope}", lambda a: a)
    with pytest.raises(ValueError, match="unsupported HTTP method"):
        app.add_route("/m", lambda: "", methods=["FETCH"])
    assert app.http_routes == []  # nothing half-registered


def test_wrong_websocket_and_sse_handlers_are_rejected_at_registration() -> None:
    from fasterapi import App

    app = App()
    with pytest.raises(TypeError, match="async def"):
        @app.websocket("/ws")
        def not_async(ws) -> None: ...
    with pytest.raises(TypeError, match="not path"):
        @app.websocket("/ws/{room}")
        async def bad_param(ws, other) -> None: ...
    with pytest.raises(TypeError, match="on_message"):
        class NoOnMessage:
            def on_open(self, ws) -> None: ...
        app.add_websocket_route("/cb", NoOnMessage)
    with pytest.raises(TypeError, match="generator"):
        @app.sse("/events")
        async def not_a_generator(request): return None
    assert app.ws_routes == [] and app.sse_routes == []


# --- large responses, split input, timeouts and limits ---------------------------------------
def test_large_response_to_a_slow_reader(server: ServerProcess) -> None:
    n = 16 << 20
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 10)
        s.settimeout(10)
        s.connect(("127.0.0.1", server.port))
        s.sendall(f"GET /big?n={n} HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        buf = bytearray()
        status, headers, body = read_http_response(s, buf, timeout=30)
        assert status == 200 and int(headers["content-length"]) == n
        assert body == bytes(range(256)) * (n // 256)
        assert read_http_response(s, buf)[2] == b"hello"  # the remainder was flushed, then the next one


def test_request_split_byte_by_byte(server: ServerProcess) -> None:
    req = b"POST /json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"a\": [1, 2]}"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(len(req)):
            s.sendall(req[i:i + 1])
        status, _, body = read_http_response(s, bytearray())
    assert (status, json.loads(body)) == (200, {"got": {"a": [1, 2]}})


def test_idle_and_incomplete_requests_time_out(spawn) -> None:
    srv = spawn.app("limits_app", "--request-timeout", "0.5", "--keepalive-timeout", "0.5")
    # Nothing sent at all, then half a request head: both are closed after request_timeout.
    for data in (b"", b"GET /hello HTTP/1.1\r\nHost: x\r\n"):
        with socket.create_connection(("127.0.0.1", srv.port), timeout=15) as s:
            s.sendall(data)
            rest = b""
            while chunk := s.recv(4096):
                rest += chunk
            assert rest == b"" or rest.startswith(b"HTTP/1.1 408"), rest
    # An idle keep-alive connection is closed after keepalive_timeout.
    with socket.create_connection(("127.0.0.1", srv.port), timeout=15) as s:
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        buf = bytearray()
        assert read_http_response(s, buf)[2] == b"hello"
        assert s.recv(4096) == b""


def test_max_connections(spawn) -> None:
    srv = spawn.app("limits_app", "--max-connections", "3")
    held = [socket.create_connection(("127.0.0.1", srv.port), timeout=10) for _ in range(3)]
    try:
        for s in held:  # make sure all three are accepted (answered) before the fourth
            s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_http_response(s, bytearray())[2] == b"hello"
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as extra:
            extra.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            try:
                while chunk := extra.recv(4096):
                    data += chunk
            except ConnectionResetError:
                pass
            assert data == b"" or data.startswith(b"HTTP/1.1 503"), data
    finally:
        for s in held:
            s.close()
    # Capacity comes back once they are gone.
    for _ in range(100):
        try:
            if httpx.get(srv.url + "/hello", timeout=10).text == "hello":
                break
        except httpx.HTTPError:
            pass
        import time

        time.sleep(0.05)
    else:
        raise AssertionError("the server never accepted again after connections closed")


@pytest.mark.parametrize("method,path,status,allow", [
    ("POST", "/sse/sync", 405, "GET, HEAD"),
    ("DELETE", "/sse/topic/news", 405, "GET, HEAD"),
    ("POST", "/ws/echo", 405, "GET, HEAD"),
    ("GET", "/ws/echo", 426, None),  # a WebSocket route without the upgrade
])
def test_wrong_method_on_websocket_and_sse_routes(client: httpx.Client, method: str, path: str, status: int,
                                                   allow: str | None) -> None:
    r = client.request(method, path)
    assert r.status_code == status
    if allow is not None:
        assert r.headers["allow"] == allow
    else:
        assert r.headers["upgrade"].lower() == "websocket"


@pytest.mark.parametrize("code", [201, 202, 404, 418, 503])
def test_response_status_and_repeated_headers(client: httpx.Client, code: int) -> None:
    r = client.get(f"/status/{code}")
    assert r.status_code == code
    assert r.text == f"status {code}"
    assert r.headers.get_list("x-multi") == ["a", "b"]


@pytest.mark.parametrize("code", [204, 304])
def test_no_body_statuses_have_no_content_length(server: ServerProcess, code: int) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(f"GET /status/{code} HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        buf = bytearray()
        status, headers, body = read_http_response(s, buf)
        assert (status, body) == (code, b"")
        assert "content-length" not in headers and "transfer-encoding" not in headers
        assert read_http_response(s, buf)[2] == b"hello"  # framing intact


@pytest.mark.parametrize("path", ["/unserializable", "/async-unserializable"])
def test_unserializable_result_is_500(server: ServerProcess, client: httpx.Client, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 500
    assert r.json() == {"detail": "Internal Server Error"}
    assert client.get("/hello").text == "hello"


def test_client_gone_cancels_pending_async_handler(server: ServerProcess) -> None:
    from conftest import get_state
    import uuid

    k = uuid.uuid4().hex
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(f"GET /slow-cancel?key={k} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        # Make sure it is being handled, then vanish.
        assert httpx.get(server.url + "/hello", timeout=10).text == "hello"
    assert get_state(server, k) == "cancelled"


def test_deep_pipeline_with_bodies(server: ServerProcess) -> None:
    reqs, expected = b"", []
    for i in range(50):
        if i % 3 == 0:
            body = json.dumps({"i": i}).encode()
            reqs += b"POST /json HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            expected.append(json.dumps({"got": {"i": i}}, separators=(",", ":")).encode())
        elif i % 3 == 1:
            reqs += b"GET /items/%d HTTP/1.1\r\nHost: x\r\n\r\n" % i
            expected.append(b'{"id":%d,"type":"int"}' % i)
        else:
            reqs += b"GET /slow?d=0.01 HTTP/1.1\r\nHost: x\r\n\r\n"
            expected.append(b"slow")
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(reqs)
        buf = bytearray()
        got = [read_http_response(s, buf)[2] for _ in range(50)]
    assert got == expected
