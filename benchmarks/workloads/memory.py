"""The server's own memory (its RSS, not its instances') with 0, 10 and 100 warm idle instances.

Each run is a fresh server with 100 small functions; 10 of them, then all 100,
are invoked once and left warm. The per-instance cost is the growth from 0 to
100 instances over 100.
"""

from __future__ import annotations

import time

from benchmarks import handlers
from benchmarks.anylambda_server import AnylambdaServer, running_server
from benchmarks.results import Row
from benchmarks.stats import percentile
from benchmarks.workloads.common import Outcome, Settings, in_parallel, progress, wait_instances

FUNCTIONS = 100
WARM = (0, 10, 100)
#: Readings of RSS per figure, this far apart; their median is taken.
READINGS, READING_INTERVAL = 5, 0.1


def run(settings: Settings) -> Outcome:
    """RSS per warm-instance count over fresh servers, and the cost of one instance."""
    empty: list[float] = []
    by_count: dict[int, list[float]] = {count: [] for count in WARM}
    config = {"account_concurrency": 2 * FUNCTIONS, "idle_timeout": 3600}
    for run in range(settings.runs):
        progress(f"server memory, run {run + 1}/{settings.runs}")
        with running_server(settings.scratch("memory"), settings=config) as server:
            empty.append(_settled_rss(server))
            names = [f"mem-{i:03d}" for i in range(FUNCTIONS)]
            in_parallel(lambda name: server.create_function(name, handlers.ECHO), names)
            warm = 0
            for count in WARM:
                in_parallel(server.invoke, names[warm:count])
                wait_instances(server, count)
                warm = count
                by_count[count].append(_settled_rss(server))
    workload = "server memory (RSS)"
    rows = [Row("memory.empty", workload, "no functions", "MB", tuple(kb / 1024 for kb in empty))]
    rows.extend(
        Row(
            f"memory.{count}",
            workload,
            f"{FUNCTIONS} functions, {count} warm",
            "MB",
            tuple(kb / 1024 for kb in values),
        )
        for count, values in by_count.items()
    )
    per_instance = [
        (full - none) / FUNCTIONS
        for none, full in zip(by_count[0], by_count[FUNCTIONS], strict=True)
    ]
    rows.append(
        Row("memory.per_instance", workload, "per warm idle instance", "KB", tuple(per_instance))
    )
    return Outcome(rows)


def _settled_rss(server: AnylambdaServer) -> float:
    """The server's RSS in KiB: the median of a few readings a moment apart."""
    readings = []
    for _ in range(READINGS):
        time.sleep(READING_INTERVAL)
        readings.append(server.rss_kb())
    return percentile(readings, 50)
