"""The Lambda API's event invoke config operations (API version 2019-09-25).

Put/Update/Get/Delete/ListFunctionEventInvokeConfig(s) over ``runtime.event_configs``.
``FunctionEventInvokeConfig`` always reports ``DestinationConfig`` (with empty
``OnSuccess`` / ``OnFailure`` when unset) and a qualified ``FunctionArn``, as AWS does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from quart import Blueprint, Response, request

from anylambda.core.events import Destinations, EventInvokeConfig
from anylambda.frontends.lambda_api.bodies import read_json
from anylambda.frontends.lambda_api.responses import json_response, max_items, page_response
from anylambda.frontends.lambda_api.shapes import member

if TYPE_CHECKING:
    from anylambda.core.runtime import Runtime

EVENT_INVOKE_CONFIG = "/2019-09-25/functions/<function_name>/event-invoke-config"


def event_config_args(body: Mapping[str, Any]) -> dict[str, Any]:
    """The settings a Put or Update body sets (absent members stay ``None``)."""
    destinations = None
    if (config := member(body, "DestinationConfig", dict)) is not None:
        destinations = Destinations(
            on_success=_destination(config, "OnSuccess"),
            on_failure=_destination(config, "OnFailure"),
        )
    return {
        "maximum_retry_attempts": member(body, "MaximumRetryAttempts", int),
        "maximum_event_age": member(body, "MaximumEventAgeInSeconds", int),
        "destinations": destinations,
    }


def _destination(config: Mapping[str, Any], key: str) -> str | None:
    target = member(config, key, dict) or {}
    return member(target, "Destination", str) or None


def event_config_shape(config: EventInvokeConfig, function_arn: str) -> dict[str, Any]:
    """The ``FunctionEventInvokeConfig`` shape."""
    destinations = config.destinations.by_kind()
    shape: dict[str, Any] = {
        "LastModified": config.last_modified,
        "FunctionArn": function_arn,
        "MaximumRetryAttempts": config.maximum_retry_attempts,
        "MaximumEventAgeInSeconds": config.maximum_event_age,
        "DestinationConfig": {
            kind: {"Destination": arn} if arn else {} for kind, arn in destinations.items()
        },
    }
    return {key: value for key, value in shape.items() if value is not None}


def add_event_config_routes(bp: Blueprint, runtime: Runtime) -> None:
    """Serve the event invoke config operations from ``runtime.event_configs``."""

    def shaped(config: EventInvokeConfig) -> dict[str, Any]:
        arn = runtime.function_arn(config.function_name, config.qualifier)
        return event_config_shape(config, arn)

    @bp.put(EVENT_INVOKE_CONFIG)
    async def put_function_event_invoke_config(function_name: str) -> Response:
        args = event_config_args(await read_json("PutFunctionEventInvokeConfig"))
        config = await runtime.event_configs.put(
            function_name, request.args.get("Qualifier"), **args
        )
        return json_response(shaped(config))

    @bp.post(EVENT_INVOKE_CONFIG)
    async def update_function_event_invoke_config(function_name: str) -> Response:
        args = event_config_args(await read_json("UpdateFunctionEventInvokeConfig"))
        config = await runtime.event_configs.update(
            function_name, request.args.get("Qualifier"), **args
        )
        return json_response(shaped(config))

    @bp.get(EVENT_INVOKE_CONFIG)
    async def get_function_event_invoke_config(function_name: str) -> Response:
        config = await runtime.event_configs.get(function_name, request.args.get("Qualifier"))
        return json_response(shaped(config))

    @bp.delete(EVENT_INVOKE_CONFIG)
    async def delete_function_event_invoke_config(function_name: str) -> Response:
        await runtime.event_configs.delete(function_name, request.args.get("Qualifier"))
        return Response(status=204)

    @bp.get(f"{EVENT_INVOKE_CONFIG}/list")
    async def list_function_event_invoke_configs(function_name: str) -> Response:
        configs, next_marker = await runtime.event_configs.list(
            function_name, marker=request.args.get("Marker"), max_items=max_items(limit=50)
        )
        return page_response(
            "FunctionEventInvokeConfigs", [shaped(c) for c in configs], next_marker
        )
