"""Request and Response objects. Requests are built lazily from what the native
parser already split: headers, query and JSON are decoded only when asked for."""

from __future__ import annotations

import json
from typing import Any, Iterable, Mapping
from urllib.parse import parse_qsl

from .jsoncodec import dumps_bytes, dumps_str
from .proxy_headers import Address, ProxyHeaders

compact_json = dumps_str  # kept for callers of the old name


class Headers(Mapping[str, str]):
    """Case-insensitive, multi-valued, read-only header mapping. Values are ``str``
    decoded as ISO-8859-1 (RFC 9110 §5.5), byte for byte, as responses encode them."""

    __slots__ = ("_raw", "_index")

    def __init__(self, raw: list[tuple[str, str]]) -> None:
        self._raw = raw
        self._index: dict[str, str] | None = None

    def _idx(self) -> dict[str, str]:
        if self._index is None:
            idx: dict[str, str] = {}
            for k, v in self._raw:
                lk = k.lower()
                if lk not in idx:
                    idx[lk] = v
            self._index = idx
        return self._index

    def __getitem__(self, key: str) -> str:
        return self._idx()[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._idx()

    def __iter__(self):
        return iter(self._idx())

    def __len__(self) -> int:
        return len(self._idx())

    def getlist(self, key: str) -> list[str]:
        lk = key.lower()
        return [v for k, v in self._raw if k.lower() == lk]

    def raw(self) -> list[tuple[str, str]]:
        return list(self._raw)

    def __repr__(self) -> str:
        return f"Headers({self._raw!r})"


class QueryParams(Mapping[str, str]):
    __slots__ = ("_items", "_dict")

    def __init__(self, query: str) -> None:
        self._items = parse_qsl(query, keep_blank_values=True)
        self._dict = {}
        for k, v in self._items:
            self._dict.setdefault(k, v)

    def __getitem__(self, key: str) -> str:
        return self._dict[key]

    def __iter__(self):
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def getlist(self, key: str) -> list[str]:
        return [v for k, v in self._items if k == key]

    def __repr__(self) -> str:
        return f"QueryParams({self._items!r})"


_NO_PROXY = ProxyHeaders(None)  # an object built without an App: the peer is the client


class RequestFacts:
    """Lazily parsed ``headers``, ``query_params``, ``client`` and ``scheme`` (shared by
    Request and WebSocket); subclasses hold ``_raw_headers``, ``raw_query``, ``_peer``,
    ``app`` and the caches ``_headers``, ``_query``, ``_client``, ``_scheme``."""

    __slots__ = ()
    _IS_WEBSOCKET = False
    _raw_headers: list[tuple[str, str]]
    raw_query: str
    _peer: str
    _headers: Headers | None
    _query: QueryParams | None
    _client: Address | None
    _scheme: str | None
    app: Any

    @property
    def headers(self) -> Headers:
        if self._headers is None:
            self._headers = Headers(self._raw_headers)
        return self._headers

    @property
    def query_params(self) -> QueryParams:
        if self._query is None:
            self._query = QueryParams(self.raw_query)
        return self._query

    @property
    def client(self) -> Address:
        """``Address(host, port)`` of the client: the TCP peer, or, when the peer is a trusted
        proxy (``forwarded_allow_ips``), the client its forwarding headers name (port 0 when
        they give none); see fasterapi/proxy_headers.py."""
        if self._client is None:
            self._resolve_client()
        return self._client  # type: ignore[return-value]

    @property
    def scheme(self) -> str:
        """"http"/"https" ("ws"/"wss" for a WebSocket): the listener's, or
        ``X-Forwarded-Proto`` / ``Forwarded: proto=`` from a trusted proxy."""
        if self._scheme is None:
            self._resolve_client()
        return self._scheme  # type: ignore[return-value]

    def _resolve_client(self) -> None:
        # On first use only: a handler that never asks pays nothing for proxy headers.
        front = getattr(self.app, "_front", None) or _NO_PROXY
        self._client, self._scheme = front.resolve(self._peer, self._raw_headers, self._IS_WEBSOCKET)


class Request(RequestFacts):
    """One HTTP request. ``path`` is percent-decoded (UTF-8); ``raw_path`` is the request
    target's path exactly as sent, still encoded (ASGI's ``raw_path``, as ``str``), so
    ``/p/a%2Fb`` has ``path == "/p/a/b"`` and ``raw_path == "/p/a%2Fb"``; ``raw_query``
    is the undecoded query string (no ``?``). ``client`` and ``scheme``: see RequestFacts."""

    __slots__ = ("method", "path", "raw_path", "raw_query", "_raw_headers", "body", "_peer", "path_params",
                 "http_version", "_headers", "_query", "_client", "_scheme", "app")

    def __init__(self, method: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes,
                 peer: str, path_params: dict[str, Any], http_version: str = "1.1", app: Any = None,
                 raw_path: str | None = None) -> None:
        self.method = method
        self.path = path
        self.raw_path = path if raw_path is None else raw_path
        self.raw_query = query
        self._raw_headers = headers
        self.body = body
        self._peer = peer  # native "host:port" of the TCP peer; ``client`` resolves it
        self.path_params = path_params
        self.http_version = http_version
        self._headers: Headers | None = None
        self._query: QueryParams | None = None
        self._client: Address | None = None
        self._scheme: str | None = None
        self.app = app

    @property
    def last_event_id(self) -> str | None:
        """The SSE ``Last-Event-ID`` request header (reconnecting EventSource)."""
        return self.headers.get("last-event-id")

    def text(self, encoding: str = "utf-8") -> str:
        return self.body.decode(encoding)

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise HTTPException(400, f"invalid JSON body: {exc}") from None

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.path}>"


class Response:
    """An HTTP response: ``content`` (str is UTF-8 encoded), ``status_code`` (200),
    ``headers`` (mapping or (name, value) pairs) and ``media_type`` (Content-Type unless
    a header sets it). Header values go out as ISO-8859-1 (RFC 9110 §5.5): ``"café"``
    is ``caf\xe9`` on the wire; a value outside Latin-1 makes the request a logged 500
    (``ValueError`` naming the header). Content-Length is added by the server."""

    __slots__ = ("status_code", "body", "headers", "media_type")

    media_type_default = "text/plain; charset=utf-8"

    def __init__(self, content: bytes | str = b"", status_code: int = 200,
                 headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None,
                 media_type: str | None = None) -> None:
        self.status_code = status_code
        self.body = content.encode() if isinstance(content, str) else bytes(content)
        if headers is None:
            self.headers: list[tuple[str, str]] = []
        elif isinstance(headers, Mapping):
            self.headers = list(headers.items())
        else:
            self.headers = list(headers)
        self.media_type = media_type if media_type is not None else self.media_type_default

    def header_list(self) -> list[tuple[str, str]]:
        hs = self.headers
        if self.media_type and not any(k.lower() == "content-type" for k, _ in hs):
            return [("Content-Type", self.media_type), *hs]
        return hs


class JSONResponse(Response):
    __slots__ = ()
    media_type_default = "application/json"

    def __init__(self, content: Any, status_code: int = 200,
                 headers: Mapping[str, str] | Iterable[tuple[str, str]] | None = None) -> None:
        super().__init__(dumps_bytes(content), status_code, headers)


class HTMLResponse(Response):
    __slots__ = ()
    media_type_default = "text/html; charset=utf-8"


class PlainTextResponse(Response):
    __slots__ = ()


class HTTPException(Exception):
    """Raise from a handler to answer with this status (and a short detail)."""

    def __init__(self, status_code: int, detail: str = "", headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status_code, detail)
        self.status_code = status_code
        self.detail = detail
        self.headers = dict(headers or {})
