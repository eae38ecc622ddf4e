"""Invoke on the wire: ``X-Amz-*`` request headers to an InvokeRequest, InvokeResult to headers.

Invoke itself is served by :mod:`.fast_invoke`, outside Quart. The payload
travels as raw bytes both ways; its limits and its JSON validity are the
runtime's to check, except for the transport cap applied while reading it.
The deprecated InvokeAsync (API version 2014-11-13) queues an event like
``Invoke`` with ``X-Amz-Invocation-Type: Event``, with its own smaller limit.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import TYPE_CHECKING

from quart import Blueprint, Response

from anylambda.core.models import InvocationType, InvokeRequest, InvokeResult, constraint_error
from anylambda.frontends.lambda_api.bodies import read_capped
from anylambda.frontends.lambda_api.responses import json_response, request_id

if TYPE_CHECKING:
    from anylambda.core.runtime import Runtime

#: How much of the invocation's log ``LogType=Tail`` returns (AWS: the last 4 KB).
LOG_TAIL_BYTES = 4096
_LOG_TYPES = ("None", "Tail")
#: InvokeAsync's payload limit (256 KB; Invoke takes events of up to 1 MB).
MAX_INVOKE_ASYNC_PAYLOAD = 256 * 1024


def invoke_request(
    function_name: str,
    qualifier: str | None,
    headers: Mapping[str, str],
    payload: bytes,
    request_id: str,
) -> InvokeRequest:
    """Build the InvokeRequest an Invoke call stands for (``headers`` by lowercase name)."""
    kind = headers.get("x-amz-invocation-type") or InvocationType.REQUEST_RESPONSE.value
    try:
        invocation_type = InvocationType(kind)
    except ValueError:
        raise constraint_error(
            "invocationType", kind, "satisfy enum value set: [Event, RequestResponse, DryRun]"
        ) from None
    log_type = headers.get("x-amz-log-type") or "None"
    if log_type not in _LOG_TYPES:
        raise constraint_error("logType", log_type, "satisfy enum value set: [None, Tail]")
    return InvokeRequest(
        function_name=function_name,
        payload=payload,
        qualifier=qualifier,
        invocation_type=invocation_type,
        log_tail=log_type == "Tail",
        client_context=headers.get("x-amz-client-context"),
        request_id=request_id,
    )


def invoke_headers(invocation: InvokeRequest, result: InvokeResult) -> list[tuple[bytes, bytes]]:
    """The headers (bar ``Content-Length``) of AWS's response for ``result``.

    ``X-Amz-Executed-Version`` and ``X-Amz-Log-Result`` belong to an invocation
    that ran while the caller waited (status 200); ``Event`` (202) and
    ``DryRun`` (204) answers carry neither.
    """
    headers = [(b"x-amzn-requestid", result.request_id.encode())]
    if result.status_code == 200:
        headers.append((b"x-amz-executed-version", result.executed_version.encode()))
        if invocation.log_tail:
            tail = result.log[-LOG_TAIL_BYTES:]
            headers.append((b"x-amz-log-result", base64.b64encode(tail)))
    if result.function_error:
        headers.append((b"x-amz-function-error", result.function_error.encode()))
    headers.append((b"content-type", b"application/json"))
    return headers


def add_invoke_async_route(bp: Blueprint, runtime: Runtime) -> None:
    """Serve InvokeAsync: queue the body as an event, answer ``202 {"Status": 202}``."""

    @bp.post("/2014-11-13/functions/<function_name>/invoke-async/", strict_slashes=False)
    async def invoke_async(function_name: str) -> Response:
        payload = await read_capped(MAX_INVOKE_ASYNC_PAYLOAD, "InvokeAsync")
        event = InvokeRequest(
            function_name, payload, invocation_type=InvocationType.EVENT, request_id=request_id()
        )
        await runtime.invoke(event)
        return json_response({"Status": 202}, status=202)
