"""What every container backend does, over an :class:`~anylambda.backends.container.engine.Engine`.

``.zip`` functions run in their runtime's image (``Config.images``, else the
recipe's) with the code bind-mounted read-only at ``/var/task`` and their
layers at ``/opt`` (several merged once, :mod:`.opt`); image functions run
their image as built. Either way the container runs as an unprivileged user
on a read-only root filesystem with no capabilities, a size-limited ``/tmp``,
a memory limit of MemorySize without swap, CPU weight proportional to memory
and a pids limit. It reaches its Runtime API on the host's address on the
container network (the bridge gateway), where the core binds each instance's
listener. An image missing from the engine is pulled when a function needs it,
if a registry could serve it (:mod:`.pull`).

A backend is a subclass naming its engine (:attr:`ContainerBackend.engine_type`).
What the core decides (when to start or stop an instance, timeouts, logs)
stays in the core; this module creates, watches and removes containers.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import anyio
import anyio.lowlevel

from anylambda.backends.container.engine import ConflictError, Engine, NotFoundError, explain
from anylambda.backends.container.handle import ContainerHandle
from anylambda.backends.container.labels import MANAGED_LABEL, managed_filter, server_id
from anylambda.backends.container.leftovers import Leftovers
from anylambda.backends.container.network import check_bindable, gateway_of
from anylambda.backends.container.opt import merge_layers, merged_dir, opt_dir
from anylambda.backends.container.pipe import OutputPipe, remove_pipes
from anylambda.backends.container.pull import PULL_FAILED, PULL_TIMEOUT, PULL_WAIT, pullable
from anylambda.backends.container.spec import (
    ISOLATED_NETWORK,
    ULIMITS,
    ImageConfig,
    RunSpec,
    Ulimit,
    network_name,
    redirectable,
    run_spec,
)
from anylambda.core.errors import (
    BackendError,
    ConfigurationError,
    InvalidParameterValueError,
    LaunchError,
    PreparationError,
    ResourceConflictError,
)
from anylambda.core.interfaces import Preparation
from anylambda.core.models import FunctionConfig, LaunchSpec, LayerRef, RuntimeRecipe
from anylambda.core.store.blobs import BlobStore

if TYPE_CHECKING:
    from anylambda.core.config import Config

logger = logging.getLogger(__name__)


class ContainerBackend:
    """Runs each instance as a container on one engine; subclasses pick the engine."""

    name: ClassVar[str]
    #: The engine class this backend drives.
    engine_type: ClassVar[type[Engine]]
    #: Resource limits of every container.
    ulimits: ClassVar[tuple[Ulimit, ...]] = ULIMITS

    def __init__(self, config: Config) -> None:
        settings = config.plugins.get(self.name) or {}
        self.engine = self.engine_type(settings.get("base_url"))
        self.images = dict(config.images)
        self.network = config.container_network
        self.data_dir = config.data_dir
        self.server = server_id(config.data_dir)
        #: Each redirected instance's output FIFO lives in a directory of its own under here.
        self.pipes = config.data_dir / f"{self.name}-output"
        #: Where the code store unpacks layers, and where several are merged into one /opt.
        self.blobs = BlobStore(config.data_dir)
        self.opt_root = config.data_dir / "opt"
        #: Containers to remove once the engine answers again (it was away when they ended).
        self.leftovers = Leftovers(self.engine)
        self._gateway: str | None = None
        self._images: dict[str, ImageConfig] = {}

    @property
    def runtime_api_host(self) -> str:
        """The host's address on the container network, where each Runtime API listens."""
        if self._gateway is None:
            raise BackendError(f"The {self.name} backend has not found its container network yet.")
        return self._gateway

    # --- startup ----------------------------------------------------------------------------

    async def reap_stale(self) -> None:
        """Connect, remove what an earlier server left behind, find the network's gateway.

        Runs once at start: whatever fails here stops the server with a ``ConfigurationError``.
        """
        await self.engine.connect()
        try:
            await self._remove_stale()
            self._gateway = await self._find_gateway()
            await self.network_ready()
            await anyio.to_thread.run_sync(check_bindable, self._gateway, self.name)
        except BackendError as exc:
            message = f"The {self.name} backend cannot start: {exc.message}"
            raise ConfigurationError(message) from exc

    async def network_ready(self) -> None:
        """Make sure the gateway address exists on the host (a hook; nothing to do by default)."""

    async def _remove_stale(self) -> None:
        stale = await self.engine.run(self.engine.list_containers, managed_filter(self.server))
        for container_id in stale:
            logger.info("Removing container %s left by an earlier server", container_id[:12])
            with contextlib.suppress(NotFoundError, ConflictError):
                await self.engine.run(self.engine.remove, container_id)
        await anyio.to_thread.run_sync(remove_pipes, self.pipes)

    async def _find_gateway(self) -> str:
        if self.network == "host":
            return "127.0.0.1"
        if self.network == "none":
            await self._ensure_isolated_network()
        name = network_name(self.network)
        try:
            network = await self.engine.run(self.engine.inspect_network, name)
        except NotFoundError as exc:
            raise ConfigurationError(
                f"The {self.engine.title}'s network {name!r} (container_network) does not exist."
            ) from exc
        gateway = gateway_of(network)
        if gateway is None:
            raise ConfigurationError(
                f"The {self.engine.title}'s network {name!r} has no gateway address: containers "
                "on it cannot reach the server's Runtime API."
            )
        return gateway

    async def _ensure_isolated_network(self) -> None:
        """An internal bridge: containers reach the host's address on it, and nothing beyond."""
        try:
            await self.engine.run(self.engine.inspect_network, ISOLATED_NETWORK)
        except NotFoundError:
            with contextlib.suppress(ConflictError):
                await self.engine.run(
                    self.engine.create_internal_network, ISOLATED_NETWORK, {MANAGED_LABEL: "true"}
                )

    # --- functions --------------------------------------------------------------------------

    async def validate(
        self, function: FunctionConfig, recipe: RuntimeRecipe | None
    ) -> Preparation | None:
        """Accept a function whose image is on the engine; pull a missing one a registry could
        serve (the function ``Pending`` while that takes long); refuse the rest."""
        image = self.image_for(function, recipe)
        if await self._image_present(image):
            return None
        if not pullable(image):
            raise InvalidParameterValueError(self._missing_image(function, image))
        return Preparation(
            reason=f"Pulling the image {image}.",
            finish=functools.partial(self._pull, function, image),
            wait=PULL_WAIT,
        )

    async def _pull(self, function: FunctionConfig, image: str) -> None:
        """Pull ``image``; a failure is ``PreparationError`` saying why and what to do."""
        try:
            with anyio.fail_after(PULL_TIMEOUT):
                await self.engine.pull(image)
        except TimeoutError:
            failure = f"the pull took over {PULL_TIMEOUT:g} s"
        except BackendError as exc:
            failure = exc.message
        else:
            return
        raise PreparationError(self._missing_image(function, image, failure), PULL_FAILED)

    async def prepare(self, function: FunctionConfig, recipe: RuntimeRecipe | None) -> None:
        """Check that the image is still there (it is pulled when the function is created or
        updated, not here), and merge the function's layers into one ``/opt`` if it has
        several."""
        image = self.image_for(function, recipe)
        if not await self._image_present(image):
            raise ResourceConflictError(self._missing_image(function, image))
        await self.network_ready()
        if len(function.layers) > 1:
            await anyio.to_thread.run_sync(self._merge_layers, function.layers)

    def _merge_layers(self, layers: Sequence[LayerRef]) -> None:
        shas = [layer.code.sha256 for layer in layers]
        merge_layers([self.blobs.unpack(sha) for sha in shas], merged_dir(self.opt_root, shas))

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
        info = await self.engine.run(self.engine.inspect_image, image)
        self._images[image] = config = ImageConfig.from_inspect(info)
        return config

    def _missing_image(
        self, function: FunctionConfig, image: str, pull_failure: str | None = None
    ) -> str:
        where = f"the {self.engine.title} at {self.engine.url}"
        if pull_failure is None:
            missing = f"is not on {where}, and no registry could serve that name"
        else:
            missing = f"is not on {where}, and pulling it failed ({pull_failure})"
        if function.settings.package_type == "Image":
            return (
                f"The image {image} {missing}: build it ({self.engine.build_hint}) "
                "or load it there first."
            )
        return (
            f"Runtime {function.settings.runtime} runs in the image {image}, which {missing}: "
            f"build it with `anylambda images build --engine {self.name}` (or `make images`), "
            "or map the runtime to another image with `images` in the config."
        )

    # --- instances --------------------------------------------------------------------------

    async def launch(self, spec: LaunchSpec) -> ContainerHandle:
        """Remove leftovers, if any; create the container, attach to its output, start it."""
        if self.leftovers:
            await self.leftovers.remove()
        image = self.image_for(spec.function, spec.recipe)
        image_config = self._images.get(image) or await self._inspect(image)
        redirect = redirectable(spec.function.settings, image_config)
        pipes = self.pipes / spec.instance_id if redirect else None
        run = run_spec(
            spec,
            image=image,
            network=self.network,
            server=self.server,
            image_config=image_config,
            output_dir=pipes,
            opt=opt_dir(self.opt_root, spec),
            ulimits=self.ulimits,
        )
        memory_size = spec.function.settings.memory_size
        # Shielded: a launch cancelled halfway must not leave a container running unseen.
        with anyio.CancelScope(shield=True):
            handle = await self.engine.run(
                start_container, self.engine, run, memory_size, self.leftovers, pipes
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
        """Remove leftovers if the engine answers now; close the engine client."""
        if self.leftovers:
            await self.leftovers.remove()
        await self.engine.aclose()


def start_container(
    engine: Engine, run: RunSpec, memory_size: int, leftovers: Leftovers, pipes: Path | None
) -> ContainerHandle:
    """Create, attach, start (blocking); undo what was done if a step fails."""
    pipe = OutputPipe(pipes) if pipes is not None else None
    container_id = attached = None
    try:
        container_id = engine.create(run)
        attached = engine.attach(container_id)
        handle = ContainerHandle(engine, container_id, attached, memory_size, leftovers, pipe)
        engine.start(container_id)
    except Exception as exc:
        for resource in (attached.stream if attached else None, pipe):
            with contextlib.suppress(Exception):
                resource.close()  # type: ignore[union-attr]
        if container_id is not None:
            with contextlib.suppress(Exception):
                engine.remove(container_id)
        if engine.blames_the_function(exc):
            raise LaunchError(explain(exc)) from exc
        raise
    return handle
