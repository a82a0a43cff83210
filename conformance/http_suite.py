"""HTTP/1.1 edge-case suite over raw sockets (RFC 9110 / RFC 9112).

The target app must expose ``GET /`` -> 200 text, ``POST /echo`` -> 200 with
the request body echoed, and 404 for any other path. Each case is data: the
raw bytes to send and what is acceptable back (a set of status codes, the
echoed body, whether the connection must be closed or kept). Where the RFC
lets a server choose (reject or repair), both answers are accepted; where it
says MUST, only that answer is. After every case a fresh ``GET /`` must still
work, so a case that kills the server fails.

``python -m conformance http --url http://HOST:PORT``
"""

from __future__ import annotations

import contextvars
import dataclasses
import select
import socket
import ssl
import sys
import time
from typing import Callable
from urllib.parse import urlsplit

TIMEOUT = 5.0  # seconds to wait for a response that must come
QUIET = 0.5  # seconds of silence that count as "no response (yet)"

S200 = frozenset({200})
S400 = frozenset({400})
ERR_LIMIT = frozenset({400, 413, 414, 431})
UNKNOWN_METHOD = frozenset({400, 405, 501})


@dataclasses.dataclass(frozen=True)
class Exp:
    """One expected response."""

    status: frozenset[int]
    body: bytes | None = None  # checked for 2xx answers only
    may_close_silently: bool = False  # closing without any response is also fine (bad request)


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    request: str  # latin-1 text; {host} is replaced by the target's host:port
    expect: tuple[Exp, ...]
    # True: closed after the last response; False: must serve another request;
    # "announced": keep-alive only if the response said "Connection: keep-alive";
    # "if-2xx": must close when it answered 2xx (a 4xx may do either); None: not checked.
    close: bool | str | None = None
    kind: str = "send"  # send | split | cut | expect100
    step: int = 1  # for "split": bytes per write
    why: str = ""  # the rule, for the report

    def data(self, host: str) -> bytes:
        return self.request.replace("{host}", host).encode("latin-1")


def _get(path: str = "/", extra: str = "", version: str = "HTTP/1.1") -> str:
    return f"GET {path} {version}\r\nHost: {{host}}\r\n{extra}\r\n"


def _post(body: str, extra: str = "", path: str = "/echo") -> str:
    return f"POST {path} HTTP/1.1\r\nHost: {{host}}\r\nContent-Length: {len(body.encode('latin-1'))}\r\n{extra}\r\n{body}"


def _chunked(chunks: str, extra: str = "", te: str = "Transfer-Encoding: chunked") -> str:
    return f"POST /echo HTTP/1.1\r\nHost: {{host}}\r\n{te}\r\n{extra}\r\n{chunks}"


OK = Exp(S200)
BAD = Exp(S400, may_close_silently=True)


def _cases() -> list[Case]:
    c: list[Case] = []
    add = c.append
    # -- baseline and cuts -----------------------------------------------------------
    add(Case("GET / baseline", _get(), (OK,), close=False))
    add(Case("POST /echo baseline", _post("hello"), (Exp(S200, b"hello"),), close=False))
    add(Case("404 on unknown path keeps the connection", _get("/no-such-path"), (Exp(frozenset({404})),),
             close=False))
    add(Case("GET cut at every byte: no response until complete", _get(), (OK,), kind="cut",
             why="a partial request is not a request (RFC 9112 2.2)"))
    add(Case("POST Content-Length cut at every byte", _post("hello world"), (Exp(S200, b"hello world"),),
             kind="cut"))
    add(Case("POST chunked cut at every byte", _chunked("5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n"),
             (Exp(S200, b"hello world"),), kind="cut"))
    add(Case("request sent one byte per write", _post("abc"), (Exp(S200, b"abc"),), kind="split", step=1,
             close=False))
    # -- Host -------------------------------------------------------------------------
    add(Case("HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n", (BAD,),
             why="RFC 9112 3.2: MUST respond 400 to an HTTP/1.1 request without Host"))
    add(Case("two Host headers", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", (BAD,),
             why="RFC 9112 3.2: MUST respond 400 to more than one Host"))
    add(Case("Host with a comma list", "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", (BAD,),
             why="RFC 9112 3.2: an invalid Host field value gets 400"))
    add(Case("HTTP/1.0 without Host is fine", "GET / HTTP/1.0\r\n\r\n", (OK,), close=True))
    # -- header syntax ------------------------------------------------------------------
    add(Case("whitespace between field name and colon", "GET / HTTP/1.1\r\nHost : {host}\r\n\r\n", (BAD,),
             why="RFC 9112 5.1: MUST reject with 400"))
    add(Case("invalid character in field name", _get(extra="Fo(o: x\r\n"), (BAD,)))
    add(Case("field line without colon", _get(extra="NoColonHere\r\n"), (BAD,)))
    add(Case("empty field name", _get(extra=": x\r\n"), (BAD,)))
    add(Case("NUL in field value", _get(extra="X-A: a\x00b\r\n"), (Exp(frozenset({200, 400}), may_close_silently=True),),
             why="RFC 9110 5.5: reject, or replace with SP"))
    add(Case("bare CR in field value", _get(extra="X-A: a\rb\r\n"), (Exp(frozenset({200, 400}), may_close_silently=True),),
             why="RFC 9110 5.5: reject, or replace with SP"))
    add(Case("obs-fold continuation line", _get(extra="X-A: a\r\n b\r\n"), (Exp(frozenset({200, 400}), may_close_silently=True),),
             why="RFC 9112 5.2: reject with 400, or replace with SP"))
    add(Case("control character in request target", "GET /\x01 HTTP/1.1\r\nHost: {host}\r\n\r\n", (BAD,)))
    add(Case("space inside request target", "GET /a b HTTP/1.1\r\nHost: {host}\r\n\r\n", (BAD,)))
    add(Case("invalid character in method", "G(T / HTTP/1.1\r\nHost: {host}\r\n\r\n", (BAD,)))
    add(Case("bare LF line endings", "GET / HTTP/1.1\nHost: {host}\n\n", (Exp(frozenset({200, 400}), may_close_silently=True),),
             why="RFC 9112 2.2: MAY accept a bare LF"))
    add(Case("empty line before request line", "\r\n" + _get(), (Exp(frozenset({200, 400}), may_close_silently=True),),
             why="RFC 9112 2.2: SHOULD ignore one leading empty line"))
    add(Case("malformed HTTP version", "GET / HTTP/1\r\nHost: {host}\r\n\r\n", (BAD,)))
    add(Case("unknown protocol name", "GET / HTTX/1.1\r\nHost: {host}\r\n\r\n", (BAD,)))
    add(Case("HTTP/2.0 on an HTTP/1.1 connection", "GET / HTTP/2.0\r\nHost: {host}\r\n\r\n",
             (Exp(frozenset({400, 505}), may_close_silently=True),), why="RFC 9110 15.6.6"))
    add(Case("HTTP/1.2 is served as 1.1", "GET / HTTP/1.2\r\nHost: {host}\r\n\r\n", (Exp(frozenset({200, 505})),),
             why="RFC 9110 2.5: a higher minor version is understood as the highest one supported"))
    add(Case("HTTP/0.9 simple request", "GET /\r\n\r\n", (BAD,)))
    # -- limits ------------------------------------------------------------------------
    add(Case("request line of 100 KiB", _get("/" + "a" * 102400), (Exp(ERR_LIMIT, may_close_silently=True),),
             why="RFC 9112 3: 414 (or 400/431) for a target longer than the server accepts"))
    add(Case("one header of 100 KiB", _get(extra="X-Big: " + "b" * 102400 + "\r\n"),
             (Exp(ERR_LIMIT, may_close_silently=True),), why="RFC 6585 5: 431"))
    add(Case("2000 headers", _get(extra="".join(f"X-H{i}: v\r\n" for i in range(2000))),
             (Exp(ERR_LIMIT, may_close_silently=True),), why="RFC 6585 5: 431"))
    add(Case("long but reasonable URL (4 KiB)", _get("/?" + "q" * 4096), (Exp(frozenset({200, 404})),),
             close=False))
    # -- Content-Length ------------------------------------------------------------------
    for label, value in (("negative", "-1"), ("non-numeric", "abc"), ("plus sign", "+5"), ("hex", "0x5"),
                         ("empty", ""), ("overflowing 2^64", "18446744073709551616"),
                         ("overflowing 25 digits", "9999999999999999999999999"),
                         ("two different values in one field", "5, 6"), ("decimal point", "5.0")):
        statuses = frozenset({400, 413}) if "overflow" in label else S400
        add(Case(f"Content-Length {label} ({value!r})",
                 f"POST /echo HTTP/1.1\r\nHost: {{host}}\r\nContent-Length: {value}\r\n\r\nhello",
                 (Exp(statuses, may_close_silently=True),), why="RFC 9112 6.3: invalid Content-Length is a 400"))
    add(Case("two Content-Length headers that differ",
             "POST /echo HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
             (BAD,), why="RFC 9112 6.3: MUST treat as unrecoverable error (400)"))
    add(Case("repeated identical Content-Length",
             "POST /echo HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
             (Exp(frozenset({200, 400}), b"hello", may_close_silently=True),),
             why="RFC 9110 8.6: MAY accept identical repeated values, or reject"))
    add(Case("Content-Length 0 then pipelined GET",
             "POST /echo HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\n\r\n" + _get(),
             (Exp(S200, b""), OK), close=False))
    add(Case("GET with a body, then pipelined GET (body consumed, not a request)",
             "GET / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 18\r\n\r\nGET /smuggled HTTP" + _get(),
             (OK, OK), close=False))
    add(Case("POST without Content-Length or Transfer-Encoding has an empty body",
             "POST /echo HTTP/1.1\r\nHost: {host}\r\n\r\n", (Exp(frozenset({200, 411}), b""),),
             why="RFC 9112 6.3: no framing = zero-length body (411 allowed)"))
    add(Case("1 MiB body echoed (or 413)", _post("z" * (1 << 20)), (Exp(frozenset({200, 413}), b"z" * (1 << 20),
                                                                       may_close_silently=False),)))
    # -- Content-Length together with Transfer-Encoding, any case mix ------------------------
    body = "5\r\nhello\r\n0\r\n\r\n"
    for te in ("Transfer-Encoding: chunked", "transfer-encoding: CHUNKED", "TRANSFER-ENCODING: Chunked",
               "Transfer-encoding: chunKed"):
        for order in ("CL first", "TE first"):
            cl = "Content-Length: 3"
            hdrs = f"{cl}\r\n{te}" if order == "CL first" else f"{te}\r\n{cl}"
            add(Case(f"Content-Length and '{te}' ({order})",
                     f"POST /echo HTTP/1.1\r\nHost: {{host}}\r\n{hdrs}\r\n\r\n{body}",
                     (Exp(frozenset({200, 400}), b"hello", may_close_silently=True),), close="if-2xx",
                     why="RFC 9112 6.1: reject, or use chunked and close the connection after"))
    # -- Transfer-Encoding ----------------------------------------------------------------
    add(Case("chunked with extensions and trailers",
             _chunked('5;name=value\r\nhello\r\n6;q="a b;c"\r\n world\r\n0;last\r\nX-Trailer: t\r\nX-2: u\r\n\r\n'),
             (Exp(S200, b"hello world"),), close=False))
    add(Case("chunk sizes in upper-case hex with leading zeros",
             _chunked("000A\r\n0123456789\r\n0\r\n\r\n"), (Exp(S200, b"0123456789"),), close=False))
    add(Case("many one-byte chunks", _chunked("".join(f"1\r\n{ch}\r\n" for ch in "abcdefghij") + "0\r\n\r\n"),
             (Exp(S200, b"abcdefghij"),), close=False))
    add(Case("chunked body then pipelined GET", _chunked("3\r\nabc\r\n0\r\n\r\n") + _get(),
             (Exp(S200, b"abc"), OK), close=False))
    for label, chunks in (("non-hex chunk size", "g\r\nhello\r\n0\r\n\r\n"),
                          ("negative chunk size", "-5\r\nhello\r\n0\r\n\r\n"),
                          ("0x prefix", "0x5\r\nhello\r\n0\r\n\r\n"),
                          ("empty chunk size", "\r\nhello\r\n0\r\n\r\n"),
                          ("chunk data longer than size", "3\r\nhello\r\n0\r\n\r\n"),
                          ("missing CRLF after chunk data", "5\r\nhelloXX0\r\n\r\n")):
        add(Case(f"bad chunk: {label}", _chunked(chunks), (BAD,), close=True))
    add(Case("bad chunk: size overflowing 64 bits", _chunked("fffffffffffffffffff\r\nhello\r\n0\r\n\r\n"),
             (Exp(frozenset({400, 413}), may_close_silently=True),), close=True))
    add(Case("Transfer-Encoding chunked not final", _chunked(body, te="Transfer-Encoding: chunked, gzip"),
             (Exp(frozenset({400, 501}), may_close_silently=True),), close=True,
             why="RFC 9112 6.3: chunked must be the final coding of a request, else 400"))
    add(Case("unknown transfer coding", _chunked(body, te="Transfer-Encoding: gzip, chunked"),
             (Exp(frozenset({400, 501}), may_close_silently=True),), close=True,
             why="RFC 9112 6.1: SHOULD answer 501 to a coding it does not understand"))
    add(Case("Transfer-Encoding identity", _chunked("hello", te="Transfer-Encoding: identity"),
             (Exp(frozenset({400, 501}), may_close_silently=True),), close=True))
    add(Case("Transfer-Encoding xchunked", _chunked(body, te="Transfer-Encoding: xchunked"),
             (Exp(frozenset({400, 501}), may_close_silently=True),), close=True))
    add(Case("Transfer-Encoding in an HTTP/1.0 request",
             f"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n{body}",
             (Exp(frozenset({200, 400}), b"hello", may_close_silently=True),), close=True,
             why="RFC 9112 6.1: framing is faulty; MUST close after responding"))
    # -- Expect ---------------------------------------------------------------------------
    add(Case("Expect: 100-continue", _post("hello", "Expect: 100-continue\r\n"), (Exp(S200, b"hello"),),
             kind="expect100", close=False,
             why="RFC 9110 10.1.1: send 100 Continue before reading the content"))
    add(Case("Expect: 100-continue body sent without waiting", _post("hello", "Expect: 100-continue\r\n"),
             (Exp(S200, b"hello"),), close=False))
    add(Case("unknown expectation", _post("hello", "Expect: teapot\r\n"),
             (Exp(frozenset({200, 417}), b"hello", may_close_silently=True),),
             why="RFC 9110 10.1.1: MAY answer 417 to an expectation it does not support"))
    # -- pipelining --------------------------------------------------------------------------
    add(Case("three pipelined requests answered in order",
             _get() + _post("abc") + _get("/no-such-path"),
             (OK, Exp(S200, b"abc"), Exp(frozenset({404}))), close=False))
    add(Case("pipelined requests, one byte per write",
             _post("x1") + _post("y22"), (Exp(S200, b"x1"), Exp(S200, b"y22")), kind="split", step=1, close=False))
    add(Case("HEAD then GET pipelined (HEAD has no body)", _get().replace("GET", "HEAD", 1) + _get(),
             (Exp(frozenset({200, 405})), OK), close=False))
    # -- methods -------------------------------------------------------------------------------
    add(Case("unknown method", "FOO / HTTP/1.1\r\nHost: {host}\r\n\r\n", (Exp(UNKNOWN_METHOD),), close=None,
             why="RFC 9110 9.1: 501 for an unrecognized method (405 if known but not allowed)"))
    add(Case("lower-case method is a different (unknown) method", "get / HTTP/1.1\r\nHost: {host}\r\n\r\n",
             (Exp(UNKNOWN_METHOD, may_close_silently=True),), why="RFC 9110 9.1: methods are case-sensitive"))
    add(Case("POST to a GET-only route", _post("x", path="/"), (Exp(frozenset({405})),), close=None))
    add(Case("CONNECT authority-form", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
             (Exp(frozenset({400, 404, 405, 501}), may_close_silently=True),)))
    add(Case("OPTIONS asterisk-form", "OPTIONS * HTTP/1.1\r\nHost: {host}\r\n\r\n",
             (Exp(frozenset({200, 204, 400, 404, 405, 501})),)))
    # -- connection management --------------------------------------------------------------------
    add(Case("HTTP/1.1 keeps the connection by default", _get(), (OK,), close=False))
    add(Case("HTTP/1.1 Connection: close", _get(extra="Connection: close\r\n"), (OK,), close=True,
             why="RFC 9112 9.6: close after the response"))
    add(Case("HTTP/1.0 closes by default", _get(version="HTTP/1.0"), (OK,), close=True,
             why="RFC 9112 9.3: HTTP/1.0 without keep-alive is not persistent"))
    add(Case("HTTP/1.0 Connection: keep-alive", _get(version="HTTP/1.0", extra="Connection: keep-alive\r\n"),
             (OK,), close="announced",
             why="RFC 9112 9.3: persistent only if the response also says keep-alive"))
    add(Case("Connection: CLOSE in upper case", _get(extra="Connection: CLOSE\r\n"), (OK,), close=True,
             why="connection options are case-insensitive"))
    # -- absolute-form ------------------------------------------------------------------------------
    add(Case("absolute-form target", "GET http://{host}/ HTTP/1.1\r\nHost: {host}\r\n\r\n", (OK,), close=False,
             why="RFC 9112 3.2.2: a server MUST accept the absolute-form"))
    add(Case("absolute-form POST to /echo",
             "POST http://{host}/echo HTTP/1.1\r\nHost: {host}\r\nContent-Length: 2\r\n\r\nok",
             (Exp(S200, b"ok"),), close=False))
    add(Case("absolute-form with a different Host header",
             "GET http://{host}/ HTTP/1.1\r\nHost: other.example\r\n\r\n", (Exp(frozenset({200, 400, 421})),),
             why="RFC 9112 3.2.2: the target's authority wins over Host"))
    return c


CASES: list[Case] = _cases()


# --- a small response reader ----------------------------------------------------------------------

class Closed(Exception):
    """The peer closed before a full response."""


@dataclasses.dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    interim: list[int]

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None


class Reader:
    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = b""

    def _fill(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no response")
        self.sock.settimeout(left)
        try:
            data = self.sock.recv(65536)
        except socket.timeout as e:
            raise TimeoutError("no response") from e
        except ConnectionResetError as e:
            raise Closed("connection reset") from e
        if not data:
            raise Closed("connection closed")
        self.buf += data

    def _line(self, deadline: float) -> bytes:
        while b"\r\n" not in self.buf:
            if len(self.buf) > 1 << 20:
                raise ValueError("response line too long")
            self._fill(deadline)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n: int, deadline: float) -> bytes:
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response(self, head_request: bool = False, timeout: float = TIMEOUT) -> Response:
        deadline = time.monotonic() + timeout
        interim: list[int] = []
        while True:
            status_line = self._line(deadline).decode("latin-1")
            parts = status_line.split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
                raise ValueError(f"bad status line {status_line!r}")
            status = int(parts[1])
            headers = []
            while True:
                line = self._line(deadline)
                if not line:
                    break
                k, _, v = line.decode("latin-1").partition(":")
                headers.append((k.strip(), v.strip()))
            if 100 <= status < 200 and status != 101:
                interim.append(status)
                continue
            r = Response(status, headers, b"", interim)
            if head_request or status in (204, 304):
                return r
            te = (r.header("transfer-encoding") or "").lower()
            if "chunked" in te:
                body = b""
                while True:
                    size = int(self._line(deadline).split(b";")[0].strip(), 16)
                    if size == 0:
                        while self._line(deadline):
                            pass
                        break
                    body += self._exact(size, deadline)
                    self._line(deadline)
                r.body = body
            elif r.header("content-length") is not None:
                r.body = self._exact(int(r.header("content-length") or 0), deadline)
            else:
                while True:
                    try:
                        self._fill(deadline)
                    except Closed:
                        break
                r.body, self.buf = self.buf, b""
            return r

    def closed_soon(self, timeout: float = 2.0) -> bool:
        """True when the peer closes within ``timeout`` and sends nothing more."""
        if self.buf:
            return False
        try:
            self._fill(time.monotonic() + timeout)
        except Closed:
            return True
        except TimeoutError:
            return False
        return False


# --- running ------------------------------------------------------------------------------------

# Set by run_suite() for an https:// URL, per thread (targets run side by side).
_TLS: contextvars.ContextVar[ssl.SSLContext | None] = contextvars.ContextVar("http_suite_tls", default=None)


def tls_client_context() -> ssl.SSLContext:
    """TLS for the suites: the certificate is made by the runner on loopback, so it is not
    verified (as Autobahn's wss:// client does not)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def connect(host: str, port: int, timeout: float | None = None, tls: ssl.SSLContext | None = None) -> socket.socket:
    """A connection to the target; over TLS when run_suite() runs against https:// (or ``tls``)."""
    s = socket.create_connection((host, port), timeout=timeout or TIMEOUT)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ctx = tls or _TLS.get()
    if ctx is not None:
        s = ctx.wrap_socket(s, server_hostname=host)
    return s


def _early_bytes(s: socket.socket) -> bytes | None:
    """What the server sent before the request was complete (b"" closed, None nothing).
    Over TLS a readable socket may hold only a session ticket: that is not a response."""
    readable, _, _ = select.select([s], [], [], 0)
    if not readable:
        return None
    s.setblocking(False)
    try:
        return s.recv(64)
    except (ssl.SSLWantReadError, BlockingIOError):
        return None
    finally:
        s.settimeout(TIMEOUT)


def _check_exp(exp: Exp, r: Response) -> str | None:
    if r.status not in exp.status:
        return f"status {r.status}"
    if exp.body is not None and 200 <= r.status < 300 and r.body != exp.body:
        shown = r.body[:40] + (b"..." if len(r.body) > 40 else b"")
        return f"status {r.status} with body {shown!r} ({len(r.body)} bytes)"
    return None


def _expected_text(case: Case) -> str:
    parts = []
    for e in case.expect:
        s = "/".join(str(x) for x in sorted(e.status))
        if e.body is not None:
            s += f" body={e.body[:20]!r}{'...' if len(e.body) > 20 else ''}"
        if e.may_close_silently:
            s += " (or close)"
        parts.append(s)
    text = " then ".join(parts)
    if case.kind == "cut":
        text = "no response until complete, then " + text
    if case.kind == "expect100":
        text = "100 Continue, then " + text
    if case.close is True:
        text += "; connection closed"
    elif case.close is False:
        text += "; connection kept"
    elif case.close == "announced":
        text += "; kept only if announced keep-alive"
    elif case.close == "if-2xx":
        text += "; closed after a 2xx"
    return text


def _read_all(case: Case, sock: socket.socket, reader: Reader, host: str) -> tuple[str | None, list[Response]]:
    """Read the expected responses; (failure or None, responses)."""
    got: list[Response] = []
    heads = [seg.startswith("HEAD ") for seg in _split_requests(case.request)]
    for i, exp in enumerate(case.expect):
        try:
            r = reader.response(head_request=heads[i] if i < len(heads) else False)
        except Closed:
            if exp.may_close_silently and not got:
                return None, got
            return f"connection closed before response {i + 1}", got
        except TimeoutError:
            return f"no response {i + 1} within {TIMEOUT:.0f} s", got
        except ValueError as e:
            return f"unparsable response: {e}", got
        got.append(r)
        if why := _check_exp(exp, r):
            return why, got
    return None, got


def _split_requests(text: str) -> list[str]:
    """Rough split of a pipelined blob at request lines (only used to know which are HEAD)."""
    out, cur = [], ""
    for line in text.split("\r\n"):
        if line.split(" ", 1)[0] in ("GET", "POST", "HEAD") and " HTTP/" in line and cur:
            out.append(cur)
            cur = ""
        cur += line + "\r\n"
    out.append(cur)
    return out


def _check_close(case: Case, sock: socket.socket, reader: Reader, host: str, got: list[Response]) -> str | None:
    if not got:
        return None
    last = got[-1]
    mode = case.close
    if mode == "if-2xx":
        mode = True if 200 <= last.status < 300 else None
    if mode == "announced":
        mode = False if (last.header("connection") or "").lower() == "keep-alive" else True
    if mode is True:
        return None if reader.closed_soon() else "connection left open (must close)"
    if mode is False:
        # Same protocol version as the case; an HTTP/1.0 client must ask for keep-alive again.
        again = (_get(version="HTTP/1.0", extra="Connection: keep-alive\r\n")
                 if " HTTP/1.0\r\n" in case.request else _get())
        try:
            sock.sendall(again.replace("{host}", host).encode())
            r = reader.response()
        except (Closed, TimeoutError, ValueError, OSError) as e:
            return f"connection not reusable after the response ({e})"
        if r.status != 200:
            return f"follow-up request on the same connection got {r.status}"
    return None


def _run_send(case: Case, host: str, port: int, hostport: str) -> tuple[bool, str]:
    data = case.data(hostport)
    with connect(host, port) as sock:
        reader = Reader(sock)
        try:
            if case.kind == "split":
                for i in range(0, len(data), case.step):
                    sock.sendall(data[i:i + case.step])
                    time.sleep(0.001)
            elif case.kind == "expect100":
                head, _, body = data.partition(b"\r\n\r\n")
                sock.sendall(head + b"\r\n\r\n")
                try:
                    # A 100 has no body; a final response here would be read below.
                    line = reader._line(time.monotonic() + TIMEOUT)
                except (TimeoutError, Closed) as e:
                    return False, f"no 100 Continue ({e})"
                if not line.startswith(b"HTTP/1.1 100"):
                    return False, f"first line {line.decode('latin-1')!r} instead of 100 Continue"
                while reader._line(time.monotonic() + TIMEOUT):
                    pass
                sock.sendall(body)
            else:
                sock.sendall(data)
        except OSError as e:
            # The server may reject early and close while we still send (large cases).
            if not any(x.may_close_silently for x in case.expect):
                return False, f"send failed: {e}"
        why, got = _read_all(case, sock, reader, hostport)
        if why:
            return False, why
        why = _check_close(case, sock, reader, hostport, got)
        if why:
            return False, why
        return True, ", ".join(str(r.status) for r in got) or "closed without response"


def _run_cut(case: Case, host: str, port: int, hostport: str) -> tuple[bool, str]:
    """Every strict prefix on its own connection (all at once), silence, then the rest."""
    data = case.data(hostport)
    socks: list[tuple[int, socket.socket]] = []
    problems: list[str] = []
    try:
        for i in range(1, len(data)):
            s = connect(host, port)
            s.sendall(data[:i])
            socks.append((i, s))
        time.sleep(QUIET)
        for i, s in socks:
            peek = _early_bytes(s)
            if peek is not None:
                problems.append(f"cut at {i}: {'closed' if not peek else repr(peek[:20])} before the request was complete")
        for i, s in socks:
            if any(p.startswith(f"cut at {i}:") for p in problems):
                continue
            s.sendall(data[i:])
            why, _ = _read_all(dataclasses.replace(case, close=None), s, Reader(s), hostport)
            if why:
                problems.append(f"cut at {i}: {why}")
    finally:
        for _, s in socks:
            s.close()
    if problems:
        return False, f"{len(problems)}/{len(data) - 1} cuts wrong; " + "; ".join(problems[:3])
    return True, f"{len(data) - 1} cuts ok"


def _alive(host: str, port: int, hostport: str) -> str | None:
    try:
        with connect(host, port) as s:
            s.sendall(_get(extra="Connection: close\r\n").replace("{host}", hostport).encode())
            r = Reader(s).response()
            return None if r.status == 200 else f"health check GET / answered {r.status}"
    except (OSError, Closed, TimeoutError, ValueError) as e:
        return f"server stopped answering: {e}"


def run_case(case: Case, host: str, port: int) -> tuple[bool, str]:
    hostport = f"{host}:{port}"
    try:
        if case.kind == "cut":
            ok, got = _run_cut(case, host, port, hostport)
        else:
            ok, got = _run_send(case, host, port, hostport)
    except OSError as e:
        ok, got = False, f"socket error: {e}"
    dead = _alive(host, port, hostport)
    if dead:
        return False, f"{got}; {dead}"
    return ok, got


def run_suite(url: str, progress: bool = False, cases: list[Case] | None = None,
              select_names: Callable[[str], bool] | None = None, out=sys.stdout) -> dict:
    """Run the suite; returns the JSON-ready result (same shape as the SSE suite's)."""
    u = urlsplit(url)
    host, port = u.hostname or "127.0.0.1", u.port or (443 if u.scheme == "https" else 80)
    _TLS.set(tls_client_context() if u.scheme == "https" else None)
    todo = [c for c in (cases or CASES) if select_names is None or select_names(c.name)]
    t0 = time.monotonic()
    results = []
    error = _alive(host, port, f"{host}:{port}")
    if error is None:
        for n, case in enumerate(todo, 1):
            ok, got = run_case(case, host, port)
            results.append({"name": case.name, "passed": ok, "expected": _expected_text(case), "got": got,
                            "why": case.why})
            if progress:
                print(f"[http] {n}/{len(todo)} {'ok  ' if ok else 'FAIL'} {case.name}"
                      f"{'' if ok else ' -> ' + got}", file=out, flush=True)
    failed = sum(not r["passed"] for r in results)
    return {"url": url, "passed": error is None and failed == 0 and bool(results), "error": error,
            "total": len(results), "failed": failed, "wall_seconds": round(time.monotonic() - t0, 1),
            "cases": results}
