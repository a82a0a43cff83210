"""The WebSocket object shared by async handlers and callback-style handlers.

``send``/``close``/``accept`` act at call time (the native core writes at once)
and return an awaitable: awaiting it only waits when backpressure applies.
So callback handlers call ``ws.send(m)`` synchronously and coroutine handlers
``await ws.send(m)``; both are one native call.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from . import _core
from .proxy_headers import Address
from .requests import Headers, QueryParams, RequestFacts, compact_json

if TYPE_CHECKING:  # pragma: no cover
    from .app import App


class WebSocketDisconnect(Exception):
    """The peer went away (or the connection was closed). ``code`` is the close code."""

    def __init__(self, code: int = 1000, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


# DONE: awaitable already complete (no allocation, no Python frame per send).
# _Waiter: what a handler waiting for a message suspends on; resume() wakes its Task
# from the native callback with no loop iteration in between (see src/cpp/bindings/waiter.cpp).
DONE = _core.DONE
_Done = _core.Done
_Waiter = _core.Waiter
_ready = _Waiter.ready


async def _raise(exc: BaseException) -> Any:
    raise exc


CONNECTING, CONNECTED, CLOSED = 0, 1, 2


class WebSocket(RequestFacts):
    __slots__ = ("_app", "_srv", "conn", "path", "raw_path", "raw_query", "_raw_headers", "path_params", "_peer",
                 "subprotocol", "offered_subprotocols", "_default_subprotocol", "state", "_queue", "_waiter",
                 "_waiter_ends_iteration", "_drain", "close_code", "close_reason", "_headers", "_query",
                 "_client", "_scheme", "handler", "_max_queue", "_loop", "__weakref__")

    def __init__(self, app: "App", conn: int, path: str, query: str, headers: list[tuple[str, str]],
                 path_params: dict[str, Any], peer: str, offered: list[str], default_subprotocol: str,
                 max_queue: int, raw_path: str | None = None) -> None:
        self._app = app
        self._srv = app._server
        self.conn = conn
        self.path = path  # percent-decoded; raw_path: as sent, still encoded (like Request)
        self.raw_path = path if raw_path is None else raw_path
        self.raw_query = query
        self._raw_headers = headers
        self.path_params = path_params
        self._peer = peer  # native "host:port"; ``client`` / ``scheme`` resolve it (RequestFacts)
        self.offered_subprotocols = offered
        self._default_subprotocol = default_subprotocol
        self.subprotocol: str | None = None
        self.state = CONNECTING
        self._queue: deque[Any] | None = None  # made on first use: an empty deque is ~600 B per connection
        self._waiter: asyncio.Future | None = None
        self._waiter_ends_iteration = False
        self._drain: asyncio.Future | None = None
        self.close_code: int | None = None
        self.close_reason = ""
        self._headers: Headers | None = None
        self._query: QueryParams | None = None
        self._client: Address | None = None
        self._scheme: str | None = None
        self.handler: Any = None
        self._max_queue = max_queue
        self._loop = asyncio.get_running_loop()  # once: get_running_loop() costs a getpid() on 3.11

    _IS_WEBSOCKET = True

    @property
    def app(self) -> "App":
        return self._app

    # --- state -------------------------------------------------------------------
    @property
    def buffered_amount(self) -> int:
        """Bytes accepted by send() but not yet written to the socket."""
        n = self._srv.buffered(self.conn)
        return max(n, 0)

    # --- handshake ---------------------------------------------------------------
    def accept(self, subprotocol: str | None = None,
               headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None) -> _Done:
        """Complete the handshake (101). ``subprotocol`` must be one the client offered
        (ValueError otherwise; None: the route's pick). ``headers`` are extra response
        fields, values ISO-8859-1 (RFC 9110 §5.5): one outside Latin-1 raises ValueError
        naming the header and, uncaught, the handshake is refused with 500. Raises
        WebSocketDisconnect if the peer is already gone, RuntimeError if called twice."""
        if self.state == CLOSED:
            # The peer went away while the handler was deciding: like receive()/send().
            raise WebSocketDisconnect(self.close_code or 1006, self.close_reason)
        if self.state != CONNECTING:
            raise RuntimeError("accept() called twice")
        if subprotocol is None:
            subprotocol = self._default_subprotocol
        elif subprotocol not in self.offered_subprotocols:
            raise ValueError(
                f"subprotocol {subprotocol!r} was not offered by the client (offered: {self.offered_subprotocols})"
            )
        hdrs = list(headers.items()) if isinstance(headers, Mapping) else list(headers or [])
        if not self._srv.ws_accept(self.conn, subprotocol or "", hdrs):
            self.state = CLOSED
            raise WebSocketDisconnect(self.close_code or 1006, self.close_reason or "connection lost before accept")
        self.subprotocol = subprotocol or None
        self.state = CONNECTED
        return DONE

    # --- receiving ---------------------------------------------------------------
    def _enqueue(self, message: Any) -> None:
        """Queue a message no handler is waiting for (the native dispatcher resumes a waiting one)."""
        q = self._queue
        if q is None:
            q = self._queue = deque()
        if len(q) >= self._max_queue:
            # The handler is not reading: bounded memory beats unbounded queuing.
            self._srv.ws_close(self.conn, 1008, "receive queue full")
            self._app._forget(self.conn)
            self._closed(1008, "receive queue full")
            return
        q.append(message)

    def _closed(self, code: int, reason: str) -> None:
        self.state = CLOSED
        if self.close_code is None:
            self.close_code = code
            self.close_reason = reason
        w = self._waiter
        if w is not None and not w.done():
            self._waiter = None
            # A waiter made by __anext__ ends the async-for loop instead of raising.
            w.set_exception(StopAsyncIteration() if self._waiter_ends_iteration
                            else WebSocketDisconnect(code, reason))
        d = self._drain
        if d is not None and not d.done():
            self._drain = None
            d.set_result(None)

    def _next(self, ends_iteration: bool) -> Any:
        """An awaitable for the next message: the queued one at once, else a future that the
        native dispatcher (_core.ws_dispatcher) resolves. Once closed: WebSocketDisconnect, or
        the end of ``async for``."""
        if self._queue:
            return _ready(self._queue.popleft())
        if self.state == CLOSED:
            return _raise(StopAsyncIteration() if ends_iteration
                          else WebSocketDisconnect(self.close_code or 1006, self.close_reason))
        if self.state == CONNECTING:
            raise RuntimeError("call accept() before receive()")
        fut = _Waiter(self._loop)
        self._waiter = fut
        self._waiter_ends_iteration = ends_iteration
        return fut

    async def receive(self) -> str | bytes:
        """Next message: ``str`` for text, ``bytes`` for binary. Raises WebSocketDisconnect."""
        return await self._next(False)

    async def receive_text(self) -> str:
        m = await self.receive()
        if not isinstance(m, str):
            raise TypeError("expected a text message, got binary")
        return m

    async def receive_bytes(self) -> bytes:
        m = await self.receive()
        if not isinstance(m, bytes):
            raise TypeError("expected a binary message, got text")
        return m

    async def receive_json(self) -> Any:
        return json.loads(await self.receive())

    def __aiter__(self) -> "WebSocket":
        return self

    if TYPE_CHECKING:  # pragma: no cover
        # In C, installed below the class: _next(True) without a Python frame in the common
        # case (nothing queued, connected), the echo hot path (src/cpp/bindings/ws_methods.cpp).
        def __anext__(self) -> Any: ...

    # --- sending -----------------------------------------------------------------
    if TYPE_CHECKING:  # pragma: no cover
        # In C, installed below the class (src/cpp/bindings/ws_methods.cpp): the native send and
        # DONE below the high-water mark without a Python frame; every other case goes to _sent().
        def send(self, data: str | bytes) -> Any:
            """Send ``str`` as text or ``bytes`` as binary. Awaiting the result waits
            while the connection's buffered bytes are above the high-water mark."""

    def _send(self, data: str | bytes) -> Any:
        """send() through a server that is not the native one (the access-log wrapper)."""
        return self._sent(self._srv.ws_send(self.conn, data))

    def _sent(self, n: int) -> Any:
        """What send() returns once ``n`` bytes are still buffered (-1: the connection is gone)."""
        if n < 0:
            if self.state == CONNECTING:
                raise RuntimeError("call accept() before send()")
            raise WebSocketDisconnect(self.close_code or 1006, self.close_reason)
        if n > self._app.send_high_water:
            d = self._drain
            if d is None:
                d = self._drain = self._loop.create_future()
            return d
        return DONE

    def send_text(self, data: str) -> Any:
        return self.send(str(data))

    def send_bytes(self, data: bytes) -> Any:
        return self.send(bytes(data))

    def send_json(self, data: Any) -> Any:
        return self.send(compact_json(data))

    def _drained(self) -> None:
        d = self._drain
        if d is not None:
            self._drain = None
            if not d.done():
                d.set_result(None)

    def ping(self, data: bytes = b"") -> bool:
        return self._srv.ws_ping(self.conn, data)

    def close(self, code: int = 1000, reason: str = "", status: int = 403) -> _Done:
        """Close with ``code``/``reason``; before accept() this refuses the upgrade with HTTP ``status``."""
        if self.state == CONNECTING:
            self._srv.ws_reject(self.conn, status, reason or "WebSocket connection refused")
        elif self.state == CONNECTED:
            if not (code == 1000 or 3000 <= code <= 4999 or 1001 <= code <= 1014 and code not in (1004, 1005, 1006)):
                raise ValueError(f"close code {code} may not be sent (use 1000, 1001-1003, 1007-1014 or 3000-4999)")
            if len(reason.encode()) > 123:
                raise ValueError("close reason must be at most 123 bytes of UTF-8")
            self._srv.ws_close(self.conn, code, reason)
        if self.state != CLOSED:
            self._app._forget(self.conn)
            self._closed(code, reason)
        return DONE

    # --- pub/sub -------------------------------------------------------------------
    def subscribe(self, topic: str) -> bool:
        ok = self._srv.subscribe(self.conn, topic)
        if self._app._bridge is not None:
            self._app._bridge.touch()  # first local subscriber: subscribe this worker at the broker
        return ok

    def unsubscribe(self, topic: str) -> bool:
        ok = self._srv.unsubscribe(self.conn, topic)
        if self._app._bridge is not None:
            self._app._bridge.touch()
        return ok

    def __repr__(self) -> str:
        return f"<WebSocket {self.path} conn={self.conn} state={('CONNECTING', 'CONNECTED', 'CLOSED')[self.state]}>"


for _name, _method in _core.ws_methods(WebSocket, CONNECTED).items():
    setattr(WebSocket, _name, _method)
