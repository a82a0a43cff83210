"""The broker benchmark's HTML page (reports/bench/broker.html), pictures first: peak deliveries
through Redis next to one worker without a broker, delivery latency at half that peak, a worker's
memory over the broker messages, then the numbers and the distributed Locust chat.

``write_broker_report(out, report_dir)``: ``out`` is what loadtest.broker_bench writes to broker.json.
"""

from __future__ import annotations

import html
from pathlib import Path

from loadtest.report import CSS, _img, _png, _table, plt

LABELS = {"in-process": "1 worker, no broker", "redis-2w": "2 workers through Redis"}
COLORS = {"in-process": "#1f77b4", "redis-2w": "#d62728"}


def _figure(out: dict) -> str:
    peak, hp, mem = out["peak"]["median_deliveries_per_s"], out["half_peak"], out["memory"]
    names = [n for n in LABELS if n in peak]
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    ax = axes[0]
    ax.bar([LABELS[n] for n in names], [peak[n] for n in names], color=[COLORS[n] for n in names])
    ax.set_title(f"peak deliveries/s, 1 -> {out['subscribers']} (higher is better)", fontsize=10)
    ax = axes[1]
    width = 0.38
    for i, n in enumerate(names):
        vals = [hp["median_p50_ms"][n], hp["median_p99_ms"][n]]
        ax.bar([x + (i - 0.5) * width for x in range(2)], vals, width, label=LABELS[n], color=COLORS[n])
    ax.set_xticks(range(2), ["p50", "p99"])
    ax.set_ylabel("ms")
    ax.set_title(f"delivery latency at {hp['publish_rate']} publishes/s (lower is better)", fontsize=10)
    ax.legend(fontsize=8)
    ax = axes[2]
    xs = [0, mem["messages"] // 2, mem["messages"]]
    ys = [mem.get("rss_first_kib"), mem.get("rss_half_kib"), mem.get("rss_last_kib")]
    pts = [(x, y / 1024) for x, y in zip(xs, ys) if y is not None]
    ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", color=COLORS["redis-2w"])
    ax.set_ylim(bottom=0)
    ax.set_xlabel("broker messages")
    ax.set_ylabel("MiB")
    ax.set_title("RSS of 2 workers + parent (flat is good)", fontsize=10)
    for a in axes:
        a.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def _locust(lc: dict) -> str:
    if not lc:
        return ""
    if "error" in lc:
        return f"<h2>Locust distributed chat</h2><p>Not run: {html.escape(str(lc['error']))}</p>"
    rows = [[html.escape(f"{r['Type']} {r['Name']}"), r["Request Count"], f"{float(r['Requests/s']):.1f}",
             f"{r['50%']} ms", f"{r['99%']} ms"] for r in lc["locust_rows"]]
    rows += [[html.escape(k) + " (delivery, ours)", h["count"], "", f"{h['p50'] / 1000:.2f} ms",
              f"{h['p99'] / 1000:.2f} ms"] for k, h in lc["delivery_us"].items()]
    return (f"<h2>Locust distributed chat</h2><p>A Locust master and 2 worker processes, {lc['users']} chat "
            f"users alternating between 2 FasterAPI processes that share Redis, {lc['seconds']} s.</p>"
            + _table(["what", "count", "req/s", "p50", "p99"], rows))


def write_broker_report(out: dict, report_dir: Path) -> Path:
    peak, hp, mem = out["peak"], out["half_peak"], out["memory"]
    ratio = peak.get("ratio_redis_vs_in_process")
    rows = [[html.escape(LABELS[n]), f"{peak['median_deliveries_per_s'][n]:,.0f}",
             f"{hp['median_p50_ms'][n]:.2f} ms", f"{hp['median_p99_ms'][n]:.2f} ms"]
            for n in LABELS if n in peak["median_deliveries_per_s"]]
    slope = mem.get("slope_kib_per_100k_messages")
    body = [
        f"<!doctype html><meta charset=utf-8><title>FasterAPI: broadcast through Redis</title><style>{CSS}</style>",
        f"<h1>Scaling out: broadcast 1 -> {out['subscribers']} through Redis</h1>",
        f"<p>Redis / in-process peak: <b>{ratio:.2f}x</b> (medians of {out['rounds']} interleaved rounds; "
        f"{html.escape(out.get('notes', ''))}).</p>" if ratio else "",
        _img(_figure(out), "peak deliveries, latency at half peak, memory over broker messages"),
        _table(["target", "peak deliveries/s", f"p50 at {hp['publish_rate']} pub/s", f"p99 at {hp['publish_rate']} pub/s"],
               rows),
        f"<p>Memory over {mem['messages']:,} broker messages: slope "
        f"{'–' if slope is None else f'{slope:.1f}'} KiB per 100k messages over the second half.</p>",
        _locust(out.get("locust") or {}),
    ]
    path = Path(report_dir) / "broker.html"
    path.write_text("\n".join(body))
    return path
