"""What an asynchronous invocation's outcome is delivered as: AWS's invocation record
(destinations) and AWS's dead-letter message (``DeadLetterConfig``)."""

from __future__ import annotations

import json
import time
from typing import Any

from anylambda.core.events.store import Outcome, QueuedEvent

#: The ``kind`` of a delivery to the function's dead-letter queue.
DEAD_LETTER = "DeadLetter"
#: AWS keeps the first kilobyte of the error message in a dead-letter message.
MAX_DLQ_ERROR_MESSAGE = 1024


def invocation_record(event: QueuedEvent, condition: str, function_arn: str) -> dict[str, Any]:
    """The record an ``OnSuccess`` or ``OnFailure`` destination receives.

    :param condition: ``Success``, ``RetriesExhausted`` or ``EventAgeExceeded``.
    :param function_arn: the qualified ARN that was invoked (``...:function:name:$LATEST``).
    """
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": _now_iso(),
        "requestContext": {
            "requestId": event.request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": event.attempts,
        },
        "requestPayload": _json(event.payload),
    }
    outcome = event.outcome
    if outcome is not None:
        context: dict[str, Any] = {
            "statusCode": outcome.status_code,
            "executedVersion": outcome.executed_version,
        }
        if outcome.function_error:
            context["functionError"] = outcome.function_error
        record["responseContext"] = context
        record["responsePayload"] = _json(outcome.payload)
    return record


def dead_letter_message(event: QueuedEvent, condition: str) -> dict[str, Any]:
    """The message a dead-letter queue receives, shaped as an SQS ``SendMessage``: the
    original event as the body, and ``RequestID``, ``ErrorCode``, ``ErrorMessage``."""
    last = event.outcome or event.failure or Outcome(500, condition.encode())
    return {
        "Body": event.payload.decode(),
        "MessageAttributes": {
            "RequestID": {"DataType": "String", "StringValue": event.request_id},
            "ErrorCode": {"DataType": "Number", "StringValue": str(last.status_code)},
            "ErrorMessage": {"DataType": "String", "StringValue": _error_message(last)},
        },
    }


def _error_message(outcome: Outcome) -> str:
    """The ``errorMessage`` of an error document, else the text itself; its first kilobyte."""
    document = _json(outcome.payload)
    message = document.get("errorMessage") if isinstance(document, dict) else None
    text = message if isinstance(message, str) else outcome.payload.decode(errors="replace")
    return text[:MAX_DLQ_ERROR_MESSAGE]


def _json(payload: bytes) -> Any:
    """A payload as JSON; as text if it is not JSON (a function may return anything)."""
    try:
        return json.loads(payload)
    except ValueError:
        return payload.decode(errors="replace")


def _now_iso() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
