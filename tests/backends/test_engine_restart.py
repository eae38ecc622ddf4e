"""The container engine restarts while an invocation runs: a clean error, then a fresh container.

Each test restarts an engine of its own (:mod:`tests.backends.private_engine`), not the
machine's, so it disturbs no other test and runs in the parallel suite like any other.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.backends.container_support import CODE, PYTHON_IMAGE, RUNTIME, engine_missing, invoke
from tests.backends.private_engine import PrivateEngine, private_engine
from tests.support import ROLE, running_server, unavailable

pytestmark = pytest.mark.acceptance

#: Seconds the caller of the interrupted invocation may wait for its answer: the engine's
#: stop (it gives the container 10 s to end) and start, plus the backend's cleanup (15 s).
CALLER_BOUND = 90.0


@pytest.fixture(params=["docker", "podman"])
def own_engine(request: pytest.FixtureRequest) -> Iterator[PrivateEngine]:
    """An engine of this test's own, holding the Python image."""
    backend: str = request.param
    reason = engine_missing(backend)
    if reason is None and shutil.which("dockerd" if backend == "docker" else "podman") is None:
        reason = f"{backend}'s engine is not installed"
    if reason is not None:
        unavailable(f"{backend}: {reason}")
    with private_engine(backend) as engine:
        engine.load(PYTHON_IMAGE)
        yield engine


def instance_of(response: dict[str, Any]) -> str:
    """The instance that served an ``environment`` invocation (its log stream names it)."""
    return json.loads(response["Body"])["AWS_LAMBDA_LOG_STREAM_NAME"]


def test_engine_restart_mid_invocation(own_engine: PrivateEngine, tmp_path: Path) -> None:
    config = tmp_path / "anylambda.toml"
    config.write_text(
        'container_network = "host"\n'
        f'[plugins.{own_engine.backend}]\nbase_url = "{own_engine.url}"\n'
    )
    data_dir = tmp_path / "data"
    with running_server(data_dir, "--backend", own_engine.backend, "--config", str(config)) as srv:
        client: Any = srv.client(read_timeout=CALLER_BOUND)
        for handler in ("sleep", "environment"):
            client.create_function(
                FunctionName=handler,
                Runtime=RUNTIME,
                Handler=f"handlers.{handler}",
                Role=ROLE,
                Code={"ZipFile": CODE},
                Timeout=300,
            )
        before = instance_of(invoke(client, "environment"))
        invoke(client, "sleep", {"seconds": 0})  # warm: the next one starts at once
        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(invoke, client, "sleep", {"seconds": 200})
            time.sleep(1.0)  # the warm container has the invocation by then
            own_engine.restart()
            interrupted = running.result(timeout=CALLER_BOUND)

        assert interrupted["FunctionError"] == "Unhandled"
        error = json.loads(interrupted["Body"])
        assert error["errorType"] == "Runtime.ExitError", error
        assert "Runtime exited with error: container lost" in error["errorMessage"]

        assert [f["FunctionName"] for f in client.list_functions()["Functions"]] == [
            "environment",
            "sleep",
        ]
        after = invoke(client, "environment")
        assert "FunctionError" not in after, after["Body"]
        assert instance_of(after) != before, "a fresh container, not one the engine lost"
        assert "FunctionError" not in invoke(client, "sleep", {"seconds": 0})
        # The lost containers were removed once the engine answered: one warm container each.
        assert len(own_engine.containers()) == 2
