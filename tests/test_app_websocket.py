"""WebSocket over the native server with three third-party clients (websockets, websocket-client,
aiohttp) plus a raw socket for what well-behaved clients refuse to send."""

from __future__ import annotations

import asyncio
import json
import os
import struct
import time
import uuid

import aiohttp
import httpx
import pytest
import websocket as wsclient  # websocket-client
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from conftest import RawWebSocket, ServerProcess, Spawner, get_state


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def key() -> str:
    return uuid.uuid4().hex


ROUTES = ["/ws/echo", "/ws/deflate"]


# --- messages ----------------------------------------------------------------------------
@pytest.mark.parametrize("route", ROUTES)
def test_websockets_text_and_binary_echo(server: ServerProcess, route: str) -> None:
    async def main() -> None:
        async with connect(server.ws_url + route) as ws:
            for msg in ["hello", "", "ünïcødé ✓ 🚀", b"\x00\x01\xff", b""]:
                await ws.send(msg)
                got = await ws.recv()
                assert got == msg and type(got) is type(msg)

    run(main())


@pytest.mark.parametrize("route", ROUTES)
def test_websockets_fragmented_messages(server: ServerProcess, route: str) -> None:
    async def main() -> None:
        async with connect(server.ws_url + route, max_size=None) as ws:
            await ws.send(["frag", "ment", "ed ✓", ""])  # an iterable is sent as fragments
            assert await ws.recv() == "fragmented ✓"
            parts = [os.urandom(1000) for _ in range(50)]
            await ws.send(parts)
            assert await ws.recv() == b"".join(parts)

    run(main())


@pytest.mark.parametrize("route", ROUTES)
def test_websockets_large_message(server: ServerProcess, route: str) -> None:
    big = os.urandom(5 << 20)
    text = ("compressible line of text %d\n" * 200_000)[: 5 << 20]

    async def main() -> None:
        async with connect(server.ws_url + route, max_size=None) as ws:
            await ws.send(big)
            assert await ws.recv() == big
            await ws.send(text)
            assert await ws.recv() == text

    run(main())


def test_websockets_ping_gets_pong(server: ServerProcess) -> None:
    async def main() -> None:
        async with connect(server.ws_url + "/ws/echo", ping_interval=None) as ws:
            for payload in (b"", b"abc", os.urandom(125)):
                waiter = await ws.ping(payload)
                await asyncio.wait_for(waiter, 10)
            await ws.send("still fine")
            assert await ws.recv() == "still fine"

    run(main())


def test_websocket_client_text_binary_fragments_ping(server: ServerProcess) -> None:
    ws = wsclient.create_connection(server.ws_url + "/ws/echo", timeout=10)
    try:
        ws.send("hello from websocket-client")
        assert ws.recv() == "hello from websocket-client"
        ws.send_binary(b"\x00bin\xff")
        assert ws.recv() == b"\x00bin\xff"
        # Fragmented text: first frame, continuation, final continuation.
        ws.send_frame(wsclient.ABNF.create_frame("one ", wsclient.ABNF.OPCODE_TEXT, fin=0))
        ws.send_frame(wsclient.ABNF.create_frame("two ", wsclient.ABNF.OPCODE_CONT, fin=0))
        ws.send_frame(wsclient.ABNF.create_frame("three", wsclient.ABNF.OPCODE_CONT, fin=1))
        assert ws.recv() == "one two three"
        ws.ping(b"ping-payload")
        frame = ws.recv_data_frame(True)[1]
        assert frame.opcode == wsclient.ABNF.OPCODE_PONG
        assert frame.data == b"ping-payload"
        big = os.urandom(3 << 20)
        ws.send_binary(big)
        assert ws.recv() == big
    finally:
        ws.close()
        ws.shutdown()  # close() is a no-op once a close frame was received: release the socket


@pytest.mark.parametrize("compress", [0, 15])
def test_aiohttp_text_binary_ping(server: ServerProcess, compress: int) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(server.ws_url + "/ws/deflate", compress=compress, autoping=False,
                                          max_msg_size=0) as ws:
                assert ws.compress == compress  # 15: permessage-deflate negotiated; 0: not offered
                await ws.send_str("aiohttp text")
                msg = await ws.receive(10)
                assert (msg.type, msg.data) == (aiohttp.WSMsgType.TEXT, "aiohttp text")
                await ws.send_bytes(b"\x01\x02")
                msg = await ws.receive(10)
                assert (msg.type, msg.data) == (aiohttp.WSMsgType.BINARY, b"\x01\x02")
                await ws.ping(b"aio")
                msg = await ws.receive(10)
                assert (msg.type, msg.data) == (aiohttp.WSMsgType.PONG, b"aio")
                big = b"z" * (2 << 20)
                await ws.send_bytes(big)
                msg = await ws.receive(10)
                assert msg.data == big

    run(main())


def test_send_takes_str_bytes_and_bytearray_and_names_any_other_type(server: ServerProcess) -> None:
    async def main() -> None:
        async with connect(server.ws_url + "/ws/send-types") as ws:
            assert await ws.recv() == "call accept() before send()"
            await ws.send("go")
            assert await ws.recv() == "expected str (text) or bytes/bytearray (binary), got int"
            assert await ws.recv() == b"from a bytearray"
            assert await ws.recv() == b"from bytes"
            await ws.send("done")

    run(main())


def test_receive_helpers_json_text_bytes(server: ServerProcess) -> None:
    async def main() -> None:
        async with connect(server.ws_url + "/ws/json") as ws:
            await ws.send(json.dumps({"a": [1, 2]}))
            assert json.loads(await ws.recv()) == {"echo": {"a": [1, 2]}}
            await ws.send("shout")
            assert await ws.recv() == "SHOUT"
            await ws.send(b"abc")
            assert await ws.recv() == b"cba"

    run(main())


# --- close paths ---------------------------------------------------------------------------
def test_client_close_reaches_handler_as_websocket_disconnect(server: ServerProcess) -> None:
    k = key()

    async def main() -> None:
        async with connect(f"{server.ws_url}/ws/echo?key={k}") as ws:
            await ws.send("x")
            assert await ws.recv() == "x"
            await ws.close(1000, "client done")
            assert ws.close_code == 1000  # the server echoed the close

    run(main())
    assert get_state(server, k) == {"code": 1000, "reason": "client done", "exc": "WebSocketDisconnect"}


def test_client_close_custom_code_with_aiohttp(server: ServerProcess) -> None:
    k = key()

    async def main() -> None:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"{server.ws_url}/ws/echo?key={k}") as ws:
                await ws.send_str("x")
                assert (await ws.receive(10)).data == "x"
                await ws.close(code=4321, message=b"aiohttp bye")
                assert ws.close_code == 4321

    run(main())
    assert get_state(server, k) == {"code": 4321, "reason": "aiohttp bye", "exc": "WebSocketDisconnect"}


def test_async_for_ends_on_client_close(server: ServerProcess) -> None:
    k = key()

    async def main() -> None:
        async with connect(f"{server.ws_url}/ws/iter?key={k}") as ws:
            await ws.send("a")
            assert await ws.recv() == "a"
            await ws.close(1001, "going away")

    run(main())
    assert get_state(server, k) == {"code": 1001, "reason": "going away"}


def test_server_close_code_and_reason_websockets(server: ServerProcess) -> None:
    async def main() -> None:
        async with connect(server.ws_url + "/ws/server-close?code=4001&reason=server%20says%20bye") as ws:
            await ws.send("go")
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 10)
            assert info.value.rcvd is not None
            assert (info.value.rcvd.code, info.value.rcvd.reason) == (4001, "server says bye")

    run(main())


def test_server_close_code_and_reason_aiohttp(server: ServerProcess) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(server.ws_url + "/ws/server-close?code=1000&reason=done") as ws:
                await ws.send_str("go")
                msg = await ws.receive(10)
                assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
                assert ws.close_code == 1000

    run(main())


def test_server_close_code_and_reason_websocket_client(server: ServerProcess) -> None:
    ws = wsclient.create_connection(server.ws_url + "/ws/server-close?code=4002&reason=wc", timeout=10)
    try:
        ws.send("go")
        opcode, frame = ws.recv_data_frame(True)
        assert opcode == wsclient.ABNF.OPCODE_CLOSE
        assert struct.unpack("!H", frame.data[:2])[0] == 4002
        assert frame.data[2:] == b"wc"
    finally:
        ws.close()
        ws.shutdown()  # close() is a no-op once a close frame was received: release the socket


def test_handler_close_after_accept_is_1000(server: ServerProcess) -> None:
    async def main() -> None:
        async with connect(server.ws_url + "/ws/echo") as ws:
            await ws.send("__close__")
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 10)
            assert (info.value.rcvd.code, info.value.rcvd.reason) == (1000, "asked to")

    run(main())


def test_handler_exception_closes_1011(server: ServerProcess) -> None:
    async def main() -> None:
        async with connect(server.ws_url + "/ws/boom") as ws:
            await ws.send("trigger")
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 10)
            assert info.value.rcvd is not None and info.value.rcvd.code == 1011
            assert "ws-boom" not in info.value.rcvd.reason  # no details to the peer

    run(main())
    assert server.wait_for_output("ws-boom-4321"), "the handler traceback was not logged"
    assert httpx.get(server.url + "/hello", timeout=10).text == "hello"


def test_message_over_max_size_closes_1009(server: ServerProcess) -> None:
    k = key()

    async def main() -> None:
        async with connect(f"{server.ws_url}/ws/small?key={k}") as ws:
            await ws.send("a" * 1024)  # exactly the limit: fine
            assert await ws.recv() == "a" * 1024
            await ws.send("a" * 1025)
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 10)
            assert info.value.rcvd is not None and info.value.rcvd.code == 1009

    run(main())
    assert get_state(server, k)["code"] == 1009


def test_fragmented_message_over_max_size_closes_1009(server: ServerProcess) -> None:
    async def main() -> None:
        async with connect(server.ws_url + "/ws/small") as ws:
            await ws.send(["a" * 600, "b" * 600])
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 10)
            assert info.value.rcvd is not None and info.value.rcvd.code == 1009

    run(main())


@pytest.mark.parametrize("frames", [
    [(0x1, True, b"\xff\xfe")],                               # invalid byte
    [(0x1, True, b"abc\xed\xa0\x80")],                         # UTF-16 surrogate
    [(0x1, False, b"ok \xe2\x82"), (0x0, True, b"\x28")],    # bad continuation across fragments
])
def test_invalid_utf8_text_closes_1007(server: ServerProcess, frames: list[tuple[int, bool, bytes]]) -> None:
    k = key()
    raw = RawWebSocket(server.port, f"/ws/echo?key={k}")
    try:
        assert raw.status == 101
        for opcode, fin, payload in frames:
            raw.send_frame(opcode, payload, fin)
        assert raw.recv_close()[0] == 1007
    finally:
        raw.close()
    assert get_state(server, k)["code"] == 1007


def test_peer_vanishing_gives_1006_to_handler(server: ServerProcess) -> None:
    k = key()
    raw = RawWebSocket(server.port, f"/ws/echo?key={k}")
    assert raw.status == 101
    raw.send_frame(0x1, b"hi")
    assert raw.recv_frame() == (0x1, True, b"hi")
    raw.close()  # no close frame: the TCP connection just goes away
    assert get_state(server, k)["code"] == 1006


def test_peer_abort_with_websockets_gives_1006(server: ServerProcess) -> None:
    k = key()

    async def main() -> None:
        ws = await connect(f"{server.ws_url}/ws/echo?key={k}")
        await ws.send("x")
        assert await ws.recv() == "x"
        ws.transport.abort()
        await asyncio.sleep(0)

    run(main())
    assert get_state(server, k)["code"] == 1006


def test_unmasked_client_frame_is_protocol_error(server: ServerProcess) -> None:
    raw = RawWebSocket(server.port, "/ws/echo")
    try:
        raw.sock.sendall(b"\x81\x02hi")  # a client frame without a mask
        assert raw.recv_close()[0] == 1002
    finally:
        raw.close()


# --- compression ----------------------------------------------------------------------------
def test_compression_negotiated_only_where_enabled(server: ServerProcess) -> None:
    async def main() -> None:
        async with connect(server.ws_url + "/ws/deflate") as ws:
            ext = ws.response.headers.get("Sec-WebSocket-Extensions", "")
            assert ext.startswith("permessage-deflate"), ext
            await ws.send("compressed " * 1000)
            assert await ws.recv() == "compressed " * 1000
        async with connect(server.ws_url + "/ws/echo") as ws:
            assert "Sec-WebSocket-Extensions" not in ws.response.headers
            await ws.send("plain")
            assert await ws.recv() == "plain"
        async with connect(server.ws_url + "/ws/deflate", compression=None) as ws:
            assert "Sec-WebSocket-Extensions" not in ws.response.headers
            await ws.send("not offered")
            assert await ws.recv() == "not offered"

    run(main())


# --- handshake: subprotocols, refusal, origin, params ------------------------------------------
def test_subprotocol_first_of_clients_list_that_server_supports(server: ServerProcess) -> None:
    async def main() -> None:
        async with connect(server.ws_url + "/ws/sub", subprotocols=["nope", "superchat", "chat"]) as ws:
            assert ws.subprotocol == "superchat"
            assert ws.response.headers["Sec-WebSocket-Protocol"] == "superchat"
            info = json.loads(await ws.recv())
            assert info == {"subprotocol": "superchat", "offered": ["nope", "superchat", "chat"]}
        async with connect(server.ws_url + "/ws/sub", subprotocols=["nope"]) as ws:
            assert ws.subprotocol is None
            assert "Sec-WebSocket-Protocol" not in ws.response.headers
            assert json.loads(await ws.recv())["subprotocol"] is None
        async with connect(server.ws_url + "/ws/sub") as ws:
            assert ws.subprotocol is None

    run(main())


def test_accept_with_explicit_subprotocol(server: ServerProcess) -> None:
    async def main() -> None:
        async with connect(server.ws_url + "/ws/sub?want=chat", subprotocols=["superchat", "chat"]) as ws:
            assert ws.subprotocol == "chat"
            assert json.loads(await ws.recv())["subprotocol"] == "chat"

    run(main())


def test_accept_with_unoffered_subprotocol_fails_the_handshake(server: ServerProcess) -> None:
    async def main() -> None:
        with pytest.raises(InvalidStatus) as info:
            async with connect(server.ws_url + "/ws/sub?want=other", subprotocols=["chat"]):
                pass
        assert info.value.response.status_code == 500

    run(main())


@pytest.mark.parametrize("path,status", [("/ws/refuse", 403), ("/ws/refuse?status=401", 401),
                                         ("/ws/refuse?status=451", 451), ("/ws/no-accept", 403)])
def test_refusal_before_accept(server: ServerProcess, path: str, status: int) -> None:
    async def main() -> None:
        with pytest.raises(InvalidStatus) as info:
            async with connect(server.ws_url + path):
                pass
        assert info.value.response.status_code == status

    run(main())
    assert httpx.get(server.url + "/hello", timeout=10).text == "hello"


def test_origin_allow_list(server: ServerProcess) -> None:
    async def main() -> None:
        async with connect(server.ws_url + "/ws/origin", origin="https://good.example") as ws:
            await ws.send("ok")
            assert await ws.recv() == "ok"
        for origin in ("https://evil.example", "http://good.example", None):
            with pytest.raises(InvalidStatus) as info:
                async with connect(server.ws_url + "/ws/origin", origin=origin):
                    pass
            assert info.value.response.status_code == 403, origin

    run(main())


def test_path_params_query_params_headers(server: ServerProcess) -> None:
    async def main() -> None:
        async with connect(server.ws_url + "/ws/params/lobby/42?x=1&y=two",
                           additional_headers={"X-Test": "hdr"}) as ws:
            assert ws.response.headers["X-Room"] == "lobby"
            info = json.loads(await ws.recv())
            local = ws.local_address
        assert info["room"] == "lobby"
        assert (info["n"], info["n_type"]) == (42, "int")
        assert info["path"] == "/ws/params/lobby/42"
        assert info["path_params"] == {"room": "lobby", "n": 42}
        assert info["query"] == {"x": "1", "y": "two"}
        assert info["x_test"] == "hdr"
        assert info["client"] == f"{local[0]}:{local[1]}"

    run(main())


def test_ws_path_param_type_mismatch_is_refused(server: ServerProcess) -> None:
    async def main() -> None:
        with pytest.raises(InvalidStatus) as info:
            async with connect(server.ws_url + "/ws/params/lobby/notanint"):
                pass
        assert info.value.response.status_code == 404

    run(main())


def test_bad_handshake_is_400(server: ServerProcess) -> None:
    import socket

    from conftest import read_http_response

    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Version: 13\r\n\r\n")  # no Sec-WebSocket-Key
        status, _, _ = read_http_response(s, bytearray())
        assert status == 400


# --- callback-style handler ---------------------------------------------------------------------
def test_callback_handler_echo_and_on_close(server: ServerProcess) -> None:
    k = key()

    async def main() -> None:
        async with connect(f"{server.ws_url}/ws/callback?key={k}") as ws:
            assert await ws.recv() == "welcome"
            for msg in ["one", b"two", "three"]:
                await ws.send(msg)
                assert await ws.recv() == msg
            await ws.close(1000, "cb done")

    run(main())
    assert get_state(server, k) == {"code": 1000, "reason": "cb done", "count": 3}


def test_callback_handler_exception_closes_1011(server: ServerProcess) -> None:
    async def main() -> None:
        async with connect(server.ws_url + "/ws/callback") as ws:
            assert await ws.recv() == "welcome"
            await ws.send("boom")
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 10)
            assert info.value.rcvd is not None and info.value.rcvd.code == 1011

    run(main())
    # The log carries the handler's traceback (the native dispatcher hands the exception over as
    # the one being handled), not "NoneType: None".
    assert server.wait_for_output(r'raise RuntimeError\("secret detail callback-boom"\)')
    assert server.wait_for_output(r"^RuntimeError: secret detail callback-boom$")


def test_many_concurrent_connections(server: ServerProcess) -> None:
    async def one(i: int) -> None:
        async with connect(server.ws_url + ("/ws/deflate" if i % 2 else "/ws/echo")) as ws:
            for j in range(5):
                await ws.send(f"{i}:{j}")
                assert await ws.recv() == f"{i}:{j}"

    async def main() -> None:
        await asyncio.gather(*(one(i) for i in range(50)))

    run(main())


# --- backpressure ------------------------------------------------------------------------------
def test_send_waits_above_high_water_until_the_client_reads(spawn: Spawner) -> None:
    srv = spawn.app("backpressure_app")
    count, size = 400, 64 << 10  # 25 MiB: far beyond what socket buffers absorb
    raw = RawWebSocket(srv.port, f"/ws/flood?count={count}&size={size}", rcvbuf=64 << 10)
    try:
        assert raw.status == 101

        def progress() -> dict:
            return httpx.get(srv.url + "/progress", timeout=10).json()

        deadline = time.monotonic() + 10
        while not progress()["started"]:
            assert time.monotonic() < deadline, "flood handler never started"
            time.sleep(0.05)
        # Not reading: the handler must stall (without backpressure it would finish at once,
        # buffering 25 MiB natively).
        time.sleep(1.0)
        p1 = progress()
        time.sleep(0.5)
        p2 = progress()
        assert not p2["done"], "await ws.send() never waited although the client read nothing"
        assert p1["sent"] == p2["sent"] < count
        assert p2["max_buffered_after_await"] <= p2["high_water"]
        # Now read everything: all messages arrive, complete and in order, and the handler finishes.
        for i in range(count):
            opcode, fin, payload = raw.recv_frame()
            assert (opcode, fin, len(payload)) == (0x2, True, size)
            assert payload[:4] == i.to_bytes(4, "big") and payload[-4:] == i.to_bytes(4, "big")
        deadline = time.monotonic() + 10
        while not (final := progress())["done"]:
            assert time.monotonic() < deadline, f"handler never finished after the client read everything: {final}"
            time.sleep(0.05)
        assert final["sent"] == count
        assert final["max_buffered_after_await"] <= final["high_water"]
    finally:
        raw.close()


# --- keep-alive pings, limits, slow subscribers --------------------------------------------------
def test_server_pings_and_keeps_a_ponging_client(server: ServerProcess) -> None:
    raw = RawWebSocket(server.port, "/ws/fastping")
    try:
        assert raw.status == 101
        for _ in range(3):  # ping_interval=0.3 s: three rounds, each answered
            opcode, fin, payload = raw.recv_frame()
            assert (opcode, fin) == (0x9, True)
            raw.send_frame(0xA, payload)
        raw.send_frame(0x1, b"alive")
        op, _, data = raw.recv_frame()
        while op == 0x9:  # a ping may come first
            raw.send_frame(0xA, data)
            op, _, data = raw.recv_frame()
        assert (op, data) == (0x1, b"alive")
    finally:
        raw.close()


def test_client_that_never_pongs_is_dropped(server: ServerProcess) -> None:
    k = key()
    raw = RawWebSocket(server.port, f"/ws/fastping?key={k}")
    try:
        assert raw.status == 101
        assert raw.recv_frame()[0] == 0x9
        # No pong: after pong_timeout the server gives up on the connection.
        state = get_state(server, k, timeout=15)
        assert state["code"] == 1006
        raw.sock.settimeout(10)
        with pytest.raises((ConnectionError, AssertionError)):
            while True:  # more pings or a close frame may precede the end of the stream
                if raw.recv_frame()[0] == 0x8:
                    raise AssertionError("close frame")
    finally:
        raw.close()


def test_compressed_message_inflating_over_max_size_closes_1009(server: ServerProcess) -> None:
    k = key()

    async def main() -> None:
        async with connect(f"{server.ws_url}/ws/small-deflate?key={k}") as ws:
            assert ws.response.headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
            await ws.send("b" * 1024)
            assert await ws.recv() == "b" * 1024
            await ws.send("a" * (1 << 20))  # ~1 KiB on the wire, 1 MiB inflated
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 10)
            assert info.value.rcvd is not None and info.value.rcvd.code == 1009

    run(main())
    assert get_state(server, k)["code"] == 1009


@pytest.mark.parametrize("compress", [9, 10, 12])
def test_aiohttp_small_client_windows(server: ServerProcess, compress: int) -> None:
    async def main() -> None:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(server.ws_url + "/ws/deflate", compress=compress) as ws:
                assert ws.compress
                text = "window bits test " * 5000
                for _ in range(3):  # context takeover across messages
                    await ws.send_str(text)
                    assert (await ws.receive(10)).data == text

    run(main())


def test_send_after_peer_closed_raises_websocket_disconnect(server: ServerProcess) -> None:
    k = key()

    async def main() -> None:
        async with connect(f"{server.ws_url}/ws/send-after-close?key={k}") as ws:
            await ws.close(1000, "bye")

    run(main())
    assert get_state(server, k) == {"send_raised": "WebSocketDisconnect", "code": 1000}


def test_handler_that_never_reads_is_closed_1008(server: ServerProcess) -> None:
    k = key()

    async def main() -> None:
        async with connect(f"{server.ws_url}/ws/no-read?key={k}") as ws:
            for i in range(20):
                try:
                    await ws.send(f"m{i}")
                except ConnectionClosed:
                    break
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 10)
            assert info.value.rcvd is not None and info.value.rcvd.code == 1008

    run(main())
    assert get_state(server, k)["code"] == 1008


def test_handler_returning_closes_1000(server: ServerProcess) -> None:
    async def main() -> None:
        async with connect(server.ws_url + "/ws/returns") as ws:
            await ws.send("done")
            with pytest.raises(ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 10)
            assert info.value.rcvd is not None and info.value.rcvd.code == 1000

    run(main())


def test_frames_split_byte_by_byte(server: ServerProcess) -> None:
    raw = RawWebSocket(server.port, "/ws/echo")
    try:
        assert raw.status == 101
        payload = "split ✓".encode() * 30
        mask = b"\x01\x02\x03\x04"
        frame = bytes([0x81, 0x80 | 126]) + len(payload).to_bytes(2, "big") + mask + \
            bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        for i in range(len(frame)):
            raw.sock.sendall(frame[i:i + 1])
        assert raw.recv_frame() == (0x1, True, payload)
    finally:
        raw.close()


def _slow_reader_publish(server: ServerProcess, policy: str) -> tuple[int, dict, list]:
    topic = f"slow-{policy}-" + key()
    k = key()
    slow = RawWebSocket(server.port, f"/ws/slow-{policy}/{topic}?key={k}", rcvbuf=4096)
    results: list = []

    async def main() -> None:
        async with connect(f"{server.ws_url}/ws/topic/{topic}", max_size=None) as fast:
            assert await fast.recv() == "subscribed"
            async with httpx.AsyncClient(base_url=server.url, timeout=10) as c:
                for i in range(200):  # 200 x 16 KiB: far beyond the slow one's 64 KiB backlog
                    r = await c.post(f"/publish/{topic}", content=f"{i:04d}" + "x" * (16 << 10))
                    results.append(r.json()["delivered"])
                    got = await fast.recv()
                    assert got[:4] == f"{i:04d}", "the fast subscriber must get every message in order"

    try:
        assert slow.status == 101
        assert slow.recv_frame()[2] == b"subscribed"
        run(main())
        state = None
        if policy == "close":
            state = get_state(server, k, timeout=10)
        return results[-1], state or {}, results
    finally:
        slow.close()


def test_slow_subscriber_policy_close(server: ServerProcess) -> None:
    last, state, results = _slow_reader_publish(server, "close")
    assert results[0] == 2 and last == 1, f"the slow subscriber was never dropped: {results}"
    # The server queues close 1008 behind the backlog the peer never reads and tells the handler
    # 1008 at once; the TCP connection goes after close_timeout (the frame itself is checked in
    # tests/test_memory_caps.py, with a peer that reads after being dropped).
    assert state["code"] == 1008, state


def test_slow_subscriber_policy_drop(server: ServerProcess) -> None:
    last, _, results = _slow_reader_publish(server, "drop")
    assert results[0] == 2
    # Drop policy: the slow subscriber stays subscribed; publishes to it are skipped, not fatal.
    assert 1 in results, f"no publish was ever dropped for the slow subscriber: {results}"


def test_client_gone_before_accept(server: ServerProcess) -> None:
    k = key()
    import socket

    s = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    s.sendall(f"GET /ws/slow-accept?key={k} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    assert httpx.get(server.url + "/hello", timeout=10).text == "hello"  # the upgrade request is in
    s.close()  # gone while the handler has not accepted yet
    assert get_state(server, k) == {"accept_raised": "WebSocketDisconnect", "code": 1006}
    assert httpx.get(server.url + "/hello", timeout=10).text == "hello"
