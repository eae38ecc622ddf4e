"""The workloads, by the name ``--only`` takes, in the order they run."""

from __future__ import annotations

from benchmarks.workloads import cold_start, concurrency, docker, memory, scale, sequential
from benchmarks.workloads.common import Outcome, Settings, Workload

WORKLOADS: dict[str, Workload] = {
    "sequential": sequential.run,
    "concurrency": concurrency.run,
    "cold-start": cold_start.run,
    "docker": docker.run,
    "memory": memory.run,
    "scale": scale.run,
}

#: The workloads that drive load with wrk.
LOADED = frozenset({"sequential", "concurrency", "scale"})

__all__ = ["LOADED", "WORKLOADS", "Outcome", "Settings", "Workload"]
