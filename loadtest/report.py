"""HTML report for a bench run: self-contained (matplotlib PNGs base64-embedded), pictures first.

``write_report(results, report_dir, history)`` -> report_dir/index.html; ``write_index(reports_dir)``
links the conformance and bench reports. ``python -m loadtest.report reports/bench`` re-renders
from results.json.
"""

from __future__ import annotations

import base64
import html
import io
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

from loadtest.histogram import cdf_from_compact  # noqa: E402

REFERENCE_ORDER = ["fasterapi-callback", "fasterapi-async", "native-echo"]
FALLBACK_BASELINE = {"echo": "websockets", "broadcast": "websockets", "memory": "websockets",
                     "sse": "uvicorn-starlette", "http": "uvicorn-starlette", "connect": "picows"}
TLS_EXTRA_KIB_GOAL = 8.0  # issue 13: an idle TLS WebSocket costs at most this much more than a plain one
PALETTE = ["#d62728", "#ff7f0e", "#8c564b", "#1f77b4", "#2ca02c", "#9467bd", "#17becf", "#7f7f7f",
           "#bcbd22", "#e377c2", "#393b79", "#637939"]


def _colors(results: dict) -> dict:
    return {t["name"]: PALETTE[i % len(PALETTE)] for i, t in enumerate(results["targets"])}


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def _fmt(v: float | None, unit: str = "") -> str:
    if v is None:
        return "–"
    if unit == "KiB/conn":
        return f"{v:.2f}"
    if abs(v) >= 1e6:
        return f"{v / 1e6:.2f}M"
    if abs(v) >= 1e4:
        return f"{v / 1e3:.1f}k"
    return f"{v:,.0f}" if abs(v) >= 10 else f"{v:.2f}"


def gen_cpu(scen: dict, name: str) -> float | None:
    """Median CPU use of the generator (busiest thread; 1.0 = its whole core) while it measured `name`."""
    v = (scen.get("generator_cpu") or {}).get(name)
    if isinstance(v, (int, float)):
        return float(v)
    vals = sorted(u for u in (((r.get("cpu") or {}).get("utilization")) for r in scen["rounds"].get(name, []))
                  if isinstance(u, (int, float)))
    return (vals[(len(vals) - 1) // 2] + vals[len(vals) // 2]) / 2 if vals else None


def _cpu_txt(v: float | None) -> str:
    return "–" if v is None else f"{v:.0%}"


def reference(scen: dict) -> str | None:
    """The bar every other bar's ratio label is relative to: FasterAPI first, else a well-known peer."""
    med = scen["median"]
    for name in REFERENCE_ORDER:
        if med.get(name):
            return name
    base = FALLBACK_BASELINE.get(scen["kind"])
    if base and med.get(base):
        return base
    vals = [n for n, v in med.items() if v]
    return vals[0] if vals else None


def ratio_table(scen: dict, results: dict) -> dict:
    """{fasterapi/native target: {peer: ratio}} for this scenario (lower is better for memory)."""
    kinds = {t["name"]: t["kind"] for t in results["targets"]}
    med = scen["median"]
    out = {}
    for ours in med:
        if kinds.get(ours) not in ("fasterapi", "native") or not med[ours]:
            continue
        row = {}
        for peer, v in med.items():
            if peer != ours and v:
                row[peer] = med[ours] / v
        out[ours] = row
    return out


def scenario_figure(scen: dict, results: dict, colors: dict) -> str | None:
    med = {n: v for n, v in scen["median"].items() if v is not None}
    if not med:
        return None
    is_mem = scen["kind"] == "memory"
    names = sorted(med, key=lambda n: med[n], reverse=not is_mem)
    ncols = 1 if is_mem else 3
    fig, axes = plt.subplots(1, ncols, figsize=(5.2 * ncols if ncols > 1 else 7.5, 0.45 * len(names) + 1.6),
                             squeeze=False)
    ax = axes[0][0]
    ref = reference(scen)
    labels = _labels(results, scen["kind"])
    y = range(len(names))
    vals = [med[n] for n in names]
    bars = ax.barh(list(y), vals, color=[colors.get(n, "#777") for n in names])
    for b, n in zip(bars, names):
        if scen["inconclusive"].get(n):
            b.set_hatch("//")
    for i, n in enumerate(names):  # every round as a dot: the spread is visible at a glance
        rounds = [r.get(scen["metric"]) for r in scen["rounds"].get(n, []) if isinstance(r.get(scen["metric"]), (int, float))]
        ax.plot(rounds, [i] * len(rounds), "k.", ms=4)
    right = {n: max([med[n]] + [r.get(scen["metric"]) for r in scen["rounds"].get(n, [])
                                 if isinstance(r.get(scen["metric"]), (int, float))]) for n in names}
    xmax = max(right.values()) if right else 1
    for i, n in enumerate(names):
        text = _fmt(med[n], scen["unit"])
        if ref and med.get(ref) and n != ref:
            text += f"  ({med[n] / med[ref]:.2f}× {ref})"
        elif n == ref:
            text += "  (reference)"
        if not is_mem:
            text += f"  · gen CPU {_cpu_txt(gen_cpu(scen, n))}"
        if scen["inconclusive"].get(n):
            text += " inconclusive"
        ax.text(right[n] + xmax * 0.015, i, text, va="center", fontsize=8)
    ax.set_yticks(list(y), [labels.get(n, n) for n in names], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, xmax * 1.75)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: _fmt(v, scen["unit"]) if v else "0"))
    ax.set_xlabel(f"median {scen['unit']} ({'lower' if is_mem else 'higher'} is better)")
    ax.set_title(scen["title"], fontsize=9, loc="left")
    ax.grid(axis="x", alpha=0.3)
    if not is_mem:
        cdf_ax, tl_ax = axes[0][1], axes[0][2]
        for n in names:
            r = _median_round(scen, n)
            if not r:
                continue
            hist = r.get("histogram_us") or []
            if hist:
                xs, ys = cdf_from_compact(hist)
                cdf_ax.step(xs, ys, where="post", color=colors.get(n), label=labels.get(n, n), lw=1.2)
            tl = r.get("timeline") or []
            if tl:
                tl_ax.plot(range(1, len(tl) + 1), tl, marker=".", color=colors.get(n), label=labels.get(n, n), lw=1.2)
        cdf_ax.set_xscale("log")
        cdf_ax.set_xlabel("latency (µs, log)")
        cdf_ax.set_ylabel("fraction ≤ x")
        cdf_ax.set_title("latency CDF (median round)", fontsize=9, loc="left")
        cdf_ax.grid(alpha=0.3, which="both")
        for q in (0.5, 0.99):
            cdf_ax.axhline(q, color="#999", lw=0.6, ls=":")
        tl_ax.set_xlabel("second")
        tl_ax.set_ylabel(f"{scen['unit']} in that second")
        tl_ax.set_title("throughput over time (median round)", fontsize=9, loc="left")
        tl_ax.grid(alpha=0.3)
        tl_ax.set_ylim(bottom=0)
        tl_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        tl_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _fmt(v) if v else "0"))
        if tl_ax.get_legend_handles_labels()[0]:  # no timeline at all (every round failed): no legend
            tl_ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _png(fig)


def _labels(results: dict, kind: str) -> dict:
    return {t["name"]: (t.get("kind_labels") or {}).get(kind, t["label"]) for t in results["targets"]}


def _median_round(scen: dict, name: str) -> dict | None:
    metric = scen["metric"]
    rs = [r for r in scen["rounds"].get(name, []) if isinstance(r.get(metric), (int, float))]
    if not rs:
        return None
    rs.sort(key=lambda r: r[metric])
    return rs[(len(rs) - 1) // 2]


def lower_is_better(scen: dict) -> bool:
    return scen["kind"] == "memory"


def headline_rows(results: dict) -> list[dict]:
    """One row per scenario: our best target against the best peer, measured in this run.
    ``ratio`` is always "how many times better we are" (> 1 = we win): ours / peer for
    throughput, peer / ours for memory, so the two directions never share a meaning."""
    kinds = {t["name"]: t["kind"] for t in results["targets"]}
    labels_all = {t["name"]: t["label"] for t in results["targets"]}
    rows = []
    for scen in results["scenarios"]:
        med = {n: v for n, v in scen["median"].items() if v}
        ours = {n: v for n, v in med.items() if kinds.get(n) == "fasterapi"}
        peers = {n: v for n, v in med.items() if kinds.get(n) == "peer"}
        if not ours or not peers:
            continue
        low = lower_is_better(scen)
        pick = min if low else max
        o = pick(ours, key=ours.get)
        p = pick(peers, key=peers.get)
        ratio = peers[p] / ours[o] if low else ours[o] / peers[p]
        cpu = None if low else gen_cpu(scen, o)
        rows.append({"scenario": scen["id"], "title": scen["title"], "unit": scen["unit"], "lower_is_better": low,
                     "ours": o, "ours_label": labels_all.get(o, o), "ours_value": ours[o],
                     "peer": p, "peer_label": labels_all.get(p, p), "peer_value": peers[p], "ratio": ratio,
                     "generator_cpu": cpu, "inconclusive": bool(scen["inconclusive"].get(o))})
    return rows


def headline_figure(rows: list[dict]) -> str | None:
    """The one-screen picture: a bar per scenario, "times better than the best peer", with
    throughput and memory scenarios in separate panels (their raw directions differ)."""
    if not rows:
        return None
    groups = [(False, "throughput: ours ÷ best peer (higher is better)"),
              (True, "memory per connection: best peer ÷ ours (higher is better: we use less)")]
    groups = [(low, title, [r for r in rows if r["lower_is_better"] == low]) for low, title in groups]
    groups = [g for g in groups if g[2]]
    heights = [0.34 * len(g[2]) + 0.9 for g in groups]
    fig, axes = plt.subplots(len(groups), 1, figsize=(10, sum(heights) + 0.4), squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, (_low, title, rs) in zip((a[0] for a in axes), groups):
        vals = [r["ratio"] for r in rs]
        ax.barh(range(len(rs)), vals, color=["#2ca02c" if v >= 1 else "#d62728" for v in vals])
        ax.axvline(1.0, color="k", lw=0.8)
        for i, r in enumerate(rs):
            note = " (generator-bound)" if r["inconclusive"] else ""
            ax.text(r["ratio"], i, f" {r['ratio']:.2f}×  {r['ours_label']} vs {r['peer_label']}{note}",
                    va="center", fontsize=7)
        ax.set_yticks(range(len(rs)), [r["scenario"] for r in rs], fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, max(vals + [1.0]) * 1.8)
        ax.set_title(title, loc="left", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def headline_table(rows: list[dict]) -> str:
    out = []
    for r in rows:
        cpu = r["generator_cpu"]
        out.append([html.escape(r["scenario"]), html.escape(r["ours_label"]), _fmt(r["ours_value"], r["unit"]),
                    html.escape(r["peer_label"]), _fmt(r["peer_value"], r["unit"]),
                    f"<b>{r['ratio']:.2f}×</b>", html.escape(r["unit"]) + (" (lower is better)"
                                                                          if r["lower_is_better"] else ""),
                    f"{cpu:.2f}" if isinstance(cpu, (int, float)) else "–"])
    return _table(["scenario", "our best", "value", "best peer", "value", "times better", "unit",
                   "generator CPU (ours)"], out)


def tls_rows(results: dict) -> list[dict]:
    """TLS against plain, per TLS scenario and target, both measured in this run: throughput as
    TLS / plain (1.0 = TLS is free), memory as the extra KiB per idle connection (TLS - plain)."""
    by_id = {s["id"]: s for s in results["scenarios"]}
    labels = {t["name"]: t["label"] for t in results["targets"]}
    rows = []
    for scen in results["scenarios"]:
        plain = by_id.get(scen.get("plain") or "")
        if not scen.get("tls") or not plain:
            continue
        mem = lower_is_better(scen)
        for name, v in scen["median"].items():
            p = plain["median"].get(name)
            if v is None or not p:
                continue
            rows.append({"scenario": scen["id"], "plain_scenario": plain["id"], "target": name,
                         "label": labels.get(name, name), "unit": scen["unit"], "memory": mem, "plain": p, "tls": v,
                         "ratio": None if mem else v / p, "extra_kib": (v - p) if mem else None})
    return rows


def tls_figure(rows: list[dict], colors: dict) -> str | None:
    """Left: TLS / plain throughput per target (grouped by scenario); right: extra KiB per idle TLS
    WebSocket against the goal."""
    thr = [r for r in rows if not r["memory"]]
    mem = [r for r in rows if r["memory"]]
    panels = [p for p in (thr, mem) if p]
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 0.3 * max(len(p) for p in panels) + 1.6),
                             squeeze=False)
    for ax, rs in zip(axes[0], panels):
        is_mem = rs[0]["memory"]
        vals = [r["extra_kib"] if is_mem else r["ratio"] for r in rs]
        ax.barh(range(len(rs)), vals, color=[colors.get(r["target"], "#777") for r in rs])
        for i, (r, v) in enumerate(zip(rs, vals)):
            text = (f" {v:+.1f} KiB ({_fmt(r['plain'], r['unit'])} → {_fmt(r['tls'], r['unit'])})" if is_mem else
                    f" {v:.2f}× ({_fmt(r['plain'])} → {_fmt(r['tls'])} {r['unit']})")
            ax.text(max(v, 0), i, text, va="center", fontsize=7)
        ax.set_yticks(range(len(rs)), [f"{r['scenario']}: {r['label']}" for r in rs], fontsize=7)
        ax.invert_yaxis()
        if is_mem:
            ax.axvline(TLS_EXTRA_KIB_GOAL, color="#d62728", lw=0.9, ls="--")
            ax.set_xlim(min(0, min(vals)) * 1.2, max(vals + [TLS_EXTRA_KIB_GOAL]) * 1.9)
            ax.set_xlabel(f"extra KiB per idle connection over TLS (lower is better; dashed: goal "
                          f"{TLS_EXTRA_KIB_GOAL:g} KiB)")
            ax.set_title("Idle memory: TLS − plain, per connection", loc="left", fontsize=9)
        else:
            ax.axvline(1.0, color="k", lw=0.8)
            ax.set_xlim(0, max(vals + [1.0]) * 1.7)
            ax.set_xlabel("TLS ÷ plain throughput (higher is better; 1.0 = TLS costs nothing)")
            ax.set_title("What TLS keeps of each target's plain throughput", loc="left", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def tls_table(rows: list[dict]) -> str:
    out = []
    for r in rows:
        ratio = (f"<b>{r['extra_kib']:+.2f} KiB</b>" + (" (goal met)" if r["extra_kib"] <= TLS_EXTRA_KIB_GOAL
                                                          else " (over the goal)")) if r["memory"] \
            else f"<b>{r['ratio']:.2f}×</b>"
        out.append([html.escape(r["scenario"]), html.escape(r["label"]), _fmt(r["plain"], r["unit"]),
                    _fmt(r["tls"], r["unit"]), ratio, html.escape(r["unit"])])
    return _table(["TLS scenario", "target", "plain", "TLS", "TLS ÷ plain (memory: TLS − plain)", "unit"], out)


def handshake_table(results: dict) -> str:
    """New-connection scenarios: each target's full and resumed rates, and how many handshakes the
    server really resumed (a server that ignores tickets shows 0%: its 'resumed' figure is full)."""
    labels = {t["name"]: t["label"] for t in results["targets"]}
    scen = [s for s in results["scenarios"] if s["kind"] == "connect"]
    full = next((s for s in scen if s["id"].startswith("tls-connect-full")), None)
    resumed = next((s for s in scen if s["id"].startswith("tls-connect-resumed")), None)
    if not full or not resumed:
        return ""
    rows = []
    for n in full["median"]:
        f, r = full["median"].get(n), resumed["median"].get(n)
        tls = (_median_round(resumed, n) or {}).get("tls") or {}
        done = (tls.get("full_handshakes") or 0) + (tls.get("resumed_handshakes") or 0)
        share = f"{tls.get('resumed_handshakes', 0) / done:.0%}" if done else "–"
        rows.append([html.escape(labels.get(n, n)), _fmt(f), _fmt(r), f"{r / f:.2f}×" if f and r else "–", share,
                     html.escape(tls.get("version", ""))])
    return _table(["target", "full handshakes conn/s", "resumed conn/s", "resumed ÷ full",
                   "handshakes resumed (resumed run)", "protocol, cipher"], rows)


def ratio_figure(results: dict, colors: dict, lower: bool) -> str | None:
    """The full matrix: each FasterAPI/native target against each peer, per scenario (1.0 =
    parity); one figure per direction so a memory ratio never sits on a throughput axis."""
    kinds = {t["name"]: t["kind"] for t in results["targets"]}
    rows, cpus = [], []
    for scen in results["scenarios"]:
        if lower_is_better(scen) != lower:
            continue
        for ours, row in ratio_table(scen, results).items():
            for peer, r in row.items():
                if kinds.get(peer) == "peer":
                    rows.append((scen["id"], ours, peer, r))
                    cpus.append("" if scen["kind"] == "memory" else
                                f"  gen CPU {_cpu_txt(gen_cpu(scen, ours))} / {_cpu_txt(gen_cpu(scen, peer))}")
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(10, 0.28 * len(rows) + 1.2))
    labels = [f"{s}: {o} / {p}" for s, o, p, _ in rows]
    vals = [r for *_, r in rows]
    ax.barh(range(len(rows)), vals, color=[colors.get(p, "#777") for _, _, p, _ in rows])
    ax.axvline(1.0, color="k", lw=0.8)
    for i, v in enumerate(vals):
        ax.text(v, i, f" {v:.2f}×{cpus[i]}", va="center", fontsize=7)
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("ours / peer — " + ("memory: LOWER is better" if lower else
                                      "throughput: higher is better; generator CPU ours / peer"))
    ax.set_title("Every target vs every peer, " + ("memory" if lower else "throughput") + ", this run",
                 loc="left", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def trend_figure(history: list[dict], colors: dict) -> str | None:
    if len(history) < 2:
        return None
    key = None
    for candidate in ("echo-32B-c100", "http-plaintext-c100", "sse-c100"):
        if any(candidate in h.get("medians", {}) for h in history):
            key = candidate
            break
    if key is None:
        return None
    names = sorted({n for h in history for n in h.get("medians", {}).get(key, {})})
    fig, ax = plt.subplots(figsize=(9, 3.2))
    xs = list(range(len(history)))
    for n in names:
        ys = [h.get("medians", {}).get(key, {}).get(n) for h in history]
        ax.plot(xs, [y if y is not None else float("nan") for y in ys], marker="o", label=n, color=colors.get(n))
    ax.set_xticks(xs, [f"{h.get('git', '')}\n{h.get('run_id', '')[4:13]}" for h in history], fontsize=6)
    ax.set_ylabel("median msg/s")
    ax.set_ylim(bottom=0)
    ax.set_title(f"Trend of the last {len(history)} runs: {key}", loc="left", fontsize=10)
    ax.legend(fontsize=7, ncol=3)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def _table(headers: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def scenario_table(scen: dict, results: dict) -> str:
    labels = _labels(results, scen["kind"])
    rows = []
    for n, rounds in scen["rounds"].items():
        r = _median_round(scen, n) or {}
        lat = r.get("latency_us") or {}
        errs = [x.get("error") for x in rounds if x.get("error")]
        errors = r.get("errors") or {}
        err_txt = ", ".join(f"{k}={v}" for k, v in errors.items() if v) + ("; " if errs else "") + "; ".join(
            html.escape(str(e))[:160] for e in errs)
        vals = ", ".join(_fmt(x.get(scen["metric"]), scen["unit"]) if isinstance(x.get(scen["metric"]), (int, float))
                         else "err" for x in rounds)
        cpus = ", ".join(_cpu_txt((x.get("cpu") or {}).get("utilization")) for x in rounds)
        srv_cpus = ", ".join(_cpu_txt(x.get("server_cpu")) for x in rounds)
        rows.append([html.escape(labels.get(n, n)), f"<b>{_fmt(scen['median'].get(n), scen['unit'])}</b>", vals,
                     *(str(lat.get(k, "–")) for k in ("p50", "p90", "p99", "p999", "max")),
                     f"<b>{_cpu_txt(gen_cpu(scen, n))}</b> ({cpus})", srv_cpus,
                     "yes" if scen["inconclusive"].get(n) else "", err_txt])
    if scen["kind"] == "memory":
        rows = []
        for n, rounds in scen["rounds"].items():
            rows.append([html.escape(labels.get(n, n)), f"<b>{_fmt(scen['median'].get(n), 'KiB/conn')}</b>",
                         ", ".join(f"{x['kib_per_conn']:.2f}" if "kib_per_conn" in x else "err" for x in rounds),
                         ", ".join(str(x.get("open", "–")) for x in rounds),
                         ", ".join(f"{x.get('rss_before_kib', 0) / 1024:.1f}→{x.get('rss_after_kib', 0) / 1024:.1f}"
                                   for x in rounds),
                         "; ".join(html.escape(str(x.get("error", "")))[:160] for x in rounds if x.get("error"))])
        return _table(["target", "median KiB/conn", "rounds", "open", "RSS MiB before→after", "errors"], rows)
    return _table(["target", f"median {scen['unit']}", "rounds", "p50 µs", "p90 µs", "p99 µs", "p99.9 µs", "max µs",
                   "generator CPU (rounds)", "server CPU (rounds)", "inconclusive", "errors"], rows)


CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1500px;color:#222;padding:0 16px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}h3{font-size:15px}
table{border-collapse:collapse;margin:8px 0 16px;font-size:12px}td,th{border:1px solid #ddd;padding:3px 7px;text-align:right}
td:first-child,th:first-child{text-align:left}img{max-width:100%;display:block;margin:6px 0}
.warn{background:#fff3cd;border:1px solid #e0c36c;padding:8px 12px}.muted{color:#777}pre{background:#f6f6f6;padding:8px;
overflow:auto;font-size:11px;max-height:400px}code{font-size:12px}"""


def write_report(results: dict, report_dir: Path, history: list[dict] | None = None) -> Path:
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    colors = _colors(results)
    parts = [f"<!doctype html><meta charset=utf-8><title>FasterAPI bench {results['run_id']}</title>",
             f"<style>{CSS}</style><h1>FasterAPI benchmarks — run {html.escape(results['run_id'])}"
             f"{' (quick)' if results.get('quick') else ''}</h1>"]
    parts.append(f"<p>git {html.escape(results.get('git', ''))}, {results['rounds']} interleaved rounds, "
                 f"{results['duration_s']:g} s measured + {results['warmup_s']:g} s warm-up per run; server pinned to "
                 f"CPU {0}, generator to CPU 1. Medians of the rounds; ratios only between figures of this run. "
                 f"Next to every figure: the generator's own CPU use (its busiest thread, 100% = its whole core, "
                 f"median of the rounds); at 90% or more in a round the figure is marked inconclusive and its bar "
                 f"hatched, as the generator, not the server, may have been the limit.</p>")
    gen = results["generator"]
    if gen["kind"] != "native":
        parts.append('<p class=warn><b>Generator: Python fallback</b> (fasterapi-loadgen was not found). These '
                     'figures are bound by the Python client, not by the servers; they show the harness works, '
                     'not how fast the servers are.</p>')
    missing = [t for t in results["targets"] if not t["available"]]
    if missing:
        parts.append("<p class=warn><b>Not available in this run</b> (no figures exist for them): " + "; ".join(
            f"{html.escape(t['label'])} — {html.escape(t['reason'])}" for t in missing) + "</p>")
    rows = headline_rows(results)
    hf = headline_figure(rows)
    if hf:
        parts.append("<h2>Headline: our best vs the best peer, per scenario</h2>" + _img(hf, "headline")
                     + headline_table(rows))
    trows = tls_rows(results)
    tfig = tls_figure(trows, colors)
    if tfig:
        parts.append("<h2>TLS: what each target keeps over wss, next to its plain figure</h2>" + _img(tfig, "tls")
                     + tls_table(trows) + handshake_table(results))
    for lower in (False, True):
        rf = ratio_figure(results, colors, lower)
        if rf:
            parts.append(f"<h2>Full matrix: {'memory' if lower else 'throughput'} ratios vs each peer</h2>"
                         + _img(rf, "ratios"))
    tf = trend_figure(history or [], colors)
    if tf:
        parts.append("<h2>Trend</h2>" + _img(tf, "trend"))
    parts.append("<h2>Scenarios</h2>")
    for scen in results["scenarios"]:
        parts.append(f"<h3 id='{html.escape(scen['id'])}'>{html.escape(scen['title'])} "
                     f"<span class=muted>({html.escape(scen['id'])})</span></h3>")
        fig = scenario_figure(scen, results, colors)
        parts.append(_img(fig, scen["id"]) if fig else "<p class=muted>no figures (no target produced a value)</p>")
        skipped = scen.get("skipped") or {}
        if skipped:
            parts.append("<p class=muted>not measured: " + "; ".join(
                f"{html.escape(k)} ({html.escape(v)})" for k, v in skipped.items()) + "</p>")
    parts.append(locust_section(report_dir))
    parts.append("<h2>Tables</h2>")
    for scen in results["scenarios"]:
        parts.append(f"<h3>{html.escape(scen['title'])}</h3>" + scenario_table(scen, results))
        rt = ratio_table(scen, results)
        if rt:
            peers = sorted({p for row in rt.values() for p in row})
            parts.append(_table(["ratio (row / column)", *peers],
                                [[o, *(f"{row[p]:.2f}×" if p in row else "–" for p in peers)] for o, row in rt.items()]))
    parts.append("<h2>Environment</h2>" + _table(["key", "value"], [[html.escape(k), html.escape(str(v))]
                                                                    for k, v in results["machine"].items()]))
    parts.append(_table(["target", "available", "versions", "server command"],
                        [[html.escape(t["label"]), "yes" if t["available"] else "no: " + html.escape(t["reason"]),
                          html.escape(t.get("version", "")), f"<code>{html.escape(t.get('command', ''))}</code>"]
                         for t in results["targets"]]))
    parts.append(f"<p>Generator: {html.escape(gen['kind'])} <code>{html.escape(gen['path'] or '')}</code><br>"
                 f"Run: <code>{html.escape(results['command'])}</code></p>")
    cmds = []
    for scen in results["scenarios"]:
        for n, rounds in scen["rounds"].items():
            if rounds and rounds[0].get("command"):
                cmds.append(" ".join(rounds[0]["command"]))
                break
    parts.append("<details><summary>Exact generator commands (first target of each scenario; the others differ "
                 "only by port)</summary><pre>" + html.escape("\n".join(cmds)) + "</pre></details>")
    raw = json.dumps(results)
    parts.append("<h2>Raw results</h2><details><summary>results.json (embedded)</summary><pre id=raw>"
                 + html.escape(raw) + "</pre></details>")
    out = report_dir / "index.html"
    out.write_text("\n".join(parts))
    return out


def locust_section(report_dir: Path) -> str:
    """Locust's CSV (written by loadtest.locust_run) folded into the bench report."""
    summary = Path(report_dir) / "locust" / "summary.json"
    if not summary.exists():
        return ""
    try:
        data = json.loads(summary.read_text())
    except json.JSONDecodeError:
        return ""
    parts = ["<h2>Locust scenarios</h2>", f"<p>{html.escape(data.get('description', ''))}</p>"]
    if data.get("figure"):
        parts.append(_img(data["figure"], "locust"))
    rows = data.get("rows") or []
    if rows:
        headers = list(rows[0].keys())
        parts.append(_table(headers, [[html.escape(str(r.get(h, ""))) for h in headers] for r in rows]))
    if data.get("html"):
        parts.append(f"<p>Locust's own report: <a href='{html.escape(data['html'])}'>{html.escape(data['html'])}</a></p>")
    return "\n".join(parts)


def _index_state(reports_dir: Path, sub: str) -> str:
    """One line under a report's link: its verdict and when it was made (from its JSON)."""
    try:
        if sub == "conformance":
            summary = json.loads((reports_dir / sub / "summary.json").read_text())
            passed = bool(summary.get("passed"))
            color = "#2e9d47" if passed else "#d43d3d"
            return (f" <b style='color:{color}'>{'PASS' if passed else 'FAIL'}</b> "
                    f"<span class=muted>{html.escape(str(summary.get('generated', '')))}</span>")
        results = json.loads((reports_dir / sub / "results.json").read_text())
        return f" <span class=muted>run {html.escape(str(results.get('run_id', '')))}" \
               f"{' (quick)' if results.get('quick') else ''}</span>"
    except (OSError, ValueError):
        return ""


def write_index(reports_dir: Path) -> Path:
    """reports/index.html: links the conformance and bench reports (whichever exist)."""
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    items = []
    for sub, page_name, title in (("conformance", "index.html", "Conformance (Autobahn, HTTP/1.1, SSE, hostile input)"),
                                  ("bench", "index.html", "Benchmarks"),
                                  ("bench", "broker.html", "Scaling out: broadcast through Redis, distributed Locust chat")):
        page = reports_dir / sub / page_name
        if not page.exists():
            state = " <span class=muted>(not generated yet)</span>"
        else:
            state = _index_state(reports_dir, sub) if page_name == "index.html" else ""
        items.append(f"<li><a href='{sub}/{page_name}'>{html.escape(title)}</a>{state}</li>")
    out = reports_dir / "index.html"
    out.write_text(f"<!doctype html><meta charset=utf-8><title>FasterAPI reports</title><style>{CSS}</style>"
                   f"<h1>FasterAPI reports</h1><ul>{''.join(items)}</ul>")
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--index"]:  # `python -m loadtest.report --index reports`: only the index page
        print(write_index(Path(argv[1] if len(argv) > 1 else "reports")))
        return 0
    report_dir = Path(argv[0] if argv else "reports/bench")
    results = json.loads((report_dir / "results.json").read_text())
    from loadtest.bench import load_history
    print(write_report(results, report_dir, load_history(report_dir.parent / "history.jsonl")))
    write_index(report_dir.parent)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
