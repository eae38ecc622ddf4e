"""Queued events as they are stored: one registry document per accepted asynchronous invocation.

A document is written before the invocation is acknowledged, rewritten after each
attempt that leads to a retry, and deleted once the event's outcome is handled, so
whatever was accepted survives a crash and is delivered at least once.
"""

from __future__ import annotations

import base64
import uuid
from typing import Any

import attrs

from anylambda.core.models import InvocationType, InvokeRequest
from anylambda.core.store.documents import Documents


@attrs.frozen
class Outcome:
    """How one attempt ended."""

    status_code: int
    """200 when the function ran; else the HTTP status of the error (429, 500)."""
    payload: bytes
    """The function's result or error document, or the server's error message."""
    function_error: str | None = None
    executed_version: str | None = None


@attrs.frozen
class QueuedEvent:
    """An accepted asynchronous invocation, until its outcome is handled."""

    key: str
    """Its document's key."""
    request_id: str
    """The invocation's request id; every attempt runs with it."""
    function_name: str
    qualifier: str | None
    payload: bytes
    client_context: str | None
    accepted_at: float
    """Seconds since the epoch: when it was accepted (its age counts from then)."""
    due_at: float
    """Seconds since the epoch: when to try it next."""
    attempts: int = 0
    """How many times the function ran it (``approximateInvokeCount``)."""
    outcome: Outcome | None = None
    """The last time the function ran it."""
    failures: int = 0
    """Throttles and service errors since then; each doubles the backoff."""
    failure: Outcome | None = None
    """The last of those."""

    def request(self) -> InvokeRequest:
        """The invocation each attempt runs."""
        return InvokeRequest(
            function_name=self.function_name,
            payload=self.payload,
            qualifier=self.qualifier,
            invocation_type=InvocationType.EVENT,
            client_context=self.client_context,
            request_id=self.request_id,
        )

    def ran(self, outcome: Outcome) -> QueuedEvent:
        """The event after the function ran it once more."""
        return attrs.evolve(
            self, attempts=self.attempts + 1, outcome=outcome, failures=0, failure=None
        )

    def failed(self, failure: Outcome) -> QueuedEvent:
        """The event after a throttle or a service error kept it from running."""
        return attrs.evolve(self, failures=self.failures + 1, failure=failure)


def new_event(
    function_name: str,
    qualifier: str | None,
    payload: bytes,
    now: float,
    *,
    request_id: str | None = None,
    client_context: str | None = None,
) -> QueuedEvent:
    """A fresh event, due at once."""
    return QueuedEvent(
        key=uuid.uuid4().hex,
        request_id=request_id or str(uuid.uuid4()),
        function_name=function_name,
        qualifier=qualifier,
        payload=payload,
        client_context=client_context,
        accepted_at=now,
        due_at=now,
    )


class EventStore:
    """Queued events in the registry (documents of kind ``event``)."""

    def __init__(self, documents: Documents) -> None:
        self._documents = documents

    async def load(self) -> list[QueuedEvent]:
        """Every stored event."""
        return [_from_document(d) for d in (await self._documents.load()).values()]

    async def save(self, event: QueuedEvent) -> None:
        """Store the event, replacing its previous state."""
        await self._documents.save(event.key, _document(event))

    async def delete(self, event: QueuedEvent) -> None:
        """Forget the event: its outcome is handled."""
        await self._documents.delete(event.key)


def _document(event: QueuedEvent) -> dict[str, Any]:
    return attrs.asdict(event, value_serializer=_encode_bytes)


def _encode_bytes(_instance: object, _field: object, value: Any) -> Any:
    return base64.b64encode(value).decode() if isinstance(value, bytes) else value


def _outcome(document: dict[str, Any] | None) -> Outcome | None:
    if document is None:
        return None
    return Outcome(**{**document, "payload": base64.b64decode(document["payload"])})


def _from_document(document: dict[str, Any]) -> QueuedEvent:
    return QueuedEvent(
        **{
            **document,
            "payload": base64.b64decode(document["payload"]),
            "outcome": _outcome(document["outcome"]),
            "failure": _outcome(document["failure"]),
        }
    )
