"""Keeps the container network's gateway address on the host while no instance runs.

Netavark creates a network's bridge (``podman0`` for the default network,
with its gateway ``10.88.0.1``) when the first container joins the network and
deletes it when the last one leaves. The core binds each instance's Runtime API
on that gateway *before* the instance's container exists, so the address must
outlive every instance. The anchor is a container that holds the network
without running anything: it is only initialised (``podman init``: namespaces
and network set up, the process never started), from a root filesystem of one
empty file in the data directory, so it needs no image.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from anylambda.backends.container.labels import managed_labels
from anylambda.backends.podman.spec import PODMAN_ULIMITS, network_namespace, rlimits

#: Marks the anchor among the server's containers.
ANCHOR_LABEL = "anylambda.anchor"
#: The anchor's command: an empty file, never executed (the OCI runtime only checks it exists).
COMMAND = "/anchor"
#: Container states in which the anchor holds its network.
HOLDING = frozenset({"initialized", "created", "running"})


def anchor_name(server: str) -> str:
    """The anchor's container name: one per server."""
    return f"anylambda-anchor-{server}"


def anchor_spec(network: str, server: str, rootfs: Path) -> dict[str, Any]:
    """The anchor's libpod ``SpecGenerator``: on ``network``, hardened, never started."""
    return {
        "name": anchor_name(server),
        "rootfs": str(rootfs),
        "command": [COMMAND],
        "labels": {**managed_labels(server), ANCHOR_LABEL: "true"},
        "user": "65534:65534",
        "read_only_filesystem": True,
        "cap_drop": ["ALL"],
        "no_new_privileges": True,
        "r_limits": rlimits(PODMAN_ULIMITS),
        **network_namespace(network),
    }


def make_rootfs(directory: Path) -> Path:
    """The anchor's root filesystem: a directory holding only its (empty) command."""
    directory.mkdir(parents=True, exist_ok=True)
    command = directory / COMMAND.lstrip("/")
    if not command.exists():
        command.touch()
    os.chmod(command, 0o755)
    return directory
