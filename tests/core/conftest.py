"""Fixtures of the core tests: a registry, and a catalog holding one function."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from anylambda.core.catalog import Catalog
from anylambda.core.models import CodeRef, FunctionConfig, FunctionSettings
from anylambda.core.store.registry import Registry

REGION = "us-east-1"
ACCOUNT = "000000000000"


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    """A registry in a fresh data directory."""
    registry = Registry(tmp_path / "registry.sqlite3")
    yield registry
    registry.close()


@pytest.fixture
async def catalog(registry: Registry) -> Catalog:
    """A catalog over ``registry`` with the function ``fn``: ``$LATEST`` and version 1."""
    catalog = Catalog(registry, REGION, ACCOUNT)
    latest = FunctionConfig(
        "fn", FunctionSettings(runtime="python3.12", handler="app.handler"), CodeRef("0" * 64, 1)
    )
    await catalog.put(latest)
    await catalog.put(attrs.evolve(latest, version="1"))
    return catalog
