"""The plugin manager: finds plugins, and gives the core a typed view of their hooks.

Order of loading (one fresh manager per :class:`~anylambda.Runtime`):

1. plugins named in ``ANYLAMBDA_DISABLE_PLUGINS`` (comma-separated) or
   ``blocked`` are blocked;
2. the ``anylambda`` entry-point group is loaded, unless autoload is off
   (``autoload=False`` or ``ANYLAMBDA_DISABLE_PLUGIN_AUTOLOAD`` set);
3. every built-in in :data:`BUILTINS` not yet loaded is imported, so that an
   uninstalled checkout still works;
4. ``extra`` plugin objects are registered;
5. unknown hook implementations are rejected.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Awaitable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

from anylambda.core import hookspecs
from anylambda.core.errors import ConfigurationError

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

#: Built-in plugins: entry-point name -> module. Must equal pyproject's entry points.
BUILTINS: Mapping[str, str] = {
    "process": "anylambda.backends.process",
    "docker": "anylambda.backends.docker",
    "podman": "anylambda.backends.podman",
    "lambda_api": "anylambda.frontends.lambda_api",
    "runtimes": "anylambda.runtimes",
}

hookimpl = pluggy.HookimplMarker(hookspecs.PROJECT)


def make_plugin_manager(
    *,
    autoload: bool = True,
    extra: Iterable[object] = (),
    blocked: Iterable[str] = (),
) -> pluggy.PluginManager:
    """Build a fresh plugin manager with entry points, built-ins and ``extra`` registered."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    disabled = {n.strip() for n in os.environ.get("ANYLAMBDA_DISABLE_PLUGINS", "").split(",")}
    for name in disabled.union(blocked) - {""}:
        pm.set_blocked(name)
    if autoload and not os.environ.get("ANYLAMBDA_DISABLE_PLUGIN_AUTOLOAD"):
        pm.load_setuptools_entrypoints(hookspecs.PROJECT)
    for name, module in BUILTINS.items():
        if not pm.has_plugin(name) and not pm.is_blocked(name):
            pm.register(importlib.import_module(module), name=name)
    for plugin in extra:
        pm.register(plugin)
    pm.check_pending()
    return pm


async def await_me_maybe(value: Any) -> Any:
    """Await ``value`` if it is awaitable, else return it (hooks may be ``async def``)."""
    if inspect.isawaitable(value):
        return await value
    return value


class Plugins:
    """Typed access to the hooks, with the checks the core applies to their results."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.manager = pm
        self._hook = pm.hook

    def backends(self) -> dict[str, BackendFactory]:
        """Every contributed backend class by name; duplicate names are an error."""
        return _unique(
            "backend", (b for batch in self._hook.anylambda_add_backends() for b in batch)
        )

    def frontends(self) -> dict[str, Frontend]:
        """Every contributed frontend by name; duplicate names are an error."""
        return _unique(
            "frontend", (f for batch in self._hook.anylambda_add_frontends() for f in batch)
        )

    def runtimes(self) -> dict[str, RuntimeRecipe]:
        """Every contributed runtime recipe by name; duplicate names are an error."""
        return _unique(
            "runtime", (r for batch in self._hook.anylambda_add_runtimes() for r in batch)
        )

    def configure(self, config: Config) -> None:
        """Broadcast the configuration (historic: late plugins receive it too)."""
        self._hook.anylambda_configure.call_historic(kwargs={"config": config})

    def resolve_environment(
        self, function: FunctionConfig, environment: Mapping[str, str]
    ) -> Mapping[str, str]:
        """Let each plugin rewrite the function's environment in turn."""
        for impl in reversed(self._hook.anylambda_resolve_environment.get_hookimpls()):
            changed = _call(impl, function=function, environment=environment)
            if changed is not None:
                environment = changed
        return environment

    def launch_spec(self, spec: LaunchSpec) -> LaunchSpec:
        """Let each plugin adjust a launch spec in turn."""
        for impl in reversed(self._hook.anylambda_launch_spec.get_hookimpls()):
            changed = _call(impl, spec=spec)
            if changed is not None:
                spec = changed
        return spec

    def instance_started(self, spec: LaunchSpec) -> None:
        """Tell observers an instance is up."""
        self._hook.anylambda_instance_started(spec=spec)

    def instance_stopped(self, spec: LaunchSpec, reason: str) -> None:
        """Tell observers an instance is gone."""
        self._hook.anylambda_instance_stopped(spec=spec, reason=reason)

    def invocation_finished(
        self, request: InvokeRequest, result: InvokeResult, duration_ms: float
    ) -> None:
        """Tell observers an invocation ended."""
        self._hook.anylambda_invocation_finished(
            request=request, result=result, duration_ms=duration_ms
        )

    async def deliver_to(self, arn: str, message: Mapping[str, Any], kind: str) -> bool:
        """Hand ``message`` to the first plugin that takes ``arn``; whether one did."""
        taken = self._hook.anylambda_deliver_to(arn=arn, message=message, kind=kind)
        if taken is None:
            return False
        await await_me_maybe(taken)
        return True

    async def startup(self, runtime: Runtime) -> None:
        """Run every startup hook, awaiting the async ones."""
        await _await_all(self._hook.anylambda_startup(runtime=runtime))

    async def shutdown(self, runtime: Runtime) -> None:
        """Run every shutdown hook, awaiting the async ones."""
        await _await_all(self._hook.anylambda_shutdown(runtime=runtime))


def _call(impl: pluggy.HookImpl, **kwargs: Any) -> Any:
    """Call one implementation with the arguments it asks for (pluggy's opt-in arguments)."""
    return impl.function(*(kwargs[name] for name in impl.argnames))


async def _await_all(results: Iterable[Awaitable[None] | None]) -> None:
    for result in results:
        await await_me_maybe(result)


def _unique(kind: str, items: Iterable[Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in items:
        if item.name in found:
            raise ConfigurationError(f"Two plugins provide a {kind} named {item.name!r}")
        found[item.name] = item
    return found
