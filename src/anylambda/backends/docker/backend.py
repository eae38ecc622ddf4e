"""The Docker backend: each instance is a hardened container on the local Docker engine.

``.zip`` functions run in their runtime's image (``Config.images``, else the
recipe's) with the code bind-mounted read-only at ``/var/task`` and their
layer at ``/opt``; image functions run their image as built. Either way the
container runs as an unprivileged user on a read-only root filesystem with
no capabilities, a size-limited ``/tmp``, a memory limit of MemorySize
without swap, CPU weight proportional to memory and a pids limit. It reaches
its Runtime API on the host's address on the container network (the bridge
gateway), where the core binds each instance's listener.

What the core decides (when to start or stop an instance, timeouts, logs)
stays in the core; this module creates, watches and removes containers.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import socket
from typing import TYPE_CHECKING, ClassVar

import anyio
import anyio.lowlevel

from anylambda.backends.docker.engine import ConflictError, Engine, NotFoundError
from anylambda.backends.docker.handle import ContainerHandle
from anylambda.backends.docker.pipe import OutputPipe, remove_pipes
from anylambda.backends.docker.spec import (
    ISOLATED_NETWORK,
    MANAGED_LABEL,
    ImageConfig,
    container_config,
    gateway_of,
    managed_filter,
    server_id,
)
from anylambda.core.errors import (
    BackendError,
    ConfigurationError,
    InvalidParameterValueError,
    LaunchError,
    ResourceConflictError,
)
from anylambda.core.models import FunctionConfig, FunctionSettings, LaunchSpec, RuntimeRecipe

if TYPE_CHECKING:
    from pathlib import Path

    from docker import APIClient

    from anylambda.backends.docker.spec import ContainerConfig
    from anylambda.core.config import Config

logger = logging.getLogger(__name__)


class DockerBackend:
    """Runs each instance as a container on the local Docker engine."""

    name: ClassVar[str] = "docker"

    def __init__(self, config: Config) -> None:
        settings = config.plugins.get("docker") or {}
        self.engine = Engine(settings.get("base_url"))
        self.images = dict(config.images)
        self.network = config.container_network
        self.server = server_id(config.data_dir)
        #: Each zip instance's output FIFO lives in a directory of its own under here.
        self.pipes = config.data_dir / "docker-output"
        self._gateway: str | None = None
        self._images: dict[str, ImageConfig] = {}

    @property
    def runtime_api_host(self) -> str:
        """The host's address on the container network, where each Runtime API listens."""
        if self._gateway is None:
            raise BackendError("The Docker backend has not found its container network yet.")
        return self._gateway

    # --- startup ----------------------------------------------------------------------------

    async def reap_stale(self) -> None:
        """Connect, find the network's gateway, remove what an earlier server left behind.

        Runs once at start: whatever fails here stops the server with a ``ConfigurationError``.
        """
        await self.engine.connect()
        try:
            self._gateway = await self._find_gateway()
            await anyio.to_thread.run_sync(_check_bindable, self._gateway)
            await self._remove_stale()
        except BackendError as exc:
            raise ConfigurationError(f"The docker backend cannot start: {exc.message}") from exc

    async def _remove_stale(self) -> None:
        stale = await self.engine.call(
            lambda api: api.containers(all=True, filters=managed_filter(self.server))
        )
        for container in stale:
            container_id: str = container["Id"]
            logger.info("Removing container %s left by an earlier server", container_id[:12])
            with contextlib.suppress(NotFoundError, ConflictError):
                await self.engine.call(functools.partial(_remove, container_id=container_id))
        await anyio.to_thread.run_sync(remove_pipes, self.pipes)

    async def _find_gateway(self) -> str:
        if self.network == "host":
            return "127.0.0.1"
        if self.network == "none":
            await self._ensure_isolated_network()
        name = ISOLATED_NETWORK if self.network == "none" else self.network
        try:
            network = await self.engine.call(lambda api: api.inspect_network(name))
        except NotFoundError as exc:
            raise ConfigurationError(
                f"The Docker network {name!r} (container_network) does not exist."
            ) from exc
        gateway = gateway_of(network)
        if gateway is None:
            raise ConfigurationError(
                f"The Docker network {name!r} has no gateway address: containers on it cannot "
                "reach the server's Runtime API."
            )
        return gateway

    async def _ensure_isolated_network(self) -> None:
        """An internal bridge: containers reach the host's address on it, and nothing beyond."""
        found = await self.engine.call(lambda api: api.networks(names=[ISOLATED_NETWORK]))
        if any(n.get("Name") == ISOLATED_NETWORK for n in found):
            return
        with contextlib.suppress(ConflictError):
            await self.engine.call(
                lambda api: api.create_network(
                    ISOLATED_NETWORK,
                    driver="bridge",
                    internal=True,
                    labels={MANAGED_LABEL: "true"},
                )
            )

    # --- functions --------------------------------------------------------------------------

    async def validate(self, function: FunctionConfig, recipe: RuntimeRecipe | None) -> None:
        """Refuse what cannot run here: a missing image, several layers."""
        if len(function.layers) > 1:
            raise InvalidParameterValueError(
                "The docker backend mounts at most one layer at /opt for now; "
                f"this function has {len(function.layers)}."
            )
        image = self.image_for(function, recipe)
        if not await self._image_present(image):
            raise InvalidParameterValueError(self._missing_image(function, image))

    async def prepare(self, function: FunctionConfig, recipe: RuntimeRecipe | None) -> None:
        """Check that the image is still there (this backend pulls and builds nothing)."""
        image = self.image_for(function, recipe)
        if not await self._image_present(image):
            raise ResourceConflictError(self._missing_image(function, image))

    def image_for(self, function: FunctionConfig, recipe: RuntimeRecipe | None) -> str:
        """The image an instance of ``function`` runs: its own, or its runtime's."""
        settings = function.settings
        if settings.package_type == "Image":
            if not settings.image_uri:
                raise InvalidParameterValueError("ImageUri is required for PackageType Image.")
            return settings.image_uri
        if recipe is None:
            raise InvalidParameterValueError(f"No recipe for runtime {settings.runtime}.")
        return self.images.get(recipe.name) or recipe.image

    async def _image_present(self, image: str) -> bool:
        try:
            await self._inspect(image)
        except NotFoundError:
            return False
        return True

    async def _inspect(self, image: str) -> ImageConfig:
        """The image's entrypoint and command (remembered: the output redirection wraps them)."""
        info = await self.engine.call(lambda api: api.inspect_image(image))
        self._images[image] = config = ImageConfig.from_inspect(info)
        return config

    def _missing_image(self, function: FunctionConfig, image: str) -> str:
        if function.settings.package_type == "Image":
            return (
                f"The image {image} is not on the Docker engine at {self.engine.url}: build it "
                "(docker build -t ...) or load it there first; this server pulls no images."
            )
        return (
            f"Runtime {function.settings.runtime} runs in the image {image}, which is not on the "
            f"Docker engine at {self.engine.url}: build it with `anylambda images build` "
            "(or `make images`), or map the runtime to another image with `images` in the config."
        )

    # --- instances --------------------------------------------------------------------------

    async def launch(self, spec: LaunchSpec) -> ContainerHandle:
        """Create the container, attach to its output, start it."""
        image = self.image_for(spec.function, spec.recipe)
        image_config = self._images.get(image) or await self._inspect(image)
        # Zip functions run in runtime images, which have a shell; image functions may not.
        redirect = image_config.entrypoint and (
            spec.function.settings.package_type == "Zip" or image_config.has_shell()
        )
        pipes = self.pipes / spec.instance_id if redirect else None
        config = container_config(
            spec,
            image=image,
            network=self.network,
            server=self.server,
            image_config=image_config,
            output_dir=pipes,
        )
        # Shielded: a launch cancelled halfway must not leave a container running unseen.
        with anyio.CancelScope(shield=True):
            handle = await self.engine.call(
                lambda api: _start(api, self.engine, config, spec.function.settings, pipes)
            )
        try:
            await anyio.lowlevel.checkpoint_if_cancelled()
        except BaseException:
            with anyio.CancelScope(shield=True):
                handle.close_streams()
                await handle.remove()
            raise
        return handle

    async def terminate(self, handle: ContainerHandle) -> None:
        """Kill and remove the container (idempotent); its supervise() then returns."""
        await handle.remove()

    async def aclose(self) -> None:
        """Close the engine client."""
        await self.engine.aclose()


def _start(
    api: APIClient,
    engine: Engine,
    config: ContainerConfig,
    settings: FunctionSettings,
    pipes: Path | None,
) -> ContainerHandle:
    """Create, attach, start (in a worker thread); undo what was done if a step fails."""
    pipe = OutputPipe(pipes) if pipes is not None else None
    container_id = stream = None
    try:
        host_config = api.create_host_config(**config.host)
        created = api.create_container(
            host_config=host_config, use_config_proxy=False, **config.create
        )
        container_id = created["Id"]
        stream = api.attach_socket(container_id, params={"stdout": 1, "stderr": 1, "stream": 1})
        handle = ContainerHandle(engine, container_id, stream, settings.memory_size, pipe)
        api.start(container_id)
    except Exception as exc:
        for resource in (stream, pipe):
            with contextlib.suppress(Exception):
                resource.close()  # type: ignore[union-attr]
        if container_id is not None:
            with contextlib.suppress(Exception):
                api.remove_container(container_id, force=True)
        if _blames_the_function(exc):
            raise LaunchError(str(getattr(exc, "explanation", None) or exc)) from exc
        raise
    return handle


def _remove(api: APIClient, container_id: str) -> None:
    api.remove_container(container_id, force=True)


def _blames_the_function(exc: Exception) -> bool:
    """A missing image, or an entrypoint the runtime cannot execute (the engine says 400)."""
    from docker import errors

    if isinstance(exc, errors.ImageNotFound):
        return True
    return isinstance(exc, errors.APIError) and exc.status_code == 400


def _check_bindable(address: str) -> None:
    """The core binds each Runtime API on ``address``: it must be an address of this host."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((address, 0))
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot listen on {address}, the container network's gateway: {exc.strerror}. "
            "The docker backend needs the engine on this host."
        ) from exc
