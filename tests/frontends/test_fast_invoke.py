"""The Invoke fast path: which requests it takes, and what it answers without a runtime call."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest

from anylambda.core.models import MAX_SYNC_PAYLOAD
from anylambda.frontends.lambda_api.fast_invoke import FastInvoke, invoked_function


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("POST", "/2015-03-31/functions/echo/invocations", "echo"),
        ("POST", "/2015-03-31/functions/echo:live/invocations", "echo:live"),
        ("GET", "/2015-03-31/functions/echo/invocations", None),
        ("POST", "/2015-03-31/functions/echo/invocations/", None),
        ("POST", "/2015-03-31/functions/a/b/invocations", None),
        ("POST", "/2014-11-13/functions/echo/invoke-async/", None),
    ],
)
def test_only_invoke_takes_the_fast_path(method: str, path: str, expected: str | None) -> None:
    assert invoked_function(method, path) == expected


def _scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": headers,
        "root_path": "",
    }


def _serve(scope: dict[str, Any], messages: list[dict[str, Any]]) -> tuple[list[Any], list[Any]]:
    sent: list[dict[str, Any]] = []
    passed: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        passed.append(scope)

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    anyio.run(FastInvoke(app, runtime=None), scope, receive, send)  # type: ignore[arg-type]
    return sent, passed


def test_other_requests_go_to_the_app() -> None:
    sent, passed = _serve(_scope("GET", "/2015-03-31/functions/", []), [])
    assert sent == [] and len(passed) == 1


def test_an_oversized_payload_is_refused_before_it_is_read() -> None:
    declared = str(MAX_SYNC_PAYLOAD + 1).encode()
    path = "/2015-03-31/functions/echo/invocations"
    scope = _scope("POST", path, [(b"content-length", declared)])
    sent, passed = _serve(scope, [{"type": "http.request", "body": b"{}", "more_body": True}])
    assert passed == []
    start, body = sent
    headers = dict(start["headers"])
    assert start["status"] == 413
    assert headers[b"x-amzn-errortype"] == b"RequestTooLargeException"
    assert headers[b"content-length"] == b"%d" % len(body["body"])
    assert json.loads(body["body"]) == {
        "Type": "User",
        "message": f"Request must be smaller than {MAX_SYNC_PAYLOAD} bytes "
        "for the InvokeFunction operation",
    }
