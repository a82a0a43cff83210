"""The conformance gate is real: it fails on a broken server and passes on a correct one.

These tests run the actual Autobahn fuzzingclient (provisioned on first use into
~/.cache/fasterapi/wstest, reused afterwards) through `python -m conformance run`.
"""

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

from conformance import gate  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def _conformance(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "conformance", *args], cwd=REPO, env=_env(), text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)


@pytest.fixture(scope="module")
def wstest() -> None:
    # First use on a fresh machine downloads Python 2.7 and the testsuite (~30 s to minutes).
    proc = _conformance("provision", timeout=1200)
    assert proc.returncode == 0, proc.stdout


def _start(module: str):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", module, "--host", "127.0.0.1", "--port", str(port)],
                            cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None, f"{module} exited early"
            assert time.monotonic() < deadline, f"{module} did not listen"
            time.sleep(0.1)
    return proc, f"ws://127.0.0.1:{port}/"


@pytest.fixture
def broken_server():
    proc, url = _start("conformance.broken_server")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def websockets_echo():
    proc, url = _start("conformance.targets.websockets_echo")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.mark.timeout(1500)
def test_gate_fails_on_broken_server_and_names_the_cases(wstest, broken_server, tmp_path):
    proc = _conformance("run", "--url", broken_server, "--agent", "broken", "--cases", "6.*,7.*",
                        "--report-dir", str(tmp_path))
    out = proc.stdout
    assert proc.returncode == 1, out
    # Progress is shown per case.
    assert "case 1/" in out
    # No UTF-8 validation: invalid text is echoed instead of closing with 1007.
    assert "FAIL 6.3.1: behavior=FAILED behaviorClose=FAILED" in out
    # Invalid close code 0 answered with 1000 instead of 1002.
    assert "FAIL 7.9.1: behavior=FAILED behaviorClose=WRONG CODE" in out
    assert "== conformance gate: FAIL" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["passed"] is False
    target = summary["autobahn"][0]
    assert {"6.3.1", "6.4.1", "7.9.1"} <= set(target["failures"])
    # Valid UTF-8 and a normal close still work, so they are not blamed.
    assert "6.2.1" not in target["failures"] and "7.1.1" not in target["failures"]
    assert target["total"] == sum(target["counts"].values()) > 100
    by_case = {c["case"]: c for c in target["not_ok"]}
    assert by_case["7.9.1"]["behaviorClose"] == "WRONG CODE"
    assert by_case["6.3.1"]["description"]
    report_link = by_case["6.3.1"]["report"]
    assert (tmp_path / report_link).is_file()
    html = (tmp_path / "index.html").read_text()
    assert "7.9.1" in html and "data:image/png;base64," in html and report_link in html


@pytest.mark.timeout(1500)
def test_gate_passes_on_a_correct_server(wstest, websockets_echo, tmp_path):
    proc = _conformance("run", "--url", websockets_echo, "--agent", "websockets", "--cases", "1.*,2.*",
                        "--report-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stdout
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["passed"] is True
    target = summary["autobahn"][0]
    assert target["total"] == 27 and target["failures"] == []
    assert target["counts"] == {"OK": 27}


@pytest.mark.timeout(1500)
def test_allowlist_with_reason_lets_known_failures_pass(wstest, broken_server, tmp_path):
    allow = tmp_path / "allow.toml"
    allow.write_text('[[allow]]\ncase = "7.9.*"\nreason = "broken on purpose"\n'
                     '[[allow]]\ncase = "1.1.1"\nreason = "stale: this case passes"\n')
    proc = _conformance("run", "--url", broken_server, "--agent", "broken", "--cases", "7.9.*,1.1.1",
                        "--allowlist", str(allow), "--report-dir", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stdout
    assert "allowed 7.9.1: broken on purpose" in proc.stdout
    assert "stale allowlist entry 1.1.1" in proc.stdout
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert len(summary["autobahn"][0]["allowed"]) == 9


def test_allowlist_entry_without_reason_is_rejected(tmp_path):
    allow = tmp_path / "allow.toml"
    allow.write_text('[[allow]]\ncase = "7.9.1"\n')
    proc = _conformance("run", "--url", "ws://127.0.0.1:9/", "--allowlist", str(allow),
                        "--report-dir", str(tmp_path / "r"), timeout=60)
    assert proc.returncode == 2
    assert "needs a non-empty reason" in proc.stdout


def test_committed_allowlist_parses():
    entries = gate.load_allowlist(gate.DEFAULT_ALLOWLIST)
    assert all(e.reason for e in entries)


# --- the pass rule itself ----------------------------------------------------------

def test_pass_rule():
    assert gate.passes("OK", "OK")
    assert gate.passes("INFORMATIONAL", "OK")
    assert gate.passes("OK", "INFORMATIONAL")
    for bad in ("NON-STRICT", "UNIMPLEMENTED", "WRONG CODE", "UNCLEAN", "FAILED", "MISSING", "whatever"):
        assert not gate.passes(bad, "OK")
        assert not gate.passes("OK", bad)


def test_evaluate_missing_cases_fail_and_outcome_is_the_worse():
    results = {
        "1.1.1": {"behavior": "OK", "behaviorClose": "OK"},
        "6.4.1": {"behavior": "NON-STRICT", "behaviorClose": "OK"},
        "7.9.1": {"behavior": "FAILED", "behaviorClose": "WRONG CODE"},
        "10.1.1": {"behavior": "INFORMATIONAL", "behaviorClose": "OK"},
    }
    g = gate.evaluate("x", results, ["1.1.1", "6.4.1", "7.9.1", "9.2.1", "10.1.1"], [])
    assert [c.case for c in g.failures] == ["6.4.1", "7.9.1", "9.2.1"]
    assert {c.case: c.outcome for c in g.cases} == {
        "1.1.1": "OK", "6.4.1": "NON-STRICT", "7.9.1": "FAILED", "9.2.1": "MISSING", "10.1.1": "INFORMATIONAL"}
    assert not g.passed
    assert g.by_category()["7"] == {"FAILED": 1}


def test_evaluate_allowlist_agent_scope_and_numeric_order():
    results = {c: {"behavior": "NON-STRICT", "behaviorClose": "OK"} for c in ("9.10.1", "9.2.1")}
    allow = [gate.AllowEntry("9.*", "slow", agent="native")]
    assert gate.evaluate("native", results, None, allow).passed
    g = gate.evaluate("python", results, None, allow)
    assert [c.case for c in g.failures] == ["9.2.1", "9.10.1"]


def test_empty_run_never_passes():
    assert not gate.evaluate("x", {}, [], []).passed


def test_allowlist_rejects_unknown_keys(tmp_path):
    p = tmp_path / "a.toml"
    p.write_text('[[allow]]\ncase = "1.1.1"\nreason = "r"\nexpires = 3\n')
    with pytest.raises(gate.AllowlistError):
        gate.load_allowlist(p)


# --- provisioning ---------------------------------------------------------------------

def test_provision_is_idempotent_and_reuses_the_cache(wstest):
    proc = _conformance("provision", timeout=300)
    assert proc.returncode == 0, proc.stdout
    assert "reusing" in proc.stdout or "docker" in proc.stdout
    launcher = proc.stdout.strip().splitlines()[-1]
    if "docker" not in proc.stdout:
        out = subprocess.run([launcher, "--autobahnversion"], text=True, capture_output=True, timeout=120)
        assert "25.10.1" in out.stdout + out.stderr


def test_mirror_uri_from_deb822_and_one_line_sources(tmp_path, monkeypatch):
    from conformance import provision

    monkeypatch.delenv("FASTERAPI_APT_MIRROR", raising=False)
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "debian.sources").write_text(
        "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n"
        "Components: main\n\nTypes: deb\n# a comment\nURIs: http://mirror.example/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n")
    assert provision.mirror_uri(d, tmp_path / "none.list") == "http://mirror.example/debian"
    (d / "debian.sources").unlink()
    one = tmp_path / "sources.list"
    one.write_text("# deb http://old.example/debian buster main\n"
                   "deb [signed-by=/k.gpg arch=amd64] http://line.example/debian/ bookworm main\n")
    assert provision.mirror_uri(d, one) == "http://line.example/debian"
    one.write_text("")
    assert provision.mirror_uri(d, one) == provision.DEFAULT_MIRROR
    monkeypatch.setenv("FASTERAPI_APT_MIRROR", "http://archive.example/debian/")
    assert provision.mirror_uri(d, one) == "http://archive.example/debian"
