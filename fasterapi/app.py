"""App: FastAPI-style routing over the native server.

Routes are compiled and handlers checked once, at registration. The native core
calls back once per complete request, WebSocket message or close; everything
below is the Python side of those calls.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import signal
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable
from urllib.parse import unquote

from . import _core
from . import access_log as _access_log
from .jsoncodec import dumps_bytes
from .proxy_headers import ProxyHeaders, trusted_hosts_from
from .requests import HTTPException, JSONResponse, Request, Response, compact_json
from .routing import PathTemplate, routing_path
from .sse import ReplayBuffer, encode_event, to_event
from .tls import TLSConfig, TLSConfigError
from .websocket import CLOSED, CONNECTED, CONNECTING, WebSocket, WebSocketDisconnect  # noqa: F401

logger = logging.getLogger("fasterapi")

#: Longest timeout accepted from run()/the CLI, in seconds (one day).
MAX_TIMEOUT = 86400.0

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@dataclass
class _Param:
    name: str
    kind: str  # "request" | "path" | "query"
    convert: Callable[[str], Any] | None = None
    default: Any = inspect.Parameter.empty


@dataclass
class HTTPRoute:
    template: PathTemplate
    methods: frozenset[str]
    handler: Callable[..., Any]
    params: list[_Param]
    is_async: bool


@dataclass
class WebSocketRoute:
    template: PathTemplate
    handler: Any
    callback_class: Any  # a class (instantiated per connection) or None for async handlers
    path_param_names: tuple[str, ...]
    options: dict[str, Any]
    max_queue: int
    native: int = -1


@dataclass
class SSERoute:
    template: PathTemplate
    handler: Callable[..., Any] | None
    params: list[_Param]
    kind: str  # "async" | "sync" | "topic"
    topic: str | None
    replay: Any  # native ReplayBuffer or None
    options: dict[str, Any]
    headers: list[tuple[str, str]] = field(default_factory=list)
    native: int = -1
    replay_events: int = 0


_BUILTIN_NAMES = {"int": int, "float": float, "str": str, "bool": bool}


def _signature(fn: Callable[..., Any]) -> inspect.Signature:
    """Annotations evaluated, so `from __future__ import annotations` modules convert too;
    names that cannot be evaluated (e.g. TYPE_CHECKING-only imports) stay strings."""
    try:
        return inspect.signature(fn, eval_str=True)
    except NameError:
        return inspect.signature(fn)


def _annotation_converter(ann: Any) -> Callable[[str], Any] | None:
    if isinstance(ann, str):
        ann = _BUILTIN_NAMES.get(ann, ann)
    if ann in (int, float, str):
        return ann
    if ann is bool:
        return lambda v: v.lower() in ("1", "true", "yes", "on")
    return None


def _check_http_params(fn: Callable[..., Any], template: PathTemplate, what: str) -> list[_Param]:
    try:
        sig = _signature(fn)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} handler {fn!r} has no inspectable signature: {exc}") from None
    params: list[_Param] = []
    seen_path: set[str] = set()
    for p in sig.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"{what} handler {fn.__qualname__}: *args/**kwargs are not supported; "
                            "name each parameter (request, path or query parameters)")
        if p.name == "request" or p.annotation is Request or p.annotation == "Request":
            params.append(_Param(p.name, "request"))
        elif p.name in template.param_names:
            seen_path.add(p.name)
            params.append(_Param(p.name, "path"))
        else:
            params.append(_Param(p.name, "query", _annotation_converter(p.annotation), p.default))
    missing = set(template.param_names) - seen_path
    if missing:
        raise TypeError(f"{what} handler {fn.__qualname__} for {template.template!r} must accept the path "
                        f"parameter(s) {sorted(missing)}")
    return params


def _check_latin1_headers(headers: list[tuple[str, str]], where: str) -> None:
    """Header values go out as ISO-8859-1 (RFC 9110 §5.5); refuse anything else at registration."""
    for name, value in headers:
        if isinstance(value, str):
            try:
                value.encode("latin-1")
            except UnicodeEncodeError:
                raise ValueError(f"{where}: header {name!r} value {value!r} is not ISO-8859-1 (Latin-1) text, "
                                 "which is all a header field can carry (RFC 9110 §5.5)") from None


def _to_response(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    if isinstance(result, Response):
        return result.status_code, result.header_list(), result.body
    if isinstance(result, str):
        return 200, [("Content-Type", "text/plain; charset=utf-8")], result.encode()
    if isinstance(result, (bytes, bytearray, memoryview)):
        return 200, [("Content-Type", "application/octet-stream")], bytes(result)
    body = dumps_bytes(result)
    return 200, [("Content-Type", "application/json")], body


# Events of a generator SSE route are written in batches, not one write per event: what the
# generator yields before it suspends (or before the loop runs again) goes out in one write,
# at most SSE_BATCH_EVENTS events or SSE_BATCH_BYTES bytes at a time. Latency bound: an event
# waits at most until the generator suspends, one loop iteration, or the batch fills.
SSE_BATCH_EVENTS = 64
SSE_BATCH_BYTES = 16 << 10


_encode_sse = _core.encode_sse


class _SSEStream:
    __slots__ = ("conn", "task", "drain", "closed", "replay_topic", "pending", "pending_bytes", "flush_queued")

    def __init__(self, conn: int) -> None:
        self.conn = conn
        self.replay_topic: str | None = None  # set on replay routes fed by a broker
        self.task: asyncio.Task | None = None
        self.drain: asyncio.Future | None = None
        self.closed = False
        self.pending: list[bytes] = []  # encoded events not yet written (one batch)
        self.pending_bytes = 0
        self.flush_queued = False


class _PendingHTTP:
    __slots__ = ("task",)

    def __init__(self, task: asyncio.Task) -> None:
        self.task = task


class App:
    """A FasterAPI application. Limits have defaults; every one can be overridden here
    (server-wide) or per route (WebSocket/SSE options)."""

    def __init__(self, *, max_body_size: int = 1 << 20, max_request_line: int = 8192,
                 max_header_bytes: int = 16384, max_headers: int = 100, max_connections: int = 10000,
                 request_timeout: float = 10.0, keepalive_timeout: float = 5.0,
                 send_high_water: int = 1 << 20, send_low_water: int = 256 << 10,
                 max_send_buffer: int = 64 << 20, close_timeout: float = 3.0,
                 shutdown_timeout: float = 10.0, broker: str | None = None,
                 broker_heartbeat: float = 1.0) -> None:
        """``broker``: e.g. ``"redis://host:6379/0"`` (default: env ``FASTERAPI_BROKER``, else none)
        makes publish/subscribe and SSE replay topic routes span processes and machines; see
        docs/deployment.md "Scaling out". ``broker_heartbeat`` (s): broker liveness probe period."""
        self.broker_url = broker
        self.broker_heartbeat = broker_heartbeat
        self._bridge: Any = None
        self.limits = dict(max_body_size=max_body_size, max_request_line=max_request_line,
                           max_header_bytes=max_header_bytes, max_headers=max_headers,
                           max_connections=max_connections, request_timeout=request_timeout,
                           keepalive_timeout=keepalive_timeout, send_high_water=send_high_water,
                           send_low_water=send_low_water, max_send_buffer=max_send_buffer,
                           close_timeout=close_timeout)
        self.send_high_water = send_high_water
        self.shutdown_timeout = shutdown_timeout
        self.http_routes: list[HTTPRoute] = []
        self.ws_routes: list[WebSocketRoute] = []
        self.sse_routes: list[SSERoute] = []
        self._static_http: dict[str, list[HTTPRoute]] = {}
        self._server: Any = None
        self._tls: tuple[Any, TLSConfig] | None = None  # (native server, files) while serving TLS
        self._conns: dict[int, Any] = {}
        self._tasks: set[asyncio.Task] = set()
        self._sse_topics: dict[str, list[SSERoute]] = {}
        self._stop: asyncio.Event | None = None
        self.port: int | None = None
        self._startup: list[Callable[[], Any]] = []
        self._shutdown: list[Callable[[], Any]] = []
        # The front door, read by serve(); run() sets them (fasterapi run --proxy-headers ...).
        #: Believe X-Forwarded-* / Forwarded from trusted peers (see fasterapi/proxy_headers.py).
        self.proxy_headers = True
        #: Trusted proxies: "*", or a comma list of IPs/CIDR networks; None: env
        #: FORWARDED_ALLOW_IPS, else "127.0.0.1".
        self.forwarded_allow_ips: str | None = None
        #: One "fasterapi.access" line per request (when that logger is enabled for INFO).
        self.access_log = True
        self._front = ProxyHeaders(None)  # what Request/WebSocket.client resolve with; set by serve()

    # --- registration ------------------------------------------------------------
    def add_route(self, path: str, handler: Callable[..., Any], methods: Iterable[str] = ("GET",)) -> None:
        ms = frozenset(m.upper() for m in methods)
        bad = ms - set(_METHODS)
        if bad:
            raise ValueError(f"unsupported HTTP method(s) {sorted(bad)} for {path!r}; use {list(_METHODS)}")
        if not callable(handler):
            raise TypeError(f"handler for {path!r} must be callable")
        template = PathTemplate(path)
        params = _check_http_params(handler, template, "HTTP")
        route = HTTPRoute(template, ms, handler, params, inspect.iscoroutinefunction(handler))
        self.http_routes.append(route)
        if template.is_static:
            self._static_http.setdefault(template.key, []).append(route)

    def route(self, path: str, methods: Iterable[str] = ("GET",)) -> Callable[[Any], Any]:
        def deco(fn: Any) -> Any:
            self.add_route(path, fn, methods)
            return fn

        return deco

    def get(self, path: str) -> Callable[[Any], Any]:
        return self.route(path, ["GET"])

    def post(self, path: str) -> Callable[[Any], Any]:
        return self.route(path, ["POST"])

    def put(self, path: str) -> Callable[[Any], Any]:
        return self.route(path, ["PUT"])

    def patch(self, path: str) -> Callable[[Any], Any]:
        return self.route(path, ["PATCH"])

    def delete(self, path: str) -> Callable[[Any], Any]:
        return self.route(path, ["DELETE"])

    def add_websocket_route(self, path: str, handler: Any, *, subprotocols: Iterable[str] = (),
                            compression: bool = False, max_message_size: int = 16 << 20,
                            allowed_origins: Iterable[str] = (), ping_interval: float = 20.0,
                            pong_timeout: float = 20.0, idle_timeout: float = 0.0, fragment_size: int = 0,
                            slow_policy: str = "close", max_backlog: int = 4 << 20, window_bits: int = 15,
                            client_window_bits: int = 15, mem_level: int = 8, compression_level: int = 1,
                            no_context_takeover: bool = False, client_no_context_takeover: bool = False,
                            compress_min_size: int = 0, max_queue: int = 1024) -> None:
        template = PathTemplate(path)
        callback_class = None
        if inspect.isclass(handler):
            if not callable(getattr(handler, "on_message", None)):
                raise TypeError(f"callback WebSocket handler {handler.__qualname__} needs an on_message(ws, message) "
                                "method (on_open(ws) and on_close(ws, code, reason) are optional)")
            callback_class = handler
        else:
            if not inspect.iscoroutinefunction(handler):
                raise TypeError(f"WebSocket handler {getattr(handler, '__qualname__', handler)!r} must be "
                                "'async def handler(ws)' or a class with on_message(ws, message)")
            sig = inspect.signature(handler)
            names = list(sig.parameters)
            if not names:
                raise TypeError(f"WebSocket handler {handler.__qualname__} must accept the WebSocket "
                                "as its first parameter")
            extra = [n for n in names[1:] if n not in template.param_names
                     and sig.parameters[n].default is inspect.Parameter.empty]
            if extra:
                raise TypeError(f"WebSocket handler {handler.__qualname__}: parameter(s) {extra} are not path "
                                f"parameters of {path!r}")
        if slow_policy not in ("close", "drop"):
            raise ValueError(f"slow_policy must be 'close' or 'drop', not {slow_policy!r}")
        if max_queue < 1:
            raise ValueError("max_queue must be >= 1")
        options = dict(max_message_size=max_message_size, compression=compression,
                       subprotocols=list(subprotocols), allowed_origins=list(allowed_origins),
                       ping_interval=ping_interval, pong_timeout=pong_timeout, idle_timeout=idle_timeout,
                       fragment_size=fragment_size, slow_policy=slow_policy, max_backlog=max_backlog,
                       window_bits=window_bits, client_window_bits=client_window_bits, mem_level=mem_level,
                       compression_level=compression_level, no_context_takeover=no_context_takeover,
                       client_no_context_takeover=client_no_context_takeover,
                       compress_min_size=compress_min_size)
        self.ws_routes.append(WebSocketRoute(template, handler, callback_class, template.param_names, options,
                                             max_queue))

    def websocket(self, path: str, **options: Any) -> Callable[[Any], Any]:
        def deco(fn: Any) -> Any:
            self.add_websocket_route(path, fn, **options)
            return fn

        return deco

    def add_sse_route(self, path: str, handler: Callable[..., Any] | None = None, *, ping_interval: float = 15.0,
                      replay: int = 0, replay_bytes: int = 4 << 20, topic: str | None = None,
                      slow_policy: str | None = None, max_backlog: int = 4 << 20,
                      headers: Iterable[tuple[str, str]] = ()) -> None:
        """Serve Server-Sent Events at ``path`` from a generator ``handler`` (or, with no
        handler, the pub/sub ``topic``). ``ping_interval`` seconds (15.0, 0 off) between
        keep-alive comments; ``replay`` events (0 off) up to ``replay_bytes`` kept for
        Last-Event-ID; ``slow_policy`` "drop" or "close" above ``max_backlog`` bytes
        (4 MiB); ``headers`` extra response fields, Latin-1 values (ValueError here
        otherwise, RFC 9110 §5.5). HEAD gets GET's header fields and no body."""
        template = PathTemplate(path)
        if handler is None:
            if topic is None:
                raise TypeError(f"SSE route {path!r} needs a generator handler or a topic")
            kind, params = "topic", []
        else:
            if inspect.isasyncgenfunction(handler):
                kind = "async"
            elif inspect.isgeneratorfunction(handler):
                kind = "sync"
            else:
                raise TypeError(f"SSE handler {getattr(handler, '__qualname__', handler)!r} must be a generator "
                                "(async def ... yield, or def ... yield) producing dict, ServerSentEvent or str")
            params = _check_http_params(handler, template, "SSE")
        # A replay route closes a subscriber that falls behind (it resumes by Last-Event-ID, with
        # no gap); skipping events there would be a silent gap. Other routes drop by default.
        if slow_policy is None:
            slow_policy = "close" if replay else "drop"
        if slow_policy not in ("close", "drop"):
            raise ValueError(f"slow_policy must be 'close' or 'drop', not {slow_policy!r}")
        if replay and slow_policy == "drop":
            raise ValueError(f"SSE route {path!r} has replay={replay}: slow_policy must be 'close' "
                             "(dropping events would leave a gap that Last-Event-ID cannot fill)")
        headers = list(headers)
        _check_latin1_headers(headers, f"SSE route {path!r}")
        route = SSERoute(template, handler, params, kind, topic, ReplayBuffer(replay, replay_bytes) if replay else None,
                         dict(ping_interval=ping_interval, slow_policy=slow_policy, max_backlog=max_backlog),
                         headers, replay_events=replay)
        self.sse_routes.append(route)
        if topic is not None:
            self._sse_topics.setdefault(topic, []).append(route)

    def sse(self, path: str, **options: Any) -> Callable[[Any], Any]:
        def deco(fn: Any) -> Any:
            self.add_sse_route(path, fn, **options)
            return fn

        return deco

    def on_startup(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        self._startup.append(fn)
        return fn

    def on_shutdown(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        self._shutdown.append(fn)
        return fn

    # --- pub/sub -------------------------------------------------------------------
    def publish(self, topic: str, data: Any, *, event: str | None = None, id: str | int | None = None) -> int:
        """Fan ``data`` out natively to every WebSocket and SSE subscriber of ``topic``.
        str -> text, bytes -> binary, anything else -> JSON text. Returns the deliveries made in
        this worker now (with a broker, replay-route SSE subscribers are fed from the broker
        stream a moment later and are not in this count).

        With a broker, the message also goes (queued, never blocking) to every other worker
        subscribed to ``topic``; on a ``replay=N`` topic the broker assigns the SSE event id
        (``id=`` is then a ValueError) and every SSE subscriber, local ones included, gets the
        event from the broker stream. What cannot reach the broker counts in
        ``stats()["broker_publish_failed"]``."""
        if self._server is None:
            raise RuntimeError("publish() needs a running server (call it from a handler or after startup)")
        if not isinstance(data, (str, bytes)):
            data = compact_json(data)
        sse_routes = self._sse_topics.get(topic)
        encoded = None
        bridge = self._bridge
        if bridge is not None:
            if id is not None and topic in bridge.maxlen:
                raise ValueError(f"topic {topic!r} has a replay route: with a broker its event ids are assigned "
                                 "by the broker; publish without id=")
            if sse_routes and topic in bridge.live_sse:
                encoded = encode_event(data, event, id)
            return bridge.publish(topic, data, event, id, encoded)
        if sse_routes:
            encoded = encode_event(data, event, id)
            if id is not None:
                for r in sse_routes:
                    if r.replay is not None:
                        r.replay.append(str(id), encoded)
        return self._server.publish(topic, data, encoded)

    @property
    def broker(self) -> str | None:
        """The broker URL in use while serving (password hidden), else None."""
        if self._bridge is None:
            return None
        from .broker import redact

        return redact(self._bridge.broker.url)

    def subscribers(self, topic: str) -> int:
        """Subscribers of ``topic`` in this worker (a broker does not change this count)."""
        return 0 if self._server is None else self._server.subscribers(topic)

    def stats(self) -> dict[str, int]:
        """Native counters; with a broker also ``broker_*`` (published, publish_failed, received,
        reconnects, heartbeat_timeouts, connected, subscriptions, queue, replay_resets)."""
        if self._server is None:
            return {}
        st = self._server.stats()
        if self._bridge is not None:
            st.update(self._bridge.stats())
        return st

    def _replay_streams(self, topic: str) -> list[int]:
        return [c for c, o in self._conns.items() if isinstance(o, _SSEStream) and o.replay_topic == topic]

    def _end_sse(self, conn: int) -> None:
        obj = self._conns.pop(conn, None)
        if isinstance(obj, _SSEStream):
            obj.closed = True
        if self._server is not None:
            self._server.sse_end(conn)

    # --- native callbacks ------------------------------------------------------------
    def _forget(self, conn: int) -> None:
        self._conns.pop(conn, None)

    def _spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _on_request(self, conn: int, method: str, raw_path: str, query: str, headers: list[tuple[str, str]],
                    body: bytes, peer: str, upgrade: bool, version: int) -> None:
        srv = self._server
        # Split into segments first, then decode each (RFC 3986 §2.2): %2F is data, not a separator.
        if "%" in raw_path:
            rpath = routing_path(raw_path)
            path = unquote(raw_path)
        else:
            rpath = path = raw_path
        try:
            if upgrade:
                for r in self.ws_routes:
                    params = r.template.match(rpath)
                    if params is not None:
                        return self._start_websocket(conn, r, path, query, headers, params, peer, raw_path)
            if method in ("GET", "HEAD") and self.sse_routes:
                for sr in self.sse_routes:
                    params = sr.template.match(rpath)
                    if params is not None:
                        return self._start_sse(conn, sr, method, path, query, headers, body, peer, params, version,
                                               raw_path)
            routes = self._static_http.get(rpath)
            allowed: set[str] = set()
            match: tuple[HTTPRoute, dict[str, Any]] | None = None
            for r in routes if routes is not None else self.http_routes:
                params = {} if routes is not None else r.template.match(rpath)
                if params is None:
                    continue
                allowed |= r.methods
                if method in r.methods or (method == "HEAD" and "GET" in r.methods):
                    match = (r, params)
                    break
            if match is None:
                # A WebSocket or SSE route at this path: the method (or the missing upgrade) is wrong.
                if any(r.template.match(rpath) is not None for r in self.ws_routes):
                    if method in ("GET", "HEAD") and not allowed:
                        srv.respond(conn, 426, [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                                ("Content-Type", "application/json")],
                                    b'{"detail":"Upgrade Required"}', method == "HEAD")
                        return
                    allowed.add("GET")
                if any(sr.template.match(rpath) is not None for sr in self.sse_routes):
                    allowed.add("GET")
                if allowed:
                    allow = sorted(allowed | ({"HEAD"} if "GET" in allowed else set()))
                    srv.respond(conn, 405, [("Allow", ", ".join(allow)), ("Content-Type", "application/json")],
                                b'{"detail":"Method Not Allowed"}')
                elif upgrade and any(r.template.match(rpath) is not None for r in self.ws_routes):
                    pass  # unreachable: handled above
                else:
                    srv.respond(conn, 404, [("Content-Type", "application/json")], b'{"detail":"Not Found"}')
                return
            route, params = match
            request = Request(method, path, query, headers, body, peer, params,
                              "1.1" if version else "1.0", self, raw_path)
            if route.is_async:
                self._conns[conn] = _PendingHTTP(self._spawn(self._run_http_async(conn, route, request)))
            else:
                try:
                    result = route.handler(**self._kwargs(route.params, request))
                    self._send_result(conn, result, method == "HEAD")
                except Exception as exc:  # noqa: BLE001 - every handler error (or unsendable result) -> 500
                    return self._handler_error(conn, exc, request)
        except Exception:  # noqa: BLE001 - never let a bug unwind into the native loop
            logger.error("error dispatching %s %s\n%s", method, raw_path, traceback.format_exc())
            srv.respond(conn, 500, [("Content-Type", "application/json")], b'{"detail":"Internal Server Error"}')

    def _kwargs(self, params: list[_Param], request: Request) -> dict[str, Any]:
        kw: dict[str, Any] = {}
        for p in params:
            if p.kind == "request":
                kw[p.name] = request
            elif p.kind == "path":
                kw[p.name] = request.path_params[p.name]
            else:
                qp = request.query_params
                if p.name in qp:
                    raw = qp[p.name]
                    try:
                        kw[p.name] = p.convert(raw) if p.convert else raw
                    except ValueError:
                        raise HTTPException(422, f"query parameter {p.name!r} is invalid: {raw!r}") from None
                elif p.default is not inspect.Parameter.empty:
                    kw[p.name] = p.default
                else:
                    raise HTTPException(422, f"missing required query parameter {p.name!r}")
        return kw

    def _send_result(self, conn: int, result: Any, head_only: bool) -> None:
        status, headers, body = _to_response(result)
        self._server.respond(conn, status, headers, body, head_only)

    def _handler_error(self, conn: int, exc: BaseException, request: Request) -> None:
        if isinstance(exc, HTTPException):
            body = json.dumps({"detail": exc.detail or None}).encode()
            headers = [("Content-Type", "application/json"), *exc.headers.items()]
            try:
                self._server.respond(conn, exc.status_code, headers, body, request.method == "HEAD")
                return
            except (ValueError, TypeError) as bad:  # e.g. a header value that is not Latin-1
                exc = bad
        logger.error("handler error for %s %s\n%s", request.method, request.path,
                     "".join(traceback.format_exception(exc)))
        self._server.respond(conn, 500, [("Content-Type", "application/json")],
                             b'{"detail":"Internal Server Error"}', request.method == "HEAD")

    async def _run_http_async(self, conn: int, route: HTTPRoute, request: Request) -> None:
        try:
            result = await route.handler(**self._kwargs(route.params, request))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001
            self._conns.pop(conn, None)
            return self._handler_error(conn, exc, request)
        self._conns.pop(conn, None)
        try:
            self._send_result(conn, result, request.method == "HEAD")
        except Exception as exc:  # noqa: BLE001 - e.g. an unserializable result
            self._handler_error(conn, exc, request)

    # WebSocket ----------------------------------------------------------------------
    def _start_websocket(self, conn: int, route: WebSocketRoute, path: str, query: str,
                         headers: list[tuple[str, str]], params: dict[str, Any], peer: str, raw_path: str) -> None:
        status, _reason, sub, offered = self._server.ws_prepare(conn, route.native)
        if status != 101:
            return
        ws = WebSocket(self, conn, path, query, headers, params, peer, offered, sub, route.max_queue, raw_path)
        self._conns[conn] = ws
        if route.callback_class is not None:
            handler = route.callback_class()
            ws.handler = handler
            ws.accept()
            on_open = getattr(handler, "on_open", None)
            if on_open is not None:
                try:
                    on_open(ws)
                except Exception:  # noqa: BLE001
                    self._ws_handler_failed(ws)
        else:
            self._spawn(self._run_ws(route, ws, params))

    def _ws_handler_failed(self, ws: WebSocket) -> None:
        logger.error("WebSocket handler error on %s\n%s", ws.path, traceback.format_exc())
        if ws.state == CONNECTED:
            self._server.ws_close(ws.conn, 1011, "internal error")
        elif ws.state == CONNECTING:
            self._server.ws_reject(ws.conn, 500, "internal error")
        self._forget(ws.conn)
        ws._closed(1011, "internal error")

    async def _run_ws(self, route: WebSocketRoute, ws: WebSocket, params: dict[str, Any]) -> None:
        try:
            await route.handler(ws, **params)
        except WebSocketDisconnect:
            pass
        except asyncio.CancelledError:
            if ws.state == CONNECTED:
                self._server.ws_close(ws.conn, 1001, "server shutting down")
            raise
        except Exception:  # noqa: BLE001
            return self._ws_handler_failed(ws)
        if ws.state == CONNECTING:
            ws.close(status=403)  # the handler returned without accepting
        elif ws.state == CONNECTED:
            ws.close(1000)
        self._forget(ws.conn)

    def _on_close(self, conn: int, code: int, reason: str) -> None:
        obj = self._conns.pop(conn, None)
        if obj is None:
            return
        if isinstance(obj, WebSocket):
            was_open = obj.state != CLOSED
            obj._closed(code, reason)
            # After a protocol error the native close frame waits until the handler has
            # answered what arrived before it (its wake-up is already queued ahead of this).
            asyncio.get_running_loop().call_soon(self._server.ws_finish_fail, conn)
            h = obj.handler
            if h is not None and was_open:
                on_close = getattr(h, "on_close", None)
                if on_close is not None:
                    try:
                        on_close(obj, code, reason)
                    except Exception:  # noqa: BLE001
                        logger.error("on_close error on %s\n%s", obj.path, traceback.format_exc())
        elif isinstance(obj, _SSEStream):
            obj.closed = True
            if obj.task is not None and not obj.task.done():
                obj.task.cancel()
            if obj.drain is not None and not obj.drain.done():
                obj.drain.set_result(None)
        elif isinstance(obj, _PendingHTTP):
            obj.task.cancel()  # nobody is left to read the response

    def _on_drain(self, conn: int) -> None:
        obj = self._conns.get(conn)
        if isinstance(obj, WebSocket):
            obj._drained()
        elif isinstance(obj, _SSEStream) and obj.drain is not None and not obj.drain.done():
            obj.drain.set_result(None)
            obj.drain = None

    # SSE ------------------------------------------------------------------------------
    def _start_sse(self, conn: int, route: SSERoute, method: str, path: str, query: str,
                   headers: list[tuple[str, str]], body: bytes, peer: str, params: dict[str, Any],
                   version: int, raw_path: str) -> None:
        srv = self._server
        request = Request(method, path, query, headers, body, peer, params, "1.1" if version else "1.0", self,
                          raw_path)
        try:
            kwargs = self._kwargs(route.params, request) if route.handler is not None else {}
        except HTTPException as exc:  # e.g. a missing query parameter: 422, as on plain routes
            return self._handler_error(conn, exc, request)
        if method == "HEAD":
            # The GET header fields (framing included) and no body; the stream never starts.
            srv.sse_start(conn, route.native, route.headers)
            return
        stream = _SSEStream(conn)
        self._conns[conn] = stream
        srv.sse_start(conn, route.native, route.headers)
        last_id = request.last_event_id
        if self._bridge is not None and route.replay is not None and route.kind == "topic":
            stream.replay_topic = route.topic
            self._bridge.attach(conn, route.topic, last_id)
            return
        if route.replay is not None and last_id is not None:
            missed = route.replay.after(last_id)
            for encoded in missed or ():
                srv.sse_send_raw(conn, encoded)
        if route.kind == "topic":
            srv.subscribe(conn, route.topic)
            return
        stream.task = self._spawn(self._run_sse(route, stream, kwargs))

    async def _run_sse(self, route: SSERoute, stream: SSEStreamT, kwargs: dict[str, Any]) -> None:
        srv = self._server
        conn = stream.conn
        loop = asyncio.get_running_loop()
        gen = route.handler(**kwargs)
        queue = self._sse_queue
        try:
            if route.kind == "async":
                async for item in gen:
                    if not queue(route, stream, item, loop):
                        break
                    if stream.drain is not None:
                        await stream.drain
                        if stream.closed:
                            break
            else:
                sentinel = object()
                while not stream.closed:
                    item = await loop.run_in_executor(None, next, gen, sentinel)
                    if item is sentinel or not queue(route, stream, item, loop):
                        break
                    if stream.drain is not None:
                        await stream.drain
        except asyncio.CancelledError:
            pass
        except Exception:  # noqa: BLE001
            logger.error("SSE handler error on %s\n%s", route.template.template, traceback.format_exc())
        finally:
            self._sse_flush(stream)  # what was yielded before the end (or the error) still goes out
            if route.kind == "async":
                try:
                    await gen.aclose()
                except Exception:  # noqa: BLE001
                    logger.error("SSE generator cleanup error\n%s", traceback.format_exc())
            else:
                gen.close()
            if not stream.closed:
                self._conns.pop(conn, None)
                srv.sse_end(conn)

    def _sse_queue(self, route: SSERoute, stream: _SSEStream, item: Any, loop: asyncio.AbstractEventLoop) -> bool:
        """Encode one yielded item into the stream's batch; False once the stream is gone."""
        if stream.closed:
            return False
        if item.__class__ is str:  # the common case, without to_event's dispatch
            encoded = _encode_sse(item)
        else:
            encoded, ev_id = to_event(item)
            if route.replay is not None and ev_id is not None:
                route.replay.append(ev_id, encoded)
        pending = stream.pending
        pending.append(encoded)
        stream.pending_bytes += len(encoded)
        if len(pending) >= SSE_BATCH_EVENTS or stream.pending_bytes >= SSE_BATCH_BYTES:
            return self._sse_flush(stream)
        if not stream.flush_queued:
            stream.flush_queued = True  # written at the next loop iteration unless the batch fills first
            loop.call_soon(self._sse_flush, stream)
        return True

    def _sse_flush(self, stream: _SSEStream) -> bool:
        """Write the stream's batch in one native call; arm stream.drain above the high-water mark."""
        stream.flush_queued = False
        pending = stream.pending
        if not pending:
            return not stream.closed
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        pending.clear()
        stream.pending_bytes = 0
        if stream.closed:
            return False
        n = self._server.sse_send_raw(stream.conn, data)
        if n < 0:
            return False  # gone: the task stops at its next write (a deferred flush cannot stop it)
        if n > self.send_high_water and stream.drain is None:
            stream.drain = asyncio.get_running_loop().create_future()
        return True

    # --- serving ---------------------------------------------------------------------
    async def serve(self, host: str = "127.0.0.1", port: int = 8000, *, reuse_port: bool = False,
                    ready: Callable[[int], Any] | None = None, install_signal_handlers: bool = True,
                    tls: TLSConfig | None = None, fd: int | None = None, scheme: str | None = None) -> None:
        """Serve on the running asyncio loop until stop() or SIGINT/SIGTERM, then shut down gracefully.
        ``tls``: serve https/wss (see fasterapi.tls.TLSConfig; TLSConfigError naming the file at
        fault, before listening). ``fd``: serve an already-listening socket (e.g. a Unix socket)
        instead of binding host:port. ``scheme``: what ``request.scheme`` says without proxy
        headers (None: "https" with ``tls``, else "http"; WebSockets: "ws"/"wss").
        ValueError for a bad ``forwarded_allow_ips`` or ``scheme``."""
        loop = asyncio.get_running_loop()
        if scheme is None:
            scheme = "https" if tls is not None else "http"
        trusted = trusted_hosts_from(self.forwarded_allow_ips) if self.proxy_headers else None
        self._front = front = ProxyHeaders(trusted, scheme)
        on_request, on_close = self._on_request, self._on_close
        access = None
        if _access_log.enabled(self.access_log):  # decided once: no per-request test when off
            access = _access_log.AccessLog(front, on_request, on_close)
            on_request, on_close = access.on_request, access.on_close
        extra: dict[str, Any] = tls.server_kwargs() if tls is not None else {}
        if fd is not None:
            extra["fd"] = fd
        # Each message: resume the waiting handler, queue, or on_message (src/cpp/bindings/ws_methods.cpp).
        on_ws_message = _core.ws_dispatcher(self._conns, self._ws_handler_failed)
        srv = _core.Server(on_request, on_ws_message, on_close, self._on_drain,
                           host=host, port=port, reuse_port=reuse_port, **self.limits, **extra)
        for r in self.ws_routes:
            r.native = srv.add_ws_route(**r.options)
        for sr in self.sse_routes:
            sr.native = srv.add_sse_route(**sr.options)
        url = self.broker_url or os.environ.get("FASTERAPI_BROKER") or None
        bridge = None
        if url:
            from .broker import create_broker
            from .broker.bridge import Bridge

            bridge = Bridge(self, create_broker(url, heartbeat=self.broker_heartbeat))
            await bridge.start(srv)  # BrokerError naming the URL, before the port is taken
        try:
            self.port = srv.listen()
        except ValueError as exc:  # a TLS file or option (named in the message)
            from .tls import TLSConfigError

            raise TLSConfigError(str(exc)) from None
        self._server = srv if access is None else access.bind(srv)
        self._tls = (srv, tls) if tls is not None else None
        self._bridge = bridge
        self._stop = asyncio.Event()
        installed: list[int] = []
        if install_signal_handlers:
            handlers = {signal.SIGINT: self._stop.set, signal.SIGTERM: self._stop.set}
            if tls is not None:
                handlers[signal.SIGHUP] = self._reload_tls_on_signal  # certificate renewal
            for sig, handler in handlers.items():
                try:
                    loop.add_signal_handler(sig, handler)
                    installed.append(sig)
                except (NotImplementedError, RuntimeError, ValueError):
                    pass
        loop.add_reader(srv.fileno(), srv.poll if bridge is None else bridge.poll)
        try:
            for fn in self._startup:
                r = fn()
                if inspect.isawaitable(r):
                    await r
            logger.info("FasterAPI listening on %s", _listen_url(host, self.port, tls is not None, fd))
            if ready is not None:
                ready(self.port)
            await self._stop.wait()
            await self._graceful_shutdown()
        finally:
            loop.remove_reader(srv.fileno())
            for sig in installed:
                loop.remove_signal_handler(sig)
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            if bridge is not None:
                await bridge.stop()
                self._bridge = None
            self._server = None
            self._tls = None
            self._conns.clear()

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()

    def reload_tls(self) -> None:
        """Load the TLS certificate, key and CA files again from the same paths: certificate
        renewal without a restart (what SIGHUP does to a TLS server). Connections accepted from
        now on use the new files; open ones keep the ones they started with. Raises
        ``fasterapi.tls.TLSConfigError`` naming the file at fault (the previous files keep
        serving), RuntimeError when the app is not serving TLS."""
        if self._tls is None:
            raise RuntimeError("not serving TLS: nothing to reload (serve with ssl_certfile=...)")
        srv, tls = self._tls
        try:
            srv.reload_tls(**tls.server_kwargs())
        except ValueError as exc:
            raise TLSConfigError(str(exc)) from None

    def _reload_tls_on_signal(self) -> None:
        try:
            self.reload_tls()
        except TLSConfigError as exc:
            logger.error("SIGHUP: TLS files not reloaded, the previous certificate keeps serving: %s", exc)
            return
        logger.info("SIGHUP: TLS files reloaded from %s", self._tls[1].certfile if self._tls else "?")

    async def _graceful_shutdown(self) -> None:
        srv = self._server
        srv.begin_shutdown()  # stop accepting; 1001 to WebSockets after queued data; end SSE
        for task in list(self._tasks):
            coro = task.get_coro()
            if getattr(coro, "__qualname__", "").endswith("_run_sse"):
                task.cancel()
        deadline = asyncio.get_running_loop().time() + self.shutdown_timeout
        while srv.connection_count() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        for fn in self._shutdown:
            r = fn()
            if inspect.isawaitable(r):
                await r

    def run(self, host: str = "127.0.0.1", port: int = 8000, workers: int = 1, log_level: str = "info",
            loop: str = "auto", broker: str | None = None, max_restarts_per_minute: int | None = None, *,
            proxy_headers: bool | None = None, forwarded_allow_ips: str | None = None,
            access_log: bool | None = None, timeout_keep_alive: float | None = None,
            limit_concurrency: int | None = None, timeout_graceful_shutdown: float | None = None,
            ssl_certfile: str | None = None, ssl_keyfile: str | None = None,
            ssl_keyfile_password: str | None = None, ssl_ca_certs: str | None = None,
            ssl_ciphers: str | None = None, ssl_cert_reqs: int = 0, uds: str | None = None,
            fd: int | None = None) -> None:
        """Serve until SIGINT/SIGTERM; ``workers=N`` forks N processes sharing the port (SO_REUSEPORT),
        supervised: a worker that dies is restarted with backoff, at most ``max_restarts_per_minute``
        (None: ``fasterapi.server.MAX_RESTARTS_PER_MINUTE``) before the parent stops and exits 1.
        ``loop``: "auto" (uvloop when installed), "uvloop" or "asyncio"; env FASTERAPI_LOOP overrides.
        ``broker``: overrides App(broker=...); checked once before forking (BrokerError naming the URL).
        ``log_level``: "critical", "error", "warning", "info", "debug" or "trace".

        uvicorn's names, each None = keep what the App has:
        ``proxy_headers`` (True) and ``forwarded_allow_ips`` (None: env FORWARDED_ALLOW_IPS, else
        "127.0.0.1"; "*" or a comma list of IPs/CIDR networks): ``client``/``scheme`` from
        X-Forwarded-For/-Proto or Forwarded when the peer is trusted (fasterapi/proxy_headers.py);
        ``access_log`` (True): one "fasterapi.access" line per request at INFO;
        ``timeout_keep_alive`` (s) sets App(keepalive_timeout=), 5.0;
        ``limit_concurrency`` sets App(max_connections=), 10000 per worker: connections beyond it
        get 503 and are closed; ``timeout_graceful_shutdown`` (s) sets App(shutdown_timeout=), 10.0.

        ``ssl_*`` (uvicorn's names): serve https/wss natively; see fasterapi.tls.TLSConfig. The
        files are loaded once before forking: ``fasterapi.tls.TLSConfigError`` (a ValueError, one
        line naming the file) when one is missing, not PEM, encrypted without the right password,
        or the key does not match the certificate.
        ``uds``: listen on this Unix domain socket path instead of host:port (a stale socket file
        is replaced; a live one or a non-socket file is an error; mode 0o666, as uvicorn).
        ``fd``: serve an already-listening socket inherited as this file descriptor.

        Raises ValueError for a bad value, ``fasterapi.server.ListenError`` (an OSError, one line)
        when host:port cannot be bound."""
        from .server import run_app
        from .tls import tls_config

        tls = tls_config(ssl_certfile, ssl_keyfile, ssl_keyfile_password, ssl_ca_certs, ssl_ciphers, ssl_cert_reqs)
        if tls is not None:
            tls.check()

        self.configure(proxy_headers=proxy_headers, forwarded_allow_ips=forwarded_allow_ips, access_log=access_log,
                       timeout_keep_alive=timeout_keep_alive, limit_concurrency=limit_concurrency,
                       timeout_graceful_shutdown=timeout_graceful_shutdown)
        if broker is not None:
            self.broker_url = broker
        url = self.broker_url or os.environ.get("FASTERAPI_BROKER")
        if url:
            from .broker import check_broker

            check_broker(url)

        run_app(self, host, port, workers, log_level, loop, max_restarts_per_minute=max_restarts_per_minute,
                tls=tls, uds=uds, fd=fd)

    def configure(self, *, proxy_headers: bool | None = None, forwarded_allow_ips: str | None = None,
                  access_log: bool | None = None, timeout_keep_alive: float | None = None,
                  limit_concurrency: int | None = None, timeout_graceful_shutdown: float | None = None) -> None:
        """Set the run() options above (None leaves one as it is) and check them now, so a bad
        value is a ValueError before any worker starts."""
        if proxy_headers is not None:
            self.proxy_headers = bool(proxy_headers)
        if forwarded_allow_ips is not None:
            self.forwarded_allow_ips = forwarded_allow_ips
        if self.proxy_headers:
            trusted_hosts_from(self.forwarded_allow_ips)  # ValueError naming the bad entry
        if access_log is not None:
            self.access_log = bool(access_log)
        if timeout_keep_alive is not None:
            if not 0 < timeout_keep_alive <= MAX_TIMEOUT:  # the native side holds milliseconds in 32 bits
                raise ValueError(f"timeout_keep_alive must be > 0 and <= {MAX_TIMEOUT:.0f} seconds, "
                                 f"got {timeout_keep_alive}")
            self.limits["keepalive_timeout"] = float(timeout_keep_alive)
        if limit_concurrency is not None:
            if limit_concurrency < 1:
                raise ValueError(f"limit_concurrency must be >= 1, got {limit_concurrency}")
            self.limits["max_connections"] = int(limit_concurrency)
        if timeout_graceful_shutdown is not None:
            if not 0 <= timeout_graceful_shutdown <= MAX_TIMEOUT:
                raise ValueError(f"timeout_graceful_shutdown must be >= 0 and <= {MAX_TIMEOUT:.0f} seconds, "
                                 f"got {timeout_graceful_shutdown}")
            self.shutdown_timeout = float(timeout_graceful_shutdown)


def _listen_url(host: str, port: int, tls: bool, fd: int | None) -> str:
    if fd is not None:
        import socket

        with socket.socket(fileno=os.dup(fd)) as s:
            name, unix = s.getsockname(), s.family == socket.AF_UNIX
        if unix:
            return f"unix:{name}" + (" (TLS)" if tls else "")
        host = name[0]
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}"


SSEStreamT = _SSEStream
__all__ = ["App", "HTTPRoute", "WebSocketRoute", "SSERoute", "JSONResponse"]
