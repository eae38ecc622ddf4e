"""When a failed asynchronous invocation is tried again, and when Lambda gives up on it.

As AWS does: after a function error, up to ``MaximumRetryAttempts`` retries with the
configured delays (``Config.async_retry_delays``; AWS waits about one minute, then
two); after a throttle or a service error, retries that do not count as attempts,
backing off from one second to five minutes. Never past ``MaximumEventAgeInSeconds``:
an event whose next try would come later is given up at once, as AWS does.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from anylambda.core.events.configs import EventInvokeConfig
from anylambda.core.events.store import QueuedEvent

#: The conditions of AWS's invocation records.
SUCCESS = "Success"
RETRIES_EXHAUSTED = "RetriesExhausted"
EVENT_AGE_EXCEEDED = "EventAgeExceeded"

#: Backoff after throttles and service errors (AWS: from 1 second, doubling, up to 5 minutes).
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 300.0


@attrs.frozen
class Retry:
    """Try the event again at ``due_at`` (seconds since the epoch)."""

    due_at: float


@attrs.frozen
class GiveUp:
    """Stop trying; ``condition`` is why (``RetriesExhausted``, ``EventAgeExceeded``)."""

    condition: str


class RetryPolicy:
    """Decides the fate of an event whose last try failed."""

    def __init__(self, delays: Sequence[float]) -> None:
        self.delays = tuple(delays)
        """Seconds before the first retry, the second...; the last one repeats."""

    def expired(self, event: QueuedEvent, config: EventInvokeConfig, now: float) -> bool:
        """Whether ``event`` is too old to be tried at all."""
        return now - event.accepted_at > config.event_age

    def after_failure(
        self, event: QueuedEvent, config: EventInvokeConfig, now: float
    ) -> Retry | GiveUp:
        """What follows the last try of ``event``, already recorded on it: a function error
        (``event.failures == 0``), or a throttle or service error."""
        if event.failures:
            delay = min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (event.failures - 1))
        else:
            retries = event.attempts - 1
            if retries >= config.retry_attempts:
                return GiveUp(RETRIES_EXHAUSTED)
            delay = self.delays[min(retries, len(self.delays) - 1)]
        due_at = now + delay
        if self.expired(event, config, due_at):
            return GiveUp(EVENT_AGE_EXCEEDED)
        return Retry(due_at)
