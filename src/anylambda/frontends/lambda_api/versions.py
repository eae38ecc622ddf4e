"""The Lambda API's version and alias operations: PublishVersion, ListVersionsByFunction,
CreateAlias, GetAlias, UpdateAlias, DeleteAlias and ListAliases."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from quart import Blueprint, Response, request

from anylambda.core.aliases import Alias
from anylambda.frontends.lambda_api.bodies import read_json
from anylambda.frontends.lambda_api.responses import (
    FUNCTION,
    json_response,
    max_items,
    page_response,
)
from anylambda.frontends.lambda_api.shapes import (
    function_configuration,
    member,
    require,
    unparsable,
)

if TYPE_CHECKING:
    from anylambda.core.runtime import Runtime

ALIASES = f"{FUNCTION}/aliases"
ALIAS = f"{ALIASES}/<alias_name>"


def add_version_routes(bp: Blueprint, runtime: Runtime) -> None:
    """Serve versions and aliases from ``runtime``."""

    def alias_configuration(alias: Alias) -> dict[str, Any]:
        shape: dict[str, Any] = {
            "AliasArn": runtime.function_arn(alias.function, alias.name),
            "Name": alias.name,
            "FunctionVersion": alias.version,
            "Description": alias.description,
            "RevisionId": alias.revision_id,
        }
        if alias.weights:
            shape["RoutingConfig"] = {"AdditionalVersionWeights": dict(alias.weights)}
        return shape

    @bp.post(f"{FUNCTION}/versions")
    async def publish_version(function_name: str) -> Response:
        body = await read_json("PublishVersion")
        config = await runtime.publish_version(
            function_name,
            code_sha256=member(body, "CodeSha256", str),
            description=member(body, "Description", str),
            revision_id=member(body, "RevisionId", str),
        )
        arn = runtime.function_arn(config.name, config.version)
        return json_response(function_configuration(config, arn), status=201)

    @bp.get(f"{FUNCTION}/versions")
    async def list_versions_by_function(function_name: str) -> Response:
        versions, next_marker = await runtime.list_versions(
            function_name, request.args.get("Marker"), max_items()
        )
        listed = [
            function_configuration(c, runtime.function_arn(c.name, c.version), listed=True)
            for c in versions
        ]
        return page_response("Versions", listed, next_marker)

    @bp.post(ALIASES)
    async def create_alias(function_name: str) -> Response:
        body = await read_json("CreateAlias")
        require(body, {"Name": "name", "FunctionVersion": "functionVersion"})
        alias = await runtime.aliases.create(
            function_name,
            _string(body, "Name"),
            _string(body, "FunctionVersion"),
            description=member(body, "Description", str) or "",
            weights=_weights(body),
        )
        return json_response(alias_configuration(alias), status=201)

    @bp.get(ALIASES)
    async def list_aliases(function_name: str) -> Response:
        aliases, next_marker = await runtime.aliases.list(
            function_name,
            request.args.get("FunctionVersion"),
            request.args.get("Marker"),
            max_items(),
        )
        listed = [alias_configuration(alias) for alias in aliases]
        return page_response("Aliases", listed, next_marker)

    @bp.get(ALIAS)
    async def get_alias(function_name: str, alias_name: str) -> Response:
        return json_response(
            alias_configuration(await runtime.aliases.get(function_name, alias_name))
        )

    @bp.put(ALIAS)
    async def update_alias(function_name: str, alias_name: str) -> Response:
        body = await read_json("UpdateAlias")
        alias = await runtime.aliases.update(
            function_name,
            alias_name,
            version=member(body, "FunctionVersion", str),
            description=member(body, "Description", str),
            weights=_weights(body),
            revision_id=member(body, "RevisionId", str),
        )
        return json_response(alias_configuration(alias))

    @bp.delete(ALIAS)
    async def delete_alias(function_name: str, alias_name: str) -> Response:
        await runtime.aliases.delete(function_name, alias_name)
        return Response(status=204)


def _string(body: Mapping[str, Any], key: str) -> str:
    value: str = member(body, key, str)
    return value


def _weights(body: Mapping[str, Any]) -> dict[str, float] | None:
    """``RoutingConfig.AdditionalVersionWeights``; ``None`` when there is no RoutingConfig."""
    routing = member(body, "RoutingConfig", dict)
    if routing is None:
        return None
    weights = member(routing, "AdditionalVersionWeights", dict) or {}
    for version, weight in weights.items():
        if not isinstance(weight, int | float) or isinstance(weight, bool):
            raise unparsable(f"the weight of version {version} must be a JSON number")
    return {version: float(weight) for version, weight in weights.items()}
