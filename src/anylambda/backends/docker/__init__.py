"""The docker backend plugin: instances are hardened containers on the local Docker engine.

Select it with ``anylambda serve --backend docker`` (or ``backend = "docker"``).
It needs the ``docker`` SDK (``pip install 'anylambda[docker]'``), imported only
when the backend starts, so loading this plugin costs nothing to servers that
use another backend. See docs/backends.md for what it isolates and how to
configure images, the network and limits.
"""

from __future__ import annotations

from anylambda.backends.docker.backend import DockerBackend
from anylambda.core.plugins import hookimpl

__all__ = ["DockerBackend", "anylambda_add_backends"]


@hookimpl
def anylambda_add_backends() -> list[type[DockerBackend]]:
    """Contribute the docker backend."""
    return [DockerBackend]
