"""Function tags through boto3 against a real server: TagResource, UntagResource, ListTags."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.acceptance.test_functions_api import create
from tests.support import aws_error

ARN_PREFIX = "arn:aws:lambda:us-east-1:000000000000:function:"


def test_tag_round_trip(lambda_client, function_name):
    arn = create(lambda_client, function_name, Tags={"team": "a", "cost": "1"})["FunctionArn"]
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"team": "a", "cost": "1"}

    tagged = lambda_client.tag_resource(Resource=arn, Tags={"cost": "2", "env": "dev"})
    assert tagged["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"team": "a", "cost": "2", "env": "dev"}
    assert lambda_client.get_function(FunctionName=function_name)["Tags"] == {
        "team": "a",
        "cost": "2",
        "env": "dev",
    }

    untagged = lambda_client.untag_resource(Resource=arn, TagKeys=["team", "not-there"])
    assert untagged["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {"cost": "2", "env": "dev"}

    lambda_client.untag_resource(Resource=arn, TagKeys=["cost", "env"])
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {}
    assert "Tags" not in lambda_client.get_function(FunctionName=function_name)


def test_unicode_and_punctuation_are_valid_tags(lambda_client, function_name):
    arn = create(lambda_client, function_name)["FunctionArn"]
    tags = {"équipe / owner": "Zoë + team@example.com", "k": ""}
    lambda_client.tag_resource(Resource=arn, Tags=tags)
    assert lambda_client.list_tags(Resource=arn)["Tags"] == tags


def test_unknown_function_is_not_found(lambda_client, function_name):
    arn = f"{ARN_PREFIX}{function_name}"
    for call in (
        lambda: lambda_client.tag_resource(Resource=arn, Tags={"a": "b"}),
        lambda: lambda_client.untag_resource(Resource=arn, TagKeys=["a"]),
        lambda: lambda_client.list_tags(Resource=arn),
    ):
        with pytest.raises(ClientError) as exc:
            call()
        assert aws_error(exc.value) == (
            404,
            "ResourceNotFoundException",
            f"Function not found: {arn}",
        )


def test_function_of_another_region_is_not_found(lambda_client, function_name):
    create(lambda_client, function_name)
    with pytest.raises(ClientError) as exc:
        lambda_client.list_tags(
            Resource=f"arn:aws:lambda:eu-west-1:000000000000:function:{function_name}"
        )
    assert aws_error(exc.value)[:2] == (404, "ResourceNotFoundException")


@pytest.mark.parametrize("qualifier", ["$LATEST", "1", "live"])
def test_versions_and_aliases_cannot_be_tagged(lambda_client, function_name, qualifier):
    arn = create(lambda_client, function_name)["FunctionArn"]
    with pytest.raises(ClientError) as exc:
        lambda_client.tag_resource(Resource=f"{arn}:{qualifier}", Tags={"a": "b"})
    assert aws_error(exc.value) == (
        400,
        "InvalidParameterValueException",
        "Tags on function aliases and versions are not supported. Please specify a function ARN.",
    )


def test_malformed_resource_is_a_validation_error(lambda_client):
    with pytest.raises(ClientError) as exc:
        lambda_client.list_tags(Resource="arn:aws:something")
    status, code, message = aws_error(exc.value)
    assert (status, code) == (400, "ValidationException")
    assert message.startswith(
        "1 validation error detected: Value 'arn:aws:something' at 'resource' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*):lambda:"
    )


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({}, (400, "InvalidParameterValueException")),
        ({"k" * 129: "v"}, (400, "ValidationException")),
        ({"k": "v" * 257}, (400, "ValidationException")),
        ({"semi;colon": "v"}, (400, "ValidationException")),
        ({"aws:reserved": "v"}, (400, "InvalidParameterValueException")),
        ({"AWS:Reserved": "v"}, (400, "InvalidParameterValueException")),
        ({f"k{i}": "v" for i in range(51)}, (400, "InvalidParameterValueException")),
    ],
    ids=["empty", "key-long", "value-long", "key-chars", "aws-prefix", "aws-prefix-case", "51"],
)
def test_invalid_tags_are_refused(lambda_client, function_name, tags, expected):
    arn = create(lambda_client, function_name)["FunctionArn"]
    with pytest.raises(ClientError) as exc:
        lambda_client.tag_resource(Resource=arn, Tags=tags)
    assert aws_error(exc.value)[:2] == expected
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {}


def test_the_limit_counts_the_tags_already_there(lambda_client, function_name):
    fifty = {f"k{i}": "v" for i in range(50)}
    arn = create(lambda_client, function_name, Tags=fifty)["FunctionArn"]
    lambda_client.tag_resource(Resource=arn, Tags={"k0": "replaced"})
    with pytest.raises(ClientError) as exc:
        lambda_client.tag_resource(Resource=arn, Tags={"one-more": "v"})
    assert aws_error(exc.value) == (
        400,
        "InvalidParameterValueException",
        "Number of tags exceeds resource tag limit.",
    )
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {**fifty, "k0": "replaced"}


def test_create_function_with_invalid_tags_creates_nothing(lambda_client, function_name):
    with pytest.raises(ClientError) as exc:
        create(lambda_client, function_name, Tags={f"k{i}": "v" for i in range(51)})
    assert aws_error(exc.value) == (
        400,
        "InvalidParameterValueException",
        "Number of tags exceeds resource tag limit.",
    )
    with pytest.raises(ClientError) as missing:
        lambda_client.get_function(FunctionName=function_name)
    assert aws_error(missing.value)[:2] == (404, "ResourceNotFoundException")


def test_untag_without_keys_is_a_validation_error(lambda_client, function_name):
    arn = create(lambda_client, function_name)["FunctionArn"]
    with pytest.raises(ClientError) as exc:
        lambda_client.untag_resource(Resource=arn, TagKeys=[])
    assert aws_error(exc.value) == (
        400,
        "ValidationException",
        "1 validation error detected: Value null at 'tagKeys' failed to satisfy constraint: "
        "Member must not be null",
    )


def test_deleting_the_function_deletes_its_tags(lambda_client, function_name):
    arn = create(lambda_client, function_name, Tags={"team": "a"})["FunctionArn"]
    lambda_client.delete_function(FunctionName=function_name)
    with pytest.raises(ClientError) as exc:
        lambda_client.list_tags(Resource=arn)
    assert aws_error(exc.value)[:2] == (404, "ResourceNotFoundException")
    create(lambda_client, function_name)
    assert lambda_client.list_tags(Resource=arn)["Tags"] == {}
