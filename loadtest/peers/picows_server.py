"""Peer: picows (Cython WebSocket on asyncio). Echo at any path, /broadcast relay. No permessage-deflate.
TLS through an ssl.SSLContext (asyncio's SSL transport) with --ssl-certfile/--ssl-keyfile."""

from __future__ import annotations

import asyncio

from picows import WSListener, WSMsgType, ws_create_server

from loadtest.peers._common import parse_args, ssl_context

SUBSCRIBERS: set = set()


class Echo(WSListener):
    def on_ws_frame(self, transport, frame) -> None:
        t = frame.msg_type
        if t is WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()
        elif t is not WSMsgType.PING and t is not WSMsgType.PONG:
            transport.send(t, frame.get_payload_as_memoryview(), frame.fin)


class Broadcast(WSListener):
    def on_ws_connected(self, transport) -> None:
        SUBSCRIBERS.add(transport)

    def on_ws_disconnected(self, transport) -> None:
        SUBSCRIBERS.discard(transport)

    def on_ws_frame(self, transport, frame) -> None:
        t = frame.msg_type
        if t is WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()
        elif t is WSMsgType.TEXT or t is WSMsgType.BINARY:
            payload = frame.get_payload_as_bytes()
            for sub in SUBSCRIBERS:
                sub.send(t, payload)


def factory(request):
    return Broadcast() if request.path == b"/broadcast" else Echo()


async def main() -> None:
    args = parse_args(__doc__)
    server = await ws_create_server(factory, args.host, args.port, max_frame_size=1 << 24, backlog=4096,
                                    ssl=ssl_context(args))
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
