"""Delivering outcomes through the ``anylambda_deliver_to`` hook, and the built-in destination:
a Lambda function of this server, invoked asynchronously with the invocation record.

Other destinations (SQS, SNS, EventBridge, S3) and dead-letter queues need a plugin
of the application that embeds anylambda; what no plugin takes is logged.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any

from anylambda.core.arns import parse_function_ref
from anylambda.core.events.records import DEAD_LETTER
from anylambda.core.plugins import hookimpl

if TYPE_CHECKING:
    from anylambda.core.events.queue import EventQueue
    from anylambda.core.runtime import Runtime

logger = logging.getLogger("anylambda")


async def deliver(runtime: Runtime, arn: str, message: Mapping[str, Any], kind: str) -> None:
    """Hand ``message`` to the plugin that takes ``arn``; log it if none does or it fails."""
    try:
        if not await runtime.plugins.deliver_to(arn, message, kind):
            logger.warning("No plugin delivers to %s: %s message dropped", arn, kind)
    except Exception:
        logger.exception("Could not deliver the %s message to %s", kind, arn)


class LambdaDestination:
    """The built-in plugin that takes destinations naming a function of this server.

    Registered by the runtime itself, last in line, so another plugin may take
    Lambda ARNs first (an emulator that knows functions of other servers).
    """

    def __init__(self, runtime: Runtime, queue: EventQueue) -> None:
        self._runtime = runtime
        self._queue = queue

    @hookimpl(trylast=True)
    def anylambda_deliver_to(
        self, arn: str, message: Mapping[str, Any], kind: str
    ) -> Awaitable[None] | None:
        """Queue the record as an event of the destination function."""
        if kind == DEAD_LETTER or not arn.startswith("arn:") or arn.split(":")[2] != "lambda":
            return None
        return self._invoke(arn, message)

    async def _invoke(self, arn: str, message: Mapping[str, Any]) -> None:
        await self._runtime.get_function(arn)  # ResourceNotFoundError if it is gone
        ref = parse_function_ref(arn)
        await self._queue.enqueue(ref.name, ref.qualifier, json.dumps(message).encode())
