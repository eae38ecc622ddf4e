"""The Lambda API's function policy operations: AddPermission, RemovePermission, GetPolicy.

Statements and policies travel as JSON strings inside the JSON answers, as on AWS.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from quart import Blueprint, Response, request

from anylambda.core.permissions import Permission
from anylambda.core.policies import to_json
from anylambda.frontends.lambda_api.bodies import read_json
from anylambda.frontends.lambda_api.responses import FUNCTION, json_response
from anylambda.frontends.lambda_api.shapes import member, require, revision_id

if TYPE_CHECKING:
    from anylambda.core.runtime import Runtime

POLICY = f"{FUNCTION}/policy"


def permission_args(body: Mapping[str, Any]) -> Permission:
    """The permission an AddPermission body grants."""
    require(body, {"StatementId": "statementId", "Action": "action", "Principal": "principal"})
    return Permission(
        statement_id=member(body, "StatementId", str),
        action=member(body, "Action", str),
        principal=member(body, "Principal", str),
        source_arn=member(body, "SourceArn", str),
        source_account=member(body, "SourceAccount", str),
        principal_org_id=member(body, "PrincipalOrgID", str),
        event_source_token=member(body, "EventSourceToken", str),
        function_url_auth_type=member(body, "FunctionUrlAuthType", str),
        invoked_via_function_url=member(body, "InvokedViaFunctionUrl", bool),
    )


def add_permission_routes(bp: Blueprint, runtime: Runtime) -> None:
    """Serve the function policy operations from ``runtime.permissions``."""

    @bp.post(POLICY)
    async def add_permission(function_name: str) -> Response:
        body = await read_json("AddPermission")
        added = await runtime.permissions.add_permission(
            function_name,
            permission_args(body),
            qualifier=request.args.get("Qualifier"),
            revision_id=revision_id(body),
        )
        return json_response({"Statement": to_json(added)}, status=201)

    @bp.delete(f"{POLICY}/<statement_id>")
    async def remove_permission(function_name: str, statement_id: str) -> Response:
        await runtime.permissions.remove_permission(
            function_name,
            statement_id,
            qualifier=request.args.get("Qualifier"),
            revision_id=request.args.get("RevisionId"),
        )
        return Response(status=204)

    @bp.get(POLICY)
    async def get_policy(function_name: str) -> Response:
        policy = await runtime.permissions.get_policy(function_name, request.args.get("Qualifier"))
        return json_response(
            {"Policy": to_json(policy.document()), "RevisionId": policy.revision_id}
        )
