"""Missing images pulled when a function needs them.

No registry is reachable here, so the pulls that succeed or take long run against an
engine stand-in (:class:`~tests.backends.stand_in.StandInEngine`, whose pull the test
controls), at the unit level. The real engines' side is in
``test_container_isolation.py``: an image no registry serves is refused at create time.
"""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

from anylambda.backends.container import engine as base
from anylambda.backends.container.backend import ContainerBackend
from anylambda.backends.container.pull import pullable
from anylambda.core.config import Config
from anylambda.core.errors import (
    BackendError,
    InvalidParameterValueError,
    PreparationError,
)
from anylambda.core.models import CodeRef, FunctionConfig, FunctionSettings, RuntimeRecipe
from tests.backends.stand_in import StandInEngine

RECIPE = RuntimeRecipe("python3.12", "python", "public.ecr.aws/lambda/python:3.12")
#: Seconds a test waits for a pull's thread.
SETTLE = 10.0


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("public.ecr.aws/lambda/python:3.12", True),
        ("python:3.12", True),
        ("ubuntu", True),
        ("localhost:5000/team/app:1", True),
        (f"registry.example/app@sha256:{'0' * 64}", True),
        ("localhost/app:1", False),  # Podman's name for an image built here
        (f"sha256:{'a' * 64}", False),
        ("a" * 64, False),
        ("Upper/app", False),
        ("app:", False),
        ("", False),
    ],
)
def test_pullable(image: str, expected: bool) -> None:
    assert pullable(image) is expected


class StandInBackend(ContainerBackend):
    name = "standin"
    engine_type = StandInEngine
    engine: StandInEngine


@pytest.fixture
def backend(tmp_path: Path) -> StandInBackend:
    return StandInBackend(Config(data_dir=tmp_path))


def zip_function(runtime: str = "python3.12") -> FunctionConfig:
    settings = FunctionSettings(runtime=runtime, handler="app.handler")
    return FunctionConfig("fn", settings, CodeRef("0" * 64, 1))


def image_function(image: str) -> FunctionConfig:
    settings = FunctionSettings(package_type="Image", image_uri=image)
    return FunctionConfig("fn", settings, CodeRef("0" * 64, 0))


async def test_an_image_on_the_engine_needs_no_pull(backend: StandInBackend) -> None:
    backend.engine.images.add(RECIPE.image)
    assert await backend.validate(zip_function(), RECIPE) is None


async def test_a_name_no_registry_serves_is_refused_at_once(backend: StandInBackend) -> None:
    with pytest.raises(InvalidParameterValueError, match="no registry could serve that name"):
        await backend.validate(image_function("localhost/app:1"), None)


async def test_a_missing_image_is_pulled_before_the_function_runs(
    backend: StandInBackend,
) -> None:
    preparation = await backend.validate(zip_function(), RECIPE)
    assert preparation is not None
    assert preparation.reason == f"Pulling the image {RECIPE.image}."
    assert preparation.wait > 0
    backend.engine.release.set()
    await preparation.finish()
    assert await backend.validate(zip_function(), RECIPE) is None
    await backend.prepare(zip_function(), RECIPE)


async def test_a_failed_pull_says_why_and_what_to_do(backend: StandInBackend) -> None:
    backend.engine.pull_error = "pull access denied for app"
    preparation = await backend.validate(image_function("registry.example/app:1"), None)
    assert preparation is not None
    backend.engine.release.set()
    with pytest.raises(PreparationError) as failure:
        await preparation.finish()
    assert failure.value.reason_code == "ImageAccessDenied"
    assert "pulling it failed (The stand-in engine could not pull" in failure.value.message
    assert "pull access denied for app" in failure.value.message
    assert "load it there first" in failure.value.message


async def test_a_pull_over_its_time_fails_and_its_thread_stops(
    backend: StandInBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("anylambda.backends.container.backend.PULL_TIMEOUT", 0.2)
    preparation = await backend.validate(zip_function(), RECIPE)
    assert preparation is not None
    # The caller's bound fires first, unless a busy machine lets the pull's own come first.
    with pytest.raises(PreparationError, match=r"the pull took over 0\.2 s|at its deadline"):
        await preparation.finish()
    assert await anyio.to_thread.run_sync(backend.engine.pull_ended.wait, SETTLE)


async def test_a_cancelled_pull_returns_at_once(backend: StandInBackend) -> None:
    with anyio.move_on_after(0.1) as scope:
        await backend.engine.pull("registry.example/app:1")
    assert scope.cancelled_caught
    backend.engine.release.set()
    assert await anyio.to_thread.run_sync(backend.engine.pull_ended.wait, SETTLE)


def test_pull_messages_fail_on_an_error_or_past_the_deadline() -> None:
    later = time.monotonic() + 60
    base.check_pull_message("engine", "app", {"status": "Downloading"}, later)
    with pytest.raises(BackendError, match="The engine could not pull app: denied"):
        base.check_pull_message("engine", "app", {"error": "denied\n"}, later)
    with pytest.raises(BackendError, match="still pulling app at its deadline"):
        base.check_pull_message("engine", "app", {}, time.monotonic() - 1)
