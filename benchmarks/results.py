"""A row of results: one metric of one workload, per run, beside a peer's from the same runs."""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.stats import Spread


@dataclass(frozen=True)
class Row:
    """One metric of one workload: anylambda's value per run, and a peer's from the same runs."""

    key: str
    """Stable identifier, e.g. ``sequential.throughput`` (targets and JSON use it)."""
    workload: str
    metric: str
    unit: str
    anylambda: tuple[float, ...]
    peer: str = ""
    """What ``reference`` measured: ``RIE``, ``docker run``, ..."""
    reference: tuple[float, ...] = ()
    note: str = ""

    @property
    def value(self) -> float | None:
        """anylambda's median over the runs (None if nothing was measured)."""
        return Spread.of(self.anylambda).median if self.anylambda else None

    @property
    def peer_value(self) -> float | None:
        """The peer's median over the runs (None if there is no peer)."""
        return Spread.of(self.reference).median if self.reference else None

    @property
    def ratio(self) -> float | None:
        """anylambda's median over the peer's, when both are there and the peer's is not 0."""
        if self.value is None or not self.peer_value:
            return None
        return self.value / self.peer_value


def number(value: float) -> str:
    """A figure with as many digits as matter at its size."""
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"
