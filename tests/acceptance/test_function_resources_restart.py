"""Tags, resource policies and function URLs survive a restart, and go with their function."""

from __future__ import annotations

import json
import signal

import pytest
from botocore.exceptions import ClientError

from tests.acceptance.test_functions_api import create
from tests.support import aws_error, running_server


def url_id(url: str) -> str:
    return url.removeprefix("http://").split(".", 1)[0]


def test_tags_policies_and_urls_survive_a_restart_and_go_with_the_function(data_dir):
    with running_server(data_dir) as srv:
        client = srv.client()
        arn = create(client, "keeper", Tags={"team": "a"})["FunctionArn"]
        client.add_permission(
            FunctionName="keeper",
            StatementId="s3",
            Action="lambda:InvokeFunction",
            Principal="s3.amazonaws.com",
        )
        policy = client.get_policy(FunctionName="keeper")
        url = client.create_function_url_config(FunctionName="keeper", AuthType="NONE")
        assert srv.stop(signal.SIGTERM) == 0

    with running_server(data_dir) as srv:
        client = srv.client()
        assert client.list_tags(Resource=arn)["Tags"] == {"team": "a"}
        after = client.get_policy(FunctionName="keeper")
        assert (after["Policy"], after["RevisionId"]) == (policy["Policy"], policy["RevisionId"])
        config = client.get_function_url_config(FunctionName="keeper")
        assert url_id(config["FunctionUrl"]) == url_id(url["FunctionUrl"])
        assert config["CreationTime"] == url["CreationTime"]

        client.delete_function(FunctionName="keeper")
        assert srv.stop(signal.SIGTERM) == 0

    with running_server(data_dir) as srv:
        client = srv.client()
        create(client, "keeper")
        assert client.list_tags(Resource=arn)["Tags"] == {}
        for call in (
            lambda: client.get_policy(FunctionName="keeper"),
            lambda: client.get_function_url_config(FunctionName="keeper"),
        ):
            with pytest.raises(ClientError) as exc:
                call()
            assert aws_error(exc.value)[:2] == (404, "ResourceNotFoundException")
        assert (
            json.loads(
                client.add_permission(
                    FunctionName="keeper",
                    StatementId="s3",
                    Action="lambda:InvokeFunction",
                    Principal="s3.amazonaws.com",
                )["Statement"]
            )["Sid"]
            == "s3"
        )
