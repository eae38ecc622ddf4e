"""The issue's targets, judged on the medians of one harness run."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from benchmarks.handlers import SLEEP_SECONDS
from benchmarks.results import Row, number


@dataclass(frozen=True)
class Verdict:
    """Whether one target is met (None: its workload did not run), and the numbers behind it."""

    target: str
    met: bool | None
    detail: str

    @property
    def status(self) -> str:
        """``met``, ``NOT MET`` or ``not measured``."""
        return {True: "met", False: "NOT MET", None: "not measured"}[self.met]


Judge = Callable[[Mapping[str, Row]], Verdict]


def _pair(rows: Mapping[str, Row], key: str) -> tuple[float, float] | None:
    """anylambda's and the peer's medians of row ``key``, if both were measured."""
    row = rows.get(key)
    if row is None or row.value is None or row.peer_value is None:
        return None
    return row.value, row.peer_value


def _unmeasured(target: str) -> Verdict:
    return Verdict(target, None, "not measured in this run")


def _against_peer(
    key: str,
    target: str,
    holds: Callable[[float, float], bool],
    describe: Callable[[float, float], str],
) -> Judge:
    """A judge of row ``key``: ``holds(ours, theirs)`` on the medians, ``describe`` them."""

    def judge(rows: Mapping[str, Row]) -> Verdict:
        pair = _pair(rows, key)
        if pair is None:
            return _unmeasured(target)
        ours, theirs = pair
        return Verdict(target, holds(ours, theirs), describe(ours, theirs))

    return judge


def at_most_times(key: str, factor: float, target: str, unit: str) -> Judge:
    """anylambda's median ≤ ``factor`` x the peer's."""
    return _against_peer(
        key,
        target,
        lambda ours, theirs: ours <= factor * theirs,
        lambda ours, theirs: (
            f"{number(ours)} vs {number(theirs)} {unit} ({ours / theirs:.2f}x, limit {factor}x)"
        ),
    )


def at_least_times(key: str, factor: float, target: str, unit: str) -> Judge:
    """anylambda's median ≥ ``factor`` x the peer's."""
    return _against_peer(
        key,
        target,
        lambda ours, theirs: ours >= factor * theirs,
        lambda ours, theirs: f"{number(ours)} vs {number(theirs)} {unit} ({ours / theirs:.2f}x)",
    )


def at_most_plus(key: str, margin: float, target: str, unit: str) -> Judge:
    """anylambda's median ≤ the peer's + ``margin``."""
    return _against_peer(
        key,
        target,
        lambda ours, theirs: ours <= theirs + margin,
        lambda ours, theirs: (
            f"{number(ours)} vs {number(theirs)} {unit} "
            f"({ours - theirs:+.2f} {unit}, limit +{number(margin)})"
        ),
    )


def of_ideal(concurrency: int, fraction: float) -> Judge:
    """Throughput of ``concurrency`` sleep invokes ≥ ``fraction`` of concurrency / sleep."""
    target = f"concurrency {concurrency} ≥ {fraction:.0%} of ideal"

    def judge(rows: Mapping[str, Row]) -> Verdict:
        row = rows.get(f"concurrency.{concurrency}.throughput")
        if row is None or row.value is None:
            return _unmeasured(target)
        ideal = concurrency / SLEEP_SECONDS
        share = row.value / ideal
        detail = f"{number(row.value)} of {number(ideal)} req/s ({share:.0%})"
        return Verdict(target, share >= fraction, detail)

    return judge


def at_most(key: str, limit: float, target: str, unit: str) -> Judge:
    """anylambda's median ≤ ``limit``."""

    def judge(rows: Mapping[str, Row]) -> Verdict:
        row = rows.get(key)
        if row is None or row.value is None:
            return _unmeasured(target)
        detail = f"{number(row.value)} {unit} (limit {number(limit)})"
        return Verdict(target, row.value <= limit, detail)

    return judge


TARGETS: tuple[Judge, ...] = (
    at_least_times("sequential.throughput", 1.0, "warm sequential throughput ≥ 1.0x RIE", "req/s"),
    at_most_plus("sequential.p50", 0.3, "warm sequential p50 ≤ RIE's + 0.3 ms", "ms"),
    of_ideal(16, 0.9),
    of_ideal(64, 0.9),
    at_most_times("cold.create", 1.5, "cold start, CreateFunction → response ≤ 1.5x RIE", "ms"),
    at_most_times("cold.evicted", 1.5, "cold start after idle eviction ≤ 1.5x RIE", "ms"),
    at_most_plus(
        "docker.create", 200, "Docker cold start, CreateFunction → response ≤ floor + 200 ms", "ms"
    ),
    at_most_plus(
        "docker.evicted", 200, "Docker cold start after idle eviction ≤ floor + 200 ms", "ms"
    ),
    at_most("memory.per_instance", 256, "server memory per idle warm instance ≤ 256 KB", "KB"),
    at_most_times(
        "scale.invoke.p50", 1.1, "Invoke p50 with 1,000 functions within 10% of 10", "ms"
    ),
)


def evaluate(rows: Sequence[Row]) -> list[Verdict]:
    """Every target's verdict on ``rows``."""
    by_key = {row.key: row for row in rows}
    return [judge(by_key) for judge in TARGETS]
