"""Function URL configs through boto3 against a real server."""

from __future__ import annotations

import re
import urllib.parse

import pytest
from botocore.exceptions import ClientError

from tests.acceptance.test_functions_api import create
from tests.support import aws_error

NO_FUNCTION = (404, "ResourceNotFoundException", "Function does not exist")
NO_RESOURCE = (404, "ResourceNotFoundException", "The resource you requested does not exist.")


def without_metadata(response: dict) -> dict:
    return {key: value for key, value in response.items() if key != "ResponseMetadata"}


def test_url_config_round_trip(server, lambda_client, function_name):
    arn = create(lambda_client, function_name)["FunctionArn"]
    cors = {"AllowOrigins": ["https://example.com"], "AllowMethods": ["GET", "POST"], "MaxAge": 60}
    created = lambda_client.create_function_url_config(
        FunctionName=function_name, AuthType="NONE", Cors=cors
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    port = urllib.parse.urlsplit(server.url).port
    url = created["FunctionUrl"]
    assert re.fullmatch(rf"http://[a-z0-9]{{32}}\.lambda-url\.us-east-1\.localhost:{port}/", url)
    assert without_metadata(created) == {
        "FunctionUrl": url,
        "FunctionArn": arn,
        "AuthType": "NONE",
        "Cors": cors,
        "CreationTime": created["CreationTime"],
    }

    got = without_metadata(lambda_client.get_function_url_config(FunctionName=function_name))
    assert got == {
        "FunctionUrl": url,
        "FunctionArn": arn,
        "AuthType": "NONE",
        "Cors": cors,
        "CreationTime": created["CreationTime"],
        "LastModifiedTime": got["LastModifiedTime"],
        "InvokeMode": "BUFFERED",
    }

    updated = lambda_client.update_function_url_config(
        FunctionName=function_name,
        AuthType="AWS_IAM",
        Cors={"AllowCredentials": True},
        InvokeMode="RESPONSE_STREAM",
    )
    assert updated["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert (updated["FunctionUrl"], updated["CreationTime"]) == (url, created["CreationTime"])
    assert (updated["AuthType"], updated["InvokeMode"]) == ("AWS_IAM", "RESPONSE_STREAM")
    assert updated["Cors"] == {"AllowCredentials": True}

    listed = lambda_client.list_function_url_configs(FunctionName=function_name)
    assert listed["FunctionUrlConfigs"] == [
        without_metadata(lambda_client.get_function_url_config(FunctionName=function_name))
    ]
    assert "NextMarker" not in listed

    deleted = lambda_client.delete_function_url_config(FunctionName=function_name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        lambda_client.get_function_url_config(FunctionName=function_name)
    assert aws_error(exc.value) == NO_RESOURCE
    assert (
        lambda_client.list_function_url_configs(FunctionName=function_name)["FunctionUrlConfigs"]
        == []
    )


def test_update_keeps_what_it_is_not_given(lambda_client, function_name):
    create(lambda_client, function_name)
    lambda_client.create_function_url_config(
        FunctionName=function_name, AuthType="NONE", Cors={"MaxAge": 5}, InvokeMode="BUFFERED"
    )
    updated = lambda_client.update_function_url_config(FunctionName=function_name)
    assert (updated["AuthType"], updated["Cors"], updated["InvokeMode"]) == (
        "NONE",
        {"MaxAge": 5},
        "BUFFERED",
    )


def test_a_new_url_gets_a_new_id(lambda_client, function_name):
    create(lambda_client, function_name)
    first = lambda_client.create_function_url_config(FunctionName=function_name, AuthType="NONE")
    lambda_client.delete_function_url_config(FunctionName=function_name)
    second = lambda_client.create_function_url_config(FunctionName=function_name, AuthType="NONE")
    assert first["FunctionUrl"] != second["FunctionUrl"]


def test_one_url_per_function(lambda_client, function_name):
    arn = create(lambda_client, function_name)["FunctionArn"]
    lambda_client.create_function_url_config(FunctionName=function_name, AuthType="NONE")
    with pytest.raises(ClientError) as exc:
        lambda_client.create_function_url_config(FunctionName=function_name, AuthType="AWS_IAM")
    assert aws_error(exc.value) == (
        409,
        "ResourceConflictException",
        f"Failed to create function url config for [functionArn = {arn}]. "
        "Error message:  FunctionUrlConfig exists for this Lambda function",
    )


def test_unknown_function_and_alias(lambda_client, function_name):
    missing = f"{function_name}-missing"
    for call, expected in [
        (
            lambda: lambda_client.create_function_url_config(FunctionName=missing, AuthType="NONE"),
            NO_FUNCTION,
        ),
        (lambda: lambda_client.update_function_url_config(FunctionName=missing), NO_FUNCTION),
        (lambda: lambda_client.list_function_url_configs(FunctionName=missing), NO_FUNCTION),
        (lambda: lambda_client.get_function_url_config(FunctionName=missing), NO_RESOURCE),
        (lambda: lambda_client.delete_function_url_config(FunctionName=missing), NO_RESOURCE),
    ]:
        with pytest.raises(ClientError) as exc:
            call()
        assert aws_error(exc.value) == expected
    create(lambda_client, function_name)
    with pytest.raises(ClientError) as exc:
        lambda_client.create_function_url_config(
            FunctionName=function_name, AuthType="NONE", Qualifier="no-such-alias"
        )
    assert aws_error(exc.value) == NO_FUNCTION
    for call in (
        lambda: lambda_client.get_function_url_config(FunctionName=function_name),
        lambda: lambda_client.delete_function_url_config(FunctionName=function_name),
        lambda: lambda_client.update_function_url_config(FunctionName=function_name),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert aws_error(exc.value) == NO_RESOURCE


@pytest.mark.parametrize("qualifier", ["$LATEST", "1"])
def test_versions_have_no_url(lambda_client, function_name, qualifier):
    create(lambda_client, function_name)
    with pytest.raises(ClientError) as exc:
        lambda_client.create_function_url_config(
            FunctionName=function_name, AuthType="NONE", Qualifier=qualifier
        )
    assert aws_error(exc.value) == (
        400,
        "ValidationException",
        f"1 validation error detected: Value '{qualifier}' at 'qualifier' failed to satisfy "
        r"constraint: Member must satisfy regular expression pattern: ((?!^\d+$)^[0-9a-zA-Z-_]+$)",
    )


@pytest.mark.parametrize(
    "params",
    [
        {"AuthType": "BASIC"},
        {"InvokeMode": "STREAMING"},
        {"Cors": {"MaxAge": 86401}},
        {"Cors": {"AllowMethods": ["GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "*"]}},
        {"Cors": {"AllowMethods": ["OPTIONS"]}},
        {"Cors": {"AllowOrigins": ["x" * 254]}},
    ],
    ids=["auth-type", "invoke-mode", "max-age", "methods-count", "method-length", "origin"],
)
def test_invalid_values_are_refused(lambda_client, function_name, params):
    create(lambda_client, function_name)
    with pytest.raises(ClientError) as exc:
        lambda_client.create_function_url_config(
            FunctionName=function_name, **{"AuthType": "NONE", **params}
        )
    assert aws_error(exc.value)[:2] == (400, "ValidationException")
    assert (
        lambda_client.list_function_url_configs(FunctionName=function_name)["FunctionUrlConfigs"]
        == []
    )


def test_list_max_items_is_at_most_50(lambda_client, function_name):
    create(lambda_client, function_name)
    with pytest.raises(ClientError) as exc:
        lambda_client.list_function_url_configs(FunctionName=function_name, MaxItems=51)
    assert aws_error(exc.value)[:2] == (400, "ValidationException")


def test_deleting_the_function_deletes_its_url(lambda_client, function_name):
    create(lambda_client, function_name)
    lambda_client.create_function_url_config(FunctionName=function_name, AuthType="NONE")
    lambda_client.delete_function(FunctionName=function_name)
    create(lambda_client, function_name)
    with pytest.raises(ClientError) as exc:
        lambda_client.get_function_url_config(FunctionName=function_name)
    assert aws_error(exc.value) == NO_RESOURCE
    lambda_client.create_function_url_config(FunctionName=function_name, AuthType="NONE")
