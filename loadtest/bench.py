"""``make bench`` -> ``python -m loadtest.bench [--quick] --report-dir reports/bench``.

Starts every available target pinned to CPU 0, runs each scenario in interleaved rounds with the
generator pinned to CPU 1, writes results.json, appends reports/history.jsonl and renders the
self-contained HTML report. Targets that are not available (not built, not installed) are listed
as such in the report; nothing is estimated for them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

from loadtest import certs, report, runner, scenarios


def machine_info() -> dict:
    info = {"platform": platform.platform(), "python": sys.version.split()[0], "machine": platform.machine()}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in lscpu.splitlines():
            k, _, v = line.partition(":")
            if k.strip() in ("Model name", "CPU(s)", "Thread(s) per core", "Core(s) per socket", "Hypervisor vendor"):
                info[k.strip()] = v.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:
        info["memory"] = Path("/proc/meminfo").read_text().splitlines()[0].split(":")[1].strip()
    except OSError:
        pass
    return info


def git_rev() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=runner.ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def append_history(history: Path, results: dict) -> None:
    """One line per run: medians per scenario and target (the trend plot reads the last runs)."""
    history.parent.mkdir(parents=True, exist_ok=True)
    line = {"run_id": results["run_id"], "started": results["started"], "git": results["git"],
            "quick": results["quick"], "generator": results["generator"]["kind"],
            "medians": {s["id"]: s["median"] for s in results["scenarios"]}}
    with history.open("a") as f:
        f.write(json.dumps(line) + "\n")


def load_history(history: Path, last: int = 20) -> list[dict]:
    if not history.exists():
        return []
    runs = []
    for line in history.read_text().splitlines():
        try:
            runs.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a torn line from an interrupted run must not hide the others
    return runs[-last:]


def run_bench(selected: list, targets: list, generator: runner.Generator, rounds: int, duration: float,
              warmup: float, log_dir: Path, progress=print, tls: certs.TlsFiles | None = None) -> dict:
    """TLS scenarios run against a second server per target, started with ``tls`` (made here when not given)."""
    available = [t for t in targets if t.available]
    if tls is None and any(s.tls for s in selected):
        tls = certs.make(log_dir / "tls")
    total = 0
    for s in selected:
        total += rounds * sum(1 for t in available if s.needs in t.supports)
    counter = [0, total]
    out: list[dict] = []
    mem = [s for s in selected if s.kind == "memory"]
    thr = [s for s in selected if s.kind != "memory"]
    # Memory first, on fresh processes (earlier large-message runs would leave freed memory to reuse).
    for s in mem:
        m = runner.Measurement(s)
        for r in range(rounds):
            for t in available:
                if s.needs in t.supports:
                    m.rounds.setdefault(t.name, []).extend(
                        runner.measure_memory(s, t, 1, log_dir, progress, counter, f"{r + 1}/{rounds}", tls))
        m.skipped = {t.name: t.reason or "scenario not supported" for t in targets
                     if not (t.available and s.needs in t.supports)}
        out.append(m.to_json())
    servers: dict[tuple[str, bool], runner.Server] = {}  # (target, tls) -> its server
    failed: dict[tuple[str, bool], str] = {}
    try:
        for with_tls in (False, True):
            for t in available:
                if not any(s.needs in t.supports and s.tls == with_tls for s in thr):
                    continue
                srv = runner.Server(t, log_dir, tls if with_tls else None)
                try:
                    srv.start()
                    servers[(t.name, with_tls)] = srv
                except RuntimeError as exc:
                    failed[(t.name, with_tls)] = str(exc)
                    progress(f"!! {t.name}{' (TLS)' if with_tls else ''}: {exc}")
        for s in thr:
            subset = {n: srv for (n, with_tls), srv in servers.items()
                      if with_tls == s.tls and s.needs in srv.target.supports}
            progress(f"== {s.title}: {', '.join(subset) or 'no target'}")
            m = runner.measure_throughput(s, subset, generator, rounds, duration, warmup, progress, counter,
                                          bystanders=servers.values())
            m.skipped = {t.name: t.reason or failed.get((t.name, s.tls)) or "scenario not supported"
                         for t in targets if t.name not in subset}
            out.append(m.to_json())
    finally:
        for srv in servers.values():
            srv.stop()
    return {"scenarios": out}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="loadtest.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer scenarios, shorter runs (a few minutes)")
    p.add_argument("--report-dir", default="reports/bench")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, help="measured seconds per run (default 5, quick 2)")
    p.add_argument("--warmup", type=float, help="warm-up seconds per run (default 1, quick 0.5)")
    p.add_argument("--targets", help="comma-separated target names (default: all)")
    p.add_argument("--scenarios", help="comma-separated scenario ids (default: the full or quick set)")
    p.add_argument("--generator", help="path to fasterapi-loadgen, or 'pygen' for the Python fallback")
    p.add_argument("--history", default="reports/history.jsonl")
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error("--rounds must be >= 1")
    duration = args.duration or (2.0 if args.quick else 5.0)  # whole seconds: no partial last timeline bucket
    warmup = args.warmup if args.warmup is not None else (0.5 if args.quick else 1.0)
    selected = scenarios.quick() if args.quick else scenarios.full()
    if args.scenarios:
        wanted = args.scenarios.split(",")
        selected = [scenarios.by_id(s) for s in wanted]
    targets = runner.resolve(runner.default_targets())
    if args.targets:
        names = set(args.targets.split(","))
        targets = [t for t in targets if t.name in names]
    generator = runner.Generator.find(args.generator)
    report_dir = Path(args.report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    print(f"generator: {generator.version}")
    if not generator.native:
        print("!! fasterapi-loadgen not found: using the Python fallback generator; results are client-bound "
              "and marked so in the report")
    for t in targets:
        print(f"target {t.name:<20} {'ok' if t.available else 'NOT AVAILABLE: ' + t.reason}")
    started = dt.datetime.now(dt.timezone.utc)
    t0 = time.monotonic()
    body = run_bench(selected, targets, generator, args.rounds, duration, warmup, report_dir / "logs")
    results = {
        "run_id": started.strftime("%Y%m%dT%H%M%SZ"), "started": started.isoformat(), "git": git_rev(),
        "quick": args.quick, "rounds": args.rounds, "duration_s": duration, "warmup_s": warmup,
        "wall_s": time.monotonic() - t0, "machine": machine_info(),
        "generator": {"kind": "native" if generator.native else "python-fallback", "path": generator.version},
        "targets": [{"name": t.name, "label": t.label, "kind": t.kind, "available": t.available,
                     "reason": t.reason, "version": t.version, "supports": sorted(t.supports), "kind_labels": t.kind_labels,
                     "command": shlex.join(t.command("<port>")) if t.available else ""}
                    for t in targets],
        "command": shlex.join([sys.executable, "-m", "loadtest.bench", *(argv if argv is not None else sys.argv[1:])]),
        **body,
    }
    (report_dir / "results.json").write_text(json.dumps(results, indent=1))
    history = Path(args.history)
    append_history(history, results)
    html = report.write_report(results, report_dir, load_history(history))
    report.write_index(report_dir.parent)
    print(f"report: {html}  ({results['wall_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
