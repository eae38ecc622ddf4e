"""The durable queue of asynchronous invocations, and the worker that delivers them.

An event is accepted once its document is in the registry. The worker, a task of the
runtime's task group, starts due events (a bounded number per function), runs each
attempt through the runtime with ``can_wait`` (it waits for capacity instead of being
throttled, but not past the event's maximum age), retries as :mod:`.retry` decides,
and hands the outcome to the destinations before it forgets the event. An event is
delivered at least once: one in flight when the server stops or dies is tried again
by the next server.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import anyio
import attrs

from anylambda.core.errors import LambdaError, ResourceNotFoundError
from anylambda.core.events.configs import EventInvokeConfig
from anylambda.core.events.destinations import deliver
from anylambda.core.events.records import DEAD_LETTER, dead_letter_message, invocation_record
from anylambda.core.events.retry import (
    EVENT_AGE_EXCEEDED,
    MAX_BACKOFF,
    SUCCESS,
    GiveUp,
    Retry,
    RetryPolicy,
)
from anylambda.core.events.schedule import Schedule
from anylambda.core.events.store import EventStore, Outcome, QueuedEvent, new_event
from anylambda.core.models import LATEST, InvokeRequest, InvokeResult
from anylambda.core.store.documents import Documents

if TYPE_CHECKING:
    from anylambda.core.runtime import Runtime

logger = logging.getLogger("anylambda")

#: Runs one attempt: the invocation, and the ``time.monotonic()`` after which it must not
#: wait for capacity any more. Provided by the runtime.
Attempt = Callable[[InvokeRequest, float], Awaitable[InvokeResult]]


class EventQueue:
    """Accepts asynchronous invocations durably and delivers them (``Runtime.events``)."""

    def __init__(self, runtime: Runtime, documents: Documents, attempt: Attempt) -> None:
        self._runtime = runtime
        self._store = EventStore(documents)
        self._attempt = attempt
        self._policy = RetryPolicy(runtime.config.async_retry_delays)
        self._schedule = Schedule(runtime.config.account_concurrency)
        self._wakeup = anyio.Event()
        self._stopped = False

    async def load(self) -> None:
        """Schedule the events an earlier server accepted and did not finish."""
        for event in await self._store.load():
            self._schedule.add(event)

    async def enqueue(
        self,
        function_name: str,
        qualifier: str | None,
        payload: bytes,
        *,
        request_id: str | None = None,
        client_context: str | None = None,
    ) -> QueuedEvent:
        """Accept an event for ``function_name[:qualifier]``; return once it is stored."""
        event = new_event(
            function_name,
            qualifier,
            payload,
            time.time(),
            request_id=request_id,
            client_context=client_context,
        )
        await self._store.save(event)
        self._schedule.add(event)
        self._wakeup.set()
        return event

    def stop(self) -> None:
        """Start nothing more; attempts cut short by the shutdown stay queued."""
        self._stopped = True
        self._wakeup.set()

    async def run(self) -> None:
        """Start events as they fall due, until :meth:`stop`; then wait for the attempts
        under way to end."""
        async with anyio.create_task_group() as tg:
            while not self._stopped:
                for event in self._schedule.take(time.time()):
                    tg.start_soon(self._process, event)
                due = self._schedule.next_due()
                with anyio.move_on_after(None if due is None else due - time.time()):
                    await self._wakeup.wait()
                self._wakeup = anyio.Event()

    async def _process(self, event: QueuedEvent) -> None:
        try:
            await self._try(event)
        except Exception:
            logger.exception(
                "Event %s of %s failed; trying again later", event.request_id, event.function_name
            )
            self._schedule.add(attrs.evolve(event, due_at=time.time() + MAX_BACKOFF))
        finally:
            self._schedule.done(event)
            self._wakeup.set()

    async def _try(self, event: QueuedEvent) -> None:
        """One attempt of ``event``, then what follows it: a retry or the outcome."""
        config = self._runtime.event_configs.lookup(event.function_name, event.qualifier)
        now = time.time()
        if self._policy.expired(event, config, now):
            await self._finish(event, EVENT_AGE_EXCEEDED, config)
            return
        deadline = time.monotonic() + event.accepted_at + config.event_age - now
        try:
            result = await self._attempt(event.request(), deadline)
        except ResourceNotFoundError:
            logger.warning(
                "Dropped event %s: function %s no longer exists",
                event.request_id,
                event.function_name,
            )
            await self._store.delete(event)
            return
        except Exception as exc:
            if self._stopped:
                return  # the server is stopping: the next one tries it again
            if not isinstance(exc, LambdaError):
                logger.exception("Event %s of %s failed", event.request_id, event.function_name)
            event = event.failed(_failure(exc))
        else:
            event = event.ran(_ran(result))
            if result.function_error is None:
                await self._finish(event, SUCCESS, config)
                return
        match self._policy.after_failure(event, config, time.time()):
            case Retry(due_at):
                event = attrs.evolve(event, due_at=due_at)
                await self._store.save(event)
                self._schedule.add(event)
            case GiveUp(condition):
                await self._finish(event, condition, config)

    async def _finish(self, event: QueuedEvent, condition: str, config: EventInvokeConfig) -> None:
        """Deliver the outcome to the destination and the dead-letter queue, then forget it."""
        arn = self._runtime.function_arn(event.function_name, event.qualifier or LATEST)
        kind = "OnSuccess" if condition == SUCCESS else "OnFailure"
        destination = config.destinations.by_kind()[kind]
        if destination:
            await deliver(
                self._runtime, destination, invocation_record(event, condition, arn), kind
            )
        if condition != SUCCESS:
            dead_letter = await self._dead_letter_arn(event)
            if dead_letter:
                await deliver(
                    self._runtime, dead_letter, dead_letter_message(event, condition), DEAD_LETTER
                )
            elif not destination:
                logger.warning(
                    "Event %s of %s failed (%s after %d attempts) and has nowhere to go",
                    event.request_id,
                    arn,
                    condition,
                    event.attempts,
                )
        await self._store.delete(event)

    async def _dead_letter_arn(self, event: QueuedEvent) -> str | None:
        try:
            function = await self._runtime.get_function(event.function_name, event.qualifier)
        except ResourceNotFoundError:
            return None
        return function.settings.dead_letter_arn


def _ran(result: InvokeResult) -> Outcome:
    return Outcome(200, result.payload, result.function_error, result.executed_version)


def _failure(error: Exception) -> Outcome:
    if isinstance(error, LambdaError):
        return Outcome(error.status, error.message.encode())
    return Outcome(500, repr(error).encode())
