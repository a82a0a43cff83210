"""Peer: socketify.py (uWebSockets via CFFI). WS echo (any path) and /broadcast (native pub/sub),
/plaintext, /json; permessage-deflate when the client offers it. TLS (uWebSockets' own SSL app) with
--ssl-certfile/--ssl-keyfile."""

from __future__ import annotations

from socketify import App, AppListenOptions, AppOptions, CompressOptions

from loadtest.peers._common import JSON_BODY, PLAINTEXT, parse_args


def main() -> None:
    args = parse_args(__doc__)
    app = App(AppOptions(cert_file_name=args.ssl_certfile, key_file_name=args.ssl_keyfile) if args.ssl_certfile
              else None)

    def plaintext(res, req):
        res.write_header("Content-Type", "text/plain")
        res.end(PLAINTEXT)

    def json_(res, req):
        res.write_header("Content-Type", "application/json")
        res.end(JSON_BODY)

    app.get("/plaintext", plaintext)
    app.get("/json", json_)
    common = {"compression": CompressOptions.SHARED_COMPRESSOR, "max_payload_length": 1 << 24,
              "idle_timeout": 960, "max_backpressure": 1 << 24}
    app.ws("/broadcast", dict(common,
                              open=lambda ws: ws.subscribe("b"),
                              message=lambda ws, msg, opcode: app.publish("b", msg, opcode)))
    app.ws("/*", dict(common, message=lambda ws, msg, opcode: ws.send(msg, opcode)))
    app.listen(AppListenOptions(port=args.port, host=args.host), lambda config: None)
    app.run()


if __name__ == "__main__":
    main()
