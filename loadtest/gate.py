"""Throughput gate: ``python -m loadtest.gate [--gates loadtest/gates.toml]``.

Runs the gate scenario (echo 32 B / 100 connections / 1 in flight) in short interleaved rounds
against the targets the ratios name, then checks target / baseline >= min for each ``[[ratio]]``
of the gates file: the median of the round-by-round ratios, leaving out rounds where the baseline
saturated the generator (``paired_ratio``), or median(target) / median(baseline) when fewer than 3
such pairs remain. A ratio may name its own ``scenario`` (e.g. the wss echo:
its targets then run as TLS servers with a certificate made for the run); each scenario is
measured once, with the targets its ratios name. A failing ratio is measured again (as many more
rounds of its two targets) and decided on the medians of all its rounds, unless
``[gate] confirm = false``. Exit codes: 0 all ratios hold; 1 a ratio failed (named on
stderr); 3 a ratio could not be measured (target not built / not installed / no value) — an
unmeasured ratio is never a pass, unless ``--allow-unavailable`` is given.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

from loadtest import certs, runner, scenarios

DEFAULT_GATES = Path(__file__).with_name("gates.toml")


def load_gates(path: Path) -> dict:
    with open(path, "rb") as f:
        gates = tomllib.load(f)
    if not gates.get("ratio"):
        raise SystemExit(f"{path}: no [[ratio]] entries")
    for r in gates["ratio"]:
        for key in ("target", "baseline", "min"):
            if key not in r:
                raise SystemExit(f"{path}: a [[ratio]] lacks '{key}'")
    return gates


def gate_targets(gates: dict) -> list[runner.Target]:
    """Default targets, with [targets.NAME] from the gates file added or replacing same-named ones."""
    targets = {t.name: t for t in runner.default_targets()}
    for name, spec in (gates.get("targets") or {}).items():
        targets[name] = runner.Target(name, spec.get("label", name), list(spec["argv"]),
                                      frozenset(spec.get("supports", ["echo"])), tuple(spec.get("requires", ())),
                                      spec.get("binary", ""), spec.get("kind", "peer"))
    wanted = []
    for r in gates["ratio"]:
        wanted += [r["target"], r["baseline"]]
    sink = (gates.get("generator") or {}).get("capacity_target")
    if sink:
        wanted.append(sink)
    missing = [n for n in dict.fromkeys(wanted) if n not in targets]
    if missing:
        raise SystemExit(f"gates file names unknown target(s): {', '.join(missing)}")
    return runner.resolve([targets[n] for n in dict.fromkeys(wanted)])


def ratio_scenario(gates: dict, r: dict) -> str:
    return r.get("scenario") or (gates.get("gate") or {}).get("scenario") or scenarios.GATE_SCENARIO.id


def paired_ratio(m: "runner.Measurement", target: str, baseline: str, min_pairs: int = 3) -> tuple[float | None, int]:
    """(median of the round-by-round ratios, how many), or (None, how many) when fewer than ``min_pairs``.

    Round i of the target is divided by round i of the baseline, measured seconds apart (interleaved
    rounds); pairing cancels the machine's speed swings between rounds. A pair is left out when the
    baseline's generator was saturated (its ``inconclusive`` flag: CPU >= 90%): that figure is the
    generator's ceiling, below the baseline's own, so the ratio overstates. A pair where only the
    target saturated the generator stays: its ratio understates, a lower bound, and the median of
    lower bounds is a lower bound of the median. (Leaving those out too kept exactly the rounds in
    which the target was slow: one gate run read 1.05x that way and 1.17x with them.)"""
    metric, ratios = m.scenario.metric, []
    for a, b in zip(m.rounds.get(target, []), m.rounds.get(baseline, [])):
        va, vb = runner.value_of(a, metric), runner.value_of(b, metric)
        if va and vb and not b.get("inconclusive"):
            ratios.append(va / vb)
    return (statistics.median(ratios) if len(ratios) >= min_pairs else None), len(ratios)


def evaluate(gates: dict, medians: dict, reasons: dict, paired: dict | None = None) -> list[dict]:
    """``medians``: {target: value} for the gate scenario, or {(scenario, target): value} as well.
    ``paired``: {(scenario, target, baseline): paired_ratio(...)}; where it has a ratio, that decides,
    otherwise the ratio of the medians does."""
    out = []
    default = ratio_scenario(gates, {})
    for r in gates["ratio"]:
        t, b, need = r["target"], r["baseline"], float(r["min"])
        sid = ratio_scenario(gates, r)
        tv, bv = (medians.get((sid, n), medians.get(n) if sid == default else None) for n in (t, b))
        row = {"name": f"{t} >= {need:g}x {b}" + ("" if sid == default else f" [{sid}]"), "target": t,
               "baseline": b, "min": need, "scenario": sid, "target_value": tv, "baseline_value": bv}
        if not tv or not bv:
            why = "; ".join(f"{n}: {reasons.get(n) or 'no value measured'}" for n, v in ((t, tv), (b, bv)) if not v)
            row.update(status="UNAVAILABLE", detail=why)
        else:
            pr, pairs = (paired or {}).get((sid, t, b), (None, 0))
            row["ratio"] = tv / bv if pr is None else pr
            row["pairs"] = 0 if pr is None else pairs
            row["status"] = "PASS" if row["ratio"] >= need else "FAIL"
        out.append(row)
    return out


def capacity(result: dict, metric: str) -> float | None:
    """What one generator core can drive: the measured rate over the generator's own CPU use."""
    v, cpu = runner.value_of(result, metric), runner.generator_cpu(result)
    return v / cpu if v and cpu else None


def evaluate_generator(gates: dict, gen_cpu: dict, capacities: dict, reasons: dict) -> list[dict]:
    """[generator] checks (issue 12, the generator must out-run what it measures).

    max_cpu: the generator's median CPU while measuring each ratio target stays below it (at or above,
    the generator rather than the server may have set the figure); a WARN unless enforce_max_cpu
    is true (a lean native server and the generator cost about the same per message, so today the
    native echo sits at the limit: docs/benchmarks.md "Generator headroom"). min_capacity: against
    capacity_target (the trivial native sink), measured rate / generator CPU, i.e. messages per
    second one generator core drives, median of the rounds; robust to a server starved by neighbours.
    """
    g = gates.get("generator") or {}
    out = []
    if "max_cpu" in g:
        limit = float(g["max_cpu"])
        sink = g.get("capacity_target")
        for name in dict.fromkeys(n for r in gates["ratio"] for n in (r["target"], r["baseline"])):
            if name == sink:
                continue
            cpu = gen_cpu.get(name)
            row = {"name": f"generator CPU < {limit:.0%} while measuring {name}", "target": name, "max": limit,
                   "value": cpu}
            if cpu is None:
                row.update(status="UNAVAILABLE", detail=reasons.get(name) or "no generator CPU reported")
            else:
                row["status"] = "PASS" if cpu < limit else ("FAIL" if g.get("enforce_max_cpu") else "WARN")
            out.append(row)
    if g.get("capacity_target") and "min_capacity" in g:
        name, need = g["capacity_target"], float(g["min_capacity"])
        cap = capacities.get(name)
        row = {"name": f"generator capacity against {name} >= {need:,.0f}/s per core", "target": name,
               "min": need, "value": cap}
        if cap is None:
            row.update(status="UNAVAILABLE", detail=reasons.get(name) or "no value measured")
        else:
            row["status"] = "PASS" if cap >= need else "FAIL"
        out.append(row)
    return out


def measure(scen, targets: list, generator, rounds: int, duration: float, warmup: float,
            reasons: dict, say) -> "runner.Measurement":
    """Interleaved rounds of one scenario against ``targets`` (TLS scenarios with a certificate made
    here), servers started and stopped around them."""
    import tempfile
    with tempfile.TemporaryDirectory(prefix="fasterapi-gate-") as tmp:
        tls = certs.make(Path(tmp)) if scen.tls else None
        servers = {}
        try:
            for t in targets:
                if not t.available:
                    say(f"{t.name} NOT AVAILABLE: {t.reason}")
                    continue
                srv = runner.Server(t, tls=tls)
                try:
                    srv.start()
                    servers[t.name] = srv
                except RuntimeError as exc:
                    reasons[t.name] = str(exc)
                    say(f"{t.name} failed to start for {scen.id}: {exc}")
            return runner.measure_throughput(scen, servers, generator, rounds, duration, warmup, say,
                                             [0, rounds * len(servers)])
        finally:
            for srv in servers.values():
                srv.stop()


def confirm_failures(verdict: list[dict], measured: dict, targets: list, generator, rounds: int, duration: float,
                     warmup: float, reasons: dict, say) -> bool:
    """Measure each failing ratio's two targets again for ``rounds`` more interleaved rounds and add
    them to that scenario's rounds, so the verdict is taken again on the medians of all of them.

    Why: on a shared 2-core machine a neighbour can slow one stretch of rounds by 30% or more (the
    same server measured 52k and 87k msg/s minutes apart), and a ratio measured near its floor would
    flake. A real regression fails again on the pooled medians; one unlucky stretch does not decide
    alone. Returns whether anything was re-measured."""
    again: dict[str, list[str]] = {}
    for v in verdict:
        if v["status"] == "FAIL":
            names = again.setdefault(v["scenario"], [])
            names += [n for n in (v["target"], v["baseline"]) if n not in names]
    for sid, names in again.items():
        say(f"confirming {sid}: {rounds} more rounds of {', '.join(names)} (a failing ratio is decided "
            f"on the medians of all rounds)")
        m = measure(scenarios.by_id(sid), [t for t in targets if t.name in names], generator, rounds, duration,
                    warmup, reasons, say)
        for n, rs in m.rounds.items():
            measured[sid].rounds.setdefault(n, []).extend(rs)
    return bool(again)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="loadtest.gate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--gates", type=Path, default=DEFAULT_GATES)
    p.add_argument("--rounds", type=int, help="override [gate].rounds")
    p.add_argument("--duration", type=float, help="override [gate].duration")
    p.add_argument("--generator", help="path to fasterapi-loadgen, or 'pygen' for the Python fallback")
    p.add_argument("--allow-unavailable", action="store_true",
                   help="exit 0 when every measurable ratio holds but some could not be measured")
    p.add_argument("--json-out", type=Path, help="write the verdict as JSON")
    args = p.parse_args(argv)
    gates = load_gates(args.gates)
    g = gates.get("gate", {})
    scen = scenarios.by_id(ratio_scenario(gates, {}))
    rounds = args.rounds or int(g.get("rounds", 3))
    duration = args.duration or float(g.get("duration", 2.0))
    warmup = float(g.get("warmup", 0.5))
    targets = gate_targets(gates)
    generator = runner.Generator.find(args.generator)
    # Ratios on other scenarios (e.g. TLS): {scenario id: the targets their ratios name}.
    extra: dict[str, list[str]] = {}
    for r in gates["ratio"]:
        sid = ratio_scenario(gates, r)
        if sid != scen.id:
            extra.setdefault(sid, [])
            extra[sid] += [n for n in (r["target"], r["baseline"]) if n not in extra[sid]]
    main_names = {n for r in gates["ratio"] if ratio_scenario(gates, r) == scen.id for n in (r["target"], r["baseline"])}
    main_names.add((gates.get("generator") or {}).get("capacity_target"))
    print(f"gate: {scen.title}; {rounds} rounds x {duration:g}s; generator {generator.version}", flush=True)
    if not generator.native:
        # A Python client saturates before the servers do: every ratio would come out near
        # 1 and the gate would prove nothing. Only an explicit --generator pygen may use it.
        if args.generator != "pygen":
            print("gate: FAIL fasterapi-loadgen not found (make install puts it in .venv/bin); "
                  "pass --generator pygen to try the gate with the Python generator anyway", flush=True)
            return 2
        print("gate: WARNING using the Python fallback generator: ratios are client-bound", flush=True)
    reasons = {t.name: t.reason for t in targets if not t.available}
    say = lambda s: print("gate: " + s, flush=True)  # noqa: E731
    # {scenario id: Measurement}; the gate scenario first, then the scenarios other ratios name.
    measured = {scen.id: measure(scen, [t for t in targets if t.name in main_names], generator, rounds, duration,
                                 warmup, reasons, say)}
    for sid, names in extra.items():
        measured[sid] = measure(scenarios.by_id(sid), [t for t in targets if t.name in names], generator, rounds,
                                duration, warmup, reasons, say)

    def medians() -> dict:  # the gate scenario's by target name, the others by (scenario id, target)
        return {(n if sid == scen.id else (sid, n)): ms.median(n) for sid, ms in measured.items() for n in ms.rounds}

    def judge() -> list[dict]:
        paired = {}
        for r in gates["ratio"]:
            sid = ratio_scenario(gates, r)
            if sid in measured:
                paired[(sid, r["target"], r["baseline"])] = paired_ratio(measured[sid], r["target"], r["baseline"])
        return evaluate(gates, medians(), reasons, paired)

    verdict = judge()
    confirm = g.get("confirm", True)
    if confirm and confirm_failures(verdict, measured, targets, generator, rounds, duration, warmup, reasons, say):
        verdict = judge()
    m = measured[scen.id]
    for sid, ms in measured.items():
        for n in ms.rounds:
            cpu = ms.generator_cpu(n)
            srv = sorted(r["server_cpu"] for r in ms.rounds[n] if isinstance(r.get("server_cpu"), (int, float)))
            print(f"gate: {n}{'' if sid == scen.id else f' [{sid}]'}: median {ms.median(n) or 0:,.0f} "
                  f"{ms.scenario.unit} over {len(ms.values(n))} rounds, generator CPU "
                  f"{'n/a' if cpu is None else f'{cpu:.0%}'}"
                  f"{f', server CPU {srv[(len(srv) - 1) // 2]:.0%}' if srv else ''}"
                  f"{' (inconclusive: generator saturated)' if ms.inconclusive(n) else ''}", flush=True)
    gen_cpu = {n: m.generator_cpu(n) for n in m.rounds}
    caps = {}
    for n in m.rounds:
        vals = sorted(c for c in (capacity(r, scen.metric) for r in m.rounds.get(n, [])) if c)
        caps[n] = vals[(len(vals) - 1) // 2] if vals else None
    main_ratios = [r for r in gates["ratio"] if ratio_scenario(gates, r) == scen.id]
    gen_verdict = evaluate_generator({**gates, "ratio": main_ratios}, gen_cpu, caps, reasons)
    for v in gen_verdict:
        if v["status"] == "UNAVAILABLE":
            print(f"gate: UNAVAILABLE {v['name']}: {v['detail']}", file=sys.stderr)
        else:
            shown = f"{v['value']:.0%}" if "max" in v else f"{v['value']:,.0f}/s per core"
            print(f"gate: {v['status']} {v['name']}: measured {shown}",
                  file=sys.stdout if v["status"] == "PASS" else sys.stderr)
    for v in verdict:
        if v["status"] == "UNAVAILABLE":
            print(f"gate: UNAVAILABLE {v['name']}: {v['detail']}", file=sys.stderr)
        else:
            same = v["scenario"] == scen.id  # generator CPU is kept for the gate scenario's rounds
            tc, bc = (gen_cpu.get(v["target"]), gen_cpu.get(v["baseline"])) if same else (None, None)
            cpus = "" if tc is None or bc is None else f"; generator CPU {tc:.0%} vs {bc:.0%}"
            n = len(measured[v["scenario"]].values(v["target"]))
            how = (f"median of {v['pairs']} round-by-round ratios, without rounds that saturated the "
                   f"generator on the baseline; "
                   if v["pairs"] else "ratio of the medians; ")
            print(f"gate: {v['status']} {v['name']}: measured {v['ratio']:.2f}x ({how}"
                  f"{v['target_value']:,.0f} vs {v['baseline_value']:,.0f} {scenarios.by_id(v['scenario']).unit}, "
                  f"medians of {n} rounds{cpus})",
                  file=sys.stderr if v["status"] == "FAIL" else sys.stdout)
    verdict += gen_verdict
    if args.json_out:
        shown = {"/".join(k) if isinstance(k, tuple) else k: v for k, v in medians().items()}
        args.json_out.write_text(json.dumps({"scenario": scen.id, "medians": shown, "generator_cpu": gen_cpu,
                                             "generator_capacity": caps,
                                             "ratios": verdict,
                                             "generator": generator.version}, indent=1))
    if any(v["status"] == "FAIL" for v in verdict):
        failed = ", ".join(v["name"] for v in verdict if v["status"] == "FAIL")
        print(f"gate: FAILED: {failed}", file=sys.stderr)
        return 1
    if any(v["status"] == "UNAVAILABLE" for v in verdict) and not args.allow_unavailable:
        print("gate: INCOMPLETE: some ratios could not be measured (see above); not a pass", file=sys.stderr)
        return 3
    print("gate: OK")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
