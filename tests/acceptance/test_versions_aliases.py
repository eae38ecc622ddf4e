"""Versions and aliases through boto3 against a real server: publish, route, resolve, delete."""

from __future__ import annotations

import json
import signal
from collections import Counter

import pytest
from botocore.exceptions import ClientError

from tests.support import ROLE, make_zip, running_server

ACCOUNT_ARN = "arn:aws:lambda:us-east-1:000000000000:function"


def code(answer: str) -> bytes:
    """A function answering ``answer`` and the version it runs as."""
    return make_zip(
        {
            "app.py": (
                "import os\n"
                "def handler(event, context):\n"
                f"    return {{'answer': {answer!r},\n"
                "            'version': os.environ['AWS_LAMBDA_FUNCTION_VERSION'],\n"
                "            'arn': context.invoked_function_arn}\n"
            )
        }
    )


def create(client, name: str, answer: str = "one", **extra):
    return client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": code(answer)},
        **extra,
    )


def invoke(client, name: str, **extra) -> tuple[dict, str]:
    """The decoded result and X-Amz-Executed-Version of one invocation."""
    response = client.invoke(FunctionName=name, Payload=b"{}", **extra)
    assert "FunctionError" not in response, response["Payload"].read()
    return json.loads(response["Payload"].read()), response["ExecutedVersion"]


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def publish_new_code(client, name: str, answer: str) -> dict:
    client.update_function_code(FunctionName=name, ZipFile=code(answer))
    return client.publish_version(FunctionName=name)


# --- versions --------------------------------------------------------------------------------


def test_published_versions_are_immutable_snapshots(lambda_client, function_name):
    created = create(lambda_client, function_name, Description="first")
    one = lambda_client.publish_version(FunctionName=function_name, Description="v1")
    assert one["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert (one["Version"], one["Description"]) == ("1", "v1")
    assert one["FunctionArn"] == f"{ACCOUNT_ARN}:{function_name}:1"
    assert one["CodeSha256"] == created["CodeSha256"]

    two = publish_new_code(lambda_client, function_name, "two")
    assert two["Version"] == "2" and two["CodeSha256"] != one["CodeSha256"]

    assert invoke(lambda_client, function_name, Qualifier="1") == (
        {"answer": "one", "version": "1", "arn": f"{ACCOUNT_ARN}:{function_name}:1"},
        "1",
    )
    assert invoke(lambda_client, f"{function_name}:2")[0]["answer"] == "two"
    latest, executed = invoke(lambda_client, function_name)
    assert (latest["answer"], latest["version"], executed) == ("two", "$LATEST", "$LATEST")
    got = lambda_client.get_function(FunctionName=function_name, Qualifier="1")
    assert got["Configuration"]["Version"] == "1"
    assert got["Configuration"]["FunctionArn"] == f"{ACCOUNT_ARN}:{function_name}:1"


def test_publishing_unchanged_code_returns_the_last_version(lambda_client, function_name):
    create(lambda_client, function_name)
    first = lambda_client.publish_version(FunctionName=function_name)
    again = lambda_client.publish_version(FunctionName=function_name, Description="ignored")
    assert (first["Version"], again["Version"]) == ("1", "1")
    lambda_client.update_function_configuration(FunctionName=function_name, Timeout=9)
    assert lambda_client.publish_version(FunctionName=function_name)["Version"] == "2"


def test_publish_checks_code_sha256_and_revision_id(lambda_client, function_name):
    created = create(lambda_client, function_name)
    with pytest.raises(ClientError) as exc:
        lambda_client.publish_version(FunctionName=function_name, CodeSha256="bm90IGl0")
    assert error(exc) == ("InvalidParameterValueException", 400)
    assert "is different from current CodeSHA256 in $LATEST" in str(exc.value)
    with pytest.raises(lambda_client.exceptions.PreconditionFailedException) as stale:
        lambda_client.publish_version(FunctionName=function_name, RevisionId="stale")
    assert error(stale) == ("PreconditionFailedException", 412)
    published = lambda_client.publish_version(
        FunctionName=function_name,
        CodeSha256=created["CodeSha256"],
        RevisionId=created["RevisionId"],
    )
    assert published["Version"] == "1"


def test_version_numbers_are_never_reused(lambda_client, function_name):
    create(lambda_client, function_name)
    lambda_client.publish_version(FunctionName=function_name)
    publish_new_code(lambda_client, function_name, "two")
    lambda_client.delete_function(FunctionName=function_name, Qualifier="2")
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function(FunctionName=function_name, Qualifier="2")
    assert publish_new_code(lambda_client, function_name, "three")["Version"] == "3"


def test_list_versions_and_list_functions_all(lambda_client, function_name):
    create(lambda_client, function_name)
    lambda_client.publish_version(FunctionName=function_name)
    publish_new_code(lambda_client, function_name, "two")
    versions = lambda_client.list_versions_by_function(FunctionName=function_name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]
    assert versions[0]["FunctionArn"] == f"{ACCOUNT_ARN}:{function_name}:$LATEST"
    paged = lambda_client.get_paginator("list_versions_by_function").paginate(
        FunctionName=function_name, PaginationConfig={"PageSize": 2}
    )
    assert [v["Version"] for p in paged for v in p["Versions"]] == ["$LATEST", "1", "2"]

    every = lambda_client.get_paginator("list_functions").paginate(FunctionVersion="ALL")
    mine = [f for p in every for f in p["Functions"] if f["FunctionName"] == function_name]
    assert [f["Version"] for f in mine] == ["$LATEST", "1", "2"]
    plain = lambda_client.get_paginator("list_functions").paginate()
    assert [
        f["Version"] for p in plain for f in p["Functions"] if f["FunctionName"] == function_name
    ] == ["$LATEST"]


def test_create_and_update_with_publish(lambda_client, function_name):
    created = create(lambda_client, function_name, Publish=True)
    assert (created["Version"], created["FunctionArn"]) == ("1", f"{ACCOUNT_ARN}:{function_name}:1")
    updated = lambda_client.update_function_code(
        FunctionName=function_name, ZipFile=code("two"), Publish=True
    )
    assert updated["Version"] == "2"
    assert invoke(lambda_client, function_name, Qualifier="2")[0]["answer"] == "two"


def test_version_errors(lambda_client, function_name):
    create(lambda_client, function_name)
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException) as exc:
        lambda_client.invoke(FunctionName=function_name, Qualifier="7")
    assert f"{function_name}:7" in str(exc.value)
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.publish_version(FunctionName="no-such-function")
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.delete_function(FunctionName=function_name, Qualifier="$LATEST")
    with pytest.raises(lambda_client.exceptions.InvalidParameterValueException):
        lambda_client.update_function_configuration(FunctionName=f"{function_name}:1", Timeout=5)


def test_deleting_the_function_deletes_every_version_and_alias(lambda_client, function_name):
    create(lambda_client, function_name)
    lambda_client.publish_version(FunctionName=function_name)
    lambda_client.create_alias(FunctionName=function_name, Name="live", FunctionVersion="1")
    lambda_client.delete_function(FunctionName=function_name)
    create(lambda_client, function_name)
    assert lambda_client.list_aliases(FunctionName=function_name)["Aliases"] == []
    versions = lambda_client.list_versions_by_function(FunctionName=function_name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST"]
    assert lambda_client.publish_version(FunctionName=function_name)["Version"] == "1"


# --- aliases ---------------------------------------------------------------------------------


def test_alias_round_trip(lambda_client, function_name):
    create(lambda_client, function_name)
    lambda_client.publish_version(FunctionName=function_name)
    publish_new_code(lambda_client, function_name, "two")
    created = lambda_client.create_alias(
        FunctionName=function_name, Name="live", FunctionVersion="1", Description="prod"
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["AliasArn"] == f"{ACCOUNT_ARN}:{function_name}:live"
    assert (created["Name"], created["FunctionVersion"], created["Description"]) == (
        "live",
        "1",
        "prod",
    )
    got = lambda_client.get_alias(FunctionName=function_name, Name="live")
    assert got["RevisionId"] == created["RevisionId"]

    result, executed = invoke(lambda_client, function_name, Qualifier="live")
    assert (result["answer"], result["version"], executed) == ("one", "1", "1")
    assert result["arn"] == f"{ACCOUNT_ARN}:{function_name}:live"
    config = lambda_client.get_function_configuration(FunctionName=f"{function_name}:live")
    assert (config["Version"], config["FunctionArn"]) == (
        "1",
        f"{ACCOUNT_ARN}:{function_name}:live",
    )

    updated = lambda_client.update_alias(
        FunctionName=function_name, Name="live", FunctionVersion="2", RevisionId=got["RevisionId"]
    )
    assert updated["FunctionVersion"] == "2" and updated["RevisionId"] != got["RevisionId"]
    assert invoke(lambda_client, f"{function_name}:live")[1] == "2"
    lambda_client.create_alias(FunctionName=function_name, Name="old", FunctionVersion="1")
    names = [a["Name"] for a in lambda_client.list_aliases(FunctionName=function_name)["Aliases"]]
    assert names == ["live", "old"]
    only_one = lambda_client.list_aliases(FunctionName=function_name, FunctionVersion="1")
    assert [a["Name"] for a in only_one["Aliases"]] == ["old"]

    delete = lambda_client.delete_alias(FunctionName=function_name, Name="old")
    assert delete["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_alias(FunctionName=function_name, Name="old")


def test_weighted_alias_splits_traffic_within_tolerance(lambda_client, function_name):
    create(lambda_client, function_name)
    lambda_client.publish_version(FunctionName=function_name)
    publish_new_code(lambda_client, function_name, "two")
    lambda_client.create_alias(
        FunctionName=function_name,
        Name="canary",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.3}},
    )
    runs = 400
    executed = Counter(
        invoke(lambda_client, function_name, Qualifier="canary")[1] for _ in range(runs)
    )
    assert set(executed) == {"1", "2"}
    # 30% of 400 is 120; a binomial's standard deviation here is about 9.2: 5 sigma each side.
    assert 74 <= executed["2"] <= 166, executed
    alias = lambda_client.get_alias(FunctionName=function_name, Name="canary")
    assert alias["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.3}}


def test_alias_errors(lambda_client, function_name):
    create(lambda_client, function_name)
    lambda_client.publish_version(FunctionName=function_name)
    lambda_client.create_alias(FunctionName=function_name, Name="live", FunctionVersion="1")
    with pytest.raises(ClientError) as duplicate:
        lambda_client.create_alias(FunctionName=function_name, Name="live", FunctionVersion="1")
    assert error(duplicate) == ("ResourceConflictException", 409)
    with pytest.raises(ClientError) as missing_version:
        lambda_client.create_alias(FunctionName=function_name, Name="next", FunctionVersion="9")
    assert error(missing_version) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as numeric:
        lambda_client.create_alias(FunctionName=function_name, Name="123", FunctionVersion="1")
    assert error(numeric) == ("ValidationException", 400)
    with pytest.raises(ClientError) as latest_routing:
        lambda_client.create_alias(
            FunctionName=function_name,
            Name="mixed",
            FunctionVersion="$LATEST",
            RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}},
        )
    assert error(latest_routing) == ("InvalidParameterValueException", 400)
    with pytest.raises(ClientError) as stale:
        lambda_client.update_alias(FunctionName=function_name, Name="live", RevisionId="stale")
    assert error(stale) == ("PreconditionFailedException", 412)
    with pytest.raises(ClientError) as in_use:
        lambda_client.delete_function(FunctionName=function_name, Qualifier="1")
    assert error(in_use) == ("ResourceConflictException", 409)
    assert "[live]" in str(in_use.value)
    with pytest.raises(ClientError) as unknown:
        lambda_client.get_alias(FunctionName=function_name, Name="nope")
    assert error(unknown) == ("ResourceNotFoundException", 404)


def test_versions_and_aliases_survive_a_restart(data_dir):
    with running_server(data_dir) as srv:
        client = srv.client()
        create(client, "versioned")
        client.publish_version(FunctionName="versioned")
        client.create_alias(FunctionName="versioned", Name="live", FunctionVersion="1")
        client.publish_version(FunctionName="versioned", Description="unchanged: still 1")
        client.update_function_code(FunctionName="versioned", ZipFile=code("two"))
        client.publish_version(FunctionName="versioned")
        client.delete_function(FunctionName="versioned", Qualifier="2")
        assert srv.stop(signal.SIGTERM) == 0
    with running_server(data_dir) as srv:
        client = srv.client()
        assert invoke(client, "versioned", Qualifier="live")[0]["answer"] == "one"
        assert invoke(client, "versioned")[0]["answer"] == "two"
        assert client.publish_version(FunctionName="versioned")["Version"] == "3"
