"""What every workload shares: its settings, its outcome, and helpers for rows and waits."""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from benchmarks.anylambda_server import AnylambdaServer
from benchmarks.load import LoadResult
from benchmarks.processes import poll
from benchmarks.results import Row
from benchmarks.rie import fetch_rie

#: Seconds an idle instance stays warm on servers that measure cold starts after eviction.
SHORT_IDLE_TIMEOUT = 1.0
#: Seconds to wait for a server's instances to be evicted or to come up.
INSTANCE_WAIT = 60.0


@dataclass(frozen=True)
class Settings:
    """How long and how often to measure, and where to keep files."""

    workdir: Path
    """Scratch space for this harness run (servers' data, RIE's code, logs)."""
    cache_dir: Path
    """Kept between runs: the RIE binary."""
    runs: int = 3
    """Load figures: measured runs, each reported as median (min-max)."""
    duration: int = 3
    """Seconds of each measured load run."""
    warmup: int = 1
    """Seconds of load, not counted, before each measured run."""
    samples: int = 5
    """Single-shot figures (cold starts): how many are taken."""

    def rie(self) -> Path:
        """The RIE binary (fetched into the cache on first use)."""
        return fetch_rie(self.cache_dir)

    def scratch(self, name: str) -> Path:
        """A new directory of its own under the work directory."""
        return Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.workdir))


@dataclass
class Outcome:
    """What a workload measured, and what the reader should know about it."""

    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


Workload = Callable[[Settings], Outcome]
T = TypeVar("T")


def progress(message: str) -> None:
    """Tell whoever watches what is being measured (stderr; the table goes to stdout)."""
    print(f"bench: {message}", file=sys.stderr, flush=True)


def elapsed_ms(action: Callable[[], object]) -> float:
    """How long ``action`` takes, in milliseconds."""
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def in_turn(subjects: Sequence[T], run: int) -> list[T]:
    """``subjects`` rotated by ``run``: whoever goes first changes from run to run, so that
    none is always measured right after the same neighbour."""
    start = run % len(subjects)
    return [*subjects[start:], *subjects[:start]]


def in_parallel(action: Callable[[str], object], names: Iterable[str], workers: int = 4) -> None:
    """Call ``action`` on each name, ``workers`` at a time; the first failure is raised."""
    with ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(action, names):
            pass


def wait_instances(server: AnylambdaServer, count: int) -> None:
    """Wait until ``server`` runs exactly ``count`` instances (eviction, or warm-up)."""
    poll(
        lambda: True if server.instance_count() == count else None,
        INSTANCE_WAIT,
        f"{count} instances on the {server.backend} backend",
        interval=0.05,
    )


def load_rows(
    key: str,
    workload: str,
    ours: Sequence[LoadResult],
    theirs: Sequence[LoadResult],
    peer: str,
) -> list[Row]:
    """Throughput, p50 and p99 rows of load runs on anylambda and on a peer.

    A run in which no request succeeded has no latency: it is left out of those rows.
    """

    def row(metric: str, unit: str, value: Callable[[LoadResult], float | None]) -> Row:
        def values(results: Sequence[LoadResult]) -> tuple[float, ...]:
            return tuple(v for v in map(value, results) if v is not None)

        return Row(f"{key}.{metric}", workload, metric, unit, values(ours), peer, values(theirs))

    return [
        row("throughput", "req/s", lambda r: r.throughput),
        row("p50", "ms", lambda r: r.p50_ms),
        row("p99", "ms", lambda r: r.p99_ms),
    ]


def error_note(name: str, results: Sequence[LoadResult]) -> str | None:
    """A line counting the errors wrk saw in ``results`` (warm-up included), if any."""
    errors: dict[str, int] = {}
    for result in results:
        for bucket in (result.errors, result.warmup_errors):
            for kind, count in bucket.items():
                errors[kind] = errors.get(kind, 0) + count
    if not errors:
        return None
    listed = ", ".join(f"{count:,} {kind}" for kind, count in sorted(errors.items()))
    return f"{name}: wrk counted errors: {listed}"
