"""Containers the backend could not remove because their engine did not answer.

An instance whose engine went away (a restart) must be reported gone at once, so that
the pool sends no more work to it; removing its container cannot wait for the engine.
Such containers are remembered here and removed once the engine answers again: before
the backend's next launch, and at shutdown. What is still left then, the next server's
``reap_stale`` removes.
"""

from __future__ import annotations

import logging

from anylambda.backends.container.engine import ConflictError, Engine, NotFoundError
from anylambda.core.errors import BackendError

logger = logging.getLogger(__name__)


class Leftovers:
    """Container ids to remove once their engine answers again."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._ids: set[str] = set()

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, container_id: str) -> None:
        """Remember a container that could not be removed."""
        self._ids.add(container_id)

    async def remove(self) -> None:
        """Remove each remembered container; stop at the first the engine fails to remove."""
        for container_id in sorted(self._ids):
            try:
                await self._engine.run(self._engine.remove, container_id)
            except (NotFoundError, ConflictError):
                pass  # gone, or going
            except BackendError as exc:
                logger.info("Container %s is still left: %s", container_id[:12], exc.message)
                return
            self._ids.discard(container_id)
            logger.info("Removed container %s, left while its engine was away", container_id[:12])
