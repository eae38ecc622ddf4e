"""Lambda layers through boto3 against a real server: the layer operations, their errors, and
functions running with layers on the process backend (Python, Node.js, a bash bootstrap)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import signal
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from tests.support import ROLE, make_zip, running_server

ACCOUNT_REGION = "us-east-1:000000000000"
CREATED_DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000")
IMPORTER = make_zip(
    {"app.py": "import mylib\n\ndef handler(event, context):\n    return mylib.VALUE\n"}
)


@pytest.fixture
def layer_name(function_name: str) -> str:
    """A layer name unique to this test."""
    return f"layer-{function_name}"


def python_layer(value: str, module: str = "mylib") -> bytes:
    """A layer with a Python module (in ``python/``) whose ``VALUE`` is ``value``."""
    return make_zip({f"python/{module}.py": f"VALUE = {value!r}\n"})


def publish(client, name: str, content: bytes, **extra):
    return client.publish_layer_version(LayerName=name, Content={"ZipFile": content}, **extra)


def create(client, name: str, code: bytes = IMPORTER, runtime: str = "python3.11", **extra):
    return client.create_function(
        FunctionName=name,
        Runtime=runtime,
        Handler=extra.pop("Handler", "app.handler"),
        Role=ROLE,
        Code={"ZipFile": code},
        **extra,
    )


def invoke(client, name: str, payload: object = None) -> dict:
    response = client.invoke(FunctionName=name, Payload=json.dumps(payload or {}).encode())
    response["Body"] = json.loads(response["Payload"].read())
    return response


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    """Status, error code and message of a failed call."""
    response = exc.value.response
    return (
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Code"],
        response["Error"]["Message"],
    )


def hex_sha(code_sha256: str) -> str:
    return base64.b64decode(code_sha256).hex()


# --- the layer operations ---------------------------------------------------------------------


def test_publish_get_list_and_delete_round_trip(lambda_client, layer_name):
    content = python_layer(f"one {layer_name}")
    first = publish(
        lambda_client,
        layer_name,
        content,
        Description="deps",
        CompatibleRuntimes=["python3.11", "python3.12"],
        CompatibleArchitectures=["x86_64"],
        LicenseInfo="MIT",
    )
    layer_arn = f"arn:aws:lambda:{ACCOUNT_REGION}:layer:{layer_name}"
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert first["LayerArn"] == layer_arn
    assert first["LayerVersionArn"] == f"{layer_arn}:1"
    assert first["Version"] == 1
    assert (
        first["Content"]["CodeSha256"]
        == base64.b64encode(hashlib.sha256(content).digest()).decode()
    )
    assert first["Content"]["CodeSize"] == len(content)
    assert CREATED_DATE.fullmatch(first["CreatedDate"])
    assert (first["Description"], first["LicenseInfo"]) == ("deps", "MIT")
    assert first["CompatibleRuntimes"] == ["python3.11", "python3.12"]
    assert first["CompatibleArchitectures"] == ["x86_64"]
    with urllib.request.urlopen(first["Content"]["Location"], timeout=10) as response:
        assert response.read() == content

    second = publish(lambda_client, layer_name, content)
    assert (second["Version"], second["LayerVersionArn"]) == (2, f"{layer_arn}:2")
    assert second["Description"] == ""
    assert "CompatibleRuntimes" not in second and "LicenseInfo" not in second

    got = lambda_client.get_layer_version(LayerName=layer_name, VersionNumber=1)
    by_arn = lambda_client.get_layer_version_by_arn(Arn=f"{layer_arn}:1")
    for found in (got, by_arn):
        found.pop("ResponseMetadata")
    first.pop("ResponseMetadata")
    assert got == by_arn == first
    assert lambda_client.get_layer_version(LayerName=layer_arn, VersionNumber=2)["Version"] == 2

    versions = lambda_client.list_layer_versions(LayerName=layer_name)["LayerVersions"]
    assert [v["Version"] for v in versions] == [2, 1]
    assert versions[1] == {key: first[key] for key in versions[1]}
    assert "Content" not in versions[1] and "LayerArn" not in versions[1]
    (listed,) = [
        layer for layer in lambda_client.list_layers()["Layers"] if layer["LayerName"] == layer_name
    ]
    assert listed["LayerArn"] == layer_arn
    assert listed["LatestMatchingVersion"]["Version"] == 2

    deleted = lambda_client.delete_layer_version(LayerName=layer_name, VersionNumber=2)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert (
        lambda_client.delete_layer_version(LayerName=layer_name, VersionNumber=2)[
            "ResponseMetadata"
        ]["HTTPStatusCode"]
        == 204
    ), "deleting again is no error, as on AWS"
    versions = lambda_client.list_layer_versions(LayerName=layer_name)["LayerVersions"]
    assert [v["Version"] for v in versions] == [1]
    lambda_client.delete_layer_version(LayerName=layer_name, VersionNumber=1)
    assert lambda_client.list_layer_versions(LayerName=layer_name)["LayerVersions"] == []
    assert layer_name not in [layer["LayerName"] for layer in lambda_client.list_layers()["Layers"]]
    assert publish(lambda_client, layer_name, content)["Version"] == 3, "numbers are never reused"


def test_empty_compatibility_lists_are_kept(lambda_client, layer_name):
    published = publish(
        lambda_client,
        layer_name,
        python_layer(layer_name),
        CompatibleRuntimes=[],
        CompatibleArchitectures=[],
    )
    assert (published["CompatibleRuntimes"], published["CompatibleArchitectures"]) == ([], [])


def test_list_filters_pick_the_latest_matching_version(lambda_client, layer_name):
    names = [f"{layer_name}-a", f"{layer_name}-b"]
    content = python_layer(layer_name)
    publish(lambda_client, names[0], content, CompatibleRuntimes=["ruby3.3"])
    publish(lambda_client, names[0], content, CompatibleRuntimes=["java21"])
    publish(
        lambda_client,
        names[1],
        content,
        CompatibleRuntimes=["ruby3.3"],
        CompatibleArchitectures=["arm64"],
    )

    def latest(**filters) -> dict[str, int]:
        layers = lambda_client.list_layers(**filters)["Layers"]
        return {
            layer["LayerName"]: layer["LatestMatchingVersion"]["Version"]
            for layer in layers
            if layer["LayerName"] in names
        }

    assert latest() == {names[0]: 2, names[1]: 1}
    assert latest(CompatibleRuntime="ruby3.3") == {names[0]: 1, names[1]: 1}
    assert latest(CompatibleRuntime="java21") == {names[0]: 2}
    assert latest(CompatibleArchitecture="arm64") == {names[1]: 1}
    assert latest(CompatibleRuntime="java21", CompatibleArchitecture="arm64") == {}

    def versions(name: str, **filters) -> list[int]:
        listed = lambda_client.list_layer_versions(LayerName=name, **filters)["LayerVersions"]
        return [v["Version"] for v in listed]

    assert versions(names[0], CompatibleRuntime="ruby3.3") == [1]
    assert versions(names[0], CompatibleArchitecture="x86_64") == []


def test_list_pages_with_marker_and_max_items(lambda_client, layer_name):
    names = [f"{layer_name}-{i}" for i in range(3)]
    for name in names:
        publish(lambda_client, name, python_layer(layer_name))
    for _ in range(2):
        publish(lambda_client, names[0], python_layer(layer_name))

    pages = list(
        lambda_client.get_paginator("list_layers").paginate(PaginationConfig={"PageSize": 1})
    )
    assert all(len(page["Layers"]) <= 1 for page in pages)
    listed = [layer["LayerName"] for page in pages for layer in page["Layers"]]
    assert [name for name in listed if name in names] == names
    assert listed == sorted(listed)

    first = lambda_client.list_layer_versions(LayerName=names[0], MaxItems=2)
    assert [v["Version"] for v in first["LayerVersions"]] == [3, 2]
    rest = lambda_client.list_layer_versions(
        LayerName=names[0], MaxItems=2, Marker=first["NextMarker"]
    )
    assert [v["Version"] for v in rest["LayerVersions"]] == [1]
    assert "NextMarker" not in rest


def test_unknown_layers_and_versions(lambda_client, layer_name):
    published = publish(lambda_client, layer_name, python_layer(layer_name))
    for call in (
        lambda: lambda_client.get_layer_version(LayerName=f"{layer_name}-none", VersionNumber=1),
        lambda: lambda_client.get_layer_version(LayerName=layer_name, VersionNumber=2),
        lambda: lambda_client.get_layer_version_by_arn(Arn=f"{published['LayerArn']}:2"),
        lambda: lambda_client.get_layer_version_by_arn(
            Arn=f"arn:aws:lambda:eu-west-1:000000000000:layer:{layer_name}:1"
        ),
    ):
        with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as exc:
            call()
        assert error_of(exc) == (
            404,
            "ResourceNotFoundException",
            "The resource you requested does not exist.",
        )
        assert exc.value.response["Type"] == "User"
    unknown = lambda_client.list_layer_versions(LayerName=f"{layer_name}-none")
    assert unknown["LayerVersions"] == []
    gone = lambda_client.delete_layer_version(LayerName=f"{layer_name}-none", VersionNumber=1)
    assert gone["ResponseMetadata"]["HTTPStatusCode"] == 204


@pytest.mark.parametrize("version", [0, -1])
def test_versions_below_one_are_invalid(lambda_client, layer_name, version):
    for call in (lambda_client.get_layer_version, lambda_client.delete_layer_version):
        with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as exc:
            call(LayerName=layer_name, VersionNumber=version)
        assert error_of(exc) == (
            400,
            "InvalidParameterValueException",
            "Layer Version Cannot be less than 1",
        )


@pytest.mark.parametrize("name", ["bad name!", "x" * 141, "arn:aws:lambda:us-east-1:1:layer:l"])
def test_invalid_layer_names(lambda_client, name):
    with pytest.raises(ClientError) as exc:
        publish(lambda_client, name, python_layer("x"))
    status, code, message = error_of(exc)
    assert (status, code) == (400, "ValidationException")
    assert message.startswith(
        f"1 validation error detected: Value '{name}' at 'layerName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: (arn:"
    )


def test_get_by_arn_needs_a_version_arn(lambda_client, layer_name):
    arn = f"arn:aws:lambda:{ACCOUNT_REGION}:layer:{layer_name}"
    with pytest.raises(ClientError) as exc:
        lambda_client.get_layer_version_by_arn(Arn=arn)
    status, code, message = error_of(exc)
    assert (status, code) == (400, "ValidationException")
    assert message.startswith(
        f"1 validation error detected: Value '{arn}' at 'arn' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: "
    )


def test_publish_refuses_bad_content(lambda_client, layer_name):
    cases = [
        ({"S3Bucket": "bucket", "S3Key": "layer.zip"}, "does not fetch code from S3"),
        ({}, "Missing Content"),
        ({"ZipFile": b"not a zip"}, "Could not unzip uploaded file."),
    ]
    for content, message in cases:
        with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as exc:
            lambda_client.publish_layer_version(LayerName=layer_name, Content=content)
        assert message in error_of(exc)[2]
    assert lambda_client.list_layer_versions(LayerName=layer_name)["LayerVersions"] == []


def test_publish_validates_what_it_records(lambda_client, layer_name):
    with pytest.raises(ClientError) as exc:
        publish(
            lambda_client,
            layer_name,
            python_layer(layer_name),
            CompatibleRuntimes=["invalidruntime", "nodejs20.x"],
            CompatibleArchitectures=["invalidarch", "x86_64"],
        )
    status, code, message = error_of(exc)
    assert (status, code) == (400, "ValidationException")
    runtimes, architectures = message.split("; ")
    assert runtimes.startswith(
        "2 validation errors detected: Value '[invalidruntime, nodejs20.x]' at "
        "'compatibleRuntimes' failed to satisfy constraint: Member must satisfy enum value set: ["
    )
    assert architectures == (
        "Value '[invalidarch, x86_64]' at 'compatibleArchitectures' failed to satisfy "
        "constraint: Member must satisfy constraint: [Member must satisfy enum value set: "
        "[x86_64, arm64], Member must not be null]"
    )
    too_many = ["python3.11"] * 16
    with pytest.raises(ClientError) as exc:
        publish(lambda_client, layer_name, python_layer(layer_name), CompatibleRuntimes=too_many)
    assert error_of(exc)[1:] == (
        "ValidationException",
        f"1 validation error detected: Value '[{', '.join(too_many)}]' at 'compatibleRuntimes' "
        "failed to satisfy constraint: Member must have length less than or equal to 15",
    )
    with pytest.raises(ClientError) as exc:
        publish(lambda_client, layer_name, python_layer(layer_name), Description="d" * 257)
    assert error_of(exc)[1] == "ValidationException"


def test_list_filters_are_validated(lambda_client, layer_name):
    with pytest.raises(ClientError) as exc:
        lambda_client.list_layers(CompatibleArchitecture="archdoesnotexist")
    assert error_of(exc) == (
        400,
        "ValidationException",
        "1 validation error detected: Value 'archdoesnotexist' at 'compatibleArchitecture' "
        "failed to satisfy constraint: Member must satisfy enum value set: [x86_64, arm64]",
    )
    with pytest.raises(ClientError) as exc:
        lambda_client.list_layer_versions(LayerName=layer_name, CompatibleRuntime="nope")
    assert error_of(exc)[2].startswith(
        "1 validation error detected: Value 'nope' at 'compatibleRuntime' failed to satisfy "
        "constraint: Member must satisfy enum value set: [nodejs, "
    )
    with pytest.raises(ClientError) as exc:
        lambda_client.list_layers(MaxItems=51)
    assert error_of(exc) == (
        400,
        "ValidationException",
        "1 validation error detected: Value '51' at 'maxItems' failed to satisfy constraint: "
        "Member must have value less than or equal to 50",
    )


# --- permissions -------------------------------------------------------------------------------


def test_layer_version_policy_life_cycle(lambda_client, layer_name):
    published = publish(lambda_client, layer_name, python_layer(layer_name))
    arn = published["LayerVersionArn"]
    target = {"LayerName": layer_name, "VersionNumber": 1}
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as exc:
        lambda_client.get_layer_version_policy(**target)
    assert error_of(exc)[2] == "No policy is associated with the given resource."

    added = lambda_client.add_layer_version_permission(
        **target, StatementId="s1", Action="lambda:GetLayerVersion", Principal="*"
    )
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    everyone = {
        "Sid": "s1",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "lambda:GetLayerVersion",
        "Resource": arn,
    }
    assert json.loads(added["Statement"]) == everyone
    policy = lambda_client.get_layer_version_policy(**target)
    assert policy["RevisionId"] == added["RevisionId"]
    assert json.loads(policy["Policy"]) == {
        "Version": "2012-10-17",
        "Id": "default",
        "Statement": [everyone],
    }

    organization = lambda_client.add_layer_version_permission(
        **target,
        StatementId="s2",
        Action="lambda:GetLayerVersion",
        Principal="*",
        OrganizationId="o-abcdefghij",
        RevisionId=policy["RevisionId"],
    )
    assert json.loads(organization["Statement"])["Condition"] == {
        "StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}
    }
    account = lambda_client.add_layer_version_permission(
        **target, StatementId="s3", Action="lambda:GetLayerVersion", Principal="123456789012"
    )
    assert json.loads(account["Statement"])["Principal"] == {
        "AWS": "arn:aws:iam::123456789012:root"
    }
    assert len({added["RevisionId"], organization["RevisionId"], account["RevisionId"]}) == 3
    statements = json.loads(lambda_client.get_layer_version_policy(**target)["Policy"])
    assert [s["Sid"] for s in statements["Statement"]] == ["s1", "s2", "s3"]

    with pytest.raises(lambda_client.exceptions.ResourceConflictException) as exc:
        lambda_client.add_layer_version_permission(
            **target, StatementId="s1", Action="lambda:GetLayerVersion", Principal="*"
        )
    assert error_of(exc) == (
        409,
        "ResourceConflictException",
        "The statement id (s1) provided already exists. Please provide a new statement id, or "
        "remove the existing statement.",
    )
    stale = (
        412,
        "PreconditionFailedException",
        "The Revision Id provided does not match the latest Revision Id. Call the "
        "GetLayerPolicy API to retrieve the latest Revision Id",
    )
    with pytest.raises(lambda_client.exceptions.PreconditionFailedException) as exc:
        lambda_client.add_layer_version_permission(
            **target,
            StatementId="s4",
            Action="lambda:GetLayerVersion",
            Principal="*",
            RevisionId=added["RevisionId"],
        )
    assert error_of(exc) == stale
    with pytest.raises(lambda_client.exceptions.PreconditionFailedException) as exc:
        lambda_client.remove_layer_version_permission(
            **target, StatementId="s1", RevisionId="wrong"
        )
    assert error_of(exc) == stale
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as exc:
        lambda_client.remove_layer_version_permission(**target, StatementId="doesnotexist")
    assert error_of(exc)[2] == "Statement doesnotexist is not found in resource policy."

    removed = lambda_client.remove_layer_version_permission(
        **target, StatementId="s2", RevisionId=account["RevisionId"]
    )
    assert removed["ResponseMetadata"]["HTTPStatusCode"] == 204
    statements = json.loads(lambda_client.get_layer_version_policy(**target)["Policy"])
    assert [s["Sid"] for s in statements["Statement"]] == ["s1", "s3"]
    for sid in ("s1", "s3"):
        lambda_client.remove_layer_version_permission(**target, StatementId=sid)
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_layer_version_policy(**target)


def test_permissions_of_unknown_layer_versions(lambda_client, layer_name):
    publish(lambda_client, layer_name, python_layer(layer_name))
    for name, version in ((f"{layer_name}-none", 1), (layer_name, 2)):
        arn = f"arn:aws:lambda:{ACCOUNT_REGION}:layer:{name}:{version}"
        target = {"LayerName": name, "VersionNumber": version}
        for call, extra in (
            (
                lambda_client.add_layer_version_permission,
                {"StatementId": "s1", "Action": "lambda:GetLayerVersion", "Principal": "*"},
            ),
            (lambda_client.get_layer_version_policy, {}),
            (lambda_client.remove_layer_version_permission, {"StatementId": "s1"}),
        ):
            with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as exc:
                call(**target, **extra)
            assert error_of(exc) == (
                404,
                "ResourceNotFoundException",
                f"Layer version {arn} does not exist.",
            )


def test_permission_members_are_validated(lambda_client, layer_name):
    publish(lambda_client, layer_name, python_layer(layer_name))
    with pytest.raises(ClientError) as exc:
        lambda_client.add_layer_version_permission(
            LayerName=layer_name, VersionNumber=1, StatementId="s1", Action="*", Principal="*"
        )
    assert error_of(exc) == (
        400,
        "ValidationException",
        "1 validation error detected: Value '*' at 'action' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: lambda:GetLayerVersion",
    )
    with pytest.raises(ClientError) as exc:
        lambda_client.add_layer_version_permission(
            LayerName=layer_name,
            VersionNumber=1,
            StatementId="bad id",
            Action="lambda:GetLayerVersion",
            Principal="someone",
        )
    status, code, message = error_of(exc)
    assert (status, code) == (400, "ValidationException")
    assert message.startswith("2 validation errors detected: Value 'bad id' at 'statementId'")
    assert "Value 'someone' at 'principal'" in message


# --- functions with layers -------------------------------------------------------------------


def test_python_function_imports_from_its_layer(lambda_client, layer_name, function_name):
    layer = publish(lambda_client, layer_name, python_layer(f"from {layer_name}"))
    created = create(lambda_client, function_name, Layers=[layer["LayerVersionArn"]])
    assert created["Layers"] == [
        {"Arn": layer["LayerVersionArn"], "CodeSize": layer["Content"]["CodeSize"]}
    ]
    config = lambda_client.get_function(FunctionName=function_name)["Configuration"]
    assert config["Layers"] == created["Layers"]
    assert invoke(lambda_client, function_name)["Body"] == f"from {layer_name}"


def test_node_function_requires_from_its_layer(lambda_client, layer_name, function_name):
    module = "module.exports = { greet: (who) => `hello ${who} from the layer` };\n"
    layer = publish(
        lambda_client, layer_name, make_zip({"nodejs/node_modules/greeter/index.js": module})
    )
    code = make_zip(
        {
            "index.js": "const { greet } = require('greeter');\n"
            "exports.handler = async (event) => greet(event.who);\n"
        }
    )
    create(
        lambda_client,
        function_name,
        code,
        runtime="nodejs20.x",
        Handler="index.handler",
        Layers=[layer["LayerVersionArn"]],
    )
    assert (
        invoke(lambda_client, function_name, {"who": "node"})["Body"] == "hello node from the layer"
    )


#: A custom runtime whose answer is what the ``greet`` executable (from a layer) prints.
BOOTSTRAP = """#!/bin/sh
set -eu
while true; do
  HEADERS="$(mktemp)"
  curl -sS -LD "$HEADERS" -o /dev/null \\
    "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next"
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  rm -f "$HEADERS"
  curl -sS "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$REQUEST_ID/response" \\
    -d "{\\"greeting\\": \\"$(greet)\\"}"
done
"""


def test_provided_bootstrap_runs_an_executable_from_its_layer(
    lambda_client, layer_name, function_name
):
    tool = make_zip({"bin/greet": "#!/bin/sh\necho hello from bin\n"}, {"bin/greet": 0o755})
    layer = publish(lambda_client, layer_name, tool)
    code = make_zip({"bootstrap": BOOTSTRAP}, {"bootstrap": 0o755})
    create(
        lambda_client,
        function_name,
        code,
        runtime="provided.al2023",
        Handler="function.handler",
        Layers=[layer["LayerVersionArn"]],
    )
    response = invoke(lambda_client, function_name)
    assert "FunctionError" not in response, response["Body"]
    assert response["Body"] == {"greeting": "hello from bin"}


def test_a_later_layer_overrides_an_earlier_ones_module(lambda_client, layer_name, function_name):
    earlier = publish(lambda_client, f"{layer_name}-a", python_layer(f"earlier {layer_name}"))
    later = publish(lambda_client, f"{layer_name}-b", python_layer(f"later {layer_name}"))
    arns = [earlier["LayerVersionArn"], later["LayerVersionArn"]]
    create(lambda_client, function_name, Layers=arns)
    assert invoke(lambda_client, function_name)["Body"] == f"later {layer_name}"
    lambda_client.update_function_configuration(FunctionName=function_name, Layers=arns[::-1])
    assert invoke(lambda_client, function_name)["Body"] == f"earlier {layer_name}"


def test_changing_layers_takes_effect_on_the_next_invoke(lambda_client, layer_name, function_name):
    one = publish(lambda_client, layer_name, python_layer(f"one {layer_name}"))
    two = publish(lambda_client, layer_name, python_layer(f"two {layer_name}"))
    create(lambda_client, function_name, Layers=[one["LayerVersionArn"]])
    assert invoke(lambda_client, function_name)["Body"] == f"one {layer_name}"
    updated = lambda_client.update_function_configuration(
        FunctionName=function_name, Layers=[two["LayerVersionArn"]]
    )
    assert [layer["Arn"] for layer in updated["Layers"]] == [two["LayerVersionArn"]]
    assert invoke(lambda_client, function_name)["Body"] == f"two {layer_name}"
    updated = lambda_client.update_function_configuration(FunctionName=function_name, Layers=[])
    assert "Layers" not in updated
    body = invoke(lambda_client, function_name)["Body"]
    assert body["errorType"] == "Runtime.ImportModuleError"


def test_a_deleted_layer_version_stays_with_the_functions_that_use_it(
    lambda_client, server, layer_name, function_name
):
    used = publish(lambda_client, layer_name, python_layer(f"kept {layer_name}"))
    unused = publish(lambda_client, f"{layer_name}-x", python_layer(f"dropped {layer_name}"))
    blobs = server.data_dir / "blobs"
    create(lambda_client, function_name, Layers=[used["LayerVersionArn"]])
    lambda_client.delete_layer_version(LayerName=layer_name, VersionNumber=1)
    lambda_client.delete_layer_version(LayerName=f"{layer_name}-x", VersionNumber=1)
    assert (blobs / hex_sha(used["Content"]["CodeSha256"])).is_file()
    assert not (blobs / hex_sha(unused["Content"]["CodeSha256"])).exists()
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(used["Content"]["Location"], timeout=10)
    assert exc.value.code == 404

    # A new deployment (new environment) starts cold, with the deleted version's content.
    configured = lambda_client.update_function_configuration(
        FunctionName=function_name, Environment={"Variables": {"ROUND": "2"}}
    )
    assert [layer["Arn"] for layer in configured["Layers"]] == [used["LayerVersionArn"]]
    assert invoke(lambda_client, function_name)["Body"] == f"kept {layer_name}"
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException) as exc:
        create(lambda_client, f"{function_name}-new", Layers=[used["LayerVersionArn"]])
    assert error_of(exc)[2] == f"Layer version {used['LayerVersionArn']} does not exist."


def test_attaching_layers_is_checked(lambda_client, layer_name, function_name):
    versions = [publish(lambda_client, layer_name, python_layer(layer_name)) for _ in range(2)]
    v1, v2 = (v["LayerVersionArn"] for v in versions)
    others = [
        publish(lambda_client, f"{layer_name}-{i}", python_layer(layer_name))["LayerVersionArn"]
        for i in range(5)
    ]
    layer_arn = versions[0]["LayerArn"]
    elsewhere = f"arn:aws:lambda:eu-west-1:000000000000:layer:{layer_name}:1"
    cases = [
        ([v1, *others], "InvalidParameterValueException", "Cannot reference more than 5 layers."),
        (
            [v1, v2],
            "InvalidParameterValueException",
            "Two different versions of the same layer are not allowed to be referenced in the "
            f"same function. {v1} and {v2} are versions of the same layer.",
        ),
        (
            [v1, v1],
            "InvalidParameterValueException",
            "Two different versions of the same layer are not allowed to be referenced in the "
            f"same function. {v1} and {v1} are versions of the same layer.",
        ),
        (
            [f"{layer_arn}:9"],
            "InvalidParameterValueException",
            f"Layer version {layer_arn}:9 does not exist.",
        ),
        (
            [elsewhere],
            "InvalidParameterValueException",
            "Layers are not in the same region as the function. Layers are expected to be in "
            "region us-east-1.",
        ),
    ]
    for layers, code, message in cases:
        with pytest.raises(ClientError) as exc:
            create(lambda_client, function_name, Layers=layers)
        assert error_of(exc) == (400, code, message)
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function(FunctionName=function_name)

    create(lambda_client, function_name, Layers=[v1])
    for layers, code, message in cases:
        with pytest.raises(ClientError) as exc:
            lambda_client.update_function_configuration(FunctionName=function_name, Layers=layers)
        assert error_of(exc) == (400, code, message)
    with pytest.raises(ClientError) as exc:
        lambda_client.update_function_configuration(FunctionName=function_name, Layers=[layer_arn])
    status, code, message = error_of(exc)
    assert (status, code) == (400, "ValidationException")
    assert message.startswith(
        f"1 validation error detected: Value '[{layer_arn}]' at 'layers' failed to satisfy "
        "constraint: Member must satisfy constraint: [Member must have length less than or "
        "equal to 2048, "
    )
    config = lambda_client.get_function_configuration(FunctionName=function_name)
    assert [layer["Arn"] for layer in config["Layers"]] == [v1]


def test_layers_survive_a_restart(data_dir):
    with running_server(data_dir) as srv:
        client = srv.client()
        for value in ("one", "two"):
            publish(client, "deps", python_layer(value), CompatibleRuntimes=["python3.11"])
        client.add_layer_version_permission(
            LayerName="deps",
            VersionNumber=2,
            StatementId="everyone",
            Action="lambda:GetLayerVersion",
            Principal="*",
        )
        before = client.get_layer_version_policy(LayerName="deps", VersionNumber=2)
        client.delete_layer_version(LayerName="deps", VersionNumber=1)
        create(client, "uses-deps", Layers=[f"arn:aws:lambda:{ACCOUNT_REGION}:layer:deps:2"])
        assert invoke(client, "uses-deps")["Body"] == "two"
        assert srv.stop(signal.SIGTERM) == 0
    with running_server(data_dir) as srv:
        client = srv.client()
        versions = client.list_layer_versions(LayerName="deps")["LayerVersions"]
        assert [(v["Version"], v["CompatibleRuntimes"]) for v in versions] == [(2, ["python3.11"])]
        after = client.get_layer_version_policy(LayerName="deps", VersionNumber=2)
        assert (after["Policy"], after["RevisionId"]) == (before["Policy"], before["RevisionId"])
        assert invoke(client, "uses-deps")["Body"] == "two"
        assert publish(client, "deps", python_layer("three"))["Version"] == 3
        with urllib.request.urlopen(
            client.get_layer_version(LayerName="deps", VersionNumber=2)["Content"]["Location"],
            timeout=10,
        ) as response:
            assert response.read() == python_layer("two")
