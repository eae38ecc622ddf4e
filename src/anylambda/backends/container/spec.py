"""What one instance's container is, engine-neutral: hardened, limited, labelled.

:func:`run_spec` turns a :class:`~anylambda.core.models.LaunchSpec` into a
:class:`RunSpec`; each backend translates that into its own API's arguments
(``docker.spec``, ``podman.spec``), so the hardening policy lives here once.
Nothing here talks to an engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from anylambda.backends.container.labels import managed_labels
from anylambda.core.models import FunctionSettings, LaunchSpec

#: Where the code is mounted and the runtime lives, as in AWS's base images.
TASK_ROOT = "/var/task"
RUNTIME_DIR = "/var/runtime"
LAYERS_ROOT = "/opt"
#: AWS's base images run functions as this unprivileged user (``sbx_user1051``).
SANDBOX_USER = "993:993"
#: Lambda gives one full vCPU at 1,769 MB and scales CPU with memory.
MB_PER_VCPU = 1769
#: The engines' weight for one CPU; the kernel's minimum is 2.
CPU_SHARES_PER_VCPU = 1024
MIN_CPU_SHARES = 2
#: Most processes and threads an instance may run at once.
PIDS_LIMIT = 1024
#: Lambda's limit on open file descriptors.
NOFILE = 1024
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
    """What an image runs unless told otherwise (the ``Config`` of an image's inspect data)."""

    entrypoint: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    command: tuple[str, ...] = attrs.field(default=(), converter=tuple)

    @classmethod
    def from_inspect(cls, info: Mapping[str, Any]) -> ImageConfig:
        """Read it from an image's inspect document (Docker's and Podman's agree here)."""
        config = info.get("Config") or {}
        return cls(config.get("Entrypoint") or (), config.get("Cmd") or ())

    def has_shell(self) -> bool:
        """Whether ``/bin/sh`` is known to be there: the image runs AWS's entrypoint script."""
        return self.entrypoint == (AWS_ENTRYPOINT,)


@attrs.frozen
class Mount:
    """A bind mount from the host."""

    source: str
    target: str
    read_only: bool = True


@attrs.frozen
class Ulimit:
    """A resource limit (``nofile``, ``nproc``), soft and hard."""

    name: str
    soft: int
    hard: int


#: The limits every container gets.
ULIMITS = (Ulimit("nofile", NOFILE, NOFILE),)


@attrs.frozen
class RunSpec:
    """One instance's container: what to run, and every limit and hardening it runs under."""

    name: str
    image: str
    command: tuple[str, ...] | None
    """``None``: the image's own command."""
    entrypoint: tuple[str, ...] | None
    """``None``: the image's own entrypoint."""
    environment: Mapping[str, str]
    labels: Mapping[str, str]
    working_dir: str | None
    """``None``: the image's own."""
    mounts: tuple[Mount, ...]
    network: str
    """``bridge``, ``host`` or a network's name (``none`` is already :data:`ISOLATED_NETWORK`)."""
    tmp_mb: int
    """Size of the tmpfs on ``/tmp`` (EphemeralStorage)."""
    memory_mb: int
    """Memory limit, swap included (MemorySize)."""
    cpu_shares: int
    ulimits: tuple[Ulimit, ...] = ULIMITS
    user: str = SANDBOX_USER
    pids_limit: int = PIDS_LIMIT
    read_only: bool = True
    cap_drop: tuple[str, ...] = ("ALL",)
    no_new_privileges: bool = True


def cpu_shares(memory_size: int) -> int:
    """CPU weight proportional to memory, 1024 (one CPU) per 1,769 MB as on Lambda."""
    return max(MIN_CPU_SHARES, memory_size * CPU_SHARES_PER_VCPU // MB_PER_VCPU)


def network_name(network: str) -> str:
    """The network a ``container_network`` setting stands for."""
    return ISOLATED_NETWORK if network == "none" else network


def container_environment(spec: LaunchSpec) -> dict[str, str]:
    """The Lambda environment as the container sees it: paths inside the container."""
    return {
        **spec.environment,
        "LAMBDA_TASK_ROOT": TASK_ROOT,
        "LAMBDA_RUNTIME_DIR": RUNTIME_DIR,
        "AWS_LAMBDA_RUNTIME_API": spec.runtime_api,
    }


def redirected(entrypoint: Sequence[str]) -> tuple[str, ...]:
    """The image's entrypoint behind a shell that sends stdout and stderr to the output FIFO."""
    return ("/bin/sh", "-c", f'exec "$@" >>{OUTPUT_FIFO} 2>&1', "anylambda", *entrypoint)


def mounts(
    spec: LaunchSpec, output_dir: Path | None = None, opt: Path | None = None
) -> tuple[Mount, ...]:
    """Read-only bind mounts: the code at ``/var/task``, the layers at ``/opt``, the output FIFO.

    Image functions bring their own ``/var/task``.
    """
    found: list[Mount] = []
    if spec.function.settings.package_type == "Zip":
        found.append(Mount(str(spec.code_dir), TASK_ROOT))
    if opt is not None:
        found.append(Mount(str(opt), LAYERS_ROOT))
    if output_dir is not None:
        found.append(Mount(str(output_dir), OUTPUT_MOUNT))
    return tuple(found)


def redirectable(settings: FunctionSettings, image_config: ImageConfig) -> bool:
    """Whether the container's output can go through the FIFO: a shell must wrap its entrypoint.

    Zip functions run in runtime images, which have a shell; an image function
    only when its image runs AWS's entrypoint script (whatever ImageConfig says).
    """
    if settings.package_type == "Zip":
        return bool(image_config.entrypoint)
    entrypoint = settings.image_config.entry_point
    return bool(image_config.entrypoint if entrypoint is None else entrypoint) and (
        image_config.has_shell()
    )


def process(
    settings: FunctionSettings, image_config: ImageConfig, redirect: bool
) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    """The container's entrypoint and command (``None``: the image's own).

    AWS's base images take the handler as their command; an image function's
    ``ImageConfig`` replaces its image's entrypoint and command, each on its own.
    """
    if settings.package_type == "Zip":
        entrypoint, command = None, (settings.handler,) if settings.handler else None
    else:
        entrypoint, command = settings.image_config.entry_point, settings.image_config.command
    # A new entrypoint drops the image's command: pass it on explicitly.
    if entrypoint is not None or redirect:
        command = image_config.command if command is None else command
    if redirect:
        entrypoint = redirected(image_config.entrypoint if entrypoint is None else entrypoint)
    return entrypoint, command


def run_spec(
    spec: LaunchSpec,
    *,
    image: str,
    network: str,
    server: str,
    image_config: ImageConfig | None = None,
    output_dir: Path | None = None,
    opt: Path | None = None,
    ulimits: tuple[Ulimit, ...] = ULIMITS,
) -> RunSpec:
    """How one instance's container is created: hardened, limited, labelled.

    ``image_config`` is what the image runs by itself. With ``output_dir`` (the
    output FIFO's directory on the host), the entrypoint runs behind
    :func:`redirected`; without, output takes the engine's own path. ``opt`` is
    the directory of the function's layers, mounted at ``/opt``.
    """
    settings = spec.function.settings
    image_config = image_config or ImageConfig()
    entrypoint, command = process(settings, image_config, redirect=output_dir is not None)
    if settings.package_type == "Zip":
        working_dir: str | None = TASK_ROOT
    else:
        working_dir = settings.image_config.working_directory
    return RunSpec(
        name=f"anylambda-{spec.instance_id}",
        image=image,
        command=command,
        entrypoint=entrypoint,
        environment=container_environment(spec),
        labels={**spec.labels, **managed_labels(server)},
        working_dir=working_dir,
        mounts=mounts(spec, output_dir, opt),
        network=network_name(network),
        tmp_mb=settings.ephemeral_storage,
        memory_mb=settings.memory_size,
        cpu_shares=cpu_shares(settings.memory_size),
        ulimits=ulimits,
    )
