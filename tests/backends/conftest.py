"""Fixtures for the container backends: a reachable engine, its images, servers that use them.

Locally, tests that need Docker skip (saying why) when the engine or the runtime
image is missing. In CI (``CI=true``) they fail instead: there a missing
engine is a broken machine, not a reason to pass.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.backends.docker_support import CODE, RUNTIME, docker_missing
from tests.support import ROLE, Server, running_server


@pytest.fixture(scope="session")
def docker_available() -> None:
    """Skip (locally) or fail (``CI=true``) unless a Docker engine and the Python image are here."""
    reason = docker_missing()
    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"Docker tests cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_client(docker_available: None) -> Iterator[Any]:
    """The docker SDK's high-level client, to look at what the backend created."""
    import docker

    client = docker.from_env(timeout=60)
    yield client
    client.close()


@pytest.fixture(scope="session")
def docker_server(
    docker_available: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """One real server on the docker backend per test worker, shared by tests with unique names."""
    with running_server(tmp_path_factory.mktemp("docker-data"), "--backend", "docker") as srv:
        yield srv


@pytest.fixture
def docker_lambda(docker_server: Server) -> Any:
    """A boto3 Lambda client for the shared docker server."""
    return docker_server.client()


@pytest.fixture
def make_function(docker_lambda: Any, function_name: str) -> Callable[..., str]:
    """Create a Python function on the docker server running one of ``HANDLERS``."""

    def make(handler: str, **extra: Any) -> str:
        name = f"{function_name}-{handler}"[:64]
        docker_lambda.create_function(
            FunctionName=name,
            Runtime=RUNTIME,
            Handler=f"handlers.{handler}",
            Role=ROLE,
            Code={"ZipFile": extra.pop("code", CODE)},
            **extra,
        )
        return name

    return make
