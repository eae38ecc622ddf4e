"""Which queued events to start now: due ones, in due order, a bounded number per function.

Synchronous and free of I/O, like the pool. The bound keeps a function whose events
cannot run (no capacity, reserved concurrency 0) from holding more than its share of
attempts, and from holding back the events of other functions.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, deque

from anylambda.core.events.store import QueuedEvent


class Schedule:
    """Queued events by due time, with at most ``limit`` attempts running per function."""

    def __init__(self, limit: int) -> None:
        self._limit = max(1, limit)
        self._heap: list[tuple[float, int, QueuedEvent]] = []
        self._order = itertools.count()
        self._ready: dict[str, deque[QueuedEvent]] = {}
        """Due events waiting for room, by function."""
        self._running: Counter[str] = Counter()

    def add(self, event: QueuedEvent) -> None:
        """Schedule ``event`` at its ``due_at``."""
        heapq.heappush(self._heap, (event.due_at, next(self._order), event))

    def take(self, now: float) -> list[QueuedEvent]:
        """The events to start now; each counts as running until :meth:`done`."""
        while self._heap and self._heap[0][0] <= now:
            event = heapq.heappop(self._heap)[2]
            self._ready.setdefault(event.function_name, deque()).append(event)
        started: list[QueuedEvent] = []
        for name, waiting in list(self._ready.items()):
            while waiting and self._running[name] < self._limit:
                started.append(waiting.popleft())
                self._running[name] += 1
            if not waiting:
                del self._ready[name]
        return started

    def done(self, event: QueuedEvent) -> None:
        """An attempt of ``event`` ended: its function has room for another."""
        self._running[event.function_name] -= 1

    def next_due(self) -> float | None:
        """When the earliest event not yet due falls due."""
        return self._heap[0][0] if self._heap else None
