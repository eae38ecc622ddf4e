"""The protocols plugins implement: backends that run instances, frontends that serve clients.

A backend only knows how to bring one instance up, watch it and tear it down;
the core owns everything else (which instance serves which invocation, when to
scale, when to stop). Hot-path calls are awaited methods, not pluggy hooks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import attrs

from anylambda.core.models import ExitStatus, FunctionConfig, LaunchSpec, RuntimeRecipe

if TYPE_CHECKING:
    from anyio.abc import TaskStatus

    from anylambda.core.config import Config
    from anylambda.core.runtime import Runtime

#: Receives raw output (stdout and stderr) of an instance as it arrives.
OutputSink = Callable[[bytes], None]


class InstanceHandle(Protocol):
    """One running instance, as its backend tracks it."""

    async def supervise(self, on_output: OutputSink) -> ExitStatus:
        """Forward the instance's output to ``on_output`` until it exits; say how it ended."""

    async def pause(self) -> None:
        """Freeze the instance while it waits for work (soft idle); it keeps its memory.

        Only called when ``soft_idle_timeout`` is set. ``terminate`` must still work on
        a paused instance.
        """

    async def resume(self) -> None:
        """Thaw a paused instance: work is about to be delivered to it."""

    def flush_output(self) -> None:
        """Forward, synchronously, any output the instance has already written.

        The core calls this when an invocation ends, so that what a handler
        printed before it returned lands in that invocation's log.
        """


@attrs.frozen
class Preparation:
    """What ``Backend.validate`` returns for a function it can run only after slow work.

    The core runs :attr:`finish` in the runtime's task group. If it is done within
    :attr:`wait` seconds, the request that created or updated the function gets the
    function ``Active`` (or ``finish``'s error); otherwise the function is stored
    ``Pending`` (``StateReason`` :attr:`reason`, ``StateReasonCode`` ``Creating``) and
    becomes ``Active``, or ``Failed``, when ``finish`` ends. See docs/plugins.md.
    """

    reason: str
    """The ``StateReason`` while the function is ``Pending``."""
    finish: Callable[[], Awaitable[None]]
    """Does the work; its time must be bounded. Raise ``PreparationError`` to fail the function."""
    wait: float = 0.0
    """Seconds the creating or updating request waits for :attr:`finish`."""


class Backend(Protocol):
    """Runs instances of functions: processes, containers, pods."""

    #: The name users select it by (``--backend NAME``).
    name: ClassVar[str]
    #: The address instances can reach the server on; each Runtime API binds here.
    runtime_api_host: str

    async def validate(
        self, function: FunctionConfig, recipe: RuntimeRecipe | None
    ) -> Preparation | None:
        """Refuse (``InvalidParameterValueError``) a function this backend cannot run; return a
        :class:`Preparation` for one it can run only after slow work (an image pull)."""

    async def prepare(self, function: FunctionConfig, recipe: RuntimeRecipe | None) -> None:
        """Make a deployment launchable (pull or build an image); called once per fingerprint."""

    async def launch(self, spec: LaunchSpec) -> InstanceHandle:
        """Start one instance that will poll ``spec.runtime_api``.

        Raise ``LaunchError`` when the function's entrypoint cannot start, ``BackendError``
        when the backend itself fails.
        """

    async def terminate(self, handle: InstanceHandle) -> None:
        """Stop the instance hard. Idempotent: a second call, or one after exit, does nothing."""

    async def reap_stale(self) -> None:
        """Remove what an earlier server left behind (it was killed before cleaning up)."""

    async def aclose(self) -> None:
        """Release what the backend holds (clients, sockets) at server shutdown."""


#: A backend class; the core instantiates the selected one with the server's config.
BackendFactory = Callable[["Config"], Backend]

#: A background service of a frontend, started in the runtime's task group.
Service = Callable[["Runtime", "TaskStatus[Any]"], Awaitable[None]]


class Frontend(Protocol):
    """A way for clients to reach the runtime: HTTP blueprints and/or background services."""

    #: Unique name, used in logs and to disable the frontend.
    name: ClassVar[str]

    def blueprints(self, runtime: Runtime) -> Sequence[Any]:
        """Quart blueprints to mount on the server's HTTP app."""

    def services(self, runtime: Runtime) -> Sequence[Service]:
        """Long-running tasks (e.g. an AMQP consumer); each calls ``task_status.started()``."""
