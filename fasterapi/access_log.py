"""The access log: one line per HTTP exchange and per WebSocket upgrade, on the logging
logger ``fasterapi.access`` at INFO::

    127.0.0.1:50312 - "GET /items/1?q=x HTTP/1.1" 200 13 0.21ms
    127.0.0.1:50314 - "WebSocket /ws/chat" 101 accepted 0.35ms
    127.0.0.1:50316 - "WebSocket /ws/chat" 403 refused 0.12ms
    127.0.0.1:50318 - "GET /events HTTP/1.1" 200 - 0.18ms        (SSE: the stream started)

Fields: the client (after proxy headers), the request line as sent, the status, the body
bytes of the response ("-" for an SSE stream, 0 for HEAD), and the time from the complete
request to the response (handler time included) in milliseconds.

It costs nothing when off: App.serve() decides once (``access_log`` and the logger enabled
for INFO) and only then wraps the native server in AccessLog; otherwise the App talks to the
native server directly. Answers the native core gives without calling Python (400/408/413/
414/431 for a malformed or oversized request, 503 beyond ``max_connections``) are not logged
here; they are counted in ``app.stats()``.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

from .proxy_headers import ProxyHeaders, format_address

logger = logging.getLogger("fasterapi.access")

# Native methods that answer a request: AccessLog defines its own; every other attribute of
# the native server is bound straight onto the wrapper, so those calls cost what they did.
_WRAPPED = ("respond", "ws_prepare", "ws_accept", "ws_reject", "sse_start")


def enabled(access_log: bool) -> bool:
    """Whether to log at all: asked once per server start, never per request."""
    return access_log and logger.isEnabledFor(logging.INFO)


class AccessLog:
    """Wraps the native ``_core.Server``: ``on_request``/``on_close`` wrap the App's native
    callbacks to note when each request arrived; the answering calls write the line."""

    def __init__(self, front: ProxyHeaders, on_request: Callable[..., Any], on_close: Callable[..., Any]) -> None:
        self._front = front
        self._app_on_request = on_request
        self._app_on_close = on_close
        # conn -> (arrival, method, raw_path, query, version, peer, headers); one per connection
        # at most: the native core reads a connection's next request only after the answer.
        self._pending: dict[int, tuple[float, str, str, str, int, str, list[tuple[str, str]]]] = {}
        self._srv: Any = None

    def bind(self, srv: Any) -> "AccessLog":
        """Delegate every other native method to ``srv``; returns self, used as the server."""
        self._srv = srv
        for name in dir(srv):
            if not name.startswith("_") and name not in _WRAPPED:
                setattr(self, name, getattr(srv, name))
        return self

    # -- native callbacks (wrapping the App's) --
    def on_request(self, conn: int, method: str, raw_path: str, query: str, headers: list[tuple[str, str]],
                   body: bytes, peer: str, upgrade: bool, version: int) -> None:
        self._pending[conn] = (time.perf_counter(), method, raw_path, query, version, peer, headers)
        self._app_on_request(conn, method, raw_path, query, headers, body, peer, upgrade, version)

    def on_close(self, conn: int, code: int, reason: str) -> None:
        self._pending.pop(conn, None)  # the peer left before an answer: nothing was sent to log
        self._app_on_close(conn, code, reason)

    # -- answers --
    def respond(self, conn: int, status: int, headers: Any, body: bytes, head_only: bool = False) -> bool:
        ok = self._srv.respond(conn, status, headers, body, head_only)  # raises before logging: a 500 follows
        entry = self._pending.pop(conn, None)
        if entry is not None:
            size = 0 if head_only or entry[1] == "HEAD" else len(body)
            self._http_line(entry, status, str(size))
        return ok

    def sse_start(self, conn: int, route: int, headers: Any = None) -> bool:
        ok = self._srv.sse_start(conn, route, headers)
        entry = self._pending.pop(conn, None)
        if entry is not None:
            self._http_line(entry, 200, "0" if entry[1] == "HEAD" else "-")
        return ok

    def ws_prepare(self, conn: int, route: int) -> tuple[int, str, str, list[str]]:
        result = self._srv.ws_prepare(conn, route)
        if result[0] != 101:  # refused natively (bad handshake, Origin not allowed)
            self._ws_line(conn, result[0], "refused")
        return result

    def ws_accept(self, conn: int, subprotocol: str = "", headers: Any = None) -> bool:
        ok = self._srv.ws_accept(conn, subprotocol, headers)
        if ok:
            self._ws_line(conn, 101, "accepted")
        return ok

    def ws_reject(self, conn: int, status: int, reason: str) -> bool:
        ok = self._srv.ws_reject(conn, status, reason)
        self._ws_line(conn, status, "refused")
        return ok

    # -- lines --
    def _target(self, raw_path: str, query: str) -> str:
        return f"{raw_path}?{query}" if query else raw_path

    def _http_line(self, entry: tuple, status: int, size: str) -> None:
        t0, method, raw_path, query, version, peer, headers = entry
        client = format_address(self._front.resolve(peer, headers)[0])
        logger.info('%s - "%s %s HTTP/1.%d" %d %s %.2fms', client, method, self._target(raw_path, query),
                    version, status, size, (time.perf_counter() - t0) * 1000.0)

    def _ws_line(self, conn: int, status: int, outcome: str) -> None:
        entry = self._pending.pop(conn, None)
        if entry is None:
            return
        t0, _method, raw_path, query, _version, peer, headers = entry
        client = format_address(self._front.resolve(peer, headers, websocket=True)[0])
        logger.info('%s - "WebSocket %s" %d %s %.2fms', client, self._target(raw_path, query), status, outcome,
                    (time.perf_counter() - t0) * 1000.0)
