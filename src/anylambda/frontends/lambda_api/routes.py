"""The Lambda API's routes: one Quart blueprint over a :class:`~anylambda.core.runtime.Runtime`.

Each view reads its request (:mod:`.bodies`, :mod:`.shapes`, :mod:`.invoke`),
makes one or two runtime calls and shapes the answer; the runtime owns every
decision. Invoke itself is served ahead of Quart, by :mod:`.fast_invoke`.
Errors of any kind leave as AWS error responses (:mod:`.errors`), and every
response carries ``x-amzn-RequestId``. Paths under the API's version
prefixes that no supported operation serves answer ``UnknownOperationException``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from quart import Blueprint, Response, request, send_file, url_for
from werkzeug.exceptions import HTTPException

from anylambda.core.arns import parse_function_ref
from anylambda.core.errors import LambdaError
from anylambda.core.models import FunctionConfig
from anylambda.frontends.lambda_api.bodies import MAX_REQUEST_BYTES, read_json
from anylambda.frontends.lambda_api.concurrency import add_concurrency_routes
from anylambda.frontends.lambda_api.errors import (
    UNKNOWN_OPERATION,
    error_response,
    lambda_error_response,
)
from anylambda.frontends.lambda_api.event_configs import add_event_config_routes
from anylambda.frontends.lambda_api.fast_invoke import FastInvoke
from anylambda.frontends.lambda_api.invoke import add_invoke_async_route
from anylambda.frontends.lambda_api.layers import add_layer_routes
from anylambda.frontends.lambda_api.permissions import add_permission_routes
from anylambda.frontends.lambda_api.responses import (
    FUNCTION,
    FUNCTIONS,
    RouteSet,
    json_response,
    max_items,
    page_response,
    request_id,
)
from anylambda.frontends.lambda_api.shapes import (
    account_settings,
    arn_qualifier,
    code_location,
    create_function_args,
    function_configuration,
    member,
    revision_id,
    settings_changes,
    update_code_args,
)
from anylambda.frontends.lambda_api.tags import add_tags_routes, tags_member
from anylambda.frontends.lambda_api.urls import add_url_routes
from anylambda.frontends.lambda_api.versions import add_version_routes

if TYPE_CHECKING:
    from flask.sansio.blueprints import BlueprintSetupState

    from anylambda.core.runtime import Runtime

logger = logging.getLogger(__name__)

#: The views of the other areas of the API, each in its own module.
ROUTE_SETS: tuple[RouteSet, ...] = (
    add_version_routes,
    add_concurrency_routes,
    add_layer_routes,
    add_tags_routes,
    add_permission_routes,
    add_url_routes,
    add_event_config_routes,
    add_invoke_async_route,
)
#: The Lambda API's path prefixes (its API versions), from botocore's service model.
API_VERSIONS = (
    "2014-11-13",
    "2015-03-31",
    "2016-08-19",
    "2017-03-31",
    "2017-10-31",
    "2018-10-31",
    "2019-09-25",
    "2019-09-30",
    "2020-04-22",
    "2020-06-30",
    "2021-07-20",
    "2021-10-31",
    "2021-11-15",
    "2024-08-31",
    "2025-11-30",
    "2025-12-01",
    "2026-07-09",
)
_ANY_VERSION = "<any({}):api_version>".format(", ".join(f'"{v}"' for v in API_VERSIONS))
_ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]


def make_blueprint(runtime: Runtime) -> Blueprint:
    """Build the blueprint that serves the Lambda API from ``runtime``."""
    bp = Blueprint("lambda_api", __name__)
    bp.record_once(_allow_code_uploads)
    bp.record_once(lambda state: _serve_invoke_directly(state, runtime))
    bp.after_request(_stamp_request_id)
    bp.register_error_handler(LambdaError, _on_lambda_error)
    bp.register_error_handler(HTTPException, _on_http_error)
    bp.register_error_handler(Exception, _on_unexpected_error)

    def configuration(config: FunctionConfig, requested: str | None = None) -> dict[str, Any]:
        arn = runtime.function_arn(config.name, arn_qualifier(config, requested))
        return function_configuration(config, arn)

    @bp.post(f"{FUNCTIONS}/", strict_slashes=False)
    async def create_function() -> Response:
        body = await read_json("CreateFunction")
        name, settings, zip_bytes = create_function_args(body)
        config = await runtime.create_function(name, settings, zip_bytes, tags=tags_member(body))
        if member(body, "Publish", bool):
            config = await runtime.publish_version(name)
        return json_response(configuration(config), status=201)

    @bp.get(f"{FUNCTIONS}/", strict_slashes=False)
    async def list_functions() -> Response:
        all_versions = request.args.get("FunctionVersion") == "ALL"
        configs, next_marker = await runtime.list_functions(
            marker=request.args.get("Marker"), max_items=max_items(), all_versions=all_versions
        )
        listed = [
            function_configuration(
                c,
                runtime.function_arn(c.name, c.version if all_versions else arn_qualifier(c, None)),
                listed=True,
            )
            for c in configs
        ]
        return page_response("Functions", listed, next_marker)

    @bp.get(FUNCTION)
    async def get_function(function_name: str) -> Response:
        ref = parse_function_ref(function_name, request.args.get("Qualifier"))
        config = await runtime.get_function(function_name, request.args.get("Qualifier"))
        code_url = url_for(
            ".download_code", function_name=config.name, Qualifier=config.version, _external=True
        )
        body: dict[str, Any] = {
            "Configuration": configuration(config, ref.qualifier),
            "Code": code_location(config, code_url),
        }
        tags = runtime.tags.of_function(config.name)
        if tags:
            body["Tags"] = tags
        reserved = runtime.concurrency.reserved(config.name)
        if reserved is not None:
            body["Concurrency"] = {"ReservedConcurrentExecutions": reserved}
        return json_response(body)

    @bp.get(f"{FUNCTION}/configuration")
    async def get_function_configuration(function_name: str) -> Response:
        ref = parse_function_ref(function_name, request.args.get("Qualifier"))
        config = await runtime.get_function(function_name, request.args.get("Qualifier"))
        return json_response(configuration(config, ref.qualifier))

    @bp.get(f"{FUNCTION}/code")
    async def download_code(function_name: str) -> Response:
        """Not an AWS operation: the download GetFunction's ``Code.Location`` points at."""
        config = await runtime.get_function(function_name, request.args.get("Qualifier"))
        return await send_file(
            runtime.code_zip_path(config),
            mimetype="application/zip",
            as_attachment=True,
            attachment_filename=f"{config.name}.zip",
        )

    @bp.put(f"{FUNCTION}/code")
    async def update_function_code(function_name: str) -> Response:
        body = await read_json("UpdateFunctionCode")
        zip_bytes, changes = update_code_args(body)
        revision = revision_id(body)
        if zip_bytes is None:
            config = await runtime.update_function_configuration(
                function_name, revision_id=revision, **changes
            )
        else:
            if changes:
                await runtime.update_function_configuration(
                    function_name, revision_id=revision, **changes
                )
                revision = None  # checked: this request's own first change moved it on
            config = await runtime.update_function_code(
                function_name, zip_bytes, revision_id=revision
            )
        if member(body, "Publish", bool):
            config = await runtime.publish_version(function_name)
        return json_response(configuration(config))

    @bp.put(f"{FUNCTION}/configuration")
    async def update_function_configuration(function_name: str) -> Response:
        body = await read_json("UpdateFunctionConfiguration")
        changes = settings_changes(body, create=False)
        config = await runtime.update_function_configuration(
            function_name, revision_id=revision_id(body), **changes
        )
        return json_response(configuration(config))

    @bp.delete(FUNCTION)
    async def delete_function(function_name: str) -> Response:
        await runtime.delete_function(function_name, request.args.get("Qualifier"))
        return Response(status=204)

    @bp.get("/2016-08-19/account-settings/", strict_slashes=False)
    async def get_account_settings() -> Response:
        return json_response(account_settings(runtime.account_settings()))

    for add_routes in ROUTE_SETS:
        add_routes(bp, runtime)

    @bp.route(f"/{_ANY_VERSION}/", methods=_ALL_METHODS, strict_slashes=False)
    @bp.route(f"/{_ANY_VERSION}/<path:rest>", methods=_ALL_METHODS)
    async def unknown_operation(api_version: str, rest: str = "") -> Response:
        return _unknown_operation()

    return bp


def _unknown_operation() -> Response:
    return error_response(
        UNKNOWN_OPERATION,
        404,
        f"No Lambda operation is served at {request.method} {request.path}",
        request_id(),
    )


def _allow_code_uploads(state: BlueprintSetupState) -> None:
    # Quart's default MAX_CONTENT_LENGTH (16 MB) would refuse zips AWS accepts.
    limit = state.app.config.get("MAX_CONTENT_LENGTH")
    if limit is not None and limit < MAX_REQUEST_BYTES:
        state.app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES


def _serve_invoke_directly(state: BlueprintSetupState, runtime: Runtime) -> None:
    # Invoke, the hot path, bypasses Quart's request machinery (see fast_invoke).
    state.app.asgi_app = FastInvoke(state.app.asgi_app, runtime)  # type: ignore[method-assign]


async def _stamp_request_id(response: Response) -> Response:
    response.headers.setdefault("x-amzn-RequestId", request_id())
    return response


async def _on_lambda_error(error: LambdaError) -> Response:
    return lambda_error_response(error, request_id())


async def _on_http_error(error: HTTPException) -> Response:
    if error.code in (404, 405):
        return _unknown_operation()
    status = error.code or 500
    aws_type = "ServiceException" if status >= 500 else "InvalidRequestContentException"
    return error_response(aws_type, status, error.description or error.name, request_id())


async def _on_unexpected_error(error: Exception) -> Response:
    logger.error("Unexpected error serving %s %s", request.method, request.path, exc_info=error)
    return error_response("ServiceException", 500, "An internal error occurred.", request_id())
