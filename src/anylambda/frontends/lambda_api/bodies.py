"""Reading request bodies within AWS's size limits.

Quart buffers a body up to the app's ``MAX_CONTENT_LENGTH``, which this
frontend raises to the CreateFunction limit. Invoke payloads have a far smaller
limit, so they are read chunk by chunk and kept only up to it; past it (or at
once when ``Content-Length`` already says so) the rest is drained, within a
bound, and the request refused with 413.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
from quart import request
from werkzeug.exceptions import RequestEntityTooLarge, RequestTimeout

from anylambda.core.errors import RequestEntityTooLargeError, RequestTooLargeError
from anylambda.frontends.lambda_api.shapes import unparsable

#: AWS's limit on a CreateFunction or UpdateFunctionCode request (a base64 zip of 50 MB).
MAX_REQUEST_BYTES = 70167211

#: How much of an oversized body is read and dropped before answering 413, and for how long.
DRAIN_BYTES = 16 * 1024 * 1024
DRAIN_SECONDS = 1.0


async def read_json(operation: str) -> dict[str, Any]:
    """The request's JSON object; an empty body reads as ``{}``."""
    too_large = too_large_message(MAX_REQUEST_BYTES, operation)
    if (request.content_length or 0) > MAX_REQUEST_BYTES:
        raise RequestEntityTooLargeError(too_large)
    try:
        raw = await request.get_data()
    except RequestEntityTooLarge as exc:
        raise RequestEntityTooLargeError(too_large) from exc
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # ValueError covers decode errors and huge ints
        raise unparsable(str(exc)) from exc
    if not isinstance(body, dict):
        raise unparsable(f"expected a JSON object, got {type(body).__name__}")
    return body


async def read_capped(limit: int, operation: str) -> bytes:
    """The raw body, refused with ``RequestTooLargeException`` once it exceeds ``limit`` bytes."""
    too_large = too_large_message(limit, operation)
    data = bytearray()
    try:
        with anyio.fail_after(request.body_timeout):
            if (request.content_length or 0) > limit:
                await _discard_body()
                raise RequestTooLargeError(too_large)
            async for chunk in request.body:
                data += chunk
                if len(data) > limit:
                    await _discard_body()
                    raise RequestTooLargeError(too_large)
    except RequestEntityTooLarge as exc:
        raise RequestTooLargeError(too_large) from exc
    except TimeoutError as exc:
        raise RequestTimeout() from exc
    return bytes(data)


async def _discard_body() -> None:
    """Read the rest of an oversized body without keeping it, so that the client, still
    sending, reads the 413 instead of a connection reset. Bounded in bytes and time:
    past either the connection is simply closed."""
    discarded = 0
    with anyio.move_on_after(DRAIN_SECONDS):
        async for chunk in request.body:
            discarded += len(chunk)
            if discarded > DRAIN_BYTES:
                return


def too_large_message(limit: int, operation: str) -> str:
    """AWS's message for a request over ``operation``'s ``limit``."""
    return f"Request must be smaller than {limit} bytes for the {operation} operation"
