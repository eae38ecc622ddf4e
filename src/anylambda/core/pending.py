"""Functions a backend must prepare before they can run: ``Pending``, then ``Active`` or ``Failed``.

A backend's ``validate`` returns a :class:`~anylambda.core.interfaces.Preparation` when it
can run a function only after slow work (pulling its image). :class:`Preparations` runs
the work in the runtime's task group and lets the creating or updating request wait
``Preparation.wait`` seconds for it: done by then, the function is stored ``Active`` (or
the request fails with the work's error); otherwise it is stored ``Pending`` and becomes
``Active`` or ``Failed`` when the work ends. As on AWS, a ``Pending`` function cannot be
invoked, updated or published, and a ``Failed`` one cannot be invoked
(``ResourceConflictException``). A function a stopped server left ``Pending`` is
validated again when the next one starts.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable

import anyio
import anyio.abc
import attrs

from anylambda.core.catalog import Catalog
from anylambda.core.errors import LambdaError, PreparationError, ResourceConflictError, ServiceError
from anylambda.core.fingerprint import fingerprint
from anylambda.core.interfaces import Preparation
from anylambda.core.models import FunctionConfig, FunctionState

logger = logging.getLogger(__name__)

#: ``StateReasonCode`` while a function is ``Pending``.
CREATING = "Creating"
#: ``StateReasonCode`` of a function whose preparation failed with an unexpected error.
INTERNAL_ERROR = "InternalError"

#: Validates a function again: the backend's answer (see ``Runtime._validate``).
Validate = Callable[[FunctionConfig], Awaitable[Preparation | None]]


def check_invocable(config: FunctionConfig) -> None:
    """Refuse to invoke a function that is ``Pending`` or ``Failed``, as AWS does."""
    if config.state in (FunctionState.PENDING, FunctionState.FAILED):
        raise _conflict(config)


def check_settled(config: FunctionConfig) -> None:
    """Refuse to change a function while it is ``Pending``, as AWS does."""
    if config.state is FunctionState.PENDING:
        raise _conflict(config)


def _conflict(config: FunctionConfig) -> ResourceConflictError:
    return ResourceConflictError(
        "The operation cannot be performed at this time. The function is currently in the "
        f"following state: {config.state.value}"
    )


def active(config: FunctionConfig) -> FunctionConfig:
    """``config`` ``Active``, with no reason."""
    return attrs.evolve(
        config, state=FunctionState.ACTIVE, state_reason=None, state_reason_code=None
    )


def failed(config: FunctionConfig, error: LambdaError) -> FunctionConfig:
    """``config`` ``Failed`` because of ``error``."""
    code = error.reason_code if isinstance(error, PreparationError) else INTERNAL_ERROR
    return attrs.evolve(
        config, state=FunctionState.FAILED, state_reason=error.message, state_reason_code=code
    )


@attrs.define
class _Work:
    """One preparation in flight, as the request that started it and its task share it."""

    done: anyio.Event = attrs.Factory(anyio.Event)
    error: LambdaError | None = None
    stored_pending: bool = False
    """The request stored the function ``Pending``: the task stores how it ends."""


class Preparations:
    """Runs backends' preparations and keeps the functions' states in the catalog."""

    def __init__(
        self,
        catalog: Catalog,
        control: anyio.Lock,
        task_group: anyio.abc.TaskGroup,
        validate: Validate,
    ) -> None:
        self._catalog = catalog
        self._control = control
        self._tg = task_group
        self._validate = validate

    async def admit(
        self, config: FunctionConfig, preparation: Preparation | None
    ) -> FunctionConfig:
        """``config`` in the state to store it in; the caller holds the control lock and stores
        it. Raises the preparation's error if it failed within its ``wait``."""
        if preparation is None:
            return active(config)
        work = _Work()
        self._tg.start_soon(self._run, config, preparation, work)
        with anyio.move_on_after(preparation.wait):
            await work.done.wait()
        if not work.done.is_set():
            work.stored_pending = True
            return attrs.evolve(
                config,
                state=FunctionState.PENDING,
                state_reason=preparation.reason,
                state_reason_code=CREATING,
            )
        if work.error is not None:
            raise work.error
        return active(config)

    async def resume(self) -> None:
        """Validate again every function a stopped server left ``Pending``."""
        for config in self._catalog.latest():
            if config.state is not FunctionState.PENDING:
                continue
            async with self._control:
                try:
                    admitted = await self.admit(config, await self._validate(config))
                except LambdaError as exc:
                    await self._settle(config, functools.partial(failed, error=exc))
                    continue
                if admitted.state is FunctionState.ACTIVE:
                    await self._settle(config, active)

    async def _run(self, config: FunctionConfig, preparation: Preparation, work: _Work) -> None:
        try:
            await preparation.finish()
        except LambdaError as exc:
            work.error = exc
        except Exception as exc:
            logger.exception("Preparing function %s failed", config.name)
            work.error = ServiceError(f"Preparing the function failed: {exc!r}")
        work.done.set()
        if work.stored_pending:
            async with self._control:
                error = work.error
                await self._settle(
                    config, active if error is None else functools.partial(failed, error=error)
                )

    async def _settle(
        self, config: FunctionConfig, outcome: Callable[[FunctionConfig], FunctionConfig]
    ) -> None:
        """Store ``outcome`` of the stored ``config`` if the catalog still holds that deployment
        ``Pending`` (it may have been deleted meanwhile)."""
        stored = next(
            (e for e in self._catalog.versions(config.name) if e.config.version == config.version),
            None,
        )
        if stored is None or stored.fingerprint != fingerprint(config):
            return
        if stored.config.state is FunctionState.PENDING:
            await self._catalog.put(outcome(stored.config))
