"""The Lambda API's layer operations (``/2018-10-31/layers...``) over ``Runtime.layers``.

Each view reads its request, makes one call to :class:`anylambda.core.layers.Layers`
and shapes the answer (:mod:`.layer_shapes`). ``Content.Location`` points at a
plain download of the layer version's zip from this server, as a function's
``Code.Location`` does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from quart import Blueprint, Response, request, send_file, url_for

from anylambda.core.layers import MAX_PAGE, LayerVersion
from anylambda.frontends.lambda_api.bodies import read_json
from anylambda.frontends.lambda_api.layer_shapes import (
    json_text,
    layer_version,
    layer_versions_item,
    layers_item,
    permission_args,
    policy,
    publish_args,
    statement,
    version_number,
)
from anylambda.frontends.lambda_api.responses import json_response, max_items, page_response
from anylambda.frontends.lambda_api.shapes import require

if TYPE_CHECKING:
    from anylambda.core.runtime import Runtime

LAYERS = "/2018-10-31/layers"
LAYER_VERSIONS = f"{LAYERS}/<layer_name>/versions"
LAYER_VERSION = f"{LAYER_VERSIONS}/<version>"


def add_layer_routes(bp: Blueprint, runtime: Runtime) -> None:
    """Add the layer operations to the Lambda API's blueprint."""

    def shaped(version: LayerVersion) -> dict[str, Any]:
        location = url_for(
            ".download_layer_version",
            layer_name=version.name,
            version=version.version,
            _external=True,
        )
        return layer_version(version, location)

    def filters() -> dict[str, Any]:
        """The list operations' query: filters and paging."""
        return {
            "compatible_runtime": request.args.get("CompatibleRuntime"),
            "compatible_architecture": request.args.get("CompatibleArchitecture"),
            "marker": request.args.get("Marker"),
            "max_items": max_items(MAX_PAGE),
        }

    @bp.post(LAYER_VERSIONS)
    async def publish_layer_version(layer_name: str) -> Response:
        zip_bytes, options = publish_args(await read_json("PublishLayerVersion"))
        published = await runtime.layers.publish(layer_name, zip_bytes, **options)
        return json_response(shaped(published), status=201)

    @bp.get(f"{LAYERS}/", strict_slashes=False)
    async def list_layers() -> Response:
        """ListLayers, or GetLayerVersionByArn: the same path, told apart by ``find``."""
        if request.args.get("find") == "LayerVersion":
            require(request.args, {"Arn": "arn"})
            return json_response(shaped(await runtime.layers.get_by_arn(request.args["Arn"])))
        latest, next_marker = await runtime.layers.list(**filters())
        return page_response("Layers", [layers_item(v) for v in latest], next_marker)

    @bp.get(LAYER_VERSIONS)
    async def list_layer_versions(layer_name: str) -> Response:
        versions, next_marker = await runtime.layers.list_versions(layer_name, **filters())
        return page_response(
            "LayerVersions", [layer_versions_item(v) for v in versions], next_marker
        )

    @bp.get(LAYER_VERSION)
    async def get_layer_version(layer_name: str, version: str) -> Response:
        found = await runtime.layers.get(layer_name, version_number(version))
        return json_response(shaped(found))

    @bp.get(f"{LAYER_VERSION}/content")
    async def download_layer_version(layer_name: str, version: str) -> Response:
        """Not an AWS operation: the download ``Content.Location`` points at."""
        found = await runtime.layers.get(layer_name, version_number(version))
        return await send_file(
            runtime.layers.zip_path(found),
            mimetype="application/zip",
            as_attachment=True,
            attachment_filename=f"{found.name}-{found.version}.zip",
        )

    @bp.delete(LAYER_VERSION)
    async def delete_layer_version(layer_name: str, version: str) -> Response:
        await runtime.layers.delete(layer_name, version_number(version))
        return Response(status=204)

    @bp.post(f"{LAYER_VERSION}/policy")
    async def add_layer_version_permission(layer_name: str, version: str) -> Response:
        options = permission_args(await read_json("AddLayerVersionPermission"))
        added, revision_id = await runtime.layers.add_permission(
            layer_name,
            version_number(version),
            **options,
            revision_id=request.args.get("RevisionId"),
        )
        return json_response(
            {"Statement": json_text(statement(added)), "RevisionId": revision_id}, status=201
        )

    @bp.get(f"{LAYER_VERSION}/policy")
    async def get_layer_version_policy(layer_name: str, version: str) -> Response:
        found = await runtime.layers.get_policy(layer_name, version_number(version))
        return json_response({"Policy": json_text(policy(found)), "RevisionId": found.revision_id})

    @bp.delete(f"{LAYER_VERSION}/policy/<statement_id>")
    async def remove_layer_version_permission(
        layer_name: str, version: str, statement_id: str
    ) -> Response:
        await runtime.layers.remove_permission(
            layer_name,
            version_number(version),
            statement_id,
            revision_id=request.args.get("RevisionId"),
        )
        return Response(status=204)
