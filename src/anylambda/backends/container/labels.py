"""Labels on everything a container backend creates, so that a restarted server finds it again.

Every container carries ``anylambda.managed=true`` and ``anylambda.server=<id>``,
where the id is a hash of the server's data directory: servers sharing one
engine each reap only what they left themselves.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

MANAGED_LABEL = "anylambda.managed"
SERVER_LABEL = "anylambda.server"
#: Set by the core on each instance (its id); helpers of a backend (Podman's anchor) lack it.
INSTANCE_LABEL = "anylambda.instance"


def server_id(data_dir: Path) -> str:
    """Identify a server by its data directory: servers sharing an engine reap only their own."""
    return hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]


def managed_labels(server: str) -> dict[str, str]:
    """The labels that mark a container as this server's."""
    return {MANAGED_LABEL: "true", SERVER_LABEL: server}


def managed_filter(server: str) -> dict[str, list[str]]:
    """The ``filters`` argument (both engines' list APIs) that finds this server's containers."""
    return {"label": [f"{key}={value}" for key, value in managed_labels(server).items()]}
