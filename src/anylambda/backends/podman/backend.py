"""The Podman backend: each instance is a hardened container on the local Podman service.

Everything but the engine is shared with the other container backends
(:mod:`anylambda.backends.container`). What differs from Docker: explicit
``nofile`` and ``nproc`` limits on every container, removal without a grace
period, an :mod:`~anylambda.backends.podman.anchor` that keeps the network's
gateway on the host, and out-of-memory kills recognised by the kernel's count
when conmon misses them. See docs/backends.md.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

import anyio

from anylambda.backends.container.backend import ContainerBackend
from anylambda.backends.container.engine import ConflictError, NotFoundError
from anylambda.backends.container.spec import network_name
from anylambda.backends.podman.anchor import HOLDING, anchor_name, anchor_spec, make_rootfs
from anylambda.backends.podman.engine import PodmanEngine
from anylambda.backends.podman.spec import PODMAN_ULIMITS
from anylambda.core.errors import BackendError

if TYPE_CHECKING:
    from anylambda.core.config import Config

logger = logging.getLogger(__name__)


class PodmanBackend(ContainerBackend):
    """Runs each instance as a container on the local Podman service."""

    name = "podman"
    engine_type = PodmanEngine
    ulimits = PODMAN_ULIMITS
    engine: PodmanEngine

    def __init__(self, config: Config) -> None:
        super().__init__(config)
        self._anchor = anchor_name(self.server)
        self._anchor_lock = anyio.Lock()

    async def network_ready(self) -> None:
        """Keep the anchor on the network, so that the gateway address stays on the host."""
        if self.network == "host":
            return
        async with self._anchor_lock:
            with contextlib.suppress(NotFoundError):
                info = await self.engine.run(self.engine.inspect_container, self._anchor)
                if (info.get("State") or {}).get("Status") in HOLDING:
                    return
                await self.engine.run(self.engine.remove, self._anchor)
            rootfs = await anyio.to_thread.run_sync(make_rootfs, self.data_dir / "podman-anchor")
            spec = anchor_spec(network_name(self.network), self.server, rootfs)
            anchor = await self.engine.run(self.engine.create_from_spec, spec)
            await self.engine.run(self.engine.init, anchor)

    async def aclose(self) -> None:
        """Remove the anchor (if the backend got as far as creating one), close the client."""
        if self.network != "host" and self._gateway is not None:
            with anyio.CancelScope(shield=True):
                try:
                    await self.engine.run(self.engine.remove, self._anchor)
                except (NotFoundError, ConflictError):
                    pass
                except BackendError as exc:
                    logger.warning("Could not remove the anchor container: %s", exc.message)
        await super().aclose()
