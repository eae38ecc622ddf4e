"""Cold starts on the process backend, against RIE's: start the emulator, first response.

anylambda's are timed two ways: CreateFunction followed at once by the first
Invoke (code stored and unpacked, an instance launched), and the first Invoke
after the function's only instance was evicted for idleness (a launch alone).
Each sample starts with no instance running on the server, so none competes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from benchmarks import client, handlers
from benchmarks.anylambda_server import AnylambdaServer, running_server
from benchmarks.results import Row
from benchmarks.rie import INVOKE_PATH, running_rie
from benchmarks.workloads.common import (
    SHORT_IDLE_TIMEOUT,
    Outcome,
    Settings,
    elapsed_ms,
    progress,
    wait_instances,
)


@dataclass
class ColdStarts:
    """anylambda's cold-start samples on one server, in milliseconds."""

    created: list[float] = field(default_factory=list)
    """CreateFunction, then the first Invoke's response."""
    api: list[float] = field(default_factory=list)
    """CreateFunction alone."""
    evicted: list[float] = field(default_factory=list)
    """The first Invoke after the instance was evicted for idleness."""

    def sample(self, server: AnylambdaServer, name: str) -> None:
        """Create function ``name`` and time its cold starts (the server's idle timeout short)."""
        wait_instances(server, 0)
        create = elapsed_ms(lambda: server.create_function(name, handlers.ECHO))
        first = elapsed_ms(lambda: server.invoke(name))
        self.created.append(create + first)
        self.api.append(create)
        wait_instances(server, 0)
        self.evicted.append(elapsed_ms(lambda: server.invoke(name)))

    def rows(self, key: str, workload: str, peer: str, reference: list[float]) -> list[Row]:
        """Rows of these samples beside a peer's cold starts."""
        return [
            Row(
                f"{key}.create",
                workload,
                "CreateFunction → response",
                "ms",
                tuple(self.created),
                peer,
                tuple(reference),
            ),
            Row(
                f"{key}.evicted",
                workload,
                "after idle eviction",
                "ms",
                tuple(self.evicted),
                peer,
                tuple(reference),
            ),
            Row(f"{key}.create_api", workload, "CreateFunction alone", "ms", tuple(self.api)),
        ]


def run(settings: Settings) -> Outcome:
    """Samples of RIE's cold start and of anylambda's, interleaved."""
    scratch = settings.scratch("cold-start")
    code = handlers.write_code(scratch / "code")
    binary = settings.rie()
    rie: list[float] = []
    ours = ColdStarts()

    def start_rie() -> None:
        with running_rie(binary, code, handlers.ECHO, scratch / "rie.log") as one:
            client.first_response(one.port, INVOKE_PATH, handlers.PAYLOAD)

    with running_server(
        scratch / "anylambda", settings={"idle_timeout": SHORT_IDLE_TIMEOUT}
    ) as server:
        for sample in range(settings.samples):
            progress(f"cold start, sample {sample + 1}/{settings.samples}")
            rie.append(elapsed_ms(start_rie))
            ours.sample(server, f"cold-{sample}")
    return Outcome(
        ours.rows("cold", "cold start, process, echo", "RIE", rie),
        [
            "cold start: RIE's figure runs from starting the emulator to its first response "
            "(it starts the runtime on the first invoke)"
        ],
    )
