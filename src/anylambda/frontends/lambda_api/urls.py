"""The Lambda API's function URL operations: Create, Get, Update, Delete and
ListFunctionUrlConfigs.

A ``FunctionUrl`` is ``http://<url-id>.lambda-url.<region>.localhost:<port>/``,
where the port is the one the request reached this server on (its ``Host``):
function URLs are served by the same listener as the API, so the URL a client
reads works from where that client stands (through a port mapping too).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from quart import Blueprint, Response, request

from anylambda.core.urls import Cors, FunctionUrl
from anylambda.frontends.lambda_api.bodies import read_json
from anylambda.frontends.lambda_api.responses import json_response, max_items, page_response
from anylambda.frontends.lambda_api.shapes import member, require, strings

if TYPE_CHECKING:
    from anylambda.core.runtime import Runtime

URL_CONFIG = "/2021-10-31/functions/<function_name>/url"
URL_CONFIGS = "/2021-10-31/functions/<function_name>/urls"
#: ``Cors`` wire members of list type -> :class:`Cors` fields.
_CORS_LISTS = {
    "AllowHeaders": "allow_headers",
    "AllowMethods": "allow_methods",
    "AllowOrigins": "allow_origins",
    "ExposeHeaders": "expose_headers",
}
#: The most configs one ListFunctionUrlConfigs page may hold (its MaxItems limit).
MAX_URL_CONFIGS = 50


def cors_member(body: Mapping[str, Any]) -> Cors | None:
    """The ``Cors`` of a Create or UpdateFunctionUrlConfig body, if it has one."""
    cors = member(body, "Cors", dict)
    if cors is None:
        return None
    lists = {}
    for key, field in _CORS_LISTS.items():
        value = member(cors, key, list)
        lists[field] = None if value is None else strings(value, f"Cors.{key}")
    return Cors(
        allow_credentials=member(cors, "AllowCredentials", bool),
        max_age=member(cors, "MaxAge", int),
        **lists,
    )


def cors_shape(cors: Cors) -> dict[str, Any]:
    """The ``Cors`` shape: only the members that are set."""
    members = {
        "AllowCredentials": cors.allow_credentials,
        **{key: getattr(cors, field) for key, field in _CORS_LISTS.items()},
        "MaxAge": cors.max_age,
    }
    return {
        key: list(value) if isinstance(value, tuple) else value
        for key, value in members.items()
        if value is not None
    }


def add_url_routes(bp: Blueprint, runtime: Runtime) -> None:
    """Serve the function URL config operations from ``runtime.urls``."""

    def shape(url: FunctionUrl, *, answering_change: bool = False) -> dict[str, Any]:
        """A ``FunctionUrlConfig``; Create and Update report the InvokeMode only if set."""
        mode = url.invoke_mode if answering_change else (url.invoke_mode or "BUFFERED")
        members = {
            "FunctionUrl": _public_url(runtime.urls.host(url)),
            "FunctionArn": runtime.function_arn(
                url.function_name, None if url.unqualified else url.qualifier
            ),
            "AuthType": url.auth_type,
            "Cors": url.cors and cors_shape(url.cors),
            "CreationTime": url.creation_time,
            "LastModifiedTime": url.last_modified_time,
            "InvokeMode": mode,
        }
        return {key: value for key, value in members.items() if value is not None}

    @bp.post(URL_CONFIG)
    async def create_function_url_config(function_name: str) -> Response:
        body = await read_json("CreateFunctionUrlConfig")
        require(body, {"AuthType": "authType"})
        url = await runtime.urls.create(
            function_name,
            member(body, "AuthType", str),
            qualifier=request.args.get("Qualifier"),
            cors=cors_member(body),
            invoke_mode=member(body, "InvokeMode", str),
        )
        created = shape(url, answering_change=True)
        del created["LastModifiedTime"]
        return json_response(created, status=201)

    @bp.get(URL_CONFIG)
    async def get_function_url_config(function_name: str) -> Response:
        url = await runtime.urls.get(function_name, request.args.get("Qualifier"))
        return json_response(shape(url))

    @bp.put(URL_CONFIG)
    async def update_function_url_config(function_name: str) -> Response:
        body = await read_json("UpdateFunctionUrlConfig")
        url = await runtime.urls.update(
            function_name,
            qualifier=request.args.get("Qualifier"),
            auth_type=member(body, "AuthType", str),
            cors=cors_member(body),
            invoke_mode=member(body, "InvokeMode", str),
        )
        return json_response(shape(url, answering_change=True))

    @bp.delete(URL_CONFIG)
    async def delete_function_url_config(function_name: str) -> Response:
        await runtime.urls.delete(function_name, request.args.get("Qualifier"))
        return Response(status=204)

    @bp.get(URL_CONFIGS)
    async def list_function_url_configs(function_name: str) -> Response:
        urls, next_marker = await runtime.urls.list_urls(
            function_name, request.args.get("Marker"), max_items(MAX_URL_CONFIGS)
        )
        return page_response("FunctionUrlConfigs", [shape(url) for url in urls], next_marker)


def _public_url(host: str) -> str:
    """A URL at ``host``, on the scheme and port this request reached the server with."""
    try:
        port = urllib.parse.urlsplit(f"//{request.host}").port
    except ValueError:  # a Host header with a malformed port
        port = None
    return f"{request.scheme}://{host}{f':{port}' if port else ''}/"
