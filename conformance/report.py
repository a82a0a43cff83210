"""Combined conformance report: ``summary.json`` and a self-contained ``index.html``.

The summary is a plain dict (see :func:`build_summary`); the HTML page embeds
its charts as base64 PNGs (matplotlib, Agg backend) and links each non-OK case
to the Autobahn suite's own per-case page.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import platform
import shlex
import subprocess
import sys
from pathlib import Path

from conformance import gate

# Outcome colours, best to worst (MISSING: the case never ran).
COLORS = {
    "OK": "#2e9d47",
    "INFORMATIONAL": "#7fc97f",
    "NON-STRICT": "#f0c419",
    "UNIMPLEMENTED": "#b0b0b0",
    "WRONG CODE": "#f08a24",
    "UNCLEAN": "#c86dd7",
    "FAILED": "#d43d3d",
    "MISSING": "#555555",
}


def versions(wstest_version: str | None = None) -> dict[str, str]:
    v = {"python": platform.python_version(), "platform": platform.platform()}
    if wstest_version:
        v["autobahntestsuite"] = wstest_version
    for mod in ("fasterapi", "websockets"):
        try:
            m = __import__(mod)
            v[mod] = str(getattr(m, "__version__", "unknown"))
        except Exception:  # noqa: BLE001 - a missing or half-built package is just "absent"
            pass
    try:
        v["git"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], text=True, capture_output=True,
                                  cwd=Path(__file__).resolve().parent, timeout=10).stdout.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        pass
    return v


# Suites other than Autobahn: (title, summary key). The *_tls runs are the same suites over https.
SUITES = (("HTTP/1.1 edge cases", "http"), ("HTTP/1.1 edge cases over TLS (https://)", "http_tls"),
          ("SSE", "sse"), ("SSE over TLS (https://)", "sse_tls"), ("Hostile input", "hostile"))


def build_summary(autobahn: list[dict], http: dict | None = None, sse: dict | None = None,
                  argv: list[str] | None = None, wstest_version: str | None = None,
                  hostile: dict | None = None, http_tls: dict | None = None, sse_tls: dict | None = None) -> dict:
    parts = [t["passed"] for t in autobahn]
    parts += [s["passed"] for s in (http, sse, hostile, http_tls, sse_tls) if s is not None]
    return {
        "generated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(argv if argv is not None else [sys.executable, "-m", "conformance", *sys.argv[1:]]),
        "versions": versions(wstest_version),
        "passed": bool(parts) and all(parts),
        "pass_rule": "behavior and behaviorClose both in {OK, INFORMATIONAL}, unless allowlisted with a reason",
        "categories": gate.CATEGORIES,
        "autobahn": autobahn,
        "http": http,
        "sse": sse,
        "hostile": hostile,
        "http_tls": http_tls,
        "sse_tls": sse_tls,
    }


def _chart_png(target: dict) -> str | None:
    """Stacked bars of outcomes per category for one target, as base64 PNG (None without matplotlib)."""
    try:
        import matplotlib
    except ImportError:
        return None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_cat: dict[str, dict[str, int]] = target["by_category"]
    cats = list(by_cat)
    labels = [f"{c} {gate.CATEGORIES.get(c, '')}".strip() for c in cats]
    fig, ax = plt.subplots(figsize=(11, 4.2), dpi=100)
    bottom = [0] * len(cats)
    for outcome in gate.SEVERITY:
        vals = [by_cat[c].get(outcome, 0) for c in cats]
        if not any(vals):
            continue
        ax.bar(labels, vals, bottom=bottom, color=COLORS.get(outcome, "#000"), label=outcome)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_ylabel("cases")
    ax.set_title(f"{target['agent']}: Autobahn outcomes per category")
    ax.set_ylim(0, max(bottom + [1]) * 1.08)
    # Outside the axes: the tallest bars (6 UTF-8, 13 compression) would hide it.
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    for label in ax.get_xticklabels():
        label.set_horizontalalignment("right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _hostile_chart(s: dict | None) -> str:
    """Server RSS growth per attack (the bound each attack must stay under), as an <img>."""
    if not s or not s.get("cases"):
        return ""
    try:
        import matplotlib
    except ImportError:
        return ""
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = s["cases"]
    names = [c["name"] for c in cases]
    growth = [(c.get("rss_growth_kib") or 0) / 1024 for c in cases]
    colors = [COLORS.get("OK") if c["passed"] else "#999" if c["passed"] is None else COLORS.get("FAILED")
              for c in cases]
    fig, ax = plt.subplots(figsize=(11, max(3.0, 0.22 * len(cases) + 1)), dpi=100)
    ax.barh(names, growth, color=colors)
    ax.invert_yaxis()
    ax.set_xlabel("server RSS growth during the attack (MiB); green pass, red fail, grey skipped")
    ax.set_title("Hostile input: memory per attack")
    ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return f'<img alt="RSS growth per attack" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode("ascii")}">'


def _e(x: object) -> str:
    return html.escape("" if x is None else str(x))


def _badge(ok: bool) -> str:
    return f'<span class="{"pass" if ok else "fail"}">{"PASS" if ok else "FAIL"}</span>'


def _autobahn_section(t: dict) -> str:
    out = [f'<h3>{_e(t["agent"])} {_badge(t["passed"])}</h3>',
           f'<p>URL <code>{_e(t["url"])}</code> · {t["total"]} cases · {t["wall_seconds"]} s · '
           f'<a href="{_e(t["suite_report"])}">Autobahn suite report</a></p>']
    if t.get("error"):
        out.append(f'<p class="fail">Run error: <code>{_e(t["error"])}</code></p>')
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(t["counts"].items(), key=lambda kv: gate.SEVERITY.index(kv[0])
                                                       if kv[0] in gate.SEVERITY else 99))
    out.append(f"<p>Outcomes: {_e(counts)}</p>")
    png = _chart_png(t) if t["total"] else None
    if png:
        out.append(f'<img alt="outcomes per category for {_e(t["agent"])}" src="data:image/png;base64,{png}">')
    elif t["total"]:
        out.append("<p>(chart omitted: matplotlib is not installed)</p>")
    if t["not_ok"]:
        out.append('<table><tr><th>case</th><th>behavior</th><th>behaviorClose</th><th>close code</th>'
                   '<th>gate</th><th>description</th></tr>')
        for c in t["not_ok"]:
            link = f'<a href="{_e(c["report"])}">{_e(c["case"])}</a>' if c.get("report") else _e(c["case"])
            gate_cell = {"pass": "pass", "fail": '<span class="fail">fail</span>',
                         "allowed": f'allowed: {_e(c.get("reason"))}'}[c["status"]]
            # The suite's descriptions are its own HTML fragments; shown as text.
            desc = str(c.get("description") or "").replace("<br>", "\n")
            out.append(f'<tr><td>{link}</td><td>{_e(c["behavior"])}</td><td>{_e(c["behaviorClose"])}</td>'
                       f'<td>{_e(c.get("remoteCloseCode"))}</td><td>{gate_cell}</td>'
                       f'<td class="desc">{_e(desc)}</td></tr>')
        out.append("</table>")
    else:
        out.append("<p>Every case OK.</p>")
    if t.get("stale_allow"):
        out.append("<p>Stale allowlist entries (the case passes now; remove them): "
                   + ", ".join(_e(e["case"]) for e in t["stale_allow"]) + "</p>")
    return "\n".join(out)


def _suite_section(title: str, s: dict | None, picture: str = "") -> str:
    if s is None:
        return ""
    out = [f'<h2>{_e(title)} {_badge(s["passed"])}</h2>',
           f'<p>Target <code>{_e(s.get("url"))}</code> · {s["total"]} checks · {s["failed"]} failed · '
           f'{s.get("wall_seconds", "?")} s</p>']
    if s.get("error"):
        out.append(f'<p class="fail">Run error: <code>{_e(s["error"])}</code></p>')
    if picture:
        out.append(picture)
    out.append("<table><tr><th>check</th><th>result</th><th>expected</th><th>got</th><th>rule</th></tr>")
    for c in s["cases"]:
        res = ('<span class="pass">pass</span>' if c["passed"] else
               "skipped" if c["passed"] is None else '<span class="fail">fail</span>')
        out.append(f'<tr><td>{_e(c["name"])}</td><td>{res}</td><td>{_e(c.get("expected"))}</td>'
                   f'<td>{_e(c.get("got"))}</td><td class="desc">{_e(c.get("why"))}</td></tr>')
    out.append("</table>")
    return "\n".join(out)


CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top;text-align:left}
th{background:#f3f3f3} .pass{color:#fff;background:#2e9d47;padding:1px 6px;border-radius:3px}
.fail{color:#fff;background:#d43d3d;padding:1px 6px;border-radius:3px}
td.desc{max-width:520px;white-space:pre-line;font-size:12px;color:#444} code{background:#f6f6f6;padding:0 3px}
img{max-width:100%;border:1px solid #eee}
"""


def render_html(summary: dict) -> str:
    v = summary["versions"]
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(val)}</td></tr>" for k, val in v.items())
    targets = summary["autobahn"]
    overview = "".join(
        f'<tr><td>Autobahn: {_e(t["agent"])}</td><td>{_badge(t["passed"])}</td>'
        f'<td>{t["total"]} cases over {_e(t["url"].split(":", 1)[0])}://, {len(t["failures"])} failing, '
        f'{len(t["allowed"])} allowlisted</td></tr>'
        for t in targets)
    for title, key in SUITES:
        s = summary.get(key)
        if s is not None:
            overview += (f'<tr><td>{title}</td><td>{_badge(s["passed"])}</td>'
                         f'<td>{s["total"]} checks, {s["failed"]} failed</td></tr>')
    body = [
        "<!doctype html><html><head><meta charset='utf-8'><title>FasterAPI conformance</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>FasterAPI conformance {_badge(summary['passed'])}</h1>",
        f"<p>Generated {_e(summary['generated'])}. Command: <code>{_e(summary['command'])}</code></p>",
        f"<p>Pass rule: {_e(summary['pass_rule'])}.</p>",
        f"<table><tr><th>suite</th><th>gate</th><th>detail</th></tr>{overview}</table>",
        "<h2>Autobahn WebSocket testsuite (fuzzingclient)</h2>" if targets else "",
        *(_autobahn_section(t) for t in targets),
        _suite_section("HTTP/1.1 edge cases", summary.get("http")),
        _suite_section("HTTP/1.1 edge cases over TLS (https://)", summary.get("http_tls")),
        _suite_section("SSE (WHATWG EventSource parsing)", summary.get("sse")),
        _suite_section("SSE over TLS (https://)", summary.get("sse_tls")),
        _suite_section("Hostile input (limits, slow and vanishing peers, bombs)", summary.get("hostile"),
                       _hostile_chart(summary.get("hostile"))),
        f"<h2>Versions</h2><table>{rows}</table>",
        "</body></html>",
    ]
    return "\n".join(body)


def write_report(report_dir: Path, summary: dict) -> Path:
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    (report_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    index = report_dir / "index.html"
    index.write_text(render_html(summary), encoding="utf-8")
    return index


def print_summary(summary: dict, out=sys.stdout) -> None:
    """Terminal summary naming every failing case with both behaviours."""
    for t in summary["autobahn"]:
        print(f"== Autobahn {t['agent']} ({t['url']}): {'PASS' if t['passed'] else 'FAIL'} "
              f"- {t['total']} cases, {len(t['failures'])} failing, {len(t['allowed'])} allowlisted", file=out)
        if t.get("error"):
            print(f"   error: {t['error']}", file=out)
        for c in t["not_ok"]:
            if c["status"] == "fail":
                print(f"   FAIL {c['case']}: behavior={c['behavior']} behaviorClose={c['behaviorClose']}", file=out)
        for a in t["allowed"]:
            print(f"   allowed {a['case']}: {a['reason']}", file=out)
        for e in t.get("stale_allow", []):
            print(f"   stale allowlist entry {e['case']}: the case passes now", file=out)
    for title, key in SUITES:
        s = summary.get(key)
        if s is None:
            continue
        print(f"== {title} suite ({s.get('url')}): {'PASS' if s['passed'] else 'FAIL'} "
              f"- {s['total']} checks, {s['failed']} failed", file=out)
        if s.get("error"):
            print(f"   error: {s['error']}", file=out)
        for c in s["cases"]:
            if c["passed"] is False:
                print(f"   FAIL {c['name']}: expected {c.get('expected')}, got {c.get('got')}", file=out)
    print(f"== conformance gate: {'PASS' if summary['passed'] else 'FAIL'}", file=out, flush=True)
