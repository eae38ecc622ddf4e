"""Function resource policies through boto3 and the AWS CLI against a real server:
AddPermission, RemovePermission, GetPolicy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.acceptance.test_functions_api import create
from tests.support import aws_error

ACCOUNT = "000000000000"


def arn_of(name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def add(client, name: str, sid: str, principal: str = "s3.amazonaws.com", **extra):
    return client.add_permission(
        FunctionName=name,
        StatementId=sid,
        Action=extra.pop("Action", "lambda:InvokeFunction"),
        Principal=principal,
        **extra,
    )


def test_add_get_remove_round_trip(lambda_client, function_name):
    create(lambda_client, function_name)
    added = add(lambda_client, function_name, "s3", SourceArn="arn:aws:s3:::bucket")
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    s3 = {
        "Sid": "s3",
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": arn_of(function_name),
        "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"}},
    }
    assert json.loads(added["Statement"]) == s3
    first = lambda_client.get_policy(FunctionName=function_name)
    assert json.loads(first["Policy"]) == {
        "Version": "2012-10-17",
        "Id": "default",
        "Statement": [s3],
    }

    add(lambda_client, function_name, "sns", principal="sns.amazonaws.com")
    second = lambda_client.get_policy(FunctionName=function_name)
    assert [s["Sid"] for s in json.loads(second["Policy"])["Statement"]] == ["s3", "sns"]
    assert second["RevisionId"] != first["RevisionId"]

    removed = lambda_client.remove_permission(FunctionName=function_name, StatementId="s3")
    assert removed["ResponseMetadata"]["HTTPStatusCode"] == 204
    third = lambda_client.get_policy(FunctionName=function_name)
    assert [s["Sid"] for s in json.loads(third["Policy"])["Statement"]] == ["sns"]
    assert third["RevisionId"] not in (first["RevisionId"], second["RevisionId"])

    lambda_client.remove_permission(FunctionName=function_name, StatementId="sns")
    with pytest.raises(ClientError) as exc:
        lambda_client.get_policy(FunctionName=function_name)
    assert aws_error(exc.value) == (
        404,
        "ResourceNotFoundException",
        "The resource you requested does not exist.",
    )


@pytest.mark.parametrize(
    ("principal", "extra", "expected_principal", "expected_condition"),
    [
        (
            "*",
            {"SourceAccount": "111111111111"},
            "*",
            {"StringEquals": {"AWS:SourceAccount": "111111111111"}},
        ),
        ("111111111111", {}, {"AWS": "arn:aws:iam::111111111111:root"}, None),
        (
            "arn:aws:iam::111111111111:role/caller",
            {},
            {"AWS": "arn:aws:iam::111111111111:role/caller"},
            None,
        ),
        (
            "*",
            {"EventSourceToken": "amzn1.ask.skill.0000"},
            "*",
            {"StringEquals": {"lambda:EventSourceToken": "amzn1.ask.skill.0000"}},
        ),
        (
            "*",
            {
                "Action": "lambda:InvokeFunctionUrl",
                "FunctionUrlAuthType": "NONE",
                "PrincipalOrgID": "o-1234567890",
                "SourceAccount": "111111111111",
                "SourceArn": "arn:aws:s3:::bucket",
            },
            "*",
            {
                "StringEquals": {
                    "AWS:SourceAccount": "111111111111",
                    "lambda:FunctionUrlAuthType": "NONE",
                    "aws:PrincipalOrgID": "o-1234567890",
                },
                "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"},
            },
        ),
        (
            "*",
            {"Action": "lambda:InvokeFunction", "InvokedViaFunctionUrl": True},
            "*",
            {"Bool": {"lambda:InvokedViaFunctionUrl": "true"}},
        ),
    ],
    ids=["wildcard", "account", "iam-arn", "event-source-token", "url-conditions", "via-url"],
)
def test_statements_are_built_as_aws_builds_them(
    lambda_client, function_name, principal, extra, expected_principal, expected_condition
):
    create(lambda_client, function_name)
    action = extra.get("Action", "lambda:InvokeFunction")
    added = json.loads(add(lambda_client, function_name, "sid", principal, **extra)["Statement"])
    expected = {
        "Sid": "sid",
        "Effect": "Allow",
        "Principal": expected_principal,
        "Action": action,
        "Resource": arn_of(function_name),
    }
    if expected_condition is not None:
        expected["Condition"] = expected_condition
    assert added == expected
    assert list(added) == list(expected)  # AWS's member order


def test_statement_ids_are_unique_per_policy(lambda_client, function_name):
    create(lambda_client, function_name)
    add(lambda_client, function_name, "s3")
    with pytest.raises(ClientError) as exc:
        add(lambda_client, function_name, "s3", principal="sns.amazonaws.com")
    assert aws_error(exc.value) == (
        409,
        "ResourceConflictException",
        "The statement id (s3) provided already exists. Please provide a new statement id, "
        "or remove the existing statement.",
    )


def test_revision_id_preconditions(lambda_client, function_name):
    create(lambda_client, function_name)
    add(lambda_client, function_name, "first")
    revision = lambda_client.get_policy(FunctionName=function_name)["RevisionId"]
    stale_message = (
        "The Revision Id provided does not match the latest Revision Id. "
        "Call the GetPolicy API to retrieve the latest Revision Id"
    )
    with pytest.raises(ClientError) as exc:
        add(lambda_client, function_name, "second", RevisionId="not-the-revision")
    assert aws_error(exc.value) == (412, "PreconditionFailedException", stale_message)

    add(lambda_client, function_name, "second", RevisionId=revision)
    with pytest.raises(ClientError) as exc:
        lambda_client.remove_permission(
            FunctionName=function_name, StatementId="first", RevisionId=revision
        )
    assert aws_error(exc.value) == (412, "PreconditionFailedException", stale_message)

    current = lambda_client.get_policy(FunctionName=function_name)["RevisionId"]
    lambda_client.remove_permission(
        FunctionName=function_name, StatementId="first", RevisionId=current
    )
    policy = json.loads(lambda_client.get_policy(FunctionName=function_name)["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["second"]


def test_not_found_errors(lambda_client, function_name):
    missing = f"{function_name}-missing"
    cases = [
        (
            lambda: add(lambda_client, missing, "s3"),
            f"Function not found: {arn_of(missing)}",
        ),
        (
            lambda: lambda_client.get_policy(FunctionName=missing),
            "The resource you requested does not exist.",
        ),
        (
            lambda: lambda_client.remove_permission(FunctionName=missing, StatementId="s3"),
            f"No policy found for: {arn_of(missing)}",
        ),
    ]
    create(lambda_client, function_name)
    cases += [
        (
            lambda: lambda_client.remove_permission(FunctionName=function_name, StatementId="s3"),
            "No policy is associated with the given resource.",
        ),
        (
            lambda: add(lambda_client, function_name, "s3", Qualifier="42"),
            f"Function not found: {arn_of(function_name, '42')}",
        ),
        (
            lambda: lambda_client.get_policy(FunctionName=function_name, Qualifier="42"),
            "The resource you requested does not exist.",
        ),
    ]
    for call, message in cases:
        with pytest.raises(ClientError) as exc:
            call()
        assert aws_error(exc.value) == (404, "ResourceNotFoundException", message)
    add(lambda_client, function_name, "s3")
    with pytest.raises(ClientError) as exc:
        lambda_client.remove_permission(FunctionName=function_name, StatementId="other")
    assert aws_error(exc.value) == (
        404,
        "ResourceNotFoundException",
        "Statement other is not found in resource policy.",
    )


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"StatementId": "example.com"}, "ValidationException"),
        ({"Action": "InvokeFunction"}, "ValidationException"),
        ({"Principal": "not a principal"}, "InvalidParameterValueException"),
        ({"Principal": "example.com"}, "InvalidParameterValueException"),
        ({"SourceAccount": "123"}, "ValidationException"),
        ({"PrincipalOrgID": "org-123456789"}, "ValidationException"),
        ({"FunctionUrlAuthType": "BASIC"}, "ValidationException"),
        ({"Qualifier": "$LATEST"}, "InvalidParameterValueException"),
        ({"Qualifier": "has?question"}, "ValidationException"),
        ({"FunctionName": "{name}:1", "Qualifier": "2"}, "InvalidParameterValueException"),
    ],
    ids=[
        "statement-id",
        "action",
        "principal-space",
        "principal-unknown",
        "source-account",
        "org-id",
        "url-auth-type",
        "latest",
        "qualifier-chars",
        "qualifier-mismatch",
    ],
)
def test_invalid_parameters(lambda_client, function_name, params, expected):
    create(lambda_client, function_name)
    args = {
        "FunctionName": function_name,
        "StatementId": "sid",
        "Action": "lambda:InvokeFunction",
        "Principal": "s3.amazonaws.com",
        **params,
    }
    args["FunctionName"] = args["FunctionName"].format(name=function_name)
    with pytest.raises(ClientError) as exc:
        lambda_client.add_permission(**args)
    assert aws_error(exc.value)[:2] == (400, expected)
    with pytest.raises(ClientError):
        lambda_client.get_policy(FunctionName=function_name)


def test_latest_qualifier_reads_the_unqualified_policy(lambda_client, function_name):
    create(lambda_client, function_name)
    add(lambda_client, function_name, "s3")
    assert (
        lambda_client.get_policy(FunctionName=function_name, Qualifier="$LATEST")["Policy"]
        == lambda_client.get_policy(FunctionName=function_name)["Policy"]
    )


def test_policy_size_is_limited(lambda_client, function_name):
    create(lambda_client, function_name)
    source = "arn:aws:s3:::" + "b" * 6000
    for sid in ("a", "b", "c"):
        add(lambda_client, function_name, sid, SourceArn=source)
    with pytest.raises(ClientError) as exc:
        add(lambda_client, function_name, "d", SourceArn=source)
    status, code, message = aws_error(exc.value)
    assert (status, code) == (400, "PolicyLengthExceededException")
    assert message.endswith("is bigger than the limit (20480).")
    policy = json.loads(lambda_client.get_policy(FunctionName=function_name)["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["a", "b", "c"]


def test_deleting_the_function_deletes_its_policy(lambda_client, function_name):
    create(lambda_client, function_name)
    add(lambda_client, function_name, "s3")
    lambda_client.delete_function(FunctionName=function_name)
    create(lambda_client, function_name)
    with pytest.raises(ClientError) as exc:
        lambda_client.get_policy(FunctionName=function_name)
    assert aws_error(exc.value)[:2] == (404, "ResourceNotFoundException")
    add(lambda_client, function_name, "s3")  # the statement id is free again


def test_aws_cli_add_permission_output(server, lambda_client, function_name, tmp_path):
    create(lambda_client, function_name)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment.update(
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=str(tmp_path / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
    )
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "aws"),
            "lambda",
            "add-permission",
            "--endpoint-url",
            server.url,
            "--function-name",
            function_name,
            "--statement-id",
            "sns",
            "--action",
            "lambda:InvokeFunction",
            "--principal",
            "sns.amazonaws.com",
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    output = json.loads(done.stdout)
    assert list(output) == ["Statement"]
    assert json.loads(output["Statement"]) == {
        "Sid": "sns",
        "Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "lambda:InvokeFunction",
        "Resource": arn_of(function_name),
    }
