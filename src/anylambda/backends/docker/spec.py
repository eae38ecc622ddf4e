"""A :class:`~anylambda.backends.container.spec.RunSpec` in the Docker Engine API's terms.

Pure: the arguments of ``APIClient.create_container`` and
``APIClient.create_host_config``, tested without Docker.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from anylambda.backends.container.spec import RunSpec


@attrs.frozen
class ContainerConfig:
    """Arguments for ``APIClient.create_container`` and ``APIClient.create_host_config``."""

    create: Mapping[str, Any]
    host: Mapping[str, Any]


def docker_args(run: RunSpec) -> ContainerConfig:
    """How Docker creates the container ``run`` describes."""
    memory = f"{run.memory_mb}m"
    create: dict[str, Any] = {
        "image": run.image,
        "command": _listed(run.command),
        "entrypoint": _listed(run.entrypoint),
        "environment": dict(run.environment),
        "labels": dict(run.labels),
        "name": run.name,
        "user": run.user,
        "working_dir": run.working_dir,
        "stdin_open": False,
        "tty": False,
        "detach": True,
    }
    host: dict[str, Any] = {
        "binds": {
            m.source: {"bind": m.target, "mode": "ro" if m.read_only else "rw"} for m in run.mounts
        },
        "network_mode": run.network,
        "read_only": run.read_only,
        "tmpfs": {"/tmp": f"size={run.tmp_mb}m,mode=1777,exec"},
        "cap_drop": list(run.cap_drop),
        "security_opt": ["no-new-privileges"] if run.no_new_privileges else [],
        "mem_limit": memory,
        "memswap_limit": memory,
        "cpu_shares": run.cpu_shares,
        "pids_limit": run.pids_limit,
        "ulimits": [{"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in run.ulimits],
        "init": False,
        "log_config": {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "1"}},
    }
    return ContainerConfig(create=create, host=host)


def _listed(argv: tuple[str, ...] | None) -> list[str] | None:
    return None if argv is None else list(argv)
