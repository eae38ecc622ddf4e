"""Pure translations from anylambda's values to the Docker Engine API's, and back.

Nothing here talks to an engine: what a container is created with
(:func:`container_config`), which address of the host it reaches
(:func:`gateway_of`), and how its end reads (:func:`exit_status`) are plain
functions, tested without Docker.
"""

from __future__ import annotations

import hashlib
import ipaddress
import signal
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from anylambda.core.models import ExitStatus, LaunchSpec

#: Where the code is mounted and the runtime lives, as in AWS's base images.
TASK_ROOT = "/var/task"
RUNTIME_DIR = "/var/runtime"
LAYERS_ROOT = "/opt"
#: AWS's base images run functions as this unprivileged user (``sbx_user1051``).
SANDBOX_USER = "993:993"
#: Lambda gives one full vCPU at 1,769 MB and scales CPU with memory.
MB_PER_VCPU = 1769
#: Docker's weight for one CPU; the kernel's minimum is 2.
CPU_SHARES_PER_VCPU = 1024
MIN_CPU_SHARES = 2
#: Most processes and threads an instance may run at once.
PIDS_LIMIT = 1024
#: Lambda's limit on open file descriptors.
NOFILE = 1024
#: Labels on everything the backend creates.
MANAGED_LABEL = "anylambda.managed"
SERVER_LABEL = "anylambda.server"
#: The entrypoint of AWS's base images: a ``/bin/sh`` script.
AWS_ENTRYPOINT = "/lambda-entrypoint.sh"
#: Where the output FIFO's directory is mounted, and the FIFO the function writes to.
OUTPUT_MOUNT = "/run/anylambda"
OUTPUT_FIFO_NAME = "output"
OUTPUT_FIFO = f"{OUTPUT_MOUNT}/{OUTPUT_FIFO_NAME}"
#: The internal network that ``container_network = "none"`` stands for.
ISOLATED_NETWORK = "anylambda-isolated"


@attrs.frozen
class ImageConfig:
    """What an image runs unless told otherwise (``docker image inspect``'s ``Config``)."""

    entrypoint: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    command: tuple[str, ...] = attrs.field(default=(), converter=tuple)

    @classmethod
    def from_inspect(cls, info: Mapping[str, Any]) -> ImageConfig:
        """Read it from an image's inspect document."""
        config = info.get("Config") or {}
        return cls(config.get("Entrypoint") or (), config.get("Cmd") or ())

    def has_shell(self) -> bool:
        """Whether ``/bin/sh`` is known to be there: the image runs AWS's entrypoint script."""
        return self.entrypoint == (AWS_ENTRYPOINT,)


@attrs.frozen
class ContainerConfig:
    """Arguments for ``APIClient.create_container`` and ``APIClient.create_host_config``."""

    create: Mapping[str, Any]
    host: Mapping[str, Any]


def server_id(data_dir: Path) -> str:
    """Identify a server by its data directory: servers sharing an engine reap only their own."""
    return hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]


def managed_filter(server: str) -> dict[str, list[str]]:
    """The ``filters`` argument that lists this server's containers."""
    return {"label": [f"{MANAGED_LABEL}=true", f"{SERVER_LABEL}={server}"]}


def cpu_shares(memory_size: int) -> int:
    """CPU weight proportional to memory, 1024 (one CPU) per 1,769 MB as on Lambda."""
    return max(MIN_CPU_SHARES, memory_size * CPU_SHARES_PER_VCPU // MB_PER_VCPU)


def network_mode(network: str) -> str:
    """Docker's ``NetworkMode`` for a ``container_network`` setting."""
    return ISOLATED_NETWORK if network == "none" else network


def container_environment(spec: LaunchSpec) -> dict[str, str]:
    """The Lambda environment as the container sees it: paths inside the container."""
    return {
        **spec.environment,
        "LAMBDA_TASK_ROOT": TASK_ROOT,
        "LAMBDA_RUNTIME_DIR": RUNTIME_DIR,
        "AWS_LAMBDA_RUNTIME_API": spec.runtime_api,
    }


def redirected(entrypoint: Sequence[str]) -> list[str]:
    """The image's entrypoint behind a shell that sends stdout and stderr to the output FIFO."""
    return ["/bin/sh", "-c", f'exec "$@" >>{OUTPUT_FIFO} 2>&1', "anylambda", *entrypoint]


def binds(spec: LaunchSpec, output_dir: Path | None = None) -> dict[str, dict[str, str]]:
    """Read-only bind mounts: the code at ``/var/task``, the layer at ``/opt``, the output FIFO.

    Image functions bring their own ``/var/task``. Several layers would have to be
    merged into one ``/opt``; :func:`~anylambda.backends.docker.backend.DockerBackend.validate`
    refuses them until that exists.
    """
    mounts: dict[str, dict[str, str]] = {}
    if spec.function.settings.package_type == "Zip":
        mounts[str(spec.code_dir)] = {"bind": TASK_ROOT, "mode": "ro"}
    if len(spec.layer_dirs) == 1:
        mounts[str(spec.layer_dirs[0])] = {"bind": LAYERS_ROOT, "mode": "ro"}
    if output_dir is not None:
        mounts[str(output_dir)] = {"bind": OUTPUT_MOUNT, "mode": "ro"}
    return mounts


def container_config(
    spec: LaunchSpec,
    *,
    image: str,
    network: str,
    server: str,
    image_config: ImageConfig | None = None,
    output_dir: Path | None = None,
) -> ContainerConfig:
    """How one instance's container is created: hardened, limited, labelled.

    With ``output_dir`` (the output FIFO's directory on the host), the image's
    entrypoint (from ``image_config``) runs behind :func:`redirected`; without,
    output takes Docker's own path.
    """
    settings = spec.function.settings
    is_zip = settings.package_type == "Zip"
    memory = f"{settings.memory_size}m"
    # AWS's base images take the handler as their command; image functions keep their own.
    command: list[str] | None = [settings.handler] if is_zip and settings.handler else None
    entrypoint: list[str] | None = None
    if output_dir is not None:
        image_config = image_config or ImageConfig()
        entrypoint = redirected(image_config.entrypoint)
        # A new entrypoint drops the image's command: pass it on explicitly.
        command = command or list(image_config.command)
    labels = {**spec.labels, MANAGED_LABEL: "true", SERVER_LABEL: server}
    create: dict[str, Any] = {
        "image": image,
        "command": command,
        "entrypoint": entrypoint,
        "environment": container_environment(spec),
        "labels": labels,
        "name": f"anylambda-{spec.instance_id}",
        "user": SANDBOX_USER,
        "working_dir": TASK_ROOT if is_zip else None,
        "stdin_open": False,
        "tty": False,
        "detach": True,
    }
    host: dict[str, Any] = {
        "binds": binds(spec, output_dir),
        "network_mode": network_mode(network),
        "read_only": True,
        "tmpfs": {"/tmp": f"size={settings.ephemeral_storage}m,mode=1777"},
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "mem_limit": memory,
        "memswap_limit": memory,
        "cpu_shares": cpu_shares(settings.memory_size),
        "pids_limit": PIDS_LIMIT,
        "ulimits": [{"Name": "nofile", "Soft": NOFILE, "Hard": NOFILE}],
        "init": False,
        "log_config": {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "1"}},
    }
    return ContainerConfig(create=create, host=host)


def gateway_of(network: Mapping[str, Any]) -> str | None:
    """The host's address on a network (``docker network inspect``), IPv4 first.

    Older engines leave ``Gateway`` out of the default bridge's IPAM config; the
    bridge then takes the subnet's first address, which is what is returned.
    """
    configs = (network.get("IPAM") or {}).get("Config") or []
    candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for config in configs:
        if config.get("Gateway"):
            candidates.append(ipaddress.ip_address(config["Gateway"].split("/")[0]))
        elif config.get("Subnet"):
            candidates.append(ipaddress.ip_network(config["Subnet"], strict=False)[1])
    candidates.sort(key=lambda address: address.version)
    return str(candidates[0]) if candidates else None


def exit_status(state: Mapping[str, Any], memory_size: int) -> ExitStatus:
    """How a container ended, from its inspected ``State``, in AWS's words."""
    code = int(state.get("ExitCode") or 0)
    if state.get("OOMKilled"):
        return ExitStatus(
            code=None,
            signal=signal.SIGKILL,
            reason=f"signal: killed (out of memory: MemorySize {memory_size} MB)",
        )
    # A process killed by a signal shows as 128 + the signal's number.
    if 128 < code <= 128 + signal.NSIG:
        return ExitStatus(code=None, signal=code - 128)
    return ExitStatus(code=code)
