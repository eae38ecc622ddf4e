"""The function lifecycle through boto3 against a real server: create, read, update, delete."""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.request

import pytest
from botocore.exceptions import ClientError

from tests.support import ROLE, make_zip

ECHO = make_zip({"app.py": "def handler(event, context):\n    return event\n"})


def create(client, name: str, code: bytes = ECHO, **extra):
    params = {"Runtime": "python3.11", "Handler": "app.handler", "Role": ROLE, **extra}
    return client.create_function(FunctionName=name, Code={"ZipFile": code}, **params)


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return exc.value.response["Error"]["Code"]


def test_create_get_update_delete_round_trip(lambda_client, function_name):
    created = create(
        lambda_client,
        function_name,
        Description="echo",
        Timeout=7,
        MemorySize=256,
        Environment={"Variables": {"GREETING": "hi"}},
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["FunctionName"] == function_name
    assert (
        created["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{function_name}"
    )
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(ECHO).digest()).decode()
    assert created["CodeSize"] == len(ECHO)
    assert (created["Timeout"], created["MemorySize"], created["Version"]) == (7, 256, "$LATEST")
    assert created["Environment"] == {"Variables": {"GREETING": "hi"}}
    assert created["State"] == "Active" and created["LastUpdateStatus"] == "Successful"
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=function_name)

    got = lambda_client.get_function(FunctionName=function_name)
    assert got["Configuration"]["RevisionId"] == created["RevisionId"]
    with urllib.request.urlopen(got["Code"]["Location"], timeout=10) as response:
        assert response.read() == ECHO

    new_code = make_zip({"app.py": "def handler(event, context):\n    return 'v2'\n"})
    updated = lambda_client.update_function_code(FunctionName=function_name, ZipFile=new_code)
    assert updated["CodeSha256"] != created["CodeSha256"]
    assert updated["RevisionId"] != created["RevisionId"]
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=function_name)

    configured = lambda_client.update_function_configuration(
        FunctionName=function_name, Timeout=30, Environment={"Variables": {}}
    )
    assert configured["Timeout"] == 30 and "Environment" not in configured
    assert lambda_client.get_function_configuration(FunctionName=function_name)["Timeout"] == 30

    deleted = lambda_client.delete_function(FunctionName=function_name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        lambda_client.get_function(FunctionName=function_name)
    assert error_code(exc) == "ResourceNotFoundException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_function_name_forms(lambda_client, function_name):
    create(lambda_client, function_name)
    arn = f"arn:aws:lambda:us-east-1:000000000000:function:{function_name}"
    for name in (
        function_name,
        arn,
        f"000000000000:function:{function_name}",
        f"{function_name}:$LATEST",
    ):
        assert (
            lambda_client.get_function_configuration(FunctionName=name)["FunctionName"]
            == function_name
        )
    with pytest.raises(ClientError) as exc:
        lambda_client.get_function(FunctionName=arn.replace("us-east-1", "eu-west-1"))
    assert error_code(exc) == "ResourceNotFoundException"


def test_list_functions_pages_with_marker(lambda_client, function_name):
    names = [f"{function_name}-{i}" for i in range(3)]
    for name in names:
        create(lambda_client, name)
    seen = []
    for page in lambda_client.get_paginator("list_functions").paginate(
        PaginationConfig={"PageSize": 2}
    ):
        assert len(page["Functions"]) <= 2
        seen += [f["FunctionName"] for f in page["Functions"]]
    assert [n for n in seen if n in names] == names
    assert seen == sorted(seen)


def test_create_twice_conflicts(lambda_client, function_name):
    create(lambda_client, function_name)
    with pytest.raises(ClientError) as exc:
        create(lambda_client, function_name)
    assert error_code(exc) == "ResourceConflictException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (b"this is not a zip", "InvalidParameterValueException"),
        (make_zip({"../escape.py": "x = 1"}), "InvalidParameterValueException"),
        (make_zip({"/abs/path.py": "x = 1"}), "InvalidParameterValueException"),
    ],
    ids=["not-a-zip", "zip-slip", "absolute-path"],
)
def test_bad_zips_are_refused_and_leave_nothing(
    lambda_client, function_name, server, code, expected
):
    with pytest.raises(ClientError) as exc:
        create(lambda_client, function_name, code=code)
    assert error_code(exc) == expected
    assert not (server.data_dir.parent / "escape.py").exists()
    with pytest.raises(ClientError) as missing:
        lambda_client.get_function(FunctionName=function_name)
    assert error_code(missing) == "ResourceNotFoundException"


def test_symlink_pointing_out_is_refused(lambda_client, function_name):
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(e, c):\n    return 1\n")
        link = zipfile.ZipInfo("passwd")
        link.external_attr = (0o120777) << 16
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(ClientError) as exc:
        create(lambda_client, function_name, code=buf.getvalue())
    assert error_code(exc) == "InvalidParameterValueException"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"FunctionName": "has space"}, "ValidationException"),
        ({"FunctionName": "x" * 65}, "ValidationException"),
        ({"Handler": "has space.handler"}, "ValidationException"),
        ({"Runtime": "cobol85"}, "InvalidParameterValueException"),
        ({"Runtime": "nodejs22.x", "Handler": "index.handler"}, "InvalidParameterValueException"),
        ({"Environment": {"Variables": {"AWS_REGION": "x"}}}, "InvalidParameterValueException"),
    ],
    ids=[
        "name-space",
        "name-long",
        "handler-space",
        "unknown-runtime",
        "runtime-missing-here",
        "reserved-env",
    ],
)
def test_invalid_parameters(lambda_client, function_name, params, expected):
    args = {
        "FunctionName": function_name,
        "Runtime": "python3.11",
        "Handler": "app.handler",
        "Role": ROLE,
        "Code": {"ZipFile": ECHO},
        **params,
    }
    with pytest.raises(ClientError) as exc:
        lambda_client.create_function(**args)
    assert error_code(exc) == expected
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    message = exc.value.response["Error"]["Message"]
    assert message
    if params.get("Runtime") == "nodejs22.x":
        assert "nodejs22.x" in message and "node" in message


def test_unknown_function_errors(lambda_client):
    for call in (
        lambda: lambda_client.get_function(FunctionName="does-not-exist"),
        lambda: lambda_client.invoke(FunctionName="does-not-exist"),
        lambda: lambda_client.delete_function(FunctionName="does-not-exist"),
        lambda: lambda_client.update_function_code(FunctionName="does-not-exist", ZipFile=ECHO),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_code(exc) == "ResourceNotFoundException"


def test_account_settings(lambda_client, function_name):
    create(lambda_client, function_name)
    settings = lambda_client.get_account_settings()
    assert settings["AccountLimit"]["ConcurrentExecutions"] >= 2
    assert settings["AccountUsage"]["FunctionCount"] >= 1
    assert settings["AccountUsage"]["TotalCodeSize"] >= len(ECHO)


def test_broken_json_body_gets_aws_error(server):
    request = urllib.request.Request(
        f"{server.url}/2015-03-31/functions",
        data=b"{not json",
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(request, timeout=10)
    assert exc.value.code == 400
    assert exc.value.headers["x-amzn-ErrorType"].startswith("InvalidRequestContentException")
    assert json.loads(exc.value.read())["message"]
