"""Broker benchmark: broadcast through Redis across 2 workers next to one worker without a broker.

    python -m loadtest.broker_bench [--quick] [--report-dir reports/bench]

Same run, interleaved rounds (A B A B ...), server side (both workers and redis-server) pinned
to CPU 0 and the generator to CPU 1, so the two targets get the same CPU budget:
  A  "in-process": loadtest.apps.fasterapi_bench, 1 worker, no broker
  B  "redis-2w":   the same app, --workers 2 --broker redis://... (subscribers spread by SO_REUSEPORT)
1. peak: 1 publisher -> N subscribers at a publish rate above what either sustains; deliveries/s.
2. latency: both at half of A's peak, p50/p99 delivery latency (from the publisher's intended send time).
3. memory: B's workers' RSS sampled while ~1,000,000 messages cross the broker; least-squares slope.
Writes broker.json and broker.md in --report-dir. Reports ratios; absolute numbers vary by day.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from loadtest import runner

PATH = "/broadcast"


def start_redis(workdir: Path) -> tuple[subprocess.Popen, int]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = runner.free_port()
    taskset = ["taskset", "-c", runner.SERVER_CPU] if shutil.which("taskset") else []
    proc = subprocess.Popen(taskset + [binary, "--port", str(port), "--bind", runner.HOST, "--dir", str(workdir),
                                       "--save", "", "--appendonly", "no", "--logfile", str(workdir / "redis.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    if not runner.wait_port(port, proc, 10):
        raise SystemExit("redis-server did not start (make deps installs it)")
    return proc, port


def targets(redis_url: str) -> dict[str, runner.Target]:
    base = ["{python}", "-m", "loadtest.apps.fasterapi_bench", "--handler", "callback", "--host", "{host}",
            "--port", "{port}"]
    return {
        "in-process": runner.Target("in-process", "FasterAPI, 1 worker, no broker", base, frozenset({"broadcast"})),
        "redis-2w": runner.Target("redis-2w", "FasterAPI, 2 workers, Redis broker",
                                  base + ["--workers", "2", "--broker", redis_url], frozenset({"broadcast"})),
    }


def broadcast(gen: runner.Generator, srv: runner.Server, subs: int, rate: int, duration: float) -> dict:
    args = ["ws-broadcast", "--url", srv.base_ws + PATH, "--connections", str(subs), "--rate", str(rate),
            "--size", "64", "--duration", f"{duration:g}", "--warmup", "1"]
    return gen.run(args, timeout=duration + 60)


def started(t: runner.Target) -> runner.Server:
    srv = runner.Server(t)
    srv.start()
    time.sleep(1.0 if "--workers" in t.argv else 0.2)  # both workers listening
    return srv


def summarize(res: dict) -> dict:
    lat = res.get("latency_us") or {}
    return {"deliveries_per_s": res.get("rate_per_s"), "p50_ms": (lat.get("p50") or 0) / 1000,
            "p99_ms": (lat.get("p99") or 0) / 1000, "published": res.get("published"),
            "generator_cpu": (res.get("cpu") or {}).get("utilization"), "error": res.get("error")}


def slope(xs: list[float], ys: list[float]) -> float:
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs) or 1.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den


def memory_run(gen: runner.Generator, t: runner.Target, messages: int, rate: int) -> dict:
    """B's workers' RSS while ``messages`` cross the broker (10 subscribers, ``rate`` publishes/s)."""
    srv = started(t)
    try:
        duration = messages / rate
        samples: list[tuple[float, int]] = []
        done = threading.Event()

        def sample() -> None:
            t0 = time.monotonic()
            while not done.is_set():
                samples.append((time.monotonic() - t0, srv.rss_kib()))
                done.wait(1.0)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        res = broadcast(gen, srv, 10, rate, duration)
        done.set()
        th.join()
        published = res.get("published") or 0
        # Allocator arenas and buffers grow for the first seconds, then plateau: the slope is
        # taken over the second half (the warm-up growth is reported next to it).
        steady = [(s, r) for s, r in samples if s > 0.5 * duration + 1]
        kib_per_s = slope([s for s, _ in steady], [r for _, r in steady]) if len(steady) > 2 else 0.0
        msgs_per_s = published / max(duration + 1, 1)
        return {"messages": published, "duration_s": duration, "rss_kib_samples": [r for _, r in samples],
                "slope_kib_per_100k_messages": kib_per_s / msgs_per_s * 100_000 if msgs_per_s else None,
                "rss_first_kib": samples[0][1] if samples else None, "rss_last_kib": samples[-1][1] if samples else None,
                "rss_half_kib": steady[0][1] if steady else None,
                "error": res.get("error")}
    finally:
        srv.stop()


def locust_run(ts: dict, seconds: int, users: int, out_dir: Path) -> dict:
    """Locust distributed: a master and two worker processes, ChatUser alternating between two
    FasterAPI processes (1 worker each) that share Redis; delivery latency from our histograms."""
    from loadtest.locust_run import merge_histograms, read_stats

    locust = shutil.which("locust") or str(Path(sys.executable).parent / "locust")
    if not Path(locust).exists():
        return {"error": "locust not installed (make install-bench)"}
    servers = [started(runner.Target(f"chat-{i}", "", ts["redis-2w"].argv[:-4] + ts["redis-2w"].argv[-2:],
                                     frozenset())) for i in range(2)]
    out_dir.mkdir(parents=True, exist_ok=True)
    hist = out_dir / "chat-hist"
    shutil.rmtree(hist, ignore_errors=True)
    env = dict(__import__("os").environ, LOADTEST_HIST_OUT=str(hist),
               LOADTEST_CHAT_HOSTS=",".join(s.base_http for s in servers))
    taskset = ["taskset", "-c", runner.GENERATOR_CPU] if shutil.which("taskset") else []
    base = taskset + [locust, "-f", str(runner.ROOT / "loadtest" / "locustfile.py")]
    mport = runner.free_port()
    procs = []
    try:
        master = subprocess.Popen(base + ["--master", "--master-bind-port", str(mport), "--expect-workers", "2",
                                          "--headless", "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
                                          "--host", servers[0].base_http, "--csv", str(out_dir / "chat"),
                                          "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "2",
                                          "ChatUser"], cwd=runner.ROOT, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        procs.append(master)
        for _ in range(2):
            procs.append(subprocess.Popen(base + ["--worker", "--master-host", runner.HOST, "--master-port",
                                                  str(mport), "--loglevel", "WARNING", "ChatUser"],
                                          cwd=runner.ROOT, env=env, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
        try:
            master.wait(seconds + 90)
        except subprocess.TimeoutExpired:
            return {"error": "locust master did not finish"}
        for w in procs[1:]:
            try:
                w.wait(20)
            except subprocess.TimeoutExpired:
                w.kill()
        rows = read_stats(out_dir / "chat_stats.csv")
        ours = merge_histograms(hist)
        return {"users": users, "seconds": seconds, "workers": 2, "servers": 2,
                "locust_rows": [{k: r[k] for k in ("Type", "Name", "Request Count", "Failure Count", "Requests/s",
                                                   "50%", "99%")} for r in rows],
                "delivery_us": {k: {q: h[q] for q in ("count", "p50", "p99")} for k, h in ours.items()}}
    finally:
        for pr in procs:
            if pr.poll() is None:
                pr.kill()
        for s in servers:
            s.stop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="shorter rounds, 100k memory messages")
    p.add_argument("--subscribers", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--peak-rate", type=int, default=2000, help="publishes/s offered in the peak phase")
    p.add_argument("--memory-messages", type=int, default=1_000_000)
    p.add_argument("--memory-rate", type=int, default=10_000)
    p.add_argument("--locust-seconds", type=int, default=20, help="0 skips the distributed Locust chat")
    p.add_argument("--locust-users", type=int, default=100)
    p.add_argument("--report-dir", type=Path, default=Path("reports/bench"))
    a = p.parse_args()
    if a.quick:
        a.rounds, a.duration, a.memory_messages = 2, 3.0, 100_000
    gen = runner.Generator.find()
    work = Path(tempfile.mkdtemp(prefix="broker-bench-"))
    redis, port = start_redis(work)
    out: dict = {"generator": gen.version, "subscribers": a.subscribers, "rounds": a.rounds,
                 "notes": "server side (workers + redis-server) on CPU 0, generator on CPU 1"}
    try:
        ts = targets(f"redis://{runner.HOST}:{port}/0")
        peak: dict[str, list[dict]] = {n: [] for n in ts}
        for r in range(a.rounds):
            for name, t in ts.items():
                srv = started(t)
                try:
                    s = summarize(broadcast(gen, srv, a.subscribers, a.peak_rate, a.duration))
                finally:
                    srv.stop()
                peak[name].append(s)
                print(f"peak round {r + 1} {name}: {s}", file=sys.stderr)
        med = {n: statistics.median([x["deliveries_per_s"] or 0 for x in v]) for n, v in peak.items()}
        out["peak"] = {"rounds": peak, "median_deliveries_per_s": med,
                       "ratio_redis_vs_in_process": med["redis-2w"] / med["in-process"] if med["in-process"] else None}
        half = max(1, int(med["in-process"] / a.subscribers / 2))
        lat: dict[str, list[dict]] = {n: [] for n in ts}
        for r in range(a.rounds):
            for name, t in ts.items():
                srv = started(t)
                try:
                    s = summarize(broadcast(gen, srv, a.subscribers, half, a.duration))
                finally:
                    srv.stop()
                lat[name].append(s)
                print(f"half-peak round {r + 1} {name}: {s}", file=sys.stderr)
        out["half_peak"] = {"publish_rate": half, "rounds": lat,
                            "median_p50_ms": {n: statistics.median([x["p50_ms"] for x in v]) for n, v in lat.items()},
                            "median_p99_ms": {n: statistics.median([x["p99_ms"] for x in v]) for n, v in lat.items()},
                            "median_deliveries_per_s": {n: statistics.median([x["deliveries_per_s"] or 0 for x in v])
                                                        for n, v in lat.items()}}
        out["memory"] = memory_run(gen, ts["redis-2w"], a.memory_messages, a.memory_rate)
        print(f"memory: {out['memory']['slope_kib_per_100k_messages']} KiB per 100k messages", file=sys.stderr)
        if a.locust_seconds:
            out["locust"] = locust_run(ts, a.locust_seconds, a.locust_users, a.report_dir / "broker-locust")
            print(f"locust: {out['locust']}", file=sys.stderr)
    finally:
        redis.kill()
        redis.wait(5)
        shutil.rmtree(work, ignore_errors=True)
    a.report_dir.mkdir(parents=True, exist_ok=True)
    (a.report_dir / "broker.json").write_text(json.dumps(out, indent=1))
    hp = out["half_peak"]
    mem = out["memory"]
    md = [f"# Broadcast through Redis (1 -> {a.subscribers}), {a.rounds} interleaved rounds", "",
          "| | in-process (1 worker) | Redis (2 workers) | ratio |", "|---|---|---|---|",
          f"| peak deliveries/s (median) | {med['in-process']:.0f} | {med['redis-2w']:.0f} | "
          f"{out['peak']['ratio_redis_vs_in_process'] or 0:.2f} |",
          f"| p50 at {hp['publish_rate']} pub/s (half peak) | {hp['median_p50_ms']['in-process']:.2f} ms | "
          f"{hp['median_p50_ms']['redis-2w']:.2f} ms | |",
          f"| p99 at {hp['publish_rate']} pub/s (half peak) | {hp['median_p99_ms']['in-process']:.2f} ms | "
          f"{hp['median_p99_ms']['redis-2w']:.2f} ms | |", "",
          f"RSS of the 2 workers + parent over {mem['messages']} broker messages: {mem['rss_first_kib']} KiB at start, "
          f"{mem['rss_half_kib']} KiB at half time, {mem['rss_last_kib']} KiB at the end; slope over the second half "
          f"{mem['slope_kib_per_100k_messages'] or 0:.1f} KiB per 100k messages.", ""]
    lc = out.get("locust") or {}
    if lc and "error" not in lc:
        md += [f"Locust distributed (master + 2 worker processes, {lc['users']} ChatUsers alternating between 2 "
               f"FasterAPI processes sharing Redis, {lc['seconds']} s):", "",
               "| what | count | req/s | p50 | p99 |", "|---|---|---|---|---|"]
        md += [f"| {r['Type']} {r['Name']} (Locust, ms) | {r['Request Count']} | {float(r['Requests/s']):.1f} | "
               f"{r['50%']} | {r['99%']} |" for r in lc["locust_rows"]]
        md += [f"| {k} (ours, µs) | {h['count']} | | {h['p50']:.0f} | {h['p99']:.0f} |"
               for k, h in lc["delivery_us"].items()]
        md.append("")
    elif lc:
        md += [f"Locust distributed: not run ({lc['error']}).", ""]
    (a.report_dir / "broker.md").write_text("\n".join(md))
    print("\n".join(md))
    from loadtest.broker_report import write_broker_report
    from loadtest.report import write_index

    print(f"report: {write_broker_report(out, a.report_dir)}")
    write_index(a.report_dir.parent)


if __name__ == "__main__":
    main()
