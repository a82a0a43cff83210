"""SSE suite: a WHATWG EventSource parser and the conformance stream it checks.

The parser follows the HTML standard's "Server-sent events" parsing model
(https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation):
UTF-8 decoding with one leading BOM stripped, CR / LF / CRLF line ends (a CRLF
split across two reads is still one line end), ``field:value`` with one
optional space after the colon, comments, ``retry`` digits only, ``id`` with
NUL ignored, multi-line ``data``, dispatch on a blank line, an unterminated
final event discarded.

Endpoint contract (the target app implements it by yielding EXPECTED_EVENTS):
``GET /sse/conformance`` streams every event of :data:`EXPECTED_EVENTS` in
order, then ends the response. With ``Last-Event-ID: N`` it streams only the
events after the one whose id is N (see :func:`events_after`). For each
event the server writes, in this order: the comment line (if any), ``retry``,
``event``, ``id``, one ``data:`` line per line of ``data`` (split on CRLF, CR
and LF; an empty string or a trailing line break yields an empty ``data:``
line), then a blank line. :func:`encode` is a reference encoder.

``python -m conformance sse --url http://HOST:PORT/sse/conformance``
"""

from __future__ import annotations

import codecs
import dataclasses
import re
import sys
import time
from urllib.parse import urlsplit


@dataclasses.dataclass(frozen=True)
class SseEvent:
    """One event as the server yields it."""

    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None  # milliseconds
    comment: str | None = None  # a comment line written before the event (keep-alive)


# The fixed conformance sequence. Ids are unique decimal strings so a client can
# resume; event 11 has no id on purpose (lastEventId must carry over).
EXPECTED_EVENTS: list[SseEvent] = [
    SseEvent(id="1", data="hello"),
    SseEvent(id="2", event="greeting", data="multi\nline\ndata"),
    SseEvent(id="3", data="crlf\r\ninside"),
    SseEvent(id="4", data="cr\ronly"),
    SseEvent(id="5", data=""),
    SseEvent(id="6", data="unicode: h\u00e9llo w\u00f6rld \u2713 \u65e5\u672c\u8a9e \U0001f680"),
    SseEvent(id="7", data="  two leading spaces survive the one optional space"),
    SseEvent(id="8", data="colon: inside: the value"),
    SseEvent(id="9", retry=3000, data="with retry"),
    SseEvent(id="10", comment="keep-alive", data="after a comment"),
    SseEvent(data="no id here: lastEventId stays 10"),
    SseEvent(id="12", event="update", data='{"json": [1, 2, 3]}'),
    SseEvent(id="13", data="trailing line break\n"),
    SseEvent(id="14", event="end", data="bye"),
]


def events_after(last_event_id: str | None, events: list[SseEvent] | None = None) -> list[SseEvent]:
    """The events to send for a request carrying ``Last-Event-ID`` (all when unknown/None)."""
    events = EXPECTED_EVENTS if events is None else events
    if last_event_id is not None:
        for i, ev in enumerate(events):
            if ev.id == last_event_id:
                return events[i + 1:]
    return list(events)


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def encode(ev: SseEvent) -> str:
    """Reference encoder (LF line ends) for the contract above."""
    out = []
    if ev.comment is not None:
        out.append(f":{ev.comment}\n")
    if ev.retry is not None:
        out.append(f"retry: {ev.retry}\n")
    if ev.event is not None:
        out.append(f"event: {ev.event}\n")
    if ev.id is not None:
        out.append(f"id: {ev.id}\n")
    for line in _LINE_BREAK.split(ev.data):
        out.append(f"data: {line}\n")
    out.append("\n")
    return "".join(out)


# --- the WHATWG parser -----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Event:
    """A dispatched MessageEvent: ``type``, ``data``, ``last_event_id``."""

    type: str
    data: str
    last_event_id: str


class EventSourceParser:
    """Incremental parser: ``feed(bytes) -> [Event]``; state survives any split."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._first = True  # a BOM is only stripped at the very start of the stream
        self._pending = ""  # text of the current, unfinished line
        self._skip_lf = False  # the last line ended with CR: a following LF belongs to it
        self._data: list[str] = []
        self._has_data = False
        self._event_type = ""
        self._last_id_buffer = ""
        self.last_event_id = ""
        self.retry: int | None = None
        self.comments: list[str] = []

    def feed(self, chunk: bytes, final: bool = False) -> list[Event]:
        text = self._decoder.decode(chunk, final)
        if self._first and text:
            if text[0] == "\ufeff":
                text = text[1:]
            self._first = False
        events: list[Event] = []
        i = 0
        n = len(text)
        while i < n:
            if self._skip_lf:
                self._skip_lf = False
                if text[i] == "\n":
                    i += 1
                    continue
            j = i
            while j < n and text[j] not in "\r\n":
                j += 1
            self._pending += text[i:j]
            if j == n:
                break
            if text[j] == "\r":
                self._skip_lf = True
            line, self._pending = self._pending, ""
            ev = self._line(line)
            if ev is not None:
                events.append(ev)
            i = j + 1
        return events

    def close(self) -> list[Event]:
        """End of stream: flush the decoder; an unterminated event is discarded."""
        return self.feed(b"", final=True)

    def _line(self, line: str) -> Event | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            self.comments.append(line[1:])
            return None
        field, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if field == "event":
            self._event_type = value
        elif field == "data":
            self._data.append(value)
            self._has_data = True
        elif field == "id":
            if "\0" not in value:
                self._last_id_buffer = value
        elif field == "retry":
            if value and all("0" <= ch <= "9" for ch in value):
                self.retry = int(value)
        # Any other field is ignored.
        return None

    def _dispatch(self) -> Event | None:
        self.last_event_id = self._last_id_buffer
        if not self._has_data:
            self._event_type = ""
            return None
        ev = Event(self._event_type or "message", "\n".join(self._data), self.last_event_id)
        self._data, self._has_data, self._event_type = [], False, ""
        return ev


def parse(data: bytes, chunks: list[int] | None = None) -> tuple[list[Event], EventSourceParser]:
    """Parse ``data`` fed in pieces ending at the offsets in ``chunks`` (default: at once)."""
    p = EventSourceParser()
    events: list[Event] = []
    start = 0
    for end in (chunks or []) + [len(data)]:
        events += p.feed(data[start:end])
        start = end
    events += p.close()
    return events, p


def expected_parsed(events: list[SseEvent], last_event_id: str = "") -> list[Event]:
    """What a conforming client must dispatch for ``events``."""
    out = []
    last = last_event_id
    for ev in events:
        if ev.id is not None:
            last = ev.id
        out.append(Event(ev.event or "message", _LINE_BREAK.sub("\n", ev.data), last))
    return out


# --- fetching ----------------------------------------------------------------------------------

def fetch(url: str, last_event_id: str | None = None, timeout: float = 30.0) -> tuple[int, dict[str, str], bytes]:
    """GET the stream over a raw socket; (status, headers, de-chunked body bytes)."""
    from conformance.http_suite import Closed, Reader, connect, tls_client_context

    u = urlsplit(url)
    host, port = u.hostname or "127.0.0.1", u.port or (443 if u.scheme == "https" else 80)
    path = (u.path or "/") + (f"?{u.query}" if u.query else "")
    extra = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id is not None else ""
    req = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n"
           f"Cache-Control: no-cache\r\n{extra}\r\n").encode("latin-1")
    with connect(host, port, timeout, tls_client_context() if u.scheme == "https" else None) as s:
        s.sendall(req)
        try:
            r = Reader(s).response(timeout=timeout)
        except Closed as e:
            raise ConnectionError(f"closed before a full response: {e}") from e
    return r.status, {k.lower(): v for k, v in r.headers}, r.body


def _describe(events: list[Event]) -> str:
    return "; ".join(f"{e.type}/{e.last_event_id}:{e.data[:24]!r}" for e in events[:4]) + \
        (f" ... ({len(events)} events)" if len(events) > 4 else "")


def _diff(got: list[Event], want: list[Event]) -> str | None:
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return f"event {i + 1}: got {g}, want {w}"
    if len(got) != len(want):
        return f"{len(got)} events, want {len(want)}"
    return None


def run_suite(url: str, progress: bool = False, out=sys.stdout) -> dict:
    t0 = time.monotonic()
    results: list[dict] = []

    def check(name: str, ok: bool, expected: str, got: str) -> None:
        results.append({"name": name, "passed": ok, "expected": expected, "got": got})
        if progress:
            print(f"[sse] {len(results)} {'ok  ' if ok else 'FAIL'} {name}{'' if ok else ' -> ' + got}",
                  file=out, flush=True)

    want = expected_parsed(EXPECTED_EVENTS)
    error = None
    try:
        status, headers, body = fetch(url)
    except (OSError, TimeoutError, ValueError) as e:
        error = f"cannot fetch {url}: {e}"
        return {"url": url, "passed": False, "error": error, "total": 0, "failed": 0,
                "wall_seconds": round(time.monotonic() - t0, 1), "cases": []}
    ctype = headers.get("content-type", "")
    check("status 200", status == 200, "200", str(status))
    mime, _, params = ctype.partition(";")
    charset = re.search(r"charset\s*=\s*\"?([\w-]+)", params, re.I)
    check("Content-Type text/event-stream (UTF-8 only)",
          mime.strip().lower() == "text/event-stream" and (charset is None or charset.group(1).lower() == "utf-8"),
          "text/event-stream[; charset=utf-8]", ctype or "(none)")
    try:
        body.decode("utf-8")
        utf8_ok, utf8_got = True, f"{len(body)} bytes of valid UTF-8"
    except UnicodeDecodeError as e:
        utf8_ok, utf8_got = False, str(e)
    check("stream is valid UTF-8", utf8_ok, "valid UTF-8", utf8_got)
    events, parser = parse(body)
    diff = _diff(events, want)
    check("events, types, data and lastEventId as expected", diff is None, f"{len(want)} events", diff or
          _describe(events))
    by_id = {e.last_event_id: e for e in events}
    check("multi-line data (LF, CRLF and CR inside data arrive as LF)",
          [by_id.get(k, Event("", "", "")).data for k in ("2", "3", "4")] == ["multi\nline\ndata", "crlf\ninside",
                                                                             "cr\nonly"],
          "'multi\\nline\\ndata', 'crlf\\ninside', 'cr\\nonly'",
          repr([by_id.get(k, Event("", "?", "")).data for k in ("2", "3", "4")]))
    check("empty data is dispatched", by_id.get("5") is not None and by_id["5"].data == "", "event 5 with data ''",
          repr(by_id.get("5")))
    check("retry field", parser.retry == 3000, "3000", str(parser.retry))
    check("keep-alive comment line", "keep-alive" in [c.strip() for c in parser.comments], ":keep-alive",
          repr(parser.comments[:5]))
    check("event without id keeps the previous lastEventId",
          any(e.data.startswith("no id here") and e.last_event_id == "10" for e in events), "lastEventId 10",
          repr([e for e in events if e.data.startswith("no id here")]))
    # Every split point: TCP may cut anywhere, even inside a UTF-8 sequence or a CRLF.
    bad = [i for i in range(1, len(body)) if parse(body, [i])[0] != events]
    check("same events when split at every byte", not bad, f"{len(body) - 1} split points",
          f"differs at offsets {bad[:10]}" if bad else f"{len(body) - 1} split points ok")
    bytewise, _ = parse(body, list(range(1, len(body))))
    check("same events fed one byte at a time", bytewise == events, "identical", _describe(bytewise))
    for last in ("5", "9", "13"):
        try:
            st, _, b2 = fetch(url, last_event_id=last)
            ev2, _ = parse(b2)
            d2 = _diff(ev2, expected_parsed(events_after(last), last_event_id=last))
            check(f"Last-Event-ID: {last} resumes after event {last}", st == 200 and d2 is None,
                  f"events after {last}", d2 or f"status {st}, {_describe(ev2)}")
        except (OSError, TimeoutError, ValueError) as e:
            check(f"Last-Event-ID: {last} resumes after event {last}", False, f"events after {last}", str(e))
    failed = sum(not r["passed"] for r in results)
    return {"url": url, "passed": failed == 0 and bool(results), "error": error, "total": len(results),
            "failed": failed, "wall_seconds": round(time.monotonic() - t0, 1), "cases": results}
