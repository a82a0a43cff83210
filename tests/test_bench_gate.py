"""The throughput gate is shown to fail on a server slowed on purpose (and to pass when the ratio holds),
plus the bench harness's pure parts: histogram percentiles, gate verdicts, HTML report rendering."""

from __future__ import annotations

import json
import statistics
import random
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the loadtest package lives at the repo root, beside ./fasterapi

from loadtest import gate, runner, scenarios  # noqa: E402
from loadtest.histogram import Histogram, percentile_from_compact  # noqa: E402

pytest.importorskip("websockets")

SLOW = """
[gate]
scenario = "echo-32B-c100"
rounds = 1
duration = 1.0
warmup = 0.3

[[ratio]]
target = "{target}"
baseline = "{baseline}"
min = {min}

[targets.slow]
label = "echo slowed on purpose"
argv = ["{{python}}", "-m", "loadtest.peers.slow_echo", "--delay", "0.2", "--host", "{{host}}", "--port", "{{port}}"]
"""


def _generator() -> str:
    # The native generator when built/installed; otherwise the Python fallback speaking the same JSON.
    return runner.find_tool("fasterapi-loadgen") or "pygen"


def _run_gate(tmp_path: Path, target: str, baseline: str, minimum: float, extra: str = "") -> subprocess.CompletedProcess:
    gates = tmp_path / "gates.toml"
    gates.write_text(SLOW.format(target=target, baseline=baseline, min=minimum) + extra)
    return subprocess.run([sys.executable, "-m", "loadtest.gate", "--gates", str(gates), "--generator", _generator(),
                           "--json-out", str(tmp_path / "verdict.json")],
                          cwd=ROOT, capture_output=True, text=True, timeout=100)


def test_gate_fails_on_slowed_server(tmp_path):
    # 0.2 s per reply caps the slowed echo near 500 msg/s at 100 connections: far under 0.9x websockets.
    cp = _run_gate(tmp_path, "slow", "websockets", 0.9)
    assert cp.returncode == 1, cp.stdout + cp.stderr
    assert "FAIL slow >= 0.9x websockets" in cp.stderr
    # A failing ratio is measured again before it decides: the verdict is on both rounds' medians.
    assert "confirming echo-32B-c100: 1 more rounds of slow, websockets" in cp.stdout
    assert "medians of 2 rounds" in cp.stderr
    verdict = json.loads((tmp_path / "verdict.json").read_text())
    assert verdict["ratios"][0]["status"] == "FAIL"
    assert verdict["ratios"][0]["ratio"] < 0.9


def test_gate_passes_when_ratio_holds(tmp_path):
    # The same machinery passes when the ratio holds (websockets is >10x the slowed echo; 1.5x is the bar).
    cp = _run_gate(tmp_path, "websockets", "slow", 1.5)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "PASS websockets >= 1.5x slow" in cp.stdout
    assert "confirming" not in cp.stdout  # nothing failed, nothing measured twice


def test_unmeasured_ratio_is_not_a_pass(tmp_path):
    missing = '\n[targets.ghost]\nbinary = "fasterapi-no-such-tool"\nargv = ["{bin}", "--port", "{port}"]\n'
    cp = _run_gate(tmp_path, "ghost", "slow", 0.5, missing)
    assert cp.returncode == 3, cp.stdout + cp.stderr
    assert "UNAVAILABLE ghost >= 0.5x slow" in cp.stderr


def test_evaluate_verdicts():
    g = {"ratio": [{"target": "a", "baseline": "b", "min": 2.0}, {"target": "a", "baseline": "c", "min": 0.5},
                   {"target": "a", "baseline": "d", "min": 1.0}]}
    out = gate.evaluate(g, {"a": 100.0, "b": 60.0, "c": 150.0, "d": None}, {"d": "not built"})
    assert [o["status"] for o in out] == ["FAIL", "PASS", "UNAVAILABLE"]
    assert out[0]["ratio"] == pytest.approx(100 / 60)
    assert "not built" in out[2]["detail"]


def test_evaluate_ratio_on_its_own_scenario():
    # A [[ratio]] naming another scenario (the wss echo) is judged on that scenario's medians only.
    g = {"gate": {"scenario": "echo-32B-c100"},
         "ratio": [{"target": "a", "baseline": "b", "min": 1.0},
                   {"target": "a", "baseline": "b", "min": 1.2, "scenario": "tls-echo-32B-c100"}]}
    out = gate.evaluate(g, {"a": 100.0, "b": 60.0, ("tls-echo-32B-c100", "a"): 40.0,
                            ("tls-echo-32B-c100", "b"): 50.0}, {})
    assert [o["status"] for o in out] == ["PASS", "FAIL"]
    assert out[1]["name"] == "a >= 1.2x b [tls-echo-32B-c100]" and out[1]["ratio"] == pytest.approx(0.8)
    assert gate.evaluate(g, {"a": 100.0, "b": 60.0}, {})[1]["status"] == "UNAVAILABLE"


def test_paired_ratio_leaves_out_rounds_where_the_baseline_saturated_the_generator():
    # The CI run that failed callback >= 1.1x picows on the ratio of medians (1.07x): the server-bound
    # rounds say ~1.3x. In the rounds where both reached the generator's ceiling the baseline's figure
    # is that ceiling, not its own, and the ratio was pressed towards 1: those pairs do not count.
    m = runner.Measurement(scenarios.by_id("echo-32B-c100"))
    rounds = [(102346, 75675, False), (73838, 56442, False), (135528, 131152, True), (116360, 105406, True),
              (139996, 122230, True), (103548, 77908, False), (130580, 122148, False)]
    m.rounds["a"] = [{"rate_per_s": a, "inconclusive": sat} for a, _, sat in rounds]
    m.rounds["b"] = [{"rate_per_s": b, "inconclusive": sat} for _, b, sat in rounds] + [{"error": "refused"}]
    ratio, pairs = gate.paired_ratio(m, "a", "b")
    assert pairs == 4 and ratio == pytest.approx(statistics.median([102346 / 75675, 73838 / 56442,
                                                                     103548 / 77908, 130580 / 122148]))
    assert gate.paired_ratio(m, "a", "b", min_pairs=5) == (None, 4)  # too few: the medians decide
    g = {"ratio": [{"target": "a", "baseline": "b", "min": 1.2}]}
    out = gate.evaluate(g, {"a": m.median("a"), "b": m.median("b")}, {}, {("echo-32B-c100", "a", "b"): (ratio, pairs)})
    assert out[0]["status"] == "PASS" and out[0]["pairs"] == 4
    assert gate.evaluate(g, {"a": m.median("a"), "b": m.median("b")}, {})[0]["status"] == "FAIL"  # 1.10x


def test_paired_ratio_keeps_rounds_where_only_the_target_saturated_the_generator():
    # A gate run (callback vs picows, 7 rounds + 7 confirming): picows never saturated the generator,
    # the callback handler did in 6 rounds. Those ratios are lower bounds (1.12-1.80x); leaving them
    # out kept only the rounds where callback was slow and read 1.05x.
    cb = [(113892, 0), (134071, 1), (132863, 0), (115437, 0), (110616, 0), (128892, 1), (126758, 1),
          (97869, 0), (110282, 0), (117378, 0), (109128, 0), (125042, 1), (145782, 1), (118578, 1)]
    pw = [117828, 110548, 121450, 114555, 133998, 98998, 113094, 80666, 114334, 103692, 78558, 89780, 81090, 98662]
    m = runner.Measurement(scenarios.by_id("echo-32B-c100"))
    m.rounds["callback"] = [{"rate_per_s": v, "inconclusive": bool(sat)} for v, sat in cb]
    m.rounds["picows"] = [{"rate_per_s": v} for v in pw]
    ratio, pairs = gate.paired_ratio(m, "callback", "picows")
    assert pairs == 14 and ratio == pytest.approx(statistics.median([a / b for (a, _), b in zip(cb, pw)]))
    assert 1.1 < ratio < 1.2
    # The other way round the 6 saturated rounds are the baseline's: they are left out.
    assert gate.paired_ratio(m, "picows", "callback")[1] == 8


class _ScriptedGenerator:
    """Answers each broadcast step from a table {rate: (deliveries kept, p99 ms)}, recording the rates asked."""

    def __init__(self, table):
        self.table, self.asked = table, []

    def run(self, args, timeout):
        rate = int(args[args.index("--rate") + 1])
        self.asked.append(rate)
        kept, p99_ms = self.table[rate]
        return {"rate_per_s": kept * rate * 1000, "expected_deliveries_per_s": rate * 1000,
                "latency_us": {"p99": p99_ms * 1000}}


def test_broadcast_sweep_survives_one_stall_and_stops_where_the_server_falls_behind():
    scen = scenarios.by_id("broadcast-keepup-c1000")  # rates 200 ... 6400, p99 <= 50 ms
    # One slow fan-out puts 1600/s over the bound (61 ms, measured), then 3200/s passes again:
    # the figure is 3200, and the sweep stops after two failing rates in a row.
    gen = _ScriptedGenerator({200: (1, 20), 400: (1, 30), 800: (1, 40), 1600: (1, 61), 3200: (1, 30),
                              6400: (0.5, 900)})
    res = runner.sweep_rates(scen, [], gen, 2.0, 0.5)
    assert res["max_rate"] == 3200 and gen.asked == [200, 400, 800, 1600, 3200, 6400]
    assert [s["ok"] for s in res["sweep"]] == [True, True, True, False, True, False]
    # A server that queues (socketify measured p99 0.44 s at 1600/s, 0.55 s at 3200/s) stops at 800.
    gen = _ScriptedGenerator({200: (1, 20), 400: (1, 25), 800: (1, 29), 1600: (0.89, 444), 3200: (0.99, 545),
                              6400: (0.5, 2000)})
    res = runner.sweep_rates(scen, [], gen, 2.0, 0.5)
    assert res["max_rate"] == 800 and gen.asked == [200, 400, 800, 1600, 3200]
    # Nothing passes: 0, after two steps.
    gen = _ScriptedGenerator({200: (0.5, 900), 400: (0.5, 900)})
    assert runner.sweep_rates(scen, [], gen, 2.0, 0.5)["max_rate"] == 0 and gen.asked == [200, 400]


class _Proc:
    """A process standing in for a server: settle() only asks alive() and cpu_s()."""

    def __init__(self, code):
        self.proc = subprocess.Popen([sys.executable, "-c", code])

    def alive(self):
        return self.proc.poll() is None

    def cpu_s(self):
        return runner._cpu_s(self.proc.pid)

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def test_settle_waits_for_a_busy_server_and_not_for_idle_ones():
    # One burns a core for 1.5 s (a server draining a backlog), one sleeps (an idle server).
    busy = _Proc("import time\nt = time.monotonic() + 1.5\nwhile time.monotonic() < t: pass\ntime.sleep(30)")
    idle = _Proc("import time; time.sleep(30)")
    try:
        time_busy = runner.settle([busy, idle], limit=5.0)
        assert 1.0 <= time_busy < 4.0
        assert runner.settle([busy, idle], limit=5.0) < 0.5  # both idle now: one window
        spin = _Proc("while True: pass")
        try:
            assert 0.9 <= runner.settle([spin, idle], limit=1.0) < 1.5  # bounded: never idle
        finally:
            spin.stop()
    finally:
        busy.stop()
        idle.stop()


def test_evaluate_generator_headroom():
    g = {"ratio": [{"target": "a", "baseline": "b", "min": 1.0}],
         "generator": {"max_cpu": 0.9, "capacity_target": "sink", "min_capacity": 120000}}
    out = gate.evaluate_generator(g, {"a": 0.95, "b": 0.5, "sink": 0.99}, {"sink": 200000.0}, {})
    assert [(r["target"], r["status"]) for r in out] == [("a", "WARN"), ("b", "PASS"), ("sink", "PASS")]
    g["generator"]["enforce_max_cpu"] = True
    out = gate.evaluate_generator(g, {"a": 0.95, "b": 0.5, "sink": 0.99}, {"sink": 200000.0}, {})
    assert [(r["target"], r["status"]) for r in out] == [("a", "FAIL"), ("b", "PASS"), ("sink", "PASS")]
    out = gate.evaluate_generator(g, {"a": 0.2, "b": None}, {"sink": 100000.0}, {"b": "not built"})
    assert [r["status"] for r in out] == ["PASS", "UNAVAILABLE", "FAIL"]
    assert gate.capacity({"rate_per_s": 50000, "cpu": {"utilization": 0.25}}, "rate_per_s") == 200000
    assert gate.capacity({"rate_per_s": 50000}, "rate_per_s") is None
    assert gate.evaluate_generator({"ratio": []}, {}, {}, {}) == []


def test_gates_file_names_known_targets():
    gates = gate.load_gates(gate.DEFAULT_GATES)
    names = {t.name for t in runner.default_targets()} | set(gates.get("targets") or {})
    pairs = {(r["target"], r["baseline"], r["min"]) for r in gates["ratio"]}
    assert pairs == {("fasterapi-callback", "picows", 1.1), ("fasterapi-async", "websockets", 2.0),
                     ("fasterapi-async", "native-echo", 0.5), ("fasterapi-callback", "native-echo", 0.6),
                     ("fasterapi-async", "uvicorn-starlette", 6.0), ("fasterapi-async", "picows", 0.9),
                     ("fasterapi-callback", "socketify", 1.0), ("fasterapi-callback", "picows", 0.9)}
    assert gates["gate"]["confirm"] is True  # a failing ratio is measured again before it decides
    assert {gate.ratio_scenario(gates, r) for r in gates["ratio"]} == {"echo-32B-c100", "sse-c100",
                                                                       "broadcast-keepup-c1000", "tls-echo-32B-c100"}
    assert gates["generator"] == {"max_cpu": 0.9, "enforce_max_cpu": False, "capacity_target": "native-sink",
                                  "min_capacity": 120000}
    assert gates["targets"]["native-sink"]["binary"] == "fasterapi-sink"
    assert "native-sink" in {t.name for t in gate.gate_targets(gates)}
    assert all(t in names and b in names for t, b, _ in pairs)


def test_histogram_percentiles_within_one_percent():
    rng = random.Random(5)
    values = sorted(int(rng.lognormvariate(6, 1.5)) for _ in range(20000))
    h = Histogram()
    for v in values:
        h.record(v)
    for p in (50, 90, 99, 99.9):
        ref = values[max(0, int(len(values) * p / 100) - 1)]
        assert abs(h.percentile(p) - ref) <= max(1, ref * 0.01), p
        assert abs(percentile_from_compact(h.compact(), p) - h.percentile(p)) <= max(1, ref * 0.01)
    assert h.summary()["count"] == len(values) and h.summary()["max"] == values[-1]


def _fake_results() -> dict:
    def rnd(rate, lat):
        h = Histogram()
        for i in range(200):
            h.record(lat + i)
        return {"rate_per_s": rate, "latency_us": h.summary(), "histogram_us": h.compact(), "timeline": [rate] * 3,
                "cpu": {"utilization": 0.4}, "errors": {"connect": 0}, "inconclusive": False, "command": ["x"]}
    targets = [{"name": n, "label": n, "kind": k, "available": True, "reason": "", "version": "", "command": "c"}
               for n, k in (("fasterapi-callback", "fasterapi"), ("picows", "peer"), ("websockets", "peer"))]
    targets.append({"name": "native-echo", "label": "native", "kind": "native", "available": False,
                    "reason": "not built", "version": "", "command": ""})
    rounds = {"fasterapi-callback": [rnd(150000, 300)] * 3, "picows": [rnd(100000, 500)] * 3,
              "websockets": [rnd(50000, 900), rnd(60000, 800), rnd(55000, 850)]}
    scen = {"id": "echo-32B-c100", "title": "echo", "kind": "echo", "metric": "rate_per_s", "unit": "msg/s",
            "connections": 100, "skipped": {"native-echo": "not built"}, "rounds": rounds,
            "median": {"fasterapi-callback": 150000.0, "picows": 100000.0, "websockets": 55000.0},
            "inconclusive": {"fasterapi-callback": False, "picows": False, "websockets": False}}
    mem = {"id": "memory-idle-ws", "title": "idle memory", "kind": "memory", "metric": "kib_per_conn",
           "unit": "KiB/conn", "connections": 2000, "skipped": {},
           "rounds": {n: [{"kib_per_conn": v}] for n, v in (("fasterapi-callback", 2.5), ("picows", 28.0),
                                                              ("websockets", 14.0))},
           "median": {"fasterapi-callback": 2.5, "picows": 28.0, "websockets": 14.0},
           "inconclusive": {}}
    return {"run_id": "20250101T000000Z", "started": "2025-01-01T00:00:00+00:00", "git": "abc", "quick": True, "rounds": 3, "duration_s": 1, "warmup_s": 0.5,
            "machine": {"Model name": "test"}, "generator": {"kind": "native", "path": "x"}, "targets": targets,
            "command": "python -m loadtest.bench", "scenarios": [scen, mem]}


def test_report_renders_plots_ratios_and_history(tmp_path):
    pytest.importorskip("matplotlib")
    from loadtest import bench, report
    results = _fake_results()
    history = tmp_path / "history.jsonl"
    bench.append_history(history, results)
    bench.append_history(history, dict(results, run_id="20250102T000000Z"))
    out = report.write_report(results, tmp_path / "bench", bench.load_history(history))
    page = out.read_text()
    assert page.count("data:image/png;base64,") >= 3  # ratios, trend, scenario figure
    assert "1.50×" in page and "2.73×" in page          # callback vs picows and vs websockets
    assert "not built" in page                            # the unavailable target is named, not estimated
    assert "<b>40%</b> (40%, 40%, 40%)" in page            # generator CPU next to every figure, per round too
    assert json.loads(__import__("html").unescape(page.split("<pre id=raw>")[1].split("</pre>")[0]))["run_id"]
    assert report.ratio_table(results["scenarios"][0], results)["fasterapi-callback"]["picows"] == pytest.approx(1.5)
    idx = report.write_index(tmp_path).read_text()
    assert "bench/index.html" in idx and "conformance/index.html" in idx


def test_headline_is_one_row_per_scenario_always_times_better():
    from loadtest import report
    rows = {r["scenario"]: r for r in report.headline_rows(_fake_results())}
    echo, mem = rows["echo-32B-c100"], rows["memory-idle-ws"]
    # Throughput: our best over the best peer (picows, the faster one).
    assert (echo["ours"], echo["peer"]) == ("fasterapi-callback", "picows")
    assert echo["ratio"] == pytest.approx(1.5) and not echo["lower_is_better"]
    # Memory: the best peer is the one using least (websockets), and the ratio reads "times better"
    # (peer / ours), never a raw ours/peer figure where a big number would mean we lose.
    assert mem["peer"] == "websockets" and mem["lower_is_better"]
    assert mem["ratio"] == pytest.approx(14.0 / 2.5)


def test_report_tls_section_pairs_each_tls_scenario_with_its_plain_twin(tmp_path):
    pytest.importorskip("matplotlib")
    from loadtest import report
    results = _fake_results()
    plain, mem = results["scenarios"]

    def tls_of(scen, sid, values):
        return dict(scen, id=sid, tls=True, plain=scen["id"], median=values,
                    rounds={n: [{scen["metric"]: v}] for n, v in values.items()})
    conn = {"kind": "connect", "metric": "rate_per_s", "unit": "conn/s", "connections": 16, "skipped": {},
            "inconclusive": {}, "tls": True, "plain": ""}
    full = dict(conn, id="tls-connect-full-c16", title="full", median={"fasterapi-callback": 800.0},
                rounds={"fasterapi-callback": [{"rate_per_s": 800.0}]})
    resumed = dict(conn, id="tls-connect-resumed-c16", title="resumed", median={"fasterapi-callback": 1600.0},
                   rounds={"fasterapi-callback": [{"rate_per_s": 1600.0, "tls": {
                       "version": "TLSv1.3 TLS_AES_256_GCM_SHA384", "full_handshakes": 10,
                       "resumed_handshakes": 90}}]})
    results["scenarios"] += [tls_of(plain, "tls-echo-32B-c100", {"fasterapi-callback": 60000.0, "picows": 50000.0}),
                             tls_of(mem, "tls-memory-idle-ws", {"fasterapi-callback": 12.5, "picows": 48.0}),
                             full, resumed]
    rows = {(r["scenario"], r["target"]): r for r in report.tls_rows(results)}
    assert rows[("tls-echo-32B-c100", "fasterapi-callback")]["ratio"] == pytest.approx(0.4)   # 60k / 150k
    assert rows[("tls-echo-32B-c100", "picows")]["ratio"] == pytest.approx(0.5)
    assert rows[("tls-memory-idle-ws", "fasterapi-callback")]["extra_kib"] == pytest.approx(10.0)
    assert ("tls-memory-idle-ws", "websockets") not in rows  # no TLS figure: no pair
    page = report.write_report(results, tmp_path / "bench").read_text()
    assert "TLS: what each target keeps" in page and "0.40×" in page and "+10.00 KiB" in page
    assert "over the goal" in page and "90%" in page and "2.00×" in page  # resumed share, resumed / full


def test_broker_page_is_pictures_first_and_linked_from_the_index(tmp_path):
    from loadtest.broker_report import write_broker_report
    from loadtest.report import write_index

    out = {"subscribers": 1000, "rounds": 3, "notes": "server on CPU 0",
           "peak": {"median_deliveries_per_s": {"in-process": 2_000_000, "redis-2w": 1_800_000},
                    "ratio_redis_vs_in_process": 0.9},
           "half_peak": {"publish_rate": 1000, "median_p50_ms": {"in-process": 4.0, "redis-2w": 5.0},
                         "median_p99_ms": {"in-process": 30.0, "redis-2w": 40.0}},
           "memory": {"messages": 1_000_000, "rss_first_kib": 90_000, "rss_half_kib": 95_000,
                      "rss_last_kib": 95_100, "slope_kib_per_100k_messages": 0.2},
           "locust": {"users": 100, "seconds": 20,
                      "locust_rows": [{"Type": "WS", "Name": "chat", "Request Count": 900, "Requests/s": "45.0",
                                       "50%": 3, "99%": 12}],
                      "delivery_us": {"chat delivery": {"count": 90_000, "p50": 2500.0, "p99": 9000.0}}}}
    bench = tmp_path / "bench"
    bench.mkdir()
    page = write_broker_report(out, bench).read_text()
    assert page.index("<img") < page.index("<table")  # the picture comes first
    assert "0.90x" in page and "1,800,000" in page and "chat delivery" in page and "9.00 ms" in page
    index = write_index(tmp_path).read_text()
    assert "href='bench/broker.html'" in index and "(not generated yet)" in index  # bench/index.html is not
