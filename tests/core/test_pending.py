"""Functions a backend prepares in the background: Pending, then Active or Failed.

On the fake backend, whose ``validate`` here returns a :class:`Preparation` the test
finishes when it wants (a stand-in for a slow image pull).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import attrs
import pytest

from anylambda import InvokeRequest, Runtime
from anylambda.core.errors import (
    PreparationError,
    ResourceConflictError,
    ResourceNotFoundError,
)
from anylambda.core.interfaces import Preparation
from anylambda.core.models import FunctionConfig, FunctionState, RuntimeRecipe
from anylambda.core.plugins import hookimpl
from anylambda.testing import FakeBackend, create_function, make_fake_config, wait_until

PENDING_MESSAGE = (
    "The operation cannot be performed at this time. The function is currently in the "
    "following state: Pending"
)


@attrs.define
class Gate:
    """The work of one preparation: it ends when the test opens the gate."""

    wait: float = 0.0
    error: Exception | None = None
    opened: anyio.Event = attrs.Factory(anyio.Event)
    started: int = 0

    async def finish(self) -> None:
        self.started += 1
        await self.opened.wait()
        if self.error is not None:
            raise self.error


class PreparingBackend(FakeBackend):
    """The fake backend, needing :attr:`gate`'s work before each function can run."""

    name = "preparing"
    gate: Gate | None = None

    async def validate(
        self, function: FunctionConfig, recipe: RuntimeRecipe | None
    ) -> Preparation | None:
        await super().validate(function, recipe)
        if self.gate is None:
            return None
        return Preparation("Pulling the image.", self.gate.finish, wait=self.gate.wait)


class Plugin:
    @hookimpl
    def anylambda_add_backends(self) -> list[type[FakeBackend]]:
        return [PreparingBackend]


@pytest.fixture
def start(tmp_path: Path) -> Callable[[], Runtime]:
    """A runtime on the preparing backend, over one data directory for the whole test."""

    def make() -> Runtime:
        handlers = {"app.handler": lambda event, context: "ran"}
        config = make_fake_config(tmp_path / "data", handlers, backend=PreparingBackend.name)
        return Runtime(config, plugins=[Plugin()])

    return make


@pytest.fixture
async def runtime(start: Callable[[], Runtime]) -> AsyncIterator[Runtime]:
    async with start() as runtime:
        yield runtime


def gate(runtime: Runtime, **kwargs: object) -> Gate:
    backend = runtime.backend
    assert isinstance(backend, PreparingBackend)
    backend.gate = Gate(**kwargs)  # type: ignore[arg-type]
    return backend.gate


async def state_of(runtime: Runtime, name: str = "fn") -> tuple[FunctionState, str | None]:
    config = await runtime.get_function(name)
    return config.state, config.state_reason_code


async def test_work_done_within_the_wait_is_active_at_once(runtime: Runtime) -> None:
    work = gate(runtime, wait=30.0)
    work.opened.set()
    config = await create_function(runtime, "fn", "app.handler")
    assert (config.state, config.state_reason, config.state_reason_code) == (
        FunctionState.ACTIVE,
        None,
        None,
    )
    assert (await runtime.invoke(InvokeRequest("fn"))).payload == b'"ran"'


async def test_work_failing_within_the_wait_refuses_the_function(runtime: Runtime) -> None:
    work = gate(runtime, wait=30.0, error=PreparationError("no such image", "ImageAccessDenied"))
    work.opened.set()
    with pytest.raises(PreparationError, match="no such image"):
        await create_function(runtime, "fn", "app.handler")
    with pytest.raises(ResourceNotFoundError):
        await runtime.get_function("fn")


async def test_slow_work_leaves_the_function_pending_until_it_ends(runtime: Runtime) -> None:
    work = gate(runtime)
    config = await create_function(runtime, "fn", "app.handler")
    assert (config.state, config.state_reason, config.state_reason_code) == (
        FunctionState.PENDING,
        "Pulling the image.",
        "Creating",
    )
    assert await state_of(runtime) == (FunctionState.PENDING, "Creating")
    with pytest.raises(ResourceConflictError, match=PENDING_MESSAGE):
        await runtime.invoke(InvokeRequest("fn"))
    with pytest.raises(ResourceConflictError, match=PENDING_MESSAGE):
        await runtime.update_function_configuration("fn", timeout=10)
    with pytest.raises(ResourceConflictError, match=PENDING_MESSAGE):
        await runtime.publish_version("fn")

    revision = (await runtime.get_function("fn")).revision_id
    work.opened.set()
    await wait_until_state(runtime, FunctionState.ACTIVE)
    active = await runtime.get_function("fn")
    assert (active.state_reason, active.state_reason_code) == (None, None)
    assert active.revision_id == revision
    assert (await runtime.invoke(InvokeRequest("fn"))).payload == b'"ran"'


async def test_slow_work_that_fails_leaves_the_function_failed(runtime: Runtime) -> None:
    work = gate(runtime, error=PreparationError("pull access denied", "ImageAccessDenied"))
    await create_function(runtime, "fn", "app.handler")
    work.opened.set()
    await wait_until_state(runtime, FunctionState.FAILED)
    failed = await runtime.get_function("fn")
    assert (failed.state_reason, failed.state_reason_code) == (
        "pull access denied",
        "ImageAccessDenied",
    )
    with pytest.raises(ResourceConflictError, match="following state: Failed"):
        await runtime.invoke(InvokeRequest("fn"))

    gate(runtime, wait=30.0).opened.set()
    fixed = await runtime.update_function_configuration("fn", timeout=10)
    assert fixed.state is FunctionState.ACTIVE


async def test_an_unexpected_error_fails_the_function_as_internal(runtime: Runtime) -> None:
    work = gate(runtime, error=RuntimeError("bug"))
    await create_function(runtime, "fn", "app.handler")
    work.opened.set()
    await wait_until_state(runtime, FunctionState.FAILED)
    assert (await state_of(runtime))[1] == "InternalError"


async def test_a_function_deleted_while_pending_stays_deleted(runtime: Runtime) -> None:
    work = gate(runtime)
    await create_function(runtime, "fn", "app.handler")
    await runtime.delete_function("fn")
    work.opened.set()
    await wait_until(lambda: work.started == 1)
    await anyio.wait_all_tasks_blocked()
    with pytest.raises(ResourceNotFoundError):
        await runtime.get_function("fn")


async def test_a_restarted_server_validates_pending_functions_again(
    start: Callable[[], Runtime],
) -> None:
    async with start() as runtime:
        gate(runtime)
        await create_function(runtime, "fn", "app.handler")
    async with start() as runtime:  # its backend needs no more work
        await wait_until_state(runtime, FunctionState.ACTIVE)
        assert (await runtime.invoke(InvokeRequest("fn"))).payload == b'"ran"'


async def wait_until_state(runtime: Runtime, state: FunctionState) -> None:
    """Wait (at most 10 s) until ``fn`` is in ``state``."""
    with anyio.fail_after(10):
        # Polling: the state changes in the catalog, which signals nothing.
        while (await state_of(runtime))[0] is not state:  # noqa: ASYNC110
            await anyio.sleep(0.01)
