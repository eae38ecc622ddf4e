"""Fixtures for the container backends: each engine, its images, servers that use them.

Tests that take ``container_backend`` run once per engine (``docker``,
``podman``). Locally, an engine's tests skip (saying why) when the engine, its
SDK or the runtime image is missing. In CI (``CI=true``) they fail instead:
there a missing engine is a broken machine, not a reason to pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from tests.backends.container_support import CODE, ENGINES, RUNTIME, EngineClient, engine_missing
from tests.support import ROLE, Server, running_server, unavailable


@pytest.fixture(scope="session", params=ENGINES)
def container_backend(request: pytest.FixtureRequest) -> str:
    """The container backend under test; skips (locally) or fails (CI) if its engine is absent."""
    backend: str = request.param
    reason = engine_missing(backend)
    if reason is not None:
        unavailable(f"{backend}: {reason}")
    return backend


@pytest.fixture(scope="session")
def engine(container_backend: str) -> Iterator[EngineClient]:
    """The engine's SDK, to look at what the backend created."""
    client = EngineClient(container_backend)
    yield client
    client.close()


@pytest.fixture(scope="session")
def container_server(
    container_backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One real server per container backend and test worker, shared by tests with unique names."""
    data_dir = tmp_path_factory.mktemp(f"{container_backend}-data")
    with running_server(data_dir, "--backend", container_backend) as srv:
        yield srv


@pytest.fixture
def own_server(
    container_backend: str, data_dir: Path, tmp_path: Path
) -> Callable[[str], AbstractContextManager[Server]]:
    """Start a server of this test's own on the backend under test, with this config file."""

    def start(config_text: str = "") -> AbstractContextManager[Server]:
        config = tmp_path / "anylambda.toml"
        config.write_text(config_text)
        return running_server(data_dir, "--backend", container_backend, "--config", str(config))

    return start


@pytest.fixture
def container_lambda(container_server: Server) -> Any:
    """A boto3 Lambda client for the shared server of the backend under test."""
    return container_server.client()


@pytest.fixture
def make_function(container_lambda: Any, function_name: str) -> Callable[..., str]:
    """Create a Python function on the shared server running one of ``HANDLERS``."""

    def make(handler: str, **extra: Any) -> str:
        name = f"{function_name}-{handler}"[:64]
        container_lambda.create_function(
            FunctionName=name,
            Runtime=RUNTIME,
            Handler=f"handlers.{handler}",
            Role=ROLE,
            Code={"ZipFile": extra.pop("code", CODE)},
            **extra,
        )
        return name

    return make
