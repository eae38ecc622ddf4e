"""One invocation in flight: its result slot, its log, and AWS's wording for each way it can end."""

from __future__ import annotations

import base64
import json
import math
import time

import anyio
import attrs

from anylambda.core.errors import InvalidRequestContentError
from anylambda.core.models import FunctionConfig, InvokeRequest, InvokeResult

#: How much of an invocation's output is kept (the Lambda API returns the last 4 KB).
MAX_LOG_BYTES = 64 * 1024


@attrs.frozen
class FunctionFailure:
    """A failure the caller sees as an ``Unhandled`` function error."""

    error_type: str
    """e.g. ``Runtime.ExitError``, ``Sandbox.Timedout``."""
    message: str
    """AWS's message, without the ``RequestId: ... Error:`` prefix."""
    body: bytes | None = None
    """The error document the runtime posted itself (init errors), passed through as is."""

    def payload(self, request_id: str) -> bytes:
        """The response body AWS returns for this failure."""
        if self.body:
            return self.body
        return json.dumps(
            {
                "errorType": self.error_type,
                "errorMessage": f"RequestId: {request_id} Error: {self.message}",
            }
        ).encode()


def decode_client_context(encoded: str | None) -> str | None:
    """The JSON text of a base64 ``ClientContext``; raise AWS's error if it is not that."""
    if encoded is None:
        return None
    try:
        text = base64.b64decode(encoded, validate=True).decode()
        if not isinstance(json.loads(text), dict):
            raise ValueError(text)
    except ValueError as exc:
        raise InvalidRequestContentError(
            "Client context must be a valid Base64-encoded JSON object."
        ) from exc
    return text


def timed_out(seconds: float) -> FunctionFailure:
    """AWS's failure for an invocation that ran past its timeout."""
    return FunctionFailure("Sandbox.Timedout", f"Task timed out after {seconds:.2f} seconds")


class Invocation:
    """An accepted invocation until its result is in."""

    __slots__ = (
        "aborted",
        "client_context",
        "delivered_at",
        "dispatched",
        "done",
        "function",
        "function_arn",
        "function_error",
        "id",
        "init_duration_ms",
        "log",
        "log_size",
        "payload",
        "request",
        "started",
        "throttled",
    )

    def __init__(
        self,
        request_id: str,
        request: InvokeRequest,
        function: FunctionConfig,
        function_arn: str,
        client_context: str | None = None,
    ) -> None:
        self.id = request_id
        self.request = request
        self.function = function
        self.function_arn = function_arn
        """The ARN the caller invoked (qualified if they named a version)."""
        self.client_context = client_context
        """The decoded ``ClientContext`` JSON, as the runtime receives it."""
        self.started = time.monotonic()
        self.delivered_at: float | None = None
        self.init_duration_ms: float | None = None
        self.dispatched = anyio.Event()
        """Set once the invocation left the queue: delivered to an instance, or finished."""
        self.done = anyio.Event()
        self.aborted: str | None = None
        """Why the server gave up on it (shutdown, backend failure): a service error."""
        self.payload = b""
        self.function_error: str | None = None
        self.throttled: str | None = None
        self.log: list[bytes] = []
        self.log_size = 0

    @property
    def finished(self) -> bool:
        """Whether the result is in."""
        return self.done.is_set()

    def add_output(self, chunk: bytes) -> None:
        """Append function output to the log, keeping only the most recent part."""
        self.log.append(chunk)
        self.log_size += len(chunk)
        while self.log_size > MAX_LOG_BYTES and len(self.log) > 1:
            self.log_size -= len(self.log.pop(0))

    def mark_delivered(self, now: float) -> None:
        """An instance took the invocation; its timeout starts now."""
        self.delivered_at = now
        self.dispatched.set()

    def succeed(self, payload: bytes) -> None:
        """The function returned ``payload``."""
        if not self.finished:
            self.payload = payload
            self._end()

    def fail(self, payload: bytes, function_error: str = "Unhandled") -> None:
        """The function (or its runtime) failed; ``payload`` is the error document."""
        if not self.finished:
            self.payload, self.function_error = payload, function_error
            self._end()

    def abort(self, reason: str) -> None:
        """The server gave up on the invocation; the caller gets a service error."""
        if not self.finished:
            self.aborted = reason
            self._end()

    def _end(self) -> None:
        self.done.set()
        self.dispatched.set()

    def fail_with(self, failure: FunctionFailure) -> None:
        """Fail with one of the runtime's own failures (exit, timeout, ...)."""
        if not self.finished:
            self.add_output(f"{_log_time()} {self.id} {failure.message}\n".encode())
        self.fail(failure.payload(self.id))

    def result(self, *, with_log: bool) -> InvokeResult:
        """The caller's view, with START / END / REPORT lines around the output if asked."""
        return InvokeResult(
            request_id=self.id,
            payload=self.payload,
            function_error=self.function_error,
            executed_version=self.function.version,
            log=self._framed_log() if with_log else b"",
        )

    def _framed_log(self) -> bytes:
        ended = time.monotonic()
        duration = (ended - (self.delivered_at or self.started)) * 1000
        report = (
            f"REPORT RequestId: {self.id}\tDuration: {duration:.2f} ms\t"
            f"Billed Duration: {math.ceil(duration)} ms\t"
            f"Memory Size: {self.function.settings.memory_size} MB\t"
        )
        if self.init_duration_ms is not None:
            report += f"Init Duration: {self.init_duration_ms:.2f} ms\t"
        head = f"START RequestId: {self.id} Version: {self.function.version}\n".encode()
        tail = f"END RequestId: {self.id}\n{report}\n".encode()
        return b"".join([head, *self.log, tail])


def _log_time() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z"
