"""The plugin system: discovery, one test per hook, and the Runtime facade on the fake backend.

Every hook has a ``test_hook_<name>`` here and a ``### anylambda_<name>(args)``
heading in docs/plugins.md; two meta-tests keep it that way (as datasette does).
"""

from __future__ import annotations

import functools
import importlib.metadata
import inspect
import json
import math
import tomllib
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import anyio
import anyio.lowlevel
import attrs
import pytest
from quart import Blueprint

from anylambda import (
    Config,
    ConfigurationError,
    Destinations,
    FunctionConfig,
    InvalidParameterValueError,
    InvocationType,
    InvokeRequest,
    InvokeResult,
    LaunchError,
    LaunchSpec,
    Runtime,
    RuntimeRecipe,
    ServiceError,
    TooManyRequestsError,
    hookimpl,
)
from anylambda import server as anylambda_server
from anylambda.core import hookspecs
from anylambda.core.plugins import BUILTINS, Plugins, make_plugin_manager
from anylambda.testing import (
    CrashInstance,
    FakeBackend,
    FakeBackendPlugin,
    Handler,
    create_function,
    make_fake_config,
    make_zip,
    wait_until,
)

ROOT = Path(__file__).resolve().parents[2]
#: Every hook of the contract, found by pluggy's marker.
HOOKS = sorted(
    name for name, fn in vars(hookspecs).items() if hasattr(fn, f"{hookspecs.PROJECT}_spec")
)
#: Seconds any one test may spend waiting on the runtime.
LIMIT = 20


def echo(event: Any, context: dict[str, Any]) -> Any:
    """Return the event unchanged."""
    return event


async def nap(event: Any, context: dict[str, Any]) -> Any:
    """Sleep ``event["sleep"]`` seconds, then return the event."""
    await anyio.sleep(event["sleep"])
    return event


def fail(event: Any, context: dict[str, Any]) -> Any:
    """Raise a handler error."""
    raise ValueError("bad input")


def crash(event: Any, context: dict[str, Any]) -> Any:
    """Make the instance exit."""
    raise CrashInstance


HANDLERS: Mapping[str, Handler] = {"echo": echo, "nap": nap, "fail": fail, "crash": crash}


def fake_runtime(
    data_dir: Path, *plugins: object, handlers: Mapping[str, Handler] = HANDLERS, **config: Any
) -> Runtime:
    """A runtime on the fake backend with ``plugins`` registered besides it."""
    return Runtime(
        make_fake_config(data_dir, dict(handlers), **config),
        plugins=[FakeBackendPlugin(), *plugins],
    )


async def invoke(rt: Runtime, name: str, event: Any = None) -> tuple[InvokeResult, Any]:
    """Invoke ``name`` synchronously with ``event``; the result and its decoded payload."""
    with anyio.fail_after(LIMIT):
        result = await rt.invoke(InvokeRequest(name, json.dumps(event).encode()))
    return result, json.loads(result.payload)


def fake(rt: Runtime) -> FakeBackend:
    """The runtime's backend, which these tests always make a fake one."""
    assert isinstance(rt.backend, FakeBackend)
    return rt.backend


# --- discovery --------------------------------------------------------------------------


def test_pyproject_entry_points_equal_builtins() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["anylambda"] == dict(BUILTINS)


def test_installed_entry_points_equal_builtins() -> None:
    found = importlib.metadata.entry_points(group="anylambda")
    assert {ep.name: ep.value for ep in found} == dict(BUILTINS)


def test_builtins_load_through_entry_points_under_their_names() -> None:
    pm = make_plugin_manager()
    loaded = {pm.get_name(plugin) for plugin, _ in pm.list_plugin_distinfo()}
    assert loaded == set(BUILTINS)
    assert pm.get_plugin("process").__name__ == BUILTINS["process"]


def test_blocking_a_plugin_removes_its_backend() -> None:
    assert "process" in Plugins(make_plugin_manager()).backends()
    plugins = Plugins(make_plugin_manager(blocked=["process"]))
    assert "process" not in plugins.backends()
    assert "lambda_api" in plugins.frontends()


def test_environment_disables_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANYLAMBDA_DISABLE_PLUGINS", "process, lambda_api")
    plugins = Plugins(make_plugin_manager())
    assert "process" not in plugins.backends()
    assert "lambda_api" not in plugins.frontends()
    assert "python3.12" in plugins.runtimes()


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_autoload_off_still_loads_the_builtins(monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    if how == "environment":
        monkeypatch.setenv("ANYLAMBDA_DISABLE_PLUGIN_AUTOLOAD", "1")
        pm = make_plugin_manager()
    else:
        pm = make_plugin_manager(autoload=False)
    assert pm.list_plugin_distinfo() == [], "no entry point was loaded"
    assert all(pm.has_plugin(name) for name in BUILTINS)
    assert "process" in Plugins(pm).backends()


class DuplicateFake(FakeBackend):
    """A second backend that claims the fake's name."""


class DuplicatePlugin:
    @hookimpl
    def anylambda_add_backends(self) -> list[type[FakeBackend]]:
        return [DuplicateFake]


async def test_duplicate_backend_names_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="Two plugins provide a backend named 'fake'"):
        async with fake_runtime(tmp_path, DuplicatePlugin()):
            pass


async def test_unknown_backend_names_the_available_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"Unknown backend 'nope'; available: ") as caught:
        async with fake_runtime(tmp_path, backend="nope"):
            pass
    available = str(caught.value).partition("available: ")[2].split(", ")
    assert {"fake", "process"} <= set(available)


# --- one test per hook ----------------------------------------------------------------------


def test_hooks_are_found() -> None:
    assert sorted(name for name in vars(hookspecs) if name.startswith("anylambda_")) == HOOKS
    assert "anylambda_add_backends" in HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook: str) -> None:
    test = globals().get(f"test_hook_{hook.removeprefix('anylambda_')}")
    assert inspect.isfunction(test), f"write test_hook_{hook.removeprefix('anylambda_')}"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented(hook: str) -> None:
    arguments = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    headings = (ROOT / "docs" / "plugins.md").read_text().splitlines()
    assert f"### {hook}({arguments})" in headings


class WrappedBackend(FakeBackend):
    """A third party's backend: the fake one under another name, tagging what it launches."""

    name: ClassVar[str] = "wrapped"

    async def launch(self, spec: LaunchSpec) -> Any:
        return await super().launch(attrs.evolve(spec, labels={**spec.labels, "wrapped": "yes"}))


class WrappedPlugin:
    @hookimpl
    def anylambda_add_backends(self) -> list[type[FakeBackend]]:
        return [WrappedBackend]


async def test_hook_add_backends(tmp_path: Path) -> None:
    async with Runtime(
        make_fake_config(tmp_path, {"app.handler": echo}, backend="wrapped"),
        plugins=[WrappedPlugin()],
    ) as rt:
        assert type(rt.backend) is WrappedBackend
        await create_function(rt, "third-party", "app.handler")
        result, payload = await invoke(rt, "third-party", {"n": 1})
        assert (result.function_error, payload) == (None, {"n": 1})
        assert fake(rt).specs[0].labels["wrapped"] == "yes"
        backends = set(rt.plugins.backends())
        assert "wrapped" in backends and "process" in backends and "fake" not in backends


class PingFrontend:
    """A frontend with one route and one background service."""

    name: ClassVar[str] = "ping"

    def __init__(self) -> None:
        self.service_runtime: Runtime | None = None
        self.service_stopped = False

    def blueprints(self, runtime: Runtime) -> list[Blueprint]:
        blueprint = Blueprint("ping", __name__)

        @blueprint.route("/ping")
        async def ping() -> dict[str, Any]:
            return {"backend": runtime.backend.name}

        return [blueprint]

    def services(self, runtime: Runtime) -> list[Any]:
        return [self._service]

    async def _service(
        self,
        runtime: Runtime,
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        self.service_runtime = runtime
        task_status.started()
        try:
            await anyio.sleep_forever()
        finally:
            self.service_stopped = True


class FrontendPlugin:
    def __init__(self, frontend: PingFrontend) -> None:
        self.frontend = frontend

    @hookimpl
    def anylambda_add_frontends(self) -> list[PingFrontend]:
        return [self.frontend]


def get_json(url: str) -> Any:
    """GET ``url`` (blocking) and decode its JSON body."""
    with urllib.request.urlopen(url, timeout=LIMIT) as response:
        return json.load(response)


async def test_hook_add_frontends(tmp_path: Path) -> None:
    frontend = PingFrontend()
    plugins = [FakeBackendPlugin(), FrontendPlugin(frontend)]
    async with Runtime(make_fake_config(tmp_path / "a"), plugins=plugins) as rt:
        assert rt.plugins.frontends()["ping"] is frontend
        assert "lambda_api" in rt.plugins.frontends()
    urls: list[str] = []
    stop = anyio.Event()
    with anyio.fail_after(LIMIT):
        async with anyio.create_task_group() as tg:
            config = make_fake_config(tmp_path / "b", port=0)
            tg.start_soon(
                functools.partial(
                    anylambda_server.serve, config, stop=stop, on_ready=urls.append, plugins=plugins
                )
            )
            await wait_until(lambda: bool(urls))
            assert isinstance(frontend.service_runtime, Runtime)
            assert not frontend.service_stopped
            assert await anyio.to_thread.run_sync(get_json, f"{urls[0]}/ping") == {
                "backend": "fake"
            }
            stop.set()
    assert frontend.service_stopped


class RecipePlugin:
    @hookimpl
    def anylambda_add_runtimes(self) -> list[RuntimeRecipe]:
        return [RuntimeRecipe(name="fakelang1.x", family="provided", image="example/fakelang:1")]


class PythonRecipePlugin:
    @hookimpl
    def anylambda_add_runtimes(self) -> list[RuntimeRecipe]:
        return [RuntimeRecipe(name="python3.12", family="python", image="example/python")]


async def test_hook_add_runtimes(tmp_path: Path) -> None:
    async with fake_runtime(tmp_path / "a", RecipePlugin()) as rt:
        await create_function(rt, "lang", "echo", runtime="fakelang1.x")
        result, payload = await invoke(rt, "lang", [1, 2])
        assert (result.function_error, payload) == (None, [1, 2])
        recipe = fake(rt).specs[0].recipe
        assert recipe is not None and recipe.image == "example/fakelang:1"
    async with fake_runtime(tmp_path / "b") as rt:
        with pytest.raises(InvalidParameterValueError, match=r"fakelang1\.x is not supported"):
            await create_function(rt, "lang", "echo", runtime="fakelang1.x")
    with pytest.raises(ConfigurationError, match=r"runtime named 'python3\.12'"):
        async with fake_runtime(tmp_path / "c", PythonRecipePlugin()):
            pass


SECRETS = {"db": "hunter2"}


class SecretsPlugin:
    """Resolves ``SECRET_REF:NAME`` values from :data:`SECRETS`."""

    @hookimpl
    def anylambda_resolve_environment(
        self, function: FunctionConfig, environment: Mapping[str, str]
    ) -> dict[str, str]:
        return {
            key: SECRETS[value.removeprefix("SECRET_REF:")]
            if value.startswith("SECRET_REF:")
            else value
            for key, value in environment.items()
        }


class PassThroughPlugin:
    """Sees the environment and leaves it alone (returns ``None``)."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []

    @hookimpl
    def anylambda_resolve_environment(
        self, function: FunctionConfig, environment: Mapping[str, str]
    ) -> None:
        self.seen.append(dict(environment))


def read_env(event: Any, context: dict[str, Any]) -> Any:
    """Return the instance's value of the variable named by the event."""
    return context["environment"].get(event)


async def test_hook_resolve_environment(tmp_path: Path) -> None:
    passthrough = PassThroughPlugin()
    handlers = {"env": read_env}
    async with fake_runtime(tmp_path, SecretsPlugin(), passthrough, handlers=handlers) as rt:
        env = {"DB_PASSWORD": "SECRET_REF:db", "PLAIN": "x"}
        await create_function(rt, "secret", "env", environment=env)
        _, payload = await invoke(rt, "secret", "DB_PASSWORD")
        assert payload == "hunter2"
        spec = fake(rt).specs[0]
        assert (spec.environment["DB_PASSWORD"], spec.environment["PLAIN"]) == ("hunter2", "x")
        # pluggy's call order: the plugin registered last runs first, before the secrets.
        assert passthrough.seen == [env]
        stored = await rt.get_function("secret")
        assert stored.settings.environment["DB_PASSWORD"] == "SECRET_REF:db"


class TersePlugin:
    """Takes only the argument it needs, as pluggy allows."""

    @hookimpl
    def anylambda_resolve_environment(self, environment: Mapping[str, str]) -> dict[str, str]:
        return {**environment, "TERSE": "yes"}


async def test_resolve_environment_impl_may_take_fewer_arguments(tmp_path: Path) -> None:
    async with fake_runtime(tmp_path, TersePlugin(), handlers={"env": read_env}) as rt:
        await create_function(rt, "terse", "env")
        _, payload = await invoke(rt, "terse", "TERSE")
        assert payload == "yes"


class LabelPlugin:
    @hookimpl
    def anylambda_launch_spec(self, spec: LaunchSpec) -> LaunchSpec:
        return attrs.evolve(spec, labels={**spec.labels, "team": "payments"})


async def test_hook_launch_spec(tmp_path: Path) -> None:
    async with fake_runtime(tmp_path, LabelPlugin()) as rt:
        await create_function(rt, "labelled", "echo")
        await invoke(rt, "labelled", 1)
        labels = fake(rt).specs[0].labels
        assert labels["team"] == "payments"
        assert labels["anylambda.function"] == "labelled"


class Observer:
    """Records what the observer hooks report, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    @hookimpl
    def anylambda_instance_started(self, spec: LaunchSpec) -> None:
        self.events.append(("started", spec.instance_id))

    @hookimpl
    def anylambda_instance_stopped(self, spec: LaunchSpec, reason: str) -> None:
        self.events.append(("stopped", spec.instance_id, reason))

    @hookimpl
    def anylambda_invocation_finished(
        self, request: InvokeRequest, result: InvokeResult, duration_ms: float
    ) -> None:
        self.events.append(("finished", request, result, duration_ms))

    def stopped(self) -> list[tuple[str, str]]:
        """(instance id, reason) of every stop so far."""
        return [(e[1], e[2]) for e in self.events if e[0] == "stopped"]


async def test_hook_instance_started(tmp_path: Path) -> None:
    observer = Observer()
    async with fake_runtime(tmp_path / "a", observer) as rt:
        await create_function(rt, "obs", "echo")
        await invoke(rt, "obs", 1)
        assert observer.events[0] == ("started", fake(rt).specs[0].instance_id)
        assert [e[0] for e in observer.events] == ["started", "finished"]
    observer = Observer()
    async with fake_runtime(tmp_path / "b", observer) as rt:
        fake(rt).launch_error = LaunchError("no entrypoint")
        await create_function(rt, "obs", "echo")
        await invoke(rt, "obs", 1)
        assert "started" not in [e[0] for e in observer.events], "only launched instances start"


async def test_hook_instance_stopped(tmp_path: Path) -> None:
    observer = Observer()
    async with fake_runtime(tmp_path / "a", observer, idle_timeout=0.2) as rt:
        await create_function(rt, "idler", "echo")
        await invoke(rt, "idler", 1)
        await wait_until(lambda: bool(observer.stopped()))
        assert observer.stopped() == [(fake(rt).specs[0].instance_id, "idle")]
        assert fake(rt).terminations == 1
    observer = Observer()
    async with fake_runtime(tmp_path / "b", observer) as rt:
        await create_function(rt, "crasher", "crash")
        await invoke(rt, "crasher")
        await wait_until(lambda: bool(observer.stopped()))
        await create_function(rt, "stayer", "echo")
        await invoke(rt, "stayer", 1)
        first, second = (spec.instance_id for spec in fake(rt).specs)
    assert observer.stopped() == [(first, "exited"), (second, "shutdown")]


async def test_hook_invocation_finished(tmp_path: Path) -> None:
    observer = Observer()
    async with fake_runtime(tmp_path, observer) as rt:
        await create_function(rt, "slowish", "nap")
        await create_function(rt, "failing", "fail")
        result, _ = await invoke(rt, "slowish", {"sleep": 0.2})
        failed, _ = await invoke(rt, "failing")
    finished = [e[1:] for e in observer.events if e[0] == "finished"]
    assert [(request.function_name, seen) for request, seen, _ in finished] == [
        ("slowish", result),
        ("failing", failed),
    ]
    assert failed.function_error == "Unhandled"
    assert finished[0][2] >= 200


class Mailer:
    """Takes SQS and SNS ARNs, as an emulator that embeds anylambda would."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Mapping[str, Any]]] = []

    @hookimpl
    def anylambda_deliver_to(self, arn: str, message: Mapping[str, Any], kind: str) -> Any:
        if arn.split(":")[2] not in ("sqs", "sns"):
            return None
        return self._send(arn, message, kind)

    async def _send(self, arn: str, message: Mapping[str, Any], kind: str) -> None:
        await anyio.lowlevel.checkpoint()
        self.sent.append((arn, kind, message))


async def test_hook_deliver_to(tmp_path: Path) -> None:
    mailer = Mailer()
    queue = "arn:aws:sqs:us-east-1:000000000000:failures"
    topic = "arn:aws:sns:us-east-1:000000000000:dead-letters"
    sink = "arn:aws:lambda:us-east-1:000000000000:function:sink"
    received: list[Any] = []
    handlers = {**HANDLERS, "sink": lambda event, context: received.append(event)}
    async with fake_runtime(tmp_path, mailer, handlers=handlers, async_retry_delays=(0,)) as rt:
        await create_function(rt, "failing", "fail", dead_letter_arn=topic)
        await create_function(rt, "sink", "sink")
        await rt.event_configs.put(
            "failing", maximum_retry_attempts=0, destinations=Destinations(on_failure=queue)
        )
        event = InvokeRequest("failing", b'{"a": 1}', invocation_type=InvocationType.EVENT)
        result = await rt.invoke(event)
        await wait_until(lambda: len(mailer.sent) == 2)
        by_kind = {kind: (arn, message) for arn, kind, message in mailer.sent}
        await rt.event_configs.put("failing", destinations=Destinations(on_failure=sink))
        await rt.invoke(event)
        await wait_until(lambda: len(received) == 1)
    assert set(by_kind) == {"OnFailure", "DeadLetter"}
    assert by_kind["OnFailure"][0] == queue
    assert by_kind["OnFailure"][1]["requestContext"]["condition"] == "RetriesExhausted"
    assert by_kind["DeadLetter"][0] == topic
    assert by_kind["DeadLetter"][1]["Body"] == '{"a": 1}'
    assert by_kind["DeadLetter"][1]["MessageAttributes"]["RequestID"]["StringValue"] == (
        result.request_id
    )
    assert received[0]["requestPayload"] == {"a": 1}, "Lambda ARNs: the built-in destination"


class Lifetime:
    """Async startup and shutdown hooks that record when they ran."""

    def __init__(self) -> None:
        self.log: list[tuple[str, int]] = []

    @hookimpl
    async def anylambda_startup(self, runtime: Runtime) -> None:
        await anyio.sleep(0.01)
        self.log.append(("startup", fake(runtime).launches))

    @hookimpl
    async def anylambda_shutdown(self, runtime: Runtime) -> None:
        await anyio.sleep(0.01)
        self.log.append(("shutdown", fake(runtime).running))


async def test_hook_startup(tmp_path: Path) -> None:
    lifetime = Lifetime()
    async with fake_runtime(tmp_path, lifetime):
        assert lifetime.log == [("startup", 0)]


async def test_hook_shutdown(tmp_path: Path) -> None:
    lifetime = Lifetime()
    async with fake_runtime(tmp_path, lifetime) as rt:
        await create_function(rt, "warm", "echo")
        await invoke(rt, "warm", 1)
        assert fake(rt).running == 1
        assert lifetime.log == [("startup", 0)]
    assert lifetime.log == [("startup", 0), ("shutdown", 0)], "instances are gone before shutdown"


class ConfigureRecorder:
    def __init__(self) -> None:
        self.configs: list[Config] = []

    @hookimpl
    def anylambda_configure(self, config: Config) -> None:
        self.configs.append(config)


async def test_hook_configure(tmp_path: Path) -> None:
    early = ConfigureRecorder()
    async with fake_runtime(tmp_path, early) as rt:
        assert early.configs == [rt.config]
        late = ConfigureRecorder()
        rt.plugins.manager.register(late)
        assert late.configs == [rt.config], "historic: replayed to a plugin registered later"


# --- the Runtime facade on the fake backend ------------------------------------------------


async def test_concurrent_invocations_launch_one_instance_each(tmp_path: Path) -> None:
    async with fake_runtime(tmp_path) as rt:
        fake(rt).prepare_delay = 0.1  # the invocations pile up on the startup lock
        config = await create_function(rt, "fanout", "nap")
        results: list[Any] = []

        async def one(n: int) -> None:
            results.append((await invoke(rt, "fanout", {"sleep": 0.3, "n": n}))[1])

        async with anyio.create_task_group() as tg:
            for n in range(3):
                tg.start_soon(one, n)
        assert sorted(r["n"] for r in results) == [0, 1, 2]
        backend = fake(rt)
        assert (backend.launches, backend.peak_running) == (3, 3)
        assert list(backend.prepares.values()) == [1]
        assert {spec.fingerprint for spec in backend.specs} == set(backend.prepares)
        assert config.code.sha256 and len(backend.prepares) == 1


async def test_account_limit_throttles_the_extra_invocation(tmp_path: Path) -> None:
    async with fake_runtime(tmp_path, account_concurrency=2) as rt:
        await create_function(rt, "busy", "nap")
        outcomes: list[Any] = []

        async def one() -> None:
            try:
                outcomes.append((await invoke(rt, "busy", {"sleep": 0.3}))[1])
            except TooManyRequestsError as exc:
                outcomes.append(exc)

        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(one)
        throttles = [o for o in outcomes if isinstance(o, TooManyRequestsError)]
        assert len(throttles) == 1 and len(outcomes) == 3
        assert throttles[0].extra == {"Reason": "ConcurrentInvocationLimitExceeded"}
        assert fake(rt).peak_running == 2


async def test_code_update_replaces_warm_instances(tmp_path: Path) -> None:
    async with fake_runtime(tmp_path) as rt:
        await create_function(rt, "deploy", "echo")
        await invoke(rt, "deploy", 1)
        backend = fake(rt)
        await rt.update_function_code("deploy", make_zip({"handler.py": "# v2\n"}))
        await wait_until(lambda: backend.terminations == 1)
        assert backend.running == 0
        _, payload = await invoke(rt, "deploy", 2)
        assert payload == 2
        assert backend.launches == 2
        assert backend.specs[0].fingerprint != backend.specs[1].fingerprint


async def test_timeout_update_keeps_warm_instances(tmp_path: Path) -> None:
    async with fake_runtime(tmp_path) as rt:
        await create_function(rt, "tune", "echo")
        await invoke(rt, "tune", 1)
        await rt.update_function_configuration("tune", timeout=30)
        await invoke(rt, "tune", 2)
        backend = fake(rt)
        assert (backend.launches, backend.terminations, backend.running) == (1, 0, 1)


async def test_handler_past_its_timeout_is_killed(tmp_path: Path) -> None:
    async with fake_runtime(tmp_path) as rt:
        await create_function(rt, "sleepy", "nap", timeout=1)
        result, payload = await invoke(rt, "sleepy", {"sleep": 30})
        assert result.function_error == "Unhandled"
        assert payload["errorType"] == "Sandbox.Timedout"
        assert "Task timed out after 1.00 seconds" in payload["errorMessage"]
        backend = fake(rt)
        await wait_until(lambda: backend.terminations == 1)
        assert backend.running == 0


async def test_handler_error_is_the_result_and_the_instance_lives_on(tmp_path: Path) -> None:
    async with fake_runtime(tmp_path) as rt:
        await create_function(rt, "oops", "fail")
        for _ in range(2):
            result, payload = await invoke(rt, "oops")
            assert result.function_error == "Unhandled"
            assert (payload["errorType"], payload["errorMessage"]) == ("ValueError", "bad input")
        assert (fake(rt).launches, fake(rt).running) == (1, 1)


async def test_crashed_instance_is_an_exit_error(tmp_path: Path) -> None:
    async with fake_runtime(tmp_path) as rt:
        await create_function(rt, "crasher", "crash")
        result, payload = await invoke(rt, "crasher")
        assert result.function_error == "Unhandled"
        assert payload["errorType"] == "Runtime.ExitError"
        assert "exit status 1" in payload["errorMessage"]
        await wait_until(lambda: fake(rt).exits == 1)


async def test_init_error_reaches_the_waiting_invocation(tmp_path: Path) -> None:
    async with fake_runtime(tmp_path) as rt:
        await create_function(rt, "broken", "not.registered")
        result, payload = await invoke(rt, "broken")
        assert result.function_error == "Unhandled"
        assert payload["errorType"] == "Runtime.HandlerNotFound"
        assert "'not.registered'" in payload["errorMessage"]
        await wait_until(lambda: fake(rt).running == 0)


async def test_launch_error_is_an_invalid_entrypoint(tmp_path: Path) -> None:
    async with fake_runtime(tmp_path) as rt:
        fake(rt).launch_error = LaunchError("fork/exec /var/task/bootstrap: no such file")
        await create_function(rt, "noentry", "echo")
        result, payload = await invoke(rt, "noentry")
        assert payload["errorType"] == "Runtime.InvalidEntrypoint"
        assert "no such file" in payload["errorMessage"]
        assert result.function_error == "Unhandled"


async def test_hanging_launch_times_out_and_is_cancelled_at_shutdown(tmp_path: Path) -> None:
    config = {"init_timeout": 30.0, "launch_timeout": 0.5, "shutdown_grace": 0.5}
    async with fake_runtime(tmp_path, **config) as rt:
        fake(rt).launch_delay = math.inf
        await create_function(rt, "stuck", "echo")
        with pytest.raises(ServiceError, match="did not start an instance in time"):
            await invoke(rt, "stuck")
    assert (fake(rt).hanging, fake(rt).launch_failures) == (0, 1)


async def test_a_slow_launch_does_not_eat_into_the_init_timeout(tmp_path: Path) -> None:
    """Bringing a sandbox up is not the runtime's init phase (AWS counts only the latter)."""
    async with fake_runtime(tmp_path, init_timeout=0.3, launch_timeout=10.0) as rt:
        fake(rt).launch_delay = 0.6
        await create_function(rt, "slow", "echo")
        result, payload = await invoke(rt, "slow", {"n": 1})
        assert (result.function_error, payload) == (None, {"n": 1})


async def test_handler_log_lands_in_the_invocation_log(tmp_path: Path) -> None:
    def chatty(event: Any, context: dict[str, Any]) -> Any:
        context["log"](f"hello from {context['function_name']}")
        return context["aws_request_id"]

    async with fake_runtime(tmp_path, handlers={"chatty": chatty}) as rt:
        await create_function(rt, "chatty", "chatty")
        with anyio.fail_after(LIMIT):
            result = await rt.invoke(InvokeRequest("chatty", b"{}", log_tail=True))
        assert json.loads(result.payload) == result.request_id
        assert b"hello from chatty\n" in result.log


async def test_idle_instances_are_evicted(tmp_path: Path) -> None:
    async with fake_runtime(tmp_path, idle_timeout=0.2) as rt:
        await create_function(rt, "idle", "echo")
        await invoke(rt, "idle", 1)
        backend = fake(rt)
        await wait_until(lambda: backend.terminations == 1)
        assert backend.running == 0 and rt.pool.running() == 0
        await invoke(rt, "idle", 2)
        assert backend.launches == 2


async def test_leaving_the_runtime_terminates_everything(tmp_path: Path) -> None:
    async with fake_runtime(tmp_path) as rt:
        for name in ("one", "two"):
            await create_function(rt, name, "echo")
            await invoke(rt, name, name)
        backend = fake(rt)
        assert backend.running == 2
    assert (backend.running, backend.terminations, backend.launches) == (0, 2, 2)
    assert rt.pool.is_empty()


async def test_an_error_in_the_runtime_block_comes_out_unwrapped(tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        async with fake_runtime(tmp_path):
            raise KeyError("mine")


async def test_fake_runtime_fixture(
    fake_runtime: Runtime, fake_handlers: dict[str, Handler]
) -> None:
    fake_handlers["app.handler"] = lambda event, context: {"got": event}
    await create_function(fake_runtime, "fixture", "app.handler")
    _, payload = await invoke(fake_runtime, "fixture", {"a": 1})
    assert payload == {"got": {"a": 1}}
    assert fake(fake_runtime).launches == 1


async def test_soft_idle_pauses_the_instance_and_the_next_invoke_resumes_it(
    tmp_path: Path,
) -> None:
    async with fake_runtime(tmp_path, soft_idle_timeout=0.2) as rt:
        await create_function(rt, "dozy", "echo")
        await invoke(rt, "dozy", 1)
        backend = fake(rt)
        with anyio.fail_after(LIMIT):
            await wait_until(lambda: backend.pauses == 1)
        (instance,) = backend.instances.values()
        assert instance.paused
        _, payload = await invoke(rt, "dozy", 2)
        assert payload == 2
        assert (backend.resumes, backend.launches, instance.paused) == (1, 1, False)
