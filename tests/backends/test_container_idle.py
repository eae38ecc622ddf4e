"""Soft idle on containers: an idle instance is paused, resumed for work, removed when stopped."""

from __future__ import annotations

import json

import pytest

from tests.backends.container_support import create_python, invoke

pytestmark = pytest.mark.acceptance


def test_idle_container_is_paused_and_resumed(engine, own_server):
    with own_server("soft_idle_timeout = 0.5\n") as server:
        client = server.client()
        create_python(client, "idler", "whoami")
        host = json.loads(invoke(client, "idler")["Body"])["host"]
        assert engine.reaches(host, "paused")
        assert json.loads(invoke(client, "idler")["Body"])["host"] == host, "resumed, not replaced"
        assert engine.reaches(host, "paused")
    assert engine.gone(host), "a paused container is removed at shutdown"
