"""The plugin contract: every hook a plugin may implement.

Plugins implement these with :data:`anylambda.hookimpl`. Built-in backends and
frontends are plugins too, loaded through the same ``anylambda`` entry-point
group. Hooks are synchronous (pluggy is); a hook documented as *may return an
awaitable* can be an ``async def``, and the core awaits what it returns.
Hot-path work (launching, terminating) is not a hook: it is an awaited method
of the one selected :class:`~anylambda.core.interfaces.Backend`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from anylambda.core.config import Config
    from anylambda.core.interfaces import BackendFactory, Frontend
    from anylambda.core.models import (
        FunctionConfig,
        InvokeRequest,
        InvokeResult,
        LaunchSpec,
        RuntimeRecipe,
    )
    from anylambda.core.runtime import Runtime

PROJECT = "anylambda"
hookspec = pluggy.HookspecMarker(PROJECT)


# --- registration: what plugins contribute --------------------------------------------


@hookspec
def anylambda_add_backends() -> Iterable[BackendFactory]:
    """Contribute backend classes; each has a unique ``name`` class attribute.

    The core rejects two backends with the same name.
    """


@hookspec
def anylambda_add_frontends() -> Iterable[Frontend]:
    """Contribute frontends: HTTP blueprints and/or background services."""


@hookspec
def anylambda_add_runtimes() -> Iterable[RuntimeRecipe]:
    """Contribute language runtimes (``python3.12``, ``nodejs20.x``, ...).

    The core rejects two recipes with the same name.
    """


# --- decisions --------------------------------------------------------------------------


@hookspec
def anylambda_resolve_environment(
    function: FunctionConfig, environment: Mapping[str, str]
) -> Mapping[str, str] | None:
    """Rewrite a function's environment before an instance starts (e.g. resolve secrets).

    :param function: the function version being launched.
    :param environment: the function's own variables, after earlier plugins' changes.
    :return: the new variables, or ``None`` to leave them as they are.
    """


@hookspec
def anylambda_launch_spec(spec: LaunchSpec) -> LaunchSpec | None:
    """Adjust an instance's launch spec (labels, environment) just before it starts.

    :return: ``attrs.evolve(spec, ...)``, or ``None`` to leave it as it is.
    """


@hookspec(firstresult=True)
def anylambda_deliver_to(
    arn: str, message: Mapping[str, Any], kind: str
) -> Awaitable[None] | bool | None:
    """Deliver the outcome of an asynchronous invocation to ``arn`` (a destination or a DLQ).

    :param arn: the ``OnSuccess`` / ``OnFailure`` destination, or the function's
        ``DeadLetterConfig.TargetArn``.
    :param message: for ``OnSuccess`` and ``OnFailure``, AWS's invocation record; for
        ``DeadLetter``, ``{"Body": ..., "MessageAttributes": ...}`` as SQS sends it.
    :param kind: ``OnSuccess``, ``OnFailure`` or ``DeadLetter``.
    :return: ``None`` to leave ``arn`` to other plugins; ``True`` once delivered, or an
        awaitable that delivers it. The first plugin that takes it is the only one called.
    """


# --- observers: called synchronously, must not block ----------------------------------


@hookspec
def anylambda_instance_started(spec: LaunchSpec) -> None:
    """An instance's process, container or pod is up (its runtime may still be initialising)."""


@hookspec
def anylambda_instance_stopped(spec: LaunchSpec, reason: str) -> None:
    """An instance is gone; ``reason`` says why (idle, exited, timeout, shutdown, ...)."""


@hookspec
def anylambda_invocation_finished(
    request: InvokeRequest, result: InvokeResult, duration_ms: float
) -> None:
    """An invocation ended with ``result`` after ``duration_ms`` milliseconds."""


# --- lifetime ---------------------------------------------------------------------------


@hookspec
def anylambda_startup(runtime: Runtime) -> Awaitable[None] | None:
    """The runtime has started (stores open, backend ready). May return an awaitable."""


@hookspec
def anylambda_shutdown(runtime: Runtime) -> Awaitable[None] | None:
    """The runtime is stopping; instances are already gone. May return an awaitable."""


@hookspec(historic=True)
def anylambda_configure(config: Config) -> None:
    """Receive the server's configuration; replayed to plugins registered later."""
