"""Fixtures shared by every test directory."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import Server, running_server


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One real server per test worker (process backend), shared by tests using unique names."""
    with running_server(tmp_path_factory.mktemp("server-data")) as srv:
        yield srv


@pytest.fixture
def lambda_client(server: Server) -> object:
    """A boto3 Lambda client for the shared server."""
    return server.client()


@pytest.fixture
def function_name(request: pytest.FixtureRequest) -> str:
    """A function name unique to this test."""
    return f"{re.sub(r'[^a-zA-Z0-9_-]', '-', request.node.name)[:40]}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A fresh data directory for a server of this test's own."""
    return tmp_path / "data"
