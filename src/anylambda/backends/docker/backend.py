"""The Docker backend: each instance is a hardened container on the local Docker engine.

Everything but the engine is shared with the other container backends
(:mod:`anylambda.backends.container`); see docs/backends.md for what a
container isolates.
"""

from __future__ import annotations

from anylambda.backends.container.backend import ContainerBackend
from anylambda.backends.docker.engine import DockerEngine


class DockerBackend(ContainerBackend):
    """Runs each instance as a container on the local Docker engine."""

    name = "docker"
    engine_type = DockerEngine
