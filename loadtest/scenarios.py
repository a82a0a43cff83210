"""Scenario catalogue: what is measured, with which generator arguments, on which endpoint.

A scenario names a ``needs`` capability; a target takes part only when it supports it
(e.g. picows has no permessage-deflate, granian serves HTTP only). TLS scenarios (``tls=True``)
need ``tls-<kind>`` and run against a second server of each target started with a bench-time
certificate; ``plain`` names the same measurement without TLS (the report shows TLS / plain).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    kind: str                 # echo | broadcast | sse | http | memory | connect
    needs: str                # capability a target must have: echo, echo-deflate, broadcast, sse, http, memory,
                              # tls-echo, tls-memory, tls-connect
    path: str                 # endpoint on the target
    mode: str = ""            # generator mode (fasterapi-loadgen subcommand)
    args: tuple = ()          # generator arguments besides --url/--duration/--warmup
    metric: str = "rate_per_s"
    unit: str = "msg/s"
    connections: int = 0
    extra: dict = field(default_factory=dict)
    tls: bool = False         # wss:// / https:// against the target's TLS server
    plain: str = ""           # id of the same scenario without TLS (TLS / plain ratio)

    def generator_args(self, base_url: str, duration: float, warmup: float) -> list[str]:
        return [self.mode, "--url", base_url + self.path, *self.args,
                "--duration", f"{duration:g}", "--warmup", f"{warmup:g}"]


SIZES = {"32B": 32, "1KiB": 1024, "16KiB": 16 * 1024, "1MiB": 1 << 20}


def echo(size: str, conns: int, deflate: bool = False, inflight: int = 1, tls: bool = False) -> Scenario:
    plain = f"echo-{size}-c{conns}" + ("-deflate" if deflate else "")
    args = ["--connections", str(conns), "--inflight", str(inflight), "--size", str(SIZES[size])]
    if deflate:
        args.append("--compress")
    title = f"WS{'S (TLS)' if tls else ''} echo {size}, {conns} conn{'s' if conns > 1 else ''}, {inflight} in flight" + (
        ", permessage-deflate" if deflate else "")
    needs = "echo-deflate" if deflate else "echo"
    if tls:
        return Scenario("tls-" + plain, title, "echo", "tls-" + needs, "/", "ws-echo", tuple(args),
                        connections=conns, tls=True, plain=plain)
    return Scenario(plain, title, "echo", needs, "/", "ws-echo", tuple(args), connections=conns)


def tls_connect(resume: bool, conns: int = 16) -> Scenario:
    """New TLS connections per second: TCP + TLS handshake + WebSocket upgrade, then close."""
    how = "resumed" if resume else "full"
    args = ["--connections", str(conns)] + (["--resume"] if resume else [])
    return Scenario(f"tls-connect-{how}-c{conns}", f"New wss connections/s, {how} TLS handshake + upgrade, "
                    f"{conns} at a time", "connect", "tls-connect", "/", "connect", tuple(args),
                    unit="conn/s", connections=conns, tls=True)


def broadcast(subscribers: int, rate: int) -> Scenario:
    return Scenario(f"broadcast-c{subscribers}", f"Broadcast 1 publisher -> {subscribers} subscribers "
                    f"({rate} msg/s published)", "broadcast", "broadcast", "/broadcast", "ws-broadcast",
                    ("--connections", str(subscribers), "--rate", str(rate), "--size", "64"),
                    unit="deliveries/s", connections=subscribers)


def broadcast_sweep(subscribers: int, rates: tuple[int, ...], p99_ms: float, misses: int = 2,
                    name: str = "sweep") -> Scenario:
    """The highest publish rate (1 publisher -> ``subscribers``) whose deliveries keep up (>= 97%
    of expected) with p99 delivery latency <= ``p99_ms``: a short sweep over ``rates`` per round,
    stopping after ``misses`` failing rates in a row (runner.sweep_rates). A fixed rate every
    target meets measures nothing. Id: ``broadcast-<name>-c<subscribers>``."""
    return Scenario(f"broadcast-{name}-c{subscribers}", f"Broadcast 1 publisher -> {subscribers} subscribers: "
                    f"highest publish rate with p99 <= {p99_ms:g} ms", "broadcast", "broadcast", "/broadcast",
                    "ws-broadcast", ("--connections", str(subscribers), "--size", "64"), metric="max_rate",
                    unit="publishes/s", connections=subscribers, extra={"rates": rates, "p99_ms": p99_ms, "misses": misses})


def sse(subscribers: int) -> Scenario:
    return Scenario(f"sse-c{subscribers}", f"SSE fan-out, {subscribers} subscribers, 32 B events",
                    "sse", "sse", "/sse", "sse", ("--connections", str(subscribers)),
                    unit="events/s", connections=subscribers)


def http(endpoint: str, conns: int) -> Scenario:
    return Scenario(f"http-{endpoint}-c{conns}", f"HTTP GET /{endpoint}, keep-alive, {conns} conns",
                    "http", "http", f"/{endpoint}", "http", ("--connections", str(conns), "--pipeline", "1"),
                    unit="req/s", connections=conns)


def memory(conns: int, tls: bool = False) -> Scenario:
    plain = f"memory-idle-{conns}"
    if tls:
        return Scenario("tls-" + plain, f"RSS per idle upgraded WebSocket over TLS (wss), {conns} connections",
                        "memory", "tls-memory", "/", metric="kib_per_conn", unit="KiB/conn", connections=conns,
                        tls=True, plain=plain)
    return Scenario(plain, f"RSS per idle upgraded WebSocket, {conns} connections",
                    "memory", "memory", "/", metric="kib_per_conn", unit="KiB/conn", connections=conns)


def tls_set(conns_memory: int) -> list[Scenario]:
    """Issue 13's TLS scenarios; each echo and memory one has its plain twin in the same set."""
    return [memory(conns_memory, tls=True), echo("32B", 100, tls=True), echo("16KiB", 100, tls=True),
            tls_connect(False), tls_connect(True)]


def full() -> list[Scenario]:
    out = [memory(10_000), *tls_set(10_000)]
    for deflate in (False, True):
        for size in SIZES:
            for conns in (1, 100, 1000):
                out.append(echo(size, conns, deflate))
    out += [*BROADCAST_SWEEPS, sse(100), sse(1000), http("plaintext", 100), http("json", 100)]
    return out


def quick() -> list[Scenario]:
    return [memory(1000), echo("32B", 100), echo("16KiB", 100), echo("1KiB", 100, deflate=True),
            *BROADCAST_SWEEPS, sse(100), http("plaintext", 100), http("json", 100), *tls_set(1000)]


GATE_SCENARIO = echo("32B", 100)
# Issue 12's bound, 10 ms p99, at 100 and 1000 subscribers. At 1000 the one-core generator's own
# delivery latency is 3-9 ms p99 on a quiet machine (200-6400 publishes/s) but reached ~30 ms on
# busy days, so there the figure needs a quiet machine; the rates go past 6400 because FasterAPI
# passed 6400 (socketify 3200) on one.
BROADCAST_SWEEPS = (broadcast_sweep(100, (500, 1000, 2000, 4000, 8000, 16000), 10.0),
                    broadcast_sweep(1000, (200, 400, 800, 1600, 3200, 4800, 6400, 9600, 12800), 10.0))
# The bench gate's broadcast ratio: "keeps up without queueing" (p99 <= 50 ms), which a busy CI
# machine can still observe at 1000 subscribers, where 10 ms can read 0 for every server.
GATE_BROADCAST = broadcast_sweep(1000, (200, 400, 800, 1600, 3200, 6400), 50.0, name="keepup")


def by_id(sid: str) -> Scenario:
    for s in full() + quick() + [GATE_BROADCAST]:
        if s.id == sid:
            return s
    raise KeyError(sid)
