"""Many concurrent WebSockets held by one worker (issue 6, Load).

N connections, each sending one message per second (fasterapi-loadgen ws-rate, a
native open-loop generator in its own process), against tests/apps/hardening_app.py
/ws/echo: no connect error, no close, no protocol error, every message echoed, and
the server's memory per connection reported (printed) and bounded.

Default N=2,000 for ~15 s so `make test` stays fast; FASTERAPI_LOAD_FULL=1 runs the
issue's 10,000 connections for 60 s. Both processes need N+ fds: the test raises its
own RLIMIT_NOFILE (the generator inherits it; so does the server, which also raises
its own with --nofile).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest
from conftest import Spawner, subprocess_env
from test_loadgen import find_loadgen

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>")

FULL = os.environ.get("FASTERAPI_LOAD_FULL") == "1"
N = 10_000 if FULL else 2_000
DURATION = 60 if FULL else 12
MiB = 1 << 20


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def raise_nofile(want: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {want} needed for {N} connections")
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


@pytest.mark.timeout(DURATION + 120)
def test_many_websockets_one_message_per_second(spawn: Spawner) -> None:
    need = N + 1024
    raise_nofile(need)
    srv = spawn.app("hardening_app", "--max-connections", str(N + 100), "--nofile", str(need))
    pid = srv.proc.pid
    assert httpx.get(srv.url + "/hello", timeout=10).text == "hello"
    base = rss(pid)
    argv = [find_loadgen(), "ws-rate", "--url", f"{srv.ws_url}/ws/echo", "--connections", str(N),
            "--rate", str(N), "--size", "32", "--duration", str(DURATION), "--warmup", "1",
            "--connect-timeout", "60", "--quiet"]
    peak = [base]
    done = threading.Event()

    def sample() -> None:  # the server's RSS while the connections are held
        while not done.wait(0.25):
            try:
                peak[0] = max(peak[0], rss(pid))
            except (FileNotFoundError, ProcessLookupError):
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=DURATION + 100, env=subprocess_env())
    finally:
        done.set()
        sampler.join()
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout)
    per_conn = (peak[0] - base) / N
    stats = httpx.get(srv.url + "/stats", timeout=10).json()
    print(f"\n{N} WebSockets x 1 msg/s for {DURATION}s: connected {report['connected']}, "
          f"echoed {report.get('messages', report.get('count'))} of {report['sent']} sent, "
          f"errors {report['errors']}, p99 {report['latency_us']['p99']} us; server RSS "
          f"{base / MiB:.1f} -> peak {peak[0] / MiB:.1f} MiB = {per_conn / 1024:.1f} KiB per connection; "
          f"server stats {stats}")
    errors = report["errors"]
    assert report["connected"] == N, report["connected"]
    assert errors["connect"] == 0 and errors["closed"] == 0 and errors["protocol"] == 0, errors
    assert not errors["http_status"], errors
    assert stats["refused_full"] == 0 and stats["protocol_errors"] == 0 and stats["send_overflow"] == 0, stats
    # Every connection sent about once a second (open loop), and the echoes came back.
    assert report["sent"] >= N * DURATION * 0.8, report["sent"]
    assert report["latency_us"]["count"] >= report["sent"] * 0.95, (report["latency_us"]["count"], report["sent"])
    assert stats["ws_messages_in"] >= report["sent"], stats
    # Generous: an idle WebSocket costs a few KiB natively plus the Python handler task.
    assert per_conn < 64 * 1024, f"{per_conn / 1024:.1f} KiB per connection"
