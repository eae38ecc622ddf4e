"""Fixtures for the runtimes: launch specs, a stub Runtime API, and instances run against it."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from anylambda.core.models import CodeRef, FunctionConfig, FunctionSettings, LaunchSpec
from anylambda.runtimes import recipes
from anylambda.runtimes.launchers import Interpreters

#: Seconds any wait on an instance may take.
TIMEOUT = 15.0
NEXT = "/2018-06-01/runtime/invocation/next"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"


def make_spec(
    code_dir: Path,
    *,
    runtime: str,
    handler: str | None = None,
    layer_dirs: tuple[Path, ...] = (),
    runtime_api: str = "127.0.0.1:9001",
) -> LaunchSpec:
    """A launch spec with the Lambda variables an instance needs."""
    function = FunctionConfig(
        name="fn",
        settings=FunctionSettings(runtime=runtime, handler=handler, memory_size=256),
        code=CodeRef(sha256="0" * 64, size=0),
    )
    environment = {
        "AWS_LAMBDA_RUNTIME_API": runtime_api,
        "LAMBDA_TASK_ROOT": str(code_dir),
        "AWS_LAMBDA_FUNCTION_NAME": "fn",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/fn",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]abc",
    }
    if handler is not None:
        environment["_HANDLER"] = handler
    return LaunchSpec(
        instance_id="i-1",
        function=function,
        fingerprint="f" * 64,
        recipe=None,
        runtime_api=runtime_api,
        code_dir=code_dir,
        layer_dirs=layer_dirs,
        environment=environment,
    )


class Post(NamedTuple):
    """One POST a runtime client sent."""

    path: str
    headers: Mapping[str, str]
    """Lower-cased names."""
    body: bytes

    def json(self) -> Any:
        """The body, parsed."""
        return json.loads(self.body)


class RuntimeApiStub:
    """A Runtime API for runtime clients under test: serves queued events, records posts."""

    def __init__(self) -> None:
        self.events: queue.Queue[tuple[bytes, dict[str, str]]] = queue.Queue()
        self.posts: queue.Queue[Post] = queue.Queue()
        self.closed = threading.Event()
        self._server = _QuietServer(("127.0.0.1", 0), _StubHandler)
        self._server.stub = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def address(self) -> str:
        """``host:port``, as ``AWS_LAMBDA_RUNTIME_API``."""
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def invoke(self, payload: Any, headers: Mapping[str, str] | None = None) -> str:
        """Queue one event; return its request id."""
        request_id = str(uuid.uuid4())
        sent = {
            "Lambda-Runtime-Aws-Request-Id": request_id,
            "Lambda-Runtime-Deadline-Ms": "9999999999999",
            "Lambda-Runtime-Invoked-Function-Arn": FUNCTION_ARN,
            **(headers or {}),
        }
        self.events.put((json.dumps(payload).encode(), sent))
        return request_id

    def next_post(self) -> Post:
        """The next POST received, waiting at most :data:`TIMEOUT`."""
        return self.posts.get(timeout=TIMEOUT)

    def close(self) -> None:
        """Stop serving; pending ``/next`` calls end without an answer."""
        self.closed.set()
        self._server.shutdown()
        self._server.server_close()


class _QuietServer(ThreadingHTTPServer):
    """Keeps quiet when a killed runtime resets its connection (tests kill runtimes)."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _StubHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes
    server: Any

    def do_GET(self) -> None:
        stub: RuntimeApiStub = self.server.stub
        if self.path != NEXT:
            self._reply(404, b"{}")
            return
        while not stub.closed.is_set():
            try:
                body, headers = stub.events.get(timeout=0.05)
            except queue.Empty:
                continue
            self._reply(200, body, headers)
            return
        self.close_connection = True

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.server.stub.posts.put(Post(self.path, headers, body))
        self._reply(202, b'{"status":"OK"}')

    def _reply(self, status: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def runtime_api() -> Iterator[RuntimeApiStub]:
    """A fresh stub Runtime API."""
    stub = RuntimeApiStub()
    yield stub
    stub.close()


@pytest.fixture
def interpreters() -> Interpreters:
    """Interpreter overrides and probes of one test."""
    return Interpreters()


@pytest.fixture
def host_recipes(interpreters: Interpreters) -> dict[str, Any]:
    """The built-in recipes by name, consulting this test's interpreters."""
    return {recipe.name: recipe for recipe in recipes(interpreters)}


class Instance:
    """One runtime process started by :func:`start_instance`."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = process
        self._output: str | None = None

    def wait(self) -> int:
        """Wait for the process to exit on its own; return its exit code."""
        return self.process.wait(timeout=TIMEOUT)

    def stop(self) -> str:
        """Kill the process group (idempotent); return everything it wrote."""
        if self._output is None:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)
            output, _ = self.process.communicate(timeout=TIMEOUT)
            self._output = output.decode()
        return self._output


#: Starts an instance: (runtime name, code dir, handler, layer dirs) -> Instance.
StartInstance = Callable[..., Instance]


@pytest.fixture
def spec_for() -> Callable[..., LaunchSpec]:
    """Build launch specs (see :func:`make_spec`)."""
    return make_spec


@pytest.fixture
def start_instance(
    runtime_api: RuntimeApiStub, host_recipes: dict[str, Any]
) -> Iterator[StartInstance]:
    """Start instances with their recipes' host launchers; kill them at the end."""
    started: list[Instance] = []

    def start(
        runtime: str, code_dir: Path, handler: str | None, layer_dirs: tuple[Path, ...] = ()
    ) -> Instance:
        host = host_recipes[runtime].host
        spec = make_spec(
            code_dir,
            runtime=runtime,
            handler=handler,
            layer_dirs=layer_dirs,
            runtime_api=runtime_api.address,
        )
        process = subprocess.Popen(
            host.command(spec),
            cwd=code_dir,
            env={**host.environment(spec), **spec.environment},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append(Instance(process))
        return started[-1]

    yield start
    for instance in started:
        instance.stop()
