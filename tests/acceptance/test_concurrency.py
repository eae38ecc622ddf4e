"""Reserved and provisioned concurrency through boto3 against a real server."""

from __future__ import annotations

import json
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.support import ROLE, make_zip, running_server, wait_for

#: Each instance appends a line to $MARKER when it initialises (the host's filesystem: the
#: process backend), so a test can count initialisations that no invocation caused.
CODE = make_zip(
    {
        "app.py": (
            "import os, time\n"
            "with open(os.environ['MARKER'], 'a') as marker:\n"
            "    marker.write(f'{os.getpid()}\\n')\n"
            "def handler(event, context):\n"
            "    time.sleep(event.get('sleep', 0))\n"
            "    return os.getpid()\n"
        )
    }
)
#: Bound on waiting for provisioned instances to initialise.
READY_TIMEOUT = 30.0


def create(client, name: str, marker: Path) -> None:
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": CODE},
        Environment={"Variables": {"MARKER": str(marker)}},
        Timeout=30,
    )


def initialisations(marker: Path) -> list[str]:
    return marker.read_text().split() if marker.exists() else []


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = exc.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def invoke(client, name: str, event: dict | None = None, **extra) -> dict:
    return client.invoke(FunctionName=name, Payload=json.dumps(event or {}), **extra)


# --- reserved ----------------------------------------------------------------------------


def test_reserved_concurrency_round_trip(lambda_client, function_name, tmp_path):
    create(lambda_client, function_name, tmp_path / "marker")
    before = lambda_client.get_account_settings()["AccountLimit"]
    assert (
        lambda_client.get_function_concurrency(FunctionName=function_name).get(
            "ReservedConcurrentExecutions"
        )
        is None
    )
    put = lambda_client.put_function_concurrency(
        FunctionName=function_name, ReservedConcurrentExecutions=3
    )
    assert put["ReservedConcurrentExecutions"] == 3
    got = lambda_client.get_function_concurrency(FunctionName=function_name)
    assert got["ReservedConcurrentExecutions"] == 3
    assert lambda_client.get_function(FunctionName=function_name)["Concurrency"] == {
        "ReservedConcurrentExecutions": 3
    }
    after = lambda_client.get_account_settings()["AccountLimit"]
    assert after["UnreservedConcurrentExecutions"] == before["UnreservedConcurrentExecutions"] - 3
    deleted = lambda_client.delete_function_concurrency(FunctionName=function_name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert "Concurrency" not in lambda_client.get_function(FunctionName=function_name)
    restored = lambda_client.get_account_settings()["AccountLimit"]
    assert restored["UnreservedConcurrentExecutions"] == before["UnreservedConcurrentExecutions"]


def test_reserved_zero_throttles_every_synchronous_invoke(lambda_client, function_name, tmp_path):
    create(lambda_client, function_name, tmp_path / "marker")
    lambda_client.put_function_concurrency(
        FunctionName=function_name, ReservedConcurrentExecutions=0
    )
    with pytest.raises(lambda_client.exceptions.TooManyRequestsException) as exc:
        invoke(lambda_client, function_name)
    assert error(exc) == ("TooManyRequestsException", 429)
    assert exc.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert initialisations(tmp_path / "marker") == []
    lambda_client.delete_function_concurrency(FunctionName=function_name)
    assert invoke(lambda_client, function_name)["StatusCode"] == 200


def test_reserved_concurrency_caps_simultaneous_executions(lambda_client, function_name, tmp_path):
    create(lambda_client, function_name, tmp_path / "marker")
    lambda_client.put_function_concurrency(
        FunctionName=function_name, ReservedConcurrentExecutions=1
    )

    def attempt(_: int) -> str:
        try:
            invoke(lambda_client, function_name, {"sleep": 2})
        except lambda_client.exceptions.TooManyRequestsException as exc:
            return exc.response["Reason"]
        return "ran"

    with ThreadPoolExecutor(3) as pool:
        outcomes = sorted(pool.map(attempt, range(3)))
    assert outcomes.count("ran") >= 1
    assert "ReservedFunctionConcurrentInvocationLimitExceeded" in outcomes
    assert len(set(initialisations(tmp_path / "marker"))) == 1


def test_reserved_concurrency_errors(lambda_client, function_name, tmp_path):
    create(lambda_client, function_name, tmp_path / "marker")
    with pytest.raises(ClientError) as too_much:
        lambda_client.put_function_concurrency(
            FunctionName=function_name, ReservedConcurrentExecutions=100000
        )
    assert error(too_much) == ("InvalidParameterValueException", 400)
    assert "below its minimum value" in str(too_much.value)
    with pytest.raises(ClientError) as unknown:
        lambda_client.put_function_concurrency(
            FunctionName="no-such-function", ReservedConcurrentExecutions=1
        )
    assert error(unknown) == ("ResourceNotFoundException", 404)


# --- provisioned -------------------------------------------------------------------------


def ready(client, name: str, qualifier: str) -> dict:
    """The config once READY (bounded wait)."""
    config: dict = {}

    def is_ready() -> bool:
        nonlocal config
        config = client.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier)
        assert config["Status"] != "FAILED", config
        return config["Status"] == "READY"

    assert wait_for(is_ready, READY_TIMEOUT), config
    return config


def test_provisioned_instances_initialise_before_any_invocation(
    lambda_client, function_name, tmp_path
):
    marker = tmp_path / "marker"
    create(lambda_client, function_name, marker)
    lambda_client.publish_version(FunctionName=function_name)
    lambda_client.create_alias(FunctionName=function_name, Name="live", FunctionVersion="1")
    put = lambda_client.put_provisioned_concurrency_config(
        FunctionName=function_name, Qualifier="live", ProvisionedConcurrentExecutions=2
    )
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert put["RequestedProvisionedConcurrentExecutions"] == 2
    assert put["Status"] in ("IN_PROGRESS", "READY")

    config = ready(lambda_client, function_name, "live")
    assert config["AvailableProvisionedConcurrentExecutions"] == 2
    assert config["AllocatedProvisionedConcurrentExecutions"] == 2
    provisioned = initialisations(marker)
    assert len(provisioned) == 2  # initialised with no invocation at all

    with ThreadPoolExecutor(2) as pool:
        pids = set(
            pool.map(
                lambda _: json.loads(
                    invoke(lambda_client, function_name, {"sleep": 1}, Qualifier="live")[
                        "Payload"
                    ].read()
                ),
                range(2),
            )
        )
    assert {str(pid) for pid in pids} <= set(provisioned)
    assert initialisations(marker) == provisioned  # the invocations started nothing new

    listed = lambda_client.list_provisioned_concurrency_configs(FunctionName=function_name)
    (only,) = listed["ProvisionedConcurrencyConfigs"]
    assert only["FunctionArn"].endswith(f":function:{function_name}:live")
    lambda_client.delete_provisioned_concurrency_config(
        FunctionName=function_name, Qualifier="live"
    )
    with pytest.raises(ClientError) as gone:
        lambda_client.get_provisioned_concurrency_config(
            FunctionName=function_name, Qualifier="live"
        )
    assert error(gone) == ("ProvisionedConcurrencyConfigNotFoundException", 404)


def test_provisioned_concurrency_errors(lambda_client, function_name, tmp_path):
    create(lambda_client, function_name, tmp_path / "marker")
    lambda_client.publish_version(FunctionName=function_name)
    with pytest.raises(ClientError) as latest:
        lambda_client.put_provisioned_concurrency_config(
            FunctionName=function_name, Qualifier="$LATEST", ProvisionedConcurrentExecutions=1
        )
    assert error(latest) == ("InvalidParameterValueException", 400)
    with pytest.raises(ClientError) as unknown_version:
        lambda_client.put_provisioned_concurrency_config(
            FunctionName=function_name, Qualifier="7", ProvisionedConcurrentExecutions=1
        )
    assert error(unknown_version) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as none:
        lambda_client.get_provisioned_concurrency_config(FunctionName=function_name, Qualifier="1")
    assert error(none) == ("ProvisionedConcurrencyConfigNotFoundException", 404)
    lambda_client.put_function_concurrency(
        FunctionName=function_name, ReservedConcurrentExecutions=1
    )
    with pytest.raises(ClientError) as over_reserved:
        lambda_client.put_provisioned_concurrency_config(
            FunctionName=function_name, Qualifier="1", ProvisionedConcurrentExecutions=2
        )
    assert error(over_reserved) == ("InvalidParameterValueException", 400)


def test_concurrency_settings_survive_a_restart(data_dir, tmp_path):
    marker = tmp_path / "marker"
    with running_server(data_dir) as srv:
        client = srv.client()
        create(client, "steady", marker)
        client.publish_version(FunctionName="steady")
        client.put_function_concurrency(FunctionName="steady", ReservedConcurrentExecutions=2)
        client.put_provisioned_concurrency_config(
            FunctionName="steady", Qualifier="1", ProvisionedConcurrentExecutions=1
        )
        ready(client, "steady", "1")
        assert srv.stop(signal.SIGTERM) == 0
    assert len(initialisations(marker)) == 1
    with running_server(data_dir) as srv:
        client = srv.client()
        assert (
            client.get_function_concurrency(FunctionName="steady")["ReservedConcurrentExecutions"]
            == 2
        )
        ready(client, "steady", "1")
        assert len(initialisations(marker)) == 2  # provisioned again at start, not invoked
