"""FasterAPI bench app: ``python -m loadtest.apps.fasterapi_bench --handler async|callback --host H --port P``.

Echo at ``/`` (and any path) with the async handler or the callback handler, ``/broadcast`` over native
pub/sub, ``/sse`` and the HTTP routes. Compression is allowed: it is negotiated only when the client offers it.
"""

from __future__ import annotations

import argparse
import time


def available() -> tuple[bool, str]:
    """Whether the installed fasterapi has the Python API (the bench reports 'not available' otherwise)."""
    try:
        import fasterapi
    except Exception as exc:  # pragma: no cover - depends on the build
        return False, f"import fasterapi failed: {exc}"
    if not hasattr(fasterapi, "App"):
        return False, "fasterapi has no App yet (issue 3 API not available)"
    return True, ""


def sse_data() -> str:
    ts = str(time.monotonic_ns())
    return ts + " " + "x" * max(0, 32 - len(ts) - 1)


def make_app(handler: str):
    from fasterapi import App

    app = App()

    class Echo:
        """Callback handler: called synchronously from the native dispatch, no coroutine per message."""

        def on_open(self, ws):
            pass

        def on_message(self, ws, message):
            ws.send(message)

        def on_close(self, ws, code, reason):
            pass

    class Broadcast:
        def on_open(self, ws):
            ws.subscribe("b")

        def on_message(self, ws, message):
            app.publish("b", message)

        def on_close(self, ws, code, reason):
            pass

    app.add_websocket_route("/broadcast", Broadcast)

    if handler == "callback":
        # Same route options as the async echo: the deflate scenarios must compress here too.
        app.add_websocket_route("/", Echo, compression=True, max_message_size=1 << 24)
    else:
        @app.websocket("/", compression=True, max_message_size=1 << 24)
        async def echo(ws):
            await ws.accept()
            async for message in ws:
                await ws.send(message)

    @app.get("/plaintext")
    def plaintext(request):
        return "Hello, World!"

    @app.get("/json")
    def json_(request):
        return {"message": "Hello, World!"}

    @app.sse("/sse")
    async def sse(request):
        while True:
            yield sse_data()

    return app


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9001)
    p.add_argument("--handler", choices=["async", "callback"], default="async")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--broker", default=None, help="redis://... (loadtest.broker_bench)")
    p.add_argument("--ssl-certfile", help="serve wss/https natively (the TLS scenarios)")
    p.add_argument("--ssl-keyfile")
    args = p.parse_args()
    ok, why = available()
    if not ok:
        raise SystemExit(f"fasterapi bench app not available: {why}")
    # No access log: the peers run without theirs (uvicorn access_log=False, aiohttp access_log=None).
    make_app(args.handler).run(host=args.host, port=args.port, workers=args.workers, broker=args.broker,
                               access_log=False, ssl_certfile=args.ssl_certfile, ssl_keyfile=args.ssl_keyfile)


if __name__ == "__main__":
    main()
