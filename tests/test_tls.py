"""TLS served natively (https/wss), against real third-party clients: httpx, websockets,
aiohttp, Python's ssl module and the openssl command. The CA and the certificates are made
at test time (trustme). Hostile peers (plain HTTP, garbage, a trickled ClientHello, a
renegotiation attempt, a reset mid-record, a peer that stops reading) each get a clean
close, leave no file descriptor behind and never harm another connection."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import warnings
from pathlib import Path

import httpx
import pytest
import trustme
import websockets

from conftest import APPS, ServerProcess, Spawner, subprocess_env

pytestmark = pytest.mark.timeout(120)


class Certs:
    def __init__(self, root: Path) -> None:
        self.ca = trustme.CA()
        self.root = root
        server = self.ca.issue_cert("localhost", "127.0.0.1")
        self.cert = root / "server.pem"  # chain, leaf first
        self.key = root / "server.key"
        server.cert_chain_pems[0].write_to_path(self.cert)
        for pem in server.cert_chain_pems[1:]:
            pem.write_to_path(self.cert, append=True)
        server.private_key_pem.write_to_path(self.key)
        self.ca_file = root / "ca.pem"
        self.ca.cert_pem.write_to_path(self.ca_file)
        client = self.ca.issue_cert("client@example.test")
        self.client_pem = root / "client.pem"  # key and chain together
        client.private_key_and_cert_chain_pem.write_to_path(self.client_pem)
        other = trustme.CA().issue_cert("localhost")
        self.other_key = root / "other.key"
        other.private_key_pem.write_to_path(self.other_key)

    def client_context(self, **kw: object) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        for k, v in kw.items():
            setattr(ctx, k, v)
        return ctx


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return Certs(tmp_path_factory.mktemp("tls"))


def _tls_args(certs: Certs) -> list[str]:
    return ["--ssl-certfile", str(certs.cert), "--ssl-keyfile", str(certs.key)]


@pytest.fixture(scope="module")
def tls_server(module_spawn: Spawner, certs: Certs):
    """The main test app over TLS, via `fasterapi run` (the CLI flags users type)."""
    return module_spawn.start(["-m", "fasterapi", "run", "tests.apps.main_app:app", "--port", "0",
                               *_tls_args(certs)])


@pytest.fixture
def hard_server(spawn: Spawner, certs: Certs):
    """The hardening app over TLS with a 2 s request timeout (the handshake included)."""
    return spawn.app("hardening_app", "--request-timeout", "2", *_tls_args(certs))


def _get_json(url: str, certs: Certs, path: str) -> dict:
    r = httpx.get(url + path, verify=certs.client_context())
    assert r.status_code == 200, r.text
    return r.json()


def _stats(port: int, certs: Certs) -> dict:
    return _get_json(f"https://localhost:{port}", certs, "/stats")


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _wait_back_to(port: int, certs: Certs, connections: int, fds: int, pid: int) -> None:
    """Connections and descriptors return to the baseline (the /stats request itself is one)."""
    deadline = time.monotonic() + 10
    while True:
        st = _stats(port, certs)
        if st["connections"] <= connections and _open_fds(pid) <= fds:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"left behind: {st['connections']} connections (baseline {connections}), "
                                 f"{_open_fds(pid)} fds (baseline {fds})")
        time.sleep(0.1)


# --- real clients ------------------------------------------------------------------------

def test_https_with_httpx_keepalive_and_alpn(tls_server, certs: Certs) -> None:
    url = f"https://localhost:{tls_server.port}"
    with httpx.Client(verify=certs.client_context()) as client:
        for _ in range(3):  # one TLS connection, kept alive
            r = client.get(url + "/hello")
            assert r.status_code == 200 and r.text == "hello"
        assert client.post(url + "/json", json={"a": [1, 2]}).json() == {"got": {"a": [1, 2]}}
        big = client.get(url + "/big", params={"n": 4 << 20})
        assert big.content == bytes(range(256)) * ((4 << 20) // 256)
    ctx = certs.client_context()
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", tls_server.port)) as raw, \
            ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        assert tls.selected_alpn_protocol() == "http/1.1"
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_wss_with_websockets_text_binary_and_deflate(tls_server, certs: Certs) -> None:
    async def main() -> None:
        ctx = certs.client_context()
        async with websockets.connect(f"wss://localhost:{tls_server.port}/ws/echo", ssl=ctx, max_size=None) as ws:
            await ws.send("hi")
            assert await ws.recv() == "hi"
            blob = os.urandom(3 << 20)  # many TLS records each way
            await ws.send(blob)
            assert await ws.recv() == blob
        async with websockets.connect(f"wss://localhost:{tls_server.port}/ws/deflate", ssl=ctx,
                                      compression="deflate") as ws:
            await ws.send("z" * 100_000)
            assert await ws.recv() == "z" * 100_000
    asyncio.run(main())


def test_busy_connections_keep_record_buffers_idle_ones_give_them_back(tls_server, certs: Certs) -> None:
    # A busy session keeps OpenSSL's record buffers between records (one tick of traffic
    # decides); after a quiet tick it gives them back, and the connection keeps working.
    port = tls_server.port

    async def main() -> None:
        async with websockets.connect(f"wss://localhost:{port}/ws/echo", ssl=certs.client_context(),
                                      max_size=None) as ws:
            stop = asyncio.Event()

            async def echo_loop() -> int:
                n = 0
                while not stop.is_set():
                    await ws.send(f"m{n}")
                    assert await ws.recv() == f"m{n}"
                    n += 1
                return n

            task = asyncio.create_task(echo_loop())
            await asyncio.sleep(0.8)  # > 2 ticks of 250 ms with traffic
            busy = await asyncio.to_thread(_stats, port, certs)
            stop.set()
            assert await task > 50
            assert busy["tls_buffers_held"] >= 1, busy
            await asyncio.sleep(1.0)  # quiet ticks: buffers go back
            quiet = await asyncio.to_thread(_stats, port, certs)
            assert quiet["tls_buffers_held"] == 0, quiet
            blob = os.urandom(1 << 20)  # records again, buffers allocated again
            await ws.send(blob)
            assert await ws.recv() == blob
    asyncio.run(main())


def test_aiohttp_https_and_wss(tls_server, certs: Certs) -> None:
    import aiohttp

    async def main() -> None:
        ctx = certs.client_context()
        async with aiohttp.ClientSession() as s:
            async with s.get(f"https://localhost:{tls_server.port}/hello", ssl=ctx) as r:
                assert r.status == 200 and await r.text() == "hello"
            async with s.ws_connect(f"wss://localhost:{tls_server.port}/ws/echo", ssl=ctx) as ws:
                await ws.send_str("over tls")
                assert (await ws.receive()).data == "over tls"
    asyncio.run(main())


def test_sse_over_https(tls_server, certs: Certs) -> None:
    with httpx.stream("GET", f"https://localhost:{tls_server.port}/sse/basic", verify=certs.client_context()) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        body = r.read().decode()
    assert "id: 1\nevent: greeting\ndata: first\n\n" in body and "data: plain string\n\n" in body


def test_only_tls12_and_tls13(tls_server, certs: Certs) -> None:
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = certs.client_context(minimum_version=version, maximum_version=version)
        with socket.create_connection(("127.0.0.1", tls_server.port)) as raw, \
                ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() == version.name.replace("_", ".")
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # offering TLS 1.1 is the point
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # OpenSSL 3 would not even offer TLS 1.1 otherwise
    with socket.create_connection(("127.0.0.1", tls_server.port)) as raw:
        with pytest.raises(ssl.SSLError):
            old.wrap_socket(raw, server_hostname="localhost")


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_session_resumption(tls_server, certs: Certs, version: ssl.TLSVersion) -> None:
    ctx = certs.client_context(minimum_version=version, maximum_version=version)
    session = None
    for attempt in range(2):
        with socket.create_connection(("127.0.0.1", tls_server.port)) as raw, \
                ctx.wrap_socket(raw, server_hostname="localhost", session=session) as tls:
            tls.sendall(b"GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert b"hello" in tls.recv(4096)  # TLS 1.3 tickets arrive after the handshake
            assert tls.session_reused == (attempt == 1)
            session = tls.session


def test_resumption_works_on_any_worker(spawn: Spawner, certs: Certs) -> None:
    """The ticket key is made once by the parent: a ticket issued by one worker resumes on the
    other (SO_REUSEPORT spreads the reconnects over both)."""
    from conftest import free_port

    port = free_port()
    sp = spawn.start(["-m", "fasterapi", "run", "tests.apps.main_app:app", "--port", str(port), "--workers", "2",
                      *_tls_args(certs)], ready_lines=2)
    ctx = certs.client_context(minimum_version=ssl.TLSVersion.TLSv1_3)
    pids, reused = set(), []
    session = None
    for _ in range(24):
        with socket.create_connection(("127.0.0.1", port)) as raw, \
                ctx.wrap_socket(raw, server_hostname="localhost", session=session) as tls:
            tls.sendall(b"GET /pid HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            body = b""
            while chunk := tls.recv(4096):
                body += chunk
            pids.add(json.loads(body.split(b"\r\n\r\n", 1)[1])["pid"])
            if session is not None:
                reused.append(tls.session_reused)
            session = tls.session
    assert len(pids) == 2, "the connections did not reach both workers"
    assert all(reused), f"{reused.count(False)} of {len(reused)} reconnects did not resume"
    assert sp.port == port


# --- certificate renewal (SIGHUP) ------------------------------------------------------------

def _renewable(certs: Certs, root: Path) -> tuple[Path, Path]:
    """Certificate and key files of our own, to replace while the server runs."""
    cert, key = root / "live.pem", root / "live.key"
    shutil.copy(certs.cert, cert)
    shutil.copy(certs.key, key)
    return cert, key


def _renew(certs: Certs, cert: Path, key: Path) -> bytes:
    """A new leaf from the same CA written over the files (key first, as a deploy tool might
    not do atomically); returns its DER, the fingerprint new connections must show."""
    leaf = certs.ca.issue_cert("localhost", "127.0.0.1")
    leaf.private_key_pem.write_to_path(key)
    leaf.cert_chain_pems[0].write_to_path(cert)
    return ssl.PEM_cert_to_DER_cert(leaf.cert_chain_pems[0].bytes().decode())


def _served_certs(port: int, certs: Certs, n: int) -> list[bytes]:
    out = []
    for _ in range(n):
        with socket.create_connection(("127.0.0.1", port)) as raw, \
                certs.client_context().wrap_socket(raw, server_hostname="localhost") as tls:
            out.append(tls.getpeercert(binary_form=True))
    return out


def _until_served(port: int, certs: Certs, der: bytes, n: int) -> None:
    deadline = time.monotonic() + 10
    while not all(c == der for c in _served_certs(port, certs, n)):
        assert time.monotonic() < deadline, "new connections still get the old certificate"
        time.sleep(0.1)


def test_sighup_renews_the_certificate_on_every_worker_without_dropping_connections(
        spawn: Spawner, certs: Certs, tmp_path: Path) -> None:
    from conftest import free_port

    cert, key = _renewable(certs, tmp_path)
    port = free_port()
    sp = spawn.start(["-m", "fasterapi", "run", "tests.apps.main_app:app", "--port", str(port), "--workers", "2",
                      "--ssl-certfile", str(cert), "--ssl-keyfile", str(key)], ready_lines=2)
    old = _served_certs(port, certs, 1)[0]

    async def main() -> None:
        async with websockets.connect(f"wss://localhost:{port}/ws/echo", ssl=certs.client_context()) as ws:
            await ws.send("before")
            assert await ws.recv() == "before"
            new = _renew(certs, cert, key)
            assert new != old
            sp.signal(signal.SIGHUP)
            await asyncio.to_thread(_until_served, port, certs, new, 12)  # both workers (SO_REUSEPORT)
            await ws.send("after")  # the connection made before the renewal is untouched
            assert await ws.recv() == "after"
            # A broken renewal: one error line from the parent, every worker keeps the last good files.
            key.write_text("not a key\n")
            sp.signal(signal.SIGHUP)
            assert sp.wait_for_output(r"TLS files not reloaded.*ssl_keyfile '.*live\.key'")
            assert set(await asyncio.to_thread(_served_certs, port, certs, 8)) == {new}
    asyncio.run(main())
    assert sp.output().count("TLS files reloaded") == 2, sp.output()[-2000:]  # once per worker
    assert "Traceback" not in sp.output()


def test_sighup_with_one_worker_and_app_reload_tls(spawn: Spawner, certs: Certs, tmp_path: Path) -> None:
    cert, key = _renewable(certs, tmp_path)
    sp = spawn.start(["-m", "fasterapi", "run", "tests.apps.main_app:app", "--port", "0",
                      "--ssl-certfile", str(cert), "--ssl-keyfile", str(key)])
    cert.write_text("garbage\n")
    sp.signal(signal.SIGHUP)
    assert sp.wait_for_output(r"TLS files not reloaded.*ssl_certfile '.*live\.pem': not a PEM certificate")
    st = _stats(sp.port, certs)  # still serving, with the first certificate
    assert (st["tls_reloads"], st["tls_reload_failures"]) == (0, 1)
    new = _renew(certs, cert, key)
    sp.signal(signal.SIGHUP)
    _until_served(sp.port, certs, new, 3)
    st = _stats(sp.port, certs)
    assert (st["tls_reloads"], st["tls_reload_failures"]) == (1, 1)


def test_reload_tls_without_tls_is_a_clear_error() -> None:
    from fasterapi import App

    with pytest.raises(RuntimeError, match="not serving TLS"):
        App().reload_tls()


# --- configuration errors ------------------------------------------------------------------

def _run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fasterapi", "run", "tests.apps.main_app:app", "--port", "0", *args],
                          cwd=cwd, env=subprocess_env(), capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("case", ["missing", "not-pem", "mismatch", "no-password", "wrong-password", "no-cert"])
def test_bad_tls_files_are_one_line_errors_naming_the_file(certs: Certs, tmp_path: Path, case: str) -> None:
    enc = tmp_path / "enc.key"
    if case in ("no-password", "wrong-password"):
        from cryptography.hazmat.primitives import serialization

        key = serialization.load_pem_private_key(certs.key.read_bytes(), password=None)
        enc.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.BestAvailableEncryption(b"right")))
    args, expect = {
        "missing": (["--ssl-certfile", str(tmp_path / "nope.pem")], "ssl_certfile '%s': No such file" % (tmp_path / "nope.pem")),
        "not-pem": (["--ssl-certfile", str(certs.cert), "--ssl-keyfile", str(certs.cert)], "not a PEM private key"),
        "mismatch": (["--ssl-certfile", str(certs.cert), "--ssl-keyfile", str(certs.other_key)],
                     f"ssl_keyfile '{certs.other_key}' does not match the certificate in ssl_certfile"),
        "no-password": (["--ssl-certfile", str(certs.cert), "--ssl-keyfile", str(enc)],
                        "the key is encrypted: give ssl_keyfile_password"),
        "wrong-password": (["--ssl-certfile", str(certs.cert), "--ssl-keyfile", str(enc), "--ssl-keyfile-password",
                            "wrong"], "wrong ssl_keyfile_password"),
        "no-cert": (["--ssl-keyfile", str(certs.key)], "ssl_keyfile given without ssl_certfile"),
    }[case]
    r = _run_cli(tmp_path, *args)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expect in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_encrypted_key_with_the_right_password_serves(spawn: Spawner, certs: Certs, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(certs.key.read_bytes(), password=None)
    enc = tmp_path / "enc.key"
    enc.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.BestAvailableEncryption(b"right")))
    sp = spawn.start(["-m", "fasterapi", "run", "tests.apps.main_app:app", "--port", "0", "--ssl-certfile",
                      str(certs.cert), "--ssl-keyfile", str(enc), "--ssl-keyfile-password", "right"])
    assert httpx.get(f"https://localhost:{sp.port}/hello", verify=certs.client_context()).text == "hello"


def test_mutual_tls_requires_a_client_certificate(spawn: Spawner, certs: Certs) -> None:
    sp = spawn.start(["-m", "fasterapi", "run", "tests.apps.main_app:app", "--port", "0", *_tls_args(certs),
                      "--ssl-ca-certs", str(certs.ca_file), "--ssl-cert-reqs", "2"])
    url = f"https://localhost:{sp.port}/hello"
    with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
        httpx.get(url, verify=certs.client_context())
    ctx = certs.client_context()
    ctx.load_cert_chain(str(certs.client_pem))
    assert httpx.get(url, verify=ctx).text == "hello"


# --- hostile peers -----------------------------------------------------------------------

def test_plain_http_to_the_tls_port_gets_a_readable_400(hard_server, certs: Certs) -> None:
    with socket.create_connection(("127.0.0.1", hard_server.port), timeout=5) as s:
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400 ") and b"use https:// or wss://" in data
    assert _stats(hard_server.port, certs)["tls_errors"] >= 1


def test_hostile_handshakes_are_closed_and_leave_nothing_behind(hard_server, certs: Certs) -> None:
    port = hard_server.port
    pid = _stats(port, certs)["pid"]
    time.sleep(0.3)
    base_conns, base_fds = _stats(port, certs)["connections"], _open_fds(pid)
    # Garbage instead of a ClientHello: a TLS alert or a close, never a hang.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(os.urandom(64) + b"\x16\x03\x01\xff\xff" + os.urandom(300))
        while s.recv(4096):
            pass
    # Nothing at all after connect, and a ClientHello trickled a byte at a time: both are
    # closed by the request timeout (2 s here), like a slowloris request head.
    silent = socket.create_connection(("127.0.0.1", port))
    trickle = socket.create_connection(("127.0.0.1", port))
    hello = _client_hello(certs)
    start = time.monotonic()
    closed_at = None
    for i, byte in enumerate(hello):
        try:
            trickle.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError):
            closed_at = time.monotonic() - start
            break
        # Meanwhile a well-behaved client is served.
        if i == 2:
            assert _stats(port, certs)["pid"] == pid
        time.sleep(0.25)
        if time.monotonic() - start > 6:
            break
    assert closed_at is not None and closed_at < 5, f"trickled ClientHello still open after {closed_at}"
    silent.settimeout(5)
    assert silent.recv(100) == b""  # closed by the server, not by us
    silent.close()
    trickle.close()
    _wait_back_to(port, certs, base_conns, base_fds, pid)


def _client_hello(certs: Certs) -> bytes:
    """The bytes a real client sends first (captured from Python's ssl through a memory BIO)."""
    ctx = certs.client_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command (Debian package openssl)")
def test_renegotiation_is_refused(hard_server, certs: Certs) -> None:
    # `R` asks openssl s_client to renegotiate (TLS 1.2: TLS 1.3 has no renegotiation).
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{hard_server.port}", "-tls1_2",
                        "-CAfile", str(certs.ca_file), "-servername", "localhost"],
                       input="R\n", capture_output=True, text=True, timeout=20)
    out = p.stdout + p.stderr
    assert "RENEGOTIATING" in out
    assert "no renegotiation" in out, out[-2000:]  # the server's no_renegotiation alert (RFC 5746)
    assert _get_json(f"https://localhost:{hard_server.port}", certs, "/stats")["connections"] >= 1


def test_reset_mid_record_and_stalled_reader_harm_nobody(hard_server, certs: Certs) -> None:
    port = hard_server.port
    pid = _stats(port, certs)["pid"]
    time.sleep(0.3)
    base_conns, base_fds = _stats(port, certs)["connections"], _open_fds(pid)
    ctx = certs.client_context()
    # A reset in the middle of a TLS record: the header promises 16 KiB, 100 bytes come, then RST.
    raw = socket.create_connection(("127.0.0.1", port))
    tls = ctx.wrap_socket(raw, server_hostname="localhost")
    raw_fd = socket.socket(fileno=os.dup(tls.fileno()))
    raw_fd.sendall(b"\x17\x03\x03\x40\x00" + os.urandom(100))
    raw_fd.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    raw_fd.close()
    tls.close()
    # A peer that asks for 32 MiB and stops reading: the server buffers within its caps.
    stalled = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stalled.sendall(b"GET /big?n=33554432 HTTP/1.1\r\nHost: x\r\n\r\n")
    stalled.recv(100)
    # Everyone else is served meanwhile, over TLS and with WebSocket messages.
    async def others() -> None:
        async with websockets.connect(f"wss://localhost:{port}/ws/echo", ssl=ctx) as ws:
            for i in range(50):
                await ws.send(f"m{i}")
                assert await ws.recv() == f"m{i}"
    asyncio.run(others())
    assert _get_json(f"https://localhost:{port}", certs, "/stats")["pid"] == pid
    stalled.close()
    _wait_back_to(port, certs, base_conns, base_fds, pid)


def test_sigterm_sends_1001_then_close_notify(spawn: Spawner, certs: Certs) -> None:
    sp = spawn.app("hardening_app", *_tls_args(certs))
    ctx = certs.client_context()

    async def main() -> tuple[int, str]:
        async with websockets.connect(f"wss://localhost:{sp.port}/ws/echo", ssl=ctx) as ws:
            await ws.send("before")
            assert await ws.recv() == "before"
            sp.signal()
            with pytest.raises(websockets.ConnectionClosed) as info:
                await asyncio.wait_for(ws.recv(), 10)
            return info.value.rcvd.code, info.value.rcvd.reason
    code, reason = asyncio.run(main())
    assert (code, reason) == (1001, "server shutting down")
    assert sp.wait() == 0


# --- Unix domain sockets ---------------------------------------------------------------------

def _uds_get(path: Path, url: str = "/hello") -> httpx.Response:
    with httpx.Client(transport=httpx.HTTPTransport(uds=str(path))) as c:
        return c.get("http://localhost" + url)


def _start_uds(spawn: Spawner, path: Path, *args: str):
    sp = ServerProcess([sys.executable, str(APPS / "hardening_app.py"), "--uds", str(path), *args], spawn.cwd)
    spawn.procs.append(sp)
    assert sp.wait_for_output(r"listening on unix:", 30), sp.output()
    return sp


def test_unix_socket_serves_replaces_stale_file_and_cleans_up(spawn: Spawner, tmp_path: Path) -> None:
    path = tmp_path / "app.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))  # a file left by a server that died: nobody accepts on it
    stale.close()
    sp = _start_uds(spawn, path)
    assert _uds_get(path).text == "hello"
    assert oct(path.stat().st_mode & 0o777) == oct(0o666)

    async def ws_over_uds() -> str:
        async with websockets.unix_connect(str(path), "ws://localhost/ws/echo") as ws:
            await ws.send("via unix")
            return await ws.recv()
    assert asyncio.run(ws_over_uds()) == "via unix"
    # A second server on the same live socket is refused with one line.
    r = subprocess.run([sys.executable, str(APPS / "hardening_app.py"), "--uds", str(path)], cwd=spawn.cwd,
                       env=subprocess_env(), capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "another server is accepting there" in r.stderr
    assert sp.stop() == 0
    assert not path.exists()


def test_unix_socket_refuses_a_regular_file(tmp_path: Path) -> None:
    path = tmp_path / "not-a-socket"
    path.write_text("precious")
    r = subprocess.run([sys.executable, "-m", "fasterapi", "run", "tests.apps.main_app:app", "--uds", str(path)],
                       cwd=tmp_path, env=subprocess_env(), capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert r.stderr.strip() == (f"error: cannot listen on unix:{path}: the file exists and is not a socket; "
                                "remove it or choose another --uds path")
    assert path.read_text() == "precious"


def test_unix_socket_shared_by_two_workers_with_tls(spawn: Spawner, certs: Certs, tmp_path: Path) -> None:
    path = tmp_path / "tls.sock"
    sp = _start_uds(spawn, path, "--workers", "2", *_tls_args(certs))
    ctx = certs.client_context()
    pids = set()
    for _ in range(30):
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(path), verify=ctx)) as c:
            pids.add(c.get("https://localhost/stats").json()["pid"])
        if len(pids) == 2:
            break
    assert len(pids) == 2
    assert sp.stop() == 0
    assert not path.exists()
