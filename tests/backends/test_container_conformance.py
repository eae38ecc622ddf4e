"""The process backend's invoke behaviour on each container backend: real servers, containers."""

from __future__ import annotations

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.backends.container_support import invoke
from tests.support import make_zip

pytestmark = pytest.mark.acceptance


def test_round_trip(container_lambda, make_function):
    name = make_function("whoami")
    response = invoke(container_lambda, name)
    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert json.loads(response["Body"])["uid"] == 993


def test_warm_container_is_reused(container_lambda, make_function):
    name = make_function("whoami")
    hosts = {json.loads(invoke(container_lambda, name)["Body"])["host"] for _ in range(5)}
    assert len(hosts) == 1


def test_concurrent_invocations_get_a_container_each(container_lambda, make_function):
    name = make_function("sleep")
    with ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(lambda _: invoke(container_lambda, name, {"seconds": 1.5}), range(4))
        )
    bodies = [json.loads(r["Body"]) for r in results]
    assert all("host" in body for body in bodies), bodies
    assert len({body["host"] for body in bodies}) == 4


def test_handler_exception(container_lambda, make_function):
    response = invoke(container_lambda, make_function("fail"))
    assert response["FunctionError"] == "Unhandled"
    body = json.loads(response["Body"])
    assert (body["errorType"], body["errorMessage"]) == ("ValueError", "boom")


def test_timeout_kills_and_replaces_the_container(container_lambda, engine, make_function):
    name = make_function("sleep", Timeout=1)
    old = json.loads(invoke(container_lambda, name, {"seconds": 0})["Body"])["host"]
    response = invoke(container_lambda, name, {"seconds": 30})
    body = json.loads(response["Body"])
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert json.loads(invoke(container_lambda, name, {"seconds": 0})["Body"])["host"] != old
    assert engine.gone(old)


def test_exit_mid_invocation_is_exit_error(container_lambda, make_function):
    name = make_function("exit_now")
    body = json.loads(invoke(container_lambda, name, {"code": 3})["Body"])
    assert body["errorType"] == "Runtime.ExitError"
    assert "Runtime exited with error: exit status 3" in body["errorMessage"]
    assert invoke(container_lambda, name, {"code": 4})["FunctionError"] == "Unhandled"


def test_init_error_reaches_the_waiting_invocation(container_lambda, make_function):
    code = make_zip({"handlers.py": "import no_such_module\ndef echo(e, c):\n    return e\n"})
    body = json.loads(invoke(container_lambda, make_function("echo", code=code))["Body"])
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "no_such_module" in body["errorMessage"]


def test_log_tail_has_the_handlers_output(container_lambda, make_function):
    name = make_function("chatty")
    for _ in range(3):  # the cold invocation and warm ones
        response = invoke(container_lambda, name, LogType="Tail")
        log = base64.b64decode(response["LogResult"]).decode()
        assert "hello from the handler" in log and "to stderr" in log
        assert f"END RequestId: {response['ResponseMetadata']['RequestId']}" in log


def test_lambda_environment_inside_the_container(container_lambda, make_function):
    name = make_function("environment", MemorySize=256, Environment={"Variables": {"MINE": "yes"}})
    env = json.loads(invoke(container_lambda, name)["Body"])
    assert env["MINE"] == "yes"
    assert env["LAMBDA_TASK_ROOT"] == "/var/task"
    assert env["LAMBDA_RUNTIME_DIR"] == "/var/runtime"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert env["_HANDLER"] == "handlers.environment"
    host, port = env["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)
    assert host not in ("0.0.0.0", "") and port.isdigit()


def test_container_killed_mid_invocation_is_exit_error(container_lambda, engine, make_function):
    name = make_function("sleep", Timeout=30)
    host = json.loads(invoke(container_lambda, name, {"seconds": 0})["Body"])["host"]
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(invoke, container_lambda, name, {"seconds": 20})
        time.sleep(1.0)
        engine.kill(host)
        body = json.loads(pending.result(timeout=20)["Body"])
    assert body["errorType"] == "Runtime.ExitError"
    assert "signal: killed" in body["errorMessage"]
    assert json.loads(invoke(container_lambda, name, {"seconds": 0})["Body"])["host"] != host
    assert engine.gone(host)
