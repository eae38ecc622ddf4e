"""The Docker backend's cold start against the floor: ``docker run`` of the same image.

The floor runs ``docker run --rm --entrypoint true IMAGE``: the image's own
entrypoint would take ``true`` for a handler name. Skipped, with a note, when
no Docker engine answers or the image is missing (``make images`` builds it).
"""

from __future__ import annotations

import subprocess

from benchmarks.anylambda_server import running_server
from benchmarks.workloads.cold_start import ColdStarts
from benchmarks.workloads.common import (
    SHORT_IDLE_TIMEOUT,
    Outcome,
    Settings,
    elapsed_ms,
    progress,
)

IMAGE = "public.ecr.aws/lambda/python:3.11"
FLOOR = ("docker", "run", "--rm", "--entrypoint", "true", IMAGE)


def run(settings: Settings) -> Outcome:
    """Samples of the ``docker run`` floor and of anylambda's Docker cold starts, interleaved."""
    reason = _unavailable()
    if reason is not None:
        return Outcome(notes=[f"Docker cold start skipped: {reason}"])
    scratch = settings.scratch("docker")
    floor: list[float] = []
    ours = ColdStarts()
    config = {"idle_timeout": SHORT_IDLE_TIMEOUT}
    with running_server(scratch / "anylambda", backend="docker", settings=config) as server:
        for sample in range(settings.samples):
            progress(f"Docker cold start, sample {sample + 1}/{settings.samples}")
            floor.append(elapsed_ms(lambda: subprocess.run(FLOOR, check=True, timeout=60)))
            ours.sample(server, f"docker-{sample}")
    return Outcome(
        ours.rows("docker", "cold start, Docker, echo", "docker run", floor),
        [f"Docker floor: {' '.join(FLOOR)}"],
    )


def _unavailable() -> str | None:
    """Why the Docker figures cannot be taken, or None."""
    for argv, problem in (
        (("docker", "info", "--format", "{{.ServerVersion}}"), "no Docker engine answers"),
        (("docker", "image", "inspect", IMAGE), f"no image {IMAGE} (run make images)"),
    ):
        try:
            subprocess.run(argv, check=True, capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return problem
    return None
