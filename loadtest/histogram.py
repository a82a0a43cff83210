"""Microsecond latency histogram, log-linear like HDR (<1% relative error), in pure Python.

Used by the Python fallback generator and by the Locust users (Locust rounds to whole milliseconds),
and to read the native generator's compact ``histogram_us`` ([[upper_bound_us, count], ...]).
"""

from __future__ import annotations

import math

_SUB_BITS = 7  # 128 sub-buckets per power of two: relative bucket width <= 1/128 (< 0.8%)
_SUB = 1 << _SUB_BITS


def _index(us: int) -> int:
    if us < _SUB:
        return us
    shift = us.bit_length() - _SUB_BITS - 1
    return ((shift + 1) << _SUB_BITS) + ((us >> shift) - _SUB)


def _upper(index: int) -> int:
    """Largest value that falls into bucket ``index``."""
    if index < _SUB:
        return index
    shift = (index >> _SUB_BITS) - 1
    mantissa = (index & (_SUB - 1)) + _SUB
    return ((mantissa + 1) << shift) - 1


class Histogram:
    __slots__ = ("counts", "count", "total", "min", "max")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.count = 0
        self.total = 0
        self.min = math.inf
        self.max = 0

    def record(self, us: float, n: int = 1) -> None:
        """Record ``n`` samples of ``us`` (n > 1 merges another histogram's bucket cheaply)."""
        v = max(0, int(us))
        i = _index(v)
        self.counts[i] = self.counts.get(i, 0) + n
        self.count += n
        self.total += v * n
        if v < self.min:
            self.min = v
        if v > self.max:
            self.max = v

    def merge(self, other: "Histogram") -> None:
        for i, c in other.counts.items():
            self.counts[i] = self.counts.get(i, 0) + c
        self.count += other.count
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    def percentile(self, p: float) -> int:
        if not self.count:
            return 0
        rank = max(1, math.ceil(self.count * p / 100.0))
        seen = 0
        for i in sorted(self.counts):
            seen += self.counts[i]
            if seen >= rank:
                return min(_upper(i), int(self.max))
        return int(self.max)

    def compact(self) -> list[list[int]]:
        return [[_upper(i), self.counts[i]] for i in sorted(self.counts)]

    def summary(self) -> dict:
        return {"count": self.count, "min": 0 if not self.count else int(self.min),
                "mean": (self.total / self.count) if self.count else 0.0,
                "p50": self.percentile(50), "p90": self.percentile(90), "p99": self.percentile(99),
                "p999": self.percentile(99.9), "max": int(self.max)}


def percentile_from_compact(buckets: list, p: float) -> float:
    """Percentile from a compact [[upper_us, count], ...] list (as the native generator writes it)."""
    total = sum(c for _, c in buckets)
    if not total:
        return 0.0
    rank = max(1, math.ceil(total * p / 100.0))
    seen = 0
    for upper, c in sorted(buckets):
        seen += c
        if seen >= rank:
            return float(upper)
    return float(buckets[-1][0])


def cdf_from_compact(buckets: list) -> tuple[list[float], list[float]]:
    """(latency_us, cumulative fraction) points for a CDF plot."""
    total = sum(c for _, c in buckets) or 1
    xs, ys, seen = [], [], 0
    for upper, c in sorted(buckets):
        seen += c
        xs.append(float(upper))
        ys.append(seen / total)
    return xs, ys
