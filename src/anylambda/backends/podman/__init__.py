"""The podman backend plugin: instances are hardened containers on the local Podman service.

Select it with ``anylambda serve --backend podman`` (or ``backend = "podman"``).
It needs the ``podman`` SDK (``pip install 'anylambda[podman]'``), imported
only when the backend starts, and a Podman service on a socket
(``podman system service --time=0 unix:///run/podman/podman.sock``). See
docs/backends.md for what it isolates and how it differs from Docker.
"""

from __future__ import annotations

from anylambda.backends.podman.backend import PodmanBackend
from anylambda.core.plugins import hookimpl

__all__ = ["PodmanBackend", "anylambda_add_backends"]


@hookimpl
def anylambda_add_backends() -> list[type[PodmanBackend]]:
    """Contribute the podman backend."""
    return [PodmanBackend]
