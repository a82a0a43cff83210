"""WebSocket opening handshake (RFC 6455 4.2) through fasterapi._core.handshake,
checked against Python's hashlib/base64 and the websockets sans-I/O client."""

import base64
import hashlib
import os

import pytest

from fasterapi._core import handshake

from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def good_headers(**overrides):
    headers = {
        "Host": "server.example.com",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": KEY,
        "Origin": "http://example.com",
        "Sec-WebSocket-Version": "13",
    }
    for name, value in overrides.items():
        name = name.replace("_", "-")
        if value is None:
            headers.pop(name, None)
        else:
            headers[name] = value
    return list(headers.items())


def test_compute_accept_rfc_example():
    assert handshake.compute_accept(KEY) == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_compute_accept_matches_hashlib():
    for _ in range(50):
        key = base64.b64encode(os.urandom(16)).decode()
        expected = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        assert handshake.compute_accept(key) == expected


def test_validate_ok_fields():
    r = handshake.validate("GET", "/chat", good_headers())
    assert r["status"] == 101
    assert r["reason"] == ""
    assert r["accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert r["subprotocol"] == ""
    assert r["offered_subprotocols"] == []
    assert r["deflate"] is False
    assert r["extensions"] == ""


@pytest.mark.parametrize(
    "method, version_minor, overrides, status, reason",
    [
        ("POST", 1, {}, 405, "WebSocket upgrade requires GET"),
        ("GET", 0, {}, 400, "WebSocket upgrade requires HTTP/1.1"),
        ("GET", 1, {"Upgrade": None}, 426, "missing Upgrade: websocket"),
        ("GET", 1, {"Connection": "keep-alive"}, 400, "missing Connection: upgrade"),
        ("GET", 1, {"Host": None}, 400, "missing Host"),
        ("GET", 1, {"Sec-WebSocket-Version": None}, 426, "missing Sec-WebSocket-Version"),
        ("GET", 1, {"Sec-WebSocket-Version": "8"}, 426, "unsupported Sec-WebSocket-Version"),
        ("GET", 1, {"Sec-WebSocket-Key": None}, 400, "missing Sec-WebSocket-Key"),
        ("GET", 1, {"Sec-WebSocket-Key": "c2hvcnQ="}, 400, "invalid Sec-WebSocket-Key"),
        ("GET", 1, {"Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ"}, 400, "invalid Sec-WebSocket-Key"),
        ("GET", 1, {"Sec-WebSocket-Protocol": "a b"}, 400, "invalid Sec-WebSocket-Protocol"),
    ],
)
def test_validate_refusals(method, version_minor, overrides, status, reason):
    r = handshake.validate(method, "/chat", good_headers(**overrides), version_minor=version_minor)
    assert (r["status"], r["reason"]) == (status, reason)
    assert r["accept"] == ""


def test_validate_duplicates():
    r = handshake.validate("GET", "/", good_headers() + [("sec-websocket-key", KEY)])
    assert (r["status"], r["reason"]) == (400, "duplicate Sec-WebSocket-Key")


def test_origin_allow_list():
    allowed = ["https://app.example.com"]
    r = handshake.validate("GET", "/", good_headers(), allowed_origins=allowed)
    assert (r["status"], r["reason"]) == (403, "Origin not allowed")
    r = handshake.validate("GET", "/", good_headers(Origin="https://APP.example.com"), allowed_origins=allowed)
    assert r["status"] == 101
    r = handshake.validate("GET", "/", good_headers(Origin=None), allowed_origins=allowed)
    assert (r["status"], r["reason"]) == (403, "missing Origin")
    r = handshake.validate("GET", "/", good_headers(Origin=None), allowed_origins=allowed + [""])
    assert r["status"] == 101
    r = handshake.validate("GET", "/", good_headers(), allowed_origins=["*"])
    assert r["status"] == 101


def test_subprotocol_selection_uses_client_order():
    headers = good_headers() + [("Sec-WebSocket-Protocol", "v2, chat"), ("Sec-WebSocket-Protocol", "v3")]
    r = handshake.validate("GET", "/", headers, subprotocols=["chat", "v2"])
    assert r["status"] == 101
    assert r["subprotocol"] == "v2"
    assert r["offered_subprotocols"] == ["v2", "chat", "v3"]


def test_compression_flag():
    headers = good_headers() + [("Sec-WebSocket-Extensions", "permessage-deflate; server_no_context_takeover")]
    r = handshake.validate("GET", "/", headers)
    assert r["deflate"] is False and r["extensions"] == ""
    r = handshake.validate("GET", "/", headers, compression=True)
    assert r["deflate"] is True
    assert r["extensions"] == "permessage-deflate; server_no_context_takeover"
    assert r["deflate_params"]["server_no_context_takeover"] is True


def test_refusal_response_bytes():
    data = handshake.refusal_response(426, "unsupported Sec-WebSocket-Version")
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 426 Upgrade Required"
    fields = dict(line.split(b": ", 1) for line in lines[1:])
    assert fields[b"Sec-WebSocket-Version"] == b"13"
    assert fields[b"Connection"] == b"close"
    assert fields[b"Content-Type"].startswith(b"text/plain")
    assert int(fields[b"Content-Length"]) == len(body)
    assert body == b"unsupported Sec-WebSocket-Version\n"


def test_accept_response_rejects_header_injection():
    with pytest.raises(ValueError):
        handshake.accept_response("x", extra_headers=[("X-A", "1\r\nSet-Cookie: a=b")])
    with pytest.raises(ValueError):
        handshake.accept_response("x", subprotocol="chat\r\nX: 1")


# --- full round trip with the websockets sans-I/O client --------------------------------


def serve(client, *, subprotocols=(), compression=False, pick=""):
    """Run our server side of the handshake on the client's request bytes."""
    request = client.connect()
    client.send_request(request)
    assert client.data_to_send()  # the request went out
    headers = list(request.headers.raw_items())
    r = handshake.validate(
        "GET", request.path, headers, subprotocols=list(subprotocols), compression=compression
    )
    if r["status"] != 101:
        client.receive_data(handshake.refusal_response(r["status"], r["reason"]))
    else:
        client.receive_data(
            handshake.accept_response(
                r["accept"],
                subprotocol=pick or r["subprotocol"],
                extensions=r["extensions"],
                extra_headers=[("X-Server", "fasterapi")],
            )
        )
    client.events_received()
    return r


def make_client(**kwargs):
    return ClientProtocol(parse_uri("ws://example.com/chat?room=1"), **kwargs)


def test_websockets_client_plain():
    client = make_client()
    r = serve(client)
    assert r["status"] == 101
    assert client.handshake_exc is None
    assert client.state is State.OPEN
    assert client.subprotocol is None


def test_websockets_client_subprotocol():
    client = make_client(subprotocols=["graphql-ws", "chat"])
    r = serve(client, subprotocols=["chat", "graphql-ws"])
    assert client.handshake_exc is None
    assert client.subprotocol == r["subprotocol"] == "graphql-ws"

    client = make_client(subprotocols=["graphql-ws", "chat"])
    serve(client, subprotocols=[], pick="chat")  # the application picks itself
    assert client.handshake_exc is None
    assert client.subprotocol == "chat"


@pytest.mark.parametrize(
    "factory_kwargs",
    [
        {},
        {"server_no_context_takeover": True, "client_no_context_takeover": True},
        {"server_max_window_bits": 10, "client_max_window_bits": 12},
    ],
)
def test_websockets_client_permessage_deflate(factory_kwargs):
    from fasterapi._core import deflate

    client = make_client(extensions=[ClientPerMessageDeflateFactory(**factory_kwargs)])
    r = serve(client, compression=True)
    assert client.handshake_exc is None
    assert client.state is State.OPEN
    assert r["deflate"] is True
    assert [e.name for e in client.extensions] == ["permessage-deflate"]
    ext = client.extensions[0]
    p = r["deflate_params"]
    assert ext.remote_max_window_bits == p["server_max_window_bits"]
    assert ext.local_max_window_bits == p["client_max_window_bits"]
    assert ext.remote_no_context_takeover == p["server_no_context_takeover"]
    assert ext.local_no_context_takeover == p["client_no_context_takeover"]

    # Messages flow both ways with the agreed parameters.
    ours_out = deflate.Deflater(p["server_max_window_bits"], no_context_takeover=p["server_no_context_takeover"])
    ours_in = deflate.Inflater(p["client_max_window_bits"], no_context_takeover=p["client_no_context_takeover"])
    for msg in [b"hello " * 100, b"hello " * 100, b"", os.urandom(300)]:
        assert ext.decode(Frame(Opcode.BINARY, ours_out.compress(msg), rsv1=True), max_size=None).data == msg
        assert ours_in.inflate(bytes(ext.encode(Frame(Opcode.BINARY, msg)).data), 1 << 20) == msg


def test_websockets_client_sees_refusal():
    client = make_client(origin="http://evil.example")
    request = client.connect()
    client.send_request(request)
    r = handshake.validate(
        "GET", request.path, list(request.headers.raw_items()), allowed_origins=["http://good.example"]
    )
    assert r["status"] == 403
    client.receive_data(handshake.refusal_response(r["status"], r["reason"]))
    client.events_received()
    assert client.handshake_exc is not None
    assert "403" in str(client.handshake_exc)
    assert client.state is not State.OPEN
