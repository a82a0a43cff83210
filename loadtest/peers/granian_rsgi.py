"""Peer: granian (Rust HTTP server) with its native RSGI interface, one worker. /plaintext and /json."""

from __future__ import annotations

from loadtest.peers._common import JSON_BODY, PLAINTEXT, parse_args

_TEXT = [("content-type", "text/plain")]
_JSON = [("content-type", "application/json")]


async def app(scope, proto):
    if scope.path == "/json":
        proto.response_bytes(200, _JSON, JSON_BODY)
    elif scope.path == "/plaintext":
        proto.response_bytes(200, _TEXT, PLAINTEXT)
    else:
        proto.response_bytes(404, _TEXT, b"Not Found")


if __name__ == "__main__":
    from granian import Granian
    args = parse_args(__doc__)
    Granian("loadtest.peers.granian_rsgi:app", address=args.host, port=args.port, interface="rsgi",
            workers=1, runtime_threads=1, backlog=4096, log_enabled=False).serve()
