"""Invoke straight on ASGI: the one hot operation, served without Quart's request machinery.

Profiles of warm invokes showed Quart's per-request work (request context,
URL routing, request and response objects, hooks) as a third of the server's
CPU per invocation. :class:`FastInvoke` wraps the app's ASGI callable and
answers ``POST /2015-03-31/functions/{name}/invocations`` itself: it reads the
body within the same limits as :func:`~.bodies.read_capped`, builds the
request with :func:`~.invoke.invoke_request`, and writes the response the
Quart view wrote, byte for byte (same status, headers, error shapes and
request ids). Every other request goes to Quart unchanged. When the server
says the whole body is already there (the ``anylambda.buffered_body`` scope
extension), it is read with no timeout scope: nothing can wait.

An invocation whose caller hangs up runs to its end, as on AWS (Quart would
cancel the view; watching for the hang-up cost a task and a cancel scope per
invocation); the server drops the response.
"""

from __future__ import annotations

import logging
import re
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import anyio
from werkzeug.exceptions import RequestTimeout

from anylambda.core.errors import LambdaError, RequestTooLargeError
from anylambda.core.http1 import BUFFERED_BODY
from anylambda.core.models import MAX_SYNC_PAYLOAD
from anylambda.frontends.lambda_api.bodies import DRAIN_BYTES, DRAIN_SECONDS, too_large_message
from anylambda.frontends.lambda_api.errors import error_parts
from anylambda.frontends.lambda_api.invoke import invoke_headers, invoke_request

if TYPE_CHECKING:
    from anylambda.core.runtime import Runtime

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The Invoke path; a function name (or ARN, or partial ARN) holds no slash.
_INVOKE_PATH = re.compile(r"/2015-03-31/functions/([^/]+)/invocations")
#: Seconds to wait for the request body (Quart's default ``BODY_TIMEOUT``).
BODY_TIMEOUT = 60


def invoked_function(method: str, path: str) -> str | None:
    """The function an Invoke request names, or ``None`` if the request is not an Invoke."""
    match = _INVOKE_PATH.fullmatch(path) if method == "POST" else None
    return None if match is None else match.group(1)


class _Disconnected(Exception):
    """The client hung up before its request was read."""


class _BodyTimedOut(Exception):
    """The client did not send its whole body within ``BODY_TIMEOUT``."""


class FastInvoke:
    """ASGI middleware: Invoke served directly, everything else by ``app``."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self._app = app
        self._runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope."""
        if scope["type"] == "http" and not scope.get("root_path"):
            function_name = invoked_function(scope["method"], scope["path"])
            if function_name is not None:
                await self._invoke(function_name, scope, receive, send)
                return
        await self._app(scope, receive, send)

    async def _invoke(self, function_name: str, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = str(uuid.uuid4())
        try:
            headers = {
                name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]
            }
            if BUFFERED_BODY in scope.get("extensions", ()):
                payload = await _read_up_to_limit(receive)  # all there: nothing to time out
            else:
                payload = await _read_body(receive, headers.get("content-length"))
            query = urllib.parse.parse_qs(
                scope["query_string"].decode("latin-1"), keep_blank_values=True
            )
            qualifier = query["Qualifier"][0] if "Qualifier" in query else None
            request = invoke_request(function_name, qualifier, headers, payload, request_id)
            result = await self._runtime.invoke(request)
            status, response_headers, body = (
                result.status_code,
                invoke_headers(request, result),
                result.payload,
            )
        except _Disconnected:
            return
        except LambdaError as error:
            status, response_headers, body = error_parts(
                error.aws_type, error.status, error.message, request_id, error.extra
            )
        except _BodyTimedOut:
            status, response_headers, body = error_parts(
                "InvalidRequestContentException", 408, RequestTimeout.description, request_id
            )
        except Exception as error:
            logger.error("Unexpected error serving POST %s", scope["path"], exc_info=error)
            status, response_headers, body = error_parts(
                "ServiceException", 500, "An internal error occurred.", request_id
            )
        response_headers.append((b"content-length", b"%d" % len(body)))
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive, content_length: str | None) -> bytes:
    """The request body; ``RequestTooLargeException`` past Invoke's limit, once the rest is
    drained (within a bound) so that the client, still sending, reads the answer."""
    declared = int(content_length) if content_length and content_length.isdigit() else 0
    try:
        with anyio.fail_after(BODY_TIMEOUT):
            if declared > MAX_SYNC_PAYLOAD:
                await _drain(receive)
                raise _too_large()
            return await _read_up_to_limit(receive)
    except TimeoutError as exc:
        raise _BodyTimedOut from exc


async def _read_up_to_limit(receive: Receive) -> bytes:
    """The body, message by message; ``RequestTooLargeException`` once past Invoke's limit."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_SYNC_PAYLOAD:
            await _drain(receive)
            raise _too_large()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large() -> RequestTooLargeError:
    return RequestTooLargeError(too_large_message(MAX_SYNC_PAYLOAD, "InvokeFunction"))


async def _drain(receive: Receive) -> None:
    """Read and drop the rest of the body, up to ``DRAIN_BYTES`` or ``DRAIN_SECONDS``."""
    drained = 0
    with anyio.move_on_after(DRAIN_SECONDS):
        while drained <= DRAIN_BYTES:
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                return
            drained += len(message.get("body", b""))
