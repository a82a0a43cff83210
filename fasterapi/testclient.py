"""Test an App over real loopback sockets: HTTP (httpx), WebSocket (websockets), SSE.

    from fasterapi.testclient import TestClient

    with TestClient(app) as client:              # startup hooks have run, the port is bound
        assert client.get("/items/1").json() == {"id": 1}
        with client.websocket_connect("/ws") as ws:
            ws.send_text("hi")
            assert ws.receive_text() == "hi"
        with client.sse_connect("/events") as events:
            first = next(events)                 # SSEEvent(event=..., data=..., id=..., retry=...)
    # left the block: the server stopped gracefully, shutdown hooks have run

``AsyncTestClient`` is the same for ``async`` tests (``async with``, ``await``).

The app is served by the native server (``App.serve``) on ``127.0.0.1``, port 0,
on its own event loop in a background thread, so the test's thread (or event
loop) is free to act as the client. Handlers therefore run in that server
thread: call ``client.call(fn, *args)`` to run something there (e.g.
``app.publish``) from a test.

Needs the ``[test]`` extra (httpx, websockets): ``pip install fasterapi[test]``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence

try:
    import httpx
    import websockets
    from websockets.asyncio.client import ClientConnection as _AsyncWSConnection
    from websockets.asyncio.client import connect as _async_ws_connect
    from websockets.exceptions import ConnectionClosed, InvalidStatus
    from websockets.sync.client import ClientConnection as _SyncWSConnection
    from websockets.sync.client import connect as _sync_ws_connect
except ImportError as _exc:  # pragma: no cover - exercised by a subprocess test
    raise ImportError(
        f"fasterapi.testclient needs httpx and websockets ({_exc.name} is missing): pip install fasterapi[test]"
    ) from _exc

from .websocket import WebSocketDisconnect

if TYPE_CHECKING:  # pragma: no cover
    from .app import App

__all__ = ["AsyncTestClient", "SSEEvent", "TestClient", "WebSocketDisconnect", "WebSocketRejected"]

_ = websockets  # imported above only to report a missing package clearly


class WebSocketRejected(Exception):
    """The server answered the WebSocket handshake with an HTTP status instead of 101
    (e.g. 403 for an Origin not allowed, 404 for no route). ``status_code``, ``headers``, ``body``."""

    def __init__(self, status_code: int, headers: Mapping[str, str], body: bytes) -> None:
        super().__init__(f"WebSocket handshake rejected with HTTP {status_code}")
        self.status_code = status_code
        self.headers = dict(headers)
        self.body = body


# --- the server thread -------------------------------------------------------------------

class _ServerThread:
    """``app.serve()`` on a fresh event loop in a daemon thread; start() returns once it listens."""

    def __init__(self, app: "App", loop: str, startup_timeout: float, shutdown_timeout: float) -> None:
        self.app = app
        self.loop_kind = loop
        self.startup_timeout = startup_timeout
        self.shutdown_timeout = shutdown_timeout
        self.port = 0
        self.loop: asyncio.AbstractEventLoop | None = None
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> int:
        """Serve; returns the bound port. Re-raises what the server raised before listening
        (bind error, a startup hook that failed); RuntimeError if it is not up in time."""
        if self._thread is not None:
            raise RuntimeError("this TestClient is already running; a TestClient is entered once at a time")
        self.error = None
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name="fasterapi-testclient", daemon=True)
        self._thread.start()
        if not self._ready.wait(self.startup_timeout):
            self.stop()
            raise RuntimeError(f"the app did not start listening within {self.startup_timeout:g} s")
        if self.error is not None:
            self._join()
            err, self.error = self.error, None
            raise err
        return self.port

    def _run(self) -> None:
        from .server import _loop_factory

        factory = _loop_factory(self.loop_kind)
        loop = factory() if factory is not None else asyncio.new_event_loop()
        self.loop = loop
        try:
            loop.run_until_complete(self.app.serve("127.0.0.1", 0, ready=self._on_ready,
                                                   install_signal_handlers=False))
        except BaseException as exc:  # noqa: BLE001 - handed to the test's thread
            # Drop the frames' locals: the native server (and its listening fd) must not
            # outlive the run through this traceback.
            traceback.clear_frames(exc.__traceback__)
            self.error = exc
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()
                self.loop = None
                self._ready.set()  # wakes start() when serve() failed before ready

    def _on_ready(self, port: int) -> None:
        self.port = port
        self._ready.set()

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any],
             timeout: float | None) -> Any:
        """Run ``fn(*args, **kwargs)`` on the server's loop (awaited if it returns an awaitable); its result."""
        loop = self.loop
        if loop is None:
            raise RuntimeError("the server is not running (use the client inside its with-block)")

        async def run() -> Any:
            r = fn(*args, **kwargs)
            if asyncio.iscoroutine(r) or isinstance(r, asyncio.Future):
                r = await r
            return r

        return asyncio.run_coroutine_threadsafe(run(), loop).result(timeout)

    def stop(self) -> None:
        """Graceful stop (1001 to WebSockets, SSE streams end, shutdown hooks run), then join.
        Re-raises what a shutdown hook raised."""
        loop = self.loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self.app.stop)
            except RuntimeError:  # the loop closed meanwhile: serve() already returned
                pass
        self._join()
        err, self.error = self.error, None
        if err is not None:
            raise err

    def _join(self) -> None:
        t, self._thread = self._thread, None
        if t is None:
            return
        t.join(self.shutdown_timeout)
        if t.is_alive():
            raise RuntimeError(f"the server thread did not stop within {self.shutdown_timeout:g} s")


# --- SSE parsing (WHATWG HTML, "Interpreting an event stream") ----------------------------

@dataclass(frozen=True)
class SSEEvent:
    """One dispatched event as EventSource sees it: ``event`` ("message" when the stream
    named none), ``data`` (the data lines joined by "\\n"), ``id`` (the last event ID
    *after* this event, which persists across events like ``lastEventId``), ``retry``
    (milliseconds when this event's block set it, else None)."""

    event: str
    data: str
    id: str
    retry: int | None = None

    def json(self) -> Any:
        return json.loads(self.data)


class _SSEParser:
    """Line-at-a-time: feed() each line (without its terminator), get an event or None."""

    def __init__(self, last_event_id: str = "") -> None:
        self.last_event_id = last_event_id
        self.retry: int | None = None  # the reconnection time the stream set, if any
        self._data: list[str] = []
        self._event = ""
        self._block_retry: int | None = None
        self._first = True

    def feed(self, line: str) -> SSEEvent | None:
        if self._first:
            self._first = False
            line = line.removeprefix("\ufeff")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():
                self.retry = self._block_retry = int(value)
        return None

    def _dispatch(self) -> SSEEvent | None:
        data, event, retry = self._data, self._event, self._block_retry
        self._data, self._event, self._block_retry = [], "", None
        if not data:  # the spec dispatches nothing for a block without data
            return None
        return SSEEvent(event or "message", "\n".join(data), self.last_event_id, retry)


def _sse_headers(headers: Mapping[str, str] | None, last_event_id: str | None) -> dict[str, str]:
    h = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
    if headers:
        h.update(headers)
    if last_event_id is not None:
        h["Last-Event-ID"] = last_event_id
    return h


class SSEStream:
    """An open event stream (sync): iterate it for ``SSEEvent``s; it ends when the server ends
    the stream. ``response`` is the httpx response (status, headers); ``last_event_id`` is what
    to send on reconnect (``client.sse_connect(path, last_event_id=stream.last_event_id)``)."""

    def __init__(self, response: httpx.Response, last_event_id: str | None) -> None:
        self.response = response
        self._parser = _SSEParser(last_event_id or "")
        self._events = self._iter()

    @property
    def last_event_id(self) -> str:
        return self._parser.last_event_id

    @property
    def retry(self) -> int | None:
        return self._parser.retry

    def _iter(self) -> Iterator[SSEEvent]:
        # iter_lines() splits on CRLF, LF and CR, as the SSE grammar does.
        for line in self.response.iter_lines():
            ev = self._parser.feed(line)
            if ev is not None:
                yield ev

    def __iter__(self) -> Iterator[SSEEvent]:
        return self

    def __next__(self) -> SSEEvent:
        return next(self._events)


class AsyncSSEStream:
    """``SSEStream`` for async tests: ``async for ev in stream`` or ``await anext(stream)``."""

    def __init__(self, response: httpx.Response, last_event_id: str | None) -> None:
        self.response = response
        self._parser = _SSEParser(last_event_id or "")
        self._events = self._iter()

    @property
    def last_event_id(self) -> str:
        return self._parser.last_event_id

    @property
    def retry(self) -> int | None:
        return self._parser.retry

    async def _iter(self) -> AsyncIterator[SSEEvent]:
        async for line in self.response.aiter_lines():
            ev = self._parser.feed(line)
            if ev is not None:
                yield ev

    def __aiter__(self) -> AsyncIterator[SSEEvent]:
        return self

    async def __anext__(self) -> SSEEvent:
        return await self._events.__anext__()


def _check_sse_response(response: httpx.Response) -> None:
    ctype = response.headers.get("content-type", "")
    if response.status_code != 200 or not ctype.startswith("text/event-stream"):
        raise httpx.HTTPStatusError(
            f"expected 200 text/event-stream, got {response.status_code} {ctype or '(no content-type)'}",
            request=response.request, response=response)


# --- WebSocket sessions ----------------------------------------------------------------------

def _disconnect(exc: ConnectionClosed) -> WebSocketDisconnect:
    # rcvd is the peer's close frame; None means the TCP connection ended without one (1006).
    if exc.rcvd is not None:
        return WebSocketDisconnect(exc.rcvd.code, exc.rcvd.reason)
    return WebSocketDisconnect(1006, "")


def _rejected(exc: InvalidStatus) -> WebSocketRejected:
    r = exc.response
    return WebSocketRejected(r.status_code, {k: v for k, v in r.headers.raw_items()}, bytes(r.body or b""))


def _ws_url(port: int, path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"path must start with '/', got {path!r}")
    return f"ws://127.0.0.1:{port}{path}"


class WebSocketSession:
    """A client WebSocket (websockets' sync client). Every receive waits at most ``timeout``
    seconds (TimeoutError); a close from the server raises ``WebSocketDisconnect`` with its
    ``code`` and ``reason`` (1006 when the connection dropped without a close frame)."""

    def __init__(self, conn: _SyncWSConnection, timeout: float) -> None:
        self._conn = conn
        self.timeout = timeout

    @property
    def subprotocol(self) -> str | None:
        return self._conn.subprotocol

    @property
    def response_headers(self) -> Mapping[str, str]:
        assert self._conn.response is not None
        return self._conn.response.headers

    @property
    def close_code(self) -> int | None:
        """The close code the server sent, once the connection is closed (else None)."""
        return self._conn.close_code

    def send_text(self, data: str) -> None:
        self._send(data)

    def send_bytes(self, data: bytes) -> None:
        self._send(bytes(data))

    def send_json(self, data: Any, mode: str = "text") -> None:
        """JSON as a text message (``mode="text"``) or UTF-8 in a binary one (``mode="binary"``)."""
        text = json.dumps(data, separators=(",", ":"))
        self._send(text if mode == "text" else text.encode())

    def _send(self, data: str | bytes) -> None:
        try:
            self._conn.send(data)
        except ConnectionClosed as exc:
            raise _disconnect(exc) from None

    def receive(self) -> str | bytes:
        """The next message: str (text) or bytes (binary)."""
        try:
            return self._conn.recv(timeout=self.timeout)
        except ConnectionClosed as exc:
            raise _disconnect(exc) from None

    def receive_text(self) -> str:
        m = self.receive()
        if not isinstance(m, str):
            raise TypeError(f"expected a text message, got a binary one ({len(m)} bytes)")
        return m

    def receive_bytes(self) -> bytes:
        m = self.receive()
        if not isinstance(m, bytes):
            raise TypeError(f"expected a binary message, got a text one: {m[:80]!r}")
        return m

    def receive_json(self) -> Any:
        """A text or binary message holding JSON, decoded."""
        return json.loads(self.receive())

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close handshake (waits for the server's close frame, bounded by websockets' close_timeout),
        then waits for the connection's reader thread, so no thread outlives the session."""
        self._conn.close(code, reason)
        for name in ("recv_events_thread", "keepalive_thread"):
            t = getattr(self._conn, name, None)
            if t is not None and t is not threading.current_thread():
                t.join(self.timeout)

    def __enter__(self) -> "WebSocketSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncWebSocketSession:
    """``WebSocketSession`` for async tests: the same methods, awaited."""

    def __init__(self, conn: _AsyncWSConnection, timeout: float) -> None:
        self._conn = conn
        self.timeout = timeout

    @property
    def subprotocol(self) -> str | None:
        return self._conn.subprotocol

    @property
    def response_headers(self) -> Mapping[str, str]:
        assert self._conn.response is not None
        return self._conn.response.headers

    @property
    def close_code(self) -> int | None:
        return self._conn.close_code

    async def send_text(self, data: str) -> None:
        await self._send(data)

    async def send_bytes(self, data: bytes) -> None:
        await self._send(bytes(data))

    async def send_json(self, data: Any, mode: str = "text") -> None:
        text = json.dumps(data, separators=(",", ":"))
        await self._send(text if mode == "text" else text.encode())

    async def _send(self, data: str | bytes) -> None:
        try:
            await self._conn.send(data)
        except ConnectionClosed as exc:
            raise _disconnect(exc) from None

    async def receive(self) -> str | bytes:
        try:
            return await asyncio.wait_for(self._conn.recv(), self.timeout)
        except ConnectionClosed as exc:
            raise _disconnect(exc) from None

    async def receive_text(self) -> str:
        m = await self.receive()
        if not isinstance(m, str):
            raise TypeError(f"expected a text message, got a binary one ({len(m)} bytes)")
        return m

    async def receive_bytes(self) -> bytes:
        m = await self.receive()
        if not isinstance(m, bytes):
            raise TypeError(f"expected a binary message, got a text one: {m[:80]!r}")
        return m

    async def receive_json(self) -> Any:
        return json.loads(await self.receive())

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self._conn.close(code, reason)

    async def __aenter__(self) -> "AsyncWebSocketSession":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


# --- the clients -----------------------------------------------------------------------------

class TestClient(httpx.Client):
    """An ``httpx.Client`` bound to ``app`` served on an ephemeral loopback port.

    ``with TestClient(app) as client:`` starts the server (startup hooks run; an exception
    they raise, or a bind error, is raised here) and stops it gracefully on exit (open
    WebSockets get 1001, SSE streams end, shutdown hooks run; an exception from a shutdown
    hook is raised there). Inside, every httpx method works with paths (``client.get("/x")``).

    Parameters: ``timeout`` (seconds, default 10) bounds each HTTP read and each WebSocket
    receive; ``startup_timeout``/``shutdown_timeout`` (default 30 s each) bound the server's
    start and stop; ``loop`` is "asyncio" (default), "uvloop" or "auto" for the server's loop;
    other keyword arguments go to ``httpx.Client`` (e.g. ``headers``, ``follow_redirects``).
    """

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, app: "App", *, timeout: float = 10.0, startup_timeout: float = 30.0,
                 shutdown_timeout: float = 30.0, loop: str = "asyncio", **httpx_kwargs: Any) -> None:
        super().__init__(base_url="http://127.0.0.1", timeout=timeout, **httpx_kwargs)
        self.app = app
        self.ws_timeout = timeout
        self._server = _ServerThread(app, loop, startup_timeout, shutdown_timeout)
        self._sockets: list[WebSocketSession] = []

    @property
    def port(self) -> int:
        """The bound port (0 before the with-block)."""
        return self._server.port

    def __enter__(self) -> "TestClient":
        port = self._server.start()
        self.base_url = httpx.URL(f"http://127.0.0.1:{port}")
        try:
            super().__enter__()
        except BaseException:
            self._server.stop()
            raise
        return self

    def __exit__(self, exc_type: Any = None, exc: Any = None, tb: Any = None) -> None:
        try:
            for ws in self._sockets:
                ws.close()
            self._sockets.clear()
            super().__exit__(exc_type, exc, tb)
        finally:
            self._server.stop()

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` in the server's thread, on its loop (awaited if it returns
        a coroutine), and return its result: e.g. ``client.call(app.publish, "topic", "hi")``.
        Waits at most ``timeout`` seconds (TimeoutError)."""
        return self._server.call(fn, args, kwargs, self.ws_timeout)

    def websocket_connect(self, path: str, subprotocols: Sequence[str] | None = None,
                          headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
                          **connect_kwargs: Any) -> WebSocketSession:
        """Open a WebSocket to ``path`` (with its query string), usable as a context manager.
        ``subprotocols`` are offered in order; ``headers`` are added to the handshake (e.g.
        Origin, Cookie); other keyword arguments go to ``websockets.sync.client.connect``
        (e.g. ``compression=None``, ``max_size``). Raises WebSocketRejected when the server
        answers the handshake with an HTTP status."""
        if self._server.loop is None:
            raise RuntimeError("websocket_connect() needs the server running: use `with TestClient(app) as client:`")
        connect_kwargs.setdefault("open_timeout", self.ws_timeout)
        connect_kwargs.setdefault("ping_interval", None)  # no client keepalive thread; the server pings
        connect_kwargs.setdefault("max_size", None)
        try:
            conn = _sync_ws_connect(_ws_url(self.port, path), subprotocols=list(subprotocols or []) or None,
                                    additional_headers=headers, **connect_kwargs)
        except InvalidStatus as exc:
            raise _rejected(exc) from None
        # The session owns the connection's lifetime; entering it marks that (websockets
        # >= 17.1 warns about a connection that is never entered).
        conn.__enter__()
        ws = WebSocketSession(conn, self.ws_timeout)
        self._sockets = [s for s in self._sockets if s.close_code is None]
        self._sockets.append(ws)
        return ws

    def sse_connect(self, path: str, *, last_event_id: str | None = None,
                    headers: Mapping[str, str] | None = None, params: Any = None) -> "_SSEContext":
        """``with client.sse_connect(path) as events:`` — an ``SSEStream`` of parsed events.
        ``last_event_id`` is sent as ``Last-Event-ID`` (resume). Raises httpx.HTTPStatusError
        unless the answer is 200 text/event-stream."""
        return _SSEContext(self, path, _sse_headers(headers, last_event_id), params, last_event_id)


class _SSEContext:
    def __init__(self, client: TestClient, path: str, headers: dict[str, str], params: Any,
                 last_event_id: str | None) -> None:
        self._cm = client.stream("GET", path, headers=headers, params=params)
        self._last = last_event_id

    def __enter__(self) -> SSEStream:
        response = self._cm.__enter__()
        try:
            _check_sse_response(response)
        except BaseException:
            self._cm.__exit__(None, None, None)
            raise
        return SSEStream(response, self._last)

    def __exit__(self, *exc: Any) -> None:
        self._cm.__exit__(*exc)


class AsyncTestClient(httpx.AsyncClient):
    """``TestClient`` for async tests: an ``httpx.AsyncClient``; ``async with AsyncTestClient(app)
    as client:``, ``await client.get("/")``, ``async with client.websocket_connect(...)``,
    ``async with client.sse_connect(...) as events: async for ev in events``. The server
    still runs on its own loop in a thread, so the test's loop only runs the client side.
    Same parameters as TestClient."""

    __test__ = False

    def __init__(self, app: "App", *, timeout: float = 10.0, startup_timeout: float = 30.0,
                 shutdown_timeout: float = 30.0, loop: str = "asyncio", **httpx_kwargs: Any) -> None:
        super().__init__(base_url="http://127.0.0.1", timeout=timeout, **httpx_kwargs)
        self.app = app
        self.ws_timeout = timeout
        self._server = _ServerThread(app, loop, startup_timeout, shutdown_timeout)
        self._sockets: list[AsyncWebSocketSession] = []

    @property
    def port(self) -> int:
        return self._server.port

    async def __aenter__(self) -> "AsyncTestClient":
        # Starting and stopping block on a thread: keep the test's loop running meanwhile.
        port = await asyncio.to_thread(self._server.start)
        self.base_url = httpx.URL(f"http://127.0.0.1:{port}")
        try:
            await super().__aenter__()
        except BaseException:
            await asyncio.to_thread(self._server.stop)
            raise
        return self

    async def __aexit__(self, exc_type: Any = None, exc: Any = None, tb: Any = None) -> None:
        try:
            for ws in self._sockets:
                await ws._conn.close()
            self._sockets.clear()
            await super().__aexit__(exc_type, exc, tb)
        finally:
            await asyncio.to_thread(self._server.stop)

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, **kwargs)`` on the server's loop and return its result (see TestClient.call)."""
        loop = self._server.loop
        if loop is None:
            raise RuntimeError("the server is not running (use the client inside its async with-block)")
        return await asyncio.to_thread(self._server.call, fn, args, kwargs, self.ws_timeout)

    def websocket_connect(self, path: str, subprotocols: Sequence[str] | None = None,
                          headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
                          **connect_kwargs: Any) -> "_AsyncWSContext":
        """``async with client.websocket_connect(path) as ws:`` (see TestClient.websocket_connect);
        keyword arguments go to ``websockets.asyncio.client.connect``."""
        if self._server.loop is None:
            raise RuntimeError("websocket_connect() needs the server running: use `async with AsyncTestClient(app)`")
        connect_kwargs.setdefault("open_timeout", self.ws_timeout)
        connect_kwargs.setdefault("max_size", None)
        return _AsyncWSContext(self, _ws_url(self.port, path), list(subprotocols or []) or None, headers,
                               connect_kwargs)

    def sse_connect(self, path: str, *, last_event_id: str | None = None,
                    headers: Mapping[str, str] | None = None, params: Any = None) -> "_AsyncSSEContext":
        """``async with client.sse_connect(path) as events:`` — an ``AsyncSSEStream``."""
        return _AsyncSSEContext(self, path, _sse_headers(headers, last_event_id), params, last_event_id)


class _AsyncWSContext:
    def __init__(self, client: AsyncTestClient, url: str, subprotocols: list[str] | None, headers: Any,
                 kwargs: dict[str, Any]) -> None:
        self._client, self._url, self._sub, self._headers, self._kwargs = client, url, subprotocols, headers, kwargs
        self._ws: AsyncWebSocketSession | None = None

    def __await__(self):
        """``ws = await client.websocket_connect(...)`` (then ``await ws.close()`` yourself)."""
        return self.__aenter__().__await__()

    async def __aenter__(self) -> AsyncWebSocketSession:
        try:
            conn = await _async_ws_connect(self._url, subprotocols=self._sub, additional_headers=self._headers,
                                           **self._kwargs)
        except InvalidStatus as exc:
            raise _rejected(exc) from None
        self._ws = AsyncWebSocketSession(conn, self._client.ws_timeout)
        self._client._sockets.append(self._ws)
        return self._ws

    async def __aexit__(self, *exc: Any) -> None:
        assert self._ws is not None
        await self._ws.close()
        if self._ws in self._client._sockets:
            self._client._sockets.remove(self._ws)


class _AsyncSSEContext:
    def __init__(self, client: AsyncTestClient, path: str, headers: dict[str, str], params: Any,
                 last_event_id: str | None) -> None:
        self._cm = client.stream("GET", path, headers=headers, params=params)
        self._last = last_event_id

    async def __aenter__(self) -> AsyncSSEStream:
        response = await self._cm.__aenter__()
        try:
            _check_sse_response(response)
        except BaseException:
            await self._cm.__aexit__(None, None, None)
            raise
        return AsyncSSEStream(response, self._last)

    async def __aexit__(self, *exc: Any) -> None:
        await self._cm.__aexit__(*exc)
