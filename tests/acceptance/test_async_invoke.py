"""Asynchronous invocation through boto3 against real servers running real awslambdaric processes:
event invoke configs, retries, destinations, InvokeAsync, and the queue surviving a SIGKILL.

Functions report what they receive by appending JSON lines to files named in their
events, so every count is taken from the function's side.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support import ROLE, Server, make_zip, running_server

HANDLERS = """
import json, os, time

def _append(path, value):
    with open(path, "a") as fh:
        fh.write(json.dumps(value) + "\\n")

def record(event, context):
    _append(event["log"], {"event": event, "request_id": context.aws_request_id})
    return {"echo": event["n"]}

def fail(event, context):
    _append(event["log"], {"event": event, "request_id": context.aws_request_id})
    raise ValueError("boom " + str(event["n"]))

def sink(event, context):
    _append(event["requestPayload"]["sink"], event)

def gated(event, context):
    _append(event["started"], os.getpid())
    deadline = time.time() + 60
    while not os.path.exists(event["gate"]) and time.time() < deadline:
        time.sleep(0.05)
    _append(event["log"], event["n"])
"""
CODE = make_zip({"handlers.py": HANDLERS})
ARN = "arn:aws:lambda:us-east-1:000000000000:function"
#: Seconds any one wait for an asynchronous outcome may take.
WAIT = 60.0


@pytest.fixture(scope="module")
def fast_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose retries of failed events come after 0.1 s instead of minutes."""
    data_dir = tmp_path_factory.mktemp("async-data")
    with running_server(data_dir, env={"ANYLAMBDA_ASYNC_RETRY_DELAYS": "0.1"}) as srv:
        yield srv


@pytest.fixture
def client(fast_server: Server) -> Any:
    return fast_server.client()


def create(client: Any, name: str, handler: str, **extra: Any) -> str:
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler=f"handlers.{handler}",
        Role=ROLE,
        Code={"ZipFile": CODE},
        **extra,
    )
    return name


def send(client: Any, name: str, event: Any) -> str:
    response = client.invoke(
        FunctionName=name, InvocationType="Event", Payload=json.dumps(event).encode()
    )
    assert response["StatusCode"] == 202
    assert response["Payload"].read() == b""
    return response["ResponseMetadata"]["RequestId"]


def lines(path: Path) -> list[Any]:
    """The JSON lines written to ``path`` so far."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for_lines(path: Path, count: int, within: float = WAIT) -> list[Any]:
    """Wait until ``path`` has ``count`` lines; return them."""
    deadline = time.monotonic() + within
    while len(lines(path)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    found = lines(path)
    assert len(found) >= count, f"{path.name}: {len(found)} of {count} lines"
    return found


# --- retries and destinations ----------------------------------------------------------------


def test_failing_event_is_retried_then_its_record_goes_to_the_on_failure_function(
    client: Any, function_name: str, tmp_path: Path
) -> None:
    flaky = create(client, f"{function_name}-flaky", "fail")
    sink = create(client, f"{function_name}-sink", "sink")
    client.put_function_event_invoke_config(
        FunctionName=flaky, DestinationConfig={"OnFailure": {"Destination": f"{ARN}:{sink}"}}
    )
    event = {"n": 7, "log": str(tmp_path / "attempts"), "sink": str(tmp_path / "records")}
    request_id = send(client, flaky, event)
    (record,) = wait_for_lines(tmp_path / "records", 1)
    attempts = lines(tmp_path / "attempts")
    assert [a["event"] for a in attempts] == [event] * 3, "one attempt and two retries"
    assert {a["request_id"] for a in attempts} == {request_id}
    assert record["version"] == "1.0"
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": f"{ARN}:{flaky}:$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 3,
    }
    assert record["requestPayload"] == event
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["responsePayload"]["errorType"] == "ValueError"
    assert record["responsePayload"]["errorMessage"] == "boom 7"


def test_success_goes_to_the_on_success_function(
    client: Any, function_name: str, tmp_path: Path
) -> None:
    ok = create(client, f"{function_name}-ok", "record")
    sink = create(client, f"{function_name}-sink", "sink")
    client.put_function_event_invoke_config(
        FunctionName=ok, DestinationConfig={"OnSuccess": {"Destination": f"{ARN}:{sink}"}}
    )
    event = {"n": 1, "log": str(tmp_path / "attempts"), "sink": str(tmp_path / "records")}
    request_id = send(client, ok, event)
    (record,) = wait_for_lines(tmp_path / "records", 1)
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["requestId"] == request_id
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"echo": 1}
    assert len(lines(tmp_path / "attempts")) == 1


def test_no_retries_means_a_single_attempt(client: Any, function_name: str, tmp_path: Path) -> None:
    once = create(client, f"{function_name}-once", "fail")
    sink = create(client, f"{function_name}-sink", "sink")
    client.put_function_event_invoke_config(
        FunctionName=once,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": f"{ARN}:{sink}"}},
    )
    event = {"n": 0, "log": str(tmp_path / "attempts"), "sink": str(tmp_path / "records")}
    send(client, once, event)
    (record,) = wait_for_lines(tmp_path / "records", 1)
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert len(lines(tmp_path / "attempts")) == 1


def test_an_alias_has_its_own_config_and_its_records_name_it(
    client: Any, function_name: str, tmp_path: Path
) -> None:
    name = create(client, function_name, "record")
    sink = create(client, f"{function_name}-sink", "sink")
    version = client.publish_version(FunctionName=name)["Version"]
    client.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    put = client.put_function_event_invoke_config(
        FunctionName=name,
        Qualifier="live",
        DestinationConfig={"OnSuccess": {"Destination": f"{ARN}:{sink}"}},
    )
    assert put["FunctionArn"] == f"{ARN}:{name}:live"
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_function_event_invoke_config(FunctionName=name)  # $LATEST has none
    event = {"n": 5, "log": str(tmp_path / "attempts"), "sink": str(tmp_path / "records")}
    send(client, f"{name}:live", event)
    (record,) = wait_for_lines(tmp_path / "records", 1)
    assert record["requestContext"]["functionArn"] == f"{ARN}:{name}:live"
    assert record["responseContext"]["executedVersion"] == version
    client.delete_alias(FunctionName=name, Name="live")
    listed = client.list_function_event_invoke_configs(FunctionName=name)
    assert listed["FunctionEventInvokeConfigs"] == [], "deleting the alias deletes its config"


def test_events_wait_while_reserved_concurrency_is_zero(
    client: Any, function_name: str, tmp_path: Path
) -> None:
    name = create(client, function_name, "record")
    client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    for n in range(2):
        send(client, name, {"n": n, "log": str(tmp_path / "attempts")})
    client.delete_function_concurrency(FunctionName=name)
    attempts = wait_for_lines(tmp_path / "attempts", 2)
    assert sorted(a["event"]["n"] for a in attempts) == [0, 1]


def test_invoke_async_queues_the_event(client: Any, function_name: str, tmp_path: Path) -> None:
    name = create(client, function_name, "record")
    event = {"n": 3, "log": str(tmp_path / "attempts")}
    response = client.invoke_async(FunctionName=name, InvokeArgs=json.dumps(event).encode())
    assert response["Status"] == 202
    (attempt,) = wait_for_lines(tmp_path / "attempts", 1)
    assert attempt["event"] == event
    assert attempt["request_id"] == response["ResponseMetadata"]["RequestId"]


def test_event_too_old_for_its_next_retry(data_dir: Path, tmp_path: Path) -> None:
    # The first retry would come 61 s after the event, past its maximum age of 60 s.
    with running_server(data_dir, env={"ANYLAMBDA_ASYNC_RETRY_DELAYS": "61"}) as srv:
        client = srv.client()
        create(client, "aging", "fail")
        create(client, "sink", "sink")
        client.put_function_event_invoke_config(
            FunctionName="aging",
            MaximumEventAgeInSeconds=60,
            DestinationConfig={"OnFailure": {"Destination": f"{ARN}:sink"}},
        )
        event = {"n": 1, "log": str(tmp_path / "attempts"), "sink": str(tmp_path / "records")}
        send(client, "aging", event)
        (record,) = wait_for_lines(tmp_path / "records", 1)
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert len(lines(tmp_path / "attempts")) == 1


# --- the durable queue ------------------------------------------------------------------------


def test_accepted_events_survive_a_sigkill(data_dir: Path, tmp_path: Path) -> None:
    env = {"ANYLAMBDA_ACCOUNT_CONCURRENCY": "1"}
    started, gate, log = tmp_path / "started", tmp_path / "gate", tmp_path / "log"
    with running_server(data_dir, env=env) as srv:
        client = srv.client()
        create(client, "gated", "gated", Timeout=120)
        for n in range(4):
            send(
                client,
                "gated",
                {"n": n, "started": str(started), "gate": str(gate), "log": str(log)},
            )
        # One event runs (held at the gate); the others wait for the one instance allowed.
        (pid,) = wait_for_lines(started, 1)
        srv.process.kill()
        srv.process.wait(timeout=10)
    try:
        gate.touch()
        with running_server(data_dir, env=env):
            wait_for_lines(log, 4)
            deadline = time.monotonic() + WAIT
            while set(lines(log)) != {0, 1, 2, 3} and time.monotonic() < deadline:
                time.sleep(0.05)
        assert set(lines(log)) == {0, 1, 2, 3}, "every accepted event is delivered"
    finally:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def test_oversized_asynchronous_payloads_are_refused(client: Any, function_name: str) -> None:
    name = create(client, function_name, "record")
    with pytest.raises(ClientError) as raised:
        client.invoke(
            FunctionName=name, InvocationType="Event", Payload=b'"' + b"x" * 1024 * 1024 + b'"'
        )
    assert raised.value.response["Error"]["Code"] == "RequestTooLargeException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    with pytest.raises(ClientError) as raised:
        client.invoke_async(FunctionName=name, InvokeArgs=b'"' + b"x" * 256 * 1024 + b'"')
    assert raised.value.response["Error"]["Code"] == "RequestTooLargeException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413


def test_unknown_function_is_refused_before_anything_is_queued(client: Any) -> None:
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke(FunctionName="no-such-function", InvocationType="Event", Payload=b"{}")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke_async(FunctionName="no-such-function", InvokeArgs=b"{}")


# --- event invoke configs ---------------------------------------------------------------------


def test_event_invoke_config_lifecycle(client: Any, function_name: str) -> None:
    name = create(client, function_name, "record")
    other = create(client, f"{function_name}-other", "record")
    arn = f"{ARN}:{name}:$LATEST"
    put = client.put_function_event_invoke_config(
        FunctionName=name, MaximumRetryAttempts=1, MaximumEventAgeInSeconds=120
    )
    assert put["FunctionArn"] == arn
    assert (put["MaximumRetryAttempts"], put["MaximumEventAgeInSeconds"]) == (1, 120)
    assert put["DestinationConfig"] == {"OnSuccess": {}, "OnFailure": {}}
    assert put["LastModified"].year >= 2024
    replaced = client.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    assert replaced["MaximumRetryAttempts"] == 0
    assert "MaximumEventAgeInSeconds" not in replaced, "Put replaces the whole config"
    updated = client.update_function_event_invoke_config(
        FunctionName=name,
        Qualifier="$LATEST",
        MaximumEventAgeInSeconds=300,
        DestinationConfig={"OnSuccess": {"Destination": f"{ARN}:{other}"}},
    )
    assert (updated["MaximumRetryAttempts"], updated["MaximumEventAgeInSeconds"]) == (0, 300)
    assert updated["DestinationConfig"]["OnSuccess"] == {"Destination": f"{ARN}:{other}"}
    got = client.get_function_event_invoke_config(FunctionName=f"{ARN}:{name}")
    assert {k: v for k, v in got.items() if k != "ResponseMetadata"} == {
        k: v for k, v in updated.items() if k != "ResponseMetadata"
    }
    listed = client.list_function_event_invoke_configs(FunctionName=name)
    assert [c["FunctionArn"] for c in listed["FunctionEventInvokeConfigs"]] == [arn]
    assert "NextMarker" not in listed
    client.delete_function_event_invoke_config(FunctionName=name)
    assert (
        client.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
        == []
    )
    with pytest.raises(client.exceptions.ResourceNotFoundException) as raised:
        client.get_function_event_invoke_config(FunctionName=name)
    assert raised.value.response["Error"]["Message"] == (
        f"The function {arn} doesn't have an EventInvokeConfig"
    )


def test_event_invoke_config_errors(fast_server: Server, function_name: str) -> None:
    client = fast_server.client(parameter_validation=False)
    name = create(client, function_name, "record")

    def error(call: Any, **params: Any) -> tuple[int, str, str]:
        with pytest.raises(ClientError) as raised:
            call(**params)
        response = raised.value.response
        return (
            response["ResponseMetadata"]["HTTPStatusCode"],
            response["Error"]["Code"],
            response["Error"]["Message"],
        )

    put = client.put_function_event_invoke_config
    assert error(put, FunctionName="no-such-fn", MaximumRetryAttempts=1) == (
        404,
        "ResourceNotFoundException",
        "The function doesn't exist.",
    )
    assert error(put, FunctionName=name) == (
        400,
        "InvalidParameterValueException",
        "You must specify at least one of error handling or destination setting.",
    )
    assert error(put, FunctionName=name, MaximumRetryAttempts=3) == (
        400,
        "ValidationException",
        "1 validation error detected: Value '3' at 'maximumRetryAttempts' failed to satisfy "
        "constraint: Member must have value less than or equal to 2",
    )
    assert error(put, FunctionName=name, MaximumEventAgeInSeconds=59)[:2] == (
        400,
        "ValidationException",
    )
    assert error(
        put, FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": f"{ARN}:{name}"}}
    ) == (
        400,
        "InvalidParameterValueException",
        "You can't specify the function as a destination for itself.",
    )
    assert error(
        put, FunctionName=name, DestinationConfig={"OnFailure": {"Destination": f"{ARN}:nope"}}
    ) == (400, "InvalidParameterValueException", f"The destination ARN {ARN}:nope is invalid.")
    assert error(put, FunctionName=name, Qualifier="7", MaximumRetryAttempts=1) == (
        404,
        "ResourceNotFoundException",
        "The function doesn't exist.",
    )
    assert error(put, FunctionName=f"{name}:$LATEST", Qualifier="1", MaximumRetryAttempts=1) == (
        400,
        "InvalidParameterValueException",
        "The derived qualifier from the function name does not match the specified qualifier.",
    )
    assert error(
        client.update_function_event_invoke_config, FunctionName=name, MaximumRetryAttempts=1
    ) == (
        404,
        "ResourceNotFoundException",
        f"The function {ARN}:{name}:$LATEST doesn't have an EventInvokeConfig",
    )
    assert error(client.delete_function_event_invoke_config, FunctionName=name)[:2] == (
        404,
        "ResourceNotFoundException",
    )
    assert error(client.list_function_event_invoke_configs, FunctionName="no-such-fn") == (
        404,
        "ResourceNotFoundException",
        "The function doesn't exist.",
    )
    assert error(client.list_function_event_invoke_configs, FunctionName=name, MaxItems=51)[:2] == (
        400,
        "ValidationException",
    )


def test_deleting_a_function_deletes_its_event_invoke_config(
    client: Any, function_name: str
) -> None:
    name = create(client, function_name, "record")
    client.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    client.delete_function(FunctionName=name)
    create(client, function_name, "record")
    assert (
        client.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
        == []
    )


def test_dead_letter_config_is_stored_and_reported(client: Any, function_name: str) -> None:
    queue = "arn:aws:sqs:us-east-1:000000000000:dlq"
    created = client.create_function(
        FunctionName=function_name,
        Runtime="python3.11",
        Handler="handlers.record",
        Role=ROLE,
        Code={"ZipFile": CODE},
        DeadLetterConfig={"TargetArn": queue},
    )
    assert created["DeadLetterConfig"] == {"TargetArn": queue}
    got = client.get_function_configuration(FunctionName=function_name)
    assert got["DeadLetterConfig"] == {"TargetArn": queue}
    cleared = client.update_function_configuration(
        FunctionName=function_name, DeadLetterConfig={"TargetArn": ""}
    )
    assert "DeadLetterConfig" not in cleared
