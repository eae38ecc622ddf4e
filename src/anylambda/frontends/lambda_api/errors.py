"""AWS's error wire format for the Lambda API.

Lambda answers a failed call with the error type in ``x-amzn-ErrorType`` and a
JSON body ``{"Type": "User" | "Service", "message": ...}`` plus any extra
fields of the error (``Reason`` for throttles). botocore reads the type from the
header to raise the matching exception class. This module only formats; which
error applies is decided by the core (:mod:`anylambda.core.errors`) and the
request readers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from quart import Response

from anylambda.core.errors import LambdaError

#: Error shapes whose message member the service model spells ``Message``; the
#: others spell it ``message`` (see the Lambda ``service-2.json`` error shapes).
_CAPITALISED_MESSAGE = frozenset({"ResourceNotFoundException", "ServiceException"})

#: What a call to a path no Lambda operation serves is answered with.
UNKNOWN_OPERATION = "UnknownOperationException"
_JSON = (b"content-type", b"application/json")


def message_member(aws_type: str) -> str:
    """The body member that carries the message of an ``aws_type`` error."""
    return "Message" if aws_type in _CAPITALISED_MESSAGE else "message"


def error_parts(
    aws_type: str,
    status: int,
    message: str,
    request_id: str,
    extra: Mapping[str, object] | None = None,
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers (bar ``Content-Length``) and body AWS sends for an ``aws_type`` error."""
    kind = "Service" if status >= 500 else "User"
    body = {"Type": kind, message_member(aws_type): message, **(extra or {})}
    headers = [
        (b"x-amzn-errortype", aws_type.encode()),
        (b"x-amzn-requestid", request_id.encode()),
        _JSON,
    ]
    return status, headers, json.dumps(body).encode()


def error_response(
    aws_type: str,
    status: int,
    message: str,
    request_id: str,
    extra: Mapping[str, object] | None = None,
) -> Response:
    """Build the response AWS sends for an error of type ``aws_type``."""
    status, headers, body = error_parts(aws_type, status, message, request_id, extra)
    return Response(
        body,
        status=status,
        headers=[(name.decode(), value.decode()) for name, value in headers],
    )


def lambda_error_response(error: LambdaError, request_id: str) -> Response:
    """Map one of the core's errors to its AWS response."""
    return error_response(error.aws_type, error.status, error.message, request_id, error.extra)
