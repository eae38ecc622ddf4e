"""Warm sequential invokes of the echo handler: one keep-alive connection, back to back.

The same load against the stub server (:mod:`benchmarks.stub`), which echoes
and does nothing else, shows what a minimal Python server reaches here.
"""

from __future__ import annotations

from contextlib import ExitStack

from benchmarks import client, handlers
from benchmarks.anylambda_server import invoke_path, running_server
from benchmarks.load import LoadSpec, run_load
from benchmarks.results import Row
from benchmarks.rie import INVOKE_PATH, running_rie
from benchmarks.stub import PATH as STUB_PATH
from benchmarks.stub import running_stub
from benchmarks.workloads.common import (
    Outcome,
    Settings,
    error_note,
    in_turn,
    load_rows,
    progress,
)

FUNCTION = "echo"


def run(settings: Settings) -> Outcome:
    """Throughput and p50/p99 of anylambda's Invoke API and RIE's, runs interleaved."""
    scratch = settings.scratch("sequential")
    code = handlers.write_code(scratch / "code")
    ours, theirs, stubbed = [], [], []
    with ExitStack() as stack:
        stub = stack.enter_context(running_stub(delay=0))
        rie = stack.enter_context(
            running_rie(settings.rie(), code, handlers.ECHO, scratch / "rie.log")
        )
        client.first_response(rie.port, INVOKE_PATH, handlers.PAYLOAD)
        server = stack.enter_context(running_server(scratch / "anylambda"))
        server.create_function(FUNCTION, handlers.ECHO)
        server.invoke(FUNCTION)
        for run in range(settings.runs):
            progress(f"warm sequential, run {run + 1}/{settings.runs}")
            subjects = [
                (rie.port, INVOKE_PATH, theirs),
                (server.port, invoke_path(FUNCTION), ours),
                (stub, STUB_PATH, stubbed),
            ]
            for port, path, results in in_turn(subjects, run):
                spec = LoadSpec(
                    port,
                    path,
                    handlers.PAYLOAD,
                    duration=settings.duration,
                    warmup=settings.warmup,
                )
                results.append(run_load(spec))
    workload = "warm sequential, echo"
    rows = load_rows("sequential", workload, ours, theirs, "RIE")
    rows.append(
        Row(
            "sequential.stub",
            workload,
            "stub server",
            "req/s",
            anylambda=(),
            peer="stub",
            reference=tuple(r.throughput for r in stubbed),
        )
    )
    notes = [n for n in (error_note("anylambda", ours), error_note("RIE", theirs)) if n]
    return Outcome(rows, notes)
