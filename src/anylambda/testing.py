"""Test support for plugin authors: a fake backend that speaks the real Runtime API, and fixtures.

An opt-in pytest plugin (like ``tox.pytest``). Its :class:`FakeBackend`
(backend name ``fake``) runs each instance in-process as an anyio task that
behaves like a Runtime Interface Client: it polls the instance's own Runtime
API over HTTP (h11 on a keep-alive TCP connection), calls a Python handler,
and posts the result. Nothing inside the core is mocked: the pool, the
Runtime API server and the invocation bookkeeping all run as they do with the
process backend, only faster and with knobs to make instances fail.

Enable the fixtures in a ``conftest.py``::

    pytest_plugins = ["anylambda.testing"]

(pytest accepts ``pytest_plugins`` only in the root ``conftest.py``; elsewhere
import the fixtures you use: ``from anylambda.testing import fake_runtime``.)
Then, with anyio's pytest plugin::

    async def test_echo(fake_runtime, fake_handlers):
        fake_handlers["app.handler"] = lambda event, context: {"got": event}
        await create_function(fake_runtime, "echo", "app.handler")
        result = await fake_runtime.invoke(InvokeRequest("echo", b'{"a": 1}'))
        assert json.loads(result.payload) == {"got": {"a": 1}}
        assert fake_runtime.backend.launches == 1

A handler is ``(event, context) -> result``, sync or ``async``; the function's
``handler`` setting names it in :attr:`FakeBackend.handlers` or in the
``handlers`` mapping of the backend's options (``Config.plugins["fake"]``,
which the :func:`fake_handlers` fixture fills). ``context`` is a dict with
``aws_request_id``, ``invoked_function_arn``, ``deadline_ms``,
``function_name``, ``function_version``, ``instance_id``, ``environment`` and
``log`` (a callable: its text lands in the invocation's log). Sync handlers run
on the event loop: make slow handlers ``async`` (``await anyio.sleep(...)``).

How instances end, and what the core sees:

- the handler raises: the error is posted (``/error``), the instance lives on;
- the handler raises :class:`CrashInstance`: the instance exits (code 1);
- the handler name is not registered: ``/runtime/init/error`` with
  ``Runtime.HandlerNotFound``, then the instance exits;
- :attr:`FakeBackend.launch_delay`: ``launch()`` takes that long (``math.inf``: never
  returns until cancelled);
- :attr:`FakeBackend.launch_error`: ``launch()`` raises it.
"""

from __future__ import annotations

import inspect
import io
import json
import signal
import traceback
import zipfile
from collections import ChainMap, Counter
from collections.abc import AsyncIterator, Callable, Mapping, MutableMapping
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, NamedTuple, Self

import anyio
import anyio.abc
import h11
import pytest

from anylambda.core.config import Config
from anylambda.core.errors import InvalidParameterValueError
from anylambda.core.fingerprint import fingerprint
from anylambda.core.interfaces import InstanceHandle, OutputSink
from anylambda.core.models import (
    ExitStatus,
    FunctionConfig,
    FunctionSettings,
    LaunchSpec,
    RuntimeRecipe,
)
from anylambda.core.plugins import hookimpl
from anylambda.core.runtime import Runtime

__all__ = [
    "FAKE_RUNTIME",
    "CrashInstance",
    "FakeBackend",
    "FakeBackendPlugin",
    "FakeInstance",
    "Handler",
    "Response",
    "RuntimeApiClient",
    "create_function",
    "fake_config",
    "fake_handlers",
    "fake_runtime",
    "fake_settings",
    "make_fake_config",
    "make_zip",
    "wait_until",
]

#: ``(event, context) -> result``, sync or async.
Handler = Callable[[Any, dict[str, Any]], Any]

#: The runtime :func:`create_function` gives functions (a built-in recipe; the fake ignores it).
FAKE_RUNTIME = "python3.12"
#: Seconds :func:`wait_until` waits by default.
WAIT_TIMEOUT = 10.0

_NEXT = "/2018-06-01/runtime/invocation/next"
_INVOCATION = "/2018-06-01/runtime/invocation"
_INIT_ERROR = "/2018-06-01/runtime/init/error"
_ERROR_TYPE = "Lambda-Runtime-Function-Error-Type"
_RECEIVE_SIZE = 65536


class CrashInstance(Exception):
    """Raised by a handler: its instance exits at once with ``code``, posting nothing."""

    def __init__(self, code: int = 1) -> None:
        super().__init__(f"instance exits with code {code}")
        self.code = code


# --- a Runtime API client ----------------------------------------------------------------


class Response(NamedTuple):
    """One answer of the Runtime API."""

    status: int
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes


class RuntimeApiClient:
    """A keep-alive HTTP/1.1 client (h11 on an anyio TCP stream) for one Runtime API address."""

    def __init__(self, address: str) -> None:
        host, _, port = address.rpartition(":")
        self._host, self._port = host, int(port)
        self._stream: anyio.abc.SocketStream | None = None
        self._conn = h11.Connection(h11.CLIENT)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection, if one is open."""
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await stream.aclose()

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> Response:
        """Send one request and read its whole answer, reusing the connection when allowed."""
        stream = await self._connect()
        conn = self._conn
        head = [
            ("Host", f"{self._host}:{self._port}"),
            ("Content-Length", str(len(body))),
            *(headers or {}).items(),
        ]
        data = conn.send(h11.Request(method=method, target=path, headers=head)) or b""
        if body:
            data += conn.send(h11.Data(data=body)) or b""
        await stream.send(data + (conn.send(h11.EndOfMessage()) or b""))
        response: h11.Response | None = None
        chunks: list[bytes] = []
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                try:
                    conn.receive_data(await stream.receive(_RECEIVE_SIZE))
                except anyio.EndOfStream:
                    conn.receive_data(b"")
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise anyio.EndOfStream
        assert response is not None
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
        else:
            await self.aclose()
        names = {k.decode().lower(): v.decode() for k, v in response.headers}
        return Response(response.status_code, names, b"".join(chunks))

    async def _connect(self) -> anyio.abc.SocketStream:
        if self._stream is None:
            self._stream = await anyio.connect_tcp(self._host, self._port)
            self._conn = h11.Connection(h11.CLIENT)
        return self._stream


# --- the backend -----------------------------------------------------------------------


class FakeInstance:
    """One fake instance: a runtime loop that starts in :meth:`supervise`."""

    def __init__(self, backend: FakeBackend, spec: LaunchSpec, handler: Handler | None) -> None:
        self.backend = backend
        self.spec = spec
        self.handler = handler
        self.exit_status: ExitStatus | None = None
        """How it ended; ``None`` while it lives."""
        self._stopped = anyio.Event()
        self._on_output: OutputSink | None = None
        self._thawed = anyio.Event()
        self._thawed.set()

    @property
    def alive(self) -> bool:
        """Whether it has neither exited nor been terminated."""
        return self.exit_status is None

    async def supervise(self, on_output: OutputSink) -> ExitStatus:
        """Run the runtime loop until it exits or the instance is terminated."""
        self._on_output = on_output
        async with anyio.create_task_group() as tg:
            if self.alive:
                tg.start_soon(self._run)
            await self._stopped.wait()
            tg.cancel_scope.cancel()
        assert self.exit_status is not None
        return self.exit_status

    @property
    def paused(self) -> bool:
        """Whether the instance is frozen (it serves nothing until resumed)."""
        return not self._thawed.is_set()

    async def pause(self) -> None:
        """Freeze: an invocation delivered meanwhile waits for :meth:`resume`."""
        self.backend.pauses += 1
        self._thawed = anyio.Event()

    async def resume(self) -> None:
        """Thaw."""
        self.backend.resumes += 1
        self._thawed.set()

    def flush_output(self) -> None:
        """Nothing to do: ``context["log"]`` forwards output at once."""

    def end(self, status: ExitStatus, *, terminated: bool) -> bool:
        """Mark the instance gone (once); whether this call ended it."""
        if self.exit_status is not None:
            return False
        self.exit_status = status
        self._stopped.set()
        self.backend._ended(self, terminated=terminated)
        return True

    async def _run(self) -> None:
        code = 1
        try:
            async with RuntimeApiClient(self.spec.runtime_api) as api:
                code = await self._serve(api)
        except (OSError, anyio.EndOfStream, anyio.BrokenResourceError, h11.ProtocolError):
            code = 1  # the Runtime API went away: a real runtime would die too
        finally:
            self.end(ExitStatus(code=code), terminated=False)

    async def _serve(self, api: RuntimeApiClient) -> int:
        """Initialise, then serve invocations; return the exit code."""
        if self.handler is None:
            name = self.spec.function.settings.handler
            body = _error_document(
                "Runtime.HandlerNotFound", f"Handler {name!r} is not registered with FakeBackend"
            )
            await api.request("POST", _INIT_ERROR, body, {_ERROR_TYPE: "Runtime.HandlerNotFound"})
            return 1
        while True:
            response = await api.request("GET", _NEXT)
            if response.status != 200:
                return 1
            request_id = response.headers["lambda-runtime-aws-request-id"]
            await self._thawed.wait()  # a frozen process reads its /next answer when thawed
            try:
                event = json.loads(response.body) if response.body else None
                result = self.handler(event, self._context(request_id, response.headers))
                if inspect.isawaitable(result):
                    result = await result
                payload = json.dumps(result).encode()
            except CrashInstance as crash:
                return crash.code
            except Exception as exc:
                error_type = type(exc).__name__
                body = _error_document(error_type, str(exc), traceback.format_tb(exc.__traceback__))
                await api.request(
                    "POST", f"{_INVOCATION}/{request_id}/error", body, {_ERROR_TYPE: error_type}
                )
            else:
                await api.request("POST", f"{_INVOCATION}/{request_id}/response", payload)

    def _context(self, request_id: str, headers: Mapping[str, str]) -> dict[str, Any]:
        function = self.spec.function
        return {
            "aws_request_id": request_id,
            "invoked_function_arn": headers.get("lambda-runtime-invoked-function-arn"),
            "deadline_ms": int(headers.get("lambda-runtime-deadline-ms", "0")),
            "function_name": function.name,
            "function_version": function.version,
            "instance_id": self.spec.instance_id,
            "environment": dict(self.spec.environment),
            "log": self._log,
        }

    def _log(self, text: str) -> None:
        if self._on_output is not None:
            self._on_output(text.encode() if text.endswith("\n") else f"{text}\n".encode())


class FakeBackend:
    """A backend whose instances are in-process fake runtimes (see the module docstring).

    Options come from ``Config.plugins["fake"]`` (``handlers``, ``launch_delay``,
    ``launch_error``, ``prepare_delay``); the knobs can also be set on the
    object (``runtime.backend``) while the runtime runs.
    """

    name: ClassVar[str] = "fake"
    runtime_api_host = "127.0.0.1"
    #: Handlers every fake backend knows, by handler string; per-test ones go in the options.
    handlers: ClassVar[dict[str, Handler]] = {}

    def __init__(self, config: Config) -> None:
        options: Mapping[str, Any] = config.plugins.get("fake", {})
        self.config = config
        self.local_handlers: MutableMapping[str, Handler] = ChainMap(
            options.get("handlers", {}), type(self).handlers
        )
        """This backend's handlers, then the class-level ones."""
        self.launch_delay: float = options.get("launch_delay", 0.0)
        """Seconds ``launch()`` takes before starting an instance (``math.inf``: forever)."""
        self.launch_error: BaseException | None = options.get("launch_error")
        """Raised by ``launch()`` (e.g. ``LaunchError``, ``BackendError``) when set."""
        self.prepare_delay: float = options.get("prepare_delay", 0.0)
        """Seconds ``prepare()`` takes."""
        self.launches = 0
        """Calls to ``launch()``."""
        self.launch_failures = 0
        """Launches that raised or were cancelled (no handle came back)."""
        self.terminations = 0
        """Instances ended by ``terminate()`` (a repeated call does not count)."""
        self.exits = 0
        """Instances that exited on their own (crash, init error)."""
        self.pauses = 0
        """Calls to an instance's ``pause()``."""
        self.resumes = 0
        """Calls to an instance's ``resume()``."""
        self.peak_running = 0
        """The most instances alive at once."""
        self.hanging = 0
        """Launches currently waiting out :attr:`launch_delay`."""
        self.prepares: Counter[str] = Counter()
        """Calls to ``prepare()`` by deployment fingerprint."""
        self.specs: list[LaunchSpec] = []
        """Every launch spec received, in order."""
        self.instances: dict[str, FakeInstance] = {}
        """Live instances by instance id."""

    @property
    def running(self) -> int:
        """Instances alive now."""
        return len(self.instances)

    async def validate(self, function: FunctionConfig, recipe: RuntimeRecipe | None) -> None:
        """Accept every ``.zip`` function; refuse container images."""
        if function.settings.package_type != "Zip":
            raise InvalidParameterValueError("The fake backend runs .zip functions only.")

    async def prepare(self, function: FunctionConfig, recipe: RuntimeRecipe | None) -> None:
        """Count the call for the function's fingerprint, taking :attr:`prepare_delay`."""
        self.prepares[fingerprint(function)] += 1
        if self.prepare_delay:
            await anyio.sleep(self.prepare_delay)

    async def launch(self, spec: LaunchSpec) -> FakeInstance:
        """Create an instance whose runtime loop starts when the core supervises it."""
        self.launches += 1
        self.specs.append(spec)
        try:
            if self.launch_error is not None:
                raise self.launch_error
            if self.launch_delay:
                self.hanging += 1
                try:
                    await anyio.sleep(self.launch_delay)
                finally:
                    self.hanging -= 1
        except BaseException:
            self.launch_failures += 1
            raise
        handler = self.local_handlers.get(spec.function.settings.handler or "")
        instance = FakeInstance(self, spec, handler)
        self.instances[spec.instance_id] = instance
        self.peak_running = max(self.peak_running, self.running)
        return instance

    async def terminate(self, handle: InstanceHandle) -> None:
        """Kill the instance (SIGKILL, as the core sees it); idempotent."""
        assert isinstance(handle, FakeInstance)
        handle.end(ExitStatus(code=None, signal=signal.SIGKILL), terminated=True)

    async def reap_stale(self) -> None:
        """Nothing is left behind by an earlier server: instances live in memory."""

    async def aclose(self) -> None:
        """Nothing to release."""

    def _ended(self, instance: FakeInstance, *, terminated: bool) -> None:
        self.instances.pop(instance.spec.instance_id, None)
        if terminated:
            self.terminations += 1
        else:
            self.exits += 1


class FakeBackendPlugin:
    """The plugin that contributes :class:`FakeBackend`: ``Runtime(..., plugins=[...])``."""

    @hookimpl
    def anylambda_add_backends(self) -> list[type[FakeBackend]]:
        """Contribute the fake backend."""
        return [FakeBackend]


# --- helpers -----------------------------------------------------------------------------


def make_zip(files: Mapping[str, str | bytes] | None = None) -> bytes:
    """A code package with ``files`` (name -> content); one small file if none are given."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in (files or {"handler.py": "# fake\n"}).items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0)), content)
    return buf.getvalue()


def fake_settings(handler: str, **settings: Any) -> FunctionSettings:
    """Settings of a function the fake backend runs with handler ``handler``."""
    runtime = settings.pop("runtime", FAKE_RUNTIME)
    return FunctionSettings(runtime=runtime, handler=handler, **settings)


async def create_function(
    runtime: Runtime,
    name: str,
    handler: str,
    /,
    files: Mapping[str, str | bytes] | None = None,
    **settings: Any,
) -> FunctionConfig:
    """Create a function ``name`` running ``handler``; ``settings`` as in FunctionSettings."""
    return await runtime.create_function(name, fake_settings(handler, **settings), make_zip(files))


async def wait_until(predicate: Callable[[], bool], within: float = WAIT_TIMEOUT) -> None:
    """Poll ``predicate`` until it holds; fail (``TimeoutError``) after ``within`` seconds."""
    with anyio.fail_after(within):
        # Polling, not an Event: the conditions are counters of the fake and the core.
        while not predicate():  # noqa: ASYNC110
            await anyio.sleep(0.01)


def make_fake_config(
    data_dir: Path, handlers: Mapping[str, Handler] | None = None, **overrides: Any
) -> Config:
    """A config selecting the fake backend, small limits, ``handlers`` in its options."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "backend": FakeBackend.name,
        "idle_timeout": 60.0,
        "init_timeout": 5.0,
        "shutdown_grace": 5.0,
        "account_concurrency": 4,
        "plugins": {"fake": {"handlers": handlers if handlers is not None else {}}},
    }
    values.update(overrides)
    return Config(**values)


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture
def fake_handlers() -> dict[str, Handler]:
    """The handlers of this test's :func:`fake_runtime`, by handler string; fill it freely."""
    return {}


@pytest.fixture
def fake_config(tmp_path: Path, fake_handlers: dict[str, Handler]) -> Config:
    """The configuration of :func:`fake_runtime`: the fake backend, 4 instances at most."""
    return make_fake_config(tmp_path / "anylambda", fake_handlers)


@pytest.fixture
async def fake_runtime(fake_config: Config) -> AsyncIterator[Runtime]:
    """A started :class:`~anylambda.Runtime` on the fake backend (``runtime.backend``)."""
    async with Runtime(fake_config, plugins=[FakeBackendPlugin()]) as runtime:
        yield runtime


def _error_document(error_type: str, message: str, stack: list[str] | None = None) -> bytes:
    return json.dumps(
        {"errorMessage": message, "errorType": error_type, "stackTrace": stack or []}
    ).encode()
