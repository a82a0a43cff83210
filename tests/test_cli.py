"""`fasterapi` command line: --version, run --help, and one-line errors (never a traceback)."""

from __future__ import annotations

import argparse
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import fasterapi
from fasterapi.cli import build_parser

from conftest import subprocess_env

MODULES = {
    "okapp.py": "from fasterapi import App\napp = App()\n\n@app.get('/')\ndef index():\n    return 'ok'\n",
    "needsdep.py": "import fasterapi_no_such_dependency\n",
    "broken_syntax.py": "x = (\n",
    "raises_on_import.py": "from fasterapi import App\napp = App()\nraise ValueError('DATABASE_URL is not set')\n",
}


@pytest.fixture(scope="module")
def cwd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    for name, text in MODULES.items():
        (d / name).write_text(text)
    return d


def fasterapi_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fasterapi", *args], cwd=cwd, env=subprocess_env(),
                          capture_output=True, text=True, timeout=60)


def test_version(cwd: Path) -> None:
    p = fasterapi_cli(cwd, "--version")
    assert p.returncode == 0
    assert p.stdout.strip() == f"fasterapi {fasterapi.__version__}"


def test_run_help_lists_every_option_with_its_default(cwd: Path) -> None:
    p = fasterapi_cli(cwd, "run", "--help")
    assert p.returncode == 0
    # One entry per option: a line "  --flag ..." plus its indented continuation lines; group
    # headings ("development:") are not indented and end the entry before them.
    section = p.stdout.split("\noptions:\n", 1)[1]
    section = "\n".join(line for line in section.splitlines() if line.startswith(" "))
    entries = [" ".join(e.split()) for e in re.split(r"\n(?=  -)", section)]
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    run = sub.choices["run"]
    options = [a for a in run._actions if a.option_strings and a.dest != "help"]
    assert {o.dest for o in options} >= {"host", "port", "workers", "log_level", "loop", "max_restarts_per_minute",
                                         "proxy_headers", "forwarded_allow_ips", "access_log", "timeout_keep_alive",
                                         "limit_concurrency", "timeout_graceful_shutdown", "reload", "reload_dir"}
    for action in options:
        flag = action.option_strings[0]  # "--access-log" of "--access-log, --no-access-log"
        entry = next((e for e in entries if re.match(rf"(-\w, )?{re.escape(flag)}\b", e)), "")
        m = re.search(r"\(default: ([^)]*)\)$", entry)
        assert m, f"{flag} is not listed with its default in:\n{p.stdout}"
        assert m.group(1) == str(action.default), (flag, m.group(1), action.default)


def _one_error_line(p: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in p.stderr, p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("error: "), p.stderr
    return lines[0]


@pytest.mark.parametrize("args, status, expected", [
    (["run", "nocolon"], 2, "expected 'module:app'"),
    (["run", "okapp:"], 2, "expected 'module:app'"),
    (["run", "no_such_module_here:app"], 2, "no module named 'no_such_module_here'"),
    (["run", "okapp:application"], 2, "has no attribute 'application'"),
    (["run", "okapp:index"], 2, "not a fasterapi.App"),
    (["run", "needsdep:app"], 2, "No module named 'fasterapi_no_such_dependency'"),
    (["run", "broken_syntax:app"], 2, "SyntaxError"),
    (["run", "raises_on_import:app"], 2, "ValueError: DATABASE_URL is not set"),
    (["run", "okapp:app", "--port", "70000"], 2, "--port"),
    (["run", "okapp:app", "--workers", "0"], 2, "--workers"),
    (["run", "okapp:app", "--workers", "2", "--port", "0"], 2, "needs a fixed --port"),
    (["run", "okapp:app", "--no-such-option"], 2, "--no-such-option"),
    (["run"], 2, "app"),
    (["run", "okapp:app", "--host", "no-such-host.invalid"], 1, "unknown host 'no-such-host.invalid'"),
    (["run", "okapp:app", "--forwarded-allow-ips", "127.0.0.1,proxy.local"], 2,
     "--forwarded-allow-ips: 'proxy.local' is not an IP address or network"),
    (["run", "okapp:app", "--forwarded-allow-ips", "10.0.0.0/40"], 2, "'10.0.0.0/40'"),
    (["run", "okapp:app", "--timeout-keep-alive", "0"], 2, "--timeout-keep-alive: must be > 0"),
    (["run", "okapp:app", "--timeout-keep-alive", "soon"], 2, "not a number of seconds: 'soon'"),
    (["run", "okapp:app", "--timeout-keep-alive", "1e9"], 2, "<= 86400 seconds"),
    (["run", "okapp:app", "--timeout-graceful-shutdown", "-1"], 2, "--timeout-graceful-shutdown: must be >= 0"),
    (["run", "okapp:app", "--limit-concurrency", "0"], 2, "--limit-concurrency: must be >= 1"),
    (["run", "okapp:app", "--log-level", "loud"], 2, "--log-level: invalid choice: 'loud'"),
    (["run", "okapp:app", "--reload", "--workers", "2", "--port", "8000"], 2, "--reload runs one worker"),
    (["run", "okapp:app", "--reload-dir", "."], 2, "--reload-dir needs --reload"),
    (["run", "okapp:app", "--reload", "--reload-dir", "no/such/dir"], 2, "--reload-dir 'no/such/dir' is not a directory"),
])
def test_errors_are_one_line(cwd: Path, args: list[str], status: int, expected: str) -> None:
    p = fasterapi_cli(cwd, *args)
    line = _one_error_line(p)
    assert p.returncode == status, p.stderr
    assert expected in line


@pytest.mark.parametrize("workers", ["1", "2"])
def test_port_in_use_is_one_line_naming_host_port(cwd: Path, workers: str) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        p = fasterapi_cli(cwd, "run", "okapp:app", "--port", str(port), "--workers", workers)
    line = _one_error_line(p)
    assert p.returncode == 1
    assert f"127.0.0.1:{port}" in line and "in use" in line and "--port" in line


def test_bad_forwarded_allow_ips_environment_is_one_line(cwd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.1;10.0.0.2")
    p = fasterapi_cli(cwd, "run", "okapp:app", "--port", "0")
    assert p.returncode == 2
    assert "env FORWARDED_ALLOW_IPS: '10.0.0.1;10.0.0.2' is not an IP address" in _one_error_line(p)


@pytest.mark.parametrize("kwargs, expected", [
    ({"forwarded_allow_ips": "nope"}, "'nope' is not an IP address or network"),
    ({"timeout_keep_alive": 0}, "timeout_keep_alive must be > 0"),
    ({"limit_concurrency": 0}, "limit_concurrency must be >= 1"),
    ({"timeout_graceful_shutdown": -1}, "timeout_graceful_shutdown must be >= 0"),
    ({"log_level": "loud"}, "log_level must be one of critical, error, warning, info, debug, trace"),
])
def test_app_run_bad_values_raise_value_error(kwargs: dict, expected: str) -> None:
    with pytest.raises(ValueError, match=re.escape(expected)):
        fasterapi.App().run(port=0, **kwargs)


def test_app_run_port_in_use_raises_listen_error(cwd: Path) -> None:
    from fasterapi.server import ListenError

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        app = fasterapi.App()
        with pytest.raises(ListenError) as info:
            app.run(host="127.0.0.1", port=port)
    assert str(info.value).startswith(f"cannot listen on 127.0.0.1:{port}: Address already in use")
    assert "\n" not in str(info.value)
    assert isinstance(info.value, OSError)


def test_startup_hook_failure_is_logged_then_summed_up(cwd: Path) -> None:
    (cwd / "startup_fails_one.py").write_text(
        "from fasterapi import App\napp = App()\n\n@app.on_startup\ndef connect():\n"
        "    raise RuntimeError('cannot reach the database')\n")
    p = fasterapi_cli(cwd, "run", "startup_fails_one:app", "--port", "0")
    assert p.returncode == 1
    lines = p.stderr.splitlines()
    assert lines[-1] == "error: the app failed: RuntimeError: cannot reach the database (traceback above)"
    assert "startup_fails_one.py" in p.stderr  # the traceback points into the app
