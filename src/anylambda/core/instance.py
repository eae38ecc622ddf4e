"""One live instance as the runtime tracks it: the Runtime API's view of the core.

An :class:`InstanceRecord` is the :class:`~anylambda.core.runtime_api.InstanceChannel`
of its instance. ``/next`` tells the pool the instance wants work; the
invocation the pool delivers is written to the runtime at once, by the task
that delivers it. Results go back to the waiting invocation.
Decisions stay in the pool; this module only carries them out for one instance.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import anyio

from anylambda.core.invocation import FunctionFailure, Invocation
from anylambda.core.models import MAX_RESPONSE_PAYLOAD, LaunchSpec
from anylambda.core.runtime_api import NextEvent, RuntimeApiError, make_next_event

if TYPE_CHECKING:
    from anylambda.core.interfaces import InstanceHandle
    from anylambda.core.pool import Action, Pool

_RESPONSE_TOO_LARGE = json.dumps(
    {
        "errorMessage": "Response payload size exceeded maximum allowed payload size "
        f"({MAX_RESPONSE_PAYLOAD} bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }
).encode()

#: Applies pool actions; provided by the runtime.
Apply = Callable[[list["Action"]], None]


class InstanceRecord:
    """Mailbox, current invocation and output routing of one instance."""

    def __init__(self, instance_id: str, pool: Pool, apply: Apply) -> None:
        self.id = instance_id
        self.spec: LaunchSpec | None = None
        self.handle: InstanceHandle | None = None
        self.stop_reason: str | None = None
        """Set once the pool decided to stop this instance."""
        self.want_paused = False
        """Whether the pool wants the instance paused (soft idle)."""
        self.paused = False
        """Whether the backend has paused it."""
        self.pause_lock = anyio.Lock()
        self.launching = anyio.CancelScope()
        """Cancelled when the pool gives up on the instance before its launch returned."""
        self.current: Invocation | None = None
        self.launched_at = time.monotonic()
        self.initialised = False
        self._pool = pool
        self._apply = apply
        self._pending: NextEvent | None = None
        self._answer: Callable[[NextEvent], None] | None = None
        """How to answer the runtime's pending /next."""
        self._logger = logging.getLogger("anylambda.function")

    # --- driven by the runtime ----------------------------------------------------------

    def deliver(self, invocation: Invocation) -> None:
        """Hand ``invocation`` to this instance's pending ``/next``."""
        now = time.monotonic()
        if not self.initialised:
            self.initialised = True
            invocation.init_duration_ms = (now - self.launched_at) * 1000
        invocation.mark_delivered(now)
        request = invocation.request
        timeout = invocation.function.settings.timeout
        self.current = invocation
        event = make_next_event(
            request_id=invocation.id,
            payload=request.payload,
            deadline_ms=int((time.time() + timeout) * 1000),
            function_arn=invocation.function_arn,
            trace_id=request.trace_id,
            client_context=invocation.client_context,
            cognito_identity=request.cognito_identity,
        )
        answer, self._answer = self._answer, None
        if answer is None:
            self._pending = event  # its runtime hung up; a new /next takes it
        else:
            answer(event)

    def on_output(self, chunk: bytes) -> None:
        """Route instance output to the running invocation's log (and the server log)."""
        if self.current is not None:
            self.current.add_output(chunk)
        if self._logger.isEnabledFor(logging.INFO) and self.spec is not None:
            name = self.spec.function.name
            for line in chunk.decode(errors="replace").splitlines():
                self._logger.info("[%s] %s", name, line)

    def flush_output(self) -> None:
        """Collect output the instance wrote before it reported a result."""
        if self.handle is not None:
            self.handle.flush_output()

    # --- the Runtime API (InstanceChannel) --------------------------------------------------

    def poll(self, answer: Callable[[NextEvent], None]) -> None:
        """/next: tell the pool the instance wants work; ``answer`` gets it when delivered."""
        if self.current is not None and self.current.finished:
            self.current = None
        if self._pending is not None:  # delivered while nobody polled
            event, self._pending = self._pending, None
            answer(event)
            return
        self._answer = answer
        self._apply(self._pool.on_next_polled(self.id, time.monotonic()))

    def stop_polling(self) -> None:
        """The runtime hung up its /next."""
        self._answer = None

    def post_response(self, request_id: str, body: bytes) -> None:
        """The handler returned ``body``."""
        self._finish(request_id).succeed(body)

    def post_error(self, request_id: str, error_type: str, body: bytes) -> None:
        """The handler failed; ``body`` is the runtime's error document."""
        invocation = self._finish(request_id)
        if body:
            invocation.fail(body)
        else:
            invocation.fail_with(FunctionFailure(error_type, "The runtime reported an error"))

    def post_init_error(self, error_type: str, body: bytes) -> None:
        """The runtime could not initialise: fail the invocation waiting for it, stop it."""
        self.flush_output()
        failure = FunctionFailure(error_type, "Runtime initialisation failed", body or None)
        self._apply(self._pool.on_instance_failed(self.id, failure, time.monotonic()))

    def response_too_large(self, request_id: str, size: int) -> None:
        """The handler's response is over the limit: the caller gets AWS's error instead."""
        self._finish(request_id).fail(_RESPONSE_TOO_LARGE)

    def _finish(self, request_id: str) -> Invocation:
        invocation = self.current
        if invocation is None or invocation.id != request_id:
            raise RuntimeApiError(400, "InvalidRequestID", "Invalid request ID")
        if invocation.finished:
            raise RuntimeApiError(
                403,
                "InvalidStateTransition",
                "State transition from Ready to InvocationResponse failed",
            )
        self.flush_output()
        self._apply(self._pool.on_result(self.id, time.monotonic()))
        return invocation
