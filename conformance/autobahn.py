"""Run the Autobahn fuzzingclient against one WebSocket server and gate it.

``run_target`` writes the fuzzingclient spec, runs wstest while printing one
progress line per case (parsed from wstest's own output), reads its
``index.json`` and applies :mod:`conformance.gate`. The suite's own HTML and
JSON stay in ``outdir``; the caller writes our summary and report.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from conformance import gate
from conformance.provision import Wstest

_TOTAL_RE = re.compile(r"^Ok, will run (\d+) test cases")
_CASES_RE = re.compile(r"^Cases = (\[.*\])\s*$")
_RUNNING_RE = re.compile(r"^Running test case ID (\S+) for agent")
_CONNFAIL_RE = re.compile(r"^Connection to (\S+) failed \((.*)\)")


class AutobahnError(RuntimeError):
    """wstest could not run or produced no report."""


def split_patterns(text: str | None) -> list[str]:
    if not text:
        return []
    return [p.strip() for p in text.split(",") if p.strip()]


def write_spec(outdir: Path, url: str, agent: str, cases: list[str],
               exclude: list[str] | None = None) -> Path:
    outdir.mkdir(parents=True, exist_ok=True)
    spec = {
        "outdir": str(outdir.resolve()),
        "servers": [{"agent": agent, "url": url}],
        "cases": cases or ["*"],
        "exclude-cases": exclude or [],
        "exclude-agent-cases": {},
    }
    path = outdir / "fuzzingclient.json"
    path.write_text(json.dumps(spec, indent=2) + "\n")
    return path


@dataclasses.dataclass
class TargetRun:
    agent: str
    url: str
    outdir: Path
    gate: gate.GateResult
    wall_seconds: float
    returncode: int | None
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and self.gate.passed


def _describe(outdir: Path, reportfile: str | None) -> str:
    """The case's description from the suite's per-case JSON (HTML snippets)."""
    if not reportfile:
        return ""
    try:
        data = json.loads((outdir / reportfile).read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        return ""
    return str(data.get("description", ""))


def target_to_dict(run: TargetRun, report_root: Path) -> dict:
    """JSON-ready result of one target; paths relative to ``report_root``."""
    try:
        rel = run.outdir.resolve().relative_to(report_root.resolve())
    except ValueError:
        rel = run.outdir.resolve()
    g = run.gate

    def case_dict(c: gate.CaseResult) -> dict:
        html = c.reportfile[:-5] + ".html" if c.reportfile and c.reportfile.endswith(".json") else None
        return {
            "case": c.case,
            "category": gate.category(c.case),
            "behavior": c.behavior,
            "behaviorClose": c.behavior_close,
            "outcome": c.outcome,
            "status": c.status,
            "reason": c.reason,
            "remoteCloseCode": c.remote_close_code,
            "duration_ms": c.duration_ms,
            "description": _describe(run.outdir, c.reportfile),
            "report": f"{rel}/{html}" if html else None,
        }

    return {
        "agent": run.agent,
        "url": run.url,
        "passed": run.passed,
        "error": run.error,
        "returncode": run.returncode,
        "wall_seconds": round(run.wall_seconds, 1),
        "total": len(g.cases),
        "counts": g.counts(),
        "by_category": g.by_category(),
        "suite_report": f"{rel}/index.html",
        "not_ok": [case_dict(c) for c in g.cases if c.outcome != "OK"],
        "failures": [c.case for c in g.failures],
        "allowed": [{"case": c.case, "reason": c.reason} for c in g.allowed],
        "stale_allow": [dataclasses.asdict(e) for e in g.stale_allow],
    }


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def run_target(wstest: Wstest, url: str, agent: str, outdir: Path, cases: list[str] | None = None,
               exclude: list[str] | None = None, allowlist: list[gate.AllowEntry] | None = None,
               stall_timeout: float = 600.0, out=sys.stdout) -> TargetRun:
    """Run the fuzzingclient on ``url`` and gate the result.

    Prints ``[agent] case 12/517 6.3.1 (elapsed)`` lines. A case that makes no
    progress for ``stall_timeout`` seconds stops the run; the cases it never
    reached count as MISSING.
    """
    cases = cases or ["*"]
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    for stale in ("index.json",):
        (outdir / stale).unlink(missing_ok=True)
    spec = write_spec(outdir, url, agent, cases, exclude)
    argv = wstest.command(spec, outdir)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    log_path = outdir / "wstest.log"
    expected: list[str] = []
    total = 0
    done = 0
    error: str | None = None
    last = [time.monotonic()]
    t0 = time.monotonic()
    print(f"[{agent}] wstest fuzzingclient -> {url} cases={','.join(cases)}"
          f"{' exclude=' + ','.join(exclude) if exclude else ''}", file=out, flush=True)
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(argv, cwd=outdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace", start_new_session=True)
        stalled = threading.Event()

        def watchdog() -> None:
            while proc.poll() is None:
                if time.monotonic() - last[0] > stall_timeout:
                    stalled.set()
                    _kill(proc)
                    return
                time.sleep(1.0)

        threading.Thread(target=watchdog, daemon=True).start()
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                log.write(line)
                line = line.rstrip("\n")
                last[0] = time.monotonic()
                if m := _TOTAL_RE.match(line):
                    total = int(m.group(1))
                    print(f"[{agent}] {total} cases to run", file=out, flush=True)
                elif m := _CASES_RE.match(line):
                    try:
                        expected = [str(c) for c in ast.literal_eval(m.group(1))]
                    except (ValueError, SyntaxError):
                        expected = []
                elif m := _RUNNING_RE.match(line):
                    done += 1
                    print(f"[{agent}] case {done}/{total or '?'} {m.group(1)} "
                          f"({time.monotonic() - t0:.0f} s)", file=out, flush=True)
                elif m := _CONNFAIL_RE.match(line):
                    error = f"connection to {m.group(1)} failed: {m.group(2)}"
                    print(f"[{agent}] {error}", file=out, flush=True)
                elif line.startswith(("Traceback", "Error", "Unhandled")):
                    print(f"[{agent}] wstest: {line}", file=out, flush=True)
        except KeyboardInterrupt:
            _kill(proc)
            raise
        rc = proc.wait()
    wall = time.monotonic() - t0
    if stalled.is_set():
        error = f"no progress for {stall_timeout:.0f} s after {done} cases; wstest stopped"
    results: dict[str, dict] = {}
    index = outdir / "index.json"
    if index.exists():
        try:
            results = json.loads(index.read_text(encoding="utf-8")).get(agent, {})
        except ValueError as e:
            error = error or f"unreadable index.json: {e}"
    elif error is None:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
        error = f"wstest exited {rc} without writing index.json:\n{tail}"
    if not expected and not results and error is None:
        error = "wstest ran no case (check --cases patterns)"
    g = gate.evaluate(agent, results, expected, allowlist or [])
    status = "PASS" if error is None and g.passed else "FAIL"
    print(f"[{agent}] {status}: {len(g.cases)} cases, {len(g.failures)} failing, {len(g.allowed)} allowlisted, "
          f"{wall:.0f} s", file=out, flush=True)
    return TargetRun(agent, url, outdir, g, wall, rc, error)
