"""What every Lambda API view shares: the request id, JSON responses, paging arguments."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from quart import Blueprint, Response, g, request

from anylambda.core.errors import InvalidParameterValueError
from anylambda.core.models import constraint_error

if TYPE_CHECKING:
    from anylambda.core.runtime import Runtime

#: Adds one area's views (versions, layers, tags...) to the Lambda API's blueprint.
RouteSet = Callable[[Blueprint, "Runtime"], None]

FUNCTIONS = "/2015-03-31/functions"
FUNCTION = f"{FUNCTIONS}/<function_name>"


def request_id() -> str:
    """This request's id: one per request, echoed as ``x-amzn-RequestId``."""
    if "request_id" not in g:
        g.request_id = str(uuid.uuid4())
    return str(g.request_id)


def json_response(data: Any, status: int = 200) -> Response:
    """A JSON response, as AWS sends them."""
    return Response(json.dumps(data), status=status, content_type="application/json")


def page_response(key: str, items: list[Any], next_marker: str | None) -> Response:
    """A List operation's answer: ``{key: items}``, plus ``NextMarker`` unless it is the last."""
    body: dict[str, Any] = {key: items}
    if next_marker is not None:
        body["NextMarker"] = next_marker
    return json_response(body)


def max_items(limit: int = 10000) -> int | None:
    """The request's ``MaxItems`` argument, checked as AWS does (1 to ``limit``)."""
    raw = request.args.get("MaxItems")
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise InvalidParameterValueError(f"MaxItems must be an integer, not {raw!r}") from None
    if value < 1:
        raise constraint_error("maxItems", value, "have value greater than or equal to 1")
    if value > limit:
        raise constraint_error("maxItems", value, f"have value less than or equal to {limit}")
    return value
