"""Asynchronous invocation: the durable event queue, retries, event invoke configs, destinations.

- :mod:`.store`: queued events as registry documents;
- :mod:`.schedule`: which due events start now;
- :mod:`.retry`: when a failed event is retried, and when it is given up;
- :mod:`.configs`: event invoke configs (``rt.event_configs``);
- :mod:`.records`: invocation records and dead-letter messages;
- :mod:`.destinations`: delivery through the ``anylambda_deliver_to`` hook;
- :mod:`.queue`: the queue and its worker (``rt.events``).
"""

from anylambda.core.events.configs import Destinations, EventInvokeConfig, EventInvokeConfigs
from anylambda.core.events.queue import EventQueue

__all__ = ["Destinations", "EventInvokeConfig", "EventInvokeConfigs", "EventQueue"]
