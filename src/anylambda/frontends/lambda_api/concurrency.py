"""The Lambda API's concurrency operations: reserved (Put/Get/DeleteFunctionConcurrency) and
provisioned (Put/Get/Delete/ListProvisionedConcurrencyConfigs)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quart import Blueprint, Response, request

from anylambda.core.concurrency import ProvisionedReport
from anylambda.frontends.lambda_api.bodies import read_json
from anylambda.frontends.lambda_api.responses import json_response, max_items, page_response
from anylambda.frontends.lambda_api.shapes import member, require

if TYPE_CHECKING:
    from anylambda.core.runtime import Runtime

RESERVED_V1 = "/2017-10-31/functions/<function_name>/concurrency"
RESERVED_V2 = "/2019-09-30/functions/<function_name>/concurrency"
PROVISIONED = "/2019-09-30/functions/<function_name>/provisioned-concurrency"


def add_concurrency_routes(bp: Blueprint, runtime: Runtime) -> None:
    """Serve reserved and provisioned concurrency from ``runtime``."""

    @bp.put(RESERVED_V1)
    async def put_function_concurrency(function_name: str) -> Response:
        body = await read_json("PutFunctionConcurrency")
        require(body, {"ReservedConcurrentExecutions": "reservedConcurrentExecutions"})
        limit = member(body, "ReservedConcurrentExecutions", int)
        reserved = await runtime.concurrency.put_reserved(function_name, limit)
        return json_response({"ReservedConcurrentExecutions": reserved})

    @bp.get(RESERVED_V2)
    async def get_function_concurrency(function_name: str) -> Response:
        reserved = runtime.concurrency.reserved(function_name)
        return json_response({} if reserved is None else {"ReservedConcurrentExecutions": reserved})

    @bp.delete(RESERVED_V1)
    async def delete_function_concurrency(function_name: str) -> Response:
        await runtime.concurrency.delete_reserved(function_name)
        return Response(status=204)

    @bp.put(PROVISIONED)
    async def put_provisioned_concurrency_config(function_name: str) -> Response:
        body = await read_json("PutProvisionedConcurrencyConfig")
        require(body, {"ProvisionedConcurrentExecutions": "provisionedConcurrentExecutions"})
        count = member(body, "ProvisionedConcurrentExecutions", int)
        report = await runtime.concurrency.put_provisioned(function_name, _qualifier(), count)
        return json_response(provisioned_shape(report), status=202)

    @bp.get(PROVISIONED)
    async def get_or_list_provisioned_concurrency(function_name: str) -> Response:
        if request.args.get("List") == "ALL":
            reports, next_marker = runtime.concurrency.list_provisioned(
                function_name, request.args.get("Marker"), max_items(50)
            )
            listed = [
                {
                    "FunctionArn": runtime.function_arn(r.config.function, r.config.qualifier),
                    **provisioned_shape(r),
                }
                for r in reports
            ]
            return page_response("ProvisionedConcurrencyConfigs", listed, next_marker)
        report = runtime.concurrency.get_provisioned(function_name, _qualifier())
        return json_response(provisioned_shape(report))

    @bp.delete(PROVISIONED)
    async def delete_provisioned_concurrency_config(function_name: str) -> Response:
        await runtime.concurrency.delete_provisioned(function_name, _qualifier())
        return Response(status=204)


def provisioned_shape(report: ProvisionedReport) -> dict[str, Any]:
    """The members every provisioned-concurrency response shares."""
    shape: dict[str, Any] = {
        "RequestedProvisionedConcurrentExecutions": report.config.requested,
        "AvailableProvisionedConcurrentExecutions": report.available,
        "AllocatedProvisionedConcurrentExecutions": report.allocated,
        "Status": report.status.value,
        "LastModified": report.config.last_modified,
    }
    if report.reason:
        shape["StatusReason"] = report.reason
    return shape


def _qualifier() -> str:
    """The required ``Qualifier`` query argument."""
    require(request.args, {"Qualifier": "qualifier"})
    return request.args["Qualifier"]
