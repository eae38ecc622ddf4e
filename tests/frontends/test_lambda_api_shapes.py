"""The Lambda API frontend on its own: its blueprint over an in-memory FakeRuntime.

Requests are built by botocore's own ``rest-json`` serializer and responses read
back by its parser (with the modeled error fields, as a client does), so the
paths, headers and shapes are the ones boto3 and the AWS CLI use. End-to-end
tests against a real server live in ``tests/acceptance``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import zipfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import attrs
import botocore.awsrequest
import botocore.model
import botocore.parsers
import botocore.serialize
import botocore.session
import pytest
from quart import Quart
from quart.testing import QuartClient
from quart.wrappers import Response

from anylambda.core import errors
from anylambda.core.arns import function_arn, parse_function_ref
from anylambda.core.config import Config
from anylambda.core.models import (
    LATEST,
    AccountSettings,
    CodeRef,
    FunctionConfig,
    FunctionSettings,
    FunctionState,
    InvocationType,
    InvokeRequest,
    InvokeResult,
    LayerRef,
)
from anylambda.frontends.lambda_api import LambdaApiFrontend, anylambda_add_frontends
from anylambda.frontends.lambda_api.bodies import MAX_REQUEST_BYTES
from anylambda.frontends.lambda_api.errors import message_member
from anylambda.frontends.lambda_api.shapes import function_configuration

MODEL = botocore.session.get_session().get_service_model("lambda")
SERIALIZER = botocore.serialize.create_serializer("rest-json")
PARSER = botocore.parsers.create_parser("rest-json")
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
LIMIT = 6291456


def make_zip(text: str = "def handler(event, context):\n    return event\n") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", text)
    return buffer.getvalue()


class FakeConcurrency:
    """``Runtime.concurrency`` with nothing reserved."""

    def reserved(self, function_name: str) -> int | None:
        return None


class FakeTags:
    """``Runtime.tags`` over a dict of tags by function name."""

    def __init__(self) -> None:
        self.by_name: dict[str, dict[str, str]] = {}

    def of_function(self, name: str) -> dict[str, str]:
        return self.by_name.get(name, {})


class FakeRuntime:
    """The Runtime facade's interface over dicts; records what the frontend asked for."""

    def __init__(self, data_dir: Path) -> None:
        self.config = Config(data_dir=data_dir, account_concurrency=10)
        self.data_dir = data_dir
        #: name -> version -> config
        self.functions: dict[str, dict[str, FunctionConfig]] = {}
        self.zips: dict[str, bytes] = {}
        self.updates: list[dict[str, object]] = []
        #: (operation, RevisionId) of each update, in order.
        self.revisions: list[tuple[str, str | None]] = []
        self.tags = FakeTags()
        self.deleted: list[tuple[str, str | None]] = []
        self.invocations: list[InvokeRequest] = []
        self.invoke_outcome: InvokeResult | Exception | None = None
        self.get_error: Exception | None = None
        self.concurrency = FakeConcurrency()

    def function_arn(self, name: str, qualifier: str | None = None) -> str:
        return function_arn(self.config.region, self.config.account_id, name, qualifier)

    def _store(self, config: FunctionConfig, zip_bytes: bytes) -> FunctionConfig:
        self.zips[config.code.sha256] = zip_bytes
        self.functions.setdefault(config.name, {})[config.version] = config
        return config

    async def create_function(
        self,
        name: str,
        settings: FunctionSettings,
        zip_bytes: bytes,
        *,
        tags: Mapping[str, str] | None = None,
    ) -> FunctionConfig:
        if name in self.functions:
            raise errors.ResourceConflictError(f"Function already exist: {name}")
        if tags:
            self.tags.by_name[name] = dict(tags)
        code = CodeRef(hashlib.sha256(zip_bytes).hexdigest(), len(zip_bytes))
        layers = tuple(LayerRef(arn, CodeRef("00" * 32, 10)) for arn in settings.layers)
        config = FunctionConfig(
            name,
            settings,
            code,
            layers=layers,
            last_modified="2024-01-01T00:00:00.000+0000",
            revision_id="rev-1",
        )
        return self._store(config, zip_bytes)

    def publish(self, name: str) -> FunctionConfig:
        latest = self.functions[name][LATEST]
        version = attrs.evolve(latest, version=str(len(self.functions[name])))
        return self._store(version, self.zips[latest.code.sha256])

    async def get_function(
        self, function_name: str, qualifier: str | None = None
    ) -> FunctionConfig:
        if self.get_error is not None:
            raise self.get_error
        ref = parse_function_ref(function_name, qualifier)
        found = self.functions.get(ref.name, {}).get(ref.qualifier or LATEST)
        if found is None:
            arn = self.function_arn(ref.name, ref.qualifier)
            raise errors.ResourceNotFoundError(f"Function not found: {arn}")
        return found

    async def list_functions(
        self, marker: str | None = None, max_items: int | None = None, *, all_versions: bool = False
    ) -> tuple[list[FunctionConfig], str | None]:
        names = sorted(n for n in self.functions if marker is None or n > marker)
        page = names[:max_items] if max_items else names
        next_marker = page[-1] if max_items and len(names) > max_items else None
        return [self.functions[n][LATEST] for n in page], next_marker

    async def update_function_code(
        self, function_name: str, zip_bytes: bytes, *, revision_id: str | None = None
    ) -> FunctionConfig:
        self.revisions.append(("code", revision_id))
        config = await self.get_function(function_name)
        code = CodeRef(hashlib.sha256(zip_bytes).hexdigest(), len(zip_bytes))
        return self._store(attrs.evolve(config, code=code, revision_id="rev-2"), zip_bytes)

    async def update_function_configuration(
        self, function_name: str, *, revision_id: str | None = None, **changes: object
    ) -> FunctionConfig:
        self.revisions.append(("configuration", revision_id))
        self.updates.append(changes)
        config = await self.get_function(function_name)
        settings = attrs.evolve(config.settings, **changes)
        new = attrs.evolve(config, settings=settings, revision_id="rev-2")
        return self._store(new, self.zips[config.code.sha256])

    async def delete_function(self, function_name: str, qualifier: str | None = None) -> None:
        await self.get_function(function_name, qualifier)
        self.deleted.append((function_name, qualifier))

    async def invoke(self, request: InvokeRequest) -> InvokeResult:
        self.invocations.append(request)
        outcome = self.invoke_outcome
        if isinstance(outcome, Exception):
            raise outcome
        if outcome is not None:
            return outcome
        status = {InvocationType.EVENT: 202, InvocationType.DRY_RUN: 204}.get(
            request.invocation_type, 200
        )
        payload = request.payload if status == 200 else b""
        return InvokeResult(str(request.request_id), payload=payload, status_code=status)

    def account_settings(self) -> AccountSettings:
        return AccountSettings(
            concurrent_executions=10,
            unreserved_concurrent_executions=8,
            function_count=len(self.functions),
            total_code_size=sum(len(z) for z in self.zips.values()),
        )

    def code_zip_path(self, config: FunctionConfig) -> Path:
        path = self.data_dir / f"{config.code.sha256}.zip"
        path.write_bytes(self.zips[config.code.sha256])
        return path


@pytest.fixture
def runtime(tmp_path: Path) -> FakeRuntime:
    return FakeRuntime(tmp_path)


@pytest.fixture
def app(runtime: FakeRuntime) -> Quart:
    app = Quart(__name__)
    for blueprint in LambdaApiFrontend().blueprints(runtime):  # type: ignore[arg-type]
        app.register_blueprint(blueprint)
    return app


@pytest.fixture
async def client(app: Quart) -> AsyncIterator[QuartClient]:
    async with app.test_app() as test_app:
        yield test_app.test_client()


# --- helpers: botocore on both ends ------------------------------------------------------


class Call:
    """One operation's HTTP response and what botocore makes of it."""

    def __init__(self, response: Response, body: bytes, parsed: dict[str, Any]) -> None:
        self.response = response
        self.status = response.status_code
        self.body = body
        self.parsed = parsed

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error_code(self) -> str | None:
        return self.parsed.get("Error", {}).get("Code")


async def parse(operation: str, response: Response) -> Call:
    """Parse ``response`` as botocore's client does, modeled error fields included."""
    body = await response.get_data()
    assert response.headers.get("x-amzn-RequestId"), "every response carries a request id"
    headers = botocore.awsrequest.HeadersDict(dict(response.headers))
    raw = {"status_code": response.status_code, "headers": headers, "body": body}
    op = MODEL.operation_model(operation)
    parsed = PARSER.parse(raw, op.output_shape)
    if response.status_code >= 300:
        error_shape = MODEL.shape_for_error_code(parsed["Error"]["Code"])
        if error_shape is not None:
            parsed.update(PARSER.parse(raw, error_shape))
    return Call(response, body, parsed)


async def call(client: QuartClient, operation: str, **params: Any) -> Call:
    """Send ``operation`` exactly as botocore serializes it."""
    op = MODEL.operation_model(operation)
    wire = SERIALIZER.serialize_to_request(params, op)
    response = await client.open(
        wire["url_path"],
        method=wire["method"],
        headers=wire["headers"],
        data=wire["body"],
        query_string={k: str(v) for k, v in wire["query_string"].items()},
    )
    return await parse(operation, response)


async def create(client: QuartClient, name: str = "fn", **params: Any) -> Call:
    params = {
        "FunctionName": name,
        "Role": ROLE,
        "Runtime": "python3.12",
        "Handler": "app.handler",
        "Code": {"ZipFile": make_zip()},
        **params,
    }
    result = await call(client, "CreateFunction", **params)
    assert result.status == 201, result.body
    return result


def assert_fits(value: Any, shape: botocore.model.Shape, path: str) -> None:
    """Every key and value of ``value`` is a member of the model's ``shape``, recursively."""
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(value, dict), path
        members = shape.members
        for key, item in value.items():
            assert key in members, f"{path}.{key} is not a member of {shape.name}"
            assert_fits(item, members[key], f"{path}.{key}")
    elif kind == "list":
        assert isinstance(value, list), path
        for item in value:
            assert_fits(item, shape.member, f"{path}[]")
    elif kind == "map":
        assert isinstance(value, dict), path
        for item in value.values():
            assert_fits(item, shape.value, f"{path}{{}}")
    elif kind == "string":
        assert isinstance(value, str), path
        assert not shape.enum or value in shape.enum, f"{path}={value!r} not in {shape.enum}"
    elif kind in ("integer", "long"):
        assert isinstance(value, int), path
        assert not isinstance(value, bool), path
    elif kind == "boolean":
        assert isinstance(value, bool), path
    else:
        pytest.fail(f"{path}: unexpected shape type {kind}")


def output_member(operation: str, *path: str) -> botocore.model.Shape:
    shape = MODEL.operation_model(operation).output_shape
    for name in path:
        shape = shape.members[name]
    return shape


# --- the plugin ---------------------------------------------------------------------------


def test_plugin_contributes_one_http_only_frontend(runtime: FakeRuntime) -> None:
    (frontend,) = anylambda_add_frontends()
    assert frontend.name == "lambda_api"
    assert frontend.services(runtime) == []  # type: ignore[arg-type]
    assert len(frontend.blueprints(runtime)) == 1  # type: ignore[arg-type]


def test_registering_raises_the_body_limit_to_createfunctions(app: Quart) -> None:
    assert app.config["MAX_CONTENT_LENGTH"] == MAX_REQUEST_BYTES == 70167211


# --- CreateFunction -----------------------------------------------------------------------


async def test_create_function_shape(client: QuartClient, runtime: FakeRuntime) -> None:
    layer = "arn:aws:lambda:us-east-1:000000000000:layer:deps:1"
    result = await create(
        client,
        Environment={"Variables": {"GREETING": "hi"}},
        Layers=[layer],
        Timeout=30,
        MemorySize=256,
        Architectures=["arm64"],
        EphemeralStorage={"Size": 1024},
    )
    body = result.json
    assert_fits(body, MODEL.operation_model("CreateFunction").output_shape, "FunctionConfiguration")
    assert result.parsed | {"ResponseMetadata": None} == body | {"ResponseMetadata": None}
    zip_bytes = make_zip()
    assert body["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:fn"
    assert body["CodeSha256"] == base64.b64encode(hashlib.sha256(zip_bytes).digest()).decode()
    assert body["CodeSize"] == len(zip_bytes)
    assert body["Version"] == "$LATEST"
    assert body["Environment"] == {"Variables": {"GREETING": "hi"}}
    assert body["Layers"] == [{"Arn": layer, "CodeSize": 10}]
    assert body["Architectures"] == ["arm64"]
    assert body["EphemeralStorage"] == {"Size": 1024}
    assert body["State"] == "Active"
    assert body["LastUpdateStatus"] == "Successful"
    assert body["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/aws/lambda/fn"}
    settings = runtime.functions["fn"][LATEST].settings
    assert (settings.timeout, settings.memory_size, settings.handler) == (30, 256, "app.handler")


async def test_create_function_ignores_unsupported_fields(client: QuartClient) -> None:
    result = await create(
        client,
        VpcConfig={"SubnetIds": ["subnet-1"], "SecurityGroupIds": ["sg-1"]},
        KMSKeyArn="arn:aws:kms:us-east-1:000000000000:key/k",
        TracingConfig={"Mode": "Active"},
        Publish=False,
    )
    assert result.json["TracingConfig"] == {"Mode": "PassThrough"}
    assert "Environment" not in result.json


async def test_dead_letter_config_is_kept(client: QuartClient, runtime: FakeRuntime) -> None:
    queue = "arn:aws:sqs:us-east-1:000000000000:dlq"
    result = await create(client, DeadLetterConfig={"TargetArn": queue})
    assert result.json["DeadLetterConfig"] == {"TargetArn": queue}
    assert runtime.functions["fn"][LATEST].settings.dead_letter_arn == queue
    refused = await call(
        client,
        "CreateFunction",
        FunctionName="bad",
        Role=ROLE,
        Runtime="python3.12",
        Handler="app.handler",
        Code={"ZipFile": make_zip()},
        DeadLetterConfig={"TargetArn": "queue"},
    )
    assert (refused.status, refused.error_code) == (400, "ValidationException")
    assert "deadLetterConfig.targetArn" in refused.json["message"]


async def test_create_image_function(client: QuartClient, runtime: FakeRuntime) -> None:
    uri = "000000000000.dkr.ecr.us-east-1.amazonaws.com/fn:latest"
    result = await call(
        client,
        "CreateFunction",
        FunctionName="img",
        Role=ROLE,
        PackageType="Image",
        Code={"ImageUri": uri},
    )
    assert result.status == 201
    assert "Runtime" not in result.json
    assert "Handler" not in result.json
    assert result.json["PackageType"] == "Image"
    settings = runtime.functions["img"][LATEST].settings
    assert (settings.package_type, settings.image_uri) == ("Image", uri)
    got = await call(client, "GetFunction", FunctionName="img")
    assert got.parsed["Code"] == {"RepositoryType": "ECR", "ImageUri": uri}
    assert "ImageConfigResponse" not in got.json["Configuration"]


async def test_image_config_round_trips(client: QuartClient, runtime: FakeRuntime) -> None:
    image_config = {"EntryPoint": ["/bin/sh", "-c"], "Command": ["app.handler"]}
    result = await call(
        client,
        "CreateFunction",
        FunctionName="img",
        Role=ROLE,
        PackageType="Image",
        Code={"ImageUri": "my/image:1"},
        ImageConfig=image_config,
    )
    assert result.parsed["ImageConfigResponse"] == {"ImageConfig": image_config}
    assert_fits(result.json, MODEL.operation_model("CreateFunction").output_shape, "Create")
    settings = runtime.functions["img"][LATEST].settings
    assert settings.image_config.entry_point == ("/bin/sh", "-c")
    updated = await call(
        client,
        "UpdateFunctionConfiguration",
        FunctionName="img",
        ImageConfig={"WorkingDirectory": "/srv"},
    )
    assert updated.parsed["ImageConfigResponse"] == {"ImageConfig": {"WorkingDirectory": "/srv"}}


async def test_create_conflict_is_409(client: QuartClient) -> None:
    await create(client)
    result = await call(
        client, "CreateFunction", FunctionName="fn", Role=ROLE, Code={"ZipFile": make_zip()}
    )
    assert (result.status, result.error_code) == (409, "ResourceConflictException")
    assert result.json == {"Type": "User", "message": "Function already exist: fn"}


async def test_create_from_an_unqualified_arn(client: QuartClient, runtime: FakeRuntime) -> None:
    await create(client, name="arn:aws:lambda:us-east-1:000000000000:function:byarn")
    assert "byarn" in runtime.functions


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ({"Code": {}}, "InvalidParameterValueException", "Please provide a source"),
        ({"Code": {"S3Bucket": "bucket", "S3Key": "k"}}, "InvalidParameterValueException", "S3"),
        ({"PackageType": "Image"}, "InvalidParameterValueException", "Please provide ImageUri"),
        ({"PackageType": "Jar"}, "ValidationException", "packageType"),
        ({"Timeout": 901}, "ValidationException", "at 'timeout'"),
        ({"FunctionName": "fn:1"}, "ValidationException", "at 'functionName'"),
        ({"Environment": {"Variables": {"AWS_REGION": "x"}}}, "InvalidParameterValueException", ""),
    ],
)
async def test_create_function_rejects(
    client: QuartClient, params: dict[str, Any], error: str, message: str
) -> None:
    result = await call(
        client,
        "CreateFunction",
        **{"FunctionName": "fn", "Role": ROLE, "Code": {"ZipFile": make_zip()}, **params},
    )
    assert (result.status, result.error_code) == (400, error)
    assert message in result.parsed["Error"]["Message"]


async def test_missing_required_members_are_a_validation_error(
    client: QuartClient,
) -> None:
    response = await client.post("/2015-03-31/functions", json={"FunctionName": "fn"})
    result = await parse("CreateFunction", response)
    assert (result.status, result.error_code) == (400, "ValidationException")
    assert result.json["message"] == (
        "2 validation errors detected: "
        "Value null at 'role' failed to satisfy constraint: Member must not be null; "
        "Value null at 'code' failed to satisfy constraint: Member must not be null"
    )


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1, 2]", b'{"FunctionName": 5, "Role": "r", "Code": {}}', b"\xff\xfe"],
)
async def test_unparsable_bodies_are_invalid_request_content(
    client: QuartClient, body: bytes
) -> None:
    response = await client.post(
        "/2015-03-31/functions", data=body, headers={"Content-Type": "application/json"}
    )
    result = await parse("CreateFunction", response)
    assert (result.status, result.error_code) == (400, "InvalidRequestContentException")
    assert result.json["message"].startswith("Could not parse request body into json: ")


async def test_bad_base64_zip_is_invalid_request_content(client: QuartClient) -> None:
    body = {"FunctionName": "fn", "Role": ROLE, "Code": {"ZipFile": "%%%"}}
    result = await parse("CreateFunction", await client.post("/2015-03-31/functions", json=body))
    assert (result.status, result.error_code) == (400, "InvalidRequestContentException")


async def test_body_over_the_app_limit_is_request_entity_too_large(
    client: QuartClient, app: Quart
) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 100
    response = await client.post("/2015-03-31/functions", data=b" " * 200)
    result = await parse("CreateFunction", response)
    assert (result.status, result.error_code) == (413, "RequestEntityTooLargeException")
    assert result.json["message"] == (
        f"Request must be smaller than {MAX_REQUEST_BYTES} bytes for the CreateFunction operation"
    )


# --- GetFunction, GetFunctionConfiguration, the code download -----------------------------


async def test_get_function_shape_and_code_download(client: QuartClient) -> None:
    await create(client)
    result = await call(client, "GetFunction", FunctionName="fn")
    assert result.status == 200
    assert_fits(result.json, MODEL.operation_model("GetFunction").output_shape, "GetFunction")
    assert result.json["Configuration"]["FunctionArn"].endswith(":function:fn")
    code = result.parsed["Code"]
    assert code["RepositoryType"] == "S3"
    assert code["Location"].startswith("http://localhost/2015-03-31/functions/fn/code?")
    download = await client.get(code["Location"].removeprefix("http://localhost"))
    assert download.status_code == 200
    assert download.headers["Content-Type"] == "application/zip"
    assert download.headers["x-amzn-RequestId"]
    assert await download.get_data() == make_zip()


async def test_create_function_tags_are_in_get_function(
    client: QuartClient, runtime: FakeRuntime
) -> None:
    await create(client, Tags={"team": "a"})
    assert runtime.tags.by_name == {"fn": {"team": "a"}}
    result = await call(client, "GetFunction", FunctionName="fn")
    assert result.parsed["Tags"] == {"team": "a"}
    await create(client, name="untagged")
    assert "Tags" not in (await call(client, "GetFunction", FunctionName="untagged")).json
    code = {"ZipFile": base64.b64encode(make_zip()).decode()}
    body = {"FunctionName": "x", "Role": ROLE, "Runtime": "python3.12", "Handler": "app.handler"}
    body |= {"Code": code, "Tags": {"team": 1}}
    bad = await parse("CreateFunction", await client.post("/2015-03-31/functions", json=body))
    assert (bad.status, bad.error_code) == (400, "InvalidRequestContentException")


async def test_url_encoded_arns_and_qualified_arns(
    client: QuartClient, runtime: FakeRuntime
) -> None:
    await create(client)
    runtime.publish("fn")
    unqualified = "arn:aws:lambda:us-east-1:000000000000:function:fn"
    latest = await call(client, "GetFunctionConfiguration", FunctionName=unqualified)
    assert latest.status == 200
    assert latest.json["FunctionArn"] == unqualified
    for name, qualifier in [(f"{unqualified}:1", None), (unqualified, "1"), ("fn:1", None)]:
        params = {"FunctionName": name} | ({"Qualifier": qualifier} if qualifier else {})
        got = await call(client, "GetFunctionConfiguration", **params)
        assert (got.json["Version"], got.json["FunctionArn"]) == ("1", f"{unqualified}:1")
    explicit = await call(client, "GetFunction", FunctionName="fn", Qualifier="$LATEST")
    assert explicit.json["Configuration"]["FunctionArn"] == f"{unqualified}:$LATEST"


async def test_not_found_is_404_with_the_models_message_member(
    client: QuartClient,
) -> None:
    result = await call(client, "GetFunctionConfiguration", FunctionName="nope")
    assert (result.status, result.error_code) == (404, "ResourceNotFoundException")
    arn = "arn:aws:lambda:us-east-1:000000000000:function:nope"
    assert result.json == {"Type": "User", "Message": f"Function not found: {arn}"}
    assert result.parsed["Message"] == f"Function not found: {arn}"
    assert result.response.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"


async def test_mismatched_qualifiers_are_rejected(client: QuartClient) -> None:
    result = await call(client, "GetFunction", FunctionName="fn:1", Qualifier="2")
    assert (result.status, result.error_code) == (400, "InvalidParameterValueException")


# --- ListFunctions -----------------------------------------------------------------------


async def test_list_functions_pages(client: QuartClient) -> None:
    for name in ("a", "b", "c"):
        await create(client, name=name)
    first = await call(client, "ListFunctions", MaxItems=2)
    assert_fits(first.json, MODEL.operation_model("ListFunctions").output_shape, "List")
    assert [f["FunctionName"] for f in first.parsed["Functions"]] == ["a", "b"]
    assert first.parsed["NextMarker"] == "b"
    assert not {"State", "LastUpdateStatus"} & set(first.json["Functions"][0])
    assert first.json["Functions"][0]["FunctionArn"].endswith(":function:a")
    rest = await call(client, "ListFunctions", Marker="b")
    assert [f["FunctionName"] for f in rest.parsed["Functions"]] == ["c"]
    assert "NextMarker" not in rest.json
    slashed = await client.get("/2015-03-31/functions/")
    assert len((await slashed.get_json())["Functions"]) == 3


@pytest.mark.parametrize(("max_items", "error"), [("0", "ValidationException"), ("x", "Inv")])
async def test_list_functions_rejects_bad_max_items(
    client: QuartClient, max_items: str, error: str
) -> None:
    response = await client.get("/2015-03-31/functions", query_string={"MaxItems": max_items})
    result = await parse("ListFunctions", response)
    assert result.status == 400
    assert str(result.error_code).startswith(error)


# --- updates and delete ------------------------------------------------------------------


async def test_update_function_code(client: QuartClient, runtime: FakeRuntime) -> None:
    await create(client)
    new_zip = make_zip("def handler(e, c):\n    return 2\n")
    result = await call(client, "UpdateFunctionCode", FunctionName="fn", ZipFile=new_zip)
    assert result.status == 200
    assert result.json["CodeSha256"] == base64.b64encode(hashlib.sha256(new_zip).digest()).decode()
    assert result.json["RevisionId"] == "rev-2"
    assert runtime.updates == []
    missing = await call(client, "UpdateFunctionCode", FunctionName="fn")
    assert (missing.status, missing.error_code) == (400, "InvalidParameterValueException")


async def test_update_function_code_checks_the_revision_id_once(
    client: QuartClient, runtime: FakeRuntime
) -> None:
    await create(client)
    await call(client, "UpdateFunctionCode", FunctionName="fn", ZipFile=make_zip(), RevisionId="r")
    await call(
        client,
        "UpdateFunctionCode",
        FunctionName="fn",
        ZipFile=make_zip(),
        Architectures=["arm64"],
        RevisionId="r",
    )
    await call(client, "UpdateFunctionConfiguration", FunctionName="fn", Timeout=9, RevisionId="r")
    assert runtime.revisions == [
        ("code", "r"),
        ("configuration", "r"),
        ("code", None),  # the request's first change already held it to "r"
        ("configuration", "r"),
    ]


async def test_update_function_configuration_sends_only_given_fields(
    client: QuartClient, runtime: FakeRuntime
) -> None:
    await create(client, Environment={"Variables": {"AB": "1"}})
    result = await call(
        client, "UpdateFunctionConfiguration", FunctionName="fn", Timeout=60, Environment={}
    )
    assert result.status == 200
    assert runtime.updates == [{"timeout": 60, "environment": {}}]
    assert result.json["Timeout"] == 60
    assert "Environment" not in result.json


async def test_delete_function(client: QuartClient, runtime: FakeRuntime) -> None:
    await create(client)
    runtime.publish("fn")
    result = await call(client, "DeleteFunction", FunctionName="fn", Qualifier="1")
    assert result.status == 204
    assert result.body == b""
    assert runtime.deleted == [("fn", "1")]


# --- Invoke ------------------------------------------------------------------------------


async def test_invoke_request_response(client: QuartClient, runtime: FakeRuntime) -> None:
    result = await call(client, "Invoke", FunctionName="fn", Payload=b'{"x": 1}')
    assert result.status == 200
    assert result.body == b'{"x": 1}'
    assert result.parsed["ExecutedVersion"] == "$LATEST"
    assert "LogResult" not in result.parsed
    assert "FunctionError" not in result.parsed
    assert result.response.headers["Content-Type"] == "application/json"
    (invocation,) = runtime.invocations
    assert invocation.request_id == result.response.headers["x-amzn-RequestId"]
    assert (invocation.function_name, invocation.qualifier) == ("fn", None)
    assert invocation.invocation_type is InvocationType.REQUEST_RESPONSE


async def test_invoke_log_tail_function_error_and_client_context(
    client: QuartClient, runtime: FakeRuntime
) -> None:
    log = b"START\n" + b"x" * 5000 + b"\nEND\n"
    runtime.invoke_outcome = InvokeResult(
        "req-1", payload=b'{"errorMessage": "boom"}', function_error="Unhandled", log=log
    )
    context = base64.b64encode(b'{"custom": {}}').decode()
    result = await call(
        client,
        "Invoke",
        FunctionName="arn:aws:lambda:us-east-1:000000000000:function:fn:live",
        LogType="Tail",
        ClientContext=context,
    )
    assert result.status == 200
    assert result.parsed["FunctionError"] == "Unhandled"
    assert base64.b64decode(result.parsed["LogResult"]) == log[-4096:]
    assert result.response.headers["x-amzn-RequestId"] == "req-1"
    (invocation,) = runtime.invocations
    assert invocation.log_tail
    assert invocation.client_context == context
    assert invocation.function_name.endswith(":function:fn:live")


@pytest.mark.parametrize(("kind", "status"), [("Event", 202), ("DryRun", 204)])
async def test_invoke_event_and_dry_run(
    client: QuartClient, runtime: FakeRuntime, kind: str, status: int
) -> None:
    result = await call(
        client, "Invoke", FunctionName="fn", InvocationType=kind, LogType="Tail", Payload=b"{}"
    )
    assert result.parsed["StatusCode"] == status
    assert result.body == b""
    assert "LogResult" not in result.parsed
    assert "ExecutedVersion" not in result.parsed
    assert runtime.invocations[0].invocation_type is InvocationType(kind)


@pytest.mark.parametrize(
    ("headers", "field"),
    [
        ({"X-Amz-Invocation-Type": "Later"}, "invocationType"),
        ({"X-Amz-Log-Type": "All"}, "logType"),
    ],
)
async def test_invoke_rejects_bad_headers(
    client: QuartClient, headers: dict[str, str], field: str
) -> None:
    response = await client.post("/2015-03-31/functions/fn/invocations", headers=headers)
    result = await parse("Invoke", response)
    assert (result.status, result.error_code) == (400, "ValidationException")
    assert f"at '{field}'" in result.json["message"]


@pytest.mark.parametrize(
    ("error", "status", "extra"),
    [
        (
            errors.TooManyRequestsError(
                "Rate Exceeded.", Reason="ReservedFunctionConcurrentInvocationLimitExceeded"
            ),
            429,
            {"Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"},
        ),
        (errors.InvalidRequestContentError("Could not parse request body into json"), 400, {}),
        (errors.ResourceNotFoundError("Function not found: x"), 404, {}),
        (errors.ResourceConflictError("The operation cannot be performed"), 409, {}),
    ],
)
async def test_invoke_maps_runtime_errors(
    client: QuartClient,
    runtime: FakeRuntime,
    error: errors.LambdaError,
    status: int,
    extra: Mapping[str, str],
) -> None:
    runtime.invoke_outcome = error
    result = await call(client, "Invoke", FunctionName="fn", Payload=b"{}")
    assert (result.status, result.error_code) == (status, error.aws_type)
    assert result.parsed["Error"]["Message"] == error.message
    assert result.json["Type"] == "User"
    for key, value in extra.items():
        assert result.parsed[key] == value


async def test_oversized_invoke_is_refused(client: QuartClient, runtime: FakeRuntime) -> None:
    result = await call(client, "Invoke", FunctionName="fn", Payload=b"x" * (LIMIT + 1))
    assert (result.status, result.error_code) == (413, "RequestTooLargeException")
    assert result.json["message"] == (
        "Request must be smaller than 6291456 bytes for the InvokeFunction operation"
    )
    assert runtime.invocations == []
    exact = await call(client, "Invoke", FunctionName="fn", Payload=b"x" * LIMIT)
    assert exact.status == 200


async def invoke_streamed(client: QuartClient, chunks: int, headers: dict[str, str]) -> Call:
    """Send ``chunks`` MB of payload and never finish the body: only a capped read answers."""
    path = "/2015-03-31/functions/fn/invocations"
    with anyio.fail_after(5):
        async with client.request(path, method="POST", headers=headers) as connection:
            for _ in range(chunks):
                await connection.send(b"x" * (1024 * 1024))
    return await parse("Invoke", await connection.as_response())


async def test_declared_oversized_invoke_is_refused_before_reading(
    client: QuartClient, runtime: FakeRuntime
) -> None:
    result = await invoke_streamed(client, 0, {"Content-Length": str(LIMIT + 1)})
    assert (result.status, result.error_code) == (413, "RequestTooLargeException")
    assert runtime.invocations == []


async def test_oversized_streamed_invoke_stops_reading(
    client: QuartClient, runtime: FakeRuntime
) -> None:
    result = await invoke_streamed(client, 7, {})
    assert (result.status, result.error_code) == (413, "RequestTooLargeException")
    assert runtime.invocations == []


# --- GetAccountSettings -------------------------------------------------------------------


async def test_get_account_settings(client: QuartClient) -> None:
    await create(client)
    result = await call(client, "GetAccountSettings")
    assert_fits(result.json, MODEL.operation_model("GetAccountSettings").output_shape, "Acct")
    assert result.parsed["AccountLimit"] == {
        "TotalCodeSize": 80530636800,
        "CodeSizeUnzipped": 262144000,
        "CodeSizeZipped": 52428800,
        "ConcurrentExecutions": 10,
        "UnreservedConcurrentExecutions": 8,
    }
    assert result.parsed["AccountUsage"] == {"TotalCodeSize": len(make_zip()), "FunctionCount": 1}


# --- unknown operations and unexpected failures ------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/2024-08-31/functions/fn/recursion-config"),
        ("GET", "/2020-04-22/code-signing-configs"),
        ("PATCH", "/2015-03-31/functions/fn"),
        ("POST", "/2015-03-31/functions/fn/configuration"),
    ],
)
async def test_unknown_operations(client: QuartClient, method: str, path: str) -> None:
    response = await client.open(path, method=method)
    assert response.status_code == 404
    assert response.headers["x-amzn-ErrorType"] == "UnknownOperationException"
    assert response.headers["x-amzn-RequestId"]
    assert (await response.get_json())["Type"] == "User"


async def test_unexpected_errors_are_a_logged_service_exception(
    client: QuartClient, runtime: FakeRuntime, caplog: pytest.LogCaptureFixture
) -> None:
    await create(client)
    runtime.get_error = RuntimeError("disk on fire")
    with caplog.at_level(logging.ERROR, logger="anylambda.frontends.lambda_api"):
        result = await call(client, "GetFunction", FunctionName="fn")
    assert (result.status, result.error_code) == (500, "ServiceException")
    assert result.json["Type"] == "Service"
    assert "disk on fire" not in result.body.decode()
    assert "disk on fire" in caplog.text
    runtime.get_error = None
    assert (await call(client, "GetFunction", FunctionName="fn")).status == 200


# --- the shapes against the model --------------------------------------------------------


def test_every_function_configuration_key_is_in_the_model() -> None:
    settings = FunctionSettings(
        runtime="python3.12",
        handler="app.handler",
        environment={"AB": "1"},
        layers=("arn:aws:lambda:us-east-1:000000000000:layer:l:1",),
    )
    config = FunctionConfig(
        "fn",
        settings,
        CodeRef("ab" * 32, 3),
        layers=(LayerRef(settings.layers[0], CodeRef("cd" * 32, 4)),),
        state_reason="because",
    )
    shape = function_configuration(config, "arn")
    assert {"Environment", "Layers", "StateReason"} <= set(shape)
    assert_fits(shape, output_member("GetFunction", "Configuration"), "FunctionConfiguration")


@pytest.mark.parametrize(
    ("state", "code", "last_update"),
    [
        (FunctionState.PENDING, "Creating", "InProgress"),
        (FunctionState.FAILED, "ImageAccessDenied", "Failed"),
    ],
)
def test_a_function_being_prepared_reports_its_state_as_aws_does(
    state: FunctionState, code: str, last_update: str
) -> None:
    settings = FunctionSettings(package_type="Image", image_uri="registry.example/app:1")
    code_ref = CodeRef("ab" * 32, 0)
    config = FunctionConfig(
        "fn", settings, code_ref, state=state, state_reason="why", state_reason_code=code
    )
    shape = function_configuration(config, "arn")
    assert (shape["State"], shape["StateReasonCode"], shape["LastUpdateStatus"]) == (
        state.value,
        code,
        last_update,
    )
    assert_fits(shape, output_member("GetFunction", "Configuration"), "FunctionConfiguration")


@pytest.mark.parametrize(
    "error",
    [
        cls
        for cls in vars(errors).values()
        if isinstance(cls, type)
        and issubclass(cls, errors.LambdaError)
        and MODEL.shape_for_error_code(cls.aws_type) is not None
    ],
)
def test_error_bodies_use_the_models_message_member(error: type[errors.LambdaError]) -> None:
    assert message_member(error.aws_type) in MODEL.shape_for_error_code(error.aws_type).members
