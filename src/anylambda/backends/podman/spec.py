"""A :class:`~anylambda.backends.container.spec.RunSpec` as a Podman ``SpecGenerator``.

Pure: the JSON body of libpod's ``POST /containers/create``, tested without
Podman. The SDK's own ``containers.create`` cannot express a tmpfs and maps
``security_opt`` to SELinux options, so the backend posts this body itself.
"""

from __future__ import annotations

from typing import Any

from anylambda.backends.container.spec import RunSpec, Ulimit

MB = 1024 * 1024
#: Podman passes the host's limits otherwise, which runc may not set without
#: CAP_SYS_RESOURCE ("error setting rlimit"): every container gets explicit ones.
PODMAN_ULIMITS = (Ulimit("nofile", 1024, 1024), Ulimit("nproc", 1024, 1024))
#: Docker's tmpfs options, so that ``/tmp`` is the same on both engines.
TMPFS_OPTIONS = ("nosuid", "nodev", "exec", "mode=1777")


def network_namespace(network: str) -> dict[str, Any]:
    """The ``netns`` and ``networks`` fields for a network (``bridge`` is Podman's default)."""
    if network == "host":
        return {"netns": {"nsmode": "host"}}
    fields: dict[str, Any] = {"netns": {"nsmode": "bridge"}}
    if network != "bridge":
        fields["networks"] = {network: {}}
    return fields


def rlimits(ulimits: tuple[Ulimit, ...]) -> list[dict[str, Any]]:
    """``r_limits`` entries."""
    return [{"type": u.name, "soft": u.soft, "hard": u.hard} for u in ulimits]


def libpod_spec(run: RunSpec) -> dict[str, Any]:
    """How Podman creates the container ``run`` describes."""
    mounts: list[dict[str, Any]] = [
        {
            "destination": m.target,
            "source": m.source,
            "type": "bind",
            "options": ["ro" if m.read_only else "rw"],
        }
        for m in run.mounts
    ]
    mounts.append(
        {
            "destination": "/tmp",
            "source": "tmpfs",
            "type": "tmpfs",
            "options": [f"size={run.tmp_mb}m", *TMPFS_OPTIONS],
        }
    )
    spec: dict[str, Any] = {
        "name": run.name,
        "image": run.image,
        "env": dict(run.environment),
        "labels": dict(run.labels),
        "user": run.user,
        "mounts": mounts,
        "read_only_filesystem": run.read_only,
        "cap_drop": list(run.cap_drop),
        "no_new_privileges": run.no_new_privileges,
        "resource_limits": {
            "memory": {"limit": run.memory_mb * MB, "swap": run.memory_mb * MB},
            "cpu": {"shares": run.cpu_shares},
            "pids": {"limit": run.pids_limit},
        },
        "r_limits": rlimits(run.ulimits),
        "log_configuration": {"driver": "k8s-file", "size": MB},
        "stdin": False,
        "terminal": False,
        **network_namespace(run.network),
    }
    if run.entrypoint is not None:
        spec["entrypoint"] = list(run.entrypoint)
    if run.command is not None:
        spec["command"] = list(run.command)
    if run.working_dir is not None:
        spec["work_dir"] = run.working_dir
    return spec
