"""The HTTP/1.1 and SSE edge-case suites: the WHATWG parser they judge with, and
both suites shown to pass on a correct target and to fail on a wrong one."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from conformance import http_suite, sse_suite  # noqa: E402
from conformance.sse_suite import Event, EventSourceParser, SseEvent, parse  # noqa: E402


# --- WHATWG EventSource parsing ------------------------------------------------------------

def _events(data: bytes) -> list[Event]:
    return parse(data)[0]


def test_line_ends_cr_lf_crlf_are_equivalent():
    for nl in (b"\n", b"\r", b"\r\n"):
        assert _events(b"data: a" + nl + b"data: b" + nl + nl) == [Event("message", "a\nb", "")]


def test_crlf_split_across_reads_is_one_line_end():
    # "\r" then "\n" in the next read must not produce an extra empty line (a dispatch).
    p = EventSourceParser()
    assert p.feed(b"data: a\r") == []
    assert p.feed(b"\ndata: b\r\n\r\n") == [Event("message", "a\nb", "")]


def test_bom_stripped_once_only_at_start():
    assert _events(b"\xef\xbb\xbfdata: x\n\n") == [Event("message", "x", "")]
    # A second BOM is not stripped: it makes the field name "\ufeffdata", which is ignored.
    assert _events(b"\xef\xbb\xbf\xef\xbb\xbfdata: x\n\n") == []


def test_field_value_one_optional_space():
    assert _events(b"data:x\n\n")[0].data == "x"
    assert _events(b"data:  x\n\n")[0].data == " x"
    assert _events(b"data\n\n")[0].data == ""  # no colon: the whole line is the field name


def test_comments_unknown_fields_and_event_type():
    events, p = parse(b": hello\nfoo: bar\nevent: up\ndata: 1\n\ndata: 2\n\n")
    assert events == [Event("up", "1", ""), Event("message", "2", "")]  # type resets after dispatch
    assert p.comments == [" hello"]


def test_retry_only_ascii_digits():
    assert parse(b"retry: 1500\n\n")[1].retry == 1500
    assert parse(b"retry: 15a\n\n")[1].retry is None
    assert parse(b"retry: -5\n\n")[1].retry is None
    assert parse(b"retry:\n\n")[1].retry is None


def test_id_persists_and_nul_is_ignored():
    events = _events(b"id: 7\ndata: a\n\ndata: b\n\nid: x\x00y\ndata: c\n\nid\ndata: d\n\n")
    assert [e.last_event_id for e in events] == ["7", "7", "7", ""]


def test_no_data_no_dispatch_and_unterminated_event_discarded():
    assert _events(b"event: x\n\n") == []
    assert _events(b"data: complete\n\ndata: cut off") == [Event("message", "complete", "")]


def test_invalid_utf8_becomes_replacement_character_even_when_split():
    data = b"data: a\xffb \xe2\x9c\x93\n\n"
    assert _events(data)[0].data == "a\ufffdb \u2713"
    assert parse(data, list(range(1, len(data))))[0] == _events(data)


def test_reference_encoder_round_trips_the_expected_sequence_at_every_split():
    body = "".join(sse_suite.encode(e) for e in sse_suite.EXPECTED_EVENTS).encode()
    want = sse_suite.expected_parsed(sse_suite.EXPECTED_EVENTS)
    assert _events(body) == want
    assert want[10] == Event("message", "no id here: lastEventId stays 10", "10")
    assert want[12].data == "trailing line break\n"
    for i in range(1, len(body)):
        assert parse(body, [i])[0] == want


def test_events_after():
    assert [e.id for e in sse_suite.events_after("12")] == ["13", "14"]
    assert sse_suite.events_after(None) == sse_suite.EXPECTED_EVENTS
    assert sse_suite.events_after("nope") == sse_suite.EXPECTED_EVENTS
    assert sse_suite.events_after("14") == []
    assert sse_suite.events_after("1", [SseEvent("a", id="1"), SseEvent("b")]) == [SseEvent("b")]


# --- the suites against live targets ------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _serve(*argv: str):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", *argv, "--host", "127.0.0.1", "--port", str(port)],
                            cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, f"{argv} did not start"
            time.sleep(0.1)


@pytest.fixture
def starlette_app():
    proc, port = _serve("conformance.targets.starlette_app")
    yield port
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def broken_sse_app():
    proc, port = _serve("conformance.targets.starlette_app", "--broken-sse")
    yield port
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def ws_only_server():
    proc, port = _serve("conformance.broken_server")
    yield port
    proc.terminate()
    proc.wait(timeout=10)


def test_sse_suite_passes_on_a_correct_stream(starlette_app):
    res = sse_suite.run_suite(f"http://127.0.0.1:{starlette_app}/sse/conformance")
    assert res["passed"], [c for c in res["cases"] if not c["passed"]]
    assert res["total"] == 14


def test_sse_suite_fails_on_a_naive_encoder(broken_sse_app):
    res = sse_suite.run_suite(f"http://127.0.0.1:{broken_sse_app}/sse/conformance")
    assert not res["passed"]
    failed = {c["name"] for c in res["cases"] if not c["passed"]}
    assert "multi-line data (LF, CRLF and CR inside data arrive as LF)" in failed
    assert "retry field" in failed and "keep-alive comment line" in failed
    assert "status 200" not in failed


MUST_PASS_ON_STARLETTE = {
    "GET / baseline", "POST /echo baseline", "404 on unknown path keeps the connection",
    "GET cut at every byte: no response until complete", "POST Content-Length cut at every byte",
    "POST chunked cut at every byte", "request sent one byte per write", "chunked with extensions and trailers",
    "three pipelined requests answered in order", "pipelined requests, one byte per write",
    "Expect: 100-continue", "HTTP/1.0 closes by default", "HTTP/1.1 Connection: close",
    "bad chunk: non-hex chunk size", "two Content-Length headers that differ",
    "GET with a body, then pipelined GET (body consumed, not a request)",
}


def test_http_suite_core_cases_pass_on_uvicorn_starlette(starlette_app):
    cases = [c for c in http_suite.CASES if c.name in MUST_PASS_ON_STARLETTE]
    assert len(cases) == len(MUST_PASS_ON_STARLETTE)
    res = http_suite.run_suite(f"http://127.0.0.1:{starlette_app}", cases=cases)
    assert res["passed"], [c for c in res["cases"] if not c["passed"]]


def test_http_suite_fails_on_a_server_that_is_not_an_http_app(ws_only_server):
    # The WebSocket-only broken server answers 400 to every plain request.
    res = http_suite.run_suite(f"http://127.0.0.1:{ws_only_server}")
    assert not res["passed"]
    assert res["error"] and "400" in res["error"]


@pytest.mark.timeout(300)
def test_http_cli_reports_every_failing_case_and_exit_status_follows(starlette_app, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "conformance", "http", "--url",
                           f"http://127.0.0.1:{starlette_app}", "--report-dir", str(tmp_path)],
                          cwd=REPO, env=_env(), text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=280)
    summary = json.loads((tmp_path / "summary.json").read_text())
    http = summary["http"]
    assert http["total"] == len(http_suite.CASES)
    assert proc.returncode == (0 if http["passed"] else 1), proc.stdout
    for c in http["cases"]:
        assert (f"FAIL {c['name']}:" in proc.stdout) == (not c["passed"])
    assert f"[http] {len(http_suite.CASES)}/{len(http_suite.CASES)}" in proc.stdout  # progress shown
    assert "HTTP/1.1 edge cases" in (tmp_path / "index.html").read_text()
