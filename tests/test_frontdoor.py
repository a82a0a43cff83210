"""`fasterapi run` front-door options: proxy headers (trusted vs untrusted peer, X-Forwarded-*
and RFC 7239 Forwarded), the access log, --reload, and the uvicorn-named limits, against
real servers started with ``python -m fasterapi run`` and real clients (httpx, websockets)."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Iterator

import httpx
import pytest
from websockets.asyncio.client import connect

from conftest import ServerProcess, Spawner, free_port, spawner_in
from fasterapi.proxy_headers import (Address, ProxyHeaders, TrustedHosts, format_address, parse_forwarded,
                                     parse_node, split_peer)

APP = '''
import asyncio
from fasterapi import App
app = App()

@app.get("/who")
def who(request):
    return {"client": list(request.client), "scheme": request.scheme}

@app.get("/slow")
async def slow():
    await asyncio.sleep(60)
    return "late"

@app.websocket("/ws")
async def ws(ws):
    await ws.accept()
    await ws.send_json({"client": list(ws.client), "scheme": ws.scheme})
    await ws.receive()

@app.websocket("/ws/refuse")
async def refuse(ws):
    await ws.close(status=403)
'''


# --- parsing (no server) ----------------------------------------------------------------
@pytest.mark.parametrize("value, expected", [
    ("for=192.0.2.60;proto=http;by=203.0.113.43",
     [{"for": "192.0.2.60", "proto": "http", "by": "203.0.113.43"}]),
    ('for="_gazonk"', [{"for": "_gazonk"}]),
    ('For="[2001:db8:cafe::17]:4711"', [{"for": "[2001:db8:cafe::17]:4711"}]),
    ("for=192.0.2.43, for=198.51.100.17", [{"for": "192.0.2.43"}, {"for": "198.51.100.17"}]),
    ('for=unknown;proto=https , for="198.51.100.17:8080"',
     [{"for": "unknown", "proto": "https"}, {"for": "198.51.100.17:8080"}]),
    ('for="a\\"b;c,d"', [{"for": 'a"b;c,d'}]),  # quoted-string with escapes, ; and , inside
    ("for=1.2.3.4:80", [{"for": "1.2.3.4:80"}]),  # unquoted port, as some proxies write it
    ("for=1.2.3.4,, ;for=5.6.7.8", [{"for": "1.2.3.4"}, {"for": "5.6.7.8"}]),  # empty elements
    ("for=1.2.3.4 junk", None),
    ("for=1;for=2", None),  # a parameter twice in one element
    ('for="unterminated', None),
    ("=1.2.3.4", None),
])
def test_parse_forwarded(value: str, expected: list[dict[str, str]] | None) -> None:
    assert parse_forwarded(value) == expected


@pytest.mark.parametrize("value, expected", [
    ("1.2.3.4", ("1.2.3.4", 0)), ("1.2.3.4:80", ("1.2.3.4", 80)), ("2001:db8::1", ("2001:db8::1", 0)),
    ("[2001:db8::1]:4711", ("2001:db8::1", 4711)), ("[2001:db8::1]", ("2001:db8::1", 0)),
    ("unknown", ("unknown", 0)), ("1.2.3.4:_obf", ("1.2.3.4", 0)),
])
def test_parse_node(value: str, expected: tuple[str, int]) -> None:
    assert parse_node(value) == expected


def test_peer_split_and_format() -> None:
    assert split_peer("127.0.0.1:5000") == Address("127.0.0.1", 5000)
    assert split_peer("::1:5000") == Address("::1", 5000)  # the native peer text has no brackets
    assert format_address(Address("::1", 5000)) == "[::1]:5000"
    assert format_address(Address("10.0.0.1", 0)) == "10.0.0.1:0"


def test_trusted_hosts() -> None:
    t = TrustedHosts("127.0.0.1, 10.0.0.0/8 ,::1")
    assert "127.0.0.1" in t and "10.20.30.40" in t and "::1" in t
    assert "::ffff:10.1.2.3" in t  # IPv4-mapped, as a dual-stack listener reports IPv4 peers
    assert "127.0.0.2" not in t and "11.0.0.1" not in t and "unknown" not in t and "" not in t
    assert "anything" in TrustedHosts("*")
    with pytest.raises(ValueError, match=r"'localhost' is not an IP address or network"):
        TrustedHosts("127.0.0.1,localhost")
    with pytest.raises(ValueError, match=r"'10.0.0.0/33'"):
        TrustedHosts(["10.0.0.0/33"])


PROXY = ProxyHeaders(TrustedHosts("127.0.0.1,10.0.0.0/8"))


@pytest.mark.parametrize("peer, headers, ws, expected", [
    # no headers: the peer
    ("127.0.0.1:5000", [], False, (("127.0.0.1", 5000), "http")),
    # rightmost untrusted hop: 10.x are our proxies, 203.0.113.9 forged nothing we believe past it
    ("127.0.0.1:5000", [("X-Forwarded-For", "6.6.6.6, 203.0.113.9, 10.0.0.2")], False,
     (("203.0.113.9", 0), "http")),
    # several header lines are one list; names are case-insensitive
    ("127.0.0.1:5000", [("x-forwarded-for", "6.6.6.6"), ("X-FORWARDED-FOR", "203.0.113.9")], False,
     (("203.0.113.9", 0), "http")),
    # every hop trusted: the leftmost
    ("127.0.0.1:5000", [("X-Forwarded-For", "10.0.0.7, 10.0.0.2")], False, (("10.0.0.7", 0), "http")),
    ("127.0.0.1:5000", [("X-Forwarded-Proto", "https")], False, (("127.0.0.1", 5000), "https")),
    ("127.0.0.1:5000", [("X-Forwarded-Proto", "https")], True, (("127.0.0.1", 5000), "wss")),
    ("127.0.0.1:5000", [("X-Forwarded-Proto", "gopher")], False, (("127.0.0.1", 5000), "http")),
    ("127.0.0.1:5000", [("X-Forwarded-For", "")], False, (("127.0.0.1", 5000), "http")),
    # untrusted peer: every header ignored
    ("192.0.2.1:5000", [("X-Forwarded-For", "1.1.1.1"), ("X-Forwarded-Proto", "https"),
                        ("Forwarded", "for=1.1.1.1;proto=https")], False, (("192.0.2.1", 5000), "http")),
    # Forwarded: the element of the rightmost untrusted hop gives client and proto
    ("127.0.0.1:5000", [("Forwarded", 'for=6.6.6.6;proto=http, for="[2001:db8::1]:4711";proto=https, '
                                      "for=10.0.0.2;proto=http")], False, (("2001:db8::1", 4711), "https")),
    ("127.0.0.1:5000", [("Forwarded", "for=203.0.113.9;proto=https")], True, (("203.0.113.9", 0), "wss")),
    ("127.0.0.1:5000", [("Forwarded", "proto=https")], False, (("unknown", 0), "https")),
    # a Forwarded header that does not parse is ignored as a whole
    ("127.0.0.1:5000", [("Forwarded", "for=203.0.113.9;proto=https junk")], False, (("127.0.0.1", 5000), "http")),
    # X-Forwarded-* present: Forwarded is not read (a client could have written it)
    ("127.0.0.1:5000", [("Forwarded", "for=6.6.6.6;proto=https"), ("X-Forwarded-For", "203.0.113.9")], False,
     (("203.0.113.9", 0), "http")),
])
def test_resolve(peer: str, headers: list[tuple[str, str]], ws: bool, expected: tuple) -> None:
    assert PROXY.resolve(peer, headers, ws) == expected


def test_resolve_trust_all_and_off_and_tls_default() -> None:
    xff = [("X-Forwarded-For", "6.6.6.6, 203.0.113.9")]
    assert ProxyHeaders(TrustedHosts("*")).resolve("192.0.2.1:1", xff)[0] == ("6.6.6.6", 0)
    assert ProxyHeaders(None).resolve("127.0.0.1:1", xff)[0] == ("127.0.0.1", 1)
    # The TLS hook: a listener that terminates TLS says https / wss without any header.
    assert ProxyHeaders(None, "https").resolve("127.0.0.1:1", [], websocket=True)[1] == "wss"
    with pytest.raises(ValueError):
        ProxyHeaders(None, "ftp")


# --- real servers -----------------------------------------------------------------------
@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "frontapp.py").write_text(APP)
    return tmp_path


@pytest.fixture
def run(native_server: None, app_dir: Path) -> Iterator[Spawner]:
    with spawner_in(app_dir) as s:
        yield s


def _serve(spawner: Spawner, *args: str) -> ServerProcess:
    return spawner.start(["-m", "fasterapi", "run", "frontapp:app", "--port", "0", *args])


async def _ws_info(url: str, headers: dict[str, str]) -> dict:
    async with connect(url, additional_headers=headers) as ws:
        return json.loads(await ws.recv())


FORWARDED_HEADERS = {"X-Forwarded-For": "198.51.100.7, 203.0.113.9", "X-Forwarded-Proto": "https"}


def test_trusted_peer_proxy_headers_http_and_websocket(run: Spawner) -> None:
    srv = _serve(run)  # default --forwarded-allow-ips 127.0.0.1: the test client is the trusted proxy
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        assert c.get("/who").json()["scheme"] == "http"
        assert c.get("/who", headers=FORWARDED_HEADERS).json() == {"client": ["203.0.113.9", 0], "scheme": "https"}
        r = c.get("/who", headers={"Forwarded": 'for="[2001:db8::17]:4711";proto=https'})
        assert r.json() == {"client": ["2001:db8::17", 4711], "scheme": "https"}
    info = asyncio.run(_ws_info(srv.ws_url + "/ws", FORWARDED_HEADERS))
    assert info == {"client": ["203.0.113.9", 0], "scheme": "wss"}
    info = asyncio.run(_ws_info(srv.ws_url + "/ws", {"Forwarded": "for=198.51.100.8;proto=http"}))
    assert info == {"client": ["198.51.100.8", 0], "scheme": "ws"}


@pytest.mark.parametrize("args", [["--forwarded-allow-ips", "10.0.0.0/8,::1"], ["--no-proxy-headers"]])
def test_untrusted_peer_headers_are_ignored(run: Spawner, args: list[str]) -> None:
    srv = _serve(run, *args)
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        r = c.get("/who", headers=FORWARDED_HEADERS)
        host, port = r.json()["client"]
        assert (host, r.json()["scheme"]) == ("127.0.0.1", "http") and port > 0
        r = c.get("/who", headers={"Forwarded": "for=203.0.113.9;proto=https"})
        assert r.json()["client"][0] == "127.0.0.1"
    info = asyncio.run(_ws_info(srv.ws_url + "/ws", FORWARDED_HEADERS))
    assert info["client"][0] == "127.0.0.1" and info["scheme"] == "ws"


def test_forwarded_allow_ips_from_environment(run: Spawner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "192.0.2.1")  # subprocess_env() copies os.environ
    srv = _serve(run)
    r = httpx.get(srv.url + "/who", headers=FORWARDED_HEADERS, timeout=10)
    assert r.json()["client"][0] == "127.0.0.1"


ACCESS = re.compile(r"fasterapi\.access: (\S+) - \"(.*)\" (\d{3}) (\S+) (\d+\.\d\d)ms$")


def _access_lines(srv: ServerProcess) -> list[tuple[str, ...]]:
    return [m.groups() for line in srv.output().splitlines() if (m := ACCESS.search(line))]


def test_access_log_lines(run: Spawner) -> None:
    srv = _serve(run)
    with httpx.Client(base_url=srv.url, timeout=10) as c:
        sizes = [len(c.get("/who?x=1").content), len(c.get("/missing").content), 0,
                 len(c.get("/who", headers={"X-Forwarded-For": "203.0.113.9"}).content)]
        c.head("/who")
    asyncio.run(_ws_info(srv.ws_url + "/ws", {}))
    with pytest.raises(Exception, match="403"):
        asyncio.run(_ws_info(srv.ws_url + "/ws/refuse", {}))
    assert srv.wait_for_output(r'"WebSocket /ws/refuse" 403 refused')
    lines = _access_lines(srv)
    assert [(req, status, size) for _client, req, status, size, _ms in lines] == [
        ("GET /who?x=1 HTTP/1.1", "200", str(sizes[0])),
        ("GET /missing HTTP/1.1", "404", str(sizes[1])),
        ("GET /who HTTP/1.1", "200", str(sizes[3])),
        ("HEAD /who HTTP/1.1", "200", "0"),
        ("WebSocket /ws", "101", "accepted"),
        ("WebSocket /ws/refuse", "403", "refused"),
    ]
    assert re.fullmatch(r"127\.0\.0\.1:\d+", lines[0][0]) and lines[0][0] != "127.0.0.1:0"
    assert lines[2][0] == "203.0.113.9:0"  # the client after proxy headers, as request.client sees it
    assert all(0 <= float(ms) < 5000 for *_rest, ms in lines)


@pytest.mark.parametrize("args", [["--no-access-log"], ["--log-level", "warning"]])
def test_access_log_off(run: Spawner, args: list[str]) -> None:
    srv = _serve_logged(run, *args)
    for _ in range(3):
        assert httpx.get(srv.url + "/who", timeout=10).status_code == 200
    assert srv.stop() == 0
    assert "fasterapi.access" not in srv.output()


def _serve_logged(spawner: Spawner, *args: str) -> ServerProcess:
    """On a fixed port (--log-level warning hides the "listening" line that names it)."""
    port = free_port()
    sp = ServerProcess([sys.executable, "-m", "fasterapi", "run", "frontapp:app", "--port", str(port), *args],
                       spawner.cwd)
    spawner.procs.append(sp)
    _wait_port(port)
    sp.port = port
    return sp


def _wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listened on port {port} within {timeout:.0f}s")


# --- limits named as uvicorn's -------------------------------------------------------------
def test_limit_concurrency_answers_503_beyond(run: Spawner) -> None:
    srv = _serve(run, "--limit-concurrency", "1")
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as held:
        held.sendall(b"GET /who HTTP/1.1\r\nHost: x\r\n\r\n")
        assert held.recv(4096).startswith(b"HTTP/1.1 200")
        r = httpx.get(srv.url + "/who", timeout=10)  # a second connection while the first is open
        assert r.status_code == 503
    deadline = time.monotonic() + 10
    while httpx.get(srv.url + "/who", timeout=10).status_code != 200:  # the slot frees on close
        assert time.monotonic() < deadline


def test_timeout_keep_alive_closes_idle_connection(run: Spawner) -> None:
    srv = _serve(run, "--timeout-keep-alive", "0.5")
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(b"GET /who HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        t0 = time.monotonic()
        assert s.recv(4096) == b""  # closed by the server, not by our 10 s timeout
        assert 0.3 < time.monotonic() - t0 < 5


def test_timeout_graceful_shutdown_bounds_the_drain(run: Spawner) -> None:
    srv = _serve(run, "--timeout-graceful-shutdown", "0.5")
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")  # a handler that would take 60 s
        time.sleep(0.3)
        t0 = time.monotonic()
        srv.signal(signal.SIGTERM)
        assert srv.wait(20) == 0
        assert time.monotonic() - t0 < 5  # not the App's default 10 s


# --- --reload ------------------------------------------------------------------------------
RELOAD_APP = "from fasterapi import App\napp = App()\n\n@app.get('/')\ndef index():\n    return {VALUE!r}\n"


def _get_text(url: str) -> str | None:
    try:
        return httpx.get(url, timeout=2).text
    except httpx.HTTPError:
        return None


def _poll(url: str, want: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = _get_text(url)
        if last == want:
            return
        time.sleep(0.1)
    raise AssertionError(f"{url} still answered {last!r}, not {want!r}, after {timeout:.0f}s")


def test_reload_restarts_on_edit_and_survives_a_broken_import(native_server: None, tmp_path: Path) -> None:
    pytest.importorskip("watchfiles")
    mod = tmp_path / "reloadme.py"
    mod.write_text(RELOAD_APP.replace("{VALUE!r}", repr("one")))
    port = free_port()
    sp = ServerProcess([sys.executable, "-m", "fasterapi", "run", "reloadme:app", "--reload", "--port", str(port)],
                       tmp_path)
    url = f"http://127.0.0.1:{port}/"
    try:
        _poll(url, "one")
        assert sp.wait_for_output(r"watching .* for changes")
        mod.write_text(RELOAD_APP.replace("{VALUE!r}", repr("two")))
        _poll(url, "two")
        assert sp.wait_for_output(r"changed: reloadme\.py; restarting the server")

        mod.write_text("from fasterapi import App\napp = App(\n")  # the edit breaks the import
        assert sp.wait_for_output(r"^error: importing 'reloadme' raised SyntaxError", timeout=30)
        assert sp.proc.poll() is None, "the reloader exited on a broken import"
        assert "Traceback" not in sp.output()

        mod.write_text(RELOAD_APP.replace("{VALUE!r}", repr("three")))
        _poll(url, "three")
        (tmp_path / "notes.txt").write_text("not watched")
        time.sleep(1.0)
        assert len(re.findall(r"changed: ", sp.output())) == 3
        sp.signal(signal.SIGTERM)
        assert sp.wait(30) == 0
        assert _get_text(url) is None  # the child went with it
    finally:
        sp.kill()


def test_reload_file_filter() -> None:
    pytest.importorskip("watchfiles")
    from watchfiles import Change

    from fasterapi.reload import FileFilter

    default = FileFilter(None, None)
    assert default(Change.modified, "/src/app/main.py")
    assert not default(Change.modified, "/src/app/page.html")
    assert not default(Change.modified, "/src/app/.main.py.swp")  # editor swap file
    assert not default(Change.modified, "/src/app/__pycache__/main.cpython-311.pyc")
    assert not default(Change.modified, "/src/.git/index")
    custom = FileFilter(["*.py", "*.html"], ["legacy_*"])
    assert custom(Change.added, "/src/templates/page.html")
    assert not custom(Change.modified, "/src/legacy_views.py")
