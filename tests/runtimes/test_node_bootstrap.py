"""End to end: our Node.js Runtime Interface Client against a stub Runtime API."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")

RESPONSE = re.compile(r"/2018-06-01/runtime/invocation/(?P<id>[^/]+)/response")
ERROR = re.compile(r"/2018-06-01/runtime/invocation/(?P<id>[^/]+)/error")
INIT_ERROR = "/2018-06-01/runtime/init/error"


def node_runtime() -> str:
    """The ``nodejsNN.x`` runtime of the node on PATH."""
    version = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True)
    return f"nodejs{version.stdout.strip()[1:].split('.')[0]}.x"


def write(code_dir: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative name -> text) under ``code_dir``."""
    for name, text in files.items():
        (code_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (code_dir / name).write_text(text)
    return code_dir


@pytest.fixture
def start_node(start_instance, tmp_path):
    """Start our bootstrap on ``files`` with ``handler``."""

    def start(files: dict[str, str], handler: str):
        return start_instance(node_runtime(), write(tmp_path, files), handler)

    return start


def assert_response(post, request_id: str):
    match = RESPONSE.fullmatch(post.path)
    assert match, post
    assert match["id"] == request_id
    return post.json()


def test_async_handler_answers_each_event(start_node, runtime_api):
    start_node(
        {"index.js": "exports.handler = async (event, context) => ({ got: event });"},
        "index.handler",
    )
    for n in range(2):
        request_id = runtime_api.invoke({"n": n})
        assert assert_response(runtime_api.next_post(), request_id) == {"got": {"n": n}}


def test_nested_export_in_a_subdirectory(start_node, runtime_api):
    start_node(
        {"src/app.js": "exports.api = { run: async () => 'deep' };"},
        "src/app.api.run",
    )
    request_id = runtime_api.invoke({})
    assert assert_response(runtime_api.next_post(), request_id) == "deep"


def test_undefined_result_is_null(start_node, runtime_api):
    start_node({"index.js": "exports.handler = async () => {};"}, "index.handler")
    request_id = runtime_api.invoke({})
    post = runtime_api.next_post()
    assert_response(post, request_id)
    assert post.body == b"null"


def test_callback_handler_waits_for_the_event_loop(start_node, runtime_api):
    start_node(
        {
            "index.js": """
exports.handler = (event, context, callback) => {
  context.callbackWaitsForEmptyEventLoop = event.wait;
  setTimeout(() => {}, event.timerMs);
  callback(null, { wait: context.callbackWaitsForEmptyEventLoop });
};
"""
        },
        "index.handler",
    )
    began = time.monotonic()
    request_id = runtime_api.invoke({"wait": True, "timerMs": 300})
    assert assert_response(runtime_api.next_post(), request_id) == {"wait": True}
    assert time.monotonic() - began >= 0.3

    began = time.monotonic()
    request_id = runtime_api.invoke({"wait": False, "timerMs": 10_000})
    assert assert_response(runtime_api.next_post(), request_id) == {"wait": False}
    assert time.monotonic() - began < 5


def test_sync_handler_without_callback_answers_null(start_node, runtime_api):
    start_node({"index.js": "exports.handler = () => 42;"}, "index.handler")
    request_id = runtime_api.invoke({})
    post = runtime_api.next_post()
    assert_response(post, request_id)
    assert post.body == b"null"


def test_thrown_error_is_reported_like_aws(start_node, runtime_api):
    start_node(
        {"index.js": "exports.handler = async () => { throw new TypeError('bad input'); };"},
        "index.handler",
    )
    request_id = runtime_api.invoke({})
    post = runtime_api.next_post()
    assert ERROR.fullmatch(post.path)["id"] == request_id
    assert post.headers["lambda-runtime-function-error-type"] == "TypeError"
    body = post.json()
    assert body["errorType"] == "TypeError"
    assert body["errorMessage"] == "bad input"
    assert body["trace"][0] == "TypeError: bad input"
    assert any("index.js" in line for line in body["trace"])
    # The runtime survives a handler error.
    request_id = runtime_api.invoke({})
    assert ERROR.fullmatch(runtime_api.next_post().path)["id"] == request_id


def test_callback_error_that_is_not_an_error(start_node, runtime_api):
    start_node(
        {"index.js": "exports.handler = (event, context, callback) => callback('boom');"},
        "index.handler",
    )
    runtime_api.invoke({})
    post = runtime_api.next_post()
    assert ERROR.fullmatch(post.path)
    assert post.json() == {"errorType": "string", "errorMessage": "boom", "trace": []}


def test_missing_module_is_an_init_error(start_node, runtime_api):
    instance = start_node({}, "index.handler")
    post = runtime_api.next_post()
    assert post.path == INIT_ERROR
    assert post.headers["lambda-runtime-function-error-type"] == "Runtime.ImportModuleError"
    body = post.json()
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert body["errorMessage"].startswith("Error: Cannot find module 'index'\nRequire stack:")
    assert body["trace"][0] == "Runtime.ImportModuleError: Error: Cannot find module 'index'"
    assert instance.wait() == 129
    assert "\tundefined\tERROR\tUncaught Exception \t{" in instance.stop()


@pytest.mark.parametrize(
    ("files", "handler", "error_type", "message"),
    [
        (
            {"index.js": "exports.other = () => 1;"},
            "index.handler",
            "Runtime.HandlerNotFound",
            "index.handler is undefined or not exported",
        ),
        (
            {"index.js": "exports.handler = 1;"},
            "index.handler",
            "Runtime.HandlerNotFound",
            "index.handler is not a function",
        ),
        ({"index.js": ""}, "index", "Runtime.MalformedHandlerName", "Bad handler"),
        (
            {"index.js": ""},
            "../index.handler",
            "Runtime.MalformedHandlerName",
            "'../index.handler' is not a valid handler name. Use absolute paths when "
            "specifying root directories in handler names.",
        ),
    ],
)
def test_handler_errors_at_init(start_node, runtime_api, files, handler, error_type, message):
    instance = start_node(files, handler)
    post = runtime_api.next_post()
    assert post.path == INIT_ERROR
    assert post.headers["lambda-runtime-function-error-type"] == error_type
    assert post.json()["errorMessage"] == message
    assert instance.wait() == 129


def test_syntax_error_at_init(start_node, runtime_api):
    start_node({"index.js": "exports.handler = async () => {"}, "index.handler")
    body = runtime_api.next_post().json()
    assert body["errorType"] == "Runtime.UserCodeSyntaxError"
    assert body["errorMessage"].startswith("SyntaxError: ")


@pytest.mark.parametrize(
    "files",
    [
        {"app.mjs": "export const handler = async (event) => ({ esm: event.x });"},
        {
            "package.json": '{"type": "module"}',
            "app.js": "export const handler = async (event) => ({ esm: event.x });",
        },
    ],
    ids=["mjs", "type-module"],
)
def test_es_module_handler(start_node, runtime_api, files):
    start_node(files, "app.handler")
    request_id = runtime_api.invoke({"x": 1})
    assert assert_response(runtime_api.next_post(), request_id) == {"esm": 1}


def test_context_fields(start_node, runtime_api):
    start_node(
        {
            "index.js": """
exports.handler = async (event, context) => ({
  functionName: context.functionName,
  functionVersion: context.functionVersion,
  memoryLimitInMB: context.memoryLimitInMB,
  logGroupName: context.logGroupName,
  logStreamName: context.logStreamName,
  invokedFunctionArn: context.invokedFunctionArn,
  awsRequestId: context.awsRequestId,
  clientContext: context.clientContext,
  identity: context.identity,
  remaining: context.getRemainingTimeInMillis(),
  waits: context.callbackWaitsForEmptyEventLoop,
  trace: process.env._X_AMZN_TRACE_ID,
});
"""
        },
        "index.handler",
    )
    deadline = int(time.time() * 1000) + 60_000
    request_id = runtime_api.invoke(
        {},
        {
            "Lambda-Runtime-Deadline-Ms": str(deadline),
            "Lambda-Runtime-Client-Context": json.dumps({"custom": {"k": "v"}}),
            "Lambda-Runtime-Cognito-Identity": json.dumps({"cognitoIdentityId": "id-1"}),
            "Lambda-Runtime-Trace-Id": "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1",
        },
    )
    context = assert_response(runtime_api.next_post(), request_id)
    remaining = context.pop("remaining")
    assert 50_000 < remaining <= 60_000
    assert context == {
        "functionName": "fn",
        "functionVersion": "$LATEST",
        "memoryLimitInMB": "256",
        "logGroupName": "/aws/lambda/fn",
        "logStreamName": "2026/01/01/[$LATEST]abc",
        "invokedFunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:fn",
        "awsRequestId": request_id,
        "clientContext": {"custom": {"k": "v"}},
        "identity": {"cognitoIdentityId": "id-1"},
        "waits": True,
        "trace": "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Sampled=1",
    }


def test_console_lines_carry_time_request_id_and_level(start_node, runtime_api):
    instance = start_node(
        {
            "index.js": """
exports.handler = async () => {
  console.log('hello %s', 'world');
  console.error('oops', { a: 1 });
  console.warn('careful');
  return 'ok';
};
"""
        },
        "index.handler",
    )
    request_id = runtime_api.invoke({})
    assert_response(runtime_api.next_post(), request_id)
    lines = instance.stop().splitlines()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    expected = [("INFO", "hello world"), ("ERROR", "oops { a: 1 }"), ("WARN", "careful")]
    for level, message in expected:
        pattern = re.compile(rf"{stamp}\t{request_id}\t{level}\t{re.escape(message)}")
        assert any(pattern.fullmatch(line) for line in lines), lines


def test_uncaught_exception_during_an_invocation(start_node, runtime_api):
    instance = start_node(
        {
            "index.js": """
exports.handler = (event, context, callback) => {
  setTimeout(() => { throw new RangeError('late'); }, 10);
};
"""
        },
        "index.handler",
    )
    request_id = runtime_api.invoke({})
    post = runtime_api.next_post()
    assert ERROR.fullmatch(post.path)["id"] == request_id
    assert post.json()["errorType"] == "RangeError"
    assert instance.wait() == 129


def test_unhandled_rejection_during_an_invocation(start_node, runtime_api):
    instance = start_node(
        {"index.js": "exports.handler = () => { Promise.reject(new Error('nope')); };"},
        "index.handler",
    )
    runtime_api.invoke({})
    body = runtime_api.next_post().json()
    assert body["errorType"] == "Runtime.UnhandledPromiseRejection"
    assert body["errorMessage"] == "Error: nope"
    assert instance.wait() == 128


def test_async_handler_that_never_settles(start_node, runtime_api):
    start_node(
        {"index.js": "exports.handler = async () => new Promise(() => {});"},
        "index.handler",
    )
    runtime_api.invoke({})
    body = runtime_api.next_post().json()
    assert body["errorType"] == "Runtime.NodeJsExit"
