"""The Autobahn pass rule and the allowlist.

A case passes when both ``behavior`` and ``behaviorClose`` are ``OK`` or
``INFORMATIONAL``. Anything else (NON-STRICT, UNIMPLEMENTED, WRONG CODE,
UNCLEAN, FAILED, or a case the run never reported: MISSING) fails the gate
unless the committed allowlist names the case with a reason. Every allowlist
entry is a debt, so entries that no longer fail are reported as stale.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

PASSING = frozenset({"OK", "INFORMATIONAL"})
MISSING = "MISSING"
# Worst last: the outcome shown for a case is the worse of its two behaviours.
SEVERITY = ["OK", "INFORMATIONAL", "NON-STRICT", "UNIMPLEMENTED", "WRONG CODE", "UNCLEAN",
            "FAILED", MISSING]
DEFAULT_ALLOWLIST = Path(__file__).with_name("allowlist.toml")

# Autobahn's top-level case groups (8 and 11 do not exist in the suite).
CATEGORIES = {
    "1": "Framing",
    "2": "Pings/Pongs",
    "3": "Reserved bits",
    "4": "Opcodes",
    "5": "Fragmentation",
    "6": "UTF-8",
    "7": "Close",
    "9": "Limits/performance",
    "10": "Misc",
    "12": "Compression (12)",
    "13": "Compression (13)",
}


class AllowlistError(ValueError):
    """The allowlist file is malformed (bad TOML, missing case or reason)."""


@dataclasses.dataclass(frozen=True)
class AllowEntry:
    case: str  # exact case id, or a pattern such as "12.*"
    reason: str
    agent: str | None = None  # limit to one target; None = every target

    def matches(self, case: str, agent: str) -> bool:
        if self.agent is not None and not fnmatch.fnmatchcase(agent, self.agent):
            return False
        return case == self.case or fnmatch.fnmatchcase(case, self.case)


def load_allowlist(path: Path | None) -> list[AllowEntry]:
    """Parse ``[[allow]] case = "x.y.z" reason = "..." [agent = "..."]``."""
    if path is None:
        return []
    path = Path(path)
    if not path.exists():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise AllowlistError(f"{path}: {e}") from e
    unknown = set(data) - {"allow"}
    if unknown:
        raise AllowlistError(f"{path}: unknown top-level keys {sorted(unknown)} (expected [[allow]])")
    entries = []
    for i, raw in enumerate(data.get("allow", [])):
        if not isinstance(raw, dict):
            raise AllowlistError(f"{path}: allow[{i}] is not a table")
        extra = set(raw) - {"case", "reason", "agent"}
        if extra:
            raise AllowlistError(f"{path}: allow[{i}] has unknown keys {sorted(extra)}")
        case, reason, agent = raw.get("case"), raw.get("reason"), raw.get("agent")
        if not isinstance(case, str) or not case.strip():
            raise AllowlistError(f"{path}: allow[{i}] needs case = \"x.y.z\"")
        if not isinstance(reason, str) or not reason.strip():
            raise AllowlistError(f"{path}: allow[{i}] ({case}) needs a non-empty reason")
        if agent is not None and not isinstance(agent, str):
            raise AllowlistError(f"{path}: allow[{i}] ({case}) agent must be a string")
        entries.append(AllowEntry(case.strip(), reason.strip(), agent))
    return entries


def outcome(behavior: str, behavior_close: str) -> str:
    """The worse of the two behaviours (unknown strings count as FAILED)."""
    def rank(b: str) -> int:
        return SEVERITY.index(b) if b in SEVERITY else SEVERITY.index("FAILED")
    return max((behavior, behavior_close), key=rank)


def passes(behavior: str, behavior_close: str) -> bool:
    return behavior in PASSING and behavior_close in PASSING


def case_key(case: str) -> tuple[int, ...]:
    """Numeric sort key: 9.10.1 after 9.2.1."""
    return tuple(int(p) if p.isdigit() else 0 for p in case.split("."))


def category(case: str) -> str:
    return case.split(".", 1)[0]


@dataclasses.dataclass
class CaseResult:
    case: str
    behavior: str
    behavior_close: str
    status: str  # "pass" | "fail" | "allowed"
    reason: str | None = None  # allowlist reason when allowed
    remote_close_code: int | None = None
    duration_ms: int | None = None
    reportfile: str | None = None  # the suite's per-case JSON, relative to its outdir

    @property
    def outcome(self) -> str:
        return outcome(self.behavior, self.behavior_close)


@dataclasses.dataclass
class GateResult:
    agent: str
    cases: list[CaseResult]
    stale_allow: list[AllowEntry]

    @property
    def failures(self) -> list[CaseResult]:
        return [c for c in self.cases if c.status == "fail"]

    @property
    def allowed(self) -> list[CaseResult]:
        return [c for c in self.cases if c.status == "allowed"]

    @property
    def passed(self) -> bool:
        return bool(self.cases) and not self.failures

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.cases:
            out[c.outcome] = out.get(c.outcome, 0) + 1
        return out

    def by_category(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for c in self.cases:
            d = out.setdefault(category(c.case), {})
            d[c.outcome] = d.get(c.outcome, 0) + 1
        return dict(sorted(out.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 999))


def evaluate(agent: str, results: dict[str, dict], expected: list[str] | None,
             allowlist: list[AllowEntry]) -> GateResult:
    """Apply the pass rule to ``results`` (index.json's entry for ``agent``).

    ``expected`` is the case list wstest announced; a case it announced but
    never reported (the server vanished, the run was cut) is MISSING and fails.
    """
    ids = set(results) | set(expected or [])
    cases: list[CaseResult] = []
    used: set[AllowEntry] = set()
    for cid in sorted(ids, key=case_key):
        r = results.get(cid)
        if r is None:
            b, bc = MISSING, MISSING
            extra: dict = {}
        else:
            b, bc = str(r.get("behavior", MISSING)), str(r.get("behaviorClose", MISSING))
            extra = {"remote_close_code": r.get("remoteCloseCode"), "duration_ms": r.get("duration"),
                     "reportfile": r.get("reportfile")}
        status, reason = "pass", None
        if not passes(b, bc):
            entry = next((e for e in allowlist if e.matches(cid, agent)), None)
            if entry is not None:
                status, reason = "allowed", entry.reason
                used.add(entry)
            else:
                status = "fail"
        cases.append(CaseResult(cid, b, bc, status, reason, **extra))
    stale = [e for e in allowlist if e not in used and (e.agent is None or fnmatch.fnmatchcase(agent, e.agent))
             and any(e.matches(c.case, agent) for c in cases)]
    return GateResult(agent, cases, stale)
