"""The Lambda Runtime API (2018-06-01), served for one instance.

Each instance gets its own listener, and a Runtime Interface Client polls it:
``GET /2018-06-01/runtime/invocation/next`` waits for an invocation, and the
runtime reports back with ``POST .../invocation/{id}/response``,
``.../invocation/{id}/error`` or ``.../init/error``. Status codes, headers and
error documents follow AWS's RAPID (as the Runtime Interface Emulator
implements it). The server is a lean HTTP/1.1 loop over
:mod:`~anylambda.core.wire` streams, framed by :mod:`~anylambda.core.http1`:
keep-alive, Content-Length or chunked request bodies, constant replies built
once, no JSON encoding, one task per connection and none per request.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
from collections.abc import Callable
from typing import Protocol

import anyio
import anyio.lowlevel
import attrs

from anylambda.core.http1 import HttpError, RequestHead, RequestReader, response_head
from anylambda.core.models import MAX_RESPONSE_PAYLOAD
from anylambda.core.wire import Stream, accept

_logger = logging.getLogger(__name__)

_NEXT_PATH = b"/2018-06-01/runtime/invocation/next"
_INIT_ERROR_PATH = b"/2018-06-01/runtime/init/error"
_INVOCATION_PREFIX = b"/2018-06-01/runtime/invocation/"
_ERROR_TYPE_HEADER = b"lambda-runtime-function-error-type"
_DEFAULT_ERROR_TYPE = "Unhandled"
_JSON = (b"Content-Type", b"application/json")
#: Go's ``http.DefaultMaxHeaderBytes`` plus its slack: awslambdaric sends X-Ray
#: error causes (stack traces) of up to 1 MiB as a header.
_MAX_HEAD_BYTES = (1 << 20) + 4096

#: A reply's head (status line and headers, no blank line) and body.
_Reply = tuple[bytes, bytes]


@attrs.frozen
class NextEvent:
    """One invocation as /next returns it: body plus precomputed header list."""

    request_id: str
    body: bytes
    headers: list[tuple[bytes, bytes]]


def make_next_event(
    *,
    request_id: str,
    payload: bytes,
    deadline_ms: int,
    function_arn: str,
    trace_id: str | None,
    client_context: str | None,
    cognito_identity: str | None,
) -> NextEvent:
    """Build the /next answer for one invocation; optional headers only when set."""
    headers = [
        (b"Lambda-Runtime-Aws-Request-Id", request_id.encode()),
        (b"Lambda-Runtime-Deadline-Ms", b"%d" % deadline_ms),
        (b"Lambda-Runtime-Invoked-Function-Arn", function_arn.encode()),
    ]
    for name, value in (
        (b"Lambda-Runtime-Trace-Id", trace_id),
        (b"Lambda-Runtime-Client-Context", client_context),
        (b"Lambda-Runtime-Cognito-Identity", cognito_identity),
    ):
        if value:
            headers.append((name, value.encode()))
    headers += [_JSON, (b"Content-Length", b"%d" % len(payload))]
    return NextEvent(request_id=request_id, body=payload, headers=headers)


class RuntimeApiError(Exception):
    """Raised by a channel to answer the runtime with an error status."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


class InstanceChannel(Protocol):
    """What the server needs from the core for one instance."""

    def poll(self, answer: Callable[[NextEvent], None]) -> None:
        """/next: the runtime waits for work; hand its invocation to ``answer``.

        ``answer`` writes the /next response at once, from whichever task
        delivers the invocation (possibly before ``poll`` returns).
        """

    def stop_polling(self) -> None:
        """The runtime hung up while /next waited: do not answer it."""

    def post_response(self, request_id: str, body: bytes) -> None:
        """The handler returned ``body``."""

    def post_error(self, request_id: str, error_type: str, body: bytes) -> None:
        """The handler failed; ``body`` is the runtime's error document."""

    def post_init_error(self, error_type: str, body: bytes) -> None:
        """The runtime failed to initialise."""

    def response_too_large(self, request_id: str, size: int) -> None:
        """The runtime posted a response of ``size`` bytes, over the limit."""


def _reply(status: int, body: bytes, *extra: tuple[bytes, bytes]) -> _Reply:
    """A constant reply: its head (status line and headers, no blank line) and body."""
    headers = [_JSON, (b"Content-Length", b"%d" % len(body)), *extra]
    return response_head(status, headers)[:-2], body


def _error_reply(status: int, error_type: str, message: str, *extra: tuple[bytes, bytes]) -> _Reply:
    body = json.dumps({"errorMessage": message, "errorType": error_type}).encode()
    return _reply(status, body, *extra)


_ACCEPTED = _reply(202, b'{"status":"OK"}')
_NOT_FOUND = _error_reply(404, "NotFound", "Not Found")
_GET_ONLY = _error_reply(405, "MethodNotAllowed", "Method Not Allowed", (b"Allow", b"GET"))
_POST_ONLY = _error_reply(405, "MethodNotAllowed", "Method Not Allowed", (b"Allow", b"POST"))
_INTERNAL_ERROR = _error_reply(500, "InternalServerError", "Internal Server Error")
_CLOSE = b"Connection: close\r\n\r\n"
#: What ``_serve`` returns once the channel wrote the reply itself (/next).
_ANSWERED: _Reply = (b"", b"")
_END_OF_HEAD = b"\r\n"


def _framed(reply: _Reply, *, close: bool, with_body: bool = True) -> bytes:
    """``reply`` as it goes on the wire, ``Connection: close`` added if the connection ends."""
    head, body = reply
    end = _CLOSE if close else _END_OF_HEAD
    return head + end + body if with_body else head + end


def _refusal(exc: RuntimeApiError) -> _Reply:
    return _error_reply(exc.status, exc.error_type, exc.message)


def _error_type(head: RequestHead) -> str:
    value = head.header(_ERROR_TYPE_HEADER)
    return value.decode(errors="replace") if value else _DEFAULT_ERROR_TYPE


class _Connection:
    """One runtime connection: a keep-alive request loop.

    While /next waits, a runtime that hangs up cancels the wait (the stream
    reports it at once); a request it sends meanwhile stays buffered for the
    loop, never lost.
    """

    def __init__(
        self,
        stream: Stream,
        channel: InstanceChannel,
        limit: int,
        too_large: _Reply,
    ) -> None:
        self._stream = stream
        self._channel = channel
        self._limit = limit
        self._too_large = too_large
        self._reader = RequestReader(stream.receive, stream.send, max_head=_MAX_HEAD_BYTES)

    async def run(self) -> None:
        """Serve requests until the runtime hangs up or the exchange breaks."""
        try:
            await self._serve_requests()
        finally:
            self._stream.close()

    async def _serve_requests(self) -> None:
        try:
            while True:
                head = await self._reader.head()
                if head is None:
                    return  # the runtime closed the connection between requests
                reply = await self._serve(head)
                if reply is None:
                    return  # the runtime hung up while /next was waiting
                if reply is not _ANSWERED:
                    await self._send(
                        reply, with_body=head.method != b"HEAD", close=not head.keep_alive
                    )
                if not head.keep_alive:
                    return
                if self._reader.buffered or self._stream.has_data:
                    await anyio.lowlevel.checkpoint()  # a flood of requests: others get a turn
        except HttpError as exc:
            await self._abort(_error_reply(exc.status, "InvalidRequest", exc.message))
        except anyio.BrokenResourceError:
            pass
        except Exception:
            _logger.exception("Runtime API connection failed")
            await self._abort(_INTERNAL_ERROR)

    async def _serve(self, head: RequestHead) -> _Reply | None:
        path = head.target.partition(b"?")[0]
        method = head.method
        try:
            if path == _NEXT_PATH:
                if method != b"GET":
                    return await self._discard(head, _GET_ONLY)
                return await self._next(head)
            if path == _INIT_ERROR_PATH:
                if method != b"POST":
                    return await self._discard(head, _POST_ONLY)
                body, _ = await self._reader.body(head)
                self._channel.post_init_error(_error_type(head), body)
                return _ACCEPTED
            if path.startswith(_INVOCATION_PREFIX):
                raw_id, _, action = path[len(_INVOCATION_PREFIX) :].partition(b"/")
                if action in (b"response", b"error"):
                    if method != b"POST":
                        return await self._discard(head, _POST_ONLY)
                    request_id = raw_id.decode(errors="replace")
                    if action == b"response":
                        return await self._response(head, request_id)
                    body, _ = await self._reader.body(head)
                    self._channel.post_error(request_id, _error_type(head), body)
                    return _ACCEPTED
            return await self._discard(head, _NOT_FOUND)
        except RuntimeApiError as exc:
            return _refusal(exc)

    async def _next(self, head: RequestHead) -> _Reply | None:
        """Wait until the channel answers /next (``_ANSWERED``); ``None`` if the runtime hung
        up meanwhile."""
        if head.has_body:
            await self._reader.skip(head)
        answered = anyio.Event()

        def answer(event: NextEvent) -> None:
            self._stream.on_hang_up(None)
            reply = response_head(200, event.headers)[:-2], event.body
            with contextlib.suppress(anyio.BrokenResourceError):  # it hung up: it exits
                self._stream.write(_framed(reply, close=not head.keep_alive))
            answered.set()

        with anyio.CancelScope() as waiting:
            self._stream.on_hang_up(waiting.cancel)
            self._channel.poll(answer)
            await answered.wait()
            return _ANSWERED
        self._stream.on_hang_up(None)
        self._channel.stop_polling()
        return None

    async def _response(self, head: RequestHead, request_id: str) -> _Reply:
        body, size = await self._reader.body(head, self._limit)
        if size > self._limit:
            self._channel.response_too_large(request_id, size)
            return self._too_large
        self._channel.post_response(request_id, body)
        return _ACCEPTED

    async def _discard(self, head: RequestHead, reply: _Reply) -> _Reply:
        if head.has_body:
            await self._reader.skip(head)
        return reply

    async def _send(self, reply: _Reply, *, with_body: bool = True, close: bool = False) -> None:
        await self._stream.send(_framed(reply, close=close, with_body=with_body))

    async def _abort(self, reply: _Reply) -> None:
        """Answer with ``reply``, then give up the connection."""
        with contextlib.suppress(anyio.BrokenResourceError):
            await self._send(reply, close=True)


async def serve_runtime_api(
    sock: socket.socket,
    channel: InstanceChannel,
    *,
    max_response_bytes: int = MAX_RESPONSE_PAYLOAD,
) -> None:
    """Serve on the listening ``sock`` until cancelled, each connection in a task of its own."""
    too_large = _error_reply(
        413,
        "RequestEntityTooLarge",
        f"Exceeded maximum allowed payload size ({max_response_bytes} bytes).",
    )
    async with anyio.create_task_group() as tg:

        def connected(stream: Stream) -> None:
            tg.start_soon(_Connection(stream, channel, max_response_bytes, too_large).run)

        await accept(sock, connected)
