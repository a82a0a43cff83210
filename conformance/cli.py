"""python -m conformance <command> [options]

Commands:
  provision   provision Autobahn wstest (cached in ~/.cache/fasterapi/wstest)
  run         run the Autobahn fuzzingclient against one server and apply the gate
  http        run the HTTP/1.1 edge-case suite against one server
  sse         run the SSE (WHATWG EventSource) suite against one endpoint
  hostile     run the hostile-input suite (42 attacks) against one server
  all         start the FasterAPI targets, run everything, write the combined report
              (what `make conformance` calls)

Each command exits 0 only when its gate passes. `<command> --help` for options.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from conformance import gate

REPO = Path(__file__).resolve().parent.parent


def _argv() -> list[str]:
    return [sys.executable, "-m", "conformance", *sys.argv[1:]]


def _agent_from_url(url: str) -> str:
    u = urlsplit(url)
    return f"{u.hostname}-{u.port}" if u.port else str(u.hostname)


def _load_allowlist(path: str | None) -> list[gate.AllowEntry] | None:
    try:
        return gate.load_allowlist(Path(path) if path else gate.DEFAULT_ALLOWLIST)
    except gate.AllowlistError as e:
        print(f"allowlist error: {e}", file=sys.stderr, flush=True)
        return None


# --- run ------------------------------------------------------------------------

def cmd_run(argv: list[str]) -> int:
    from conformance import autobahn, provision, report

    p = argparse.ArgumentParser(prog="python -m conformance run",
                                description="Autobahn fuzzingclient + gate against one WebSocket server.")
    p.add_argument("--url", required=True, help="ws://HOST:PORT/PATH of the server under test")
    p.add_argument("--agent", help="name used in the reports (default HOST-PORT)")
    p.add_argument("--cases", default="*", help='comma-separated case patterns (default "*": all 517)')
    p.add_argument("--exclude", default="", help="comma-separated case patterns to skip (none by default)")
    p.add_argument("--report-dir", help="output folder (default reports/conformance/run-AGENT)")
    p.add_argument("--allowlist", help=f"allowlist TOML (default {gate.DEFAULT_ALLOWLIST.relative_to(REPO)})")
    p.add_argument("--stall-timeout", type=float, default=600.0,
                   help="stop when no case starts for this many seconds (default 600)")
    a = p.parse_args(argv)
    agent = a.agent or _agent_from_url(a.url)
    allow = _load_allowlist(a.allowlist)
    if allow is None:
        return 2
    report_dir = Path(a.report_dir or REPO / "reports" / "conformance" / f"run-{agent}")
    try:
        w = provision.provision()
    except provision.ProvisionError as e:
        print(f"provisioning wstest failed: {e}", file=sys.stderr, flush=True)
        return 2
    run = autobahn.run_target(w, a.url, agent, report_dir / "autobahn" / agent,
                              autobahn.split_patterns(a.cases), autobahn.split_patterns(a.exclude),
                              allow, stall_timeout=a.stall_timeout)
    summary = report.build_summary([autobahn.target_to_dict(run, report_dir)], argv=_argv(),
                                   wstest_version=w.version)
    index = report.write_report(report_dir, summary)
    report.print_summary(summary)
    print(f"report: {index}", flush=True)
    return 0 if summary["passed"] else 1


# --- http / sse -------------------------------------------------------------------

def cmd_http(argv: list[str]) -> int:
    from conformance import http_suite, report

    p = argparse.ArgumentParser(prog="python -m conformance http",
                                description="HTTP/1.1 edge-case suite (raw sockets).")
    p.add_argument("--url", required=True, help="http://HOST:PORT of an app with GET / and POST /echo")
    p.add_argument("--report-dir", help="write summary.json and index.html there too")
    a = p.parse_args(argv)
    res = http_suite.run_suite(a.url, progress=True)
    summary = report.build_summary([], http=res, argv=_argv())
    report.print_summary(summary)
    if a.report_dir:
        print(f"report: {report.write_report(Path(a.report_dir), summary)}")
    return 0 if res["passed"] else 1


def cmd_sse(argv: list[str]) -> int:
    from conformance import report, sse_suite

    p = argparse.ArgumentParser(prog="python -m conformance sse",
                                description="SSE suite: WHATWG EventSource parsing of a conformance stream.")
    p.add_argument("--url", required=True, help="http://HOST:PORT/sse/conformance")
    p.add_argument("--report-dir", help="write summary.json and index.html there too")
    a = p.parse_args(argv)
    res = sse_suite.run_suite(a.url, progress=True)
    summary = report.build_summary([], sse=res, argv=_argv())
    report.print_summary(summary)
    if a.report_dir:
        print(f"report: {report.write_report(Path(a.report_dir), summary)}")
    return 0 if res["passed"] else 1


# --- all ------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(host: str, port: int, proc: subprocess.Popen, timeout: float = 60.0) -> str | None:
    """None when ``host:port`` accepts connections, else why not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"exited with status {proc.returncode} before listening"
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return None
        except OSError:
            time.sleep(0.2)
    return f"not listening on {host}:{port} after {timeout:.0f} s"


class Server:
    """A target process started for the run, stopped (by its own pid) afterwards."""

    def __init__(self, name: str, argv: list[str], log: Path):
        self.name, self.argv = name, argv
        self.log_path = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log, "w", encoding="utf-8")
        print(f"[all] starting {name}: {shlex.join(argv)}", flush=True)
        # `python examples/x.py` puts examples/ first on sys.path; the repo root (whose
        # fasterapi/ the Makefile keeps in sync with the build) goes after any caller's PYTHONPATH.
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), str(REPO)) if p)
        env["PYTHONUNBUFFERED"] = "1"
        try:
            self.proc: subprocess.Popen | None = subprocess.Popen(
                argv, cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            self.error: str | None = None
        except OSError as e:
            self.proc, self.error = None, f"cannot start: {e}"

    def wait(self, host: str, port: int) -> str | None:
        if self.proc is None:
            return self.error
        why = wait_port(host, port, self.proc)
        if why:
            self._log.flush()
            tail = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-10:])
            why = f"{why}; log tail:\n{tail}" if tail else why
        return why

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def make_tls_files(directory: Path) -> dict[str, str]:
    """A throw-away CA and a server certificate for localhost/127.0.0.1, made now (trustme)."""
    import trustme

    directory.mkdir(parents=True, exist_ok=True)
    server = trustme.CA().issue_cert("localhost", "127.0.0.1", "::1")
    certfile, keyfile = directory / "server.pem", directory / "server.key"
    server.cert_chain_pems[0].write_to_path(certfile)
    for pem in server.cert_chain_pems[1:]:
        pem.write_to_path(certfile, append=True)
    server.private_key_pem.write_to_path(keyfile)
    return {"{certfile}": str(certfile), "{keyfile}": str(keyfile)}


def default_targets(host: str) -> list[dict]:
    """What `make conformance` runs. Ports are picked free at start; {certfile}/{keyfile} are
    made at start too. The *-tls targets run the same suites over wss:// and https://."""
    py = sys.executable
    bindir = Path(sys.executable).parent
    tls = ["--ssl-certfile", "{certfile}", "--ssl-keyfile", "{keyfile}"]
    return [
        {"name": "fasterapi-python", "kind": "ws", "path": "/",
         "argv": [py, "examples/websocket_demo.py", "--host", host, "--port", "{port}"]},
        {"name": "fasterapi-python-tls", "kind": "ws", "path": "/", "tls": True,
         "argv": [py, "-m", "fasterapi", "run", "examples.websocket_demo:app", "--host", host, "--port", "{port}",
                  *tls]},
        {"name": "fasterapi-native", "kind": "ws", "path": "/",
         "argv": [str(bindir / "fasterapi-echo"), "--host", host, "--port", "{port}"]},
        {"name": "fasterapi-app", "kind": "http+sse", "path": "/sse/conformance",
         "argv": [py, "examples/conformance_app.py", "--host", host, "--port", "{port}"]},
        {"name": "fasterapi-app-tls", "kind": "http+sse", "path": "/sse/conformance", "tls": True,
         "argv": [py, "-m", "fasterapi", "run", "examples.conformance_app:app", "--host", host, "--port", "{port}",
                  *tls]},
        # The hostile-input suite needs the hardening routes and a short request timeout
        # (slowloris attacks must be cut well inside the suite's slow limit).
        {"name": "fasterapi-hardening", "kind": "hostile", "path": "/",
         "argv": [py, "tests/apps/hardening_app.py", "--host", host, "--port", "{port}",
                  "--request-timeout", "2"]},
    ]


def _error_suite(url: str, error: str) -> dict:
    return {"url": url, "passed": False, "error": error, "total": 0, "failed": 0, "cases": []}


def cmd_all(argv: list[str]) -> int:
    from conformance import autobahn, hostile, http_suite, provision, report, sse_suite

    p = argparse.ArgumentParser(prog="python -m conformance all",
                                description="Start the FasterAPI targets, run Autobahn (every case) on each "
                                            "WebSocket target plus the HTTP and SSE suites; combined report.")
    p.add_argument("--report-dir", default=str(REPO / "reports" / "conformance"))
    p.add_argument("--cases", default="*", help='Autobahn case patterns (default "*": all cases)')
    p.add_argument("--allowlist", help="allowlist TOML (default conformance/allowlist.toml)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--only", default="", help="comma-separated target names to run (default: all)")
    p.add_argument("--ws-python", help="override: argv of the Python-handler WS server ({port} is replaced)")
    p.add_argument("--ws-native", help="override: argv of the native echo server ({port} is replaced)")
    p.add_argument("--app", help="override: argv of the HTTP/SSE conformance app ({port} is replaced)")
    p.add_argument("--hardening-app", help="override: argv of the hostile-suite app ({port} is replaced)")
    p.add_argument("--stall-timeout", type=float, default=600.0)
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                   help="targets run side by side (default: one per CPU core)")
    a = p.parse_args(argv)
    allow = _load_allowlist(a.allowlist)
    if allow is None:
        return 2
    report_dir = Path(a.report_dir)
    targets = default_targets(a.host)
    overrides = {"fasterapi-python": a.ws_python, "fasterapi-native": a.ws_native, "fasterapi-app": a.app,
                 "fasterapi-hardening": a.hardening_app}
    for t in targets:
        if overrides.get(t["name"]):
            t["argv"] = shlex.split(overrides[t["name"]])
    only = set(autobahn.split_patterns(a.only))
    if only:
        targets = [t for t in targets if t["name"] in only]
    w = None
    wstest_version = None
    if any(t["kind"] == "ws" for t in targets):
        try:
            w = provision.provision()
            wstest_version = w.version
        except provision.ProvisionError as e:
            print(f"provisioning wstest failed: {e}", file=sys.stderr, flush=True)
            return 2
    cases = autobahn.split_patterns(a.cases)

    tls_files = make_tls_files(report_dir / "tls") if any(t.get("tls") for t in targets) else {}

    def run_one(t: dict) -> dict:
        """One target from start to stop: its WS result, or its HTTP and SSE results."""
        port = free_port()
        subst = {"{port}": str(port), **tls_files}
        argv = []
        for arg in t["argv"]:
            for k, v in subst.items():
                arg = arg.replace(k, v)
            argv.append(arg)
        server = Server(t["name"], argv, report_dir / "logs" / f"{t['name']}.log")
        suffix = "_tls" if t.get("tls") else ""
        try:
            why = server.wait(a.host, port)
            if t["kind"] == "ws":
                url = f"{'wss' if t.get('tls') else 'ws'}://{a.host}:{port}{t['path']}"
                if why:
                    print(f"[all] {t['name']} did not start: {why}", flush=True)
                    return {"ws": {"agent": t["name"], "url": url, "passed": False,
                                   "error": f"server did not start: {why}", "returncode": None,
                                   "wall_seconds": 0, "total": 0, "counts": {}, "by_category": {},
                                   "suite_report": "", "not_ok": [], "failures": [], "allowed": [],
                                   "stale_allow": []}}
                assert w is not None
                run = autobahn.run_target(w, url, t["name"], report_dir / "autobahn" / t["name"], cases,
                                          None, allow, stall_timeout=a.stall_timeout)
                return {"ws": autobahn.target_to_dict(run, report_dir)}
            base = f"{'https' if t.get('tls') else 'http'}://{a.host}:{port}"
            if t["kind"] == "hostile":
                if why:
                    print(f"[all] {t['name']} did not start: {why}", flush=True)
                    return {"hostile": _error_suite(base, f"server did not start: {why}")}
                return {"hostile": hostile.run_suite(base, server.proc.pid if server.proc else None,
                                                     slow_limit=8, progress=True)}
            if why:
                print(f"[all] {t['name']} did not start: {why}", flush=True)
                return {"http" + suffix: _error_suite(base, f"server did not start: {why}"),
                        "sse" + suffix: _error_suite(base + t["path"], f"server did not start: {why}")}
            return {"http" + suffix: http_suite.run_suite(base, progress=True),
                    "sse" + suffix: sse_suite.run_suite(base + t["path"], progress=True)}
        finally:
            server.stop()

    # wstest is one single-threaded Python 2 process per target: running the targets side
    # by side (one per core by default) roughly divides the wall time by the job count.
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
        results = list(pool.map(run_one, targets))
    ws_results = [r["ws"] for r in results if "ws" in r]
    suites = {key: next((r[key] for r in results if key in r), None) for _, key in report.SUITES}
    summary = report.build_summary(ws_results, argv=_argv(), wstest_version=wstest_version, **suites)
    index = report.write_report(report_dir, summary)
    report.print_summary(summary)
    print(f"report: {index}", flush=True)
    return 0 if summary["passed"] else 1


def cmd_hostile(argv: list[str]) -> int:
    from conformance import hostile
    return hostile.main(argv)


COMMANDS = {"run": cmd_run, "http": cmd_http, "sse": cmd_sse, "hostile": cmd_hostile, "all": cmd_all}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "provision":
        from conformance import provision
        return provision.main(rest)
    if cmd in COMMANDS:
        os.environ.setdefault("PYTHONUNBUFFERED", "1")
        return COMMANDS[cmd](rest)
    print(f"unknown command {cmd!r}\n{__doc__}", file=sys.stderr)
    return 2
