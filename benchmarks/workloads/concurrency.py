"""Concurrent invokes of the 50 ms sleep handler: throughput against N / 50 ms, and p99.

RIE serves one invocation at a time: a second concurrent one makes it panic
and exit, and every request after that is refused. Each RIE run therefore
gets a fresh emulator, and what it did (successes, failures, whether it
crashed and with which panic) is reported as measured; above concurrency 1
its runs last one second, as it has crashed within milliseconds and the rest
would only be wrk reconnecting. The same load against the stub server
(:mod:`benchmarks.stub`), which sleeps 50 ms per request and does nothing
else, shows how close to ideal this machine and load generator can get.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks import client, handlers
from benchmarks.anylambda_server import invoke_path, running_server
from benchmarks.load import LoadResult, LoadSpec, run_load
from benchmarks.results import Row
from benchmarks.rie import INVOKE_PATH, running_rie
from benchmarks.stub import PATH as STUB_PATH
from benchmarks.stub import running_stub
from benchmarks.workloads.common import (
    Outcome,
    Settings,
    error_note,
    in_parallel,
    in_turn,
    load_rows,
    progress,
)

LEVELS = (1, 4, 16, 64)
FUNCTION = "sleep"


def run(settings: Settings) -> Outcome:
    """Every level's throughput, share of ideal and p99 on anylambda and on RIE."""
    scratch = settings.scratch("concurrency")
    code = handlers.write_code(scratch / "code")
    outcome = Outcome()
    config = {"account_concurrency": 2 * max(LEVELS)}
    with (
        running_server(scratch / "anylambda", settings=config) as server,
        running_stub(delay=handlers.SLEEP_SECONDS) as stub,
    ):
        server.create_function(FUNCTION, handlers.SLEEP)
        for level in LEVELS:
            # A burst of `level` invokes at once starts as many instances before any run.
            in_parallel(lambda _: server.invoke(FUNCTION), [FUNCTION] * level, workers=level)
            ours, theirs, stubbed, crashes = [], [], [], []
            for run in range(settings.runs):
                progress(f"concurrency {level}, run {run + 1}/{settings.runs}")
                result, crash = _rie_run(settings, code, scratch / f"rie-{level}-{run}.log", level)
                theirs.append(result)
                if crash is not None:
                    crashes.append(crash)
                subjects = [(server.port, invoke_path(FUNCTION), ours), (stub, STUB_PATH, stubbed)]
                for port, path, results in in_turn(subjects, run):
                    spec = LoadSpec(
                        port,
                        path,
                        handlers.PAYLOAD,
                        concurrency=level,
                        duration=settings.duration,
                        warmup=settings.warmup,
                    )
                    results.append(run_load(spec))
            outcome.rows.extend(_rows(level, ours, theirs, stubbed, crashes))
            outcome.notes.extend(
                f"concurrency {level}: {note}"
                for note in (error_note("anylambda", ours), error_note("RIE", theirs))
                if note
            )
    return outcome


def _rie_run(
    settings: Settings, code: Path, log: Path, level: int
) -> tuple[LoadResult, str | None]:
    """One load run on a fresh RIE (its runtime started by one invoke first), and how it
    crashed, if it did."""
    with running_rie(settings.rie(), code, handlers.SLEEP, log) as rie:
        client.first_response(rie.port, INVOKE_PATH, handlers.PAYLOAD)
        spec = LoadSpec(
            rie.port,
            INVOKE_PATH,
            handlers.PAYLOAD,
            concurrency=level,
            duration=settings.duration if level == 1 else 1,
            warmup=0,
        )
        result = run_load(spec)
        crash = (rie.panic() or "exited") if rie.crashed else None
        return result, crash


def _rows(
    level: int,
    ours: list[LoadResult],
    theirs: list[LoadResult],
    stubbed: list[LoadResult],
    crashes: list[str],
) -> list[Row]:
    ideal = level / handlers.SLEEP_SECONDS
    workload = f"concurrency {level}, sleep 50 ms"
    throughput, _, p99 = load_rows(f"concurrency.{level}", workload, ours, theirs, "RIE")

    def shares(results: list[LoadResult]) -> tuple[float, ...]:
        return tuple(100 * r.throughput / ideal for r in results)

    share = Row(
        key=f"concurrency.{level}.ideal",
        workload=workload,
        metric=f"of ideal {ideal:,.0f}/s",
        unit="%",
        anylambda=shares(ours),
        peer="RIE",
        reference=shares(theirs),
        note=f"RIE crashed in {len(crashes)} of {len(theirs)} runs: {crashes[0]}"
        if crashes
        else "",
    )
    bound = Row(
        f"concurrency.{level}.stub",
        workload,
        "stub server",
        "%",
        anylambda=(),
        peer="stub",
        reference=shares(stubbed),
    )
    return [throughput, share, p99, bound]
