"""The Lambda API's tag operations: TagResource, UntagResource and ListTags.

The resource is a function ARN, URL-encoded in the path as clients send it;
UntagResource names the keys in repeated ``tagKeys`` query arguments.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from quart import Blueprint, Response, request

from anylambda.frontends.lambda_api.bodies import read_json
from anylambda.frontends.lambda_api.responses import json_response
from anylambda.frontends.lambda_api.shapes import member, require, unparsable

if TYPE_CHECKING:
    from anylambda.core.runtime import Runtime

TAGS = "/2017-03-31/tags/<path:resource>"


def tags_member(body: Mapping[str, Any]) -> dict[str, str] | None:
    """The ``Tags`` of a TagResource or CreateFunction body, if it has them."""
    tags = member(body, "Tags", dict)
    if tags is not None and not all(isinstance(value, str) for value in tags.values()):
        raise unparsable("Tags values must be strings")
    return tags


def add_tags_routes(bp: Blueprint, runtime: Runtime) -> None:
    """Serve the tag operations from ``runtime.tags``."""

    @bp.post(TAGS)
    async def tag_resource(resource: str) -> Response:
        body = await read_json("TagResource")
        require(body, {"Tags": "tags"})
        await runtime.tags.tag_resource(resource, tags_member(body) or {})
        return Response(status=204)

    @bp.delete(TAGS)
    async def untag_resource(resource: str) -> Response:
        await runtime.tags.untag_resource(resource, request.args.getlist("tagKeys"))
        return Response(status=204)

    @bp.get(TAGS)
    async def list_tags(resource: str) -> Response:
        return json_response({"Tags": await runtime.tags.list_tags(resource)})
