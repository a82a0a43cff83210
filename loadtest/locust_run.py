"""``make loadtest`` -> ``python -m loadtest.locust_run --report-dir reports/bench``.

Starts an example app (the FasterAPI bench app when fasterapi.App exists, otherwise the aiohttp
peer, and says which), runs each Locust user class headless for a short time, merges Locust's CSV
with our microsecond histograms into reports/bench/locust/summary.json, and folds it into the
bench report (re-rendered from results.json when a bench run exists; a standalone page otherwise).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from loadtest import runner
from loadtest.histogram import Histogram, percentile_from_compact

SCENARIOS = [  # (user class, users, spawn rate, what it shows)
    ("WSEchoUser", 20, 20, "WebSocket echo, closed loop"),
    ("ChatUser", 50, 50, "chat rooms, per-recipient delivery latency"),
    ("SSEUser", 10, 10, "SSE: time to first event, inter-event gap, reconnect with Last-Event-ID"),
    ("HTTPUser", 20, 20, "HTTP keep-alive GET /plaintext and /json"),
    ("NativeLoadgenUser", 1, 1, "one Locust user driving the native generator"),
]


def pick_target() -> runner.Target:
    targets = {t.name: t for t in runner.resolve(runner.default_targets())}
    fa = targets["fasterapi-async"]
    if fa.available:
        return fa
    return targets["aiohttp"]


def _brief(row: dict) -> str:
    """'name 123.4 req/s p50 567 µs', leaving out what the row does not have."""
    parts = [row["name"]]
    if row["req/s"]:
        parts.append(f"{row['req/s']} req/s")
    if row["our p50 µs"]:
        parts.append(f"p50 {row['our p50 µs']} µs")
    return " ".join(parts)


def read_stats(csv_path: Path) -> list[dict]:
    if not csv_path.exists():
        return []
    with csv_path.open() as f:
        return [r for r in csv.DictReader(f) if r.get("Name") != "Aggregated"]


def merge_histograms(hist_dir: Path) -> dict[str, dict]:
    merged: dict[str, list] = {}
    for f in sorted(hist_dir.glob("hist-*.json")):
        for name, data in json.loads(f.read_text()).items():
            merged.setdefault(name, []).extend(data["histogram_us"])
    out = {}
    for name, buckets in merged.items():
        h = Histogram()
        for upper, count in buckets:
            h.record(upper, count)
        out[name] = {"count": h.count, **{f"p{p}".replace(".", ""): percentile_from_compact(h.compact(), p)
                                          for p in (50, 90, 99, 99.9)}}
    return out


def figure(rows: list[dict]) -> str | None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = [r for r in rows if r.get("our p50 µs") not in ("", None)]
    if not rows:
        return None
    from loadtest.report import _png
    names = [f"{r['user']}: {r['name']}" for r in rows]
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(rows) + 1.3))
    y = range(len(rows))
    p50 = [float(r["our p50 µs"]) for r in rows]
    p99 = [float(r["our p99 µs"]) for r in rows]
    ax.barh([i + 0.2 for i in y], p99, height=0.4, color="#ff7f0e", label="p99")
    ax.barh([i - 0.2 for i in y], p50, height=0.4, color="#1f77b4", label="p50")
    for i in y:
        ax.text(p99[i], i + 0.2, f" {p99[i]:,.0f} µs", va="center", fontsize=7)
        ax.text(p50[i], i - 0.2, f" {p50[i]:,.0f} µs", va="center", fontsize=7)
    ax.set_xscale("log")
    ax.set_yticks(list(y), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("latency, microseconds (our histogram; log)")
    ax.set_title("Locust scenarios: latency percentiles", loc="left", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="loadtest.locust_run", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--report-dir", default="reports/bench")
    p.add_argument("--duration", default="10s", help="per user class (Locust -t)")
    p.add_argument("--users", help="comma-separated user classes (default: all)")
    p.add_argument("--processes", type=int, default=0, help="Locust --processes (0: single process)")
    args = p.parse_args(argv)
    report_dir = Path(args.report_dir)
    out_dir = report_dir / "locust"
    out_dir.mkdir(parents=True, exist_ok=True)
    locust = shutil.which("locust") or str(Path(sys.executable).parent / "locust")
    target = pick_target()
    chosen = [s for s in SCENARIOS if not args.users or s[0] in args.users.split(",")]
    if runner.find_tool("fasterapi-loadgen") is None:
        chosen = [s for s in chosen if s[0] != "NativeLoadgenUser"]
        print("locust_run: fasterapi-loadgen not found; NativeLoadgenUser skipped")
    print(f"locust_run: target {target.label} ({target.name})"
          + ("" if target.kind == "fasterapi" else " — FasterAPI not available yet, using a peer"))
    rows: list[dict] = []
    with runner.Server(target, out_dir / "logs") as srv:
        for user, n, rate, what in chosen:
            prefix = out_dir / user
            hist_dir = out_dir / f"{user}-hist"
            shutil.rmtree(hist_dir, ignore_errors=True)
            cmd = ["taskset", "-c", runner.GENERATOR_CPU] if shutil.which("taskset") else []
            cmd += [locust, "-f", str(runner.ROOT / "loadtest" / "locustfile.py"), "--host", srv.base_http,
                    "--headless", "-u", str(n), "-r", str(rate), "-t", args.duration, "--csv", str(prefix),
                    "--html", str(prefix) + ".html", "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "2"]
            if args.processes:
                cmd += ["--processes", str(args.processes)]
            cmd.append(user)
            print(f"locust_run: {user} ({what}): {' '.join(cmd)}", flush=True)
            env = dict(os.environ, LOADTEST_HIST_OUT=str(hist_dir))
            cp = subprocess.run(cmd, cwd=runner.ROOT, env=env, capture_output=True, text=True, timeout=600)
            if cp.returncode not in (0, 1):  # 1: some requests failed (shown in the table)
                print(cp.stderr[-2000:], file=sys.stderr)
            ours = merge_histograms(hist_dir)
            for r in read_stats(Path(str(prefix) + "_stats.csv")):
                key = f"{r['Type']} {r['Name']}"
                h = ours.get(key, {})
                rows.append({"user": user, "name": r["Name"], "type": r["Type"], "requests": r["Request Count"],
                             "failures": r["Failure Count"], "req/s": f"{float(r['Requests/s']):.1f}",
                             "locust p50 ms": r["50%"], "locust p99 ms": r["99%"],
                             "our p50 µs": f"{h['p50']:.0f}" if h else "", "our p99 µs": f"{h['p99']:.0f}" if h else "",
                             "our p99.9 µs": f"{h['p999']:.0f}" if h else ""})
            csv_keys = {f"{r['type']} {r['name']}" for r in rows if r["user"] == user}
            for key, h in ours.items():  # histograms with no Locust row (e.g. the native burst's messages)
                if key not in csv_keys:
                    kind, _, name = key.partition(" ")
                    rows.append({"user": user, "name": name, "type": kind, "requests": h["count"], "failures": "",
                                 "req/s": "", "locust p50 ms": "", "locust p99 ms": "", "our p50 µs": f"{h['p50']:.0f}",
                                 "our p99 µs": f"{h['p99']:.0f}", "our p99.9 µs": f"{h['p999']:.0f}"})
            print(f"locust_run: {user}: " + "; ".join(_brief(r) for r in rows if r["user"] == user), flush=True)
    summary = {"description": f"Locust {args.duration} per user class against {target.label}, Locust on CPU 1, "
                              f"server on CPU 1's sibling CPU 0. 'our' columns: microsecond histograms kept by the "
                              f"locustfile; Locust's own columns are rounded to milliseconds.",
               "target": target.name, "rows": rows, "figure": figure(rows),
               "html": " ".join(f"locust/{u}.html" for u, *_ in chosen)}
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=1))
    from loadtest import bench, report
    results_json = report_dir / "results.json"
    if results_json.exists():
        results = json.loads(results_json.read_text())
        page = report.write_report(results, report_dir, bench.load_history(report_dir.parent / "history.jsonl"))
    else:
        page = out_dir / "index.html"
        page.write_text(f"<!doctype html><meta charset=utf-8><title>Locust</title><style>{report.CSS}</style>"
                        + report.locust_section(report_dir))
    report.write_index(report_dir.parent)
    print(f"locust_run: report {page}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
