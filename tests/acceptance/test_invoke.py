"""Invoke through boto3 against a real server running real awslambdaric processes."""

from __future__ import annotations

import base64
import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.support import ROLE, make_zip

HANDLERS = """
import json, os, sys, time

def echo(event, context):
    return event

def whoami(event, context):
    return {"pid": os.getpid(), "request_id": context.aws_request_id}

def sleep(event, context):
    time.sleep(event["seconds"])
    return {"pid": os.getpid()}

def fail(event, context):
    raise ValueError("boom")

def exit_now(event, context):
    sys.stdout.flush()
    os._exit(event.get("code", 3))

def big(event, context):
    return "x" * event["size"]

def chatty(event, context):
    print("hello from the handler")
    print("to stderr", file=sys.stderr)
    return "ok"

def client_context(event, context):
    return {"custom": context.client_context.custom, "env": context.client_context.env}

def environment(event, context):
    return {k: v for k, v in os.environ.items()}

def context_fields(event, context):
    return {"arn": context.invoked_function_arn, "name": context.function_name,
            "version": context.function_version, "memory": context.memory_limit_in_mb,
            "remaining": context.get_remaining_time_in_millis(), "cwd": os.getcwd()}

def touch(event, context):
    open(event["path"], "w").write(event["content"])
    return None
"""
CODE = make_zip({"handlers.py": HANDLERS})


@pytest.fixture
def make_function(lambda_client, function_name):
    def make(handler: str, **extra) -> str:
        name = f"{function_name}-{handler}"[:64]
        lambda_client.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Handler=f"handlers.{handler}",
            Role=ROLE,
            Code={"ZipFile": extra.pop("code", CODE)},
            **extra,
        )
        return name

    return make


def invoke(client, name, payload=None, **kw):
    response = client.invoke(FunctionName=name, Payload=json.dumps(payload or {}).encode(), **kw)
    response["Body"] = response["Payload"].read()
    return response


def test_request_response_round_trip(lambda_client, make_function):
    name = make_function("echo")
    response = invoke(lambda_client, name, {"a": [1, 2, {"b": None}]})
    assert response["StatusCode"] == 200
    assert json.loads(response["Body"]) == {"a": [1, 2, {"b": None}]}
    assert response["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in response


def test_request_id_is_the_handlers_aws_request_id(lambda_client, make_function):
    name = make_function("whoami")
    response = invoke(lambda_client, name)
    assert json.loads(response["Body"])["request_id"] == response["ResponseMetadata"]["RequestId"]


def test_warm_instance_is_reused(lambda_client, make_function):
    name = make_function("whoami")
    pids = {json.loads(invoke(lambda_client, name)["Body"])["pid"] for _ in range(5)}
    assert len(pids) == 1


def test_concurrent_invocations_scale_out(lambda_client, make_function):
    name = make_function("sleep")
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: invoke(lambda_client, name, {"seconds": 1.0}), range(4)))
    assert {r["StatusCode"] for r in results} == {200}
    assert len({json.loads(r["Body"])["pid"] for r in results}) == 4


def test_handler_exception_is_unhandled_function_error(lambda_client, make_function):
    name = make_function("fail")
    response = invoke(lambda_client, name)
    assert response["StatusCode"] == 200
    assert response["FunctionError"] == "Unhandled"
    body = json.loads(response["Body"])
    assert body["errorType"] == "ValueError" and body["errorMessage"] == "boom"
    assert isinstance(body["stackTrace"], list)


def test_timeout_kills_and_replaces_the_instance(lambda_client, make_function):
    name = make_function("sleep", Timeout=1)
    first = invoke(lambda_client, name, {"seconds": 0})
    response = invoke(lambda_client, name, {"seconds": 30})
    assert response["FunctionError"] == "Unhandled"
    body = json.loads(response["Body"])
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert response["ResponseMetadata"]["RequestId"] in body["errorMessage"]
    old_pid = json.loads(first["Body"])["pid"]
    again = invoke(lambda_client, name, {"seconds": 0})
    assert json.loads(again["Body"])["pid"] != old_pid
    assert _gone(old_pid)


def test_runtime_exit_mid_invocation_is_exit_error(lambda_client, make_function):
    name = make_function("exit_now")
    response = invoke(lambda_client, name, {"code": 3})
    assert response["FunctionError"] == "Unhandled"
    body = json.loads(response["Body"])
    assert body["errorType"] == "Runtime.ExitError"
    assert "Runtime exited with error: exit status 3" in body["errorMessage"]
    # The instance is replaced: the next invocation runs on a fresh one.
    assert invoke(lambda_client, name, {"code": 4})["FunctionError"] == "Unhandled"


def test_init_error_reaches_the_waiting_invocation(lambda_client, make_function):
    code = make_zip({"handlers.py": "import no_such_module\ndef echo(e, c):\n    return e\n"})
    name = make_function("echo", code=code)
    response = invoke(lambda_client, name)
    assert response["FunctionError"] == "Unhandled"
    body = json.loads(response["Body"])
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "no_such_module" in body["errorMessage"]


def test_malformed_handler_name(lambda_client, make_function):
    name = make_function("echo")
    lambda_client.update_function_configuration(FunctionName=name, Handler="nodot")
    body = json.loads(invoke(lambda_client, name)["Body"])
    assert body["errorType"] == "Runtime.MalformedHandlerName"


def test_response_over_6mb_is_response_size_too_large(lambda_client, make_function):
    name = make_function("big")
    response = invoke(lambda_client, name, {"size": 7 * 1024 * 1024})
    assert response["FunctionError"] == "Unhandled"
    body = json.loads(response["Body"])
    assert body["errorType"] == "Function.ResponseSizeTooLarge"
    assert "6291556 bytes" in body["errorMessage"]
    assert json.loads(invoke(lambda_client, name, {"size": 10})["Body"]) == "x" * 10


def test_payload_over_6mb_is_request_too_large(lambda_client, make_function):
    name = make_function("echo")
    with pytest.raises(ClientError) as exc:
        lambda_client.invoke(FunctionName=name, Payload=b'"' + b"x" * (6 * 1024 * 1024) + b'"')
    assert exc.value.response["Error"]["Code"] == "RequestTooLargeException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert invoke(lambda_client, name, {"still": "serving"})["StatusCode"] == 200


def test_malformed_json_payload(lambda_client, make_function):
    name = make_function("echo")
    with pytest.raises(ClientError) as exc:
        lambda_client.invoke(FunctionName=name, Payload=b"{broken")
    assert exc.value.response["Error"]["Code"] == "InvalidRequestContentException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_log_tail_has_start_end_report_and_output(lambda_client, make_function):
    name = make_function("chatty")
    response = invoke(lambda_client, name, LogType="Tail")
    log = base64.b64decode(response["LogResult"]).decode()
    request_id = response["ResponseMetadata"]["RequestId"]
    assert log.startswith(f"START RequestId: {request_id} Version: $LATEST")
    assert "hello from the handler" in log and "to stderr" in log
    assert f"END RequestId: {request_id}" in log
    assert f"REPORT RequestId: {request_id}\tDuration: " in log
    assert "LogResult" not in invoke(lambda_client, name)


def test_client_context_reaches_the_handler(lambda_client, make_function):
    name = make_function("client_context")
    context = {"custom": {"tenant": "t1"}, "env": {"app": "test"}, "client": {}}
    encoded = base64.b64encode(json.dumps(context).encode()).decode()
    body = json.loads(invoke(lambda_client, name, ClientContext=encoded)["Body"])
    assert body == {"custom": {"tenant": "t1"}, "env": {"app": "test"}}


def test_lambda_environment_is_clean_and_complete(lambda_client, make_function):
    name = make_function("environment", MemorySize=256, Environment={"Variables": {"MINE": "yes"}})
    env = json.loads(invoke(lambda_client, name)["Body"])
    assert env["MINE"] == "yes"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{name}"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert env["_HANDLER"] == "handlers.environment"
    assert env["TZ"] == ":UTC"
    assert Path(env["LAMBDA_TASK_ROOT"]).is_dir()
    for key in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_LAMBDA_LOG_STREAM_NAME",
    ):
        assert env[key]
    assert "VIRTUAL_ENV" not in env and "PYTEST_XDIST_WORKER" not in env


def test_context_fields_and_read_only_code(lambda_client, make_function):
    name = make_function("context_fields", Timeout=10, MemorySize=512)
    body = json.loads(invoke(lambda_client, name)["Body"])
    assert body["arn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert (body["name"], body["version"], body["memory"]) == (name, "$LATEST", "512")
    assert 8000 < body["remaining"] <= 10000
    assert not os.access(body["cwd"], os.W_OK) or os.geteuid() == 0
    assert oct(os.stat(body["cwd"]).st_mode & 0o222) == "0o0"


def test_event_invocation_runs_in_background(lambda_client, make_function, tmp_path):
    name = make_function("touch")
    marker = tmp_path / "marker.txt"
    response = lambda_client.invoke(
        FunctionName=name,
        InvocationType="Event",
        Payload=json.dumps({"path": str(marker), "content": "ran"}).encode(),
    )
    assert response["StatusCode"] == 202
    deadline = time.monotonic() + 20
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.read_text() == "ran"


def test_dry_run(lambda_client, make_function):
    name = make_function("echo")
    response = lambda_client.invoke(FunctionName=name, InvocationType="DryRun")
    assert response["StatusCode"] == 204


def test_new_code_answers_after_update(lambda_client, make_function):
    name = make_function("whoami")
    old_pid = json.loads(invoke(lambda_client, name)["Body"])["pid"]
    lambda_client.update_function_code(
        FunctionName=name, ZipFile=make_zip({"handlers.py": "def whoami(e, c):\n    return 'v2'\n"})
    )
    assert json.loads(invoke(lambda_client, name)["Body"]) == "v2"
    assert _gone(old_pid), "the old deployment's idle instance is stopped"


def _gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False
