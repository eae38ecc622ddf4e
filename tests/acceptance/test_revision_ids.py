"""RevisionId preconditions on function updates, through boto3 against a real server."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.acceptance.test_functions_api import create
from tests.support import aws_error, make_zip

STALE = (
    412,
    "PreconditionFailedException",
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id",
)
NEW_CODE = make_zip({"app.py": "def handler(event, context):\n    return 'v2'\n"})


def test_update_function_code_needs_the_current_revision(lambda_client, function_name):
    created = create(lambda_client, function_name)
    changed = lambda_client.update_function_configuration(FunctionName=function_name, Timeout=9)
    with pytest.raises(ClientError) as exc:
        lambda_client.update_function_code(
            FunctionName=function_name, ZipFile=NEW_CODE, RevisionId=created["RevisionId"]
        )
    assert aws_error(exc.value) == STALE
    current = lambda_client.get_function_configuration(FunctionName=function_name)
    assert current["CodeSha256"] == created["CodeSha256"]

    updated = lambda_client.update_function_code(
        FunctionName=function_name, ZipFile=NEW_CODE, RevisionId=changed["RevisionId"]
    )
    assert updated["CodeSha256"] != created["CodeSha256"]
    assert updated["RevisionId"] != changed["RevisionId"]


def test_update_function_configuration_needs_the_current_revision(lambda_client, function_name):
    created = create(lambda_client, function_name)
    with pytest.raises(ClientError) as exc:
        lambda_client.update_function_configuration(
            FunctionName=function_name, Timeout=9, RevisionId="not-the-revision"
        )
    assert aws_error(exc.value) == STALE
    assert lambda_client.get_function_configuration(FunctionName=function_name)["Timeout"] == 3

    updated = lambda_client.update_function_configuration(
        FunctionName=function_name, Timeout=9, RevisionId=created["RevisionId"]
    )
    assert updated["Timeout"] == 9
