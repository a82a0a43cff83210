"""Runs servers and the generator: pinning, port wait, warm-up, interleaved rounds, RSS, stop.

Server on CPU 0 (``taskset -c 0``), generator on CPU 1, as DESIGN.md asks. Rounds are interleaved
per scenario (A B C A B C ...) so slow drift of a noisy machine hits every target alike. A target
that supports ``tls-*`` capabilities takes ``--ssl-certfile/--ssl-keyfile``; its TLS server is a
second process (``Server(target, tls=files)``), addressed with wss:// / https://.
"""

from __future__ import annotations

import glob
import importlib.util
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from loadtest.certs import TlsFiles
from loadtest.scenarios import Scenario

ROOT = Path(__file__).resolve().parent.parent
SERVER_CPU = "0"
GENERATOR_CPU = "1"
HOST = "127.0.0.1"


def find_tool(name: str) -> str | None:
    """A native tool: PATH, next to sys.executable (venv bin), then developer build folders."""
    found = shutil.which(name)
    if found:
        return found
    cand = Path(sys.executable).parent / name
    if cand.exists():
        return str(cand)
    builds = sorted(glob.glob(str(ROOT / "build" / "*" / name)), key=os.path.getmtime, reverse=True)
    return builds[0] if builds else None


def _has_module(mod: str) -> bool:
    try:
        return importlib.util.find_spec(mod) is not None
    except (ImportError, ValueError):
        return False


def fasterapi_available() -> tuple[bool, str]:
    """Checked in a child process: the repo's ./fasterapi may lack a built _core."""
    code = ("import fasterapi,sys; sys.exit(0 if hasattr(fasterapi,'App') else 3)")
    try:
        cp = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return False, "import fasterapi timed out"
    if cp.returncode == 0:
        return True, ""
    if cp.returncode == 3:
        return False, "fasterapi.App not available yet (issue-3 API not built)"
    last = (cp.stderr.strip().splitlines() or ["?"])[-1]
    return False, f"import fasterapi failed ({last[:120]})"


@dataclass
class Target:
    name: str
    label: str
    argv: list            # may contain {python} {host} {port} {bin}
    supports: frozenset
    requires: tuple = ()  # python modules that must import
    binary: str = ""      # native executable looked up with find_tool
    kind: str = "peer"    # peer | native | fasterapi
    available: bool = True
    reason: str = ""
    version: str = ""
    kind_labels: dict = field(default_factory=dict)  # scenario kind -> label (e.g. sse -> sse-starlette)

    def command(self, port: int, tls: TlsFiles | None = None) -> list[str]:
        bin_path = find_tool(self.binary) if self.binary else ""
        argv = [a.format(python=sys.executable, host=HOST, port=port, bin=bin_path) for a in self.argv]
        return argv + (tls.server_args() if tls else [])


def _py(module: str, *extra: str) -> list[str]:
    return ["{python}", "-m", module, *extra, "--host", "{host}", "--port", "{port}"]


WS = {"echo", "echo-deflate", "broadcast", "memory"}
# Serves wss natively or through its own SSL layer (issue 13's TLS scenarios). websockets and aiohttp
# could too (asyncio's SSL transport, as uvicorn), left out to keep the bench short.
TLS = {"tls-echo", "tls-memory", "tls-connect"}


def default_targets() -> list[Target]:
    return [
        Target("fasterapi-callback", "FasterAPI (callback)", _py("loadtest.apps.fasterapi_bench", "--handler", "callback"),
               frozenset(WS | TLS), kind="fasterapi"),
        Target("fasterapi-async", "FasterAPI (async)", _py("loadtest.apps.fasterapi_bench", "--handler", "async"),
               frozenset({"echo", "echo-deflate", "sse", "http", "memory"} | TLS), kind="fasterapi"),
        Target("native-echo", "native C++ echo", ["{bin}", "--host", "{host}", "--port", "{port}"],
               frozenset(WS | TLS | {"sse", "http"}), binary="fasterapi-echo", kind="native"),
        Target("picows", "picows", _py("loadtest.peers.picows_server"),
               frozenset({"echo", "broadcast", "memory"} | TLS), requires=("picows",)),
        Target("socketify", "socketify.py", _py("loadtest.peers.socketify_server"), frozenset(WS | TLS | {"http"}),
               requires=("socketify",)),
        Target("websockets", "websockets", _py("loadtest.peers.websockets_asyncio"), frozenset(WS),
               requires=("websockets",)),
        Target("aiohttp", "aiohttp", _py("loadtest.peers.aiohttp_server"), frozenset(WS | {"sse", "http"}),
               requires=("aiohttp",)),
        Target("uvicorn-starlette", "uvicorn+Starlette", _py("loadtest.peers.uvicorn_starlette"),
               frozenset(WS | TLS | {"sse", "http"}), requires=("uvicorn", "starlette", "sse_starlette"),
               kind_labels={"sse": "sse-starlette (uvicorn)"}),
        Target("fastapi-sse", "FastAPI EventSourceResponse", _py("loadtest.peers.fastapi_sse"), frozenset({"sse"}),
               requires=("fastapi", "uvicorn")),
        Target("granian", "granian (RSGI)", _py("loadtest.peers.granian_rsgi"), frozenset({"http"}),
               requires=("granian",)),
    ]


VERSION_DISTS = {"picows": "picows", "socketify": "socketify", "websockets": "websockets", "aiohttp": "aiohttp",
                 "uvicorn-starlette": "uvicorn,starlette,sse-starlette,uvloop,httptools",
                 "fastapi-sse": "fastapi,uvicorn", "granian": "granian"}


def resolve(targets: list[Target]) -> list[Target]:
    """Fill availability (and versions) without starting anything."""
    from importlib import metadata
    fa = None
    for t in targets:
        if t.kind == "fasterapi":
            fa = fa or fasterapi_available()
            t.available, t.reason = fa
        elif t.binary:
            t.available = find_tool(t.binary) is not None
            t.reason = "" if t.available else f"{t.binary} not built/installed yet"
        missing = [m for m in t.requires if not _has_module(m)]
        if missing:
            t.available, t.reason = False, "not installed: " + ", ".join(missing)
        vers = []
        for dist in VERSION_DISTS.get(t.name, "").split(","):
            if dist:
                try:
                    vers.append(f"{dist} {metadata.version(dist)}")
                except metadata.PackageNotFoundError:
                    pass
        t.version = ", ".join(vers)
    return targets


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen | None, timeout: float = 30) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection((HOST, port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _cpu_s(pid: int) -> float:
    """utime + stime of one process (all its threads), in seconds; 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for f in glob.glob(f"/proc/{p}/task/*/children"):
            try:
                kids = [int(x) for x in Path(f).read_text().split()]
            except OSError:
                kids = []
            out += kids
            todo += kids
    return out


class Server:
    """One target process, pinned to SERVER_CPU, in its own session so it stops with its children."""

    def __init__(self, target: Target, log_dir: Path | None = None, tls: TlsFiles | None = None) -> None:
        self.target = target
        self.tls = tls
        self.port = free_port()
        self.argv = target.command(self.port, tls)
        self.proc: subprocess.Popen | None = None
        self.log_dir = log_dir
        self.log = None

    @property
    def base_http(self) -> str:
        return f"{'https' if self.tls else 'http'}://{HOST}:{self.port}"

    @property
    def base_ws(self) -> str:
        return f"{'wss' if self.tls else 'ws'}://{HOST}:{self.port}"

    def start(self) -> None:
        raise_nofile()
        taskset = ["taskset", "-c", SERVER_CPU] if shutil.which("taskset") else []
        if self.log_dir:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            self.log = open(self.log_dir / f"server-{self.target.name}{'-tls' if self.tls else ''}.log", "ab")
        self.proc = subprocess.Popen(taskset + self.argv, cwd=ROOT, stdin=subprocess.DEVNULL,
                                     stdout=self.log or subprocess.DEVNULL, stderr=self.log or subprocess.DEVNULL,
                                     start_new_session=True)
        if not wait_port(self.port, self.proc):
            self.stop()
            raise RuntimeError(f"{self.target.name} did not start listening on port {self.port}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def rss_kib(self) -> int:
        if not self.alive():
            return 0
        return sum(_rss_kib(p) for p in [self.proc.pid, *_descendants(self.proc.pid)])

    def cpu_s(self) -> float:
        """CPU seconds used so far by the server and its children."""
        if not self.alive():
            return 0.0
        return sum(_cpu_s(p) for p in [self.proc.pid, *_descendants(self.proc.pid)])

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(5)
        if self.log:
            self.log.close()
            self.log = None

    def __enter__(self) -> "Server":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass
class Generator:
    """The native generator when built, else the Python fallback (labelled as such everywhere)."""
    path: str | None = None
    native: bool = True
    version: str = ""

    @classmethod
    def find(cls, choice: str | None = None) -> "Generator":
        if choice == "pygen":
            return cls(None, False, "loadtest.pygen (Python fallback)")
        path = choice or find_tool("fasterapi-loadgen")
        if path:
            return cls(path, True, path)
        return cls(None, False, "loadtest.pygen (Python fallback: fasterapi-loadgen not found)")

    def argv(self, args: list[str]) -> list[str]:
        taskset = ["taskset", "-c", GENERATOR_CPU] if shutil.which("taskset") else []
        base = [self.path] if self.native else [sys.executable, "-m", "loadtest.pygen"]
        return taskset + base + args

    def run(self, args: list[str], timeout: float) -> dict:
        argv = self.argv(args)
        try:
            cp = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"generator timed out after {timeout:.0f}s", "command": argv}
        try:
            out = json.loads(cp.stdout)
        except json.JSONDecodeError:
            return {"error": f"generator exit {cp.returncode}: {(cp.stderr or cp.stdout).strip()[-300:]}",
                    "command": argv}
        out["command"] = argv
        return out


def generator_cpu(result: dict) -> float | None:
    """The generator's own CPU use in one run (busiest thread, 1.0 = one core), if it reported it."""
    u = ((result or {}).get("cpu") or {}).get("utilization")
    return float(u) if isinstance(u, (int, float)) else None


def value_of(result: dict, metric: str) -> float | None:
    if not result or "error" in result:
        return None
    v = result.get(metric)
    return float(v) if isinstance(v, (int, float)) else None


@dataclass
class Measurement:
    scenario: Scenario
    rounds: dict = field(default_factory=dict)   # target -> [result dict per round]
    skipped: dict = field(default_factory=dict)  # target -> reason

    def values(self, target: str) -> list[float]:
        return [v for v in (value_of(r, self.scenario.metric) for r in self.rounds.get(target, [])) if v is not None]

    def median(self, target: str) -> float | None:
        vals = self.values(target)
        return statistics.median(vals) if vals else None

    def median_round(self, target: str) -> dict | None:
        """The round whose value is the median (its histogram and timeline are the ones plotted)."""
        rs = [r for r in self.rounds.get(target, []) if value_of(r, self.scenario.metric) is not None]
        if not rs:
            return None
        rs.sort(key=lambda r: value_of(r, self.scenario.metric))
        return rs[(len(rs) - 1) // 2]

    def inconclusive(self, target: str) -> bool:
        return any(r.get("inconclusive") for r in self.rounds.get(target, []))

    def generator_cpu(self, target: str) -> float | None:
        """Median CPU use of the generator's busiest thread (1.0 = one core) over the rounds."""
        vals = [u for u in (generator_cpu(r) for r in self.rounds.get(target, [])) if u is not None]
        return statistics.median(vals) if vals else None

    def to_json(self) -> dict:
        s = self.scenario
        return {"id": s.id, "title": s.title, "kind": s.kind, "metric": s.metric, "unit": s.unit,
                "connections": s.connections, "tls": s.tls, "plain": s.plain, "skipped": self.skipped,
                "rounds": self.rounds,
                "median": {t: self.median(t) for t in self.rounds},
                "inconclusive": {t: self.inconclusive(t) for t in self.rounds},
                "generator_cpu": {t: self.generator_cpu(t) for t in self.rounds}}


def _say(progress, text: str) -> None:
    if progress:
        progress(text)


def settle(servers, window: float = 0.2, busy_s: float = 0.02, limit: float = 5.0) -> float:
    """Wait until no running server of ``servers`` used more than ``busy_s`` CPU seconds over the
    last ``window`` s (10% of a core; /proc counts in 10 ms ticks), at most ``limit`` s. Returns the
    seconds waited. Every server shares one core: a server still draining the backlog of a run it
    fell behind in (a broadcast step above its capacity) would otherwise take that core from the
    next target's run. Measured: FasterAPI's first broadcast step at 1000 subscribers read p99
    49-63 ms right after socketify's overloaded step, 23 ms when it ran first."""
    live = [s for s in servers if s.alive()]
    t0 = time.monotonic()
    before = [s.cpu_s() for s in live]
    while live and time.monotonic() - t0 < limit:
        time.sleep(window)
        now = [s.cpu_s() for s in live]
        if all(b - a <= busy_s for a, b in zip(before, now)):
            break
        before = now
    return time.monotonic() - t0


def measure_throughput(scenario: Scenario, servers: dict, generator: Generator, rounds: int,
                       duration: float, warmup: float, progress=None, counter=None,
                       bystanders=()) -> Measurement:
    """Interleaved rounds: for r in rounds: for target in targets: one generator run, each started
    once ``servers`` and ``bystanders`` (other servers on the same core) are idle (settle)."""
    m = Measurement(scenario)
    quiet = [*servers.values(), *(b for b in bystanders if b not in servers.values())]
    for r in range(rounds):
        for name, srv in servers.items():
            if not srv.alive():  # a crashed server is restarted, the failure stays visible in its log
                try:
                    srv.stop()
                    srv.start()
                except RuntimeError as exc:
                    m.rounds.setdefault(name, []).append({"error": str(exc)})
                    continue
            base = srv.base_ws if scenario.mode.startswith("ws") or scenario.mode == "connect" else srv.base_http
            args = scenario.generator_args(base, duration, warmup)
            waited = settle(quiet)
            between = [0.0, 0.0]  # a sweep's waits between its steps (CPU s, s): not part of its steps

            def settle_step(srv=srv):
                c, t = srv.cpu_s(), time.monotonic()
                settle(quiet)
                between[0] += srv.cpu_s() - c
                between[1] += time.monotonic() - t

            cpu0, t0 = srv.cpu_s(), time.monotonic()
            if scenario.extra.get("rates"):
                res = sweep_rates(scenario, args, generator, duration, warmup, settle_step)
            else:
                res = generator.run(args, timeout=duration + warmup + 60)
            cpu1, t1 = srv.cpu_s() - between[0], time.monotonic() - between[1]
            if "error" not in res and t1 > t0 and cpu1 >= cpu0:
                # The server's CPU over the generator's runs (connect and warm-up included, a sweep's
                # waits between steps left out): next to the generator's, it says which side was saturated.
                res["server_cpu"] = round((cpu1 - cpu0) / (t1 - t0), 3)
            res["settle_s"] = round(waited, 2)
            m.rounds.setdefault(name, []).append(res)
            if counter is not None:
                counter[0] += 1
            v = value_of(res, scenario.metric)
            where = f"[{counter[0]}/{counter[1]}] " if counter is not None else ""
            shown = f"{v:,.0f} {scenario.unit}" if v is not None else "ERROR " + str(res.get("error", ""))[:120]
            cpu = generator_cpu(res)
            flag = f"  generator CPU {cpu:.0%}" if cpu is not None else ""
            flag += f", server CPU {res['server_cpu']:.0%}" if isinstance(res.get("server_cpu"), float) else ""
            flag += "  (inconclusive: generator saturated)" if res.get("inconclusive") else ""
            flag += f"  (waited {waited:.1f} s for the servers to go idle)" if waited >= 1.0 else ""
            _say(progress, f"{where}{scenario.id} round {r + 1}/{rounds} {name:<20} {shown}{flag}")
    return m


def sweep_rates(scenario: Scenario, args: list[str], generator: Generator, duration: float,
                warmup: float, before_step=None) -> dict:
    """One round of a rate sweep: each rate of ``scenario.extra["rates"]`` in turn (runs of at most
    2 s). A step passes when it keeps up (>= 97% of the expected deliveries) with p99 latency <=
    ``p99_ms``. The sweep stops after ``misses`` failing steps in a row (default 2): a server that
    falls behind fails every higher rate, while one stall of a shared machine fails one step (at
    1000 subscribers one slow fan-out puts a 2 s step's p99 over 50 ms). The result is the highest
    passing run's, with ``max_rate`` (0: none passed) and every step in ``sweep``. ``before_step()``
    runs before each step (settle: a step the server fell behind in must not slow the next)."""
    bound_us = scenario.extra["p99_ms"] * 1000
    misses_allowed = scenario.extra.get("misses", 2)
    step = min(duration, 2.0)
    steps, best, misses = [], None, 0
    for i, rate in enumerate(scenario.extra["rates"]):
        if before_step is not None and i:
            before_step()
        res = generator.run([*args, "--rate", str(rate), "--duration", f"{step:g}", "--warmup", f"{min(warmup, 0.5):g}"],
                            timeout=step + warmup + 60)
        if "error" in res:
            steps.append({"rate": rate, "error": str(res["error"])[:200]})
            break
        p99 = (res.get("latency_us") or {}).get("p99")
        kept = (res.get("rate_per_s") or 0) >= 0.97 * (res.get("expected_deliveries_per_s") or 0)
        ok = kept and isinstance(p99, (int, float)) and p99 <= bound_us
        steps.append({"rate": rate, "deliveries_per_s": res.get("rate_per_s"), "p99_us": p99, "ok": ok})
        if ok:
            best, misses = res, 0
            continue
        misses += 1
        if misses >= misses_allowed:
            break
    out = dict(best or {})
    out["max_rate"] = max((s["rate"] for s in steps if s.get("ok")), default=0)
    out["sweep"] = steps
    return out


def measure_memory(scenario: Scenario, target: Target, rounds: int, log_dir: Path | None = None,
                   progress=None, counter=None, round_label: str = "", tls: TlsFiles | None = None) -> list[dict]:
    """RSS delta / N for N idle upgraded WebSockets held by loadtest.holder, fresh server per round
    (TLS scenarios: a TLS server and wss connections, so the delta includes each idle TLS session)."""
    out = []
    n = scenario.connections
    for r in range(rounds):
        res: dict = {"connections": n}
        try:
            with Server(target, log_dir, tls if scenario.tls else None) as srv:
                time.sleep(0.5)
                before = srv.rss_kib()
                taskset = ["taskset", "-c", GENERATOR_CPU] if shutil.which("taskset") else []
                argv = taskset + [sys.executable, "-m", "loadtest.holder", "--url", srv.base_ws + scenario.path,
                                  "-n", str(n)]
                holder = subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                try:
                    line = holder.stdout.readline()
                    info = json.loads(line) if line else {"open": 0, "failed": n}
                    time.sleep(1.0)
                    after = srv.rss_kib()
                finally:
                    holder.stdin.close()
                    try:
                        holder.wait(30)
                    except subprocess.TimeoutExpired:
                        holder.kill()
                        holder.wait()
                opened = info.get("open", 0)
                res.update(rss_before_kib=before, rss_after_kib=after, open=opened, failed=info.get("failed"),
                           command=argv, server_command=srv.argv)
                if opened:
                    res["kib_per_conn"] = (after - before) / opened
                if opened < n:
                    res["notes"] = [f"only {opened} of {n} connections upgraded"]
        except RuntimeError as exc:
            res["error"] = str(exc)
        out.append(res)
        if counter is not None:
            counter[0] += 1
        where = f"[{counter[0]}/{counter[1]}] " if counter is not None else ""
        shown = f"{res['kib_per_conn']:.2f} KiB/conn ({res.get('open')} open)" if "kib_per_conn" in res else \
            "ERROR " + str(res.get("error", res.get("notes", "")))
        _say(progress, f"{where}{scenario.id} round {round_label or f'{r + 1}/{rounds}'} {target.name:<20} {shown}")
    return out
