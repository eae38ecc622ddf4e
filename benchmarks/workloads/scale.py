"""ListFunctions and Invoke with 10 and with 1,000 functions registered.

Two servers run side by side, one with 10 functions and one with 1,000, and
their runs are interleaved. ListFunctions returns its first page (AWS's
default of up to 50 functions); Invoke goes to one warm function.
"""

from __future__ import annotations

from benchmarks import handlers
from benchmarks.anylambda_server import FUNCTIONS_PATH, invoke_path, running_server
from benchmarks.load import LoadResult, LoadSpec, run_load
from benchmarks.workloads.common import (
    Outcome,
    Settings,
    in_parallel,
    in_turn,
    load_rows,
    progress,
)

SIZES = (10, 1000)
TARGET = "fn-0000"


def run(settings: Settings) -> Outcome:
    """ListFunctions' and Invoke's throughput and latency at 1,000 functions and at 10."""
    results: dict[int, dict[str, list[LoadResult]]] = {n: {"list": [], "invoke": []} for n in SIZES}
    with (
        running_server(settings.scratch("scale-small")) as small,
        running_server(settings.scratch("scale-large")) as large,
    ):
        servers = dict(zip(SIZES, (small, large), strict=True))
        for size, server in servers.items():
            progress(f"registering {size} functions")
            in_parallel(
                lambda name, server=server: server.create_function(name, handlers.ECHO),
                [f"fn-{i:04d}" for i in range(size)],
            )
            server.invoke(TARGET)
        for run in range(settings.runs):
            progress(f"10 vs 1,000 functions, run {run + 1}/{settings.runs}")
            for size, server in in_turn(list(servers.items()), run):
                for operation, method, path, body in (
                    ("list", "GET", f"{FUNCTIONS_PATH}/", b""),
                    ("invoke", "POST", invoke_path(TARGET), handlers.PAYLOAD),
                ):
                    spec = LoadSpec(
                        server.port,
                        path,
                        body,
                        method=method,
                        duration=settings.duration,
                        warmup=settings.warmup,
                    )
                    results[size][operation].append(run_load(spec))
    few, many = SIZES
    return Outcome(
        [
            *load_rows(
                "scale.list",
                f"ListFunctions, {many:,} functions",
                results[many]["list"],
                results[few]["list"],
                f"with {few}",
            ),
            *load_rows(
                "scale.invoke",
                f"Invoke, {many:,} functions",
                results[many]["invoke"],
                results[few]["invoke"],
                f"with {few}",
            ),
        ]
    )
